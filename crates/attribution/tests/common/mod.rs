//! Shared set-up of the reference tests: the formula-weight ResNets and inputs of
//! `tests/reference/model_reference.py` (never stored; see `biaslens_model::reference_weights`).

#![allow(dead_code)]

use biaslens_attribution::{Composite, LrpConfig, OutputRelevance};
use biaslens_model::{ResNet, ResNetConfig, StateTensor, state_dict_to_safetensors};
use burn::prelude::*;
use serde_json::Value;

/// The torchvision key list (name, shape, dtype) of each reference model.
pub const MODEL_KEYS: &str =
    include_str!("../../../../tests/fixtures/model/torchvision_logits.json");

/// torchvision `name` ("resnet18" or "resnet50") with `classes` outputs and the formula weights
/// of `seed`, loaded through the torchvision `.safetensors` path.
pub fn reference_resnet(name: &str, seed: u64, classes: usize, device: &Device) -> ResNet {
    let keys: Value = serde_json::from_str(MODEL_KEYS).expect("model fixture is JSON");
    let mut owned = Vec::new();
    for e in keys["models"][name].as_array().expect("key list") {
        let key = e[0].as_str().expect("key").to_string();
        let shape: Vec<usize> = e[1]
            .as_array()
            .expect("shape")
            .iter()
            .map(|d| d.as_u64().expect("dim") as usize)
            .collect();
        let tensor = if e[2] == "int64" {
            StateTensor::Counter
        } else {
            StateTensor::F32(
                biaslens_model::reference_weights::formula_values(seed, &key, &shape)
                    .unwrap_or_else(|| panic!("no formula for {key}")),
            )
        };
        owned.push((key, shape, tensor));
    }
    let bytes = state_dict_to_safetensors(owned).expect("serialize");
    let config = match name {
        "resnet18" => ResNetConfig::resnet18(classes),
        "resnet50" => ResNetConfig::resnet50(classes),
        other => panic!("no reference model {other}"),
    };
    config
        .init(device)
        .load_torchvision(bytes)
        .expect("weights load")
}

/// The reference input `key` (values `2u − 1` in [-1, 1)).
pub fn reference_input(seed: u64, key: &str, shape: [usize; 4], device: &Device) -> Tensor<4> {
    let n = shape.iter().product();
    let input: Vec<f32> = biaslens_model::reference_weights::uniform01(seed, key, n)
        .into_iter()
        .map(|u| (2.0 * u - 1.0) as f32)
        .collect();
    Tensor::from_data(TensorData::new(input, shape), device)
}

/// A tensor's values as f64.
pub fn to_vec<const D: usize>(t: Tensor<D>) -> Vec<f64> {
    t.into_data()
        .try_into_vec::<f32>()
        .expect("f32")
        .into_iter()
        .map(f64::from)
        .collect()
}

/// Relative L2 error ‖ours − reference‖ / ‖reference‖.
pub fn rel_l2(ours: &[f64], reference: &[f64]) -> f64 {
    let num: f64 = ours.iter().zip(reference).map(|(a, b)| (a - b) * (a - b)).sum();
    let den: f64 = reference.iter().map(|b| b * b).sum();
    (num / den).sqrt()
}

/// (fraction within `near`·max|ref|, max |diff| / max|ref|, relative L2).
pub fn compare(ours: &[f64], reference: &[f64], near: f64) -> (f64, f64, f64) {
    assert_eq!(ours.len(), reference.len());
    let scale = reference.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let diffs: Vec<f64> = ours.iter().zip(reference).map(|(a, b)| (a - b).abs()).collect();
    let within = diffs.iter().filter(|&&d| d <= near * scale).count() as f64 / diffs.len() as f64;
    let max = diffs.iter().fold(0.0f64, |m, &d| m.max(d)) / scale;
    (within, max, rel_l2(ours, reference))
}

/// The composite a fixture case names (`tests/reference/lrp_reference.py`).
pub fn composite(name: &str, low: f64, high: f64) -> Composite {
    match name {
        "epsilon_plus" => Composite::EpsilonPlus,
        "epsilon_plus_flat" => Composite::EpsilonPlusFlat,
        "epsilon_gamma_box" => Composite::EpsilonGammaBox { low, high, gamma: 0.25 },
        "epsilon_alpha2_beta1" => Composite::EpsilonAlpha2Beta1,
        other => panic!("unknown composite {other}"),
    }
}

/// A fixture case's LRP config and its given targets (`None`: the predicted class).
pub fn lrp_case(case: &Value, low: f64, high: f64) -> (LrpConfig, Option<Vec<usize>>) {
    let config = LrpConfig::paper()
        .with_composite(composite(case["composite"].as_str().expect("composite"), low, high))
        .with_canonize(case["canonize"].as_bool().expect("canonize"))
        .with_output(match case["output"].as_str().expect("output") {
            "logit" => OutputRelevance::LogitOneHot,
            _ => OutputRelevance::OneHot,
        });
    let targets: Vec<usize> =
        case["targets"].as_array().expect("targets").iter().map(|t| t.as_u64().expect("target") as usize).collect();
    (config, (case["target"] != "predicted").then_some(targets))
}
