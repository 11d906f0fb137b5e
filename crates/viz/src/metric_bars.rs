//! **Figure 3** of the paper: the saliency metrics (RRF, ADR, DIF, RDDT) with EqualizedOdds and
//! accuracy, one panel per metric, bars per method grouped by φ (the training data's Yule
//! correlation between protected attribute and target).
//!
//! As in the paper, metrics to minimise ("lower is better") fill the upper row and metrics to
//! maximise the lower row; each panel title says which. Confidence intervals are drawn as
//! whiskers where given (the metrics crate's bootstrap CIs); RDDT is a test outcome (0 or 1) and
//! usually has none. Methods are coloured with the Okabe–Ito palette, the vanilla model in grey.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};
use serde::{Deserialize, Serialize};

use crate::error::{draw_err, finite};
use crate::svg::{
    chart_width,
    BASELINE_BAR, GRID, Hover, INK, Swatch, WHISKER, add_hovers, bold, draw_legend, fmt_estimate, fmt_num, fmt_phi, font,
    legend_layout, method_colors, text, text_width, tick_decimals,
};
use crate::VizError;

/// A point estimate with an optional confidence interval `[low, high]`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    /// The estimate (e.g. the mean over test images).
    pub value: f64,
    /// The confidence interval, `low <= high`, if one was computed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci: Option<[f64; 2]>,
}

impl Estimate {
    /// An estimate without an interval.
    pub fn new(value: f64) -> Self {
        Self { value, ci: None }
    }

    /// An estimate with the interval `[low, high]`.
    pub fn with_ci(value: f64, low: f64, high: f64) -> Self {
        Self { value, ci: Some([low, high]) }
    }
}

/// Which direction of a metric is good.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Better {
    /// Smaller values are better (RRF, EqualizedOdds).
    Lower,
    /// Larger values are better (ADR, DIF, RDDT, accuracy).
    Higher,
}

impl Better {
    /// `"lower is better"` or `"higher is better"`, with an arrow.
    pub fn phrase(self) -> &'static str {
        match self {
            Better::Lower => "↓ lower is better",
            Better::Higher => "↑ higher is better",
        }
    }
}

/// A metric of Figure 3.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Relevance Rectangle Fraction: share of |relevance| inside the ROI (lower is better).
    Rrf,
    /// Average Difference in ROI, vanilla minus debiased (higher is better).
    Adr,
    /// Decreased Intensity Fraction of ROI pixels (higher is better).
    Dif,
    /// Rectangle Difference Distribution Testing: 1 when vanilla puts significantly more
    /// relevance in the ROI than the debiased model (higher is better).
    Rddt,
    /// max(|ΔTPR|, |ΔFPR|) between protected groups (lower is better).
    EqualizedOdds,
    /// Accuracy on the balanced test split (higher is better).
    Accuracy,
    /// Any other metric.
    Other {
        /// Panel title.
        name: String,
        /// Its good direction.
        better: Better,
    },
}

impl Metric {
    /// The name shown in panel titles and axis labels.
    pub fn name(&self) -> &str {
        match self {
            Metric::Rrf => "RRF",
            Metric::Adr => "ADR",
            Metric::Dif => "DIF",
            Metric::Rddt => "RDDT",
            Metric::EqualizedOdds => "EqualizedOdds",
            Metric::Accuracy => "Accuracy",
            Metric::Other { name, .. } => name,
        }
    }

    /// Which direction is good.
    pub fn better(&self) -> Better {
        match self {
            Metric::Rrf | Metric::EqualizedOdds => Better::Lower,
            Metric::Adr | Metric::Dif | Metric::Rddt | Metric::Accuracy => Better::Higher,
            Metric::Other { better, .. } => *better,
        }
    }
}

/// One metric's values: `values[method][phi]`, `None` where it does not apply (e.g. ADR of the
/// vanilla model against itself) or was not computed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricSeries {
    /// The metric.
    pub metric: Metric,
    /// Per method (in [`ResultsTable::methods`] order), per φ (in [`ResultsTable::phis`] order).
    pub values: Vec<Vec<Option<Estimate>>>,
}

