//! SavaniAFT: adversarial fine-tuning (Savani, White & Govindarajulu, "Intra-Processing Methods
//! for Debiasing Neural Networks", NeurIPS 2020) as DetoxAI implements it
//! (docs/METHODS.md#savani-aft), with its defaults.
//!
//! A critic CNN looks at a whole batch of images and predicts one number: the EO gap of the
//! network's argmax predictions on that batch (trained with squared error). For each of
//! `iterations` rounds: `critic_iterations` critic steps, then `model_iterations` network steps
//! on
//!
//! `CE(logits, y) · max(1, λ·(critic(x) − ε + δ) + 1)`
//!
//! The critic sees the images, not the network, so the factor is a per-batch constant for the
//! network's gradient: batches the critic judges unfair are weighted up (as in the code; the
//! factor is computed detached). Then the τ search and soft threshold of ZhangAL.
//!
//! Note what this implies: Adam normalises gradients by their running second moment, so a loss
//! multiplied by a per-batch factor ≥ 1 moves the network almost as plain cross-entropy
//! fine-tuning on the debias split would (the factor changes only the relative weight of batches
//! within Adam's moving averages). Whatever fairness SavaniAFT gains here comes mostly from that
//! fine-tuning on a less correlated split and from the τ search, not from the critic steering the
//! network. This is the authors' algorithm as coded, kept as it is.
//!
//! The critic's `Flatten(start_dim=0)` flattens the whole batch, so its first linear layer is
//! sized for exactly `batch_size` images (or all of the split when it is smaller): every step
//! here draws a full batch from a seeded, cycling order.

use biaslens_metrics::fairness_report;
use biaslens_model::ResNet;
use biaslens_model::host_train::cross_entropy;
use biaslens_rng::SplitMix64;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;

use crate::common::{BatchCycle, batch, check_stop, host_error, host_trainer, read_back};
use crate::critic::BatchCritic;
use crate::debiased::{DebiasedModel, OutputTransform};
use crate::threshold::tau_on_subset;
use crate::registry::{Family, Outcome, Pass, TypedMethod};
use crate::{DebiasData, DebiasError, DebiasProgress, Stage, check_binary};

/// Knobs of [`savani_aft`] (DetoxAI `SavaniAFT` defaults).
#[derive(Config, Debug, PartialEq)]
pub struct SavaniConfig {
    /// Rounds of critic + network updates.
    #[config(default = 10)]
    pub iterations: usize,
    /// Critic steps per round.
    #[config(default = 5)]
    pub critic_iterations: usize,
    /// Network steps per round.
    #[config(default = 5)]
    pub model_iterations: usize,
    /// Images per step (also fixes the critic's input size).
    #[config(default = 128)]
    pub batch_size: usize,
    /// Adam learning rate of the critic.
    #[config(default = 1e-4)]
    pub critic_lr: f64,
    /// Adam learning rate of the network.
    #[config(default = 1e-4)]
    pub model_lr: f64,
    /// λ of the loss scaling.
    #[config(default = 1.0)]
    pub lam: f64,
    /// δ of the loss scaling.
    #[config(default = 0.01)]
    pub delta: f64,
    /// ε: the tolerated EO gap (loss scaling and τ search).
    #[config(default = 0.1)]
    pub epsilon: f64,
    /// Output channels of the critic's 3×3 convolutions.
    #[config(default = "vec![8, 16, 32]")]
    pub critic_filters: Vec<usize>,
    /// Hidden widths of the critic's linear head.
    #[config(default = "vec![32]")]
    pub critic_hidden: Vec<usize>,
    /// Lowest τ.
    #[config(default = 0.05)]
    pub tau_low: f64,
    /// Highest τ.
    #[config(default = 0.95)]
    pub tau_high: f64,
    /// τ grid points.
    #[config(default = 100)]
    pub tau_steps: usize,
    /// Batches of the debias split the τ search sees.
    #[config(default = 3)]
    pub n_eval_batches: usize,
    /// Scaling of the soft threshold.
    #[config(default = 10.0)]
    pub temperature: f64,
    /// Seed of batches and critic initialisation (ours; the code seeds globally).
    #[config(default = 123)]
    pub seed: u64,
}

