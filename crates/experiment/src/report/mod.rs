//! The self-contained HTML report of an experiment run (Sztukiewicz et al., XAI 2025): the
//! paper's Figure 3 (metric bars per method and φ, for every attribution), the
//! EqualizedOdds/accuracy trade-off, Figure 2 (mean maps per group) for every φ, tables of every
//! number with its bootstrap interval and sanity numbers, and the paper's findings checked.
//!
//! - [`figures`]: the data behind each figure and table (public: the page draws the same);
//! - [`html`]: the document (inline SVG and styles, no scripts, nothing fetched: it opens
//!   offline); the results and config are embedded as JSON in
//!   `<script type="application/json" id="biaslens-results">` (with `<`, `>` and `&` escaped);
//! - [`import`]: reading the results back from the HTML or from a bare results JSON;
//! - [`export`]: every figure as SVG and every table as CSV, one file each;
//! - [`compare`]: one metric of several runs side by side, with their intervals.

pub mod compare;
pub mod export;
pub mod figures;
mod html;
mod import;

pub use export::{Export, exports};
pub use figures::{ci_text, results_table, saliency_grid, summary_text};
pub use html::render_report;
pub use import::{ReportError, import_report};

/// The `id` of the script element that carries the results.
pub const RESULTS_SCRIPT_ID: &str = "biaslens-results";
