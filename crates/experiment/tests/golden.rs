//! The runner's numbers before and after a refactoring: a fixed-seed run with every debiasing
//! method, LRP and IG, compared with a recorded results document. `golden_v1.json` is what the
//! runner of commit 7a6eec9 wrote (before the runner was split by stage; the split reproduced it
//! bit for bit, and it still imports through the version-1 migration); `golden_v2.json` was
//! recorded after the DetoxAI fidelity fixes moved the numbers on purpose. Regenerate only for a
//! change meant to move the numbers, and say which in the commit:
//! `BIASLENS_WRITE_GOLDEN=1 cargo test -p biaslens-experiment --test golden`.
//!
//! The fixture was recorded on one machine. burn's flex backend picks its matrix and SIMD
//! kernels by the CPU's features at run time (AVX-512 here), so another CPU sums float32 in
//! another order, and those last-bit differences grow through training until a prediction flips
//! (CI failed on exactly that when this test compared strings everywhere). So the comparison
//! depends on the CPU:
//!
//! - on a CPU with the recording machine's features ([`GOLDEN_CPU`]) every number must be
//!   identical: this is what proves a refactoring kept the numbers;
//! - on any other CPU, the document must have the same shape (every field, every list length,
//!   every model name and label) and everything computed before any training must be identical:
//!   the config, the splits (cell counts and correlations), the explained groups' sizes and mean
//!   inputs.
//!
//! `BIASLENS_GOLDEN_EXACT=1` forces the exact comparison, `=0` the other one.

#![allow(clippy::unwrap_used)]

use biaslens_data::SyntheticConfig;
use biaslens_debias::{AClarcConfig, GroupThresholdConfig, PClarcConfig, RrClarcConfig, SavaniConfig, ThrOptConfig, ZhangConfig};
use biaslens_experiment::config::{AttributionConfig, DataConfig, MetricsConfig, SplitSizes};
use biaslens_debias::{AClarc, GroupThresholds, PClarc, RrClarc, SavaniAft, ThrOpt, ZhangAl};
use biaslens_experiment::results::migrate_v1;
use biaslens_experiment::{ExperimentConfig, MethodSpec, Registries, RunOptions, run_experiment_with};
use serde_json::Value;
use biaslens_metrics::BootstrapSettings;
use biaslens_model::TrainConfig;
use burn::prelude::Device;

/// The numbers of the current runner (results version 2), recorded after the DetoxAI fidelity
/// fixes moved them on purpose (Adam ε 10⁻⁸, the adversaries' train/eval modes, SavaniAFT's
/// "same" padding).
const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/golden_v2.json");
/// The same config's document as the runner of 7a6eec9 wrote it (results version 1), before the
/// runner was split by stage; the split reproduced it bit for bit.
const FIXTURE_V1: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/golden_v1.json");

fn config() -> ExperimentConfig {
    let mut c = ExperimentConfig::demo();
    c.name = "golden".into();
    c.seed = 11;
    c.data = DataConfig { synthetic: SyntheticConfig { size: 32, seed: 5, ..SyntheticConfig::default() }, pool: 3000 };
    c.phis = vec![-0.6];
    c.splits = SplitSizes { train: 256, debias: 128, test: 64, ..SplitSizes::default() };
    c.train = TrainConfig::new().with_learning_rate(3e-3).with_batch_size(32).with_epochs(1).with_seed(2);
    c.methods = vec![
        MethodSpec::new::<ThrOpt>(ThrOptConfig::new()),
        MethodSpec::new::<GroupThresholds>(GroupThresholdConfig::new().with_steps(8)),
        MethodSpec::new::<SavaniAft>(SavaniConfig::new().with_iterations(1).with_batch_size(32).with_critic_iterations(2).with_model_iterations(2)),
        MethodSpec::new::<ZhangAl>(ZhangConfig::new().with_iterations(1).with_batch_size(32).with_critic_iterations(2).with_model_iterations(1)),
        MethodSpec::new::<PClarc>(PClarcConfig::new()),
        MethodSpec::new::<AClarc>(AClarcConfig::new().with_batch_size(32)),
        MethodSpec::new::<RrClarc>(RrClarcConfig::new().with_batch_size(32)),
    ];
    let mut attribution = AttributionConfig { images: 16, batch_size: 8, ..AttributionConfig::default() };
    let ig = attribution.get_mut("ig").unwrap();
    ig.config["steps"] = 4.into();
    ig.config["steps_per_chunk"] = 2.into();
    c.attribution = attribution;
    c.metrics = MetricsConfig { bootstrap: BootstrapSettings { resamples: 40, ..BootstrapSettings::default() }, ..MetricsConfig::default() };
    c
}

/// The CPU features the fixture was recorded with (burn's kernels dispatch on these).
const GOLDEN_CPU: &str = "x86_64 avx2 fma avx512f";

fn cpu() -> String {
    #[cfg(target_arch = "x86_64")]
    {
        let mut f = vec!["x86_64"];
        for (name, on) in [
            ("avx2", std::arch::is_x86_feature_detected!("avx2")),
            ("fma", std::arch::is_x86_feature_detected!("fma")),
            ("avx512f", std::arch::is_x86_feature_detected!("avx512f")),
        ] {
            if on {
                f.push(name);
            }
        }
        f.join(" ")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        std::env::consts::ARCH.to_owned()
    }
}