/// What [`savani_aft`] returns.
#[derive(Debug, Clone)]
pub struct SavaniOutcome {
    /// Fine-tuned network with the τ soft threshold.
    pub model: DebiasedModel,
    /// The chosen τ.
    pub tau: f64,
    /// Its score (0 if no τ met the EO bound and τ stayed 0.5).
    pub tau_score: f64,
    /// Critic squared error per critic step (before its update).
    pub critic_losses: Vec<f32>,
    /// Per network step: (the batch's EO gap of argmax predictions before the update, the
    /// critic's prediction of it, the weighted loss).
    pub model_steps: Vec<(f64, f32, f32)>,
}

/// EO gap of argmax predictions (`[B, 2]` logits read back as `B·2` values).
fn eo_of(logits: &[f32], y: &[i64], a: &[i64]) -> Result<f64, DebiasError> {
    let preds: Vec<i64> = logits
        .chunks_exact(2)
        .map(|l| i64::from(l[1] > l[0]))
        .collect();
    Ok(fairness_report(y, &preds, a, None)?.equalized_odds.value)
}

/// SavaniAFT on the debias split.
///
/// # Shapes
/// `data.pixels`: `[N, C, H, W]` with `H, W ≥ 16` (the critic's unpadded convolutions and
/// pools); the network must have 2 outputs.
///
/// # Errors
/// [`DebiasError`] for bad data or settings, a non-binary network, cancellation or a failed
/// read-back.
pub async fn savani_aft(
    model: ResNet,
    data: DebiasData<'_>,
    config: &SavaniConfig,
    device: &Device,
    mut on_progress: impl FnMut(&DebiasProgress),
    should_stop: impl Fn() -> bool,
) -> Result<SavaniOutcome, DebiasError> {
    data.validate()?;
    check_binary(&model)?;
    if config.batch_size == 0 || config.critic_filters.is_empty() {
        return Err(DebiasError::Empty(
            "batch_size and the critic's filter list must not be empty",
        ));
    }
    let [c, h, w] = data.image;
    if h < 16 || w < 16 {
        return Err(DebiasError::Config(format!(
            "SavaniAFT's critic needs images of at least 16×16, got {h}×{w}"
        )));
    }
    let b_size = config.batch_size.min(data.len());
    let ad = device.clone().autodiff();
    let model = model.valid().to_device(device);
    // On the CPU the network's steps run on host memory (docs/METHODS.md#training, "On the CPU").
    let mut host = host_trainer(&model, device)?;
    let mut model = model.train();
    let mut init_rng = SplitMix64::for_item(config.seed, 1);
    let mut critic = BatchCritic::new(
        c,
        &config.critic_filters,
        &config.critic_hidden,
        b_size,
        &mut init_rng,
        device,
    )
    .train();
    let mut batches = BatchCycle::new(data.len(), b_size, config.seed);
    let mut critic_optim = AdamConfig::new().with_epsilon(biaslens_model::TORCH_ADAM_EPSILON).init();
    let mut model_optim = AdamConfig::new().with_epsilon(biaslens_model::TORCH_ADAM_EPSILON).init();
    let ce = CrossEntropyLossConfig::new().init(&ad);
    let critic_total = config.critic_iterations * config.iterations;
    let model_total = config.model_iterations * config.iterations;
    let mut critic_losses = Vec::with_capacity(critic_total);
    let mut model_steps = Vec::with_capacity(model_total);
    let offset = (config.epsilon - config.delta) as f32;

    for _ in 0..config.iterations {
        for _ in 0..config.critic_iterations {
            check_stop(&should_stop)?;
            let b = batch(&data, &batches.next_batch(), &ad);
            // The network in evaluation mode while the critic learns (BatchNorm on its running
            // statistics, which this forward does not update), as DetoxAI's critic phase.
            let logits = match host.as_mut() {
                Some(t) => vec![t.logits(&b.pixels, b.dims).map_err(host_error)?],
                None => read_back(vec![model.valid().forward(b.x.clone().inner())]).await?,
            };
            let gap = eo_of(&logits[0], &b.y_host, &b.a_host)?;
            let pred = critic.forward(b.x);
            let loss = pred.sub_scalar(gap as f32).square().mean();
            let grads = GradientsParams::from_grads(loss.backward(), &critic);
            critic = critic_optim.step(config.critic_lr, critic, grads);
            let l = crate::common::read_scalars(vec![loss.detach().inner()]).await?[0];
            critic_losses.push(l);
            on_progress(&DebiasProgress {
                loss: Some(l),
                ..DebiasProgress::new(Stage::Critic, critic_losses.len(), critic_total)
            });
        }
        for _ in 0..config.model_iterations {
            check_stop(&should_stop)?;
            let b = batch(&data, &batches.next_batch(), &ad);
            // The critic's judgement of the batch: a constant factor on the network's loss.
            let bias = critic.forward(b.x.clone()).detach().reshape([1]);
            let factor = bias
                .clone()
                .sub_scalar(offset)
                .mul_scalar(config.lam as f32)
                .add_scalar(1.0)
                .clamp_min(1.0);
            let (gap, pred, l) = match host.as_mut() {
                // On host memory: cross-entropy's gradient at the logits, scaled by the factor.
                Some(t) => {
                    let r = read_back(vec![bias.inner(), factor.inner()]).await?;
                    let (pred, f) = (r[0][0], r[1][0]);
                    let y: Vec<usize> = b.y_host.iter().map(|&v| v as usize).collect();
                    let mut l = 0.0;
                    let step = t
                        .step(&b.pixels, b.dims, config.model_lr, |logits| {
                            let (loss, g, _) = cross_entropy(logits, &y, 2);
                            l = loss * f;
                            g.into_iter().map(|v| v * f).collect()
                        })
                        .map_err(host_error)?;
                    (eo_of(&step.logits, &b.y_host, &b.a_host)?, pred, l)
                }
                None => {
                    let logits = model.forward(b.x);
                    let loss = ce.forward(logits.clone(), b.y) * factor;
                    let grads = GradientsParams::from_grads(loss.backward(), &model);
                    model = model_optim.step(config.model_lr, model, grads);
                    let r = read_back(vec![
                        logits.detach().inner().reshape([-1]),
                        bias.inner(),
                        loss.detach().inner(),
                    ])
                    .await?;
                    (eo_of(&r[0], &b.y_host, &b.a_host)?, r[1][0], r[2][0])
                }
            };
            model_steps.push((gap, pred, l));
            on_progress(&DebiasProgress {
                loss: Some(l),
                aux: Some(pred),
                ..DebiasProgress::new(Stage::Model, model_steps.len(), model_total)
            });
        }
    }
    let model = match host {
        Some(t) => t.write(model.valid()),
        None => model.valid(),
    };
    let (tau, tau_score) = tau_on_subset(
        &model,
        data,
        config.n_eval_batches * config.batch_size,
        config.seed ^ 0x7A0,
        (config.tau_low, config.tau_high, config.tau_steps, config.epsilon),
        device,
        &mut on_progress,
        &should_stop,
    )
    .await?;
    Ok(SavaniOutcome {
        model: DebiasedModel {
            model,
            hook: None,
            output: OutputTransform::SoftThreshold {
                threshold: tau,
                temperature: config.temperature,
            },
        },
        tau,
        tau_score,
        critic_losses,
        model_steps,
    })
}

