//! The explorer: the experiment of Sztukiewicz et al. (XAI 2025) in the page. Data → model →
//! debiasing → attribution maps → fairness and saliency metrics → Figures 2 and 3 → a report and
//! a link that reproduces the run.
//!
//! State is plain signals in [`Ui`]; every computation is a library call. A run goes through the
//! library's driver ([`biaslens_experiment::drive`]) one unit (a φ with a seed) at a time, so
//! finished units appear at once and survive a failing GPU: when WebGPU fails, the driver asks the
//! page for another device and the page hands it the CPU, which redoes the unit in progress.

mod compare;
pub(crate) mod files;
mod inspector;
pub(crate) mod own;
mod planted;
mod remote;
mod results;
mod setup;
mod share;
mod store;
mod verdicts;

use std::cell::{Cell, RefCell};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use biaslens_data::LabelledImages;
pub use files::PickedFiles;
use biaslens_experiment::resources::fit;
use biaslens_experiment::{
    ExperimentConfig, ExperimentResults, Host, RunError, RunOptions, RunProgress, Unit, device_label, drive, units,
};
use biaslens_metrics::Roi;
use biaslens_viz::Colormap;
use burn::prelude::Device;
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::device::{self, Chosen, Kind};
use crate::pace::now_ms;

/// Memory for the inspector's per-image maps (the runner keeps as many explained images as fit).
const INSPECT_BYTES: usize = 96 << 20;

/// Where the run stands.
#[derive(Debug, Clone, PartialEq)]
pub enum Phase {
    /// Nothing started (or results imported).
    Idle,
    /// Computing.
    Running,
    /// Every unit finished.
    Done,
    /// Stopped by the user; finished units are kept.
    Cancelled,
    /// Failed with a message; finished units are kept.
    Failed(String),
}

/// A message for the user.
#[derive(Debug, Clone, PartialEq)]
pub struct Note {
    /// Which message this is (unique in the page's life): Dismiss removes this one, whatever was
    /// removed or added since the button was drawn.
    pub id: u64,
    /// `true` for an error, `false` for information.
    pub error: bool,
    /// What happened, where, and what to do.
    pub text: String,
}

/// The panels of the page; `hide=` in the URL names them by [`Panel::id`], which is also the
/// section's element id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Panel {
    /// 1 · Set up (data, model, methods, explanations, the config as JSON, the data preview).
    Setup,
    /// 2 · Train, debias, explain (Run, progress, the loss curve).
    Run,
    /// 3 · Compare (tables, Figures 2 and 3, findings).
    Results,
    /// 4 · Inspect one image.
    Inspector,
    /// 5 · Share (report, link, import, what the browser keeps).
    Share,
    /// 6 · Runs side by side.
    Compare,
}

impl Panel {
    /// Every panel, top to bottom.
    pub const ALL: [Panel; 6] = [Panel::Setup, Panel::Run, Panel::Results, Panel::Inspector, Panel::Share, Panel::Compare];

    /// The element id and the name in the URL's `hide=`.
    pub fn id(self) -> &'static str {
        match self {
            Panel::Setup => "setup",
            Panel::Run => "run",
            Panel::Results => "results",
            Panel::Inspector => "inspector",
            Panel::Share => "share",
            Panel::Compare => "compare",
        }
    }

    /// The panel of an id (`None` for an unknown one).
    pub fn from_id(id: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.id() == id)
    }
}

/// The training curve of one unit: (loss, batch accuracy) per step.
#[derive(Debug, Clone, PartialEq)]
pub struct Curve {
    /// The unit (φ and seed) being trained.
    pub unit: Unit,
    /// (loss, batch accuracy) per training step.
    pub points: Vec<(f64, f64)>,
}

