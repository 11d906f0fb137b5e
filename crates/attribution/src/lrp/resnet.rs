//! The layer-by-layer LRP trace of a torchvision-layout [`ResNet`]: one forward pass that keeps
//! each layer's input, then one backward pass over the same nodes in reverse, each node applying
//! its rule (see the module docs of [`crate::lrp`]).

use biaslens_model::{Block, Downsample, ForwardHook, ResNet, Tap};
use burn::nn::conv::Conv2d;
use burn::nn::pool::MaxPool2d;
use burn::nn::{BatchNorm, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::module::{batch_norm, max_pool2d_with_indices, max_pool2d_with_indices_backward};
use burn::tensor::ops::MaxPoolOptions;

use super::rules::{Affine, Rule, affine_relevance, stabilize};
use super::{LayerRules, LrpConfig, LrpOutput, output_relevance};
use crate::AttributionError;
use crate::resnet_host::is_cpu;

/// Symmetric padding of a layer, or an error naming it.
pub(crate) fn symmetric(
    padding: &PaddingConfig2d,
    layer: &str,
) -> Result<[usize; 2], AttributionError> {
    biaslens_model::host::symmetric(padding).ok_or_else(|| {
        AttributionError::Config(format!(
            "the ResNet walks (LRP, gradient) support symmetric explicit padding only; {layer} has {padding:?}"
        ))
    })
}

/// A convolution of the ResNet as an [`Affine`] layer (its own weight and bias), or an error
/// naming it when it is grouped, dilated or asymmetrically padded (neither walk supports those).
pub(crate) fn conv_affine(conv: &Conv2d, name: &str) -> Result<Affine, AttributionError> {
    let padding = symmetric(&conv.padding, name)?;
    if conv.groups != 1 || conv.dilation != [1, 1] {
        return Err(AttributionError::Config(format!(
            "the ResNet walks (LRP, gradient) support ungrouped, undilated convolutions only; {name} has groups {} and dilation {:?}",
            conv.groups, conv.dilation
        )));
    }
    Ok(Affine {
        weight: conv.weight.val().inner(),
        bias: conv.bias.as_ref().map(|b| b.val().inner()),
        stride: conv.stride,
        padding,
    })
}

/// The (convolution, BatchNorm, name) pairs of a block's main branch in order, and its
/// downsampling shortcut, if any.
pub(crate) fn block_layers(block: &Block) -> (Vec<(&Conv2d, &BatchNorm, &'static str)>, Option<&Downsample>) {
    let (pairs, downsample) = block.layers();
    let named = pairs.into_iter().zip(["conv1", "conv2", "conv3"]).map(|((c, bn), name)| (c, bn, name)).collect();
    (named, downsample)
}

/// The options of the stem's max pooling, with its (checked) symmetric padding.
pub(crate) fn max_pool_options(pool: &MaxPool2d) -> Result<(MaxPoolOptions<2>, [usize; 2]), AttributionError> {
    let padding = symmetric(&pool.padding, "maxpool")?;
    let options = MaxPoolOptions::new(pool.kernel_size)
        .with_stride(pool.stride)
        .with_padding(padding)
        .with_dilation(pool.dilation)
        .with_ceil_mode(pool.ceil_mode);
    Ok((options, padding))
}

/// BatchNorm in evaluation mode as plain tensors.
#[derive(Debug, Clone)]
pub(crate) struct Bn {
    pub gamma: Tensor<1>,
    pub beta: Tensor<1>,
    pub mean: Tensor<1>,
    pub var: Tensor<1>,
    pub epsilon: f64,
}

impl Bn {
    pub(crate) fn of(bn: &BatchNorm) -> Self {
        Self {
            gamma: bn.gamma.val().inner(),
            beta: bn.beta.val().inner(),
            mean: bn.running_mean.value().inner(),
            var: bn.running_var.value().inner(),
            epsilon: bn.epsilon,
        }
    }

    /// `γ/√(σ²+ε)` per channel: the factor BatchNorm multiplies its input by.
    pub(crate) fn scale(&self) -> Tensor<1> {
        self.gamma.clone() / (self.var.clone() + self.epsilon).sqrt()
    }

    /// # Shapes
    /// `[N, C, H, W]` → the same.
    pub(crate) fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        batch_norm(
            x,
            self.gamma.clone(),
            self.beta.clone(),
            self.mean.clone(),
            self.var.clone(),
            self.epsilon,
        )
    }
}

/// A convolution and the BatchNorm after it: kept apart (BatchNorm passes relevance) or merged
/// into one affine layer (Zennit's `MergeBatchNorm`: `w' = w·γ/√(σ²+ε)`,
/// `b' = (b − μ)·γ/√(σ²+ε) + β`).
#[derive(Debug, Clone)]
struct Unit {
    conv: Affine,
    bn: Option<Bn>,
}

impl Unit {
    fn new(
        conv: &Conv2d,
        bn: &BatchNorm,
        merge: bool,
        name: &str,
    ) -> Result<Self, AttributionError> {
        let Affine { weight, bias, stride, padding } = conv_affine(conv, name)?;
        let bn = Bn::of(bn);
        let (weight, bias, bn) = if merge {
            let [c_out, ..] = weight.dims();
            let scale = bn.scale();
            let bias0 = bias.unwrap_or_else(|| scale.zeros_like());
            let weight = weight * scale.clone().reshape([c_out, 1, 1, 1]);
            let bias = (bias0 - bn.mean) * scale + bn.beta;
            (weight, Some(bias), None)
        } else {
            (weight, bias, Some(bn))
        };
        Ok(Self { conv: Affine { weight, bias, stride, padding }, bn })
    }

    /// # Shapes
    /// `[N, C_in, H, W]` → `[N, C_out, h, w]`.
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let z = self.conv.forward(x);
        match &self.bn {
            Some(bn) => bn.forward(z),
            None => z,
        }
    }

    /// BatchNorm passes relevance ([`Rule::Pass`], as in every Zennit composite), so the
    /// relevance at the unit's output is the relevance at the convolution's output.
    fn relevance(&self, rule: Rule, x: Tensor<4>, r: Tensor<4>, x_nonnegative: bool) -> Tensor<4> {
        affine_relevance(rule, &self.conv, x, r, x_nonnegative)
    }
}

