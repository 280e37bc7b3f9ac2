//! Readers against reference files written by NumPy, SciPy and h5py
//! (`scripts/make_io_fixtures.py`). Each value is recomputed here from the formula the
//! script uses, so nothing stored is trusted.

use std::path::{Path, PathBuf};

use ndarray::Array3;
use num_complex::Complex32;
use ulm_core::FrameData;
use ulm_io::{AxisOrder, DType, Format, ReadOptions, open_frames, open_raw, read_frames};

const T: usize = 5;
const Z: usize = 4;
const X: usize = 3;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

fn re(t: usize, z: usize, x: usize) -> f64 {
    100.0 * t as f64 + 10.0 * z as f64 + x as f64 + 0.5
}

fn im(t: usize, z: usize, x: usize) -> f64 {
    -(t as f64 + z as f64 / 4.0 + x as f64 / 8.0)
}

fn expected_complex() -> Array3<Complex32> {
    Array3::from_shape_fn((T, Z, X), |(t, z, x)| Complex32::new(re(t, z, x) as f32, im(t, z, x) as f32))
}

fn opts(dataset: Option<&str>, order: AxisOrder) -> ReadOptions {
    ReadOptions { dataset: dataset.map(String::from), axis_order: order, ..ReadOptions::default() }
}

fn real(d: FrameData) -> Array3<f32> {
    match d {
        FrameData::Real(a) => a,
        FrameData::Complex(_) => panic!("expected real frames"),
    }
}

fn complex(d: FrameData) -> Array3<Complex32> {
    match d {
        FrameData::Complex(a) => a,
        FrameData::Real(_) => panic!("expected complex frames"),
    }
}

/// Reads `name`, checks format/dtype/shape, the geometry from meta.json, and that
/// streaming blocks agree with the whole stack.
fn read(name: &str, o: &ReadOptions, format: Format, dtype: DType, stored: &[usize]) -> FrameData {
    let p = fixture(name);
    let raw = open_raw(&p, o).unwrap();
    let info = raw.info();
    assert_eq!(info.format, format, "{name}");
    assert_eq!(info.dtype, dtype, "{name}");
    assert_eq!(info.stored_shape, stored, "{name}");
    let stack = read_frames(&p, o).unwrap();
    let g = stack.geometry();
    assert_eq!((g.pixel_size_x_mm, g.pixel_size_z_mm, g.x0_mm, g.z0_mm), (0.1, 0.05, -0.1, 2.0));
    assert!((g.wavelength_mm - 1540.0 / 15.625e6 * 1e3).abs() < 1e-12);
    // Streaming: blocks of 2 frames reassemble the stack.
    let mut src = open_frames(&p, o).unwrap();
    assert_eq!(src.shape(), stack.shape());
    let n = src.n_frames();
    for start in (0..n).step_by(2) {
        let b = src.read_block(start, 2).unwrap();
        assert_eq!(b, stack.slice_frames(start, 2), "{name} block {start}");
    }
    stack.into_data()
}

#[test]
fn npy_complex64_fortran_order() {
    let d = read("c64_fortran.npy", &ReadOptions::default(), Format::Npy, DType::C64, &[T, Z, X]);
    assert_eq!(complex(d), expected_complex());
}

#[test]
fn npy_float64_zxt_and_int16() {
    let d = read("f64_zxt.npy", &opts(None, AxisOrder::Zxt), Format::Npy, DType::F64, &[Z, X, T]);
    assert_eq!(real(d), expected_complex().mapv(|c| c.re));
    let d = read("i16_tzx.npy", &ReadOptions::default(), Format::Npy, DType::I16, &[T, Z, X]);
    assert_eq!(real(d), Array3::from_shape_fn((T, Z, X), |(t, z, x)| re(t, z, x).trunc() as f32));
}

#[test]
fn mat_v5_compressed_complex_double_int16() {
    let zxt = AxisOrder::Zxt;
    // Without a name, `IQ` is chosen among several numeric variables.
    let d = read("v5.mat", &opts(None, zxt), Format::MatV5, DType::C64, &[Z, X, T]);
    assert_eq!(complex(d), expected_complex());
    let d = read("v5.mat", &opts(Some("Bd"), zxt), Format::MatV5, DType::F64, &[Z, X, T]);
    assert_eq!(real(d), expected_complex().mapv(|c| c.re));
    let d = read("v5.mat", &opts(Some("Bi"), zxt), Format::MatV5, DType::I16, &[Z, X, T]);
    assert_eq!(real(d), Array3::from_shape_fn((T, Z, X), |(t, z, x)| re(t, z, x).trunc() as f32));
}

#[test]
fn mat_v5_uncompressed_complex128_and_single_frame() {
    let zxt = AxisOrder::Zxt;
    let d = read("v5_plain.mat", &opts(Some("IQ"), zxt), Format::MatV5, DType::C128, &[Z, X, T]);
    assert_eq!(complex(d), expected_complex());
    // A 2-D [z, x] variable is one frame.
    let d = read("v5_plain.mat", &opts(Some("B"), zxt), Format::MatV5, DType::F32, &[Z, X]);
    let a = real(d);
    assert_eq!(a.dim(), (1, Z, X));
    assert_eq!(a, Array3::from_shape_fn((1, Z, X), |(_, z, x)| re(0, z, x) as f32));
}

