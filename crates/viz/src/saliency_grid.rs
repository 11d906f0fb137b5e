//! **Figure 2** of the paper: mean saliency maps per (protected attribute × target) group.
//!
//! Rows are the groups (four for a binary attribute and target, e.g. "tie, smiling"), columns
//! the mean input image, the vanilla model and each debiasing method. Each cell is the mean of the
//! group's signed maps (the authors average the per-image normalised maps,
//! `docs/METHODS.md#figures`), painted with a signed diverging colour map symmetric around zero,
//! with the ROI drawn as a black box (white halo, so it shows on dark cells too) and a colour key.
//!
//! Cells are embedded as PNG data URIs (`<image href="data:image/png;base64,…">`, one pixel per
//! map pixel, scaled up with `image-rendering: pixelated`), so the SVG is self-contained and small.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};
use serde::{Deserialize, Serialize};

use crate::colormap::{Colormap, chw_to_rgba, max_abs};
use crate::error::{draw_err, finite};
use crate::svg::{INK, bold, escape, font, fmt_num, insert_bottom_layer, png_data_uri, text, text_width};
use crate::VizError;

/// A rectangle in image pixels: `x` is the column, `y` the row of the upper-left corner (the
/// authors' visualisers' `(x, y, w, h)` convention, `docs/METHODS.md#roi`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoiBox {
    /// First column.
    pub x: u32,
    /// First row.
    pub y: u32,
    /// Width in columns.
    pub width: u32,
    /// Height in rows.
    pub height: u32,
}

/// A rectangle in SVG user units (pixels of the chart).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct CellRect {
    /// Left edge.
    pub x: f64,
    /// Top edge.
    pub y: f64,
    /// Width.
    pub width: f64,
    /// Height.
    pub height: f64,
}

/// The ROI drawn on a cell: image coordinates (an `image_width × image_height` map) scaled to
/// chart coordinates of `cell`. Pixel `(col, row)` covers `[col, col + 1) × [row, row + 1)`, so
/// the box's far edges are `x + width` and `y + height`.
pub fn roi_in_cell(roi: &RoiBox, (image_width, image_height): (usize, usize), cell: CellRect) -> CellRect {
    let sx = cell.width / image_width as f64;
    let sy = cell.height / image_height as f64;
    CellRect {
        x: cell.x + f64::from(roi.x) * sx,
        y: cell.y + f64::from(roi.y) * sy,
        width: f64::from(roi.width) * sx,
        height: f64::from(roi.height) * sy,
    }
}

/// One row of Figure 2: the maps of one (protected attribute × target) group.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GroupMaps {
    /// Row label, e.g. `"tie, smiling"` ([`GroupMaps::label_for`]).
    pub label: String,
    /// The group's mean input image, `3×H×W` (RGB) or `H×W` (grey), values in `[0, 1]`;
    /// `None` leaves the "mean input" cell of this row empty.
    pub mean_image: Option<Vec<f32>>,
    /// One mean signed map (`H×W`, row-major) per column of [`SaliencyGrid::columns`].
    pub maps: Vec<Vec<f32>>,
}

impl GroupMaps {
    /// The row label of a group: `label_for("tie", "smiling", true, false)` is
    /// `"tie, not smiling"`; absent attributes read `"no tie"`.
    pub fn label_for(attribute: &str, target: &str, attribute_present: bool, target_present: bool) -> String {
        let a = if attribute_present { attribute.to_string() } else { format!("no {attribute}") };
        let t = if target_present { target.to_string() } else { format!("not {target}") };
        format!("{a}, {t}")
    }
}

/// The input of Figure 2.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SaliencyGrid {
    /// Map width in pixels (columns).
    pub width: usize,
    /// Map height in pixels (rows).
    pub height: usize,
    /// Names of the map columns, e.g. `["vanilla", "ThrOpt", "A-ClArC", …]` (the "mean input"
    /// column comes first on its own when any group has a mean image).
    pub columns: Vec<String>,
    /// The rows.
    pub groups: Vec<GroupMaps>,
    /// The region of interest in image pixels, drawn on every cell.
    pub roi: Option<RoiBox>,
    /// A title above the grid.
    pub title: Option<String>,
}

