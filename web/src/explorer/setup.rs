//! Setting up a run: data (synthetic benchmark, preview, split counts), model (train or load
//! weights), debiasing methods, attribution settings, the whole config as JSON; and the run
//! itself (Run, Run 3 seeds, progress, the live loss curve drawn by `biaslens-viz`, cancel).

use std::sync::Arc;

use biaslens_attribution::{Composite, IgConfig, LrpConfig};
use biaslens_data::ProtectedKind;
use biaslens_experiment::attributions::AttributionRegistry;
use biaslens_experiment::{
    AttributionSpec, ExperimentConfig, MethodSpec, PretrainedStart, Registries, check_pretrained_weights, check_vanilla_weights, phi_splits,
};
use biaslens_model::{FineTune, Tap};
use biaslens_viz::{LossSeries, LossStyle, loss_curve_svg};
use leptos::prelude::*;
use serde_json::Value;
use wasm_bindgen::JsCast;

use super::{Panel, Phase, Ui, cancel_run, start_run, ui};
use crate::widgets::{RgbaCanvas, Svg};

fn input_value(ev: &leptos::ev::Event) -> String {
    event_target_value(ev)
}

fn checked(ev: &leptos::ev::Event) -> bool {
    ev.target()
        .and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok())
        .is_some_and(|i| i.checked())
}

/// Parses a positive whole number from a field, or says what is wrong.
fn parse_count(field: &str, text: &str, min: usize, max: usize) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(v) if (min..=max).contains(&v) => Ok(v),
        Ok(v) => Err(format!("{field}: {v} is outside {min}–{max}.")),
        Err(_) => Err(format!("{field}: \"{}\" is not a whole number.", text.trim())),
    }
}

/// The φ list: numbers in (−1, 1), separated by commas or spaces.
pub fn parse_phis(text: &str) -> Result<Vec<f64>, String> {
    let parts: Vec<&str> = text.split([',', ' ', ';']).map(str::trim).filter(|s| !s.is_empty()).collect();
    if parts.is_empty() {
        return Err("φ values: give at least one, e.g. \"-0.2, -0.5, -0.8\".".into());
    }
    parts
        .iter()
        .map(|p| {
            let v: f64 = p.replace('−', "-").parse().map_err(|_| format!("φ values: \"{p}\" is not a number."))?;
            if v.is_finite() && v > -1.0 && v < 1.0 {
                Ok(v)
            } else {
                Err(format!("φ values: {v} is outside (−1, 1)."))
            }
        })
        .collect()
}

/// The most seeds one run takes (the library refuses more: `ExperimentConfig::validate`).
const MAX_SEEDS: usize = 32;

/// The seed list: whole numbers ≥ 0 separated by commas or spaces, each once. One seed is a
/// single run; several run the whole experiment once per seed (docs/METHODS.md#training, "Seeds").
pub fn parse_seeds(text: &str) -> Result<Vec<u64>, String> {
    let parts: Vec<&str> = text.split([',', ' ', ';']).map(str::trim).filter(|s| !s.is_empty()).collect();
    if parts.is_empty() {
        return Err("seeds: give at least one, e.g. \"42\", or several separated by commas, e.g. \"42, 43, 44\".".into());
    }
    let mut seeds: Vec<u64> = Vec::with_capacity(parts.len());
    for p in parts {
        let seed: u64 = p.parse().map_err(|_| {
            format!("seeds: \"{p}\" is not a whole number ≥ 0. Give one seed, or several separated by commas, e.g. \"42, 43, 44\".")
        })?;
        if seeds.contains(&seed) {
            return Err(format!("seeds: {seed} is listed twice; each seed runs once, so remove the repeat."));
        }
        seeds.push(seed);
    }
    if seeds.len() > MAX_SEEDS {
        return Err(format!("seeds: {} seeds given; at most {MAX_SEEDS} run in one go (each seed repeats the whole experiment).", seeds.len()));
    }
    Ok(seeds)
}

/// The seeds of a config as the seeds field shows them (`42, 43, 44`).
fn seeds_text(c: &ExperimentConfig) -> String {
    c.seeds().iter().map(u64::to_string).collect::<Vec<_>>().join(", ")
}

/// A config field edit: applies `f` to a copy, keeps it only if it validates, else shows why.
fn edit(ui: Ui, f: impl FnOnce(&mut ExperimentConfig) -> Result<(), String>) {
    let mut c = ui.config.get_untracked();
    match f(&mut c).and_then(|()| c.validate().map_err(|e| e.to_string())) {
        Ok(()) => ui.config.set(c),
        Err(e) => {
            ui.error(format!("Setting not applied: {e}"));
            // Re-render the fields from the unchanged config.
            ui.config.update(|_| {});
        }
    }
}

/// The method of `tag` as the demo configures it (batch sizes scaled to its small splits), else
/// the registry's defaults (the authors').
fn method_default(tag: &str) -> Option<MethodSpec> {
    ExperimentConfig::demo()
        .methods
        .into_iter()
        .find(|m| m.method == tag)
        .or_else(|| MethodSpec::default_for(tag, Registries::builtin()))
}

/// The attribution of `id` as the demo configures it, else the registry's defaults.
fn attribution_default(id: &str) -> Option<AttributionSpec> {
    ExperimentConfig::demo().attribution.get(id).cloned().or_else(|| {
        AttributionRegistry::builtin().get(id).map(|a| AttributionSpec { method: id.into(), key: None, config: a.default_config() })
    })
}

/// The full settings (missing fields filled with the method's defaults) of the attribution
/// stored under `key`; `None` if the config does not run it.
fn attribution_settings(c: &ExperimentConfig, key: &str) -> Option<Value> {
    let spec = c.attribution.get(key)?;
    AttributionRegistry::builtin().get(&spec.method)?.normalise(spec.config.clone()).ok()
}

