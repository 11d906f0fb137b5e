//! SmoothGrad (Smilkov et al., 2017): the mean input gradient over seeded noisy copies, through
//! the whole classifier (docs/METHODS.md#gradient).

use biaslens_attribution::{AttributionError, SmoothGradConfig, smooth_grad_with};

use super::{Expected, Explanation, MemoryPass, Request, TypedAttribution};

/// SmoothGrad.
pub struct SmoothGrad;

impl TypedAttribution for SmoothGrad {
    type Config = SmoothGradConfig;
    const ID: &'static str = "smoothgrad";
    const NAME: &'static str = "SmoothGrad";
    const DESCRIPTION: &'static str = "the mean input gradient over noisy copies of the image";
    const SANITY: Option<&'static str> = None;

    fn default_config() -> SmoothGradConfig {
        SmoothGradConfig::default()
    }
    fn check(c: &SmoothGradConfig) -> Result<(), String> {
        if c.samples == 0 || c.samples_per_chunk == 0 {
            return Err("samples and samples_per_chunk must be at least 1".into());
        }
        if !(c.noise_level.is_finite() && c.noise_level >= 0.0) {
            return Err(format!("noise_level {} must be a fraction ≥ 0 of the image's value range", c.noise_level));
        }
        Ok(())
    }
    fn work(c: &SmoothGradConfig) -> f64 {
        3.0 * c.samples as f64
    }
    fn memory(c: &SmoothGradConfig) -> MemoryPass {
        MemoryPass { chunk_field: Some("samples_per_chunk"), points: c.samples_per_chunk.min(c.samples), backward: true }
    }
    fn rechunk(c: &mut SmoothGradConfig, points: usize) -> bool {
        c.samples_per_chunk = points.max(1);
        true
    }
    fn explain(request: &Request<'_>, c: &SmoothGradConfig) -> Result<Explanation, AttributionError> {
        let map = smooth_grad_with(&mut request.grad_model()?, request.x.clone(), request.targets, c, request.should_stop, |_| {})?;
        Ok(Explanation { map, sum: None, expected: Expected::None, logits: None })
    }
}
