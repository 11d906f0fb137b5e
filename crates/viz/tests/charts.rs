//! The charts' SVG, checked from the outside: well-formed XML, one bar per (method, φ, metric)
//! estimate, whiskers exactly where intervals are given and at the right height, ROI boxes at the
//! scaled coordinates, the colour scaling settings honoured pixel by pixel, legible font sizes and
//! no overlapping labels, and clear errors for bad input.

use base64::Engine as _;
use biaslens_viz::{
    BarStyle, Colormap, Estimate, GroupMaps, LOSS_X_LABEL, LOSS_Y_LABEL, LossSeries, LossStyle, MapScaling, Metric, MetricSeries,
    ResultsTable, RoiBox, SaliencyGrid, SaliencyGridStyle, TradeoffStyle, VizError, example, loss_curve_svg, metric_bars_svg,
    roi_in_cell, saliency_grid_svg, tradeoff_svg,
};

// ---------------------------------------------------------------------------------------------
// A small XML well-formedness checker (no XML crate in the workspace).

/// Checks that `s` is one well-formed XML element tree: every tag closed in order, attributes
/// `name="value"` without `<` in values, `&` only in entities, one root element.
fn check_xml(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let mut stack: Vec<String> = Vec::new();
    let mut roots = 0;
    let mut root = String::new();
    let mut i = 0;
    let check_text = |t: &str| -> Result<(), String> {
        let mut rest = t;
        while let Some(p) = rest.find('&') {
            let after = &rest[p + 1..];
            let end = after.find(';').ok_or_else(|| format!("bare & in {t:?}"))?;
            let ent = &after[..end];
            let ok = matches!(ent, "amp" | "lt" | "gt" | "quot" | "apos")
                || (ent.starts_with('#') && ent.len() > 1 && ent[1..].trim_start_matches('x').chars().all(|c| c.is_ascii_hexdigit()));
            if !ok {
                return Err(format!("bad entity &{ent};"));
            }
            rest = &after[end + 1..];
        }
        if t.contains('>') && !t.trim().is_empty() {
            // '>' is allowed in text by XML, nothing to do.
        }
        Ok(())
    };
    while i < b.len() {
        if b[i] != b'<' {
            let next = s[i..].find('<').map_or(s.len(), |p| i + p);
            let t = &s[i..next];
            if stack.is_empty() && !t.trim().is_empty() {
                return Err(format!("text outside the root: {t:?}"));
            }
            check_text(t)?;
            i = next;
            continue;
        }
        let close = s[i..].find('>').ok_or("unterminated tag")? + i;
        let tag = &s[i + 1..close];
        if let Some(comment) = tag.strip_prefix("!--") {
            let end = s[i..].find("-->").ok_or("unterminated comment")?;
            let _ = comment;
            i += end + 3;
            continue;
        }
        if tag.starts_with('?') {
            i = close + 1;
            continue;
        }
        if let Some(name) = tag.strip_prefix('/') {
            let open = stack.pop().ok_or_else(|| format!("</{name}> without an open tag"))?;
            if open != name.trim() {
                return Err(format!("</{name}> closes <{open}>"));
            }
            i = close + 1;
            continue;
        }
        let self_closing = tag.ends_with('/');
        let body = tag.trim_end_matches('/');
        let name_end = body.find(|c: char| c.is_whitespace()).unwrap_or(body.len());
        let name = &body[..name_end];
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == ':' || c == '-' || c == '_') {
            return Err(format!("bad tag name {name:?}"));
        }
        // Attributes: name="value" pairs.
        let mut a = body[name_end..].trim();
        let mut seen = Vec::new();
        while !a.is_empty() {
            let eq = a.find('=').ok_or_else(|| format!("attribute without value in <{name} {a}>"))?;
            let an = a[..eq].trim();
            if an.is_empty() || an.contains(char::is_whitespace) || seen.contains(&an) {
                return Err(format!("bad or repeated attribute {an:?} in <{name}>"));
            }
            seen.push(an);
            let rest = a[eq + 1..].trim_start();
            let q = rest.chars().next().ok_or("missing quote")?;
            if q != '"' && q != '\'' {
                return Err(format!("unquoted attribute {an} in <{name}>"));
            }
            let vend = rest[1..].find(q).ok_or("unterminated attribute value")? + 1;
            let value = &rest[1..vend];
            if value.contains('<') {
                return Err(format!("< in attribute {an}"));
            }
            check_text(value)?;
            a = rest[vend + 1..].trim_start();
        }
        if stack.is_empty() {
            roots += 1;
            root = name.to_string();
        }
        if !self_closing {
            stack.push(name.to_string());
        }
        i = close + 1;
    }
    if let Some(open) = stack.pop() {
        return Err(format!("<{open}> never closed"));
    }
    if roots != 1 {
        return Err(format!("{roots} root elements"));
    }
    Ok(root)
}

