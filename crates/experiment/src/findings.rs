//! The paper's claims as statistical tests (Sztukiewicz et al., XAI 2025, §4.1–4.2;
//! docs/METHODS.md#readings): every claim about a method at one unit (φ, seed) is decided by a
//! test with a stated null, reported with its effect size and interval, and graded:
//!
//! - **holds**: significant in the paper's direction after Holm's correction over the unit's
//!   claims (family-wise error 5 %);
//! - **direction only**: the paper's direction, not significant;
//! - **no effect**: neither direction (e.g. a model identical to vanilla);
//! - **opposite**: significant against the paper's direction;
//! - **not testable**: the premise fails: the vanilla model does not rely on the protected
//!   attribute, so there is nothing for a method to remove.
//!
//! The claims and their tests:
//!
//! - *moves relevance out of the ROI* (adversarial, ClArC and control methods): the per-image
//!   ADR (vanilla's share of |relevance| inside the ROI minus the method's), two-sided one-sample
//!   t-test against 0 (the paper's RDDT, made two-sided so the opposite is detectable); effect =
//!   mean ADR with its bootstrap interval.
//! - *lowers EqualizedOdds* (every method): EO(method) − EO(vanilla) on the same test images,
//!   paired bootstrap, two-sided p; effect = the difference with its interval.
//! - ThrOpt and the other threshold methods do not touch the network, so "leaves the maps
//!   unchanged" is a **sanity row** (it cannot fail with LRP's normalised maps), not a claim.
//!
//! The premise, per unit: on the synthetic benchmark, vanilla's shortcut effect (ground truth
//! from counterfactual pairs, [`crate::results::Reliance`]) must be positive with one-sided
//! p < 0.01. On the user's images (no counterfactuals): for the ROI claims, vanilla's relevance
//! must concentrate in the ROI (DET significant); for the EO claims, vanilla's EO must beat a
//! stratified permutation test at p < 0.01.
//!
//! Under the null (a "debiased" model identical to vanilla) every ADR is 0 and every EO
//! difference is 0, so no claim can be graded *holds*; with the attribute never painted
//! (`paint_attribute = false`) vanilla cannot rely on it and every claim is *not testable*.
//! Both are tested (`crates/experiment/tests/verdicts.rs`).

use biaslens_metrics::{Interval, holm, spearman, two_sided_p};
use serde::{Deserialize, Serialize};

use crate::config::MethodFamily;
use crate::report::figures::ci_text;
use crate::results::{ExperimentResults, ModelResult, PhiResult};

/// Family-wise error rate of a unit's claims.
pub const ALPHA: f64 = 0.05;
/// The premise's significance level (stricter: a premise that barely holds makes every claim
/// fragile).
pub const PREMISE_ALPHA: f64 = 0.01;

/// The key of the first LRP attribution of the run (the paper's claims are about LRP maps).
pub fn lrp_key(results: &ExperimentResults) -> Option<&str> {
    results.attributions.iter().find(|a| a.method == "lrp").map(|a| a.key.as_str())
}

/// The attribution the ROI claims are read from: LRP if it ran, else the first one.
pub fn claim_key(results: &ExperimentResults) -> Option<&str> {
    lrp_key(results).or_else(|| results.attributions.first().map(|a| a.key.as_str()))
}

/// How a claim came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Grade {
    /// Significant in the paper's direction.
    Holds,
    /// The paper's direction, not significant.
    DirectionOnly,
    /// Neither direction.
    NoEffect,
    /// Significant against the paper's direction.
    Opposite,
    /// The premise fails.
    NotTestable,
}

impl Grade {
    /// In words.
    pub fn label(self) -> &'static str {
        match self {
            Self::Holds => "holds",
            Self::DirectionOnly => "direction only",
            Self::NoEffect => "no effect",
            Self::Opposite => "opposite",
            Self::NotTestable => "not testable",
        }
    }

    /// Every grade, best first.
    pub const ALL: [Grade; 5] = [Self::Holds, Self::DirectionOnly, Self::NoEffect, Self::Opposite, Self::NotTestable];
}

