//! Synthetic cartoon faces: target = smiling, protected attribute = a necktie or a hat.
//!
//! A stand-in for the CelebA set-up of Sztukiewicz et al., XAI 2025, §4 (target *Smiling*,
//! protected attribute *Wearing_Necktie* or *Wearing_Hat*) whose region of interest is known
//! exactly: the protected attribute is only ever painted inside [`SyntheticConfig::roi`], so an
//! image with the attribute and the same image without it differ inside that box and nowhere
//! else ([`SyntheticConfig::generate_counterfactual`] renders either of the two for any face).
//!
//! Images are `3×H×W` planes in `[0, 1]` (CHW, row-major, x = column, origin top-left). Every
//! image is a pure function of `(seed, index)`: its labels come first from the item's
//! [`SplitMix64`] stream, then every appearance parameter is drawn whatever the labels are, so the
//! labels of a large pool can be listed cheaply ([`SyntheticConfig::labels`]) before any pixel is
//! drawn, and a batch does not depend on which other images it was generated with.
//!
//! This module is the public API: the settings, the errors, label listing, and batch generation
//! (split over threads natively). What a face looks like — its random parameters, drawn in a
//! fixed order, and how they are painted — is in `face`; the drawing machinery it paints with
//! (canvas, signed-distance shapes, row-span fill, anti-aliasing, noise) is in `raster`.

use biaslens_metrics::{ImageSize, Roi, RoiError};
use serde::{Deserialize, Serialize};

use crate::rng::SplitMix64;

mod face;
mod raster;

use face::FaceParams;
use raster::add_noise;

/// Which protected attribute the benchmark paints (and so which ROI preset applies).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ProtectedKind {
    /// A necktie under the chin (CelebA's `Wearing_Necktie`, the paper's main experiment).
    #[default]
    Necktie,
    /// A hat on top of the head (CelebA's `Wearing_Hat`, the paper's second experiment).
    Hat,
}

impl ProtectedKind {
    /// The CelebA attribute name this kind stands for.
    pub const fn celeba_name(self) -> &'static str {
        match self {
            Self::Necktie => "Wearing_Necktie",
            Self::Hat => "Wearing_Hat",
        }
    }

    /// Box of the attribute in normalised image coordinates `[x0, y0, x1, y1)`.
    const fn unit_box(self) -> [f64; 4] {
        match self {
            Self::Necktie => [0.39, 0.75, 0.61, 1.0],
            Self::Hat => [0.15, 0.03, 0.85, 0.35],
        }
    }
}

impl std::str::FromStr for ProtectedKind {
    type Err = SyntheticError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "necktie" | "tie" | "wearing_necktie" => Ok(Self::Necktie),
            "hat" | "wearing_hat" => Ok(Self::Hat),
            _ => Err(SyntheticError::UnknownKind(s.to_owned())),
        }
    }
}

/// Settings of the synthetic benchmark. Every image is a function of `(seed, index)` alone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SyntheticConfig {
    /// Side of the square images in pixels: 64 (the page's default), 128, or 218 (the paper's
    /// SquarePad-ed CelebA side). Anything from 16 up works.
    pub size: u32,
    /// Seed of the whole benchmark.
    pub seed: u64,
    /// Standard deviation of the additive pixel noise (triangular distribution, per channel).
    pub noise: f32,
    /// The protected attribute painted inside the ROI.
    pub attribute: ProtectedKind,
    /// Paint label-independent distractors (glasses, earrings, background patterns, shirt
    /// badges) so that the task is not trivially solved by one colour statistic.
    pub distractors: bool,
    /// Probability that an image is smiling (target = 1). Splits then undersample the cells.
    pub target_rate: f64,
    /// Probability that an image has the protected attribute.
    pub attribute_rate: f64,
    /// Probability, in `[0, 1]`, that a smiling face smiles with an open mouth (teeth visible;
    /// CelebA's `Mouth_Slightly_Open` in an export). Default 0.5. The draw is made for every
    /// smiling face whatever the rate, so changing the rate changes no other parameter of any
    /// face. Non-smiling faces never open their mouths.
    #[serde(skip_serializing_if = "is_default_open_mouth_rate")]
    pub open_mouth_rate: f64,
    /// How strongly the mouth shows the expression, in `[0, 1]`. Default 1: smiling mouths
    /// are wider than non-smiling ones (widths `rx·[0.45, 0.58]` against `rx·[0.30, 0.42]`, `rx`
    /// the head's half-width) and curve up, non-smiling ones are flat or sag, so smiling is
    /// plain to see. With `expression = e` every mouth's width moves towards the neutral
    /// `rx·0.435` (`neutral + e·(width − neutral)`) and the curve of a closed smile and the sag of
    /// a non-smiling mouth are scaled by `e`. An open mouth keeps its depth and teeth (only its
    /// width moves). At 0 the closed mouths of smiling and non-smiling faces have the same
    /// shape, and only open mouths (see [`open_mouth_rate`](SyntheticConfig::open_mouth_rate))
    /// show the target. No random draw depends on it.
    #[serde(skip_serializing_if = "is_default_expression")]
    pub expression: f64,
    /// Paint the protected attribute (default `true`). When `false` the attribute labels are
    /// drawn exactly as always but nothing is painted: a null benchmark where the label exists
    /// and the pixels do not, so a classifier cannot see it and both counterfactuals of a face
    /// ([`SyntheticConfig::generate_counterfactual`]) are the same image.
    #[serde(skip_serializing_if = "is_true")]
    pub paint_attribute: bool,
}

