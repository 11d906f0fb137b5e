//! Pipelines shared by the page, the CLI and the tests: the same code on every device.
//!
//! Today: [`selftest`], the end-to-end device check (synthetic images → small CNN → gradient ×
//! input → fraction of |saliency| in the necktie box). The paper's full experiment runner
//! (splits → train → debias → explain → metrics) lands here next.

pub mod selftest;

pub use selftest::{SelfTestConfig, SelfTestError, SelfTestReport, run_selftest};
