//! Export of a generated benchmark in the exact CelebA layout, so that Python tools such as
//! DetoxAI read the same data: `img_align_celeba/000001.jpg…`, `list_attr_celeba.txt` (and
//! Kaggle's `list_attr_celeba.csv`, which DetoxAI reads, `docs/METHODS.md#celeba`),
//! `list_eval_partition.txt` (and `.csv`), plus `roi.json` with the ROI preset of the attribute.
//!
//! All 40 CelebA columns are written. Those the generator knows are filled truthfully
//! (`Smiling`, the protected attribute, `Mouth_Slightly_Open`, hair colours and `Bald`,
//! `Eyeglasses`, `Wearing_Earrings`, `Pale_Skin`); the others are −1. The partition follows
//! CelebA's proportions: the first 80% of images 0 (train), the next 10% 1 (validation), the
//! last 10% 2 (test). Images are square at the configured size (CelebA's are 178×218; a square
//! image passes the authors' SquarePad unchanged).

use image::ExtendedColorType;
use image::codecs::jpeg::JpegEncoder;
use serde::{Deserialize, Serialize};

use crate::celeba::CELEBA_ATTRIBUTES;
use crate::synthetic::{FaceTraits, ProtectedKind, SyntheticConfig, SyntheticError};

/// What to export.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExportConfig {
    /// The benchmark.
    pub synthetic: SyntheticConfig,
    /// Number of images.
    pub count: usize,
    /// JPEG quality, 1–100 (CelebA's files are JPEGs too).
    pub jpeg_quality: u8,
}

impl Default for ExportConfig {
    fn default() -> Self {
        Self { synthetic: SyntheticConfig::default(), count: 10_000, jpeg_quality: 95 }
    }
}

/// The ROI file written next to the lists.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoiFile {
    /// The CelebA attribute the box belongs to.
    pub attribute: String,
    /// Left column.
    pub x: u32,
    /// Top row.
    pub y: u32,
    /// Width in columns.
    pub w: u32,
    /// Height in rows.
    pub h: u32,
    /// Image width.
    pub image_width: u32,
    /// Image height.
    pub image_height: u32,
    /// The generator settings, so the benchmark can be regenerated.
    pub synthetic: SyntheticConfig,
}

/// Why an export failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ExportError {
    /// Bad generator settings.
    #[error(transparent)]
    Synthetic(#[from] SyntheticError),
    /// A JPEG quality outside 1–100.
    #[error("the JPEG quality must lie in 1..=100, got {0}")]
    Quality(u8),
    /// An image could not be encoded.
    #[error("cannot encode {path}: {message}")]
    Encode {
        /// The file.
        path: String,
        /// The encoder's message.
        message: String,
    },
    /// The sink could not write a file.
    #[error("cannot write {path}: {message}")]
    Write {
        /// The file.
        path: String,
        /// Why.
        message: String,
    },
}

/// CelebA's file name of image `i` (0-based): `000001.jpg` for `i = 0`.
pub fn celeba_name(i: usize) -> String {
    format!("{:06}.jpg", i + 1)
}

/// The 40 CelebA values (±1) of a synthetic face painted with `kind`.
pub fn celeba_values(traits: &FaceTraits, kind: ProtectedKind) -> [i8; 40] {
    let mut v = [-1i8; 40];
    let mut set = |name: &str, on: bool| {
        if let Some(k) = CELEBA_ATTRIBUTES.iter().position(|n| *n == name) {
            v[k] = if on { 1 } else { -1 };
        }
    };
    set("Smiling", traits.smiling);
    set(kind.celeba_name(), traits.attribute);
    set("Mouth_Slightly_Open", traits.mouth_open);
    set("Bald", traits.hair == 0);
    set("Black_Hair", traits.hair == 1);
    set("Brown_Hair", traits.hair == 2);
    set("Blond_Hair", traits.hair == 3);
    set("Gray_Hair", traits.hair == 4);
    set("Eyeglasses", traits.eyeglasses);
    set("Wearing_Earrings", traits.earrings);
    set("Pale_Skin", traits.pale_skin);
    v
}

/// Partition (0, 1, 2) of image `i` of `n`: 80% / 10% / 10% in order.
pub fn partition_of(i: usize, n: usize) -> u8 {
    if i * 10 < n * 8 {
        0
    } else if i * 10 < n * 9 {
        1
    } else {
        2
    }
}

