//! Rendering of images and saliency maps to RGBA pixel buffers (no web code, no tensors).
//!
//! The signed colour map follows the convention of the LRP literature (Zennit's `bwr`/`coldnhot`
//! family): red = positive relevance, blue = negative, white = zero, symmetric around zero.

/// RGB of the negative end (a ColorBrewer RdBu blue) and the positive end (RdBu red).
const NEGATIVE: [f32; 3] = [33.0, 102.0, 172.0];
const POSITIVE: [f32; 3] = [178.0, 24.0, 43.0];

/// Colour of a value `v` on a diverging map scaled so that `±scale` hits the end colours.
///
/// Values are clamped to `[-scale, scale]`; a non-positive or non-finite `scale` paints white.
pub fn diverging_color(v: f32, scale: f32) -> [u8; 3] {
    let t = if scale > 0.0 && scale.is_finite() && v.is_finite() { (v / scale).clamp(-1.0, 1.0) } else { 0.0 };
    let end = if t >= 0.0 { POSITIVE } else { NEGATIVE };
    let a = t.abs();
    std::array::from_fn(|c| (255.0 + (end[c] - 255.0) * a).round() as u8)
}

/// A single-channel map (`H×W`, row-major) as RGBA, symmetric around zero at `max |v|`.
pub fn diverging_rgba(map: &[f32]) -> Vec<u8> {
    let scale = map.iter().fold(0.0f32, |m, v| if v.is_finite() { m.max(v.abs()) } else { m });
    map.iter()
        .flat_map(|&v| {
            let [r, g, b] = diverging_color(v, scale);
            [r, g, b, 255]
        })
        .collect()
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
}
