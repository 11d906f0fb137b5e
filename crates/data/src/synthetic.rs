//! Synthetic cartoon faces: target = smiling, protected attribute = a necktie or a hat.
//!
//! A stand-in for the paper's CelebA set-up (`shared/paper.md` §4: target *Smiling*, protected
//! attribute *Wearing_Necktie* or *Wearing_Hat*) whose region of interest is known exactly: the
//! protected attribute is only ever painted inside [`SyntheticConfig::roi`], so an image with the
//! attribute and the same image without it differ inside that box and nowhere else.
//!
//! Images are `3×H×W` planes in `[0, 1]` (CHW, row-major, x = column, origin top-left). Every
//! image is a pure function of `(seed, index)`: its labels come first from the item's
//! [`SplitMix64`] stream, then every appearance parameter is drawn whatever the labels are, so the
//! labels of a large pool can be listed cheaply ([`SyntheticConfig::labels`]) before any pixel is
//! drawn, and a batch does not depend on which other images it was generated with.
//!
//! Drawing works in *normalised* coordinates (`0..1` across the image) with signed distance
//! functions, each evaluated only over its shape's bounding box and anti-aliased over one pixel,
//! so 64, 128 and 218 pixel images show the same faces at different resolutions. The large
//! shapes (head, hair, shirt, neck, ears, eyes, mouth, hats) are evaluated only along their
//! edges: their extent along each row is known in closed form, pixels well outside are skipped
//! and pixels well inside get full cover directly (`Canvas::fill_rows`; bit for bit the result
//! of evaluating every pixel, which a test checks).

use biaslens_metrics::{ImageSize, Roi, RoiError};
use serde::{Deserialize, Serialize};

