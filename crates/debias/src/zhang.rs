//! ZhangAL: adversarial debiasing (Zhang, Lemoine & Mitchell, "Mitigating Unwanted Biases with
//! Adversarial Learning", AIES 2018) as DetoxAI's `ZhangM` implements it
//! (docs/METHODS.md#zhang-al), with its defaults.
//!
//! An adversary (MLP 3 → 256 → 256 → 256 → 2, ReLU and dropout 0.2) sees `[logits, y]` — the
//! equalized-odds variant — and is trained with cross-entropy to predict the protected
//! attribute, the network frozen. Then, for `t = 1..=iterations`, `critic_iterations` adversary
//! steps and `model_iterations` network steps with `α = √t` and learning rate `model_lr / t`,
//! each network step using, per parameter tensor,
//!
//! `g = ∇L_CE − (∇L_CE · ∇L_A) ∇L_A − α ∇L_A`
//!
//! where `L_A` is the adversary's loss. The code does **not** normalise the projection by
//! `‖∇L_A‖²` ([`Projection::Unnormalised`], the default); the paper's projection onto the unit
//! vector is [`Projection::Normalised`]. Finally τ is searched on `n_eval_batches` batches of
//! the debias split (balanced accuracy if the EO gap is below ε, else 0) and attached as the soft
//! threshold `σ(10·(p₁ − τ))`.
//!
//! Modes as DetoxAI sets them: while the adversary learns, the network runs in evaluation mode
//! (BatchNorm on running statistics, not updated) and the adversary in training mode (dropout,
//! masks from the seeded generator); while the network steps, the network trains (batch
//! statistics) and the adversary runs in evaluation mode (no dropout).
//! [`adversary_advantage`] measures what a fresh adversary can still learn.

use biaslens_model::ResNet;
use biaslens_model::host::HostError;
use biaslens_model::host_train::{HostTrainer, cross_entropy};
use biaslens_rng::SplitMix64;
use burn::module::{ModuleVisitor, Param};
use burn::nn::loss::{CrossEntropyLoss, CrossEntropyLossConfig};
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::common::{Batch, BatchCycle, batch, check_stop, host_error, host_trainer, read_back, read_scalars};
use crate::critic::MlpCritic;
use crate::debiased::{DebiasedModel, OutputTransform};
use crate::threshold::tau_on_subset;
use crate::registry::{Family, Outcome, Pass, TypedMethod};
use crate::{DebiasData, DebiasError, DebiasProgress, Stage, check_binary};

/// How the network's gradient is projected away from the adversary's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Projection {
    /// `(∇L·∇L_A) ∇L_A` (DetoxAI's code).
    Unnormalised,
    /// `(∇L·∇L_A / ‖∇L_A‖²) ∇L_A`, the projection of Zhang et al.
    Normalised,
}

/// Knobs of [`zhang_al`] (DetoxAI `ZhangM` defaults).
#[derive(Config, Debug, PartialEq)]
pub struct ZhangConfig {
    /// Outer iterations after the adversary's warm-up.
    #[config(default = 5)]
    pub iterations: usize,
    /// Adversary steps per iteration.
    #[config(default = 5)]
    pub critic_iterations: usize,
    /// Network steps per iteration.
    #[config(default = 2)]
    pub model_iterations: usize,
    /// Images per step.
    #[config(default = 128)]
    pub batch_size: usize,
    /// Adam learning rate of the adversary.
    #[config(default = 2e-4)]
    pub critic_lr: f64,
    /// Adam learning rate of the network (divided by t in iteration t).
    #[config(default = 1e-4)]
    pub model_lr: f64,
    /// Hidden layer widths of the adversary.
    #[config(default = "vec![256, 256, 256]")]
    pub critic_hidden: Vec<usize>,
    /// Dropout after every hidden layer of the adversary.
    #[config(default = 0.2)]
    pub critic_dropout: f64,
    /// Gradient projection.
    #[config(default = "Projection::Unnormalised")]
    pub projection: Projection,
    /// EO gap below which the τ search counts balanced accuracy.
    #[config(default = 0.1)]
    pub epsilon: f64,
    /// Lowest τ.
    #[config(default = 0.05)]
    pub tau_low: f64,
    /// Highest τ.
    #[config(default = 0.95)]
    pub tau_high: f64,
    /// τ grid points (the code's `thresh_optimizer_maxiter`).
    #[config(default = 100)]
    pub tau_steps: usize,
    /// Batches of the debias split the τ search sees.
    #[config(default = 3)]
    pub n_eval_batches: usize,
    /// Scaling of the soft threshold.
    #[config(default = 10.0)]
    pub temperature: f64,
    /// Seed of batches, adversary initialisation and dropout.
    #[config(default = 123)]
    pub seed: u64,
}

