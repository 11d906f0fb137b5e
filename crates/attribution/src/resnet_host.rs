//! The gradient walk of `resnet_grad.rs` on the CPU, on plain host memory: the same forward pass
//! (convolution, then BatchNorm unmerged, ReLU, max pool, residual sums, average pool, `fc`),
//! the same ReLU masks and max-pool arg maxes, the same backward rules (BatchNorm's scale merged
//! into the transposed convolution's weight), but every convolution of a pass is **one matrix
//! product over all the pass's images** (`docs/METHODS.md#resnet-grad`, "On the CPU"), through
//! the kernels of [`biaslens_model::host`] (channel-major maps, im2col, the transposed
//! convolution, the max pool), which training on the CPU shares.
//!
//! Only the inputs (`[R, 3, H, W]`), the parameters (once per model) and the results cross between
//! burn and host memory, and only on a CPU device, where a read is a copy, never a GPU round trip.
//! The walk's results equal the tensor walk's up to float32 summation order
//! (`tests/resnet_grad_equal.rs`), and the Captum fixtures run through it.

use burn::prelude::*;

use biaslens_model::host::{
    ELEMENTWISE, Geometry, HostBn, HostError, HostPool, Maps, Mat, Pool, add_into, for_chunks, mask, matmul,
};

use crate::AttributionError;
use crate::lrp::resnet::Bn;

impl From<HostError> for AttributionError {
    fn from(e: HostError) -> Self {
        Self::Config(e.0)
    }
}

/// Reads a float tensor of a CPU device into host memory.
pub(crate) fn host<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>, AttributionError> {
    Ok(biaslens_model::host::read(t)?)
}

/// BatchNorm in evaluation mode read into host memory.
pub(crate) fn host_bn(bn: &Bn) -> Result<HostBn, AttributionError> {
    let var = host(bn.var.clone())?;
    let eps = bn.epsilon as f32;
    Ok(HostBn {
        gamma: host(bn.gamma.clone())?,
        beta: host(bn.beta.clone())?,
        mean: host(bn.mean.clone())?,
        std: var.iter().map(|v| (v + eps).sqrt()).collect(),
    })
}

/// A convolution and its BatchNorm, with the backward weight of the pair.
#[derive(Debug, Clone)]
struct HostLayer {
    geometry: Geometry,
    /// `[C_out, C_in·kh·kw]`.
    weight: Vec<f32>,
    bias: Option<Vec<f32>>,
    /// `w·γ/√(σ²+ε)`, `[C_out, C_in·kh·kw]`.
    back: Vec<f32>,
    /// For stride 1, the backward as a forward convolution (an im2col gather instead of a
    /// col2im scatter): [`Geometry::adjoint`] of `back`, made at the first backward pass (a
    /// forward-only walk, `host_logits`, never needs it).
    back_conv: std::sync::OnceLock<Option<(Geometry, Vec<f32>)>>,
    bn: HostBn,
}

impl HostLayer {
    fn of(layer: &crate::resnet_grad::Layer) -> Result<Self, AttributionError> {
        let [c_out, c_in, kh, kw] = layer.conv.weight.dims();
        let bias = match &layer.conv.bias {
            Some(b) => Some(host(b.clone())?),
            None => None,
        };
        Ok(Self::new(
            Geometry { c_in, c_out, k: [kh, kw], stride: layer.conv.stride, pad: layer.conv.padding },
            host(layer.conv.weight.clone())?,
            bias,
            host(layer.back.clone())?,
            host_bn(&layer.bn)?,
        ))
    }

    fn new(geometry: Geometry, weight: Vec<f32>, bias: Option<Vec<f32>>, back: Vec<f32>, bn: HostBn) -> Self {
        Self { geometry, weight, bias, back, back_conv: std::sync::OnceLock::new(), bn }
    }

    /// Convolution, bias, BatchNorm, and with `relu` the ReLU.
    ///
    /// # Shapes
    /// `x`: `[C_in, N, H, W]` → `[C_out, N, h, w]`.
    fn forward(&self, x: &Maps, relu: bool, pool: &mut Pool) -> Result<Maps, AttributionError> {
        let mut out = self.geometry.conv(&self.weight, x, pool)?;
        out.bias_bn_relu(self.bias.as_deref(), Some(&self.bn), relu);
        Ok(out)
    }

