//! `ulm dataset` end to end: outputs, COCO content against the ground truth, split report,
//! randomised mix, errors.

use std::path::Path;

use assert_cmd::Command;
use predicates::str::contains;

fn ulm() -> Command {
    Command::cargo_bin("ulm").unwrap()
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn frames_and_gt_to_coco_with_split_report() {
    let dir = tempfile::tempdir().unwrap();
    let sim = dir.path().join("sim");
    ulm()
        .args(["-q", "simulate", "--preset", "sparse", "--frames", "30", "--rows", "40", "--cols", "48", "--seed", "2"])
        .arg("--out")
        .arg(&sim)
        .assert()
        .success();
    let out = dir.path().join("ds");
    ulm()
        .args(["-q", "dataset", "--frames"])
        .arg(sim.join("envelope.npy"))
        .arg("--gt")
        .arg(sim.join("gt.csv"))
        .args(["--patch", "32", "--overlap", "8", "--split", "0.6,0.2,0.2", "--gap", "3", "--out"])
        .arg(&out)
        .assert()
        .success();
    let report = json(&out.join("dataset.json"));
    let split = &report["report"]["split"];
    // 30 − 2 × 3 = 24 usable → 14 / 5 / 5 (0.6 · 24 = 14.4 → 14, 0.2 · 24 = 4.8 → 5).
    assert_eq!(split["train"], serde_json::json!({"start": 0, "end": 14}));
    assert_eq!(split["val"], serde_json::json!({"start": 17, "end": 22}));
    assert_eq!(split["test"], serde_json::json!({"start": 25, "end": 30}));
    assert!(split["correlation_across_gap"].is_f64());
    // The simulator's PSF model sized the boxes (meta.json carries it).
    assert_eq!(report["config"]["boxes"]["kind"], "psf");
    let g = ulm_io::read_meta(&sim.join("meta.json")).unwrap().geometry(&sim.join("meta.json")).unwrap();
    let gt = ulm_io::read_localizations(&sim.join("gt.csv")).unwrap();
    let coco = ulm_io::coco::read_coco(&out.join("train.json")).unwrap();
    // 40 × 48 in 32² patches, overlap 8: 2 × 2 tiles per frame.
    assert_eq!(coco.images.len(), 14 * 4);
    assert!(out.join("train").join("000000.png").is_file());
    assert!(coco.info.contains_key("ulm_intensity"));
    // Every box is centred on a ground-truth bubble of its frame, in patch pixels.
    assert!(!coco.annotations.is_empty());
    for a in &coco.annotations {
        let im = coco.images.iter().find(|i| i.id == a.image_id).unwrap();
        let u = &im.extra["ulm"];
        let frame = u["frame"].as_u64().unwrap() as u32;
        let (x0, z0) = (u["x0_mm"].as_f64().unwrap(), u["z0_mm"].as_f64().unwrap());
        let [x, y, w, h] = a.bbox;
        let (xc, zc) = (x0 + (x + w / 2.0 - 0.5) * g.pixel_size_x_mm, z0 + (y + h / 2.0 - 0.5) * g.pixel_size_z_mm);
        let hit = (0..gt.len())
            .any(|i| gt.frame[i] == frame && (gt.x_mm[i] - xc).abs() < 1e-5 && (gt.z_mm[i] - zc).abs() < 1e-5);
        assert!(hit, "box {:?} of frame {frame} is on no bubble", a.bbox);
    }
    let val = ulm_io::coco::read_coco(&out.join("val.json")).unwrap();
    assert_eq!(val.images.len(), 5 * 4);
}

#[test]
fn from_sim_auto_gap_and_randomized_mix() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("a");
    ulm()
        .args(["-q", "dataset", "--from-sim", "dense", "--n-frames", "60", "--rows", "40", "--cols", "40"])
        .args(["--patch", "64", "--gap", "auto", "--max-gap", "10", "--out"])
        .arg(&out)
        .assert()
        .success();
    let r = json(&out.join("dataset.json"));
    let s = &r["report"]["split"];
    assert!(s["gap"].as_u64().unwrap() <= 10);
    assert!(!s["correlation_vs_lag"].as_array().unwrap().is_empty());
    // 40 × 40 frames in 64² patches: padded, the valid area recorded.
    let coco = ulm_io::coco::read_coco(&out.join("train.json")).unwrap();
    assert_eq!((coco.images[0].width, coco.images[0].extra["ulm"]["valid_cols"].as_u64()), (64, Some(40)));

    let out = dir.path().join("r");
    ulm()
        .args(["-q", "dataset", "--randomized", "24", "--patch", "32", "--frames-per-acquisition", "8"])
        .args(["--presets", "sparse,dense", "--seed", "4", "--out"])
        .arg(&out)
        .assert()
        .success();
    let r = json(&out.join("dataset.json"));
    // 3 acquisitions: 2 train (0.8 · 3 = 2.4), 0 val, 1 test.
    let blocks: Vec<_> =
        r["report"]["blocks"].as_array().unwrap().iter().map(|b| b["name"].as_str().unwrap().to_string()).collect();
    assert_eq!(blocks, ["train", "test"]);
    assert_eq!(ulm_io::coco::read_coco(&out.join("train.json")).unwrap().images.len(), 16);
    assert_eq!(r["acquisitions"].as_array().unwrap().len(), 3);
}

#[test]
fn bad_input_errors_name_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x");
    ulm().args(["dataset", "--out"]).arg(&out).assert().code(1);
    ulm()
        .args([
            "dataset",
            "--from-sim",
            "sparse",
            "--n-frames",
            "10",
            "--rows",
            "32",
            "--cols",
            "32",
            "--split",
            "0.5,0.5",
        ])
        .arg("--out")
        .arg(&out)
        .assert()
        .code(1)
        .stderr(contains("--split"));
    ulm()
        .args(["dataset", "--frames", "nope.npy", "--gt", "nope.csv", "--out"])
        .arg(&out)
        .assert()
        .code(1)
        .stderr(contains("nope.npy"));
    ulm()
        .args(["dataset", "--randomized", "4", "--presets", "cortexx", "--out"])
        .arg(&out)
        .assert()
        .code(1)
        .stderr(contains("cortexx"));
    ulm()
        .args(["dataset", "--from-sim", "sparse", "--n-frames", "10", "--rows", "32", "--cols", "32", "--grid", "40x1"])
        .arg("--out")
        .arg(&out)
        .assert()
        .code(1)
        .stderr(contains("tiles"));
}
