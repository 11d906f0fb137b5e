//! The paper's saliency-in-region metrics: RRF, HRF, MRR, DET (one map) and ADR, DIF, RDDT
//! (vanilla vs debiased), per image, pooled, and per (protected attribute × target) group.
//!
//! Definitions: Sztukiewicz et al., XAI 2025, §3 (RRF eq. 1, ADR eq. 2, DIF eq. 3, RDDT eq. 4),
//! and the authors' `metrics.py` for HRF, MRR, DET and every detail the paper leaves open
//! (`docs/METHODS.md#metrics`):
//!
//! * **RRF** `Σ_R p / Σ_P p`; a map with no relevance gives 0 (the code divides by zero).
//! * **HRF** fraction of ROI pixels with `p > threshold` (code: 0.05 on the 0–0.5 scale).
//! * **MRR** ROI mean / mean outside the ROI (0/0 → 0, x/0 → +∞).
//! * **DET** per image `mean_R(p) − outside mean`; the code's outside mean divides the outside sum by
//!   all `H·W` pixels (setting [`DetOutside`]); pooled as a one-sided t-test.
//! * **ADR** `mean_R(v − d)`; **DIF** fraction of ROI pixels with `v − d > margin` (code: strict
//!   margin 1e-3; the paper's `d < v` is margin 0); **RDDT** one-sample one-sided t-test of the
//!   per-image `mean_R(v) − mean_R(d)` at `p < alpha` (0.01).
//! * **Identical maps**: the code sets ADR = DIF = 0 and RDDT's value to 0 where
//!   `np.allclose(debiased, vanilla)` (per batch); here the same test is made per image
//!   (setting [`IdenticalMaps`]), since batches are not a property of the data.
//!
//! Pooled values are mean ± population std (ddof = 0), as the code's `reduce()`.
//!
//! The region `R` is one box for all images ([`crate::Roi`], the paper's set-up) or, per image, a box or a
//! pixel mask ([`crate::Region`], [`per_image_metrics_each`]; `docs/METHODS.md#per-image-regions`):
//! every formula above only needs `R`'s pixels and their count, so it is the same for both.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::preprocess::{PreprocessSettings, preprocess_into};
use crate::region::Inside;
use crate::roi::RoiError;
use crate::stats::{BootstrapSettings, Interval, TTest, bootstrap, mean_std, ttest_greater};
use crate::MetricsError;

/// Which mean of the outside of the ROI DET subtracts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DetOutside {
    /// The code: the map with the ROI zeroed, averaged over all `H·W` pixels (biased towards 0).
    #[default]
    AllPixels,
    /// The outside sum over the number of outside pixels.
    OutsidePixels,
}

/// What to do where a debiased map equals the vanilla one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdenticalMaps {
    /// The code: if `allclose(debiased, vanilla)` (numpy defaults rtol 1e-5, atol 1e-8, on the
    /// preprocessed maps), ADR, DIF and RDDT's per-image value are 0.
    #[default]
    Zero,
    /// Always compute from the pixels.
    Compute,
}

/// Saliency-metric settings (defaults: the authors' code).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SaliencySettings {
    /// Channel reduction and per-image normalisation.
    pub preprocess: PreprocessSettings,
    /// HRF counts ROI pixels with `p > hrf_threshold` (code: 0.05, i.e. 10 % of the image maximum).
    pub hrf_threshold: f64,
    /// DIF counts ROI pixels with `v − d > dif_margin` (code: 1e-3; paper: 0).
    pub dif_margin: f64,
    /// Significance level of RDDT and DET (`p < alpha`; paper: 0.01).
    pub alpha: f64,
    /// DET's outside mean.
    pub det_outside: DetOutside,
    /// Identical-map rule.
    pub identical_maps: IdenticalMaps,
}

impl Default for SaliencySettings {
    fn default() -> Self {
        Self {
            preprocess: PreprocessSettings::default(),
            hrf_threshold: 0.05,
            dif_margin: 1e-3,
            alpha: 0.01,
            det_outside: DetOutside::AllPixels,
            identical_maps: IdenticalMaps::Zero,
        }
    }
}