    /// The gradient at the layer's input (through BatchNorm and the convolution; the caller
    /// applies ReLU masks).
    ///
    /// # Shapes
    /// `g`: `[C_out, N, h, w]`, `[H, W]` the input's size → `[C_in, N, H, W]`.
    fn backward(&self, g: &Maps, hw: [usize; 2], pool: &mut Pool) -> Maps {
        let adjoint = self.back_conv.get_or_init(|| self.geometry.adjoint(&self.back));
        self.geometry.input_grad(&self.back, adjoint.as_ref(), g, hw, pool)
    }
}

/// One residual block.
#[derive(Debug, Clone)]
struct HostBlock {
    layers: Vec<HostLayer>,
    downsample: Option<HostLayer>,
}

/// What a block's forward pass keeps for its backward pass.
struct BlockTape {
    in_hw: Vec<[usize; 2]>,
    /// After layers `0..last` of the main branch.
    dead: Vec<Vec<bool>>,
    out_dead: Vec<bool>,
}

impl HostBlock {
    fn forward(
        &self,
        x: Maps,
        keep: bool,
        pool: &mut Pool,
    ) -> Result<(Maps, Option<BlockTape>), AttributionError> {
        let mut in_hw = Vec::new();
        let mut dead = Vec::new();
        let last = self.layers.len() - 1;
        let mut a: Option<Maps> = None;
        for (u, layer) in self.layers.iter().enumerate() {
            let input = a.as_ref().unwrap_or(&x);
            if keep {
                in_hw.push([input.h, input.w]);
            }
            let out = layer.forward(input, u < last, pool)?;
            if keep && u < last {
                dead.push(pool.dead(&out));
            }
            if let Some(used) = a.replace(out) {
                pool.give(used);
            }
        }
        let Some(mut out) = a else {
            return Err(AttributionError::Config("a residual block without layers".into()));
        };
        let identity = match &self.downsample {
            Some(d) => {
                let identity = d.forward(&x, false, pool)?;
                pool.give(x);
                identity
            }
            None => x,
        };
        if identity.data.len() != out.data.len() {
            return Err(AttributionError::Config(
                "a residual block's shortcut and main branch differ in shape".into(),
            ));
        }
        for_chunks(&mut out.data, ELEMENTWISE, |c, chunk| {
            for (o, i) in chunk.iter_mut().zip(&identity.data[c * ELEMENTWISE..]) {
                *o = (*o + i).max(0.0);
            }
        });
        pool.give(identity);
        let tape = keep.then(|| BlockTape { in_hw, dead, out_dead: pool.dead(&out) });
        Ok((out, tape))
    }

    fn backward(&self, mut g: Maps, tape: BlockTape, pool: &mut Pool) -> Maps {
        mask(&mut g, &tape.out_dead);
        pool.give_mask(tape.out_dead);
        let shortcut = self.downsample.as_ref().map(|d| d.backward(&g, tape.in_hw[0], pool));
        let mut dead = tape.dead;
        let mut gb: Option<Maps> = None;
        for (u, layer) in self.layers.iter().enumerate().rev() {
            let mut next = layer.backward(gb.as_ref().unwrap_or(&g), tape.in_hw[u], pool);
            if u > 0
                && let Some(m) = dead.pop()
            {
                mask(&mut next, &m);
                pool.give_mask(m);
            }
            if let Some(used) = gb.replace(next) {
                pool.give(used);
            }
        }
        let Some(mut gb) = gb else {
            return g;
        };
        add_into(&mut gb, shortcut.as_ref().unwrap_or(&g));
        if let Some(short) = shortcut {
            pool.give(short);
        }
        pool.give(g);
        gb
    }
}

/// What the whole forward pass keeps.
struct Tape {
    x_hw: [usize; 2],
    pre_pool_hw: [usize; 2],
    pre_pool_dead: Vec<bool>,
    pool_arg: Vec<u32>,
    stages: Vec<Vec<BlockTape>>,
    last: [usize; 4],
}

