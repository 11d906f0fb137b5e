//! The input gradient of a torchvision-layout [`ResNet`] by a hand-written backward walk (a
//! vector–Jacobian product without burn's autodiff tape): the gradient of Simonyan, Vedaldi &
//! Zisserman ("Deep Inside Convolutional Networks", ICLR workshop 2014) on which gradient × input,
//! SmoothGrad and Integrated Gradients rest (`docs/METHODS.md#gradient`).
//!
//! The walk mirrors the LRP trace of `lrp/resnet.rs`: one forward pass that keeps what the
//! backward needs, then one pass over the same nodes in reverse, each node applying its exact
//! derivative:
//!
//! - convolution + BatchNorm (evaluation mode, running statistics): the transposed convolution
//!   ([`Affine::input_grad`]) with the weight `w·γ/√(σ²+ε)`, i.e. BatchNorm's per-channel scale
//!   merged into the weight (Zennit's `MergeBatchNorm`) for the backward only;
//! - ReLU: the gradient where the output is > 0, zero elsewhere (burn's and PyTorch's convention
//!   at the kink), from a Boolean mask kept by the forward pass;
//! - max pool: to the arg max (`max_pool2d_with_indices_backward`);
//! - residual sum: copied to both branches and added at the block input;
//! - global average pool: `g/(h·w)` at every position;
//! - `fc`: `g Wᵀ` (burn stores the weight `[in, out]`).
//!
//! The forward pass runs the very operations of [`ResNet::forward_hooked`] (convolution, then
//! BatchNorm, unmerged), so its ReLU masks and pooling arg maxes are those autodiff would record;
//! the result equals autodiff's gradient up to float32 rounding of the backward
//! (`tests/resnet_grad_equal.rs`).
//!
//! Anything that is not a ResNet layer is differentiated exactly by a *local* autodiff VJP: a
//! [`ForwardHook`] (e.g. a ClArC projection) at a [`Tap`] makes the tap's activation an autodiff
//! leaf, and the gradient arriving at the hook's output is pulled back through the hook alone;
//! an output transform (e.g. a soft threshold on the logits) is differentiated on the `[R, K]`
//! logits only. So any hook and any transform stay exact at the cost of a few element-wise
//! operations.
//!
//! Nothing is read back to the host and nothing blocks: the walk runs on any device, the browser's
//! WebGPU included.

use biaslens_model::{Block, ForwardHook, ResNet, Tap};
use burn::nn::BatchNorm;
use burn::nn::conv::Conv2d;
use burn::prelude::*;
use burn::tensor::Bool;
use burn::tensor::module::{
    adaptive_avg_pool2d, linear, max_pool2d_with_indices, max_pool2d_with_indices_backward,
};
use burn::tensor::ops::MaxPoolOptions;

use crate::lrp::resnet::{Bn, block_layers, conv_affine, max_pool_options};
use crate::lrp::rules::Affine;
use crate::resnet_host::{HostWalk, PathStem, host as to_host, is_cpu};
use crate::{
    AttributionError, GradModel, OutputRelevance, StraightPath, item_rows, output_seed,
};

/// A transform of the network's logits into the model's output (`[R, K]` → `[R, K']`), e.g. the
/// soft threshold of a debiased classifier. It is called on autodiff tensors (it is
/// differentiated locally) and on plain ones; row `r` of a gradient batch is image `r mod N`.
pub type OutputFn<'a> = dyn Fn(Tensor<2>) -> Result<Tensor<2>, AttributionError> + 'a;

/// A convolution, the BatchNorm after it, and the weight of the pair's backward pass.
#[derive(Debug, Clone)]
pub(crate) struct Layer {
    pub(crate) conv: Affine,
    pub(crate) bn: Bn,
    /// `w·γ/√(σ²+ε)`: the Jacobian of BatchNorm ∘ convolution is the convolution with it.
    pub(crate) back: Tensor<4>,
}

impl Layer {
    fn new(conv: &Conv2d, bn: &BatchNorm, name: &str) -> Result<Self, AttributionError> {
        let conv = conv_affine(conv, name)?;
        let bn = Bn::of(bn);
        let [c_out, ..] = conv.weight.dims();
        let back = conv.weight.clone() * bn.scale().reshape([c_out, 1, 1, 1]);
        Ok(Self { conv, bn, back })
    }

