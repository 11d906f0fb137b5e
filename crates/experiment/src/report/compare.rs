//! Runs side by side: one metric of Figure 3 (Sztukiewicz et al., XAI 2025) for each of several
//! results documents (two seeds, two architectures, pretrained vs from scratch, …), per φ and
//! model, each value with its interval. The page's comparison view and `biaslens compare` draw
//! this table and write it as CSV.
//!
//! Every cell is the run's own Figure 3 value ([`results_table`]): with one seed the estimate and
//! its bootstrap interval over the test images, with several the mean over seeds and its 95 %
//! Student-t interval across seeds. Rows are matched across runs by φ and model name; a run that
//! lacks a row (another φ, a method it did not run, an attribution it did not compute) has an
//! empty cell there, never a zero.

use biaslens_viz::{Estimate, Metric};

use super::figures::{attribution_name, results_table};
use crate::results::ExperimentResults;

/// The metrics a comparison can show (Figure 3's panels).
pub const METRICS: [Metric; 6] = [Metric::Rrf, Metric::Adr, Metric::Dif, Metric::Rddt, Metric::EqualizedOdds, Metric::Accuracy];

/// The metric of `id` (`"rrf"`, `"adr"`, `"dif"`, `"rddt"`, `"eo"`, `"accuracy"`).
pub fn metric_of(id: &str) -> Option<Metric> {
    METRICS.into_iter().find(|m| metric_id(m) == id)
}

/// The short id of a metric of [`METRICS`] (for URLs, CLI flags and file names).
pub fn metric_id(metric: &Metric) -> &'static str {
    match metric {
        Metric::Rrf => "rrf",
        Metric::Adr => "adr",
        Metric::Dif => "dif",
        Metric::Rddt => "rddt",
        Metric::EqualizedOdds => "eo",
        Metric::Accuracy => "accuracy",
        Metric::Other { .. } => "other",
    }
}

/// Whether a metric depends on the attribution (the saliency metrics) or not (fairness).
pub fn uses_attribution(metric: &Metric) -> bool {
    matches!(metric, Metric::Rrf | Metric::Adr | Metric::Dif | Metric::Rddt)
}

/// One row: a model at a φ, with one cell per run.
#[derive(Debug, Clone, PartialEq)]
pub struct ComparisonRow {
    /// The training correlation.
    pub phi: f64,
    /// The model (`"Vanilla"`, a method's name).
    pub model: String,
    /// Per run (in the order given): its value and interval, `None` where it has none.
    pub cells: Vec<Option<Estimate>>,
}

/// One metric of several runs, per φ and model.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// The metric compared.
    pub metric: Metric,
    /// The attribution key the saliency metrics read (`None` for fairness metrics).
    pub attribution: Option<String>,
    /// Each run's label, in the order given.
    pub runs: Vec<String>,
    /// What each run's cells are (`"1 seed: bootstrap interval over test images"`, …).
    pub interval_kinds: Vec<String>,
    /// Rows in order of first appearance (the first run's φ and model order, then what later
    /// runs add).
    pub rows: Vec<ComparisonRow>,
}

/// `metric` for each of `runs` (label, results), the saliency metrics read from the attribution
/// stored under `attribution` (ignored for fairness metrics).
pub fn compare(runs: &[(String, &ExperimentResults)], metric: &Metric, attribution: &str) -> Comparison {
    let saliency = uses_attribution(metric);
    let mut rows: Vec<ComparisonRow> = Vec::new();
    let mut interval_kinds = Vec::with_capacity(runs.len());
    for (r, (_, results)) in runs.iter().enumerate() {
        let seeds = results.config.seeds().len();
        interval_kinds.push(if seeds > 1 {
            format!("mean of {seeds} seeds, 95 % Student-t interval across seeds")
        } else {
            "one seed, 95 % bootstrap interval over the test images".to_owned()
        });
        if saliency && results.attribution_info(attribution).is_none() {
            continue;
        }
        let table = results_table(results, attribution);
        let Some(series) = table.series(metric) else { continue };
        for (m, model) in table.methods.iter().enumerate() {
            for (p, &phi) in table.phis.iter().enumerate() {
                let value = series.values.get(m).and_then(|v| v.get(p)).copied().flatten();
                let row = match rows.iter().position(|row| row.phi == phi && row.model == *model) {
                    Some(i) => &mut rows[i],
                    None => {
                        rows.push(ComparisonRow { phi, model: model.clone(), cells: vec![None; runs.len()] });
                        let last = rows.len() - 1;
                        &mut rows[last]
                    }
                };
                row.cells[r] = value;
            }
        }
    }
    // φ-major, as the report's tables are; within a φ, models in order of first appearance.
    let mut phis: Vec<f64> = Vec::new();
    for row in &rows {
        if !phis.contains(&row.phi) {
            phis.push(row.phi);
        }
    }
    rows.sort_by_key(|row| phis.iter().position(|&p| p == row.phi).unwrap_or(usize::MAX));
    Comparison {
        metric: metric.clone(),
        attribution: saliency.then(|| attribution.to_owned()),
        runs: runs.iter().map(|(label, _)| label.clone()).collect(),
        interval_kinds,
        rows,
    }
}

