//! Training the U-Net: its `[model]` table ([`UnetSpec`]), the heatmap loss and the
//! [`TrainTask`] ([`UnetTask`]), and the weights folder (`model.safetensors` +
//! `config.json`).
//!
//! # The loss
//! `L = mean(w · (p − y)²) + λ₁ · mean(p)`, with `p = sigmoid(logit)` the predicted map,
//! `y` the target ([`render_target`]) and `w = 1 + positive_weight · y` on the valid area
//! (0 on padding). Why: Deep-ULM's MSE on a Gaussian-blurred target plus an L1 sparsity
//! term, with two changes for our very sparse maps. (1) Bubbles cover ~10⁻⁴ of a 4×
//! fine grid, so an unweighted MSE is minimised early by an empty map; weighting the
//! pixels under the blobs by `1 + positive_weight · y` restores their share without a
//! matcher or a focal term. (2) The map goes through a sigmoid (with a −4 initial bias), so
//! its values are scores in `[0, 1]` that the loop's threshold calibration can use
//! directly, and `|p| = p`: the L1 term is the mean of the map, pushing the background to 0.

use std::path::Path;

use burn::prelude::*;
use burn::tensor::activation::sigmoid;
use serde::{Deserialize, Serialize};
use ulm_data::Sample;
use ulm_detr::train::{DataFiles, DataSpec, SizePreset, TrainFile};
use ulm_train::{Freeze, ScoredPoint, TaskLoss, TrainConfig, TrainError, TrainTask, batch_images};

use crate::UnetError;
use crate::heatmap::{PeakConfig, find_peaks, render_target};
use crate::model::{Unet, UnetConfig};

/// The `[model]` kind of a U-Net config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UnetKind {
    /// `kind = "unet"`.
    Unet,
}

/// The `[model]` table of a U-Net `train.toml` (`kind = "unet"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UnetSpec {
    /// Always `unet`.
    pub kind: UnetKind,
    /// `tiny` ([`UnetConfig::tiny`]) or `paper` ([`UnetConfig::paper`]). Default tiny.
    pub preset: SizePreset,
    /// Channels of the first level (the preset's when absent).
    pub base_width: Option<usize>,
    /// Downsamplings (the preset's when absent).
    pub depth: Option<usize>,
    /// Channels of the upsampling head (the preset's when absent).
    pub head_width: Option<usize>,
    /// GroupNorm groups (the preset's when absent).
    pub norm_groups: Option<usize>,
    /// Fine-grid factor of the map, 2, 4, 8 or 16 (the preset's when absent: 4 tiny, 8 paper).
    pub upsample: Option<usize>,
    /// Standard deviation of the target Gaussians, in input pixels. Default 0.25.
    pub target_sigma_px: f64,
    /// Weight of the pixels under the target blobs (`w = 1 + positive_weight · y`).
    /// Default 50.
    pub positive_weight: f64,
    /// Weight of the L1 sparsity term on the map. Default 0.01.
    pub l1_weight: f64,
    /// Peaks: a peak is the maximum within this many fine pixels (default `upsample / 2`,
    /// at least 1: half an input pixel).
    pub peak_radius: Option<usize>,
    /// Peaks below this map value are never reported (the calibrated threshold is applied
    /// on top). Default 0.01.
    pub min_score: f32,
    /// Peaks kept per patch, highest first. Default 500.
    pub max_peaks: usize,
}

impl Default for UnetSpec {
    fn default() -> Self {
        Self {
            kind: UnetKind::Unet,
            preset: SizePreset::Tiny,
            base_width: None,
            depth: None,
            head_width: None,
            norm_groups: None,
            upsample: None,
            target_sigma_px: 0.25,
            positive_weight: 50.0,
            l1_weight: 0.01,
            peak_radius: None,
            min_score: 0.01,
            max_peaks: 500,
        }
    }
}

impl UnetSpec {
    /// The network configuration: the preset with the given overrides.
    pub fn model_config(&self) -> UnetConfig {
        let mut c = match self.preset {
            SizePreset::Tiny => UnetConfig::tiny(),
            SizePreset::Paper => UnetConfig::paper(),
        };
        c.base_width = self.base_width.unwrap_or(c.base_width);
        c.depth = self.depth.unwrap_or(c.depth);
        c.head_width = self.head_width.unwrap_or(c.head_width);
        c.norm_groups = self.norm_groups.unwrap_or(c.norm_groups);
        c.upsample = self.upsample.unwrap_or(c.upsample);
        c
    }

