//! The `ulm dataset` pipeline as library calls: a validated [`DatasetConfig`], then
//! [`export_frames`] (frames + ground truth → split → patches → COCO + PNG per block) or
//! [`export_randomized`] (the domain-randomised mix → COCO + PNG per block).
//!
//! Layout of the output folder: `{train,val,test}/NNNNNN.png` (16-bit) and
//! `{train,val,test}.json` (COCO); the caller writes `dataset.json` (config + report).

use std::path::Path;

use ndarray::{ArrayView3, Axis};
use serde::{Deserialize, Serialize};
use ulm_core::{Geometry, Localizations, Progress};

use crate::dataset::{CocoExport, PatchOrigin, frame_patches, points_by_frame};
use crate::{
    BoxSize, DataError, Normalization, RandomizedSource, SampleSource, SplitConfig, SplitReport, TileGrid, split_frames,
};

/// How frames are cut into patches.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "mode")]
pub enum Tiling {
    /// Patches of a fixed size with overlap ([`TileGrid::with_patch`]).
    Patch {
        /// Patch height, px.
        rows: usize,
        /// Patch width, px.
        cols: usize,
        /// Overlap of neighbours, px.
        overlap: usize,
    },
    /// An `n_rows × n_cols` grid ([`TileGrid::with_counts`]).
    Grid {
        /// Tiles along depth.
        n_rows: usize,
        /// Tiles laterally.
        n_cols: usize,
    },
}

impl Tiling {
    /// The grid for a `rows × cols` frame.
    pub fn grid(&self, rows: usize, cols: usize) -> Result<TileGrid, DataError> {
        match *self {
            Tiling::Patch { rows: pr, cols: pc, overlap } => TileGrid::with_patch(rows, cols, pr, pc, overlap),
            Tiling::Grid { n_rows, n_cols } => TileGrid::with_counts(rows, cols, n_rows, n_cols),
        }
    }
}

/// Validated settings of a dataset export from frames.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetConfig {
    /// Patch grid.
    pub tiling: Tiling,
    /// Split into blocks.
    pub split: SplitConfig,
    /// Box size.
    pub boxes: BoxSize,
    /// Input normalisation.
    pub normalization: Normalization,
}

impl DatasetConfig {
    /// Checks every part.
    pub fn validate(&self) -> Result<(), DataError> {
        self.boxes.validate()?;
        self.normalization.validate()?;
        match self.tiling {
            Tiling::Patch { rows, cols, overlap } => {
                if rows == 0 || cols == 0 || overlap >= rows.min(cols) {
                    return Err(DataError::Config(format!(
                        "patch {rows}×{cols} with overlap {overlap}: need a non-empty patch larger than the overlap"
                    )));
                }
            }
            Tiling::Grid { n_rows, n_cols } => {
                if n_rows == 0 || n_cols == 0 {
                    return Err(DataError::Config("grid needs at least 1 × 1 tiles".into()));
                }
            }
        }
        Ok(())
    }
}

/// What one block of the export holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlockSummary {
    /// `train`, `val` or `test`.
    pub name: String,
    /// Frames of the acquisition (frame export) or samples of the mix (randomised).
    pub range: std::ops::Range<usize>,
    /// Patches written.
    pub images: usize,
    /// Boxes written.
    pub boxes: usize,
}

/// Report of an export from frames.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportReport {
    /// Tiles per frame `(along depth, laterally)`.
    pub tiles: (usize, usize),
    /// Patch size `(rows, cols)`.
    pub patch: (usize, usize),
    /// The split and its correlation figures.
    pub split: SplitReport,
    /// Per block.
    pub blocks: Vec<BlockSummary>,
}

/// Splits `envelope` (`[frames, rows, cols]`, already clutter-filtered where needed),
/// cuts each kept frame into patches and writes `out/{block}/*.png` + `out/{block}.json`.
pub fn export_frames(
    envelope: ArrayView3<'_, f32>,
    geometry: &Geometry,
    truth: &Localizations,
    cfg: &DatasetConfig,
    out: &Path,
    progress: &dyn Progress,
) -> Result<ExportReport, DataError> {
    cfg.validate()?;
    let (n, rows, cols) = envelope.dim();
    let grid = cfg.tiling.grid(rows, cols)?;
    let split = split_frames(envelope, &cfg.split)?;
    let points = points_by_frame(truth, n, geometry, &cfg.boxes)?;
    progress.set_total((split.train.len() + split.val.len() + split.test.len()) as u64);
    let mut blocks = Vec::new();
    for (name, range) in [("train", split.train.clone()), ("val", split.val.clone()), ("test", split.test.clone())] {
        if range.is_empty() {
            continue;
        }
        progress.set_message(name);
        let mut ex = CocoExport::new(&out.join(name), &cfg.normalization)?;
        let mut nb = 0;
        for f in range.clone() {
            let patches =
                frame_patches(envelope.index_axis(Axis(0), f), geometry, &points[f], &grid, &cfg.normalization)?;
            for (t, s) in patches.iter().enumerate() {
                nb += s.boxes.len();
                ex.add(s, PatchOrigin { frame: f, tile: t })?;
            }
            progress.inc(1);
        }
        let images = ex.len();
        ex.finish(&out.join(format!("{name}.json")))?;
        blocks.push(BlockSummary { name: name.into(), range, images, boxes: nb });
    }
    progress.finish();
    Ok(ExportReport { tiles: grid.counts(), patch: (grid.patch_rows, grid.patch_cols), split, blocks })
}

/// Writes the samples of a randomised source in three blocks of whole acquisitions
/// (`fractions` of the acquisitions, train first), so no acquisition spans two blocks.
pub fn export_randomized(
    src: &RandomizedSource,
    fractions: [f64; 3],
    out: &Path,
    progress: &dyn Progress,
) -> Result<Vec<BlockSummary>, DataError> {
    if fractions.iter().any(|v| !v.is_finite() || *v < 0.0) || (fractions.iter().sum::<f64>() - 1.0).abs() > 1e-6 {
        return Err(DataError::Config(format!("split fractions must be >= 0 and sum to 1, got {fractions:?}")));
    }
    let k = src.config().frames_per_acquisition;
    let na = src.n_acquisitions();
    let a_train = (fractions[0] * na as f64).round() as usize;
    let a_val = ((fractions[1] * na as f64).round() as usize).min(na - a_train);
    let n = src.len();
    let bounds = [0, (a_train * k).min(n), ((a_train + a_val) * k).min(n), n];
    progress.set_total(n as u64);
    let mut blocks = Vec::new();
    for (i, name) in ["train", "val", "test"].into_iter().enumerate() {
        let range = bounds[i]..bounds[i + 1];
        if range.is_empty() {
            continue;
        }
        progress.set_message(name);
        let mut ex = CocoExport::new(&out.join(name), &src.config().normalization)?;
        let mut nb = 0;
        for j in range.clone() {
            let s = src.try_sample(j)?;
            nb += s.boxes.len();
            ex.add(&s, PatchOrigin { frame: j, tile: 0 })?;
            progress.inc(1);
        }
        ex.finish(&out.join(format!("{name}.json")))?;
        blocks.push(BlockSummary { name: name.into(), images: range.len(), range, boxes: nb });
    }
    progress.finish();
    Ok(blocks)
}
