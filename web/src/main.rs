//! The biaslens page (Leptos 0.8, client-side rendered).
//!
//! Thin shell: it picks a device, calls the library's async pipelines and renders plain state.
//! No network request leaves the page; all compute happens in this tab.

mod device;
mod view;

fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(view::App);
}
