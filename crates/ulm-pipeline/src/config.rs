//! `pipeline.toml`: what to run, every field documented, unknown keys refused.
//!
//! Parsing ([`PipelineConfig::from_toml`]) checks syntax, key names and types (serde,
//! `deny_unknown_fields`); [`PipelineConfig::validate`] checks ranges and combinations,
//! naming the key (`localize.patch`). [`PipelineConfig::resolve`] turns relative paths
//! into absolute ones (relative to the config file's folder), so the resolved config
//! written beside the results ([`PipelineConfig::to_toml`]) reruns the same thing from
//! anywhere.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use ulm_detr::Refine;
use ulm_localize::TemporalSupport;
use ulm_sim::{Preset, PsfModel};
use ulm_track::{PredictorKind, SpatialIndex};

use crate::PipelineError;
use crate::methods::MethodName;

/// The whole pipeline: sections `[input]`, `[filter]`, `[localize]`, `[track]`,
/// `[render]`, `[eval]`, `[report]`. Only `[input]` is required.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineConfig {
    /// Where the frames come from: a frame file, or a simulation.
    pub input: InputConfig,
    /// Clutter filter (SVD, band-pass), block by block.
    #[serde(default)]
    pub filter: FilterConfig,
    /// Localization: the methods (side by side) and their settings.
    #[serde(default)]
    pub localize: LocalizeConfig,
    /// Tracking (linking localizations into tracks).
    #[serde(default)]
    pub track: TrackConfig,
    /// Super-resolved maps.
    #[serde(default)]
    pub render: RenderConfig,
    /// Evaluation against ground truth (when there is one).
    #[serde(default)]
    pub eval: EvalConfig,
    /// The HTML report.
    #[serde(default)]
    pub report: ReportConfig,
}

/// `[input]`: a frame file (with its `meta.json`) or `[input.simulate]`, not both.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InputConfig {
    /// Frame file (`.npy`, `.mat`, `.h5`, a folder of PNG/TIFF frames, a TIFF), IQ or
    /// envelope, `[frames, z, x]` unless `axis_order` says otherwise. Relative to the
    /// config file's folder.
    pub frames: Option<PathBuf>,
    /// The acquisition's `meta.json` (geometry, frame rate, wavelength) [default:
    /// `meta.json` beside `frames`].
    pub meta: Option<PathBuf>,
    /// Variable / dataset name inside `.mat` / `.h5` files (e.g. `IQ`).
    pub dataset: Option<String>,
    /// Meaning of the stored axes: `tzx` (default), `txz`, `zxt` (PALA's MATLAB `IQ`),
    /// `xzt`, `ztx`, `xtz`.
    pub axis_order: Option<String>,
    /// Accept NaN / Inf samples instead of failing.
    pub allow_non_finite: bool,
    /// Simulate the acquisition instead of reading one (ground truth included).
    pub simulate: Option<SimulateConfig>,
}

/// `[input.simulate]`: a simulated acquisition (`ulm simulate`), written to `sim/`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimulateConfig {
    /// Preset: `sparse`, `dense`, `tissue` (moving clutter: filter it), `deep`, `cortex`.
    pub preset: Preset,
    /// Number of frames.
    pub frames: usize,
    /// Random seed (the simulation is deterministic given it) [default: 0].
    #[serde(default)]
    pub seed: u64,
    /// Expected visible bubbles per frame [default: the preset's].
    pub bubbles_per_frame: Option<f64>,
    /// Rows (depth pixels, λ/2 each) [default: the preset's].
    pub rows: Option<usize>,
    /// Columns (lateral pixels, λ/2 each) [default: the preset's].
    pub cols: Option<usize>,
    /// Mean bubble amplitude over noise RMS at the top of the image, dB [default: the preset's].
    pub snr_db: Option<f64>,
    /// Point-spread function: `gaussian` or `physical` [default: the preset's].
    pub psf: Option<PsfModel>,
}

