//! A toy debiasing method that returns the vanilla model unchanged: the whole of what a new
//! method needs (CONTRIBUTING.md, "Add a debiasing method"), and a null control, since every
//! difference it shows from vanilla is noise.

use std::future::Future;

use biaslens_debias::{DebiasData, DebiasError, DebiasProgress, DebiasedModel, Family, Outcome, Pass, TypedMethod};
use biaslens_model::ResNet;
use burn::prelude::Device;
use serde::{Deserialize, Serialize};

/// The method.
pub struct Identity;

/// Its settings: a number it reports back, to show the config reaches the method.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdentityConfig {
    /// Reported as the detail `"echo"`.
    pub echo: f64,
}

impl TypedMethod for Identity {
    type Config = IdentityConfig;
    const TAG: &'static str = "identity";
    const NAME: &'static str = "Identity";
    const FAMILY: Family = Family::Control;
    const DESCRIPTION: &'static str = "returns the vanilla model unchanged (a null control)";

    fn default_config() -> IdentityConfig {
        IdentityConfig { echo: 1.0 }
    }
    fn check(c: &IdentityConfig) -> Result<(), String> {
        if c.echo.is_finite() { Ok(()) } else { Err(format!("echo must be a finite number, got {}", c.echo)) }
    }
    fn passes(_: &IdentityConfig) -> Vec<Pass> {
        Vec::new()
    }
    fn work(_: &IdentityConfig, _n: usize) -> f64 {
        1.0
    }
    fn run<'a>(
        &'a self,
        model: ResNet,
        _data: DebiasData<'a>,
        config: &'a IdentityConfig,
        _device: &'a Device,
        _progress: &'a mut dyn FnMut(&DebiasProgress),
        _should_stop: &'a dyn Fn() -> bool,
    ) -> impl Future<Output = Result<Outcome, DebiasError>> + 'a {
        async move { Ok(Outcome::of(DebiasedModel::plain(model)).detail("echo", config.echo)) }
    }
}
