//! 1 × 1 convolutions as one batched matrix product (strided ones after a strided slice).
//!
//! burn-flex computes a convolution's weight gradient as another convolution (the batch as
//! channels, the output gradient as kernel); for a 1 × 1 kernel that is a long chain of
//! thin products. The same layer written as `W · X` (`[c_out, c_in] × [b, c_in, h·w]`)
//! gets its gradients from two full-size matrix products instead. Measured on this CPU
//! (forward + backward, batch 8, release): 256 → 64 channels at 64² 219 → 62 ms, 64 → 256
//! at 64² 174 → 113 ms, 512 → 128 at 32² 98 → 41 ms, 1024 → 256 at 16² 56 → 28 ms.
//!
//! A strided 1 × 1 convolution (ResNet's stride-2 `downsample`) is the same product on the
//! input sliced with that step; burn's weight gradient for it was the slowest of all
//! (`cargo bench -p ulm-detr --bench conv`: 256 → 512 at 64², batch 8, forward + backward
//! 372 → 85 ms before the AVX-512 kernels were enabled).

use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2d;
use burn::prelude::*;

/// Whether `conv` is pointwise: a 1 × 1 kernel (any stride), no padding, no dilation, one
/// group.
pub fn is_pointwise(conv: &Conv2d) -> bool {
    let no_padding = match conv.padding {
        PaddingConfig2d::Valid => true,
        PaddingConfig2d::Explicit(a, b, c, d) => [a, b, c, d] == [0; 4],
        _ => false,
    };
    conv.kernel_size == [1, 1] && conv.dilation == [1, 1] && conv.groups == 1 && no_padding
}

/// `conv.forward(x)` for a pointwise `conv` ([`is_pointwise`]) as one batched matrix
/// product. Same parameters, same result (to rounding), same gradients.
///
/// # Shapes
/// - `x`: `[b, c_in, h, w]` → `[b, c_out, ⌈h / s_h⌉, ⌈w / s_w⌉]`
pub(crate) fn conv2d(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    debug_assert!(is_pointwise(conv));
    let [sh, sw] = conv.stride;
    // A 1 × 1 kernel with stride s and no padding reads pixels 0, s, 2s, …: ⌈h / s⌉ of them.
    let x = if [sh, sw] == [1, 1] { x } else { x.slice(s![.., .., ..;sh as isize, ..;sw as isize]) };
    let [b, c_in, h, w] = x.dims();
    let [c_out, ..] = conv.weight.dims();
    // [1, c_out, c_in] × [b, c_in, h·w] → [b, c_out, h·w]
    let y = conv.weight.val().reshape([1, c_out, c_in]).matmul(x.reshape([b, c_in, h * w]));
    let y = match &conv.bias {
        Some(bias) => y + bias.val().reshape([1, c_out, 1]),
        None => y,
    };
    y.reshape([b, c_out, h, w])
}

#[cfg(test)]
mod tests {
    use burn::nn::conv::Conv2dConfig;
    use burn::tensor::Distribution;

    use super::*;

    fn max_diff(a: Tensor<4>, b: Tensor<4>) -> f32 {
        (a - b).abs().max().into_scalar::<f32>()
    }

    /// Outputs and every gradient (input, weight, bias) equal burn's convolution's, with and
    /// without bias, at stride 1, 2 and (2, 3) on odd sizes (the last row and column of a
    /// strided grid are read).
    #[test]
    fn equals_burns_convolution_forward_and_backward() {
        let device = Device::flex().autodiff();
        for (bias, stride, out_hw) in
            [(true, [1, 1], [7, 5]), (false, [1, 1], [7, 5]), (true, [2, 2], [4, 3]), (false, [2, 3], [4, 2])]
        {
            let conv = Conv2dConfig::new([6, 5], [1, 1]).with_bias(bias).with_stride(stride).init(&device);
            assert!(is_pointwise(&conv));
            let x = Tensor::<4>::random([3, 6, 7, 5], Distribution::Uniform(-1.0, 1.0), &device);
            assert_eq!(conv2d(&conv, x.clone()).dims(), [3, 5, out_hw[0], out_hw[1]]);
            let label = format!("bias {bias}, stride {stride:?}");
            super::super::tests::assert_matches_burn(&conv, x, &|x| conv2d(&conv, x), [1e-5, 1e-5, 1e-4], &label);
        }
    }

    /// Anything but an unpadded, undilated, ungrouped 1 × 1 convolution is not pointwise, and
    /// [`super::super::conv2d`] still gives burn's output for it.
    #[test]
    fn other_convolutions_are_not_pointwise() {
        let device = Device::flex();
        let x = Tensor::<4>::random([2, 4, 9, 8], Distribution::Uniform(-1.0, 1.0), &device);
        for cfg in [
            Conv2dConfig::new([4, 3], [3, 3]),
            Conv2dConfig::new([4, 3], [1, 1]).with_dilation([2, 2]),
            Conv2dConfig::new([4, 3], [1, 1]).with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1)),
            Conv2dConfig::new([4, 4], [1, 1]).with_groups(2),
        ] {
            let conv = cfg.init(&device);
            assert!(!is_pointwise(&conv));
            assert!(max_diff(super::super::conv2d(&conv, x.clone()), conv.forward(x.clone())) < 1e-5);
        }
    }
}
