//! Plant a known artifact in a user's own photos, so the protected attribute's region is known per
//! image and a counterfactual (the same photo without the artifact) exists
//! (`docs/METHODS.md#planting`).
//!
//! The saliency metrics of Sztukiewicz et al. (XAI 2025, §3) need the protected attribute's region,
//! and the ground-truth reliance (`docs/METHODS.md#reliance`) needs each image with and without the
//! attribute, nothing else changed; real photos have neither. Here a synthetic artifact (a coloured
//! patch or a sticker: a disc or a star) becomes the protected attribute:
//!
//! 1. **Which images.** The planted indicator `A` is chosen so that its φ with the target `T` (the
//!    same signed Yule's φ of two binary variables as the splits, [`CellCounts::phi`],
//!    `docs/METHODS.md#splits`) is the requested one, at the requested attribute rate `q`: with the
//!    target rate `p` fixed by the labels, `P(T=1, A=1) = p·q + φ·√(p(1−p)q(1−q))`; the four cell
//!    counts are these fractions of `n` rounded, and the planted images of each target class are
//!    a seeded uniform subset (partial Fisher–Yates, as the splits draw). A φ whose cells would be
//!    negative or larger than the class is refused with the reachable range. The achieved φ of the
//!    rounded counts is reported.
//! 2. **Where.** Every image (planted or not) gets a box: a square whose side is `size` times the
//!    image's shorter side, at a fixed position or uniformly at random inside a region, from
//!    `(seed, image index)` alone, so the unplanted images' boxes say where the artifact would be
//!    (the counterfactual "with" image, and the saliency region, as the synthetic benchmark has a
//!    box for faces without a tie).
//! 3. **What.** The artifact is drawn into the box and nowhere else (pixels outside the box are
//!    never touched); a disc or a star leaves the box's corners as they were.
//!
//! Boxes are in the original image's pixels (`x0,y0,x1,y1`, half-open), the format
//! [`crate::parse_box_csv`] reads; the run maps them to model pixels as it maps the images.

use serde::{Deserialize, Serialize};

use crate::regions::PixelBox;
use crate::rng::SplitMix64;
use crate::splits::CellCounts;

/// The shape of a sticker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StickerShape {
    /// A filled disc inscribed in the box.
    Disc,
    /// A filled five-pointed star inscribed in the box (outer radius half the side, inner radius
    /// 0.38 of the outer one, one point up).
    Star,
}

/// What is pasted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ArtifactKind {
    /// The whole box filled with one colour.
    Patch {
        /// RGB colour.
        colour: [u8; 3],
    },
    /// A shape inscribed in the box, one colour; the pixels whose centre lies in the shape are
    /// painted, the others keep the photo.
    Sticker {
        /// Disc or star.
        shape: StickerShape,
        /// RGB colour.
        colour: [u8; 3],
    },
}

impl ArtifactKind {
    /// Its name in words and on the command line: `patch`, `disc` or `star`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Patch { .. } => "patch",
            Self::Sticker { shape: StickerShape::Disc, .. } => "disc",
            Self::Sticker { shape: StickerShape::Star, .. } => "star",
        }
    }
}

impl Default for ArtifactKind {
    fn default() -> Self {
        Self::Patch { colour: [255, 0, 255] }
    }
}

/// Where the box goes. Fractions are of the image's width (x) and height (y).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Placement {
    /// The same relative place in every image: the box's left edge at `x·(W − side)` and top edge
    /// at `y·(H − side)` (rounded down), so `0, 0` is the top-left corner and `1, 1` the
    /// bottom-right one.
    Fixed {
        /// In `[0, 1]`.
        x: f64,
        /// In `[0, 1]`.
        y: f64,
    },
    /// Anywhere inside the region `x0..x1 × y0..y1` (fractions), uniformly per image.
    Random {
        /// Left edge of the region.
        x0: f64,
        /// Top edge of the region.
        y0: f64,
        /// Right edge of the region.
        x1: f64,
        /// Bottom edge of the region.
        y1: f64,
    },
}

impl Default for Placement {
    /// Anywhere in the image.
    fn default() -> Self {
        Self::Random { x0: 0.0, y0: 0.0, x1: 1.0, y1: 1.0 }
    }
}

/// How to plant an artifact (`docs/METHODS.md#planting`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PlantConfig {
    /// What is pasted. Default: a magenta patch.
    pub kind: ArtifactKind,
    /// The box's side as a fraction of the image's shorter side, in `(0, 1]`. Default 0.15.
    pub size: f64,
    /// Where the box goes. Default: anywhere in the image, per image at random.
    pub placement: Placement,
    /// The signed φ between the target and the planted indicator, in `[-1, 1]`. Default −0.9
    /// (the artifact goes with target 0, as the paper's strongest training correlation).
    pub phi: f64,
    /// The fraction of images planted, in `(0, 1)`. Default 0.5 (as the splits' default
    /// attribute rate), which reaches every φ when the target is balanced.
    pub attribute_rate: f64,
    /// Seed of every random choice (which images, where). Default 0.
    pub seed: u64,
}

