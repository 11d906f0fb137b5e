//! The attribution methods an experiment can run, keyed by id: LRP, Integrated Gradients, the
//! gradient, gradient × input and SmoothGrad (the algorithms live in `biaslens-attribution`; this
//! module adapts them to a debiased classifier). Each method is one file here plus one line in
//! [`AttributionRegistry::builtin`]; the config lists which run
//! (`attribution.methods: [{"method": "lrp", "config": {...}}, …]`), and the results, the report
//! and the page show whichever ran, keyed by the entry's key (its id unless the entry names
//! another, so the same method can run twice with different settings).
//!
//! What a map explains (docs/METHODS.md#attribution): the ground-truth class of each image. A
//! model whose output is transformed after the network (the soft threshold of ThrOpt, ZhangAL,
//! SavaniAFT) is explained as the authors' code does by default: gradient methods differentiate
//! through the transform, LRP starts from the transformed output `s_c e_c`, bypassing the
//! transform (Zennit's hook behaviour behind DetoxAI's threshold hook).

mod grad_x_input;
mod gradient;
mod ig;
mod lrp;
mod smoothgrad;

use std::sync::{Arc, OnceLock};

use biaslens_attribution::{AttributionError, ResNetGrad};
use biaslens_debias::{DebiasedModel, OutputTransform, merge};
use burn::prelude::*;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

pub use grad_x_input::GradientXInput;
pub use gradient::Gradient;
pub use ig::IntegratedGradients;
pub use lrp::Lrp;
pub use smoothgrad::SmoothGrad;

/// What one attribution pass is asked to explain.
pub struct Request<'a> {
    /// The classifier (network, projection hook, output transform), frozen.
    pub model: &'a DebiasedModel,
    /// The images, `[B, 3, H, W]`.
    pub x: Tensor<4>,
    /// The class explained in each image (its ground truth).
    pub targets: &'a [usize],
    /// The protected attribute of each image (a per-group threshold needs it).
    pub groups: &'a [u8],
    /// Asked between chunks; `true` cancels.
    pub should_stop: &'a dyn Fn() -> bool,
}

impl Request<'_> {
    /// The classifier's output as gradient methods see it: network (with hook), then the output
    /// transform. Called with `k·B` rows ordered item-major (path points, noisy copies), so row
    /// `r` belongs to image `r mod B`.
    ///
    /// # Shapes
    /// `[R, 3, H, W]` → `[R, 2]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        classifier_output(self.model, x, self.groups)
    }

    /// The classifier as the gradient methods differentiate it ([`classifier_grad`]): the
    /// hand-written ResNet backward walk, equal to autodiff of [`Request::forward`].
    ///
    /// # Errors
    /// [`AttributionError::Config`] for a network layer the walk does not support.
    pub fn grad_model(&self) -> Result<ResNetGrad<'_>, AttributionError> {
        classifier_grad(self.model, self.groups)
    }
}

/// The classifier's output for `x`, whose rows belong to images `r mod groups.len()`.
///
/// # Shapes
/// `[R, 3, H, W]` → `[R, 2]`.
pub fn classifier_output(dm: &DebiasedModel, x: Tensor<4>, groups: &[u8]) -> Tensor<2> {
    transform_rows(&dm.output, dm.logits(x), groups)
}

/// `transform` of `logits` whose rows belong to images `r mod groups.len()`.
///
/// # Shapes
/// `[R, 2]` → `[R, 2]`.
fn transform_rows(transform: &OutputTransform, logits: Tensor<2>, groups: &[u8]) -> Tensor<2> {
    match transform {
        OutputTransform::Identity => logits,
        transform => {
            let rows = logits.dims()[0];
            let n = groups.len().max(1);
            let g: Vec<u8> = (0..rows).map(|r| groups.get(r % n).copied().unwrap_or(0)).collect();
            // The transform is checked to fit (two logits, groups given) before attribution, so
            // the fallback is never taken.
            transform.apply(logits.clone(), Some(&g)).unwrap_or(logits)
        }
    }
}

