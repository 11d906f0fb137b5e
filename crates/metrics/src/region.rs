//! Per-image regions: a box ([`Roi`]) or a pixel mask ([`Mask`]), each over one image's `H×W` map.
//!
//! The paper (Sztukiewicz et al., XAI 2025, §3) defines every saliency metric over a set of pixels
//! `R` of one image; its experiments use one rectangle for all images (`docs/METHODS.md#roi`).
//! Real artefacts move from image to image, so a region may also be given per image, as a box or a
//! mask (`docs/METHODS.md#per-image-regions`). The metrics read a region only through [`Inside`]:
//! its image size, its pixel count, and its pixels as row-major index spans in increasing order.
//! A box yields one span per row, in the order the single-box code always summed, so a box given as
//! a [`Region`] (or as a mask of the same pixels) gives bit-identical results.
//!
//! Coordinate space: the region is in the *map's* pixels (the model input after square padding and
//! resizing); readers of boxes and masks drawn on the original images map them there
//! (`biaslens_data::regions`).

use std::ops::Range;

use crate::roi::{ImageSize, Roi, RoiError};

/// A set of pixels of one image, as the metrics see it.
pub trait Inside {
    /// The image (map) size the region belongs to.
    fn image(&self) -> ImageSize;
    /// Number of pixels inside (at least 1 for every constructed region).
    fn pixels(&self) -> usize;
    /// The pixels inside as row-major index ranges into an `H×W` map, increasing, disjoint.
    fn spans(&self) -> impl Iterator<Item = Range<usize>> + '_;
}

impl Inside for Roi {
    fn image(&self) -> ImageSize {
        Roi::image(self)
    }
    fn pixels(&self) -> usize {
        Roi::pixels(self)
    }
    fn spans(&self) -> impl Iterator<Item = Range<usize>> + '_ {
        let (width, x, w) = (self.image().width as usize, self.x() as usize, self.w() as usize);
        self.rows().map(move |y| y * width + x..y * width + x + w)
    }
}

/// A pixel mask over an image: `inside[y·W + x]` says whether pixel (column x, row y) belongs to
/// the region. Never empty (a region without pixels has no mean).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mask {
    image: ImageSize,
    inside: Vec<bool>,
    /// Runs of inside pixels, row-major, increasing.
    runs: Vec<Range<usize>>,
    pixels: usize,
}

impl Mask {
    /// A mask of an `image`-sized map from one flag per pixel, row-major.
    ///
    /// # Errors
    /// [`RoiError::MaskLength`] if `inside.len()` is not `W×H`, [`RoiError::EmptyMask`] if no
    /// pixel is inside.
    pub fn new(image: ImageSize, inside: Vec<bool>) -> Result<Self, RoiError> {
        if inside.len() != image.pixels() {
            return Err(RoiError::MaskLength { image, len: inside.len() });
        }
        let mut runs: Vec<Range<usize>> = Vec::new();
        let width = image.width as usize;
        for (i, _) in inside.iter().enumerate().filter(|(_, v)| **v) {
            // A run never crosses a row end, so a mask of a box has the box's spans exactly.
            match runs.last_mut() {
                Some(r) if r.end == i && i % width != 0 => r.end += 1,
                _ => runs.push(i..i + 1),
            }
        }
        let pixels = runs.iter().map(ExactSizeIterator::len).sum();
        if pixels == 0 {
            return Err(RoiError::EmptyMask { image });
        }
        Ok(Self { image, inside, runs, pixels })
    }

    /// The pixels of a box as a mask.
    pub fn from_roi(roi: &Roi) -> Self {
        let image = roi.image();
        let inside = (0..image.height).flat_map(|y| (0..image.width).map(move |x| roi.contains(x, y))).collect();
        let runs = Inside::spans(roi).collect();
        Self { image, inside, runs, pixels: roi.pixels() }
    }

    /// One flag per pixel, row-major.
    pub fn inside(&self) -> &[bool] {
        &self.inside
    }

