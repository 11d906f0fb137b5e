//! The experiment of Sztukiewicz et al., "Investigating the Relationship Between Debiasing and
//! Artifact Removal using Saliency Maps" (XAI 2025, §4), as one serialisable configuration: data,
//! the list of training correlations φ, model, training, debiasing methods, attribution methods,
//! metric settings and seed.
//!
//! Every knob where the paper's code made a choice defaults to that choice (docs/METHODS.md):
//! the methods ThrOpt, ZhangAL, SavaniAFT, A-ClArC and RR-ClArC with DetoxAI's defaults, LRP =
//! Zennit's EpsilonPlus without canonizer, IG = Zennit's 20-step right Riemann sum from a black
//! image with logit × one-hot output, metrics as the authors' `metrics.py` computes them, a
//! balanced test split and the training split anti-correlated (necktie ↔ not smiling). Methods
//! and attributions are named by registry tags (`{"method": "thr_opt", "config": {...}}`), so a
//! new one needs no change here. Only the *sizes* differ between the presets:
//! [`ExperimentConfig::demo`] (the default; small enough for the page) and
//! [`ExperimentConfig::paper`] (the paper's batch sizes, image side, ResNet-50 and 640 explained
//! test images).
//!
//! A config serialises to JSON ([`ExperimentConfig::to_json`] / [`ExperimentConfig::from_json`],
//! where omitted fields take the default's values) and to a compact URL fragment
//! ([`ExperimentConfig::to_fragment`]: the JSON of only the fields that differ from the default,
//! base64url without padding). Both carry [`CONFIG_VERSION`]; a config from a newer biaslens is
//! refused with a clear error instead of being misread, and a version-1 config or link (written
//! before methods and attributions were keyed by registry tags) is read as it was meant: its
//! omitted fields take the version-1 demo's values ([`DEMO_V1_JSON`]), then it is converted.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use biaslens_attribution::{IgConfig, LrpConfig};
use biaslens_data::{Correlation, SyntheticConfig};
pub use biaslens_debias::Family as MethodFamily;
use biaslens_debias::{
    AClarc, AClarcConfig, FineTune, FineTuneConfig, RrClarc, RrClarcConfig, SavaniAft, SavaniConfig, ThrOpt, ThrOptConfig, TypedMethod, ZhangAl,
    ZhangConfig, merge,
};
use biaslens_metrics::{BootstrapSettings, SaliencySettings};
use biaslens_model::{BlockKind, ResNetConfig, TrainConfig};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::attributions::{IntegratedGradients, Lrp, TypedAttribution};
use crate::registries::Registries;

/// Version of the config format. Bumped when a field changes meaning; older configs keep loading
/// (missing fields take that version's defaults, then are converted), newer ones are refused.
/// Version 2 keys methods and attributions by registry tags (`attribution.methods` replaced
/// `attribution.lrp` and `attribution.ig`).
pub const CONFIG_VERSION: u32 = 2;

/// The demo config as version 1 wrote it (`biaslens demo --print-config` at 7a6eec9): the base
/// that version-1 configs and links were written against (they hold only the fields that
/// differ), so an old link still reproduces its run.
pub const DEMO_V1_JSON: &str = include_str!("presets/demo_v1.json");

/// The longest URL fragment [`ExperimentConfig::from_fragment`] accepts (characters).
pub const MAX_FRAGMENT_LEN: usize = 64 * 1024;

/// Where the images come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DataConfig {
    /// The synthetic biased-faces benchmark (image side, seed, protected attribute, noise).
    /// Written with every field, even those the data crate leaves out at their defaults: a
    /// config's omitted fields take the *demo's* values, which differ from those defaults.
    #[serde(serialize_with = "synthetic_in_full")]
    pub synthetic: SyntheticConfig,
    /// Images whose labels the splits are drawn from (labels are cheap; only the chosen images
    /// are drawn). Cut into train / test / debias blocks as the authors do (0.3 / 0.5 / 0.2).
    pub pool: usize,
}

fn synthetic_in_full<S: serde::Serializer>(c: &SyntheticConfig, s: S) -> Result<S::Ok, S::Error> {
    // Through the text form: `to_value` would widen the f32 fields to their f64 digits.
    let text = serde_json::to_string(c).map_err(serde::ser::Error::custom)?;
    let mut v: Value = serde_json::from_str(&text).map_err(serde::ser::Error::custom)?;
    if let Value::Object(map) = &mut v {
        map.insert("open_mouth_rate".into(), Value::from(c.open_mouth_rate));
        map.insert("expression".into(), Value::from(c.expression));
        map.insert("paint_attribute".into(), Value::from(c.paint_attribute));
    }
    v.serialize(s)
}

impl Default for DataConfig {
    fn default() -> Self {
        Self { synthetic: SyntheticConfig::default(), pool: 20_000 }
    }
}

/// How a requested φ becomes a training split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum CorrelationKind {
    /// Exactly the signed Yule's φ, with 50 % smiling and 50 % with the attribute.
    #[default]
    Phi,
    /// The authors' knob: off-diagonal cells at `p = |φ|/(1+|φ|)` each (docs/METHODS.md#splits),
    /// which gives about −|φ| when the attribute is rare.
    AuthorsPercentage,
}