impl Default for PlantConfig {
    fn default() -> Self {
        Self { kind: ArtifactKind::default(), size: 0.15, placement: Placement::default(), phi: -0.9, attribute_rate: 0.5, seed: 0 }
    }
}

/// Why a plant could not be made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlantError {
    /// A setting out of range (names the field).
    #[error("plant setting {field}: {message}")]
    Setting {
        /// The field.
        field: &'static str,
        /// What is wrong and what to do.
        message: String,
    },
    /// The labels cannot give the requested φ at the requested attribute rate.
    #[error(
        "φ = {phi} cannot be reached with {n} images ({positives} with target 1) and {planted_rate:.0}% of them planted; this data reaches φ from {lo:.3} to {hi:.3} at that rate (change --phi, or --attribute-rate)",
        planted_rate = attribute_rate * 100.0
    )]
    Unreachable {
        /// The requested φ.
        phi: f64,
        /// The requested attribute rate.
        attribute_rate: f64,
        /// Images.
        n: usize,
        /// Images with target 1.
        positives: usize,
        /// Lowest reachable φ.
        lo: f64,
        /// Highest reachable φ.
        hi: f64,
    },
    /// An image the artifact cannot be drawn on.
    #[error("image {image}: {message}")]
    Image {
        /// The image.
        image: String,
        /// What is wrong.
        message: String,
    },
}

impl PlantConfig {
    /// Refuses settings out of range, naming the field.
    ///
    /// # Errors
    /// [`PlantError::Setting`].
    pub fn check(&self) -> Result<(), PlantError> {
        let bad = |field, message: String| Err(PlantError::Setting { field, message });
        if !(self.size > 0.0 && self.size <= 1.0) {
            return bad("size", format!("{} is not in (0, 1]; it is the artifact's side as a fraction of the image's shorter side (0.15 = 15%)", self.size));
        }
        if !(-1.0..=1.0).contains(&self.phi) {
            return bad("phi", format!("{} is not in [-1, 1]", self.phi));
        }
        if !(self.attribute_rate > 0.0 && self.attribute_rate < 1.0) {
            return bad("attribute_rate", format!("{} is not in (0, 1); it is the fraction of images planted", self.attribute_rate));
        }
        let unit = |v: f64| (0.0..=1.0).contains(&v);
        match self.placement {
            Placement::Fixed { x, y } if !(unit(x) && unit(y)) => bad("placement", format!("x = {x}, y = {y}; both must be in [0, 1] (0 = left/top, 1 = right/bottom)")),
            Placement::Random { x0, y0, x1, y1 } if !(unit(x0) && unit(y0) && unit(x1) && unit(y1) && x0 < x1 && y0 < y1) => {
                bad("placement", format!("the region x {x0}..{x1}, y {y0}..{y1} must lie in [0, 1] with x0 < x1 and y0 < y1"))
            }
            _ => Ok(()),
        }
    }
}

/// Which images are planted, and the correlation achieved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Choice {
    /// Per image: 1 where the artifact is planted.
    pub planted: Vec<u8>,
    /// The (target, planted) cell counts.
    pub counts: CellCounts,
    /// The φ the counts give (`None` when nothing or everything is planted).
    pub phi: Option<f64>,
}

/// Chooses the planted images for `config.phi` at `config.attribute_rate` (step 1 of the module
/// header): cell counts from the φ formula, rounded; each target class's planted images a seeded
/// uniform subset.
///
/// # Errors
/// [`PlantError::Setting`] for a bad setting or a single target class, [`PlantError::Unreachable`]
/// for a φ the labels cannot give at that rate.
pub fn choose(target: &[u8], config: &PlantConfig) -> Result<Choice, PlantError> {
    config.check()?;
    let n = target.len();
    let positives = target.iter().filter(|&&t| t != 0).count();
    if positives == 0 || positives == n {
        return Err(PlantError::Setting { field: "phi", message: format!("all {n} images have target {}; φ needs both classes", u8::from(positives > 0)) });
    }
    let (nf, p, q) = (n as f64, positives as f64 / n as f64, config.attribute_rate);
    let s = (p * (1.0 - p) * q * (1.0 - q)).sqrt();
    // P(T=1, A=1) = p·q + φ·s must lie in [max(0, q − (1 − p)), min(p, q)].
    let (lo11, hi11) = ((q - (1.0 - p)).max(0.0), p.min(q));
    let (lo, hi) = ((lo11 - p * q) / s, (hi11 - p * q) / s);
    let unreachable = || PlantError::Unreachable { phi: config.phi, attribute_rate: q, n, positives, lo, hi };
    let p11 = p * q + config.phi * s;
    if p11 < lo11 - 1e-9 || p11 > hi11 + 1e-9 {
        return Err(unreachable());
    }
    let planted_total = (q * nf).round() as usize;
    if planted_total == 0 || planted_total == n {
        return Err(PlantError::Setting {
            field: "attribute_rate",
            message: format!("{q} of {n} images plants {planted_total}; φ needs images with and without the artifact (use more images or a rate nearer 0.5)"),
        });
    }
    let n11 = ((p11 * nf).round() as usize).min(positives).min(planted_total);
    let n01 = planted_total - n11;
    if n01 > n - positives {
        return Err(unreachable());
    }
    let mut rng = SplitMix64::new(config.seed);
    let mut planted = vec![0u8; n];
    for (class, k) in [(1u8, n11), (0u8, n01)] {
        let mut rows: Vec<usize> = (0..n).filter(|&i| u8::from(target[i] != 0) == class).collect();
        for i in 0..k {
            let j = i + rng.below(rows.len() - i);
            rows.swap(i, j);
            planted[rows[i]] = 1;
        }
    }
    let all: Vec<usize> = (0..n).collect();
    let binary: Vec<u8> = target.iter().map(|&t| u8::from(t != 0)).collect();
    let counts = CellCounts::of(&binary, &planted, &all);
    Ok(Choice { planted, phi: counts.phi(), counts })
}

