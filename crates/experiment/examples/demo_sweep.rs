//! The sweep that chose the default demo (BENCHMARKS.md, "Choosing the demo"): candidate
//! configs × seeds, each run natively on the CPU, one line per (candidate, seed, φ) with what the
//! demo must show: vanilla relies on the attribute (ground-truth shortcut effect and its p),
//! vanilla's LRP relevance concentrates in the ROI (MRR > 1), the threshold maps equal vanilla's,
//! and how many ROI claims of the debiasing methods hold.
//!
//! `cargo run -p biaslens-experiment --example demo_sweep -- [candidate…] --seeds 1,2,3,4,5`
//! (`--list` names the candidates).

use biaslens_experiment::findings::{Claim, Grade, verdicts};
use biaslens_experiment::{ExperimentConfig, run_experiment};
use burn::prelude::Device;
use serde_json::json;

fn candidates() -> Vec<(&'static str, serde_json::Value)> {
    vec![
        ("current", json!({})),
        (
            "strong",
            json!({
                "data": {"synthetic": {"open_mouth_rate": 0.1, "expression": 0.5}},
                "phis": [-0.5, -0.8, -0.95],
                "splits": {"debias_at_train_phi": true}
            }),
        ),
        (
            "strong-long",
            json!({
                "data": {"synthetic": {"open_mouth_rate": 0.1, "expression": 0.5}},
                "phis": [-0.5, -0.8, -0.95],
                "splits": {"debias_at_train_phi": true},
                "train": {"epochs": 3}
            }),
        ),
        (
            "balanced",
            json!({
                "data": {"synthetic": {"open_mouth_rate": 0.0, "expression": 0.35}},
                "phis": [-0.8, -0.95],
                "train": {"epochs": 3},
                "methods": [{"method": "thr_opt"}, {"method": "savani_aft", "config": {"iterations": 2, "batch_size": 32}},
                            {"method": "zhang_al", "config": {"batch_size": 32}}, {"method": "a_clarc", "config": {"batch_size": 64}},
                            {"method": "rr_clarc", "config": {"batch_size": 64}}, {"method": "fine_tune", "config": {"batch_size": 64}}]
            }),
        ),
        (
            "balanced-mid",
            json!({
                "data": {"synthetic": {"open_mouth_rate": 0.1, "expression": 0.5}},
                "phis": [-0.7, -0.9],
                "train": {"epochs": 3},
                "methods": [{"method": "thr_opt"}, {"method": "savani_aft", "config": {"iterations": 2, "batch_size": 32}},
                            {"method": "zhang_al", "config": {"batch_size": 32}}, {"method": "a_clarc", "config": {"batch_size": 64}},
                            {"method": "rr_clarc", "config": {"batch_size": 64}}, {"method": "fine_tune", "config": {"batch_size": 64}}]
            }),
        ),
        (
            "wide",
            json!({
                "data": {"synthetic": {"open_mouth_rate": 0.0, "expression": 0.35}},
                "phis": [-0.6, -0.8, -0.95],
                "train": {"epochs": 3},
                "methods": [{"method": "thr_opt"}, {"method": "savani_aft", "config": {"iterations": 2, "batch_size": 32}},
                            {"method": "zhang_al", "config": {"batch_size": 32}}, {"method": "a_clarc", "config": {"batch_size": 64}},
                            {"method": "rr_clarc", "config": {"batch_size": 64}}, {"method": "fine_tune", "config": {"batch_size": 64}}],
                "attribution": {"images": 160, "methods": [{"method": "lrp"}, {"method": "ig", "config": {"steps": 8, "steps_per_chunk": 8}}]}
            }),
        ),
        (
            "stock-wide",
            json!({
                "phis": [-0.6, -0.8, -0.95],
                "train": {"epochs": 3},
                "methods": [{"method": "thr_opt"}, {"method": "savani_aft", "config": {"iterations": 2, "batch_size": 32}},
                            {"method": "zhang_al", "config": {"batch_size": 32}}, {"method": "a_clarc", "config": {"batch_size": 64}},
                            {"method": "rr_clarc", "config": {"batch_size": 64}}, {"method": "fine_tune", "config": {"batch_size": 64}}],
                "attribution": {"images": 160, "methods": [{"method": "lrp"}, {"method": "ig", "config": {"steps": 8, "steps_per_chunk": 8}}]}
            }),
        ),
        (
            "mid-wide",
            json!({
                "data": {"synthetic": {"open_mouth_rate": 0.1, "expression": 0.5}},
                "phis": [-0.7, -0.9],
                "train": {"epochs": 3},
                "methods": [{"method": "thr_opt"}, {"method": "savani_aft", "config": {"iterations": 2, "batch_size": 32}},
                            {"method": "zhang_al", "config": {"batch_size": 32}}, {"method": "a_clarc", "config": {"batch_size": 64}},
                            {"method": "rr_clarc", "config": {"batch_size": 64}}, {"method": "fine_tune", "config": {"batch_size": 64}}],
                "attribution": {"images": 160, "methods": [{"method": "lrp"}, {"method": "ig", "config": {"steps": 8, "steps_per_chunk": 8}}]}
            }),
        ),
        (
            "mid-strong",
            json!({
                "data": {"synthetic": {"open_mouth_rate": 0.1, "expression": 0.5}},
                "phis": [-0.8, -0.9, -0.95],
                "train": {"epochs": 3},
                "methods": [{"method": "thr_opt"}, {"method": "savani_aft", "config": {"iterations": 2, "batch_size": 32}},
                            {"method": "zhang_al", "config": {"batch_size": 32}}, {"method": "a_clarc", "config": {"batch_size": 64}},
                            {"method": "rr_clarc", "config": {"batch_size": 64}}, {"method": "fine_tune", "config": {"batch_size": 64}}],
                "attribution": {"images": 160, "methods": [{"method": "lrp"}, {"method": "ig", "config": {"steps": 8, "steps_per_chunk": 8}}]}
            }),
        ),
        (
            "attributions",
            json!({
                "data": {"synthetic": {"open_mouth_rate": 0.0, "expression": 0.35}},
                "phis": [-0.6, -0.8, -0.95],
                "train": {"epochs": 3},
                "methods": [{"method": "thr_opt"}, {"method": "savani_aft", "config": {"iterations": 2, "batch_size": 32}},
                            {"method": "zhang_al", "config": {"batch_size": 32}}, {"method": "a_clarc", "config": {"batch_size": 64}},
                            {"method": "rr_clarc", "config": {"batch_size": 64}}, {"method": "fine_tune", "config": {"batch_size": 64}}],
                "attribution": {"images": 96, "methods": [
                    {"method": "lrp"},
                    {"method": "lrp", "key": "lrp_ab", "config": {"composite": {"composite": "epsilon_alpha2_beta1"}}},
                    {"method": "grad_x_input"},
                    {"method": "ig", "config": {"steps": 8, "steps_per_chunk": 8}}
                ]}
            }),
        ),
        (
            "subtle",
            json!({
                "data": {"synthetic": {"open_mouth_rate": 0.0, "expression": 0.35}},
                "phis": [-0.6, -0.9],
                "splits": {"debias_at_train_phi": true},
                "train": {"epochs": 3}
            }),
        ),
    ]
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        for (name, patch) in candidates() {
            println!("{name}: {patch}");
        }
        return;
    }
    let seeds: Vec<u64> = args
        .iter()
        .position(|a| a == "--seeds")
        .and_then(|i| args.get(i + 1))
        .map(|s| s.split(',').filter_map(|x| x.parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 2, 3, 4, 5]);
    let wanted: Vec<&String> = args.iter().take_while(|a| *a != "--seeds").collect();
    println!("| candidate | seed | φ | vanilla shortcut (p) | vanilla flips | vanilla LRP MRR | ThrOpt maps = vanilla | ROI claims hold | EO claims hold | per method: ROI grade, |Δlogit| | s |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for (name, patch) in candidates() {
        if !wanted.is_empty() && !wanted.iter().any(|w| w.as_str() == name) {
            continue;
        }
        for &seed in &seeds {
            let mut value = serde_json::to_value(ExperimentConfig::demo()).expect("serialisable");
            biaslens_debias::merge(&mut value, patch.clone());
            let mut config = match ExperimentConfig::from_value(value) {
                Ok(c) => c,
                Err(e) => {
                    println!("| {name} | {seed} | — | invalid: {e} |");
                    continue;
                }
            };
            config.set_seeds(&[seed]);
            let start = std::time::Instant::now();
            let r = match pollster::block_on(run_experiment(&config, &Device::flex(), |_| {}, || false)) {
                Ok(r) => r,
                Err(e) => {
                    println!("| {name} | {seed} | — | failed: {e} |");
                    continue;
                }
            };
            let secs = start.elapsed().as_secs_f64();
            let v = verdicts(&r);
            let rho: Vec<String> = v
                .tracking
                .iter()
                .map(|t| format!("{} {} ρ {}", t.key, t.metric, t.rho.map_or("—".into(), |r| format!("{r:+.2}"))))
                .collect();
            eprintln!("{name} seed {seed}: saliency vs |Δlogit| over {} models: {}", v.tracking.first().map_or(0, |t| t.n), rho.join("; "));
            for p in &r.phis {
                let vanilla = &p.models[0];
                let rel = vanilla.reliance.as_ref();
                let mrr = vanilla.attribution("lrp").map_or(f64::NAN, |a| a.saliency.pooled.mrr_vanilla.mean);
                let here = |k: Claim| {
                    let of: Vec<_> = v.findings.iter().filter(|f| f.phi == p.phi && f.seed == p.seed && f.kind == k && !f.control).collect();
                    format!("{}/{}", of.iter().filter(|f| f.grade == Grade::Holds).count(), of.len())
                };
                let per: Vec<String> = p
                    .models
                    .iter()
                    .skip(1)
                    .map(|m| {
                        let g = v
                            .findings
                            .iter()
                            .find(|f| f.phi == p.phi && f.seed == p.seed && f.method == m.name && f.kind == Claim::LowersRoiRelevance)
                            .map_or("—", |f| match f.grade {
                                Grade::Holds => "H",
                                Grade::DirectionOnly => "d",
                                Grade::NoEffect => "0",
                                Grade::Opposite => "O",
                                Grade::NotTestable => "n",
                            });
                        format!("{} {g} {:.2}", m.name, m.reliance.as_ref().map_or(f64::NAN, |r| r.logit_change.value))
                    })
                    .collect();
                let thr = v.sanity.iter().filter(|s| s.phi == p.phi && s.seed == p.seed).all(|s| s.unchanged);
                println!(
                    "| {name} | {seed} | {} | {:+.3} ({}) | {:.3} | {mrr:.2} | {} | {} | {} | {} (vanilla {:.2}) | {secs:.0} |",
                    p.phi,
                    rel.map_or(f64::NAN, |r| r.shortcut.value),
                    rel.and_then(|r| r.shortcut_p).map_or("—".into(), |q| format!("{q:.0e}")),
                    rel.map_or(f64::NAN, |r| r.flip_rate.value),
                    if thr { "yes" } else { "no" },
                    here(Claim::LowersRoiRelevance),
                    here(Claim::LowersEqualizedOdds),
                    per.join("; "),
                    rel.map_or(f64::NAN, |r| r.logit_change.value),
                );
            }
        }
    }
}
