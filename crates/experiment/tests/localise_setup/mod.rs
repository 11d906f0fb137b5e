//! Shared by `tests/localise.rs` and `examples/localise.rs`: a biased model on the synthetic
//! benchmark or on a planted artifact, its CAV, and the localisation scores of the CAV's
//! heatmaps beside baselines (`docs/METHODS.md#localise`).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, missing_docs)]

use biaslens_data::plant::{self, ArtifactKind, PlantConfig};
use biaslens_data::{Correlation, ProtectedKind, SplitConfig, SyntheticConfig, make_splits};
use biaslens_debias::{DebiasData, PClarcConfig, p_clarc};
use biaslens_experiment::localise::{self, Explain, LocaliseConfig, Scores};
use biaslens_metrics::ImageSize;
use biaslens_metrics::localise::{box_mask, bounding_box, random_box_mask};
use biaslens_model::{BlockKind, NoHook, ResNet, ResNetConfig, Tap, TrainConfig, TrainData, train};
use biaslens_data::rng::SplitMix64;
use burn::prelude::*;

/// Which artifact.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scenario {
    /// The synthetic benchmark's own attribute; truth = its painted pixels.
    Synthetic(ProtectedKind),
    /// A magenta patch planted at a random place per image (`plant.rs` defaults: side 0.15);
    /// truth = its box.
    Planted,
}

/// Sizes of one case.
#[derive(Debug, Clone, Copy)]
pub struct Sizes {
    pub side: u32,
    pub train: usize,
    pub debias: usize,
    pub test: usize,
    pub epochs: usize,
}

pub struct Images {
    pub pixels: Vec<f32>,
    pub targets: Vec<u8>,
    pub attribute: Vec<u8>,
}

/// Everything a localisation needs, for one seed.
pub struct Case {
    pub side: usize,
    pub train: Images,
    pub debias: Images,
    /// Test images that carry the artifact, and the same images without it.
    pub test: Images,
    pub test_clean: Vec<f32>,
    /// Ground truth per test image.
    pub truths: Vec<Vec<bool>>,
    /// The config's fixed ROI as a mask (same for every image).
    pub roi: Vec<bool>,
}

fn images(cfg: &SyntheticConfig, idx: &[u64]) -> Images {
    let b = cfg.generate_indices(idx).expect("synthetic images");
    Images { pixels: b.pixels, targets: b.target, attribute: b.attribute }
}

fn roi_mask(cfg: &SyntheticConfig) -> Vec<bool> {
    let r = cfg.roi().expect("roi");
    box_mask(ImageSize::square(cfg.size), r.x(), r.y(), r.w(), r.h())
}

/// The synthetic benchmark: train at the authors' `p = 0.5` (necktie/hat against smiling, φ = −1),
/// CAV on the balanced debias split (`p = 0.25`), test on the test split's faces with the attribute.
fn synthetic(kind: ProtectedKind, seed: u64, s: Sizes) -> Case {
    let cfg = SyntheticConfig { size: s.side, seed, attribute: kind, ..SyntheticConfig::default() };
    let (target, attribute) = cfg.labels(0, 8 * (s.train + s.debias + s.test));
    let splits = make_splits(
        &target,
        &attribute,
        None,
        &SplitConfig {
            train: Correlation::CellPercentage { p: 0.5 },
            debias: Correlation::CellPercentage { p: 0.25 },
            train_size: Some(s.train),
            debias_size: Some(s.debias),
            test_size: Some(2 * s.test),
            ..SplitConfig::default()
        },
    )
    .expect("splits");
    let idx = |v: &[usize]| v.iter().map(|&i| i as u64).collect::<Vec<_>>();
    let test_idx: Vec<u64> =
        splits.test.indices.iter().filter(|&&i| attribute[i] == 1).take(s.test).map(|&i| i as u64).collect();
    let test = images(&cfg, &test_idx);
    let clean = cfg.generate_counterfactual(&test_idx, false).expect("counterfactual");
    Case {
        side: s.side as usize,
        train: images(&cfg, &idx(&splits.train.indices)),
        debias: images(&cfg, &idx(&splits.debias.indices)),
        test,
        test_clean: clean.pixels,
        truths: cfg.attribute_masks(&test_idx).expect("masks"),
        roi: roi_mask(&cfg),
    }
}

