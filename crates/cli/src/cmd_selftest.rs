//! `biaslens selftest`: the page's device self-test, natively on the flex CPU backend or a wgpu adapter.

use biaslens_experiment::{SelfTestConfig, run_selftest};

/// Options of `biaslens selftest`.
#[derive(clap::Args)]
pub struct Args {
    /// Number of synthetic images.
    #[arg(long, default_value_t = SelfTestConfig::default().images)]
    images: usize,
    /// Image side in pixels.
    #[arg(long, default_value_t = SelfTestConfig::default().data.size)]
    size: u32,
    /// Seed of the synthetic data.
    #[arg(long, default_value_t = SelfTestConfig::default().data.seed)]
    seed: u64,
    /// Print the whole report (inputs, maps, logits) as JSON instead of a summary.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    device: crate::device::DeviceArgs,
}

/// Run the self-test and print its result.
pub fn run(args: Args) -> anyhow::Result<()> {
    let mut config = SelfTestConfig {
        images: args.images,
        ..SelfTestConfig::default()
    };
    config.data.size = args.size;
    config.data.seed = args.seed;
    let chosen = args.device.open()?;
    let report = pollster::block_on(run_selftest(&config, &chosen.device))?;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!("device: {}", chosen.name);
        for (i, f) in report.roi_fraction.iter().enumerate() {
            println!(
                "image {i}: target {} necktie {} |saliency| in ROI {f:.6}",
                report.target[i], report.attribute[i]
            );
        }
        println!(
            "mean fraction of |saliency| inside the ROI: {:.9}",
            report.mean_roi_fraction
        );
    }
    Ok(())
}
