//! `biaslens localise`: find an artifact in a `.npy` batch from its CAV and write one mask PNG
//! per image, the masks `metrics --masks DIR` reads (`docs/METHODS.md#localise`).
//!
//! The CAV is fitted as the ClArC methods fit it (`docs/METHODS.md#cav`: the Signal pattern at
//! the pooled features of the given network) on the batch itself, with the concept label of each
//! image given by `--concept` (1 = the artifact is there). Each image's concept relevance (LRP
//! from `a ⊙ v`, Pahde et al.'s Reveal to Revise, or gradient × input of `a · v`) is summed over
//! channels and thresholded into a mask. Written to `--out`: `NNNNNN.png` per image (white =
//! inside, in the batch's order, so file-name order is image order), `heatmaps.npy` (`N×H×W`,
//! float32), `cav.npy` (the direction); a JSON summary on stdout.

use std::path::PathBuf;

use anyhow::{Context, bail};
use biaslens_attribution::{ConceptMethod, LrpConfig};
use biaslens_debias::{CavKind, DebiasData, activations, fit_cav};
use biaslens_experiment::localise::{self, Explain, LocaliseConfig};
use biaslens_metrics::localise::{LocaliseSettings, Polarity, ThresholdRule, bounding_box};
use biaslens_model::Tap;
use biaslens_npy::{NpyArray, NpyData};
use burn::module::Module;
use serde_json::json;

use crate::load::{self, Arch};

/// How the concept reaches the pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MethodArg {
    /// LRP (the paper's rules) from `a ⊙ v` at the pooled features.
    Lrp,
    /// Gradient × input of `a · v`.
    GradientXInput,
}

/// Which relevance counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PolarityArg {
    /// Relevance towards the concept only.
    Positive,
    /// |relevance|.
    Absolute,
}

/// Arguments of `biaslens localise`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Weights (torchvision `.safetensors`).
    #[arg(long)]
    pub weights: PathBuf,
    /// Architecture of the weights.
    #[arg(long, value_enum, default_value = "resnet50")]
    pub arch: Arch,
    /// Images, `N×3×H×W` float `.npy` in `[0, 1]`.
    #[arg(long)]
    pub input: PathBuf,
    /// Concept label per image (`.npy` of N integers or booleans: 1 = the artifact is there).
    #[arg(long)]
    pub concept: PathBuf,
    /// Folder for the masks, heatmaps and CAV (created).
    #[arg(long)]
    pub out: PathBuf,
    /// Concept relevance method.
    #[arg(long, value_enum, default_value = "lrp")]
    pub method: MethodArg,
    /// Mask: pixels with at least this fraction of the image's largest score.
    #[arg(long, default_value_t = 0.5, conflicts_with = "top")]
    pub fraction: f64,
    /// Mask: instead, this fraction of the image's pixels with the largest scores.
    #[arg(long)]
    pub top: Option<f64>,
    /// Side of the mean filter before thresholding (1 = none).
    #[arg(long, default_value_t = 3)]
    pub smooth: usize,
    /// Which relevance counts.
    #[arg(long, value_enum, default_value = "positive")]
    pub polarity: PolarityArg,
    /// Images per pass.
    #[arg(long, default_value_t = 8)]
    pub batch_size: usize,
    #[command(flatten)]
    pub device: crate::device::DeviceArgs,
}

fn concept_labels(path: &PathBuf, n: usize) -> anyhow::Result<Vec<u8>> {
    let labels = biaslens_npy::read(path).with_context(|| format!("reading concept labels {}", path.display()))?;
    let values: Vec<i64> = match labels.data {
        NpyData::I64(v) => v,
        NpyData::I32(v) => v.into_iter().map(i64::from).collect(),
        NpyData::U8(v) => v.into_iter().map(i64::from).collect(),
        NpyData::Bool(v) => v.into_iter().map(i64::from).collect(),
        other => bail!("concept labels {} are {}; expected integers 0/1 (int64, int32, uint8 or bool)", path.display(), other.dtype()),
    };
    if values.len() != n {
        bail!("concept labels {} hold {} values for {n} images; give one 0/1 per image", path.display(), values.len());
    }
    let out: Vec<u8> = values
        .iter()
        .enumerate()
        .map(|(i, &v)| match v {
            0 | 1 => Ok(v as u8),
            _ => bail!("concept label {v} of image {i} in {} is not 0 or 1", path.display()),
        })
        .collect::<anyhow::Result<_>>()?;
    if !out.contains(&0) || !out.contains(&1) {
        bail!("concept labels {} need both values: images with the artifact (1) and without (0), to fit the CAV", path.display());
    }
    Ok(out)
}

