//! The training loop: batches, AdamW with a backbone learning-rate multiplier, global
//! gradient clipping, schedule, validation, checkpoints with exact resume, records.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use burn::lr_scheduler::module_lr_scheduler::ModuleLrScheduler;
use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamGroup, ParamId};
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use ulm_data::{Sample, SampleSource};

use crate::TrainError;
use crate::adamw::FusedAdamW;
use crate::config::TrainConfig;
use crate::records::{MetricsWriter, plot};
use crate::task::TrainTask;
use crate::validate::{ValidationScores, calibrate, coco_stats};

/// What the loop reports while it runs (the CLI draws a progress bar from it).
pub trait TrainObserver {
    /// Training starts (or resumes) at `first_step` (steps already done) of `total`.
    fn start(&mut self, _first_step: usize, _total: usize) {}
    /// A step finished.
    fn step(&mut self, _info: &StepInfo<'_>) {}
    /// A validation finished after `step` steps.
    fn validation(&mut self, _step: usize, _scores: &ValidationScores) {}
    /// Something worth telling the user (a skipped step, a checkpoint).
    fn message(&mut self, _msg: &str) {}
}

impl TrainObserver for () {}

/// One finished step, for [`TrainObserver::step`].
#[derive(Debug, Clone)]
pub struct StepInfo<'a> {
    /// Steps done (1-based).
    pub step: usize,
    /// Total steps.
    pub total: usize,
    /// Base learning rate of the step.
    pub lr: f64,
    /// Total loss (NaN when skipped).
    pub loss: f64,
    /// Loss components, named by `names`.
    pub components: &'a [f64],
    /// Names of the components.
    pub names: &'a [&'static str],
    /// Whether the step was skipped (non-finite loss or gradients).
    pub skipped: bool,
}

/// Options of one [`train`] call besides the loop settings.
#[derive(Debug, Default)]
pub struct RunOptions<'a> {
    /// Continue from `<run>/checkpoint` instead of starting (a new run refuses to
    /// overwrite an existing checkpoint).
    pub resume: bool,
    /// Set (e.g. by a Ctrl-C handler) to stop after the current step with a checkpoint.
    pub stop: Option<&'a AtomicBool>,
    /// The resolved configuration file to store as `<run>/config.toml`.
    pub resolved_config: Option<String>,
    /// Start from these weights (a folder written by the task's `save_weights`).
    pub init_weights: Option<PathBuf>,
}

/// How a [`train`] call ended.
#[derive(Debug, Clone)]
pub struct TrainOutcome {
    /// The run folder.
    pub run_dir: PathBuf,
    /// Steps done in total (including before a resume).
    pub steps_done: usize,
    /// Stopped early by the stop flag (a checkpoint was written).
    pub interrupted: bool,
    /// Steps skipped for non-finite loss or gradients (this call).
    pub skipped_steps: usize,
    /// Best validation so far, with its step.
    pub best: Option<(usize, ValidationScores)>,
    /// The last validation of this call.
    pub last: Option<ValidationScores>,
    /// Wall time of training so far (all calls), s.
    pub wall_s: f64,
}

/// The loop state saved in `checkpoint/state.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct LoopState {
    /// Steps done. Batch order, augmentation and dropout of step `s` are drawn from
    /// `(seed, s)` alone, so this is the whole RNG state and data position.
    step: usize,
    seed: u64,
    best: Option<(usize, ValidationScores)>,
    wall_s: f64,
}

/// `best/calibration.json`: the validation of the best weights, whose `scores.threshold`
/// is the score threshold to use with them.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// Steps done when these weights were validated.
    pub step: usize,
    /// Their validation scores at the calibrated threshold.
    pub scores: ValidationScores,
}

