//! Concept activation vectors at a layer of the network (default, as the authors ran it: the
//! pooled penultimate features; feature maps are flattened to `C·H·W` vectors): the direction
//! in activation space along which samples with the protected attribute differ from samples
//! without it.
//!
//! - [`CavKind::Signal`] (the paper's default, DetoxAI `cav_type: "signal"`): the *pattern* of
//!   Haufe et al., "On the interpretation of weight vectors of linear models in multivariate
//!   neuroimaging" (NeuroImage 2014): `w = Σᵢ (xᵢ − x̄)(yᵢ − ȳ) / (n − 1) / Var(y)`, normalised.
//!   It is the covariance of the features with the concept label, the direction the concept
//!   actually moves the activations (as used by Pahde et al. / Dreyer et al. for ClArC).
//! - [`CavKind::MeanDifference`]: the mean of the artifact samples minus the mean of the others
//!   (DetoxAI's `mmp`).
//! - [`CavKind::Logistic`]: the weight vector of an L2-regularised logistic regression (Kim et
//!   al., "TCAV", ICML 2018, use a linear classifier), fitted by full-batch gradient descent on
//!   standardised features and mapped back to feature space.
//!
//! **Concept labels.** The concept label of a sample is its own protected attribute
//! ([`ConceptLabels::OwnAttribute`], the default). The authors' code meant the same but pairs
//! them wrongly: `np.array((labels, prota)).reshape(-1, 2)` does not transpose, so sample `i` of
//! a batch of `B` gets the *target* of sample `2i + 1` (first half of the batch) or the
//! attribute of sample `2i + 1 − B` (second half), which on a shuffled loader is nearly
//! unrelated to its own attribute (docs/METHODS.md#cav). That pairing is available as
//! [`ConceptLabels::AuthorsReshapeBug`] to reproduce their CAVs; it is not the default.

use biaslens_model::{ResNet, Tap};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::common::{check_stop, read_back};
use crate::debiased::activations_at;
use crate::{DebiasData, DebiasError, DebiasProgress, Stage};

/// How the CAV direction is computed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum CavKind {
    /// Haufe pattern (covariance with the label), the authors' choice.
    Signal,
    /// Mean of artifact samples minus mean of clean samples.
    MeanDifference,
    /// Logistic regression weights.
    Logistic {
        /// Gradient-descent iterations.
        iterations: usize,
        /// Step size (on standardised features).
        learning_rate: f64,
        /// L2 penalty on the weights.
        l2: f64,
    },
}

impl CavKind {
    /// Logistic regression with 500 iterations, step 0.5, L2 1e-3.
    pub fn logistic() -> Self {
        Self::Logistic {
            iterations: 500,
            learning_rate: 0.5,
            l2: 1e-3,
        }
    }
}

/// Which label each activation is paired with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConceptLabels {
    /// Each sample's own protected attribute (correct).
    OwnAttribute,
    /// The authors' reshape-without-transpose pairing within consecutive batches of
    /// `batch_size` in data order (see the module docs and [`authors_concept_labels`]).
    AuthorsReshapeBug {
        /// Loader batch size (the authors': 128).
        batch_size: usize,
    },
}

/// Knobs of CAV fitting.
#[derive(Config, Debug, PartialEq)]
pub struct CavConfig {
    /// Direction estimator.
    #[config(default = "CavKind::Signal")]
    pub kind: CavKind,
    /// Concept labels.
    #[config(default = "ConceptLabels::OwnAttribute")]
    pub labels: ConceptLabels,
    /// Layer (the authors' `"penultimate"` = [`Tap::Pooled`]; RR-ClArC supports only that one).
    #[config(default = "Tap::Pooled")]
    pub layer: Tap,
    /// Images per forward pass while collecting activations.
    #[config(default = 128)]
    pub batch_size: usize,
}

/// A fitted concept activation vector and the class means at its layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cav {
    /// Unit direction, oriented from concept label 0 towards 1.
    pub direction: Vec<f32>,
    /// Mean activation where the concept label is 1 (DetoxAI `mean_act_a`).
    pub mean_artifact: Vec<f32>,
    /// Mean activation where the concept label is 0 (`mean_act_na`).
    pub mean_clean: Vec<f32>,
}