/// The page's state: plain signals, shared by every panel through context.
#[derive(Clone, Copy)]
pub struct Ui {
    /// The config being edited (and the one the next run uses).
    pub config: RwSignal<ExperimentConfig>,
    /// The device, once chosen.
    pub chosen: RwSignal<Option<Chosen>>,
    /// Where the run stands.
    pub phase: RwSignal<Phase>,
    /// The last progress event (its fraction is of the whole run).
    pub progress: RwSignal<Option<RunProgress>>,
    /// Training curves of the current run, per unit index.
    pub losses: RwSignal<Vec<Curve>>,
    /// Results shown (of a run here, possibly partial, or imported).
    pub results: RwSignal<Option<Arc<ExperimentResults>>>,
    /// Where the shown results come from.
    pub source: RwSignal<String>,
    /// Messages, newest last.
    pub notes: RwSignal<Vec<Note>>,
    /// A vanilla model loaded from a file (name, bytes), used instead of training.
    pub weights: RwSignal<Option<(String, Arc<[u8]>)>>,
    /// The ImageNet file (name, bytes) the config's `model.pretrained` starts from, if chosen.
    pub pretrained: RwSignal<Option<(String, Arc<[u8]>)>>,
    /// Which unit the result views show (index into the results' `phis`).
    pub phi: RwSignal<usize>,
    /// Which attribution the result views show: its key in the results (`"lrp"`, `"ig"`, …).
    pub attribution: RwSignal<String>,
    /// Colour map of the saliency maps.
    pub colormap: RwSignal<Colormap>,
    /// The inspected explained image (index), if any.
    pub inspect: RwSignal<Option<usize>>,
    /// The inspector's region of interest (edited by the user); `None` = the run's.
    pub roi: RwSignal<Option<Roi>>,
    /// The inspector scores each image in the artifact found from the CAV (runs with `localise`).
    pub found_region: RwSignal<bool>,
    /// Set by Cancel; read by the running computation between batches.
    pub cancel: StoredValue<Arc<AtomicBool>>,
    /// Seconds since the current run started.
    pub elapsed: RwSignal<f64>,
    /// Whether the current (or last) run computes in the compute worker, not on the page's thread.
    pub in_worker: RwSignal<bool>,
    /// How many compute workers the current (or last) run computes in at once: one, or one per
    /// CPU core for a run of several units on the CPU (`remote::lanes_for`).
    pub lanes: RwSignal<usize>,
    /// The URL's `lanes=N`: at most this many workers at once (1: one worker, as on WebGPU).
    pub max_lanes: RwSignal<Option<usize>>,
    /// Teaching mode: the current guided step, if on.
    pub teach: RwSignal<Option<usize>>,
    /// Panels hidden by the URL (`hide=setup,share,…`), in the URL's order.
    pub hidden: RwSignal<Vec<Panel>>,
    /// The user's labels (own CSV or CelebA's attribute list), replacing the synthetic pool.
    pub own_labels: RwSignal<Option<Arc<LabelledImages>>>,
    /// The user's image files, by name: `File` handles, read only when a batch needs them.
    pub own_files: RwSignal<Option<Arc<PickedFiles>>>,
    /// CelebA's official partition of the user's labels (`list_eval_partition.txt`), aligned
    /// with them; cleared when other labels are chosen.
    pub own_partition: RwSignal<Option<Arc<biaslens_experiment::PoolPartition>>>,
    /// Each own image's region (a box file or mask PNGs), replacing the one ROI in the metrics.
    pub own_regions: RwSignal<Option<planted::OwnRegions>>,
    /// Every own image with and without the attribute, for the ground-truth reliance.
    pub own_pairs: RwSignal<Option<planted::OwnPairs>>,
    /// What was planted (from `plant.json` or the page's plant form), in words.
    pub planted: RwSignal<Option<String>>,
    /// The set the page planted, for "save the planted set" (the folder `biaslens plant` writes).
    pub planted_export: RwSignal<Option<Arc<planted::PlantedExport>>>,
    /// The labels and images before the page planted into them (a new plant starts from these).
    pub unplanted: RwSignal<Option<(Arc<LabelledImages>, Arc<PickedFiles>)>>,
    /// Runs side by side (the comparison panel), in the order added.
    pub compared: RwSignal<Vec<compare::Compared>>,
    /// The compared run (index) that the run in progress computes, started from its "Run it here".
    pub fill_slot: RwSignal<Option<usize>>,
    /// Whether a finished run is kept in the browser's storage (the user can turn it off).
    pub keep: RwSignal<bool>,
    /// What the browser's storage holds now (`None`: nothing).
    pub kept: RwSignal<Option<store::Kept>>,
    /// Whether the offer to restore the kept run is still shown (it goes once answered).
    pub offer_restore: RwSignal<bool>,
    /// Test hook (`simulate=gpu-loss@K` in the URL): on WebGPU, the K-th unit (0-based, run
    /// order) fails as a lost device would, to exercise the switch to the CPU.
    pub simulate_gpu_loss_at: RwSignal<Option<usize>>,
}

