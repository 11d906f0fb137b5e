//! Stage 5 of a unit: every attribution method of the config explains every model on the
//! explained test images (the first images of each (attribute, target) cell in turn), one batch
//! at a time with one read-back per batch; per image and model the metrics against vanilla's map
//! of the same image, the sanity numbers, the per-group sums of Figure 2 and, within the page's
//! memory budget, the maps themselves for the inspector (docs/METHODS.md#attribution,
//! docs/METHODS.md#metrics).

use std::collections::BTreeMap;

use biaslens_debias::DebiasedModel;
use biaslens_metrics::{ChannelReduction, GroupKey, ImageMetrics, PreprocessSettings, Region, Roi, SaliencySettings, per_image_metrics, per_image_metrics_each, preprocess};
use biaslens_model::readback::{Read, Readback, Slot};
use burn::prelude::*;

use super::RunError;
use super::evaluate::batch_tensor;
use super::methods::Trained;
use super::pool::SplitImages;
use super::progress::Tracker;
use crate::attributions::{Attribution, Expected, Request};
use crate::config::ExperimentConfig;
use crate::registries::Registries;
use crate::results::{ExplainedImages, ModelMapsOf};

/// One attribution method's accumulators for one model.
#[derive(Default)]
pub(crate) struct ModelMaps {
    /// Per explained image: metrics against vanilla's map of the same image.
    pub metrics: Vec<ImageMetrics>,
    /// Per explained image: (Σ attribution, what it should equal).
    pub sanity: Vec<(f64, Option<f64>)>,
    /// Per group: sum of the signed, channel-summed, per-image max-abs-normalised maps.
    pub group_sum: BTreeMap<GroupKey, Vec<f64>>,
}

/// What the attribution stage hands to the scoring stage.
pub(crate) struct Explained {
    /// Attribution keys, in config order.
    pub keys: Vec<String>,
    /// `[attribution][model]` accumulators.
    pub maps: Vec<Vec<ModelMaps>>,
    /// Group of each explained image.
    pub groups: Vec<GroupKey>,
    /// Per group: sum of the inputs and the number of images.
    pub input_sum: BTreeMap<GroupKey, (Vec<f64>, usize)>,
    /// The first explained images and their maps, for the inspector (`n = 0`: none kept).
    pub kept: ExplainedImages,
}

/// `k` indices into the test split: cells (attribute, target) = (0,0), (0,1), (1,0), (1,1) take
/// turns giving their next image in test order (a cell that runs out is skipped); returned in
/// ascending order.
pub(crate) fn balanced_first(target: &[u8], attribute: &[u8], k: usize) -> Vec<usize> {
    let mut cells: [Vec<usize>; 4] = Default::default();
    for (i, (&t, &a)) in target.iter().zip(attribute).enumerate() {
        cells[usize::from(a != 0) * 2 + usize::from(t != 0)].push(i);
    }
    let mut next = [0usize; 4];
    let mut out = Vec::with_capacity(k);
    while out.len() < k && next.iter().zip(&cells).any(|(n, c)| *n < c.len()) {
        for (n, c) in next.iter_mut().zip(&cells) {
            if out.len() < k && *n < c.len() {
                out.push(c[*n]);
                *n += 1;
            }
        }
    }
    out.sort_unstable();
    out
}

/// The explained images of the test split: the first `k` of each cell in turn.
pub(crate) fn explained_images(test: &SplitImages, k: usize, hw: usize) -> SplitImages {
    let chosen = balanced_first(&test.target, &test.attribute, k);
    SplitImages {
        pixels: chosen.iter().flat_map(|&i| test.pixels[i * 3 * hw..(i + 1) * 3 * hw].iter().copied()).collect(),
        target: chosen.iter().map(|&i| test.target[i]).collect(),
        attribute: chosen.iter().map(|&i| test.attribute[i]).collect(),
        indices: chosen.iter().map(|&i| test.indices[i]).collect(),
    }
}

const SIGNED: PreprocessSettings =
    PreprocessSettings { channel_reduction: ChannelReduction::SignedSum, normalisation: biaslens_metrics::Normalisation::None };

