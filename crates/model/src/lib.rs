//! Classifiers in burn 0.22 (device-dispatched tensors: the backend is the [`Device`]).
//!
//! Today: [`TinyCnn`], the small network of the device self-test. The torchvision-compatible
//! ResNets (He et al., "Deep Residual Learning for Image Recognition", CVPR 2016) land here next.
//!
//! [`Device`]: burn::prelude::Device

pub mod tiny;

pub use tiny::{TinyCnn, TinyCnnWeights, TinyShapeError};
