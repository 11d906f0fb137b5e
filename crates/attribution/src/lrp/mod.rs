//! Layer-wise Relevance Propagation (Bach et al., "On Pixel-Wise Explanations for Non-Linear
//! Classifier Decisions by Layer-Wise Relevance Propagation", PLOS ONE 2015; Montavon et al.,
//! "Layer-Wise Relevance Propagation: An Overview", 2019) for the ResNets of `biaslens-model`,
//! equal to Zennit 1.0 (Anders et al., "Software for Dataset-wide XAI", 2021).
//!
//! - [`Rule`]: Epsilon, ZPlus, Gamma, AlphaBeta, Flat, WSquare, ZBox, Pass, Norm, exactly as
//!   `zennit/rules.py` computes them (including ZPlus's and Gamma's treatment of negative inputs
//!   and which terms carry the bias).
//! - [`Composite`]: Zennit's EpsilonPlus, EpsilonPlusFlat, EpsilonGammaBox and
//!   EpsilonAlpha2Beta1, or a [`LayerRules`] of your own. As in Zennit's `layer_map_base`,
//!   ReLUs and BatchNorms pass relevance unchanged, residual sums and average pooling use
//!   [`Rule::Norm`], and max pooling routes relevance like its gradient (winner takes all).
//! - Canonizers ([`LrpConfig::canonize`]): Zennit's `ResNetCanonizer`, i.e. every BatchNorm
//!   merged into the convolution before it (`SequentialMergeBatchNorm`) and each residual
//!   `out + identity` made a `Sum` node that splits relevance in proportion to the two branches.
//!   Without it (the paper's set-up, `docs/METHODS.md#lrp`) BatchNorm is skipped by
//!   [`Rule::Pass`] and the residual add copies relevance to both branches, as autograd does in
//!   Zennit, so relevance is **not** conserved; the conservation numbers of [`LrpOutput`] show it.
//!
//! The backward pass is written out layer by layer (no autodiff): [`lrp_resnet`] runs the
//! forward once, keeping every layer's input, then walks the network backwards applying the
//! composite's rule to each node. Nothing is read back; the maps, the logits and the
//! conservation sums stay on the device for one batched read-back by the caller.

mod host;
pub(crate) mod resnet;
pub(crate) mod rules;

pub use resnet::{LrpTrace, lrp_resnet, lrp_resnet_traced, lrp_resnet_with_output};
pub use rules::Rule;

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::{AttributionError, OutputRelevance};

/// Rules per kind of layer of a ResNet (Zennit's layer map, resolved).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LayerRules {
    /// The first convolution (`conv1`, on the pixels).
    pub first_conv: Rule,
    /// Every other convolution, including the `downsample` projections.
    pub conv: Rule,
    /// The classifier `fc`.
    pub linear: Rule,
    /// Residual sums: [`Rule::Norm`] (proportional split) when canonized. Only used when
    /// [`LrpConfig::canonize`] is set; without the canonizer a residual add is a plain tensor
    /// add and its gradient copies relevance to both branches.
    pub sum: Rule,
    /// Global average pooling: [`Rule::Norm`] in every Zennit composite.
    pub avgpool: Rule,
}

/// An LRP composite: which rule each layer gets.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "composite")]
pub enum Composite {
    /// ZPlus for every convolution, Epsilon for `fc` (Zennit `EpsilonPlus`; the paper's LRP).
    EpsilonPlus,
    /// As EpsilonPlus but Flat for the first convolution (Zennit `EpsilonPlusFlat`).
    EpsilonPlusFlat,
    /// ZBox for the first convolution, Gamma for the others, Epsilon for `fc` (Zennit
    /// `EpsilonGammaBox`).
    EpsilonGammaBox {
        /// Smallest possible pixel value (0 for unnormalised images in `[0, 1]`).
        low: f64,
        /// Largest possible pixel value.
        high: f64,
        /// Gamma of the convolutions (Zennit default 0.25).
        gamma: f64,
    },
    /// AlphaBeta(α = 2, β = 1) for every convolution, Epsilon for `fc` (Zennit
    /// `EpsilonAlpha2Beta1`).
    EpsilonAlpha2Beta1,
    /// Rules of your choice.
    Custom(LayerRules),
}

