//! Stage 5b of a unit (opt-in, config `localise`; not in the paper): the artifact found from the
//! CAV a ClArC method fitted (Reveal to Revise's localisation; docs/METHODS.md#localise). On the
//! explained test images that carry the attribute, the CAV's heatmap on the vanilla model is
//! thresholded into a mask and scored against the truth (the synthetic attribute's own pixels,
//! or each image's own region of a planted set), beside vanilla's class map, the fixed ROI and a
//! seeded random box of the ROI's size.

use biaslens_metrics::localise::{LocaliseSettings, box_mask, random_box_mask};
use biaslens_metrics::{ImageSize, Mask, Region, Roi};
use biaslens_rng::SplitMix64;
use burn::prelude::*;

use super::RunError;
use super::methods::Trained;
use super::pool::{Pool, SplitImages};
use crate::config::ExperimentConfig;
use crate::localise::{Explain, heatmaps, masks, score};
use crate::results::{ExplainedImages, FoundRegions, LocalisationResult};

/// The localisation of one unit, or `None` when the config does not ask for it, no method kept a
/// CAV, no explained image carries the attribute, or the pool has no known regions (own images
/// without boxes or masks: nothing to score against).
pub(crate) async fn localise_unit(
    config: &ExperimentConfig,
    pool: &Pool<'_>,
    models: &[Trained],
    explained: &SplitImages,
    roi: &Roi,
    side: usize,
    seed: u64,
    device: &Device,
) -> Result<Option<LocalisationResult>, RunError> {
    let Some(settings) = &config.localise else { return Ok(None) };
    let Some((from, hook)) = models.iter().find_map(|m| m.model.hook.as_ref().map(|h| (m.name.clone(), h))) else {
        return Ok(None);
    };
    let carrying: Vec<usize> = (0..explained.attribute.len()).filter(|&i| explained.attribute[i] == 1).collect();
    if carrying.is_empty() {
        return Ok(None);
    }
    let hw = side * side;
    let image = ImageSize::square(side as u32);
    let subset = SplitImages {
        pixels: carrying.iter().flat_map(|&i| explained.pixels[i * 3 * hw..(i + 1) * 3 * hw].iter().copied()).collect(),
        target: carrying.iter().map(|&i| explained.target[i]).collect(),
        attribute: carrying.iter().map(|_| 1).collect(),
        indices: carrying.iter().map(|&i| explained.indices[i]).collect(),
    };
    let (truths, truth) = match pool {
        Pool::Synthetic(c) => (
            c.data.synthetic.attribute_masks(&subset.indices)?,
            "the synthetic attribute's own pixels (each face with minus without it)".to_owned(),
        ),
        Pool::Own(_) => match (pool.regions_of(&subset), pool.regions_source()) {
            (Some(regions), Some(source)) => (regions.iter().map(region_mask).collect(), source),
            _ => return Ok(None),
        },
    };
    let fail = |e: crate::localise::ArtifactError| RunError::Device(format!("localising the artifact: {e}"));
    let vanilla = &models[0].model.model;
    let shape = [3, side, side];
    let cav = heatmaps(vanilla, &subset.pixels, shape, Explain::Concept { tap: hook.tap, direction: &hook.cav }, settings, device)
        .await
        .map_err(fail)?;
    let targets: Vec<usize> = subset.target.iter().map(|&t| usize::from(t)).collect();
    let class = heatmaps(vanilla, &subset.pixels, shape, Explain::Class { targets: &targets }, settings, device).await.map_err(fail)?;
    let mask_settings: &LocaliseSettings = &settings.mask;
    let scored = |m: &[Vec<bool>], h| score(m, h, &truths, mask_settings).map(|s| s.summary).map_err(fail);
    let (x, y, w, h) = (roi.x(), roi.y(), roi.w(), roi.h());
    let fixed = vec![box_mask(image, x, y, w, h); truths.len()];
    let mut rng = SplitMix64::new(seed ^ 0x6C6F_6361_6C69_7365);
    let random = (0..truths.len())
        .map(|_| random_box_mask(image, w, h, &mut rng))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| fail(e.into()))?;
    Ok(Some(LocalisationResult {
        cav_from: from,
        truth,
        cav: scored(&masks(&cav, mask_settings).map_err(fail)?, Some(&cav))?,
        class_map: scored(&masks(&class, mask_settings).map_err(fail)?, Some(&class))?,
        fixed_roi: scored(&fixed, None)?,
        random_box: scored(&random, None)?,
    }))
}

/// A region as a mask of its image's pixels.
fn region_mask(region: &Region) -> Vec<bool> {
    match region {
        Region::Box(r) => Mask::from_roi(r).inside().to_vec(),
        Region::Mask(m) => m.inside().to_vec(),
    }
}

/// The artifact found from the CAV in each of the inspector's kept images (whether or not it
/// carries the attribute: the inspector offers the found mask as every image's region), or `None`
/// when the config does not localise, no method kept a CAV or no image was kept.
pub(crate) async fn found_regions(
    config: &ExperimentConfig,
    models: &[Trained],
    kept: &ExplainedImages,
    side: usize,
    device: &Device,
) -> Result<Option<FoundRegions>, RunError> {
    let Some(settings) = &config.localise else { return Ok(None) };
    let Some((from, hook)) = models.iter().find_map(|m| m.model.hook.as_ref().map(|h| (m.name.clone(), h))) else {
        return Ok(None);
    };
    if kept.n == 0 {
        return Ok(None);
    }
    let fail = |e: crate::localise::ArtifactError| RunError::Device(format!("finding the artifact in the inspector's images: {e}"));
    let explain = Explain::Concept { tap: hook.tap, direction: &hook.cav };
    let heat = heatmaps(&models[0].model.model, &kept.pixels, [3, side, side], explain, settings, device).await.map_err(fail)?;
    let image = ImageSize::square(side as u32);
    let regions = masks(&heat, &settings.mask)
        .map_err(fail)?
        .into_iter()
        // An empty mask (no positive relevance) is "nothing found", not an error.
        .map(|inside| Mask::new(image, inside).ok().map(Region::Mask))
        .collect();
    Ok(Some(FoundRegions { cav_from: from, regions }))
}
