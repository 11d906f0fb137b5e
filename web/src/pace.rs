//! The page's yielder for [`biaslens_model::pace`]: long computations await it after each
//! batch, and it resolves on the next macrotask (a `MessageChannel` message, which hidden tabs do
//! not throttle as they do timers), at most once every [`MIN_GAP_MS`], so the page repaints,
//! takes clicks and sees Cancel between batches even on the CPU backend.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;

use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;

/// Compute at most this long between turns of the event loop (when batches are shorter).
pub const MIN_GAP_MS: f64 = 12.0;

thread_local! {
    static LAST: Cell<f64> = const { Cell::new(0.0) };
    static LONGEST: Cell<f64> = const { Cell::new(0.0) };
}

/// Milliseconds since the page opened.
pub fn now_ms() -> f64 {
    web_sys::window().and_then(|w| w.performance()).map_or(0.0, |p| p.now())
}

/// Installs the yielder (once, at start-up).
pub fn install() {
    biaslens_model::pace::set_yielder(yield_to_browser);
}

/// The longest time (ms) computation held the page without a turn since the last [`reset`]:
/// shown in the page as a measure of responsiveness.
pub fn longest_hold_ms() -> f64 {
    LONGEST.with(Cell::get)
}

/// Starts a new responsiveness measurement.
pub fn reset() {
    LAST.with(|l| l.set(now_ms()));
    LONGEST.with(|l| l.set(0.0));
}

fn yield_to_browser() -> Pin<Box<dyn Future<Output = ()>>> {
    let now = now_ms();
    let held = now - LAST.with(Cell::get);
    if held < MIN_GAP_MS {
        return Box::pin(async {});
    }
    LONGEST.with(|l| l.set(l.get().max(held)));
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
