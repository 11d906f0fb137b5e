//! Reproducible formula weights for torchvision-named ResNet state dicts.
//!
//! Every value is a pure function of `(seed, key, index)`: `u_i` is the i-th output of the
//! project's SplitMix64 seeded with `seed ^ FNV-1a(key)`, mapped to a per-parameter scale
//! (convolutions `±√(3/fan_in)`, fc weights `±√(1/fan_in)`, BN weights `1 ± 0.2`, biases and
//! running means `±0.1`, running variances in `[0.75, 1.25)`). `tests/reference/model_reference.py`
//! implements the same formula in numpy, so torchvision and burn can be compared on ResNet-18/50
//! without committing 45–95 MB weight files. Also usable as reproducible untrained weights.

use biaslens_rng::SplitMix64;

/// FNV-1a (64-bit) hash of a parameter key: decorrelates the streams of different tensors.
pub fn fnv1a64(key: &str) -> u64 {
    key.bytes().fold(0xCBF2_9CE4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01B3))
}

/// `n` uniform numbers in `[0, 1)` for `key`: the stream every formula value is drawn from
/// (the reference scripts also draw their inputs from it).
pub fn uniform01(seed: u64, key: &str, n: usize) -> Vec<f64> {
    let mut rng = SplitMix64::new(seed ^ fnv1a64(key));
    (0..n).map(|_| rng.next_f64()).collect()
}

/// The values of parameter `key` (a torchvision state-dict name) of PyTorch shape `shape`.
///
/// `None` for a key the formula does not cover (anything but conv, BN and fc parameters).
pub fn formula_values(seed: u64, key: &str, shape: &[usize]) -> Option<Vec<f32>> {
    /// The per-parameter maps of `u ∈ [0, 1)`, kept as written in the numpy reference (same
    /// operation order, so the same f64 rounding).
    enum Map {
        /// `(2u − 1) · s`.
        Symmetric(f64),
        /// `1 + 0.2 (2u − 1)`.
        AroundOne,
        /// `0.1 (2u − 1)`.
        Tenth,
        /// `0.75 + 0.5 u`.
        Variance,
    }
    let n = shape.iter().product::<usize>();
    let last = key.rsplit('.').next().unwrap_or("");
    let map = if key.starts_with("fc.") {
        if last == "weight" {
            Map::Symmetric((1.0 / *shape.get(1)? as f64).sqrt())
        } else {
            Map::Tenth
        }
    } else if shape.len() == 4 {
        Map::Symmetric((3.0 / (shape[1] * shape[2] * shape[3]) as f64).sqrt())
    } else if last == "weight" {
        Map::AroundOne
    } else if last == "bias" || last == "running_mean" {
        Map::Tenth
    } else if last == "running_var" {
        Map::Variance
    } else {
        return None;
    };
    // A plain loop over the stream of `uniform01` (no intermediate vector, no boxed closure):
    // the reference tests build 10⁷-value state dicts in unoptimised test builds.
    let mut rng = SplitMix64::new(seed ^ fnv1a64(key));
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let u = rng.next_f64();
        let v = match map {
            Map::Symmetric(s) => (2.0 * u - 1.0) * s,
            Map::AroundOne => 1.0 + 0.2 * (2.0 * u - 1.0),
            Map::Tenth => 0.1 * (2.0 * u - 1.0),
            Map::Variance => 0.75 + 0.5 * u,
        };
        out.push(v as f32);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_matches_the_published_vector() {
        // FNV-1a 64 of "a" (Fowler–Noll–Vo reference table).
        assert_eq!(fnv1a64("a"), 0xAF63_DC4C_8601_EC8C);
    }

    #[test]
    fn scales_and_coverage() {
        let conv = formula_values(1, "conv1.weight", &[4, 3, 7, 7]).expect("conv covered");
        let bound = (3.0f64 / 147.0).sqrt() as f32;
        assert!(conv.iter().all(|v| v.abs() <= bound) && conv.iter().any(|v| v.abs() > bound / 2.0));
        let var = formula_values(1, "bn1.running_var", &[64]).expect("bn covered");
        assert!(var.iter().all(|v| (0.75..1.25).contains(v)));
        assert!(formula_values(1, "bn1.num_batches_tracked", &[]).is_none());
        assert_ne!(formula_values(1, "bn1.bias", &[8]), formula_values(1, "bn2.bias", &[8]));
    }

    /// The loop gives bit for bit what the formula written over [`uniform01`] gives (the form
    /// `tests/reference/model_reference.py` transcribes).
    #[test]
    fn loop_equals_the_formula_over_uniform01() {
        let cases: [(&str, &[usize]); 7] = [
            ("conv1.weight", &[4, 3, 7, 7]),
            ("fc.weight", &[2, 16]),
            ("fc.bias", &[2]),
            ("bn1.weight", &[16]),
            ("bn1.bias", &[16]),
            ("layer1.0.bn2.running_mean", &[16]),
            ("layer1.0.bn2.running_var", &[16]),
        ];
        for (key, shape) in cases {
            let n = shape.iter().product();
            let u = uniform01(9, key, n);
            let want: Vec<f32> = u
                .iter()
                .map(|&u| {
                    (if key == "fc.weight" {
                        (2.0 * u - 1.0) * (1.0 / shape[1] as f64).sqrt()
                    } else if shape.len() == 4 {
                        (2.0 * u - 1.0) * (3.0 / (shape[1] * shape[2] * shape[3]) as f64).sqrt()
                    } else if key.ends_with("running_var") {
                        0.75 + 0.5 * u
                    } else if key.starts_with("bn1.weight") {
                        1.0 + 0.2 * (2.0 * u - 1.0)
                    } else {
                        0.1 * (2.0 * u - 1.0)
                    }) as f32
                })
                .collect();
            assert_eq!(formula_values(9, key, shape), Some(want), "{key}");
        }
    }
}
