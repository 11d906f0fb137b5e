//! Per-image regions read from files, in the coordinate space of the saliency maps.
//!
//! The saliency metrics (Sztukiewicz et al., XAI 2025, §3) are defined over a region `R` of each
//! image; `biaslens_metrics::Region` is one image's region as a box or a pixel mask, in *map*
//! pixels, which are the model input's pixels. People draw regions on the *original* image, so
//! this module maps them through the transform [`crate::images::decode_image`] applies to the image
//! itself (`docs/METHODS.md#per-image-regions`):
//!
//! 1. `SquarePad`: the original `W×H` is placed at column `⌊(S−W)/2⌋`, row `⌊(S−H)/2⌋` of an `S×S`
//!    square, `S = max(W, H)` (padding is outside every region);
//! 2. resize to `side × side` if set: a box's edges map as [`Roi::scaled_to`] maps them
//!    (`round_half_up(edge · side / S)`, at least one pixel per side); a mask is sampled at each
//!    model pixel's centre, model pixel `i` reading padded pixel `⌈(2i+1)·S / (2·side)⌉ − 1`. The
//!    two rules select the same pixels for a box (proved in the METHODS section and tested below),
//!    so a box and its mask give the same metrics.
//!
//! Readers: a box CSV (`image,x0,y0,x1,y1`, half-open, original pixels; read with the own-label CSV
//! rules, [`crate::own`]) and mask PNGs (non-zero colour with non-zero alpha = inside). Every
//! problem is refused naming the file (and line), never a panic.

use biaslens_metrics::{ImageSize, Mask, Region, Roi};

use crate::celeba::{DataError, clip};
use crate::images::{ImageSource, LabelledImages, Preprocess};
use crate::table::read_table;

/// A box on the original image: columns `x0..x1`, rows `y0..y1` (half-open), origin top-left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PixelBox {
    /// First column inside.
    pub x0: u32,
    /// First row inside.
    pub y0: u32,
    /// First column after the box.
    pub x1: u32,
    /// First row after the box.
    pub y1: u32,
}

impl std::fmt::Display for PixelBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "x0={} y0={} x1={} y1={}", self.x0, self.y0, self.x1, self.y1)
    }
}

/// How one original image's pixels map to the model input's (and so the maps'): square padding
/// offset, padded size and final size, as [`crate::images::decode_image`] makes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    original: ImageSize,
    offset: (u32, u32),
    padded: ImageSize,
    model: ImageSize,
}

impl Geometry {
    /// The transform of an `original`-sized image under `pre`.
    ///
    /// # Errors
    /// A message for a zero-sized image or a resize side of 0.
    pub fn new(original: ImageSize, pre: &Preprocess) -> Result<Self, String> {
        if original.width == 0 || original.height == 0 {
            return Err(format!("the image is {original}; it has no pixels"));
        }
        let (offset, padded) = if pre.square_pad && original.width != original.height {
            let side = original.width.max(original.height);
            (((side - original.width) / 2, (side - original.height) / 2), ImageSize::square(side))
        } else {
            ((0, 0), original)
        };
        let model = match pre.resize {
            Some(0) => return Err("the resize side must be at least 1 pixel".into()),
            Some(side) => ImageSize::square(side),
            None => padded,
        };
        Ok(Self { original, offset, padded, model })
    }

    /// The original image's size.
    pub const fn original(&self) -> ImageSize {
        self.original
    }

    /// The model input's (and the maps') size.
    pub const fn model(&self) -> ImageSize {
        self.model
    }

    /// A box on the original image in model pixels.
    ///
    /// # Errors
    /// A message naming the box for an empty box or one reaching outside the original image.
    pub fn box_to_model(&self, b: PixelBox) -> Result<Roi, String> {
        let o = self.original;
        if b.x1 <= b.x0 || b.y1 <= b.y0 {
            return Err(format!("the box {b} is empty; x1 must be greater than x0 and y1 greater than y0 (x1, y1 are the first column and row after the box)"));
        }
        if b.x1 > o.width || b.y1 > o.height {
            return Err(format!("the box {b} reaches outside the {o} image; it needs x1 ≤ {} and y1 ≤ {} (boxes are in the original image's pixels)", o.width, o.height));
        }
        let padded = Roi::new(b.x0 + self.offset.0, b.y0 + self.offset.1, b.x1 - b.x0, b.y1 - b.y0, self.padded).map_err(|e| e.to_string())?;
        padded.scaled_to(self.model).map_err(|e| e.to_string())
    }