/// The artifact's box on an image of `width × height` (step 2): from `(config.seed, index)`
/// alone, so the same image gets the same box whether planted or not.
///
/// # Errors
/// [`PlantError::Setting`] for a bad setting; a message when the box does not fit (a random
/// region narrower than the box).
pub fn artifact_box(width: u32, height: u32, index: u64, config: &PlantConfig) -> Result<PixelBox, String> {
    config.check().map_err(|e| e.to_string())?;
    if width == 0 || height == 0 {
        return Err(format!("the image is {width}×{height}; it has no pixels"));
    }
    let side = ((config.size * f64::from(width.min(height))).round() as u32).clamp(1, width.min(height));
    let (x0, y0) = match config.placement {
        Placement::Fixed { x, y } => ((x * f64::from(width - side)).floor() as u32, (y * f64::from(height - side)).floor() as u32),
        Placement::Random { x0, y0, x1, y1 } => {
            // The box's top-left corner ranges over the region's pixels that keep the box inside it.
            let span = |a: f64, b: f64, len: u32, axis: &str| -> Result<(u32, u32), String> {
                let first = (a * f64::from(len)).ceil() as u32;
                let end = (b * f64::from(len)).floor() as u32;
                if end < first + side {
                    return Err(format!(
                        "the placement region spans {} pixels along {axis} but the artifact is {side} pixels wide; widen the region or make the artifact smaller",
                        end.saturating_sub(first)
                    ));
                }
                Ok((first, end - side))
            };
            let (xa, xb) = span(x0, x1, width, "x")?;
            let (ya, yb) = span(y0, y1, height, "y")?;
            let mut rng = SplitMix64::for_item(config.seed ^ 0x706c_616e_7421, index);
            let x = xa + rng.below((xb - xa + 1) as usize) as u32;
            let y = ya + rng.below((yb - ya + 1) as usize) as u32;
            (x, y)
        }
    };
    Ok(PixelBox { x0, y0, x1: x0 + side, y1: y0 + side })
}

/// Whether the pixel whose centre is `(u, v)` (box-relative, in units of the side, `0..1`) lies
/// inside the shape.
fn in_shape(kind: &ArtifactKind, u: f64, v: f64) -> bool {
    let (dx, dy) = (u - 0.5, v - 0.5);
    match kind {
        ArtifactKind::Patch { .. } => true,
        ArtifactKind::Sticker { shape: StickerShape::Disc, .. } => dx * dx + dy * dy <= 0.25,
        ArtifactKind::Sticker { shape: StickerShape::Star, .. } => {
            // Even-odd point-in-polygon test against the ten vertices of the star.
            let vertex = |k: usize| {
                let r = if k.is_multiple_of(2) { 0.5 } else { 0.19 };
                let a = -std::f64::consts::FRAC_PI_2 + k as f64 * std::f64::consts::PI / 5.0;
                (r * a.cos(), r * a.sin())
            };
            let mut inside = false;
            for k in 0..10 {
                let ((xi, yi), (xj, yj)) = (vertex(k), vertex((k + 9) % 10));
                if (yi > dy) != (yj > dy) && dx < (xj - xi) * (dy - yi) / (yj - yi) + xi {
                    inside = !inside;
                }
            }
            inside
        }
    }
}

/// Draws the artifact into `b` of `img` (step 3): only pixels inside the box change.
///
/// # Errors
/// A message when the box reaches outside the image.
pub fn draw(img: &mut image::RgbImage, b: PixelBox, kind: &ArtifactKind) -> Result<(), String> {
    paint(img.width(), img.height(), b, kind, |x, y, colour| img.put_pixel(x, y, image::Rgb(colour)))
}

