//! Every localization method by name, and the localizer each name builds: the classical
//! estimators of `ulm-localize`, DE-DETR / DETR (`ulm-detr`) and the U-Net (`ulm-unet`)
//! from a model folder, given or shipped (`models/<name>`). The one registry of names:
//! `ulm localize`, `ulm run`, `ulm bench` and Python's `ulm.localize(method=…)` build their
//! localizers here.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use ulm_core::Localizer;
use ulm_detr::localizer::folder::TRAIN_CONFIG_FILE;
use ulm_detr::train::ModelKind;
use ulm_detr::{DetrLocalizer, ModelFolder};
use ulm_localize::{ClassicalConfig, ClassicalLocalizer, DetectConfig, LocalizeError, Method};

use crate::PipelineError;
use crate::config::{LearnedConfig, LocalizeConfig};

/// A localization method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MethodName {
    /// The pixel of the maximum (no sub-pixel step).
    NoShift,
    /// Background-subtracted intensity centroid.
    Centroid,
    /// Least-squares 2-D Gaussian fit.
    Gaussian,
    /// Radial symmetry centre (Parthasarathy), as in PALA.
    Radial,
    /// Lanczos-3 upsampling, then the maximum.
    Interp,
    /// Threshold, connected component, centroid.
    Morph,
    /// Deformable DETR, the learned detector.
    DeDetr,
    /// DETR, the learned detector.
    Detr,
    /// Deep-ULM U-Net.
    Unet,
}

impl MethodName {
    /// Every method, in the order of the papers' tables (learned detectors first).
    pub const ALL: [MethodName; 9] = [
        MethodName::DeDetr,
        MethodName::Detr,
        MethodName::NoShift,
        MethodName::Centroid,
        MethodName::Gaussian,
        MethodName::Radial,
        MethodName::Interp,
        MethodName::Morph,
        MethodName::Unet,
    ];

    /// The name in configs, file names and reports (`no-shift`, `de-detr` …).
    pub fn name(self) -> &'static str {
        match self {
            MethodName::NoShift => "no-shift",
            MethodName::Centroid => "centroid",
            MethodName::Gaussian => "gaussian",
            MethodName::Radial => "radial",
            MethodName::Interp => "interp",
            MethodName::Morph => "morph",
            MethodName::DeDetr => "de-detr",
            MethodName::Detr => "detr",
            MethodName::Unet => "unet",
        }
    }

    /// The method called `s` (case-insensitive, `_` for `-`).
    ///
    /// # Errors
    /// [`MethodError::UnknownMethod`] listing the known names.
    pub fn parse(s: &str) -> Result<Self, MethodError> {
        let key = s.trim().to_ascii_lowercase().replace('_', "-");
        Self::ALL.into_iter().find(|m| m.name() == key).ok_or_else(|| MethodError::UnknownMethod {
            name: s.to_string(),
            known: Self::ALL.iter().map(|m| m.name()).collect::<Vec<_>>().join(", "),
        })
    }

    /// Whether the method is a trained model (needs a model folder).
    pub fn is_learned(self) -> bool {
        matches!(self, MethodName::DeDetr | MethodName::Detr | MethodName::Unet)
    }

    /// The classical sub-pixel method with `ulm localize`'s defaults (`--upsample 10`,
    /// `--morph-level 0.5`); `None` for the learned methods.
    pub fn classical(self) -> Option<Method> {
        Some(match self {
            MethodName::NoShift => Method::NoShift,
            MethodName::Centroid => Method::Centroid,
            MethodName::Gaussian => Method::Gaussian,
            MethodName::Radial => Method::Radial,
            MethodName::Interp => Method::Interp { upsample: 10 },
            MethodName::Morph => Method::Morph { level: 0.5 },
            MethodName::DeDetr | MethodName::Detr | MethodName::Unet => return None,
        })
    }

    /// Frames per block of `ulm localize` (its `--block-frames` default): 1000, or 32 for
    /// the learned methods (their batches of tiles fill from a few frames).
    pub fn block_frames(self) -> usize {
        if self.is_learned() { 32 } else { 1000 }
    }
}

