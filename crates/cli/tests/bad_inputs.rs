//! The bad-input corpus of issue 10 (`tests/bad-inputs/`): every case of `cases.json` fails with
//! a specific, readable error, from the library loader and from the `biaslens` CLI (non-zero
//! exit, no panic), naming what is wrong, where, and what to do.
//!
//! The binary files of the corpus (images, weights, `.npy`) are written by [`generated`]; the
//! committed bytes must equal them (`BLESS=1 cargo test -p biaslens-cli --test bad_inputs`
//! rewrites them).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use biaslens_data::{AttributeTable, DirSource, OwnColumns, PlantConfig, Preprocess, SplitConfig, make_splits, mask_region, parse_box_csv, parse_own_csv, parse_partition};

/// `.npy` maps carry no images: the CLI's per-map regions are in map pixels (no pad, no resize).
const MAP_PIXELS: Preprocess = Preprocess { square_pad: false, resize: None };
use biaslens_experiment::{CounterfactualSources, ExperimentConfig, ImagePool, import_report};
use biaslens_metrics::{ImageSize, Roi};
use biaslens_model::{ResNetConfig, torchvision_num_classes};
use biaslens_npy::{NpyArray, NpyData};
use burn::prelude::*;
use serde_json::Value;

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/bad-inputs")
}

fn tmp(name: &str) -> PathBuf {
    let p = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("bad_inputs_{}_{name}", std::process::id()));
    std::fs::create_dir_all(&p).expect("temp dir");
    p
}

// ---- the generator of the binary files ----

fn encode(img: &image::RgbImage, format: image::ImageFormat) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, format).expect("encode");
    out.into_inner()
}

/// A safetensors file written by hand, so that dtypes and headers can be wrong on purpose.
fn safetensors(entries: &[(&str, &str, &[usize], Vec<u8>)]) -> Vec<u8> {
    let mut header = String::from("{");
    let mut data = Vec::new();
    for (i, (key, dtype, shape, bytes)) in entries.iter().enumerate() {
        let shape: Vec<String> = shape.iter().map(usize::to_string).collect();
        if i > 0 {
            header.push(',');
        }
        header.push_str(&format!(
            "\"{key}\":{{\"dtype\":\"{dtype}\",\"shape\":[{}],\"data_offsets\":[{},{}]}}",
            shape.join(","),
            data.len(),
            data.len() + bytes.len()
        ));
        data.extend_from_slice(bytes);
    }
    header.push('}');
    while header.len() % 8 != 0 {
        header.push(' ');
    }
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(&data);
    out
}

fn f32s(n: usize, special: Option<(usize, f32)>) -> Vec<u8> {
    (0..n)
        .map(|i| match special {
            Some((at, v)) if at == i => v,
            _ => ((i * 37) % 17) as f32 / 17.0 - 0.5,
        })
        .flat_map(f32::to_le_bytes)
        .collect()
}

fn npy(shape: Vec<usize>, data: NpyData) -> Vec<u8> {
    NpyArray::new(shape, data).expect("array").to_bytes()
}

