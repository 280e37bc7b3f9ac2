//! Every kind of bad input gives an error that names the file and the problem; failed
//! writes leave earlier files alone.

use std::path::{Path, PathBuf};

use ndarray::{Array2, Array3};
use num_complex::Complex32;
use ulm_core::{Geometry, Localizations};
use ulm_io::{Meta, ReadOptions, open_frames, read_frames, read_localizations, read_tracks, write_meta, write_npy};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

fn meta_in(dir: &Path) {
    let g = Geometry::new(0.1, 0.1, 0.0, 0.0, 0.2, 100.0).unwrap();
    write_meta(&dir.join("meta.json"), &Meta::from_geometry(&g)).unwrap();
}

/// The error of reading `p` with default options, checked to name the file and to
/// contain every one of `words`.
fn err_of(p: &Path, opts: &ReadOptions, words: &[&str]) -> String {
    let e = read_frames(p, opts).unwrap_err().to_string();
    let name = p.file_name().unwrap().to_string_lossy();
    assert!(e.contains(&*name), "error does not name {name}: {e}");
    for w in words {
        assert!(e.contains(w), "error lacks `{w}`: {e}");
    }
    e
}

#[test]
fn npy_truncated_wrong_magic_bad_dtype_bad_rank() {
    let dir = tempfile::tempdir().unwrap();
    meta_in(dir.path());
    let o = ReadOptions::default();
    let good = dir.path().join("good.npy");
    write_npy(&good, &Array3::<f32>::ones((4, 3, 2))).unwrap();
    let bytes = std::fs::read(&good).unwrap();

    let p = dir.path().join("truncated.npy");
    std::fs::write(&p, &bytes[..bytes.len() - 5]).unwrap();
    err_of(&p, &o, &["truncated", "needs"]);
    std::fs::write(&p, &bytes[..30]).unwrap();
    err_of(&p, &o, &["truncated"]);
    std::fs::write(&p, b"").unwrap();
    err_of(&p, &o, &["wrong magic", "empty file"]);

    let p = dir.path().join("magic.npy");
    std::fs::write(&p, b"frame,x_mm\n0,1\n").unwrap();
    err_of(&p, &o, &["not an NPY file", "wrong magic"]);

    let p = dir.path().join("int64.npy");
    write_npy(&p, &Array3::<u8>::zeros((1, 1, 1))).unwrap();
    let mut b = std::fs::read(&p).unwrap();
    let i = b.windows(4).position(|w| w == b"|u1'").unwrap();
    b[i..i + 3].copy_from_slice(b"<i8");
    std::fs::write(&p, &b).unwrap();
    err_of(&p, &o, &["unsupported dtype `<i8`", "float32"]);

    let p = dir.path().join("four_d.npy");
    write_npy(&p, &ndarray::Array4::<f32>::zeros((2, 2, 2, 2))).unwrap();
    err_of(&p, &o, &["4-D"]);

    let p = dir.path().join("empty.npy");
    write_npy(&p, &Array3::<f32>::zeros((0, 3, 2))).unwrap();
    err_of(&p, &o, &["empty frame stack"]);
}

#[test]
fn non_finite_samples_are_located() {
    let dir = tempfile::tempdir().unwrap();
    meta_in(dir.path());
    let p = dir.path().join("nan.npy");
    let mut a = Array3::<Complex32>::zeros((6, 3, 4));
    a[[4, 2, 1]] = Complex32::new(0.0, f32::INFINITY);
    write_npy(&p, &a).unwrap();
    err_of(&p, &ReadOptions::default(), &["non-finite", "frame 4", "row 2", "col 1"]);
    // Streaming finds it in the block that holds it, with the absolute frame number.
    let mut src = open_frames(&p, &ReadOptions::default()).unwrap();
    assert!(src.read_block(0, 3).is_ok());
    let e = src.read_block(3, 3).unwrap_err().to_string();
    assert!(e.contains("nan.npy") && e.contains("frame 4"), "{e}");
    // Allowed on request.
    let o = ReadOptions { allow_non_finite: true, ..ReadOptions::default() };
    assert!(read_frames(&p, &o).is_ok());
    let mut r = Array3::<f32>::zeros((2, 2, 2));
    r[[1, 0, 0]] = f32::NAN;
    write_npy(&p, &r).unwrap();
    err_of(&p, &ReadOptions::default(), &["frame 1 at row 0, col 0"]);
}

