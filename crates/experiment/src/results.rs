//! The results document of one experiment run (Sztukiewicz et al., XAI 2025, §4: Figures 2 and
//! 3): typed, versioned and self-describing, so a report can be re-imported and re-run.
//!
//! It embeds the config that produced it, the crate versions, the seed, the split cell counts,
//! per unit (a training correlation φ with a seed) and model (vanilla first, then every method in
//! config order) the fairness report on the whole balanced test split, and per attribution method
//! (keyed by the config's attribution keys) the saliency metrics against vanilla (pooled and per
//! (protected attribute × target) group, with bootstrap intervals) and the attribution's sanity
//! numbers (LRP relevance sums, IG completeness delta). Maps are kept small: per group the mean
//! input and the mean signed, per-image max-abs-normalised map of each model (Figure 2), as
//! 16-bit quantised base64 ([`EncodedMap`]), not every map.
//!
//! Version 2 keys attributions by id (version 1 had fixed `lrp` and `ig` fields);
//! [`migrate_v1`] reads version-1 documents.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use biaslens_data::CellCounts;
use biaslens_metrics::fairness::PairedGap;
use biaslens_metrics::{FairnessReport, GroupKey, ImageSize, Interval, Roi, SaliencyReport};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::{ExperimentConfig, MethodFamily};
use crate::registries::Registries;

/// The `format` field of every results document.
pub const RESULTS_FORMAT: &str = "biaslens-results";

/// Version of the results format; documents of a newer version are refused on import.
pub const RESULTS_VERSION: u32 = 2;

/// Versions of what produced a document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Versions {
    /// The biaslens crates.
    pub biaslens: String,
    /// The burn release the numbers were computed with.
    pub burn: String,
    /// [`crate::CONFIG_VERSION`].
    pub config: u32,
    /// [`RESULTS_VERSION`].
    pub results: u32,
}

impl Versions {
    /// This build's versions.
    pub fn current() -> Self {
        Self {
            biaslens: env!("CARGO_PKG_VERSION").into(),
            burn: "0.22".into(),
            config: crate::CONFIG_VERSION,
            results: RESULTS_VERSION,
        }
    }
}

/// Wall time of one stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageTiming {
    /// The φ the stage belongs to (`None` for whole-run stages).
    pub phi: Option<f64>,
    /// The seed of the unit the stage belongs to (absent in documents written before shards).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Stage name (`"data"`, `"train vanilla"`, `"method ThrOpt"`, `"evaluate"`, `"attribute"`,
    /// `"metrics"`).
    pub stage: String,
    /// Seconds.
    pub seconds: f64,
}

/// Size and cell counts of a split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SplitSummary {
    /// Images.
    pub images: usize,
    /// Images per (target, attribute) cell.
    pub counts: CellCounts,
    /// Achieved Yule's φ (`None` if undefined).
    pub phi: Option<f64>,
}

/// How training the vanilla model ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingSummary {
    /// Optimiser steps.
    pub steps: usize,
    /// Cross-entropy of the last batch.
    pub final_loss: Option<f32>,
    /// Accuracy of the last batch (training mode, before the update).
    pub final_batch_accuracy: Option<f32>,
}

/// Sanity numbers of one attribution method on one model, over the explained images.
///
/// For LRP the target is the output relevance `Σ R_out` and the residual `Σ R_in − Σ R_out`
/// (without the canonizer relevance is not conserved: the residual adds copy it;
/// docs/METHODS.md#lrp). For IG the target is `F(x) − F(baseline)` and the residual Captum's
/// completeness delta. Methods without a completeness property have no target.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Sanity {
    /// Mean over images of the attribution's sum.
    pub attribution_sum_mean: f64,
    /// Mean over images of what the sum should equal (`None`: no such property).
    pub target_sum_mean: Option<f64>,
    /// Mean |residual|.
    pub residual_abs_mean: Option<f64>,
    /// Largest |residual|.
    pub residual_abs_max: Option<f64>,
}

