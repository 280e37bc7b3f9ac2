//! `ulm track` end to end on tiny hand-made inputs.

use std::path::Path;

use assert_cmd::Command;
use predicates::prelude::PredicateBooleanExt;
use predicates::str::contains;

const META: &str = r#"{"frame_rate_hz": 500.0, "pixel_size_x_mm": 0.1, "pixel_size_z_mm": 0.1,
  "x0_mm": 0.0, "z0_mm": 0.0, "wavelength_mm": 0.2}"#;

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn ulm() -> Command {
    Command::cargo_bin("ulm").unwrap()
}

#[test]
fn links_two_bubbles_with_velocities_in_mm_per_s() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "meta.json", META);
    // Bubble A moves +0.02 mm/frame in x (10 mm/s at 500 Hz), B −0.04 mm/frame in z,
    // A is missed in frame 2; a lone detection in frame 4 is a 1-point track.
    let mut csv = String::from("frame,x_mm,z_mm,score\n");
    for f in 0..5 {
        if f != 2 {
            csv += &format!("{f},{},1.0,1\n", 0.02 * f as f64);
        }
        csv += &format!("{f},3.0,{},1\n", 5.0 - 0.04 * f as f64);
    }
    csv += "4,8.0,8.0,1\n";
    let locs = write(dir.path(), "locs.csv", &csv);
    let out = dir.path().join("tracks.csv");
    ulm()
        .args(["-q", "track"])
        .arg(&locs)
        .args(["--memory", "1", "--min-length", "2", "--out"])
        .arg(&out)
        .assert()
        .success();
    let text = std::fs::read_to_string(&out).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("track_id,frame,x_mm,z_mm,vx_mm_s,vz_mm_s"));
    let rows: Vec<Vec<f64>> = lines.map(|l| l.split(',').map(|c| c.parse().unwrap()).collect()).collect();
    assert_eq!(rows.len(), 9, "4 + 5 points; the 1-point track is dropped");
    for r in &rows {
        let (vx, vz) = (r[4], r[5]);
        if r[3] == 1.0 {
            assert!((vx - 10.0).abs() < 1e-9 && vz == 0.0, "{r:?}");
        } else {
            assert!(vx == 0.0 && (vz + 20.0).abs() < 1e-9, "{r:?}");
        }
    }
    assert_eq!(rows.iter().filter(|r| r[0] == rows[0][0]).count(), if rows[0][3] == 1.0 { 4 } else { 5 });
    let cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("tracks.config.json")).unwrap()).unwrap();
    assert_eq!(cfg["link"]["memory"], 1);
    assert_eq!(cfg["link"]["search_range_mm"], 0.2, "default search range is one wavelength");
    assert_eq!(cfg["predictor"], "velocity");
    assert_eq!(cfg["link"]["index"], "grid", "the grid hash is the default index");
}

#[test]
fn kdtree_and_grid_indexes_write_identical_tracks() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "meta.json", META);
    // 30 bubbles drifting on a tight lattice, so that candidates overlap.
    let mut csv = String::from("frame,x_mm,z_mm\n");
    for f in 0..8 {
        for k in 0..30 {
            let (x, z) = (0.15 * (k % 6) as f64 + 0.03 * f as f64, 0.15 * (k / 6) as f64 + 0.01 * ((k * f) % 3) as f64);
            csv += &format!("{f},{x},{z}\n");
        }
    }
    let locs = write(dir.path(), "locs.csv", &csv);
    let mut outputs = Vec::new();
    for index in ["kdtree", "grid"] {
        let out = dir.path().join(format!("{index}.csv"));
        ulm().args(["-q", "track"]).arg(&locs).args(["--index", index, "--out"]).arg(&out).assert().success();
        let cfg: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join(format!("{index}.config.json"))).unwrap())
                .unwrap();
        assert_eq!(cfg["link"]["index"], index);
        outputs.push(std::fs::read_to_string(&out).unwrap());
    }
    assert!(outputs[0].lines().count() > 100, "most points are linked");
    assert_eq!(outputs[0], outputs[1]);
    ulm().args(["track"]).arg(&locs).args(["--index", "octree", "--out", "x.csv"]).assert().failure();
}

