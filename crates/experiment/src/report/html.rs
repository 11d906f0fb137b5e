//! The self-contained HTML report: every figure as inline SVG, every number with its interval,
//! the findings, the timings and the config, with the results embedded as JSON for
//! [`super::import_report`]. No scripts run and nothing is fetched, so it opens offline.

use std::fmt::Write as _;

use biaslens_metrics::{SaliencyReport, SaliencySummary};
use biaslens_viz::{BarStyle, SaliencyGridStyle, TradeoffStyle, metric_bars_svg, saliency_grid_svg, tradeoff_svg};

use super::RESULTS_SCRIPT_ID;
use super::figures::{area_fraction, attribution_name, ci_text, results_table, saliency_grid, summary_text};
use crate::config::MethodFamily;
use crate::findings::{ALPHA, Finding, Verdicts, claim_key, verdicts as verdicts_of};
use crate::results::{ExperimentResults, PhiResult};

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

fn model_rows(html: &mut String, p: &PhiResult, key: &str) {
    let opt = |v: Option<f64>| v.map_or("n/a".to_owned(), |v| format!("{v:.3e}"));
    for (i, m) in p.models.iter().enumerate() {
        let Some(a) = m.attribution(key) else { continue };
        let s: &SaliencySummary = &a.saliency.pooled;
        let f = &m.fairness;
        let diff = |text: String| if i == 0 { "—".to_owned() } else { text };
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{:.3}{}</td><td>{:.3}{}</td><td>{:.3}</td><td>{:.3}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{} / {}</td></tr>",
            esc(&m.name),
            f.accuracy.value,
            ci_text(f.accuracy.ci),
            f.equalized_odds.value,
            ci_text(f.equalized_odds.ci),
            f.demographic_parity.value,
            f.equal_opportunity.value,
            summary_text(&s.rrf),
            diff(summary_text(&s.adr)),
            diff(summary_text(&s.dif)),
            diff(format!(
                "{} (p = {})",
                if s.rddt.test.significant { "yes" } else { "no" },
                s.rddt.test.p.map_or("n/a".into(), |p| format!("{p:.2e}"))
            )),
            opt(a.sanity.residual_abs_mean),
            opt(a.sanity.residual_abs_max),
        );
    }
}

fn group_rows(html: &mut String, p: &PhiResult, key: &str) {
    let _ = write!(html, "<table><tr><th>model</th>");
    let Some(first) = p.models.first().and_then(|m| m.attribution(key)) else { return };
    for g in &first.saliency.groups {
        let _ = write!(html, "<th>RRF, attribute {} / target {}</th>", g.group.protected, g.group.target);
    }
    html.push_str("</tr>");
    for m in &p.models {
        let Some(a) = m.attribution(key) else { continue };
        let r: &SaliencyReport = &a.saliency;
        let _ = write!(html, "<tr><td>{}</td>", esc(&m.name));
        for g in &r.groups {
            let _ = write!(html, "<td>{} (n = {})</td>", summary_text(&g.metrics.rrf), g.metrics.n);
        }
        html.push_str("</tr>");
    }
    html.push_str("</table>");
}

/// The whole report as one HTML document (see the module docs).
pub fn render_report(results: &ExperimentResults) -> String {
    let mut h = String::with_capacity(1 << 20);
    head(&mut h, results);
    run_summary(&mut h, results);
    verdicts(&mut h, results);
    figures(&mut h, results);
    tables(&mut h, results);
    timings_and_config(&mut h, results);
    let json = serde_json::to_string(results).unwrap_or_default();
    let _ = writeln!(
        h,
        "<script type=\"application/json\" id=\"{RESULTS_SCRIPT_ID}\">{}</script></body></html>",
        script_json(&json)
    );
    h
}

