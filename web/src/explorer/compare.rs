//! Runs side by side: the run shown and imported reports, one metric of Figure 3 per φ and model
//! for each run, with each run's interval as text and as a whisker on one shared axis
//! (`biaslens_experiment::report::compare`, as `biaslens compare` prints it).
//!
//! The URL keeps the compared runs that can be re-run, as configs (`&compare=<config>.<config>`,
//! each as `#config=` writes one), never their numbers: a link opens with those runs listed as
//! "not computed here", each with a button that runs it in this page. Runs of the user's own
//! images cannot be re-run from a link and stay out of it.

use std::sync::Arc;

use biaslens_experiment::report::compare::{METRICS, attribution_label, compare, comparison_csv, metric_id, metric_of, run_label, runs_csv};
use biaslens_experiment::{ExperimentConfig, ExperimentResults, import_report};
use leptos::prelude::*;

use super::share::{MAX_REPORT_BYTES, chosen_files, download, read_text};
use super::{Panel, Ui, start_run, ui};

/// One run in the comparison.
#[derive(Debug, Clone)]
pub struct Compared {
    /// What the table calls it.
    pub label: String,
    /// Its config (what a link keeps).
    pub config: ExperimentConfig,
    /// Its results, once computed or imported (`None`: named by a link, not run here yet).
    pub results: Option<Arc<ExperimentResults>>,
}

impl Compared {
    /// A computed or imported run.
    pub fn of(results: Arc<ExperimentResults>, source: &str) -> Self {
        Self { label: format!("{} ({source})", run_label(&results)), config: results.config.clone(), results: Some(results) }
    }

    /// Whether a link can bring it back: the synthetic benchmark, not the user's images.
    pub fn rerunnable(&self) -> bool {
        self.results.as_ref().is_none_or(|r| r.data_source.is_none())
    }
}

/// The URL's `compare=` value for the runs that can be re-run (`None` when there are none).
pub fn url_value(runs: &[Compared]) -> Option<String> {
    let parts: Vec<String> = runs.iter().filter(|c| c.rerunnable()).map(|c| c.config.to_fragment()).collect();
    (!parts.is_empty()).then(|| parts.join("."))
}

/// Reads the URL's `compare=` value into runs to compute; a config that cannot be read is named
/// in an error and skipped.
pub fn from_url(ui: Ui, value: &str) {
    let mut runs = Vec::new();
    for (i, part) in value.split('.').filter(|s| !s.is_empty()).enumerate() {
        match ExperimentConfig::from_fragment(part) {
            Ok(config) => runs.push(Compared { label: format!("{} (from the link, not run here yet)", config.name), config, results: None }),
            Err(e) => ui.error(format!("Run {} of the link's comparison could not be read ({e}); it is left out.", i + 1)),
        }
    }
    ui.compared.set(runs);
}

/// Called when a run of this page finishes: fills the compared run waiting for it.
pub fn run_finished(ui: Ui, results: &Arc<ExperimentResults>) {
    let Some(slot) = ui.fill_slot.get_untracked() else { return };
    ui.fill_slot.set(None);
    ui.compared.update(|runs| {
        if let Some(c) = runs.get_mut(slot)
            && c.results.is_none()
            && c.config == results.config
        {
            *c = Compared::of(results.clone(), "run here");
        }
    });
}

/// Palette of the runs' whiskers (colour-blind safe, Okabe–Ito).
const COLOURS: [&str; 6] = ["#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9"];

