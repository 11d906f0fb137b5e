//! Residual networks (He et al., "Deep Residual Learning for Image Recognition", CVPR 2016) laid
//! out exactly like torchvision's `torchvision.models.resnet` (v1.5: the stride of a bottleneck
//! sits on its 3×3 convolution), so that torchvision state-dict keys name the same parameters:
//! `conv1`, `bn1`, `layer1.0.conv1`, `layer2.0.downsample.0`, `fc`.
//!
//! Every layer is a named field and every residual sum is a visible `out + identity` in
//! [`BasicBlock::forward`] / [`Bottleneck::forward`], so attribution code (LRP) can walk the
//! network node by node: stem ([`ResNet::conv1`] → [`ResNet::bn1`] → ReLU → [`ResNet::maxpool`]),
//! the four stages of [`Block`]s, [`ResNet::avgpool`], flatten, [`ResNet::fc`].

use burn::module::Param;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig, MaxPool2d, MaxPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d, Relu};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

/// Which residual block a network is built from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BlockKind {
    /// Two 3×3 convolutions, expansion 1 (ResNet-18/34).
    Basic,
    /// 1×1 → 3×3 → 1×1 convolutions, expansion 4 (ResNet-50/101/152).
    Bottleneck,
}

impl BlockKind {
    /// Output channels of a block per unit of `planes`.
    pub fn expansion(self) -> usize {
        match self {
            Self::Basic => 1,
            Self::Bottleneck => 4,
        }
    }
}

/// Architecture of a [`ResNet`]: block kind, blocks per stage, width and classes.
#[derive(Config, Debug, PartialEq)]
pub struct ResNetConfig {
    /// Block kind.
    pub block: BlockKind,
    /// Number of blocks in `layer1..layer4` (ResNet-18: `[2, 2, 2, 2]`).
    pub layers: [usize; 4],
    /// Number of outputs of `fc`.
    pub num_classes: usize,
    /// Channels of the stem and of `layer1`'s `planes`; torchvision uses 64. Stages double it.
    #[config(default = 64)]
    pub width: usize,
}

impl ResNetConfig {
    /// torchvision `resnet18(num_classes)`.
    pub fn resnet18(num_classes: usize) -> Self {
        Self::new(BlockKind::Basic, [2, 2, 2, 2], num_classes)
    }

    /// torchvision `resnet34(num_classes)`.
    pub fn resnet34(num_classes: usize) -> Self {
        Self::new(BlockKind::Basic, [3, 4, 6, 3], num_classes)
    }

    /// torchvision `resnet50(num_classes)`.
    pub fn resnet50(num_classes: usize) -> Self {
        Self::new(BlockKind::Bottleneck, [3, 4, 6, 3], num_classes)
    }

    /// The in-browser demo network: the ResNet-18 layout at a quarter of the width
    /// (stages of 16, 32, 64, 128 channels), meant for 64×64 inputs. About 1/16 of ResNet-18's
    /// multiply-adds; see `BENCHMARKS.md` for its training time and accuracy.
    pub fn compact(num_classes: usize) -> Self {
        Self::resnet18(num_classes).with_width(COMPACT_WIDTH)
    }

    /// Features entering `fc` (512 for ResNet-18/34, 2048 for ResNet-50).
    pub fn feature_dim(&self) -> usize {
        self.width * 8 * self.block.expansion()
    }

    /// A network with burn's default-initialised parameters (PyTorch-like layer defaults;
    /// BatchNorm γ = 1, β = 0, running mean 0, variance 1) on `device`. The values come from
    /// burn's device random number generator, unseeded and different per backend; use
    /// [`ResNetConfig::init_seeded`] for reproducible weights.
    ///
    /// # Panics
    /// If `width` or `num_classes` is zero (burn's layer constructors reject empty layers).
    pub fn init(&self, device: &Device) -> ResNet {
        self.build(device, None)
    }

