//! Deformable DETR encoder and decoder (post-norm layers, HuggingFace names).

use burn::nn::{Dropout, DropoutConfig, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::{relu, sigmoid};

use crate::attention::{MultiHeadAttention, MultiHeadAttentionConfig};
use crate::heads::Mlp;
use crate::ms_deform_attn::{MSDeformAttn, MSDeformAttnConfig};

/// Configuration shared by the encoder and decoder layers.
#[derive(Config, Debug)]
pub struct DeformableLayerConfig {
    /// Model width.
    pub d_model: usize,
    /// Attention heads.
    pub n_heads: usize,
    /// Sampling points per head and level.
    pub n_points: usize,
    /// Feature levels.
    pub n_levels: usize,
    /// Hidden width of the feed-forward network.
    pub ffn_dim: usize,
    /// Dropout after attention and FFN. Default 0.1.
    #[config(default = 0.1)]
    pub dropout: f64,
    /// Dropout inside the FFN (after the activation). Default 0.
    #[config(default = 0.0)]
    pub activation_dropout: f64,
    /// Dropout on self-attention probabilities (decoder). Default 0.
    #[config(default = 0.0)]
    pub attention_dropout: f64,
}

impl DeformableLayerConfig {
    fn msda(&self, device: &Device) -> MSDeformAttn {
        MSDeformAttnConfig::new()
            .with_d_model(self.d_model)
            .with_n_levels(self.n_levels)
            .with_n_heads(self.n_heads)
            .with_n_points(self.n_points)
            .init(device)
    }

    fn ffn(&self, device: &Device) -> Ffn {
        Ffn::new(self.d_model, self.ffn_dim, self.dropout, self.activation_dropout, device)
    }

    /// Build an encoder layer.
    pub fn init_encoder_layer(&self, device: &Device) -> DeformableEncoderLayer {
        DeformableEncoderLayer {
            self_attn: self.msda(device),
            self_attn_layer_norm: LayerNormConfig::new(self.d_model).init(device),
            dropout: DropoutConfig::new(self.dropout).init(),
            ffn: self.ffn(device),
        }
    }

    /// Build a decoder layer.
    pub fn init_decoder_layer(&self, device: &Device) -> DeformableDecoderLayer {
        DeformableDecoderLayer {
            self_attn: MultiHeadAttentionConfig::new(self.d_model, self.n_heads)
                .with_dropout(self.attention_dropout)
                .init(device),
            self_attn_layer_norm: LayerNormConfig::new(self.d_model).init(device),
            encoder_attn: self.msda(device),
            encoder_attn_layer_norm: LayerNormConfig::new(self.d_model).init(device),
            dropout: DropoutConfig::new(self.dropout).init(),
            ffn: self.ffn(device),
        }
    }
}

/// Post-norm feed-forward block: `LN(x + drop(fc2(drop(relu(fc1(x))))))`.
#[derive(Module, Debug)]
pub struct Ffn {
    /// First linear layer.
    pub fc1: Linear,
    /// Second linear layer.
    pub fc2: Linear,
    /// Dropout after the activation.
    pub activation_dropout: Dropout,
    /// Dropout before the residual.
    pub dropout: Dropout,
    /// Layer norm after the residual.
    pub final_layer_norm: LayerNorm,
}

impl Ffn {
    /// A post-norm feed-forward block `d_model → ffn_dim → d_model` (shared by the DETR and
    /// Deformable DETR encoder and decoder layers).
    pub fn new(d_model: usize, ffn_dim: usize, dropout: f64, activation_dropout: f64, device: &Device) -> Self {
        Self {
            fc1: LinearConfig::new(d_model, ffn_dim).init(device),
            fc2: LinearConfig::new(ffn_dim, d_model).init(device),
            activation_dropout: DropoutConfig::new(activation_dropout).init(),
            dropout: DropoutConfig::new(dropout).init(),
            final_layer_norm: LayerNormConfig::new(d_model).init(device),
        }
    }

    /// # Shapes
    /// - `x`: `[b, n, d]` → `[b, n, d]`
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let h = self.activation_dropout.forward(relu(self.fc1.forward(x.clone())));
        let h = self.dropout.forward(self.fc2.forward(h));
        self.final_layer_norm.forward(x + h)
    }
}

