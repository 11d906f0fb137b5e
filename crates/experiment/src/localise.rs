//! Finding the artifact automatically: per-image heatmaps of a CAV's concept (or, as a baseline,
//! of a class), thresholded into masks and scored against known regions
//! (`docs/METHODS.md#localise`).
//!
//! The localisation step of Reveal to Revise (Pahde, Dreyer, Samek & Lapuschkin, "Reveal to
//! Revise: An Explainable AI Life Cycle for Iterative Bias Correction of Deep Models", MICCAI
//! 2023): the CAV that the ClArC methods fit (`biaslens_debias::Cav`, at `cav.layer`) is
//! explained down to the pixels (`biaslens_attribution::concept_relevance`: LRP from `a ⊙ v`, or
//! gradient × input of `a · v`), each image's map is summed over channels, and a threshold
//! (`biaslens_metrics::localise`) turns it into a mask. The maths lives in those crates; this
//! module batches images through the device (one read-back per batch) and pools the scores.

use biaslens_attribution::{AttributionError, ConceptMethod, OutputRelevance, concept_relevance, gradient_x_input, lrp_resnet};
use biaslens_metrics::ImageSize;
use biaslens_metrics::localise::{self, LocalisationSummary, LocaliseError, LocaliseSettings};
use biaslens_model::{ResNet, Tap, pace, readback::read_all};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

/// Knobs of the localisation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LocaliseConfig {
    /// How the concept reaches the pixels. Default: LRP with the paper's rules from `a ⊙ v`.
    pub method: ConceptMethod,
    /// Heatmap → mask. Default: positive relevance, 3×3 mean filter, ≥ half the maximum.
    pub mask: LocaliseSettings,
    /// Images per device pass. Default 16 (as `attribution.batch_size`).
    pub batch_size: usize,
}

impl Default for LocaliseConfig {
    fn default() -> Self {
        Self { method: ConceptMethod::default(), mask: LocaliseSettings::default(), batch_size: 16 }
    }
}

/// Why a localisation failed.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    /// The attribution refused (a direction of the wrong length, a tap LRP cannot start at).
    #[error(transparent)]
    Attribution(#[from] AttributionError),
    /// A mask or a score could not be made.
    #[error(transparent)]
    Localise(#[from] LocaliseError),
    /// Reading the maps back failed.
    #[error("reading the heatmaps back from the device failed: {0}")]
    Readback(String),
    /// Pixels, labels or truths do not fit together.
    #[error("{0}")]
    Shape(String),
}

/// What a heatmap explains.
#[derive(Debug, Clone, Copy)]
pub enum Explain<'a> {
    /// The concept of a CAV: its unit direction at its layer (`Cav::direction`, `cav.layer`).
    Concept {
        /// The CAV's layer.
        tap: Tap,
        /// The CAV's direction.
        direction: &'a [f32],
    },
    /// A class logit per image (the plain attribution baseline), with the same method.
    Class {
        /// One class per image.
        targets: &'a [usize],
    },
}

/// Per-image heatmaps in image pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct Heatmaps {
    /// The images' (and maps') size.
    pub image: ImageSize,
    /// `maps[i]`: image `i`'s relevance summed over channels, `H·W` values row-major
    /// (`maps[i][y * W + x]`).
    pub maps: Vec<Vec<f32>>,
}

/// Pooled and per-image scores of one set of masks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scores {
    /// Per image: IoU of its mask with its truth.
    pub ious: Vec<Option<f64>>,
    /// Per image: whether the heatmap's maximum lies in the truth (`None`: it points nowhere).
    pub hits: Vec<Option<bool>>,
    /// Pooled.
    pub summary: LocalisationSummary,
}

