//! A small convolutional network used by the device self-test.
//!
//! Architecture: conv 3→8 (3×3, pad 1) → ReLU → conv 8→16 (3×3, stride 2, pad 1) → ReLU →
//! global average pool → linear 16→classes. Weights are supplied by the caller as plain
//! vectors, so the same seeded numbers land on every device (flex CPU, WebGPU).

use burn::module::Param;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::prelude::*;

/// Channels after the first and second convolution.
const C1: usize = 8;
const C2: usize = 16;

/// All parameters of a [`TinyCnn`], in PyTorch layout (`[out, in, kh, kw]`, linear `[out, in]`).
#[derive(Debug, Clone, PartialEq)]
pub struct TinyCnnWeights {
    /// Number of output classes.
    pub classes: usize,
    /// `[8, 3, 3, 3]`.
    pub conv1_weight: Vec<f32>,
    /// `[8]`.
    pub conv1_bias: Vec<f32>,
    /// `[16, 8, 3, 3]`.
    pub conv2_weight: Vec<f32>,
    /// `[16]`.
    pub conv2_bias: Vec<f32>,
    /// `[classes, 16]`.
    pub fc_weight: Vec<f32>,
    /// `[classes]`.
    pub fc_bias: Vec<f32>,
}

/// A parameter vector of the wrong length.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("tiny CNN parameter `{name}` has {got} values, expected {expected}")]
pub struct TinyShapeError {
    /// Parameter name.
    pub name: &'static str,
    /// Expected number of values.
    pub expected: usize,
    /// Number supplied.
    pub got: usize,
}

impl TinyCnnWeights {
    /// Parameter names with their PyTorch shapes for `classes` outputs.
    pub fn shapes(classes: usize) -> [(&'static str, Vec<usize>); 6] {
        [
            ("conv1.weight", vec![C1, 3, 3, 3]),
            ("conv1.bias", vec![C1]),
            ("conv2.weight", vec![C2, C1, 3, 3]),
            ("conv2.bias", vec![C2]),
            ("fc.weight", vec![classes, C2]),
            ("fc.bias", vec![classes]),
        ]
    }

    /// Fill every parameter from `sample(fan_in) -> value`, in the order of [`Self::shapes`].
    /// The caller owns the randomness (and therefore the seed).
    pub fn from_fn(classes: usize, mut sample: impl FnMut(usize) -> f32) -> Self {
        let mut fill = |shape: &[usize], fan_in: usize| -> Vec<f32> {
            (0..shape.iter().product::<usize>())
                .map(|_| sample(fan_in))
                .collect()
        };
        Self {
            classes,
            conv1_weight: fill(&[C1, 3, 3, 3], 27),
            conv1_bias: fill(&[C1], 27),
            conv2_weight: fill(&[C2, C1, 3, 3], C1 * 9),
            conv2_bias: fill(&[C2], C1 * 9),
            fc_weight: fill(&[classes, C2], C2),
            fc_bias: fill(&[classes], C2),
        }
    }

    fn check(&self) -> Result<(), TinyShapeError> {
        let values = [
            &self.conv1_weight,
            &self.conv1_bias,
            &self.conv2_weight,
            &self.conv2_bias,
            &self.fc_weight,
            &self.fc_bias,
        ];
        for ((name, shape), v) in Self::shapes(self.classes).iter().zip(values) {
            let expected = shape.iter().product();
            if v.len() != expected {
                return Err(TinyShapeError {
                    name,
                    expected,
                    got: v.len(),
                });
            }
        }
        Ok(())
    }
}

/// The self-test network. See the module docs for its layers.
#[derive(Module, Debug)]
pub struct TinyCnn {
    conv1: Conv2d,
    conv2: Conv2d,
    fc: Linear,
}

impl TinyCnn {
    /// Build the network on `device` from explicit weights.
    ///
    /// # Errors
    /// [`TinyShapeError`] naming the first parameter of the wrong length.
    pub fn from_weights(w: &TinyCnnWeights, device: &Device) -> Result<Self, TinyShapeError> {
        w.check()?;
        let conv = |cin, cout, stride, weight: &[f32], bias: &[f32]| {
            let mut c = Conv2dConfig::new([cin, cout], [3, 3])
                .with_stride([stride, stride])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(device);
            c.weight =
                Param::from_data(TensorData::new(weight.to_vec(), [cout, cin, 3, 3]), device);
            c.bias = Some(Param::from_data(
                TensorData::new(bias.to_vec(), [cout]),
                device,
            ));
            c
        };
        let conv1 = conv(3, C1, 1, &w.conv1_weight, &w.conv1_bias);
        let conv2 = conv(C1, C2, 2, &w.conv2_weight, &w.conv2_bias);
        let mut fc = LinearConfig::new(C2, w.classes).init(device);
        // burn stores linear weights as [in, out]: transpose PyTorch's [out, in].
        let weight: Tensor<2> = Tensor::from_data(
            TensorData::new(w.fc_weight.clone(), [w.classes, C2]),
            device,
        );
        fc.weight = Param::from_tensor(weight.transpose());
        fc.bias = Some(Param::from_data(
            TensorData::new(w.fc_bias.clone(), [w.classes]),
            device,
        ));
        Ok(Self { conv1, conv2, fc })
    }