/// Encoder layer: deformable self-attention over all levels, then FFN.
#[derive(Module, Debug)]
pub struct DeformableEncoderLayer {
    /// Multi-scale deformable self-attention.
    pub self_attn: MSDeformAttn,
    /// Norm after self-attention.
    pub self_attn_layer_norm: LayerNorm,
    /// Dropout after self-attention.
    pub dropout: Dropout,
    /// Feed-forward block (`fc1`, `fc2`, `final_layer_norm`).
    pub ffn: Ffn,
}

impl DeformableEncoderLayer {
    /// # Shapes
    /// - `src`, `pos`: `[b, len, d]`; `reference_points`: `[b, len, levels, 2]`
    /// - returns `[b, len, d]`
    pub fn forward(
        &self,
        src: Tensor<3>,
        pos: Tensor<3>,
        reference_points: Tensor<4>,
        spatial_shapes: &[[usize; 2]],
    ) -> Tensor<3> {
        let query = src.clone() + pos;
        // [b, len, d]
        let attn = self.self_attn.forward(query, reference_points, src.clone(), spatial_shapes, None);
        let x = self.self_attn_layer_norm.forward(src + self.dropout.forward(attn));
        self.ffn.forward(x)
    }
}

/// Decoder layer: self-attention among queries, deformable cross-attention, FFN.
#[derive(Module, Debug)]
pub struct DeformableDecoderLayer {
    /// Query self-attention.
    pub self_attn: MultiHeadAttention,
    /// Norm after self-attention.
    pub self_attn_layer_norm: LayerNorm,
    /// Deformable cross-attention into the encoder memory.
    pub encoder_attn: MSDeformAttn,
    /// Norm after cross-attention.
    pub encoder_attn_layer_norm: LayerNorm,
    /// Dropout after each attention.
    pub dropout: Dropout,
    /// Feed-forward block.
    pub ffn: Ffn,
}

impl DeformableDecoderLayer {
    /// # Shapes
    /// - `tgt`, `query_pos`: `[b, q, d]`; `reference_points`: `[b, q, levels, 2|4]`
    /// - `memory`: `[b, len, d]`; returns `[b, q, d]`
    /// - `self_attn_mask`: `[b, q, q]`, `true` where query `i` may not see query `j`
    pub fn forward(
        &self,
        tgt: Tensor<3>,
        query_pos: Tensor<3>,
        reference_points: Tensor<4>,
        memory: Tensor<3>,
        spatial_shapes: &[[usize; 2]],
        self_attn_mask: Option<Tensor<3, Bool>>,
    ) -> Tensor<3> {
        let qk = tgt.clone() + query_pos.clone();
        // [b, q, d]
        let attn = self.self_attn.forward_masked(qk.clone(), qk, tgt.clone(), self_attn_mask);
        let x = self.self_attn_layer_norm.forward(tgt + self.dropout.forward(attn));
        let query = x.clone() + query_pos;
        // [b, q, d]
        let cross = self.encoder_attn.forward(query, reference_points, memory, spatial_shapes, None);
        let x = self.encoder_attn_layer_norm.forward(x + self.dropout.forward(cross));
        self.ffn.forward(x)
    }
}

/// Stack of encoder layers.
#[derive(Module, Debug)]
pub struct DeformableEncoder {
    /// The layers.
    pub layers: Vec<DeformableEncoderLayer>,
    /// Dropout on the encoder input (as in HuggingFace).
    pub dropout: Dropout,
}

/// Reference points of the encoder: the centre of every cell of every level, normalised
/// to `[0, 1]` and repeated for each level (inputs are unpadded, valid ratios 1).
///
/// # Shapes
/// - returns `[b, Σ h_l·w_l, levels, 2]` as `(x, y)`
pub fn encoder_reference_points(spatial_shapes: &[[usize; 2]], batch: usize, device: &Device) -> Tensor<4> {
    let levels = spatial_shapes.len();
    let len: usize = spatial_shapes.iter().map(|[h, w]| h * w).sum();
    let mut v = Vec::with_capacity(len * levels * 2);
    for &[h, w] in spatial_shapes {
        for i in 0..h {
            for j in 0..w {
                let (x, y) = ((j as f32 + 0.5) / w as f32, (i as f32 + 0.5) / h as f32);
                for _ in 0..levels {
                    v.push(x);
                    v.push(y);
                }
            }
        }
    }
    let t = Tensor::<4>::from_data(TensorData::new(v, [1, len, levels, 2]), device);
    t.expand([batch, len, levels, 2])
}