/// What [`zhang_al`] returns.
#[derive(Debug, Clone)]
pub struct ZhangOutcome {
    /// Fine-tuned network with the τ soft threshold.
    pub model: DebiasedModel,
    /// The chosen τ.
    pub tau: f64,
    /// Its score (balanced accuracy, or 0 if no τ met the EO bound and τ stayed 0.5).
    pub tau_score: f64,
    /// Adversary loss per adversary step (before its update).
    pub critic_losses: Vec<f32>,
    /// `(L_CE, L_A)` per network step (before the update).
    pub model_losses: Vec<(f32, f32)>,
}

/// Per parameter tensor: `g = g_ce − c·g_a − α g_a` with `c = g_ce·g_a` (or `/‖g_a‖²`).
struct Combine {
    ce: GradientsParams,
    adv: GradientsParams,
    out: GradientsParams,
    alpha: f32,
    normalised: bool,
}

impl ModuleVisitor for Combine {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let id = param.id;
        let Some(g) = self.ce.remove::<D>(id) else {
            return;
        };
        let g = match self.adv.remove::<D>(id) {
            Some(ga) => {
                let mut c = (g.clone() * ga.clone()).sum();
                if self.normalised {
                    c = c / ga.clone().square().sum().add_scalar(1e-12);
                }
                g - ga.clone() * c.unsqueeze::<D>() - ga.mul_scalar(self.alpha)
            }
            None => g,
        };
        self.out.register(id, g);
    }
}

/// One network step on host memory: both losses' gradients at the logits (cross-entropy's in
/// closed form, the adversary's through its autodiff on the logits), each parameter's two
/// gradients combined as [`Combine`] does, then Adam. Returns `(L_CE, L_A)` before the update.
fn host_model_step(
    t: &mut HostTrainer,
    critic: &MlpCritic,
    ce: &CrossEntropyLoss,
    b: &Batch,
    lr: f64,
    alpha: f32,
    normalised: bool,
) -> Result<(f32, f32), DebiasError> {
    let y: Vec<usize> = b.y_host.iter().map(|&v| v as usize).collect();
    let mut losses = (0.0, 0.0);
    let device = b.y.device();
    t.step_two_losses(
        &b.pixels,
        b.dims,
        lr,
        |logits| {
            let (l_ce, g_ce, _) = cross_entropy(logits, &y, 2);
            let lt = Tensor::<2>::from_data(TensorData::new(logits.to_vec(), [y.len(), 2]), &device).require_grad();
            // The adversary in evaluation mode (no dropout) while the network steps.
            let adv_out = critic.forward(critic_input(lt.clone(), b.y.clone()), None);
            let l_a = ce.forward(adv_out, b.a.clone());
            let la = l_a.clone().into_data().convert::<f32>().try_into_vec::<f32>().map_err(|e| HostError(format!("{e:?}")))?;
            let grads = l_a.backward();
            let g_a = lt
                .grad(&grads)
                .ok_or_else(|| HostError("the adversary's loss has no gradient at the logits".into()))?
                .into_data()
                .convert::<f32>()
                .try_into_vec::<f32>()
                .map_err(|e| HostError(format!("{e:?}")))?;
            losses = (l_ce, la.first().copied().unwrap_or(f32::NAN));
            Ok((g_ce, g_a))
        },
        |g, ga| {
            let mut c = g.iter().zip(ga).map(|(a, b)| f64::from(a * b)).sum::<f64>() as f32;
            if normalised {
                c /= ga.iter().map(|v| f64::from(v * v)).sum::<f64>() as f32 + 1e-12;
            }
            g.iter().zip(ga).map(|(&g, &ga)| g - ga * c - ga * alpha).collect()
        },
    )
    .map_err(host_error)?;
    Ok(losses)
}

