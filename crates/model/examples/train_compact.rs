//! Accuracy and wall time of the demo's default training budget: the compact ResNet
//! (`ResNetConfig::compact(2)`) trained with `TrainConfig::new()` (Adam 3e-4, batch 128, 1 epoch)
//! on the synthetic benchmark, then evaluated on held-out images, on flex CPU.
//!
//! `cargo run --release -p biaslens-model --example train_compact -- [TRAIN_IMAGES] [EPOCHS]`
//! (defaults 4096 and 1). The numbers go into BENCHMARKS.md (## Model).

use std::time::Instant;

use biaslens_data::SyntheticConfig;
use biaslens_model::{NoHook, ResNetConfig, TrainConfig, TrainData, train};
use burn::prelude::*;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let n_train: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(4096);
    let epochs: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(1);
    let n_test = 1024;
    let data = SyntheticConfig::default();
    let side = data.size as usize;
    let t0 = Instant::now();
    let train_batch = data.generate(0, n_train)?;
    let test_batch = data.generate(1_000_000, n_test)?;
    let gen_s = t0.elapsed().as_secs_f64();

    let device = Device::flex();
    device.seed(0);
    let model = ResNetConfig::compact(2).init(&device);
    let config = TrainConfig::new().with_epochs(epochs);
    let t1 = Instant::now();
    let outcome = pollster::block_on(train(
        model,
        TrainData {
            pixels: &train_batch.pixels,
            targets: &train_batch.target,
            image: [3, side, side],
        },
        &config,
        &device,
        &mut NoHook,
        |p| {
            if p.step % 8 == 0 || p.step == p.total_steps {
                eprintln!(
                    "step {}/{} loss {:.4} acc {:.3}",
                    p.step, p.total_steps, p.loss, p.accuracy
                );
            }
        },
        || false,
    ))?;
    let train_s = t1.elapsed().as_secs_f64();

    let mut correct = 0usize;
    for (chunk_px, chunk_y) in test_batch
        .pixels
        .chunks(256 * 3 * side * side)
        .zip(test_batch.target.chunks(256))
    {
        let b = chunk_y.len();
        let x = Tensor::<4>::from_data(
            TensorData::new(chunk_px.to_vec(), [b, 3, side, side]),
            &device,
        );
        let pred = outcome
            .model
            .forward(x)
            .argmax(1)
            .into_data()
            .convert::<i64>()
            .try_into_vec::<i64>()?;
        correct += pred
            .iter()
            .zip(chunk_y)
            .filter(|(p, t)| **p == i64::from(**t))
            .count();
    }
    println!(
        "compact ResNet (width {}), {n_train} train images × {epochs} epoch(s), {} steps: \
         train {train_s:.1} s ({:.0} img/s), test accuracy {:.4} on {n_test} held-out images \
         (data generation {gen_s:.1} s)",
        biaslens_model::COMPACT_WIDTH,
        outcome.steps,
        (n_train * epochs) as f64 / train_s,
        correct as f64 / n_test as f64,
    );
    Ok(())
}
