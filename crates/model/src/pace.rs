//! Cooperative pacing: a place where long computations give their host a turn.
//!
//! The training loop, the debiasing methods and the experiment runner call [`yield_now`] once per
//! batch, right after the batch's single read-back. Natively nothing is installed and the call
//! returns at once. In a browser tab the page installs a [`Yielder`] that resolves on the next
//! macrotask (a `MessageChannel` message), so the page repaints, reacts to clicks and sees a
//! cancel request between batches even on the CPU backend, where `Transaction::execute_async`
//! resolves without ever returning to the event loop.
//!
//! This crate knows nothing of the web: the yielder is a plain function pointer returning a
//! future, installed once by whoever hosts the computation.

use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;

/// A function returning a future that completes once the host has had a turn.
pub type Yielder = fn() -> Pin<Box<dyn Future<Output = ()>>>;

static YIELDER: OnceLock<Yielder> = OnceLock::new();

/// Installs the host's yielder; returns `false` (and keeps the first) if one was already set.
pub fn set_yielder(yielder: Yielder) -> bool {
    YIELDER.set(yielder).is_ok()
}

/// Gives the host a turn if it installed a yielder; otherwise completes at once.
pub async fn yield_now() {
    if let Some(y) = YIELDER.get() {
        y().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    static CALLS: AtomicUsize = AtomicUsize::new(0);

    fn counting() -> Pin<Box<dyn Future<Output = ()>>> {
        CALLS.fetch_add(1, Ordering::SeqCst);
        Box::pin(async {})
    }

    #[test]
    fn installed_yielder_runs_on_every_call_and_only_the_first_is_kept() {
        pollster::block_on(yield_now());
        assert_eq!(CALLS.load(Ordering::SeqCst), 0, "no yielder installed yet");
        assert!(set_yielder(counting));
        assert!(!set_yielder(counting), "a second install is refused");
        pollster::block_on(yield_now());
        pollster::block_on(yield_now());
        assert_eq!(CALLS.load(Ordering::SeqCst), 2);
    }
}