impl std::fmt::Display for MethodName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The classical localizer's config for `method` from the `[localize]` settings.
///
/// # Errors
/// `method` is a learned one, or a setting is out of range.
pub fn classical_config(l: &LocalizeConfig, method: MethodName) -> Result<ClassicalConfig, LocalizeError> {
    let method = match method {
        MethodName::NoShift => Method::NoShift,
        MethodName::Centroid => Method::Centroid,
        MethodName::Gaussian => Method::Gaussian,
        MethodName::Radial => Method::Radial,
        MethodName::Interp => Method::Interp { upsample: l.upsample },
        MethodName::Morph => Method::Morph { level: l.morph_level as f32 },
        m => return Err(LocalizeError::Config(format!("{m} is not a classical method"))),
    };
    let cfg = ClassicalConfig {
        method,
        patch: l.patch,
        max_shift_px: l.max_shift_px,
        detect: DetectConfig {
            threshold_rel: l.threshold_rel as f32,
            threshold_abs: l.threshold_abs.map(|v| v as f32),
            noise_factor: (l.noise_factor > 0.0).then_some(l.noise_factor as f32),
            max_per_frame: l.max_per_frame,
            min_separation_px: l.min_separation_px,
            border_margin_px: l.border_margin_px,
            max_maxima_in_patch: (l.max_maxima_in_patch > 0).then_some(l.max_maxima_in_patch),
            crowd_level: l.crowd_level as f32,
        },
    };
    cfg.validate()?;
    Ok(cfg)
}

/// Why a method name, a shipped model or a model folder cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum MethodError {
    /// A method name that does not exist.
    #[error("unknown localization method `{name}`: use one of {known}")]
    UnknownMethod {
        /// The name given.
        name: String,
        /// The known names, comma-separated.
        known: String,
    },
    /// No model folder was given and none is shipped.
    #[error(
        "no model folder for `{method}` given and no shipped `models/{method}` (looked in {}); train one with \
         `ulm train --config configs/deformable-detr-sparse-128.toml` (detr: `kind = \"detr\"` in its [model] \
         table; unet: configs/unet-tiny-128.toml) and pass its runs/<name>/best folder",
        .looked.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
    )]
    NoShippedModel {
        /// The learned method.
        method: MethodName,
        /// Every folder looked at.
        looked: Vec<PathBuf>,
    },
    /// A model folder that cannot be loaded.
    #[error("loading the {method} model folder {} ({}): {message}", .dir.display(), folder_files(*.method))]
    Model {
        /// The learned method.
        method: MethodName,
        /// The folder.
        dir: PathBuf,
        /// What is wrong (names the file).
        message: String,
    },
    /// A method or setting that does not fit (e.g. a model folder for a classical method).
    #[error("{0}")]
    Config(String),
}

/// What a model folder of `method` holds, for error messages.
fn folder_files(method: MethodName) -> String {
    if method == MethodName::Unet {
        "the U-Net weights and settings, as `ulm train` writes into runs/NAME/best/".into()
    } else {
        format!(
            "model.safetensors, config.json, calibration.json and the training config {TRAIN_CONFIG_FILE}, as \
             `ulm train` writes into runs/NAME/best/"
        )
    }
}

/// The methods named in `list`, in its order, each once.
///
/// # Errors
/// An unknown name ([`MethodError::UnknownMethod`]) or an empty list.
pub fn parse_methods<S: AsRef<str>>(list: &[S]) -> Result<Vec<MethodName>, MethodError> {
    let mut out = Vec::new();
    for s in list {
        let m = MethodName::parse(s.as_ref())?;
        if !out.contains(&m) {
            out.push(m);
        }
    }
    if out.is_empty() {
        return Err(MethodError::Config("no localization method given".into()));
    }
    Ok(out)
}

