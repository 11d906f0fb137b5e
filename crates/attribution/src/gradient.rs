//! The input gradient (Simonyan, Vedaldi & Zisserman, 2014) and gradient × input (Shrikumar et
//! al., 2016; Ancona et al., ICLR 2018).

use burn::prelude::*;

use crate::{AttributionError, AutodiffGrad, GradModel, OutputRelevance};

/// The input gradient of the output relevance of `targets[i]` in image `i` (Captum's `Saliency`
/// without the absolute value; Zennit's `Gradient` with no composite).
///
/// # Shapes
/// - `x`: `[N, C, H, W]`, any device
/// - `targets`: `N` class indices, each `< K`
/// - `forward`: `[N, C, H, W] → [N, K]`
/// - returns `(map, logits)`: `map` `[N, C, H, W]` and `logits` `[N, K]`, both without autodiff
pub fn gradient(
    forward: impl Fn(Tensor<4>) -> Tensor<2>,
    x: Tensor<4>,
    targets: &[usize],
    relevance: OutputRelevance,
) -> Result<(Tensor<4>, Tensor<2>), AttributionError> {
    gradient_with(&mut AutodiffGrad(forward), x, targets, relevance)
}

/// [`gradient`] of any [`GradModel`], e.g. a [`crate::ResNetGrad`] (the hand-written ResNet
/// backward walk) instead of a `forward` closure differentiated by autodiff.
///
/// # Shapes
/// - as [`gradient`]; `logits` are the model's output
///
/// # Errors
/// As [`gradient`].
pub fn gradient_with(
    model: &mut (impl GradModel + ?Sized),
    x: Tensor<4>,
    targets: &[usize],
    relevance: OutputRelevance,
) -> Result<(Tensor<4>, Tensor<2>), AttributionError> {
    let weights = vec![1.0f32; targets.len()];
    model.weighted_grad(x, targets, &weights, relevance)
}

/// Gradient × input: [`gradient`] of the output relevance of `targets[i]` in image `i`, times the
/// input. With the one-hot output and a piecewise-linear network without biases, `Σ map` is the
/// target logit minus its value at zero.
///
/// # Shapes
/// - `x`: `[N, C, H, W]`, any device
/// - `targets`: `N` class indices, each `< K`
/// - `forward`: `[N, C, H, W] → [N, K]`
/// - returns `(map, logits)`: `map` `[N, C, H, W]` and `logits` `[N, K]`, both without autodiff
///
/// # Errors
/// As [`gradient`]: a target out of range or a count that differs from the batch.
pub fn gradient_x_input(
    forward: impl Fn(Tensor<4>) -> Tensor<2>,
    x: Tensor<4>,
    targets: &[usize],
    relevance: OutputRelevance,
) -> Result<(Tensor<4>, Tensor<2>), AttributionError> {
    gradient_x_input_with(&mut AutodiffGrad(forward), x, targets, relevance)
}

/// [`gradient_x_input`] of any [`GradModel`], e.g. a [`crate::ResNetGrad`].
///
/// # Shapes
/// - as [`gradient_x_input`]
///
/// # Errors
/// As [`gradient`].
pub fn gradient_x_input_with(
    model: &mut (impl GradModel + ?Sized),
    x: Tensor<4>,
    targets: &[usize],
    relevance: OutputRelevance,
) -> Result<(Tensor<4>, Tensor<2>), AttributionError> {
    let (grad, logits) = gradient_with(model, x.clone(), targets, relevance)?;
    Ok((grad * x.inner(), logits))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn linear(n: usize, d: usize, k: usize) -> (Vec<f32>, Vec<f32>) {
        let weight: Vec<f32> = (0..k * d).map(|i| (i as f32 * 0.37).sin()).collect();
        let xs: Vec<f32> = (0..n * d).map(|i| (i as f32 * 0.11).cos()).collect();
        (weight, xs)
    }

    /// For a linear model `logits = W · vec(x)`, gradient × input of class t is exactly
    /// `W[t, j] · x_j`: a closed form independent of the implementation.
    #[test]
    fn linear_model_gives_weight_times_input() {
        let device = Device::flex().autodiff();
        let (n, c, h, w, k) = (2, 2, 2, 3, 3);
        let d = c * h * w;
        let (weight, xs) = linear(n, d, k);
        let wt: Tensor<2> = Tensor::from_data(TensorData::new(weight.clone(), [k, d]), &device);
        let x: Tensor<4> = Tensor::from_data(TensorData::new(xs.clone(), [n, c, h, w]), &device);
        let targets = [2usize, 0];
        let forward = |x: Tensor<4>| x.reshape([n, d]).matmul(wt.clone().transpose());
        let (map, _) = gradient_x_input(forward, x, &targets, OutputRelevance::OneHot).expect("valid targets");
        let got = map.into_data().try_into_vec::<f32>().expect("f32 data");
        for i in 0..n {
            for j in 0..d {
                let want = weight[targets[i] * d + j] * xs[i * d + j];
                assert!((got[i * d + j] - want).abs() < 1e-6, "image {i} pixel {j}");
            }
        }
    }

    /// Linear model, plain device (no autodiff) for the weights: the gradient is `W[t]`, and with
    /// logit × one-hot it is `z_t W[t]`.
    #[test]
    fn gradient_of_linear_model_both_relevances() {
        let device = Device::flex();
        let (n, c, h, w, k) = (2, 1, 2, 3, 2);
        let d = c * h * w;
        let (weight, xs) = linear(n, d, k);
        let wt: Tensor<2> = Tensor::from_data(TensorData::new(weight.clone(), [k, d]), &device);
        let x: Tensor<4> = Tensor::from_data(TensorData::new(xs.clone(), [n, c, h, w]), &device);
        let targets = [1usize, 0];
        let forward = |x: Tensor<4>| x.reshape([n, d]).matmul(wt.clone().transpose());
        for relevance in [OutputRelevance::OneHot, OutputRelevance::LogitOneHot] {
            let (map, _) =
                gradient(forward, x.clone(), &targets, relevance).expect("valid targets");
            let got = map.into_data().try_into_vec::<f32>().expect("f32 data");
            for i in 0..n {
                let t = targets[i];
                let z: f32 = (0..d).map(|j| weight[t * d + j] * xs[i * d + j]).sum();
                let scale = if relevance == OutputRelevance::OneHot {
                    1.0
                } else {
                    z
                };
                for j in 0..d {
                    let want = scale * weight[t * d + j];
                    assert!(
                        (got[i * d + j] - want).abs() < 1e-5,
                        "{relevance:?} {i} {j}"
                    );
                }
            }
        }
        let err = gradient(forward, x, &[0, 2], OutputRelevance::OneHot).err();
        assert_eq!(
            err,
            Some(AttributionError::TargetOutOfRange {
                image: 1,
                target: 2,
                classes: 2
            })
        );
    }
}
