//! Integrated Gradients (Sundararajan, Taly & Yan, "Axiomatic Attribution for Deep Networks",
//! ICML 2017): `IG_i(x) = (x_i − b_i) ∫₀¹ ∂F(b + α(x − b))/∂x_i dα`, estimated by a quadrature
//! `Σ_s w_s ∇F(b + α_s(x − b))`.
//!
//! - Captum 0.9 (`captum.attr.IntegratedGradients`, `_utils/approximation_methods.py`): the
//!   Riemann rules use `torch.linspace` positions in float32 (reproduced bit for bit by
//!   [`quadrature`]) and weights `1/n` (trapezoid: halved at both ends); Gauss–Legendre uses
//!   numpy's `leggauss(n)` nodes and weights mapped from `[−1, 1]` to `[0, 1]`. Captum's default
//!   is Gauss–Legendre with 50 steps and the one-hot output ([`IgConfig::captum`]).
//! - Zennit 1.0 (`zennit.attribution.IntegratedGradients`, the paper's "IG"): positions
//!   `linspace(1/n, 1, n)` and weights `1/n` (Captum's right Riemann rule), 20 steps, zero
//!   baseline, and the output relevance `z_t e_t` of the caller's `attr_output` (logit × one-hot),
//!   so each path gradient is weighted by the current logit: the IG of `½ z_t²`
//!   ([`IgConfig::zennit`]).
//!
//! Steps run in chunks of [`IgConfig::steps_per_chunk`] path points per image, so one forward
//! pass holds `steps_per_chunk × N` images (Captum's `internal_batch_size` lesson): memory stays
//! bounded on a browser GPU. Between chunks the caller can cancel and is told the progress.

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::{
    AttributionError, AutodiffGrad, Baseline, GradModel, OutputRelevance, Progress, StraightPath,
    check_targets, chunked_weighted_grad, relevance_function,
};

/// The quadrature rule along the path, with Captum's names and definitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum IgMethod {
    /// `α = linspace(0, 1 − 1/n, n)`, `w = 1/n` (Captum `riemann_left`).
    RiemannLeft,
    /// `α = linspace(1/n, 1, n)`, `w = 1/n` (Captum `riemann_right`; Zennit's only rule).
    RiemannRight,
    /// `α = linspace(1/2n, 1 − 1/2n, n)`, `w = 1/n` (Captum `riemann_middle`).
    RiemannMiddle,
    /// `α = linspace(0, 1, n)`, `w = 1/n` halved at both ends (Captum `riemann_trapezoid`; its
    /// weights sum to `1 − 1/n`, as in Captum).
    RiemannTrapezoid,
    /// Gauss–Legendre nodes and weights on `[0, 1]` (Captum `gausslegendre`, its default).
    #[default]
    GaussLegendre,
}

/// Integrated-Gradients settings; they go into the report so a map can be recomputed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct IgConfig {
    /// Quadrature rule.
    pub method: IgMethod,
    /// Number of path points (Captum `n_steps`, Zennit `n_iter`); Riemann rules need at least 2.
    pub steps: usize,
    /// Where the path starts.
    pub baseline: Baseline,
    /// One-hot (Captum) or logit × one-hot (Zennit as the paper called it).
    pub relevance: OutputRelevance,
    /// Path points per image in one forward/backward pass (memory bound).
    pub steps_per_chunk: usize,
}

impl Default for IgConfig {
    /// Captum's defaults: Gauss–Legendre, 50 steps, zero baseline, one-hot target.
    fn default() -> Self {
        Self {
            method: IgMethod::GaussLegendre,
            steps: 50,
            baseline: Baseline::Zero,
            relevance: OutputRelevance::OneHot,
            steps_per_chunk: 8,
        }
    }
}

impl IgConfig {
    /// Captum 0.9's `IntegratedGradients.attribute` defaults (same as [`Default`]).
    pub fn captum() -> Self {
        Self::default()
    }

