//! Figures and tables out of a results document, one file each: every chart of the report as SVG
//! (the same drawing the report and the page show) and every table as CSV (written by the `csv`
//! crate: RFC 4180 quoting, a header row, numbers in full precision, empty cells for what is
//! undefined). `biaslens report --figures DIR` writes them; the page offers the same files.

use biaslens_metrics::Interval;
use biaslens_viz::{BarStyle, SaliencyGridStyle, TradeoffStyle, metric_bars_svg, saliency_grid_svg, tradeoff_svg};

use super::figures::{results_table, saliency_grid};
use crate::findings::verdicts;
use crate::results::{Estimate, ExperimentResults};

/// One exported file.
#[derive(Debug, Clone, PartialEq)]
pub struct Export {
    /// File name (ASCII, no folders), e.g. `figure3-lrp.svg`, `models.csv`.
    pub name: String,
    /// The file's text (SVG or CSV, UTF-8).
    pub text: String,
}

/// `-0.95` → `m0.95`, for file names.
fn phi_name(phi: f64) -> String {
    let s = phi.to_string();
    s.strip_prefix('-').map_or(s.clone(), |rest| format!("m{rest}"))
}

/// A file-name-safe form of an attribution key.
fn key_name(key: &str) -> String {
    key.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect()
}

fn num(v: f64) -> String {
    if v.is_finite() { v.to_string() } else { String::new() }
}

fn opt(v: Option<f64>) -> String {
    v.map_or(String::new(), num)
}

/// A value and its interval's ends, as three cells.
fn with_ci(value: f64, ci: Option<Interval>) -> [String; 3] {
    [num(value), opt(ci.map(|c| c.low)), opt(ci.map(|c| c.high))]
}

fn estimate(e: &Estimate) -> [String; 3] {
    with_ci(e.value, e.ci)
}

fn csv_text(header: &[&str], rows: Vec<Vec<String>>) -> Result<String, String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(header).map_err(|e| e.to_string())?;
    for r in rows {
        w.write_record(&r).map_err(|e| e.to_string())?;
    }
    let bytes = w.into_inner().map_err(|e| e.to_string())?;
    String::from_utf8(bytes).map_err(|e| e.to_string())
}

/// Every figure (SVG) and table (CSV) of `results`.
///
/// # Errors
/// A message if a chart cannot be drawn (e.g. no models) or a table cannot be written.
pub fn exports(results: &ExperimentResults) -> Result<Vec<Export>, String> {
    let mut out = Vec::new();
    let keys = results.attribution_keys();
    let bars = BarStyle { panel_width: 300, ..BarStyle::default() };
    for key in &keys {
        let svg = metric_bars_svg(&results_table(results, key), &bars).map_err(|e| e.to_string())?;
        out.push(Export { name: format!("figure3-{}.svg", key_name(key)), text: svg });
    }
    if let Some(first) = keys.first() {
        let svg = tradeoff_svg(&results_table(results, first), &TradeoffStyle::default()).map_err(|e| e.to_string())?;
        out.push(Export { name: "eo-vs-accuracy.svg".into(), text: svg });
    }
    let grid_style = SaliencyGridStyle { cell_px: 112, ..SaliencyGridStyle::default() };
    for p in &results.phis {
        for key in &keys {
            if let Some(grid) = saliency_grid(results, p, key) {
                let svg = saliency_grid_svg(&grid, &grid_style).map_err(|e| e.to_string())?;
                out.push(Export { name: format!("figure2-{}-phi{}-seed{}.svg", key_name(key), phi_name(p.phi), p.seed), text: svg });
            }
        }
    }
    out.push(Export { name: "models.csv".into(), text: models_csv(results)? });
    out.push(Export { name: "reliance.csv".into(), text: reliance_csv(results)? });
    out.push(Export { name: "verdicts.csv".into(), text: verdicts_csv(results)? });
    Ok(out)
}

/// Per unit, model and attribution: accuracy, EqualizedOdds and the pooled saliency metrics, each
/// with its 95 % bootstrap interval.
fn models_csv(results: &ExperimentResults) -> Result<String, String> {
    let mut header = vec!["phi", "seed", "model", "method", "accuracy", "accuracy_low", "accuracy_high", "eo", "eo_low", "eo_high"];
    header.extend(["attribution", "rrf", "rrf_low", "rrf_high", "adr", "adr_low", "adr_high", "dif", "dif_low", "dif_high", "rddt_t", "rddt_p", "mrr", "images"]);
    let mut rows = Vec::new();
    for p in &results.phis {
        for m in &p.models {
            let base = {
                let mut r = vec![p.phi.to_string(), p.seed.to_string(), m.name.clone(), m.method.clone().unwrap_or_default()];
                for v in [&m.fairness.accuracy, &m.fairness.equalized_odds] {
                    r.extend(with_ci(v.value, v.ci));
                }
                r
            };
            for key in results.attribution_keys() {
                let Some(a) = m.attribution(key) else { continue };
                let s = &a.saliency.pooled;
                let mut r = base.clone();
                r.push(key.to_owned());
                for x in [&s.rrf, &s.adr, &s.dif] {
                    r.extend(with_ci(x.mean, x.ci));
                }
                r.extend([opt(s.rddt.test.t), opt(s.rddt.test.p), num(s.mrr.mean), s.n.to_string()]);
                rows.push(r);
            }
        }
    }
    csv_text(&header, rows)
}

/// Per unit and model: the ground-truth reliance on the attribute (counterfactual faces).
fn reliance_csv(results: &ExperimentResults) -> Result<String, String> {
    let header = [
        "phi", "seed", "model", "faces", "logit_change", "logit_change_low", "logit_change_high", "flip_rate", "flip_rate_low", "flip_rate_high", "shortcut",
        "shortcut_low", "shortcut_high", "shortcut_p",
    ];
    let mut rows = Vec::new();
    for p in &results.phis {
        for m in &p.models {
            let Some(r) = &m.reliance else { continue };
            let mut row = vec![p.phi.to_string(), p.seed.to_string(), m.name.clone(), r.n.to_string()];
            row.extend(estimate(&r.logit_change));
            row.extend(estimate(&r.flip_rate));
            row.extend(estimate(&r.shortcut));
            row.push(opt(r.shortcut_p));
            rows.push(row);
        }
    }
    csv_text(&header, rows)
}

/// Every graded claim (docs/METHODS.md#verdicts).
fn verdicts_csv(results: &ExperimentResults) -> Result<String, String> {
    let header = ["phi", "seed", "method", "control", "claim", "grade", "effect", "effect_low", "effect_high", "p", "p_holm", "evidence"];
    let rows = verdicts(results)
        .findings
        .iter()
        .map(|f| {
            vec![
                f.phi.to_string(),
                f.seed.to_string(),
                f.method.clone(),
                f.control.to_string(),
                f.claim.clone(),
                f.grade.label().to_owned(),
                num(f.effect),
                opt(f.ci.map(|c| c.low)),
                opt(f.ci.map(|c| c.high)),
                opt(f.p),
                opt(f.p_adjusted),
                f.evidence.clone(),
            ]
        })
        .collect();
    csv_text(&header, rows)
}
