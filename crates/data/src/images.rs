//! Labelled image lists and lazy, batched decoding of their images from bytes.
//!
//! CelebA ([`crate::celeba`]) and a user's own folder ([`crate::own`]) both end up as a
//! [`LabelledImages`]: file names with a target and a protected attribute each. Images are only
//! decoded a batch at a time ([`LabelledImages::load_batch`], or [`LabelledImages::load_batch_async`]
//! where bytes arrive asynchronously), so CelebA's 202,599 images are never held decoded at once,
//! and checking that the listed images are there ([`LabelledImages::check_images`]) asks the
//! source by name ([`ImageSource::contains`]) without reading a byte. The bytes come from an
//! [`ImageSource`]: a folder on disk for the CLI, the browser's `File` handles for the page (read
//! only when a batch needs them), bytes in memory ([`MemorySource`]), or the caller fetches them
//! itself and calls [`LabelledImages::decode_batch`].
//!
//! Preprocessing follows the authors' transform (`docs/METHODS.md#image-preprocessing`):
//! `SquarePad` (178×218 → 218×218, black bars left and right), `ToTensor` (pixels in `[0, 1]`,
//! CHW), no normalisation; an optional bilinear resize is added for smaller models. An image that
//! cannot be decoded is reported in [`Loaded::skipped`] and left out, never fatal.

use std::collections::HashMap;
use std::path::PathBuf;

use biaslens_metrics::ImageSize;
use image::imageops::FilterType;
use serde::{Deserialize, Serialize};

use crate::Batch;

/// Image files with a target and protected attribute each, in file order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelledImages {
    /// The label file these rows come from (for messages).
    pub source: String,
    /// Image file names, relative to the image folder.
    pub images: Vec<String>,
    /// The 1-based line of each row in `source`.
    pub lines: Vec<usize>,
    /// Target per row (0/1).
    pub target: Vec<u8>,
    /// Protected attribute per row (0/1).
    pub attribute: Vec<u8>,
}

/// How decoded images are brought to the model's input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Preprocess {
    /// Pad to a square with black, centred (the authors' `SquarePad`; 178×218 → 218×218).
    pub square_pad: bool,
    /// Then resize to `side × side` (bilinear); `None` keeps the size (the authors' choice).
    pub resize: Option<u32>,
}

impl Default for Preprocess {
    fn default() -> Self {
        Self { square_pad: true, resize: None }
    }
}

/// An image left out of a batch, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Skipped {
    /// Row in the [`LabelledImages`].
    pub row: usize,
    /// Its file name.
    pub image: String,
    /// What went wrong.
    pub reason: String,
}

impl std::fmt::Display for Skipped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "skipped {} (row {}): {}", self.image, self.row, self.reason)
    }
}

/// A decoded batch, the rows it holds, and the rows left out.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    /// Pixels and labels of the images that decoded.
    pub batch: Batch,
    /// The row of each image in `batch`.
    pub rows: Vec<usize>,
    /// Images that could not be used.
    pub skipped: Vec<Skipped>,
}

/// The bytes of one file, read asynchronously ([`ImageSource::read_async`]). Boxed, so sources
/// work as trait objects; not `Send`, as the browser's files are not.
pub type ReadFuture<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Vec<u8>, String>> + 'a>>;

/// Where image bytes come from.
pub trait ImageSource {
    /// The bytes of the image file `name` (relative to the image folder), or why not.
    ///
    /// # Errors
    /// A message saying why the file cannot be read.
    fn read(&self, name: &str) -> Result<Vec<u8>, String>;

    /// Whether the file `name` is there, without reading it (a folder: the file exists; the
    /// page: among the picked files). The default reads it.
    fn contains(&self, name: &str) -> bool {
        self.read(name).is_ok()
    }

    /// [`ImageSource::read`], asynchronously: the page's files can only be read this way. The
    /// default reads synchronously.
    fn read_async<'a>(&'a self, name: &'a str) -> ReadFuture<'a> {
        Box::pin(std::future::ready(self.read(name)))
    }
}

