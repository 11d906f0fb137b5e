//! LRP of a ResNet on host memory, on a CPU device: the trace of `lrp/resnet.rs` (the same
//! units, rules, canonizer sums, average and max pool) with every convolution of the batch one
//! matrix product over all its images, on the channel-major maps of `biaslens_model::host`
//! (`docs/METHODS.md#lrp`, "On the CPU"). Each rule is the formula of `rules.rs`' tensor version,
//! term for term; only the summation order of the convolutions differs, so the maps equal the
//! tensor trace's to float32 rounding (`tests/lrp_equal.rs` runs both against Zennit).

use burn::prelude::*;

use super::resnet::{Bn, block_layers, conv_affine, max_pool_options};
use super::rules::Rule;
use super::{LayerRules, LrpOutput};
use crate::AttributionError;
use biaslens_model::host::{ELEMENTWISE, Geometry, HostBn, HostPool, Maps, Pool, for_chunks};

use crate::resnet_host::{host, host_bn};
use biaslens_model::ResNet;

/// Zennit's `stabilize`: `z + ε·sign(z)` with `sign(0) = +1`.
fn stab(z: f32, eps: f32) -> f32 {
    if z >= 0.0 { z + eps } else { z - eps }
}

/// `f(a, b)` element by element into `a`.
fn zip_with(a: &mut Maps, b: &Maps, f: impl Fn(f32, f32) -> f32 + Send + Sync) {
    for_chunks(&mut a.data, ELEMENTWISE, |i, chunk| {
        for (x, &y) in chunk.iter_mut().zip(&b.data[i * ELEMENTWISE..]) {
            *x = f(*x, y);
        }
    });
}

fn map(w: &[f32], f: impl Fn(f32) -> f32) -> Vec<f32> {
    w.iter().map(|&v| f(v)).collect()
}

/// A convolution (or `fc` as a 1×1 one) with the parameters a rule gives it.
#[derive(Debug, Clone)]
struct Conv {
    geometry: Geometry,
    /// `[C_out, C_in·kh·kw]`.
    weight: Vec<f32>,
    bias: Option<Vec<f32>>,
}

impl Conv {
    /// `conv(x, w) + b`.
    fn forward_with(&self, x: &Maps, w: &[f32], b: Option<&[f32]>, pool: &mut Pool) -> Result<Maps, AttributionError> {
        let mut z = self.geometry.conv(w, x, pool)?;
        if let Some(b) = b {
            let plane = z.plane();
            for_chunks(&mut z.data, plane.max(1), |c, row| row.iter_mut().for_each(|v| *v += b[c]));
        }
        Ok(z)
    }

    /// `∂(Σ s ⊙ conv(x, w))/∂x`, sized to the input `[H, W]`.
    fn input_grad(&self, s: &Maps, w: &[f32], hw: [usize; 2], pool: &mut Pool) -> Maps {
        self.geometry.input_grad(w, self.geometry.adjoint(w).as_ref(), s, hw, pool)
    }

    /// `r / stab(z)`, into `r`.
    fn ratio(mut r: Maps, z: &Maps, eps: f32) -> Maps {
        zip_with(&mut r, z, |r, z| r / stab(z, eps));
        r
    }

