//! Saliency-in-region and fairness metrics over plain slices of numbers.
//!
//! This crate implements the metrics of Sztukiewicz et al., "Investigating the Relationship
//! Between Debiasing and Artifact Removal using Saliency Maps" (XAI 2025, §3), following what the
//! authors' code computes (map preprocessing, every metric's formula and the details the paper
//! leaves open: `docs/METHODS.md#metrics`). It knows nothing of tensors or devices: callers read
//! maps back from the device once per batch and pass slices.
//!
//! Coordinate space: a saliency map for one image is a row-major `H×W` slice (`map[y * W + x]`),
//! x = column, y = row, origin top-left; [`Roi`] carries the image size it belongs to. A region may
//! also be a pixel [`Mask`], and each image may have its own ([`Region`],
//! [`per_image_metrics_each`]; `docs/METHODS.md#per-image-regions`).
//!
//! # Where this differs from the paper or the authors' code
//!
//! Settings default to the code's behaviour; the paper's reading is a setting where they differ.
//! Where the code has a bug or an undefined case, this crate defines it and says so:
//!
//! * All-zero maps: every normalisation gives zeros and RRF = 0 (the code divides 0 by 0 → NaN).
//! * Identical maps: the code's `np.allclose → zeros` rule for ADR/DIF/RDDT is applied per image,
//!   not per loader batch ([`IdenticalMaps`]).
//! * DIF: the code's strict margin 1e-3 by default; the paper's `d < v` is `dif_margin = 0`.
//! * DET: the code's outside mean over all `H·W` pixels by default ([`DetOutside`]).
//! * RDDT/DET: a p-value scipy reports as NaN (fewer than 2 images, or all differences 0) is `None`
//!   and not significant, as `NaN < 0.01` is false in the code.
//! * MRR: 0/0 = 0 and x/0 = ±∞ (the code divides unguarded).
//! * Demographic parity: DetoxAI's code of 2025-01-09 compares counts of *actual* positives (a
//!   bug); here predicted positive rates. Accuracy per group is guarded like the rates (that code
//!   gives NaN for an empty group). See [`fairness`] and `docs/METHODS.md#fairness`.
//! * ROI axes: x = column as drawn in the authors' figures; [`Roi::from_code_rect`] reproduces a
//!   call in their slicing order `(row, column)`.
//! * Pooling: over all images given; the code's "first 5 batches of 128" is the caller's choice.
//! * Regions: besides the paper's one box for all images, a box or a pixel mask per image
//!   ([`Region`]), an extension; the formulas are the same over each image's own pixels.

pub mod fairness;
pub mod localise;
pub mod preprocess;
pub mod region;
pub mod roi;
pub mod saliency;
pub mod stats;

pub use localise::{LocalisationSummary, LocaliseError, LocaliseSettings, Polarity, ThresholdRule};
pub use fairness::{Confusion, FairnessReport, GroupRates, PairedGap, eo_permutation_p, fairness_report, paired_eo_difference, yule_phi};
pub use preprocess::{ChannelReduction, Normalisation, PreprocessSettings, preprocess, preprocess_into};
pub use region::{Inside, Mask, Region};
pub use roi::{ImageSize, Roi, RoiError, RoiPreset};
pub use saliency::{
    DetOutside, GroupKey, IdenticalMaps, ImageMetrics, MapMetrics, SaliencyReport, SaliencySettings,
    SaliencySummary, map_metrics, paired_metrics, per_image_metrics, per_image_metrics_each, saliency_report,
};
pub use stats::{BootstrapSettings, Interval, TTest, holm, mean_t_interval, spearman, ttest_greater, two_sided_p};

/// Why metrics could not be computed from the given data.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MetricsError {
    /// Slices whose lengths do not fit together.
    #[error("shape mismatch: {0}")]
    Shape(String),
    /// A value outside what the metric accepts (e.g. a label other than 0/1).
    #[error("invalid value: {0}")]
    Value(String),
    /// A region of interest that does not fit.
    #[error(transparent)]
    Roi(#[from] RoiError),
}

/// Fraction of absolute saliency that falls inside `roi`: `Σ_{p∈ROI} |s_p| / Σ_p |s_p|`.
///
/// `map` is one image's single-channel map, row-major `H×W` in `roi`'s image space; `roi` is a
/// box, a mask or either ([`Inside`]). This is the numerator/denominator of the paper's RRF
/// (Rectangle Relevance Fraction, eq. 1) on the absolute map. A map with no relevance anywhere
/// returns `0.0` (nothing of it lies inside), not NaN.
///
/// # Errors
/// [`RoiError::MapSize`] if `map.len()` is not `H×W` of the ROI's image.
pub fn abs_fraction_in_roi<R: Inside + ?Sized>(map: &[f32], roi: &R) -> Result<f64, RoiError> {
    let size = roi.image();
    if map.len() != size.pixels() {
        return Err(RoiError::MapSize { expected: size, len: map.len() });
    }
    let total: f64 = map.iter().map(|v| f64::from(v.abs())).sum();
    if total == 0.0 {
        return Ok(0.0);
    }
    let inside: f64 = roi.spans().map(|r| map[r].iter().map(|v| f64::from(v.abs())).sum::<f64>()).sum();
    Ok(inside / total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn size(w: u32, h: u32) -> ImageSize {
        ImageSize { width: w, height: h }
    }

    #[test]
    fn whole_image_roi_holds_everything() {
        let map: Vec<f32> = (0..12).map(|i| i as f32 - 5.5).collect();
        let roi = Roi::new(0, 0, 4, 3, size(4, 3)).expect("valid roi");
        assert!((abs_fraction_in_roi(&map, &roi).expect("sizes match") - 1.0).abs() < 1e-12);
    }

    #[test]
    fn hand_worked_fraction_respects_axis_order() {
        // 4 wide, 3 high. ROI = column 1..3, row 2 only: values at (1,2) and (2,2).
        #[rustfmt::skip]
        let map = [
            1.0, 0.0, 0.0, 0.0,
            0.0, 0.0, 0.0, 0.0,
            0.0, -2.0, 3.0, 4.0f32,
        ];
        let roi = Roi::new(1, 2, 2, 1, size(4, 3)).expect("valid roi");
        let f = abs_fraction_in_roi(&map, &roi).expect("sizes match");
        assert!((f - 5.0 / 10.0).abs() < 1e-12, "{f}");
    }

    #[test]
    fn zero_map_is_zero_not_nan() {
        let roi = Roi::new(0, 0, 1, 1, size(2, 2)).expect("valid roi");
        assert_eq!(abs_fraction_in_roi(&[0.0; 4], &roi).expect("sizes match"), 0.0);
    }

    #[test]
    fn wrong_map_length_is_an_error() {
        let roi = Roi::new(0, 0, 1, 1, size(2, 2)).expect("valid roi");
        assert!(matches!(abs_fraction_in_roi(&[0.0; 3], &roi), Err(RoiError::MapSize { .. })));
    }
}
