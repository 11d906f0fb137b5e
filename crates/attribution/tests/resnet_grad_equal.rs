//! The hand-written ResNet backward walk (`ResNetGrad`, `resnet_input_grad`) equals burn
//! autodiff's input gradient of the same function: ResNet-18 and ResNet-50 (Bottleneck) with the
//! formula weights of `tests/reference/model_reference.py` (BatchNorm with non-trivial γ, β and
//! running statistics), at odd, non-square sizes (so every transposed convolution needs its output
//! padding), with and without a ClArC-style hook (the authors' detached correction, whose
//! Jacobian is the identity, and an undetached projection, whose Jacobian is not) and with a
//! per-row soft threshold on the logits (DetoxAI's output hook), for both output relevances; and
//! Integrated Gradients, chunked, through both paths; and the host forward pass (`host_logits`)
//! against the model's own. Without a hook the walk runs on host memory
//! on the CPU (`resnet_host.rs`, whole-pass matrix products); each no-hook case is checked on
//! that path and on the tensor walk a GPU runs (`on_host(false)`), against the same autodiff
//! gradient.
//!
//! Tolerance: the forward pass runs the same float32 operations as `ResNet::forward_hooked`, so
//! the ReLU masks and max-pool arg maxes are identical and only the backward's rounding differs
//! (BatchNorm's scale merged into the transposed convolution's weight instead of applied to the
//! gradient, summation order in the transposed convolutions). Float32 rounding over a chain of
//! ~50 layers with sums of up to 4608 terms gives relative errors of order 1e-6; measured
//! (2026-12-04, flex): ResNet-18 at most 6.2e-7 of max|grad| and relative L2 5.7e-7, ResNet-50
//! 1.6e-6 and 1.1e-6, IG 2.2e-7 and 3.1e-7 (the printed lines). Bound: 1e-5 of max|grad| per
//! element and 1e-5 relative L2, several times the rounding and a thousand times below a real
//! mistake: passing the gradient through the Layer2 projection unchanged (skipping its VJP) is
//! off by 1.3e-2.

use biaslens_attribution::{
    AttributionError, Baseline, IgConfig, OutputRelevance, ResNetGrad, gradient, gradient_with,
    integrated_gradients, integrated_gradients_with, resnet_input_grad,
};
use biaslens_model::{ForwardHook, ResNet, Tap};
use burn::module::Module;
use burn::prelude::*;
use burn::tensor::activation::{sigmoid, softmax};

mod common;
use common::{compare, reference_input, reference_resnet, to_vec};

/// Per element, relative to max|reference|; and relative L2.
const TOL: f64 = 1e-5;

/// `x ↦ x − α((x' − z)·v) vᵀ` on the flattened activation at `tap`, with `x' = x.detach()`
/// (DetoxAI's ClArC hook) or `x' = x` (a true projection). `v` and `z` are fixed formulas of the
/// activation's size.
#[derive(Clone)]
struct Projection {
    tap: Tap,
    detach: bool,
    alpha: f32,
}

impl Projection {
    fn project(&self, x: Tensor<2>) -> Tensor<2> {
        let [_, d] = x.dims();
        let device = x.device();
        let raw: Vec<f32> = (0..d).map(|i| ((i as f32) * 0.731).sin() + 0.3).collect();
        let norm = raw.iter().map(|v| v * v).sum::<f32>().sqrt();
        let v: Vec<f32> = raw.iter().map(|r| r / norm).collect();
        let z: Vec<f32> = (0..d).map(|i| 0.05 * ((i as f32) * 0.177).cos()).collect();
        let v = Tensor::<2>::from_data(TensorData::new(v, [d, 1]), &device);
        let z = Tensor::<2>::from_data(TensorData::new(z, [1, d]), &device);
        let xs = if self.detach {
            x.clone().detach()
        } else {
            x.clone()
        };
        let along = (xs - z).matmul(v.clone());
        x - along.matmul(v.transpose()).mul_scalar(self.alpha)
    }
}

impl ForwardHook for Projection {
    fn feature_map(&mut self, tap: Tap, x: Tensor<4>) -> Tensor<4> {
        if tap != self.tap {
            return x;
        }
        let dims = x.dims();
        let [n, c, h, w] = dims;
        self.project(x.reshape([n, c * h * w])).reshape(dims)
    }

    fn pooled(&mut self, x: Tensor<2>) -> Tensor<2> {
        if self.tap == Tap::Pooled {
            self.project(x)
        } else {
            x
        }
    }
}

/// DetoxAI's soft threshold `[1 − s, s]`, `s = σ(T (softmax(z)₁ − t_r))`, with the threshold of
/// row `r` taken from `thresholds[r mod thresholds.len()]` (a per-group threshold).
fn threshold(logits: Tensor<2>, thresholds: &[f32]) -> Tensor<2> {
    let [rows, _] = logits.dims();
    let t: Vec<f32> = (0..rows)
        .map(|r| thresholds[r % thresholds.len()])
        .collect();
    let t = Tensor::<2>::from_data(TensorData::new(t, [rows, 1]), &logits.device());
    let p1 = softmax(logits, 1).narrow(1, 1, 1);
    let s = sigmoid((p1 - t).mul_scalar(10.0));
    Tensor::cat(vec![s.clone().neg().add_scalar(1.0), s], 1)
}

