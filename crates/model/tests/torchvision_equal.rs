//! The ResNets equal torchvision: formula weights (see `tests/reference/model_reference.py`),
//! serialised in memory as a torchvision-named safetensors state dict, loaded through the real
//! loader, run on flex; logits compared with torchvision's (float32 and float64).
//!
//! Each model's state dict (12 M values for ResNet-18, 26 M for ResNet-50) is generated once
//! per test process and shared by the tests ([`full_state_dict`]): in the unoptimised test
//! build, generating and serialising it eight times took most of this file's 15 s.

use std::sync::OnceLock;

use biaslens_model::{ResNet, ResNetConfig, StateTensor, WeightsError, state_dict_to_safetensors};
use burn::prelude::*;
use serde_json::Value;

const FIXTURE: &str = include_str!("../../../tests/fixtures/model/torchvision_logits.json");

/// The formula weights of `tests/reference/model_reference.py` (see `reference_weights`).
fn value(seed: u64, key: &str, shape: &[usize]) -> Vec<f32> {
    biaslens_model::reference_weights::formula_values(seed, key, shape)
        .unwrap_or_else(|| panic!("no formula for {key}"))
}

struct Fixture {
    seed: u64,
    num_classes: usize,
    json: Value,
}

fn fixture() -> Fixture {
    let json: Value = serde_json::from_str(FIXTURE).expect("fixture is JSON");
    Fixture {
        seed: json["seed"].as_u64().expect("seed"),
        num_classes: json["num_classes"].as_u64().expect("num_classes") as usize,
        json,
    }
}

/// The torchvision key list of `model` (from the fixture, i.e. from torchvision itself).
fn keys(f: &Fixture, model: &str) -> Vec<(String, Vec<usize>, String)> {
    f.json["models"][model]
        .as_array()
        .expect("key list")
        .iter()
        .map(|e| {
            let shape = e[1]
                .as_array()
                .expect("shape")
                .iter()
                .map(|d| d.as_u64().expect("dim") as usize)
                .collect();
            (
                e[0].as_str().expect("key").to_string(),
                shape,
                e[2].as_str().expect("dtype").to_string(),
            )
        })
        .collect()
}

/// The torchvision state dict of `model` with formula weights, as safetensors bytes: every key
/// of torchvision's `state_dict()` (from the fixture), in its order. Made once per process.
fn full_state_dict(f: &Fixture, model: &str) -> &'static [u8] {
    static RESNET18: OnceLock<Vec<u8>> = OnceLock::new();
    static RESNET50: OnceLock<Vec<u8>> = OnceLock::new();
    let cell = match model {
        "resnet18" => &RESNET18,
        "resnet50" => &RESNET50,
        other => panic!("unknown model {other}"),
    };
    cell.get_or_init(|| {
        let entries = keys(f, model)
            .into_iter()
            .map(|(key, shape, dtype)| {
                let tensor = if dtype == "int64" {
                    StateTensor::Counter
                } else {
                    StateTensor::F32(value(f.seed, &key, &shape))
                };
                (key, shape, tensor)
            })
            .collect();
        state_dict_to_safetensors(entries).expect("serialize")
    })
}