    /// A mask on the original image (`inside`, row-major, `original` pixels) in model pixels.
    ///
    /// # Errors
    /// A message if `inside` is not one flag per original pixel, if nothing is inside, or if
    /// nothing is left inside after resizing (a region smaller than one model pixel).
    pub fn mask_to_model(&self, inside: &[bool]) -> Result<Mask, String> {
        let o = self.original;
        if inside.len() != o.pixels() {
            return Err(format!("the mask has {} pixels but the image is {o}; draw the mask on the original image, at its size", inside.len()));
        }
        let count = inside.iter().filter(|&&v| v).count();
        if count == 0 {
            return Err("the mask has no pixel inside (every pixel is black or transparent); paint the region in any non-black colour".into());
        }
        // Padded pixel (x, y) is original pixel (x − offset) where that lies inside the original.
        let at = |x: u32, y: u32| -> bool {
            let (Some(ox), Some(oy)) = (x.checked_sub(self.offset.0), y.checked_sub(self.offset.1)) else { return false };
            ox < o.width && oy < o.height && inside[oy as usize * o.width as usize + ox as usize]
        };
        // Model pixel i samples padded pixel ⌈(2i+1)·old / (2·new)⌉ − 1 (its centre's pixel; at an
        // exact tie the lower one, which is what makes it agree with `Roi::scaled_to`'s half-up).
        let sample = |i: u32, new: u32, old: u32| -> u32 {
            let num = (2 * u64::from(i) + 1) * u64::from(old);
            let den = 2 * u64::from(new);
            u32::try_from(num.div_ceil(den) - 1).unwrap_or(old - 1).min(old - 1)
        };
        let m = self.model;
        let flags: Vec<bool> = (0..m.height)
            .flat_map(|y| {
                let sy = sample(y, m.height, self.padded.height);
                (0..m.width).map(move |x| (sample(x, m.width, self.padded.width), sy))
            })
            .map(|(sx, sy)| at(sx, sy))
            .collect();
        Mask::new(m, flags).map_err(|_| {
            format!(
                "the mask has {count} pixels inside at {o} but none is left at the model's {m}; draw a larger region or use a larger resize side"
            )
        })
    }
}

/// The size of an encoded image, from its header (without decoding the pixels).
///
/// # Errors
/// A message when the bytes are not a JPEG or PNG whose header can be read.
pub fn image_size(bytes: &[u8]) -> Result<ImageSize, String> {
    let reader = image::ImageReader::new(std::io::Cursor::new(bytes)).with_guessed_format().map_err(|e| format!("cannot read the image header: {e}"))?;
    let (width, height) = reader.into_dimensions().map_err(|e| format!("cannot read the image size: {e}"))?;
    Ok(ImageSize { width, height })
}

/// Decode a mask PNG: a pixel is inside where its alpha is non-zero and any colour channel is.
///
/// # Errors
/// A message for a file that is not a decodable PNG (JPEG is refused: its compression turns black
/// into small non-zero values, so the mask would leak).
pub fn decode_mask(bytes: &[u8]) -> Result<(ImageSize, Vec<bool>), String> {
    if !bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        let what = if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) { "a JPEG; JPEG compression makes black pixels slightly non-zero, so save masks as PNG" } else { "not a PNG file; save masks as PNG" };
        return Err(format!("the mask is {what}"));
    }
    let img = image::load_from_memory_with_format(bytes, image::ImageFormat::Png).map_err(|e| format!("the mask is a truncated or corrupt PNG (the decoder says: {e})"))?.to_rgba8();
    let size = ImageSize { width: img.width(), height: img.height() };
    Ok((size, img.pixels().map(|p| p[3] != 0 && (p[0] | p[1] | p[2]) != 0).collect()))
}

