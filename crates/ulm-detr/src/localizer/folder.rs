//! The **model folder**: what [`DetrLocalizer`](super::DetrLocalizer) loads, defined once.
//!
//! | file | written by | holds |
//! |---|---|---|
//! | `model.safetensors` | `ulm train` (`runs/NAME/best/`) | the weights |
//! | `config.json` | `ulm train` | the burn model configuration ([`DeformableDetrConfig`](crate::DeformableDetrConfig) or [`DetrConfig`](crate::DetrConfig)) |
//! | `calibration.json` | `ulm train` | the validation of these weights; `scores.threshold` is the calibrated score threshold (max F1 at λ/2) |
//! | `inference.json` (optional) | chosen on validation frames ([`InferenceChoice`]) | the pixel pitch frames are resampled to and the score threshold at that pitch, overriding the training pitch and the calibrated threshold |
//! | `train.toml` | [`ModelFolder::package`] (a copy of `runs/NAME/config.toml`) | the resolved training configuration: the model kind and `top_k`, and the training data, from which inference takes the patch size and the input normalisation |
//!
//! `runs/NAME/best/` is a model folder as it stands: when it has no `train.toml`, the
//! run's `config.toml` one level up is read instead. [`ModelFolder::package`] makes a
//! self-contained folder (to ship or move) from a run: the three files of `best/`, the
//! run's `config.toml` as `train.toml`, and the training record (`metrics.csv`,
//! `curves.png`) when present.
//!
//! Every missing or unreadable file is an error naming it.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use ulm_data::Normalization;
use ulm_train::Calibration;

use super::resample::PITCH_RANGE_WAVELENGTHS;
use crate::error::{DetrError, Result};
use crate::train::{DataSpec, ModelKind, TrainFile};

/// Weights file of a model folder.
pub const WEIGHTS_FILE: &str = "model.safetensors";
/// Model configuration file of a model folder.
pub const MODEL_CONFIG_FILE: &str = "config.json";
/// Calibration (score threshold) file of a model folder.
pub const CALIBRATION_FILE: &str = "calibration.json";
/// Resolved training configuration of a model folder.
pub const TRAIN_CONFIG_FILE: &str = "train.toml";
/// Optional inference settings of a model folder ([`InferenceChoice`]).
pub const INFERENCE_FILE: &str = "inference.json";
/// Name of the resolved configuration in a run folder (`runs/NAME/config.toml`), read
/// when a folder (`runs/NAME/best/`) has no [`TRAIN_CONFIG_FILE`].
pub const RUN_CONFIG_FILE: &str = "config.toml";

/// How a patch of envelope is turned into the network's input; training and inference
/// must use the same one.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum InputNormalization {
    /// Log compression to `dynamic_range_db` below the patch peak, then zero mean and unit
    /// variance per patch ([`ulm_data::sim_source::normalize_peak_db`]; the simulator
    /// source of `ulm train`).
    PeakDb {
        /// Dynamic range below the peak, dB.
        dynamic_range_db: f32,
    },
    /// Background-referenced log compression ([`ulm_data::normalize_patch`]; the patch
    /// datasets of `ulm dataset` and the domain-randomised mix of `ulm train`).
    MedianDb(Normalization),
}

impl InputNormalization {
    /// The network input of a row-major `height × width` envelope patch whose valid area
    /// (the rest is reflection padding) is `valid_rows × valid_cols`.
    pub fn apply(
        &self,
        envelope: &[f32],
        width: usize,
        height: usize,
        valid_rows: usize,
        valid_cols: usize,
    ) -> Vec<f32> {
        match self {
            Self::PeakDb { dynamic_range_db } => {
                ulm_data::sim_source::normalize_peak_db(envelope, width, valid_rows, valid_cols, *dynamic_range_db)
            }
            Self::MedianDb(n) => ulm_data::normalize_patch(envelope, width, height, valid_rows, valid_cols, n),
        }
    }
}