/// The LRP settings the LRP controls edit (the `lrp` entry of `attribution.methods`).
fn lrp_settings(c: &ExperimentConfig) -> Option<LrpConfig> {
    serde_json::from_value(attribution_settings(c, "lrp")?).ok()
}

/// The IG settings the IG controls edit (the `ig` entry of `attribution.methods`).
fn ig_settings(c: &ExperimentConfig) -> Option<IgConfig> {
    serde_json::from_value(attribution_settings(c, "ig")?).ok()
}

/// Stores edited settings of the attribution under `key`.
fn set_attribution_settings(c: &mut ExperimentConfig, key: &str, what: &str, value: serde_json::Result<Value>) -> Result<(), String> {
    let value = value.map_err(|e| format!("{what}: {e}"))?;
    let spec = c.attribution.get_mut(key).ok_or_else(|| format!("{what}: turn {} on first.", attribution_label(key)))?;
    spec.config = value;
    Ok(())
}

/// Edits the `lrp` entry's settings, or says why it cannot.
fn edit_lrp(c: &mut ExperimentConfig, what: &str, f: impl FnOnce(&mut LrpConfig)) -> Result<(), String> {
    let mut lrp = lrp_settings(c).ok_or_else(|| format!("{what}: turn LRP on first."))?;
    f(&mut lrp);
    set_attribution_settings(c, "lrp", what, serde_json::to_value(lrp))
}

/// Edits the `ig` entry's settings, or says why it cannot.
fn edit_ig(c: &mut ExperimentConfig, what: &str, f: impl FnOnce(&mut IgConfig)) -> Result<(), String> {
    let mut ig = ig_settings(c).ok_or_else(|| format!("{what}: turn Integrated Gradients on first."))?;
    f(&mut ig);
    set_attribution_settings(c, "ig", what, serde_json::to_value(ig))
}

/// The registry's short name of an attribution id (`"LRP"`), or the id.
fn attribution_label(id: &str) -> &str {
    AttributionRegistry::builtin().get(id).map_or(id, |a| a.name())
}

/// The element id of an attribution's checkbox (`ig-on`, `grad-x-input-on`).
fn attribution_checkbox_id(id: &str) -> String {
    format!("{}-on", id.replace(|c: char| !c.is_ascii_alphanumeric(), "-"))
}

fn composite_id(c: &Composite) -> &'static str {
    match c {
        Composite::EpsilonPlus => "epsilon_plus",
        Composite::EpsilonPlusFlat => "epsilon_plus_flat",
        Composite::EpsilonGammaBox { .. } => "epsilon_gamma_box",
        Composite::EpsilonAlpha2Beta1 => "epsilon_alpha2_beta1",
        Composite::Custom(_) => "custom",
    }
}

/// Settings of the whole experiment.
#[component]
pub fn Setup() -> impl IntoView {
    let ui = ui();
    let c = move || ui.config.get();
    let disabled = move || ui.running();
    let num = move |field: &'static str, get: fn(&ExperimentConfig) -> String, set: fn(&mut ExperimentConfig, &str) -> Result<(), String>| {
        view! {
            <label class="field">
                <span>{field}</span>
                <input type="text" inputmode="decimal" prop:value=move || get(&c()) disabled=disabled
                    on:change=move |ev| { let v = input_value(&ev); edit(ui, |cfg| set(cfg, &v)) }/>
            </label>
        }
    };
    view! {
        <section class="panel" id="setup" aria-labelledby="setup-title" hidden=move || !ui.shown(Panel::Setup)>
            <h2 id="setup-title">"1 · Set up"</h2>
            <div class="columns">
                <fieldset>
                    <legend>"Data: the synthetic benchmark"</legend>
                    <label class="field"><span>"protected attribute"</span>
                        <select disabled=disabled on:change=move |ev| {
                            let v = input_value(&ev);
                            edit(ui, |cfg| { cfg.data.synthetic.attribute = if v == "hat" { ProtectedKind::Hat } else { ProtectedKind::Necktie }; Ok(()) })
                        }>
                            <option value="necktie" selected=move || c().data.synthetic.attribute == ProtectedKind::Necktie>"necktie (under the chin)"</option>
                            <option value="hat" selected=move || c().data.synthetic.attribute == ProtectedKind::Hat>"hat (on the head)"</option>
                        </select>
                    </label>
                    {num("training correlation φ values", |c| c.phis.iter().map(|p| format!("{p}")).collect::<Vec<_>>().join(", "), |c, v| { c.phis = parse_phis(v)?; Ok(()) })}
                    {num("image side (px)", |c| c.data.synthetic.size.to_string(), |c, v| { c.data.synthetic.size = parse_count("image side", v, 32, 224)? as u32; Ok(()) })}
                    {num("training images", |c| c.splits.train.to_string(), |c, v| { c.splits.train = parse_count("training images", v, 16, 200_000)?; Ok(()) })}
                    {num("debias images", |c| c.splits.debias.to_string(), |c, v| { c.splits.debias = parse_count("debias images", v, 16, 100_000)?; Ok(()) })}
                    {num("test images", |c| c.splits.test.to_string(), |c, v| { c.splits.test = parse_count("test images", v, 16, 100_000)?; Ok(()) })}
                    <OwnDataPicker/>
                    {num("seed of the images", |c| c.data.synthetic.seed.to_string(), |c, v| { c.data.synthetic.seed = v.trim().parse().map_err(|_| format!("seed of the images: \"{}\" is not a whole number ≥ 0.", v.trim()))?; Ok(()) })}
                    <label class="field">
                        <span>"seeds of the run (splits, initial weights, training order): one, or several separated by commas to repeat the whole experiment per seed"</span>
                        <input type="text" id="seeds" inputmode="numeric" disabled=disabled
                            prop:value=move || seeds_text(&c())
                            on:change=move |ev| { let v = input_value(&ev); edit(ui, |cfg| { cfg.set_seeds(&parse_seeds(&v)?); Ok(()) }) }/>
                    </label>
                </fieldset>
                <fieldset>
                    <legend>"Model: a ResNet trained here"</legend>
                    {num("width (channels of the first stage)", |c| c.model.width.to_string(), |c, v| { c.model.width = parse_count("width", v, 4, 64)?; Ok(()) })}
                    {num("epochs", |c| c.train.epochs.to_string(), |c, v| { c.train.epochs = parse_count("epochs", v, 1, 50)?; Ok(()) })}
                    {num("learning rate", |c| format!("{}", c.train.learning_rate), |c, v| {
                        let lr: f64 = v.trim().parse().map_err(|_| format!("learning rate: \"{}\" is not a number.", v.trim()))?;
                        if !(lr > 0.0 && lr < 1.0) { return Err(format!("learning rate: {lr} is outside (0, 1).")); }
                        c.train.learning_rate = lr; Ok(())
                    })}
                    <WeightsPicker/>
                </fieldset>
                <fieldset>
                    <legend>"Debiasing methods"</legend>
                    <MethodChecks/>
                    <LocaliseCheck/>
                </fieldset>
                <fieldset>
                    <legend>"Explanations"</legend>
                    <AttributionChecks/>
                    {num("explained test images", |c| c.attribution.images.to_string(), |c, v| { c.attribution.images = parse_count("explained images", v, 4, 10_000)?; Ok(()) })}
                </fieldset>
            </div>
            <Presets/>
            <ConfigJson/>
            <DataPreview/>
        </section>
    }
}

