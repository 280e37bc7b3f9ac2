//! `ulm.localize(method=…)`: every localization method by name, through the registry
//! the CLI uses (`ulm_pipeline::methods`): the classical ones with the options of
//! [`LocalizeOptions`], the learned ones (`de-detr`, `detr`, `unet`) from a model folder
//! (given, or the shipped `models/<name>`).

use std::path::PathBuf;

use ulm_localize::{ClassicalLocalizer, Localizer};
use ulm_pipeline::LocalizeConfig;
use ulm_pipeline::methods::{MethodName, classical_config};

use crate::errors;

/// The accepted method names, for the Python module's `LOCALIZATION_METHODS`.
pub fn names() -> Vec<&'static str> {
    MethodName::ALL.iter().map(|m| m.name()).collect()
}

/// Where a learned method's weights come from.
#[derive(Debug, Clone, Default)]
pub struct LearnedOptions {
    /// The model folder; `None`: the shipped `models/<name>`.
    pub weights: Option<PathBuf>,
    /// Replaces the calibrated score threshold.
    pub score_threshold: Option<f32>,
    /// DE-DETR/DETR: resample frames to this pitch, wavelengths (replaces the folder's).
    pub pixel_pitch: Option<f64>,
    /// DE-DETR/DETR: use the frames as given.
    pub native_pitch: bool,
    /// Folders whose ancestors may hold the shipped `models/` (the package's own folder).
    pub search_dirs: Vec<PathBuf>,
}

/// The options of `ulm.localize`, with the CLI's defaults (`ulm localize --help`).
#[derive(Debug, Clone)]
pub struct LocalizeOptions {
    /// Patch side in pixels (odd, >= 3).
    pub patch: usize,
    /// Keep maxima >= this fraction of the frame's maximum.
    pub threshold_rel: f32,
    /// Keep maxima >= this absolute envelope value.
    pub threshold_abs: Option<f32>,
    /// Keep maxima >= K × the median envelope of their row; 0 disables.
    pub noise_factor: f32,
    /// At most this many maxima per frame.
    pub max_per_frame: Option<usize>,
    /// Minimum distance between candidates, pixels.
    pub min_separation_px: f64,
    /// Extra border margin, pixels.
    pub border_margin_px: usize,
    /// Reject a candidate whose patch holds more maxima than this; 0 disables.
    pub max_maxima_in_patch: usize,
    /// Fraction of the candidate's value above which a maximum counts as crowding.
    pub crowd_level: f32,
    /// Largest shift from the candidate pixel, per axis, pixels (default: half the patch).
    pub max_shift_px: Option<f64>,
    /// `interp`: upsampling factor.
    pub upsample: usize,
    /// `morph`: threshold between the patch minimum and maximum.
    pub morph_level: f32,
}

impl LocalizeOptions {
    /// The same settings as the pipeline's `[localize]` table, whose
    /// [`classical_config`] builds the classical config (as `ulm localize` does).
    fn to_config(&self) -> LocalizeConfig {
        LocalizeConfig {
            patch: self.patch,
            threshold_rel: self.threshold_rel.into(),
            threshold_abs: self.threshold_abs.map(f64::from),
            noise_factor: self.noise_factor.into(),
            max_per_frame: self.max_per_frame,
            min_separation_px: self.min_separation_px,
            border_margin_px: self.border_margin_px,
            max_maxima_in_patch: self.max_maxima_in_patch,
            crowd_level: self.crowd_level.into(),
            max_shift_px: self.max_shift_px,
            upsample: self.upsample,
            morph_level: self.morph_level.into(),
            ..LocalizeConfig::default()
        }
    }
}

/// The localizer called `method` with options `o` (classical) or `l` (learned), its
/// config as JSON (for the record) and the method. An unknown name is a `ValueError`
/// listing the known ones; a learned method without a model folder an `UlmError` saying
/// where it looked.
pub fn localizer(
    method: &str,
    o: &LocalizeOptions,
    l: &LearnedOptions,
) -> pyo3::PyResult<(Box<dyn Localizer>, serde_json::Value, MethodName)> {
    let name = MethodName::parse(method).map_err(|e| pyo3::exceptions::PyValueError::new_err(e.to_string()))?;
    if name.is_learned() {
        let dir = match &l.weights {
            Some(d) => d.clone(),
            None => ulm_bench::shipped_model(name, &l.search_dirs).map_err(errors::to_py)?,
        };
        let o = ulm_pipeline::LearnedConfig {
            score_threshold: l.score_threshold.map(f64::from),
            pixel_pitch_wavelengths: l.pixel_pitch,
            native_pitch: l.native_pitch,
            ..ulm_pipeline::LearnedConfig::default()
        };
        let (loc, cfg) = ulm_pipeline::methods::load_learned_with(name, &dir, &o, None).map_err(errors::to_py)?;
        return Ok((loc, cfg, name));
    }
    if l.weights.is_some() || l.score_threshold.is_some() || l.pixel_pitch.is_some() || l.native_pitch {
        return Err(errors::invalid(format!(
            "weights, score_threshold, pixel_pitch and native_pitch apply to the learned methods (de-detr, detr, \
             unet), not `{name}`"
        )));
    }
    let cfg = classical_config(&o.to_config(), name).map_err(errors::to_py)?;
    let json = serde_json::to_value(&cfg).unwrap_or_default();
    let loc = ClassicalLocalizer::new(cfg).map_err(errors::to_py)?;
    Ok((Box::new(loc), json, name))
}
