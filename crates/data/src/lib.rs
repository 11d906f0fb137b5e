//! Data for biaslens: the synthetic biased-faces benchmark, correlation-controlled splits, and
//! readers for CelebA as distributed and for a user's own folder of images.
//!
//! The synthetic benchmark stands in for CelebA in the paper's set-up (Sztukiewicz et al., XAI
//! 2025, §4; `docs/METHODS.md#synthetic`):
//! target = smiling, protected attribute = a necktie (or hat) drawn inside a known box, so the
//! ROI of the saliency metrics is known exactly. Every image is a pure function of
//! `(seed, index)`, so a batch is the same on every machine and in the browser.

pub mod celeba;
pub mod export;
pub mod images;
pub mod own;
pub mod plant;
pub mod regions;
pub use biaslens_rng as rng;
pub mod splits;
pub mod synthetic;
mod table;

pub use synthetic::{Batch, FaceTraits, ProtectedKind, SyntheticConfig, SyntheticError};
pub use splits::{CellCounts, Correlation, Labels, Pools, Split, SplitConfig, SplitError, SplitName, Splits, make_splits, undersample};
pub use celeba::{AttributeTable, CELEBA_ATTRIBUTES, DataError, parse_partition};
pub use images::{DirSource, ImageSource, LabelledImages, Loaded, MemorySource, Preprocess, Skipped, decode_image};
pub use own::{OwnColumns, parse_own_csv};
pub use plant::{ArtifactKind, Choice, PlantConfig, PlantError, Placement, PlantedPair, StickerShape};
pub use regions::{BoxTable, Geometry, PixelBox, decode_mask, image_size, mask_name_for, mask_region, parse_box_csv};