/// The classifier of [`classifier_output`] as a gradient model: its ResNet walked by hand
/// (`biaslens_attribution::ResNetGrad`, Simonyan et al.'s gradient without burn's autodiff tape),
/// the ClArC projection and the output transform differentiated exactly by local autodiff at
/// their own layers. Rows belong to images `r mod groups.len()`, as for [`classifier_output`].
///
/// # Errors
/// [`AttributionError::Config`] for a network layer the walk does not support.
pub fn classifier_grad<'a>(dm: &'a DebiasedModel, groups: &'a [u8]) -> Result<ResNetGrad<'a>, AttributionError> {
    let mut grad = ResNetGrad::new(&dm.model)?;
    if let Some(hook) = &dm.hook {
        grad = grad.with_hook(hook.clone());
    }
    if dm.output != OutputTransform::Identity {
        let transform = &dm.output;
        grad = grad.with_output(move |logits| Ok(transform_rows(transform, logits, groups)));
    }
    Ok(grad)
}

/// What the sum of a map should equal, per image (the sanity number that travels with it).
pub enum Expected {
    /// No completeness property (gradient, gradient × input, SmoothGrad).
    None,
    /// This sum, computed on the device (LRP: the output relevance `Σ R_out`).
    Sum(Tensor<1>),
    /// The map's sum minus this delta (IG: Captum's completeness delta; the target is
    /// `F(x) − F(baseline)`).
    Delta(Tensor<1>),
}

/// One attribution pass, on the device (read back by the runner, once per batch).
pub struct Explanation {
    /// The map, `[B, 3, H, W]`.
    pub map: Tensor<4>,
    /// `Σ map` per image computed on the device (`None`: the runner sums the read-back map).
    pub sum: Option<Tensor<1>>,
    /// What the sum should equal.
    pub expected: Expected,
    /// The network's logits of the batch, `[B, 2]`, when the method computed them anyway.
    pub logits: Option<Tensor<2>>,
}

/// Rows of images × points per pass, for the memory check.
#[derive(Debug, Clone, PartialEq)]
pub struct MemoryPass {
    /// The setting inside the method's config that sets the points per image in one pass
    /// (`"steps_per_chunk"`), if any; `None`: one point per image.
    pub chunk_field: Option<&'static str>,
    /// Points per image in one pass.
    pub points: usize,
    /// Whether the pass keeps a backward graph.
    pub backward: bool,
}