/// Default of [`SyntheticConfig::open_mouth_rate`]: half of the smiles are open.
const DEFAULT_OPEN_MOUTH_RATE: f64 = 0.5;
/// Default of [`SyntheticConfig::expression`]: the full expression.
const DEFAULT_EXPRESSION: f64 = 1.0;

// The settings added later are left out of serialised configs at their defaults, so a config,
// an export's `roi.json` or a report written at the defaults is byte for byte what it was
// before they existed (and what the committed fixtures hold).
fn is_default_open_mouth_rate(v: &f64) -> bool {
    *v == DEFAULT_OPEN_MOUTH_RATE
}

fn is_default_expression(v: &f64) -> bool {
    *v == DEFAULT_EXPRESSION
}

fn is_true(v: &bool) -> bool {
    *v
}

impl Default for SyntheticConfig {
    fn default() -> Self {
        Self {
            size: 64,
            seed: 0,
            noise: 0.03,
            attribute: ProtectedKind::Necktie,
            distractors: true,
            target_rate: 0.5,
            attribute_rate: 0.5,
            open_mouth_rate: DEFAULT_OPEN_MOUTH_RATE,
            expression: DEFAULT_EXPRESSION,
            paint_attribute: true,
        }
    }
}

/// Why a batch cannot be generated.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SyntheticError {
    /// Images too small to draw a face into.
    #[error("synthetic images must be at least 16×16 pixels, got {0}×{0}; use 64, 128 or 218")]
    TooSmall(u32),
    /// Images too large for the pixel buffer of one batch.
    #[error("synthetic images of {0}×{0} pixels are too large; use at most 4096")]
    TooLarge(u32),
    /// A label rate outside `[0, 1]`.
    #[error("the {name} must lie in [0, 1], got {value}")]
    Rate {
        /// Which rate.
        name: &'static str,
        /// The value given.
        value: f64,
    },
    /// A setting outside its allowed range.
    #[error("the synthetic setting `{field}` must lie in {allowed}, got {value}")]
    OutOfRange {
        /// The field of [`SyntheticConfig`].
        field: &'static str,
        /// The allowed range, as written in the message.
        allowed: &'static str,
        /// The value given.
        value: f64,
    },
    /// An attribute kind that is neither necktie nor hat.
    #[error("unknown protected attribute {0:?}; use \"necktie\" or \"hat\"")]
    UnknownKind(String),
    /// The ROI preset does not fit (cannot happen for valid sizes; kept for honesty).
    #[error(transparent)]
    Roi(#[from] RoiError),
}

/// A batch of images with their labels.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// Size of every image.
    pub image: ImageSize,
    /// `N×3×H×W` pixel values in `[0, 1]`.
    pub pixels: Vec<f32>,
    /// Target label per image: 1 = smiling.
    pub target: Vec<u8>,
    /// Protected attribute per image: 1 = wears the attribute (necktie or hat).
    pub attribute: Vec<u8>,
}

impl Batch {
    /// An empty batch of `image`-sized images.
    pub fn empty(image: ImageSize) -> Self {
        Self { image, pixels: Vec::new(), target: Vec::new(), attribute: Vec::new() }
    }
    /// Number of images.
    pub fn len(&self) -> usize {
        self.target.len()
    }
    /// Whether the batch holds no image.
    pub fn is_empty(&self) -> bool {
        self.target.is_empty()
    }
    /// The `3×H×W` planes of image `i`.
    ///
    /// # Panics
    /// If `i >= self.len()`.
    pub fn image_pixels(&self, i: usize) -> &[f32] {
        let n = 3 * self.image.pixels();
        &self.pixels[i * n..(i + 1) * n]
    }
}

