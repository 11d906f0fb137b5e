//! The paper's claims tested (docs/METHODS.md#verdicts) and the ground truth they rest on
//! (docs/METHODS.md#reliance), as the report shows them: per unit (φ, seed) the premise, every
//! claim of every method with its grade, effect, interval, p and Holm-adjusted p, the threshold
//! methods' sanity checks, "holds in k of n seeds" over the seeds, and each model's measured
//! reliance on the attribute with how well the saliency metrics track it (the paper's RQ1,
//! Sztukiewicz et al., XAI 2025). Everything is read from `biaslens_experiment::findings`; the
//! page computes nothing here.

use std::sync::Arc;

use biaslens_experiment::ExperimentResults;
use biaslens_experiment::findings::{ALPHA, Claim, Finding, Grade, Verdicts, claim_key, verdicts};
use biaslens_experiment::report::figures::{attribution_name, ci_text};
use biaslens_experiment::results::PhiResult;
use leptos::prelude::*;

/// The grade's name as the results document writes it (`direction_only`), for `data-grade`.
fn grade_id(g: Grade) -> String {
    serde_json::to_value(g).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_else(|| g.label().replace(' ', "_"))
}

/// The claim's name as the results document writes it (`lowers_roi_relevance`).
fn claim_id(c: Claim) -> String {
    serde_json::to_value(c).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

/// A mark that tells the grades apart without colour, and what the grade means in plain words.
fn grade_words(g: Grade) -> (&'static str, &'static str) {
    match g {
        Grade::Holds => ("✓", "the data support the paper's claim"),
        Grade::DirectionOnly => ("≈", "the paper's direction, but it could be chance"),
        Grade::NoEffect => ("○", "no change in the paper's direction"),
        Grade::Opposite => ("✗", "a clear change the other way"),
        Grade::NotTestable => ("–", "vanilla does not rely on the attribute, so there was nothing to remove"),
    }
}

/// What the effect of a claim is, in the claim's own units.
fn effect_name(kind: Claim) -> &'static str {
    match kind {
        Claim::LowersRoiRelevance => "mean ADR (positive: less relevance in the box)",
        Claim::LowersEqualizedOdds => "EO change against vanilla (negative: fairer)",
    }
}

fn p_text(p: Option<f64>, none: &str) -> String {
    p.map_or_else(|| none.to_owned(), |q| format!("{q:.2e}"))
}

/// `φ = -0.8` or `φ = -0.8, seed 43` when the run has several seeds.
pub fn unit_label(p: &PhiResult, seeded: bool) -> String {
    if seeded { format!("φ = {}, seed {}", p.phi, p.seed) } else { format!("φ = {}", p.phi) }
}

/// Whether `results` hold units of more than one seed.
pub fn several_seeds(results: &ExperimentResults) -> bool {
    let mut seeds: Vec<u64> = results.phis.iter().map(|p| p.seed).collect();
    seeds.sort_unstable();
    seeds.dedup();
    seeds.len() > 1 || results.config.seeds().len() > 1
}