/// Split sizes and the debias split's correlation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SplitSizes {
    /// Images in the training split of the vanilla model.
    pub train: usize,
    /// Images in the debias (the authors' "unlearn") split the methods use.
    pub debias: usize,
    /// Images in the balanced test split (a multiple of 4: 25 % per cell). Accuracy and the
    /// fairness metrics use all of them.
    pub test: usize,
    /// Correlation of the debias split (authors' code: `unlearn_percentage = 0.25`, which on a
    /// 50/50 pool is φ ≈ 0), used unless `debias_at_train_phi`.
    pub debias_correlation: Correlation,
    /// The paper's reading: the debias split has the training split's correlation φ (the
    /// methods must remove a shortcut their own data still carries). Off: the authors' code's
    /// fixed `debias_correlation` (docs/METHODS.md#splits).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub debias_at_train_phi: bool,
}

impl Default for SplitSizes {
    fn default() -> Self {
        Self { train: 4096, debias: 512, test: 512, debias_correlation: Correlation::CellPercentage { p: 0.25 }, debias_at_train_phi: false }
    }
}

/// The classifier: a torchvision-layout ResNet with two outputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ModelConfig {
    /// Residual block kind (Basic: ResNet-18/34; Bottleneck: ResNet-50).
    pub block: BlockKind,
    /// Blocks per stage.
    pub layers: [usize; 4],
    /// Channels of the stem (torchvision 64; the compact demo network 16).
    pub width: usize,
    /// Where the vanilla model starts (docs/METHODS.md#pretrained-start): absent, the seeded
    /// initialisation; given, a torchvision ImageNet state dict of this architecture whose head
    /// is replaced by a seeded 2-class one before `train` fine-tunes it (the paper's recipe,
    /// Adam 3·10⁻⁴, batch 128, one epoch, is [`TrainConfig::new`]; `train.fine_tune` freezes
    /// early stages).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pretrained: Option<PretrainedStart>,
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self { block: BlockKind::Basic, layers: [1, 1, 1, 1], width: 8, pretrained: None }
    }
}

/// The file a pretrained start reads: named in the config so that a report says what it was
/// fine-tuned from, and fingerprinted so that a re-run cannot silently start from another file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PretrainedStart {
    /// The file: a path for the CLI (relative to the working directory, then to the config
    /// file's folder), the chosen file's name in the page.
    pub file: String,
    /// SHA-256 of the file's bytes (lower-case hex), filled in when a run starts from it; a file
    /// with another digest is refused. Absent: any file is taken (and the run records its digest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

impl PretrainedStart {
    /// The start from `file` with the digest of its `bytes` recorded, as hosts set it when the
    /// user gives a file.
    pub fn of(file: impl Into<String>, bytes: &[u8]) -> Self {
        Self { file: file.into(), sha256: Some(crate::runner::sha256_hex(bytes)) }
    }
}

impl ModelConfig {
    /// The architecture with two classes (target: smiling or not).
    pub fn resnet(&self) -> ResNetConfig {
        ResNetConfig::new(self.block, self.layers, 2).with_width(self.width)
    }
}

/// One debiasing method of a run: its registry tag and its settings (the method's defaults for
/// every field left out; docs/METHODS.md#methods).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MethodSpec {
    /// The method's tag in the registry (`"thr_opt"`, …).
    pub method: String,
    /// Its settings, as the method's config reads them.
    #[serde(default)]
    pub config: Value,
}

impl MethodSpec {
    /// A method with typed settings.
    pub fn new<M: TypedMethod>(config: M::Config) -> Self {
        Self { method: M::TAG.into(), config: serde_json::to_value(config).unwrap_or(Value::Null) }
    }

    /// The method of `tag` with its defaults, if the registry knows it.
    pub fn default_for(tag: &str, registries: &Registries) -> Option<Self> {
        registries.methods.get(tag).map(|m| Self { method: tag.into(), config: m.default_config() })
    }
}

/// One attribution method of a run: its registry id, an optional key (to run the same method
/// twice with different settings) and its settings (docs/METHODS.md#attribution).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttributionSpec {
    /// The method's id in the registry (`"lrp"`, `"ig"`, `"gradient"`, `"grad_x_input"`,
    /// `"smoothgrad"`).
    pub method: String,
    /// The key its results are stored under (default: the id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Its settings.
    #[serde(default)]
    pub config: Value,
}

impl AttributionSpec {
    /// A method with typed settings.
    pub fn new<A: TypedAttribution>(config: A::Config) -> Self {
        Self { method: A::ID.into(), key: None, config: serde_json::to_value(config).unwrap_or(Value::Null) }
    }

    /// The key its results are stored under.
    pub fn key(&self) -> &str {
        self.key.as_deref().unwrap_or(&self.method)
    }
}

/// Which maps are computed, on how many test images.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AttributionConfig {
    /// Test images explained: the first test images of each (attribute, target) cell in turn, so
    /// every group gets a quarter (the authors explain the first 5 batches of 128 = 640 of their
    /// shuffled-by-set-order balanced test split). Saliency metrics and Figure 2's mean maps use
    /// these.
    pub images: usize,
    /// Images per attribution pass (memory bound; cancellation is checked between passes).
    pub batch_size: usize,
    /// The attribution methods, in display order (default: the paper's two, LRP as Zennit's
    /// EpsilonPlus without canonizer and IG as Zennit's, both with logit × one-hot output).
    pub methods: Vec<AttributionSpec>,
}