/// A fresh [`Note::id`].
fn next_note_id() -> u64 {
    thread_local! {
        static NEXT: Cell<u64> = const { Cell::new(0) };
    }
    NEXT.with(|n| {
        let id = n.get();
        n.set(id + 1);
        id
    })
}

impl Ui {
    fn new() -> Self {
        Self {
            config: RwSignal::new(ExperimentConfig::demo()),
            chosen: RwSignal::new(None),
            phase: RwSignal::new(Phase::Idle),
            progress: RwSignal::new(None),
            losses: RwSignal::new(Vec::new()),
            results: RwSignal::new(None),
            source: RwSignal::new(String::new()),
            notes: RwSignal::new(Vec::new()),
            weights: RwSignal::new(None),
            pretrained: RwSignal::new(None),
            phi: RwSignal::new(0),
            attribution: RwSignal::new("lrp".into()),
            colormap: RwSignal::new(Colormap::RdBu),
            inspect: RwSignal::new(None),
            roi: RwSignal::new(None),
            found_region: RwSignal::new(false),
            cancel: StoredValue::new(Arc::new(AtomicBool::new(false))),
            in_worker: RwSignal::new(false),
            lanes: RwSignal::new(1),
            max_lanes: RwSignal::new(None),
            elapsed: RwSignal::new(0.0),
            teach: RwSignal::new(None),
            hidden: RwSignal::new(Vec::new()),
            simulate_gpu_loss_at: RwSignal::new(None),
            own_labels: RwSignal::new(None),
            own_files: RwSignal::new(None),
            own_regions: RwSignal::new(None),
            own_pairs: RwSignal::new(None),
            planted: RwSignal::new(None),
            planted_export: RwSignal::new(None),
            unplanted: RwSignal::new(None),
            own_partition: RwSignal::new(None),
            compared: RwSignal::new(Vec::new()),
            fill_slot: RwSignal::new(None),
            keep: RwSignal::new(true),
            kept: RwSignal::new(None),
            offer_restore: RwSignal::new(false),
        }
    }

    /// Shows an error message (kept until dismissed).
    pub fn error(self, text: impl Into<String>) {
        self.notes.update(|n| n.push(Note { id: next_note_id(), error: true, text: text.into() }));
    }

    /// Shows an information message; it replaces the previous one (errors stay until dismissed),
    /// so the sticky message area never covers much of the page.
    pub fn info(self, text: impl Into<String>) {
        self.notes.update(|n| {
            n.retain(|note| note.error);
            n.push(Note { id: next_note_id(), error: false, text: text.into() });
        });
    }

    /// Whether the URL left `panel` shown.
    pub fn shown(self, panel: Panel) -> bool {
        !self.hidden.with(|h| h.contains(&panel))
    }

    /// Whether a run is in progress.
    pub fn running(self) -> bool {
        self.phase.with(|p| *p == Phase::Running)
    }

    /// Shows `results` (from a run here or an import): the attribution shown stays if the
    /// results have it, else it becomes their first (LRP when they have it).
    pub fn show_results(self, results: Arc<ExperimentResults>) {
        let keys = results.attribution_keys();
        if !self.attribution.with_untracked(|a| keys.contains(&a.as_str())) {
            self.attribution.set(default_attribution(&results));
        }
        self.results.set(Some(results));
    }
}

