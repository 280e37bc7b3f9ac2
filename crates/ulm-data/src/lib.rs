//! Training and inference data for the learned localizers (DE-DETR, DETR, U-Net).
//!
//! This crate turns frames plus ground-truth positions into fixed-size **patches** with
//! one small box per microbubble, splits acquisitions without leakage, augments and
//! domain-randomises them. [`Sample`] is the unit every trainer consumes and
//! [`SampleSource`] the interface every dataset implements.
//!
//! * [`boxes`]: ground truth → boxes ([`BoxSize`]: fixed pixels, wavelengths, or the
//!   simulator's PSF width at the bubble's depth) and the border rule.
//! * [`tiling`]: [`TileGrid`], the patch grid shared by training and inference (reflection
//!   padding, padding mask, ownership of every frame pixel by exactly one tile).
//! * [`normalize`]: [`normalize_patch`], the input normalisation used by training **and**
//!   inference.
//! * [`split`]: contiguous train/val/test blocks separated by a gap, with the frame-to-frame
//!   correlation across it.
//! * [`augment`]: ultrasound-safe augmentation, deterministic from a seed.
//! * [`dataset`]: [`PatchDataset`] (an in-memory [`SampleSource`]), built from frames or
//!   imported from COCO, and the COCO + 16-bit PNG export.
//! * [`export`]: the `ulm dataset` pipeline ([`DatasetConfig`], [`export_frames`],
//!   [`export_randomized`]).
//! * [`randomized`]: [`RandomizedSource`], simulator acquisitions drawn on the fly from a
//!   randomised mix of presets, PSFs, SNRs and densities.
//! * [`coco_source`]: [`CocoSourceConfig`], a COCO dataset (e.g. a user's frames exported by
//!   `ulm dataset`) as training or validation samples.
//!
//! # Conventions
//! * A patch is `height × width` pixels, row-major `[rows = z, cols = x]`, already
//!   normalised for the network (see [`normalize_patch`]).
//! * Boxes are DETR targets: `[cx, cy, w, h]` as fractions of the **full** patch size
//!   (`cx = (col + 0.5) / width`, `cy = (row + 0.5) / height` for a bubble at pixel
//!   centre `(row, col)`), so the model's `cx · W − 0.5` maps back to the column index.
//! * Rows/cols beyond `valid_rows`/`valid_cols` are padding (frames smaller than a patch,
//!   or the last tile of an N × M grid); the model receives them as a padding mask
//!   ([`Sample::padding_mask`]).
//!
//! ```
//! use ndarray::Array3;
//! use ulm_core::{Geometry, Localizations};
//! use ulm_data::{BoxSize, Normalization, PatchDataset, SampleSource, TileGrid};
//!
//! let g = Geometry::new(0.05, 0.05, 0.0, 1.0, 0.1, 1000.0).unwrap();
//! let frames = Array3::<f32>::from_elem((2, 40, 30), 1.0);
//! let mut truth = Localizations::new();
//! truth.push(1, g.col_to_x_mm(4.0), g.row_to_z_mm(10.0), 1.0);
//! let grid = TileGrid::with_patch(40, 30, 32, 32, 0).unwrap();
//! let ds = PatchDataset::from_frames(
//!     frames.view(), &g, &truth, 0..2, &grid, &BoxSize::Pixels { w: 4.0, h: 2.0 }, &Normalization::default(),
//! ).unwrap();
//! assert_eq!(ds.len(), 4); // 2 frames × 2 tiles (rows 0..32 and 8..40)
//! let s = ds.sample(2, None); // frame 1, first tile
//! assert_eq!(s.boxes, vec![[4.5 / 32.0, 10.5 / 32.0, 4.0 / 32.0, 2.0 / 32.0]]);
//! assert_eq!((s.valid_rows, s.valid_cols), (32, 30)); // two padding columns
//! ```

pub mod augment;
pub mod boxes;
pub mod coco_source;
pub mod dataset;
pub mod export;
pub mod normalize;
pub mod randomized;
pub mod split;
pub mod tiling;