    /// The peak settings for the resolved model.
    pub fn peak_config(&self) -> PeakConfig {
        let upsample = self.model_config().upsample;
        PeakConfig {
            upsample,
            radius: self.peak_radius.unwrap_or((upsample / 2).max(1)),
            min_score: self.min_score,
            max_peaks: self.max_peaks,
        }
    }

    /// Checks every field; the message names it (`model.<field>`).
    ///
    /// # Errors
    /// The first field out of range.
    pub fn check(&self) -> Result<(), String> {
        self.model_config().check().map_err(|e| format!("model: {e}"))?;
        if !(self.target_sigma_px.is_finite() && self.target_sigma_px > 0.0 && self.target_sigma_px <= 10.0) {
            return Err("model.target_sigma_px must be in (0, 10]".into());
        }
        if !(self.positive_weight.is_finite() && self.positive_weight >= 0.0) {
            return Err("model.positive_weight must be finite and >= 0".into());
        }
        if !(self.l1_weight.is_finite() && self.l1_weight >= 0.0) {
            return Err("model.l1_weight must be finite and >= 0".into());
        }
        if self.peak_radius.is_some_and(|r| r == 0 || r > 64) {
            return Err("model.peak_radius must be in 1..=64".into());
        }
        if !(self.min_score.is_finite() && (0.0..1.0).contains(&self.min_score)) {
            return Err("model.min_score must be in [0, 1)".into());
        }
        if self.max_peaks == 0 {
            return Err("model.max_peaks must be at least 1".into());
        }
        Ok(())
    }
}

/// How the network's inputs were made (stored with the weights so inference normalises
/// like training): patch side and the log-compression range of
/// [`ulm_data::sim_source::normalise`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    /// Training patch side, pixels (inference tiles frames with it).
    pub patch: usize,
    /// Log-compression range below the patch maximum, dB.
    pub dynamic_range_db: f32,
}

/// `config.json` of a weights folder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeightsConfig {
    /// Always `"unet"`.
    pub kind: UnetKind,
    /// The resolved network.
    pub model: UnetConfig,
    /// The `[model]` table it was trained with (target and peak settings).
    pub spec: UnetSpec,
    /// Input normalisation.
    pub input: InputSpec,
}

/// Writes `<dir>/model.safetensors` and `<dir>/config.json` (atomically; `dir` created).
///
/// # Errors
/// [`UnetError`] naming the file that could not be written.
pub fn save_weights(model: &Unet, config: &WeightsConfig, dir: &Path) -> Result<(), UnetError> {
    std::fs::create_dir_all(dir).map_err(|e| UnetError::file(dir, e))?;
    let path = dir.join("model.safetensors");
    ulm_detr::weights::write_safetensors(&path, &ulm_detr::weights::module_tensors(model))
        .map_err(|e| UnetError::file(&path, e))?;
    let path = dir.join("config.json");
    let json = serde_json::to_string_pretty(config).map_err(|e| UnetError::file(&path, e))?;
    ulm_io::atomic_write_bytes(&path, json.as_bytes()).map_err(|e| UnetError::file(&path, e))
}

/// Reads `<dir>/config.json`.
///
/// # Errors
/// [`UnetError`] naming the file: missing, not JSON, not a U-Net config, or invalid.
pub fn load_config(dir: &Path) -> Result<WeightsConfig, UnetError> {
    let path = dir.join("config.json");
    let text = std::fs::read_to_string(&path).map_err(|e| UnetError::file(&path, e))?;
    let c: WeightsConfig =
        serde_json::from_str(&text).map_err(|e| UnetError::file(&path, format!("not a U-Net weights config: {e}")))?;
    c.model.check().and_then(|()| c.spec.check()).map_err(|e| UnetError::file(&path, e))?;
    if c.input.patch == 0 || !c.input.patch.is_multiple_of(c.model.input_multiple()) {
        return Err(UnetError::file(&path, format!("input.patch must be a multiple of {}", c.model.input_multiple())));
    }
    Ok(c)
}

/// Loads `<dir>/model.safetensors` into `model` (every parameter required, no extra tensor).
///
/// # Errors
/// [`UnetError`] naming the file: missing, not safetensors, or not fitting the model.
pub fn load_weights(model: Unet, dir: &Path) -> Result<Unet, UnetError> {
    ulm_detr::weights::load_model(model, dir).map_err(|e| UnetError::Weights(e.to_string()))
}

