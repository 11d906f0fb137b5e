//! Pipelines shared by the page, the CLI and the tests: the same code on every device.
//!
//! - [`selftest`]: the end-to-end device check (synthetic images → small CNN → gradient × input
//!   → fraction of |saliency| in the necktie box).
//! - [`config`], [`runner`], [`report`]: the experiment of Sztukiewicz et al., "Investigating the
//!   Relationship Between Debiasing and Artifact Removal using Saliency Maps" (XAI 2025): for each
//!   training correlation φ, splits → vanilla model → every debiasing method → fairness on the
//!   balanced test split → LRP and IG maps → saliency metrics against vanilla → a self-contained
//!   HTML report that can be imported again.

pub mod config;
pub mod report;
pub mod resources;
pub mod results;
pub mod runner;
pub mod selftest;

pub use config::{ConfigError, ExperimentConfig, MethodConfig, CONFIG_VERSION};
pub use report::{ReportError, import_report, render_report};
pub use results::{ExperimentResults, ExplainedImages, ModelMapsOf, RESULTS_FORMAT, RESULTS_VERSION};
pub use runner::{
    ImagePool, RunError, RunOptions, RunProgress, check_vanilla_weights, phi_splits, phi_splits_of, run_experiment,
    run_experiment_with,
};
pub use selftest::{SelfTestConfig, SelfTestError, SelfTestReport, run_selftest};
