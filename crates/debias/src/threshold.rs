//! Post-hoc thresholds on `P(y = 1)`.
//!
//! - [`thr_opt`]: DetoxAI's `NaiveThresholdOptimizer` as the paper ran it ("ThrOpt",
//!   docs/METHODS.md#thr-opt): **one global threshold** `t` from `linspace(0.1, 0.9, 20)`
//!   minimising the EqualizedOdds gap of `P(y = 1) > t` on the debias split (accuracy ignored;
//!   ties go to the lowest `t`, the code's strict `>`), applied at inference as the soft
//!   threshold `[1 − s, s]`, `s = σ(10·(p₁ − t))`.
//! - [`group_thresholds`]: one threshold per protected group, after Hardt, Price & Srebro,
//!   "Equality of Opportunity in Supervised Learning" (NeurIPS 2016). Not what the paper ran
//!   (the code has no per-group thresholds); a second method. Deterministic thresholds on a grid:
//!   the most accurate pair whose EO gap on the debias split is at most `max_eo_gap`, else the
//!   pair with the smallest gap. Hardt et al.'s randomised mixing of two thresholds (which reaches
//!   exact equalized odds on the ROC hull) is not implemented.
//! - [`tau_search`]: the τ search that ends ZhangAL and SavaniAFT (§4.3): balanced accuracy if
//!   the EO gap is below ε, else 0, maximised over `linspace(0.05, 0.95, 100)`.
//!
//! EO gaps and accuracies come from `biaslens_metrics::fairness_report`.

use biaslens_metrics::fairness_report;
use biaslens_model::{ForwardHook, ResNet};
use burn::prelude::*;
use burn::tensor::activation::softmax;

use crate::common::{check_stop, read_back};
use crate::debiased::{DebiasedModel, OutputTransform};
use crate::registry::{Family, Outcome, Pass, TypedMethod};
use crate::{DebiasData, DebiasError, DebiasProgress, Stage, check_binary};

/// `steps` evenly spaced values from `low` to `high` inclusive (`numpy.linspace`).
pub fn linspace(low: f64, high: f64, steps: usize) -> Vec<f64> {
    match steps {
        0 => vec![],
        1 => vec![low],
        _ => (0..steps)
            .map(|i| low + (high - low) * i as f64 / (steps - 1) as f64)
            .collect(),
    }
}

/// `P(y = 1) = softmax(logits)₁` of every image of `data`, in order, with `hook` active (the
/// network in evaluation mode on `device`). One read-back per batch.
///
/// # Shapes
/// `data.pixels`: `[N, C, H, W]` → `N` probabilities.
///
/// # Errors
/// [`DebiasError`] for bad data, a non-binary network, cancellation or a failed read-back.
pub async fn predict_probabilities(
    model: &ResNet,
    hook: &mut dyn ForwardHook,
    data: DebiasData<'_>,
    batch_size: usize,
    device: &Device,
    on_progress: &mut dyn FnMut(&DebiasProgress),
    should_stop: &dyn Fn() -> bool,
) -> Result<Vec<f32>, DebiasError> {
    data.validate()?;
    check_binary(model)?;
    if batch_size == 0 {
        return Err(DebiasError::Empty("batch_size must be at least 1"));
    }
    let model = model.valid().to_device(device);
    let idx: Vec<usize> = (0..data.len()).collect();
    let total = idx.len().div_ceil(batch_size);
    let mut out = Vec::with_capacity(data.len());
    for (k, chunk) in idx.chunks(batch_size).enumerate() {
        check_stop(&should_stop)?;
        let b = crate::common::batch(&data, chunk, device);
        let p1 = softmax(model.forward_hooked(b.x, hook), 1).narrow(1, 1, 1);
        let mut read = read_back(vec![p1]).await?;
        out.append(&mut read[0]);
        on_progress(&DebiasProgress::new(Stage::Predictions, k + 1, total));
    }
    Ok(out)
}

fn as_i64(v: &[u8]) -> Vec<i64> {
    v.iter().map(|&x| i64::from(x)).collect()
}

fn preds_at(p1: &[f32], t: f64) -> Vec<i64> {
    p1.iter().map(|&p| i64::from(f64::from(p) > t)).collect()
}

