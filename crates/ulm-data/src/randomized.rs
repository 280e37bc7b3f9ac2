//! Domain randomisation: a [`SampleSource`] of simulator acquisitions drawn from a
//! randomised mix, so a model does not learn one exact Gaussian PSF.
//!
//! Sample `i` belongs to acquisition `a = i / frames_per_acquisition` (frame
//! `i % frames_per_acquisition` of it). Acquisition `a` draws, from its own ChaCha8 stream
//! of the seed: a preset from [`PRESETS`] (or the configured subset), a PSF model from
//! [`PSF_MODELS`], and around them the PSF widths (lateral factor, pulse length), the
//! side-lobe level, the SNR, the bubble density (log-uniform multiple of the preset's),
//! the depth of the first row and, for presets filtered by SVD (tissue), the clutter level
//! and the SVD cut-off (the automatic one, or one component lower with probability 1/2,
//! which leaves a tissue residue). It simulates `frames_per_acquisition` frames of
//! `patch × patch` pixels, SVD-filters them where the preset says so, and turns each frame
//! into one normalised [`Sample`] with boxes of 2 × the PSF FWHM at depth. The last
//! `cache_acquisitions` acquisitions are kept, so reading samples in order simulates each
//! acquisition once. Training reads samples in random order: [`RandomizedSource::preload`]
//! simulates every acquisition once, in parallel, and keeps all samples in memory
//! (`samples × patch² × 4` bytes: 128 MiB for 2,048 patches of 128²).
//!
//! **Adding a preset or a PSF model is one line** in [`PRESETS`] / [`PSF_MODELS`].

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use ulm_core::{FrameData, NoProgress};
use ulm_sim::{Preset, SimConfig};

use crate::dataset::frame_patches;
use crate::{AugmentConfig, BoxSize, DataError, Normalization, Sample, SampleSource, TileGrid, augment};

/// A simulator preset of the mix.
#[derive(Debug, Clone, Copy)]
pub struct PresetSpec {
    /// Name used in configs and reports.
    pub name: &'static str,
    /// The preset's parameters on a `rows × cols` grid.
    pub config: fn(usize, usize) -> SimConfig,
    /// Whether frames are SVD-filtered before use (tissue clutter).
    pub svd: bool,
}

/// A PSF model of the mix: modifies the drawn config (e.g. selects the simulator's
/// physical pulse-echo PSF and randomises its parameters).
#[derive(Debug, Clone, Copy)]
pub struct PsfModel {
    /// Name used in reports.
    pub name: &'static str,
    /// Applied after the generic randomisation.
    pub apply: fn(&mut SimConfig, &mut ChaCha8Rng),
}

/// The presets of the mix; add one line per new preset.
pub const PRESETS: &[PresetSpec] = &[
    PresetSpec { name: "sparse", config: |r, c| SimConfig::small(Preset::Sparse, r, c), svd: false },
    PresetSpec { name: "dense", config: |r, c| SimConfig::small(Preset::Dense, r, c), svd: false },
    PresetSpec { name: "tissue", config: |r, c| SimConfig::small(Preset::Tissue, r, c), svd: true },
    PresetSpec { name: "deep", config: |r, c| SimConfig::small(Preset::Deep, r, c), svd: false },
    PresetSpec { name: "cortex", config: |r, c| SimConfig::small(Preset::Cortex, r, c), svd: false },
];

/// The PSF models of the mix; add one line per new model.
pub const PSF_MODELS: &[PsfModel] = &[
    PsfModel { name: "gaussian", apply: |_, _| {} },
    PsfModel { name: "physical", apply: |c, _| c.imaging.psf = ulm_sim::PsfModel::Physical },
];

