//! `biaslens run` on a tiny experiment config writes a report that imports again and exits 0;
//! a broken config or a missing file exits non-zero with a readable message.

use std::path::PathBuf;
use std::process::Command;

fn biaslens() -> Command {
    Command::new(env!("CARGO_BIN_EXE_biaslens"))
}

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("biaslens-run-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// A tiny experiment (32×32 images, width-8 network, one φ, ThrOpt only, few images): fields
/// left out take the demo's values.
const TINY: &str = r#"{
  "name": "cli-tiny",
  "data": {"synthetic": {"size": 32, "seed": 3}, "pool": 2000},
  "phis": [-0.6],
  "splits": {"train": 256, "debias": 96, "test": 48},
  "train": {"learning_rate": 0.003, "batch_size": 32, "epochs": 1, "seed": 1, "fine_tune": "All"},
  "methods": [{"method": "thr_opt"}],
  "attribution": {"images": 8, "batch_size": 8, "ig": {"steps": 2, "steps_per_chunk": 2}},
  "metrics": {"bootstrap": {"resamples": 20}}
}"#;

#[test]
fn run_writes_a_report_that_imports_again() {
    let d = dir("ok");
    let config = d.join("exp.json");
    std::fs::write(&config, TINY).expect("config written");
    let out = biaslens()
        .args(["run", "--config"])
        .arg(&config)
        .arg("--out")
        .arg(d.join("report.html"))
        .arg("--json")
        .arg(d.join("results.json"))
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("train vanilla"), "progress on stderr: {stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("ThrOpt") && stdout.contains("claims hold"), "{stdout}");
    let html = std::fs::read_to_string(d.join("report.html")).expect("report written");
    assert!(html.contains("<svg") && html.contains("biaslens-results"));
    let from_html = biaslens_experiment::import_report(&html).expect("report imports");
    let json = std::fs::read_to_string(d.join("results.json")).expect("results written");
    let from_json = biaslens_experiment::import_report(&json).expect("results import");
    assert_eq!(from_html, from_json);
    assert_eq!(from_html.config.name, "cli-tiny");
    assert_eq!(from_html.phis.len(), 1);
}

#[test]
fn bad_input_exits_non_zero_with_a_readable_message() {
    let d = dir("bad");
    let broken = d.join("broken.json");
    std::fs::write(&broken, "{\"phis\": [-0.5,").expect("written");
    let invalid = d.join("invalid.json");
    std::fs::write(&invalid, "{\"phis\": [3.0]}").expect("written");
    let report = d.join("report.html");
    for (config, needle) in [
        (broken.clone(), "experiment config"),
        (invalid, "[-1, 1]"),
        (d.join("missing.json"), "reading experiment config"),
    ] {
        let out = biaslens().args(["run", "--config"]).arg(&config).arg("--out").arg(&report).output().expect("runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{} should fail", config.display());
        assert!(stderr.contains("error:") && stderr.contains(needle), "{}: {stderr}", config.display());
        assert!(!report.exists(), "no report on failure");
    }
    // An output folder that does not exist is refused before any work.
    std::fs::write(d.join("ok.json"), TINY).expect("written");
    let out = biaslens()
        .args(["run", "--config"])
        .arg(d.join("ok.json"))
        .arg("--out")
        .arg(d.join("no/such/folder/report.html"))
        .output()
        .expect("runs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"));
}

#[test]
fn demo_prints_its_config() {
    let out = biaslens().args(["demo", "--print-config"]).output().expect("runs");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let c = biaslens_experiment::ExperimentConfig::from_json(&text).expect("valid config");
    assert_eq!(c, biaslens_experiment::ExperimentConfig::demo());
}
