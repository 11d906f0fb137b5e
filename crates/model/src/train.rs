//! A plain supervised training loop for a [`ResNet`] that also runs in the browser (burn-train
//! does not build for wasm): Adam, cross-entropy, shuffled mini-batches, a progress callback, a
//! cancellation check between steps, and BatchNorm in evaluation mode afterwards.
//!
//! Defaults follow the paper's vanilla model (DetoxAI `FairnessLightningWrapper`: Adam,
//! lr 3·10⁻⁴, batch 128, one epoch). The only read-back per step is one asynchronous
//! transaction for the loss and the number of correct predictions.

use biaslens_rng::SplitMix64;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use crate::readback::{Readback, ReadbackError};
use serde::{Deserialize, Serialize};

use crate::host_train::{HostTrainer, cross_entropy};
use crate::resnet::{ForwardHook, ResNet, Tap};

/// Training images of the page's default run of the compact ResNet with [`TrainConfig::new`]
/// (one epoch): the smallest budget measured to clear 95% held-out accuracy on the synthetic
/// benchmark with margin (98.1%; see `BENCHMARKS.md`, "Model").
pub const COMPACT_DEMO_TRAIN_IMAGES: usize = 16_384;

/// Which parameters training updates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FineTune {
    /// Every parameter (training from scratch, or full fine-tuning).
    All,
    /// Only what comes after the given tap ([`ResNet::freeze_through`]): `After(Tap::Pooled)`
    /// trains `fc` alone.
    After(Tap),
}

/// Knobs of [`train`].
#[derive(Config, Debug, PartialEq)]
pub struct TrainConfig {
    /// Adam learning rate.
    #[config(default = 3e-4)]
    pub learning_rate: f64,
    /// Images per step.
    #[config(default = 128)]
    pub batch_size: usize,
    /// Passes over the data.
    #[config(default = 1)]
    pub epochs: usize,
    /// Seed of the shuffling order (SplitMix64).
    #[config(default = 0)]
    pub seed: u64,
    /// Which parameters are updated.
    #[config(default = "FineTune::All")]
    pub fine_tune: FineTune,
}

/// Training images and labels as plain data.
#[derive(Debug, Clone, Copy)]
pub struct TrainData<'a> {
    /// `N × C × H × W` values, row-major.
    pub pixels: &'a [f32],
    /// `N` class indices.
    pub targets: &'a [u8],
    /// `[C, H, W]`.
    pub image: [usize; 3],
}

/// One progress event, sent after every step.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TrainProgress {
    /// Steps done (1-based).
    pub step: usize,
    /// Steps the whole run will take.
    pub total_steps: usize,
    /// Current epoch (0-based).
    pub epoch: usize,
    /// Mean cross-entropy of this step's batch (before the update).
    pub loss: f32,
    /// Fraction of this step's batch classified correctly (before the update).
    pub accuracy: f32,
}

/// What [`train`] returns.
#[derive(Debug)]
pub struct TrainOutcome {
    /// The trained network, on the plain (non-autodiff) device, BatchNorm in evaluation mode.
    pub model: ResNet,
    /// Steps done.
    pub steps: usize,
    /// Whether the run stopped early because `should_stop` said so.
    pub cancelled: bool,
    /// The progress event of the last step, if any step ran.
    pub last: Option<TrainProgress>,
}

/// Why training could not run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TrainError {
    /// Pixels and targets do not describe the same number of images.
    #[error("training data: {pixels} pixel values do not make {targets} images of shape {image:?}")]
    Shape {
        /// Pixel values supplied.
        pixels: usize,
        /// Targets supplied.
        targets: usize,
        /// `[C, H, W]`.
        image: [usize; 3],
    },
    /// A target is not a class of the network.
    #[error("training data: target {target} of image {index} is not below num_classes = {classes}")]
    Target {
        /// Image index.
        index: usize,
        /// Its target.
        target: u8,
        /// Classes of the network.
        classes: usize,
    },
    /// No images or a zero batch size / epoch count.
    #[error("nothing to train: {0}")]
    Empty(&'static str),
    /// The device read-back failed.
    #[error("reading the loss back from the device failed: {0}")]
    Readback(String),
    /// A training step on host memory failed.
    #[error("training on host memory: {0}")]
    Host(String),
}

