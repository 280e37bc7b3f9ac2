//! The `MSDeformAttn` module: projections around the sampling core, with the reference
//! initialisation (official `models/ops/modules/ms_deform_attn.py`, HuggingFace
//! `DeformableDetrMultiscaleDeformableAttention`).

use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::{Initializer, Linear, LinearConfig};
use burn::tensor::activation::softmax;
use burn::tensor::{Bool, Device, Tensor, TensorData};

use super::ms_deform_attn_core;

/// Configuration of [`MSDeformAttn`]; defaults are the paper's (`d_model` 256, 4 levels,
/// 8 heads, 4 points).
#[derive(Config, Debug)]
pub struct MSDeformAttnConfig {
    /// Hidden dimension; must be divisible by `n_heads`.
    #[config(default = 256)]
    pub d_model: usize,
    /// Number of feature levels.
    #[config(default = 4)]
    pub n_levels: usize,
    /// Number of attention heads.
    #[config(default = 8)]
    pub n_heads: usize,
    /// Number of sampling points per head and level.
    #[config(default = 4)]
    pub n_points: usize,
}

/// Multi-scale deformable attention (Zhu et al. 2021, eq. 3). Field names follow the reference
/// so weights map one to one.
#[derive(Module, Debug)]
pub struct MSDeformAttn {
    /// Query → sampling offsets, `n_heads · n_levels · n_points · 2` outputs.
    pub sampling_offsets: Linear,
    /// Query → attention logits, `n_heads · n_levels · n_points` outputs.
    pub attention_weights: Linear,
    /// Input features → values.
    pub value_proj: Linear,
    /// Sampled values → output.
    pub output_proj: Linear,
    /// Hidden dimension.
    pub d_model: usize,
    /// Number of feature levels.
    pub n_levels: usize,
    /// Number of attention heads.
    pub n_heads: usize,
    /// Number of sampling points per head and level.
    pub n_points: usize,
}

impl MSDeformAttnConfig {
    /// Builds the module with the reference initialisation: zero sampling-offset weights and a
    /// bias placing point `i` of head `h` at `(i + 1)·(cos θ_h, sin θ_h) / max(|cos θ_h|,
    /// |sin θ_h|)`, `θ_h = 2πh / n_heads`, for every level; zero attention weights and bias
    /// (uniform attention); xavier-uniform value and output projections with zero bias.
    ///
    /// # Panics
    /// If `d_model` is not divisible by `n_heads`.
    pub fn init(&self, device: &Device) -> MSDeformAttn {
        assert!(
            self.n_heads > 0 && self.d_model.is_multiple_of(self.n_heads),
            "d_model ({}) must be divisible by n_heads ({})",
            self.d_model,
            self.n_heads
        );
        let (heads, levels, points) = (self.n_heads, self.n_levels, self.n_points);
        let zeros = |d_out| LinearConfig::new(self.d_model, d_out).with_initializer(Initializer::Zeros).init(device);
        let xavier = || {
            let mut linear = LinearConfig::new(self.d_model, self.d_model)
                .with_initializer(Initializer::XavierUniform { gain: 1.0 })
                .init(device);
            linear.bias = Some(Param::from_tensor(Tensor::zeros([self.d_model], device)));
            linear
        };

        let mut sampling_offsets = zeros(heads * levels * points * 2);
        let bias = sampling_offset_bias(heads, levels, points);
        sampling_offsets.bias =
            Some(Param::from_tensor(Tensor::from_data(TensorData::new(bias, [heads * levels * points * 2]), device)));

        MSDeformAttn {
            sampling_offsets,
            attention_weights: zeros(heads * levels * points),
            value_proj: xavier(),
            output_proj: xavier(),
            d_model: self.d_model,
            n_levels: levels,
            n_heads: heads,
            n_points: points,
        }
    }
}

