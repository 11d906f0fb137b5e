//! The runner's numbers before and after a refactoring: a fixed-seed run with every debiasing
//! method, LRP and IG, compared with the results document the runner produced at commit 7a6eec9
//! (before the runner was split by stage). Regenerate only when a change is meant to move the
//! numbers, and say which in the commit: `BIASLENS_WRITE_GOLDEN=1 cargo test -p
//! biaslens-experiment --test golden`.

#![allow(clippy::unwrap_used)]

use biaslens_data::SyntheticConfig;
use biaslens_debias::{AClarcConfig, GroupThresholdConfig, PClarcConfig, RrClarcConfig, SavaniConfig, ThrOptConfig, ZhangConfig};
use biaslens_experiment::config::{AttributionConfig, DataConfig, MetricsConfig, SplitSizes};
use biaslens_experiment::{ExperimentConfig, MethodConfig, RunOptions, run_experiment_with};
use biaslens_metrics::BootstrapSettings;
use biaslens_model::TrainConfig;
use burn::prelude::Device;

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/golden_v1.json");

fn config() -> ExperimentConfig {
    let mut c = ExperimentConfig::demo();
    c.name = "golden".into();
    c.seed = 11;
    c.data = DataConfig { synthetic: SyntheticConfig { size: 32, seed: 5, ..SyntheticConfig::default() }, pool: 3000 };
    c.phis = vec![-0.6];
    c.splits = SplitSizes { train: 256, debias: 128, test: 64, ..SplitSizes::default() };
    c.train = TrainConfig::new().with_learning_rate(3e-3).with_batch_size(32).with_epochs(1).with_seed(2);
    c.methods = vec![
        MethodConfig::ThrOpt(ThrOptConfig::new()),
        MethodConfig::GroupThresholds(GroupThresholdConfig::new().with_steps(8)),
        MethodConfig::SavaniAft(SavaniConfig::new().with_iterations(1).with_batch_size(32).with_critic_iterations(2).with_model_iterations(2)),
        MethodConfig::ZhangAl(ZhangConfig::new().with_iterations(1).with_batch_size(32).with_critic_iterations(2).with_model_iterations(1)),
        MethodConfig::PClarc(PClarcConfig::new()),
        MethodConfig::AClarc(AClarcConfig::new().with_batch_size(32)),
        MethodConfig::RrClarc(RrClarcConfig::new().with_batch_size(32)),
    ];
    let mut attribution = AttributionConfig { images: 16, batch_size: 8, ..AttributionConfig::default() };
    if let Some(ig) = attribution.ig.as_mut() {
        ig.steps = 4;
        ig.steps_per_chunk = 2;
    }
    c.attribution = attribution;
    c.metrics = MetricsConfig { bootstrap: BootstrapSettings { resamples: 40, ..BootstrapSettings::default() }, ..MetricsConfig::default() };
    c
}

#[test]
fn runner_numbers_are_unchanged() {
    let c = config();
    let r = pollster::block_on(run_experiment_with(&c, &Device::flex(), &RunOptions::default(), |_| {}, || false)).unwrap();
    let json = r.without_timings().to_json();
    if std::env::var_os("BIASLENS_WRITE_GOLDEN").is_some() {
        std::fs::write(FIXTURE, &json).unwrap();
        return;
    }
    let want = std::fs::read_to_string(FIXTURE).unwrap();
    assert_eq!(json, want);
}
