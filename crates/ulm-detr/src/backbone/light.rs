//! A light plain-CNN backbone for CPU work and tests.

use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::prelude::*;
use burn::tensor::activation::relu;

/// Configuration of a [`LightCnn`]: four stages of two 3×3 convolutions with ReLU, the
/// first convolution of each stage with stride 2 (stage 1 has two stride-2 convolutions),
/// so stage `s` has stride `2^(s+1)` like a ResNet.
#[derive(Config, Debug)]
pub struct LightCnnConfig {
    /// Input channels. Default 1.
    #[config(default = 1)]
    pub in_channels: usize,
    /// Output channels of the four stages. Default `[16, 32, 64, 128]`.
    #[config(default = "vec![16, 32, 64, 128]")]
    pub channels: Vec<usize>,
    /// Stages (1..=4) whose outputs are returned. Default `[1, 2, 3]` (strides 4, 8, 16).
    #[config(default = "vec![1, 2, 3]")]
    pub out_stages: Vec<usize>,
}

impl LightCnnConfig {
    /// Output channels of each returned level.
    pub fn out_channels(&self) -> Vec<usize> {
        self.out_stages.iter().map(|&s| self.channels[s - 1]).collect()
    }

    /// Stride of each returned level, in input pixels.
    pub fn out_strides(&self) -> Vec<usize> {
        self.out_stages.iter().map(|&s| 1 << (s + 1)).collect()
    }

    /// Build the backbone (Kaiming-uniform convolutions).
    pub fn init(&self, device: &Device) -> LightCnn {
        let conv = |cin: usize, cout: usize, stride: usize| -> Conv2d {
            Conv2dConfig::new([cin, cout], [3, 3])
                .with_stride([stride, stride])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(device)
        };
        let last = self.out_stages.iter().copied().max().unwrap_or(4);
        let mut stages = Vec::new();
        let mut cin = self.in_channels;
        for s in 0..last {
            let c = self.channels[s];
            stages.push(vec![conv(cin, c, 2), conv(c, c, if s == 0 { 2 } else { 1 })]);
            cin = c;
        }
        LightCnn { stages, out_stages: self.out_stages.clone() }
    }
}

/// Plain CNN feature extractor.
#[derive(Module, Debug)]
pub struct LightCnn {
    /// Convolutions per stage.
    pub stages: Vec<Vec<Conv2d>>,
    /// Returned stages (1..=4).
    pub out_stages: Vec<usize>,
}

impl LightCnn {
    /// Feature maps of the configured stages, finest first.
    ///
    /// # Shapes
    /// - `x`: `[b, in_channels, h, w]`
    /// - returns one `[b, channels[s-1], ⌈h / 2^(s+1)⌉, ⌈w / 2^(s+1)⌉]` per stage `s`
    pub fn forward(&self, x: Tensor<4>) -> Vec<Tensor<4>> {
        let mut x = x;
        let mut out = Vec::new();
        for (s, stage) in self.stages.iter().enumerate() {
            for conv in stage {
                x = relu(crate::conv::conv2d(conv, x));
            }
            if self.out_stages.contains(&(s + 1)) {
                out.push(x.clone());
            }
        }
        out
    }
}