/// Metrics of one preprocessed map and a region of interest.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MapMetrics {
    /// Rectangle Relevance Fraction.
    pub rrf: f64,
    /// High-Relevance Fraction.
    pub hrf: f64,
    /// Mean ROI / mean outside ratio.
    pub mrr: f64,
    /// DET's per-image difference (ROI mean − outside mean).
    pub det: f64,
}

/// Metrics of one image: each map alone, and the vanilla-vs-debiased differences.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ImageMetrics {
    /// Metrics of the vanilla model's map.
    pub vanilla: MapMetrics,
    /// Metrics of the debiased model's map.
    pub debiased: MapMetrics,
    /// Average Difference in Region, `mean_R(v − d)`; also RDDT's per-image value.
    pub adr: f64,
    /// Decreased Intensity Fraction.
    pub dif: f64,
}

/// Metrics of one preprocessed `H×W` map `p` (row-major, in `roi`'s image); `roi` is a box, a
/// mask or either ([`Inside`]).
///
/// # Shapes
/// `p`: `[H, W]` flattened, `H×W = roi.image().pixels()` (checked by the callers).
pub fn map_metrics<R: Inside + ?Sized>(p: &[f64], roi: &R, s: &SaliencySettings) -> MapMetrics {
    let hw = p.len();
    let total: f64 = p.iter().sum();
    let mut roi_sum = 0.0;
    let mut high = 0usize;
    for span in roi.spans() {
        for &v in &p[span] {
            roi_sum += v;
            high += usize::from(v > s.hrf_threshold);
        }
    }
    let n_roi = roi.pixels();
    let n_out = hw - n_roi;
    let roi_mean = roi_sum / n_roi as f64;
    let out_sum = total - roi_sum;
    let rrf = if total == 0.0 { 0.0 } else { roi_sum / total };
    let out_mean = if n_out == 0 { 0.0 } else { out_sum / n_out as f64 };
    let mrr = if out_mean != 0.0 {
        roi_mean / out_mean
    } else if roi_mean == 0.0 {
        0.0
    } else {
        f64::INFINITY.copysign(roi_mean)
    };
    let det_out = match s.det_outside {
        DetOutside::AllPixels => out_sum / hw as f64,
        DetOutside::OutsidePixels => out_mean,
    };
    MapMetrics { rrf, hrf: high as f64 / n_roi as f64, mrr, det: roi_mean - det_out }
}

/// `np.allclose(d, v)` with numpy's defaults: `|d − v| ≤ 1e-8 + 1e-5·|v|` everywhere.
fn allclose(d: &[f64], v: &[f64]) -> bool {
    d.iter().zip(v).all(|(&d, &v)| (d - v).abs() <= 1e-8 + 1e-5 * v.abs())
}

/// ADR and DIF of two preprocessed maps over `roi` (a box, a mask or either).
pub fn paired_metrics<R: Inside + ?Sized>(v: &[f64], d: &[f64], roi: &R, s: &SaliencySettings) -> (f64, f64) {
    if s.identical_maps == IdenticalMaps::Zero && allclose(d, v) {
        return (0.0, 0.0);
    }
    let mut diff_sum = 0.0;
    let mut decreased = 0usize;
    for span in roi.spans() {
        for (&a, &b) in v[span.clone()].iter().zip(&d[span]) {
            let diff = a - b;
            diff_sum += diff;
            decreased += usize::from(diff > s.dif_margin);
        }
    }
    let n = roi.pixels() as f64;
    (diff_sum / n, decreased as f64 / n)
}

/// Per-image metrics of `N` vanilla and `N` debiased attributions, one region for all images.
///
/// # Shapes
/// `vanilla`, `debiased`: `[N, C, H, W]` flattened (C order), `H×W` = `roi.image()`.
///
/// # Errors
/// [`MetricsError::Shape`] if the lengths differ or are not a multiple of `C·H·W`, or `C = 0`.
pub fn per_image_metrics<T: Copy + Into<f64>, R: Inside + ?Sized>(
    vanilla: &[T],
    debiased: &[T],
    channels: usize,
    roi: &R,
    s: &SaliencySettings,
) -> Result<Vec<ImageMetrics>, MetricsError> {
    check_shapes(vanilla, debiased, channels, roi.image())?;
    Ok(score(vanilla, debiased, channels, roi.image(), s, |_| roi))
}