    /// The paper's IG: Zennit 1.0 `IntegratedGradients` at its defaults (`n_iter = 20`,
    /// `baseline_fn = zeros_like`, right Riemann sum) with `attr_output = logit × one-hot`
    /// (`docs/METHODS.md#ig`).
    pub fn zennit() -> Self {
        Self {
            method: IgMethod::RiemannRight,
            steps: 20,
            baseline: Baseline::Zero,
            relevance: OutputRelevance::LogitOneHot,
            steps_per_chunk: 10,
        }
    }

    /// With this quadrature rule.
    pub fn with_method(mut self, method: IgMethod) -> Self {
        self.method = method;
        self
    }

    /// With this number of path points.
    pub fn with_steps(mut self, steps: usize) -> Self {
        self.steps = steps;
        self
    }

    /// With this baseline.
    pub fn with_baseline(mut self, baseline: Baseline) -> Self {
        self.baseline = baseline;
        self
    }

    /// With this output relevance.
    pub fn with_relevance(mut self, relevance: OutputRelevance) -> Self {
        self.relevance = relevance;
        self
    }

    /// With this many path points per image in one pass.
    pub fn with_steps_per_chunk(mut self, steps_per_chunk: usize) -> Self {
        self.steps_per_chunk = steps_per_chunk;
        self
    }
}

/// An IG result, all on the device without autodiff (read back with one `Transaction`).
#[derive(Debug, Clone)]
pub struct IgOutput {
    /// The attribution map.
    pub map: Tensor<4>,
    /// Completeness delta per image, `Σ map − (F(x) − F(b))` with `F = z_t` (one-hot) or
    /// `F = ½ z_t²` (logit × one-hot): Captum's `return_convergence_delta`.
    pub delta: Tensor<1>,
    /// Logits of the input.
    pub logits: Tensor<2>,
}

/// Path positions `α_s` and weights `w_s` of `method` with `steps` points, as Captum 0.9 builds
/// them (`torch.linspace` in float32 for the Riemann rules; `numpy.polynomial.legendre.leggauss`
/// for Gauss–Legendre, ascending).
///
/// # Shapes
/// - returns `(alphas, weights)`, `steps` each
pub fn quadrature(
    method: IgMethod,
    steps: usize,
) -> Result<(Vec<f32>, Vec<f32>), AttributionError> {
    let n = steps;
    let min = if method == IgMethod::GaussLegendre {
        1
    } else {
        2
    };
    if n < min {
        return Err(AttributionError::Config(format!(
            "{method:?} needs at least {min} steps, got {n}"
        )));
    }
    let nf = n as f64;
    let uniform = vec![(1.0 / nf) as f32; n];
    Ok(match method {
        IgMethod::RiemannLeft => (torch_linspace_f32(0.0, 1.0 - 1.0 / nf, n), uniform),
        IgMethod::RiemannRight => (torch_linspace_f32(1.0 / nf, 1.0, n), uniform),
        IgMethod::RiemannMiddle => (
            torch_linspace_f32(1.0 / (2.0 * nf), 1.0 - 1.0 / (2.0 * nf), n),
            uniform,
        ),
        IgMethod::RiemannTrapezoid => {
            let mut w = uniform;
            w[0] = (1.0 / nf / 2.0) as f32;
            w[n - 1] = (1.0 / nf / 2.0) as f32;
            (torch_linspace_f32(0.0, 1.0, n), w)
        }
        IgMethod::GaussLegendre => {
            let (x, w) = gauss_legendre(n);
            (
                x.iter().map(|&v| (0.5 * (1.0 + v)) as f32).collect(),
                w.iter().map(|&v| (0.5 * v) as f32).collect(),
            )
        }
    })
}

