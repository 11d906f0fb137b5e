//! The run driver both hosts call (the page and the CLI): the units of a config (each training
//! correlation φ with each seed), run one after another with progress over the whole run,
//! results joined as each unit finishes, cancellation between batches, and a redo on another
//! device when the first one fails (the page falls back from WebGPU to the CPU).
//!
//! Units run seed-major (every φ of the first seed, then every φ of the next), so a run stopped
//! early holds complete replicates first. Each unit is independent: its own splits, vanilla model
//! and methods, all seeded by the unit's seed, so a unit's numbers do not depend on which other
//! units ran, or on which device ran them first.

use burn::prelude::*;
use web_time::Instant;

use crate::config::ExperimentConfig;
use crate::results::{ExperimentResults, RESULTS_FORMAT, RESULTS_VERSION, Versions};
use crate::runner::pool::Pool;
use crate::runner::unit::{Context, run_unit};
use crate::runner::{RunError, RunOptions, RunProgress, train};

/// One unit of a run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Unit {
    /// Position in run order.
    pub index: usize,
    /// Index of its φ in the config.
    pub phi_index: usize,
    /// The training correlation.
    pub phi: f64,
    /// The seed of its splits, initial weights and training.
    pub seed: u64,
}

/// The units of `config` in run order (seed-major).
pub fn units(config: &ExperimentConfig) -> Vec<Unit> {
    config
        .seeds()
        .iter()
        .flat_map(|&seed| config.phis.iter().enumerate().map(move |(phi_index, &phi)| (phi_index, phi, seed)))
        .enumerate()
        .map(|(index, (phi_index, phi, seed))| Unit { index, phi_index, phi, seed })
        .collect()
}

/// What a host (the page, the CLI) hears from a run and decides for it.
pub trait Host {
    /// A progress event (its `fraction` is of the whole run).
    fn progress(&self, _event: &RunProgress) {}
    /// A unit is about to start; an error fails it as if the unit had (the page's test hook
    /// simulates a lost GPU this way; a device error then goes to [`Host::fallback`]).
    ///
    /// # Errors
    /// The error the unit fails with.
    fn unit_starting(&self, _unit: &Unit) -> Result<(), RunError> {
        Ok(())
    }
    /// A unit finished: the results of every unit finished so far, joined.
    fn unit_finished(&self, _so_far: &ExperimentResults) {}
    /// Asked between batches: `true` stops the run (finished units are kept).
    fn should_stop(&self) -> bool {
        false
    }
    /// The unit in progress failed with a device error (a lost GPU): another device to redo it
    /// on, with its name, or `None` to stop.
    fn fallback(&self, _error: &RunError) -> Option<(Device, String)> {
        None
    }
}

/// A host that only watches progress and a stop flag.
pub struct Watch<P: Fn(&RunProgress), S: Fn() -> bool> {
    /// Called with every progress event.
    pub progress: P,
    /// Asked between batches.
    pub should_stop: S,
}

impl<P: Fn(&RunProgress), S: Fn() -> bool> Host for Watch<P, S> {
    fn progress(&self, event: &RunProgress) {
        (self.progress)(event);
    }
    fn should_stop(&self) -> bool {
        (self.should_stop)()
    }
}

/// How a run ended.
#[derive(Debug)]
pub struct Driven {
    /// Every unit that finished, joined (`None` if none did).
    pub results: Option<ExperimentResults>,
    /// Why the run stopped early (`None`: every unit finished).
    pub stopped: Option<RunError>,
}

impl Driven {
    /// The whole run's results, or why there are none or not all.
    ///
    /// # Errors
    /// The error that stopped the run ([`RunError::Cancelled`] after a stop).
    pub fn complete(self) -> Result<ExperimentResults, RunError> {
        match (self.results, self.stopped) {
            (Some(r), None) => Ok(r),
            (_, Some(e)) => Err(e),
            (None, None) => Err(RunError::Device("the run produced no results".into())),
        }
    }
}

/// Errors that mean the device failed (rather than the config or the data): a redo elsewhere
/// may succeed.
pub fn device_failure(e: &RunError) -> bool {
    use biaslens_debias::DebiasError;
    use biaslens_model::TrainError;
    matches!(
        e,
        RunError::Device(_) | RunError::Train(TrainError::Readback(_)) | RunError::Method { reason: DebiasError::Readback(_), .. }
    )
}

