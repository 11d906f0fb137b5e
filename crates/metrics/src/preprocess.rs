//! Saliency-map preprocessing: channel reduction and per-image normalisation.
//!
//! The authors' `LRPHandler.calculate` sums the attribution over the RGB channels (signed), scales
//! each image to `[0, 1]` by its maximum absolute value, `s = (R + max|R|) / (2·max|R|)` (0.5 = no
//! relevance), and the metrics then use `|s − 0.5| = |R| / (2·max|R|)`
//! (`docs/METHODS.md#preprocess`). The paper (Sztukiewicz et al., XAI 2025, §3) speaks only of
//! "pixel intensities" `p_ij`. Both readings are settings here; the code's is the default. Unlike
//! the code, an all-zero map is defined (all zeros), not NaN.

use serde::{Deserialize, Serialize};

/// How a `C×H×W` attribution becomes one value per pixel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelReduction {
    /// `Σ_c R_c` (signed): the authors' code.
    #[default]
    SignedSum,
    /// `Σ_c |R_c|`.
    AbsSum,
    /// `sqrt(Σ_c R_c²)`.
    L2,
}

/// How each image's reduced map is scaled before the metrics see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Normalisation {
    /// The code's max-abs scaling and symmetrisation: `p = |(R + a)/(2a) − 0.5| = |R| / (2a)` with
    /// `a = max|R|`, so `p ∈ [0, 0.5]`. An all-zero map stays all zeros.
    #[default]
    MaxAbsHalf,
    /// The reduced values as they are (signed): the paper's formulas taken literally.
    None,
    /// `p = |R| / Σ|R|` (a distribution over pixels). An all-zero map stays all zeros.
    SumToOne,
}

/// Map preprocessing settings (defaults: the authors' code).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct PreprocessSettings {
    /// Channel reduction.
    pub channel_reduction: ChannelReduction,
    /// Per-image normalisation.
    pub normalisation: Normalisation,
}

/// Reduces one image's `C×H×W` attribution (`channels` planes of `out.len()` pixels each, C order)
/// and normalises it into `out` (`H×W`, row-major).
///
/// `map.len()` must be `channels · out.len()`; callers check shapes (see
/// [`crate::saliency::per_image_metrics`]). Arithmetic is in f64.
///
/// # Shapes
/// `map`: `[C, H, W]` flattened; `out`: `[H, W]` flattened.
pub fn preprocess_into<T: Copy + Into<f64>>(
    map: &[T],
    channels: usize,
    settings: PreprocessSettings,
    out: &mut [f64],
) {
    let hw = out.len();
    debug_assert_eq!(map.len(), channels * hw);
    if channels == 1 {
        match settings.channel_reduction {
            ChannelReduction::SignedSum => {
                for (o, &v) in out.iter_mut().zip(map) {
                    *o = v.into();
                }
            }
            ChannelReduction::AbsSum | ChannelReduction::L2 => {
                for (o, &v) in out.iter_mut().zip(map) {
                    *o = v.into().abs();
                }
            }
        }
    } else {
        out.fill(0.0);
        for plane in map.chunks_exact(hw) {
            match settings.channel_reduction {
                ChannelReduction::SignedSum => {
                    for (o, &v) in out.iter_mut().zip(plane) {
                        *o += v.into();
                    }
                }
                ChannelReduction::AbsSum => {
                    for (o, &v) in out.iter_mut().zip(plane) {
                        *o += v.into().abs();
                    }
                }
                ChannelReduction::L2 => {
                    for (o, &v) in out.iter_mut().zip(plane) {
                        let v: f64 = v.into();
                        *o += v * v;
                    }
                }
            }
        }
        if settings.channel_reduction == ChannelReduction::L2 {
            for o in out.iter_mut() {
                *o = o.sqrt();
            }
        }
    }
    match settings.normalisation {
        Normalisation::None => {}
        Normalisation::MaxAbsHalf => {
            let amax = out.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            if amax > 0.0 {
                let scale = 0.5 / amax;
                for o in out.iter_mut() {
                    *o = o.abs() * scale;
                }
            } else {
                out.fill(0.0);
            }
        }
        Normalisation::SumToOne => {
            let total: f64 = out.iter().map(|v| v.abs()).sum();
            if total > 0.0 {
                for o in out.iter_mut() {
                    *o = o.abs() / total;
                }
            } else {
                out.fill(0.0);
            }
        }
    }
}

/// [`preprocess_into`] returning a new `H×W` buffer (`map.len() / channels` pixels).
///
/// # Shapes
/// `map`: `[C, H, W]` flattened; result: `[H, W]` flattened.
pub fn preprocess<T: Copy + Into<f64>>(map: &[T], channels: usize, settings: PreprocessSettings) -> Vec<f64> {
    let channels = channels.max(1);
    let mut out = vec![0.0; map.len() / channels];
    preprocess_into(&map[..out.len() * channels], channels, settings, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_default_is_abs_over_twice_max_of_signed_channel_sum() {
        // Two channels, two pixels: sums are (1 - 3) = -2 and (2 + 2) = 4; max|.| = 4.
        let map = [1.0f32, 2.0, -3.0, 2.0];
        let p = preprocess(&map, 2, PreprocessSettings::default());
        assert_eq!(p, vec![2.0 / 8.0, 4.0 / 8.0]);
    }

    #[test]
    fn other_reductions_and_normalisations() {
        let map = [3.0f64, 0.0, -4.0, 1.0];
        let abs = PreprocessSettings { channel_reduction: ChannelReduction::AbsSum, normalisation: Normalisation::None };
        assert_eq!(preprocess(&map, 2, abs), vec![7.0, 1.0]);
        let l2 = PreprocessSettings { channel_reduction: ChannelReduction::L2, normalisation: Normalisation::SumToOne };
        assert_eq!(preprocess(&map, 2, l2), vec![5.0 / 6.0, 1.0 / 6.0]);
        let raw = PreprocessSettings { channel_reduction: ChannelReduction::SignedSum, normalisation: Normalisation::None };
        assert_eq!(preprocess(&map, 2, raw), vec![-1.0, 1.0]);
    }

    #[test]
    fn zero_maps_stay_zero_under_every_setting() {
        for normalisation in [Normalisation::MaxAbsHalf, Normalisation::SumToOne, Normalisation::None] {
            for channel_reduction in [ChannelReduction::SignedSum, ChannelReduction::AbsSum, ChannelReduction::L2] {
                let s = PreprocessSettings { channel_reduction, normalisation };
                let p = preprocess(&[0.0f32; 12], 3, s);
                assert!(p.iter().all(|&v| v == 0.0), "{s:?}: {p:?}");
            }
        }
    }
}