/// Which claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Claim {
    /// The method moves relevance out of the ROI (ADR > 0).
    LowersRoiRelevance,
    /// The method lowers EqualizedOdds against vanilla.
    LowersEqualizedOdds,
}

impl Claim {
    /// In words.
    pub fn text(self) -> &'static str {
        match self {
            Self::LowersRoiRelevance => "moves relevance out of the ROI",
            Self::LowersEqualizedOdds => "lowers EqualizedOdds",
        }
    }
}

/// One claim about one method at one unit, tested.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// The training correlation.
    pub phi: f64,
    /// The unit's seed.
    pub seed: u64,
    /// The method (its display name).
    pub method: String,
    /// Whether the method is a control (plain fine-tuning, an identity), not a debiasing method.
    pub control: bool,
    /// Which claim.
    pub kind: Claim,
    /// The claim, in words.
    pub claim: String,
    /// The grade.
    pub grade: Grade,
    /// `grade == Holds`.
    pub holds: bool,
    /// The effect in the claim's own units (mean ADR; EO difference), signed so that the
    /// paper's direction is positive for ADR and negative for the EO difference.
    pub effect: f64,
    /// Its interval.
    pub ci: Option<Interval>,
    /// The test's two-sided p-value (`None` where the test is undefined, e.g. identical maps).
    pub p: Option<f64>,
    /// Holm-adjusted over the unit's testable claims.
    pub p_adjusted: Option<f64>,
    /// The numbers behind the grade, in words.
    pub evidence: String,
}

/// Whether a unit's claims can be tested at all.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Premise {
    /// The training correlation.
    pub phi: f64,
    /// The unit's seed.
    pub seed: u64,
    /// The ROI claims are testable.
    pub roi: bool,
    /// The EO claims are testable.
    pub eo: bool,
    /// Why, in words.
    pub reason: String,
    /// Where vanilla's maps put their relevance (the paper's Figure 2 premise: vanilla looks at
    /// the attribute); `None` without a map of vanilla.
    #[serde(default)]
    pub attention: Option<Attention>,
}

/// Vanilla's relevance per pixel inside the ROI against outside it (MRR, docs/METHODS.md#metrics)
/// for the attribution the claims read, over every explained face and over the faces that have
/// the attribute (the groups with protected = 1; on the others the ROI holds no attribute to
/// look at). A description, not a test: the ground truth decides the premise.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attention {
    /// The attribution key.
    pub key: String,
    /// MRR over every explained image.
    pub mrr_all: f64,
    /// MRR over the explained images with the attribute; `None` if there are none.
    pub mrr_with: Option<f64>,
    /// Explained images with the attribute.
    pub n_with: usize,
}

impl Attention {
    /// "Vanilla's lrp relevance per pixel is 1.71× as high inside the ROI as outside it on the 80
    /// explained faces with the attribute (0.95× over all of them; a description, not a test)".
    pub fn text(&self) -> String {
        let with = match self.mrr_with {
            // A description, not a verdict: no test stands behind "points at" (the premise is the
            // ground truth's), so the sentence gives the ratios and says so.
            Some(m) => format!(
                "{m:.2}× as high inside the ROI as outside it on the {} explained faces with the attribute ({:.2}× over all of them; a description, not a test)",
                self.n_with, self.mrr_all
            ),
            None => format!("{:.2}× as high inside the ROI as outside it over the explained faces", self.mrr_all),
        };
        format!("Vanilla's {} relevance per pixel is {with}", self.key)
    }
}

fn attention(p: &PhiResult, key: Option<&str>) -> Option<Attention> {
    let key = key?;
    let s = &p.models.first()?.attribution(key)?.saliency;
    let with: Vec<_> = s.groups.iter().filter(|g| g.group.protected == 1 && g.metrics.n > 0).collect();
    let n_with: usize = with.iter().map(|g| g.metrics.n).sum();
    let mrr_with = (n_with > 0).then(|| with.iter().map(|g| g.metrics.mrr_vanilla.mean * g.metrics.n as f64).sum::<f64>() / n_with as f64);
    Some(Attention { key: key.to_owned(), mrr_all: s.pooled.mrr_vanilla.mean, mrr_with, n_with })
}

