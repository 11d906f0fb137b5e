//! Finding the artifact from the CAV (`docs/METHODS.md#localise`): on a planted patch that a
//! trained model demonstrably uses, the CAV's heatmap finds the patch far better than chance, a
//! fixed box or the class's own LRP map; a zero direction finds nothing and a direction
//! orthogonal to the CAV finds far less.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod localise_setup;

use biaslens_attribution::ConceptMethod;
use biaslens_data::rng::SplitMix64;
use biaslens_data::ProtectedKind;
use biaslens_experiment::localise::{LocaliseConfig, Scores};
use localise_setup::{Report, Scenario, Sizes, cav, case, evaluate, reliance, train_model};

fn row<'a>(report: &'a Report, name: &str) -> &'a Scores {
    &report.rows.iter().find(|(n, _)| *n == name).expect("row").1
}

fn low(s: &Scores) -> f64 {
    s.summary.iou_interval.expect("interval").low
}

/// One seed, 32×32 faces, 768 training images, 4 epochs: about 3 s of compute in the test
/// profile. The bounds leave room for another seed's training noise: at seed 3 the measured
/// values are LRP IoU 0.33 / pointing 0.44, gradient × input 0.63 / 1.0, class LRP 0.14, the
/// fixed ROI 0.03, a random box 0.02, and the patch covers 2.4 % of the image (the pointing
/// game's chance rate).
#[test]
fn the_cav_heatmap_finds_a_planted_patch_the_model_uses() {
    let sizes = Sizes { side: 32, train: 768, debias: 256, test: 48, epochs: 4 };
    let c = case(Scenario::Planted, 3, sizes);
    let model = train_model(&c, 3, sizes.epochs);
    // The model uses the patch: adding it moves the margin z₀ − z₁ towards "not smiling", the
    // class it went with in training, by several logits on average.
    let shift = reliance(&c, &model);
    assert!(shift > 1.0, "the patch moves the margin by {shift:.3} only");

    let direction = cav(&c, &model);
    let config = LocaliseConfig::default();
    let report = evaluate(&c, &model, &direction, &config, 3);
    for (name, s) in &report.rows {
        eprintln!("{name:28} IoU {:.3} {:?} pointing {:.3}", s.summary.iou_mean, s.summary.iou_interval, s.summary.pointing_rate);
    }
    let random = row(&report, "random box").summary.iou_mean;
    let fixed = row(&report, "fixed ROI").summary.iou_mean;
    let class = row(&report, "class LRP (true class)").summary.iou_mean;
    let lrp = row(&report, "CAV, LRP");
    let gxi = row(&report, "CAV, gradient × input");
    for (name, s, pointing) in [("LRP", lrp, 0.2), ("gradient × input", gxi, 0.8)] {
        assert!(low(s) > 3.0 * random.max(fixed), "{name}: IoU interval from {:.3}, random {random:.3}, fixed ROI {fixed:.3}", low(s));
        assert!(s.summary.pointing_rate > pointing, "{name}: pointing {:.3}", s.summary.pointing_rate);
        assert!(s.summary.pointing_rate > 8.0 * report.truth_share);
    }
    assert!(low(gxi) > class, "the CAV must beat the class's own map: {:.3} vs {class:.3}", low(gxi));

    // A zero direction: an all-zero heatmap, so every mask is empty and the map points nowhere.
    let zero = vec![0.0f32; direction.len()];
    let z = evaluate(&c, &model, &zero, &config, 3);
    for name in ["CAV, LRP", "CAV, gradient × input"] {
        let s = &row(&z, name).summary;
        assert_eq!((s.iou_mean, s.pointing_rate, s.pointed_nowhere), (0.0, 0.0, s.images), "{name}");
    }

    // A random unit direction made orthogonal to the CAV (seeded): it carries no artifact
    // signal the CAV has, and localises far worse.
    let mut rng = SplitMix64::new(11);
    let mut o: Vec<f32> = (0..direction.len()).map(|_| rng.normal() as f32).collect();
    let dot: f32 = o.iter().zip(&direction).map(|(a, b)| a * b).sum();
    o.iter_mut().zip(&direction).for_each(|(a, b)| *a -= dot * b);
    let orth = evaluate(&c, &model, &o, &LocaliseConfig { method: ConceptMethod::GradientXInput, ..config }, 3);
    let s = &row(&orth, "CAV, gradient × input").summary;
    eprintln!("orthogonal: IoU {:.3} pointing {:.3}", s.iou_mean, s.pointing_rate);
    assert!(s.iou_mean < 0.5 * gxi.summary.iou_mean && s.pointing_rate < 0.5 * gxi.summary.pointing_rate);
}

