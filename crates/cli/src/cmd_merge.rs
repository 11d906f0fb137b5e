//! `biaslens merge`: the shards of one run (`biaslens run --shard I/N --json …`) put back
//! together into the report of the whole run (library: `biaslens_experiment::merge`, which checks
//! that the pieces share one config and cover every unit once).

use std::path::PathBuf;

use anyhow::Context;
use biaslens_experiment::{merge, render_report};

use crate::cmd_run::{check_writable, summarise};

/// Options of `biaslens merge`.
#[derive(clap::Args)]
pub struct Args {
    /// The pieces: results `.json` files written by `run --shard I/N --json` (or their `.html`
    /// reports), in any order.
    #[arg(required = true)]
    pieces: Vec<PathBuf>,
    /// Where to write the merged HTML report.
    #[arg(long)]
    out: PathBuf,
    /// Also write the merged results as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write the report even if some units are in no piece (the report lists them as missing).
    #[arg(long)]
    partial: bool,
}

/// `biaslens merge`.
pub fn run(args: Args) -> anyhow::Result<()> {
    check_writable(&args.out)?;
    if let Some(j) = &args.json {
        check_writable(j)?;
    }
    let mut pieces = Vec::with_capacity(args.pieces.len());
    for path in &args.pieces {
        pieces.push((path.display().to_string(), crate::load::results(path)?));
    }
    let n = pieces.len();
    let merged = merge(pieces, args.partial)?;
    std::fs::write(&args.out, render_report(&merged)).with_context(|| format!("writing the report {}", args.out.display()))?;
    if let Some(j) = &args.json {
        std::fs::write(j, merged.to_json()).with_context(|| format!("writing the results {}", j.display()))?;
    }
    let units = biaslens_experiment::units(&merged.config).len();
    println!("merged {n} piece(s): {} of {units} unit(s)", merged.phis.len());
    summarise(&merged, &args.out);
    Ok(())
}