/// An attribution method as the registry sees it (object-safe); implement
/// [`TypedAttribution`] instead.
pub trait Attribution: Send + Sync {
    /// The JSON id (`"lrp"`).
    fn id(&self) -> &'static str;
    /// The short name in charts and tables (`"LRP"`).
    fn name(&self) -> &'static str;
    /// What it computes, in one line.
    fn description(&self) -> &'static str;
    /// What its sanity residual means, for table headers (`None`: it has none).
    fn sanity(&self) -> Option<&'static str>;
    /// Default settings (the paper's where the paper used the method).
    fn default_config(&self) -> Value;
    /// Full settings from partial ones, checked.
    ///
    /// # Errors
    /// A message naming the wrong field.
    fn normalise(&self, config: Value) -> Result<Value, String>;
    /// Work per image in forward passes (a backward counts as two).
    fn work(&self, config: &Value) -> f64;
    /// The largest pass (points per image, backward or not).
    fn memory(&self, config: &Value) -> MemoryPass;
    /// `config` with its chunk lowered to `points` per image per pass (`None` if it has no chunk).
    fn rechunk(&self, config: &Value, points: usize) -> Option<Value>;
    /// Whether the map is linear in the output relevance (LRP): a model that shares vanilla's
    /// network and differs only in its output transform then has vanilla's map times the ratio
    /// of the two output relevances, per image ([`Attribution::output_relevance`]).
    fn linear_in_output(&self) -> bool {
        false
    }
    /// `Σ R_out` per image at the model's output for the network `logits` (`[B, 2]` → `[B]`),
    /// for methods linear in the output relevance.
    ///
    /// # Errors
    /// [`AttributionError`] for bad targets.
    fn output_relevance(&self, _request: &Request<'_>, _logits: Tensor<2>, _config: &Value) -> Result<Option<Tensor<1>>, AttributionError> {
        Ok(None)
    }
    /// One pass over a batch.
    ///
    /// # Errors
    /// [`AttributionError`], including cancellation.
    fn explain(&self, request: &Request<'_>, config: &Value) -> Result<Explanation, AttributionError>;
}

/// An attribution with a typed config: what a method file implements.
pub trait TypedAttribution: Send + Sync + 'static {
    /// Its settings.
    type Config: Serialize + DeserializeOwned;
    /// See [`Attribution::id`].
    const ID: &'static str;
    /// See [`Attribution::name`].
    const NAME: &'static str;
    /// See [`Attribution::description`].
    const DESCRIPTION: &'static str;
    /// See [`Attribution::sanity`].
    const SANITY: Option<&'static str>;
    /// Default settings.
    fn default_config() -> Self::Config;
    /// Checks settings beyond their types.
    ///
    /// # Errors
    /// A message naming the field.
    fn check(_config: &Self::Config) -> Result<(), String> {
        Ok(())
    }
    /// See [`Attribution::work`].
    fn work(config: &Self::Config) -> f64;
    /// See [`Attribution::memory`].
    fn memory(config: &Self::Config) -> MemoryPass;
    /// See [`Attribution::rechunk`].
    fn rechunk(_config: &mut Self::Config, _points: usize) -> bool {
        false
    }
    /// See [`Attribution::linear_in_output`].
    const LINEAR_IN_OUTPUT: bool = false;
    /// See [`Attribution::output_relevance`].
    ///
    /// # Errors
    /// As there.
    fn output_relevance(_request: &Request<'_>, _logits: Tensor<2>, _config: &Self::Config) -> Result<Option<Tensor<1>>, AttributionError> {
        Ok(None)
    }
    /// See [`Attribution::explain`].
    ///
    /// # Errors
    /// As there.
    fn explain(request: &Request<'_>, config: &Self::Config) -> Result<Explanation, AttributionError>;
}

fn typed<T: TypedAttribution>(config: &Value) -> Result<T::Config, String> {
    serde_json::from_value(config.clone()).map_err(|e| format!("{} settings: {e}", T::ID))
}

impl<T: TypedAttribution> Attribution for T {
    fn id(&self) -> &'static str {
        T::ID
    }
    fn name(&self) -> &'static str {
        T::NAME
    }
    fn description(&self) -> &'static str {
        T::DESCRIPTION
    }
    fn sanity(&self) -> Option<&'static str> {
        T::SANITY
    }
    fn default_config(&self) -> Value {
        serde_json::to_value(T::default_config()).unwrap_or(Value::Null)
    }
    fn normalise(&self, config: Value) -> Result<Value, String> {
        let mut full = self.default_config();
        merge(&mut full, config);
        let c = typed::<T>(&full)?;
        T::check(&c).map_err(|e| format!("{} settings: {e}", T::ID))?;
        serde_json::to_value(c).map_err(|e| format!("{} settings: {e}", T::ID))
    }
    fn work(&self, config: &Value) -> f64 {
        typed::<T>(config).map_or(1.0, |c| T::work(&c))
    }
    fn memory(&self, config: &Value) -> MemoryPass {
        typed::<T>(config).map_or(MemoryPass { chunk_field: None, points: 1, backward: true }, |c| T::memory(&c))
    }
    fn rechunk(&self, config: &Value, points: usize) -> Option<Value> {
        let mut c = typed::<T>(config).ok()?;
        T::rechunk(&mut c, points).then(|| serde_json::to_value(c).ok()).flatten()
    }
    fn linear_in_output(&self) -> bool {
        T::LINEAR_IN_OUTPUT
    }
    fn output_relevance(&self, request: &Request<'_>, logits: Tensor<2>, config: &Value) -> Result<Option<Tensor<1>>, AttributionError> {
        let c = typed::<T>(config).map_err(AttributionError::Config)?;
        T::output_relevance(request, logits, &c)
    }
    fn explain(&self, request: &Request<'_>, config: &Value) -> Result<Explanation, AttributionError> {
        let c = typed::<T>(config).map_err(AttributionError::Config)?;
        T::explain(request, &c)
    }
}

/// The attribution methods a run can use.
#[derive(Clone, Default)]
pub struct AttributionRegistry {
    methods: Vec<Arc<dyn Attribution>>,
}

impl std::fmt::Debug for AttributionRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.methods.iter().map(|m| m.id())).finish()
    }
}

