//! Training DE-DETR end to end on simulated patches: exact resume, the train.toml parser
//! under mutation, and a short run whose loss falls and whose validation recall rises.

use std::path::Path;

use burn::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use ulm_data::sim_source::{SimSource, SimSourceConfig};
use ulm_detr::backbone::BackboneConfig;
use ulm_detr::train::{DataSpec, DeformableDetrTask, DetrTask, ModelKind, ModelSpec, TrainFile};
use ulm_detr::weights::module_tensors;
use ulm_sim::Preset;
use ulm_train::{RunOptions, ScheduleKind, TrainConfig, TrainTask, backend_rng_lock, train};

fn source(size: usize, sims: usize, frames: usize, seed: u64, bubbles: f64) -> SimSource {
    let mut c = SimSourceConfig::new(Preset::Sparse, size, sims, frames, seed);
    c.bubbles_per_frame = Some(bubbles);
    SimSource::new(&c).unwrap()
}

fn loop_config(dir: &Path, name: &str, steps: usize) -> TrainConfig {
    let mut c = TrainConfig { name: name.into(), runs_dir: dir.display().to_string(), steps, ..TrainConfig::default() };
    c.batch_size = 2;
    c.checkpoint_every = 0;
    c.validation.every = 0;
    c.validation.max_samples = 2;
    c.schedule.warmup_steps = 2;
    c
}

fn weights<T: TrainTask>(task: &T, dir: &Path) -> Vec<(String, Vec<f32>)>
where
    T::Model: Module,
{
    let init = {
        let _rng = backend_rng_lock();
        task.init_model(&Device::flex())
    };
    let model = task.load_weights(init, dir).unwrap();
    module_tensors(&model).into_iter().map(|(k, v)| (k, v.data)).collect()
}

#[test]
fn resume_continues_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let data = source(32, 1, 6, 11, 3.0);
    let spec = ModelSpec { num_queries: 8, dropout: Some(0.1), ..ModelSpec::default() };
    let task = DeformableDetrTask::from_spec(&spec);
    let device = Device::flex().autodiff();
    let k = 3;
    // 2K steps straight.
    let straight = loop_config(tmp.path(), "straight", 2 * k);
    train(&task, &straight, &data, &data, &device, RunOptions::default(), &mut ()).unwrap();
    // K steps, then resume for K more (a new process would start from the same files).
    let mut split = loop_config(tmp.path(), "split", k);
    train(&task, &split, &data, &data, &device, RunOptions::default(), &mut ()).unwrap();
    split.steps = 2 * k;
    let opts = RunOptions { resume: true, ..RunOptions::default() };
    let out = train(&task, &split, &data, &data, &device, opts, &mut ()).unwrap();
    assert_eq!(out.steps_done, 2 * k);
    let a = weights(&task, &tmp.path().join("straight/checkpoint"));
    let b = weights(&task, &tmp.path().join("split/checkpoint"));
    assert_eq!(a.len(), b.len());
    let mut changed = 0;
    let init = {
        let _rng = backend_rng_lock();
        module_tensors(&task.init_model(&Device::flex()))
    };
    for ((ka, va), (kb, vb)) in a.iter().zip(&b) {
        assert_eq!(ka, kb);
        assert_eq!(va, vb, "{ka} differs after resume");
        if init.get(ka).is_some_and(|e| e.data != *va) {
            changed += 1;
        }
    }
    assert!(changed > a.len() / 2, "training changed only {changed} of {} tensors", a.len());
    // metrics.csv holds each step once.
    let csv = std::fs::read_to_string(tmp.path().join("split/metrics.csv")).unwrap();
    let steps: Vec<usize> = csv.lines().skip(1).map(|l| l.split(',').next().unwrap().parse().unwrap()).collect();
    assert_eq!(steps, (1..=2 * k).collect::<Vec<_>>());
    // A new run refuses to overwrite a checkpoint.
    let again = train(&task, &straight, &data, &data, &device, RunOptions::default(), &mut ());
    assert!(again.unwrap_err().to_string().contains("--resume"));
}

