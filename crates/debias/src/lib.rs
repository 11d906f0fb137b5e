//! Debiasing methods for a trained [`ResNet`], as the paper under study called them through
//! DetoxAI (docs/METHODS.md#methods), with the authors' code's defaults.
//!
//! Every method is a `Config` (burn's `#[derive(Config)]`: serde, defaults, `with_*` builders)
//! plus an `async` function from (vanilla model, debias split as plain data) to a
//! [`DebiasedModel`]: the network, an optional projection hook at one layer (by default the
//! pooled penultimate features), and an optional transform of the logits. [`DebiasedModel::forward`] is the one
//! function the debiased classifier computes, so predictions and attributions see the same thing.
//!
//! | method | module | paper | hook at inference |
//! |---|---|---|---|
//! | ThrOpt (one global threshold) | [`threshold`] | DetoxAI `NaiveThresholdOptimizer` | soft threshold on `fc`'s output |
//! | per-group thresholds | [`threshold`] | Hardt, Price & Srebro 2016 | soft threshold per group |
//! | ZhangAL | [`zhang`] | Zhang, Lemoine & Mitchell 2018 | soft threshold (τ search) |
//! | SavaniAFT | [`savani`] | Savani, White & Govindarajulu 2020 | soft threshold (τ search) |
//! | concept activation vectors | [`cav`] | Haufe et al. 2014 (signal), Kim et al. 2018 | — |
//! | P-ClArC / A-ClArC / RR-ClArC | [`clarc`] | Anders et al. 2022; Dreyer et al. 2024 | projection (P, A); none (RR) |
//!
//! Every `forward` documents its shapes; the projection hook's CAV is fitted at any [`Tap`]
//! for P-/A-ClArC (default [`Tap::Pooled`], the authors' `"penultimate"`), at [`Tap::Pooled`]
//! only for RR-ClArC.
//!
//! Long runs report [`DebiasProgress`] events and ask `should_stop` between steps, like
//! `biaslens_model::train`; a cancelled run returns [`DebiasError::Cancelled`]. Every random
//! choice (batch order, critic initialisation, dropout, evaluation subsets) is drawn from the
//! project's seeded `SplitMix64`, never from the device's generator, so a run is a function of
//! its inputs and seed. Results are read back from the device only with
//! `Transaction::execute_async`, once per batch (native callers use `pollster::block_on`).

pub mod cav;
pub mod clarc;
mod common;
mod critic;
mod debiased;
mod fine_tune;
pub mod registry;
pub mod savani;
pub mod threshold;
pub mod zhang;

pub use cav::{Cav, CavConfig, CavKind, ConceptLabels, activations, authors_concept_labels, fit_cav};
pub use clarc::{
    AClarc, PClarc, RrClarc, AClarcConfig, ClarcOutcome, PClarcConfig, RrClarcConfig, RrClarcOutcome, a_clarc, p_clarc,
    rr_clarc, rr_penalty,
};
pub use debiased::{ClarcProjection, DebiasedModel, OutputTransform};
pub use fine_tune::{FineTune, FineTuneConfig, fine_tune};
pub use registry::{Family, Method, Outcome, Pass, Registry, TypedMethod, merge};
pub use savani::{SavaniAft, SavaniConfig, SavaniOutcome, savani_aft};
pub use threshold::{
    GroupThresholds, ThrOpt,
    GroupThresholdConfig, GroupThresholdOutcome, ThrOptConfig, ThrOptOutcome, group_thresholds,
    linspace, predict_probabilities, tau_search, thr_opt,
};
pub use zhang::{ZhangAl, Projection, ZhangConfig, ZhangOutcome, adversary_advantage, zhang_al};

use biaslens_model::{ResNet, Tap, TrainData, TrainError};
use serde::{Deserialize, Serialize};

/// The debias split as plain data: images, target labels and the protected attribute.
#[derive(Debug, Clone, Copy)]
pub struct DebiasData<'a> {
    /// `N × C × H × W` values, row-major.
    pub pixels: &'a [f32],
    /// `N` target labels (0/1).
    pub targets: &'a [u8],
    /// `N` protected-attribute values (0/1).
    pub attribute: &'a [u8],
    /// `[C, H, W]`.
    pub image: [usize; 3],
}

