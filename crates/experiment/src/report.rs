//! The self-contained HTML report of an experiment run (Sztukiewicz et al., XAI 2025): the
//! paper's Figure 3 (metric bars per method and φ, for LRP and IG), the EqualizedOdds/accuracy
//! trade-off, Figure 2 (mean maps per group) for every φ, tables of every number with its
//! bootstrap interval and sanity numbers, and a plain-words verdict on whether the paper's
//! findings hold at each φ (§4.1–4.2: ThrOpt leaves LRP maps unchanged; the adversarial and ClArC
//! methods lower ROI relevance and EqualizedOdds vs vanilla).
//!
//! Charts are inline SVG (`biaslens-viz`), styles inline, no scripts run and nothing is fetched,
//! so the file opens offline in any browser. The results and config are embedded as JSON in
//! `<script type="application/json" id="biaslens-results">` (with `<`, `>` and `&` escaped as
//! `\u003c` …), and [`import_report`] reads them back from the HTML or from a bare results JSON.

use std::fmt::Write as _;

use biaslens_metrics::{Interval, SaliencyReport, SaliencySummary};
use biaslens_viz::{
    BarStyle, Estimate, GroupMaps, Metric, MetricSeries, ResultsTable, RoiBox, SaliencyGrid,
    SaliencyGridStyle, TradeoffStyle, metric_bars_svg, saliency_grid_svg, tradeoff_svg,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::MethodFamily;
use crate::results::{AttributionResult, ExperimentResults, ModelResult, PhiResult, RESULTS_FORMAT, RESULTS_VERSION};

/// The `id` of the script element that carries the results.
pub const RESULTS_SCRIPT_ID: &str = "biaslens-results";

/// Which attribution method's maps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Attribution {
    /// Layer-wise Relevance Propagation.
    Lrp,
    /// Integrated Gradients.
    Ig,
}

impl Attribution {
    /// `"LRP"` or `"IG"`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Lrp => "LRP",
            Self::Ig => "IG",
        }
    }

    fn of(self, m: &ModelResult) -> Option<&AttributionResult> {
        match self {
            Self::Lrp => Some(&m.lrp),
            Self::Ig => m.ig.as_ref(),
        }
    }
}

/// One claim of the paper checked at one φ.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// The training correlation.
    pub phi: f64,
    /// The method.
    pub method: String,
    /// The claim, in words.
    pub claim: String,
    /// Whether the run agrees.
    pub holds: bool,
    /// The numbers behind the verdict.
    pub evidence: String,
}

fn ci_text(ci: Option<Interval>) -> String {
    ci.map(|c| format!(" [{:.3}, {:.3}]", c.low, c.high)).unwrap_or_default()
}

/// Whether two intervals overlap (no interval: treated as overlapping, i.e. not a clear
/// difference).
fn overlap(a: Option<Interval>, b: Option<Interval>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a.low <= b.high && b.low <= a.high,
        _ => true,
    }
}