impl Default for AttributionConfig {
    fn default() -> Self {
        Self {
            images: 64,
            batch_size: 16,
            methods: vec![AttributionSpec::new::<Lrp>(LrpConfig::paper()), AttributionSpec::new::<IntegratedGradients>(IgConfig::zennit())],
        }
    }
}

impl AttributionConfig {
    /// The settings of the attribution stored under `key`.
    pub fn get(&self, key: &str) -> Option<&AttributionSpec> {
        self.methods.iter().find(|a| a.key() == key)
    }

    /// The settings of the attribution stored under `key`, to edit.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut AttributionSpec> {
        self.methods.iter_mut().find(|a| a.key() == key)
    }
}

/// Metric settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MetricsConfig {
    /// Saliency metrics (defaults: the authors' `metrics.py`).
    pub saliency: SaliencySettings,
    /// Bootstrap confidence intervals of every pooled value (0 resamples turns them off).
    pub bootstrap: BootstrapSettings,
    /// Images per forward pass when scoring the test split.
    pub eval_batch_size: usize,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            saliency: SaliencySettings::default(),
            bootstrap: BootstrapSettings { resamples: 500, ..BootstrapSettings::default() },
            eval_batch_size: 128,
        }
    }
}

/// The whole experiment. [`Default`] is [`ExperimentConfig::demo`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExperimentConfig {
    /// Format version ([`CONFIG_VERSION`]).
    pub version: u32,
    /// A short name shown in reports.
    pub name: String,
    /// Seed of the splits, the initial weights and the training order (the data and each method
    /// have their own seeds in their settings).
    pub seed: u64,
    /// Several seeds: the whole experiment once per seed (each φ with each seed is a unit), claims
    /// reported as "holds in k of n seeds" and numbers with across-seed intervals. Empty: the one
    /// `seed`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub seeds: Vec<u64>,
    /// Images.
    pub data: DataConfig,
    /// Training correlations, signed Yule's φ between necktie and smiling; negative = the
    /// attribute goes with *not* smiling, the authors' direction (docs/METHODS.md#synthetic).
    pub phis: Vec<f64>,
    /// How each φ becomes a training split.
    pub correlation: CorrelationKind,
    /// Split sizes.
    pub splits: SplitSizes,
    /// The classifier.
    pub model: ModelConfig,
    /// Training of the vanilla model (authors: Adam 3e-4, batch 128, one epoch).
    pub train: TrainConfig,
    /// Debiasing methods, in chart order (at most 7: the colour-blind-safe palette's size).
    pub methods: Vec<MethodSpec>,
    /// Attribution.
    pub attribution: AttributionConfig,
    /// Metrics.
    pub metrics: MetricsConfig,
    /// Optional (not in the paper): find the artifact from the CAV a ClArC method fitted and score
    /// the found masks against the known regions (docs/METHODS.md#localise). Absent: not run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub localise: Option<crate::localise::LocaliseConfig>,
}

impl Default for ExperimentConfig {
    fn default() -> Self {
        Self::demo()
    }
}

/// The paper's five methods (`run.py`: ACLARC, RRCLARC, NT, ZHANGM, SAVANIAFT), in the paper's
/// chart order, with DetoxAI's defaults.
pub fn paper_methods() -> Vec<MethodSpec> {
    vec![
        MethodSpec::new::<ThrOpt>(ThrOptConfig::new()),
        MethodSpec::new::<SavaniAft>(SavaniConfig::new()),
        MethodSpec::new::<ZhangAl>(ZhangConfig::new()),
        MethodSpec::new::<AClarc>(AClarcConfig::new()),
        MethodSpec::new::<RrClarc>(RrClarcConfig::new()),
    ]
}

