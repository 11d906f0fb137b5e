//! Each method does what it claims, on the synthetic benchmark: a compact ResNet trained where
//! the necktie and smiling are perfectly anti-correlated (so it is biased), debiased on the
//! authors' debias split (p = 0.25). All on the flex CPU device; the fixture is built once.

#![allow(clippy::unwrap_used)]

mod common;

use std::cell::Cell;

use biaslens_debias::*;
use biaslens_model::Tap;
use burn::prelude::*;
use common::{SIDE, accuracy, eo_gap, fixture};

fn dev() -> Device {
    Device::flex()
}

fn run<T>(f: impl std::future::Future<Output = Result<T, DebiasError>>) -> T {
    pollster::block_on(f).unwrap()
}

/// The fixture is what the tests need: a network whose predictions depend on the attribute.
#[test]
fn vanilla_model_is_biased() {
    let f = fixture();
    let eo = eo_gap(&DebiasedModel::plain(f.vanilla.clone()), &f.debias);
    assert!(eo > 0.3, "vanilla EO gap on the debias split {eo}");
}

#[test]
fn thr_opt_takes_its_grids_lowest_eo_gap_never_above_vanillas() {
    let f = fixture();
    let vanilla_eo = eo_gap(&DebiasedModel::plain(f.vanilla.clone()), &f.debias);
    let config = ThrOptConfig::new();
    let out = run(thr_opt(f.vanilla.clone(), f.debias.data(), &config, &dev(), |_| {}, || false));
    // The grid is the code's: 20 points from 0.1 to 0.9, and the choice is its minimum.
    assert_eq!(out.grid.len(), 20);
    assert!((out.grid[0].0 - 0.1).abs() < 1e-12 && (out.grid[19].0 - 0.9).abs() < 1e-12);
    let min = out.grid.iter().map(|g| g.1).fold(f64::INFINITY, f64::min);
    assert_eq!(out.eo_gap, min);
    let first_min = out.grid.iter().find(|g| g.1 == min).unwrap().0;
    assert_eq!(out.threshold, first_min, "ties go to the lowest threshold");
    // The hooked model's argmax is `p1 > t`: its EO gap is the one the search saw.
    let hooked_eo = eo_gap(&out.model, &f.debias);
    assert!((hooked_eo - out.eo_gap).abs() < 1e-9, "{hooked_eo} vs {}", out.eo_gap);
    // Against vanilla: ThrOpt takes the minimum of the authors' grid, which does not hold
    // vanilla's own threshold 0.5. When a grid threshold predicts as vanilla does (the same EO
    // gap), the minimum is at most vanilla's gap; strictly lower only if some threshold moves
    // predictions the right way, which a saturated network does not allow (this fixture trained
    // with gemm's AVX-512 kernels: every threshold from 0.35 to 0.52 gives vanilla's
    // predictions, every other one a larger gap). Either way the chosen gap is never above a
    // grid point that reproduces vanilla. (Where no grid point does, because some p₁ falls
    // between the two grid thresholds around 0.5, the comparison has no premise.)
    if out.grid.iter().any(|g| (g.1 - vanilla_eo).abs() < 1e-12) {
        assert!(hooked_eo <= vanilla_eo, "ThrOpt {hooked_eo} vs vanilla {vanilla_eo}");
    }
    // The weights are untouched: the raw logits are the vanilla network's.
    let x = Tensor::<4>::from_data(
        TensorData::new(f.debias.pixels[..2 * 3 * SIDE * SIDE].to_vec(), [2, 3, SIDE, SIDE]),
        &dev(),
    );
    out.model
        .logits(x.clone())
        .into_data()
        .assert_eq(&f.vanilla.forward(x.clone()).into_data(), true);
    // The output is [1 − s, s] with s = σ(10 (p1 − t)).
    let y = out.model.forward(x.clone()).unwrap().into_data().try_into_vec::<f32>().unwrap();
    let p = burn::tensor::activation::softmax(f.vanilla.forward(x), 1)
        .into_data()
        .try_into_vec::<f32>()
        .unwrap();
    for i in 0..2 {
        let s = 1.0 / (1.0 + (-10.0 * (f64::from(p[2 * i + 1]) - out.threshold)).exp());
        assert!((f64::from(y[2 * i + 1]) - s).abs() < 1e-5);
        assert!((f64::from(y[2 * i] + y[2 * i + 1]) - 1.0).abs() < 1e-5);
    }
}

