//! The drawing machinery of the synthetic faces: a `3×s×s` canvas, signed-distance shapes,
//! the row-span fill with one-pixel anti-aliasing, and the additive pixel noise.
//!
//! Drawing works in *normalised* coordinates (`0..1` across the image) with signed distance
//! functions, each evaluated only over its shape's bounding box and anti-aliased over one pixel,
//! so 64, 128 and 218 pixel images show the same faces at different resolutions. The large
//! shapes are evaluated only along their edges: each shape comes with a closed form of its extent
//! along a row ([`RowSpan`]), pixels well outside are skipped and pixels well inside get full
//! cover directly ([`Canvas::fill_rows`]; bit for bit the result of evaluating every pixel, which
//! a test checks).
//!
//! The shapes are generic (the head outline is an ellipse narrowed towards its bottom): `face`
//! decides what to paint, where, and in which colour.

use crate::rng::SplitMix64;

/// An RGB colour, each channel in `[0, 1]`.
pub(super) type Rgb = [f32; 3];

/// `v` modulo `step`, in `[0, step)` for `v ≥ 0` (every caller passes a non-negative `v`).
/// A truncating cast, not `floor`/`rem_euclid`, which are library calls on baseline x86-64.
#[inline(always)]
pub(super) fn wrap(v: f32, step: f32) -> f32 {
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
pub(super) fn wrap_small(v: f32, step: f32) -> f32 {
    v - ((v * (1.0 / step)) as i32) as f32 * step
}

/// A triangle wave of period 1 in `[0, 1]`: 0 at integers, 1 half-way (a cheap `|sin|`-like bump).
pub(super) fn tri_wave(v: f32) -> f32 {
    1.0 - (2.0 * wrap(v, 1.0) - 1.0).abs()
}

/// Signed distance (approximate, in normalised units) to an axis-aligned ellipse.
#[inline(always)]
pub(super) fn ellipse(x: f32, y: f32, cx: f32, cy: f32, rx: f32, ry: f32) -> f32 {
    // Reciprocals are loop-invariant in every caller, so they are hoisted out of pixel loops.
    let (dx, dy) = ((x - cx) * (1.0 / rx), (y - cy) * (1.0 / ry));
    ((dx * dx + dy * dy).sqrt() - 1.0) * rx.min(ry)
}

/// A head: an ellipse whose lower half narrows towards the chin by `jaw`.
#[inline(always)]
pub(super) fn head(x: f32, y: f32, cx: f32, cy: f32, rx: f32, ry: f32, jaw: f32) -> f32 {
    ellipse(x, y, cx, cy, head_rx(y, cy, rx, ry, jaw), ry)
}

/// The horizontal radius of [`head`]'s ellipse in row `y`.
#[inline(always)]
pub(super) fn head_rx(y: f32, cy: f32, rx: f32, ry: f32, jaw: f32) -> f32 {
    let t = (y - cy) * (1.0 / ry);
    let narrow = 1.0 - jaw * t.max(0.0) * t.max(0.0);
    rx * narrow.max(0.2)
}

/// Signed distance to a box of half-extents `(hw, hh)` with corner radius `r`.
#[inline(always)]
pub(super) fn rounded_box(x: f32, y: f32, cx: f32, cy: f32, hw: f32, hh: f32, r: f32) -> f32 {
    let qx = (x - cx).abs() - hw + r;
    let qy = (y - cy).abs() - hh + r;
    let outside = (qx.max(0.0).powi(2) + qy.max(0.0).powi(2)).sqrt();
    outside + qx.max(qy).min(0.0) - r
}

/// Distance to the segment `a–b`.
#[inline(always)]
pub(super) fn segment(x: f32, y: f32, a: [f32; 2], b: [f32; 2]) -> f32 {
    segment_sq(x, y, a, b).sqrt()
}

/// Squared distance to the segment `a–b` (the minimum over several segments needs one square
/// root: `√` is correctly rounded and monotonic, so `√min = min √` bit for bit).
#[inline(always)]
pub(super) fn segment_sq(x: f32, y: f32, a: [f32; 2], b: [f32; 2]) -> f32 {
    let (px, py) = (x - a[0], y - a[1]);
    let (bx, by) = (b[0] - a[0], b[1] - a[1]);
    let len2 = bx * bx + by * by;
    let h = if len2 > 0.0 { ((px * bx + py * by) / len2).clamp(0.0, 1.0) } else { 0.0 };
    let (dx, dy) = (px - bx * h, py - by * h);
    dx * dx + dy * dy
}

/// Signed distance (exact inside, approximate outside) to the triangle `a, b, c` (any winding).
#[inline(always)]
pub(super) fn triangle(x: f32, y: f32, a: [f32; 2], b: [f32; 2], c: [f32; 2]) -> f32 {
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
pub(super) struct RowSpan {
    pub(super) outer: [f64; 2],
    pub(super) inner: [f64; 2],
    pub(super) hole: [f64; 2],
}

impl RowSpan {
    pub(super) const NONE: [f64; 2] = [1.0, 0.0];
    /// The shape misses the row.
    pub(super) const EMPTY: Self = Self { outer: Self::NONE, inner: Self::NONE, hole: Self::NONE };
    /// Nothing known: evaluate the whole row.
    const ALL: Self = Self { outer: [f64::NEG_INFINITY, f64::INFINITY], inner: Self::NONE, hole: Self::NONE };

    /// A shape between `outer` with a certain interior `inner`.
    pub(super) fn new(outer: [f64; 2], inner: [f64; 2]) -> Self {
        Self { outer, inner, hole: Self::NONE }
    }

    /// `max(shape, v)` for a `v` constant along the row (a horizontal half-plane).
    pub(super) fn max_row(self, v: f32, t: f64) -> Self {
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
    pub(super) fn max(self, other: Self) -> Self {
        let both = |a: [f64; 2], b: [f64; 2]| [a[0].max(b[0]), a[1].min(b[1])];
        Self { outer: both(self.outer, other.outer), inner: both(self.inner, other.inner), hole: self.hole }
    }

    /// `min(self, other)`: the union of two shapes (hull of the outer intervals, the wider
    /// interior; neither may have a hole).
    pub(super) fn min(self, other: Self) -> Self {
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
    pub(super) fn outer_only(self) -> Self {
        Self { inner: Self::NONE, ..self }
    }
}

/// [`RowSpan`] of `ellipse(·, y, cx, cy, rx, ry)`: its distance `(√(u² + v²) − 1)·m`
/// (`u = (x − cx)/rx`, `v = (y − cy)/ry`, `m = min(rx, ry)`) is ≤ −t for `√(u² + v²) ≤ 1 − t/m`
/// and ≥ t for `√(u² + v²) ≥ 1 + t/m`.
pub(super) fn ellipse_row(y: f32, cx: f32, cy: f32, rx: f32, ry: f32, t: f64) -> RowSpan {
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
pub(super) fn rounded_box_row(y: f32, cx: f32, cy: f32, hw: f32, hh: f32, r: f32, t: f64) -> RowSpan {
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
pub(super) fn band_row(cx: f32, half: f32, t: f64) -> RowSpan {
    let (cx, half) = (f64::from(cx), f64::from(half));
    RowSpan::new([cx - half - t, cx + half + t], [cx - half + t, cx + half - t])
}

/// [`RowSpan`] of `segment(·, y, a, b) − r`: the distance to a segment is at least the distance
/// to its bounding box.
pub(super) fn segment_row(y: f32, a: [f32; 2], b: [f32; 2], r: f32, t: f64) -> RowSpan {
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
pub(super) fn triangle_row(y: f32, a: [f32; 2], b: [f32; 2], c: [f32; 2], t: f64) -> RowSpan {
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
pub(super) struct Canvas<'a> {
    pub(super) out: &'a mut [f32],
    n: usize,
    sf: f32,
    /// Optional pixel clip box `[x0, y0, x1, y1)`.
    pub(super) clip: Option<[usize; 4]>,
    /// Ignore row spans and evaluate the distance at every pixel of every box (the reference
    /// the span fill is tested against).
    pub(super) exhaustive: bool,
}

/// Slack, in pixels of distance, that row spans leave for the float32 rounding of the distance
/// functions (their rounding error is below 1e-3 pixels at 218×218).
pub(super) const SPAN_MARGIN: f32 = 0.05;

impl<'a> Canvas<'a> {
    pub(super) fn new(out: &'a mut [f32], s: u32) -> Self {
        Self { out, n: s as usize, sf: s as f32, clip: None, exhaustive: false }
    }

    /// Fill the shape `sdf < 0` (normalised units) inside the normalised box `[x0, y0, x1, y1]`,
    /// evaluating `sdf` at every pixel of the box.
    pub(super) fn fill(&mut self, bbox: [f32; 4], col: Rgb, sdf: impl Fn(f32, f32) -> f32) {
        self.fill_rows(bbox, col, sdf, |_, _| RowSpan::ALL);
    }

    /// [`Canvas::fill`] for a large shape whose extent along each row is known in closed form:
    /// `rows(y, t)` gives the row's [`RowSpan`] for `t` = half a pixel plus [`SPAN_MARGIN`] (in
    /// normalised units). Pixels outside `outer` are skipped (their cover is 0), pixels inside
    /// `inner` get full cover without evaluating `sdf` (their cover is exactly 1), and only the
    /// pixels along the edge are evaluated, so the result is bit for bit what [`Canvas::fill`]
    /// gives.
    pub(super) fn fill_rows(&mut self, bbox: [f32; 4], col: Rgb, sdf: impl Fn(f32, f32) -> f32, rows: impl Fn(f32, f64) -> RowSpan) {
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
pub(super) fn add_noise(out: &mut [f32], sd: f32, mut rng: SplitMix64) {
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
    use super::super::face::FaceParams;
    use super::super::{ProtectedKind, SyntheticConfig};

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
