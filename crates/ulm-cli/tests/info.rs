//! `ulm info` on every frame format, with and without a meta.json sidecar.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use ndarray::{Array2, Array3};
use serde_json::Value;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../ulm-io/tests/fixtures").join(name)
}

/// Copies fixtures (and, if asked, their meta.json) into a fresh folder.
fn folder(names: &[&str], meta: bool) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for n in names {
        std::fs::copy(fixture(n), dir.path().join(n)).unwrap();
    }
    if meta {
        std::fs::copy(fixture("meta.json"), dir.path().join("meta.json")).unwrap();
    }
    dir
}

fn info_json(args: &[&str]) -> Value {
    let out = Command::cargo_bin("ulm").unwrap().arg("info").args(args).arg("--json").assert().success();
    serde_json::from_slice(&out.get_output().stdout).unwrap()
}

/// The fixture stack (see scripts/make_io_fixtures.py): re = 100 t + 10 z + x + 0.5,
/// im = -(t + z/4 + x/8), t < 5, z < 4, x < 3.
fn fixture_range(complex: bool) -> (f64, f64) {
    let mut lo = f64::INFINITY;
    let mut hi = 0.0f64;
    for t in 0..5 {
        for z in 0..4 {
            for x in 0..3 {
                let re = (100 * t + 10 * z + x) as f64 + 0.5;
                let im = if complex { -(t as f64 + z as f64 / 4.0 + x as f64 / 8.0) } else { 0.0 };
                let m = (re * re + im * im).sqrt();
                lo = lo.min(m);
                hi = hi.max(m);
            }
        }
    }
    (lo, hi)
}

fn check(v: &Value, format: &str, dtype: &str, stored: &[u64], complex: bool) {
    assert_eq!(v["format"], format, "{v}");
    assert_eq!(v["dtype"], dtype, "{v}");
    assert_eq!(v["frames"], 5);
    assert_eq!(v["rows"], 4);
    assert_eq!(v["cols"], 3);
    assert_eq!(v["stored_shape"], serde_json::json!(stored));
    assert_eq!(v["memory_bytes"], 60 * if complex { 8 } else { 4 });
    let (lo, hi) = fixture_range(complex);
    let (min, max) = (v["magnitude_min"].as_f64().unwrap(), v["magnitude_max"].as_f64().unwrap());
    assert!((min - lo).abs() < 1e-4 && (max - hi).abs() < 1e-3, "{min} {max} vs {lo} {hi}");
    let g = &v["geometry"];
    assert!((g["wavelength_mm"].as_f64().unwrap() - 1540.0 / 15.625e6 * 1e3).abs() < 1e-9);
    assert_eq!(g["x_range_mm"], serde_json::json!([-0.1, -0.1 + 2.0 * 0.1]));
    assert!((g["duration_s"].as_f64().unwrap() - 0.005).abs() < 1e-12);
}

#[test]
fn every_format_with_meta() {
    let files = ["c64_fortran.npy", "f64_zxt.npy", "v5.mat", "v5_plain.mat", "v73.mat", "plain.h5"];
    let dir = folder(&files, true);
    let p = |n: &str| dir.path().join(n).to_string_lossy().into_owned();
    check(&info_json(&[&p("c64_fortran.npy")]), "NPY", "complex64", &[5, 4, 3], true);
    check(&info_json(&[&p("f64_zxt.npy"), "--axis-order", "zxt"]), "NPY", "float64", &[4, 3, 5], false);
    let v = info_json(&[&p("v5.mat"), "--axis-order", "zxt"]);
    check(&v, "MATLAB v5 MAT-file", "complex64", &[4, 3, 5], true);
    assert_eq!(v["variable"], "IQ");
    let v = info_json(&[&p("v5_plain.mat"), "--dataset", "IQ", "--axis-order", "zxt"]);
    check(&v, "MATLAB v5 MAT-file", "complex128", &[4, 3, 5], true);
    let v = info_json(&[&p("v73.mat"), "--dataset", "IQ", "--axis-order", "z,x,t"]);
    check(&v, "MATLAB v7.3 MAT-file (HDF5)", "complex64", &[4, 3, 5], true);
    assert_eq!(v["fortran_order"], true);
    let v = info_json(&[&p("plain.h5"), "--dataset", "group/iq"]);
    check(&v, "HDF5", "complex64", &[5, 4, 3], true);
}

#[test]
fn images_and_text_output() {
    let dir = tempfile::tempdir().unwrap();
    let frames = dir.path().join("frames");
    std::fs::create_dir(&frames).unwrap();
    for t in 0..3u8 {
        let img = Array2::from_shape_fn((4, 6), |(z, x)| t * 50 + z as u8 * 6 + x as u8);
        ulm_io::write_png_gray8(&frames.join(format!("f{t}.png")), &img).unwrap();
    }
    let v = info_json(&[frames.to_str().unwrap()]);
    assert_eq!(
        (v["format"].as_str(), v["frames"].as_u64(), v["rows"].as_u64()),
        (Some("image folder"), Some(3), Some(4))
    );
    assert_eq!((v["magnitude_min"].as_f64(), v["magnitude_max"].as_f64()), (Some(0.0), Some(100.0 + 18.0 + 5.0)));
    assert!(v["geometry"].is_null());

    // Text output without meta.json says the geometry is unknown.
    let out = Command::cargo_bin("ulm").unwrap().arg("info").arg(&frames).assert().success();
    let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert!(text.contains("image folder") && text.contains("3 frames × 4 rows (z) × 6 cols (x)"), "{text}");
    assert!(text.contains("unknown (no meta.json"), "{text}");
    assert!(text.contains("uint8 on disk"), "{text}");

    // A one-page float TIFF.
    let tif = dir.path().join("one.tif");
    ulm_io::write_tiff_f32(&tif, &Array3::from_shape_fn((1, 3, 4), |(_, z, x)| (z * 4 + x) as f32 * 0.5)).unwrap();
    let v = info_json(&[tif.to_str().unwrap()]);
    assert_eq!(
        (v["format"].as_str(), v["dtype"].as_str(), v["cols"].as_u64()),
        (Some("TIFF"), Some("float32"), Some(4))
    );
    assert_eq!(v["magnitude_max"].as_f64(), Some(5.5));
}

#[test]
fn text_output_with_geometry() {
    let dir = folder(&["c64_fortran.npy"], true);
    let out = Command::cargo_bin("ulm").unwrap().arg("info").arg(dir.path().join("c64_fortran.npy")).assert().success();
    let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    for want in
        ["NPY", "complex64 on disk", "[5, 4, 3]", "column-major", "frame rate:    1000 Hz", "0.098560 mm", "MiB"]
    {
        assert!(text.contains(want), "`{want}` not in:\n{text}");
    }
}

#[test]
fn help_explains_units_and_defaults() {
    let out = Command::cargo_bin("ulm").unwrap().args(["info", "--help"]).assert().success();
    let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    for want in ["mm", "Hz", "MiB", "zxt", "[default: tzx]", "meta.json", "--dataset"] {
        assert!(text.contains(want), "`{want}` not in:\n{text}");
    }
}
