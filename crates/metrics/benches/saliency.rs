//! Benchmark: every saliency metric over 10,000 procedurally generated 218×218 map pairs with the
//! necktie ROI (paper §3 metrics, code defaults), timed with `std::time` only (no criterion: compile
//! time matters on the 2-core build machine).
//!
//! Maps are generated in chunks of 500 (untimed) so memory stays small; only
//! `per_image_metrics` + `saliency_report` are timed. The numpy side is
//! `tests/reference/metrics_reference.py --bench`, which generates the same kind of maps.
//!
//! Run: `cargo bench -p biaslens-metrics --bench saliency` (release profile).

use std::hint::black_box;
use std::time::{Duration, Instant};

use biaslens_metrics::{RoiPreset, SaliencySettings, per_image_metrics, saliency_report, stats::SplitMix64};

const N: usize = 10_000;
const CHUNK: usize = 500;
const SIDE: usize = 218;

/// Fills `out` with a smooth blob plus noise in [-1, 1): a stand-in for an attribution map.
fn fill(out: &mut [f32], rng: &mut SplitMix64, shift: f32) {
    for (k, map) in out.chunks_exact_mut(SIDE * SIDE).enumerate() {
        let cy = 100.0 + 60.0 * (k as f32 * 0.37).sin() + shift;
        let cx = 109.0 + 40.0 * (k as f32 * 0.11).cos();
        for (i, v) in map.iter_mut().enumerate() {
            let (y, x) = ((i / SIDE) as f32, (i % SIDE) as f32);
            let r2 = ((y - cy) * (y - cy) + (x - cx) * (x - cx)) / 1600.0;
            let noise = (rng.next_u64() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0;
            *v = (-r2).exp() + 0.1 * noise;
        }
    }
}

fn main() {
    let roi = RoiPreset::Necktie.roi();
    let s = SaliencySettings::default();
    let mut rng = SplitMix64::new(42);
    let mut v = vec![0.0f32; CHUNK * SIDE * SIDE];
    let mut d = vec![0.0f32; CHUNK * SIDE * SIDE];
    let mut per = Vec::with_capacity(N);
    let mut timed = Duration::ZERO;
    for _ in 0..N / CHUNK {
        fill(&mut v, &mut rng, 0.0);
        fill(&mut d, &mut rng, 30.0);
        let t = Instant::now();
        let chunk = per_image_metrics(black_box(&v), black_box(&d), 1, &roi, &s).expect("shapes match");
        timed += t.elapsed();
        per.extend(chunk);
    }
    let t = Instant::now();
    let report = saliency_report(&per, None, &s, None).expect("no groups");
    timed += t.elapsed();
    let secs = timed.as_secs_f64();
    println!(
        "rust: {N} map pairs {SIDE}x{SIDE}, necktie ROI, all saliency metrics: {secs:.3} s \
         ({:.1} µs per pair); RRF={:.6} ADR={:.6} DIF={:.6} RDDT p={:?}",
        secs * 1e6 / N as f64,
        report.pooled.rrf.mean,
        report.pooled.adr.mean,
        report.pooled.dif.mean,
        report.pooled.rddt.test.p
    );
}
