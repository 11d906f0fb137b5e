//! Attribution maps for image classifiers, on any burn device.
//!
//! - [`gradient`] and [`gradient_x_input`]: the input gradient (Simonyan et al., 2014) and
//!   gradient × input (Shrikumar et al., "Not Just a Black Box", 2016; Ancona et al., ICLR 2018).
//! - [`integrated_gradients`]: Integrated Gradients (Sundararajan, Taly & Yan, "Axiomatic
//!   Attribution for Deep Networks", ICML 2017) with Captum 0.9's quadrature rules and Zennit
//!   1.0's variant (the one the paper under study used), chunked and cancellable.
//! - [`smooth_grad`]: SmoothGrad (Smilkov et al., "SmoothGrad: removing noise by adding noise",
//!   2017), seeded with the project's `biaslens_rng::SplitMix64`.
//!
//! - [`lrp`]: Layer-wise Relevance Propagation (Bach et al., PLOS ONE 2015; Montavon et al.,
//!   2019) with Zennit 1.0's rules, composites and ResNet canonizer, for the ResNets of
//!   `biaslens-model` ([`lrp_resnet`]).
//! - [`concept_relevance`]: the relevance of a concept direction (a CAV) at a layer, carried to
//!   the pixels by LRP or gradient × input, to find where an artifact is (Pahde et al., "Reveal
//!   to Revise", MICCAI 2023; `docs/METHODS.md#localise`).
//!
//! Every gradient method takes the model as `forward: impl Fn(Tensor<4>) -> Tensor<2>`, so it
//! works for any network (burn's autodiff computes the gradient), or, through its `_with` variant,
//! as a [`GradModel`]: [`ResNetGrad`] computes the input gradient of a `biaslens-model` ResNet by
//! a hand-written backward walk ([`resnet_input_grad`]), equal to autodiff's and faster. The model may live on an autodiff device or not (its parameters are then
//! constants); the input is moved onto autodiff internally. **Freeze a model with BatchNorm**
//! (`Module::freeze`) before attributing: burn's BatchNorm takes its training path (batch
//! statistics) whenever its input is on autodiff and the layer is not frozen, which would give
//! maps of a different function. Results stay on the device: nothing
//! here reads a tensor back, so the functions are safe in the browser, where only asynchronous
//! reads work.

mod baseline;
pub mod concept;
mod gradient;
mod ig;
pub mod lrp;
mod resnet_grad;
mod resnet_host;
mod smoothgrad;

pub use baseline::{Baseline, gaussian_blur};
pub use concept::{ConceptMethod, concept_relevance};
pub use gradient::{gradient, gradient_with, gradient_x_input, gradient_x_input_with};
pub use ig::{
    IgConfig, IgMethod, IgOutput, integrated_gradients, integrated_gradients_with, quadrature,
};
pub use lrp::{
    Composite, LayerRules, LrpConfig, LrpOutput, LrpTrace, Rule, lrp_resnet, lrp_resnet_traced,
    lrp_resnet_with_output, output_relevance,
};
pub use resnet_grad::{OutputFn, ResNetGrad, resnet_input_grad};
pub use smoothgrad::{SmoothGradConfig, smooth_grad, smooth_grad_with};

use burn::prelude::*;
use serde::{Deserialize, Serialize};

/// Why an attribution was not computed.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum AttributionError {
    /// `should_stop` returned true between two chunks.
    #[error("cancelled after {done} of {total} chunks")]
    Cancelled {
        /// Chunks finished before the stop.
        done: usize,
        /// Chunks planned.
        total: usize,
    },
    /// Not one target per image.
    #[error("{got} targets for a batch of {batch} images: give one class index per image")]
    TargetCount {
        /// Number of targets given.
        got: usize,
        /// Number of images.
        batch: usize,
    },
    /// A target is not a class of the model.
    #[error(
        "target {target} of image {image} is not a class of this model (it has {classes}): use 0..{classes}"
    )]
    TargetOutOfRange {
        /// Image index.
        image: usize,
        /// The class index given.
        target: usize,
        /// Number of model outputs.
        classes: usize,
    },
    /// A setting is out of its range.
    #[error("invalid setting: {0}")]
    Config(String),
    /// A user-given baseline does not match the input.
    #[error(
        "baseline shape {got:?} differs from the input's {want:?}: give one baseline per image"
    )]
    BaselineShape {
        /// Baseline shape.
        got: [usize; 4],
        /// Input shape.
        want: [usize; 4],
    },
}

