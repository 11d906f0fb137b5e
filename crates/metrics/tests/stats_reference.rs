//! Agreement of the small statistics (`holm`, `spearman`, `mean_t_interval`, `ttest_greater`,
//! `two_sided_p`) with scipy 1.17.1 and statsmodels 0.15.0, on the cases that
//! `tests/reference/stats_reference.py` writes to `tests/fixtures/metrics/stats_cases.json`
//! (fixture encoding: NaN → `null`, ±∞ → `"inf"` / `"-inf"`).
//!
//! Undefined values must agree exactly: scipy's NaN is `None` here, ±∞ is ±∞. Where biaslens
//! defines a case differently from scipy on purpose, the test asserts biaslens' definition by
//! name (see [`documented_difference`]); nothing is skipped silently.
//!
//! Each function's tolerance is stated next to its constant, with the largest deviation measured
//! (print them with `cargo test -p biaslens-metrics --test stats_reference -- --nocapture`).
//! Re-make the fixture with `/work/.refenv051/bin/python tests/reference/stats_reference.py` (any
//! venv with numpy, scipy and statsmodels; versions are recorded in the fixture).
//! The test also checks that it can tell the right method from a near miss: Holm from Bonferroni,
//! Hochberg and Holm with missing tests counted, Spearman with average ranks from ordinal ranks.

use biaslens_metrics::{holm, mean_t_interval, spearman, ttest_greater, two_sided_p};
use serde_json::Value;

const FIXTURE: &str = include_str!("../../../tests/fixtures/metrics/stats_cases.json");

// Measured on this fixture (`-- --nocapture` prints them) and the tolerances set above them.
// serde_json as this workspace builds it (without `float_roundtrip`) may read a 17-digit decimal
// one ulp off (e.g. "1.8999999999999998e-05" as 1.9e-5), so every comparison below carries up to
// 2.2e-16 relative from parsing alone; read with a correctly rounded parser, Holm is bitwise equal.

/// Holm: `|rust − statsmodels| ≤ TOL · |statsmodels|`. Both multiply the sorted p-values by
/// `m − i`, take a running maximum and cap at 1: the same f64 operations, so the values are
/// bitwise equal (measured 0 with a correctly rounded parse; 1.8e-16 = one ulp from serde_json's
/// parse above). 1e-15 allows that ulp and a reordered product, and nothing a method change
/// could hide in (Bonferroni or counting missing tests move some value here by ≥ 5 %).
const TOL_HOLM: f64 = 1e-15;

/// Spearman: `|rust − scipy| ≤ TOL` (absolute; ρ ∈ [−1, 1]). Average ranks are exact
/// (half-)integers on both sides; only the Pearson correlation of the ranks is summed in another
/// order (numpy's `corrcoef` vs one loop here). Measured max: 1.1e-16. 1e-14 is ~100× that, and
/// 10¹¹ times below the smallest gap between average and ordinal ranks here (2.9e-3).
const TOL_SPEARMAN: f64 = 1e-14;

/// Means (`|Δ| ≤ TOL · max(|mean|, mean |x|)`, the scale of a sum's rounding error) and t
/// statistics (relative). Summation order differs (numpy's pairwise sums vs a loop) and the
/// standard deviation is formed differently (`std(ddof=1)` vs `√(n/(n−1))·std`). Measured max:
/// 2.3e-16 for means, 3.4e-15 for t (n = 50). 1e-13 is ~30× the latter.
const TOL_T: f64 = 1e-13;

/// p-values, one- and two-sided: relative, `|Δ| ≤ TOL · |scipy|` (tiny p-values are what Holm
/// multiplies and α compares). statrs evaluates the t tail with its regularised incomplete beta,
/// scipy with Boost's `ibeta`. Measured max on the fixture: 6.4e-13 (t = 3e-4, df 4, p ≈ 0.5);
/// ≤ 2e-13 down to p = 1e-29. A sweep of statrs' `sf` against `scipy.stats.t.sf` found ≤ 1e-11
/// for df ≤ 1000 (the fixture's largest), 3e-10 at df 10⁴ near t = 0, growing to 5e-8 at df 10⁶:
/// statrs' accuracy, not a formula difference, and far below a printed digit. 1e-10 is ~150×
/// the fixture's maximum and covers its sizes.
const TOL_P: f64 = 1e-10;

