//! Device self-test: proves data, model, autodiff, read-back and metric on one device.
//!
//! Steps: generate `images` synthetic faces (`biaslens-data`), run [`TinyCnn`] with seeded
//! weights, take gradient × input for each image's true label (the paper explains the
//! ground-truth class, `shared/paper-code.md` §2.4), reduce channels by a signed sum (the
//! authors' code), read logits and maps back in ONE async transaction, and compute the fraction
//! of |saliency| inside the necktie ROI per image and pooled.

use biaslens_attribution::gradient_x_input;
use biaslens_data::{SyntheticConfig, SyntheticError, rng::SplitMix64};
use biaslens_metrics::{ImageSize, Roi, RoiError, abs_fraction_in_roi};
use biaslens_model::{TinyCnn, TinyCnnWeights, TinyShapeError};
use burn::prelude::*;
use burn::tensor::Transaction;
use serde::{Deserialize, Serialize};

/// Settings of the self-test; every number in the report is a function of these.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SelfTestConfig {
    /// Number of images in the batch.
    pub images: usize,
    /// Synthetic data settings (image size, seed, noise).
    pub data: SyntheticConfig,
    /// Seed of the network weights.
    pub weight_seed: u64,
}

impl Default for SelfTestConfig {
    fn default() -> Self {
        Self { images: 4, data: SyntheticConfig::default(), weight_seed: 7 }
    }
}

