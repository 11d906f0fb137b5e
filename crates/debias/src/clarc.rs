//! Class Artifact Compensation (ClArC); by default at the pooled penultimate features, as the
//! authors ran it. P-ClArC and A-ClArC work at any [`Tap`] (feature maps flattened to `C·H·W`);
//! RR-ClArC only at [`Tap::Pooled`] (see below).
//!
//! - [`p_clarc`]: Projective ClArC (Anders et al., "Finding and removing Clever Hans: Using
//!   explanation methods to debug and improve deep models", Information Fusion 2022): project the
//!   activations onto the hyperplane through the mean of the clean samples orthogonal to the CAV;
//!   no training; the projection stays attached.
//! - [`a_clarc`]: Augmentative ClArC (same paper) as DetoxAI runs it (docs/METHODS.md#a-clarc): the projection towards the *artifact* mean (the artifact is added to every sample),
//!   then one epoch of fine-tuning with it at Adam lr 1e-3. DetoxAI's `remove_hooks` only
//!   empties its list and never calls `handle.remove()`, **so the hook stays attached at test and
//!   saliency time**; that is the default here ([`AClarcConfig::keep_hook`] = true), and
//!   `keep_hook = false` gives the method as the paper describes it.
//! - [`rr_clarc`]: Right-Reason ClArC (Dreyer et al., "From Hope to Safety: Unlearning Biases of
//!   Deep Models via Gradient Penalization in Latent Space", AAAI 2024): fine-tune with
//!   `CE + λ·mean_b((∇ₐ max_k ŷ_k · cav)²)`, λ = 1, one epoch, Adam lr 1e-3; no hook.
//!
//! **RR-ClArC without double backward.** burn has no `create_graph`, so the input gradient
//! cannot itself be differentiated. At the pooled layer it need not be: `ŷ = aW + b`, so
//! `∇ₐ ŷ_k = W[:, k]` for every input, and the penalty is
//! `mean_b (W[:, k_b] · cav)²` with `k_b = argmax ŷ_b` — a function of `fc`'s weights alone,
//! differentiated by one ordinary backward pass. This is exactly the authors' penalty at this
//! layer (docs/METHODS.md#rr-clarc notes the same: it only pushes `fc`'s rows orthogonal to
//! the CAV). Layers before the pooling would need second derivatives and are not supported.

use biaslens_model::{ResNet, Tap, TrainConfig};
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use burn::tensor::Tensor;

use crate::cav::{Cav, CavConfig, ConceptLabels, cav_for};
use crate::common::{check_stop, permutation, read_scalars};
use crate::debiased::{ClarcProjection, DebiasedModel, OutputTransform};
use crate::fine_tune::train_on_debias_split;
use crate::registry::{Family, Outcome, Pass, TypedMethod};
use crate::{DebiasData, DebiasError, DebiasProgress, Stage};

/// Knobs of [`p_clarc`].
#[derive(Config, Debug, PartialEq)]
pub struct PClarcConfig {
    /// The CAV.
    #[config(default = "CavConfig::new()")]
    pub cav: CavConfig,
    /// Projection strength (1 removes the CAV component entirely).
    #[config(default = 1.0)]
    pub alpha: f32,
}

/// What P-ClArC and A-ClArC return.
#[derive(Debug, Clone)]
pub struct ClarcOutcome {
    /// The corrected classifier.
    pub model: DebiasedModel,
    /// The CAV it used.
    pub cav: Cav,
}

/// P-ClArC: fit the CAV on the debias split and attach the projection to the clean mean.
///
/// # Shapes
/// `data.pixels`: `[N, C, H, W]`.
///
/// # Errors
/// [`DebiasError`] for bad data, an unsupported layer, degenerate labels, cancellation or a
/// failed read-back.
pub async fn p_clarc(
    model: ResNet,
    data: DebiasData<'_>,
    config: &PClarcConfig,
    device: &Device,
    mut on_progress: impl FnMut(&DebiasProgress),
    should_stop: impl Fn() -> bool,
) -> Result<ClarcOutcome, DebiasError> {
    let cav = cav_for(&model, data, &config.cav, device, &mut on_progress, &should_stop).await?;
    let hook = ClarcProjection {
        cav: cav.direction.clone(),
        reference: cav.mean_clean.clone(),
        alpha: config.alpha,
        tap: config.cav.layer,
    };
    Ok(ClarcOutcome {
        model: DebiasedModel {
            model: model.valid(),
            hook: Some(hook),
            output: OutputTransform::Identity,
        },
        cav,
    })
}