impl ExperimentConfig {
    /// The page's default run, chosen by a sweep over candidates × seeds (BENCHMARKS.md,
    /// "Choosing the demo"; `cargo run -p biaslens-experiment --example demo_sweep`): the
    /// synthetic necktie benchmark at 48×48 with a less obvious smile (20 % open mouths,
    /// expression 0.75) so that the tie is a tempting shortcut, two training correlations
    /// (φ = −0.7, −0.9) at which vanilla relies on the tie (ground truth, growing with |φ|), a small
    /// ResNet-18-layout network (width 8, one block per stage) trained on 2,048 images for three
    /// epochs, the code's balanced 512-image debias split, a 384-image balanced test split, 160
    /// explained test images (40 per group) with LRP and an 8-step IG. The paper's methods keep
    /// DetoxAI's settings except batch sizes scaled to the small debias split and SavaniAFT's 10
    /// iterations cut to 2; FineTune runs as the control.
    pub fn demo() -> Self {
        // The design chosen by the sweep in BENCHMARKS.md ("Choosing the demo"); docs/METHODS.md#demo
        // lists every way it differs from the paper preset and why.
        let synthetic = SyntheticConfig { size: 48, open_mouth_rate: 0.2, expression: 0.75, distractors: false, ..SyntheticConfig::default() };
        let mut attribution = AttributionConfig { images: 160, batch_size: 16, ..AttributionConfig::default() };
        if let Some(ig) = attribution.methods.iter_mut().find(|a| a.method == IntegratedGradients::ID) {
            ig.config = serde_json::to_value(IgConfig { steps: 8, steps_per_chunk: 8, ..IgConfig::zennit() }).unwrap_or(Value::Null);
        }
        Self {
            version: CONFIG_VERSION,
            name: "demo".into(),
            seed: 42,
            seeds: Vec::new(),
            data: DataConfig { synthetic, pool: 20_000 },
            phis: vec![-0.9, -0.95],
            correlation: CorrelationKind::Phi,
            splits: SplitSizes { train: 2048, debias: 512, test: 384, ..SplitSizes::default() },
            model: ModelConfig { block: BlockKind::Basic, layers: [1, 1, 1, 1], width: 8, pretrained: None },
            train: TrainConfig::new().with_learning_rate(2e-3).with_batch_size(64).with_epochs(3),
            methods: vec![
                MethodSpec::new::<ThrOpt>(ThrOptConfig::new()),
                // The adversaries' network learning rate at FineTune's (DetoxAI's 10⁻⁴ moves this
                // small network by ~10 tiny steps and leaves its reliance where it was).
                MethodSpec::new::<SavaniAft>(SavaniConfig::new().with_iterations(4).with_batch_size(32).with_model_lr(1e-3)),
                MethodSpec::new::<ZhangAl>(ZhangConfig::new().with_iterations(10).with_model_iterations(4).with_batch_size(32).with_model_lr(1e-3)),
                MethodSpec::new::<AClarc>(AClarcConfig::new().with_batch_size(64)),
                MethodSpec::new::<RrClarc>(RrClarcConfig::new().with_batch_size(64)),
                MethodSpec::new::<FineTune>(FineTuneConfig::new().with_batch_size(64)),
            ],
            attribution,
            metrics: MetricsConfig::default(),
            localise: None,
        }
    }

    /// The paper's sizes run as the authors' code ran them (docs/METHODS.md#readings): the
    /// authors' cell-percentage correlation recipe, the balanced debias split (`p = 0.25`), the
    /// CAVs fitted with the authors' label pairing (the reshape bug), everything else as
    /// [`ExperimentConfig::paper`] (whose defaults already follow the code). For reproducing their
    /// numbers, not for a new study.
    pub fn authors() -> Self {
        let mut c = Self::paper();
        c.name = "as the authors ran it".into();
        c.correlation = CorrelationKind::AuthorsPercentage;
        c.splits.debias_at_train_phi = false;
        let bug = biaslens_debias::ConceptLabels::AuthorsReshapeBug { batch_size: 128 };
        c.methods = vec![
            MethodSpec::new::<ThrOpt>(ThrOptConfig::new()),
            MethodSpec::new::<SavaniAft>(SavaniConfig::new()),
            MethodSpec::new::<ZhangAl>(ZhangConfig::new()),
            MethodSpec::new::<AClarc>(AClarcConfig::new().with_cav(biaslens_debias::CavConfig::new().with_labels(bug))),
            MethodSpec::new::<RrClarc>(RrClarcConfig::new().with_cav(biaslens_debias::CavConfig::new().with_labels(bug))),
        ];
        c
    }

    /// The paper's sizes (docs/METHODS.md#data): 218×218 images (SquarePad-ed CelebA), ResNet-50,
    /// Adam 3·10⁻⁴ with batch 128 for one epoch, the methods at DetoxAI's defaults, 640 explained
    /// test images (5 batches of 128), 1000 bootstrap resamples. Hours on a CPU; meant for a GPU.
    pub fn paper() -> Self {
        let synthetic = SyntheticConfig { size: 218, ..SyntheticConfig::default() };
        Self {
            version: CONFIG_VERSION,
            name: "paper".into(),
            seed: 42,
            seeds: Vec::new(),
            data: DataConfig { synthetic, pool: 200_000 },
            phis: vec![-0.2, -0.5, -0.8],
            correlation: CorrelationKind::Phi,
            splits: SplitSizes { train: 20_000, debias: 8_000, test: 4_000, ..SplitSizes::default() },
            model: ModelConfig { block: BlockKind::Bottleneck, layers: [3, 4, 6, 3], width: 64, pretrained: None },
            train: TrainConfig::new(),
            methods: paper_methods(),
            attribution: AttributionConfig { images: 640, batch_size: 16, ..AttributionConfig::default() },
            metrics: MetricsConfig {
                bootstrap: BootstrapSettings::default(),
                ..MetricsConfig::default()
            },
            localise: None,
        }
    }

    /// The seeds of the run's units (each unit a φ with a seed).
    pub fn seeds(&self) -> Vec<u64> {
        if self.seeds.is_empty() { vec![self.seed] } else { self.seeds.clone() }
    }

    /// Sets the seeds of the run's units: one seed is `seed` alone; several go to `seeds` (and
    /// the first to `seed`).
    pub fn set_seeds(&mut self, seeds: &[u64]) {
        if let Some(&s) = seeds.first() {
            self.seed = s;
        }
        self.seeds = if seeds.len() > 1 { seeds.to_vec() } else { Vec::new() };
    }

