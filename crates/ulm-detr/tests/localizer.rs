//! `DetrLocalizer` on real model folders: a tiny DE-DETR trained for a few steps by
//! `ulm_train::train` (the folder exactly as the trainer writes it), a DETR folder packaged
//! by hand, and the errors for missing or corrupt files.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use ulm_core::{Detection, Geometry, Localizer, NoProgress};
use ulm_data::sim_source::SimSource;
use ulm_detr::localizer::folder::{
    CALIBRATION_FILE, INFERENCE_FILE, MODEL_CONFIG_FILE, TRAIN_CONFIG_FILE, WEIGHTS_FILE,
};
use ulm_detr::train::{DataSpec, DeformableDetrTask, TrainFile};
use ulm_detr::weights::save_model;
use ulm_detr::{DetrConfig, DetrLocalizer, ModelFolder, Refine};
use ulm_train::{Calibration, RunOptions, ValidationScores, train};

fn train_toml(runs: &Path, kind: &str) -> String {
    format!(
        r#"
[train]
name = "tiny"
runs_dir = "{}"
steps = 3
batch_size = 2
checkpoint_every = 0
[train.validation]
every = 0
max_samples = 2
[train.schedule]
warmup_steps = 2
[model]
kind = "{kind}"
num_queries = 8
[data.train]
source = "sim"
preset = "sparse"
size = 32
simulations = 1
frames_per_simulation = 4
seed = 11
box_px = 4.0
dynamic_range_db = 30.0
bubbles_per_frame = 3.0
[data.val]
source = "sim"
preset = "sparse"
size = 32
simulations = 1
frames_per_simulation = 2
seed = 90
box_px = 4.0
dynamic_range_db = 30.0
bubbles_per_frame = 3.0
"#,
        runs.display().to_string().replace('\\', "/")
    )
}

/// Trains the tiny DE-DETR for 3 steps; returns `runs/tiny/best`.
fn trained(runs: &Path) -> PathBuf {
    let file = TrainFile::parse(&train_toml(runs, "deformable-detr"), Path::new("test.toml")).unwrap();
    let (DataSpec::Sim(tc), DataSpec::Sim(vc)) = (&file.data.train, &file.data.val) else {
        panic!("the test config renders simulator patches");
    };
    let (tr, va) = (SimSource::new(tc).unwrap(), SimSource::new(vc).unwrap());
    let task = DeformableDetrTask::from_spec(&file.model);
    let opts = RunOptions { resolved_config: Some(file.to_toml()), ..RunOptions::default() };
    train(&task, &file.train, &tr, &va, &Device::flex().autodiff(), opts, &mut ()).unwrap();
    runs.join("tiny/best")
}

/// A 2-frame simulated stack of 40 × 50 pixels (not a multiple of the 32-px patch).
fn stack() -> ulm_core::FrameStack {
    let mut cfg = ulm_sim::SimConfig::small(ulm_sim::Preset::Sparse, 40, 50);
    cfg.bubbles.per_frame = 4.0;
    ulm_sim::simulate(&cfg, 2, 5, &NoProgress).unwrap().iq
}

fn check(dets: &[Detection], g: &Geometry, per_frame_max: usize) {
    let (x0, x1) = (g.col_to_x_mm(-0.5), g.col_to_x_mm(49.5));
    let (z0, z1) = (g.row_to_z_mm(-0.5), g.row_to_z_mm(39.5));
    for d in dets {
        assert!(d.frame == 3 || d.frame == 4, "{d:?}");
        assert!((x0..x1).contains(&d.x_mm) && (z0..z1).contains(&d.z_mm), "outside the frame: {d:?}");
        let (w, h) = d.size_mm.expect("detectors predict a box");
        // Box sides are fractions of the 32-px patch.
        assert!(w >= 0.0 && h >= 0.0 && w <= 32.0 * g.pixel_size_x_mm && h <= 32.0 * g.pixel_size_z_mm, "{d:?}");
        assert!((0.0..=1.0).contains(&d.score));
    }
    assert!(dets.windows(2).all(|w| w[0].frame <= w[1].frame));
    for f in [3, 4] {
        assert!(dets.iter().filter(|d| d.frame == f).count() <= per_frame_max);
    }
}

fn expect_error(dir: &Path, file: &str, what: &str) {
    let e = DetrLocalizer::load(dir).map(|_| ()).unwrap_err().to_string();
    assert!(e.contains(file), "{what}: error does not name {file}: {e}");
}

