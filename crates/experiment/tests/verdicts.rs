//! The verdicts are tests, not point comparisons: a run with no effect cannot show a claim as
//! *holds* (vanilla against itself), a run without the attribute makes every claim *not
//! testable* (ground truth says vanilla cannot rely on it), a real effect is graded by its
//! Holm-corrected p-value and its direction, and several seeds are counted as "k of n".

#![allow(clippy::unwrap_used)]

#[path = "methods/identity.rs"]
mod identity;

use std::sync::OnceLock;

use biaslens_debias::Registry;
use biaslens_experiment::findings::{ALPHA, Claim, Grade, verdicts};
use biaslens_experiment::{ExperimentConfig, ExperimentResults, Registries, RunOptions, render_report, run_experiment_with};
use burn::prelude::Device;

/// A tiny run: vanilla, the identity (vanilla itself, under another name), ThrOpt and A-ClArC.
fn config(paint: bool, seeds: &[u64]) -> (ExperimentConfig, Registries) {
    let registries = Registries { methods: Registry::builtin().clone().with(identity::Identity), ..Registries::default() };
    let json = format!(
        r#"{{
      "name": "verdicts",
      "data": {{"synthetic": {{"size": 32, "seed": 3, "paint_attribute": {paint}}}, "pool": 2000}},
      "phis": [-0.8],
      "splits": {{"train": 256, "debias": 96, "test": 64}},
      "train": {{"learning_rate": 0.003, "batch_size": 32, "epochs": 2, "seed": 1}},
      "methods": [{{"method": "identity"}}, {{"method": "thr_opt"}}, {{"method": "a_clarc", "config": {{"batch_size": 32}}}}],
      "attribution": {{"images": 16, "batch_size": 8, "methods": [{{"method": "lrp"}}]}},
      "metrics": {{"bootstrap": {{"resamples": 200}}}}
    }}"#
    );
    let mut c = ExperimentConfig::from_json_with(&json, &registries).unwrap();
    c.set_seeds(seeds);
    (c, registries)
}

fn run(paint: bool, seeds: &[u64]) -> ExperimentResults {
    let (c, registries) = config(paint, seeds);
    let options = RunOptions { registries, ..RunOptions::default() };
    pollster::block_on(run_experiment_with(&c, &Device::flex(), &options, |_| {}, || false)).unwrap()
}

fn painted() -> &'static ExperimentResults {
    static RUN: OnceLock<ExperimentResults> = OnceLock::new();
    RUN.get_or_init(|| run(true, &[5]))
}

#[test]
fn vanilla_against_itself_never_holds() {
    let r = painted();
    let v = verdicts(r);
    let toy: Vec<_> = v.findings.iter().filter(|f| f.method == "Identity").collect();
    assert_eq!(toy.len(), 2, "an ROI claim and an EO claim: {toy:?}");
    for f in &toy {
        assert!(matches!(f.grade, Grade::NoEffect | Grade::NotTestable), "{f:?}");
        assert_eq!(f.effect, 0.0, "{f:?}");
        assert!(f.control, "the identity is a control");
    }
    let eo = toy.iter().find(|f| f.kind == Claim::LowersEqualizedOdds).unwrap();
    assert_eq!(eo.p, Some(1.0), "identical predictions: every resample differs by exactly 0");
    let roi = toy.iter().find(|f| f.kind == Claim::LowersRoiRelevance).unwrap();
    assert_eq!(roi.p, None, "identical maps: the t-test is undefined, never significant");
    // Its reliance is vanilla's, to the last bit (same network, same images).
    let p = &r.phis[0];
    assert_eq!(p.models[1].reliance, p.models[0].reliance);
    // ThrOpt is a sanity row, not a claim about maps.
    assert!(v.sanity.iter().any(|s| s.method == "ThrOpt" && s.unchanged), "{:?}", v.sanity);
    assert!(!v.findings.iter().any(|f| f.method == "ThrOpt" && f.kind == Claim::LowersRoiRelevance));
    // Reliance numbers are in range and travel with the results.
    for m in &p.models {
        let rel = m.reliance.as_ref().expect("synthetic data has counterfactuals");
        assert_eq!(rel.n, 64);
        assert!((0.0..=1.0).contains(&rel.flip_rate.value) && rel.logit_change.value >= 0.0);
    }
    // Where vanilla's map looks: MRR over all explained faces and over those with the attribute,
    // the latter pooled from the groups with protected = 1.
    let a = v.premises[0].attention.as_ref().expect("vanilla has LRP maps");
    let s = &p.models[0].attribution("lrp").unwrap().saliency;
    assert_eq!(a.key, "lrp");
    assert_eq!(a.mrr_all, s.pooled.mrr_vanilla.mean);
    let with: Vec<_> = s.groups.iter().filter(|g| g.group.protected == 1).collect();
    assert_eq!(a.n_with, with.iter().map(|g| g.metrics.n).sum::<usize>());
    assert!(a.n_with > 0 && a.n_with < 16, "some but not all of the 16 explained faces wear it: {}", a.n_with);
    let lo = with.iter().map(|g| g.metrics.mrr_vanilla.mean).fold(f64::INFINITY, f64::min);
    let hi = with.iter().map(|g| g.metrics.mrr_vanilla.mean).fold(f64::NEG_INFINITY, f64::max);
    let m = a.mrr_with.unwrap();
    assert!(lo - 1e-12 <= m && m <= hi + 1e-12, "a weighted mean of the groups' MRR: {m} not in [{lo}, {hi}]");
    let html = render_report(r);
    for needle in ["Ground truth: how much each model relies", "Premise:", "verdict-summary", "(control)", "relevance per pixel is"] {
        assert!(html.contains(needle), "report lacks {needle}");
    }
}

