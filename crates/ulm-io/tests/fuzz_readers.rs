//! Mutation tests of every frame reader and of `meta.json`: thousands of hostile files
//! per format, derived from valid ones (see `mutate/mod.rs` for the mutations and what
//! is checked: no panic, no hang, allocation bounded by the file size, errors that name
//! the file). Case counts are printed (`cargo test -p ulm-io --test fuzz_readers --
//! --nocapture`).

mod mutate;

use std::path::{Path, PathBuf};

use ndarray::{Array2, Array3};
use ulm_io::{AxisOrder, ReadOptions, open_raw, read_meta};

use mutate::{Counting, Outcome, fuzz};

#[global_allocator]
static ALLOC: Counting = Counting;

/// Worst expansion of a deflate (zlib) stream, rounded up.
const INFLATE: usize = 1040;
/// Samples come out as f32 / complex64: up to 4× the bytes of uint8 input.
const WIDEN: usize = 4;
/// Room for what any reader needs whatever the file (buffers, thread pools).
const SLACK: usize = 8 << 20;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

fn outcome<T>(r: ulm_io::Result<T>) -> Outcome {
    match r {
        Ok(_) => Outcome::Ok,
        Err(e) => Outcome::Err(e.to_string()),
    }
}

/// Opens the frames, reads a block in the middle, then everything.
fn frames(dataset: Option<&str>, order: AxisOrder) -> impl Fn(&Path) -> Outcome {
    let o = ReadOptions { dataset: dataset.map(String::from), axis_order: order, ..ReadOptions::default() };
    move |p: &Path| {
        outcome(open_raw(p, &o).and_then(|mut r| {
            r.read_block(1, 2)?;
            r.read_all()
        }))
    }
}

fn plain(len: usize) -> usize {
    WIDEN * 2 * len + SLACK
}

fn deflated(len: usize) -> usize {
    WIDEN * 2 * INFLATE * len + SLACK
}

#[test]
fn fuzz_npy() {
    let dir = tempfile::tempdir().unwrap();
    let mut n = 0;
    for (seed, order, cases) in [
        ("c64_fortran.npy", AxisOrder::Tzx, 1500),
        ("f64_zxt.npy", AxisOrder::Zxt, 1000),
        ("i16_tzx.npy", AxisOrder::Tzx, 1000),
    ] {
        let bytes = std::fs::read(fixture(seed)).unwrap();
        let p = dir.path().join(seed);
        n += fuzz(&format!("npy {seed}"), &bytes, &p, cases, true, plain, frames(None, order));
    }
    eprintln!("NPY: {n} cases");
}

#[test]
fn fuzz_mat_v5() {
    let dir = tempfile::tempdir().unwrap();
    let mut n = 0;
    for (seed, var, cases) in [("v5.mat", None, 1200), ("v5.mat", Some("Bi"), 600), ("v5_plain.mat", Some("IQ"), 1200)]
    {
        let bytes = std::fs::read(fixture(seed)).unwrap();
        let p = dir.path().join(seed);
        n += fuzz(&format!("mat v5 {seed} {var:?}"), &bytes, &p, cases, false, deflated, frames(var, AxisOrder::Zxt));
    }
    eprintln!("MAT v5: {n} cases");
}

#[test]
fn fuzz_hdf5() {
    let dir = tempfile::tempdir().unwrap();
    let mut n = 0;
    let zxt = AxisOrder::Zxt;
    let tzx = AxisOrder::Tzx;
    for (seed, var, order, cases) in [
        ("v73.mat", Some("IQ"), zxt, 900),
        ("v73.mat", Some("IQ16"), zxt, 300),
        ("v73.mat", None, zxt, 300),
        ("plain.h5", Some("group/iq"), tzx, 400),
        ("latest.h5", Some("fixed"), tzx, 400),
        ("latest.h5", Some("ext"), tzx, 400),
        ("latest.h5", Some("bt2"), tzx, 400),
        ("latest.h5", Some("single"), tzx, 200),
        ("latest.h5", Some("dense/iq"), tzx, 300),
        ("latest.h5", Some("compact"), tzx, 200),
        ("latest.h5", Some("be"), tzx, 200),
        ("latest.h5", Some("matlab"), zxt, 200),
    ] {
        let bytes = std::fs::read(fixture(seed)).unwrap();
        let p = dir.path().join(seed);
        n += fuzz(&format!("hdf5 {seed} {var:?}"), &bytes, &p, cases, false, deflated, frames(var, order));
    }
    eprintln!("MAT v7.3 / HDF5: {n} cases");
}

#[test]
fn fuzz_png_tiff() {
    let dir = tempfile::tempdir().unwrap();
    let seeds = dir.path().join("seeds");
    std::fs::create_dir(&seeds).unwrap();
    let png = seeds.join("frame.png");
    ulm_io::write_png_gray8(&png, &Array2::from_shape_fn((6, 5), |(r, c)| (r * 40 + c * 7) as u8)).unwrap();
    let tif = seeds.join("pages.tiff");
    ulm_io::write_tiff_f32(&tif, &Array3::from_shape_fn((3, 5, 4), |(t, r, c)| (t * 100 + r * 10 + c) as f32)).unwrap();
    let tif16 = seeds.join("pages16.tif");
    ulm_io::write_tiff_u16(&tif16, &Array3::from_shape_fn((2, 4, 6), |(t, r, c)| (t * 1000 + r * 6 + c) as u16))
        .unwrap();
    let mut n = 0;
    let f = frames(None, AxisOrder::Tzx);
    let png_bytes = std::fs::read(&png).unwrap();
    n += fuzz("png", &png_bytes, &dir.path().join("frame.png"), 2000, false, deflated, &f);
    eprintln!("PNG: {n} cases");
    let mut m = 0;
    for (seed, name) in [(&tif, "pages.tiff"), (&tif16, "pages16.tif")] {
        let bytes = std::fs::read(seed).unwrap();
        // TIFF allows LZW, whose codes expand up to 4096 bytes each.
        m += fuzz(&format!("tiff {name}"), &bytes, &dir.path().join(name), 1200, false, |l| 3 * deflated(l), &f);
    }
    eprintln!("TIFF: {m} cases");
}

#[test]
fn fuzz_meta_json() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(fixture("meta.json")).unwrap();
    let p = dir.path().join("meta.json");
    let n = fuzz(
        "meta.json",
        &bytes,
        &p,
        3000,
        true,
        |l| 64 * l + SLACK,
        |p| outcome(read_meta(p).and_then(|m| m.geometry(p))),
    );
    eprintln!("meta.json: {n} cases");
}
