//! `ulm eval` map metrics: Dice, MTF and FRC from the command line.

use assert_cmd::Command;
use ndarray::Array2;
use predicates::str::contains;

fn ulm() -> Command {
    Command::cargo_bin("ulm").unwrap()
}

#[test]
fn dice_of_two_maps() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Pred covers 6 pixels, GT 4, 2 in common: Dice = 2·2 / (6 + 4) = 0.4.
    let mut pred = Array2::<f32>::zeros((4, 5));
    let mut gt = Array2::<f32>::zeros((4, 5));
    for c in 0..3 {
        pred[[1, c]] = 1.0;
        pred[[2, c]] = 0.5;
    }
    for c in 1..4 {
        gt[[1, c]] = 2.0;
    }
    gt[[3, 4]] = 0.1;
    ulm_io::write_npy(&d.join("pred.npy"), &pred).unwrap();
    ulm_io::write_npy(&d.join("gt.npy"), &gt).unwrap();
    let out = ulm()
        .args(["-q", "eval", "--map"])
        .arg(d.join("pred.npy"))
        .arg("--gt-map")
        .arg(d.join("gt.npy"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["dice"]["score"]["overlap"], 2);
    assert_eq!(v["dice"]["score"]["dice"], 2.0 * 2.0 / 10.0);
    // Above 0.6: pred keeps row 1 (3 px), GT row 1 (3 px), 2 in common.
    let out = ulm()
        .args(["-q", "eval", "--dice-rule", "above", "--dice-level", "0.6", "--map"])
        .arg(d.join("pred.npy"))
        .arg("--gt-map")
        .arg(d.join("gt.npy"))
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["dice"]["score"]["dice"], 2.0 * 2.0 / 6.0);
    ulm().args(["eval", "--gt-map"]).arg(d.join("gt.npy")).assert().code(1).stderr(contains("--map"));
    ulm()
        .args(["eval", "--dice-rule", "half", "--map"])
        .arg(d.join("pred.npy"))
        .arg("--gt-map")
        .arg(d.join("gt.npy"))
        .assert()
        .code(1)
        .stderr(contains("--dice-rule"));
    // A rule with a level needs the level.
    ulm()
        .args(["eval", "--dice-rule", "frac", "--map"])
        .arg(d.join("pred.npy"))
        .arg("--gt-map")
        .arg(d.join("gt.npy"))
        .assert()
        .code(1)
        .stderr(contains("--dice-level"));
}

#[test]
fn mtf_and_frc_write_curves() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("meta.json"),
        r#"{"frame_rate_hz": 1000.0, "pixel_size_x_mm": 0.1, "pixel_size_z_mm": 0.1, "x0_mm": 0.0,
            "z0_mm": 0.0, "wavelength_mm": 0.2, "rows": 20, "cols": 20}"#,
    )
    .unwrap();
    // Vertical lines every 0.2 mm, localized in every frame: the MTF along x peaks at
    // 5 cycles/mm.
    let mut csv = String::from("frame,x_mm,z_mm\n");
    for f in 0..20 {
        for k in 0..8 {
            for j in 0..40 {
                csv += &format!("{f},{},{}\n", 0.25 + 0.2 * k as f64, 0.1 + 0.04 * j as f64 + 0.001 * f as f64);
            }
        }
    }
    std::fs::write(d.join("locs.csv"), csv).unwrap();
    ulm().args(["-q", "render", "--locs"]).arg(d.join("locs.csv")).arg("--out-dir").arg(d).assert().success();
    let curves = d.join("curves");
    let out = ulm()
        .args(["-q", "eval", "--map"])
        .arg(d.join("loc_density.npy"))
        .args(["--mtf-line", "0.1,1.0,1.9,1.0", "--mtf-norm", "max", "--frc-locs"])
        .arg(d.join("locs.csv"))
        .arg("--curves-dir")
        .arg(&curves)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["frc"]["halves"][0].as_u64().unwrap() > 0);
    let mtf = std::fs::read_to_string(curves.join("mtf.csv")).unwrap();
    let rows: Vec<(f64, f64)> = mtf
        .lines()
        .skip(1)
        .map(|l| {
            let (a, b) = l.split_once(',').unwrap();
            (a.parse().unwrap(), b.parse().unwrap())
        })
        .collect();
    let peak = rows.iter().skip(1).max_by(|a, b| a.1.total_cmp(&b.1)).unwrap();
    assert!((peak.0 - 5.0).abs() < 0.6, "MTF peak at {} cycles/mm", peak.0);
    for f in ["mtf.png", "frc.csv", "frc.png"] {
        assert!(curves.join(f).is_file(), "{f}");
    }
}
