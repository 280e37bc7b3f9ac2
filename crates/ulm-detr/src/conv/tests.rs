use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::tensor::Distribution;

use super::*;

fn max_diff<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> f32 {
    (a - b).abs().max().into_scalar::<f32>()
}

/// Output and every gradient (input, weight, bias) of [`conv2d`] equal burn's `Conv2d`'s on
/// autodiff, for the kernels the models use (3 × 3 at strides 1 and 2, the 7 × 7 stride-2
/// stem) and for odd ones (dilation, a rectangular kernel, padding wider than the kernel's
/// half, no padding).
#[test]
fn equals_burns_convolution_forward_and_backward() {
    let device = Device::flex().autodiff();
    let cases = [
        Conv2dConfig::new([3, 5], [3, 3]).with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1)),
        Conv2dConfig::new([3, 5], [3, 3]).with_stride([2, 2]).with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1)),
        Conv2dConfig::new([2, 4], [7, 7])
            .with_stride([2, 2])
            .with_padding(PaddingConfig2d::Explicit(3, 3, 3, 3))
            .with_bias(false),
        Conv2dConfig::new([3, 2], [3, 3]).with_dilation([2, 2]).with_padding(PaddingConfig2d::Explicit(2, 2, 2, 2)),
        Conv2dConfig::new([3, 4], [3, 2]).with_stride([2, 3]).with_padding(PaddingConfig2d::Explicit(2, 1, 2, 1)),
        Conv2dConfig::new([3, 4], [3, 3]),
    ];
    // The comparison below is only worth something if conv2d takes its own path here.
    assert!(has_im2col(&Tensor::<4>::zeros([1, 1, 2, 2], &device).into_dispatch().kind));
    assert!(has_im2col(&Tensor::<4>::zeros([1, 1, 2, 2], &Device::flex()).into_dispatch().kind));
    for (i, cfg) in cases.into_iter().enumerate() {
        let conv = cfg.init(&device);
        let x = Tensor::<4>::random([3, conv.weight.dims()[1], 11, 10], Distribution::Uniform(-1.0, 1.0), &device);
        assert_matches_burn(&conv, x, &|x| conv2d(&conv, x), [1e-5, 1e-4, 1e-3], &format!("case {i}"));
    }
}

/// Asserts that `ours` gives `conv.forward`'s output, and the same input, weight and bias
/// gradients under a loss whose output gradient differs at every position, within
/// `tolerance` (output, input gradient, weight and bias gradients).
pub(super) fn assert_matches_burn(
    conv: &Conv2d,
    x: Tensor<4>,
    ours: &dyn Fn(Tensor<4>) -> Tensor<4>,
    tolerance: [f32; 3],
    label: &str,
) {
    let x = x.require_grad();
    let device = x.device();
    let run = |f: &dyn Fn(Tensor<4>) -> Tensor<4>| {
        let y = f(x.clone());
        let target = Tensor::<4>::random(y.dims(), Distribution::Uniform(-1.0, 1.0), &device);
        let weights = Tensor::<4>::from_data(
            TensorData::new((0..y.dims().iter().product::<usize>()).map(|i| (i % 7) as f32 - 3.0).collect(), y.dims()),
            &device,
        );
        let grads = ((y.clone() - target) * weights).sum().backward();
        let gx = x.grad(&grads).unwrap();
        let gw = conv.weight.grad(&grads).unwrap();
        let gb = conv.bias.as_ref().map(|b| b.grad(&grads).unwrap());
        (y.inner(), gx, gw, gb)
    };
    let (y0, gx0, gw0, gb0) = run(&|x| conv.forward(x));
    let (y1, gx1, gw1, gb1) = run(ours);
    assert_eq!(y0.dims(), y1.dims(), "{label}");
    assert!(max_diff(Tensor::from_inner(y0), Tensor::from_inner(y1)) < tolerance[0], "{label}: output");
    assert!(max_diff(gx0, gx1) < tolerance[1], "{label}: input gradient");
    assert!(max_diff(gw0, gw1) < tolerance[2], "{label}: weight gradient");
    match (gb0, gb1) {
        (Some(a), Some(b)) => assert!(max_diff(a, b) < tolerance[2], "{label}: bias gradient"),
        (None, None) => {}
        _ => panic!("{label}: bias gradients differ in presence"),
    }
}

/// A frozen convolution (weight not tracked) still passes the input gradient on, and a
/// frozen input still gives the weight gradient: each side works without the other.
#[test]
fn one_side_tracked() {
    let device = Device::flex().autodiff();
    let config = Conv2dConfig::new([2, 3], [3, 3]).with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1));
    let x = Tensor::<4>::random([2, 2, 6, 5], Distribution::Uniform(-1.0, 1.0), &device);

    // (A clone shares its parameters' tracking flag, so each side gets its own layer.)
    let frozen = config.init(&device).no_grad();
    let xg = x.clone().require_grad();
    let want = xg.grad(&(frozen.forward(xg.clone()).powi_scalar(2)).sum().backward()).unwrap();
    let grads = conv2d(&frozen, xg.clone()).powi_scalar(2).sum().backward();
    assert!(max_diff(xg.grad(&grads).unwrap(), want) < 1e-4);
    assert!(frozen.weight.grad(&grads).is_none());

    let conv = config.init(&device);
    let want = conv.weight.grad(&conv.forward(x.clone()).powi_scalar(2).sum().backward()).unwrap();
    let grads = conv2d(&conv, x.clone()).powi_scalar(2).sum().backward();
    assert!(max_diff(conv.weight.grad(&grads).unwrap(), want) < 1e-3);
}

/// Without autodiff (inference) the output is burn's, and groups, asymmetric or `Same`
/// padding are left to burn's convolution with the same result.
#[test]
fn inference_and_fallbacks_equal_burns() {
    let device = Device::flex();
    let x = Tensor::<4>::random([2, 4, 9, 8], Distribution::Uniform(-1.0, 1.0), &device);
    for cfg in [
        Conv2dConfig::new([4, 6], [3, 3]).with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1)),
        Conv2dConfig::new([4, 6], [3, 3]).with_groups(2).with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1)),
        Conv2dConfig::new([4, 6], [3, 3]).with_padding(PaddingConfig2d::Explicit(0, 1, 2, 1)),
        Conv2dConfig::new([4, 6], [4, 4]).with_padding(PaddingConfig2d::Same),
    ] {
        let conv = cfg.init(&device);
        assert!(max_diff(conv2d(&conv, x.clone()), conv.forward(x.clone())) < 1e-5);
    }
}
