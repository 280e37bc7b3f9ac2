//! Model configurations and named presets.

use burn::prelude::*;

use crate::backbone::{BackboneConfig, ResNetBlock, ResNetConfig};

/// Configuration of a [`DeformableDetr`](crate::DeformableDetr), in the terms of
/// HuggingFace `DeformableDetrConfig` (defaults are its defaults, except 1 class and a
/// single-channel ResNet-50).
#[derive(Config, Debug)]
pub struct DeformableDetrConfig {
    /// Backbone. Default single-channel ResNet-50, stages 2–4 (strides 8, 16, 32).
    #[config(default = "BackboneConfig::ResNet(ResNetConfig::resnet50())")]
    pub backbone: BackboneConfig,
    /// Transformer width. Default 256.
    #[config(default = 256)]
    pub d_model: usize,
    /// Encoder layers. Default 6.
    #[config(default = 6)]
    pub encoder_layers: usize,
    /// Decoder layers. Default 6.
    #[config(default = 6)]
    pub decoder_layers: usize,
    /// Encoder attention heads. Default 8.
    #[config(default = 8)]
    pub encoder_attention_heads: usize,
    /// Decoder attention heads. Default 8.
    #[config(default = 8)]
    pub decoder_attention_heads: usize,
    /// Encoder FFN width. Default 1024.
    #[config(default = 1024)]
    pub encoder_ffn_dim: usize,
    /// Decoder FFN width. Default 1024.
    #[config(default = 1024)]
    pub decoder_ffn_dim: usize,
    /// Sampling points per head and level in the encoder. Default 4.
    #[config(default = 4)]
    pub encoder_n_points: usize,
    /// Sampling points per head and level in the decoder. Default 4.
    #[config(default = 4)]
    pub decoder_n_points: usize,
    /// Feature levels: the backbone's levels plus extra stride-2 convolutions on the last
    /// one. Default 4.
    #[config(default = 4)]
    pub num_feature_levels: usize,
    /// Object queries (maximum detections per image). Default 300.
    #[config(default = 300)]
    pub num_queries: usize,
    /// Object classes (sigmoid outputs; 1 = microbubble). Default 1.
    #[config(default = 1)]
    pub num_classes: usize,
    /// Dropout after attention and FFN. Default 0.1.
    #[config(default = 0.1)]
    pub dropout: f64,
    /// Dropout inside the FFN. Default 0.
    #[config(default = 0.0)]
    pub activation_dropout: f64,
    /// Dropout on decoder self-attention probabilities. Default 0.
    #[config(default = 0.0)]
    pub attention_dropout: f64,
    /// Groups of the GroupNorm after each input projection. Default 32.
    #[config(default = 32)]
    pub group_norm_groups: usize,
    /// Prior object probability encoded in the class-head bias. Default 0.01.
    #[config(default = 0.01)]
    pub prior_prob: f64,
    /// Iterative bounding-box refinement. Default false.
    #[config(default = false)]
    pub with_box_refine: bool,
    /// Two-stage proposals from the encoder (implies box refinement). Default false.
    #[config(default = false)]
    pub two_stage: bool,
    /// Proposals kept in two-stage mode. Default 300.
    #[config(default = 300)]
    pub two_stage_num_proposals: usize,
}

impl DeformableDetrConfig {
    /// The paper's DE-DETR: ResNet-50 (single channel), `d = 256`, 2 encoder and 2 decoder
    /// layers, 8 heads, 4 points, 4 levels, 300 queries, dropout raised from 0.1 to 0.2
    /// (the paper raises it without giving the value).
    pub fn paper() -> Self {
        Self::new().with_encoder_layers(2).with_decoder_layers(2).with_dropout(0.2)
    }

    /// A small model for CPU tests: a narrow ResNet (basic blocks, widths 16–128, one block
    /// per stage) returning strides 4, 8 and 16, `d = 64`, 2+2 layers, 4 heads, 4 points,
    /// 16 queries.
    pub fn tiny() -> Self {
        Self::new()
            .with_backbone(BackboneConfig::ResNet(tiny_resnet(vec![1, 2, 3])))
            .with_d_model(64)
            .with_encoder_layers(2)
            .with_decoder_layers(2)
            .with_encoder_attention_heads(4)
            .with_decoder_attention_heads(4)
            .with_encoder_ffn_dim(128)
            .with_decoder_ffn_dim(128)
            .with_num_feature_levels(3)
            .with_num_queries(16)
    }
}

/// The narrow ResNet of the `tiny` presets.
pub fn tiny_resnet(out_stages: Vec<usize>) -> ResNetConfig {
    ResNetConfig::new()
        .with_embedding_size(16)
        .with_hidden_sizes(vec![16, 32, 64, 128])
        .with_depths(vec![1, 1, 1, 1])
        .with_block(ResNetBlock::Basic)
        .with_out_stages(out_stages)
}

/// Configuration of a [`Detr`](crate::Detr), in the terms of HuggingFace `DetrConfig`.
#[derive(Config, Debug)]
pub struct DetrConfig {
    /// Backbone; DETR uses its last level only. Default single-channel ResNet-50, stage 4.
    #[config(default = "BackboneConfig::ResNet(ResNetConfig::resnet50().with_out_stages(vec![4]))")]
    pub backbone: BackboneConfig,
    /// Transformer width. Default 256.
    #[config(default = 256)]
    pub d_model: usize,
    /// Encoder layers. Default 6.
    #[config(default = 6)]
    pub encoder_layers: usize,
    /// Decoder layers. Default 6.
    #[config(default = 6)]
    pub decoder_layers: usize,
    /// Encoder attention heads. Default 8.
    #[config(default = 8)]
    pub encoder_attention_heads: usize,
    /// Decoder attention heads. Default 8.
    #[config(default = 8)]
    pub decoder_attention_heads: usize,
    /// Encoder FFN width. Default 2048.
    #[config(default = 2048)]
    pub encoder_ffn_dim: usize,
    /// Decoder FFN width. Default 2048.
    #[config(default = 2048)]
    pub decoder_ffn_dim: usize,
    /// Object queries. Default 100.
    #[config(default = 100)]
    pub num_queries: usize,
    /// Object classes, without the extra no-object class. Default 1.
    #[config(default = 1)]
    pub num_classes: usize,
    /// Dropout after attention and FFN. Default 0.1.
    #[config(default = 0.1)]
    pub dropout: f64,
    /// Dropout inside the FFN. Default 0.
    #[config(default = 0.0)]
    pub activation_dropout: f64,
    /// Dropout on attention probabilities. Default 0.
    #[config(default = 0.0)]
    pub attention_dropout: f64,
}

impl DetrConfig {
    /// DETR as in the earlier paper: ResNet-50, `d = 256`, 6+6 layers, 100 queries.
    pub fn paper() -> Self {
        Self::new()
    }

    /// A small model for CPU tests (narrow ResNet to stride 16, `d = 64`, 2+2 layers).
    pub fn tiny() -> Self {
        Self::new()
            .with_backbone(BackboneConfig::ResNet(tiny_resnet(vec![3])))
            .with_d_model(64)
            .with_encoder_layers(2)
            .with_decoder_layers(2)
            .with_encoder_attention_heads(4)
            .with_decoder_attention_heads(4)
            .with_encoder_ffn_dim(128)
            .with_decoder_ffn_dim(128)
            .with_num_queries(16)
    }
}