use crate::rng::SplitMix64;

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
        let s = self.check()?;
        let roi = self.roi()?;
        let image = ImageSize::square(s);
        let plane = image.pixels();
        let mut pixels = vec![0.0f32; indices.len() * 3 * plane];
        let mut labels = vec![(0u8, 0u8); indices.len()];
        let draw = |out: &mut [f32], labels: &mut [(u8, u8)], indices: &[u64]| {
            for ((out, label), &index) in out.chunks_exact_mut(3 * plane).zip(labels).zip(indices) {
                let params = FaceParams::draw(self, index);
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

/// Period of the background dot pattern (normalised units).
const DOT_STEP: f32 = 0.125;
/// Radius of a background dot.
const DOT_RADIUS: f32 = 0.022;

/// Smallest share of a batch, in pixels, worth a thread of its own (64 images of 64×64).
const MIN_PIXELS_PER_THREAD: usize = 64 * 64 * 64;

/// Salt that separates an item's noise stream from its appearance stream.
const NOISE_STREAM: u64 = 0x6E6F_6973_6521_0001;

type Rgb = [f32; 3];

/// Every random choice behind one face, drawn in a fixed order whatever the labels are.
#[derive(Debug, Clone)]
struct FaceParams {
    traits: FaceTraits,
    bg_top: Rgb,
    bg_bottom: Rgb,
    /// 0 none, 1 dots, 2 stripes (distractor).
    pattern: u8,
    pattern_col: Rgb,
    pattern_phase: f32,
    skin: Rgb,
    hair_col: Rgb,
    hairline: f32,
    cx: f32,
    cy: f32,
    rx: f32,
    ry: f32,
    jaw: f32,
    shirt: Rgb,
    collar: Rgb,
    shoulder_w: f32,
    iris: Rgb,
    eye_dx: f32,
    eye_r: f32,
    brow_tilt: f32,
    mouth_w: f32,
    smile_depth: f32,
    frown: f32,
    glasses_col: Rgb,
    earring_col: Rgb,
    badge: bool,
    badge_col: Rgb,
    tie_col: Rgb,
    tie_stripe: Option<Rgb>,
    tie_w: f32,
    tie_len: f32,
    /// 0 top hat, 1 cap, 2 beanie, 3 bowler.
    hat_style: u8,
    hat_col: Rgb,
    hat_band: Rgb,
    hat_h: f32,
}

fn pick(rng: &mut SplitMix64, colours: &[Rgb]) -> Rgb {
    colours[(rng.next_u64() % colours.len() as u64) as usize]
}

fn vivid(rng: &mut SplitMix64) -> Rgb {
    // A saturated colour: one channel high, one low, one anywhere.
    let hi = rng.uniform(0.65, 0.95) as f32;
    let lo = rng.uniform(0.05, 0.25) as f32;
    let mid = rng.uniform(0.05, 0.95) as f32;
    match rng.next_u64() % 6 {
        0 => [hi, lo, mid],
        1 => [hi, mid, lo],
        2 => [lo, hi, mid],
        3 => [mid, hi, lo],
        4 => [lo, mid, hi],
        _ => [mid, lo, hi],
    }
}

fn mix(a: Rgb, b: Rgb, t: f32) -> Rgb {
    [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t]
}

fn scale(c: Rgb, k: f32) -> Rgb {
    [c[0] * k, c[1] * k, c[2] * k]
}

impl FaceParams {
    fn draw(cfg: &SyntheticConfig, index: u64) -> Self {
        let mut rng = SplitMix64::for_item(cfg.seed, index);
        // Labels first: `SyntheticConfig::label` reads exactly these two draws.
        let smiling = rng.bernoulli(cfg.target_rate);
        let attribute = rng.bernoulli(cfg.attribute_rate);
        let r = &mut rng;
        let u = |r: &mut SplitMix64, lo: f64, hi: f64| r.uniform(lo, hi) as f32;

        let bg_base = [u(r, 0.25, 0.95), u(r, 0.25, 0.95), u(r, 0.25, 0.95)];
        let bg_top = mix(bg_base, [1.0, 1.0, 1.0], u(r, 0.0, 0.3));
        let bg_bottom = scale(bg_base, u(r, 0.7, 1.0));
        let pattern = (r.next_u64() % 3) as u8;
        let pattern_col = mix(bg_base, vivid(r), 0.35);
        let pattern_phase = u(r, 0.0, 1.0);

        let tone = u(r, 0.0, 1.0);
        let skin = mix([1.0, 0.88, 0.78], [0.42, 0.27, 0.18], tone * tone);
        let hair = (r.next_u64() % 6) as u8;
        let hair = if r.bernoulli(0.08) { 0 } else { hair.max(1) };
        let hair_col = match hair {
            1 => [0.08, 0.07, 0.07],
            2 => [0.36, 0.22, 0.12],
            3 => [0.93, 0.80, 0.45],
            4 => [0.70, 0.70, 0.72],
            _ => [0.60, 0.22, 0.10],
        };
        let hair_col = scale(hair_col, u(r, 0.85, 1.1));
        let long_hair = hair != 0 && r.bernoulli(0.4);
        let hairline = u(r, 0.35, 0.6);

        let k = u(r, 0.92, 1.06);
        let cx = 0.5 + u(r, -0.035, 0.035);
        let cy = 0.43 + u(r, -0.025, 0.025);
        let ry = 0.235 * k;
        let rx = ry * u(r, 0.74, 0.9);
        let jaw = u(r, 0.0, 0.4);

        let shirt = if r.bernoulli(0.5) { scale([0.93, 0.93, 0.95], u(r, 0.9, 1.0)) } else { mix(vivid(r), [0.5, 0.5, 0.5], 0.4) };
        let collar = mix(shirt, [1.0, 1.0, 1.0], 0.5);
        let shoulder_w = u(r, 0.4, 0.48);

        let iris = pick(r, &[[0.30, 0.18, 0.08], [0.15, 0.35, 0.65], [0.20, 0.45, 0.25], [0.12, 0.10, 0.08]]);
        let eye_dx = rx * u(r, 0.38, 0.46);
        let eye_r = rx * u(r, 0.15, 0.19);
        let brow_tilt = u(r, -0.02, 0.02);
        let mouth_w = rx * if smiling { u(r, 0.45, 0.58) } else { u(r, 0.3, 0.42) };
        let smile_depth = ry * u(r, 0.13, 0.2);
        let frown = ry * u(r, -0.03, 0.05);
        let mouth_open = smiling && r.bernoulli(0.5);

        let eyeglasses = cfg.distractors && r.bernoulli(0.25);
        let glasses_col = pick(r, &[[0.05, 0.05, 0.05], [0.45, 0.25, 0.1], [0.7, 0.1, 0.1], [0.1, 0.2, 0.6]]);
        let earrings = cfg.distractors && r.bernoulli(0.2);
        let earring_col = pick(r, &[[0.95, 0.8, 0.2], [0.85, 0.85, 0.9], [0.8, 0.1, 0.4]]);
        let badge = cfg.distractors && r.bernoulli(0.3);
        let badge_col = vivid(r);

        let tie_col = vivid(r);
        let tie_stripe = r.bernoulli(0.35).then(|| mix(tie_col, [1.0, 1.0, 1.0], 0.6));
        let tie_w = u(r, 0.05, 0.065);
        let tie_len = u(r, 0.17, 0.22);
        let hat_style = (r.next_u64() % 4) as u8;
        let hat_col = if r.bernoulli(0.3) { [0.1, 0.1, 0.12] } else { vivid(r) };
        let hat_band = vivid(r);
        let hat_h = u(r, 0.0, 1.0);

        let pale_skin = tone < 0.35;
        let pattern = if cfg.distractors { pattern } else { 0 };
        Self {
            traits: FaceTraits { smiling, attribute, mouth_open, hair, long_hair, eyeglasses, earrings, pale_skin },
            bg_top,
            bg_bottom,
            pattern,
            pattern_col,
            pattern_phase,
            skin,
            hair_col,
            hairline,
            cx,
            cy,
            rx,
            ry,
            jaw,
            shirt,
            collar,
            shoulder_w,
            iris,
            eye_dx,
            eye_r,
            brow_tilt,
            mouth_w,
            smile_depth,
            frown,
            glasses_col,
            earring_col,
            badge,
            badge_col,
            tie_col,
            tie_stripe,
            tie_w,
            tie_len,
            hat_style,
            hat_col,
            hat_band,
            hat_h,
        }
    }

    /// Paint the face into `out` (`3×s×s`, CHW). `roi` is the attribute's box.
    fn render(&self, out: &mut [f32], s: u32, roi: &Roi, kind: ProtectedKind) {
        self.render_with(out, s, roi, kind, false);
    }

    /// [`FaceParams::render`], optionally with every shape evaluated at every pixel of its box
    /// (`exhaustive`, the reference for the row-span fill).
    fn render_with(&self, out: &mut [f32], s: u32, roi: &Roi, kind: ProtectedKind, exhaustive: bool) {
        let mut c = Canvas::new(out, s);
        c.exhaustive = exhaustive;
        let p = self;
        // Background: a vertical gradient, optionally with a dot or stripe pattern, in one pass
        // over row slices (the pattern's distance is cheap enough to evaluate per pixel).
        let n = s as usize;
        let sf = s as f32;
        {
            let plane = n * n;
            let (r, rest) = c.out.split_at_mut(plane);
            let (g, b) = rest.split_at_mut(plane);
            // Per column: the pixel centre x (stripes), or the squared x-offset from the nearest
            // dot centre (dots), computed once per image.
            let column: Vec<f32> = (0..n)
                .map(|x| {
                    let fx = (x as f32 + 0.5) / sf;
                    if p.pattern == 1 {
                        let gx = wrap_small(fx + p.pattern_phase * DOT_STEP, DOT_STEP) - DOT_STEP / 2.0;
                        gx * gx
                    } else {
                        fx
                    }
                })
                .collect();
            let rows = r.chunks_exact_mut(n).zip(g.chunks_exact_mut(n)).zip(b.chunks_exact_mut(n));
            for (y, ((r, g), b)) in rows.enumerate() {
                let fy = (y as f32 + 0.5) / sf;
                let base = mix(p.bg_top, p.bg_bottom, fy);
                // Dots: a row whose distance to every dot centre row exceeds the dot radius plus
                // the anti-aliasing band (and a margin) is all background.
                let dot_row_clear = p.pattern == 1 && {
                    let gy = wrap_small(fy + p.pattern_phase * DOT_STEP * 0.5, DOT_STEP) - DOT_STEP / 2.0;
                    gy.abs() > DOT_RADIUS + (0.5 + SPAN_MARGIN) / sf
                };
                if p.pattern == 0 || p.pattern > 2 || dot_row_clear {
                    r.fill(base[0]);
                    g.fill(base[1]);
                    b.fill(base[2]);
                    continue;
                }
                // One loop per pattern, so each vectorises without computing the other.
                let pixels = r.iter_mut().zip(g.iter_mut()).zip(b.iter_mut()).enumerate();
                if p.pattern == 1 {
                    let ph = p.pattern_phase * DOT_STEP;
                    let gy = wrap_small(fy + ph * 0.5, DOT_STEP) - DOT_STEP / 2.0;
                    for (x, ((r, g), b)) in pixels {
                        let d = (column[x] + gy * gy).sqrt() - DOT_RADIUS;
                        let cover = (0.5 - d * sf).clamp(0.0, 1.0);
                        [*r, *g, *b] = mix(base, p.pattern_col, cover);
                    }
                } else {
                    const STEP: f32 = 0.1;
                    for (x, ((r, g), b)) in pixels {
                        let v = wrap_small(column[x] + fy + p.pattern_phase * STEP, STEP) - STEP / 2.0;
                        let d = v.abs() * std::f32::consts::FRAC_1_SQRT_2 - 0.018;
                        let cover = (0.5 - d * sf).clamp(0.0, 1.0);
                        [*r, *g, *b] = mix(base, p.pattern_col, cover);
                    }
                }
            }
        }

        let (cx, cy, rx, ry) = (p.cx, p.cy, p.rx, p.ry);
        let head_top = cy - ry;
        // Long hair behind the head.
        if p.traits.long_hair {
            c.fill_rows(
                [cx - rx * 1.35, head_top - 0.03, cx + rx * 1.35, cy + ry * 1.35],
                p.hair_col,
                |x, y| {
                    let d = ellipse(x, y, cx, cy + ry * 0.1, rx * 1.25, ry * 1.15);
                    d.max(y - (cy + ry * 1.3))
                },
                |y, t| ellipse_row(y, cx, cy + ry * 0.1, rx * 1.25, ry * 1.15, t).max_row(y - (cy + ry * 1.3), t),
            );
        }
        // Shoulders and shirt.
        let sx = 0.5 + (cx - 0.5) * 0.5;
        let shoulder_top = 0.76;
        c.fill_rows(
            [sx - p.shoulder_w - 0.01, shoulder_top - 0.01, sx + p.shoulder_w + 0.01, 1.0],
            p.shirt,
            |x, y| rounded_box(x, y, sx, 1.05, p.shoulder_w, 1.05 - shoulder_top, 0.12),
            |y, t| rounded_box_row(y, sx, 1.05, p.shoulder_w, 1.05 - shoulder_top, 0.12, t),
        );
        if p.badge {
            let bx = sx - p.shoulder_w * 0.62;
            c.fill_rows(
                [bx - 0.05, 0.83, bx + 0.05, 0.95],
                p.badge_col,
                |x, y| rounded_box(x, y, bx, 0.89, 0.035, 0.03, 0.01),
                |y, t| rounded_box_row(y, bx, 0.89, 0.035, 0.03, 0.01, t),
            );
        }
        // Neck with a V opening of the collar.
        let neck_w = rx * 0.42;
        let skin_shade = scale(p.skin, 0.86);
        c.fill_rows(
            [cx - neck_w - 0.01, cy, cx + neck_w + 0.01, 0.84],
            skin_shade,
            |x, y| rounded_box(x, y, cx, (cy + 0.82) / 2.0, neck_w, (0.82 - cy) / 2.0, 0.01),
            |y, t| rounded_box_row(y, cx, (cy + 0.82) / 2.0, neck_w, (0.82 - cy) / 2.0, 0.01, t),
        );
        // Triangle with its tip down at (cx, 0.85).
        let v_half = |y: f32| 0.065 * (1.0 - (y - shoulder_top) / (0.85 - shoulder_top));
        c.fill_rows(
            [cx - 0.08, shoulder_top - 0.01, cx + 0.08, 0.87],
            skin_shade,
            |x, y| ((x - cx).abs() - v_half(y)).max(shoulder_top - y).max(y - 0.85),
            |y, t| band_row(cx, v_half(y), t).max_row(shoulder_top - y, t).max_row(y - 0.85, t),
        );
        // Collar flaps either side of the opening.
        for side in [-1.0f32, 1.0] {
            let a = [cx + side * 0.015, shoulder_top - 0.005];
            let b = [cx + side * 0.1, shoulder_top + 0.005];
            let d = [cx + side * 0.045, 0.845];
            c.fill_rows(
                [cx - 0.13, shoulder_top - 0.02, cx + 0.13, 0.86],
                p.collar,
                |x, y| triangle(x, y, a, b, d),
                |y, t| triangle_row(y, a, b, d, t),
            );
        }

        // Ears, with optional earrings.
        for side in [-1.0f32, 1.0] {
            let ex = cx + side * rx * 0.97;
            c.fill_rows(
                [ex - 0.05, cy - 0.06, ex + 0.05, cy + 0.08],
                skin_shade,
                |x, y| ellipse(x, y, ex, cy + 0.01, rx * 0.2, ry * 0.22),
                |y, t| ellipse_row(y, ex, cy + 0.01, rx * 0.2, ry * 0.22, t),
            );
            if p.traits.earrings {
                let ey = cy + ry * 0.24;
                c.fill_rows(
                    [ex - 0.03, ey - 0.03, ex + 0.03, ey + 0.03],
                    p.earring_col,
                    |x, y| ellipse(x, y, ex, ey, 0.014, 0.014),
                    |y, t| ellipse_row(y, ex, ey, 0.014, 0.014, t),
                );
            }
        }
        // Head.
        c.fill_rows(
            [cx - rx - 0.01, head_top - 0.01, cx + rx + 0.01, cy + ry + 0.01],
            p.skin,
            |x, y| head(x, y, cx, cy, rx, ry, p.jaw),
            |y, t| ellipse_row(y, cx, cy, head_rx(y, cy, rx, ry, p.jaw), ry, t),
        );
        // Hair on top.
        if p.traits.hair != 0 {
            let line = cy - ry * p.hairline;
            c.fill_rows(
                [cx - rx * 1.15, head_top - 0.05, cx + rx * 1.15, cy + 0.02],
                p.hair_col,
                |x, y| {
                    let cap = ellipse(x, y, cx, cy - ry * 0.05, rx * 1.08, ry * 1.1);
                    let dx = (x - cx) / rx;
                    // The hairline dips at the temples and rises over the forehead.
                    let edge = line + ry * 0.35 * dx * dx - ry * 0.06 * tri_wave(dx * 1.4);
                    cap.max(y - edge)
                },
                // The wave term w = tri_wave(1.4·dx) is ≤ 1, and ≥ 2.8·dx for dx < 0 (`wrap`
                // passes negative arguments through, so left of centre the wave is a slope):
                // line + ry·(0.35·dx² − 0.06) ≤ edge ≤ line + ry·(0.35·dx² + 0.168·|dx|).
                // Above the lowest hairline the cap's interior is hair; below the highest, a
                // central gap (the forehead) is certainly bare.
                |y, t| {
                    let cap = ellipse_row(y, cx, cy - ry * 0.05, rx * 1.08, ry * 1.1, t);
                    let (yl, ry64) = (f64::from(y) - f64::from(line), f64::from(ry));
                    let cap = if yl + 0.06 * ry64 <= -t { cap } else { cap.outer_only() };
                    let below = (yl - t) / ry64;
                    if below > 0.0 {
                        // 0.35·u² + 0.168·u ≤ below, u = |dx|.
                        let u = (-0.168 + (0.168f64 * 0.168 + 1.4 * below).sqrt()) / 0.7;
                        let half = f64::from(rx) * u;
                        RowSpan { hole: [f64::from(cx) - half, f64::from(cx) + half], ..cap }
                    } else {
                        cap
                    }
                },
            );
        }
        // Eyebrows, eyes, nose.
        let eye_y = cy - ry * 0.08;
        for side in [-1.0f32, 1.0] {
            let ex = cx + side * p.eye_dx;
            let by = eye_y - p.eye_r * 2.2;
            let (b0, b1) = ([ex - p.eye_r * 1.4, by + side * p.brow_tilt], [ex + p.eye_r * 1.4, by - side * p.brow_tilt]);
            c.fill_rows(
                [ex - 0.06, by - 0.03, ex + 0.06, by + 0.03],
                scale(p.hair_col, 0.8),
                |x, y| segment(x, y, b0, b1) - 0.009,
                |y, t| segment_row(y, b0, b1, 0.009, t),
            );
            // White, iris, pupil: (box half-extents, colour, radii).
            for ((hx, hy), col, (erx, ery)) in [
                ((0.05, 0.04), [0.97, 0.97, 0.97], (p.eye_r * 1.35, p.eye_r * 0.95)),
                ((0.04, 0.04), p.iris, (p.eye_r * 0.75, p.eye_r * 0.75)),
                ((0.03, 0.03), [0.02, 0.02, 0.02], (p.eye_r * 0.38, p.eye_r * 0.38)),
            ] {
                c.fill_rows(
                    [ex - hx, eye_y - hy, ex + hx, eye_y + hy],
                    col,
                    |x, y| ellipse(x, y, ex, eye_y, erx, ery),
                    |y, t| ellipse_row(y, ex, eye_y, erx, ery, t),
                );
            }
        }
        let nose_y = cy + ry * 0.2;
        let (n0, n1, n2) = ([cx, cy + ry * 0.02], [cx + rx * 0.08, nose_y], [cx - rx * 0.08, nose_y + 0.005]);
        c.fill_rows(
            [cx - 0.05, cy - 0.05, cx + 0.05, nose_y + 0.03],
            scale(p.skin, 0.8),
            |x, y| segment(x, y, n0, n1).min(segment(x, y, n1, n2)) - 0.006,
            |y, t| segment_row(y, n0, n1, 0.006, t).min(segment_row(y, n1, n2, 0.006, t)),
        );
        // Mouth: a smile curves up at the corners (and may open); otherwise a flat or sad line.
        let my = cy + ry * 0.5;
        let w = p.mouth_w;
        let lips = [0.65, 0.16, 0.2];
        if p.traits.smiling && p.traits.mouth_open {
            let depth = p.smile_depth * 1.3;
            // Lower half of an ellipse: a "D" on its side.
            c.fill_rows(
                [cx - w - 0.01, my - 0.02, cx + w + 0.01, my + depth + 0.02],
                [0.35, 0.05, 0.08],
                |x, y| ellipse(x, y, cx, my, w, depth).max(my - y),
                |y, t| ellipse_row(y, cx, my, w, depth, t).max_row(my - y, t),
            );
            c.fill_rows(
                [cx - w, my - 0.01, cx + w, my + depth * 0.4],
                [0.98, 0.98, 0.95],
                |x, y| ellipse(x, y, cx, my, w * 0.85, depth * 0.4).max(my - y),
                |y, t| ellipse_row(y, cx, my, w * 0.85, depth * 0.4, t).max_row(my - y, t),
            );
            c.fill([cx - w - 0.02, my - 0.02, cx + w + 0.02, my + depth + 0.02], lips, |x, y| {
                (ellipse(x, y, cx, my, w, depth).abs() - 0.006).max(my - 0.004 - y).min(segment(x, y, [cx - w, my], [cx + w, my]) - 0.006)
            });
        } else {
            let (sag, corner_lift) = if p.traits.smiling { (p.smile_depth, 0.0) } else { (-p.frown, 0.0) };
            // y(u) = my + sag (1 − u²) traced as a few segments: corners at my, centre at my + sag.
            let mut points = [[cx - w, my - corner_lift]; 7];
            for (i, point) in points.iter_mut().enumerate().skip(1) {
                let uu = -1.0 + 2.0 * i as f32 / 6.0;
                *point = [cx + w * uu, my + sag * (1.0 - uu * uu)];
            }
            // The line lies in x ∈ [cx − w, cx + w], y between my and my + sag: farther than its
            // half-thickness 0.011 from that box, a pixel is outside.
            let (y_lo, y_hi) = (f64::from(my.min(my + sag)), f64::from(my.max(my + sag)));
            c.fill_rows(
                [cx - w - 0.02, my - 0.05, cx + w + 0.02, my + sag.abs() + 0.03],
                lips,
                |x, y| {
                    let mut d2 = f32::INFINITY;
                    for pair in points.windows(2) {
                        d2 = d2.min(segment_sq(x, y, pair[0], pair[1]));
                    }
                    d2.sqrt() - 0.011
                },
                |y, t| {
                    let (y, reach) = (f64::from(y), 0.011 + t);
                    if y < y_lo - reach || y > y_hi + reach {
                        return RowSpan::EMPTY;
                    }
                    let half = f64::from(w) + reach;
                    RowSpan::new([f64::from(cx) - half, f64::from(cx) + half], RowSpan::NONE)
                },
            );
        }
        // Glasses (distractor).
        if p.traits.eyeglasses {
            let r = p.eye_r * 2.0;
            c.fill([cx - p.eye_dx - r - 0.03, eye_y - r - 0.02, cx + p.eye_dx + r + 0.03, eye_y + r + 0.02], p.glasses_col, |x, y| {
                let l = (ellipse(x, y, cx - p.eye_dx, eye_y, r, r * 0.85).abs()) - 0.006;
                let rr = (ellipse(x, y, cx + p.eye_dx, eye_y, r, r * 0.85).abs()) - 0.006;
                let bridge = segment(x, y, [cx - p.eye_dx + r, eye_y], [cx + p.eye_dx - r, eye_y]) - 0.005;
                l.min(rr).min(bridge)
            });
        }
        
        // The protected attribute, clipped to its ROI so nothing of it lies outside.
        if p.traits.attribute {
            c.clip = Some([roi.x() as usize, roi.y() as usize, (roi.x() + roi.w()) as usize, (roi.y() + roi.h()) as usize]);
            match kind {
                ProtectedKind::Necktie => p.paint_tie(&mut c, cx, shoulder_top),
                ProtectedKind::Hat => p.paint_hat(&mut c, cx, cy, rx, ry),
            }
        }
    }

    fn paint_tie(&self, c: &mut Canvas<'_>, cx: f32, top: f32) {
        let w = self.tie_w;
        let knot_top = top + 0.01;
        let knot_bottom = knot_top + w * 1.1;
        let tip = (knot_bottom + self.tie_len).min(0.995);
        let col = self.tie_col;
        // Blade: a long kite, widest near the bottom.
        let a = [cx - w * 0.45, knot_bottom - 0.005];
        let b = [cx + w * 0.45, knot_bottom - 0.005];
        let l = [cx - w, tip - w * 1.1];
        let r = [cx + w, tip - w * 1.1];
        let bottom = [cx, tip];
        let blade = move |x: f32, y: f32| triangle(x, y, a, b, r).min(triangle(x, y, a, r, l)).min(triangle(x, y, l, r, bottom));
        let blade_row = move |y: f32, t: f64| triangle_row(y, a, b, r, t).min(triangle_row(y, a, r, l, t)).min(triangle_row(y, l, r, bottom, t));
        c.fill_rows([cx - w - 0.01, knot_bottom - 0.01, cx + w + 0.01, tip + 0.01], col, blade, blade_row);
        if let Some(stripe) = self.tie_stripe {
            c.fill_rows(
                [cx - w - 0.01, knot_bottom, cx + w + 0.01, tip],
                stripe,
                |x, y| {
                    let v = wrap(x + y, 0.04) - 0.02;
                    (v.abs() - 0.006).max(blade(x, y))
                },
                |y, t| blade_row(y, t).outer_only(),
            );
        }
        // Knot: a small trapezoid, a little darker.
        let knot_half = |y: f32| w * (0.75 - 0.3 * ((y - knot_top) / (knot_bottom - knot_top)).clamp(0.0, 1.0));
        c.fill_rows(
            [cx - w - 0.01, knot_top - 0.01, cx + w + 0.01, knot_bottom + 0.01],
            scale(col, 0.8),
            |x, y| ((x - cx).abs() - knot_half(y)).max(knot_top - y).max(y - knot_bottom),
            |y, t| band_row(cx, knot_half(y), t).max_row(knot_top - y, t).max_row(y - knot_bottom, t),
        );
    }

    fn paint_hat(&self, c: &mut Canvas<'_>, cx: f32, cy: f32, rx: f32, ry: f32) {
        let col = self.hat_col;
        let brim_y = cy - ry * 0.55;
        let head_top = cy - ry;
        match self.hat_style {
            0 => {
                // Top hat: tall crown, band, wide thin brim.
                let crown_top = head_top - 0.06 - 0.06 * self.hat_h;
                let hw = rx * 0.85;
                let (mid, half_h) = ((crown_top + brim_y) / 2.0, (brim_y - crown_top) / 2.0);
                c.fill_rows(
                    [cx - hw - 0.01, crown_top - 0.01, cx + hw + 0.01, brim_y + 0.01],
                    col,
                    |x, y| rounded_box(x, y, cx, mid, hw, half_h, 0.01),
                    |y, t| rounded_box_row(y, cx, mid, hw, half_h, 0.01, t),
                );
                c.fill_rows(
                    [cx - hw - 0.01, brim_y - 0.05, cx + hw + 0.01, brim_y],
                    self.hat_band,
                    |x, y| rounded_box(x, y, cx, brim_y - 0.025, hw, 0.018, 0.0),
                    |y, t| rounded_box_row(y, cx, brim_y - 0.025, hw, 0.018, 0.0, t),
                );
                c.fill_rows(
                    [cx - rx * 1.4, brim_y - 0.03, cx + rx * 1.4, brim_y + 0.03],
                    col,
                    |x, y| rounded_box(x, y, cx, brim_y, rx * 1.3, 0.016, 0.012),
                    |y, t| rounded_box_row(y, cx, brim_y, rx * 1.3, 0.016, 0.012, t),
                );
            }
            1 => {
                // Cap: a dome with a peak sticking out to one side.
                let dome_ry = brim_y - head_top + 0.04 + 0.02 * self.hat_h;
                c.fill_rows(
                    [cx - rx * 1.15, head_top - 0.06, cx + rx * 1.15, brim_y + 0.01],
                    col,
                    |x, y| ellipse(x, y, cx, brim_y, rx * 1.06, dome_ry).max(y - brim_y),
                    |y, t| ellipse_row(y, cx, brim_y, rx * 1.06, dome_ry, t).max_row(y - brim_y, t),
                );
                c.fill_rows(
                    [cx - rx * 1.5, brim_y - 0.03, cx + rx * 1.2, brim_y + 0.04],
                    scale(col, 0.75),
                    |x, y| ellipse(x, y, cx - rx * 0.6, brim_y + 0.005, rx * 0.85, 0.022),
                    |y, t| ellipse_row(y, cx - rx * 0.6, brim_y + 0.005, rx * 0.85, 0.022, t),
                );
                let button_y = head_top - 0.04 - 0.02 * self.hat_h;
                c.fill_rows(
                    [cx - 0.03, head_top - 0.07, cx + 0.03, head_top - 0.01],
                    self.hat_band,
                    |x, y| ellipse(x, y, cx, button_y, 0.015, 0.012),
                    |y, t| ellipse_row(y, cx, button_y, 0.015, 0.012, t),
                );
            }
            2 => {
                // Beanie: a dome with a folded band and a pompom.
                let top = head_top - 0.04 - 0.03 * self.hat_h;
                c.fill_rows(
                    [cx - rx * 1.15, top - 0.01, cx + rx * 1.15, brim_y + 0.03],
                    col,
                    |x, y| ellipse(x, y, cx, brim_y, rx * 1.08, brim_y - top).max(y - brim_y - 0.02),
                    |y, t| ellipse_row(y, cx, brim_y, rx * 1.08, brim_y - top, t).max_row(y - brim_y - 0.02, t),
                );
                c.fill_rows(
                    [cx - rx * 1.15, brim_y - 0.05, cx + rx * 1.15, brim_y + 0.03],
                    self.hat_band,
                    |x, y| rounded_box(x, y, cx, brim_y - 0.01, rx * 1.08, 0.028, 0.015),
                    |y, t| rounded_box_row(y, cx, brim_y - 0.01, rx * 1.08, 0.028, 0.015, t),
                );
                c.fill_rows(
                    [cx - 0.05, top - 0.06, cx + 0.05, top + 0.03],
                    self.hat_band,
                    |x, y| ellipse(x, y, cx, top - 0.015, 0.03, 0.03),
                    |y, t| ellipse_row(y, cx, top - 0.015, 0.03, 0.03, t),
                );
            }
            _ => {
                // Bowler / fedora: a rounded crown on a curved brim.
                let crown_top = head_top - 0.03 - 0.04 * self.hat_h;
                let crown_ry = brim_y - crown_top;
                c.fill_rows(
                    [cx - rx, crown_top - 0.01, cx + rx, brim_y + 0.01],
                    col,
                    |x, y| ellipse(x, y, cx, brim_y, rx * 0.9, crown_ry).max(y - brim_y),
                    |y, t| ellipse_row(y, cx, brim_y, rx * 0.9, crown_ry, t).max_row(y - brim_y, t),
                );
                c.fill_rows(
                    [cx - rx * 0.95, brim_y - 0.05, cx + rx * 0.95, brim_y],
                    self.hat_band,
                    |x, y| rounded_box(x, y, cx, brim_y - 0.018, rx * 0.88, 0.014, 0.0).max(ellipse(x, y, cx, brim_y, rx * 0.9, crown_ry)),
                    |y, t| rounded_box_row(y, cx, brim_y - 0.018, rx * 0.88, 0.014, 0.0, t).max(ellipse_row(y, cx, brim_y, rx * 0.9, crown_ry, t)),
                );
                c.fill_rows(
                    [cx - rx * 1.4, brim_y - 0.04, cx + rx * 1.4, brim_y + 0.04],
                    scale(col, 0.85),
                    |x, y| ellipse(x, y, cx, brim_y, rx * 1.3, 0.028).max(brim_y - 0.012 - y),
                    |y, t| ellipse_row(y, cx, brim_y, rx * 1.3, 0.028, t).max_row(brim_y - 0.012 - y, t),
                );
            }
        }
    }
}

/// `v` modulo `step`, in `[0, step)` for `v ≥ 0` (every caller passes a non-negative `v`).
/// A truncating cast, not `floor`/`rem_euclid`, which are library calls on baseline x86-64.
#[inline(always)]
fn wrap(v: f32, step: f32) -> f32 {
    v - ((v * (1.0 / step)) as u32) as f32 * step
}

/// `v.floor()` by a truncating cast: `floor` is a library call on baseline x86-64, and this
/// runs a few times per row of every shape. Exact for |v| < 2⁶², saturating beyond.
#[inline(always)]
fn floor(v: f64) -> f64 {
    let t = v as i64 as f64;
    if t > v { t - 1.0 } else { t }
}

/// [`wrap`] for `0 ≤ v / step < 2³¹` (the same value there), with a signed cast that
/// vectorises in one instruction on baseline x86-64.
#[inline(always)]
fn wrap_small(v: f32, step: f32) -> f32 {
    v - ((v * (1.0 / step)) as i32) as f32 * step
}

/// A triangle wave of period 1 in `[0, 1]`: 0 at integers, 1 half-way (a cheap `|sin|`-like bump).
fn tri_wave(v: f32) -> f32 {
    1.0 - (2.0 * wrap(v, 1.0) - 1.0).abs()
}

/// Signed distance (approximate, in normalised units) to an axis-aligned ellipse.
#[inline(always)]
fn ellipse(x: f32, y: f32, cx: f32, cy: f32, rx: f32, ry: f32) -> f32 {
    // Reciprocals are loop-invariant in every caller, so they are hoisted out of pixel loops.
    let (dx, dy) = ((x - cx) * (1.0 / rx), (y - cy) * (1.0 / ry));
    ((dx * dx + dy * dy).sqrt() - 1.0) * rx.min(ry)
}

/// A head: an ellipse whose lower half narrows towards the chin by `jaw`.
#[inline(always)]
fn head(x: f32, y: f32, cx: f32, cy: f32, rx: f32, ry: f32, jaw: f32) -> f32 {
    ellipse(x, y, cx, cy, head_rx(y, cy, rx, ry, jaw), ry)
}

/// The horizontal radius of [`head`]'s ellipse in row `y`.
#[inline(always)]
fn head_rx(y: f32, cy: f32, rx: f32, ry: f32, jaw: f32) -> f32 {
    let t = (y - cy) * (1.0 / ry);
    let narrow = 1.0 - jaw * t.max(0.0) * t.max(0.0);
    rx * narrow.max(0.2)
}

/// Signed distance to a box of half-extents `(hw, hh)` with corner radius `r`.
#[inline(always)]
fn rounded_box(x: f32, y: f32, cx: f32, cy: f32, hw: f32, hh: f32, r: f32) -> f32 {
    let qx = (x - cx).abs() - hw + r;
    let qy = (y - cy).abs() - hh + r;
    let outside = (qx.max(0.0).powi(2) + qy.max(0.0).powi(2)).sqrt();
    outside + qx.max(qy).min(0.0) - r
}

/// Distance to the segment `a–b`.
#[inline(always)]
fn segment(x: f32, y: f32, a: [f32; 2], b: [f32; 2]) -> f32 {
    segment_sq(x, y, a, b).sqrt()
}

/// Squared distance to the segment `a–b` (the minimum over several segments needs one square
/// root: `√` is correctly rounded and monotonic, so `√min = min √` bit for bit).
#[inline(always)]
fn segment_sq(x: f32, y: f32, a: [f32; 2], b: [f32; 2]) -> f32 {
    let (px, py) = (x - a[0], y - a[1]);
    let (bx, by) = (b[0] - a[0], b[1] - a[1]);
    let len2 = bx * bx + by * by;
    let h = if len2 > 0.0 { ((px * bx + py * by) / len2).clamp(0.0, 1.0) } else { 0.0 };
    let (dx, dy) = (px - bx * h, py - by * h);
    dx * dx + dy * dy
}

/// Signed distance (exact inside, approximate outside) to the triangle `a, b, c` (any winding).
#[inline(always)]
fn triangle(x: f32, y: f32, a: [f32; 2], b: [f32; 2], c: [f32; 2]) -> f32 {
    let area = (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]);
    let sign = if area < 0.0 { -1.0 } else { 1.0 };
    let edge = |p: [f32; 2], q: [f32; 2]| {
        let (ex, ey) = (q[0] - p[0], q[1] - p[1]);
        let len = (ex * ex + ey * ey).sqrt().max(1e-9);
        // Positive outside for a counter-clockwise (in y-down space: positive area) triangle.
        -sign * (ex * (y - p[1]) - ey * (x - p[0])) / len
    };
    edge(a, b).max(edge(b, c)).max(edge(c, a))
}

/// Where along one image row a shape can be, in normalised `x`: outside `outer` and inside
/// `hole` the shape's distance is at least `t` (the caller's threshold, see
/// [`Canvas::fill_rows`]), inside `inner` at most `−t`. An interval with `lo > hi` is empty.
#[derive(Debug, Clone, Copy)]
struct RowSpan {
    outer: [f64; 2],
    inner: [f64; 2],
    hole: [f64; 2],
}

impl RowSpan {
    const NONE: [f64; 2] = [1.0, 0.0];
    /// The shape misses the row.
    const EMPTY: Self = Self { outer: Self::NONE, inner: Self::NONE, hole: Self::NONE };
    /// Nothing known: evaluate the whole row.
    const ALL: Self = Self { outer: [f64::NEG_INFINITY, f64::INFINITY], inner: Self::NONE, hole: Self::NONE };

    /// A shape between `outer` with a certain interior `inner`.
    fn new(outer: [f64; 2], inner: [f64; 2]) -> Self {
        Self { outer, inner, hole: Self::NONE }
    }

    /// `max(shape, v)` for a `v` constant along the row (a horizontal half-plane).
    fn max_row(self, v: f32, t: f64) -> Self {
        let v = f64::from(v);
        if v >= t {
            Self::EMPTY
        } else if v <= -t {
            self
        } else {
            self.outer_only()
        }
    }

    /// `max(self, other)`: the intersection of two shapes (holes are not combined: `other`
    /// must have none).
    fn max(self, other: Self) -> Self {
        let both = |a: [f64; 2], b: [f64; 2]| [a[0].max(b[0]), a[1].min(b[1])];
        Self { outer: both(self.outer, other.outer), inner: both(self.inner, other.inner), hole: self.hole }
    }

    /// `min(self, other)`: the union of two shapes (hull of the outer intervals, the wider
    /// interior; neither may have a hole).
    fn min(self, other: Self) -> Self {
        let empty = |iv: [f64; 2]| iv[0].is_nan() || iv[1].is_nan() || iv[0] > iv[1];
        let width = |iv: [f64; 2]| if empty(iv) { -1.0 } else { iv[1] - iv[0] };
        let outer = if empty(self.outer) {
            other.outer
        } else if empty(other.outer) {
            self.outer
        } else {
            [self.outer[0].min(other.outer[0]), self.outer[1].max(other.outer[1])]
        };
        let inner = if width(self.inner) >= width(other.inner) { self.inner } else { other.inner };
        Self::new(outer, inner)
    }

    /// Forget the certain interior (for a shape further cut by something that varies along x).
    fn outer_only(self) -> Self {
        Self { inner: Self::NONE, ..self }
    }
}

/// [`RowSpan`] of `ellipse(·, y, cx, cy, rx, ry)`: its distance `(√(u² + v²) − 1)·m`
/// (`u = (x − cx)/rx`, `v = (y − cy)/ry`, `m = min(rx, ry)`) is ≤ −t for `√(u² + v²) ≤ 1 − t/m`
/// and ≥ t for `√(u² + v²) ≥ 1 + t/m`.
fn ellipse_row(y: f32, cx: f32, cy: f32, rx: f32, ry: f32, t: f64) -> RowSpan {
    let (cx, rx, ry) = (f64::from(cx), f64::from(rx), f64::from(ry));
    let v = (f64::from(y) - f64::from(cy)) / ry;
    let m = rx.min(ry);
    let half = |a: f64| if a > 0.0 && a * a > v * v { Some(rx * (a * a - v * v).sqrt()) } else { None };
    let Some(out) = half(1.0 + t / m) else {
        return RowSpan::EMPTY;
    };
    RowSpan::new([cx - out, cx + out], half(1.0 - t / m).map_or(RowSpan::NONE, |h| [cx - h, cx + h]))
}

/// [`RowSpan`] of `rounded_box(·, y, cx, cy, hw, hh, r)` (an exact distance), from its closed
/// form along a row: with `qy = |y − cy| − hh + r` and `a = |x − cx|`, the distance is
/// `√((a − hw + r)₊² + qy²) − r` where `qy > 0`, and `a − hw` (outside) or at most that
/// (inside) where `qy ≤ 0`.
fn rounded_box_row(y: f32, cx: f32, cy: f32, hw: f32, hh: f32, r: f32, t: f64) -> RowSpan {
    let (cx, hw, r) = (f64::from(cx), f64::from(hw), f64::from(r));
    let qy = (f64::from(y) - f64::from(cy)).abs() - f64::from(hh) + r;
    let span = |half: f64| [cx - half, cx + half];
    if qy > 0.0 {
        let reach = (r + t) * (r + t) - qy * qy;
        if reach <= 0.0 {
            return RowSpan::EMPTY;
        }
        let inner = if r > t && qy < r - t { span(hw - r + ((r - t) * (r - t) - qy * qy).sqrt()) } else { RowSpan::NONE };
        RowSpan::new(span(hw - r + reach.sqrt()), inner)
    } else {
        let inner = if qy <= r - t { span(hw - t) } else { RowSpan::NONE };
        RowSpan::new(span(hw + t), inner)
    }
}

/// [`RowSpan`] of `(|x − cx| − half).max(…)`: a band of half-width `half` about `cx` (the caller
/// applies the row-constant terms with [`RowSpan::max_row`]).
fn band_row(cx: f32, half: f32, t: f64) -> RowSpan {
    let (cx, half) = (f64::from(cx), f64::from(half));
    RowSpan::new([cx - half - t, cx + half + t], [cx - half + t, cx + half - t])
}

/// [`RowSpan`] of `segment(·, y, a, b) − r`: the distance to a segment is at least the distance
/// to its bounding box.
fn segment_row(y: f32, a: [f32; 2], b: [f32; 2], r: f32, t: f64) -> RowSpan {
    let reach = f64::from(r) + t;
    let y = f64::from(y);
    let (y0, y1) = (f64::from(a[1].min(b[1])), f64::from(a[1].max(b[1])));
    if y < y0 - reach || y > y1 + reach {
        return RowSpan::EMPTY;
    }
    RowSpan::new([f64::from(a[0].min(b[0])) - reach, f64::from(a[0].max(b[0])) + reach], RowSpan::NONE)
}

/// [`RowSpan`] of `triangle(·, y, a, b, c)`: along a row each of its three edge distances is
/// linear in `x`, so "all ≤ −t" (inside) and "all < t" (not certainly outside) are intervals.
fn triangle_row(y: f32, a: [f32; 2], b: [f32; 2], c: [f32; 2], t: f64) -> RowSpan {
    // The orientation exactly as `triangle` decides it (in float32).
    let area = (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]);
    let sign = if area < 0.0 { -1.0 } else { 1.0 };
    let y = f64::from(y);
    let (mut outer, mut inner) = ([f64::NEG_INFINITY, f64::INFINITY], [f64::NEG_INFINITY, f64::INFINITY]);
    // Keep the x where `e0 + slope·(x − x0) ≤ v`.
    let cut = |iv: &mut [f64; 2], e0: f64, slope: f64, x0: f64, v: f64| {
        if slope > 0.0 {
            iv[1] = iv[1].min(x0 + (v - e0) / slope);
        } else if slope < 0.0 {
            iv[0] = iv[0].max(x0 + (v - e0) / slope);
        } else if e0 > v {
            *iv = RowSpan::NONE;
        }
    };
    for (p, q) in [(a, b), (b, c), (c, a)] {
        let (p0, p1) = (f64::from(p[0]), f64::from(p[1]));
        let (ex, ey) = (f64::from(q[0]) - p0, f64::from(q[1]) - p1);
        let len = (ex * ex + ey * ey).sqrt().max(1e-9);
        let (e0, slope) = (-sign * ex * (y - p1) / len, sign * ey / len);
        cut(&mut outer, e0, slope, p0, t);
        cut(&mut inner, e0, slope, p0, -t);
    }
    RowSpan::new(outer, inner)
}