/// The attribution the result views start on: LRP when the results have it (the paper's
/// findings are about LRP maps), else their first.
pub fn default_attribution(results: &ExperimentResults) -> String {
    biaslens_experiment::findings::lrp_key(results)
        .or_else(|| results.attribution_keys().first().copied())
        .unwrap_or("lrp")
        .to_owned()
}

/// The state shared by every panel.
pub fn ui() -> Ui {
    expect_context::<Ui>()
}

/// The page as the driver's host: progress and finished units go into the signals, the URL's
/// test hook fails a unit on WebGPU, Cancel stops the run, and a failing WebGPU hands over to
/// the CPU.
struct PageHost {
    ui: Ui,
    cancel: Arc<AtomicBool>,
    /// When the run started (ms).
    start: f64,
    /// The backend running now (the CPU after a fallback).
    kind: Cell<Kind>,
    /// The unit in progress (for messages).
    current: Cell<Option<Unit>>,
    /// Whether the run has more than one seed (messages then name the seed too).
    seeded: bool,
    /// Progress events not yet shown ([`PageHost::progress_event`]).
    throttle: Throttle,
}

/// Most milliseconds between two redraws of the progress line and the loss curve.
const PROGRESS_MS: f64 = 250.0;

/// Progress events arrive once per batch from every worker, tens a second with two workers
/// training; redrawing the progress line and the loss curve's SVG for each kept the page's
/// thread and the browser's renderer busy while the workers needed the same two cores, and the
/// page's timer then fired late (BENCHMARKS.md, "Fewer redraws"). Events are shown at most every
/// [`PROGRESS_MS`], and at once when a unit enters another stage; loss points are kept in between.
#[derive(Default)]
struct Throttle {
    /// When the shown progress was last updated (ms).
    shown_at: Cell<f64>,
    /// The last stage seen per unit.
    stages: RefCell<Vec<String>>,
    /// (unit, loss, batch accuracy) of training steps not yet drawn.
    points: RefCell<Vec<(usize, f64, f64)>>,
}

impl PageHost {
    /// `φ = …` of a unit, with its seed when the run has several.
    fn unit_text(&self, unit: &Unit) -> String {
        if self.seeded { format!("φ = {} with seed {}", unit.phi, unit.seed) } else { format!("φ = {}", unit.phi) }
    }
}

impl PageHost {
    /// A progress event: the live loss curve, the progress line, the clock.
    fn progress_event(&self, event: &RunProgress) {
        let t = &self.throttle;
        if let (Some(l), Some(a)) = (event.loss, event.accuracy) {
            t.points.borrow_mut().push((event.unit, l, a));
        }
        let new_stage = {
            let mut stages = t.stages.borrow_mut();
            if stages.len() <= event.unit {
                stages.resize(event.unit + 1, String::new());
            }
            let changed = stages[event.unit] != event.stage;
            if changed {
                stages[event.unit] = event.stage.clone();
            }
            changed
        };
        let now = now_ms();
        if !new_stage && event.stage != "done" && now - t.shown_at.get() < PROGRESS_MS {
            return;
        }
        t.shown_at.set(now);
        let points = std::mem::take(&mut *t.points.borrow_mut());
        if !points.is_empty() {
            self.ui.losses.update(|v| {
                for (unit, l, a) in points {
                    if let Some(curve) = v.get_mut(unit) {
                        curve.points.push((l, a));
                    }
                }
            });
        }
        self.ui.progress.set(Some(event.clone()));
        self.ui.elapsed.set((now - self.start) / 1000.0);
    }

    /// A unit starts (a unit redone after a failure starts its curve again).
    fn started(&self, unit: &Unit) {
        self.current.set(Some(*unit));
        self.throttle.points.borrow_mut().retain(|p| p.0 != unit.index);
        if let Some(stage) = self.throttle.stages.borrow_mut().get_mut(unit.index) {
            stage.clear();
        }
        self.ui.losses.update(|v| {
            if let Some(curve) = v.get_mut(unit.index) {
                curve.points.clear();
            }
        });
    }

