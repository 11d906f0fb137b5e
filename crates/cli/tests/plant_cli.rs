//! `biaslens plant` pastes a known artifact into labelled photos (here an exported synthetic
//! benchmark in CelebA's layout) at a chosen φ with the target, and `biaslens run --boxes
//! --counterfactuals` runs the experiment on the planted dataset with each image's own box and the
//! ground-truth reliance (docs/METHODS.md#planting).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use biaslens_data::{CellCounts, OwnColumns, parse_box_csv, parse_own_csv};

fn biaslens() -> Command {
    Command::new(env!("CARGO_BIN_EXE_biaslens"))
}

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("biaslens-plant-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

fn ok(out: &Output) -> String {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `count` synthetic faces of 32×32 as lossless JPEGs with CelebA's attribute list.
fn export(d: &Path, count: usize) -> (PathBuf, PathBuf) {
    let data = d.join("data");
    ok(&biaslens().args(["data", "export", "--size", "32", "--count", &count.to_string(), "--seed", "4", "--quality", "100", "--out"]).arg(&data).output().expect("runs"));
    (data.join("list_attr_celeba.txt"), data.join("img_align_celeba"))
}

fn plant(labels: &Path, images: &Path, out: &Path, extra: &[&str]) -> Output {
    biaslens().arg("plant").arg("--labels").arg(labels).arg("--images").arg(images).arg("--out").arg(out).args(extra).output().expect("runs")
}

fn rgb(path: &Path) -> image::RgbImage {
    image::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).to_rgb8()
}

#[test]
fn planted_pairs_differ_only_in_their_box_at_the_requested_phi_and_repeat_for_a_seed() {
    let d = dir("pairs");
    let (labels, images) = export(&d, 400);
    let out = d.join("planted");
    let args = ["--phi", "-0.6", "--kind", "disc", "--colour", "255,255,0", "--size", "0.3", "--region", "0,0,1,0.5", "--seed", "7"];
    let stdout = ok(&plant(&labels, &images, &out, &args));
    assert!(stdout.contains("planted 200 of 400 images") && stdout.contains("φ requested -0.6"), "{stdout}");

    let planted = parse_own_csv(&std::fs::read(out.join("labels.csv")).expect("labels"), "labels.csv", &OwnColumns::default()).expect("reads as own labels");
    let n = planted.len();
    assert_eq!(n, 400);
    let counts = CellCounts::of(&planted.target, &planted.attribute, &(0..n).collect::<Vec<_>>());
    let phi = counts.phi().expect("both classes");
    // The cells are rounded to whole images: φ moves by at most one image in each of two cells,
    // |Δφ| ≤ 2/(n·√(p(1−p)q(1−q))) with p the target rate and q = 0.5 (here about 0.02).
    let p = planted.target.iter().filter(|&&t| t == 1).count() as f64 / n as f64;
    let tolerance = 2.0 / n as f64 / (p * (1.0 - p) * 0.25).sqrt();
    assert!((phi + 0.6).abs() <= tolerance, "achieved {phi}, tolerance {tolerance}");
    let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("plant.json")).expect("manifest")).expect("json");
    assert!((manifest["phi_achieved"].as_f64().expect("a number") - phi).abs() < 1e-12, "the manifest reports the labels' φ");
    assert_eq!(manifest["counts"]["t1a1"], counts.t1a1);

    // Every image has a box in the top half, 0.3 of 32 → 10 pixels wide; with/ and clean/ differ
    // inside it only (a disc: not in the corners); images/ is with/ exactly where planted.
    let boxes = parse_box_csv(&std::fs::read(out.join("boxes.csv")).expect("boxes"), "boxes.csv").expect("the box reader reads it");
    boxes.check_listed(&planted.images, "labels.csv").expect("one box per listed image");
    assert_eq!(boxes.images, planted.images);
    let source_names: Vec<String> = (1..=n).map(|i| format!("{i:06}.jpg")).collect();
    for (i, name) in planted.images.iter().enumerate() {
        let b = boxes.boxes[i];
        assert_eq!((b.x1 - b.x0, b.y1 - b.y0), (10, 10), "{name}");
        assert!(b.y1 <= 16, "{name}: {b}");
        let (clean, with, used) = (rgb(&out.join("clean").join(name)), rgb(&out.join("with").join(name)), rgb(&out.join("images").join(name)));
        assert_eq!(clean, rgb(&images.join(&source_names[i])), "{name}: the clean copy is the photo");
        let mut changed = 0;
        for (x, y, px) in with.enumerate_pixels() {
            if px != clean.get_pixel(x, y) {
                assert!(x >= b.x0 && x < b.x1 && y >= b.y0 && y < b.y1, "{name}: ({x}, {y}) changed outside {b}");
                changed += 1;
            }
        }
        assert!(changed > 40, "{name}: a disc of diameter 10 paints ~78 pixels, {changed} changed");
        assert_eq!(with.get_pixel(b.x0, b.y0), clean.get_pixel(b.x0, b.y0), "{name}: the disc leaves the corner");
        assert_eq!(used, if planted.attribute[i] == 1 { with } else { clean }, "{name}");
    }

    // The same seed writes the same bytes; another seed plants other images.
    let again = d.join("again");
    ok(&plant(&labels, &images, &again, &args));
    for f in ["labels.csv", "boxes.csv", "images/000001.png", "with/000400.png"] {
        assert_eq!(std::fs::read(out.join(f)).expect("first"), std::fs::read(again.join(f)).expect("second"), "{f}");
    }
    let other = d.join("other");
    ok(&plant(&labels, &images, &other, &["--phi", "-0.6", "--seed", "8"]));
    assert_ne!(std::fs::read(out.join("labels.csv")).expect("first"), std::fs::read(other.join("labels.csv")).expect("other"));

    // Refused, before writing: a folder that is not empty, a φ out of reach at the rate.
    let e = plant(&labels, &images, &out, &args);
    assert!(!e.status.success() && String::from_utf8_lossy(&e.stderr).contains("is not empty"));
    let e = plant(&labels, &images, &d.join("never"), &["--phi", "-0.95", "--attribute-rate", "0.1"]);
    let stderr = String::from_utf8_lossy(&e.stderr);
    assert!(!e.status.success() && stderr.contains("cannot be reached") && stderr.contains("--attribute-rate"), "{stderr}");
    assert!(!d.join("never").join("labels.csv").exists());
    let _ = std::fs::remove_dir_all(&d);
}