    /// Checks every setting the runner relies on, against the built-in methods.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] naming the field and what to do.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_with(Registries::builtin())
    }

    /// Checks every setting the runner relies on; methods and attributions against `registries`.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] naming the field and what to do.
    pub fn validate_with(&self, registries: &Registries) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        if self.version > CONFIG_VERSION {
            return Err(ConfigError::FutureVersion { found: self.version, supported: CONFIG_VERSION });
        }
        let mut seen = std::collections::BTreeSet::new();
        if let Some(s) = self.seeds.iter().find(|s| !seen.insert(**s)) {
            return bad(format!("seeds lists {s} twice: each seed runs once; remove the repeat"));
        }
        if self.seeds.len() > 32 {
            return bad(format!("seeds lists {} seeds; at most 32 run in one go (split the run)", self.seeds.len()));
        }
        if self.phis.is_empty() {
            return bad("phis is empty: give at least one training correlation, e.g. [-0.5]".into());
        }
        for &phi in &self.phis {
            if !phi.is_finite() || !(-1.0..=1.0).contains(&phi) {
                return bad(format!("phi {phi} must lie in [-1, 1]"));
            }
        }
        if self.data.synthetic.size < 16 {
            return bad(format!("data.synthetic.size {} is below 16 pixels", self.data.synthetic.size));
        }
        if self.data.synthetic.size > 512 {
            return bad(format!("data.synthetic.size {} is above 512 pixels", self.data.synthetic.size));
        }
        let s = &self.splits;
        if s.train == 0 || s.debias == 0 || s.test < 4 {
            return bad(format!(
                "splits need at least 1 train, 1 debias and 4 test images (got {}, {}, {})",
                s.train, s.debias, s.test
            ));
        }
        if self.data.pool < s.train + s.debias + s.test {
            return bad(format!(
                "data.pool ({}) is smaller than the three splits together ({}); raise data.pool",
                self.data.pool,
                s.train + s.debias + s.test
            ));
        }
        if self.data.pool > 10_000_000 {
            return bad(format!("data.pool {} is above 10,000,000", self.data.pool));
        }
        let m = &self.model;
        if m.width == 0 || m.layers.contains(&0) {
            return bad("model.width and every entry of model.layers must be at least 1".into());
        }
        if let Some(l) = &self.localise {
            if l.batch_size == 0 {
                return bad("localise.batch_size must be at least 1".into());
            }
            if let Err(e) = l.mask.check() {
                return bad(format!("localise.mask: {e}"));
            }
        }
        if let Some(p) = &m.pretrained {
            if p.file.trim().is_empty() {
                return bad("model.pretrained.file is empty: name the torchvision ImageNet .safetensors file, or remove model.pretrained to train from scratch".into());
            }
            if let Some(d) = &p.sha256
                && (d.len() != 64 || !d.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
            {
                return bad(format!("model.pretrained.sha256 {d:?} is not 64 lower-case hex digits; remove it to accept any file"));
            }
        }
        if self.train.batch_size == 0 || self.train.epochs == 0 {
            return bad("train.batch_size and train.epochs must be at least 1".into());
        }
        if !(self.train.learning_rate.is_finite() && self.train.learning_rate > 0.0) {
            return bad(format!("train.learning_rate {} must be a positive number", self.train.learning_rate));
        }
        if self.methods.len() > biaslens_viz::MAX_METHODS {
            return bad(format!(
                "{} methods, but the charts tell at most {} apart; split them over two runs",
                self.methods.len(),
                biaslens_viz::MAX_METHODS
            ));
        }
        let a = &self.attribution;
        if a.images == 0 || a.batch_size == 0 {
            return bad("attribution.images and attribution.batch_size must be at least 1".into());
        }
        if a.images > s.test / 4 * 4 {
            return bad(format!(
                "attribution.images ({}) exceeds the test split ({} images); lower it or raise splits.test",
                a.images,
                s.test / 4 * 4
            ));
        }
        for (k, m) in self.methods.iter().enumerate() {
            let method = registries.methods.require(&m.method).map_err(|e| ConfigError::Invalid(format!("methods[{k}]: {e}")))?;
            method.normalise(m.config.clone()).map_err(|e| ConfigError::Invalid(format!("methods[{k}]: {e}")))?;
        }
        if a.methods.is_empty() {
            return bad("attribution.methods is empty: give at least one, e.g. [{\"method\": \"lrp\"}]".into());
        }
        for (k, spec) in a.methods.iter().enumerate() {
            let method = registries
                .attributions
                .require(&spec.method)
                .map_err(|e| ConfigError::Invalid(format!("attribution.methods[{k}]: {e}")))?;
            method.normalise(spec.config.clone()).map_err(|e| ConfigError::Invalid(format!("attribution.methods[{k}]: {e}")))?;
            if a.methods[..k].iter().any(|o| o.key() == spec.key()) {
                return bad(format!(
                    "attribution.methods[{k}]: the key {:?} is used twice; give one of them a \"key\" of its own",
                    spec.key()
                ));
            }
        }
        if self.metrics.eval_batch_size == 0 {
            return bad("metrics.eval_batch_size must be at least 1".into());
        }
        let level = self.metrics.bootstrap.level;
        if !(level > 0.0 && level < 1.0) {
            return bad(format!("metrics.bootstrap.level {level} must lie strictly between 0 and 1"));
        }
        Ok(())
    }

    /// The config as pretty JSON (every field).
    pub fn to_json(&self) -> String {
        // A struct of plain data always serialises.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// A config from JSON. Fields left out take the values of [`ExperimentConfig::default`];
    /// a method entry may give only `{"method": "thr_opt"}` and some of its settings. The result
    /// is validated against the built-in methods.
    ///
    /// # Errors
    /// [`ConfigError`] for malformed JSON, a future version, unknown methods or invalid values.
    pub fn from_json(json: &str) -> Result<Self, ConfigError> {
        Self::from_json_with(json, Registries::builtin())
    }

    /// [`ExperimentConfig::from_json`] with the methods of `registries`.
    ///
    /// # Errors
    /// As [`ExperimentConfig::from_json`].
    pub fn from_json_with(json: &str, registries: &Registries) -> Result<Self, ConfigError> {
        let value: Value = serde_json::from_str(json).map_err(|e| ConfigError::Json(e.to_string()))?;
        Self::from_value_with(value, registries)
    }

    /// A config from a JSON value, with omitted fields from the default (see
    /// [`ExperimentConfig::from_json`]).
    ///
    /// # Errors
    /// As [`ExperimentConfig::from_json`].
    pub fn from_value(value: Value) -> Result<Self, ConfigError> {
        Self::from_value_with(value, Registries::builtin())
    }

    /// [`ExperimentConfig::from_value`] with the methods of `registries`.
    ///
    /// # Errors
    /// As [`ExperimentConfig::from_json`].
    pub fn from_value_with(value: Value, registries: &Registries) -> Result<Self, ConfigError> {
        let Value::Object(_) = &value else {
            return Err(ConfigError::Json("an experiment config must be a JSON object".into()));
        };
        let version = match value.get("version") {
            Some(v) => {
                let found = v.as_u64().ok_or_else(|| ConfigError::Invalid(format!("version must be a whole number, got {v}")))?;
                if found > u64::from(CONFIG_VERSION) {
                    return Err(ConfigError::FutureVersion { found: u32::try_from(found).unwrap_or(u32::MAX), supported: CONFIG_VERSION });
                }
                found
            }
            // Without a version, a config in version 1's shape (attribution.lrp / .ig, which
            // version 2 lists under attribution.methods) is read as version 1, not misread.
            None if value.get("attribution").is_some_and(|a| a.get("lrp").is_some() || a.get("ig").is_some()) => 1,
            None => u64::from(CONFIG_VERSION),
        };
        let patch = value.clone();
        let mut merged = if version < 2 {
            let mut base: Value = serde_json::from_str(DEMO_V1_JSON).map_err(|e| ConfigError::Json(e.to_string()))?;
            merge(&mut base, value);
            migrate_v1(base)?
        } else {
            let mut base = serde_json::to_value(Self::default()).map_err(|e| ConfigError::Json(e.to_string()))?;
            merge(&mut base, value);
            base
        };
        fill_entries(&mut merged, registries)?;
        let config: Self = serde_json::from_value(merged).map_err(|e| match Self::bad_field(&patch, registries) {
            Some(field) => ConfigError::Json(format!("field {field}: {e}; fix or remove that field")),
            None => ConfigError::Json(e.to_string()),
        })?;
        config.validate_with(registries)?;
        Ok(config)
    }

    /// The dotted path of the first field of `patch` that alone makes the default config fail to
    /// deserialise (for messages; `None` if no single field does).
    fn bad_field(patch: &Value, registries: &Registries) -> Option<String> {
        fn leaves<'a>(v: &'a Value, path: &mut Vec<String>, out: &mut Vec<(Vec<String>, &'a Value)>) {
            match v {
                Value::Object(map) if !map.is_empty() => {
                    for (k, child) in map {
                        path.push(k.clone());
                        leaves(child, path, out);
                        path.pop();
                    }
                }
                _ => out.push((path.clone(), v)),
            }
        }
        let base = serde_json::to_value(Self::default()).ok()?;
        let mut found = Vec::new();
        leaves(patch, &mut Vec::new(), &mut found);
        found.into_iter().find_map(|(path, leaf)| {
            let mut one = Value::Object(serde_json::Map::new());
            for key in path.iter().rev() {
                let mut m = serde_json::Map::new();
                m.insert(key.clone(), one);
                one = Value::Object(m);
            }
            // `one` is now {a: {b: {}}}; put the leaf at the bottom.
            let mut slot = &mut one;
            for key in &path {
                slot = slot.get_mut(key)?;
            }
            *slot = leaf.clone();
            let mut b = base.clone();
            merge(&mut b, one);
            if fill_entries(&mut b, registries).is_err() {
                return Some(path.join("."));
            }
            serde_json::from_value::<Self>(b).is_err().then(|| path.join("."))
        })
    }

    /// The compact URL fragment: JSON of only the fields that differ from the default (plus the
    /// version), base64url without padding. The default config gives a short fragment.
    pub fn to_fragment(&self) -> String {
        let (Ok(this), Ok(base)) = (serde_json::to_value(self), serde_json::to_value(Self::default())) else {
            return String::new();
        };
        let mut d = diff(&base, &this).unwrap_or_else(|| Value::Object(serde_json::Map::new()));
        // A changed method list is written whole; each entry keeps only what differs from its
        // method's defaults (reading fills them in again).
        compact_entries(&mut d, &Registries::builtin());
        if let Value::Object(map) = &mut d {
            map.insert("version".into(), Value::from(self.version));
        }
        URL_SAFE_NO_PAD.encode(d.to_string())
    }

    /// A config from a URL fragment made by [`ExperimentConfig::to_fragment`] (a leading `#`
    /// and a `config=` key are accepted). Never panics.
    ///
    /// # Errors
    /// [`ConfigError::Fragment`] when the text is not base64url JSON, and as
    /// [`ExperimentConfig::from_json`] otherwise.
    pub fn from_fragment(fragment: &str) -> Result<Self, ConfigError> {
        let f = fragment.trim();
        let f = f.strip_prefix('#').unwrap_or(f);
        let f = f.strip_prefix("config=").unwrap_or(f);
        if f.len() > MAX_FRAGMENT_LEN {
            return Err(ConfigError::Fragment(format!(
                "the fragment has {} characters; at most {MAX_FRAGMENT_LEN} are read",
                f.len()
            )));
        }
        if f.is_empty() {
            return Ok(Self::default());
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(f.trim_end_matches('='))
            .map_err(|e| ConfigError::Fragment(format!("not base64url ({e}); was the link cut short?")))?;
        let text = String::from_utf8(bytes)
            .map_err(|_| ConfigError::Fragment("the decoded fragment is not UTF-8 text".into()))?;
        let value: Value = serde_json::from_str(&text)
            .map_err(|e| ConfigError::Fragment(format!("the decoded fragment is not JSON ({e})")))?;
        Self::from_value(value)
    }
}

/// Why a config could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    /// Malformed JSON, or JSON that does not fit the config's fields.
    #[error("experiment config: {0}")]
    Json(String),
    /// A URL fragment that does not decode.
    #[error("experiment link: {0}")]
    Fragment(String),
    /// Written by a newer biaslens.
    #[error(
        "experiment config version {found} is newer than this biaslens understands (version {supported}); update biaslens"
    )]
    FutureVersion {
        /// The config's version.
        found: u32,
        /// The newest version this build reads.
        supported: u32,
    },
    /// A value out of range.
    #[error("experiment config: {0}")]
    Invalid(String),
}

