//! Sharing: the config (and seed) in the URL so a link reproduces a run, the self-contained
//! report (download and import), and the teaching mode set from the URL.
//!
//! URL fragment: `#config=<base64url JSON of the fields that differ from the demo>`, plus
//! `&autorun=1` (start the run on open), `&teach=1` (guided steps), `&compare=<config>.<config>`
//! (runs side by side, as configs: [`super::compare`]) and `&hide=setup,run,…`
//! (panels to hide, by [`Panel::id`]); `&simulate=gpu-loss@K` is a test hook that fails the K-th
//! unit (φ, seed) on WebGPU as a lost device would. The fragment never leaves the browser: it is not sent with requests.

use std::sync::Arc;

use biaslens_experiment::{ExperimentConfig, import_report, render_report};
use leptos::prelude::*;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use super::{Panel, Ui, ui};

/// The largest weights file the page reads (a ResNet-50 is about 100 MB).
pub const MAX_WEIGHTS_BYTES: f64 = 400.0 * 1024.0 * 1024.0;
/// The largest report the page imports.
pub const MAX_REPORT_BYTES: f64 = 200.0 * 1024.0 * 1024.0;

fn hash_params() -> Vec<(String, String)> {
    let hash = web_sys::window().and_then(|w| w.location().hash().ok()).unwrap_or_default();
    hash.trim_start_matches('#')
        .split('&')
        .filter(|s| !s.is_empty())
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => (k.to_owned(), v.to_owned()),
            None => (kv.to_owned(), String::new()),
        })
        .collect()
}

/// Reads the URL's state into `ui`; returns whether it asks to start the run at once.
pub fn read_url(ui: Ui) -> bool {
    let mut autorun = false;
    for (k, v) in hash_params() {
        match k.as_str() {
            "config" => match ExperimentConfig::from_fragment(&v) {
                Ok(c) => ui.config.set(c),
                Err(e) => ui.error(format!("The link's settings could not be read ({e}); the demo's settings are shown instead. Ask for a fresh link, or set them below.")),
            },
            "autorun" => autorun = v != "0",
            "teach" => ui.teach.set((v != "0").then_some(0)),
            "hide" => {
                let mut hidden: Vec<Panel> = Vec::new();
                let mut unknown: Vec<&str> = Vec::new();
                for id in v.split(',').filter(|s| !s.is_empty()) {
                    match Panel::from_id(id) {
                        Some(p) if !hidden.contains(&p) => hidden.push(p),
                        Some(_) => {}
                        None => unknown.push(id),
                    }
                }
                if !unknown.is_empty() {
                    let known: Vec<&str> = Panel::ALL.iter().map(|p| p.id()).collect();
                    ui.info(format!(
                        "The link's hide= names no panel called {}; the panels are {}. Those stay shown.",
                        unknown.join(", "),
                        known.join(", ")
                    ));
                }
                ui.hidden.set(hidden);
            }
            "compare" => super::compare::from_url(ui, &v),
            "lanes" => match v.parse::<usize>() {
                Ok(n) if n >= 1 => ui.max_lanes.set(Some(n)),
                _ => ui.info(format!(
                    "The link's lanes= takes a whole number of workers, at least 1; {v:?} is not one, so a run on the CPU uses one worker per core."
                )),
            },
            "simulate" => ui.simulate_gpu_loss_at.set(v.strip_prefix("gpu-loss@").and_then(|k| k.parse().ok())),
            _ => {}
        }
    }
    autorun
}

/// The fragment for the current state (`autorun` adds `&autorun=1`).
fn fragment(ui: Ui, autorun: bool) -> String {
    let mut f = format!("config={}", ui.config.with(ExperimentConfig::to_fragment));
    if autorun {
        f.push_str("&autorun=1");
    }
    if ui.teach.with(Option::is_some) {
        f.push_str("&teach=1");
    }
    if let Some(runs) = ui.compared.with(|c| super::compare::url_value(c)) {
        f.push_str("&compare=");
        f.push_str(&runs);
    }
    let hidden = ui.hidden.get();
    if !hidden.is_empty() {
        f.push_str("&hide=");
        f.push_str(&hidden.iter().map(|p| p.id()).collect::<Vec<_>>().join(","));
    }
    f
}