#[test]
fn proposal_nms_is_checked() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/train.example.toml");
    let text = std::fs::read_to_string(&root).unwrap();
    let with = |two_stage: bool, nms: &str| {
        let t = text.replace("two_stage = false", &format!("two_stage = {two_stage}\nproposal_nms = {nms}"));
        TrainFile::parse(&t, &root)
    };
    let file = with(true, "0.7").unwrap();
    assert_eq!(file.model.proposal_nms, Some(0.7));
    for (two_stage, nms) in [(false, "0.7"), (true, "0"), (true, "1.5"), (true, "nan")] {
        let e = with(two_stage, nms).unwrap_err().to_string();
        assert!(e.contains("proposal_nms") && e.contains("train.example.toml"), "{e}");
    }
    // By centre distance: into the model's config; exclusive with the IoU bound.
    let with_px = |two_stage: bool, extra: &str| {
        let t = text.replace("two_stage = false", &format!("two_stage = {two_stage}\n{extra}"));
        TrainFile::parse(&t, &root)
    };
    let file = with_px(true, "proposal_nms_px = 1.5").unwrap();
    assert_eq!(file.model.proposal_nms_px, Some(1.5));
    let task = DeformableDetrTask::from_spec(&file.model);
    assert_eq!((task.config.two_stage_nms_px, task.config.two_stage_nms), (Some(1.5), None));
    for (two_stage, extra) in [
        (false, "proposal_nms_px = 1.5"),
        (true, "proposal_nms_px = 0"),
        (true, "proposal_nms_px = -2"),
        (true, "proposal_nms_px = 1.5\nproposal_nms = 0.3"),
    ] {
        let e = with_px(two_stage, extra).unwrap_err().to_string();
        assert!(e.contains("proposal_nms_px") && e.contains("train.example.toml"), "{extra}: {e}");
    }
}

/// `feature_stage`: DETR reads the backbone stage asked for (stage 2 of `tiny`: stride 8,
/// 16 × 16 tokens from a 128² patch, 32 channels); other kinds and stages are errors.
#[test]
fn detr_feature_stage_sets_the_token_grid() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/train.example.toml");
    let text = std::fs::read_to_string(&root).unwrap();
    let with = |kind: &str, stage: &str| {
        let t = text
            .replace("kind = \"deformable-detr\"      #", &format!("kind = \"{kind}\"\nfeature_stage = {stage} #"))
            .replace("box_refine = true", "box_refine = false");
        TrainFile::parse(&t, &root)
    };
    let file = with("detr", "2").unwrap();
    assert_eq!(file.model.feature_stage, Some(2));
    let task = DetrTask::from_spec(&file.model);
    // Held for the whole test, not only the initialisation: a forward pass running beside
    // `resume_continues_exactly`'s training changed that run's weights in the last bits
    // (7 of 8 runs; none with the forward skipped), though it draws no random numbers.
    let _serial = backend_rng_lock();
    let model = task.init_model(&Device::flex());
    let features = model.backbone.forward(Tensor::<4>::zeros([1, 1, 128, 128], &Device::flex()));
    assert_eq!(features.len(), 1);
    assert_eq!(features[0].dims(), [1, 32, 16, 16]);
    // The default: stage 3, stride 16.
    let default = DetrTask::from_spec(&with("detr", "3").unwrap().model);
    let BackboneConfig::ResNet(r) = &default.config.backbone else { panic!("ResNet backbone") };
    assert_eq!(r.out_stages, vec![3]);
    for (kind, stage) in [("deformable-detr", "2"), ("detr", "0"), ("detr", "5")] {
        let e = with(kind, stage).unwrap_err().to_string();
        assert!(e.contains("feature_stage") && e.contains("train.example.toml"), "{kind} {stage}: {e}");
    }
}

#[test]
fn train_toml_mutations_give_errors_not_panics() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/train.example.toml");
    let text = std::fs::read_to_string(&root).unwrap();
    let file = TrainFile::parse(&text, &root).unwrap();
    assert_eq!(file.train.schedule.kind, ScheduleKind::Cosine);
    // The resolved form parses back to the same configuration.
    assert_eq!(TrainFile::parse(&file.to_toml(), &root).unwrap(), file);
    let lines: Vec<&str> = text.lines().collect();
    let tokens = ["-1", "0", "nan", "inf", "1e400", "\"x\"", "[", "]", "=", "true", "99999999999999999999", "#", "\""];
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let (mut errors, n) = (0, 400);
    for _ in 0..n {
        let mut l: Vec<String> = lines.iter().map(|s| s.to_string()).collect();
        let i = rng.random_range(0..l.len());
        match rng.random_range(0..5) {
            0 => {
                l.remove(i);
            }
            1 => {
                let dup = l[i].clone();
                l.insert(i, dup);
            }
            2 => {
                // Replace the value of a `key = value` line.
                if let Some(eq) = l[i].find('=') {
                    let t = tokens[rng.random_range(0..tokens.len())];
                    l[i] = format!("{}= {t}", &l[i][..eq]);
                }
            }
            3 => {
                // Delete one character.
                let chars: Vec<char> = l[i].chars().collect();
                if !chars.is_empty() {
                    let j = rng.random_range(0..chars.len());
                    l[i] = chars.iter().enumerate().filter(|(k, _)| *k != j).map(|(_, c)| c).collect();
                }
            }
            _ => {
                l.insert(i, "unknown_key = 1".into());
            }
        }
        match TrainFile::parse(&l.join("\n"), &root) {
            Ok(_) => {}
            Err(e) => {
                errors += 1;
                assert!(e.to_string().contains("train.example.toml"), "error does not name the file: {e}");
            }
        }
    }
    // Comment edits and benign deletions parse; most mutations must be caught.
    assert!(errors > n / 4 && errors < n, "{errors} of {n} mutations rejected");
}