/// A check that cannot fail by construction, shown as such (ThrOpt leaves the maps unchanged).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SanityRow {
    /// The training correlation.
    pub phi: f64,
    /// The unit's seed.
    pub seed: u64,
    /// The method.
    pub method: String,
    /// Whether the maps equal vanilla's (as the method's construction says they must).
    pub unchanged: bool,
    /// The numbers.
    pub evidence: String,
}

/// One claim about one method at one φ over the run's seeds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AcrossSeeds {
    /// The training correlation.
    pub phi: f64,
    /// The method.
    pub method: String,
    /// A control method.
    pub control: bool,
    /// Which claim.
    pub kind: Claim,
    /// Seeds where it holds.
    pub holds: usize,
    /// Seeds tested (not "not testable").
    pub testable: usize,
    /// Seeds in the run.
    pub seeds: usize,
    /// Mean effect over the testable seeds.
    pub mean_effect: Option<f64>,
}

/// How well a saliency metric tracks the ground-truth reliance across the run's models and units
/// (the paper's RQ1, answered with counterfactuals).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tracking {
    /// The attribution key.
    pub key: String,
    /// The metric (`"RRF"`, `"MRR"`).
    pub metric: String,
    /// Spearman's ρ between the metric and the mean |Δ true-class logit|.
    pub rho: Option<f64>,
    /// (model, unit) pairs.
    pub n: usize,
}

/// Everything the run says about the paper's claims.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdicts {
    /// Per unit.
    pub premises: Vec<Premise>,
    /// Every claim at every unit.
    pub findings: Vec<Finding>,
    /// Threshold methods' maps against vanilla's.
    pub sanity: Vec<SanityRow>,
    /// Every (φ, method, claim) over the seeds.
    pub across_seeds: Vec<AcrossSeeds>,
    /// RQ1: saliency metrics against ground-truth reliance.
    pub tracking: Vec<Tracking>,
}

impl Verdicts {
    /// Claims of the debiasing methods (not the controls) with `grade`.
    pub fn count(&self, grade: Grade) -> usize {
        self.findings.iter().filter(|f| !f.control && f.grade == grade).count()
    }

    /// Claims of the debiasing methods (not the controls).
    pub fn claims(&self) -> usize {
        self.findings.iter().filter(|f| !f.control).count()
    }

    /// "12 of 27 claims hold; 3 direction only; …" for the debiasing methods.
    pub fn summary(&self) -> String {
        let mut parts = vec![format!("{} of {} claims hold", self.count(Grade::Holds), self.claims())];
        for g in &Grade::ALL[1..] {
            let k = self.count(*g);
            if k > 0 {
                parts.push(format!("{k} {}", g.label()));
            }
        }
        parts.join(", ")
    }
}

fn premise(results: &ExperimentResults, p: &PhiResult, key: Option<&str>) -> Premise {
    let vanilla = p.models.first();
    let make = |roi: bool, eo: bool, reason: String| Premise { phi: p.phi, seed: p.seed, roi, eo, reason, attention: attention(p, key) };
    if let Some(r) = vanilla.and_then(|v| v.reliance.as_ref()) {
        let ok = r.shortcut.value > 0.0 && r.shortcut_p.is_some_and(|q| q < PREMISE_ALPHA);
        // Own images with counterfactual pairs (a planted artifact) are not the config's attribute.
        let attribute = match results.data_source {
            Some(_) => "protected attribute".to_owned(),
            None => results.config.data.synthetic.attribute.celeba_name().to_owned(),
        };
        let text = format!(
            "vanilla's shortcut effect (ground truth: P(smiling) with minus without the {attribute}, in the training correlation's direction, {} test faces) is {:+.3}{}, one-sided p = {}",
            r.n,
            r.shortcut.value,
            ci_text(r.shortcut.ci),
            r.shortcut_p.map_or("undefined".into(), |q| format!("{q:.1e}")),
        );
        let reason = if ok {
            format!("{text}: vanilla relies on the attribute, so there is something to remove")
        } else {
            format!("{text}: vanilla does not measurably rely on the attribute, so no claim can be tested")
        };
        return make(ok, ok, reason);
    }
    let det = vanilla.and_then(|v| key.and_then(|k| v.attribution(k))).map(|a| a.saliency.pooled.det_vanilla.test);
    let roi = det.is_some_and(|t| t.significant);
    let eo_p = vanilla.and_then(|v| v.eo_permutation_p);
    let eo = eo_p.is_some_and(|q| q < PREMISE_ALPHA);
    let reason = format!(
        "no counterfactual images for own data; vanilla's relevance {} concentrated in the ROI (DET p = {}); vanilla's EO {} beyond chance (permutation p = {})",
        if roi { "is" } else { "is not" },
        det.and_then(|t| t.p).map_or("n/a".into(), |q| format!("{q:.1e}")),
        if eo { "is" } else { "is not" },
        eo_p.map_or("n/a".into(), |q| format!("{q:.1e}")),
    );
    make(roi, eo, reason)
}

