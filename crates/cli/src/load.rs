//! Inputs shared by the subcommands: torchvision weights and `.npy` batches (for those that run a
//! network), and finished runs' results.

use std::path::Path;

use anyhow::{Context, bail};
use biaslens_model::{ResNet, ResNetConfig, torchvision_num_classes};
use biaslens_npy::NpyData;
use burn::prelude::*;

/// Architectures the weights may belong to.
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

/// The network of `arch` with `classes` outputs.
pub fn config(arch: Arch, classes: usize) -> ResNetConfig {
    match arch {
        Arch::Resnet18 => ResNetConfig::resnet18(classes),
        Arch::Resnet34 => ResNetConfig::resnet34(classes),
        Arch::Resnet50 => ResNetConfig::resnet50(classes),
        Arch::Compact => ResNetConfig::compact(classes),
    }
}

/// A torchvision state dict in `.safetensors` loaded into `arch` on `device`, BatchNorm in
/// evaluation mode; returns the network and its number of classes.
pub fn resnet(path: &Path, arch: Arch, device: &Device) -> anyhow::Result<(ResNet, usize)> {
    let bytes =
        std::fs::read(path).with_context(|| format!("reading weights {}", path.display()))?;
    let classes =
        torchvision_num_classes(&bytes).with_context(|| format!("weights {}", path.display()))?;
    let model = config(arch, classes)
        .init(device)
        .load_torchvision(bytes)
        .with_context(|| format!("loading {} as {arch:?}", path.display()))?;
    Ok((model, classes))
}

/// An `N×3×H×W` float32 or float64 `.npy` batch as float32 values and its shape.
pub fn image_batch(path: &Path) -> anyhow::Result<(Vec<f32>, [usize; 4])> {
    let input =
        biaslens_npy::read(path).with_context(|| format!("reading input {}", path.display()))?;
    let shape = match input.shape.as_slice() {
        &[n, c, h, w] => [n, c, h, w],
        other => bail!(
            "input {} has shape {other:?}; expected N×3×H×W",
            path.display()
        ),
    };
    if shape[1] != 3 {
        bail!(
            "input {} has {} channels; expected 3 (RGB)",
            path.display(),
            shape[1]
        );
    }
    let pixels: Vec<f32> = match input.data {
        NpyData::F32(v) => v,
        NpyData::F64(v) => v.into_iter().map(|x| x as f32).collect(),
        other => bail!(
            "input {} is {}; expected float32 or float64",
            path.display(),
            other.dtype()
        ),
    };
    if let Some(i) = pixels.iter().position(|v| !v.is_finite()) {
        let per_image = shape[1] * shape[2] * shape[3];
        bail!(
            "input {} has a non-finite value (NaN or infinity) in image {} at flat index {i}; fix or drop that image",
            path.display(),
            i / per_image.max(1)
        );
    }
    Ok((pixels, shape))
}

/// A finished run's results from a results `.json` (`run --json`) or a saved report `.html`, with
/// the file named in either error.
pub fn results(path: &Path) -> anyhow::Result<biaslens_experiment::ExperimentResults> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    biaslens_experiment::import_report(&text).with_context(|| format!("{} is not biaslens results", path.display()))
}
