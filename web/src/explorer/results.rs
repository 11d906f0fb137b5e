//! The results: per unit (φ, and seed when there are several) the accuracy/fairness/saliency
//! table with intervals (every value is text, reachable by keyboard), Figure 2 (mean maps per
//! group), Figure 3 (metrics per method and φ, averaged over the seeds), the EO × accuracy
//! trade-off, the paper's claims tested and the ground-truth reliance ([`super::verdicts`]); the
//! explained images to open in the inspector. One tab per attribution the
//! results hold. Tables and figures take their data from `biaslens_experiment::report::figures`,
//! as the report does.

use std::sync::Arc;

use biaslens_experiment::ExperimentResults;
use biaslens_experiment::report::figures::{attribution_name, ci_text, results_table, saliency_grid, summary_text, units_by_phi};
use biaslens_viz::{BarStyle, Colormap, SaliencyGridStyle, TradeoffStyle, metric_bars_svg, saliency_grid_svg, tradeoff_svg};
use leptos::prelude::*;

use super::verdicts::{VerdictsPanel, several_seeds, unit_label};
use super::{Panel, default_attribution, ui};
use crate::widgets::{Later, Legend, RgbaCanvas, Svg};

/// The element id of an attribution's tab (`show-ig`).
fn tab_id(key: &str) -> String {
    format!("show-{}", key.replace(|c: char| !c.is_ascii_alphanumeric(), "-"))
}

/// Results of the last run or import.
#[component]
pub fn Results() -> impl IntoView {
    let ui = ui();
    view! {
        <section class="panel" id="results" aria-labelledby="results-title" hidden=move || !ui.shown(Panel::Results)>
            <h2 id="results-title">"3 · Compare"</h2>
            {move || match ui.results.get() {
                None => view! { <p class="explain">"No results yet: press Run (the demo takes under a minute), or import a report below."</p> }.into_any(),
                Some(r) => view! { <Shown results=r/> }.into_any(),
            }}
        </section>
    }
}