/// One checkbox per registered debiasing method, in the registry's order (a newly registered
/// method appears here without a change to the page). Ticking adds the method with the demo's
/// settings if the demo runs it, else the registry's defaults; the config keeps the registry's
/// order.
#[component]
fn MethodChecks() -> impl IntoView {
    let ui = ui();
    let registry = &Registries::builtin().methods;
    registry
        .iter()
        .map(|m| {
            let (tag, name, what) = (m.tag(), m.name(), m.description());
            view! {
                <label class="check" title=what>
                    <input type="checkbox" data-method=tag disabled=move || ui.running()
                        prop:checked=move || ui.config.with(|c| c.methods.iter().any(|m| m.method == tag))
                        on:change=move |ev| {
                            let on = checked(&ev);
                            edit(ui, |cfg| {
                                cfg.methods.retain(|m| m.method != tag);
                                if on {
                                    let m = method_default(tag).ok_or_else(|| format!("the method {tag} is not registered"))?;
                                    let at = cfg.methods.iter().position(|x| registry.rank(&x.method) > registry.rank(tag)).unwrap_or(cfg.methods.len());
                                    cfg.methods.insert(at, m);
                                }
                                Ok(())
                            })
                        }/>
                    <span>{name}</span><small>{what}</small>
                </label>
            }
        })
        .collect_view()
}

/// Config `localise`: find the artifact from the CAV a ClArC method fits, score it against the
/// known regions and offer it in the inspector (docs/METHODS.md#localise).
#[component]
fn LocaliseCheck() -> impl IntoView {
    let ui = ui();
    view! {
        <label class="check" title="Reveal to Revise's localisation: the CAV's relevance on the vanilla model, thresholded into a mask per image">
            <input type="checkbox" id="localise-on" disabled=move || ui.running()
                prop:checked=move || ui.config.with(|c| c.localise.is_some())
                on:change=move |ev| {
                    let on = checked(&ev);
                    edit(ui, |cfg| {
                        cfg.localise = on.then(biaslens_experiment::localise::LocaliseConfig::default);
                        Ok(())
                    })
                }/>
            <span>"Find the artifact from the CAV"</span>
            <small>{move || if ui.config.with(|c| c.methods.iter().any(|m| m.method == "a_clarc" || m.method == "p_clarc")) {
                "the first ClArC method's CAV, thresholded into a mask per image; scored against the known regions and offered in the inspector"
            } else {
                "needs A-ClArC or P-ClArC (their CAV); without one nothing is localised"
            }}</small>
        </label>
    }
}

/// One checkbox per registered attribution method, in the registry's order, each keyed by its
/// id in `attribution.methods`; LRP's composite and canonizer and IG's steps below their boxes.
#[component]
fn AttributionChecks() -> impl IntoView {
    let ui = ui();
    let registry = AttributionRegistry::builtin();
    let rank = |id: &str| registry.iter().position(|a| a.id() == id).unwrap_or(usize::MAX);
    registry
        .iter()
        .map(|a| {
            let (id, name, what) = (a.id(), a.name(), a.description());
            let extra = match id {
                "lrp" => Some(view! { <LrpControls/> }.into_any()),
                "ig" => Some(view! { <IgControls/> }.into_any()),
                _ => None,
            };
            view! {
                <label class="check" title=what>
                    <input type="checkbox" id=attribution_checkbox_id(id) data-attribution=id disabled=move || ui.running()
                        prop:checked=move || ui.config.with(|c| c.attribution.get(id).is_some())
                        on:change=move |ev| {
                            let on = checked(&ev);
                            edit(ui, |cfg| {
                                let list = &mut cfg.attribution.methods;
                                list.retain(|x| x.key() != id);
                                if on {
                                    let spec = attribution_default(id).ok_or_else(|| format!("the attribution method {id} is not registered"))?;
                                    let at = list.iter().position(|x| x.key.is_none() && rank(&x.method) > rank(id)).unwrap_or(list.len());
                                    list.insert(at, spec);
                                }
                                Ok(())
                            })
                        }/>
                    <span>{name}</span><small>{what}</small>
                </label>
                {extra}
            }
        })
        .collect_view()
}

