//! Device self-test: proves data, model, autodiff, attribution, read-back and metric on one
//! device, so the page and the CLI can show that they compute the same numbers.
//!
//! Steps: generate `images` synthetic faces (`biaslens-data`), run [`TinyCnn`] with seeded
//! weights, take gradient × input for each image's true label (the paper explains the
//! ground-truth class, docs/METHODS.md#attribution); then run the demo's compact ResNet with
//! seeded weights ([`ResNetConfig::init_seeded`]) and explain it with the paper's LRP
//! (Zennit EpsilonPlus, no canonizer, logit × one-hot; Bach et al. 2015) and the paper's IG
//! (Zennit's variant, 20 right-Riemann steps; Sundararajan et al. 2017). Maps are reduced over
//! channels by a signed sum (the authors' code); logits, maps and the sanity numbers (LRP
//! relevance sums, IG completeness delta) are read back in ONE async transaction; the fraction of
//! |saliency| inside the necktie ROI is computed per image and pooled. Last, a few Adam steps of
//! the compact ResNet on more synthetic faces ([`biaslens_model::train`], BatchNorm in training
//! mode, autodiff through the whole network), so training is checked on the device too.

use biaslens_attribution::{IgConfig, LrpConfig, OutputRelevance, ResNetGrad, gradient_x_input, integrated_gradients_with, lrp_resnet};
use biaslens_data::{SyntheticConfig, SyntheticError, rng::SplitMix64};
use biaslens_metrics::{ImageSize, Roi, RoiError, abs_fraction_in_roi};
use biaslens_model::{NoHook, ResNetConfig, TinyCnn, TinyCnnWeights, TinyShapeError, TrainConfig, TrainData, TrainError};
use burn::module::Module;
use burn::prelude::*;
use biaslens_model::readback::{Readback, ReadbackError};
use serde::{Deserialize, Serialize};

/// Settings of the self-test; every number in the report is a function of these.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SelfTestConfig {
    /// Number of images in the batch.
    pub images: usize,
    /// Synthetic data settings (image size, seed, noise).
    pub data: SyntheticConfig,
    /// Seed of the network weights.
    pub weight_seed: u64,
    /// LRP of the compact ResNet (the paper's set-up by default).
    pub lrp: LrpConfig,
    /// IG of the compact ResNet (the paper's, Zennit's variant, by default).
    pub ig: IgConfig,
    /// Training images of the training check (taken after the explained ones); 0 skips it.
    pub train_images: usize,
    /// Training settings of the training check (batch 8, lr 10⁻⁴ by default: a few small
    /// steps). With PyTorch's Adam ε = 10⁻⁸ the first steps are nearly sign steps, so a parameter
    /// whose gradient is within rounding of 0 moves by ±lr depending on the device; a small lr
    /// keeps the devices' trained networks (and RR-ClArC's penalties on them) within the
    /// comparison's tolerance.
    pub train: TrainConfig,
}

impl Default for SelfTestConfig {
    fn default() -> Self {
        Self {
            images: 4,
            data: SyntheticConfig::default(),
            weight_seed: 7,
            lrp: LrpConfig::paper(),
            ig: IgConfig::zennit(),
            train_images: 32,
            train: TrainConfig::new().with_batch_size(8).with_learning_rate(1e-4),
        }
    }
}

/// The training check: per-step loss and accuracy, and the trained network's logits on the
/// explained images; then three debiasing methods run on the trained network with the training
/// images as the debias split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct TrainCheck {
    /// Mean cross-entropy of each step's batch, before its update.
    pub losses: Vec<f32>,
    /// Logits of the trained network on the self-test images, `N×2`.
    pub logits_after: Vec<f32>,
    /// ThrOpt's chosen threshold and the EO gap it reaches on the debias split.
    pub thr_opt: [f64; 2],
    /// Outputs of the P-ClArC-corrected network (projection at the pooled features), `N×2`.
    pub p_clarc_logits: Vec<f32>,
    /// RR-ClArC's penalty per fine-tuning step (batch 8).
    pub rr_clarc_penalties: Vec<f32>,
}

