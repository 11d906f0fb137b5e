//! Stage 3 of a unit: every debiasing method of the config on the debias split, each from a copy
//! of the vanilla model, through the method registry (docs/METHODS.md#methods).

use std::collections::BTreeMap;

use biaslens_debias::{DebiasData, DebiasError, DebiasProgress, DebiasedModel, Family};
use biaslens_model::ResNet;
use burn::prelude::*;
use web_time::Instant;

use super::RunError;
use super::pool::SplitImages;
use super::progress::{Plan, Tracker};
use crate::config::ExperimentConfig;
use crate::registries::Registries;
use crate::results::StageTiming;

/// One model of a unit, before evaluation: vanilla or a debiased model.
pub(crate) struct Trained {
    /// `"Vanilla"` or the method's name (numbered when a method appears twice).
    pub name: String,
    /// The method's JSON tag (`None` for vanilla).
    pub method: Option<String>,
    /// The method's family (`None` for vanilla).
    pub family: Option<Family>,
    /// The classifier.
    pub model: DebiasedModel,
    /// Method-specific numbers.
    pub details: BTreeMap<String, f64>,
    /// Method-specific facts in words.
    pub notes: Vec<String>,
    /// Seconds it took (training, for vanilla).
    pub seconds: f64,
}

impl Trained {
    /// Whether the model is vanilla's network untouched (a threshold method without a hook):
    /// only its output transform differs.
    pub(crate) fn shares_vanilla_network(&self) -> bool {
        self.family == Some(Family::Threshold) && self.model.hook.is_none()
    }
}

/// The name of the `k`-th method in the results: its name, numbered from the second time the
/// same method appears.
pub(crate) fn method_name(config: &ExperimentConfig, registries: &Registries, k: usize) -> String {
    let name_of = |tag: &str| registries.methods.get(tag).map_or_else(|| tag.to_owned(), |m| m.name().to_owned());
    let base = name_of(&config.methods[k].method);
    let same = config.methods[..k].iter().filter(|m| name_of(&m.method) == base).count();
    if same == 0 { base } else { format!("{base} ({})", same + 1) }
}

/// Runs every method on `debias`; vanilla first, then the methods in config order.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn debias_all(
    config: &ExperimentConfig,
    registries: &Registries,
    vanilla: Trained,
    debias: &SplitImages,
    side: usize,
    phi: f64,
    plan: &Plan,
    device: &Device,
    tracker: &mut Tracker<'_>,
    timings: &mut Vec<StageTiming>,
    should_stop: &dyn Fn() -> bool,
) -> Result<Vec<Trained>, RunError> {
    let data = DebiasData { pixels: &debias.pixels, targets: &debias.target, attribute: &debias.attribute, image: [3, side, side] };
    let network: ResNet = vanilla.model.model.clone();
    let mut models = vec![vanilla];
    for (k, spec) in config.methods.iter().enumerate() {
        let method = registries.methods.require(&spec.method).map_err(|e| RunError::Config(crate::ConfigError::Invalid(e)))?;
        let name = method_name(config, registries, k);
        let stage = format!("method {name}");
        let t = Instant::now();
        tracker.begin(&stage, plan.methods[k]);
        let mut on = |p: &DebiasProgress| {
            tracker.report(p.step as f64 / p.total_steps.max(1) as f64, format!("{:?} step {}/{}", p.stage, p.step, p.total_steps))
        };
        let outcome = method.run(network.clone(), data, &spec.config, device, &mut on, should_stop).await.map_err(|reason| match reason {
            DebiasError::Cancelled => RunError::Cancelled,
            reason => RunError::Method { method: name.clone(), phi, reason },
        })?;
        tracker.end();
        let seconds = t.elapsed().as_secs_f64();
        timings.push(StageTiming { phi: Some(phi), seed: None, stage, seconds });
        models.push(Trained {
            name,
            method: Some(spec.method.clone()),
            family: Some(method.family()),
            model: outcome.model,
            details: outcome.details,
            notes: outcome.notes,
            seconds,
        });
    }
    Ok(models)
}
