//! `biaslens predict`: logits of a torchvision ResNet (He et al. 2016) for a `.npy` batch.
//!
//! Reads a torchvision state dict saved as `.safetensors`
//! (`safetensors.torch.save_file(model.state_dict(), path)`) and an `N×3×H×W` float32 (or
//! float64) `.npy` batch, runs the network on the flex CPU device with BatchNorm in evaluation
//! mode, and writes the `N×classes` float32 logits as `.npy`.

use std::path::PathBuf;

use anyhow::{Context, bail};
use biaslens_npy::{NpyArray, NpyData};
use burn::prelude::*;

use crate::load::{self, Arch};

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
    #[command(flatten)]
    pub device: crate::device::DeviceArgs,
}

/// Run `predict`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let device = args.device.open()?.device;
    let (model, classes) = load::resnet(&args.weights, args.arch, &device)?;
    let (pixels, [n, c, h, w]) = load::image_batch(&args.input)?;
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
