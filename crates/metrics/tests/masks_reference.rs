//! Agreement of the saliency metrics with a region per image (`per_image_metrics_each`,
//! `saliency_report`) with an independent numpy 2.4.6 + scipy 1.17.1 reference, on the cases that
//! `tests/reference/masks_reference.py` writes to `tests/fixtures/masks/masks_cases.json`
//! (`docs/METHODS.md#per-image-regions`). Regions given as boxes there are `Region::Box` here, masks
//! `Region::Mask`; the reference scores each image by boolean indexing, not by spans.
//!
//! Fixture encoding: NaN → `null`, ±∞ → `"inf"` / `"-inf"`. Re-make it with
//! `/work/.refenv051/bin/python tests/reference/masks_reference.py` (any python with numpy and
//! scipy); print the measured deviations with
//! `cargo test -p biaslens-metrics --test masks_reference -- --nocapture`.

use biaslens_metrics::saliency::Summary;
use biaslens_metrics::{ImageSize, Mask, Region, Roi, SaliencySettings, TTest, per_image_metrics_each, saliency_report};
use serde_json::Value;

const FIXTURE: &str = include_str!("../../../tests/fixtures/masks/masks_cases.json");

/// Per-image RRF, MRR, DET, ADR and pooled means: `|rust − numpy| ≤ TOL · max(|numpy|, 1)`.
/// Preprocessed values lie in `[0, 0.5]` and a map has 108 pixels, so every sum is ≤ 54 and every
/// quantity is built from a few such sums: numpy sums pairwise, Rust in row order, and the two
/// roundings differ by at most ~n·ε·Σ|terms| ≈ 108 · 1.1e-16 · 54 ≈ 6e-13 in the worst case for a
/// sum, divided by the pixel count for a mean. Measured max on this fixture over every compared
/// value (per image, pooled means and stds, t statistics; printed by the test): 2.2e-15, a few
/// ulps. 1e-12 is ~450× that, covers the worst-case bound of the means and ratios, and is
/// 10⁹ times smaller than any change of region here would make (one pixel in or out moves RRF by
/// ≥ 1e-4). HRF and DIF are counts over the pixel count: the same counts (the script keeps every
/// value ≥ 1e-9 away from their thresholds, so rounding cannot flip one), but numpy's mean of
/// booleans may round the quotient an ulp away from `count / n` (measured: 40/108); within 1e-12
/// they can only be the same count, as one pixel moves them by ≥ 1/108. MRR of a whole-image
/// mask is +∞ on both sides.
const TOL: f64 = 1e-12;

/// t-test p-values (DET, RDDT): relative 1e-10, as in `stats_reference.rs` (statrs' t tail vs
/// scipy's Boost; measured there ≤ 6.4e-13 for df ≤ 1000); t statistics relative 1e-12.
const TOL_P: f64 = 1e-10;

fn num(v: &Value) -> f64 {
    match v {
        Value::Null => f64::NAN,
        Value::String(s) if s == "inf" => f64::INFINITY,
        Value::String(s) if s == "-inf" => f64::NEG_INFINITY,
        other => other.as_f64().unwrap_or_else(|| panic!("not a number: {other}")),
    }
}

/// `|a − e| ≤ tol · max(|e|, 1)`, with NaN = NaN and ∞ = ∞ exactly; returns the scaled deviation.
fn close(what: &str, a: f64, e: f64, tol: f64) -> f64 {
    if e.is_nan() || e.is_infinite() {
        assert!((a.is_nan() && e.is_nan()) || a == e, "{what}: {a} vs {e}");
        return 0.0;
    }
    let dev = (a - e).abs() / e.abs().max(1.0);
    assert!(dev <= tol, "{what}: rust {a} vs numpy {e} (scaled deviation {dev:e} > {tol:e})");
    dev
}

fn regions(case: &Value, image: ImageSize) -> Vec<Region> {
    case["regions"]
        .as_array()
        .expect("regions")
        .iter()
        .map(|r| {
            if let Some(b) = r.get("box") {
                let v: Vec<u32> = b.as_array().expect("box").iter().map(|x| u32::try_from(x.as_u64().expect("int")).expect("u32")).collect();
                Region::Box(Roi::new(v[0], v[1], v[2], v[3], image).expect("the fixture's boxes fit"))
            } else {
                let inside = r["mask"].as_array().expect("mask").iter().map(|x| x.as_u64() == Some(1)).collect();
                Region::Mask(Mask::new(image, inside).expect("the fixture's masks are not empty"))
            }
        })
        .collect()
}

fn check_test(what: &str, t: &TTest, e: &Value) -> f64 {
    assert_eq!(t.n as u64, e["n"].as_u64().expect("n"), "{what}.n");
    assert_eq!(t.significant, e["significant"].as_bool().expect("bool"), "{what}.significant");
    let mut dev = close(&format!("{what}.mean"), t.mean, num(&e["mean"]), TOL);
    let et = num(&e["t"]);
    match t.t {
        Some(v) => dev = dev.max(close(&format!("{what}.t"), v, et, TOL)),
        None => assert!(et.is_nan(), "{what}.t: none vs {et}"),
    }
    match (t.p, e["p"].as_f64()) {
        (Some(p), Some(q)) => assert!((p - q).abs() <= TOL_P * q.abs(), "{what}.p: {p} vs {q}"),
        (None, None) => {}
        (p, q) => panic!("{what}.p: {p:?} vs {q:?}"),
    }
    dev
}