/// A tiny experiment on 32×32 images (fields left out take the demo's values): the vanilla model
/// is trained at φ = −0.9 between smiling and the planted patch, and at φ = 0 as the control.
const CONFIG: &str = r#"{
  "name": "planted-tiny",
  "data": {"synthetic": {"size": 32, "seed": 3}, "pool": 2000},
  "phis": [-0.9, 0.0],
  "splits": {"train": 192, "debias": 96, "test": 64},
  "train": {"learning_rate": 0.003, "batch_size": 32, "epochs": 5, "seed": 1, "fine_tune": "All"},
  "methods": [{"method": "thr_opt"}],
  "attribution": {"images": 8, "batch_size": 8, "ig": {"steps": 2, "steps_per_chunk": 2}},
  "metrics": {"bootstrap": {"resamples": 20}}
}"#;

fn run(d: &Path, planted: &Path, name: &str, extra: &[&std::ffi::OsStr]) -> (biaslens_experiment::ExperimentResults, String) {
    let config = d.join("exp.json");
    std::fs::write(&config, CONFIG).expect("config written");
    let json = d.join(format!("{name}.json"));
    let html = d.join(format!("{name}.html"));
    ok(&biaslens()
        .args(["run", "--quiet", "--config"])
        .arg(&config)
        .arg("--labels")
        .arg(planted.join("labels.csv"))
        .arg("--images")
        .arg(planted.join("images"))
        .args(extra)
        .arg("--out")
        .arg(&html)
        .arg("--json")
        .arg(&json)
        .output()
        .expect("runs"));
    let r = biaslens_experiment::import_report(&std::fs::read_to_string(&json).expect("written")).expect("imports");
    (r, std::fs::read_to_string(&html).expect("report"))
}

