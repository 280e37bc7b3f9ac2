//! Frame reading throughput: `io/<format>_<layout>`. The stack is complex64
//! `[frames, 128, 128]`; `ULM_IO_BENCH_FRAMES` sets the frame count (default 500, i.e.
//! 62.5 MiB; 8000 frames is the 1 GB case). Run: `cargo bench -p ulm-io --bench read`.

#![allow(missing_docs)] // criterion_group! generates undocumented items

use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ndarray::Array3;
use num_complex::Complex32;
use ulm_core::Geometry;
use ulm_io::{AxisOrder, Meta, ReadOptions, open_frames, read_frames, write_meta, write_npy};

fn npy_fortran(path: &Path, a: &Array3<Complex32>) {
    // The same array written column-major: `a.t()` in C order is `a` in Fortran order.
    let t = a.t().as_standard_layout().into_owned();
    write_npy(path, &t).unwrap();
    let mut b = std::fs::read(path).unwrap();
    let i = b.windows(5).position(|w| w == b"False").unwrap();
    b[i..i + 5].copy_from_slice(b"True ");
    let shape = format!("({}, {}, {})", t.dim().0, t.dim().1, t.dim().2);
    let want = format!("({}, {}, {})", a.dim().0, a.dim().1, a.dim().2);
    let j = b.windows(shape.len()).position(|w| w == shape.as_bytes()).unwrap();
    b[j..j + shape.len()].copy_from_slice(want.as_bytes());
    std::fs::write(path, b).unwrap();
}

fn bench(c: &mut Criterion) {
    let n: usize = std::env::var("ULM_IO_BENCH_FRAMES").ok().and_then(|s| s.parse().ok()).unwrap_or(500);
    let dir = tempfile::tempdir().unwrap();
    let g = Geometry::new(0.1, 0.1, 0.0, 1.0, 0.2, 1000.0).unwrap();
    write_meta(&dir.path().join("meta.json"), &Meta::from_geometry(&g)).unwrap();
    let a = Array3::from_shape_fn((n, 128, 128), |(t, z, x)| Complex32::new((t + z) as f32, x as f32));
    let c_path = dir.path().join("c.npy");
    write_npy(&c_path, &a).unwrap();
    let f_path = dir.path().join("f.npy");
    npy_fortran(&f_path, &a);
    let zxt_path = dir.path().join("zxt.npy");
    write_npy(&zxt_path, &a.view().permuted_axes([1, 2, 0]).as_standard_layout()).unwrap();
    drop(a);

    let mut grp = c.benchmark_group("io");
    grp.sample_size(10);
    grp.throughput(Throughput::Bytes((n * 128 * 128 * 8) as u64));
    let d = ReadOptions::default();
    grp.bench_function("npy_c64_c_order", |b| b.iter(|| read_frames(&c_path, &d).unwrap()));
    grp.bench_function("npy_c64_fortran", |b| b.iter(|| read_frames(&f_path, &d).unwrap()));
    let zxt = ReadOptions { axis_order: AxisOrder::Zxt, ..ReadOptions::default() };
    grp.bench_function("npy_c64_zxt", |b| b.iter(|| read_frames(&zxt_path, &zxt).unwrap()));
    grp.bench_function("npy_c64_stream_64_frames", |b| {
        b.iter(|| {
            let mut src = open_frames(&c_path, &d).unwrap();
            (0..n).step_by(64).map(|s| src.read_block(s, 64).unwrap().n_frames()).sum::<usize>()
        })
    });
    grp.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
