//! ResNet backbone (18/34/50) with frozen batch norm and single-channel input.
//!
//! Field names follow torchvision (`conv1`, `bn1`, `layer1.0.conv1`, `downsample`), the
//! names of timm checkpoints used by the released DETR / Deformable DETR weights; the
//! HuggingFace `ResNetBackbone` names map onto them in [`crate::weights`].

use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::prelude::*;
use burn::tensor::activation::relu;

use super::frozen_bn::{FrozenBatchNorm2d, FrozenBatchNorm2dConfig};
use crate::conv;

/// Residual block flavour.
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum ResNetBlock {
    /// Two 3×3 convolutions (ResNet-18/34).
    Basic,
    /// 1×1 → 3×3 → 1×1 with a 4× channel reduction (ResNet-50/101).
    Bottleneck,
}

/// Configuration of a [`ResNet`], in HuggingFace `ResNetConfig` terms.
#[derive(Config, Debug)]
pub struct ResNetConfig {
    /// Input channels (1 for B-mode / envelope images). Default 1.
    #[config(default = 1)]
    pub in_channels: usize,
    /// Channels of the stem (7×7 stride-2 convolution). Default 64.
    #[config(default = 64)]
    pub embedding_size: usize,
    /// Output channels of the four stages. Default ResNet-50: `[256, 512, 1024, 2048]`.
    #[config(default = "vec![256, 512, 1024, 2048]")]
    pub hidden_sizes: Vec<usize>,
    /// Blocks per stage. Default ResNet-50: `[3, 4, 6, 3]`.
    #[config(default = "vec![3, 4, 6, 3]")]
    pub depths: Vec<usize>,
    /// Block flavour. Default bottleneck.
    #[config(default = "ResNetBlock::Bottleneck")]
    pub block: ResNetBlock,
    /// Stages (1..=4) whose outputs are returned; stage `s` has stride `2^(s+1)`
    /// (stage 1 is stride 4, which microbubbles of 2–5 px need). Default `[2, 3, 4]`
    /// (strides 8, 16, 32, as Deformable DETR on COCO).
    #[config(default = "vec![2, 3, 4]")]
    pub out_stages: Vec<usize>,
    /// Normalisation: `0` = frozen batch norm (for imported weights); `g > 0` = group
    /// normalisation with `g` groups and a trainable affine, for training from scratch
    /// (see [`FrozenBatchNorm2dConfig::groups`]). Default 0.
    #[config(default = 0)]
    pub norm_groups: usize,
}

impl ResNetConfig {
    /// ResNet-18 (basic blocks, `[2, 2, 2, 2]`).
    pub fn resnet18() -> Self {
        Self::new()
            .with_hidden_sizes(vec![64, 128, 256, 512])
            .with_depths(vec![2, 2, 2, 2])
            .with_block(ResNetBlock::Basic)
    }

    /// ResNet-34 (basic blocks, `[3, 4, 6, 3]`).
    pub fn resnet34() -> Self {
        Self::resnet18().with_depths(vec![3, 4, 6, 3])
    }

    /// ResNet-50 (bottleneck blocks, `[3, 4, 6, 3]`), the papers' backbone.
    pub fn resnet50() -> Self {
        Self::new()
    }

    /// Output channels of each returned level.
    pub fn out_channels(&self) -> Vec<usize> {
        self.out_stages.iter().map(|&s| self.hidden_sizes[s - 1]).collect()
    }

    /// Stride of each returned level, in input pixels.
    pub fn out_strides(&self) -> Vec<usize> {
        self.out_stages.iter().map(|&s| 1 << (s + 1)).collect()
    }

    /// Build the backbone with identity batch norms and default-initialised convolutions.
    pub fn init(&self, device: &Device) -> ResNet {
        let conv1 = conv(self.in_channels, self.embedding_size, 7, 2, device);
        let bn1 = FrozenBatchNorm2dConfig::new(self.embedding_size).with_groups(self.norm_groups).init(device);
        let mut stages = Vec::new();
        let mut in_ch = self.embedding_size;
        let last = self.out_stages.iter().copied().max().unwrap_or(4);
        for s in 0..last {
            let out_ch = self.hidden_sizes[s];
            let stride = if s == 0 { 1 } else { 2 };
            let blocks = (0..self.depths[s])
                .map(|j| {
                    let (cin, st) = if j == 0 { (in_ch, stride) } else { (out_ch, 1) };
                    block(self.block, cin, out_ch, st, self.norm_groups, device)
                })
                .collect();
            stages.push(blocks);
            in_ch = out_ch;
        }
        let mut it = stages.into_iter();
        let mut next = || it.next().unwrap_or_default();
        ResNet {
            conv1,
            bn1,
            maxpool: MaxPool2dConfig::new([3, 3])
                .with_strides([2, 2])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(),
            layer1: next(),
            layer2: next(),
            layer3: next(),
            layer4: next(),
            out_stages: self.out_stages.clone(),
        }
    }
}