fn composite_of(id: &str) -> Composite {
    match id {
        "epsilon_plus_flat" => Composite::EpsilonPlusFlat,
        "epsilon_gamma_box" => Composite::EpsilonGammaBox { low: 0.0, high: 1.0, gamma: 0.25 },
        "epsilon_alpha2_beta1" => Composite::EpsilonAlpha2Beta1,
        _ => Composite::EpsilonPlus,
    }
}

/// LRP's composite and canonizer (the `lrp` entry's settings); disabled while LRP is off.
#[component]
fn LrpControls() -> impl IntoView {
    let ui = ui();
    let lrp = Memo::new(move |_| ui.config.with(lrp_settings));
    let off = move || ui.running() || lrp.with(Option::is_none);
    view! {
        <div class="sub">
            <label class="field"><span>"LRP composite (Zennit)"</span>
                <select id="lrp-composite" disabled=off on:change=move |ev| {
                    let v = input_value(&ev);
                    edit(ui, |cfg| edit_lrp(cfg, "LRP composite", |l| l.composite = composite_of(&v)))
                }>
                    {[("epsilon_plus", "EpsilonPlus (the paper's)"), ("epsilon_plus_flat", "EpsilonPlusFlat"), ("epsilon_gamma_box", "EpsilonGammaBox"), ("epsilon_alpha2_beta1", "EpsilonAlpha2Beta1")]
                        .into_iter()
                        .map(|(id, label)| view! { <option value=id selected=move || lrp.with(|l| l.as_ref().is_some_and(|l| composite_id(&l.composite) == id))>{label}</option> })
                        .collect_view()}
                </select>
            </label>
            <label class="check">
                <input type="checkbox" id="lrp-canonize" disabled=off prop:checked=move || lrp.with(|l| l.as_ref().is_some_and(|l| l.canonize))
                    on:change=move |ev| { let on = checked(&ev); edit(ui, |cfg| edit_lrp(cfg, "ResNet canonizer", |l| l.canonize = on)) }/>
                <span>"ResNet canonizer"</span><small>"merge BatchNorm, split relevance at residual sums (the paper ran without)"</small>
            </label>
        </div>
    }
}

/// IG's number of steps (the `ig` entry's settings); disabled while IG is off.
#[component]
fn IgControls() -> impl IntoView {
    let ui = ui();
    let ig = Memo::new(move |_| ui.config.with(ig_settings));
    view! {
        <div class="sub">
            <label class="field">
                <span>"IG steps"</span>
                <input type="text" inputmode="decimal" id="ig-steps" disabled=move || ui.running() || ig.with(Option::is_none)
                    prop:value=move || ig.with(|ig| ig.as_ref().map_or_else(|| "—".into(), |ig| ig.steps.to_string()))
                    on:change=move |ev| {
                        let v = input_value(&ev);
                        edit(ui, |cfg| {
                            let steps = parse_count("IG steps", &v, 2, 512)?;
                            edit_ig(cfg, "IG steps", |ig| ig.steps = steps)
                        })
                    }/>
            </label>
        </div>
    }
}

/// A model file instead of the seeded initialisation: a finished 2-class model is used as the
/// vanilla model as is; any other torchvision classifier (an ImageNet file: 1000 classes) is the
/// pretrained start (docs/METHODS.md#pretrained-start): the network takes the file's layout, the
/// head is replaced by 2 outputs and the training settings above fine-tune it.
#[component]
fn WeightsPicker() -> impl IntoView {
    let ui = ui();
    let on_file = move |ev: leptos::ev::Event| {
        let Some(file) = super::share::chosen_files(&ev).into_iter().next() else { return };
        let name = file.name();
        leptos::task::spawn_local(async move {
            let bytes = match super::share::read_bytes(&file, super::share::MAX_WEIGHTS_BYTES).await {
                Ok(b) => b,
                Err(e) => return ui.error(format!("{name}: {e}")),
            };
            let device = burn::prelude::Device::flex();
            let mut config = ui.config.get_untracked();
            // A 2-output file is a finished vanilla model of the architecture set above (checked
            // against it, so a wrong file names the first key that does not fit); any other class
            // count is a pretrained start whose layout the file itself gives.
            if biaslens_model::torchvision_num_classes(&bytes).is_ok_and(|c| c == 2) {
                match check_vanilla_weights(&config, &bytes, &device) {
                    Ok(()) => {
                        config.model.pretrained = None;
                        ui.config.set(config);
                        ui.pretrained.set(None);
                        ui.weights.set(Some((name.clone(), Arc::from(bytes))));
                        ui.info(format!("{name} loaded: the next run uses it as the vanilla model at every φ instead of training one."));
                    }
                    Err(e) => ui.error(format!("{name} was not loaded: {e}. A 2-output file is used as the vanilla model and needs the architecture set above; or train in the page.")),
                }
                return;
            }
            let layout = match biaslens_model::torchvision_architecture(&bytes) {
                Ok(l) => l,
                Err(e) => return ui.error(format!("{name} was not loaded: {e}. Choose a torchvision ResNet state dict saved as .safetensors.")),
            };
            config.model.block = layout.block;
            config.model.layers = layout.layers;
            config.model.width = layout.width;
            config.model.pretrained = Some(PretrainedStart::of(name.clone(), &bytes));
            match check_pretrained_weights(&config, &bytes, &device).map_err(|e| e.to_string()).and_then(|()| config.validate().map_err(|e| e.to_string())) {
                Ok(()) => {
                    ui.config.set(config);
                    ui.weights.set(None);
                    ui.pretrained.set(Some((name.clone(), Arc::from(bytes))));
                    ui.info(format!(
                        "{name} loaded as the starting point ({} classes, {:?} blocks {:?}, width {}): each run replaces its head by 2 outputs and fine-tunes it with the training settings above.",
                        layout.num_classes, layout.block, layout.layers, layout.width
                    ));
                }
                Err(e) => ui.error(format!("{name} was not loaded: {e}")),
            }
        });
    };
    let from_scratch = move |_| {
        ui.pretrained.set(None);
        let mut c = ui.config.get_untracked();
        c.model.pretrained = None;
        ui.config.set(c);
    };
    let freeze_value = |f: FineTune| match f {
        FineTune::All => "all",
        FineTune::After(Tap::Stem) => "stem",
        FineTune::After(Tap::Layer1) => "layer1",
        FineTune::After(Tap::Layer2) => "layer2",
        FineTune::After(Tap::Layer3) => "layer3",
        FineTune::After(Tap::Layer4 | Tap::Pooled) => "head",
    };
    let on_freeze = move |ev: leptos::ev::Event| {
        let v = input_value(&ev);
        edit(ui, |c| {
            c.train.fine_tune = match v.as_str() {
                "stem" => FineTune::After(Tap::Stem),
                "layer1" => FineTune::After(Tap::Layer1),
                "layer2" => FineTune::After(Tap::Layer2),
                "layer3" => FineTune::After(Tap::Layer3),
                "head" => FineTune::After(Tap::Layer4),
                _ => FineTune::All,
            };
            Ok(())
        });
    };
    let named = move || ui.config.get().model.pretrained.map(|p| p.file);
    view! {
        <div class="field">
            <span>"or start from a model file: a trained 2-class model is used as is; an ImageNet torchvision file (e.g. resnet50, 1000 classes) gets a 2-class head and is fine-tuned"</span>
            <input type="file" id="weights-file" accept=".safetensors" on:change=on_file disabled=move || ui.running()/>
            {move || ui.weights.get().map(|(name, _)| view! {
                <span class="loaded">{format!("using {name} ")}<button on:click=move |_| ui.weights.set(None)>"train instead"</button></span>
            })}
            {move || named().map(|file| {
                let chosen = ui.pretrained.get().is_some_and(|(n, _)| n == file);
                view! {
                    <span class="loaded" id="pretrained-status">{if chosen {
                        format!("fine-tuning from {file} ")
                    } else {
                        format!("this config starts from {file}: choose that file above ")
                    }}<button id="pretrained-clear" on:click=from_scratch>"train from scratch instead"</button></span>
                    <label class="field"><span>"layers kept frozen while fine-tuning"</span>
                        <select id="pretrained-freeze" disabled=move || ui.running() on:change=on_freeze>
                            {[("all", "none: fine-tune every layer"), ("stem", "the stem"), ("layer1", "stem and layer1"), ("layer2", "stem to layer2"), ("layer3", "stem to layer3"), ("head", "everything but the new head")]
                                .into_iter()
                                .map(|(v, label)| view! { <option value=v selected=move || freeze_value(ui.config.get().train.fine_tune) == v>{label}</option> })
                                .collect_view()}
                        </select>
                    </label>
                }
            })}
        </div>
    }
}