/// The stated bar: after 300 steps (batch 4, 48×48 sparse patches, ~3 bubbles each) the
/// tiny DE-DETR's validation recall at a 2λ gate (4 px, the box size; threshold calibrated
/// for F1) exceeds 0.5, and the mean loss of the last 50 steps is below 60 % of the first
/// 50 steps'. (At λ/2 — 1 px — recall is still 0 after 200 steps: measured 2026-12-02,
/// loss 15.6 → 4.1, box centres ~2 px off; λ/2 needs the long runs.)
#[test]
fn tiny_deformable_detr_learns_on_simulated_patches() {
    let tmp = tempfile::tempdir().unwrap();
    let data = source(48, 8, 25, 100, 3.0);
    let val = source(48, 2, 10, 900, 3.0);
    let spec = ModelSpec { num_queries: 20, top_k: 20, ..ModelSpec::default() };
    let task = DeformableDetrTask::from_spec(&spec);
    let device = Device::flex().autodiff();
    let mut c = loop_config(tmp.path(), "learn", 300);
    c.batch_size = 4;
    c.optimizer.lr = 1e-3;
    c.optimizer.backbone_lr_multiplier = 1.0;
    c.optimizer.grad_clip_norm = 1.0;
    c.schedule.warmup_steps = 20;
    c.validation.every = 100;
    c.validation.max_samples = 0;
    c.validation.gate_wavelengths = 2.0;
    let out = train(&task, &c, &data, &val, &device, RunOptions::default(), &mut ()).unwrap();
    let csv = std::fs::read_to_string(tmp.path().join("learn/metrics.csv")).unwrap();
    let loss: Vec<f64> = csv.lines().skip(1).map(|l| l.split(',').nth(2).unwrap().parse().unwrap()).collect();
    let first = loss[..50].iter().sum::<f64>() / 50.0;
    let last = loss[loss.len() - 50..].iter().sum::<f64>() / 50.0;
    let v = out.last.unwrap();
    eprintln!("loss {first:.3} → {last:.3}; val P {:.3} R {:.3} F1 {:.3}", v.precision, v.recall, v.f1);
    assert!(last < 0.6 * first, "loss {first} → {last}");
    assert!(v.recall > 0.5, "validation recall {} at 2λ", v.recall);
    assert!(tmp.path().join("learn/curves.png").exists());
    assert!(tmp.path().join("learn/best/calibration.json").exists());
}

#[test]
fn every_shipped_config_parses_and_round_trips() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        // Only DETR-family train files (other model kinds have their own parsers).
        if path.extension().is_none_or(|e| e != "toml") || !text.contains("detr\"") {
            continue;
        }
        let file = TrainFile::parse(&text, &path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(TrainFile::parse(&file.to_toml(), &path).unwrap(), file, "{}", path.display());
        n += 1;
    }
    assert!(n >= 4, "only {n} DETR configs found in {}", dir.display());
    // A typo inside a randomised data table is an error naming the key.
    let bad = "[data.train]\nsource = \"randomized\"\nsampels = 3\n[data.val]\nsource = \"randomized\"\n";
    let err = TrainFile::parse(bad, Path::new("bad.toml")).unwrap_err().to_string();
    assert!(err.contains("bad.toml") && err.contains("sampels"), "{err}");
}

