//! SmoothGrad (Smilkov, Thorat, Kim, Viégas & Wattenberg, "SmoothGrad: removing noise by adding
//! noise", 2017): the mean input gradient over `samples` copies of the input with Gaussian noise of
//! standard deviation `σ = noise_level · (max x − min x)` per image (the paper's "noise level
//! σ/(x_max − x_min)", 10–20% recommended, 50 samples).
//!
//! The noise comes from the project's `biaslens_rng::SplitMix64`: sample `s` draws from
//! `SplitMix64::for_item(seed, s)`, so a map depends only on the seed, never on the chunk size,
//! device or platform.

use biaslens_rng::SplitMix64;
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::{
    AttributionError, AutodiffGrad, GradModel, OutputRelevance, Progress, chunked_weighted_grad,
    items_grad,
};

/// SmoothGrad settings; they go into the report so a map can be recomputed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SmoothGradConfig {
    /// Noisy copies per image (paper: 50).
    pub samples: usize,
    /// Noise standard deviation as a fraction of each image's value range (paper: 0.10–0.20).
    pub noise_level: f64,
    /// Seed of the noise.
    pub seed: u64,
    /// One-hot or logit × one-hot.
    pub relevance: OutputRelevance,
    /// Noisy copies per image in one forward/backward pass (memory bound).
    pub samples_per_chunk: usize,
}

impl Default for SmoothGradConfig {
    /// The paper's settings: 50 samples, noise level 15%.
    fn default() -> Self {
        Self {
            samples: 50,
            noise_level: 0.15,
            seed: 2017,
            relevance: OutputRelevance::OneHot,
            samples_per_chunk: 8,
        }
    }
}

/// SmoothGrad map (mean gradient over noisy copies) for `targets[i]` in image `i`.
///
/// `should_stop` is asked before each chunk; `progress` is told after each.
///
/// # Shapes
/// - `x`: `[N, C, H, W]`, any device; `targets`: `N` class indices, each `< K`
/// - `forward`: `[R, C, H, W] → [R, K]` for `R = samples_per_chunk × N` (or fewer)
/// - returns the map `[N, C, H, W]` without autodiff
pub fn smooth_grad(
    forward: impl Fn(Tensor<4>) -> Tensor<2>,
    x: Tensor<4>,
    targets: &[usize],
    config: &SmoothGradConfig,
    should_stop: impl Fn() -> bool,
    progress: impl FnMut(Progress),
) -> Result<Tensor<4>, AttributionError> {
    smooth_grad_with(
        &mut AutodiffGrad(forward),
        x,
        targets,
        config,
        should_stop,
        progress,
    )
}

/// [`smooth_grad`] of any [`GradModel`], e.g. a [`crate::ResNetGrad`] (the hand-written ResNet
/// backward walk) instead of a `forward` closure differentiated by autodiff.
///
/// # Shapes
/// - as [`smooth_grad`]
///
/// # Errors
/// As [`smooth_grad`].
pub fn smooth_grad_with(
    model: &mut (impl GradModel + ?Sized),
    x: Tensor<4>,
    targets: &[usize],
    config: &SmoothGradConfig,
    should_stop: impl Fn() -> bool,
    mut progress: impl FnMut(Progress),
) -> Result<Tensor<4>, AttributionError> {
    if config.samples == 0 || config.samples_per_chunk == 0 {
        return Err(AttributionError::Config(
            "SmoothGrad needs at least 1 sample and 1 sample per chunk".into(),
        ));
    }
    if !(config.noise_level.is_finite() && config.noise_level >= 0.0) {
        return Err(AttributionError::Config(format!(
            "noise level must be a non-negative fraction of the input range, got {}",
            config.noise_level
        )));
    }
    let x = x.inner();
    let device = x.device();
    let [n, c, h, w] = x.dims();
    let d = c * h * w;
    let flat = x.clone().reshape([n, d]);
    let sigma = (flat.clone().max_dim(1) - flat.min_dim(1))
        .mul_scalar(config.noise_level as f32)
        .reshape([n, 1, 1, 1]);
    let weight = 1.0 / config.samples as f32;
    let sum = chunked_weighted_grad(
        x.zeros_like(),
        (config.samples, config.samples_per_chunk),
        should_stop,
        &mut progress,
        |samples| {
            let m = samples.len();
            let mut noise = Vec::with_capacity(m * n * d);
            for s in samples {
                let mut rng = SplitMix64::for_item(config.seed, s as u64);
                noise.extend((0..n * d).map(|_| rng.normal() as f32));
            }
            let noise: Tensor<4> =
                Tensor::from_data(TensorData::new(noise, [m * n, c, h, w]), &device);
            let points = x.clone().repeat_dim(0, m) + noise * sigma.clone().repeat_dim(0, m);
            items_grad(model, points, &vec![weight; m], targets, config.relevance)
        },
    )?;
    Ok(sum)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Model `z = Σ x²` (one class): gradient `2(x + ε)`, so the SmoothGrad map is `2x + 2 mean ε`.
    /// With σ = 0 it is exactly `2x`; with noise it is reproducible for a seed, independent of the
    /// chunk size, and its mean deviation from `2x` matches the noise that was drawn.
    #[test]
    fn quadratic_model_seeded_and_chunk_independent() {
        let device = Device::flex();
        let vals = vec![0.0f32, 0.5, 1.0, -1.0];
        let x: Tensor<4> = Tensor::from_data(TensorData::new(vals.clone(), [2, 1, 1, 2]), &device);
        let forward = |x: Tensor<4>| {
            let [r, ..] = x.dims();
            (x.clone() * x).reshape([r, 2]).sum_dim(1)
        };
        let run = |noise_level: f64, spc: usize| {
            let config = SmoothGradConfig {
                samples: 5,
                noise_level,
                seed: 7,
                samples_per_chunk: spc,
                ..SmoothGradConfig::default()
            };
            smooth_grad(forward, x.clone(), &[0, 0], &config, || false, |_| {})
                .expect("valid")
                .into_data()
                .try_into_vec::<f32>()
                .expect("f32")
        };
        let clean = run(0.0, 2);
        for (g, v) in clean.iter().zip(&vals) {
            assert!((g - 2.0 * v).abs() < 1e-6);
        }
        let a = run(0.2, 1);
        let b = run(0.2, 3);
        assert_eq!(a, b);
        // Expected: 2x + 2σ mean_s ε_s with σ = 0.2 · range (0.5 for image 0, 2.0 for image 1).
        let sigma = [0.1f64, 0.4];
        for j in 0..4 {
            let mean_eps: f64 = (0..5)
                .map(|s| {
                    let mut rng = SplitMix64::for_item(7, s);
                    (0..j).for_each(|_| {
                        rng.normal();
                    });
                    rng.normal()
                })
                .sum::<f64>()
                / 5.0;
            let want = 2.0 * f64::from(vals[j]) + 2.0 * sigma[j / 2] * mean_eps;
            assert!(
                (f64::from(a[j]) - want).abs() < 1e-5,
                "{j}: {} vs {want}",
                a[j]
            );
        }
    }
}