/// One attribution method's results for one model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttributionResult {
    /// Saliency metrics against the vanilla model's maps (for vanilla itself: against itself, so
    /// only its RRF/HRF/MRR/DET are meaningful).
    pub saliency: SaliencyReport,
    /// Sanity numbers.
    pub sanity: Sanity,
}

/// One model in one unit: vanilla or a debiased model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelResult {
    /// `"Vanilla"` or the method's name.
    pub name: String,
    /// The method's registry tag; `None` for vanilla.
    #[serde(default)]
    pub method: Option<String>,
    /// The method's family; `None` for vanilla.
    pub family: Option<MethodFamily>,
    /// Method-specific numbers (chosen threshold, τ, final penalty, …).
    pub details: BTreeMap<String, f64>,
    /// Method-specific facts in words (e.g. which concept labels a CAV used).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Accuracy and fairness gaps on the whole balanced test split.
    pub fairness: FairnessReport,
    /// Per attribution key: the maps' metrics against vanilla's and their sanity numbers.
    pub attributions: BTreeMap<String, AttributionResult>,
    /// EqualizedOdds of this model minus vanilla's on the same test images, with a paired
    /// bootstrap (`None` for vanilla, or with the bootstrap off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eo_vs_vanilla: Option<PairedGap>,
    /// A stratified permutation test of vanilla's EqualizedOdds against "the groups are treated
    /// alike" (one-sided p): the EO premise on own data. `None` for the methods, on the synthetic
    /// benchmark (where [`Reliance`] is the premise) and with the bootstrap off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eo_permutation_p: Option<f64>,
    /// Ground truth on the synthetic benchmark: how much the model's output moves when the
    /// protected attribute is painted in or out of the same faces (`None` on own data).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reliance: Option<Reliance>,
    /// Seconds the method took (training for vanilla).
    pub seconds: f64,
}

/// A model's reliance on the protected attribute, measured on counterfactual pairs: every test
/// face rendered with and without the attribute, nothing else changed (docs/METHODS.md#reliance).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reliance {
    /// Test faces (pairs).
    pub n: usize,
    /// Mean |z_y(with) − z_y(without)| of the network's true-class logit, with a bootstrap
    /// interval: how much the attribute moves the evidence for the right class.
    pub logit_change: Estimate,
    /// Share of faces whose decision (the model's final output, thresholds included) changes
    /// when the attribute is painted in instead of out.
    pub flip_rate: Estimate,
    /// The shortcut effect: `sign(φ) · mean(P(smiling | with) − P(smiling | without))` of the
    /// network's softmax; positive when the model follows the training correlation.
    pub shortcut: Estimate,
    /// One-sided t-test p-value of "shortcut effect > 0" (`None` when every pair is identical).
    pub shortcut_p: Option<f64>,
}

/// A mean with its 95 % bootstrap interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    /// The value on all images.
    pub value: f64,
    /// Percentile-bootstrap interval.
    pub ci: Option<Interval>,
}

impl ModelResult {
    /// The results of the attribution stored under `key`.
    pub fn attribution(&self, key: &str) -> Option<&AttributionResult> {
        self.attributions.get(key)
    }
}

/// A map or image stored compactly: values `q · scale / 32767` with `q` a little-endian `i16`,
/// base64 (standard alphabet). Maps are for display; the metrics never read them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EncodedMap {
    /// Planes (3 for an RGB image, 1 for a map).
    pub channels: usize,
    /// The largest |value|.
    pub scale: f32,
    /// base64 of `channels · H · W` little-endian `i16`.
    pub data: String,
}

impl EncodedMap {
    /// Quantise `values`.
    pub fn encode(values: &[f32], channels: usize) -> Self {
        let scale = values.iter().fold(0.0f32, |m, v| if v.is_finite() { m.max(v.abs()) } else { m });
        let mut bytes = Vec::with_capacity(values.len() * 2);
        for &v in values {
            let q = if scale > 0.0 && v.is_finite() { (v / scale * 32767.0).round().clamp(-32767.0, 32767.0) as i16 } else { 0 };
            bytes.extend_from_slice(&q.to_le_bytes());
        }
        Self { channels, scale, data: STANDARD.encode(bytes) }
    }

