//! Regions of interest: axis-aligned pixel boxes that know the image they belong to.
//!
//! The paper's boxes (the authors' configs, `docs/METHODS.md#roi`) are given as `x, y, w, h` on
//! 218×218 images with x = column and y = row, as the authors' figures draw them. Measured that
//! way, a box covers `[y:y+h, x:x+w]` of an `H×W` map; [`Roi`] keeps that convention explicit so
//! the axes cannot be swapped silently.

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
    /// A mask with another number of flags than its image has pixels.
    #[error("a mask for a {image} map needs {} values (one per pixel), this one has {len}", image.pixels())]
    MaskLength {
        /// The map size the mask is meant for.
        image: ImageSize,
        /// Number of flags given.
        len: usize,
    },
    /// A mask without any pixel inside.
    #[error("the mask ({image}) has no pixel inside; mark the region with non-zero pixels, or leave the image out")]
    EmptyMask {
        /// The map size of the mask.
        image: ImageSize,
    },
    /// One image's region belongs to another image size than the maps.
    #[error("the region of image {index} belongs to a {found} image but the maps are {expected}; give every region in map pixels")]
    RegionImage {
        /// 0-based image index.
        index: usize,
        /// The maps' size.
        expected: ImageSize,
        /// The region's size.
        found: ImageSize,
    },
}

/// An axis-aligned box of pixels `[x, x+w) × [y, y+h)` inside an image of known size.
///
/// x is the column and y the row, origin top-left, as in the paper's ROI definitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RoiFields")]
pub struct Roi {
    x: u32,
    y: u32,
    w: u32,
    h: u32,
    image: ImageSize,
}

/// The serialised form of a [`Roi`]; deserialising goes through [`Roi::new`], so a box read from a
/// report or URL is validated like any other.
#[derive(Deserialize)]
struct RoiFields {
    x: u32,
    y: u32,
    w: u32,
    h: u32,
    image: ImageSize,
}

impl TryFrom<RoiFields> for Roi {
    type Error = RoiError;
    fn try_from(f: RoiFields) -> Result<Self, RoiError> {
        Self::new(f.x, f.y, f.w, f.h, f.image)
    }
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

/// The paper's regions of interest (the authors' `experiment-running/config/xai/*.yaml`;
/// `docs/METHODS.md#roi`), defined on the authors' 218×218 zero-padded CelebA images.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoiPreset {
    /// `wearing_necktie.yaml`: x=49 y=180 w=120 h=30 (rows 180–209, columns 49–168).
    Necktie,
    /// `wearing_hat.yaml`: x=30 y=20 w=150 h=50 (rows 20–69, columns 30–179).
    Hat,
}

impl RoiPreset {
    /// The image size the preset boxes were drawn on: 218×218.
    pub const IMAGE: ImageSize = ImageSize::square(218);

    /// `(x, y, w, h)` on [`Self::IMAGE`], x = column.
    pub const fn xywh(self) -> (u32, u32, u32, u32) {
        match self {
            Self::Necktie => (49, 180, 120, 30),
            Self::Hat => (30, 20, 150, 50),
        }
    }

    /// The box on the 218×218 image it was defined on.
    pub fn roi(self) -> Roi {
        let (x, y, w, h) = self.xywh();
        Roi { x, y, w, h, image: Self::IMAGE }
    }

    /// The box scaled to an `image`-sized image (see [`Roi::scaled_to`]).
    ///
    /// # Errors
    /// [`RoiError::Empty`] if `image` has a zero side.
    pub fn roi_for(self, image: ImageSize) -> Result<Roi, RoiError> {
        self.roi().scaled_to(image)
    }

    /// Parses `necktie` or `hat` (case-insensitive).
    pub fn parse(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "necktie" | "wearing_necktie" => Some(Self::Necktie),
            "hat" | "wearing_hat" => Some(Self::Hat),
            _ => None,
        }
    }
}

impl Roi {
    /// A box given the way the authors' `SailRectMetric._sailmaps_rect` slices it:
    /// `rect_pos = (row, column)`, `rect_size = (rows, columns)`, although their documentation
    /// calls them the upper-left corner and the width and height (`docs/METHODS.md#roi`).
    ///
    /// Their configs and figures give boxes as `(x, y, w, h)` with x = column, which is what
    /// [`Roi::new`] takes; use this constructor only to reproduce a call made in their slicing order.
    ///
    /// # Errors
    /// As [`Roi::new`].
    pub fn from_code_rect(
        rect_pos: (u32, u32),
        rect_size: (u32, u32),
        image: ImageSize,
    ) -> Result<Self, RoiError> {
        Self::new(rect_pos.1, rect_pos.0, rect_size.1, rect_size.0, image)
    }

