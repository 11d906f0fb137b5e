//! Finding the artifact from a heatmap: threshold a per-image heatmap into a pixel mask and score
//! it against the known region (`docs/METHODS.md#localise`).
//!
//! This is the localisation step of Reveal to Revise (Pahde, Dreyer, Samek & Lapuschkin,
//! "Reveal to Revise: An Explainable AI Life Cycle for Iterative Bias Correction of Deep Models",
//! MICCAI 2023): the concept's relevance (there: LRP started from the CAV direction at the CAV's
//! layer; here any `[H, W]` heatmap, the CAV's is made by `biaslens_attribution::concept`) is
//! thresholded into a binary artifact mask. The scores are the intersection over union of that
//! mask with the ground-truth region and the pointing game (Zhang et al., "Top-down Neural
//! Attention by Excitation Backprop", IJCV 2018: is the heatmap's maximum inside the region), both
//! without tolerance margin.
//!
//! Everything works on plain slices: a heatmap is a row-major `H×W` slice (`heat[y * W + x]`) and
//! a mask a row-major `H×W` slice of `bool`, as [`crate::Mask`] stores it.

use biaslens_rng::SplitMix64;
use serde::{Deserialize, Serialize};

use crate::roi::ImageSize;
use crate::stats::{Interval, mean_t_interval};

/// Which sign of relevance counts as evidence for the concept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Polarity {
    /// Only positive relevance (towards the concept; the CAV points from "without" to "with"),
    /// negative values count as 0. The default.
    #[default]
    Positive,
    /// The absolute value (evidence for or against the concept).
    Absolute,
}

/// How a heatmap becomes a mask.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum ThresholdRule {
    /// Pixels whose score is at least `fraction` of the image's largest score (and above 0).
    FractionOfMax {
        /// In `(0, 1]`.
        fraction: f64,
    },
    /// The `fraction` of the image's pixels with the largest scores (`ceil(fraction · H·W)`
    /// pixels, ties at the cut included, pixels with score 0 never).
    TopFraction {
        /// In `(0, 1]`.
        fraction: f64,
    },
}

/// Knobs of [`threshold_mask`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LocaliseSettings {
    /// Which relevance counts. Default [`Polarity::Positive`].
    pub polarity: Polarity,
    /// Side of a square mean filter applied to the scores before thresholding (1 = none; odd
    /// values centre it; the window is cut at the border). Default 3: single-pixel gradient
    /// noise is averaged out, a blob of relevance is kept.
    pub smooth: usize,
    /// The threshold. Default: at least half of the image's maximum
    /// (`FractionOfMax { fraction: 0.5 }`).
    pub rule: ThresholdRule,
}

impl Default for LocaliseSettings {
    fn default() -> Self {
        Self {
            polarity: Polarity::Positive,
            smooth: 3,
            rule: ThresholdRule::FractionOfMax { fraction: 0.5 },
        }
    }
}

/// Why a localisation could not be scored.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LocaliseError {
    /// A slice does not have `H·W` values.
    #[error("{what} has {got} values; a {w}×{h} image needs {want}")]
    Length {
        /// Which argument.
        what: &'static str,
        /// Its length.
        got: usize,
        /// `H·W`.
        want: usize,
        /// Image width.
        w: u32,
        /// Image height.
        h: u32,
    },
    /// A setting is out of range.
    #[error("invalid localisation setting: {0}")]
    Setting(String),
}

fn check_len(what: &'static str, got: usize, image: ImageSize) -> Result<(), LocaliseError> {
    let want = image.pixels();
    if got == want {
        Ok(())
    } else {
        Err(LocaliseError::Length { what, got, want, w: image.width, h: image.height })
    }
}

impl LocaliseSettings {
    /// Refuses a fraction outside `(0, 1]` or a smoothing window of 0.
    ///
    /// # Errors
    /// [`LocaliseError::Setting`] naming the field.
    pub fn check(&self) -> Result<(), LocaliseError> {
        let fraction = match self.rule {
            ThresholdRule::FractionOfMax { fraction } | ThresholdRule::TopFraction { fraction } => fraction,
        };
        if !(fraction > 0.0 && fraction <= 1.0) {
            return Err(LocaliseError::Setting(format!("rule.fraction must be in (0, 1], got {fraction}")));
        }
        if self.smooth == 0 {
            return Err(LocaliseError::Setting("smooth must be at least 1 (1 = no smoothing)".into()));
        }
        Ok(())
    }
}