    /// Class logits.
    ///
    /// # Shapes
    /// - `x`: `[N, 3, H, W]`, any `H, W ≥ 1`
    /// - returns `[N, classes]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let x = burn::tensor::activation::relu(self.conv1.forward(x));
        let x = burn::tensor::activation::relu(self.conv2.forward(x));
        let [n, c, _, _] = x.dims();
        let pooled: Tensor<2> = x.mean_dim(3).mean_dim(2).reshape([n, c]);
        self.fc.forward(pooled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Forward of a 1×1 input checked by hand: with a single pixel, each 3×3 convolution sees
    /// only its centre tap, so the network reduces to two small matrix products.
    #[test]
    fn forward_matches_hand_computation_on_one_pixel() {
        let device = Device::flex();
        let mut k = 0u32;
        let w = TinyCnnWeights::from_fn(2, |_| {
            k += 1;
            ((k * 37 % 101) as f32 - 50.0) / 100.0
        });
        let net = TinyCnn::from_weights(&w, &device).expect("shapes match");
        let x = [0.3f32, -0.7, 0.9];
        let input = Tensor::<4>::from_data(TensorData::new(x.to_vec(), [1, 3, 1, 1]), &device);
        let got = net
            .forward(input)
            .into_data()
            .try_into_vec::<f32>()
            .expect("f32 data");

        let centre = |weights: &[f32], cout: usize, cin: usize, o: usize, i: usize| {
            debug_assert!(o < cout);
            weights[(o * cin + i) * 9 + 4]
        };
        let h1: Vec<f32> = (0..C1)
            .map(|o| {
                (w.conv1_bias[o]
                    + (0..3)
                        .map(|i| centre(&w.conv1_weight, C1, 3, o, i) * x[i])
                        .sum::<f32>())
                .max(0.0)
            })
            .collect();
        let h2: Vec<f32> = (0..C2)
            .map(|o| {
                (w.conv2_bias[o]
                    + (0..C1)
                        .map(|i| centre(&w.conv2_weight, C2, C1, o, i) * h1[i])
                        .sum::<f32>())
                .max(0.0)
            })
            .collect();
        for (c, g) in got.iter().enumerate().take(2) {
            let want = w.fc_bias[c]
                + (0..C2)
                    .map(|i| w.fc_weight[c * C2 + i] * h2[i])
                    .sum::<f32>();
            assert!((g - want).abs() < 1e-5, "class {c}: {g} vs {want}");
        }
    }

    #[test]
    fn wrong_parameter_length_is_named() {
        let mut w = TinyCnnWeights::from_fn(2, |_| 0.1);
        w.conv2_bias.pop();
        let err = TinyCnn::from_weights(&w, &Device::flex()).expect_err("bias too short");
        assert_eq!(err.name, "conv2.bias");
    }
}