pub use augment::{AugmentConfig, augment};
pub use boxes::BoxSize;
pub use coco_source::CocoSourceConfig;
pub use dataset::{
    CocoExport, GtPoint, ImportScaling, PatchDataset, PatchOrigin, coco_import, frame_patches, points_by_frame,
};
pub use export::{BlockSummary, DatasetConfig, ExportReport, Tiling, export_frames, export_randomized};
pub use normalize::{Normalization, normalize_patch};
pub use randomized::{
    AcquisitionParams, PRESETS, PSF_MODELS, PresetSpec, PsfModel, RandomizedConfig, RandomizedSource,
};
pub use split::{
    Gap, SplitConfig, SplitReport, frame_correlation, mean_correlation_at_lag, split_frames, temporal_mean,
};
pub use tiling::{Tile, TileGrid};

use ulm_core::Geometry;

/// Errors of this crate; each names the file or option concerned.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// An option or parameter is out of range; the message names it.
    #[error("invalid dataset setting: {0}")]
    Config(String),
    /// Reading or writing a file failed.
    #[error(transparent)]
    Io(#[from] ulm_io::Error),
    /// A simulation of the randomised source failed.
    #[error("simulation: {0}")]
    Sim(#[from] ulm_sim::SimError),
    /// Clutter filtering of a simulated acquisition failed.
    #[error("clutter filter: {0}")]
    Clutter(#[from] ulm_clutter::ClutterError),
    /// An error of the shared data model.
    #[error(transparent)]
    Core(#[from] ulm_core::Error),
}

/// One training/validation example: a normalised patch and its targets.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Pixel values, row-major `[height, width]`, normalised for the network.
    pub image: Vec<f32>,
    /// Patch height in pixels (rows = depth z).
    pub height: usize,
    /// Patch width in pixels (cols = lateral x).
    pub width: usize,
    /// Rows `0..valid_rows` hold data; the rest is padding.
    pub valid_rows: usize,
    /// Columns `0..valid_cols` hold data; the rest is padding.
    pub valid_cols: usize,
    /// Boxes `[cx, cy, w, h]`, fractions of the full patch (see the crate docs).
    pub boxes: Vec<[f32; 4]>,
    /// Geometry of the patch: pixel `(0, 0)` of the patch sits at `(x0_mm, z0_mm)`.
    /// Used to turn predictions back into mm and to apply the λ/2 gate.
    pub geometry: Geometry,
    /// Exact ground-truth centres in mm `(x_mm, z_mm)`, one per box, same order.
    pub centers_mm: Vec<(f64, f64)>,
}

impl Sample {
    /// Padding mask, row-major `[height, width]`: `true` where the pixel is padding
    /// (row ≥ `valid_rows` or col ≥ `valid_cols`), the DETR convention.
    pub fn padding_mask(&self) -> Vec<bool> {
        let mut m = vec![false; self.height * self.width];
        for r in 0..self.height {
            for c in 0..self.width {
                m[r * self.width + c] = r >= self.valid_rows || c >= self.valid_cols;
            }
        }
        m
    }

    /// Whether the patch has no padding.
    pub fn is_full(&self) -> bool {
        self.valid_rows == self.height && self.valid_cols == self.width
    }

    /// Box `i` in patch pixels `(col, row, w, h)`: the centre as a (fractional) pixel
    /// index under the pixel-centre convention, width and height in pixels.
    pub fn box_px(&self, i: usize) -> (f64, f64, f64, f64) {
        let [cx, cy, w, h] = self.boxes[i].map(f64::from);
        let (wd, ht) = (self.width as f64, self.height as f64);
        (cx * wd - 0.5, cy * ht - 0.5, w * wd, h * ht)
    }
}

/// A dataset of [`Sample`]s addressed by index.
///
/// `augment_seed = None` returns the sample as stored (validation, test); `Some(seed)`
/// applies the source's augmentation drawn deterministically from `seed`.
pub trait SampleSource: Send + Sync {
    /// Number of samples.
    fn len(&self) -> usize;
    /// Whether the source holds no sample.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Sample `index` (`index < len()`), augmented when `augment_seed` is given.
    fn sample(&self, index: usize, augment_seed: Option<u64>) -> Sample;
}

pub mod sim_source;
