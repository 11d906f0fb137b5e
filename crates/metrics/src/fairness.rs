//! Group fairness of binary predictions: confusion counts, rates, EqualizedOdds and other gaps,
//! accuracy, and Yule's φ of a 2×2 table.
//!
//! EqualizedOdds is the paper's (§4.2): `max(|TPR_{PA=1} − TPR_{PA=0}|, |FPR_{PA=1} − FPR_{PA=0}|)`
//! (Hardt, Price & Srebro 2016). The rest follows DetoxAI's `comprehensive_metrics_torch`
//! (`docs/METHODS.md#fairness`): rates divide by a guarded denominator `max(count, ε)`, which for
//! integer counts means an empty denominator gives a rate of 0. Two deviations from that code (in
//! its version of 2025-01-09; DetoxAI changed both on 2025-01-17), both bug fixes:
//!
//! * **Demographic parity.** The code computes `|P₀ − P₁| / (P₀ + P₁)` where `Pₐ = tp + fn` is the
//!   number of *actual* positives of group a, which does not depend on the model at all. Here it is
//!   the standard `|P(ŷ=1 | PA=1) − P(ŷ=1 | PA=0)|`.
//! * **Accuracy per group** is guarded like the rates (an empty group has accuracy 0); the code
//!   divides unguarded and gives NaN.
//!
//! Yule's φ (the φ coefficient of a 2×2 table) is how the paper states the strength of the
//! protected attribute–target correlation it trains on (§4.2).

use serde::{Deserialize, Serialize};

use crate::stats::{BootstrapSettings, Interval, bootstrap, percentile_interval};
use crate::MetricsError;

/// Confusion counts of binary predictions (positive class = 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Confusion {
    /// True positives.
    pub tp: u64,
    /// False positives.
    pub fp: u64,
    /// True negatives.
    pub tn: u64,
    /// False negatives (`"fn"` in JSON).
    #[serde(rename = "fn")]
    pub fn_: u64,
}

/// `num / max(den, ε)` for counts: 0 when the denominator is empty (the code's guard).
fn guarded(num: u64, den: u64) -> f64 {
    if den == 0 { 0.0 } else { num as f64 / den as f64 }
}

impl Confusion {
    /// Adds one (label, prediction) pair.
    pub fn add(&mut self, label: bool, pred: bool) {
        match (label, pred) {
            (true, true) => self.tp += 1,
            (false, true) => self.fp += 1,
            (false, false) => self.tn += 1,
            (true, false) => self.fn_ += 1,
        }
    }
    /// Number of samples.
    pub const fn n(&self) -> u64 {
        self.tp + self.fp + self.tn + self.fn_
    }
    /// True positive rate `tp / (tp + fn)` (guarded).
    pub fn tpr(&self) -> f64 {
        guarded(self.tp, self.tp + self.fn_)
    }
    /// False positive rate `fp / (fp + tn)` (guarded).
    pub fn fpr(&self) -> f64 {
        guarded(self.fp, self.fp + self.tn)
    }
    /// True negative rate `tn / (fp + tn)` (guarded).
    pub fn tnr(&self) -> f64 {
        guarded(self.tn, self.fp + self.tn)
    }
    /// False negative rate `fn / (tp + fn)` (guarded).
    pub fn fnr(&self) -> f64 {
        guarded(self.fn_, self.tp + self.fn_)
    }
    /// Accuracy `(tp + tn) / n` (guarded).
    pub fn accuracy(&self) -> f64 {
        guarded(self.tp + self.tn, self.n())
    }
    /// Balanced accuracy `(TPR + TNR) / 2`.
    pub fn balanced_accuracy(&self) -> f64 {
        (self.tpr() + self.tnr()) / 2.0
    }
    /// Positive prediction rate `(tp + fp) / n` (guarded).
    pub fn positive_rate(&self) -> f64 {
        guarded(self.tp + self.fp, self.n())
    }
}

/// Rates of one group (or of everyone).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GroupRates {
    /// Counts.
    pub confusion: Confusion,
    /// True positive rate.
    pub tpr: f64,
    /// False positive rate.
    pub fpr: f64,
    /// True negative rate.
    pub tnr: f64,
    /// False negative rate.
    pub fnr: f64,
    /// Accuracy.
    pub accuracy: f64,
    /// Balanced accuracy.
    pub balanced_accuracy: f64,
    /// Share predicted positive.
    pub positive_rate: f64,
}

impl From<Confusion> for GroupRates {
    fn from(c: Confusion) -> Self {
        Self {
            confusion: c,
            tpr: c.tpr(),
            fpr: c.fpr(),
            tnr: c.tnr(),
            fnr: c.fnr(),
            accuracy: c.accuracy(),
            balanced_accuracy: c.balanced_accuracy(),
            positive_rate: c.positive_rate(),
        }
    }
}