/// One image's region from its mask PNG `mask_bytes` (named `mask_file`), drawn on an image of
/// size `original`, in model pixels under `pre`.
///
/// # Errors
/// [`DataError::Mismatch`] naming the mask file: not a PNG, another size than the image, empty,
/// or empty after resizing.
pub fn mask_region(mask_bytes: &[u8], mask_file: &str, original: ImageSize, pre: &Preprocess) -> Result<Region, DataError> {
    let fail = |message: String| DataError::Mismatch { file: mask_file.to_owned(), message };
    let (size, inside) = decode_mask(mask_bytes).map_err(fail)?;
    if size != original {
        return Err(fail(format!("the mask is {size} but its image is {original}; draw the mask on the original image, at its size")));
    }
    let geometry = Geometry::new(original, pre).map_err(fail)?;
    geometry.mask_to_model(&inside).map(Region::Mask).map_err(fail)
}

/// Per-image boxes read from a CSV with columns `image`, `x0`, `y0`, `x1`, `y1` (original image
/// pixels, half-open), other columns ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoxTable {
    /// The file (for messages).
    pub file: String,
    /// Image names, in file order.
    pub images: Vec<String>,
    /// The line of each row.
    pub lines: Vec<usize>,
    /// The box of each row.
    pub boxes: Vec<PixelBox>,
}

/// Read a box CSV (the own-label CSV's dialect rules: separator sniffed, BOM, CRLF, quoting).
///
/// # Errors
/// [`DataError`] naming file and line: a missing column, a coordinate that is not a whole number
/// ≥ 0, an empty box, an empty image name, an image listed twice, an empty file or no rows.
pub fn parse_box_csv(bytes: &[u8], file: &str) -> Result<BoxTable, DataError> {
    let err = |line: usize, message: String| DataError::Parse { file: file.into(), line, message };
    let table = read_table(bytes, file, ["image", "x0", "y0", "x1", "y1"], "the image, x0, y0, x1 and y1 columns")?;
    let [ci, cx0, cy0, cx1, cy1] = table.columns;
    let mut out = BoxTable { file: file.to_owned(), images: Vec::new(), lines: Vec::new(), boxes: Vec::new() };
    let mut seen = std::collections::HashMap::new();
    for (line, record) in &table.rows {
        let line = *line;
        let image = record[ci].to_owned();
        if image.is_empty() {
            return Err(err(line, "the \"image\" column is empty; name an image file".into()));
        }
        if let Some(first) = seen.insert(image.clone(), line) {
            return Err(err(line, format!("image {:?} has a box already (line {first}); give one box per image", clip(&image))));
        }
        let coord = |col: usize, name: &str| {
            record[col].parse::<u32>().map_err(|_| {
                err(line, format!("{name} is {:?}; write a whole number of pixels ≥ 0 (columns and rows of the original image, from 0 at the top left)", clip(&record[col])))
            })
        };
        let b = PixelBox { x0: coord(cx0, "x0")?, y0: coord(cy0, "y0")?, x1: coord(cx1, "x1")?, y1: coord(cy1, "y1")? };
        if b.x1 <= b.x0 || b.y1 <= b.y0 {
            return Err(err(line, format!("the box {b} is empty; x1 must be greater than x0 and y1 greater than y0 (x1, y1 are the first column and row after the box)")));
        }
        out.images.push(image);
        out.lines.push(line);
        out.boxes.push(b);
    }
    if out.images.is_empty() {
        return Err(DataError::Empty(file.to_owned()));
    }
    Ok(out)
}

impl BoxTable {
    /// Refuses boxes for images the label file `labels` (named `labels_file`) does not list: a
    /// box CSV of another dataset, or names changed by hand, would otherwise be ignored silently.
    ///
    /// # Errors
    /// [`DataError::Parse`] with the line of the first unlisted image and the count.
    pub fn check_listed(&self, images: &[String], labels_file: &str) -> Result<(), DataError> {
        let listed: std::collections::HashSet<&str> = images.iter().map(String::as_str).collect();
        let unlisted: Vec<usize> = (0..self.images.len()).filter(|&i| !listed.contains(self.images[i].as_str())).collect();
        match unlisted.first() {
            None => Ok(()),
            Some(&row) => Err(DataError::Parse {
                file: self.file.clone(),
                line: self.lines[row],
                message: format!(
                    "image {:?} has a box but {labels_file} does not list it ({} of {} boxes name unlisted images); give the box file of this dataset, named as its label file names the images",
                    clip(&self.images[row]),
                    unlisted.len(),
                    self.images.len()
                ),
            }),
        }
    }