/// The shipped model folder `models/<name>` of `method`, if there is one: relative to the
/// working directory, else in an ancestor of one of `anchors` (e.g. the config file's
/// folder, or the Python extension module's), else in a folder above the executable (a
/// build inside the repository, `target/*/ulm`). On failure, every place looked at.
pub fn find_shipped(method: MethodName, anchors: &[PathBuf]) -> Result<PathBuf, Vec<PathBuf>> {
    let rel = Path::new("models").join(method.name());
    let mut looked = vec![rel.clone()];
    if rel.is_dir() {
        return Ok(rel);
    }
    let exe_dir = std::env::current_exe().ok().and_then(|e| e.parent().map(Path::to_path_buf));
    for anchor in anchors.iter().chain(exe_dir.as_ref()) {
        for up in anchor.ancestors() {
            let cand = up.join(&rel);
            if cand.is_dir() {
                return Ok(cand);
            }
            if !looked.contains(&cand) {
                looked.push(cand);
            }
        }
    }
    Err(looked)
}

/// [`find_shipped`], with an error that says where it looked and how to train a model.
///
/// # Errors
/// [`MethodError::NoShippedModel`] with every place looked at.
pub fn shipped_model(method: MethodName, anchors: &[PathBuf]) -> Result<PathBuf, MethodError> {
    find_shipped(method, anchors).map_err(|looked| MethodError::NoShippedModel { method, looked })
}

/// The localizer of a classical `method` with `ulm localize`'s defaults, and its config
/// (for the record); `None` for a learned method.
pub fn classical_localizer(method: MethodName) -> Option<(ClassicalLocalizer, serde_json::Value)> {
    let cfg = ClassicalConfig::new(method.classical()?);
    let json = serde_json::to_value(&cfg).unwrap_or_default();
    Some((ClassicalLocalizer::new(cfg).expect("the defaults are valid"), json))
}

/// The learned `method` loaded from the model folder `dir` (`runs/NAME/best/` of `ulm
/// train`, or a packaged folder such as `models/unet`) with the folder's settings; a
/// `score_threshold` replaces the threshold calibrated on validation data. Returns the
/// localizer and its settings (for the record).
///
/// # Errors
/// See [`load_learned_with`].
pub fn load_learned(
    method: MethodName,
    dir: &Path,
    score_threshold: Option<f32>,
) -> Result<(Box<dyn Localizer>, serde_json::Value), MethodError> {
    let o = LearnedConfig { score_threshold: score_threshold.map(f64::from), ..LearnedConfig::default() };
    load_learned_with(method, dir, &o, None)
}

