//! The registry of debiasing methods: each method is one [`Method`] (usually written as a
//! [`TypedMethod`] next to its algorithm) and one line in [`Registry::builtin`].
//!
//! Everything outside this crate (the experiment's config and runner, the memory check, the page's
//! method list, the report) reads methods from a [`Registry`], never from a list of its own, so a
//! new method needs no change anywhere else. A method's settings travel as JSON
//! (`{"method": tag, "config": {...}}` in an experiment config): [`Method::normalise`] fills in the
//! method's defaults and checks them, and [`Method::run`] reads them into the method's typed
//! config. CONTRIBUTING.md ("Add a debiasing method") lists the steps.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};

use biaslens_model::ResNet;
use burn::prelude::Device;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{DebiasData, DebiasError, DebiasProgress, DebiasedModel};

/// Kinds of method, as the paper groups them in its findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    /// Post-hoc thresholds: the weights are untouched.
    Threshold,
    /// Adversarial fine-tuning (ZhangAL, SavaniAFT).
    Adversarial,
    /// Concept removal (ClArC).
    Clarc,
    /// A control that is not a debiasing method (plain fine-tuning on the debias split), to tell
    /// a method's effect apart from "more training".
    Control,
}

/// What a method made of the vanilla model.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The debiased classifier (what predictions and attributions use).
    pub model: DebiasedModel,
    /// Method-specific numbers for the report (chosen threshold, τ, final penalty, …).
    pub details: BTreeMap<String, f64>,
    /// Method-specific facts in words for the report (e.g. which concept labels a CAV used).
    pub notes: Vec<String>,
}

impl Outcome {
    /// An outcome with no details or notes.
    pub fn of(model: DebiasedModel) -> Self {
        Self { model, details: BTreeMap::new(), notes: Vec::new() }
    }

    /// With one more detail.
    pub fn detail(mut self, key: &str, value: f64) -> Self {
        self.details.insert(key.into(), value);
        self
    }

    /// With one more note.
    pub fn note(mut self, text: impl Into<String>) -> Self {
        self.notes.push(text.into());
        self
    }
}

/// One batched pass of a method, for the memory check before a run.
#[derive(Debug, Clone, PartialEq)]
pub struct Pass {
    /// The setting inside the method's config that sets the batch (`"batch_size"`,
    /// `"cav.batch_size"`).
    pub field: &'static str,
    /// What the pass does, in words.
    pub what: &'static str,
    /// Images per pass.
    pub batch: usize,
    /// Whether the pass keeps a backward graph (training), which doubles its memory.
    pub backward: bool,
}

/// A boxed method run (methods are `async` but the registry is object-safe).
pub type RunFuture<'a> = Pin<Box<dyn Future<Output = Result<Outcome, DebiasError>> + 'a>>;

/// A debiasing method as the registry sees it (object-safe). Implement [`TypedMethod`] instead:
/// every `TypedMethod` is a `Method`.
pub trait Method: Send + Sync {
    /// The JSON tag (`"thr_opt"`).
    fn tag(&self) -> &'static str;
    /// The name as the paper writes it (`"ThrOpt"`).
    fn name(&self) -> &'static str;
    /// Its family.
    fn family(&self) -> Family;
    /// What it does, in one line for a reader who does not know the method.
    fn description(&self) -> &'static str;
    /// The default settings (the paper's, i.e. DetoxAI's), as JSON.
    fn default_config(&self) -> Value;
    /// The full settings from partial ones (missing fields take the defaults), checked.
    ///
    /// # Errors
    /// A message naming the field that is wrong.
    fn normalise(&self, config: Value) -> Result<Value, String>;
    /// The batched passes the method makes with `config` (for the memory check).
    fn passes(&self, config: &Value) -> Vec<Pass>;
    /// Work in image-passes (a backward pass counted as two forwards) on a debias split of `n`
    /// images, for a progress bar proportional to time.
    fn work(&self, config: &Value, n: usize) -> f64;
    /// Runs the method on `model` with the debias split `data`.
    fn run<'a>(
        &'a self,
        model: ResNet,
        data: DebiasData<'a>,
        config: &'a Value,
        device: &'a Device,
        progress: &'a mut dyn FnMut(&DebiasProgress),
        should_stop: &'a dyn Fn() -> bool,
    ) -> RunFuture<'a>;
}

/// A method with a typed config: what a method file implements.
pub trait TypedMethod: Send + Sync + 'static {
    /// Its settings (serde; a burn `Config`).
    type Config: Serialize + DeserializeOwned;
    /// See [`Method::tag`].
    const TAG: &'static str;
    /// See [`Method::name`].
    const NAME: &'static str;
    /// See [`Method::family`].
    const FAMILY: Family;
    /// See [`Method::description`].
    const DESCRIPTION: &'static str;
    /// The paper's (DetoxAI's) settings.
    fn default_config() -> Self::Config;
    /// Checks settings beyond their types.
    ///
    /// # Errors
    /// A message naming the field.
    fn check(_config: &Self::Config) -> Result<(), String> {
        Ok(())
    }
    /// See [`Method::passes`].
    fn passes(config: &Self::Config) -> Vec<Pass>;
    /// See [`Method::work`].
    fn work(config: &Self::Config, n: usize) -> f64;
    /// Runs the method.
    fn run<'a>(
        &'a self,
        model: ResNet,
        data: DebiasData<'a>,
        config: &'a Self::Config,
        device: &'a Device,
        progress: &'a mut dyn FnMut(&DebiasProgress),
        should_stop: &'a dyn Fn() -> bool,
    ) -> impl Future<Output = Result<Outcome, DebiasError>> + 'a;
}

