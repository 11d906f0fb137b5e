//! The explorer: the experiment of Sztukiewicz et al. (XAI 2025) in the page. Data → model →
//! debiasing → LRP/IG maps → fairness and saliency metrics → Figures 2 and 3 → a report and a
//! link that reproduces the run.
//!
//! State is plain signals in [`Ui`]; every computation is a library call. A run goes one φ at a
//! time ([`ExperimentResults::join`]), so finished φ appear at once and survive a failing GPU:
//! when WebGPU fails, the φ in progress is redone on the CPU.

mod inspector;
mod results;
mod setup;
mod share;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use biaslens_debias::DebiasError;
use biaslens_experiment::report::Attribution;
use biaslens_experiment::resources::fit;
use biaslens_experiment::{ExperimentConfig, ExperimentResults, RunError, RunOptions, RunProgress, run_experiment_with};
use biaslens_data::{LabelledImages, MemorySource};
use biaslens_experiment::ImagePool;
use biaslens_metrics::{ImageSize, Roi, RoiPreset};
use biaslens_model::TrainError;
use biaslens_viz::Colormap;
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
    /// Every φ finished.
    Done,
    /// Stopped by the user; finished φ are kept.
    Cancelled,
    /// Failed with a message; finished φ are kept.
    Failed(String),
}

/// A message for the user.
#[derive(Debug, Clone, PartialEq)]
pub struct Note {
    /// `true` for an error, `false` for information.
    pub error: bool,
    /// What happened, where, and what to do.
    pub text: String,
}

/// Progress of a run in the page.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    /// The runner's last event (its fraction is of the current φ).
    pub event: RunProgress,
    /// Fraction of the whole run.
    pub overall: f64,
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
    /// The last progress event.
    pub progress: RwSignal<Option<Progress>>,
    /// Training (loss, batch accuracy) per step, per φ of the current run.
    pub losses: RwSignal<Vec<Vec<(f64, f64)>>>,
    /// Results shown (of a run here, possibly partial, or imported).
    pub results: RwSignal<Option<Arc<ExperimentResults>>>,
    /// Where the shown results come from.
    pub source: RwSignal<String>,
    /// Messages, newest last.
    pub notes: RwSignal<Vec<Note>>,
    /// A vanilla model loaded from a file (name, bytes), used instead of training.
    pub weights: RwSignal<Option<(String, Arc<[u8]>)>>,
    /// Which φ the result views show (index into the results).
    pub phi: RwSignal<usize>,
    /// Which attribution method the result views show.
    pub attribution: RwSignal<Attribution>,
    /// Colour map of the saliency maps.
    pub colormap: RwSignal<Colormap>,
    /// The inspected explained image (index), if any.
    pub inspect: RwSignal<Option<usize>>,
    /// The inspector's region of interest (edited by the user); `None` = the run's.
    pub roi: RwSignal<Option<Roi>>,
    /// Set by Cancel; read by the running computation between batches.
    pub cancel: StoredValue<Arc<AtomicBool>>,
    /// Seconds since the current run started.
    pub elapsed: RwSignal<f64>,
    /// Teaching mode: the current guided step, if on.
    pub teach: RwSignal<Option<usize>>,
    /// Panels hidden by the URL (`hide=setup,data,…`).
    pub hidden: RwSignal<Vec<String>>,
    /// The user's labels (own CSV or CelebA's attribute list), replacing the synthetic pool.
    pub own_labels: RwSignal<Option<Arc<LabelledImages>>>,
    /// The user's image files, by name.
    pub own_files: RwSignal<Option<Arc<MemorySource>>>,
    /// Test hook (`simulate=gpu-loss@K` in the URL): on WebGPU, the K-th φ (0-based) fails as a
    /// lost device would, to exercise the switch to the CPU.
    pub simulate_gpu_loss_at: RwSignal<Option<usize>>,
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
            phi: RwSignal::new(0),
            attribution: RwSignal::new(Attribution::Lrp),
            colormap: RwSignal::new(Colormap::RdBu),
            inspect: RwSignal::new(None),
            roi: RwSignal::new(None),
            cancel: StoredValue::new(Arc::new(AtomicBool::new(false))),
            elapsed: RwSignal::new(0.0),
            teach: RwSignal::new(None),
            hidden: RwSignal::new(Vec::new()),
            simulate_gpu_loss_at: RwSignal::new(None),
            own_labels: RwSignal::new(None),
            own_files: RwSignal::new(None),
        }
    }

    /// Shows an error message (kept until dismissed).
    pub fn error(self, text: impl Into<String>) {
        self.notes.update(|n| n.push(Note { error: true, text: text.into() }));
    }

    /// Shows an information message; it replaces the previous one (errors stay until dismissed),
    /// so the sticky message area never covers much of the page.
    pub fn info(self, text: impl Into<String>) {
        self.notes.update(|n| {
            n.retain(|note| note.error);
            n.push(Note { error: false, text: text.into() });
        });
    }

    /// Whether the URL hid `panel`.
    pub fn shown(self, panel: &str) -> bool {
        !self.hidden.with(|h| h.iter().any(|p| p == panel))
    }

    /// Whether a run is in progress.
    pub fn running(self) -> bool {
        self.phase.with(|p| *p == Phase::Running)
    }
}