fn critic_input(logits: Tensor<2>, y: Tensor<1, Int>) -> Tensor<2> {
    let [b, _] = logits.dims();
    Tensor::cat(vec![logits, y.float().reshape([b, 1])], 1)
}

/// ZhangAL on the debias split.
///
/// # Shapes
/// `data.pixels`: `[N, C, H, W]`; the network must have 2 outputs.
///
/// # Errors
/// [`DebiasError`] for bad data or settings, a non-binary network, cancellation or a failed
/// read-back.
pub async fn zhang_al(
    model: ResNet,
    data: DebiasData<'_>,
    config: &ZhangConfig,
    device: &Device,
    mut on_progress: impl FnMut(&DebiasProgress),
    should_stop: impl Fn() -> bool,
) -> Result<ZhangOutcome, DebiasError> {
    data.validate()?;
    check_binary(&model)?;
    if config.batch_size == 0 {
        return Err(DebiasError::Empty("batch_size must be at least 1"));
    }
    if !(0.0..1.0).contains(&config.critic_dropout) {
        return Err(DebiasError::Config(format!(
            "critic_dropout must lie in [0, 1), got {}",
            config.critic_dropout
        )));
    }
    let ad = device.clone().autodiff();
    let model = model.valid().to_device(device);
    // On the CPU the network's steps run on host memory (docs/METHODS.md#training, "On the CPU").
    let mut host = host_trainer(&model, device)?;
    let mut model = model.train();
    let mut init_rng = SplitMix64::for_item(config.seed, 1);
    let mut critic = MlpCritic::new(3, &config.critic_hidden, 2, &mut init_rng, device).train();
    let mut drop_rng = SplitMix64::for_item(config.seed, 2);
    let mut batches = BatchCycle::new(data.len(), config.batch_size, config.seed);
    let mut critic_optim = AdamConfig::new().with_epsilon(biaslens_model::TORCH_ADAM_EPSILON).init();
    let mut model_optim = AdamConfig::new().with_epsilon(biaslens_model::TORCH_ADAM_EPSILON).init();
    let ce = CrossEntropyLossConfig::new().init(&ad);
    let p = config.critic_dropout;
    let critic_total = config.critic_iterations * (config.iterations + 1);
    let model_total = config.model_iterations * config.iterations;
    let mut critic_losses = Vec::with_capacity(critic_total);
    let mut model_losses = Vec::with_capacity(model_total);

    for i in 0..=config.iterations {
        for _ in 0..config.critic_iterations {
            check_stop(&should_stop)?;
            let b = batch(&data, &batches.next_batch(), &ad);
            // The network in evaluation mode while the adversary learns (DetoxAI's `ZhangM`).
            let logits = match host.as_mut() {
                Some(t) => {
                    let l = t.logits(&b.pixels, b.dims).map_err(host_error)?;
                    Tensor::from_data(TensorData::new(l, [b.dims[0], 2]), &ad)
                }
                None => Tensor::from_inner(model.valid().forward(b.x.inner())),
            };
            let out = critic.forward(critic_input(logits, b.y), Some((p, &mut drop_rng)));
            let loss = ce.forward(out, b.a);
            let grads = GradientsParams::from_grads(loss.backward(), &critic);
            critic = critic_optim.step(config.critic_lr, critic, grads);
            let l = read_scalars(vec![loss.detach().inner()]).await?[0];
            critic_losses.push(l);
            on_progress(&DebiasProgress {
                loss: Some(l),
                ..DebiasProgress::new(Stage::Critic, critic_losses.len(), critic_total)
            });
        }
        if i == 0 {
            continue;
        }
        let t = i as f64;
        let alpha = t.sqrt() as f32;
        let lr = config.model_lr / t;
        for _ in 0..config.model_iterations {
            check_stop(&should_stop)?;
            let b = batch(&data, &batches.next_batch(), &ad);
            let normalised = config.projection == Projection::Normalised;
            let (l_ce, l_a) = match host.as_mut() {
                Some(t) => {
                    let r = host_model_step(t, &critic, &ce, &b, lr, alpha, normalised)?;
                    biaslens_model::pace::yield_now().await;
                    r
                }
                None => {
                    let l_ce = ce.forward(model.forward(b.x.clone()), b.y.clone());
                    let g_ce = GradientsParams::from_grads(l_ce.backward(), &model);
                    // The adversary in evaluation mode (no dropout) while the network steps.
                    let adv_out = critic.forward(critic_input(model.forward(b.x), b.y), None);
                    let l_a = ce.forward(adv_out, b.a);
                    let g_a = GradientsParams::from_grads(l_a.backward(), &model);
                    let mut combine = Combine { ce: g_ce, adv: g_a, out: GradientsParams::new(), alpha, normalised };
                    model.visit(&mut combine);
                    model = model_optim.step(lr, model, combine.out);
                    let r = read_scalars(vec![l_ce.detach().inner(), l_a.detach().inner()]).await?;
                    (r[0], r[1])
                }
            };
            model_losses.push((l_ce, l_a));
            on_progress(&DebiasProgress {
                loss: Some(l_ce),
                aux: Some(l_a),
                ..DebiasProgress::new(Stage::Model, model_losses.len(), model_total)
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
    Ok(ZhangOutcome {
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
        model_losses,
    })
}

/// What a fresh adversary learns about the protected attribute from the classifier's logits,
/// beyond what the label already tells it: `H(PA | y) − CE`, in nats, where `CE` is the
/// cross-entropy of an adversary (MLP 3 → 32 → 32 → 2 on `[logits, y]`, seeded) after `steps`
/// full-batch Adam steps (lr 1e-2) on all of `data`, measured on the same data. 0 means the
/// logits carry no usable information about the attribute given the label (up to the
/// adversary's capacity); it can be slightly negative before the adversary has converged.
///
/// # Shapes
/// `data.pixels`: `[N, C, H, W]`; logits (before the output transform) are `[N, 2]`.
///
/// # Errors
/// [`DebiasError`] for bad data or a failed read-back.
pub async fn adversary_advantage(
    model: &DebiasedModel,
    data: DebiasData<'_>,
    steps: usize,
    seed: u64,
    device: &Device,
) -> Result<f64, DebiasError> {
    data.validate()?;
    let n = data.len();
    // Logits of the classifier, read back once per batch.
    let mut logits = Vec::with_capacity(2 * n);
    let idx: Vec<usize> = (0..n).collect();
    for chunk in idx.chunks(128) {
        let b = batch(&data, chunk, device);
        let mut r = read_back(vec![model.logits(b.x)]).await?;
        logits.append(&mut r[0]);
    }
    let k = logits.len() / n;
    let mut rows = Vec::with_capacity(n * (k + 1));
    for i in 0..n {
        rows.extend_from_slice(&logits[i * k..(i + 1) * k]);
        rows.push(f32::from(data.targets[i]));
    }
    let ad = device.clone().autodiff();
    let x = Tensor::<2>::from_data(TensorData::new(rows, [n, k + 1]), &ad);
    let a: Vec<i64> = data.attribute.iter().map(|&v| i64::from(v)).collect();
    let a = Tensor::<1, Int>::from_data(TensorData::new(a, [n]), &ad);
    let mut rng = SplitMix64::new(seed);
    let mut critic = MlpCritic::new(k + 1, &[32, 32], 2, &mut rng, device).train();
    let mut optim = AdamConfig::new().with_epsilon(biaslens_model::TORCH_ADAM_EPSILON).init();
    let ce = CrossEntropyLossConfig::new().init(&ad);
    for _ in 0..steps {
        let loss = ce.forward(critic.forward(x.clone(), None), a.clone());
        let grads = GradientsParams::from_grads(loss.backward(), &critic);
        critic = optim.step(1e-2, critic, grads);
    }
    let loss = ce.forward(critic.valid().forward(x.inner(), None), a.inner());
    let ce_final = f64::from(read_scalars(vec![loss]).await?[0]);
    Ok(conditional_entropy(data.targets, data.attribute) - ce_final)
}

/// `H(A | Y)` in nats from counts.
fn conditional_entropy(y: &[u8], a: &[u8]) -> f64 {
    let mut c = [[0f64; 2]; 2];
    for (&yi, &ai) in y.iter().zip(a) {
        c[usize::from(yi != 0)][usize::from(ai != 0)] += 1.0;
    }
    let n: f64 = c.iter().flatten().sum();
    c.iter()
        .map(|row| {
            let ny: f64 = row.iter().sum();
            row.iter()
                .filter(|&&v| v > 0.0)
                .map(|&v| -(v / n) * (v / ny).ln())
                .sum::<f64>()
        })
        .sum()
}

/// ZhangAL in the method registry ([`crate::Registry`]).
pub struct ZhangAl;

impl TypedMethod for ZhangAl {
    type Config = ZhangConfig;
    const TAG: &'static str = "zhang_al";
    const NAME: &'static str = "ZhangAL";
    const FAMILY: Family = Family::Adversarial;
    const DESCRIPTION: &'static str = "adversarial learning with gradient projection (Zhang et al.)";

    fn default_config() -> ZhangConfig {
        ZhangConfig::new()
    }
    fn check(c: &ZhangConfig) -> Result<(), String> {
        if c.batch_size == 0 || c.tau_steps == 0 {
            return Err("batch_size and tau_steps must be at least 1".into());
        }
        Ok(())
    }
    fn passes(c: &ZhangConfig) -> Vec<Pass> {
        vec![Pass { field: "batch_size", what: "adversarial fine-tuning", batch: c.batch_size, backward: true }]
    }
    fn work(c: &ZhangConfig, _: usize) -> f64 {
        let b = c.batch_size as f64;
        b * (c.critic_iterations * (c.iterations + 1)) as f64
            + 3.0 * b * (c.model_iterations * c.iterations) as f64
            + b * c.n_eval_batches as f64
    }
    fn run<'a>(
        &'a self,
        model: ResNet,
        data: DebiasData<'a>,
        config: &'a ZhangConfig,
        device: &'a Device,
        progress: &'a mut dyn FnMut(&DebiasProgress),
        should_stop: &'a dyn Fn() -> bool,
    ) -> impl Future<Output = Result<Outcome, DebiasError>> + 'a {
        async move {
            let o = zhang_al(model, data, config, device, progress, should_stop).await?;
            Ok(Outcome::of(o.model).detail("tau", o.tau).detail("tau_score", o.tau_score))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::conditional_entropy;

    #[test]
    fn conditional_entropy_hand_worked() {
        // Independent fair coins: H(A | Y) = ln 2.
        let h = conditional_entropy(&[0, 0, 1, 1], &[0, 1, 0, 1]);
        assert!((h - std::f64::consts::LN_2).abs() < 1e-12);
        // A = Y: no uncertainty left.
        assert_eq!(conditional_entropy(&[0, 1, 1], &[0, 1, 1]), 0.0);
    }
}