    /// # Shapes
    /// `[R, C_in, H, W]` → `[R, C_out, h, w]`.
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.bn.forward(self.conv.forward(x))
    }

    /// # Shapes
    /// `g`: `[R, C_out, h, w]`, `in_hw` = `[H, W]` → `[R, C_in, H, W]`.
    fn backward(&self, g: Tensor<4>, in_hw: [usize; 2]) -> Tensor<4> {
        self.conv.input_grad(g, self.back.clone(), in_hw)
    }
}

/// One residual block: the main branch's layers (ReLU between them) and the shortcut.
#[derive(Debug, Clone)]
pub(crate) struct BlockWalk {
    pub(crate) layers: Vec<Layer>,
    pub(crate) downsample: Option<Layer>,
}

impl BlockWalk {
    fn new(block: &Block, name: &str) -> Result<Self, AttributionError> {
        let (pairs, ds) = block_layers(block);
        let layers = pairs
            .into_iter()
            .map(|(c, bn, l)| Layer::new(c, bn, &format!("{name}.{l}")))
            .collect::<Result<Vec<_>, _>>()?;
        let downsample = match ds {
            Some(d) => Some(Layer::new(&d.conv, &d.bn, &format!("{name}.downsample.0"))?),
            None => None,
        };
        Ok(Self { layers, downsample })
    }
}

/// What the forward pass of one block keeps: the spatial size entering each layer and the
/// ReLU masks (`true` where the ReLU output is 0, so its gradient is 0).
struct BlockTape {
    in_hw: Vec<[usize; 2]>,
    /// After layers `0..last` of the main branch.
    dead: Vec<Tensor<4, Bool>>,
    /// After the residual sum.
    out_dead: Tensor<4, Bool>,
}

impl BlockWalk {
    /// # Shapes
    /// `[R, C_in, H, W]` → `[R, C_out, h, w]`.
    fn forward(&self, x: Tensor<4>, keep: bool) -> (Tensor<4>, Option<BlockTape>) {
        let mut in_hw = Vec::new();
        let mut dead = Vec::new();
        let mut a = x.clone();
        let last = self.layers.len() - 1;
        for (u, layer) in self.layers.iter().enumerate() {
            if keep {
                let [_, _, h, w] = a.dims();
                in_hw.push([h, w]);
            }
            a = layer.forward(a);
            if u < last {
                a = burn::tensor::activation::relu(a);
                if keep {
                    dead.push(a.clone().lower_equal_elem(0.0));
                }
            }
        }
        let identity = match &self.downsample {
            Some(d) => d.forward(x),
            None => x,
        };
        let out = burn::tensor::activation::relu(a + identity);
        let tape = keep.then(|| BlockTape {
            in_hw,
            dead,
            out_dead: out.clone().lower_equal_elem(0.0),
        });
        (out, tape)
    }

    /// # Shapes
    /// `g`: the block's output shape → the block's input shape.
    fn backward(&self, g: Tensor<4>, tape: BlockTape) -> Tensor<4> {
        let g = g.mask_fill(tape.out_dead, 0.0);
        let shortcut = match &self.downsample {
            Some(d) => d.backward(g.clone(), tape.in_hw[0]),
            None => g.clone(),
        };
        let mut dead = tape.dead;
        let mut gb = g;
        for (u, layer) in self.layers.iter().enumerate().rev() {
            gb = layer.backward(gb, tape.in_hw[u]);
            if u > 0
                && let Some(mask) = dead.pop()
            {
                gb = gb.mask_fill(mask, 0.0);
            }
        }
        gb + shortcut
    }
}

/// A hook applied at a tap with a local autodiff graph: the leaf (the tap's activation) and the
/// hook's output.
struct LocalVjp<const D: usize> {
    leaf: Tensor<D>,
    out: Tensor<D>,
}

