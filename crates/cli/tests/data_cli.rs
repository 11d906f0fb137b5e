//! `biaslens data export` writes CelebA's layout; `biaslens data splits` reports counts and φ.

use std::process::Command;

fn biaslens() -> Command {
    Command::new(env!("CARGO_BIN_EXE_biaslens"))
}

#[test]
fn export_writes_celeba_layout_and_splits_read_it_back() {
    let out = std::env::temp_dir().join(format!("biaslens-data-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let status = biaslens()
        .args([
            "data",
            "export",
            "--count",
            "12",
            "--size",
            "64",
            "--attribute",
            "hat",
            "--seed",
            "3",
            "--out",
        ])
        .arg(&out)
        .status()
        .expect("runs");
    assert!(status.success());
    for f in [
        "list_attr_celeba.txt",
        "list_attr_celeba.csv",
        "list_eval_partition.txt",
        "list_eval_partition.csv",
        "roi.json",
    ] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    assert!(out.join("img_align_celeba/000012.jpg").is_file());
    assert!(!out.join("img_align_celeba/000013.jpg").exists());
    let txt = std::fs::read_to_string(out.join("list_attr_celeba.txt")).expect("written");
    let mut lines = txt.lines();
    assert_eq!(lines.next(), Some("12"));
    assert_eq!(lines.next().map(|l| l.split_whitespace().count()), Some(40));
    assert_eq!(lines.count(), 12);
    let roi: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("roi.json")).expect("written"))
            .expect("json");
    assert_eq!(roi["attribute"], "Wearing_Hat");

    // Splits of the exported folder, by the authors' blocks (12 rows: tiny, but read end to end).
    let run = biaslens()
        .args(["data", "splits", "--celeba"])
        .arg(&out)
        .args(["--protected", "Wearing_Hat"])
        .output()
        .expect("runs");
    // Seed 3 leaves the train block of twelve images without a (smiling = 0, hat = 1) image:
    // the command must fail cleanly and name the short cell, never panic.
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(
        !run.status.success(),
        "twelve images cannot fill every train cell"
    );
    assert!(
        err.contains("train split needs")
            && err.contains("target=0 and attribute=1")
            && err.contains("has only 0"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn synthetic_splits_hit_the_requested_phi() {
    let run = biaslens()
        .args([
            "data",
            "splits",
            "--count",
            "10000",
            "--phi",
            "-0.5",
            "--protected",
            "necktie",
        ])
        .output()
        .expect("runs");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&run.stdout).expect("json");
    let splits = report["splits"].as_array().expect("array");
    for s in &splits[..2] {
        let phi = s["phi"].as_f64().expect("phi");
        assert!((phi + 0.5).abs() <= 0.02, "{s}");
    }
    let test = &splits[2]["counts"];
    assert_eq!(test["t0a0"], test["t1a1"]);
    assert_eq!(test["t0a1"], test["t1a0"]);
    assert_eq!(test["t0a0"], test["t0a1"]);
}