/// The compact ResNet's part of the self-test, read back to the host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResNetCheck {
    /// Logits, `N×2`.
    pub logits: Vec<f32>,
    /// Channel-summed LRP maps, `N×H×W`.
    pub lrp_maps: Vec<f32>,
    /// Σ input relevance per image (LRP conservation: compare with `lrp_output_sum`).
    pub lrp_input_sum: Vec<f32>,
    /// Σ output relevance per image (`z_t` for logit × one-hot).
    pub lrp_output_sum: Vec<f32>,
    /// Channel-summed IG maps, `N×H×W`.
    pub ig_maps: Vec<f32>,
    /// IG completeness delta per image.
    pub ig_delta: Vec<f32>,
    /// Fraction of |LRP| inside the ROI, per image.
    pub lrp_roi_fraction: Vec<f64>,
    /// Fraction of |IG| inside the ROI, per image.
    pub ig_roi_fraction: Vec<f64>,
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
    /// Training failed.
    #[error(transparent)]
    Train(#[from] TrainError),
    /// A debiasing method failed.
    #[error(transparent)]
    Debias(#[from] biaslens_debias::DebiasError),
    /// LRP or IG refused a setting.
    #[error(transparent)]
    Attribution(#[from] biaslens_attribution::AttributionError),
}

impl From<ReadbackError> for SelfTestError {
    fn from(e: ReadbackError) -> Self {
        Self::Device(e.0)
    }
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
    /// The compact ResNet explained with LRP and IG.
    pub resnet: ResNetCheck,
    /// A few training steps of the compact ResNet.
    pub train: TrainCheck,
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
    let (map, logits) = gradient_x_input(|x| net.forward(x), x, &targets, OutputRelevance::OneHot)?;
    let map: Tensor<3> = map.sum_dim(1).reshape([n, h, w]);

    // The compact ResNet (frozen: BatchNorm with its running statistics). IG goes through the
    // hand-written ResNet walk, as the experiment's gradient methods do; the tiny CNN above
    // checks the autodiff path.
    let resnet = ResNetConfig::compact(2).init_seeded(config.weight_seed, device).freeze();
    let xr: Tensor<4> = Tensor::from_data(TensorData::new(batch.pixels.clone(), [n, 3, h, w]), device);
    let x_after = xr.clone();
    let lrp = lrp_resnet(&resnet, xr.clone(), Some(&targets), &config.lrp, None)?;
    let ig = integrated_gradients_with(&mut ResNetGrad::new(&resnet)?, xr, &targets, &config.ig, None, || false, |_| {})?;

    let mut rb = Readback::new();
    let slots = [
        rb.push(logits),
        rb.push(map),
        rb.push(lrp.logits),
        rb.push(lrp.map.sum_dim(1).reshape([n, h, w])),
        rb.push(lrp.input_sum),
        rb.push(lrp.output_sum),
        rb.push(ig.map.sum_dim(1).reshape([n, h, w])),
        rb.push(ig.delta),
    ];
    let mut read = rb.execute().await?;
    let [logits, maps, resnet_logits, lrp_maps, lrp_input_sum, lrp_output_sum, ig_maps, ig_delta] = slots.map(|s| read.take(s));
    let (logits, maps, resnet_logits, lrp_maps, lrp_input_sum, lrp_output_sum, ig_maps, ig_delta) =
        (logits?, maps?, resnet_logits?, lrp_maps?, lrp_input_sum?, lrp_output_sum?, ig_maps?, ig_delta?);

    let fractions = |maps: &[f32]| -> Result<Vec<f64>, RoiError> {
        maps.chunks_exact(image.pixels()).map(|m| abs_fraction_in_roi(m, &roi)).collect()
    };
    let roi_fraction = fractions(&maps)?;
    let mean_roi_fraction = roi_fraction.iter().sum::<f64>() / n as f64;
    let resnet = ResNetCheck {
        logits: resnet_logits,
        lrp_roi_fraction: fractions(&lrp_maps)?,
        ig_roi_fraction: fractions(&ig_maps)?,
        lrp_maps,
        lrp_input_sum,
        lrp_output_sum,
        ig_maps,
        ig_delta,
    };
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
        resnet,
        train: train_check(config, device, x_after).await?,
    })
}

