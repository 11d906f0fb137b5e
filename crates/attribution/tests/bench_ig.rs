//! Throughput of IG-32 (Gauss–Legendre, zero baseline) on resnet18, 2 classes, batch 16, 64×64,
//! flex CPU; `#[ignore]`d: run with `cargo test -p biaslens-attribution --test bench_ig --
//! --ignored --nocapture` next to Captum (see BENCHMARKS.md). Weights are burn's random init
//! (throughput does not depend on them).

use std::time::Instant;

use biaslens_attribution::{IgConfig, integrated_gradients};
use biaslens_model::ResNetConfig;
use burn::module::Module;
use burn::prelude::*;

#[test]
#[ignore = "benchmark, minutes on 2 cores"]
fn ig32_resnet18_64_batch16() {
    let device = Device::flex();
    let model = ResNetConfig::resnet18(2).init(&device).freeze();
    let forward = |x: Tensor<4>| model.forward(x);
    let x: Tensor<4> = Tensor::from_data(
        TensorData::new(
            (0..16 * 3 * 64 * 64)
                .map(|i| ((i as f32) * 0.013).sin())
                .collect::<Vec<_>>(),
            [16, 3, 64, 64],
        ),
        &device,
    );
    let targets: Vec<usize> = (0..16).map(|i| i % 2).collect();
    // 2 steps × 16 images = 32 rows per pass, Captum's internal_batch_size=32.
    let config = IgConfig::captum().with_steps(32).with_steps_per_chunk(2);
    let run = || {
        let out = integrated_gradients(
            forward,
            x.clone(),
            &targets,
            &config,
            None,
            || false,
            |_| {},
        )
        .expect("IG runs");
        // Force the computation to finish before the clock stops.
        out.delta.into_data().try_into_vec::<f32>().expect("f32")
    };
    run();
    let reps = 2;
    let t0 = Instant::now();
    for _ in 0..reps {
        run();
    }
    let ips = (reps * 16) as f64 / t0.elapsed().as_secs_f64();
    println!("biaslens IG-32 gausslegendre resnet18 64x64 b16 flex: {ips:.2} images/s");
}
