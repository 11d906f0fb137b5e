//! `biaslens weights`: the seeded torchvision initialisation of a ResNet written as a
//! torchvision `.safetensors` state dict (`ResNetConfig::init_seeded`: kaiming-normal
//! convolutions, PyTorch's `nn.Linear` default head; docs/METHODS.md#model). Reproducible
//! untrained weights of any depth, width and number of classes: a 1000-class file stands in for
//! an ImageNet download when a pretrained start is tested (docs/METHODS.md#pretrained-start).

use std::path::PathBuf;

use anyhow::Context;
use biaslens_experiment::ExperimentConfig;
use biaslens_model::ResNetConfig;
use burn::prelude::Device;

use crate::load::Arch;

/// Options of `biaslens weights`.
#[derive(clap::Args)]
pub struct Args {
    /// A torchvision architecture.
    #[arg(long, conflicts_with = "config", required_unless_present = "config")]
    arch: Option<Arch>,
    /// Or the architecture of this experiment config's `model`.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Outputs of the head (ImageNet: 1000).
    #[arg(long, default_value_t = 1000)]
    classes: usize,
    /// Seed of the initialisation.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// The `.safetensors` file to write.
    #[arg(long)]
    out: PathBuf,
}

/// `biaslens weights`.
pub fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!((1..=100_000).contains(&args.classes), "--classes {} must lie in 1..=100000", args.classes);
    let net = match (&args.config, args.arch) {
        (Some(path), _) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading experiment config {}", path.display()))?;
            let config = ExperimentConfig::from_json(&text).with_context(|| format!("experiment config {}", path.display()))?;
            ResNetConfig { num_classes: args.classes, ..config.model.resnet() }
        }
        (None, Some(Arch::Resnet18)) => ResNetConfig::resnet18(args.classes),
        (None, Some(Arch::Resnet34)) => ResNetConfig::resnet34(args.classes),
        (None, Some(Arch::Resnet50)) => ResNetConfig::resnet50(args.classes),
        (None, Some(Arch::Compact)) => ResNetConfig::compact(args.classes),
        (None, None) => anyhow::bail!("give --arch or --config"),
    };
    crate::cmd_run::check_writable(&args.out)?;
    let model = net.init_seeded(args.seed, &Device::flex());
    let bytes = pollster::block_on(model.export_torchvision()).context("exporting the weights")?;
    std::fs::write(&args.out, &bytes).with_context(|| format!("writing {}", args.out.display()))?;
    eprintln!("wrote {} ({} bytes, {} classes, seed {})", args.out.display(), bytes.len(), args.classes, args.seed);
    Ok(())
}