/// Adds each image's channel-summed map, scaled to max |value| 1 (the authors' normalisation,
/// kept signed as in their figures), to its group's sum.
///
/// # Shapes
/// `maps`: `[B, 3, H, W]` flattened; `groups`: `B` keys.
fn accumulate(sum: &mut BTreeMap<GroupKey, Vec<f64>>, maps: &[f32], groups: &[GroupKey], hw: usize) {
    for (m, g) in maps.chunks_exact(3 * hw).zip(groups) {
        let r = preprocess(m, 3, SIGNED);
        let a = r.iter().fold(0.0f64, |acc, v| acc.max(v.abs()));
        let slot = sum.entry(*g).or_insert_with(|| vec![0.0; hw]);
        if a > 0.0 {
            for (s, v) in slot.iter_mut().zip(&r) {
                *s += v / a;
            }
        }
    }
}

/// Appends the signed channel sums and the preprocessed maps of `maps` (`[n, 3, H, W]`).
fn keep_maps(slot: &mut ModelMapsOf, maps: &[f32], hw: usize, settings: PreprocessSettings) {
    for m in maps.chunks_exact(3 * hw) {
        slot.signed.extend(preprocess(m, 3, SIGNED).into_iter().map(|v| v as f32));
        slot.preprocessed.extend(preprocess(m, 3, settings).into_iter().map(|v| v as f32));
    }
}

/// The map of a model that shares vanilla's network and differs only in its output transform,
/// for an attribution linear in the output relevance (LRP): exactly `f_i ·` vanilla's map of
/// image `i`, with `f_i = r_i / r_i(vanilla)` the ratio of the relevances at the target (every
/// rule divides by the same forward pre-activations). Every consumer normalises each map by its
/// maximum |value| (metrics and Figure 2), so the map is stored as `sign(f_i) ·` vanilla's:
/// mathematically the same after normalisation, and bit-exact, so ADR = DIF = 0 holds exactly
/// instead of within float rounding (which the identical-map rule of the metrics would otherwise
/// see as tiny differences). The sanity numbers are scaled by `f_i`.
///
/// # Shapes
/// `vanilla`: `[B, 3, H, W]` flattened; `vanilla_sums`: `B` pairs (Σ input relevance, Σ output
/// relevance); `relevance`: `B` values → (`[B, 3, H, W]` flattened, `B` sanity pairs).
pub(crate) fn derived_map(vanilla: &[f32], vanilla_sums: &[(f32, f32)], relevance: &[f32]) -> (Vec<f32>, Vec<(f64, f64)>) {
    let per = vanilla.len() / relevance.len().max(1);
    let mut map = Vec::with_capacity(vanilla.len());
    let mut sums = Vec::with_capacity(relevance.len());
    for ((img, &(input, output)), &r) in vanilla.chunks_exact(per.max(1)).zip(vanilla_sums).zip(relevance) {
        let f = if output == 0.0 { 0.0 } else { f64::from(r) / f64::from(output) };
        if f > 0.0 {
            map.extend_from_slice(img);
        } else if f < 0.0 {
            map.extend(img.iter().map(|v| -v));
        } else {
            map.extend(std::iter::repeat_n(0.0, img.len()));
        }
        sums.push((f64::from(input) * f, f64::from(r)));
    }
    (map, sums)
}

/// Where one (attribution, model)'s results of a batch will be in the read-back.
enum Slots {
    /// Computed: the map, the device-side sum, what the sum should equal.
    Computed { map: Slot, sum: Option<Slot>, expected: Option<(Slot, bool)> },
    /// Derived from vanilla's map by the ratio of output relevances.
    Derived { relevance: Slot },
}

/// Everything the attribution of one batch reads back.
struct BatchPlan {
    /// `[attribution][model]`.
    slots: Vec<Vec<Slots>>,
}