/// `torch.linspace(start, end, n)` in float32 as PyTorch's CPU kernel computes it: ends cast to
/// float32, `step = (end − start)/(n − 1)` in float32, the first half counted up from `start`, the
/// second half down from `end`.
fn torch_linspace_f32(start: f64, end: f64, n: usize) -> Vec<f32> {
    let (s, e) = (start as f32, end as f32);
    if n == 1 {
        return vec![s];
    }
    let step = (e - s) / (n - 1) as f32;
    let half = n / 2;
    (0..n)
        .map(|i| {
            if i < half {
                s + step * i as f32
            } else {
                e - step * (n - i - 1) as f32
            }
        })
        .collect()
}

/// Gauss–Legendre nodes (ascending) and weights on `[−1, 1]`, by Newton's method on `P_n`
/// (agrees with numpy's `leggauss` to about 1e-15).
fn gauss_legendre(n: usize) -> (Vec<f64>, Vec<f64>) {
    let mut x = vec![0.0f64; n];
    let mut w = vec![0.0f64; n];
    let m = n.div_ceil(2);
    for i in 0..m {
        // Initial guess for the i-th largest root.
        let mut z = (std::f64::consts::PI * (i as f64 + 0.75) / (n as f64 + 0.5)).cos();
        let mut dp = 1.0;
        for _ in 0..100 {
            let (mut p1, mut p2) = (1.0f64, 0.0f64);
            for j in 1..=n {
                let p3 = p2;
                p2 = p1;
                p1 = ((2 * j - 1) as f64 * z * p2 - (j - 1) as f64 * p3) / j as f64;
            }
            dp = n as f64 * (z * p1 - p2) / (z * z - 1.0);
            let z_old = z;
            z = z_old - p1 / dp;
            if (z - z_old).abs() < 1e-15 {
                break;
            }
        }
        if n % 2 == 1 && i == m - 1 {
            z = 0.0;
            // Derivative at the middle root, recomputed at exactly 0.
            let (mut p1, mut p2) = (1.0f64, 0.0f64);
            for j in 1..=n {
                let p3 = p2;
                p2 = p1;
                p1 = ((2 * j - 1) as f64 * z * p2 - (j - 1) as f64 * p3) / j as f64;
            }
            dp = n as f64 * (z * p1 - p2) / (z * z - 1.0);
        }
        let wi = 2.0 / ((1.0 - z * z) * dp * dp);
        x[i] = -z;
        x[n - 1 - i] = z;
        w[i] = wi;
        w[n - 1 - i] = wi;
    }
    (x, w)
}

/// Integrated Gradients of the output relevance of `targets[i]` in image `i`.
///
/// `given_baseline` is needed only for [`Baseline::Given`]. `should_stop` is asked before each
/// chunk (returning true gives [`AttributionError::Cancelled`]); `progress` is told after each.
///
/// # Shapes
/// - `x`: `[N, C, H, W]`, any device; `given_baseline`: `[N, C, H, W]`
/// - `targets`: `N` class indices, each `< K`
/// - `forward`: `[R, C, H, W] → [R, K]` for any `R` (called with `steps_per_chunk × N` rows and
///   once with `2N` rows for the end points)
/// - returns [`IgOutput`]: `map` `[N, C, H, W]`, `delta` `[N]`, `logits` `[N, K]`
pub fn integrated_gradients(
    forward: impl Fn(Tensor<4>) -> Tensor<2>,
    x: Tensor<4>,
    targets: &[usize],
    config: &IgConfig,
    given_baseline: Option<&Tensor<4>>,
    should_stop: impl Fn() -> bool,
    progress: impl FnMut(Progress),
) -> Result<IgOutput, AttributionError> {
    integrated_gradients_with(
        &mut AutodiffGrad(forward),
        x,
        targets,
        config,
        given_baseline,
        should_stop,
        progress,
    )
}

