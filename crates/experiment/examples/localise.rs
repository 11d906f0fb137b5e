//! Finding the artifact from the CAV (BENCHMARKS.md, "Finding the artifact from the CAV";
//! docs/METHODS.md#localise): per scenario (the synthetic necktie, the synthetic hat, a planted
//! magenta patch) and seed, train a compact ResNet where the artifact goes with the target, fit the
//! Signal CAV at the pooled features on a balanced split (as the ClArC methods do), and score the
//! CAV's heatmaps (LRP from `a ⊙ v`, gradient × input of `a · v`) as masks against the truth:
//! IoU and the pointing game, beside the class's own LRP map thresholded the same way, the
//! config's fixed ROI as a mask and a random box of the truth's size. Two mask settings: the
//! default (3×3 mean filter) and no filter.
//!
//! `cargo run --release -p biaslens-experiment --example localise -- [--seeds 1,2,3] [--side 48]
//! [--train 1536] [--test 64] [--epochs 5] [--json FILE]`

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "../tests/localise_setup/mod.rs"]
mod localise_setup;

use std::time::Instant;

use biaslens_data::ProtectedKind;
use biaslens_experiment::localise::LocaliseConfig;
use biaslens_metrics::localise::LocaliseSettings;
use biaslens_metrics::mean_t_interval;
use localise_setup::{Scenario, Sizes, cav, case, evaluate, reliance, train_model};
use serde_json::json;

fn arg<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> T {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map_or(default, |v| v.parse().unwrap_or_else(|_| panic!("{name}: cannot read {v}")))
}

fn fmt_ci(values: &[f64]) -> String {
    match mean_t_interval(values, 0.95) {
        Some((m, Some(ci))) => format!("{m:.3} [{:.3}, {:.3}]", ci.low, ci.high),
        Some((m, None)) => format!("{m:.3}"),
        None => "—".into(),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let seeds: Vec<u64> = arg(&args, "--seeds", "1,2,3,4,5".to_string())
        .split(',')
        .map(|s| s.trim().parse().expect("--seeds: comma-separated integers"))
        .collect();
    let sizes = Sizes {
        side: arg(&args, "--side", 48),
        train: arg(&args, "--train", 1536),
        debias: arg(&args, "--debias", 512),
        test: arg(&args, "--test", 64),
        epochs: arg(&args, "--epochs", 5),
    };
    let json_out: Option<String> = args.iter().position(|a| a == "--json").and_then(|i| args.get(i + 1)).cloned();
    let settings = [
        ("default (3×3 filter, ≥ ½ max)", LocaliseSettings::default()),
        ("no filter (≥ ½ max)", LocaliseSettings { smooth: 1, ..LocaliseSettings::default() }),
    ];
    let scenarios = [
        ("synthetic necktie", Scenario::Synthetic(ProtectedKind::Necktie)),
        ("synthetic hat", Scenario::Synthetic(ProtectedKind::Hat)),
        ("planted patch", Scenario::Planted),
    ];
    let mut records = Vec::new();
    let started = Instant::now();
    for (scenario_name, scenario) in scenarios {
        // (setting, row) → per-seed IoU means and pointing rates
        let mut per: Vec<(String, String, Vec<f64>, Vec<f64>)> = Vec::new();
        let mut shifts = Vec::new();
        let mut shares = Vec::new();
        for &seed in &seeds {
            let t = Instant::now();
            let c = case(scenario, seed, sizes);
            let model = train_model(&c, seed, sizes.epochs);
            let shift = reliance(&c, &model);
            let direction = cav(&c, &model);
            shifts.push(shift);
            for (setting_name, mask) in settings {
                let config = LocaliseConfig { mask, ..LocaliseConfig::default() };
                let report = evaluate(&c, &model, &direction, &config, seed);
                shares.push(report.truth_share);
                for (row, s) in &report.rows {
                    records.push(json!({
                        "scenario": scenario_name, "seed": seed, "setting": setting_name, "row": row,
                        "iou_mean": s.summary.iou_mean, "pointing_rate": s.summary.pointing_rate,
                        "images": s.summary.images, "reliance_shift": shift, "truth_share": report.truth_share,
                    }));
                    let key = (setting_name.to_string(), (*row).to_string());
                    match per.iter_mut().find(|(a, b, _, _)| (a, b) == (&key.0, &key.1)) {
                        Some(e) => {
                            e.2.push(s.summary.iou_mean);
                            e.3.push(s.summary.pointing_rate);
                        }
                        None => per.push((key.0, key.1, vec![s.summary.iou_mean], vec![s.summary.pointing_rate])),
                    }
                }
            }
            eprintln!("{scenario_name} seed {seed}: {:.1} s (reliance {shift:.2})", t.elapsed().as_secs_f64());
        }
        let share = shares.iter().sum::<f64>() / shares.len() as f64;
        println!("\n### {scenario_name}\n");
        println!(
            "Reliance (margin z₀ − z₁ with the artifact minus without, mean over test images): {} over seeds; the truth covers {:.1} % of the image (the pointing game's chance rate).\n",
            fmt_ci(&shifts),
            100.0 * share
        );
        println!("| mask setting | heatmap / mask | IoU (mean over seeds, 95 % t-interval) | pointing game |");
        println!("|---|---|---|---|");
        for (setting, row, ious, hits) in &per {
            let pointing = if row == "fixed ROI" || row == "random box" { "— (no map)".to_string() } else { fmt_ci(hits) };
            println!("| {setting} | {row} | {} | {pointing} |", fmt_ci(ious));
        }
    }
    println!("\nseeds {seeds:?}, sizes {sizes:?}, total {:.0} s", started.elapsed().as_secs_f64());
    if let Some(path) = json_out {
        std::fs::write(&path, serde_json::to_string_pretty(&records).expect("json")).expect("write --json");
    }
}