#[test]
fn mat_and_hdf5_problems() {
    let dir = tempfile::tempdir().unwrap();
    meta_in(dir.path());
    let o = |name: &str| ReadOptions { dataset: Some(name.into()), ..ReadOptions::default() };
    // Missing variable: the message lists what there is.
    let p = dir.path().join("v5.mat");
    std::fs::copy(fixture("v5.mat"), &p).unwrap();
    err_of(&p, &o("RF"), &["no variable `RF`", "IQ (single [4, 3, 5])", "note (char"]);
    // A variable of a class ulm cannot use.
    err_of(&p, &o("note"), &["`note` is char"]);
    // Truncated.
    let bytes = std::fs::read(&p).unwrap();
    let t = dir.path().join("cut.mat");
    for cut in [bytes.len() - 100, bytes.len() / 3, 200] {
        std::fs::write(&t, &bytes[..cut]).unwrap();
        err_of(&t, &o("IQ"), &["truncated"]);
    }
    std::fs::write(&t, b"MATLAB 5.0 MAT-file").unwrap();
    err_of(&t, &o("IQ"), &["MAT-file"]);
    // v7.3 and plain HDF5.
    let p = dir.path().join("v73.mat");
    std::fs::copy(fixture("v73.mat"), &p).unwrap();
    err_of(&p, &o("RF"), &["no variable/dataset `RF`", "IQ16"]);
    let p = dir.path().join("text.h5");
    std::fs::write(&p, "not hdf5 at all").unwrap();
    err_of(&p, &ReadOptions::default(), &["cannot open as HDF5"]);
    // Unknown extension and content.
    let p = dir.path().join("frames.bin");
    std::fs::write(&p, [0u8; 64]).unwrap();
    err_of(&p, &ReadOptions::default(), &["unknown frame format"]);
    let p = dir.path().join("absent.npy");
    err_of(&p, &ReadOptions::default(), &["no such file"]);
}

#[test]
fn image_problems() {
    let dir = tempfile::tempdir().unwrap();
    let frames = dir.path().join("frames");
    std::fs::create_dir(&frames).unwrap();
    meta_in(&frames);
    err_of(&frames, &ReadOptions::default(), &["no .png"]);
    ulm_io::write_png_gray8(&frames.join("a1.png"), &Array2::zeros((4, 5))).unwrap();
    ulm_io::write_png_gray8(&frames.join("a2.png"), &Array2::zeros((4, 6))).unwrap();
    let e = err_of(&frames, &ReadOptions::default(), &["frame 1 is 4×6 pixels, frame 0 is 4×5"]);
    assert!(e.contains("a2.png"), "{e}");
    let mut rgb = Array3::<u8>::zeros((4, 5, 3));
    rgb[[1, 1, 0]] = 200;
    let p = dir.path().join("colour.png");
    ulm_io::write_png_rgb8(&p, &rgb).unwrap();
    meta_in(dir.path());
    err_of(&p, &ReadOptions::default(), &["colour image"]);
    // Grey stored as RGB is fine.
    rgb[[1, 1, 0]] = 0;
    ulm_io::write_png_rgb8(&p, &rgb).unwrap();
    assert!(read_frames(&p, &ReadOptions::default()).is_ok());
}

