//! `ulm render` end to end: files, shapes and values.

use std::path::Path;

use assert_cmd::Command;
use predicates::str::contains;

const META: &str = r#"{"frame_rate_hz": 1000.0, "pixel_size_x_mm": 0.1, "pixel_size_z_mm": 0.1,
  "x0_mm": 0.05, "z0_mm": 0.05, "wavelength_mm": 0.2, "rows": 20, "cols": 30}"#;

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

fn npy_2d(p: &Path) -> ndarray::Array2<f32> {
    ulm_io::read_npy_f32(p).unwrap().into_dimensionality().unwrap()
}

#[test]
fn renders_every_map_from_locs_and_tracks() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "meta.json", META);
    write(d, "locs.csv", "frame,x_mm,z_mm\n0,1.01,1.01\n1,2.01,0.51\n");
    // One track down the column x = 1.01 mm from z = 0.21 to 1.01 mm in 2 frames (400 mm/s).
    write(d, "tracks.csv", "track_id,frame,x_mm,z_mm\n7,0,1.01,0.21\n7,2,1.01,1.01\n");
    let out = d.join("maps");
    Command::cargo_bin("ulm")
        .unwrap()
        .args(["-q", "render", "--locs"])
        .arg(d.join("locs.csv"))
        .arg("--tracks")
        .arg(d.join("tracks.csv"))
        .arg("--out-dir")
        .arg(&out)
        .args(["--prefix", "t_"])
        .assert()
        .success();
    for name in ["loc_density", "track_density", "speed", "direction"] {
        assert!(out.join(format!("t_{name}.png")).is_file(), "{name}.png");
    }
    // λ/10 = 0.02 mm pixels over 2 × 3 mm (meta rows × cols): 100 × 150.
    let loc = npy_2d(&out.join("t_loc_density.npy"));
    assert_eq!(loc.dim(), (100, 150));
    assert!((loc.sum() - 2.0).abs() < 1e-3, "unit mass per localization");
    let dens = npy_2d(&out.join("t_track_density.npy"));
    // Column (1.01 − 0.01) / 0.02 = 50, rows 10..=50.
    assert_eq!(dens.sum(), 41.0);
    assert!((10..=50).all(|r| dens[[r, 50]] == 1.0));
    let speed = npy_2d(&out.join("t_speed.npy"));
    assert!((speed[[30, 50]] - 400.0).abs() < 1e-3);
    assert_eq!(npy_2d(&out.join("t_direction.npy"))[[30, 50]], 1.0);
    let cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("t_render.config.json")).unwrap()).unwrap();
    assert_eq!(cfg["grid"]["rows"], 100);
    assert_eq!(cfg["maps"]["t_track_density"]["max"], 1.0);
}

#[test]
fn nothing_to_render_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    Command::cargo_bin("ulm")
        .unwrap()
        .args(["render", "--out-dir"])
        .arg(dir.path())
        .assert()
        .code(1)
        .stderr(contains("nothing to render"));
    write(dir.path(), "meta.json", META);
    write(dir.path(), "locs.csv", "frame,x_mm,z_mm\n0,1.0,1.0\n");
    Command::cargo_bin("ulm")
        .unwrap()
        .args(["render", "--locs"])
        .arg(dir.path().join("locs.csv"))
        .args(["--pixel-mm", "0", "--out-dir"])
        .arg(dir.path())
        .assert()
        .code(1)
        .stderr(contains("pixel size"));
}
