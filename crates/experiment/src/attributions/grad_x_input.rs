//! Gradient × input (Shrikumar et al., 2016; Ancona et al., ICLR 2018): the input gradient of
//! the explained class's output times the input, through the whole classifier
//! (docs/METHODS.md#gradient).

use biaslens_attribution::{AttributionError, gradient_x_input_with};

use super::gradient::GradientConfig;
use super::{Expected, Explanation, MemoryPass, Request, TypedAttribution};

/// Gradient × input.
pub struct GradientXInput;

impl TypedAttribution for GradientXInput {
    type Config = GradientConfig;
    const ID: &'static str = "grad_x_input";
    const NAME: &'static str = "Grad×Input";
    const DESCRIPTION: &'static str = "the input gradient times the input";
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
        let (map, _) = gradient_x_input_with(&mut request.grad_model()?, request.x.clone(), request.targets, c.relevance)?;
        Ok(Explanation { map, sum: None, expected: Expected::None, logits: None })
    }
}