    /// The values back (an empty vector if `data` is not valid base64).
    pub fn decode(&self) -> Vec<f32> {
        let Ok(bytes) = STANDARD.decode(&self.data) else { return Vec::new() };
        bytes.chunks_exact(2).map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) * self.scale / 32767.0).collect()
    }
}

/// Figure 2's data for one group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupMeans {
    /// The (protected attribute, target) cell.
    pub group: GroupKey,
    /// Explained images in the group.
    pub images: usize,
    /// Mean input, `3×H×W`.
    pub mean_input: EncodedMap,
    /// Per attribution key, per model (results order): mean of the signed, channel-summed,
    /// per-image max-abs-normalised maps (`R / max|R|`, in `[-1, 1]`), `H×W`.
    pub maps: BTreeMap<String, Vec<EncodedMap>>,
}

/// Everything computed in one unit: one training correlation φ with one seed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhiResult {
    /// The requested training correlation.
    pub phi: f64,
    /// The seed of the unit's splits, initial weights and training.
    pub seed: u64,
    /// Training split.
    pub train: SplitSummary,
    /// Debias split.
    pub debias: SplitSummary,
    /// Balanced test split.
    pub test: SplitSummary,
    /// Training of the vanilla model.
    pub vanilla_training: TrainingSummary,
    /// Vanilla first, then each method in config order.
    pub models: Vec<ModelResult>,
    /// Figure 2: per group (ordered by key), mean input and mean maps.
    pub groups: Vec<GroupMeans>,
    /// The explained images with every model's per-image maps, kept in memory for the page's
    /// inspector when [`crate::RunOptions::inspect_bytes`] allows; never serialised (at the
    /// paper's sizes they would be gigabytes), so an imported report has none. Shared, not
    /// copied, when the results are (the page shows a copy of the results after every unit).
    #[serde(skip)]
    pub explained: Option<std::sync::Arc<ExplainedImages>>,
    /// The unit's vanilla model as torchvision `.safetensors` bytes, when
    /// [`crate::RunOptions::keep_vanilla_weights`] asked for it; never serialised (a report holds
    /// numbers, not models).
    #[serde(skip)]
    pub vanilla_weights: Option<std::sync::Arc<[u8]>>,
    /// The artifact found from the CAV, scored against the known regions, when the config asks
    /// for it (`localise`) and a ClArC method kept a CAV (docs/METHODS.md#localise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub localisation: Option<LocalisationResult>,
}

/// How well the CAV's heatmap finds the artifact on the explained images that carry it, beside
/// the baselines of the same images (docs/METHODS.md#localise).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LocalisationResult {
    /// The method whose CAV was used (the first that kept one: A-ClArC or P-ClArC).
    pub cav_from: String,
    /// What the truth is: the synthetic attribute's own pixels, or the per-image regions' source.
    pub truth: String,
    /// The CAV's heatmap on the vanilla model, thresholded (`localise.mask`).
    pub cav: biaslens_metrics::localise::LocalisationSummary,
    /// Vanilla's own map of each image's target class, same method and threshold.
    pub class_map: biaslens_metrics::localise::LocalisationSummary,
    /// The config's fixed ROI as every image's mask (IoU only; no heatmap to point with).
    pub fixed_roi: biaslens_metrics::localise::LocalisationSummary,
    /// A seeded random box of the ROI's size per image (IoU only).
    pub random_box: biaslens_metrics::localise::LocalisationSummary,
}

