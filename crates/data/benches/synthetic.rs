//! Times the synthetic generator: 10,000 images of 64×64 (the budget: well under a
//! second natively), both as one call and in batches of 128 as a training loop consumes them,
//! plus 1,000 images of 128×128 and 218×218 for scale.
//!
//! `cargo bench -p biaslens-data --bench synthetic` (plain `std::time`, best of 3 runs).

use std::time::Instant;

use biaslens_data::{ProtectedKind, SyntheticConfig};

/// Best of 3 wall-clock seconds to generate `count` images in batches of `batch`.
fn best_of_3(cfg: &SyntheticConfig, count: usize, batch: usize) -> f64 {
    let mut best = f64::INFINITY;
    for _ in 0..3 {
        let start = Instant::now();
        let mut done = 0;
        while done < count {
            let n = batch.min(count - done);
            let b = cfg.generate(done as u64, n).expect("valid config");
            assert_eq!(b.len(), n);
            std::hint::black_box(&b.pixels);
            done += n;
        }
        best = best.min(start.elapsed().as_secs_f64());
    }
    best
}

fn main() {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("available parallelism: {threads}");
    for (size, count, batch) in [(64u32, 10_000usize, 10_000usize), (64, 10_000, 128), (128, 1_000, 128), (218, 1_000, 128)] {
        for attribute in [ProtectedKind::Necktie, ProtectedKind::Hat] {
            let cfg = SyntheticConfig { size, attribute, ..SyntheticConfig::default() };
            let secs = best_of_3(&cfg, count, batch);
            println!(
                "synthetic {size}x{size} {attribute:?}, batches of {batch}: {count} images in {secs:.3} s ({:.1} µs/image)",
                secs * 1e6 / count as f64
            );
        }
    }
}