/// `P(X ≥ k)` for `X ~ Binomial(n, p)`, summed exactly.
fn binomial_upper_tail(k: u64, n: u64, p: f64) -> f64 {
    let mut term = (1.0 - p).powi(n as i32); // P(X = 0)
    let mut below = 0.0;
    for i in 0..k.min(n + 1) {
        below += term;
        term *= (n - i) as f64 / (i + 1) as f64 * p / (1.0 - p);
    }
    (1.0 - below).max(0.0)
}

/// The synthetic necktie, which sits in the same place in every face: over three seeds (3, 4, 5),
/// the CAV's heatmap points into the tie's own pixels more often than chance (a one-sided exact
/// binomial test at 1 % on the pooled images), and beats a random box of the tie's size and the
/// class's own map on mean IoU and pointing hits; it does not beat the fixed ROI, which is where
/// the renderer paints (BENCHMARKS.md, "Finding the artifact from the CAV"). 48×48 faces (at
/// 32×32 the tie is a few pixels and LRP's map of one seed pointed at it in none of 48 images):
/// about 20 s. One seed's pointing rate varies widely: over ten seeds LRP's was 0.28
/// [0.18, 0.37]. With training on host memory (a summation-order change that sends each run
/// along another trajectory) LRP pointed at the tie in 0.10, 0.06, 0.42, 0.21 and 0.31 of the 48
/// images at seeds 3–7, against 0.29, 0.19, 0.25, 0.21 and 0.17 through burn's autodiff; seed 3
/// alone had been the test before, held to five times chance, which 0.10 missed. Hence several
/// seeds pooled and a test against chance. The tie covers 2.5 % of the image.
#[test]
fn the_cav_heatmap_points_at_the_synthetic_necktie() {
    let sizes = Sizes { side: 48, train: 1024, debias: 256, test: 48, epochs: 4 };
    // Per method: (IoU means, pointing hits, images) pooled over the seeds.
    let names = ["CAV, LRP", "CAV, gradient × input", "class LRP (true class)"];
    let mut pooled = [(0.0f64, 0u64, 0u64); 3];
    let (mut random, mut chance) = (0.0, 0.0);
    let seeds = [3u64, 4, 5];
    for seed in seeds {
        let c = case(Scenario::Synthetic(ProtectedKind::Necktie), seed, sizes);
        let model = train_model(&c, seed, sizes.epochs);
        let shift = reliance(&c, &model);
        assert!(shift > 1.0, "seed {seed}: the tie moves the margin by {shift:.3} only");
        let direction = cav(&c, &model);
        let report = evaluate(&c, &model, &direction, &LocaliseConfig::default(), 3);
        for (name, s) in &report.rows {
            eprintln!("seed {seed} {name:28} IoU {:.3} {:?} pointing {:.3}", s.summary.iou_mean, s.summary.iou_interval, s.summary.pointing_rate);
        }
        for (acc, name) in pooled.iter_mut().zip(names) {
            let s = &row(&report, name).summary;
            acc.0 += s.iou_mean / seeds.len() as f64;
            acc.1 += (s.pointing_rate * s.images as f64).round() as u64;
            acc.2 += s.images as u64;
        }
        random += row(&report, "random box").summary.iou_mean / seeds.len() as f64;
        chance = report.truth_share;
    }
    let class = pooled[2];
    for (name, (iou, hits, images)) in names.into_iter().zip(pooled).take(2) {
        assert!(iou > 3.0 * random, "{name}: IoU {iou:.3}, random box {random:.3}");
        // The pointing game against chance: hits among the explained images of the seeds,
        // one-sided exact binomial test of H0 "the map's maximum falls in the tie at the tie's
        // share of the image", at 1 %.
        let p = binomial_upper_tail(hits, images, chance);
        assert!(p < 0.01, "{name}: {hits} of {images} images pointed at the tie, chance {chance:.3}, p = {p:.2e}");
        assert!(iou > class.0 && hits > class.1, "{name} against the class map: IoU {iou:.3} vs {:.3}, hits {hits} vs {}", class.0, class.1);
    }
}