/// `[filter]`: SVD clutter filter and temporal band-pass, applied block by block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FilterConfig {
    /// Apply the SVD clutter filter [default: true]. Turn it off for data without tissue
    /// (e.g. the `sparse`, `dense` and `cortex` simulations).
    pub svd: bool,
    /// First kept singular component (1-based; components before it are tissue)
    /// [default: automatic, from the elbow of each block's singular-value curve].
    pub svd_low: Option<usize>,
    /// Last kept singular component (1-based, inclusive) [default: the last].
    pub svd_high: Option<usize>,
    /// Frames per block (each block gets its own SVD; memory grows with pixels × block;
    /// a trailing block shorter than half of this joins the previous one) [default: 1000].
    pub block_frames: usize,
    /// Temporal high-pass cut-off, Hz (zero-phase Butterworth, applied within each block:
    /// expect transients in the first and last few frames of a block) [default: none].
    pub bandpass_low_hz: Option<f64>,
    /// Temporal low-pass cut-off, Hz [default: none].
    pub bandpass_high_hz: Option<f64>,
    /// Butterworth order of each side of the band-pass [default: 4].
    pub bandpass_order: usize,
}

impl Default for FilterConfig {
    fn default() -> Self {
        Self {
            svd: true,
            svd_low: None,
            svd_high: None,
            block_frames: 1000,
            bandpass_low_hz: None,
            bandpass_high_hz: None,
            bandpass_order: 4,
        }
    }
}

impl FilterConfig {
    /// Whether any filtering happens.
    pub fn enabled(&self) -> bool {
        self.svd || self.bandpass()
    }

    /// Whether a band-pass is asked for.
    pub fn bandpass(&self) -> bool {
        self.bandpass_low_hz.is_some() || self.bandpass_high_hz.is_some()
    }
}

/// `[localize]`: the methods, run side by side on the same (filtered) frames, and the
/// classical methods' settings (the same as `ulm localize`'s options). The learned
/// methods have their own tables `[localize.de-detr]`, `[localize.detr]`, `[localize.unet]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LocalizeConfig {
    /// Methods: `no-shift`, `centroid`, `gaussian`, `radial`, `interp`, `morph`,
    /// `de-detr`, `detr`, `unet` [default: `["radial"]`].
    pub methods: Vec<MethodName>,
    /// Frames read and localized at a time by the classical methods (memory bound)
    /// [default: 1000].
    pub block_frames: usize,
    /// Patch side in pixels (odd, ≥ 3) around each candidate; the learned detectors'
    /// refinement window [default: 5].
    pub patch: usize,
    /// Keep maxima ≥ this fraction of the frame's maximum [default: 0.1 (−20 dB)].
    pub threshold_rel: f64,
    /// Keep maxima ≥ this absolute envelope value [default: none].
    pub threshold_abs: Option<f64>,
    /// Keep maxima ≥ K × the median envelope of their row; 0 disables [default: 4].
    pub noise_factor: f64,
    /// Keep at most this many brightest maxima per frame [default: no limit].
    pub max_per_frame: Option<usize>,
    /// Minimum distance between candidates, pixels (the brighter wins); 0 = off [default: 0].
    pub min_separation_px: f64,
    /// Extra border margin in pixels beyond half the patch [default: 0].
    pub border_margin_px: usize,
    /// Reject a candidate whose patch holds more than N regional maxima; 0 disables
    /// [default: 3].
    pub max_maxima_in_patch: usize,
    /// Only maxima ≥ this fraction of the candidate's value count as crowding [default: 0.25].
    pub crowd_level: f64,
    /// Discard localizations further than this from their candidate pixel, per axis,
    /// pixels [default: half the patch].
    pub max_shift_px: Option<f64>,
    /// `interp`: upsampling factor (grid step 1/N px) [default: 10].
    pub upsample: usize,
    /// `morph`: threshold as a fraction between the patch minimum and maximum [default: 0.5].
    pub morph_level: f64,
    /// `de-detr` settings.
    #[serde(rename = "de-detr")]
    pub de_detr: LearnedConfig,
    /// `detr` settings.
    pub detr: LearnedConfig,
    /// `unet` settings.
    pub unet: LearnedConfig,
    /// `[localize.temporal_support]`: keep a localization only with another near it in a
    /// neighbouring frame (every method alike; `ulm localize --temporal-support`)
    /// [default: off]. Keys `frames`, `max_speed_mm_s`, `tolerance_wavelengths`,
    /// `min_frames` (see `ulm_localize::TemporalSupport`).
    pub temporal_support: Option<TemporalSupport>,
}