/// Images in a folder on disk (the CLI).
#[derive(Debug, Clone)]
pub struct DirSource {
    /// The folder, e.g. `.../img_align_celeba`.
    pub root: PathBuf,
}

impl ImageSource for DirSource {
    fn read(&self, name: &str) -> Result<Vec<u8>, String> {
        let path = self.root.join(name);
        std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))
    }

    fn contains(&self, name: &str) -> bool {
        self.root.join(name).is_file()
    }
}

/// Images already in memory by file name (the page's folder picker).
#[derive(Debug, Clone, Default)]
pub struct MemorySource {
    /// File name (without folders) → bytes.
    pub files: HashMap<String, Vec<u8>>,
}

impl MemorySource {
    /// Add a file; a path is reduced to its last component, as CelebA's lists name bare files.
    pub fn insert(&mut self, path: &str, bytes: Vec<u8>) {
        let name = path.rsplit(['/', '\\']).next().unwrap_or(path);
        self.files.insert(name.to_owned(), bytes);
    }
}

/// A shared or boxed source reads through to the source it holds (the page shares its files with
/// the running computation; the runner holds any source boxed).
impl<S: ImageSource + ?Sized> ImageSource for std::sync::Arc<S> {
    fn read(&self, name: &str) -> Result<Vec<u8>, String> {
        (**self).read(name)
    }
    fn contains(&self, name: &str) -> bool {
        (**self).contains(name)
    }
    fn read_async<'a>(&'a self, name: &'a str) -> ReadFuture<'a> {
        (**self).read_async(name)
    }
}

impl<S: ImageSource + ?Sized> ImageSource for Box<S> {
    fn read(&self, name: &str) -> Result<Vec<u8>, String> {
        (**self).read(name)
    }
    fn contains(&self, name: &str) -> bool {
        (**self).contains(name)
    }
    fn read_async<'a>(&'a self, name: &'a str) -> ReadFuture<'a> {
        (**self).read_async(name)
    }
}

impl ImageSource for MemorySource {
    fn read(&self, name: &str) -> Result<Vec<u8>, String> {
        let key = name.rsplit(['/', '\\']).next().unwrap_or(name);
        self.files.get(key).cloned().ok_or_else(|| format!("{name} was not among the selected files"))
    }

    fn contains(&self, name: &str) -> bool {
        self.files.contains_key(name.rsplit(['/', '\\']).next().unwrap_or(name))
    }
}

/// Decode one image file and preprocess it to `3×H×W` values in `[0, 1]`.
///
/// # Errors
/// A message when the bytes are not a decodable JPEG or PNG.
pub fn decode_image(bytes: &[u8], pre: &Preprocess) -> Result<(ImageSize, Vec<f32>), String> {
    let img = image::load_from_memory(bytes).map_err(|e| describe_decode_error(bytes, &e))?.to_rgb8();
    let mut img = if pre.square_pad { square_pad(&img) } else { img };
    if let Some(side) = pre.resize {
        if side == 0 {
            return Err("the resize side must be at least 1 pixel".into());
        }
        if img.width() != side || img.height() != side {
            img = image::imageops::resize(&img, side, side, FilterType::Triangle);
        }
    }
    let (w, h) = img.dimensions();
    let plane = (w * h) as usize;
    let mut out = vec![0.0f32; 3 * plane];
    for (i, p) in img.pixels().enumerate() {
        for c in 0..3 {
            out[c * plane + i] = f32::from(p[c]) / 255.0;
        }
    }
    Ok((ImageSize { width: w, height: h }, out))
}

/// Says why `bytes` did not decode: what the file looks like, and the decoder's words.
fn describe_decode_error(bytes: &[u8], e: &image::ImageError) -> String {
    let jpeg = bytes.starts_with(&[0xFF, 0xD8, 0xFF]);
    let png = bytes.starts_with(b"\x89PNG\r\n\x1a\n");
    let what = if bytes.is_empty() {
        "is an empty file".to_owned()
    } else if jpeg || png {
        let kind = if jpeg { "JPEG" } else { "PNG" };
        format!("is a truncated or corrupt {kind} ({} bytes; the decoder says: {e})", bytes.len())
    } else if std::str::from_utf8(&bytes[..bytes.len().min(512)]).is_ok_and(|t| !t.contains('\0')) {
        "is a text file, not a JPEG or PNG image".to_owned()
    } else {
        format!("is not a JPEG or PNG image (unknown format: {e})")
    };
    format!("not a decodable JPEG or PNG image: the file {what}")
}

