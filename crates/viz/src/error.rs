//! Errors of the chart functions: bad inputs are reported, never panicked on.

/// Why a chart could not be drawn. Messages name the offending group, column, method or metric.
#[derive(Debug, thiserror::Error)]
pub enum VizError {
    /// Nothing to draw (no groups, no methods, no φ values, …).
    #[error("nothing to draw: {0}")]
    Empty(String),
    /// A value that must be finite is NaN or infinite.
    #[error("{what} is not finite ({value}); remove NaN/inf values before charting")]
    NotFinite {
        /// Which value, e.g. `map 'vanilla' of group 'tie, smiling' at pixel 17`.
        what: String,
        /// The value found.
        value: f64,
    },
    /// A buffer or table has the wrong length.
    #[error("{what} has {got} entries, expected {expected}")]
    Shape {
        /// Which buffer or table.
        what: String,
        /// The length it should have.
        expected: usize,
        /// The length it has.
        got: usize,
    },
    /// Any other invalid input (ROI outside the image, a confidence interval not containing its
    /// value, a missing metric, a bad setting).
    #[error("{0}")]
    Invalid(String),
    /// plotters failed to draw (should not happen with the in-memory SVG backend).
    #[error("drawing the chart failed: {0}")]
    Draw(String),
    /// Encoding an embedded PNG failed.
    #[error("encoding an embedded PNG failed: {0}")]
    Png(String),
}

/// Turns any plotters error into [`VizError::Draw`].
pub(crate) fn draw_err<E: std::fmt::Display>(e: E) -> VizError {
    VizError::Draw(e.to_string())
}

/// Checks that `value` is finite.
pub(crate) fn finite(value: f64, what: impl FnOnce() -> String) -> Result<f64, VizError> {
    if value.is_finite() { Ok(value) } else { Err(VizError::NotFinite { what: what(), value }) }
}