impl Default for LocalizeConfig {
    fn default() -> Self {
        Self {
            methods: vec![MethodName::Radial],
            block_frames: 1000,
            patch: 5,
            threshold_rel: 0.1,
            threshold_abs: None,
            noise_factor: 4.0,
            max_per_frame: None,
            min_separation_px: 0.0,
            border_margin_px: 0,
            max_maxima_in_patch: 3,
            crowd_level: 0.25,
            max_shift_px: None,
            upsample: 10,
            morph_level: 0.5,
            de_detr: LearnedConfig::default(),
            detr: LearnedConfig::default(),
            unet: LearnedConfig::default(),
            temporal_support: None,
        }
    }
}

impl LocalizeConfig {
    /// The settings of a learned method (`None` for a classical one).
    pub fn learned(&self, m: MethodName) -> Option<&LearnedConfig> {
        match m {
            MethodName::DeDetr => Some(&self.de_detr),
            MethodName::Detr => Some(&self.detr),
            MethodName::Unet => Some(&self.unet),
            _ => None,
        }
    }

    fn learned_mut(&mut self, m: MethodName) -> Option<&mut LearnedConfig> {
        match m {
            MethodName::DeDetr => Some(&mut self.de_detr),
            MethodName::Detr => Some(&mut self.detr),
            MethodName::Unet => Some(&mut self.unet),
            _ => None,
        }
    }

    /// Frames localized by method `m` out of `n_frames` (learned methods may be limited
    /// to the first `frames`).
    pub fn frames_for(&self, m: MethodName, n_frames: usize) -> usize {
        self.learned(m).and_then(|l| l.frames).map_or(n_frames, |f| f.min(n_frames))
    }
}

/// `[localize.de-detr]`, `[localize.detr]`, `[localize.unet]`: a learned localizer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LearnedConfig {
    /// Model folder (`runs/NAME/best/` of `ulm train`, or a packaged folder) [default: the
    /// shipped `models/<method>`, looked up beside the working directory, the config file
    /// and the executable].
    pub weights: Option<PathBuf>,
    /// Keep detections scoring at least this [default: the threshold calibrated on
    /// validation data, from the folder's `calibration.json`].
    pub score_threshold: Option<f64>,
    /// `de-detr`/`detr`: re-estimate each centre on the envelope around it (window:
    /// `localize.patch`): `none`, `gaussian`, `radial` [default: the folder's, gaussian].
    pub refine: Option<Refine>,
    /// `de-detr`/`detr`: side of the square tiles fed to the network, pixels [default:
    /// the training patch].
    pub tile: Option<usize>,
    /// `de-detr`/`detr`: pixels shared by neighbouring tiles [default: tile / 8].
    pub overlap: Option<usize>,
    /// `de-detr`/`detr`: merge detections closer than this, in wavelengths [default: 0.5].
    pub dedup_radius_wavelengths: Option<f64>,
    /// Tiles per forward pass [default: 16 for de-detr/detr, 8 for unet].
    pub batch: Option<usize>,
    /// `de-detr`/`detr`: resample frames to this pixel pitch, wavelengths, before the
    /// network sees them [default: the model folder's: its `inference.json`, else the pitch
    /// of its training patches].
    pub pixel_pitch_wavelengths: Option<f64>,
    /// `de-detr`/`detr`: use the frames as given, without resampling [default: false].
    pub native_pitch: bool,
    /// Frames read and localized at a time [default: 32].
    pub block_frames: Option<usize>,
    /// Localize only the first N frames with this method (learned methods are slow on a
    /// CPU; its metrics and maps then cover those frames only) [default: all].
    pub frames: Option<usize>,
}

/// `[track]`: linking (the same as `ulm track`'s options).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrackConfig {
    /// Largest distance from a track's predicted position to a candidate in the next
    /// frame, mm [default: one wavelength].
    pub search_range_mm: Option<f64>,
    /// Frames a bubble may vanish and still be linked [default: 0].
    pub memory: u32,
    /// Drop tracks with fewer points than this [default: 3].
    pub min_length: usize,
    /// Where to search: `none`, `velocity` (last position + last velocity) or `kalman`
    /// [default: velocity].
    pub predictor: PredictorKind,
    /// Reject steps faster than `max_speed_ratio` × the track's previous speed
    /// [default: true].
    pub speed_rejection: bool,
    /// See `speed_rejection` [default: 3].
    pub max_speed_ratio: f64,
    /// Steps up to this length (mm per frame) are never rejected [default: wavelength / 4].
    pub min_rejectable_step_mm: Option<f64>,
    /// Spatial index: `kdtree` or `grid` (same tracks, different speed) [default: the
    /// library's].
    pub index: Option<SpatialIndex>,
}

