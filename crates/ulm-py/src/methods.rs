//! `ulm.localize(method=…)`: every localization method by name, in one place.
//!
//! Adding a method (a learned localizer from `ulm-detr` or `ulm-unet`) is one line in
//! [`METHODS`] and one arm in [`localizer`]; its options arrive in [`LocalizeOptions`].

use ulm_localize::{ClassicalConfig, ClassicalLocalizer, DetectConfig, Localizer, Method};

use crate::errors;

/// The method names `ulm.localize` accepts (the CLI's `--method` values).
pub const METHODS: &[&str] = &["no-shift", "centroid", "gaussian", "radial", "interp", "morph"];

/// The accepted method names, for the Python module's `LOCALIZATION_METHODS`.
pub fn names() -> Vec<&'static str> {
    METHODS.to_vec()
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

/// The classical config for `method`, built as `ulm localize` builds it.
fn classical(method: Method, o: &LocalizeOptions) -> ClassicalConfig {
    ClassicalConfig {
        method,
        patch: o.patch,
        max_shift_px: o.max_shift_px,
        detect: DetectConfig {
            threshold_rel: o.threshold_rel,
            threshold_abs: o.threshold_abs,
            noise_factor: (o.noise_factor > 0.0).then_some(o.noise_factor),
            max_per_frame: o.max_per_frame,
            min_separation_px: o.min_separation_px,
            border_margin_px: o.border_margin_px,
            max_maxima_in_patch: (o.max_maxima_in_patch > 0).then_some(o.max_maxima_in_patch),
            crowd_level: o.crowd_level,
        },
    }
}

/// The localizer called `method` with options `o`, and its config as JSON (for the
/// record). An unknown name is a `ValueError` listing the known ones.
pub fn localizer(method: &str, o: &LocalizeOptions) -> pyo3::PyResult<(Box<dyn Localizer>, serde_json::Value)> {
    let m = match method.trim().to_ascii_lowercase().replace('_', "-").as_str() {
        "no-shift" => Method::NoShift,
        "centroid" => Method::Centroid,
        "gaussian" => Method::Gaussian,
        "radial" => Method::Radial,
        "interp" => Method::Interp { upsample: o.upsample },
        "morph" => Method::Morph { level: o.morph_level },
        _ => {
            return Err(pyo3::exceptions::PyValueError::new_err(format!(
                "unknown localization method `{method}`: use one of {}",
                METHODS.join(", ")
            )));
        }
    };
    let cfg = classical(m, o);
    cfg.validate().map_err(errors::to_py)?;
    let json = serde_json::to_value(&cfg).unwrap_or_default();
    let loc = ClassicalLocalizer::new(cfg).map_err(errors::to_py)?;
    Ok((Box::new(loc), json))
}
