//! Rendering for biaslens: colour maps and RGBA buffers for images and saliency maps, and the
//! paper's charts as self-contained SVG strings (no web code, no tensors: plain typed inputs).
//!
//! Sztukiewicz et al., *Investigating the Relationship Between Debiasing and Artifact Removal
//! using Saliency Maps* (XAI 2025):
//!
//! * [`saliency_grid_svg`] reproduces **Figure 2**: mean saliency map per (protected attribute ×
//!   target) group, rows = groups, columns = mean input, vanilla and each debiasing method, ROI
//!   drawn, signed diverging colour map ([`colormap`]) with a key.
//! * [`metric_bars_svg`] reproduces **Figure 3**: one panel per metric (RRF, ADR, DIF, RDDT,
//!   EqualizedOdds, accuracy), bars per method grouped by φ, confidence-interval whiskers, "lower is
//!   better" panels in the upper row and "higher is better" in the lower row, as in the paper.
//! * [`tradeoff_svg`] draws EqualizedOdds against accuracy per method, one panel per φ, vanilla
//!   marked distinctly: the authors' `ScatterVisualizer` (`docs/METHODS.md#figures`), not a
//!   figure of the late-breaking paper.
//! * [`loss_curve_svg`] draws the vanilla model's training cross-entropy per step, one line per
//!   unit (φ, seed) of a run: the page's live training curve, not a figure of the paper.
//!
//! Charts are drawn with plotters' SVG backend; text stays `<text>` (no font files) and is never
//! measured through plotters (its wasm32 text measurement needs a DOM), so the same SVG comes out
//! natively, in the page and in a worker. [`example`] holds realistic example inputs.

pub mod colormap;
mod error;
pub mod example;
mod loss_curve;
mod metric_bars;
mod saliency_grid;
mod svg;
mod tradeoff;

pub use colormap::{Colormap, chw_to_rgba, diverging_color, diverging_rgba};
pub use error::VizError;
pub use loss_curve::{LOSS_X_LABEL, LOSS_Y_LABEL, LossSeries, LossStyle, loss_curve_svg};
pub use metric_bars::{BarStyle, Better, Estimate, MAX_METHODS, Metric, MetricSeries, ResultsTable, metric_bars_svg};
pub use saliency_grid::{
    CellRect, GroupMaps, MapScaling, RoiBox, SaliencyGrid, SaliencyGridStyle, roi_in_cell, saliency_grid_svg,
};
pub use tradeoff::{TradeoffStyle, tradeoff_svg};
