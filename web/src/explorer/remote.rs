//! The page's side of the compute worker ([`crate::worker`]; messages in [`crate::messages`]).
//!
//! [`start`] starts the worker (the page's own bundle, named by the `modulepreload` and
//! `preload` links Trunk writes), waits for it and has it choose the device. [`run`] hands it a
//! fitted config and the page's model files and turns its messages into the page host's calls:
//! progress, the unit starting, each finished unit (its JSON joined with the transferred maps
//! and vanilla models again, `biaslens_experiment::transfer`) and the switch to the CPU. A worker
//! that fails (it cannot start, or stops with an error) ends the run with a message and is
//! started afresh for the next run; when it cannot start at all, the page computes on its own
//! thread as before.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;
use std::sync::Arc;

use biaslens_experiment::resources::DeviceLimits;
use biaslens_experiment::transfer::extras_from_parts;
use biaslens_experiment::merge::merge;
use biaslens_experiment::{ExperimentConfig, ExperimentResults, ExplainedImages, RunProgress, units};
use futures::StreamExt;
use leptos::prelude::Set;
use futures::channel::mpsc::{UnboundedReceiver, unbounded};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use super::PageHost;
use super::own::OwnData;
use crate::device::{Chosen, Kind};
use crate::messages::{bytes, field, message, text, transferred, unit_key};

/// How long the worker may take to load the bundle and choose a device before the page computes
/// on its own thread instead.
const START_TIMEOUT_MS: i32 = 60_000;

/// A message from the worker, or why none will come.
type Inbox = UnboundedReceiver<Result<JsValue, String>>;

/// The running worker.
struct Remote {
    worker: web_sys::Worker,
    /// Its messages; taken by the run in progress.
    inbox: RefCell<Option<Inbox>>,
    _handlers: (Closure<dyn FnMut(web_sys::MessageEvent)>, Closure<dyn FnMut(web_sys::ErrorEvent)>),
}

impl Drop for Remote {
    fn drop(&mut self) {
        self.worker.terminate();
    }
}

thread_local! {
    static REMOTE: RefCell<Option<Rc<Remote>>> = const { RefCell::new(None) };
    /// The extra CPU workers of parallel runs ([`lanes_for`]), started by the first run that
    /// uses them and kept for later runs.
    static LANES: RefCell<Vec<Rc<Remote>>> = const { RefCell::new(Vec::new()) };
    /// Whether a worker started once (one that failed since is started again for the next run).
    static STARTED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// The href of the first `<link>` matching `selector`, absolute.
fn link(selector: &str) -> Result<String, String> {
    let document = web_sys::window().and_then(|w| w.document()).ok_or("no document")?;
    let element = document.query_selector(selector).ok().flatten().ok_or_else(|| format!("the page has no {selector}"))?;
    element.dyn_into::<web_sys::HtmlLinkElement>().map(|l| l.href()).map_err(|_| format!("{selector} is not a link"))
}

/// Starts the worker script and hands it the bundle's files.
fn spawn() -> Result<Remote, String> {
    let js = link("link[rel=modulepreload]")?;
    let wasm = link("link[rel=preload][as=fetch]")?;
    let options = web_sys::WorkerOptions::new();
    options.set_type(web_sys::WorkerType::Module);
    let worker = web_sys::Worker::new_with_options("./worker.js", &options).map_err(|e| format!("the browser refused the worker ({e:?})"))?;
    let (tx, rx) = unbounded();
    let on_message = {
        let tx = tx.clone();
        Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |e: web_sys::MessageEvent| {
            let _ = tx.unbounded_send(Ok(e.data()));
        })
    };
    let on_error = Closure::<dyn FnMut(web_sys::ErrorEvent)>::new(move |e: web_sys::ErrorEvent| {
        let what = if e.message().is_empty() { "it could not be loaded".to_owned() } else { e.message() };
        let _ = tx.unbounded_send(Err(what));
    });
    worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
    // The page's compiled module, not its URL: the worker instantiates it without compiling
    // 15 MB of wasm again (which took both cores for a moment while a run started, and held the
    // page). The URL if the browser cannot hand the module over.
    let with_module = message("start", &[("js", js.clone().into()), ("wasm", wasm_bindgen::module())]);
    worker
        .post_message(&with_module)
        .or_else(|_| worker.post_message(&message("start", &[("js", js.into()), ("wasm", wasm.into())])))
        .map_err(|e| format!("the worker could not be told its bundle ({e:?})"))?;
    Ok(Remote { worker, inbox: RefCell::new(Some(rx)), _handlers: (on_message, on_error) })
}