/// "Do the paper's findings hold here?": the summary, the across-seeds table and every unit's
/// premise, claims and sanity checks.
#[component]
pub fn VerdictsPanel(results: Arc<ExperimentResults>) -> impl IntoView {
    let v = verdicts(&results);
    let seeded = several_seeds(&results);
    let key = claim_key(&results).map_or_else(|| "saliency".to_owned(), |k| attribution_name(&results, k).to_owned());
    let counts = Grade::ALL
        .iter()
        .map(|&g| {
            let (mark, words) = grade_words(g);
            view! {
                <p class=format!("grade grade-{}", grade_id(g)) data-grade-key=grade_id(g)>
                    <span class="badge">{format!("{mark} {}", g.label())}</span>{format!(" {words} ({} of the debiasing methods' claims here)", v.count(g))}
                </p>
            }
        })
        .collect_view();
    let open_all = results.phis.len() <= 3;
    let units = results
        .phis
        .iter()
        .zip(&v.premises)
        .enumerate()
        .map(|(i, (p, premise))| {
            let here: Vec<&Finding> = v.findings.iter().filter(|f| f.phi == p.phi && f.seed == p.seed).collect();
            let held = here.iter().filter(|f| f.holds && !f.control).count();
            let counted = here.iter().filter(|f| !f.control).count();
            let testable = premise.roi || premise.eo;
            let premise_class = if premise.roi && premise.eo { "premise ok" } else { "premise warn" };
            let premise_lead = if testable { "✓ Premise: " } else { "⚠ Premise fails: " };
            let claims = here.into_iter().map(claim_item).collect_view();
            let sanity = v
                .sanity
                .iter()
                .filter(|s| s.phi == p.phi && s.seed == p.seed)
                .map(|s| {
                    let (mark, verdict) = if s.unchanged { ("✓", "equal") } else { ("✗", "NOT equal: a bug, please report it") };
                    view! {
                        <li class=if s.unchanged { "sanity ok" } else { "sanity warn" } data-check=if s.unchanged { "equal" } else { "not_equal" }>
                            <span class="badge">{format!("{mark} check")}</span>
                            " " <strong>{s.method.clone()}</strong>
                            {format!(" leaves the network untouched, so its maps must equal vanilla's (a sanity check, not a finding): {verdict}. ")}
                            <span class="small">{s.evidence.clone()}</span>
                        </li>
                    }
                })
                .collect_view();
            view! {
                <details class="unit" open=open_all || i == 0 data-phi=p.phi.to_string() data-seed=p.seed.to_string()>
                    <summary><strong>{unit_label(p, seeded)}</strong>{format!(": {held} of {counted} claims hold")}</summary>
                    <p class=premise_class>{premise_lead}{format!("{}.", premise.reason)}</p>
                    {premise.attention.as_ref().map(|a| view! { <p class="small attention" data-mrr-with=a.mrr_with.map(|m| m.to_string())>{format!("{}.", a.text())}</p> })}
                    <ul class="verdicts">{claims}{sanity}</ul>
                </details>
            }
        })
        .collect_view();
    view! {
        <h3 id="verdicts-title">"Do the paper's findings hold here?"</h3>
        <p class="explain">{format!(
            "Each claim is a statistical test. \"Moves relevance out of the ROI\": is the drop of relevance in the box (ADR, on the {key} maps) real? \"Lowers EqualizedOdds\": is the method fairer than vanilla on the same test images? p-values are corrected for testing many claims at once (Holm, {:.0} % overall error). Controls (plain fine-tuning) are tested the same way but not counted: a method's effect is what it adds over its control.",
            100.0 * ALPHA
        )}</p>
        <div class="grade-key" role="group" aria-label="What the grades mean">{counts}</div>
        <div id="findings">
            <p id="verdict-summary" class="headline"><strong>"In short: "</strong>{format!("{}.", v.summary())}</p>
            {(results.config.seeds().len() > 1).then(|| view! { <AcrossSeedsTable verdicts=v.clone()/> })}
            {units}
        </div>
        <Reliance results=results.clone() verdicts=v seeded=seeded/>
    }
}

/// One graded claim as a list item.
fn claim_item(f: &Finding) -> impl IntoView + use<> {
    let (mark, words) = grade_words(f.grade);
    view! {
        <li class=format!("grade grade-{}", grade_id(f.grade)) data-grade=grade_id(f.grade) data-method=f.method.clone() data-claim=claim_id(f.kind)>
            <span class="badge" title=words>{format!("{mark} {}", f.grade.label())}</span>
            " " <strong>{f.method.clone()}</strong>{if f.control { " (control)" } else { "" }}
            {format!(" {}: {} {:+.4}{}; p = {}, Holm-adjusted p = {}. ", f.claim, effect_name(f.kind), f.effect, ci_text(f.ci), p_text(f.p, "undefined"), p_text(f.p_adjusted, "—"))}
            <span class="small">{f.evidence.clone()}</span>
        </li>
    }
}