    /// A network with torchvision's ResNet initialisation drawn from `seed`: bit-identical
    /// weights for the same seed on every device and platform (generated on the host with the
    /// project's SplitMix64, then uploaded; see [`crate::init`]).
    ///
    /// - every convolution: `kaiming_normal_(mode="fan_out", nonlinearity="relu")`, i.e.
    ///   `N(0, 2 / (C_out · k²))` (He et al., "Delving Deep into Rectifiers", ICCV 2015), as
    ///   torchvision's `ResNet.__init__` does;
    /// - BatchNorm: γ = 1, β = 0, running mean 0, running variance 1;
    /// - `fc`: PyTorch's `nn.Linear` default, weight and bias `U(−1/√fan_in, 1/√fan_in)`
    ///   (`kaiming_uniform_(a=√5)`).
    ///
    /// Each tensor's values depend only on `(seed, torchvision key, shape)`.
    ///
    /// # Panics
    /// If `width` or `num_classes` is zero.
    pub fn init_seeded(&self, seed: u64, device: &Device) -> ResNet {
        self.build(device, Some(seed))
    }

    fn build(&self, device: &Device, seed: Option<u64>) -> ResNet {
        let w = self.width;
        let conv1 = conv(3, w, 7, 2, device, seed, "conv1");
        let maxpool = MaxPool2dConfig::new([3, 3])
            .with_strides([2, 2])
            .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
            .init();
        let mut in_ch = w;
        let mut stage = |layer: usize, planes: usize, blocks: usize, stride: usize| -> Vec<Block> {
            (0..blocks)
                .map(|i| {
                    let s = if i == 0 { stride } else { 1 };
                    let init = LayerInit {
                        device,
                        seed,
                        prefix: format!("layer{layer}.{i}"),
                    };
                    let block = Block::new(self.block, in_ch, planes, s, &init);
                    in_ch = planes * self.block.expansion();
                    block
                })
                .collect()
        };
        let layer1 = stage(1, w, self.layers[0], 1);
        let layer2 = stage(2, w * 2, self.layers[1], 2);
        let layer3 = stage(3, w * 4, self.layers[2], 2);
        let layer4 = stage(4, w * 8, self.layers[3], 2);
        let fc = head(self.feature_dim(), self.num_classes, seed, device);
        ResNet {
            conv1,
            bn1: BatchNormConfig::new(w).init(device),
            relu: Relu::new(),
            maxpool,
            layer1,
            layer2,
            layer3,
            layer4,
            avgpool: AdaptiveAvgPool2dConfig::new([1, 1]).init(),
            fc,
        }
    }
}

/// The classifier `fc`: `d_in` pooled features to `d_out` logits; with a seed PyTorch's
/// `nn.Linear` default drawn from `(seed, "fc")` ([`crate::init::linear_default`]).
fn head(d_in: usize, d_out: usize, seed: Option<u64>, device: &Device) -> Linear {
    let mut fc = LinearConfig::new(d_in, d_out).init(device);
    if let Some(seed) = seed {
        let (weight, bias) = crate::init::linear_default(seed, "fc", d_out, d_in);
        // PyTorch [out, in] → burn [in, out].
        let mut transposed = vec![0.0f32; weight.len()];
        for o in 0..d_out {
            for i in 0..d_in {
                transposed[i * d_out + o] = weight[o * d_in + i];
            }
        }
        fc.weight = Param::from_data(TensorData::new(transposed, [d_in, d_out]), device);
        fc.bias = Some(Param::from_data(TensorData::new(bias, [d_out]), device));
    }
    fc
}

/// Where a block's layers are created and, for seeded weights, the seed and the torchvision
/// key prefix of the block (`layer2.0`).
struct LayerInit<'a> {
    device: &'a Device,
    seed: Option<u64>,
    prefix: String,
}

impl LayerInit<'_> {
    fn conv(&self, name: &str, in_ch: usize, out_ch: usize, k: usize, stride: usize) -> Conv2d {
        let key = format!("{}.{name}", self.prefix);
        conv(in_ch, out_ch, k, stride, self.device, self.seed, &key)
    }
}

/// Width of [`ResNetConfig::compact`].
pub const COMPACT_WIDTH: usize = 16;