/// A residual block as a chain of units with ReLUs in between, a shortcut, the sum and a ReLU.
#[derive(Debug, Clone)]
struct BlockTrace {
    units: Vec<Unit>,
    downsample: Option<Unit>,
}

impl BlockTrace {
    fn new(block: &Block, merge: bool, name: &str) -> Result<Self, AttributionError> {
        let (pairs, ds) = block_layers(block);
        let units = pairs
            .into_iter()
            .map(|(conv, bn, layer)| Unit::new(conv, bn, merge, &format!("{name}.{layer}")))
            .collect::<Result<Vec<_>, _>>()?;
        let downsample = match ds {
            Some(d) => Some(Unit::new(&d.conv, &d.bn, merge, &format!("{name}.downsample.0"))?),
            None => None,
        };
        Ok(Self { units, downsample })
    }
}

/// What the forward pass of one block keeps for the backward pass.
struct BlockRecord {
    /// Input of each unit of the main branch (`inputs[0]` is the block input).
    inputs: Vec<Tensor<4>>,
    /// Main-branch output before the sum.
    branch: Tensor<4>,
    /// Shortcut output before the sum.
    identity: Tensor<4>,
    /// Whether the block input is known to be ≥ 0.
    input_nonnegative: bool,
}

/// LRP maps of `model` for `x` under `config`.
///
/// `targets`: one class per image (the true label or a class of your choice), or `None` for each
/// image's predicted class. `hook` is the model's [`ForwardHook`] (e.g. a ClArC projection), run
/// at the same taps as [`ResNet::forward_hooked`], so the maps explain the function the model
/// computes; relevance passes a hook unchanged, as the gradient does through DetoxAI's hooks,
/// whose correction is computed on detached activations (`docs/METHODS.md#lrp-debiased`). `model`
/// may live on an autodiff device; its parameters are used as constants.
///
/// # Shapes
/// - `x`: `[N, 3, H, W]`
/// - returns maps `[N, 3, H, W]`, logits `[N, K]`, sums `[N]`
pub fn lrp_resnet(
    model: &ResNet,
    x: Tensor<4>,
    targets: Option<&[usize]>,
    config: &LrpConfig,
    hook: Option<&mut dyn ForwardHook>,
) -> Result<LrpOutput, AttributionError> {
    let output = config.output;
    lrp_resnet_with_output(model, x, config, hook, |logits| {
        output_relevance(logits, targets, output)
    })
}

