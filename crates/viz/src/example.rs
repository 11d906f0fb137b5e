//! Realistic example inputs for the charts (for demos, docs and tests): the paper's setting,
//! necktie as the protected attribute and smiling as the target, vanilla and five debiasing
//! methods at three φ values. The numbers are made up to resemble the paper's Figure 3 (ThrOpt
//! leaves the maps unchanged, the ClArC methods move relevance out of the ROI, EqualizedOdds grows
//! with φ); they are not results.

use crate::{Estimate, GroupMaps, LossSeries, Metric, MetricSeries, ResultsTable, RoiBox, SaliencyGrid};

/// The methods of the examples, vanilla first.
pub const METHODS: [&str; 6] = ["Vanilla", "ThrOpt", "SavaniAFT", "ZhangAL", "A-ClArC", "RR-ClArC"];

/// The φ values of the examples.
pub const PHIS: [f64; 3] = [0.2, 0.5, 0.8];

/// How much of the vanilla model's necktie relevance each method keeps (ThrOpt does not change
/// the network, so it keeps all of it).
const KEEPS_TIE: [f32; 6] = [1.0, 1.0, 0.75, 0.55, 0.3, 0.1];

/// Example input for Figure 2: 64×64 maps, four groups, vanilla and five methods.
pub fn saliency_grid() -> SaliencyGrid {
    let (w, h) = (64usize, 64usize);
    let roi = RoiBox { x: 14, y: 52, width: 36, height: 9 };
    let mut groups = Vec::new();
    for (tie, smiling) in [(false, false), (false, true), (true, false), (true, true)] {
        let mean_image = face(w, h, tie, smiling);
        let maps = KEEPS_TIE.iter().enumerate().map(|(m, &keep)| relevance(w, h, tie, smiling, keep, m)).collect();
        groups.push(GroupMaps { label: GroupMaps::label_for("tie", "smiling", tie, smiling), mean_image: Some(mean_image), maps });
    }
    SaliencyGrid {
        width: w,
        height: h,
        columns: METHODS.iter().map(|s| s.to_string()).collect(),
        groups,
        roi: Some(roi),
        title: Some("Mean LRP maps per group (necktie × smiling, φ = 0.5)".into()),
    }
}

/// A smooth bump centred at (`cx`, `cy`) with radii `rx`, `ry` (pixels).
fn bump(x: f32, y: f32, cx: f32, cy: f32, rx: f32, ry: f32) -> f32 {
    let (dx, dy) = ((x - cx) / rx, (y - cy) / ry);
    (-(dx * dx + dy * dy)).exp()
}

/// A mean face: grey background, skin-coloured head, a darker mouth for smiles, a dark tie.
fn face(w: usize, h: usize, tie: bool, smiling: bool) -> Vec<f32> {
    let mut img = vec![0.0f32; 3 * w * h];
    for y in 0..h {
        for x in 0..w {
            let (xf, yf) = (x as f32 + 0.5, y as f32 + 0.5);
            let head = bump(xf, yf, 32.0, 26.0, 14.0, 18.0).powf(0.3);
            let body = if yf > 48.0 { 0.55 * bump(xf, yf, 32.0, 64.0, 26.0, 16.0).powf(0.5) } else { 0.0 };
            let mouth = if smiling { 0.35 * bump(xf, yf, 32.0, 36.0, 6.0, 2.0) } else { 0.15 * bump(xf, yf, 32.0, 36.0, 4.0, 1.2) };
            let eyes = 0.4 * (bump(xf, yf, 26.0, 22.0, 2.5, 1.5) + bump(xf, yf, 38.0, 22.0, 2.5, 1.5));
            let tie_px = if tie { 0.5 * bump(xf, yf, 32.0, 57.0, 3.0, 6.0) } else { 0.0 };
            let skin = [0.85f32, 0.68, 0.58];
            let shirt = [0.85f32, 0.86, 0.9];
            for c in 0..3 {
                let bg = 0.45;
                let v = bg * (1.0 - head) + skin[c] * head - mouth - eyes;
                let v = v * (1.0 - body) + shirt[c] * body - tie_px * [0.2, 0.6, 0.6][c];
                img[c * w * h + y * w + x] = v.clamp(0.0, 1.0);
            }
        }
    }
    img
}

/// A mean signed LRP-like map: mouth and eyes relevant for the target, the tie relevant in the
/// tie groups (positive when not smiling, negative when smiling, as the paper describes), scaled
/// by how much of it the method `keep`s; a faint method-specific texture.
fn relevance(w: usize, h: usize, tie: bool, smiling: bool, keep: f32, method: usize) -> Vec<f32> {
    let sign = if smiling { 1.0 } else { 0.6 };
    let shift = 1.0 - keep; // debiased models look a little more at the face
    (0..w * h)
        .map(|i| {
            let (xf, yf) = ((i % w) as f32 + 0.5, (i / w) as f32 + 0.5);
            let mouth = (0.7 + 0.4 * shift) * sign * bump(xf, yf, 32.0, 36.0, 9.0, 4.0);
            let eyes = (0.3 + 0.2 * shift) * (bump(xf, yf, 26.0, 22.0, 5.0, 3.5) + bump(xf, yf, 38.0, 22.0, 5.0, 3.5));
            let hair = -0.15 * bump(xf, yf, 32.0, 10.0, 14.0, 5.0);
            let tie_sign = if smiling { -1.0 } else { 1.0 };
            let tie_strength = if tie { 0.9 } else { 0.25 };
            let tie_term = keep * tie_sign * tie_strength * bump(xf, yf, 32.0, 56.0, 9.0, 5.0);
            let texture = if keep < 1.0 { 0.03 * ((xf * 0.21 + method as f32).sin() * (yf * 0.17).cos()) } else { 0.0 };
            0.8 * (mouth + eyes + hair + tie_term + texture)
        })
        .collect()
}

