//! Deformable DETR (Zhu et al. 2021) as HuggingFace `DeformableDetrForObjectDetection`.

use burn::module::Param;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{
    DropoutConfig, Embedding, EmbeddingConfig, GroupNorm, GroupNormConfig, LayerNormConfig, Linear, LinearConfig,
    PaddingConfig2d,
};
use burn::prelude::*;
use burn::tensor::activation::sigmoid;

use crate::backbone::Backbone;
use crate::config::DeformableDetrConfig;
use crate::deformable_transformer::{DeformableDecoder, DeformableEncoder, DeformableLayerConfig, inverse_sigmoid};
use crate::dn::DnBatch;
use crate::heads::{Mlp, MlpConfig, class_head_with_prior};
use crate::position::{PositionEmbeddingSine, PositionEmbeddingSineConfig};
use crate::two_stage::{Distinct, TwoStage};

/// Projection of one backbone level (or an extra level) to `d_model` channels.
#[derive(Module, Debug)]
pub struct InputProj {
    /// 1×1 convolution (backbone levels) or 3×3 stride-2 convolution (extra levels).
    pub conv: Conv2d,
    /// Group norm (HF `input_proj.{l}.1`).
    pub norm: GroupNorm,
}

impl InputProj {
    /// # Shapes
    /// - `x`: `[b, c, h, w]` → `[b, d, h', w']`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.norm.forward(crate::conv::conv2d(&self.conv, x))
    }
}

/// Outputs of [`DeformableDetr::forward`].
#[derive(Debug, Clone)]
pub struct DeformableDetrOutput {
    /// Class logits of the last decoder layer (sigmoid scores), `[b, q, classes]`.
    pub logits: Tensor<3>,
    /// Boxes of the last decoder layer, normalised `(cx, cy, w, h)`, `[b, q, 4]`.
    pub pred_boxes: Tensor<3>,
    /// `(logits, boxes)` of every decoder layer, the last one included (auxiliary outputs).
    pub aux_outputs: Vec<(Tensor<3>, Tensor<3>)>,
    /// Encoder memory, `[b, Σ h_l·w_l, d]`.
    pub encoder_output: Tensor<3>,
    /// Initial reference points of the decoder, `[b, q, 2]` (`[b, q, 4]` in two-stage mode).
    pub init_reference_points: Tensor<3>,
    /// Two-stage only: encoder class logits `[b, len, classes]` and box logits `[b, len, 4]`.
    pub enc_outputs: Option<(Tensor<3>, Tensor<3>)>,
    /// `[h, w]` of each encoder level (the layout of `encoder_output` and `enc_outputs`).
    pub spatial_shapes: Vec<[usize; 2]>,
}

/// Deformable DETR: backbone, input projections, deformable encoder/decoder, heads.
#[derive(Module, Debug)]
pub struct DeformableDetr {
    /// Convolutional backbone (HF `model.backbone.conv_encoder.model`).
    pub backbone: Backbone,
    /// Per-level projections to `d_model`.
    pub input_proj: Vec<InputProj>,
    /// Learned level embeddings, `[levels, d]`.
    pub level_embed: Param<Tensor<2>>,
    /// Query embeddings `[q, 2d]`: position half then content half (single stage only).
    pub query_position_embeddings: Option<Embedding>,
    /// Linear map from query position to initial reference point (single stage only).
    pub reference_points: Option<Linear>,
    /// Two-stage proposal layers (two-stage only).
    pub two_stage: Option<TwoStage>,
    /// Encoder.
    pub encoder: DeformableEncoder,
    /// Decoder.
    pub decoder: DeformableDecoder,
    /// Class head per decoder layer (plus one for the encoder in two-stage mode).
    pub class_embed: Vec<Linear>,
    /// Box MLP per decoder layer (plus one for the encoder in two-stage mode).
    pub bbox_embed: Vec<Mlp>,
    /// Sine position encoding (no parameters).
    pub position: PositionEmbeddingSine,
    /// Iterative box refinement on.
    pub with_box_refine: bool,
    /// Proposals kept in two-stage mode.
    pub two_stage_num_proposals: usize,
    /// Two-stage distinct-proposal IoU ([`crate::two_stage::distinct_top_k`]); `None`: plain
    /// top-k.
    pub two_stage_nms: Option<f64>,
    /// Two-stage distinct proposals by centre distance, input pixels
    /// ([`crate::two_stage::distinct_top_k_centre`]); exclusive with `two_stage_nms`.
    pub two_stage_nms_px: Option<f64>,
}

