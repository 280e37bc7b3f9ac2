//! The Deep-ULM U-Net microbubble localizer (van Sloun et al.): a fully convolutional
//! encoder–decoder that maps an envelope patch to a localization map on a grid `F`× finer
//! (4× by default), trained against ground-truth centres drawn on that grid as small
//! Gaussians; bubbles are the map's local maxima above a calibrated threshold, refined to
//! sub-pixel positions.
//!
//! * [`model`]: [`UnetConfig`] (`tiny`, `paper`) and the [`Unet`] module.
//! * [`heatmap`]: the fine grid, [`render_target`] and [`find_peaks`].
//! * [`train`]: the `[model] kind = "unet"` table ([`UnetSpec`]), the heatmap loss and
//!   [`UnetTask`] (the `ulm_train::TrainTask` the shared loop trains), the weights folder.
//! * [`localizer`]: [`UnetLocalizer`], the trained network behind `ulm_core::Localizer`.
//!
//! ```
//! use ulm_unet::{PeakConfig, find_peaks, render_target};
//! // A bubble at patch pixel (col 3.3, row 2.6) drawn on a 4× grid and read back.
//! let map = render_target(&[(3.3, 2.6)], 8, 8, 4, 0.25);
//! let cfg = PeakConfig { upsample: 4, radius: 2, min_score: 0.5, max_peaks: 10 };
//! let peaks = find_peaks(&map, 32, 32, 32, 32, &cfg);
//! assert_eq!(peaks.len(), 1);
//! assert!((peaks[0].col - 3.3).abs() < 1e-5 && (peaks[0].row - 2.6).abs() < 1e-5);
//! ```

use std::fmt::Display;
use std::path::{Path, PathBuf};

pub mod heatmap;
pub mod localizer;
pub mod model;
pub mod train;

pub use heatmap::{Peak, PeakConfig, find_peaks, render_target};
pub use localizer::UnetLocalizer;
pub use model::{Unet, UnetConfig};
pub use train::{InputSpec, UnetSpec, UnetTask, UnetTrainFile, WeightsConfig, is_unet_config};

/// Errors of this crate; each names the file or setting concerned.
#[derive(Debug, thiserror::Error)]
pub enum UnetError {
    /// A file is missing, unreadable, unwritable or malformed.
    #[error("{path}: {message}")]
    File {
        /// The file.
        path: PathBuf,
        /// The problem.
        message: String,
    },
    /// The weights file does not fit (its message names the file).
    #[error("{0}")]
    Weights(String),
    /// A setting is out of range.
    #[error("invalid U-Net setting: {0}")]
    Config(String),
}

impl UnetError {
    pub(crate) fn file(path: &Path, message: impl Display) -> Self {
        Self::File { path: path.to_path_buf(), message: message.to_string() }
    }
}