/// The input of Figure 3 and of the EqualizedOdds/accuracy scatter.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResultsTable {
    /// The φ values, one bar group each.
    pub phis: Vec<f64>,
    /// Method names, e.g. `["Vanilla", "ThrOpt", "SavaniAFT", …]`.
    pub methods: Vec<String>,
    /// Index in `methods` of the vanilla (not debiased) model, drawn distinctly.
    pub baseline: Option<usize>,
    /// One series per metric.
    pub metrics: Vec<MetricSeries>,
    /// A title above the figure.
    #[serde(default)]
    pub title: Option<String>,
}

impl ResultsTable {
    /// The series of `metric`, if present.
    pub fn series(&self, metric: &Metric) -> Option<&MetricSeries> {
        self.metrics.iter().find(|s| &s.metric == metric)
    }

    /// Checks shapes, finiteness and intervals.
    ///
    /// # Errors
    /// [`VizError`] naming the offending method, φ or metric.
    pub fn validate(&self) -> Result<(), VizError> {
        if self.phis.is_empty() {
            return Err(VizError::Empty("no φ values".into()));
        }
        if self.methods.is_empty() {
            return Err(VizError::Empty("no methods".into()));
        }
        if self.metrics.is_empty() {
            return Err(VizError::Empty("no metrics".into()));
        }
        for (i, &phi) in self.phis.iter().enumerate() {
            finite(phi, || format!("φ number {i}"))?;
        }
        let debiased = self.methods.len() - usize::from(self.baseline.is_some());
        if debiased > MAX_METHODS {
            return Err(VizError::Invalid(format!(
                "{debiased} methods besides vanilla, but the colour-blind-safe palette tells only {MAX_METHODS} apart; \
                 chart them in two tables"
            )));
        }
        if let Some(b) = self.baseline
            && b >= self.methods.len()
        {
            return Err(VizError::Invalid(format!("baseline index {b} but only {} methods", self.methods.len())));
        }
        for s in &self.metrics {
            let name = s.metric.name();
            if s.values.len() != self.methods.len() {
                return Err(VizError::Shape {
                    what: format!("{name} values (one row per method)"),
                    expected: self.methods.len(),
                    got: s.values.len(),
                });
            }
            for (row, method) in s.values.iter().zip(&self.methods) {
                if row.len() != self.phis.len() {
                    return Err(VizError::Shape {
                        what: format!("{name} values of {method} (one per φ)"),
                        expected: self.phis.len(),
                        got: row.len(),
                    });
                }
                for (e, &phi) in row.iter().zip(&self.phis) {
                    let Some(e) = e else { continue };
                    let at = || format!("{name} of {method} at {}", fmt_phi(phi));
                    finite(e.value, at)?;
                    if let Some([lo, hi]) = e.ci {
                        finite(lo, || format!("{} CI low", at()))?;
                        finite(hi, || format!("{} CI high", at()))?;
                        if lo > hi {
                            return Err(VizError::Invalid(format!("{}: CI low {lo} > high {hi}", at())));
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

/// Settings of Figure 3.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BarStyle {
    /// Width of one panel in pixels.
    pub panel_width: u32,
    /// Height of one panel in pixels (title included).
    pub panel_height: u32,
    /// Label font size in CSS pixels.
    pub font_px: f64,
    /// At most this many panels per row.
    pub max_columns: usize,
}

impl Default for BarStyle {
    fn default() -> Self {
        Self { panel_width: 340, panel_height: 280, font_px: 14.0, max_columns: 4 }
    }
}

/// The most methods besides vanilla that get distinct colours (the Okabe–Ito palette without black).
pub const MAX_METHODS: usize = crate::svg::OKABE_ITO.len();

pub(crate) const MARGIN: f64 = 16.0;
pub(crate) const PANEL_GAP: f64 = 18.0;

/// Panels' rows: lower-is-better metrics first, then higher-is-better, each wrapped at
/// `max_columns`. Returns series indices per row.
fn panel_rows(table: &ResultsTable, max_columns: usize) -> Vec<Vec<usize>> {
    let mut rows = Vec::new();
    for better in [Better::Lower, Better::Higher] {
        let idx: Vec<usize> = (0..table.metrics.len()).filter(|&i| table.metrics[i].metric.better() == better).collect();
        for chunk in idx.chunks(max_columns.max(1)) {
            rows.push(chunk.to_vec());
        }
    }
    rows
}

/// Draws Figure 3 as a standalone SVG document.
///
/// # Errors
/// [`VizError`] for empty tables, wrong shapes, non-finite values, reversed intervals or bad
/// settings.
pub fn metric_bars_svg(table: &ResultsTable, style: &BarStyle) -> Result<String, VizError> {
    table.validate()?;
    validate_style(style.panel_width, style.panel_height, style.font_px)?;
    let px = style.font_px;
    let rows = panel_rows(table, style.max_columns);
    let columns = rows.iter().map(Vec::len).max().unwrap_or(1);
    let (pw, ph) = (f64::from(style.panel_width), f64::from(style.panel_height));
    let content_w = columns as f64 * (pw + PANEL_GAP) - PANEL_GAP;
    let total_w = chart_width(content_w, table.title.as_deref(), px, MARGIN);

    let title_h = if table.title.is_some() { (px * 2.2).round() } else { 0.0 };
    let colors = method_colors(table.methods.len(), table.baseline, BASELINE_BAR);
    let labels: Vec<&str> = table.methods.iter().map(String::as_str).collect();
    let legend_y = MARGIN + title_h;
    let (_, legend_h) = legend_layout(&labels, (MARGIN, legend_y), content_w, px);
    let panels_y = legend_y + legend_h + 10.0;
    let total_h = (panels_y + rows.len() as f64 * (ph + PANEL_GAP) - PANEL_GAP + MARGIN).ceil();

    let mut svg = String::new();
    let mut hovers = Vec::new();
    {
        let root = SVGBackend::with_string(&mut svg, (total_w as u32, total_h as u32)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        if let Some(title) = &table.title {
            root.draw_text(title, &text(bold(px + 3.0), INK, HPos::Left, VPos::Top), (MARGIN as i32, MARGIN as i32))
                .map_err(draw_err)?;
        }
        let entries: Vec<(String, Swatch)> =
            table.methods.iter().zip(&colors).map(|(m, &c)| (m.clone(), Swatch::Box(c))).collect();
        draw_legend(&root, &entries, (MARGIN, legend_y), content_w, px)?;

        for (r, row) in rows.iter().enumerate() {
            for (c, &si) in row.iter().enumerate() {
                let x = MARGIN + c as f64 * (pw + PANEL_GAP);
                let y = panels_y + r as f64 * (ph + PANEL_GAP);
                let area = root.clone().shrink((x.round() as i32, y.round() as i32), (pw as u32, ph as u32));
                hovers.extend(draw_panel(&area, table, &table.metrics[si], &colors, px)?);
            }
        }
        root.present().map_err(draw_err)?;
    }
    add_hovers(&mut svg, &hovers);
    Ok(svg)
}

pub(crate) fn validate_style(w: u32, h: u32, px: f64) -> Result<(), VizError> {
    if !(120..=4000).contains(&w) || !(100..=4000).contains(&h) {
        return Err(VizError::Invalid(format!("panel size {w}×{h} is outside 120..=4000 × 100..=4000")));
    }
    if !(px.is_finite() && (8.0..=72.0).contains(&px)) {
        return Err(VizError::Invalid(format!("font_px {px} is outside 8..=72")));
    }
    Ok(())
}

/// The value axis: from the smallest to the largest value or interval end, always including 0
/// (bars start at zero), padded 8 % on the sides away from zero.
fn value_range(series: &MetricSeries) -> (f64, f64) {
    let (mut lo, mut hi) = (0.0f64, 0.0f64);
    for e in series.values.iter().flatten().flatten() {
        let [a, b] = e.ci.unwrap_or([e.value, e.value]);
        lo = lo.min(e.value).min(a);
        hi = hi.max(e.value).max(b);
    }
    if hi - lo <= 0.0 {
        return (0.0, 1.0);
    }
    let pad = 0.08 * (hi - lo);
    (if lo < 0.0 { lo - pad } else { 0.0 }, if hi > 0.0 { hi + pad } else { 0.0 })
}

/// Bar `j` of `m` in φ group `i`, in data coordinates: `[x0, x1]`.
pub(crate) fn bar_span(i: usize, j: usize, m: usize) -> (f64, f64) {
    let bw = 0.8 / m as f64;
    let x0 = i as f64 + 0.1 + j as f64 * bw;
    (x0 + 0.06 * bw, x0 + 0.94 * bw)
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    table: &ResultsTable,
    series: &MetricSeries,
    colors: &[RGBColor],
    px: f64,
) -> Result<Vec<Hover>, VizError> {
    let (lo, hi) = value_range(series);
    let decimals = tick_decimals(hi - lo);
    let title = format!("{}  ({})", series.metric.name(), series.metric.better().phrase());
    area.draw_text(&title, &text(bold(px + 1.0), INK, HPos::Center, VPos::Top), ((area.dim_in_pixel().0 / 2) as i32, 2))
        .map_err(draw_err)?;

    let tick_w = [lo, hi].iter().map(|&v| text_width(&fmt_num(v, decimals), px)).fold(0.0, f64::max);
    let n_phi = table.phis.len();
    let fmt_y = |v: &f64| fmt_num(*v, decimals);
    let mut chart = ChartBuilder::on(area)
        .margin_top((px * 2.0).round() as i32)
        .margin_right(6)
        .x_label_area_size((px * 1.9).round() as i32)
        .y_label_area_size((tick_w + 14.0).round() as i32)
        .build_cartesian_2d(0f64..n_phi as f64, lo..hi)
        .map_err(draw_err)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .y_labels(6)
        .y_label_formatter(&fmt_y)
        .label_style(text(font(px), INK, HPos::Right, VPos::Center))
        .axis_style(INK.stroke_width(1))
        .bold_line_style(GRID.stroke_width(1))
        .light_line_style(TRANSPARENT)
        .draw()
        .map_err(draw_err)?;

    // φ group labels under the groups and faint separators between groups.
    let m = table.methods.len();
    for (i, &phi) in table.phis.iter().enumerate() {
        let (cx, by) = chart.backend_coord(&(i as f64 + 0.5, lo));
        area.draw_text(
            &fmt_phi(phi),
            &text(font(px), INK, HPos::Center, VPos::Top),
            (cx - area.get_base_pixel().0, by - area.get_base_pixel().1 + 6),
        )
        .map_err(draw_err)?;
        if i > 0 {
            chart
                .draw_series(std::iter::once(PathElement::new(vec![(i as f64, lo), (i as f64, hi)], GRID.stroke_width(1))))
                .map_err(draw_err)?;
        }
    }
    // Bars, each with a hover target over its whole column (a bar near zero is still easy to hit).
    let mut hovers = Vec::new();
    for (j, (row, &color)) in series.values.iter().zip(colors).enumerate() {
        for (i, e) in row.iter().enumerate() {
            let Some(e) = e else { continue };
            let (x0, x1) = bar_span(i, j, m);
            chart.draw_series(std::iter::once(Rectangle::new([(x0, 0.0), (x1, e.value)], color.filled()))).map_err(draw_err)?;
            let ((left, top), (right, bottom)) = (chart.backend_coord(&(x0, hi)), chart.backend_coord(&(x1, lo)));
            hovers.push(Hover {
                rect: [left, top, right - left, bottom - top],
                text: format!(
                    "{}, {}: {} {} ({})",
                    table.methods[j],
                    fmt_phi(table.phis[i]),
                    series.metric.name(),
                    fmt_estimate(e.value, e.ci),
                    series.metric.better().phrase()
                ),
            });
        }
    }
    if lo < 0.0 {
        chart
            .draw_series(std::iter::once(PathElement::new(vec![(0.0, 0.0), (n_phi as f64, 0.0)], INK.stroke_width(1))))
            .map_err(draw_err)?;
    }
    // Whiskers on top of all bars.
    for (j, row) in series.values.iter().enumerate() {
        for (i, e) in row.iter().enumerate() {
            let Some([a, b]) = e.and_then(|e| e.ci) else { continue };
            let (x0, x1) = bar_span(i, j, m);
            let (xc, cap) = ((x0 + x1) / 2.0, (x1 - x0) * 0.3);
            let path = vec![(xc - cap, b), (xc + cap, b), (xc, b), (xc, a), (xc - cap, a), (xc + cap, a)];
            chart.draw_series(std::iter::once(PathElement::new(path, WHISKER.stroke_width(1)))).map_err(draw_err)?;
        }
    }
    Ok(hovers)
}