/// Fills every method and attribution entry (`{"method": tag, "config": {...partial...}}`) from
/// that method's defaults, through its registry.
fn fill_entries(config: &mut Value, registries: &Registries) -> Result<(), ConfigError> {
    if let Some(Value::Array(methods)) = config.get_mut("methods") {
        for (k, m) in methods.iter_mut().enumerate() {
            let tag = entry_tag(m, &format!("methods[{k}]"), &registries.methods.tags())?;
            let method = registries.methods.require(&tag).map_err(|e| ConfigError::Invalid(format!("methods[{k}]: {e}")))?;
            let given = m.get_mut("config").map(Value::take).unwrap_or(Value::Object(serde_json::Map::new()));
            let full = method.normalise(given).map_err(|e| ConfigError::Invalid(format!("methods[{k}]: {e}")))?;
            m["config"] = full;
        }
    }
    if let Some(Value::Array(methods)) = config.get_mut("attribution").and_then(|a| a.get_mut("methods")) {
        let ids: Vec<&str> = registries.attributions.iter().map(|a| a.id()).collect();
        for (k, m) in methods.iter_mut().enumerate() {
            let id = entry_tag(m, &format!("attribution.methods[{k}]"), &ids)?;
            let method = registries.attributions.require(&id).map_err(|e| ConfigError::Invalid(format!("attribution.methods[{k}]: {e}")))?;
            let given = m.get_mut("config").map(Value::take).unwrap_or(Value::Object(serde_json::Map::new()));
            let full = method.normalise(given).map_err(|e| ConfigError::Invalid(format!("attribution.methods[{k}]: {e}")))?;
            m["config"] = full;
        }
    }
    Ok(())
}

