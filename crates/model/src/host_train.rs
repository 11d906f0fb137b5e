//! Training a [`ResNet`] on host memory on the CPU (docs/METHODS.md#training, "On the CPU"):
//! the training step of [`crate::train`] — forward pass with BatchNorm on the batch's statistics,
//! cross-entropy (or any loss whose gradient at the logits the caller gives), backward pass to
//! every parameter, Adam — with every convolution one matrix product over the whole batch
//! ([`crate::host`]), where burn's CPU backend convolves image by image and records an autodiff
//! tape.
//!
//! Each formula is burn's, term for term, so a step equals burn's to float32 summation order
//! (`tests/host_train_equal.rs` checks one step's gradients, running statistics and updated
//! parameters against burn's autodiff, and a whole run's loss curve):
//! - BatchNorm (training): `x̂ = (y − μ_B)/√(σ²_B + ε)`, `γ·x̂ + β`, with the batch mean and
//!   **biased** variance; running statistics `(1 − m)·r + m·s` with the biased variance too
//!   (burn's `batch_norm_train`; PyTorch keeps the unbiased one, docs/METHODS.md#training).
//!   Backward: `dβ = Σg`, `dγ = Σ g·x̂`, `dy = γ/√(σ²_B+ε) · (g − mean(g) − x̂·mean(g·x̂))`.
//! - Convolution: the weight's gradient `dy · im2col(x)ᵀ` ([`Geometry::weight_grad`]), the
//!   input's the transposed convolution (skipped for the stem, whose input is the image).
//! - ReLU: no gradient where the output is ≤ 0; max pool: to the window's first maximum;
//!   average pool and `fc` as linear maps.
//! - Adam (burn's `AdaptiveMomentum`, β₁ = 0.9, β₂ = 0.999, ε as given):
//!   `θ ← θ − lr · m·√(1−β₂ᵗ)/(1−β₁ᵗ) / (√v + ε·√(1−β₂ᵗ))`.
//!
//! Covers the networks [`ResNetConfig`](crate::ResNetConfig) builds (bias-free, ungrouped,
//! undilated convolutions with symmetric padding; a floor-mode max pool); anything else returns
//! `None` from [`HostTrainer::new`] and trains through burn.

use burn::nn::conv::Conv2d;
use burn::nn::BatchNorm;
use burn::prelude::*;

use crate::host::{
    ELEMENTWISE, Geometry, HostBn, HostError, HostPool, Maps, Mat, Pool, add_into, for_chunks, matmul, read as host,
    symmetric,
};
use crate::resnet::{Block, ResNet};