    /// Relevance at the input under `rule`, as `rules::affine_relevance`.
    ///
    /// # Shapes
    /// `x`: `[C_in, N, H, W]`, `r`: the output's shape → `[C_in, N, H, W]`.
    fn relevance(&self, rule: Rule, x: &Maps, r: Maps, nonneg: bool, pool: &mut Pool) -> Result<Maps, AttributionError> {
        let hw = [x.h, x.w];
        let w = &self.weight;
        let b = self.bias.as_deref();
        let pos = |v: f32| v.max(0.0);
        let neg = |v: f32| v.min(0.0);
        let part = |x: &Maps, f: fn(f32) -> f32| like(x, map(&x.data, f));
        Ok(match rule {
            Rule::Epsilon { epsilon: eps } | Rule::Norm { stabilizer: eps } => {
                let z = self.forward_with(x, w, b, pool)?;
                let s = Self::ratio(r, &z, eps as f32);
                let mut out = self.input_grad(&s, w, hw, pool);
                zip_with(&mut out, x, |c, x| x * c);
                give_all(pool, [z, s]);
                out
            }
            Rule::ZPlus { stabilizer } => {
                let wp = map(w, pos);
                let bp = b.map(|b| map(b, pos));
                let xp = if nonneg { None } else { Some(part(x, |v| v.max(0.0))) };
                let xp_ref = xp.as_ref().unwrap_or(x);
                let mut z = self.forward_with(xp_ref, &wp, bp.as_deref(), pool)?;
                let negative = (!nonneg).then(|| (part(x, |v| v.min(0.0)), map(w, neg)));
                if let Some((xn, wn)) = &negative {
                    let zn = self.forward_with(xn, wn, None, pool)?;
                    zip_with(&mut z, &zn, |a, b| a + b);
                    pool.give(zn);
                }
                let s = Self::ratio(r, &z, stabilizer as f32);
                let mut out = self.input_grad(&s, &wp, hw, pool);
                zip_with(&mut out, xp_ref, |c, x| x * c);
                if let Some((xn, wn)) = negative {
                    let mut o2 = self.input_grad(&s, &wn, hw, pool);
                    zip_with(&mut o2, &xn, |c, x| x * c);
                    zip_with(&mut out, &o2, |a, b| a + b);
                    pool.give(o2);
                }
                give_all(pool, [z, s]);
                out
            }
            Rule::AlphaBeta { alpha, beta, stabilizer } => {
                let (wp, wn) = (map(w, pos), map(w, neg));
                let (bp, bn) = (b.map(|b| map(b, pos)), b.map(|b| map(b, neg)));
                let xp = if nonneg { None } else { Some(part(x, |v| v.max(0.0))) };
                let xp_ref = xp.as_ref().unwrap_or(x);
                let mut z_pos = self.forward_with(xp_ref, &wp, bp.as_deref(), pool)?;
                let mut z_neg = self.forward_with(xp_ref, &wn, bn.as_deref(), pool)?;
                let xn = (!nonneg).then(|| part(x, |v| v.min(0.0)));
                if let Some(xn) = &xn {
                    let a = self.forward_with(xn, &wn, None, pool)?;
                    zip_with(&mut z_pos, &a, |p, q| p + q);
                    let b2 = self.forward_with(xn, &wp, None, pool)?;
                    zip_with(&mut z_neg, &b2, |p, q| p + q);
                    give_all(pool, [a, b2]);
                }
                let s_pos = Self::ratio(r.clone(), &z_pos, stabilizer as f32);
                let s_neg = Self::ratio(r, &z_neg, stabilizer as f32);
                let mut r_pos = self.input_grad(&s_pos, &wp, hw, pool);
                zip_with(&mut r_pos, xp_ref, |c, x| x * c);
                let mut r_neg = self.input_grad(&s_neg, &wn, hw, pool);
                zip_with(&mut r_neg, xp_ref, |c, x| x * c);
                if let Some(xn) = &xn {
                    let mut a = self.input_grad(&s_pos, &wn, hw, pool);
                    zip_with(&mut a, xn, |c, x| x * c);
                    zip_with(&mut r_pos, &a, |p, q| p + q);
                    let mut b2 = self.input_grad(&s_neg, &wp, hw, pool);
                    zip_with(&mut b2, xn, |c, x| x * c);
                    zip_with(&mut r_neg, &b2, |p, q| p + q);
                    give_all(pool, [a, b2]);
                }
                let (alpha, beta) = (alpha as f32, beta as f32);
                zip_with(&mut r_pos, &r_neg, |p, n| p * alpha - n * beta);
                give_all(pool, [z_pos, z_neg, s_pos, s_neg, r_neg]);
                r_pos
            }
            Rule::Gamma { gamma, stabilizer } => {
                let g = gamma as f32;
                let out_plain = self.forward_with(x, w, b, pool)?;
                let w_up: Vec<f32> = w.iter().map(|&v| v + v.max(0.0) * g).collect();
                let w_down: Vec<f32> = w.iter().map(|&v| v + v.min(0.0) * g).collect();
                let b_up = b.map(|b| b.iter().map(|&v| v + v.max(0.0) * g).collect::<Vec<_>>());
                let b_down = b.map(|b| b.iter().map(|&v| v + v.min(0.0) * g).collect::<Vec<_>>());
                let xp = if nonneg { None } else { Some(part(x, |v| v.max(0.0))) };
                let xp_ref = xp.as_ref().unwrap_or(x);
                let mut z_up = self.forward_with(xp_ref, &w_up, b_up.as_deref(), pool)?;
                let mut z_down = self.forward_with(xp_ref, &w_down, b_down.as_deref(), pool)?;
                let xn = (!nonneg).then(|| part(x, |v| v.min(0.0)));
                if let Some(xn) = &xn {
                    let a = self.forward_with(xn, &w_down, None, pool)?;
                    zip_with(&mut z_up, &a, |p, q| p + q);
                    let b2 = self.forward_with(xn, &w_up, None, pool)?;
                    zip_with(&mut z_down, &b2, |p, q| p + q);
                    give_all(pool, [a, b2]);
                }
                let eps = stabilizer as f32;
                // g_up = [plain > 0] · r / stab(z_up); g_down = [plain < 0] · r / stab(z_down).
                let mut g_up = r.clone();
                zip_with(&mut g_up, &out_plain, |r, o| if o > 0.0 { r } else { 0.0 });
                zip_with(&mut g_up, &z_up, |r, z| r / stab(z, eps));
                let mut g_down = r;
                zip_with(&mut g_down, &out_plain, |r, o| if o < 0.0 { r } else { 0.0 });
                zip_with(&mut g_down, &z_down, |r, z| r / stab(z, eps));
                let mut out = self.input_grad(&g_up, &w_up, hw, pool);
                zip_with(&mut out, xp_ref, |c, x| x * c);
                let mut o2 = self.input_grad(&g_down, &w_down, hw, pool);
                zip_with(&mut o2, xp_ref, |c, x| x * c);
                zip_with(&mut out, &o2, |p, q| p + q);
                if let Some(xn) = &xn {
                    let mut a = self.input_grad(&g_up, &w_down, hw, pool);
                    zip_with(&mut a, xn, |c, x| x * c);
                    let mut b2 = self.input_grad(&g_down, &w_up, hw, pool);
                    zip_with(&mut b2, xn, |c, x| x * c);
                    zip_with(&mut out, &a, |p, q| p + q);
                    zip_with(&mut out, &b2, |p, q| p + q);
                    give_all(pool, [a, b2]);
                }
                give_all(pool, [out_plain, z_up, z_down, g_up, g_down, o2]);
                out
            }
            Rule::Flat { stabilizer } => {
                let ones_w = vec![1.0; w.len()];
                let ones = like(x, vec![1.0; x.data.len()]);
                let z = self.forward_with(&ones, &ones_w, None, pool)?;
                let s = Self::ratio(r, &z, stabilizer as f32);
                let out = self.input_grad(&s, &ones_w, hw, pool);
                give_all(pool, [z, s]);
                out
            }
            Rule::WSquare { stabilizer } => {
                let w2 = map(w, |v| v * v);
                let b2 = b.map(|b| map(b, |v| v * v));
                let ones = like(x, vec![1.0; x.data.len()]);
                let z = self.forward_with(&ones, &w2, b2.as_deref(), pool)?;
                let s = Self::ratio(r, &z, stabilizer as f32);
                let out = self.input_grad(&s, &w2, hw, pool);
                give_all(pool, [z, s]);
                out
            }
            Rule::ZBox { low, high, stabilizer } => {
                let (wp, wn) = (map(w, pos), map(w, neg));
                let (bp, bn) = (b.map(|b| map(b, pos)), b.map(|b| map(b, neg)));
                let (low, high) = (low as f32, high as f32);
                let l = like(x, vec![low; x.data.len()]);
                let hi = like(x, vec![high; x.data.len()]);
                let mut z = self.forward_with(x, w, b, pool)?;
                let zl = self.forward_with(&l, &wp, bp.as_deref(), pool)?;
                let zh = self.forward_with(&hi, &wn, bn.as_deref(), pool)?;
                zip_with(&mut z, &zl, |a, b| a - b);
                zip_with(&mut z, &zh, |a, b| a - b);
                let s = Self::ratio(r, &z, stabilizer as f32);
                let mut out = self.input_grad(&s, w, hw, pool);
                zip_with(&mut out, x, |c, x| x * c);
                let mut a = self.input_grad(&s, &wp, hw, pool);
                zip_with(&mut a, &l, |c, x| x * c);
                let mut b2 = self.input_grad(&s, &wn, hw, pool);
                zip_with(&mut b2, &hi, |c, x| x * c);
                zip_with(&mut out, &a, |p, q| p - q);
                zip_with(&mut out, &b2, |p, q| p - q);
                give_all(pool, [z, zl, zh, s, a, b2]);
                out
            }
            Rule::Pass => self.input_grad(&r, w, hw, pool),
        })
    }
}

