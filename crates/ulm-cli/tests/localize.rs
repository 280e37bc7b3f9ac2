//! `ulm localize` end to end on a small simulation, and its errors.

use std::path::Path;

use assert_cmd::Command;
use predicates::prelude::PredicateBooleanExt as _;
use predicates::str::contains;

fn simulate(dir: &Path, preset: &str) {
    Command::cargo_bin("ulm")
        .unwrap()
        .args(["-q", "simulate", "--preset", preset, "--frames", "20", "--rows", "64", "--cols", "64"])
        .args(["--bubbles-per-frame", "5", "--seed", "3", "--out"])
        .arg(dir)
        .assert()
        .success();
}

#[test]
fn localizes_every_method_and_writes_its_config() {
    let dir = tempfile::tempdir().unwrap();
    simulate(dir.path(), "sparse");
    for method in ["no-shift", "centroid", "gaussian", "radial", "interp", "morph"] {
        let out = dir.path().join(format!("{method}.csv"));
        Command::cargo_bin("ulm")
            .unwrap()
            .args(["-q", "localize"])
            .arg(dir.path().join("iq.npy"))
            .args(["--method", method, "--out"])
            .arg(&out)
            .assert()
            .success();
        let text = std::fs::read_to_string(&out).unwrap();
        let mut lines = text.lines();
        assert_eq!(lines.next().unwrap(), "frame,x_mm,z_mm,score");
        let rows: Vec<Vec<f64>> = lines.map(|l| l.split(',').map(|v| v.parse().unwrap()).collect()).collect();
        assert!(rows.len() >= 20, "{method}: only {} localizations in 20 frames", rows.len());
        assert!(rows.iter().all(|r| r[0] < 20.0 && r[1].is_finite() && r[2] > 0.0));
        let cfg: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join(format!("{method}.config.json"))).unwrap())
                .unwrap();
        assert_eq!(cfg["localizer"], method);
        assert_eq!(cfg["config"]["patch"], 5);
    }
}

#[test]
fn bad_options_and_inputs_fail_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    simulate(dir.path(), "sparse");
    let iq = dir.path().join("iq.npy");
    let out = dir.path().join("x.csv");
    let run = |extra: &[&str]| {
        Command::cargo_bin("ulm").unwrap().args(["-q", "localize"]).arg(&iq).arg("--out").arg(&out).args(extra).assert()
    };
    run(&["--method", "magic"])
        .code(1)
        .stderr(contains("invalid value 'magic' for '--method").and(contains("no-shift")));
    run(&["--patch", "4"]).code(1).stderr(contains("patch must be odd"));
    run(&["--method", "unet"]).code(1).stderr(contains("--weights"));
    run(&["--method", "unet", "--weights", "no/such/dir"]).code(1).stderr(contains("no/such/dir/config.json"));
    Command::cargo_bin("ulm")
        .unwrap()
        .args(["-q", "localize", "does/not/exist.npy", "--out"])
        .arg(&out)
        .assert()
        .code(1)
        .stderr(contains("does/not/exist.npy"));
    assert!(!out.exists(), "nothing written on failure");
}
