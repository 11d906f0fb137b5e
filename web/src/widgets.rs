//! Small views shared by the explorer and the self-test: canvases for RGBA buffers, inline SVG,
//! the colour key, and [`Later`], which draws a heavy part of a view in a task of its own.

use leptos::prelude::*;
use wasm_bindgen::{Clamped, JsCast};

/// Draws `children` later, in a task of its own, so that a view of many charts is drawn in
/// several short tasks instead of one that holds the page (a finished unit's results: Figure 2,
/// the explained images, Figure 3, the verdicts; BENCHMARKS.md, "The page off the main thread").
/// Parts wait in one queue and are drawn one per timer turn, in the order they were made, so the
/// browser paints, takes input and runs its timers between them.
#[component]
pub fn Later(children: ChildrenFn) -> impl IntoView {
    let ready = RwSignal::new(false);
    LATER.with(|q| q.borrow_mut().push_back(ready));
    if !DRAWING.with(|d| d.replace(true)) {
        leptos::task::spawn_local(async {
            loop {
                crate::pace::timer_turn().await;
                let Some(next) = LATER.with(|q| q.borrow_mut().pop_front()) else { break };
                // The view may be gone already (newer results): then there is nothing to draw.
                let _ = next.try_set(true);
            }
            DRAWING.with(|d| d.set(false));
        });
    }
    move || ready.get().then(|| children())
}

/// Resolves once every [`Later`] part made so far is drawn (the run's status says "done" only
/// then, so what it shows is complete).
pub async fn all_drawn() {
    // Views made by the latest change of state are made in a microtask after it: let them be.
    crate::pace::timer_turn().await;
    while DRAWING.with(std::cell::Cell::get) || LATER.with(|q| !q.borrow().is_empty()) {
        crate::pace::timer_turn().await;
    }
}

thread_local! {
    /// [`Later`] parts not drawn yet, oldest first.
    static LATER: std::cell::RefCell<std::collections::VecDeque<RwSignal<bool>>> = std::cell::RefCell::new(std::collections::VecDeque::new());
    /// Whether the loop that draws them runs.
    static DRAWING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// A canvas showing an RGBA buffer at its native resolution (scaled up by CSS, pixelated).
#[component]
pub fn RgbaCanvas(rgba: Vec<u8>, width: u32, height: u32, label: String) -> impl IntoView {
    let canvas = NodeRef::<leptos::html::Canvas>::new();
    Effect::new(move |_| {
        let Some(el) = canvas.get() else { return };
        let ctx = el
            .get_context("2d")
            .ok()
            .flatten()
            .and_then(|c| c.dyn_into::<web_sys::CanvasRenderingContext2d>().ok());
        let image = web_sys::ImageData::new_with_u8_clamped_array_and_sh(Clamped(&rgba), width, height);
        if let (Some(ctx), Ok(image)) = (ctx, image) {
            // Drawing can only fail for a detached canvas; nothing to recover then.
            let _ = ctx.put_image_data(&image, 0.0, 0.0);
        }
    });
    view! { <canvas node_ref=canvas width=width height=height role="img" aria-label=label></canvas> }
}

/// An SVG document made by `biaslens-viz`, inline (its XML declaration dropped), or the error
/// in words.
#[component]
pub fn Svg(svg: Result<String, String>, label: String, id: &'static str) -> impl IntoView {
    match svg {
        Ok(svg) => {
            let body = svg.find("<svg").map_or(svg.as_str(), |i| &svg[i..]).to_owned();
            view! { <figure class="chart" id=id role="img" aria-label=label inner_html=body></figure> }.into_any()
        }
        Err(e) => view! { <p class="warn" id=id>{format!("{label} could not be drawn: {e}")}</p> }.into_any(),
    }
}

/// Colour key of a signed map in the given colour map.
#[component]
pub fn Legend(colormap: biaslens_viz::Colormap) -> impl IntoView {
    let css = |c: [u8; 3]| format!("rgb({},{},{})", c[0], c[1], c[2]);
    let gradient = format!(
        "background: linear-gradient(90deg, {}, {}, {})",
        css(colormap.color(-1.0, 1.0)),
        css(colormap.color(0.0, 1.0)),
        css(colormap.color(1.0, 1.0))
    );
    view! {
        <div class="legend" role="img" aria-label=format!("Colour key ({}): left is negative relevance, the middle is zero, right is positive relevance", colormap.label())>
            <span>"negative"</span><span class="bar" style=gradient></span><span>"positive"</span>
            <span class="zero">{format!("middle = 0 · {}", colormap.label())}</span>
        </div>
    }
}