/// Inference settings chosen for a model folder's weights on validation frames
/// (`inference.json`): a network may separate close bubbles better on a finer grid than the
/// one it was trained on, and its scores shift with the grid, so the pitch and the
/// threshold are chosen together.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InferenceChoice {
    /// Pixel pitch frames are resampled to, wavelengths (both axes).
    pub pixel_pitch_wavelengths: f64,
    /// Score threshold at that pitch.
    pub score_threshold: f32,
    /// How they were chosen: the frames, the command, the figures.
    #[serde(default)]
    pub selected_on: String,
}

/// An opened model folder (see the module docs); the weights are read by
/// [`DetrLocalizer::load`](super::DetrLocalizer::load).
#[derive(Debug, Clone)]
pub struct ModelFolder {
    /// The folder.
    pub dir: PathBuf,
    /// The resolved training configuration.
    pub train: TrainFile,
    /// Where it was read from (`train.toml`, or the run's `config.toml`).
    pub train_path: PathBuf,
    /// The calibration of the weights.
    pub calibration: Calibration,
    /// The inference settings chosen for the weights (`inference.json`), if any.
    pub inference: Option<InferenceChoice>,
}

fn must_exist(path: &Path) -> Result<()> {
    if path.is_file() {
        return Ok(());
    }
    let source = std::io::Error::new(std::io::ErrorKind::NotFound, "missing from the model folder");
    Err(DetrError::Io { path: path.to_path_buf(), source })
}

impl ModelFolder {
    /// Opens `dir`: reads `calibration.json` and the training configuration, and checks
    /// that `model.safetensors` and `config.json` are there.
    ///
    /// # Errors
    /// A missing folder or file, or one that does not parse; the error names it.
    pub fn open(dir: &Path) -> Result<Self> {
        if !dir.is_dir() {
            let source = std::io::Error::new(std::io::ErrorKind::NotFound, "no such model folder");
            return Err(DetrError::Io { path: dir.to_path_buf(), source });
        }
        must_exist(&dir.join(WEIGHTS_FILE))?;
        must_exist(&dir.join(MODEL_CONFIG_FILE))?;
        let cal_path = dir.join(CALIBRATION_FILE);
        let text =
            std::fs::read_to_string(&cal_path).map_err(|source| DetrError::Io { path: cal_path.clone(), source })?;
        let calibration: Calibration = serde_json::from_str(&text)
            .map_err(|e| DetrError::Config { path: cal_path.clone(), message: format!("not a calibration: {e}") })?;
        let t = calibration.scores.threshold;
        if !(t.is_finite() && (0.0..=1.0).contains(&t)) {
            return Err(DetrError::Config {
                path: cal_path,
                message: format!("scores.threshold must be in [0, 1], got {t}"),
            });
        }
        let inference_path = dir.join(INFERENCE_FILE);
        let inference = if inference_path.is_file() {
            let text = std::fs::read_to_string(&inference_path)
                .map_err(|source| DetrError::Io { path: inference_path.clone(), source })?;
            let c: InferenceChoice = serde_json::from_str(&text).map_err(|e| DetrError::Config {
                path: inference_path.clone(),
                message: format!("not an inference choice: {e}"),
            })?;
            let (p, t) = (c.pixel_pitch_wavelengths, c.score_threshold);
            if !(PITCH_RANGE_WAVELENGTHS.contains(&p) && (0.0..=1.0).contains(&t)) {
                return Err(DetrError::Config {
                    path: inference_path,
                    message: format!(
                        "pixel_pitch_wavelengths must be in {PITCH_RANGE_WAVELENGTHS:?} and score_threshold in [0, 1], \
                         got {p} and {t}"
                    ),
                });
            }
            Some(c)
        } else {
            None
        };
        let own = dir.join(TRAIN_CONFIG_FILE);
        let run = dir.parent().map(|p| p.join(RUN_CONFIG_FILE));
        let train_path = match run {
            Some(run) if !own.exists() && run.is_file() => run,
            _ => own,
        };
        let text = std::fs::read_to_string(&train_path).map_err(|source| DetrError::Io {
            path: train_path.clone(),
            source: std::io::Error::new(
                source.kind(),
                format!("{source} (a model folder holds the resolved training configuration as {TRAIN_CONFIG_FILE}, or sits in its run folder beside {RUN_CONFIG_FILE})"),
            ),
        })?;
        let train = TrainFile::parse(&text, &train_path)
            .map_err(|e| DetrError::Config { path: train_path.clone(), message: e.to_string() })?;
        Ok(Self { dir: dir.to_path_buf(), train, train_path, calibration, inference })
    }

