//! The page's compute worker (ARCHITECTURE.md, "The run driver"): the page's own wasm bundle,
//! started again in a dedicated module worker by `web/worker.js`, runs the library's driver
//! ([`biaslens_experiment::drive`]) there, so the page's main thread only draws, however long a
//! batch takes on the CPU backend. The messages are listed in [`crate::messages`].
//!
//! The worker picks the device itself (WebGPU exists in dedicated workers; the burn device must
//! live where it computes), reports what it picked, and answers the page's `run` with progress,
//! each finished unit (the joined results' JSON and, as transferred bytes, the new units'
//! inspector maps and vanilla models) and an `end`. A failing WebGPU makes it redo the unit on
//! the CPU, as the page did on its own thread, and say so (`fallback`); Cancel arrives as a
//! message, heard between batches because the driver yields to this worker's event loop
//! ([`crate::pace`], [`crate::pace::WORKER_GAP_MS`]).

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use biaslens_experiment::transfer::extras_to_parts;
use biaslens_experiment::{ExperimentConfig, ExperimentResults, Host, RunError, RunOptions, RunProgress, Unit, device_label, drive};
use burn::prelude::Device;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::spawn_local;

use crate::device::{self, Kind};
use crate::explorer::own::OwnData;
use crate::messages::{bytes, field, message, text, transferred, unit_key};

thread_local! {
    /// The device runs compute on, once chosen (the CPU after a WebGPU failure).
    static DEVICE: RefCell<Option<(Device, Kind)>> = const { RefCell::new(None) };
    /// The stop flag of the run in progress.
    static CANCEL: RefCell<Arc<AtomicBool>> = RefCell::new(Arc::new(AtomicBool::new(false)));
}

/// Starts the worker's side when this module runs in a dedicated worker; `false` anywhere else.
pub fn start() -> bool {
    let Ok(scope) = js_sys::global().dyn_into::<web_sys::DedicatedWorkerGlobalScope>() else { return false };
    crate::pace::install(crate::pace::WORKER_GAP_MS);
    let on_message = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(|event: web_sys::MessageEvent| {
        let data = event.data();
        match text(&data, "kind").as_deref() {
            Some("choose") => {
                // An extra CPU lane of a parallel run (`explorer::remote`) computes on the CPU
                // whatever the browser offers.
                if field(&data, "cpu").as_bool() == Some(true) {
                    DEVICE.with(|d| *d.borrow_mut() = Some((Device::flex(), Kind::Cpu)));
                    report(&device::cpu("An extra CPU lane of a parallel run."));
                } else {
                    spawn_local(async {
                        let _ = chosen().await;
                    });
                }
            }
            Some("run") => spawn_local(run(data)),
            Some("cancel") => CANCEL.with(|c| c.borrow().store(true, Ordering::Relaxed)),
            _ => {}
        }
    });
    scope.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    // The handler lives as long as the worker.
    on_message.forget();
    post(&message("ready", &[]), &[]);
    true
}

/// Posts `msg` to the page, handing over `transfer` (ArrayBuffers) without a copy.
fn post(msg: &JsValue, transfer: &[JsValue]) {
    let Ok(scope) = js_sys::global().dyn_into::<web_sys::DedicatedWorkerGlobalScope>() else { return };
    let sent = if transfer.is_empty() {
        scope.post_message(msg)
    } else {
        scope.post_message_with_transfer(msg, &transfer.iter().collect::<js_sys::Array>())
    };
    if let Err(e) = sent {
        web_sys::console::error_2(&"biaslens worker: a message to the page failed".into(), &e);
    }
}

/// The device, chosen (and reported to the page) the first time.
async fn chosen() -> (Device, Kind) {
    if let Some(d) = DEVICE.with(|d| d.borrow().clone()) {
        return d;
    }
    let (chosen, device) = device::choose().await;
    report(&chosen);
    DEVICE.with(|d| *d.borrow_mut() = Some((device.clone(), chosen.kind)));
    (device, chosen.kind)
}

/// Tells the page which device this worker computes on.
fn report(chosen: &device::Chosen) {
    post(
        &message(
            "device",
            &[
                ("device_kind", chosen.kind.id().into()),
                ("why", chosen.why.as_str().into()),
                ("max_buffer", (chosen.limits.max_buffer_bytes as f64).into()),
                ("memory", (chosen.limits.memory_bytes as f64).into()),
            ],
        ),
        &[],
    );
}