    /// Whether pixel (column `x`, row `y`) is inside; `false` outside the image.
    pub fn contains(&self, x: u32, y: u32) -> bool {
        x < self.image.width && y < self.image.height && self.inside[y as usize * self.image.width as usize + x as usize]
    }
}

impl Inside for Mask {
    fn image(&self) -> ImageSize {
        self.image
    }
    fn pixels(&self) -> usize {
        self.pixels
    }
    fn spans(&self) -> impl Iterator<Item = Range<usize>> + '_ {
        self.runs.iter().cloned()
    }
}

/// One image's region: a box or a mask.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Region {
    /// An axis-aligned box.
    Box(Roi),
    /// Any set of pixels.
    Mask(Mask),
}

impl From<Roi> for Region {
    fn from(roi: Roi) -> Self {
        Self::Box(roi)
    }
}

impl From<Mask> for Region {
    fn from(mask: Mask) -> Self {
        Self::Mask(mask)
    }
}

/// The spans of either kind of region, without boxing.
enum Spans<A, B> {
    Box(A),
    Mask(B),
}

impl<A: Iterator<Item = Range<usize>>, B: Iterator<Item = Range<usize>>> Iterator for Spans<A, B> {
    type Item = Range<usize>;
    fn next(&mut self) -> Option<Range<usize>> {
        match self {
            Self::Box(a) => a.next(),
            Self::Mask(b) => b.next(),
        }
    }
}

impl Inside for Region {
    fn image(&self) -> ImageSize {
        match self {
            Self::Box(r) => Inside::image(r),
            Self::Mask(m) => m.image,
        }
    }
    fn pixels(&self) -> usize {
        match self {
            Self::Box(r) => Inside::pixels(r),
            Self::Mask(m) => m.pixels,
        }
    }
    fn spans(&self) -> impl Iterator<Item = Range<usize>> + '_ {
        match self {
            Self::Box(r) => Spans::Box(Inside::spans(r)),
            Self::Mask(m) => Spans::Mask(Inside::spans(m)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_box_and_its_mask_have_the_same_spans() {
        let roi = Roi::new(1, 2, 3, 2, ImageSize { width: 5, height: 4 }).expect("valid roi");
        let mask = Mask::from_roi(&roi);
        assert_eq!(Inside::spans(&roi).collect::<Vec<_>>(), vec![11..14, 16..19]);
        assert_eq!(Inside::spans(&mask).collect::<Vec<_>>(), vec![11..14, 16..19]);
        // Built from flags, the runs break at row ends even where the flags continue.
        let rebuilt = Mask::new(roi.image(), mask.inside().to_vec()).expect("non-empty");
        assert_eq!(rebuilt, mask);
        let full = Mask::new(ImageSize { width: 2, height: 2 }, vec![true; 4]).expect("non-empty");
        assert_eq!(Inside::spans(&full).collect::<Vec<_>>(), vec![0..2, 2..4]);
        assert_eq!(Inside::pixels(&Region::from(mask)), 6);
    }

    #[test]
    fn masks_of_the_wrong_length_or_without_pixels_are_refused() {
        let image = ImageSize { width: 3, height: 2 };
        let e = Mask::new(image, vec![true; 5]).expect_err("5 ≠ 6");
        assert_eq!(e.to_string(), "a mask for a 3×2 (W×H) map needs 6 values (one per pixel), this one has 5");
        let e = Mask::new(image, vec![false; 6]).expect_err("empty");
        assert!(e.to_string().contains("has no pixel inside"), "{e}");
        let m = Mask::new(image, vec![false, false, true, true, false, false]).expect("two pixels");
        assert!(m.contains(2, 0) && m.contains(0, 1) && !m.contains(1, 1) && !m.contains(7, 0));
        // (2, 0) and (0, 1) are adjacent in memory but on two rows: two runs.
        assert_eq!(Inside::spans(&m).collect::<Vec<_>>(), vec![2..3, 3..4]);
    }
}