/// Knobs of [`a_clarc`] (DetoxAI defaults).
#[derive(Config, Debug, PartialEq)]
pub struct AClarcConfig {
    /// The CAV.
    #[config(default = "CavConfig::new()")]
    pub cav: CavConfig,
    /// Projection strength.
    #[config(default = 1.0)]
    pub alpha: f32,
    /// Adam learning rate of the fine-tuning (the wrapper's default).
    #[config(default = 1e-3)]
    pub learning_rate: f64,
    /// Fine-tuning epochs over the debias split.
    #[config(default = 1)]
    pub epochs: usize,
    /// Images per step.
    #[config(default = 128)]
    pub batch_size: usize,
    /// Seed of the batch order.
    #[config(default = 0)]
    pub seed: u64,
    /// Keep the projection attached after fine-tuning (the authors' code does, by accident).
    #[config(default = true)]
    pub keep_hook: bool,
}

/// A-ClArC: fit the CAV, then fine-tune with the projection to the artifact mean active.
///
/// # Shapes
/// `data.pixels`: `[N, C, H, W]`.
///
/// # Errors
/// As [`p_clarc`], plus [`DebiasError::Train`] from the fine-tuning.
pub async fn a_clarc(
    model: ResNet,
    data: DebiasData<'_>,
    config: &AClarcConfig,
    device: &Device,
    mut on_progress: impl FnMut(&DebiasProgress),
    should_stop: impl Fn() -> bool,
) -> Result<ClarcOutcome, DebiasError> {
    let cav = cav_for(&model, data, &config.cav, device, &mut on_progress, &should_stop).await?;
    let mut hook = ClarcProjection {
        cav: cav.direction.clone(),
        reference: cav.mean_artifact.clone(),
        alpha: config.alpha,
        tap: config.cav.layer,
    };
    let train_config = TrainConfig::new()
        .with_learning_rate(config.learning_rate)
        .with_batch_size(config.batch_size)
        .with_epochs(config.epochs)
        .with_seed(config.seed);
    let model = train_on_debias_split(model, data, &train_config, device, &mut hook, on_progress, &should_stop).await?;
    Ok(ClarcOutcome {
        model: DebiasedModel {
            model,
            hook: config.keep_hook.then_some(hook),
            output: OutputTransform::Identity,
        },
        cav,
    })
}

/// Knobs of [`rr_clarc`] (DetoxAI defaults: `rr_config` is never passed).
#[derive(Config, Debug, PartialEq)]
pub struct RrClarcConfig {
    /// The CAV.
    #[config(default = "CavConfig::new()")]
    pub cav: CavConfig,
    /// Weight λ of the penalty.
    #[config(default = 1.0)]
    pub lambda: f64,
    /// Adam learning rate.
    #[config(default = 1e-3)]
    pub learning_rate: f64,
    /// Epochs over the debias split.
    #[config(default = 1)]
    pub epochs: usize,
    /// Images per step.
    #[config(default = 128)]
    pub batch_size: usize,
    /// Seed of the batch order.
    #[config(default = 0)]
    pub seed: u64,
}

/// What [`rr_clarc`] returns.
#[derive(Debug, Clone)]
pub struct RrClarcOutcome {
    /// The fine-tuned network (no hook, identity output).
    pub model: DebiasedModel,
    /// The CAV of the penalty.
    pub cav: Cav,
    /// Total loss per step (before the update).
    pub losses: Vec<f32>,
    /// Penalty `mean_b (W[:, k_b]·cav)²` per step (before the update, unweighted).
    pub penalties: Vec<f32>,
}

/// `mean_b (W[:, argmax_b] · cav)²` of a batch of logits.
///
/// # Shapes
/// `logits`: `[B, K]`, `fc_weight`: `[D, K]` (burn's layout), `cav`: `[D, 1]` → `[1]`.
fn penalty(logits: Tensor<2>, fc_weight: Tensor<2>, cav: Tensor<2>) -> Tensor<1> {
    let [b, _] = logits.dims();
    let k = logits.detach().argmax(1); // [B, 1]
    let per_class = cav.transpose().matmul(fc_weight); // [1, K]
    per_class.repeat_dim(0, b).gather(1, k).square().mean()
}

fn cav_tensor(cav: &Cav, device: &Device) -> Tensor<2> {
    let d = cav.direction.len();
    Tensor::from_data(TensorData::new(cav.direction.clone(), [d, 1]), device)
}