/// How map values are mapped to the ends of the colour map (always symmetric around zero).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MapScaling {
    /// One scale for the whole figure, the largest `|v|` of any map: cells compare directly.
    #[default]
    PerFigure,
    /// One scale per column (method), its largest `|v|`: shows each method's pattern even when
    /// its maps are weak; the scale is printed under each column header.
    PerColumn,
    /// A fixed scale, e.g. `1.0` for maps normalised to `[-1, 1]` as the authors do.
    Fixed(f32),
}

/// Settings of Figure 2.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SaliencyGridStyle {
    /// The signed colour map.
    pub colormap: Colormap,
    /// How values map to colours.
    pub scaling: MapScaling,
    /// Width of a cell in pixels (the height follows the map's aspect ratio).
    pub cell_px: u32,
    /// Label font size in CSS pixels (titles are a little larger).
    pub font_px: f64,
}

impl Default for SaliencyGridStyle {
    fn default() -> Self {
        Self { colormap: Colormap::default(), scaling: MapScaling::default(), cell_px: 128, font_px: 14.0 }
    }
}

const MARGIN: f64 = 16.0;
const GAP: f64 = 6.0;
const KEY_BAR_W: f64 = 18.0;
const KEY_GAP: f64 = 28.0;
/// What the sign means, under the key (LRP and IG explain the true class's logit).
const KEY_CAPTION: [&str; 2] = ["+ for the true class", "\u{2212} against it"];

