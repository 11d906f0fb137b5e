//! Stage 4 of a unit: argmax predictions of every model on the whole balanced test split, and
//! accuracy, EqualizedOdds and the other gaps with bootstrap intervals
//! (docs/METHODS.md#fairness).

use biaslens_metrics::{FairnessReport, fairness_report};
use biaslens_model::readback::Readback;
use burn::prelude::*;

use super::RunError;
use super::methods::Trained;
use super::pool::SplitImages;
use super::progress::Tracker;
use crate::config::ExperimentConfig;

/// One model's predictions on the test split and its fairness report.
pub(crate) struct Evaluation {
    /// Predicted class per test image (0/1).
    pub predictions: Vec<i64>,
    /// Accuracy and fairness gaps.
    pub fairness: FairnessReport,
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

/// The predictions of `model` (with its output transform) on `images`, one read-back per batch.
pub(crate) async fn predict(
    model: &Trained,
    images: &SplitImages,
    side: usize,
    batch: usize,
    phi: f64,
    device: &Device,
    mut on_batch: impl FnMut(usize),
    should_stop: &dyn Fn() -> bool,
) -> Result<Vec<i64>, RunError> {
    let n = images.target.len();
    let mut preds = Vec::with_capacity(n);
    let mut start = 0;
    while start < n {
        if should_stop() {
            return Err(RunError::Cancelled);
        }
        let end = (start + batch).min(n);
        let x = batch_tensor(&images.pixels, start..end, side, device);
        let out = model
            .model
            .forward_grouped(x, &images.attribute[start..end])
            .map_err(|reason| RunError::Method { method: model.name.clone(), phi, reason })?;
        let mut rb = Readback::new();
        let slot = rb.push(out);
        let logits = rb.execute().await?.take(slot)?;
        preds.extend(logits.chunks_exact(2).map(|l| i64::from(l[1] > l[0])));
        start = end;
        on_batch(start);
    }
    Ok(preds)
}

/// Every model on the whole test split.
pub(crate) async fn evaluate_all(
    config: &ExperimentConfig,
    models: &[Trained],
    test: &SplitImages,
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
    let mut out = Vec::with_capacity(models.len());
    for (m, model) in models.iter().enumerate() {
        let predictions = predict(model, test, side, config.metrics.eval_batch_size, phi, device, |done| {
            tracker.report((m as f64 + done as f64 / n_test as f64) / models.len() as f64, model.name.clone());
        }, should_stop)
        .await?;
        let fairness = fairness_report(&y, &predictions, &a, boot)?;
        out.push(Evaluation { predictions, fairness });
    }
    Ok(out)
}
