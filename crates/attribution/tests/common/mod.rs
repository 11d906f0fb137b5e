//! Shared set-up of the reference tests: the formula-weight ResNets and inputs of
//! `tests/reference/model_reference.py` (never stored; see `biaslens_model::reference_weights`).

#![allow(dead_code)]

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
