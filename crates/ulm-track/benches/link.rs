#![allow(missing_docs)] // criterion_group! generates undocumented items
//! Linking speed on a synthetic 1,000-frame input (≈ 200 bubbles per frame on smooth
//! random paths, 5 % missed detections), the same kind of input as
//! `scripts/trackpy_parity.py`: `track/link_<predictor>` per predictor;
//! `track/whole_csv` and `track/whole_parquet`: the whole file-to-file pipeline of `ulm
//! track` on 1,000 × 138 bubbles (read a localization table, link, write the tracks), and
//! `link/<index>_<frames>x<points>` comparing the spatial indexes on the same input
//! (velocity predictor, memory 1), at 200 and at 2,000 bubbles per frame;
//! `index/<index>_<points>`: the index alone (build over one frame's points, then one
//! radius query per point of the next frame), without the assignment that dominates
//! `link/`.

use criterion::{Criterion, criterion_group, criterion_main};
use ulm_core::{Localizations, NoProgress};
use ulm_track::{GridHash, KdTree, LinkConfig, PredictorKind, SpatialIndex, link_frames_with, link_with};

fn synthetic(frames: u32, n: usize) -> Localizations {
    let mut seed = 7u64;
    let mut rnd = move || {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (seed >> 11) as f64 / (1u64 << 53) as f64
    };
    let field = 10.0;
    let mut st: Vec<[f64; 5]> = (0..n)
        .map(|_| [rnd() * field, rnd() * field, rnd() * std::f64::consts::TAU, 0.02 + 0.08 * rnd(), 0.0])
        .collect();
    let mut locs = Localizations::new();
    for f in 0..frames {
        for s in &mut st {
            if rnd() < 1.0 / 40.0 || !(0.0..field).contains(&s[0]) || !(0.0..field).contains(&s[1]) {
                *s = [
                    rnd() * field,
                    rnd() * field,
                    rnd() * std::f64::consts::TAU,
                    0.02 + 0.08 * rnd(),
                    (rnd() - 0.5) * 0.1,
                ];
            }
            if rnd() > 0.05 {
                locs.push(f, s[0], s[1], 1.0);
            }
            s[2] += s[4];
            s[0] += s[3] * s[2].cos();
            s[1] += s[3] * s[2].sin();
        }
    }
    locs
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn bench(c: &mut Criterion) {
    let locs = synthetic(1000, 200);
    let mut cfg = LinkConfig::new(0.15, 1000.0);
    cfg.memory = 1;
    let mut g = c.benchmark_group("track");
    g.sample_size(10);
    for (name, kind) in [
        ("link_none", PredictorKind::None),
        ("link_velocity", PredictorKind::Velocity),
        ("link_kalman", PredictorKind::Kalman),
    ] {
        g.bench_function(name, |b| b.iter(|| link_with(&locs, &cfg, kind, &NoProgress).unwrap()));
    }
    // The whole file-to-file pipeline of `ulm track` (without process start-up): 1,000
    // frames × 138 bubbles (≈ 131k rows, as `scripts/trackpy_parity.py` times it), read,
    // linked (no predictor, memory 1, like trackpy) and written at once.
    let dir = tempfile::tempdir().unwrap();
    let table = synthetic(1000, 138);
    let mut whole = cfg;
    whole.min_length = 1;
    for ext in ["csv", "parquet"] {
        let input = dir.path().join(format!("locs.{ext}"));
        ulm_io::write_localizations(&input, &table).unwrap();
        let output = dir.path().join(format!("tracks.{ext}"));
        g.bench_function(format!("whole_{ext}"), |b| {
            b.iter(|| {
                let frames = ulm_io::LocalizationFrames::open(&input).unwrap();
                let mut out = ulm_io::TracksWriter::create(&output).unwrap();
                let sink = |t| out.write(t).map_err(BoxError::from);
                let frames = frames.map(|f| f.map_err(BoxError::from));
                let stats = link_frames_with(frames, &whole, PredictorKind::None, &NoProgress, sink).unwrap();
                out.finish().unwrap();
                stats
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("link");
    g.sample_size(10);
    for (frames, n) in [(1000, 200), (1000, 2000)] {
        let locs = synthetic(frames, n);
        for (name, index) in [("kdtree", SpatialIndex::KdTree), ("grid", SpatialIndex::Grid)] {
            let cfg = LinkConfig { index, ..cfg };
            g.bench_function(format!("{name}_{frames}x{n}"), |b| {
                b.iter(|| link_with(&locs, &cfg, PredictorKind::Velocity, &NoProgress).unwrap())
            });
        }
    }
    g.finish();

    let mut g = c.benchmark_group("index");
    for n in [200, 2000] {
        let locs = synthetic(2, n);
        let frame = |f: u32| -> Vec<[f64; 2]> {
            (0..locs.len()).filter(|&i| locs.frame[i] == f).map(|i| [locs.x_mm[i], locs.z_mm[i]]).collect()
        };
        let (src, dst) = (frame(0), frame(1));
        let r = cfg.search_range_mm;
        let mut kd = KdTree::default();
        g.bench_function(format!("kdtree_{n}"), |b| {
            b.iter(|| {
                kd.rebuild(&src);
                let mut hits = 0usize;
                for &q in &dst {
                    kd.within(q, r, |_, _| hits += 1);
                }
                hits
            })
        });
        let mut grid = GridHash::default();
        g.bench_function(format!("grid_{n}"), |b| {
            b.iter(|| {
                grid.rebuild(&src, r);
                let mut hits = 0usize;
                for &q in &dst {
                    grid.within(q, r, |_, _| hits += 1);
                }
                hits
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