/// Calls `put(x, y, colour)` for every pixel of a `width`×`height` image that the artifact
/// covers in `b` (those whose centre lies in the shape inscribed in the box): what [`draw`] and
/// [`draw_pixels`] paint.
fn paint(width: u32, height: u32, b: PixelBox, kind: &ArtifactKind, mut put: impl FnMut(u32, u32, [u8; 3])) -> Result<(), String> {
    if b.x1 > width || b.y1 > height || b.x1 <= b.x0 || b.y1 <= b.y0 {
        return Err(format!("the box {b} does not fit the {width}×{height} image"));
    }
    let colour = match kind {
        ArtifactKind::Patch { colour } | ArtifactKind::Sticker { colour, .. } => *colour,
    };
    let (w, h) = (f64::from(b.x1 - b.x0), f64::from(b.y1 - b.y0));
    for y in b.y0..b.y1 {
        for x in b.x0..b.x1 {
            let (u, v) = ((f64::from(x - b.x0) + 0.5) / w, (f64::from(y - b.y0) + 0.5) / h);
            if in_shape(kind, u, v) {
                put(x, y, colour);
            }
        }
    }
    Ok(())
}

/// Draws the artifact into `b` of one image given as model pixels (`[3, H, W]` values in
/// `[0, 1]`, row-major, as [`crate::Batch`] holds them): the same pixels [`draw`] paints, in the
/// colour divided by 255. For experiments on generated images (the synthetic faces) that never
/// go through PNG files; `biaslens plant` uses [`draw`].
///
/// # Errors
/// A message when `pixels` is not `3·W·H` values or the box reaches outside the image.
pub fn draw_pixels(pixels: &mut [f32], width: u32, height: u32, b: PixelBox, kind: &ArtifactKind) -> Result<(), String> {
    let plane = width as usize * height as usize;
    if pixels.len() != 3 * plane {
        return Err(format!("{} values are not a 3×{height}×{width} image", pixels.len()));
    }
    paint(width, height, b, kind, |x, y, colour| {
        let at = y as usize * width as usize + x as usize;
        for (c, &value) in colour.iter().enumerate() {
            pixels[c * plane + at] = f32::from(value) / 255.0;
        }
    })
}

/// One image with its artifact's box: the photo without (`clean`) and with (`with`) the artifact,
/// both as PNG, at the original size.
#[derive(Debug, Clone, PartialEq)]
pub struct PlantedPair {
    /// The artifact's box, original pixels.
    pub bbox: PixelBox,
    /// The photo, decoded and re-encoded losslessly (PNG), without the artifact.
    pub clean: Vec<u8>,
    /// The same photo with the artifact drawn into `bbox`.
    pub with: Vec<u8>,
}

fn png(img: &image::RgbImage) -> Result<Vec<u8>, String> {
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).map_err(|e| format!("encoding the PNG: {e}"))?;
    Ok(out.into_inner())
}

/// The clean and the planted version of the photo `bytes` (JPEG or PNG; image number `index` of
/// the list, which with the seed fixes the box).
///
/// # Errors
/// [`PlantError::Image`] naming `name` for bytes that do not decode or a box that does not fit.
pub fn plant_pair(bytes: &[u8], name: &str, index: u64, config: &PlantConfig) -> Result<PlantedPair, PlantError> {
    let fail = |message: String| PlantError::Image { image: name.to_owned(), message };
    let clean = image::load_from_memory(bytes).map_err(|e| fail(format!("does not decode as JPEG or PNG: {e}")))?.to_rgb8();
    let bbox = artifact_box(clean.width(), clean.height(), index, config).map_err(fail)?;
    let mut with = clean.clone();
    draw(&mut with, bbox, &config.kind).map_err(fail)?;
    Ok(PlantedPair { bbox, clean: png(&clean).map_err(fail)?, with: png(&with).map_err(fail)? })
}

/// The name of image `name` in a planted dataset: the same relative path with the extension
/// `.png` (the planted images are lossless; `faces/a.jpg` → `faces/a.png`).
pub fn planted_name(name: &str) -> String {
    crate::regions::mask_name_for(name)
}

/// `labels.csv` of a planted dataset, `image,target,attribute,source_attribute` per image: the
/// attribute is the planted indicator, `source_attribute` the label file's own attribute (kept for
/// reference). What `biaslens plant` writes; the page's "save the planted set" writes the same.
///
/// # Errors
/// Only if the CSV writer fails (it writes to memory).
pub fn labels_csv(names: &[String], target: &[u8], planted: &[u8], source_attribute: &[u8]) -> Result<String, String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let fail = |e: csv::Error| format!("writing labels.csv: {e}");
    w.write_record(["image", "target", "attribute", "source_attribute"]).map_err(fail)?;
    for (((name, t), a), s) in names.iter().zip(target).zip(planted).zip(source_attribute) {
        w.write_record([name.as_str(), &t.to_string(), &a.to_string(), &s.to_string()]).map_err(fail)?;
    }
    let bytes = w.into_inner().map_err(|e| format!("writing labels.csv: {e}"))?;
    String::from_utf8(bytes).map_err(|e| format!("writing labels.csv: {e}"))
}

