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
use crate::localise::{Explain, Heatmaps, heatmaps, masks, score};
use crate::results::{FoundRegions, LocalisationResult};

/// The localisation of one unit, or `None` when the config does not ask for it, no method kept a
/// CAV, no explained image carries the attribute, or the pool has no known regions (own images
/// without boxes or masks: nothing to score against); and the artifact found in each of the
/// inspector's `kept` images (the first of the explained images, with the attribute or not: the
/// inspector offers the found mask as every image's region), or `None` when the config does not
/// localise, no method kept a CAV or no image was kept. The CAV's heatmap of an image that is
/// both scored and kept is computed once.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn localise_unit(
    config: &ExperimentConfig,
    pool: &Pool<'_>,
    models: &[Trained],
    explained: &SplitImages,
    kept: usize,
    roi: &Roi,
    side: usize,
    seed: u64,
    device: &Device,
) -> Result<(Option<LocalisationResult>, Option<FoundRegions>), RunError> {
    let Some(settings) = &config.localise else { return Ok((None, None)) };
    let Some((from, hook)) = models.iter().find_map(|m| m.model.hook.as_ref().map(|h| (m.name.clone(), h))) else {
        return Ok((None, None));
    };
    let hw = side * side;
    let image = ImageSize::square(side as u32);
    let kept = kept.min(explained.attribute.len());
    let carrying: Vec<usize> = (0..explained.attribute.len()).filter(|&i| explained.attribute[i] == 1).collect();
    let truths = if carrying.is_empty() {
        None
    } else {
        let indices: Vec<_> = carrying.iter().map(|&i| explained.indices[i]).collect();
        match pool {
            Pool::Synthetic(c) => {
                Some((c.data.synthetic.attribute_masks(&indices)?, "the synthetic attribute's own pixels (each face with minus without it)".to_owned()))
            }
            Pool::Own(_) => {
                let subset = SplitImages { pixels: Vec::new(), target: Vec::new(), attribute: Vec::new(), indices };
                pool.regions_of(&subset).zip(pool.regions_source()).map(|(regions, source)| (regions.iter().map(region_mask).collect::<Vec<_>>(), source))
            }
        }
    };
    // The images whose CAV heatmap is needed: the scored ones (if there is a truth) and the kept
    // ones, each once, in explained order.
    let mut needed: Vec<usize> = truths.as_ref().map_or_else(Vec::new, |_| carrying.clone());
    needed.extend(0..kept);
    needed.sort_unstable();
    needed.dedup();
    if needed.is_empty() {
        return Ok((None, None));
    }
    let pixels: Vec<f32> = needed.iter().flat_map(|&i| explained.pixels[i * 3 * hw..(i + 1) * 3 * hw].iter().copied()).collect();
    let fail = |e: crate::localise::ArtifactError| RunError::Device(format!("localising the artifact: {e}"));
    let vanilla = &models[0].model.model;
    let shape = [3, side, side];
    let heat = heatmaps(vanilla, &pixels, shape, Explain::Concept { tap: hook.tap, direction: &hook.cav }, settings, device).await.map_err(fail)?;
    let heat_of = |rows: &mut dyn Iterator<Item = usize>| Heatmaps {
        image: heat.image,
        maps: rows.map(|i| heat.maps[needed.binary_search(&i).unwrap_or_default()].clone()).collect(),
    };
    let found = (kept > 0)
        .then(|| masks(&heat_of(&mut (0..kept)), &settings.mask))
        .transpose()
        .map_err(fail)?
        // An empty mask (no positive relevance) is "nothing found", not an error.
        .map(|found| FoundRegions { cav_from: from.clone(), regions: found.into_iter().map(|inside| Mask::new(image, inside).ok().map(Region::Mask)).collect() });
    let Some((truths, truth)) = truths else { return Ok((None, found)) };
    let cav = heat_of(&mut carrying.iter().copied());
    let subset_pixels: Vec<f32> = carrying.iter().flat_map(|&i| explained.pixels[i * 3 * hw..(i + 1) * 3 * hw].iter().copied()).collect();
    let targets: Vec<usize> = carrying.iter().map(|&i| usize::from(explained.target[i])).collect();
    let class = heatmaps(vanilla, &subset_pixels, shape, Explain::Class { targets: &targets }, settings, device).await.map_err(fail)?;
    let mask_settings: &LocaliseSettings = &settings.mask;
    let scored = |m: &[Vec<bool>], h| score(m, h, &truths, mask_settings).map(|s| s.summary).map_err(fail);
    let (x, y, w, h) = (roi.x(), roi.y(), roi.w(), roi.h());
    let fixed = vec![box_mask(image, x, y, w, h); truths.len()];
    let mut rng = SplitMix64::new(seed ^ 0x6C6F_6361_6C69_7365);
    let random = (0..truths.len())
        .map(|_| random_box_mask(image, w, h, &mut rng))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| fail(e.into()))?;
    let localisation = LocalisationResult {
        cav_from: from,
        truth,
        cav: scored(&masks(&cav, mask_settings).map_err(fail)?, Some(&cav))?,
        class_map: scored(&masks(&class, mask_settings).map_err(fail)?, Some(&class))?,
        fixed_roi: scored(&fixed, None)?,
        random_box: scored(&random, None)?,
    };
    Ok((Some(localisation), found))
}

/// A region as a mask of its image's pixels.
fn region_mask(region: &Region) -> Vec<bool> {
    match region {
        Region::Box(r) => Mask::from_roi(r).inside().to_vec(),
        Region::Mask(m) => m.inside().to_vec(),
    }
}

