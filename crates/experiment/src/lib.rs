//! Pipelines shared by the page, the CLI and the tests: the same code on every device.
//!
//! - [`selftest`]: the end-to-end device check (synthetic images → small CNN → gradient × input
//!   → fraction of |saliency| in the necktie box).
//! - The experiment of Sztukiewicz et al., "Investigating the Relationship Between Debiasing and
//!   Artifact Removal using Saliency Maps" (XAI 2025): [`config`] (what to run),
//!   [`registries`] (which debiasing and [`attributions`] methods exist), [`driver`] (the units
//!   of a run, one after another, for page and CLI alike), [`runner`] (one unit, stage by stage:
//!   splits → vanilla model → every debiasing method → fairness on the balanced test split →
//!   attribution maps → saliency metrics against vanilla), [`results`] (the typed, versioned
//!   document), [`findings`] (the paper's claims checked), [`report`] (a self-contained HTML
//!   report that can be imported again) and [`resources`] (what a config needs of a device).

pub mod attributions;
pub mod config;
pub mod driver;
pub mod findings;
pub mod localise;
pub mod merge;
pub mod registries;
pub mod report;
pub mod resources;
pub mod results;
pub mod runner;
pub mod selftest;
pub mod transfer;

pub use config::{AttributionSpec, CONFIG_VERSION, ConfigError, ExperimentConfig, MethodSpec, PretrainedStart};
pub use driver::{Driven, Host, Unit, drive, units};
pub use merge::{MergeError, Shard, merge};
pub use registries::Registries;
pub use report::{ReportError, import_report, render_report};
pub use results::{ExperimentResults, ExplainedImages, FoundRegions, ModelMapsOf, RESULTS_FORMAT, RESULTS_VERSION};
pub use runner::{
    CounterfactualSources, ImagePool, PoolPartition, PoolRegions, RunError, RunOptions, RunProgress, check_pretrained_weights, check_vanilla_weights, device_label, phi_splits, phi_splits_of, run_experiment,
    run_experiment_with,
};
pub use selftest::{SelfTestConfig, SelfTestError, SelfTestReport, run_selftest};
