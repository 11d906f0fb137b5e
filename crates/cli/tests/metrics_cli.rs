//! `biaslens metrics` end to end: the binary scores .npy maps from the committed reference fixture
//! and must print what the independent numpy reference computed (to 1e-9, see
//! `crates/metrics/tests/reference.rs` for why), and fail with a readable message on bad input.

use std::path::{Path, PathBuf};
use std::process::Command;

use biaslens_npy::{NpyArray, NpyData};
use serde_json::Value;

fn fixture_case(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/metrics/saliency_cases.json");
    let all: Value = serde_json::from_str(&std::fs::read_to_string(path).expect("fixture exists"))
        .expect("JSON");
    all["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .find(|c| c["name"] == name)
        .expect("case present")
        .clone()
}

fn ints(v: &Value) -> Vec<i64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_i64().expect("int"))
        .collect()
}

fn tmpdir(tag: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("biaslens-metrics-cli-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn run(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_biaslens"))
        .arg("metrics")
        .args(args)
        .output()
        .expect("binary runs")
}

fn close(got: &Value, want: &Value) -> bool {
    let (g, w) = (
        got.as_f64().expect("number"),
        want.as_f64().expect("number"),
    );
    (g - w).abs() <= 1e-9 * w.abs().max(1.0)
}

#[test]
fn scores_npy_maps_like_the_numpy_reference() {
    let case = fixture_case("code_defaults_rgb");
    let dir = tmpdir("ok");
    let quant = case["quant"].as_f64().expect("quant") as f32;
    let shape: Vec<usize> = ["n", "channels", "height", "width"]
        .iter()
        .map(|k| usize::try_from(case[*k].as_u64().expect("dim")).expect("small"))
        .collect();
    for (key, file) in [("vanilla_q", "v.npy"), ("debiased_q", "d.npy")] {
        let data: Vec<f32> = ints(&case[key])
            .into_iter()
            .map(|k| k as f32 / quant)
            .collect();
        biaslens_npy::write(
            dir.join(file),
            &NpyArray::new(shape.clone(), NpyData::F32(data)).expect("shape"),
        )
        .expect("write npy");
    }
    // Protected attribute as .npy (int64), target as CSV with a header, to cover both readers.
    let pa = ints(&case["protected"]);
    biaslens_npy::write(
        dir.join("pa.npy"),
        &NpyArray::new(vec![pa.len()], NpyData::I64(pa)).expect("shape"),
    )
    .expect("write npy");
    let csv: String = std::iter::once("id,smiling\n".to_string())
        .chain(
            ints(&case["target"])
                .iter()
                .enumerate()
                .map(|(i, t)| format!("{i},{t}\n")),
        )
        .collect();
    std::fs::write(dir.join("t.csv"), csv).expect("write csv");
    let p = |f: &str| dir.join(f).display().to_string();
    let target = format!("{}:smiling", p("t.csv"));
    let out = run(&[
        "--vanilla",
        &p("v.npy"),
        "--debiased",
        &p("d.npy"),
        "--roi",
        "3,6,8,3",
        "--protected",
        &p("pa.npy"),
        "--target",
        &target,
        "--bootstrap",
        "200",
        "--seed",
        "12345",
        "--level",
        "0.95",
    ]);
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    let want = &case["expected"]["report"];
    for metric in ["rrf", "hrf", "mrr", "adr", "dif"] {
        assert!(
            close(
                &got["saliency"]["pooled"][metric]["mean"],
                &want["pooled"][metric]["mean"]
            ),
            "{metric}"
        );
        assert!(
            close(
                &got["saliency"]["pooled"][metric]["ci"]["low"],
                &want["pooled"][metric]["ci"]["low"]
            ),
            "{metric}"
        );
    }
    assert!(close(
        &got["saliency"]["pooled"]["rddt"]["test"]["p"],
        &want["pooled"]["rddt"]["test"]["p"]
    ));
    assert_eq!(
        got["saliency"]["pooled"]["rddt"]["test"]["significant"],
        want["pooled"]["rddt"]["test"]["significant"]
    );
    let groups = got["saliency"]["groups"].as_array().expect("groups");
    assert_eq!(
        groups.len(),
        want["groups"].as_array().expect("groups").len()
    );
    for (g, w) in groups
        .iter()
        .zip(want["groups"].as_array().expect("groups"))
    {
        assert_eq!(g["group"], w["group"]);
        assert!(close(
            &g["metrics"]["adr"]["mean"],
            &w["metrics"]["adr"]["mean"]
        ));
        assert_eq!(
            g["metrics"]["rddt"]["test"]["significant"],
            w["metrics"]["rddt"]["test"]["significant"]
        );
    }
    assert_eq!(got["fairness"], Value::Null);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_input_fails_with_a_readable_message() {
    let dir = tmpdir("bad");
    let csv = dir.join("maps.csv");
    std::fs::write(&csv, "1,2\n3,4\n").expect("write");
    let good = dir.join("good.npy");
    biaslens_npy::write(
        &good,
        &NpyArray::new(vec![2, 4, 4], NpyData::F32(vec![0.5; 32])).expect("shape"),
    )
    .expect("write");
    let s = |p: &Path| p.display().to_string();
    let cases: [(Vec<String>, &str); 3] = [
        (
            vec!["--vanilla".into(), s(&csv), "--debiased".into(), s(&good)],
            "not a .npy file",
        ),
        (
            vec![
                "--vanilla".into(),
                s(&good),
                "--debiased".into(),
                s(&good),
                "--roi".into(),
                "3,3,2,2".into(),
            ],
            "reaches outside",
        ),
        (
            vec![
                "--vanilla".into(),
                s(&good),
                "--debiased".into(),
                s(&good),
                "--roi".into(),
                "0,0,2".into(),
            ],
            "x,y,w,h",
        ),
    ];
    for (args, needle) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = run(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} should fail");
        assert!(
            err.contains(needle),
            "{args:?}: stderr {err:?} should mention {needle:?}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn fairness_from_labels_matches_the_numpy_reference() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/metrics/fairness_cases.json");
    let all: Value = serde_json::from_str(&std::fs::read_to_string(path).expect("fixture exists"))
        .expect("JSON");
    let case = all["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .find(|c| c["name"] == "random_biased")
        .expect("case")
        .clone();
    let dir = tmpdir("fair");
    let labels = ints(&case["labels"]);
    let n = labels.len();
    // Any maps will do: this test is about the label readers and the fairness path.
    let maps: Vec<f64> = (0..n * 4)
        .map(|i| f64::from(u32::try_from(i % 7).expect("small")) - 3.0)
        .collect();
    biaslens_npy::write(
        dir.join("m.npy"),
        &NpyArray::new(vec![n, 2, 2], NpyData::F64(maps)).expect("shape"),
    )
    .expect("write");
    // Labels as float32 .npy (whole numbers are accepted), predictions as a header-less CSV column.
    let y: Vec<f32> = labels
        .iter()
        .map(|&v| if v == 1 { 1.0 } else { 0.0 })
        .collect();
    biaslens_npy::write(
        dir.join("y.npy"),
        &NpyArray::new(vec![n], NpyData::F32(y)).expect("shape"),
    )
    .expect("write");
    let pa: Vec<bool> = ints(&case["protected"]).iter().map(|&v| v == 1).collect();
    biaslens_npy::write(
        dir.join("a.npy"),
        &NpyArray::new(vec![n], NpyData::Bool(pa)).expect("shape"),
    )
    .expect("write");
    let csv: String = ints(&case["predictions"])
        .iter()
        .map(|p| format!("{p}\n"))
        .collect();
    std::fs::write(dir.join("yhat.csv"), csv).expect("write");
    let p = |f: &str| dir.join(f).display().to_string();
    let out = run(&[
        "--vanilla",
        &p("m.npy"),
        "--debiased",
        &p("m.npy"),
        "--roi",
        "0,0,1,1",
        "--protected",
        &p("a.npy"),
        "--target",
        &p("y.npy"),
        "--predictions",
        &p("yhat.csv"),
        "--bootstrap",
        "300",
        "--level",
        "0.9",
        "--seed",
        "7",
    ]);
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    let want = &case["expected"];
    for gap in [
        "equalized_odds",
        "equal_opportunity",
        "demographic_parity",
        "accuracy_parity",
        "accuracy",
    ] {
        assert!(
            close(&got["fairness"][gap]["value"], &want[gap]["value"]),
            "{gap}"
        );
        assert!(
            close(
                &got["fairness"][gap]["ci"]["high"],
                &want[gap]["ci"]["high"]
            ),
            "{gap}"
        );
    }
    assert_eq!(
        got["fairness"]["protected"]["confusion"],
        want["protected"]["confusion"]
    );
    // Identical maps: the code's rule gives ADR = 0 and an undefined, non-significant RDDT.
    assert_eq!(got["saliency"]["pooled"]["adr"]["mean"], 0.0);
    assert_eq!(
        got["saliency"]["pooled"]["rddt"]["test"]["significant"],
        false
    );
    let _ = std::fs::remove_dir_all(&dir);
}