#[test]
fn group_thresholds_meet_the_bound_or_lower_the_gap() {
    let f = fixture();
    let vanilla_eo = eo_gap(&DebiasedModel::plain(f.vanilla.clone()), &f.debias);
    let config = GroupThresholdConfig::new();
    let out = run(group_thresholds(
        f.vanilla.clone(),
        f.debias.data(),
        &config,
        &dev(),
        |_| {},
        || false,
    ));
    let eo = eo_gap(&out.model, &f.debias);
    assert!((eo - out.eo_gap).abs() < 1e-9, "{eo} vs {}", out.eo_gap);
    assert!((accuracy(&out.model, &f.debias) - out.accuracy).abs() < 1e-9);
    if out.constraint_met {
        assert!(eo <= config.max_eo_gap);
    }
    assert!(eo < vanilla_eo, "group thresholds {eo} vs vanilla {vanilla_eo}");
    // Two groups, two thresholds: the model needs the groups at inference.
    let x = Tensor::<4>::zeros([1, 3, SIDE, SIDE], &dev());
    assert_eq!(out.model.forward(x).unwrap_err(), DebiasError::NeedsGroups);
}

/// Variance of the activations at the hook's layer along the CAV, before and after the hook.
fn variance_along_cav(model: &DebiasedModel, cav: &Cav) -> (f64, f64) {
    let tap = model.hook_tap().unwrap();
    let f = fixture();
    let n = f.debias.targets.len();
    let x = Tensor::<4>::from_data(
        TensorData::new(f.debias.pixels.clone(), [n, 3, SIDE, SIDE]),
        &dev(),
    );
    let d = cav.direction.len();
    let v = Tensor::<2>::from_data(TensorData::new(cav.direction.clone(), [d, 1]), &dev());
    let var = |feats: Tensor<2>| -> f64 {
        let p = feats.matmul(v.clone()).into_data().try_into_vec::<f32>().unwrap();
        let m = p.iter().map(|&x| f64::from(x)).sum::<f64>() / n as f64;
        p.iter().map(|&x| (f64::from(x) - m).powi(2)).sum::<f64>() / n as f64
    };
    (
        var(DebiasedModel::plain(model.model.clone()).activations(x.clone(), tap)),
        var(model.activations(x, tap)),
    )
}

#[test]
fn p_clarc_leaves_no_variance_along_the_cav() {
    let f = fixture();
    let out = run(p_clarc(
        f.vanilla.clone(),
        f.debias.data(),
        &PClarcConfig::new(),
        &dev(),
        |_| {},
        || false,
    ));
    let hook = out.model.hook.as_ref().unwrap();
    assert_eq!(hook.reference, out.cav.mean_clean, "P-ClArC projects to the clean mean");
    let (before, after) = variance_along_cav(&out.model, &out.cav);
    assert!(before > 1e-4, "the CAV direction varies before: {before}");
    assert!(after < 1e-6 * before, "after projection {after} (before {before})");
    // fc sees exactly the projected features.
    let x = Tensor::<4>::from_data(
        TensorData::new(f.debias.pixels[..4 * 3 * SIDE * SIDE].to_vec(), [4, 3, SIDE, SIDE]),
        &dev(),
    );
    out.model
        .forward(x.clone())
        .unwrap()
        .into_data()
        .assert_approx_eq::<f32>(
            &out.model.model.fc.forward(out.model.activations(x, Tap::Pooled)).into_data(),
            Default::default(),
        );
}

#[test]
fn p_clarc_at_a_feature_map_leaves_no_variance_along_its_cav() {
    let f = fixture();
    let config = PClarcConfig::new().with_cav(CavConfig::new().with_layer(Tap::Layer3));
    let out = run(p_clarc(f.vanilla.clone(), f.debias.data(), &config, &dev(), |_| {}, || false));
    assert_eq!(out.model.hook_tap(), Some(Tap::Layer3));
    // layer3 of width 8 at 32×32: 32 channels of 2×2.
    assert_eq!(out.cav.direction.len(), 32 * 2 * 2);
    let (before, after) = variance_along_cav(&out.model, &out.cav);
    assert!(before > 1e-4, "the CAV direction varies before: {before}");
    assert!(after < 1e-6 * before, "after projection {after} (before {before})");
}

