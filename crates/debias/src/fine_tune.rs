//! FineTune: plain fine-tuning of the vanilla model on the debias split, nothing else — DetoxAI's
//! FINETUNE baseline, used here as a **control** (docs/METHODS.md#fine-tune). A-ClArC, RR-ClArC,
//! ZhangAL and SavaniAFT all fine-tune on the debias split as part of what they do; comparing
//! each with this control separates the method's effect from "more training on other data".
//! Its defaults are A-ClArC's fine-tuning (Adam 1e-3, one epoch, batch 128), so the two differ
//! only by the projection.

use std::future::Future;

use biaslens_model::{ForwardHook, NoHook, ResNet, TrainConfig, train};
use burn::config::Config;
use burn::prelude::*;

use crate::registry::{Family, Outcome, Pass, TypedMethod};
use crate::{DebiasData, DebiasError, DebiasProgress, DebiasedModel, Stage};

/// Knobs of [`fine_tune`] (A-ClArC's fine-tuning defaults).
#[derive(Config, Debug, PartialEq)]
pub struct FineTuneConfig {
    /// Adam learning rate.
    #[config(default = 1e-3)]
    pub learning_rate: f64,
    /// Epochs over the debias split.
    #[config(default = 1)]
    pub epochs: usize,
    /// Images per step.
    #[config(default = 128)]
    pub batch_size: usize,
    /// Seed of the batch order.
    #[config(default = 0)]
    pub seed: u64,
}

/// Fine-tunes `model` on the debias split with cross-entropy.
///
/// # Errors
/// [`DebiasError::Train`] from training, [`DebiasError::Cancelled`] after `should_stop`.
pub async fn fine_tune(
    model: ResNet,
    data: DebiasData<'_>,
    config: &FineTuneConfig,
    device: &Device,
    on_progress: impl FnMut(&DebiasProgress),
    should_stop: impl Fn() -> bool,
) -> Result<DebiasedModel, DebiasError> {
    let train_config = TrainConfig::new()
        .with_learning_rate(config.learning_rate)
        .with_batch_size(config.batch_size)
        .with_epochs(config.epochs)
        .with_seed(config.seed);
    let model = train_on_debias_split(model, data, &train_config, device, &mut NoHook, on_progress, should_stop).await?;
    Ok(DebiasedModel::plain(model))
}

/// Cross-entropy training of `model` on the debias split with `hook` active in every forward,
/// progress reported as the fine-tuning stage: what FineTune does with no hook and A-ClArC with
/// its projection, so the control and the method share one training loop.
///
/// # Errors
/// [`DebiasError::Train`] from training, [`DebiasError::Cancelled`] after `should_stop`.
pub(crate) async fn train_on_debias_split(
    model: ResNet,
    data: DebiasData<'_>,
    config: &TrainConfig,
    device: &Device,
    hook: &mut dyn ForwardHook,
    mut on_progress: impl FnMut(&DebiasProgress),
    should_stop: impl Fn() -> bool,
) -> Result<ResNet, DebiasError> {
    let outcome = train(
        model,
        data.as_train(),
        config,
        device,
        hook,
        |p| on_progress(&DebiasProgress { stage: Stage::FineTune, step: p.step, total_steps: p.total_steps, loss: Some(p.loss), aux: None }),
        &should_stop,
    )
    .await?;
    if outcome.cancelled {
        return Err(DebiasError::Cancelled);
    }
    Ok(outcome.model)
}

/// FineTune in the method registry ([`crate::Registry`]).
pub struct FineTune;

impl TypedMethod for FineTune {
    type Config = FineTuneConfig;
    const TAG: &'static str = "fine_tune";
    const NAME: &'static str = "FineTune";
    const FAMILY: Family = Family::Control;
    const DESCRIPTION: &'static str = "a control: plain fine-tuning on the debias split, to tell a method's effect from more training";

    fn default_config() -> FineTuneConfig {
        FineTuneConfig::new()
    }
    fn check(c: &FineTuneConfig) -> Result<(), String> {
        if c.batch_size == 0 || c.epochs == 0 {
            return Err("batch_size and epochs must be at least 1".into());
        }
        if !(c.learning_rate.is_finite() && c.learning_rate > 0.0) {
            return Err(format!("learning_rate must be a positive number, got {}", c.learning_rate));
        }
        Ok(())
    }
    fn passes(c: &FineTuneConfig) -> Vec<Pass> {
        vec![Pass { field: "batch_size", what: "fine-tuning", batch: c.batch_size, backward: true }]
    }
    fn work(c: &FineTuneConfig, n: usize) -> f64 {
        3.0 * n as f64 * c.epochs as f64
    }
    fn run<'a>(
        &'a self,
        model: ResNet,
        data: DebiasData<'a>,
        config: &'a FineTuneConfig,
        device: &'a Device,
        progress: &'a mut dyn FnMut(&DebiasProgress),
        should_stop: &'a dyn Fn() -> bool,
    ) -> impl Future<Output = Result<Outcome, DebiasError>> + 'a {
        async move { Ok(Outcome::of(fine_tune(model, data, config, device, progress, should_stop).await?)) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_settings_are_refused_naming_the_field() {
        assert!(FineTune::check(&FineTuneConfig::new().with_batch_size(0)).is_err_and(|e| e.contains("batch_size")));
        assert!(FineTune::check(&FineTuneConfig::new().with_learning_rate(-1.0)).is_err_and(|e| e.contains("learning_rate")));
        assert!(FineTune::check(&FineTuneConfig::new()).is_ok());
    }
}