#[test]
fn sidecar_problems_name_the_sidecar() {
    let dir = tempfile::tempdir().unwrap();
    let frames = dir.path().join("f.npy");
    write_npy(&frames, &Array3::<f32>::ones((3, 4, 5))).unwrap();
    let m = dir.path().join("meta.json");
    let base = r#""frame_rate_hz": 100, "pixel_size_x_mm": 0.1, "pixel_size_z_mm": 0.1, "x0_mm": 0, "z0_mm": 1"#;
    let cases = [
        (format!("{{{base}}}"), vec!["missing key `wavelength_mm`"]),
        (
            format!(r#"{{{base}, "wavelength": 0.1}}"#),
            vec!["missing key `wavelength_mm`", "unrecognised keys present: wavelength"],
        ),
        (format!(r#"{{{base}, "wavelength_mm": -0.1}}"#), vec!["wavelength_mm must be finite and > 0"]),
        (format!(r#"{{{base}, "wavelength_mm": "0.1"}}"#), vec!["invalid meta.json", "invalid type"]),
        (
            format!(r#"{{{base}, "center_frequency_hz": 0, "speed_of_sound_m_s": 1540}}"#),
            vec!["center_frequency_hz must be > 0"],
        ),
        (format!(r#"{{{base}, "wavelength_mm": 0.1, "rows": 7}}"#), vec!["`rows` is 7", "has 4 rows"]),
        ("{ not json".to_string(), vec!["invalid meta.json"]),
    ];
    for (text, words) in cases {
        std::fs::write(&m, &text).unwrap();
        let e = read_frames(&frames, &ReadOptions::default()).unwrap_err().to_string();
        assert!(e.contains("meta.json"), "{e}");
        for w in words {
            assert!(e.contains(w), "`{w}` not in: {e}");
        }
    }
    // A named sidecar that does not exist.
    let o = ReadOptions { meta: Some(dir.path().join("nope.json")), ..ReadOptions::default() };
    let e = read_frames(&frames, &o).unwrap_err().to_string();
    assert!(e.contains("nope.json"), "{e}");
}

#[test]
fn csv_problems() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("locs.csv");
    let check = |text: &str, words: &[&str], tracks: bool| {
        std::fs::write(&p, text).unwrap();
        let e = if tracks { read_tracks(&p).unwrap_err() } else { read_localizations(&p).unwrap_err() }.to_string();
        assert!(e.contains("locs.csv"), "{e}");
        for w in words {
            assert!(e.contains(w), "`{w}` not in: {e}");
        }
    };
    check("frame,z_mm\n0,1\n", &["missing required column `x_mm`"], false);
    check("", &["missing required column `frame`"], false);
    check("frame,x_mm,z_mm\n0,1,2\n1,2,zz\n", &["line 3", "`z_mm`", "`zz`"], false);
    check("frame,x_mm,z_mm\n-1,1,2\n", &["`frame`", "`-1`"], false);
    check("frame,x_mm,z_mm\n0,1\n", &["malformed"], false);
    check("frame,x_mm,z_mm\n0,inf,2\n", &["non-finite"], false);
    check("frame,x_mm,z_mm\n0,1,2\n", &["missing required column `track_id`"], true);
    check("track_id,frame,x_mm,z_mm\n1,0,1,NaN\n", &["non-finite"], true);
    check("track_id,frame,x_mm,z_mm\nA,0,1,2\n", &["`track_id`", "`A`"], true);
    // Extra columns and optional ones are fine.
    std::fs::write(&p, "frame,x_mm,z_mm,score,note\n0,1,2,0.5,hello\n").unwrap();
    let l = read_localizations(&p).unwrap();
    assert_eq!(l.extra[0].values, vec!["hello".to_string()]);
}

#[test]
fn failed_writes_keep_the_old_file() {
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("map.png");
    ulm_io::write_png_gray8(&png, &Array2::from_elem((2, 2), 7)).unwrap();
    let before = std::fs::read(&png).unwrap();
    assert!(ulm_io::write_png_gray8(&png, &Array2::zeros((0, 3))).is_err());
    assert_eq!(std::fs::read(&png).unwrap(), before);

    let csv = dir.path().join("locs.csv");
    let mut l = Localizations::new();
    l.push(0, 1.0, 2.0, 1.0);
    ulm_io::write_localizations(&csv, &l).unwrap();
    let before = std::fs::read(&csv).unwrap();
    l.x_mm.push(3.0); // columns of different lengths: invalid
    assert!(ulm_io::write_localizations(&csv, &l).is_err());
    assert_eq!(std::fs::read(&csv).unwrap(), before);
    // Nothing else (no temporary file) is left in the folder.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
}