#[test]
fn a_clarc_fine_tunes_and_keeps_its_hook_as_the_authors_code_does() {
    let f = fixture();
    let config = AClarcConfig::new().with_batch_size(64);
    let out = run(a_clarc(f.vanilla.clone(), f.debias.data(), &config, &dev(), |_| {}, || false));
    let hook = out.model.hook.as_ref().unwrap();
    assert_eq!(hook.reference, out.cav.mean_artifact, "A-ClArC adds the artifact");
    let (before, after) = variance_along_cav(&out.model, &out.cav);
    assert!(after < 1e-6 * before.max(1e-12), "{after} vs {before}");
    assert_ne!(
        out.model.model.fc.weight.val().into_data(),
        f.vanilla.fc.weight.val().into_data(),
        "fine-tuned"
    );
    let removed = run(a_clarc(
        f.vanilla.clone(),
        f.debias.data(),
        &config.clone().with_keep_hook(false),
        &dev(),
        |_| {},
        || false,
    ));
    assert!(removed.model.hook.is_none());
    // Same seed, same fine-tuning: only the hook differs.
    removed
        .model
        .model
        .fc
        .weight
        .val()
        .into_data()
        .assert_eq(&out.model.model.fc.weight.val().into_data(), true);
}

fn rr_config() -> RrClarcConfig {
    RrClarcConfig::new().with_batch_size(32).with_seed(4)
}

#[test]
fn rr_clarc_penalty_falls_during_fine_tuning() {
    let f = fixture();
    let mut events = Vec::new();
    let out = run(rr_clarc(
        f.vanilla.clone(),
        f.debias.data(),
        &rr_config(),
        &dev(),
        |p| events.push(*p),
        || false,
    ));
    assert!(out.model.hook.is_none(), "RR-ClArC leaves no hook");
    let steps = f.debias.targets.len().div_ceil(32);
    assert_eq!(out.penalties.len(), steps);
    let fine: Vec<f32> = events
        .iter()
        .filter(|e| e.stage == Stage::FineTune)
        .filter_map(|e| e.aux)
        .collect();
    assert_eq!(fine, out.penalties, "progress events carry the penalty");
    let before = run(rr_penalty(&f.vanilla, &out.cav, f.debias.data(), 128, &dev()));
    let after = run(rr_penalty(&out.model.model, &out.cav, f.debias.data(), 128, &dev()));
    assert!(before > 0.0);
    assert!(after < 0.9 * before, "penalty over the split: {before} → {after}");
    let k = steps / 3;
    let first: f32 = out.penalties[..k].iter().sum::<f32>() / k as f32;
    let last: f32 = out.penalties[steps - k..].iter().sum::<f32>() / k as f32;
    assert!(last < first, "per-step penalty {:?}", out.penalties);
}

#[test]
fn rr_penalty_is_the_fc_row_along_the_cav() {
    // At the pooled layer ∂(max logit)/∂a = W[:, argmax]: check rr_penalty against autodiff.
    let f = fixture();
    let cav = run(p_clarc(
        f.vanilla.clone(),
        f.debias.data(),
        &PClarcConfig::new(),
        &dev(),
        |_| {},
        || false,
    ))
    .cav;
    let n = 16;
    let x = Tensor::<4>::from_data(
        TensorData::new(f.debias.pixels[..n * 3 * SIDE * SIDE].to_vec(), [n, 3, SIDE, SIDE]),
        &dev(),
    );
    let ad = dev().autodiff();
    let model = f.vanilla.valid();
    let a = model.features(x.clone()).autodiff().require_grad();
    let w = Tensor::<2>::from_data(model.fc.weight.val().into_data(), &ad);
    let bias = model.fc.bias.as_ref().unwrap().val();
    let bias = Tensor::<1>::from_data(bias.into_data(), &ad).unsqueeze::<2>();
    let logits = a.clone().matmul(w) + bias;
    let maxes = logits.clone().max_dim(1).sum();
    let g = a.grad(&maxes.backward()).unwrap(); // [n, D]: each row ∇ of its own max logit
    let d = cav.direction.len();
    let v = Tensor::<2>::from_data(TensorData::new(cav.direction.clone(), [d, 1]), &g.device());
    let expected: f64 = g
        .matmul(v)
        .square()
        .into_data()
        .try_into_vec::<f32>()
        .unwrap()
        .iter()
        .map(|&x| f64::from(x))
        .sum::<f64>()
        / n as f64;
    let sub = biaslens_debias::DebiasData {
        pixels: &f.debias.pixels[..n * 3 * SIDE * SIDE],
        targets: &f.debias.targets[..n],
        attribute: &f.debias.attribute[..n],
        image: [3, SIDE, SIDE],
    };
    let got = run(rr_penalty(&f.vanilla, &cav, sub, 8, &dev()));
    assert!((got - expected).abs() < 1e-5 * expected.max(1e-6), "{got} vs {expected}");
}

