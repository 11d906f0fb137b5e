//! `ResNetConfig::init_seeded`: same seed → the same bits, another seed → other weights, and
//! the values follow torchvision's ResNet initialisation (He et al. 2015).

use biaslens_model::{ResNetConfig, init};
use burn::prelude::*;

/// The network's state dict (torchvision keys, PyTorch layout) as `(key, shape, values)`.
fn state(config: &ResNetConfig, seed: u64) -> Vec<(String, Vec<usize>, Vec<f32>)> {
    let model = config.init_seeded(seed, &Device::flex());
    let bytes = pollster::block_on(model.export_torchvision()).expect("export");
    let st = safetensors::SafeTensors::deserialize(&bytes).expect("parses");
    let mut out: Vec<_> = st
        .tensors()
        .into_iter()
        .filter(|(_, t)| t.dtype() == safetensors::Dtype::F32)
        .map(|(k, t)| {
            let v = t
                .data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            (k, t.shape().to_vec(), v)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn std_dev(v: &[f32]) -> f64 {
    let n = v.len() as f64;
    let mean = v.iter().map(|&x| f64::from(x)).sum::<f64>() / n;
    (v.iter()
        .map(|&x| (f64::from(x) - mean).powi(2))
        .sum::<f64>()
        / n)
        .sqrt()
}

#[test]
fn same_seed_same_bits_other_seed_other_weights() {
    let config = ResNetConfig::compact(2);
    let a = state(&config, 7);
    let b = state(&config, 7);
    let c = state(&config, 8);
    assert_eq!(a.len(), b.len());
    for ((ka, _, va), (_, _, vb)) in a.iter().zip(&b) {
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(va), bits(vb), "{ka}: same seed, same bits");
    }
    for ((k, _, va), (_, _, vc)) in a.iter().zip(&c) {
        if k.ends_with(".weight") && !k.contains("bn") && !k.contains("downsample.1") {
            assert_ne!(va, vc, "{k}: another seed, other weights");
        }
    }
}

#[test]
fn values_follow_torchvision_resnet_init() {
    let seed = 3;
    let config = ResNetConfig::resnet18(2).with_width(32);
    let mut checked_std = 0;
    for (key, shape, v) in state(&config, seed) {
        let is_bn = key.starts_with("bn") || key.contains(".bn") || key.contains("downsample.1.");
        if key.starts_with("fc.") {
            // PyTorch's Linear default: U(−1/√fan_in, 1/√fan_in), fan_in = 8 · 32 = 256.
            let bound = 1.0 / 256f32.sqrt();
            assert!(
                v.iter().all(|x| x.abs() <= bound),
                "{key} within ±1/√fan_in"
            );
            let (w, b) = init::linear_default(seed, "fc", 2, 256);
            if key == "fc.weight" {
                assert_eq!(shape, vec![2, 256]);
                assert_eq!(v, w, "fc.weight in PyTorch layout is the documented stream");
                // Uniform: σ = bound/√3.
                let s = std_dev(&v);
                let want = f64::from(bound) / 3f64.sqrt();
                assert!((s / want - 1.0).abs() < 0.1, "fc.weight std {s} vs {want}");
            } else {
                assert_eq!(v, b, "fc.bias is the documented stream");
            }
        } else if is_bn {
            let want = if key.ends_with("weight") || key.ends_with("running_var") {
                1.0
            } else {
                0.0
            };
            assert!(v.iter().all(|&x| x == want), "{key} = {want}");
        } else {
            assert_eq!(shape.len(), 4, "{key} is a convolution");
            let dims = [shape[0], shape[1], shape[2], shape[3]];
            assert_eq!(
                v,
                init::kaiming_normal_fan_out(seed, &key, dims),
                "{key} is the documented stream of its torchvision key"
            );
            if v.len() >= 10_000 {
                // kaiming_normal_(mode="fan_out", nonlinearity="relu"): σ = √(2 / (C_out·k²)).
                let want = (2.0 / (shape[0] * shape[2] * shape[3]) as f64).sqrt();
                let s = std_dev(&v);
                // Relative standard error of a sample σ is 1/√(2n) ≤ 0.7% here.
                assert!((s / want - 1.0).abs() < 0.03, "{key}: std {s} vs {want}");
                let within = v.iter().filter(|&&x| f64::from(x).abs() < want).count() as f64
                    / v.len() as f64;
                assert!(
                    (within - 0.6827).abs() < 0.02,
                    "{key}: normal, P(|w| < σ) = {within}"
                );
                checked_std += 1;
            }
        }
    }
    assert!(checked_std >= 10, "checked {checked_std} convolutions");
}

#[test]
fn weights_depend_only_on_seed_key_and_shape() {
    // Changing the number of classes changes fc only.
    let two = state(&ResNetConfig::compact(2), 5);
    let three = state(&ResNetConfig::compact(3), 5);
    for ((k, _, a), (_, _, b)) in two.iter().zip(&three) {
        if !k.starts_with("fc.") {
            assert_eq!(a, b, "{k}");
        }
    }
}