/// The document head, styles and title paragraph.
fn head(h: &mut String, results: &ExperimentResults) {
    let c = &results.config;
    let title = format!("biaslens report — {}", c.name);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title><style>\
         body{{font:15px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:2em auto;max-width:1400px;padding:0 1em;color:#1b1b1b}}\
         h1{{font-size:1.6em}} h2{{margin-top:2em;border-bottom:1px solid #ccc}} figure{{margin:1em 0;overflow-x:auto}}\
         table{{border-collapse:collapse;margin:.5em 0 1.5em;font-size:13px}} td,th{{border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:top}}\
         th{{background:#f2f2f2}} .grade-holds{{color:#0b6e2e}} .grade-opposite{{color:#b00020}} .grade-not-testable{{color:#777}} .warn{{color:#b00020}}\
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
}

/// What ran: φ values, models, seed, device, versions, explained images, ROI.
fn run_summary(h: &mut String, results: &ExperimentResults) {
    let c = &results.config;
    let phis: Vec<String> = results.phis.iter().map(|p| format!("{}", p.phi)).collect();
    let _ = write!(
        h,
        "<table><tr><th>training correlations φ</th><td>{}</td></tr><tr><th>models</th><td>{}</td></tr>\
         <tr><th>seed</th><td>{}</td></tr><tr><th>device</th><td>{}</td></tr><tr><th>wall time</th><td>{:.1} s</td></tr>\
         <tr><th>versions</th><td>biaslens {}, burn {}, config format {}, results format {}</td></tr>\
         <tr><th>explained test images per φ</th><td>{} (metrics pooled over them; accuracy and fairness use all {} test images)</td></tr>\
         <tr><th>ROI</th><td>x = {}, y = {}, w = {}, h = {} (x = column); {:.1} % of the image, so an RRF above {:.3} means \
         more relevance in the box than its share of the area</td></tr>{}</table>",
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
        results.per_image_regions.as_ref().map_or(String::new(), |source| format!(
            "<tr><th>regions</th><td class=\"warn\">one region per image, from {}: the saliency metrics used each image's own box, \
             so the ROI above applies to no image and the figures draw no box</td></tr>",
            esc(source)
        )),
    );
}

/// The paper's findings checked.
fn verdicts(h: &mut String, results: &ExperimentResults) {
    let v = verdicts_of(results);
    let key = claim_key(results).map_or(String::new(), |k| attribution_name(results, k).to_owned());
    let _ = write!(
        h,
        "<h2 id=\"verdicts\">Do the paper's findings hold?</h2><p class=\"muted\">Each claim is a test, graded <i>holds</i> \
         (significant in the paper's direction), <i>direction only</i>, <i>no effect</i>, <i>opposite</i> (significant \
         against it) or <i>not testable</i> (vanilla does not rely on the attribute, so there is nothing to remove). \
         \"Moves relevance out of the ROI\": two-sided t-test of the per-image ADR on the {} maps (the paper's RDDT). \
         \"Lowers EqualizedOdds\": paired bootstrap of EO(method) − EO(vanilla) on the same test images. p-values are \
         Holm-corrected over each unit's claims (family-wise error {:.0} %). A run where nothing changes shows no \
         <i>holds</i>. Controls (plain fine-tuning) are tested the same way but not counted: a method's effect is what it \
         adds over its control.</p>",
        esc(&key),
        100.0 * ALPHA
    );
    let _ = write!(h, "<p id=\"verdict-summary\"><b>In short:</b> {}.</p>", esc(&v.summary()));
    if results.config.seeds().len() > 1 {
        h.push_str("<h3>Over the seeds</h3><table><tr><th>φ</th><th>method</th><th>claim</th><th>holds in</th><th>mean effect</th></tr>");
        for a in &v.across_seeds {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}{}</td><td>{}</td><td>{} of {} seeds ({} testable)</td><td>{}</td></tr>",
                a.phi,
                esc(&a.method),
                if a.control { " (control)" } else { "" },
                a.kind.text(),
                a.holds,
                a.seeds,
                a.testable,
                a.mean_effect.map_or("—".into(), |e| format!("{e:+.4}"))
            );
        }
        h.push_str("</table>");
    }
    for (u, p) in v.premises.iter().zip(&results.phis) {
        let here: Vec<&Finding> = v.findings.iter().filter(|f| f.phi == p.phi && f.seed == p.seed).collect();
        let held = here.iter().filter(|f| f.holds && !f.control).count();
        let counted = here.iter().filter(|f| !f.control).count();
        let _ = write!(
            h,
            "<h3>φ = {}, seed {} — {held} of {counted} claims hold</h3><p class=\"{}\">Premise: {}.</p>{}<ul>",
            p.phi,
            p.seed,
            if u.roi || u.eo { "muted" } else { "warn" },
            esc(&u.reason),
            u.attention.as_ref().map_or(String::new(), |a| format!("<p class=\"muted\">{}.</p>", esc(&a.text())))
        );
        for f in here {
            let _ = write!(
                h,
                "<li class=\"grade-{}\"><b>{}</b>{} {}: <b>{}</b> (p = {}, Holm {}). <span class=\"muted\">{}</span></li>",
                f.grade.label().replace(' ', "-"),
                esc(&f.method),
                if f.control { " (control)" } else { "" },
                esc(&f.claim),
                f.grade.label(),
                f.p.map_or("undefined".into(), |q| format!("{q:.2e}")),
                f.p_adjusted.map_or("—".into(), |q| format!("{q:.2e}")),
                esc(&f.evidence)
            );
        }
        for s in v.sanity.iter().filter(|s| s.phi == p.phi && s.seed == p.seed) {
            let _ = write!(
                h,
                "<li class=\"sanity\"><b>{}</b> leaves the network untouched, so its maps must equal vanilla's (a sanity check, \
                 not a finding): <b>{}</b>. <span class=\"muted\">{}</span></li>",
                esc(&s.method),
                if s.unchanged { "equal" } else { "NOT equal: a bug, please report it" },
                esc(&s.evidence)
            );
        }
        h.push_str("</ul>");
    }
    reliance_table(h, results, &v);
    localisation_table(h, results);
}

/// Ground truth per model and unit, and how well each saliency metric tracks it (RQ1).
fn reliance_table(h: &mut String, results: &ExperimentResults, v: &Verdicts) {
    if !results.phis.iter().flat_map(|p| &p.models).any(|m| m.reliance.is_some()) {
        return;
    }
    h.push_str(
        "<h2 id=\"reliance\">Ground truth: how much each model relies on the attribute</h2><p class=\"muted\">Every test \
         face rendered twice, with and without the attribute, nothing else changed. |Δ logit|: mean change of the network's \
         true-class logit; flips: share of decisions that change; shortcut: P(smiling) with minus without, in the training \
         correlation's direction (positive = follows the shortcut). This is what the saliency metrics try to estimate from \
         maps.</p><table><tr><th>φ</th><th>seed</th><th>model</th><th>|Δ logit|</th><th>flips</th><th>shortcut</th><th>p</th></tr>",
    );
    for p in &results.phis {
        for m in &p.models {
            if let Some(r) = &m.reliance {
                let _ = write!(
                    h,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{:.3}{}</td><td>{:.3}{}</td><td>{:+.3}{}</td><td>{}</td></tr>",
                    p.phi,
                    p.seed,
                    esc(&m.name),
                    r.logit_change.value,
                    ci_text(r.logit_change.ci),
                    r.flip_rate.value,
                    ci_text(r.flip_rate.ci),
                    r.shortcut.value,
                    ci_text(r.shortcut.ci),
                    r.shortcut_p.map_or("—".into(), |q| format!("{q:.1e}"))
                );
            }
        }
    }
    h.push_str("</table>");
    if !v.tracking.is_empty() {
        h.push_str("<p>Do the saliency metrics track it? Spearman's ρ across every model and unit of this run between the metric and |Δ logit| (positive: more relevance in the box goes with more reliance):</p><ul>");
        for t in &v.tracking {
            let _ = write!(
                h,
                "<li>{} {}: ρ = {} over {} models</li>",
                esc(attribution_name(results, &t.key)),
                esc(&t.metric),
                t.rho.map_or("undefined".into(), |r| format!("{r:+.2}")),
                t.n
            );
        }
        h.push_str("</ul>");
    }
}

/// The artifact found from the CAV against the known regions, per unit, with the baselines
/// (docs/METHODS.md#localise); nothing when the config did not ask for it.
fn localisation_table(h: &mut String, results: &ExperimentResults) {
    if !results.phis.iter().any(|p| p.localisation.is_some()) {
        return;
    }
    h.push_str(
 "<h2 id=\"localisation\">Finding the artifact from the CAV</h2><p class=\"muted\">On the explained test images that carry the attribute: the CAV's relevance on the vanilla model (Reveal to Revise's localisation), thresholded into a mask, scored against the truth; beside vanilla's own map of the target class (same method and threshold), the config's fixed ROI and a seeded random box of its size. IoU: mean with a 95 % t-interval; pointing: share of images whose heatmap maximum lies in the truth.</p><table><tr><th>φ</th><th>seed</th><th>CAV of</th><th>images</th> <th>CAV map IoU</th><th>pointing</th><th>class map IoU</th><th>pointing</th><th>fixed ROI IoU</th><th>random box IoU</th><th>truth</th></tr>",
    );
    for p in &results.phis {
        if let Some(l) = &p.localisation {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.3}{}</td><td>{:.2}</td><td>{:.3}{}</td><td>{:.2}</td><td>{:.3}</td><td>{:.3}</td><td>{}</td></tr>",
                p.phi,
                p.seed,
                esc(&l.cav_from),
                l.cav.images,
                l.cav.iou_mean,
                ci_text(l.cav.iou_interval),
                l.cav.pointing_rate,
                l.class_map.iou_mean,
                ci_text(l.class_map.iou_interval),
                l.class_map.pointing_rate,
                l.fixed_roi.iou_mean,
                l.random_box.iou_mean,
                esc(&l.truth)
            );
        }
    }
    h.push_str("</table>");
}

/// Figure 3 per attribution, the trade-off, Figure 2 per φ and attribution.
fn figures(h: &mut String, results: &ExperimentResults) {
    // Figure 3 per attribution, and the trade-off.
    let keys = results.attribution_keys();
    let bars = BarStyle { panel_width: 300, ..BarStyle::default() };
    for (i, key) in keys.iter().enumerate() {
        let name = attribution_name(results, key);
        let _ = write!(h, "<h2>{}metrics per method and φ ({})</h2>", if i == 0 { "Figure 3: " } else { "" }, esc(name));
        chart(h, metric_bars_svg(&results_table(results, key), &bars), &format!("{name} metric"));
    }
    if let Some(first) = keys.first() {
        h.push_str("<h2>EqualizedOdds against accuracy</h2>");
        chart(h, tradeoff_svg(&results_table(results, first), &TradeoffStyle::default()), "trade-off");
    }

    // Figure 2 per φ.
    let grid_style = SaliencyGridStyle { cell_px: 112, ..SaliencyGridStyle::default() };
    if results.phis.iter().flat_map(|p| &p.models).any(|m| m.family == Some(MethodFamily::Threshold)) {
        h.push_str(
            "<p class=\"muted\">Reading the LRP grids: a threshold method's column can differ from vanilla's in sign. \
             Zennit starts LRP of a thresholded model from the thresholded output s<sub>c</sub> (always positive) instead \
             of the logit z<sub>c</sub> (docs/METHODS.md, \"LRP\"), so the map of an image whose true-class logit \
             is negative comes out negated. The metrics use |relevance| and see identical maps.</p>",
        );
    }
    for p in &results.phis {
        for key in &keys {
            if let Some(grid) = saliency_grid(results, p, key) {
                let _ = write!(h, "<h2>Figure 2: mean {} maps per group, φ = {}</h2>", esc(attribution_name(results, key)), p.phi);
                chart(h, saliency_grid_svg(&grid, &grid_style), "saliency grid");
            }
        }
    }

}

/// Every number per φ, attribution and model.
fn tables(h: &mut String, results: &ExperimentResults) {
    let keys = results.attribution_keys();
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
        for info in &results.attributions {
            if p.models.first().and_then(|m| m.attribution(&info.key)).is_none() {
                continue;
            }
            let _ = write!(
                h,
                "<table><tr><th>model ({})</th><th>accuracy</th><th>EqualizedOdds</th><th>demographic parity</th><th>equal opportunity</th>\
                 <th>RRF</th><th>ADR</th><th>DIF</th><th>RDDT</th><th>{} |residual| mean / max</th></tr>",
                esc(&info.name),
                esc(info.sanity.as_deref().unwrap_or("sanity (none for this method)"))
            );
            model_rows(h, p, &info.key);
            h.push_str("</table>");
        }
        if let Some(key) = keys.first() {
            let _ = write!(h, "<p>{} RRF per (attribute, target) group:</p>", esc(attribution_name(results, key)));
            group_rows(h, p, key);
        }
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
        let notes: Vec<String> = p.models.iter().flat_map(|m| m.notes.iter().map(move |n| format!("{}: {n}", m.name))).collect();
        if !notes.is_empty() {
            let _ = write!(h, "<p>Method notes: {}.</p>", esc(&notes.join("; ")));
        }
    }
}

/// Stage timings and the config that re-runs the report.
fn timings_and_config(h: &mut String, results: &ExperimentResults) {
    let c = &results.config;
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
}