/// A fairness value and its bootstrap interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Value {
    /// The value on all samples.
    pub value: f64,
    /// Percentile-bootstrap interval (samples resampled with replacement), if requested.
    pub ci: Option<Interval>,
}

/// Fairness of binary predictions with respect to a binary protected attribute.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FairnessReport {
    /// Everyone.
    pub overall: GroupRates,
    /// Protected attribute = 0.
    pub unprotected: GroupRates,
    /// Protected attribute = 1.
    pub protected: GroupRates,
    /// `max(|ΔTPR|, |ΔFPR|)`.
    pub equalized_odds: Value,
    /// `|ΔTPR|`.
    pub equal_opportunity: Value,
    /// `|Δ P(ŷ = 1)|`.
    pub demographic_parity: Value,
    /// `|Δ accuracy|`.
    pub accuracy_parity: Value,
    /// Overall accuracy.
    pub accuracy: Value,
    /// Overall balanced accuracy.
    pub balanced_accuracy: Value,
    /// Yule's φ between protected attribute and label (the data's correlation; `None` if a margin
    /// of the table is empty).
    pub phi_label: Option<f64>,
}

/// Yule's φ of the 2×2 table `[[a, b], [c, d]]`: `(ad − bc) / sqrt((a+b)(c+d)(a+c)(b+d))`;
/// `None` if a margin is zero.
pub fn yule_phi(a: u64, b: u64, c: u64, d: u64) -> Option<f64> {
    let (a, b, c, d) = (a as f64, b as f64, c as f64, d as f64);
    let den = (a + b) * (c + d) * (a + c) * (b + d);
    (den > 0.0).then(|| (a * d - b * c) / den.sqrt())
}

fn check_binary(name: &str, v: &[i64]) -> Result<(), MetricsError> {
    match v.iter().position(|&x| x != 0 && x != 1) {
        Some(i) => Err(MetricsError::Value(format!("{name}[{i}] = {} but only 0 and 1 are allowed", v[i]))),
        None => Ok(()),
    }
}

struct Gaps {
    eo: f64,
    eopp: f64,
    dp: f64,
    ap: f64,
    acc: f64,
    bacc: f64,
}

fn gaps(labels: &[i64], preds: &[i64], pa: &[i64], idx: impl Iterator<Item = usize>) -> (Confusion, Confusion, Gaps) {
    let mut g = [Confusion::default(); 2];
    for i in idx {
        g[usize::from(pa[i] == 1)].add(labels[i] == 1, preds[i] == 1);
    }
    let [u, p] = g;
    let all = Confusion { tp: u.tp + p.tp, fp: u.fp + p.fp, tn: u.tn + p.tn, fn_: u.fn_ + p.fn_ };
    let eopp = (p.tpr() - u.tpr()).abs();
    let gaps = Gaps {
        eo: eopp.max((p.fpr() - u.fpr()).abs()),
        eopp,
        dp: (p.positive_rate() - u.positive_rate()).abs(),
        ap: (p.accuracy() - u.accuracy()).abs(),
        acc: all.accuracy(),
        bacc: all.balanced_accuracy(),
    };
    (u, p, gaps)
}

/// Equal, non-zero lengths and 0/1 values.
fn check_inputs(labels: &[i64], preds: &[i64], protected: &[i64]) -> Result<(), MetricsError> {
    let n = labels.len();
    if preds.len() != n || protected.len() != n || n == 0 {
        return Err(MetricsError::Shape(format!(
            "{n} labels, {} predictions and {} protected-attribute values; they must be equal and non-zero",
            preds.len(),
            protected.len()
        )));
    }
    check_binary("labels", labels)?;
    check_binary("predictions", preds)?;
    check_binary("protected", protected)
}

/// Fairness report of `preds` against `labels` for groups `protected` (all 0/1, same length).
///
/// # Errors
/// [`MetricsError::Shape`] for different lengths or no samples, [`MetricsError::Value`] for a
/// value other than 0 or 1.
pub fn fairness_report(
    labels: &[i64],
    preds: &[i64],
    protected: &[i64],
    boot: Option<&BootstrapSettings>,
) -> Result<FairnessReport, MetricsError> {
    let n = labels.len();
    check_inputs(labels, preds, protected)?;
    let (u, p, g) = gaps(labels, preds, protected, 0..n);
    let ci = |f: fn(&Gaps) -> f64| {
        boot.and_then(|b| bootstrap(n, b, |r| f(&gaps(labels, preds, protected, r.iter().copied()).2)))
    };
    let value = |v: f64, f: fn(&Gaps) -> f64| Value { value: v, ci: ci(f) };
    let mut table = [0u64; 4];
    for (&pa, &y) in protected.iter().zip(labels) {
        table[usize::try_from(pa * 2 + y).unwrap_or(0)] += 1;
    }
    let overall = Confusion { tp: u.tp + p.tp, fp: u.fp + p.fp, tn: u.tn + p.tn, fn_: u.fn_ + p.fn_ };
    Ok(FairnessReport {
        overall: overall.into(),
        unprotected: u.into(),
        protected: p.into(),
        equalized_odds: value(g.eo, |g| g.eo),
        equal_opportunity: value(g.eopp, |g| g.eopp),
        demographic_parity: value(g.dp, |g| g.dp),
        accuracy_parity: value(g.ap, |g| g.ap),
        accuracy: value(g.acc, |g| g.acc),
        balanced_accuracy: value(g.bacc, |g| g.bacc),
        // Table rows PA = 1, 0; columns label = 1, 0: φ > 0 means PA goes with the positive label.
        phi_label: yule_phi(table[3], table[2], table[1], table[0]),
    })
}