/// The next message of `kind` (others are ignored); an error if the worker failed or said so.
async fn expect(inbox: &mut Inbox, kind: &str) -> Result<JsValue, String> {
    loop {
        let msg = inbox.next().await.ok_or("the worker went away")??;
        match text(&msg, "kind").as_deref() {
            Some(k) if k == kind => return Ok(msg),
            Some("failed") => return Err(text(&msg, "error").unwrap_or_default()),
            _ => {}
        }
    }
}

/// A promise that resolves after `ms`.
async fn sleep(ms: i32) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        if let Some(w) = web_sys::window() {
            let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms);
        }
    });
    let _ = JsFuture::from(promise).await;
}

/// Waits for a spawned worker's bundle and has it choose the device (the CPU, without looking
/// for a GPU, with `cpu`): its `device` message, or why it did not come in time.
async fn handshake(remote: &Remote, inbox: &mut Inbox, cpu: bool) -> Result<JsValue, String> {
    let handshake = async {
        expect(inbox, "ready").await?;
        let choose = if cpu { message("choose", &[("cpu", true.into())]) } else { message("choose", &[]) };
        remote.worker.post_message(&choose).map_err(|e| format!("{e:?}"))?;
        expect(inbox, "device").await
    };
    let timeout = async {
        sleep(START_TIMEOUT_MS).await;
        Err(format!("it did not start within {} s", START_TIMEOUT_MS / 1000))
    };
    futures::future::select(Box::pin(handshake), Box::pin(timeout)).await.factor_first().0
}

/// Starts the compute worker and has it choose the device: what it chose, or why the page must
/// compute on its own thread.
///
/// # Errors
/// Why the worker could not start (in words, for the device line).
pub async fn start() -> Result<Chosen, String> {
    let remote = spawn()?;
    let Some(mut inbox) = remote.inbox.borrow_mut().take() else { return Err("no inbox".into()) };
    let device = handshake(&remote, &mut inbox, false).await?;
    let kind = text(&device, "device_kind").as_deref().and_then(Kind::from_id).ok_or("it named no device")?;
    let bytes = |key| field(&device, key).as_f64().map_or(0, |v| v as u64);
    let chosen = Chosen {
        kind,
        why: text(&device, "why").unwrap_or_default(),
        limits: DeviceLimits { max_buffer_bytes: bytes("max_buffer"), memory_bytes: bytes("memory") },
    };
    *remote.inbox.borrow_mut() = Some(inbox);
    REMOTE.with(|r| *r.borrow_mut() = Some(Rc::new(remote)));
    STARTED.with(|s| s.set(true));
    Ok(chosen)
}

/// Whether a compute worker started with the page (runs then compute there).
pub fn started() -> bool {
    STARTED.with(std::cell::Cell::get)
}

/// Asks the workers' runs to stop at their next batch.
pub fn cancel() {
    let mut remotes: Vec<Rc<Remote>> = REMOTE.with(|r| r.borrow().iter().cloned().collect());
    remotes.extend(LANES.with(|l| l.borrow().clone()));
    for remote in remotes {
        let _ = remote.worker.post_message(&message("cancel", &[]));
    }
}

/// How a run in the worker ended.
pub enum Stop {
    /// By Cancel.
    Cancelled,
    /// With this error.
    Failed(String),
}

/// The page's model files, own data and settings for one run.
pub struct Inputs<'a> {
    /// Memory for the inspector's maps.
    pub inspect_bytes: usize,
    /// A trained vanilla model replacing training.
    pub vanilla: Option<Arc<[u8]>>,
    /// The ImageNet file `model.pretrained` starts from.
    pub pretrained: Option<Arc<[u8]>>,
    /// The user's images and what goes with them (`None`: the synthetic benchmark).
    pub own: Option<&'a OwnData>,
    /// The URL's test hook: the unit that fails as a lost GPU would.
    pub gpu_loss_at: Option<usize>,
    /// The URL's `lanes=N`: at most this many workers at once.
    pub max_lanes: Option<usize>,
}

