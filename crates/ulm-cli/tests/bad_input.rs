//! Bad input to frame-reading commands: exit code 1, a message naming the file and the
//! problem, no panic.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use ndarray::Array3;
use ulm_core::Complex32 as C32;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../ulm-io/tests/fixtures").join(name)
}

/// Runs `ulm info ARGS`, expects exit code 1 and a stderr naming `file` and every word.
fn fails(args: &[&str], file: &Path, words: &[&str]) {
    let out = Command::cargo_bin("ulm").unwrap().arg("info").args(args).assert().code(1);
    let err = String::from_utf8(out.get_output().stderr.clone()).unwrap();
    let name = file.file_name().unwrap().to_string_lossy();
    assert!(err.contains(&*name), "stderr does not name {name}: {err}");
    for w in words {
        assert!(err.contains(w), "`{w}` not in: {err}");
    }
    assert!(!err.contains("panicked"), "{err}");
    assert!(out.get_output().stdout.is_empty(), "no output on failure");
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn meta(dir: &Path, text: &str) -> PathBuf {
    let p = dir.join("meta.json");
    std::fs::write(&p, text).unwrap();
    p
}

const GOOD_META: &str = r#"{"frame_rate_hz": 100, "pixel_size_x_mm": 0.1, "pixel_size_z_mm": 0.1, "x0_mm": 0, "z0_mm": 1, "wavelength_mm": 0.2}"#;

#[test]
fn broken_npy_files() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.npy");
    ulm_io::write_npy(&good, &Array3::<f32>::ones((4, 3, 2))).unwrap();
    let bytes = std::fs::read(&good).unwrap();
    let p = dir.path().join("truncated.npy");
    std::fs::write(&p, &bytes[..bytes.len() - 1]).unwrap();
    fails(&[s(&p)], &p, &["truncated NPY file"]);
    let p = dir.path().join("magic.npy");
    std::fs::write(&p, b"PK\x03\x04zipfile").unwrap();
    fails(&[s(&p)], &p, &["wrong magic"]);
    let p = dir.path().join("dtype.npy");
    let mut b = bytes.clone();
    let i = b.windows(3).position(|w| w == b"<f4").unwrap();
    b[i..i + 3].copy_from_slice(b"<U1");
    std::fs::write(&p, &b).unwrap();
    fails(&[s(&p)], &p, &["unsupported dtype `<U1`"]);
    let p = dir.path().join("missing.npy");
    fails(&[s(&p)], &p, &["no such file"]);
}

#[test]
fn mat_without_the_named_variable() {
    for f in ["v5.mat", "v73.mat", "plain.h5"] {
        let p = fixture(f);
        fails(&[s(&p), "--dataset", "RF"], &p, &["`RF`"]);
    }
}

#[test]
fn non_finite_frames() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("nan.npy");
    let mut a = Array3::<C32>::zeros((3, 2, 2));
    a[[2, 1, 0]] = C32::new(f32::NAN, 0.0);
    ulm_io::write_npy(&p, &a).unwrap();
    fails(&[s(&p)], &p, &["non-finite", "frame 2 at row 1, col 0"]);
    // Allowed: reported, not fatal.
    let out = Command::cargo_bin("ulm").unwrap().args(["info", s(&p), "--allow-non-finite"]).assert().success();
    let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert!(text.contains("non-finite:  1 samples"), "{text}");
}

#[test]
fn mismatched_sidecars() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("f.npy");
    ulm_io::write_npy(&p, &Array3::<f32>::ones((3, 4, 5))).unwrap();
    let m = meta(dir.path(), r#"{"frame_rate_hz": 100, "pixel_size_mm": 0.1}"#);
    fails(&[s(&p)], &m, &["missing key", "pixel_size_mm"]);
    meta(dir.path(), &GOOD_META.replace("0.2}", "-0.2}"));
    fails(&[s(&p)], &m, &["wavelength_mm must be finite and > 0"]);
    meta(dir.path(), &GOOD_META.replace("100,", "\"fast\","));
    fails(&[s(&p)], &m, &["invalid meta.json"]);
    meta(dir.path(), &GOOD_META.replace("}", r#", "cols": 4}"#));
    fails(&[s(&p)], &m, &["`cols` is 4", "has 5 cols"]);
    // A good sidecar elsewhere, named with --meta, is used; a missing one is an error.
    meta(dir.path(), GOOD_META);
    Command::cargo_bin("ulm").unwrap().args(["info", s(&p), "--meta", s(&m)]).assert().success();
    let nope = dir.path().join("nope.json");
    fails(&[s(&p), "--meta", s(&nope)], &nope, &["No such file"]);
}

#[test]
fn unreadable_images() {
    let dir = tempfile::tempdir().unwrap();
    let frames = dir.path().join("frames");
    std::fs::create_dir(&frames).unwrap();
    fails(&[s(&frames)], &frames, &["no .png"]);
    let p = frames.join("0.png");
    std::fs::write(&p, b"\x89PNG\r\n\x1a\nbroken").unwrap();
    fails(&[s(&frames)], &p, &["invalid PNG"]);
    // --axis-order makes no sense for images.
    fails(&[s(&frames), "--axis-order", "zxt"], &frames, &["--axis-order"]);
}