/// The vector the backward pass starts from (the "output relevance").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum OutputRelevance {
    /// One-hot of the target: the gradient of the target logit `z_t` (Captum's `target=`).
    #[default]
    OneHot,
    /// The target logit times its one-hot, `z_t e_t` (Zennit's `attr_output = output * onehot`,
    /// as the paper's code does). For gradients this is the gradient of `½ z_t²`.
    LogitOneHot,
}

/// Progress of a chunked computation: `done` of `total` chunks finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Chunks finished.
    pub done: usize,
    /// Chunks planned.
    pub total: usize,
}

/// Checks one target per image, each `< classes`.
fn check_targets(targets: &[usize], batch: usize, classes: usize) -> Result<(), AttributionError> {
    if targets.len() != batch {
        return Err(AttributionError::TargetCount {
            got: targets.len(),
            batch,
        });
    }
    match targets.iter().enumerate().find(|&(_, &t)| t >= classes) {
        Some((image, &target)) => Err(AttributionError::TargetOutOfRange {
            image,
            target,
            classes,
        }),
        None => Ok(()),
    }
}

/// `[R, K]` one-hot rows for `targets` (already checked), each scaled by `weights[r]`.
fn weighted_onehot(
    targets: &[usize],
    weights: &[f32],
    classes: usize,
    device: &Device,
) -> Tensor<2> {
    let rows = targets.len();
    let mut m = vec![0.0f32; rows * classes];
    for (r, (&t, &w)) in targets.iter().zip(weights).enumerate() {
        m[r * classes + t] = w;
    }
    Tensor::from_data(TensorData::new(m, [rows, classes]), device)
}

/// The weighted input gradient of a batch of points, one target and weight per row.
///
/// Returns `(Σ_r w_r ∂(r_out · z)/∂points, logits)` without autodiff, where `r_out` is the
/// output relevance of each row.
///
/// # Shapes
/// - `points`: `[R, C, H, W]`; `targets`, `weights`: `R` each; returns `[R, C, H, W]`, `[R, K]`
fn weighted_grad(
    forward: &impl Fn(Tensor<4>) -> Tensor<2>,
    points: Tensor<4>,
    targets: &[usize],
    weights: &[f32],
    relevance: OutputRelevance,
) -> Result<(Tensor<4>, Tensor<2>), AttributionError> {
    let points = points.inner().autodiff().require_grad();
    let logits = forward(points.clone());
    let seed = output_seed(&logits, targets, weights, relevance)?;
    let grads = (logits.clone() * seed).sum().backward();
    let grad = match points.grad(&grads) {
        Some(g) => g,
        // The output does not depend on the input at all: its gradient is zero.
        None => points.clone().inner().zeros_like(),
    };
    Ok((grad, logits.inner()))
}

/// A model whose weighted input gradient the gradient methods need: either a plain `forward`
/// closure differentiated by burn's autodiff ([`AutodiffGrad`]) or a ResNet walked by hand
/// ([`ResNetGrad`]). The `_with` variants of [`integrated_gradients`], [`smooth_grad`],
/// [`gradient`] and [`gradient_x_input`] take one.
pub trait GradModel {
    /// The model's output (no gradient).
    ///
    /// # Shapes
    /// - `x`: `[R, C, H, W]`; returns `[R, K]` without autodiff
    ///
    /// # Errors
    /// When the model cannot be evaluated (e.g. an output transform refuses the batch).
    fn forward(&mut self, x: Tensor<4>) -> Result<Tensor<2>, AttributionError>;