/// The method lists of a config (as JSON) with each entry's settings reduced to what differs
/// from its method's defaults; the inverse of [`fill_entries`].
fn compact_entries(config: &mut Value, registries: &Registries) {
    fn compact(entries: &mut [Value], default_of: &dyn Fn(&str) -> Option<Value>) {
        for m in entries {
            let Some(default) = m.get("method").and_then(Value::as_str).and_then(default_of) else { continue };
            let Some(obj) = m.as_object_mut() else { continue };
            match obj.get("config").and_then(|c| diff(&default, c)) {
                Some(d) => {
                    obj.insert("config".into(), d);
                }
                None => {
                    obj.remove("config");
                }
            }
        }
    }
    if let Some(Value::Array(methods)) = config.get_mut("methods") {
        compact(methods, &|tag| registries.methods.get(tag).map(|m| m.default_config()));
    }
    if let Some(Value::Array(methods)) = config.get_mut("attribution").and_then(|a| a.get_mut("methods")) {
        compact(methods, &|id| registries.attributions.get(id).map(|a| a.default_config()));
    }
}

/// The `"method"` name of a list entry.
fn entry_tag(m: &Value, at: &str, known: &[&str]) -> Result<String, ConfigError> {
    m.get("method")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| ConfigError::Invalid(format!("{at} needs a \"method\" name, one of {known:?}")))
}