/// Per-image metrics with a region per image: `regions[i]` (a box or a mask, in map pixels) is
/// image `i`'s region. With every region the same box, the result equals [`per_image_metrics`]
/// with that box, bit for bit.
///
/// # Shapes
/// `vanilla`, `debiased`: `[N, C, H, W]` flattened (C order); `regions`: `N`, each of image size
/// `H×W` (taken from `regions[0]`).
///
/// # Errors
/// [`MetricsError::Shape`] if the map lengths differ or do not fit `N` regions of `C·H·W`, or
/// `C = 0`; [`MetricsError::Roi`] ([`RoiError::RegionImage`]) naming the first region whose image
/// size differs from the first one's.
pub fn per_image_metrics_each<T: Copy + Into<f64>, R: Inside>(
    vanilla: &[T],
    debiased: &[T],
    channels: usize,
    regions: &[R],
    s: &SaliencySettings,
) -> Result<Vec<ImageMetrics>, MetricsError> {
    let Some(first) = regions.first() else {
        if vanilla.is_empty() && debiased.is_empty() {
            return Ok(Vec::new());
        }
        return Err(MetricsError::Shape(format!("{} vanilla values but no regions; give one region per image", vanilla.len())));
    };
    let image = first.image();
    if let Some((index, r)) = regions.iter().enumerate().find(|(_, r)| r.image() != image) {
        return Err(RoiError::RegionImage { index, expected: image, found: r.image() }.into());
    }
    check_shapes(vanilla, debiased, channels, image)?;
    let n = vanilla.len() / (channels * image.pixels());
    if n != regions.len() {
        return Err(MetricsError::Shape(format!("{n} images but {} regions; give one region per image, in the maps' order", regions.len())));
    }
    Ok(score(vanilla, debiased, channels, image, s, |i| &regions[i]))
}

fn check_shapes<T>(vanilla: &[T], debiased: &[T], channels: usize, image: crate::ImageSize) -> Result<(), MetricsError> {
    let per = channels * image.pixels();
    if channels == 0 || per == 0 || vanilla.len() != debiased.len() || !vanilla.len().is_multiple_of(per) {
        return Err(MetricsError::Shape(format!(
            "vanilla has {} values and debiased {}; both must be N×{channels}×{}×{} for the ROI's image",
            vanilla.len(),
            debiased.len(),
            image.height,
            image.width
        )));
    }
    Ok(())
}

/// Preprocesses each image's pair of maps and scores them in `region(i)`; shapes are checked.
fn score<'r, T: Copy + Into<f64>, R: Inside + ?Sized + 'r>(
    vanilla: &[T],
    debiased: &[T],
    channels: usize,
    image: crate::ImageSize,
    s: &SaliencySettings,
    region: impl Fn(usize) -> &'r R,
) -> Vec<ImageMetrics> {
    let hw = image.pixels();
    let per = channels * hw;
    let mut pv = vec![0.0; hw];
    let mut pd = vec![0.0; hw];
    vanilla
        .chunks_exact(per)
        .zip(debiased.chunks_exact(per))
        .enumerate()
        .map(|(i, (v, d))| {
            let roi = region(i);
            preprocess_into(v, channels, s.preprocess, &mut pv);
            preprocess_into(d, channels, s.preprocess, &mut pd);
            let (adr, dif) = paired_metrics(&pv, &pd, roi, s);
            ImageMetrics { vanilla: map_metrics(&pv, roi, s), debiased: map_metrics(&pd, roi, s), adr, dif }
        })
        .collect()
}

/// A pooled scalar metric: mean ± population std over images, and a bootstrap interval of the mean.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Mean over images.
    pub mean: f64,
    /// Population standard deviation (ddof = 0).
    pub std: f64,
    /// Percentile-bootstrap interval of the mean, if requested.
    pub ci: Option<Interval>,
}

/// A pooled test metric (RDDT, DET): the t-test and a bootstrap interval of the mean statistic.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TestSummary {
    /// The one-sided t-test and its decision.
    pub test: TTest,
    /// Percentile-bootstrap interval of the mean per-image statistic, if requested.
    pub ci: Option<Interval>,
}