fn roi_claim(p: &PhiResult, m: &ModelResult, key: &str, control: bool) -> Option<Finding> {
    let s = m.attribution(key)?.saliency.pooled;
    let t = s.rddt.test;
    Some(Finding {
        phi: p.phi,
        seed: p.seed,
        method: m.name.clone(),
        control,
        kind: Claim::LowersRoiRelevance,
        claim: Claim::LowersRoiRelevance.text().into(),
        grade: Grade::NoEffect,
        holds: false,
        effect: s.adr.mean,
        ci: s.adr.ci,
        p: two_sided_p(&t),
        p_adjusted: None,
        evidence: format!(
            "ADR {:+.4}{} over {} images (t = {}); RRF {:.4} vs vanilla {:.4}",
            s.adr.mean,
            ci_text(s.adr.ci),
            s.n,
            t.t.map_or("undefined".into(), |v| format!("{v:.2}")),
            s.rrf.mean,
            s.rrf_vanilla.mean
        ),
    })
}

fn eo_claim(p: &PhiResult, m: &ModelResult, vanilla: &ModelResult, control: bool) -> Option<Finding> {
    let d = m.eo_vs_vanilla?;
    Some(Finding {
        phi: p.phi,
        seed: p.seed,
        method: m.name.clone(),
        control,
        kind: Claim::LowersEqualizedOdds,
        claim: Claim::LowersEqualizedOdds.text().into(),
        grade: Grade::NoEffect,
        holds: false,
        effect: d.difference,
        ci: d.ci,
        p: Some(d.p),
        p_adjusted: None,
        evidence: format!(
            "EO {:.3} vs vanilla {:.3}: difference {:+.3}{} (paired bootstrap, {} resamples)",
            m.fairness.equalized_odds.value,
            vanilla.fairness.equalized_odds.value,
            d.difference,
            ci_text(d.ci),
            d.resamples
        ),
    })
}

fn grade(f: &mut Finding, testable: bool) {
    let right = match f.kind {
        Claim::LowersRoiRelevance => f.effect > 0.0,
        Claim::LowersEqualizedOdds => f.effect < 0.0,
    };
    let wrong = match f.kind {
        Claim::LowersRoiRelevance => f.effect < 0.0,
        Claim::LowersEqualizedOdds => f.effect > 0.0,
    };
    let significant = f.p_adjusted.is_some_and(|q| q < ALPHA);
    f.grade = if !testable {
        Grade::NotTestable
    } else if significant && right {
        Grade::Holds
    } else if significant && wrong {
        Grade::Opposite
    } else if right {
        Grade::DirectionOnly
    } else {
        Grade::NoEffect
    };
    f.holds = f.grade == Grade::Holds;
}

