//! The debiased classifier: a [`ResNet`], an optional ClArC projection at one [`Tap`]
//! (Anders et al., "Finding and removing Clever Hans", Information Fusion 2022) and an optional
//! transform of the logits (the soft threshold of DetoxAI's post-hoc methods; per-group
//! thresholds after Hardt, Price & Srebro, "Equality of Opportunity in Supervised Learning",
//! NeurIPS 2016).
//!
//! The authors attach the threshold as a forward hook on `fc` that *replaces* the logits with
//! `[1 − s, s]`, `s = σ(T·(softmax(z)₁ − t))` (docs/METHODS.md#soft-threshold). `biaslens_model`
//! has no hook point after `fc`, so this crate wraps the network instead:
//! [`DebiasedModel::forward`] is network (with the projection at its tap) → `fc` → transform.
//! Attribution code should call exactly this function.

use biaslens_model::{ForwardHook, NoHook, ResNet, Tap};
use burn::prelude::*;
use burn::tensor::activation::{sigmoid, softmax};
use serde::{Deserialize, Serialize};

use crate::DebiasError;

/// The ClArC projection of the activations at one [`Tap`] (DetoxAI `clarc_hook`):
/// `x ↦ x − α·((x.detach() − z)·v) vᵀ`, with `v` the unit CAV and `z` a reference mean
/// (P-ClArC: the mean of samples without the artifact; A-ClArC: with it). A feature map
/// `[N, C, H, W]` is projected as the flattened vectors `[N, C·H·W]` its CAV was fitted on.
///
/// The correction is computed on detached activations, as in the authors' code, so gradients
/// pass through as the identity. The code adds `1e-8` to `v` and `z`; that is left out here (it
/// changes activations by ~1e-8 relative).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClarcProjection {
    /// Unit concept direction `v` (length `feature_dim`).
    pub cav: Vec<f32>,
    /// Reference point `z` (length `feature_dim`).
    pub reference: Vec<f32>,
    /// Strength `α` (the code's 1.0 removes the component along `v` entirely).
    pub alpha: f32,
    /// Where the projection acts (the authors': [`Tap::Pooled`]).
    pub tap: Tap,
}

impl ClarcProjection {
    /// Applies the projection.
    ///
    /// # Shapes
    /// `x`: `[N, D]` with `D = cav.len()` → `[N, D]`, on `x`'s device.
    pub fn project(&self, x: Tensor<2>) -> Tensor<2> {
        let device = x.device();
        let d = self.cav.len();
        let v = Tensor::<2>::from_data(TensorData::new(self.cav.clone(), [d, 1]), &device);
        let z = Tensor::<2>::from_data(TensorData::new(self.reference.clone(), [1, d]), &device);
        let along = (x.clone().detach() - z).matmul(v.clone()); // [N, 1]
        x - along.matmul(v.transpose()).mul_scalar(self.alpha)
    }

    /// Applies the projection to a feature map, flattened per image.
    ///
    /// # Shapes
    /// `x`: `[N, C, H, W]` with `C·H·W = cav.len()` → `[N, C, H, W]`.
    pub fn project_map(&self, x: Tensor<4>) -> Tensor<4> {
        let dims = x.dims();
        let [n, c, h, w] = dims;
        self.project(x.reshape([n, c * h * w])).reshape(dims)
    }
}

impl ForwardHook for ClarcProjection {
    fn feature_map(&mut self, tap: Tap, x: Tensor<4>) -> Tensor<4> {
        if tap == self.tap {
            self.project_map(x)
        } else {
            x
        }
    }

    fn pooled(&mut self, x: Tensor<2>) -> Tensor<2> {
        if self.tap == Tap::Pooled {
            self.project(x)
        } else {
            x
        }
    }
}

/// Applies an optional projection and records the activations at one tap, flattened.
struct Record<'a> {
    tap: Tap,
    projection: Option<&'a ClarcProjection>,
    seen: Option<Tensor<2>>,
}

