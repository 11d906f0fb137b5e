//! The experiment runner of Sztukiewicz et al., "Investigating the Relationship Between
//! Debiasing and Artifact Removal using Saliency Maps" (XAI 2025, §4), on any burn device, one
//! unit (a training correlation φ with a seed) at a time, one file per stage:
//!
//! 1. [`pool`]: the labelled images (synthetic benchmark or the user's), the unit's splits
//!    (undersampled training split at φ, the debias split, a test split balanced per cell) and
//!    their pixels (docs/METHODS.md#splits);
//! 2. [`train`]: the vanilla ResNet from seeded torchvision initialisation, trained with Adam, or
//!    the user's weights (docs/METHODS.md#model);
//! 3. [`methods`]: every debiasing method of the config on the debias split, through the method
//!    registry (docs/METHODS.md#methods);
//! 4. [`evaluate`]: argmax predictions of every model on the whole balanced test split →
//!    accuracy, EqualizedOdds and the other gaps with bootstrap intervals
//!    (docs/METHODS.md#fairness);
//! 5. [`explain`]: every attribution method of the config on the explained test images (a quarter
//!    from each (attribute, target) cell), for vanilla and every method
//!    (docs/METHODS.md#attribution);
//! 6. [`score`]: per image the saliency metrics against vanilla's map, pooled and per group with
//!    t-tests and bootstrap intervals, and per group the mean input and mean maps of Figure 2
//!    (docs/METHODS.md#metrics).
//!
//! [`crate::driver`] loops over the units. Reads from the device go only through
//! `biaslens_model::readback` (one asynchronous transaction per batch), so the same code runs in
//! the browser; native callers drive it with `pollster::block_on`. `should_stop` is asked between
//! batches (training steps, method steps, attribution chunks).

pub(crate) mod evaluate;
pub(crate) mod explain;
pub(crate) mod localise;
pub(crate) mod methods;
pub mod pool;
pub(crate) mod progress;
pub(crate) mod reliance;
pub(crate) mod score;
pub(crate) mod train;
pub(crate) mod unit;

use std::sync::Arc;

use biaslens_attribution::AttributionError;
use biaslens_data::{SplitError, SyntheticError};
use biaslens_debias::DebiasError;
use biaslens_metrics::MetricsError;
use biaslens_model::TrainError;
use biaslens_model::readback::ReadbackError;
use burn::prelude::*;

pub use pool::{CounterfactualSources, ImagePool, PoolPartition, PoolRegions, phi_splits, phi_splits_of};
pub use progress::RunProgress;
pub use train::{check_pretrained_weights, check_vanilla_weights, sha256_hex};

use crate::config::{ConfigError, ExperimentConfig};
use crate::driver::{Watch, drive};
use crate::registries::Registries;
use crate::results::ExperimentResults;

/// How a run is hosted: memory for the inspector, optionally a vanilla model to load instead of
/// training one or the user's own images instead of the synthetic benchmark, and the methods a
/// config may name.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Memory (bytes) allowed for keeping the explained images' per-image maps of every model
    /// ([`crate::results::PhiResult::explained`], for the page's inspector); as many of the first
    /// explained images are kept as fit, 0 keeps none.
    pub inspect_bytes: usize,
    /// A trained vanilla model as torchvision `.safetensors` bytes (2 classes, the config's
    /// architecture), used at every unit instead of training one, so φ then changes only the
    /// splits. Checked before any work.
    pub vanilla_weights: Option<Arc<[u8]>>,
    /// The bytes of the torchvision ImageNet file the config's `model.pretrained` names (the
    /// pretrained start, docs/METHODS.md#pretrained-start): required when it is set, refused
    /// when it is not, checked against its SHA-256 if the config records one.
    pub pretrained_weights: Option<Arc<[u8]>>,
    /// Labelled images (own CSV + folder, or CelebA's lists) that replace the synthetic
    /// benchmark: the splits are drawn from their labels, the images decoded per split.
    pub images: Option<Arc<ImagePool>>,
    /// The debiasing and attribution methods a config may name (default: the built-in ones).
    pub registries: Registries,
    /// Run only this shard's units; the results list the others as missing
    /// ([`crate::merge::merge`] puts the shards together).
    pub shard: Option<crate::merge::Shard>,
    /// Keep each unit's trained vanilla model as torchvision `.safetensors` bytes
    /// ([`crate::results::PhiResult::vanilla_weights`]; one asynchronous read-back per unit), so
    /// a host can save it (the page keeps the last run's in the browser's storage).
    pub keep_vanilla_weights: bool,
}

