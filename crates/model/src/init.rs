//! Seeded initial weights that are bit-identical on every device and platform.
//!
//! burn's own initialisers draw from the device's random number generator, which differs
//! between backends (flex, wgpu) and is process-global. Here every value is computed on the host
//! from the project's SplitMix64 with IEEE-754 basic arithmetic only (`+ − × ÷ √`, which are
//! correctly rounded everywhere, and no platform `ln`/`cos`), then uploaded once with
//! `Tensor::from_data`. So the same seed gives the same bits natively, in wasm32 and on any GPU.
//!
//! The distributions are torchvision's ResNet initialisation (`torchvision.models.resnet.ResNet.__init__`):
//!
//! - convolutions: `kaiming_normal_(w, mode="fan_out", nonlinearity="relu")`, i.e.
//!   `N(0, σ²)` with `σ = √(2 / fan_out)`, `fan_out = C_out · k_h · k_w` (He et al., "Delving
//!   Deep into Rectifiers", ICCV 2015) — [`kaiming_normal_fan_out`];
//! - BatchNorm: γ = 1, β = 0 (running mean 0, running variance 1);
//! - the final `Linear` keeps PyTorch's default `reset_parameters`: weight
//!   `kaiming_uniform_(a=√5)` = `U(−1/√fan_in, 1/√fan_in)`, bias `U(−1/√fan_in, 1/√fan_in)` —
//!   [`linear_default`].
//!
//! Streams: tensor `key` (a torchvision state-dict name such as `layer1.0.conv1.weight`) under
//! seed `s` draws from `SplitMix64::for_item(s, FNV-1a(key))`, in PyTorch's C order. A tensor's
//! values therefore depend only on `(seed, key, shape)`, not on the other layers (changing the
//! number of classes leaves every convolution unchanged).

use biaslens_rng::SplitMix64;

use crate::reference_weights::fnv1a64;

/// The generator of tensor `key` under `seed`.
pub fn stream(seed: u64, key: &str) -> SplitMix64 {
    SplitMix64::for_item(seed, fnv1a64(key))
}

/// Natural logarithm of a positive, normal, finite `x` from basic arithmetic only (so the result
/// does not depend on the platform's libm): `x = m · 2ᵉ` with `m ∈ [√½, √2)`, then
/// `ln m = 2 artanh((m − 1)/(m + 1))` by its series (12 terms; |t| ≤ 0.172, truncation below
/// 1e-19). Within a few ulp of `f64::ln`.
pub fn portable_ln(x: f64) -> f64 {
    debug_assert!(x.is_finite() && x >= f64::MIN_POSITIVE, "portable_ln({x})");
    let bits = x.to_bits();
    let mut e = ((bits >> 52) & 0x7ff) as i64 - 1023;
    let mut m = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | 0x3ff0_0000_0000_0000);
    if m > std::f64::consts::SQRT_2 {
        m *= 0.5;
        e += 1;
    }
    let t = (m - 1.0) / (m + 1.0);
    let t2 = t * t;
    // Σ_{k=0}^{11} t^{2k} / (2k + 1), Horner from the highest term.
    let mut p = 0.0;
    for k in (0..12).rev() {
        p = p * t2 + 1.0 / (2 * k + 1) as f64;
    }
    2.0 * t * p + e as f64 * std::f64::consts::LN_2
}

/// Standard normal draws by Marsaglia's polar method (both values of each accepted pair are
/// used), with [`portable_ln`] so the numbers are the same on every platform.
#[derive(Debug, Clone)]
pub struct StandardNormal {
    rng: SplitMix64,
    spare: Option<f64>,
}

impl StandardNormal {
    /// Draws from `rng`.
    pub fn new(rng: SplitMix64) -> Self {
        Self { rng, spare: None }
    }

    /// The next standard normal value.
    pub fn sample(&mut self) -> f64 {
        if let Some(z) = self.spare.take() {
            return z;
        }
        loop {
            let u = 2.0 * self.rng.next_f64() - 1.0;
            let v = 2.0 * self.rng.next_f64() - 1.0;
            let s = u * u + v * v;
            if s > 0.0 && s < 1.0 {
                let f = (-2.0 * portable_ln(s) / s).sqrt();
                self.spare = Some(v * f);
                return u * f;
            }
        }
    }
}