/// [`integrated_gradients`] of any [`GradModel`], e.g. a [`crate::ResNetGrad`] (the hand-written
/// ResNet backward walk) instead of a `forward` closure differentiated by autodiff.
///
/// # Shapes
/// - as [`integrated_gradients`]; the model is called with `steps_per_chunk × N` rows for the
///   gradients and once with `2N` rows (input, then baseline) for the end points
///
/// # Errors
/// As [`integrated_gradients`], and whatever the model's [`GradModel::forward`] returns.
pub fn integrated_gradients_with(
    model: &mut (impl GradModel + ?Sized),
    x: Tensor<4>,
    targets: &[usize],
    config: &IgConfig,
    given_baseline: Option<&Tensor<4>>,
    should_stop: impl Fn() -> bool,
    mut progress: impl FnMut(Progress),
) -> Result<IgOutput, AttributionError> {
    if config.steps_per_chunk == 0 {
        return Err(AttributionError::Config(
            "steps_per_chunk must be at least 1".into(),
        ));
    }
    let (alphas, weights) = quadrature(config.method, config.steps)?;
    let x = x.inner();
    let [n, c, h, w] = x.dims();
    let baseline = config.baseline.build(&x, given_baseline)?;

    let ends = model
        .forward(Tensor::cat(vec![x.clone(), baseline.clone()], 0))?
        .inner();
    let [_, k] = ends.dims();
    check_targets(targets, n, k)?;
    let logits = ends.clone().slice([0..n, 0..k]);
    let f_x = relevance_function(logits.clone(), targets, config.relevance);
    let f_b = relevance_function(ends.slice([n..2 * n, 0..k]), targets, config.relevance);

    let diff = x.clone() - baseline.clone();
    let path = StraightPath::new(baseline, diff.clone(), alphas, weights)?;
    let sum = chunked_weighted_grad(
        x.zeros_like(),
        (config.steps, config.steps_per_chunk),
        should_stop,
        &mut progress,
        |steps| model.path_grad(&path, steps, targets, config.relevance),
    )?;
    let map = sum * diff;
    let delta = map.clone().reshape([n, c * h * w]).sum_dim(1).reshape([n]) - (f_x - f_b);
    Ok(IgOutput { map, delta, logits })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// numpy 2.4 `leggauss(5)`, printed with repr: the Rust nodes/weights must agree to 1e-14.
    #[test]
    fn gauss_legendre_matches_numpy() {
        let want_x = [
            -0.906_179_845_938_664,
            -0.538_469_310_105_683_1,
            0.0,
            0.538_469_310_105_683_1,
            0.906_179_845_938_664,
        ];
        let want_w = [
            0.236_926_885_056_189_08,
            0.478_628_670_499_366_47,
            0.568_888_888_888_888_9,
            0.478_628_670_499_366_47,
            0.236_926_885_056_189_08,
        ];
        let (x, w) = gauss_legendre(5);
        for i in 0..5 {
            assert!((x[i] - want_x[i]).abs() < 1e-14, "node {i}: {}", x[i]);
            assert!((w[i] - want_w[i]).abs() < 1e-14, "weight {i}: {}", w[i]);
        }
        // Exact for polynomials up to degree 2n − 1 = 19 with n = 10: ∫₀¹ α⁹ dα = 1/10.
        let (a, w) = quadrature(IgMethod::GaussLegendre, 10).expect("valid");
        let s: f64 = a
            .iter()
            .zip(&w)
            .map(|(&a, &w)| f64::from(w) * f64::from(a).powi(9))
            .sum();
        assert!((s - 0.1).abs() < 1e-6, "{s}");
    }

    /// Printed by torch 2.15: `torch.linspace(1/3, 1, 3).tolist()` is `[0.3333333432674408,
    /// 0.6666666865348816, 1.0]`, `torch.linspace(0, 1, 4)` has `0.6666666269302368` third (both
    /// ties rounded to even in float32), and `linspace(1/20, 1, 20)` starts `0.05000000074505806,
    /// 0.10000000149011612, 0.15000000596046448` and ends `0.8999999761581421, 0.949999988079071`.
    #[test]
    fn riemann_positions_follow_torch_linspace() {
        let (a, w) = quadrature(IgMethod::RiemannRight, 3).expect("valid");
        let a64: Vec<f64> = a.iter().map(|&v| f64::from(v)).collect();
        assert_eq!(
            a64,
            vec![0.333_333_343_267_440_8, 0.666_666_686_534_881_6, 1.0]
        );
        let (a, _) = quadrature(IgMethod::RiemannTrapezoid, 4).expect("valid");
        assert_eq!(f64::from(a[2]), 0.666_666_626_930_236_8);
        let (a, _) = quadrature(IgMethod::RiemannRight, 20).expect("valid");
        let want = [
            0.050_000_000_745_058_06_f64,
            0.100_000_001_490_116_12,
            0.150_000_005_960_464_48,
        ];
        for (i, &v) in want.iter().enumerate() {
            assert_eq!(f64::from(a[i]), v, "alpha {i}");
        }
        assert_eq!(f64::from(a[17]), 0.899_999_976_158_142_1);
        assert_eq!(f64::from(a[18]), 0.949_999_988_079_071);
        assert_eq!(w, vec![1.0f32 / 3.0; 3]);
        let (a, w) = quadrature(IgMethod::RiemannTrapezoid, 4).expect("valid");
        assert_eq!(a[0], 0.0);
        assert_eq!(a[3], 1.0);
        assert_eq!(w, vec![0.125f32, 0.25, 0.25, 0.125]);
        assert!(quadrature(IgMethod::RiemannLeft, 1).is_err());
    }

    /// For `F(x) = s²`, `s = Σ x`, on a 1×1×1×2 input with zero baseline, the integrand `2αs` is
    /// linear in α, so Gauss–Legendre is exact: `IG_i = x_i · s`, `Σ IG = F(x) − F(0)`, delta ≈ 0; and the chunked result does not
    /// depend on the chunk size. Cancellation stops before the first chunk when asked to.
    #[test]
    fn quadratic_model_is_integrated_exactly_in_any_chunking() {
        let device = Device::flex();
        let x: Tensor<4> =
            Tensor::from_data(TensorData::new(vec![0.5f32, 0.25], [1, 1, 1, 2]), &device);
        // Two classes: z0 = s², z1 = −s with s = Σx.
        let forward = |x: Tensor<4>| {
            let [r, ..] = x.dims();
            let s = x.reshape([r, 2]).sum_dim(1);
            Tensor::cat(vec![s.clone() * s.clone(), -s], 1)
        };
        let mut maps = Vec::new();
        for spc in [1, 3, 7] {
            let mut seen = Vec::new();
            let config = IgConfig::captum().with_steps(7).with_steps_per_chunk(spc);
            let out = integrated_gradients(
                forward,
                x.clone(),
                &[0],
                &config,
                None,
                || false,
                |p| seen.push(p),
            )
            .expect("valid");
            assert_eq!(
                seen.last().map(|p| (p.done, p.total)),
                Some((7usize.div_ceil(spc), 7usize.div_ceil(spc)))
            );
            let map = out.map.into_data().try_into_vec::<f32>().expect("f32");
            let delta = out.delta.into_data().try_into_vec::<f32>().expect("f32");
            assert!(
                (map[0] - 0.5 * 0.75).abs() < 1e-5 && (map[1] - 0.25 * 0.75).abs() < 1e-5,
                "{map:?}"
            );
            assert!(delta[0].abs() < 1e-5, "{delta:?}");
            maps.push(map);
        }
        assert_eq!(maps[0], maps[2]);
        let cancelled =
            integrated_gradients(forward, x, &[0], &IgConfig::captum(), None, || true, |_| {});
        assert_eq!(
            cancelled.err(),
            Some(AttributionError::Cancelled { done: 0, total: 7 })
        );
    }
}