impl ForwardHook for Record<'_> {
    fn feature_map(&mut self, tap: Tap, x: Tensor<4>) -> Tensor<4> {
        let x = match self.projection {
            Some(p) if p.tap == tap => p.project_map(x),
            _ => x,
        };
        if tap == self.tap {
            let [n, c, h, w] = x.dims();
            self.seen = Some(x.clone().reshape([n, c * h * w]));
        }
        x
    }

    fn pooled(&mut self, x: Tensor<2>) -> Tensor<2> {
        let x = match self.projection {
            Some(p) if p.tap == Tap::Pooled => p.project(x),
            _ => x,
        };
        if self.tap == Tap::Pooled {
            self.seen = Some(x.clone());
        }
        x
    }
}

/// The activations of `model` at `tap`, flattened per image, with `projection` (if any) applied
/// where it acts.
///
/// # Shapes
/// `x`: `[N, 3, H, W]` → `[N, D]` (`D = C·H·W` of the tap, or `feature_dim` at
/// [`Tap::Pooled`]).
pub(crate) fn activations_at(
    model: &ResNet,
    x: Tensor<4>,
    tap: Tap,
    projection: Option<&ClarcProjection>,
) -> Tensor<2> {
    let mut rec = Record {
        tap,
        projection,
        seen: None,
    };
    let logits = model.forward_hooked(x, &mut rec);
    // Every tap is visited by `forward_hooked`; the fallback only keeps this total.
    rec.seen.unwrap_or(logits)
}

/// What replaces the logits after `fc`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub enum OutputTransform {
    /// The logits themselves.
    #[default]
    Identity,
    /// `[1 − s, s]` with `s = σ(temperature·(softmax(z)₁ − threshold))`: the argmax is
    /// `P(y = 1) > threshold` (ThrOpt, and the τ hook of ZhangAL and SavaniAFT).
    SoftThreshold {
        /// `t` on `P(y = 1)`.
        threshold: f64,
        /// The code's scaling factor (10 since 2025-02-21; 100 before).
        temperature: f64,
    },
    /// As [`OutputTransform::SoftThreshold`] with the threshold of each sample's group
    /// (`thresholds[a]` for protected attribute `a`). Needs the group of every input.
    GroupSoftThreshold {
        /// Thresholds for protected attribute 0 and 1.
        thresholds: [f64; 2],
        /// Scaling factor.
        temperature: f64,
    },
}

impl OutputTransform {
    /// Applies the transform. `groups` holds the protected attribute per row (needed only by
    /// [`OutputTransform::GroupSoftThreshold`]).
    ///
    /// # Shapes
    /// `logits`: `[N, K]` → `[N, K]` (`K = 2` for the thresholds); `groups`: `N` values.
    ///
    /// # Errors
    /// [`DebiasError::NeedsGroups`] for a group transform without `groups`;
    /// [`DebiasError::Shape`] if `groups` has the wrong length or a threshold meets `K ≠ 2`.
    pub fn apply(&self, logits: Tensor<2>, groups: Option<&[u8]>) -> Result<Tensor<2>, DebiasError> {
        let [n, k] = logits.dims();
        let (t, temperature): (Tensor<2>, f64) = match self {
            Self::Identity => return Ok(logits),
            Self::SoftThreshold {
                threshold,
                temperature,
            } => (
                Tensor::full([n, 1], *threshold as f32, &logits.device()),
                *temperature,
            ),
            Self::GroupSoftThreshold {
                thresholds,
                temperature,
            } => {
                let g = groups.ok_or(DebiasError::NeedsGroups)?;
                if g.len() != n {
                    return Err(DebiasError::Shape(format!(
                        "{} group values for {n} inputs",
                        g.len()
                    )));
                }
                let v: Vec<f32> = g
                    .iter()
                    .map(|&a| thresholds[usize::from(a != 0)] as f32)
                    .collect();
                (
                    Tensor::from_data(TensorData::new(v, [n, 1]), &logits.device()),
                    *temperature,
                )
            }
        };
        if k != 2 {
            return Err(DebiasError::Shape(format!(
                "a threshold needs 2 logits per input, got {k}"
            )));
        }
        let p1 = softmax(logits, 1).narrow(1, 1, 1);
        let s = sigmoid((p1 - t).mul_scalar(temperature as f32));
        Ok(Tensor::cat(vec![s.clone().neg().add_scalar(1.0), s], 1))
    }