/// Registers every (attribution, model) pass of one batch.
#[allow(clippy::too_many_arguments)]
async fn explain_batch(
    attributions: &[(&dyn Attribution, &serde_json::Value)],
    frozen: &[DebiasedModel],
    shares_vanilla: &[bool],
    names: &[String],
    x: Tensor<4>,
    targets: &[usize],
    groups: &[u8],
    rb: &mut Readback,
    mut on_model: impl FnMut(usize, usize, &str),
    should_stop: &dyn Fn() -> bool,
) -> Result<BatchPlan, RunError> {
    let b = targets.len();
    let mut slots: Vec<Vec<Slots>> = attributions.iter().map(|_| Vec::with_capacity(frozen.len())).collect();
    // Per attribution: the network's logits from vanilla's pass, if it computed them.
    let mut vanilla_logits: Vec<Option<Tensor<2>>> = vec![None; attributions.len()];
    for (m, dm) in frozen.iter().enumerate() {
        for (a, (method, config)) in attributions.iter().enumerate() {
            let request = Request { model: dm, x: x.clone(), targets, groups, should_stop };
            let derived = if m > 0 && shares_vanilla[m] && method.linear_in_output() {
                // Vanilla's network: only the output relevance differs (see `derived_map`).
                let logits = vanilla_logits[a].clone().unwrap_or_else(|| dm.logits(x.clone()));
                method.output_relevance(&request, logits, config)?
            } else {
                None
            };
            let s = match derived {
                Some(relevance) => Slots::Derived { relevance: rb.push(relevance.reshape([b])) },
                None => {
                    let e = method.explain(&request, config)?;
                    if m == 0 {
                        vanilla_logits[a] = e.logits;
                    }
                    let map = rb.push(e.map);
                    let sum = e.sum.map(|s| rb.push(s));
                    let expected = match e.expected {
                        Expected::None => None,
                        Expected::Sum(t) => Some((rb.push(t), false)),
                        Expected::Delta(t) => Some((rb.push(t), true)),
                    };
                    Slots::Computed { map, sum, expected }
                }
            };
            slots[a].push(s);
        }
        on_model(m, frozen.len(), &names[m]);
        // One batch explains every model before its read-back; give the host a turn between
        // models (eager backends have done the work by now).
        biaslens_model::pace::yield_now().await;
    }
    Ok(BatchPlan { slots })
}

/// Maps and sanity pairs of one attribution for every model of a batch of `b` images, from the
/// read-back.
fn read_maps(slots: &[Slots], b: usize, read: &mut Read) -> Result<(Vec<Vec<f32>>, Vec<Vec<(f64, Option<f64>)>>), RunError> {
    let mut maps: Vec<Vec<f32>> = Vec::with_capacity(slots.len());
    let mut sanity = Vec::with_capacity(slots.len());
    let mut vanilla_sums: Vec<(f32, f32)> = Vec::new();
    for (m, s) in slots.iter().enumerate() {
        match s {
            Slots::Derived { relevance } => {
                let rel = read.take(*relevance)?;
                let (map, sums) = derived_map(&maps[0], &vanilla_sums, &rel);
                sanity.push(sums.into_iter().map(|(a, t)| (a, Some(t))).collect());
                maps.push(map);
            }
            Slots::Computed { map, sum, expected } => {
                let map = read.take(*map)?;
                let device_sums = sum.map(|s| read.take(s)).transpose()?;
                let expected_values = expected.map(|(s, delta)| read.take(s).map(|v| (v, delta))).transpose()?;
                let per = map.len() / b.max(1);
                let pairs = map
                    .chunks_exact(per.max(1))
                    .enumerate()
                    .map(|(i, img)| {
                        let attr = match device_sums.as_ref().and_then(|d| d.get(i)) {
                            Some(&v) => f64::from(v),
                            None => img.iter().map(|&v| f64::from(v)).sum(),
                        };
                        let target = expected_values
                            .as_ref()
                            .and_then(|(v, delta)| v.get(i).map(|&e| if *delta { attr - f64::from(e) } else { f64::from(e) }));
                        (attr, target)
                    })
                    .collect();
                if m == 0
                    && let (Some(d), Some((e, false))) = (&device_sums, &expected_values)
                {
                    vanilla_sums = d.iter().copied().zip(e.iter().copied()).collect();
                }
                sanity.push(pairs);
                maps.push(map);
            }
        }
    }
    Ok((maps, sanity))
}

