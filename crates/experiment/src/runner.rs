//! The experiment runner of Sztukiewicz et al., "Investigating the Relationship Between
//! Debiasing and Artifact Removal using Saliency Maps" (XAI 2025, §4), on any burn device.
//!
//! For each training correlation φ of the config:
//!
//! 1. **splits** (`paper-code.md` §3.3–3.4): labels of the synthetic pool, undersampled to a
//!    training split at φ, the debias split, and a test split balanced per (target, attribute)
//!    cell; only the chosen images are drawn;
//! 2. **vanilla**: the ResNet from seeded torchvision initialisation, trained with Adam (§3.8);
//! 3. **methods**: every debiasing method of the config on the debias split (§4);
//! 4. **evaluation**: argmax predictions of every model on the whole balanced test split →
//!    accuracy, EqualizedOdds and the other gaps with bootstrap intervals (§1.6);
//! 5. **attribution**: LRP (and IG, if configured) maps of the ground-truth class for the first
//!    `attribution.images` test images, a quarter from each (attribute, target) cell (§1.5: the
//!    authors pool the first test batches of their balanced test split), for vanilla
//!    and every method. A model with a soft-threshold output is explained as Zennit does: LRP
//!    starts from `s_c · e_c` of the thresholded output, bypassing the transform, so ThrOpt's LRP
//!    maps equal vanilla's after normalisation (§2.6); IG differentiates through the transform;
//! 6. **metrics**: per image RRF, HRF, MRR, DET, ADR, DIF against vanilla's maps of the same
//!    image, then pooled and per group with t-tests and bootstrap intervals (§1.4–1.5); per group
//!    the mean input and mean normalised signed maps for Figure 2 (§1.7).
//!
//! Reads from the device go only through `Transaction::execute_async` (one per batch), so the
//! same function runs in the browser; native callers drive it with `pollster::block_on`.
//! `should_stop` is asked between batches (training steps, method steps, attribution chunks).

use std::collections::BTreeMap;

use biaslens_attribution::{
    AttributionError, integrated_gradients, lrp_resnet_with_output, output_relevance,
};
use biaslens_data::images::{ImageSource, LabelledImages};
use biaslens_data::{
    Correlation, SplitConfig, SplitError, Split, SyntheticError, make_splits,
};
use biaslens_debias::{
    DebiasData, DebiasError, DebiasProgress, DebiasedModel, OutputTransform, a_clarc,
    group_thresholds, p_clarc, rr_clarc, savani_aft, thr_opt, zhang_al,
};
use biaslens_metrics::{
    ChannelReduction, GroupKey, ImageMetrics, MetricsError, PreprocessSettings, fairness_report,
    per_image_metrics, preprocess, saliency_report,
};
use biaslens_model::{ForwardHook, NoHook, ResNet, TrainData, TrainError, TrainProgress, train};
use burn::prelude::*;
use burn::tensor::Transaction;
use serde::{Deserialize, Serialize};
use web_time::Instant;

use crate::config::{ConfigError, CorrelationKind, ExperimentConfig, MethodConfig};
use crate::results::{
    AttributionResult, EncodedMap, ExperimentResults, ExplainedImages, GroupMeans, ModelMapsOf, ModelResult, PhiResult,
    RESULTS_FORMAT, RESULTS_VERSION, Sanity, SplitSummary, StageTiming, TrainingSummary, Versions,
};

/// One progress event of [`run_experiment`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunProgress {
    /// What is running: `"data"`, `"train vanilla"`, `"method ThrOpt"`, `"evaluate"`,
    /// `"attribute"`, `"metrics"`.
    pub stage: String,
    /// The φ being worked on.
    pub phi: Option<f64>,
    /// Index of that φ in the config (0-based).
    pub phi_index: usize,
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

/// How a run is hosted: memory for the inspector, and optionally a vanilla model to load instead
/// of training one, or the user's own images instead of the synthetic benchmark.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Memory (bytes) allowed for keeping the explained images' per-image maps of every model
    /// ([`PhiResult::explained`], for the page's inspector); as many of the first explained
    /// images are kept as fit, 0 keeps none.
    pub inspect_bytes: usize,
    /// A trained vanilla model as torchvision `.safetensors` bytes (2 classes, the config's
    /// architecture), used at every φ instead of training one, so φ then changes only the split
    /// summaries. Checked before any work.
    pub vanilla_weights: Option<std::sync::Arc<[u8]>>,
    /// Labelled images (own CSV + folder, or CelebA's lists) that replace the synthetic
    /// benchmark: the splits are drawn from their labels, the images decoded per split.
    pub images: Option<std::sync::Arc<ImagePool>>,
}

/// The user's labelled images as the pool of a run (`paper-code.md` §3: CelebA through its
/// attribute list, or any CSV of image, target and protected attribute).
pub struct ImagePool {
    /// What the data is, for the results (`"labels.csv: 1,200 images"`).
    pub name: String,
    /// File names and labels.
    pub labelled: LabelledImages,
    /// Where the image bytes come from (a folder natively, memory in the page).
    pub source: Box<dyn ImageSource + Send + Sync>,
    /// Images are padded to a square (the authors' SquarePad) and resized to `side × side`.
    pub side: u32,
    /// The protected attribute's box in `side × side` images.
    pub roi: biaslens_metrics::Roi,
}

impl std::fmt::Debug for ImagePool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImagePool").field("name", &self.name).field("images", &self.labelled.len()).field("side", &self.side).finish()
    }
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