    /// The model family.
    pub fn kind(&self) -> ModelKind {
        self.train.model.kind
    }

    /// The patch side the network was trained on, pixels.
    pub fn patch_size(&self) -> usize {
        match &self.train.data.train {
            DataSpec::Sim(s) => s.size,
            DataSpec::Randomized(r) => r.patch,
            DataSpec::Coco(c) => c.patch,
        }
    }

    /// The input normalisation of the training data.
    pub fn normalization(&self) -> InputNormalization {
        match &self.train.data.train {
            DataSpec::Sim(s) => InputNormalization::PeakDb { dynamic_range_db: s.dynamic_range_db },
            DataSpec::Randomized(r) => InputNormalization::MedianDb(r.normalization),
            DataSpec::Coco(c) => InputNormalization::MedianDb(c.normalization),
        }
    }

    /// The score threshold: `inference.json`'s, else the calibrated one.
    pub fn score_threshold(&self) -> f32 {
        self.inference.as_ref().map_or(self.calibration.scores.threshold, |c| c.score_threshold)
    }

    /// The pixel pitch frames are resampled to, wavelengths: `inference.json`'s, else the
    /// training data's (simulated or randomised patches); `None` for COCO data (its pitch
    /// is not recorded: frames are used as given).
    pub fn pixel_pitch_wavelengths(&self) -> Option<f64> {
        if let Some(c) = &self.inference {
            return Some(c.pixel_pitch_wavelengths);
        }
        match &self.train.data.train {
            DataSpec::Sim(s) => Some(s.pixel_size_wavelengths()),
            DataSpec::Randomized(r) => Some(r.pixel_size_wavelengths),
            DataSpec::Coco(_) => None,
        }
    }

    /// Makes the self-contained model folder `dest` from the run folder `run_dir`
    /// (`runs/NAME`): copies `best/{model.safetensors, config.json, calibration.json}`
    /// (and `best/inference.json` when present),
    /// `config.toml` as `train.toml`, and `metrics.csv` / `curves.png` when present (each
    /// written atomically), then opens the result.
    ///
    /// # Errors
    /// A missing or unreadable source file, or an unwritable destination.
    pub fn package(run_dir: &Path, dest: &Path) -> Result<Self> {
        let best = run_dir.join("best");
        let mut files = vec![
            (best.join(WEIGHTS_FILE), WEIGHTS_FILE),
            (best.join(MODEL_CONFIG_FILE), MODEL_CONFIG_FILE),
            (best.join(CALIBRATION_FILE), CALIBRATION_FILE),
            (run_dir.join(RUN_CONFIG_FILE), TRAIN_CONFIG_FILE),
        ];
        if best.join(INFERENCE_FILE).is_file() {
            files.push((best.join(INFERENCE_FILE), INFERENCE_FILE));
        }
        for record in ["metrics.csv", "curves.png"] {
            if run_dir.join(record).is_file() {
                files.push((run_dir.join(record), record));
            }
        }
        std::fs::create_dir_all(dest).map_err(|source| DetrError::Io { path: dest.to_path_buf(), source })?;
        for (src, name) in files {
            let bytes = std::fs::read(&src).map_err(|source| DetrError::Io { path: src.clone(), source })?;
            let to = dest.join(name);
            ulm_io::atomic_write_bytes(&to, &bytes)
                .map_err(|e| DetrError::Write { path: to, message: e.to_string() })?;
        }
        Self::open(dest)
    }
}
