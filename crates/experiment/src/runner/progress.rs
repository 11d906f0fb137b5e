//! Progress of one unit of a run: work units per stage (image-passes, a backward counted as two
//! forwards), so the reported fraction is roughly proportional to time.

use serde::{Deserialize, Serialize};

use crate::config::ExperimentConfig;
use crate::registries::Registries;

/// One progress event of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunProgress {
    /// What is running: `"data"`, `"train vanilla"`, `"method ThrOpt"`, `"evaluate"`,
    /// `"reliance"`, `"attribute"`, `"metrics"`, `"done"`.
    pub stage: String,
    /// The φ being worked on.
    pub phi: Option<f64>,
    /// Index of that φ in the config (0-based).
    pub phi_index: usize,
    /// The training seed of the unit being worked on.
    #[serde(default)]
    pub seed: u64,
    /// Index of the unit (φ, seed) being worked on, in run order.
    #[serde(default)]
    pub unit: usize,
    /// Units in the run.
    #[serde(default)]
    pub units: usize,
    /// Fraction of the whole run done, in `[0, 1]`, never decreasing.
    pub fraction: f64,
    /// A short human-readable detail (`"step 12/32, loss 0.41"`).
    pub detail: String,
    /// While training the vanilla model: the step's cross-entropy (for a live loss curve).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss: Option<f64>,
    /// While training the vanilla model: the batch's accuracy before the update.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accuracy: Option<f64>,
}

impl RunProgress {
    /// The last event of a run of `units` units whose config's seed is `seed`: stage `"done"`,
    /// the whole run done.
    pub fn done(seed: u64, units: usize) -> Self {
        Self {
            stage: "done".into(),
            phi: None,
            phi_index: 0,
            seed,
            unit: units,
            units,
            fraction: 1.0,
            detail: String::new(),
            loss: None,
            accuracy: None,
        }
    }
}

/// Work units of each stage of one unit.
pub(crate) struct Plan {
    pub data: f64,
    pub train: f64,
    pub methods: Vec<f64>,
    pub evaluate: f64,
    pub attribute: f64,
    pub metrics: f64,
}

impl Plan {
    pub(crate) fn new(c: &ExperimentConfig, registries: &Registries) -> Self {
        let s = &c.splits;
        let methods = c
            .methods
            .iter()
            .map(|m| registries.methods.get(&m.method).map_or(s.debias as f64, |r| r.work(&m.config, s.debias)))
            .collect();
        let models = 1.0 + c.methods.len() as f64;
        let per_image: f64 = c
            .attribution
            .methods
            .iter()
            .map(|a| registries.attributions.get(&a.method).map_or(2.0, |r| r.work(&a.config)))
            .sum();
        Self {
            data: 0.05 * (s.train + s.debias + s.test) as f64,
            train: 3.0 * (s.train * c.train.epochs) as f64,
            methods,
            evaluate: s.test as f64 * models,
            attribute: c.attribution.images as f64 * models * per_image,
            metrics: 0.05 * c.attribution.images as f64 * models,
        }
    }

    pub(crate) fn total(&self) -> f64 {
        self.data + self.train + self.methods.iter().sum::<f64>() + self.evaluate + self.attribute + self.metrics
    }
}

/// Turns a unit's stage fractions into run-wide progress events.
pub(crate) struct Tracker<'a> {
    progress: &'a mut dyn FnMut(RunProgress),
    /// Work of the unit.
    total: f64,
    /// Work done before the current stage.
    done: f64,
    stage_units: f64,
    stage: String,
    phi: f64,
    phi_index: usize,
    seed: u64,
    unit: usize,
    units: usize,
    last: f64,
}

impl<'a> Tracker<'a> {
    pub(crate) fn new(progress: &'a mut dyn FnMut(RunProgress), total: f64, unit: crate::driver::Unit, units: usize) -> Self {
        Self {
            progress,
            total,
            done: 0.0,
            stage_units: 0.0,
            stage: String::new(),
            phi: unit.phi,
            phi_index: unit.phi_index,
            seed: unit.seed,
            unit: unit.index,
            units,
            last: 0.0,
        }
    }

    /// Starts a stage worth `units`.
    pub(crate) fn begin(&mut self, stage: &str, units: f64) {
        self.stage = stage.to_owned();
        self.stage_units = units;
        self.report(0.0, String::new());
    }

    /// Ends the current stage.
    pub(crate) fn end(&mut self) {
        self.done += self.stage_units;
        self.stage_units = 0.0;
    }

    /// Reports `within` ∈ [0, 1] of the current stage.
    pub(crate) fn report(&mut self, within: f64, detail: String) {
        self.report_with(within, detail, None);
    }

    /// Reports progress with a training step's (loss, accuracy).
    pub(crate) fn report_with(&mut self, within: f64, detail: String, train: Option<(f64, f64)>) {
        let unit = ((self.done + within.clamp(0.0, 1.0) * self.stage_units) / self.total.max(1e-9)).clamp(0.0, 1.0);
        let f = ((self.unit as f64 + unit) / self.units.max(1) as f64).clamp(0.0, 1.0);
        self.last = self.last.max(f);
        (self.progress)(RunProgress {
            stage: self.stage.clone(),
            phi: Some(self.phi),
            phi_index: self.phi_index,
            seed: self.seed,
            unit: self.unit,
            units: self.units,
            fraction: self.last,
            detail,
            loss: train.map(|t| t.0),
            accuracy: train.map(|t| t.1),
        });
    }
}
