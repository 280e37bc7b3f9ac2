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
    /// `0`: frozen statistics (the references, for imported weights). `g > 0`: train from
    /// scratch with working normalisation: group normalisation over `g` groups of each
    /// sample's channels (independent of the batch, identical in training and inference)
    /// with a trainable scale and shift; the running statistics are then unused. Default 0.
    #[config(default = 0)]
    pub groups: usize,
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
    /// Group-normalisation groups (`0` = frozen statistics); see
    /// [`FrozenBatchNorm2dConfig::groups`].
    pub groups: usize,
}

fn frozen(tensor: Tensor<1>) -> Param<Tensor<1>> {
    Param::from_tensor(tensor).set_require_grad(false)
}

impl FrozenBatchNorm2dConfig {
    /// An identity normalisation (`γ = 1`, `β = 0`, mean 0, variance 1); `γ` and `β`
    /// trainable in group-norm mode.
    ///
    /// # Panics
    /// If `groups > 0` does not divide `num_features`.
    pub fn init(&self, device: &Device) -> FrozenBatchNorm2d {
        let n = self.num_features;
        assert!(self.groups == 0 || n.is_multiple_of(self.groups), "{} groups do not divide {n} channels", self.groups);
        let affine = |t: Tensor<1>| if self.groups > 0 { Param::from_tensor(t) } else { frozen(t) };
        FrozenBatchNorm2d {
            weight: affine(Tensor::ones([n], device)),
            bias: affine(Tensor::zeros([n], device)),
            running_mean: frozen(Tensor::zeros([n], device)),
            running_var: frozen(Tensor::ones([n], device)),
            epsilon: self.epsilon,
            groups: self.groups,
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
        if self.groups > 0 {
            let [b, _, h, w] = x.dims();
            let g = self.groups;
            // [b, g, c/g · h · w]
            let xg = x.reshape([b, g, (c / g) * h * w]);
            let mean = xg.clone().mean_dim(2);
            let centred = xg - mean;
            let var = centred.clone().powi_scalar(2).mean_dim(2);
            let normed = (centred / (var + self.epsilon).sqrt()).reshape([b, c, h, w]);
            return normed * self.weight.val().reshape([1, c, 1, 1]) + self.bias.val().reshape([1, c, 1, 1]);
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_mode_normalises_each_group_of_each_sample() {
        let device = Device::default();
        // 2 samples, 4 channels, 2 groups, 2×2 pixels: values 0..32.
        let x = Tensor::<4>::from_data(TensorData::new((0..32).map(|v| v as f32).collect(), [2, 4, 2, 2]), &device);
        let bn = FrozenBatchNorm2dConfig::new(4).with_groups(2).with_epsilon(0.0).init(&device);
        let y: Vec<f32> = bn.forward(x).into_data().try_to_vec::<f32>().unwrap();
        // Each group holds 8 consecutive values v0..v0+7: mean v0 + 3.5, variance 5.25.
        for g in 0..4 {
            for k in 0..8 {
                let expected = (k as f32 - 3.5) / 5.25f32.sqrt();
                assert!((y[g * 8 + k] - expected).abs() < 1e-5);
            }
        }
        // Trainable affine in group mode only.
        let ad = Device::flex().autodiff();
        assert!(FrozenBatchNorm2dConfig::new(4).with_groups(2).init(&ad).weight.val().is_require_grad());
        assert!(!FrozenBatchNorm2dConfig::new(4).init(&ad).weight.val().is_require_grad());
    }
}