/// Extras received so far, by [`unit_key`].
type Extras = HashMap<String, (Option<Arc<ExplainedImages>>, Option<Arc<[u8]>>)>;

/// Reads the `results` (JSON) and `extras` of a message into results with their maps. The maps
/// are copied into the page's memory one array at a time with the event loop's turns between
/// (a unit's maps are tens of megabytes); the maps of units sent before move over from
/// `previous`, which the caller replaces with what this returns.
async fn results_of(msg: &JsValue, extras: &mut Extras, previous: &mut Option<ExperimentResults>) -> Result<Option<ExperimentResults>, String> {
    if let Ok(list) = field(msg, "extras").dyn_into::<js_sys::Array>() {
        for item in list.iter() {
            let key = text(&item, "key").unwrap_or_default();
            let header = bytes(&item, "header").ok_or("extras without a header")?;
            let mut arrays = Vec::new();
            for array in field(&item, "arrays").dyn_into::<js_sys::Array>().map_err(|_| "extras without arrays")?.iter() {
                arrays.push(copy_in_turns(&array.dyn_into::<js_sys::Float32Array>().map_err(|_| "extras with a non-float array")?).await);
            }
            extras.insert(key, extras_from_parts(&header, arrays)?);
        }
    }
    let Some(json) = text(msg, "results") else { return Ok(None) };
    let mut results: ExperimentResults = serde_json::from_str(&json).map_err(|e| format!("the results did not arrive intact: {e}"))?;
    for phi in previous.iter_mut().flat_map(|p| p.phis.iter_mut()) {
        extras.entry(unit_key(phi)).or_insert_with(|| (phi.explained.take(), phi.vanilla_weights.take()));
    }
    for phi in &mut results.phis {
        if let Some((explained, weights)) = extras.remove(&unit_key(phi)) {
            (phi.explained, phi.vanilla_weights) = (explained, weights);
        }
    }
    Ok(Some(results))
}

/// Copies `array` into the page's memory a slice at a time with a turn of the event loop between
/// slices: a unit's inspector maps arrive as arrays of several MB, and copying them whole held
/// the page for about 100 ms (`bench_explorer.mjs` with `BIASLENS_PROFILE=1`, BENCHMARKS.md).
async fn copy_in_turns(array: &js_sys::Float32Array) -> Vec<f32> {
    /// 2 MiB of `f32` per turn.
    const SLICE: u32 = 1 << 19;
    let len = array.length();
    let mut out = Vec::with_capacity(len as usize);
    let mut start = 0;
    loop {
        biaslens_model::pace::yield_now().await;
        if start >= len {
            return out;
        }
        let end = start.saturating_add(SLICE).min(len);
        let at = out.len();
        out.resize(end as usize, 0.0);
        array.subarray(start, end).copy_to(&mut out[at..]);
        start = end;
    }
}

/// The `run` message for `config` with the page's model files (copied into buffers added to
/// `transfer`) and `more` fields.
fn run_message(config: &ExperimentConfig, inputs: &Inputs<'_>, more: Vec<(&str, JsValue)>, transfer: &mut Vec<JsValue>) -> JsValue {
    let mut file = |b: &Option<Arc<[u8]>>| b.as_ref().map_or(JsValue::UNDEFINED, |b| transferred(b, transfer));
    let (vanilla, pretrained) = (file(&inputs.vanilla), file(&inputs.pretrained));
    let mut fields = vec![
        ("config", config.to_json().into()),
        ("inspect_bytes", (inputs.inspect_bytes as f64).into()),
        ("vanilla", vanilla),
        ("pretrained", pretrained),
    ];
    fields.extend(more);
    message("run", &fields)
}

