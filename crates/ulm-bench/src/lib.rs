//! Every localizer by name ([`methods`]) and `ulm bench` ([`bench`]): the papers'
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
pub mod methods;
mod report;

use std::path::PathBuf;

pub use bench::{BenchConfig, Prepared, ProgressFactory, run_bench};
pub use methods::{MethodName, classical_localizer, load_learned, parse_methods, shipped_model};
pub use report::{BenchReport, MethodResult, MethodScores, PresetResult};

/// Errors of the bench and of method loading.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// A method name that does not exist.
    #[error("unknown localization method `{name}`: use one of {known}")]
    UnknownMethod {
        /// The name given.
        name: String,
        /// The known names, comma-separated.
        known: String,
    },
    /// No model folder was given and none is shipped.
    #[error(
        "no model folder for `{method}` given and no shipped `models/{method}` (looked in {}); train one with \
         `ulm train --config configs/deformable-detr-sparse-128.toml` (detr: `kind = \"detr\"` in its [model] \
         table; unet: configs/unet-tiny-128.toml) and pass its runs/<name>/best folder",
        .looked.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
    )]
    NoShippedModel {
        /// The learned method.
        method: MethodName,
        /// Every folder looked at.
        looked: Vec<PathBuf>,
    },
    /// A model folder that cannot be loaded.
    #[error(
        "loading the {method} model folder {} (model.safetensors, config.json, calibration.json and the training \
         config, as `ulm train` writes into runs/NAME/best/): {message}",
        .dir.display()
    )]
    Model {
        /// The learned method.
        method: MethodName,
        /// The folder.
        dir: PathBuf,
        /// What is wrong (names the file).
        message: String,
    },
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
