//! The U-Net: an encoder–decoder with skip connections at the input resolution, followed by
//! an upsampling head that lifts the decoder's output onto a grid `upsample`× finer (the
//! Deep-ULM super-resolved localization map).

use burn::module::Param;
use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{GroupNorm, GroupNormConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::relu;
use ulm_detr::conv::conv2d;

/// Configuration of a [`Unet`].
///
/// Level `l` (`0..=depth`) of the encoder has `base_width · 2^l` channels at `1 / 2^l` of the
/// input resolution; the decoder mirrors it with transposed-convolution upsampling and
/// concatenated skips; the head applies `log2(upsample)` stages of (2× transposed
/// convolution, 3×3 convolution) with `head_width` channels and a 1×1 convolution to one
/// logit per fine pixel. Every convolution is followed by GroupNorm (`norm_groups` groups)
/// and ReLU: GroupNorm has no running statistics, so training and inference behave alike at
/// any batch size.
#[derive(Config, Debug, PartialEq)]
pub struct UnetConfig {
    /// Input channels (one envelope image). Default 1.
    #[config(default = 1)]
    pub in_channels: usize,
    /// Channels of the first encoder level. Default 8 (the `tiny` preset).
    #[config(default = 8)]
    pub base_width: usize,
    /// Number of 2× downsamplings; inputs must be multiples of `2^depth`. Default 2.
    #[config(default = 2)]
    pub depth: usize,
    /// Fine-grid factor of the output map (a power of two, 1–16). Default 4.
    #[config(default = 4)]
    pub upsample: usize,
    /// Channels of the upsampling head. Default 8.
    #[config(default = 8)]
    pub head_width: usize,
    /// GroupNorm groups (must divide `base_width` and `head_width`). Default 4.
    #[config(default = 4)]
    pub norm_groups: usize,
    /// Initial bias of the output logit: sigmoid(−4) ≈ 0.018, a nearly empty map, so the
    /// first steps are not spent unlearning a grey one (the focal-loss prior). Default −4.
    #[config(default = -4.0)]
    pub output_bias: f64,
}

impl UnetConfig {
    /// The small CPU model: widths 8–32 over two downsamplings, a 4× head of 8 channels
    /// (31 401 parameters).
    pub fn tiny() -> Self {
        Self::new()
    }

    /// The Deep-ULM-sized model: widths 32–512 over four downsamplings, an 8× head of 32
    /// channels (7 805 921 parameters).
    pub fn paper() -> Self {
        Self::new().with_base_width(32).with_depth(4).with_upsample(8).with_head_width(32).with_norm_groups(8)
    }

    /// Channels of encoder level `l`.
    pub fn width(&self, level: usize) -> usize {
        self.base_width << level
    }

    /// The input side must be a multiple of this (`2^depth`).
    pub fn input_multiple(&self) -> usize {
        1 << self.depth
    }

    /// Checks the sizes; the message names the field.
    ///
    /// # Errors
    /// The first field out of range.
    pub fn check(&self) -> Result<(), String> {
        if self.in_channels == 0 {
            return Err("in_channels must be at least 1".into());
        }
        if !(1..=8).contains(&self.depth) {
            return Err(format!("depth must be in 1..=8, got {}", self.depth));
        }
        if !(self.upsample.is_power_of_two() && self.upsample <= 16) {
            return Err(format!("upsample must be 1, 2, 4, 8 or 16, got {}", self.upsample));
        }
        if self.norm_groups == 0 || self.base_width == 0 || self.head_width == 0 {
            return Err("base_width, head_width and norm_groups must be at least 1".into());
        }
        if !self.base_width.is_multiple_of(self.norm_groups) || !self.head_width.is_multiple_of(self.norm_groups) {
            return Err(format!(
                "norm_groups {} must divide base_width {} and head_width {}",
                self.norm_groups, self.base_width, self.head_width
            ));
        }
        if self.base_width << self.depth > 4096 {
            return Err("base_width · 2^depth must be at most 4096".into());
        }
        if !self.output_bias.is_finite() {
            return Err("output_bias must be finite".into());
        }
        Ok(())
    }

    /// Builds the network (Kaiming-uniform convolutions, the output bias set).
    ///
    /// # Panics
    /// If [`UnetConfig::check`] fails.
    pub fn init(&self, device: &Device) -> Unet {
        if let Err(e) = self.check() {
            panic!("invalid UnetConfig: {e}");
        }
        let mut encoder = Vec::with_capacity(self.depth + 1);
        let mut cin = self.in_channels;
        for l in 0..=self.depth {
            encoder.push(ConvBlock::new(cin, self.width(l), self.norm_groups, device));
            cin = self.width(l);
        }
        let decoder = (0..self.depth)
            .rev()
            .map(|l| UpBlock {
                up: ConvTranspose2dConfig::new([self.width(l + 1), self.width(l)], [2, 2])
                    .with_stride([2, 2])
                    .init(device),
                block: ConvBlock::new(2 * self.width(l), self.width(l), self.norm_groups, device),
            })
            .collect();
        let stages = self.upsample.trailing_zeros() as usize;
        let mut head = Vec::with_capacity(stages);
        let mut cin = self.width(0);
        for _ in 0..stages {
            head.push(HeadStage {
                up: ConvTranspose2dConfig::new([cin, self.head_width], [2, 2]).with_stride([2, 2]).init(device),
                norm: GroupNormConfig::new(self.norm_groups, self.head_width).init(device),
                conv: conv3(self.head_width, self.head_width, device),
                norm2: GroupNormConfig::new(self.norm_groups, self.head_width).init(device),
            });
            cin = self.head_width;
        }
        let mut out = Conv2dConfig::new([cin, 1], [1, 1]).init(device);
        out.bias = Some(Param::from_tensor(Tensor::<1>::full([1], self.output_bias, device)));
        Unet { encoder, pool: MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init(), decoder, head, out }
    }
}

fn conv3(cin: usize, cout: usize, device: &Device) -> Conv2d {
    Conv2dConfig::new([cin, cout], [3, 3]).with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1)).init(device)
}