/// Runs `config` (already fitted to the device) in the worker, reporting to `host`: the last
/// results (joined, with their maps) and how it stopped (`None`: every unit finished). `None`
/// when no worker is there (none could start at the page's start, or none starts again after a
/// failure).
pub async fn run(host: &PageHost, config: &ExperimentConfig, inputs: Inputs<'_>) -> Option<(Option<ExperimentResults>, Option<Stop>)> {
    if REMOTE.with(|r| r.borrow().is_none()) && STARTED.with(std::cell::Cell::get) {
        // The device it chooses is the one chosen before (same browser, same adapter).
        let _ = start().await;
    }
    let remote = REMOTE.with(|r| r.borrow().clone())?;
    let all = units(config);
    let lanes = lanes_for(host.kind.get(), all.len(), &inputs);
    if lanes > 1 {
        let mut remotes = vec![remote.clone()];
        remotes.extend(extra_lanes(lanes - 1).await);
        if remotes.len() > 1 {
            host.ui.lanes.set(remotes.len());
            return Some(run_lanes(host, config, &inputs, &remotes).await);
        }
    }
    let mut inbox = remote.inbox.borrow_mut().take()?;
    let mut transfer = Vec::new();
    let own = inputs.own.map_or(JsValue::UNDEFINED, |o| o.to_js(&mut transfer));
    let gpu_loss_at = inputs.gpu_loss_at.map_or(JsValue::UNDEFINED, |i| (i as f64).into());
    let msg = run_message(config, &inputs, vec![("gpu_loss_at", gpu_loss_at), ("own", own)], &mut transfer);
    let sent = remote.worker.post_message_with_transfer(&msg, &transfer.into_iter().collect::<js_sys::Array>());
    if let Err(e) = sent {
        *remote.inbox.borrow_mut() = Some(inbox);
        return Some((None, Some(Stop::Failed(format!("the worker could not be given the run ({e:?})")))));
    }
    let mut extras = Extras::new();
    let mut last = None;
    let fail = |last, text: String| Some((last, Some(Stop::Failed(text))));
    loop {
        let msg = match inbox.next().await {
            Some(Ok(m)) => m,
            Some(Err(e)) => {
                // The worker is broken: the next run starts a new one.
                REMOTE.with(|r| *r.borrow_mut() = None);
                return fail(last, format!("the compute worker stopped ({e}); the next run starts a new one"));
            }
            None => {
                REMOTE.with(|r| *r.borrow_mut() = None);
                return fail(last, "the compute worker went away; the next run starts a new one".into());
            }
        };
        match text(&msg, "kind").as_deref() {
            Some("progress") => {
                if let Some(event) = text(&msg, "event").and_then(|j| serde_json::from_str::<RunProgress>(&j).ok()) {
                    host.progress_event(&event);
                }
            }
            Some("unit-starting") => {
                if let Some(unit) = field(&msg, "unit").as_f64().and_then(|i| all.get(i as usize)) {
                    host.started(unit);
                }
            }
            Some("unit-finished") => match results_of(&msg, &mut extras, &mut last).await {
                Ok(Some(r)) => {
                    host.finished(&r);
                    last = Some(r);
                }
                Ok(None) => {}
                Err(e) => {
                    REMOTE.with(|r| *r.borrow_mut() = None);
                    return fail(last, e);
                }
            },
            Some("fallback") => host.switched_to_cpu(&text(&msg, "error").unwrap_or_default()),
            Some("end") => {
                *remote.inbox.borrow_mut() = Some(inbox);
                match results_of(&msg, &mut extras, &mut last).await {
                    Ok(Some(r)) => last = Some(r),
                    Ok(None) => {}
                    Err(e) => return fail(last, e),
                }
                let stop = match (field(&msg, "cancelled").as_bool(), text(&msg, "error")) {
                    (Some(true), _) => Some(Stop::Cancelled),
                    (_, Some(e)) => Some(Stop::Failed(e)),
                    _ => None,
                };
                return Some((last, stop));
            }
            _ => {}
        }
    }
}

/// Most workers a run computes in at once: each holds its own copy of the bundle and of a
/// unit's data (a few hundred MB for the demo), so a many-core machine does not multiply that
/// without bound.
const MAX_LANES: usize = 4;

