//! Multi-scale deformable sampling core, fused kernel vs plain `grid_sample` reference, forward
//! and forward+backward (autodiff), on CPU (`flex`). Paper-like sizes: batch 1, 8 heads × 32
//! channels (d_model 256), levels 64², 32², 16², 8², 4 points; `decoder` has 300 queries,
//! `encoder` one query per input position (5440). Compare with
//! `python scripts/msda_fixtures.py --time` (PyTorch `ms_deform_attn_core_pytorch`, 2 threads).
// criterion's macros generate undocumented functions.
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use burn::tensor::{Device, Tensor, TensorData};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use ulm_detr::ms_deform_attn::{ms_deform_attn_core, ms_deform_attn_core_reference};

const SHAPES: [[usize; 2]; 4] = [[64, 64], [32, 32], [16, 16], [8, 8]];
const HEADS: usize = 8;
const HEAD_DIM: usize = 32;
const POINTS: usize = 4;

fn uniform(seed: u64, n: usize, lo: f32, hi: f32) -> Vec<f32> {
    let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
    (0..n)
        .map(|_| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            lo + (hi - lo) * ((state >> 40) as f32 / (1u64 << 24) as f32)
        })
        .collect()
}

/// Host data of one problem: value, sampling locations (10 % margin outside the maps), weights.
struct Inputs {
    len_q: usize,
    value: Vec<f32>,
    locations: Vec<f32>,
    weights: Vec<f32>,
}

impl Inputs {
    fn new(len_q: usize) -> Self {
        let len_in: usize = SHAPES.iter().map(|[h, w]| h * w).sum();
        let n_w = len_q * HEADS * SHAPES.len() * POINTS;
        Self {
            len_q,
            value: uniform(1, len_in * HEADS * HEAD_DIM, -1.0, 1.0),
            locations: uniform(2, 2 * n_w, -0.1, 1.1),
            weights: uniform(3, n_w, 0.0, 1.0),
        }
    }

    fn tensors(&self, device: &Device) -> (Tensor<4>, Tensor<6>, Tensor<5>) {
        let len_in = self.value.len() / (HEADS * HEAD_DIM);
        let (q, l, p) = (self.len_q, SHAPES.len(), POINTS);
        (
            Tensor::from_data(TensorData::new(self.value.clone(), [1, len_in, HEADS, HEAD_DIM]), device),
            Tensor::from_data(TensorData::new(self.locations.clone(), [1, q, HEADS, l, p, 2]), device),
            Tensor::from_data(TensorData::new(self.weights.clone(), [1, q, HEADS, l, p]), device),
        )
    }
}

type Core = fn(Tensor<4>, &[[usize; 2]], Tensor<6>, Tensor<5>) -> Tensor<3>;

fn bench(c: &mut Criterion) {
    let device = Device::flex();
    let autodiff = Device::flex().autodiff();
    let mut group = c.benchmark_group("ms_deform_attn");
    group.sample_size(10).measurement_time(Duration::from_secs(10));
    let cores: [(&str, Core); 2] = [("fused", ms_deform_attn_core), ("reference", ms_deform_attn_core_reference)];
    for (case, len_q) in [("decoder", 300), ("encoder", 5440)] {
        let inputs = Inputs::new(len_q);
        for (name, core) in cores {
            group.bench_function(BenchmarkId::new(format!("{name}_fwd"), case), |b| {
                let (v, l, w) = inputs.tensors(&device);
                b.iter(|| {
                    let out = core(black_box(v.clone()), &SHAPES, l.clone(), w.clone());
                    // Reading the result waits for the computation.
                    black_box(out.into_data())
                })
            });
            group.bench_function(BenchmarkId::new(format!("{name}_fwd_bwd"), case), |b| {
                let (v, l, w) = inputs.tensors(&autodiff);
                b.iter(|| {
                    let (v, l, w) = (v.clone().require_grad(), l.clone().require_grad(), w.clone().require_grad());
                    let mut grads = core(v.clone(), &SHAPES, l.clone(), w).sum().backward();
                    // Taken out of the container (as `GradientsParams::from_grads` does), so that
                    // reading them back needs no copy.
                    let gv = v.grad_remove(&mut grads).map(|g| g.into_data());
                    black_box((gv, l.grad_remove(&mut grads).map(|g| g.into_data())))
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