fn zhang_config() -> ZhangConfig {
    // Stronger than the defaults (10 network steps at lr 1e-4 barely move this network): the
    // test is that the mechanism removes what an adversary can read, not the defaults' size.
    ZhangConfig::new()
        .with_batch_size(64)
        .with_model_lr(1e-3)
        .with_iterations(8)
        .with_model_iterations(4)
}

#[test]
fn zhang_al_reduces_the_adversarys_advantage() {
    let f = fixture();
    let vanilla = DebiasedModel::plain(f.vanilla.clone());
    let before = run(adversary_advantage(&vanilla, f.debias.data(), 200, 1, &dev()));
    let out = run(zhang_al(
        f.vanilla.clone(),
        f.debias.data(),
        &zhang_config(),
        &dev(),
        |_| {},
        || false,
    ));
    let after = run(adversary_advantage(&out.model, f.debias.data(), 200, 1, &dev()));
    assert!(before > 0.2, "the vanilla logits reveal the attribute: {before} nats");
    assert!(after < 0.5 * before, "adversary advantage {before} → {after} nats");
    assert_eq!(out.model_losses.len(), 8 * 4);
    assert_eq!(out.critic_losses.len(), 9 * 5);
}

#[test]
fn zhang_projection_variants_differ_and_both_run() {
    let f = fixture();
    let small = ZhangConfig::new().with_batch_size(64).with_iterations(2).with_critic_iterations(2);
    let a = run(zhang_al(f.vanilla.clone(), f.debias.data(), &small, &dev(), |_| {}, || false));
    let b = run(zhang_al(
        f.vanilla.clone(),
        f.debias.data(),
        &small.clone().with_projection(Projection::Normalised),
        &dev(),
        |_| {},
        || false,
    ));
    // Same seed, same first gradients: the first step's losses agree, the updates do not.
    assert_eq!(a.model_losses[0], b.model_losses[0]);
    assert_ne!(
        a.model.model.fc.weight.val().into_data(),
        b.model.model.fc.weight.val().into_data()
    );
}

fn savani_config() -> SavaniConfig {
    SavaniConfig::new()
        .with_batch_size(64)
        .with_iterations(4)
        .with_critic_iterations(2)
        .with_model_iterations(4)
        .with_model_lr(5e-4)
}

#[test]
fn savani_aft_lowers_the_gap_its_critic_measures() {
    let f = fixture();
    let out = run(savani_aft(
        f.vanilla.clone(),
        f.debias.data(),
        &savani_config(),
        &dev(),
        |_| {},
        || false,
    ));
    assert_eq!(out.model_steps.len(), 16);
    assert_eq!(out.critic_losses.len(), 8);
    // The critic's target — the EO gap of the network's argmax predictions — falls over the run.
    let k = 4;
    let first: f64 = out.model_steps[..k].iter().map(|s| s.0).sum::<f64>() / k as f64;
    let last: f64 = out.model_steps[16 - k..].iter().map(|s| s.0).sum::<f64>() / k as f64;
    assert!(last < first, "batch EO gaps {:?}", out.model_steps);
    // And on the whole split, with the τ hook, the classifier is fairer than the vanilla one.
    let vanilla_eo = eo_gap(&DebiasedModel::plain(f.vanilla.clone()), &f.debias);
    let eo = eo_gap(&out.model, &f.debias);
    assert!(eo < vanilla_eo, "SavaniAFT {eo} vs vanilla {vanilla_eo}");
}