/// The paper's findings checked on LRP maps at every φ (§4.2): ThrOpt (and any threshold
/// method) leaves the LRP maps unchanged; every adversarial and ClArC method moves relevance out
/// of the ROI (RRF below vanilla's and ADR > 0) and lowers EqualizedOdds below vanilla's.
pub fn findings(results: &ExperimentResults) -> Vec<Finding> {
    let mut out = Vec::new();
    for p in &results.phis {
        let Some(vanilla) = p.models.first() else { continue };
        let v_rrf = vanilla.lrp.saliency.pooled.rrf;
        let v_eo = vanilla.fairness.equalized_odds;
        for m in p.models.iter().skip(1) {
            let s = &m.lrp.saliency.pooled;
            match m.family {
                Some(MethodFamily::Threshold) => {
                    let unchanged = s.adr.mean.abs() < 1e-9 && s.dif.mean.abs() < 1e-9 && (s.rrf.mean - v_rrf.mean).abs() < 1e-6;
                    out.push(Finding {
                        phi: p.phi,
                        method: m.name.clone(),
                        claim: "leaves the LRP maps unchanged".into(),
                        holds: unchanged,
                        evidence: format!(
                            "ADR {:.2e}, DIF {:.2e}, RRF {:.4} vs vanilla {:.4}",
                            s.adr.mean, s.dif.mean, s.rrf.mean, v_rrf.mean
                        ),
                    });
                }
                Some(MethodFamily::Adversarial | MethodFamily::Clarc) => {
                    let lower = s.rrf.mean < v_rrf.mean && s.adr.mean > 0.0;
                    let clear = lower && !overlap(s.rrf.ci, v_rrf.ci);
                    out.push(Finding {
                        phi: p.phi,
                        method: m.name.clone(),
                        claim: "lowers the relevance inside the ROI".into(),
                        holds: lower,
                        evidence: format!(
                            "RRF {:.4}{} vs vanilla {:.4}{}; ADR {:+.4}{}; RDDT {} (p = {}){}",
                            s.rrf.mean,
                            ci_text(s.rrf.ci),
                            v_rrf.mean,
                            ci_text(v_rrf.ci),
                            s.adr.mean,
                            ci_text(s.adr.ci),
                            if s.rddt.test.significant { "significant" } else { "not significant" },
                            s.rddt.test.p.map_or("n/a".into(), |p| format!("{p:.2e}")),
                            if lower && !clear { "; the RRF intervals overlap, so the drop is not clear" } else { "" }
                        ),
                    });
                    let eo = m.fairness.equalized_odds;
                    let lower_eo = eo.value < v_eo.value;
                    out.push(Finding {
                        phi: p.phi,
                        method: m.name.clone(),
                        claim: "lowers EqualizedOdds".into(),
                        holds: lower_eo,
                        evidence: format!(
                            "EO {:.3}{} vs vanilla {:.3}{}{}",
                            eo.value,
                            ci_text(eo.ci),
                            v_eo.value,
                            ci_text(v_eo.ci),
                            if lower_eo && overlap(eo.ci, v_eo.ci) { "; the intervals overlap, so the drop is not clear" } else { "" }
                        ),
                    });
                }
                None => {}
            }
        }
    }
    out
}

fn estimate(value: f64, ci: Option<Interval>) -> Option<Estimate> {
    if !value.is_finite() {
        return None;
    }
    Some(match ci {
        Some(c) if c.low.is_finite() && c.high.is_finite() && c.low <= c.high => Estimate::with_ci(value, c.low, c.high),
        _ => Estimate::new(value),
    })
}

/// Figure 3's input for one attribution method: RRF, ADR, DIF, RDDT (1 = significant),
/// EqualizedOdds and accuracy per model and φ.
pub fn results_table(results: &ExperimentResults, attribution: Attribution) -> ResultsTable {
    let methods = results.model_names();
    let series = |metric: Metric, f: &dyn Fn(usize, &ModelResult) -> Option<Estimate>| MetricSeries {
        metric,
        values: (0..methods.len())
            .map(|m| results.phis.iter().map(|p| p.models.get(m).and_then(|r| f(m, r))).collect())
            .collect(),
    };
    let sal = |r: &ModelResult| attribution.of(r).map(|a| a.saliency.pooled);
    let metrics = vec![
        series(Metric::Rrf, &|_, r| sal(r).and_then(|s| estimate(s.rrf.mean, s.rrf.ci))),
        series(Metric::Adr, &|m, r| if m == 0 { None } else { sal(r).and_then(|s| estimate(s.adr.mean, s.adr.ci)) }),
        series(Metric::Dif, &|m, r| if m == 0 { None } else { sal(r).and_then(|s| estimate(s.dif.mean, s.dif.ci)) }),
        series(Metric::Rddt, &|m, r| {
            if m == 0 { None } else { sal(r).map(|s| Estimate::new(if s.rddt.test.significant { 1.0 } else { 0.0 })) }
        }),
        series(Metric::EqualizedOdds, &|_, r| estimate(r.fairness.equalized_odds.value, r.fairness.equalized_odds.ci)),
        series(Metric::Accuracy, &|_, r| estimate(r.fairness.accuracy.value, r.fairness.accuracy.ci)),
    ];
    ResultsTable {
        phis: results.phis.iter().map(|p| p.phi).collect(),
        methods,
        baseline: Some(0),
        metrics,
        title: Some(format!("{} saliency and fairness metrics per method and training correlation φ", attribution.name())),
    }
}

