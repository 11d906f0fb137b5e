//! Stage 2 of a unit: the vanilla model, trained from the config's seeded initialisation on the
//! training split (Adam; docs/METHODS.md#model), or loaded from the user's torchvision weights.

use biaslens_model::{NoHook, ResNet, TrainData, TrainProgress, train};
use burn::prelude::*;

use super::RunError;
use super::pool::SplitImages;
use super::progress::Tracker;
use crate::config::ExperimentConfig;
use crate::results::TrainingSummary;

/// Checks that `bytes` (torchvision `.safetensors`) load into the config's network, as
/// [`crate::RunOptions::vanilla_weights`] will, so a page can check a file when it is chosen.
///
/// # Errors
/// [`RunError::Weights`] naming what does not fit.
pub fn check_vanilla_weights(config: &ExperimentConfig, bytes: &[u8], device: &Device) -> Result<(), RunError> {
    load_vanilla(config, bytes, device).map(|_| ())
}

/// The config's network with `bytes` (torchvision `.safetensors`) loaded.
pub(crate) fn load_vanilla(config: &ExperimentConfig, bytes: &[u8], device: &Device) -> Result<ResNet, RunError> {
    let classes = biaslens_model::torchvision_num_classes(bytes).map_err(|e| RunError::Weights(e.to_string()))?;
    if classes != 2 {
        return Err(RunError::Weights(format!(
            "the file's fc layer has {classes} outputs; the experiment needs a binary classifier (2 outputs: not target, target)"
        )));
    }
    let m = &config.model;
    config.model.resnet().init_seeded(config.seed, device).load_torchvision(bytes.to_vec()).map_err(|e| {
        RunError::Weights(format!("{e} (the config's model: {:?} blocks {:?}, width {})", m.block, m.layers, m.width))
    })
}

/// The vanilla model of a unit: `loaded` if given, else trained on `images` from the seeded
/// initialisation of `seed` (the unit's seed), batches in an order that depends on it too.
pub(crate) async fn vanilla(
    config: &ExperimentConfig,
    loaded: Option<&ResNet>,
    images: &SplitImages,
    side: usize,
    seed: u64,
    device: &Device,
    tracker: &mut Tracker<'_>,
    should_stop: &dyn Fn() -> bool,
) -> Result<(ResNet, TrainingSummary), RunError> {
    if let Some(model) = loaded {
        return Ok((model.clone(), TrainingSummary { steps: 0, final_loss: None, final_batch_accuracy: None }));
    }
    let model = config.model.resnet().init_seeded(seed, device);
    // Another unit seed also reorders the batches: the training seed moves by as much as the unit
    // seed differs from the config's (unchanged at the config's own seed).
    let mut train_config = config.train.clone();
    train_config.seed = config.train.seed.wrapping_add(seed.wrapping_sub(config.seed));
    let outcome = train(
        model,
        TrainData { pixels: &images.pixels, targets: &images.target, image: [3, side, side] },
        &train_config,
        device,
        &mut NoHook,
        |p: &TrainProgress| {
            tracker.report_with(
                p.step as f64 / p.total_steps.max(1) as f64,
                format!("step {}/{}, loss {:.3}, batch accuracy {:.2}", p.step, p.total_steps, p.loss, p.accuracy),
                Some((f64::from(p.loss), f64::from(p.accuracy))),
            )
        },
        should_stop,
    )
    .await?;
    if outcome.cancelled {
        return Err(RunError::Cancelled);
    }
    let summary = TrainingSummary {
        steps: outcome.steps,
        final_loss: outcome.last.map(|p| p.loss),
        final_batch_accuracy: outcome.last.map(|p| p.accuracy),
    };
    Ok((outcome.model, summary))
}