/// The attribution stage of a unit over the explained images `images`, scored in `roi`, or in
/// `regions[i]` for image `i` when given (docs/METHODS.md#per-image-regions).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn explain_all(
    config: &ExperimentConfig,
    registries: &Registries,
    models: &[Trained],
    images: &SplitImages,
    roi: &Roi,
    regions: Option<&[Region]>,
    side: usize,
    inspect_bytes: usize,
    device: &Device,
    tracker: &mut Tracker<'_>,
    should_stop: &dyn Fn() -> bool,
) -> Result<Explained, RunError> {
    let hw = side * side;
    let k_images = images.target.len();
    let attributions = config
        .attribution
        .methods
        .iter()
        .map(|a| registries.attributions.require(&a.method).map(|m| (m, &a.config)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| RunError::Config(crate::ConfigError::Invalid(e)))?;
    let keys: Vec<String> = config.attribution.methods.iter().map(|a| a.key().to_owned()).collect();
    let frozen: Vec<DebiasedModel> = models.iter().map(|m| m.model.clone().frozen()).collect();
    let shares_vanilla: Vec<bool> = models.iter().map(Trained::shares_vanilla_network).collect();
    let names: Vec<String> = models.iter().map(|m| m.name.clone()).collect();
    let groups: Vec<GroupKey> = (0..k_images)
        .map(|i| GroupKey { protected: i64::from(images.attribute[i]), target: i64::from(images.target[i]) })
        .collect();
    let saliency: &SaliencySettings = &config.metrics.saliency;
    // Per image: the input and, per model and attribution, its signed and preprocessed maps.
    let per_image_bytes = frozen.len() * keys.len() * 2 * hw * 4 + 3 * hw * 4;
    let keep = (inspect_bytes / per_image_bytes.max(1)).min(k_images);
    let mut kept = ExplainedImages {
        n: keep,
        pixels: images.pixels[..keep * 3 * hw].to_vec(),
        target: images.target[..keep].to_vec(),
        attribute: images.attribute[..keep].to_vec(),
        maps: if keep > 0 { keys.iter().map(|k| (k.clone(), vec![ModelMapsOf::default(); frozen.len()])).collect() } else { BTreeMap::new() },
        regions: regions.map(|r| r[..keep.min(r.len())].to_vec()),
        found: None,
    };
    let mut acc: Vec<Vec<ModelMaps>> = keys.iter().map(|_| frozen.iter().map(|_| ModelMaps::default()).collect()).collect();
    let mut input_sum: BTreeMap<GroupKey, (Vec<f64>, usize)> = BTreeMap::new();
    let mut first = 0;
    while first < k_images {
        if should_stop() {
            return Err(RunError::Cancelled);
        }
        let end = (first + config.attribution.batch_size).min(k_images);
        let b = end - first;
        let targets: Vec<usize> = images.target[first..end].iter().map(|&v| usize::from(v)).collect();
        let x = batch_tensor(&images.pixels, first..end, side, device);
        let mut rb = Readback::new();
        let plan = explain_batch(
            &attributions,
            &frozen,
            &shares_vanilla,
            &names,
            x,
            &targets,
            &images.attribute[first..end],
            &mut rb,
            |m, models, name| {
                tracker.report(
                    (first as f64 + (m + 1) as f64 / models as f64 * b as f64) / k_images as f64,
                    format!("images {}–{} of {k_images}, {name}", first + 1, end),
                )
            },
            should_stop,
        )
        .await?;
        let mut read = rb.execute().await?;
        let batch_groups = &groups[first..end];
        let keep_here = keep.saturating_sub(first).min(b);
        for (a, slots) in plan.slots.iter().enumerate() {
            let (maps, sanity) = read_maps(slots, b, &mut read)?;
            for (m, (map, pairs)) in maps.iter().zip(sanity).enumerate() {
                let acc_m = &mut acc[a][m];
                acc_m.metrics.extend(match regions {
                    Some(r) => per_image_metrics_each(&maps[0], map, 3, &r[first..end], saliency)?,
                    None => per_image_metrics(&maps[0], map, 3, roi, saliency)?,
                });
                acc_m.sanity.extend(pairs);
                accumulate(&mut acc_m.group_sum, map, batch_groups, hw);
                if let Some(slot) = kept.maps.get_mut(&keys[a]).and_then(|v| v.get_mut(m)) {
                    keep_maps(slot, &map[..keep_here * 3 * hw], hw, saliency.preprocess);
                }
            }
        }
        for (i, key) in batch_groups.iter().enumerate() {
            let img = &images.pixels[(first + i) * 3 * hw..(first + i + 1) * 3 * hw];
            let slot = input_sum.entry(*key).or_insert_with(|| (vec![0.0; 3 * hw], 0));
            for (s, &v) in slot.0.iter_mut().zip(img) {
                *s += f64::from(v);
            }
            slot.1 += 1;
        }
        first = end;
    }
    for (a, key) in keys.iter().enumerate() {
        if let Some(slots) = kept.maps.get_mut(key) {
            for (m, slot) in slots.iter_mut().enumerate() {
                slot.sanity = acc[a][m].sanity[..keep].to_vec();
            }
        }
    }
    Ok(Explained { keys, maps: acc, groups, input_sum, kept })
}
