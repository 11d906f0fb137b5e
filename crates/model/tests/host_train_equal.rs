//! Training on host memory ([`biaslens_model::host_train`]) against burn's autodiff on the same
//! device, the reference the CPU path replaces: one step's logits, every parameter's gradient
//! and the BatchNorm running statistics; the evaluation-mode logits against burn's forward pass; the parameters after several Adam steps; and whole
//! runs of `train` (which takes the host path on the CPU) against the same loop through burn.
//!
//! Tolerances: both sides compute in float32 and differ only in summation order (whole-batch
//! GEMMs and float64 channel sums here, burn's per-image convolutions and reductions there), so
//! a gradient agrees to about 1e-6 relative L2 on these small networks; 1e-4 leaves room for
//! other CPUs' kernels and still fails any wrong term (a dropped BatchNorm mean term moves the
//! gradients by tens of percent). Adam divides by √v, so after several steps an element with a
//! near-zero gradient can move by a rounding-sized amount times lr; the parameters are held to
//! 1e-3 relative L2.

use biaslens_model::host_train::{HostTrainer, cross_entropy};
use biaslens_model::{BlockKind, ResNet, ResNetConfig};
use biaslens_rng::SplitMix64;
use burn::module::{ModuleVisitor, Param, ParamId};
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;

/// Every float parameter's id and values, in module order (the order the host trainer uses).
struct Collect(Vec<(ParamId, Vec<f32>)>, Vec<usize>);

impl ModuleVisitor for Collect {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let v = param.val().into_data().convert::<f32>().try_into_vec::<f32>().expect("f32");
        self.0.push((param.id, v));
        self.1.push(D);
    }
}

fn params(model: &ResNet) -> Vec<(ParamId, Vec<f32>)> {
    ranked(model).0
}

fn ranked(model: &ResNet) -> (Vec<(ParamId, Vec<f32>)>, Vec<usize>) {
    let mut c = Collect(Vec::new(), Vec::new());
    model.visit(&mut c);
    (c.0, c.1)
}

/// Relative L2 distance.
fn rel(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len());
    let num: f64 = a.iter().zip(b).map(|(x, y)| f64::from(x - y).powi(2)).sum();
    let den: f64 = b.iter().map(|y| f64::from(*y).powi(2)).sum();
    (num / den.max(1e-30)).sqrt()
}

fn config(kind: BlockKind) -> ResNetConfig {
    let mut c = ResNetConfig::compact(3);
    c.block = kind;
    c.layers = [1, 1, 1, 1];
    c.width = if kind == BlockKind::Basic { 8 } else { 4 };
    c
}

fn batch(seed: u64, n: usize, size: usize, classes: usize) -> (Vec<f32>, Vec<usize>) {
    let mut rng = SplitMix64::new(seed);
    let x = (0..n * 3 * size * size).map(|_| (rng.next_u64() >> 40) as f32 / (1u64 << 24) as f32 - 0.5).collect();
    let y = (0..n).map(|_| (rng.next_u64() % classes as u64) as usize).collect();
    (x, y)
}

/// burn's step, as `train` runs it: train-mode forward on the autodiff device, cross-entropy,
/// backward, Adam with PyTorch's ε. Returns (logits, gradients in module order, updated model).
fn burn_step(
    model: ResNet,
    optim: &mut ModuleOptimizer,
    x: &[f32],
    y: &[usize],
    size: usize,
    lr: f64,
    device: &Device,
) -> (Vec<f32>, Vec<Vec<f32>>, ResNet) {
    let ad = device.clone().autodiff();
    let n = y.len();
    let xt = Tensor::<4>::from_data(TensorData::new(x.to_vec(), [n, 3, size, size]), &ad);
    let yt = Tensor::<1, Int>::from_data(TensorData::new(y.iter().map(|&v| v as i64).collect::<Vec<_>>(), [n]), &ad);
    let logits = model.forward(xt);
    let lv = logits.clone().detach().into_data().convert::<f32>().try_into_vec::<f32>().expect("f32");
    let loss = CrossEntropyLossConfig::new().init(&ad).forward(logits, yt);
    let grads = GradientsParams::from_grads(loss.backward(), &model);
    let (ids, ranks) = ranked(&model);
    let mut gs = Vec::new();
    for ((id, v), rank) in ids.iter().zip(ranks) {
        // The visit includes BatchNorm's running statistics, which have no gradient.
        let Some(g) = (match rank {
            4 => grads.get::<4>(*id).map(Tensor::into_data),
            2 => grads.get::<2>(*id).map(Tensor::into_data),
            _ => grads.get::<1>(*id).map(Tensor::into_data),
        }) else {
            continue;
        };
        assert_eq!(g.num_elements(), v.len());
        gs.push(g.convert::<f32>().try_into_vec::<f32>().expect("f32"));
    }
    let model = optim.step(lr, model, grads);
    (lv, gs, model)
}

