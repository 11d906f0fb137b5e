//! The data behind every figure and table, from a results document: Figure 3's metric table
//! (one attribution's RRF, ADR, DIF, RDDT, EqualizedOdds and accuracy per method and φ),
//! Figure 2's saliency grid (mean maps per group at one φ), and the number formats the report and
//! the page share (Sztukiewicz et al., XAI 2025, Figures 2 and 3).

use biaslens_metrics::Interval;
use biaslens_metrics::saliency::Summary;
use biaslens_viz::{Estimate, GroupMaps, Metric, MetricSeries, ResultsTable, RoiBox, SaliencyGrid};

use crate::results::{ExperimentResults, ModelResult, PhiResult};

/// `" [low, high]"` with three decimals, or nothing without an interval.
pub fn ci_text(ci: Option<Interval>) -> String {
    ci.map(|c| format!(" [{:.3}, {:.3}]", c.low, c.high)).unwrap_or_default()
}

/// A pooled saliency value with its interval (`"0.1234 [0.100, 0.150]"`), or `"n/a"`.
pub fn summary_text(s: &Summary) -> String {
    if s.mean.is_finite() { format!("{:.4}{}", s.mean, ci_text(s.ci)) } else { "n/a".into() }
}

/// The short name of the attribution stored under `key` (`"LRP"`), or the key.
pub fn attribution_name<'a>(results: &'a ExperimentResults, key: &'a str) -> &'a str {
    results.attribution_info(key).map_or(key, |a| a.name.as_str())
}

fn estimate(value: f64, ci: Option<Interval>) -> Option<Estimate> {
    if !value.is_finite() {
        return None;
    }
    Some(match ci {
        Some(c) if c.low.is_finite() && c.high.is_finite() && c.low <= c.high => Estimate::with_ci(value, c.low, c.high),
        _ => Estimate::new(value),
    })
}

/// The units of `results` grouped by φ, in config order: per φ, the units of every seed.
pub fn units_by_phi(results: &ExperimentResults) -> Vec<(f64, Vec<&PhiResult>)> {
    let mut out: Vec<(f64, Vec<&PhiResult>)> = Vec::new();
    for p in &results.phis {
        match out.iter_mut().find(|(phi, _)| *phi == p.phi) {
            Some((_, v)) => v.push(p),
            None => out.push((p.phi, vec![p])),
        }
    }
    out
}

/// One seed's value, or the mean over the seeds with its Student-t interval across seeds.
fn across(values: Vec<Option<Estimate>>) -> Option<Estimate> {
    if values.len() == 1 {
        return values.into_iter().next().flatten();
    }
    let v: Vec<f64> = values.iter().flatten().map(|e| e.value).collect();
    if v.len() != values.len() {
        return None;
    }
    let (mean, ci) = biaslens_metrics::mean_t_interval(&v, 0.95)?;
    estimate(mean, ci)
}