/// Sums a `[C, H, W]` map over its channels, with sign (the default channel reduction of the
/// saliency metrics, `docs/METHODS.md#preprocess`).
///
/// # Shapes
/// `map`: `C·H·W` values → `H·W` values.
///
/// # Errors
/// [`LocaliseError::Length`] when `map` is not a whole number of `H×W` planes.
pub fn channel_sum(map: &[f32], image: ImageSize) -> Result<Vec<f32>, LocaliseError> {
    let plane = image.pixels();
    if plane == 0 || map.is_empty() || !map.len().is_multiple_of(plane) {
        return Err(LocaliseError::Length { what: "map", got: map.len(), want: plane, w: image.width, h: image.height });
    }
    let mut out = vec![0.0f32; plane];
    for channel in map.chunks_exact(plane) {
        for (o, v) in out.iter_mut().zip(channel) {
            *o += v;
        }
    }
    Ok(out)
}

/// The per-pixel scores a mask is cut from: the heatmap under `polarity`, then the mean filter
/// of side `smooth`, in f64.
///
/// # Shapes
/// `heat`: `H·W` → `H·W`.
///
/// # Errors
/// [`LocaliseError`] for a wrong length or a bad setting.
pub fn scores(heat: &[f32], image: ImageSize, settings: &LocaliseSettings) -> Result<Vec<f64>, LocaliseError> {
    settings.check()?;
    check_len("heatmap", heat.len(), image)?;
    let s: Vec<f64> = heat
        .iter()
        .map(|&v| {
            let v = f64::from(v);
            match settings.polarity {
                Polarity::Positive => v.max(0.0),
                Polarity::Absolute => v.abs(),
            }
        })
        .collect();
    if settings.smooth <= 1 {
        return Ok(s);
    }
    let (w, h) = (image.width as usize, image.height as usize);
    let before = (settings.smooth - 1) / 2;
    let after = settings.smooth - 1 - before;
    let mut out = vec![0.0; s.len()];
    for y in 0..h {
        let (y0, y1) = (y.saturating_sub(before), (y + after + 1).min(h));
        for x in 0..w {
            let (x0, x1) = (x.saturating_sub(before), (x + after + 1).min(w));
            let mut sum = 0.0;
            for yy in y0..y1 {
                sum += s[yy * w + x0..yy * w + x1].iter().sum::<f64>();
            }
            out[y * w + x] = sum / ((y1 - y0) * (x1 - x0)) as f64;
        }
    }
    Ok(out)
}

/// The artifact mask of one heatmap: [`scores`] thresholded by `settings.rule`. A heatmap with
/// no score above 0 (e.g. all zeros, or all negative under [`Polarity::Positive`]) gives an
/// empty mask.
///
/// # Shapes
/// `heat`: `H·W` → `H·W` booleans, row-major.
///
/// # Errors
/// [`LocaliseError`] for a wrong length or a bad setting.
pub fn threshold_mask(heat: &[f32], image: ImageSize, settings: &LocaliseSettings) -> Result<Vec<bool>, LocaliseError> {
    let s = scores(heat, image, settings)?;
    let max = s.iter().copied().fold(0.0f64, f64::max);
    if max <= 0.0 {
        return Ok(vec![false; s.len()]);
    }
    let cut = match settings.rule {
        ThresholdRule::FractionOfMax { fraction } => fraction * max,
        ThresholdRule::TopFraction { fraction } => {
            let k = ((fraction * s.len() as f64).ceil() as usize).clamp(1, s.len());
            let mut sorted = s.clone();
            sorted.sort_by(|a, b| b.total_cmp(a));
            sorted[k - 1]
        }
    };
    Ok(s.iter().map(|&v| v > 0.0 && v >= cut).collect())
}

/// Intersection over union of two masks: `|A ∩ B| / |A ∪ B|`, `None` when both are empty.
///
/// # Errors
/// [`LocaliseError::Length`] when the lengths differ.
pub fn iou(mask: &[bool], truth: &[bool]) -> Result<Option<f64>, LocaliseError> {
    if mask.len() != truth.len() {
        return Err(LocaliseError::Length { what: "mask", got: mask.len(), want: truth.len(), w: truth.len() as u32, h: 1 });
    }
    let (mut inter, mut union) = (0usize, 0usize);
    for (&a, &b) in mask.iter().zip(truth) {
        inter += usize::from(a && b);
        union += usize::from(a || b);
    }
    Ok((union > 0).then(|| inter as f64 / union as f64))
}

/// The pointing game: whether the heatmap's largest score ([`scores`] under `settings`: polarity
/// and smoothing, no threshold) lies inside `truth`. At a tie the first maximal pixel in row-major
/// order is the point. `None` when no score is above 0 (the map points nowhere).
///
/// # Errors
/// [`LocaliseError`] for a wrong length or a bad setting.
pub fn pointing_game(heat: &[f32], truth: &[bool], image: ImageSize, settings: &LocaliseSettings) -> Result<Option<bool>, LocaliseError> {
    check_len("truth", truth.len(), image)?;
    let s = scores(heat, image, settings)?;
    let mut best: Option<(usize, f64)> = None;
    for (i, &v) in s.iter().enumerate() {
        if v > 0.0 && best.is_none_or(|(_, b)| v > b) {
            best = Some((i, v));
        }
    }
    Ok(best.map(|(i, _)| truth[i]))
}