/// Faces `first..first + n` with a patch planted where `planted[i]` (the box drawn by
/// `plant::artifact_box` for the image's index), the clean faces, and every image's box mask.
fn planted_images(cfg: &SyntheticConfig, first: u64, target_phi: f64, n: usize, plant_seed: u64) -> (Images, Vec<f32>, Vec<Vec<bool>>) {
    let base = cfg.generate(first, n).expect("faces");
    let pc = PlantConfig { phi: target_phi, seed: plant_seed, ..PlantConfig::default() };
    let choice = plant::choose(&base.target, &pc).expect("reachable φ");
    let side = cfg.size;
    let plane = 3 * (side * side) as usize;
    let mut pixels = base.pixels.clone();
    let mut truths = Vec::with_capacity(n);
    for i in 0..n {
        let b = plant::artifact_box(side, side, first + i as u64, &pc).expect("box");
        if choice.planted[i] == 1 {
            plant::draw_pixels(&mut pixels[i * plane..(i + 1) * plane], side, side, b, &ArtifactKind::default()).expect("draw");
        }
        truths.push(box_mask(ImageSize::square(side), b.x0, b.y0, b.x1 - b.x0, b.y1 - b.y0));
    }
    (Images { pixels, targets: base.target, attribute: choice.planted }, base.pixels, truths)
}

fn select(images: &Images, clean: &[f32], truths: &[Vec<bool>], keep: &[usize], plane: usize) -> (Images, Vec<f32>, Vec<Vec<bool>>) {
    let mut out = Images { pixels: Vec::new(), targets: Vec::new(), attribute: Vec::new() };
    let mut c = Vec::new();
    let mut t = Vec::new();
    for &i in keep {
        out.pixels.extend_from_slice(&images.pixels[i * plane..(i + 1) * plane]);
        out.targets.push(images.targets[i]);
        out.attribute.push(images.attribute[i]);
        c.extend_from_slice(&clean[i * plane..(i + 1) * plane]);
        t.push(truths[i].clone());
    }
    (out, c, t)
}

/// A planted magenta patch on synthetic faces: train planted at φ = −0.9 with the target (the
/// patch goes with "not smiling"), CAV on faces planted at φ = 0, test on planted faces at φ = 0.
fn planted(seed: u64, s: Sizes) -> Case {
    let cfg = SyntheticConfig { size: s.side, seed, ..SyntheticConfig::default() };
    let plane = 3 * (s.side * s.side) as usize;
    let (train, _, _) = planted_images(&cfg, 0, -0.9, s.train, seed);
    let first = s.train as u64;
    let (debias, _, _) = planted_images(&cfg, first, 0.0, s.debias, seed ^ 1);
    let first = first + s.debias as u64;
    let (all, clean, truths) = planted_images(&cfg, first, 0.0, 2 * s.test + 8, seed ^ 2);
    let keep: Vec<usize> = (0..all.attribute.len()).filter(|&i| all.attribute[i] == 1).take(s.test).collect();
    let (test, test_clean, truths) = select(&all, &clean, &truths, &keep, plane);
    Case { side: s.side as usize, train, debias, test, test_clean, truths, roi: roi_mask(&cfg) }
}

pub fn case(scenario: Scenario, seed: u64, s: Sizes) -> Case {
    match scenario {
        Scenario::Synthetic(kind) => synthetic(kind, seed, s),
        Scenario::Planted => planted(seed, s),
    }
}

/// A compact ResNet (width 8, one block per stage) trained on the case's train split.
pub fn train_model(case: &Case, seed: u64, epochs: usize) -> ResNet {
    let device = Device::flex();
    device.seed(seed);
    let model = ResNetConfig::new(BlockKind::Basic, [1, 1, 1, 1], 2).with_width(8).init(&device);
    let out = pollster::block_on(train(
        model,
        TrainData { pixels: &case.train.pixels, targets: &case.train.targets, image: [3, case.side, case.side] },
        &TrainConfig::new().with_learning_rate(3e-3).with_batch_size(32).with_epochs(epochs).with_seed(seed),
        &device,
        &mut NoHook,
        |_| {},
        || false,
    ))
    .expect("training");
    out.model
}

