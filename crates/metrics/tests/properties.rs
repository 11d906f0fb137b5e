//! Property tests over seeded random maps (a hand-rolled generator instead of proptest, to keep
//! compile time down on the 2-core build machine): 200 random cases per property, each case a
//! random image size, ROI, channel count and map pair, reproducible from its seed.
//!
//! Properties (paper §3 definitions): RRF and DIF lie in [0, 1]; ADR is antisymmetric in its two
//! maps; every metric except the raw-value setting is invariant to a positive per-image scale of
//! the attribution (the normalisations divide it out); the RRF of a whole-image ROI is 1;
//! EqualizedOdds is symmetric in group order.

use biaslens_metrics::preprocess::preprocess;
use biaslens_metrics::saliency::{map_metrics, paired_metrics};
use biaslens_metrics::stats::SplitMix64;
use biaslens_metrics::{
    ChannelReduction, IdenticalMaps, ImageSize, Normalisation, PreprocessSettings, Roi, SaliencySettings,
    fairness_report, per_image_metrics,
};

struct Case {
    image: ImageSize,
    roi: Roi,
    channels: usize,
    v: Vec<f32>,
    d: Vec<f32>,
    settings: SaliencySettings,
}

fn uniform(rng: &mut SplitMix64) -> f32 {
    (rng.next_u64() >> 40) as f32 / (1u64 << 24) as f32
}

fn case(seed: u64) -> Case {
    let mut rng = SplitMix64::new(seed);
    let side = |rng: &mut SplitMix64| u32::try_from(1 + rng.below(12)).expect("small");
    let image = ImageSize { width: side(&mut rng) + 1, height: side(&mut rng) };
    let w = u32::try_from(1 + rng.below(image.width as usize)).expect("small");
    let h = u32::try_from(1 + rng.below(image.height as usize)).expect("small");
    let x = u32::try_from(rng.below((image.width - w + 1) as usize)).expect("small");
    let y = u32::try_from(rng.below((image.height - h + 1) as usize)).expect("small");
    let roi = Roi::new(x, y, w, h, image).expect("drawn inside");
    let channels = 1 + rng.below(3);
    let n = channels * image.pixels();
    // Signed values; some exact zeros, sometimes a whole zero map.
    let draw = |rng: &mut SplitMix64| -> Vec<f32> {
        if rng.below(10) == 0 {
            return vec![0.0; n];
        }
        (0..n).map(|_| if rng.below(8) == 0 { 0.0 } else { uniform(rng) * 2.0 - 1.0 }).collect()
    };
    let v = draw(&mut rng);
    let d = draw(&mut rng);
    let reductions = [ChannelReduction::SignedSum, ChannelReduction::AbsSum, ChannelReduction::L2];
    let norms = [Normalisation::MaxAbsHalf, Normalisation::SumToOne];
    let settings = SaliencySettings {
        preprocess: PreprocessSettings {
            channel_reduction: reductions[rng.below(3)],
            normalisation: norms[rng.below(2)],
        },
        dif_margin: [0.0, 1e-3][rng.below(2)],
        identical_maps: [IdenticalMaps::Zero, IdenticalMaps::Compute][rng.below(2)],
        ..SaliencySettings::default()
    };
    Case { image, roi, channels, v, d, settings }
}

const CASES: u64 = 200;

#[test]
fn rrf_hrf_and_dif_are_fractions() {
    for seed in 0..CASES {
        let c = case(seed);
        let per = per_image_metrics(&c.v, &c.d, c.channels, &c.roi, &c.settings).expect("shapes match");
        for m in &per {
            for f in [m.vanilla.rrf, m.debiased.rrf, m.vanilla.hrf, m.debiased.hrf, m.dif] {
                assert!((0.0..=1.0).contains(&f), "seed {seed}: {m:?}");
            }
            // ADR of maps in [0, 0.5] (the code's normalisation) lies in [-0.5, 0.5]; of
            // sum-to-one maps (values in [0, 1]) in [-1, 1].
            let bound = if c.settings.preprocess.normalisation == Normalisation::MaxAbsHalf { 0.5 } else { 1.0 };
            assert!(m.adr.abs() <= bound, "seed {seed}: {m:?}");
        }
    }
}

