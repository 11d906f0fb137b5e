//! The input gradient of the explained class's output (Simonyan, Vedaldi & Zisserman, 2014),
//! through the whole classifier (docs/METHODS.md#gradient).

use biaslens_attribution::{AttributionError, OutputRelevance, gradient_with};
use serde::{Deserialize, Serialize};

use super::{Expected, Explanation, MemoryPass, Request, TypedAttribution};

/// The input gradient.
pub struct Gradient;

/// Settings of [`Gradient`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct GradientConfig {
    /// One-hot (the gradient of `z_c`) or logit × one-hot (of `½ z_c²`, Zennit's convention).
    pub relevance: OutputRelevance,
}

impl TypedAttribution for Gradient {
    type Config = GradientConfig;
    const ID: &'static str = "gradient";
    const NAME: &'static str = "Gradient";
    const DESCRIPTION: &'static str = "the input gradient of the explained class's score";
    const SANITY: Option<&'static str> = None;

    fn default_config() -> GradientConfig {
        GradientConfig::default()
    }
    fn work(_: &GradientConfig) -> f64 {
        3.0
    }
    fn memory(_: &GradientConfig) -> MemoryPass {
        MemoryPass { chunk_field: None, points: 1, backward: true }
    }
    fn explain(request: &Request<'_>, c: &GradientConfig) -> Result<Explanation, AttributionError> {
        let (map, _) = gradient_with(&mut request.grad_model()?, request.x.clone(), request.targets, c.relevance)?;
        Ok(Explanation { map, sum: None, expected: Expected::None, logits: None })
    }
}
