//! Signed (diverging) colour maps for saliency maps, symmetric around zero.
//!
//! The paper's maps (Figure 1 and Figure 2, drawn by the authors with matplotlib's `seismic`, see
//! `docs/METHODS.md#figures`) use red for positive relevance towards the true class and blue for
//! negative relevance, white for zero. Two maps are offered:
//!
//! * [`Colormap::RdBu`], the crate's original map (ColorBrewer RdBu ends, linear from white): the
//!   LRP literature's convention (Zennit's `bwr`/`coldnhot` family), the default.
//! * [`Colormap::BlueOrange`], the colour-vision-deficiency-safe alternative. It is built in
//!   CIELAB: lightness falls from L* = 97 at zero to L* = 50 at `±scale` **identically on both
//!   sides**, so `v` and `−v` always have the same lightness (magnitude is read from lightness,
//!   sign from hue), and the two hues are blue (b* < 0) and orange (b* > 0), which differ along the
//!   blue–yellow opponent axis that protanopes and deuteranopes (red–green colour blindness, ~8 %
//!   of men) keep intact. Orange is also reddish (a* > 0) where the blue end is not, so tritanopes
//!   (blue–yellow confusion) still see two hues. The tests check this with the Machado et al.
//!   (2009) dichromacy simulation. RdBu is also on ColorBrewer's colour-blind-safe list, but its
//!   two ends differ in lightness and under red–green blindness its red end turns dark olive; the
//!   blue–orange map keeps the sign readable with equal weight on both sides.

use serde::{Deserialize, Serialize};

/// RGB of the negative end (a ColorBrewer RdBu blue) and the positive end (RdBu red).
const NEGATIVE: [f32; 3] = [33.0, 102.0, 172.0];
const POSITIVE: [f32; 3] = [178.0, 24.0, 43.0];

/// CIELAB (L*, a*, b*) of the blue–orange map: zero, the negative (blue) and positive (orange) ends.
const BO_NEUTRAL: [f64; 3] = [97.0, 0.0, 0.0];
const BO_NEGATIVE: [f64; 3] = [50.0, 2.0, -52.0];
const BO_POSITIVE: [f64; 3] = [50.0, 34.0, 56.0];

/// Colour of a value `v` on a diverging map scaled so that `±scale` hits the end colours.
///
/// Values are clamped to `[-scale, scale]`; a non-positive or non-finite `scale` paints white.
/// This is [`Colormap::RdBu`].
pub fn diverging_color(v: f32, scale: f32) -> [u8; 3] {
    let t = signed_fraction(v, scale);
    let end = if t >= 0.0 { POSITIVE } else { NEGATIVE };
    let a = t.abs();
    std::array::from_fn(|c| (255.0 + (end[c] - 255.0) * a).round() as u8)
}

/// `v / scale` clamped to `[-1, 1]`; 0 when either is not finite or `scale <= 0`.
fn signed_fraction(v: f32, scale: f32) -> f32 {
    if scale > 0.0 && scale.is_finite() && v.is_finite() { (v / scale).clamp(-1.0, 1.0) } else { 0.0 }
}

/// A single-channel map (`H×W`, row-major) as RGBA, symmetric around zero at `max |v|`.
pub fn diverging_rgba(map: &[f32]) -> Vec<u8> {
    Colormap::RdBu.rgba(map, max_abs(map))
}

/// The largest finite `|v|` of a map (0 for an empty or all-NaN map).
pub fn max_abs(map: &[f32]) -> f32 {
    map.iter().fold(0.0f32, |m, v| if v.is_finite() { m.max(v.abs()) } else { m })
}

/// A `3×H×W` image with values in `[0, 1]` as RGBA (`H×W×4`).
pub fn chw_to_rgba(chw: &[f32], pixels: usize) -> Vec<u8> {
    let byte = |v: f32| (v.clamp(0.0, 1.0) * 255.0).round() as u8;
    (0..pixels)
        .flat_map(|i| {
            let at = |c: usize| chw.get(c * pixels + i).copied().unwrap_or(0.0);
            [byte(at(0)), byte(at(1)), byte(at(2)), 255]
        })
        .collect()
}

/// Which signed colour map paints saliency maps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Colormap {
    /// Blue (negative) – white – red (positive), the paper's convention ([`diverging_color`]).
    #[default]
    RdBu,
    /// Blue (negative) – near-white – orange (positive), equal lightness at `v` and `−v`: safe for
    /// red–green and blue–yellow colour blindness (see the module docs).
    BlueOrange,
}