/// The RR-ClArC penalty of `model` (evaluation mode) over all of `data`:
/// `mean_i (W[:, argmax ŷ_i] · cav)²`.
///
/// # Shapes
/// `data.pixels`: `[N, C, H, W]`; `cav.direction`: `feature_dim` values.
///
/// # Errors
/// [`DebiasError`] for bad data, a CAV of the wrong length or a failed read-back.
pub async fn rr_penalty(
    model: &ResNet,
    cav: &Cav,
    data: DebiasData<'_>,
    batch_size: usize,
    device: &Device,
) -> Result<f64, DebiasError> {
    data.validate()?;
    let d = model.fc.weight.dims()[0];
    if cav.direction.len() != d {
        return Err(DebiasError::Shape(format!(
            "a CAV of {} values for {d} features",
            cav.direction.len()
        )));
    }
    let model = model.valid().to_device(device);
    let v = cav_tensor(cav, device);
    let idx: Vec<usize> = (0..data.len()).collect();
    let mut sum = 0.0;
    for chunk in idx.chunks(batch_size.max(1)) {
        let b = crate::common::batch(&data, chunk, device);
        let p = penalty(model.forward(b.x), model.fc.weight.val(), v.clone());
        sum += f64::from(read_scalars(vec![p]).await?[0]) * chunk.len() as f64;
    }
    Ok(sum / data.len() as f64)
}

/// RR-ClArC: fit the CAV on the debias split, then fine-tune on it with the gradient penalty.
///
/// # Shapes
/// `data.pixels`: `[N, C, H, W]`.
///
/// # Errors
/// As [`p_clarc`].
pub async fn rr_clarc(
    model: ResNet,
    data: DebiasData<'_>,
    config: &RrClarcConfig,
    device: &Device,
    mut on_progress: impl FnMut(&DebiasProgress),
    should_stop: impl Fn() -> bool,
) -> Result<RrClarcOutcome, DebiasError> {
    if config.batch_size == 0 || config.epochs == 0 {
        return Err(DebiasError::Empty("batch_size and epochs must be at least 1"));
    }
    if config.cav.layer != Tap::Pooled {
        // ∇ of the max logit at an earlier layer needs double backward (no create_graph here).
        return Err(DebiasError::UnsupportedLayer(config.cav.layer));
    }
    let cav = cav_for(&model, data, &config.cav, device, &mut on_progress, &should_stop).await?;
    let ad = device.clone().autodiff();
    let mut model = model.valid().to_device(device).train();
    let mut optim = AdamConfig::new().with_epsilon(biaslens_model::TORCH_ADAM_EPSILON).init();
    let loss_fn = CrossEntropyLossConfig::new().init(&ad);
    let v = cav_tensor(&cav, &ad);
    let n = data.len();
    let total = n.div_ceil(config.batch_size) * config.epochs;
    let mut rng = biaslens_rng::SplitMix64::new(config.seed);
    let (mut losses, mut penalties) = (Vec::new(), Vec::new());
    let mut step = 0;
    for _ in 0..config.epochs {
        let order = permutation(n, &mut rng);
        for chunk in order.chunks(config.batch_size) {
            check_stop(&should_stop)?;
            let b = crate::common::batch(&data, chunk, &ad);
            let logits = model.forward(b.x);
            let pen = penalty(logits.clone(), model.fc.weight.val(), v.clone());
            let loss = loss_fn.forward(logits, b.y) + pen.clone().mul_scalar(config.lambda as f32);
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(config.learning_rate, model, grads);
            let read = read_scalars(vec![loss.detach().inner(), pen.detach().inner()]).await?;
            step += 1;
            losses.push(read[0]);
            penalties.push(read[1]);
            on_progress(&DebiasProgress {
                stage: Stage::FineTune,
                step,
                total_steps: total,
                loss: Some(read[0]),
                aux: Some(read[1]),
            });
        }
    }
    Ok(RrClarcOutcome {
        model: DebiasedModel::plain(model.valid()),
        cav,
        losses,
        penalties,
    })
}

/// P-ClArC in the method registry ([`crate::Registry`]).
pub struct PClarc;

impl TypedMethod for PClarc {
    type Config = PClarcConfig;
    const TAG: &'static str = "p_clarc";
    const NAME: &'static str = "P-ClArC";
    const FAMILY: Family = Family::Clarc;
    const DESCRIPTION: &'static str = "projects the concept direction out of the features (no training)";

    fn default_config() -> PClarcConfig {
        PClarcConfig::new()
    }
    fn check(c: &PClarcConfig) -> Result<(), String> {
        check_cav(&c.cav)
    }
    fn passes(c: &PClarcConfig) -> Vec<Pass> {
        vec![cav_pass(&c.cav)]
    }
    fn work(_: &PClarcConfig, n: usize) -> f64 {
        n as f64
    }
    fn run<'a>(
        &'a self,
        model: ResNet,
        data: DebiasData<'a>,
        config: &'a PClarcConfig,
        device: &'a Device,
        progress: &'a mut dyn FnMut(&DebiasProgress),
        should_stop: &'a dyn Fn() -> bool,
    ) -> impl Future<Output = Result<Outcome, DebiasError>> + 'a {
        async move { Ok(Outcome::of(p_clarc(model, data, config, device, progress, should_stop).await?.model).note(cav_note(&config.cav))) }
    }
}

