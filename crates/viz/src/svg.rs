//! Shared pieces of the SVG charts: fonts in real pixels, the Okabe–Ito palette, number
//! formatting, text-width estimates for layout, PNG data URIs and the raster layer.

use base64::Engine as _;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::VizError;

/// plotters' SVG backend writes `font-size = size / 1.24`; sizes here are the CSS pixels wanted.
const PLOTTERS_FONT_SCALE: f64 = 1.24;

/// The font family of every label.
pub(crate) const FAMILY: &str = "sans-serif";

/// A font of `px` CSS pixels as it will appear in the SVG.
pub(crate) fn font(px: f64) -> FontDesc<'static> {
    FontDesc::new(FontFamily::Name(FAMILY), px * PLOTTERS_FONT_SCALE, FontStyle::Normal)
}

/// A bold font of `px` CSS pixels.
pub(crate) fn bold(px: f64) -> FontDesc<'static> {
    FontDesc::new(FontFamily::Name(FAMILY), px * PLOTTERS_FONT_SCALE, FontStyle::Bold)
}

/// A text style with colour and anchor.
pub(crate) fn text(font: FontDesc<'static>, color: RGBColor, h: HPos, v: VPos) -> TextStyle<'static> {
    font.color(&color).pos(Pos::new(h, v))
}

/// Conservative width of `s` in a sans-serif font of `px` pixels (average advance ≈ 0.6 em,
/// generous for digits and capitals). Used for layout instead of plotters' text measurement,
/// which on wasm32 calls into the DOM.
pub(crate) fn text_width(s: &str, px: f64) -> f64 {
    s.chars().map(|c| if c.is_uppercase() || c == 'm' || c == 'w' { 0.72 } else { 0.58 }).sum::<f64>() * px
}

/// Width of a chart: its panels, or its title where that is wider (a one-φ chart's panels are
/// narrower than the page's title), plus the margins. The title's width is taken 5 % generous on
/// top of [`text_width`], which undercounts long lower-case runs.
pub(crate) fn chart_width(content_w: f64, title: Option<&str>, px: f64, margin: f64) -> f64 {
    let title_w = title.map_or(0.0, |t| text_width(t, px + 3.0) * 1.05);
    (content_w.max(title_w) + 2.0 * margin).ceil()
}

/// Near-black for text and axes.
pub(crate) const INK: RGBColor = RGBColor(0x1A, 0x1A, 0x1A);
/// Whisker strokes (distinct from [`INK`] so whiskers can be counted in tests).
pub(crate) const WHISKER: RGBColor = RGBColor(0x22, 0x22, 0x22);
/// Light grid lines.
pub(crate) const GRID: RGBColor = RGBColor(0xDD, 0xDD, 0xDD);
/// The vanilla (reference) model: neutral grey in bars, black in the scatter.
pub(crate) const BASELINE_BAR: RGBColor = RGBColor(0x8C, 0x8C, 0x8C);

/// Okabe & Ito (2008) colour-universal-design palette without black, in the order used for
/// debiasing methods (yellow last: lowest contrast on white).
pub(crate) const OKABE_ITO: [RGBColor; 7] = [
    RGBColor(0xE6, 0x9F, 0x00), // orange
    RGBColor(0x56, 0xB4, 0xE9), // sky blue
    RGBColor(0x00, 0x9E, 0x73), // bluish green
    RGBColor(0x00, 0x72, 0xB2), // blue
    RGBColor(0xD5, 0x5E, 0x00), // vermillion
    RGBColor(0xCC, 0x79, 0xA7), // reddish purple
    RGBColor(0xF0, 0xE4, 0x42), // yellow
];

/// Colours of `count` methods, the baseline (vanilla) getting `baseline`. Methods other than the
/// baseline take Okabe–Ito colours in order (tables are limited to seven of them, see
/// [`crate::MAX_METHODS`]; past that the colours would repeat).
pub(crate) fn method_colors(count: usize, baseline_index: Option<usize>, baseline: RGBColor) -> Vec<RGBColor> {
    let mut next = 0;
    (0..count)
        .map(|i| {
            if Some(i) == baseline_index {
                baseline
            } else {
                let c = OKABE_ITO[next % OKABE_ITO.len()];
                next += 1;
                c
            }
        })
        .collect()
}

/// A number with `decimals` decimals and a typographic minus sign.
pub(crate) fn fmt_num(v: f64, decimals: usize) -> String {
    let s = format!("{:.*}", decimals, v);
    // "-0.00" is zero.
    if s.starts_with('-') && s[1..].chars().all(|c| c == '0' || c == '.') {
        return s[1..].to_string();
    }
    s.replacen('-', "\u{2212}", 1)
}

/// A φ value with as few decimals as it needs (up to three).
pub(crate) fn fmt_phi(phi: f64) -> String {
    let mut s = fmt_num(phi, 3);
    if s.contains('.') {
        while s.ends_with('0') {
            s.pop();
        }
        if s.ends_with('.') {
            s.pop();
        }
    }
    format!("φ = {s}")
}

/// Decimals for axis ticks of a range about `span` wide (about six ticks).
pub(crate) fn tick_decimals(span: f64) -> usize {
    if !(span > 0.0 && span.is_finite()) {
        return 2;
    }
    let step = span / 6.0;
    (-step.log10().floor()).clamp(0.0, 4.0) as usize
}

/// An RGBA buffer (`h×w×4`) as a `data:image/png;base64,…` URI.
pub(crate) fn png_data_uri(rgba: &[u8], w: u32, h: u32) -> Result<String, VizError> {
    let mut bytes = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut bytes, w, h);
        enc.set_color(png::ColorType::Rgba);
        enc.set_depth(png::BitDepth::Eight);
        // fdeflate's PNG-tuned deflate: Figure 2's 32 cells took about 40 ms of the page's
        // thread with the default (zlib-style) level, and maps of a few flat colours barely
        // compress better with it.
        enc.set_compression(png::Compression::Fast);
        let mut writer = enc.write_header().map_err(|e| VizError::Png(e.to_string()))?;
        writer.write_image_data(rgba).map_err(|e| VizError::Png(e.to_string()))?;
        writer.finish().map_err(|e| VizError::Png(e.to_string()))?;
    }
    Ok(format!("data:image/png;base64,{}", base64::engine::general_purpose::STANDARD.encode(bytes)))
}