impl Colormap {
    /// Colour of `v` with `±scale` at the ends; values beyond are clamped, non-finite `v` or a
    /// non-positive `scale` give [`Colormap::neutral`].
    pub fn color(self, v: f32, scale: f32) -> [u8; 3] {
        match self {
            Colormap::RdBu => diverging_color(v, scale),
            Colormap::BlueOrange => {
                let t = f64::from(signed_fraction(v, scale));
                let end = if t >= 0.0 { BO_POSITIVE } else { BO_NEGATIVE };
                let a = t.abs();
                let lab: [f64; 3] = std::array::from_fn(|c| BO_NEUTRAL[c] + (end[c] - BO_NEUTRAL[c]) * a);
                srgb_from_lab(lab)
            }
        }
    }

    /// The colour of zero.
    pub fn neutral(self) -> [u8; 3] {
        self.color(0.0, 1.0)
    }

    /// A short human-readable name for keys and captions.
    pub fn label(self) -> &'static str {
        match self {
            Colormap::RdBu => "blue–white–red",
            Colormap::BlueOrange => "blue–orange (colour-blind safe)",
        }
    }

    /// A map (`H×W`, row-major) as RGBA (`H×W×4`) with `±scale` at the ends.
    pub fn rgba(self, map: &[f32], scale: f32) -> Vec<u8> {
        map.iter()
            .flat_map(|&v| {
                let [r, g, b] = self.color(v, scale);
                [r, g, b, 255]
            })
            .collect()
    }
}

/// CIELAB (D65) to 8-bit sRGB, clamped to the gamut.
pub(crate) fn srgb_from_lab([l, a, b]: [f64; 3]) -> [u8; 3] {
    let fy = (l + 16.0) / 116.0;
    let fx = fy + a / 500.0;
    let fz = fy - b / 200.0;
    let delta = 6.0 / 29.0;
    let finv = |t: f64| if t > delta { t * t * t } else { 3.0 * delta * delta * (t - 4.0 / 29.0) };
    let (x, y, z) = (0.95047 * finv(fx), finv(fy), 1.08883 * finv(fz));
    let lin = [
        3.2404542 * x - 1.5371385 * y - 0.4985314 * z,
        -0.9692660 * x + 1.8760108 * y + 0.0415560 * z,
        0.0556434 * x - 0.2040259 * y + 1.0572252 * z,
    ];
    lin.map(|c| {
        let c = c.clamp(0.0, 1.0);
        let s = if c <= 0.0031308 { 12.92 * c } else { 1.055 * c.powf(1.0 / 2.4) - 0.055 };
        (s * 255.0).round() as u8
    })
}

/// 8-bit sRGB to CIELAB (D65); used by the tests to check perceptual properties.
#[cfg(test)]
pub(crate) fn lab_from_srgb(rgb: [u8; 3]) -> [f64; 3] {
    lab_from_linear(rgb.map(|c| linear_from_srgb(f64::from(c) / 255.0)))
}

#[cfg(test)]
pub(crate) fn linear_from_srgb(s: f64) -> f64 {
    if s <= 0.04045 { s / 12.92 } else { ((s + 0.055) / 1.055).powf(2.4) }
}