/// The learned `method` loaded from the model folder `dir`, with the overrides of `o`
/// (its `weights`, `block_frames` and `frames` are not used here) and, for DE-DETR/DETR,
/// `refine_patch` as the refinement window (`None`: the folder's). Returns the localizer
/// and its settings (for the record).
///
/// # Errors
/// A classical `method` ([`MethodError::Config`]), a folder of the other detector kind, a
/// missing or corrupt file of the folder, or an override out of range
/// ([`MethodError::Model`], naming the folder and the file).
pub fn load_learned_with(
    method: MethodName,
    dir: &Path,
    o: &LearnedConfig,
    refine_patch: Option<usize>,
) -> Result<(Box<dyn Localizer>, serde_json::Value), MethodError> {
    let model_err = |e: &(dyn std::error::Error + 'static)| MethodError::Model {
        method,
        dir: dir.to_path_buf(),
        message: ulm_core::chain_message(e),
    };
    let score_threshold = o.score_threshold.map(|t| t as f32);
    if o.native_pitch && o.pixel_pitch_wavelengths.is_some() {
        return Err(MethodError::Config("set either pixel_pitch_wavelengths or native_pitch, not both".into()));
    }
    let kind = match method {
        MethodName::Unet if o.native_pitch || o.pixel_pitch_wavelengths.is_some() => {
            return Err(MethodError::Config(
                "pixel_pitch_wavelengths and native_pitch apply to de-detr and detr, not unet".into(),
            ));
        }
        MethodName::Unet => {
            let mut l = ulm_unet::UnetLocalizer::load(dir, score_threshold).map_err(|e| model_err(&e))?;
            if let Some(b) = o.batch {
                l = l.with_batch(b);
            }
            let cfg = serde_json::json!({ "weights": dir, "score_threshold": l.threshold(), "model": l.config() });
            return Ok((Box::new(l), cfg));
        }
        MethodName::DeDetr => ModelKind::DeformableDetr,
        MethodName::Detr => ModelKind::Detr,
        _ => return Err(MethodError::Config(format!("`{method}` is a classical method: it has no model folder"))),
    };
    let folder = ModelFolder::open(dir).map_err(|e| model_err(&e))?;
    if folder.kind() != kind {
        return Err(MethodError::Model {
            method,
            dir: dir.to_path_buf(),
            message: format!("the folder holds a {:?} model, not {method}: use the other method", folder.kind()),
        });
    }
    let mut loc = DetrLocalizer::from_folder(&folder).map_err(|e| model_err(&e))?;
    let mut cfg = loc.config().clone();
    if let Some(t) = o.tile {
        cfg.patch = t;
        cfg.overlap = t / 8;
    }
    cfg.overlap = o.overlap.unwrap_or(cfg.overlap);
    cfg.score_threshold = score_threshold.unwrap_or(cfg.score_threshold);
    cfg.dedup_radius_wavelengths = o.dedup_radius_wavelengths.unwrap_or(cfg.dedup_radius_wavelengths);
    cfg.batch_size = o.batch.unwrap_or(cfg.batch_size);
    cfg.refine_patch = refine_patch.unwrap_or(cfg.refine_patch);
    cfg.refine = o.refine.unwrap_or(cfg.refine);
    if o.native_pitch {
        cfg.pixel_pitch_wavelengths = None;
    } else if o.pixel_pitch_wavelengths.is_some() {
        cfg.pixel_pitch_wavelengths = o.pixel_pitch_wavelengths;
    }
    loc.set_config(cfg).map_err(|e| model_err(&e))?;
    let record = serde_json::json!({
        "weights": dir,
        "training_config": folder.train_path,
        "calibration": folder.calibration,
        "inference": loc.config(),
    });
    Ok((Box::new(loc), record))
}