/// Knobs of [`thr_opt`] (defaults: the paper's config `default.yaml`).
#[derive(Config, Debug, PartialEq)]
pub struct ThrOptConfig {
    /// Lowest threshold of the grid (the class default is 0.05).
    #[config(default = 0.1)]
    pub low: f64,
    /// Highest threshold (class default 0.95).
    #[config(default = 0.9)]
    pub high: f64,
    /// Grid points (class default 100).
    #[config(default = 20)]
    pub steps: usize,
    /// Scaling of the soft threshold at inference (10 since DetoxAI 2025-02-21, 100 before).
    #[config(default = 10.0)]
    pub temperature: f64,
    /// Images per forward pass while scoring.
    #[config(default = 128)]
    pub batch_size: usize,
}

/// What [`thr_opt`] returns.
#[derive(Debug, Clone)]
pub struct ThrOptOutcome {
    /// The network with the soft-threshold output.
    pub model: DebiasedModel,
    /// The chosen threshold.
    pub threshold: f64,
    /// EO gap of `P(y = 1) > threshold` on the debias split.
    pub eo_gap: f64,
    /// `(t, EO gap)` for every grid point.
    pub grid: Vec<(f64, f64)>,
}

/// ThrOpt: one global threshold minimising the EO gap on the debias split. The weights are not
/// touched.
///
/// # Shapes
/// `data.pixels`: `[N, C, H, W]`; the network must have 2 outputs.
///
/// # Errors
/// [`DebiasError`] for bad data or settings, a non-binary network, cancellation or a failed
/// read-back.
pub async fn thr_opt(
    model: ResNet,
    data: DebiasData<'_>,
    config: &ThrOptConfig,
    device: &Device,
    mut on_progress: impl FnMut(&DebiasProgress),
    should_stop: impl Fn() -> bool,
) -> Result<ThrOptOutcome, DebiasError> {
    if config.steps == 0 {
        return Err(DebiasError::Config("ThrOpt needs at least one grid point".into()));
    }
    let p1 = predict_probabilities(
        &model,
        &mut biaslens_model::NoHook,
        data,
        config.batch_size,
        device,
        &mut on_progress,
        &should_stop,
    )
    .await?;
    let y = as_i64(data.targets);
    let a = as_i64(data.attribute);
    let mut grid = Vec::with_capacity(config.steps);
    let mut best: Option<(f64, f64)> = None;
    for t in linspace(config.low, config.high, config.steps) {
        let eo = fairness_report(&y, &preds_at(&p1, t), &a, None)?.equalized_odds.value;
        grid.push((t, eo));
        // The code keeps the first best (strict comparison of −EO).
        if best.is_none_or(|(_, b)| eo < b) {
            best = Some((t, eo));
        }
    }
    let (threshold, eo_gap) = best.ok_or(DebiasError::Empty("empty threshold grid"))?;
    Ok(ThrOptOutcome {
        model: DebiasedModel {
            model: model.valid(),
            hook: None,
            output: OutputTransform::SoftThreshold {
                threshold,
                temperature: config.temperature,
            },
        },
        threshold,
        eo_gap,
        grid,
    })
}

/// Knobs of [`group_thresholds`].
#[derive(Config, Debug, PartialEq)]
pub struct GroupThresholdConfig {
    /// Lowest threshold of the grid (per group).
    #[config(default = 0.1)]
    pub low: f64,
    /// Highest threshold.
    #[config(default = 0.9)]
    pub high: f64,
    /// Grid points per group (the pair grid has `steps²` points).
    #[config(default = 20)]
    pub steps: usize,
    /// Largest EO gap a pair may have to be chosen for its accuracy.
    #[config(default = 0.05)]
    pub max_eo_gap: f64,
    /// Scaling of the soft threshold at inference.
    #[config(default = 10.0)]
    pub temperature: f64,
    /// Images per forward pass while scoring.
    #[config(default = 128)]
    pub batch_size: usize,
}

/// What [`group_thresholds`] returns.
#[derive(Debug, Clone)]
pub struct GroupThresholdOutcome {
    /// The network with the per-group soft threshold (call
    /// [`DebiasedModel::forward_grouped`]).
    pub model: DebiasedModel,
    /// Thresholds for protected attribute 0 and 1.
    pub thresholds: [f64; 2],
    /// EO gap on the debias split at the chosen pair.
    pub eo_gap: f64,
    /// Accuracy on the debias split at the chosen pair.
    pub accuracy: f64,
    /// Whether some pair met `max_eo_gap` (otherwise the pair of smallest gap was taken).
    pub constraint_met: bool,
}