/// A paired comparison of one fairness gap between two classifiers on the same images.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PairedGap {
    /// `gap(b) − gap(a)` on all images.
    pub difference: f64,
    /// Percentile-bootstrap interval of the difference (both classifiers on the same resample).
    pub ci: Option<Interval>,
    /// Two-sided bootstrap p-value of "no difference": `min(1, 2·min(k₋, k₊)/(B+1))` with `k₋`
    /// (`k₊`) counting resamples whose difference is ≤ 0 (≥ 0), each plus one.
    pub p: f64,
    /// Resamples drawn.
    pub resamples: usize,
}

/// EqualizedOdds of `preds_b` minus that of `preds_a` (same labels and groups), with a **paired**
/// bootstrap: each resample of the images scores both classifiers, so the images' own difficulty
/// cancels (docs/METHODS.md#fairness). Identical predictions give a difference of exactly 0 on
/// every resample and `p = 1`.
///
/// # Errors
/// As [`fairness_report`], for either set of predictions.
pub fn paired_eo_difference(
    labels: &[i64],
    preds_a: &[i64],
    preds_b: &[i64],
    protected: &[i64],
    settings: &BootstrapSettings,
) -> Result<PairedGap, MetricsError> {
    let n = labels.len();
    check_inputs(labels, preds_a, protected)?;
    check_inputs(labels, preds_b, protected)?;
    let eo = |preds: &[i64], idx: &[usize]| gaps(labels, preds, protected, idx.iter().copied()).2.eo;
    let all: Vec<usize> = (0..n).collect();
    let difference = eo(preds_b, &all) - eo(preds_a, &all);
    let mut stats = Vec::with_capacity(settings.resamples);
    let mut rng = biaslens_rng::SplitMix64::new(settings.seed);
    let mut idx = vec![0usize; n];
    for _ in 0..settings.resamples {
        for i in &mut idx {
            *i = rng.below(n);
        }
        stats.push(eo(preds_b, &idx) - eo(preds_a, &idx));
    }
    let b = stats.len();
    let below = stats.iter().filter(|&&d| d <= 0.0).count() + 1;
    let above = stats.iter().filter(|&&d| d >= 0.0).count() + 1;
    let p = (2.0 * below.min(above) as f64 / (b + 1) as f64).min(1.0);
    let ci = percentile_interval(&mut stats, settings.level);
    Ok(PairedGap { difference, ci, p, resamples: b })
}

/// Whether a classifier's EqualizedOdds is larger than chance would give: a permutation test
/// that shuffles the protected attribute **within each label** (so each group keeps its label
/// mix) `resamples` times; the one-sided p-value is `(k + 1)/(B + 1)` with `k` the permutations
/// whose EO is at least the observed one. Used as the premise "the model treats the groups
/// differently" where no counterfactual images exist (docs/METHODS.md#fairness).
///
/// # Errors
/// As [`fairness_report`].
pub fn eo_permutation_p(labels: &[i64], preds: &[i64], protected: &[i64], resamples: usize, seed: u64) -> Result<f64, MetricsError> {
    let observed = fairness_report(labels, preds, protected, None)?.equalized_odds.value;
    let n = labels.len();
    let mut rng = biaslens_rng::SplitMix64::new(seed);
    let strata: [Vec<usize>; 2] = [0, 1].map(|y| (0..n).filter(|&i| labels[i] == y).collect());
    let mut shuffled = protected.to_vec();
    let mut k = 0usize;
    for _ in 0..resamples {
        for idx in &strata {
            // Fisher–Yates over the stratum's positions.
            let mut values: Vec<i64> = idx.iter().map(|&i| protected[i]).collect();
            for j in (1..values.len()).rev() {
                values.swap(j, rng.below(j + 1));
            }
            for (&i, v) in idx.iter().zip(values) {
                shuffled[i] = v;
            }
        }
        if gaps(labels, preds, &shuffled, 0..n).2.eo >= observed - 1e-12 {
            k += 1;
        }
    }
    Ok((k + 1) as f64 / (resamples + 1) as f64)
}

