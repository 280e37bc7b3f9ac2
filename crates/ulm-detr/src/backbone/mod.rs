//! Convolutional backbones: ResNet-18/34/50 with frozen batch norm, and a light CNN.

mod frozen_bn;
mod light;
mod resnet;

pub use frozen_bn::{FrozenBatchNorm2d, FrozenBatchNorm2dConfig};
pub use light::{LightCnn, LightCnnConfig};
pub use resnet::{Block, Downsample, ResNet, ResNetBlock, ResNetConfig};

use burn::prelude::*;

/// Which backbone a model uses.
#[derive(Config, Debug)]
pub enum BackboneConfig {
    /// A ResNet with frozen batch norm (the references' backbone).
    ResNet(ResNetConfig),
    /// A light plain CNN for CPU work.
    Light(LightCnnConfig),
}

impl BackboneConfig {
    /// Output channels of each returned level, finest first.
    pub fn out_channels(&self) -> Vec<usize> {
        match self {
            Self::ResNet(c) => c.out_channels(),
            Self::Light(c) => c.out_channels(),
        }
    }

    /// Stride of each returned level, in input pixels.
    pub fn out_strides(&self) -> Vec<usize> {
        match self {
            Self::ResNet(c) => c.out_strides(),
            Self::Light(c) => c.out_strides(),
        }
    }

    /// Input channels the backbone expects.
    pub fn in_channels(&self) -> usize {
        match self {
            Self::ResNet(c) => c.in_channels,
            Self::Light(c) => c.in_channels,
        }
    }

    /// Build the backbone.
    pub fn init(&self, device: &Device) -> Backbone {
        match self {
            Self::ResNet(c) => Backbone::ResNet(c.init(device)),
            Self::Light(c) => Backbone::Light(c.init(device)),
        }
    }
}

/// A backbone returning multi-level feature maps.
// Built once per model; the size difference between variants does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Backbone {
    /// ResNet.
    ResNet(ResNet),
    /// Light CNN.
    Light(LightCnn),
}

impl Backbone {
    /// Feature maps, finest first.
    ///
    /// # Shapes
    /// - `x`: `[b, in_channels, h, w]` → `[b, c_l, h_l, w_l]` per level
    pub fn forward(&self, x: Tensor<4>) -> Vec<Tensor<4>> {
        match self {
            Self::ResNet(m) => m.forward(x),
            Self::Light(m) => m.forward(x),
        }
    }
}
