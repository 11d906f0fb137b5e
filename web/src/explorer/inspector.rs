//! The inspector: one explained image, every model's map of every attribution side by side, the region
//! of interest drawn and editable (drag with the mouse on the input; arrow keys move it,
//! Shift + arrow keys resize it; or type its numbers), and the image's metrics recomputed at
//! once with `biaslens-metrics` on the maps the run computed (RRF, HRF, ADR, DIF against vanilla;
//! Sztukiewicz et al. §3), plus the sanity numbers of each map.

use std::sync::Arc;

use biaslens_experiment::{ExperimentResults, ModelMapsOf};
use biaslens_metrics::{ImageSize, Region, Roi, map_metrics, paired_metrics};
use leptos::prelude::*;
use wasm_bindgen::JsCast;

use super::{Panel, ui};
use crate::widgets::{Legend, RgbaCanvas};

/// Moves (`resize = false`) or resizes the ROI by (dx, dy) pixels, kept inside the image and at
/// least 1×1.
pub fn nudge(roi: Roi, dx: i64, dy: i64, resize: bool) -> Roi {
    let img = roi.image();
    let (iw, ih) = (i64::from(img.width), i64::from(img.height));
    let (mut x, mut y, mut w, mut h) = (i64::from(roi.x()), i64::from(roi.y()), i64::from(roi.w()), i64::from(roi.h()));
    if resize {
        w = (w + dx).clamp(1, iw - x);
        h = (h + dy).clamp(1, ih - y);
    } else {
        x = (x + dx).clamp(0, iw - w);
        y = (y + dy).clamp(0, ih - h);
    }
    to_roi(x, y, w, h, img).unwrap_or(roi)
}

fn to_roi(x: i64, y: i64, w: i64, h: i64, img: ImageSize) -> Option<Roi> {
    let c = |v: i64| u32::try_from(v).ok();
    Roi::new(c(x)?, c(y)?, c(w)?, c(h)?, img).ok()
}

fn slice(v: &[f32], i: usize, hw: usize) -> Vec<f64> {
    v.get(i * hw..(i + 1) * hw).map_or_else(Vec::new, |s| s.iter().map(|&x| f64::from(x)).collect())
}

/// The selected image's metrics for one model's maps against vanilla's.
fn image_row(maps: &ModelMapsOf, vanilla: &ModelMapsOf, i: usize, hw: usize, roi: &Region, r: &ExperimentResults) -> (f64, f64, f64, f64) {
    let s = &r.config.metrics.saliency;
    let d = slice(&maps.preprocessed, i, hw);
    let v = slice(&vanilla.preprocessed, i, hw);
    if d.len() != hw || v.len() != hw {
        return (f64::NAN, f64::NAN, f64::NAN, f64::NAN);
    }
    let m = map_metrics(&d, roi, s);
    let (adr, dif) = paired_metrics(&v, &d, roi, s);
    (m.rrf, m.hrf, adr, dif)
}

/// Mean RRF and ADR over all kept images for one model (each image as [`image_row`], in the
/// region `region_of(i)`).
fn kept_means(maps: &ModelMapsOf, vanilla: &ModelMapsOf, n: usize, hw: usize, region_of: &dyn Fn(usize) -> Region, r: &ExperimentResults) -> (f64, f64) {
    let (rrf, adr) = (0..n).fold((0.0, 0.0), |(rrf, adr), i| {
        let (a, _, b, _) = image_row(maps, vanilla, i, hw, &region_of(i), r);
        (rrf + a, adr + b)
    });
    (rrf / n.max(1) as f64, adr / n.max(1) as f64)
}

fn box_style(roi: &Roi) -> String {
    let img = roi.image();
    let pct = |v: u32, of: u32| format!("{:.4}%", 100.0 * f64::from(v) / f64::from(of));
    format!("left:{};top:{};width:{};height:{}", pct(roi.x(), img.width), pct(roi.y(), img.height), pct(roi.w(), img.width), pct(roi.h(), img.height))
}

