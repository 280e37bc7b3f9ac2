//! DETR (Carion et al. 2020) as HuggingFace `DetrForObjectDetection`.

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{DropoutConfig, Embedding, EmbeddingConfig, LayerNormConfig, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::sigmoid;

use crate::backbone::Backbone;
use crate::config::DetrConfig;
use crate::heads::{Mlp, MlpConfig};
use crate::position::{PositionEmbeddingSine, PositionEmbeddingSineConfig};
use crate::transformer::{Decoder, Encoder, TransformerLayerConfig};

/// Outputs of [`Detr::forward`].
#[derive(Debug, Clone)]
pub struct DetrOutput {
    /// Class logits with the no-object class last (softmax scores), `[b, q, classes + 1]`.
    pub logits: Tensor<3>,
    /// Boxes, normalised `(cx, cy, w, h)`, `[b, q, 4]`.
    pub pred_boxes: Tensor<3>,
    /// `(logits, boxes)` of every decoder layer, the last one included (with
    /// `auxiliary_loss`, the last is the model output, normalised once more than the
    /// intermediate state transformers returns for that layer).
    pub aux_outputs: Vec<(Tensor<3>, Tensor<3>)>,
    /// Encoder memory, `[b, h·w, d]`.
    pub encoder_output: Tensor<3>,
}

/// DETR: backbone, 1×1 projection, transformer, class and box heads.
#[derive(Module, Debug)]
pub struct Detr {
    /// Convolutional backbone (its last level is used).
    pub backbone: Backbone,
    /// 1×1 projection to `d_model` (HF `input_projection`).
    pub input_projection: Conv2d,
    /// Learned query positions, `[q, d]`.
    pub query_position_embeddings: Embedding,
    /// Encoder.
    pub encoder: Encoder,
    /// Decoder.
    pub decoder: Decoder,
    /// Class head, `classes + 1` outputs (HF `class_labels_classifier`).
    pub class_labels_classifier: Linear,
    /// Box MLP (HF `bbox_predictor`).
    pub bbox_predictor: Mlp,
    /// Sine position encoding (DETR variant: no −0.5 offset).
    pub position: PositionEmbeddingSine,
}

impl DetrConfig {
    /// Build the model.
    ///
    /// # Panics
    /// If [`DetrConfig::validate`] fails; the checkpoint loaders validate first and return
    /// errors.
    pub fn init(&self, device: &Device) -> Detr {
        let d = self.d_model;
        let c = *self.backbone.out_channels().last().expect("backbone returns a level");
        let layer = |heads, ffn| {
            TransformerLayerConfig::new(d, heads, ffn)
                .with_dropout(self.dropout)
                .with_activation_dropout(self.activation_dropout)
                .with_attention_dropout(self.attention_dropout)
        };
        let enc = layer(self.encoder_attention_heads, self.encoder_ffn_dim);
        let dec = layer(self.decoder_attention_heads, self.decoder_ffn_dim);
        Detr {
            backbone: self.backbone.init(device),
            input_projection: Conv2dConfig::new([c, d], [1, 1]).init(device),
            query_position_embeddings: EmbeddingConfig::new(self.num_queries, d).init(device),
            encoder: Encoder {
                layers: (0..self.encoder_layers).map(|_| enc.init_encoder_layer(device)).collect(),
                dropout: DropoutConfig::new(self.dropout).init(),
            },
            decoder: Decoder {
                layers: (0..self.decoder_layers).map(|_| dec.init_decoder_layer(device)).collect(),
                layernorm: LayerNormConfig::new(d).init(device),
                auxiliary_loss: self.auxiliary_loss,
            },
            class_labels_classifier: LinearConfig::new(d, self.num_classes + 1).init(device),
            bbox_predictor: MlpConfig::new(d, d, 4).init(device),
            position: PositionEmbeddingSineConfig::new(d / 2).with_offset(0.0).init(),
        }
    }
}

impl Detr {
    /// Detect objects in a batch of images.
    ///
    /// # Shapes
    /// - `pixel_values`: `[b, in_channels, h, w]` (unpadded)
    /// - see [`DetrOutput`]
    pub fn forward(&self, pixel_values: Tensor<4>) -> DetrOutput {
        let device = pixel_values.device();
        // [b, c, h, w] (last level)
        let feature = self.backbone.forward(pixel_values).pop().expect("backbone returns a level");
        // [b, d, h, w]
        let src = crate::conv::conv2d(&self.input_projection, feature);
        let [b, d, h, w] = src.dims();
        // [b, h·w, d]
        let src = src.flatten::<3>(2, 3).swap_dims(1, 2);
        let pos = self.position.forward(h, w, &device).unsqueeze_dim::<3>(0).expand([b, h * w, d]);
        // [b, h·w, d]
        let memory = self.encoder.forward(src, pos.clone());
        // [q, d]
        let qpos = self.query_position_embeddings.weight.val();
        let [q, _] = qpos.dims();
        // [b, q, d]
        let query_pos = qpos.unsqueeze_dim::<3>(0).expand([b, q, d]);
        let tgt = Tensor::zeros([b, q, d], &device);
        let hs = self.decoder.forward(tgt, query_pos, memory.clone(), pos);
        let aux_outputs: Vec<_> = hs
            .into_iter()
            .map(|h| {
                let logits = self.class_labels_classifier.forward(h.clone());
                let boxes = sigmoid(self.bbox_predictor.forward(h));
                (logits, boxes)
            })
            .collect();
        let (logits, pred_boxes) = aux_outputs.last().cloned().expect("at least one decoder layer");
        DetrOutput { logits, pred_boxes, aux_outputs, encoder_output: memory }
    }
}