/// A ResNet's parameters in host memory, for the walk on a CPU device.
#[derive(Debug)]
pub(crate) struct HostWalk {
    stem: HostLayer,
    pool: HostPool,
    stages: Vec<Vec<HostBlock>>,
    /// `[F, K]` (burn's `[in, out]`).
    fc_weight: Vec<f32>,
    fc_bias: Option<Vec<f32>>,
    features: usize,
    classes: usize,
    /// Buffers kept from pass to pass ([`Pool`]).
    buffers: std::sync::Mutex<Pool>,
}

impl HostWalk {
    /// The walk's layers read into host memory; `None` for a model the host walk does not cover
    /// (a max pool in ceil mode), which then stays on the tensor walk.
    pub(crate) fn of(walk: &crate::resnet_grad::Walk) -> Result<Option<Self>, AttributionError> {
        let p = &walk.pool;
        if p.ceil_mode {
            return Ok(None);
        }
        let stages = walk
            .stages
            .iter()
            .map(|stage| {
                stage
                    .iter()
                    .map(|b| {
                        Ok(HostBlock {
                            layers: b.layers.iter().map(HostLayer::of).collect::<Result<_, _>>()?,
                            downsample: b.downsample.as_ref().map(HostLayer::of).transpose()?,
                        })
                    })
                    .collect::<Result<Vec<_>, AttributionError>>()
            })
            .collect::<Result<Vec<_>, _>>()?;
        let [features, classes] = walk.fc_weight.dims();
        Ok(Some(Self {
            stem: HostLayer::of(&walk.stem)?,
            pool: HostPool {
                k: p.kernel_size,
                stride: p.stride,
                pad: walk.pool_padding,
                dilation: p.dilation,
            },
            stages,
            fc_weight: host(walk.fc_weight.clone())?,
            fc_bias: walk.fc_bias.clone().map(host).transpose()?,
            features,
            classes,
            buffers: std::sync::Mutex::default(),
        }))
    }

    /// The walk's buffers (a poisoned lock only means an earlier pass panicked: its buffers are
    /// still buffers).
    fn pool(&self) -> std::sync::MutexGuard<'_, Pool> {
        self.buffers.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The logits `[N, K]` (row-major) of the images `x`, and with `keep` the tape.
    fn forward(
        &self,
        x: &Maps,
        keep: bool,
        pool: &mut Pool,
    ) -> Result<(Vec<f32>, Option<Tape>), AttributionError> {
        self.check_channels(x.c)?;
        let pre_pool = self.stem.forward(x, true, pool)?;
        self.forward_from_stem(pre_pool, [x.h, x.w], keep, pool)
    }

    /// [`HostWalk::forward`] from the stem's output (after its ReLU), for images of size `x_hw`.
    fn forward_from_stem(
        &self,
        pre_pool: Maps,
        x_hw: [usize; 2],
        keep: bool,
        pool: &mut Pool,
    ) -> Result<(Vec<f32>, Option<Tape>), AttributionError> {
        let (mut h, pool_arg) = self.pool.forward(&pre_pool, pool)?;
        let pre_pool_hw = [pre_pool.h, pre_pool.w];
        let pre_pool_dead = if keep { pool.dead(&pre_pool) } else { Vec::new() };
        pool.give(pre_pool);
        let mut stages = Vec::new();
        for stage in &self.stages {
            let mut tapes = Vec::new();
            for block in stage {
                let (out, tape) = block.forward(h, keep, pool)?;
                h = out;
                tapes.extend(tape);
            }
            stages.push(tapes);
        }
        if h.c != self.features {
            return Err(AttributionError::Config(format!(
                "the last stage has {} channels; fc takes {}",
                h.c, self.features
            )));
        }
        let n = h.n;
        // The features `[C, N]`, read as `[N, C]` through the strides.
        let feats = h.plane_means();
        let k = self.classes;
        let mut logits = vec![0.0f32; n * k];
        matmul(
            n,
            k,
            self.features,
            &mut logits,
            k,
            Mat { data: &feats, rs: 1, cs: n },
            Mat { data: &self.fc_weight, rs: k, cs: 1 },
        );
        if let Some(b) = &self.fc_bias {
            for row in logits.chunks_mut(k) {
                for (v, b) in row.iter_mut().zip(b) {
                    *v += b;
                }
            }
        }
        let last = [h.c, h.n, h.h, h.w];
        pool.give(h);
        let tape = keep.then_some(Tape {
            x_hw,
            pre_pool_hw,
            pre_pool_dead,
            pool_arg,
            stages,
            last,
        });
        Ok((logits, tape))
    }

