//! Small statistics: summaries, the one-sample one-sided t-test used by RDDT and DET, and seeded
//! percentile-bootstrap confidence intervals.
//!
//! RDDT (Sztukiewicz et al., XAI 2025, §3, eq. 4) and the code's DET run
//! `scipy.stats.ttest_1samp(values, 0, alternative="greater")` on per-image statistics and decide
//! at `p < 0.01` (`docs/METHODS.md#rddt`). Summaries use the code's `np.mean` / `np.std`
//! (ddof = 0; `docs/METHODS.md#pooling`).
//! Bootstrap intervals (Efron & Tibshirani 1993, percentile method) are not in the paper; they are
//! this project's addition, seeded so that a report can be re-run exactly.

use serde::{Deserialize, Serialize};
pub use biaslens_rng::SplitMix64;
use statrs::distribution::{ContinuousCDF, StudentsT};

/// Mean and population standard deviation (ddof = 0), as the authors' `reduce()`; `None` if empty.
pub fn mean_std(values: &[f64]) -> Option<(f64, f64)> {
    if values.is_empty() {
        return None;
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
    Some((mean, var.sqrt()))
}

/// Result of a one-sample, one-sided t-test of `H0: μ = 0` against `H1: μ > 0`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TTest {
    /// Number of values.
    pub n: usize,
    /// Sample mean (NaN-free: 0 for no values).
    pub mean: f64,
    /// t statistic; `None` where scipy gives NaN (fewer than 2 values, or all values 0 and equal);
    /// ±infinity (serialised as `null` in JSON) when all values are equal and non-zero.
    pub t: Option<f64>,
    /// One-sided p-value `P(T_{n−1} ≥ t)`; `None` where scipy gives NaN.
    pub p: Option<f64>,
    /// The decision: `p < alpha`. Undefined p-values decide `false`, as `NaN < 0.01` does in the code.
    pub significant: bool,
}

/// `scipy.stats.ttest_1samp(values, 0, alternative="greater")` with the decision `p < alpha`.
///
/// Matches scipy's edge cases: fewer than two values or a zero-variance sample of zeros gives NaN
/// (here `None`, not significant); a zero-variance non-zero sample gives `t = ±∞`, `p = 0` or `1`.
pub fn ttest_greater(values: &[f64], alpha: f64) -> TTest {
    let n = values.len();
    let Some((mean, pop_std)) = mean_std(values) else {
        return TTest { n, mean: 0.0, t: None, p: None, significant: false };
    };
    if n < 2 {
        return TTest { n, mean, t: None, p: None, significant: false };
    }
    let nf = n as f64;
    let sd = pop_std * (nf / (nf - 1.0)).sqrt();
    let (t, p) = if sd == 0.0 {
        if mean == 0.0 {
            (None, None)
        } else if mean > 0.0 {
            (Some(f64::INFINITY), Some(0.0))
        } else {
            (Some(f64::NEG_INFINITY), Some(1.0))
        }
    } else {
        let t = mean / (sd / nf.sqrt());
        // df ≥ 1 and finite, so the distribution is valid.
        let p = StudentsT::new(0.0, 1.0, nf - 1.0).ok().map(|d| d.sf(t));
        (Some(t), p)
    };
    TTest { n, mean, t, p, significant: p.is_some_and(|p| p < alpha) }
}

/// Bootstrap settings: resamples, confidence level and seed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BootstrapSettings {
    /// Number of resamples (0 turns intervals off).
    pub resamples: usize,
    /// Two-sided confidence level in (0, 1), e.g. 0.95.
    pub level: f64,
    /// Seed of the [`SplitMix64`] stream.
    pub seed: u64,
}

impl Default for BootstrapSettings {
    fn default() -> Self {
        Self { resamples: 1000, level: 0.95, seed: 0 }
    }
}

/// A confidence interval `[low, high]`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    /// Lower bound.
    pub low: f64,
    /// Upper bound.
    pub high: f64,
}