/// Progress bookkeeping: work units per stage, so the fraction is roughly proportional to time.
struct Tracker<'a, P: FnMut(RunProgress)> {
    progress: &'a mut P,
    total: f64,
    done: f64,
    stage_units: f64,
    stage: String,
    phi: Option<f64>,
    phi_index: usize,
    last: f64,
}

impl<P: FnMut(RunProgress)> Tracker<'_, P> {
    /// Starts a stage worth `units`.
    fn begin(&mut self, stage: &str, units: f64) {
        self.stage = stage.to_owned();
        self.stage_units = units;
        self.report(0.0, String::new());
    }

    /// Ends the current stage.
    fn end(&mut self) {
        self.done += self.stage_units;
        self.stage_units = 0.0;
    }

    /// Reports `within` ∈ [0, 1] of the current stage.
    fn report(&mut self, within: f64, detail: String) {
        self.report_with(within, detail, None);
    }

    /// Reports progress with a training step's (loss, accuracy).
    fn report_with(&mut self, within: f64, detail: String, train: Option<(f64, f64)>) {
        let f = ((self.done + within.clamp(0.0, 1.0) * self.stage_units) / self.total.max(1e-9)).clamp(0.0, 1.0);
        self.last = self.last.max(f);
        (self.progress)(RunProgress {
            stage: self.stage.clone(),
            phi: self.phi,
            phi_index: self.phi_index,
            fraction: self.last,
            detail,
            loss: train.map(|t| t.0),
            accuracy: train.map(|t| t.1),
        });
    }
}

/// Work units of each stage of one φ (image-passes, a backward counted as two forwards).
struct Plan {
    data: f64,
    train: f64,
    methods: Vec<f64>,
    evaluate: f64,
    attribute: f64,
    metrics: f64,
}

impl Plan {
    fn new(c: &ExperimentConfig) -> Self {
        let s = &c.splits;
        let debias = s.debias as f64;
        let methods = c
            .methods
            .iter()
            .map(|m| match m {
                MethodConfig::ThrOpt(_) | MethodConfig::GroupThresholds(_) | MethodConfig::PClarc(_) => debias,
                MethodConfig::ZhangAl(z) => {
                    let b = z.batch_size as f64;
                    b * (z.critic_iterations * (z.iterations + 1)) as f64
                        + 3.0 * b * (z.model_iterations * z.iterations) as f64
                        + b * z.n_eval_batches as f64
                }
                MethodConfig::SavaniAft(v) => {
                    let b = v.batch_size as f64;
                    v.iterations as f64 * (b * v.critic_iterations as f64 + 3.0 * b * v.model_iterations as f64)
                        + b * v.n_eval_batches as f64
                }
                MethodConfig::AClarc(a) => debias * (1.0 + 3.0 * a.epochs as f64),
                MethodConfig::RrClarc(r) => debias * (1.0 + 3.0 * r.epochs as f64),
            })
            .collect();
        let models = 1.0 + c.methods.len() as f64;
        let ig = c.attribution.ig.as_ref().map_or(0.0, |ig| 3.0 * ig.steps as f64 + 2.0);
        Self {
            data: 0.05 * (s.train + s.debias + s.test) as f64,
            train: 3.0 * (s.train * c.train.epochs) as f64,
            methods,
            evaluate: s.test as f64 * models,
            attribute: c.attribution.images as f64 * models * (2.0 + ig),
            metrics: 0.05 * c.attribution.images as f64 * models,
        }
    }

    fn total(&self) -> f64 {
        self.data + self.train + self.methods.iter().sum::<f64>() + self.evaluate + self.attribute + self.metrics
    }
}

/// One model of a φ before evaluation: name, family (`None` = vanilla), the classifier, method
/// details, seconds.
type Trained = (String, Option<crate::config::MethodFamily>, DebiasedModel, BTreeMap<String, f64>, f64);

/// Images, targets and attribute of a split, drawn from the synthetic benchmark.
struct SplitImages {
    pixels: Vec<f32>,
    target: Vec<u8>,
    attribute: Vec<u8>,
}

fn summary(split: &Split) -> SplitSummary {
    SplitSummary { images: split.indices.len(), counts: split.counts, phi: split.phi }
}

/// Reads tensors back with one asynchronous transaction, as `f32` vectors.
async fn read_back(tensors: Vec<Tensor<1>>) -> Result<Vec<Vec<f32>>, RunError> {
    let n = tensors.len();
    let mut t = Transaction::default();
    for x in tensors {
        t = t.register(x);
    }
    let data = t.execute_async().await.map_err(|e| RunError::Device(format!("{e:?}")))?;
    biaslens_model::pace::yield_now().await;
    let out = data
        .into_iter()
        .map(|d| d.convert::<f32>().try_into_vec::<f32>().map_err(|e| RunError::Device(format!("{e:?}"))))
        .collect::<Result<Vec<_>, _>>()?;
    if out.len() != n {
        return Err(RunError::Device("the device returned fewer tensors than requested".into()));
    }
    Ok(out)
}

/// `[B, C, H, W]` batch of `idx` from `pixels` on `device`.
///
/// # Shapes
/// `pixels`: `[N, 3, s, s]` flattened → `[idx.len(), 3, s, s]`.
fn batch_tensor(pixels: &[f32], idx: std::ops::Range<usize>, side: usize, device: &Device) -> Tensor<4> {
    let per = 3 * side * side;
    let b = idx.len();
    Tensor::from_data(TensorData::new(pixels[idx.start * per..idx.end * per].to_vec(), [b, 3, side, side]), device)
}