#[cfg(test)]
mod config_tests {
    use super::*;

    /// Linear model `z = w · x`: IG with any baseline is exactly `w_i (x_i − b_i)` and the delta
    /// is 0; checked for the mean baseline and a given one, and a wrong-shaped baseline is refused.
    #[test]
    fn linear_model_with_mean_and_given_baselines() {
        let device = Device::flex();
        let xs = vec![0.5f32, -1.0, 2.0, 0.25];
        let wv = [0.3f32, -0.7, 1.1, 0.2];
        let x: Tensor<4> = Tensor::from_data(TensorData::new(xs.clone(), [1, 1, 2, 2]), &device);
        let wt: Tensor<2> = Tensor::from_data(TensorData::new(wv.to_vec(), [4, 1]), &device);
        let forward = |x: Tensor<4>| {
            let [r, ..] = x.dims();
            x.reshape([r, 4]).matmul(wt.clone())
        };
        let mean = xs.iter().sum::<f32>() / 4.0;
        let given_vals = vec![0.1f32, 0.2, 0.3, 0.4];
        let given: Tensor<4> =
            Tensor::from_data(TensorData::new(given_vals.clone(), [1, 1, 2, 2]), &device);
        for (baseline, b) in [
            (Baseline::Mean, vec![mean; 4]),
            (Baseline::Given, given_vals),
        ] {
            let config = IgConfig::captum().with_steps(4).with_baseline(baseline);
            let out = integrated_gradients(
                forward,
                x.clone(),
                &[0],
                &config,
                Some(&given),
                || false,
                |_| {},
            )
            .expect("valid");
            let map = out.map.into_data().try_into_vec::<f32>().expect("f32");
            for i in 0..4 {
                let want = wv[i] * (xs[i] - b[i]);
                assert!(
                    (map[i] - want).abs() < 1e-5,
                    "{baseline:?} {i}: {} vs {want}",
                    map[i]
                );
            }
            let delta = out.delta.into_data().try_into_vec::<f32>().expect("f32");
            assert!(delta[0].abs() < 1e-5, "{baseline:?}: {delta:?}");
        }
        let wrong: Tensor<4> = Tensor::zeros([1, 1, 2, 3], &device);
        let config = IgConfig::captum().with_baseline(Baseline::Given);
        let err = integrated_gradients(
            forward,
            x.clone(),
            &[0],
            &config,
            Some(&wrong),
            || false,
            |_| {},
        );
        assert_eq!(
            err.err(),
            Some(AttributionError::BaselineShape {
                got: [1, 1, 2, 3],
                want: [1, 1, 2, 2]
            })
        );
        let err = integrated_gradients(
            forward,
            x,
            &[0, 0],
            &IgConfig::captum(),
            None,
            || false,
            |_| {},
        );
        assert_eq!(
            err.err(),
            Some(AttributionError::TargetCount { got: 2, batch: 1 })
        );
    }