/// Maps of `x`'s shape holding `data`.
fn like(x: &Maps, data: Vec<f32>) -> Maps {
    Maps { c: x.c, n: x.n, h: x.h, w: x.w, data }
}

fn give_all<const K: usize>(pool: &mut Pool, maps: [Maps; K]) {
    for m in maps {
        pool.give(m);
    }
}

/// A convolution and its BatchNorm: merged by the canonizer, or kept apart (BatchNorm then
/// passes relevance, as in every Zennit composite).
#[derive(Debug, Clone)]
struct Unit {
    conv: Conv,
    bn: Option<HostBn>,
}

impl Unit {
    fn new(conv: &burn::nn::conv::Conv2d, bn: &burn::nn::BatchNorm, merge: bool, name: &str) -> Result<Self, AttributionError> {
        let affine = conv_affine(conv, name)?;
        let [c_out, c_in, kh, kw] = affine.weight.dims();
        let geometry = Geometry { c_in, c_out, k: [kh, kw], stride: affine.stride, pad: affine.padding };
        let bn_t = Bn::of(bn);
        let hbn = host_bn(&bn_t)?;
        let mut weight = host(affine.weight)?;
        let mut bias = affine.bias.map(host).transpose()?;
        let bn = if merge {
            // Zennit's MergeBatchNorm: w' = w·γ/√(σ²+ε), b' = (b − μ)·γ/√(σ²+ε) + β, with the
            // scale computed as the tensor trace does (γ / √(σ²+ε)).
            let scale: Vec<f32> = hbn.gamma.iter().zip(&hbn.std).map(|(g, s)| g / s).collect();
            let per = weight.len() / c_out.max(1);
            for (o, row) in weight.chunks_mut(per.max(1)).enumerate() {
                row.iter_mut().for_each(|v| *v *= scale[o]);
            }
            let b0 = bias.take().unwrap_or_else(|| vec![0.0; c_out]);
            bias = Some(
                (0..c_out).map(|o| (b0[o] - hbn.mean[o]) * scale[o] + hbn.beta[o]).collect(),
            );
            None
        } else {
            Some(hbn)
        };
        Ok(Self { conv: Conv { geometry, weight, bias }, bn })
    }