/// The first explained test images of one φ and every model's maps of them: what the page's
/// inspector needs to redraw a map and recompute its metrics for another ROI.
///
/// # Shapes
/// `pixels`: `[N, 3, H, W]`; every map: `[N, H, W]` flattened, in [`ExperimentResults::image`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ExplainedImages {
    /// Images kept (`N`), the first of the explained images in order.
    pub n: usize,
    /// Inputs in `[0, 1]`.
    pub pixels: Vec<f32>,
    /// Target labels.
    pub target: Vec<u8>,
    /// Protected-attribute labels.
    pub attribute: Vec<u8>,
    /// Per attribution key, per model in results order.
    pub maps: BTreeMap<String, Vec<ModelMapsOf>>,
    /// Each kept image's own region (model pixels) when the run scored per-image regions
    /// (docs/METHODS.md#per-image-regions), so the inspector draws the region the metrics used;
    /// `None`: the run's one ROI.
    pub regions: Option<Vec<biaslens_metrics::Region>>,
    /// The artifact found from the CAV in each kept image (config `localise`;
    /// docs/METHODS.md#localise), which the inspector offers as the region; `None` when the run
    /// did not localise.
    pub found: Option<FoundRegions>,
}

/// Each kept explained image's artifact mask found from a ClArC method's CAV: the concept's
/// heatmap on the vanilla model, thresholded as `localise.mask` says (model pixels).
#[derive(Debug, Clone, PartialEq)]
pub struct FoundRegions {
    /// The method whose CAV was used.
    pub cav_from: String,
    /// One mask per kept image, in the kept images' order; `None` where the heatmap has no
    /// positive relevance to threshold (nothing found in that image).
    pub regions: Vec<Option<biaslens_metrics::Region>>,
}

/// One attribution method's per-image maps of one model.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ModelMapsOf {
    /// Signed channel-summed maps (for display), `[N, H, W]`.
    pub signed: Vec<f32>,
    /// Maps preprocessed with the run's metric settings (what the metrics read), `[N, H, W]`.
    pub preprocessed: Vec<f32>,
    /// Per image: (attribution sum, what it should equal if anything); see [`Sanity`].
    pub sanity: Vec<(f64, Option<f64>)>,
}

/// The results of [`crate::run_experiment`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExperimentResults {
    /// Always [`RESULTS_FORMAT`].
    pub format: String,
    /// [`RESULTS_VERSION`] when written.
    pub version: u32,
    /// What produced it.
    pub versions: Versions,
    /// The config of the run.
    pub config: ExperimentConfig,
    /// The config's seed (repeated for readers that only look at the top).
    pub seed: u64,
    /// The compute device, as burn names it.
    pub device: String,
    /// Image size of inputs and maps.
    pub image: ImageSize,
    /// The region of interest (the protected attribute's box).
    pub roi: Roi,
    /// The attribution methods that ran, in config order (what each key's maps are).
    pub attributions: Vec<AttributionInfo>,
    /// One entry per finished unit (φ and seed), in run order (seed-major).
    pub phis: Vec<PhiResult>,
    /// Wall time per stage.
    pub timings: Vec<StageTiming>,
    /// Wall time of the whole run.
    pub total_seconds: f64,
    /// The user's images the run used instead of the synthetic benchmark (`None`: synthetic).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_source: Option<String>,
    /// Where each image's own region came from when the saliency metrics used one region per
    /// image (`"boxes.csv"`, docs/METHODS.md#per-image-regions); `roi` then applies to no image.
    /// `None`: `roi` for every image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_image_regions: Option<String>,
    /// Set when the document holds only some of its config's units (a stopped run whose
    /// finished units are not a smaller config of their own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partial: Option<Partial>,
}

/// What an attribution key's maps are, for readers without the registry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttributionInfo {
    /// The key its results are stored under.
    pub key: String,
    /// The registry id of the method.
    pub method: String,
    /// Its short name (`"LRP"`).
    pub name: String,
    /// What its sanity residual means (`None`: it has none).
    pub sanity: Option<String>,
}

/// The attribution infos of `config`'s attribution methods.
pub fn attribution_infos(config: &ExperimentConfig, registries: &Registries) -> Vec<AttributionInfo> {
    config
        .attribution
        .methods
        .iter()
        .map(|a| {
            let m = registries.attributions.get(&a.method);
            AttributionInfo {
                key: a.key().to_owned(),
                method: a.method.clone(),
                name: match (m, &a.key) {
                    (Some(m), None) => m.name().to_owned(),
                    (Some(m), Some(k)) => format!("{} ({k})", m.name()),
                    (None, _) => a.key().to_owned(),
                },
                sanity: m.and_then(|m| m.sanity()).map(str::to_owned),
            }
        })
        .collect()
}