impl AttributionRegistry {
    /// Every attribution method biaslens ships. **One line per method.**
    pub fn builtin() -> &'static Self {
        static BUILTIN: OnceLock<AttributionRegistry> = OnceLock::new();
        BUILTIN.get_or_init(|| {
            Self::default()
                .with(Lrp)
                .with(IntegratedGradients)
                .with(Gradient)
                .with(GradientXInput)
                .with(SmoothGrad)
        })
    }

    /// This registry with `method` added (replacing one with the same id).
    pub fn with(mut self, method: impl Attribution + 'static) -> Self {
        self.methods.retain(|m| m.id() != method.id());
        self.methods.push(Arc::new(method));
        self
    }

    /// The method with id `id`.
    pub fn get(&self, id: &str) -> Option<&dyn Attribution> {
        self.methods.iter().find(|m| m.id() == id).map(|m| &**m)
    }

    /// Every method, in order.
    pub fn iter(&self) -> impl Iterator<Item = &dyn Attribution> {
        self.methods.iter().map(|m| &**m)
    }

    /// The method of `id`, or a message listing the known ids.
    ///
    /// # Errors
    /// For an unknown id.
    pub fn require(&self, id: &str) -> Result<&dyn Attribution, String> {
        self.get(id).ok_or_else(|| {
            format!("unknown attribution method {id:?}; use one of {:?}", self.methods.iter().map(|m| m.id()).collect::<Vec<_>>())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use biaslens_attribution::{IgConfig, OutputRelevance, gradient, integrated_gradients};
    use biaslens_debias::ClarcProjection;
    use biaslens_model::{ResNetConfig, Tap};
    use burn::module::Module;

    /// The gradient methods of the experiment go through the hand-written ResNet walk
    /// ([`classifier_grad`]); on a debiased classifier with a ClArC projection and a per-group
    /// soft threshold (rows matched to their image's group, several path points per pass) they
    /// equal autodiff of [`classifier_output`], for IG (map and completeness delta) and the
    /// gradient under both output relevances. Bound 1e-5 relative to the map's largest value:
    /// float32 rounding of the backward only (`biaslens-attribution/tests/resnet_grad_equal.rs`).
    #[test]
    fn gradient_methods_through_the_walk_equal_autodiff_of_the_classifier() {
        let device = Device::flex();
        let model = ResNetConfig::resnet18(2).with_width(8).init_seeded(11, &device).freeze();
        let d = 64; // feature_dim = width · 8
        let cav: Vec<f32> = (0..d).map(|i| if i % 3 == 0 { 0.5 } else { 0.0 }).collect();
        let norm = cav.iter().map(|v| v * v).sum::<f32>().sqrt();
        let dm = DebiasedModel {
            model,
            hook: Some(ClarcProjection {
                cav: cav.iter().map(|v| v / norm).collect(),
                reference: (0..d).map(|i| 0.01 * i as f32).collect(),
                alpha: 1.0,
                tap: Tap::Pooled,
            }),
            output: OutputTransform::GroupSoftThreshold { thresholds: [0.4, 0.6], temperature: 10.0 },
        };
        let vals: Vec<f32> = (0..2 * 3 * 36 * 36).map(|i| ((i as f32) * 0.37).sin()).collect();
        let x = Tensor::<4>::from_data(TensorData::new(vals, [2, 3, 36, 36]), &device);
        let (targets, groups) = ([1usize, 0], [0u8, 1]);
        let request = Request { model: &dm, x: x.clone(), targets: &targets, groups: &groups, should_stop: &|| false };
        let close = |name: &str, a: Tensor<4>, b: Tensor<4>| {
            let a = a.into_data().try_into_vec::<f32>().expect("f32");
            let b = b.into_data().try_into_vec::<f32>().expect("f32");
            let scale = b.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            let err = a.iter().zip(&b).fold(0.0f32, |m, (p, q)| m.max((p - q).abs())) / scale;
            assert!(scale > 0.0 && err <= 1e-5, "{name}: {err:e} of {scale:e}");
        };

        let config = IgConfig::zennit().with_steps(5).with_steps_per_chunk(2);
        let ours = <IntegratedGradients as TypedAttribution>::explain(&request, &config).expect("walk IG");
        let want = integrated_gradients(|x| request.forward(x), x.clone(), &targets, &config, None, || false, |_| {})
            .expect("autodiff IG");
        close("IG", ours.map, want.map);
        let Expected::Delta(delta) = ours.expected else { panic!("IG reports its delta") };
        let (a, b) = (delta.into_data().try_into_vec::<f32>().expect("f32"), want.delta.into_data().try_into_vec::<f32>().expect("f32"));
        assert!(a.iter().zip(&b).all(|(p, q)| (p - q).abs() < 1e-6), "{a:?} vs {b:?}");

        for relevance in [OutputRelevance::OneHot, OutputRelevance::LogitOneHot] {
            let ours = <Gradient as TypedAttribution>::explain(&request, &gradient::GradientConfig { relevance }).expect("walk gradient");
            let (want, _) = gradient(|x| request.forward(x), x.clone(), &targets, relevance).expect("autodiff gradient");
            close("gradient", ours.map, want);
        }
    }
}
