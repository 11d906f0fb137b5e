//! Integrated Gradients (Sundararajan, Taly & Yan, ICML 2017) through the whole classifier,
//! output transform included; by default the paper's: Zennit's 20-step right Riemann sum from a
//! black image with relevance `z_c e_c` (docs/METHODS.md#ig).

use biaslens_attribution::{AttributionError, IgConfig, integrated_gradients_with};

use super::{Expected, Explanation, MemoryPass, Request, TypedAttribution};

/// Integrated Gradients.
pub struct IntegratedGradients;

impl TypedAttribution for IntegratedGradients {
    type Config = IgConfig;
    const ID: &'static str = "ig";
    const NAME: &'static str = "IG";
    const DESCRIPTION: &'static str = "Integrated Gradients from a baseline image (the paper's: Zennit's, 20 steps, black baseline)";
    const SANITY: Option<&'static str> = Some("IG completeness delta");

    fn default_config() -> IgConfig {
        IgConfig::zennit()
    }
    fn check(c: &IgConfig) -> Result<(), String> {
        if c.steps == 0 || c.steps_per_chunk == 0 {
            return Err("steps and steps_per_chunk must be at least 1".into());
        }
        Ok(())
    }
    fn work(c: &IgConfig) -> f64 {
        3.0 * c.steps as f64 + 2.0
    }
    fn memory(c: &IgConfig) -> MemoryPass {
        MemoryPass { chunk_field: Some("steps_per_chunk"), points: c.steps_per_chunk.min(c.steps), backward: true }
    }
    fn rechunk(c: &mut IgConfig, points: usize) -> bool {
        c.steps_per_chunk = points.max(1);
        true
    }
    fn explain(request: &Request<'_>, c: &IgConfig) -> Result<Explanation, AttributionError> {
        let out = integrated_gradients_with(&mut request.grad_model()?, request.x.clone(), request.targets, c, None, request.should_stop, |_| {})?;
        Ok(Explanation { map: out.map, sum: None, expected: Expected::Delta(out.delta), logits: None })
    }
}