/// As [`lrp_resnet`], with the relevance at the logits computed by `output_relevance` from the
/// logits (`[N, K]` → `[N, K]`); [`LrpConfig::output`] is ignored. This is how a model with an
/// output transform is explained the way Zennit does it: DetoxAI's threshold hooks replace the
/// logits by `[1 − s, s]`, and Zennit's Epsilon rule on `fc` then starts from `s_c · e_c`,
/// bypassing the transform (`docs/METHODS.md#lrp-debiased`).
///
/// # Shapes
/// - `x`: `[N, 3, H, W]`; returns maps `[N, 3, H, W]`, logits `[N, K]`, sums `[N]`
pub fn lrp_resnet_with_output(
    model: &ResNet,
    x: Tensor<4>,
    config: &LrpConfig,
    hook: Option<&mut dyn ForwardHook>,
    output_relevance: impl FnOnce(Tensor<2>) -> Result<Tensor<2>, AttributionError>,
) -> Result<LrpOutput, AttributionError> {
    lrp_resnet_traced(model, x, config, hook, output_relevance, LrpTrace::Auto)
}

/// Where [`lrp_resnet_traced`] computes the trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LrpTrace {
    /// On host memory when the model and the images are on burn's CPU backend and there is no
    /// hook (each convolution one matrix product over the batch: `lrp/host.rs`), else through
    /// burn's tensor operations. What [`lrp_resnet`] does.
    Auto,
    /// Always through burn's tensor operations (what a GPU runs), e.g. to compare the two.
    Tensor,
}

/// As [`lrp_resnet_with_output`], choosing where the trace runs ([`LrpTrace`]). The two traces
/// agree to float32 summation order (`tests/lrp_equal.rs`).
///
/// # Shapes
/// - `x`: `[N, 3, H, W]`; returns maps `[N, 3, H, W]`, logits `[N, K]`, sums `[N]`
pub fn lrp_resnet_traced(
    model: &ResNet,
    x: Tensor<4>,
    config: &LrpConfig,
    mut hook: Option<&mut dyn ForwardHook>,
    output_relevance: impl FnOnce(Tensor<2>) -> Result<Tensor<2>, AttributionError>,
    trace: LrpTrace,
) -> Result<LrpOutput, AttributionError> {
    let rules = config.validate()?;
    let merge = config.canonize;
    let x = x.inner();
    if trace == LrpTrace::Auto
        && hook.is_none()
        && is_cpu(&x.device())
        && is_cpu(&model.fc.weight.val().device())
        && super::host::covers(model)
    {
        return super::host::lrp_resnet_host(model, x, &rules, merge, output_relevance);
    }

    // Forward, keeping each node's input.
    let conv1 = Unit::new(&model.conv1, &model.bn1, merge, "conv1")?;
    let pre_pool = conv1.forward(x.clone()).clamp_min(0.0);
    let pool = &model.maxpool;
    let (pool_options, pool_padding) = max_pool_options(pool)?;
    let (pooled_stem, pool_indices) = max_pool2d_with_indices(pre_pool.clone(), pool_options);
    let mut h = pooled_stem;
    let mut nonnegative = true;
    if let Some(hk) = hook.as_deref_mut() {
        h = hk.feature_map(Tap::Stem, h);
        nonnegative = false;
    }
    let taps = [Tap::Layer1, Tap::Layer2, Tap::Layer3, Tap::Layer4];
    let mut blocks: Vec<(BlockTrace, BlockRecord)> = Vec::new();
    for (s, (stage, tap)) in model.stages().into_iter().zip(taps).enumerate() {
        for (i, block) in stage.iter().enumerate() {
            let trace = BlockTrace::new(block, merge, &format!("layer{}.{i}", s + 1))?;
            let mut inputs = vec![h.clone()];
            let mut a = h.clone();
            let last = trace.units.len() - 1;
            for (u, unit) in trace.units.iter().enumerate() {
                a = unit.forward(a);
                if u < last {
                    a = a.clamp_min(0.0);
                    inputs.push(a.clone());
                }
            }
            let identity = match &trace.downsample {
                Some(d) => d.forward(h.clone()),
                None => h.clone(),
            };
            let record = BlockRecord {
                inputs,
                branch: a.clone(),
                identity: identity.clone(),
                input_nonnegative: nonnegative,
            };
            h = (a + identity).clamp_min(0.0);
            nonnegative = true;
            blocks.push((trace, record));
        }
        if let Some(hk) = hook.as_deref_mut() {
            h = hk.feature_map(tap, h);
            nonnegative = false;
        }
    }
    let last_map = h;
    let [n, c, fh, fw] = last_map.dims();
    let mut features = last_map.clone().mean_dim(3).mean_dim(2).reshape([n, c]);
    if let Some(hk) = hook {
        features = hk.pooled(features);
    }
    let fc_weight = model.fc.weight.val().inner(); // burn stores [in, out]
    let [_, k] = fc_weight.dims();
    let fc = Affine {
        weight: fc_weight.transpose().reshape([k, c, 1, 1]),
        bias: model.fc.bias.as_ref().map(|b| b.val().inner()),
        stride: [1, 1],
        padding: [0, 0],
    };
    let features4 = features.reshape([n, c, 1, 1]);
    let logits = fc.forward(features4.clone()).reshape([n, k]);

    // Backward.
    let r_out = output_relevance(logits.clone())?;
    if r_out.dims() != [n, k] {
        return Err(AttributionError::Config(format!(
            "the output relevance has shape {:?}; it must match the logits, [{n}, {k}]",
            r_out.dims()
        )));
    }
    let output_sum = r_out.clone().sum_dim(1).reshape([n]);
    let r = affine_relevance(
        rules.linear,
        &fc,
        features4,
        r_out.reshape([n, k, 1, 1]),
        false,
    );
    let mut r = avgpool_relevance(rules.avgpool, last_map, r.reshape([n, c]), [fh, fw])?;
    for (trace, record) in blocks.into_iter().rev() {
        r = block_relevance(&rules, &trace, record, r, merge);
    }
    let r = max_pool2d_with_indices_backward(
        pre_pool.clone(),
        pool.kernel_size,
        pool.stride,
        pool_padding,
        pool.dilation,
        pool.ceil_mode,
        r,
        pool_indices,
    );
    let map = conv1.relevance(rules.first_conv, x, r, false);
    let input_sum = map.clone().sum_dim(3).sum_dim(2).sum_dim(1).reshape([n]);
    Ok(LrpOutput {
        map,
        logits,
        output_sum,
        input_sum,
    })
}

