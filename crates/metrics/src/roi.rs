//! Regions of interest: axis-aligned pixel boxes that know the image they belong to.
//!
//! The paper's boxes (`shared/paper-code.md` §1.3) are given as `x, y, w, h` on 218×218 images with
//! x = column and y = row. The authors' code slices `[y:y+h, x:x+w]` of an `H×W` map; [`Roi`] keeps
//! that convention explicit so the axes cannot be swapped silently.

use serde::{Deserialize, Serialize};

/// Width and height of an image in pixels. Maps and ROIs are always paired with one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageSize {
    /// Number of columns (x extent).
    pub width: u32,
    /// Number of rows (y extent).
    pub height: u32,
}

impl ImageSize {
    /// A square image of `side × side` pixels.
    pub const fn square(side: u32) -> Self {
        Self { width: side, height: side }
    }

    /// Number of pixels, `width × height`.
    pub const fn pixels(self) -> usize {
        self.width as usize * self.height as usize
    }
}

impl std::fmt::Display for ImageSize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}×{} (W×H)", self.width, self.height)
    }
}

/// Why a region of interest or a map does not fit.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RoiError {
    /// The box has zero width or height.
    #[error("the region of interest is empty ({w}×{h} pixels); give it a width and height of at least 1")]
    Empty {
        /// Requested width.
        w: u32,
        /// Requested height.
        h: u32,
    },
    /// The box reaches past the image border.
    #[error(
        "the region of interest x={x} y={y} w={w} h={h} reaches outside the {image} image; \
         it must satisfy x+w ≤ width and y+h ≤ height"
    )]
    OutsideImage {
        /// Left column.
        x: u32,
        /// Top row.
        y: u32,
        /// Width in columns.
        w: u32,
        /// Height in rows.
        h: u32,
        /// The image it was meant for.
        image: ImageSize,
    },
    /// A map's length does not match the ROI's image.
    #[error("a saliency map has {len} values but the region of interest belongs to a {expected} image")]
    MapSize {
        /// Image size the ROI belongs to.
        expected: ImageSize,
        /// Number of values in the map.
        len: usize,
    },
}

/// An axis-aligned box of pixels `[x, x+w) × [y, y+h)` inside an image of known size.
///
/// x is the column and y the row, origin top-left, as in the paper's ROI definitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Roi {
    x: u32,
    y: u32,
    w: u32,
    h: u32,
    image: ImageSize,
}

impl Roi {
    /// A box at column `x`, row `y`, `w` columns wide and `h` rows high, in an `image`-sized image.
    ///
    /// # Errors
    /// [`RoiError::Empty`] for a zero-sized box, [`RoiError::OutsideImage`] if it does not fit.
    pub fn new(x: u32, y: u32, w: u32, h: u32, image: ImageSize) -> Result<Self, RoiError> {
        if w == 0 || h == 0 {
            return Err(RoiError::Empty { w, h });
        }
        let fits = x.checked_add(w).is_some_and(|r| r <= image.width)
            && y.checked_add(h).is_some_and(|b| b <= image.height);
        if !fits {
            return Err(RoiError::OutsideImage { x, y, w, h, image });
        }
        Ok(Self { x, y, w, h, image })
    }

    /// Left column.
    pub const fn x(&self) -> u32 {
        self.x
    }
    /// Top row.
    pub const fn y(&self) -> u32 {
        self.y
    }
    /// Width in columns.
    pub const fn w(&self) -> u32 {
        self.w
    }
    /// Height in rows.
    pub const fn h(&self) -> u32 {
        self.h
    }
    /// The image this box belongs to.
    pub const fn image(&self) -> ImageSize {
        self.image
    }
    /// Row indices covered, top to bottom.
    pub fn rows(&self) -> impl Iterator<Item = usize> + use<> {
        self.y as usize..(self.y + self.h) as usize
    }
    /// Whether pixel (column `x`, row `y`) lies inside.
    pub const fn contains(&self, x: u32, y: u32) -> bool {
        x >= self.x && x < self.x + self.w && y >= self.y && y < self.y + self.h
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_and_outside_boxes_are_rejected() {
        let img = ImageSize::square(10);
        assert!(matches!(Roi::new(0, 0, 0, 3, img), Err(RoiError::Empty { .. })));
        assert!(matches!(Roi::new(8, 0, 3, 3, img), Err(RoiError::OutsideImage { .. })));
        assert!(matches!(Roi::new(0, 9, 1, 2, img), Err(RoiError::OutsideImage { .. })));
        assert!(matches!(Roi::new(u32::MAX, 0, 2, 1, img), Err(RoiError::OutsideImage { .. })));
        assert!(Roi::new(9, 9, 1, 1, img).is_ok());
    }

    #[test]
    fn contains_uses_half_open_box() {
        let roi = Roi::new(2, 3, 2, 1, ImageSize::square(8)).expect("valid roi");
        assert!(roi.contains(2, 3) && roi.contains(3, 3));
        assert!(!roi.contains(4, 3) && !roi.contains(2, 4) && !roi.contains(1, 3));
    }
}
