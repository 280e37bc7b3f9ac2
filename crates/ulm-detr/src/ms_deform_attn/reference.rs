//! Plain burn-ops version of the deformable sampling core: a line-by-line port of the
//! reference's `ms_deform_attn_core_pytorch`, built on [`Tensor::grid_sample_2d`]. It is slow
//! (one `grid_sample` per level plus large intermediates) and exists so that the fused kernel
//! in [`super::kernel`] has an independent implementation to be tested against.

use burn::tensor::Tensor;
use burn::tensor::ops::GridSampleOptions;

use super::check_core_shapes;

/// Multi-scale deformable sampling, exactly as the reference's `ms_deform_attn_core_pytorch`:
/// per level, bilinear `grid_sample` with zero padding and `align_corners = false`, then a
/// weighted sum over levels and points.
///
/// # Shapes
/// - `value`: `[b, len_in, heads, head_dim]`, `len_in = Σ h_l·w_l` (levels concatenated in order)
/// - `spatial_shapes[l] = [h_l, w_l]`
/// - `sampling_locations`: `[b, len_q, heads, levels, points, 2]`, `(x, y)` normalised to `[0, 1]`
/// - `attention_weights`: `[b, len_q, heads, levels, points]`
/// - output: `[b, len_q, heads * head_dim]`
///
/// # Panics
/// If the shapes disagree with each other or with `spatial_shapes`.
pub fn ms_deform_attn_core_reference(
    value: Tensor<4>,
    spatial_shapes: &[[usize; 2]],
    sampling_locations: Tensor<6>,
    attention_weights: Tensor<5>,
) -> Tensor<3> {
    let dims = check_core_shapes(&value.dims(), spatial_shapes, &sampling_locations.dims(), &attention_weights.dims());
    let (b, len_q, heads, head_dim) = (dims.batch, dims.len_q, dims.heads, dims.head_dim);
    let (levels, points) = (dims.levels, dims.points);

    let sizes: Vec<usize> = spatial_shapes.iter().map(|[h, w]| h * w).collect();
    let value_list = value.split_with_sizes(sizes, 1);
    // [b, len_q, heads, levels, points, 2] in [-1, 1]
    let sampling_grids = sampling_locations.mul_scalar(2.0).sub_scalar(1.0);

    let mut sampled = Vec::with_capacity(levels);
    for (lid, (value_l, &[h, w])) in value_list.into_iter().zip(spatial_shapes).enumerate() {
        // [b, h*w, heads, head_dim] -> [b, h*w, heads*head_dim] -> [b, heads*head_dim, h*w]
        // -> [b*heads, head_dim, h, w]
        let value_l: Tensor<3> = value_l.flatten(2, 3);
        let value_l = value_l.swap_dims(1, 2).reshape([b * heads, head_dim, h, w]);
        // [b, len_q, heads, 1, points, 2] -> [b, len_q, heads, points, 2]
        let grid_l: Tensor<5> = sampling_grids.clone().narrow(3, lid, 1).squeeze_dim::<5>(3);
        // [b, heads, len_q, points, 2] -> [b*heads, len_q, points, 2]
        let grid_l = grid_l.swap_dims(1, 2).reshape([b * heads, len_q, points, 2]);
        // [b*heads, head_dim, len_q, points]
        sampled.push(value_l.grid_sample_2d(grid_l, GridSampleOptions::default()));
    }
    // [b, len_q, heads, levels, points] -> [b, heads, len_q, levels, points]
    // -> [b*heads, 1, len_q, levels*points]
    let weights = attention_weights.swap_dims(1, 2).reshape([b * heads, 1, len_q, levels * points]);
    // [b*heads, head_dim, len_q, levels, points] -> [b*heads, head_dim, len_q, levels*points]
    let stacked: Tensor<5> = Tensor::stack(sampled, 3);
    let stacked: Tensor<4> = stacked.flatten(3, 4);
    // [b*heads, head_dim, len_q, 1] -> [b, heads*head_dim, len_q]
    let output = stacked.mul(weights).sum_dim(3).reshape([b, heads * head_dim, len_q]);
    // [b, len_q, heads*head_dim]
    output.swap_dims(1, 2)
}