/// The comparison panel.
#[component]
pub fn ComparePanel() -> impl IntoView {
    let ui = ui();
    let metric = RwSignal::new("rrf".to_owned());
    let add_current = move |_| {
        let Some(r) = ui.results.get_untracked() else { return ui.error("No run is shown yet: run the experiment or import a report first.") };
        let source = ui.source.get_untracked();
        ui.compared.update(|runs| runs.push(Compared::of(r, if source.is_empty() { "this page" } else { &source })));
    };
    let on_import = move |ev: leptos::ev::Event| {
        let files = chosen_files(&ev);
        leptos::task::spawn_local(async move {
            for file in files {
                let name = file.name();
                let text = match read_text(&file, MAX_REPORT_BYTES).await {
                    Ok(t) => t,
                    Err(e) => {
                        ui.error(format!("{name} was not added to the comparison: {e}. The runs already compared are kept."));
                        continue;
                    }
                };
                match import_report(&text) {
                    Ok(r) => ui.compared.update(|runs| runs.push(Compared::of(Arc::new(r), &name))),
                    Err(e) => ui.error(format!("{name} was not added to the comparison: {e}. The runs already compared are kept.")),
                }
            }
        });
    };
    let run_slot = move |slot: usize| {
        if ui.running() {
            return ui.error("A run is in progress: wait for it or cancel it first.");
        }
        let Some(config) = ui.compared.with_untracked(|runs| runs.get(slot).map(|c| c.config.clone())) else { return };
        ui.config.set(config);
        ui.fill_slot.set(Some(slot));
        start_run(ui);
    };
    let csv = move |_| {
        let runs = ui.compared.get_untracked();
        let computed: Vec<(String, &ExperimentResults)> =
            runs.iter().filter_map(|c| c.results.as_deref().map(|r| (c.label.clone(), r))).collect();
        let Some(m) = metric_of(&metric.get_untracked()) else { return };
        let c = compare(&computed, &m, &ui.attribution.get_untracked());
        let id = metric_id(&m);
        for (name, text) in [(format!("compare-{id}.csv"), comparison_csv(&c)), ("compare-runs.csv".to_owned(), runs_csv(&c))] {
            match text.and_then(|t| download(&name, &t, "text/csv")) {
                Ok(()) => {}
                Err(e) => ui.error(format!("{name} could not be saved: {e}")),
            }
        }
    };
    view! {
        <section class="panel" id="compare" aria-labelledby="compare-title" hidden=move || !ui.shown(Panel::Compare)>
            <h2 id="compare-title">"6 · Runs side by side"</h2>
            <p class="explain">"Put runs next to each other (two seeds, two architectures, a pretrained start against one from scratch): one metric per φ and model, each run with its own interval. Only the runs' settings go into the link, never their numbers."</p>
            <div class="buttons">
                <button id="compare-add" disabled=move || ui.results.with(Option::is_none) on:click=add_current>"Add the run shown"</button>
                <label class="file-button">"Add reports " <input type="file" id="compare-files" multiple accept=".html,.htm,.json" on:change=on_import/></label>
                <button id="compare-clear" disabled=move || ui.compared.with(Vec::is_empty) on:click=move |_| ui.compared.set(Vec::new())>"Clear"</button>
                <button id="compare-csv" disabled=move || ui.compared.with(|r| r.iter().all(|c| c.results.is_none())) on:click=csv>"Table as CSV"</button>
            </div>
            <ol class="compared" id="compared-runs">
                {move || ui.compared.get().into_iter().enumerate().map(|(i, c)| {
                    let colour = COLOURS[i % COLOURS.len()];
                    let pending = c.results.is_none();
                    view! {
                        <li data-run=i>
                            <span class="swatch" style=format!("background:{colour}") aria-hidden="true"></span>
                            {format!("Run {}: {}", i + 1, c.label)}
                            {pending.then(|| view! { " " <button class="small run-slot" on:click=move |_| run_slot(i)>"Run it here"</button> })}
                            " "
                            <button class="small dismiss" aria-label=format!("Remove run {}", i + 1) on:click=move |_| ui.compared.update(|v| { if i < v.len() { v.remove(i); } })>"×"</button>
                        </li>
                    }
                }).collect_view()}
            </ol>
            <label>"Metric "
                <select id="compare-metric" on:change=move |ev| metric.set(event_target_value(&ev)) prop:value=move || metric.get()>
                    {METRICS.iter().map(|m| view! { <option value=metric_id(m)>{m.name().to_owned()}</option> }).collect_view()}
                </select>
            </label>
            {move || comparison_view(ui, &metric.get())}
        </section>
    }
}

