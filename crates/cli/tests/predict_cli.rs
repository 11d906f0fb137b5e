//! `biaslens predict` end to end: weights exported by the library, a `.npy` batch in, logits
//! `.npy` out, equal to the library's own forward.

use std::path::PathBuf;
use std::process::Command;

use biaslens_model::ResNetConfig;
use biaslens_npy::{NpyArray, NpyData};
use burn::prelude::*;

fn tmp(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("predict_cli_{}_{name}", std::process::id()))
}

#[test]
fn predict_writes_the_logits_of_the_library_forward() {
    let device = Device::flex();
    device.seed(11);
    let model = ResNetConfig::compact(2).init(&device);
    let weights = pollster::block_on(model.export_torchvision()).expect("export");
    let weights_path = tmp("w.safetensors");
    std::fs::write(&weights_path, &weights).expect("write weights");

    let (n, side) = (3, 64);
    let pixels: Vec<f32> = (0..n * 3 * side * side)
        .map(|i| ((i * 7919) % 1000) as f32 / 1000.0)
        .collect();
    let input_path = tmp("x.npy");
    biaslens_npy::write(
        &input_path,
        &NpyArray::new(vec![n, 3, side, side], NpyData::F32(pixels.clone())).expect("array"),
    )
    .expect("write input");
    let out_path = tmp("y.npy");

    let status = Command::new(env!("CARGO_BIN_EXE_biaslens"))
        .args([
            "predict",
            "--arch",
            "compact",
            "--batch-size",
            "2",
            "--weights",
        ])
        .arg(&weights_path)
        .arg("--input")
        .arg(&input_path)
        .arg("--output")
        .arg(&out_path)
        .status()
        .expect("run biaslens");
    assert!(status.success());

    let out = biaslens_npy::read(&out_path).expect("read logits");
    assert_eq!(out.shape, vec![n, 2]);
    let NpyData::F32(got) = out.data else {
        panic!("logits are float32")
    };
    let x = Tensor::<4>::from_data(TensorData::new(pixels, [n, 3, side, side]), &device);
    let want = model
        .valid()
        .forward(x)
        .into_data()
        .try_into_vec::<f32>()
        .expect("f32");
    // Same code and weights bit for bit; only batching (2 + 1 vs 3) differs, which can change
    // summation order in flex's kernels: 1e-5 is far above that and far below a wrong weight.
    let diff = got
        .iter()
        .zip(&want)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(
        diff <= 1e-5,
        "CLI logits differ from the library's by {diff}"
    );
}

#[test]
fn predict_names_the_mismatched_key() {
    let device = Device::flex();
    let weights = pollster::block_on(ResNetConfig::compact(2).init(&device).export_torchvision())
        .expect("export");
    let weights_path = tmp("w2.safetensors");
    std::fs::write(&weights_path, &weights).expect("write weights");
    let input_path = tmp("x2.npy");
    biaslens_npy::write(
        &input_path,
        &NpyArray::new(vec![1, 3, 32, 32], NpyData::F32(vec![0.5; 3 * 32 * 32])).expect("array"),
    )
    .expect("write input");
    let out = Command::new(env!("CARGO_BIN_EXE_biaslens"))
        .args(["predict", "--arch", "resnet18", "--weights"])
        .arg(&weights_path)
        .arg("--input")
        .arg(&input_path)
        .arg("--output")
        .arg(tmp("y2.npy"))
        .output()
        .expect("run biaslens");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("conv1.weight") && stderr.contains("[64, 3, 7, 7]"),
        "{stderr}"
    );
}
