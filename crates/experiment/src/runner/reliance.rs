//! Ground-truth reliance on the protected attribute (the synthetic benchmark, or own images with a
//! planted artifact, docs/METHODS.md#planting): every test face rendered twice, with the attribute
//! painted in and painted out, nothing else changed (`SyntheticConfig::generate_counterfactual`, or
//! the planted dataset's `with/` and `clean/` pairs); each model's outputs on the two renders compared
//! pair by pair (docs/METHODS.md#reliance). This is what the saliency metrics try to estimate from
//! maps, measured directly, and the premise of every claim: a method cannot remove a reliance the
//! vanilla model does not have.

use biaslens_metrics::stats::bootstrap;
use biaslens_metrics::{BootstrapSettings, ttest_greater};

use crate::results::{Estimate, Reliance};

fn softmax1(z: &[f32]) -> f64 {
    let (a, b) = (f64::from(z[0]), f64::from(z[1]));
    let m = a.max(b);
    let (ea, eb) = ((a - m).exp(), (b - m).exp());
    eb / (ea + eb)
}

fn estimate(values: &[f64], boot: Option<&BootstrapSettings>) -> Estimate {
    let n = values.len();
    let mean = |idx: &mut dyn Iterator<Item = usize>| {
        let (mut s, mut k) = (0.0, 0usize);
        for i in idx {
            s += values[i];
            k += 1;
        }
        if k == 0 { 0.0 } else { s / k as f64 }
    };
    Estimate { value: mean(&mut (0..n)), ci: boot.and_then(|b| bootstrap(n, b, |r| mean(&mut r.iter().copied()))) }
}

/// The reliance of one model from its outputs on the pairs: network logits `[N, 2]` and final
/// decisions `[N]` with the attribute painted in (`with`) and out (`without`); `target` the
/// faces' labels; `phi` the training correlation (its sign is the shortcut's direction).
pub(crate) fn reliance(
    target: &[u8],
    phi: f64,
    with: (&[f32], &[i64]),
    without: (&[f32], &[i64]),
    boot: Option<&BootstrapSettings>,
) -> Reliance {
    let n = target.len();
    let sign = if phi > 0.0 {
        1.0
    } else if phi < 0.0 {
        -1.0
    } else {
        0.0
    };
    let mut logit_change = Vec::with_capacity(n);
    let mut flips = Vec::with_capacity(n);
    let mut shortcut = Vec::with_capacity(n);
    for i in 0..n {
        let (zw, zo) = (&with.0[2 * i..2 * i + 2], &without.0[2 * i..2 * i + 2]);
        let y = usize::from(target[i]);
        logit_change.push((f64::from(zw[y]) - f64::from(zo[y])).abs());
        flips.push(if with.1[i] == without.1[i] { 0.0 } else { 1.0 });
        shortcut.push(sign * (softmax1(zw) - softmax1(zo)));
    }
    let test = ttest_greater(&shortcut, 0.05);
    Reliance {
        n,
        logit_change: estimate(&logit_change, boot),
        flip_rate: estimate(&flips, boot),
        shortcut: estimate(&shortcut, boot),
        shortcut_p: test.p,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_model_that_ignores_the_attribute_has_no_reliance_and_a_shortcut_has_its_sign() {
        let target = [0u8, 1, 0, 1];
        let z = [0.5f32, -0.5, -1.0, 2.0, 0.3, 0.1, -2.0, 1.0];
        let d = [0i64, 1, 0, 1];
        let none = reliance(&target, -0.8, (&z, &d), (&z, &d), None);
        assert_eq!((none.logit_change.value, none.flip_rate.value, none.shortcut.value), (0.0, 0.0, 0.0));
        assert_eq!(none.shortcut_p, None, "identical pairs: the test is undefined, never significant");
        // With the attribute, the class-1 logit drops by 1 on every face: at φ < 0 (attribute goes
        // with not smiling) that is the shortcut's direction.
        let zw: Vec<f32> = z.chunks(2).flat_map(|c| [c[0], c[1] - 1.0]).collect();
        let dw = [0i64, 1, 0, 0];
        let r = reliance(&target, -0.8, (&zw, &dw), (&z, &d), None);
        assert!(r.shortcut.value > 0.0 && r.shortcut_p.is_some_and(|p| p < 0.05), "four faces, one-sided: {r:?}");
        assert!((r.logit_change.value - 0.5).abs() < 1e-6, "only the true-class logit of the positives moves: {r:?}");
        assert!((r.flip_rate.value - 0.25).abs() < 1e-12);
        let opposite = reliance(&target, 0.8, (&zw, &dw), (&z, &d), None);
        assert!(opposite.shortcut.value < 0.0);
    }
}