/// Writes colours into a `3×s×s` CHW buffer with one-pixel anti-aliasing.
struct Canvas<'a> {
    out: &'a mut [f32],
    n: usize,
    sf: f32,
    /// Optional pixel clip box `[x0, y0, x1, y1)`.
    clip: Option<[usize; 4]>,
    /// Ignore row spans and evaluate the distance at every pixel of every box (the reference
    /// the span fill is tested against).
    exhaustive: bool,
}

/// Slack, in pixels of distance, that row spans leave for the float32 rounding of the distance
/// functions (their rounding error is below 1e-3 pixels at 218×218).
const SPAN_MARGIN: f32 = 0.05;

impl<'a> Canvas<'a> {
    fn new(out: &'a mut [f32], s: u32) -> Self {
        Self { out, n: s as usize, sf: s as f32, clip: None, exhaustive: false }
    }

    /// Fill the shape `sdf < 0` (normalised units) inside the normalised box `[x0, y0, x1, y1]`,
    /// evaluating `sdf` at every pixel of the box.
    fn fill(&mut self, bbox: [f32; 4], col: Rgb, sdf: impl Fn(f32, f32) -> f32) {
        self.fill_rows(bbox, col, sdf, |_, _| RowSpan::ALL);
    }

    /// [`Canvas::fill`] for a large shape whose extent along each row is known in closed form:
    /// `rows(y, t)` gives the row's [`RowSpan`] for `t` = half a pixel plus [`SPAN_MARGIN`] (in
    /// normalised units). Pixels outside `outer` are skipped (their cover is 0), pixels inside
    /// `inner` get full cover without evaluating `sdf` (their cover is exactly 1), and only the
    /// pixels along the edge are evaluated, so the result is bit for bit what [`Canvas::fill`]
    /// gives.
    fn fill_rows(&mut self, bbox: [f32; 4], col: Rgb, sdf: impl Fn(f32, f32) -> f32, rows: impl Fn(f32, f64) -> RowSpan) {
        let n = self.n;
        let sf = self.sf;
        let to_px = |v: f32| ((v * sf).floor().max(0.0) as usize).min(n);
        let (mut x0, mut y0) = (to_px(bbox[0]), to_px(bbox[1]));
        let (mut x1, mut y1) = (((bbox[2] * sf).ceil().max(0.0) as usize).min(n), ((bbox[3] * sf).ceil().max(0.0) as usize).min(n));
        if let Some([cx0, cy0, cx1, cy1]) = self.clip {
            x0 = x0.max(cx0);
            y0 = y0.max(cy0);
            x1 = x1.min(cx1);
            y1 = y1.min(cy1);
        }
        if x0 >= x1 {
            return;
        }
        let plane = n * n;
        let (r, rest) = self.out.split_at_mut(plane);
        let (g, b) = rest.split_at_mut(plane);
        let t = f64::from((0.5 + SPAN_MARGIN) / sf);
        let sf64 = f64::from(sf);
        // Pixels whose centre `(px + 0.5)/sf` lies in `[lo, hi]`, within `x0..x1`.
        let pixels = |[lo, hi]: [f64; 2]| -> (usize, usize) {
            if lo.is_nan() || hi.is_nan() || lo > hi {
                return (x0, x0);
            }
            let a = (-floor(0.5 - lo * sf64)).max(x0 as f64).min(x1 as f64) as usize;
            let b = (floor(hi * sf64 - 0.5) + 1.0).max(a as f64).min(x1 as f64) as usize;
            (a, b)
        };
        for py in y0..y1 {
            let y = (py as f32 + 0.5) / sf;
            let span = if self.exhaustive { RowSpan::ALL } else { rows(y, t) };
            let (a, end) = pixels(span.outer);
            if a >= end {
                continue;
            }
            // Inside `outer`: the certain interior and the hole, as pixel ranges within a..end,
            // in order; everything else is evaluated.
            let clamp = |(lo, hi): (usize, usize)| (lo.clamp(a, end), hi.clamp(a, end));
            let inner = clamp(pixels(span.inner));
            let hole = clamp(pixels(span.hole));
            let mut skips = [(inner, true), (hole, false)];
            if hole.0 < inner.0 {
                skips.swap(0, 1);
            }
            let row = py * n..(py + 1) * n;
            let (r, g, b) = (&mut r[row.clone()], &mut g[row.clone()], &mut b[row]);
            let mut px = a;
            for ((lo, hi), full) in skips.into_iter().chain([((end, end), false)]) {
                let (lo, hi) = (lo.max(px), hi.max(px));
                for px in px..lo {
                    let x = (px as f32 + 0.5) / sf;
                    let cover = (0.5 - sdf(x, y) * sf).clamp(0.0, 1.0);
                    if cover > 0.0 {
                        r[px] += (col[0] - r[px]) * cover;
                        g[px] += (col[1] - g[px]) * cover;
                        b[px] += (col[2] - b[px]) * cover;
                    }
                }
                if full {
                    for ((r, g), b) in r[lo..hi].iter_mut().zip(&mut g[lo..hi]).zip(&mut b[lo..hi]) {
                        *r += (col[0] - *r) * 1.0;
                        *g += (col[1] - *g) * 1.0;
                        *b += (col[2] - *b) * 1.0;
                    }
                }
                px = hi;
            }
        }
    }
}

