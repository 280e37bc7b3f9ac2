//! A small [`SampleSource`] rendered from the simulator, for trainer tests and first runs.
//!
//! Each simulated frame is one patch (the simulation grid is the patch size): envelope →
//! log compression to `dynamic_range_db` below the patch maximum → zero mean, unit
//! variance per patch. Every ground-truth bubble gets a `box_px × box_px` box centred on
//! it. Several short simulations with consecutive seeds give variety (bubbles move little
//! between consecutive frames). Augmentation (when a seed is given): horizontal flip with
//! probability ½.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use ulm_core::NoProgress;
use ulm_sim::{Preset, SimConfig, SimError, simulate};

use crate::{Sample, SampleSource};

/// What [`SimSource::new`] renders.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimSourceConfig {
    /// Simulator preset (on a small grid of `size × size` pixels, `SimConfig::small`).
    pub preset: Preset,
    /// Patch side in pixels (rows = cols).
    pub size: usize,
    /// Number of simulations (seeds `seed, seed + 1, …`).
    pub simulations: usize,
    /// Frames per simulation.
    pub frames_per_simulation: usize,
    /// Seed of the first simulation.
    pub seed: u64,
    /// Side of the box around each bubble, pixels.
    pub box_px: f32,
    /// Log-compression range below the patch maximum, dB.
    pub dynamic_range_db: f32,
    /// Overrides the preset's expected bubbles per frame (after scaling to the grid).
    pub bubbles_per_frame: Option<f64>,
}

impl SimSourceConfig {
    /// Pixel pitch of the patches, wavelengths (the preset's grid).
    pub fn pixel_size_wavelengths(&self) -> f64 {
        SimConfig::small(self.preset, self.size, self.size).grid.pixel_size_wavelengths
    }

    /// `simulations × frames` patches of `size²` pixels of `preset`, 4-px boxes, 30 dB.
    pub fn new(preset: Preset, size: usize, simulations: usize, frames_per_simulation: usize, seed: u64) -> Self {
        Self {
            preset,
            size,
            simulations,
            frames_per_simulation,
            seed,
            box_px: 4.0,
            dynamic_range_db: 30.0,
            bubbles_per_frame: None,
        }
    }
}

/// Pre-rendered simulated patches.
#[derive(Debug, Clone)]
pub struct SimSource {
    samples: Vec<Sample>,
}

/// Log-compressed, standardised patch from an envelope (a whole patch; see
/// [`normalize_peak_db`] for padded tiles).
pub fn normalise(envelope: &[f32], dynamic_range_db: f32) -> Vec<f32> {
    let n = envelope.len();
    normalize_peak_db(envelope, n.max(1), n.min(1), n, dynamic_range_db)
}

/// The input normalisation of [`SimSource`], for inference on a row-major `? × width`
/// envelope patch whose valid (not padding) area is `valid_rows × valid_cols`: log
/// compression to `dynamic_range_db` below the valid area's maximum, then zero mean and
/// unit variance over the valid area. Every pixel, padding included, is mapped with those
/// statistics. On a full patch it equals what training saw bit for bit.
pub fn normalize_peak_db(
    envelope: &[f32],
    width: usize,
    valid_rows: usize,
    valid_cols: usize,
    dynamic_range_db: f32,
) -> Vec<f32> {
    let valid = || (0..valid_rows).flat_map(move |r| envelope[r * width..r * width + valid_cols].iter().copied());
    let max = valid().fold(f32::MIN_POSITIVE, f32::max);
    let to_db = |v: f32| (20.0 * (v.max(1e-12) / max).log10()).max(-dynamic_range_db);
    let n = (valid_rows * valid_cols).max(1) as f32;
    let mean = valid().map(to_db).sum::<f32>() / n;
    let std = (valid().map(to_db).map(|v| (v - mean) * (v - mean)).sum::<f32>() / n).sqrt().max(1e-6);
    envelope.iter().map(|&v| (to_db(v) - mean) / std).collect()
}

impl SimSource {
    /// Simulates and renders every patch.
    ///
    /// # Errors
    /// If the simulator rejects the configuration.
    pub fn new(config: &SimSourceConfig) -> Result<Self, SimError> {
        let mut sim_config = SimConfig::small(config.preset, config.size, config.size);
        if let Some(n) = config.bubbles_per_frame {
            sim_config.bubbles.per_frame = n;
        }
        sim_config.validate()?;
        let (rows, cols) = (config.size, config.size);
        let mut samples = Vec::new();
        for s in 0..config.simulations {
            let sim = simulate(&sim_config, config.frames_per_simulation, config.seed + s as u64, &NoProgress)?;
            let geometry = *sim.iq.geometry();
            let by_frame = sim.truth.rows_by_frame(config.frames_per_simulation);
            for (f, idx) in by_frame.iter().enumerate() {
                let env = sim.iq.frame_envelope(f);
                let image = normalise(&env.iter().copied().collect::<Vec<_>>(), config.dynamic_range_db);
                let mut boxes = Vec::new();
                let mut centers_mm = Vec::new();
                for &i in idx {
                    let (x, z) = (sim.truth.x_mm[i], sim.truth.z_mm[i]);
                    let (col, row) = geometry.mm_to_px(x, z);
                    boxes.push([
                        ((col + 0.5) / cols as f64) as f32,
                        ((row + 0.5) / rows as f64) as f32,
                        config.box_px / cols as f32,
                        config.box_px / rows as f32,
                    ]);
                    centers_mm.push((x, z));
                }
                samples.push(Sample {
                    image,
                    height: rows,
                    width: cols,
                    valid_rows: rows,
                    valid_cols: cols,
                    boxes,
                    geometry,
                    centers_mm,
                });
            }
        }
        Ok(Self { samples })
    }

