//! Loading only the backbone of a model folder (`[model] backbone_init`).

use std::path::Path;

use burn::prelude::*;

use super::{LoadReport, TensorMap, load_tensors, read_safetensors};
use crate::backbone::{Backbone, BackboneConfig};
use crate::error::{DetrError, Result};

/// The backbone alone, so that its parameters keep the `backbone.` prefix of the models'
/// keys (and errors name them as in the file).
#[derive(Module, Debug)]
struct BackboneOnly {
    backbone: Backbone,
}

/// The `norm_groups` of the ResNet backbone in a model folder's `config.json` (DE-DETR,
/// DETR and backbone-heatmap configs all hold `backbone.ResNet`), if it has one.
fn saved_norm_groups(dir: &Path) -> Result<Option<u64>> {
    let path = dir.join("config.json");
    if !path.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path).map_err(|source| DetrError::Io { path: path.clone(), source })?;
    let json: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| DetrError::Config { path: path.clone(), message: format!("not valid JSON: {e}") })?;
    Ok(json.pointer("/backbone/ResNet/norm_groups").and_then(serde_json::Value::as_u64))
}

/// Loads only the backbone tensors (`backbone.…`) of our model folder `dir` (a DE-DETR,
/// DETR or backbone-heatmap `model.safetensors`, as written by [`super::save_model`]) into
/// `backbone`, built from `config`. Every backbone parameter must be in the file with its
/// shape; file backbone tensors the model does not use (a deeper stage) are listed in the
/// report's `unexpected`; nothing else of the file is read. When the folder's `config.json`
/// names the backbone's `norm_groups`, it must equal `config`'s (group-norm affine
/// parameters mean something else under frozen batch norm).
///
/// # Errors
/// An unreadable file, a file without backbone tensors, another normalisation, a tensor of
/// another shape ([`DetrError::ShapeMismatch`]) or a missing one ([`DetrError::Incomplete`]);
/// each names the file.
pub fn load_backbone(backbone: Backbone, config: &BackboneConfig, dir: &Path) -> Result<(Backbone, LoadReport)> {
    if let (BackboneConfig::ResNet(r), Some(saved)) = (config, saved_norm_groups(dir)?)
        && saved != r.norm_groups as u64
    {
        return Err(DetrError::Config {
            path: dir.join("config.json"),
            message: format!(
                "the backbone was trained with norm_groups = {saved}, this model has {}: set model.norm_groups to match",
                r.norm_groups
            ),
        });
    }
    let path = dir.join("model.safetensors");
    let tensors: TensorMap = read_safetensors(&path)?.into_iter().filter(|(k, _)| k.starts_with("backbone.")).collect();
    if tensors.is_empty() {
        return Err(DetrError::Config {
            path,
            message: "no backbone tensor (`backbone.…`): not a DE-DETR, DETR or backbone-heatmap model".into(),
        });
    }
    let (module, report) = load_tensors(BackboneOnly { backbone }, tensors, &path)?;
    if !report.missing.is_empty() {
        return Err(DetrError::Incomplete { path, report: Box::new(report) });
    }
    Ok((module.backbone, report))
}
