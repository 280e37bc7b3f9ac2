//! [`UnetLocalizer`]: the trained U-Net behind the shared [`Localizer`] interface.
//!
//! Frames are cut into tiles of the training patch size with [`TileGrid`] (reflection
//! padding for frames smaller than a patch, `overlap` pixels shared by neighbours), each
//! tile is normalised exactly as the training patches were
//! ([`ulm_data::sim_source::normalise`]: log compression below the tile's maximum, then zero
//! mean and unit variance), the tiles of a whole block of frames run through the network in
//! batches, peaks above the score threshold are read off each tile's map and a detection is
//! kept only from the tile that owns its centre (no duplicates in overlaps). Tiling rather
//! than one pass over the whole frame keeps the input statistics those of training: the
//! normalisation is per patch.

use std::path::Path;
use std::sync::Mutex;

use burn::prelude::*;
use burn::tensor::activation::sigmoid;
use ndarray::{ArrayView2, ArrayView3, Axis};
use ulm_core::{Detection, Geometry, Localizer};
use ulm_data::TileGrid;
use ulm_data::sim_source::normalise;
use ulm_train::Calibration;

use crate::UnetError;
use crate::heatmap::PeakConfig;
use crate::model::Unet;
use crate::train::{WeightsConfig, batch_peaks, load_config, load_weights};

/// The trained U-Net as a [`Localizer`].
#[derive(Debug)]
pub struct UnetLocalizer {
    // The backend's tensors are shared between threads through the model; one forward at a
    // time (the backend parallelises inside an operation).
    model: Mutex<Unet>,
    config: WeightsConfig,
    peaks: PeakConfig,
    threshold: f32,
    overlap: usize,
    batch: usize,
    device: Device,
}

impl UnetLocalizer {
    /// The localizer for the weights folder `dir` (`model.safetensors`, `config.json`), at
    /// `score_threshold`, or — when `None` — at the threshold calibrated on validation data
    /// (`dir/calibration.json`, written beside the best weights by `ulm train`).
    ///
    /// # Errors
    /// [`UnetError`] naming the file that is missing, unreadable or does not fit, or an
    /// out-of-range threshold.
    pub fn load(dir: &Path, score_threshold: Option<f32>) -> Result<Self, UnetError> {
        let config = load_config(dir)?;
        let threshold = match score_threshold {
            Some(t) => t,
            None => {
                let path = dir.join("calibration.json");
                let text = std::fs::read_to_string(&path).map_err(|e| {
                    UnetError::file(&path, format!("{e} (pass --score-threshold to choose a threshold)"))
                })?;
                let c: Calibration = serde_json::from_str(&text)
                    .map_err(|e| UnetError::file(&path, format!("not a calibration file: {e}")))?;
                c.scores.threshold
            }
        };
        if !(threshold.is_finite() && threshold > 0.0 && threshold < 1.0) {
            return Err(UnetError::Config(format!("score threshold must be in (0, 1), got {threshold}")));
        }
        let device = Device::flex();
        let model = load_weights(config.model.init(&device), dir)?;
        let mut peaks = config.spec.peak_config();
        peaks.min_score = threshold;
        let overlap = config.input.patch / 8;
        Ok(Self { model: Mutex::new(model), config, peaks, threshold, overlap, batch: 8, device })
    }

    /// Tiles per forward pass (default 8).
    pub fn with_batch(mut self, batch: usize) -> Self {
        self.batch = batch.max(1);
        self
    }

    /// The score threshold in use.
    pub fn threshold(&self) -> f32 {
        self.threshold
    }

    /// The weights' configuration.
    pub fn config(&self) -> &WeightsConfig {
        &self.config
    }

    /// Maps of a batch of normalised tiles, as peaks in tile pixels.
    fn run_batch(&self, tiles: &[Vec<f32>], valid: &[(usize, usize)]) -> Vec<Vec<crate::heatmap::Peak>> {
        let p = self.config.input.patch;
        let data: Vec<f32> = tiles.iter().flatten().copied().collect();
        let x = Tensor::<4>::from_data(TensorData::new(data, [tiles.len(), 1, p, p]), &self.device);
        let maps = {
            let model = self.model.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            sigmoid(model.forward(x))
        };
        batch_peaks(maps, valid, &self.peaks)
    }
}

impl Localizer for UnetLocalizer {
    fn name(&self) -> &str {
        "unet"
    }

    fn localize_frame(&self, frame: ArrayView2<'_, f32>, frame_index: u32, geometry: &Geometry) -> Vec<Detection> {
        let frames = frame.insert_axis(Axis(0));
        self.localize_frames(frames, frame_index, geometry)
    }

    fn localize_frames(&self, frames: ArrayView3<'_, f32>, first_frame: u32, geometry: &Geometry) -> Vec<Detection> {
        let (n, rows, cols) = frames.dim();
        let p = self.config.input.patch;
        let Ok(grid) = TileGrid::with_patch(rows, cols, p, p, self.overlap) else { return Vec::new() };
        let tiles = grid.tiles();
        // (frame, tile) pairs in order, in batches.
        let jobs: Vec<(usize, usize)> = (0..n).flat_map(|f| (0..tiles.len()).map(move |t| (f, t))).collect();
        let mut out = Vec::new();
        for chunk in jobs.chunks(self.batch) {
            let mut inputs = Vec::with_capacity(chunk.len());
            let mut valid = Vec::with_capacity(chunk.len());
            for &(f, t) in chunk {
                let tile = &tiles[t];
                let raw = grid.extract(frames.index_axis(Axis(0), f), tile).unwrap_or_else(|_| vec![0.0; p * p]);
                inputs.push(normalise(&raw, self.config.input.dynamic_range_db));
                valid.push((tile.valid_rows, tile.valid_cols));
            }
            for (&(f, t), peaks) in chunk.iter().zip(self.run_batch(&inputs, &valid)) {
                let tile = &tiles[t];
                for pk in peaks {
                    let (col, row) = TileGrid::to_frame_px(tile, pk.col, pk.row);
                    if grid.owner(col, row) != Some(tile.index) {
                        continue;
                    }
                    let (x_mm, z_mm) = geometry.px_to_mm(col, row);
                    out.push(Detection::new(first_frame + f as u32, x_mm, z_mm, pk.score));
                }
            }
        }
        out
    }
}