/// Inserts `layer` (raw SVG elements) right after the opening `<svg …>` tag, i.e. beneath
/// everything plotters drew. plotters cannot embed images on wasm32, so rasters go here.
pub(crate) fn insert_bottom_layer(svg: String, layer: &str) -> Result<String, VizError> {
    let open = svg.find("<svg").ok_or_else(|| VizError::Draw("plotters wrote no <svg> element".into()))?;
    let end = svg[open..].find('>').ok_or_else(|| VizError::Draw("unterminated <svg> tag".into()))? + open + 1;
    let mut out = String::with_capacity(svg.len() + layer.len() + 1);
    out.push_str(&svg[..end]);
    out.push('\n');
    out.push_str(layer);
    out.push_str(&svg[end..]);
    Ok(out)
}

/// A hover target in absolute SVG pixels: an invisible rectangle whose `<title>` a browser shows
/// as a tooltip (and a screen reader reads), so a bar's or point's exact value is one hover away.
pub(crate) struct Hover {
    /// Left, top, width, height in SVG pixels.
    pub rect: [i32; 4],
    /// What the tooltip says.
    pub text: String,
}

/// Appends `hovers` as the last group of a finished SVG, above every mark.
pub(crate) fn add_hovers(svg: &mut String, hovers: &[Hover]) {
    let Some(end) = svg.rfind("</svg>") else { return };
    let mut group = String::from("<g class=\"hover\">\n");
    for h in hovers {
        let [x, y, w, hgt] = h.rect;
        group.push_str(&format!(
            "<rect x=\"{x}\" y=\"{y}\" width=\"{}\" height=\"{}\" fill=\"transparent\"><title>{}</title></rect>\n",
            w.max(1),
            hgt.max(1),
            escape(&h.text)
        ));
    }
    group.push_str("</g>\n");
    svg.insert_str(end, &group);
}

/// A value and its interval for a tooltip: `0.0351 (95 % CI 0.0312 to 0.0390)`.
pub(crate) fn fmt_estimate(value: f64, ci: Option<[f64; 2]>) -> String {
    match ci {
        Some([a, b]) => format!("{} (95 % CI {} to {})", fmt_num(value, 4), fmt_num(a, 4), fmt_num(b, 4)),
        None => fmt_num(value, 4),
    }
}

/// Escapes text for an XML attribute or text node.
pub(crate) fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// Where the entries of a legend go: one `(x, y_centre)` per entry, wrapping into rows within
/// `max_width` from (`x`, `y`), and the total height.
pub(crate) fn legend_layout(labels: &[&str], (x, y): (f64, f64), max_width: f64, px: f64) -> (Vec<(i32, i32)>, f64) {
    let row_h = (px * 1.7).round();
    let (mut cx, mut cy) = (x, y);
    let mut at = Vec::with_capacity(labels.len());
    for label in labels {
        let w = px + 6.0 + text_width(label, px) + 22.0;
        if cx > x && cx + w > x + max_width {
            cx = x;
            cy += row_h;
        }
        at.push((cx.round() as i32, (cy + row_h / 2.0).round() as i32));
        cx += w;
    }
    (at, cy - y + row_h)
}

