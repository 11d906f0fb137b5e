//! The biaslens page (Leptos 0.8, client-side rendered).
//!
//! Thin shell over the library: it picks a device, runs the library's experiment through its
//! driver (`biaslens_experiment::drive`, one unit of φ and seed at a time), and renders plain
//! state. No
//! network request leaves the page; all compute happens in this tab. `?selftest` shows the
//! device self-test instead of the explorer.

mod device;
mod explorer;
mod pace;
mod selftest;
mod widgets;

fn main() {
    console_error_panic_hook::set_once();
    pace::install();
    let search = web_sys::window().and_then(|w| w.location().search().ok()).unwrap_or_default();
    if search.contains("selftest") {
        leptos::mount::mount_to_body(selftest::SelfTest);
    } else {
        leptos::mount::mount_to_body(explorer::App);
    }
}