/// Figure 2's input at one φ for one attribution method (`None` if that method did not run).
pub fn saliency_grid(results: &ExperimentResults, phi: &PhiResult, attribution: Attribution) -> Option<SaliencyGrid> {
    let attr = results.config.data.synthetic.attribute;
    let short = match attr {
        biaslens_data::ProtectedKind::Necktie => "tie",
        _ => "hat",
    };
    let groups: Vec<GroupMaps> = phi
        .groups
        .iter()
        .map(|g| {
            let maps = match attribution {
                Attribution::Lrp => &g.lrp,
                Attribution::Ig => &g.ig,
            };
            GroupMaps {
                label: format!(
                    "{} (n = {})",
                    GroupMaps::label_for(short, "smiling", g.group.protected == 1, g.group.target == 1),
                    g.images
                ),
                mean_image: Some(g.mean_input.decode()),
                maps: maps.iter().map(|m| m.decode()).collect(),
            }
        })
        .collect();
    if groups.is_empty() || groups.iter().any(|g| g.maps.is_empty()) {
        return None;
    }
    let roi = results.roi;
    Some(SaliencyGrid {
        width: results.image.width as usize,
        height: results.image.height as usize,
        columns: phi.models.iter().map(|m| m.name.clone()).collect(),
        groups,
        roi: Some(RoiBox { x: roi.x(), y: roi.y(), width: roi.w(), height: roi.h() }),
        title: Some(format!(
            "Mean {} maps per group (φ = {}), each map normalised to max |R| = 1 before averaging",
            attribution.name(),
            phi.phi
        )),
    })
}

/// The ROI's share of the image's pixels.
fn area_fraction(results: &ExperimentResults) -> f64 {
    results.roi.pixels() as f64 / results.image.pixels().max(1) as f64
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// JSON safe inside a `<script>` element: `<`, `>` and `&` only occur inside JSON strings, where
/// `\u003c` … mean the same characters.
fn script_json(json: &str) -> String {
    json.replace('<', "\\u003c").replace('>', "\\u003e").replace('&', "\\u0026")
}

fn chart(html: &mut String, svg: Result<String, biaslens_viz::VizError>, what: &str) {
    match svg {
        Ok(svg) => {
            // Drop the XML declaration of the standalone document: inline SVG needs none.
            let body = match svg.find("<svg") {
                Some(i) => &svg[i..],
                None => &svg,
            };
            let _ = write!(html, "<figure>{body}</figure>");
        }
        Err(e) => {
            let _ = write!(html, "<p class=\"warn\">The {} chart could not be drawn: {}</p>", esc(what), esc(&e.to_string()));
        }
    }
}

fn fmt_summary(s: &biaslens_metrics::saliency::Summary) -> String {
    if s.mean.is_finite() { format!("{:.4}{}", s.mean, ci_text(s.ci)) } else { "n/a".into() }
}

fn model_rows(html: &mut String, p: &PhiResult, attribution: Attribution) {
    for (i, m) in p.models.iter().enumerate() {
        let Some(a) = attribution.of(m) else { continue };
        let s: &SaliencySummary = &a.saliency.pooled;
        let f = &m.fairness;
        let diff = |text: String| if i == 0 { "—".to_owned() } else { text };
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{:.3}{}</td><td>{:.3}{}</td><td>{:.3}</td><td>{:.3}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.3e} / {:.3e}</td></tr>",
            esc(&m.name),
            f.accuracy.value,
            ci_text(f.accuracy.ci),
            f.equalized_odds.value,
            ci_text(f.equalized_odds.ci),
            f.demographic_parity.value,
            f.equal_opportunity.value,
            fmt_summary(&s.rrf),
            diff(fmt_summary(&s.adr)),
            diff(fmt_summary(&s.dif)),
            diff(format!(
                "{} (p = {})",
                if s.rddt.test.significant { "yes" } else { "no" },
                s.rddt.test.p.map_or("n/a".into(), |p| format!("{p:.2e}"))
            )),
            a.sanity.residual_abs_mean,
            a.sanity.residual_abs_max,
        );
    }
}

fn group_rows(html: &mut String, p: &PhiResult) {
    let _ = write!(html, "<table><tr><th>model</th>");
    let Some(first) = p.models.first() else { return };
    for g in &first.lrp.saliency.groups {
        let _ = write!(html, "<th>RRF, attribute {} / target {}</th>", g.group.protected, g.group.target);
    }
    html.push_str("</tr>");
    for m in &p.models {
        let r: &SaliencyReport = &m.lrp.saliency;
        let _ = write!(html, "<tr><td>{}</td>", esc(&m.name));
        for g in &r.groups {
            let _ = write!(html, "<td>{} (n = {})</td>", fmt_summary(&g.metrics.rrf), g.metrics.n);
        }
        html.push_str("</tr>");
    }
    html.push_str("</table>");
}