/// Two (3×3 convolution, GroupNorm, ReLU).
#[derive(Module, Debug)]
pub struct ConvBlock {
    /// First convolution.
    pub conv1: Conv2d,
    /// Its normalisation.
    pub norm1: GroupNorm,
    /// Second convolution.
    pub conv2: Conv2d,
    /// Its normalisation.
    pub norm2: GroupNorm,
}

impl ConvBlock {
    fn new(cin: usize, cout: usize, groups: usize, device: &Device) -> Self {
        Self {
            conv1: conv3(cin, cout, device),
            norm1: GroupNormConfig::new(groups, cout).init(device),
            conv2: conv3(cout, cout, device),
            norm2: GroupNormConfig::new(groups, cout).init(device),
        }
    }

    /// # Shapes
    /// `[b, cin, h, w]` → `[b, cout, h, w]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let x = relu(self.norm1.forward(conv2d(&self.conv1, x)));
        relu(self.norm2.forward(conv2d(&self.conv2, x)))
    }
}

/// A decoder level: 2× transposed convolution, concatenation with the encoder's skip,
/// [`ConvBlock`].
#[derive(Module, Debug)]
pub struct UpBlock {
    /// 2× upsampling to the skip's width.
    pub up: ConvTranspose2d,
    /// Fuses `[skip, upsampled]`.
    pub block: ConvBlock,
}

/// A head stage on the fine grid: 2× transposed convolution + GroupNorm + ReLU, then a 3×3
/// convolution + GroupNorm + ReLU.
#[derive(Module, Debug)]
pub struct HeadStage {
    /// 2× upsampling.
    pub up: ConvTranspose2d,
    /// Its normalisation.
    pub norm: GroupNorm,
    /// 3×3 convolution.
    pub conv: Conv2d,
    /// Its normalisation.
    pub norm2: GroupNorm,
}

