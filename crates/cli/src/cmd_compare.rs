//! `biaslens compare`: several runs side by side (two seeds, two architectures, pretrained vs
//! from scratch): one metric of Figure 3 per φ and model, each run with its own interval, as the
//! page's comparison panel shows it (library: `biaslens_experiment::report::compare`).

use std::path::PathBuf;

use anyhow::Context;
use biaslens_experiment::report::compare::{METRICS, compare, comparison_csv, metric_id, metric_of, run_label, runs_csv};

use crate::cmd_run::check_writable;

/// Options of `biaslens compare`.
#[derive(clap::Args)]
pub struct Args {
    /// The runs: results `.json` files (`run --json`) or `.html` reports, at least two.
    #[arg(required = true, num_args = 2..)]
    runs: Vec<PathBuf>,
    /// The metric: rrf, adr, dif, rddt, eo or accuracy.
    #[arg(long, default_value = "rrf")]
    metric: String,
    /// The attribution whose maps the saliency metrics read (its key in the results: lrp, ig, …).
    #[arg(long, default_value = "lrp")]
    attribution: String,
    /// Also write the table as CSV here (value, low, high per run), and the runs' labels next to
    /// it (`<name>-runs.csv`).
    #[arg(long)]
    csv: Option<PathBuf>,
}

/// `biaslens compare`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let Some(metric) = metric_of(&args.metric) else {
        let known: Vec<&str> = METRICS.iter().map(metric_id).collect();
        anyhow::bail!("--metric {} is not a metric here; use one of {}", args.metric, known.join(", "));
    };
    if let Some(c) = &args.csv {
        check_writable(c)?;
    }
    let mut loaded = Vec::with_capacity(args.runs.len());
    for path in &args.runs {
        loaded.push((path.display().to_string(), crate::load::results(path)?));
    }
    let runs: Vec<(String, &biaslens_experiment::ExperimentResults)> =
        loaded.iter().map(|(path, r)| (format!("{path}: {}", run_label(r)), r)).collect();
    let c = compare(&runs, &metric, &args.attribution);
    if c.rows.is_empty() {
        anyhow::bail!("none of these runs has {} of the attribution {:?}; the keys they have are listed in each report", metric.name(), args.attribution);
    }
    let what = c.attribution.as_ref().map_or(metric.name().to_owned(), |k| format!("{} ({k})", metric.name()));
    println!("{what} per φ and model, each run with its 95 % interval");
    for (i, (label, kind)) in c.runs.iter().zip(&c.interval_kinds).enumerate() {
        println!("  run {}: {label} ({kind})", i + 1);
    }
    let model_width = c.rows.iter().map(|r| r.model.chars().count()).max().unwrap_or(5).max(5);
    print!("{:>6}  {:<model_width$}", "φ", "model");
    for i in 0..c.runs.len() {
        print!("  {:<26}", format!("run {}", i + 1));
    }
    println!();
    for row in &c.rows {
        print!("{:>6}  {:<model_width$}", row.phi, row.model);
        for cell in &row.cells {
            let text = match cell {
                Some(e) => match e.ci {
                    Some([lo, hi]) => format!("{:.3} [{lo:.3}, {hi:.3}]", e.value),
                    None => format!("{:.3}", e.value),
                },
                None => "—".to_owned(),
            };
            print!("  {text:<26}");
        }
        println!();
    }
    if let Some(path) = &args.csv {
        std::fs::write(path, comparison_csv(&c).map_err(anyhow::Error::msg)?).with_context(|| format!("writing {}", path.display()))?;
        let stem = path.file_stem().map_or("compare".into(), |s| s.to_string_lossy().into_owned());
        let labels = path.with_file_name(format!("{stem}-runs.csv"));
        std::fs::write(&labels, runs_csv(&c).map_err(anyhow::Error::msg)?).with_context(|| format!("writing {}", labels.display()))?;
        println!("wrote {} and {}", path.display(), labels.display());
    }
    Ok(())
}
