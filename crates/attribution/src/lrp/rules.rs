//! LRP rules for affine layers (convolutions and dense layers) as Zennit 1.0 defines them
//! (`zennit/rules.py`): Epsilon (Bach et al., PLOS ONE 2015), ZPlus and AlphaBeta (Bach et al.
//! 2015; Montavon et al., "Explaining nonlinear classification decisions with deep Taylor
//! decomposition", Pattern Recognition 2017), Gamma (Montavon et al., "Layer-wise relevance
//! propagation: an overview", 2019; Andéol et al. 2021 for negative inputs), Flat (Lapuschkin et
//! al., Nature Communications 2019), WSquare and ZBox (Montavon et al. 2017), and Norm.
//!
//! Zennit computes each rule with autograd on modified copies of the layer; here each rule is
//! written out: a forward pass `z_k = conv(x_k, w_k) + b_k` per term, the stabilised ratio
//! `s = R / stab(Σ z_k)`, and the transposed convolution `c_k = convᵀ(s, w_k)` (the exact
//! input gradient of the convolution) weighted by `x_k`. A dense layer is the 1×1 convolution of
//! a `[N, F, 1, 1]` input, so one code path serves both.

use burn::prelude::*;
use burn::tensor::module::{conv_transpose2d, conv2d};
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};
use serde::{Deserialize, Serialize};

/// One LRP rule, with Zennit 1.0's parameters and defaults.
///
/// The rules for affine layers say how relevance at a layer's output is redistributed onto its
/// input; [`Rule::Pass`] and [`Rule::Norm`] are also used for element-wise layers, sums and
/// average pooling.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "rule")]
pub enum Rule {
    /// `R_i = x_i Σ_j w_ji R_j / stab_ε(z_j)`; ε = 0 is LRP-0. Zennit default ε = 1e-6.
    Epsilon {
        /// Stabiliser added with the sign of `z` (+ε where `z = 0`).
        epsilon: f64,
    },
    /// α = 1, β = 0 with Zennit's handling of negative inputs: positive weights (and positive
    /// bias) on positive inputs plus negative weights on negative inputs.
    ZPlus {
        /// Denominator stabiliser.
        stabilizer: f64,
    },
    /// Generalised Gamma rule: `w + γ w⁺` for positive and `w + γ w⁻` for negative
    /// contributions, chosen per output by the sign of the unmodified output.
    Gamma {
        /// Weight of the added positive (or negative) part; Zennit default 0.25.
        gamma: f64,
        /// Denominator stabiliser.
        stabilizer: f64,
    },
    /// `α R⁺ − β R⁻` with `α − β = 1` (the common setting is α = 2, β = 1).
    AlphaBeta {
        /// Weight of the positive contributions.
        alpha: f64,
        /// Weight of the negative contributions.
        beta: f64,
        /// Denominator stabiliser.
        stabilizer: f64,
    },
    /// Relevance spread uniformly over the receptive field (inputs and weights set to one, no
    /// bias).
    Flat {
        /// Denominator stabiliser.
        stabilizer: f64,
    },
    /// Relevance spread in proportion to the squared weights (inputs set to one).
    WSquare {
        /// Denominator stabiliser.
        stabilizer: f64,
    },
    /// Deep-Taylor rule for inputs bounded in `[low, high]` (the first layer on pixels).
    ZBox {
        /// Smallest possible input value.
        low: f64,
        /// Largest possible input value.
        high: f64,
        /// Denominator stabiliser.
        stabilizer: f64,
    },
    /// Relevance passes unchanged (Zennit's rule for activations and, in its composites, for
    /// BatchNorm).
    Pass,
    /// `R_i = x_i R / stab(z)`-style proportional split without modifying parameters (Zennit's
    /// rule for sums and average pooling; on an affine layer it equals Epsilon with the
    /// stabiliser as ε).
    Norm {
        /// Denominator stabiliser.
        stabilizer: f64,
    },
}