/// A link to this page that reproduces the current config.
fn link(ui: Ui, autorun: bool) -> String {
    let base = web_sys::window()
        .and_then(|w| w.location().href().ok())
        .map(|h| h.split('#').next().unwrap_or_default().to_owned())
        .unwrap_or_default();
    format!("{base}#{}", fragment(ui, autorun))
}

/// Keeps the address bar's fragment equal to the config being edited (no navigation, no request).
pub fn keep_url_in_sync(ui: Ui) {
    Effect::new(move |_| {
        let f = fragment(ui, false);
        if let Some(history) = web_sys::window().and_then(|w| w.history().ok()) {
            let _ = history.replace_state_with_url(&JsValue::NULL, "", Some(&format!("#{f}")));
        }
    });
}

fn mb(bytes: f64) -> String {
    format!("{:.1} MB", bytes / (1024.0 * 1024.0))
}

/// The files chosen in the `<input type=file>` of `ev`; the input is cleared so that choosing the
/// same file again fires again.
pub fn chosen_files(ev: &leptos::ev::Event) -> Vec<web_sys::File> {
    let Some(input) = ev.target().and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok()) else { return Vec::new() };
    let files = input.files().map_or_else(Vec::new, |list| (0..list.length()).filter_map(|i| list.get(i)).collect());
    input.set_value("");
    files
}

/// The bytes of a chosen file, refused above `max` bytes.
pub async fn read_bytes(file: &web_sys::File, max: f64) -> Result<Vec<u8>, String> {
    if file.size() > max {
        return Err(format!("the file is {}; the page reads at most {} for this. Choose a smaller file.", mb(file.size()), mb(max)));
    }
    let buffer = JsFuture::from(file.array_buffer()).await.map_err(|e| format!("the browser could not read the file ({e:?})"))?;
    Ok(js_sys::Uint8Array::new(&buffer).to_vec())
}