/// Generate the benchmark and hand every file to `write(relative path, bytes)`, images in
/// batches of 256 so memory stays small. Returns the relative paths written.
///
/// # Errors
/// [`ExportError`] for bad settings, an encoder failure, or the first failed write.
pub fn export_celeba(config: &ExportConfig, mut write: impl FnMut(&str, &[u8]) -> Result<(), String>) -> Result<Vec<String>, ExportError> {
    if !(1..=100).contains(&config.jpeg_quality) {
        return Err(ExportError::Quality(config.jpeg_quality));
    }
    let syn = &config.synthetic;
    let roi = syn.roi()?;
    let n = config.count;
    let mut written = Vec::new();
    let mut emit = |path: String, bytes: &[u8], written: &mut Vec<String>| {
        write(&path, bytes).map_err(|message| ExportError::Write { path: path.clone(), message })?;
        written.push(path);
        Ok::<(), ExportError>(())
    };

    let side = syn.size;
    let plane = (side * side) as usize;
    let mut rgb = vec![0u8; 3 * plane];
    for first in (0..n).step_by(256) {
        let count = 256.min(n - first);
        let batch = syn.generate(first as u64, count)?;
        for k in 0..count {
            let px = batch.image_pixels(k);
            for i in 0..plane {
                for c in 0..3 {
                    rgb[3 * i + c] = (px[c * plane + i] * 255.0).round() as u8;
                }
            }
            let path = format!("img_align_celeba/{}", celeba_name(first + k));
            let mut jpeg = Vec::new();
            JpegEncoder::new_with_quality(&mut jpeg, config.jpeg_quality)
                .encode(&rgb, side, side, ExtendedColorType::Rgb8)
                .map_err(|e| ExportError::Encode { path: path.clone(), message: e.to_string() })?;
            emit(path, &jpeg, &mut written)?;
        }
    }

    let mut txt = format!("{n}\n{} \n", CELEBA_ATTRIBUTES.join(" "));
    let mut csv = format!("image_id,{}\n", CELEBA_ATTRIBUTES.join(","));
    let mut part_txt = String::new();
    let mut part_csv = String::from("image_id,partition\n");
    for i in 0..n {
        let name = celeba_name(i);
        let values = celeba_values(&syn.traits(i as u64), syn.attribute);
        txt.push_str(&name);
        csv.push_str(&name);
        for v in values {
            txt.push_str(&format!(" {v:>2}"));
            csv.push_str(&format!(",{v}"));
        }
        txt.push('\n');
        csv.push('\n');
        let p = partition_of(i, n);
        part_txt.push_str(&format!("{name} {p}\n"));
        part_csv.push_str(&format!("{name},{p}\n"));
    }
    let roi_file = RoiFile {
        attribute: syn.attribute.celeba_name().to_owned(),
        x: roi.x(),
        y: roi.y(),
        w: roi.w(),
        h: roi.h(),
        image_width: side,
        image_height: side,
        synthetic: syn.clone(),
    };
    let roi_json = serde_json::to_string_pretty(&roi_file).map_err(|e| ExportError::Encode { path: "roi.json".into(), message: e.to_string() })?;
    emit("list_attr_celeba.txt".into(), txt.as_bytes(), &mut written)?;
    emit("list_attr_celeba.csv".into(), csv.as_bytes(), &mut written)?;
    emit("list_eval_partition.txt".into(), part_txt.as_bytes(), &mut written)?;
    emit("list_eval_partition.csv".into(), part_csv.as_bytes(), &mut written)?;
    emit("roi.json".into(), format!("{roi_json}\n").as_bytes(), &mut written)?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::celeba::{AttributeTable, parse_partition};
    use crate::images::{MemorySource, Preprocess};

    fn export(config: &ExportConfig) -> HashMap<String, Vec<u8>> {
        let mut files = HashMap::new();
        export_celeba(config, |p, b| {
            files.insert(p.to_owned(), b.to_vec());
            Ok(())
        })
        .expect("exports");
        files
    }

    #[test]
    fn export_reads_back_as_celeba_with_the_generator_labels() {
        let config = ExportConfig { count: 20, synthetic: SyntheticConfig { attribute: ProtectedKind::Hat, ..SyntheticConfig::default() }, ..ExportConfig::default() };
        let files = export(&config);
        assert_eq!(files.len(), 25);
        let txt = std::str::from_utf8(&files["list_attr_celeba.txt"]).expect("utf8");
        assert!(txt.starts_with("20\n5_o_Clock_Shadow Arched_Eyebrows "));
        assert!(txt.lines().nth(2).is_some_and(|l| l.starts_with("000001.jpg -1 ")));
        let a = AttributeTable::parse(&files["list_attr_celeba.txt"], "list_attr_celeba.txt").expect("parses");
        let b = AttributeTable::parse(&files["list_attr_celeba.csv"], "list_attr_celeba.csv").expect("parses");
        assert_eq!(a.names.len(), 40);
        let (t, at) = config.synthetic.labels(0, 20);
        for table in [&a, &b] {
            let l = table.labelled("Smiling", "Wearing_Hat").expect("both classes");
            assert_eq!((&l.target, &l.attribute), (&t, &at));
        }
        let part = parse_partition(&files["list_eval_partition.txt"], "p", &a.images).expect("parses");
        assert_eq!(part.iter().filter(|&&p| p == 0).count(), 16);
        let roi: RoiFile = serde_json::from_slice(&files["roi.json"]).expect("json");
        let expect = config.synthetic.hat_roi().expect("valid");
        assert_eq!((roi.x, roi.y, roi.w, roi.h, roi.attribute.as_str()), (expect.x(), expect.y(), expect.w(), expect.h(), "Wearing_Hat"));
        // The JPEGs decode to the generated pixels up to compression error.
        let mut src = MemorySource::default();
        for (p, bytes) in &files {
            src.insert(p, bytes.clone());
        }
        let l = a.labelled("Smiling", "Wearing_Hat").expect("both classes");
        let rows: Vec<usize> = (0..20).collect();
        let loaded = l.load_batch(&rows, &src, &Preprocess::default());
        assert!(loaded.skipped.is_empty());
        let generated = config.synthetic.generate(0, 20).expect("valid");
        let mad = loaded.batch.pixels.iter().zip(&generated.pixels).map(|(x, y)| (x - y).abs()).sum::<f32>() / generated.pixels.len() as f32;
        assert!(mad < 0.04, "mean absolute JPEG error {mad}");
        // Deterministic: the same files again.
        assert_eq!(files, export(&config));
    }
}