/// Draws a legend laid out by [`legend_layout`].
pub(crate) fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    entries: &[(String, Swatch)],
    origin: (f64, f64),
    max_width: f64,
    px: f64,
) -> Result<(), VizError> {
    let labels: Vec<&str> = entries.iter().map(|(l, _)| l.as_str()).collect();
    let (at, _) = legend_layout(&labels, origin, max_width, px);
    let swatch = px.round() as i32;
    let style = text(font(px), INK, HPos::Left, VPos::Center);
    for ((label, kind), (sx, mid)) in entries.iter().zip(at) {
        let e = crate::error::draw_err;
        match *kind {
            Swatch::Box(c) => {
                area.draw(&Rectangle::new([(sx, mid - swatch / 2), (sx + swatch, mid + swatch / 2)], c.filled()))
                    .map_err(e)?;
            }
            Swatch::Dot(c) => {
                area.draw(&Circle::new((sx + swatch / 2, mid), swatch / 2, c.filled())).map_err(e)?;
                area.draw(&Circle::new((sx + swatch / 2, mid), swatch / 2, INK.stroke_width(1))).map_err(e)?;
            }
            Swatch::Line(c, dashed) => {
                let (x0, x1) = (sx - 2, sx + swatch + 2);
                if dashed {
                    area.draw(&plotters::element::DashedPathElement::new(vec![(x0, mid), (x1, mid)], 5, 3, c.stroke_width(3))).map_err(e)?;
                } else {
                    area.draw(&PathElement::new(vec![(x0, mid), (x1, mid)], c.stroke_width(3))).map_err(e)?;
                }
            }
            Swatch::Diamond(c) => {
                let r = swatch / 2 + 2;
                let cx = sx + swatch / 2;
                area.draw(&Polygon::new(vec![(cx, mid - r), (cx + r, mid), (cx, mid + r), (cx - r, mid)], c.filled()))
                    .map_err(e)?;
            }
        }
        area.draw_text(label, &style, (sx + swatch + 6, mid)).map_err(e)?;
    }
    Ok(())
}

/// The mark of a legend entry.
#[derive(Clone, Copy)]
pub(crate) enum Swatch {
    /// A filled square (bars).
    Box(RGBColor),
    /// A filled circle with an outline (scatter points).
    Dot(RGBColor),
    /// A filled diamond (the vanilla model in the scatter).
    Diamond(RGBColor),
    /// A short line, solid or dashed (line charts).
    Line(RGBColor, bool),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_format_with_a_real_minus_and_no_negative_zero() {
        assert_eq!(fmt_num(-0.25, 2), "\u{2212}0.25");
        assert_eq!(fmt_num(-0.0001, 2), "0.00");
        assert_eq!(fmt_phi(0.5), "φ = 0.5");
        assert_eq!(fmt_phi(-0.25), "φ = \u{2212}0.25");
        assert_eq!(fmt_phi(0.0), "φ = 0");
        assert_eq!(tick_decimals(1.0), 1);
        assert_eq!(tick_decimals(0.05), 3);
        assert_eq!(tick_decimals(60.0), 0);
    }

    #[test]
    fn png_uri_decodes_back_to_the_pixels() {
        let rgba = [255u8, 0, 0, 255, 0, 0, 255, 255];
        let uri = png_data_uri(&rgba, 2, 1).expect("encodes");
        let b64 = uri.strip_prefix("data:image/png;base64,").expect("prefix");
        let bytes = base64::engine::general_purpose::STANDARD.decode(b64).expect("base64");
        let mut reader = png::Decoder::new(std::io::Cursor::new(bytes)).read_info().expect("png header");
        let mut buf = vec![0; reader.output_buffer_size().expect("size")];
        let info = reader.next_frame(&mut buf).expect("frame");
        assert_eq!((info.width, info.height), (2, 1));
        assert_eq!(&buf[..info.buffer_size()], &rgba);
    }

    #[test]
    fn layer_goes_right_after_the_svg_tag() {
        let svg = "<svg a=\"1\">\n<rect/></svg>".to_string();
        let out = insert_bottom_layer(svg, "<image/>").expect("has svg");
        assert_eq!(out, "<svg a=\"1\">\n<image/>\n<rect/></svg>");
        assert!(insert_bottom_layer("no svg".into(), "x").is_err());
    }
}
