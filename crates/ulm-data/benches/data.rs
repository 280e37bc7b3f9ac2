//! Data throughput: the randomised source (fresh acquisitions, 256² patches) and
//! augmentation of one 256² patch.

#![allow(missing_docs)] // criterion_group! generates undocumented items

use criterion::{Criterion, criterion_group, criterion_main};
use ulm_data::{AugmentConfig, RandomizedConfig, RandomizedSource, SampleSource, augment};

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("data");
    g.sample_size(10);
    let cfg = RandomizedConfig { samples: 1 << 20, cache_acquisitions: 1, ..RandomizedConfig::default() };
    let src = RandomizedSource::new(cfg.clone()).unwrap();
    let mut acq = 0usize;
    // One acquisition = `k` samples: divide the time by k for samples/s.
    g.bench_function("randomized/acquisition_16x256", |b| {
        b.iter(|| {
            acq += 1;
            src.acquisition(acq).unwrap()
        })
    });
    let s = src.sample(0, None);
    let a = AugmentConfig::default();
    let mut seed = 0u64;
    g.bench_function("augment/default_256", |b| {
        b.iter(|| {
            seed += 1;
            augment(&s, &a, seed)
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