/// SavaniAFT in the method registry ([`crate::Registry`]).
pub struct SavaniAft;

impl TypedMethod for SavaniAft {
    type Config = SavaniConfig;
    const TAG: &'static str = "savani_aft";
    const NAME: &'static str = "SavaniAFT";
    const FAMILY: Family = Family::Adversarial;
    const DESCRIPTION: &'static str = "adversarial fine-tuning against a critic of the EO gap (Savani et al.)";

    fn default_config() -> SavaniConfig {
        SavaniConfig::new()
    }
    fn check(c: &SavaniConfig) -> Result<(), String> {
        if c.batch_size == 0 || c.tau_steps == 0 || c.critic_filters.is_empty() {
            return Err("batch_size and tau_steps must be at least 1, and critic_filters must not be empty".into());
        }
        Ok(())
    }
    fn passes(c: &SavaniConfig) -> Vec<Pass> {
        vec![Pass { field: "batch_size", what: "adversarial fine-tuning", batch: c.batch_size, backward: true }]
    }
    fn work(c: &SavaniConfig, _: usize) -> f64 {
        let b = c.batch_size as f64;
        c.iterations as f64 * (b * c.critic_iterations as f64 + 3.0 * b * c.model_iterations as f64)
            + b * c.n_eval_batches as f64
    }
    fn run<'a>(
        &'a self,
        model: ResNet,
        data: DebiasData<'a>,
        config: &'a SavaniConfig,
        device: &'a Device,
        progress: &'a mut dyn FnMut(&DebiasProgress),
        should_stop: &'a dyn Fn() -> bool,
    ) -> impl Future<Output = Result<Outcome, DebiasError>> + 'a {
        async move {
            let o = savani_aft(model, data, config, device, progress, should_stop).await?;
            Ok(Outcome::of(o.model).detail("tau", o.tau).detail("tau_score", o.tau_score))
        }
    }
}