/// A bias-free `k`×`k` convolution with padding `k / 2`; with a seed its weight is torchvision's
/// `kaiming_normal_(mode="fan_out")` for torchvision key `{key}.weight` (burn's lazy default
/// initialiser is then never run).
fn conv(
    in_ch: usize,
    out_ch: usize,
    k: usize,
    stride: usize,
    device: &Device,
    seed: Option<u64>,
    key: &str,
) -> Conv2d {
    let p = k / 2;
    let mut conv = Conv2dConfig::new([in_ch, out_ch], [k, k])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(p, p, p, p))
        .with_bias(false)
        .init(device);
    if let Some(seed) = seed {
        let shape = [out_ch, in_ch, k, k];
        let values = crate::init::kaiming_normal_fan_out(seed, &format!("{key}.weight"), shape);
        conv.weight = Param::from_data(TensorData::new(values, shape), device);
    }
    conv
}

/// The projection shortcut of a block whose shape changes: 1×1 convolution with the block's
/// stride, then BatchNorm. torchvision's `downsample` is an `nn.Sequential`, so its keys are
/// `downsample.0.*` / `downsample.1.*`; the loader maps them onto `conv` / `bn`.
#[derive(Module, Debug)]
pub struct Downsample {
    /// torchvision `downsample.0`.
    pub conv: Conv2d,
    /// torchvision `downsample.1`.
    pub bn: BatchNorm,
}

impl Downsample {
    /// # Shapes
    /// `[N, C_in, H, W]` → `[N, C_out, H/stride, W/stride]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.bn.forward(self.conv.forward(x))
    }
}

/// torchvision `BasicBlock`: conv3×3(stride) → BN → ReLU → conv3×3 → BN, `+ identity`, ReLU.
#[derive(Module, Debug)]
pub struct BasicBlock {
    /// 3×3, carries the stride.
    pub conv1: Conv2d,
    /// After `conv1`.
    pub bn1: BatchNorm,
    /// Shared ReLU (applied twice, as in torchvision).
    pub relu: Relu,
    /// 3×3.
    pub conv2: Conv2d,
    /// After `conv2`.
    pub bn2: BatchNorm,
    /// Projection shortcut when stride or channels change.
    pub downsample: Option<Downsample>,
}

impl BasicBlock {
    /// # Shapes
    /// `[N, C_in, H, W]` → `[N, planes, H/stride, W/stride]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let identity = match &self.downsample {
            Some(d) => d.forward(x.clone()),
            None => x.clone(),
        };
        let out = self.relu.forward(self.bn1.forward(self.conv1.forward(x)));
        let out = self.bn2.forward(self.conv2.forward(out));
        self.relu.forward(out + identity)
    }
}

/// torchvision `Bottleneck` (v1.5): conv1×1 → BN → ReLU → conv3×3(stride) → BN → ReLU →
/// conv1×1 (×4 channels) → BN, `+ identity`, ReLU.
#[derive(Module, Debug)]
pub struct Bottleneck {
    /// 1×1 reduction to `planes`.
    pub conv1: Conv2d,
    /// After `conv1`.
    pub bn1: BatchNorm,
    /// 3×3, carries the stride.
    pub conv2: Conv2d,
    /// After `conv2`.
    pub bn2: BatchNorm,
    /// 1×1 expansion to `4 · planes`.
    pub conv3: Conv2d,
    /// After `conv3`.
    pub bn3: BatchNorm,
    /// Shared ReLU (applied three times, as in torchvision).
    pub relu: Relu,
    /// Projection shortcut when stride or channels change.
    pub downsample: Option<Downsample>,
}

impl Bottleneck {
    /// # Shapes
    /// `[N, C_in, H, W]` → `[N, 4·planes, H/stride, W/stride]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let identity = match &self.downsample {
            Some(d) => d.forward(x.clone()),
            None => x.clone(),
        };
        let out = self.relu.forward(self.bn1.forward(self.conv1.forward(x)));
        let out = self.relu.forward(self.bn2.forward(self.conv2.forward(out)));
        let out = self.bn3.forward(self.conv3.forward(out));
        self.relu.forward(out + identity)
    }
}