impl Composite {
    /// The rule of every layer kind, with Zennit's `epsilon` for `fc` and `stabilizer` for the
    /// others.
    pub fn layer_rules(&self, epsilon: f64, stabilizer: f64) -> LayerRules {
        let zplus = Rule::ZPlus { stabilizer };
        let linear = Rule::Epsilon { epsilon };
        let norm = Rule::Norm { stabilizer };
        let base = |first_conv, conv| LayerRules {
            first_conv,
            conv,
            linear,
            sum: norm,
            avgpool: norm,
        };
        match *self {
            Self::EpsilonPlus => base(zplus, zplus),
            Self::EpsilonPlusFlat => base(Rule::Flat { stabilizer }, zplus),
            Self::EpsilonGammaBox { low, high, gamma } => base(
                Rule::ZBox {
                    low,
                    high,
                    stabilizer,
                },
                Rule::Gamma { gamma, stabilizer },
            ),
            Self::EpsilonAlpha2Beta1 => {
                let ab = Rule::AlphaBeta {
                    alpha: 2.0,
                    beta: 1.0,
                    stabilizer,
                };
                base(ab, ab)
            }
            Self::Custom(rules) => rules,
        }
    }

    /// Zennit's registered name (`"epsilon_plus"`, …; `"custom"` for [`Composite::Custom`]).
    pub fn name(&self) -> &'static str {
        match self {
            Self::EpsilonPlus => "epsilon_plus",
            Self::EpsilonPlusFlat => "epsilon_plus_flat",
            Self::EpsilonGammaBox { .. } => "epsilon_gamma_box",
            Self::EpsilonAlpha2Beta1 => "epsilon_alpha2_beta1",
            Self::Custom(_) => "custom",
        }
    }
}

/// Knobs of [`lrp_resnet`]. The defaults are the paper's LRP (`docs/METHODS.md#lrp`): Zennit's
/// `Gradient` attributor with `EpsilonPlus()` at its defaults, no canonizer, output relevance
/// logit × one-hot of the target.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LrpConfig {
    /// Which rule each layer gets.
    pub composite: Composite,
    /// Zennit's `ResNetCanonizer` (BatchNorm merged, residual sums split proportionally).
    pub canonize: bool,
    /// ε of the Epsilon rule on `fc` (Zennit default 1e-6).
    pub epsilon: f64,
    /// Stabiliser of every other rule (Zennit default 1e-6).
    pub stabilizer: f64,
    /// Relevance at the output: one-hot or logit × one-hot of the target.
    pub output: OutputRelevance,
}

impl Default for LrpConfig {
    fn default() -> Self {
        Self {
            composite: Composite::EpsilonPlus,
            canonize: false,
            epsilon: 1e-6,
            stabilizer: 1e-6,
            output: OutputRelevance::LogitOneHot,
        }
    }
}

impl LrpConfig {
    /// The paper's set-up (the [`Default`]).
    pub fn paper() -> Self {
        Self::default()
    }

    /// Sets the composite.
    pub fn with_composite(mut self, composite: Composite) -> Self {
        self.composite = composite;
        self
    }

    /// Sets whether the ResNet canonizer is applied.
    pub fn with_canonize(mut self, canonize: bool) -> Self {
        self.canonize = canonize;
        self
    }

    /// Sets the output relevance.
    pub fn with_output(mut self, output: OutputRelevance) -> Self {
        self.output = output;
        self
    }

    /// Checks the settings: stabilisers finite and ≥ 0, ZBox bounds ordered, AlphaBeta with
    /// α − β = 1 and both ≥ 0 (Zennit's own checks), and no [`Rule::Pass`] on an affine layer.
    pub fn validate(&self) -> Result<LayerRules, AttributionError> {
        let bad = |m: String| Err(AttributionError::Config(m));
        for (name, v) in [("epsilon", self.epsilon), ("stabilizer", self.stabilizer)] {
            if !v.is_finite() || v < 0.0 {
                return bad(format!("LRP {name} must be a finite number ≥ 0, got {v}"));
            }
        }
        let rules = self.composite.layer_rules(self.epsilon, self.stabilizer);
        for (node, rule) in [
            ("residual sums", rules.sum),
            ("average pooling", rules.avgpool),
        ] {
            if !matches!(rule, Rule::Norm { .. } | Rule::Epsilon { .. }) {
                return bad(format!(
                    "{node} take the Norm (or Epsilon) rule, not {rule:?}: they have no weights to modify"
                ));
            }
        }
        for (layer, rule) in [
            ("first convolution", rules.first_conv),
            ("convolutions", rules.conv),
            ("fc", rules.linear),
        ] {
            match rule {
                Rule::Pass => {
                    return bad(format!(
                        "the Pass rule keeps a layer's shape, so it cannot be used for the {layer}; pick Epsilon, ZPlus, …"
                    ));
                }
                Rule::AlphaBeta { alpha, beta, .. }
                    if alpha < 0.0 || beta < 0.0 || (alpha - beta - 1.0).abs() > 1e-12 =>
                {
                    return bad(format!(
                        "AlphaBeta needs α, β ≥ 0 and α − β = 1 (got α = {alpha}, β = {beta}) for the {layer}"
                    ));
                }
                Rule::ZBox { low, high, .. }
                    if !(low.is_finite() && high.is_finite() && low <= high) =>
                {
                    return bad(format!(
                        "ZBox needs finite bounds with low ≤ high (got low = {low}, high = {high})"
                    ));
                }
                _ => {}
            }
        }
        Ok(rules)
    }
}

