//! EqualizedOdds against accuracy, one point per method per φ: the fairness–accuracy trade-off
//! that the authors plot with `ScatterVisualizer` (`docs/METHODS.md#figures`; not a figure of the
//! late-breaking paper, which reports the two metrics as bars in Figure 3).
//!
//! One panel per φ with shared axes, so panels compare directly; the vanilla model is a large
//! black diamond labelled "vanilla", methods are Okabe–Ito dots; confidence intervals, where given,
//! are thin crosshairs in the method's colour. Better is up (accuracy) and left (EqualizedOdds).

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};
use serde::{Deserialize, Serialize};

use crate::error::draw_err;
use crate::metric_bars::{MARGIN, PANEL_GAP, validate_style};
use crate::svg::{
    chart_width,
    GRID, Hover, INK, Swatch, add_hovers, bold, draw_legend, fmt_estimate, fmt_num, fmt_phi, font, legend_layout, method_colors, text, text_width,
    tick_decimals,
};
use crate::{Estimate, Metric, ResultsTable, VizError};

/// Settings of the trade-off scatter.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TradeoffStyle {
    /// Width of one panel in pixels.
    pub panel_width: u32,
    /// Height of one panel in pixels (title included).
    pub panel_height: u32,
    /// Label font size in CSS pixels.
    pub font_px: f64,
    /// At most this many panels per row.
    pub max_columns: usize,
}

impl Default for TradeoffStyle {
    fn default() -> Self {
        Self { panel_width: 400, panel_height: 340, font_px: 14.0, max_columns: 3 }
    }
}

/// A point: method index, φ index, EqualizedOdds, accuracy.
type Point = (usize, usize, Estimate, Estimate);

/// The vanilla model's marker.
const BASELINE_MARK: RGBColor = RGBColor(0, 0, 0);