/// Up to this many listed images, choosing labels and files decodes every one at once (a bad
/// file is named before Run); above it (all of CelebA), only the images a run's splits pick are
/// decoded, checked when the run starts.
const CHECK_ALL_UP_TO: usize = 5_000;

/// Own data instead of the synthetic pool: a CSV (`image,target,attribute`) or CelebA's
/// `list_attr_celeba.txt` (Smiling against the chosen attribute), the image files (kept as the
/// browser's `File` handles and read only when a batch needs them, so any number works), and
/// optionally CelebA's official partition.
#[component]
fn OwnDataPicker() -> impl IntoView {
    let ui = ui();
    let on_labels = move |ev: leptos::ev::Event| {
        let Some(file) = super::share::chosen_files(&ev).into_iter().next() else { return };
        let name = file.name();
        leptos::task::spawn_local(async move {
            let bytes = match super::share::read_bytes(&file, 512.0 * 1024.0 * 1024.0).await {
                Ok(b) => b,
                Err(e) => return ui.error(format!("{name}: {e}")),
            };
            let attribute = ui.config.get_untracked().data.synthetic.attribute.celeba_name();
            // CelebA's attribute list (its .txt, or Kaggle's list_attr_celeba.csv), else an own CSV.
            let lower = name.to_ascii_lowercase();
            let parsed = if lower.ends_with(".txt") || lower.contains("list_attr") {
                biaslens_data::celeba::AttributeTable::parse(&bytes, &name).and_then(|t| t.labelled("Smiling", attribute))
            } else {
                biaslens_data::own::parse_own_csv(&bytes, &name, &biaslens_data::own::OwnColumns::default())
            };
            match parsed {
                Ok(l) => {
                    ui.info(format!("{name}: {} labelled images. The run draws its splits from them once their image files are chosen too.", l.len()));
                    ui.unplanted.set(None);
                    ui.planted.set(None);
                    ui.planted_export.set(None);
                    if ui.own_partition.get_untracked().is_some() {
                        ui.own_partition.set(None);
                        ui.info("The official partition belonged to the previous labels and was set aside; choose it again for these.");
                    }
                    ui.own_labels.set(Some(Arc::new(l)));
                    check_own(ui);
                }
                Err(e) => ui.error(format!("{name} was not used: {e}. A CSV needs the columns image, target and attribute (0/1); CelebA's list_attr_celeba.txt needs Smiling and {attribute}.")),
            }
        });
    };
    let on_images = move |ev: leptos::ev::Event| {
        let files = super::share::chosen_files(&ev);
        if files.is_empty() {
            return;
        }
        // Only the handles are kept: nothing is read until a run's batch needs it.
        let picked = super::PickedFiles::new(files);
        ui.info(format!("{} image files chosen ({:.0} MB; read only as the run needs them).", picked.len(), picked.megabytes()));
        ui.unplanted.set(None);
        ui.planted.set(None);
        ui.planted_export.set(None);
        ui.own_files.set(Some(Arc::new(picked)));
        check_own(ui);
    };
    let on_partition = move |ev: leptos::ev::Event| {
        let Some(file) = super::share::chosen_files(&ev).into_iter().next() else { return };
        let name = file.name();
        let Some(labels) = ui.own_labels.get_untracked() else {
            return ui.error(format!("{name} was not used: choose the labels (list_attr_celeba) first, then their partition."));
        };
        leptos::task::spawn_local(async move {
            let bytes = match super::share::read_bytes(&file, 64.0 * 1024.0 * 1024.0).await {
                Ok(b) => b,
                Err(e) => return ui.error(format!("{name}: {e}")),
            };
            match biaslens_experiment::PoolPartition::parse(&bytes, &name, &labels) {
                Ok(p) => {
                    let count = |v: u8| p.values.iter().filter(|&&x| x == v).count();
                    ui.info(format!("{name}: {} train, {} validation (the debias split), {} test images; the splits are drawn from these.", count(0), count(1), count(2)));
                    ui.own_partition.set(Some(Arc::new(p)));
                }
                Err(e) => ui.error(format!("{e}. The splits stay the authors' contiguous blocks.")),
            }
        });
    };
    let using = move || ui.own_labels.with(Option::is_some) || ui.own_files.with(Option::is_some);
    view! {
        <details class="own" open=using>
            <summary>"or use your own images (CSV or CelebA)"</summary>
            <label class="field"><span>"labels: a CSV (image, target, attribute) or CelebA's list_attr_celeba (.txt or Kaggle's .csv)"</span>
                <input type="file" id="own-labels" accept=".csv,.txt" on:change=on_labels disabled=move || ui.running()/></label>
            <label class="field"><span>"the image files (select them all; any number: only the images the splits pick are read)"</span>
                <input type="file" id="own-images" multiple accept="image/*" on:change=on_images disabled=move || ui.running()/></label>
            <label class="field"><span>"optional: CelebA's official partition (list_eval_partition .txt or .csv) instead of the authors' contiguous blocks"</span>
                <input type="file" id="own-partition" accept=".csv,.txt" on:change=on_partition disabled=move || ui.running() || ui.own_labels.with(Option::is_none)/></label>
            <p class="small" id="own-status">{move || {
                let partition = ui.own_partition.with(|p| p.as_ref().map_or(String::new(), |p| format!("; splits from the official partition {}", p.source)));
                match (ui.own_labels.get(), ui.own_files.get()) {
                    (Some(l), Some(f)) => format!("using {} ({} rows, {} files), padded to a square and resized to the image side above; {}{partition}", l.source, l.len(), f.len(),
                        if ui.own_regions.with(Option::is_some) { "each image's own region (below)" } else { "the paper's box of the chosen attribute" }),
                    (Some(l), None) => format!("{} ({} rows): now choose the image files", l.source, l.len()),
                    (None, Some(f)) => format!("{} image files: now choose the labels", f.len()),
                    (None, None) => "using the synthetic benchmark".to_string(),
                }
            }}</p>
            <button id="own-back" disabled=move || !using() || ui.running() on:click=move |_| {
                ui.own_labels.set(None);
                ui.own_files.set(None);
                ui.own_partition.set(None);
                ui.own_regions.set(None);
                ui.own_pairs.set(None);
                ui.planted.set(None);
                ui.planted_export.set(None);
                ui.unplanted.set(None);
            }>"back to the synthetic data"</button>
            <super::planted::RegionsAndPlanting/>
        </details>
    }
}