/// An LRP result, all on the device without autodiff (read back with one `Transaction`).
#[derive(Debug, Clone)]
pub struct LrpOutput {
    /// Relevance of every input element.
    ///
    /// # Shapes
    /// `[N, C, H, W]`
    pub map: Tensor<4>,
    /// Logits of the input, `[N, K]`.
    pub logits: Tensor<2>,
    /// Σ of the output relevance per image, `[N]` (`z_t` for logit × one-hot, 1 for one-hot).
    pub output_sum: Tensor<1>,
    /// Σ of the input relevance per image, `[N]`. Conservation holds when it equals
    /// [`LrpOutput::output_sum`] up to what biases and stabilisers absorb; without the canonizer
    /// the residual adds copy relevance and this is typically much larger.
    pub input_sum: Tensor<1>,
}

/// The relevance at the logits ([`LrpConfig::output`] and the targets): one-hot (or logit × one-hot) rows of the targets, or of each
/// image's predicted class when `targets` is `None` (computed on the device, no read-back).
///
/// # Shapes
/// - `logits`: `[N, K]`; returns `[N, K]`
pub fn output_relevance(
    logits: Tensor<2>,
    targets: Option<&[usize]>,
    relevance: OutputRelevance,
) -> Result<Tensor<2>, AttributionError> {
    let [n, k] = logits.dims();
    let device = logits.device();
    let mask = match targets {
        Some(t) => {
            crate::check_targets(t, n, k)?;
            crate::weighted_onehot(t, &vec![1.0; n], k, &device)
        }
        None => {
            let predicted = logits.clone().argmax(1); // [N, 1]
            let classes = Tensor::<1, Int>::arange(0..k as i64, &device).reshape([1, k]);
            predicted
                .expand([n, k])
                .equal(classes.expand([n, k]))
                .float()
        }
    };
    Ok(match relevance {
        OutputRelevance::OneHot => mask,
        OutputRelevance::LogitOneHot => logits * mask,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_papers_set_up() {
        let c = LrpConfig::default();
        assert_eq!(c.composite, Composite::EpsilonPlus);
        assert!(!c.canonize);
        assert_eq!(c.output, OutputRelevance::LogitOneHot);
        let rules = c.validate().expect("valid");
        assert_eq!(rules.first_conv, Rule::ZPlus { stabilizer: 1e-6 });
        assert_eq!(rules.linear, Rule::Epsilon { epsilon: 1e-6 });
    }

    #[test]
    fn invalid_settings_are_refused_with_a_reason() {
        let pass = LayerRules {
            first_conv: Rule::Pass,
            conv: Rule::ZPlus { stabilizer: 1e-6 },
            linear: Rule::Epsilon { epsilon: 1e-6 },
            sum: Rule::Norm { stabilizer: 1e-6 },
            avgpool: Rule::Norm { stabilizer: 1e-6 },
        };
        let err = LrpConfig::default()
            .with_composite(Composite::Custom(pass))
            .validate()
            .expect_err("Pass on a convolution");
        assert!(err.to_string().contains("first convolution"), "{err}");
        let ab = LayerRules {
            conv: Rule::AlphaBeta {
                alpha: 3.0,
                beta: 1.0,
                stabilizer: 1e-6,
            },
            first_conv: Rule::ZPlus { stabilizer: 1e-6 },
            ..pass
        };
        let err = LrpConfig::default()
            .with_composite(Composite::Custom(ab))
            .validate()
            .expect_err("α − β ≠ 1");
        assert!(err.to_string().contains("α − β = 1"), "{err}");
        let bad_box = Composite::EpsilonGammaBox {
            low: 1.0,
            high: 0.0,
            gamma: 0.25,
        };
        assert!(
            LrpConfig::default()
                .with_composite(bad_box)
                .validate()
                .is_err()
        );
        let nan = LrpConfig {
            epsilon: f64::NAN,
            ..LrpConfig::default()
        };
        assert!(nan.validate().is_err());
    }

    #[test]
    fn config_round_trips_through_json() {
        let c = LrpConfig::default()
            .with_composite(Composite::EpsilonGammaBox {
                low: 0.0,
                high: 1.0,
                gamma: 0.25,
            })
            .with_canonize(true);
        let json = serde_json::to_string(&c).expect("serialise");
        let back: LrpConfig = serde_json::from_str(&json).expect("parse");
        assert_eq!(back, c);
    }
}