fn typed<T: TypedMethod>(config: &Value) -> Result<T::Config, String> {
    serde_json::from_value(config.clone()).map_err(|e| format!("{} settings: {e}", T::TAG))
}

impl<T: TypedMethod> Method for T {
    fn tag(&self) -> &'static str {
        T::TAG
    }
    fn name(&self) -> &'static str {
        T::NAME
    }
    fn family(&self) -> Family {
        T::FAMILY
    }
    fn description(&self) -> &'static str {
        T::DESCRIPTION
    }
    fn default_config(&self) -> Value {
        // A struct of plain settings always serialises.
        serde_json::to_value(T::default_config()).unwrap_or(Value::Null)
    }
    fn normalise(&self, config: Value) -> Result<Value, String> {
        let mut full = self.default_config();
        merge(&mut full, config);
        let c = typed::<T>(&full)?;
        T::check(&c).map_err(|e| format!("{} settings: {e}", T::TAG))?;
        serde_json::to_value(c).map_err(|e| format!("{} settings: {e}", T::TAG))
    }
    fn passes(&self, config: &Value) -> Vec<Pass> {
        typed::<T>(config).map(|c| T::passes(&c)).unwrap_or_default()
    }
    fn work(&self, config: &Value, n: usize) -> f64 {
        typed::<T>(config).map_or(n as f64, |c| T::work(&c, n))
    }
    fn run<'a>(
        &'a self,
        model: ResNet,
        data: DebiasData<'a>,
        config: &'a Value,
        device: &'a Device,
        progress: &'a mut dyn FnMut(&DebiasProgress),
        should_stop: &'a dyn Fn() -> bool,
    ) -> RunFuture<'a> {
        Box::pin(async move {
            let c = typed::<T>(config).map_err(DebiasError::Config)?;
            TypedMethod::run(self, model, data, &c, device, progress, should_stop).await
        })
    }
}

/// JSON merge patch (RFC 7386 without `null` deletion): objects merge key by key, anything else
/// replaces.
pub fn merge(base: &mut Value, patch: Value) {
    match (base, patch) {
        (Value::Object(b), Value::Object(p)) => {
            for (k, v) in p {
                match b.get_mut(&k) {
                    Some(slot) => merge(slot, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (slot, p) => *slot = p,
    }
}

/// The methods a run can use, in the order the page lists them.
#[derive(Clone, Default)]
pub struct Registry {
    methods: Vec<Arc<dyn Method>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.methods.iter().map(|m| m.tag())).finish()
    }
}

impl Registry {
    /// Every method biaslens ships, in the paper's chart order. **One line per method.**
    pub fn builtin() -> &'static Self {
        static BUILTIN: OnceLock<Registry> = OnceLock::new();
        BUILTIN.get_or_init(|| {
            Self::default()
                .with(crate::threshold::ThrOpt)
                .with(crate::threshold::GroupThresholds)
                .with(crate::savani::SavaniAft)
                .with(crate::zhang::ZhangAl)
                .with(crate::clarc::PClarc)
                .with(crate::clarc::AClarc)
                .with(crate::clarc::RrClarc)
                .with(crate::fine_tune::FineTune)
        })
    }

    /// This registry with `method` added (replacing one with the same tag).
    pub fn with(mut self, method: impl Method + 'static) -> Self {
        self.methods.retain(|m| m.tag() != method.tag());
        self.methods.push(Arc::new(method));
        self
    }

    /// The method with JSON tag `tag`.
    pub fn get(&self, tag: &str) -> Option<&dyn Method> {
        self.methods.iter().find(|m| m.tag() == tag).map(|m| &**m)
    }

    /// Every method, in order.
    pub fn iter(&self) -> impl Iterator<Item = &dyn Method> {
        self.methods.iter().map(|m| &**m)
    }

    /// Every tag, in order.
    pub fn tags(&self) -> Vec<&'static str> {
        self.iter().map(Method::tag).collect()
    }

    /// Position of `tag` in the list (for keeping a config's methods in the page's order).
    pub fn rank(&self, tag: &str) -> usize {
        self.methods.iter().position(|m| m.tag() == tag).unwrap_or(usize::MAX)
    }

    /// The method of `tag`, or a message listing the known tags.
    ///
    /// # Errors
    /// For an unknown tag.
    pub fn require(&self, tag: &str) -> Result<&dyn Method, String> {
        self.get(tag).ok_or_else(|| format!("unknown method {tag:?}; use one of {:?}", self.tags()))
    }
}