impl<const D: usize> LocalVjp<D> {
    /// `∂(g · hook(a))/∂a`: the gradient `g` at the hook's output pulled back through the hook.
    ///
    /// # Shapes
    /// `g`: the tap's shape → the same.
    fn pull(self, g: Tensor<D>) -> Tensor<D> {
        if !self.out.is_tracked() {
            // The hook replaced the activation by something that does not depend on it.
            return g.zeros_like();
        }
        let grads = (self.out * g.clone()).sum().backward();
        self.leaf.grad(&grads).unwrap_or_else(|| g.zeros_like())
    }
}

/// Pulls `g` back through the hook of a tap, if a hook was recorded there.
fn pull<const D: usize>(local: Option<LocalVjp<D>>, g: Tensor<D>) -> Tensor<D> {
    match local {
        Some(l) => l.pull(g),
        None => g,
    }
}

/// The hook's shape check: a hook must keep the activation's shape, as
/// [`ResNet::forward_hooked`] requires.
fn same_shape<const D: usize>(
    tap: Tap,
    before: [usize; D],
    after: [usize; D],
) -> Result<(), AttributionError> {
    if before == after {
        Ok(())
    } else {
        Err(AttributionError::Config(format!(
            "the hook at {tap:?} changed the activation's shape from {before:?} to {after:?}"
        )))
    }
}

/// Applies `hook` at a feature-map tap; with `keep` (and a hook) on a local autodiff graph whose
/// VJP the backward pass takes.
///
/// # Shapes
/// `a`: `[R, C, h, w]` → the same.
fn tap_map(
    hook: &mut Option<&mut dyn ForwardHook>,
    tap: Tap,
    a: Tensor<4>,
    keep: bool,
) -> Result<(Tensor<4>, Option<LocalVjp<4>>), AttributionError> {
    let Some(hook) = hook.as_deref_mut() else {
        return Ok((a, None));
    };
    let dims = a.dims();
    if keep {
        let leaf = a.autodiff().require_grad();
        let out = hook.feature_map(tap, leaf.clone());
        same_shape(tap, dims, out.dims())?;
        Ok((out.clone().inner(), Some(LocalVjp { leaf, out })))
    } else {
        let out = hook.feature_map(tap, a).inner();
        same_shape(tap, dims, out.dims())?;
        Ok((out, None))
    }
}

/// As [`tap_map`] for the pooled features ([`Tap::Pooled`]).
///
/// # Shapes
/// `a`: `[R, F]` → the same.
fn tap_pooled(
    hook: &mut Option<&mut dyn ForwardHook>,
    a: Tensor<2>,
    keep: bool,
) -> Result<(Tensor<2>, Option<LocalVjp<2>>), AttributionError> {
    let Some(hook) = hook.as_deref_mut() else {
        return Ok((a, None));
    };
    let dims = a.dims();
    if keep {
        let leaf = a.autodiff().require_grad();
        let out = hook.pooled(leaf.clone());
        same_shape(Tap::Pooled, dims, out.dims())?;
        Ok((out.clone().inner(), Some(LocalVjp { leaf, out })))
    } else {
        let out = hook.pooled(a).inner();
        same_shape(Tap::Pooled, dims, out.dims())?;
        Ok((out, None))
    }
}

/// What the whole forward pass keeps for the backward pass.
struct Tape {
    x_hw: [usize; 2],
    /// The stem's ReLU output (the max pool's input; its zeros are the stem's ReLU mask).
    pre_pool: Tensor<4>,
    pool_indices: Tensor<4, Int>,
    stem_hook: Option<LocalVjp<4>>,
    /// Per stage: its blocks' tapes and the hook at its tap.
    stages: Vec<(Vec<BlockTape>, Option<LocalVjp<4>>)>,
    /// `[h, w]` of the last feature map (the average pool's input).
    last_hw: [usize; 2],
    pooled_hook: Option<LocalVjp<2>>,
}

/// [`Walk::path_stem`]: the stem convolution of a straight path's two ends.
#[derive(Debug)]
struct TensorPathStem {
    base: Tensor<4>,
    diff: Tensor<4>,
    x_hw: [usize; 2],
}

/// What [`ResNetGrad`] keeps of the last straight path, by the path's id.
#[derive(Debug)]
enum PathStems {
    Host(PathStem),
    Tensor(TensorPathStem),
}