/// The reference's initial sampling-offset bias, laid out `[heads, levels, points, 2]`.
pub(crate) fn sampling_offset_bias(heads: usize, levels: usize, points: usize) -> Vec<f32> {
    let mut bias = Vec::with_capacity(heads * levels * points * 2);
    for h in 0..heads {
        // float32 like torch.arange(n_heads, dtype=float32) * (2π / n_heads)
        let theta = h as f32 * (2.0 * std::f32::consts::PI / heads as f32);
        let (x, y) = (theta.cos(), theta.sin());
        let norm = x.abs().max(y.abs());
        for _ in 0..levels {
            for i in 0..points {
                let scale = (i + 1) as f32;
                bias.push(x / norm * scale);
                bias.push(y / norm * scale);
            }
        }
    }
    bias
}

impl MSDeformAttn {
    /// Deformable attention of `query` over the flattened multi-scale features.
    ///
    /// `reference_points` are normalised to `[0, 1]`: either points `(x, y)`, where offsets are
    /// in pixels of each level, or boxes `(cx, cy, w, h)`, where offsets are scaled by
    /// `0.5·(w, h) / n_points`. Padded input positions (`true` in `input_padding_mask`) get zero
    /// value.
    ///
    /// # Shapes
    /// - `query`: `[b, len_q, d_model]`
    /// - `reference_points`: `[b, len_q, n_levels, 2 or 4]`
    /// - `input_flatten`: `[b, len_in, d_model]`, `len_in = Σ h_l·w_l`
    /// - `spatial_shapes[l] = [h_l, w_l]`
    /// - `input_padding_mask`: `[b, len_in]`
    /// - output: `[b, len_q, d_model]`
    ///
    /// # Panics
    /// If the shapes disagree.
    pub fn forward(
        &self,
        query: Tensor<3>,
        reference_points: Tensor<4>,
        input_flatten: Tensor<3>,
        spatial_shapes: &[[usize; 2]],
        input_padding_mask: Option<Tensor<2, Bool>>,
    ) -> Tensor<3> {
        let [b, len_q, _] = query.dims();
        let [_, len_in, _] = input_flatten.dims();
        let (heads, levels, points) = (self.n_heads, self.n_levels, self.n_points);
        let coords = reference_points.dims()[3];
        assert!(coords == 2 || coords == 4, "reference_points must have 2 or 4 coordinates, got {coords}");
        assert_eq!(spatial_shapes.len(), levels, "one spatial shape per level");
        let device = query.device();

        // [b, len_in, d_model]
        let mut value = self.value_proj.forward(input_flatten);
        if let Some(mask) = input_padding_mask {
            // [b, len_in, 1]
            let mask: Tensor<3, Bool> = mask.unsqueeze_dim(2);
            value = value.mask_fill(mask.expand([b, len_in, self.d_model]), 0.0);
        }
        // [b, len_in, heads, head_dim]
        let value = value.reshape([b, len_in, heads, self.d_model / heads]);
        // [b, len_q, heads, levels, points, 2]
        let offsets = self.sampling_offsets.forward(query.clone()).reshape([b, len_q, heads, levels, points, 2]);
        // [b, len_q, heads, levels * points]
        let weights = self.attention_weights.forward(query).reshape([b, len_q, heads, levels * points]);
        // [b, len_q, heads, levels, points]
        let weights = softmax(weights, 3).reshape([b, len_q, heads, levels, points]);

        let locations = if coords == 2 {
            // [1, 1, 1, levels, 1, 2] as (w_l, h_l)
            let normalizer: Vec<f32> = spatial_shapes.iter().flat_map(|&[h, w]| [w as f32, h as f32]).collect();
            let normalizer = Tensor::<6>::from_data(TensorData::new(normalizer, [1, 1, 1, levels, 1, 2]), &device);
            // [b, len_q, 1, levels, 1, 2]
            let reference: Tensor<6> = reference_points.reshape([b, len_q, 1, levels, 1, 2]);
            reference + offsets / normalizer
        } else {
            // [b, len_q, 1, levels, 1, 4]
            let reference: Tensor<6> = reference_points.reshape([b, len_q, 1, levels, 1, 4]);
            let centre = reference.clone().narrow(5, 0, 2);
            let size = reference.narrow(5, 2, 2);
            centre + offsets.div_scalar(points as f32) * size.mul_scalar(0.5)
        };
        // [b, len_q, heads * head_dim]
        let output = ms_deform_attn_core(value, spatial_shapes, locations, weights);
        // [b, len_q, d_model]
        self.output_proj.forward(output)
    }
}