/// Interval ends: `|Δ| ≤ TOL · max(|end|, half-width)`. The half-width is `t_quantile · sem`;
/// statrs inverts the t CDF through `inv_beta_reg`, scipy through Boost's quantile. Measured max:
/// 5.1e-13 of the half-width (n = 50 and 1000). A sweep of statrs' quantile against
/// `scipy.stats.t.ppf` at levels 0.9/0.95/0.99: ≤ 6.5e-13 relative for df ≤ 1000, 3e-12 at
/// df 2000, 6e-12 at 10⁴, but 3.5e-6 at df 10⁵ (statrs' `inv_beta_reg` loses accuracy there;
/// `mean_t_interval` is meant for a few values, one per seed). 1e-11 is 20× the fixture's maximum.
const TOL_INTERVAL: f64 = 1e-11;

/// Disagreements and the largest scaled deviation per quantity of one test (printed with
/// `--nocapture`).
#[derive(Default)]
struct Check {
    errors: Vec<String>,
    worst: Vec<(&'static str, f64, String)>,
}

impl Check {
    /// Compares an optional value with scipy's: both undefined, both the same infinity, or both
    /// finite with `|got − want| ≤ tol · scale(want)`.
    fn close(&mut self, what: &'static str, case: &str, got: Option<f64>, want: Option<f64>, tol: f64, scale: impl Fn(f64) -> f64) {
        match (got, want) {
            (None, None) => {}
            (Some(g), Some(w)) if w.is_infinite() || g.is_infinite() => {
                if g != w {
                    self.errors.push(format!("{case} {what}: rust {g:e} vs scipy {w:e}"));
                }
            }
            (Some(g), Some(w)) => {
                let dev = if g == w { 0.0 } else { (g - w).abs() / scale(w).max(f64::MIN_POSITIVE) };
                match self.worst.iter_mut().find(|(k, _, _)| *k == what) {
                    Some(entry) if dev > entry.1 => *entry = (what, dev, case.to_string()),
                    Some(_) => {}
                    None => self.worst.push((what, dev, case.to_string())),
                }
                if dev > tol {
                    self.errors.push(format!("{case} {what}: rust {g:e} vs scipy {w:e} (scaled deviation {dev:.2e} > {tol:e})"));
                }
            }
            (g, w) => self.errors.push(format!("{case} {what}: rust {g:?} vs scipy {w:?} (one side undefined)")),
        }
    }

