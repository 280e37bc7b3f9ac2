//! Every localization method by name, in one place: the names the CLI's `--method` and
//! Python's `ulm.localize(method=…)` accept, the classical ones with `ulm localize`'s
//! defaults, and the learned ones loaded from a model folder (given, or the shipped
//! `models/<name>`).

use std::path::{Path, PathBuf};

use serde::Serialize;
use ulm_core::Localizer;
use ulm_detr::train::ModelKind;
use ulm_detr::{DetrLocalizer, ModelFolder};
use ulm_localize::{ClassicalConfig, ClassicalLocalizer, Method};

use crate::BenchError;

/// A localization method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MethodName {
    /// Deformable DETR (learned detector, `models/de-detr`).
    DeDetr,
    /// DETR (learned detector, `models/detr`).
    Detr,
    /// The pixel of the maximum.
    NoShift,
    /// Background-subtracted intensity centroid.
    Centroid,
    /// Least-squares 2-D Gaussian fit.
    Gaussian,
    /// Radial symmetry centre (PALA's).
    Radial,
    /// Lanczos-3 upsampling ×10, then the maximum.
    Interp,
    /// Threshold at half the patch range, connected component, centroid.
    Morph,
    /// Deep-ULM U-Net (learned, `models/unet`).
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

    /// The command-line name (`de-detr`, `no-shift`, …), also the shipped model folder's.
    pub fn name(self) -> &'static str {
        match self {
            MethodName::DeDetr => "de-detr",
            MethodName::Detr => "detr",
            MethodName::NoShift => "no-shift",
            MethodName::Centroid => "centroid",
            MethodName::Gaussian => "gaussian",
            MethodName::Radial => "radial",
            MethodName::Interp => "interp",
            MethodName::Morph => "morph",
            MethodName::Unet => "unet",
        }
    }

    /// The method called `s` (case-insensitive, `_` for `-`).
    ///
    /// # Errors
    /// [`BenchError::UnknownMethod`] listing the known names.
    pub fn parse(s: &str) -> Result<Self, BenchError> {
        let key = s.trim().to_ascii_lowercase().replace('_', "-");
        Self::ALL.into_iter().find(|m| m.name() == key).ok_or_else(|| BenchError::UnknownMethod {
            name: s.to_string(),
            known: Self::ALL.iter().map(|m| m.name()).collect::<Vec<_>>().join(", "),
        })
    }

    /// Whether the method needs a model folder.
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

/// The methods named in `list`, in its order, each once.
///
/// # Errors
/// An unknown name ([`BenchError::UnknownMethod`]) or an empty list.
pub fn parse_methods<S: AsRef<str>>(list: &[S]) -> Result<Vec<MethodName>, BenchError> {
    let mut out = Vec::new();
    for s in list {
        let m = MethodName::parse(s.as_ref())?;
        if !out.contains(&m) {
            out.push(m);
        }
    }
    if out.is_empty() {
        return Err(BenchError::Config("no localization method given".into()));
    }
    Ok(out)
}

/// The shipped model folder `models/<name>`: relative to the working directory, else in
/// an ancestor of one of `anchors` (e.g. the folder of the `ulm` executable, built inside
/// the repository as `target/*/ulm`, or of the Python extension module).
///
/// # Errors
/// [`BenchError::NoShippedModel`] with every place looked at.
pub fn shipped_model(method: MethodName, anchors: &[PathBuf]) -> Result<PathBuf, BenchError> {
    let rel = Path::new("models").join(method.name());
    let mut looked = vec![rel.clone()];
    if rel.is_dir() {
        return Ok(rel);
    }
    for anchor in anchors {
        for up in anchor.ancestors() {
            let cand = up.join(&rel);
            if cand.is_dir() {
                return Ok(cand);
            }
            looked.push(cand);
        }
    }
    Err(BenchError::NoShippedModel { method, looked })
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
/// A classical `method`, a folder of the other detector kind, or a missing or corrupt
/// file of the folder ([`BenchError::Model`], naming it), or a threshold out of range.
pub fn load_learned(
    method: MethodName,
    dir: &Path,
    score_threshold: Option<f32>,
) -> Result<(Box<dyn Localizer>, serde_json::Value), BenchError> {
    let model_err = |e: &(dyn std::error::Error + 'static)| BenchError::Model {
        method,
        dir: dir.to_path_buf(),
        message: ulm_core::chain_message(e),
    };
    let kind = match method {
        MethodName::Unet => {
            let l = ulm_unet::UnetLocalizer::load(dir, score_threshold).map_err(|e| model_err(&e))?;
            let cfg = serde_json::json!({ "weights": dir, "score_threshold": l.threshold(), "model": l.config() });
            return Ok((Box::new(l), cfg));
        }
        MethodName::DeDetr => ModelKind::DeformableDetr,
        MethodName::Detr => ModelKind::Detr,
        _ => return Err(BenchError::Config(format!("`{method}` is a classical method: it has no model folder"))),
    };
    let folder = ModelFolder::open(dir).map_err(|e| model_err(&e))?;
    if folder.kind() != kind {
        return Err(BenchError::Model {
            method,
            dir: dir.to_path_buf(),
            message: format!("the folder holds a {:?} model, not {method}", folder.kind()),
        });
    }
    let mut loc = DetrLocalizer::from_folder(&folder).map_err(|e| model_err(&e))?;
    if let Some(t) = score_threshold {
        let mut cfg = loc.config().clone();
        cfg.score_threshold = t;
        loc.set_config(cfg).map_err(|e| model_err(&e))?;
    }
    let record = serde_json::json!({
        "weights": dir,
        "training_config": folder.train_path,
        "calibration": folder.calibration,
        "inference": loc.config(),
    });
    Ok((Box::new(loc), record))
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        let e = shipped_model(MethodName::DeDetr, std::slice::from_ref(&dir)).unwrap_err();
        let BenchError::NoShippedModel { looked, .. } = &e else { panic!("{e}") };
        assert!(looked.contains(&dir.join("models").join("de-detr")), "{looked:?}");
        std::fs::create_dir_all(dir.join("models").join("de-detr")).unwrap();
        let found = shipped_model(MethodName::DeDetr, std::slice::from_ref(&dir.join("a"))).unwrap();
        assert_eq!(found, dir.join("models").join("de-detr"));
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
}