/// A box of `w × h` pixels placed uniformly at random in the image (its top-left pixel drawn
/// from the positions that keep it inside), as a mask: the random baseline of a localisation
/// whose ground truth is a box of that size. `rng` is the caller's seeded generator.
///
/// # Errors
/// [`LocaliseError::Setting`] when the box is empty or larger than the image.
pub fn random_box_mask(image: ImageSize, w: u32, h: u32, rng: &mut SplitMix64) -> Result<Vec<bool>, LocaliseError> {
    if w == 0 || h == 0 || w > image.width || h > image.height {
        return Err(LocaliseError::Setting(format!("a {w}×{h} box does not fit a {}×{} image", image.width, image.height)));
    }
    let x0 = rng.below((image.width - w + 1) as usize);
    let y0 = rng.below((image.height - h + 1) as usize);
    Ok(box_mask(image, x0 as u32, y0 as u32, w, h))
}

/// The pixels of the box `[x, x + w) × [y, y + h)` (cut at the image's edges) as a mask.
pub fn box_mask(image: ImageSize, x: u32, y: u32, w: u32, h: u32) -> Vec<bool> {
    let (iw, ih) = (image.width as usize, image.height as usize);
    let mut m = vec![false; iw * ih];
    for yy in (y as usize)..(y as usize + h as usize).min(ih) {
        for xx in (x as usize)..(x as usize + w as usize).min(iw) {
            m[yy * iw + xx] = true;
        }
    }
    m
}

/// The bounding box `(x, y, w, h)` of a mask, `None` when it is empty.
pub fn bounding_box(mask: &[bool], image: ImageSize) -> Option<(u32, u32, u32, u32)> {
    let w = image.width as usize;
    if w == 0 {
        return None;
    }
    let (mut x0, mut y0, mut x1, mut y1) = (usize::MAX, usize::MAX, 0, 0);
    for (i, _) in mask.iter().enumerate().filter(|(_, v)| **v) {
        let (x, y) = (i % w, i / w);
        x0 = x0.min(x);
        y0 = y0.min(y);
        x1 = x1.max(x + 1);
        y1 = y1.max(y + 1);
    }
    (x0 != usize::MAX).then(|| (x0 as u32, y0 as u32, (x1 - x0) as u32, (y1 - y0) as u32))
}

/// IoU and pointing game pooled over images.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LocalisationSummary {
    /// Images scored.
    pub images: usize,
    /// Mean IoU over the images (an image whose mask and truth are both empty counts as 0;
    /// there are none when every truth is non-empty).
    pub iou_mean: f64,
    /// 95 % t-interval of the mean IoU (`None` for fewer than two images).
    pub iou_interval: Option<Interval>,
    /// Fraction of images whose heatmap maximum is inside the truth (a map that points nowhere
    /// is a miss).
    pub pointing_rate: f64,
    /// Images whose map pointed nowhere.
    pub pointed_nowhere: usize,
}