/// Once labels and images are both chosen: every listed image must be among the files (by name,
/// nothing read), and, up to [`CHECK_ALL_UP_TO`] of them, decode (JPEG or PNG); else the labels
/// are set aside with a message naming the line and file. Above that, a run decodes the images
/// its splits pick before any compute.
fn check_own(ui: Ui) {
    let (Some(labels), Some(files)) = (ui.own_labels.get_untracked(), ui.own_files.get_untracked()) else { return };
    let chosen = labels.clone();
    let set_aside = move |e: biaslens_data::DataError| {
        // Only if these labels are still the chosen ones.
        if ui.own_labels.get_untracked().is_some_and(|l| Arc::ptr_eq(&l, &chosen)) {
            ui.own_labels.set(None);
            ui.own_partition.set(None);
            ui.error(format!("{e}. The labels were set aside: fix the file or the images and choose them again."));
        }
    };
    if let Err(e) = labels.check_images(&*files) {
        return set_aside(e);
    }
    super::planted::check_extras(ui);
    if labels.len() > CHECK_ALL_UP_TO {
        return ui.info(format!(
            "All {} listed images are among the files. The images the splits pick are decoded when the run starts (checked before any training), a batch at a time.",
            labels.len()
        ));
    }
    let side = ui.config.with_untracked(|c| c.data.synthetic.size);
    let pre = biaslens_data::Preprocess { square_pad: true, resize: Some(side) };
    let rows: Vec<usize> = (0..labels.len()).collect();
    leptos::task::spawn_local(async move {
        if let Err(e) = labels.check_rows_decode(&rows, &*files, &pre).await {
            set_aside(e);
        }
    });
}

