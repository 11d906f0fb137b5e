//! `biaslens attribute`: attribution maps of a torchvision ResNet for a `.npy` batch, written as
//! `.npy`, so researchers can script them next to Zennit and Captum.
//!
//! Methods: LRP (Bach et al. 2015, Zennit 1.0's composites and ResNet canonizer), Integrated
//! Gradients (Sundararajan et al. 2017, Captum 0.9's quadrature or Zennit's variant), the plain
//! gradient, gradient × input and SmoothGrad (Smilkov et al. 2017). The defaults are the paper's
//! settings (`docs/METHODS.md#attribution`): LRP EpsilonPlus without canonizer and IG as Zennit
//! computes it, both with logit × one-hot output relevance of the target. A JSON summary goes to
//! stdout: per image the target, its logit and the sanity number of the method (LRP input and
//! output relevance sums, IG completeness delta). The gradient methods differentiate the ResNet by
//! the hand-written backward walk of `biaslens_attribution::ResNetGrad` (equal to autodiff).

use std::path::PathBuf;

use anyhow::{Context, bail};
use biaslens_attribution::{
    Baseline, Composite, IgConfig, IgMethod, LrpConfig, OutputRelevance, ResNetGrad,
    SmoothGradConfig, gradient_with, integrated_gradients_with, lrp_resnet, smooth_grad_with,
};
use biaslens_experiment::resources::{DeviceLimits, images_fitting};
use biaslens_npy::{NpyArray, NpyData};
use burn::module::Module;
use burn::prelude::*;
use serde_json::json;

use crate::load::{self, Arch};

/// Attribution method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Method {
    /// Layer-wise Relevance Propagation (`--composite`, `--canonize`).
    Lrp,
    /// Integrated Gradients (`--ig`, `--steps`, `--ig-method`, `--baseline`).
    Ig,
    /// The input gradient.
    Gradient,
    /// Gradient × input.
    GradientXInput,
    /// SmoothGrad (`--samples`, `--noise`, `--seed`).
    Smoothgrad,
}

/// LRP composite (Zennit's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CompositeArg {
    /// ZPlus for convolutions, Epsilon for fc (the paper's).
    EpsilonPlus,
    /// EpsilonPlus with Flat on the first convolution.
    EpsilonPlusFlat,
    /// ZBox (`--low`, `--high`) on the first convolution, Gamma (`--gamma`) on the others.
    EpsilonGammaBox,
    /// AlphaBeta(2, 1) for convolutions, Epsilon for fc.
    EpsilonAlpha2Beta1,
}

/// IG flavour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum IgFlavour {
    /// Zennit 1.0's IntegratedGradients as the paper called it: 20 right-Riemann steps, logit ×
    /// one-hot output.
    Zennit,
    /// Captum 0.9's defaults: 50 Gauss–Legendre steps, one-hot output.
    Captum,
}

/// Quadrature rule of IG.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum IgMethodArg {
    /// Captum `riemann_left`.
    RiemannLeft,
    /// Captum `riemann_right` (Zennit's rule).
    RiemannRight,
    /// Captum `riemann_middle`.
    RiemannMiddle,
    /// Captum `riemann_trapezoid`.
    RiemannTrapezoid,
    /// Captum `gausslegendre`.
    GaussLegendre,
}

/// IG baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BaselineArg {
    /// All zeros.
    Zero,
    /// The input blurred with `--blur-sigma`.
    Blurred,
    /// Each channel at its mean over the image.
    Mean,
}

/// Output relevance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputArg {
    /// The target logit times its one-hot (Zennit as the paper called it).
    Logit,
    /// The one-hot of the target (Captum's `target=`).
    Onehot,
}