/// How many workers compute a run at once. Units (φ × seed) are independent and deterministic
/// wherever they run (`biaslens_experiment::merge`), so a run of several units on the CPU
/// computes one unit per worker on as many workers as the browser reports cores
/// (`navigator.hardwareConcurrency`), at most [`MAX_LANES`] and at most the URL's `lanes=N`;
/// the results are the single worker's, unit for unit (`tests/e2e/explorer.test.mjs`). One
/// worker on WebGPU (the workers would share one GPU, and a lost GPU hands the run over to the
/// CPU unit by unit), for the user's own images (their files would be read by every worker),
/// and under the URL's GPU-loss test hook.
fn lanes_for(kind: Kind, units: usize, inputs: &Inputs<'_>) -> usize {
    if kind != Kind::Cpu || inputs.own.is_some() || inputs.gpu_loss_at.is_some() {
        return 1;
    }
    let cores = web_sys::window().map_or(1.0, |w| w.navigator().hardware_concurrency()) as usize;
    units.min(cores.max(1)).min(MAX_LANES).min(inputs.max_lanes.unwrap_or(MAX_LANES)).max(1)
}

/// `wanted` extra CPU workers: those kept from earlier runs, and new ones started now. Fewer
/// when some cannot start (the run then uses the workers it has).
async fn extra_lanes(wanted: usize) -> Vec<Rc<Remote>> {
    while LANES.with(|l| l.borrow().len()) < wanted {
        let Ok(remote) = spawn() else { break };
        let Some(mut inbox) = remote.inbox.borrow_mut().take() else { break };
        if handshake(&remote, &mut inbox, true).await.is_err() {
            break;
        }
        *remote.inbox.borrow_mut() = Some(inbox);
        LANES.with(|l| l.borrow_mut().push(Rc::new(remote)));
    }
    LANES.with(|l| l.borrow().iter().take(wanted).cloned().collect())
}

/// The results of the finished units (by run-order index) as the page shows them: as a single
/// worker's run would have joined them when they are the first units of the run
/// ([`ExperimentResults::join_finished`]), else merged with the others listed as missing.
fn joined(config: &ExperimentConfig, done: &BTreeMap<usize, ExperimentResults>) -> Option<ExperimentResults> {
    let parts: Vec<ExperimentResults> = done.values().cloned().collect();
    if done.keys().enumerate().all(|(i, &k)| i == k) {
        ExperimentResults::join_finished(config, parts)
    } else {
        merge(parts.into_iter().map(|p| (String::new(), p)).collect(), true).ok()
    }
}