fn running_stats(model: &ResNet) -> Vec<f32> {
    let mut v = Vec::new();
    let mut push = |bn: &burn::nn::BatchNorm| {
        for t in [bn.running_mean.value(), bn.running_var.value()] {
            v.extend(t.into_data().convert::<f32>().try_into_vec::<f32>().expect("f32"));
        }
    };
    push(&model.bn1);
    for stage in model.stages() {
        for b in stage {
            match b {
                biaslens_model::Block::Basic(b) => {
                    push(&b.bn1);
                    push(&b.bn2);
                    if let Some(d) = &b.downsample {
                        push(&d.bn);
                    }
                }
                biaslens_model::Block::Bottleneck(b) => {
                    push(&b.bn1);
                    push(&b.bn2);
                    push(&b.bn3);
                    if let Some(d) = &b.downsample {
                        push(&d.bn);
                    }
                }
            }
        }
    }
    v
}

#[test]
fn a_host_step_equals_burns_autodiff_step() {
    let device = Device::flex();
    for (kind, size, seed) in [(BlockKind::Basic, 40, 1u64), (BlockKind::Bottleneck, 36, 2)] {
        let model = config(kind).init_seeded(seed, &device);
        let mut trainer = HostTrainer::new(&model, biaslens_model::TORCH_ADAM_EPSILON).expect("read").expect("covered");
        let mut optim = AdamConfig::new().with_epsilon(biaslens_model::TORCH_ADAM_EPSILON).init();
        let mut reference = model.train();
        let lr = 1e-3;
        for step in 0..4 {
            // The reference starts each step from the host's parameters (ids kept, so burn's
            // Adam state carries on): Adam turns a rounding-sized difference in a near-zero
            // gradient into a step of ±lr, so without this the two would drift apart by design.
            reference = trainer.write(reference.valid()).train();
            let (x, y) = batch(seed * 100 + step, 6, size, 3);
            let (want_logits, want_grads, next) = burn_step(reference, &mut optim, &x, &y, size, lr, &device);
            reference = next;
            let got = trainer
                .step(&x, [6, 3, size, size], lr, |l| cross_entropy(l, &y, 3).1)
                .expect("step");
            let d = rel(&got.logits, &want_logits);
            assert!(d < 1e-4, "{kind:?} step {step}: logits differ by {d:.2e}");
            let grads = trainer.gradients();
            assert_eq!(grads.len(), want_grads.len(), "one gradient per parameter");
            for (i, (g, w)) in grads.iter().zip(&want_grads).enumerate() {
                let d = rel(g, w);
                assert!(d < 1e-4, "{kind:?} step {step}: gradient of parameter {i} differs by {d:.2e}");
            }
        }
        let trained = trainer.write(config(kind).init_seeded(seed, &device));
        let want = reference.valid();
        // Evaluation mode (running statistics) on host memory against burn's forward pass.
        let (x, _) = batch(seed * 100 + 9, 5, size, 3);
        let got = trainer.logits(&x, [5, 3, size, size]).expect("evaluation");
        let xt = Tensor::<4>::from_data(TensorData::new(x.clone(), [5, 3, size, size]), &device);
        let burn_logits = trained.forward(xt).into_data().convert::<f32>().try_into_vec::<f32>().expect("f32");
        let d = rel(&got, &burn_logits);
        assert!(d < 1e-4, "{kind:?}: evaluation-mode logits differ by {d:.2e}");
        for (i, ((_, g), (_, w))) in params(&trained).iter().zip(&params(&want)).enumerate() {
            let d = rel(g, w);
            assert!(d < 1e-3, "{kind:?}: parameter {i} after the fourth Adam step differs by {d:.2e}: {:?} vs {:?}", &g[..4.min(g.len())], &w[..4.min(w.len())]);
        }
        let d = rel(&running_stats(&trained), &running_stats(&want));
        assert!(d < 1e-4, "{kind:?}: running statistics differ by {d:.2e}");
    }
}

