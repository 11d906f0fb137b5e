//! Agreement with the independent numpy + scipy reference (`tests/reference/metrics_reference.py`),
//! whose outputs are committed under `tests/fixtures/metrics/`.
//!
//! Tolerance: `|rust − numpy| ≤ 1e-9 · max(1, |numpy|)` for every number. Both sides compute in
//! f64 from the same exactly representable inputs (integers / 1024); they differ only in summation
//! order and in the algebraic form of the normalisation (`|R|·0.5/a` here, `|(R+a)/2/a − 0.5|` in the
//! reference), i.e. a few ulps (~1e-15 relative), and statrs' vs scipy's t tail (~1e-13). 1e-9 is
//! far above that and far below any value a metric reports. Booleans (RDDT/DET decisions),
//! integer counts, `null`s (undefined p-values) and the structure must match exactly.

use std::path::PathBuf;

use biaslens_metrics::stats::SplitMix64;
use biaslens_metrics::{
    BootstrapSettings, ImageSize, Roi, SaliencySettings, fairness_report, per_image_metrics, saliency_report,
};
use serde_json::Value;

const TOL: f64 = 1e-9;

fn fixture(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/metrics").join(name);
    let text = std::fs::read_to_string(&path).expect("fixture exists (run tests/reference/metrics_reference.py)");
    serde_json::from_str(&text).expect("fixture is JSON")
}

/// Largest scaled deviation `|rust − numpy| / max(1, |numpy|)` seen (printed with `--nocapture`).
static WORST: std::sync::Mutex<f64> = std::sync::Mutex::new(0.0);

/// Recursively compares `got` to `want`; collects mismatches with their JSON path.
fn compare(path: &str, got: &Value, want: &Value, errors: &mut Vec<String>) {
    match (got, want) {
        (Value::Number(g), Value::Number(w)) => {
            let (g, w) = (g.as_f64().expect("finite"), w.as_f64().expect("finite"));
            let dev = (g - w).abs() / w.abs().max(1.0);
            if let Ok(mut worst) = WORST.lock() {
                *worst = worst.max(dev);
            }
            if dev > TOL {
                errors.push(format!("{path}: rust {g:e} vs numpy {w:e}"));
            }
        }
        (Value::Object(g), Value::Object(w)) => {
            let (mut gk, mut wk): (Vec<_>, Vec<_>) = (g.keys().collect(), w.keys().collect());
            gk.sort();
            wk.sort();
            if gk != wk {
                errors.push(format!("{path}: keys {gk:?} vs {wk:?}"));
                return;
            }
            for (k, gv) in g {
                compare(&format!("{path}.{k}"), gv, &w[k], errors);
            }
        }
        (Value::Array(g), Value::Array(w)) => {
            if g.len() != w.len() {
                errors.push(format!("{path}: length {} vs {}", g.len(), w.len()));
                return;
            }
            for (i, (gv, wv)) in g.iter().zip(w).enumerate() {
                compare(&format!("{path}[{i}]"), gv, wv, errors);
            }
        }
        _ if got == want => {}
        _ => errors.push(format!("{path}: rust {got} vs numpy {want}")),
    }
}

fn ints(v: &Value) -> Vec<i64> {
    v.as_array().expect("array").iter().map(|x| x.as_i64().expect("integer")).collect()
}

#[test]
fn saliency_metrics_match_numpy_reference() {
    let fx = fixture("saliency_cases.json");
    let cases = fx["cases"].as_array().expect("cases");
    assert!(cases.len() >= 7, "every edge case is present");
    let mut errors = Vec::new();
    let mut rddt_decisions = 0;
    for case in cases {
        let name = case["name"].as_str().expect("name");
        let quant = case["quant"].as_f64().expect("quant");
        let to_f32 = |v: &Value| -> Vec<f32> { ints(v).into_iter().map(|k| k as f32 / quant as f32).collect() };
        let (v, d) = (to_f32(&case["vanilla_q"]), to_f32(&case["debiased_q"]));
        let size = |k: &str| u32::try_from(case[k].as_u64().expect("size")).expect("small");
        let image = ImageSize { width: size("width"), height: size("height") };
        let r: Vec<u32> = ints(&case["roi"]).into_iter().map(|x| u32::try_from(x).expect("small")).collect();
        let roi = Roi::new(r[0], r[1], r[2], r[3], image).expect("fixture roi fits");
        let settings: SaliencySettings = serde_json::from_value(case["settings"].clone()).expect("settings parse");
        let boot: Option<BootstrapSettings> = serde_json::from_value(case["bootstrap"].clone()).expect("bootstrap parses");
        let channels = usize::try_from(case["channels"].as_u64().expect("channels")).expect("small");
        let per = per_image_metrics(&v, &d, channels, &roi, &settings).expect("shapes match");
        compare(
            &format!("{name}.per_image"),
            &serde_json::to_value(&per).expect("serialises"),
            &case["expected"]["per_image"],
            &mut errors,
        );
        let (pa, t) = (ints(&case["protected"]), ints(&case["target"]));
        let report = saliency_report(&per, Some((&pa, &t)), &settings, boot.as_ref()).expect("labels match");
        let got = serde_json::to_value(&report).expect("serialises");
        compare(&format!("{name}.report"), &got, &case["expected"]["report"], &mut errors);
        rddt_decisions += 1 + report.groups.len();
    }
    assert!(errors.is_empty(), "{} mismatches:\n{}", errors.len(), errors.join("\n"));
    eprintln!("largest scaled deviation so far: {:e}", WORST.lock().map(|w| *w).unwrap_or(f64::NAN));
    assert!(rddt_decisions > 20, "RDDT decisions compared: {rddt_decisions}");
}

#[test]
fn fairness_metrics_match_numpy_reference() {
    let fx = fixture("fairness_cases.json");
    let mut errors = Vec::new();
    for case in fx["cases"].as_array().expect("cases") {
        let name = case["name"].as_str().expect("name");
        let boot: Option<BootstrapSettings> = serde_json::from_value(case["bootstrap"].clone()).expect("bootstrap parses");
        let report = fairness_report(&ints(&case["labels"]), &ints(&case["predictions"]), &ints(&case["protected"]), boot.as_ref())
            .expect("valid fixture");
        compare(name, &serde_json::to_value(report).expect("serialises"), &case["expected"], &mut errors);
    }
    assert!(errors.is_empty(), "{} mismatches:\n{}", errors.len(), errors.join("\n"));
}

#[test]
fn bootstrap_indices_match_numpy_splitmix() {
    let fx = fixture("bootstrap_indices.json");
    let n = usize::try_from(fx["n"].as_u64().expect("n")).expect("small");
    let mut rng = SplitMix64::new(fx["seed"].as_u64().expect("seed"));
    for row in fx["indices"].as_array().expect("rows") {
        let want: Vec<usize> = ints(row).into_iter().map(|i| usize::try_from(i).expect("index")).collect();
        let got: Vec<usize> = (0..n).map(|_| rng.below(n)).collect();
        assert_eq!(got, want);
    }
}