impl DebiasData<'_> {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.targets.len()
    }

    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }

    /// Values per image.
    pub fn per_image(&self) -> usize {
        self.image.iter().product()
    }

    /// The images and targets, for `biaslens_model::train`.
    pub fn as_train(&self) -> TrainData<'_> {
        TrainData {
            pixels: self.pixels,
            targets: self.targets,
            image: self.image,
        }
    }

    /// Checks lengths and that labels are 0/1.
    ///
    /// # Errors
    /// [`DebiasError::Shape`], [`DebiasError::Empty`] or [`DebiasError::Label`].
    pub fn validate(&self) -> Result<(), DebiasError> {
        let n = self.len();
        let per = self.per_image();
        if per == 0 || self.pixels.len() != n * per || self.attribute.len() != n {
            return Err(DebiasError::Shape(format!(
                "{} pixel values, {n} targets and {} attribute values do not make images of shape {:?}",
                self.pixels.len(),
                self.attribute.len(),
                self.image
            )));
        }
        if n == 0 {
            return Err(DebiasError::Empty("the debias split has no images"));
        }
        for (what, v) in [("target", self.targets), ("protected attribute", self.attribute)] {
            if let Some(i) = v.iter().position(|&x| x > 1) {
                return Err(DebiasError::Label(format!(
                    "{what} of image {i} is {}; only 0 and 1 are allowed",
                    v[i]
                )));
            }
        }
        Ok(())
    }
}

/// Which part of a method a [`DebiasProgress`] event belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Stage {
    /// Collecting activations (one step per batch).
    Activations,
    /// Scoring the network on the debias split for a threshold search (one step per batch).
    Predictions,
    /// A critic (adversary) update.
    Critic,
    /// A model update of an adversarial method.
    Model,
    /// A fine-tuning step (A-ClArC, RR-ClArC).
    FineTune,
}

/// One progress event.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DebiasProgress {
    /// What is running.
    pub stage: Stage,
    /// Steps of this stage done (1-based).
    pub step: usize,
    /// Steps this stage will take.
    pub total_steps: usize,
    /// The step's loss, where the step has one (before the update).
    pub loss: Option<f32>,
    /// A method-specific second number: RR-ClArC's penalty, a critic's prediction.
    pub aux: Option<f32>,
}

impl DebiasProgress {
    pub(crate) fn new(stage: Stage, step: usize, total_steps: usize) -> Self {
        Self {
            stage,
            step,
            total_steps,
            loss: None,
            aux: None,
        }
    }
}

/// Why a method could not run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DebiasError {
    /// Inconsistent lengths.
    #[error("debias data: {0}")]
    Shape(String),
    /// A label other than 0/1.
    #[error("debias data: {0}")]
    Label(String),
    /// Nothing to work on, or a zero batch size / step count.
    #[error("nothing to do: {0}")]
    Empty(&'static str),
    /// The method needs a two-class network.
    #[error("this method needs a network with 2 outputs (P(y = 1) is thresholded), got {0}")]
    NotBinary(usize),
    /// A setting out of range.
    #[error("invalid setting: {0}")]
    Config(String),
    /// RR-ClArC's penalty at a layer before the pooling (it would need double backward).
    #[error("RR-ClArC at {0:?} is not implemented (it needs second derivatives); use Tap::Pooled (the authors' \"penultimate\")")]
    UnsupportedLayer(Tap),
    /// The concept labels are all 0 or all 1, so no direction separates them.
    #[error("CAV: {0}")]
    Degenerate(String),
    /// A group-threshold model was run without the protected attribute of its inputs.
    #[error("this model thresholds per group: call forward_grouped with the protected attribute")]
    NeedsGroups,
    /// `should_stop` returned true between two steps.
    #[error("cancelled")]
    Cancelled,
    /// Reading a result back from the device failed.
    #[error("reading back from the device failed: {0}")]
    Readback(String),
    /// Fine-tuning through `biaslens_model::train` failed.
    #[error(transparent)]
    Train(#[from] TrainError),
    /// A fairness metric could not be computed.
    #[error(transparent)]
    Metrics(#[from] biaslens_metrics::MetricsError),
}

impl From<biaslens_model::readback::ReadbackError> for DebiasError {
    fn from(e: biaslens_model::readback::ReadbackError) -> Self {
        Self::Readback(e.0)
    }
}

pub(crate) fn check_binary(model: &ResNet) -> Result<(), DebiasError> {
    match model.num_classes() {
        2 => Ok(()),
        k => Err(DebiasError::NotBinary(k)),
    }
}