/// Everything about one synthetic face except its pixels: the labels and the visible features
/// that CelebA also annotates (so an export can fill those columns truthfully).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaceTraits {
    /// Smiling (the target).
    pub smiling: bool,
    /// Wears the protected attribute (the kind of the config).
    pub attribute: bool,
    /// Smiles with an open mouth (teeth visible).
    pub mouth_open: bool,
    /// Hair: 0 bald, 1 black, 2 brown, 3 blond, 4 gray, 5 auburn.
    pub hair: u8,
    /// Hair reaches the shoulders.
    pub long_hair: bool,
    /// Wears eyeglasses (a distractor).
    pub eyeglasses: bool,
    /// Wears earrings (a distractor).
    pub earrings: bool,
    /// Light skin (CelebA's `Pale_Skin`).
    pub pale_skin: bool,
}

impl SyntheticConfig {
    /// The box that contains every protected attribute of this config's kind, in this config's
    /// image space: the ROI preset of the synthetic benchmark.
    ///
    /// # Errors
    /// [`SyntheticError::TooSmall`] / [`SyntheticError::TooLarge`] for unusable sizes.
    pub fn roi(&self) -> Result<Roi, SyntheticError> {
        self.roi_for(self.attribute)
    }

    /// The box that contains every necktie (whatever kind this config paints).
    ///
    /// # Errors
    /// As [`SyntheticConfig::roi`].
    pub fn necktie_roi(&self) -> Result<Roi, SyntheticError> {
        self.roi_for(ProtectedKind::Necktie)
    }

    /// The box that contains every hat (whatever kind this config paints).
    ///
    /// # Errors
    /// As [`SyntheticConfig::roi`].
    pub fn hat_roi(&self) -> Result<Roi, SyntheticError> {
        self.roi_for(ProtectedKind::Hat)
    }

    /// The ROI preset for `kind` at this config's size: the unit box rounded outwards to pixels.
    ///
    /// # Errors
    /// As [`SyntheticConfig::roi`].
    pub fn roi_for(&self, kind: ProtectedKind) -> Result<Roi, SyntheticError> {
        let s = f64::from(self.check()?);
        let [x0, y0, x1, y1] = kind.unit_box();
        let x = (x0 * s).floor() as u32;
        let y = (y0 * s).floor() as u32;
        let w = ((x1 * s).ceil() as u32).min(self.size) - x;
        let h = ((y1 * s).ceil() as u32).min(self.size) - y;
        Ok(Roi::new(x, y, w, h, ImageSize::square(self.size))?)
    }

    /// Size of every image.
    pub fn image_size(&self) -> ImageSize {
        ImageSize::square(self.size)
    }

    fn check(&self) -> Result<u32, SyntheticError> {
        if self.size < 16 {
            return Err(SyntheticError::TooSmall(self.size));
        }
        if self.size > 4096 {
            return Err(SyntheticError::TooLarge(self.size));
        }
        for (name, value) in [("target rate", self.target_rate), ("attribute rate", self.attribute_rate)] {
            if !(0.0..=1.0).contains(&value) {
                return Err(SyntheticError::Rate { name, value });
            }
        }
        for (field, value) in [("open_mouth_rate", self.open_mouth_rate), ("expression", self.expression)] {
            if !(0.0..=1.0).contains(&value) {
                return Err(SyntheticError::OutOfRange { field, allowed: "[0, 1]", value });
            }
        }
        Ok(self.size)
    }

    /// Labels `(target, attribute)` of image `index` without drawing it.
    pub fn label(&self, index: u64) -> (u8, u8) {
        let mut rng = SplitMix64::for_item(self.seed, index);
        let t = rng.bernoulli(self.target_rate);
        let a = rng.bernoulli(self.attribute_rate);
        (u8::from(t), u8::from(a))
    }

    /// Labels of images `first..first + count`: `(target, attribute)` vectors, cheap (no pixels).
    /// Use them to choose splits ([`crate::splits`]) before generating the chosen images.
    pub fn labels(&self, first: u64, count: usize) -> (Vec<u8>, Vec<u8>) {
        (first..first + count as u64).map(|i| self.label(i)).unzip()
    }