/// A [`ResNet`] prepared for the walk: parameters as plain tensors, backward weights merged.
#[derive(Debug, Clone)]
pub(crate) struct Walk {
    pub(crate) stem: Layer,
    pub(crate) pool: MaxPoolOptions<2>,
    /// The max pool's symmetric padding (the backward takes it per axis).
    pub(crate) pool_padding: [usize; 2],
    pub(crate) stages: Vec<Vec<BlockWalk>>,
    /// `[in, out]`, burn's layout.
    pub(crate) fc_weight: Tensor<2>,
    pub(crate) fc_bias: Option<Tensor<1>>,
}

impl Walk {
    fn new(model: &ResNet) -> Result<Self, AttributionError> {
        let (pool, pool_padding) = max_pool_options(&model.maxpool)?;
        let stages = model
            .stages()
            .into_iter()
            .enumerate()
            .map(|(s, stage)| {
                stage
                    .iter()
                    .enumerate()
                    .map(|(i, b)| BlockWalk::new(b, &format!("layer{}.{i}", s + 1)))
                    .collect::<Result<Vec<_>, _>>()
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            stem: Layer::new(&model.conv1, &model.bn1, "conv1")?,
            pool,
            pool_padding,
            stages,
            fc_weight: model.fc.weight.val().inner(),
            fc_bias: model.fc.bias.as_ref().map(|b| b.val().inner()),
        })
    }

    /// The logits, exactly as [`ResNet::forward_hooked`] computes them, and with `keep` the tape.
    ///
    /// # Shapes
    /// `x`: `[R, 3, H, W]` → `[R, K]`.
    fn forward(
        &self,
        x: Tensor<4>,
        hook: &mut Option<&mut dyn ForwardHook>,
        keep: bool,
    ) -> Result<(Tensor<2>, Option<Tape>), AttributionError> {
        let [_, _, xh, xw] = x.dims();
        let pre_pool = burn::tensor::activation::relu(self.stem.forward(x));
        self.forward_from_stem(pre_pool, [xh, xw], hook, keep)
    }

    /// [`Walk::forward`] from the stem's output after its ReLU, for images of size `x_hw`.
    fn forward_from_stem(
        &self,
        pre_pool: Tensor<4>,
        [xh, xw]: [usize; 2],
        hook: &mut Option<&mut dyn ForwardHook>,
        keep: bool,
    ) -> Result<(Tensor<2>, Option<Tape>), AttributionError> {
        let (pooled, pool_indices) = max_pool2d_with_indices(pre_pool.clone(), self.pool.clone());
        let (mut h, stem_hook) = tap_map(hook, Tap::Stem, pooled, keep)?;
        let taps = [Tap::Layer1, Tap::Layer2, Tap::Layer3, Tap::Layer4];
        let mut stages = Vec::new();
        for (stage, tap) in self.stages.iter().zip(taps) {
            let mut tapes = Vec::new();
            for block in stage {
                let (out, tape) = block.forward(h, keep);
                h = out;
                tapes.extend(tape);
            }
            let (out, local) = tap_map(hook, tap, h, keep)?;
            h = out;
            stages.push((tapes, local));
        }
        let [_, _, fh, fw] = h.dims();
        let features = adaptive_avg_pool2d(h, [1, 1]).flatten(1, 3);
        let (features, pooled_hook) = tap_pooled(hook, features, keep)?;
        let logits = linear(features, self.fc_weight.clone(), self.fc_bias.clone());
        let tape = keep.then(|| Tape {
            x_hw: [xh, xw],
            pre_pool,
            pool_indices,
            stem_hook,
            stages,
            last_hw: [fh, fw],
            pooled_hook,
        });
        Ok((logits, tape))
    }

    /// The input gradient for the gradient `g` at the logits.
    ///
    /// # Shapes
    /// `g`: `[R, K]` → `[R, 3, H, W]`.
    fn backward(&self, g: Tensor<2>, tape: Tape) -> Tensor<4> {
        let x_hw = tape.x_hw;
        self.stem.backward(self.backward_to_stem(g, tape), x_hw)
    }

