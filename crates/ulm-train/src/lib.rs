//! The training loop of the learned microbubble localizers.
//!
//! Models plug in by implementing the small [`TrainTask`] trait (init, freeze, loss,
//! predict, save/load weights); [`train`] owns the rest: AdamW with a backbone
//! learning-rate multiplier, global gradient-norm clipping, warm-up + step/cosine schedule,
//! freezing, seeded determinism, validation every K steps at the λ/2 gate (precision,
//! recall, F1, RMSE with `ulm-eval`'s pairing) with the score threshold calibrated for the
//! best F1, checkpoints written atomically and resumed exactly, and the run records
//! (`metrics.csv`, `curves.png`) under `runs/NAME/`.
//!
//! ```
//! use ulm_train::{Schedule, ScheduleKind};
//! // Cosine decay after 10 warm-up steps, to 1 % of the base rate at step 110.
//! let s = Schedule { kind: ScheduleKind::Cosine, warmup_steps: 10, min_lr_fraction: 0.01, ..Schedule::default() };
//! assert!((s.factor(9, 110) - 1.0).abs() < 1e-12);
//! assert!((s.factor(110, 110) - 0.01).abs() < 1e-12);
//! ```

use std::path::PathBuf;

pub mod adamw;
pub mod config;
pub mod records;
pub mod task;
pub mod trainer;
pub mod validate;

pub use adamw::FusedAdamW;
pub use config::{Freeze, OptimizerConfig, Schedule, ScheduleKind, TrainConfig, ValidationConfig};
pub use task::{ScoredPoint, TaskLoss, TrainTask, batch_images};
pub use trainer::{Calibration, RunOptions, StepInfo, TrainObserver, TrainOutcome, backend_rng_lock, train, validate};
pub use validate::ValidationScores;

/// Errors of the training loop.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A setting is out of range; the message names it.
    #[error("invalid training setting: {0}")]
    Config(String),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A file could not be written.
    #[error("writing {path}: {message}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        message: String,
    },
    /// A checkpoint is unreadable or does not fit the configuration.
    #[error("checkpoint {path}: {message}")]
    Checkpoint {
        /// The file.
        path: PathBuf,
        /// The problem.
        message: String,
    },
    /// A new run would overwrite a checkpoint.
    #[error("{0} exists: pass --resume to continue that run, or choose another run name")]
    Exists(PathBuf),
    /// A data source is unusable.
    #[error("data: {0}")]
    Data(String),
    /// The task (model) failed.
    #[error("model: {0}")]
    Task(String),
}