/// [`full_state_dict`] without the entries `keep` rejects and with `extra` appended,
/// re-serialised (tensor bytes copied, not regenerated).
fn edited_state_dict(
    f: &Fixture,
    model: &str,
    keep: impl Fn(&str) -> bool,
    extra: Option<(&str, safetensors::tensor::TensorView<'_>)>,
) -> Vec<u8> {
    let st = safetensors::SafeTensors::deserialize(full_state_dict(f, model)).expect("parse");
    let mut views: Vec<(String, safetensors::tensor::TensorView<'_>)> =
        st.tensors().into_iter().filter(|(k, _)| keep(k)).collect();
    if let Some((k, v)) = extra {
        views.push((k.to_string(), v));
    }
    safetensors::tensor::serialize(views, None).expect("serialize")
}

fn config(model: &str, classes: usize) -> ResNetConfig {
    match model {
        "resnet18" => ResNetConfig::resnet18(classes),
        "resnet50" => ResNetConfig::resnet50(classes),
        other => panic!("unknown model {other}"),
    }
}

fn load(f: &Fixture, model: &str, device: &Device) -> ResNet {
    let bytes = full_state_dict(f, model).to_vec();
    config(model, f.num_classes)
        .init(device)
        .load_torchvision(bytes)
        .expect("weights load")
}

fn logits(model: &ResNet, f: &Fixture, key: &str, shape: [usize; 4], device: &Device) -> Vec<f32> {
    let x: Vec<f32> =
        biaslens_model::reference_weights::uniform01(f.seed, key, shape.iter().product())
            .into_iter()
            .map(|u| (2.0 * u - 1.0) as f32)
            .collect();
    let x = Tensor::<4>::from_data(TensorData::new(x, shape), device);
    model
        .forward(x)
        .into_data()
        .try_into_vec::<f32>()
        .expect("f32 logits")
}

fn max_abs_diff(a: &[f32], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (f64::from(*x) - y).abs())
        .fold(0.0, f64::max)
}

/// Tolerance 1e-4 (the issue's): logits are O(0.5) with these weights; float32 rounding in a
/// 50-layer network with different summation orders (oneDNN vs flex) gives about 1e-6.
fn check_model(model_name: &str) {
    let f = fixture();
    let device = Device::flex();
    let model = load(&f, model_name, &device);
    for case in f.json["cases"].as_array().expect("cases") {
        if case["model"] != model_name {
            continue;
        }
        let shape: Vec<usize> = case["input_shape"]
            .as_array()
            .expect("shape")
            .iter()
            .map(|d| d.as_u64().expect("dim") as usize)
            .collect();
        let shape = [shape[0], shape[1], shape[2], shape[3]];
        let ours = logits(
            &model,
            &f,
            case["input_key"].as_str().expect("key"),
            shape,
            &device,
        );
        let as_f64 = |k: &str| -> Vec<f64> {
            case[k]
                .as_array()
                .expect("logits")
                .iter()
                .map(|v| v.as_f64().expect("num"))
                .collect()
        };
        let d32 = max_abs_diff(&ours, &as_f64("logits_f32"));
        let d64 = max_abs_diff(&ours, &as_f64("logits_f64"));
        eprintln!(
            "{model_name} {shape:?}: max |burn - torch f32| = {d32:.2e}, max |burn - torch f64| = {d64:.2e}"
        );
        assert!(
            d32 <= 1e-4,
            "{model_name} {shape:?}: logits differ from torchvision by {d32:e}"
        );
        assert!(
            d64 <= 1e-4,
            "{model_name} {shape:?}: logits differ from float64 torchvision by {d64:e}"
        );
    }
}

#[test]
fn resnet18_equals_torchvision() {
    check_model("resnet18");
}

#[test]
fn resnet50_equals_torchvision() {
    check_model("resnet50");
}

#[test]
fn export_reproduces_the_loaded_state_dict() {
    let f = fixture();
    let device = Device::flex();
    let model = load(&f, "resnet18", &device);
    let bytes = pollster::block_on(model.export_torchvision()).expect("export");
    let st = safetensors::SafeTensors::deserialize(&bytes).expect("exported file parses");
    let expected = keys(&f, "resnet18");
    let mut names: Vec<&str> = st.names();
    names.sort_unstable();
    let mut want: Vec<&str> = expected.iter().map(|(k, _, _)| k.as_str()).collect();
    want.sort_unstable();
    assert_eq!(
        names, want,
        "exported keys equal torchvision's state_dict keys"
    );
    let loaded = safetensors::SafeTensors::deserialize(full_state_dict(&f, "resnet18"))
        .expect("generated dict parses");
    for (key, shape, dtype) in &expected {
        let t = st.tensor(key).expect("key present");
        assert_eq!(t.shape(), shape.as_slice(), "{key}");
        if dtype == "float32" {
            assert_eq!(t.dtype(), safetensors::Dtype::F32, "{key}");
            // The same little-endian f32 bytes as the file that was loaded: bit for bit.
            let want = loaded.tensor(key).expect("generated key");
            assert!(t.data() == want.data(), "{key} round-trips bit for bit");
        } else {
            assert_eq!(t.dtype(), safetensors::Dtype::I64, "{key}");
        }
    }
    // And the export loads back into a fresh network.
    ResNetConfig::resnet18(f.num_classes)
        .init(&device)
        .load_torchvision(bytes)
        .expect("re-load");
}

#[test]
fn a_missing_key_is_named() {
    let f = fixture();
    let bytes = edited_state_dict(
        &f,
        "resnet18",
        |k| k != "layer2.0.downsample.1.running_var",
        None,
    );
    let err = ResNetConfig::resnet18(2)
        .init(&Device::flex())
        .load_torchvision(bytes)
        .expect_err("must fail");
    assert_eq!(
        err,
        WeightsError::Missing {
            key: "layer2.0.downsample.1.running_var".into(),
            expected: vec![128]
        }
    );
    assert!(
        err.to_string()
            .contains("layer2.0.downsample.1.running_var")
    );
}

#[test]
fn a_wrong_number_of_classes_is_named_with_both_shapes() {
    let f = fixture();
    let bytes = full_state_dict(&f, "resnet18").to_vec();
    let err = ResNetConfig::resnet18(3)
        .init(&Device::flex())
        .load_torchvision(bytes)
        .expect_err("must fail");
    assert_eq!(
        err,
        WeightsError::Shape {
            key: "fc.weight".into(),
            expected: vec![3, 512],
            found: vec![2, 512]
        }
    );
}

#[test]
fn resnet50_weights_do_not_load_into_resnet18() {
    let f = fixture();
    let bytes = full_state_dict(&f, "resnet50").to_vec();
    let err = ResNetConfig::resnet18(2)
        .init(&Device::flex())
        .load_torchvision(bytes)
        .expect_err("must fail");
    // The first key in module order that differs: layer1.0.conv1 is 1×1 in ResNet-50.
    assert_eq!(
        err,
        WeightsError::Shape {
            key: "layer1.0.conv1.weight".into(),
            expected: vec![64, 64, 3, 3],
            found: vec![64, 64, 1, 1]
        }
    );
}

#[test]
fn an_extra_key_is_named() {
    let f = fixture();
    // Append an unexpected tensor.
    let extra_data = [0u8; 8];
    let extra = safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![2], &extra_data)
        .expect("view");
    let bytes = edited_state_dict(&f, "resnet18", |_| true, Some(("fc2.bias", extra)));
    let err = ResNetConfig::resnet18(2)
        .init(&Device::flex())
        .load_torchvision(bytes)
        .expect_err("must fail");
    assert_eq!(
        err,
        WeightsError::Unexpected {
            key: "fc2.bias".into()
        }
    );
}

#[test]
fn torchvision_keys_match_torchvision() {
    let f = fixture();
    let device = Device::flex();
    for name in ["resnet18", "resnet50"] {
        let ours = config(name, f.num_classes).init(&device).torchvision_keys();
        let theirs: Vec<(String, Vec<usize>)> = keys(&f, name)
            .into_iter()
            .filter(|(k, _, _)| !k.ends_with("num_batches_tracked"))
            .map(|(k, s, _)| (k, s))
            .collect();
        assert_eq!(
            ours, theirs,
            "{name}: same keys, shapes and order as state_dict()"
        );
    }
}
