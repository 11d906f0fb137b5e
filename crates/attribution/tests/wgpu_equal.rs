//! The same maps on native wgpu as on flex and as the Zennit/Captum float64 references (issue 6,
//! "same numbers on both devices").
//!
//! burn's wgpu runtime runs the same WGSL kernels natively (here on Vulkan) as in the page on
//! WebGPU, so this checks the GPU code path of LRP, Integrated Gradients and the gradient outside
//! a browser. The fixtures are those of `lrp_equal.rs` and `reference_equal.rs` (resnet18 with
//! formula weights, batch 2 at 64×64, targets [1, 0], maps in float64 from
//! `tests/reference/lrp_reference.py` and `attribution_reference.py`); both images go through in
//! one batch on each device and are compared per image.
//!
//! Tolerances: each device must meet the reference bounds flex meets (LRP relative L2 ≤ 1e-3 per
//! image, conservation sums to 1e-3; IG and gradient ≥ 99.7 % of elements within 1e-3·max and
//! relative L2 ≤ 2e-3, completeness deltas to 2e-4). Between the devices, two float32 evaluations
//! of the same function that differ only in summation order, the bound is the same 1e-3 relative
//! L2 per map. Measured on Mesa lavapipe: LRP wgpu vs flex at most 2.5e-4 (EpsilonGammaBox,
//! canonized, an image whose relevance nearly cancels: input sum −0.009), most cases 1e-6 to
//! 1e-5; IG and the gradient at most 1.1e-6.
//!
//! Without a wgpu adapter the tests print why and pass, unless `BIASLENS_REQUIRE_WGPU=1` (set by
//! `cargo xtask test`, which installs Mesa's lavapipe), where a missing adapter fails them.

use std::sync::OnceLock;

use biaslens_attribution::{
    IgConfig, OutputRelevance, ResNetGrad, gradient, gradient_with, integrated_gradients_with, lrp_resnet,
};
use burn::prelude::*;
use serde_json::Value;

mod common;
use common::{compare, lrp_case, reference_input, reference_resnet, rel_l2, to_vec};

const LRP_CASES: &str = include_str!("../../../tests/fixtures/lrp/cases.json");
const LRP_MAPS: &[u8] = include_bytes!("../../../tests/fixtures/lrp/maps.npy");
const IG_CASES: &str = include_str!("../../../tests/fixtures/attribution/cases.json");
const IG_MAPS: &[u8] = include_bytes!("../../../tests/fixtures/attribution/maps.npy");

const SHAPE: [usize; 4] = [2, 3, 64, 64];
/// Relative L2 per image map, for LRP against Zennit and for each map between the devices.
const REL_L2: f64 = 1e-3;

/// The native wgpu device, opened once per test process (burn registers a runtime once).
fn wgpu() -> Option<Device> {
    static DEVICE: OnceLock<Result<Device, String>> = OnceLock::new();
    let opened = DEVICE.get_or_init(|| {
        Device::wgpu_options().init_with_setup().map(|(d, setup)| {
            eprintln!("wgpu adapter: {:?}", setup.adapter.get_info());
            d
        })
        .map_err(|e| e.to_string())
    });
    match opened {
        Ok(d) => Some(d.clone()),
        Err(e) if std::env::var("BIASLENS_REQUIRE_WGPU").is_ok_and(|v| v == "1") => {
            panic!("BIASLENS_REQUIRE_WGPU=1 but no wgpu adapter starts: {e}")
        }
        Err(e) => {
            eprintln!("skipped: no wgpu adapter here ({e}); install mesa-vulkan-drivers to run this test");
            None
        }
    }
}

