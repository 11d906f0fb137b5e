//! The yielder for [`biaslens_model::pace`]: long computations await it after each batch, and it
//! resolves on the next macrotask (a `MessageChannel` message, which hidden tabs do not throttle
//! as they do timers), at most once every so many milliseconds. On the page's main thread
//! ([`MIN_GAP_MS`]) that lets the page repaint, take clicks and see Cancel between batches even on
//! the CPU backend, when a run computes there; in the compute worker ([`WORKER_GAP_MS`]) it lets
//! the worker hear the page's Cancel. A watchdog timer on the page measures how long the main
//! thread was actually held ([`longest_hold_ms`]).

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;

use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;

/// On the main thread: compute at most this long between turns of the event loop (when batches
/// are shorter).
pub const MIN_GAP_MS: f64 = 12.0;

/// In the compute worker: only Cancel waits on its event loop, so turns can be rarer (each costs
/// a message round trip).
pub const WORKER_GAP_MS: f64 = 50.0;

/// Period of the watchdog timer that measures how long the main thread was held.
const TICK_MS: i32 = 50;

thread_local! {
    static GAP: Cell<f64> = const { Cell::new(MIN_GAP_MS) };
    static LAST: Cell<f64> = const { Cell::new(0.0) };
    static TICK_LAST: Cell<f64> = const { Cell::new(0.0) };
    static LONGEST: Cell<f64> = const { Cell::new(0.0) };
    static TICKER: RefCell<Option<wasm_bindgen::closure::Closure<dyn FnMut()>>> = const { RefCell::new(None) };
}

/// Milliseconds since the page (or the worker) started.
pub fn now_ms() -> f64 {
    use wasm_bindgen::JsCast;
    js_sys::Reflect::get(&js_sys::global(), &"performance".into())
        .ok()
        .and_then(|p| p.dyn_into::<web_sys::Performance>().ok())
        .map_or(0.0, |p| p.now())
}

/// Installs the yielder (once, at start-up), giving the event loop a turn at most every `gap_ms`.
pub fn install(gap_ms: f64) {
    GAP.with(|g| g.set(gap_ms));
    biaslens_model::pace::set_yielder(yield_to_browser);
}

/// The longest time (ms) the main thread could not run a timer since the last [`reset`]: a
/// 50 ms interval timer records the largest gap between its ticks (minus the period). This is
/// what a user feels; on WebGPU the time between batches is mostly spent awaiting the GPU with
/// the main thread free, so it is measured by the timer, not by the yielder.
pub fn longest_hold_ms() -> f64 {
    LONGEST.with(Cell::get)
}

/// Starts a new responsiveness measurement (and the watchdog timer, once).
pub fn reset() {
    let now = now_ms();
    LAST.with(|l| l.set(now));
    TICK_LAST.with(|l| l.set(now));
    LONGEST.with(|l| l.set(0.0));
    TICKER.with(|t| {
        if t.borrow().is_some() {
            return;
        }
        let tick = wasm_bindgen::closure::Closure::<dyn FnMut()>::new(|| {
            let now = now_ms();
            let gap = now - TICK_LAST.with(Cell::get) - f64::from(TICK_MS);
            LONGEST.with(|l| l.set(l.get().max(gap)));
            TICK_LAST.with(|l| l.set(now));
        });
        if let Some(w) = web_sys::window() {
            use wasm_bindgen::JsCast;
            let _ = w.set_interval_with_callback_and_timeout_and_arguments_0(tick.as_ref().unchecked_ref(), TICK_MS);
        }
        *t.borrow_mut() = Some(tick);
    });
}

fn yield_to_browser() -> Pin<Box<dyn Future<Output = ()>>> {
    let now = now_ms();
    if now - LAST.with(Cell::get) < GAP.with(Cell::get) {
        return Box::pin(async {});
    }
    Box::pin(async move {
        next_turn().await;
        LAST.with(|l| l.set(now_ms()));
    })
}

/// Resolves in a timer task of its own (`setTimeout(0)`): after every timer already due, so a
/// chain of such turns lets the watchdog (and anything else waiting on a timer) run between them.
/// Hidden tabs slow timers down; only drawing waits on this, never the computation.
pub async fn timer_turn() {
    let promise = js_sys::Promise::new(&mut |resolve, _reject| {
        use wasm_bindgen::JsCast;
        let global = js_sys::global();
        let set_timeout = js_sys::Reflect::get(&global, &"setTimeout".into()).ok().and_then(|f| f.dyn_into::<js_sys::Function>().ok());
        if set_timeout.is_none_or(|f| f.call2(&global, &resolve, &JsValue::from(0)).is_err()) {
            let _ = resolve.call0(&JsValue::NULL);
        }
    });
    let _ = JsFuture::from(promise).await;
}

/// Resolves on the next turn of the event loop (a `MessageChannel` message: a task of its own).
pub async fn next_turn() {
    let promise = js_sys::Promise::new(&mut |resolve, _reject| match web_sys::MessageChannel::new() {
        Ok(channel) => {
            channel.port1().set_onmessage(Some(&resolve));
            if channel.port2().post_message(&JsValue::NULL).is_err() {
                let _ = resolve.call0(&JsValue::NULL);
            }
        }
        Err(_) => {
            let _ = resolve.call0(&JsValue::NULL);
        }
    });
    let _ = JsFuture::from(promise).await;
}
