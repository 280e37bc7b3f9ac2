//! Multi-head attention with position embeddings added to queries and keys (DETR).

use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::softmax;

/// Configuration of a [`MultiHeadAttention`].
#[derive(Config, Debug)]
pub struct MultiHeadAttentionConfig {
    /// Model width.
    pub d_model: usize,
    /// Number of heads (must divide `d_model`).
    pub n_heads: usize,
    /// Dropout on the attention probabilities. Default 0.
    #[config(default = 0.0)]
    pub dropout: f64,
}

impl MultiHeadAttentionConfig {
    /// Build the module.
    pub fn init(&self, device: &Device) -> MultiHeadAttention {
        assert!(
            self.d_model.is_multiple_of(self.n_heads),
            "d_model {} must be divisible by n_heads {}",
            self.d_model,
            self.n_heads
        );
        let lin = || LinearConfig::new(self.d_model, self.d_model).init(device);
        MultiHeadAttention {
            q_proj: lin(),
            k_proj: lin(),
            v_proj: lin(),
            out_proj: lin(),
            dropout: DropoutConfig::new(self.dropout).init(),
            n_heads: self.n_heads,
        }
    }
}

/// Scaled dot-product attention over `n_heads` heads (HuggingFace `DetrAttention` names).
#[derive(Module, Debug)]
pub struct MultiHeadAttention {
    /// Query projection.
    pub q_proj: Linear,
    /// Key projection.
    pub k_proj: Linear,
    /// Value projection.
    pub v_proj: Linear,
    /// Output projection.
    pub out_proj: Linear,
    /// Dropout on attention probabilities.
    pub dropout: Dropout,
    /// Number of heads.
    pub n_heads: usize,
}

impl MultiHeadAttention {
    /// Attention of `query` over `key`/`value`. Position embeddings are added by the
    /// caller to `query` and `key` (not to `value`), as in the references.
    ///
    /// `key_padding_mask` is `true` where a key is padding (ignored).
    ///
    /// # Shapes
    /// - `query`: `[b, t_q, d]`, `key` and `value`: `[b, t_k, d]`
    /// - `key_padding_mask`: `[b, t_k]`
    /// - returns `[b, t_q, d]`
    pub fn forward(
        &self,
        query: Tensor<3>,
        key: Tensor<3>,
        value: Tensor<3>,
        key_padding_mask: Option<Tensor<2, Bool>>,
    ) -> Tensor<3> {
        let mask = key_padding_mask.map(|m| {
            let [b, tk] = m.dims();
            let tq = query.dims()[1];
            m.reshape([b, 1, tk]).expand([b, tq, tk])
        });
        self.forward_masked(query, key, value, mask)
    }

    /// [`MultiHeadAttention::forward`] with a full attention mask, `true` where query `i`
    /// may not attend to key `j` (the denoising groups of DN-DETR). Every query must keep
    /// at least one key.
    ///
    /// # Shapes
    /// - `attn_mask`: `[b, t_q, t_k]`
    pub fn forward_masked(
        &self,
        query: Tensor<3>,
        key: Tensor<3>,
        value: Tensor<3>,
        attn_mask: Option<Tensor<3, Bool>>,
    ) -> Tensor<3> {
        let [b, tq, d] = query.dims();
        let [_, tk, _] = key.dims();
        let h = self.n_heads;
        let hd = d / h;
        let scaling = (hd as f64).powf(-0.5);
        // [b, h, t_q, hd]
        let q = (self.q_proj.forward(query) * scaling).reshape([b, tq, h, hd]).swap_dims(1, 2);
        // [b, h, hd, t_k]
        let k = self.k_proj.forward(key).reshape([b, tk, h, hd]).permute([0, 2, 3, 1]);
        // [b, h, t_k, hd]
        let v = self.v_proj.forward(value).reshape([b, tk, h, hd]).swap_dims(1, 2);
        // [b, h, t_q, t_k]
        let scores = q.matmul(k);
        let scores = match attn_mask {
            Some(mask) => {
                // [b, 1, t_q, t_k]
                let mask = mask.reshape([b, 1, tq, tk]).expand([b, h, tq, tk]);
                scores.mask_fill(mask, f32::NEG_INFINITY)
            }
            None => scores,
        };
        let probs = self.dropout.forward(softmax(scores, 3));
        // [b, h, t_q, hd]
        let out = probs.matmul(v);
        // [b, t_q, d]
        let out = out.swap_dims(1, 2).reshape([b, tq, d]);
        self.out_proj.forward(out)
    }
}