/// Arguments of `biaslens attribute`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Weights: a torchvision state dict in `.safetensors`.
    #[arg(long)]
    pub weights: PathBuf,
    /// Network architecture the weights belong to.
    #[arg(long, value_enum, default_value = "resnet50")]
    pub arch: Arch,
    /// Input batch: `.npy`, float32 or float64, N×3×H×W, as the network expects it.
    #[arg(long)]
    pub input: PathBuf,
    /// Where to write the maps (`.npy`, float32, N×3×H×W).
    #[arg(long)]
    pub output: PathBuf,
    /// Attribution method.
    #[arg(long, value_enum, default_value = "lrp")]
    pub method: Method,
    /// Target class of every image: `predicted` or a class index. Overridden by `--labels`.
    #[arg(long, default_value = "predicted")]
    pub target: String,
    /// Per-image target classes (e.g. the true labels): `.npy` of N integers.
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// Output relevance (default: logit for LRP and Zennit IG, one-hot otherwise).
    #[arg(long, value_enum)]
    pub output_relevance: Option<OutputArg>,
    /// LRP composite.
    #[arg(long, value_enum, default_value = "epsilon-plus")]
    pub composite: CompositeArg,
    /// Apply Zennit's ResNet canonizer (BatchNorm merged, residual sums split proportionally).
    #[arg(long)]
    pub canonize: bool,
    /// ZBox lower pixel bound (EpsilonGammaBox).
    #[arg(long, default_value_t = 0.0)]
    pub low: f64,
    /// ZBox upper pixel bound (EpsilonGammaBox).
    #[arg(long, default_value_t = 1.0)]
    pub high: f64,
    /// Gamma of EpsilonGammaBox.
    #[arg(long, default_value_t = 0.25)]
    pub gamma: f64,
    /// IG defaults to start from.
    #[arg(long, value_enum, default_value = "zennit")]
    pub ig: IgFlavour,
    /// IG path points (default: 20 for Zennit, 50 for Captum).
    #[arg(long)]
    pub steps: Option<usize>,
    /// IG quadrature rule (default: the flavour's).
    #[arg(long, value_enum)]
    pub ig_method: Option<IgMethodArg>,
    /// IG baseline.
    #[arg(long, value_enum, default_value = "zero")]
    pub baseline: BaselineArg,
    /// Standard deviation of the blurred baseline, in pixels.
    #[arg(long, default_value_t = 5.0)]
    pub blur_sigma: f64,
    /// SmoothGrad noisy copies per image.
    #[arg(long, default_value_t = 50)]
    pub samples: usize,
    /// SmoothGrad noise level (fraction of each image's value range).
    #[arg(long, default_value_t = 0.15)]
    pub noise: f64,
    /// Seed of SmoothGrad's noise.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Images per pass: a number, or `auto` (the most that keep one pass's tensors within
    /// 1 GiB on the CPU, or within the GPU's limits, by the ResNet's activation count; at most
    /// 64).
    #[arg(long, default_value = "auto", value_parser = parse_batch_size)]
    pub batch_size: BatchSize,
    #[command(flatten)]
    pub device: crate::device::DeviceArgs,
}

/// Images per pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchSize {
    /// From the memory estimate ([`auto_batch`]).
    Auto,
    /// This many (at least 1).
    Images(usize),
}

fn parse_batch_size(s: &str) -> Result<BatchSize, String> {
    match s {
        "auto" => Ok(BatchSize::Auto),
        _ => match s.parse::<usize>() {
            Ok(n) if n >= 1 => Ok(BatchSize::Images(n)),
            _ => Err(format!("`{s}` is neither `auto` nor a whole number of images (at least 1)")),
        },
    }
}

/// The most images `auto` puts in one pass.
const AUTO_MAX_IMAGES: usize = 64;
/// What one pass's tensors may take on the CPU under `auto`.
const AUTO_CPU_BYTES: u64 = 1 << 30;