/// The localizer of `method` with the `[localize]` settings, and the settings to record.
/// `extra` is one more place to look for shipped models (the config file's folder).
///
/// # Errors
/// [`PipelineError::Method`] for a missing shipped model or a model folder that cannot be
/// used, [`PipelineError::Model`] for out-of-range classical settings.
pub fn build_localizer(
    method: MethodName,
    l: &LocalizeConfig,
    extra: Option<&Path>,
) -> Result<(Box<dyn Localizer>, serde_json::Value), PipelineError> {
    if let Some(o) = l.learned(method) {
        let dir = match &o.weights {
            Some(d) => d.clone(),
            None => shipped_model(method, &extra.map(Path::to_path_buf).into_iter().collect::<Vec<_>>())?,
        };
        let refine_patch = (method != MethodName::Unet).then_some(l.patch);
        return Ok(load_learned_with(method, &dir, o, refine_patch)?);
    }
    let cfg = classical_config(l, method).map_err(|e| PipelineError::Model(format!("localize: {e}")))?;
    let rec = serde_json::to_value(&cfg).unwrap_or_default();
    Ok((Box::new(ClassicalLocalizer::new(cfg).map_err(|e| PipelineError::Model(e.to_string()))?), rec))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_classical_settings_map_one_to_one() {
        for m in MethodName::ALL {
            let v = serde_json::to_value(m).unwrap();
            assert_eq!(v.as_str(), Some(m.name()));
            assert_eq!(serde_json::from_value::<MethodName>(v).unwrap(), m);
        }
        let l = LocalizeConfig { noise_factor: 0.0, max_maxima_in_patch: 0, upsample: 7, ..LocalizeConfig::default() };
        let c = classical_config(&l, MethodName::Interp).unwrap();
        assert_eq!(c.method, Method::Interp { upsample: 7 });
        assert_eq!((c.detect.noise_factor, c.detect.max_maxima_in_patch), (None, None));
        // The defaults are the library's (and so `ulm localize`'s).
        let d = classical_config(&LocalizeConfig::default(), MethodName::Radial).unwrap();
        assert_eq!(d, ClassicalConfig::new(Method::Radial));
        assert!(classical_config(&l, MethodName::Unet).is_err());
    }

    #[test]
    fn missing_model_folder_says_where_it_looked() {
        let dir = tempfile::tempdir().unwrap();
        let o = LearnedConfig { weights: Some(dir.path().join("nothing")), ..LearnedConfig::default() };
        let l = LocalizeConfig { de_detr: o, ..LocalizeConfig::default() };
        let e = build_localizer(MethodName::DeDetr, &l, None).err().unwrap().to_string();
        assert!(e.contains("nothing") && e.contains("de-detr"), "{e}");
        let e = find_shipped(MethodName::Detr, &[dir.path().to_path_buf()]).unwrap_err();
        assert!(e.iter().any(|p| p.starts_with(dir.path())), "{e:?}");
    }

    #[test]
    fn names_round_trip_and_unknown_names_list_the_known_ones() {
        for m in MethodName::ALL {
            assert_eq!(MethodName::parse(m.name()).unwrap(), m);
        }
        assert_eq!(MethodName::parse(" No_Shift ").unwrap(), MethodName::NoShift);
        let e = MethodName::parse("radiall").unwrap_err().to_string();
        assert!(e.contains("`radiall`") && e.contains("de-detr") && e.contains("unet"), "{e}");
        assert_eq!(parse_methods(&["radial", "unet", "radial"]).unwrap(), vec![MethodName::Radial, MethodName::Unet]);
        assert!(parse_methods::<&str>(&[]).is_err());
    }

    #[test]
    fn missing_shipped_model_names_every_place_looked() {
        // DETR: the one learned method without a shipped model (the lookup also climbs from the
        // test executable to the repository's models/).
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        let e = shipped_model(MethodName::Detr, std::slice::from_ref(&dir)).unwrap_err();
        let MethodError::NoShippedModel { looked, .. } = &e else { panic!("{e}") };
        assert!(looked.contains(&dir.join("models").join("detr")), "{looked:?}");
        std::fs::create_dir_all(dir.join("models").join("detr")).unwrap();
        let found = shipped_model(MethodName::Detr, std::slice::from_ref(&dir.join("a"))).unwrap();
        assert_eq!(found, dir.join("models").join("detr"));
    }

    #[test]
    fn a_folder_without_a_model_is_an_error_naming_it() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        for m in [MethodName::DeDetr, MethodName::Unet] {
            let e = load_learned(m, &dir, None).err().expect("no model in an empty folder").to_string();
            assert!(e.contains(&dir.display().to_string()), "{e}");
        }
        assert!(load_learned(MethodName::Radial, &dir, None).is_err());
    }

    #[test]
    fn pitch_options_are_checked_before_the_folder_is_read() {
        let tmp = tempfile::tempdir().unwrap();
        let both = LearnedConfig { pixel_pitch_wavelengths: Some(0.3), native_pitch: true, ..LearnedConfig::default() };
        let e = load_learned_with(MethodName::DeDetr, tmp.path(), &both, None).err().unwrap().to_string();
        assert!(e.contains("not both"), "{e}");
        for o in [
            LearnedConfig { pixel_pitch_wavelengths: Some(0.3), ..LearnedConfig::default() },
            LearnedConfig { native_pitch: true, ..LearnedConfig::default() },
        ] {
            let e = load_learned_with(MethodName::Unet, tmp.path(), &o, None).err().unwrap().to_string();
            assert!(e.contains("not unet"), "{e}");
        }
    }
}
