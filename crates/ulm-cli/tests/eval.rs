//! `ulm eval` on hand-made tables (values checked by hand) and on a simulation.

use assert_cmd::Command;
use predicates::str::contains;

const META: &str = r#"{"frame_rate_hz": 1000, "pixel_size_x_mm": 0.05, "pixel_size_z_mm": 0.05,
  "x0_mm": 0, "z0_mm": 1, "wavelength_mm": 0.1, "rows": 40}"#;

#[test]
fn hand_made_tables_give_hand_computed_scores() {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n);
    std::fs::write(p("meta.json"), META).unwrap();
    // Frame 0: the greedy trap of the pairing tests (gate 0.05 mm = λ/2): P0–G0 0.03, P1–G1
    // 0.045 are both kept although P1–G0 (0.02) is closer. Frame 1: one FN, one FP.
    std::fs::write(p("gt.csv"), "frame,x_mm,z_mm\n0,0.03,1.5\n0,0.095,1.5\n1,1.0,2.5\n").unwrap();
    std::fs::write(p("pred.csv"), "frame,x_mm,z_mm,score\n0,0.0,1.5,1\n0,0.05,1.5,1\n1,1.5,2.5,1\n").unwrap();
    let json = p("report.json");
    Command::cargo_bin("ulm")
        .unwrap()
        .args(["eval", "--pred"])
        .arg(p("pred.csv"))
        .arg("--gt")
        .arg(p("gt.csv"))
        .arg("--json")
        .arg(&json)
        .assert()
        .success()
        .stdout(contains("precision"));
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let o = &v["report"]["overall"];
    assert_eq!((o["tp"].as_u64(), o["fp"].as_u64(), o["fn"].as_u64()), (Some(2), Some(1), Some(1)));
    let rmse = ((0.03f64.powi(2) + 0.045f64.powi(2)) / 2.0).sqrt();
    assert!((o["rmse_mm"].as_f64().unwrap() - rmse).abs() < 1e-9);
    assert!((o["rmse_wavelengths"].as_f64().unwrap() - rmse / 0.1).abs() < 1e-9);
    // Bands over the image depth: rows 40 × 0.05 mm from 0.975 to 2.975 mm.
    let bands = v["report"]["bands"].as_array().unwrap();
    assert_eq!(bands.len(), 3);
    assert!((bands[0]["z_min_mm"].as_f64().unwrap() - 0.975).abs() < 1e-9);
    assert!((bands[2]["z_max_mm"].as_f64().unwrap() - 2.975).abs() < 1e-9);
    assert_eq!(bands[0]["tp"], 2);
    assert_eq!(bands[2]["fn"], 1);
    // PALA's tighter gate λ/4 = 0.025 mm admits only P1–G0 (0.02): one pair.
    Command::cargo_bin("ulm")
        .unwrap()
        .args(["eval", "--gate-wavelengths", "0.25", "--pred"])
        .arg(p("pred.csv"))
        .arg("--gt")
        .arg(p("gt.csv"))
        .arg("--json")
        .arg(&json)
        .assert()
        .success();
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(v["report"]["overall"]["tp"], 1);
}

#[test]
fn missing_inputs_are_named() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("meta.json"), META).unwrap();
    std::fs::write(dir.path().join("gt.csv"), "frame,x_mm,z_mm\n0,0,1\n").unwrap();
    Command::cargo_bin("ulm")
        .unwrap()
        .args(["eval", "--pred", "nope.csv", "--gt"])
        .arg(dir.path().join("gt.csv"))
        .assert()
        .code(1)
        .stderr(contains("nope.csv"));
    Command::cargo_bin("ulm").unwrap().args(["eval"]).assert().code(1).stderr(contains("--pred"));
    std::fs::write(dir.path().join("bad.csv"), "frame,x\n0,1\n").unwrap();
    Command::cargo_bin("ulm")
        .unwrap()
        .args(["eval", "--pred"])
        .arg(dir.path().join("bad.csv"))
        .arg("--gt")
        .arg(dir.path().join("gt.csv"))
        .assert()
        .code(1)
        .stderr(contains("bad.csv"));
}