/// Settings of [`RandomizedSource`]. Ranges are `[min, max]`, drawn uniformly unless said.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RandomizedConfig {
    /// Number of samples.
    pub samples: usize,
    /// Seed of the whole mix.
    pub seed: u64,
    /// Presets drawn from (names in [`PRESETS`]); empty = all.
    pub presets: Vec<String>,
    /// Patch (and simulated grid) size, pixels. Default 256.
    pub patch: usize,
    /// Frames simulated per acquisition. Default 16 (enough for the SVD filter).
    pub frames_per_acquisition: usize,
    /// Lateral PSF width factor. Default `[0.7, 1.6]`.
    pub lateral_factor: [f64; 2],
    /// Pulse length, cycles (axial width). Default `[1.0, 2.5]`.
    pub pulse_cycles: [f64; 2],
    /// Side-lobe level, dB. Default `[-45, -15]`.
    pub sidelobe_db: [f64; 2],
    /// SNR at the top of the image, dB. Default `[12, 35]`.
    pub snr_db: [f64; 2],
    /// Multiple of the preset's bubble density, drawn log-uniformly. Default `[0.3, 3]`.
    pub density_factor: [f64; 2],
    /// Depth of the first row, mm. Default `[1, 12]`.
    pub z0_mm: [f64; 2],
    /// Tissue clutter over bubbles (SVD presets), dB. Default `[30, 50]`.
    pub tissue_clutter_db: [f64; 2],
    /// Box size as a multiple of the PSF FWHM at depth. Default 2.
    pub box_scale: f64,
    /// Pixel pitch of the simulated patches, wavelengths (both axes). Default 0.5 (λ/2,
    /// the presets' own). A finer pitch spreads each PSF over more pixels (a network whose
    /// finest features have stride 4 then separates closer bubbles) and shrinks the field
    /// of view of a patch; the bubble density per mm² stays the preset's. A model trained
    /// at a pitch localizes frames resampled to it (`ulm_detr::localizer`).
    pub pixel_size_wavelengths: f64,
    /// Input normalisation.
    pub normalization: Normalization,
    /// Augmentation applied when a sample is requested with a seed.
    pub augment: Option<AugmentConfig>,
    /// Acquisitions kept in memory. Default 4.
    pub cache_acquisitions: usize,
}

impl Default for RandomizedConfig {
    fn default() -> Self {
        Self {
            samples: 1024,
            seed: 0,
            presets: Vec::new(),
            patch: 256,
            frames_per_acquisition: 16,
            lateral_factor: [0.7, 1.6],
            pulse_cycles: [1.0, 2.5],
            sidelobe_db: [-45.0, -15.0],
            snr_db: [12.0, 35.0],
            density_factor: [0.3, 3.0],
            z0_mm: [1.0, 12.0],
            tissue_clutter_db: [30.0, 50.0],
            box_scale: 2.0,
            pixel_size_wavelengths: 0.5,
            normalization: Normalization::default(),
            augment: None,
            cache_acquisitions: 4,
        }
    }
}

/// What one acquisition of the mix drew.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AcquisitionParams {
    /// Acquisition index.
    pub index: usize,
    /// Preset name.
    pub preset: &'static str,
    /// PSF model name.
    pub psf_model: &'static str,
    /// Simulator seed.
    pub sim_seed: u64,
    /// SVD: components removed at the top beyond the automatic cut-off (`None`: no SVD).
    pub svd_residue: Option<usize>,
    /// The full simulator config.
    pub config: SimConfig,
}

/// Simulator acquisitions from a randomised mix (see the module docs).
#[derive(Debug)]
pub struct RandomizedSource {
    cfg: RandomizedConfig,
    presets: Vec<PresetSpec>,
    cache: Mutex<VecDeque<(usize, Arc<Vec<Sample>>)>>,
    /// Every acquisition's samples, after [`RandomizedSource::preload`].
    all: Option<Vec<Arc<Vec<Sample>>>>,
}

fn uniform(rng: &mut ChaCha8Rng, [a, b]: [f64; 2]) -> f64 {
    if b > a { rng.random_range(a..b) } else { a }
}