/// Figure 3's input for the attribution stored under `key`: RRF, ADR, DIF, RDDT (1 =
/// significant), EqualizedOdds and accuracy per model and φ. With several seeds, each bar is the
/// mean over the seeds and its whisker the 95 % Student-t interval across seeds (RDDT: the share
/// of seeds where it is significant), cut at 0 and 1 for the metrics that are rates or shares;
/// with one seed, the whiskers are the bootstrap intervals over the test images.
pub fn results_table(results: &ExperimentResults, key: &str) -> ResultsTable {
    let methods = results.model_names();
    let by_phi = units_by_phi(results);
    // Rates and shares live in [0, 1]; an across-seed t-interval from two or three seeds
    // (t = 12.7 for two) runs far outside, which no reader can use, so it is cut at the bounds.
    let bounded = |metric: &Metric| matches!(metric, Metric::Rrf | Metric::Dif | Metric::Rddt | Metric::EqualizedOdds | Metric::Accuracy);
    let series = |metric: Metric, f: &dyn Fn(usize, &ModelResult) -> Option<Estimate>| {
        let cut = bounded(&metric);
        MetricSeries {
        metric,
        values: (0..methods.len())
            .map(|m| {
                by_phi
                    .iter()
                    .map(|(_, units)| {
                        let e = across(units.iter().map(|p| p.models.get(m).and_then(|r| f(m, r))).collect());
                        if cut { e.map(|e| Estimate { ci: e.ci.map(|[lo, hi]| [lo.max(0.0), hi.min(1.0)]), ..e }) } else { e }
                    })
                    .collect()
            })
            .collect(),
        }
    };
    let sal = |r: &ModelResult| r.attribution(key).map(|a| a.saliency.pooled);
    let metrics = vec![
        series(Metric::Rrf, &|_, r| sal(r).and_then(|s| estimate(s.rrf.mean, s.rrf.ci))),
        series(Metric::Adr, &|m, r| if m == 0 { None } else { sal(r).and_then(|s| estimate(s.adr.mean, s.adr.ci)) }),
        series(Metric::Dif, &|m, r| if m == 0 { None } else { sal(r).and_then(|s| estimate(s.dif.mean, s.dif.ci)) }),
        series(Metric::Rddt, &|m, r| {
            if m == 0 { None } else { sal(r).map(|s| Estimate::new(if s.rddt.test.significant { 1.0 } else { 0.0 })) }
        }),
        series(Metric::EqualizedOdds, &|_, r| estimate(r.fairness.equalized_odds.value, r.fairness.equalized_odds.ci)),
        series(Metric::Accuracy, &|_, r| estimate(r.fairness.accuracy.value, r.fairness.accuracy.ci)),
    ];
    let seeds = results.config.seeds().len();
    ResultsTable {
        phis: by_phi.iter().map(|(phi, _)| *phi).collect(),
        methods,
        baseline: Some(0),
        metrics,
        title: Some(if seeds > 1 {
            format!(
                "{} saliency and fairness metrics per method and φ: mean of {seeds} seeds, whiskers 95 % across seeds",
                attribution_name(results, key)
            )
        } else {
            format!("{} saliency and fairness metrics per method and training correlation φ", attribution_name(results, key))
        }),
    }
}

/// Figure 2's input at one unit for the attribution stored under `key` (`None` if it did not
/// run).
pub fn saliency_grid(results: &ExperimentResults, phi: &PhiResult, key: &str) -> Option<SaliencyGrid> {
    let short = match results.config.data.synthetic.attribute {
        biaslens_data::ProtectedKind::Necktie => "tie",
        biaslens_data::ProtectedKind::Hat => "hat",
    };
    let groups: Vec<GroupMaps> = phi
        .groups
        .iter()
        .map(|g| GroupMaps {
            label: format!(
                "{} (n = {})",
                GroupMaps::label_for(short, "smiling", g.group.protected == 1, g.group.target == 1),
                g.images
            ),
            mean_image: Some(g.mean_input.decode()),
            maps: g.maps.get(key).map(|maps| maps.iter().map(|m| m.decode()).collect()).unwrap_or_default(),
        })
        .collect();
    if groups.is_empty() || groups.iter().any(|g| g.maps.is_empty()) {
        return None;
    }
    let roi = results.roi;
    Some(SaliencyGrid {
        width: results.image.width as usize,
        height: results.image.height as usize,
        columns: phi.models.iter().map(|m| m.name.clone()).collect(),
        groups,
        // One region per image: no single box applies to the mean maps.
        roi: results.per_image_regions.is_none().then(|| RoiBox { x: roi.x(), y: roi.y(), width: roi.w(), height: roi.h() }),
        title: Some(format!(
            "Mean {} maps per group (φ = {}), each map normalised to max |R| = 1 before averaging",
            attribution_name(results, key),
            phi.phi
        )),
    })
}

/// The ROI's share of the image's pixels.
pub fn area_fraction(results: &ExperimentResults) -> f64 {
    results.roi.pixels() as f64 / results.image.pixels().max(1) as f64
}