/// torchvision's ResNet convolution init: `N(0, 2 / fan_out)`, `fan_out = C_out · k_h · k_w`
/// (He et al. 2015, `kaiming_normal_(mode="fan_out", nonlinearity="relu")`).
///
/// # Shapes
/// `shape` is PyTorch's and burn's conv layout `[C_out, C_in / groups, k_h, k_w]`; the result
/// has `shape.iter().product()` values in C order.
pub fn kaiming_normal_fan_out(seed: u64, key: &str, shape: [usize; 4]) -> Vec<f32> {
    let fan_out = shape[0] * shape[2] * shape[3];
    let std = (2.0 / fan_out as f64).sqrt();
    let mut normal = StandardNormal::new(stream(seed, key));
    (0..shape.iter().product::<usize>())
        .map(|_| (normal.sample() * std) as f32)
        .collect()
}

/// PyTorch's default `nn.Linear` init (`kaiming_uniform_(a=√5)` for the weight, He et al.
/// 2015, which is `U(−1/√fan_in, 1/√fan_in)`; the bias from the same interval), drawn for the
/// torchvision keys `{prefix}.weight` and `{prefix}.bias`.
///
/// # Shapes
/// Returns the weight as `[d_out, d_in]` in C order (PyTorch's layout; burn's `Linear` keeps the
/// transpose `[d_in, d_out]`) and the bias as `[d_out]`.
pub fn linear_default(seed: u64, prefix: &str, d_out: usize, d_in: usize) -> (Vec<f32>, Vec<f32>) {
    let bound = 1.0 / (d_in as f64).sqrt();
    let draw = |key: String, n: usize| -> Vec<f32> {
        let mut rng = stream(seed, &key);
        (0..n).map(|_| rng.uniform(-bound, bound) as f32).collect()
    };
    (
        draw(format!("{prefix}.weight"), d_out * d_in),
        draw(format!("{prefix}.bias"), d_out),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn portable_ln_agrees_with_libm() {
        let mut rng = SplitMix64::new(5);
        for _ in 0..100_000 {
            let x = rng.next_f64().max(1e-300) * 2f64.powi(rng.below(40) as i32 - 20);
            let (a, b) = (portable_ln(x), x.ln());
            assert!(
                (a - b).abs() <= 4.0 * f64::EPSILON * b.abs().max(1.0),
                "ln({x}): {a} vs {b}"
            );
        }
        assert_eq!(portable_ln(1.0), 0.0);
        assert!((portable_ln(f64::MIN_POSITIVE) - f64::MIN_POSITIVE.ln()).abs() < 1e-12);
    }

    #[test]
    fn normal_moments() {
        let mut n = StandardNormal::new(SplitMix64::new(1));
        let xs: Vec<f64> = (0..200_000).map(|_| n.sample()).collect();
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / xs.len() as f64;
        let within1 = xs.iter().filter(|x| x.abs() < 1.0).count() as f64 / xs.len() as f64;
        assert!(mean.abs() < 0.01, "mean {mean}");
        assert!((var - 1.0).abs() < 0.01, "var {var}");
        // 0.6827 for a normal (0.577 for a uniform of the same variance).
        assert!((within1 - 0.6827).abs() < 0.005, "P(|z| < 1) = {within1}");
    }

    /// Pinned bits: if these change, every seeded network changes (and a platform that disagreed
    /// would fail here). `[2, 1, 1, 2]`: fan_out 4, σ = √½.
    #[test]
    fn pinned_values() {
        let w = kaiming_normal_fan_out(0, "conv1.weight", [2, 1, 1, 2]);
        let bits: Vec<u32> = w.iter().map(|v| v.to_bits()).collect();
        assert_eq!(bits, PINNED, "{w:?}");
    }
    /// Also what an independent Python transcription (SplitMix64, FNV-1a, polar method with
    /// `math.log`) gives: -0.373598, -0.7850034, -0.1507084, 0.11058995.
    const PINNED: [u32; 4] = [3_200_206_909, 3_209_229_820, 3_189_396_302, 1_038_253_308];
}