    /// The input gradient (`[3, N, H, W]`) for the gradient `g` (`[N, K]`) at the logits.
    fn backward(&self, g: &[f32], tape: Tape, pool: &mut Pool) -> Maps {
        let x_hw = tape.x_hw;
        let gm = self.backward_to_stem(g, tape, pool);
        let dx = self.stem.backward(&gm, x_hw, pool);
        pool.give(gm);
        dx
    }

    /// The gradient at the stem's BatchNorm output (`[64, N, h, w]`, through its ReLU) for the
    /// gradient `g` (`[N, K]`) at the logits.
    fn backward_to_stem(&self, g: &[f32], tape: Tape, pool: &mut Pool) -> Maps {
        let [c, n, fh, fw] = tape.last;
        let k = self.classes;
        let mut gf = vec![0.0f32; n * c];
        matmul(
            n,
            c,
            k,
            &mut gf,
            c,
            Mat { data: g, rs: k, cs: 1 },
            Mat { data: &self.fc_weight, rs: 1, cs: k },
        );
        let hw = fh * fw;
        let mut gm = pool.dirty(c, n, fh, fw);
        for ch in 0..c {
            for b in 0..n {
                let v = gf[b * c + ch] / hw as f32;
                gm.data[(ch * n + b) * hw..(ch * n + b + 1) * hw].fill(v);
            }
        }
        for (stage, tapes) in self.stages.iter().zip(tape.stages).rev() {
            for (block, bt) in stage.iter().zip(tapes).rev() {
                gm = block.backward(gm, bt, pool);
            }
        }
        let pooled = gm;
        let mut gm = HostPool::backward(&pooled, &tape.pool_arg, tape.pre_pool_hw, pool);
        pool.give(pooled);
        mask(&mut gm, &tape.pre_pool_dead);
        pool.give_mask(tape.pre_pool_dead);
        gm
    }

    /// The logits of `x` (`[N, C, H, W]` row-major): `[N, K]` row-major.
    pub(crate) fn logits(&self, x: &[f32], dims: [usize; 4]) -> Result<Vec<f32>, AttributionError> {
        Ok(self.forward(&Maps::from_nchw(x, dims), false, &mut self.pool())?.0)
    }

    /// The input gradient of the images `x` (`[N, C, H, W]` row-major) for the gradient at the
    /// logits that `output_grad` returns from the logits: (`[N, C, H, W]` gradient, logits).
    pub(crate) fn input_grad(
        &self,
        x: &[f32],
        dims: [usize; 4],
        output_grad: impl FnOnce(&[f32], [usize; 2]) -> Result<Vec<f32>, AttributionError>,
    ) -> Result<(Vec<f32>, Vec<f32>), AttributionError> {
        let mut pool = self.pool();
        let (logits, tape) = self.forward(&Maps::from_nchw(x, dims), true, &mut pool)?;
        let (g, tape) = self.seed(&logits, tape, output_grad)?;
        Ok((self.backward(&g, tape, &mut pool).to_nchw().0, logits))
    }

    /// `output_grad`'s gradient at the `logits` of a taped forward pass, checked against their
    /// shape, and the tape.
    fn seed(
        &self,
        logits: &[f32],
        tape: Option<Tape>,
        output_grad: impl FnOnce(&[f32], [usize; 2]) -> Result<Vec<f32>, AttributionError>,
    ) -> Result<(Vec<f32>, Tape), AttributionError> {
        let rows = logits.len() / self.classes.max(1);
        let g = output_grad(logits, [rows, self.classes])?;
        if g.len() != logits.len() {
            return Err(AttributionError::Config(format!(
                "the gradient at the logits has {} values; it must match the logits, [{rows}, {}]",
                g.len(),
                self.classes
            )));
        }
        let Some(tape) = tape else {
            return Err(AttributionError::Config("the host walk kept no tape".into()));
        };
        Ok((g, tape))
    }