/// One residual block of either kind. The variant name does not appear in torchvision keys; the
/// loader and exporter skip it (`layer1.0.conv1.weight`).
// The variants differ in size by a few hundred bytes of layer metadata (the tensors are behind
// handles); boxing would add an indirection to every block visit for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Block {
    /// ResNet-18/34 block.
    Basic(BasicBlock),
    /// ResNet-50 block.
    Bottleneck(Bottleneck),
}

impl Block {
    fn new(
        kind: BlockKind,
        in_ch: usize,
        planes: usize,
        stride: usize,
        init: &LayerInit<'_>,
    ) -> Self {
        let out_ch = planes * kind.expansion();
        let bn = |c: usize| BatchNormConfig::new(c).init(init.device);
        let downsample = (stride != 1 || in_ch != out_ch).then(|| Downsample {
            conv: init.conv("downsample.0", in_ch, out_ch, 1, stride),
            bn: bn(out_ch),
        });
        match kind {
            BlockKind::Basic => Self::Basic(BasicBlock {
                conv1: init.conv("conv1", in_ch, planes, 3, stride),
                bn1: bn(planes),
                relu: Relu::new(),
                conv2: init.conv("conv2", planes, planes, 3, 1),
                bn2: bn(planes),
                downsample,
            }),
            BlockKind::Bottleneck => Self::Bottleneck(Bottleneck {
                conv1: init.conv("conv1", in_ch, planes, 1, 1),
                bn1: bn(planes),
                conv2: init.conv("conv2", planes, planes, 3, stride),
                bn2: bn(planes),
                conv3: init.conv("conv3", planes, out_ch, 1, 1),
                bn3: bn(out_ch),
                relu: Relu::new(),
                downsample,
            }),
        }
    }

    /// # Shapes
    /// `[N, C_in, H, W]` → `[N, C_out, H/stride, W/stride]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        match self {
            Self::Basic(b) => b.forward(x),
            Self::Bottleneck(b) => b.forward(x),
        }
    }

    /// The main branch's (convolution, BatchNorm) pairs in order (ReLU between them), and the
    /// projection shortcut, if any: what code that walks a block layer by layer reads.
    pub fn layers(&self) -> (Vec<(&Conv2d, &BatchNorm)>, Option<&Downsample>) {
        match self {
            Self::Basic(b) => (vec![(&b.conv1, &b.bn1), (&b.conv2, &b.bn2)], b.downsample.as_ref()),
            Self::Bottleneck(b) => {
                (vec![(&b.conv1, &b.bn1), (&b.conv2, &b.bn2), (&b.conv3, &b.bn3)], b.downsample.as_ref())
            }
        }
    }

    /// [`Block::layers`], to write into.
    pub fn layers_mut(&mut self) -> (Vec<(&mut Conv2d, &mut BatchNorm)>, Option<&mut Downsample>) {
        match self {
            Self::Basic(b) => (vec![(&mut b.conv1, &mut b.bn1), (&mut b.conv2, &mut b.bn2)], b.downsample.as_mut()),
            Self::Bottleneck(b) => (
                vec![(&mut b.conv1, &mut b.bn1), (&mut b.conv2, &mut b.bn2), (&mut b.conv3, &mut b.bn3)],
                b.downsample.as_mut(),
            ),
        }
    }
}

/// Named points of the forward pass where a [`ForwardHook`] sees (and may replace) activations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Tap {
    /// After `maxpool` (`[N, width, H/4, W/4]`).
    Stem,
    /// After `layer1`.
    Layer1,
    /// After `layer2`.
    Layer2,
    /// After `layer3`.
    Layer3,
    /// After `layer4` (the last feature map, before pooling).
    Layer4,
    /// After `avgpool` + flatten: the penultimate features `[N, feature_dim]` that enter `fc`
    /// (the layer ClArC fits its concept vectors on).
    Pooled,
}

impl Tap {
    /// All taps in forward order.
    pub const ALL: [Tap; 6] = [
        Tap::Stem,
        Tap::Layer1,
        Tap::Layer2,
        Tap::Layer3,
        Tap::Layer4,
        Tap::Pooled,
    ];