/// Every resnet18 LRP fixture case (four composites, canonizer on and off, one-hot output,
/// predicted target) and resnet50 with the paper's EpsilonPlus, plain and canonized, on wgpu and
/// on flex.
#[test]
fn lrp_on_wgpu_matches_flex_and_zennit() {
    let Some(gpu) = wgpu() else { return };
    let cpu = Device::flex();
    let cases: Value = serde_json::from_str(LRP_CASES).expect("cases JSON");
    let seed = cases["seed"].as_u64().expect("seed");
    let classes = cases["num_classes"].as_u64().expect("classes") as usize;
    let (low, high) = (cases["zbox_low"].as_f64().expect("low"), cases["zbox_high"].as_f64().expect("high"));
    let maps = biaslens_npy::from_bytes(LRP_MAPS).expect("maps.npy").to_f64();
    let per_image: usize = SHAPE[1..].iter().product();
    let key = cases["input_key"].as_str().expect("key");
    let (x_gpu, x_cpu) = (reference_input(seed, key, SHAPE, &gpu), reference_input(seed, key, SHAPE, &cpu));
    let mut models = std::collections::HashMap::new();
    let mut checked = 0;
    for (i, case) in cases["cases"].as_array().expect("cases").iter().enumerate() {
        let arch = case["model"].as_str().expect("model");
        // resnet50 (bottleneck blocks, 1×1 convolutions): the paper's composite, plain and canonized.
        if arch != "resnet18" && case["composite"] != "epsilon_plus" {
            continue;
        }
        let name = case["name"].as_str().expect("name");
        let (model_gpu, model_cpu) = models
            .entry(arch.to_string())
            .or_insert_with(|| (reference_resnet(arch, seed, classes, &gpu), reference_resnet(arch, seed, classes, &cpu)));
        let (config, given) = lrp_case(case, low, high);
        let gpu_out = lrp_resnet(model_gpu, x_gpu.clone(), given.as_deref(), &config, None).expect("LRP on wgpu");
        let cpu_out = lrp_resnet(model_cpu, x_cpu.clone(), given.as_deref(), &config, None).expect("LRP on flex");
        let (g, c) = (to_vec(gpu_out.map), to_vec(cpu_out.map));
        let (g_in, c_in) = (to_vec(gpu_out.input_sum), to_vec(cpu_out.input_sum));
        let g_out = to_vec(gpu_out.output_sum);
        let reference = &maps[i * 2 * per_image..(i + 1) * 2 * per_image];
        for img in 0..2 {
            let r = img * per_image..(img + 1) * per_image;
            let (vs_ref, vs_cpu) = (rel_l2(&g[r.clone()], &reference[r.clone()]), rel_l2(&g[r.clone()], &c[r]));
            let want_in = case["input_sum_f64"][img].as_f64().expect("sum");
            let want_out = case["output_sum_f64"][img].as_f64().expect("sum");
            println!("{name} image {img}: wgpu vs zennit {vs_ref:.2e}, wgpu vs flex {vs_cpu:.2e}; input sum wgpu {:.6} flex {:.6} zennit {want_in:.6}", g_in[img], c_in[img]);
            assert!(vs_ref <= REL_L2, "{name} image {img}: wgpu vs Zennit rel L2 {vs_ref:e}");
            assert!(vs_cpu <= REL_L2, "{name} image {img}: wgpu vs flex rel L2 {vs_cpu:e}");
            assert!((g_in[img] - want_in).abs() <= 1e-3 * want_in.abs().max(1e-2), "{name} image {img}: input relevance sum {}", g_in[img]);
            assert!((g_out[img] - want_out).abs() <= 1e-5 * want_out.abs().max(1.0), "{name} image {img}: output relevance sum {}", g_out[img]);
        }
        checked += 1;
    }
    assert_eq!(checked, 12, "every resnet18 case and two resnet50 cases of the fixture ran");
}