/// The concept labels the authors' `extract_activations` produced for data in this order:
/// within each consecutive batch of `batch_size` (the last may be shorter, of size `B`),
/// `label[i] = [targets…, attribute…][2i + 1]`.
pub fn authors_concept_labels(targets: &[u8], attribute: &[u8], batch_size: usize) -> Vec<u8> {
    let n = targets.len().min(attribute.len());
    let mut out = Vec::with_capacity(n);
    let bs = batch_size.max(1);
    let mut start = 0;
    while start < n {
        let end = (start + bs).min(n);
        let b = end - start;
        for i in 0..b {
            let k = 2 * i + 1;
            out.push(if k < b {
                targets[start + k]
            } else {
                attribute[start + k - b]
            });
        }
        start = end;
    }
    out
}

/// Fits a CAV to `features` (`N × dim`, row-major) with binary concept `labels`.
///
/// # Errors
/// [`DebiasError::Shape`] for mismatched lengths, [`DebiasError::Degenerate`] if one label
/// value is missing or the direction is zero.
pub fn fit_cav(
    features: &[f32],
    dim: usize,
    labels: &[u8],
    kind: &CavKind,
) -> Result<Cav, DebiasError> {
    let n = labels.len();
    if dim == 0 || features.len() != n * dim {
        return Err(DebiasError::Shape(format!(
            "{} feature values are not {n} rows of {dim}",
            features.len()
        )));
    }
    let n1 = labels.iter().filter(|&&l| l != 0).count();
    if n1 == 0 || n1 == n {
        return Err(DebiasError::Degenerate(format!(
            "all {n} concept labels are {}; both values are needed",
            u8::from(n1 == n)
        )));
    }
    let row = |i: usize| &features[i * dim..(i + 1) * dim];
    let mut mean = vec![0f64; dim];
    let mut mean_a = vec![0f64; dim];
    let mut mean_na = vec![0f64; dim];
    for (i, &label) in labels.iter().enumerate() {
        let target = if label != 0 { &mut mean_a } else { &mut mean_na };
        for (j, &v) in row(i).iter().enumerate() {
            mean[j] += f64::from(v);
            target[j] += f64::from(v);
        }
    }
    mean.iter_mut().for_each(|m| *m /= n as f64);
    mean_a.iter_mut().for_each(|m| *m /= n1 as f64);
    mean_na.iter_mut().for_each(|m| *m /= (n - n1) as f64);
    let y: Vec<f64> = labels.iter().map(|&l| f64::from(u8::from(l != 0))).collect();
    let y_mean = n1 as f64 / n as f64;

    let w: Vec<f64> = match kind {
        CavKind::Signal => {
            // Haufe pattern: cov(x, y) / var(y) (var with ddof = 1 like the covariance; the
            // scale does not matter after normalisation).
            let var_y = y.iter().map(|v| (v - y_mean).powi(2)).sum::<f64>() / (n as f64 - 1.0).max(1.0);
            let mut w = vec![0f64; dim];
            for (i, yi) in y.iter().enumerate() {
                let dy = yi - y_mean;
                for (j, &v) in row(i).iter().enumerate() {
                    w[j] += (f64::from(v) - mean[j]) * dy;
                }
            }
            w.iter().map(|c| c / (n as f64 - 1.0).max(1.0) / var_y).collect()
        }
        CavKind::MeanDifference => mean_a.iter().zip(&mean_na).map(|(a, b)| a - b).collect(),
        CavKind::Logistic {
            iterations,
            learning_rate,
            l2,
        } => logistic_weights(features, dim, &y, &mean, *iterations, *learning_rate, *l2),
    };
    let norm = w.iter().map(|v| v * v).sum::<f64>().sqrt();
    if norm.is_nan() || norm <= f64::MIN_POSITIVE {
        return Err(DebiasError::Degenerate(
            "the fitted direction is zero (the features do not vary with the concept)".into(),
        ));
    }
    let to32 = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<f32>>();
    Ok(Cav {
        direction: w.iter().map(|v| (v / norm) as f32).collect(),
        mean_artifact: to32(&mean_a),
        mean_clean: to32(&mean_na),
    })
}