/// The CAV the ClArC methods compute (P-ClArC's, at the defaults: the Signal pattern at the
/// pooled features, each image's own attribute as its concept label) on the debias images.
pub fn cav(case: &Case, model: &ResNet) -> Vec<f32> {
    let device = Device::flex();
    let data = DebiasData {
        pixels: &case.debias.pixels,
        targets: &case.debias.targets,
        attribute: &case.debias.attribute,
        image: [3, case.side, case.side],
    };
    let out = pollster::block_on(p_clarc(model.clone(), data, &PClarcConfig::new(), &device, |_| {}, || false)).expect("P-ClArC's CAV");
    out.cav.direction
}

/// Mean shift of the logit margin `z₀ − z₁` when the artifact is added (with − without), per
/// test image: how much the model uses it.
pub fn reliance(case: &Case, model: &ResNet) -> f64 {
    let device = Device::flex();
    let n = case.test.targets.len();
    let margin = |p: &[f32]| -> Vec<f32> {
        let x: Tensor<4> = Tensor::from_data(TensorData::new(p.to_vec(), [n, 3, case.side, case.side]), &device);
        let z = model.forward(x).into_data().convert::<f32>().try_to_vec::<f32>().unwrap();
        z.chunks(2).map(|c| c[0] - c[1]).collect()
    };
    let (a, b) = (margin(&case.test.pixels), margin(&case.test_clean));
    a.iter().zip(&b).map(|(x, y)| f64::from(x - y)).sum::<f64>() / n as f64
}

/// Scores of the CAV's heatmaps and the baselines, by name.
pub struct Report {
    pub rows: Vec<(&'static str, Scores)>,
    /// Mean share of the image the truth covers.
    pub truth_share: f64,
}

/// Localises with the CAV (LRP and gradient × input), and scores beside it: plain LRP of the
/// predicted-or-true class thresholded the same way, the config's fixed ROI as a mask, and a
/// random box the size of each truth's bounding box (seeded).
pub fn evaluate(case: &Case, model: &ResNet, direction: &[f32], config: &LocaliseConfig, seed: u64) -> Report {
    let device = Device::flex();
    let image = [3, case.side, case.side];
    let size = ImageSize::square(case.side as u32);
    let run = |explain: Explain<'_>, config: &LocaliseConfig| {
        let heat = pollster::block_on(localise::heatmaps(model, &case.test.pixels, image, explain, config, &device)).expect("heatmaps");
        let masks = localise::masks(&heat, &config.mask).expect("masks");
        localise::score(&masks, Some(&heat), &case.truths, &config.mask).expect("score")
    };
    let concept = Explain::Concept { tap: Tap::Pooled, direction };
    let gxi = LocaliseConfig { method: biaslens_attribution::ConceptMethod::GradientXInput, ..*config };
    let targets: Vec<usize> = case.test.targets.iter().map(|&t| usize::from(t)).collect();
    let mut rows = vec![
        ("CAV, LRP", run(concept, config)),
        ("CAV, gradient × input", run(concept, &gxi)),
        ("class LRP (true class)", run(Explain::Class { targets: &targets }, config)),
    ];
    let roi = vec![case.roi.clone(); case.truths.len()];
    rows.push(("fixed ROI", localise::score(&roi, None, &case.truths, &config.mask).expect("score")));
    let mut rng = SplitMix64::new(seed ^ 0x5EED);
    let random: Vec<Vec<bool>> = case
        .truths
        .iter()
        .map(|t| {
            let (_, _, w, h) = bounding_box(t, size).expect("non-empty truth");
            random_box_mask(size, w, h, &mut rng).expect("fits")
        })
        .collect();
    rows.push(("random box", localise::score(&random, None, &case.truths, &config.mask).expect("score")));
    let truth_share = case.truths.iter().map(|t| t.iter().filter(|v| **v).count() as f64 / t.len() as f64).sum::<f64>()
        / case.truths.len() as f64;
    Report { rows, truth_share }
}
