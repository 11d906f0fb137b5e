//! Attribution maps for image classifiers, on any burn device.
//!
//! Today: gradient × input (Shrikumar et al., "Not Just a Black Box", 2016; Ancona et al., ICLR
//! 2018). LRP (Bach et al., PLOS ONE 2015; Montavon et al., 2019, as in Zennit) and Integrated
//! Gradients (Sundararajan et al., ICML 2017, as in Captum) follow.

use burn::prelude::*;

/// Gradient × input for the logit of `targets[i]` in image `i`.
///
/// `forward` must be the model's forward built on an autodiff device; `x` must live on that
/// device. The output relevance is the one-hot of each target, so `Σ map` approximates the
/// target logit minus its value at zero for piecewise-linear networks with no bias.
///
/// # Shapes
/// - `x`: `[N, C, H, W]`
/// - `targets`: `N` class indices, each `< K`
/// - `forward`: `[N, C, H, W] → [N, K]`
/// - returns `(map, logits)`: `map` `[N, C, H, W]` and `logits` `[N, K]`, both without autodiff
pub fn gradient_x_input(
    forward: impl Fn(Tensor<4>) -> Tensor<2>,
    x: Tensor<4>,
    targets: &[usize],
) -> (Tensor<4>, Tensor<2>) {
    let device = x.device();
    let x = x.require_grad();
    let logits = forward(x.clone());
    let [n, k] = logits.dims();
    let mut onehot = vec![0.0f32; n * k];
    for (i, &t) in targets.iter().enumerate().take(n) {
        if t < k {
            onehot[i * k + t] = 1.0;
        }
    }
    let mask: Tensor<2> = Tensor::from_data(TensorData::new(onehot, [n, k]), &device);
    let grads = (logits.clone() * mask).sum().backward();
    let x_inner = x.clone().inner();
    let map = match x.grad(&grads) {
        Some(g) => g * x_inner,
        // The output does not depend on the input at all: its gradient is zero.
        None => x_inner.zeros_like(),
    };
    (map, logits.inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// For a linear model `logits = W · vec(x)`, gradient × input of class t is exactly
    /// `W[t, j] · x_j`: a closed form independent of the implementation.
    #[test]
    fn linear_model_gives_weight_times_input() {
        let device = Device::flex().autodiff();
        let (n, c, h, w, k) = (2, 2, 2, 3, 3);
        let d = c * h * w;
        let weight: Vec<f32> = (0..k * d).map(|i| (i as f32 * 0.37).sin()).collect();
        let xs: Vec<f32> = (0..n * d).map(|i| (i as f32 * 0.11).cos()).collect();
        let wt: Tensor<2> = Tensor::from_data(TensorData::new(weight.clone(), [k, d]), &device);
        let x: Tensor<4> = Tensor::from_data(TensorData::new(xs.clone(), [n, c, h, w]), &device);
        let targets = [2usize, 0];
        let forward = |x: Tensor<4>| x.reshape([n, d]).matmul(wt.clone().transpose());
        let (map, _) = gradient_x_input(forward, x, &targets);
        let got = map.into_data().try_into_vec::<f32>().expect("f32 data");
        for i in 0..n {
            for j in 0..d {
                let want = weight[targets[i] * d + j] * xs[i * d + j];
                assert!((got[i * d + j] - want).abs() < 1e-6, "image {i} pixel {j}");
            }
        }
    }
}