/// Every generated file of the corpus, by path relative to `tests/bad-inputs`.
fn generated() -> BTreeMap<String, Vec<u8>> {
    let mut g = BTreeMap::new();
    // Images: a valid JPEG and PNG, then broken copies.
    let img = image::RgbImage::from_fn(16, 16, |x, y| image::Rgb([(x * 16) as u8, (y * 16) as u8, 128]));
    let jpg = encode(&img, image::ImageFormat::Jpeg);
    let png = encode(&img, image::ImageFormat::Png);
    g.insert("own/images/truncated.jpg".into(), jpg[..jpg.len() / 2].to_vec());
    // A JPEG start followed by noise: the markers after SOI are garbage.
    let mut corrupt = jpg[..4].to_vec();
    corrupt.extend((0..200u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
    g.insert("own/images/corrupt.jpg".into(), corrupt);
    g.insert("own/images/truncated.png".into(), png[..png.len() / 2].to_vec());
    // The IHDR chunk's width changed without fixing its CRC.
    let mut corrupt = png.clone();
    corrupt[18] ^= 0x55;
    g.insert("own/images/corrupt.png".into(), corrupt);
    // Per-map region masks for the 16×16 maps of npy/ok-maps.npy: a valid one, then one of each
    // refused kind (all black, the wrong size, a JPEG).
    let mask = |w: u32, h: u32, inside: bool| {
        encode(&image::RgbImage::from_fn(w, h, |x, y| image::Rgb(if inside && (2..9).contains(&x) && (3..7).contains(&y) { [255; 3] } else { [0; 3] })), image::ImageFormat::Png)
    };
    for dir in ["masks-empty", "masks-wrong-size", "masks-jpeg"] {
        g.insert(format!("regions/{dir}/a.png"), mask(16, 16, true));
    }
    g.insert("regions/masks-empty/b.png".into(), mask(16, 16, false));
    g.insert("regions/masks-wrong-size/b.png".into(), mask(8, 8, true));
    g.insert("regions/masks-jpeg/b.png".into(), jpg.clone());
    // Masks for the own images (16×16), named after them: one of the wrong size, one missing.
    g.insert("own/masks-wrong-size/ok-a.png".into(), mask(8, 8, true));
    g.insert("own/masks-wrong-size/ok-b.png".into(), mask(16, 16, true));
    g.insert("own/masks-missing/ok-a.png".into(), mask(16, 16, true));
    // Counterfactual pairs of own/two-images.csv with one image missing from clean/.
    g.insert("plant/pairs-missing/with/ok-a.jpg".into(), jpg.clone());
    g.insert("plant/pairs-missing/with/ok-b.png".into(), png.clone());
    g.insert("plant/pairs-missing/clean/ok-a.jpg".into(), jpg.clone());
    g.insert("own/images/ok-a.jpg".into(), jpg);
    g.insert("own/images/ok-b.png".into(), png);

    // Weights for the compact ResNet (2 classes), each wrong in one way. The loader checks every
    // tensor's dtype and values first, then keys and shapes in module order.
    let conv1 = f32s(16 * 3 * 7 * 7, None);
    let fc_bias = f32s(2, None);
    let w = |entries: &[(&str, &str, &[usize], Vec<u8>)]| safetensors(entries);
    g.insert("weights/missing-key.safetensors".into(), w(&[("conv1.weight", "F32", &[16, 3, 7, 7], conv1.clone()), ("fc.bias", "F32", &[2], fc_bias.clone())]));
    g.insert("weights/wrong-shape.safetensors".into(), w(&[("conv1.weight", "F32", &[16, 3, 3, 3], f32s(16 * 27, None)), ("fc.bias", "F32", &[2], fc_bias.clone())]));
    let ints: Vec<u8> = (0..16 * 3 * 7 * 7).flat_map(|i: i64| i.to_le_bytes()).collect();
    g.insert("weights/wrong-dtype.safetensors".into(), w(&[("conv1.weight", "I64", &[16, 3, 7, 7], ints), ("fc.bias", "F32", &[2], fc_bias.clone())]));
    g.insert("weights/nan.safetensors".into(), w(&[("conv1.weight", "F32", &[16, 3, 7, 7], f32s(16 * 3 * 7 * 7, Some((5, f32::NAN)))), ("fc.bias", "F32", &[2], fc_bias.clone())]));
    g.insert(
        "weights/infinite.safetensors".into(),
        w(&[("bn1.running_var", "F32", &[16], f32s(16, Some((3, f32::INFINITY)))), ("conv1.weight", "F32", &[16, 3, 7, 7], conv1.clone()), ("fc.bias", "F32", &[2], fc_bias.clone())]),
    );
    g.insert("weights/no-classifier.safetensors".into(), w(&[("conv1.weight", "F32", &[16, 3, 7, 7], conv1.clone())]));
    let mut t = 200u64.to_le_bytes().to_vec();
    t.extend_from_slice(&b"{\"conv1.weight\":{\"dtype\":\"F32\",\"shape\":[16,3,7,7],\"dat"[..40]);
    g.insert("weights/truncated-header.safetensors".into(), t);
    let mut t = (1u64 << 62).to_le_bytes().to_vec();
    t.extend_from_slice(b"{}      ");
    g.insert("weights/absurd-header-length.safetensors".into(), t);
    let mut t = 16u64.to_le_bytes().to_vec();
    t.extend_from_slice(b"this is not JSON");
    g.insert("weights/header-not-json.safetensors".into(), t);
    g.insert("weights/too-short.safetensors".into(), b"PK\x03".to_vec());
    let full = w(&[("conv1.weight", "F32", &[16, 3, 7, 7], conv1), ("fc.bias", "F32", &[2], fc_bias)]);
    g.insert("weights/data-cut-short.safetensors".into(), full[..full.len() - 100].to_vec());

    // .npy files.
    let maps: Vec<f32> = (0..2 * 16 * 16).map(|i| ((i * 13) % 29) as f32 / 29.0).collect();
    g.insert("npy/ok-maps.npy".into(), npy(vec![2, 16, 16], NpyData::F32(maps.clone())));
    g.insert("npy/other-size-maps.npy".into(), npy(vec![2, 8, 8], NpyData::F32(maps[..128].to_vec())));
    g.insert("npy/labels-t.npy".into(), npy(vec![2], NpyData::I64(vec![0, 1])));
    g.insert("npy/ok-batch.npy".into(), npy(vec![1, 3, 16, 16], NpyData::F32([maps.clone(), maps[..256].to_vec()].concat())));
    g.insert("npy/gray-batch.npy".into(), npy(vec![2, 1, 16, 16], NpyData::F32(maps.clone())));
    let mut nan = [maps.clone(), maps.clone(), maps[..512].to_vec()].concat();
    nan[3 * 256 + 7] = f32::NAN;
    g.insert("npy/nan-batch.npy".into(), npy(vec![2, 3, 16, 16], NpyData::F32(nan)));
    g.insert("npy/wrong-shape.npy".into(), npy(vec![16], NpyData::F32(maps[..16].to_vec())));
    g.insert("npy/wrong-dtype.npy".into(), npy(vec![2, 16, 16], NpyData::I64((0..512).collect())));
    let ok = npy(vec![2, 16, 16], NpyData::F32(maps));
    let header_len = usize::from(u16::from_le_bytes([ok[8], ok[9]]));
    let with_header = |h: &str| {
        let h = format!("{h:<width$}\n", width = header_len - 1);
        let mut v = ok[..8].to_vec();
        v.extend_from_slice(&u16::try_from(h.len()).expect("short").to_le_bytes());
        v.extend_from_slice(h.as_bytes());
        v.extend_from_slice(&ok[10 + header_len..]);
        v
    };
    g.insert("npy/unsupported-dtype.npy".into(), with_header("{'descr': '<c8', 'fortran_order': False, 'shape': (2, 16, 16), }"));
    g.insert("npy/fortran-order.npy".into(), with_header("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 16, 16), }"));
    g.insert("npy/bad-shape-text.npy".into(), with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (two, 16, 16), }"));
    g.insert("npy/huge-shape.npy".into(), with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 4294967296), }"));
    g.insert("npy/byte-size-overflow.npy".into(), with_header("{'descr': '<f8', 'fortran_order': False, 'shape': (2305843009213693953,), }"));
    g.insert("npy/truncated-data.npy".into(), ok[..10 + header_len + 100].to_vec());
    g.insert("npy/header-cut.npy".into(), ok[..10 + 40].to_vec());
    g.insert("npy/csv-named-npy.npy".into(), b"0.1,0.2,0.3\n0.4,0.5,0.6\n".to_vec());
    g
}

#[test]
fn generated_files_are_committed_unchanged() {
    let bless = std::env::var_os("BLESS").is_some();
    let mut stale = Vec::new();
    for (path, bytes) in generated() {
        let p = corpus().join(&path);
        if bless {
            std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            std::fs::write(&p, &bytes).expect("write");
        } else if std::fs::read(&p).ok().as_deref() != Some(bytes.as_slice()) {
            stale.push(path);
        }
    }
    assert!(stale.is_empty(), "{stale:?} differ from what the generator writes; run BLESS=1 cargo test -p biaslens-cli --test bad_inputs");
}

// ---- the cases ----

struct Case {
    id: String,
    entry: String,
    params: Value,
    cli: Vec<String>,
    expect: Vec<String>,
    expect_cli: Vec<String>,
    expect_lib: Vec<String>,
}

fn strings(v: &Value, key: &str) -> Vec<String> {
    v.get(key).and_then(Value::as_array).map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect()).unwrap_or_default()
}