fn conv(cin: usize, cout: usize, k: usize, stride: usize, device: &Device) -> Conv2d {
    let p = k / 2;
    Conv2dConfig::new([cin, cout], [k, k])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(p, p, p, p))
        .with_bias(false)
        .init(device)
}

fn block(kind: ResNetBlock, cin: usize, cout: usize, stride: usize, groups: usize, device: &Device) -> Block {
    let bn = |c: usize| FrozenBatchNorm2dConfig::new(c).with_groups(groups).init(device);
    let downsample =
        (cin != cout || stride != 1).then(|| Downsample { conv: conv(cin, cout, 1, stride, device), bn: bn(cout) });
    match kind {
        ResNetBlock::Basic => Block {
            conv1: conv(cin, cout, 3, stride, device),
            bn1: bn(cout),
            conv2: conv(cout, cout, 3, 1, device),
            bn2: bn(cout),
            conv3: None,
            bn3: None,
            downsample,
        },
        ResNetBlock::Bottleneck => {
            let mid = cout / 4;
            Block {
                conv1: conv(cin, mid, 1, 1, device),
                bn1: bn(mid),
                conv2: conv(mid, mid, 3, stride, device),
                bn2: bn(mid),
                conv3: Some(conv(mid, cout, 1, 1, device)),
                bn3: Some(bn(cout)),
                downsample,
            }
        }
    }
}

/// 1×1 projection of the residual when the shape changes (torchvision `downsample`).
#[derive(Module, Debug)]
pub struct Downsample {
    /// 1×1 convolution (`downsample.0`).
    pub conv: Conv2d,
    /// Frozen batch norm (`downsample.1`).
    pub bn: FrozenBatchNorm2d,
}

/// A basic (two convolutions) or bottleneck (three, `conv3`/`bn3` present) residual block.
#[derive(Module, Debug)]
pub struct Block {
    /// First convolution.
    pub conv1: Conv2d,
    /// Its batch norm.
    pub bn1: FrozenBatchNorm2d,
    /// Second convolution (3×3; carries the stride in both flavours).
    pub conv2: Conv2d,
    /// Its batch norm.
    pub bn2: FrozenBatchNorm2d,
    /// Third (1×1) convolution of a bottleneck block.
    pub conv3: Option<Conv2d>,
    /// Its batch norm.
    pub bn3: Option<FrozenBatchNorm2d>,
    /// Residual projection.
    pub downsample: Option<Downsample>,
}

impl Block {
    /// # Shapes
    /// - `x`: `[b, c_in, h, w]` → `[b, c_out, h / stride, w / stride]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let identity = match &self.downsample {
            Some(d) => d.bn.forward(conv::conv2d(&d.conv, x.clone())),
            None => x.clone(),
        };
        let y = relu(self.bn1.forward(conv::conv2d(&self.conv1, x)));
        let y = self.bn2.forward(conv::conv2d(&self.conv2, y));
        let y = match (&self.conv3, &self.bn3) {
            (Some(conv3), Some(bn3)) => bn3.forward(conv::conv2d(conv3, relu(y))),
            _ => y,
        };
        relu(y + identity)
    }
}

/// ResNet feature extractor returning the stages asked for.
#[derive(Module, Debug)]
pub struct ResNet {
    /// Stem convolution, 7×7 stride 2.
    pub conv1: Conv2d,
    /// Stem batch norm.
    pub bn1: FrozenBatchNorm2d,
    /// Stem max pool, 3×3 stride 2.
    pub maxpool: MaxPool2d,
    /// Stage 1 (stride 4).
    pub layer1: Vec<Block>,
    /// Stage 2 (stride 8).
    pub layer2: Vec<Block>,
    /// Stage 3 (stride 16).
    pub layer3: Vec<Block>,
    /// Stage 4 (stride 32); empty when no returned level needs it.
    pub layer4: Vec<Block>,
    /// Returned stages (1..=4).
    pub out_stages: Vec<usize>,
}

impl ResNet {
    /// Feature maps of the configured stages, finest first.
    ///
    /// # Shapes
    /// - `x`: `[b, in_channels, h, w]`
    /// - returns one `[b, hidden_sizes[s-1], ⌈h / 2^(s+1)⌉, ⌈w / 2^(s+1)⌉]` per stage `s`
    pub fn forward(&self, x: Tensor<4>) -> Vec<Tensor<4>> {
        // [b, emb, h/2, w/2]
        let x = relu(self.bn1.forward(conv::conv2d(&self.conv1, x)));
        // [b, emb, h/4, w/4]
        let mut x = self.maxpool.forward(x);
        let mut out = Vec::new();
        for (s, stage) in [&self.layer1, &self.layer2, &self.layer3, &self.layer4].into_iter().enumerate() {
            if stage.is_empty() {
                break;
            }
            for b in stage {
                x = b.forward(x);
            }
            if self.out_stages.contains(&(s + 1)) {
                out.push(x.clone());
            }
        }
        out
    }
}