/// The whole report as one HTML document (see the module docs).
pub fn render_report(results: &ExperimentResults) -> String {
    let c = &results.config;
    let mut h = String::with_capacity(1 << 20);
    let title = format!("biaslens report — {}", c.name);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title><style>\
         body{{font:15px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:2em auto;max-width:1400px;padding:0 1em;color:#1b1b1b}}\
         h1{{font-size:1.6em}} h2{{margin-top:2em;border-bottom:1px solid #ccc}} figure{{margin:1em 0;overflow-x:auto}}\
         table{{border-collapse:collapse;margin:.5em 0 1.5em;font-size:13px}} td,th{{border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:top}}\
         th{{background:#f2f2f2}} .holds{{color:#0b6e2e}} .fails{{color:#b00020}} .warn{{color:#b00020}}\
         pre{{background:#f6f6f6;padding:1em;overflow-x:auto;font-size:12px}} .muted{{color:#555}}\
         </style></head><body>",
        esc(&title)
    );
    let _ = write!(
        h,
        "<h1>{}</h1><p>Did the debiased classifiers stop looking at the protected attribute? The experiment of \
         Sztukiewicz et al., <i>Investigating the Relationship Between Debiasing and Artifact Removal using Saliency Maps</i> \
         (XAI 2025), on the synthetic biased-faces benchmark ({}×{} images, protected attribute: {}, target: smiling).</p>",
        esc(&title),
        results.image.width,
        results.image.height,
        esc(c.data.synthetic.attribute.celeba_name()),
    );
    let phis: Vec<String> = results.phis.iter().map(|p| format!("{}", p.phi)).collect();
    let _ = write!(
        h,
        "<table><tr><th>training correlations φ</th><td>{}</td></tr><tr><th>models</th><td>{}</td></tr>\
         <tr><th>seed</th><td>{}</td></tr><tr><th>device</th><td>{}</td></tr><tr><th>wall time</th><td>{:.1} s</td></tr>\
         <tr><th>versions</th><td>biaslens {}, burn {}, config format {}, results format {}</td></tr>\
         <tr><th>explained test images per φ</th><td>{} (metrics pooled over them; accuracy and fairness use all {} test images)</td></tr>\
         <tr><th>ROI</th><td>x = {}, y = {}, w = {}, h = {} (x = column); {:.1} % of the image, so an RRF above {:.3} means \
         more relevance in the box than its share of the area</td></tr></table>",
        esc(&phis.join(", ")),
        esc(&results.model_names().join(", ")),
        results.seed,
        esc(&results.device),
        results.total_seconds,
        esc(&results.versions.biaslens),
        esc(&results.versions.burn),
        results.versions.config,
        results.versions.results,
        c.attribution.images,
        c.splits.test / 4 * 4,
        results.roi.x(),
        results.roi.y(),
        results.roi.w(),
        results.roi.h(),
        100.0 * area_fraction(results),
        area_fraction(results),
    );

    // Verdicts.
    h.push_str("<h2>Do the paper's findings hold?</h2><p class=\"muted\">Checked on the LRP maps, as in the paper's Figure 3: \
        ThrOpt should leave the maps unchanged (it only moves a threshold); the adversarial (ZhangAL, SavaniAFT) and ClArC \
        methods should lower the relevance inside the ROI (RRF below vanilla's, ADR above 0) and lower EqualizedOdds. \
        Intervals are 95 % bootstrap intervals over the explained (saliency) or all (fairness) test images.</p>");
    let all = findings(results);
    let count = |claim: &str| {
        let of: Vec<&Finding> = all.iter().filter(|f| f.claim == claim).collect();
        (of.iter().filter(|f| f.holds).count(), of.len())
    };
    let (thr_held, thr_all) = count("leaves the LRP maps unchanged");
    let (roi_held, roi_all) = count("lowers the relevance inside the ROI");
    let (eo_held, eo_all) = count("lowers EqualizedOdds");
    let _ = write!(
        h,
        "<p><b>In short:</b> threshold methods left the LRP maps unchanged in {thr_held} of {thr_all} cases; \
         the adversarial and ClArC methods lowered the relevance inside the ROI in {roi_held} of {roi_all} (method, φ) \
         cases and lowered EqualizedOdds in {eo_held} of {eo_all}. A claim that holds with overlapping intervals is \
         a direction, not a clear difference.</p>"
    );
    for p in &results.phis {
        let here: Vec<&Finding> = all.iter().filter(|f| f.phi == p.phi).collect();
        let held = here.iter().filter(|f| f.holds).count();
        let _ = write!(h, "<h3>φ = {} — {} of {} claims hold</h3><ul>", p.phi, held, here.len());
        for f in here {
            let _ = write!(
                h,
                "<li class=\"{}\"><b>{}</b> {}: <b>{}</b>. <span class=\"muted\">{}</span></li>",
                if f.holds { "holds" } else { "fails" },
                esc(&f.method),
                esc(&f.claim),
                if f.holds { "holds" } else { "does not hold" },
                esc(&f.evidence)
            );
        }
        h.push_str("</ul>");
    }

    // Figure 3 and the trade-off.
    h.push_str("<h2>Figure 3: metrics per method and φ (LRP)</h2>");
    let lrp_table = results_table(results, Attribution::Lrp);
    let bars = BarStyle { panel_width: 300, ..BarStyle::default() };
    chart(&mut h, metric_bars_svg(&lrp_table, &bars), "LRP metric");
    if c.attribution.ig.is_some() {
        h.push_str("<h2>Metrics per method and φ (IG)</h2>");
        chart(&mut h, metric_bars_svg(&results_table(results, Attribution::Ig), &bars), "IG metric");
    }
    h.push_str("<h2>EqualizedOdds against accuracy</h2>");
    chart(&mut h, tradeoff_svg(&lrp_table, &TradeoffStyle::default()), "trade-off");

    // Figure 2 per φ.
    let grid_style = SaliencyGridStyle { cell_px: 112, ..SaliencyGridStyle::default() };
    if results.phis.iter().flat_map(|p| &p.models).any(|m| m.family == Some(MethodFamily::Threshold)) {
        h.push_str(
            "<p class=\"muted\">Reading the LRP grids: a threshold method's column can differ from vanilla's in sign. \
             Zennit starts LRP of a thresholded model from the thresholded output s<sub>c</sub> (always positive) instead \
             of the logit z<sub>c</sub> (<code>paper-code.md</code> §2.6), so the map of an image whose true-class logit \
             is negative comes out negated. The metrics use |relevance| and see identical maps.</p>",
        );
    }
    for p in &results.phis {
        for attribution in [Attribution::Lrp, Attribution::Ig] {
            if let Some(grid) = saliency_grid(results, p, attribution) {
                let _ = write!(h, "<h2>Figure 2: mean {} maps per group, φ = {}</h2>", attribution.name(), p.phi);
                chart(&mut h, saliency_grid_svg(&grid, &grid_style), "saliency grid");
            }
        }
    }

    // Tables.
    h.push_str("<h2>All numbers</h2>");
    for p in &results.phis {
        let _ = write!(
            h,
            "<h3>φ = {}</h3><p>Splits: train {} images (achieved φ {}), debias {} (φ {}), test {} (balanced). \
             Vanilla training: {} steps, last batch loss {}, last batch accuracy {}.</p>",
            p.phi,
            p.train.images,
            p.train.phi.map_or("n/a".into(), |v| format!("{v:+.3}")),
            p.debias.images,
            p.debias.phi.map_or("n/a".into(), |v| format!("{v:+.3}")),
            p.test.images,
            p.vanilla_training.steps,
            p.vanilla_training.final_loss.map_or("n/a".into(), |v| format!("{v:.3}")),
            p.vanilla_training.final_batch_accuracy.map_or("n/a".into(), |v| format!("{v:.3}")),
        );
        for attribution in [Attribution::Lrp, Attribution::Ig] {
            if p.models.first().and_then(|m| attribution.of(m)).is_none() {
                continue;
            }
            let _ = write!(
                h,
                "<table><tr><th>model ({})</th><th>accuracy</th><th>EqualizedOdds</th><th>demographic parity</th><th>equal opportunity</th>\
                 <th>RRF</th><th>ADR</th><th>DIF</th><th>RDDT</th><th>{} |residual| mean / max</th></tr>",
                attribution.name(),
                if attribution == Attribution::Lrp { "LRP conservation Σin − Σout" } else { "IG completeness delta" }
            );
            model_rows(&mut h, p, attribution);
            h.push_str("</table>");
        }
        h.push_str("<p>LRP RRF per (attribute, target) group:</p>");
        group_rows(&mut h, p);
        let details: Vec<String> = p
            .models
            .iter()
            .filter(|m| !m.details.is_empty())
            .map(|m| {
                let d: Vec<String> = m.details.iter().map(|(k, v)| format!("{k} = {v:.4}")).collect();
                format!("{}: {}", m.name, d.join(", "))
            })
            .collect();
        if !details.is_empty() {
            let _ = write!(h, "<p>Method details: {}.</p>", esc(&details.join("; ")));
        }
    }
    h.push_str("<h2>Timings</h2><table><tr><th>φ</th><th>stage</th><th>seconds</th></tr>");
    for t in &results.timings {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{:.2}</td></tr>",
            t.phi.map_or("—".into(), |p| p.to_string()),
            esc(&t.stage),
            t.seconds
        );
    }
    let _ = write!(h, "<tr><th colspan=\"2\">total</th><th>{:.2}</th></tr></table>", results.total_seconds);
    let _ = write!(
        h,
        "<h2>Config</h2><p class=\"muted\">Run it again with <code>biaslens run --config exp.json</code>, or import this \
         file into the page.</p><pre>{}</pre>",
        esc(&c.to_json())
    );
    let json = serde_json::to_string(results).unwrap_or_default();
    let _ = writeln!(
        h,
        "<script type=\"application/json\" id=\"{RESULTS_SCRIPT_ID}\">{}</script></body></html>",
        script_json(&json)
    );
    h
}

/// Why a file could not be imported.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ReportError {
    /// Not a biaslens report or results file.
    #[error("not a biaslens report: {0}")]
    NotAReport(String),
    /// Written by a newer biaslens.
    #[error("these results are format version {found}, newer than this biaslens reads (version {supported}); update biaslens")]
    FutureVersion {
        /// The file's version.
        found: u64,
        /// The newest version this build reads.
        supported: u32,
    },
    /// The embedded JSON is broken or was edited into something that does not fit.
    #[error("the results in this file are damaged: {0}")]
    Broken(String),
}

/// Reads results back from a report made by [`render_report`] or from the bare results JSON.
///
/// # Errors
/// [`ReportError::NotAReport`] for other files (including an experiment *config*),
/// [`ReportError::FutureVersion`] for a newer format, [`ReportError::Broken`] for damaged JSON.
pub fn import_report(html_or_json: &str) -> Result<ExperimentResults, ReportError> {
    let text = html_or_json.trim_start_matches('\u{feff}').trim();
    let json = if text.starts_with('{') {
        text
    } else {
        let marker = format!("id=\"{RESULTS_SCRIPT_ID}\"");
        let Some(at) = text.find(&marker) else {
            let lower = text.get(..text.len().min(512)).unwrap_or("").to_ascii_lowercase();
            return Err(ReportError::NotAReport(if lower.contains("<html") || lower.contains("<!doctype") {
                "this HTML file has no embedded biaslens results (was it saved from another page?)".into()
            } else {
                "expected a biaslens report (.html) or results (.json) file".into()
            }));
        };
        let after = &text[at..];
        let open = after.find('>').ok_or_else(|| ReportError::Broken("the results element is cut off".into()))?;
        let body = &after[open + 1..];
        let close = body.find("</script>").ok_or_else(|| ReportError::Broken("the results element is never closed (file cut short?)".into()))?;
        body[..close].trim()
    };
    let value: Value = serde_json::from_str(json).map_err(|e| {
        ReportError::Broken(format!(
            "invalid JSON: {e} (in the results JSON); the file was cut short or edited: export it again from biaslens"
        ))
    })?;
    let Value::Object(map) = &value else {
        return Err(ReportError::NotAReport("the JSON is not an object".into()));
    };
    match map.get("format").and_then(Value::as_str) {
        Some(RESULTS_FORMAT) => {}
        Some(other) => return Err(ReportError::NotAReport(format!("the JSON is a {other:?} document, not {RESULTS_FORMAT:?}"))),
        None if map.contains_key("phis") && map.contains_key("methods") => {
            return Err(ReportError::NotAReport(
                "this is an experiment config, not results; run it with `biaslens run --config FILE`".into(),
            ));
        }
        None => return Err(ReportError::NotAReport(format!("the JSON has no \"format\": {RESULTS_FORMAT:?} field"))),
    }
    let version = map.get("version").and_then(Value::as_u64).ok_or_else(|| {
        ReportError::Broken("the results JSON has no whole-number \"version\" field; export it again from biaslens".into())
    })?;
    if version > u64::from(RESULTS_VERSION) {
        return Err(ReportError::FutureVersion { found: version, supported: RESULTS_VERSION });
    }
    // Decode from the text (not the value) so the error carries the line and column of the field.
    serde_json::from_str(json).map_err(|e| {
        ReportError::Broken(format!(
            "{e} (in the results JSON); the file was edited or damaged: export it again from biaslens"
        ))
    })
}