/// Per-group thresholds (Hardt et al. 2016, deterministic grid version; see the module docs).
///
/// # Shapes
/// `data.pixels`: `[N, C, H, W]`; the network must have 2 outputs.
///
/// # Errors
/// As [`thr_opt`].
pub async fn group_thresholds(
    model: ResNet,
    data: DebiasData<'_>,
    config: &GroupThresholdConfig,
    device: &Device,
    mut on_progress: impl FnMut(&DebiasProgress),
    should_stop: impl Fn() -> bool,
) -> Result<GroupThresholdOutcome, DebiasError> {
    if config.steps == 0 {
        return Err(DebiasError::Config("the threshold grid needs at least one point".into()));
    }
    let p1 = predict_probabilities(
        &model,
        &mut biaslens_model::NoHook,
        data,
        config.batch_size,
        device,
        &mut on_progress,
        &should_stop,
    )
    .await?;
    let y = as_i64(data.targets);
    let a = as_i64(data.attribute);
    let grid = linspace(config.low, config.high, config.steps);
    // (t0, t1, eo, accuracy) of the best feasible pair and of the smallest gap.
    let mut feasible: Option<(f64, f64, f64, f64)> = None;
    let mut smallest: Option<(f64, f64, f64, f64)> = None;
    for &t0 in &grid {
        for &t1 in &grid {
            let preds: Vec<i64> = p1
                .iter()
                .zip(&a)
                .map(|(&p, &g)| i64::from(f64::from(p) > if g == 1 { t1 } else { t0 }))
                .collect();
            let r = fairness_report(&y, &preds, &a, None)?;
            let cand = (t0, t1, r.equalized_odds.value, r.accuracy.value);
            if cand.2 <= config.max_eo_gap && feasible.is_none_or(|f| cand.3 > f.3) {
                feasible = Some(cand);
            }
            if smallest.is_none_or(|s| cand.2 < s.2) {
                smallest = Some(cand);
            }
        }
    }
    let constraint_met = feasible.is_some();
    let (t0, t1, eo_gap, accuracy) = feasible
        .or(smallest)
        .ok_or(DebiasError::Empty("empty threshold grid"))?;
    Ok(GroupThresholdOutcome {
        model: DebiasedModel {
            model: model.valid(),
            hook: None,
            output: OutputTransform::GroupSoftThreshold {
                thresholds: [t0, t1],
                temperature: config.temperature,
            },
        },
        thresholds: [t0, t1],
        eo_gap,
        accuracy,
        constraint_met,
    })
}

/// The τ search of DetoxAI's ZhangM / SavaniAFT (docs/METHODS.md#tau-search): over
/// `linspace(low, high, steps)`, maximise `φ(τ) = balanced accuracy if EO gap < epsilon else 0`
/// of `p₁ > τ`; the first τ that beats the best so far (starting at `1e-6`) wins, and if none
/// does, τ = 0.5. Returns `(τ, φ(τ))` (`φ = 0` when none beat `1e-6`).
///
/// # Errors
/// [`DebiasError::Metrics`] for mismatched lengths or non-binary labels.
pub fn tau_search(
    p1: &[f32],
    targets: &[u8],
    attribute: &[u8],
    low: f64,
    high: f64,
    steps: usize,
    epsilon: f64,
) -> Result<(f64, f64), DebiasError> {
    let y = as_i64(targets);
    let a = as_i64(attribute);
    let (mut tau, mut best) = (0.5, 1e-6);
    let mut found = false;
    for t in linspace(low, high, steps) {
        let r = fairness_report(&y, &preds_at(p1, t), &a, None)?;
        let phi = if r.equalized_odds.value < epsilon {
            r.balanced_accuracy.value
        } else {
            0.0
        };
        if phi > best {
            best = phi;
            tau = t;
            found = true;
        }
    }
    Ok((tau, if found { best } else { 0.0 }))
}

