//! Forward time of the `tiny` and `paper` DE-DETR presets on a 1×1×256×256 image (CPU,
//! `flex`). Compare with `python scripts/hf_fixtures.py --time` (PyTorch, 2 threads).
// criterion's macros generate undocumented functions.
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use burn::prelude::*;
use criterion::{Criterion, criterion_group, criterion_main};
use ulm_detr::DeformableDetrConfig;

fn forward(c: &mut Criterion) {
    let device = Device::default();
    let mut group = c.benchmark_group("detr");
    group.sample_size(10).measurement_time(Duration::from_secs(20));
    for (name, config) in
        [("forward_tiny", DeformableDetrConfig::tiny()), ("forward_paper", DeformableDetrConfig::paper())]
    {
        let model = config.init(&device);
        let image = Tensor::<4>::random([1, 1, 256, 256], burn::tensor::Distribution::Uniform(0.0, 1.0), &device);
        group.bench_function(name, |b| {
            b.iter(|| {
                let out = model.forward(black_box(image.clone()));
                // Reading the result waits for the computation.
                black_box(out.pred_boxes.into_data())
            })
        });
    }
    group.finish();
}

criterion_group!(benches, forward);
criterion_main!(benches);
