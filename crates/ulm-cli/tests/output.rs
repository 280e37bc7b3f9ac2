//! The output rules: a closed stdout pipe is not an error (exit 0, nothing on stderr),
//! results still land in their files, and `render --frames` reads frames like every
//! other command (`--dataset`, `--axis-order`).

use std::path::Path;
use std::process::Stdio;

use assert_cmd::cargo::CommandCargoExt as _;
use ndarray::{Array2, Array3};

/// Runs `ulm ARGS` with stdout a pipe whose reading end is closed before ulm writes:
/// like `ulm … | head -0`. Returns (exit code, stderr).
fn with_closed_stdout(args: &[&std::ffi::OsStr]) -> (Option<i32>, String) {
    let mut child = std::process::Command::cargo_bin("ulm")
        .unwrap()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Close the reading end at once: ulm has not even parsed its options yet, so every
    // write to stdout fails with EPIPE (SIGPIPE is ignored by the Rust runtime).
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn os(s: &str) -> &std::ffi::OsStr {
    s.as_ref()
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

const META: &str = r#"{"frame_rate_hz": 100, "pixel_size_x_mm": 0.1, "pixel_size_z_mm": 0.1,
  "x0_mm": 0, "z0_mm": 1, "wavelength_mm": 0.1}"#;

#[test]
fn closed_stdout_pipe_exits_0_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "meta.json", META);
    write(d, "gt.csv", "frame,x_mm,z_mm\n0,0.03,1.5\n1,1.0,2.5\n");
    write(d, "pred.csv", "frame,x_mm,z_mm\n0,0.031,1.5\n");
    let mut map = Array2::<f32>::zeros((4, 5));
    map[[1, 2]] = 1.0;
    ulm_io::write_npy(&d.join("m.npy"), &map).unwrap();
    let (p, g, m, j) = (d.join("pred.csv"), d.join("gt.csv"), d.join("m.npy"), d.join("eval.json"));

    // Localization metrics (a table on stdout), with the JSON report still written.
    let (code, err) = with_closed_stdout(&[
        os("eval"),
        os("--pred"),
        p.as_os_str(),
        os("--gt"),
        g.as_os_str(),
        os("--json"),
        j.as_os_str(),
    ]);
    assert_eq!(code, Some(0), "eval: {err}");
    assert!(err.is_empty(), "eval wrote to stderr: {err}");
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&j).unwrap()).unwrap();
    assert_eq!(v["command"], "eval");
    // Map metrics (JSON on stdout): this one used `print!`, which panics on EPIPE (exit 2).
    let (code, err) = with_closed_stdout(&[os("eval"), os("--map"), m.as_os_str(), os("--gt-map"), m.as_os_str()]);
    assert_eq!(code, Some(0), "eval --map: {err}");
    assert!(err.is_empty(), "eval --map wrote to stderr: {err}");
    // ulm info (text and JSON).
    for extra in [None, Some(os("--json"))] {
        let mut args = vec![os("info"), m.as_os_str()];
        args.extend(extra);
        let (code, err) = with_closed_stdout(&args);
        assert_eq!(code, Some(0), "info: {err}");
        assert!(err.is_empty(), "info wrote to stderr: {err}");
    }
}

#[test]
fn render_frames_reads_dataset_layout_options() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "meta.json", META);
    // A MATLAB-style stack stored [z, x, t] = [6, 8, 3]: a bright pixel at row 2, col 5.
    let zxt = Array3::<f32>::from_shape_fn((6, 8, 3), |(z, x, _)| if (z, x) == (2, 5) { 9.0 } else { 1.0 });
    ulm_io::write_npy(&d.join("frames.npy"), &zxt).unwrap();
    let out = d.join("maps");
    let run = |order: &str| {
        assert_cmd::Command::cargo_bin("ulm")
            .unwrap()
            .args(["-q", "render", "--frames"])
            .arg(d.join("frames.npy"))
            .args(["--axis-order", order, "--pixel-mm", "0.1", "--out-dir"])
            .arg(&out)
            .assert()
    };
    run("zxt").success();
    // Same pixel size as the frames: the temporal mean is the frames' mean, 6 × 8.
    let a =
        ulm_io::read_npy_f32(&out.join("temporal_mean.npy")).unwrap().into_dimensionality::<ndarray::Ix2>().unwrap();
    assert_eq!(a.shape(), &[6, 8]);
    assert_eq!(a[[2, 5]], 9.0);
    assert_eq!(a[[0, 0]], 1.0);
    let png = std::fs::read(out.join("temporal_mean.png")).unwrap();
    assert_eq!(&png[1..4], b"PNG");
    // Read as ulm's own layout the same file is 6 frames of 8 × 3: a different grid.
    run("tzx").success();
    let b = ulm_io::read_npy_f32(&out.join("temporal_mean.npy")).unwrap();
    assert_eq!(b.shape(), &[8, 3]);
}
