//! Classifiers in burn 0.22 (device-dispatched tensors: the backend is the [`Device`]).
//!
//! - [`ResNet`]: torchvision-compatible ResNet-18/34/50 (He et al., "Deep Residual Learning for
//!   Image Recognition", CVPR 2016) with any number of classes, plus the compact preset of the
//!   in-browser demo ([`ResNetConfig::compact`]); hooks at named layers ([`Tap`],
//!   [`ForwardHook`]); seeded torchvision initialisation, bit-identical on every platform
//!   ([`ResNetConfig::init_seeded`], [`mod@init`]).
//! - [`weights`]: torchvision state dicts in `.safetensors`, in and out.
//! - [`mod@train`]: a plain training loop that runs in the browser (Adam, progress, cancellation).
//! - [`host`]: host-memory kernels of a ResNet pass on the CPU (whole-batch convolutions).
//! - [`mod@pace`]: where long loops give the host (a browser tab) a turn between batches.
//! - [`readback`]: reading tensors back, one asynchronous transaction per batch.
//! - [`TinyCnn`]: the small network of the device self-test.
//!
//! [`Device`]: burn::prelude::Device

/// Adam's ε as PyTorch (and so the authors' code) sets it; burn's default is 1e-5, which damps
/// the steps of parameters with small gradients (docs/METHODS.md#training).
pub const TORCH_ADAM_EPSILON: f32 = 1e-8;

pub mod host;
pub mod host_train;
pub mod init;
pub mod pace;
pub mod readback;
pub mod reference_weights;
pub mod resnet;
pub mod tiny;
pub mod train;
pub mod weights;

pub use resnet::{
    BasicBlock, Block, BlockKind, Bottleneck, COMPACT_WIDTH, Capture, Downsample, ForwardHook,
    NoHook, ResNet, ResNetConfig, Tap,
};
pub use tiny::{TinyCnn, TinyCnnWeights, TinyShapeError};
pub use train::{
    COMPACT_DEMO_TRAIN_IMAGES, FineTune, TrainConfig, TrainData, TrainError, TrainOutcome,
    TrainProgress, train,
};
pub use weights::{StateTensor, WeightsError, check_finite, load_torchvision_any_head, state_dict_to_safetensors, torchvision_architecture, torchvision_num_classes};
