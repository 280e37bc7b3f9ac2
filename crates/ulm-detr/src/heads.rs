//! Prediction heads: the box MLP and the class head.

use burn::module::Param;
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::relu;

/// Configuration of an [`Mlp`] (DETR's `MLPPredictionHead`).
#[derive(Config, Debug)]
pub struct MlpConfig {
    /// Input width.
    pub input_dim: usize,
    /// Hidden width.
    pub hidden_dim: usize,
    /// Output width (4 for a box).
    pub output_dim: usize,
    /// Number of linear layers. Default 3.
    #[config(default = 3)]
    pub num_layers: usize,
}

impl MlpConfig {
    /// Build the MLP (PyTorch-like uniform initialisation).
    pub fn init(&self, device: &Device) -> Mlp {
        let layers = (0..self.num_layers)
            .map(|i| {
                let din = if i == 0 { self.input_dim } else { self.hidden_dim };
                let dout = if i + 1 == self.num_layers { self.output_dim } else { self.hidden_dim };
                LinearConfig::new(din, dout).init(device)
            })
            .collect();
        Mlp { layers }
    }
}

/// Linear layers with ReLU between them (none after the last).
#[derive(Module, Debug)]
pub struct Mlp {
    /// The layers (HF `layers.{i}`).
    pub layers: Vec<Linear>,
}

impl Mlp {
    /// # Shapes
    /// - `x`: `[..., input_dim]` → `[..., output_dim]`
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        let n = self.layers.len();
        let mut x = x;
        for (i, layer) in self.layers.iter().enumerate() {
            x = layer.forward(x);
            if i + 1 < n {
                x = relu(x);
            }
        }
        x
    }

    /// Zero the last layer, so that the head starts as the identity around its reference
    /// (Deformable DETR's initialisation of `bbox_embed`).
    pub fn zero_last(mut self) -> Self {
        if let Some(last) = self.layers.last_mut() {
            last.weight = Param::from_tensor(last.weight.val().zeros_like());
            last.bias = last.bias.take().map(|b| Param::from_tensor(b.val().zeros_like()));
        }
        self
    }
}

/// A class head whose bias starts at `−log((1 − p) / p)`, so that every query begins with
/// probability `prior_prob` of being an object (focal-loss initialisation of Deformable DETR).
pub fn class_head_with_prior(d_model: usize, num_classes: usize, prior_prob: f64, device: &Device) -> Linear {
    let mut head = LinearConfig::new(d_model, num_classes).init(device);
    let bias = -((1.0 - prior_prob) / prior_prob).ln();
    head.bias = Some(Param::from_tensor(Tensor::full([num_classes], bias, device)));
    head
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prior_bias_gives_prior_probability() {
        let device = Device::default();
        let head = class_head_with_prior(8, 1, 0.01, &device);
        let logits = head.forward(Tensor::<2>::zeros([1, 8], &device));
        let p = burn::tensor::activation::sigmoid(logits).into_scalar::<f32>();
        assert!((p - 0.01).abs() < 1e-6, "{p}");
    }
}