/// The authors' `SquarePad`: pad the short side with black, `(max − side) / 2` before (rounded
/// down) and the rest after, so the result is always square (their code loses a pixel on odd
/// differences; CelebA's 178×218 is even: 20 px left and right).
pub fn square_pad(img: &image::RgbImage) -> image::RgbImage {
    let (w, h) = img.dimensions();
    let side = w.max(h);
    if w == h {
        return img.clone();
    }
    let mut out = image::RgbImage::new(side, side);
    let (hp, vp) = ((side - w) / 2, (side - h) / 2);
    image::imageops::replace(&mut out, img, i64::from(hp), i64::from(vp));
    out
}

impl LabelledImages {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.images.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.images.is_empty()
    }

    /// Read and decode the images of `rows` from `source`. Unreadable or undecodable images,
    /// and images whose preprocessed size differs from the batch's first, are skipped and
    /// listed in [`Loaded::skipped`].
    ///
    /// # Panics
    /// If a row is out of range.
    pub fn load_batch(&self, rows: &[usize], source: &impl ImageSource, pre: &Preprocess) -> Loaded {
        let mut read_skipped = Vec::new();
        let mut files = Vec::with_capacity(rows.len());
        for &row in rows {
            match source.read(&self.images[row]) {
                Ok(bytes) => files.push((row, bytes)),
                Err(reason) => read_skipped.push(Skipped { row, image: self.images[row].clone(), reason }),
            }
        }
        self.decode_read(&files, read_skipped, pre)
    }

    /// [`LabelledImages::load_batch`] through [`ImageSource::read_async`] (the page's files).
    ///
    /// # Panics
    /// If a row is out of range.
    pub async fn load_batch_async(&self, rows: &[usize], source: &(impl ImageSource + ?Sized), pre: &Preprocess) -> Loaded {
        let mut read_skipped = Vec::new();
        let mut files = Vec::with_capacity(rows.len());
        for &row in rows {
            match source.read_async(&self.images[row]).await {
                Ok(bytes) => files.push((row, bytes)),
                Err(reason) => read_skipped.push(Skipped { row, image: self.images[row].clone(), reason }),
            }
        }
        self.decode_read(&files, read_skipped, pre)
    }

    /// Decodes the files a batch read, the rows that could not be read listed first among the
    /// skipped ones.
    fn decode_read(&self, files: &[(usize, Vec<u8>)], mut read_skipped: Vec<Skipped>, pre: &Preprocess) -> Loaded {
        let items: Vec<(usize, &[u8])> = files.iter().map(|(r, b)| (*r, b.as_slice())).collect();
        let mut loaded = self.decode_batch(&items, pre);
        read_skipped.append(&mut loaded.skipped);
        loaded.skipped = read_skipped;
        loaded
    }

    /// Decode a batch from bytes the caller already has: `(row, file bytes)` pairs.
    ///
    /// # Panics
    /// If a row is out of range.
    pub fn decode_batch(&self, items: &[(usize, &[u8])], pre: &Preprocess) -> Loaded {
        let mut batch: Option<Batch> = None;
        let mut rows = Vec::with_capacity(items.len());
        let mut skipped = Vec::new();
        for &(row, bytes) in items {
            let skip = |reason: String| Skipped { row, image: self.images[row].clone(), reason };
            let (size, pixels) = match decode_image(bytes, pre) {
                Ok(v) => v,
                Err(reason) => {
                    skipped.push(skip(reason));
                    continue;
                }
            };
            let b = batch.get_or_insert_with(|| Batch::empty(size));
            if b.image != size {
                skipped.push(skip(format!("it is {size} but this batch is {}; set a resize side so all images match", b.image)));
                continue;
            }
            b.pixels.extend_from_slice(&pixels);
            b.target.push(self.target[row]);
            b.attribute.push(self.attribute[row]);
            rows.push(row);
        }
        let fallback = pre.resize.map_or(ImageSize::square(0), ImageSize::square);
        Loaded { batch: batch.unwrap_or_else(|| Batch::empty(fallback)), rows, skipped }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(w: u32, h: u32, rgb: [u8; 3]) -> Vec<u8> {
        let img = image::RgbImage::from_pixel(w, h, image::Rgb(rgb));
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Png).expect("encode png");
        out.into_inner()
    }

    #[test]
    fn square_pad_matches_the_authors_for_celeba_size() {
        let (size, px) = decode_image(&png(178, 218, [255, 128, 0]), &Preprocess::default()).expect("decodes");
        assert_eq!(size, ImageSize::square(218));
        let plane = 218 * 218;
        // Columns 0..20 and 198..218 are black; column 20 is the image.
        assert_eq!(px[5 * 218 + 19], 0.0);
        assert_eq!(px[5 * 218 + 20], 1.0);
        assert_eq!(px[5 * 218 + 197], 1.0);
        assert_eq!(px[5 * 218 + 198], 0.0);
        assert!((px[plane + 5 * 218 + 100] - 128.0 / 255.0).abs() < 1e-6);
        let (size, _) = decode_image(&png(178, 218, [0, 0, 0]), &Preprocess { square_pad: true, resize: Some(64) }).expect("decodes");
        assert_eq!(size, ImageSize::square(64));
    }

    #[test]
    fn decode_errors_say_what_the_file_is() {
        let pre = Preprocess::default();
        let e = |b: &[u8]| decode_image(b, &pre).expect_err("undecodable");
        assert!(e(b"").contains("is an empty file"));
        assert!(e(b"hello, I am text\n").contains("is a text file, not a JPEG or PNG image"));
        let p = png(4, 4, [1, 2, 3]);
        assert!(e(&p[..p.len() / 2]).contains("truncated or corrupt PNG"));
        assert!(e(b"\xFF\xD8\xFF\x00\x01").contains("truncated or corrupt JPEG"));
        assert!(e(&[0u8, 159, 146, 150, 0, 1]).contains("unknown format"));
    }

    #[test]
    fn undecodable_and_missing_images_are_skipped_not_fatal() {
        let labels = LabelledImages {
            source: "labels.csv".into(),
            images: vec!["a.png".into(), "broken.jpg".into(), "missing.png".into(), "big.png".into(), "b.png".into()],
            lines: vec![2, 3, 4, 5, 6],
            target: vec![1, 0, 1, 0, 0],
            attribute: vec![0, 1, 1, 0, 1],
        };
        let mut src = MemorySource::default();
        src.insert("pics/a.png", png(8, 8, [10, 20, 30]));
        src.insert("broken.jpg", b"\xFF\xD8\xFF not really a jpeg".to_vec());
        src.insert("big.png", png(16, 16, [0, 0, 0]));
        src.insert("b.png", png(8, 8, [0, 0, 0]));
        let loaded = labels.load_batch(&[0, 1, 2, 3, 4], &src, &Preprocess::default());
        assert_eq!(loaded.rows, vec![0, 4]);
        assert_eq!(loaded.batch.len(), 2);
        assert_eq!(loaded.batch.target, vec![1, 0]);
        assert_eq!(loaded.batch.attribute, vec![0, 1]);
        let skipped: Vec<&str> = loaded.skipped.iter().map(|s| s.image.as_str()).collect();
        assert_eq!(skipped, vec!["missing.png", "broken.jpg", "big.png"]);
        assert!(loaded.skipped[1].reason.contains("not a decodable"), "{}", loaded.skipped[1]);
        // With a resize, the odd-sized image fits.
        let loaded = labels.load_batch(&[0, 3], &src, &Preprocess { square_pad: true, resize: Some(8) });
        assert_eq!(loaded.rows, vec![0, 3]);
    }
}