thread_local! {
    static ON_AUTODIFF: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f` with every training step on this thread kept on burn's autodiff, as on a GPU: for
/// comparing the two paths (tests, benchmarks) on the same CPU device.
pub fn on_autodiff<T>(f: impl FnOnce() -> T) -> T {
    let before = ON_AUTODIFF.with(|c| c.replace(true));
    let out = f();
    ON_AUTODIFF.with(|c| c.set(before));
    out
}

/// Whether training on host memory may run on `device`: a CPU device, outside [`on_autodiff`].
pub fn applies(device: &Device) -> bool {
    crate::host::is_cpu(device) && !ON_AUTODIFF.with(std::cell::Cell::get)
}

/// A convolution and the BatchNorm after it, in training mode, with the gradients of the last
/// backward pass.
#[derive(Debug, Clone)]
struct TrainLayer {
    geometry: Geometry,
    /// `[C_out, C_in·kh·kw]`.
    weight: Vec<f32>,
    gamma: Vec<f32>,
    beta: Vec<f32>,
    running_mean: Vec<f32>,
    running_var: Vec<f32>,
    momentum: f32,
    epsilon: f32,
    d_weight: Vec<f32>,
    d_gamma: Vec<f32>,
    d_beta: Vec<f32>,
}

/// What a layer's forward pass keeps: the normalised convolution output `x̂` and `1/√(σ²_B+ε)`.
struct LayerTape {
    xhat: Maps,
    inv_std: Vec<f32>,
}

/// Per channel (a `plane`-long row of `data`), the mean of `f(i, value)` in float64.
fn channel_means(data: &[f32], plane: usize, f: impl Fn(usize, f32) -> f64) -> Vec<f64> {
    data.chunks(plane.max(1))
        .enumerate()
        .map(|(c, row)| row.iter().map(|&v| f(c, v)).sum::<f64>() / plane.max(1) as f64)
        .collect()
}

impl TrainLayer {
    /// `None` for a convolution the host kernels do not cover.
    fn of(conv: &Conv2d, bn: &BatchNorm) -> Result<Option<Self>, HostError> {
        let Some(pad) = symmetric(&conv.padding) else { return Ok(None) };
        if conv.bias.is_some() || conv.groups != 1 || conv.dilation != [1, 1] {
            return Ok(None);
        }
        let weight = conv.weight.val();
        let [c_out, c_in, kh, kw] = weight.dims();
        let geometry = Geometry { c_in, c_out, k: [kh, kw], stride: conv.stride, pad };
        Ok(Some(Self {
            geometry,
            weight: host(weight)?,
            gamma: host(bn.gamma.val())?,
            beta: host(bn.beta.val())?,
            running_mean: host(bn.running_mean.value())?,
            running_var: host(bn.running_var.value())?,
            momentum: bn.momentum as f32,
            epsilon: bn.epsilon as f32,
            d_weight: Vec::new(),
            d_gamma: Vec::new(),
            d_beta: Vec::new(),
        }))
    }

    /// Convolution, BatchNorm on the batch's statistics (the running ones take `updates`
    /// momentum updates with them: one per forward pass burn would have run), and with `relu`
    /// the ReLU.
    ///
    /// # Shapes
    /// `x`: `[C_in, N, H, W]` → `[C_out, N, h, w]`.
    fn forward(&mut self, x: &Maps, relu: bool, updates: usize, pool: &mut Pool) -> Result<(Maps, LayerTape), HostError> {
        let mut xhat = self.geometry.conv(&self.weight, x, pool)?;
        let plane = xhat.plane();
        let mean = channel_means(&xhat.data, plane, |_, v| f64::from(v));
        let mean32: Vec<f32> = mean.iter().map(|&m| m as f32).collect();
        let var = channel_means(&xhat.data, plane, |c, v| {
            let d = f64::from(v - mean32[c]);
            d * d
        });
        let var32: Vec<f32> = var.iter().map(|&v| v as f32).collect();
        let std: Vec<f32> = var32.iter().map(|&v| (v + self.epsilon).sqrt()).collect();
        let m = self.momentum;
        for _ in 0..updates {
            for c in 0..self.geometry.c_out {
                self.running_mean[c] = self.running_mean[c] * (1.0 - m) + mean32[c] * m;
                self.running_var[c] = self.running_var[c] * (1.0 - m) + var32[c] * m;
            }
        }
        for_chunks(&mut xhat.data, plane, |c, row| {
            for v in row.iter_mut() {
                *v = (*v - mean32[c]) / std[c];
            }
        });
        let mut out = pool.dirty(xhat.c, xhat.n, xhat.h, xhat.w);
        let (gamma, beta) = (&self.gamma, &self.beta);
        for_chunks(&mut out.data, plane, |c, row| {
            for (o, &v) in row.iter_mut().zip(&xhat.data[c * plane..]) {
                let y = v * gamma[c] + beta[c];
                *o = if relu { y.max(0.0) } else { y };
            }
        });
        let inv_std = std.iter().map(|s| 1.0 / s).collect();
        Ok((out, LayerTape { xhat, inv_std }))
    }

    /// Convolution, BatchNorm on the running statistics (evaluation mode), and with `relu` the
    /// ReLU, in burn's order of operations.
    fn forward_eval(&self, x: &Maps, relu: bool, pool: &mut Pool) -> Result<Maps, HostError> {
        let mut out = self.geometry.conv(&self.weight, x, pool)?;
        let std: Vec<f32> = self.running_var.iter().map(|&v| (v + self.epsilon).sqrt()).collect();
        let bn = HostBn { gamma: self.gamma.clone(), beta: self.beta.clone(), mean: self.running_mean.clone(), std };
        out.bias_bn_relu(None, Some(&bn), relu);
        Ok(out)
    }

    /// Stores the gradients of the weight, γ and β for the gradient `g` at the layer's
    /// BatchNorm output (ReLU already applied by the caller), and with `input_grad` returns the
    /// gradient at its input `x`.
    fn backward(
        &mut self,
        g: &Maps,
        tape: &LayerTape,
        x: &Maps,
        input_grad: bool,
        pool: &mut Pool,
    ) -> Result<Option<Maps>, HostError> {
        let plane = g.plane();
        let xhat = &tape.xhat;
        let mean_g = channel_means(&g.data, plane, |_, v| f64::from(v));
        let mean_gx = {
            let rows = g.data.chunks(plane.max(1)).zip(xhat.data.chunks(plane.max(1)));
            rows.map(|(a, b)| a.iter().zip(b).map(|(&a, &b)| f64::from(a * b)).sum::<f64>() / plane.max(1) as f64)
                .collect::<Vec<f64>>()
        };
        self.d_beta = mean_g.iter().map(|&m| (m * plane as f64) as f32).collect();
        self.d_gamma = mean_gx.iter().map(|&m| (m * plane as f64) as f32).collect();
        let (mg, mgx): (Vec<f32>, Vec<f32>) = (mean_g.iter().map(|&v| v as f32).collect(), mean_gx.iter().map(|&v| v as f32).collect());
        let mut dy = pool.dirty(g.c, g.n, g.h, g.w);
        let (gamma, inv_std) = (&self.gamma, &tape.inv_std);
        for_chunks(&mut dy.data, plane, |c, row| {
            let scale = gamma[c] * inv_std[c];
            let (gs, xs) = (&g.data[c * plane..], &xhat.data[c * plane..]);
            for ((d, &gv), &xv) in row.iter_mut().zip(gs).zip(xs) {
                *d = scale * ((gv - mg[c]) - xv * mgx[c]);
            }
        });
        self.d_weight = self.geometry.weight_grad(&dy, x, pool)?;
        let dx = input_grad.then(|| {
            let adjoint = self.geometry.adjoint(&self.weight);
            self.geometry.input_grad(&self.weight, adjoint.as_ref(), &dy, [x.h, x.w], pool)
        });
        pool.give(dy);
        Ok(dx)
    }

    /// (parameter, its gradient) pairs: weight, γ, β.
    fn params(&mut self) -> [(&mut Vec<f32>, &mut Vec<f32>); 3] {
        let Self { weight, gamma, beta, d_weight, d_gamma, d_beta, .. } = self;
        [(weight, d_weight), (gamma, d_gamma), (beta, d_beta)]
    }

    /// The layer's values written into burn's modules.
    fn write(&self, conv: &mut Conv2d, bn: &mut BatchNorm) {
        let device = conv.weight.val().device();
        let [c_out, c_in, kh, kw] = conv.weight.val().dims();
        let w = Tensor::<4>::from_data(TensorData::new(self.weight.clone(), [c_out, c_in, kh, kw]), &device);
        conv.weight = conv.weight.clone().map(|_| w);
        let vec1 = |v: &Vec<f32>| Tensor::<1>::from_data(TensorData::new(v.clone(), [v.len()]), &device);
        bn.gamma = bn.gamma.clone().map(|_| vec1(&self.gamma));
        bn.beta = bn.beta.clone().map(|_| vec1(&self.beta));
        // `update` records the value for this thread; `value_sync` makes it the state's value.
        bn.running_mean.update(vec1(&self.running_mean));
        bn.running_mean.value_sync();
        bn.running_var.update(vec1(&self.running_var));
        bn.running_var.value_sync();
    }
}

/// Zeroes `g` where `out` (a ReLU's output) is ≤ 0, burn's convention at the kink.
fn relu_mask(g: &mut Maps, out: &Maps) {
    for_chunks(&mut g.data, ELEMENTWISE, |i, chunk| {
        for (v, &o) in chunk.iter_mut().zip(&out.data[i * ELEMENTWISE..]) {
            if o <= 0.0 {
                *v = 0.0;
            }
        }
    });
}

/// One residual block in training mode.
#[derive(Debug, Clone)]
struct TrainBlock {
    layers: Vec<TrainLayer>,
    downsample: Option<TrainLayer>,
}

/// What a block's forward pass keeps: the main branch's activations after each ReLU (the
/// inputs of layers `1..`), the layers' tapes, the shortcut's tape.
struct BlockTape {
    acts: Vec<Maps>,
    tapes: Vec<LayerTape>,
    shortcut: Option<LayerTape>,
}

impl BlockTape {
    fn release(self, pool: &mut Pool) {
        for a in self.acts {
            pool.give(a);
        }
        for t in self.tapes.into_iter().chain(self.shortcut) {
            pool.give(t.xhat);
        }
    }
}

impl TrainBlock {
    fn of(block: &Block) -> Result<Option<Self>, HostError> {
        let (pairs, ds) = block.layers();
        let mut layers = Vec::new();
        for (c, bn) in pairs {
            let Some(l) = TrainLayer::of(c, bn)? else { return Ok(None) };
            layers.push(l);
        }
        let downsample = match ds {
            Some(d) => match TrainLayer::of(&d.conv, &d.bn)? {
                Some(l) => Some(l),
                None => return Ok(None),
            },
            None => None,
        };
        Ok(Some(Self { layers, downsample }))
    }

    /// With `updates` > 0, training mode (batch statistics, `updates` momentum updates of the
    /// running ones) and the tape; with 0, evaluation mode and no tape.
    ///
    /// # Shapes
    /// `[C_in, N, H, W]` → `[C_out, N, h, w]` (after the residual sum and its ReLU).
    fn forward(&mut self, x: &Maps, updates: usize, pool: &mut Pool) -> Result<(Maps, Option<BlockTape>), HostError> {
        let last = self.layers.len() - 1;
        let train = updates > 0;
        let mut acts: Vec<Maps> = Vec::with_capacity(last);
        let mut tapes = Vec::with_capacity(last + 1);
        let mut main = None;
        for (u, layer) in self.layers.iter_mut().enumerate() {
            let input = acts.last().unwrap_or(x);
            let out = if train {
                let (out, tape) = layer.forward(input, u < last, updates, pool)?;
                tapes.push(tape);
                out
            } else {
                layer.forward_eval(input, u < last, pool)?
            };
            if u < last {
                acts.push(out);
            } else {
                main = Some(out);
            }
        }
        let Some(mut out) = main else {
            return Err(HostError("a residual block without layers".into()));
        };
        let (identity, shortcut) = match self.downsample.as_mut() {
            Some(d) if train => {
                let (o, t) = d.forward(x, false, updates, pool)?;
                (Some(o), Some(t))
            }
            Some(d) => (Some(d.forward_eval(x, false, pool)?), None),
            None => (None, None),
        };
        let id = identity.as_ref().unwrap_or(x);
        if id.data.len() != out.data.len() {
            return Err(HostError("a residual block's shortcut and main branch differ in shape".into()));
        }
        for_chunks(&mut out.data, ELEMENTWISE, |c, chunk| {
            for (o, i) in chunk.iter_mut().zip(&id.data[c * ELEMENTWISE..]) {
                *o = (*o + i).max(0.0);
            }
        });
        if let Some(i) = identity {
            pool.give(i);
        }
        if !train {
            for a in acts {
                pool.give(a);
            }
            return Ok((out, None));
        }
        Ok((out, Some(BlockTape { acts, tapes, shortcut })))
    }

    /// The gradient at the block's input `x` for the gradient `g` at its output `out`; stores
    /// every layer's parameter gradients. The tape stays for another backward pass.
    fn backward(&mut self, mut g: Maps, out: &Maps, tape: &BlockTape, x: &Maps, pool: &mut Pool) -> Result<Maps, HostError> {
        let lost = || HostError("a residual block's backward pass lost its tape".into());
        relu_mask(&mut g, out);
        let BlockTape { acts, tapes, shortcut } = tape;
        // The shortcut's gradient: through the projection, else `g` itself.
        let short = match (self.downsample.as_mut(), shortcut) {
            (Some(d), Some(t)) => d.backward(&g, t, x, true, pool)?,
            _ => None,
        };
        let mut gb: Option<Maps> = None;
        for u in (0..self.layers.len()).rev() {
            let t = tapes.get(u).ok_or_else(lost)?;
            let input = if u == 0 { x } else { &acts[u - 1] };
            let mut dx = self.layers[u].backward(gb.as_ref().unwrap_or(&g), t, input, true, pool)?.ok_or_else(lost)?;
            if u > 0 {
                relu_mask(&mut dx, &acts[u - 1]);
            }
            if let Some(used) = gb.replace(dx) {
                pool.give(used);
            }
        }
        let mut gb = gb.ok_or_else(lost)?;
        add_into(&mut gb, short.as_ref().unwrap_or(&g));
        if let Some(s) = short {
            pool.give(s);
        }
        pool.give(g);
        Ok(gb)
    }

    fn params(&mut self) -> Vec<(&mut Vec<f32>, &mut Vec<f32>)> {
        let mut v = Vec::new();
        for l in &mut self.layers {
            v.extend(l.params());
        }
        if let Some(d) = &mut self.downsample {
            v.extend(d.params());
        }
        v
    }

    fn write(&self, block: &mut Block) {
        let (pairs, ds) = block.layers_mut();
        for ((conv, bn), l) in pairs.into_iter().zip(&self.layers) {
            l.write(conv, bn);
        }
        if let (Some(d), Some(l)) = (ds, &self.downsample) {
            l.write(&mut d.conv, &mut d.bn);
        }
    }
}


/// What a training-mode forward pass keeps for its backward passes.
struct NetTape {
    x: Maps,
    /// After the stem's ReLU, before the max pool.
    stem_out: Maps,
    stem_tape: LayerTape,
    arg: Vec<u32>,
    /// The max pool's output, then every block's.
    outs: Vec<Maps>,
    tapes: Vec<BlockTape>,
    /// The pooled features, `[F, B]`.
    feats: Vec<f32>,
}

impl NetTape {
    fn release(self, pool: &mut Pool) {
        for o in self.outs.into_iter().chain([self.x, self.stem_out, self.stem_tape.xhat]) {
            pool.give(o);
        }
        for t in self.tapes {
            t.release(pool);
        }
    }
}

/// Adam's moments of one parameter.
#[derive(Debug, Clone, Default)]
struct Moments {
    m: Vec<f32>,
    v: Vec<f32>,
}

/// A [`ResNet`]'s parameters, running statistics and Adam state in host memory, trained a step
/// at a time with [`HostTrainer::step`] and written back with [`HostTrainer::write`].
#[derive(Debug)]
pub struct HostTrainer {
    stem: TrainLayer,
    pool: HostPool,
    stages: Vec<Vec<TrainBlock>>,
    /// `[F, K]` (burn's `[in, out]`).
    fc_weight: Vec<f32>,
    fc_bias: Option<Vec<f32>>,
    d_fc_weight: Vec<f32>,
    d_fc_bias: Vec<f32>,
    features: usize,
    classes: usize,
    epsilon: f32,
    moments: Vec<Moments>,
    time: i32,
    buffers: Pool,
}

/// What one step returns.
#[derive(Debug, Clone, PartialEq)]
pub struct HostStep {
    /// The batch's logits before the update, `[B, K]` row-major.
    pub logits: Vec<f32>,
}

impl HostTrainer {
    /// The trainer of `model` (its values are copied), with Adam's `epsilon`; `None` for a
    /// network the host kernels do not cover (see the module header), which trains through burn.
    ///
    /// # Errors
    /// [`HostError`] if a parameter cannot be read into host memory.
    pub fn new(model: &ResNet, epsilon: f32) -> Result<Option<Self>, HostError> {
        let mp = &model.maxpool;
        let Some(pad) = symmetric(&mp.padding) else { return Ok(None) };
        if mp.ceil_mode {
            return Ok(None);
        }
        let Some(stem) = TrainLayer::of(&model.conv1, &model.bn1)? else { return Ok(None) };
        let mut stages = Vec::new();
        for stage in model.stages() {
            let mut blocks = Vec::new();
            for b in stage {
                let Some(tb) = TrainBlock::of(b)? else { return Ok(None) };
                blocks.push(tb);
            }
            stages.push(blocks);
        }
        let fc_w = model.fc.weight.val();
        let [features, classes] = fc_w.dims();
        Ok(Some(Self {
            stem,
            pool: HostPool { k: mp.kernel_size, stride: mp.stride, pad, dilation: mp.dilation },
            stages,
            fc_weight: host(fc_w)?,
            fc_bias: model.fc.bias.as_ref().map(|b| host(b.val())).transpose()?,
            d_fc_weight: Vec::new(),
            d_fc_bias: Vec::new(),
            features,
            classes,
            epsilon,
            moments: Vec::new(),
            time: 0,
            buffers: Pool::default(),
        }))
    }

    /// Classes of the network.
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// An error unless `pixels` are images of shape `dims` the network takes.
    fn check(&self, pixels: &[f32], dims: [usize; 4]) -> Result<(), HostError> {
        let [n, c, h, w] = dims;
        if pixels.len() != n * c * h * w || c != self.stem.geometry.c_in || n == 0 {
            return Err(HostError(format!(
                "{} values do not make images of shape {dims:?} for a network taking {} channels",
                pixels.len(),
                self.stem.geometry.c_in
            )));
        }
        Ok(())
    }

    /// Runs `f` with the trainer's buffers.
    fn with_pool<T>(&mut self, f: impl FnOnce(&mut Self, &mut Pool) -> T) -> T {
        let mut pool = std::mem::take(&mut self.buffers);
        let out = f(self, &mut pool);
        self.buffers = pool;
        out
    }

    /// The logits (`[B, K]` row-major) of the images `pixels` (`[B, C, H, W]` row-major) in
    /// evaluation mode (BatchNorm on the running statistics), as burn's `model.valid().forward`.
    ///
    /// # Errors
    /// [`HostError`] for images that do not fit the network.
    pub fn logits(&mut self, pixels: &[f32], dims: [usize; 4]) -> Result<Vec<f32>, HostError> {
        self.check(pixels, dims)?;
        self.with_pool(|t, pool| Ok(t.forward(pixels, dims, 0, pool)?.0))
    }

    /// One training step on the images `pixels` (`[B, C, H, W]` row-major): the forward pass
    /// with BatchNorm on the batch's statistics (which updates the running ones), `loss_grad`'s
    /// gradient of the loss at the logits (`[B, K]` in, `[B, K]` out), the backward pass, and
    /// an Adam update with learning rate `lr`. Returns the logits before the update.
    ///
    /// # Errors
    /// [`HostError`] for images that do not fit the network or a gradient of the wrong size;
    /// the parameters are then unchanged (the running statistics may have moved).
    pub fn step(
        &mut self,
        pixels: &[f32],
        dims: [usize; 4],
        lr: f64,
        loss_grad: impl FnOnce(&[f32]) -> Vec<f32>,
    ) -> Result<HostStep, HostError> {
        self.check(pixels, dims)?;
        self.with_pool(|t, pool| {
            let (logits, tape) = t.forward(pixels, dims, 1, pool)?;
            let tape = tape.ok_or_else(|| HostError("the forward pass kept no tape".into()))?;
            let g = loss_grad(&logits);
            let done = t.backward(&tape, &g, pool);
            tape.release(pool);
            done?;
            t.adam(lr);
            Ok(HostStep { logits })
        })
    }

    /// A step on two losses, as ZhangAL's network step: burn runs the forward pass once per
    /// loss (so the running statistics take two momentum updates, which this step applies to its
    /// one forward pass), `grads` gives both losses' gradients at the logits, each parameter's
    /// two gradients go through `combine` (`(first, second) → used`), then Adam. Returns the
    /// logits before the update.
    ///
    /// # Errors
    /// [`HostError`] for images that do not fit the network, gradients of the wrong size, or
    /// an error from `grads`.
    pub fn step_two_losses(
        &mut self,
        pixels: &[f32],
        dims: [usize; 4],
        lr: f64,
        grads: impl FnOnce(&[f32]) -> Result<(Vec<f32>, Vec<f32>), HostError>,
        combine: impl Fn(&[f32], &[f32]) -> Vec<f32>,
    ) -> Result<HostStep, HostError> {
        self.check(pixels, dims)?;
        self.with_pool(|t, pool| {
            let (logits, tape) = t.forward(pixels, dims, 2, pool)?;
            let tape = tape.ok_or_else(|| HostError("the forward pass kept no tape".into()))?;
            let done = grads(&logits).and_then(|(g1, g2)| {
                t.backward(&tape, &g1, pool)?;
                let first = t.gradients();
                t.backward(&tape, &g2, pool)?;
                for ((_, g), a) in t.params().into_iter().zip(&first) {
                    let used = combine(a, g);
                    *g = used;
                }
                Ok(())
            });
            tape.release(pool);
            done?;
            t.adam(lr);
            Ok(HostStep { logits })
        })
    }

    /// The forward pass: with `updates` > 0 in training mode (and the tape), else in evaluation
    /// mode. Returns the logits `[B, K]`.
    fn forward(
        &mut self,
        pixels: &[f32],
        dims: [usize; 4],
        updates: usize,
        pool: &mut Pool,
    ) -> Result<(Vec<f32>, Option<NetTape>), HostError> {
        let x = Maps::from_nchw(pixels, dims);
        let train = updates > 0;
        let (stem_out, stem_tape) = if train {
            let (o, t) = self.stem.forward(&x, true, updates, pool)?;
            (o, Some(t))
        } else {
            (self.stem.forward_eval(&x, true, pool)?, None)
        };
        let (pooled, arg) = self.pool.forward(&stem_out, pool)?;
        let mut outs = vec![pooled];
        let mut tapes = Vec::new();
        for stage in &mut self.stages {
            for block in stage {
                let input = outs.last().unwrap_or(&stem_out);
                let (o, t) = block.forward(input, updates, pool)?;
                if train {
                    outs.push(o);
                    tapes.extend(t);
                } else if let Some(previous) = outs.last_mut() {
                    // Evaluation keeps only the latest maps.
                    pool.give(std::mem::replace(previous, o));
                }
            }
        }
        let last = outs.last().unwrap_or(&stem_out);
        if last.c != self.features {
            return Err(HostError(format!("the last stage has {} channels; fc takes {}", last.c, self.features)));
        }
        let (n, k, f) = (last.n, self.classes, self.features);
        let feats = last.plane_means();
        let mut logits = vec![0.0f32; n * k];
        matmul(n, k, f, &mut logits, k, Mat { data: &feats, rs: 1, cs: n }, Mat { data: &self.fc_weight, rs: k, cs: 1 });
        if let Some(b) = &self.fc_bias {
            for row in logits.chunks_mut(k) {
                row.iter_mut().zip(b).for_each(|(v, b)| *v += b);
            }
        }
        let Some(stem_tape) = stem_tape else {
            for o in outs {
                pool.give(o);
            }
            pool.give(stem_out);
            return Ok((logits, None));
        };
        Ok((logits, Some(NetTape { x, stem_out, stem_tape, arg, outs, tapes, feats })))
    }

    /// Every parameter's gradient for the gradient `g` (`[B, K]`) at the logits of the pass
    /// `tape` recorded, stored in the layers.
    fn backward(&mut self, tape: &NetTape, g: &[f32], pool: &mut Pool) -> Result<(), HostError> {
        let NetTape { x, stem_out, stem_tape, arg, outs, tapes, feats } = tape;
        let (k, f) = (self.classes, self.features);
        let n = x.n;
        if g.len() != n * k {
            return Err(HostError(format!("the loss gradient has {} values; the logits are [{n}, {k}]", g.len())));
        }
        let Some(last) = outs.last() else {
            return Err(HostError("the forward pass kept no feature maps".into()));
        };
        // fc and the average pool.
        self.d_fc_weight = vec![0.0; f * k];
        matmul(f, k, n, &mut self.d_fc_weight, k, Mat { data: feats, rs: n, cs: 1 }, Mat { data: g, rs: k, cs: 1 });
        self.d_fc_bias = (0..k).map(|j| (0..n).map(|i| g[i * k + j]).sum()).collect();
        let mut gf = vec![0.0f32; n * f];
        matmul(n, f, k, &mut gf, f, Mat { data: g, rs: k, cs: 1 }, Mat { data: &self.fc_weight, rs: 1, cs: k });
        let hw = last.h * last.w;
        let mut gm = pool.dirty(f, n, last.h, last.w);
        for ch in 0..f {
            for b in 0..n {
                let v = gf[b * f + ch] / hw as f32;
                gm.data[(ch * n + b) * hw..(ch * n + b + 1) * hw].fill(v);
            }
        }
        // The blocks, last first: block `i` maps `outs[i]` to `outs[i + 1]`.
        let blocks: Vec<&mut TrainBlock> = self.stages.iter_mut().flatten().collect();
        for (i, block) in blocks.into_iter().enumerate().rev() {
            let (Some(input), Some(out), Some(t)) = (outs.get(i), outs.get(i + 1), tapes.get(i)) else {
                return Err(HostError("the forward pass's tape does not match the network".into()));
            };
            gm = block.backward(gm, out, t, input, pool)?;
        }
        // The max pool, the stem's ReLU, the stem.
        let mut gs = HostPool::backward(&gm, arg, [stem_out.h, stem_out.w], pool);
        pool.give(gm);
        relu_mask(&mut gs, stem_out);
        self.stem.backward(&gs, stem_tape, x, false, pool)?;
        pool.give(gs);
        Ok(())
    }

    /// The gradients of the last step, in the order of the network's parameters: the stem's
    /// convolution weight, γ and β; per block the main branch's layers, then the projection's
    /// (each weight, γ, β); `fc`'s weight (`[F, K]`) and bias. For checks against a reference.
    pub fn gradients(&mut self) -> Vec<Vec<f32>> {
        self.params().into_iter().map(|(_, g)| g.clone()).collect()
    }

    /// Every (parameter, gradient) pair, in a fixed order.
    fn params(&mut self) -> Vec<(&mut Vec<f32>, &mut Vec<f32>)> {
        let mut v: Vec<(&mut Vec<f32>, &mut Vec<f32>)> = self.stem.params().into_iter().collect();
        for stage in &mut self.stages {
            for b in stage {
                v.extend(b.params());
            }
        }
        v.push((&mut self.fc_weight, &mut self.d_fc_weight));
        if let Some(b) = &mut self.fc_bias {
            v.push((b, &mut self.d_fc_bias));
        }
        v
    }

    /// burn's Adam step (`AdaptiveMomentum::transform`, then `θ − lr·update`).
    fn adam(&mut self, lr: f64) {
        self.time += 1;
        let t = self.time;
        let (b1, b2) = (0.9f32, 0.999f32);
        let bc2 = (1.0 - b2.powi(t)).sqrt();
        let factor = bc2 / (1.0 - b1.powi(t));
        let eps = self.epsilon * bc2;
        let lr = lr as f32;
        let mut moments = std::mem::take(&mut self.moments);
        let params = self.params();
        moments.resize(params.len(), Moments::default());
        for ((p, g), mo) in params.into_iter().zip(&mut moments) {
            if mo.m.len() != p.len() {
                mo.m = vec![0.0; p.len()];
                mo.v = vec![0.0; p.len()];
            }
            for (((p, &g), m), v) in p.iter_mut().zip(g.iter()).zip(&mut mo.m).zip(&mut mo.v) {
                *m = *m * b1 + g * (1.0 - b1);
                *v = *v * b2 + g * g * (1.0 - b2);
                let update = (*m * factor) / (v.sqrt() + eps);
                *p -= update * lr;
            }
        }
        self.moments = moments;
    }

    /// `model` with this trainer's parameters and running statistics (its modules keep their
    /// parameter ids).
    pub fn write(&self, mut model: ResNet) -> ResNet {
        self.stem.write(&mut model.conv1, &mut model.bn1);
        for (stage, blocks) in model.stages_mut().into_iter().zip(&self.stages) {
            for (b, tb) in stage.iter_mut().zip(blocks) {
                tb.write(b);
            }
        }
        let device = model.fc.weight.val().device();
        let w = Tensor::<2>::from_data(TensorData::new(self.fc_weight.clone(), [self.features, self.classes]), &device);
        model.fc.weight = model.fc.weight.clone().map(|_| w);
        if let (Some(b), Some(v)) = (model.fc.bias.as_mut(), &self.fc_bias) {
            let t = Tensor::<1>::from_data(TensorData::new(v.clone(), [v.len()]), &device);
            *b = b.clone().map(|_| t);
        }
        model
    }
}

/// Mean cross-entropy of `logits` (`[B, K]` row-major) against `targets`, its gradient at the
/// logits (`(softmax − one-hot)/B`), and how many rows' arg max (the first maximum) is the
/// target.
///
/// # Panics
/// If a target is not below `K` (callers check targets first).
pub fn cross_entropy(logits: &[f32], targets: &[usize], k: usize) -> (f32, Vec<f32>, usize) {
    let b = targets.len();
    let mut grad = vec![0.0f32; logits.len()];
    let mut loss = 0.0f64;
    let mut correct = 0;
    for ((row, g), &t) in logits.chunks_exact(k).zip(grad.chunks_exact_mut(k)).zip(targets) {
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let sum: f32 = row.iter().map(|&v| (v - max).exp()).sum();
        let lse = max + sum.ln();
        loss += f64::from(lse - row[t]);
        for (gv, &v) in g.iter_mut().zip(row) {
            *gv = (v - max).exp() / sum / b as f32;
        }
        g[t] -= 1.0 / b as f32;
        let arg = row.iter().enumerate().fold(0, |best, (i, &v)| if v > row[best] { i } else { best });
        correct += usize::from(arg == t);
    }
    ((loss / b.max(1) as f64) as f32, grad, correct)
}