/// Ready-made settings: the demo, the paper's sizes and the paper's sizes as the authors' code ran
/// them (docs/METHODS.md#readings).
#[component]
fn Presets() -> impl IntoView {
    let ui = ui();
    // A chosen ImageNet file stays the starting point of a preset of its layout (the paper's
    // ResNet-50 fine-tuned, as the paper ran it); a preset of another network trains from scratch.
    let set = move |mut config: ExperimentConfig, what: &str| {
        let mut start = String::new();
        if let Some((name, bytes)) = ui.pretrained.get_untracked() {
            let fits = biaslens_model::torchvision_architecture(&bytes)
                .is_ok_and(|l| (l.block, l.layers, l.width) == (config.model.block, config.model.layers, config.model.width));
            if fits {
                config.model.pretrained = Some(PretrainedStart::of(name.clone(), &bytes));
                start = format!(", fine-tuning {name}");
            } else {
                start = format!(" (trained from scratch: {name} is another network)");
            }
        }
        ui.config.set(config);
        ui.info(format!("Settings set to {what}{start}. Press Run when ready."));
    };
    view! {
        <div class="presets" id="presets" role="group" aria-label="Ready-made settings">
            <div class="buttons">
                <span>"Start from: "</span>
                <button id="preset-demo" disabled=move || ui.running() on:click=move |_| set(ExperimentConfig::demo(), "the demo")>"Reset to the demo"</button>
                <button id="preset-paper" disabled=move || ui.running() title="the paper's image size, network and split sizes, the methods at DetoxAI's defaults"
                    on:click=move |_| set(ExperimentConfig::paper(), "the paper's sizes (hours in a browser tab)")>"The paper's sizes"</button>
                <button id="preset-authors" disabled=move || ui.running() title="the paper's sizes with the authors' correlation recipe, debias split and CAV labels, to reproduce their numbers"
                    on:click=move |_| set(ExperimentConfig::authors(), "the paper's sizes as the authors ran them (hours in a browser tab)")>"As the authors ran it"</button>
            </div>
            <p class="small">{
                let p = ExperimentConfig::paper();
                format!(
                    "The demo takes under a minute. The paper's sizes and the authors' recipe ({side}×{side} faces, {train} training images, {phis} φ value(s), {images} explained images) are hours of compute in a browser tab, even with a GPU; the command line (biaslens run) runs the same settings natively.",
                    side = p.data.synthetic.size, train = p.splits.train, phis = p.phis.len(), images = p.attribution.images
                )
            }</p>
        </div>
    }
}

/// The whole config as JSON, editable: every setting of every method is here.
#[component]
fn ConfigJson() -> impl IntoView {
    let ui = ui();
    let text = RwSignal::new(String::new());
    Effect::new(move |_| text.set(ui.config.get().to_json()));
    view! {
        <details class="json">
            <summary>"Every setting, as JSON (the same document the CLI's `run --config` reads)"</summary>
            <textarea id="config-json" rows="18" spellcheck="false" prop:value=move || text.get()
                on:input=move |ev| text.set(input_value(&ev))></textarea>
            <div class="buttons">
                <button id="apply-json" disabled=move || ui.running() on:click=move |_| match ExperimentConfig::from_json(&text.get_untracked()) {
                    Ok(c) => { ui.config.set(c); ui.info("Config applied from JSON."); }
                    Err(e) => ui.error(format!("The JSON config was not applied: {e}")),
                }>"Apply JSON"</button>
            </div>
        </details>
    }
}

