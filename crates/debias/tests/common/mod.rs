//! A small biased classifier on the synthetic benchmark, shared by the method tests: a compact
//! ResNet (width 8, one block per stage) trained on a train split where the necktie and smiling
//! are perfectly anti-correlated (the authors' `train_percentage = 0.5`, φ = −1), and the authors'
//! debias split (`unlearn_percentage = 0.25`).

#![allow(dead_code, clippy::unwrap_used)]

use std::sync::OnceLock;

use biaslens_data::{Correlation, SplitConfig, SyntheticConfig, make_splits};
use biaslens_debias::{DebiasData, DebiasedModel};
use biaslens_metrics::fairness_report;
use biaslens_model::{BlockKind, NoHook, ResNet, ResNetConfig, TrainConfig, train};
use burn::prelude::*;

/// Image side.
pub const SIDE: usize = 32;

/// Images and labels of one split.
pub struct SplitData {
    pub pixels: Vec<f32>,
    pub targets: Vec<u8>,
    pub attribute: Vec<u8>,
}

impl SplitData {
    pub fn data(&self) -> DebiasData<'_> {
        DebiasData {
            pixels: &self.pixels,
            targets: &self.targets,
            attribute: &self.attribute,
            image: [3, SIDE, SIDE],
        }
    }
}

pub struct Fixture {
    /// The biased vanilla network (evaluation mode, plain flex device).
    pub vanilla: ResNet,
    /// The debias split.
    pub debias: SplitData,
}

fn split_data(cfg: &SyntheticConfig, indices: &[usize]) -> SplitData {
    let idx: Vec<u64> = indices.iter().map(|&i| i as u64).collect();
    let b = cfg.generate_indices(&idx).expect("synthetic images");
    SplitData {
        pixels: b.pixels,
        targets: b.target,
        attribute: b.attribute,
    }
}

fn build() -> Fixture {
    let device = Device::flex();
    let cfg = SyntheticConfig {
        size: SIDE as u32,
        seed: 5,
        ..SyntheticConfig::default()
    };
    let (target, attribute) = cfg.labels(0, 6000);
    let splits = make_splits(
        &target,
        &attribute,
        None,
        &SplitConfig {
            train: Correlation::CellPercentage { p: 0.5 },
            debias: Correlation::CellPercentage { p: 0.25 },
            train_size: Some(768),
            debias_size: Some(256),
            test_size: Some(4),
            ..SplitConfig::default()
        },
    )
    .expect("splits");
    let train_split = split_data(&cfg, &splits.train.indices);
    let debias = split_data(&cfg, &splits.debias.indices);
    // burn's initialisers draw from the device's generator: seed it right before.
    device.seed(17);
    let model = ResNetConfig::new(BlockKind::Basic, [1, 1, 1, 1], 2)
        .with_width(8)
        .init(&device);
    let out = pollster::block_on(train(
        model,
        biaslens_model::TrainData {
            pixels: &train_split.pixels,
            targets: &train_split.targets,
            image: [3, SIDE, SIDE],
        },
        &TrainConfig::new()
            .with_learning_rate(3e-3)
            .with_batch_size(32)
            .with_epochs(4)
            .with_seed(1),
        &device,
        &mut NoHook,
        |_| {},
        || false,
    ))
    .expect("vanilla training");
    Fixture {
        vanilla: out.model,
        debias,
    }
}

/// The shared fixture (built once per test binary).
pub fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(build)
}

/// Argmax predictions of a debiased model on `d` (groups passed for per-group thresholds).
pub fn predictions(model: &DebiasedModel, d: &SplitData) -> Vec<i64> {
    let device = Device::flex();
    let n = d.targets.len();
    let per = 3 * SIDE * SIDE;
    let mut out = Vec::with_capacity(n);
    for start in (0..n).step_by(128) {
        let end = (start + 128).min(n);
        let x = Tensor::<4>::from_data(
            TensorData::new(d.pixels[start * per..end * per].to_vec(), [end - start, 3, SIDE, SIDE]),
            &device,
        );
        let y = if model.output.needs_groups() {
            model.forward_grouped(x, &d.attribute[start..end]).unwrap()
        } else {
            model.forward(x).unwrap()
        };
        let v = y.argmax(1).into_data().convert::<i64>().try_into_vec::<i64>().unwrap();
        out.extend(v);
    }
    out
}

/// EqualizedOdds gap of a model's argmax predictions on `d`.
pub fn eo_gap(model: &DebiasedModel, d: &SplitData) -> f64 {
    let y: Vec<i64> = d.targets.iter().map(|&v| i64::from(v)).collect();
    let a: Vec<i64> = d.attribute.iter().map(|&v| i64::from(v)).collect();
    fairness_report(&y, &predictions(model, d), &a, None)
        .unwrap()
        .equalized_odds
        .value
}

/// Accuracy of a model's argmax predictions on `d`.
pub fn accuracy(model: &DebiasedModel, d: &SplitData) -> f64 {
    let p = predictions(model, d);
    p.iter()
        .zip(&d.targets)
        .filter(|(p, t)| **p == i64::from(**t))
        .count() as f64
        / p.len() as f64
}