fn cases() -> Vec<Case> {
    let text = std::fs::read_to_string(corpus().join("cases.json")).expect("cases.json");
    let m: Value = serde_json::from_str(&text).expect("cases.json is JSON");
    m["cases"]
        .as_array()
        .expect("a cases array")
        .iter()
        .map(|c| Case {
            id: c["id"].as_str().expect("id").to_owned(),
            entry: c["entry"].as_str().expect("entry").to_owned(),
            params: c["params"].clone(),
            cli: strings(c, "cli"),
            expect: strings(c, "expect"),
            expect_cli: strings(c, "expect_cli"),
            expect_lib: strings(c, "expect_lib"),
        })
        .collect()
}

fn param<'a>(c: &'a Case, key: &str) -> &'a str {
    c.params[key].as_str().unwrap_or_else(|| panic!("{}: params.{key}", c.id))
}

fn read(rel: &str) -> Vec<u8> {
    std::fs::read(corpus().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// The library's error for a case, `None` where the rule is the CLI's own (`cli-only`).
fn library_error(c: &Case) -> Option<Result<(), String>> {
    let e = |r: Result<(), String>| Some(r);
    match c.entry.as_str() {
        "cli-only" => None,
        "celeba" => e((|| {
            let dir = corpus().join(param(c, "dir"));
            let name = ["list_attr_celeba.txt", "list_attr_celeba.csv"].into_iter().find(|n| dir.join(n).exists()).expect("attribute file");
            let table = AttributeTable::parse(&std::fs::read(dir.join(name)).map_err(|e| e.to_string())?, name).map_err(|e| e.to_string())?;
            let l = table.labelled(param(c, "target"), param(c, "protected")).map_err(|e| e.to_string())?;
            let partition = if c.params["official"].as_bool() == Some(true) {
                let p = std::fs::read(dir.join("list_eval_partition.txt")).map_err(|e| e.to_string())?;
                Some(parse_partition(&p, "list_eval_partition.txt", &table.images).map_err(|e| e.to_string())?)
            } else {
                None
            };
            let mut config = SplitConfig::default();
            if partition.is_some() {
                config.pools = biaslens_data::Pools::Official;
            }
            make_splits(&l.target, &l.attribute, partition.as_deref(), &config).map(|_| ()).map_err(|e| format!("{name}: {e}"))
        })()),
        "own" => e((|| {
            let csv = param(c, "csv");
            let name = Path::new(csv).file_name().expect("name").to_string_lossy().into_owned();
            let l = parse_own_csv(&read(csv), &name, &OwnColumns::default()).map_err(|e| e.to_string())?;
            l.check_decodable(&DirSource { root: corpus().join(param(c, "images")) }, &Preprocess::default()).map_err(|e| e.to_string())
        })()),
        "own-regions" => e((|| {
            let csv = param(c, "csv");
            let name = Path::new(csv).file_name().expect("name").to_string_lossy().into_owned();
            let l = parse_own_csv(&read(csv), &name, &OwnColumns::default()).map_err(|e| e.to_string())?;
            let source = DirSource { root: corpus().join(param(c, "images")) };
            let pre = Preprocess::default();
            match c.params.get("boxes").and_then(Value::as_str) {
                Some(boxes) => {
                    let bname = Path::new(boxes).file_name().expect("name").to_string_lossy().into_owned();
                    let t = parse_box_csv(&read(boxes), &bname).map_err(|e| e.to_string())?;
                    l.box_regions(&t, &source, &pre).map(|_| ()).map_err(|e| e.to_string())
                }
                None => l.mask_regions(&DirSource { root: corpus().join(param(c, "masks")) }, &source, &pre).map(|_| ()).map_err(|e| e.to_string()),
            }
        })()),
        "own-run-extras" => e((|| {
            let csv = param(c, "csv");
            let name = Path::new(csv).file_name().expect("name").to_string_lossy().into_owned();
            let source = Box::new(DirSource { root: corpus().join(param(c, "images")) });
            let pool = ImagePool::from_labels(&read(csv), &name, source, &ExperimentConfig::demo())?;
            match c.params.get("boxes").and_then(Value::as_str) {
                Some(boxes) => {
                    let bname = Path::new(boxes).file_name().expect("name").to_string_lossy().into_owned();
                    pool.with_boxes(&read(boxes), &bname).map(|_| ())
                }
                None => {
                    let root = corpus().join(param(c, "counterfactuals"));
                    let pairs = CounterfactualSources {
                        name: "pairs".into(),
                        with: Box::new(DirSource { root: root.join("with") }),
                        without: Box::new(DirSource { root: root.join("clean") }),
                    };
                    pool.with_counterfactuals(pairs).map(|_| ())
                }
            }
        })()),
        "own-partition" => e((|| {
            let labels = param(c, "labels");
            let source = Box::new(DirSource { root: corpus().join(param(c, "images")) });
            let pool = ImagePool::from_labels(&read(labels), "list_attr_celeba.txt", source, &ExperimentConfig::demo())?;
            let partition = param(c, "partition");
            let name = Path::new(partition).file_name().expect("name").to_string_lossy().into_owned();
            biaslens_experiment::PoolPartition::parse(&read(partition), &name, &pool.labelled).map(|_| ())
        })()),
        "plant" => e((|| {
            let csv = param(c, "csv");
            let name = Path::new(csv).file_name().expect("name").to_string_lossy().into_owned();
            let l = parse_own_csv(&read(csv), &name, &OwnColumns::default()).map_err(|e| e.to_string())?;
            let number = |k: &str| c.params[k].as_f64().unwrap_or_else(|| panic!("{}: params.{k}", c.id));
            let config = PlantConfig { phi: number("phi"), attribute_rate: number("attribute_rate"), ..PlantConfig::default() };
            biaslens_data::plant::choose(&l.target, &config).map(|_| ()).map_err(|e| e.to_string())
        })()),
        "weights" => e((|| {
            let bytes = read(param(c, "file"));
            let classes = torchvision_num_classes(&bytes).map_err(|e| e.to_string())?;
            ResNetConfig::compact(classes).init(&Device::flex()).load_torchvision(bytes).map(|_| ()).map_err(|e| e.to_string())
        })()),
        "npy" => e(biaslens_npy::from_bytes(&read(param(c, "file"))).map(|_| ()).map_err(|e| e.to_string())),
        "report" => e(import_report(&String::from_utf8_lossy(&read(param(c, "file")))).map(|_| ()).map_err(|e| e.to_string())),
        "config" => e(ExperimentConfig::from_json(&String::from_utf8_lossy(&read(param(c, "file")))).map(|_| ()).map_err(|e| e.to_string())),
        "run" => e((|| {
            let config = ExperimentConfig::from_json(&String::from_utf8_lossy(&read(param(c, "file")))).map_err(|e| e.to_string())?;
            pollster::block_on(biaslens_experiment::run_experiment(&config, &Device::flex(), |_| {}, || false)).map(|_| ()).map_err(|e| e.to_string())
        })()),
        "link" => e(ExperimentConfig::from_fragment(param(c, "fragment")).map(|_| ()).map_err(|e| e.to_string())),
        "merge" => e((|| {
            let files = c.params["files"].as_array().expect("files");
            let pieces = files
                .iter()
                .map(|f| {
                    let f = f.as_str().expect("file name");
                    import_report(&String::from_utf8_lossy(&read(f))).map(|r| (f.to_owned(), r)).map_err(|e| e.to_string())
                })
                .collect::<Result<Vec<_>, _>>()?;
            biaslens_experiment::merge(pieces, false).map(|_| ()).map_err(|e| e.to_string())
        })()),
        "masks" => e((|| {
            let image = ImageSize { width: 16, height: 16 };
            let mut files: Vec<PathBuf> = std::fs::read_dir(corpus().join(param(c, "dir"))).map_err(|e| e.to_string())?.filter_map(|e| e.ok().map(|e| e.path())).collect();
            files.sort();
            for f in files {
                let name = f.file_name().expect("name").to_string_lossy().into_owned();
                mask_region(&std::fs::read(&f).map_err(|e| e.to_string())?, &name, image, &MAP_PIXELS).map_err(|e| e.to_string())?;
            }
            Ok(())
        })()),
        "boxes" => e((|| {
            let file = param(c, "file");
            let name = Path::new(file).file_name().expect("name").to_string_lossy().into_owned();
            let t = parse_box_csv(&read(file), &name).map_err(|e| e.to_string())?;
            t.regions(&t.images, &vec![ImageSize { width: 16, height: 16 }; t.images.len()], &MAP_PIXELS).map(|_| ()).map_err(|e| e.to_string())
        })()),
        "roi" => {
            let n = |k: &str| u32::try_from(c.params[k].as_u64().expect("number")).expect("u32");
            let image = ImageSize { width: n("width"), height: n("height") };
            e(Roi::new(n("x"), n("y"), n("w"), n("h"), image).map(|_| ()).map_err(|e| e.to_string()))
        }
        other => panic!("{}: unknown entry {other}", c.id),
    }
}

fn missing<'a>(text: &str, wanted: impl IntoIterator<Item = &'a String>) -> Vec<String> {
    wanted.into_iter().filter(|w| !text.contains(w.as_str())).cloned().collect()
}

#[test]
fn every_case_fails_readably_in_the_library_and_the_cli() {
    let cases = cases();
    assert!(cases.len() >= 50, "the corpus has {} cases; issue 10 asks for at least 50", cases.len());
    let mut ids = std::collections::HashSet::new();
    for c in &cases {
        assert!(ids.insert(c.id.clone()), "duplicate case id {}", c.id);
        assert!(!c.expect.is_empty() || !c.expect_cli.is_empty(), "{}: no expected substrings", c.id);
    }
    // Valid weights for the cases that need them ({weights}).
    let device = Device::flex();
    device.seed(3);
    let weights = tmp("weights").join("compact.safetensors");
    let bytes = pollster::block_on(ResNetConfig::compact(2).init(&device).export_torchvision()).expect("export");
    std::fs::write(&weights, bytes).expect("write weights");

    let mut failures = Vec::new();
    for c in &cases {
        if let Some(result) = library_error(c) {
            match result {
                Ok(()) => failures.push(format!("{}: the library accepted it", c.id)),
                Err(msg) => {
                    let miss = missing(&msg, c.expect.iter().chain(&c.expect_lib));
                    if !miss.is_empty() {
                        failures.push(format!("{}: library error lacks {miss:?}:\n    {msg}", c.id));
                    }
                }
            }
        }
        let out = tmp(&format!("out_{}", c.id));
        let args: Vec<String> = c
            .cli
            .iter()
            .map(|a| {
                a.replace("{dir}", &corpus().display().to_string())
                    .replace("{out}", &out.display().to_string())
                    .replace("{weights}", &weights.display().to_string())
            })
            .collect();
        let run = Command::new(env!("CARGO_BIN_EXE_biaslens")).args(&args).output().expect("run biaslens");
        let stderr = String::from_utf8_lossy(&run.stderr);
        if run.status.success() {
            failures.push(format!("{}: the CLI exited 0", c.id));
        } else if run.status.code() != Some(1) {
            failures.push(format!("{}: the CLI ended with {:?}, not exit code 1:\n{stderr}", c.id, run.status));
        }
        if stderr.contains("panicked") {
            failures.push(format!("{}: the CLI panicked:\n{stderr}", c.id));
        }
        let miss = missing(&stderr, c.expect.iter().chain(&c.expect_cli));
        if !miss.is_empty() {
            failures.push(format!("{}: CLI stderr lacks {miss:?}:\n    {}", c.id, stderr.trim()));
        }
    }
    assert!(failures.is_empty(), "{} of {} cases fail:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

#[test]
fn every_corpus_file_belongs_to_a_case() {
    // Files that no case names would be dead weight; names that do not exist would be typos.
    let cases: Value = serde_json::from_str(&std::fs::read_to_string(corpus().join("cases.json")).expect("read")).expect("json");
    let mut named = std::collections::HashSet::new();
    for c in cases["cases"].as_array().expect("cases") {
        for f in strings(c, "files") {
            let p = corpus().join(&f);
            assert!(p.exists(), "{}: {f} does not exist", c["id"]);
            named.insert(f);
        }
    }
    let mut unnamed = Vec::new();
    walk(&corpus(), &mut |rel: &str| {
        let in_named_dir = named.iter().any(|n| n.ends_with('/') && rel.starts_with(n.as_str()));
        let helper = ["cases.json", "README.md", "npy/labels-t.npy", "npy/ok-batch.npy"].contains(&rel);
        if !named.contains(rel) && !in_named_dir && !helper {
            unnamed.push(rel.to_owned());
        }
    });
    assert!(unnamed.is_empty(), "files no case names: {unnamed:?}");
}

fn walk(dir: &Path, f: &mut impl FnMut(&str)) {
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let p = entry.expect("entry").path();
        if p.is_dir() {
            walk(&p, f);
        } else {
            let rel = p.strip_prefix(corpus()).expect("inside").to_string_lossy().replace('\\', "/");
            f(&rel);
        }
    }
}