#[cfg(test)]
mod tests {

    #[test]
    fn paired_eo_difference_is_zero_for_the_same_classifier_and_finds_a_real_one() {
        let settings = BootstrapSettings { resamples: 400, level: 0.95, seed: 3 };
        let n = 200;
        let y: Vec<i64> = (0..n).map(|i| i64::from(i % 2 == 0)).collect();
        let a: Vec<i64> = (0..n).map(|i| i64::from(i % 4 < 2)).collect();
        // Classifier a: right everywhere except protected negatives (all predicted positive):
        // FPR gap 1. Classifier b: always right: EO 0.
        let biased: Vec<i64> = (0..n).map(|i| if a[i] == 1 { 1 } else { y[i] }).collect();
        let same = paired_eo_difference(&y, &biased, &biased, &a, &settings).expect("valid");
        assert_eq!((same.difference, same.p), (0.0, 1.0));
        let fixed = paired_eo_difference(&y, &biased, &y, &a, &settings).expect("valid");
        assert!((fixed.difference + 1.0).abs() < 1e-12, "{fixed:?}");
        assert!(fixed.p <= 2.0 / 401.0 + 1e-12, "{fixed:?}");
        assert!(fixed.ci.is_some_and(|c| c.high < 0.0));
        assert!(eo_permutation_p(&y, &biased, &a, 200, 1).expect("valid") < 0.01);
        assert!(eo_permutation_p(&y, &y, &a, 200, 1).expect("valid") > 0.5, "a fair classifier is not flagged");
    }

    use super::*;

    #[test]
    fn hand_worked_rates_and_gaps() {
        // PA=0: labels 1 1 0 0, preds 1 0 0 0 → TPR 1/2, FPR 0, acc 3/4, positive rate 1/4.
        // PA=1: labels 1 0 0,   preds 1 1 0   → TPR 1,   FPR 1/2, acc 2/3, positive rate 2/3.
        let y = [1, 1, 0, 0, 1, 0, 0];
        let yh = [1, 0, 0, 0, 1, 1, 0];
        let a = [0, 0, 0, 0, 1, 1, 1];
        let r = fairness_report(&y, &yh, &a, None).expect("valid input");
        assert_eq!(r.unprotected.confusion, Confusion { tp: 1, fp: 0, tn: 2, fn_: 1 });
        assert!((r.equalized_odds.value - 0.5).abs() < 1e-12);
        assert!((r.equal_opportunity.value - 0.5).abs() < 1e-12);
        assert!((r.demographic_parity.value - (2.0 / 3.0 - 0.25)).abs() < 1e-12);
        assert!((r.accuracy_parity.value - (0.75 - 2.0 / 3.0)).abs() < 1e-12);
        assert!((r.accuracy.value - 5.0 / 7.0).abs() < 1e-12);
        // Overall TPR 2/3, TNR 3/4.
        assert!((r.balanced_accuracy.value - (2.0 / 3.0 + 0.75) / 2.0).abs() < 1e-12);
    }

    #[test]
    fn empty_denominators_are_zero_and_bad_values_are_errors() {
        let r = fairness_report(&[0, 0], &[1, 0], &[0, 1], None).expect("valid input");
        assert_eq!(r.protected.tpr, 0.0);
        assert_eq!(r.unprotected.fpr, 1.0);
        assert!(fairness_report(&[0, 2], &[1, 0], &[0, 1], None).is_err());
        assert!(fairness_report(&[0], &[1, 0], &[0, 1], None).is_err());
        assert!(fairness_report(&[], &[], &[], None).is_err());
    }

    #[test]
    fn yule_phi_known_values() {
        assert_eq!(yule_phi(10, 0, 0, 10), Some(1.0));
        assert_eq!(yule_phi(0, 10, 10, 0), Some(-1.0));
        assert_eq!(yule_phi(5, 5, 5, 5), Some(0.0));
        assert_eq!(yule_phi(0, 0, 3, 4), None);
    }

    #[test]
    fn eo_is_symmetric_in_group_order() {
        let y = [1, 0, 1, 0, 1, 1, 0, 0, 1];
        let yh = [1, 1, 0, 0, 1, 0, 0, 1, 1];
        let a = [0, 1, 1, 0, 0, 1, 0, 1, 1];
        let flipped: Vec<i64> = a.iter().map(|v| 1 - v).collect();
        let r1 = fairness_report(&y, &yh, &a, None).expect("valid input");
        let r2 = fairness_report(&y, &yh, &flipped, None).expect("valid input");
        assert_eq!(r1.equalized_odds.value, r2.equalized_odds.value);
        assert_eq!(r1.demographic_parity.value, r2.demographic_parity.value);
        assert_eq!(r1.phi_label.map(|p| -p), r2.phi_label);
    }
}
