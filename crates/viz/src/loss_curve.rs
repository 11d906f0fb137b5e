//! The vanilla model's training curve: cross-entropy per training step, one line per unit of the
//! run (a training correlation φ with a seed; docs/METHODS.md#training, "Seeds"). Not a figure
//! of the paper (Sztukiewicz et al., XAI 2025 fine-tune their ResNet-50 once, for one epoch); the
//! page draws it live while a run trains, so a reader sees whether the model learned before
//! reading its maps.
//!
//! Lines take the Okabe–Ito colours in order; past seven units the colours repeat dashed, so
//! every line stays told apart by its legend swatch, not by colour alone. The hover target at the
//! end of each line names its last value.

use plotters::prelude::*;
use serde::{Deserialize, Serialize};

use crate::VizError;
use crate::error::{draw_err, finite};
use crate::metric_bars::{MARGIN, validate_style};
use crate::svg::{GRID, Hover, INK, OKABE_ITO, Swatch, add_hovers, draw_legend, fmt_num, font, legend_layout, text_width, tick_decimals};

/// One training curve: its legend label and (step, cross-entropy) points in step order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LossSeries {
    /// What the line is, as the legend says it (e.g. `φ = −0.8, seed 42: loss 0.412`).
    pub label: String,
    /// (training step, cross-entropy of that step's batch); may be empty while a unit waits.
    pub points: Vec<(f64, f64)>,
}

/// Settings of the loss chart.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LossStyle {
    /// Width of the plot (legend above it, same width) in pixels.
    pub width: u32,
    /// Height of the plot in pixels (the legend adds its rows above).
    pub height: u32,
    /// Label font size in CSS pixels.
    pub font_px: f64,
}

impl Default for LossStyle {
    fn default() -> Self {
        Self { width: 900, height: 280, font_px: 13.0 }
    }
}

/// The x axis's label.
pub const LOSS_X_LABEL: &str = "training step";
/// The y axis's label.
pub const LOSS_Y_LABEL: &str = "cross-entropy";

/// Dash length and gap of the repeated-colour lines (pixels).
const DASH: (i32, i32) = (7, 4);

/// The colour and dashing of the `k`-th line.
fn line_style(k: usize) -> (RGBColor, bool) {
    (OKABE_ITO[k % OKABE_ITO.len()], (k / OKABE_ITO.len()) % 2 == 1)
}

/// Draws each series' cross-entropy against the training step on shared axes (x: the steps
/// seen, y: from 0 to the largest loss), with a legend of the series' labels above the plot, as
/// a standalone SVG document.
///
/// # Errors
/// [`VizError::Empty`] when there is no series or no point at all; [`VizError::NotFinite`]
/// naming the series and step of a NaN or infinite value (a diverged training); [`VizError::Invalid`]
/// for a size or font out of range.
pub fn loss_curve_svg(series: &[LossSeries], style: &LossStyle) -> Result<String, VizError> {
    validate_style(style.width, style.height, style.font_px)?;
    if series.is_empty() {
        return Err(VizError::Empty("no training curve".into()));
    }
    if series.iter().all(|s| s.points.is_empty()) {
        return Err(VizError::Empty("no training step recorded yet".into()));
    }
    for s in series {
        for (i, &(x, y)) in s.points.iter().enumerate() {
            finite(x, || format!("the step of point {i} of '{}'", s.label))?;
            finite(y, || format!("the cross-entropy of '{}' at step {x}", s.label))?;
        }
    }
    let all = || series.iter().flat_map(|s| s.points.iter().copied());
    let (x_lo, x_hi) = all().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), (x, _)| (a.min(x), b.max(x)));
    let x_hi = if x_hi > x_lo { x_hi } else { x_lo + 1.0 };
    let (y_min, y_max) = all().fold((0.0f64, 0.0f64), |(a, b), (_, y)| (a.min(y), b.max(y)));
    let y_range = (y_min, if y_max > y_min { y_max + 0.08 * (y_max - y_min) } else { y_min + 1.0 });

    let px = style.font_px;
    let (w, h) = (f64::from(style.width), f64::from(style.height));
    let labels: Vec<&str> = series.iter().map(|s| s.label.as_str()).collect();
    let (_, legend_h) = legend_layout(&labels, (MARGIN, MARGIN), w, px);
    let plot_y = MARGIN + legend_h + 8.0;
    let total_w = (w + 2.0 * MARGIN).ceil();
    let total_h = (plot_y + h + MARGIN).ceil();

    let mut svg = String::new();
    let mut hovers = Vec::new();
    {
        let root = SVGBackend::with_string(&mut svg, (total_w as u32, total_h as u32)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        let entries: Vec<(String, Swatch)> = series
            .iter()
            .enumerate()
            .map(|(k, s)| {
                let (c, dashed) = line_style(k);
                (s.label.clone(), Swatch::Line(c, dashed))
            })
            .collect();
        draw_legend(&root, &entries, (MARGIN, MARGIN), w, px)?;

        let yd = tick_decimals(y_range.1 - y_range.0);
        let xd = if x_hi - x_lo >= 6.0 { 0 } else { tick_decimals(x_hi - x_lo) };
        let fmt_x = |v: &f64| fmt_num(*v, xd);
        let fmt_y = |v: &f64| fmt_num(*v, yd);
        let tick_w = [y_range.0, y_range.1].iter().map(|&v| text_width(&fmt_num(v, yd), px)).fold(0.0, f64::max);
        let area = root.clone().shrink((MARGIN as i32, plot_y.round() as i32), (w as u32, h as u32));
        let mut chart = ChartBuilder::on(&area)
            .margin_top(6)
            .margin_right(12)
            .x_label_area_size((px * 3.2).round() as i32)
            .y_label_area_size((tick_w + px * 2.2 + 12.0).round() as i32)
            .build_cartesian_2d(x_lo..x_hi, y_range.0..y_range.1)
            .map_err(draw_err)?;
        chart
            .configure_mesh()
            .x_labels(8)
            .y_labels(6)
            .x_label_formatter(&fmt_x)
            .y_label_formatter(&fmt_y)
            .x_desc(LOSS_X_LABEL)
            .y_desc(LOSS_Y_LABEL)
            .label_style(font(px))
            .axis_desc_style(font(px))
            .axis_style(INK.stroke_width(1))
            .bold_line_style(GRID.stroke_width(1))
            .light_line_style(TRANSPARENT)
            .draw()
            .map_err(draw_err)?;
        for (k, s) in series.iter().enumerate() {
            let (c, dashed) = line_style(k);
            let points = s.points.iter().copied();
            if dashed {
                chart.draw_series(DashedLineSeries::new(points, DASH.0, DASH.1, c.stroke_width(2))).map_err(draw_err)?;
            } else {
                chart.draw_series(LineSeries::new(points, c.stroke_width(2))).map_err(draw_err)?;
            }
            if let Some(&(x, y)) = s.points.last() {
                // A lone point draws no line: mark it so the unit still shows.
                if s.points.len() == 1 {
                    chart.draw_series(std::iter::once(Circle::new((x, y), 3, c.filled()))).map_err(draw_err)?;
                }
                let (cx, cy) = chart.backend_coord(&(x, y));
                hovers.push(Hover {
                    rect: [cx - 8, cy - 8, 16, 16],
                    text: format!("{}: cross-entropy {} at step {}", s.label, fmt_num(y, 4), fmt_num(x, 0)),
                });
            }
        }
        root.present().map_err(draw_err)?;
    }
    add_hovers(&mut svg, &hovers);
    Ok(svg)
}
