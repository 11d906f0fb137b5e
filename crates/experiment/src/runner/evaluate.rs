//! Stage 4 of a unit: argmax predictions of every model on the whole balanced test split, and
//! accuracy, EqualizedOdds and the other gaps with bootstrap intervals; each method's EO against
//! vanilla's with a paired bootstrap, and a permutation test of each model's EO
//! (docs/METHODS.md#fairness). On the synthetic benchmark (and on own images given with
//! counterfactual pairs), every model's reliance on the attribute from the pairs
//! ([`super::reliance`]).

use biaslens_metrics::fairness::PairedGap;
use biaslens_metrics::{FairnessReport, eo_permutation_p, fairness_report, paired_eo_difference};
use biaslens_attribution::ResNetGrad;
use biaslens_model::readback::Readback;
use burn::prelude::*;

use super::RunError;
use super::methods::Trained;
use super::pool::SplitImages;
use super::progress::Tracker;
use crate::config::ExperimentConfig;
use crate::results::Reliance;

/// One model's predictions on the test split and its fairness report.
pub(crate) struct Evaluation {
    /// Accuracy and fairness gaps.
    pub fairness: FairnessReport,
    /// EO minus vanilla's, paired (`None` for vanilla or with the bootstrap off).
    pub eo_vs_vanilla: Option<PairedGap>,
    /// Permutation p-value of the model's EO.
    pub eo_permutation_p: Option<f64>,
    /// Reliance on the attribute (where counterfactual pairs exist).
    pub reliance: Option<Reliance>,
}

/// `[B, C, H, W]` batch of images `idx` from `pixels` on `device`.
///
/// # Shapes
/// `pixels`: `[N, 3, s, s]` flattened → `[idx.len(), 3, s, s]`.
pub(crate) fn batch_tensor(pixels: &[f32], idx: std::ops::Range<usize>, side: usize, device: &Device) -> Tensor<4> {
    let per = 3 * side * side;
    let b = idx.len();
    Tensor::from_data(TensorData::new(pixels[idx.start * per..idx.end * per].to_vec(), [b, 3, side, side]), device)
}

/// A model's forward pass for evaluation: on a CPU device, a network without a projection hook
/// runs on host memory with one matrix product per convolution over the whole batch
/// (`ResNetGrad::host_logits`, docs/METHODS.md#resnet-grad, "On the CPU"), three times as fast
/// as burn's image-by-image convolutions there; everything else (a GPU, a ClArC hook) runs the
/// model's own forward pass. The two agree to float32 summation order.
pub(crate) struct Forward<'m> {
    model: &'m Trained,
    host: Option<ResNetGrad<'m>>,
}

impl<'m> Forward<'m> {
    pub(crate) fn new(model: &'m Trained) -> Self {
        let host = match model.model.hook {
            None => ResNetGrad::new(&model.model.model).ok(),
            Some(_) => None,
        };
        Self { model, host }
    }

    /// The network's logits (projection hook applied, output transform not).
    ///
    /// # Shapes
    /// `[B, 3, H, W]` → `[B, K]`.
    fn logits(&mut self, x: Tensor<4>) -> Result<Tensor<2>, RunError> {
        if let Some(g) = &mut self.host {
            match g.host_logits(x.clone())? {
                Some(z) => return Ok(z),
                // Not a CPU device: burn's own forward from now on.
                None => self.host = None,
            }
        }
        Ok(self.model.model.logits(x))
    }
}