    /// The torchvision module name whose output this tap is (`"maxpool"`, `"layer1"`, …,
    /// `"avgpool"`).
    pub fn name(self) -> &'static str {
        match self {
            Tap::Stem => "maxpool",
            Tap::Layer1 => "layer1",
            Tap::Layer2 => "layer2",
            Tap::Layer3 => "layer3",
            Tap::Layer4 => "layer4",
            Tap::Pooled => "avgpool",
        }
    }

    /// Inverse of [`Tap::name`].
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.name() == name)
    }
}

/// Observes or transforms activations at the [`Tap`]s of [`ResNet::forward_hooked`]. Both
/// methods return the tensor the rest of the network continues with; the defaults pass it on
/// unchanged. A recorder clones what it wants; a ClArC projection returns a modified tensor.
pub trait ForwardHook {
    /// A feature map after [`Tap::Stem`] … [`Tap::Layer4`].
    ///
    /// # Shapes
    /// `[N, C, H, W]` in, the same shape out.
    fn feature_map(&mut self, tap: Tap, x: Tensor<4>) -> Tensor<4> {
        let _ = tap;
        x
    }

    /// The pooled penultimate features ([`Tap::Pooled`]).
    ///
    /// # Shapes
    /// `[N, feature_dim]` in, the same shape out.
    fn pooled(&mut self, x: Tensor<2>) -> Tensor<2> {
        x
    }

    /// Whether the hook neither changes nor records anything, so that a forward pass may skip
    /// it (training on host memory does). `false` unless a hook says otherwise.
    fn is_identity(&self) -> bool {
        false
    }
}

/// The hook that does nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoHook;
impl ForwardHook for NoHook {
    fn is_identity(&self) -> bool {
        true
    }
}

/// Records the activations at chosen [`Tap`]s (clones; the forward continues unchanged).
#[derive(Debug, Default)]
pub struct Capture {
    /// Taps to record.
    pub taps: Vec<Tap>,
    /// Recorded feature maps, in forward order.
    pub maps: Vec<(Tap, Tensor<4>)>,
    /// Recorded pooled features, if [`Tap::Pooled`] was asked for.
    pub pooled: Option<Tensor<2>>,
}

impl Capture {
    /// Record at `taps`.
    pub fn new(taps: impl Into<Vec<Tap>>) -> Self {
        Self {
            taps: taps.into(),
            ..Self::default()
        }
    }
}

impl ForwardHook for Capture {
    fn feature_map(&mut self, tap: Tap, x: Tensor<4>) -> Tensor<4> {
        if self.taps.contains(&tap) {
            self.maps.push((tap, x.clone()));
        }
        x
    }

    fn pooled(&mut self, x: Tensor<2>) -> Tensor<2> {
        if self.taps.contains(&Tap::Pooled) {
            self.pooled = Some(x.clone());
        }
        x
    }
}

/// A torchvision-compatible ResNet. Field names are torchvision's module names.
#[derive(Module, Debug)]
pub struct ResNet {
    /// Stem convolution 7×7, stride 2, padding 3, no bias.
    pub conv1: Conv2d,
    /// Stem BatchNorm.
    pub bn1: BatchNorm,
    /// Stem ReLU.
    pub relu: Relu,
    /// 3×3 max pool, stride 2, padding 1.
    pub maxpool: MaxPool2d,
    /// Stage 1 (stride 1).
    pub layer1: Vec<Block>,
    /// Stage 2 (stride 2).
    pub layer2: Vec<Block>,
    /// Stage 3 (stride 2).
    pub layer3: Vec<Block>,
    /// Stage 4 (stride 2).
    pub layer4: Vec<Block>,
    /// Global average pool to 1×1.
    pub avgpool: AdaptiveAvgPool2d,
    /// Classifier; burn stores its weight as `[in, out]` (torchvision: `[out, in]`).
    pub fc: Linear,
}

impl ResNet {
    /// The four stages in order, for code that walks the network.
    pub fn stages(&self) -> [&[Block]; 4] {
        [&self.layer1, &self.layer2, &self.layer3, &self.layer4]
    }

    /// Mutable access to the four stages.
    pub fn stages_mut(&mut self) -> [&mut Vec<Block>; 4] {
        [
            &mut self.layer1,
            &mut self.layer2,
            &mut self.layer3,
            &mut self.layer4,
        ]
    }