    /// The gradient at the stem's BatchNorm output (through its ReLU) for the gradient `g` at
    /// the logits.
    ///
    /// # Shapes
    /// `g`: `[R, K]` → `[R, C_stem, h, w]`.
    fn backward_to_stem(&self, g: Tensor<2>, tape: Tape) -> Tensor<4> {
        let g = g.matmul(self.fc_weight.clone().transpose()); // [R, F]
        let g = pull(tape.pooled_hook, g);
        let [r, c] = g.dims();
        let [fh, fw] = tape.last_hw;
        let mut g = g
            .div_scalar((fh * fw) as f32)
            .reshape([r, c, 1, 1])
            .expand([r, c, fh, fw]);
        for (stage, (tapes, local)) in self.stages.iter().zip(tape.stages).rev() {
            g = pull(local, g);
            for (block, block_tape) in stage.iter().zip(tapes).rev() {
                g = block.backward(g, block_tape);
            }
        }
        let g = pull(tape.stem_hook, g);
        let p = &self.pool;
        let g = max_pool2d_with_indices_backward(
            tape.pre_pool.clone(),
            p.kernel_size,
            p.stride,
            self.pool_padding,
            p.dilation,
            p.ceil_mode,
            g,
            tape.pool_indices,
        );
        g.mask_fill(tape.pre_pool.lower_equal_elem(0.0), 0.0)
    }

    /// The stem convolution of both ends of a straight path `b + α·d` (`docs/METHODS.md#resnet-grad`,
    /// "A straight path"): `conv(b)` with the convolution's bias, `conv(d)` without.
    ///
    /// # Shapes
    /// `baseline`, `diff`: `[N, 3, H, W]` → `[N, C_stem, h, w]` each.
    fn path_stem(&self, baseline: Tensor<4>, diff: Tensor<4>) -> TensorPathStem {
        let [_, _, xh, xw] = diff.dims();
        let conv = &self.stem.conv;
        TensorPathStem {
            base: conv.forward(baseline),
            diff: conv.forward_with(diff, conv.weight.clone(), None),
            x_hw: [xh, xw],
        }
    }

    /// The input gradient summed over the path's points at `alphas` (each point's stem output
    /// from `stem`, the rest as [`Walk::input_grad`], the stem's transposed convolution once on
    /// the steps' summed gradients), and the logits of every point (row `s·N + i`: image `i` at
    /// `alphas[s]`).
    ///
    /// # Shapes
    /// returns (`[N, 3, H, W]`, `[m·N, K]`).
    fn path_input_grad(
        &self,
        hook: &mut Option<&mut dyn ForwardHook>,
        stem: &TensorPathStem,
        alphas: &[f32],
        output_grad: impl FnOnce(Tensor<2>) -> Result<Tensor<2>, AttributionError>,
    ) -> Result<(Tensor<4>, Tensor<2>), AttributionError> {
        let pre = Tensor::cat(
            alphas.iter().map(|&a| stem.base.clone() + stem.diff.clone().mul_scalar(a)).collect(),
            0,
        );
        let pre_pool = burn::tensor::activation::relu(self.stem.bn.forward(pre));
        let (logits, tape) = self.forward_from_stem(pre_pool, stem.x_hw, hook, true)?;
        let (g, tape) = Self::seed(&logits, tape, output_grad)?;
        let g = crate::sum_row_blocks(self.backward_to_stem(g, tape), alphas.len());
        Ok((self.stem.backward(g, stem.x_hw), logits))
    }

    /// # Shapes
    /// `points`: `[R, 3, H, W]` → (`[R, 3, H, W]`, `[R, K]`).
    fn input_grad(
        &self,
        hook: &mut Option<&mut dyn ForwardHook>,
        points: Tensor<4>,
        output_grad: impl FnOnce(Tensor<2>) -> Result<Tensor<2>, AttributionError>,
    ) -> Result<(Tensor<4>, Tensor<2>), AttributionError> {
        let (logits, tape) = self.forward(points.inner(), hook, true)?;
        let (g, tape) = Self::seed(&logits, tape, output_grad)?;
        Ok((self.backward(g, tape), logits))
    }