/// The network's logits (projection hook applied, output transform not) and the decisions of
/// the whole classifier (transform included) of `forward`'s model on `pixels` with group labels
/// `attribute`, one read-back per batch.
///
/// # Shapes
/// `pixels`: `[N, 3, side, side]` flattened; returns `[N, 2]` flattened and `[N]`.
pub(crate) async fn outputs(
    forward: &mut Forward<'_>,
    pixels: &[f32],
    attribute: &[u8],
    side: usize,
    batch: usize,
    phi: f64,
    device: &Device,
    mut on_batch: impl FnMut(usize),
    should_stop: &dyn Fn() -> bool,
) -> Result<(Vec<f32>, Vec<i64>), RunError> {
    let n = attribute.len();
    let (mut logits, mut preds) = (Vec::with_capacity(2 * n), Vec::with_capacity(n));
    let mut start = 0;
    while start < n {
        if should_stop() {
            return Err(RunError::Cancelled);
        }
        let end = (start + batch).min(n);
        let x = batch_tensor(pixels, start..end, side, device);
        // One pass: the classifier's output is its transform of these logits
        // (`DebiasedModel::forward_grouped` would run the network again).
        let z = forward.logits(x)?;
        let model = forward.model;
        let out = model
            .model
            .output
            .apply(z.clone(), Some(&attribute[start..end]))
            .map_err(|reason| RunError::Method { method: model.name.clone(), phi, reason })?;
        let mut rb = Readback::new();
        let (z_slot, out_slot) = (rb.push(z), rb.push(out));
        let mut read = rb.execute().await?;
        logits.extend(read.take(z_slot)?);
        preds.extend(read.take(out_slot)?.chunks_exact(2).map(|l| i64::from(l[1] > l[0])));
        start = end;
        on_batch(start);
        // The page's event loop runs between batches (a no-op natively): three passes over the
        // test split per model held it for seconds otherwise.
        biaslens_model::pace::yield_now().await;
    }
    Ok((logits, preds))
}

/// Counterfactual test images: every face with the attribute painted in, and painted out.
pub(crate) struct Counterfactuals {
    pub with: Vec<f32>,
    pub without: Vec<f32>,
}

/// Every model on the whole test split (and on its counterfactual pairs when given).
pub(crate) async fn evaluate_all(
    config: &ExperimentConfig,
    models: &[Trained],
    test: &SplitImages,
    counterfactuals: Option<&Counterfactuals>,
    side: usize,
    phi: f64,
    device: &Device,
    tracker: &mut Tracker<'_>,
    should_stop: &dyn Fn() -> bool,
) -> Result<Vec<Evaluation>, RunError> {
    let n_test = test.target.len();
    let y: Vec<i64> = test.target.iter().map(|&v| i64::from(v)).collect();
    let a: Vec<i64> = test.attribute.iter().map(|&v| i64::from(v)).collect();
    let boot = (config.metrics.bootstrap.resamples > 0).then_some(&config.metrics.bootstrap);
    let passes = if counterfactuals.is_some() { 3.0 } else { 1.0 };
    let batch = config.metrics.eval_batch_size;
    let mut out = Vec::with_capacity(models.len());
    let mut vanilla_preds: Option<Vec<i64>> = None;
    for (m, model) in models.iter().enumerate() {
        let mut report = |pass: f64, done: usize| {
            let f = (m as f64 + (pass + done as f64 / n_test as f64) / passes) / models.len() as f64;
            tracker.report(f, model.name.clone());
        };
        let mut forward = Forward::new(model);
        let (_, predictions) = outputs(&mut forward, &test.pixels, &test.attribute, side, batch, phi, device, |d| report(0.0, d), should_stop).await?;
        let reliance = match counterfactuals {
            Some(cf) => {
                let ones = vec![1u8; n_test];
                let zeros = vec![0u8; n_test];
                let (z_with, d_with) = outputs(&mut forward, &cf.with, &ones, side, batch, phi, device, |d| report(1.0, d), should_stop).await?;
                let (z_without, d_without) =
                    outputs(&mut forward, &cf.without, &zeros, side, batch, phi, device, |d| report(2.0, d), should_stop).await?;
                Some(super::reliance::reliance(&test.target, phi, (&z_with, &d_with), (&z_without, &d_without), boot))
            }
            None => None,
        };
        biaslens_model::pace::yield_now().await;
        let fairness = fairness_report(&y, &predictions, &a, boot)?;
        let eo_vs_vanilla = match (&vanilla_preds, boot) {
            (Some(v), Some(b)) => Some(paired_eo_difference(&y, v, &predictions, &a, b)?),
            _ => None,
        };
        // The EO premise of own data (docs/METHODS.md#verdicts): vanilla only, and only where no
        // counterfactual faces give the ground truth instead.
        let eo_permutation_p = match boot {
            Some(b) if m == 0 && counterfactuals.is_none() => Some(eo_permutation_p(&y, &predictions, &a, b.resamples, b.seed ^ 0x9e37_79b9)?),
            _ => None,
        };
        if m == 0 {
            vanilla_preds = Some(predictions);
        }
        biaslens_model::pace::yield_now().await;
        out.push(Evaluation { fairness, eo_vs_vanilla, eo_permutation_p, reliance });
    }
    Ok(out)
}