/// The authors' IG (Zennit's right Riemann with logit output), Captum's Gauss–Legendre, and the
/// gradient on wgpu, with IG's steps in chunks as the page runs them, through the hand-written
/// ResNet walk (`ResNetGrad`, what the experiment uses); the gradient also through autodiff on
/// wgpu, which the walk must equal to float32 rounding (1e-5 relative L2, as in
/// `resnet_grad_equal.rs`).
#[test]
fn ig_and_gradient_on_wgpu_match_flex_and_captum() {
    let Some(gpu) = wgpu() else { return };
    let cpu = Device::flex();
    let cases: Value = serde_json::from_str(IG_CASES).expect("cases JSON");
    let seed = cases["seed"].as_u64().expect("seed");
    let classes = cases["num_classes"].as_u64().expect("classes") as usize;
    let steps = cases["steps"].as_u64().expect("steps") as usize;
    let zennit_steps = cases["zennit_steps"].as_u64().expect("zennit steps") as usize;
    let targets: Vec<usize> = cases["targets"].as_array().expect("targets").iter().map(|t| t.as_u64().expect("t") as usize).collect();
    let maps = biaslens_npy::from_bytes(IG_MAPS).expect("maps.npy").to_f64();
    let per_map: usize = SHAPE.iter().product();
    let key = cases["input_key"].as_str().expect("key");
    let run = |device: &Device, name: &str| -> (Vec<f64>, Vec<f64>) {
        let model = reference_resnet("resnet18", seed, classes, device).freeze();
        let x = reference_input(seed, key, SHAPE, device);
        let mut walk = ResNetGrad::new(&model).expect("a torchvision ResNet");
        let mut ig = |config: IgConfig| {
            let out = integrated_gradients_with(&mut walk, x.clone(), &targets, &config, None, || false, |_| {}).expect("IG");
            (to_vec(out.map), to_vec(out.delta))
        };
        match name {
            "gradient" => {
                let mut walk = ResNetGrad::new(&model).expect("a torchvision ResNet");
                let ours = to_vec(gradient_with(&mut walk, x.clone(), &targets, OutputRelevance::OneHot).expect("gradient").0);
                let forward = |x: Tensor<4>| model.forward(x);
                let autodiff = to_vec(gradient(forward, x.clone(), &targets, OutputRelevance::OneHot).expect("gradient").0);
                let vs_autodiff = rel_l2(&ours, &autodiff);
                println!("gradient on {device:?}: walk vs autodiff rel L2 {vs_autodiff:.2e}");
                assert!(vs_autodiff <= 1e-5, "walk vs autodiff on {device:?}: {vs_autodiff:e}");
                (ours, Vec::new())
            }
            "zennit_right_logit_zero" => ig(IgConfig::zennit().with_steps(zennit_steps).with_steps_per_chunk(8)),
            "captum_gausslegendre_zero" => ig(IgConfig::captum().with_steps(steps).with_steps_per_chunk(8)),
            other => panic!("case {other} is not part of this test"),
        }
    };
    let mut checked = 0;
    for (i, case) in cases["cases"].as_array().expect("cases").iter().enumerate() {
        let name = case["name"].as_str().expect("name");
        if !["gradient", "zennit_right_logit_zero", "captum_gausslegendre_zero"].contains(&name) {
            continue;
        }
        let (g, g_delta) = run(&gpu, name);
        let (c, c_delta) = run(&cpu, name);
        let reference = &maps[i * per_map..(i + 1) * per_map];
        let (within, max, l2) = compare(&g, reference, 1e-3);
        let half = per_map / 2;
        let vs_cpu = [rel_l2(&g[..half], &c[..half]), rel_l2(&g[half..], &c[half..])];
        println!("{name}: wgpu vs reference: {within:.5} within 1e-3·max, max {max:.2e}, rel L2 {l2:.2e}; wgpu vs flex per image {:.2e}, {:.2e}", vs_cpu[0], vs_cpu[1]);
        assert!(within >= 0.997 && l2 <= 2e-3, "{name}: wgpu vs reference {within} within, rel L2 {l2:e}");
        assert!(vs_cpu.iter().all(|&e| e <= REL_L2), "{name}: wgpu vs flex {vs_cpu:?}");
        if let Some(want) = case["delta_f64"].as_array() {
            for (img, w) in want.iter().enumerate() {
                let w = w.as_f64().expect("delta");
                println!("  delta image {img}: wgpu {:.6e}, flex {:.6e}, reference {w:.6e}", g_delta[img], c_delta[img]);
                assert!((g_delta[img] - w).abs() <= 2e-4, "{name} delta {img} on wgpu");
            }
        }
        checked += 1;
    }
    assert_eq!(checked, 3, "the three cases ran");
}
