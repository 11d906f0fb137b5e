//! The page's yielder for [`biaslens_model::pace`]: long computations await it after each
//! batch, and it resolves on the next macrotask (a `MessageChannel` message, which hidden tabs do
//! not throttle as they do timers), at most once every [`MIN_GAP_MS`], so the page repaints,
//! takes clicks and sees Cancel between batches even on the CPU backend. A watchdog timer
//! measures how long the main thread was actually held ([`longest_hold_ms`]).

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;

use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;

/// Compute at most this long between turns of the event loop (when batches are shorter).
pub const MIN_GAP_MS: f64 = 12.0;

/// Period of the watchdog timer that measures how long the main thread was held.
const TICK_MS: i32 = 50;

thread_local! {
    static LAST: Cell<f64> = const { Cell::new(0.0) };
    static TICK_LAST: Cell<f64> = const { Cell::new(0.0) };
    static LONGEST: Cell<f64> = const { Cell::new(0.0) };
    static TICKER: RefCell<Option<wasm_bindgen::closure::Closure<dyn FnMut()>>> = const { RefCell::new(None) };
}

/// Milliseconds since the page opened.
pub fn now_ms() -> f64 {
    web_sys::window().and_then(|w| w.performance()).map_or(0.0, |p| p.now())
}

/// Installs the yielder (once, at start-up).
pub fn install() {
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
    if now - LAST.with(Cell::get) < MIN_GAP_MS {
        return Box::pin(async {});
    }
    Box::pin(async move {
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
        LAST.with(|l| l.set(now_ms()));
    })
}
