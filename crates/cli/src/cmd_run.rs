//! `biaslens run` and `biaslens demo`: the experiment of Sztukiewicz et al. (XAI 2025, §4) on the
//! flex CPU backend, with a progress line on stderr, written as a self-contained HTML report (and
//! optionally the results JSON).

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use biaslens_experiment::report::findings;
use biaslens_experiment::{ExperimentConfig, ExperimentResults, RunProgress, render_report, run_experiment};
use burn::prelude::Device;

/// Options of `biaslens run`.
#[derive(clap::Args)]
pub struct Args {
    /// Experiment config (JSON). Fields left out take the demo's values; see `biaslens demo
    /// --print-config` for every field.
    #[arg(long)]
    config: PathBuf,
    /// Where to write the HTML report.
    #[arg(long)]
    out: PathBuf,
    /// Also write the results as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// No progress line on stderr.
    #[arg(long)]
    quiet: bool,
}

/// Options of `biaslens demo`.
#[derive(clap::Args)]
pub struct DemoArgs {
    /// Where to write the HTML report (required unless `--print-config`).
    #[arg(long, required_unless_present = "print_config")]
    out: Option<PathBuf>,
    /// Also write the results as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// No progress line on stderr.
    #[arg(long)]
    quiet: bool,
    /// Print the embedded demo config as JSON and exit (a starting point for `run --config`).
    #[arg(long)]
    print_config: bool,
    /// Print the paper-sized preset instead (with `--print-config`).
    #[arg(long, requires = "print_config")]
    paper: bool,
}

/// `biaslens run`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.config)
        .with_context(|| format!("reading experiment config {}", args.config.display()))?;
    let config = ExperimentConfig::from_json(&text)
        .with_context(|| format!("experiment config {}", args.config.display()))?;
    execute(&config, &args.out, args.json.as_deref(), args.quiet)
}

/// `biaslens demo`.
pub fn demo(args: DemoArgs) -> anyhow::Result<()> {
    if args.print_config {
        let c = if args.paper { ExperimentConfig::paper() } else { ExperimentConfig::demo() };
        println!("{}", c.to_json());
        return Ok(());
    }
    let out = args.out.context("--out is required")?;
    execute(&ExperimentConfig::demo(), &out, args.json.as_deref(), args.quiet)
}

/// Checks that a file can be created at `path` before hours of compute.
fn check_writable(path: &Path) -> anyhow::Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    anyhow::ensure!(dir.is_dir(), "the folder {} of {} does not exist", dir.display(), path.display());
    anyhow::ensure!(!path.is_dir(), "{} is a folder; give a file name", path.display());
    Ok(())
}

fn execute(config: &ExperimentConfig, out: &Path, json: Option<&Path>, quiet: bool) -> anyhow::Result<()> {
    check_writable(out)?;
    if let Some(j) = json {
        check_writable(j)?;
    }
    let terminal = std::io::stderr().is_terminal();
    let mut line = ProgressLine { terminal, quiet, last_stage: String::new(), last_print: None };
    let results = pollster::block_on(run_experiment(config, &Device::flex(), |p| line.show(&p), || false))
        .context("running the experiment")?;
    line.finish();
    let html = render_report(&results);
    std::fs::write(out, &html).with_context(|| format!("writing the report {}", out.display()))?;
    if let Some(j) = json {
        std::fs::write(j, results.to_json()).with_context(|| format!("writing the results {}", j.display()))?;
    }
    summarise(&results, out);
    Ok(())
}

/// One progress line: rewritten in place on a terminal, one line per stage otherwise.
struct ProgressLine {
    terminal: bool,
    quiet: bool,
    last_stage: String,
    last_print: Option<std::time::Instant>,
}

impl ProgressLine {
    fn show(&mut self, p: &RunProgress) {
        if self.quiet {
            return;
        }
        let phi = p.phi.map_or(String::new(), |phi| format!("φ = {phi}, "));
        let text = format!("[{:>3.0}%] {phi}{}{}", p.fraction * 100.0, p.stage, if p.detail.is_empty() { String::new() } else { format!(": {}", p.detail) });
        let mut err = std::io::stderr().lock();
        if self.terminal {
            let due = self.last_print.is_none_or(|t| t.elapsed().as_millis() >= 100);
            if due || p.stage != self.last_stage {
                let _ = write!(err, "\r\x1b[2K{}", text.chars().take(120).collect::<String>());
                let _ = err.flush();
                self.last_print = Some(std::time::Instant::now());
            }
        } else if p.stage != self.last_stage || p.phi.is_none() {
            let _ = writeln!(err, "{text}");
        }
        self.last_stage.clone_from(&p.stage);
    }

    fn finish(&self) {
        if self.terminal && !self.quiet {
            eprintln!();
        }
    }
}

fn summarise(r: &ExperimentResults, out: &Path) {
    println!("wrote {} ({:.1} s, seed {})", out.display(), r.total_seconds, r.seed);
    for p in &r.phis {
        println!("φ = {}:", p.phi);
        for m in &p.models {
            println!(
                "  {:<12} accuracy {:.3}  EO {:.3}  LRP RRF {:.4}  ADR {:+.4}  DIF {:.3}",
                m.name,
                m.fairness.accuracy.value,
                m.fairness.equalized_odds.value,
                m.lrp.saliency.pooled.rrf.mean,
                m.lrp.saliency.pooled.adr.mean,
                m.lrp.saliency.pooled.dif.mean
            );
        }
    }
    let f = findings(r);
    let held = f.iter().filter(|f| f.holds).count();
    println!("the paper's findings: {held} of {} claims hold (details in the report)", f.len());
}