/// Images per pass for `auto`: the most (up to [`AUTO_MAX_IMAGES`] and `images`) whose pass
/// keeps its tensors within `limits` (GPU) or [`AUTO_CPU_BYTES`] (CPU), by the activation count
/// of `net` on `side` (`biaslens_experiment::resources::images_fitting`, the estimate runs are
/// checked with), `points` rows per image (IG's steps or SmoothGrad's samples in one pass),
/// twice for a backward pass. At least 1.
fn auto_batch(
    net: &biaslens_model::ResNetConfig,
    side: (usize, usize),
    points: usize,
    backward: bool,
    limits: Option<DeviceLimits>,
    images: usize,
) -> usize {
    let limits = limits.unwrap_or(DeviceLimits { max_buffer_bytes: u64::MAX, memory_bytes: AUTO_CPU_BYTES });
    images_fitting(net.block, &net.layers, net.width, side, points, backward, &limits)
        .clamp(1, AUTO_MAX_IMAGES)
        .min(images.max(1))
}

/// Per-image target classes from the flags, or `None` for the predicted class.
fn targets(args: &Args, n: usize, classes: usize) -> anyhow::Result<Option<Vec<usize>>> {
    if let Some(path) = &args.labels {
        let labels = biaslens_npy::read(path)
            .with_context(|| format!("reading labels {}", path.display()))?;
        let values: Vec<i64> = match labels.data {
            NpyData::I64(v) => v,
            NpyData::I32(v) => v.into_iter().map(i64::from).collect(),
            NpyData::U8(v) => v.into_iter().map(i64::from).collect(),
            NpyData::Bool(v) => v.into_iter().map(i64::from).collect(),
            other => bail!(
                "labels {} are {}; expected integers (int64, int32, uint8 or bool)",
                path.display(),
                other.dtype()
            ),
        };
        if values.len() != n {
            bail!(
                "labels {} hold {} values for {n} images; give one class per image",
                path.display(),
                values.len()
            );
        }
        return values
            .into_iter()
            .enumerate()
            .map(|(i, v)| match usize::try_from(v) {
                Ok(c) if c < classes => Ok(c),
                _ => bail!(
                    "label {v} of image {i} in {} is not a class of this model (0..{classes})",
                    path.display()
                ),
            })
            .collect::<anyhow::Result<Vec<_>>>()
            .map(Some);
    }
    match args.target.as_str() {
        "predicted" => Ok(None),
        s => match s.parse::<usize>() {
            Ok(c) if c < classes => Ok(Some(vec![c; n])),
            _ => bail!("--target must be `predicted` or a class index in 0..{classes}, got `{s}`"),
        },
    }
}

fn ig_config(args: &Args) -> IgConfig {
    let mut c = match args.ig {
        IgFlavour::Zennit => IgConfig::zennit(),
        IgFlavour::Captum => IgConfig::captum(),
    };
    if let Some(steps) = args.steps {
        c = c.with_steps(steps);
    }
    if let Some(m) = args.ig_method {
        c = c.with_method(match m {
            IgMethodArg::RiemannLeft => IgMethod::RiemannLeft,
            IgMethodArg::RiemannRight => IgMethod::RiemannRight,
            IgMethodArg::RiemannMiddle => IgMethod::RiemannMiddle,
            IgMethodArg::RiemannTrapezoid => IgMethod::RiemannTrapezoid,
            IgMethodArg::GaussLegendre => IgMethod::GaussLegendre,
        });
    }
    c.with_baseline(match args.baseline {
        BaselineArg::Zero => Baseline::Zero,
        BaselineArg::Blurred => Baseline::Blurred {
            sigma: args.blur_sigma,
        },
        BaselineArg::Mean => Baseline::Mean,
    })
}

fn values<const D: usize>(t: Tensor<D>) -> anyhow::Result<Vec<f32>> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .map_err(|e| anyhow::anyhow!("reading a result back: {e:?}"))
}

