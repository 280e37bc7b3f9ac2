//! Whole-CLI behaviour: exit codes and the end-to-end demo.

use assert_cmd::Command;
use predicates::str::contains;

#[test]
fn usage_errors_exit_1_and_help_exits_0() {
    Command::cargo_bin("ulm").unwrap().arg("--no-such-option").assert().code(1).stderr(contains("--no-such-option"));
    Command::cargo_bin("ulm").unwrap().args(["track", "--memory", "minus-one"]).assert().code(1);
    Command::cargo_bin("ulm").unwrap().arg("--help").assert().code(0).stdout(contains("mm/s"));
}

#[test]
fn demo_runs_the_whole_pipeline_and_scores_sensibly() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("demo");
    // Radial, and the shipped U-Net beside it (on 2 frames: it is slow on a CPU).
    Command::cargo_bin("ulm")
        .unwrap()
        .args(["-q", "demo", "--frames", "120", "--seed", "3", "--methods", "radial,unet", "--learned-frames", "2"])
        .arg("--out")
        .arg(&out)
        .assert()
        .success();
    for f in [
        "sim/iq.npy",
        "sim/gt.csv",
        "radial/locs.csv",
        "radial/tracks.csv",
        "radial/eval.json",
        "radial/maps/track_density.png",
        "unet/locs.csv",
        "unet/eval.json",
        "report.html",
        "pipeline.toml",
    ] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    let unet: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("unet/eval.json")).unwrap()).unwrap();
    assert_eq!(unet["frames"], 2, "the U-Net localized the first 2 frames");
    let eval: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("radial/eval.json")).unwrap()).unwrap();
    // The radial-symmetry localizer on sparse simulated data: most bubbles found, sub-λ/4 error.
    let text = eval.to_string();
    let recall = find_number(&eval, "recall").unwrap_or_else(|| panic!("no recall in {text}"));
    let rmse = find_number(&eval, "rmse_wavelengths").unwrap_or_else(|| panic!("no rmse_wavelengths in {text}"));
    assert!(recall > 0.6, "recall {recall}");
    assert!(rmse < 0.25, "RMSE {rmse} λ");
}

/// First number stored under `key` anywhere in the JSON tree (depth-first).
fn find_number(v: &serde_json::Value, key: &str) -> Option<f64> {
    match v {
        serde_json::Value::Object(m) => {
            m.get(key).and_then(|x| x.as_f64()).or_else(|| m.values().find_map(|x| find_number(x, key)))
        }
        serde_json::Value::Array(a) => a.iter().find_map(|x| find_number(x, key)),
        _ => None,
    }
}
