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

/// The two-sided p-value of a one-sample t-test from its one-sided result
/// (`scipy.stats.ttest_1samp(values, 0)`, i.e. `2·P(T_{n−1} ≥ |t|)`): `2·min(p, 1 − p)`; `None`
/// where the test is undefined.
///
/// For `p > 0.5` (t < 0), `1 − p` cancels: it keeps only ~1e-16 absolute precision (a relative
/// error of 1e-9 at a two-sided p of 1e-7) and is 0 once `p` rounds to 1 (t = −46 with 30 values,
/// where scipy reports 1.5e-28; `tests/fixtures/metrics/stats_cases.json`). So there the lower
/// tail is taken from `t` itself, `P(T_{n−1} ≤ t)`, as scipy's `2·sf(|t|)`, provided `t` is the
/// statistic behind `p` (its tail agrees with `1 − p` to 1e-9); otherwise `1 − p` is used.
pub fn two_sided_p(test: &TTest) -> Option<f64> {
    let p = test.p?;
    if p <= 0.5 {
        return Some((2.0 * p).min(1.0));
    }
    let upper = 1.0 - p;
    let lower = match test.t {
        Some(t) if t.is_finite() && test.n >= 2 => StudentsT::new(0.0, 1.0, test.n as f64 - 1.0)
            .ok()
            .map(|d| d.cdf(t))
            .filter(|lower| (lower - upper).abs() <= 1e-9)
            .unwrap_or(upper),
        _ => upper,
    };
    Some((2.0 * lower).min(1.0))
}

/// The mean of a few values (e.g. one number per seed) with its Student-t interval at `level`:
/// `mean ± t_{(1+level)/2, n−1} · sd/√n`. `None` for no values; the interval is `None` for one.
/// Equal values give the zero-width interval `[mean, mean]` (scipy's `t.interval` gives NaN: it
/// needs `scale > 0`).
pub fn mean_t_interval(values: &[f64], level: f64) -> Option<(f64, Option<Interval>)> {
    let (mean, pop_std) = mean_std(values)?;
    let n = values.len();
    if n < 2 {
        return Some((mean, None));
    }
    let nf = n as f64;
    let se = pop_std * (nf / (nf - 1.0)).sqrt() / nf.sqrt();
    let t = StudentsT::new(0.0, 1.0, nf - 1.0).ok()?.inverse_cdf(0.5 + level / 2.0);
    Some((mean, Some(Interval { low: mean - t * se, high: mean + t * se })))
}

/// Holm–Bonferroni adjusted p-values (Holm 1979): sorted ascending, `p_(i)·(m − i)` made
/// monotone and capped at 1, returned in the input order. Rejecting where the adjusted value is
/// below α controls the family-wise error rate at α. `None` entries (undefined tests) stay `None`
/// and do not count towards `m`.
pub fn holm(p: &[Option<f64>]) -> Vec<Option<f64>> {
    let mut order: Vec<usize> = (0..p.len()).filter(|&i| p[i].is_some()).collect();
    order.sort_by(|&a, &b| p[a].unwrap_or(1.0).total_cmp(&p[b].unwrap_or(1.0)));
    let m = order.len();
    let mut out = vec![None; p.len()];
    let mut running: f64 = 0.0;
    for (rank, &i) in order.iter().enumerate() {
        let adjusted = (p[i].unwrap_or(1.0) * (m - rank) as f64).min(1.0);
        running = running.max(adjusted);
        out[i] = Some(running);
    }
    out
}