/// The loss's gradient at the logits is `(softmax − one-hot)/B`, checked by central differences
/// of the returned loss; the count of correct rows takes the first maximum.
#[test]
fn cross_entropy_gradient_matches_finite_differences() {
    let logits = vec![0.3f32, -1.2, 2.0, 0.5, 0.5, -0.7];
    let targets = [2usize, 0];
    let (loss, grad, correct) = cross_entropy(&logits, &targets, 3);
    let want = ((-(2.0f64.exp() / (0.3f64.exp() + (-1.2f64).exp() + 2.0f64.exp())).ln())
        - (0.5f64.exp() / (2.0 * 0.5f64.exp() + (-0.7f64).exp())).ln())
        / 2.0;
    assert!((f64::from(loss) - want).abs() < 1e-6, "{loss} vs {want}");
    assert_eq!(correct, 2, "row 1 ties at 0.5: the first maximum, class 0, is its target");
    for i in 0..logits.len() {
        let h = 1e-3f32;
        let (mut up, mut down) = (logits.clone(), logits.clone());
        up[i] += h;
        down[i] -= h;
        let fd = (cross_entropy(&up, &targets, 3).0 - cross_entropy(&down, &targets, 3).0) / (2.0 * h);
        assert!((fd - grad[i]).abs() < 1e-3, "logit {i}: {fd} vs {}", grad[i]);
    }
}

/// A hook that changes nothing but does not say so, which keeps `train` on burn's autodiff.
struct Opaque;
impl biaslens_model::ForwardHook for Opaque {}

/// `train` on the CPU takes the host path; the same run through burn (a hook that is not known to
/// be the identity keeps it there) gives the same loss and accuracy at every step, and the same
/// network, for a whole seeded run of several epochs.
#[test]
fn train_on_host_follows_burns_run() {
    use biaslens_model::{NoHook, TrainConfig, TrainData, train};
    let device = Device::flex();
    let size = 32;
    let (x, y) = batch(7, 40, size, 2);
    let targets: Vec<u8> = y.iter().map(|&v| v as u8).collect();
    let data = TrainData { pixels: &x, targets: &targets, image: [3, size, size] };
    let config = TrainConfig::new().with_learning_rate(1e-3).with_batch_size(16).with_epochs(3).with_seed(5);
    let run = |hook: &mut dyn biaslens_model::ForwardHook| {
        let model = config_2().init_seeded(3, &device);
        let mut curve = Vec::new();
        let out = pollster::block_on(train(model, data, &config, &device, hook, |p| curve.push((p.loss, p.accuracy)), || false))
            .expect("trains");
        (out, curve)
    };
    let covered = HostTrainer::new(&config_2().init_seeded(3, &device), 1e-8).expect("read");
    assert!(covered.is_some(), "the host kernels cover this network, so `train` takes the host path");
    let (host, host_curve) = run(&mut NoHook);
    let (reference, reference_curve) = run(&mut Opaque);
    assert_eq!(host.steps, 9);
    assert_eq!(host_curve.len(), reference_curve.len());
    for (i, ((hl, ha), (rl, ra))) in host_curve.iter().zip(&reference_curve).enumerate() {
        assert!((hl - rl).abs() < 1e-3 * rl.abs(), "step {i}: loss {hl} vs {rl}");
        assert_eq!(ha, ra, "step {i}: batch accuracy");
    }
    for (i, ((_, g), (_, w))) in params(&host.model).iter().zip(&params(&reference.model)).enumerate() {
        let d = rel(g, w);
        assert!(d < 1e-3, "parameter {i} after the run differs by {d:.2e}");
    }
}

fn config_2() -> ResNetConfig {
    let mut c = config(BlockKind::Basic);
    c.num_classes = 2;
    c
}
