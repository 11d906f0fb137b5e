//! `biaslens attribute` end to end: weights exported by the library and a `.npy` batch in, maps
//! `.npy` and a JSON summary out, equal to the library's own LRP and IG; bad flags and inputs
//! give a non-zero exit and a message that names the problem.

use std::path::PathBuf;
use std::process::{Command, Output};

use biaslens_attribution::{
    IgConfig, LrpConfig, OutputRelevance, integrated_gradients, lrp_resnet,
};
use biaslens_model::{ResNet, ResNetConfig};
use biaslens_npy::{NpyArray, NpyData};
use burn::module::Module;
use burn::prelude::*;

fn tmp(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("attribute_cli_{}_{name}", std::process::id()))
}

const N: usize = 3;
const SIDE: usize = 32;

/// A compact ResNet with seeded weights, saved as torchvision `.safetensors`, and an input batch.
fn fixture(tag: &str) -> (ResNet, PathBuf, Vec<f32>, PathBuf, Device) {
    let device = Device::flex();
    device.seed(5);
    let model = ResNetConfig::compact(2).init(&device);
    let weights = pollster::block_on(model.export_torchvision()).expect("export");
    let weights_path = tmp(&format!("{tag}.safetensors"));
    std::fs::write(&weights_path, &weights).expect("write weights");
    let pixels: Vec<f32> = (0..N * 3 * SIDE * SIDE)
        .map(|i| ((i * 7919) % 1000) as f32 / 1000.0)
        .collect();
    let input_path = tmp(&format!("{tag}_x.npy"));
    biaslens_npy::write(
        &input_path,
        &NpyArray::new(vec![N, 3, SIDE, SIDE], NpyData::F32(pixels.clone())).expect("array"),
    )
    .expect("write input");
    (model.valid(), weights_path, pixels, input_path, device)
}

fn run(args: &[&str], weights: &PathBuf, input: &PathBuf, output: &PathBuf) -> Output {
    Command::new(env!("CARGO_BIN_EXE_biaslens"))
        .arg("attribute")
        .args(["--arch", "compact", "--batch-size", "2"])
        .args(args)
        .arg("--weights")
        .arg(weights)
        .arg("--input")
        .arg(input)
        .arg("--output")
        .arg(output)
        .output()
        .expect("run biaslens")
}

fn read_map(path: &PathBuf) -> Vec<f32> {
    let out = biaslens_npy::read(path).expect("read maps");
    assert_eq!(out.shape, vec![N, 3, SIDE, SIDE]);
    let NpyData::F32(v) = out.data else {
        panic!("maps are float32")
    };
    v
}

fn max_rel(a: &[f32], b: &[f32]) -> f32 {
    let scale = b.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    a.iter()
        .zip(b)
        .fold(0.0f32, |m, (x, y)| m.max((x - y).abs()))
        / scale
}