impl DeformableDetrConfig {
    /// Build the model with the references' initialisation.
    ///
    /// # Panics
    /// If [`DeformableDetrConfig::validate`] fails (e.g. `num_feature_levels` smaller than
    /// the backbone's levels, `d_model` not divisible by the head counts or
    /// `group_norm_groups`); the checkpoint loaders validate first and return errors.
    pub fn init(&self, device: &Device) -> DeformableDetr {
        let d = self.d_model;
        let channels = self.backbone.out_channels();
        assert!(
            self.num_feature_levels >= channels.len(),
            "num_feature_levels {} < backbone levels {}",
            self.num_feature_levels,
            channels.len()
        );
        let gn = || GroupNormConfig::new(self.group_norm_groups, d).init(device);
        let mut input_proj: Vec<InputProj> = channels
            .iter()
            .map(|&c| InputProj { conv: Conv2dConfig::new([c, d], [1, 1]).init(device), norm: gn() })
            .collect();
        let mut cin = *channels.last().expect("backbone returns at least one level");
        for _ in channels.len()..self.num_feature_levels {
            input_proj.push(InputProj {
                conv: Conv2dConfig::new([cin, d], [3, 3])
                    .with_stride([2, 2])
                    .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                    .init(device),
                norm: gn(),
            });
            cin = d;
        }
        let layer = |heads, points, ffn| {
            DeformableLayerConfig::new(d, heads, points, self.num_feature_levels, ffn)
                .with_dropout(self.dropout)
                .with_activation_dropout(self.activation_dropout)
                .with_attention_dropout(self.attention_dropout)
        };
        let enc = layer(self.encoder_attention_heads, self.encoder_n_points, self.encoder_ffn_dim);
        let dec = layer(self.decoder_attention_heads, self.decoder_n_points, self.decoder_ffn_dim);
        let num_pred = self.decoder_layers + usize::from(self.two_stage);
        let bbox = || {
            let mlp = MlpConfig::new(d, d, 4).init(device).zero_last();
            let last = mlp.layers.len() - 1;
            let mut mlp = mlp;
            // Boxes start small: bias of (w, h) logits at −2 (official initialisation).
            let bias = Tensor::<1>::from_data(TensorData::new(vec![0.0f32, 0.0, -2.0, -2.0], [4]), device);
            mlp.layers[last].bias = Some(Param::from_tensor(bias));
            mlp
        };
        DeformableDetr {
            backbone: self.backbone.init(device),
            input_proj,
            level_embed: Param::from_tensor(Tensor::random(
                [self.num_feature_levels, d],
                burn::tensor::Distribution::Normal(0.0, 1.0),
                device,
            )),
            query_position_embeddings: (!self.two_stage)
                .then(|| EmbeddingConfig::new(self.num_queries, 2 * d).init(device)),
            reference_points: (!self.two_stage).then(|| LinearConfig::new(d, 2).init(device)),
            two_stage: self.two_stage.then(|| TwoStage {
                enc_output: LinearConfig::new(d, d).init(device),
                enc_output_norm: LayerNormConfig::new(d).init(device),
                pos_trans: LinearConfig::new(2 * d, 2 * d).init(device),
                pos_trans_norm: LayerNormConfig::new(2 * d).init(device),
            }),
            encoder: DeformableEncoder {
                layers: (0..self.encoder_layers).map(|_| enc.init_encoder_layer(device)).collect(),
                dropout: DropoutConfig::new(self.dropout).init(),
            },
            decoder: DeformableDecoder {
                layers: (0..self.decoder_layers).map(|_| dec.init_decoder_layer(device)).collect(),
            },
            class_embed: (0..num_pred)
                .map(|_| class_head_with_prior(d, self.num_classes, self.prior_prob, device))
                .collect(),
            bbox_embed: (0..num_pred).map(|_| bbox()).collect(),
            position: PositionEmbeddingSineConfig::new(d / 2).with_offset(-0.5).init(),
            with_box_refine: self.with_box_refine || self.two_stage,
            two_stage_num_proposals: self.two_stage_num_proposals,
            two_stage_nms: self.two_stage_nms,
            two_stage_nms_px: self.two_stage_nms_px,
        }
    }
}