/// A version-1 config (merged onto the version-1 demo) in version 2's form: `attribution.lrp`
/// and `attribution.ig` become entries of `attribution.methods`.
fn migrate_v1(mut v: Value) -> Result<Value, ConfigError> {
    let attribution = v
        .get_mut("attribution")
        .and_then(Value::as_object_mut)
        .ok_or_else(|| ConfigError::Json("a version-1 config without attribution settings".into()))?;
    let lrp = attribution.remove("lrp");
    let ig = attribution.remove("ig");
    let mut methods = Vec::new();
    if let Some(lrp) = lrp {
        methods.push(serde_json::json!({"method": "lrp", "config": lrp}));
    }
    if let Some(ig) = ig.filter(|ig| !ig.is_null()) {
        methods.push(serde_json::json!({"method": "ig", "config": ig}));
    }
    attribution.insert("methods".into(), Value::Array(methods));
    v["version"] = Value::from(CONFIG_VERSION);
    Ok(v)
}

/// What must be merged onto `base` to give `this` (`None` if they are equal).
fn diff(base: &Value, this: &Value) -> Option<Value> {
    if base == this {
        return None;
    }
    match (base, this) {
        (Value::Object(b), Value::Object(t)) if b.keys().eq(t.keys()) => {
            let map: serde_json::Map<String, Value> =
                t.iter().filter_map(|(k, v)| b.get(k).and_then(|bv| diff(bv, v)).map(|d| (k.clone(), d))).collect();
            Some(Value::Object(map))
        }
        _ => Some(this.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_validate_and_round_trip_through_json() {
        for c in [ExperimentConfig::demo(), ExperimentConfig::paper()] {
            c.validate().expect("preset is valid");
            let back = ExperimentConfig::from_json(&c.to_json()).expect("own JSON reads back");
            assert_eq!(back, c);
        }
    }

    #[test]
    fn default_fragment_is_short_and_round_trips() {
        let f = ExperimentConfig::default().to_fragment();
        assert!(f.len() < 32, "{f}");
        assert_eq!(ExperimentConfig::from_fragment(&f).expect("decodes"), ExperimentConfig::default());
        assert_eq!(ExperimentConfig::from_fragment("").expect("empty = default"), ExperimentConfig::default());
    }

    #[test]
    fn changed_fields_round_trip_through_the_fragment() {
        let mut c = ExperimentConfig::demo();
        c.phis = vec![-0.1, -0.9];
        c.seed = 7;
        c.attribution.methods.truncate(1);
        c.methods.remove(1);
        c.methods[0] = MethodSpec::new::<ThrOpt>(ThrOptConfig::new().with_steps(33));
        let f = c.to_fragment();
        assert!(f.len() < ExperimentConfig::paper().to_json().len() / 3, "fragment is compact: {}", f.len());
        assert_eq!(ExperimentConfig::from_fragment(&format!("#config={f}")).expect("decodes"), c);
        let paper = ExperimentConfig::paper();
        assert_eq!(ExperimentConfig::from_fragment(&paper.to_fragment()).expect("decodes"), paper);
    }

    #[test]
    fn bad_fragments_are_clear_errors() {
        let err = |s: &str| ExperimentConfig::from_fragment(s).expect_err(s).to_string();
        assert!(err("!!!").contains("base64url"));
        assert!(err(&URL_SAFE_NO_PAD.encode([0xff, 0xfe])).contains("UTF-8"));
        assert!(err(&URL_SAFE_NO_PAD.encode("{\"phis\": [")).contains("not JSON"));
        assert!(err(&URL_SAFE_NO_PAD.encode("[1, 2]")).contains("JSON object"));
        assert!(err(&URL_SAFE_NO_PAD.encode("{\"version\": 99}")).contains("newer"));
        assert!(err(&URL_SAFE_NO_PAD.encode("{\"phis\": [2.0]}")).contains("[-1, 1]"));
        assert!(err(&URL_SAFE_NO_PAD.encode("{\"phis\": \"x\"}")).contains("experiment config"));
        assert!(err(&URL_SAFE_NO_PAD.encode("{\"methods\": [{\"method\": \"magic\"}]}")).contains("unknown method"));
        assert!(err(&"A".repeat(MAX_FRAGMENT_LEN + 1)).contains("at most"));
        // Truncated links: any prefix of a valid fragment is an error or a valid config, never a
        // panic.
        let f = ExperimentConfig::paper().to_fragment();
        for cut in 0..f.len() {
            let _ = ExperimentConfig::from_fragment(&f[..cut]);
        }
    }

    #[test]
    fn partial_json_takes_defaults_and_method_defaults() {
        let c = ExperimentConfig::from_json(
            r#"{"phis": [-0.5], "methods": [{"method": "thr_opt", "config": {"steps": 5}}, {"method": "rr_clarc"}]}"#,
        )
        .expect("partial config");
        assert_eq!(c.phis, vec![-0.5]);
        assert_eq!(c.methods.len(), 2);
        assert_eq!(c.methods[0], MethodSpec::new::<ThrOpt>(ThrOptConfig::new().with_steps(5)));
        assert_eq!(c.methods[1], MethodSpec::new::<RrClarc>(RrClarcConfig::new()));
        assert_eq!(c.train, ExperimentConfig::demo().train);
        let e = ExperimentConfig::from_json("{\"phis\": [").expect_err("broken");
        assert!(matches!(e, ConfigError::Json(_)), "{e}");
    }
}
