//! Convolutions with faster forward and gradients than burn-flex's default.
//!
//! burn-flex computes a convolution's weight gradient as another convolution (the batch as
//! channels, the output gradient as kernel), which turns into a long chain of thin matrix
//! products. [`conv2d`] replaces it where that is possible:
//! - 1 × 1 kernels (any stride) become one batched matrix product ([`pointwise`]);
//! - any other one-group convolution with symmetric padding runs its forward and its weight
//!   gradient as `im2col` + full-size matrix products (per image; the forward in tiles of
//!   output rows), and takes burn's input gradient ([`ConvBackend`], on Flex with or without
//!   autodiff).
//!
//! Anything else (groups, asymmetric or `Same` padding, other backends) is burn's
//! `Conv2d::forward`. `cargo bench -p ulm-detr --bench conv` compares both on the `paper`
//! preset's ResNet-50 shapes (forward + backward, batch 8, 2 threads): the 7 × 7 stem
//! 200 → 85 ms, 3 × 3 at 64² 104 → 50 ms, at 8² 65 → 50 ms, the stride-2 1 × 1 at 64²
//! 400 → 67 ms.

mod backend;
mod kernel;
pub mod pointwise;

use burn::backend::{Dispatch, DispatchTensorKind};
use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2d;
use burn::prelude::*;
use burn::tensor::ops::ConvOptions;

pub use backend::ConvBackend;
pub use pointwise::is_pointwise;

/// `conv.forward(x)` with the faster gradients described in the [module docs](self): the same
/// parameters, the same output (to rounding) and the same gradients.
///
/// # Shapes
/// - `x`: `[b, c_in, h, w]` → `[b, c_out, h', w']`
pub fn conv2d(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    if is_pointwise(conv) {
        return pointwise::conv2d(conv, x);
    }
    let [top, left, bottom, right] = match conv.padding {
        PaddingConfig2d::Valid => [0; 4],
        PaddingConfig2d::Explicit(top, left, bottom, right) => [top, left, bottom, right],
        // `Same` (possibly asymmetric): burn's own convolution.
        _ => return conv.forward(x),
    };
    if conv.groups != 1 || top != bottom || left != right {
        return conv.forward(x);
    }
    let x = x.into_dispatch();
    if !has_im2col(&x.kind) {
        return conv.forward(Tensor::from_dispatch(x));
    }
    let options = ConvOptions::new(conv.stride, [top, left], conv.dilation, 1);
    let y = Tensor::<4>::from_dispatch(<Dispatch as ConvBackend>::conv2d_im2col(
        x,
        conv.weight.val().into_dispatch(),
        options,
    ));
    match &conv.bias {
        Some(bias) => {
            let [c_out] = bias.dims();
            y + bias.val().reshape([1, c_out, 1, 1])
        }
        None => y,
    }
}

/// Whether the tensor lives on a backend implementing [`ConvBackend`] (Flex, possibly under
/// autodiff).
#[allow(unreachable_patterns)] // only Flex and Autodiff exist in the default build
fn has_im2col(kind: &DispatchTensorKind) -> bool {
    match kind {
        DispatchTensorKind::Flex(_) => true,
        DispatchTensorKind::Autodiff(inner) => has_im2col(inner),
        _ => false,
    }
}

#[cfg(test)]
mod tests;