    /// Convolution (+ bias), then BatchNorm if kept apart, then with `relu` the ReLU.
    fn forward(&self, x: &Maps, relu: bool, pool: &mut Pool) -> Result<Maps, AttributionError> {
        let mut z = self.conv.geometry.conv(&self.conv.weight, x, pool)?;
        z.bias_bn_relu(self.conv.bias.as_deref(), self.bn.as_ref(), relu);
        Ok(z)
    }
}

/// What the forward pass keeps of one block.
struct BlockRecord {
    units: Vec<Unit>,
    downsample: Option<Unit>,
    /// Input of each unit of the main branch (`inputs[0]` is the block input).
    inputs: Vec<Maps>,
    branch: Maps,
    identity: Maps,
    input_nonnegative: bool,
}

/// Whether the host trace covers `model` (it does not do a max pool in ceil mode, which then
/// takes the tensor trace).
pub(crate) fn covers(model: &ResNet) -> bool {
    !model.maxpool.ceil_mode
}

/// LRP maps of `model` (no hook) for `x` on a CPU device, as `lrp_resnet_with_output`.
pub(crate) fn lrp_resnet_host(
    model: &ResNet,
    x: Tensor<4>,
    rules: &LayerRules,
    merge: bool,
    output_relevance: impl FnOnce(Tensor<2>) -> Result<Tensor<2>, AttributionError>,
) -> Result<LrpOutput, AttributionError> {
    let (pool_options, pool_padding) = max_pool_options(&model.maxpool)?;
    let device = x.device();
    let dims = x.dims();
    let [n, ..] = dims;
    let xs = Maps::from_nchw(&host(x)?, dims);
    let mut pool = Pool::default();
    let pool = &mut pool;

    let conv1 = Unit::new(&model.conv1, &model.bn1, merge, "conv1")?;
    let pre_pool = conv1.forward(&xs, true, pool)?;
    let max_pool = HostPool {
        k: pool_options.kernel_size,
        stride: pool_options.stride,
        pad: pool_padding,
        dilation: pool_options.dilation,
    };
    let (mut h, arg) = max_pool.forward(&pre_pool, pool)?;
    let pre_pool_hw = [pre_pool.h, pre_pool.w];
    pool.give(pre_pool);
    let mut nonnegative = true;
    let mut blocks: Vec<BlockRecord> = Vec::new();
    for (s, stage) in model.stages().into_iter().enumerate() {
        for (i, block) in stage.iter().enumerate() {
            let name = format!("layer{}.{i}", s + 1);
            let (pairs, ds) = block_layers(block);
            let units = pairs
                .into_iter()
                .map(|(c, b, l)| Unit::new(c, b, merge, &format!("{name}.{l}")))
                .collect::<Result<Vec<_>, _>>()?;
            let downsample = ds
                .map(|d| Unit::new(&d.conv, &d.bn, merge, &format!("{name}.downsample.0")))
                .transpose()?;
            let last = units.len() - 1;
            let mut inputs = vec![h];
            let mut a: Option<Maps> = None;
            for (u, unit) in units.iter().enumerate() {
                let input = a.as_ref().unwrap_or(&inputs[u]);
                let out = unit.forward(input, u < last, pool)?;
                if u < last {
                    inputs.push(out);
                } else {
                    a = Some(out);
                }
            }
            let Some(branch) = a else {
                return Err(AttributionError::Config("a residual block without layers".into()));
            };
            let identity = match &downsample {
                Some(d) => d.forward(&inputs[0], false, pool)?,
                None => inputs[0].clone(),
            };
            if identity.data.len() != branch.data.len() {
                return Err(AttributionError::Config(
                    "a residual block's shortcut and main branch differ in shape".into(),
                ));
            }
            let mut out = branch.clone();
            zip_with(&mut out, &identity, |a, b| (a + b).max(0.0));
            blocks.push(BlockRecord {
                units,
                downsample,
                inputs,
                branch,
                identity,
                input_nonnegative: nonnegative,
            });
            h = out;
            nonnegative = true;
        }
    }
    let (c, fhw) = (h.c, h.h * h.w);
    // The features as a [C, N, 1, 1] map.
    let features = Maps { c, n, h: 1, w: 1, data: h.plane_means() };
    // burn stores fc's weight [in, out]; as a 1×1 convolution it is [out, in].
    let fc_in_out = host(model.fc.weight.val().inner())?;
    let [fc_in, k] = model.fc.weight.dims();
    if fc_in != c {
        return Err(AttributionError::Config(format!(
            "the last stage has {c} channels; fc takes {fc_in}"
        )));
    }
    let mut fc_w = vec![0.0f32; k * c];
    for i in 0..c {
        for o in 0..k {
            fc_w[o * c + i] = fc_in_out[i * k + o];
        }
    }
    let fc = Conv {
        geometry: Geometry { c_in: c, c_out: k, k: [1, 1], stride: [1, 1], pad: [0, 0] },
        weight: fc_w,
        bias: model.fc.bias.as_ref().map(|b| host(b.val().inner())).transpose()?,
    };
    let logits_map = fc.forward_with(&features, &fc.weight, fc.bias.as_deref(), pool)?; // [K, N, 1, 1]
    let mut logits = vec![0.0f32; n * k];
    for o in 0..k {
        for b in 0..n {
            logits[b * k + o] = logits_map.data[o * n + b];
        }
    }
    let logits_t = Tensor::<2>::from_data(TensorData::new(logits, [n, k]), &device);

    // Backward.
    let r_out = output_relevance(logits_t.clone())?;
    if r_out.dims() != [n, k] {
        return Err(AttributionError::Config(format!(
            "the output relevance has shape {:?}; it must match the logits, [{n}, {k}]",
            r_out.dims()
        )));
    }
    let output_sum = r_out.clone().sum_dim(1).reshape([n]);
    let r_rows = host(r_out)?;
    let mut r_map = Maps::zeros(k, n, 1, 1);
    for o in 0..k {
        for b in 0..n {
            r_map.data[o * n + b] = r_rows[b * k + o];
        }
    }
    let r_feat = fc.relevance(rules.linear, &features, r_map, false, pool)?; // [C, N, 1, 1]
    // Average pool.
    let eps = match rules.avgpool {
        Rule::Norm { stabilizer } | Rule::Epsilon { epsilon: stabilizer } => stabilizer as f32,
        other => {
            return Err(AttributionError::Config(format!(
                "average pooling takes the Norm (or Epsilon) rule, not {other:?}"
            )));
        }
    };
    let mut r = h;
    for_chunks(&mut r.data, fhw.max(1), |i, plane| {
        let s = r_feat.data[i] / stab(features.data[i], eps) / fhw as f32;
        plane.iter_mut().for_each(|v| *v *= s);
    });
    for record in blocks.into_iter().rev() {
        r = block_relevance(rules, record, r, merge, pool)?;
    }
    let r = HostPool::backward(&r, &arg, pre_pool_hw, pool);
    let map = conv1.conv.relevance(rules.first_conv, &xs, r, false, pool)?;
    let (map_v, map_dims) = map.to_nchw();
    let per = map_v.len() / n.max(1);
    let sums: Vec<f32> = map_v.chunks(per.max(1)).map(|c| c.iter().sum()).collect();
    Ok(LrpOutput {
        map: Tensor::<4>::from_data(TensorData::new(map_v, map_dims), &device),
        logits: logits_t,
        output_sum,
        input_sum: Tensor::<1>::from_data(TensorData::new(sums, [n]), &device),
    })
}