/// Draws Figure 2 as a standalone SVG document.
///
/// # Errors
/// [`VizError`] when there is nothing to draw, a map or image has the wrong length or a
/// non-finite value, the ROI lies outside the image, or a setting is out of range.
pub fn saliency_grid_svg(grid: &SaliencyGrid, style: &SaliencyGridStyle) -> Result<String, VizError> {
    validate(grid, style)?;
    let (w, h) = (grid.width, grid.height);
    let px = style.font_px;
    let has_mean = grid.groups.iter().any(|g| g.mean_image.is_some());

    // Scales, one per map column.
    let column_scale: Vec<f32> = match style.scaling {
        MapScaling::Fixed(s) => vec![s; grid.columns.len()],
        MapScaling::PerColumn => (0..grid.columns.len())
            .map(|c| grid.groups.iter().map(|g| max_abs(&g.maps[c])).fold(0.0, f32::max))
            .collect(),
        MapScaling::PerFigure => {
            let s = grid.groups.iter().flat_map(|g| g.maps.iter()).map(|m| max_abs(m)).fold(0.0, f32::max);
            vec![s; grid.columns.len()]
        }
    };

    // Layout.
    let cell_w = f64::from(style.cell_px);
    let cell_h = (cell_w * h as f64 / w as f64).round().max(1.0);
    let mut headers: Vec<Vec<String>> = Vec::new();
    if has_mean {
        headers.push(wrap("mean input", cell_w, px));
    }
    for (c, name) in grid.columns.iter().enumerate() {
        let mut lines = wrap(name, cell_w, px);
        if style.scaling == MapScaling::PerColumn {
            lines.push(format!("±{}", fmt_scale(column_scale[c])));
        }
        headers.push(lines);
    }
    let line_h = (px * 1.35).round();
    let header_lines = headers.iter().map(Vec::len).max().unwrap_or(1);
    let title_h = if grid.title.is_some() { (px * 2.4).round() } else { 0.0 };
    let header_h = header_lines as f64 * line_h + 6.0;
    let label_lines: Vec<Vec<&str>> = grid.groups.iter().map(|g| g.label.split('\n').collect()).collect();
    let label_w = label_lines
        .iter()
        .flat_map(|ls| ls.iter().map(|l| text_width(l, px)))
        .fold(0.0, f64::max)
        + 14.0;
    let n_cols = headers.len();
    let grid_x = MARGIN + label_w;
    let grid_y = MARGIN + title_h + header_h;
    let grid_w = n_cols as f64 * (cell_w + GAP) - GAP;
    let grid_h = grid.groups.len() as f64 * (cell_h + GAP) - GAP;
    let (key_top, key_mid, key_bottom) = key_ticks(style, &column_scale);
    let key_label_w = [key_top.as_str(), key_bottom.as_str()].iter().map(|s| text_width(s, px) + 8.0).fold(0.0, f64::max);
    let key_caption_w = KEY_CAPTION.iter().map(|s| text_width(s, px - 1.0)).fold(text_width("relevance", px), f64::max);
    let key_x = grid_x + grid_w + KEY_GAP;
    // The key block: "relevance", the bar, two caption lines; centred on the grid.
    let key_extra = 3.0 * line_h + 32.0;
    let key_h = (grid_h - key_extra).clamp(60.0, 260.0);
    let key_y = grid_y + ((grid_h - key_h - key_extra) / 2.0).max(0.0) + line_h + 14.0;
    let body_bottom = (grid_y + grid_h).max(key_y + key_h + 18.0 + 2.0 * line_h);
    let footer = footer_text(grid, style, &column_scale);
    let footer_h = (px * 2.2).round();
    let total_w = (key_x + (KEY_BAR_W + key_label_w).max(key_caption_w) + MARGIN)
        .max(MARGIN * 2.0 + text_width(&footer, px - 1.0))
        .ceil();
    let total_h = (body_bottom + footer_h + MARGIN).ceil();

    // Raster layer: background, cells, ROI boxes, colour key bar.
    let mut layer = format!("<rect x=\"0\" y=\"0\" width=\"{total_w}\" height=\"{total_h}\" fill=\"#FFFFFF\"/>\n");
    for (r, group) in grid.groups.iter().enumerate() {
        let y = grid_y + r as f64 * (cell_h + GAP);
        let mut col = 0;
        if has_mean {
            let cell = CellRect { x: grid_x, y, width: cell_w, height: cell_h };
            match &group.mean_image {
                Some(img) => {
                    let rgba = if img.len() == w * h { grey_rgba(img) } else { chw_to_rgba(img, w * h) };
                    push_image(&mut layer, cell, &rgba, w, h)?;
                }
                None => push_empty(&mut layer, cell),
            }
            push_roi(&mut layer, grid.roi.as_ref(), (w, h), cell);
            col = 1;
        }
        for (c, map) in group.maps.iter().enumerate() {
            let cell = CellRect { x: grid_x + (col + c) as f64 * (cell_w + GAP), y, width: cell_w, height: cell_h };
            push_image(&mut layer, cell, &style.colormap.rgba(map, column_scale[c]), w, h)?;
            push_roi(&mut layer, grid.roi.as_ref(), (w, h), cell);
        }
    }
    // The key: 256 rows from +1 (top) to −1 (bottom).
    let key_rgba: Vec<u8> = (0..256)
        .flat_map(|i| {
            let v = 1.0 - 2.0 * (i as f32 + 0.5) / 256.0;
            let [r, g, b] = style.colormap.color(v, 1.0);
            [r, g, b, 255]
        })
        .collect();
    let key_cell = CellRect { x: key_x, y: key_y, width: KEY_BAR_W, height: key_h };
    push_image_class(&mut layer, "key", key_cell, &png_data_uri(&key_rgba, 1, 256)?);
    layer.push_str(&format!(
        "<rect x=\"{key_x}\" y=\"{key_y}\" width=\"{KEY_BAR_W}\" height=\"{key_h}\" fill=\"none\" stroke=\"#1A1A1A\" stroke-width=\"1\"/>\n"
    ));

    // Text layer with plotters.
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (total_w as u32, total_h as u32)).into_drawing_area();
        if let Some(title) = &grid.title {
            root.draw_text(title, &text(bold(px + 3.0), INK, HPos::Left, VPos::Top), (MARGIN as i32, MARGIN as i32))
                .map_err(draw_err)?;
        }
        for (c, lines) in headers.iter().enumerate() {
            let cx = grid_x + c as f64 * (cell_w + GAP) + cell_w / 2.0;
            let first_y = grid_y - 6.0 - header_lines as f64 * line_h;
            for (i, line) in lines.iter().enumerate() {
                let is_scale = style.scaling == MapScaling::PerColumn && i + 1 == lines.len() && (c > 0 || !has_mean);
                let f = if is_scale { font(px - 1.0) } else { bold(px) };
                root.draw_text(
                    line,
                    &text(f, INK, HPos::Center, VPos::Top),
                    (cx.round() as i32, (first_y + i as f64 * line_h).round() as i32),
                )
                .map_err(draw_err)?;
            }
        }
        for (r, lines) in label_lines.iter().enumerate() {
            let cy = grid_y + r as f64 * (cell_h + GAP) + cell_h / 2.0;
            let top = cy - (lines.len() as f64 - 1.0) * line_h / 2.0;
            for (i, line) in lines.iter().enumerate() {
                root.draw_text(
                    line,
                    &text(font(px), INK, HPos::Right, VPos::Center),
                    ((grid_x - 10.0).round() as i32, (top + i as f64 * line_h).round() as i32),
                )
                .map_err(draw_err)?;
            }
        }
        // Key ticks and labels.
        let tx = (key_x + KEY_BAR_W).round() as i32;
        for (frac, label) in [(0.0, &key_top), (0.5, &key_mid), (1.0, &key_bottom)] {
            let y = (key_y + frac * key_h).round() as i32;
            root.draw(&PathElement::new(vec![(tx, y), (tx + 5, y)], INK.stroke_width(1))).map_err(draw_err)?;
            root.draw_text(label, &text(font(px), INK, HPos::Left, VPos::Center), (tx + 8, y)).map_err(draw_err)?;
        }
        for (i, line) in KEY_CAPTION.iter().enumerate() {
            root.draw_text(
                line,
                &text(font(px - 1.0), INK, HPos::Left, VPos::Top),
                (key_x.round() as i32, (key_y + key_h + 18.0 + i as f64 * line_h).round() as i32),
            )
            .map_err(draw_err)?;
        }
        root.draw_text(
            "relevance",
            &text(font(px), INK, HPos::Left, VPos::Bottom),
            (key_x.round() as i32, (key_y - 14.0).round() as i32),
        )
        .map_err(draw_err)?;
        root.draw_text(
            &footer,
            &text(font(px - 1.0), RGBColor(0x44, 0x44, 0x44), HPos::Left, VPos::Bottom),
            (MARGIN as i32, (total_h - MARGIN).round() as i32),
        )
        .map_err(draw_err)?;
        root.present().map_err(draw_err)?;
    }
    insert_bottom_layer(svg, &layer)
}