/// A label for a run: its config's name, its seed(s) and its architecture.
pub fn run_label(results: &ExperimentResults) -> String {
    let seeds = results.config.seeds();
    let seeds = match seeds.as_slice() {
        [one] => format!("seed {one}"),
        many => format!("seeds {}", many.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")),
    };
    format!("{}, {seeds}, {}", results.config.name, architecture(&results.config.model))
}

/// `"ResNet-18"`, `"ResNet-50"`, … for torchvision's layouts at full width; otherwise the block,
/// the blocks per stage and the stem width.
pub fn architecture(m: &crate::config::ModelConfig) -> String {
    use biaslens_model::BlockKind;
    let named = match (m.block, m.layers) {
        (BlockKind::Basic, [2, 2, 2, 2]) => Some("ResNet-18"),
        (BlockKind::Basic, [3, 4, 6, 3]) => Some("ResNet-34"),
        (BlockKind::Bottleneck, [3, 4, 6, 3]) => Some("ResNet-50"),
        (BlockKind::Bottleneck, [3, 4, 23, 3]) => Some("ResNet-101"),
        _ => None,
    };
    match named {
        Some(name) if m.width == 64 => name.to_owned(),
        Some(name) => format!("{name} layout, width {}", m.width),
        None => format!("ResNet {:?} {:?}, width {}", m.block, m.layers, m.width),
    }
}

/// The attribution's display name in the first run that has it (`"LRP"`), or the key.
pub fn attribution_label<'a>(runs: &'a [(String, &ExperimentResults)], key: &'a str) -> &'a str {
    runs.iter().find(|(_, r)| r.attribution_info(key).is_some()).map_or(key, |(_, r)| attribution_name(r, key))
}

/// The comparison as CSV: one row per φ and model, three cells (value, low, high) per run.
///
/// # Errors
/// A message if the CSV writer fails.
pub fn comparison_csv(c: &Comparison) -> Result<String, String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header = vec!["metric".to_owned(), "attribution".to_owned(), "phi".to_owned(), "model".to_owned()];
    for n in 1..=c.runs.len() {
        header.extend([format!("run{n}"), format!("run{n}_low"), format!("run{n}_high")]);
    }
    w.write_record(&header).map_err(|e| e.to_string())?;
    let num = |v: f64| if v.is_finite() { v.to_string() } else { String::new() };
    for row in &c.rows {
        let mut r = vec![c.metric.name().to_owned(), c.attribution.clone().unwrap_or_default(), row.phi.to_string(), row.model.clone()];
        for cell in &row.cells {
            match cell {
                Some(e) => {
                    r.push(num(e.value));
                    r.push(e.ci.map_or(String::new(), |[lo, _]| num(lo)));
                    r.push(e.ci.map_or(String::new(), |[_, hi]| num(hi)));
                }
                None => r.extend([String::new(), String::new(), String::new()]),
            }
        }
        w.write_record(&r).map_err(|e| e.to_string())?;
    }
    // The runs' labels go into a second table ([`runs_csv`]), so this one stays rectangular.
    let bytes = w.into_inner().map_err(|e| e.to_string())?;
    String::from_utf8(bytes).map_err(|e| e.to_string())
}

/// The runs of a comparison as CSV: number, label and what its intervals are.
///
/// # Errors
/// A message if the CSV writer fails.
pub fn runs_csv(c: &Comparison) -> Result<String, String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(["run", "label", "interval"]).map_err(|e| e.to_string())?;
    for (i, (label, kind)) in c.runs.iter().zip(&c.interval_kinds).enumerate() {
        w.write_record([format!("run{}", i + 1), label.clone(), kind.clone()]).map_err(|e| e.to_string())?;
    }
    let bytes = w.into_inner().map_err(|e| e.to_string())?;
    String::from_utf8(bytes).map_err(|e| e.to_string())
}