/// Relevance through one residual block, as `resnet::block_relevance`.
fn block_relevance(
    rules: &LayerRules,
    record: BlockRecord,
    r: Maps,
    canonized: bool,
    pool: &mut Pool,
) -> Result<Maps, AttributionError> {
    let BlockRecord { units, downsample, inputs, mut branch, mut identity, input_nonnegative } = record;
    let (r_branch, r_identity) = if canonized {
        let eps = match rules.sum {
            Rule::Norm { stabilizer } | Rule::Epsilon { epsilon: stabilizer } => stabilizer as f32,
            _ => 0.0,
        };
        // z = branch + identity; ratio = r / stab(z); each branch gets its share.
        let mut ratio = r;
        let mut z = branch.clone();
        zip_with(&mut z, &identity, |a, b| a + b);
        zip_with(&mut ratio, &z, |r, z| r / stab(z, eps));
        zip_with(&mut branch, &ratio, |a, q| a * q);
        zip_with(&mut identity, &ratio, |a, q| a * q);
        give_all(pool, [z, ratio]);
        (branch, identity)
    } else {
        give_all(pool, [branch, identity]);
        (r.clone(), r)
    };
    let mut r = r_branch;
    for (u, unit) in units.iter().enumerate().rev() {
        let nonneg = u > 0 || input_nonnegative;
        let next = unit.conv.relevance(rules.conv, &inputs[u], r, nonneg, pool)?;
        r = next;
    }
    let r_shortcut = match &downsample {
        Some(d) => d.conv.relevance(rules.conv, &inputs[0], r_identity, input_nonnegative, pool)?,
        None => r_identity,
    };
    zip_with(&mut r, &r_shortcut, |a, b| a + b);
    pool.give(r_shortcut);
    for m in inputs {
        pool.give(m);
    }
    Ok(r)
}