/// Labels of the key's top, middle and bottom ticks.
fn key_ticks(style: &SaliencyGridStyle, scales: &[f32]) -> (String, String, String) {
    match style.scaling {
        MapScaling::PerColumn => ("+max".into(), "0".into(), "\u{2212}max".into()),
        _ => {
            let s = scales.first().copied().unwrap_or(0.0);
            (format!("+{}", fmt_scale(s)), "0".into(), format!("\u{2212}{}", fmt_scale(s)))
        }
    }
}

fn footer_text(grid: &SaliencyGrid, style: &SaliencyGridStyle, scales: &[f32]) -> String {
    let scale = match style.scaling {
        MapScaling::PerFigure => format!("one scale for all cells (±{})", fmt_scale(scales.first().copied().unwrap_or(0.0))),
        MapScaling::PerColumn => "each column scaled to its own max |relevance| (under its name)".into(),
        MapScaling::Fixed(s) => format!("fixed scale ±{}", fmt_scale(s)),
    };
    let roi = if grid.roi.is_some() { "Box: region of the protected attribute (ROI). " } else { "" };
    format!("{roi}Colours: {}, {scale}.", style.colormap.label())
}

/// A scale with three significant digits.
fn fmt_scale(s: f32) -> String {
    let s = f64::from(s);
    if s == 0.0 {
        return "0".into();
    }
    let decimals = (2.0 - s.abs().log10().floor()).clamp(0.0, 6.0) as usize;
    fmt_num(s, decimals)
}

/// Greedy word wrap of a header to the cell width.
fn wrap(s: &str, width: f64, px: f64) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for word in s.split(' ') {
        match lines.last_mut() {
            Some(line) if text_width(&format!("{line} {word}"), px) <= width => {
                line.push(' ');
                line.push_str(word);
            }
            _ => lines.push(word.to_string()),
        }
    }
    lines
}

fn grey_rgba(img: &[f32]) -> Vec<u8> {
    img.iter()
        .flat_map(|&v| {
            let b = (v.clamp(0.0, 1.0) * 255.0).round() as u8;
            [b, b, b, 255]
        })
        .collect()
}