/// Runs `biaslens localise`.
pub fn run(args: Args) -> anyhow::Result<()> {
    if args.batch_size == 0 {
        bail!("--batch-size must be at least 1");
    }
    let rule = match args.top {
        Some(fraction) => ThresholdRule::TopFraction { fraction },
        None => ThresholdRule::FractionOfMax { fraction: args.fraction },
    };
    let polarity = match args.polarity {
        PolarityArg::Positive => Polarity::Positive,
        PolarityArg::Absolute => Polarity::Absolute,
    };
    let mask_settings = LocaliseSettings { polarity, smooth: args.smooth, rule };
    mask_settings.check().map_err(|e| anyhow::anyhow!("{e} (--fraction, --top, --smooth)"))?;
    let method = match args.method {
        MethodArg::Lrp => ConceptMethod::Lrp { lrp: LrpConfig::paper() },
        MethodArg::GradientXInput => ConceptMethod::GradientXInput,
    };
    let config = LocaliseConfig { method, mask: mask_settings, batch_size: args.batch_size };

    let device = args.device.open()?.device;
    let (model, _) = load::resnet(&args.weights, args.arch, &device)?;
    let model = model.valid();
    let (pixels, [n, c, h, w]) = load::image_batch(&args.input)?;
    let concept = concept_labels(&args.concept, n)?;
    let data = DebiasData { pixels: &pixels, targets: &concept, attribute: &concept, image: [c, h, w] };
    let feats = pollster::block_on(activations(&model, data, Tap::Pooled, args.batch_size, &device, &mut |_| {}, &|| false))?;
    let dim = feats.len() / n;
    let cav = fit_cav(&feats, dim, &concept, &CavKind::Signal).context("fitting the CAV on the batch")?;
    let heat = pollster::block_on(localise::heatmaps(
        &model,
        &pixels,
        [c, h, w],
        Explain::Concept { tap: Tap::Pooled, direction: &cav.direction },
        &config,
        &device,
    ))?;
    let masks = localise::masks(&heat, &config.mask)?;

    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let mut per_image = Vec::with_capacity(n);
    for (i, m) in masks.iter().enumerate() {
        let img = image::GrayImage::from_fn(w as u32, h as u32, |x, y| image::Luma([if m[y as usize * w + x as usize] { 255 } else { 0 }]));
        let path = args.out.join(format!("{i:06}.png"));
        img.save(&path).with_context(|| format!("writing {}", path.display()))?;
        let pixels_in = m.iter().filter(|v| **v).count();
        per_image.push(json!({
            "mask": path.file_name().map(|f| f.to_string_lossy().into_owned()),
            "concept": concept[i],
            "pixels": pixels_in,
            "bounding_box": bounding_box(m, heat.image).map(|(x, y, w, h)| [x, y, x + w, y + h]),
        }));
    }
    let flat: Vec<f32> = heat.maps.concat();
    biaslens_npy::write(args.out.join("heatmaps.npy"), &NpyArray::new(vec![n, h, w], NpyData::F32(flat))?)?;
    biaslens_npy::write(args.out.join("cav.npy"), &NpyArray::new(vec![dim], NpyData::F32(cav.direction.clone()))?)?;
    let empty = masks.iter().filter(|m| !m.iter().any(|v| *v)).count();
    println!(
        "{}",
        serde_json::to_string_pretty(&json!({
            "images": n,
            "cav_dim": dim,
            "method": config.method,
            "mask": config.mask,
            "empty_masks": empty,
            "note": if empty > 0 { "some masks are empty (the map had no positive relevance); metrics --masks refuses empty masks, so drop those images or use --polarity absolute" } else { "" },
            "per_image": per_image,
        }))?
    );
    Ok(())
}
