//! Speed of the ResNets on the flex CPU device: forward (evaluation mode) and forward + backward
//! to the input (what gradient-based attribution needs), images per second.
//!
//! `cargo run -p biaslens-model --example bench_resnet` (dependencies are optimised in the dev
//! profile; the network code itself is all in burn). `tests/reference/model_bench.py` measures
//! PyTorch on the same cases; run both in one go for the ratios in BENCHMARKS.md.

use std::time::Instant;

use biaslens_model::{ResNet, ResNetConfig};
use burn::prelude::*;

fn time_it(mut f: impl FnMut(), images: usize, min_iters: usize) -> f64 {
    f(); // warm-up
    let t = Instant::now();
    let mut iters = 0;
    while iters < min_iters || t.elapsed().as_secs_f64() < 2.0 {
        f();
        iters += 1;
    }
    (iters * images) as f64 / t.elapsed().as_secs_f64()
}

fn input(batch: usize, side: usize, device: &Device) -> Tensor<4> {
    let n = batch * 3 * side * side;
    let v: Vec<f32> = (0..n)
        .map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0)
        .collect();
    Tensor::from_data(TensorData::new(v, [batch, 3, side, side]), device)
}

/// (name, constructor from num_classes, input side, batch).
type Case = (&'static str, fn(usize) -> ResNetConfig, usize, usize);

fn main() {
    let device = Device::flex();
    device.seed(0);
    let cases: [Case; 5] = [
        ("compact", ResNetConfig::compact, 64, 32),
        ("resnet18", ResNetConfig::resnet18, 64, 16),
        ("resnet18", ResNetConfig::resnet18, 224, 4),
        ("resnet50", ResNetConfig::resnet50, 64, 16),
        ("resnet50", ResNetConfig::resnet50, 224, 4),
    ];
    for (name, cfg, side, batch) in cases {
        let model: ResNet = cfg(2).init(&device).valid();
        let x = input(batch, side, &device);
        let fwd = time_it(
            || {
                let _ = model.forward(x.clone()).into_data();
            },
            batch,
            3,
        );
        // Autodiff tensors, BatchNorm kept in evaluation mode, no parameter gradients.
        let model_ad = model.clone().train().freeze();
        let x_ad = x.clone().autodiff();
        let fwd_bwd = time_it(
            || {
                let xi = x_ad.clone().require_grad();
                let grads = model_ad.forward(xi.clone()).sum().backward();
                let _ = xi.grad(&grads).map(|g| g.into_data());
            },
            batch,
            2,
        );
        println!(
            "{{\"impl\":\"burn-flex\",\"model\":\"{name}\",\"side\":{side},\"batch\":{batch},\"forward_img_s\":{fwd:.2},\"forward_backward_img_s\":{fwd_bwd:.2}}}"
        );
    }
}