    fn finish(self) {
        for (what, dev, case) in &self.worst {
            println!("max deviation {what:<14} {dev:.3e}  ({case})");
        }
        assert!(self.errors.is_empty(), "{} disagreements with the reference:\n{}", self.errors.len(), self.errors.join("\n"));
    }
}

fn fixture() -> Value {
    serde_json::from_str(FIXTURE).expect("stats_cases.json is JSON (re-run tests/reference/stats_reference.py)")
}

/// A fixture number: `null` is NaN (undefined, `None`), `"inf"` / `"-inf"` are ±∞.
fn num(v: &Value) -> Option<f64> {
    match v {
        Value::Null => None,
        Value::String(s) if s == "inf" => Some(f64::INFINITY),
        Value::String(s) if s == "-inf" => Some(f64::NEG_INFINITY),
        Value::Number(n) => n.as_f64(),
        other => panic!("not a fixture number: {other}"),
    }
}

/// A vector of inputs; `null` entries are NaN inputs.
fn floats(v: &Value) -> Vec<f64> {
    v.as_array().expect("array").iter().map(|x| num(x).unwrap_or(f64::NAN)).collect()
}

fn opt_floats(v: &Value) -> Vec<Option<f64>> {
    v.as_array().expect("array").iter().map(num).collect()
}

fn name(case: &Value) -> &str {
    case["name"].as_str().expect("case name")
}

/// The cases where biaslens defines a value that scipy leaves undefined or defines otherwise, on
/// purpose and documented at the function:
///
/// * `spearman` with fewer than 3 pairs is `None` ("fewer than 3 pairs"): scipy returns ±1 for
///   two distinct pairs, a correlation that any two points have and that says nothing.
/// * `mean_t_interval` of a constant sample (sd = 0, n ≥ 2) is the zero-width interval
///   `[mean, mean]` (`mean ± t·0`): scipy returns NaN because `t.interval` requires `scale > 0`.
/// * `ttest_greater` of no values has `mean = 0` ("NaN-free: 0 for no values"): scipy's mean is NaN.
fn documented_difference(case: &str) -> bool {
    matches!(case, "two_pairs" | "two_pairs_reversed" | "constant_positive" | "constant_negative" | "constant_zero" | "empty")
}

#[test]
fn holm_matches_statsmodels() {
    let fx = fixture();
    let cases = fx["holm"].as_array().expect("holm cases");
    assert!(cases.len() >= 10, "every edge case is present");
    let mut check = Check::default();
    let (mut not_bonferroni, mut not_hochberg, mut not_counting_missing) = (false, false, false);
    for case in cases {
        let p = opt_floats(&case["p"]);
        let want = opt_floats(&case["holm"]);
        let got = holm(&p);
        assert_eq!(got.len(), p.len(), "{}", name(case));
        for (g, w) in got.iter().zip(&want) {
            check.close("holm", name(case), *g, *w, TOL_HOLM, f64::abs);
        }
        // The reference must tell Holm from its near misses somewhere.
        let differs = |alt: &[Option<f64>]| {
            alt.iter().zip(&want).any(|(a, w)| match (a, w) {
                (Some(a), Some(w)) => (a - w).abs() > 1e6 * TOL_HOLM * w.abs().max(1e-300),
                (a, w) => a.is_some() != w.is_some(),
            })
        };
        not_bonferroni |= differs(&bonferroni(&p));
        not_hochberg |= differs(&hochberg(&p));
        not_counting_missing |= differs(&holm_counting_missing(&p));
    }
    assert!(not_bonferroni, "no case tells Holm from Bonferroni");
    assert!(not_hochberg, "no case tells Holm (step-down) from Hochberg (step-up)");
    assert!(not_counting_missing, "no case tells whether missing p-values count towards m");
    check.finish();
}

fn bonferroni(p: &[Option<f64>]) -> Vec<Option<f64>> {
    let m = p.iter().flatten().count() as f64;
    p.iter().map(|q| q.map(|q| (q * m).min(1.0))).collect()
}

fn hochberg(p: &[Option<f64>]) -> Vec<Option<f64>> {
    let mut order: Vec<usize> = (0..p.len()).filter(|&i| p[i].is_some()).collect();
    order.sort_by(|&a, &b| p[b].unwrap_or(0.0).total_cmp(&p[a].unwrap_or(0.0)));
    let mut out = vec![None; p.len()];
    let mut running = 1.0f64;
    for (k, &i) in order.iter().enumerate() {
        running = running.min(p[i].unwrap_or(1.0) * (k + 1) as f64);
        out[i] = Some(running);
    }
    out
}

/// Holm with every entry counted in `m`, the missing ones as p = 1.
fn holm_counting_missing(p: &[Option<f64>]) -> Vec<Option<f64>> {
    let filled: Vec<Option<f64>> = p.iter().map(|q| Some(q.unwrap_or(1.0))).collect();
    holm(&filled).into_iter().zip(p).map(|(h, q)| q.and(h)).collect()
}

#[test]
fn spearman_matches_scipy() {
    let fx = fixture();
    let cases = fx["spearman"].as_array().expect("spearman cases");
    assert!(cases.len() >= 10, "every edge case is present");
    let mut check = Check::default();
    let mut not_ordinal = false;
    for case in cases {
        let (x, y) = (floats(&case["x"]), floats(&case["y"]));
        let want = num(&case["rho"]);
        let got = spearman(&x, &y);
        if documented_difference(name(case)) {
            // scipy: ±1 for two distinct pairs; biaslens: undefined below 3 pairs.
            assert!(x.len() < 3, "{}", name(case));
            assert!(want.is_some_and(|w| (w.abs() - 1.0).abs() < 1e-15), "{}: scipy {want:?}", name(case));
            assert_eq!(got, None, "{}: fewer than 3 pairs is undefined in biaslens", name(case));
            continue;
        }
        check.close("spearman", name(case), got, want, TOL_SPEARMAN, |_| 1.0);
        if let (Some(o), Some(w)) = (ordinal_spearman(&x, &y), want) {
            not_ordinal |= (o - w).abs() > 1e3 * TOL_SPEARMAN;
        }
    }
    assert!(not_ordinal, "no case tells average ranks from ordinal ranks");
    check.finish();
}

/// Spearman with ordinal ranks (ties broken by position): the near miss the fixture must catch.
fn ordinal_spearman(x: &[f64], y: &[f64]) -> Option<f64> {
    fn ranks(v: &[f64]) -> Vec<f64> {
        let mut idx: Vec<usize> = (0..v.len()).collect();
        idx.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
        let mut r = vec![0.0; v.len()];
        for (k, &i) in idx.iter().enumerate() {
            r[i] = k as f64 + 1.0;
        }
        r
    }
    if x.len() < 3 || x.iter().chain(y).any(|v| !v.is_finite()) {
        return None;
    }
    let (rx, ry) = (ranks(x), ranks(y));
    let n = rx.len() as f64;
    let m = (n + 1.0) / 2.0;
    let sxy: f64 = rx.iter().zip(&ry).map(|(a, b)| (a - m) * (b - m)).sum();
    let sxx: f64 = rx.iter().map(|a| (a - m) * (a - m)).sum();
    Some(sxy / sxx)
}

/// `Σ|x| / n`: the scale of the rounding error of a mean (a mean near 0 from large values of both
/// signs has a large relative error on either side).
fn mean_abs(x: &[f64]) -> f64 {
    x.iter().map(|v| v.abs()).sum::<f64>() / x.len() as f64
}

#[test]
fn ttest_and_two_sided_p_match_scipy() {
    let fx = fixture();
    let cases = fx["t"].as_array().expect("t cases");
    assert!(cases.len() >= 15, "every edge case is present");
    let mut check = Check::default();
    for case in cases {
        let case_name = name(case);
        let x = floats(&case["x"]);
        let r = ttest_greater(&x, 0.05);
        assert_eq!(r.n, x.len(), "{case_name}");
        if case_name == "empty" {
            // Documented: biaslens' mean of no values is 0, scipy's NaN.
            assert_eq!((r.mean, num(&case["mean"])), (0.0, None), "{case_name}");
        } else {
            check.close("mean", case_name, Some(r.mean), num(&case["mean"]), TOL_T, |w| w.abs().max(mean_abs(&x)));
        }
        check.close("t", case_name, r.t, num(&case["t"]), TOL_T, f64::abs);
        let p_greater = num(&case["p_greater"]);
        check.close("p_greater", case_name, r.p, p_greater, TOL_P, f64::abs);
        check.close("p_two_sided", case_name, two_sided_p(&r), num(&case["p_two_sided"]), TOL_P, f64::abs);
        // The decision is scipy's `p < alpha`, NaN never significant.
        for alpha in [0.01, 0.05] {
            let r = ttest_greater(&x, alpha);
            assert_eq!(r.significant, p_greater.is_some_and(|p| p < alpha), "{case_name} at α = {alpha}");
        }
    }
    check.finish();
}

#[test]
fn mean_t_interval_matches_scipy() {
    let fx = fixture();
    let cases = fx["t"].as_array().expect("t cases");
    let mut check = Check::default();
    let mut compared = 0;
    for case in cases {
        let case_name = name(case);
        let x = floats(&case["x"]);
        for iv in case["intervals"].as_array().expect("intervals") {
            let level = iv["level"].as_f64().expect("level");
            let (low, high) = (num(&iv["low"]), num(&iv["high"]));
            let got = mean_t_interval(&x, level);
            if x.is_empty() {
                assert_eq!(got, None, "{case_name}: no values, no mean");
                assert_eq!((low, high), (None, None), "{case_name}");
                continue;
            }
            let (mean, ci) = got.expect("non-empty");
            check.close("interval mean", case_name, Some(mean), num(&case["mean"]), TOL_T, |w| w.abs().max(mean_abs(&x)));
            if documented_difference(case_name) {
                // scipy: NaN (scale = sem = 0 is outside t.interval's domain); biaslens: [mean, mean].
                assert_eq!((low, high), (None, None), "{case_name}: scipy");
                let ci = ci.expect("n ≥ 2");
                assert!(ci.low == mean && ci.high == mean, "{case_name}: zero-width interval, got {ci:?}");
                continue;
            }
            let half = match (low, high) {
                (Some(l), Some(h)) => (h - l) / 2.0,
                _ => 0.0,
            };
            let scale = |w: f64| w.abs().max(half);
            check.close("interval low", case_name, ci.map(|c| c.low), low, TOL_INTERVAL, scale);
            check.close("interval high", case_name, ci.map(|c| c.high), high, TOL_INTERVAL, scale);
            compared += usize::from(ci.is_some());
        }
    }
    assert!(compared >= 30, "intervals compared: {compared}");
    check.finish();
}