/// Why a run stopped.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The config is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The synthetic data could not be drawn.
    #[error(transparent)]
    Data(#[from] SyntheticError),
    /// The splits could not be made at a φ.
    #[error("splits at φ = {phi}: {reason}")]
    Split {
        /// The φ.
        phi: f64,
        /// The reason.
        reason: SplitError,
    },
    /// Training the vanilla model failed.
    #[error(transparent)]
    Train(#[from] TrainError),
    /// The given vanilla weights do not fit the config's model.
    #[error("the vanilla weights cannot be used: {0}")]
    Weights(String),
    /// The pretrained start cannot be used.
    #[error("the pretrained start cannot be used: {0}")]
    Pretrained(String),
    /// A debiasing method failed.
    #[error("{method} at φ = {phi}: {reason}")]
    Method {
        /// The method's name.
        method: String,
        /// The φ.
        phi: f64,
        /// The reason.
        reason: DebiasError,
    },
    /// An attribution failed.
    #[error("attribution: {0}")]
    Attribution(AttributionError),
    /// A metric could not be computed.
    #[error(transparent)]
    Metrics(#[from] MetricsError),
    /// The user's images could not be used.
    #[error("{0}")]
    Images(String),
    /// A shard that does not fit the config.
    #[error("{0}")]
    Shard(String),
    /// Reading back from the device failed.
    #[error("the compute device failed: {0}")]
    Device(String),
    /// `should_stop` returned true.
    #[error("the run was cancelled")]
    Cancelled,
}

impl From<AttributionError> for RunError {
    fn from(e: AttributionError) -> Self {
        match e {
            AttributionError::Cancelled { .. } => Self::Cancelled,
            e => Self::Attribution(e),
        }
    }
}

impl From<ReadbackError> for RunError {
    fn from(e: ReadbackError) -> Self {
        Self::Device(e.0)
    }
}

/// Runs the experiment of `config` on `device` (any burn device; autodiff is added where
/// gradients are needed).
///
/// `progress` gets events with the stage and the overall fraction; `should_stop` is asked between
/// batches, and a `true` ends the run with [`RunError::Cancelled`].
///
/// # Shapes
/// Images are `[N, 3, s, s]` with `s = config.data.synthetic.size`; maps `[N, 3, s, s]`, reduced
/// to `[N, s, s]` for the metrics.
///
/// # Errors
/// [`RunError`] for an invalid config, a split a φ cannot reach, a failed method, a device
/// failure, or cancellation.
pub async fn run_experiment(
    config: &ExperimentConfig,
    device: &Device,
    progress: impl FnMut(RunProgress),
    should_stop: impl Fn() -> bool,
) -> Result<ExperimentResults, RunError> {
    run_experiment_with(config, device, &RunOptions::default(), progress, should_stop).await
}

/// [`run_experiment`] with hosting options (the page keeps per-image maps for its inspector).
///
/// # Errors
/// As [`run_experiment`].
pub async fn run_experiment_with(
    config: &ExperimentConfig,
    device: &Device,
    options: &RunOptions,
    progress: impl FnMut(RunProgress),
    should_stop: impl Fn() -> bool,
) -> Result<ExperimentResults, RunError> {
    let progress = std::cell::RefCell::new(progress);
    let host = Watch { progress: |p: &RunProgress| (progress.borrow_mut())(p.clone()), should_stop };
    drive(config, options, device.clone(), device_label(device), &host).await.complete()
}

/// A reader's name for the device the run used: "CPU (burn flex)", "GPU (burn wgpu)", or burn's
/// own description for anything else.
pub fn device_label(device: &Device) -> String {
    let debug = format!("{device:?}");
    if debug.contains("Flex") {
        "CPU (burn flex)".into()
    } else if debug.contains("Wgpu") || debug.contains("WebGpu") {
        "GPU (burn wgpu)".into()
    } else {
        debug
    }
}

#[cfg(test)]
mod tests {
    use biaslens_attribution::{LrpConfig, lrp_resnet, lrp_resnet_with_output, output_relevance};
    use biaslens_debias::OutputTransform;
    use biaslens_model::{BlockKind, ResNetConfig};
    use burn::prelude::*;

    use super::explain::balanced_first;

    #[test]
    fn balanced_first_takes_cells_in_turn() {
        // cells: i=0 (t0,a0), 1 (t1,a0), 2 (t0,a1), 3 (t0,a0), 4 (t1,a1), 5 (t0,a0)
        let target = [0, 1, 0, 0, 1, 0];
        let attribute = [0, 0, 1, 0, 1, 0];
        assert_eq!(balanced_first(&target, &attribute, 4), vec![0, 1, 2, 4]);
        assert_eq!(balanced_first(&target, &attribute, 5), vec![0, 1, 2, 3, 4]);
        assert_eq!(balanced_first(&target, &attribute, 9), vec![0, 1, 2, 3, 4, 5]);
        assert!(balanced_first(&target, &attribute, 0).is_empty());
    }

    /// The premise of `explain::derived_map`: Zennit-style LRP of the soft-thresholded model
    /// (relevance `s_c e_c` at the output, docs/METHODS.md#lrp) computed in full equals vanilla's
    /// map times `s_c / z_c` per image, up to float rounding.
    #[test]
    fn threshold_lrp_is_vanilla_lrp_scaled() {
        let device = Device::flex();
        let model = ResNetConfig::new(BlockKind::Basic, [1, 1, 1, 1], 2).with_width(4).init_seeded(3, &device);
        let batch = biaslens_data::SyntheticConfig { size: 32, ..Default::default() }.generate(0, 2).expect("images");
        let x = Tensor::<4>::from_data(TensorData::new(batch.pixels, [2, 3, 32, 32]), &device);
        let targets = [usize::from(batch.target[0]), usize::from(batch.target[1])];
        let config = LrpConfig::paper();
        let v = lrp_resnet(&model, x.clone(), Some(&targets), &config, None).expect("vanilla LRP");
        let transform = OutputTransform::SoftThreshold { threshold: 0.4, temperature: 10.0 };
        let t = lrp_resnet_with_output(&model, x, &config, None, |logits| {
            output_relevance(transform.apply(logits, None).expect("2 logits"), Some(&targets), config.output)
        })
        .expect("threshold LRP");
        let vals = |t: Tensor<1>| t.into_data().convert::<f32>().try_into_vec::<f32>().expect("f32");
        let (vm, tm) = (vals(v.map.reshape([-1])), vals(t.map.reshape([-1])));
        let (vo, to) = (vals(v.output_sum), vals(t.output_sum));
        let per = vm.len() / 2;
        for i in 0..2 {
            let f = to[i] / vo[i];
            let (a, b) = (&vm[i * per..(i + 1) * per], &tm[i * per..(i + 1) * per]);
            let max = a.iter().fold(0.0f32, |m, v| m.max((v * f).abs()));
            let err = a.iter().zip(b).fold(0.0f32, |m, (x, y)| m.max((x * f - y).abs()));
            assert!(max > 0.0 && err <= 1e-4 * max, "image {i}: max error {err} of {max}");
        }
    }
}