impl RandomizedSource {
    /// Validates `cfg` and makes the source (nothing is simulated yet).
    pub fn new(cfg: RandomizedConfig) -> Result<Self, DataError> {
        let presets: Vec<PresetSpec> = if cfg.presets.is_empty() {
            PRESETS.to_vec()
        } else {
            cfg.presets
                .iter()
                .map(|n| {
                    PRESETS.iter().find(|p| p.name == n.trim().to_ascii_lowercase()).copied().ok_or_else(|| {
                        let known: Vec<_> = PRESETS.iter().map(|p| p.name).collect();
                        DataError::Config(format!("unknown preset `{n}` (known: {})", known.join(", ")))
                    })
                })
                .collect::<Result<_, _>>()?
        };
        if cfg.patch < 16 {
            return Err(DataError::Config(format!("patch must be >= 16 pixels, got {}", cfg.patch)));
        }
        if cfg.frames_per_acquisition < 1 || (presets.iter().any(|p| p.svd) && cfg.frames_per_acquisition < 8) {
            return Err(DataError::Config(format!(
                "frames_per_acquisition must be >= 1 (>= 8 with SVD-filtered presets), got {}",
                cfg.frames_per_acquisition
            )));
        }
        for (name, [a, b], min) in [
            ("lateral_factor", cfg.lateral_factor, 1e-3),
            ("pulse_cycles", cfg.pulse_cycles, 1e-3),
            ("sidelobe_db", cfg.sidelobe_db, -200.0),
            ("snr_db", cfg.snr_db, -100.0),
            ("density_factor", cfg.density_factor, 1e-6),
            ("z0_mm", cfg.z0_mm, 0.0),
            ("tissue_clutter_db", cfg.tissue_clutter_db, -100.0),
        ] {
            if !(a.is_finite() && b.is_finite() && a >= min && a <= b) {
                return Err(DataError::Config(format!("{name} must be [min, max] with min >= {min}, got [{a}, {b}]")));
            }
        }
        let pitch = cfg.pixel_size_wavelengths;
        if !(pitch.is_finite() && (0.05..=2.0).contains(&pitch)) {
            return Err(DataError::Config(format!("pixel_size_wavelengths must be in [0.05, 2], got {pitch}")));
        }
        if !(cfg.box_scale.is_finite() && cfg.box_scale > 0.0) {
            return Err(DataError::Config(format!("box_scale must be > 0, got {}", cfg.box_scale)));
        }
        cfg.normalization.validate()?;
        if let Some(a) = &cfg.augment {
            a.validate()?;
        }
        Ok(Self { cfg, presets, cache: Mutex::new(VecDeque::new()), all: None })
    }

    /// The configuration.
    pub fn config(&self) -> &RandomizedConfig {
        &self.cfg
    }

    /// Number of acquisitions behind the samples.
    pub fn n_acquisitions(&self) -> usize {
        self.cfg.samples.div_ceil(self.cfg.frames_per_acquisition)
    }

    /// What acquisition `index` draws (attempt `attempt`, used when a draw cannot be
    /// simulated, e.g. no vessel in the field of view).
    pub fn acquisition_params(&self, index: usize, attempt: u64) -> AcquisitionParams {
        let mut rng = ChaCha8Rng::seed_from_u64(self.cfg.seed);
        rng.set_stream(((index as u64) << 8) | attempt.min(255));
        let c = &self.cfg;
        let spec = self.presets[rng.random_range(0..self.presets.len())];
        let model = PSF_MODELS[rng.random_range(0..PSF_MODELS.len())];
        let mut sim = (spec.config)(c.patch, c.patch);
        // The preset's density per mm² on a patch of the configured pitch.
        let pitch_ratio = c.pixel_size_wavelengths / sim.grid.pixel_size_wavelengths;
        sim.grid.pixel_size_wavelengths = c.pixel_size_wavelengths;
        sim.bubbles.per_frame = (sim.bubbles.per_frame * pitch_ratio * pitch_ratio).max(2.0);
        sim.imaging.lateral_factor = uniform(&mut rng, c.lateral_factor);
        sim.imaging.pulse_cycles = uniform(&mut rng, c.pulse_cycles);
        sim.imaging.lateral_sidelobe_db = uniform(&mut rng, c.sidelobe_db);
        sim.imaging.snr_db = uniform(&mut rng, c.snr_db);
        let [d0, d1] = c.density_factor;
        sim.bubbles.per_frame *= uniform(&mut rng, [d0.ln(), d1.ln()]).exp();
        sim.grid.z0_mm = uniform(&mut rng, c.z0_mm);
        let mut svd_residue = None;
        if spec.svd {
            sim.tissue.clutter_db = uniform(&mut rng, c.tissue_clutter_db);
            svd_residue = Some(rng.random_range(0..2usize));
        }
        (model.apply)(&mut sim, &mut rng);
        let sim_seed: u64 = rng.random();
        AcquisitionParams { index, preset: spec.name, psf_model: model.name, sim_seed, svd_residue, config: sim }
    }