#[test]
fn adr_is_antisymmetric() {
    for seed in 0..CASES {
        let c = case(seed);
        let pv = preprocess(&c.v, c.channels, c.settings.preprocess);
        let pd = preprocess(&c.d, c.channels, c.settings.preprocess);
        let (ab, _) = paired_metrics(&pv, &pd, &c.roi, &c.settings);
        let (ba, _) = paired_metrics(&pd, &pv, &c.roi, &c.settings);
        // Sums of the same terms with flipped signs: exactly equal in magnitude.
        assert_eq!(ab, -ba, "seed {seed}");
    }
}

#[test]
fn metrics_are_invariant_to_per_image_scale() {
    for seed in 0..CASES {
        let c = case(seed);
        // A power-of-two scale keeps every float exact, so invariance must hold to rounding of
        // the normalisation itself (the division by max or sum): 1e-12 relative.
        let k = [0.25f32, 2.0, 64.0][(seed % 3) as usize];
        let scaled: Vec<f32> = c.v.iter().map(|x| x * k).collect();
        let a = per_image_metrics(&c.v, &c.d, c.channels, &c.roi, &c.settings).expect("shapes match");
        let b = per_image_metrics(&scaled, &c.d, c.channels, &c.roi, &c.settings).expect("shapes match");
        let close = |x: f64, y: f64| (x - y).abs() <= 1e-12 * x.abs().max(1.0) || (x.is_infinite() && x == y);
        for (ma, mb) in a.iter().zip(&b) {
            assert!(close(ma.vanilla.rrf, mb.vanilla.rrf) && close(ma.vanilla.hrf, mb.vanilla.hrf), "seed {seed}");
            assert!(close(ma.vanilla.mrr, mb.vanilla.mrr) && close(ma.vanilla.det, mb.vanilla.det), "seed {seed}");
            assert!(close(ma.adr, mb.adr) && close(ma.dif, mb.dif), "seed {seed}: {ma:?} {mb:?}");
        }
    }
}

#[test]
fn whole_image_roi_has_rrf_one_unless_the_map_is_empty() {
    for seed in 0..CASES {
        let c = case(seed);
        let whole = Roi::new(0, 0, c.image.width, c.image.height, c.image).expect("whole image");
        let p = preprocess(&c.v, c.channels, c.settings.preprocess);
        let rrf = map_metrics(&p, &whole, &c.settings).rrf;
        let empty = p.iter().all(|&x| x == 0.0);
        assert!(if empty { rrf == 0.0 } else { (rrf - 1.0).abs() < 1e-12 }, "seed {seed}: {rrf}");
    }
}

#[test]
fn equalized_odds_is_symmetric_in_group_order() {
    for seed in 0..CASES {
        let mut rng = SplitMix64::new(seed ^ 0xFA1E);
        let n = 1 + rng.below(40);
        let mut bits = |_| i64::from(rng.below(2) == 1);
        let (y, yh, a): (Vec<i64>, Vec<i64>, Vec<i64>) =
            ((0..n).map(&mut bits).collect(), (0..n).map(&mut bits).collect(), (0..n).map(&mut bits).collect());
        let flipped: Vec<i64> = a.iter().map(|v| 1 - v).collect();
        let r = fairness_report(&y, &yh, &a, None).expect("valid");
        let f = fairness_report(&y, &yh, &flipped, None).expect("valid");
        assert_eq!(r.equalized_odds.value, f.equalized_odds.value, "seed {seed}");
        assert!((0.0..=1.0).contains(&r.equalized_odds.value));
        assert!(r.equalized_odds.value >= r.equal_opportunity.value);
    }
}