#[test]
fn adversarial_methods_and_rr_clarc_are_deterministic_under_a_seed() {
    let f = fixture();
    let zc = ZhangConfig::new().with_batch_size(64).with_iterations(2).with_critic_iterations(2);
    let z1 = run(zhang_al(f.vanilla.clone(), f.debias.data(), &zc, &dev(), |_| {}, || false));
    let z2 = run(zhang_al(f.vanilla.clone(), f.debias.data(), &zc, &dev(), |_| {}, || false));
    assert_eq!(z1.critic_losses, z2.critic_losses);
    assert_eq!(z1.model_losses, z2.model_losses);
    assert_eq!(z1.tau, z2.tau);
    z1.model.model.fc.weight.val().into_data()
        .assert_eq(&z2.model.model.fc.weight.val().into_data(), true);
    // Another seed draws other batches and another adversary.
    let z3 = run(zhang_al(f.vanilla.clone(), f.debias.data(), &zc.clone().with_seed(7), &dev(), |_| {}, || false));
    assert_ne!(z1.critic_losses, z3.critic_losses);

    let sc = SavaniConfig::new().with_batch_size(32).with_iterations(2).with_critic_iterations(1).with_model_iterations(2);
    let s1 = run(savani_aft(f.vanilla.clone(), f.debias.data(), &sc, &dev(), |_| {}, || false));
    let s2 = run(savani_aft(f.vanilla.clone(), f.debias.data(), &sc, &dev(), |_| {}, || false));
    assert_eq!(s1.critic_losses, s2.critic_losses);
    assert_eq!(s1.model_steps, s2.model_steps);
    s1.model.model.fc.weight.val().into_data()
        .assert_eq(&s2.model.model.fc.weight.val().into_data(), true);

    let r1 = run(rr_clarc(f.vanilla.clone(), f.debias.data(), &rr_config(), &dev(), |_| {}, || false));
    let r2 = run(rr_clarc(f.vanilla.clone(), f.debias.data(), &rr_config(), &dev(), |_| {}, || false));
    assert_eq!(r1.losses, r2.losses);
    assert_eq!(r1.penalties, r2.penalties);
}

#[test]
fn cancellation_stops_between_steps() {
    let f = fixture();
    let seen = Cell::new(0usize);
    let err = pollster::block_on(rr_clarc(
        f.vanilla.clone(),
        f.debias.data(),
        &rr_config(),
        &dev(),
        |_| seen.set(seen.get() + 1),
        || seen.get() >= 3,
    ))
    .unwrap_err();
    assert_eq!(err, DebiasError::Cancelled);
    assert_eq!(seen.get(), 3, "no step after the stop");
    let err = pollster::block_on(thr_opt(
        f.vanilla.clone(),
        f.debias.data(),
        &ThrOptConfig::new(),
        &dev(),
        |_| {},
        || true,
    ))
    .unwrap_err();
    assert_eq!(err, DebiasError::Cancelled);
}

#[test]
fn bad_inputs_are_errors() {
    let f = fixture();
    let mut attribute = f.debias.attribute.clone();
    attribute[3] = 2;
    let bad = DebiasData {
        attribute: &attribute,
        ..f.debias.data()
    };
    let err = pollster::block_on(thr_opt(f.vanilla.clone(), bad, &ThrOptConfig::new(), &dev(), |_| {}, || false))
        .unwrap_err();
    assert!(err.to_string().contains("image 3"), "{err}");
    let config = rr_config().with_cav(CavConfig::new().with_layer(Tap::Layer3));
    let err = pollster::block_on(rr_clarc(f.vanilla.clone(), f.debias.data(), &config, &dev(), |_| {}, || false))
        .unwrap_err();
    assert_eq!(err, DebiasError::UnsupportedLayer(Tap::Layer3));
}

#[test]
fn configs_have_the_papers_defaults_and_round_trip_through_json() {
    let z = ZhangConfig::new();
    assert_eq!((z.iterations, z.critic_iterations, z.model_iterations), (5, 5, 2));
    assert_eq!((z.critic_lr, z.model_lr, z.seed), (2e-4, 1e-4, 123));
    assert_eq!(z.critic_hidden, vec![256, 256, 256]);
    let s = SavaniConfig::new();
    assert_eq!((s.iterations, s.critic_iterations, s.model_iterations), (10, 5, 5));
    assert_eq!(s.critic_filters, vec![8, 16, 32]);
    let t = ThrOptConfig::new();
    assert_eq!((t.low, t.high, t.steps, t.temperature), (0.1, 0.9, 20, 10.0));
    let r = RrClarcConfig::new();
    assert_eq!((r.lambda, r.learning_rate, r.epochs, r.batch_size), (1.0, 1e-3, 1, 128));
    let a = AClarcConfig::new();
    assert!(a.keep_hook);
    assert_eq!(a.cav.kind, CavKind::Signal);
    assert_eq!(a.cav.labels, ConceptLabels::OwnAttribute);
    for json in [
        serde_json::to_string(&z).unwrap(),
        serde_json::to_string(&RrClarcConfig::new().with_cav(CavConfig::new().with_kind(CavKind::logistic()))).unwrap(),
    ] {
        assert!(!json.is_empty());
    }
    let back: ZhangConfig = serde_json::from_str(&serde_json::to_string(&z).unwrap()).unwrap();
    assert_eq!(back, z);
    let rr = RrClarcConfig::new().with_cav(CavConfig::new().with_kind(CavKind::logistic()));
    let back: RrClarcConfig = serde_json::from_str(&serde_json::to_string(&rr).unwrap()).unwrap();
    assert_eq!(back, rr);
}