/// Add triangular noise of standard deviation `sd` and clamp to `[0, 1]`. One 64-bit draw per
/// pixel gives its three channels: channel `c` adds the two 10-bit fields at bits `21c` and
/// `21c + 10`, a triangular integer in `[0, 2046]`, centred by −1023.
///
/// The three sums are made at once with one masked add (the fields are 21 bits apart, so the
/// 11-bit sums cannot carry into each other) for a block of pixels, then each channel is updated
/// over the block in a loop the compiler vectorises. The values are those of adding the fields
/// pixel by pixel (same draws; integers below 2¹¹ are exact in float32).
fn add_noise(out: &mut [f32], sd: f32, mut rng: SplitMix64) {
    const FIELDS: u64 = 0x3FF | 0x3FF << 21 | 0x3FF << 42;
    const BLOCK: usize = 64;
    let plane = out.len() / 3;
    if sd == 0.0 {
        for v in out.iter_mut() {
            *v = v.clamp(0.0, 1.0);
        }
        return;
    }
    // A sum of two U(0,1) has variance 1/6: scale by √6 for unit variance.
    let k = sd * 6f32.sqrt() / 1024.0;
    let (r, rest) = out.split_at_mut(plane);
    let (g, b) = rest.split_at_mut(plane);
    let mut tri = [[0i32; BLOCK]; 3];
    for ((r, g), b) in r.chunks_mut(BLOCK).zip(g.chunks_mut(BLOCK)).zip(b.chunks_mut(BLOCK)) {
        let len = r.len();
        let [t0, t1, t2] = &mut tri;
        for ((t0, t1), t2) in t0[..len].iter_mut().zip(&mut t1[..len]).zip(&mut t2[..len]) {
            let bits = rng.next_u64();
            let sums = (bits & FIELDS) + ((bits >> 10) & FIELDS);
            *t0 = (sums & 0x7FF) as i32 - 1023;
            *t1 = ((sums >> 21) & 0x7FF) as i32 - 1023;
            *t2 = ((sums >> 42) & 0x7FF) as i32 - 1023;
        }
        for (px, tri) in [r, g, b].into_iter().zip(&tri) {
            for (v, &t) in px.iter_mut().zip(&tri[..len]) {
                *v = (*v + k * t as f32).clamp(0.0, 1.0);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    /// Pixels outside the ROI are identical to a redraw of the same face without the attribute,
    /// and the attribute really changes pixels inside the ROI.
    #[test]
    fn attribute_pixels_lie_inside_the_roi() {
        for (attribute, size) in [(ProtectedKind::Necktie, 64), (ProtectedKind::Hat, 64), (ProtectedKind::Necktie, 128), (ProtectedKind::Hat, 218)] {
            let cfg = SyntheticConfig { attribute, size, noise: 0.0, ..SyntheticConfig::default() };
            let roi = cfg.roi().expect("valid size");
            let plane = cfg.image_size().pixels();
            let count = if size > 64 { 6 } else { 40 };
            let mut checked = 0;
            for i in 0..count {
                let mut params = FaceParams::draw(&cfg, i);
                if !params.traits.attribute {
                    continue;
                }
                let mut with = vec![0.0; 3 * plane];
                params.render(&mut with, size, &roi, attribute);
                params.traits.attribute = false;
                let mut without = vec![0.0; 3 * plane];
                params.render(&mut without, size, &roi, attribute);
                let mut changed_inside = 0;
                for y in 0..size {
                    for x in 0..size {
                        let p = (y * size + x) as usize;
                        let same = (0..3).all(|c| with[c * plane + p] == without[c * plane + p]);
                        if roi.contains(x, y) {
                            changed_inside += usize::from(!same);
                        } else {
                            assert!(same, "{attribute:?} pixel outside the ROI at ({x},{y}) of image {i}");
                        }
                    }
                }
                // The attribute covers a good part of its box (≥ 10% of it).
                assert!(changed_inside * 10 >= (roi.w() * roi.h()) as usize, "image {i}: only {changed_inside} pixels changed");
                checked += 1;
            }
            assert!(checked > 0);
        }
    }

    #[test]
    fn smile_changes_the_mouth_only() {
        let cfg = SyntheticConfig { noise: 0.0, ..SyntheticConfig::default() };
        let roi = cfg.roi().expect("valid size");
        let plane = cfg.image_size().pixels();
        let mut p = FaceParams::draw(&cfg, 3);
        p.traits.smiling = true;
        p.traits.mouth_open = false;
        let mut smile = vec![0.0; 3 * plane];
        p.render(&mut smile, cfg.size, &roi, cfg.attribute);
        p.traits.smiling = false;
        let mut flat = vec![0.0; 3 * plane];
        p.render(&mut flat, cfg.size, &roi, cfg.attribute);
        let changed: Vec<usize> = (0..plane).filter(|&i| (0..3).any(|c| smile[c * plane + i] != flat[c * plane + i])).collect();
        assert!(!changed.is_empty());
        // Every changed pixel lies in the lower half of the face.
        for i in changed {
            let (x, y) = ((i % 64) as f32 / 64.0, (i / 64) as f32 / 64.0);
            assert!((p.cx - x).abs() < p.rx && y > p.cy && y < p.cy + p.ry, "smile changed ({x},{y})");
        }
    }

    #[test]
    fn pixels_stay_in_unit_range_and_noise_has_the_requested_spread() {
        let cfg = SyntheticConfig { noise: 0.05, ..SyntheticConfig::default() };
        let noisy = cfg.generate(0, 4).expect("valid config");
        let clean = SyntheticConfig { noise: 0.0, ..cfg.clone() }.generate(0, 4).expect("valid config");
        assert!(noisy.pixels.iter().all(|v| (0.0..=1.0).contains(v)));
        // Standard deviation of the difference, over pixels far from the clamp limits.
        let diffs: Vec<f64> = noisy
            .pixels
            .iter()
            .zip(&clean.pixels)
            .filter(|(_, c)| (0.2..0.8).contains(*c))
            .map(|(n, c)| f64::from(n - c))
            .collect();
        let mean = diffs.iter().sum::<f64>() / diffs.len() as f64;
        let sd = (diffs.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / diffs.len() as f64).sqrt();
        assert!((sd - 0.05).abs() < 0.003, "noise sd {sd}");
        assert!(mean.abs() < 0.003, "noise mean {mean}");
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
        assert_eq!("Hat".parse::<ProtectedKind>(), Ok(ProtectedKind::Hat));
        assert!("scarf".parse::<ProtectedKind>().is_err());
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

    /// The row-span fill gives bit for bit what evaluating every pixel of every box gives, over
    /// many faces, both attributes, with and without distractors, at several sizes.
    #[test]
    fn span_fill_equals_exhaustive_fill() {
        for (size, count) in [(16u32, 120u64), (33, 120), (64, 240), (128, 40), (218, 16)] {
            for (attribute, distractors) in [(ProtectedKind::Necktie, true), (ProtectedKind::Hat, true), (ProtectedKind::Hat, false)] {
                let cfg = SyntheticConfig { size, attribute, distractors, seed: u64::from(size), ..SyntheticConfig::default() };
                let roi = cfg.roi().expect("valid size");
                let n = 3 * cfg.image_size().pixels();
                let (mut fast, mut slow) = (vec![0.0f32; n], vec![0.0f32; n]);
                for i in 0..count {
                    let p = FaceParams::draw(&cfg, i);
                    p.render_with(&mut fast, size, &roi, attribute, false);
                    p.render_with(&mut slow, size, &roi, attribute, true);
                    let same = fast.iter().zip(&slow).all(|(a, b)| a.to_bits() == b.to_bits());
                    assert!(same, "size {size}, {attribute:?}, distractors {distractors}, image {i}");
                }
            }
        }
    }
}