    /// `Σ_r w_r ∂(r_out,r · y_r)/∂points` with `y` the model's output and `r_out,r` the output
    /// relevance of row `r` ([`OutputRelevance`] of `targets[r]`), and the output `y`.
    ///
    /// # Shapes
    /// - `points`: `[R, C, H, W]`; `targets`, `weights`: `R` each
    /// - returns `[R, C, H, W]`, `[R, K]`, both without autodiff
    ///
    /// # Errors
    /// [`AttributionError::TargetCount`] / [`AttributionError::TargetOutOfRange`] for bad targets.
    fn weighted_grad(
        &mut self,
        points: Tensor<4>,
        targets: &[usize],
        weights: &[f32],
        relevance: OutputRelevance,
    ) -> Result<(Tensor<4>, Tensor<2>), AttributionError>;

    /// `Σ_{s ∈ steps} w_s ∂(r_out · y)/∂p` at the points `p_s = baseline + α_s · diff` of
    /// `path`, summed per image: one chunk of Integrated Gradients.
    ///
    /// The default builds the points and calls [`GradModel::weighted_grad`]. A model whose first
    /// layer is linear may instead compute that layer once per path: [`ResNetGrad`] on host
    /// memory convolves the two ends once and takes each point's stem output as
    /// `conv(baseline) + α_s · conv(diff)` (`docs/METHODS.md#resnet-grad`, "A straight path").
    ///
    /// # Shapes
    /// - `path`: `[N, C, H, W]` ends; `targets`: `N`; returns `[N, C, H, W]`
    ///
    /// # Errors
    /// As [`GradModel::weighted_grad`].
    fn path_grad(
        &mut self,
        path: &StraightPath,
        steps: std::ops::Range<usize>,
        targets: &[usize],
        relevance: OutputRelevance,
    ) -> Result<Tensor<4>, AttributionError> {
        points_path_grad(self, path, steps, targets, relevance)
    }
}

/// A model with its gradients but without its own [`GradModel::path_grad`]: Integrated Gradients
/// then evaluates every path point in full, as the model's own forward pass would. For
/// comparisons: a [`ResNetGrad`] given every point makes autodiff's very operations
/// (`tests/ig_precision.rs`), and the benchmark times the stem once per path against it.
#[derive(Debug)]
pub struct PointByPoint<'a, M: GradModel + ?Sized>(pub &'a mut M);

impl<M: GradModel + ?Sized> GradModel for PointByPoint<'_, M> {
    fn forward(&mut self, x: Tensor<4>) -> Result<Tensor<2>, AttributionError> {
        self.0.forward(x)
    }

    fn weighted_grad(
        &mut self,
        points: Tensor<4>,
        targets: &[usize],
        weights: &[f32],
        relevance: OutputRelevance,
    ) -> Result<(Tensor<4>, Tensor<2>), AttributionError> {
        self.0.weighted_grad(points, targets, weights, relevance)
    }
}

/// [`GradModel::path_grad`] by its points: what a model without its own path gradient does.
///
/// # Shapes
/// - as [`GradModel::path_grad`]
pub(crate) fn points_path_grad(
    model: &mut (impl GradModel + ?Sized),
    path: &StraightPath,
    steps: std::ops::Range<usize>,
    targets: &[usize],
    relevance: OutputRelevance,
) -> Result<Tensor<4>, AttributionError> {
    let (_, weights) = path.steps(steps.clone())?;
    items_grad(model, path.points(steps), weights, targets, relevance)
}

/// One row per item and image (item-major: item `s` of image `i` at row `s·n + i`): each row's
/// target and its item's weight.
pub(crate) fn item_rows(targets: &[usize], item_weights: &[f32]) -> (Vec<usize>, Vec<f32>) {
    let n = targets.len();
    let row_targets = item_weights.iter().flat_map(|_| targets.iter().copied()).collect();
    let row_weights = item_weights.iter().flat_map(|&w| std::iter::repeat_n(w, n)).collect();
    (row_targets, row_weights)
}