#[test]
fn mat_v73_matlab_layout() {
    let zxt = AxisOrder::Zxt;
    // HDF5 sees [t, x, z]; as MATLAB's size() it is [z, x, t].
    let d = read("v73.mat", &opts(Some("IQ"), zxt), Format::MatV73, DType::C64, &[Z, X, T]);
    assert_eq!(complex(d), expected_complex());
    let d = read("v73.mat", &opts(Some("IQ16"), zxt), Format::MatV73, DType::CI16, &[Z, X, T]);
    let want = expected_complex().mapv(|c| Complex32::new(c.re.trunc(), c.im.trunc()));
    assert_eq!(complex(d), want);
    let d = read("v73.mat", &opts(Some("B"), zxt), Format::MatV73, DType::F64, &[Z, X, T]);
    assert_eq!(real(d), expected_complex().mapv(|c| c.re));
}

#[test]
fn plain_hdf5_real_and_h5py_complex() {
    let d = read("plain.h5", &opts(Some("frames"), AxisOrder::Tzx), Format::Hdf5, DType::F32, &[T, Z, X]);
    assert_eq!(real(d), expected_complex().mapv(|c| c.re));
    let d = read("plain.h5", &opts(Some("group/iq"), AxisOrder::Tzx), Format::Hdf5, DType::C64, &[T, Z, X]);
    assert_eq!(complex(d), expected_complex());
}

#[test]
fn missing_variable_is_named_with_the_list() {
    for (f, kind) in [("v5.mat", "variable"), ("v73.mat", "dataset"), ("plain.h5", "dataset")] {
        let e = read_frames(&fixture(f), &opts(Some("RF"), AxisOrder::Zxt)).unwrap_err().to_string();
        assert!(
            e.contains(f) && e.contains("`RF`") && e.contains(kind) && (e.contains("IQ") || e.contains("frames")),
            "{e}"
        );
    }
    // Several candidates and none called IQ: ask for a name.
    let e = read_frames(&fixture("plain.h5"), &ReadOptions::default()).unwrap_err().to_string();
    assert!(e.contains("--dataset") && e.contains("group/iq"), "{e}");
}

#[test]
fn mat_v73_single_frame_and_blocks_past_the_end() {
    // A 2-D MATLAB [z, x] variable (HDF5 [x, z]) is one frame.
    let d = read("v73.mat", &opts(Some("F"), AxisOrder::Zxt), Format::MatV73, DType::F64, &[Z, X]);
    assert_eq!(real(d), Array3::from_shape_fn((1, Z, X), |(_, z, x)| re(0, z, x) as f32));
    // Blocks that cross chunk borders ([2, 3, 3] chunks of HDF5 [t, x, z]) and the end.
    let mut src = open_frames(&fixture("v73.mat"), &opts(Some("IQ"), AxisOrder::Zxt)).unwrap();
    let want = expected_complex();
    let b = src.read_block(1, 3).unwrap();
    assert_eq!(b.data(), &FrameData::Complex(want.slice(ndarray::s![1..4, .., ..]).to_owned()));
    assert_eq!(src.read_block(4, 9).unwrap().shape(), [1, Z, X]);
    assert_eq!(src.read_block(9, 5).unwrap().shape(), [0, Z, X]);
}

#[test]
fn hdf5_latest_format_every_chunk_index() {
    let tzx = AxisOrder::Tzx;
    let f32s = expected_complex().mapv(|c| c.re);
    // Fixed array, single chunk (shuffle + deflate), compact layout, big-endian contiguous.
    for name in ["fixed", "single", "compact"] {
        let d = read("latest.h5", &opts(Some(name), tzx), Format::Hdf5, DType::F32, &[T, Z, X]);
        assert_eq!(real(d), f32s, "{name}");
    }
    let d = read("latest.h5", &opts(Some("be"), tzx), Format::Hdf5, DType::F64, &[T, Z, X]);
    assert_eq!(real(d), f32s);
    // Extensible array, h5py complex {r, i}.
    let d = read("latest.h5", &opts(Some("ext"), tzx), Format::Hdf5, DType::C64, &[T, Z, X]);
    assert_eq!(complex(d), expected_complex());
    // Version-2 B-tree over two unlimited axes.
    let d = read("latest.h5", &opts(Some("bt2"), tzx), Format::Hdf5, DType::I16, &[T, Z, X]);
    assert_eq!(real(d), Array3::from_shape_fn((T, Z, X), |(t, z, x)| re(t, z, x).trunc() as f32));
    let d = read("latest.h5", &opts(Some("u8"), tzx), Format::Hdf5, DType::U8, &[T, Z, X]);
    assert_eq!(real(d), Array3::from_shape_fn((T, Z, X), |(t, z, x)| (re(t, z, x).floor() as u32 % 256) as f32));
    // Dense link storage (fractal heap + v2 B-tree of names), complex128.
    let d = read("latest.h5", &opts(Some("dense/iq"), tzx), Format::Hdf5, DType::C128, &[T, Z, X]);
    assert_eq!(complex(d), expected_complex());
    // A MATLAB_class attribute makes a plain HDF5 dataset column-major.
    let d = read("latest.h5", &opts(Some("matlab"), AxisOrder::Zxt), Format::MatV73, DType::F64, &[Z, X, T]);
    assert_eq!(real(d), f32s);
}