/// The classifier's output as attribution sees it: network (with hook), then the output
/// transform. `groups` is the protected attribute of the `n` images of the batch; IG calls this
/// with `k·n` rows ordered step-major, so row `r` belongs to image `r mod n`.
///
/// # Shapes
/// `[R, 3, H, W]` → `[R, 2]`.
fn classifier_output(dm: &DebiasedModel, x: Tensor<4>, groups: &[u8]) -> Tensor<2> {
    let logits = dm.logits(x);
    match &dm.output {
        OutputTransform::Identity => logits,
        transform => {
            let rows = logits.dims()[0];
            let n = groups.len().max(1);
            let g: Vec<u8> = (0..rows).map(|r| groups.get(r % n).copied().unwrap_or(0)).collect();
            // The transform is checked to fit (two logits, groups given) before attribution, so
            // the fallback is never taken.
            transform.apply(logits.clone(), Some(&g)).unwrap_or(logits)
        }
    }
}

/// Per-model accumulators of one φ's attribution stage.
struct ModelMaps {
    lrp: Vec<ImageMetrics>,
    ig: Vec<ImageMetrics>,
    lrp_sanity: Vec<(f64, f64)>,
    ig_sanity: Vec<(f64, f64)>,
    /// Per group: sum of normalised signed maps.
    lrp_sum: BTreeMap<GroupKey, Vec<f64>>,
    ig_sum: BTreeMap<GroupKey, Vec<f64>>,
}

impl ModelMaps {
    fn new() -> Self {
        Self { lrp: vec![], ig: vec![], lrp_sanity: vec![], ig_sanity: vec![], lrp_sum: BTreeMap::new(), ig_sum: BTreeMap::new() }
    }
}

fn sanity(pairs: &[(f64, f64)]) -> Sanity {
    let n = pairs.len().max(1) as f64;
    let mut s = Sanity { attribution_sum_mean: 0.0, target_sum_mean: 0.0, residual_abs_mean: 0.0, residual_abs_max: 0.0 };
    for &(attr, target) in pairs {
        s.attribution_sum_mean += attr / n;
        s.target_sum_mean += target / n;
        let r = (attr - target).abs();
        s.residual_abs_mean += r / n;
        s.residual_abs_max = s.residual_abs_max.max(r);
    }
    s
}

/// Adds each image's channel-summed map, scaled to max |value| 1 (the authors' normalisation,
/// kept signed as in their figures), to its group's sum.
///
/// # Shapes
/// `maps`: `[B, 3, H, W]` flattened; `groups`: `B` keys.
fn accumulate(sum: &mut BTreeMap<GroupKey, Vec<f64>>, maps: &[f32], groups: &[GroupKey], hw: usize) {
    let signed = PreprocessSettings {
        channel_reduction: ChannelReduction::SignedSum,
        normalisation: biaslens_metrics::Normalisation::None,
    };
    for (m, g) in maps.chunks_exact(3 * hw).zip(groups) {
        let r = preprocess(m, 3, signed);
        let a = r.iter().fold(0.0f64, |acc, v| acc.max(v.abs()));
        let slot = sum.entry(*g).or_insert_with(|| vec![0.0; hw]);
        if a > 0.0 {
            for (s, v) in slot.iter_mut().zip(&r) {
                *s += v / a;
            }
        }
    }
}

/// The splits of every φ of `config` (labels only: cheap enough for a preview), in config order;
/// what [`run_experiment`] uses.
///
/// # Errors
/// [`RunError::Split`] for the first φ the pool cannot supply.
pub fn phi_splits(config: &ExperimentConfig) -> Result<Vec<biaslens_data::Splits>, RunError> {
    let (pool_target, pool_attribute) = config.data.synthetic.labels(0, config.data.pool);
    phi_splits_of(config, &pool_target, &pool_attribute)
}

/// [`phi_splits`] of a pool given by its labels (the user's images).
///
/// # Errors
/// As [`phi_splits`].
pub fn phi_splits_of(config: &ExperimentConfig, pool_target: &[u8], pool_attribute: &[u8]) -> Result<Vec<biaslens_data::Splits>, RunError> {
    config
        .phis
        .iter()
        .map(|&phi| {
            let train = match config.correlation {
                CorrelationKind::Phi => Correlation::phi(phi),
                CorrelationKind::AuthorsPercentage => Correlation::CellPercentage { p: Correlation::authors_p_for_phi(phi) },
            };
            let split_config = SplitConfig {
                train,
                debias: config.splits.debias_correlation.clone(),
                train_size: Some(config.splits.train),
                debias_size: Some(config.splits.debias),
                test_size: Some(config.splits.test),
                seed: config.seed,
                ..SplitConfig::default()
            };
            make_splits(pool_target, pool_attribute, None, &split_config).map_err(|reason| RunError::Split { phi, reason })
        })
        .collect()
}

/// Checks that `bytes` (torchvision `.safetensors`) load into the config's network, as
/// [`RunOptions::vanilla_weights`] will, so a page can check a file when it is chosen.
///
/// # Errors
/// [`RunError::Weights`] naming what does not fit.
pub fn check_vanilla_weights(config: &ExperimentConfig, bytes: &[u8], device: &Device) -> Result<(), RunError> {
    load_vanilla(config, bytes, device).map(|_| ())
}

