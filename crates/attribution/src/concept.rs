//! The relevance of a concept direction (a CAV) for every input pixel: where in the image the
//! network sees the concept (`docs/METHODS.md#localise`).
//!
//! Reveal to Revise (Pahde, Dreyer, Samek & Lapuschkin, MICCAI 2023) localises an artifact by
//! explaining not a class logit but the latent activation projected on the artifact's CAV `v` at
//! the CAV's layer: LRP is started there with the relevance `a ⊙ v` (each feature's share of
//! `a · v`) and propagated to the pixels with the model's usual rules. This module computes that
//! map for the ResNets of `biaslens-model`, for a direction given as plain numbers (the
//! `biaslens_debias::Cav::direction` the ClArC methods fit), without knowing where it came from:
//!
//! - [`ConceptMethod::Lrp`] (only at [`Tap::Pooled`], where the ClArC methods fit their CAVs by
//!   default): the network's `fc` is replaced by the one-output linear layer `z = a · v` (no
//!   bias) and LRP starts from `z` itself, so `fc`'s Epsilon rule gives exactly
//!   `R_i = a_i v_i · z / (z + ε·sign z)` ≈ `a_i v_i` at the pooled features; every layer below
//!   keeps the [`LrpConfig`]'s rules.
//! - [`ConceptMethod::GradientXInput`] (any tap): `x ⊙ ∂(a(x) · v)/∂x`, at the pooled features by
//!   the hand-written ResNet walk on the same replaced `fc`, at a feature-map tap (flattened to
//!   `C·H·W`, as the CAV is) by burn's autodiff.
//!
//! Both are linear in `v`: a zero direction gives an all-zero map, `−v` the negated map. The map
//! explains the network given (the one the CAV was fitted on), not a debiased model's hook.

use biaslens_model::{Capture, ResNet, Tap};
use burn::module::Param;
use burn::nn::Linear;
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::{AttributionError, LrpConfig, OutputRelevance, ResNetGrad, gradient_x_input, gradient_x_input_with, lrp_resnet_with_output};

/// How the concept's relevance is carried to the pixels.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum ConceptMethod {
    /// LRP from `a ⊙ v` at the pooled features (Reveal to Revise's choice), with these rules
    /// below it (`output` is ignored: the start is always `a ⊙ v`).
    Lrp {
        /// Rules of the layers below the CAV's.
        lrp: LrpConfig,
    },
    /// Gradient × input of `a(x) · v`.
    GradientXInput,
}

impl Default for ConceptMethod {
    /// LRP with the paper's rules ([`LrpConfig::paper`]).
    fn default() -> Self {
        Self::Lrp { lrp: LrpConfig::paper() }
    }
}

/// The network with `fc` replaced by `z = a · v` (one output, no bias).
fn concept_head(model: &ResNet, direction: &[f32]) -> Result<ResNet, AttributionError> {
    let [d, _] = model.fc.weight.dims();
    if direction.len() != d {
        return Err(AttributionError::Config(format!(
            "the concept direction has {} values; the pooled features of this network have {d}: fit the CAV at Tap::Pooled of this network",
            direction.len()
        )));
    }
    let device = model.fc.weight.device();
    let weight: Tensor<2> = Tensor::from_data(TensorData::new(direction.to_vec(), [d, 1]), &device);
    let mut head = model.clone();
    head.fc = Linear { weight: Param::from_tensor(weight), bias: None };
    Ok(head)
}