/// "holds in k of n seeds" per (φ, method, claim).
#[component]
fn AcrossSeedsTable(verdicts: Verdicts) -> impl IntoView {
    let rows = verdicts
        .across_seeds
        .iter()
        .map(|a| {
            view! {
                <tr data-method=a.method.clone() data-holds=a.holds data-seeds=a.seeds>
                    <td>{a.phi.to_string()}</td>
                    <th scope="row">{a.method.clone()}{if a.control { " (control)" } else { "" }}</th>
                    <td>{a.kind.text()}</td>
                    <td class="num">{format!("{} of {} seeds ({} testable)", a.holds, a.seeds, a.testable)}</td>
                    <td class="num">{a.mean_effect.map_or_else(|| "—".to_owned(), |e| format!("{e:+.4}"))}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <table class="metrics" id="across-seeds">
            <caption>"Over the seeds: in how many seeds each claim holds. A claim that holds in one seed only may be luck; one that holds in every seed is robust to how the data were split and the network started."</caption>
            <thead><tr><th scope="col">"φ"</th><th scope="col">"method"</th><th scope="col">"claim"</th><th scope="col">"holds in"</th><th scope="col" title="mean ADR for the ROI claim, EO change for the EqualizedOdds claim, over the testable seeds">"mean effect"</th></tr></thead>
            <tbody>{rows}</tbody>
        </table>
    }
}

/// Ground truth per model and unit (counterfactual faces) and how well each saliency metric tracks
/// it; nothing when no model has it (own images).
#[component]
fn Reliance(results: Arc<ExperimentResults>, verdicts: Verdicts, seeded: bool) -> impl IntoView {
    if !results.phis.iter().flat_map(|p| &p.models).any(|m| m.reliance.is_some()) {
        return ().into_any();
    }
    let open_all = results.phis.len() <= 3;
    let tables = results
        .phis
        .iter()
        .enumerate()
        .filter(|(_, p)| p.models.iter().any(|m| m.reliance.is_some()))
        .map(|(i, p)| {
            let rows = p
                .models
                .iter()
                .filter_map(|m| m.reliance.as_ref().map(|r| (m, r)))
                .map(|(m, r)| {
                    view! {
                        <tr data-model=m.name.clone()>
                            <th scope="row">{m.name.clone()}</th>
                            <td class="num" data-metric="logit-change" data-value=format!("{:e}", r.logit_change.value)>{format!("{:.3}{}", r.logit_change.value, ci_text(r.logit_change.ci))}</td>
                            <td class="num" data-metric="flips" data-value=format!("{:e}", r.flip_rate.value)>{format!("{:.3}{}", r.flip_rate.value, ci_text(r.flip_rate.ci))}</td>
                            <td class="num" data-metric="shortcut" data-value=format!("{:e}", r.shortcut.value)>{format!("{:+.3}{}", r.shortcut.value, ci_text(r.shortcut.ci))}</td>
                            <td class="num">{p_text(r.shortcut_p, "—")}</td>
                        </tr>
                    }
                })
                .collect_view();
            let n = p.models.iter().find_map(|m| m.reliance.as_ref().map(|r| r.n)).unwrap_or(0);
            view! {
                <details class="unit" open=open_all || i == 0 data-phi=p.phi.to_string() data-seed=p.seed.to_string()>
                    <summary><strong>{unit_label(p, seeded)}</strong>{format!(": {n} test faces, each rendered with and without the attribute")}</summary>
                    <table class="metrics reliance">
                        <thead><tr>
                            <th scope="col">"model"</th>
                            <th scope="col" title="mean change of the true-class logit when the attribute is painted in or out">"|Δ logit|"</th>
                            <th scope="col" title="share of decisions that change">"flips"</th>
                            <th scope="col" title="P(smiling) with minus without the attribute, in the training correlation's direction; positive = follows the shortcut">"shortcut effect"</th>
                            <th scope="col" title="one-sided t-test of shortcut effect > 0">"p (shortcut > 0)"</th>
                        </tr></thead>
                        <tbody>{rows}</tbody>
                    </table>
                </details>
            }
        })
        .collect_view();
    let tracking = (!verdicts.tracking.is_empty()).then(|| {
        let items = verdicts
            .tracking
            .iter()
            .map(|t| {
                let rho = t.rho.map_or_else(|| "undefined".to_owned(), |r| format!("{r:+.2}"));
                view! {
                    <li data-key=t.key.clone() data-metric=t.metric.clone()>
                        {format!("{} {}: ρ = {rho} over {} models", attribution_name(&results, &t.key), t.metric, t.n)}
                    </li>
                }
            })
            .collect_view();
        view! {
            <p>"Do the saliency metrics track it? Spearman's ρ, across every model and unit of this run, between the metric and |Δ logit|: +1 means the metric ranks the models exactly as their real reliance does, 0 not at all, negative the wrong way round."</p>
            <ul id="tracking">{items}</ul>
        }
    });
    view! {
        <section id="reliance" aria-labelledby="reliance-title">
            <h3 id="reliance-title">"Ground truth: how much each model relies on the attribute"</h3>
            <p class="explain">"Every test face is drawn twice, with and without the attribute, nothing else changed. |Δ logit|: how much the model's evidence for the right answer moves; flips: the share of answers that change; shortcut effect: how much more often it says \"smiling\" when the attribute is there, in the direction the training data taught (positive = it follows the shortcut). This is what the saliency metrics try to estimate from maps."</p>
            {tables}
            {tracking}
        </section>
    }
    .into_any()
}