fn push_image(layer: &mut String, cell: CellRect, rgba: &[u8], w: usize, h: usize) -> Result<(), VizError> {
    let uri = png_data_uri(rgba, w as u32, h as u32)?;
    push_image_class(layer, "cell", cell, &uri);
    Ok(())
}

fn push_image_class(layer: &mut String, class: &str, cell: CellRect, uri: &str) {
    layer.push_str(&format!(
        "<image class=\"{class}\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" preserveAspectRatio=\"none\" \
         style=\"image-rendering:pixelated\" href=\"{}\"/>\n",
        cell.x,
        cell.y,
        cell.width,
        cell.height,
        escape(uri)
    ));
}

fn push_empty(layer: &mut String, cell: CellRect) {
    layer.push_str(&format!(
        "<rect class=\"cell-empty\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"#EEEEEE\"/>\n",
        cell.x, cell.y, cell.width, cell.height
    ));
}

/// The ROI as a 2-px black box over a 4-px white halo (readable on any cell colour).
fn push_roi(layer: &mut String, roi: Option<&RoiBox>, image: (usize, usize), cell: CellRect) {
    if let Some(roi) = roi {
        let r = roi_in_cell(roi, image, cell);
        for (class, colour, width) in [("roi-halo", "#FFFFFF", 4), ("roi", "#000000", 2)] {
            layer.push_str(&format!(
                "<rect class=\"{class}\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"{width}\"/>\n",
                r.x, r.y, r.width, r.height
            ));
        }
    }
}

fn validate(grid: &SaliencyGrid, style: &SaliencyGridStyle) -> Result<(), VizError> {
    let (w, h) = (grid.width, grid.height);
    if w == 0 || h == 0 {
        return Err(VizError::Empty(format!("maps are {w}×{h} pixels")));
    }
    if grid.columns.is_empty() {
        return Err(VizError::Empty("no map columns (vanilla and methods)".into()));
    }
    if grid.groups.is_empty() {
        return Err(VizError::Empty("no (attribute × target) groups".into()));
    }
    if !(8..=1024).contains(&style.cell_px) {
        return Err(VizError::Invalid(format!("cell_px {} is outside 8..=1024", style.cell_px)));
    }
    if !(style.font_px.is_finite() && (8.0..=72.0).contains(&style.font_px)) {
        return Err(VizError::Invalid(format!("font_px {} is outside 8..=72", style.font_px)));
    }
    if let MapScaling::Fixed(s) = style.scaling
        && !(s.is_finite() && s > 0.0)
    {
        return Err(VizError::Invalid(format!("a fixed colour scale must be positive and finite, got {s}")));
    }
    if let Some(roi) = &grid.roi {
        let inside = roi.width > 0
            && roi.height > 0
            && roi.x as usize + roi.width as usize <= w
            && roi.y as usize + roi.height as usize <= h;
        if !inside {
            return Err(VizError::Invalid(format!(
                "ROI x={} y={} {}×{} is empty or outside the {w}×{h} image (x is the column)",
                roi.x, roi.y, roi.width, roi.height
            )));
        }
    }
    for g in &grid.groups {
        if g.maps.len() != grid.columns.len() {
            return Err(VizError::Shape {
                what: format!("group '{}' maps", g.label),
                expected: grid.columns.len(),
                got: g.maps.len(),
            });
        }
        for (map, name) in g.maps.iter().zip(&grid.columns) {
            check_buffer(map, w * h, || format!("map '{name}' of group '{}'", g.label))?;
        }
        if let Some(img) = &g.mean_image {
            let what = || format!("mean image of group '{}'", g.label);
            if img.len() != w * h && img.len() != 3 * w * h {
                return Err(VizError::Shape { what: format!("{} (H×W or 3×H×W)", what()), expected: 3 * w * h, got: img.len() });
            }
            check_buffer(img, img.len(), what)?;
        }
    }
    Ok(())
}

fn check_buffer(buf: &[f32], expected: usize, what: impl Fn() -> String) -> Result<(), VizError> {
    if buf.len() != expected {
        return Err(VizError::Shape { what: what(), expected, got: buf.len() });
    }
    for (i, &v) in buf.iter().enumerate() {
        finite(f64::from(v), || format!("{} at pixel {i}", what()))?;
    }
    Ok(())
}