fn check(name: &str, ours: Tensor<4>, reference: Tensor<4>) {
    let (ours, reference) = (to_vec(ours), to_vec(reference));
    let scale = reference.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    assert!(scale > 0.0, "{name}: the reference gradient is zero");
    let (_, max, l2) = compare(&ours, &reference, TOL);
    println!("{name}: max {max:.2e} of max|ref|, rel L2 {l2:.2e}");
    assert!(
        max <= TOL && l2 <= TOL,
        "{name}: max {max:e}, rel L2 {l2:e}"
    );
}

/// The thresholds of the two images (per group).
const THRESHOLDS: [f32; 2] = [0.45, 0.6];

fn compare_model(arch: &str, model: &ResNet, x: &Tensor<4>, targets: &[usize]) {
    let hooks = [
        None,
        Some(Projection {
            tap: Tap::Pooled,
            detach: true,
            alpha: 1.0,
        }),
        Some(Projection {
            tap: Tap::Layer2,
            detach: false,
            alpha: 0.8,
        }),
        Some(Projection {
            tap: Tap::Stem,
            detach: false,
            alpha: 0.5,
        }),
    ];
    let out_fn =
        |l: Tensor<2>| -> Result<Tensor<2>, AttributionError> { Ok(threshold(l, &THRESHOLDS)) };
    for hook in hooks {
        for transform in [false, true] {
            for relevance in [OutputRelevance::OneHot, OutputRelevance::LogitOneHot] {
                let name = format!(
                    "{arch} hook {:?} threshold {transform} {relevance:?}",
                    hook.as_ref().map(|h| (h.tap, h.detach))
                );
                let forward = |x: Tensor<4>| {
                    let logits = match &hook {
                        Some(h) => model.forward_hooked(x, &mut h.clone()),
                        None => model.forward(x),
                    };
                    if transform {
                        threshold(logits, &THRESHOLDS)
                    } else {
                        logits
                    }
                };
                let (want, want_out) =
                    gradient(forward, x.clone(), targets, relevance).expect("autodiff");
                // Without a hook, both the host walk (the CPU's) and the tensor walk (the
                // GPU's); a hook always takes the tensor walk.
                let paths: &[bool] = if hook.is_none() { &[true, false] } else { &[true] };
                for &on_host in paths {
                    let name = format!("{name} on_host {on_host}");
                    let mut walk = ResNetGrad::new(model).expect("walk").on_host(on_host);
                    if let Some(h) = hook.clone() {
                        walk = walk.with_hook(h);
                    }
                    if transform {
                        walk = walk.with_output(out_fn);
                    }
                    let (got, got_out) =
                        gradient_with(&mut walk, x.clone(), targets, relevance).expect("walk");
                    check(&name, got, want.clone());
                    let (a, b) = (to_vec(got_out), to_vec(want_out.clone().inner()));
                    let out_err = a
                        .iter()
                        .zip(&b)
                        .fold(0.0f64, |m, (p, q)| m.max((p - q).abs()));
                    assert!(out_err < 1e-6, "{name}: outputs differ by {out_err:e}");
                }
            }
        }
    }
}

/// `ResNetGrad::host_logits` (the evaluation stage's forward pass on the CPU) equals the model's
/// own forward pass to float32 summation order (same bound as the gradients), and declines
/// (`None`) where the host walk does not apply: with a hook, or with the host walk switched off.
fn check_host_logits(arch: &str, model: &ResNet, x: &Tensor<4>) {
    let want = to_vec(model.forward(x.clone()).reshape([-1, 1, 1, 1]));
    let mut walk = ResNetGrad::new(model).expect("walk");
    let got = walk.host_logits(x.clone()).expect("host logits").expect("flex is a CPU device");
    let got = to_vec(got.reshape([-1, 1, 1, 1]));
    let (_, max, l2) = compare(&got, &want, TOL);
    println!("{arch} host logits: max {max:.2e} of max|ref|, rel L2 {l2:.2e}");
    assert!(max <= TOL && l2 <= TOL, "{arch} host logits: max {max:e}, rel L2 {l2:e}");
    let hook = Projection { tap: Tap::Pooled, detach: true, alpha: 1.0 };
    let mut hooked = ResNetGrad::new(model).expect("walk").with_hook(hook);
    assert!(hooked.host_logits(x.clone()).expect("no error").is_none(), "{arch}: a hook must decline");
    let mut off = ResNetGrad::new(model).expect("walk").on_host(false);
    assert!(off.host_logits(x.clone()).expect("no error").is_none(), "{arch}: on_host(false) must decline");
}