#[cfg(test)]
pub(crate) fn lab_from_linear([r, g, b]: [f64; 3]) -> [f64; 3] {
    let x = (0.4124564 * r + 0.3575761 * g + 0.1804375 * b) / 0.95047;
    let y = 0.2126729 * r + 0.7151522 * g + 0.0721750 * b;
    let z = (0.0193339 * r + 0.1191920 * g + 0.9503041 * b) / 1.08883;
    let delta: f64 = 6.0 / 29.0;
    let f = |t: f64| if t > delta.powi(3) { t.cbrt() } else { t / (3.0 * delta * delta) + 4.0 / 29.0 };
    let (fx, fy, fz) = (f(x), f(y), f(z));
    [116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_is_white_and_extremes_hit_the_end_colours() {
        assert_eq!(diverging_color(0.0, 1.0), [255, 255, 255]);
        assert_eq!(diverging_color(2.0, 2.0), [178, 24, 43]);
        assert_eq!(diverging_color(-5.0, 2.0), [33, 102, 172]);
        assert_eq!(diverging_color(1.0, 0.0), [255, 255, 255]);
    }

    #[test]
    fn sign_decides_hue_and_magnitude_decides_saturation() {
        let half_pos = diverging_color(0.5, 1.0);
        let half_neg = diverging_color(-0.5, 1.0);
        assert!(half_pos[0] > half_pos[2], "positive is red: {half_pos:?}");
        assert!(half_neg[2] > half_neg[0], "negative is blue: {half_neg:?}");
        assert!(half_pos[1] > diverging_color(1.0, 1.0)[1], "stronger is more saturated");
    }

    #[test]
    fn rgba_layouts() {
        let rgba = diverging_rgba(&[-1.0, 0.0, 1.0, f32::NAN]);
        assert_eq!(rgba.len(), 16);
        assert_eq!(&rgba[4..8], &[255, 255, 255, 255]);
        assert_eq!(&rgba[12..16], &[255, 255, 255, 255], "NaN paints white");
        let img = chw_to_rgba(&[1.0, 0.0, 0.0, 0.5, 0.0, 1.0], 2);
        assert_eq!(img, vec![255, 0, 0, 255, 0, 128, 255, 255]);
    }

    #[test]
    fn lab_round_trip_is_close() {
        for rgb in [[255u8, 255, 255], [33, 102, 172], [178, 24, 43], [10, 200, 90]] {
            let back = srgb_from_lab(lab_from_srgb(rgb));
            for c in 0..3 {
                assert!((i32::from(back[c]) - i32::from(rgb[c])).abs() <= 1, "{rgb:?} -> {back:?}");
            }
        }
    }

    /// Both maps: zero is the neutral colour, `v` and `−v` sit at the same place on their own
    /// side (same distance from neutral along the ramp), and the two sides differ in hue.
    #[test]
    fn both_maps_are_symmetric_around_zero() {
        for map in [Colormap::RdBu, Colormap::BlueOrange] {
            let neutral = map.neutral();
            assert_eq!(map.color(0.0, 3.0), neutral);
            assert_eq!(map.color(-0.0, 3.0), neutral);
            assert_eq!(map.color(f32::NAN, 3.0), neutral, "{map:?}: NaN is neutral");
            let l0 = lab_from_srgb(neutral)[0];
            let mut last = 0.0;
            for k in 1..=10 {
                let v = 0.3 * k as f32; // 0.3 .. 3.0 on a scale of 3
                let (pos, neg) = (lab_from_srgb(map.color(v, 3.0)), lab_from_srgb(map.color(-v, 3.0)));
                // Lightness falls monotonically with |v| on both sides.
                assert!(pos[0] < l0 && neg[0] < l0, "{map:?} at {v}: {pos:?} {neg:?}");
                let drop = l0 - pos[0];
                assert!(drop > last, "{map:?}: lightness must fall with |v|");
                last = drop;
                // Opposite hues: b* has opposite signs (blue vs red/orange).
                assert!(pos[2] > 0.0 && neg[2] < 0.0, "{map:?} at {v}: {pos:?} {neg:?}");
            }
            // Clamping: beyond the scale is the end colour.
            assert_eq!(map.color(10.0, 3.0), map.color(3.0, 3.0));
            assert_eq!(map.color(-10.0, 3.0), map.color(-3.0, 3.0));
        }
    }

    /// The CVD-safe map mirrors lightness exactly: L*(v) = L*(−v) up to 8-bit rounding.
    #[test]
    fn blue_orange_has_mirrored_lightness() {
        for k in 0..=20 {
            let v = k as f32 / 20.0;
            let pos = lab_from_srgb(Colormap::BlueOrange.color(v, 1.0));
            let neg = lab_from_srgb(Colormap::BlueOrange.color(-v, 1.0));
            assert!((pos[0] - neg[0]).abs() < 0.8, "v = {v}: L* {} vs {}", pos[0], neg[0]);
        }
    }

    /// Machado, Oliveira & Fernandes (2009), severity 1.0, in linear RGB.
    const PROTAN: [[f64; 3]; 3] =
        [[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216], [-0.003882, -0.048116, 1.051998]];
    const DEUTAN: [[f64; 3]; 3] =
        [[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413], [-0.011820, 0.042940, 0.968881]];
    const TRITAN: [[f64; 3]; 3] =
        [[1.255528, -0.076749, -0.178779], [-0.078411, 0.930809, 0.147602], [0.004733, 0.691367, 0.303900]];

    fn simulate(m: &[[f64; 3]; 3], rgb: [u8; 3]) -> [f64; 3] {
        let lin = rgb.map(|c| linear_from_srgb(f64::from(c) / 255.0));
        let out: [f64; 3] = std::array::from_fn(|r| (0..3).map(|c| m[r][c] * lin[c]).sum::<f64>().clamp(0.0, 1.0));
        lab_from_linear(out)
    }

    fn delta_e(a: [f64; 3], b: [f64; 3]) -> f64 {
        ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)).sqrt()
    }

    /// Under simulated protanopia, deuteranopia and tritanopia, `+v` and `−v` stay clearly
    /// apart (CIELAB ΔE ≥ 20 at the ends, ≥ 10 at half scale; ΔE ≈ 2.3 is a just-noticeable
    /// difference). Since their lightness is equal, that difference is all hue: the sign stays
    /// readable.
    #[test]
    fn blue_orange_sign_survives_colour_blindness() {
        for (name, m) in [("protan", &PROTAN), ("deutan", &DEUTAN), ("tritan", &TRITAN)] {
            for (v, min) in [(1.0f32, 20.0), (0.5, 10.0)] {
                let d = delta_e(
                    simulate(m, Colormap::BlueOrange.color(v, 1.0)),
                    simulate(m, Colormap::BlueOrange.color(-v, 1.0)),
                );
                assert!(d >= min, "{name} at ±{v}: ΔE {d:.1} < {min}");
            }
        }
    }
}