/// Pools per-image IoUs and pointing results ([`iou`], [`pointing_game`]).
pub fn summarise(ious: &[Option<f64>], hits: &[Option<bool>]) -> LocalisationSummary {
    let values: Vec<f64> = ious.iter().map(|v| v.unwrap_or(0.0)).collect();
    let (iou_mean, iou_interval) = mean_t_interval(&values, 0.95).unwrap_or((0.0, None));
    let n_hits = hits.iter().filter(|h| **h == Some(true)).count();
    LocalisationSummary {
        images: values.len(),
        iou_mean,
        iou_interval,
        pointing_rate: if hits.is_empty() { 0.0 } else { n_hits as f64 / hits.len() as f64 },
        pointed_nowhere: hits.iter().filter(|h| h.is_none()).count(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn img(w: u32, h: u32) -> ImageSize {
        ImageSize { width: w, height: h }
    }

    fn raw(rule: ThresholdRule) -> LocaliseSettings {
        LocaliseSettings { polarity: Polarity::Positive, smooth: 1, rule }
    }

    #[test]
    fn iou_of_hand_made_masks() {
        let im = img(4, 4);
        let a = box_mask(im, 0, 0, 2, 2); // 4 pixels
        let b = box_mask(im, 1, 1, 2, 2); // 4 pixels, overlap 1
        assert_eq!(iou(&a, &b).unwrap(), Some(1.0 / 7.0));
        assert_eq!(iou(&a, &a).unwrap(), Some(1.0));
        let c = box_mask(im, 2, 2, 2, 2);
        assert_eq!(iou(&a, &c).unwrap(), Some(0.0));
        assert_eq!(iou(&[false; 16], &[false; 16]).unwrap(), None);
        assert!(iou(&a, &[false; 3]).is_err());
    }

    #[test]
    fn pointing_game_on_a_hand_made_map() {
        let im = img(3, 2);
        let truth = box_mask(im, 2, 0, 1, 2); // right column
        let s = raw(ThresholdRule::FractionOfMax { fraction: 0.5 });
        // maximum at (2, 1): inside
        assert_eq!(pointing_game(&[0.1, 0.0, 0.2, 0.0, 0.3, 0.9], &truth, im, &s).unwrap(), Some(true));
        // maximum at (1, 1): outside
        assert_eq!(pointing_game(&[0.1, 0.0, 0.2, 0.0, 0.95, 0.9], &truth, im, &s).unwrap(), Some(false));
        // negative relevance does not point under Positive, does under Absolute
        let neg = [0.0, 0.0, -1.0, 0.0, 0.0, 0.0];
        assert_eq!(pointing_game(&neg, &truth, im, &s).unwrap(), None);
        let abs = LocaliseSettings { polarity: Polarity::Absolute, ..s };
        assert_eq!(pointing_game(&neg, &truth, im, &abs).unwrap(), Some(true));
        assert_eq!(pointing_game(&[0.0; 6], &truth, im, &s).unwrap(), None);
    }

    #[test]
    fn threshold_rules() {
        let im = img(4, 1);
        let heat = [1.0, 0.4, 0.6, -2.0];
        let frac = threshold_mask(&heat, im, &raw(ThresholdRule::FractionOfMax { fraction: 0.5 })).unwrap();
        assert_eq!(frac, vec![true, false, true, false]);
        let top = threshold_mask(&heat, im, &raw(ThresholdRule::TopFraction { fraction: 0.25 })).unwrap();
        assert_eq!(top, vec![true, false, false, false]);
        // Top 100 % never takes pixels without positive score.
        let all = threshold_mask(&heat, im, &raw(ThresholdRule::TopFraction { fraction: 1.0 })).unwrap();
        assert_eq!(all, vec![true, true, true, false]);
        assert_eq!(threshold_mask(&[0.0; 4], im, &LocaliseSettings::default()).unwrap(), vec![false; 4]);
        assert!(threshold_mask(&heat, im, &raw(ThresholdRule::TopFraction { fraction: 0.0 })).is_err());
        assert!(threshold_mask(&heat[..3], im, &LocaliseSettings::default()).is_err());
    }

    #[test]
    fn smoothing_turns_a_blob_into_the_mask_and_drops_a_lone_spike() {
        // 9×9 map: a 3×3 blob of 1 at (5..8, 5..8) and one spike of 2.5 at (1, 1).
        let im = img(9, 9);
        let mut heat = vec![0.0f32; 81];
        for y in 5..8 {
            for x in 5..8 {
                heat[y * 9 + x] = 1.0;
            }
        }
        heat[9 + 1] = 2.5;
        let truth = box_mask(im, 5, 5, 3, 3);
        let plain = raw(ThresholdRule::FractionOfMax { fraction: 0.5 });
        assert_eq!(pointing_game(&heat, &truth, im, &plain).unwrap(), Some(false));
        let smooth = LocaliseSettings { smooth: 3, ..plain };
        assert_eq!(pointing_game(&heat, &truth, im, &smooth).unwrap(), Some(true));
        let m = threshold_mask(&heat, im, &smooth).unwrap();
        assert!(m[6 * 9 + 6] && !m[9 + 1]);
    }

    #[test]
    fn random_boxes_are_seeded_and_inside() {
        let im = img(10, 8);
        let mut a = SplitMix64::new(3);
        let mut b = SplitMix64::new(3);
        for _ in 0..50 {
            let m = random_box_mask(im, 4, 3, &mut a).unwrap();
            assert_eq!(m, random_box_mask(im, 4, 3, &mut b).unwrap());
            assert_eq!(m.iter().filter(|v| **v).count(), 12);
            let (_, _, w, h) = bounding_box(&m, im).unwrap();
            assert_eq!((w, h), (4, 3));
        }
        assert!(random_box_mask(im, 11, 1, &mut a).is_err());
    }

    #[test]
    fn channel_sum_and_summary() {
        let im = img(2, 1);
        assert_eq!(channel_sum(&[1.0, 2.0, 3.0, -1.0, 0.5, 0.5], im).unwrap(), vec![4.5, 1.5]);
        assert!(channel_sum(&[1.0; 3], im).is_err());
        let s = summarise(&[Some(1.0), Some(0.0), None], &[Some(true), None, Some(false)]);
        assert_eq!(s.images, 3);
        assert!((s.iou_mean - 1.0 / 3.0).abs() < 1e-12);
        assert!((s.pointing_rate - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(s.pointed_nowhere, 1);
    }
}