/// The config's network with `bytes` (torchvision `.safetensors`) loaded, for every φ.
fn load_vanilla(config: &ExperimentConfig, bytes: &[u8], device: &Device) -> Result<ResNet, RunError> {
    let classes = biaslens_model::torchvision_num_classes(bytes).map_err(|e| RunError::Weights(e.to_string()))?;
    if classes != 2 {
        return Err(RunError::Weights(format!(
            "the file's fc layer has {classes} outputs; the experiment needs a binary classifier (2 outputs: not target, target)"
        )));
    }
    let m = &config.model;
    config.model.resnet().init_seeded(config.seed, device).load_torchvision(bytes.to_vec()).map_err(|e| {
        RunError::Weights(format!("{e} (the config's model: {:?} blocks {:?}, width {})", m.block, m.layers, m.width))
    })
}

/// Appends the signed channel sums and the preprocessed maps of `maps` (`[n, 3, H, W]`).
fn keep_maps(slot: &mut ModelMapsOf, maps: &[f32], hw: usize, settings: PreprocessSettings) {
    let signed = PreprocessSettings {
        channel_reduction: ChannelReduction::SignedSum,
        normalisation: biaslens_metrics::Normalisation::None,
    };
    for m in maps.chunks_exact(3 * hw) {
        slot.signed.extend(preprocess(m, 3, signed).into_iter().map(|v| v as f32));
        slot.preprocessed.extend(preprocess(m, 3, settings).into_iter().map(|v| v as f32));
    }
}

fn mean_map(sum: Option<&Vec<f64>>, count: usize, hw: usize) -> EncodedMap {
    let values: Vec<f32> = match sum {
        Some(s) => s.iter().map(|v| (v / count.max(1) as f64) as f32).collect(),
        None => vec![0.0; hw],
    };
    EncodedMap::encode(&values, 1)
}

/// `k` indices into the test split: cells (attribute, target) = (0,0), (0,1), (1,0), (1,1) take
/// turns giving their next image in test order (a cell that runs out is skipped); returned in
/// ascending order.
fn balanced_first(target: &[u8], attribute: &[u8], k: usize) -> Vec<usize> {
    let mut cells: [Vec<usize>; 4] = Default::default();
    for (i, (&t, &a)) in target.iter().zip(attribute).enumerate() {
        cells[usize::from(a != 0) * 2 + usize::from(t != 0)].push(i);
    }
    let mut next = [0usize; 4];
    let mut out = Vec::with_capacity(k);
    while out.len() < k && next.iter().zip(&cells).any(|(n, c)| *n < c.len()) {
        for (n, c) in next.iter_mut().zip(&cells) {
            if out.len() < k && *n < c.len() {
                out.push(c[*n]);
                *n += 1;
            }
        }
    }
    out.sort_unstable();
    out
}