/// Every DETR training config in `configs/` parses, and its resolved form parses back to
/// the same configuration; the fine-tuning recipe reads COCO datasets with the shipped
/// model's patch side.
#[test]
fn every_detr_config_in_the_repo_parses() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let family = ["deformable-detr", "backbone-", "train."];
        if !(name.ends_with(".toml") && family.iter().any(|f| name.starts_with(f))) {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let file = TrainFile::parse(&text, &path).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(TrainFile::parse(&file.to_toml(), &path).unwrap(), file, "{name}");
        if name == "deformable-detr-finetune-coco.toml" {
            let (DataSpec::Coco(t), DataSpec::Coco(v)) = (&file.data.train, &file.data.val) else {
                panic!("{name}: COCO sources expected")
            };
            assert_eq!((t.patch, v.patch), (128, 128));
            assert!(t.augment.is_some() && v.augment.is_none());
        }
        if name == "deformable-detr-randomized-128-pretrained.toml" {
            // The from-scratch recipe with a pretrained backbone, and nothing else changed.
            let base = dir.join("deformable-detr-randomized-128.toml");
            let mut base = TrainFile::parse(&std::fs::read_to_string(&base).unwrap(), &base).unwrap();
            assert!(file.model.backbone_init.is_some());
            base.model.backbone_init = file.model.backbone_init.clone();
            base.train.name = file.train.name.clone();
            assert_eq!(file, base);
        }
        if name == "deformable-detr-randomized-128-long.toml" {
            // The pretrained recipe with distinct proposals and the long pretraining's backbone,
            // longer and on more acquisitions; nothing else changed.
            let base = dir.join("deformable-detr-randomized-128-pretrained.toml");
            let mut base = TrainFile::parse(&std::fs::read_to_string(&base).unwrap(), &base).unwrap();
            assert_eq!((file.train.steps, base.train.steps), (10_000, 5_000));
            assert_eq!((file.model.proposal_nms, base.model.proposal_nms), (Some(0.15), None));
            let pretraining = Path::new("runs/backbone-heatmap-128-long/best");
            assert_eq!(file.model.backbone_init.as_deref(), Some(pretraining));
            base.train.name = file.train.name.clone();
            base.train.steps = file.train.steps;
            base.train.checkpoint_every = file.train.checkpoint_every;
            base.train.validation.every = file.train.validation.every;
            base.model.proposal_nms = file.model.proposal_nms;
            base.model.backbone_init = file.model.backbone_init.clone();
            let (DataSpec::Randomized(b), DataSpec::Randomized(l)) = (&mut base.data.train, &file.data.train) else {
                panic!("{name}: randomised sources expected")
            };
            assert_eq!((l.samples, b.samples), (8192, 4096));
            b.samples = l.samples;
            assert_eq!(file, base);
            // its backbone comes from the long heatmap pretraining, on the same data
            let heat = dir.join("backbone-heatmap-128-long.toml");
            let heat = TrainFile::parse(&std::fs::read_to_string(&heat).unwrap(), &heat).unwrap();
            assert_eq!(Path::new(&heat.train.runs_dir).join(&heat.train.name).join("best"), pretraining);
            assert_eq!(heat.data, file.data);
        }
        if name == "deformable-detr-randomized-128-fine.toml" {
            // The long recipe on λ/3 patches (train and validation), 8,000 steps; nothing else.
            let base = dir.join("deformable-detr-randomized-128-long.toml");
            let mut base = TrainFile::parse(&std::fs::read_to_string(&base).unwrap(), &base).unwrap();
            assert_eq!((file.train.steps, base.train.steps), (8_000, 10_000));
            base.train.name = file.train.name.clone();
            base.train.steps = file.train.steps;
            for (b, f) in [(&mut base.data.train, &file.data.train), (&mut base.data.val, &file.data.val)] {
                let (DataSpec::Randomized(b), DataSpec::Randomized(f)) = (b, f) else {
                    panic!("{name}: randomised sources expected")
                };
                assert_eq!((b.pixel_size_wavelengths, f.pixel_size_wavelengths), (0.5, 1.0 / 3.0));
                b.pixel_size_wavelengths = f.pixel_size_wavelengths;
            }
            assert_eq!(file, base);
        }
        if name == "backbone-heatmap-128-long.toml" {
            // The short pretraining, longer and on the long recipe's data; nothing else changed.
            let base = dir.join("backbone-heatmap-128.toml");
            let mut base = TrainFile::parse(&std::fs::read_to_string(&base).unwrap(), &base).unwrap();
            assert_eq!((file.train.steps, base.train.steps), (8_000, 1_000));
            base.train.name = file.train.name.clone();
            base.train.steps = file.train.steps;
            base.train.checkpoint_every = file.train.checkpoint_every;
            base.train.validation.every = file.train.validation.every;
            base.data.train = file.data.train.clone();
            assert_eq!(file, base);
        }
        if name == "backbone-heatmap-128.toml" {
            // Pretrains on exactly the data of the randomised DE-DETR recipe.
            assert_eq!(file.model.kind, ModelKind::BackboneHeatmap);
            let ddetr = dir.join("deformable-detr-randomized-128.toml");
            let ddetr = TrainFile::parse(&std::fs::read_to_string(&ddetr).unwrap(), &ddetr).unwrap();
            assert_eq!(file.data, ddetr.data);
            assert_eq!((file.model.preset, file.model.norm_groups), (ddetr.model.preset, ddetr.model.norm_groups));
        }
        checked += 1;
    }
    assert!(checked >= 9, "{checked} configs");
}
