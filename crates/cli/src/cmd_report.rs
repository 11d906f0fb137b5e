//! `biaslens report RESULTS --figures DIR [--out report.html]`: the figures of a finished run as
//! SVG files and its tables as CSV files (library: `biaslens_experiment::report::exports`), and
//! optionally the HTML report rendered again, from a results `.json` or a saved report `.html`.

use std::path::PathBuf;

use anyhow::Context;
use biaslens_experiment::report::exports;
use biaslens_experiment::{import_report, render_report};

use crate::cmd_run::check_writable;

/// Options of `biaslens report`.
#[derive(clap::Args)]
pub struct Args {
    /// A results `.json` (`run --json`) or a report `.html`.
    results: PathBuf,
    /// Folder to write every figure (SVG) and table (CSV) into (created if missing).
    #[arg(long)]
    figures: Option<PathBuf>,
    /// Write the HTML report again here.
    #[arg(long)]
    out: Option<PathBuf>,
}

/// `biaslens report`.
pub fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(args.figures.is_some() || args.out.is_some(), "nothing to write: give --figures DIR and/or --out report.html");
    let text = std::fs::read_to_string(&args.results).with_context(|| format!("reading {}", args.results.display()))?;
    let results = import_report(&text).with_context(|| format!("{} is not biaslens results", args.results.display()))?;
    if let Some(out) = &args.out {
        check_writable(out)?;
        std::fs::write(out, render_report(&results)).with_context(|| format!("writing the report {}", out.display()))?;
        println!("wrote {}", out.display());
    }
    if let Some(dir) = &args.figures {
        anyhow::ensure!(!dir.is_file(), "--figures {} is a file; give a folder", dir.display());
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let files = exports(&results).map_err(|e| anyhow::anyhow!("drawing the figures: {e}"))?;
        for f in &files {
            std::fs::write(dir.join(&f.name), &f.text).with_context(|| format!("writing {}", dir.join(&f.name).display()))?;
        }
        println!("wrote {} figure and table files to {}: {}", files.len(), dir.display(), files.iter().map(|f| f.name.as_str()).collect::<Vec<_>>().join(", "));
    }
    Ok(())
}