    /// The same region on an image of another size: each edge is mapped proportionally
    /// (`edge · new / old`, rounded half up) and the box keeps at least one pixel per side.
    ///
    /// # Errors
    /// [`RoiError::Empty`] if `image` has a zero side.
    pub fn scaled_to(&self, image: ImageSize) -> Result<Self, RoiError> {
        if image.width == 0 || image.height == 0 {
            return Err(RoiError::Empty { w: image.width, h: image.height });
        }
        // Exact integer rounding of edge·new/old, half up: (2·edge·new + old) / (2·old).
        let map = |edge: u32, new: u32, old: u32| -> u32 {
            let v = (2 * u64::from(edge) * u64::from(new) + u64::from(old)) / (2 * u64::from(old));
            // edge ≤ old, so v ≤ new fits in u32.
            u32::try_from(v).unwrap_or(new)
        };
        let axis = |start: u32, len: u32, new: u32, old: u32| -> (u32, u32) {
            let s = map(start, new, old).min(new - 1);
            let e = map(start + len, new, old).clamp(s + 1, new);
            (s, e - s)
        };
        let (x, w) = axis(self.x, self.w, image.width, self.image.width);
        let (y, h) = axis(self.y, self.h, image.height, self.image.height);
        Self::new(x, y, w, h, image)
    }

    /// Number of pixels inside, `w × h`.
    pub const fn pixels(&self) -> usize {
        self.w as usize * self.h as usize
    }

    /// Column range covered, as indices into one row.
    pub fn cols(&self) -> std::ops::Range<usize> {
        self.x as usize..(self.x + self.w) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_match_the_authors_configs() {
        let n = RoiPreset::Necktie.roi();
        assert_eq!((n.x(), n.y(), n.w(), n.h()), (49, 180, 120, 30));
        assert_eq!(n.rows().collect::<Vec<_>>(), (180..210).collect::<Vec<_>>());
        assert_eq!(n.cols(), 49..169);
        let h = RoiPreset::Hat.roi();
        assert_eq!((h.x(), h.y(), h.w(), h.h(), h.image()), (30, 20, 150, 50, ImageSize::square(218)));
        // Presets fit their image (checked by the validating constructor too).
        assert_eq!(Roi::new(49, 180, 120, 30, ImageSize::square(218)), Ok(n));
    }

    #[test]
    fn code_rect_is_row_column() {
        let img = ImageSize::square(218);
        assert_eq!(Roi::from_code_rect((180, 49), (30, 120), img), Ok(RoiPreset::Necktie.roi()));
    }

    #[test]
    fn scaling_is_proportional_and_identity_on_same_size() {
        let n = RoiPreset::Necktie.roi();
        assert_eq!(n.scaled_to(n.image()), Ok(n));
        // 218 → 109: every edge halves exactly (49 → 24.5 rounds to 25, 169 → 84.5 → 85).
        let half = n.scaled_to(ImageSize::square(109)).expect("non-empty image");
        assert_eq!((half.x(), half.y(), half.w(), half.h()), (25, 90, 60, 15));
        // 218 → 224 (torchvision size): 49·224/218 = 50.35 → 50, 169·224/218 = 173.65 → 174.
        let up = n.scaled_to(ImageSize::square(224)).expect("non-empty image");
        assert_eq!((up.x(), up.w()), (50, 124));
        // A tiny target keeps at least one pixel and stays inside.
        let tiny = n.scaled_to(ImageSize::square(2)).expect("non-empty image");
        assert!(tiny.w() >= 1 && tiny.h() >= 1 && tiny.x() + tiny.w() <= 2 && tiny.y() + tiny.h() <= 2);
        assert!(matches!(n.scaled_to(ImageSize { width: 0, height: 5 }), Err(RoiError::Empty { .. })));
    }

    #[test]
    fn deserialising_validates() {
        let n = RoiPreset::Necktie.roi();
        let json = serde_json::to_string(&n).expect("serialises");
        assert_eq!(serde_json::from_str::<Roi>(&json).expect("valid"), n);
        let bad = r#"{"x":200,"y":0,"w":30,"h":1,"image":{"width":218,"height":218}}"#;
        let err = serde_json::from_str::<Roi>(bad).expect_err("outside the image");
        assert!(err.to_string().contains("reaches outside"), "{err}");
    }

    #[test]
    fn preset_names_parse() {
        assert_eq!(RoiPreset::parse("Necktie"), Some(RoiPreset::Necktie));
        assert_eq!(RoiPreset::parse("wearing_hat"), Some(RoiPreset::Hat));
        assert_eq!(RoiPreset::parse("scarf"), None);
    }

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
