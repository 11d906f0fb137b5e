//! The critics of the adversarial methods, initialised from the project's seeded generator
//! (PyTorch's default `U(−1/√fan_in, 1/√fan_in)` for weights and biases) rather than from the
//! device's generator, and with dropout masks drawn the same way.

use biaslens_rng::SplitMix64;
use burn::module::Param;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig, MaxPool2d, MaxPool2dConfig};
use burn::nn::{Initializer, Linear};
use burn::prelude::*;
use burn::tensor::activation::relu;

use crate::common::{dropout_mask, uniform_init};

fn linear(d_in: usize, d_out: usize, rng: &mut SplitMix64, device: &Device) -> Linear {
    let w = uniform_init(d_in * d_out, d_in, rng);
    let b = uniform_init(d_out, d_in, rng);
    Linear {
        weight: Param::from_tensor(Tensor::from_data(TensorData::new(w, [d_in, d_out]), device)),
        bias: Some(Param::from_tensor(Tensor::from_data(
            TensorData::new(b, [d_out]),
            device,
        ))),
    }
}

/// ZhangAL's adversary: `Linear` layers with ReLU and dropout between them, 2-way output.
#[derive(Module, Debug)]
pub(crate) struct MlpCritic {
    layers: Vec<Linear>,
}

impl MlpCritic {
    /// `d_in → hidden[0] → … → hidden[last] → d_out`.
    pub(crate) fn new(
        d_in: usize,
        hidden: &[usize],
        d_out: usize,
        rng: &mut SplitMix64,
        device: &Device,
    ) -> Self {
        let mut dims = vec![d_in];
        dims.extend_from_slice(hidden);
        dims.push(d_out);
        let layers = dims
            .windows(2)
            .map(|w| linear(w[0], w[1], rng, device))
            .collect();
        Self { layers }
    }

    /// `dropout`: the drop probability and the generator of its masks, or `None` for none.
    ///
    /// # Shapes
    /// `[N, d_in]` → `[N, d_out]`.
    pub(crate) fn forward(
        &self,
        x: Tensor<2>,
        mut dropout: Option<(f64, &mut SplitMix64)>,
    ) -> Tensor<2> {
        let last = self.layers.len().saturating_sub(1);
        let mut x = x;
        for (i, layer) in self.layers.iter().enumerate() {
            x = layer.forward(x);
            if i < last {
                x = relu(x);
                if let Some((p, rng)) = dropout.as_mut()
                    && *p > 0.0
                {
                    let [n, d] = x.dims();
                    x = x.clone() * dropout_mask(n, d, *p, rng, &x.device());
                }
            }
        }
        x
    }
}

/// SavaniAFT's critic: 3×3 convolutions with ReLU (max-pool 2 after every one but the first),
/// adaptive average pool to 3×3, then — as in DetoxAI's `Flatten(start_dim=0)` — the **whole
/// batch** flattened into one vector, `Linear` layers with ReLU, and one scalar out: a
/// prediction of the batch's EO gap. Its input size therefore fixes the batch size.
#[derive(Module, Debug)]
pub(crate) struct BatchCritic {
    convs: Vec<Conv2d>,
    pool: MaxPool2d,
    avg: AdaptiveAvgPool2d,
    linears: Vec<Linear>,
}

impl BatchCritic {
    /// 3×3 convolutions padded "same" (one pixel each side), as the authors' code builds them
    /// (docs/METHODS.md#savani-aft).
    pub(crate) fn new(
        channels: usize,
        filters: &[usize],
        hidden: &[usize],
        batch: usize,
        rng: &mut SplitMix64,
        device: &Device,
    ) -> Self {
        let mut convs = Vec::new();
        let mut c_in = channels;
        for &f in filters {
            let mut conv = Conv2dConfig::new([c_in, f], [3, 3])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .with_initializer(Initializer::Zeros)
                .init(device);
            let fan_in = c_in * 9;
            conv.weight = Param::from_tensor(Tensor::from_data(
                TensorData::new(uniform_init(f * fan_in, fan_in, rng), [f, c_in, 3, 3]),
                device,
            ));
            conv.bias = Some(Param::from_tensor(Tensor::from_data(
                TensorData::new(uniform_init(f, fan_in, rng), [f]),
                device,
            )));
            convs.push(conv);
            c_in = f;
        }
        let mut dims = vec![batch * c_in * 9];
        dims.extend_from_slice(hidden);
        dims.push(1);
        let linears = dims
            .windows(2)
            .map(|w| linear(w[0], w[1], rng, device))
            .collect();
        Self {
            convs,
            pool: MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init(),
            avg: AdaptiveAvgPool2dConfig::new([3, 3]).init(),
            linears,
        }
    }

    /// # Shapes
    /// `[B, C, H, W]` (`B` the batch size it was built for, `H, W` at least 2^(convs−1) for the
    /// pools) → `[1, 1]`.
    pub(crate) fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let mut x = x;
        for (i, conv) in self.convs.iter().enumerate() {
            x = relu(conv.forward(x));
            if i > 0 {
                x = self.pool.forward(x);
            }
        }
        let x = self.avg.forward(x);
        let [b, c, h, w] = x.dims();
        let mut v = x.reshape([1, b * c * h * w]);
        let last = self.linears.len().saturating_sub(1);
        for (i, l) in self.linears.iter().enumerate() {
            v = l.forward(v);
            if i < last {
                v = relu(v);
            }
        }
        v
    }
}