/// `z + ε·sign(z)` with `sign(0) = +1`, Zennit's `stabilize(z, ε)` (`core.py`).
pub(crate) fn stabilize<const D: usize>(z: Tensor<D>, epsilon: f64) -> Tensor<D> {
    let sign = z.clone().greater_equal_elem(0.0).float() * 2.0 - 1.0;
    z + sign * epsilon
}

/// A convolution (or a dense layer as a 1×1 convolution) with its parameters as plain tensors.
#[derive(Debug, Clone)]
pub(crate) struct Affine {
    /// `[C_out, C_in, kh, kw]`.
    pub weight: Tensor<4>,
    /// `[C_out]`, if the layer has a bias.
    pub bias: Option<Tensor<1>>,
    /// Stride per spatial axis.
    pub stride: [usize; 2],
    /// Symmetric zero padding per spatial axis.
    pub padding: [usize; 2],
}

impl Affine {
    /// `conv(x, w) + b` with this layer's geometry.
    ///
    /// # Shapes
    /// `[N, C_in, H, W]` → `[N, C_out, h, w]`.
    pub fn forward_with(&self, x: Tensor<4>, w: Tensor<4>, b: Option<Tensor<1>>) -> Tensor<4> {
        conv2d(
            x,
            w,
            b,
            ConvOptions::new(self.stride, self.padding, [1, 1], 1),
        )
    }

    /// The forward pass with the layer's own parameters.
    ///
    /// # Shapes
    /// `[N, C_in, H, W]` → `[N, C_out, h, w]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.forward_with(x, self.weight.clone(), self.bias.clone())
    }

    /// `∂(Σ s ⊙ conv(x, w))/∂x`: the transposed convolution, sized back to the input.
    ///
    /// # Shapes
    /// `s`: `[N, C_out, h, w]`, `in_hw` = `[H, W]` → `[N, C_in, H, W]`.
    pub fn input_grad(&self, s: Tensor<4>, w: Tensor<4>, in_hw: [usize; 2]) -> Tensor<4> {
        let [_, _, oh, ow] = s.dims();
        let [_, _, kh, kw] = w.dims();
        let out_pad = |input: usize, out: usize, k: usize, axis: usize| {
            (input + 2 * self.padding[axis]).saturating_sub((out - 1) * self.stride[axis] + k)
        };
        let padding_out = [out_pad(in_hw[0], oh, kh, 0), out_pad(in_hw[1], ow, kw, 1)];
        conv_transpose2d(
            s,
            w,
            None,
            ConvTransposeOptions::new(self.stride, self.padding, padding_out, [1, 1], 1),
        )
    }
}