/// The smallest box holding every pixel of `region` (a mask's starting point for editing).
fn bounding_box(region: &Region) -> Option<Roi> {
    match region {
        Region::Box(b) => Some(*b),
        Region::Mask(m) => {
            let img = biaslens_metrics::Inside::image(region);
            let w = img.width as usize;
            let (mut x0, mut y0, mut x1, mut y1) = (usize::MAX, usize::MAX, 0, 0);
            for (k, _) in m.inside().iter().enumerate().filter(|(_, v)| **v) {
                let (x, y) = (k % w, k / w);
                (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
            }
            (x0 <= x1).then_some(())?;
            to_roi(x0 as i64, y0 as i64, (x1 - x0 + 1) as i64, (y1 - y0 + 1) as i64, img)
        }
    }
}

/// The outline of a mask as an RGBA overlay: its boundary pixels (inside, with a 4-neighbour
/// outside or on the image's edge) orange (#e69f00, the editor's colour), everything else
/// transparent.
fn mask_outline(region: &Region) -> Option<(Vec<u8>, ImageSize)> {
    let Region::Mask(m) = region else { return None };
    let img = biaslens_metrics::Inside::image(region);
    let (w, h) = (img.width as usize, img.height as usize);
    let inside = m.inside();
    let at = |x: isize, y: isize| x >= 0 && y >= 0 && (x as usize) < w && (y as usize) < h && inside[y as usize * w + x as usize];
    let mut rgba = vec![0u8; w * h * 4];
    for y in 0..h {
        for x in 0..w {
            let (xi, yi) = (x as isize, y as isize);
            if at(xi, yi) && !(at(xi - 1, yi) && at(xi + 1, yi) && at(xi, yi - 1) && at(xi, yi + 1)) {
                rgba[(y * w + x) * 4..(y * w + x) * 4 + 4].copy_from_slice(&[230, 159, 0, 255]);
            }
        }
    }
    Some((rgba, img))
}

/// The region drawn over a frame: a dashed box, or a mask's outline.
fn region_overlay(region: &Region, label: String) -> AnyView {
    match (region, mask_outline(region)) {
        (Region::Box(b), _) => view! { <div class="roi" style=box_style(b)></div> }.into_any(),
        (_, Some((rgba, img))) => view! { <div class="roi-mask"><RgbaCanvas rgba=rgba width=img.width height=img.height label=label/></div> }.into_any(),
        _ => ().into_any(),
    }
}

/// The inspector panel (shown once an explained image is chosen).
#[component]
pub fn Inspector() -> impl IntoView {
    let ui = ui();
    view! {
        <section class="panel" id="inspector" aria-labelledby="inspector-title" hidden=move || ui.inspect.get().is_none() || !ui.shown(Panel::Inspector)>
            <h2 id="inspector-title">"4 · Inspect one image"</h2>
            {move || {
                let (Some(i), Some(r)) = (ui.inspect.get(), ui.results.get()) else { return None };
                let p = ui.phi.get().min(r.phis.len().saturating_sub(1));
                let e = r.phis.get(p)?.explained.as_ref()?;
                (i < e.n).then(|| view! { <Inspect results=r.clone() phi=p image=i/> })
            }}
        </section>
    }
}

#[component]
fn Inspect(results: Arc<ExperimentResults>, phi: usize, image: usize) -> impl IntoView {
    let ui = ui();
    let r = results.clone();
    let img = r.image;
    let run_roi = results.roi;
    let (side, hw) = (img.width, img.pixels());
    let drag: RwSignal<Option<(u32, u32)>> = RwSignal::new(None);
    let p = &r.phis[phi];
    let Some(e) = p.explained.clone() else { return view! { <p>"no maps"</p> }.into_any() };
    // Each image's own region when the run scored per-image regions (a box or a mask); an edited
    // region replaces it for every image, as it replaces the run's one ROI.
    let own: Arc<Option<Vec<Region>>> = Arc::new(e.regions.clone().filter(|r| r.iter().all(|x| biaslens_metrics::Inside::image(x) == img)));
    let per_image = own.is_some();
    // The artifact found from the CAV in each kept image (runs with `localise`), which the
    // checkbox below makes every image's region instead of its own or the run's.
    let found: Option<Arc<biaslens_experiment::FoundRegions>> = e
        .found
        .clone()
        .filter(|f| f.regions.len() == e.n && f.regions.iter().flatten().all(|x| biaslens_metrics::Inside::image(x) == img))
        .map(Arc::new);
    let found_from = found.as_ref().map(|f| f.cav_from.clone());
    // Image i's region before any edit, and how the text names it.
    let base_of = {
        let (own, found) = (own.clone(), found.clone());
        move |i: usize| -> (Option<Region>, &'static str) {
            let own_of = |i: usize| match own.as_ref().as_ref().and_then(|r| r.get(i).cloned()) {
                Some(b @ Region::Box(_)) => (Some(b), "this image's own box: "),
                Some(m) => (Some(m), "this image's own mask, within "),
                None => (None, ""),
            };
            match (&found, ui.found_region.get()) {
                (Some(f), true) => match f.regions.get(i).cloned().flatten() {
                    Some(m) => (Some(m), "the artifact found from the CAV, within "),
                    None => (own_of(i).0, "nothing found from the CAV in this image; its region: "),
                },
                _ => own_of(i),
            }
        }
    };
    let base_of = Arc::new(base_of);
    let region_of = {
        let base_of = base_of.clone();
        move |i: usize| -> Region {
            match ui.roi.get().filter(|x| x.image() == img) {
                Some(edited) => Region::Box(edited),
                None => base_of(i).0.unwrap_or(Region::Box(run_roi)),
            }
        }
    };
    let region_of = Arc::new(region_of);
    let edited = move || ui.roi.get().filter(|x| x.image() == img);
    // This image's region before any edit (follows the checkbox).
    let base_here = {
        let base_of = base_of.clone();
        Memo::new(move |_| base_of(image))
    };
    let roi = move || edited().or_else(|| base_here.with(|b| b.0.as_ref().and_then(bounding_box))).unwrap_or(run_roi);
    let own_kind = move || base_here.with(|b| b.1);
    let input_outline = move || match (base_here.get(), edited()) {
        ((Some(m @ Region::Mask(_)), kind), None) => {
            let what = if kind.starts_with("the artifact") { "the artifact found from the CAV" } else { "this image's own mask" };
            Some(region_overlay(&m, format!("outline of {what}")))
        }
        _ => None,
    };
    let found_check = found_from.map(|from| {
        view! {
            <label class="check small" title="Reveal to Revise's localisation (docs/METHODS.md#localise): the CAV's relevance on the vanilla model, thresholded into a mask per image">
                <input type="checkbox" id="found-region" prop:checked=move || ui.found_region.get()
                    on:change=move |ev| {
                        let on = ev.target().and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok()).is_some_and(|i| i.checked());
                        ui.roi.set(None);
                        ui.found_region.set(on);
                    }/>
                <span>{format!("score every image in the artifact found from {from}'s CAV")}</span>
            </label>
        }
    });
    let names: Vec<String> = p.models.iter().map(|m| m.name.clone()).collect();
    // Every attribution's maps by key, in the results' order, named as the tabs name them.
    let kinds: Arc<Vec<(String, String)>> =
        Arc::new(r.attributions.iter().filter(|a| e.maps.contains_key(&a.key)).map(|a| (a.name.clone(), a.key.clone())).collect());
    let input = biaslens_viz::chw_to_rgba(&e.pixels[image * 3 * hw..(image + 1) * 3 * hw], hw);
    let label = format!(
        "image {image}: {}, {}",
        if e.target[image] == 1 { "smiling" } else { "not smiling" },
        if e.attribute[image] == 1 { "with the attribute" } else { "without the attribute" }
    );

    // Pixel under a pointer event on the input frame.
    let pixel = move |ev: &web_sys::PointerEvent| -> Option<(u32, u32)> {
        let el = ev.current_target()?.dyn_into::<web_sys::Element>().ok()?;
        let rect = el.get_bounding_client_rect();
        if rect.width() <= 0.0 || rect.height() <= 0.0 {
            return None;
        }
        let fx = (f64::from(ev.client_x()) - rect.left()) / rect.width();
        let fy = (f64::from(ev.client_y()) - rect.top()) / rect.height();
        let cx = (fx * f64::from(img.width)).floor().clamp(0.0, f64::from(img.width - 1)) as u32;
        let cy = (fy * f64::from(img.height)).floor().clamp(0.0, f64::from(img.height - 1)) as u32;
        Some((cx, cy))
    };
    let set_from_drag = move |a: (u32, u32), b: (u32, u32)| {
        let (x0, x1) = (a.0.min(b.0), a.0.max(b.0));
        let (y0, y1) = (a.1.min(b.1), a.1.max(b.1));
        if let Ok(new) = Roi::new(x0, y0, x1 - x0 + 1, y1 - y0 + 1, img) {
            ui.roi.set(Some(new));
        }
    };
    let on_key = move |ev: web_sys::KeyboardEvent| {
        let (dx, dy) = match ev.key().as_str() {
            "ArrowLeft" => (-1, 0),
            "ArrowRight" => (1, 0),
            "ArrowUp" => (0, -1),
            "ArrowDown" => (0, 1),
            _ => return,
        };
        ev.prevent_default();
        ui.roi.set(Some(nudge(roi(), dx, dy, ev.shift_key())));
    };
    let field = move |name: &'static str, idx: usize| {
        view! {
            <label class="field small"><span>{name}</span>
                <input type="number" min="0" data-roi=name prop:value=move || { let (x, y, w, h) = (roi().x(), roi().y(), roi().w(), roi().h()); [x, y, w, h][idx].to_string() }
                    on:change=move |ev| {
                        let v: i64 = event_target_value(&ev).trim().parse().unwrap_or(-1);
                        let cur = roi();
                        let mut q = [i64::from(cur.x()), i64::from(cur.y()), i64::from(cur.w()), i64::from(cur.h())];
                        q[idx] = v;
                        match to_roi(q[0], q[1], q[2], q[3], img) {
                            Some(new) => ui.roi.set(Some(new)),
                            None => {
                                ui.error(format!("Region not changed: x = {}, y = {}, width = {}, height = {} does not fit the {}×{} image (width and height ≥ 1, inside the image).", q[0], q[1], q[2], q[3], img.width, img.height));
                                ui.roi.update(|_| {});
                            }
                        }
                    }/>
            </label>
        }
    };

    let colormap = ui.colormap;
    let cells = {
        let kinds = kinds.clone();
        let e = e.clone();
        let label = label.clone();
        let names = names.clone();
        let region_of = region_of.clone();
        move || {
            let region_now = region_of(image);
            let cmap = colormap.get();
            let mut rows = Vec::new();
            for (kind, key) in kinds.iter() {
                let Some(maps) = e.maps.get(key) else { continue };
                if maps.is_empty() {
                    continue;
                }
                let cells = maps
                    .iter()
                    .zip(&names)
                    .filter_map(|(m, name)| {
                        let map = m.signed.get(image * hw..(image + 1) * hw)?;
                        let scale = map.iter().fold(0.0f32, |m, v| if v.is_finite() { m.max(v.abs()) } else { m });
                        let rgba = cmap.rgba(map, scale);
                        Some(view! {
                            <div class="cell">
                                <span class="cell-title">{name.clone()}</span>
                                <div class="frame">
                                    <RgbaCanvas rgba=rgba width=side height=side label=format!("{kind} map of {name} for {label}")/>
                                    {region_overlay(&region_now, format!("outline of the region of {label}"))}
                                </div>
                            </div>
                        })
                    })
                    .collect_view();
                rows.push(view! { <div class="map-row"><span class="row-title">{kind.clone()}</span>{cells}</div> });
            }
            rows.collect_view()
        }
    };

    let metrics = {
        let r = r.clone();
        let kinds = kinds.clone();
        let e = e.clone();
        let names = names.clone();
        let region_of = region_of.clone();
        move || {
            let region_now = region_of(image);
            let mut body = Vec::new();
            for (kind, key) in kinds.iter() {
                let Some(maps) = e.maps.get(key) else { continue };
                let Some(vanilla) = maps.first() else { continue };
                for (m, (mm, name)) in maps.iter().zip(&names).enumerate() {
                    let (rrf, hrf, adr, dif) = image_row(mm, vanilla, image, hw, &region_now, &r);
                    let (mean_rrf, mean_adr) = kept_means(mm, vanilla, e.n, hw, &*region_of, &r);
                    let sanity = match mm.sanity.get(image) {
                        Some((sum, Some(should))) => format!("{sum:.3} / {should:.3}"),
                        Some((sum, None)) => format!("{sum:.3} / —"),
                        None => "n/a".to_string(),
                    };
                    let dash = |v: String| if m == 0 { "—".to_string() } else { v };
                    body.push(view! {
                        <tr data-kind=kind.clone() data-model=name.clone()>
                            <th scope="row">{format!("{kind} · {name}")}</th>
                            <td class="num" data-metric="rrf" data-value=format!("{rrf:e}")>{format!("{rrf:.4}")}</td>
                            <td class="num">{format!("{hrf:.3}")}</td>
                            <td class="num" data-metric="adr">{dash(format!("{adr:+.4}"))}</td>
                            <td class="num">{dash(format!("{dif:.3}"))}</td>
                            <td class="num" data-metric="mean-rrf" data-value=format!("{mean_rrf:e}")>{format!("{mean_rrf:.4}")}</td>
                            <td class="num">{dash(format!("{mean_adr:+.4}"))}</td>
                            <td class="num">{sanity}</td>
                        </tr>
                    });
                }
            }
            body.collect_view()
        }
    };

    view! {
        <p class="explain">{format!("{label} ({}). ", super::verdicts::unit_label(p, super::verdicts::several_seeds(&r)))}
            "Drag on the input to draw a new region; or focus the dashed box (Tab) and use the arrow keys to move it, Shift + arrow keys to resize it. The metrics below follow at once."</p>
        <div class="inspect">
            <div class="cell">
                <span class="cell-title">"input"</span>
                <div class="frame editable"
                    on:pointerdown=move |ev: web_sys::PointerEvent| { if let Some(px) = pixel(&ev) { drag.set(Some(px)); set_from_drag(px, px); } }
                    on:pointermove=move |ev: web_sys::PointerEvent| { if let (Some(a), Some(b)) = (drag.get_untracked(), pixel(&ev)) { set_from_drag(a, b); } }
                    on:pointerup=move |_| drag.set(None)
                    on:pointerleave=move |_| drag.set(None)>
                    <RgbaCanvas rgba=input width=side height=side label=format!("{label}, input")/>
                    {input_outline}
                    <div class="roi editor" id="roi-editor" tabindex="0" role="group"
                        aria-label=move || { let q = roi(); format!("Region of interest: x {}, y {}, width {}, height {}. Arrow keys move it, Shift + arrow keys resize it.", q.x(), q.y(), q.w(), q.h()) }
                        style=move || box_style(&roi()) on:keydown=on_key></div>
                </div>
            </div>
            <div class="roi-fields">
                {field("x", 0)}{field("y", 1)}{field("width", 2)}{field("height", 3)}
                <button id="roi-reset" on:click=move |_| ui.roi.set(None)>"the run's region"</button>
                {found_check}
                <p class="small" id="roi-text" data-per-image=per_image.to_string()>{move || {
                    let q = roi();
                    let whose = match edited() {
                        None => own_kind(),
                        Some(_) if per_image => "edited (every image): ",
                        Some(_) => "",
                    };
                    format!("{whose}region {}×{} at ({}, {}) of {}×{}", q.w(), q.h(), q.x(), q.y(), img.width, img.height)
                }}</p>
            </div>
        </div>
        <Legend colormap=colormap.get_untracked()/>
        <div class="maps">{cells}</div>
        <table class="metrics" id="inspector-metrics" tabindex="0">
            <caption>"This image's metrics in the region above (against vanilla's map of the same image), the means over the kept images, and each map's sanity numbers (LRP: Σ relevance in / out; IG: Σ attribution / F(x) − F(baseline); — where a method has no such property)."</caption>
            <thead><tr><th scope="col">"map"</th><th scope="col">"RRF"</th><th scope="col">"HRF"</th><th scope="col">"ADR"</th><th scope="col">"DIF"</th><th scope="col">{format!("mean RRF ({} images)", e.n)}</th><th scope="col">"mean ADR"</th><th scope="col">"sum / expected"</th></tr></thead>
            <tbody>{metrics}</tbody>
        </table>
    }
    .into_any()
}
