//! Multi-scale deformable attention (Deformable DETR), in three layers like the official
//! `models/ops` code:
//!
//! - [`MSDeformAttn`]: the projections (`value_proj`, `sampling_offsets`,
//!   `attention_weights`, `output_proj`) with the reference initialisation;
//! - [`ms_deform_attn_core`]: the sampling core, a fused CPU kernel with a hand-written backward
//!   (the counterpart of the official CUDA op) behind a burn backend extension ([`MsdaBackend`]);
//! - [`ms_deform_attn_core_reference`]: the plain `grid_sample` version the fused kernel is
//!   tested against, a port of the reference's `ms_deform_attn_core_pytorch`.

mod attention;
mod backend;
mod kernel;
mod reference;

pub use attention::{MSDeformAttn, MSDeformAttnConfig};
pub use backend::MsdaBackend;
pub use reference::ms_deform_attn_core_reference;

use burn::backend::{Dispatch, DispatchTensorKind};
use burn::tensor::Tensor;

/// Sizes shared by the sampling-core inputs, validated by [`check_core_shapes`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CoreDims {
    pub batch: usize,
    pub len_in: usize,
    pub heads: usize,
    pub head_dim: usize,
    pub len_q: usize,
    pub levels: usize,
    pub points: usize,
}

/// Checks that the sampling-core inputs agree; panics with a message naming the mismatch
/// (shapes are programmer errors here, not user input).
pub(crate) fn check_core_shapes(
    value: &[usize; 4],
    spatial_shapes: &[[usize; 2]],
    locations: &[usize; 6],
    weights: &[usize; 5],
) -> CoreDims {
    let [batch, len_in, heads, head_dim] = *value;
    let [lb, len_q, lh, levels, points, two] = *locations;
    assert_eq!(two, 2, "sampling_locations must end in (x, y), got {locations:?}");
    assert_eq!([lb, lh], [batch, heads], "sampling_locations {locations:?} disagrees with value {value:?}");
    assert_eq!(
        *weights,
        [batch, len_q, heads, levels, points],
        "attention_weights {weights:?} disagrees with sampling_locations {locations:?}"
    );
    assert_eq!(spatial_shapes.len(), levels, "{} spatial shapes for {levels} levels", spatial_shapes.len());
    let total: usize = spatial_shapes.iter().map(|[h, w]| h * w).sum();
    assert_eq!(total, len_in, "spatial shapes {spatial_shapes:?} cover {total} positions, value has {len_in}");
    CoreDims { batch, len_in, heads, head_dim, len_q, levels, points }
}

/// The sampling core, with the semantics of the reference's
/// `ms_deform_attn_core_pytorch(value, value_spatial_shapes, sampling_locations,
/// attention_weights)`: bilinear sampling with zero padding and `align_corners = false`
/// (pixel = loc·size − 0.5), weighted by `attention_weights` and summed over levels and points.
///
/// # Shapes
/// - `value`: `[b, len_in, heads, head_dim]`, `len_in = Σ h_l·w_l` (levels concatenated in order)
/// - `spatial_shapes[l] = [h_l, w_l]`
/// - `sampling_locations`: `[b, len_q, heads, levels, points, 2]`, `(x, y)` normalised to `[0, 1]`
/// - `attention_weights`: `[b, len_q, heads, levels, points]`
/// - output: `[b, len_q, heads * head_dim]`
///
/// On burn's Flex CPU backend (with or without autodiff) this runs the fused kernel with its
/// hand-written backward; on other backends (the opt-in GPU features) it runs
/// [`ms_deform_attn_core_reference`], built from burn ops.
///
/// # Panics
/// If the shapes disagree with each other or with `spatial_shapes`.
pub fn ms_deform_attn_core(
    value: Tensor<4>,
    spatial_shapes: &[[usize; 2]],
    sampling_locations: Tensor<6>,
    attention_weights: Tensor<5>,
) -> Tensor<3> {
    let dims = check_core_shapes(&value.dims(), spatial_shapes, &sampling_locations.dims(), &attention_weights.dims());
    let value = value.into_dispatch();
    if !has_fused_op(&value.kind) {
        // GPU backends (opt-in features) have no fused kernel: plain burn ops there.
        return ms_deform_attn_core_reference(
            Tensor::from_dispatch(value),
            spatial_shapes,
            sampling_locations,
            attention_weights,
        );
    }
    // [b, len_q, heads, head_dim]
    let output = <Dispatch as MsdaBackend>::ms_deform_attn_fused(
        value,
        spatial_shapes.to_vec(),
        sampling_locations.into_dispatch(),
        attention_weights.into_dispatch(),
    );
    // [b, len_q, heads * head_dim]
    Tensor::<4>::from_dispatch(output).reshape([dims.batch, dims.len_q, dims.heads * dims.head_dim])
}

/// Whether the tensor lives on a backend implementing [`MsdaBackend`] (Flex, possibly under
/// autodiff).
#[allow(unreachable_patterns)] // only Flex and Autodiff exist in the default build
fn has_fused_op(kind: &DispatchTensorKind) -> bool {
    match kind {
        DispatchTensorKind::Flex(_) => true,
        DispatchTensorKind::Autodiff(inner) => has_fused_op(inner),
        _ => false,
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_fixtures;