impl Default for TrackConfig {
    fn default() -> Self {
        Self {
            search_range_mm: None,
            memory: 0,
            min_length: 3,
            predictor: PredictorKind::Velocity,
            speed_rejection: true,
            max_speed_ratio: 3.0,
            min_rejectable_step_mm: None,
            index: None,
        }
    }
}

/// `[render]`: super-resolved maps (the same as `ulm render`'s options).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RenderConfig {
    /// Map pixel size, mm [default: wavelength / 10].
    pub pixel_mm: Option<f64>,
    /// Field of view `[x_min, x_max, z_min, z_max]`, mm [default: the frames' extent].
    pub fov_mm: Option<[f64; 4]>,
    /// σ of the Gaussian per localization, map pixels [default: 1].
    pub sigma_px: f64,
    /// Track interpolation step, map pixels [default: 0.5].
    pub step_px: f64,
    /// Power-law compression of the density images [default: 1/3].
    pub gamma: f64,
    /// Upper end of the speed colour scale, mm/s [default: the map's maximum].
    pub speed_max: Option<f64>,
}

impl Default for RenderConfig {
    fn default() -> Self {
        Self { pixel_mm: None, fov_mm: None, sigma_px: 1.0, step_px: 0.5, gamma: 1.0 / 3.0, speed_max: None }
    }
}

/// `[eval]`: metrics against ground truth (the same as `ulm eval`'s defaults).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EvalConfig {
    /// Ground-truth localizations (CSV/Parquet with `frame, x_mm, z_mm`) [default: none;
    /// a simulation brings its own].
    pub ground_truth: Option<PathBuf>,
    /// Pairing gate, wavelengths [default: 0.5].
    pub gate_wavelengths: f64,
    /// Pairing gate, mm (overrides `gate_wavelengths`) [default: none].
    pub gate_mm: Option<f64>,
    /// Equal depth bands of the metrics table, over the image depth [default: 3].
    pub bands: usize,
    /// Depth bands of the precision/recall-by-depth plot [default: 8].
    pub plot_bands: usize,
    /// FRC: the localizations are split into alternating blocks of this many frames
    /// [default: 100].
    pub frc_block: u32,
    /// FRC map pixel, mm [default: wavelength / 10].
    pub frc_pixel_mm: Option<f64>,
    /// σ of the per-localization Gaussian of the FRC maps, pixels [default: 1].
    pub frc_sigma_px: f64,
    /// MTF line `[x0, z0, x1, z1]`, mm, on the localization density map [default: a
    /// lateral line across the field of view at the depth whose row of the density map
    /// (the ground truth's, else the first method's) has the largest sum].
    pub mtf_line_mm: Option<[f64; 4]>,
    /// σ of the Gaussian smoothing of the MTF profile, map pixels [default: 1].
    pub mtf_sigma: f64,
}

impl Default for EvalConfig {
    fn default() -> Self {
        Self {
            ground_truth: None,
            gate_wavelengths: 0.5,
            gate_mm: None,
            bands: 3,
            plot_bands: 8,
            frc_block: 100,
            frc_pixel_mm: None,
            frc_sigma_px: 1.0,
            mtf_line_mm: None,
            mtf_sigma: 1.0,
        }
    }
}

/// `[report]`: the HTML report.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReportConfig {
    /// Title [default: "ULM report: <input>"].
    pub title: Option<String>,
}

impl PipelineConfig {
    /// Reads, parses and validates `path`, and resolves its relative paths against the
    /// file's folder.
    ///
    /// # Errors
    /// [`PipelineError::Config`] naming the file and the key: unreadable file, TOML syntax,
    /// unknown key, wrong type, out-of-range value.
    pub fn from_file(path: &Path) -> Result<Self, PipelineError> {
        let text = std::fs::read_to_string(path).map_err(|e| PipelineError::config(path, e.to_string()))?;
        let cfg = Self::from_toml(&text, path)?;
        let base = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let base = std::path::absolute(base).map_err(|e| PipelineError::config(path, e.to_string()))?;
        Ok(cfg.resolve(&base))
    }