/// Gradient descent on the mean logistic loss + `l2/2·‖w‖²` over standardised features;
/// returns the weights in the original feature space (`wⱼ / σⱼ`).
fn logistic_weights(
    features: &[f32],
    dim: usize,
    y: &[f64],
    mean: &[f64],
    iterations: usize,
    lr: f64,
    l2: f64,
) -> Vec<f64> {
    let n = y.len();
    let mut sd = vec![0f64; dim];
    for i in 0..n {
        for (j, &v) in features[i * dim..(i + 1) * dim].iter().enumerate() {
            sd[j] += (f64::from(v) - mean[j]).powi(2);
        }
    }
    sd.iter_mut()
        .for_each(|s| *s = (*s / n as f64).sqrt().max(1e-12));
    let z: Vec<f64> = (0..n * dim)
        .map(|k| (f64::from(features[k]) - mean[k % dim]) / sd[k % dim])
        .collect();
    let mut w = vec![0f64; dim];
    let mut b = 0f64;
    let mut grad = vec![0f64; dim];
    for _ in 0..iterations {
        grad.iter_mut().for_each(|g| *g = 0.0);
        let mut gb = 0.0;
        for i in 0..n {
            let zi = &z[i * dim..(i + 1) * dim];
            let s: f64 = b + zi.iter().zip(&w).map(|(a, c)| a * c).sum::<f64>();
            let r = 1.0 / (1.0 + (-s).exp()) - y[i];
            gb += r;
            for (g, a) in grad.iter_mut().zip(zi) {
                *g += r * a;
            }
        }
        for (wj, g) in w.iter_mut().zip(&grad) {
            *wj -= lr * (g / n as f64 + l2 * *wj);
        }
        b -= lr * gb / n as f64;
    }
    w.iter().zip(&sd).map(|(w, s)| w / s).collect()
}

/// The activations at `tap` of every image of `data`, in order, flattened per image (network in
/// evaluation mode on `device`). One read-back per batch.
///
/// # Shapes
/// `data.pixels`: `[N, C, H, W]` → `N × D` values, row-major (`D = C·H·W` of the tap,
/// `feature_dim` at [`Tap::Pooled`]).
///
/// # Errors
/// [`DebiasError`] for bad data, cancellation or a failed read-back.
pub async fn activations(
    model: &ResNet,
    data: DebiasData<'_>,
    tap: Tap,
    batch_size: usize,
    device: &Device,
    on_progress: &mut dyn FnMut(&DebiasProgress),
    should_stop: &dyn Fn() -> bool,
) -> Result<Vec<f32>, DebiasError> {
    data.validate()?;
    if batch_size == 0 {
        return Err(DebiasError::Empty("batch_size must be at least 1"));
    }
    let model = model.valid().to_device(device);
    let idx: Vec<usize> = (0..data.len()).collect();
    let total = idx.len().div_ceil(batch_size);
    let mut out = Vec::new();
    for (k, chunk) in idx.chunks(batch_size).enumerate() {
        check_stop(&should_stop)?;
        let b = crate::common::batch(&data, chunk, device);
        let mut read = read_back(vec![activations_at(&model, b.x, tap, None)]).await?;
        out.append(&mut read[0]);
        on_progress(&DebiasProgress::new(Stage::Activations, k + 1, total));
    }
    Ok(out)
}

/// Collects the activations at `config.layer` over `data` and fits the CAV.
pub(crate) async fn cav_for(
    model: &ResNet,
    data: DebiasData<'_>,
    config: &CavConfig,
    device: &Device,
    on_progress: &mut dyn FnMut(&DebiasProgress),
    should_stop: &dyn Fn() -> bool,
) -> Result<Cav, DebiasError> {
    let feats = activations(
        model,
        data,
        config.layer,
        config.batch_size,
        device,
        on_progress,
        should_stop,
    )
    .await?;
    let dim = feats.len() / data.len().max(1);
    let labels = match config.labels {
        ConceptLabels::OwnAttribute => data.attribute.to_vec(),
        ConceptLabels::AuthorsReshapeBug { batch_size } => {
            authors_concept_labels(data.targets, data.attribute, batch_size)
        }
    };
    fit_cav(&feats, dim, &labels, &config.kind)
}

#[cfg(test)]
mod tests {
    use super::*;
    use biaslens_rng::SplitMix64;