#[component]
fn Shown(results: Arc<ExperimentResults>) -> impl IntoView {
    let ui = ui();
    let r = results.clone();
    // The key shown: the chosen one if these results have it, else their default.
    let key = {
        let r = r.clone();
        Memo::new(move |_| {
            let chosen = ui.attribution.get();
            if r.attribution_info(&chosen).is_some() { chosen } else { default_attribution(&r) }
        })
    };
    let seeded = several_seeds(&results);
    // The unit selector: φ values in config order and, with several seeds, the seeds; a click keeps
    // the other coordinate where the results have it (a partial run may lack some units).
    let by_phi: Vec<f64> = units_by_phi(&results).into_iter().map(|(phi, _)| phi).collect();
    let mut seeds: Vec<u64> = Vec::new();
    for p in &results.phis {
        if !seeds.contains(&p.seed) {
            seeds.push(p.seed);
        }
    }
    let unit_of = {
        let r = r.clone();
        move |phi: Option<f64>, seed: Option<u64>| -> Option<usize> {
            let now = r.phis.get(ui.phi.get_untracked().min(r.phis.len().saturating_sub(1)));
            let phi = phi.or_else(|| now.map(|p| p.phi))?;
            let seed = seed.or_else(|| now.map(|p| p.seed))?;
            r.phis
                .iter()
                .position(|p| p.phi == phi && p.seed == seed)
                .or_else(|| r.phis.iter().position(|p| p.phi == phi))
        }
    };
    let current = {
        let r = r.clone();
        move || r.phis.get(ui.phi.get().min(r.phis.len().saturating_sub(1))).map(|p| (p.phi, p.seed))
    };
    let phi_buttons = by_phi
        .iter()
        .map(|&phi| {
            let (unit_of, current) = (unit_of.clone(), current.clone());
            view! {
                <button class="tab" data-phi=phi.to_string() aria-pressed=move || current().is_some_and(|c| c.0 == phi).to_string()
                    on:click=move |_| if let Some(i) = unit_of(Some(phi), None) { ui.phi.set(i); ui.inspect.set(None); }>{phi.to_string()}</button>
            }
        })
        .collect_view();
    let seed_buttons = (seeds.len() > 1).then(|| {
        let buttons = seeds
            .iter()
            .map(|&seed| {
                let (unit_of, current) = (unit_of.clone(), current.clone());
                let (r, label_current) = (r.clone(), current.clone());
                view! {
                    <button class="tab" data-seed=seed.to_string() aria-pressed=move || label_current().is_some_and(|c| c.1 == seed).to_string()
                        on:click=move |_| {
                            // A seed that did not reach this φ (a stopped run): its first unit.
                            let i = unit_of(None, Some(seed)).filter(|&i| r.phis[i].seed == seed).or_else(|| r.phis.iter().position(|p| p.seed == seed));
                            if let Some(i) = i { ui.phi.set(i); ui.inspect.set(None); }
                        }>{seed.to_string()}</button>
                }
            })
            .collect_view();
        view! { <span class="sep">"seed: "</span>{buttons} }
    });
    let name = {
        let r = r.clone();
        move || attribution_name(&r, &key.get()).to_owned()
    };
    let (figure3, verdicts) = (r.clone(), r.clone());
    view! {
        <p class="explain" id="results-source">
            {format!("{}, {}; {} on {}, {:.1} s; data: {}. ",
                if seeded { format!("{} units (φ value × seed)", results.phis.len()) } else { format!("{} φ value(s)", results.phis.len()) },
                ui.source.get_untracked(), results.config.name, results.device, results.total_seconds,
                results.data_source.clone().unwrap_or_else(|| "the synthetic benchmark".into()))}
            {results.per_image_regions.as_ref().map(|source| format!("Saliency scored in each image's own region from {source} (the one ROI applies to no image; the inspector draws each image's own). "))}
            {results.partial.as_ref().map(|p| format!("{} unit(s) of the config did not finish. ", p.missing.len()))}
        </p>
        <div class="controls" role="group" aria-label="What the charts show">
            <span>"φ: "</span>
            {phi_buttons}
            {seed_buttons}
            <span class="sep">"maps: "</span>
            {results.attributions.iter().map(|info| {
                let k = info.key.clone();
                let pressed = k.clone();
                view! {
                    <button class="tab" id=tab_id(&info.key) data-attribution=info.key.clone() aria-pressed=move || key.with(|s| *s == pressed).to_string()
                        on:click=move |_| ui.attribution.set(k.clone())>{info.name.clone()}</button>
                }
            }).collect_view()}
            <span class="sep">"colours: "</span>
            <button class="tab" aria-pressed=move || (ui.colormap.get() == Colormap::RdBu).to_string() on:click=move |_| ui.colormap.set(Colormap::RdBu)>"blue–white–red"</button>
            <button class="tab" id="colormap-safe" aria-pressed=move || (ui.colormap.get() == Colormap::BlueOrange).to_string() on:click=move |_| ui.colormap.set(Colormap::BlueOrange)>"colour-blind safe"</button>
        </div>
        {
            let r = r.clone();
            move || {
                let i = ui.phi.get().min(r.phis.len().saturating_sub(1));
                let key = key.get();
                let name = attribution_name(&r, &key).to_owned();
                let colormap = ui.colormap.get();
                let Some(p) = r.phis.get(i) else { return view! { <p>"no φ"</p> }.into_any() };
                let unit = unit_label(p, seeded);
                let grid = {
                    let (r, key, name, unit) = (r.clone(), key.clone(), name.clone(), unit.clone());
                    move || {
                        let p = &r.phis[i];
                        let grid = saliency_grid(&r, p, &key)
                            .ok_or_else(|| format!("no {name} maps at this φ"))
                            .and_then(|g| saliency_grid_svg(&g, &SaliencyGridStyle { colormap, ..SaliencyGridStyle::default() }).map_err(|e| e.to_string()));
                        view! {
                            <div class="clickable" title="Click a cell to inspect an image of that group" on:click={
                                let r = r.clone();
                                move |ev: web_sys::MouseEvent| open_from_grid(&ev, &r, i)
                            }>
                                <Svg svg=grid id="figure2" label=format!("Figure 2: mean {name} saliency maps per (attribute, target) group at {unit}; rows are groups, columns the mean input, vanilla and each method; the dashed box is the region of interest. Click a cell to inspect an image of its group.")/>
                            </div>
                        }
                    }
                };
                let explained = r.clone();
                view! {
                    <ModelTable results=r.clone() index=i key=key.clone() seeded=seeded/>
                    <h3>{format!("Figure 2 · mean {name} maps per group at {unit}")}</h3>
                    <Legend colormap=colormap/>
                    <Later>{grid.clone()}</Later>
                    <Explained results=explained.clone() index=i/>
                    {p.localisation.clone().map(|l| view! { <Localisation l=l unit=unit.clone()/> })}
                }.into_any()
            }
        }
        <h3>{move || format!("Figure 3 · {} metrics per method and φ", name())}</h3>
        <Later>{
            let r = figure3.clone();
            move || {
                let key = key.get();
                let name = attribution_name(&r, &key).to_owned();
                let table = results_table(&r, &key);
                let bars = metric_bars_svg(&table, &BarStyle::default()).map_err(|e| e.to_string());
                let trade = tradeoff_svg(&table, &TradeoffStyle::default()).map_err(|e| e.to_string());
                view! {
                    <Svg svg=bars id="figure3" label=format!("Figure 3: RRF, ADR, DIF, RDDT, EqualizedOdds and accuracy per method, grouped by φ, with 95% intervals, for {name} maps; the same values are in the tables")/>
                    <h3>"Fairness against accuracy"</h3>
                    <Svg svg=trade id="tradeoff" label="EqualizedOdds gap against accuracy per method and φ; vanilla is marked; lower-right is better".to_string()/>
                }
            }
        }</Later>
        <Later><VerdictsPanel results=verdicts.clone()/></Later>
    }
}

