#![allow(missing_docs)] // criterion_group! generates undocumented items
//! SVD clutter filter on 1000 × 128 × 128 complex frames (the simulator's `tissue` preset
//! at 128 × 128), one block; and the temporal band-pass on the same stack.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ulm_clutter::{BandPassConfig, Cutoff, bandpass, svd_filter_block};
use ulm_core::{FrameData, NoProgress};
use ulm_sim::{Preset, SimConfig, simulate};

fn bench(c: &mut Criterion) {
    let n = 1000;
    let sim = simulate(&SimConfig::small(Preset::Tissue, 128, 128), n, 3, &NoProgress).unwrap();
    let FrameData::Complex(iq) = sim.iq.into_data() else { unreachable!() };
    let mut g = c.benchmark_group("clutter");
    g.throughput(Throughput::Elements(n as u64));
    g.sample_size(10);
    g.bench_function("svd-auto/1000x128x128", |b| {
        b.iter(|| svd_filter_block(iq.view(), Cutoff::Auto { high: None }, 0).unwrap())
    });
    g.bench_function("svd-fixed-low10/1000x128x128", |b| {
        b.iter(|| svd_filter_block(iq.view(), Cutoff::Fixed { low: 10, high: None }, 0).unwrap())
    });
    let bp = BandPassConfig { low_hz: Some(20.0), high_hz: Some(300.0), order: 4 };
    g.bench_function("bandpass-order4/1000x128x128", |b| {
        b.iter(|| {
            let mut a = iq.clone();
            bandpass(&mut a, &bp, 1000.0).unwrap();
            a
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