    /// `output_grad`'s gradient at the `logits` of a taped forward pass, checked against their
    /// shape (without autodiff), and the tape (`forward` keeps one whenever asked to).
    fn seed(
        logits: &Tensor<2>,
        tape: Option<Tape>,
        output_grad: impl FnOnce(Tensor<2>) -> Result<Tensor<2>, AttributionError>,
    ) -> Result<(Tensor<2>, Tape), AttributionError> {
        let [n, k] = logits.dims();
        let g = output_grad(logits.clone())?;
        if g.dims() != [n, k] {
            return Err(AttributionError::Config(format!(
                "the gradient at the logits has shape {:?}; it must match the logits, [{n}, {k}]",
                g.dims()
            )));
        }
        let Some(tape) = tape else {
            return Err(AttributionError::Config("the ResNet walk kept no tape".into()));
        };
        Ok((g.inner(), tape))
    }
}

/// The input gradient of `model` (with `hook` at its taps, as [`ResNet::forward_hooked`] runs
/// it) for the gradient at the logits that `output_grad` returns from the logits: one forward
/// pass keeping the ReLU masks and max-pool indices, one hand-written backward pass (see the
/// module docs). `model` may live on an autodiff device; its parameters are used as constants
/// and BatchNorm always uses its running statistics (evaluation mode).
///
/// # Shapes
/// - `points`: `[R, 3, H, W]`, any device
/// - `output_grad`: `[R, K]` logits → `[R, K]` gradient at the logits
/// - returns (`[R, 3, H, W]` input gradient, `[R, K]` logits), both without autodiff
///
/// # Errors
/// [`AttributionError::Config`] for a layer the walk does not support (asymmetric padding,
/// grouped or dilated convolutions), a hook that changes a shape, or a gradient of the wrong
/// shape; and whatever `output_grad` returns.
pub fn resnet_input_grad(
    model: &ResNet,
    hook: Option<&mut dyn ForwardHook>,
    points: Tensor<4>,
    output_grad: impl FnOnce(Tensor<2>) -> Result<Tensor<2>, AttributionError>,
) -> Result<(Tensor<4>, Tensor<2>), AttributionError> {
    let mut hook = hook;
    Walk::new(model)?.input_grad(&mut hook, points, output_grad)
}

/// A [`ResNet`] with an optional [`ForwardHook`] and an optional [`OutputFn`] as a [`GradModel`]
/// whose gradients come from the hand-written walk ([`resnet_input_grad`]); pass it to
/// [`crate::integrated_gradients_with`], [`crate::smooth_grad_with`], [`crate::gradient_with`] or
/// [`crate::gradient_x_input_with`]. The layers are prepared once, at [`ResNetGrad::new`].
pub struct ResNetGrad<'a> {
    walk: Walk,
    hook: Option<Box<dyn ForwardHook + 'a>>,
    output: Option<Box<OutputFn<'a>>>,
    /// Whether to take the host walk on a CPU device (`resnet_host.rs`).
    on_host: bool,
    /// The host walk, read from `walk` at its first use on a CPU device (`Some(None)`: the model
    /// is one the host walk does not cover).
    host: Option<Option<HostWalk>>,
    /// The stem convolutions of the last straight path, by the path's id.
    path_stem: Option<(u64, PathStems)>,
}

impl std::fmt::Debug for ResNetGrad<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResNetGrad")
            .field("hook", &self.hook.is_some())
            .field("output", &self.output.is_some())
            .field("on_host", &self.on_host)
            .finish_non_exhaustive()
    }
}

impl<'a> ResNetGrad<'a> {
    /// `model` as it is: no hook, its logits as the output.
    ///
    /// # Errors
    /// [`AttributionError::Config`] for a layer the walk does not support.
    pub fn new(model: &ResNet) -> Result<Self, AttributionError> {
        Ok(Self {
            walk: Walk::new(model)?,
            hook: None,
            output: None,
            on_host: true,
            host: None,
            path_stem: None,
        })
    }

    /// Whether to run on host memory with whole-pass matrix products when the model and the
    /// images are on burn's CPU backend (the default, `resnet_host.rs`), or always through burn's
    /// tensor operations (the walk the GPU runs). The two agree to float32 summation order; the
    /// switch exists to compare them. A hook at a tap always takes the tensor walk.
    pub fn on_host(mut self, on: bool) -> Self {
        self.on_host = on;
        self
    }