    /// A unit finished: the results so far are shown.
    fn finished(&self, so_far: &ExperimentResults) {
        if so_far.phis.len() == 1 {
            self.ui.phi.set(0);
            self.ui.inspect.set(None);
            self.ui.roi.set(None);
        }
        let label = self.ui.chosen.with_untracked(|c| c.as_ref().map_or("this device", |c| c.kind.label()));
        self.ui.source.set(format!("computed in this page on {label}"));
        self.ui.show_results(Arc::new(so_far.clone()));
    }

    /// WebGPU failed with `error`; the unit in progress is redone on the CPU.
    fn switched_to_cpu(&self, error: &str) {
        let (at, done) = match self.current.get() {
            Some(u) => (self.unit_text(&u), u.index),
            None => ("the start".to_string(), 0),
        };
        self.ui.error(format!(
            "WebGPU failed at {at} ({error}). The run continues on the CPU; the {done} finished {} are kept.",
            if self.seeded { "unit(s) (φ value × seed)" } else { "φ value(s)" }
        ));
        self.kind.set(Kind::Cpu);
        self.ui.chosen.set(Some(device::cpu(format!("WebGPU failed during the run ({error}), so the CPU took over."))));
    }
}

/// The page as the host of a run on its own thread (no compute worker).
impl Host for PageHost {
    fn progress(&self, event: &RunProgress) {
        self.progress_event(event);
    }

    fn unit_starting(&self, unit: &Unit) -> Result<(), RunError> {
        self.started(unit);
        device::simulated_loss(self.kind.get(), self.ui.simulate_gpu_loss_at.get_untracked(), unit)
    }

    fn unit_finished(&self, so_far: &ExperimentResults) {
        self.finished(so_far);
    }

    fn should_stop(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }

    fn fallback(&self, error: &RunError) -> Option<(Device, String)> {
        if self.kind.get() != Kind::WebGpu {
            return None;
        }
        self.switched_to_cpu(&error.to_string());
        let cpu = Device::flex();
        let name = device_label(&cpu);
        MAIN_DEVICE.with(|d| *d.borrow_mut() = Some(cpu.clone()));
        Some((cpu, name))
    }
}

thread_local! {
    /// The device of runs on the page's own thread (own images, or no compute worker), once
    /// made.
    static MAIN_DEVICE: std::cell::RefCell<Option<Device>> = const { std::cell::RefCell::new(None) };
}

/// The device for a run on the page's own thread: the one made before, or WebGPU when the chosen
/// kind is WebGPU (made now, once), else the CPU.
async fn main_thread_device(kind: Kind) -> Device {
    if let Some(d) = MAIN_DEVICE.with(|d| d.borrow().clone()) {
        return d;
    }
    let device = if kind == Kind::WebGpu { device::choose().await.1 } else { Device::flex() };
    MAIN_DEVICE.with(|d| *d.borrow_mut() = Some(device.clone()));
    device
}