/// The units a partial document lacks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Partial {
    /// (φ, seed) of every unit of the config that did not finish.
    pub missing: Vec<(f64, u64)>,
}

impl ExperimentResults {
    /// Model names in results order (vanilla first).
    pub fn model_names(&self) -> Vec<String> {
        self.phis.first().map(|p| p.models.iter().map(|m| m.name.clone()).collect()).unwrap_or_default()
    }

    /// Joins runs of single units of `config`, given in run order ([`crate::driver::units`]),
    /// into the document one run of the whole config gives (the units are independent: each has
    /// its own splits, model and methods, all seeded by its seed). `None` if `parts` are not
    /// exactly the config's units.
    pub fn join(config: &ExperimentConfig, parts: Vec<ExperimentResults>) -> Option<Self> {
        let units = crate::driver::units(config);
        if parts.len() != units.len() || !Self::matches(&units, &parts) {
            return None;
        }
        let mut out = Self::concat(parts)?;
        out.config = config.clone();
        out.seed = config.seed;
        Some(out)
    }

    fn matches(units: &[crate::driver::Unit], parts: &[ExperimentResults]) -> bool {
        parts.len() <= units.len()
            && parts.iter().zip(units).all(|(p, u)| p.phis.len() == 1 && p.phis[0].phi == u.phi && p.phis[0].seed == u.seed)
    }

    fn concat(parts: Vec<ExperimentResults>) -> Option<Self> {
        let mut parts = parts.into_iter();
        let mut out = parts.next()?;
        for p in parts {
            // A unit redone elsewhere (the page falls back to the CPU when WebGPU fails): name both.
            if !out.device.split(" + ").any(|d| d == p.device) {
                out.device = format!("{} + {}", out.device, p.device);
            }
            out.phis.extend(p.phis);
            out.timings.extend(p.timings);
            out.total_seconds += p.total_seconds;
        }
        Some(out)
    }

    /// [`Self::join`] of the first `parts.len()` units of `config`: what a run stopped part-way
    /// (cancelled, or a device lost) has finished. When those units are every φ of some seeds,
    /// or the first φ of the first seed, the document's config lists only them, so it reads,
    /// renders and re-runs as a complete smaller run; otherwise it keeps the whole config and
    /// lists the missing units in [`ExperimentResults::partial`]. `None` if `parts` is empty or
    /// does not match the start of the run.
    pub fn join_finished(config: &ExperimentConfig, parts: Vec<ExperimentResults>) -> Option<Self> {
        let units = crate::driver::units(config);
        if parts.is_empty() || !Self::matches(&units, &parts) {
            return None;
        }
        let done = parts.len();
        if done == units.len() {
            // Every unit: the whole run's document, its config as given (the smaller-config
            // rewrite below would move `seed` to the first of `seeds`).
            return Self::join(config, parts);
        }
        let per_seed = config.phis.len();
        let (whole_seeds, extra) = (done / per_seed, done % per_seed);
        let mut smaller = config.clone();
        let rectangle = if whole_seeds == 0 {
            smaller.phis.truncate(extra);
            true
        } else {
            extra == 0
        };
        if rectangle {
            let seeds: Vec<u64> = config.seeds().into_iter().take(whole_seeds.max(1)).collect();
            smaller.set_seeds(&seeds);
            return Self::join(&smaller, parts);
        }
        let mut out = Self::concat(parts)?;
        out.config = config.clone();
        out.seed = config.seed;
        out.partial = Some(Partial { missing: units[done..].iter().map(|u| (u.phi, u.seed)).collect() });
        Some(out)
    }

    /// The attribution keys of the document, in config order.
    pub fn attribution_keys(&self) -> Vec<&str> {
        self.attributions.iter().map(|a| a.key.as_str()).collect()
    }