/// Build-dependent fields, not numbers of the run.
const SKIP: &[&str] = &["versions", "timings", "total_seconds"];

/// Parts of the document computed before any training: identical on every CPU.
fn before_training(path: &str) -> bool {
    path.starts_with("results.config")
        || path.starts_with("results.roi")
        || path.starts_with("results.image")
        || path.strip_prefix("results.phis[").and_then(|r| r.split_once("].")).is_some_and(|(_, rest)| {
            ["train.", "debias.", "test.", "phi", "seed"].iter().any(|s| rest.starts_with(s))
        })
        || path.ends_with(".images")
        || path.contains(".mean_input")
        || path.ends_with(".name")
        || path.ends_with(".group")
        || path.contains(".group.")
}

fn compare(path: &str, want: &Value, got: &Value, exact: bool, out: &mut Vec<String>) {
    if out.len() > 20 {
        return;
    }
    match (want, got) {
        (Value::Object(w), Value::Object(g)) => {
            for (k, wv) in w {
                if SKIP.contains(&k.as_str()) {
                    continue;
                }
                match g.get(k) {
                    Some(gv) => compare(&format!("{path}.{k}"), wv, gv, exact, out),
                    None => out.push(format!("{path}.{k}: missing")),
                }
            }
        }
        (Value::Array(w), Value::Array(g)) => {
            if w.len() != g.len() {
                out.push(format!("{path}: {} entries, want {}", g.len(), w.len()));
                return;
            }
            for (i, (wv, gv)) in w.iter().zip(g).enumerate() {
                compare(&format!("{path}[{i}]"), wv, gv, exact, out);
            }
        }
        (w, g) if exact || before_training(path) => {
            if w != g {
                out.push(format!("{path}: {g}, want {w}"));
            }
        }
        // Another CPU, after training: the same kind of value (a number stays a number, a
        // missing interval stays missing unless the value is a number either way).
        (w, g) => {
            let kind = |v: &Value| match v {
                Value::Number(_) => 0,
                Value::String(_) => 1,
                Value::Bool(_) => 2,
                Value::Null => 3,
                _ => 4,
            };
            if kind(w) != kind(g) && !(kind(w) == 3 || kind(g) == 3) {
                out.push(format!("{path}: {g}, want a value like {w}"));
            }
        }
    }
}

#[test]
fn runner_numbers_are_unchanged() {
    let c = config();
    let r = pollster::block_on(run_experiment_with(&c, &Device::flex(), &RunOptions::default(), |_| {}, || false)).unwrap();
    // Through the text form, as the fixture was (f32 fields print in their shortest form).
    let text = r.without_timings().to_json();
    if std::env::var_os("BIASLENS_WRITE_GOLDEN").is_some() {
        let compact = serde_json::to_string(&serde_json::from_str::<Value>(&text).unwrap()).unwrap();
        std::fs::write(FIXTURE, compact).unwrap();
        return;
    }
    let got: Value = serde_json::from_str(&text).unwrap();
    let want: Value = serde_json::from_str(&std::fs::read_to_string(FIXTURE).unwrap()).unwrap();
    let exact = match std::env::var("BIASLENS_GOLDEN_EXACT").as_deref() {
        Ok("1") => true,
        Ok("0") => false,
        _ => cpu() == GOLDEN_CPU,
    };
    if !exact {
        eprintln!("CPU \"{}\" is not the recording machine's \"{GOLDEN_CPU}\": comparing the shape and the numbers computed before training", cpu());
    }
    let mut diffs = Vec::new();
    compare("results", &want, &got, exact, &mut diffs);
    assert!(diffs.is_empty(), "{} differences (first ones):\n{}", diffs.len(), diffs.join("\n"));
}

/// A version-1 document (the golden run of 7a6eec9) still imports: the fixed `lrp`/`ig` fields
/// become attribution keys, every model keeps its numbers, and the config reads as version 2.
#[test]
fn version_1_documents_import() {
    let text = std::fs::read_to_string(FIXTURE_V1).unwrap();
    let r = biaslens_experiment::import_report(&text).unwrap();
    assert_eq!(r.version, biaslens_experiment::RESULTS_VERSION);
    assert_eq!(r.attribution_keys(), ["lrp", "ig"]);
    assert_eq!(r.model_names(), ["Vanilla", "ThrOpt", "GroupThr", "SavaniAFT", "ZhangAL", "P-ClArC", "A-ClArC", "RR-ClArC"]);
    let v1: Value = serde_json::from_str(&text).unwrap();
    let want = v1["phis"][0]["models"][3]["lrp"]["saliency"]["pooled"]["adr"]["mean"].as_f64().unwrap();
    assert_eq!(r.phis[0].models[3].attribution("lrp").unwrap().saliency.pooled.adr.mean, want);
    assert_eq!(r.phis[0].models[3].method.as_deref(), Some("savani_aft"));
    let migrated = migrate_v1(v1, Registries::builtin()).unwrap();
    assert_eq!(migrated["version"], 2);
}
