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
    /// Two-stage: keep only distinct proposals, a box overlapping a better-scored kept one by
    /// an IoU above this being passed over ([`crate::two_stage::distinct_top_k`], DDQ).
    /// Default `None`: plain top-k (the reference). Not in HuggingFace's config; a model
    /// folder without it loads as `None`.
    pub two_stage_nms: Option<f64>,
    /// Two-stage: distinct proposals by their centres instead (exclusive with
    /// `two_stage_nms`): a proposal whose centre lies closer than this many input pixels
    /// to a better-scored kept one's is passed over
    /// ([`crate::two_stage::distinct_top_k_centre`]). Default `None`; a model folder
    /// without it loads as `None`.
    pub two_stage_nms_px: Option<f64>,
}

impl DeformableDetrConfig {
    /// Checks that the model can be built: the backbone is valid, there are at least as many
    /// feature levels as backbone levels, the head counts and `group_norm_groups` divide
    /// `d_model`, and the counts are positive. [`DeformableDetrConfig::init`] panics where
    /// this returns an error.
    ///
    /// # Errors
    /// A message naming the field and its value.
    pub fn validate(&self) -> Result<(), String> {
        let levels = validate_backbone(&self.backbone)?;
        if self.num_feature_levels < levels {
            return Err(format!(
                "num_feature_levels = {} is fewer than the {levels} backbone levels",
                self.num_feature_levels
            ));
        }
        validate_width(self.d_model, self.encoder_attention_heads, "encoder_attention_heads")?;
        validate_width(self.d_model, self.decoder_attention_heads, "decoder_attention_heads")?;
        if self.group_norm_groups == 0 || !self.d_model.is_multiple_of(self.group_norm_groups) {
            return Err(format!(
                "d_model = {} cannot be split into group_norm_groups = {} groups (the input projections' \
                 GroupNorm)",
                self.d_model, self.group_norm_groups
            ));
        }
        positive(&[
            ("decoder_layers", self.decoder_layers),
            ("encoder_n_points", self.encoder_n_points),
            ("decoder_n_points", self.decoder_n_points),
            ("num_queries", self.num_queries),
            ("num_classes", self.num_classes),
            ("encoder_ffn_dim", self.encoder_ffn_dim),
            ("decoder_ffn_dim", self.decoder_ffn_dim),
        ])?;
        if self.two_stage {
            positive(&[("two_stage_num_proposals", self.two_stage_num_proposals)])?;
        }
        if let Some(t) = self.two_stage_nms
            && !(t.is_finite() && t > 0.0 && t <= 1.0)
        {
            return Err(format!("two_stage_nms = {t} must be in (0, 1]"));
        }
        if let Some(px) = self.two_stage_nms_px {
            if !(px.is_finite() && px > 0.0) {
                return Err(format!("two_stage_nms_px = {px} must be > 0 pixels"));
            }
            if self.two_stage_nms.is_some() {
                return Err("two_stage_nms and two_stage_nms_px are two rules for the same choice: set one".into());
            }
        }
        Ok(())
    }

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
    /// HuggingFace `auxiliary_loss`: the decoder's layer norm is applied after every layer
    /// and its output feeds the next layer (the final output is normalised once more), as
    /// transformers' `DetrDecoder` does when the flag is set. Default false (the original
    /// DETR: normalised copies for the heads, un-normalised state to the next layer).
    #[config(default = false)]
    pub auxiliary_loss: bool,
}

impl DetrConfig {
    /// Checks that the model can be built, like [`DeformableDetrConfig::validate`]: a valid
    /// backbone, head counts dividing `d_model`, positive counts.
    ///
    /// # Errors
    /// A message naming the field and its value.
    pub fn validate(&self) -> Result<(), String> {
        validate_backbone(&self.backbone)?;
        validate_width(self.d_model, self.encoder_attention_heads, "encoder_attention_heads")?;
        validate_width(self.d_model, self.decoder_attention_heads, "decoder_attention_heads")?;
        positive(&[
            ("decoder_layers", self.decoder_layers),
            ("num_queries", self.num_queries),
            ("num_classes", self.num_classes),
            ("encoder_ffn_dim", self.encoder_ffn_dim),
            ("decoder_ffn_dim", self.decoder_ffn_dim),
        ])
    }

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

fn positive(fields: &[(&str, usize)]) -> Result<(), String> {
    match fields.iter().find(|(_, v)| *v == 0) {
        Some((name, _)) => Err(format!("{name} = 0 (must be at least 1)")),
        None => Ok(()),
    }
}

/// `d_model` must be even (sine position encoding of `d/2` features per axis) and split into
/// `heads` equal heads.
fn validate_width(d_model: usize, heads: usize, name: &str) -> Result<(), String> {
    if d_model == 0 || !d_model.is_multiple_of(2) {
        return Err(format!("d_model = {d_model} must be a positive even number"));
    }
    if heads == 0 || !d_model.is_multiple_of(heads) {
        return Err(format!("{name} = {heads} does not divide d_model = {d_model}"));
    }
    Ok(())
}

/// Checks a backbone description; returns its number of levels.
fn validate_backbone(backbone: &BackboneConfig) -> Result<usize, String> {
    if let BackboneConfig::ResNet(r) = backbone {
        if r.depths.len() != 4 || r.hidden_sizes.len() != 4 {
            return Err(format!("ResNet needs 4 depths and 4 hidden_sizes, got {:?} / {:?}", r.depths, r.hidden_sizes));
        }
        if r.out_stages.is_empty()
            || r.out_stages.iter().any(|s| !(1..=4).contains(s))
            || r.out_stages.windows(2).any(|w| w[0] >= w[1])
        {
            return Err(format!("ResNet out_stages {:?} must be increasing stages 1..=4", r.out_stages));
        }
        if r.in_channels == 0 || r.embedding_size == 0 || r.depths.contains(&0) || r.hidden_sizes.contains(&0) {
            return Err("ResNet channel counts and depths must be positive".into());
        }
        if r.block == ResNetBlock::Bottleneck && r.hidden_sizes.iter().any(|h| !h.is_multiple_of(4)) {
            return Err(format!("bottleneck ResNet hidden_sizes {:?} must be multiples of 4", r.hidden_sizes));
        }
    }
    if let BackboneConfig::Light(l) = backbone
        && (l.channels.len() != 4 || l.out_stages.is_empty() || l.out_stages.iter().any(|s| !(1..=4).contains(s)))
    {
        return Err(format!(
            "light CNN needs 4 channel counts and stages 1..=4, got {:?} / {:?}",
            l.channels, l.out_stages
        ));
    }
    let levels = backbone.out_channels().len();
    if levels == 0 {
        return Err("the backbone returns no feature level".into());
    }
    Ok(levels)
}