/// The U-Net as a [`TrainTask`].
#[derive(Debug, Clone)]
pub struct UnetTask {
    /// The `[model]` table.
    pub spec: UnetSpec,
    /// The resolved network.
    pub config: UnetConfig,
    /// How inputs are made (saved with the weights).
    pub input: InputSpec,
}

impl UnetTask {
    /// The task for a `[model]` table and the training data's input settings.
    pub fn new(spec: UnetSpec, input: InputSpec) -> Self {
        Self { config: spec.model_config(), spec, input }
    }

    /// The `config.json` written with the weights.
    pub fn weights_config(&self) -> WeightsConfig {
        WeightsConfig { kind: UnetKind::Unet, model: self.config.clone(), spec: self.spec.clone(), input: self.input }
    }

    /// Targets and loss weights of `batch`, `[b, 1, h·F, w·F]` each.
    fn targets(&self, batch: &[Sample], device: &Device) -> (Tensor<4>, Tensor<4>) {
        let f = self.config.upsample;
        let (h, w) = (batch[0].height, batch[0].width);
        let (fh, fw) = (h * f, w * f);
        let mut y = Vec::with_capacity(batch.len() * fh * fw);
        let mut wt = Vec::with_capacity(batch.len() * fh * fw);
        for s in batch {
            let centres: Vec<(f64, f64)> = s.centers_mm.iter().map(|&(x, z)| s.geometry.mm_to_px(x, z)).collect();
            let t = render_target(&centres, h, w, f, self.spec.target_sigma_px);
            let (vr, vc) = (s.valid_rows * f, s.valid_cols * f);
            for (i, &v) in t.iter().enumerate() {
                let valid = i / fw < vr && i % fw < vc;
                wt.push(if valid { 1.0 + self.spec.positive_weight as f32 * v } else { 0.0 });
            }
            y.extend(t);
        }
        let shape = [batch.len(), 1, fh, fw];
        (Tensor::from_data(TensorData::new(y, shape), device), Tensor::from_data(TensorData::new(wt, shape), device))
    }
}

fn to_vec(t: Tensor<4>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap_or_default()
}

/// Peaks of each map of `maps` (`[b, 1, h·F, w·F]`, values in `[0, 1]`) as patch pixels.
pub(crate) fn batch_peaks(
    maps: Tensor<4>,
    valid: &[(usize, usize)],
    cfg: &PeakConfig,
) -> Vec<Vec<crate::heatmap::Peak>> {
    let [b, _, fh, fw] = maps.dims();
    let data = to_vec(maps);
    (0..b)
        .map(|i| {
            let (vr, vc) = valid[i];
            find_peaks(&data[i * fh * fw..(i + 1) * fh * fw], fh, fw, vr * cfg.upsample, vc * cfg.upsample, cfg)
        })
        .collect()
}

impl TrainTask for UnetTask {
    type Model = Unet;

    fn name(&self) -> String {
        "unet".into()
    }

    fn init_model(&self, device: &Device) -> Unet {
        self.config.init(device)
    }

    /// `stem`: the first encoder convolution; `stage1`: the first encoder level; `backbone`:
    /// the whole encoder.
    fn freeze(&self, mut model: Unet, freeze: Freeze) -> Unet {
        let Some(first) = model.encoder.first_mut() else { return model };
        match freeze {
            Freeze::None => {}
            Freeze::Stem => {
                first.conv1 = first.conv1.clone().set_require_grad(false);
                first.norm1 = first.norm1.clone().set_require_grad(false);
            }
            Freeze::Stage1 => *first = first.clone().set_require_grad(false),
            Freeze::Backbone => model.encoder = std::mem::take(&mut model.encoder).set_require_grad(false),
        }
        model
    }