/// `plant.json`: the settings, the cell counts and the achieved φ of a planted dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlantManifest {
    /// `"biaslens-plant"`.
    pub format: String,
    /// The label file planted into.
    pub labels: String,
    /// Images listed.
    pub images: usize,
    /// The settings.
    pub config: PlantConfig,
    /// The (target, planted) cell counts.
    pub counts: CellCounts,
    /// φ asked for.
    pub phi_requested: f64,
    /// φ the counts give.
    pub phi_achieved: Option<f64>,
}

impl PlantManifest {
    /// The manifest of `choice` made with `config` from the label file named `labels` of `images`
    /// images.
    pub fn new(labels: &str, images: usize, config: &PlantConfig, choice: &Choice) -> Self {
        Self {
            format: "biaslens-plant".into(),
            labels: labels.into(),
            images,
            config: config.clone(),
            counts: choice.counts,
            phi_requested: config.phi,
            phi_achieved: choice.phi,
        }
    }

    /// Images planted.
    pub fn planted(&self) -> usize {
        self.counts.t1a1 + self.counts.t0a1
    }

    /// The achieved φ to four places, or `undefined`.
    pub fn achieved(&self) -> String {
        self.phi_achieved.map_or("undefined".to_owned(), |p| format!("{p:.4}"))
    }

    /// What was planted: `a star in 1000 of 2000 images; φ asked 0, achieved 0.0000`.
    pub fn summary(&self) -> String {
        format!("a {} in {} of {} images; φ asked {}, achieved {}", self.config.kind.name(), self.planted(), self.images, self.phi_requested, self.achieved())
    }

    /// The cells: `(target 1: 506 with, 506 without; target 0: 494 with, 494 without)`.
    pub fn cells(&self) -> String {
        let c = self.counts;
        format!("(target 1: {} with, {} without; target 0: {} with, {} without)", c.t1a1, c.t1a0, c.t0a1, c.t0a0)
    }

    /// As `plant.json` holds it (pretty-printed JSON).
    ///
    /// # Errors
    /// If serde_json refuses (it does not for these fields).
    pub fn to_json(&self) -> Result<String, String> {
        serde_json::to_string_pretty(self).map_err(|e| format!("writing plant.json: {e}"))
    }
}