    /// Parses and validates TOML `text`; `path` names the file in errors.
    ///
    /// # Errors
    /// As [`PipelineConfig::from_file`].
    pub fn from_toml(text: &str, path: &Path) -> Result<Self, PipelineError> {
        let cfg: Self = toml::from_str(text).map_err(|e| PipelineError::config(path, e.to_string()))?;
        cfg.validate().map_err(|m| PipelineError::config(path, m))?;
        Ok(cfg)
    }

    /// The config with relative paths made absolute against `base` (the config file's
    /// folder).
    pub fn resolve(mut self, base: &Path) -> Self {
        let abs = |p: &mut Option<PathBuf>| {
            if let Some(p) = p.as_mut()
                && p.is_relative()
            {
                *p = base.join(&*p);
            }
        };
        abs(&mut self.input.frames);
        abs(&mut self.input.meta);
        abs(&mut self.eval.ground_truth);
        for m in MethodName::ALL {
            if let Some(l) = self.localize.learned_mut(m) {
                abs(&mut l.weights);
            }
        }
        self
    }

    /// The config as TOML (every default written out), as stored beside the results.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_default()
    }

    /// Checks ranges and combinations; the message names the key.
    ///
    /// # Errors
    /// The first problem found, as text naming the key (e.g. `localize.patch must be
    /// odd and >= 3, got 4`).
    pub fn validate(&self) -> Result<(), String> {
        let i = &self.input;
        match (&i.frames, &i.simulate) {
            (Some(_), Some(_)) => return Err("input: give either `frames` or [input.simulate], not both".into()),
            (None, None) => return Err("input: give `frames = \"FILE\"` or an [input.simulate] table".into()),
            _ => {}
        }
        if let Some(o) = &i.axis_order {
            o.parse::<ulm_io::AxisOrder>().map_err(|e| format!("input.axis_order: {e}"))?;
        }
        if let Some(s) = &i.simulate {
            if s.frames < 2 {
                return Err(format!("input.simulate.frames must be >= 2, got {}", s.frames));
            }
            if let Some(b) = s.bubbles_per_frame
                && !(b.is_finite() && b >= 0.0)
            {
                return Err(format!("input.simulate.bubbles_per_frame must be >= 0, got {b}"));
            }
            if s.rows == Some(0) || s.cols == Some(0) {
                return Err("input.simulate.rows / cols must be >= 1".into());
            }
        }
        let f = &self.filter;
        if f.block_frames < 2 {
            return Err(format!("filter.block_frames must be >= 2, got {}", f.block_frames));
        }
        if f.svd_low == Some(0) {
            return Err("filter.svd_low counts components from 1 (1 keeps the first component)".into());
        }
        if let (Some(lo), Some(hi)) = (f.svd_low, f.svd_high)
            && hi < lo
        {
            return Err(format!("filter.svd_high ({hi}) must be >= filter.svd_low ({lo})"));
        }
        if !f.svd && (f.svd_low.is_some() || f.svd_high.is_some()) {
            return Err("filter.svd_low / svd_high given with filter.svd = false".into());
        }
        for (k, v) in [("bandpass_low_hz", f.bandpass_low_hz), ("bandpass_high_hz", f.bandpass_high_hz)] {
            if let Some(v) = v
                && !(v.is_finite() && v > 0.0)
            {
                return Err(format!("filter.{k} must be > 0 Hz, got {v}"));
            }
        }
        if f.bandpass() && !(1..=10).contains(&f.bandpass_order) {
            return Err(format!("filter.bandpass_order must be in 1..=10, got {}", f.bandpass_order));
        }
        let l = &self.localize;
        if l.methods.is_empty() {
            return Err("localize.methods is empty: name at least one method (e.g. [\"radial\"])".into());
        }
        for (n, m) in l.methods.iter().enumerate() {
            if l.methods[..n].contains(m) {
                return Err(format!("localize.methods names `{}` twice", m.name()));
            }
        }
        if l.block_frames == 0 {
            return Err("localize.block_frames must be >= 1".into());
        }
        if let Some(t) = &l.temporal_support {
            t.validate().map_err(|e| format!("localize.temporal_support: {e}"))?;
        }
        crate::methods::classical_config(l, MethodName::Radial).map_err(|e| format!("localize: {e}"))?;
        if !(l.upsample >= 1 && l.upsample <= 100) {
            return Err(format!("localize.upsample must be in 1..=100, got {}", l.upsample));
        }
        if !(l.morph_level > 0.0 && l.morph_level < 1.0) {
            return Err(format!("localize.morph_level must be in (0, 1), got {}", l.morph_level));
        }
        for m in MethodName::ALL.into_iter().filter(|m| m.is_learned()) {
            let c = l.learned(m).expect("learned method");
            let key = |k: &str| format!("localize.{}.{k}", m.name());
            if let Some(t) = c.score_threshold
                && !(0.0..=1.0).contains(&t)
            {
                return Err(format!("{} must be in [0, 1], got {t}", key("score_threshold")));
            }
            for (k, v) in [("tile", c.tile), ("batch", c.batch), ("block_frames", c.block_frames), ("frames", c.frames)]
            {
                if v == Some(0) {
                    return Err(format!("{} must be >= 1", key(k)));
                }
            }
            if let Some(r) = c.dedup_radius_wavelengths
                && !(r.is_finite() && r >= 0.0)
            {
                return Err(format!("{} must be >= 0, got {r}", key("dedup_radius_wavelengths")));
            }
            if m == MethodName::Unet
                && (c.refine.is_some()
                    || c.tile.is_some()
                    || c.overlap.is_some()
                    || c.dedup_radius_wavelengths.is_some())
            {
                return Err(
                    "localize.unet: refine, tile, overlap and dedup_radius_wavelengths belong to de-detr/detr".into()
                );
            }
        }
        let t = &self.track;
        let pos = |v: Option<f64>| v.is_none_or(|v| v.is_finite() && v > 0.0);
        if !pos(t.search_range_mm) {
            return Err(format!("track.search_range_mm must be > 0, got {:?}", t.search_range_mm));
        }
        if !(t.max_speed_ratio.is_finite() && t.max_speed_ratio > 1.0) {
            return Err(format!("track.max_speed_ratio must be > 1, got {}", t.max_speed_ratio));
        }
        if t.min_rejectable_step_mm.is_some_and(|v| !(v.is_finite() && v >= 0.0)) {
            return Err("track.min_rejectable_step_mm must be >= 0".into());
        }
        let r = &self.render;
        if !pos(r.pixel_mm) {
            return Err(format!("render.pixel_mm must be > 0, got {:?}", r.pixel_mm));
        }
        if let Some([x0, x1, z0, z1]) = r.fov_mm
            && !(x1 > x0 && z1 > z0)
        {
            return Err(format!(
                "render.fov_mm must be [x_min, x_max, z_min, z_max] with min < max, got {:?}",
                r.fov_mm
            ));
        }
        for (k, v) in [("sigma_px", r.sigma_px), ("step_px", r.step_px), ("gamma", r.gamma)] {
            if !(v.is_finite() && v > 0.0) {
                return Err(format!("render.{k} must be > 0, got {v}"));
            }
        }
        if !pos(r.speed_max) {
            return Err(format!("render.speed_max must be > 0, got {:?}", r.speed_max));
        }
        let e = &self.eval;
        if !(e.gate_wavelengths.is_finite() && e.gate_wavelengths > 0.0 && pos(e.gate_mm)) {
            return Err("eval.gate_wavelengths / gate_mm must be > 0".into());
        }
        if e.bands == 0 || e.plot_bands == 0 {
            return Err("eval.bands and eval.plot_bands must be >= 1".into());
        }
        if e.frc_block == 0 {
            return Err("eval.frc_block must be >= 1".into());
        }
        if !(pos(e.frc_pixel_mm) && e.frc_sigma_px.is_finite() && e.frc_sigma_px > 0.0) {
            return Err("eval.frc_pixel_mm / frc_sigma_px must be > 0".into());
        }
        if !(e.mtf_sigma.is_finite() && e.mtf_sigma >= 0.0) {
            return Err(format!("eval.mtf_sigma must be >= 0, got {}", e.mtf_sigma));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "[input]\nframes = \"iq.npy\"\n";

    #[test]
    fn minimal_file_takes_documented_defaults_and_round_trips() {
        let c = PipelineConfig::from_toml(MINIMAL, Path::new("p.toml")).unwrap();
        assert_eq!(c.localize.methods, vec![MethodName::Radial]);
        assert!(c.filter.svd && c.filter.svd_low.is_none() && c.filter.block_frames == 1000);
        assert_eq!((c.eval.bands, c.eval.gate_wavelengths), (3, 0.5));
        let c = c.resolve(Path::new("/data/run"));
        assert_eq!(c.input.frames.as_deref(), Some(Path::new("/data/run/iq.npy")));
        // The resolved file written beside the results reads back to the same config.
        let again = PipelineConfig::from_toml(&c.to_toml(), Path::new("resolved.toml")).unwrap();
        assert_eq!(again, c);
    }

    #[test]
    fn example_config_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/pipeline.example.toml");
        let c = PipelineConfig::from_file(&path).unwrap();
        assert_eq!(c.localize.methods, vec![MethodName::Radial, MethodName::Gaussian]);
        assert_eq!(c.input.simulate.as_ref().map(|s| s.preset), Some(Preset::Tissue));
        // Every key it writes out is the default, except those the example sets.
        assert_eq!(c.track, TrackConfig::default());
        assert_eq!(c.eval, EvalConfig::default());
    }

    #[test]
    fn unknown_keys_and_bad_values_name_the_file_and_key() {
        let text = "[input]\nframes = \"iq.npy\"\n[localize]\nmethods = [\"radial\"]\ntreshold_rel = 0.2\n";
        let e = PipelineConfig::from_toml(text, Path::new("conf/p.toml")).unwrap_err().to_string();
        assert!(e.starts_with("conf/p.toml: ") && e.contains("treshold_rel") && e.contains("line 5"), "{e}");
        let text = "[input]\nframes = \"iq.npy\"\n[localize]\nmethods = [\"radiall\"]\n";
        let e = PipelineConfig::from_toml(text, Path::new("p.toml")).unwrap_err().to_string();
        assert!(e.contains("radiall") && e.contains("de-detr"), "{e}");
        let text = "[input]\nframes = \"iq.npy\"\n[localize]\npatch = 4\n";
        let e = PipelineConfig::from_toml(text, Path::new("p.toml")).unwrap_err().to_string();
        assert!(e.contains("p.toml") && e.contains("patch") && e.contains('4'), "{e}");
        let text = "[input]\nframes = \"iq.npy\"\n[input.simulate]\npreset = \"sparse\"\nframes = 10\n";
        let e = PipelineConfig::from_toml(text, Path::new("p.toml")).unwrap_err().to_string();
        assert!(e.contains("not both"), "{e}");
        let text = "[input]\nframes = \"iq.npy\"\n[localize.unet]\nrefine = \"radial\"\n";
        let e = PipelineConfig::from_toml(text, Path::new("p.toml")).unwrap_err().to_string();
        assert!(e.contains("localize.unet"), "{e}");
        let text = "[input]\nframes = \"iq.npy\"\n[localize.temporal_support]\nframes = 0\n";
        let e = PipelineConfig::from_toml(text, Path::new("p.toml")).unwrap_err().to_string();
        assert!(e.contains("localize.temporal_support") && e.contains("frames"), "{e}");
        let text = "[input]\nframes = \"iq.npy\"\n[localize.temporal_support]\nframe = 2\n";
        let e = PipelineConfig::from_toml(text, Path::new("p.toml")).unwrap_err().to_string();
        assert!(e.contains("frame"), "{e}");
        let text = "[input]\nframes = \"iq.npy\"\n[localize.temporal_support]\nmax_speed_mm_s = 80.0\n";
        let c = PipelineConfig::from_toml(text, Path::new("p.toml")).unwrap();
        let t = c.localize.temporal_support.unwrap();
        assert_eq!((t.frames, t.max_speed_mm_s, t.min_frames), (2, 80.0, 1));
        let text = "[input]\nframes = \"iq.npy\"\n[localize.de-detr]\nscore_threshold = 1.5\n";
        let e = PipelineConfig::from_toml(text, Path::new("p.toml")).unwrap_err().to_string();
        assert!(e.contains("localize.de-detr.score_threshold"), "{e}");
        let e = PipelineConfig::from_file(Path::new("/no/such/pipeline.toml")).unwrap_err().to_string();
        assert!(e.starts_with("/no/such/pipeline.toml: "), "{e}");
    }
}