/// The `q`-quantile (`q ∈ [0, 1]`) of sorted values by linear interpolation between order
/// statistics (numpy's default `method="linear"`, Hyndman & Fan type 7). `sorted` must be non-empty.
pub fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    let h = (sorted.len() - 1) as f64 * q;
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

/// Percentile interval of bootstrap statistics (sorted in place); `None` if there are none or one
/// is NaN.
pub fn percentile_interval(stats: &mut [f64], level: f64) -> Option<Interval> {
    if stats.is_empty() || stats.iter().any(|v| v.is_nan()) {
        return None;
    }
    stats.sort_by(f64::total_cmp);
    let tail = (1.0 - level) / 2.0;
    Some(Interval { low: quantile_sorted(stats, tail), high: quantile_sorted(stats, 1.0 - tail) })
}

/// Draws `settings.resamples` bootstrap resamples of `0..n` (each `n` indices with replacement, in
/// stream order) and hands each to `stat`; returns the percentile interval of the results.
///
/// `None` if `n == 0`, resampling is off, or a statistic is NaN.
pub fn bootstrap<F: FnMut(&[usize]) -> f64>(n: usize, settings: &BootstrapSettings, mut stat: F) -> Option<Interval> {
    if n == 0 || settings.resamples == 0 {
        return None;
    }
    let mut rng = SplitMix64::new(settings.seed);
    let mut idx = vec![0usize; n];
    let mut stats = Vec::with_capacity(settings.resamples);
    for _ in 0..settings.resamples {
        for i in idx.iter_mut() {
            *i = rng.below(n);
        }
        stats.push(stat(&idx));
    }
    percentile_interval(&mut stats, settings.level)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttest_hand_worked_and_edge_cases() {
        // values 1,2,3: mean 2, sd 1, t = 2/(1/√3) = 2√3 ≈ 3.4641, df 2: p = 0.0370 (t-table).
        let r = ttest_greater(&[1.0, 2.0, 3.0], 0.01);
        assert!((r.t.expect("defined") - 2.0 * 3f64.sqrt()).abs() < 1e-12);
        // Closed form for df = 2: sf(t) = (1 − t/√(t²+2)) / 2.
        let t = 2.0 * 3f64.sqrt();
        let exact = 0.5 * (1.0 - t / (t * t + 2.0).sqrt());
        assert!((r.p.expect("defined") - exact).abs() < 1e-12, "{r:?}");
        assert!(!r.significant);
        let zeros = ttest_greater(&[0.0; 5], 0.01);
        assert_eq!((zeros.t, zeros.p, zeros.significant), (None, None, false));
        let ones = ttest_greater(&[1.0; 5], 0.01);
        assert_eq!((ones.p, ones.significant), (Some(0.0), true));
        assert_eq!(ttest_greater(&[1.0], 0.01).p, None);
        assert_eq!(ttest_greater(&[], 0.01).n, 0);
    }

    #[test]
    fn quantile_is_numpy_linear() {
        let s = [1.0, 2.0, 4.0, 8.0];
        assert_eq!(quantile_sorted(&s, 0.0), 1.0);
        assert_eq!(quantile_sorted(&s, 1.0), 8.0);
        // h = 3·0.5 = 1.5 → 2 + 0.5·(4 − 2) = 3.
        assert_eq!(quantile_sorted(&s, 0.5), 3.0);
    }

    #[test]
    fn bootstrap_is_seeded_and_brackets_the_mean() {
        let values: Vec<f64> = (0..50).map(|i| f64::from(i % 7)).collect();
        let s = BootstrapSettings { resamples: 300, level: 0.9, seed: 7 };
        let mean_of = |idx: &[usize]| idx.iter().map(|&i| values[i]).sum::<f64>() / idx.len() as f64;
        let a = bootstrap(values.len(), &s, mean_of).expect("non-empty");
        let b = bootstrap(values.len(), &s, mean_of).expect("non-empty");
        assert_eq!(a, b);
        let m = values.iter().sum::<f64>() / 50.0;
        assert!(a.low < m && m < a.high, "{a:?} vs {m}");
        assert!(bootstrap(0, &s, mean_of).is_none());
    }
}
