//! Stage 6 of a unit: the saliency metrics of every model and attribution pooled and per
//! (attribute, target) group with t-tests and bootstrap intervals (Sztukiewicz et al., XAI 2025,
//! §3; docs/METHODS.md#metrics), the sanity numbers, and Figure 2's mean input and mean maps per
//! group.

use std::collections::BTreeMap;

use biaslens_metrics::{GroupKey, saliency_report};

use super::RunError;
use super::evaluate::Evaluation;
use super::explain::{Explained, ModelMaps};
use super::methods::Trained;
use super::progress::Tracker;
use crate::config::ExperimentConfig;
use crate::results::{AttributionResult, EncodedMap, GroupMeans, ModelResult, Sanity};

/// Mean attribution sum, mean target and |residual| over images; residuals only where every
/// image has a target.
pub(crate) fn sanity(pairs: &[(f64, Option<f64>)]) -> Sanity {
    let n = pairs.len().max(1) as f64;
    let attribution_sum_mean = pairs.iter().map(|p| p.0 / n).sum();
    if pairs.is_empty() || pairs.iter().any(|p| p.1.is_none()) {
        return Sanity { attribution_sum_mean, target_sum_mean: None, residual_abs_mean: None, residual_abs_max: None };
    }
    let (mut target, mut mean, mut max) = (0.0, 0.0, 0.0f64);
    for &(attr, t) in pairs {
        let t = t.unwrap_or(f64::NAN);
        target += t / n;
        let r = (attr - t).abs();
        mean += r / n;
        max = max.max(r);
    }
    Sanity { attribution_sum_mean, target_sum_mean: Some(target), residual_abs_mean: Some(mean), residual_abs_max: Some(max) }
}

fn mean_map(sum: Option<&Vec<f64>>, count: usize, hw: usize) -> EncodedMap {
    let values: Vec<f32> = match sum {
        Some(s) => s.iter().map(|v| (v / count.max(1) as f64) as f32).collect(),
        None => vec![0.0; hw],
    };
    EncodedMap::encode(&values, 1)
}

/// Each model's result (fairness, and per attribution its metrics against vanilla and sanity).
pub(crate) async fn score_all(
    config: &ExperimentConfig,
    models: Vec<Trained>,
    evaluations: Vec<Evaluation>,
    explained: &Explained,
    tracker: &mut Tracker<'_>,
) -> Result<Vec<ModelResult>, RunError> {
    let saliency = &config.metrics.saliency;
    let boot = (config.metrics.bootstrap.resamples > 0).then_some(&config.metrics.bootstrap);
    let pa: Vec<i64> = explained.groups.iter().map(|k| k.protected).collect();
    let tg: Vec<i64> = explained.groups.iter().map(|k| k.target).collect();
    let n_models = models.len();
    let mut results = Vec::with_capacity(n_models);
    for (m, (t, eval)) in models.into_iter().zip(evaluations).enumerate() {
        let mut attributions = BTreeMap::new();
        for (key, per_model) in explained.keys.iter().zip(&explained.maps) {
            let maps: &ModelMaps = &per_model[m];
            attributions.insert(
                key.clone(),
                AttributionResult { saliency: saliency_report(&maps.metrics, Some((&pa, &tg)), saliency, boot)?, sanity: sanity(&maps.sanity) },
            );
        }
        results.push(ModelResult {
            name: t.name,
            method: t.method,
            family: t.family,
            details: t.details,
            notes: t.notes,
            fairness: eval.fairness,
            attributions,
            eo_vs_vanilla: eval.eo_vs_vanilla,
            eo_permutation_p: eval.eo_permutation_p,
            reliance: eval.reliance,
            seconds: t.seconds,
        });
        tracker.report((m + 1) as f64 / n_models as f64, String::new());
        biaslens_model::pace::yield_now().await;
    }
    Ok(results)
}

/// Figure 2's data: per group the mean input and, per attribution and model, the mean map.
pub(crate) fn group_means(explained: &Explained, hw: usize) -> Vec<GroupMeans> {
    explained
        .input_sum
        .iter()
        .map(|(key, (sum, count)): (&GroupKey, &(Vec<f64>, usize))| {
            let mean: Vec<f32> = sum.iter().map(|v| (v / *count as f64) as f32).collect();
            GroupMeans {
                group: *key,
                images: *count,
                mean_input: EncodedMap::encode(&mean, 3),
                maps: explained
                    .keys
                    .iter()
                    .zip(&explained.maps)
                    .map(|(k, per_model)| (k.clone(), per_model.iter().map(|a| mean_map(a.group_sum.get(key), *count, hw)).collect()))
                    .collect(),
            }
        })
        .collect()
}