    /// Simulates acquisition `index` into its samples (not cached).
    pub fn acquisition(&self, index: usize) -> Result<Vec<Sample>, DataError> {
        let mut last = None;
        for attempt in 0..8 {
            match self.try_acquisition(&self.acquisition_params(index, attempt)) {
                Ok(s) => return Ok(s),
                Err(e @ DataError::Sim(_)) => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.expect("at least one attempt"))
    }

    fn try_acquisition(&self, p: &AcquisitionParams) -> Result<Vec<Sample>, DataError> {
        let k = self.cfg.frames_per_acquisition;
        let sim = ulm_sim::simulate(&p.config, k, p.sim_seed, &NoProgress)?;
        let geometry = *sim.iq.geometry();
        let iq = match sim.iq.data() {
            FrameData::Complex(a) => a.clone(),
            FrameData::Real(a) => a.mapv(|v| ulm_core::Complex32::new(v, 0.0)),
        };
        let iq = match p.svd_residue {
            Some(residue) => {
                let basis = ulm_clutter::SvdBasis::compute(iq.view())?;
                let low = ulm_clutter::auto_low_cutoff(basis.singular_values()).saturating_sub(residue).max(2);
                basis.project(iq.view(), low, k)
            }
            None => iq,
        };
        let env = iq.mapv(|v| v.norm());
        let n = self.cfg.patch;
        let grid = TileGrid::with_patch(n, n, n, n, 0)?;
        let boxes = BoxSize::Psf { imaging: p.config.imaging.clone(), scale: self.cfg.box_scale };
        let points = crate::dataset::points_by_frame(&sim.truth, k, &geometry, &boxes)?;
        let mut out = Vec::with_capacity(k);
        for (f, pts) in points.iter().enumerate() {
            let mut s =
                frame_patches(env.index_axis(ndarray::Axis(0), f), &geometry, pts, &grid, &self.cfg.normalization)?;
            out.push(s.remove(0));
        }
        Ok(out)
    }

    /// Simulates every acquisition now (in parallel over acquisitions) and keeps all
    /// samples in memory, so that random access never simulates again. `progress` counts
    /// acquisitions.
    ///
    /// # Errors
    /// The first acquisition that cannot be simulated (see [`RandomizedSource::acquisition`]).
    pub fn preload(&mut self, progress: &dyn ulm_core::Progress) -> Result<(), DataError> {
        use rayon::prelude::*;
        progress.set_total(self.n_acquisitions() as u64);
        let all = (0..self.n_acquisitions())
            .into_par_iter()
            .map(|a| {
                let s = self.acquisition(a).map(Arc::new);
                progress.inc(1);
                s
            })
            .collect::<Result<Vec<_>, _>>()?;
        progress.finish();
        self.all = Some(all);
        Ok(())
    }

    /// Sample `index` without augmentation, or the error of its simulation.
    pub fn try_sample(&self, index: usize) -> Result<Sample, DataError> {
        let k = self.cfg.frames_per_acquisition;
        let (a, f) = (index / k, index % k);
        if let Some(all) = &self.all {
            return Ok(all[a][f].clone());
        }
        {
            let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((_, s)) = cache.iter().find(|(i, _)| *i == a) {
                return Ok(s[f].clone());
            }
        }
        let samples = Arc::new(self.acquisition(a)?);
        let out = samples[f].clone();
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if !cache.iter().any(|(i, _)| *i == a) {
            cache.push_back((a, samples));
            while cache.len() > self.cfg.cache_acquisitions.max(1) {
                cache.pop_front();
            }
        }
        Ok(out)
    }
}

impl SampleSource for RandomizedSource {
    fn len(&self) -> usize {
        self.cfg.samples
    }