    fn backbone_path(&self) -> &'static str {
        "encoder"
    }

    fn loss_names(&self) -> Vec<&'static str> {
        vec!["mse", "l1"]
    }

    fn loss(&self, model: &Unet, batch: &[Sample], device: &Device) -> Result<TaskLoss, String> {
        let logits = model.forward(batch_images(batch, device)); // [b, 1, h·F, w·F]
        let p = sigmoid(logits);
        let (y, w) = self.targets(batch, device);
        let mse = (w * (p.clone() - y).powi_scalar(2)).mean(); // [1]
        let l1 = p.mean(); // [1]
        let total = mse.clone() + l1.clone() * self.spec.l1_weight;
        let scalar = |t: Tensor<1>| f64::from(t.into_scalar::<f32>());
        let components = vec![scalar(mse), scalar(l1)];
        if components.iter().any(|v| !v.is_finite()) {
            return Err(format!("non-finite loss components {components:?}"));
        }
        Ok(TaskLoss { total, components })
    }

    fn predict(&self, model: &Unet, batch: &[Sample], device: &Device) -> Vec<Vec<ScoredPoint>> {
        let maps = sigmoid(model.forward(batch_images(batch, device)));
        let valid: Vec<(usize, usize)> = batch.iter().map(|s| (s.valid_rows, s.valid_cols)).collect();
        batch_peaks(maps, &valid, &self.spec.peak_config())
            .into_iter()
            .zip(batch)
            .map(|(peaks, s)| {
                peaks
                    .into_iter()
                    .map(|p| {
                        let (x_mm, z_mm) = s.geometry.px_to_mm(p.col, p.row);
                        ScoredPoint::new(x_mm, z_mm, p.score)
                    })
                    .collect()
            })
            .collect()
    }

    fn save_weights(&self, model: &Unet, dir: &Path) -> Result<(), String> {
        save_weights(model, &self.weights_config(), dir).map_err(|e| e.to_string())
    }

    fn load_weights(&self, model: Unet, dir: &Path) -> Result<Unet, String> {
        let saved = load_config(dir).map_err(|e| e.to_string())?;
        if saved.model != self.config {
            return Err(format!(
                "{}: the saved network ({:?}) differs from the configured one ({:?})",
                dir.join("config.json").display(),
                saved.model,
                self.config
            ));
        }
        load_weights(model, dir).map_err(|e| e.to_string())
    }
}

/// A whole U-Net `train.toml`: `[train]` and `[data]` as for DE-DETR
/// ([`ulm_detr::train::TrainFile`]), `[model]` a [`UnetSpec`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnetTrainFile {
    /// The loop.
    #[serde(default)]
    pub train: TrainConfig,
    /// The model.
    pub model: UnetSpec,
    /// The data.
    pub data: DataFiles,
}

/// Whether a `train.toml` asks for a U-Net (`[model] kind = "unet"`); `false` for text that
/// does not parse (the DE-DETR parser then reports the error).
pub fn is_unet_config(text: &str) -> bool {
    let Ok(table) = toml::from_str::<toml::Table>(text) else { return false };
    table.get("model").and_then(|m| m.get("kind")).and_then(|k| k.as_str()) == Some("unet")
}

impl UnetTrainFile {
    /// Parses and validates a U-Net `train.toml`; `path` names the file in errors. The
    /// `[train]` and `[data]` tables are validated by [`TrainFile::parse`].
    ///
    /// # Errors
    /// [`TrainError::Config`] naming the file and the problem.
    pub fn parse(text: &str, path: &Path) -> Result<Self, TrainError> {
        let err = |m: String| TrainError::Config(format!("{}: {m}", path.display()));
        let file: UnetTrainFile = toml::from_str(text).map_err(|e| err(e.to_string()))?;
        file.model.check().map_err(err)?;
        // The loop and data tables through the shared parser (the model table left at its
        // default, which it accepts).
        let mut table: toml::Table = toml::from_str(text).map_err(|e| err(e.to_string()))?;
        table.remove("model");
        TrainFile::parse(&toml::to_string(&table).map_err(|e| err(e.to_string()))?, path)?;
        let m = file.model.model_config().input_multiple();
        for (name, d) in [("train", &file.data.train), ("val", &file.data.val)] {
            let DataSpec::Sim(s) = d else {
                return Err(err(format!(
                    "data.{name}: the U-Net trains on `source = \"sim\"` patches (its input normalisation is \
                     the simulator source's); the randomised mix and COCO datasets are DE-DETR/DETR only for now"
                )));
            };
            if !s.size.is_multiple_of(m) {
                return Err(err(format!("data.{name}.size {} must be a multiple of 2^depth = {m}", s.size)));
            }
        }
        Ok(file)
    }

    /// The input settings of the training data (`None` for data other than simulator
    /// patches, which [`UnetTrainFile::parse`] rejects).
    pub fn input(&self) -> Option<InputSpec> {
        match &self.data.train {
            DataSpec::Sim(s) => Some(InputSpec { patch: s.size, dynamic_range_db: s.dynamic_range_db }),
            DataSpec::Randomized(_) | DataSpec::Coco(_) => None,
        }
    }

    /// The task this file trains (`None` as for [`UnetTrainFile::input`]).
    pub fn task(&self) -> Option<UnetTask> {
        self.input().map(|input| UnetTask::new(self.model.clone(), input))
    }

    /// The file as TOML (the resolved configuration stored with a run).
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_default()
    }
}