    /// An error unless the stem takes images of `c` channels.
    fn check_channels(&self, c: usize) -> Result<(), AttributionError> {
        if c != self.stem.geometry.c_in {
            return Err(AttributionError::Config(format!(
                "the images have {c} channels; the model takes {}",
                self.stem.geometry.c_in
            )));
        }
        Ok(())
    }
}

/// The stem convolution of both ends of a straight path `b + α·d`, without its bias and
/// BatchNorm: by linearity a point's convolution is `conv(b) + α·conv(d)`, so the stem convolves
/// each image twice per path instead of once per step, and its transposed convolution runs once on
/// the steps' summed gradients (`docs/METHODS.md#resnet-grad`, "A straight path").
///
/// # Shapes
/// `base`, `diff`: `[C_stem, N, h, w]`.
#[derive(Debug)]
pub(crate) struct PathStem {
    base: Maps,
    diff: Maps,
    x_hw: [usize; 2],
}

impl HostWalk {
    /// The stem convolutions of the path from `baseline` along `diff` (`[N, C, H, W]` row-major
    /// each).
    pub(crate) fn path_stem(
        &self,
        baseline: &[f32],
        diff: &[f32],
        dims: [usize; 4],
    ) -> Result<PathStem, AttributionError> {
        self.check_channels(dims[1])?;
        let mut pool = self.pool();
        let g = &self.stem.geometry;
        let base = g.conv(&self.stem.weight, &Maps::from_nchw(baseline, dims), &mut pool)?;
        let diff = g.conv(&self.stem.weight, &Maps::from_nchw(diff, dims), &mut pool)?;
        Ok(PathStem { base, diff, x_hw: [dims[2], dims[3]] })
    }

    /// The input gradient summed over the path's points at `alphas`, for the gradient at the
    /// logits that `output_grad` returns from the logits (the steps' weights go there): the
    /// stem's output of each point from [`PathStem`], the rest of the network as
    /// [`HostWalk::input_grad`], the gradients at the stem's output summed over the steps and
    /// carried through its transposed convolution once. Returns (`[N, C, H, W]` gradient, logits
    /// `[m·N, K]`).
    ///
    /// # Shapes
    /// Row `s·N + i` of the logits and of `output_grad`'s gradient is image `i` at `alphas[s]`.
    pub(crate) fn path_grad(
        &self,
        stem: &PathStem,
        alphas: &[f32],
        output_grad: impl FnOnce(&[f32], [usize; 2]) -> Result<Vec<f32>, AttributionError>,
    ) -> Result<(Vec<f32>, Vec<f32>), AttributionError> {
        let mut pool = self.pool();
        let (c, n, h, w) = (stem.base.c, stem.base.n, stem.base.h, stem.base.w);
        let (m, block) = (alphas.len(), n * h * w);
        let mut pre = pool.dirty(c, m * n, h, w);
        // `[C, m·N, h, w]`: block `ch·m + s` is channel `ch` of every image at `alphas[s]`.
        for_chunks(&mut pre.data, block, |j, out| {
            let (ch, s) = (j / m, j % m);
            let at = ch * block..(ch + 1) * block;
            for (o, (b, d)) in out.iter_mut().zip(stem.base.data[at.clone()].iter().zip(&stem.diff.data[at])) {
                *o = b + alphas[s] * d;
            }
        });
        pre.bias_bn_relu(self.stem.bias.as_deref(), Some(&self.stem.bn), true);
        let (logits, tape) = self.forward_from_stem(pre, stem.x_hw, true, &mut pool)?;
        let (g, tape) = self.seed(&logits, tape, output_grad)?;
        let gm = self.backward_to_stem(&g, tape, &mut pool);
        let mut summed = pool.dirty(c, n, h, w);
        for_chunks(&mut summed.data, block, |ch, out| {
            out.copy_from_slice(&gm.data[ch * m * block..(ch * m + 1) * block]);
            for s in 1..m {
                let at = (ch * m + s) * block;
                for (o, v) in out.iter_mut().zip(&gm.data[at..at + block]) {
                    *o += v;
                }
            }
        });
        pool.give(gm);
        let dx = self.stem.backward(&summed, stem.x_hw, &mut pool);
        pool.give(summed);
        Ok((dx.to_nchw().0, logits))
    }
}