/// A straight path `baseline + α_s · diff` and its quadrature (`α_s`, `w_s`), as Integrated
/// Gradients hands it to [`GradModel::path_grad`] chunk by chunk. Each path has an id of its
/// own, so a model may keep what it computes once per path between chunks.
#[derive(Debug, Clone)]
pub struct StraightPath {
    id: u64,
    /// `[N, C, H, W]`.
    pub baseline: Tensor<4>,
    /// `x − baseline`, `[N, C, H, W]`.
    pub diff: Tensor<4>,
    /// Positions on the path, one per step.
    pub alphas: Vec<f32>,
    /// Quadrature weights, one per step.
    pub weights: Vec<f32>,
}

impl StraightPath {
    /// The path from `baseline` along `diff` with steps at `alphas`, weighted by `weights`.
    ///
    /// # Errors
    /// [`AttributionError::Config`] when the ends differ in shape or the steps in number.
    pub fn new(
        baseline: Tensor<4>,
        diff: Tensor<4>,
        alphas: Vec<f32>,
        weights: Vec<f32>,
    ) -> Result<Self, AttributionError> {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        if baseline.dims() != diff.dims() || alphas.len() != weights.len() {
            return Err(AttributionError::Config(format!(
                "a path from {:?} along {:?} with {} positions and {} weights",
                baseline.dims(),
                diff.dims(),
                alphas.len(),
                weights.len()
            )));
        }
        let id = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(Self { id, baseline, diff, alphas, weights })
    }

    /// The positions and weights of `steps`.
    ///
    /// # Errors
    /// [`AttributionError::Config`] for steps beyond the path's.
    pub fn steps(&self, steps: std::ops::Range<usize>) -> Result<(&[f32], &[f32]), AttributionError> {
        match (self.alphas.get(steps.clone()), self.weights.get(steps.clone())) {
            (Some(a), Some(w)) => Ok((a, w)),
            _ => Err(AttributionError::Config(format!(
                "steps {steps:?} are not on a path of {} steps",
                self.alphas.len()
            ))),
        }
    }

    /// The path's own id (unique in this process).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The points of `steps`, step-major: step `s` of image `i` at row `(s − steps.start)·N + i`.
    ///
    /// # Shapes
    /// returns `[steps.len()·N, C, H, W]`
    pub fn points(&self, steps: std::ops::Range<usize>) -> Tensor<4> {
        Tensor::cat(
            steps
                .map(|s| self.baseline.clone() + self.diff.clone().mul_scalar(self.alphas[s]))
                .collect(),
            0,
        )
    }
}

/// Any `forward` closure as a [`GradModel`], differentiated by burn's autodiff.
#[derive(Debug, Clone, Copy)]
pub struct AutodiffGrad<F>(pub F);

impl<F: Fn(Tensor<4>) -> Tensor<2>> GradModel for AutodiffGrad<F> {
    fn forward(&mut self, x: Tensor<4>) -> Result<Tensor<2>, AttributionError> {
        Ok((self.0)(x).inner())
    }

    fn weighted_grad(
        &mut self,
        points: Tensor<4>,
        targets: &[usize],
        weights: &[f32],
        relevance: OutputRelevance,
    ) -> Result<(Tensor<4>, Tensor<2>), AttributionError> {
        weighted_grad(&self.0, points, targets, weights, relevance)
    }
}

/// The gradient at a model's output `y` (`[R, K]`) from which the backward pass computes
/// `Σ_r w_r ∂(r_out,r · y_r)`: `w_r e_t` (one-hot) or `w_r y_t e_t` (logit × one-hot, the output
/// taken as a constant, as [`weighted_grad`] does).
///
/// # Shapes
/// - `outputs`: `[R, K]`; `targets`, `weights`: `R` each; returns `[R, K]`
fn output_seed(
    outputs: &Tensor<2>,
    targets: &[usize],
    weights: &[f32],
    relevance: OutputRelevance,
) -> Result<Tensor<2>, AttributionError> {
    let [rows, classes] = outputs.dims();
    check_targets(targets, rows, classes)?;
    let mask = weighted_onehot(targets, weights, classes, &outputs.device());
    Ok(match relevance {
        OutputRelevance::OneHot => mask,
        OutputRelevance::LogitOneHot => outputs.clone().detach() * mask,
    })
}

