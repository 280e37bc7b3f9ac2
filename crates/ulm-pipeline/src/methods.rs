//! Every localization method by name, and the localizer each name builds: the classical
//! estimators of `ulm-localize`, DE-DETR / DETR (`ulm-detr`) and the U-Net (`ulm-unet`)
//! from a model folder, given or shipped (`models/<name>`). `ulm localize` and the
//! pipeline build their localizers here.

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
    /// Every method.
    pub const ALL: [MethodName; 9] = [
        MethodName::NoShift,
        MethodName::Centroid,
        MethodName::Gaussian,
        MethodName::Radial,
        MethodName::Interp,
        MethodName::Morph,
        MethodName::DeDetr,
        MethodName::Detr,
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

    /// Whether the method is a trained model (needs a model folder).
    pub fn is_learned(self) -> bool {
        matches!(self, MethodName::DeDetr | MethodName::Detr | MethodName::Unet)
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

/// The shipped model folder `models/<name>`, if there is one: in the working directory,
/// in `extra` (e.g. the config file's folder), or in a folder above the executable (a
/// build inside the repository, `target/*/ulm`).
pub fn find_shipped(name: &str, extra: Option<&Path>) -> Result<PathBuf, Vec<PathBuf>> {
    let rel = Path::new("models").join(name);
    let mut looked = vec![rel.clone()];
    if rel.is_dir() {
        return Ok(rel);
    }
    let mut roots: Vec<PathBuf> = extra.map(|e| e.ancestors().map(Path::to_path_buf).collect()).unwrap_or_default();
    if let Some(dir) = std::env::current_exe().ok().and_then(|e| e.parent().map(Path::to_path_buf)) {
        roots.extend(dir.ancestors().map(Path::to_path_buf));
    }
    for up in roots {
        let cand = up.join(&rel);
        if cand.is_dir() {
            return Ok(cand);
        }
        looked.push(cand);
    }
    Err(looked)
}

/// [`find_shipped`], with an error that says where it looked and how to make a model.
///
/// # Errors
/// [`PipelineError::Model`] when no folder is found.
pub fn shipped(name: &str, extra: Option<&Path>) -> Result<PathBuf, PipelineError> {
    find_shipped(name, extra).map_err(|looked| {
        let list: Vec<String> = looked.iter().map(|p| p.display().to_string()).collect();
        PipelineError::Model(format!(
            "no weights given and no shipped model folder `models/{name}` (looked in {}); train one with \
             `ulm train --config configs/deformable-detr-sparse-128.toml` (for detr set `kind = \"detr\"` in its \
             [model] table; for the U-Net `configs/unet-tiny-128.toml`) and give its runs/<name>/best folder",
            list.join(", ")
        ))
    })
}

/// The detector for `kind` from its model folder (given, else shipped), with the
/// overrides of `o` applied and `refine_patch` as its refinement window, and the settings
/// to record.
///
/// # Errors
/// [`PipelineError::Model`] naming the folder: missing, unreadable, or of the other kind.
pub fn detector(
    kind: ModelKind,
    o: &LearnedConfig,
    refine_patch: usize,
    extra: Option<&Path>,
) -> Result<(DetrLocalizer, serde_json::Value), PipelineError> {
    let name = match kind {
        ModelKind::DeformableDetr => "de-detr",
        ModelKind::Detr => "detr",
    };
    let dir = match &o.weights {
        Some(d) => d.clone(),
        None => shipped(name, extra)?,
    };
    let hint = |e: &dyn std::fmt::Display| {
        PipelineError::Model(format!(
            "loading the {name} model folder {} (model.safetensors, config.json, calibration.json and the \
             training config {TRAIN_CONFIG_FILE}, as `ulm train` writes into runs/NAME/best/): {e}",
            dir.display()
        ))
    };
    let folder = ModelFolder::open(&dir).map_err(|e| hint(&e))?;
    if folder.kind() != kind {
        return Err(PipelineError::Model(format!(
            "{} holds a {:?} model, not {name}: use the other method",
            dir.display(),
            folder.kind()
        )));
    }
    let mut loc = DetrLocalizer::from_folder(&folder).map_err(|e| hint(&e))?;
    let mut cfg = loc.config().clone();
    if let Some(t) = o.tile {
        cfg.patch = t;
        cfg.overlap = t / 8;
    }
    cfg.overlap = o.overlap.unwrap_or(cfg.overlap);
    cfg.score_threshold = o.score_threshold.map_or(cfg.score_threshold, |t| t as f32);
    cfg.dedup_radius_wavelengths = o.dedup_radius_wavelengths.unwrap_or(cfg.dedup_radius_wavelengths);
    cfg.batch_size = o.batch.unwrap_or(cfg.batch_size);
    cfg.refine_patch = refine_patch;
    cfg.refine = o.refine.unwrap_or(cfg.refine);
    loc.set_config(cfg).map_err(|e| hint(&e))?;
    let record = serde_json::json!({
        "weights": dir,
        "training_config": folder.train_path,
        "calibration": folder.calibration,
        "inference": loc.config(),
    });
    Ok((loc, record))
}

/// The U-Net from its model folder (given, else shipped), and the settings to record.
///
/// # Errors
/// [`PipelineError::Model`] naming the folder.
pub fn unet(
    o: &LearnedConfig,
    extra: Option<&Path>,
) -> Result<(ulm_unet::UnetLocalizer, serde_json::Value), PipelineError> {
    let dir = match &o.weights {
        Some(d) => d.clone(),
        None => shipped("unet", extra)?,
    };
    let mut l = ulm_unet::UnetLocalizer::load(&dir, o.score_threshold.map(|t| t as f32))
        .map_err(|e| PipelineError::Model(format!("loading the unet model folder {}: {e}", dir.display())))?;
    if let Some(b) = o.batch {
        l = l.with_batch(b);
    }
    let record = serde_json::json!({ "weights": dir, "score_threshold": l.threshold(), "model": l.config() });
    Ok((l, record))
}

/// The localizer of `method` with the `[localize]` settings, and the settings to record.
/// `extra` is one more place to look for shipped models (the config file's folder).
///
/// # Errors
/// [`PipelineError::Model`] for a model folder that cannot be used, [`PipelineError::Config`]-like
/// text for out-of-range settings.
pub fn build_localizer(
    method: MethodName,
    l: &LocalizeConfig,
    extra: Option<&Path>,
) -> Result<(Box<dyn Localizer>, serde_json::Value), PipelineError> {
    Ok(match method {
        MethodName::DeDetr | MethodName::Detr => {
            let kind = if method == MethodName::DeDetr { ModelKind::DeformableDetr } else { ModelKind::Detr };
            let (loc, rec) = detector(kind, l.learned(method).expect("learned"), l.patch, extra)?;
            (Box::new(loc), rec)
        }
        MethodName::Unet => {
            let (loc, rec) = unet(&l.unet, extra)?;
            (Box::new(loc), rec)
        }
        m => {
            let cfg = classical_config(l, m).map_err(|e| PipelineError::Model(format!("localize: {e}")))?;
            let rec = serde_json::to_value(&cfg).unwrap_or_default();
            (Box::new(ClassicalLocalizer::new(cfg).map_err(|e| PipelineError::Model(e.to_string()))?), rec)
        }
    })
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
        let e = detector(ModelKind::DeformableDetr, &o, 5, None).err().unwrap().to_string();
        assert!(e.contains("nothing") && e.contains("de-detr"), "{e}");
        let e = find_shipped("no-such-model", Some(dir.path())).unwrap_err();
        assert!(e.iter().any(|p| p.starts_with(dir.path())), "{e:?}");
    }
}
