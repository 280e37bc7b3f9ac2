//! Forward + backward (autodiff, weight gradient read back) of one convolution, burn's
//! `Conv2d::forward` against [`ulm_detr::conv::conv2d`], on CPU (`flex`), batch 8, at the
//! `paper` preset's ResNet-50 shapes for a 256 × 256 input: the 7 × 7 stride-2 stem, 3 × 3
//! convolutions at strides 1 and 2, and the stride-2 1 × 1 `downsample` convolutions.
// criterion's macros generate undocumented functions.
#![allow(missing_docs)]

use std::time::Duration;

use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::tensor::{Device, Tensor, TensorData};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};

const BATCH: usize = 8;

fn uniform(seed: u64, n: usize) -> Vec<f32> {
    let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
    (0..n)
        .map(|_| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        })
        .collect()
}

fn step(conv: &Conv2d, x: &Tensor<4>, ours: bool) -> TensorData {
    let y = if ours { ulm_detr::conv::conv2d(conv, x.clone()) } else { conv.forward(x.clone()) };
    let grads = y.sum().backward();
    conv.weight.grad(&grads).expect("the weight is trained").into_data()
}

fn bench(c: &mut Criterion) {
    let device = Device::flex().autodiff();
    // (c_in, c_out, kernel, stride, padding, input side)
    let shapes = [
        (3, 64, 7, 2, 3, 256),
        (64, 64, 3, 1, 1, 64),
        (64, 128, 3, 2, 1, 64),
        (128, 128, 3, 1, 1, 32),
        (256, 256, 3, 1, 1, 16),
        (512, 512, 3, 1, 1, 8),
        (256, 512, 1, 2, 0, 64),
        (512, 1024, 1, 2, 0, 32),
        (1024, 2048, 1, 2, 0, 16),
    ];
    let mut group = c.benchmark_group("conv_fwd_bwd");
    group.sample_size(10).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3));
    for (c_in, c_out, k, s, p, side) in shapes {
        let conv = Conv2dConfig::new([c_in, c_out], [k, k])
            .with_stride([s, s])
            .with_padding(PaddingConfig2d::Explicit(p, p, p, p))
            .with_bias(false)
            .init(&device);
        let x = Tensor::<4>::from_data(
            TensorData::new(uniform(1, BATCH * c_in * side * side), [BATCH, c_in, side, side]),
            &device,
        )
        .require_grad();
        let name = format!("{c_in}-{c_out}-k{k}-s{s}-{side}px");
        for (label, ours) in [("burn", false), ("ulm", true)] {
            group.bench_function(BenchmarkId::new(label, &name), |b| b.iter(|| step(&conv, &x, ours)));
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