    /// Features = noise + label·d + a label-independent distractor direction with large
    /// variance; every estimator must find d (the pattern, not the distractor).
    fn planted(n: usize, dim: usize, seed: u64) -> (Vec<f32>, Vec<u8>, Vec<f64>) {
        let mut rng = SplitMix64::new(seed);
        let mut d: Vec<f64> = (0..dim).map(|_| rng.normal()).collect();
        let nd = d.iter().map(|v| v * v).sum::<f64>().sqrt();
        d.iter_mut().for_each(|v| *v /= nd);
        let distractor: Vec<f64> = (0..dim).map(|j| if j == 0 { 1.0 } else { 0.0 }).collect();
        let mut feats = Vec::with_capacity(n * dim);
        let mut labels = Vec::with_capacity(n);
        for _ in 0..n {
            let l = u8::from(rng.bernoulli(0.4));
            let s = 3.0 * rng.normal();
            for j in 0..dim {
                let v = 0.3 * rng.normal() + 2.0 * f64::from(l) * d[j] + s * distractor[j] + 1.0;
                feats.push(v as f32);
            }
            labels.push(l);
        }
        (feats, labels, d)
    }

    fn cosine(a: &[f32], b: &[f64]) -> f64 {
        let dot: f64 = a.iter().zip(b).map(|(x, y)| f64::from(*x) * y).sum();
        let na = a.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
        let nb = b.iter().map(|x| x * x).sum::<f64>().sqrt();
        dot / (na * nb)
    }

    #[test]
    fn estimators_recover_a_planted_direction() {
        let (feats, labels, d) = planted(600, 16, 7);
        for kind in [CavKind::Signal, CavKind::MeanDifference, CavKind::logistic()] {
            let cav = fit_cav(&feats, 16, &labels, &kind).expect("fits");
            let norm: f64 = cav.direction.iter().map(|v| f64::from(*v).powi(2)).sum::<f64>();
            assert!((norm - 1.0).abs() < 1e-5, "{kind:?}: unit norm, got {norm}");
            let c = cosine(&cav.direction, &d);
            // Signal and mean difference estimate d itself (the pattern). Logistic regression
            // estimates a *filter*: it discounts the distractor axis, so it leans away from d
            // wherever d overlaps that axis (Haufe et al.'s point) and is held to less.
            let min = if matches!(kind, CavKind::Logistic { .. }) { 0.85 } else { 0.98 };
            assert!(c > min, "{kind:?}: cosine with the planted direction {c}");
        }
        // Labels that do not go with the features give no such direction.
        let mut rng = SplitMix64::new(99);
        let shuffled: Vec<u8> = labels.iter().map(|_| u8::from(rng.bernoulli(0.4))).collect();
        let cav = fit_cav(&feats, 16, &shuffled, &CavKind::Signal).expect("fits");
        assert!(cosine(&cav.direction, &d).abs() < 0.8);
    }

    #[test]
    fn signal_is_the_mean_difference_for_binary_labels() {
        // For a 0/1 label, cov(x, y)/var(y) = mean(x | 1) − mean(x | 0) exactly.
        let (feats, labels, _) = planted(200, 8, 3);
        let s = fit_cav(&feats, 8, &labels, &CavKind::Signal).expect("fits");
        let m = fit_cav(&feats, 8, &labels, &CavKind::MeanDifference).expect("fits");
        for (a, b) in s.direction.iter().zip(&m.direction) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
    }

    #[test]
    fn degenerate_labels_and_shapes_are_errors() {
        assert!(matches!(
            fit_cav(&[1.0, 2.0], 1, &[1, 1], &CavKind::Signal),
            Err(DebiasError::Degenerate(_))
        ));
        assert!(matches!(
            fit_cav(&[1.0, 2.0, 3.0], 2, &[0, 1], &CavKind::Signal),
            Err(DebiasError::Shape(_))
        ));
    }

    #[test]
    fn authors_pairing_reproduces_reshape_without_transpose() {
        // numpy: np.array((y, a)).reshape(-1, 2)[:, 1] for y = [10..16), a = [20..26)
        // flat = [10 11 12 13 14 15 20 21 22 23 24 25] → odd positions 11 13 15 21 23 25.
        let y = [10, 11, 12, 13, 14, 15];
        let a = [20, 21, 22, 23, 24, 25];
        assert_eq!(authors_concept_labels(&y, &a, 6), vec![11, 13, 15, 21, 23, 25]);
        // Two batches of 4 and a last one of 2: [y0..y3, a0..a3] → y1 y3 a1 a3, and so on.
        assert_eq!(
            authors_concept_labels(&y, &a, 4),
            vec![11, 13, 21, 23, 15, 25]
        );
    }
}
