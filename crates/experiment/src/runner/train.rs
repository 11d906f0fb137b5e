//! Stage 2 of a unit: the vanilla model, trained from the config's seeded initialisation on the
//! training split (Adam; docs/METHODS.md#model), fine-tuned from an ImageNet file with a new
//! 2-class head (docs/METHODS.md#pretrained-start), or loaded from the user's finished
//! torchvision weights.

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

/// Where every unit's vanilla model comes from.
#[derive(Debug, Clone)]
pub(crate) enum Start {
    /// The seeded initialisation of the unit's seed, trained.
    Seeded,
    /// The user's finished 2-class model, used as is.
    Finished(ResNet),
    /// An ImageNet file with its own head: each unit gives it a new seeded 2-class head and
    /// fine-tunes it.
    Pretrained(ResNet),
}

/// Lower-case hex SHA-256 of `bytes` (the pretrained start's fingerprint).
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Checks that `bytes` can be the config's pretrained start (a torchvision state dict of the
/// config's architecture, any number of classes; the recorded SHA-256 if any), as a run will,
/// so a page can check a file when it is chosen.
///
/// # Errors
/// [`RunError::Pretrained`] naming what does not fit.
pub fn check_pretrained_weights(config: &ExperimentConfig, bytes: &[u8], device: &Device) -> Result<(), RunError> {
    load_pretrained(config, bytes, device).map(|_| ())
}

/// The config's architecture with the ImageNet file `bytes` loaded, head and all.
fn load_pretrained(config: &ExperimentConfig, bytes: &[u8], device: &Device) -> Result<ResNet, RunError> {
    if let Some(want) = config.model.pretrained.as_ref().and_then(|p| p.sha256.as_deref()) {
        let got = sha256_hex(bytes);
        if got != want {
            return Err(RunError::Pretrained(format!(
                "the file's SHA-256 is {got}, the config's model.pretrained.sha256 is {want}: it is another file. Choose the file the run was made with, or remove sha256 from the config to start from this one"
            )));
        }
    }
    let m = &config.model;
    biaslens_model::load_torchvision_any_head(&m.resnet(), bytes.to_vec(), device).map_err(|e| {
        RunError::Pretrained(format!(
            "{e} (the config's model: {:?} blocks {:?}, width {}; torchvision's resnet18/34/50 are Basic [2,2,2,2] / Basic [3,4,6,3] / Bottleneck [3,4,6,3], width 64)",
            m.block, m.layers, m.width
        ))
    })
}

/// Where the units' vanilla models come from, given the config and the host's files; every
/// file is read and checked here, before any unit runs.
pub(crate) fn start(config: &ExperimentConfig, vanilla: Option<&[u8]>, pretrained: Option<&[u8]>, device: &Device) -> Result<Start, RunError> {
    match (vanilla, &config.model.pretrained, pretrained) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => Err(RunError::Pretrained(
            "both a finished vanilla model and a pretrained start were given: a finished model is used as is, a pretrained one is fine-tuned; give one".into(),
        )),
        (Some(bytes), None, None) => load_vanilla(config, bytes, device).map(Start::Finished),
        (None, Some(_), Some(bytes)) => load_pretrained(config, bytes, device).map(Start::Pretrained),
        (None, Some(p), None) => Err(RunError::Pretrained(format!(
            "the config starts from the ImageNet file {:?} (model.pretrained), but no file was given: pass it to the CLI (the path in model.pretrained.file, or --pretrained FILE) or choose it in the page",
            p.file
        ))),
        (None, None, Some(_)) => Err(RunError::Pretrained(
            "a pretrained file was given but the config's model.pretrained is empty: set model.pretrained.file so the results say what the model was fine-tuned from".into(),
        )),
        (None, None, None) => Ok(Start::Seeded),
    }
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
    start: &Start,
    images: &SplitImages,
    side: usize,
    seed: u64,
    device: &Device,
    tracker: &mut Tracker<'_>,
    should_stop: &dyn Fn() -> bool,
) -> Result<(ResNet, TrainingSummary), RunError> {
    let model = match start {
        Start::Finished(model) => {
            return Ok((model.clone(), TrainingSummary { steps: 0, final_loss: None, final_batch_accuracy: None }));
        }
        // The new head is drawn from the unit's seed as a fresh network's fc would be.
        Start::Pretrained(model) => model.clone().with_new_head(2, seed),
        Start::Seeded => config.model.resnet().init_seeded(seed, device),
    };
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