/// SplitMix64 finaliser: a well-mixed 64-bit hash of `x`.
pub fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Sample indices (and augmentation seeds) of 0-based `step`: epochs are random
/// permutations of `0..n` drawn from `seed`; position `step · batch + k` of the stream.
pub fn batch_indices(seed: u64, step: usize, batch: usize, n: usize) -> Vec<(usize, u64)> {
    let mut out = Vec::with_capacity(batch);
    let mut perm: Option<(usize, Vec<usize>)> = None;
    for k in 0..batch {
        let pos = step * batch + k;
        let epoch = pos / n;
        if perm.as_ref().is_none_or(|p| p.0 != epoch) {
            let mut p: Vec<usize> = (0..n).collect();
            p.shuffle(&mut ChaCha8Rng::seed_from_u64(mix(seed ^ mix(epoch as u64 + 1))));
            perm = Some((epoch, p));
        }
        let idx = perm.as_ref().map(|p| p.1[pos % n]).unwrap_or(0);
        out.push((idx, mix(seed.wrapping_add(mix(pos as u64 + 0x1234)))));
    }
    out
}

/// Gives every parameter the id of its position in the module (from a fixed base), so that
/// optimiser states saved by one process find their parameters in another.
struct Reid(u64);

impl ModuleMapper for Reid {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let (_, value, mapper) = param.consume();
        self.0 += 1;
        Param::from_mapped_value(ParamId::from(self.0), value, mapper)
    }
}

/// Deterministic parameter ids (see [`Reid`]).
pub fn reid<M: Module>(model: M) -> M {
    model.map(&mut Reid(1 << 40))
}

struct SqNorm<'a> {
    grads: &'a GradientsParams,
    sq: f64,
}

impl ModuleVisitor for SqNorm<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(g) = self.grads.get::<D>(param.id) {
            self.sq += f64::from(g.powi_scalar(2).sum().into_scalar::<f32>());
        }
    }
}

struct ScaleGrads<'a> {
    grads: &'a mut GradientsParams,
    factor: f64,
}

impl ModuleVisitor for ScaleGrads<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(g) = self.grads.remove::<D>(param.id) {
            self.grads.register::<D>(param.id, g * self.factor);
        }
    }
}

/// Global L2 norm of the gradients of `model`'s parameters.
pub fn grad_norm<M: Module>(model: &M, grads: &GradientsParams) -> f64 {
    let mut v = SqNorm { grads, sq: 0.0 };
    model.visit(&mut v);
    v.sq.sqrt()
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> TrainError + '_ {
    move |source| TrainError::Io { path: path.to_path_buf(), source }
}

/// Writes a folder atomically: `fill` writes into `<dir>.tmp`, which then replaces `dir`.
fn write_dir_atomically(dir: &Path, fill: impl FnOnce(&Path) -> Result<(), TrainError>) -> Result<(), TrainError> {
    let tmp = dir.with_extension("tmp");
    let old = dir.with_extension("old");
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(io(&tmp))?;
    }
    std::fs::create_dir_all(&tmp).map_err(io(&tmp))?;
    fill(&tmp)?;
    if dir.exists() {
        if old.exists() {
            std::fs::remove_dir_all(&old).map_err(io(&old))?;
        }
        std::fs::rename(dir, &old).map_err(io(dir))?;
    }
    std::fs::rename(&tmp, dir).map_err(io(&tmp))?;
    if old.exists() {
        std::fs::remove_dir_all(&old).map_err(io(&old))?;
    }
    Ok(())
}

fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), TrainError> {
    let text = serde_json::to_string_pretty(value).map_err(|e| TrainError::Config(e.to_string()))?;
    ulm_io::atomic_write_bytes(path, text.as_bytes())
        .map_err(|e| TrainError::Write { path: path.to_path_buf(), message: e.to_string() })
}

