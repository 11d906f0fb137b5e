//! Helpers shared by the methods: batches from plain data, seeded orders, asynchronous
//! read-back.

use biaslens_rng::SplitMix64;
use biaslens_model::host::HostError;
use biaslens_model::host_train::HostTrainer;
use biaslens_model::readback::read_all;
use biaslens_model::ResNet;
use burn::prelude::*;

use crate::{DebiasData, DebiasError};

/// Fisher–Yates permutation of `0..n` (the same draw as `biaslens_model::train`).
pub(crate) fn permutation(n: usize, rng: &mut SplitMix64) -> Vec<usize> {
    let mut p: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        p.swap(i, j);
    }
    p
}

/// Endless shuffled batches of exactly `batch` indices (a new permutation whenever one runs
/// out), like iterating a shuffled loader again and again without a ragged last batch.
pub(crate) struct BatchCycle {
    n: usize,
    batch: usize,
    order: Vec<usize>,
    pos: usize,
    rng: SplitMix64,
}

impl BatchCycle {
    pub(crate) fn new(n: usize, batch: usize, seed: u64) -> Self {
        let mut rng = SplitMix64::new(seed);
        let order = permutation(n, &mut rng);
        Self {
            n,
            batch: batch.min(n).max(1),
            order,
            pos: 0,
            rng,
        }
    }

    pub(crate) fn next_batch(&mut self) -> Vec<usize> {
        let mut out = Vec::with_capacity(self.batch);
        while out.len() < self.batch {
            if self.pos == self.n {
                self.order = permutation(self.n, &mut self.rng);
                self.pos = 0;
            }
            out.push(self.order[self.pos]);
            self.pos += 1;
        }
        out
    }
}

/// One batch of images and labels on `device`.
pub(crate) struct Batch {
    /// `[B, C, H, W]`.
    pub x: Tensor<4>,
    /// `[B]` targets.
    pub y: Tensor<1, Int>,
    /// `[B]` protected attribute.
    pub a: Tensor<1, Int>,
    /// Targets on the host.
    pub y_host: Vec<i64>,
    /// Protected attribute on the host.
    pub a_host: Vec<i64>,
    /// The images on the host, `[B, C, H, W]` row-major (for training on host memory).
    pub pixels: Vec<f32>,
    /// `[B, C, H, W]`.
    pub dims: [usize; 4],
}

pub(crate) fn batch(data: &DebiasData<'_>, idx: &[usize], device: &Device) -> Batch {
    let per = data.per_image();
    let b = idx.len();
    let mut pixels = Vec::with_capacity(b * per);
    let mut y_host = Vec::with_capacity(b);
    let mut a_host = Vec::with_capacity(b);
    for &i in idx {
        pixels.extend_from_slice(&data.pixels[i * per..(i + 1) * per]);
        y_host.push(i64::from(data.targets[i]));
        a_host.push(i64::from(data.attribute[i]));
    }
    let [c, h, w] = data.image;
    Batch {
        x: Tensor::from_data(TensorData::new(pixels.clone(), [b, c, h, w]), device),
        y: Tensor::from_data(TensorData::new(y_host.clone(), [b]), device),
        a: Tensor::from_data(TensorData::new(a_host.clone(), [b]), device),
        y_host,
        a_host,
        pixels,
        dims: [b, c, h, w],
    }
}

/// The network's trainer on host memory when `device` is the CPU and the host kernels cover
/// the network (docs/METHODS.md#training, "On the CPU"); `None` otherwise (burn's autodiff).
pub(crate) fn host_trainer(model: &ResNet, device: &Device) -> Result<Option<HostTrainer>, DebiasError> {
    if !biaslens_model::host_train::applies(device) {
        return Ok(None);
    }
    HostTrainer::new(model, biaslens_model::TORCH_ADAM_EPSILON).map_err(host_error)
}

/// A host-memory error as the methods report it.
pub(crate) fn host_error(e: HostError) -> DebiasError {
    DebiasError::Train(e.into())
}

/// Reads float tensors back in one asynchronous transaction, flattened, as `f32`
/// (`biaslens_model::readback`).
pub(crate) async fn read_back<const D: usize>(tensors: Vec<Tensor<D>>) -> Result<Vec<Vec<f32>>, DebiasError> {
    Ok(read_all(tensors).await?)
}

/// Reads scalars (`[1]` tensors) back in one transaction.
pub(crate) async fn read_scalars(tensors: Vec<Tensor<1>>) -> Result<Vec<f32>, DebiasError> {
    read_back(tensors)
        .await?
        .into_iter()
        .map(|v| v.first().copied().ok_or_else(|| DebiasError::Readback("empty scalar".into())))
        .collect()
}

/// `U(−k, k)` values with `k = 1/√fan_in` (PyTorch's default for `Linear` and `Conv2d`), from
/// the seeded generator.
pub(crate) fn uniform_init(len: usize, fan_in: usize, rng: &mut SplitMix64) -> Vec<f32> {
    let k = 1.0 / (fan_in.max(1) as f64).sqrt();
    (0..len).map(|_| rng.uniform(-k, k) as f32).collect()
}

/// An inverted-dropout mask (`0` or `1/(1−p)`) drawn from the seeded generator.
///
/// # Shapes
/// returns `[rows, cols]`.
pub(crate) fn dropout_mask(
    rows: usize,
    cols: usize,
    p: f64,
    rng: &mut SplitMix64,
    device: &Device,
) -> Tensor<2> {
    let keep = (1.0 / (1.0 - p)) as f32;
    let v: Vec<f32> = (0..rows * cols)
        .map(|_| if rng.bernoulli(p) { 0.0 } else { keep })
        .collect();
    Tensor::from_data(TensorData::new(v, [rows, cols]), device)
}

/// Whether a run should stop; turns `should_stop` into an error.
pub(crate) fn check_stop(should_stop: &impl Fn() -> bool) -> Result<(), DebiasError> {
    if should_stop() {
        Err(DebiasError::Cancelled)
    } else {
        Ok(())
    }
}
