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

#[test]
fn check_own_maps_boxes_and_masks_to_the_model_input() {
    // Two 16×12 and 12×16 images, a box per image and a mask per image drawn on the originals:
    // `check own` reports the regions in the model's 8×8 input, the same pixels either way.
    let dir = std::env::temp_dir().join(format!("biaslens-check-regions-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("masks")).expect("mkdir");
    let boxes = [("a.png", 16u32, 12u32, [2u32, 3, 10, 9]), ("b.png", 12, 16, [0, 0, 12, 4])];
    let mut rows = String::from("image,x0,y0,x1,y1\n");
    for (name, w, h, [x0, y0, x1, y1]) in boxes {
        image::RgbImage::from_pixel(w, h, image::Rgb([90, 90, 90])).save(dir.join(name)).expect("image");
        let m = image::GrayImage::from_fn(w, h, |x, y| image::Luma([if x >= x0 && x < x1 && y >= y0 && y < y1 { 1 } else { 0 }]));
        m.save(dir.join("masks").join(name)).expect("mask");
        rows.push_str(&format!("{name},{x0},{y0},{x1},{y1}\n"));
    }
    std::fs::write(dir.join("labels.csv"), "image,target,attribute\na.png,1,0\nb.png,0,1\n").expect("csv");
    std::fs::write(dir.join("boxes.csv"), rows).expect("boxes");
    let check = |flag: &str, value: &str| {
        let out = biaslens()
            .args(["check", "own", "--csv"])
            .arg(dir.join("labels.csv"))
            .args([flag, value, "--resize", "8"])
            .output()
            .expect("runs");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // a.png: padded to 16×16 two rows down, x 2..10 → 1..5, y 5..11 → 3..6 (2.5 → 3, 5.5 → 6):
    // 4×3 = 12 pixels. b.png: padded two columns right, x 2..14 → 1..7, y 0..4 → 0..2: 12 pixels.
    let from_boxes = check("--boxes", &dir.join("boxes.csv").display().to_string());
    assert!(from_boxes.contains("2 regions from boxes.csv, 12 to 12 pixels inside in the model's 8×8 (W×H) input"), "{from_boxes}");
    let from_masks = check("--masks", &dir.join("masks").display().to_string());
    assert!(from_masks.contains("12 to 12 pixels inside in the model's 8×8 (W×H) input"), "{from_masks}");
    let _ = std::fs::remove_dir_all(&dir);
}