    /// Cancelling after two chunks reports how far it got.
    #[test]
    fn cancels_between_chunks() {
        let device = Device::flex();
        let x: Tensor<4> = Tensor::ones([1, 1, 1, 2], &device);
        let forward = |x: Tensor<4>| {
            let [r, ..] = x.dims();
            x.reshape([r, 2])
        };
        let done = std::cell::Cell::new(0);
        let config = IgConfig::captum().with_steps(10).with_steps_per_chunk(3);
        let err = integrated_gradients(
            forward,
            x,
            &[1],
            &config,
            None,
            || done.get() == 2,
            |p| done.set(p.done),
        );
        assert_eq!(
            err.err(),
            Some(AttributionError::Cancelled { done: 2, total: 4 })
        );
    }

    /// The configs serialise for the report and read back equal; missing fields take defaults.
    #[test]
    fn configs_round_trip_through_json() {
        let config = IgConfig::zennit().with_baseline(Baseline::Blurred { sigma: 2.5 });
        let json = serde_json::to_string(&config).expect("serialise");
        let back: IgConfig = serde_json::from_str(&json).expect("parse");
        assert_eq!(back, config);
        let partial: IgConfig = serde_json::from_str(r#"{"steps": 32}"#).expect("parse");
        assert_eq!(partial, IgConfig::captum().with_steps(32));
        assert!(json.contains(r#""relevance":"logit_one_hot""#), "{json}");
    }
}