    /// The logits of `x` from the host walk's forward pass (whole-batch matrix products,
    /// `resnet_host.rs`), when the host walk applies to `x`'s device: a CPU device and no hook.
    /// `None` otherwise, where the caller's own forward pass is the one to run (on a GPU, burn's
    /// forward is the fast one). No output transform is applied. Equal to
    /// [`ResNet::forward`] in evaluation mode up to float32 summation order.
    ///
    /// # Shapes
    /// `x`: `[N, C, H, W]` → `[N, K]`.
    ///
    /// # Errors
    /// [`AttributionError::Config`] for images the network cannot take.
    pub fn host_logits(&mut self, x: Tensor<4>) -> Result<Option<Tensor<2>>, AttributionError> {
        let x = x.inner();
        let device = x.device();
        let Some(host) = self.host_walk(&device)? else {
            return Ok(None);
        };
        let dims = x.dims();
        let logits = host.logits(&to_host(x)?, dims)?;
        let k = logits.len() / dims[0].max(1);
        Ok(Some(Tensor::<2>::from_data(TensorData::new(logits, [dims[0], k]), &device)))
    }

    /// The host walk, when it applies to images on `device`.
    fn host_walk(&mut self, device: &Device) -> Result<Option<&HostWalk>, AttributionError> {
        if !self.on_host
            || self.hook.is_some()
            || !is_cpu(device)
            || !is_cpu(&self.walk.fc_weight.device())
        {
            return Ok(None);
        }
        if self.host.is_none() {
            self.host = Some(HostWalk::of(&self.walk)?);
        }
        Ok(self.host.as_ref().and_then(Option::as_ref))
    }

    /// With `hook` at the taps (as [`ResNet::forward_hooked`] applies it).
    pub fn with_hook(mut self, hook: impl ForwardHook + 'a) -> Self {
        self.hook = Some(Box::new(hook));
        self
    }

    /// With the model's output `output(logits)` instead of the logits ([`OutputFn`]).
    pub fn with_output(
        mut self,
        output: impl Fn(Tensor<2>) -> Result<Tensor<2>, AttributionError> + 'a,
    ) -> Self {
        self.output = Some(Box::new(output));
        self
    }
}

/// A boxed hook as the walk takes it.
fn reborrow<'s>(
    hook: &'s mut Option<Box<dyn ForwardHook + '_>>,
) -> Option<&'s mut dyn ForwardHook> {
    match hook.as_mut() {
        Some(h) => Some(&mut **h),
        None => None,
    }
}