#[test]
fn trained_folder_localizes_and_bad_folders_name_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let best = trained(tmp.path());
    // The trainer's folder as it stands (train config read from the run's config.toml).
    let folder = ModelFolder::open(&best).unwrap();
    assert_eq!(folder.train_path, tmp.path().join("tiny/config.toml"));
    assert_eq!(folder.patch_size(), 32);
    let mut loc = DetrLocalizer::load(&best).unwrap();
    assert_eq!(loc.name(), "de-detr");
    assert_eq!(loc.config().score_threshold, folder.calibration.scores.threshold);
    assert_eq!((loc.config().patch, loc.config().overlap, loc.config().top_k), (32, 4, 100));
    let stack = stack();
    let env = stack.envelope();
    let g = *stack.geometry();
    for refine in [Refine::None, Refine::Radial] {
        let mut cfg = loc.config().clone();
        cfg.score_threshold = 0.0; // 3 steps of training: keep every query
        cfg.refine = refine;
        cfg.batch_size = 3;
        loc.set_config(cfg).unwrap();
        let dets = loc.localize_frames(env.view(), 3, &g);
        // 4 tiles of 8 queries per frame, then merged.
        check(&dets, &g, 32);
        assert!(!dets.is_empty());
        // One frame at a time gives the same detections (batching does not change them).
        let one = loc.localize_frame(env.index_axis(ndarray::Axis(0), 1), 4, &g);
        let two: Vec<Detection> = dets.iter().filter(|d| d.frame == 4).copied().collect();
        assert_eq!(one.len(), two.len());
        for (a, b) in one.iter().zip(&two) {
            assert!(
                (a.x_mm - b.x_mm).abs() < 1e-4 && (a.z_mm - b.z_mm).abs() < 1e-4 && (a.score - b.score).abs() < 1e-4
            );
        }
    }

    // Packaged: self-contained, same settings.
    let pkg = tmp.path().join("pkg");
    let packaged = ModelFolder::package(&tmp.path().join("tiny"), &pkg).unwrap();
    assert_eq!(packaged.train_path, pkg.join(TRAIN_CONFIG_FILE));
    assert!(pkg.join("metrics.csv").is_file());
    assert_eq!(DetrLocalizer::load(&pkg).unwrap().config(), DetrLocalizer::load(&best).unwrap().config());

    // The pitch: the simulated patches' (λ/2) unless inference.json chooses another, with
    // its threshold; a bad inference.json is an error naming it.
    assert_eq!(folder.pixel_pitch_wavelengths(), Some(0.5));
    assert_eq!(loc.config().pixel_pitch_wavelengths, Some(0.5));
    let chosen = tmp.path().join("chosen");
    ModelFolder::package(&tmp.path().join("tiny"), &chosen).unwrap();
    let choice = r#"{"pixel_pitch_wavelengths": 0.3, "score_threshold": 0.77, "selected_on": "by hand"}"#;
    std::fs::write(chosen.join(INFERENCE_FILE), choice).unwrap();
    let c = DetrLocalizer::load(&chosen).unwrap().config().clone();
    assert_eq!((c.pixel_pitch_wavelengths, c.score_threshold), (Some(0.3), 0.77));
    let dets = DetrLocalizer::load(&chosen).unwrap().localize_frames(env.view(), 3, &g);
    check(&dets, &g, 32);
    for bad in
        [r#"{"pixel_pitch_wavelengths": 0.3}"#, r#"{"pixel_pitch_wavelengths": 0, "score_threshold": 0.5}"#, "[1"]
    {
        std::fs::write(chosen.join(INFERENCE_FILE), bad).unwrap();
        expect_error(&chosen, INFERENCE_FILE, bad);
    }

    // Missing and corrupt files: each error names the file.
    for file in [WEIGHTS_FILE, MODEL_CONFIG_FILE, CALIBRATION_FILE, TRAIN_CONFIG_FILE] {
        let bad = tmp.path().join(format!("bad-{file}"));
        ModelFolder::package(&tmp.path().join("tiny"), &bad).unwrap();
        std::fs::remove_file(bad.join(file)).unwrap();
        expect_error(&bad, file, "missing");
        std::fs::write(bad.join(file), b"{ not what it should be").unwrap();
        expect_error(&bad, file, "corrupt");
    }
    // A truncated weights file, and weights that do not fit the configuration.
    let bad = tmp.path().join("truncated");
    ModelFolder::package(&tmp.path().join("tiny"), &bad).unwrap();
    let w = std::fs::read(bad.join(WEIGHTS_FILE)).unwrap();
    std::fs::write(bad.join(WEIGHTS_FILE), &w[..w.len() / 2]).unwrap();
    expect_error(&bad, WEIGHTS_FILE, "truncated");
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(pkg.join(MODEL_CONFIG_FILE)).unwrap()).unwrap();
    assert_eq!(json["num_queries"], 8);
    json["num_queries"] = 9.into();
    std::fs::write(pkg.join(MODEL_CONFIG_FILE), json.to_string()).unwrap();
    expect_error(&pkg, WEIGHTS_FILE, "mismatched");
    expect_error(&tmp.path().join("nowhere"), "nowhere", "missing folder");
}

#[test]
fn detr_folder_localizes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("detr");
    let config = DetrConfig::tiny().with_num_queries(8);
    save_model(&config.init(&Device::flex()), &config, &dir).unwrap();
    let scores = ValidationScores {
        threshold: 0.0,
        precision: 0.0,
        recall: 0.0,
        f1: 0.0,
        rmse_wavelengths: f64::NAN,
        n_truth: 0,
        coco_ap: f64::NAN,
        coco_ap50: f64::NAN,
        coco_ap75: f64::NAN,
        coco_ar100: f64::NAN,
    };
    let cal = serde_json::to_string(&Calibration { step: 0, scores }).unwrap();
    std::fs::write(dir.join(CALIBRATION_FILE), cal).unwrap();
    let toml = train_toml(tmp.path(), "detr");
    std::fs::write(dir.join(TRAIN_CONFIG_FILE), &toml).unwrap();
    let loc = DetrLocalizer::load(&dir).unwrap();
    assert_eq!(loc.name(), "detr");
    let stack = stack();
    let dets = loc.localize_frames(stack.envelope().view(), 3, stack.geometry());
    // Threshold 0: DETR keeps every query whose best class beats nothing (all of them).
    check(&dets, stack.geometry(), 32);
    assert!(!dets.is_empty());
    // A folder whose training config says Deformable DETR over DETR weights: an error
    // naming the configuration or the weights that do not fit it.
    std::fs::write(dir.join(TRAIN_CONFIG_FILE), toml.replace("\"detr\"", "\"deformable-detr\"")).unwrap();
    let e = DetrLocalizer::load(&dir).map(|_| ()).unwrap_err().to_string();
    assert!(e.contains(MODEL_CONFIG_FILE) || e.contains(WEIGHTS_FILE), "{e}");
}