    /// The region of each of `images` (whose original sizes are `originals`) in model pixels
    /// under `pre`.
    ///
    /// # Errors
    /// [`DataError::Mismatch`] for an image without a box, [`DataError::Parse`] with the line of a
    /// box that reaches outside its image.
    pub fn regions(&self, images: &[String], originals: &[ImageSize], pre: &Preprocess) -> Result<Vec<Region>, DataError> {
        if images.len() != originals.len() {
            return Err(DataError::Mismatch { file: self.file.clone(), message: format!("{} images but {} image sizes", images.len(), originals.len()) });
        }
        let by_name: std::collections::HashMap<&str, usize> = self.images.iter().enumerate().map(|(i, n)| (n.as_str(), i)).collect();
        images
            .iter()
            .zip(originals)
            .map(|(name, &size)| {
                let &row = by_name.get(name.as_str()).ok_or_else(|| DataError::Mismatch {
                    file: self.file.clone(),
                    message: format!("no box for image {:?}; add a row with its x0, y0, x1, y1", clip(name)),
                })?;
                let geometry = Geometry::new(size, pre).map_err(|message| DataError::Parse { file: self.file.clone(), line: self.lines[row], message })?;
                geometry
                    .box_to_model(self.boxes[row])
                    .map(Region::Box)
                    .map_err(|message| DataError::Parse { file: self.file.clone(), line: self.lines[row], message: format!("{} ({name}): {message}", clip(name)) })
            })
            .collect()
    }
}

/// The mask file of an image: the image's path with the extension `.png` (`img/a.jpg` → `img/a.png`),
/// looked up in the mask folder.
pub fn mask_name_for(image: &str) -> String {
    std::path::Path::new(image).with_extension("png").to_string_lossy().into_owned()
}

impl LabelledImages {
    /// Each listed image's size as stored, from its header (no decoding).
    ///
    /// # Errors
    /// [`DataError::BadImage`] with the line of the first image that cannot be read or whose header
    /// is not a JPEG's or PNG's.
    pub fn original_sizes(&self, source: &impl ImageSource) -> Result<Vec<ImageSize>, DataError> {
        (0..self.len()).map(|i| source.read(&self.images[i]).and_then(|b| image_size(&b)).map_err(|reason| self.bad_image(i, reason))).collect()
    }

    /// The region of every listed image from `boxes` (original pixels), in model pixels under `pre`.
    ///
    /// # Errors
    /// As [`LabelledImages::original_sizes`] and [`BoxTable::regions`].
    pub fn box_regions(&self, boxes: &BoxTable, source: &impl ImageSource, pre: &Preprocess) -> Result<Vec<Region>, DataError> {
        boxes.regions(&self.images, &self.original_sizes(source)?, pre)
    }

    /// The region of every listed image from its mask PNG in `masks` (named by [`mask_name_for`],
    /// drawn at the image's size), in model pixels under `pre`.
    ///
    /// # Errors
    /// As [`LabelledImages::original_sizes`]; [`DataError::Mismatch`] naming the mask for a missing
    /// mask or one refused by [`mask_region`].
    pub fn mask_regions(&self, masks: &impl ImageSource, source: &impl ImageSource, pre: &Preprocess) -> Result<Vec<Region>, DataError> {
        self.mask_regions_of_sizes(masks, &self.original_sizes(source)?, pre)
    }

    /// [`LabelledImages::original_sizes`], reading each image with
    /// [`ImageSource::read_async`] (the page's files can only be read so).
    ///
    /// # Errors
    /// As [`LabelledImages::original_sizes`].
    pub async fn original_sizes_async(&self, source: &(impl ImageSource + ?Sized)) -> Result<Vec<ImageSize>, DataError> {
        let mut sizes = Vec::with_capacity(self.len());
        for i in 0..self.len() {
            let bytes = source.read_async(&self.images[i]).await.map_err(|reason| self.bad_image(i, reason))?;
            sizes.push(image_size(&bytes).map_err(|reason| self.bad_image(i, reason))?);
        }
        Ok(sizes)
    }