/// `F(z)` per image for the output relevance: `z_t` (one-hot) or `½ z_t²` (logit × one-hot), the
/// function whose gradient the backward pass computes.
///
/// # Shapes
/// - `logits`: `[N, K]`; returns `[N]`
fn relevance_function(
    logits: Tensor<2>,
    targets: &[usize],
    relevance: OutputRelevance,
) -> Tensor<1> {
    let [n, k] = logits.dims();
    let ones = vec![1.0f32; n];
    let z = (logits.clone() * weighted_onehot(targets, &ones, k, &logits.device()))
        .sum_dim(1)
        .reshape([n]);
    match relevance {
        OutputRelevance::OneHot => z,
        OutputRelevance::LogitOneHot => z.clone() * z * 0.5,
    }
}

/// `Σ_s t[s·n .. (s+1)·n]`: the sum of `m` consecutive blocks of `n` rows (the per-image sum of
/// a chunk's path points or noisy copies).
///
/// Written with slices and additions on purpose: the obvious `reshape([m, n, c, h, w])
/// .sum_dim(0)` gives wrong sums on burn 0.22's WebGPU backend when the tensor comes out of a
/// backward pass (found by the browser test: the gradients were right, their 5-d reshaped sum
/// was not), while slicing along the batch axis is exact on every device.
///
/// # Shapes
/// - `t`: `[m·n, C, H, W]`; returns `[n, C, H, W]`
fn sum_row_blocks(t: Tensor<4>, m: usize) -> Tensor<4> {
    let n = t.dims()[0] / m.max(1);
    let mut acc = t.clone().narrow(0, 0, n);
    for s in 1..m {
        acc = acc + t.clone().narrow(0, s * n, n);
    }
    acc
}

/// `Σ_s w_s ∂(r_out · z)/∂point` per image of `points` (`m` items per image, item-major: item
/// `s` of image `i` at row `s·n + i`, with `m = item_weights.len()`).
///
/// # Shapes
/// - `points`: `[m·n, C, H, W]`; `targets`: `n`; returns `[n, C, H, W]`
fn items_grad(
    model: &mut (impl GradModel + ?Sized),
    points: Tensor<4>,
    item_weights: &[f32],
    targets: &[usize],
    relevance: OutputRelevance,
) -> Result<Tensor<4>, AttributionError> {
    let (row_targets, row_weights) = item_rows(targets, item_weights);
    let (grad, _) = model.weighted_grad(points, &row_targets, &row_weights, relevance)?;
    Ok(sum_row_blocks(grad, item_weights.len()))
}

/// The shared loop of the path and sampling methods (IG, SmoothGrad): `items` points per image
/// (path steps or noisy copies), processed `per_chunk` at a time so memory stays bounded.
/// For each chunk `chunk_grad(range)` gives that chunk's `Σ w_s ∂(r_out · z)/∂point` per image;
/// the result is their sum. `should_stop` is asked before each chunk
/// ([`AttributionError::Cancelled`]); `progress` is told after each.
///
/// # Shapes
/// - `zeros`, each chunk's gradient and the result: `[n, C, H, W]`
fn chunked_weighted_grad(
    zeros: Tensor<4>,
    (items, per_chunk): (usize, usize),
    should_stop: impl Fn() -> bool,
    progress: &mut impl FnMut(Progress),
    mut chunk_grad: impl FnMut(std::ops::Range<usize>) -> Result<Tensor<4>, AttributionError>,
) -> Result<Tensor<4>, AttributionError> {
    let mut sum = zeros;
    let total = items.div_ceil(per_chunk);
    for chunk in 0..total {
        if should_stop() {
            return Err(AttributionError::Cancelled { done: chunk, total });
        }
        let first = chunk * per_chunk;
        sum = sum + chunk_grad(first..(first + per_chunk).min(items))?;
        progress(Progress {
            done: chunk + 1,
            total,
        });
    }
    Ok(sum)
}