#[test]
fn attribution_sees_the_function_the_model_computes() {
    // What an attribution method does: run the (frozen) classifier on an autodiff input and
    // differentiate. The values must be the inference values, and the gradient must exist
    // through the hook and the soft threshold.
    let f = fixture();
    let n = 4;
    let x = Tensor::<4>::from_data(
        TensorData::new(f.debias.pixels[..n * 3 * SIDE * SIDE].to_vec(), [n, 3, SIDE, SIDE]),
        &dev(),
    );
    let thr = run(thr_opt(f.vanilla.clone(), f.debias.data(), &ThrOptConfig::new(), &dev(), |_| {}, || false)).model;
    let acl = run(a_clarc(
        f.vanilla.clone(),
        f.debias.data(),
        &AClarcConfig::new().with_batch_size(64),
        &dev(),
        |_| {},
        || false,
    ))
    .model;
    for model in [thr, acl] {
        let plain = model.forward(x.clone()).unwrap();
        let frozen = model.frozen();
        let xa = x.clone().autodiff().require_grad();
        let out = frozen.forward(xa.clone()).unwrap();
        out.clone()
            .inner()
            .into_data()
            .assert_approx_eq::<f32>(&plain.into_data(), Default::default());
        let grads = out.narrow(1, 1, 1).sum().backward();
        let g = xa.grad(&grads).expect("the input gradient exists");
        let mag = g.abs().sum().into_data().try_into_vec::<f32>().unwrap()[0];
        assert!(mag > 0.0 && mag.is_finite(), "input gradient magnitude {mag}");
    }
}

#[test]
fn own_attribute_concept_labels_and_the_authors_pairing() {
    // The CAV from each sample's own attribute separates the groups along it. The authors'
    // reshape-without-transpose labels (here: debias data in index order, batches of 128) are
    // decoupled from each sample's attribute. (On this necktie-dominated network their CAV still
    // separates the groups fairly well: the mean difference of near-random halves points along
    // the features' largest variance, which is the artifact. The test does not rely on that.)
    let f = fixture();
    let feats = run(activations(&f.vanilla, f.debias.data(), Tap::Pooled, 128, &dev(), &mut |_| {}, &|| false));
    let dim = feats.len() / f.debias.targets.len();
    let separation = |labels: &[u8]| -> f64 {
        let cav = fit_cav(&feats, dim, labels, &CavKind::Signal).unwrap();
        // Standardised mean difference of the projections between the true groups.
        let proj: Vec<f64> = feats
            .chunks_exact(dim)
            .map(|r| r.iter().zip(&cav.direction).map(|(a, b)| f64::from(a * b)).sum())
            .collect();
        let group = |g: u8| -> Vec<f64> {
            proj.iter().zip(&f.debias.attribute).filter(|(_, a)| **a == g).map(|(p, _)| *p).collect()
        };
        let (p1, p0) = (group(1), group(0));
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        let var = |v: &[f64]| {
            let m = mean(v);
            v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / v.len() as f64
        };
        (mean(&p1) - mean(&p0)).abs() / ((var(&p1) + var(&p0)) / 2.0).sqrt().max(1e-12)
    };
    let own = separation(&f.debias.attribute);
    let bugged_labels = authors_concept_labels(&f.debias.targets, &f.debias.attribute, 128);
    let bugged = separation(&bugged_labels);
    eprintln!("separation along the CAV: own labels {own:.3}, authors' pairing {bugged:.3}");
    assert!(own > 2.0, "own-attribute CAV separation {own}");
    let mut t = [0u64; 4];
    for (&l, &a) in bugged_labels.iter().zip(&f.debias.attribute) {
        t[usize::from(l) * 2 + usize::from(a)] += 1;
    }
    let phi = biaslens_metrics::yule_phi(t[3], t[2], t[1], t[0]).unwrap();
    assert!(phi.abs() < 0.2, "the authors' labels agree with the own attribute: φ = {phi}");
}
