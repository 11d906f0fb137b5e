//! The paper's findings checked on a results document (Sztukiewicz et al., XAI 2025, §4.1–4.2):
//! ThrOpt leaves the LRP maps unchanged; the adversarial and ClArC methods lower the relevance
//! inside the ROI and EqualizedOdds against vanilla.

use biaslens_metrics::Interval;
use serde::{Deserialize, Serialize};

use crate::config::MethodFamily;
use crate::report::figures::ci_text;
use crate::results::ExperimentResults;

/// The key of the first LRP attribution of the run (the paper's findings are about LRP maps).
pub fn lrp_key(results: &ExperimentResults) -> Option<&str> {
    results.attributions.iter().find(|a| a.method == "lrp").map(|a| a.key.as_str())
}

/// One claim of the paper checked at one φ.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// The training correlation.
    pub phi: f64,
    /// The method.
    pub method: String,
    /// The claim, in words.
    pub claim: String,
    /// Whether the run agrees.
    pub holds: bool,
    /// The numbers behind the verdict.
    pub evidence: String,
}

/// Whether two intervals overlap (no interval: treated as overlapping, i.e. not a clear
/// difference).
fn overlap(a: Option<Interval>, b: Option<Interval>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a.low <= b.high && b.low <= a.high,
        _ => true,
    }
}

/// The paper's findings checked on LRP maps at every φ (§4.2): ThrOpt (and any threshold
/// method) leaves the LRP maps unchanged; every adversarial and ClArC method moves relevance out
/// of the ROI (RRF below vanilla's and ADR > 0) and lowers EqualizedOdds below vanilla's.
pub fn findings(results: &ExperimentResults) -> Vec<Finding> {
    let mut out = Vec::new();
    let Some(key) = lrp_key(results) else { return out };
    for p in &results.phis {
        let Some(vanilla) = p.models.first() else { continue };
        let Some(v_lrp) = vanilla.attribution(key) else { continue };
        let v_rrf = v_lrp.saliency.pooled.rrf;
        let v_eo = vanilla.fairness.equalized_odds;
        for m in p.models.iter().skip(1) {
            let Some(a) = m.attribution(key) else { continue };
            let s = &a.saliency.pooled;
            match m.family {
                Some(MethodFamily::Threshold) => {
                    let unchanged = s.adr.mean.abs() < 1e-9 && s.dif.mean.abs() < 1e-9 && (s.rrf.mean - v_rrf.mean).abs() < 1e-6;
                    out.push(Finding {
                        phi: p.phi,
                        method: m.name.clone(),
                        claim: "leaves the LRP maps unchanged".into(),
                        holds: unchanged,
                        evidence: format!(
                            "ADR {:.2e}, DIF {:.2e}, RRF {:.4} vs vanilla {:.4}",
                            s.adr.mean, s.dif.mean, s.rrf.mean, v_rrf.mean
                        ),
                    });
                }
                Some(MethodFamily::Adversarial | MethodFamily::Clarc | MethodFamily::Control) => {
                    let lower = s.rrf.mean < v_rrf.mean && s.adr.mean > 0.0;
                    let clear = lower && !overlap(s.rrf.ci, v_rrf.ci);
                    out.push(Finding {
                        phi: p.phi,
                        method: m.name.clone(),
                        claim: "lowers the relevance inside the ROI".into(),
                        holds: lower,
                        evidence: format!(
                            "RRF {:.4}{} vs vanilla {:.4}{}; ADR {:+.4}{}; RDDT {} (p = {}){}",
                            s.rrf.mean,
                            ci_text(s.rrf.ci),
                            v_rrf.mean,
                            ci_text(v_rrf.ci),
                            s.adr.mean,
                            ci_text(s.adr.ci),
                            if s.rddt.test.significant { "significant" } else { "not significant" },
                            s.rddt.test.p.map_or("n/a".into(), |p| format!("{p:.2e}")),
                            if lower && !clear { "; the RRF intervals overlap, so the drop is not clear" } else { "" }
                        ),
                    });
                    let eo = m.fairness.equalized_odds;
                    let lower_eo = eo.value < v_eo.value;
                    out.push(Finding {
                        phi: p.phi,
                        method: m.name.clone(),
                        claim: "lowers EqualizedOdds".into(),
                        holds: lower_eo,
                        evidence: format!(
                            "EO {:.3}{} vs vanilla {:.3}{}{}",
                            eo.value,
                            ci_text(eo.ci),
                            v_eo.value,
                            ci_text(v_eo.ci),
                            if lower_eo && overlap(eo.ci, v_eo.ci) { "; the intervals overlap, so the drop is not clear" } else { "" }
                        ),
                    });
                }
                None => {}
            }
        }
    }
    out
}