pub(crate) use biaslens_model::host::is_cpu;

#[cfg(test)]
mod tests {
    use super::*;

    /// im2col then a product equals a direct convolution, and col2im is its adjoint
    /// (`⟨conv(x), g⟩ = ⟨x, convᵀ(g)⟩`), for strides, paddings and kernels of the ResNets and
    /// odd ones, on sizes that leave ragged edges.
    #[test]
    fn convolution_and_its_adjoint_match_direct_loops() {
        let mut seed = 1u64;
        let mut rnd = move || {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((seed >> 33) as f32 / (1u64 << 31) as f32) - 0.5
        };
        for &(c_in, c_out, k, s, p, h, w, n) in &[
            (3, 4, [7, 7], [2, 2], [3, 3], 11, 9, 2),
            (2, 3, [3, 3], [1, 1], [1, 1], 5, 6, 3),
            (2, 3, [3, 3], [2, 2], [1, 1], 6, 7, 2),
            (3, 2, [1, 1], [2, 2], [0, 0], 5, 4, 2),
            (3, 2, [1, 1], [1, 1], [0, 0], 4, 4, 3),
            (1, 2, [2, 3], [1, 2], [0, 1], 5, 5, 1),
            (2, 2, [2, 3], [1, 1], [1, 2], 4, 5, 2),
            // Output rows of 8 or more at stride 1: the im2col copies runs.
            (2, 3, [3, 3], [1, 1], [1, 1], 9, 10, 2),
            (2, 2, [7, 7], [1, 1], [3, 3], 5, 12, 2),
            (1, 2, [2, 3], [1, 1], [1, 2], 4, 9, 2),
            (2, 2, [3, 3], [2, 1], [0, 0], 7, 11, 2),
            // Size-keeping stride-1 convolutions on small maps (one shifted copy per tap), the
            // shift as large as the map or larger.
            (2, 3, [3, 3], [1, 1], [1, 1], 2, 2, 3),
            (2, 3, [3, 3], [1, 1], [1, 1], 1, 1, 2),
            (2, 2, [7, 7], [1, 1], [3, 3], 2, 3, 2),
            (3, 2, [5, 5], [1, 1], [2, 2], 3, 4, 3),
            (2, 2, [3, 5], [1, 1], [1, 2], 4, 2, 2),
        ] {
            let kk = c_in * k[0] * k[1];
            let weight: Vec<f32> = (0..c_out * kk).map(|_| rnd()).collect();
            let layer = HostLayer::new(
                Geometry { c_in, c_out, k, stride: s, pad: p },
                weight.clone(),
                None,
                weight.clone(),
                HostBn {
                    gamma: vec![1.0; c_out],
                    beta: vec![0.0; c_out],
                    mean: vec![0.0; c_out],
                    std: vec![1.0; c_out],
                },
            );
            assert!(layer.back_conv.get().is_none(), "the adjoint is made at the first backward pass");
            let mut x = Maps::zeros(c_in, n, h, w);
            x.data.iter_mut().for_each(|v| *v = rnd());
            let y = layer.forward(&x, false, &mut Pool::default()).expect("fits");
            let (ho, wo) = (y.h, y.w);
            for o in 0..c_out {
                for b in 0..n {
                    for yo in 0..ho {
                        for xo in 0..wo {
                            let mut want = 0.0f64;
                            for c in 0..c_in {
                                for i in 0..k[0] {
                                    for j in 0..k[1] {
                                        let yy = (yo * s[0] + i) as isize - p[0] as isize;
                                        let xx = (xo * s[1] + j) as isize - p[1] as isize;
                                        if yy < 0 || xx < 0 || yy >= h as isize || xx >= w as isize {
                                            continue;
                                        }
                                        let xv = x.data[((c * n + b) * h + yy as usize) * w + xx as usize];
                                        want += f64::from(weight[o * kk + (c * k[0] + i) * k[1] + j] * xv);
                                    }
                                }
                            }
                            let got = y.data[((o * n + b) * ho + yo) * wo + xo];
                            assert!((f64::from(got) - want).abs() < 1e-5, "{got} vs {want}");
                        }
                    }
                }
            }
            let mut g = Maps::zeros(c_out, n, ho, wo);
            g.data.iter_mut().for_each(|v| *v = rnd());
            let dx = layer.backward(&g, [h, w], &mut Pool::default());
            let gathers = layer.back_conv.get().is_some_and(Option::is_some);
            assert_eq!(gathers, s == [1, 1] && k != [1, 1], "stride-1 layers gather");
            let lhs: f64 = y.data.iter().zip(&g.data).map(|(a, b)| f64::from(a * b)).sum();
            let rhs: f64 = x.data.iter().zip(&dx.data).map(|(a, b)| f64::from(a * b)).sum();
            assert!((lhs - rhs).abs() < 1e-4 * (1.0 + lhs.abs()), "{lhs} vs {rhs}");
            // The gather (adjoint convolution) and the scatter (col2im) give the same gradient.
            let scattered = layer.geometry.conv_transpose(&layer.back, &g, [h, w], &mut Pool::default());
            for (a, b) in dx.data.iter().zip(&scattered.data) {
                assert!((a - b).abs() < 1e-5, "{a} vs {b}");
            }
        }
    }