impl GradModel for ResNetGrad<'_> {
    fn forward(&mut self, x: Tensor<4>) -> Result<Tensor<2>, AttributionError> {
        let x = x.inner();
        let logits = match self.host_logits(x.clone())? {
            Some(logits) => logits,
            None => {
                let mut hook = reborrow(&mut self.hook);
                self.walk.forward(x, &mut hook, false)?.0
            }
        };
        match &self.output {
            Some(f) => Ok(f(logits)?.inner()),
            None => Ok(logits),
        }
    }

    fn weighted_grad(
        &mut self,
        points: Tensor<4>,
        targets: &[usize],
        weights: &[f32],
        relevance: OutputRelevance,
    ) -> Result<(Tensor<4>, Tensor<2>), AttributionError> {
        let mut outputs = None;
        let points = points.inner();
        let device = points.device();
        if self.host_walk(&device)?.is_some() {
            let dims = points.dims();
            let x = to_host(points)?;
            let Some(Some(host)) = &self.host else {
                return Err(AttributionError::Config("the host walk was not prepared".into()));
            };
            let output = self.output.as_deref();
            let (grad, logits) = host.input_grad(&x, dims, |logits, [n, k]| {
                let logits = Tensor::<2>::from_data(TensorData::new(logits.to_vec(), [n, k]), &device);
                let (g, y) = output_gradient(logits, output, targets, weights, relevance)?;
                outputs = Some(y);
                to_host(g)
            })?;
            let n = dims[0];
            let grad = Tensor::<4>::from_data(TensorData::new(grad, dims), &device);
            let logits = match outputs {
                Some(y) => y,
                None => {
                    let k = logits.len() / n.max(1);
                    Tensor::<2>::from_data(TensorData::new(logits, [n, k]), &device)
                }
            };
            return Ok((grad, logits));
        }
        let mut hook = reborrow(&mut self.hook);
        let output = self.output.as_deref();
        let (grad, logits) = self.walk.input_grad(&mut hook, points, |logits| {
            let (g, y) = output_gradient(logits, output, targets, weights, relevance)?;
            outputs = Some(y);
            Ok(g)
        })?;
        Ok((grad, outputs.unwrap_or(logits)))
    }

    /// The stem is convolved once per path, on host memory and on burn's tensors alike (a hook
    /// sits after the stem, so it changes nothing there).
    fn path_grad(
        &mut self,
        path: &StraightPath,
        steps: std::ops::Range<usize>,
        targets: &[usize],
        relevance: OutputRelevance,
    ) -> Result<Tensor<4>, AttributionError> {
        let (alphas, weights) = path.steps(steps)?;
        let device = path.diff.device();
        let dims = path.diff.dims();
        let on_host = self.host_walk(&device)?.is_some();
        if self.path_stem.as_ref().is_none_or(|(id, _)| *id != path.id()) {
            let stem = match &self.host {
                Some(Some(host)) if on_host => PathStems::Host(host.path_stem(
                    &to_host(path.baseline.clone().inner())?,
                    &to_host(path.diff.clone().inner())?,
                    dims,
                )?),
                _ => PathStems::Tensor(self.walk.path_stem(path.baseline.clone().inner(), path.diff.clone().inner())),
            };
            self.path_stem = Some((path.id(), stem));
        }
        let (row_targets, row_weights) = item_rows(targets, weights);
        let output = self.output.as_deref();
        match (&self.path_stem, &self.host) {
            (Some((_, PathStems::Host(stem))), Some(Some(host))) if on_host => {
                let (grad, _) = host.path_grad(stem, alphas, |logits, [r, k]| {
                    let logits = Tensor::<2>::from_data(TensorData::new(logits.to_vec(), [r, k]), &device);
                    let (g, _) = output_gradient(logits, output, &row_targets, &row_weights, relevance)?;
                    to_host(g)
                })?;
                Ok(Tensor::<4>::from_data(TensorData::new(grad, dims), &device))
            }
            (Some((_, PathStems::Tensor(stem))), _) if !on_host => {
                let mut hook = reborrow(&mut self.hook);
                let (grad, _) = self.walk.path_input_grad(&mut hook, stem, alphas, |logits| {
                    Ok(output_gradient(logits, output, &row_targets, &row_weights, relevance)?.0)
                })?;
                Ok(grad)
            }
            _ => Err(AttributionError::Config("the path's stem was not prepared".into())),
        }
    }
}

/// The gradient at the logits of `Σ_r w_r r_out,r · y_r` with `y = output(logits)` (or the
/// logits), by a local autodiff pass through the output transform; and `y`.
///
/// # Shapes
/// - `logits`: `[R, K]`; returns (`[R, K]`, `[R, K']`) without autodiff
fn output_gradient(
    logits: Tensor<2>,
    output: Option<&OutputFn<'_>>,
    targets: &[usize],
    weights: &[f32],
    relevance: OutputRelevance,
) -> Result<(Tensor<2>, Tensor<2>), AttributionError> {
    let Some(f) = output else {
        let seed = output_seed(&logits, targets, weights, relevance)?;
        return Ok((seed, logits));
    };
    let leaf = logits.autodiff().require_grad();
    let y = f(leaf.clone())?;
    let seed = output_seed(&y, targets, weights, relevance)?;
    let plain = y.clone().inner();
    if !y.is_tracked() {
        // The output does not depend on the logits.
        return Ok((leaf.inner().zeros_like(), plain));
    }
    let grads = (y * seed).sum().backward();
    let g = leaf
        .grad(&grads)
        .unwrap_or_else(|| leaf.clone().inner().zeros_like());
    Ok((g, plain))
}