/// The file as text; bytes that are not UTF-8 become U+FFFD, as the CLI reads, so the report
/// parser gives the same message in both.
pub(super) async fn read_text(file: &web_sys::File, max: f64) -> Result<String, String> {
    let bytes = read_bytes(file, max).await?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Offers `text` as a download named `name`.
pub(super) fn download(name: &str, text: &str, mime: &str) -> Result<(), String> {
    let options = web_sys::BlobPropertyBag::new();
    options.set_type(mime);
    let blob = web_sys::Blob::new_with_str_sequence_and_options(&js_sys::Array::of1(&JsValue::from_str(text)), &options).map_err(|e| format!("{e:?}"))?;
    offer(name, &blob)
}

/// Offers `bytes` as a download named `name`.
pub(super) fn download_bytes(name: &str, bytes: &[u8], mime: &str) -> Result<(), String> {
    let options = web_sys::BlobPropertyBag::new();
    options.set_type(mime);
    let blob = web_sys::Blob::new_with_u8_array_sequence_and_options(&js_sys::Array::of1(&js_sys::Uint8Array::from(bytes)), &options).map_err(|e| format!("{e:?}"))?;
    offer(name, &blob)
}

/// Offers `blob` as a download named `name` (a link clicked once, its URL released).
fn offer(name: &str, blob: &web_sys::Blob) -> Result<(), String> {
    let url = web_sys::Url::create_object_url_with_blob(blob).map_err(|e| format!("{e:?}"))?;
    let document = web_sys::window().and_then(|w| w.document()).ok_or("no document")?;
    let a: web_sys::HtmlAnchorElement = document.create_element("a").map_err(|e| format!("{e:?}"))?.dyn_into().map_err(|_| "no anchor")?;
    a.set_href(&url);
    a.set_download(name);
    a.click();
    let _ = web_sys::Url::revoke_object_url(&url);
    Ok(())
}

/// Offers an SVG drawing as a PNG named `name`, rasterised by the browser itself (its fonts
/// draw the labels) at twice the drawing's size.
async fn download_png(name: &str, svg: &str) -> Result<(), String> {
    let parts = js_sys::Array::of1(&JsValue::from_str(svg));
    let options = web_sys::BlobPropertyBag::new();
    options.set_type("image/svg+xml");
    let blob = web_sys::Blob::new_with_str_sequence_and_options(&parts, &options).map_err(|e| format!("{e:?}"))?;
    let url = web_sys::Url::create_object_url_with_blob(&blob).map_err(|e| format!("{e:?}"))?;
    let img = web_sys::HtmlImageElement::new().map_err(|e| format!("{e:?}"))?;
    img.set_src(&url);
    let decoded = wasm_bindgen_futures::JsFuture::from(img.decode()).await;
    let _ = web_sys::Url::revoke_object_url(&url);
    decoded.map_err(|e| format!("the browser could not draw the SVG: {e:?}"))?;
    let (w, h) = (img.natural_width().max(1), img.natural_height().max(1));
    let document = web_sys::window().and_then(|w| w.document()).ok_or("no document")?;
    let canvas: web_sys::HtmlCanvasElement = document.create_element("canvas").map_err(|e| format!("{e:?}"))?.dyn_into().map_err(|_| "no canvas")?;
    canvas.set_width(2 * w);
    canvas.set_height(2 * h);
    let ctx: web_sys::CanvasRenderingContext2d =
        canvas.get_context("2d").map_err(|e| format!("{e:?}"))?.ok_or("no 2d context")?.dyn_into().map_err(|_| "no 2d context")?;
    ctx.set_fill_style_str("white");
    ctx.fill_rect(0.0, 0.0, f64::from(2 * w), f64::from(2 * h));
    ctx.draw_image_with_html_image_element_and_dw_and_dh(&img, 0.0, 0.0, f64::from(2 * w), f64::from(2 * h)).map_err(|e| format!("{e:?}"))?;
    let data_url = canvas.to_data_url_with_type("image/png").map_err(|e| format!("{e:?}"))?;
    let a: web_sys::HtmlAnchorElement = document.create_element("a").map_err(|e| format!("{e:?}"))?.dyn_into().map_err(|_| "no anchor")?;
    a.set_href(&data_url);
    a.set_download(name);
    a.click();
    Ok(())
}

/// Every figure (SVG, or PNG drawn from it) and table (CSV) of the results shown, one file each
/// (`biaslens_experiment::report::exports`, as `biaslens report --figures`).
#[component]
fn FigureFiles() -> impl IntoView {
    let ui = ui();
    let files: RwSignal<Option<Arc<Vec<biaslens_experiment::report::Export>>>> = RwSignal::new(None);
    // A new run or import makes the prepared files stale.
    Effect::new(move |_| {
        ui.results.track();
        files.set(None);
    });
    let prepare = move |_| {
        let Some(r) = ui.results.get_untracked() else { return ui.error("Nothing to export yet: run the experiment or import a report first.") };
        match biaslens_experiment::report::exports(&r) {
            Ok(f) => files.set(Some(Arc::new(f))),
            Err(e) => ui.error(format!("The figures could not be drawn: {e}")),
        }
    };
    view! {
        <div id="figure-files">
            <button id="prepare-figures" disabled=move || ui.results.with(Option::is_none) on:click=prepare>"Figures and tables, one file each"</button>
            {move || files.get().map(|list| {
                let items = list.iter().cloned().map(|f| {
                    let name = f.name.clone();
                    let text = Arc::new(f.text);
                    let is_svg = name.ends_with(".svg");
                    let (n1, t1) = (name.clone(), text.clone());
                    let save = move |_| {
                        let mime = if n1.ends_with(".svg") { "image/svg+xml" } else { "text/csv" };
                        if let Err(e) = download(&n1, &t1, mime) {
                            ui.error(format!("{n1} could not be saved: {e}"));
                        }
                    };
                    let (n2, t2) = (name.trim_end_matches(".svg").to_owned() + ".png", text.clone());
                    let png = move |_| {
                        let (n, t) = (n2.clone(), t2.clone());
                        leptos::task::spawn_local(async move {
                            if let Err(e) = download_png(&n, &t).await {
                                ui.error(format!("{n} could not be saved: {e}"));
                            }
                        });
                    };
                    view! {
                        <li>
                            <code>{name.clone()}</code>" "
                            <button class="small" data-file=name.clone() on:click=save>{if is_svg { "SVG" } else { "CSV" }}</button>
                            {is_svg.then(|| view! { " " <button class="small" data-png=name.clone() on:click=png>"PNG"</button> })}
                        </li>
                    }
                }).collect_view();
                view! { <ul class="figure-files">{items}</ul> }
            })}
        </div>
    }
}

/// Shows results read from a file or the browser's storage; their settings become the page's.
fn show_imported(ui: Ui, r: biaslens_experiment::ExperimentResults, source: String) {
    ui.config.set(r.config.clone());
    ui.phi.set(0);
    ui.inspect.set(None);
    ui.roi.set(None);
    ui.source.set(source);
    ui.show_results(Arc::new(r));
}

/// Keeps a finished run in the browser's storage and says so (or says why not).
pub async fn keep_in_browser(ui: Ui, results: Arc<biaslens_experiment::ExperimentResults>) {
    match super::store::save(&results).await {
        Ok(k) => {
            let models = k.weights.len();
            ui.info(format!(
                "Finished. This run's results and its {models} trained vanilla model{} ({:.1} MB, no images) are kept in this browser so a reload can restore them; Share → \"Forget\" deletes them.",
                if models == 1 { "" } else { "s" },
                k.bytes as f64 / (1024.0 * 1024.0)
            ));
            ui.kept.set(Some(k));
            ui.offer_restore.set(false);
        }
        Err(e) => ui.error(format!("The run could not be kept in this browser ({e}); its results stay on the page until it is closed. Save the report to keep them.")),
    }
}

/// Restores the kept run into the page.
async fn restore(ui: Ui) {
    match super::store::restore().await {
        Ok(r) => {
            let what = ui.kept.with_untracked(|k| k.as_ref().map(super::store::Kept::describe)).unwrap_or_default();
            show_imported(ui, r, "restored from this browser's storage".into());
            ui.offer_restore.set(false);
            ui.info(format!("Restored the kept run ({what}). Its settings are now the page's: Run recomputes it here."));
        }
        Err(e) => ui.error(format!("The kept run could not be restored: {e}. Forget it (Share panel) and run again.")),
    }
}

/// Deletes what the browser keeps.
async fn forget(ui: Ui) {
    match super::store::forget().await {
        Ok(()) => {
            ui.kept.set(None);
            ui.offer_restore.set(false);
            ui.info("Forgotten: this browser keeps nothing of biaslens now.");
        }
        Err(e) => ui.error(format!("{e}. Your browser's site settings can also clear this page's storage.")),
    }
}

/// The offer, on open, to restore the run an earlier visit kept.
#[component]
pub fn RestoreOffer() -> impl IntoView {
    let ui = ui();
    view! {
        {move || (ui.offer_restore.get() && !ui.running()).then(|| ui.kept.get()).flatten().map(|k| view! {
            <aside class="restore" id="restore-offer" aria-label="A kept run">
                <p>{format!("This browser kept your last run ({}). ", k.describe())}</p>
                <div class="buttons">
                    <button id="restore-run" on:click=move |_| leptos::task::spawn_local(restore(ui))>"Restore it"</button>
                    <button id="restore-forget" on:click=move |_| leptos::task::spawn_local(forget(ui))>"Forget it"</button>
                    <button on:click=move |_| ui.offer_restore.set(false)>"Not now"</button>
                </div>
            </aside>
        })}
    }
}

/// What the browser keeps: the switch, the kept run, its vanilla models, and Forget.
#[component]
fn Kept() -> impl IntoView {
    let ui = ui();
    let use_weights = move |name: String, phi: f64, seed: u64| {
        leptos::task::spawn_local(async move {
            match super::store::weights(&name).await {
                Ok(bytes) => {
                    ui.weights.set(Some((format!("the kept vanilla model of φ = {phi}, seed {seed}"), bytes)));
                    ui.info(format!("The next run uses the kept vanilla model of φ = {phi}, seed {seed} instead of training one (Set up → model: \"train instead\" undoes it)."));
                }
                Err(e) => ui.error(format!("The kept vanilla model could not be read: {e}")),
            }
        });
    };
    view! {
        <div id="kept">
            <h3>"Kept in this browser"</h3>
            <label><input type="checkbox" id="keep-runs" prop:checked=move || ui.keep.get() on:change=move |ev| ui.keep.set(event_target_checked(&ev))/>
                " Keep the last finished run (results and trained vanilla models, never images) in this browser's storage"</label>
            {move || match ui.kept.get() {
                None => view! { <p class="small" id="kept-status">"Nothing is kept."</p> }.into_any(),
                Some(k) => {
                    let models = k.weights.iter().cloned().map(|(phi, seed, name)| {
                        let n = name.clone();
                        view! { <li>{format!("vanilla model, φ = {phi}, seed {seed} ")}<button class="small" data-weights=name on:click=move |_| use_weights(n.clone(), phi, seed)>"Use it for the next run"</button></li> }
                    }).collect_view();
                    view! {
                        <p class="small" id="kept-status">{format!("Kept: {}.", k.describe())}</p>
                        <ul class="small">{models}</ul>
                        <div class="buttons">
                            <button id="kept-restore" on:click=move |_| leptos::task::spawn_local(restore(ui))>"Restore it"</button>
                            <button id="forget" on:click=move |_| leptos::task::spawn_local(forget(ui))>"Forget"</button>
                        </div>
                    }.into_any()
                }
            }}
        </div>
    }
}

/// Export, link, import.
#[component]
pub fn Share() -> impl IntoView {
    let ui = ui();
    let shown_link = RwSignal::new(String::new());
    let export = move |_| {
        let Some(r) = ui.results.get_untracked() else { return ui.error("Nothing to export yet: run the experiment or import a report first.") };
        let html = render_report(&r);
        let name = format!("biaslens-report-{}-seed{}.html", r.config.name.replace(|c: char| !c.is_ascii_alphanumeric(), "-"), r.seed);
        match download(&name, &html, "text/html") {
            Ok(()) => ui.info(format!("Report saved as {name} ({}): one HTML file that opens offline and that this page can import again.", mb(html.len() as f64))),
            Err(e) => ui.error(format!("The report could not be saved: {e}")),
        }
    };
    let copy = move |_| {
        let l = link(ui, true);
        shown_link.set(l.clone());
        if let Some(w) = web_sys::window() {
            let _ = w.navigator().clipboard().write_text(&l);
        }
    };
    let on_import = move |ev: leptos::ev::Event| {
        let Some(file) = chosen_files(&ev).into_iter().next() else { return };
        let name = file.name();
        leptos::task::spawn_local(async move {
            let text = match read_text(&file, MAX_REPORT_BYTES).await {
                Ok(t) => t,
                Err(e) => return ui.error(format!("{name} was not imported: {e}. Earlier results are kept.")),
            };
            match import_report(&text) {
                Ok(r) => {
                    let phis = r.phis.len();
                    show_imported(ui, r, format!("imported from {name}"));
                    ui.info(format!("{name} imported ({phis} φ value(s)). Its settings are now the page's: Run recomputes it here."));
                }
                Err(e) => ui.error(format!("{name} was not imported: {e}. Earlier results are kept.")),
            }
        });
    };
    view! {
        <section class="panel" id="share" aria-labelledby="share-title" hidden=move || !ui.shown(Panel::Share)>
            <h2 id="share-title">"5 · Share"</h2>
            <div class="buttons">
                <button id="export-report" disabled=move || ui.results.with(Option::is_none) on:click=export>"Save the report (.html)"</button>
                <button id="copy-link" on:click=copy>"Link that reproduces this run"</button>
                <label class="file-button">"Import a report " <input type="file" id="import-file" accept=".html,.htm,.json" on:change=on_import/></label>
            </div>
            {move || (!shown_link.get().is_empty()).then(|| view! {
                <p class="small">"Copied (if the browser allowed it). The same settings and seed, run on open: "
                    <input type="text" id="share-link" readonly size="60" prop:value=move || shown_link.get()/></p>
            })}
            <p class="explain">"The report holds the settings, the seed, every number, the charts and the timings; it opens offline in any browser. The link holds only the settings (in the part after #, which browsers never send anywhere)."</p>
            <FigureFiles/>
            <Kept/>
        </section>
    }
}

/// The guided steps of the teaching mode: (title, plain-language explanation, panel to show).
const STEPS: [(&str, &str, Panel); 9] = [
    ("The question", "A classifier learned to predict smiling from faces, but in its training data smiling went with (not) wearing a tie. Debiasing methods try to make it fair. Did they make it stop looking at the tie, or only change its answers?", Panel::Setup),
    ("The data", "φ measures how strongly the tie and smiling go together in the training images (0: unrelated, −1: every tie-wearer is not smiling). The test images are balanced, so a fair model does equally well on every group.", Panel::Setup),
    ("Train and debias", "Run trains the plain (vanilla) model, then each debiasing method changes it: ThrOpt only moves the decision threshold; the adversarial methods and ClArC change the network itself.", Panel::Run),
    ("Explanations", "A saliency map (LRP or Integrated Gradients) colours each pixel by how much it pushed the decision. Red pushed towards the answer, blue against it. The dashed box is where the tie is.", Panel::Results),
    ("Saliency metrics", "RRF: the share of relevance inside the box (lower = less attention on the tie). ADR: how much the relevance in the box dropped against vanilla (positive = dropped). DIF: the share of box pixels whose relevance dropped. RDDT: a statistical test of whether the drop is real.", Panel::Results),
    ("Fairness metrics", "Accuracy: the share of correct answers. EO (equalized odds) gap: the largest difference in true- and false-positive rates between people with and without the tie (0 = fair).", Panel::Results),
    ("The ground truth", "Every test face is drawn twice, once with a tie and once without, and nothing else changes. How much a model's answer moves between the two is how much it really uses the tie (the reliance table). A saliency map can only guess this; here we can check the guess, and the tracking table says how well each saliency metric followed the truth across the models.", Panel::Results),
    ("The verdicts", "Each claim of the paper is a statistical test, not a comparison of two numbers. 'Holds' means the test found the effect in the paper's direction; 'direction only' means the numbers point that way but could be chance; 'not testable' means vanilla did not use the tie, so there was nothing to remove. FineTune (more training, no debiasing) is the control: a method that does no better than it removed nothing by itself. Run 3 seeds to see whether a verdict repeats.", Panel::Results),
    ("Look closer", "Open an image in the inspector and move the box with the arrow keys: the metrics follow, so you can see which region a method really moved attention away from.", Panel::Inspector),
];

/// The teaching mode's guide (only with `teach=1` in the URL).
#[component]
pub fn Teaching() -> impl IntoView {
    let ui = ui();
    let go = move |k: usize| {
        ui.teach.set(Some(k));
        let target = STEPS[k].2;
        if let Some(el) = web_sys::window().and_then(|w| w.document()).and_then(|d| d.get_element_by_id(target.id())) {
            el.scroll_into_view();
        }
    };
    view! {
        {move || ui.teach.get().map(|k| {
            let k = k.min(STEPS.len() - 1);
            let (title, text, _) = STEPS[k];
            view! {
                <aside class="teach" id="teach" aria-label="Guided steps">
                    <p class="step-count">{format!("Step {} of {}", k + 1, STEPS.len())}</p>
                    <h2>{title}</h2>
                    <p>{text}</p>
                    <div class="buttons">
                        <button disabled=k == 0 on:click=move |_| go(k - 1)>"Back"</button>
                        <button id="teach-next" disabled=k + 1 == STEPS.len() on:click=move |_| go(k + 1)>"Next"</button>
                        <button on:click=move |_| ui.teach.set(None)>"Close the guide"</button>
                    </div>
                </aside>
            }
        })}
    }
}