/// Relevance through global average pooling: [`Rule::Norm`] splits each channel's relevance in
/// proportion to the activations it averaged; [`Rule::Pass`] is not shape-preserving here and
/// is refused; the other rules make no sense for a pooling layer.
///
/// # Shapes
/// - `x`: `[N, C, h, w]`, `r`: `[N, C]`; returns `[N, C, h, w]`
fn avgpool_relevance(
    rule: Rule,
    x: Tensor<4>,
    r: Tensor<2>,
    hw: [usize; 2],
) -> Result<Tensor<4>, AttributionError> {
    let [n, c, ..] = x.dims();
    match rule {
        Rule::Norm { stabilizer }
        | Rule::Epsilon {
            epsilon: stabilizer,
        } => {
            let z = x.clone().mean_dim(3).mean_dim(2); // [N, C, 1, 1]
            let s = r.reshape([n, c, 1, 1]) / stabilize(z, stabilizer) / (hw[0] * hw[1]) as f64;
            Ok(x * s)
        }
        other => Err(AttributionError::Config(format!(
            "average pooling takes the Norm (or Epsilon) rule, not {other:?}"
        ))),
    }
}

/// Relevance through one residual block.
///
/// # Shapes
/// - `r`: the block's output shape; returns the block's input shape
fn block_relevance(
    rules: &LayerRules,
    trace: &BlockTrace,
    record: BlockRecord,
    r: Tensor<4>,
    canonized: bool,
) -> Tensor<4> {
    // The ReLU after the sum passes relevance (Zennit's Pass for activations).
    let (r_branch, r_identity) = if canonized {
        // The canonizer's Sum node: split by each branch's share of the (stabilised) sum.
        let stabilizer = match rules.sum {
            Rule::Norm { stabilizer }
            | Rule::Epsilon {
                epsilon: stabilizer,
            } => stabilizer,
            // `LrpConfig::validate` admits nothing else for the sum.
            _ => 0.0,
        };
        let z = record.branch.clone() + record.identity.clone();
        let ratio = r / stabilize(z, stabilizer);
        (record.branch * ratio.clone(), record.identity * ratio)
    } else {
        // A plain tensor add: its gradient copies relevance to both branches.
        (r.clone(), r)
    };
    let mut r = r_branch;
    for (u, unit) in trace.units.iter().enumerate().rev() {
        let nonnegative = u > 0 || record.input_nonnegative;
        r = unit.relevance(rules.conv, record.inputs[u].clone(), r, nonnegative);
    }
    let block_input = record.inputs[0].clone();
    let r_shortcut = match &trace.downsample {
        Some(d) => d.relevance(
            rules.conv,
            block_input,
            r_identity,
            record.input_nonnegative,
        ),
        None => r_identity,
    };
    r + r_shortcut
}
