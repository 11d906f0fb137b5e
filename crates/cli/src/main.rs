//! `biaslens`: the native command line over the same library the page uses.
//!
//! Each subcommand lives in its own `cmd_*.rs` module with an `Args` struct and a `run` function.

mod cmd_attribute;
mod cmd_check;
mod cmd_data;
mod cmd_localise;
mod cmd_compare;
mod cmd_merge;
mod cmd_metrics;
mod cmd_plant;
mod cmd_predict;
mod cmd_report;
mod cmd_run;
mod cmd_selftest;
mod cmd_weights;
mod cmd_sweep;
mod device;
mod load;

use clap::{Parser, Subcommand};

/// Check whether a debiased image classifier stopped looking at the protected attribute.
#[derive(Parser)]
#[command(name = "biaslens", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the device self-test (synthetic images → small CNN → gradient × input → ROI fraction).
    Selftest(cmd_selftest::Args),
    /// Logits of a torchvision ResNet (.safetensors weights) for a .npy batch, written as .npy.
    Predict(cmd_predict::Args),
    /// Attribution maps (LRP, Integrated Gradients, gradient, gradient × input, SmoothGrad) of a
    /// torchvision ResNet for a .npy batch, written as .npy; sanity numbers as JSON on stdout.
    Attribute(cmd_attribute::Args),
    /// Score saliency maps from .npy files: the paper's RRF, HRF, MRR, DET, ADR, DIF, RDDT pooled
    /// and per group, and fairness gaps, as JSON.
    Metrics(cmd_metrics::Args),
    /// Synthetic benchmark export in CelebA's layout, and train/debias/test split reports.
    Data(cmd_data::Args),
    /// Run the paper's experiment from a config file (splits → vanilla → debiasing methods →
    /// fairness → LRP/IG maps → saliency metrics) and write a self-contained HTML report.
    Run(cmd_run::Args),
    /// Run the embedded default experiment (the page's demo) and write the HTML report.
    Demo(cmd_run::DemoArgs),
    /// Put several runs side by side: one metric per φ and model, each run with its interval.
    Compare(cmd_compare::Args),
    /// Merge the shards of one run (`run --shard I/N --json …`) into the whole run's report.
    Merge(cmd_merge::Args),
    /// Write a run as a Slurm array job (one task per shard) plus a merge job that depends on it.
    Sweep(cmd_sweep::Args),
    /// Every figure (SVG) and table (CSV) of a finished run, and the HTML report again.
    Report(cmd_report::Args),
    /// Find an artifact from its CAV: one mask PNG per image of a .npy batch (what `metrics
    /// --masks` reads), from the concept's LRP or gradient × input heatmap, thresholded.
    Localise(cmd_localise::Args),
    /// Paste a known artifact (a patch or a sticker) into own labelled photos at a chosen φ with
    /// the target: the planted dataset, every image's box, and each image with and without it.
    Plant(cmd_plant::Args),
    /// Read a report, config, link, own data or weights and say what is wrong with it, without
    /// running anything.
    Check(cmd_check::Args),
    /// Write the seeded torchvision initialisation of a ResNet as .safetensors (reproducible
    /// untrained weights; a 1000-class file stands in for an ImageNet download in tests).
    Weights(cmd_weights::Args),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Selftest(args) => cmd_selftest::run(args),
        Command::Metrics(args) => cmd_metrics::run(args),
        Command::Predict(args) => cmd_predict::run(args),
        Command::Attribute(args) => cmd_attribute::run(args),
        Command::Data(args) => cmd_data::run(args),
        Command::Run(args) => cmd_run::run(args),
        Command::Demo(args) => cmd_run::demo(args),
        Command::Compare(args) => cmd_compare::run(args),
        Command::Merge(args) => cmd_merge::run(args),
        Command::Sweep(args) => cmd_sweep::run(args),
        Command::Report(args) => cmd_report::run(args),
        Command::Check(args) => cmd_check::run(args),
        Command::Plant(args) => cmd_plant::run(args),
        Command::Localise(args) => cmd_localise::run(args),
        Command::Weights(args) => cmd_weights::run(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        // The partial report is written and the stop explained; 130 is the shell's Ctrl-C status.
        Err(e) if e.is::<cmd_run::Stopped>() => std::process::ExitCode::from(130),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
