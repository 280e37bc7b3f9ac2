//! `simulate/dense_256x256`: frames per second of the `dense` preset on a 256 × 256 grid.

#![allow(missing_docs)] // criterion_group! generates undocumented items

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ulm_core::NoProgress;
use ulm_sim::{Preset, SimConfig, simulate};

fn bench(c: &mut Criterion) {
    let mut config = SimConfig::preset(Preset::Dense);
    config.grid.rows = 256;
    config.grid.cols = 256;
    let frames = 200;
    let mut g = c.benchmark_group("simulate");
    g.sample_size(10);
    g.throughput(Throughput::Elements(frames as u64));
    g.bench_function("dense_256x256", |b| b.iter(|| simulate(&config, frames, 1, &NoProgress).unwrap()));
    let tissue = SimConfig { grid: config.grid.clone(), ..SimConfig::preset(Preset::Tissue) };
    g.bench_function("tissue_256x256", |b| b.iter(|| simulate(&tissue, frames, 1, &NoProgress).unwrap()));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