/// The τ search on `n_eval_batches · batch_size` images of `data` drawn without replacement by
/// the seeded generator (DetoxAI draws `n_eval_batches` batches from the shuffled debias
/// loader).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn tau_on_subset(
    model: &ResNet,
    data: DebiasData<'_>,
    n_eval: usize,
    seed: u64,
    (low, high, steps, epsilon): (f64, f64, usize, f64),
    device: &Device,
    on_progress: &mut dyn FnMut(&DebiasProgress),
    should_stop: &dyn Fn() -> bool,
) -> Result<(f64, f64), DebiasError> {
    let mut rng = biaslens_rng::SplitMix64::new(seed);
    let mut idx = crate::common::permutation(data.len(), &mut rng);
    idx.truncate(n_eval.clamp(1, data.len()));
    let per = data.per_image();
    let mut pixels = Vec::with_capacity(idx.len() * per);
    let (mut targets, mut attribute) = (Vec::new(), Vec::new());
    for &i in &idx {
        pixels.extend_from_slice(&data.pixels[i * per..(i + 1) * per]);
        targets.push(data.targets[i]);
        attribute.push(data.attribute[i]);
    }
    let sub = DebiasData {
        pixels: &pixels,
        targets: &targets,
        attribute: &attribute,
        image: data.image,
    };
    let p1 = predict_probabilities(
        model,
        &mut biaslens_model::NoHook,
        sub,
        128,
        device,
        on_progress,
        should_stop,
    )
    .await?;
    tau_search(&p1, &targets, &attribute, low, high, steps, epsilon)
}

/// ThrOpt in the method registry ([`crate::Registry`]).
pub struct ThrOpt;

impl TypedMethod for ThrOpt {
    type Config = ThrOptConfig;
    const TAG: &'static str = "thr_opt";
    const NAME: &'static str = "ThrOpt";
    const FAMILY: Family = Family::Threshold;
    const DESCRIPTION: &'static str = "one global decision threshold minimising the EO gap (post-processing)";

    fn default_config() -> ThrOptConfig {
        ThrOptConfig::new()
    }
    fn check(c: &ThrOptConfig) -> Result<(), String> {
        if c.steps == 0 || c.batch_size == 0 {
            return Err("steps and batch_size must be at least 1".into());
        }
        Ok(())
    }
    fn passes(c: &ThrOptConfig) -> Vec<Pass> {
        vec![Pass { field: "batch_size", what: "predictions on the debias split", batch: c.batch_size, backward: false }]
    }
    fn work(_: &ThrOptConfig, n: usize) -> f64 {
        n as f64
    }
    fn run<'a>(
        &'a self,
        model: ResNet,
        data: DebiasData<'a>,
        config: &'a ThrOptConfig,
        device: &'a Device,
        progress: &'a mut dyn FnMut(&DebiasProgress),
        should_stop: &'a dyn Fn() -> bool,
    ) -> impl Future<Output = Result<Outcome, DebiasError>> + 'a {
        async move {
            let o = thr_opt(model, data, config, device, progress, should_stop).await?;
            Ok(Outcome::of(o.model).detail("threshold", o.threshold).detail("eo_gap_debias_split", o.eo_gap))
        }
    }
}

/// Per-group thresholds in the method registry ([`crate::Registry`]).
pub struct GroupThresholds;

impl TypedMethod for GroupThresholds {
    type Config = GroupThresholdConfig;
    const TAG: &'static str = "group_thresholds";
    const NAME: &'static str = "GroupThr";
    const FAMILY: Family = Family::Threshold;
    const DESCRIPTION: &'static str = "a threshold per protected group (Hardt et al.)";

    fn default_config() -> GroupThresholdConfig {
        GroupThresholdConfig::new()
    }
    fn check(c: &GroupThresholdConfig) -> Result<(), String> {
        if c.steps == 0 || c.batch_size == 0 {
            return Err("steps and batch_size must be at least 1".into());
        }
        Ok(())
    }
    fn passes(c: &GroupThresholdConfig) -> Vec<Pass> {
        vec![Pass { field: "batch_size", what: "predictions on the debias split", batch: c.batch_size, backward: false }]
    }
    fn work(_: &GroupThresholdConfig, n: usize) -> f64 {
        n as f64
    }
    fn run<'a>(
        &'a self,
        model: ResNet,
        data: DebiasData<'a>,
        config: &'a GroupThresholdConfig,
        device: &'a Device,
        progress: &'a mut dyn FnMut(&DebiasProgress),
        should_stop: &'a dyn Fn() -> bool,
    ) -> impl Future<Output = Result<Outcome, DebiasError>> + 'a {
        async move {
            let o = group_thresholds(model, data, config, device, progress, should_stop).await?;
            Ok(Outcome::of(o.model)
                .detail("threshold_attribute_0", o.thresholds[0])
                .detail("threshold_attribute_1", o.thresholds[1])
                .detail("eo_gap_debias_split", o.eo_gap)
                .detail("constraint_met", f64::from(u8::from(o.constraint_met))))
        }
    }
}
