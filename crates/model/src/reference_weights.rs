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
    let n = shape.iter().product::<usize>();
    let last = key.rsplit('.').next().unwrap_or("");
    let scale: Box<dyn Fn(f64) -> f64> = if key.starts_with("fc.") {
        if last == "weight" {
            let s = (1.0 / *shape.get(1)? as f64).sqrt();
            Box::new(move |u| (2.0 * u - 1.0) * s)
        } else {
            Box::new(|u| 0.1 * (2.0 * u - 1.0))
        }
    } else if shape.len() == 4 {
        let s = (3.0 / (shape[1] * shape[2] * shape[3]) as f64).sqrt();
        Box::new(move |u| (2.0 * u - 1.0) * s)
    } else if last == "weight" {
        Box::new(|u| 1.0 + 0.2 * (2.0 * u - 1.0))
    } else if last == "bias" || last == "running_mean" {
        Box::new(|u| 0.1 * (2.0 * u - 1.0))
    } else if last == "running_var" {
        Box::new(|u| 0.75 + 0.5 * u)
    } else {
        return None;
    };
    Some(uniform01(seed, key, n).into_iter().map(|u| scale(u) as f32).collect())
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
}
