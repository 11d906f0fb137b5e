//! Throughput (images/s) of LRP (EpsilonPlus, the paper's; and EpsilonGammaBox with the
//! canonizer) and IG-32 (Gauss–Legendre, zero baseline, 32 rows per pass as Captum's
//! `internal_batch_size=32`) for ResNet-18 and ResNet-50 (2 classes) at 64×64 and 224×224 on
//! the flex CPU device. LRP runs on host memory (what a CPU device runs, `lrp/host.rs`) and, as
//! `… tensor-trace`, through burn's tensor operations (what a GPU runs). IG runs through burn's
//! autodiff (`IG-32 autodiff`, a `forward` closure) and through the hand-written ResNet walk
//! (`ResNetGrad`, what the experiment and the CLI use for ResNets): on burn's tensors (`IG-32
//! walk`, what a GPU runs) and on host memory with whole-pass matrix products (`IG-32 host
//! walk`, what a CPU device runs; `IG-32 host walk stem per step` without the straight-path
//! shortcut of `GradModel::path_grad`); `-- IG-32` runs them all. Weights come from a seeded init;
//! throughput does not depend on them.
//!
//! `cargo bench -p biaslens-attribution --bench attribution [-- FILTER]`, next to
//! `.refenv/bin/python tests/reference/attribution_bench.py` (Zennit and Captum on the same
//! machine); both print one line per case, recorded in `BENCHMARKS.md`.

use std::time::Instant;

use biaslens_attribution::{
    Composite, GradModel, IgConfig, LrpConfig, LrpTrace, PointByPoint, ResNetGrad,
    integrated_gradients, integrated_gradients_with, lrp_resnet_traced, output_relevance,
};
use biaslens_model::ResNetConfig;
use burn::module::Module;
use burn::prelude::*;

fn input(n: usize, side: usize, device: &Device) -> Tensor<4> {
    let v: Vec<f32> = (0..n * 3 * side * side)
        .map(|i| ((i as f32) * 0.013).sin() * 0.5 + 0.5)
        .collect();
    Tensor::from_data(TensorData::new(v, [n, 3, side, side]), device)
}

/// Seconds of the best of `reps` runs of `f` after one warm-up run (`reps = 0`: the time of that
/// single run).
fn best(reps: usize, mut f: impl FnMut()) -> f64 {
    let t = Instant::now();
    f();
    let first = t.elapsed().as_secs_f64();
    if reps == 0 {
        return first;
    }
    (0..reps)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let device = Device::flex();
    device.seed(0);
    for (arch, side, batch) in [
        ("resnet18", 64usize, 16usize),
        ("resnet18", 224, 4),
        ("resnet50", 64, 16),
        ("resnet50", 224, 2),
    ] {
        let config = match arch {
            "resnet18" => ResNetConfig::resnet18(2),
            _ => ResNetConfig::resnet50(2),
        };
        let model = config.init(&device).freeze();
        let x = input(batch, side, &device);
        let targets: Vec<usize> = (0..batch).map(|i| i % 2).collect();
        let reps = if side == 224 { 1 } else { 2 };
        for (name, lrp) in [
            ("LRP EpsilonPlus", LrpConfig::paper()),
            (
                "LRP EpsilonGammaBox canonized",
                LrpConfig::paper()
                    .with_canonize(true)
                    .with_composite(Composite::EpsilonGammaBox {
                        low: 0.0,
                        high: 1.0,
                        gamma: 0.25,
                    }),
            ),
        ] {
            for (trace, suffix) in [(LrpTrace::Auto, ""), (LrpTrace::Tensor, " tensor-trace")] {
                let case = format!("{name} {arch} {side}x{side} b{batch}{suffix}");
                if filter.as_deref().is_some_and(|f| !case.contains(f)) {
                    continue;
                }
                let secs = best(reps, || {
                    let out = lrp_resnet_traced(
                        &model,
                        x.clone(),
                        &lrp,
                        None,
                        |l| output_relevance(l, Some(&targets), lrp.output),
                        trace,
                    )
                    .expect("LRP");
                    std::hint::black_box(out.input_sum.into_data());
                });
                println!("biaslens {case} flex: {:.2} images/s", batch as f64 / secs);
            }
        }
        // 32 rows per pass: Captum's internal_batch_size=32.
        let per_chunk = (32 / batch).max(1);
        let ig = IgConfig::captum()
            .with_steps(32)
            .with_steps_per_chunk(per_chunk);
        let reps = if side == 224 { 0 } else { 1 };
        let case = format!("IG-32 autodiff {arch} {side}x{side} b{batch}");
        if filter.as_deref().is_none_or(|f| case.contains(f)) {
            let forward = |x: Tensor<4>| model.forward(x);
            let secs = best(reps, || {
                let out =
                    integrated_gradients(forward, x.clone(), &targets, &ig, None, || false, |_| {})
                        .expect("IG");
                std::hint::black_box(out.delta.into_data());
            });
            println!("biaslens {case} flex: {:.3} images/s", batch as f64 / secs);
        }
        for (path, on_host, per_step) in [
            ("walk", false, false),
            ("host walk", true, false),
            ("host walk stem per step", true, true),
        ] {
            let case = format!("IG-32 {path} {arch} {side}x{side} b{batch}");
            if filter.as_deref().is_none_or(|f| case.contains(f)) {
                let mut walk = ResNetGrad::new(&model).expect("a torchvision ResNet").on_host(on_host);
                let secs = best(reps, || {
                    let mut stepwise = PointByPoint(&mut walk);
                    let model: &mut dyn GradModel = if per_step { &mut stepwise } else { stepwise.0 };
                    let out = integrated_gradients_with(
                        model,
                        x.clone(),
                        &targets,
                        &ig,
                        None,
                        || false,
                        |_| {},
                    )
                    .expect("IG");
                    std::hint::black_box(out.delta.into_data());
                });
                println!("biaslens {case} flex: {:.3} images/s", batch as f64 / secs);
            }
        }
    }
}