/// Draws EqualizedOdds (x) against accuracy (y), one panel per φ, as a standalone SVG document.
///
/// # Errors
/// [`VizError`] when the table is invalid (see [`ResultsTable::validate`]), lacks an
/// EqualizedOdds or Accuracy series, has no method with both at any φ, or a setting is out of
/// range.
pub fn tradeoff_svg(table: &ResultsTable, style: &TradeoffStyle) -> Result<String, VizError> {
    table.validate()?;
    validate_style(style.panel_width, style.panel_height, style.font_px)?;
    let eo = table
        .series(&Metric::EqualizedOdds)
        .ok_or_else(|| VizError::Invalid("the table has no EqualizedOdds series to plot".into()))?;
    let acc = table
        .series(&Metric::Accuracy)
        .ok_or_else(|| VizError::Invalid("the table has no Accuracy series to plot".into()))?;
    let pair = |j: usize, i: usize| -> Option<(Estimate, Estimate)> { Some((eo.values[j][i]?, acc.values[j][i]?)) };
    let points: Vec<Point> = (0..table.methods.len())
        .flat_map(|j| (0..table.phis.len()).filter_map(move |i| pair(j, i).map(|(e, a)| (j, i, e, a))))
        .collect();
    if points.is_empty() {
        return Err(VizError::Empty("no method has both EqualizedOdds and Accuracy at any φ".into()));
    }

    // Shared axes over all points and intervals.
    let span = |f: &dyn Fn(&Point) -> Estimate| {
        points.iter().map(f).fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), e| {
            let [a, b] = e.ci.unwrap_or([e.value, e.value]);
            (lo.min(a).min(e.value), hi.max(b).max(e.value))
        })
    };
    let (x_lo, x_hi) = span(&|p| p.2);
    let (y_lo, y_hi) = span(&|p| p.3);
    let x_range = (x_lo.min(0.0), pad_hi(x_lo.min(0.0), x_hi));
    let y_pad = ((y_hi - y_lo) * 0.12).max(0.01);
    let y_range = (y_lo - y_pad, y_hi + y_pad);

    let px = style.font_px;
    let (pw, ph) = (f64::from(style.panel_width), f64::from(style.panel_height));
    let n = table.phis.len();
    let cols = n.min(style.max_columns.max(1));
    let rows = n.div_ceil(cols);
    let content_w = cols as f64 * (pw + PANEL_GAP) - PANEL_GAP;
    let total_w = chart_width(content_w, table.title.as_deref(), px, MARGIN);
    let title_h = if table.title.is_some() { (px * 2.2).round() } else { 0.0 };
    let colors = method_colors(table.methods.len(), table.baseline, BASELINE_MARK);
    let labels: Vec<&str> = table.methods.iter().map(String::as_str).collect();
    let legend_y = MARGIN + title_h;
    let (_, legend_h) = legend_layout(&labels, (MARGIN, legend_y), content_w, px);
    let panels_y = legend_y + legend_h + 10.0;
    let total_h = (panels_y + rows as f64 * (ph + PANEL_GAP) - PANEL_GAP + MARGIN).ceil();

    let mut svg = String::new();
    let mut hovers = Vec::new();
    {
        let root = SVGBackend::with_string(&mut svg, (total_w as u32, total_h as u32)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        if let Some(title) = &table.title {
            root.draw_text(title, &text(bold(px + 3.0), INK, HPos::Left, VPos::Top), (MARGIN as i32, MARGIN as i32))
                .map_err(draw_err)?;
        }
        let entries: Vec<(String, Swatch)> = table
            .methods
            .iter()
            .enumerate()
            .map(|(j, m)| (m.clone(), if Some(j) == table.baseline { Swatch::Diamond(colors[j]) } else { Swatch::Dot(colors[j]) }))
            .collect();
        draw_legend(&root, &entries, (MARGIN, legend_y), content_w, px)?;

        let xd = tick_decimals(x_range.1 - x_range.0);
        let yd = tick_decimals(y_range.1 - y_range.0);
        let fmt_x = |v: &f64| fmt_num(*v, xd);
        let fmt_y = |v: &f64| fmt_num(*v, yd);
        let tick_w = [y_range.0, y_range.1].iter().map(|&v| text_width(&fmt_num(v, yd), px)).fold(0.0, f64::max);
        for (i, &phi) in table.phis.iter().enumerate() {
            let x = MARGIN + (i % cols) as f64 * (pw + PANEL_GAP);
            let y = panels_y + (i / cols) as f64 * (ph + PANEL_GAP);
            let area = root.clone().shrink((x.round() as i32, y.round() as i32), (pw as u32, ph as u32));
            area.draw_text(&fmt_phi(phi), &text(bold(px + 1.0), INK, HPos::Center, VPos::Top), ((pw / 2.0) as i32, 2))
                .map_err(draw_err)?;
            let mut chart = ChartBuilder::on(&area)
                .margin_top((px * 2.0).round() as i32)
                .margin_right(10)
                .x_label_area_size((px * 3.4).round() as i32)
                .y_label_area_size((tick_w + px * 2.2 + 12.0).round() as i32)
                .build_cartesian_2d(x_range.0..x_range.1, y_range.0..y_range.1)
                .map_err(draw_err)?;
            chart
                .configure_mesh()
                .x_labels(6)
                .y_labels(6)
                .x_label_formatter(&fmt_x)
                .y_label_formatter(&fmt_y)
                .x_desc("EqualizedOdds (← lower is better)")
                .y_desc("Accuracy (↑ higher is better)")
                .label_style(font(px))
                .axis_desc_style(font(px))
                .axis_style(INK.stroke_width(1))
                .bold_line_style(GRID.stroke_width(1))
                .light_line_style(TRANSPARENT)
                .draw()
                .map_err(draw_err)?;
            // Methods first, the vanilla diamond last so it stays on top.
            let mut here: Vec<&Point> = points.iter().filter(|p| p.1 == i).collect();
            here.sort_by_key(|p| Some(p.0) == table.baseline);
            for &&(j, _, e, a) in &here {
                let c = colors[j];
                if let Some([lo, hi]) = e.ci {
                    chart
                        .draw_series(std::iter::once(PathElement::new(vec![(lo, a.value), (hi, a.value)], c.stroke_width(2))))
                        .map_err(draw_err)?;
                }
                if let Some([lo, hi]) = a.ci {
                    chart
                        .draw_series(std::iter::once(PathElement::new(vec![(e.value, lo), (e.value, hi)], c.stroke_width(2))))
                        .map_err(draw_err)?;
                }
                let (cx, cy) = chart.backend_coord(&(e.value, a.value));
                hovers.push(Hover {
                    rect: [cx - 10, cy - 10, 20, 20],
                    text: format!(
                        "{}, {}: EqualizedOdds {}, accuracy {}",
                        table.methods[j],
                        fmt_phi(phi),
                        fmt_estimate(e.value, e.ci),
                        fmt_estimate(a.value, a.ci)
                    ),
                });
                let (bx, by) = area.get_base_pixel();
                let (cx, cy) = (cx - bx, cy - by);
                if Some(j) == table.baseline {
                    let r = 9;
                    area.draw(&Polygon::new(vec![(cx, cy - r), (cx + r, cy), (cx, cy + r), (cx - r, cy)], c.filled()))
                        .map_err(draw_err)?;
                    // Above-right of the diamond, clear of its crosshair.
                    area.draw_text("vanilla", &text(bold(px), INK, HPos::Left, VPos::Bottom), (cx + 5, cy - r + 1))
                        .map_err(draw_err)?;
                } else {
                    area.draw(&Circle::new((cx, cy), 6, c.filled())).map_err(draw_err)?;
                    area.draw(&Circle::new((cx, cy), 6, INK.stroke_width(1))).map_err(draw_err)?;
                }
            }
        }
        root.present().map_err(draw_err)?;
    }
    add_hovers(&mut svg, &hovers);
    Ok(svg)
}

/// The upper end of an axis that starts at `lo`: 10 % above the data.
fn pad_hi(lo: f64, hi: f64) -> f64 {
    if hi > lo { hi + 0.1 * (hi - lo) } else { lo + 1.0 }
}