/// Answers the page's `run`.
async fn run(data: JsValue) {
    let cancel = Arc::new(AtomicBool::new(false));
    CANCEL.with(|c| *c.borrow_mut() = cancel.clone());
    let config = match text(&data, "config").map(|json| ExperimentConfig::from_json(&json)) {
        Some(Ok(c)) => c,
        Some(Err(e)) => return end(None, false, Some(format!("the config did not reach the worker intact: {e}")), &HashSet::new()),
        None => return end(None, false, Some("the run message had no config (a bug: please report it)".into()), &HashSet::new()),
    };
    // The user's images: the pool is made here, where the run reads it.
    let images = match field(&data, "own") {
        own if own.is_undefined() => None,
        own => match OwnData::from_js(&own) {
            Ok(own) => match own.pool(&config).await {
                Ok(pool) => Some(Arc::new(pool)),
                Err(e) => return end(None, false, Some(e), &HashSet::new()),
            },
            Err(e) => return end(None, false, Some(format!("the images did not reach the worker intact: {e}")), &HashSet::new()),
        },
    };
    // A lane of a parallel run computes the unit the page hands it, as a shard of one unit.
    let shard = match text(&data, "shard").map(|s| s.parse()) {
        None => None,
        Some(Ok(shard)) => Some(shard),
        Some(Err(e)) => return end(None, false, Some(format!("the run message named a bad shard (a bug: please report it): {e}")), &HashSet::new()),
    };
    let options = RunOptions {
        images,
        inspect_bytes: field(&data, "inspect_bytes").as_f64().map_or(0, |b| b as usize),
        vanilla_weights: bytes(&data, "vanilla").map(Arc::from),
        pretrained_weights: bytes(&data, "pretrained").map(Arc::from),
        keep_vanilla_weights: true,
        shard,
        ..RunOptions::default()
    };
    let (device, kind) = chosen().await;
    let host = WorkerHost {
        cancel,
        kind: Cell::new(kind),
        gpu_loss_at: field(&data, "gpu_loss_at").as_f64().map(|i| i as usize),
        sent: RefCell::new(HashSet::new()),
        shown: Cell::new(0),
    };
    let name = device_label(&device);
    let driven = drive(&config, &options, device, name, &host).await;
    // The joined results are those of the last `unit-finished`, unless that differs.
    let results = driven.results.filter(|r| r.phis.len() != host.shown.get());
    match driven.stopped {
        None => end(results.as_ref(), false, None, &host.sent.borrow()),
        Some(RunError::Cancelled) => end(results.as_ref(), true, None, &host.sent.borrow()),
        Some(e) => end(results.as_ref(), false, Some(e.to_string()), &host.sent.borrow()),
    }
}

/// `results` as the fields of a message: their JSON, and the extras of units not sent before
/// (marked as sent), with the buffers to transfer.
fn results_fields(results: &ExperimentResults, sent: &mut HashSet<String>) -> (Vec<(&'static str, JsValue)>, Vec<JsValue>) {
    let json = serde_json::to_string(results).unwrap_or_default();
    let extras = js_sys::Array::new();
    let mut transfer = Vec::new();
    for phi in &results.phis {
        let key = unit_key(phi);
        if (phi.explained.is_none() && phi.vanilla_weights.is_none()) || sent.contains(&key) {
            continue;
        }
        let (header, values) = extras_to_parts(phi);
        let header = transferred(&header, &mut transfer);
        let arrays = js_sys::Array::new();
        for v in values {
            let array = js_sys::Float32Array::from(v);
            transfer.push(array.buffer().into());
            arrays.push(&array);
        }
        extras.push(&message("extras", &[("key", key.as_str().into()), ("header", header), ("arrays", arrays.into())]));
        sent.insert(key);
    }
    (vec![("results", json.into()), ("extras", extras.into())], transfer)
}

/// The run's last message.
fn end(results: Option<&ExperimentResults>, cancelled: bool, error: Option<String>, sent: &HashSet<String>) {
    let (mut fields, transfer) = results.map(|r| results_fields(r, &mut sent.clone())).unwrap_or_default();
    fields.push(("cancelled", cancelled.into()));
    if let Some(e) = error {
        fields.push(("error", e.into()));
    }
    post(&message("end", &fields), &transfer);
}

/// The driver's host in the worker: everything goes to the page as messages.
struct WorkerHost {
    cancel: Arc<AtomicBool>,
    /// The backend running now (the CPU after a fallback).
    kind: Cell<Kind>,
    /// The URL's test hook: on WebGPU this unit fails as a lost device would.
    gpu_loss_at: Option<usize>,
    /// Units whose extras the page has.
    sent: RefCell<HashSet<String>>,
    /// Units in the last results sent.
    shown: Cell<usize>,
}

impl Host for WorkerHost {
    fn progress(&self, event: &RunProgress) {
        post(&message("progress", &[("event", serde_json::to_string(event).unwrap_or_default().into())]), &[]);
    }

    fn unit_starting(&self, unit: &Unit) -> Result<(), RunError> {
        post(&message("unit-starting", &[("unit", (unit.index as f64).into())]), &[]);
        device::simulated_loss(self.kind.get(), self.gpu_loss_at, unit)
    }

    fn unit_finished(&self, so_far: &ExperimentResults) {
        let (fields, transfer) = results_fields(so_far, &mut self.sent.borrow_mut());
        self.shown.set(so_far.phis.len());
        post(&message("unit-finished", &fields), &transfer);
    }

    fn should_stop(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }

    fn fallback(&self, error: &RunError) -> Option<(Device, String)> {
        if self.kind.get() != Kind::WebGpu {
            return None;
        }
        self.kind.set(Kind::Cpu);
        let cpu = Device::flex();
        DEVICE.with(|d| *d.borrow_mut() = Some((cpu.clone(), Kind::Cpu)));
        post(&message("fallback", &[("error", error.to_string().into())]), &[]);
        let name = device_label(&cpu);
        Some((cpu, name))
    }
}
