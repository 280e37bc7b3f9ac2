//! DETR's transformer: post-norm encoder and decoder with full multi-head attention.

use burn::nn::{Dropout, DropoutConfig, LayerNorm, LayerNormConfig};
use burn::prelude::*;

use crate::attention::{MultiHeadAttention, MultiHeadAttentionConfig};
use crate::deformable_transformer::Ffn;

/// Configuration of DETR encoder/decoder layers.
#[derive(Config, Debug)]
pub struct TransformerLayerConfig {
    /// Model width.
    pub d_model: usize,
    /// Attention heads.
    pub n_heads: usize,
    /// FFN width.
    pub ffn_dim: usize,
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

impl TransformerLayerConfig {
    fn mha(&self, device: &Device) -> MultiHeadAttention {
        MultiHeadAttentionConfig::new(self.d_model, self.n_heads).with_dropout(self.attention_dropout).init(device)
    }

    fn ffn(&self, device: &Device) -> Ffn {
        Ffn::new(self.d_model, self.ffn_dim, self.dropout, self.activation_dropout, device)
    }

    /// Build an encoder layer.
    pub fn init_encoder_layer(&self, device: &Device) -> EncoderLayer {
        EncoderLayer {
            self_attn: self.mha(device),
            self_attn_layer_norm: LayerNormConfig::new(self.d_model).init(device),
            dropout: DropoutConfig::new(self.dropout).init(),
            ffn: self.ffn(device),
        }
    }

    /// Build a decoder layer.
    pub fn init_decoder_layer(&self, device: &Device) -> DecoderLayer {
        DecoderLayer {
            self_attn: self.mha(device),
            self_attn_layer_norm: LayerNormConfig::new(self.d_model).init(device),
            encoder_attn: self.mha(device),
            encoder_attn_layer_norm: LayerNormConfig::new(self.d_model).init(device),
            dropout: DropoutConfig::new(self.dropout).init(),
            ffn: self.ffn(device),
        }
    }
}

/// Encoder layer: self-attention (position added to queries and keys), then FFN.
#[derive(Module, Debug)]
pub struct EncoderLayer {
    /// Self-attention.
    pub self_attn: MultiHeadAttention,
    /// Norm after self-attention.
    pub self_attn_layer_norm: LayerNorm,
    /// Dropout after self-attention.
    pub dropout: Dropout,
    /// Feed-forward block.
    pub ffn: Ffn,
}

impl EncoderLayer {
    /// # Shapes
    /// - `src`, `pos`: `[b, n, d]` → `[b, n, d]`
    pub fn forward(&self, src: Tensor<3>, pos: Tensor<3>) -> Tensor<3> {
        let qk = src.clone() + pos;
        let attn = self.self_attn.forward(qk.clone(), qk, src.clone(), None);
        let x = self.self_attn_layer_norm.forward(src + self.dropout.forward(attn));
        self.ffn.forward(x)
    }
}

/// Decoder layer: query self-attention, cross-attention into the memory, FFN.
#[derive(Module, Debug)]
pub struct DecoderLayer {
    /// Query self-attention.
    pub self_attn: MultiHeadAttention,
    /// Norm after self-attention.
    pub self_attn_layer_norm: LayerNorm,
    /// Cross-attention.
    pub encoder_attn: MultiHeadAttention,
    /// Norm after cross-attention.
    pub encoder_attn_layer_norm: LayerNorm,
    /// Dropout after each attention.
    pub dropout: Dropout,
    /// Feed-forward block.
    pub ffn: Ffn,
}

impl DecoderLayer {
    /// # Shapes
    /// - `tgt`, `query_pos`: `[b, q, d]`; `memory`, `pos`: `[b, n, d]`; returns `[b, q, d]`
    pub fn forward(&self, tgt: Tensor<3>, query_pos: Tensor<3>, memory: Tensor<3>, pos: Tensor<3>) -> Tensor<3> {
        let qk = tgt.clone() + query_pos.clone();
        let attn = self.self_attn.forward(qk.clone(), qk, tgt.clone(), None);
        let x = self.self_attn_layer_norm.forward(tgt + self.dropout.forward(attn));
        let cross = self.encoder_attn.forward(x.clone() + query_pos, memory.clone() + pos, memory, None);
        let x = self.encoder_attn_layer_norm.forward(x + self.dropout.forward(cross));
        self.ffn.forward(x)
    }
}

/// DETR encoder.
#[derive(Module, Debug)]
pub struct Encoder {
    /// The layers.
    pub layers: Vec<EncoderLayer>,
    /// Dropout on the encoder input (as in HuggingFace).
    pub dropout: Dropout,
}

impl Encoder {
    /// # Shapes
    /// - `src`, `pos`: `[b, n, d]` → `[b, n, d]`
    pub fn forward(&self, src: Tensor<3>, pos: Tensor<3>) -> Tensor<3> {
        let mut x = self.dropout.forward(src);
        for layer in &self.layers {
            x = layer.forward(x, pos.clone());
        }
        x
    }
}

/// DETR decoder with a final layer norm.
#[derive(Module, Debug)]
pub struct Decoder {
    /// The layers.
    pub layers: Vec<DecoderLayer>,
    /// Norm applied to every layer's output for the heads.
    pub layernorm: LayerNorm,
    /// HuggingFace `auxiliary_loss`: the normalised output of each layer feeds the next.
    pub auxiliary_loss: bool,
}

impl Decoder {
    /// Returns the normalised output of every layer (the last one is the model output).
    ///
    /// Without `auxiliary_loss`, as the original DETR (`return_intermediate`): the
    /// un-normalised state feeds the next layer. With it, as transformers' `DetrDecoder`:
    /// `x ← LN(layer(x))` feeds the next layer and is the layer's output, and the model
    /// output is `LN` of the last one once more.
    ///
    /// # Shapes
    /// - `tgt`, `query_pos`: `[b, q, d]`; `memory`, `pos`: `[b, n, d]`
    /// - returns `decoder_layers` tensors `[b, q, d]`
    pub fn forward(&self, tgt: Tensor<3>, query_pos: Tensor<3>, memory: Tensor<3>, pos: Tensor<3>) -> Vec<Tensor<3>> {
        let mut x = tgt;
        let mut out = Vec::with_capacity(self.layers.len());
        for layer in &self.layers {
            x = layer.forward(x, query_pos.clone(), memory.clone(), pos.clone());
            if self.auxiliary_loss {
                x = self.layernorm.forward(x);
                out.push(x.clone());
            } else {
                out.push(self.layernorm.forward(x.clone()));
            }
        }
        if self.auxiliary_loss
            && let Some(last) = out.pop()
        {
            out.push(self.layernorm.forward(last));
        }
        out
    }
}