    /// Whether [`OutputTransform::apply`] needs the groups.
    pub fn needs_groups(&self) -> bool {
        matches!(self, Self::GroupSoftThreshold { .. })
    }
}

/// A debiased classifier: network, optional pooled-feature projection, output transform.
#[derive(Debug, Clone)]
pub struct DebiasedModel {
    /// The (possibly fine-tuned) network, on the plain device, BatchNorm in evaluation mode.
    pub model: ResNet,
    /// A projection that stays attached at inference (P-ClArC; A-ClArC in the authors' code).
    pub hook: Option<ClarcProjection>,
    /// What replaces the logits.
    pub output: OutputTransform,
}

impl DebiasedModel {
    /// The network as it is (no hook, identity output).
    pub fn plain(model: ResNet) -> Self {
        Self {
            model,
            hook: None,
            output: OutputTransform::Identity,
        }
    }

    /// The network's logits with the pooled hook applied, before the output transform.
    ///
    /// # Shapes
    /// `[N, 3, H, W]` → `[N, num_classes]`.
    pub fn logits(&self, x: Tensor<4>) -> Tensor<2> {
        match &self.hook {
            Some(h) => self.model.forward_hooked(x, &mut h.clone()),
            None => self.model.forward_hooked(x, &mut NoHook),
        }
    }

    /// The activations at `tap` as the rest of the network sees them (after the hook, if it
    /// acts there or earlier), flattened per image. At [`Tap::Pooled`] this is what `fc` sees.
    ///
    /// # Shapes
    /// `[N, 3, H, W]` → `[N, D]` (`D = C·H·W` of the tap, `feature_dim` at [`Tap::Pooled`]).
    pub fn activations(&self, x: Tensor<4>, tap: Tap) -> Tensor<2> {
        activations_at(&self.model, x, tap, self.hook.as_ref())
    }

    /// What the debiased classifier outputs.
    ///
    /// # Shapes
    /// `[N, 3, H, W]` → `[N, num_classes]`.
    ///
    /// # Errors
    /// [`DebiasError::NeedsGroups`] for a per-group threshold (use
    /// [`DebiasedModel::forward_grouped`]).
    pub fn forward(&self, x: Tensor<4>) -> Result<Tensor<2>, DebiasError> {
        self.output.apply(self.logits(x), None)
    }

    /// What the debiased classifier outputs, given the protected attribute of each input.
    ///
    /// # Shapes
    /// `x`: `[N, 3, H, W]`, `attribute`: `N` values → `[N, num_classes]`.
    ///
    /// # Errors
    /// [`DebiasError::Shape`] if `attribute` does not have `N` values.
    pub fn forward_grouped(&self, x: Tensor<4>, attribute: &[u8]) -> Result<Tensor<2>, DebiasError> {
        self.output.apply(self.logits(x), Some(attribute))
    }

    /// The same classifier with the network frozen, for attribution: burn's BatchNorm uses batch
    /// statistics whenever its input is on an autodiff device and the layer is not frozen, so an
    /// attribution through an unfrozen network would explain a different function. The hook and
    /// the output transform hold no parameters. Gradients through a [`ClarcProjection`] pass as
    /// the identity (its correction is computed on detached activations, as in the authors'
    /// code, which zennit then differentiated the same way).
    pub fn frozen(self) -> Self {
        Self {
            model: self.model.freeze(),
            ..self
        }
    }

    /// The layer the hook sits at, if any.
    pub fn hook_tap(&self) -> Option<Tap> {
        self.hook.as_ref().map(|h| h.tap)
    }
}