#[test]
fn attribute_lrp_and_ig_equal_the_library() {
    let (model, weights, pixels, input, device) = fixture("ok");
    let x = Tensor::<4>::from_data(TensorData::new(pixels, [N, 3, SIDE, SIDE]), &device);
    let targets = vec![1usize; N];

    // LRP, EpsilonGammaBox with the canonizer, class 1 for every image.
    let out_path = tmp("lrp.npy");
    let out = run(
        &[
            "--method",
            "lrp",
            "--composite",
            "epsilon-gamma-box",
            "--canonize",
            "--target",
            "1",
        ],
        &weights,
        &input,
        &out_path,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let config = LrpConfig::paper().with_canonize(true).with_composite(
        biaslens_attribution::Composite::EpsilonGammaBox {
            low: 0.0,
            high: 1.0,
            gamma: 0.25,
        },
    );
    let want = lrp_resnet(&model, x.clone(), Some(&targets), &config, None).expect("LRP");
    let want_map = want.map.into_data().try_into_vec::<f32>().expect("f32");
    // Same code and weights; only the batching (2 + 1 vs 3) differs, which can change
    // summation order in flex's kernels: 1e-4 of the largest magnitude is far above that and far
    // below a wrong composite (the composites' maps differ by ≥ 0.1 relative, see lrp_equal.rs).
    let err = max_rel(&read_map(&out_path), &want_map);
    assert!(err <= 1e-4, "CLI LRP differs by {err}");
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON summary");
    let images = summary["images"].as_array().expect("images");
    assert_eq!(images.len(), N);
    let sums = want
        .input_sum
        .into_data()
        .try_into_vec::<f32>()
        .expect("f32");
    for (i, img) in images.iter().enumerate() {
        assert_eq!(img["target"], 1);
        let got = img["sanity"]["input_relevance_sum"].as_f64().expect("sum");
        assert!((got - f64::from(sums[i])).abs() <= 1e-4 * f64::from(sums[i]).abs().max(1e-3));
    }
    assert_eq!(
        summary["lrp"]["composite"]["composite"],
        "epsilon_gamma_box"
    );

    // Captum-style IG, 8 Riemann-middle steps, the predicted class.
    let out_path = tmp("ig.npy");
    let out = run(
        &[
            "--method",
            "ig",
            "--ig",
            "captum",
            "--steps",
            "8",
            "--ig-method",
            "riemann-middle",
        ],
        &weights,
        &input,
        &out_path,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON summary");
    let predicted: Vec<usize> = summary["images"]
        .as_array()
        .expect("images")
        .iter()
        .map(|i| i["target"].as_u64().expect("target") as usize)
        .collect();
    let logits = model
        .forward(x.clone())
        .into_data()
        .try_into_vec::<f32>()
        .expect("f32");
    for (i, &t) in predicted.iter().enumerate() {
        assert!(
            logits[2 * i + t] >= logits[2 * i + 1 - t],
            "image {i}: target is the argmax"
        );
    }
    let config = IgConfig::captum()
        .with_steps(8)
        .with_method(biaslens_attribution::IgMethod::RiemannMiddle)
        .with_relevance(OutputRelevance::OneHot);
    let frozen = model.clone().freeze();
    let want = integrated_gradients(
        |x| frozen.forward(x),
        x,
        &predicted,
        &config,
        None,
        || false,
        |_| {},
    )
    .expect("IG");
    let want_map = want.map.into_data().try_into_vec::<f32>().expect("f32");
    let err = max_rel(&read_map(&out_path), &want_map);
    assert!(err <= 1e-4, "CLI IG differs by {err}");
    assert!(summary["images"][0]["sanity"]["completeness_delta"].is_number());
}

#[test]
fn attribute_refuses_bad_targets_and_inputs_with_a_reason() {
    let (_, weights, _, input, _) = fixture("bad");
    let out_path = tmp("bad.npy");
    let stderr = |o: &Output| {
        assert!(!o.status.success(), "must fail");
        String::from_utf8_lossy(&o.stderr).to_string()
    };

    let o = run(&["--target", "7"], &weights, &input, &out_path);
    assert!(stderr(&o).contains("class index in 0..2"), "{}", stderr(&o));

    let labels = tmp("labels.npy");
    biaslens_npy::write(
        &labels,
        &NpyArray::new(vec![2], NpyData::I64(vec![0, 1])).expect("a"),
    )
    .expect("write");
    let o = run(
        &["--labels", labels.to_str().expect("utf-8")],
        &weights,
        &input,
        &out_path,
    );
    assert!(
        stderr(&o).contains("2 values for 3 images"),
        "{}",
        stderr(&o)
    );

    let nan_input = tmp("nan.npy");
    let mut px = vec![0.5f32; 3 * SIDE * SIDE];
    px[17] = f32::NAN;
    biaslens_npy::write(
        &nan_input,
        &NpyArray::new(vec![1, 3, SIDE, SIDE], NpyData::F32(px)).expect("a"),
    )
    .expect("write");
    let o = run(&[], &weights, &nan_input, &out_path);
    assert!(stderr(&o).contains("non-finite value"), "{}", stderr(&o));

    let o = run(
        &[
            "--composite",
            "epsilon-gamma-box",
            "--low",
            "2",
            "--high",
            "1",
        ],
        &weights,
        &input,
        &out_path,
    );
    assert!(stderr(&o).contains("low ≤ high"), "{}", stderr(&o));
}
