//! The biaslens page (Leptos 0.8, client-side rendered).
//!
//! Thin shell over the library: it runs the library's experiment through its driver
//! (`biaslens_experiment::drive`, one unit of φ and seed at a time) in a compute worker (this
//! same bundle, started in a dedicated worker: [`worker`]), which picks the device, and renders
//! plain state. No network request leaves the page; all compute happens in this tab.
//! `?selftest` shows the device self-test instead of the explorer.

mod device;
mod explorer;
mod messages;
mod pace;
mod selftest;
mod widgets;
mod worker;

// Static constructors (the `inventory` registrations of pliron, which burn's cubecl links in).
// wasm-ld runs them at the start of *every* exported function of a module that never calls
// `__wasm_call_ctors` itself, so each call from JavaScript into the page (every closure, every
// scheduler turn) re-ran them and re-registered their nodes: a Chromium profile of a run put
// ~2 s of every 35 s there. Calling them once here makes wasm-ld leave the exports unwrapped
// (the pattern inventory's documentation gives for wasm).
#[cfg(target_family = "wasm")]
#[allow(unsafe_code)]
unsafe extern "C" {
    fn __wasm_call_ctors();
}

fn main() {
    // SAFETY: runs the module's static constructors, once, before anything else in the page.
    #[cfg(target_family = "wasm")]
    #[allow(unsafe_code)]
    unsafe {
        __wasm_call_ctors();
    }
    console_error_panic_hook::set_once();
    // In the compute worker the same bundle answers the page's messages and mounts nothing.
    if worker::start() {
        return;
    }
    pace::install(pace::MIN_GAP_MS);
    let search = web_sys::window().and_then(|w| w.location().search().ok()).unwrap_or_default();
    if search.contains("selftest") {
        leptos::mount::mount_to_body(selftest::SelfTest);
    } else {
        leptos::mount::mount_to_body(explorer::App);
    }
}