/// Starts a run of the current config (ignored while one runs).
pub fn start_run(ui: Ui) {
    if ui.running() {
        return;
    }
    let config = ui.config.get_untracked();
    if let Err(e) = config.validate() {
        ui.error(format!("The run did not start: {e}"));
        return;
    }
    let cancel = Arc::new(AtomicBool::new(false));
    ui.cancel.set_value(cancel.clone());
    ui.losses.set(units(&config).into_iter().map(|unit| Curve { unit, points: Vec::new() }).collect());
    ui.progress.set(None);
    ui.elapsed.set(0.0);
    crate::pace::reset();
    let weights = ui.weights.get_untracked().map(|(_, b)| b);
    // Only the file the config names: a config changed since (another preset, a link) without
    // model.pretrained runs from scratch, and one naming a file not chosen here says so.
    let pretrained = config.model.pretrained.as_ref().and(ui.pretrained.get_untracked().map(|(_, b)| b));
    ui.phase.set(Phase::Running);
    spawn_local(async move {
        let own = match own_data(ui) {
            Ok(o) => o,
            Err(e) => {
                let text = format!("The run did not start: {e}");
                ui.error(text.clone());
                ui.phase.set(Phase::Failed(text));
                return;
            }
        };
        let start = now_ms();
        let chosen = match ui.chosen.get_untracked() {
            Some(c) => c,
            None => {
                let (c, d) = device::choose().await;
                MAIN_DEVICE.with(|m| *m.borrow_mut() = Some(d));
                ui.chosen.set(Some(c.clone()));
                c
            }
        };
        // What this device allows: refuse in words, or re-chunk IG, before any work.
        let config = match fit(&config, &chosen.limits) {
            Ok(f) => {
                for change in f.changes {
                    ui.info(change);
                }
                f.config
            }
            Err(e) => {
                let text = format!("The run did not start on {}: {e}", chosen.kind.label());
                ui.error(text.clone());
                ui.phase.set(Phase::Failed(text));
                return;
            }
        };
        let total = units(&config).len();
        let host = PageHost {
            ui,
            cancel,
            start,
            kind: Cell::new(chosen.kind),
            current: Cell::new(None),
            seeded: config.seeds().len() > 1,
            throttle: Throttle::default(),
        };
        // The compute worker runs everything; the page computes on its own thread only when no
        // worker could start.
        ui.in_worker.set(remote::started());
        ui.lanes.set(1);
        let inputs = remote::Inputs {
            inspect_bytes: INSPECT_BYTES,
            vanilla: weights.clone(),
            pretrained: pretrained.clone(),
            own: own.as_ref(),
            gpu_loss_at: ui.simulate_gpu_loss_at.get_untracked(),
            max_lanes: ui.max_lanes.get_untracked(),
        };
        let (results, stopped) = match remote::run(&host, &config, inputs).await {
            Some(outcome) => outcome,
            None => {
                ui.in_worker.set(false);
                // A pool that cannot be made fails the run before it starts, as in the worker.
                let images = match own {
                    None => Ok(None),
                    Some(own) => own.pool(&config).await.map(|pool| Some(Arc::new(pool))),
                };
                match images {
                    Err(e) => (None, Some(remote::Stop::Failed(e))),
                    Ok(images) => {
                        let options = RunOptions {
                            inspect_bytes: INSPECT_BYTES,
                            vanilla_weights: weights,
                            pretrained_weights: pretrained,
                            images,
                            keep_vanilla_weights: true,
                            ..RunOptions::default()
                        };
                        let device = main_thread_device(host.kind.get()).await;
                        let name = device_label(&device);
                        let driven = drive(&config, &options, device, name, &host).await;
                        let stopped = driven.stopped.map(|e| match e {
                            RunError::Cancelled => remote::Stop::Cancelled,
                            e => remote::Stop::Failed(e.to_string()),
                        });
                        (driven.results, stopped)
                    }
                }
            }
        };
        ui.elapsed.set((now_ms() - start) / 1000.0);
        let finished = results.as_ref().map_or(0, |r| r.phis.len());
        // The driver's joined results are the last ones `unit_finished` showed (same units); show
        // them only if not (redrawing every chart is the slowest thing the page does).
        if let Some(r) = results
            && ui.results.with_untracked(|shown| shown.as_ref().is_none_or(|s| s.phis.len() != r.phis.len()))
        {
            ui.show_results(Arc::new(r));
        }
        // The status changes once the results are drawn whole.
        crate::widgets::all_drawn().await;
        match stopped {
            None => {
                ui.phase.set(Phase::Done);
                if let Some(r) = ui.results.get_untracked() {
                    compare::run_finished(ui, &r);
                    if ui.keep.get_untracked() {
                        share::keep_in_browser(ui, r).await;
                    }
                }
            }
            Some(remote::Stop::Cancelled) => {
                ui.phase.set(Phase::Cancelled);
                let what = if host.seeded { "units (φ value × seed)" } else { "φ values" };
                ui.info(format!("Cancelled after {finished} of {total} {what}; their results are kept."));
            }
            Some(remote::Stop::Failed(e)) => {
                let text = match host.current.get() {
                    Some(u) => format!("The run stopped at {}: {e}", host.unit_text(&u)),
                    None => format!("The run did not start: {e}"),
                };
                ui.error(text.clone());
                ui.phase.set(Phase::Failed(text));
            }
        }
    });
}