/// The LRP map of a model that shares vanilla's network and differs only in its output
/// transform. LRP is linear in the output relevance (every rule divides by the forward
/// pre-activations, which are the same), so its map is exactly `f_i ·` vanilla's map of image
/// `i`, with `f_i = r_i / r_i(vanilla)` the ratio of the relevances at the target. Every consumer
/// normalises each map by its maximum |value| (metrics and Figure 2), so the map is stored as
/// `sign(f_i) ·` vanilla's: mathematically the same after normalisation, and bit-exact, so
/// ADR = DIF = 0 holds exactly instead of within float rounding (which the identical-map test of
/// the metrics would otherwise see as tiny differences). The sanity numbers are scaled by `f_i`.
///
/// # Shapes
/// `vanilla`: `[B, 3, H, W]` flattened; `vanilla_sums`: `B` pairs (Σ input relevance, Σ output
/// relevance); `relevance`: `B` values → (`[B, 3, H, W]` flattened, `B` sanity pairs).
fn derived_map(vanilla: &[f32], vanilla_sums: &[(f32, f32)], relevance: &[f32]) -> (Vec<f32>, Vec<(f64, f64)>) {
    let per = vanilla.len() / relevance.len().max(1);
    let mut map = Vec::with_capacity(vanilla.len());
    let mut sums = Vec::with_capacity(relevance.len());
    for ((img, &(input, output)), &r) in vanilla.chunks_exact(per.max(1)).zip(vanilla_sums).zip(relevance) {
        let f = if output == 0.0 { 0.0 } else { f64::from(r) / f64::from(output) };
        if f > 0.0 {
            map.extend_from_slice(img);
        } else if f < 0.0 {
            map.extend(img.iter().map(|v| -v));
        } else {
            map.extend(std::iter::repeat_n(0.0, img.len()));
        }
        sums.push((f64::from(input) * f, f64::from(r)));
    }
    (map, sums)
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
    mut progress: impl FnMut(RunProgress),
    should_stop: impl Fn() -> bool,
) -> Result<ExperimentResults, RunError> {
    config.validate()?;
    let loaded = match &options.vanilla_weights {
        Some(bytes) => Some(load_vanilla(config, bytes, device)?),
        None => None,
    };
    let start = Instant::now();
    let plan = Plan::new(config);
    let mut tracker = Tracker {
        progress: &mut progress,
        total: plan.total() * config.phis.len() as f64,
        done: 0.0,
        stage_units: 0.0,
        stage: String::new(),
        phi: None,
        phi_index: 0,
        last: 0.0,
    };
    let syn = &config.data.synthetic;
    let own = options.images.as_deref();
    let (roi, image) = match own {
        Some(pool) => (pool.roi, biaslens_metrics::ImageSize::square(pool.side)),
        None => (syn.roi()?, syn.image_size()),
    };
    if roi.image() != image {
        return Err(RunError::Images(format!("the region of interest belongs to {}×{} images, the run's are {}×{}", roi.image().width, roi.image().height, image.width, image.height)));
    }
    let side = image.width as usize;
    let hw = side * side;
    // Every φ's splits first (labels only, cheap), so a correlation the pool cannot supply is
    // reported before any training.
    let all_splits = match own {
        Some(pool) => phi_splits_of(config, &pool.labelled.target, &pool.labelled.attribute)?,
        None => phi_splits(config)?,
    };
    let pre = biaslens_data::images::Preprocess { square_pad: true, resize: own.map(|p| p.side) };
    let mut timings = Vec::new();
    let mut phis = Vec::with_capacity(config.phis.len());
    let stop = || should_stop();

    for (phi_index, &phi) in config.phis.iter().enumerate() {
        tracker.phi = Some(phi);
        tracker.phi_index = phi_index;
        let mut timed = |stage: &str, t: Instant| timings.push(StageTiming { phi: Some(phi), stage: stage.into(), seconds: t.elapsed().as_secs_f64() });

        // 1. Splits and images.
        let t = Instant::now();
        tracker.begin("data", plan.data);
        let splits = all_splits[phi_index].clone();
        let draw = |split: &Split| -> Result<SplitImages, RunError> {
            if let Some(pool) = own {
                let loaded = pool.labelled.load_batch(&split.indices, &pool.source, &pre);
                if let Some(s) = loaded.skipped.first() {
                    return Err(RunError::Images(format!(
                        "{}, line {}: {} cannot be used: {}; fix or remove that row ({} image(s) of this split failed)",
                        pool.labelled.source,
                        pool.labelled.lines.get(s.row).copied().unwrap_or(0),
                        s.image,
                        s.reason,
                        loaded.skipped.len()
                    )));
                }
                let b = loaded.batch;
                return Ok(SplitImages { pixels: b.pixels, target: b.target, attribute: b.attribute });
            }
            let idx: Vec<u64> = split.indices.iter().map(|&i| i as u64).collect();
            let b = syn.generate_indices(&idx)?;
            Ok(SplitImages { pixels: b.pixels, target: b.target, attribute: b.attribute })
        };
        let train_images = draw(&splits.train)?;
        let debias_images = draw(&splits.debias)?;
        let test_images = draw(&splits.test)?;
        tracker.end();
        timed("data", t);
        if should_stop() {
            return Err(RunError::Cancelled);
        }

        // 2. Vanilla.
        let t = Instant::now();
        tracker.begin("train vanilla", plan.train);
        let (vanilla, vanilla_training) = if let Some(model) = &loaded {
            (model.clone(), TrainingSummary { steps: 0, final_loss: None, final_batch_accuracy: None })
        } else {
            let model = config.model.resnet().init_seeded(config.seed, device);
            let outcome = train(
                model,
                TrainData { pixels: &train_images.pixels, targets: &train_images.target, image: [3, side, side] },
                &config.train,
                device,
                &mut NoHook,
                |p: &TrainProgress| {
                    tracker.report_with(
                        p.step as f64 / p.total_steps.max(1) as f64,
                        format!("step {}/{}, loss {:.3}, batch accuracy {:.2}", p.step, p.total_steps, p.loss, p.accuracy),
                        Some((f64::from(p.loss), f64::from(p.accuracy))),
                    )
                },
                stop,
            )
            .await?;
            if outcome.cancelled {
                return Err(RunError::Cancelled);
            }
            let vanilla_training = TrainingSummary {
                steps: outcome.steps,
                final_loss: outcome.last.map(|p| p.loss),
                final_batch_accuracy: outcome.last.map(|p| p.accuracy),
            };
            (outcome.model, vanilla_training)
        };
        let vanilla: ResNet = vanilla;
        drop(train_images);
        tracker.end();
        let vanilla_seconds = t.elapsed().as_secs_f64();
        timed("train vanilla", t);

        // 3. Methods.
        let dd = DebiasData {
            pixels: &debias_images.pixels,
            targets: &debias_images.target,
            attribute: &debias_images.attribute,
            image: [3, side, side],
        };
        let mut models: Vec<Trained> =
            vec![("Vanilla".into(), None, DebiasedModel::plain(vanilla.clone()), BTreeMap::new(), vanilla_seconds)];
        for (k, method) in config.methods.iter().enumerate() {
            let base = method.name();
            let same = config.methods[..k].iter().filter(|m| m.name() == base).count();
            let name = if same == 0 { base.to_owned() } else { format!("{base} ({})", same + 1) };
            let stage = format!("method {name}");
            let t = Instant::now();
            tracker.begin(&stage, plan.methods[k]);
            let on = |p: &DebiasProgress| {
                tracker.report(
                    p.step as f64 / p.total_steps.max(1) as f64,
                    format!("{:?} step {}/{}", p.stage, p.step, p.total_steps),
                )
            };
            let err = |reason: DebiasError| match reason {
                DebiasError::Cancelled => RunError::Cancelled,
                reason => RunError::Method { method: name.clone(), phi, reason },
            };
            let v = vanilla.clone();
            let mut details = BTreeMap::new();
            let dm = match method {
                MethodConfig::ThrOpt(c) => {
                    let o = thr_opt(v, dd, c, device, on, stop).await.map_err(err)?;
                    details.insert("threshold".into(), o.threshold);
                    details.insert("eo_gap_debias_split".into(), o.eo_gap);
                    o.model
                }
                MethodConfig::GroupThresholds(c) => {
                    let o = group_thresholds(v, dd, c, device, on, stop).await.map_err(err)?;
                    details.insert("threshold_attribute_0".into(), o.thresholds[0]);
                    details.insert("threshold_attribute_1".into(), o.thresholds[1]);
                    details.insert("eo_gap_debias_split".into(), o.eo_gap);
                    details.insert("constraint_met".into(), f64::from(u8::from(o.constraint_met)));
                    o.model
                }
                MethodConfig::ZhangAl(c) => {
                    let o = zhang_al(v, dd, c, device, on, stop).await.map_err(err)?;
                    details.insert("tau".into(), o.tau);
                    details.insert("tau_score".into(), o.tau_score);
                    o.model
                }
                MethodConfig::SavaniAft(c) => {
                    let o = savani_aft(v, dd, c, device, on, stop).await.map_err(err)?;
                    details.insert("tau".into(), o.tau);
                    details.insert("tau_score".into(), o.tau_score);
                    o.model
                }
                MethodConfig::PClarc(c) => p_clarc(v, dd, c, device, on, stop).await.map_err(err)?.model,
                MethodConfig::AClarc(c) => a_clarc(v, dd, c, device, on, stop).await.map_err(err)?.model,
                MethodConfig::RrClarc(c) => {
                    let o = rr_clarc(v, dd, c, device, on, stop).await.map_err(err)?;
                    if let Some(&p) = o.penalties.last() {
                        details.insert("final_penalty".into(), f64::from(p));
                    }
                    if let Some(&l) = o.losses.last() {
                        details.insert("final_loss".into(), f64::from(l));
                    }
                    o.model
                }
            };
            tracker.end();
            let seconds = t.elapsed().as_secs_f64();
            timed(&stage, t);
            models.push((name, Some(method.family()), dm, details, seconds));
        }
        drop(debias_images);

        // 4. Evaluation on the whole balanced test split.
        let t = Instant::now();
        tracker.begin("evaluate", plan.evaluate);
        let n_test = test_images.target.len();
        let y: Vec<i64> = test_images.target.iter().map(|&v| i64::from(v)).collect();
        let a: Vec<i64> = test_images.attribute.iter().map(|&v| i64::from(v)).collect();
        let boot = (config.metrics.bootstrap.resamples > 0).then_some(&config.metrics.bootstrap);
        let mut fairness = Vec::with_capacity(models.len());
        let eval_batch = config.metrics.eval_batch_size;
        for (m, (name, _, dm, _, _)) in models.iter().enumerate() {
            let mut preds = Vec::with_capacity(n_test);
            let mut start_i = 0;
            while start_i < n_test {
                if should_stop() {
                    return Err(RunError::Cancelled);
                }
                let end = (start_i + eval_batch).min(n_test);
                let x = batch_tensor(&test_images.pixels, start_i..end, side, device);
                let out = dm
                    .forward_grouped(x, &test_images.attribute[start_i..end])
                    .map_err(|reason| RunError::Method { method: name.clone(), phi, reason })?;
                let b = end - start_i;
                let logits = read_back(vec![out.reshape([b * 2])]).await?;
                preds.extend(logits[0].chunks_exact(2).map(|l| i64::from(l[1] > l[0])));
                start_i = end;
                tracker.report((m as f64 + start_i as f64 / n_test as f64) / models.len() as f64, name.clone());
            }
            fairness.push(fairness_report(&y, &preds, &a, boot)?);
        }
        tracker.end();
        timed("evaluate", t);

        // 5. Attribution of the first test images, one batch at a time, every model.
        let t = Instant::now();
        tracker.begin("attribute", plan.attribute);
        let k_images = config.attribution.images.min(n_test);
        let frozen: Vec<DebiasedModel> = models.iter().map(|(_, _, dm, _, _)| dm.clone().frozen()).collect();
        let mut acc: Vec<ModelMaps> = frozen.iter().map(|_| ModelMaps::new()).collect();
        let mut input_sum: BTreeMap<GroupKey, (Vec<f64>, usize)> = BTreeMap::new();
        // The explained images: the first test images of each (attribute, target) cell in turn,
        // so Figure 2's rows and the per-group metrics rest on (nearly) equal counts.
        let chosen = balanced_first(&test_images.target, &test_images.attribute, k_images);
        let explained = SplitImages {
            pixels: chosen.iter().flat_map(|&i| test_images.pixels[i * 3 * hw..(i + 1) * 3 * hw].iter().copied()).collect(),
            target: chosen.iter().map(|&i| test_images.target[i]).collect(),
            attribute: chosen.iter().map(|&i| test_images.attribute[i]).collect(),
        };
        let test_images = explained;
        let keys: Vec<GroupKey> = (0..k_images)
            .map(|i| GroupKey { protected: i64::from(test_images.attribute[i]), target: i64::from(test_images.target[i]) })
            .collect();
        let lrp_config = config.attribution.lrp;
        // Threshold methods keep vanilla's network untouched (no hook, same weights).
        let shares_vanilla: Vec<bool> = models
            .iter()
            .map(|(_, family, dm, _, _)| {
                *family == Some(crate::config::MethodFamily::Threshold) && dm.hook.is_none()
            })
            .collect();
        let saliency = &config.metrics.saliency;
        let with_ig = config.attribution.ig.is_some();
        // Per image and model: signed + preprocessed maps of each attribution method (f32).
        let per_image_bytes = frozen.len() * (1 + usize::from(with_ig)) * 2 * hw * 4 + 3 * hw * 4;
        let keep = (options.inspect_bytes / per_image_bytes.max(1)).min(k_images);
        let mut kept = ExplainedImages {
            n: keep,
            pixels: test_images.pixels[..keep * 3 * hw].to_vec(),
            target: test_images.target[..keep].to_vec(),
            attribute: test_images.attribute[..keep].to_vec(),
            lrp: vec![ModelMapsOf::default(); if keep > 0 { frozen.len() } else { 0 }],
            ig: vec![ModelMapsOf::default(); if keep > 0 && with_ig { frozen.len() } else { 0 }],
        };
        let mut first = 0;
        while first < k_images {
            if should_stop() {
                return Err(RunError::Cancelled);
            }
            let end = (first + config.attribution.batch_size).min(k_images);
            let b = end - first;
            let targets: Vec<usize> = test_images.target[first..end].iter().map(|&v| usize::from(v)).collect();
            let groups = &test_images.attribute[first..end];
            let batch_keys = &keys[first..end];
            let x = batch_tensor(&test_images.pixels, first..end, side, device);
            let mut tensors: Vec<Tensor<1>> = Vec::new();
            let mut vanilla_logits: Option<Tensor<2>> = None;
            for (m, dm) in frozen.iter().enumerate() {
                let output = dm.output.clone();
                let transformed = |logits: Tensor<2>| -> Result<Tensor<2>, AttributionError> {
                    match &output {
                        OutputTransform::Identity => Ok(logits),
                        tr => tr
                            .apply(logits, Some(groups))
                            .map_err(|e| AttributionError::Config(format!("output transform: {e}"))),
                    }
                };
                match (&vanilla_logits, shares_vanilla[m]) {
                    (Some(logits), true) => {
                        // Same network as vanilla, only the output differs: LRP is linear in the
                        // output relevance, so this map is vanilla's times r_c / r_c(vanilla)
                        // per image. Only that ratio is computed (see `derived_map`).
                        let rel = output_relevance(transformed(logits.clone())?, Some(&targets), lrp_config.output)?;
                        tensors.push(rel.sum_dim(1).reshape([b]));
                    }
                    _ => {
                        let mut hook = dm.hook.clone();
                        let lrp = lrp_resnet_with_output(
                            &dm.model,
                            x.clone(),
                            &lrp_config,
                            hook.as_mut().map(|h| h as &mut dyn ForwardHook),
                            // Zennit's relevance at the (hooked) output: the transform's output
                            // times the one-hot of the target (`paper-code.md` §2.6).
                            |logits| output_relevance(transformed(logits)?, Some(&targets), lrp_config.output),
                        )?;
                        if m == 0 {
                            vanilla_logits = Some(lrp.logits.clone());
                        }
                        tensors.push(lrp.map.reshape([b * 3 * hw]));
                        tensors.push(lrp.input_sum);
                        tensors.push(lrp.output_sum);
                    }
                }
                if let Some(ig) = &config.attribution.ig {
                    let out = integrated_gradients(
                        |x| classifier_output(dm, x, groups),
                        x.clone(),
                        &targets,
                        ig,
                        None,
                        stop,
                        |_| {},
                    )?;
                    tensors.push(out.map.reshape([b * 3 * hw]));
                    tensors.push(out.delta);
                }
                tracker.report(
                    (first as f64 + (m + 1) as f64 / frozen.len() as f64 * b as f64) / k_images as f64,
                    format!("images {}–{} of {k_images}, {}", first + 1, end, models[m].0),
                );
                // One batch explains every model before its read-back; give the host a turn
                // between models (eager backends have done the work by now).
                biaslens_model::pace::yield_now().await;
            }
            let mut read = read_back(tensors).await?.into_iter();
            let mut next = || read.next().ok_or_else(|| RunError::Device("missing read-back".into()));
            let mut lrp_maps: Vec<Vec<f32>> = Vec::with_capacity(frozen.len());
            let mut ig_maps = Vec::with_capacity(frozen.len());
            let mut vanilla_sums: Vec<(f32, f32)> = Vec::new();
            for (m, acc_m) in acc.iter_mut().enumerate() {
                let map = if m > 0 && shares_vanilla[m] {
                    let rel = next()?;
                    let (map, sums) = derived_map(&lrp_maps[0], &vanilla_sums, &rel);
                    acc_m.lrp_sanity.extend(sums);
                    map
                } else {
                    let map = next()?;
                    let input = next()?;
                    let output = next()?;
                    for (i, o) in input.iter().zip(&output) {
                        acc_m.lrp_sanity.push((f64::from(*i), f64::from(*o)));
                    }
                    if m == 0 {
                        vanilla_sums = input.into_iter().zip(output).collect();
                    }
                    map
                };
                accumulate(&mut acc_m.lrp_sum, &map, batch_keys, hw);
                lrp_maps.push(map);
                if config.attribution.ig.is_some() {
                    let map = next()?;
                    let delta = next()?;
                    for (img, d) in map.chunks_exact(3 * hw).zip(&delta) {
                        let s: f64 = img.iter().map(|&v| f64::from(v)).sum();
                        acc_m.ig_sanity.push((s, s - f64::from(*d)));
                    }
                    accumulate(&mut acc_m.ig_sum, &map, batch_keys, hw);
                    ig_maps.push(map);
                }
            }
            let keep_here = keep.saturating_sub(first).min(b);
            for (m, slot) in kept.lrp.iter_mut().enumerate() {
                keep_maps(slot, &lrp_maps[m][..keep_here * 3 * hw], hw, saliency.preprocess);
            }
            for (m, slot) in kept.ig.iter_mut().enumerate() {
                keep_maps(slot, &ig_maps[m][..keep_here * 3 * hw], hw, saliency.preprocess);
            }
            for (m, acc_m) in acc.iter_mut().enumerate() {
                acc_m.lrp.extend(per_image_metrics(&lrp_maps[0], &lrp_maps[m], 3, &roi, saliency)?);
                if !ig_maps.is_empty() {
                    acc_m.ig.extend(per_image_metrics(&ig_maps[0], &ig_maps[m], 3, &roi, saliency)?);
                }
            }
            for (i, key) in batch_keys.iter().enumerate() {
                let img = &test_images.pixels[(first + i) * 3 * hw..(first + i + 1) * 3 * hw];
                let slot = input_sum.entry(*key).or_insert_with(|| (vec![0.0; 3 * hw], 0));
                for (s, &v) in slot.0.iter_mut().zip(img) {
                    *s += f64::from(v);
                }
                slot.1 += 1;
            }
            first = end;
        }
        tracker.end();
        timed("attribute", t);

        // 6. Metrics: pooled and per group, with bootstrap intervals; Figure 2's means.
        let t = Instant::now();
        tracker.begin("metrics", plan.metrics);
        let pa: Vec<i64> = keys.iter().map(|k| k.protected).collect();
        let tg: Vec<i64> = keys.iter().map(|k| k.target).collect();
        let mut results = Vec::with_capacity(models.len());
        for (m, ((name, family, _, details, seconds), acc_m)) in models.into_iter().zip(&acc).enumerate() {
            let lrp = AttributionResult {
                saliency: saliency_report(&acc_m.lrp, Some((&pa, &tg)), saliency, boot)?,
                sanity: sanity(&acc_m.lrp_sanity),
            };
            if let Some(slot) = kept.lrp.get_mut(m) {
                slot.sanity = acc_m.lrp_sanity[..keep].to_vec();
            }
            if let Some(slot) = kept.ig.get_mut(m) {
                slot.sanity = acc_m.ig_sanity[..keep].to_vec();
            }
            let ig = match config.attribution.ig {
                Some(_) => Some(AttributionResult {
                    saliency: saliency_report(&acc_m.ig, Some((&pa, &tg)), saliency, boot)?,
                    sanity: sanity(&acc_m.ig_sanity),
                }),
                None => None,
            };
            results.push(ModelResult { name, family, details, fairness: fairness[m], lrp, ig, seconds });
            tracker.report((m + 1) as f64 / acc.len() as f64, String::new());
            biaslens_model::pace::yield_now().await;
        }
        let groups = input_sum
            .iter()
            .map(|(key, (sum, count))| {
                let mean: Vec<f32> = sum.iter().map(|v| (v / *count as f64) as f32).collect();
                GroupMeans {
                    group: *key,
                    images: *count,
                    mean_input: EncodedMap::encode(&mean, 3),
                    lrp: acc.iter().map(|a| mean_map(a.lrp_sum.get(key), *count, hw)).collect(),
                    ig: if config.attribution.ig.is_some() {
                        acc.iter().map(|a| mean_map(a.ig_sum.get(key), *count, hw)).collect()
                    } else {
                        Vec::new()
                    },
                }
            })
            .collect();
        tracker.end();
        timed("metrics", t);

        phis.push(PhiResult {
            phi,
            train: summary(&splits.train),
            debias: summary(&splits.debias),
            test: summary(&splits.test),
            vanilla_training,
            models: results,
            groups,
            explained: (keep > 0).then_some(kept),
        });
    }
    tracker.stage = "done".into();
    tracker.done = tracker.total;
    tracker.report(1.0, String::new());

    Ok(ExperimentResults {
        format: RESULTS_FORMAT.into(),
        version: RESULTS_VERSION,
        versions: Versions::current(),
        config: config.clone(),
        seed: config.seed,
        device: device_label(device),
        image,
        roi,
        phis,
        timings,
        total_seconds: start.elapsed().as_secs_f64(),
        data_source: own.map(|p| p.name.clone()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use biaslens_attribution::{LrpConfig, lrp_resnet};
    use biaslens_model::{BlockKind, ResNetConfig};

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

    /// The premise of [`derived_map`]: Zennit-style LRP of the soft-thresholded model (relevance
    /// `s_c e_c` at the output, `paper-code.md` §2.6) computed in full equals vanilla's map times
    /// `s_c / z_c` per image, up to float rounding.
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

/// A reader's name for the device the run used: "CPU (burn flex)", "GPU (burn wgpu)", or burn's
/// own description for anything else.
fn device_label(device: &Device) -> String {
    let debug = format!("{device:?}");
    if debug.contains("Flex") {
        "CPU (burn flex)".into()
    } else if debug.contains("Wgpu") || debug.contains("WebGpu") {
        "GPU (burn wgpu)".into()
    } else {
        debug
    }
}