    /// The visible traits of image `index` (labels included).
    pub fn traits(&self, index: u64) -> FaceTraits {
        FaceParams::draw(self, index).traits
    }

    /// Images `first..first + count`.
    ///
    /// # Errors
    /// [`SyntheticError`] for an unusable size or label rate.
    pub fn generate(&self, first: u64, count: usize) -> Result<Batch, SyntheticError> {
        let indices: Vec<u64> = (first..first + count as u64).collect();
        self.generate_indices(&indices)
    }

    /// The images with the given indices, in that order (e.g. one batch of a split).
    ///
    /// # Errors
    /// [`SyntheticError`] for an unusable size or label rate.
    pub fn generate_indices(&self, indices: &[u64]) -> Result<Batch, SyntheticError> {
        self.render_batch(indices, None)
    }

    /// Counterfactuals: the faces of [`SyntheticConfig::generate_indices`] (same parameters,
    /// same noise) with the protected attribute forced on (`attribute = true`) or off (`false`)
    /// in every image, whatever the face's own label.
    ///
    /// This is the ground truth "the same face with and without the attribute": the two renders
    /// of one index differ only inside [`SyntheticConfig::roi`], and forcing the value a face
    /// already has gives exactly its [`SyntheticConfig::generate_indices`] image. The batch's
    /// `target` labels are the faces' own; its `attribute` labels are all the forced value.
    ///
    /// # Errors
    /// [`SyntheticError`] for an unusable size or label rate.
    pub fn generate_counterfactual(&self, indices: &[u64], attribute: bool) -> Result<Batch, SyntheticError> {
        self.render_batch(indices, Some(attribute))
    }

    /// The pixels the protected attribute paints in each face, as a row-major `size × size` mask:
    /// where the face rendered with the attribute ([`SyntheticConfig::generate_counterfactual`]
    /// with `true`) differs in any channel from the same face without it (`false`). Both renders
    /// share parameters and noise, so this is the attribute's own footprint, inside
    /// [`SyntheticConfig::roi`] and usually much smaller than it: the ground truth for finding
    /// the attribute in an image (`docs/METHODS.md#localise`).
    ///
    /// # Errors
    /// [`SyntheticError`] for an unusable size or label rate.
    pub fn attribute_masks(&self, indices: &[u64]) -> Result<Vec<Vec<bool>>, SyntheticError> {
        let with = self.generate_counterfactual(indices, true)?;
        let without = self.generate_counterfactual(indices, false)?;
        let plane = with.image.pixels();
        Ok((0..indices.len())
            .map(|i| {
                let (a, b) = (with.image_pixels(i), without.image_pixels(i));
                (0..plane).map(|p| (0..3).any(|c| a[c * plane + p] != b[c * plane + p])).collect()
            })
            .collect())
    }

    /// The images with the given indices, with the protected attribute of every face set to
    /// `forced` when given (its label and its pixels), split over threads natively.
    fn render_batch(&self, indices: &[u64], forced: Option<bool>) -> Result<Batch, SyntheticError> {
        let s = self.check()?;
        let roi = self.roi()?;
        let image = ImageSize::square(s);
        let plane = image.pixels();
        let mut pixels = vec![0.0f32; indices.len() * 3 * plane];
        let mut labels = vec![(0u8, 0u8); indices.len()];
        let draw = |out: &mut [f32], labels: &mut [(u8, u8)], indices: &[u64]| {
            for ((out, label), &index) in out.chunks_exact_mut(3 * plane).zip(labels).zip(indices) {
                let mut params = FaceParams::draw(self, index);
                if let Some(attribute) = forced {
                    params.traits.attribute = attribute;
                }
                params.render(out, s, &roi, self.attribute);
                add_noise(out, self.noise, SplitMix64::for_item(self.seed ^ NOISE_STREAM, index));
                *label = (u8::from(params.traits.smiling), u8::from(params.traits.attribute));
            }
        };
        // Natively, batches are split over the cores (each image is independent, so the bytes
        // do not depend on the split) once every thread gets at least MIN_PIXELS_PER_THREAD
        // pixels (a training batch of 128 images of 64×64 uses two threads; starting a thread
        // costs tens of µs against milliseconds of drawing); wasm32 has no threads.
        let threads = if cfg!(target_arch = "wasm32") {
            1
        } else {
            let by_work = (indices.len() * plane / MIN_PIXELS_PER_THREAD).max(1);
            std::thread::available_parallelism().map_or(1, |n| n.get().min(16).min(by_work))
        };
        if threads <= 1 {
            draw(&mut pixels, &mut labels, indices);
        } else {
            let per = indices.len().div_ceil(threads);
            std::thread::scope(|scope| {
                for ((out, lab), idx) in pixels.chunks_mut(per * 3 * plane).zip(labels.chunks_mut(per)).zip(indices.chunks(per)) {
                    scope.spawn(move || draw(out, lab, idx));
                }
            });
        }
        let (target, attribute) = labels.into_iter().unzip();
        Ok(Batch { image, pixels, target, attribute })
    }
}