/// Why the self-test could not finish.
#[derive(Debug, thiserror::Error)]
pub enum SelfTestError {
    /// Bad data settings.
    #[error(transparent)]
    Data(#[from] SyntheticError),
    /// Bad network weights.
    #[error(transparent)]
    Weights(#[from] TinyShapeError),
    /// A map does not fit the ROI.
    #[error(transparent)]
    Roi(#[from] RoiError),
    /// The device failed while computing or reading back.
    #[error("the compute device failed: {0}")]
    Device(String),
    /// Zero images requested.
    #[error("the self-test needs at least one image")]
    NoImages,
}

/// Everything the self-test computed, read back to the host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SelfTestReport {
    /// The settings that produced it.
    pub config: SelfTestConfig,
    /// Image size of inputs and maps.
    pub image: ImageSize,
    /// The fixed rectangle the fraction is measured in (the necktie box).
    pub roi: Roi,
    /// Input pixels, `N×3×H×W` in `[0, 1]`.
    pub pixels: Vec<f32>,
    /// True labels (smiling) explained per image.
    pub target: Vec<u8>,
    /// Protected attribute (necktie) per image.
    pub attribute: Vec<u8>,
    /// Logits, `N×2`.
    pub logits: Vec<f32>,
    /// Channel-summed gradient × input, `N×H×W`.
    pub maps: Vec<f32>,
    /// Fraction of |saliency| inside the ROI, per image.
    pub roi_fraction: Vec<f64>,
    /// Mean of `roi_fraction` over the batch: the headline number.
    pub mean_roi_fraction: f64,
}

impl SelfTestReport {
    /// Map of image `i`, `H×W`.
    pub fn map(&self, i: usize) -> &[f32] {
        let n = self.image.pixels();
        &self.maps[i * n..(i + 1) * n]
    }
}

/// The self-test network's weights: uniform in `±1/√fan_in` (PyTorch's default scale), seeded.
pub fn selftest_weights(seed: u64) -> TinyCnnWeights {
    let mut rng = SplitMix64::new(seed);
    TinyCnnWeights::from_fn(2, |fan_in| {
        let bound = 1.0 / (fan_in as f64).sqrt();
        rng.uniform(-bound, bound) as f32
    })
}

/// Run the self-test on `device` (any burn device; autodiff is added here).
///
/// Reads back from the device exactly once, asynchronously, so it is safe in the browser.
///
/// # Errors
/// [`SelfTestError`] for bad settings or a device failure.
pub async fn run_selftest(config: &SelfTestConfig, device: &Device) -> Result<SelfTestReport, SelfTestError> {
    if config.images == 0 {
        return Err(SelfTestError::NoImages);
    }
    let batch = config.data.generate(0, config.images)?;
    let roi = config.data.necktie_roi()?;
    let image = batch.image;
    let (h, w) = (image.height as usize, image.width as usize);
    let n = batch.len();

    let ad = device.clone().autodiff();
    let net = TinyCnn::from_weights(&selftest_weights(config.weight_seed), &ad)?;
    let x: Tensor<4> = Tensor::from_data(TensorData::new(batch.pixels.clone(), [n, 3, h, w]), &ad);
    let targets: Vec<usize> = batch.target.iter().map(|&t| usize::from(t)).collect();
    let (map, logits) = gradient_x_input(|x| net.forward(x), x, &targets);
    let map: Tensor<3> = map.sum_dim(1).reshape([n, h, w]);

    let data = Transaction::default()
        .register(logits)
        .register(map)
        .execute_async()
        .await
        .map_err(|e| SelfTestError::Device(format!("{e:?}")))?;
    let mut values = data.into_iter().map(|d| d.try_into_vec::<f32>().map_err(|e| SelfTestError::Device(format!("{e:?}"))));
    let missing = || SelfTestError::Device("the device returned fewer tensors than requested".into());
    let logits = values.next().ok_or_else(missing)??;
    let maps = values.next().ok_or_else(missing)??;

    let roi_fraction = maps.chunks_exact(image.pixels()).map(|m| abs_fraction_in_roi(m, &roi)).collect::<Result<Vec<_>, _>>()?;
    let mean_roi_fraction = roi_fraction.iter().sum::<f64>() / n as f64;
    Ok(SelfTestReport {
        config: config.clone(),
        image,
        roi,
        pixels: batch.pixels,
        target: batch.target,
        attribute: batch.attribute,
        logits,
        maps,
        roi_fraction,
        mean_roi_fraction,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(config: &SelfTestConfig) -> SelfTestReport {
        pollster::block_on(run_selftest(config, &Device::flex())).expect("self-test runs on flex")
    }

    #[test]
    fn report_is_consistent_and_deterministic() {
        let config = SelfTestConfig::default();
        let a = run(&config);
        assert_eq!(a, run(&config), "same config, same numbers");
        let n = config.images;
        assert_eq!(a.maps.len(), n * a.image.pixels());
        assert_eq!(a.logits.len(), 2 * n);
        assert!(a.roi_fraction.iter().all(|f| (0.0..=1.0).contains(f)));
        // The ROI covers about 7% of the image; a fraction of exactly 0 or 1 would mean the map
        // or the box is broken.
        assert!(a.mean_roi_fraction > 0.0 && a.mean_roi_fraction < 1.0, "{}", a.mean_roi_fraction);
        assert!(a.maps.iter().all(|v| v.is_finite()) && a.maps.iter().any(|&v| v != 0.0));
    }

    /// The map is gradient × input of the true-label logit: check one pixel against a central
    /// finite difference of that logit (the network is piecewise linear; a step of 1e-2 keeps
    /// float32 rounding small while rarely crossing a ReLU kink).
    #[test]
    fn map_matches_finite_differences() {
        let config = SelfTestConfig { images: 1, ..SelfTestConfig::default() };
        let report = run(&config);
        let device = Device::flex();
        let net = TinyCnn::from_weights(&selftest_weights(config.weight_seed), &device).expect("weights fit");
        let (h, w) = (report.image.height as usize, report.image.width as usize);
        let t = usize::from(report.target[0]);
        let logit = |pixels: Vec<f32>| -> f64 {
            let x = Tensor::<4>::from_data(TensorData::new(pixels, [1, 3, h, w]), &device);
            f64::from(net.forward(x).into_data().try_into_vec::<f32>().expect("f32")[t])
        };
        let (py, px) = (h / 2, w / 2);
        let mut want = 0.0;
        for c in 0..3 {
            let i = c * h * w + py * w + px;
            let eps = 1e-2f32;
            let mut up = report.pixels.clone();
            up[i] += eps;
            let mut down = report.pixels.clone();
            down[i] -= eps;
            let grad = (logit(up) - logit(down)) / (2.0 * f64::from(eps));
            want += grad * f64::from(report.pixels[i]);
        }
        let got = f64::from(report.map(0)[py * w + px]);
        assert!((got - want).abs() < 1e-4 + 1e-2 * want.abs(), "map {got} vs finite difference {want}");
    }

    #[test]
    fn zero_images_is_an_error() {
        let config = SelfTestConfig { images: 0, ..SelfTestConfig::default() };
        let err = pollster::block_on(run_selftest(&config, &Device::flex())).expect_err("no images");
        assert!(matches!(err, SelfTestError::NoImages));
    }
}