/// Validates `model` on (at most `max_samples` of) `val`.
///
/// # Errors
/// [`TrainError::Data`] if the source is empty.
pub fn validate<T: TrainTask>(
    task: &T,
    model: &T::Model,
    val: &dyn SampleSource,
    config: &TrainConfig,
    device: &Device,
) -> Result<ValidationScores, TrainError> {
    let v = &config.validation;
    let n = if v.max_samples == 0 { val.len() } else { val.len().min(v.max_samples) };
    if n == 0 {
        return Err(TrainError::Data("the validation source is empty".into()));
    }
    let model = model.valid();
    let infer = device.clone().inner();
    let mut preds = Vec::with_capacity(n);
    let mut truth = Vec::with_capacity(n);
    let mut boxes = Vec::with_capacity(n);
    let mut wavelength = f64::NAN;
    for start in (0..n).step_by(v.batch_size) {
        let batch: Vec<Sample> = (start..(start + v.batch_size).min(n)).map(|i| val.sample(i, None)).collect();
        wavelength = batch[0].geometry.wavelength_mm;
        preds.extend(task.predict(&model, &batch, &infer));
        for s in batch {
            boxes.push((s.geometry, s.width, s.height, s.boxes));
            truth.push(s.centers_mm);
        }
    }
    let mut scores = calibrate(&preds, &truth, v.gate_wavelengths * wavelength, wavelength);
    // COCO AP/AR on the same predictions (reported; the checkpoint choice stays by F1 at λ/2).
    if let Some(c) = coco_stats(&preds, &boxes).map_err(|e| TrainError::Data(format!("COCO evaluation: {e}")))? {
        (scores.coco_ap, scores.coco_ap50, scores.coco_ap75, scores.coco_ar100) = (c.ap, c.ap50, c.ap75, c.ar100);
    }
    Ok(scores)
}

/// Serialises [`train`] calls within one process: the backend RNG is global.
static TRAIN_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The process-wide lock that [`train`] holds for a whole run. Hold it while drawing from
/// the backend's global RNG (e.g. initialising a model) in a process where a training may
/// run at the same time (parallel tests): otherwise the draws interleave with the run's
/// dropout and the run is no longer determined by its seed.
pub fn backend_rng_lock() -> std::sync::MutexGuard<'static, ()> {
    // A panicked run elsewhere leaves no state behind that matters here: ignore poisoning.
    TRAIN_LOCK.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Trains `task` on `train`, validating on `val`, recording into
