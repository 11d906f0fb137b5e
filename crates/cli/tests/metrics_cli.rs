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

/// The per-image-region fixture of `tests/reference/masks_reference.py` (numpy), case `name`.
fn masks_case(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/masks/masks_cases.json");
    let all: Value = serde_json::from_str(&std::fs::read_to_string(path).expect("fixture exists")).expect("JSON");
    all["cases"].as_array().expect("cases").iter().find(|c| c["name"] == name).expect("case present").clone()
}

#[test]
fn per_map_masks_and_boxes_score_like_the_numpy_reference() {
    // Every region of the numpy fixture (boxes and masks alike) written as a mask PNG, one per map
    // in file-name order; the CLI's per-image numbers must be numpy's (1e-12 scaled, as in
    // crates/metrics/tests/masks_reference.rs, where the tolerance is justified).
    let case = masks_case("code_defaults_rgb");
    let dir = tmpdir("masks");
    let (w, h) = (case["width"].as_u64().expect("w") as u32, case["height"].as_u64().expect("h") as u32);
    let quant = case["quant"].as_f64().expect("quant");
    let shape = vec![case["n"].as_u64().expect("n") as usize, 3, h as usize, w as usize];
    for (key, file) in [("vanilla_q", "v.npy"), ("debiased_q", "d.npy")] {
        let data: Vec<f64> = ints(&case[key]).into_iter().map(|k| k as f64 / quant).collect();
        biaslens_npy::write(dir.join(file), &NpyArray::new(shape.clone(), NpyData::F64(data)).expect("shape")).expect("write npy");
    }
    let masks = dir.join("masks");
    std::fs::create_dir_all(&masks).expect("mask dir");
    for (i, r) in case["regions"].as_array().expect("regions").iter().enumerate() {
        let inside = |x: u32, y: u32| match r.get("box") {
            Some(b) => {
                let b = ints(b);
                let (x, y) = (i64::from(x), i64::from(y));
                x >= b[0] && x < b[0] + b[2] && y >= b[1] && y < b[1] + b[3]
            }
            None => r["mask"][(y * w + x) as usize] == 1,
        };
        // Grey on black, so "non-zero = inside" is what is tested, not "white".
        let img = image::GrayImage::from_fn(w, h, |x, y| image::Luma([if inside(x, y) { 7 } else { 0 }]));
        img.save(masks.join(format!("{i:03}.png"))).expect("write mask");
    }
    let p = |f: &str| dir.join(f).display().to_string();
    let out = run(&["--vanilla", &p("v.npy"), "--debiased", &p("d.npy"), "--masks", &p("masks"), "--bootstrap", "0", "--per-image"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let got: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(got["regions"]["kind"], "masks");
    let num = |v: &Value| match v.as_str() {
        Some("inf") => f64::INFINITY,
        _ => v.as_f64().expect("number"),
    };
    for (i, (g, e)) in got["per_image"].as_array().expect("per image").iter().zip(case["expected"]["per_image"].as_array().expect("expected")).enumerate() {
        for side in ["vanilla", "debiased"] {
            for k in ["rrf", "hrf", "det"] {
                let (a, b) = (num(&g[side][k]), num(&e[side][k]));
                assert!((a - b).abs() <= 1e-12 * b.abs().max(1.0), "image {i} {side}.{k}: {a} vs {b}");
            }
            // serde_json writes +∞ as null: the whole-image mask's MRR.
            match num(&e[side]["mrr"]) {
                b if b.is_infinite() => assert!(g[side]["mrr"].is_null(), "image {i} {side}.mrr"),
                b => assert!((num(&g[side]["mrr"]) - b).abs() <= 1e-12 * b.abs().max(1.0), "image {i} {side}.mrr"),
            }
        }
        assert!((num(&g["adr"]) - num(&e["adr"])).abs() <= 1e-12, "image {i} adr");
    }

    // A box per map that is the same box for every map gives the --roi output exactly (the
    // default is unchanged); rows may be in any dialect the own-label CSV accepts.
    let n = shape[0];
    let rows: String = (0..n).map(|i| format!("map{i};3;1;7;6\r\n")).collect();
    std::fs::write(dir.join("boxes.csv"), format!("image;x0;y0;x1;y1\r\n{rows}")).expect("write boxes");
    let with_roi = run(&["--vanilla", &p("v.npy"), "--debiased", &p("d.npy"), "--roi", "3,1,4,5", "--bootstrap", "0", "--per-image"]);
    let with_boxes = run(&["--vanilla", &p("v.npy"), "--debiased", &p("d.npy"), "--boxes", &p("boxes.csv"), "--bootstrap", "0", "--per-image"]);
    assert!(with_boxes.status.success(), "{}", String::from_utf8_lossy(&with_boxes.stderr));
    let (a, b): (Value, Value) = (serde_json::from_slice(&with_roi.stdout).expect("JSON"), serde_json::from_slice(&with_boxes.stdout).expect("JSON"));
    assert_eq!(a["per_image"], b["per_image"]);
    assert_eq!(a["saliency"], b["saliency"]);
    assert_eq!(b["regions"]["pixels_inside"].as_array().expect("counts").len(), n);

    // Label CSVs as spreadsheets write them (BOM, semicolons, CRLF, a quoted header) read as the
    // same labels as a plain one: per-group metrics come out equal.
    let labels: Vec<i64> = (0..n as i64).map(|i| i % 2).collect();
    let plain: String = std::iter::once("id,smiling\n".to_owned()).chain(labels.iter().enumerate().map(|(i, t)| format!("{i},{t}\n"))).collect();
    let excel: String = std::iter::once("\u{feff}\"id\";\"smiling\"\r\n".to_owned()).chain(labels.iter().enumerate().map(|(i, t)| format!("{i};{t}\r\n"))).collect();
    std::fs::write(dir.join("plain.csv"), plain).expect("write");
    std::fs::write(dir.join("excel.csv"), excel).expect("write");
    let grouped = |f: &str| {
        let spec = format!("{}:smiling", p(f));
        let out = run(&["--vanilla", &p("v.npy"), "--debiased", &p("d.npy"), "--protected", &spec, "--target", &spec, "--bootstrap", "0"]);
        assert!(out.status.success(), "{f}: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice::<Value>(&out.stdout).expect("JSON")["saliency"]["groups"].clone()
    };
    let (a, b) = (grouped("plain.csv"), grouped("excel.csv"));
    assert_eq!(a.as_array().expect("groups").len(), 2);
    assert_eq!(a, b);

    // One box short: refused, naming the counts.
    let short: String = (0..n - 1).map(|i| format!("map{i},3,1,7,6\n")).collect();
    std::fs::write(dir.join("short.csv"), format!("image,x0,y0,x1,y1\n{short}")).expect("write boxes");
    let out = run(&["--vanilla", &p("v.npy"), "--debiased", &p("d.npy"), "--boxes", &p("short.csv"), "--bootstrap", "0"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains(&format!("short.csv: {} boxes for {n} maps", n - 1)), "{err}");
}