/// Config `localise`: how well the CAV's heatmap finds the artifact in this unit's explained
/// images that carry it, beside the baselines (as the report's table; docs/METHODS.md#localise).
#[component]
fn Localisation(l: biaslens_experiment::results::LocalisationResult, unit: String) -> impl IntoView {
    // An IoU lies in [0, 1]: the t-interval is shown clipped to it.
    let interval = |i: Option<biaslens_metrics::Interval>| i.map_or(String::new(), |i| format!(" [{:.3}, {:.3}]", i.low.max(0.0), i.high.min(1.0)));
    let row = |name: &'static str, id: &'static str, s: &biaslens_metrics::localise::LocalisationSummary, pointing: bool| {
        view! {
            <tr data-localise=id>
                <th scope="row">{name}</th>
                <td class="num" data-metric="iou" data-value=format!("{:e}", s.iou_mean)>{format!("{:.3}{}", s.iou_mean, interval(s.iou_interval))}</td>
                <td class="num" data-metric="pointing">{if pointing { format!("{:.2}", s.pointing_rate) } else { "—".to_owned() }}</td>
            </tr>
        }
    };
    view! {
        <h3>{format!("Finding the artifact from the CAV at {unit}")}</h3>
        <p class="explain">{format!(
            "{} explained test images that carry the attribute: {}'s CAV, its relevance on the vanilla model thresholded into a mask, against the truth ({}); beside vanilla's own map of the target class, the fixed ROI and a seeded random box of its size. IoU: mean with a 95 % t-interval; pointing: share of images whose heatmap maximum lies in the truth. The inspector can score every image in the found mask.",
            l.cav.images, l.cav_from, l.truth
        )}</p>
        <table class="metrics" id="localisation-table">
            <thead><tr><th scope="col">"mask"</th><th scope="col">"IoU"</th><th scope="col">"pointing"</th></tr></thead>
            <tbody>
                {row("CAV heatmap", "cav", &l.cav, true)}
                {row("vanilla's class map", "class", &l.class_map, true)}
                {row("fixed ROI", "fixed", &l.fixed_roi, false)}
                {row("random box", "random", &l.random_box, false)}
            </tbody>
        </table>
    }
}