/// Runs `config` on several CPU workers at once ([`lanes_for`]): each worker computes one unit
/// at a time (a shard of one unit, `biaslens_experiment::merge::Shard`), handed out in run
/// order as workers come free; the page joins the finished units, shows them as they come and
/// reports progress over the whole run. Cancel reaches every worker; a worker's error stops
/// the others and ends the run with it, keeping the finished units.
async fn run_lanes(host: &PageHost, config: &ExperimentConfig, inputs: &Inputs<'_>, remotes: &[Rc<Remote>]) -> (Option<ExperimentResults>, Option<Stop>) {
    let all = units(config);
    let n = all.len();
    let begun = crate::pace::now_ms();
    let mut inboxes: Vec<Inbox> = Vec::new();
    for r in remotes {
        match r.inbox.borrow_mut().take() {
            Some(inbox) => inboxes.push(inbox),
            None => break,
        }
    }
    let lanes = inboxes.len();
    // The unit each worker computes, and how far into it it is.
    let mut running: Vec<Option<usize>> = vec![None; lanes];
    let mut within = vec![0.0f64; lanes];
    let mut queue: std::collections::VecDeque<usize> = (0..n).collect();
    let mut done: BTreeMap<usize, ExperimentResults> = BTreeMap::new();
    let mut extras = Extras::new();
    let mut stop: Option<Stop> = None;
    let mut shown = 0.0f64;
    let hand_out = |lane: usize, k: usize| -> Result<(), String> {
        let mut transfer = Vec::new();
        let msg = run_message(config, inputs, vec![("shard", format!("{}/{n}", k + 1).into())], &mut transfer);
        remotes[lane]
            .worker
            .post_message_with_transfer(&msg, &transfer.into_iter().collect::<js_sys::Array>())
            .map_err(|e| format!("a compute worker could not be given its unit ({e:?})"))
    };
    for (lane, slot) in running.iter_mut().enumerate() {
        let Some(k) = queue.pop_front() else { break };
        match hand_out(lane, k) {
            Ok(()) => *slot = Some(k),
            Err(e) => {
                stop = Some(Stop::Failed(e));
                break;
            }
        }
    }
    if stop.is_some() {
        cancel();
    }
    {
        let mut messages = futures::stream::select_all(inboxes.iter_mut().enumerate().map(|(lane, inbox)| inbox.map(move |m| (lane, m))));
        while running.iter().any(Option::is_some) {
            let Some((lane, msg)) = messages.next().await else { break };
            let Some(k) = running[lane] else { continue };
            let msg = match msg {
                Ok(m) => m,
                Err(e) => {
                    // A broken worker: the next run starts new ones.
                    running[lane] = None;
                    host.current.set(all.get(k).copied());
                    if stop.is_none() {
                        stop = Some(Stop::Failed(format!("a compute worker stopped ({e}); the next run starts new ones")));
                        cancel();
                    }
                    REMOTE.with(|r| *r.borrow_mut() = None);
                    LANES.with(|l| l.borrow_mut().clear());
                    continue;
                }
            };
            match text(&msg, "kind").as_deref() {
                Some("progress") => {
                    let Some(mut event) = text(&msg, "event").and_then(|j| serde_json::from_str::<RunProgress>(&j).ok()) else { continue };
                    if event.stage == "done" {
                        continue;
                    }
                    within[lane] = event.fraction;
                    let running_part: f64 = running.iter().zip(&within).filter(|(r, _)| r.is_some()).map(|(_, w)| w).sum();
                    shown = shown.max(((done.len() as f64 + running_part) / n as f64).min(1.0));
                    (event.unit, event.units, event.fraction) = (k, n, shown);
                    host.progress_event(&event);
                }
                Some("unit-starting") => {
                    within[lane] = 0.0;
                    if let Some(unit) = all.get(k) {
                        host.started(unit);
                    }
                }
                Some(kind @ ("unit-finished" | "end")) => {
                    match results_of(&msg, &mut extras, &mut None).await {
                        Ok(Some(mut r)) if !done.contains_key(&k) && r.phis.len() == 1 => {
                            // A shard lists the run's other units as missing; joined, they are not.
                            r.partial = None;
                            done.insert(k, r);
                            within[lane] = 0.0;
                            if let Some(mut so_far) = joined(config, &done) {
                                // Units of parallel workers can finish moments apart: the
                                // earlier one is drawn whole before the next redraw starts, so
                                // two redraws never share the page's thread.
                                crate::widgets::all_drawn().await;
                                // The run's wall time so far, not the sum of its units' times.
                                so_far.total_seconds = (crate::pace::now_ms() - begun) / 1000.0;
                                host.finished(&so_far);
                            }
                        }
                        Ok(_) => {}
                        Err(e) => {
                            if stop.is_none() {
                                stop = Some(Stop::Failed(e));
                                cancel();
                            }
                        }
                    }
                    if kind == "unit-finished" {
                        continue;
                    }
                    running[lane] = None;
                    match (field(&msg, "cancelled").as_bool(), text(&msg, "error")) {
                        (Some(true), _) => {
                            stop.get_or_insert(Stop::Cancelled);
                        }
                        (_, Some(e)) if stop.is_none() => {
                            host.current.set(all.get(k).copied());
                            stop = Some(Stop::Failed(e));
                            cancel();
                        }
                        _ => {}
                    }
                    if stop.is_none() && host.cancel.load(std::sync::atomic::Ordering::Relaxed) {
                        stop = Some(Stop::Cancelled);
                    }
                    if stop.is_none()
                        && let Some(next) = queue.pop_front()
                    {
                        match hand_out(lane, next) {
                            Ok(()) => running[lane] = Some(next),
                            Err(e) => {
                                stop = Some(Stop::Failed(e));
                                cancel();
                            }
                        }
                    }
                }
                _ => {}
            }
        }
    }
    for (remote, inbox) in remotes.iter().zip(inboxes) {
        *remote.inbox.borrow_mut() = Some(inbox);
    }
    let mut results = joined(config, &done);
    if stop.is_none() {
        if done.len() < n {
            stop = Some(Stop::Failed("the compute workers went away before the run finished; the next run starts new ones".into()));
        } else {
            host.progress_event(&RunProgress::done(config.seed, n));
        }
    }
    // The run's wall time, not the sum of its units' times.
    if let Some(r) = results.as_mut() {
        r.total_seconds = (crate::pace::now_ms() - begun) / 1000.0;
    }
    (results, stop)
}