/// ResNet-18: gradients of every hook/transform/relevance combination, and the plain function
/// `resnet_input_grad` with an arbitrary gradient at the logits.
#[test]
fn resnet18_walk_equals_autodiff() {
    let device = Device::flex();
    let model = reference_resnet("resnet18", 2016, 2, &device).freeze();
    let x = reference_input(2016, "walk:50x38", [2, 3, 50, 38], &device);
    compare_model("resnet18", &model, &x, &[1, 0]);
    check_host_logits("resnet18", &model, &x);

    // Any gradient at the logits: the VJP of a fixed vector.
    let v = Tensor::<2>::from_data(
        TensorData::new(vec![0.3f32, -1.2, 0.7, 0.25], [2, 2]),
        &device,
    );
    let xa = x.clone().autodiff().require_grad();
    let logits = model.forward(xa.clone());
    let grads = (logits * v.clone()).sum().backward();
    let want = xa.grad(&grads).expect("grad");
    let (got, _) = resnet_input_grad(&model, None, x.clone(), |_| Ok(v.clone())).expect("walk");
    check("resnet18 VJP of a fixed vector", got, want);
    // A gradient of the wrong shape is an error, not a panic.
    let err = resnet_input_grad(&model, None, x, |_| Ok(Tensor::zeros([2, 3], &device)));
    assert!(matches!(err, Err(AttributionError::Config(_))), "{err:?}");
}

/// ResNet-50 (Bottleneck blocks, stride on the 3×3, projection shortcuts).
#[test]
fn resnet50_walk_equals_autodiff() {
    let device = Device::flex();
    let model = reference_resnet("resnet50", 2016, 2, &device).freeze();
    let x = reference_input(2016, "walk:45x35", [2, 3, 45, 35], &device);
    compare_model("resnet50", &model, &x, &[0, 1]);
    check_host_logits("resnet50", &model, &x);
}

/// Integrated Gradients through the walk equals IG through autodiff: chunked (3 steps per
/// chunk of 7), with the undetached hook and the per-image threshold, so rows of several path
/// points are matched to their image's threshold alike on both paths; the completeness deltas
/// agree too.
#[test]
fn integrated_gradients_through_the_walk_equal_autodiff() {
    let device = Device::flex();
    let model = reference_resnet("resnet18", 2016, 2, &device).freeze();
    let x = reference_input(2016, "walk:40x40", [2, 3, 40, 40], &device);
    let x2 = x.clone();
    let targets = [1usize, 0];
    let hook = Projection {
        tap: Tap::Layer3,
        detach: false,
        alpha: 0.9,
    };
    let config = IgConfig::captum().with_steps(7).with_steps_per_chunk(3);
    let forward = |x: Tensor<4>| threshold(model.forward_hooked(x, &mut hook.clone()), &THRESHOLDS);
    let want = integrated_gradients(
        forward,
        x.clone(),
        &targets,
        &config,
        None,
        || false,
        |_| {},
    )
    .expect("autodiff IG");
    let out_fn =
        |l: Tensor<2>| -> Result<Tensor<2>, AttributionError> { Ok(threshold(l, &THRESHOLDS)) };
    let mut walk = ResNetGrad::new(&model)
        .expect("walk")
        .with_hook(hook.clone())
        .with_output(out_fn);
    let mut seen = Vec::new();
    let got = integrated_gradients_with(
        &mut walk,
        x,
        &targets,
        &config,
        None,
        || false,
        |p| seen.push(p.done),
    )
    .expect("walk IG");
    assert_eq!(seen, vec![1, 2, 3]);
    check("IG resnet18 Layer3 hook + threshold", got.map, want.map);
    let (a, b) = (to_vec(got.delta), to_vec(want.delta));
    for (p, q) in a.iter().zip(&b) {
        assert!((p - q).abs() < 1e-6, "deltas {a:?} vs {b:?}");
    }

    // Without a hook, through the host walk (forward passes for the end points included), which
    // convolves the stem once per path (`GradModel::path_grad`): from a zero baseline, and from a
    // blurred one, where a point's stem output is conv(b) + α·conv(x − b) with conv(b) ≠ 0; one
    // walk for both, so the second path must not reuse the first one's stem.
    let forward = |x: Tensor<4>| threshold(model.forward(x), &THRESHOLDS);
    let mut walk = ResNetGrad::new(&model).expect("walk").with_output(out_fn);
    for (name, config) in [
        ("zero", config.clone()),
        ("blurred", config.clone().with_baseline(Baseline::Blurred { sigma: 3.0 })),
    ] {
        let want = integrated_gradients(forward, x2.clone(), &targets, &config, None, || false, |_| {})
            .expect("autodiff IG");
        let got =
            integrated_gradients_with(&mut walk, x2.clone(), &targets, &config, None, || false, |_| {})
                .expect("host walk IG");
        check(&format!("IG resnet18 threshold, host walk, {name} baseline"), got.map, want.map);
        let (a, b) = (to_vec(got.delta), to_vec(want.delta));
        for (p, q) in a.iter().zip(&b) {
            assert!((p - q).abs() < 1e-6, "{name}: deltas {a:?} vs {b:?}");
        }
    }
}
