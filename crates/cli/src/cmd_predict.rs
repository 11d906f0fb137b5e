//! `biaslens predict`: logits of a torchvision ResNet (He et al. 2016) for a `.npy` batch.
//!
//! Reads a torchvision state dict saved as `.safetensors`
//! (`safetensors.torch.save_file(model.state_dict(), path)`) and an `N×3×H×W` float32 (or
//! float64) `.npy` batch, runs the network on the flex CPU device with BatchNorm in evaluation
//! mode, and writes the `N×classes` float32 logits as `.npy`.

use std::path::PathBuf;

use anyhow::{Context, bail};
use biaslens_model::{ResNetConfig, torchvision_num_classes};
use biaslens_npy::{NpyArray, NpyData};
use burn::prelude::*;

/// Architectures `predict` can build.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Arch {
    /// torchvision resnet18.
    Resnet18,
    /// torchvision resnet34.
    Resnet34,
    /// torchvision resnet50.
    Resnet50,
    /// The page's compact ResNet-18 layout (width 16).
    Compact,
}

/// Arguments of `biaslens predict`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Weights: a torchvision state dict in `.safetensors`.
    #[arg(long)]
    pub weights: PathBuf,
    /// Input batch: `.npy`, float32 or float64, shape N×3×H×W (already normalised as the
    /// network expects).
    #[arg(long)]
    pub input: PathBuf,
    /// Where to write the logits (`.npy`, float32, N×classes).
    #[arg(long)]
    pub output: PathBuf,
    /// Network architecture the weights belong to.
    #[arg(long, value_enum, default_value = "resnet50")]
    pub arch: Arch,
    /// Images per forward pass.
    #[arg(long, default_value_t = 16)]
    pub batch_size: usize,
}

/// Run `predict`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let bytes = std::fs::read(&args.weights)
        .with_context(|| format!("reading weights {}", args.weights.display()))?;
    let classes = torchvision_num_classes(&bytes)
        .with_context(|| format!("weights {}", args.weights.display()))?;
    let config = match args.arch {
        Arch::Resnet18 => ResNetConfig::resnet18(classes),
        Arch::Resnet34 => ResNetConfig::resnet34(classes),
        Arch::Resnet50 => ResNetConfig::resnet50(classes),
        Arch::Compact => ResNetConfig::compact(classes),
    };
    let device = Device::flex();
    let model = config
        .init(&device)
        .load_torchvision(bytes)
        .with_context(|| format!("loading {} as {:?}", args.weights.display(), args.arch))?;

    let input = biaslens_npy::read(&args.input)
        .with_context(|| format!("reading input {}", args.input.display()))?;
    let [n, c, h, w] = match input.shape.as_slice() {
        &[n, c, h, w] => [n, c, h, w],
        other => bail!(
            "input {} has shape {other:?}; expected N×3×H×W",
            args.input.display()
        ),
    };
    if c != 3 {
        bail!(
            "input {} has {c} channels; expected 3 (RGB)",
            args.input.display()
        );
    }
    let pixels: Vec<f32> = match input.data {
        NpyData::F32(v) => v,
        NpyData::F64(v) => v.into_iter().map(|x| x as f32).collect(),
        other => bail!(
            "input {} is {}; expected float32 or float64",
            args.input.display(),
            other.dtype()
        ),
    };
    if args.batch_size == 0 {
        bail!("--batch-size must be at least 1");
    }
    let per_image = c * h * w;
    let mut logits = Vec::with_capacity(n * classes);
    for chunk in pixels.chunks(args.batch_size * per_image) {
        let b = chunk.len() / per_image;
        let x = Tensor::<4>::from_data(TensorData::new(chunk.to_vec(), [b, c, h, w]), &device);
        let y = model
            .forward(x)
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .map_err(|e| anyhow::anyhow!("reading logits: {e:?}"))?;
        logits.extend(y);
    }
    let out = NpyArray::new(vec![n, classes], NpyData::F32(logits))?;
    biaslens_npy::write(&args.output, &out)
        .with_context(|| format!("writing {}", args.output.display()))?;
    Ok(())
}