/// The claims of one unit, graded, and its sanity rows.
fn unit_verdicts(results: &ExperimentResults, p: &PhiResult, key: Option<&str>) -> (Premise, Vec<Finding>, Vec<SanityRow>) {
    let premise = premise(results, p, key);
    let (mut claims, mut sanity) = (Vec::new(), Vec::new());
    let Some(vanilla) = p.models.first() else { return (premise, claims, sanity) };
    for m in p.models.iter().skip(1) {
        let control = m.family == Some(MethodFamily::Control);
        if m.family == Some(MethodFamily::Threshold) {
            if let Some(s) = key.and_then(|k| m.attribution(k)).map(|a| a.saliency.pooled) {
                let unchanged = s.adr.mean.abs() < 1e-9 && s.dif.mean.abs() < 1e-9;
                sanity.push(SanityRow {
                    phi: p.phi,
                    seed: p.seed,
                    method: m.name.clone(),
                    unchanged,
                    evidence: format!("ADR {:.1e}, DIF {:.1e}, RRF {:.4} vs vanilla {:.4}", s.adr.mean, s.dif.mean, s.rrf.mean, s.rrf_vanilla.mean),
                });
            }
        } else if let Some(f) = key.and_then(|k| roi_claim(p, m, k, control)) {
            claims.push(f);
        }
        claims.extend(eo_claim(p, m, vanilla, control));
    }
    let testable = |f: &Finding| match f.kind {
        Claim::LowersRoiRelevance => premise.roi,
        Claim::LowersEqualizedOdds => premise.eo,
    };
    // Holm over the unit's testable claims; controls are corrected alongside (they are tests too).
    let ps: Vec<Option<f64>> = claims.iter().map(|f| if testable(f) { f.p } else { None }).collect();
    for (f, q) in claims.iter_mut().zip(holm(&ps)) {
        f.p_adjusted = q;
    }
    for f in &mut claims {
        let t = testable(f);
        grade(f, t);
    }
    (premise, claims, sanity)
}

fn across_seeds(results: &ExperimentResults, findings: &[Finding]) -> Vec<AcrossSeeds> {
    let seeds = results.config.seeds().len();
    let mut out: Vec<AcrossSeeds> = Vec::new();
    for f in findings {
        let at = out.iter().position(|a| a.phi == f.phi && a.method == f.method && a.kind == f.kind);
        let a = match at {
            Some(i) => &mut out[i],
            None => {
                out.push(AcrossSeeds {
                    phi: f.phi,
                    method: f.method.clone(),
                    control: f.control,
                    kind: f.kind,
                    holds: 0,
                    testable: 0,
                    seeds,
                    mean_effect: None,
                });
                out.last_mut().expect("just pushed")
            }
        };
        if f.grade != Grade::NotTestable {
            let k = a.testable as f64;
            a.mean_effect = Some((a.mean_effect.unwrap_or(0.0) * k + f.effect) / (k + 1.0));
            a.testable += 1;
        }
        if f.holds {
            a.holds += 1;
        }
    }
    out
}

fn tracking(results: &ExperimentResults) -> Vec<Tracking> {
    let mut out = Vec::new();
    for info in &results.attributions {
        for (metric, get) in [
            ("RRF", (|s: &biaslens_metrics::SaliencySummary| s.rrf.mean) as fn(&biaslens_metrics::SaliencySummary) -> f64),
            ("MRR", |s| s.mrr.mean),
        ] {
            let (mut x, mut y) = (Vec::new(), Vec::new());
            for m in results.phis.iter().flat_map(|p| &p.models) {
                if let (Some(a), Some(r)) = (m.attribution(&info.key), &m.reliance) {
                    x.push(get(&a.saliency.pooled));
                    y.push(r.logit_change.value);
                }
            }
            if !x.is_empty() {
                out.push(Tracking { key: info.key.clone(), metric: metric.into(), rho: spearman(&x, &y), n: x.len() });
            }
        }
    }
    out
}

/// The paper's claims tested at every unit of `results`, over its seeds, and RQ1.
pub fn verdicts(results: &ExperimentResults) -> Verdicts {
    let key = claim_key(results);
    let mut v = Verdicts { premises: Vec::new(), findings: Vec::new(), sanity: Vec::new(), across_seeds: Vec::new(), tracking: Vec::new() };
    for p in &results.phis {
        let (premise, claims, sanity) = unit_verdicts(results, p, key);
        v.premises.push(premise);
        v.findings.extend(claims);
        v.sanity.extend(sanity);
    }
    v.across_seeds = across_seeds(results, &v.findings);
    v.tracking = tracking(results);
    v
}

/// Every claim at every unit (see [`verdicts`]).
pub fn findings(results: &ExperimentResults) -> Vec<Finding> {
    verdicts(results).findings
}