#[test]
fn without_the_attribute_nothing_is_testable() {
    let r = run(false, &[5]);
    let v = verdicts(&r);
    let vanilla = r.phis[0].models[0].reliance.as_ref().unwrap();
    assert_eq!((vanilla.logit_change.value, vanilla.flip_rate.value, vanilla.shortcut.value), (0.0, 0.0, 0.0), "no attribute, no reliance");
    assert!(!v.premises[0].roi && !v.premises[0].eo, "{:?}", v.premises[0]);
    assert!(!v.findings.is_empty());
    assert!(v.findings.iter().all(|f| f.grade == Grade::NotTestable), "{:?}", v.findings);
    assert_eq!(v.count(Grade::Holds), 0);
}

/// The grading itself, on a real document with the evidence edited: a strong premise and a
/// strong, right-signed effect hold; the same effect with the opposite sign is *opposite*; a
/// weak one is *direction only*; Holm's correction counts every testable claim of the unit.
#[test]
fn grades_follow_the_corrected_test_and_the_sign() {
    let mut r = painted().clone();
    let p = &mut r.phis[0];
    let rel = p.models[0].reliance.as_mut().unwrap();
    rel.shortcut.value = 0.2;
    rel.shortcut_p = Some(1e-9);
    let a = p.models.iter_mut().find(|m| m.name == "A-ClArC").unwrap();
    let lrp = a.attributions.get_mut("lrp").unwrap();
    lrp.saliency.pooled.adr.mean = 0.05;
    lrp.saliency.pooled.rddt.test.t = Some(6.0);
    lrp.saliency.pooled.rddt.test.p = Some(1e-6);
    let eo = a.eo_vs_vanilla.as_mut().unwrap();
    eo.difference = 0.1;
    eo.p = 0.002;
    let v = verdicts(&r);
    let get = |v: &biaslens_experiment::findings::Verdicts, k: Claim| v.findings.iter().find(|f| f.method == "A-ClArC" && f.kind == k).cloned().unwrap();
    let roi = get(&v, Claim::LowersRoiRelevance);
    assert_eq!(roi.grade, Grade::Holds, "{roi:?}");
    assert!(roi.p_adjusted.unwrap() < ALPHA && roi.p_adjusted.unwrap() >= roi.p.unwrap());
    assert_eq!(get(&v, Claim::LowersEqualizedOdds).grade, Grade::Opposite, "EO went up significantly");
    // Weak evidence in the right direction.
    let mut weak = r.clone();
    let a = weak.phis[0].models.iter_mut().find(|m| m.name == "A-ClArC").unwrap();
    a.attributions.get_mut("lrp").unwrap().saliency.pooled.rddt.test.p = Some(0.4);
    assert_eq!(get(&verdicts(&weak), Claim::LowersRoiRelevance).grade, Grade::DirectionOnly);
    // A p of 0.02 holds alone but not after Holm over the unit's testable claims.
    let mut corrected = r.clone();
    let a = corrected.phis[0].models.iter_mut().find(|m| m.name == "A-ClArC").unwrap();
    a.attributions.get_mut("lrp").unwrap().saliency.pooled.rddt.test.p = Some(0.01);
    let f = get(&verdicts(&corrected), Claim::LowersRoiRelevance);
    assert!(f.p.unwrap() < ALPHA && f.p_adjusted.unwrap() > f.p.unwrap(), "{f:?}");
}

#[test]
fn several_seeds_are_counted_k_of_n() {
    let r = run(true, &[5, 6]);
    assert_eq!(r.phis.iter().map(|p| p.seed).collect::<Vec<_>>(), [5, 6]);
    assert_ne!(r.phis[0].models[0].fairness, r.phis[1].models[0].fairness, "another seed, another vanilla");
    let v = verdicts(&r);
    assert_eq!(v.premises.len(), 2);
    let a = v.across_seeds.iter().find(|a| a.method == "A-ClArC" && a.kind == Claim::LowersEqualizedOdds).unwrap();
    assert_eq!(a.seeds, 2);
    let held = v.findings.iter().filter(|f| f.method == "A-ClArC" && f.kind == Claim::LowersEqualizedOdds && f.holds).count();
    assert_eq!(a.holds, held);
    let table = biaslens_experiment::report::figures::results_table(&r, "lrp");
    assert_eq!(table.phis, vec![-0.8], "one bar group per φ, averaged over the seeds");
    assert!(table.title.as_deref().is_some_and(|t| t.contains("2 seeds")));
    // The mean over the seeds, with an across-seed interval around it.
    let eo = table.metrics.iter().find(|m| m.metric == biaslens_viz::Metric::EqualizedOdds).unwrap();
    let e = eo.values[0][0].unwrap();
    let mean = (r.phis[0].models[0].fairness.equalized_odds.value + r.phis[1].models[0].fairness.equalized_odds.value) / 2.0;
    assert!((e.value - mean).abs() < 1e-12);
    // Two seeds give t = 12.7: the interval of a rate is cut at 0 and 1, never beyond.
    let [lo, hi] = e.ci.expect("an interval across two seeds");
    assert!(lo <= e.value && e.value <= hi, "{lo} ≤ {} ≤ {hi}", e.value);
    for m in table.metrics.iter().filter(|m| m.metric != biaslens_viz::Metric::Adr) {
        for [lo, hi] in m.values.iter().flatten().flatten().filter_map(|e| e.ci) {
            assert!((0.0..=1.0).contains(&lo) && (0.0..=1.0).contains(&hi), "{:?}: [{lo}, {hi}]", m.metric);
        }
    }
    assert!(render_report(&r).contains("Over the seeds"));
}
