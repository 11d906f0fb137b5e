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
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

use biaslens_experiment::resources::DeviceLimits;
use biaslens_experiment::transfer::extras_from_parts;
use biaslens_experiment::{ExperimentConfig, ExperimentResults, ExplainedImages, RunProgress, units};
use futures::StreamExt;
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
    worker
        .post_message(&message("start", &[("js", js.into()), ("wasm", wasm.into())]))
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

/// Starts the compute worker and has it choose the device: what it chose, or why the page must
/// compute on its own thread.
///
/// # Errors
/// Why the worker could not start (in words, for the device line).
pub async fn start() -> Result<Chosen, String> {
    let remote = spawn()?;
    let Some(mut inbox) = remote.inbox.borrow_mut().take() else { return Err("no inbox".into()) };
    let handshake = async {
        expect(&mut inbox, "ready").await?;
        remote.worker.post_message(&message("choose", &[])).map_err(|e| format!("{e:?}"))?;
        expect(&mut inbox, "device").await
    };
    let timeout = async {
        sleep(START_TIMEOUT_MS).await;
        Err(format!("it did not start within {} s", START_TIMEOUT_MS / 1000))
    };
    let device = futures::future::select(Box::pin(handshake), Box::pin(timeout)).await.factor_first().0?;
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

/// Asks the worker's run to stop at its next batch.
pub fn cancel() {
    REMOTE.with(|r| {
        if let Some(remote) = r.borrow().as_ref() {
            let _ = remote.worker.post_message(&message("cancel", &[]));
        }
    });
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
    let mut inbox = remote.inbox.borrow_mut().take()?;
    let mut transfer = Vec::new();
    let mut file = |b: Option<Arc<[u8]>>| b.map_or(JsValue::UNDEFINED, |b| transferred(&b, &mut transfer));
    let (vanilla, pretrained) = (file(inputs.vanilla), file(inputs.pretrained));
    let own = inputs.own.map_or(JsValue::UNDEFINED, |o| o.to_js(&mut transfer));
    let msg = message(
        "run",
        &[
            ("config", config.to_json().into()),
            ("inspect_bytes", (inputs.inspect_bytes as f64).into()),
            ("vanilla", vanilla),
            ("pretrained", pretrained),
            ("gpu_loss_at", inputs.gpu_loss_at.map_or(JsValue::UNDEFINED, |i| (i as f64).into())),
            ("own", own),
        ],
    );
    let sent = remote.worker.post_message_with_transfer(&msg, &transfer.into_iter().collect::<js_sys::Array>());
    if let Err(e) = sent {
        *remote.inbox.borrow_mut() = Some(inbox);
        return Some((None, Some(Stop::Failed(format!("the worker could not be given the run ({e:?})")))));
    }
    let all = units(config);
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