/// The table of the runs computed so far, for the metric `id`, with a whisker column.
fn comparison_view(ui: Ui, id: &str) -> impl IntoView + use<> {
    let runs = ui.compared.get();
    let key = ui.attribution.get();
    let Some(metric) = metric_of(id) else { return view! { <p class="explain">"Unknown metric."</p> }.into_any() };
    let computed: Vec<(String, &ExperimentResults)> = runs.iter().filter_map(|c| c.results.as_deref().map(|r| (c.label.clone(), r))).collect();
    if computed.len() < 2 {
        return view! { <p class="explain" id="compare-empty">"Add at least two runs to compare them."</p> }.into_any();
    }
    // Column k of the table is run `index[k]` of the list (pending runs have no column).
    let index: Vec<usize> = runs.iter().enumerate().filter(|(_, c)| c.results.is_some()).map(|(i, _)| i).collect();
    let c = compare(&computed, &metric, &key);
    let what = match &c.attribution {
        Some(k) => format!("{} of the {} maps", metric.name(), attribution_label(&computed, k)),
        None => metric.name().to_owned(),
    };
    if c.rows.is_empty() {
        return view! { <p class="explain" id="compare-empty">{format!("None of these runs has {what}.")}</p> }.into_any();
    }
    // One axis for every whisker of the table.
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for e in c.rows.iter().flat_map(|r| r.cells.iter().flatten()) {
        let [a, b] = e.ci.unwrap_or([e.value, e.value]);
        lo = lo.min(a).min(e.value);
        hi = hi.max(b).max(e.value);
    }
    if hi - lo < 1e-12 {
        lo -= 0.5;
        hi += 0.5;
    }
    let width = 220.0;
    let x = move |v: f64| 6.0 + (v - lo) / (hi - lo) * (width - 12.0);
    let line_h = 10.0;
    let header = index.iter().map(|&i| view! { <th scope="col">{format!("Run {}", i + 1)}</th> }).collect_view();
    let rows = c
        .rows
        .iter()
        .map(|row| {
            let cells = row
                .cells
                .iter()
                .map(|cell| match cell {
                    Some(e) => {
                        let ci = e.ci.map_or(String::new(), |[a, b]| format!(" [{a:.3}, {b:.3}]"));
                        view! { <td class="num" data-value=format!("{:e}", e.value)>{format!("{:.3}{ci}", e.value)}</td> }.into_any()
                    }
                    None => view! { <td class="num" data-value="">"—"</td> }.into_any(),
                })
                .collect_view();
            let height = line_h * row.cells.len() as f64 + 4.0;
            let marks = row
                .cells
                .iter()
                .enumerate()
                .filter_map(|(k, cell)| {
                    let e = (*cell)?;
                    let colour = COLOURS[index[k] % COLOURS.len()];
                    let y = 2.0 + line_h * (k as f64 + 0.5);
                    let [a, b] = e.ci.unwrap_or([e.value, e.value]);
                    Some(view! {
                        <line x1=x(a) x2=x(b) y1=y y2=y stroke=colour stroke-width="2"/>
                        <circle cx=x(e.value) cy=y r="3" fill=colour/>
                    })
                })
                .collect_view();
            view! {
                <tr data-phi=row.phi.to_string() data-model=row.model.clone()>
                    <td>{format!("{}", row.phi)}</td>
                    <th scope="row">{row.model.clone()}</th>
                    {cells}
                    <td><svg class="whiskers" width=width height=height role="img" aria-label="each run's value and interval on one axis">{marks}</svg></td>
                </tr>
            }
        })
        .collect_view();
    let kinds = index
        .iter()
        .zip(&c.interval_kinds)
        .map(|(&i, k)| view! { <li>{format!("Run {}: {k}", i + 1)}</li> })
        .collect_view();
    view! {
        <table class="metrics" id="compare-table" tabindex="0">
            <caption>{format!("{what}, per φ and model; whiskers on one axis from {lo:.3} to {hi:.3}")}</caption>
            <thead><tr><th scope="col">"φ"</th><th scope="col">"model"</th>{header}<th scope="col">"value and interval"</th></tr></thead>
            <tbody>{rows}</tbody>
        </table>
        <ul class="small interval-kinds">{kinds}</ul>
    }
    .into_any()
}