    /// What the attribution stored under `key` is.
    pub fn attribution_info(&self, key: &str) -> Option<&AttributionInfo> {
        self.attributions.iter().find(|a| a.key == key)
    }

    /// Pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// The document with every timing set to zero (timings are the only part of a run that is
    /// not a function of its config and device).
    pub fn without_timings(&self) -> Self {
        let mut r = self.clone();
        r.total_seconds = 0.0;
        for t in &mut r.timings {
            t.seconds = 0.0;
        }
        for p in &mut r.phis {
            for m in &mut p.models {
                m.seconds = 0.0;
            }
        }
        r
    }
}

/// A version-1 results document (fixed `lrp` and `ig` fields) in version 2's form, as JSON: each
/// model's and group's `lrp`/`ig` become entries keyed `"lrp"`/`"ig"`, units get the config's
/// seed, models their registry tag (found by name), and the embedded config is converted
/// ([`ExperimentConfig::from_value`] reads version 1).
///
/// # Errors
/// A message when the document does not have version 1's shape.
pub fn migrate_v1(mut v: Value, registries: &Registries) -> Result<Value, String> {
    let config = v.get("config").cloned().ok_or("no \"config\" field")?;
    let config = ExperimentConfig::from_value_with(config, registries).map_err(|e| e.to_string())?;
    let seed = config.seed;
    let tag_of = |name: &str| registries.methods.iter().find(|m| m.name() == name.split(" (").next().unwrap_or(name)).map(|m| m.tag());
    let phis = v.get_mut("phis").and_then(Value::as_array_mut).ok_or("no \"phis\" list")?;
    for p in phis.iter_mut() {
        let p = p.as_object_mut().ok_or("a φ entry is not an object")?;
        p.insert("seed".into(), Value::from(seed));
        for m in p.get_mut("models").and_then(Value::as_array_mut).ok_or("a φ without models")? {
            let m = m.as_object_mut().ok_or("a model entry is not an object")?;
            let mut attributions = serde_json::Map::new();
            for key in ["lrp", "ig"] {
                if let Some(a) = m.remove(key).filter(|a| !a.is_null()) {
                    attributions.insert(key.into(), a);
                }
            }
            m.insert("attributions".into(), Value::Object(attributions));
            let tag = m.get("name").and_then(Value::as_str).and_then(tag_of);
            m.insert("method".into(), tag.map_or(Value::Null, Value::from));
        }
        for g in p.get_mut("groups").and_then(Value::as_array_mut).ok_or("a φ without groups")? {
            let g = g.as_object_mut().ok_or("a group entry is not an object")?;
            let mut maps = serde_json::Map::new();
            for key in ["lrp", "ig"] {
                if let Some(a) = g.remove(key).filter(|a| a.as_array().is_some_and(|x| !x.is_empty())) {
                    maps.insert(key.into(), a);
                }
            }
            g.insert("maps".into(), Value::Object(maps));
        }
    }
    v["attributions"] = serde_json::to_value(attribution_infos(&config, registries)).map_err(|e| e.to_string())?;
    // Through the text form: `to_value` would widen f32 fields to their f64 digits.
    v["config"] = serde_json::from_str(&config.to_json()).map_err(|e| e.to_string())?;
    // `versions` keeps what produced the document (results format 1).
    v["version"] = Value::from(RESULTS_VERSION);
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_maps_round_trip_within_quantisation() {
        let v: Vec<f32> = (0..100).map(|i| (i as f32 * 0.37).sin() * 3.0).collect();
        let e = EncodedMap::encode(&v, 1);
        let back = e.decode();
        assert_eq!(back.len(), v.len());
        for (a, b) in v.iter().zip(&back) {
            assert!((a - b).abs() <= e.scale / 32767.0, "{a} vs {b}");
        }
        let zeros = EncodedMap::encode(&[0.0; 4], 1);
        assert_eq!(zeros.decode(), vec![0.0; 4]);
        let broken = EncodedMap { channels: 1, scale: 1.0, data: "%%%".into() };
        assert!(broken.decode().is_empty());
    }
}
