//! `simulate/*`: frames per second of whole simulations (network, dynamics, rendering), and
//! `psf/physical_table`: the one-off tabulation of the physical PSF.
//!
//! * `simulate/dense_256x256`, `simulate/tissue_256x256`: the dense and tissue presets.
//! * `simulate/cortex_gaussian`, `simulate/cortex_physical`: the cortex preset (256 × 208,
//!   40 bubbles per frame) with each PSF model, same vessels and bubbles.

#![allow(missing_docs)] // criterion_group! generates undocumented items

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ulm_core::NoProgress;
use ulm_sim::psf::Psf;
use ulm_sim::{Preset, PsfModel, SimConfig, simulate};

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
    for model in PsfModel::ALL {
        let mut cortex = SimConfig::preset(Preset::Cortex);
        cortex.imaging.psf = model;
        g.bench_function(format!("cortex_{model}"), |b| b.iter(|| simulate(&cortex, frames, 1, &NoProgress).unwrap()));
    }
    g.finish();
    let mut g = c.benchmark_group("psf");
    g.sample_size(10);
    let mut cortex = SimConfig::preset(Preset::Cortex);
    cortex.imaging.psf = PsfModel::Physical;
    g.bench_function("physical_table", |b| b.iter(|| Psf::for_config(&cortex, cortex.reference_depth_mm()).unwrap()));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
