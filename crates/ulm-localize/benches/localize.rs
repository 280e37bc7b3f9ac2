#![allow(missing_docs)] // criterion_group! generates undocumented items
//! Frames per second of each classical localizer on 128 × 128 envelope frames (the
//! simulator's `dense` preset scaled to 128 × 128: ≈ 30 bubbles per frame), parallel over
//! frames on every core rayon sees (`RAYON_NUM_THREADS` to pin it).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ulm_core::{FrameStack, NoProgress};
use ulm_localize::{ClassicalConfig, ClassicalLocalizer, Method, localize};
use ulm_sim::{Preset, SimConfig, simulate};

fn bench(c: &mut Criterion) {
    let n = 200;
    let sim = simulate(&SimConfig::small(Preset::Dense, 128, 128), n, 3, &NoProgress).unwrap();
    let env = FrameStack::from_real(sim.iq.envelope(), *sim.iq.geometry()).unwrap();
    let mut g = c.benchmark_group("localize");
    g.throughput(Throughput::Elements(n as u64));
    g.sample_size(20);
    for name in Method::NAMES {
        let loc = ClassicalLocalizer::new(ClassicalConfig::new(name.parse().unwrap())).unwrap();
        g.bench_function(name, |b| b.iter(|| localize(&env, &loc, &NoProgress)));
    }
    // The same on complex IQ (envelope computed per frame inside the localizer loop).
    let loc = ClassicalLocalizer::new(ClassicalConfig::new(Method::Radial)).unwrap();
    g.bench_function("radial-from-iq", |b| b.iter(|| localize(&sim.iq, &loc, &NoProgress)));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