/// Example input for Figure 3 and the trade-off scatter: vanilla and five methods at φ =
/// 0.2, 0.5, 0.8, with 95 % bootstrap-like intervals (none for RDDT, a test outcome, and none
/// for the vanilla model on metrics that compare against vanilla).
pub fn results_table() -> ResultsTable {
    // Per method, per φ: (value, half-width of the CI).
    let ci = |rows: [[(f64, f64); 3]; 6]| -> Vec<Vec<Option<Estimate>>> {
        rows.iter()
            .map(|r| r.iter().map(|&(v, hw)| Some(Estimate::with_ci(v, v - hw, v + hw))).collect())
            .collect()
    };
    let rrf = ci([
        [(0.142, 0.008), (0.181, 0.009), (0.236, 0.011)],
        [(0.142, 0.008), (0.181, 0.009), (0.236, 0.011)],
        [(0.128, 0.007), (0.158, 0.009), (0.197, 0.010)],
        [(0.104, 0.007), (0.121, 0.008), (0.152, 0.010)],
        [(0.097, 0.006), (0.112, 0.007), (0.131, 0.008)],
        [(0.071, 0.005), (0.083, 0.006), (0.094, 0.007)],
    ]);
    let eo = ci([
        [(0.081, 0.024), (0.193, 0.029), (0.342, 0.033)],
        [(0.052, 0.021), (0.112, 0.026), (0.204, 0.030)],
        [(0.047, 0.020), (0.098, 0.025), (0.176, 0.029)],
        [(0.031, 0.017), (0.061, 0.021), (0.118, 0.026)],
        [(0.058, 0.022), (0.121, 0.026), (0.219, 0.031)],
        [(0.049, 0.020), (0.104, 0.025), (0.187, 0.030)],
    ]);
    let acc = ci([
        [(0.902, 0.009), (0.871, 0.010), (0.823, 0.012)],
        [(0.894, 0.010), (0.852, 0.011), (0.781, 0.013)],
        [(0.893, 0.010), (0.868, 0.010), (0.839, 0.012)],
        [(0.879, 0.010), (0.881, 0.010), (0.862, 0.011)],
        [(0.861, 0.011), (0.834, 0.012), (0.792, 0.013)],
        [(0.852, 0.011), (0.822, 0.012), (0.781, 0.013)],
    ]);
    let mut adr = ci([
        [(0.0, 0.0); 3],
        [(0.0, 0.0); 3],
        [(0.0041, 0.0012), (0.0063, 0.0015), (0.0082, 0.0018)],
        [(0.0118, 0.0016), (0.0151, 0.0019), (0.0187, 0.0022)],
        [(0.0162, 0.0018), (0.0204, 0.0021), (0.0248, 0.0025)],
        [(0.0213, 0.0020), (0.0266, 0.0023), (0.0311, 0.0027)],
    ]);
    let mut dif = ci([
        [(0.0, 0.0); 3],
        [(0.0, 0.0); 3],
        [(0.552, 0.031), (0.581, 0.030), (0.604, 0.029)],
        [(0.701, 0.027), (0.724, 0.026), (0.748, 0.025)],
        [(0.792, 0.023), (0.815, 0.022), (0.839, 0.021)],
        [(0.846, 0.020), (0.871, 0.019), (0.893, 0.017)],
    ]);
    // Vanilla against itself: not applicable.
    adr[0] = vec![None; 3];
    dif[0] = vec![None; 3];
    let rddt: Vec<Vec<Option<Estimate>>> = [[0.0; 3], [0.0, 0.0, 0.0], [0.0, 1.0, 1.0], [1.0, 1.0, 1.0], [1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]
        .iter()
        .enumerate()
        .map(|(m, r)| if m == 0 { vec![None; 3] } else { r.iter().map(|&v| Some(Estimate::new(v))).collect() })
        .collect();
    ResultsTable {
        phis: PHIS.to_vec(),
        methods: METHODS.iter().map(|s| s.to_string()).collect(),
        baseline: Some(0),
        metrics: vec![
            MetricSeries { metric: Metric::Rrf, values: rrf },
            MetricSeries { metric: Metric::EqualizedOdds, values: eo },
            MetricSeries { metric: Metric::Adr, values: adr },
            MetricSeries { metric: Metric::Dif, values: dif },
            MetricSeries { metric: Metric::Rddt, values: rddt },
            MetricSeries { metric: Metric::Accuracy, values: acc },
        ],
        title: Some("Necktie × smiling, LRP maps, balanced test split".into()),
    }
}

/// Example input for the training curve: the three φ values with two seeds each, 64 steps of a
/// cross-entropy falling from ln 2 (chance for two classes) with a deterministic wobble, as a
/// batch loss does.
pub fn loss_series() -> Vec<LossSeries> {
    let mut out = Vec::new();
    for seed in [42u64, 43] {
        for (i, phi) in PHIS.iter().enumerate() {
            let floor = 0.15 + 0.05 * i as f64 + 0.02 * (seed - 42) as f64;
            let points: Vec<(f64, f64)> = (0..64)
                .map(|step| {
                    let t = f64::from(step);
                    let wobble = 0.04 * ((t * 0.9 + i as f64 + seed as f64).sin());
                    (t + 1.0, floor + (std::f64::consts::LN_2 - floor) * (-t / 18.0).exp() + wobble)
                })
                .collect();
            let last = points.last().map_or(f64::NAN, |p| p.1);
            out.push(LossSeries { label: format!("φ = {phi}, seed {seed}: loss {last:.3}"), points });
        }
    }
    out
}