/// Sixteen images of the pool, and each φ's split counts and achieved φ (labels only: instant).
#[component]
fn DataPreview() -> impl IntoView {
    let ui = ui();
    let synthetic = Memo::new(move |_| ui.config.with(|c| c.data.synthetic.clone()));
    let preview = move || {
        let s = synthetic.get();
        let side = s.size;
        match s.generate(0, 16) {
            Ok(batch) => {
                let px = (side * side) as usize;
                let attr = if s.attribute == ProtectedKind::Hat { "hat" } else { "tie" };
                (0..16)
                    .map(|i| {
                        let rgba = biaslens_viz::chw_to_rgba(&batch.pixels[i * 3 * px..(i + 1) * 3 * px], px);
                        let label = format!(
                            "{}, {}",
                            if batch.target[i] == 1 { "smiling" } else { "not smiling" },
                            if batch.attribute[i] == 1 { attr.to_string() } else { format!("no {attr}") }
                        );
                        view! {
                            <figure class="thumb">
                                <RgbaCanvas rgba=rgba width=side height=side label=format!("pool image {i}: {label}")/>
                                <figcaption>{label}</figcaption>
                            </figure>
                        }
                    })
                    .collect_view()
                    .into_any()
            }
            Err(e) => view! { <p class="warn">{format!("The preview could not be drawn: {e}")}</p> }.into_any(),
        }
    };
    let splits = Memo::new(move |_| {
        let c = ui.config.get();
        let result = match ui.own_labels.get() {
            Some(l) => {
                let partition = ui.own_partition.get();
                biaslens_experiment::phi_splits_of(&c, &l.target, &l.attribute, partition.as_ref().map(|p| p.values.as_slice()))
            }
            None => phi_splits(&c),
        };
        result.map(|s| (c.phis.clone(), s)).map_err(|e| e.to_string())
    });
    view! {
        <div class="data">
            <h3>"The data"</h3>
            <p class="explain">"Smiling is the target. The protected attribute is drawn only inside its box, and the training split ties it to the target with correlation φ (negative φ: the attribute goes with not smiling). The debias split is the authors' (a quarter per cell); the test split is balanced."</p>
            <div class="thumbs">{preview}</div>
            {move || match splits.get() {
                Ok((phis, s)) => view! {
                    <table class="counts" id="split-counts">
                        <caption>"Images per (target, attribute) cell, and the correlation each split achieves"</caption>
                        <thead><tr><th scope="col">"φ asked"</th><th scope="col">"split"</th><th scope="col">"not smiling, no attr."</th><th scope="col">"not smiling, attr."</th><th scope="col">"smiling, no attr."</th><th scope="col">"smiling, attr."</th><th scope="col">"φ achieved"</th></tr></thead>
                        <tbody>
                            {phis.iter().zip(s.iter()).flat_map(|(phi, sp)| {
                                [("train", &sp.train), ("debias", &sp.debias), ("test", &sp.test)].map(|(name, split)| {
                                    let c = split.counts;
                                    view! {
                                        <tr>
                                            <td>{format!("{phi}")}</td><td>{name}</td>
                                            <td>{c.t0a0}</td><td>{c.t0a1}</td><td>{c.t1a0}</td><td>{c.t1a1}</td>
                                            <td>{split.phi.map_or("undefined".into(), |p| format!("{p:.3}"))}</td>
                                        </tr>
                                    }
                                })
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any(),
                Err(e) => view! { <p class="warn" id="split-counts">{format!("These splits cannot be made: {e}")}</p> }.into_any(),
            }}
        </div>
    }
}

/// Runs the current settings with the seeds `seed, seed + 1, seed + 2` (the seeds field then shows
/// them, and the link carries them): every claim is then counted as "holds in k of 3 seeds".
fn run_three_seeds(ui: Ui) {
    let mut c = ui.config.get_untracked();
    let s = c.seed;
    let Some(last) = s.checked_add(2) else {
        return ui.error(format!("Run 3 seeds needs the seeds {s}, {s} + 1 and {s} + 2, which do not fit in a 64-bit seed; set a smaller seed."));
    };
    c.set_seeds(&[s, s + 1, last]);
    if let Err(e) = c.validate() {
        return ui.error(format!("The 3-seed run did not start: {e}"));
    }
    ui.config.set(c);
    ui.info(format!("Running seeds {s}, {}, {last}: the whole experiment three times.", s + 1));
    start_run(ui);
}

/// Run / Cancel, progress, the live training curve.
#[component]
pub fn RunPanel() -> impl IntoView {
    let ui = ui();
    let status = move || match ui.phase.get() {
        Phase::Idle => "ready".to_string(),
        Phase::Running => "running".to_string(),
        Phase::Done => "done".to_string(),
        Phase::Cancelled => "cancelled".to_string(),
        Phase::Failed(m) => format!("error: {m}"),
    };
    view! {
        <section class="panel" id="run" aria-labelledby="run-title" hidden=move || !ui.shown(Panel::Run)>
            <h2 id="run-title">"2 · Train, debias, explain"</h2>
            <div class="buttons">
                <button id="run-button" class="primary" disabled=move || ui.running() on:click=move |_| start_run(ui)>"Run"</button>
                <button id="run-seeds-button" disabled=move || ui.running() on:click=move |_| run_three_seeds(ui)
                    title=move || ui.config.with(|c| format!("the same settings with seeds {}, {}, {}: three times the work", c.seed, c.seed.saturating_add(1), c.seed.saturating_add(2)))>"Run 3 seeds"</button>
                <button id="cancel-button" disabled=move || !ui.running() on:click=move |_| cancel_run(ui)>"Cancel"</button>
                <span>"Status: " <strong id="status">{status}</strong></span>
            </div>
            {move || ui.progress.get().map(|e| {
                let unit = if e.units > 1 { format!(" · unit {} of {}", (e.unit + 1).min(e.units), e.units) } else { String::new() };
                view! {
                    <div class="progress">
                        <progress id="progress" max="1" value=e.fraction aria-label="progress of the whole run"></progress>
                        <span>{format!("{:.0} %{unit} · φ = {} · {} {} · {:.1} s", 100.0 * e.fraction, e.phi.map_or("—".into(), |v| v.to_string()), e.stage, e.detail, ui.elapsed.get())}</span>
                    </div>
                }
            })}
            {move || (ui.phase.get() != Phase::Idle).then(|| view! {
                <p class="explain" id="responsiveness" data-ms=format!("{:.0}", crate::pace::longest_hold_ms())>
                    {format!("The page stays responsive: {} The longest the page could not react so far: {:.0} ms (drawing a finished unit's results takes the longest).",
                        match (ui.in_worker.get(), ui.lanes.get()) {
                            (true, 1) => "the computation runs in a worker thread of its own, and the page only draws.".to_string(),
                            (true, n) => format!("the computation runs in a worker thread of its own, {n} of them at once (one unit each, on the CPU's cores), and the page only draws."),
                            (false, _) => "the computation (on the page's own thread: no worker thread could start) gives the browser a turn after every batch.".to_string(),
                        },
                        crate::pace::longest_hold_ms())}
                </p>
            })}
            <LossCurve/>
        </section>
    }
}

/// The vanilla model's training cross-entropy per step, one line per unit (φ, and seed when the
/// run has several), drawn by `biaslens_viz::loss_curve_svg`; each legend entry gives the unit's
/// last loss and batch accuracy in words.
#[component]
fn LossCurve() -> impl IntoView {
    let ui = ui();
    let chart = move || {
        let curves = ui.losses.get();
        if curves.iter().all(|c| c.points.len() < 2) {
            return None;
        }
        let seeded = curves.iter().any(|c| c.unit.seed != curves[0].unit.seed);
        let series: Vec<LossSeries> = curves
            .iter()
            .map(|c| {
                let unit = if seeded { format!("φ = {}, seed {}", c.unit.phi, c.unit.seed) } else { format!("φ = {}", c.unit.phi) };
                let label = match c.points.last() {
                    Some((loss, acc)) => format!("{unit}: loss {loss:.3}, batch accuracy {acc:.2}"),
                    None => format!("{unit}: waiting"),
                };
                LossSeries { label, points: c.points.iter().enumerate().map(|(i, p)| ((i + 1) as f64, p.0)).collect() }
            })
            .collect();
        Some(loss_curve_svg(&series, &LossStyle::default()).map_err(|e| e.to_string()))
    };
    view! {
        {move || chart().map(|svg| view! {
            <div class="loss">
                <p class="small">"Training the vanilla model: the cross-entropy of each training batch (lower = better fit; ln 2 ≈ 0.69 is guessing), one line per unit."</p>
                <Svg svg=svg id="loss-curve" label="Training curve: cross-entropy per training step of the vanilla model, one line per unit (φ and seed); the legend gives each unit's last loss and batch accuracy".to_string()/>
            </div>
        })}
    }
}