    /// The max pool (torchvision's stem: 3×3, stride 2, padding 1, and an odd one) against
    /// brute force: each output is its window's maximum, its arg max points at that value, and
    /// the backward adds each gradient at the arg max.
    #[test]
    fn max_pool_matches_brute_force() {
        for (k, stride, pad, h, w) in [([3, 3], [2, 2], [1, 1], 9, 8), ([2, 3], [1, 2], [0, 1], 5, 7)] {
            let pool = HostPool { k, stride, pad, dilation: [1, 1] };
            let mut x = Maps::zeros(2, 2, h, w);
            for (i, v) in x.data.iter_mut().enumerate() {
                *v = ((i * 7919) % 211) as f32 - 100.0;
            }
            let (y, arg) = pool.forward(&x, &mut Pool::default()).expect("fits");
            let hw_out = y.h * y.w;
            for p in 0..4 {
                let img = &x.data[p * h * w..(p + 1) * h * w];
                for yo in 0..y.h {
                    for xo in 0..y.w {
                        let mut want = f32::NEG_INFINITY;
                        for i in 0..k[0] {
                            for j in 0..k[1] {
                                let (yy, xx) = ((yo * stride[0] + i) as isize - pad[0] as isize, (xo * stride[1] + j) as isize - pad[1] as isize);
                                if yy >= 0 && xx >= 0 && (yy as usize) < h && (xx as usize) < w {
                                    want = want.max(img[yy as usize * w + xx as usize]);
                                }
                            }
                        }
                        let o = p * hw_out + yo * y.w + xo;
                        assert_eq!(y.data[o], want);
                        assert_eq!(img[arg[o] as usize], want);
                    }
                }
            }
            let mut g = Maps::zeros(2, 2, y.h, y.w);
            g.data.iter_mut().enumerate().for_each(|(i, v)| *v = i as f32 + 1.0);
            let dx = HostPool::backward(&g, &arg, [h, w], &mut Pool::default());
            let mut want = vec![0.0f32; dx.data.len()];
            for (o, &a) in arg.iter().enumerate() {
                want[(o / hw_out) * h * w + a as usize] += g.data[o];
            }
            assert_eq!(dx.data, want);
        }
    }

    /// The layout round trip is exact.
    #[test]
    fn nchw_round_trip() {
        let v: Vec<f32> = (0..2 * 3 * 4 * 5).map(|i| i as f32).collect();
        let m = Maps::from_nchw(&v, [2, 3, 4, 5]);
        assert_eq!(m.data[4 * 5], 3.0 * 4.0 * 5.0, "image 1 of channel 0 follows image 0");
        assert_eq!(m.to_nchw(), (v, [2, 3, 4, 5]));
    }
}