    /// # Panics
    /// If eight successive draws of the acquisition all fail to simulate (a parameter
    /// range that leaves no vessel in view); [`RandomizedSource::try_sample`] returns the
    /// error instead.
    fn sample(&self, index: usize, augment_seed: Option<u64>) -> Sample {
        let s = self.try_sample(index).unwrap_or_else(|e| panic!("randomised sample {index}: {e}"));
        match (&self.cfg.augment, augment_seed) {
            (Some(cfg), Some(seed)) => augment(&s, cfg, seed),
            _ => s,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small(presets: &[&str]) -> RandomizedConfig {
        RandomizedConfig {
            samples: 16,
            seed: 3,
            presets: presets.iter().map(|s| s.to_string()).collect(),
            patch: 48,
            frames_per_acquisition: 8,
            ..RandomizedConfig::default()
        }
    }

    #[test]
    fn pixel_pitch_keeps_the_density_per_mm2() {
        // 128-px patches of `dense`: enough bubbles that the 2-per-frame floor stays out of it.
        let base = RandomizedConfig { patch: 128, ..small(&["dense"]) };
        let coarse = RandomizedSource::new(base.clone()).unwrap();
        let fine = RandomizedSource::new(RandomizedConfig { pixel_size_wavelengths: 0.25, ..base }).unwrap();
        for a in 0..3 {
            let (c, f) = (coarse.acquisition_params(a, 0), fine.acquisition_params(a, 0));
            // Same draws; the patch covers a quarter of the area, so a quarter of the bubbles.
            assert_eq!(f.config.grid.pixel_size_wavelengths, 0.25);
            assert_eq!(c.config.grid.pixel_size_wavelengths, 0.5);
            assert_eq!((f.config.imaging.snr_db, f.sim_seed), (c.config.imaging.snr_db, c.sim_seed));
            let (nf, nc) = (f.config.bubbles.per_frame, c.config.bubbles.per_frame);
            assert!((nf - nc / 4.0).abs() < 1e-9, "{nf} vs {nc}");
        }
        let fine =
            RandomizedSource::new(RandomizedConfig { pixel_size_wavelengths: 0.25, ..small(&["dense"]) }).unwrap();
        let s = fine.sample(0, None);
        assert!((s.geometry.pixel_size_x_mm / s.geometry.wavelength_mm - 0.25).abs() < 1e-12);
        assert!((s.geometry.pixel_size_z_mm / s.geometry.wavelength_mm - 0.25).abs() < 1e-12);
        for bad in [0.0, f64::NAN, 5.0] {
            let e = RandomizedSource::new(RandomizedConfig { pixel_size_wavelengths: bad, ..small(&[]) }).unwrap_err();
            assert!(e.to_string().contains("pixel_size_wavelengths"), "{e}");
        }
    }

    #[test]
    fn deterministic_mixed_and_boxes_on_bubbles() {
        let src = RandomizedSource::new(small(&[])).unwrap();
        let again = RandomizedSource::new(small(&[])).unwrap();
        assert_eq!(src.sample(9, None), again.sample(9, None));
        // Different acquisitions draw different parameters.
        let (p0, p1) = (src.acquisition_params(0, 0), src.acquisition_params(1, 0));
        assert_ne!(p0.config, p1.config);
        let s = src.sample(3, None);
        assert_eq!((s.height, s.width, s.valid_rows, s.valid_cols), (48, 48, 48, 48));
        assert_eq!(s.boxes.len(), s.centers_mm.len());
        for (i, &(x, z)) in s.centers_mm.iter().enumerate() {
            let (c, r) = s.geometry.mm_to_px(x, z);
            let (bc, br, _, _) = s.box_px(i);
            assert!((c - bc).abs() < 1e-3 && (r - br).abs() < 1e-3);
        }
        assert!(s.image.iter().all(|v| (0.0..=1.0).contains(v)));
        // Samples of the same acquisition are consecutive frames of one simulation.
        assert_eq!(s.geometry, src.sample(4, None).geometry);
    }

    #[test]
    fn preloaded_samples_equal_lazy_ones() {
        let lazy = RandomizedSource::new(small(&["sparse", "dense"])).unwrap();
        let mut loaded = RandomizedSource::new(small(&["sparse", "dense"])).unwrap();
        loaded.preload(&NoProgress).unwrap();
        for i in [0, 7, 8, 15] {
            assert_eq!(lazy.try_sample(i).unwrap(), loaded.try_sample(i).unwrap(), "sample {i}");
        }
    }

    #[test]
    fn tissue_preset_is_svd_filtered_and_bad_configs_error() {
        let src = RandomizedSource::new(small(&["tissue"])).unwrap();
        assert!(src.acquisition_params(0, 0).svd_residue.is_some());
        let s = src.sample(0, None);
        // After SVD the background is the normalised floor, not 40 dB of tissue: the
        // median pixel sits at 0.2 by construction and most pixels are near it.
        let bright = s.image.iter().filter(|&&v| v > 0.8).count();
        assert!(bright < s.image.len() / 20, "{bright}");
        assert!(RandomizedSource::new(small(&["cortexx"])).unwrap_err().to_string().contains("cortexx"));
        let mut c = small(&["tissue"]);
        c.frames_per_acquisition = 4;
        assert!(RandomizedSource::new(c).is_err());
        let mut c = small(&[]);
        c.snr_db = [30.0, 10.0];
        assert!(RandomizedSource::new(c).unwrap_err().to_string().contains("snr_db"));
    }
}