impl From<crate::host::HostError> for TrainError {
    fn from(e: crate::host::HostError) -> Self {
        Self::Host(e.0)
    }
}

impl From<ReadbackError> for TrainError {
    fn from(e: ReadbackError) -> Self {
        Self::Readback(e.0)
    }
}

/// Fisher–Yates permutation of `0..n` driven by the project's seeded generator.
fn permutation(n: usize, rng: &mut SplitMix64) -> Vec<usize> {
    let mut p: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        p.swap(i, j);
    }
    p
}

/// One training batch: its epoch, its images (`[B, C, H, W]` row-major) and targets.
struct Batch {
    epoch: usize,
    pixels: Vec<f32>,
    targets: Vec<u8>,
}

/// The batches of a run, shared by both training paths: each epoch a fresh Fisher–Yates order
/// from `SplitMix64(config.seed)`, cut into `batch_size` images (the last batch smaller).
fn batches<'a>(data: TrainData<'a>, config: &TrainConfig) -> impl Iterator<Item = Batch> + 'a {
    let per_image: usize = data.image.iter().product();
    let (n, batch_size) = (data.targets.len(), config.batch_size);
    let mut rng = SplitMix64::new(config.seed);
    (0..config.epochs).flat_map(move |epoch| {
        let order = permutation(n, &mut rng);
        let chunks: Vec<Vec<usize>> = order.chunks(batch_size).map(<[usize]>::to_vec).collect();
        chunks.into_iter().map(move |chunk| {
            let mut pixels = Vec::with_capacity(chunk.len() * per_image);
            for &i in &chunk {
                pixels.extend_from_slice(&data.pixels[i * per_image..(i + 1) * per_image]);
            }
            Batch { epoch, pixels, targets: chunk.iter().map(|&i| data.targets[i]).collect() }
        })
    })
}