/// The Deep-ULM U-Net (see [`UnetConfig`]).
#[derive(Module, Debug)]
pub struct Unet {
    /// Encoder levels, finest first.
    pub encoder: Vec<ConvBlock>,
    /// 2× max pooling between encoder levels.
    pub pool: MaxPool2d,
    /// Decoder levels, coarsest first.
    pub decoder: Vec<UpBlock>,
    /// Upsampling head.
    pub head: Vec<HeadStage>,
    /// 1×1 convolution to the logit.
    pub out: Conv2d,
}

impl Unet {
    /// The localization map's logits (apply a sigmoid for the map in `[0, 1]`).
    ///
    /// # Shapes
    /// - `x`: `[b, in_channels, h, w]`, `h` and `w` multiples of `2^depth`
    /// - returns `[b, 1, h · upsample, w · upsample]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let mut skips = Vec::with_capacity(self.encoder.len());
        let mut x = x;
        for (l, block) in self.encoder.iter().enumerate() {
            if l > 0 {
                x = self.pool.forward(x); // [b, c_{l-1}, h / 2^l, w / 2^l]
            }
            x = block.forward(x); // [b, c_l, h / 2^l, w / 2^l]
            skips.push(x.clone());
        }
        skips.pop();
        for up in &self.decoder {
            let skip = skips.pop().expect("one skip per decoder level"); // [b, c_l, h_l, w_l]
            let u = up.up.forward(x); // [b, c_l, h_l, w_l]
            x = up.block.forward(Tensor::cat(vec![skip, u], 1)); // [b, c_l, h_l, w_l]
        }
        for stage in &self.head {
            x = relu(stage.norm.forward(stage.up.forward(x))); // [b, head, 2h', 2w']
            x = relu(stage.norm2.forward(conv2d(&stage.conv, x)));
        }
        conv2d(&self.out, x) // [b, 1, h · upsample, w · upsample]
    }
}

#[cfg(test)]
mod tests {
    use burn::module::Module;

    use super::*;

    #[test]
    fn shapes_and_parameter_counts() {
        let device = Device::flex();
        let cfg = UnetConfig::tiny();
        let net = cfg.init(&device);
        let y = net.forward(Tensor::zeros([2, 1, 16, 24], &device));
        assert_eq!(y.dims(), [2, 1, 64, 96]);
        let v: Vec<f32> = y.into_data().convert::<f32>().try_to_vec::<f32>().unwrap();
        assert!(v.iter().all(|l| l.is_finite()));
        let bias: Vec<f32> = net.out.bias.as_ref().unwrap().val().into_data().convert::<f32>().try_to_vec().unwrap();
        assert_eq!(bias, vec![-4.0]);
        // Parameters by hand (tiny: widths 8, 16, 32; head 8; 3×3 convs with bias, GN γ/β):
        // encoder: (1·9+1)·8 + 16 + (8·9+1)·8 + 16 = 696; (8·9+1)·16+32 + (16·9+1)·16+32 = 3552;
        //          (16·9+1)·32+64 + (32·9+1)·32+64 = 14016
        // decoder: up 32→16 (32·16·4+16 = 2064) + block 32→16, 16→16 ((32·9+1)·16+32 + 2352 = 7008);
        //          up 16→8 (16·8·4+8 = 520) + block 16→8, 8→8 ((16·9+1)·8+16 + 600 = 1776)
        // head ×2: up (8·8·4+8 = 264) + GN 16 + conv 584 + GN 16 = 880 each; out 8+1 = 9
        let want = 696 + 3552 + 14016 + 2064 + 7008 + 520 + 1776 + 2 * 880 + 9;
        assert_eq!(net.num_params(), want);
        assert!(UnetConfig::tiny().with_upsample(3).check().is_err());
        assert!(UnetConfig::tiny().with_norm_groups(3).check().unwrap_err().contains("norm_groups"));
        // paper (widths 32–512, head 32 ×3 stages), by the same rule: encoder 4 715 616,
        // decoder 3 049 760, head 3 · 13 504, output 33.
        assert_eq!(UnetConfig::paper().init(&device).num_params(), 4_715_616 + 3_049_760 + 3 * 13_504 + 33);
    }
}