/// Run `attribute`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let chosen = args.device.open()?;
    let device = chosen.device;
    let (model, classes) = load::resnet(&args.weights, args.arch, &device)?;
    // Evaluation-mode BatchNorm even where the input goes through autodiff.
    let model = model.freeze();
    let (pixels, [n, c, h, w]) = load::image_batch(&args.input)?;
    let given = targets(&args, n, classes)?;
    let default_output = match args.method {
        Method::Lrp => OutputArg::Logit,
        Method::Ig if args.ig == IgFlavour::Zennit => OutputArg::Logit,
        _ => OutputArg::Onehot,
    };
    let relevance = match args.output_relevance.unwrap_or(default_output) {
        OutputArg::Logit => OutputRelevance::LogitOneHot,
        OutputArg::Onehot => OutputRelevance::OneHot,
    };
    let lrp_config = LrpConfig::paper()
        .with_canonize(args.canonize)
        .with_output(relevance)
        .with_composite(match args.composite {
            CompositeArg::EpsilonPlus => Composite::EpsilonPlus,
            CompositeArg::EpsilonPlusFlat => Composite::EpsilonPlusFlat,
            CompositeArg::EpsilonGammaBox => Composite::EpsilonGammaBox {
                low: args.low,
                high: args.high,
                gamma: args.gamma,
            },
            CompositeArg::EpsilonAlpha2Beta1 => Composite::EpsilonAlpha2Beta1,
        });
    lrp_config.validate()?;
    let ig = ig_config(&args).with_relevance(relevance);
    let sg = SmoothGradConfig {
        samples: args.samples,
        noise_level: args.noise,
        seed: args.seed,
        relevance,
        ..SmoothGradConfig::default()
    };
    let batch_size = match args.batch_size {
        BatchSize::Images(b) => b,
        BatchSize::Auto => {
            let (points, backward) = match args.method {
                Method::Lrp => (1, false),
                Method::Ig => (ig.steps_per_chunk.min(ig.steps), true),
                Method::Gradient | Method::GradientXInput => (1, true),
                Method::Smoothgrad => (sg.samples_per_chunk.min(sg.samples), true),
            };
            auto_batch(&load::config(args.arch, classes), (h, w), points, backward, chosen.limits, n)
        }
    };
    // The ResNet's gradients by the hand-written walk (layers prepared once for all batches).
    let mut walk = ResNetGrad::new(&model)?;
    let per_image = c * h * w;
    let mut maps = Vec::with_capacity(pixels.len());
    let mut images = Vec::with_capacity(n);
    for (b, chunk) in pixels.chunks(batch_size * per_image).enumerate() {
        let rows = chunk.len() / per_image;
        let first = b * batch_size;
        let x = Tensor::<4>::from_data(TensorData::new(chunk.to_vec(), [rows, c, h, w]), &device);
        // Targets of this batch: given, or the predicted class (for the gradient methods,
        // which take explicit classes).
        // On the CPU the walk's forward pass on host memory (whole-batch products; flex would
        // convolve image by image, a fifth of LRP's time here), else the model's own.
        let logits = match walk.host_logits(x.clone())? {
            Some(logits) => logits,
            None => model.forward(x.clone()),
        };
        let logits = values(logits)?;
        let batch_targets: Vec<usize> = match &given {
            Some(t) => t[first..first + rows].to_vec(),
            None => logits
                .chunks(classes)
                .map(|row| {
                    row.iter()
                        .enumerate()
                        .fold((0, f32::NEG_INFINITY), |best, (i, &v)| {
                            if v > best.1 { (i, v) } else { best }
                        })
                        .0
                })
                .collect(),
        };
        let mut sanity: Vec<serde_json::Value> = vec![json!({}); rows];
        let map = match args.method {
            Method::Lrp => {
                let out = lrp_resnet(&model, x, Some(&batch_targets), &lrp_config, None)?;
                let ins = values(out.input_sum)?;
                let outs = values(out.output_sum)?;
                for (i, s) in sanity.iter_mut().enumerate() {
                    *s = json!({"input_relevance_sum": ins[i], "output_relevance_sum": outs[i]});
                }
                out.map
            }
            Method::Ig => {
                let out = integrated_gradients_with(
                    &mut walk,
                    x,
                    &batch_targets,
                    &ig,
                    None,
                    || false,
                    |_| {},
                )?;
                let delta = values(out.delta)?;
                for (i, s) in sanity.iter_mut().enumerate() {
                    *s = json!({"completeness_delta": delta[i]});
                }
                out.map
            }
            Method::Gradient => gradient_with(&mut walk, x, &batch_targets, relevance)?.0,
            Method::GradientXInput => {
                gradient_with(&mut walk, x.clone(), &batch_targets, relevance)?.0 * x
            }
            Method::Smoothgrad => {
                smooth_grad_with(&mut walk, x, &batch_targets, &sg, || false, |_| {})?
            }
        };
        maps.extend(values(map)?);
        for (i, (t, s)) in batch_targets.iter().zip(sanity).enumerate() {
            images.push(json!({
                "image": first + i,
                "target": t,
                "target_logit": logits[i * classes + t],
                "sanity": s,
            }));
        }
    }
    let out = NpyArray::new(vec![n, c, h, w], NpyData::F32(maps))?;
    biaslens_npy::write(&args.output, &out)
        .with_context(|| format!("writing {}", args.output.display()))?;
    let summary = json!({
        "method": format!("{:?}", args.method),
        "batch_size": batch_size,
        "lrp": (args.method == Method::Lrp).then_some(&lrp_config),
        "ig": (args.method == Method::Ig).then_some(&ig),
        "images": images,
    });
    println!("{}", serde_json::to_string_pretty(&summary)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use biaslens_experiment::resources::resnet_activation_floats;
    use biaslens_model::ResNetConfig;

    /// Bytes one image of a pass keeps, counted independently of `auto_batch` (the activation
    /// count itself is checked by hand in `biaslens_experiment::resources`).
    fn per_image(net: &ResNetConfig, side: (usize, usize), points: u64, backward: bool) -> u64 {
        4 * resnet_activation_floats(net.block, &net.layers, net.width, side).1 * points * if backward { 2 } else { 1 }
    }

    #[test]
    fn auto_batch_is_the_most_images_within_the_budget() {
        // ResNet-50 at 224 px, LRP (one forward's tensors kept): far fewer than 64 fit in 1 GiB,
        // so the budget decides.
        let net = ResNetConfig::resnet50(2);
        let b = auto_batch(&net, (224, 224), 1, false, None, 1000);
        let one = per_image(&net, (224, 224), 1, false);
        assert!(b > 1 && b < AUTO_MAX_IMAGES, "{b}");
        assert!(b as u64 * one <= AUTO_CPU_BYTES && (b as u64 + 1) * one > AUTO_CPU_BYTES, "{b} images of {one} bytes");
        // A GPU's per-tensor limit binds before its total.
        let gpu = DeviceLimits { max_buffer_bytes: 64 << 20, memory_bytes: 8 << 30 };
        let g = auto_batch(&net, (224, 224), 1, false, Some(gpu), 1000);
        let largest = 4 * resnet_activation_floats(net.block, &net.layers, net.width, (224, 224)).0;
        assert!(g as u64 * largest <= 64 << 20 && (g as u64 + 1) * largest > 64 << 20, "{g}");
    }

    #[test]
    fn auto_batch_is_capped_and_never_zero() {
        let small = ResNetConfig::resnet18(2);
        assert_eq!(auto_batch(&small, (32, 32), 1, false, None, 1000), AUTO_MAX_IMAGES);
        assert_eq!(auto_batch(&small, (32, 32), 1, false, None, 5), 5, "no more than the images there are");
        // One image alone over the budget still runs, one at a time.
        assert_eq!(auto_batch(&ResNetConfig::resnet50(2), (2048, 2048), 50, true, None, 10), 1);
    }

    #[test]
    fn batch_size_flag_takes_auto_or_a_positive_count() {
        assert_eq!(parse_batch_size("auto"), Ok(BatchSize::Auto));
        assert_eq!(parse_batch_size("12"), Ok(BatchSize::Images(12)));
        for bad in ["0", "-3", "1.5", "many", ""] {
            assert!(parse_batch_size(bad).is_err(), "{bad}");
        }
    }
}
