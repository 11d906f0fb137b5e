//! A debiasing method added through the registry alone: one file (`methods/identity.rs`) and one
//! registry line, then named in a config and run like a built-in method. The config is refused
//! with the built-in registry, which does not know it.

#![allow(clippy::unwrap_used)]

#[path = "methods/identity.rs"]
mod identity;

use biaslens_debias::Registry;
use biaslens_experiment::{ExperimentConfig, Registries, RunOptions, run_experiment_with};
use burn::prelude::Device;

const CONFIG: &str = r#"{
  "name": "toy method",
  "data": {"synthetic": {"size": 32, "seed": 3}, "pool": 2000},
  "phis": [-0.6],
  "splits": {"train": 256, "debias": 96, "test": 48},
  "train": {"learning_rate": 0.003, "batch_size": 32, "epochs": 1, "seed": 1},
  "methods": [{"method": "identity", "config": {"echo": 2.5}}, {"method": "thr_opt"}],
  "attribution": {"images": 8, "batch_size": 8, "methods": [{"method": "lrp"}, {"method": "gradient"}]},
  "metrics": {"bootstrap": {"resamples": 20}}
}"#;

#[test]
fn a_method_added_to_the_registry_runs() {
    let registries = Registries { methods: Registry::builtin().clone().with(identity::Identity), ..Registries::default() };
    let err = ExperimentConfig::from_json(CONFIG).expect_err("the built-in registry does not know it");
    assert!(err.to_string().contains("unknown method \"identity\""), "{err}");
    let config = ExperimentConfig::from_json_with(CONFIG, &registries).expect("known to the extended registry");
    let options = RunOptions { registries, ..RunOptions::default() };
    let r = pollster::block_on(run_experiment_with(&config, &Device::flex(), &options, |_| {}, || false)).expect("runs");
    assert_eq!(r.model_names(), ["Vanilla", "Identity", "ThrOpt"]);
    let p = &r.phis[0];
    let (vanilla, toy) = (&p.models[0], &p.models[1]);
    assert_eq!(toy.method.as_deref(), Some("identity"));
    assert_eq!(toy.family, Some(biaslens_debias::Family::Control));
    assert_eq!(toy.details.get("echo"), Some(&2.5), "the config reached the method");
    // Vanilla itself: the same predictions and the same maps, so no difference at all.
    assert_eq!(toy.fairness, vanilla.fairness);
    for key in ["lrp", "gradient"] {
        let s = &toy.attribution(key).unwrap().saliency.pooled;
        assert_eq!((s.adr.mean, s.dif.mean), (0.0, 0.0), "{key}");
        assert_eq!(s.rrf.mean, vanilla.attribution(key).unwrap().saliency.pooled.rrf.mean, "{key}");
    }
    // The report names it.
    assert!(biaslens_experiment::render_report(&r).contains("Identity"));
}