/// Train `model` on `data` with `hook` active in every forward (pass [`crate::NoHook`] for
/// none; an activation transform here trains the network *with* it, as A-ClArC does).
/// `on_progress` gets one event per step; `should_stop` is asked before every step and ends the
/// run early (the model is returned as trained so far). The model may live on the plain or the
/// autodiff device of `device`; the result is on the plain device, in evaluation mode.
///
/// Deterministic for a given seed, model and device: the only randomness is the shuffling.
///
/// # Shapes
/// `data.pixels`: `[N, C, H, W]`; the network's logits are `[batch, num_classes]`.
///
/// # Errors
/// [`TrainError`] on inconsistent data or a failed read-back.
pub async fn train(
    model: ResNet,
    data: TrainData<'_>,
    config: &TrainConfig,
    device: &Device,
    hook: &mut dyn ForwardHook,
    mut on_progress: impl FnMut(&TrainProgress),
    should_stop: impl Fn() -> bool,
) -> Result<TrainOutcome, TrainError> {
    let per_image: usize = data.image.iter().product();
    let n = data.targets.len();
    if per_image == 0 || data.pixels.len() != n * per_image {
        return Err(TrainError::Shape {
            pixels: data.pixels.len(),
            targets: n,
            image: data.image,
        });
    }
    if n == 0 {
        return Err(TrainError::Empty("no images"));
    }
    if config.batch_size == 0 || config.epochs == 0 {
        return Err(TrainError::Empty(
            "batch_size and epochs must be at least 1",
        ));
    }
    let classes = model.num_classes();
    if let Some((index, &target)) = data
        .targets
        .iter()
        .enumerate()
        .find(|(_, t)| usize::from(**t) >= classes)
    {
        return Err(TrainError::Target {
            index,
            target,
            classes,
        });
    }

    let model = model.valid().to_device(device);
    // On the CPU, a network the host kernels cover trains on host memory: the same step, equal to
    // burn's to float32 rounding, several times faster (docs/METHODS.md#training, "On the CPU").
    if config.fine_tune == FineTune::All && hook.is_identity() && crate::host_train::applies(device) {
        if let Some(trainer) = HostTrainer::new(&model, crate::TORCH_ADAM_EPSILON)? {
            return train_on_host(model, trainer, data, config, on_progress, should_stop).await;
        }
    }
    let ad = device.clone().autodiff();
    let model = match config.fine_tune {
        FineTune::All => model,
        FineTune::After(tap) => model.freeze_through(tap),
    };
    let mut model = model.train();
    let mut optim = AdamConfig::new().with_epsilon(crate::TORCH_ADAM_EPSILON).init();
    let loss_fn = CrossEntropyLossConfig::new().init(&ad);
    let [c, h, w] = data.image;
    let total_steps = n.div_ceil(config.batch_size) * config.epochs;
    let mut step = 0;
    let mut last = None;

    for Batch { epoch, pixels, targets } in batches(data, config) {
        if should_stop() {
            return Ok(TrainOutcome {
                model: model.valid(),
                steps: step,
                cancelled: true,
                last,
            });
        }
        let b = targets.len();
        let targets: Vec<i64> = targets.into_iter().map(i64::from).collect();
        let x = Tensor::<4>::from_data(TensorData::new(pixels, [b, c, h, w]), &ad);
        let y = Tensor::<1, Int>::from_data(TensorData::new(targets, [b]), &ad);
        let logits = model.forward_hooked(x, hook);
        let correct = logits
            .clone()
            .detach()
            .argmax(1)
            .reshape([b])
            .equal(y.clone())
            .float()
            .sum();
        let loss = loss_fn.forward(logits, y);
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(config.learning_rate, model, grads);

        let mut rb = Readback::new();
        let (loss_slot, correct_slot) = (rb.push(loss.detach()), rb.push(correct));
        let mut read = rb.execute().await?;
        step += 1;
        let progress = TrainProgress {
            step,
            total_steps,
            epoch,
            loss: read.scalar(loss_slot)?,
            accuracy: read.scalar(correct_slot)? / b as f32,
        };
        on_progress(&progress);
        last = Some(progress);
    }
    Ok(TrainOutcome {
        model: model.valid(),
        steps: step,
        cancelled: false,
        last,
    })
}

/// [`train`] on host memory ([`HostTrainer`]): the same batches in the same order, the same
/// progress events and cancellation checks, one yield to the host per step.
async fn train_on_host(
    model: ResNet,
    mut trainer: HostTrainer,
    data: TrainData<'_>,
    config: &TrainConfig,
    mut on_progress: impl FnMut(&TrainProgress),
    should_stop: impl Fn() -> bool,
) -> Result<TrainOutcome, TrainError> {
    let [c, h, w] = data.image;
    let k = trainer.classes();
    let total_steps = data.targets.len().div_ceil(config.batch_size) * config.epochs;
    let mut step = 0;
    let mut last = None;
    for Batch { epoch, pixels, targets } in batches(data, config) {
        if should_stop() {
            return Ok(TrainOutcome { model: trainer.write(model), steps: step, cancelled: true, last });
        }
        let b = targets.len();
        let targets: Vec<usize> = targets.into_iter().map(usize::from).collect();
        let mut seen = (0.0, 0);
        trainer
            .step(&pixels, [b, c, h, w], config.learning_rate, |logits| {
                let (loss, grad, correct) = cross_entropy(logits, &targets, k);
                seen = (loss, correct);
                grad
            })?;
        step += 1;
        let progress = TrainProgress { step, total_steps, epoch, loss: seen.0, accuracy: seen.1 as f32 / b as f32 };
        on_progress(&progress);
        last = Some(progress);
        crate::pace::yield_now().await;
    }
    Ok(TrainOutcome { model: trainer.write(model), steps: step, cancelled: false, last })
}
