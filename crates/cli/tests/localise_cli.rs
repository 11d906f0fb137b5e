//! `biaslens localise` end to end: weights and a `.npy` batch with concept labels in, one mask
//! PNG per image (readable by `metrics --masks`), the heatmaps and the CAV out, equal to the
//! library's masks; bad concept labels give a non-zero exit and a message.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::Command;

use biaslens_model::{ResNetConfig, Tap};
use biaslens_npy::{NpyArray, NpyData};
use burn::module::Module;
use burn::prelude::*;

fn tmp(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("localise_cli_{}_{name}", std::process::id()))
}

const N: usize = 6;
const SIDE: usize = 32;

#[test]
fn masks_come_out_as_pngs_equal_to_the_library() {
    let device = Device::flex();
    device.seed(9);
    let model = ResNetConfig::compact(2).init(&device);
    let weights = pollster::block_on(model.export_torchvision()).expect("export");
    let weights_path = tmp("w.safetensors");
    std::fs::write(&weights_path, &weights).unwrap();
    // Smooth images; the odd ones get a magenta 6×6 patch at a place of their own.
    let plane = SIDE * SIDE;
    let mut pixels: Vec<f32> = (0..N * 3 * plane).map(|i| 0.3 + 0.2 * ((i as f32) * 0.01).sin()).collect();
    let concept: Vec<i64> = (0..N as i64).map(|i| i % 2).collect();
    for i in (1..N).step_by(2) {
        let (x0, y0) = (3 * i, 20 - 2 * i);
        for y in y0..y0 + 6 {
            for x in x0..x0 + 6 {
                let p = i * 3 * plane + y * SIDE + x;
                pixels[p] = 1.0;
                pixels[p + plane] = 0.0;
                pixels[p + 2 * plane] = 1.0;
            }
        }
    }
    let input = tmp("x.npy");
    biaslens_npy::write(&input, &NpyArray::new(vec![N, 3, SIDE, SIDE], NpyData::F32(pixels.clone())).unwrap()).unwrap();
    let labels = tmp("c.npy");
    biaslens_npy::write(&labels, &NpyArray::new(vec![N], NpyData::I64(concept.clone())).unwrap()).unwrap();
    let out = tmp("out");
    let run = |labels: &PathBuf| {
        Command::new(env!("CARGO_BIN_EXE_biaslens"))
            .args(["localise", "--arch", "compact", "--method", "gradient-x-input", "--smooth", "1", "--top", "0.05"])
            .arg("--weights")
            .arg(&weights_path)
            .arg("--input")
            .arg(&input)
            .arg("--concept")
            .arg(labels)
            .arg("--out")
            .arg(&out)
            .output()
            .expect("run biaslens")
    };
    let o = run(&labels);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(summary["images"], N);

    // The library on the same model and batch.
    let model = model.valid();
    let c8: Vec<u8> = concept.iter().map(|&v| v as u8).collect();
    let data = biaslens_debias::DebiasData { pixels: &pixels, targets: &c8, attribute: &c8, image: [3, SIDE, SIDE] };
    let feats = pollster::block_on(biaslens_debias::activations(&model, data, Tap::Pooled, 8, &device, &mut |_| {}, &|| false)).unwrap();
    let cav = biaslens_debias::fit_cav(&feats, feats.len() / N, &c8, &biaslens_debias::CavKind::Signal).unwrap();
    let config = biaslens_experiment::localise::LocaliseConfig {
        method: biaslens_attribution::ConceptMethod::GradientXInput,
        mask: biaslens_metrics::localise::LocaliseSettings {
            smooth: 1,
            rule: biaslens_metrics::localise::ThresholdRule::TopFraction { fraction: 0.05 },
            ..Default::default()
        },
        batch_size: 8,
    };
    let heat = pollster::block_on(biaslens_experiment::localise::heatmaps(
        &model,
        &pixels,
        [3, SIDE, SIDE],
        biaslens_experiment::localise::Explain::Concept { tap: Tap::Pooled, direction: &cav.direction },
        &config,
        &device,
    ))
    .unwrap();
    let masks = biaslens_experiment::localise::masks(&heat, &config.mask).unwrap();
    for (i, want) in masks.iter().enumerate() {
        let bytes = std::fs::read(out.join(format!("{i:06}.png"))).expect("mask png");
        let (size, got) = biaslens_data::decode_mask(&bytes).expect("a mask metrics can read");
        assert_eq!((size.width, size.height), (SIDE as u32, SIDE as u32));
        assert_eq!(&got, want, "image {i}");
        assert!(got.iter().any(|v| *v), "image {i}: top 5 % is never empty here");
    }
    let h = biaslens_npy::read(out.join("heatmaps.npy")).unwrap();
    assert_eq!(h.shape, vec![N, SIDE, SIDE]);

    // One concept value only: refused, naming the fix.
    let ones = tmp("ones.npy");
    biaslens_npy::write(&ones, &NpyArray::new(vec![N], NpyData::I64(vec![1; N])).unwrap()).unwrap();
    let o = run(&ones);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("need both values"), "{}", String::from_utf8_lossy(&o.stderr));
}
