//! Batch normalisation with frozen statistics and affine parameters.

use burn::module::Param;
use burn::prelude::*;

/// Configuration of a [`FrozenBatchNorm2d`].
#[derive(Config, Debug)]
pub struct FrozenBatchNorm2dConfig {
    /// Number of channels.
    pub num_features: usize,
    /// Added to the running variance before the square root (the references use 1e-5).
    #[config(default = 1e-5)]
    pub epsilon: f64,
}

/// `BatchNorm2d` whose statistics and affine parameters are fixed buffers, as in the
/// DETR and Deformable DETR backbones (`DetrFrozenBatchNorm2d` in HuggingFace).
///
/// The four tensors are parameters for loading and saving but never require gradients.
#[derive(Module, Debug)]
pub struct FrozenBatchNorm2d {
    /// Scale `γ`, `[c]`.
    pub weight: Param<Tensor<1>>,
    /// Shift `β`, `[c]`.
    pub bias: Param<Tensor<1>>,
    /// Running mean, `[c]`.
    pub running_mean: Param<Tensor<1>>,
    /// Running variance, `[c]`.
    pub running_var: Param<Tensor<1>>,
    /// Added to the variance before the square root.
    pub epsilon: f64,
}

fn frozen(tensor: Tensor<1>) -> Param<Tensor<1>> {
    Param::from_tensor(tensor).set_require_grad(false)
}

impl FrozenBatchNorm2dConfig {
    /// An identity normalisation (`γ = 1`, `β = 0`, mean 0, variance 1).
    pub fn init(&self, device: &Device) -> FrozenBatchNorm2d {
        let n = self.num_features;
        FrozenBatchNorm2d {
            weight: frozen(Tensor::ones([n], device)),
            bias: frozen(Tensor::zeros([n], device)),
            running_mean: frozen(Tensor::zeros([n], device)),
            running_var: frozen(Tensor::ones([n], device)),
            epsilon: self.epsilon,
        }
    }
}

impl FrozenBatchNorm2d {
    /// `y = x · γ / sqrt(var + ε) + (β − mean · γ / sqrt(var + ε))`, per channel.
    ///
    /// # Shapes
    /// - `x`: `[b, c, h, w]` → `[b, c, h, w]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [c] = self.weight.dims();
        // [c]
        let scale = self.weight.val() * (self.running_var.val() + self.epsilon).sqrt().recip();
        // [c]
        let shift = self.bias.val() - self.running_mean.val() * scale.clone();
        // [1, c, 1, 1]
        let scale = scale.reshape([1, c, 1, 1]);
        let shift = shift.reshape([1, c, 1, 1]);
        x * scale + shift
    }
}