impl DeformableDetr {
    /// Detect objects in a batch of images.
    ///
    /// # Shapes
    /// - `pixel_values`: `[b, in_channels, h, w]` (unpadded; every pixel valid)
    /// - see [`DeformableDetrOutput`] for the outputs (`q` = queries or proposals)
    pub fn forward(&self, pixel_values: Tensor<4>) -> DeformableDetrOutput {
        self.forward_dn(pixel_values, None).0
    }

    /// [`DeformableDetr::forward`] with denoising queries (training, two-stage only): the
    /// outputs of the matching queries (identical to `forward`'s: the attention mask hides
    /// the denoising queries from them) and `(logits, boxes)` of the denoising queries
    /// after every decoder layer, `[b, groups·slots, classes]` and `[b, groups·slots, 4]`.
    ///
    /// # Panics
    /// With `dn` on a single-stage model (its queries have no box to embed a denoising
    /// query like; the training config refuses that combination).
    #[allow(clippy::type_complexity)]
    pub fn forward_dn(
        &self,
        pixel_values: Tensor<4>,
        dn: Option<&DnBatch>,
    ) -> (DeformableDetrOutput, Option<Vec<(Tensor<3>, Tensor<3>)>>) {
        let device = pixel_values.device();
        let [_, _, image_h, image_w] = pixel_values.dims();
        // one [b, c_l, h_l, w_l] per backbone level
        let features = self.backbone.forward(pixel_values);
        let mut sources: Vec<Tensor<4>> = Vec::new();
        for (l, proj) in self.input_proj.iter().enumerate() {
            let source = match features.get(l) {
                Some(f) => proj.forward(f.clone()),
                None if l == features.len() => proj.forward(features[l - 1].clone()),
                None => proj.forward(sources[l - 1].clone()),
            };
            sources.push(source);
        }
        let [b, d, _, _] = sources[0].dims();
        let mut spatial_shapes = Vec::new();
        let mut src_flatten = Vec::new();
        let mut pos_flatten = Vec::new();
        for (l, source) in sources.into_iter().enumerate() {
            let [_, _, h, w] = source.dims();
            spatial_shapes.push([h, w]);
            // [b, h·w, d]
            src_flatten.push(source.flatten::<3>(2, 3).swap_dims(1, 2));
            // [h·w, d]
            let level = self.level_embed.val().narrow(0, l, 1);
            let pos = self.position.forward(h, w, &device) + level;
            pos_flatten.push(pos.unsqueeze_dim::<3>(0).expand([b, h * w, d]));
        }
        // [b, len, d]
        let src = Tensor::cat(src_flatten, 1);
        let pos = Tensor::cat(pos_flatten, 1);
        // [b, len, d]
        let memory = self.encoder.forward(src, pos, &spatial_shapes);

        let (query_pos, tgt, reference, enc_outputs) =
            match (&self.two_stage, &self.query_position_embeddings, &self.reference_points) {
                (Some(ts), _, _) => {
                    let last = self.class_embed.len() - 1;
                    let p = ts.proposals(
                        memory.clone(),
                        &spatial_shapes,
                        &self.class_embed[last],
                        &self.bbox_embed[last],
                        self.two_stage_num_proposals,
                        match (self.two_stage_nms_px, self.two_stage_nms) {
                            (Some(min_px), _) => Some(Distinct::Centre { min_px, size: [image_h, image_w] }),
                            (None, iou) => iou.map(Distinct::Iou),
                        },
                    );
                    (p.query_pos, p.tgt, p.reference_points, Some(p.enc_outputs))
                }
                (None, Some(emb), Some(ref_lin)) => {
                    // [q, 2d]
                    let qe = emb.weight.val();
                    let [q, _] = qe.dims();
                    // [b, q, d] each: position half, content half
                    let query_pos = qe.clone().narrow(1, 0, d).unsqueeze_dim::<3>(0).expand([b, q, d]);
                    let tgt = qe.narrow(1, d, d).unsqueeze_dim::<3>(0).expand([b, q, d]);
                    // [b, q, 2]
                    let reference = sigmoid(ref_lin.forward(query_pos.clone()));
                    (query_pos, tgt, reference, None)
                }
                _ => panic!("single-stage Deformable DETR needs query embeddings and reference_points"),
            };
        let q = reference.dims()[1];
        let (query_pos, tgt, reference, mask) = match dn.filter(|dn| !dn.is_empty()) {
            Some(dn) => {
                let ts = self.two_stage.as_ref().expect("denoising queries need a two-stage model");
                let (dn_pos, dn_tgt) = ts.embed(inverse_sigmoid(dn.boxes.clone()));
                (
                    Tensor::cat(vec![query_pos, dn_pos], 1),
                    Tensor::cat(vec![tgt, dn_tgt], 1),
                    Tensor::cat(vec![reference, dn.boxes.clone()], 1),
                    Some(dn.attn_mask(q, &device)),
                )
            }
            None => (query_pos, tgt, reference, None),
        };
        let refine = self.with_box_refine.then_some(&self.bbox_embed[..]);
        let dec =
            self.decoder.forward(tgt, query_pos, reference.clone(), memory.clone(), &spatial_shapes, refine, mask);

        let mut aux_outputs = Vec::new();
        for (lvl, hs) in dec.hidden_states.iter().enumerate() {
            let r = if lvl == 0 { reference.clone() } else { dec.reference_points[lvl - 1].clone() };
            let r = inverse_sigmoid(r);
            // [b, q, classes]
            let logits = self.class_embed[lvl].forward(hs.clone());
            // [b, q, 4]
            let delta = self.bbox_embed[lvl].forward(hs.clone());
            let coord = if r.dims()[2] == 4 {
                delta + r
            } else {
                Tensor::cat(vec![delta.clone().narrow(2, 0, 2) + r, delta.narrow(2, 2, 2)], 2)
            };
            aux_outputs.push((logits, sigmoid(coord)));
        }
        let total = reference.dims()[1];
        let dn_outputs = (total > q).then(|| {
            aux_outputs
                .iter()
                .map(|(l, b)| (l.clone().narrow(1, q, total - q), b.clone().narrow(1, q, total - q)))
                .collect::<Vec<_>>()
        });
        if dn_outputs.is_some() {
            aux_outputs = aux_outputs.into_iter().map(|(l, b)| (l.narrow(1, 0, q), b.narrow(1, 0, q))).collect();
        }
        let (logits, pred_boxes) = aux_outputs.last().cloned().expect("at least one decoder layer");
        let out = DeformableDetrOutput {
            logits,
            pred_boxes,
            aux_outputs,
            encoder_output: memory,
            init_reference_points: reference.narrow(1, 0, q),
            enc_outputs,
            spatial_shapes,
        };
        (out, dn_outputs)
    }
}
