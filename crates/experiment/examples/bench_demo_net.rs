//! The default demo's network on the CPU, per pass, on one thread as the page's wasm runs it
//! (BENCHMARKS.md, "The evaluation stage on host memory", "Training on host memory"): a training
//! step (train-mode forward, backward, Adam) through flex's autodiff and on host memory
//! (`host_train`, what `train` runs on the CPU), alternated twice, the host walk's forward + input gradient
//! (`ResNetGrad`, what IG runs), and a forward pass in evaluation mode through burn (flex) and
//! through the host walk (`ResNetGrad::host_logits`, what the evaluation stage runs).
//!
//! `RAYON_NUM_THREADS=1 cargo run --release -p biaslens-experiment --example bench_demo_net`
//! (release: the host walk is workspace code, unoptimised in the dev profile). Inputs and
//! weights are seeded formulas; only the times matter.

use std::time::Instant;

use biaslens_attribution::{GradModel, OutputRelevance, ResNetGrad};
use biaslens_experiment::ExperimentConfig;
use biaslens_model::NoHook;
use biaslens_model::host_train::on_autodiff;
use biaslens_model::train::{TrainConfig, TrainData, train};
use burn::prelude::*;

/// Mean milliseconds of `reps` calls of `f`, after one call to warm up.
fn ms(reps: usize, mut f: impl FnMut()) -> f64 {
    f();
    let t = Instant::now();
    for _ in 0..reps {
        f();
    }
    t.elapsed().as_secs_f64() * 1e3 / reps as f64
}

fn main() {
    let device = Device::flex();
    device.seed(0);
    let demo = ExperimentConfig::demo();
    let side = demo.data.synthetic.size as usize;
    let batch = demo.train.batch_size;
    let eval_batch = demo.metrics.eval_batch_size;
    let per = 3 * side * side;
    let n = batch * 8;
    let model = demo.model.resnet().init(&device);
    let pixels: Vec<f32> = (0..n * per).map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0).collect();
    let targets: Vec<u8> = (0..n).map(|i| (i % 2) as u8).collect();
    let data = TrainData { pixels: &pixels, targets: &targets, image: [3, side, side] };
    let tc = TrainConfig::new().with_batch_size(batch).with_epochs(1).with_learning_rate(demo.train.learning_rate);
    let run = || {
        let t = Instant::now();
        let out = pollster::block_on(train(model.clone(), data, &tc, &device, &mut NoHook, |_| {}, || false)).expect("training runs");
        (t.elapsed().as_secs_f64() * 1e3 / out.steps.max(1) as f64, out.model)
    };
    let mut steps = Vec::new();
    for _ in 0..2 {
        steps.push((on_autodiff(run).0, run().0));
    }
    let model = run().1;
    let images = |k: usize| Tensor::<4>::from_data(TensorData::new(pixels[..k * per].to_vec(), [k, 3, side, side]), &device);
    let (x, x_eval) = (images(batch), images(eval_batch));
    let rows: Vec<usize> = (0..batch).map(|i| i % 2).collect();
    let weights = vec![1.0f32; batch];
    let mut walk = ResNetGrad::new(&model).expect("the demo network is a ResNet the walk covers");
    let grad = ms(8, || {
        walk.weighted_grad(x.clone(), &rows, &weights, OutputRelevance::LogitOneHot).expect("host walk");
    });
    let flex = ms(8, || {
        let _ = model.forward(x_eval.clone()).into_data();
    });
    let host = ms(8, || {
        let _ = walk.host_logits(x_eval.clone()).expect("host forward").map(|z| z.into_data());
    });
    println!("demo network, {side}x{side}, one thread = {}", std::env::var("RAYON_NUM_THREADS").as_deref() == Ok("1"));
    for (flex, host) in steps {
        println!("training step, batch {batch}: flex autodiff {flex:.1} ms, host memory {host:.1} ms ({:.2}x)", flex / host);
    }
    println!("host walk forward + input gradient, batch {batch}: {grad:.1} ms");
    println!("forward, batch {eval_batch}: flex {flex:.1} ms, host walk {host:.1} ms ({:.2}x)", flex / host);
}
