//! Integrated-Gradients baselines: zero, blurred, per-channel mean, or given by the user.

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::AttributionError;

/// The reference input IG integrates from.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Baseline {
    /// All zeros (Captum's and Zennit's default; a black image for inputs in `[0, 1]`).
    #[default]
    Zero,
    /// The input blurred by [`gaussian_blur`] with this standard deviation in pixels
    /// (Sundararajan et al. 2017 §6; Sturmfels et al., Distill 2020).
    Blurred {
        /// Standard deviation of the Gaussian, in pixels.
        sigma: f64,
    },
    /// Each channel of each image set to its own mean over the image.
    Mean,
    /// A tensor passed next to the config (same shape as the input).
    Given,
}

impl Baseline {
    /// The baseline tensor for `x`; `given` is used only (and required) for [`Baseline::Given`].
    ///
    /// # Shapes
    /// - `x`, `given`, returns: `[N, C, H, W]`, without autodiff
    pub fn build(
        &self,
        x: &Tensor<4>,
        given: Option<&Tensor<4>>,
    ) -> Result<Tensor<4>, AttributionError> {
        let x = x.clone().inner();
        let dims = x.dims();
        match *self {
            Baseline::Zero => Ok(x.zeros_like()),
            Baseline::Blurred { sigma } => gaussian_blur(x, sigma),
            Baseline::Mean => Ok(x.mean_dim(3).mean_dim(2).expand(dims)),
            Baseline::Given => {
                let b = given.ok_or_else(|| {
                    AttributionError::Config(
                        "baseline `given` needs a baseline tensor next to the config".into(),
                    )
                })?;
                if b.dims() != dims {
                    return Err(AttributionError::BaselineShape {
                        got: b.dims(),
                        want: dims,
                    });
                }
                Ok(b.clone().inner())
            }
        }
    }
}

/// Gaussian blur over H and W, identical to `scipy.ndimage.gaussian_filter(x, sigma=(0, 0, s, s),
/// mode="reflect", truncate=4.0)`: kernel radius `⌊4σ + ½⌋`, weights `exp(−t²/2σ²)` normalised to
/// sum 1, borders mirrored including the edge pixel (`d c b a | a b c d | d c b a`).
///
/// Runs on the device as two matrix products with `[H, H]` and `[W, W]` blur matrices (reflection
/// folded in), so it needs no read-back.
///
/// # Shapes
/// - `x`, returns: `[N, C, H, W]`
pub fn gaussian_blur(x: Tensor<4>, sigma: f64) -> Result<Tensor<4>, AttributionError> {
    if !(sigma.is_finite() && sigma > 0.0) {
        return Err(AttributionError::Config(format!(
            "blur sigma must be a positive number of pixels, got {sigma}"
        )));
    }
    let [n, c, h, w] = x.dims();
    let device = x.device();
    let blur_last = |x: Tensor<4>, len: usize, rows: usize| -> Tensor<4> {
        let k = blur_matrix_transposed(len, sigma);
        let k: Tensor<2> = Tensor::from_data(TensorData::new(k, [len, len]), &device);
        let dims = x.dims();
        x.reshape([rows, len]).matmul(k).reshape(dims)
    };
    let x = blur_last(x, w, n * c * h);
    let x = blur_last(x.swap_dims(2, 3), h, n * c * w);
    Ok(x.swap_dims(2, 3))
}

/// `Kᵀ` (row-major `[len, len]`) with `out[i] = Σ_j K[i, j] in[j]`: the 1-D Gaussian with
/// scipy's `reflect` border folded in.
fn blur_matrix_transposed(len: usize, sigma: f64) -> Vec<f32> {
    let radius = (4.0 * sigma + 0.5) as i64;
    let g: Vec<f64> = (-radius..=radius)
        .map(|t| (-0.5 * (t * t) as f64 / (sigma * sigma)).exp())
        .collect();
    let total: f64 = g.iter().sum();
    let period = 2 * len as i64;
    let mut kt = vec![0.0f64; len * len];
    for i in 0..len as i64 {
        for (gi, t) in (-radius..=radius).enumerate() {
            let m = (i + t).rem_euclid(period);
            let j = if m >= len as i64 { period - 1 - m } else { m };
            // Transposed: row j (input), column i (output).
            kt[j as usize * len + i as usize] += g[gi] / total;
        }
    }
    kt.into_iter().map(|v| v as f32).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hand-worked: a constant image is unchanged by any blur (rows of K sum to 1 with reflection),
    /// and the mean baseline of a constant image is itself.
    #[test]
    fn blur_and_mean_keep_constants() {
        let device = Device::flex();
        let x: Tensor<4> = Tensor::full([1, 2, 5, 7], 0.25, &device);
        for b in [Baseline::Blurred { sigma: 3.0 }, Baseline::Mean] {
            let y = b.build(&x, None).expect("valid");
            let v = y.into_data().try_into_vec::<f32>().expect("f32");
            assert!(v.iter().all(|&a| (a - 0.25).abs() < 1e-6), "{b:?}");
        }
        assert!(gaussian_blur(x.clone(), 0.0).is_err());
        assert!(matches!(
            Baseline::Given.build(&x, None),
            Err(AttributionError::Config(_))
        ));
    }

    /// A 1-D case worked by hand for sigma 0.5 (radius 2), border `reflect`.
    #[test]
    fn blur_matches_hand_worked_reflection() {
        let sigma: f64 = 0.5;
        let g: Vec<f64> = (-2i32..=2)
            .map(|t| (-2.0 * f64::from(t * t)).exp())
            .collect();
        let s: f64 = g.iter().sum();
        let g: Vec<f64> = g.iter().map(|v| v / s).collect();
        let input = [1.0f64, 2.0, 4.0];
        // Output 0 reads in[-2], in[-1], in[0], in[1], in[2] = in[1], in[0], in[0], in[1], in[2].
        let want0 = g[0] * 2.0 + g[1] * 1.0 + g[2] * 1.0 + g[3] * 2.0 + g[4] * 4.0;
        let device = Device::flex();
        let x: Tensor<4> = Tensor::from_data(
            TensorData::new(
                input.iter().map(|&v| v as f32).collect::<Vec<_>>(),
                [1, 1, 1, 3],
            ),
            &device,
        );
        // H = 1: the vertical pass reflects the row onto itself and leaves it unchanged.
        let y = gaussian_blur(x, sigma).expect("valid").into_data();
        let y = y.try_into_vec::<f32>().expect("f32");
        assert!(
            (f64::from(y[0]) - want0).abs() < 1e-6,
            "{} vs {want0}",
            y[0]
        );
    }
}