/// Pooled saliency metrics over a set of images.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SaliencySummary {
    /// Number of images.
    pub n: usize,
    /// RRF of the vanilla maps.
    pub rrf_vanilla: Summary,
    /// RRF of the debiased maps (the paper's RRF).
    pub rrf: Summary,
    /// HRF of the vanilla maps.
    pub hrf_vanilla: Summary,
    /// HRF of the debiased maps.
    pub hrf: Summary,
    /// MRR of the vanilla maps.
    pub mrr_vanilla: Summary,
    /// MRR of the debiased maps.
    pub mrr: Summary,
    /// DET of the vanilla maps.
    pub det_vanilla: TestSummary,
    /// DET of the debiased maps.
    pub det: TestSummary,
    /// ADR.
    pub adr: Summary,
    /// DIF.
    pub dif: Summary,
    /// RDDT (t-test of the per-image ADR values).
    pub rddt: TestSummary,
}

/// One (protected attribute, target) cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct GroupKey {
    /// Protected attribute value (e.g. 1 = wearing a necktie).
    pub protected: i64,
    /// Target label (e.g. 1 = smiling).
    pub target: i64,
}

/// Pooled metrics of one group.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GroupSummary {
    /// The group.
    pub group: GroupKey,
    /// Its metrics.
    pub metrics: SaliencySummary,
}

/// Pooled and per-group saliency metrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SaliencyReport {
    /// Over all images (the paper's aggregation).
    pub pooled: SaliencySummary,
    /// Per (protected attribute, target) group, ordered by key; empty without group labels.
    pub groups: Vec<GroupSummary>,
}

type Field = fn(&ImageMetrics) -> f64;

fn summary(per: &[ImageMetrics], idx: &[usize], f: Field, boot: Option<&BootstrapSettings>) -> Summary {
    let values: Vec<f64> = idx.iter().map(|&i| f(&per[i])).collect();
    let (mean, std) = mean_std(&values).unwrap_or((f64::NAN, f64::NAN));
    let ci = boot.and_then(|b| {
        bootstrap(values.len(), b, |r| r.iter().map(|&k| values[k]).sum::<f64>() / r.len() as f64)
    });
    Summary { mean, std, ci }
}

fn test_summary(
    per: &[ImageMetrics],
    idx: &[usize],
    f: Field,
    alpha: f64,
    boot: Option<&BootstrapSettings>,
) -> TestSummary {
    let values: Vec<f64> = idx.iter().map(|&i| f(&per[i])).collect();
    let ci = boot.and_then(|b| {
        bootstrap(values.len(), b, |r| r.iter().map(|&k| values[k]).sum::<f64>() / r.len() as f64)
    });
    TestSummary { test: ttest_greater(&values, alpha), ci }
}

/// Pools per-image metrics of the images `idx` (mean ± std, t-tests, optional bootstrap intervals).
pub fn summarise(
    per: &[ImageMetrics],
    idx: &[usize],
    s: &SaliencySettings,
    boot: Option<&BootstrapSettings>,
) -> SaliencySummary {
    let a = s.alpha;
    SaliencySummary {
        n: idx.len(),
        rrf_vanilla: summary(per, idx, |m| m.vanilla.rrf, boot),
        rrf: summary(per, idx, |m| m.debiased.rrf, boot),
        hrf_vanilla: summary(per, idx, |m| m.vanilla.hrf, boot),
        hrf: summary(per, idx, |m| m.debiased.hrf, boot),
        mrr_vanilla: summary(per, idx, |m| m.vanilla.mrr, boot),
        mrr: summary(per, idx, |m| m.debiased.mrr, boot),
        det_vanilla: test_summary(per, idx, |m| m.vanilla.det, a, boot),
        det: test_summary(per, idx, |m| m.debiased.det, a, boot),
        adr: summary(per, idx, |m| m.adr, boot),
        dif: summary(per, idx, |m| m.dif, boot),
        rddt: test_summary(per, idx, |m| m.adr, a, boot),
    }
}

