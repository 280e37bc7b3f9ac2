//! Every localizer by name ([`methods`], re-exported from `ulm-pipeline`, the one
//! registry) and `ulm bench` ([`bench`]): the papers'
//! comparison of localizers on simulated data with ground truth that the learned models
//! were not trained on.
//!
//! For each preset ([`ulm_sim::Preset`]; tissue clutter is SVD-filtered first, as `ulm
//! filter` does) and each method ([`MethodName`]: DE-DETR, DETR, no-shift, centroid,
//! gaussian, radial, interp, morph, U-Net), [`run_bench`] measures precision, recall, F1,
//! Jaccard and RMSE (pairing at λ/2, as `ulm eval`), COCO box AP/AR (as pycocotools),
//! Dice of the Gaussian localization maps and of the track-density maps against the
//! ground truth's, and the throughput of the localization stage alone (frames/s). A
//! learned method whose model folder is missing is reported as skipped, with the reason.
//! [`BenchReport::to_markdown`] writes the tables; the report serialises to JSON.
//!
//! **Seeds.** The default seed ([`BenchConfig::DEFAULT_SEED`], 20000) lies outside the
//! ranges the shipped models were trained and validated on (`ulm train` simulations use
//! seeds from 1000 (training) and 9000 (validation) upwards; `configs/*.toml`), so the
//! bench scores data the models have not seen.
//!
//! ```
//! use ulm_bench::{BenchConfig, MethodName, Prepared, run_bench};
//! use ulm_sim::Preset;
//!
//! let mut cfg = BenchConfig::new(vec![Preset::Sparse], 3);
//! cfg.grid = Some((48, 48));
//! let methods = vec![Prepared::classical(MethodName::Radial)];
//! let quiet = |_: &str| -> Box<dyn ulm_core::Progress> { Box::new(ulm_core::NoProgress) };
//! let report = run_bench(&cfg, &methods, &quiet).unwrap();
//! let r = &report.presets[0].methods[0];
//! assert!(r.scores.as_ref().unwrap().frames_per_s > 0.0);
//! assert!(report.to_markdown().contains("| radial |"));
//! ```

pub mod bench;
mod report;

pub use bench::{BenchConfig, Prepared, ProgressFactory, run_bench};
pub use report::{BenchReport, MethodResult, MethodScores, PresetResult};
pub use ulm_pipeline::methods::{
    self, MethodError, MethodName, classical_localizer, load_learned, parse_methods, shipped_model,
};

/// Errors of the bench and of method loading.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// A method name, shipped model or model folder that cannot be used.
    #[error(transparent)]
    Method(#[from] MethodError),
    /// A setting is out of range.
    #[error("invalid bench setting: {0}")]
    Config(String),
    /// The simulation failed.
    #[error("simulating preset {preset}: {source}")]
    Sim {
        /// The preset.
        preset: &'static str,
        /// The simulator's error.
        source: ulm_sim::SimError,
    },
    /// The SVD clutter filter failed.
    #[error("SVD-filtering preset {preset}: {source}")]
    Clutter {
        /// The preset.
        preset: &'static str,
        /// The filter's error.
        source: ulm_clutter::ClutterError,
    },
    /// A stage failed while scoring one method on one preset.
    #[error("{method} on {preset}: {message}")]
    Stage {
        /// The method.
        method: MethodName,
        /// The preset.
        preset: &'static str,
        /// What failed (the stage's error).
        message: String,
    },
}