/// The box file of planted images, `image,x0,y0,x1,y1` per image in original pixels: what
/// `biaslens plant` writes as `boxes.csv` and [`crate::parse_box_csv`] reads (the page plants in
/// memory and hands this to the same reader).
pub fn box_csv(names: &[String], boxes: &[PixelBox]) -> String {
    let mut out = String::from("image,x0,y0,x1,y1\n");
    for (name, b) in names.iter().zip(boxes) {
        // Names with a separator or quote are quoted as CSV quotes them.
        if name.contains([',', '"', '\n', '\r']) {
            out.push('"');
            out.push_str(&name.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(name);
        }
        out.push_str(&format!(",{},{},{},{}\n", b.x0, b.y0, b.x1, b.y1));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draw_pixels_paints_what_draw_paints() {
        let (w, h) = (13u32, 11u32);
        let b = PixelBox { x0: 2, y0: 1, x1: 11, y1: 10 };
        for kind in [
            ArtifactKind::default(),
            ArtifactKind::Sticker { shape: StickerShape::Disc, colour: [10, 200, 30] },
            ArtifactKind::Sticker { shape: StickerShape::Star, colour: [255, 255, 0] },
        ] {
            let mut img = image::RgbImage::new(w, h);
            draw(&mut img, b, &kind).expect("fits");
            let plane = (w * h) as usize;
            let mut px = vec![0.0f32; 3 * plane];
            draw_pixels(&mut px, w, h, b, &kind).expect("fits");
            for (x, y, p) in img.enumerate_pixels() {
                for c in 0..3 {
                    let v = px[c * plane + (y * w + x) as usize];
                    assert_eq!(v, f32::from(p.0[c]) / 255.0, "{kind:?} at ({x}, {y}) channel {c}");
                }
            }
        }
        assert!(draw_pixels(&mut [0.0; 5], w, h, b, &ArtifactKind::default()).is_err());
        assert!(draw_pixels(&mut vec![0.0; 3 * 143], w, h, PixelBox { x0: 0, y0: 0, x1: 14, y1: 2 }, &ArtifactKind::default()).is_err());
    }

    #[test]
    fn labels_csv_is_read_back_as_the_planted_labels_and_the_manifest_round_trips() {
        let names = vec!["a.png".to_owned(), "b,c.png".to_owned(), "d \"q\".png".to_owned()];
        let text = labels_csv(&names, &[1, 0, 1], &[0, 1, 1], &[1, 1, 0]).expect("written");
        let back = crate::parse_own_csv(text.as_bytes(), "labels.csv", &crate::OwnColumns::default()).expect("reads back");
        assert_eq!(back.images, names);
        assert_eq!(back.target, vec![1, 0, 1]);
        assert_eq!(back.attribute, vec![0, 1, 1], "the planted indicator is the attribute");
        let config = PlantConfig { phi: 0.0, ..PlantConfig::default() };
        let choice = choose(&[1, 0, 1, 0, 1, 0, 1, 0], &config).expect("chosen");
        let m = PlantManifest::new("labels.csv", 8, &config, &choice);
        let json = m.to_json().expect("json");
        assert!(json.starts_with("{\n  \"format\": \"biaslens-plant\""), "{json}");
        assert_eq!(serde_json::from_str::<PlantManifest>(&json).expect("reads"), m);
    }

    #[test]
    fn box_csv_is_read_back_by_the_box_reader() {
        let names = vec!["a.png".to_owned(), "b,c.png".to_owned()];
        let boxes = [PixelBox { x0: 1, y0: 2, x1: 5, y1: 6 }, PixelBox { x0: 0, y0: 0, x1: 3, y1: 3 }];
        let text = box_csv(&names, &boxes);
        let table = crate::parse_box_csv(text.as_bytes(), "boxes.csv").expect("reads back");
        table.check_listed(&names, "labels.csv").expect("every image has its box");
        assert_eq!(table.images, names);
        assert_eq!(table.boxes, boxes.to_vec());
    }

    #[test]
    fn the_chosen_images_reach_the_requested_phi_within_rounding() {
        // 400 images, 30% with target 1, 30% planted (reachable: φ ∈ [−0.43, 1]). Rounding the
        // cell counts to whole images moves φ by at most one count of each of two cells:
        // |Δφ| ≤ 2·(1/n)/√(p(1−p)q(1−q)) (the derivative of φ in P(T=1, A=1) is 1/√(…), in q at
        // fixed cells at most about the same; the random test below checks the bound widely).
        let n = 400;
        let target: Vec<u8> = (0..n).map(|i| u8::from(i % 10 < 3)).collect();
        for phi in [-0.4, -0.2, 0.0, 0.3, 0.9] {
            let config = PlantConfig { phi, attribute_rate: 0.3, seed: 5, ..PlantConfig::default() };
            let c = choose(&target, &config).expect("reachable");
            let tol = 2.0 / n as f64 / (0.3f64 * 0.7 * 0.3 * 0.7).sqrt();
            let got = c.phi.expect("both classes");
            assert!((got - phi).abs() <= tol, "φ {phi}: achieved {got}, tolerance {tol}");
            assert_eq!(c.planted.iter().filter(|&&a| a == 1).count(), 120, "30% of 400");
            assert_eq!(CellCounts::of(&target, &c.planted, &(0..n).collect::<Vec<_>>()), c.counts);
        }
        // φ = −0.9 would need more target-0 images planted than there are planted images in all
        // (P(T=1, A=1) < 0): refused with the reachable range.
        let e = choose(&target, &PlantConfig { phi: -0.9, attribute_rate: 0.3, ..PlantConfig::default() }).expect_err("unreachable");
        let PlantError::Unreachable { lo, hi, .. } = e else { panic!("{e}") };
        assert!((lo - (-0.428_571)).abs() < 1e-5 && (hi - 1.0).abs() < 1e-9, "{lo} {hi}");
        assert!(e.to_string().contains("reaches φ from -0.429 to 1.000"), "{e}");
        let e = choose(&target[..10], &PlantConfig { phi: 0.0, attribute_rate: 0.01, ..PlantConfig::default() }).expect_err("nothing planted");
        assert!(e.to_string().contains("0.01 of 10 images plants 0"), "{e}");
    }

    #[test]
    fn random_labels_and_settings_never_panic_and_stay_within_the_rounding_bound() {
        // 3,000 random label vectors (n 2..600, any target rate) and settings (φ, rate, including
        // out-of-range and NaN ones): `choose` answers Ok or Err, never panics; every Ok plants
        // round(q·n) images, keeps the labels' cells consistent, and its φ is within
        // 2/(n·√(p(1−p)q(1−q))) of the request (the bound of the docs).
        let mut rng = SplitMix64::new(11);
        let (mut ok, mut worst) = (0, 0.0f64);
        for _ in 0..3000 {
            let n = 2 + rng.below(599);
            let rate = rng.next_f64();
            let target: Vec<u8> = (0..n).map(|_| u8::from(rng.bernoulli(rate))).collect();
            let pick = |rng: &mut SplitMix64, lo: f64, hi: f64| if rng.below(50) == 0 { f64::NAN } else { rng.uniform(lo, hi) };
            let config = PlantConfig { phi: pick(&mut rng, -1.1, 1.1), attribute_rate: pick(&mut rng, -0.1, 1.1), seed: rng.next_u64(), ..PlantConfig::default() };
            let Ok(c) = choose(&target, &config) else { continue };
            ok += 1;
            let planted = c.planted.iter().filter(|&&a| a == 1).count();
            assert_eq!(planted, (config.attribute_rate * n as f64).round() as usize);
            assert_eq!(c.counts, CellCounts::of(&target, &c.planted, &(0..n).collect::<Vec<_>>()));
            let p = target.iter().filter(|&&t| t == 1).count() as f64 / n as f64;
            let q = config.attribute_rate;
            let bound = 2.0 / n as f64 / (p * (1.0 - p) * q * (1.0 - q)).sqrt();
            let err = (c.phi.expect("both classes, both planted and not") - config.phi).abs();
            assert!(err <= bound, "n {n}, p {p}, q {q}, φ {}: off by {err}, bound {bound}", config.phi);
            worst = worst.max(err / bound);
        }
        assert!(ok > 1000, "{ok} of 3,000 were reachable");
        // Measured: the worst case uses 0.43 of the bound (1,081 reachable cases).
        assert!(worst > 0.1, "the bound is not vacuous: worst {worst}");
    }

    #[test]
    fn the_choice_is_a_pure_function_of_the_seed() {
        let target: Vec<u8> = (0..200).map(|i| u8::from(i % 2 == 0)).collect();
        let a = choose(&target, &PlantConfig { seed: 9, ..PlantConfig::default() }).expect("ok");
        let b = choose(&target, &PlantConfig { seed: 9, ..PlantConfig::default() }).expect("ok");
        let c = choose(&target, &PlantConfig { seed: 10, ..PlantConfig::default() }).expect("ok");
        assert_eq!(a, b);
        assert_ne!(a.planted, c.planted, "another seed plants other images");
        assert_eq!(a.counts, c.counts, "with the same cell counts");
        // Balanced target, rate 0.5, φ = −0.9: P(1,1) = 0.25 − 0.9·0.25 = 0.025 → 5 of 200.
        assert_eq!((a.counts.t1a1, a.counts.t0a1, a.counts.t1a0, a.counts.t0a0), (5, 95, 95, 5));
        assert!((a.phi.expect("defined") + 0.9).abs() < 1e-12);
    }

    #[test]
    fn boxes_fit_their_region_and_are_fixed_by_seed_and_index() {
        let config = PlantConfig { size: 0.2, placement: Placement::Random { x0: 0.5, y0: 0.0, x1: 1.0, y1: 0.5 }, ..PlantConfig::default() };
        let mut seen = std::collections::HashSet::new();
        for i in 0..300 {
            let b = artifact_box(100, 60, i, &config).expect("fits");
            assert_eq!((b.x1 - b.x0, b.y1 - b.y0), (12, 12), "0.2 of the shorter side 60");
            assert!(b.x0 >= 50 && b.x1 <= 100 && b.y1 <= 30, "{b}");
            assert_eq!(b, artifact_box(100, 60, i, &config).expect("fits"));
            seen.insert((b.x0, b.y0));
        }
        assert!(seen.len() > 100, "random positions vary: {}", seen.len());
        let fixed = PlantConfig { placement: Placement::Fixed { x: 1.0, y: 0.0 }, ..config.clone() };
        assert_eq!(artifact_box(100, 60, 3, &fixed).expect("fits"), PixelBox { x0: 88, y0: 0, x1: 100, y1: 12 });
        let narrow = PlantConfig { size: 0.9, ..config };
        assert!(artifact_box(100, 60, 0, &narrow).expect_err("too big").contains("widen the region"));
        assert!(PlantConfig { size: 0.0, ..PlantConfig::default() }.check().is_err());
        assert!(PlantConfig { attribute_rate: 1.0, ..PlantConfig::default() }.check().is_err());
    }

    #[test]
    fn only_pixels_inside_the_box_change_and_shapes_leave_corners() {
        let photo = image::RgbImage::from_fn(40, 30, |x, y| image::Rgb([(x * 6) as u8, (y * 8) as u8, 7]));
        let b = PixelBox { x0: 10, y0: 5, x1: 30, y1: 25 };
        for (kind, painted) in [
            (ArtifactKind::Patch { colour: [255, 0, 255] }, 400usize..=400),
            (ArtifactKind::Sticker { shape: StickerShape::Disc, colour: [0, 255, 0] }, 300..=330),
            (ArtifactKind::Sticker { shape: StickerShape::Star, colour: [0, 255, 0] }, 60..=140),
        ] {
            let mut img = photo.clone();
            draw(&mut img, b, &kind).expect("fits");
            let mut changed = 0;
            for (x, y, p) in img.enumerate_pixels() {
                let inside = x >= b.x0 && x < b.x1 && y >= b.y0 && y < b.y1;
                if p != photo.get_pixel(x, y) {
                    assert!(inside, "{kind:?} changed ({x}, {y}) outside the box");
                    changed += 1;
                }
            }
            assert!(painted.contains(&changed), "{kind:?}: {changed} pixels");
            if !matches!(kind, ArtifactKind::Patch { .. }) {
                assert_eq!(img.get_pixel(b.x0, b.y0), photo.get_pixel(b.x0, b.y0), "{kind:?} leaves the corner");
            }
        }
        let mut img = photo;
        assert!(draw(&mut img, PixelBox { x0: 30, y0: 0, x1: 41, y1: 5 }, &ArtifactKind::default()).is_err());
    }

    #[test]
    fn a_pair_differs_only_inside_its_box() {
        let photo = image::RgbImage::from_fn(50, 40, |x, y| image::Rgb([(x * 5) as u8, (y * 6) as u8, 9]));
        let bytes = png(&photo).expect("png");
        let config = PlantConfig { kind: ArtifactKind::Sticker { shape: StickerShape::Disc, colour: [255, 255, 0] }, ..PlantConfig::default() };
        let pair = plant_pair(&bytes, "a.png", 4, &config).expect("plants");
        assert_eq!(pair.bbox, artifact_box(50, 40, 4, &config).expect("fits"));
        let clean = image::load_from_memory(&pair.clean).expect("png").to_rgb8();
        let with = image::load_from_memory(&pair.with).expect("png").to_rgb8();
        assert_eq!(clean, photo, "the clean copy is the photo, losslessly");
        let b = pair.bbox;
        let diff: Vec<(u32, u32)> = with.enumerate_pixels().filter(|(x, y, p)| *p != clean.get_pixel(*x, *y)).map(|(x, y, _)| (x, y)).collect();
        assert!(!diff.is_empty());
        assert!(diff.iter().all(|&(x, y)| x >= b.x0 && x < b.x1 && y >= b.y0 && y < b.y1));
        let e = plant_pair(b"not an image", "x.jpg", 0, &config).expect_err("text");
        assert!(e.to_string().starts_with("image x.jpg: does not decode"), "{e}");
        assert_eq!(planted_name("faces/a.jpg"), "faces/a.png");
    }
}

#[cfg(test)]
mod model_pixels {
    use super::*;
    use crate::images::{Preprocess, decode_image};
    use crate::regions::Geometry;
    use biaslens_metrics::ImageSize;

    #[test]
    fn in_model_pixels_a_pair_differs_in_its_mapped_box_and_the_resize_filters_reach() {
        // What the run sees: both versions padded and resized (here 60×40 → 60×60 → 24×24, a
        // factor 2.5). Without a resize the pair differs exactly inside the mapped box; with one,
        // the Triangle filter (support ±1 source pixel scaled by 2.5) blends the patch's edge into
        // the next model pixel, never further (`docs/METHODS.md#planting`).
        let photo = image::RgbImage::from_fn(60, 40, |x, y| image::Rgb([(x * 4) as u8, (y * 6) as u8, 40]));
        let bytes = png(&photo).expect("png");
        let config = PlantConfig { size: 0.3, ..PlantConfig::default() };
        let mut spilled = 0;
        for index in 0..20 {
            let pair = plant_pair(&bytes, "a.png", index, &config).expect("plants");
            for (pre, reach) in [(Preprocess { square_pad: true, resize: None }, 0), (Preprocess { square_pad: true, resize: Some(24) }, 1)] {
                let (size, clean) = decode_image(&pair.clean, &pre).expect("decodes");
                let (_, with) = decode_image(&pair.with, &pre).expect("decodes");
                let roi = Geometry::new(ImageSize { width: 60, height: 40 }, &pre).expect("valid").box_to_model(pair.bbox).expect("fits");
                let plane = size.pixels();
                for i in 0..plane {
                    let (x, y) = ((i % size.width as usize) as i64, (i / size.width as usize) as i64);
                    if (0..3).any(|c| clean[c * plane + i] != with[c * plane + i]) {
                        let (x0, y0) = (i64::from(roi.x()), i64::from(roi.y()));
                        let (x1, y1) = (x0 + i64::from(roi.w()), y0 + i64::from(roi.h()));
                        assert!(x >= x0 - reach && x < x1 + reach && y >= y0 - reach && y < y1 + reach, "{pre:?}: ({x}, {y}) outside {roi:?} + {reach}");
                        spilled += usize::from(x < x0 || x >= x1 || y < y0 || y >= y1);
                    }
                }
            }
        }
        assert!(spilled > 0, "the resize does blend the edge outward (else the reach of 1 is not needed)");
    }
}