/// A click on a Figure 2 cell opens the inspector on the first explained image of that cell's
/// group (rows are the groups in key order, as `PhiResult::groups`).
fn open_from_grid(ev: &web_sys::MouseEvent, results: &ExperimentResults, phi: usize) {
    use wasm_bindgen::JsCast;
    let ui = ui();
    let Some(cell) = ev.target().and_then(|t| t.dyn_into::<web_sys::Element>().ok()) else { return };
    if !cell.class_list().contains("cell") {
        return;
    }
    let y_of = |e: &web_sys::Element| e.get_attribute("y").and_then(|v| v.parse::<f64>().ok());
    let (Some(y), Ok(Some(svg))) = (y_of(&cell), cell.closest("svg")) else { return };
    let Ok(all) = svg.query_selector_all("image.cell") else { return };
    let mut rows: Vec<f64> = (0..all.length())
        .filter_map(|k| all.item(k).and_then(|n| n.dyn_into::<web_sys::Element>().ok()))
        .filter_map(|e| y_of(&e))
        .collect();
    rows.sort_by(f64::total_cmp);
    rows.dedup();
    let Some(row) = rows.iter().position(|&r| r == y) else { return };
    let Some(p) = results.phis.get(phi) else { return };
    let (Some(group), Some(e)) = (p.groups.get(row), p.explained.as_ref()) else { return };
    let g = group.group;
    let first = (0..e.n).find(|&k| i64::from(e.attribute[k]) == g.protected && i64::from(e.target[k]) == g.target);
    if let Some(k) = first {
        ui.inspect.set(Some(k));
        if let Some(el) = web_sys::window().and_then(|w| w.document()).and_then(|d| d.get_element_by_id("inspector")) {
            el.scroll_into_view();
        }
    }
}