/// Relevance at the input of an affine layer under `rule`.
///
/// `input_nonnegative` says the input is known to be ≥ 0 (it comes straight from a ReLU or max
/// pool); the terms that multiply the input's negative part are then exactly zero and are
/// skipped. The result is the same either way.
///
/// # Shapes
/// - `x`: `[N, C_in, H, W]`, `r`: `[N, C_out, h, w]` (the layer's output shape)
/// - returns `[N, C_in, H, W]`
pub(crate) fn affine_relevance(
    rule: Rule,
    layer: &Affine,
    x: Tensor<4>,
    r: Tensor<4>,
    input_nonnegative: bool,
) -> Tensor<4> {
    let [_, _, h, w_] = x.dims();
    let hw = [h, w_];
    let w = layer.weight.clone();
    let b = layer.bias.clone();
    let pos = |t: Tensor<4>| t.clamp_min(0.0);
    let neg = |t: Tensor<4>| t.clamp_max(0.0);
    let pos_b = |b: &Option<Tensor<1>>| b.clone().map(|b| b.clamp_min(0.0));
    let neg_b = |b: &Option<Tensor<1>>| b.clone().map(|b| b.clamp_max(0.0));
    match rule {
        Rule::Epsilon { epsilon: eps } | Rule::Norm { stabilizer: eps } => {
            let z = layer.forward_with(x.clone(), w.clone(), b);
            let s = r / stabilize(z, eps);
            x * layer.input_grad(s, w, hw)
        }
        Rule::ZPlus { stabilizer } => {
            // Terms (x⁺, w⁺, b⁺) and (x⁻, w⁻, no bias), one shared denominator.
            let wp = pos(w.clone());
            let xp = if input_nonnegative {
                x.clone()
            } else {
                pos(x.clone())
            };
            let mut z = layer.forward_with(xp.clone(), wp.clone(), pos_b(&b));
            let negative = (!input_nonnegative).then(|| (neg(x), neg(w)));
            if let Some((xn, wn)) = &negative {
                z = z + layer.forward_with(xn.clone(), wn.clone(), None);
            }
            let s = r / stabilize(z, stabilizer);
            let mut out = xp * layer.input_grad(s.clone(), wp, hw);
            if let Some((xn, wn)) = negative {
                out = out + xn * layer.input_grad(s, wn, hw);
            }
            out
        }
        Rule::AlphaBeta {
            alpha,
            beta,
            stabilizer,
        } => {
            let (wp, wn) = (pos(w.clone()), neg(w));
            let xp = if input_nonnegative {
                x.clone()
            } else {
                pos(x.clone())
            };
            // Positive part: (x⁺, w⁺, b⁺) + (x⁻, w⁻); negative part: (x⁺, w⁻, b⁻) + (x⁻, w⁺).
            let mut z_pos = layer.forward_with(xp.clone(), wp.clone(), pos_b(&b));
            let mut z_neg = layer.forward_with(xp.clone(), wn.clone(), neg_b(&b));
            let xn = (!input_nonnegative).then(|| neg(x));
            if let Some(xn) = &xn {
                z_pos = z_pos + layer.forward_with(xn.clone(), wn.clone(), None);
                z_neg = z_neg + layer.forward_with(xn.clone(), wp.clone(), None);
            }
            let s_pos = r.clone() / stabilize(z_pos, stabilizer);
            let s_neg = r / stabilize(z_neg, stabilizer);
            let mut r_pos = xp.clone() * layer.input_grad(s_pos.clone(), wp.clone(), hw);
            let mut r_neg = xp * layer.input_grad(s_neg.clone(), wn.clone(), hw);
            if let Some(xn) = xn {
                r_pos = r_pos + xn.clone() * layer.input_grad(s_pos, wn, hw);
                r_neg = r_neg + xn * layer.input_grad(s_neg, wp, hw);
            }
            r_pos * alpha - r_neg * beta
        }
        Rule::Gamma { gamma, stabilizer } => {
            // Zennit's generalised Gamma: four terms, (x⁺, w + γw⁺, b + γb⁺) and
            // (x⁻, w + γw⁻) share the denominator used where the plain output is > 0;
            // (x⁺, w + γw⁻, b + γb⁻) and (x⁻, w + γw⁺) where it is < 0.
            let out_plain = layer.forward_with(x.clone(), w.clone(), b.clone());
            let w_up = w.clone() + pos(w.clone()) * gamma;
            let w_down = w.clone() + neg(w) * gamma;
            let b_up = b.clone().map(|b| b.clone() + b.clamp_min(0.0) * gamma);
            let b_down = b.map(|b| b.clone() + b.clamp_max(0.0) * gamma);
            let xp = if input_nonnegative {
                x.clone()
            } else {
                pos(x.clone())
            };
            let mut z_up = layer.forward_with(xp.clone(), w_up.clone(), b_up);
            let mut z_down = layer.forward_with(xp.clone(), w_down.clone(), b_down);
            let xn = (!input_nonnegative).then(|| neg(x));
            if let Some(xn) = &xn {
                z_up = z_up + layer.forward_with(xn.clone(), w_down.clone(), None);
                z_down = z_down + layer.forward_with(xn.clone(), w_up.clone(), None);
            }
            let up_mask = out_plain.clone().greater_elem(0.0).float();
            let down_mask = out_plain.lower_elem(0.0).float();
            let g_up = up_mask * r.clone() / stabilize(z_up, stabilizer);
            let g_down = down_mask * r / stabilize(z_down, stabilizer);
            let mut out = xp.clone() * layer.input_grad(g_up.clone(), w_up.clone(), hw)
                + xp * layer.input_grad(g_down.clone(), w_down.clone(), hw);
            if let Some(xn) = xn {
                out = out
                    + xn.clone() * layer.input_grad(g_up, w_down, hw)
                    + xn * layer.input_grad(g_down, w_up, hw);
            }
            out
        }
        Rule::Flat { stabilizer } => {
            let ones_w = w.ones_like();
            let z = layer.forward_with(x.ones_like(), ones_w.clone(), None);
            let s = r / stabilize(z, stabilizer);
            layer.input_grad(s, ones_w, hw)
        }
        Rule::WSquare { stabilizer } => {
            let w2 = w.clone() * w;
            let b2 = b.map(|b| b.clone() * b);
            let z = layer.forward_with(x.ones_like(), w2.clone(), b2);
            let s = r / stabilize(z, stabilizer);
            layer.input_grad(s, w2, hw)
        }
        Rule::ZBox {
            low,
            high,
            stabilizer,
        } => {
            // z = conv(x, w) + b − (conv(l, w⁺) + b⁺) − (conv(h, w⁻) + b⁻).
            let (wp, wn) = (pos(w.clone()), neg(w.clone()));
            let l = x.ones_like() * low;
            let hi = x.ones_like() * high;
            let z = layer.forward_with(x.clone(), w.clone(), b.clone())
                - layer.forward_with(l.clone(), wp.clone(), pos_b(&b))
                - layer.forward_with(hi.clone(), wn.clone(), neg_b(&b));
            let s = r / stabilize(z, stabilizer);
            x * layer.input_grad(s.clone(), w, hw)
                - l * layer.input_grad(s.clone(), wp, hw)
                - hi * layer.input_grad(s, wn, hw)
        }
        // Pass on an affine layer would need equal shapes; the composites never ask for it.
        // The plain gradient is the only shape-correct reading.
        Rule::Pass => layer.input_grad(r, w, hw),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device() -> Device {
        Device::flex()
    }

    fn data<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data().try_into_vec::<f32>().expect("f32")
    }

    fn seeded(shape: [usize; 4], seed: u64, low: f64, high: f64) -> Tensor<4> {
        let n: usize = shape.iter().product();
        let mut rng = biaslens_rng::SplitMix64::new(seed);
        let v: Vec<f32> = (0..n).map(|_| rng.uniform(low, high) as f32).collect();
        Tensor::from_data(TensorData::new(v, shape), &device())
    }

    fn layer(stride: usize, padding: usize, k: usize, bias: bool) -> Affine {
        let weight = seeded([5, 3, k, k], 7, -0.5, 0.5);
        Affine {
            weight,
            bias: bias.then(|| {
                Tensor::from_data(
                    TensorData::new(vec![0.1f32, -0.2, 0.05, 0.0, -0.01], [5]),
                    &device(),
                )
            }),
            stride: [stride, stride],
            padding: [padding, padding],
        }
    }

    /// The transposed convolution is the exact input gradient of the convolution, for strides
    /// and sizes where the output padding matters (odd and even inputs, stride 1 and 2, 1×1 to
    /// 7×7 kernels): checked against burn's autodiff.
    #[test]
    fn input_grad_is_the_autodiff_gradient() {
        for (h, k, stride, padding) in [
            (9, 3, 2, 1),
            (8, 3, 2, 1),
            (11, 7, 2, 3),
            (6, 1, 2, 0),
            (5, 3, 1, 1),
        ] {
            let l = layer(stride, padding, k, false);
            let x = seeded([2, 3, h, h], 3, -1.0, 1.0);
            let xa = x.clone().autodiff().require_grad();
            let z = l.forward_with(xa.clone(), l.weight.clone().autodiff(), None);
            let s = seeded(z.dims(), 5, -1.0, 1.0);
            let grads = (z * s.clone().autodiff()).sum().backward();
            let want = data(xa.grad(&grads).expect("grad"));
            let got = data(l.input_grad(s, l.weight.clone(), [h, h]));
            assert_eq!(got.len(), want.len(), "shape for h={h} k={k} s={stride}");
            let err = got
                .iter()
                .zip(&want)
                .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
            assert!(err < 1e-5, "h={h} k={k} stride={stride}: {err}");
        }
    }

    /// Without bias, the rules that are conservative by construction keep Σ R: ZPlus and
    /// AlphaBeta (α − β = 1) on non-negative inputs, Flat, WSquare and ZBox on any input, and
    /// Epsilon up to ε.
    #[test]
    fn bias_free_rules_conserve_relevance() {
        let l = layer(2, 1, 3, false);
        let x_pos = seeded([2, 3, 9, 9], 11, 0.05, 1.0);
        let x_any = seeded([2, 3, 9, 9], 12, -1.0, 1.0);
        let r = seeded([2, 5, 5, 5], 13, 0.0, 1.0);
        let total: f32 = data(r.clone().sum())[0];
        let cases = [
            (Rule::ZPlus { stabilizer: 1e-6 }, x_pos.clone(), true),
            (Rule::ZPlus { stabilizer: 1e-6 }, x_pos.clone(), false),
            (
                Rule::AlphaBeta {
                    alpha: 2.0,
                    beta: 1.0,
                    stabilizer: 1e-6,
                },
                x_pos.clone(),
                false,
            ),
            (Rule::Flat { stabilizer: 1e-6 }, x_any.clone(), false),
            (Rule::WSquare { stabilizer: 1e-6 }, x_any.clone(), false),
            (
                Rule::ZBox {
                    low: -1.0,
                    high: 1.0,
                    stabilizer: 1e-6,
                },
                x_any.clone(),
                false,
            ),
            (Rule::Epsilon { epsilon: 1e-9 }, x_any.clone(), false),
        ];
        for (rule, x, nonneg) in cases {
            let out = affine_relevance(rule, &l, x, r.clone(), nonneg);
            let sum: f32 = data(out.sum())[0];
            assert!(
                (sum - total).abs() < 1e-3 * total,
                "{rule:?}: {sum} vs {total}"
            );
        }
    }

    /// Skipping the negative-input terms for inputs known to be ≥ 0 changes nothing.
    #[test]
    fn nonnegative_shortcut_is_exact() {
        let l = layer(1, 1, 3, true);
        let x = seeded([1, 3, 6, 6], 21, 0.0, 1.0);
        let r = seeded([1, 5, 6, 6], 22, -1.0, 1.0);
        for rule in [
            Rule::ZPlus { stabilizer: 1e-6 },
            Rule::AlphaBeta {
                alpha: 2.0,
                beta: 1.0,
                stabilizer: 1e-6,
            },
            Rule::Gamma {
                gamma: 0.25,
                stabilizer: 1e-6,
            },
        ] {
            let a = data(affine_relevance(rule, &l, x.clone(), r.clone(), true));
            let b = data(affine_relevance(rule, &l, x.clone(), r.clone(), false));
            assert_eq!(a, b, "{rule:?}");
        }
    }

    /// Gamma → ZPlus-like as γ grows and → Epsilon (LRP-0) at γ = 0 (Montavon et al. 2019).
    #[test]
    fn gamma_zero_is_lrp0_on_positive_inputs() {
        let l = layer(1, 1, 3, false);
        let x = seeded([1, 3, 6, 6], 31, 0.1, 1.0);
        let r = seeded([1, 5, 6, 6], 32, -1.0, 1.0);
        let g = data(affine_relevance(
            Rule::Gamma {
                gamma: 0.0,
                stabilizer: 1e-9,
            },
            &l,
            x.clone(),
            r.clone(),
            true,
        ));
        let e = data(affine_relevance(
            Rule::Epsilon { epsilon: 1e-9 },
            &l,
            x,
            r,
            true,
        ));
        let err = g
            .iter()
            .zip(&e)
            .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
        let scale = e.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        assert!(err <= 1e-4 * scale, "{err} of {scale}");
    }

    #[test]
    fn stabilize_follows_zennit() {
        let z: Tensor<1> =
            Tensor::from_data(TensorData::new(vec![-2.0f32, 0.0, 3.0], [3]), &device());
        assert_eq!(data(stabilize(z, 0.5)), vec![-2.5, 0.5, 3.5]);
    }
}
