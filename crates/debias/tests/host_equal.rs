//! ZhangAL's and SavaniAFT's network steps on host memory (`biaslens_model::host_train`, what
//! the CPU runs) against the same runs kept on burn's autodiff
//! (`biaslens_model::host_train::on_autodiff`), on the shared biased fixture: every step's losses,
//! the critic's, and the fine-tuned network.
//!
//! Tolerances: both paths compute in float32 and differ in summation order only, and the runs
//! are short (8 network steps at lr 10⁻³), so the per-step losses agree to about 1e-5 relative;
//! 1e-3 leaves room for other CPUs' kernels and still fails a wrong gradient (a dropped term of
//! the projection, an unscaled SavaniAFT loss, a single running-statistics update instead of
//! ZhangAL's two all move the losses or the parameters by percent). The parameters are held to
//! 1e-3 relative L2, except that one whose gradient is rounding-sized may differ by up to
//! 2·lr per step (Adam turns a rounding-sized difference in a near-zero gradient into ±lr; the
//! β of a BatchNorm whose output only reaches the loss through another BatchNorm is one).

#![allow(clippy::unwrap_used)]

mod common;

use biaslens_debias::*;
use biaslens_model::ResNet;
use biaslens_model::host_train::on_autodiff;
use burn::module::{ModuleVisitor, Param};
use burn::prelude::*;
use common::fixture;

fn run<T>(f: impl std::future::Future<Output = Result<T, DebiasError>>) -> T {
    pollster::block_on(f).unwrap()
}

/// Every float parameter and running statistic, in module order.
struct Collect(Vec<Vec<f32>>);
impl ModuleVisitor for Collect {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.0.push(param.val().into_data().convert::<f32>().try_into_vec::<f32>().unwrap());
    }
}

fn rel(a: &[f32], b: &[f32]) -> f64 {
    let num: f64 = a.iter().zip(b).map(|(x, y)| f64::from(x - y).powi(2)).sum();
    let den: f64 = b.iter().map(|y| f64::from(*y).powi(2)).sum();
    (num / den.max(1e-30)).sqrt()
}

fn close(a: f32, b: f32, what: &str) {
    assert!((a - b).abs() <= 1e-3 * b.abs().max(1e-3), "{what}: host {a} vs autodiff {b}");
}

/// The networks agree parameter by parameter; `adam_bound` is 2·lr·(network steps).
fn same_network(a: &ResNet, b: &ResNet, what: &str, adam_bound: f32) {
    let (mut ca, mut cb) = (Collect(Vec::new()), Collect(Vec::new()));
    a.visit(&mut ca);
    b.visit(&mut cb);
    assert_eq!(ca.0.len(), cb.0.len());
    for (i, (x, y)) in ca.0.iter().zip(&cb.0).enumerate() {
        let d = rel(x, y);
        // A parameter whose gradient is rounding-sized (β of a BatchNorm before the next block's
        // BatchNorm, which removes a shift) moves by up to ±lr per Adam step on either path.
        let moved = x.iter().zip(y).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        assert!(d < 1e-3 || moved <= adam_bound, "{what}: parameter {i} differs by {d:.2e} relative L2, {moved:.2e} at most");
    }
}

#[test]
fn zhang_al_on_host_follows_autodiff() {
    let f = fixture();
    for projection in [Projection::Unnormalised, Projection::Normalised] {
        let config = ZhangConfig::new()
            .with_batch_size(32)
            .with_model_lr(1e-3)
            .with_iterations(2)
            .with_critic_iterations(3)
            .with_model_iterations(4)
            .with_projection(projection);
        let dev = Device::flex();
        let host = run(zhang_al(f.vanilla.clone(), f.debias.data(), &config, &dev, |_| {}, || false));
        let reference = on_autodiff(|| run(zhang_al(f.vanilla.clone(), f.debias.data(), &config, &dev, |_| {}, || false)));
        assert_eq!(host.model_losses.len(), 8);
        for (i, (h, r)) in host.model_losses.iter().zip(&reference.model_losses).enumerate() {
            close(h.0, r.0, &format!("{projection:?} step {i}: cross-entropy"));
            close(h.1, r.1, &format!("{projection:?} step {i}: adversary's loss"));
        }
        for (i, (h, r)) in host.critic_losses.iter().zip(&reference.critic_losses).enumerate() {
            close(*h, *r, &format!("{projection:?} critic step {i}"));
        }
        same_network(&host.model.model, &reference.model.model, &format!("ZhangAL {projection:?}"), 2.0 * 1e-3 * 8.0);
    }
}

#[test]
fn savani_aft_on_host_follows_autodiff() {
    let f = fixture();
    let config = SavaniConfig::new()
        .with_batch_size(32)
        .with_iterations(2)
        .with_critic_iterations(2)
        .with_model_iterations(4)
        .with_model_lr(1e-3);
    let dev = Device::flex();
    let host = run(savani_aft(f.vanilla.clone(), f.debias.data(), &config, &dev, |_| {}, || false));
    let reference = on_autodiff(|| run(savani_aft(f.vanilla.clone(), f.debias.data(), &config, &dev, |_| {}, || false)));
    assert_eq!(host.model_steps.len(), 8);
    for (i, (h, r)) in host.model_steps.iter().zip(&reference.model_steps).enumerate() {
        assert_eq!(h.0, r.0, "step {i}: the batch's EO gap (argmax predictions)");
        close(h.1, r.1, &format!("step {i}: critic's prediction"));
        close(h.2, r.2, &format!("step {i}: weighted loss"));
    }
    for (i, (h, r)) in host.critic_losses.iter().zip(&reference.critic_losses).enumerate() {
        close(*h, *r, &format!("critic step {i}"));
    }
    same_network(&host.model.model, &reference.model.model, "SavaniAFT", 2.0 * 1e-3 * 8.0);
}