impl DeformableEncoder {
    /// # Shapes
    /// - `src`, `pos`: `[b, len, d]`, `len = Σ h_l·w_l`; returns `[b, len, d]`
    pub fn forward(&self, src: Tensor<3>, pos: Tensor<3>, spatial_shapes: &[[usize; 2]]) -> Tensor<3> {
        let [b, _, _] = src.dims();
        let reference_points = encoder_reference_points(spatial_shapes, b, &src.device());
        let mut x = self.dropout.forward(src);
        for layer in &self.layers {
            x = layer.forward(x, pos.clone(), reference_points.clone(), spatial_shapes);
        }
        x
    }
}

/// Stack of decoder layers.
#[derive(Module, Debug)]
pub struct DeformableDecoder {
    /// The layers.
    pub layers: Vec<DeformableDecoderLayer>,
}

/// Outputs of every decoder layer.
#[derive(Debug, Clone)]
pub struct DecoderOutput {
    /// Hidden state after each layer, `[b, q, d]` each.
    pub hidden_states: Vec<Tensor<3>>,
    /// Reference points after each layer (refined when box refinement is on, else the
    /// initial ones), `[b, q, 2|4]` each.
    pub reference_points: Vec<Tensor<3>>,
}

/// `log(x / (1 − x))` with `x` clamped to `[eps, 1 − eps]` as in the references.
pub fn inverse_sigmoid<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    let eps = 1e-5;
    let x = x.clamp(0.0, 1.0);
    let x1 = x.clone().clamp_min(eps);
    let x2 = x.neg().add_scalar(1.0).clamp_min(eps);
    (x1 / x2).log()
}

impl DeformableDecoder {
    /// Run the layers. With `bbox_embed` (iterative box refinement) each layer's box head
    /// refines the reference points fed to the next layer (gradient stopped, as in the
    /// references).
    ///
    /// # Shapes
    /// - `tgt`, `query_pos`: `[b, q, d]`; `reference_points`: `[b, q, 2|4]` in `[0, 1]`
    /// - `memory`: `[b, len, d]`
    /// - `self_attn_mask`: `[b, q, q]`, `true` where query `i` may not see query `j`
    ///   (denoising groups); `None` lets every query see every other
    #[allow(clippy::too_many_arguments)]
    pub fn forward(
        &self,
        tgt: Tensor<3>,
        query_pos: Tensor<3>,
        reference_points: Tensor<3>,
        memory: Tensor<3>,
        spatial_shapes: &[[usize; 2]],
        bbox_embed: Option<&[Mlp]>,
        self_attn_mask: Option<Tensor<3, Bool>>,
    ) -> DecoderOutput {
        let levels = spatial_shapes.len();
        let [b, q, _] = reference_points.dims();
        let mut reference = reference_points;
        let mut x = tgt;
        let mut out = DecoderOutput { hidden_states: Vec::new(), reference_points: Vec::new() };
        for (idx, layer) in self.layers.iter().enumerate() {
            let c = reference.dims()[2];
            // [b, q, levels, c] (valid ratios are 1)
            let reference_input = reference.clone().unsqueeze_dim::<4>(2).expand([b, q, levels, c]);
            x = layer.forward(
                x,
                query_pos.clone(),
                reference_input,
                memory.clone(),
                spatial_shapes,
                self_attn_mask.clone(),
            );
            if let Some(heads) = bbox_embed {
                // [b, q, 4]
                let delta = heads[idx].forward(x.clone());
                let refined = if c == 4 {
                    delta + inverse_sigmoid(reference.clone())
                } else {
                    let xy = delta.clone().narrow(2, 0, 2) + inverse_sigmoid(reference.clone());
                    Tensor::cat(vec![xy, delta.narrow(2, 2, 2)], 2)
                };
                reference = sigmoid(refined).detach();
            }
            out.hidden_states.push(x.clone());
            out.reference_points.push(reference.clone());
        }
        out
    }
}