/// A-ClArC in the method registry ([`crate::Registry`]).
pub struct AClarc;

impl TypedMethod for AClarc {
    type Config = AClarcConfig;
    const TAG: &'static str = "a_clarc";
    const NAME: &'static str = "A-ClArC";
    const FAMILY: Family = Family::Clarc;
    const DESCRIPTION: &'static str = "fine-tunes with the artifact added to every image's features";

    fn default_config() -> AClarcConfig {
        AClarcConfig::new()
    }
    fn check(c: &AClarcConfig) -> Result<(), String> {
        if c.batch_size == 0 || c.epochs == 0 {
            return Err("batch_size and epochs must be at least 1".into());
        }
        check_cav(&c.cav)
    }
    fn passes(c: &AClarcConfig) -> Vec<Pass> {
        vec![cav_pass(&c.cav), Pass { field: "batch_size", what: "fine-tuning", batch: c.batch_size, backward: true }]
    }
    fn work(c: &AClarcConfig, n: usize) -> f64 {
        n as f64 * (1.0 + 3.0 * c.epochs as f64)
    }
    fn run<'a>(
        &'a self,
        model: ResNet,
        data: DebiasData<'a>,
        config: &'a AClarcConfig,
        device: &'a Device,
        progress: &'a mut dyn FnMut(&DebiasProgress),
        should_stop: &'a dyn Fn() -> bool,
    ) -> impl Future<Output = Result<Outcome, DebiasError>> + 'a {
        async move { Ok(Outcome::of(a_clarc(model, data, config, device, progress, should_stop).await?.model).note(cav_note(&config.cav))) }
    }
}

/// RR-ClArC in the method registry ([`crate::Registry`]).
pub struct RrClarc;

impl TypedMethod for RrClarc {
    type Config = RrClarcConfig;
    const TAG: &'static str = "rr_clarc";
    const NAME: &'static str = "RR-ClArC";
    const FAMILY: Family = Family::Clarc;
    const DESCRIPTION: &'static str = "fine-tunes with a penalty on the gradient along the concept";

    fn default_config() -> RrClarcConfig {
        RrClarcConfig::new()
    }
    fn check(c: &RrClarcConfig) -> Result<(), String> {
        if c.batch_size == 0 || c.epochs == 0 {
            return Err("batch_size and epochs must be at least 1".into());
        }
        if c.cav.layer != Tap::Pooled {
            return Err(format!("cav.layer {:?}: RR-ClArC works only at the pooled features (\"Pooled\")", c.cav.layer));
        }
        check_cav(&c.cav)
    }
    fn passes(c: &RrClarcConfig) -> Vec<Pass> {
        vec![cav_pass(&c.cav), Pass { field: "batch_size", what: "fine-tuning", batch: c.batch_size, backward: true }]
    }
    fn work(c: &RrClarcConfig, n: usize) -> f64 {
        n as f64 * (1.0 + 3.0 * c.epochs as f64)
    }
    fn run<'a>(
        &'a self,
        model: ResNet,
        data: DebiasData<'a>,
        config: &'a RrClarcConfig,
        device: &'a Device,
        progress: &'a mut dyn FnMut(&DebiasProgress),
        should_stop: &'a dyn Fn() -> bool,
    ) -> impl Future<Output = Result<Outcome, DebiasError>> + 'a {
        async move {
            let o = rr_clarc(model, data, config, device, progress, should_stop).await?;
            let mut out = Outcome::of(o.model).note(cav_note(&config.cav));
            if let Some(&p) = o.penalties.last() {
                out = out.detail("final_penalty", f64::from(p));
            }
            if let Some(&l) = o.losses.last() {
                out = out.detail("final_loss", f64::from(l));
            }
            Ok(out)
        }
    }
}

/// Which concept labels and estimator the CAV used, in words for the report
/// (docs/METHODS.md#cav).
fn cav_note(c: &CavConfig) -> String {
    let labels = match c.labels {
        ConceptLabels::OwnAttribute => "each image's own protected attribute".to_owned(),
        ConceptLabels::AuthorsReshapeBug { batch_size } => {
            format!("the authors' code's pairing (labels of other images, batches of {batch_size}), reproducing their bug")
        }
    };
    format!("CAV ({:?}) at the {:?} layer, concept labels: {labels}", c.kind, c.layer)
}

fn check_cav(c: &CavConfig) -> Result<(), String> {
    if c.batch_size == 0 {
        return Err("cav.batch_size must be at least 1".into());
    }
    Ok(())
}

fn cav_pass(c: &CavConfig) -> Pass {
    Pass { field: "cav.batch_size", what: "collecting activations for the CAV", batch: c.batch_size, backward: false }
}