/// Train the compact ResNet (seeded init) for one epoch over `config.train_images` synthetic
/// faces, then take its logits on the self-test images `x`.
async fn train_check(config: &SelfTestConfig, device: &Device, x: Tensor<4>) -> Result<TrainCheck, SelfTestError> {
    if config.train_images == 0 {
        return Ok(TrainCheck::default());
    }
    let batch = config.data.generate(config.images as u64, config.train_images)?;
    let (h, w) = (batch.image.height as usize, batch.image.width as usize);
    let model = ResNetConfig::compact(2).init_seeded(config.weight_seed, device);
    let mut losses = Vec::new();
    let data = TrainData { pixels: &batch.pixels, targets: &batch.target, image: [3, h, w] };
    let outcome = biaslens_model::train(model, data, &config.train, device, &mut NoHook, |p| losses.push(p.loss), || false).await?;
    let trained = outcome.model;

    // Debiasing on this device: the training images serve as the debias split.
    let debias = biaslens_debias::DebiasData {
        pixels: &batch.pixels,
        targets: &batch.target,
        attribute: &batch.attribute,
        image: [3, h, w],
    };
    let thr = biaslens_debias::thr_opt(trained.clone(), debias, &biaslens_debias::ThrOptConfig::new(), device, |_| {}, || false).await?;
    let pc = biaslens_debias::p_clarc(trained.clone(), debias, &biaslens_debias::PClarcConfig::new(), device, |_| {}, || false).await?;
    // A small learning rate keeps the 4 steps far from flipping any argmax between devices (the
    // penalty uses the predicted class of each image), so the devices can be compared step by step.
    let rr_config = biaslens_debias::RrClarcConfig::new().with_batch_size(8).with_learning_rate(1e-4);
    let rr = biaslens_debias::rr_clarc(trained.clone(), debias, &rr_config, device, |_| {}, || false).await?;

    let mut rb = Readback::new();
    let (after, clarc) = (rb.push(trained.forward(x.clone())), rb.push(pc.model.forward(x)?));
    let mut read = rb.execute().await?;
    let (logits_after, p_clarc_logits) = (read.take(after)?, read.take(clarc)?);
    Ok(TrainCheck {
        losses,
        logits_after,
        thr_opt: [thr.threshold, thr.eo_gap],
        p_clarc_logits,
        rr_clarc_penalties: rr.penalties,
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

        // The ResNet part: logit × one-hot output relevance is the target logit; maps are finite,
        // not all zero, one per image; the IG delta is small against ½ z_t² it integrates.
        let r = &a.resnet;
        assert_eq!(r.lrp_maps.len(), n * a.image.pixels());
        assert_eq!(r.ig_maps.len(), n * a.image.pixels());
        for i in 0..n {
            let t = usize::from(a.target[i]);
            let z = r.logits[2 * i + t];
            assert!((r.lrp_output_sum[i] - z).abs() <= 1e-6 * z.abs().max(1.0), "image {i}");
            assert!(r.ig_delta[i].is_finite());
            assert!((0.0..=1.0).contains(&r.lrp_roi_fraction[i]) && (0.0..=1.0).contains(&r.ig_roi_fraction[i]));
        }
        for maps in [&r.lrp_maps, &r.ig_maps] {
            assert!(maps.iter().all(|v| v.is_finite()) && maps.iter().any(|&v| v != 0.0));
        }
        // The training check: 32 images in batches of 8 are 4 steps; the trained network differs
        // from its seeded start.
        assert_eq!(a.train.losses.len(), 4);
        assert!(a.train.losses.iter().all(|l| l.is_finite() && *l > 0.0));
        assert_eq!(a.train.logits_after.len(), 2 * n);
        assert!(a.train.logits_after.iter().zip(&r.logits).any(|(x, y)| (x - y).abs() > 1e-4));
        // Debiasing ran: a threshold inside ThrOpt's grid, P-ClArC's outputs, 4 RR-ClArC steps.
        assert!((0.1..=0.9).contains(&a.train.thr_opt[0]));
        assert_eq!(a.train.p_clarc_logits.len(), 2 * n);
        assert_eq!(a.train.rr_clarc_penalties.len(), 4);
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