#[test]
fn the_xml_checker_rejects_broken_documents() {
    assert_eq!(check_xml("<svg a=\"1\"><g><rect/></g><text>a &amp; b</text></svg>"), Ok("svg".into()));
    for bad in [
        "<svg><g></svg></g>",
        "<svg><rect></svg>",
        "<svg a=1/>",
        "<svg>a & b</svg>",
        "<svg/><svg/>",
        "<svg a=\"1\" a=\"2\"/>",
        "<svg><image href=\"<x\"/></svg>",
        "</svg>",
    ] {
        assert!(check_xml(bad).is_err(), "accepted {bad:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Reading elements back.

/// Every `<name …>` start tag's attributes, in document order.
fn elements<'a>(svg: &'a str, name: &str) -> Vec<Vec<(&'a str, &'a str)>> {
    let open = format!("<{name}");
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(p) = svg[from..].find(&open) {
        let start = from + p + open.len();
        from = start;
        if !svg[start..].starts_with(|c: char| c.is_whitespace() || c == '/' || c == '>') {
            continue;
        }
        let end = svg[start..].find('>').map_or(svg.len(), |e| start + e);
        let mut attrs = Vec::new();
        let mut a = svg[start..end].trim().trim_end_matches('/');
        while let Some(eq) = a.find("=\"") {
            let key = a[..eq].trim();
            let rest = &a[eq + 2..];
            let vend = rest.find('"').unwrap_or(rest.len());
            attrs.push((key, &rest[..vend]));
            a = rest.get(vend + 1..).unwrap_or("");
        }
        out.push(attrs);
    }
    out
}

fn attr<'a>(e: &[(&'a str, &'a str)], key: &str) -> Option<&'a str> {
    e.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
}

fn num(e: &[(&str, &str)], key: &str) -> f64 {
    attr(e, key).and_then(|v| v.parse().ok()).unwrap_or(f64::NAN)
}

/// `<text>` elements with their content.
fn texts(svg: &str) -> Vec<(Vec<(&str, &str)>, String)> {
    let attrs = elements(svg, "text");
    let mut contents = Vec::new();
    let mut from = 0;
    while let Some(p) = svg[from..].find("<text") {
        let start = from + p;
        let gt = svg[start..].find('>').map_or(svg.len(), |e| start + e + 1);
        let end = svg[gt..].find("</text>").map_or(svg.len(), |e| gt + e);
        contents.push(svg[gt..end].trim().replace("&amp;", "&"));
        from = end;
    }
    attrs.into_iter().zip(contents).collect()
}

// ---------------------------------------------------------------------------------------------
// Figure 3: bars and whiskers.

const OKABE_ITO: [&str; 7] = ["#E69F00", "#56B4E9", "#009E73", "#0072B2", "#D55E00", "#CC79A7", "#F0E442"];
const BASELINE_GREY: &str = "#8C8C8C";
const WHISKER: &str = "#222222";

fn method_color(j: usize, baseline: Option<usize>) -> &'static str {
    match baseline {
        Some(b) if b == j => BASELINE_GREY,
        Some(b) if j > b => OKABE_ITO[(j - 1) % 7],
        _ => OKABE_ITO[j % 7],
    }
}

fn filled_rects(svg: &str, fill: &str) -> usize {
    elements(svg, "rect").iter().filter(|e| attr(e, "fill") == Some(fill)).count()
}

fn whiskers(svg: &str) -> Vec<Vec<(f64, f64)>> {
    elements(svg, "polyline")
        .iter()
        .filter(|e| attr(e, "stroke") == Some(WHISKER))
        .map(|e| {
            attr(e, "points")
                .unwrap_or("")
                .split_whitespace()
                .filter_map(|p| {
                    let (x, y) = p.split_once(',')?;
                    Some((x.parse().ok()?, y.parse().ok()?))
                })
                .collect()
        })
        .collect()
}

/// The example table with every `None` filled in, so every (method, φ, metric) has a value.
fn full_table() -> ResultsTable {
    let mut t = example::results_table();
    for s in &mut t.metrics {
        for row in &mut s.values {
            for e in row.iter_mut() {
                e.get_or_insert(Estimate::with_ci(0.01, 0.0, 0.02));
            }
        }
    }
    t
}

#[test]
fn one_bar_per_method_phi_and_metric() {
    let t = full_table();
    let svg = metric_bars_svg(&t, &BarStyle::default()).expect("draws");
    assert_eq!(check_xml(&svg), Ok("svg".into()));
    let (m, p, k) = (t.methods.len(), t.phis.len(), t.metrics.len());
    assert_eq!((m, p, k), (6, 3, 6));
    let mut total = 0;
    for j in 0..m {
        // Each method: one bar per φ per metric, plus its legend swatch.
        let n = filled_rects(&svg, method_color(j, t.baseline));
        assert_eq!(n, p * k + 1, "method {} ({})", t.methods[j], method_color(j, t.baseline));
        total += n - 1;
    }
    assert_eq!(total, m * p * k);
}

#[test]
fn missing_estimates_draw_no_bar() {
    // The example: vanilla has no ADR, DIF or RDDT (it is the reference).
    let t = example::results_table();
    let svg = metric_bars_svg(&t, &BarStyle::default()).expect("draws");
    let vanilla = t.baseline.expect("example has a baseline");
    let expected = t.metrics.iter().map(|s| s.values[vanilla].iter().flatten().count()).sum::<usize>();
    assert_eq!(expected, 9, "RRF, EO and accuracy at three φ");
    assert_eq!(filled_rects(&svg, BASELINE_GREY), expected + 1);
}

#[test]
fn whiskers_exactly_where_intervals_are_given() {
    let t = example::results_table();
    let with_ci = t.metrics.iter().flat_map(|s| s.values.iter().flatten().flatten()).filter(|e| e.ci.is_some()).count();
    let rddt = t.series(&Metric::Rddt).expect("example has RDDT");
    assert!(rddt.values.iter().flatten().flatten().all(|e| e.ci.is_none()), "RDDT is a test outcome, no CI");
    let svg = metric_bars_svg(&t, &BarStyle::default()).expect("draws");
    assert_eq!(whiskers(&svg).len(), with_ci);

    let mut bare = t.clone();
    for s in &mut bare.metrics {
        for e in s.values.iter_mut().flatten().flatten() {
            e.ci = None;
        }
    }
    assert_eq!(whiskers(&metric_bars_svg(&bare, &BarStyle::default()).expect("draws")).len(), 0);
}

#[test]
fn a_whisker_spans_its_interval_around_the_bar_top() {
    let table = ResultsTable {
        phis: vec![0.5],
        methods: vec!["A".into()],
        baseline: None,
        metrics: vec![MetricSeries { metric: Metric::Dif, values: vec![vec![Some(Estimate::with_ci(0.5, 0.3, 0.7))]] }],
        title: None,
    };
    let svg = metric_bars_svg(&table, &BarStyle::default()).expect("draws");
    let bars: Vec<_> = elements(&svg, "rect").into_iter().filter(|e| attr(e, "fill") == Some(OKABE_ITO[0])).collect();
    assert_eq!(bars.len(), 2, "one bar and one legend swatch");
    // The bar is the taller of the two.
    let bar = bars.iter().max_by(|a, b| num(a, "height").total_cmp(&num(b, "height"))).expect("two rects");
    let (top, height, x, width) = (num(bar, "y"), num(bar, "height"), num(bar, "x"), num(bar, "width"));
    let w = whiskers(&svg);
    assert_eq!(w.len(), 1);
    let ys: Vec<f64> = w[0].iter().map(|p| p.1).collect();
    let (hi_y, lo_y) = (ys.iter().copied().fold(f64::INFINITY, f64::min), ys.iter().copied().fold(f64::NEG_INFINITY, f64::max));
    // Value 0.5 → the bar's height h; 0.7 and 0.3 are 0.2 / 0.5 of h above and below its top.
    let per_unit = height / 0.5;
    assert!((top - hi_y - 0.2 * per_unit).abs() <= 1.5, "upper end {hi_y} vs top {top}");
    assert!((lo_y - top - 0.2 * per_unit).abs() <= 1.5, "lower end {lo_y} vs top {top}");
    // Centred on the bar.
    let xs: Vec<f64> = w[0].iter().map(|p| p.0).collect();
    let centre = (xs.iter().copied().fold(f64::INFINITY, f64::min) + xs.iter().copied().fold(f64::NEG_INFINITY, f64::max)) / 2.0;
    assert!((centre - (x + width / 2.0)).abs() <= 1.5, "whisker centre {centre} vs bar {x}+{width}/2");
}

#[test]
fn panel_titles_say_which_direction_is_better() {
    let svg = metric_bars_svg(&example::results_table(), &BarStyle::default()).expect("draws");
    let all: Vec<String> = texts(&svg).into_iter().map(|(_, t)| t).collect();
    for (name, phrase) in [
        ("RRF", "lower is better"),
        ("EqualizedOdds", "lower is better"),
        ("ADR", "higher is better"),
        ("DIF", "higher is better"),
        ("RDDT", "higher is better"),
        ("Accuracy", "higher is better"),
    ] {
        assert!(all.iter().any(|t| t.starts_with(name) && t.contains(phrase)), "no '{name} … {phrase}' title in {all:?}");
    }
    // Lower-is-better panels form the upper row, as in the paper.
    let y_of = |name: &str| {
        texts(&svg).into_iter().find(|(_, t)| t.starts_with(&format!("{name} "))).map(|(e, _)| num(&e, "y")).expect("title")
    };
    assert!(y_of("RRF") < y_of("ADR") && y_of("EqualizedOdds") < y_of("Accuracy"));
    assert_eq!(y_of("RRF"), y_of("EqualizedOdds"));
}

// ---------------------------------------------------------------------------------------------
// The trade-off scatter.

#[test]
fn tradeoff_has_one_point_per_method_and_phi_and_a_distinct_vanilla() {
    let t = example::results_table();
    let svg = tradeoff_svg(&t, &TradeoffStyle::default()).expect("draws");
    assert_eq!(check_xml(&svg), Ok("svg".into()));
    // Methods other than vanilla: a filled circle per φ plus one in the legend.
    for j in 1..t.methods.len() {
        let c = method_color(j, t.baseline);
        let n = elements(&svg, "circle").iter().filter(|e| attr(e, "fill") == Some(c)).count();
        assert_eq!(n, t.phis.len() + 1, "{}", t.methods[j]);
    }
    // Vanilla: a black diamond per φ plus the legend's, and a "vanilla" label in each panel.
    let diamonds = elements(&svg, "polygon").iter().filter(|e| attr(e, "fill") == Some("#000000")).count();
    assert_eq!(diamonds, t.phis.len() + 1);
    let labels = texts(&svg).into_iter().filter(|(_, s)| s == "vanilla").count();
    assert_eq!(labels, t.phis.len());
    let all: Vec<String> = texts(&svg).into_iter().map(|(_, s)| s).collect();
    assert!(all.iter().any(|s| s.starts_with("EqualizedOdds") && s.contains("lower is better")), "x axis label");
    assert!(all.iter().any(|s| s.starts_with("Accuracy") && s.contains("higher is better")), "y axis label");
}

/// The hover targets: (left, right, top, bottom) of each transparent rectangle and its tooltip.
fn hovers(svg: &str) -> Vec<((f64, f64, f64, f64), String)> {
    let rects: Vec<_> = elements(svg, "rect").into_iter().filter(|e| attr(e, "fill") == Some("transparent")).collect();
    let tips: Vec<String> = svg
        .split("<title>")
        .skip(1)
        .map(|t| t.split("</title>").next().unwrap_or("").replace("&amp;", "&"))
        .collect();
    assert_eq!(rects.len(), tips.len(), "one tooltip per hover target");
    rects
        .iter()
        .map(|e| (num(e, "x"), num(e, "x") + num(e, "width"), num(e, "y"), num(e, "y") + num(e, "height")))
        .zip(tips)
        .collect()
}

/// Hovering a bar shows its method, φ, metric, value and interval; the target covers the bar's
/// column, so a bar near zero is as easy to hit as a tall one.
#[test]
fn every_bar_has_a_tooltip_with_its_value_over_its_column() {
    let t = example::results_table();
    let svg = metric_bars_svg(&t, &BarStyle::default()).expect("draws");
    assert_eq!(check_xml(&svg), Ok("svg".into()));
    let tips = hovers(&svg);
    let estimates: usize = t.metrics.iter().map(|s| s.values.iter().flatten().flatten().count()).sum();
    assert_eq!(tips.len(), estimates, "one tooltip per bar");
    // The bars of one method (its colour, legend swatch excluded): each lies inside the column of
    // the tooltip that names it.
    for (j, method) in t.methods.iter().enumerate() {
        let bars: Vec<_> = elements(&svg, "rect")
            .into_iter()
            .filter(|e| attr(e, "fill") == Some(method_color(j, t.baseline)) && num(e, "height") != num(e, "width"))
            .collect();
        let mine: Vec<_> = tips.iter().filter(|(_, text)| text.starts_with(&format!("{method}, φ = "))).collect();
        assert!(!mine.is_empty(), "{method} has tooltips");
        for bar in &bars {
            let (x0, x1) = (num(bar, "x"), num(bar, "x") + num(bar, "width"));
            let (y0, y1) = (num(bar, "y"), num(bar, "y") + num(bar, "height"));
            assert!(
                mine.iter().any(|((l, r, top, bottom), _)| *l <= x0 + 0.5 && x1 <= r + 0.5 && *top <= y0 + 0.5 && y1 <= bottom + 0.5),
                "{method}: a bar at x {x0}..{x1} has no tooltip over it"
            );
        }
    }
    // One tooltip's words, checked against the table.
    let (k, series) = t.metrics.iter().enumerate().find(|(_, s)| s.values[1][0].is_some_and(|e| e.ci.is_some())).expect("an estimate with CI");
    let e = series.values[1][0].expect("estimate");
    let [a, b] = e.ci.expect("ci");
    let want = format!(
        "{}, φ = {}: {} {:.4} (95 % CI {:.4} to {:.4})",
        t.methods[1],
        t.phis[0],
        series.metric.name(),
        e.value,
        a,
        b
    )
    .replace("-", "\u{2212}");
    assert!(tips.iter().any(|(_, text)| text.starts_with(&want)), "metric {k}: no tooltip starting {want:?} in {:?}", tips.iter().map(|t| &t.1).collect::<Vec<_>>());
}

/// Hovering a point of the trade-off chart shows both of its values.
#[test]
fn every_tradeoff_point_has_a_tooltip_centred_on_it() {
    let t = example::results_table();
    let svg = tradeoff_svg(&t, &TradeoffStyle::default()).expect("draws");
    assert_eq!(check_xml(&svg), Ok("svg".into()));
    let tips = hovers(&svg);
    assert_eq!(tips.len(), t.methods.len() * t.phis.len());
    for j in 1..t.methods.len() {
        let c = method_color(j, t.baseline);
        let points: Vec<_> = elements(&svg, "circle").into_iter().filter(|e| attr(e, "fill") == Some(c)).collect();
        // The legend's swatch comes first in the document.
        for p in &points[points.len() - t.phis.len()..] {
            let (cx, cy) = (num(p, "cx"), num(p, "cy"));
            assert!(
                tips.iter().any(|((l, r, top, bottom), text)| text.starts_with(&t.methods[j])
                    && text.contains("EqualizedOdds")
                    && text.contains("accuracy")
                    && (l + r) / 2.0 == cx
                    && (top + bottom) / 2.0 == cy),
                "{}: no tooltip on the point at ({cx}, {cy})",
                t.methods[j]
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Figure 2.

fn cells(svg: &str) -> Vec<Vec<(&str, &str)>> {
    elements(svg, "image").into_iter().filter(|e| attr(e, "class") == Some("cell")).collect()
}

fn decode_png(uri: &str) -> (u32, u32, Vec<u8>) {
    let b64 = uri.strip_prefix("data:image/png;base64,").expect("a PNG data URI");
    let bytes = base64::engine::general_purpose::STANDARD.decode(b64).expect("base64");
    let mut reader = png::Decoder::new(std::io::Cursor::new(bytes)).read_info().expect("png header");
    let mut buf = vec![0; reader.output_buffer_size().expect("size")];
    let info = reader.next_frame(&mut buf).expect("frame");
    buf.truncate(info.buffer_size());
    (info.width, info.height, buf)
}

#[test]
fn figure2_has_a_cell_and_a_roi_box_per_group_and_column() {
    let grid = example::saliency_grid();
    for style in [
        SaliencyGridStyle::default(),
        SaliencyGridStyle { colormap: Colormap::BlueOrange, scaling: MapScaling::PerColumn, ..Default::default() },
    ] {
        let svg = saliency_grid_svg(&grid, &style).expect("draws");
        assert_eq!(check_xml(&svg), Ok("svg".into()));
        let n = grid.groups.len() * (grid.columns.len() + 1); // + the mean input column
        assert_eq!(cells(&svg).len(), n);
        let rois: Vec<_> = elements(&svg, "rect").into_iter().filter(|e| attr(e, "class") == Some("roi")).collect();
        assert_eq!(rois.len(), n);
        // Each box is the ROI scaled into its cell.
        let roi = grid.roi.expect("example has a ROI");
        for (cell, r) in cells(&svg).iter().zip(&rois) {
            let c = biaslens_viz::CellRect {
                x: num(cell, "x"),
                y: num(cell, "y"),
                width: num(cell, "width"),
                height: num(cell, "height"),
            };
            let want = roi_in_cell(&roi, (grid.width, grid.height), c);
            for (k, v) in [("x", want.x), ("y", want.y), ("width", want.width), ("height", want.height)] {
                assert!((num(r, k) - v).abs() < 1e-9, "{k}: {} vs {v}", num(r, k));
            }
        }
        // The key says what the ends mean.
        let all: Vec<String> = texts(&svg).into_iter().map(|(_, s)| s).collect();
        for label in ["tie, smiling", "no tie, not smiling", "mean input", "Vanilla", "RR-ClArC", "relevance"] {
            assert!(all.iter().any(|s| s == label), "missing label {label:?}");
        }
    }
}

#[test]
fn roi_scales_from_image_to_cell_coordinates() {
    // The necktie box of a 64×64 map in a 128-px cell at (100, 200): twice as large, shifted.
    let roi = RoiBox { x: 14, y: 52, width: 36, height: 9 };
    let c = roi_in_cell(&roi, (64, 64), biaslens_viz::CellRect { x: 100.0, y: 200.0, width: 128.0, height: 128.0 });
    assert_eq!((c.x, c.y, c.width, c.height), (128.0, 304.0, 72.0, 18.0));
    // Non-square image (40 wide, 20 high) in a 120×60 cell: x scales with width, y with height.
    let roi = RoiBox { x: 10, y: 5, width: 20, height: 10 };
    let c = roi_in_cell(&roi, (40, 20), biaslens_viz::CellRect { x: 0.0, y: 0.0, width: 120.0, height: 60.0 });
    assert_eq!((c.x, c.y, c.width, c.height), (30.0, 15.0, 60.0, 30.0));
    // The whole image maps onto the whole cell.
    let all = RoiBox { x: 0, y: 0, width: 40, height: 20 };
    let c = roi_in_cell(&all, (40, 20), biaslens_viz::CellRect { x: 7.0, y: 9.0, width: 80.0, height: 40.0 });
    assert_eq!((c.x, c.y, c.width, c.height), (7.0, 9.0, 80.0, 40.0));
}

/// Two columns whose maps peak at 1.0 and 0.5: per-figure scaling paints 0.5 half-strength,
/// per-column scaling paints it at the end colour; ±v mirror; 0 is neutral.
#[test]
fn cells_use_the_chosen_colour_map_and_scaling() {
    let (w, h) = (4usize, 1usize);
    let grid = SaliencyGrid {
        width: w,
        height: h,
        columns: vec!["strong".into(), "weak".into()],
        groups: vec![GroupMaps {
            label: "g".into(),
            mean_image: None,
            maps: vec![vec![1.0, -1.0, 0.0, 0.5], vec![0.5, -0.5, 0.0, 0.25]],
        }],
        roi: None,
        title: None,
    };
    for colormap in [Colormap::RdBu, Colormap::BlueOrange] {
        for (scaling, weak_scale) in [(MapScaling::PerFigure, 1.0), (MapScaling::PerColumn, 0.5), (MapScaling::Fixed(2.0), 2.0)] {
            let style = SaliencyGridStyle { colormap, scaling, ..Default::default() };
            let svg = saliency_grid_svg(&grid, &style).expect("draws");
            let cs = cells(&svg);
            assert_eq!(cs.len(), 2, "no mean input column when no group has one");
            let (pw, ph, weak) = decode_png(attr(&cs[1], "href").expect("href"));
            assert_eq!((pw, ph), (w as u32, h as u32));
            let px = |i: usize| [weak[4 * i], weak[4 * i + 1], weak[4 * i + 2]];
            assert_eq!(px(0), colormap.color(0.5, weak_scale), "{colormap:?} {scaling:?}");
            assert_eq!(px(1), colormap.color(-0.5, weak_scale), "{colormap:?} {scaling:?}");
            assert_eq!(px(2), colormap.neutral(), "{colormap:?} {scaling:?}: zero is neutral");
            assert_ne!(px(0), px(1), "opposite signs differ");
        }
        // Per-column: the weak column's peak hits the end colour, like the strong one's.
        let style = SaliencyGridStyle { colormap, scaling: MapScaling::PerColumn, ..Default::default() };
        let svg = saliency_grid_svg(&grid, &style).expect("draws");
        let cs = cells(&svg);
        let (_, _, strong) = decode_png(attr(&cs[0], "href").expect("href"));
        let (_, _, weak) = decode_png(attr(&cs[1], "href").expect("href"));
        assert_eq!(&strong[0..3], &weak[0..3]);
        assert_eq!(&strong[4..7], &weak[4..7]);
    }
}

// ---------------------------------------------------------------------------------------------
// The training curve.

/// The points of every `<polyline>` drawn in `stroke`.
fn lines_in(svg: &str, stroke: &str) -> Vec<Vec<(f64, f64)>> {
    elements(svg, "polyline")
        .iter()
        .filter(|e| attr(e, "stroke") == Some(stroke))
        .map(|e| {
            attr(e, "points")
                .unwrap_or("")
                .split_whitespace()
                .filter_map(|p| {
                    let (x, y) = p.split_once(',')?;
                    Some((x.parse().ok()?, y.parse().ok()?))
                })
                .collect()
        })
        .collect()
}

#[test]
fn loss_curve_has_axis_labels_a_legend_entry_and_a_line_per_unit() {
    let series = example::loss_series();
    let svg = loss_curve_svg(&series, &LossStyle::default()).expect("draws");
    assert_eq!(check_xml(&svg), Ok("svg".into()));
    let ts: Vec<String> = texts(&svg).into_iter().map(|(_, t)| t).collect();
    for label in [LOSS_X_LABEL, LOSS_Y_LABEL] {
        assert_eq!(ts.iter().filter(|t| *t == label).count(), 1, "axis label {label:?} among {ts:?}");
    }
    assert_eq!((LOSS_X_LABEL, LOSS_Y_LABEL), ("training step", "cross-entropy"));
    for (k, s) in series.iter().enumerate() {
        assert_eq!(ts.iter().filter(|t| **t == s.label).count(), 1, "legend entry {:?}", s.label);
        // One line of the unit's colour through all its points (six units: no colour repeats), and
        // its legend swatch, a short line of the same colour.
        let lines = lines_in(&svg, OKABE_ITO[k]);
        let long: Vec<&Vec<(f64, f64)>> = lines.iter().filter(|l| l.len() > 2).collect();
        assert_eq!(long.len(), 1, "{}: one line", s.label);
        assert_eq!(long[0].len(), s.points.len(), "{}: a vertex per step", s.label);
        assert_eq!(lines.iter().filter(|l| l.len() == 2).count(), 1, "{}: one legend swatch", s.label);
        // Steps go right, and a larger loss is drawn higher (smaller y).
        let line = long[0];
        assert!(line.windows(2).all(|w| w[1].0 > w[0].0), "{}: x increases with the step", s.label);
        let (first, last) = (s.points[0].1, s.points[s.points.len() - 1].1);
        assert_eq!(first > last, line[0].1 < line[line.len() - 1].1, "{}: y axis points up", s.label);
    }
    // Every line's end names its last value on hover.
    let tips = hovers(&svg);
    assert_eq!(tips.len(), series.len());
    assert!(tips[0].1.starts_with(&series[0].label) && tips[0].1.contains("cross-entropy") && tips[0].1.ends_with("at step 64"), "{:?}", tips[0]);
}

#[test]
fn loss_curve_repeats_colours_dashed_past_seven_units() {
    let mut series = example::loss_series();
    series.extend(example::loss_series().into_iter().map(|mut s| {
        s.label = format!("again {}", s.label);
        s
    }));
    assert_eq!(series.len(), 12);
    let svg = loss_curve_svg(&series, &LossStyle::default()).expect("draws");
    assert_eq!(check_xml(&svg), Ok("svg".into()));
    // The eighth unit takes the first colour again: its line is dashed (many short segments).
    let first = lines_in(&svg, OKABE_ITO[0]);
    assert!(first.iter().any(|l| l.len() > 2), "the first unit's solid line");
    assert!(first.iter().filter(|l| l.len() == 2).count() > 20, "the eighth unit's dashes");
    let ts: Vec<String> = texts(&svg).into_iter().map(|(_, t)| t).collect();
    assert!(series.iter().all(|s| ts.contains(&s.label)), "every unit in the legend");
}

#[test]
fn loss_curve_draws_a_unit_with_no_or_one_step_and_refuses_bad_input() {
    let style = LossStyle::default();
    // Live: the second unit has not started, the third has one step.
    let series = vec![
        LossSeries { label: "φ = −0.8".into(), points: vec![(1.0, 0.69), (2.0, 0.6), (3.0, 0.5)] },
        LossSeries { label: "φ = −0.5".into(), points: Vec::new() },
        LossSeries { label: "φ = −0.2".into(), points: vec![(1.0, 0.7)] },
    ];
    let svg = loss_curve_svg(&series, &style).expect("a curve in progress draws");
    assert_eq!(check_xml(&svg), Ok("svg".into()));
    assert!(texts(&svg).iter().any(|(_, t)| t == "φ = −0.5"), "a waiting unit is in the legend");

    assert!(matches!(loss_curve_svg(&[], &style), Err(VizError::Empty(_))));
    let empty = vec![LossSeries { label: "φ = 0.5".into(), points: Vec::new() }];
    assert!(matches!(loss_curve_svg(&empty, &style), Err(VizError::Empty(_))));
    let nan = vec![LossSeries { label: "φ = 0.5, seed 3".into(), points: vec![(1.0, 0.7), (2.0, f64::NAN)] }];
    let e = loss_curve_svg(&nan, &style).expect_err("NaN loss");
    assert!(matches!(e, VizError::NotFinite { .. }));
    assert!(e.to_string().contains("φ = 0.5, seed 3") && e.to_string().contains("step 2"), "{e}");
    let bad = LossStyle { width: 10, ..LossStyle::default() };
    assert!(matches!(loss_curve_svg(&example::loss_series(), &bad), Err(VizError::Invalid(_))));
}

// ---------------------------------------------------------------------------------------------
// Legibility: font sizes and overlaps, in every chart.

fn all_example_svgs() -> Vec<(&'static str, String)> {
    let grid = example::saliency_grid();
    let table = example::results_table();
    let cvd = SaliencyGridStyle { colormap: Colormap::BlueOrange, scaling: MapScaling::PerColumn, ..Default::default() };
    vec![
        ("figure2", saliency_grid_svg(&grid, &SaliencyGridStyle::default()).expect("draws")),
        ("figure2 cvd", saliency_grid_svg(&grid, &cvd).expect("draws")),
        ("figure3", metric_bars_svg(&table, &BarStyle::default()).expect("draws")),
        ("tradeoff", tradeoff_svg(&table, &TradeoffStyle::default()).expect("draws")),
        // One φ, as the page draws it by default: narrow panels under the same long title.
        ("figure3 one φ", metric_bars_svg(&one_phi(&table), &BarStyle::default()).expect("draws")),
        ("tradeoff one φ", tradeoff_svg(&one_phi(&table), &TradeoffStyle::default()).expect("draws")),
        ("loss curve", loss_curve_svg(&example::loss_series(), &LossStyle::default()).expect("draws")),
    ]
}

/// `table` cut to its first φ.
fn one_phi(table: &ResultsTable) -> ResultsTable {
    let mut t = table.clone();
    t.phis.truncate(1);
    for s in &mut t.metrics {
        for row in &mut s.values {
            row.truncate(1);
        }
    }
    t
}

#[test]
fn every_label_is_at_least_12_px() {
    for (name, svg) in all_example_svgs() {
        let ts = texts(&svg);
        assert!(ts.len() > 10, "{name}: only {} labels", ts.len());
        for (e, t) in &ts {
            let fs = num(e, "font-size");
            assert!(fs >= 12.0, "{name}: {t:?} at {fs} px");
        }
    }
}

/// Horizontal labels' boxes (estimated at 0.6 em per character, 1 em high) do not overlap,
/// and every label lies inside the canvas.
#[test]
fn labels_do_not_overlap_and_stay_on_the_canvas() {
    for (name, svg) in all_example_svgs() {
        let root = &elements(&svg, "svg")[0];
        let (cw, ch) = (num(root, "width"), num(root, "height"));
        let boxes: Vec<(String, [f64; 4])> = texts(&svg)
            .into_iter()
            .filter(|(e, _)| attr(e, "transform").is_none())
            .map(|(e, t)| {
                let fs = num(&e, "font-size");
                let wdt = t.chars().count() as f64 * 0.6 * fs;
                let x0 = match attr(&e, "text-anchor") {
                    Some("middle") => num(&e, "x") - wdt / 2.0,
                    Some("end") => num(&e, "x") - wdt,
                    _ => num(&e, "x"),
                };
                let y = num(&e, "y");
                let top = match attr(&e, "dy") {
                    Some("0.76em") => y,
                    Some("0.5ex") => y - fs / 2.0,
                    _ => y - fs,
                };
                (t, [x0, top, x0 + wdt, top + fs])
            })
            .collect();
        for (t, b) in &boxes {
            assert!(b[0] >= -0.5 && b[1] >= -0.5 && b[2] <= cw + 0.5 && b[3] <= ch + 0.5, "{name}: {t:?} {b:?} off the {cw}×{ch} canvas");
        }
        for i in 0..boxes.len() {
            for j in i + 1..boxes.len() {
                let (a, b) = (&boxes[i].1, &boxes[j].1);
                let overlap_x = a[2].min(b[2]) - a[0].max(b[0]);
                let overlap_y = a[3].min(b[3]) - a[1].max(b[1]);
                assert!(
                    overlap_x <= 1.0 || overlap_y <= 1.0,
                    "{name}: {:?} {a:?} overlaps {:?} {b:?}",
                    boxes[i].0,
                    boxes[j].0
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Errors, not panics.

fn small_grid() -> SaliencyGrid {
    SaliencyGrid {
        width: 2,
        height: 2,
        columns: vec!["vanilla".into()],
        groups: vec![GroupMaps { label: "tie, smiling".into(), mean_image: None, maps: vec![vec![0.1, -0.2, 0.0, 0.3]] }],
        roi: Some(RoiBox { x: 0, y: 1, width: 2, height: 1 }),
        title: None,
    }
}

#[test]
fn bad_saliency_grids_are_errors() {
    let style = SaliencyGridStyle::default();
    assert!(saliency_grid_svg(&small_grid(), &style).is_ok());

    let mut g = small_grid();
    g.groups[0].maps[0][2] = f32::NAN;
    let e = saliency_grid_svg(&g, &style).expect_err("NaN");
    assert!(matches!(e, VizError::NotFinite { .. }), "{e}");
    let msg = e.to_string();
    assert!(msg.contains("vanilla") && msg.contains("tie, smiling") && msg.contains("pixel 2"), "{msg}");

    let mut g = small_grid();
    g.groups.clear();
    assert!(matches!(saliency_grid_svg(&g, &style), Err(VizError::Empty(_))));

    let mut g = small_grid();
    g.columns.clear();
    assert!(matches!(saliency_grid_svg(&g, &style), Err(VizError::Empty(_))));

    let mut g = small_grid();
    g.width = 0;
    assert!(matches!(saliency_grid_svg(&g, &style), Err(VizError::Empty(_))));

    let mut g = small_grid();
    g.groups[0].maps[0].pop();
    assert!(matches!(saliency_grid_svg(&g, &style), Err(VizError::Shape { expected: 4, got: 3, .. })));

    let mut g = small_grid();
    g.groups[0].maps.push(vec![0.0; 4]);
    assert!(matches!(saliency_grid_svg(&g, &style), Err(VizError::Shape { expected: 1, got: 2, .. })));

    let mut g = small_grid();
    g.groups[0].mean_image = Some(vec![0.5; 5]);
    assert!(matches!(saliency_grid_svg(&g, &style), Err(VizError::Shape { .. })));

    let mut g = small_grid();
    g.groups[0].mean_image = Some(vec![0.5, 0.5, f32::INFINITY, 0.5]);
    assert!(matches!(saliency_grid_svg(&g, &style), Err(VizError::NotFinite { .. })));

    let mut g = small_grid();
    g.roi = Some(RoiBox { x: 1, y: 0, width: 2, height: 1 });
    let e = saliency_grid_svg(&g, &style).expect_err("ROI outside");
    assert!(e.to_string().contains("outside"), "{e}");

    let mut g = small_grid();
    g.roi = Some(RoiBox { x: 0, y: 0, width: 0, height: 1 });
    assert!(matches!(saliency_grid_svg(&g, &style), Err(VizError::Invalid(_))));

    for scaling in [MapScaling::Fixed(0.0), MapScaling::Fixed(f32::NAN), MapScaling::Fixed(-1.0)] {
        let s = SaliencyGridStyle { scaling, ..Default::default() };
        assert!(matches!(saliency_grid_svg(&small_grid(), &s), Err(VizError::Invalid(_))), "{scaling:?}");
    }
    let s = SaliencyGridStyle { cell_px: 0, ..Default::default() };
    assert!(matches!(saliency_grid_svg(&small_grid(), &s), Err(VizError::Invalid(_))));
    let s = SaliencyGridStyle { font_px: f64::NAN, ..Default::default() };
    assert!(matches!(saliency_grid_svg(&small_grid(), &s), Err(VizError::Invalid(_))));
}

#[test]
fn all_zero_maps_draw_neutral_cells() {
    let mut g = small_grid();
    g.groups[0].maps[0] = vec![0.0; 4];
    let svg = saliency_grid_svg(&g, &SaliencyGridStyle::default()).expect("zero maps are valid");
    let (_, _, px) = decode_png(attr(&cells(&svg)[0], "href").expect("href"));
    assert!(px.chunks(4).all(|p| p[0..3] == Colormap::RdBu.neutral()));
}

#[test]
fn bad_tables_are_errors() {
    let style = BarStyle::default();
    let tstyle = TradeoffStyle::default();

    let mut t = example::results_table();
    t.metrics[0].values[2][1] = Some(Estimate::new(f64::NAN));
    let e = metric_bars_svg(&t, &style).expect_err("NaN value");
    assert!(matches!(e, VizError::NotFinite { .. }));
    assert!(e.to_string().contains("RRF") && e.to_string().contains("SavaniAFT") && e.to_string().contains("0.5"), "{e}");
    assert!(tradeoff_svg(&t, &tstyle).is_err(), "the scatter validates the whole table too");

    let mut t = example::results_table();
    t.metrics[1].values[0][0] = Some(Estimate::with_ci(0.1, f64::NAN, 0.2));
    assert!(matches!(metric_bars_svg(&t, &style), Err(VizError::NotFinite { .. })));

    let mut t = example::results_table();
    t.metrics[1].values[0][0] = Some(Estimate::with_ci(0.1, 0.3, 0.2));
    assert!(matches!(metric_bars_svg(&t, &style), Err(VizError::Invalid(_))));

    let mut t = example::results_table();
    t.phis.clear();
    assert!(matches!(metric_bars_svg(&t, &style), Err(VizError::Empty(_))));
    assert!(matches!(tradeoff_svg(&t, &tstyle), Err(VizError::Empty(_))));

    let mut t = example::results_table();
    t.methods.clear();
    assert!(matches!(metric_bars_svg(&t, &style), Err(VizError::Empty(_))));

    let mut t = example::results_table();
    t.metrics.clear();
    assert!(matches!(metric_bars_svg(&t, &style), Err(VizError::Empty(_))));

    let mut t = example::results_table();
    t.phis[0] = f64::NAN;
    assert!(matches!(metric_bars_svg(&t, &style), Err(VizError::NotFinite { .. })));

    let mut t = example::results_table();
    t.metrics[3].values[4].pop();
    assert!(matches!(metric_bars_svg(&t, &style), Err(VizError::Shape { expected: 3, got: 2, .. })));

    let mut t = example::results_table();
    t.metrics[3].values.pop();
    assert!(matches!(metric_bars_svg(&t, &style), Err(VizError::Shape { expected: 6, got: 5, .. })));

    let mut t = example::results_table();
    t.baseline = Some(6);
    assert!(matches!(metric_bars_svg(&t, &style), Err(VizError::Invalid(_))));

    let mut t = example::results_table();
    t.metrics.retain(|s| s.metric != Metric::EqualizedOdds);
    let e = tradeoff_svg(&t, &tstyle).expect_err("no EO");
    assert!(e.to_string().contains("EqualizedOdds"), "{e}");
    assert!(metric_bars_svg(&t, &style).is_ok(), "the bars do not need EO");

    let mut t = example::results_table();
    for s in &mut t.metrics {
        if s.metric == Metric::Accuracy {
            s.values.iter_mut().flatten().for_each(|e| *e = None);
        }
    }
    assert!(matches!(tradeoff_svg(&t, &tstyle), Err(VizError::Empty(_))));

    // Eight debiasing methods cannot all get distinct colour-blind-safe colours.
    let mut t = example::results_table();
    for k in 0..3 {
        t.methods.push(format!("extra {k}"));
        for s in &mut t.metrics {
            s.values.push(vec![Some(Estimate::new(0.5)); 3]);
        }
    }
    assert_eq!(t.methods.len(), 9);
    let e = metric_bars_svg(&t, &style).expect_err("8 methods besides vanilla");
    assert!(e.to_string().contains("palette"), "{e}");
    t.methods.pop();
    for s in &mut t.metrics {
        s.values.pop();
    }
    assert!(metric_bars_svg(&t, &style).is_ok(), "vanilla + 7 is fine");

    let bad = BarStyle { font_px: 0.0, ..Default::default() };
    assert!(matches!(metric_bars_svg(&example::results_table(), &bad), Err(VizError::Invalid(_))));
}

#[test]
fn inputs_and_settings_round_trip_through_json() {
    let t = example::results_table();
    let back: ResultsTable = serde_json::from_str(&serde_json::to_string(&t).expect("ser")).expect("de");
    // serde_json's float parsing may differ from the original by an ulp: compare with a tolerance.
    assert_eq!((&back.methods, back.baseline, &back.title), (&t.methods, t.baseline, &t.title));
    let flat = |t: &ResultsTable| -> Vec<Option<(f64, Option<[f64; 2]>)>> {
        t.metrics.iter().flat_map(|s| s.values.iter().flatten().map(|e| e.map(|e| (e.value, e.ci)))).collect()
    };
    assert_eq!(back.metrics.iter().map(|s| &s.metric).collect::<Vec<_>>(), t.metrics.iter().map(|s| &s.metric).collect::<Vec<_>>());
    let (a, b) = (flat(&back), flat(&t));
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        match (x, y) {
            (None, None) => {}
            (Some((v, c)), Some((w, d))) => {
                assert!((v - w).abs() < 1e-12);
                assert_eq!(c.is_some(), d.is_some());
                if let (Some(c), Some(d)) = (c, d) {
                    assert!((c[0] - d[0]).abs() < 1e-12 && (c[1] - d[1]).abs() < 1e-12);
                }
            }
            _ => panic!("presence changed: {x:?} vs {y:?}"),
        }
    }
    let g = example::saliency_grid();
    let back: SaliencyGrid = serde_json::from_str(&serde_json::to_string(&g).expect("ser")).expect("de");
    assert_eq!(back, g);
    let s = SaliencyGridStyle { colormap: Colormap::BlueOrange, scaling: MapScaling::Fixed(1.0), ..Default::default() };
    let json = serde_json::to_string(&s).expect("ser");
    assert_eq!(serde_json::from_str::<SaliencyGridStyle>(&json).expect("de"), s);
    // Missing fields take their defaults.
    assert_eq!(serde_json::from_str::<BarStyle>("{}").expect("de"), BarStyle::default());
}