#[test]
fn bad_input_fails_cleanly_without_output() {
    let dir = tempfile::tempdir().unwrap();
    let locs = write(dir.path(), "locs.csv", "frame,x_mm,z_mm\n0,1.0,1.0\n");
    let out = dir.path().join("tracks.csv");
    // No meta.json beside the localizations.
    ulm().args(["track"]).arg(&locs).arg("--out").arg(&out).assert().code(1).stderr(contains("meta.json"));
    write(dir.path(), "meta.json", META);
    ulm()
        .args(["track"])
        .arg(&locs)
        .args(["--search-range-mm=-1", "--out"])
        .arg(&out)
        .assert()
        .code(1)
        .stderr(contains("search range"));
    let bad = write(dir.path(), "bad.csv", "frame,x_mm,z_mm\n0,abc,1.0\n");
    ulm().args(["track"]).arg(&bad).arg("--out").arg(&out).assert().code(1).stderr(contains("bad.csv"));
    let no_col = write(dir.path(), "nocol.csv", "frame,x_mm\n0,1.0\n");
    ulm().args(["track"]).arg(&no_col).arg("--out").arg(&out).assert().code(1).stderr(contains("z_mm"));
    assert!(!out.exists());
}

/// Rows of `frames` × `n` bubbles drifting on a lattice, in frame order.
fn lattice_rows(frames: u32, n: u32) -> Vec<String> {
    let mut rows = Vec::new();
    for f in 0..frames {
        for k in 0..n {
            let (x, z) = (0.3 * (k % 10) as f64 + 0.011 * f as f64, 0.3 * (k / 10) as f64 + 0.003 * (f % 4) as f64);
            rows.push(format!("{f},{x},{z}"));
        }
    }
    rows
}

/// A large CSV is read, linked and written at once: rows out of frame order give the
/// same bytes; a bad row far into the file fails with the file and line, leaves the
/// previous output as it was and no temporary file.
#[test]
fn large_input_streams_and_a_bad_row_mid_file_leaves_the_previous_output() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "meta.json", META);
    let rows = lattice_rows(300, 40);
    let sorted = write(dir.path(), "sorted.csv", &format!("frame,x_mm,z_mm\n{}\n", rows.join("\n")));
    let mut shuffled_rows = rows.clone();
    shuffled_rows.sort_by_key(|r| r.starts_with(|c: char| (c as u8).is_multiple_of(2))); // stable: odd first digits first
    let shuffled = write(dir.path(), "shuffled.csv", &format!("frame,x_mm,z_mm\n{}\n", shuffled_rows.join("\n")));
    let mut outputs = Vec::new();
    for (input, name) in [(&sorted, "a.csv"), (&shuffled, "b.csv")] {
        let out = dir.path().join(name);
        ulm().args(["-q", "track"]).arg(input).arg("--out").arg(&out).assert().success();
        outputs.push(std::fs::read_to_string(&out).unwrap());
    }
    assert_eq!(outputs[0].lines().count(), 300 * 40 + 1, "every point in a track");
    assert_eq!(outputs[0], outputs[1]);

    let mut bad_rows = rows;
    bad_rows[11_000] = bad_rows[11_000].replacen(',', ",x", 1);
    let bad = write(dir.path(), "bad.csv", &format!("frame,x_mm,z_mm\n{}\n", bad_rows.join("\n")));
    let out = write(dir.path(), "tracks.csv", "previous");
    ulm()
        .args(["track"])
        .arg(&bad)
        .arg("--out")
        .arg(&out)
        .assert()
        .code(1)
        .stderr(contains("bad.csv").and(contains("line 11002")).and(contains("x_mm")));
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "previous");
    let mut names: Vec<String> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    let want = ["a.config.json", "a.csv", "b.config.json", "b.csv", "bad.csv", "meta.json", "shuffled.csv"];
    assert_eq!(names, [&want[..], &["sorted.csv", "tracks.csv"]].concat());
}