    /// [`LabelledImages::mask_regions`] for images whose original sizes are `sizes` (list order).
    ///
    /// # Errors
    /// As [`LabelledImages::mask_regions`].
    pub fn mask_regions_of_sizes(&self, masks: &(impl ImageSource + ?Sized), sizes: &[ImageSize], pre: &Preprocess) -> Result<Vec<Region>, DataError> {
        self.images
            .iter()
            .zip(sizes.iter().copied())
            .enumerate()
            .map(|(row, (image, size))| {
                let name = mask_name_for(image);
                let bytes = masks.read(&name).map_err(|reason| DataError::Mismatch {
                    file: name.clone(),
                    message: format!("no mask for image {:?} (line {} of {}): {reason}; a mask is named after its image, with .png", clip(image), self.lines[row], self.source),
                })?;
                mask_region(&bytes, &name, size, pre)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use biaslens_metrics::Inside;

    fn png(img: &image::RgbaImage) -> Vec<u8> {
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Png).expect("encode png");
        out.into_inner()
    }

    /// A small deterministic generator for the property test (SplitMix64's output step).
    fn mix(state: &mut u64) -> u64 {
        *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = *state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    #[test]
    fn a_box_and_its_mask_select_the_same_model_pixels() {
        // Over 2,000 random image sizes, resize sides (down and up) and boxes, the mask rule
        // (sample each model pixel's centre) and the box rule (round each edge half up) agree
        // wherever the mask keeps a pixel; where it keeps none, the box has collapsed to one pixel.
        let mut s = 7u64;
        let mut r = |n: u32| u32::try_from(mix(&mut s) % u64::from(n)).expect("small");
        let mut compared = 0;
        for _ in 0..2000 {
            let original = ImageSize { width: 1 + r(40), height: 1 + r(40) };
            let pre = Preprocess { square_pad: r(2) == 0, resize: if r(3) == 0 { None } else { Some(1 + r(60)) } };
            let (x0, y0) = (r(original.width), r(original.height));
            let b = PixelBox { x0, y0, x1: x0 + 1 + r(original.width - x0), y1: y0 + 1 + r(original.height - y0) };
            let g = Geometry::new(original, &pre).expect("valid");
            let roi = g.box_to_model(b).expect("fits");
            let inside: Vec<bool> = (0..original.height).flat_map(|y| (0..original.width).map(move |x| x >= b.x0 && x < b.x1 && y >= b.y0 && y < b.y1)).collect();
            match g.mask_to_model(&inside) {
                Ok(mask) => {
                    assert_eq!(mask, Mask::from_roi(&roi), "{original} {pre:?} {b}");
                    compared += 1;
                }
                Err(e) => {
                    assert!(e.contains("none is left"), "{e}");
                    assert!(roi.w() == 1 || roi.h() == 1, "{original} {pre:?} {b}: {roi:?}");
                }
            }
        }
        assert!(compared > 1500, "{compared}");
    }

    #[test]
    fn regions_follow_the_image_through_square_pad_and_resize() {
        // A 30×50 image, white inside x 6..20, y 12..40, black elsewhere, through the image
        // pipeline (pad to 50×50: 10 columns left; bilinear resize to 24×24). Every model pixel
        // inside the transformed box, away from its edge (where bilinear blends), is white; every
        // one a pixel away from it outside is black.
        let b = PixelBox { x0: 6, y0: 12, x1: 20, y1: 40 };
        let img = image::RgbaImage::from_fn(30, 50, |x, y| {
            let v = if x >= b.x0 && x < b.x1 && y >= b.y0 && y < b.y1 { 255 } else { 0 };
            image::Rgba([v, v, v, 255])
        });
        let bytes = png(&img);
        let pre = Preprocess { square_pad: true, resize: Some(24) };
        let (size, px) = crate::images::decode_image(&bytes, &pre).expect("decodes");
        let g = Geometry::new(image_size(&bytes).expect("header"), &pre).expect("valid");
        assert_eq!(g.model(), size);
        let roi = g.box_to_model(b).expect("fits");
        // (6+10)·24/50 = 7.68 → 8; (20+10)·24/50 = 14.4 → 14; 12·24/50 = 5.76 → 6; 40·24/50 = 19.2 → 19.
        assert_eq!((roi.x(), roi.y(), roi.w(), roi.h()), (8, 6, 6, 13));
        let mask = mask_region(&bytes, "m.png", ImageSize { width: 30, height: 50 }, &pre).expect("a mask");
        assert_eq!(mask, Region::Mask(Mask::from_roi(&roi)));
        for y in 0..24u32 {
            for x in 0..24u32 {
                let v = px[(y * 24 + x) as usize];
                let deep_inside = x > roi.x() && x + 1 < roi.x() + roi.w() && y > roi.y() && y + 1 < roi.y() + roi.h();
                let far_outside = x + 1 < roi.x() || x > roi.x() + roi.w() || y + 1 < roi.y() || y > roi.y() + roi.h();
                if deep_inside {
                    assert!(v > 0.99, "({x}, {y}) = {v} inside");
                }
                if far_outside {
                    assert!(v < 0.01, "({x}, {y}) = {v} outside");
                }
            }
        }
        // Without a resize the box only moves right by the padding.
        let g = Geometry::new(ImageSize { width: 30, height: 50 }, &Preprocess::default()).expect("valid");
        let roi = g.box_to_model(b).expect("fits");
        assert_eq!((roi.x(), roi.y(), roi.w(), roi.h(), roi.image()), (16, 12, 14, 28, ImageSize::square(50)));
    }

    #[test]
    fn box_csv_reads_and_maps_per_image() {
        let csv = "\u{feff}image;x0;y0;x1;y1;note\r\na.png;0;0;2;2;top left\r\n\"b, c.png\";1;1;4;3;\r\n";
        let t = parse_box_csv(csv.as_bytes(), "boxes.csv").expect("valid");
        assert_eq!(t.images, vec!["a.png", "b, c.png"]);
        assert_eq!(t.lines, vec![2, 3]);
        let pre = Preprocess { square_pad: true, resize: None };
        let sizes = [ImageSize { width: 4, height: 6 }, ImageSize { width: 4, height: 4 }];
        let names = ["b, c.png".to_owned(), "a.png".to_owned()];
        let regions = t.regions(&names, &sizes, &pre).expect("both have boxes");
        // b, c.png is 4×6, padded to 6×6 one column right: x 1..4 → 2..5.
        assert_eq!(regions[0], Region::Box(Roi::new(2, 1, 3, 2, ImageSize::square(6)).expect("fits")));
        assert_eq!(regions[1], Region::Box(Roi::new(0, 0, 2, 2, ImageSize::square(4)).expect("fits")));
        assert_eq!(Inside::pixels(&regions[0]), 6);
        t.check_listed(&names, "labels.csv").expect("both listed");
        let e = t.check_listed(&names[..1], "labels.csv").expect_err("a.png unlisted");
        assert_eq!(e.to_string(), "boxes.csv, line 2: image \"a.png\" has a box but labels.csv does not list it (1 of 2 boxes name unlisted images); give the box file of this dataset, named as its label file names the images");
        let e = t.regions(&["z.png".to_owned()], &sizes[..1], &pre).expect_err("no box");
        assert!(e.to_string().contains("no box for image \"z.png\""), "{e}");
        let e = t.regions(&["b, c.png".to_owned()], &[ImageSize::square(3)], &pre).expect_err("box outside a 3×3 image");
        assert!(matches!(&e, DataError::Parse { line: 3, .. }) && e.to_string().contains("reaches outside the 3×3 (W×H) image"), "{e}");
    }

    #[test]
    fn own_images_get_their_regions_from_boxes_or_masks() {
        // Two own images of different sizes; one box row and one mask per image, drawn on the
        // original; both land on the same model pixels after padding and resizing to 10×10.
        use crate::images::MemorySource;
        let labelled = LabelledImages {
            source: "labels.csv".into(),
            images: vec!["a.jpg".into(), "pics/b.png".into()],
            lines: vec![2, 3],
            target: vec![1, 0],
            attribute: vec![0, 1],
        };
        let (mut images, mut masks) = (MemorySource::default(), MemorySource::default());
        let boxes_csv = "image,x0,y0,x1,y1\npics/b.png,4,4,12,9\na.jpg,0,5,10,20\n";
        let shapes = [("a.jpg", "a.png", 10u32, 20u32, PixelBox { x0: 0, y0: 5, x1: 10, y1: 20 }), ("pics/b.png", "b.png", 16, 12, PixelBox { x0: 4, y0: 4, x1: 12, y1: 9 })];
        for (image, mask, w, h, b) in shapes {
            images.insert(image, png(&image::RgbaImage::new(w, h)));
            let m = image::RgbaImage::from_fn(w, h, |x, y| image::Rgba([u8::from(x >= b.x0 && x < b.x1 && y >= b.y0 && y < b.y1) * 255, 0, 0, 255]));
            masks.insert(mask, png(&m));
        }
        let pre = Preprocess { square_pad: true, resize: Some(10) };
        let table = parse_box_csv(boxes_csv.as_bytes(), "boxes.csv").expect("valid");
        let from_boxes = labelled.box_regions(&table, &images, &pre).expect("boxes for both");
        let from_masks = labelled.mask_regions(&masks, &images, &pre).expect("masks for both");
        for (b, m) in from_boxes.iter().zip(&from_masks) {
            let Region::Box(roi) = b else { panic!("a box") };
            assert_eq!(m, &Region::Mask(Mask::from_roi(roi)));
        }
        // a.jpg (10×20) is padded 5 columns left, then halved: x 0..10 → 5..15 → 3..8 (2.5 rounds up).
        assert_eq!(from_boxes[0], Region::Box(Roi::new(3, 3, 5, 7, ImageSize::square(10)).expect("fits")));
        let mut missing = masks.clone();
        missing.files.remove("b.png");
        let e = labelled.mask_regions(&missing, &images, &pre).expect_err("no mask for b");
        assert!(e.to_string().contains("no mask for image \"pics/b.png\" (line 3 of labels.csv)"), "{e}");
    }

    #[test]
    fn bad_boxes_and_masks_are_refused_with_what_to_do() {
        let e = parse_box_csv(b"image,x0,y0,x1,y1\na.png,0,0,2,2\nb.png,3,0,3,2\n", "b.csv").expect_err("empty box");
        assert!(matches!(&e, DataError::Parse { line: 3, .. }) && e.to_string().contains("x1 must be greater than x0"), "{e}");
        let e = parse_box_csv(b"image,x0,y0,x1,y1\na.png,0,-1,2,2\n", "b.csv").expect_err("negative");
        assert!(e.to_string().contains("y0 is \"-1\"; write a whole number"), "{e}");
        let e = parse_box_csv(b"image,x0,y0,x1,y1\na.png,0,0,2,2\na.png,1,1,2,2\n", "b.csv").expect_err("twice");
        assert!(e.to_string().contains("has a box already (line 2)"), "{e}");
        let e = parse_box_csv(b"image,x,y,w,h\na.png,0,0,2,2\n", "b.csv").expect_err("x,y,w,h");
        assert!(e.to_string().contains("no column \"x0\""), "{e}");
        assert!(matches!(parse_box_csv(b"image,x0,y0,x1,y1\n", "b.csv"), Err(DataError::Empty(_))));

        let size = ImageSize { width: 4, height: 3 };
        let pre = Preprocess::default();
        let black = png(&image::RgbaImage::from_pixel(4, 3, image::Rgba([0, 0, 0, 255])));
        let e = mask_region(&black, "m.png", size, &pre).expect_err("empty");
        assert!(e.to_string().starts_with("m.png: the mask has no pixel inside"), "{e}");
        let e = mask_region(&black, "m.png", ImageSize::square(4), &pre).expect_err("wrong size");
        assert!(e.to_string().contains("the mask is 4×3 (W×H) but its image is 4×4 (W×H)"), "{e}");
        // White on transparent is inside only where opaque.
        let mut img = image::RgbaImage::from_pixel(4, 3, image::Rgba([255, 255, 255, 0]));
        img.put_pixel(1, 2, image::Rgba([9, 0, 0, 255]));
        let (_, inside) = decode_mask(&png(&img)).expect("png");
        assert_eq!(inside.iter().filter(|&&v| v).count(), 1);
        assert!(inside[2 * 4 + 1]);
        assert!(decode_mask(b"\xFF\xD8\xFF\xE0").expect_err("jpeg").contains("save masks as PNG"));
        // A one-pixel mask on a 40×40 image resized to 4×4 leaves nothing.
        let mut tiny = vec![false; 1600];
        tiny[0] = true;
        let g = Geometry::new(ImageSize::square(40), &Preprocess { square_pad: true, resize: Some(4) }).expect("valid");
        assert!(g.mask_to_model(&tiny).expect_err("vanishes").contains("none is left at the model's 4×4"));
    }
}