/// The state shared by every panel.
pub fn ui() -> Ui {
    expect_context::<Ui>()
}

/// Errors that mean the GPU failed (rather than the config or the data).
fn device_failure(e: &RunError) -> bool {
    matches!(
        e,
        RunError::Device(_)
            | RunError::Train(TrainError::Readback(_))
            | RunError::Method { reason: DebiasError::Readback(_), .. }
    )
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
    let n = config.phis.len();
    ui.losses.set(vec![Vec::new(); n]);
    ui.progress.set(None);
    ui.elapsed.set(0.0);
    crate::pace::reset();
    let weights = ui.weights.get_untracked().map(|(_, b)| b);
    let images = match own_pool(ui, &config) {
        Ok(p) => p,
        Err(e) => {
            ui.error(format!("The run did not start: {e}"));
            return;
        }
    };
    ui.phase.set(Phase::Running);
    spawn_local(async move {
        let start = now_ms();
        let mut chosen = match ui.chosen.get_untracked() {
            Some(c) => c,
            None => {
                let c = device::choose().await;
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
        let options = RunOptions { inspect_bytes: INSPECT_BYTES, vanilla_weights: weights, images };
        let mut parts: Vec<ExperimentResults> = Vec::with_capacity(n);
        let mut k = 0;
        while k < n {
            let mut one = config.clone();
            one.phis = vec![config.phis[k]];
            let stop = cancel.clone();
            let simulated = chosen.kind == Kind::WebGpu && ui.simulate_gpu_loss_at.get_untracked() == Some(k);
            let result = if simulated {
                Err(RunError::Device("the GPU device was lost (simulated by the URL's test hook)".into()))
            } else {
                run_experiment_with(
                &one,
                &chosen.device,
                &options,
                |event: RunProgress| {
                    if let (Some(l), Some(a)) = (event.loss, event.accuracy) {
                        ui.losses.update(|v| {
                            if let Some(curve) = v.get_mut(k) {
                                curve.push((l, a));
                            }
                        });
                    }
                    let overall = (k as f64 + event.fraction) / n as f64;
                    ui.progress.set(Some(Progress { event, overall }));
                    ui.elapsed.set((now_ms() - start) / 1000.0);
                },
                move || stop.load(Ordering::Relaxed),
            )
            .await
            };
            match result {
                Ok(r) => {
                    parts.push(r);
                    if let Some(joined) = ExperimentResults::join_finished(&config, parts.clone()) {
                        if k == 0 {
                            ui.phi.set(0);
                            ui.inspect.set(None);
                            ui.roi.set(None);
                        }
                        ui.results.set(Some(Arc::new(joined)));
                        ui.source.set(format!("computed in this page on {}", chosen.kind.label()));
                    }
                    k += 1;
                }
                Err(RunError::Cancelled) => {
                    ui.phase.set(Phase::Cancelled);
                    ui.info(format!("Cancelled after {k} of {n} φ values; their results are kept."));
                    return;
                }
                Err(e) if chosen.kind == Kind::WebGpu && device_failure(&e) => {
                    ui.error(format!(
                        "WebGPU failed at φ = {} ({e}). The run continues on the CPU; the {k} finished φ value(s) are kept.",
                        config.phis[k]
                    ));
                    chosen = device::cpu(format!("WebGPU failed during the run ({e}), so the CPU took over."));
                    ui.chosen.set(Some(chosen.clone()));
                }
                Err(e) => {
                    let text = format!("The run stopped at φ = {}: {e}", config.phis[k]);
                    ui.error(text.clone());
                    ui.phase.set(Phase::Failed(text));
                    return;
                }
            }
        }
        ui.elapsed.set((now_ms() - start) / 1000.0);
        ui.phase.set(Phase::Done);
    });
}

/// The user's images as the run's pool (`None`: the synthetic benchmark): square-padded and
/// resized to the config's image side, with the paper's box of the chosen attribute scaled to it.
fn own_pool(ui: Ui, config: &ExperimentConfig) -> Result<Option<Arc<ImagePool>>, String> {
    match (ui.own_labels.get_untracked(), ui.own_files.get_untracked()) {
        (None, None) => Ok(None),
        (Some(_), None) => Err("labels are chosen but no images: choose the image files (or folder) too, or go back to the synthetic data".into()),
        (None, Some(_)) => Err("images are chosen but no labels: choose the CSV or CelebA attribute list too, or go back to the synthetic data".into()),
        (Some(labels), Some(files)) => {
            let side = config.data.synthetic.size;
            let preset = match config.data.synthetic.attribute {
                biaslens_data::ProtectedKind::Hat => RoiPreset::Hat,
                biaslens_data::ProtectedKind::Necktie => RoiPreset::Necktie,
            };
            let roi = preset.roi_for(ImageSize::square(side)).map_err(|e| format!("the region of interest: {e}"))?;
            Ok(Some(Arc::new(ImagePool {
                name: format!("{}: {} images", labels.source, labels.len()),
                labelled: (*labels).clone(),
                source: Box::new(files),
                side,
                roi,
            })))
        }
    }
}

/// Asks the running computation to stop at its next batch.
pub fn cancel_run(ui: Ui) {
    ui.cancel.with_value(|c| c.store(true, Ordering::Relaxed));
}

/// The explorer page.
#[component]
pub fn App() -> impl IntoView {
    let ui = Ui::new();
    provide_context(ui);
    let autorun = share::read_url(ui);
    share::keep_url_in_sync(ui);
    spawn_local(async move {
        let chosen = device::choose().await;
        ui.chosen.set(Some(chosen));
        if autorun {
            start_run(ui);
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
        <main>
            <setup::Setup/>
            <setup::RunPanel/>
            <results::Results/>
            <inspector::Inspector/>
            <share::Share/>
        </main>
    }
}

/// Messages: errors stay until dismissed.
#[component]
fn Notes() -> impl IntoView {
    let ui = ui();
    view! {
        <div id="notes" role="status" aria-live="polite">
            {move || ui.notes.get().into_iter().enumerate().map(|(i, n)| {
                let class = if n.error { "note error" } else { "note info" };
                view! {
                    <p class=class>
                        <span class="note-text">{n.text}</span>
                        <button class="dismiss" aria-label="Dismiss this message" on:click=move |_| ui.notes.update(|v| { if i < v.len() { v.remove(i); } })>"×"</button>
                    </p>
                }
            }).collect_view()}
        </div>
    }
}