#[test]
fn per_image_regions_match_numpy() {
    let doc: Value = serde_json::from_str(FIXTURE).expect("fixture is JSON");
    let cases = doc["cases"].as_array().expect("cases");
    assert_eq!(cases.len(), 3);
    let mut max_dev = 0.0f64;
    let mut kinds = (0, 0);
    for case in cases {
        let name = case["name"].as_str().expect("name");
        let n = usize::try_from(case["n"].as_u64().expect("n")).expect("usize");
        let c = usize::try_from(case["channels"].as_u64().expect("c")).expect("usize");
        let image = ImageSize {
            width: u32::try_from(case["width"].as_u64().expect("w")).expect("u32"),
            height: u32::try_from(case["height"].as_u64().expect("h")).expect("u32"),
        };
        let quant = case["quant"].as_f64().expect("quant");
        let maps = |k: &str| -> Vec<f64> { case[k].as_array().expect("maps").iter().map(|x| x.as_f64().expect("int") / quant).collect() };
        let (v, d) = (maps("vanilla_q"), maps("debiased_q"));
        let s: SaliencySettings = serde_json::from_value(case["settings"].clone()).expect("settings");
        let regs = regions(case, image);
        kinds.0 += regs.iter().filter(|r| matches!(r, Region::Box(_))).count();
        kinds.1 += regs.iter().filter(|r| matches!(r, Region::Mask(_))).count();
        let per = per_image_metrics_each(&v, &d, c, &regs, &s).expect("shapes match");
        assert_eq!(per.len(), n);
        for (i, (m, e)) in per.iter().zip(case["expected"]["per_image"].as_array().expect("per image")).enumerate() {
            for (side, got, exp) in [("vanilla", m.vanilla, &e["vanilla"]), ("debiased", m.debiased, &e["debiased"])] {
                let at = |k: &str| format!("{name} image {i} {side}.{k}");
                for (k, val) in [("rrf", got.rrf), ("mrr", got.mrr), ("det", got.det)] {
                    max_dev = max_dev.max(close(&at(k), val, num(&exp[k]), TOL));
                }
                max_dev = max_dev.max(close(&at("hrf"), got.hrf, num(&exp["hrf"]), TOL));
            }
            max_dev = max_dev.max(close(&format!("{name} image {i} adr"), m.adr, num(&e["adr"]), TOL));
            max_dev = max_dev.max(close(&format!("{name} image {i} dif"), m.dif, num(&e["dif"]), TOL));
        }
        let report = saliency_report(&per, None, &s, None).expect("no groups");
        let p = &report.pooled;
        let ep = &case["expected"]["pooled"];
        assert_eq!(p.n, n);
        let summaries: [(&str, &Summary); 8] = [
            ("rrf_vanilla", &p.rrf_vanilla),
            ("rrf", &p.rrf),
            ("hrf_vanilla", &p.hrf_vanilla),
            ("hrf", &p.hrf),
            ("mrr_vanilla", &p.mrr_vanilla),
            ("mrr", &p.mrr),
            ("adr", &p.adr),
            ("dif", &p.dif),
        ];
        for (k, sum) in summaries {
            max_dev = max_dev.max(close(&format!("{name} pooled {k}.mean"), sum.mean, num(&ep[k]["mean"]), TOL));
            max_dev = max_dev.max(close(&format!("{name} pooled {k}.std"), sum.std, num(&ep[k]["std"]), TOL));
        }
        for (k, t) in [("det_vanilla", &p.det_vanilla.test), ("det", &p.det.test), ("rddt", &p.rddt.test)] {
            max_dev = max_dev.max(check_test(&format!("{name} pooled {k}"), t, &ep[k]));
        }
    }
    println!("max scaled deviation from numpy: {max_dev:e} ({} box and {} mask regions)", kinds.0, kinds.1);
    assert!(kinds.0 >= 6 && kinds.1 >= 20, "the fixture mixes boxes and masks: {kinds:?}");
}

#[test]
fn the_reference_can_tell_a_region_from_its_transpose_and_from_one_shared_box() {
    // Near misses the comparison above must reject: scoring the first case with every image in
    // image 0's region, or with boxes whose x and y are swapped where they still fit, moves some
    // RRF far beyond the tolerance.
    let doc: Value = serde_json::from_str(FIXTURE).expect("fixture is JSON");
    let case = &doc["cases"][0];
    let image = ImageSize { width: 12, height: 9 };
    let quant = case["quant"].as_f64().expect("quant");
    let maps = |k: &str| -> Vec<f64> { case[k].as_array().expect("maps").iter().map(|x| x.as_f64().expect("int") / quant).collect() };
    let (v, d) = (maps("vanilla_q"), maps("debiased_q"));
    let s = SaliencySettings::default();
    let regs = regions(case, image);
    let expected: Vec<f64> = case["expected"]["per_image"].as_array().expect("per image").iter().map(|e| num(&e["debiased"]["rrf"])).collect();
    let worst = |per: &[biaslens_metrics::ImageMetrics]| per.iter().zip(&expected).map(|(m, e)| (m.debiased.rrf - e).abs()).fold(0.0, f64::max);
    let shared = vec![regs[0].clone(); regs.len()];
    assert!(worst(&per_image_metrics_each(&v, &d, 3, &shared, &s).expect("shapes")) > 1e-3);
    let transposed: Vec<Region> = regs
        .iter()
        .map(|r| match r {
            Region::Box(b) => Roi::new(b.y(), b.x(), b.h(), b.w(), image).map(Region::Box).unwrap_or_else(|_| r.clone()),
            Region::Mask(_) => r.clone(),
        })
        .collect();
    assert_ne!(transposed, regs, "some box fits transposed");
    assert!(worst(&per_image_metrics_each(&v, &d, 3, &transposed, &s).expect("shapes")) > 1e-3);
}