    /// A source over given samples.
    pub fn from_samples(samples: Vec<Sample>) -> Self {
        Self { samples }
    }
}

/// Mirrors a sample left–right (image, boxes and mm centres).
pub fn flip_horizontal(mut s: Sample) -> Sample {
    let w = s.width;
    for row in s.image.chunks_mut(w) {
        row.reverse();
    }
    for b in &mut s.boxes {
        b[0] = 1.0 - b[0];
    }
    let g = s.geometry;
    for c in &mut s.centers_mm {
        let col = g.x_mm_to_col(c.0);
        c.0 = g.col_to_x_mm((w - 1) as f64 - col);
    }
    s
}

impl SampleSource for SimSource {
    fn len(&self) -> usize {
        self.samples.len()
    }

    fn sample(&self, index: usize, augment_seed: Option<u64>) -> Sample {
        let s = self.samples[index].clone();
        match augment_seed {
            Some(seed) if ChaCha8Rng::seed_from_u64(seed).random_bool(0.5) => flip_horizontal(s),
            _ => s,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boxes_sit_on_the_bright_spots_and_flip_consistently() {
        let mut cfg = SimSourceConfig::new(Preset::Sparse, 48, 1, 3, 5);
        cfg.bubbles_per_frame = Some(3.0);
        let src = SimSource::new(&cfg).unwrap();
        assert_eq!(src.len(), 3);
        let s = src.sample(0, None);
        assert!(!s.boxes.is_empty());
        let mean: f32 = s.image.iter().sum::<f32>() / s.image.len() as f32;
        assert!(mean.abs() < 1e-4);
        // The pixel under each box centre is brighter than the patch average (0).
        let bright = s
            .boxes
            .iter()
            .filter(|b| {
                let (col, row) = ((b[0] * 48.0 - 0.5).round() as usize, (b[1] * 48.0 - 0.5).round() as usize);
                s.image[row * 48 + col] > 0.5
            })
            .count();
        assert!(bright * 2 >= s.boxes.len(), "{bright} of {}", s.boxes.len());
        let f = flip_horizontal(s.clone());
        for ((b, fb), (c, fc)) in s.boxes.iter().zip(&f.boxes).zip(s.centers_mm.iter().zip(&f.centers_mm)) {
            assert!((b[0] + fb[0] - 1.0).abs() < 1e-6);
            // x mirrored about the patch centre column.
            let mid = s.geometry.col_to_x_mm(23.5);
            assert!((c.0 + fc.0 - 2.0 * mid).abs() < 1e-9);
        }
        assert_eq!(f.image[0], s.image[47]);
    }

    #[test]
    fn peak_db_uses_the_valid_area_only() {
        // A 3 × 2 valid area inside a 4 × 4 patch whose padding holds a far brighter value.
        let valid = [1.0f32, 10.0, 100.0, 3.0, 0.5, 2.0];
        let mut patch = vec![1e6f32; 16];
        for r in 0..3 {
            for c in 0..2 {
                patch[r * 4 + c] = valid[r * 2 + c];
            }
        }
        let a = normalize_peak_db(&patch, 4, 3, 2, 30.0);
        let b = normalise(&valid, 30.0);
        for r in 0..3 {
            for c in 0..2 {
                assert_eq!(a[r * 4 + c], b[r * 2 + c]);
            }
        }
        // By hand: 100 is the peak (0 dB), 0.5 is −46 dB → clipped at −30 dB; dB values
        // [-40→-30, -20, 0, -30.46→-30, -30, -33.98→-30] have mean −23.33 and std 10.67.
        let db = [-30.0f32, -20.0, 0.0, -30.0, -30.0, -30.0];
        let mean = db.iter().sum::<f32>() / 6.0;
        let std = (db.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / 6.0).sqrt();
        assert!((b[2] - (0.0 - mean) / std).abs() < 1e-5);
        // Padding brighter than the valid peak maps above it (log of the ratio, not clipped).
        assert!(a[15] > b[2]);
    }
}