/// The concept relevance of every input value of `x` for the direction `direction` at `tap`.
///
/// `model` should be in evaluation mode and frozen (`Module::freeze`) as for every attribution
/// (BatchNorm with running statistics); it may live on an autodiff device.
///
/// # Shapes
/// - `x`: `[N, 3, H, W]`
/// - `direction`: `D` values, the flattened activation at `tap` (`feature_dim` at
///   [`Tap::Pooled`], `C·h·w` at a feature-map tap)
/// - returns `[N, 3, H, W]`, in the input's pixels (sum over channels for one `[H, W]` heatmap)
///
/// # Errors
/// [`AttributionError::Config`] for a direction of the wrong length, LRP at a tap other than
/// [`Tap::Pooled`], or a layer the ResNet walks do not support.
pub fn concept_relevance(
    model: &ResNet,
    x: Tensor<4>,
    tap: Tap,
    direction: &[f32],
    method: &ConceptMethod,
) -> Result<Tensor<4>, AttributionError> {
    let n = x.dims()[0];
    if n == 0 {
        return Ok(x.inner());
    }
    let targets = vec![0usize; n];
    match (method, tap) {
        (ConceptMethod::Lrp { lrp }, Tap::Pooled) => {
            let head = concept_head(model, direction)?;
            // Starting from z itself makes fc's Epsilon rule hand down a ⊙ v.
            let out = lrp_resnet_with_output(&head, x, lrp, None, Ok)?;
            Ok(out.map)
        }
        (ConceptMethod::Lrp { .. }, other) => Err(AttributionError::Config(format!(
            "concept LRP starts at the pooled features (Tap::Pooled); for a CAV at {other:?} use gradient × input"
        ))),
        (ConceptMethod::GradientXInput, Tap::Pooled) => {
            let head = concept_head(model, direction)?;
            let mut walk = ResNetGrad::new(&head)?;
            let (map, _) = gradient_x_input_with(&mut walk, x, &targets, OutputRelevance::OneHot)?;
            Ok(map)
        }
        (ConceptMethod::GradientXInput, tap) => {
            // One image tells the activation's size, so a wrong direction is an error, not a
            // shape panic inside the backward pass.
            let mut probe = Capture::new([tap]);
            let _ = model.forward_hooked(x.clone().inner().narrow(0, 0, 1), &mut probe);
            let d = probe.maps.first().map_or(0, |(_, a)| a.dims()[1..].iter().product());
            if direction.len() != d {
                return Err(AttributionError::Config(format!(
                    "the concept direction has {} values; the activation at {tap:?} has {d} (C·H·W): fit the CAV at this tap of this network",
                    direction.len()
                )));
            }
            let v = direction.to_vec();
            let forward = move |x: Tensor<4>| {
                let mut capture = Capture::new([tap]);
                let _ = model.forward_hooked(x.clone(), &mut capture);
                let a = match capture.maps.pop() {
                    Some((_, a)) => a,
                    None => x.zeros_like(),
                };
                let [b, c, h, w] = a.dims();
                let dir: Tensor<2> = Tensor::from_data(TensorData::new(v.clone(), [c * h * w, 1]), &a.device());
                a.reshape([b, c * h * w]).matmul(dir)
            };
            let (map, _) = gradient_x_input(forward, x, &targets, OutputRelevance::OneHot)?;
            Ok(map)
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::lrp_resnet;
    use biaslens_model::{BlockKind, ResNetConfig};

    /// A small ResNet whose `fc` has no bias, so a class logit is exactly `a · W[:, k]`.
    fn net(device: &Device) -> ResNet {
        let mut m = ResNetConfig::new(BlockKind::Basic, [1, 1, 1, 1], 2).with_width(4).init_seeded(7, device);
        m.fc.bias = None;
        m.freeze()
    }

    fn input(device: &Device) -> Tensor<4> {
        let v: Vec<f32> = (0..2 * 3 * 48 * 48).map(|i| ((i as f32 * 0.137).sin() + 1.0) / 2.0).collect();
        Tensor::from_data(TensorData::new(v, [2, 3, 48, 48]), device)
    }

    fn values(t: Tensor<4>) -> Vec<f32> {
        t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
    }

    fn column(model: &ResNet, k: usize) -> Vec<f32> {
        let [d, classes] = model.fc.weight.dims();
        let w = model.fc.weight.val().into_data().convert::<f32>().try_to_vec::<f32>().unwrap();
        (0..d).map(|i| w[i * classes + k]).collect()
    }

    fn close(a: &[f32], b: &[f32], tol: f32) {
        let scale = b.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-12);
        let err = a.iter().zip(b).fold(0.0f32, |m, (x, y)| m.max((x - y).abs()));
        assert!(err <= tol * scale, "max difference {err} against scale {scale}");
    }

    /// With `v` = `fc`'s column of class k (and no bias), the concept *is* that class's logit,
    /// so the concept maps equal the class maps: LRP with logit × one-hot, gradient × input with
    /// the one-hot. Float rounding only (1e-5 of the largest value).
    #[test]
    fn a_class_column_as_direction_gives_that_class_map() {
        let device = Device::flex();
        let model = net(&device);
        let x = input(&device);
        let v = column(&model, 1);
        let lrp = LrpConfig::paper();
        let concept = values(concept_relevance(&model, x.clone(), Tap::Pooled, &v, &ConceptMethod::Lrp { lrp }).unwrap());
        let class = values(lrp_resnet(&model, x.clone(), Some(&[1, 1]), &lrp, None).unwrap().map);
        close(&concept, &class, 1e-5);
        let concept = values(concept_relevance(&model, x.clone(), Tap::Pooled, &v, &ConceptMethod::GradientXInput).unwrap());
        let class = values(gradient_x_input(|x| model.forward(x), x, &[1, 1], OutputRelevance::OneHot).unwrap().0);
        close(&concept, &class, 1e-5);
    }

    /// The feature-map path (autodiff) agrees with the pooled path: at `layer4` the direction
    /// `v / (h·w)` repeated over every position gives `a · v'` = `pooled · v`.
    #[test]
    fn feature_map_tap_agrees_with_the_pooled_one() {
        let device = Device::flex();
        let model = net(&device);
        let x = input(&device);
        let v: Vec<f32> = (0..model.fc.weight.dims()[0]).map(|i| (i as f32 * 0.7).cos()).collect();
        let pooled = values(concept_relevance(&model, x.clone(), Tap::Pooled, &v, &ConceptMethod::GradientXInput).unwrap());
        // 48×48 input → layer4 is 2×2; read its size from a forward.
        let mut probe = Capture::new([Tap::Layer4]);
        let _ = model.forward_hooked(x.clone(), &mut probe);
        let [_, c, h, w] = probe.maps[0].1.dims();
        let spread: Vec<f32> = (0..c).flat_map(|ch| std::iter::repeat_n(v[ch] / (h * w) as f32, h * w)).collect();
        let map = values(concept_relevance(&model, x, Tap::Layer4, &spread, &ConceptMethod::GradientXInput).unwrap());
        close(&map, &pooled, 1e-5);
    }

    /// Linear in the direction: zero gives all zeros, −v the negated map, for both methods.
    #[test]
    fn zero_and_negated_directions() {
        let device = Device::flex();
        let model = net(&device);
        let x = input(&device);
        let d = model.fc.weight.dims()[0];
        let v: Vec<f32> = (0..d).map(|i| (i as f32 * 0.3).sin()).collect();
        let neg: Vec<f32> = v.iter().map(|a| -a).collect();
        for method in [ConceptMethod::default(), ConceptMethod::GradientXInput] {
            let zero = values(concept_relevance(&model, x.clone(), Tap::Pooled, &vec![0.0; d], &method).unwrap());
            assert!(zero.iter().all(|v| *v == 0.0), "{method:?}: a zero direction must give a zero map");
            let a = values(concept_relevance(&model, x.clone(), Tap::Pooled, &v, &method).unwrap());
            let b = values(concept_relevance(&model, x.clone(), Tap::Pooled, &neg, &method).unwrap());
            assert!(a.iter().any(|v| *v != 0.0));
            let negated: Vec<f32> = b.iter().map(|v| -v).collect();
            close(&a, &negated, 1e-5);
        }
    }

    #[test]
    fn wrong_lengths_and_taps_are_errors() {
        let device = Device::flex();
        let model = net(&device);
        let x = input(&device);
        assert!(concept_relevance(&model, x.clone(), Tap::Pooled, &[1.0; 3], &ConceptMethod::default()).is_err());
        assert!(concept_relevance(&model, x.clone(), Tap::Layer4, &[1.0; 3], &ConceptMethod::GradientXInput).is_err());
        assert!(concept_relevance(&model, x, Tap::Layer3, &[1.0; 3], &ConceptMethod::default()).is_err());
    }
}