/// Runs every unit of `config` on `device` (named `device_name` in the results), telling `host`.
/// Everything that can be checked without computing (the config, the user's weights, every
/// unit's splits) is checked before the first unit.
pub async fn drive(config: &ExperimentConfig, options: &RunOptions, device: Device, device_name: String, host: &impl Host) -> Driven {
    let failed = |e: RunError| Driven { results: None, stopped: Some(e) };
    if let Err(e) = config.validate_with(&options.registries) {
        return failed(e.into());
    }
    let pool = match options.images.as_deref() {
        Some(p) => Pool::Own(p),
        None => Pool::Synthetic(config),
    };
    let (roi, image) = match pool.geometry() {
        Ok(g) => g,
        Err(e) => return failed(e),
    };
    let start_on = |device: &Device| train::start(config, options.vanilla_weights.as_deref(), options.pretrained_weights.as_deref(), device);
    let start = match start_on(&device) {
        Ok(s) => s,
        Err(e) => return failed(e),
    };
    let units = match options.shard {
        // A shard's units, numbered in the shard's own order for its progress.
        Some(shard) => match shard.units(config) {
            Ok(mine) => mine.into_iter().enumerate().map(|(index, u)| Unit { index, ..u }).collect(),
            Err(e) => return failed(RunError::Shard(e)),
        },
        None => units(config),
    };
    // A shard's results are partial by design: every other shard's units are missing.
    let finished = |parts: Vec<ExperimentResults>| match options.shard {
        Some(_) => crate::merge::merge(parts.into_iter().map(|p| (String::new(), p)).collect(), true).ok(),
        None => ExperimentResults::join_finished(config, parts),
    };
    // Every unit's splits first (labels only, cheap), so a correlation the pool cannot supply is
    // reported before any training.
    let mut all_splits = Vec::with_capacity(units.len());
    for u in &units {
        match pool.splits(config, u.phi, u.seed) {
            Ok(s) => all_splits.push(s),
            Err(e) => return failed(e),
        }
    }
    // The user's images the splits pick (only those: a folder of all CelebA is never read
    // whole) must read and decode, so a bad file is reported before any training.
    let mut checked = |k: usize, n: usize| {
        host.progress(&RunProgress {
            stage: "check images".into(),
            phi: None,
            phi_index: 0,
            seed: config.seed,
            unit: 0,
            units: units.len(),
            fraction: 0.0,
            detail: format!("decoded {k}/{n} images the splits picked"),
            loss: None,
            accuracy: None,
        });
    };
    if let Err(e) = pool.check_picked(&all_splits, &mut checked).await {
        return failed(e);
    }
    drop(all_splits);
    let mut ctx = Context { config, options, pool, start };
    let mut current = (device, device_name);
    let mut parts: Vec<ExperimentResults> = Vec::with_capacity(units.len());
    let mut k = 0;
    while k < units.len() {
        let unit = units[k];
        let start = Instant::now();
        let mut progress = |p: RunProgress| host.progress(&p);
        let stop = || host.should_stop();
        let outcome = match host.unit_starting(&unit) {
            Ok(()) => run_unit(&ctx, &current.0, unit, units.len(), &mut progress, &stop).await,
            Err(e) => Err(e),
        };
        match outcome {
            Ok((phi_result, timings)) => {
                parts.push(ExperimentResults {
                    format: RESULTS_FORMAT.into(),
                    version: RESULTS_VERSION,
                    versions: Versions::current(),
                    config: config.clone(),
                    seed: config.seed,
                    device: current.1.clone(),
                    image,
                    roi,
                    attributions: crate::results::attribution_infos(config, &options.registries),
                    phis: vec![phi_result],
                    timings,
                    total_seconds: start.elapsed().as_secs_f64(),
                    data_source: pool.own_name(),
                    per_image_regions: pool.regions_source(),
                    partial: None,
                });
                if let Some(so_far) = finished(parts.clone()) {
                    host.unit_finished(&so_far);
                }
                k += 1;
            }
            Err(e) if device_failure(&e) => match host.fallback(&e) {
                Some(next) => {
                    current = next;
                    match start_on(&current.0) {
                        Ok(s) => ctx.start = s,
                        Err(e) => return Driven { results: finished(parts), stopped: Some(e) },
                    }
                }
                None => return Driven { results: finished(parts), stopped: Some(e) },
            },
            Err(e) => return Driven { results: finished(parts), stopped: Some(e) },
        }
    }
    host.progress(&RunProgress::done(config.seed, units.len()));
    let results = match options.shard {
        Some(_) => finished(parts),
        None => ExperimentResults::join(config, parts),
    };
    Driven { results, stopped: None }
}