/// The heatmaps of `explain` for every image of `pixels` (`[N, 3, H, W]` values in `[0, 1]`),
/// computed on `device` in batches of `config.batch_size`, one read-back per batch.
///
/// # Shapes
/// `pixels`: `N·3·H·W`, `image` = `[3, H, W]` → `N` maps of `H·W`.
///
/// # Errors
/// [`ArtifactError`] for mismatched shapes, a refused attribution or a failed read-back.
pub async fn heatmaps(
    model: &ResNet,
    pixels: &[f32],
    image: [usize; 3],
    explain: Explain<'_>,
    config: &LocaliseConfig,
    device: &Device,
) -> Result<Heatmaps, ArtifactError> {
    let per: usize = image.iter().product();
    if per == 0 || !pixels.len().is_multiple_of(per) || config.batch_size == 0 {
        return Err(ArtifactError::Shape(format!(
            "{} pixel values are not whole [3, H, W] = {image:?} images (or batch_size is 0)",
            pixels.len()
        )));
    }
    let n = pixels.len() / per;
    if let Explain::Class { targets } = explain
        && targets.len() != n
    {
        return Err(ArtifactError::Shape(format!("{} targets for {n} images", targets.len())));
    }
    let size = ImageSize { width: image[2] as u32, height: image[1] as u32 };
    let model = model.clone().to_device(device).freeze();
    let mut maps = Vec::with_capacity(n);
    for start in (0..n).step_by(config.batch_size) {
        let end = (start + config.batch_size).min(n);
        let x: Tensor<4> = Tensor::from_data(
            TensorData::new(pixels[start * per..end * per].to_vec(), [end - start, image[0], image[1], image[2]]),
            device,
        );
        let map = match explain {
            Explain::Concept { tap, direction } => concept_relevance(&model, x, tap, direction, &config.method)?,
            Explain::Class { targets } => match config.method {
                ConceptMethod::Lrp { lrp } => lrp_resnet(&model, x, Some(&targets[start..end]), &lrp, None)?.map,
                ConceptMethod::GradientXInput => {
                    gradient_x_input(|x| model.forward(x), x, &targets[start..end], OutputRelevance::OneHot)?.0
                }
            },
        };
        let summed = map.sum_dim(1);
        let mut read = read_all(vec![summed]).await.map_err(|e| ArtifactError::Readback(e.0))?;
        let values = read.pop().unwrap_or_default();
        maps.extend(values.chunks_exact(size.pixels()).map(<[f32]>::to_vec));
        pace::yield_now().await;
    }
    Ok(Heatmaps { image: size, maps })
}

/// Each heatmap's artifact mask (`biaslens_metrics::localise::threshold_mask`).
///
/// # Errors
/// [`ArtifactError::Localise`] for a bad setting.
pub fn masks(heat: &Heatmaps, settings: &LocaliseSettings) -> Result<Vec<Vec<bool>>, ArtifactError> {
    Ok(heat.maps.iter().map(|m| localise::threshold_mask(m, heat.image, settings)).collect::<Result<_, _>>()?)
}

/// Scores `masks` (one per image, e.g. from [`masks`] or a baseline) against `truths`, with the
/// pointing game on `heat` (the heatmaps the masks came from; `None` for a baseline without a
/// heatmap, whose hits are then all `None`).
///
/// # Errors
/// [`ArtifactError`] when the counts or sizes differ.
pub fn score(
    masks: &[Vec<bool>],
    heat: Option<&Heatmaps>,
    truths: &[Vec<bool>],
    settings: &LocaliseSettings,
) -> Result<Scores, ArtifactError> {
    if masks.len() != truths.len() || heat.is_some_and(|h| h.maps.len() != truths.len()) {
        return Err(ArtifactError::Shape(format!("{} masks for {} truths", masks.len(), truths.len())));
    }
    let ious = masks.iter().zip(truths).map(|(m, t)| localise::iou(m, t)).collect::<Result<Vec<_>, _>>()?;
    let hits = match heat {
        Some(h) => h
            .maps
            .iter()
            .zip(truths)
            .map(|(m, t)| localise::pointing_game(m, t, h.image, settings))
            .collect::<Result<Vec<_>, _>>()?,
        None => vec![None; truths.len()],
    };
    let summary = localise::summarise(&ious, &hits);
    Ok(Scores { ious, hits, summary })
}