/// Smallest share of a batch, in pixels, worth a thread of its own (64 images of 64×64).
const MIN_PIXELS_PER_THREAD: usize = 64 * 64 * 64;

/// Salt that separates an item's noise stream from its appearance stream.
const NOISE_STREAM: u64 = 0x6E6F_6973_6521_0001;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_masks_lie_in_the_roi_and_are_not_empty() {
        for attribute in [ProtectedKind::Necktie, ProtectedKind::Hat] {
            let cfg = SyntheticConfig { size: 48, attribute, ..SyntheticConfig::default() };
            let roi = cfg.roi().expect("roi");
            let masks = cfg.attribute_masks(&[0, 1, 2, 3]).expect("masks");
            for m in &masks {
                let inside = m.iter().filter(|v| **v).count();
                assert!(inside > 10, "{attribute:?}: only {inside} attribute pixels");
                for (p, _) in m.iter().enumerate().filter(|(_, v)| **v) {
                    let (x, y) = ((p % 48) as u32, (p / 48) as u32);
                    assert!(roi.contains(x, y));
                }
                assert!(inside < roi.w() as usize * roi.h() as usize);
            }
        }
    }

    #[test]
    fn same_seed_same_bytes_and_batch_independence() {
        let cfg = SyntheticConfig::default();
        let a = cfg.generate(0, 6).expect("valid config");
        let b = cfg.generate(0, 6).expect("valid config");
        assert_eq!(a, b);
        // Image 4 does not depend on which batch it was generated in.
        let c = cfg.generate(4, 2).expect("valid config");
        assert_eq!(a.image_pixels(4), c.image_pixels(0));
        assert_eq!(a.target[5], c.target[1]);
        let d = cfg.generate_indices(&[5, 1]).expect("valid config");
        assert_eq!(d.image_pixels(0), a.image_pixels(5));
        assert_eq!(d.image_pixels(1), a.image_pixels(1));
        // Another seed gives other images.
        let e = SyntheticConfig { seed: 1, ..cfg }.generate(0, 6).expect("valid config");
        assert_ne!(a.pixels, e.pixels);
    }

    #[test]
    fn labels_without_pixels_match_generated_labels() {
        for attribute in [ProtectedKind::Necktie, ProtectedKind::Hat] {
            let cfg = SyntheticConfig { attribute, target_rate: 0.3, attribute_rate: 0.7, ..SyntheticConfig::default() };
            let batch = cfg.generate(10, 30).expect("valid config");
            let (t, a) = cfg.labels(10, 30);
            assert_eq!(batch.target, t);
            assert_eq!(batch.attribute, a);
        }
    }

    #[test]
    fn roi_presets_scale_with_size() {
        let roi = SyntheticConfig::default().necktie_roi().expect("valid");
        assert_eq!((roi.x(), roi.y(), roi.w(), roi.h()), (24, 48, 16, 16));
        let hat = SyntheticConfig { size: 218, ..SyntheticConfig::default() }.hat_roi().expect("valid");
        assert_eq!((hat.x(), hat.y(), hat.w(), hat.h()), (32, 6, 154, 71));
    }

    #[test]
    fn bad_settings_are_errors() {
        let cfg = SyntheticConfig { size: 8, ..SyntheticConfig::default() };
        assert!(matches!(cfg.generate(0, 1), Err(SyntheticError::TooSmall(8))));
        let cfg = SyntheticConfig { target_rate: 1.5, ..SyntheticConfig::default() };
        assert!(matches!(cfg.generate(0, 1), Err(SyntheticError::Rate { .. })));
        assert!(matches!(cfg.generate_counterfactual(&[0], true), Err(SyntheticError::Rate { .. })));
        for (cfg, field, value) in [
            (SyntheticConfig { open_mouth_rate: 1.5, ..SyntheticConfig::default() }, "open_mouth_rate", 1.5),
            (SyntheticConfig { open_mouth_rate: -0.1, ..SyntheticConfig::default() }, "open_mouth_rate", -0.1),
            (SyntheticConfig { expression: 2.0, ..SyntheticConfig::default() }, "expression", 2.0),
            (SyntheticConfig { expression: -1.0, ..SyntheticConfig::default() }, "expression", -1.0),
        ] {
            let e = cfg.generate(0, 1).expect_err("out of range");
            assert_eq!(e, SyntheticError::OutOfRange { field, allowed: "[0, 1]", value });
            let message = e.to_string();
            assert!(message.contains(field) && message.contains("[0, 1]"), "{message}");
        }
        let nan = SyntheticConfig { expression: f64::NAN, ..SyntheticConfig::default() };
        assert!(matches!(nan.generate(0, 1), Err(SyntheticError::OutOfRange { field: "expression", .. })));
        assert_eq!("Hat".parse::<ProtectedKind>(), Ok(ProtectedKind::Hat));
        assert!("scarf".parse::<ProtectedKind>().is_err());
    }

    /// Whether two images hold the same bits (stricter than `==` on floats).
    fn same_bits(a: &[f32], b: &[f32]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
    }

    /// Forcing the attribute value a face already has gives exactly its `generate_indices`
    /// image, for every index of a batch large enough to be split over threads; the labels are
    /// the faces' own targets and the forced attribute.
    #[test]
    fn counterfactual_of_the_own_value_is_the_image() {
        for attribute in [ProtectedKind::Necktie, ProtectedKind::Hat] {
            let cfg = SyntheticConfig { attribute, ..SyntheticConfig::default() };
            let indices: Vec<u64> = (0..130).map(|i| 3 * i + 1).collect();
            let batch = cfg.generate_indices(&indices).expect("valid config");
            for value in [false, true] {
                let cf = cfg.generate_counterfactual(&indices, value).expect("valid config");
                assert_eq!(cf.len(), indices.len());
                assert_eq!(cf.image, batch.image);
                assert_eq!(cf.target, batch.target, "{attribute:?}: targets are the faces' own");
                assert!(cf.attribute.iter().all(|&a| a == u8::from(value)), "{attribute:?}: attribute labels are the forced {value}");
                let mut own = 0;
                for (i, &index) in indices.iter().enumerate() {
                    if batch.attribute[i] == u8::from(value) {
                        assert!(same_bits(cf.image_pixels(i), batch.image_pixels(i)), "{attribute:?}, image {index}, forced {value}");
                        own += 1;
                    }
                }
                assert!(own > 30, "{attribute:?}: only {own} faces have attribute {value}");
            }
        }
    }

    /// The two counterfactual renders of one face are equal outside the ROI, noise included,
    /// and differ inside it.
    #[test]
    fn counterfactual_pairs_differ_only_inside_the_roi() {
        for (attribute, size, count) in [(ProtectedKind::Necktie, 64u32, 40u64), (ProtectedKind::Hat, 64, 40), (ProtectedKind::Necktie, 48, 40), (ProtectedKind::Hat, 218, 4)] {
            let cfg = SyntheticConfig { attribute, size, ..SyntheticConfig::default() };
            assert!(cfg.noise > 0.0);
            let roi = cfg.roi().expect("valid size");
            let plane = cfg.image_size().pixels();
            let indices: Vec<u64> = (100..100 + count).collect();
            let with = cfg.generate_counterfactual(&indices, true).expect("valid config");
            let without = cfg.generate_counterfactual(&indices, false).expect("valid config");
            assert_eq!(with.target, without.target);
            for (i, &index) in indices.iter().enumerate() {
                let (a, b) = (with.image_pixels(i), without.image_pixels(i));
                let mut changed_inside = 0;
                for y in 0..size {
                    for x in 0..size {
                        let p = (y * size + x) as usize;
                        let same = (0..3).all(|c| a[c * plane + p].to_bits() == b[c * plane + p].to_bits());
                        if roi.contains(x, y) {
                            changed_inside += usize::from(!same);
                        } else {
                            assert!(same, "{attribute:?} at {size}: image {index} differs outside the ROI at ({x},{y})");
                        }
                    }
                }
                assert!(changed_inside * 10 >= (roi.w() * roi.h()) as usize, "{attribute:?} at {size}: image {index} changed only {changed_inside} pixels");
            }
        }
    }

    /// FNV-1a over the f32 bits of every pixel and the labels of a batch.
    fn batch_hash(b: &Batch) -> u64 {
        let mut h = 0xCBF2_9CE4_8422_2325u64;
        let bytes = b.pixels.iter().flat_map(|v| v.to_bits().to_le_bytes()).chain(b.target.iter().copied()).chain(b.attribute.iter().copied());
        for byte in bytes {
            h = (h ^ u64::from(byte)).wrapping_mul(0x100_0000_01B3);
        }
        h
    }

    /// [`batch_hash`] continued over the traits of images `first..first + n`.
    fn batch_and_traits_hash(cfg: &SyntheticConfig, first: u64, n: usize) -> u64 {
        let mut h = batch_hash(&cfg.generate(first, n).expect("valid config"));
        for i in first..first + n as u64 {
            let t = cfg.traits(i);
            for byte in [t.smiling, t.attribute, t.mouth_open, t.long_hair, t.eyeglasses, t.earrings, t.pale_skin].map(u8::from).into_iter().chain([t.hair]) {
                h = (h ^ u64::from(byte)).wrapping_mul(0x100_0000_01B3);
            }
        }
        h
    }

    /// Configs whose images and traits were pinned before `open_mouth_rate`, `expression` and
    /// `paint_attribute` existed.
    fn pre_settings_cases() -> [(SyntheticConfig, u64, usize); 4] {
        let base = SyntheticConfig::default();
        [
            (SyntheticConfig { size: 32, ..base.clone() }, 0, 64),
            (SyntheticConfig { size: 48, attribute: ProtectedKind::Hat, noise: 0.0, distractors: false, ..base.clone() }, 500, 64),
            (SyntheticConfig { attribute: ProtectedKind::Hat, seed: 3, ..base.clone() }, 0, 64),
            (SyntheticConfig { size: 32, target_rate: 0.8, attribute_rate: 0.3, seed: 77, ..base }, 1000, 64),
        ]
    }

    /// [`pre_settings_cases`] hashed by [`batch_and_traits_hash`] before the three settings
    /// were added.
    const PRE_SETTINGS: [u64; 4] = [12_370_018_575_518_707_392, 496_947_162_648_885_395, 9_598_167_646_399_829_314, 11_054_052_277_830_301_894];

    /// A config written before `open_mouth_rate`, `expression` and `paint_attribute` existed
    /// still parses, to their defaults; at their defaults a config serialises exactly as before;
    /// and images and traits with the defaults spelled out are those recorded before.
    #[test]
    fn new_settings_at_their_defaults_change_nothing() {
        let old = r#"{"size":64,"seed":0,"noise":0.03,"attribute":"necktie","distractors":true,"target_rate":0.5,"attribute_rate":0.5}"#;
        let parsed: SyntheticConfig = serde_json::from_str(old).expect("an old config parses");
        assert_eq!(parsed, SyntheticConfig::default());
        assert_eq!((parsed.open_mouth_rate, parsed.expression, parsed.paint_attribute), (0.5, 1.0, true));
        assert_eq!(serde_json::to_string(&parsed).expect("serialises"), old);
        // Other values are written and read back.
        let set = SyntheticConfig { open_mouth_rate: 0.0, expression: 0.25, paint_attribute: false, ..SyntheticConfig::default() };
        let json = serde_json::to_string(&set).expect("serialises");
        assert!(json.contains(r#""open_mouth_rate":0.0"#) && json.contains(r#""expression":0.25"#) && json.contains(r#""paint_attribute":false"#), "{json}");
        assert_eq!(serde_json::from_str::<SyntheticConfig>(&json).expect("parses"), set);

        let got: Vec<u64> = pre_settings_cases()
            .into_iter()
            .map(|(cfg, first, n)| {
                let cfg = SyntheticConfig { open_mouth_rate: 0.5, expression: 1.0, paint_attribute: true, ..cfg };
                batch_and_traits_hash(&cfg, first, n)
            })
            .collect();
        assert_eq!(got, PRE_SETTINGS);
    }

    /// `open_mouth_rate` decides how many smiles open and changes nothing else: a face whose
    /// mouth is open (or closed) under both rates is the same image under both.
    #[test]
    fn open_mouth_rate_changes_only_how_many_smiles_open() {
        let base = SyntheticConfig { noise: 0.05, ..SyntheticConfig::default() };
        let never = SyntheticConfig { open_mouth_rate: 0.0, ..base.clone() };
        let always = SyntheticConfig { open_mouth_rate: 1.0, ..base.clone() };
        let n = 300;
        let open = |cfg: &SyntheticConfig| (0..n).filter(|&i| cfg.traits(i).mouth_open).count();
        assert_eq!(open(&never), 0);
        let smiling = (0..n).filter(|&i| base.traits(i).smiling).count();
        assert_eq!(open(&always), smiling);
        let half = open(&base);
        assert!(half > smiling / 4 && half < smiling * 3 / 4, "{half} of {smiling} smiles open at the default rate");
        let images = |cfg: &SyntheticConfig| cfg.generate(0, n as usize).expect("valid config");
        let (b, z) = (images(&base), images(&never));
        assert_eq!((&b.target, &b.attribute), (&z.target, &z.attribute));
        for i in 0..n {
            let (tb, tz) = (base.traits(i), never.traits(i));
            assert_eq!(FaceTraits { mouth_open: false, ..tb }, tz, "image {i}: only the open mouth may change");
            let same = same_bits(b.image_pixels(i as usize), z.image_pixels(i as usize));
            assert_eq!(same, !tb.mouth_open, "image {i}: open under the default rate {}", tb.mouth_open);
        }
    }

    /// With `paint_attribute = false` the labels are those of the painted benchmark and no
    /// pixel shows the attribute: both counterfactuals of a face are its image.
    #[test]
    fn unpainted_attribute_is_a_null_benchmark() {
        for attribute in [ProtectedKind::Necktie, ProtectedKind::Hat] {
            let painted = SyntheticConfig { attribute, ..SyntheticConfig::default() };
            let null = SyntheticConfig { paint_attribute: false, ..painted.clone() };
            let indices: Vec<u64> = (0..60).collect();
            let image = null.generate_indices(&indices).expect("valid config");
            assert_eq!(image.attribute, painted.labels(0, 60).1);
            assert_eq!(image.target, painted.labels(0, 60).0);
            assert!(image.attribute.contains(&1));
            let with = null.generate_counterfactual(&indices, true).expect("valid config");
            let without = null.generate_counterfactual(&indices, false).expect("valid config");
            assert!(same_bits(&with.pixels, &without.pixels), "{attribute:?}");
            assert!(same_bits(&with.pixels, &image.pixels), "{attribute:?}");
            assert!(with.attribute.iter().all(|&a| a == 1) && without.attribute.iter().all(|&a| a == 0));
            // Painted, the faces without the attribute are unchanged and the others are not.
            let shown = painted.generate_indices(&indices).expect("valid config");
            for i in 0..indices.len() {
                let same = same_bits(shown.image_pixels(i), image.image_pixels(i));
                assert_eq!(same, shown.attribute[i] == 0, "{attribute:?}, image {i}");
            }
        }
    }

    /// The images are pinned bit for bit (hashes recorded before the rasteriser and the noise
    /// were made faster): speed-ups must not change the benchmark.
    #[test]
    fn images_are_pinned_bit_for_bit() {
        let base = SyntheticConfig::default();
        let cases = [
            (SyntheticConfig { ..base.clone() }, 0, 96, PINNED[0]),
            (SyntheticConfig { attribute: ProtectedKind::Hat, ..base.clone() }, 1000, 96, PINNED[1]),
            (SyntheticConfig { size: 128, noise: 0.05, seed: 9, ..base.clone() }, 0, 16, PINNED[2]),
            (SyntheticConfig { size: 218, attribute: ProtectedKind::Hat, distractors: false, noise: 0.0, ..base.clone() }, 7, 6, PINNED[3]),
            (SyntheticConfig { size: 218, ..base.clone() }, 50, 6, PINNED[4]),
            (SyntheticConfig { size: 17, attribute: ProtectedKind::Hat, ..base.clone() }, 0, 50, PINNED[5]),
        ];
        let got: Vec<u64> = cases.iter().map(|(cfg, first, n, _)| batch_hash(&cfg.generate(*first, *n).expect("valid config"))).collect();
        let want: Vec<u64> = cases.iter().map(|c| c.3).collect();
        assert_eq!(got, want, "{got:#x?}");
        // A batch large enough to be split over threads holds the same images.
        let big = base.generate(0, 160).expect("valid config");
        let small = base.generate(0, 96).expect("valid config");
        assert_eq!(big.pixels[..small.pixels.len()], small.pixels[..]);
    }
    const PINNED: [u64; 6] = [7_270_577_916_833_484_713, 17_112_468_592_227_164_358, 4_513_420_634_393_122_086, 8_104_251_125_435_610_429, 559_125_904_482_541_596, 1_962_083_750_329_234_519];
}