/// `<runs_dir>/<name>/`: `config.toml` (the resolved configuration, when given),
/// `train.json` (the loop settings), `metrics.csv`, `curves.png`, `checkpoint/` (weights,
/// `optimizer.bin`, `state.json`) and `best/` (the weights with the best validation F1 and
/// `calibration.json` holding their score threshold).
///
/// Deterministic given `config.seed`: initialisation, batch order, augmentation and
/// dropout all derive from it and the step number; a resumed run continues exactly.
/// The backend's random generator is process-wide, so concurrent calls in one process
/// (e.g. parallel tests) would interleave their dropout draws: `train` holds a process-wide
/// lock for the whole run, and such calls run one after another.
///
/// # Errors
/// Bad settings, unreadable/unwritable files, an empty source, a checkpoint that exists
/// when not resuming (or is missing when resuming), or a task error.
pub fn train<T: TrainTask>(
    task: &T,
    config: &TrainConfig,
    train: &dyn SampleSource,
    val: &dyn SampleSource,
    device: &Device,
    options: RunOptions<'_>,
    observer: &mut dyn TrainObserver,
) -> Result<TrainOutcome, TrainError> {
    config.validate()?;
    if train.is_empty() {
        return Err(TrainError::Data("the training source is empty".into()));
    }
    let _serial = backend_rng_lock();
    let run_dir = Path::new(&config.runs_dir).join(&config.name);
    let ckpt_dir = run_dir.join("checkpoint");
    let best_dir = run_dir.join("best");
    std::fs::create_dir_all(&run_dir).map_err(io(&run_dir))?;
    let ckpt_old = ckpt_dir.with_extension("old");
    if !options.resume && (ckpt_dir.exists() || ckpt_old.exists()) {
        return Err(TrainError::Exists(ckpt_dir));
    }

    device.seed(config.seed);
    let mut model = reid(task.init_model(device));
    if let Some(init) = &options.init_weights {
        model = task.load_weights(model, init).map_err(TrainError::Task)?;
    } else if !options.resume {
        // Only from scratch: a resumed run's checkpoint replaces every weight below, and its
        // pretrained source may be gone by then.
        let (m, note) = task.pretrained_init(model).map_err(TrainError::Task)?;
        model = m;
        if let Some(note) = note {
            observer.message(&note);
        }
    }
    model = task.freeze(model, config.freeze);
    let o = &config.optimizer;
    let mut optim: ModuleOptimizer =
        FusedAdamW::new(o.beta1 as f32, o.beta2 as f32, o.epsilon as f32, o.weight_decay as f32).init();

    let mut state = LoopState { step: 0, seed: config.seed, best: None, wall_s: 0.0 };
    if options.resume {
        // A crash between the two renames of an atomic folder write leaves only `.old`.
        let dir = if ckpt_dir.exists() { ckpt_dir.clone() } else { ckpt_old.clone() };
        let state_path = dir.join("state.json");
        let text = std::fs::read_to_string(&state_path).map_err(io(&state_path))?;
        state = serde_json::from_str(&text)
            .map_err(|e| TrainError::Checkpoint { path: state_path.clone(), message: e.to_string() })?;
        if state.seed != config.seed {
            return Err(TrainError::Checkpoint {
                path: state_path,
                message: format!("checkpoint seed {} differs from the config's {}", state.seed, config.seed),
            });
        }
        model = task.load_weights(model, &dir).map_err(TrainError::Task)?;
        let opt_path = dir.join("optimizer.bin");
        let bytes = std::fs::read(&opt_path).map_err(io(&opt_path))?;
        optim = optim
            .from_bytes(burn::tensor::Bytes::from_bytes_vec(bytes))
            .map_err(|e| TrainError::Checkpoint { path: opt_path, message: format!("{e:?}") })?;
    }
    if let Some(text) = &options.resolved_config {
        let p = run_dir.join("config.toml");
        ulm_io::atomic_write_bytes(&p, text.as_bytes())
            .map_err(|e| TrainError::Write { path: p.clone(), message: e.to_string() })?;
    }
    write_json(&run_dir.join("train.json"), config)?;

    let names = task.loss_names();
    let csv = run_dir.join("metrics.csv");
    let mut metrics = MetricsWriter::open(&csv, &names, options.resume.then_some(state.step))?;
    let save_checkpoint = |model: &T::Model, optim: &ModuleOptimizer, state: &LoopState| {
        write_dir_atomically(&ckpt_dir, |dir| {
            task.save_weights(model, dir).map_err(TrainError::Task)?;
            let bytes = optim
                .into_bytes()
                .map_err(|e| TrainError::Write { path: dir.join("optimizer.bin"), message: format!("{e:?}") })?;
            let p = dir.join("optimizer.bin");
            ulm_io::atomic_write_bytes(&p, &bytes)
                .map_err(|e| TrainError::Write { path: p.clone(), message: e.to_string() })?;
            write_json(&dir.join("state.json"), state)
        })
    };

    observer.start(state.step, config.steps);
    let t0 = Instant::now();
    let wall_before = state.wall_s;
    let mut skipped_steps = 0;
    let mut last = None;
    let mut interrupted = false;
    while state.step < config.steps {
        if options.stop.is_some_and(|s| s.load(Ordering::SeqCst)) {
            interrupted = true;
            break;
        }
        let s = state.step;
        device.seed(mix(config.seed ^ mix(s as u64 + 7)));
        let batch: Vec<Sample> = batch_indices(config.seed, s, config.batch_size, train.len())
            .into_iter()
            .map(|(i, aug)| train.sample(i, config.augment.then_some(aug)))
            .collect();
        let lr = o.lr * config.schedule.factor(s, config.steps);
        let mut skipped = None;
        let mut loss_value = f64::NAN;
        let mut components = vec![f64::NAN; names.len()];
        let mut norm = f64::NAN;
        match task.loss(&model, &batch, device) {
            Err(reason) => skipped = Some(reason),
            Ok(loss) => {
                loss_value = f64::from(loss.total.clone().into_scalar::<f32>());
                components = loss.components;
                if !loss_value.is_finite() {
                    skipped = Some(format!("non-finite loss {loss_value}"));
                } else {
                    let mut grads = GradientsParams::from_grads(loss.total.backward(), &model);
                    norm = grad_norm(&model, &grads);
                    if !norm.is_finite() {
                        skipped = Some(format!("non-finite gradient norm {norm}"));
                    } else {
                        if o.grad_clip_norm > 0.0 && norm > o.grad_clip_norm {
                            let factor = o.grad_clip_norm / (norm + 1e-6);
                            model.visit(&mut ScaleGrads { grads: &mut grads, factor });
                        }
                        let lrs = ModuleLrScheduler::new(lr)
                            .with_group(ParamGroup::from_predicate(task.backbone_path()), lr * o.backbone_lr_multiplier)
                            .step();
                        model = optim.step(lrs, model, grads);
                    }
                }
            }
        }
        if let Some(reason) = &skipped {
            skipped_steps += 1;
            observer.message(&format!("step {}: skipped ({reason})", s + 1));
        }
        state.step += 1;
        state.wall_s = wall_before + t0.elapsed().as_secs_f64();
        observer.step(&StepInfo {
            step: state.step,
            total: config.steps,
            lr,
            loss: loss_value,
            components: &components,
            names: &names,
            skipped: skipped.is_some(),
        });
        let every = config.validation.every;
        let mut val_scores = None;
        if (every > 0 && state.step.is_multiple_of(every)) || state.step == config.steps {
            let v = validate(task, &model, val, config, device)?;
            observer.validation(state.step, &v);
            if state.best.as_ref().is_none_or(|b| v.f1 > b.1.f1) {
                state.best = Some((state.step, v));
                write_dir_atomically(&best_dir, |dir| {
                    task.save_weights(&model, dir).map_err(TrainError::Task)?;
                    write_json(&dir.join("calibration.json"), &Calibration { step: state.step, scores: v })
                })?;
            }
            val_scores = Some(v);
            last = Some(v);
        }
        metrics.row(
            state.step,
            lr,
            loss_value,
            &components,
            norm,
            skipped.is_some(),
            state.wall_s,
            val_scores.as_ref(),
        )?;
        if val_scores.is_some() {
            plot(&csv, &run_dir.join("curves.png"))?;
        }
        let ck = config.checkpoint_every;
        if (ck > 0 && state.step.is_multiple_of(ck)) || state.step == config.steps {
            save_checkpoint(&model, &optim, &state)?;
        }
    }
    if interrupted {
        save_checkpoint(&model, &optim, &state)?;
        observer.message(&format!("interrupted: checkpoint after step {} saved", state.step));
    }
    plot(&csv, &run_dir.join("curves.png"))?;
    Ok(TrainOutcome {
        run_dir,
        steps_done: state.step,
        interrupted,
        skipped_steps,
        best: state.best,
        last,
        wall_s: state.wall_s,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_cover_each_epoch_once_and_are_deterministic() {
        let n = 10;
        let mut seen: Vec<usize> = (0..5).flat_map(|s| batch_indices(3, s, 2, n)).map(|p| p.0).collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..10).collect::<Vec<_>>());
        assert_eq!(batch_indices(3, 7, 4, n), batch_indices(3, 7, 4, n));
        assert_ne!(batch_indices(3, 0, 10, n), batch_indices(4, 0, 10, n));
    }
}
