//! One synthetic face: every random choice behind it ([`FaceParams::draw`], in a fixed order
//! whatever the labels are), the palette it draws its colours from, and how it is painted
//! ([`FaceParams::render`]): background, hair, shirt, neck, ears, head, eyes, nose, mouth, the
//! distractors (glasses, earrings, badge, background pattern), and the protected attribute
//! (a necktie or a hat), clipped to its ROI.
//!
//! The target is the mouth: a smile curves up at the corners (and may open), a neutral face
//! shows a flat or sagging line; [`SyntheticConfig::expression`] fades the difference and
//! [`SyntheticConfig::open_mouth_rate`] sets how many smiles open. The protected attribute stands for CelebA's *Wearing_Necktie*
//! or *Wearing_Hat* (Sztukiewicz et al., XAI 2025, §4).

use biaslens_metrics::Roi;

use super::raster::{
    Canvas, Rgb, RowSpan, SPAN_MARGIN, band_row, ellipse, ellipse_row, head, head_rx, rounded_box, rounded_box_row, segment, segment_row, segment_sq,
    tri_wave, triangle, triangle_row, wrap, wrap_small,
};
use super::{FaceTraits, ProtectedKind, SyntheticConfig};
use crate::rng::SplitMix64;

/// Period of the background dot pattern (normalised units).
const DOT_STEP: f32 = 0.125;
/// Radius of a background dot.
const DOT_RADIUS: f32 = 0.022;
/// Half-width of a neutral mouth relative to the head's half-width `rx`: between the widest
/// non-smiling mouth (0.42) and the narrowest smile (0.45).
const NEUTRAL_MOUTH: f32 = 0.435;

/// Every random choice behind one face, drawn in a fixed order whatever the labels are.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct FaceParams {
    pub(super) traits: FaceTraits,
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
    /// Paint the protected attribute when the face has it ([`SyntheticConfig::paint_attribute`]).
    paint_attribute: bool,
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
    pub(super) fn draw(cfg: &SyntheticConfig, index: u64) -> Self {
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
        let mouth_open = smiling && r.bernoulli(cfg.open_mouth_rate);
        // The expression strength e (no draw): the width moves towards the neutral width,
        // written `w·e + neutral·(1 − e)` so that e = 1 keeps `w` and e = 0 gives `neutral`
        // exactly; a closed smile's curve and a sag scale by e, an open mouth keeps its depth.
        let e = cfg.expression as f32;
        let mouth_w = mouth_w * e + rx * NEUTRAL_MOUTH * (1.0 - e);
        let smile_depth = if mouth_open { smile_depth } else { smile_depth * e };
        let frown = frown * e;

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
            paint_attribute: cfg.paint_attribute,
        }
    }

    /// Paint the face into `out` (`3×s×s`, CHW). `roi` is the attribute's box.
    pub(super) fn render(&self, out: &mut [f32], s: u32, roi: &Roi, kind: ProtectedKind) {
        self.render_with(out, s, roi, kind, false);
    }

    /// [`FaceParams::render`], optionally with every shape evaluated at every pixel of its box
    /// (`exhaustive`, the reference for the row-span fill).
    pub(super) fn render_with(&self, out: &mut [f32], s: u32, roi: &Roi, kind: ProtectedKind, exhaustive: bool) {
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
        if p.traits.attribute && p.paint_attribute {
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

#[cfg(test)]
mod tests {
    use super::*;

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

    /// Pixels in which a smiling and a non-smiling render of each face differ, summed over 40
    /// faces drawn once all smiling (open with probability `open_mouth_rate`) and once all not
    /// smiling. A non-smiling face makes no open-mouth draw, so the draws after it shift;
    /// without distractors and attribute nothing painted depends on them.
    fn smile_contrast(expression: f64, open_mouth_rate: f64) -> usize {
        let base = SyntheticConfig { expression, open_mouth_rate, distractors: false, attribute_rate: 0.0, ..SyntheticConfig::default() };
        let (smiling, neutral) = (SyntheticConfig { target_rate: 1.0, ..base.clone() }, SyntheticConfig { target_rate: 0.0, ..base });
        let roi = smiling.roi().expect("valid size");
        let n = 3 * smiling.image_size().pixels();
        let (mut a, mut b) = (vec![0.0f32; n], vec![0.0f32; n]);
        let mut differ = 0;
        for i in 0..40 {
            let (p, q) = (FaceParams::draw(&smiling, i), FaceParams::draw(&neutral, i));
            assert!(p.traits.smiling && !q.traits.smiling);
            assert_eq!(p.traits.mouth_open, open_mouth_rate == 1.0);
            p.render(&mut a, smiling.size, &roi, smiling.attribute);
            q.render(&mut b, neutral.size, &roi, neutral.attribute);
            differ += a.iter().zip(&b).filter(|(x, y)| x.to_bits() != y.to_bits()).count();
        }
        differ
    }

    /// Lowering `expression` makes closed smiles and non-smiling mouths more alike, until at 0
    /// they are the same shape; open smiles still show.
    #[test]
    fn expression_fades_the_closed_smile() {
        let (full, half, none) = (smile_contrast(1.0, 0.0), smile_contrast(0.5, 0.0), smile_contrast(0.0, 0.0));
        assert!(full > half && half > none, "pixels differing: {full} at 1, {half} at 0.5, {none} at 0");
        assert_eq!(none, 0);
        assert!(smile_contrast(0.0, 1.0) > full / 2, "open smiles must stay visible at expression 0");
    }

    /// `expression` moves no random draw: every other parameter of a face is the same.
    #[test]
    fn expression_changes_only_the_mouth() {
        for expression in [0.0, 0.3] {
            let cfg = SyntheticConfig { expression, ..SyntheticConfig::default() };
            let full = SyntheticConfig::default();
            for i in 0..300 {
                let (p, q) = (FaceParams::draw(&cfg, i), FaceParams::draw(&full, i));
                let mouthless = |f: &FaceParams| FaceParams { mouth_w: 0.0, smile_depth: 0.0, frown: 0.0, ..f.clone() };
                assert_eq!(mouthless(&p), mouthless(&q), "image {i}");
                if p.traits.mouth_open {
                    assert_eq!(p.smile_depth.to_bits(), q.smile_depth.to_bits(), "image {i}: an open mouth keeps its depth");
                }
            }
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
}
