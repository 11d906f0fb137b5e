//! `biaslens run` and `biaslens demo`: the experiment of Sztukiewicz et al. (XAI 2025, §4) on the
//! flex CPU backend or a native wgpu adapter, with a progress line on stderr, written as a
//! self-contained HTML report (and optionally the results JSON).
//!
//! The φ values run one at a time, as in the page. Ctrl-C stops the run at the next batch and
//! still writes the report of the φ values already finished (its config lists only those, so it
//! re-runs as what it is); a second Ctrl-C quits at once. Exit status 130 after a stop.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;
use biaslens_experiment::report::findings;
use biaslens_experiment::resources::fit;
use biaslens_experiment::{ExperimentConfig, ExperimentResults, RunError, RunOptions, RunProgress, render_report, run_experiment_with};

use crate::device::{Chosen, DeviceArgs};

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
    #[command(flatten)]
    device: DeviceArgs,
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
    #[command(flatten)]
    device: DeviceArgs,
}

/// Why `run` or `demo` did not finish every φ.
#[derive(Debug)]
pub struct Stopped;

impl std::fmt::Display for Stopped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("stopped by Ctrl-C")
    }
}

impl std::error::Error for Stopped {}

/// `biaslens run`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.config)
        .with_context(|| format!("reading experiment config {}", args.config.display()))?;
    let config = ExperimentConfig::from_json(&text)
        .with_context(|| format!("experiment config {}", args.config.display()))?;
    execute(&config, &args.out, args.json.as_deref(), args.quiet, args.device)
}

/// `biaslens demo`.
pub fn demo(args: DemoArgs) -> anyhow::Result<()> {
    if args.print_config {
        let c = if args.paper { ExperimentConfig::paper() } else { ExperimentConfig::demo() };
        println!("{}", c.to_json());
        return Ok(());
    }
    let out = args.out.context("--out is required")?;
    execute(&ExperimentConfig::demo(), &out, args.json.as_deref(), args.quiet, args.device)
}

/// Checks that a file can be created at `path` before hours of compute.
fn check_writable(path: &Path) -> anyhow::Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    anyhow::ensure!(dir.is_dir(), "the folder {} of {} does not exist", dir.display(), path.display());
    anyhow::ensure!(!path.is_dir(), "{} is a folder; give a file name", path.display());
    Ok(())
}

fn execute(config: &ExperimentConfig, out: &Path, json: Option<&Path>, quiet: bool, device: DeviceArgs) -> anyhow::Result<()> {
    config.validate().context("the experiment config")?;
    check_writable(out)?;
    if let Some(j) = json {
        check_writable(j)?;
    }
    let chosen = device.open()?;
    // What the device allows: IG is re-chunked to fit, anything else refused before any work.
    let config = match chosen.limits {
        Some(limits) => {
            let fitted = fit(config, &limits).map_err(|e| anyhow::anyhow!("the config does not fit {}: {e}", chosen.name))?;
            for change in &fitted.changes {
                eprintln!("note: {change}");
            }
            fitted.config
        }
        None => config.clone(),
    };
    if !quiet {
        eprintln!("computing on {}", chosen.name);
    }
    let stop = stop_on_ctrl_c()?;
    let terminal = std::io::stderr().is_terminal();
    let mut line = ProgressLine { terminal, quiet, last_stage: String::new(), last_print: None };
    let (parts, stopped) = run_by_phi(&config, &chosen, &mut line, &stop)?;
    line.finish();
    let Some(mut results) = ExperimentResults::join_finished(&config, parts) else {
        anyhow::ensure!(stopped.is_none(), "stopped by Ctrl-C before the first φ finished; nothing to write");
        anyhow::bail!("the finished φ values did not join into one document (a bug: please report it)");
    };
    // The adapter's own name ("wgpu: llvmpipe … (Vulkan, …)") rather than the runner's generic one.
    results.device.clone_from(&chosen.name);
    let html = render_report(&results);
    std::fs::write(out, &html).with_context(|| format!("writing the report {}", out.display()))?;
    if let Some(j) = json {
        std::fs::write(j, results.to_json()).with_context(|| format!("writing the results {}", j.display()))?;
    }
    summarise(&results, out);
    match stopped {
        None => Ok(()),
        Some(phi) => {
            eprintln!(
                "stopped by Ctrl-C at φ = {phi}: the report has the {} finished φ value(s) of {}",
                results.phis.len(),
                config.phis.len()
            );
            Err(Stopped.into())
        }
    }
}

/// Each φ of `config` as its own run. Returns the finished runs and, after Ctrl-C, the φ that
/// was stopped.
fn run_by_phi(
    config: &ExperimentConfig,
    chosen: &Chosen,
    line: &mut ProgressLine,
    stop: &AtomicBool,
) -> anyhow::Result<(Vec<ExperimentResults>, Option<f64>)> {
    let n = config.phis.len();
    let mut parts = Vec::with_capacity(n);
    for (k, &phi) in config.phis.iter().enumerate() {
        let mut one = config.clone();
        one.phis = vec![phi];
        let progress = |mut p: RunProgress| {
            p.fraction = (k as f64 + p.fraction) / n as f64;
            line.show(&p);
        };
        match pollster::block_on(run_experiment_with(&one, &chosen.device, &RunOptions::default(), progress, || stop.load(Ordering::Relaxed))) {
            Ok(r) => parts.push(r),
            Err(RunError::Cancelled) => return Ok((parts, Some(phi))),
            Err(e) => return Err(anyhow::Error::new(e).context(format!("running the experiment at φ = {phi} on {}", chosen.name))),
        }
    }
    Ok((parts, None))
}

/// A flag set by the first Ctrl-C (the run stops at its next batch); a second Ctrl-C exits at
/// once with status 130.
fn stop_on_ctrl_c() -> anyhow::Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::Relaxed) {
            eprintln!("\nquit");
            std::process::exit(130);
        }
        eprintln!("\nstopping at the next batch; the finished φ values will be written (Ctrl-C again quits now)");
    })
    .context("installing the Ctrl-C handler")?;
    Ok(stop)
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