#[test]
fn a_planted_dataset_runs_with_its_boxes_and_counterfactuals() {
    let d = dir("run");
    let (labels, images) = export(&d, 1500);
    let planted = d.join("planted");
    // Planted at φ = 0 (every cell a quarter), so the run's splits can draw φ = −0.9 and 0 from it;
    // a patch of 8×8 pixels (0.25 of 32) anywhere in the image.
    ok(&plant(&labels, &images, &planted, &["--phi", "0", "--size", "0.25", "--seed", "1"]));
    let boxes = planted.join("boxes.csv");
    let (r, html) = run(&d, &planted, "boxes", &["--boxes".as_ref(), boxes.as_os_str(), "--counterfactuals".as_ref(), planted.as_os_str()]);
    assert_eq!(r.per_image_regions.as_deref(), Some("boxes.csv"));
    assert!(html.contains("one region per image, from boxes.csv"), "the report says the ROI applies to no image");
    for p in &r.phis {
        for m in &p.models {
            let x = m.reliance.as_ref().unwrap_or_else(|| panic!("φ {}: {} has no reliance", p.phi, m.name));
            assert_eq!(x.n, 64, "every test image's pair");
            assert!(x.logit_change.value.is_finite() && x.flip_rate.value.is_finite());
        }
    }
    // Vanilla trained at φ = −0.9 takes the patch as a shortcut: with it, P(smiling) drops (the
    // one-sided test of the shortcut's direction), and its logit moves more than at φ = 0.
    // Measured (this config, seeds 1–5 and 42): shortcut 0.27–0.77 with p < 1e-11, and
    // |Δlogit| 0.96–3.6 at φ = −0.9 against 0.43–0.83 at φ = 0.
    let vanilla = |phi: f64| r.phis.iter().find(|p| p.phi == phi).and_then(|p| p.models[0].reliance.clone()).expect("vanilla's reliance");
    let (strong, none) = (vanilla(-0.9), vanilla(0.0));
    assert!(strong.shortcut.value > 0.1 && strong.shortcut_p.is_some_and(|p| p < 0.01), "{strong:?}");
    assert!(strong.logit_change.value > none.logit_change.value, "{strong:?}\n{none:?}");
    // The premise names the planted attribute, not the config's synthetic necktie.
    let premises = biaslens_experiment::findings::verdicts(&r).premises;
    assert!(premises.iter().all(|p| p.reason.contains("without the protected attribute") && !p.reason.contains("Necktie")), "{premises:?}");

    // Every image's box set to the config's one ROI: the same numbers as no --boxes at all.
    let (plain, _) = run(&d, &planted, "plain", &["--counterfactuals".as_ref(), planted.as_os_str()]);
    assert_eq!(plain.per_image_regions, None);
    let roi = plain.roi;
    let same: String = std::iter::once("image,x0,y0,x1,y1\n".to_owned())
        .chain((1..=1500).map(|i| format!("{i:06}.png,{},{},{},{}\n", roi.x(), roi.y(), roi.x() + roi.w(), roi.y() + roi.h())))
        .collect();
    let same_file = d.join("same.csv");
    std::fs::write(&same_file, same).expect("written");
    let (boxed, _) = run(&d, &planted, "same", &["--boxes".as_ref(), same_file.as_os_str(), "--counterfactuals".as_ref(), planted.as_os_str()]);
    assert_eq!(boxed.without_timings().phis, plain.without_timings().phis, "a box per image equal to the ROI changes nothing");
    assert_ne!(r.without_timings().phis, plain.without_timings().phis, "the planted boxes are used");
    // Vanilla at φ = −0.9 puts its relevance on the patch: its MRR in the planted boxes is far above
    // its MRR in the config's fixed (necktie) box, which the patch rarely overlaps (measured 3.40
    // against 0.32).
    let key = biaslens_experiment::findings::claim_key(&r).expect("an attribution");
    let mrr = |x: &biaslens_experiment::ExperimentResults| x.phis[0].models[0].attribution(key).expect("maps").saliency.pooled.mrr.mean;
    assert!(mrr(&r) > 1.0 && mrr(&r) > 3.0 * mrr(&plain), "MRR in the planted boxes {} vs the fixed box {}", mrr(&r), mrr(&plain));
    // The pairs are read from the folders given: with the clean photo on both sides every model's
    // reliance is exactly zero; without --counterfactuals own images have none.
    let same = d.join("same-pairs");
    for side in ["with", "clean"] {
        std::fs::create_dir_all(same.join(side)).expect("mkdir");
        for i in 1..=1500 {
            let name = format!("{i:06}.png");
            std::fs::copy(planted.join("clean").join(&name), same.join(side).join(&name)).expect("copy");
        }
    }
    let (flat, _) = run(&d, &planted, "same-pairs", &["--counterfactuals".as_ref(), same.as_os_str()]);
    for m in flat.phis.iter().flat_map(|p| &p.models) {
        let x = m.reliance.as_ref().expect("a reliance");
        assert_eq!((x.logit_change.value, x.flip_rate.value, x.shortcut.value), (0.0, 0.0, 0.0), "{}", m.name);
    }
    let (none, _) = run(&d, &planted, "no-pairs", &[]);
    assert!(none.phis.iter().flat_map(|p| &p.models).all(|m| m.reliance.is_none()));
    // Runs scored in different regions are not pieces of one run.
    let e = biaslens_experiment::merge(vec![("boxes.json".into(), r.clone()), ("plain.json".into(), plain.clone())], false).expect_err("regions differ");
    assert!(matches!(e, biaslens_experiment::MergeError::Mismatch { what: "data", .. }), "{e}");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn masks_drawn_as_the_boxes_score_as_the_boxes_and_a_saved_vanilla_model_reproduces_the_run() {
    let d = dir("masks");
    let (labels, images) = export(&d, 1500);
    let planted = d.join("planted");
    ok(&plant(&labels, &images, &planted, &["--phi", "0", "--size", "0.25", "--seed", "1"]));
    let boxes = planted.join("boxes.csv");
    let models = d.join("models");
    std::fs::create_dir_all(&models).expect("mkdir");
    let (by_box, _) = run(&d, &planted, "boxes", &["--boxes".as_ref(), boxes.as_os_str(), "--save-vanilla".as_ref(), models.as_os_str()]);
    // Every image's mask is its box, drawn as a PNG at the image's size (32×32): the same pixels
    // in model pixels (no resize at this size), so every number is the same.
    let table = parse_box_csv(&std::fs::read(&boxes).expect("boxes"), "boxes.csv").expect("reads");
    let masks = d.join("masks");
    std::fs::create_dir_all(&masks).expect("mkdir");
    for (name, b) in table.images.iter().zip(&table.boxes) {
        let mask = image::GrayImage::from_fn(32, 32, |x, y| image::Luma([if (b.x0..b.x1).contains(&x) && (b.y0..b.y1).contains(&y) { 255 } else { 0 }]));
        mask.save(masks.join(name)).expect("mask written");
    }
    let (by_mask, _) = run(&d, &planted, "masks", &["--masks".as_ref(), masks.as_os_str()]);
    assert_eq!(by_mask.per_image_regions.as_deref(), Some("masks/"));
    assert_eq!(by_mask.without_timings().phis, by_box.without_timings().phis, "a mask equal to the box scores as the box");
    // The vanilla model of φ = −0.9 written by --save-vanilla and read back by --vanilla-weights:
    // that unit's models are the trained run's, bit for bit (same device, same weights).
    let saved = models.join(format!("vanilla-phi-0.9-seed{}.safetensors", by_box.seed));
    assert!(saved.is_file(), "--save-vanilla wrote {}", saved.display());
    assert_eq!(std::fs::read_dir(&models).expect("listed").count(), 2, "one model per unit");
    let (loaded, _) = run(&d, &planted, "loaded", &["--boxes".as_ref(), boxes.as_os_str(), "--vanilla-weights".as_ref(), saved.as_os_str()]);
    assert_eq!(loaded.without_timings().phis[0].models, by_box.without_timings().phis[0].models);
    // A missing mask is named.
    std::fs::remove_file(masks.join(&table.images[3])).expect("removed");
    let config = d.join("exp.json");
    let out = biaslens()
        .args(["run", "--quiet", "--config"])
        .arg(&config)
        .arg("--labels")
        .arg(planted.join("labels.csv"))
        .arg("--images")
        .arg(planted.join("images"))
        .arg("--masks")
        .arg(&masks)
        .arg("--out")
        .arg(d.join("x.html"))
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--masks") && err.contains(&table.images[3]) && err.contains("no mask for image"), "{err}");
    let _ = std::fs::remove_dir_all(&d);
}
