//! Training and inference data for the learned localizers (DE-DETR, DETR, U-Net).
//!
//! This crate turns frames plus ground-truth positions into fixed-size **patches** with
//! one small box per microbubble, splits acquisitions without leakage, augments and
//! domain-randomises them. [`Sample`] is the unit every trainer consumes and
//! [`SampleSource`] the interface every dataset implements.
//!
//! # Conventions
//! * A patch is `height × width` pixels, row-major `[rows = z, cols = x]`, already
//!   normalised for the network (see the normalisation the producer documents).
//! * Boxes are DETR targets: `[cx, cy, w, h]` as fractions of the **full** patch size
//!   (`cx = (col + 0.5) / width`, `cy = (row + 0.5) / height` for a bubble at pixel
//!   centre `(row, col)`), so the model's `cx · W − 0.5` maps back to the column index.
//! * Rows/cols beyond `valid_rows`/`valid_cols` are padding (frames smaller than a patch,
//!   or the last tile of a frame); the model receives them as a padding mask.

use ulm_core::Geometry;

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