/// Per model at one unit: fairness on the whole balanced test split and saliency against
/// vanilla for the attribution stored under `key`.
#[component]
fn ModelTable(results: Arc<ExperimentResults>, index: usize, key: String, seeded: bool) -> impl IntoView {
    let p = &results.phis[index];
    let name = attribution_name(&results, &key).to_owned();
    let sanity_title = results
        .attribution_info(&key)
        .and_then(|a| a.sanity.clone())
        .map_or_else(|| format!("{name} has no completeness property to check"), |s| format!("mean |residual| of the {s}"));
    let rows = p
        .models
        .iter()
        .enumerate()
        .map(|(m, model)| {
            let f = &model.fairness;
            let a = model.attribution(&key);
            let s = a.map(|a| a.saliency.pooled);
            let dash = |text: String| if m == 0 { "—".to_string() } else { text };
            let details = model
                .details
                .iter()
                .map(|(k, v)| format!("{k} = {v:.4}"))
                .chain(model.notes.iter().cloned())
                .collect::<Vec<_>>()
                .join(", ");
            view! {
                <tr data-model=model.name.clone()>
                    <th scope="row">{model.name.clone()}</th>
                    <td class="num" data-metric="accuracy" data-value=format!("{:e}", f.accuracy.value)>{format!("{:.3}{}", f.accuracy.value, ci_text(f.accuracy.ci))}</td>
                    <td class="num" data-metric="eo" data-value=format!("{:e}", f.equalized_odds.value)>{format!("{:.3}{}", f.equalized_odds.value, ci_text(f.equalized_odds.ci))}</td>
                    <td class="num" data-metric="rrf" data-value=s.map_or(String::new(), |s| format!("{:e}", s.rrf.mean))>{s.map_or("n/a".into(), |s| summary_text(&s.rrf))}</td>
                    <td class="num" data-metric="adr">{dash(s.map_or("n/a".into(), |s| format!("{:+.4}{}", s.adr.mean, ci_text(s.adr.ci))))}</td>
                    <td class="num" data-metric="dif">{dash(s.map_or("n/a".into(), |s| format!("{:.3}{}", s.dif.mean, ci_text(s.dif.ci))))}</td>
                    <td data-metric="rddt">{dash(s.map_or("n/a".into(), |s| format!("{} (p = {})", if s.rddt.test.significant { "yes" } else { "no" }, s.rddt.test.p.map_or("n/a".into(), |p| format!("{p:.2e}")))))}</td>
                    <td class="num">{a.and_then(|a| a.sanity.residual_abs_mean).map_or("n/a".into(), |v| format!("{v:.2e}"))}</td>
                    <td class="small">{details}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <table class="metrics" id="model-table" tabindex="0">
            <caption>{format!(
                "{}: accuracy and EqualizedOdds on the {}-image balanced test split, {name} saliency metrics of {} explained images against vanilla's maps, with 95 % bootstrap intervals. Lower EO is fairer; lower RRF and positive ADR mean less relevance in the box.",
                unit_label(p, seeded), p.test.images, p.models.first().and_then(|m| m.attribution(&key)).map_or(0, |a| a.saliency.pooled.n)
            )}</caption>
            <thead><tr>
                <th scope="col">"model"</th><th scope="col" title="higher is better">"accuracy ↑"</th><th scope="col" title="lower is better">"EO gap ↓"</th>
                <th scope="col" title="relevance fraction inside the box; lower means less attention on the attribute">"RRF ↓"</th>
                <th scope="col" title="average decrease of relevance in the box against vanilla">"ADR ↑"</th>
                <th scope="col" title="fraction of box pixels whose relevance decreased">"DIF ↑"</th>
                <th scope="col" title="one-sided t-test: is the decrease significant?">"RDDT"</th>
                <th scope="col" title=sanity_title>"sanity"</th>
                <th scope="col">"method details"</th>
            </tr></thead>
            <tbody>{rows}</tbody>
        </table>
    }
}

/// The explained images kept in memory, by group; a click opens the inspector.
#[component]
fn Explained(results: Arc<ExperimentResults>, index: usize) -> impl IntoView {
    let ui = ui();
    let p = &results.phis[index];
    let Some(e) = p.explained.as_ref() else {
        return view! { <p class="explain" id="no-inspector">"Per-image maps are not part of a report (they would make it very large); run this config in the page to inspect single images."</p> }.into_any();
    };
    let side = results.image.width;
    let px = results.image.pixels();
    let attr = if results.config.data.synthetic.attribute == biaslens_data::ProtectedKind::Hat { "hat" } else { "tie" };
    let groups = [(0u8, 0u8), (0, 1), (1, 0), (1, 1)];
    let rows = groups
        .into_iter()
        .map(|(a, t)| {
            // One group's thumbnails (a canvas each) are drawn in a task of their own.
            let e = e.clone();
            let items = move || {
                (0..e.n)
                    .filter(|&i| e.attribute[i] == a && e.target[i] == t)
                    .map(|i| {
                        let rgba = biaslens_viz::chw_to_rgba(&e.pixels[i * 3 * px..(i + 1) * 3 * px], px);
                        view! {
                            <button class="thumb-button" data-image=i aria-pressed=move || (ui.inspect.get() == Some(i)).to_string()
                                aria-label=format!("inspect explained image {i}") on:click=move |_| ui.inspect.set(Some(i))>
                                <RgbaCanvas rgba=rgba width=side height=side label=format!("explained image {i}")/>
                            </button>
                        }
                    })
                    .collect_view()
            };
            view! {
                <div class="group-row">
                    <span class="group-label">{format!("{}, {}", if t == 1 { "smiling" } else { "not smiling" }, if a == 1 { attr.to_string() } else { format!("no {attr}") })}</span>
                    <div class="thumbs"><Later>{items.clone()}</Later></div>
                </div>
            }
        })
        .collect_view();
    view! {
        <h3>"Explained test images"</h3>
        <p class="explain">"Open one in the inspector: every model's map side by side, the region of interest editable, the image's metrics recomputed at once."</p>
        <div id="explained">{rows}</div>
    }
    .into_any()
}