/// The user's data for the run (`None`: the synthetic benchmark).
fn own_data(ui: Ui) -> Result<Option<own::OwnData>, String> {
    match (ui.own_labels.get_untracked(), ui.own_files.get_untracked()) {
        (None, None) => Ok(None),
        (Some(_), None) => Err("labels are chosen but no images: choose the image files (or folder) too, or go back to the synthetic data".into()),
        (None, Some(_)) => Err("images are chosen but no labels: choose the CSV or CelebA attribute list too, or go back to the synthetic data".into()),
        (Some(labels), Some(files)) => Ok(Some(own::OwnData {
            labels,
            files,
            partition: ui.own_partition.get_untracked(),
            regions: ui.own_regions.get_untracked(),
            pairs: ui.own_pairs.get_untracked(),
        })),
    }
}

/// Asks the running computation to stop at its next batch.
pub fn cancel_run(ui: Ui) {
    ui.cancel.with_value(|c| c.store(true, Ordering::Relaxed));
    remote::cancel();
}

/// The explorer page.
#[component]
pub fn App() -> impl IntoView {
    let ui = Ui::new();
    provide_context(ui);
    let autorun = share::read_url(ui);
    share::keep_url_in_sync(ui);
    spawn_local(async move {
        // The compute worker chooses the device where it computes; without a worker the page
        // computes on its own thread and chooses here.
        let chosen = match remote::start().await {
            Ok(chosen) => chosen,
            Err(e) => {
                let (chosen, d) = device::choose().await;
                MAIN_DEVICE.with(|m| *m.borrow_mut() = Some(d));
                Chosen { why: format!("{} The compute worker could not start ({e}), so runs compute on the page's own thread.", chosen.why), ..chosen }
            }
        };
        ui.chosen.set(Some(chosen));
        if autorun {
            start_run(ui);
        }
    });
    // A run kept by an earlier visit is offered, never restored unasked.
    spawn_local(async move {
        match store::kept().await {
            Ok(Some(k)) => {
                ui.kept.set(Some(k));
                ui.offer_restore.set(true);
            }
            Ok(None) => {}
            Err(e) => ui.error(format!("The run this browser kept could not be looked at: {e}")),
        }
    });
    view! {
        <header>
            <h1>"biaslens"</h1>
            <p class="tagline">"Did a debiased classifier stop looking at the protected attribute? Train, debias, explain and compare, all in this tab: no data leaves your machine."</p>
            <p id="device" data-kind=move || ui.chosen.get().map_or("", |c| c.kind.id())>
                {move || ui.chosen.get().map_or_else(|| "Looking for a GPU…".to_string(), |c| c.why)}
            </p>
        </header>
        <share::Teaching/>
        <Notes/>
        <share::RestoreOffer/>
        <main>
            <setup::Setup/>
            <setup::RunPanel/>
            <results::Results/>
            <inspector::Inspector/>
            <share::Share/>
            <compare::ComparePanel/>
        </main>
    }
}

/// Messages: errors stay until dismissed.
#[component]
fn Notes() -> impl IntoView {
    let ui = ui();
    view! {
        <div id="notes" role="status" aria-live="polite">
            {move || ui.notes.get().into_iter().map(|n| {
                let class = if n.error { "note error" } else { "note info" };
                let id = n.id;
                view! {
                    <p class=class>
                        <span class="note-text">{n.text}</span>
                        <button class="dismiss" aria-label="Dismiss this message" on:click=move |_| ui.notes.update(|v| v.retain(|note| note.id != id))>"×"</button>
                    </p>
                }
            }).collect_view()}
        </div>
    }
}
