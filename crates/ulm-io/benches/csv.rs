//! Table throughput on 200,000 rows: `io/csv_write_200k`, `io/csv_read_200k`
//! (localizations `frame,x_mm,z_mm,score`), `io/tracks_write_200k`, `io/tracks_read_200k`
//! (2,000 tracks of 100 points, CSV) and `io/tracks_parquet_write_200k`,
//! `io/tracks_parquet_read_200k` (the same tracks as Parquet).
//! Run: `cargo bench --workspace --bench csv`.

#![allow(missing_docs)] // criterion_group! generates undocumented items

use criterion::{Criterion, criterion_group, criterion_main};
use ulm_core::{Localizations, Track, TrackPoint, Tracks};
use ulm_io::{read_localizations, read_tracks, write_localizations, write_tracks};

const N: usize = 200_000;

/// Deterministic pseudo-random values in [0, 1) (an LCG; no extra dependency).
fn uniform(state: &mut u64) -> f64 {
    *state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
    (*state >> 11) as f64 / (1u64 << 53) as f64
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let mut s = 42u64;
    let mut locs = Localizations::new();
    for i in 0..N {
        let (x, z, score) = (12.8 * uniform(&mut s), 3.0 + 9.0 * uniform(&mut s), uniform(&mut s) as f32);
        locs.push((i / 190) as u32, x, z, score);
    }
    let lp = dir.path().join("locs.csv");
    write_localizations(&lp, &locs).unwrap(); // so a filtered `read` run has its input
    let mut g = c.benchmark_group("io");
    g.sample_size(10);
    g.bench_function("csv_write_200k", |b| b.iter(|| write_localizations(&lp, &locs).unwrap()));
    g.bench_function("csv_read_200k", |b| b.iter(|| read_localizations(&lp).unwrap()));

    let tracks = Tracks {
        tracks: (0..N / 100)
            .map(|id| Track {
                id: id as u64,
                points: (0..100)
                    .map(|f| TrackPoint {
                        frame: f,
                        x_mm: 12.8 * uniform(&mut s),
                        z_mm: 3.0 + 9.0 * uniform(&mut s),
                        vx_mm_s: if f == 0 { f64::NAN } else { 20.0 * uniform(&mut s) - 10.0 },
                        vz_mm_s: if f == 0 { f64::NAN } else { 20.0 * uniform(&mut s) - 10.0 },
                    })
                    .collect(),
            })
            .collect(),
    };
    let tp = dir.path().join("tracks.csv");
    write_tracks(&tp, &tracks).unwrap();
    g.bench_function("tracks_write_200k", |b| b.iter(|| write_tracks(&tp, &tracks).unwrap()));
    g.bench_function("tracks_read_200k", |b| b.iter(|| read_tracks(&tp).unwrap()));
    let pp = dir.path().join("tracks.parquet");
    write_tracks(&pp, &tracks).unwrap();
    g.bench_function("tracks_parquet_write_200k", |b| b.iter(|| write_tracks(&pp, &tracks).unwrap()));
    g.bench_function("tracks_parquet_read_200k", |b| b.iter(|| read_tracks(&pp).unwrap()));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