/// Pooled and, given `(protected, target)` labels per image, per-group saliency metrics.
///
/// # Errors
/// [`MetricsError::Shape`] if a label slice's length differs from the number of images.
pub fn saliency_report(
    per: &[ImageMetrics],
    groups: Option<(&[i64], &[i64])>,
    s: &SaliencySettings,
    boot: Option<&BootstrapSettings>,
) -> Result<SaliencyReport, MetricsError> {
    let all: Vec<usize> = (0..per.len()).collect();
    let pooled = summarise(per, &all, s, boot);
    let mut out = Vec::new();
    if let Some((pa, target)) = groups {
        if pa.len() != per.len() || target.len() != per.len() {
            return Err(MetricsError::Shape(format!(
                "{} images but {} protected-attribute and {} target labels",
                per.len(),
                pa.len(),
                target.len()
            )));
        }
        let mut cells: BTreeMap<GroupKey, Vec<usize>> = BTreeMap::new();
        for (i, (&p, &t)) in pa.iter().zip(target).enumerate() {
            cells.entry(GroupKey { protected: p, target: t }).or_default().push(i);
        }
        for (group, idx) in cells {
            out.push(GroupSummary { group, metrics: summarise(per, &idx, s, boot) });
        }
    }
    Ok(SaliencyReport { pooled, groups: out })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::roi::{ImageSize, Roi};

    fn raw() -> SaliencySettings {
        SaliencySettings {
            preprocess: PreprocessSettings {
                channel_reduction: crate::ChannelReduction::SignedSum,
                normalisation: crate::Normalisation::None,
            },
            ..SaliencySettings::default()
        }
    }

    #[test]
    fn hand_worked_map_metrics() {
        // 4×2 image, ROI = columns 0..2 of row 0.
        let roi = Roi::new(0, 0, 2, 1, ImageSize { width: 4, height: 2 }).expect("valid roi");
        let p = [0.4, 0.2, 0.1, 0.1, 0.0, 0.0, 0.1, 0.1];
        let m = map_metrics(&p, &roi, &SaliencySettings::default());
        assert!((m.rrf - 0.6).abs() < 1e-12);
        assert_eq!(m.hrf, 1.0);
        // ROI mean 0.3; outside mean 0.4/6; DET (code) = 0.3 − 0.4/8 = 0.25.
        assert!((m.mrr - 0.3 / (0.4 / 6.0)).abs() < 1e-12);
        assert!((m.det - 0.25).abs() < 1e-12);
        let s = SaliencySettings { det_outside: DetOutside::OutsidePixels, ..SaliencySettings::default() };
        assert!((map_metrics(&p, &roi, &s).det - (0.3 - 0.4 / 6.0)).abs() < 1e-12);
    }

    #[test]
    fn hand_worked_paired_metrics_and_margin() {
        let roi = Roi::new(0, 0, 2, 2, ImageSize::square(2)).expect("valid roi");
        let v = [0.5, 0.3, 0.1, 0.2];
        let d = [0.1, 0.3, 0.1005, 0.4];
        let (adr, dif) = paired_metrics(&v, &d, &roi, &raw());
        assert!((adr - (0.4 + 0.0 - 0.0005 - 0.2) / 4.0).abs() < 1e-12);
        assert_eq!(dif, 0.25);
        // Paper's DIF (margin 0) counts every decrease; the tie at 0.3 still does not count.
        let paper = SaliencySettings { dif_margin: 0.0, ..raw() };
        assert_eq!(paired_metrics(&v, &[0.1, 0.3, 0.0995, 0.4], &roi, &paper).1, 0.5);
    }

    #[test]
    fn identical_maps_give_zero_and_no_rddt() {
        let roi = Roi::new(0, 0, 1, 1, ImageSize::square(2)).expect("valid roi");
        let maps: Vec<f32> = vec![1.0, -2.0, 3.0, 4.0, 0.5, 0.5, -1.0, 2.0];
        let s = SaliencySettings::default();
        let per = per_image_metrics(&maps, &maps, 1, &roi, &s).expect("shapes match");
        assert!(per.iter().all(|m| m.adr == 0.0 && m.dif == 0.0));
        let r = saliency_report(&per, None, &s, None).expect("no groups");
        assert!(!r.pooled.rddt.test.significant);
        assert_eq!(r.pooled.rddt.test.p, None);
    }

    #[test]
    fn per_image_regions_score_each_image_in_its_own_region() {
        use crate::region::{Mask, Region};
        let image = ImageSize { width: 5, height: 3 };
        let v: Vec<f32> = (0..4 * 15).map(|i| ((i * 7) % 11) as f32 - 4.0).collect();
        let d: Vec<f32> = (0..4 * 15).map(|i| ((i * 5) % 13) as f32 - 6.0).collect();
        let s = SaliencySettings::default();
        let boxes = [(0, 0, 2, 2), (3, 1, 2, 2), (1, 0, 1, 3), (0, 2, 5, 1)].map(|(x, y, w, h)| Roi::new(x, y, w, h, image).expect("fits"));
        // The default, one box for all, is unchanged when given per image or as masks: bit for bit.
        let shared = per_image_metrics(&v, &d, 1, &boxes[1], &s).expect("shapes match");
        assert_eq!(per_image_metrics_each(&v, &d, 1, &vec![Region::Box(boxes[1]); 4], &s).expect("shapes match"), shared);
        let as_masks: Vec<Region> = (0..4).map(|_| Region::Mask(Mask::from_roi(&boxes[1]))).collect();
        assert_eq!(per_image_metrics_each(&v, &d, 1, &as_masks, &s).expect("shapes match"), shared);
        // Image i in region i equals image i alone in that region.
        let each = per_image_metrics_each(&v, &d, 1, &boxes, &s).expect("shapes match");
        for (i, roi) in boxes.iter().enumerate() {
            let alone = per_image_metrics(&v[i * 15..][..15], &d[i * 15..][..15], 1, roi, &s).expect("shapes match");
            assert_eq!(each[i], alone[0], "image {i}");
        }
        assert_ne!(each[0], shared[0], "a different region changes the numbers");
        // An L-shaped mask: RRF is its share of the map, by hand.
        let mut inside = vec![false; 15];
        for i in [0, 5, 10, 11] {
            inside[i] = true;
        }
        let l = Mask::new(image, inside).expect("four pixels");
        let raw = SaliencySettings { identical_maps: IdenticalMaps::Compute, ..raw() };
        let p: Vec<f64> = (1..=15).map(f64::from).collect();
        let m = map_metrics(&p, &l, &raw);
        assert!((m.rrf - (1.0 + 6.0 + 11.0 + 12.0) / 120.0).abs() < 1e-15, "{}", m.rrf);
        assert!((m.mrr - (30.0 / 4.0) / (90.0 / 11.0)).abs() < 1e-15, "{}", m.mrr);
        // Refusals: one region short, and a region of another image size.
        let e = per_image_metrics_each(&v, &d, 1, &boxes[..3], &s).expect_err("3 regions for 4 images");
        assert!(e.to_string().contains("4 images but 3 regions"), "{e}");
        let other = Roi::new(0, 0, 1, 1, ImageSize::square(5)).expect("fits");
        let e = per_image_metrics_each(&v, &d, 1, &[boxes[0], boxes[1], other, boxes[3]], &s).expect_err("5×5 region");
        assert!(e.to_string().contains("region of image 2 belongs to a 5×5 (W×H) image but the maps are 5×3 (W×H)"), "{e}");
    }

    #[test]
    fn groups_split_images_by_cell() {
        let roi = Roi::new(0, 0, 1, 1, ImageSize::square(2)).expect("valid roi");
        let v: Vec<f32> = (0..24).map(|i| (i % 5) as f32 + 1.0).collect();
        let d: Vec<f32> = (0..24).map(|i| (i % 3) as f32).collect();
        let s = SaliencySettings::default();
        let per = per_image_metrics(&v, &d, 1, &roi, &s).expect("shapes match");
        let pa = [0, 1, 0, 1, 1, 1];
        let t = [0, 0, 1, 1, 1, 1];
        let r = saliency_report(&per, Some((&pa, &t)), &s, None).expect("labels match");
        let sizes: Vec<(i64, i64, usize)> = r.groups.iter().map(|g| (g.group.protected, g.group.target, g.metrics.n)).collect();
        assert_eq!(sizes, vec![(0, 0, 1), (0, 1, 1), (1, 0, 1), (1, 1, 3)]);
        assert!(saliency_report(&per, Some((&pa[..5], &t)), &s, None).is_err());
        assert!(per_image_metrics(&v[..23], &d[..23], 1, &roi, &s).is_err());
    }
}
