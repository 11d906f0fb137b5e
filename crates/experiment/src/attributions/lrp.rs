//! LRP (Bach et al., PLOS ONE 2015) with Zennit's rules for the ResNets, as the paper ran it by
//! default: EpsilonPlus, no canonizer, relevance `z_c e_c` at the output (docs/METHODS.md#lrp).
//!
//! A model with a soft-threshold output is explained as Zennit does behind DetoxAI's threshold
//! hook: the relevance starts from the transformed output `s_c e_c` and bypasses the transform,
//! so LRP is linear in that starting relevance ([`TypedAttribution::LINEAR_IN_OUTPUT`]).

use biaslens_attribution::{AttributionError, LrpConfig, lrp_resnet_with_output, output_relevance};
use biaslens_debias::OutputTransform;
use biaslens_model::ForwardHook;
use burn::prelude::*;

use super::{Expected, Explanation, MemoryPass, Request, TypedAttribution};

/// Layer-wise Relevance Propagation.
pub struct Lrp;

/// The model's output transform applied to the network's `logits` of the request's batch.
fn transformed(request: &Request<'_>, logits: Tensor<2>) -> Result<Tensor<2>, AttributionError> {
    match &request.model.output {
        OutputTransform::Identity => Ok(logits),
        transform => transform
            .apply(logits, Some(request.groups))
            .map_err(|e| AttributionError::Config(format!("output transform: {e}"))),
    }
}

impl TypedAttribution for Lrp {
    type Config = LrpConfig;
    const ID: &'static str = "lrp";
    const NAME: &'static str = "LRP";
    const DESCRIPTION: &'static str = "Layer-wise Relevance Propagation with Zennit's rules (the paper's: EpsilonPlus, no canonizer)";
    const SANITY: Option<&'static str> = Some("LRP conservation Σ R_in − Σ R_out");
    const LINEAR_IN_OUTPUT: bool = true;

    fn default_config() -> LrpConfig {
        LrpConfig::paper()
    }
    fn check(c: &LrpConfig) -> Result<(), String> {
        c.validate().map(|_| ()).map_err(|e| e.to_string())
    }
    fn work(_: &LrpConfig) -> f64 {
        2.0
    }
    fn memory(_: &LrpConfig) -> MemoryPass {
        MemoryPass { chunk_field: None, points: 1, backward: false }
    }
    fn output_relevance(request: &Request<'_>, logits: Tensor<2>, c: &LrpConfig) -> Result<Option<Tensor<1>>, AttributionError> {
        let b = request.targets.len();
        Ok(Some(output_relevance(transformed(request, logits)?, Some(request.targets), c.output)?.sum_dim(1).reshape([b])))
    }
    fn explain(request: &Request<'_>, c: &LrpConfig) -> Result<Explanation, AttributionError> {
        let mut hook = request.model.hook.clone();
        let lrp = lrp_resnet_with_output(
            &request.model.model,
            request.x.clone(),
            c,
            hook.as_mut().map(|h| h as &mut dyn ForwardHook),
            // Zennit's relevance at the (hooked) output: the transform's output times the
            // one-hot of the target (docs/METHODS.md#lrp).
            |logits| output_relevance(transformed(request, logits)?, Some(request.targets), c.output),
        )?;
        Ok(Explanation { map: lrp.map, sum: Some(lrp.input_sum), expected: Expected::Sum(lrp.output_sum), logits: Some(lrp.logits) })
    }
}
