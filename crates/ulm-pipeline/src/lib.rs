//! The whole ULM pipeline from one `pipeline.toml`: frames → clutter filter → localize
//! (any method; several side by side) → track → render → evaluate (when there is ground
//! truth) → one self-contained HTML report. `ulm run` and `ulm demo` are thin glue over
//! [`run`].
//!
//! * [`PipelineConfig`] — the file: `[input]` (a frame file or a simulation), `[filter]`,
//!   `[localize]`, `[track]`, `[render]`, `[eval]`, `[report]`; unknown keys refused,
//!   errors name the file and the key.
//! * [`run`] / [`run_source`] — the stages, each with its own [`Progress`] (from
//!   [`Stages`]). Frames stream block by block through the filter and the localizers
//!   (`ulm-clutter`'s and `ulm-localize`'s streaming cores), so memory is bounded by one
//!   block, not by the acquisition's length; only the tables (localizations, tracks) and
//!   the maps are held whole.
//! * Every intermediate is written atomically into the output folder, in the formats the
//!   subcommands write: `filtered/iq.npy`, `<method>/locs.csv`, `<method>/tracks.csv`,
//!   `<method>/maps/*.{npy,png}`, `<method>/eval.json`, curves as CSV + PNG, the resolved
//!   `pipeline.toml`, `run.json` and `report.html`.
//!
//! ```no_run
//! use std::path::Path;
//! use ulm_pipeline::{PipelineConfig, RunOptions, Silent};
//!
//! let cfg = PipelineConfig::from_file(Path::new("pipeline.toml")).unwrap();
//! let summary = ulm_pipeline::run(&cfg, &RunOptions::new(Path::new("out/run"), "ulm run", &Silent)).unwrap();
//! println!("report: {}", summary.report.display());
//! ```
//!
//! [`Progress`]: ulm_core::Progress

mod config;
pub mod methods;
mod report;
mod run;
mod stages;

pub use config::{
    EvalConfig, FilterConfig, InputConfig, LearnedConfig, LocalizeConfig, PipelineConfig, RenderConfig, ReportConfig,
    SimulateConfig, TrackConfig,
};
pub use methods::{MethodError, MethodName};
pub use run::{InputInfo, MethodSummary, RunOptions, RunSummary, run, run_source};

use std::path::{Path, PathBuf};

use ulm_core::{NoProgress, Progress};

/// Errors of the pipeline. Each names what failed: the config file and key, the model
/// folder, or the stage and the file it was reading or writing.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The config file is unreadable or invalid.
    #[error("{}: {message}", path.display())]
    Config {
        /// The config file.
        path: PathBuf,
        /// What is wrong, naming the key.
        message: String,
    },
    /// A learned localizer's model folder is missing or unusable.
    #[error("{0}")]
    Model(String),
    /// A method name, shipped model or model folder that cannot be used.
    #[error(transparent)]
    Method(#[from] MethodError),
    /// A stage failed.
    #[error("{stage}: {source}")]
    Stage {
        /// The stage and what it was doing (e.g. `localize radial: reading filtered/iq.npy`).
        stage: String,
        /// The cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl PipelineError {
    pub(crate) fn config(path: &Path, message: impl Into<String>) -> Self {
        Self::Config { path: path.to_path_buf(), message: message.into() }
    }

    pub(crate) fn stage(stage: impl Into<String>, source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Stage { stage: stage.into(), source: source.into() }
    }
}

/// Where the pipeline reports progress: one [`Progress`] per stage (a progress bar each
/// in the CLI). Library code never prints.
pub trait Stages: Sync {
    /// The progress of the stage `name` (e.g. `localize radial`), counting `unit`s
    /// (`frames`, `methods` …); its total is set by the stage.
    fn stage(&self, name: &str, unit: &str) -> Box<dyn Progress + '_>;
}

/// [`Stages`] that report nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Stages for Silent {
    fn stage(&self, _name: &str, _unit: &str) -> Box<dyn Progress + '_> {
        Box::new(NoProgress)
    }
}