    /// Number of outputs of `fc`.
    pub fn num_classes(&self) -> usize {
        self.fc.weight.shape().dims::<2>()[1]
    }

    /// Stem: conv1 → bn1 → ReLU → maxpool.
    ///
    /// # Shapes
    /// `[N, 3, H, W]` → `[N, width, ⌈H/4⌉, ⌈W/4⌉]` (exactly torchvision's arithmetic).
    pub fn stem(&self, x: Tensor<4>) -> Tensor<4> {
        let x = self.relu.forward(self.bn1.forward(self.conv1.forward(x)));
        self.maxpool.forward(x)
    }

    /// Average pool and flatten.
    ///
    /// # Shapes
    /// `[N, C, h, w]` → `[N, C]`.
    pub fn pool(&self, x: Tensor<4>) -> Tensor<2> {
        self.avgpool.forward(x).flatten(1, 3)
    }

    /// Logits.
    ///
    /// # Shapes
    /// `[N, 3, H, W]` (H, W ≥ 1; any size torchvision accepts) → `[N, num_classes]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        self.forward_hooked(x, &mut NoHook)
    }

    /// The pooled penultimate features (input of `fc`).
    ///
    /// # Shapes
    /// `[N, 3, H, W]` → `[N, feature_dim]`.
    pub fn features(&self, x: Tensor<4>) -> Tensor<2> {
        let mut x = self.stem(x);
        for stage in self.stages() {
            for block in stage {
                x = block.forward(x);
            }
        }
        self.pool(x)
    }

    /// Logits, with `hook` seeing and possibly replacing the activations at every [`Tap`].
    ///
    /// # Shapes
    /// `[N, 3, H, W]` → `[N, num_classes]`.
    pub fn forward_hooked(
        &self,
        x: Tensor<4>,
        hook: &mut (impl ForwardHook + ?Sized),
    ) -> Tensor<2> {
        let mut x = hook.feature_map(Tap::Stem, self.stem(x));
        let taps = [Tap::Layer1, Tap::Layer2, Tap::Layer3, Tap::Layer4];
        for (stage, tap) in self.stages().into_iter().zip(taps) {
            for block in stage {
                x = block.forward(x);
            }
            x = hook.feature_map(tap, x);
        }
        let pooled = hook.pooled(self.pool(x));
        self.fc.forward(pooled)
    }

    /// The same network with a new classifier of `classes` outputs, drawn from `seed` as
    /// [`ResNetConfig::init_seeded`] draws `fc` (PyTorch's `nn.Linear` default): the pretrained
    /// start of docs/METHODS.md#pretrained-start, where an ImageNet model's 1000-class `fc` is
    /// replaced by a 2-class one (`model.fc = nn.Linear(2048, 2)` in torchvision terms) before
    /// fine-tuning. Every other parameter and BatchNorm statistic is kept.
    ///
    /// # Panics
    /// If `classes` is zero.
    #[must_use]
    pub fn with_new_head(mut self, classes: usize, seed: u64) -> Self {
        let [d_in, _] = self.fc.weight.shape().dims();
        let device = self.fc.weight.device();
        self.fc = head(d_in, classes, Some(seed), &device);
        self
    }

    /// Freeze (no gradients, BatchNorm statistics fixed) the stem and every stage up to and
    /// including the one that produces `last_frozen`, for partial fine-tuning: `Tap::Stem`
    /// trains `layer1..layer4` and `fc`, `Tap::Layer3` trains `layer4` and `fc`, `Tap::Layer4`
    /// or `Tap::Pooled` trains `fc` only.
    pub fn freeze_through(mut self, last_frozen: Tap) -> Self {
        self.conv1 = self.conv1.freeze();
        self.bn1 = self.bn1.freeze();
        let n = match last_frozen {
            Tap::Stem => 0,
            Tap::Layer1 => 1,
            Tap::Layer2 => 2,
            Tap::Layer3 => 3,
            Tap::Layer4 | Tap::Pooled => 4,
        };
        for stage in self.stages_mut().into_iter().take(n) {
            let blocks = std::mem::take(stage);
            *stage = blocks.into_iter().map(Module::freeze).collect();
        }
        self
    }
}