/// Spearman's rank correlation of paired values (average ranks for ties, as
/// `scipy.stats.spearmanr`); `None` for fewer than 3 pairs (scipy gives ±1 for two distinct
/// pairs, which any two points have) or a constant side.
pub fn spearman(x: &[f64], y: &[f64]) -> Option<f64> {
    fn ranks(v: &[f64]) -> Vec<f64> {
        let mut idx: Vec<usize> = (0..v.len()).collect();
        idx.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
        let mut r = vec![0.0; v.len()];
        let mut i = 0;
        while i < idx.len() {
            let mut j = i;
            while j + 1 < idx.len() && v[idx[j + 1]] == v[idx[i]] {
                j += 1;
            }
            let avg = (i + j) as f64 / 2.0 + 1.0;
            for k in i..=j {
                r[idx[k]] = avg;
            }
            i = j + 1;
        }
        r
    }
    if x.len() != y.len() || x.len() < 3 || x.iter().chain(y).any(|v| !v.is_finite()) {
        return None;
    }
    let (rx, ry) = (ranks(x), ranks(y));
    let n = x.len() as f64;
    let (mx, my) = (rx.iter().sum::<f64>() / n, ry.iter().sum::<f64>() / n);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in rx.iter().zip(&ry) {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx) * (a - mx);
        syy += (b - my) * (b - my);
    }
    (sxx > 0.0 && syy > 0.0).then(|| sxy / (sxx * syy).sqrt())
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

    #[test]
    fn mean_t_interval_matches_the_closed_form() {
        // n = 4, df = 3: t_{0.975, 3} = 3.182446305284263; values 1, 2, 3, 6: mean 3,
        // sd = √(14/3), se = sd/2.
        let (m, ci) = mean_t_interval(&[1.0, 2.0, 3.0, 6.0], 0.95).expect("values");
        let half = 3.182_446_305_284_263 * (14.0f64 / 3.0).sqrt() / 2.0;
        let ci = ci.expect("n > 1");
        assert!((m - 3.0).abs() < 1e-12 && (ci.low - (3.0 - half)).abs() < 1e-9 && (ci.high - (3.0 + half)).abs() < 1e-9, "{ci:?}");
        assert_eq!(mean_t_interval(&[2.0], 0.95), Some((2.0, None)));
    }

    #[test]
    fn holm_matches_the_textbook_example() {
        // statsmodels.stats.multitest.multipletests([0.01, 0.04, 0.03, 0.005], method="holm"):
        // [0.03, 0.06, 0.06, 0.02].
        let got = holm(&[Some(0.01), Some(0.04), Some(0.03), Some(0.005), None]);
        let want = [0.03, 0.06, 0.06, 0.02];
        for (g, w) in got.iter().zip(want) {
            assert!((g.expect("defined") - w).abs() < 1e-12, "{got:?}");
        }
        assert_eq!(got[4], None);
    }

    #[test]
    fn spearman_matches_scipy() {
        // scipy.stats.spearmanr([1, 2, 3, 4, 5], [5, 6, 7, 8, 7]).statistic = 0.8207826816681233
        let r = spearman(&[1.0, 2.0, 3.0, 4.0, 5.0], &[5.0, 6.0, 7.0, 8.0, 7.0]).expect("defined");
        assert!((r - 0.820_782_681_668_123_3).abs() < 1e-12, "{r}");
        assert_eq!(spearman(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]), None);
        let p = ttest_greater(&[0.1, 0.2, -0.05, 0.3], 0.05);
        // Student t with 3 df has the closed-form CDF ½ + (x/(1+x²) + atan x)/π, x = t/√3:
        // t = 1.8418803882136272, two-sided p = 0.16273310982429345.
        assert!((two_sided_p(&p).expect("defined") - 0.162_733_109_824_293_45).abs() < 1e-9);
    }

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
    fn two_sided_p_keeps_small_values_for_negative_t() {
        // scipy.stats.ttest_1samp([-2.0, -2.1, -1.9, -2.05, -1.95], 0): t = −56.57 (df 4),
        // pvalue = 5.84718796591288e-07; the one-sided p is 1 − 2.9e-7, so 2·(1 − p) alone would
        // carry ~4e-10 relative error (the tolerance below is statrs' tail accuracy, ~1e-12).
        let r = ttest_greater(&[-2.0, -2.1, -1.9, -2.05, -1.95], 0.05);
        let t = r.t.expect("defined");
        let lower = StudentsT::new(0.0, 1.0, 4.0).expect("df 4").cdf(t);
        assert_eq!(two_sided_p(&r), Some(2.0 * lower));
        assert!((2.0 * lower / 5.847_187_965_912_88e-7 - 1.0).abs() < 1e-11, "{lower:e}");
        // A p that does not come from t (a caller overwrote it) is used as given.
        let edited = TTest { p: Some(0.9), ..r };
        assert!((two_sided_p(&edited).expect("defined") - 0.2).abs() < 1e-15);
        let up = TTest { p: Some(0.3), ..r };
        assert_eq!(two_sided_p(&up), Some(0.6));
        // t = −∞ (constant negative values): one-sided p = 1, two-sided 0, as scipy.
        assert_eq!(two_sided_p(&ttest_greater(&[-1.0; 3], 0.05)), Some(0.0));
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
