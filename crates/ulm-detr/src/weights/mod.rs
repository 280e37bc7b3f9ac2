//! Weights in safetensors: our own files (config beside them) and HuggingFace checkpoints.
//!
//! Tensors are stored in PyTorch layout under our module paths with PyTorch leaf names
//! (`encoder.layers.0.self_attn.value_proj.weight`, a `[out, in]` matrix; `…norm.weight`
//! for a norm's scale). HuggingFace names are translated by the table in [`hf`]; loading
//! transposes linear weights, renames norm parameters and sums a 3-channel `conv1` over
//! its input channels for our single-channel backbone.
//!
//! # HuggingFace config fields
//!
//! [`deformable_config_from_hf`] and [`detr_config_from_hf`] resolve a `config.json` as
//! transformers 5 does (absent or `null` fields take its defaults; 4.x names are read as
//! transformers 5 reads them), then validate the result. Every field of transformers'
//! `DeformableDetrConfig` (D), `DetrConfig` (R), `ResNetConfig` and `TimmBackboneConfig`,
//! and what we do with it. "Checked" means tested against transformers (fixtures of
//! `scripts/hf_fixtures.py`, `tests/hf_parity.rs`); "refused" means an error naming the
//! field and value; "inert" means transformers does not read it in an inference forward.
//!
//! | field | default | handling |
//! |---|---|---|
//! | `d_model`, `encoder_layers`, `decoder_layers`, `encoder_attention_heads`, `decoder_attention_heads`, `encoder_ffn_dim`, `decoder_ffn_dim`, `num_queries` | D 256/6/6/8/8/1024/1024/300, R 256/6/6/8/8/2048/2048/100 | read, checked; heads must divide `d_model` (else refused, as transformers raises) |
//! | `num_feature_levels`, `encoder_n_points`, `decoder_n_points` (D) | 4, 4, 4 | read, checked (1, 4 and 5 levels); fewer levels than backbone outputs refused (transformers fails) |
//! | `with_box_refine`, `two_stage`, `two_stage_num_proposals` (D) | false, false, 300 | read, checked; `two_stage` without `with_box_refine` refused (as transformers' `validate_architecture`) |
//! | `auxiliary_loss` | false | D: inert (heads only, training). R: read, checked — the decoder's layer norm then feeds every layer's output to the next ([`crate::DetrConfig::auxiliary_loss`]) |
//! | `id2label`, `num_labels` | 2 classes | `num_labels` if present (it overrides `id2label`), else `len(id2label)`, else 2 (transformers writes neither for 2), checked; 0 refused |
//! | `activation_function` | relu | relu read; anything else refused |
//! | `position_embedding_type` | sine | sine read; `learned` refused |
//! | `dilation` | false | true refused (DC5 backbone) |
//! | `dropout`, `activation_dropout`, `attention_dropout` | 0.1, 0, 0 | read (training only; identity at inference) |
//! | `tie_word_embeddings` (D) | true | read: true takes heads `k > 0` missing from the file from head 0, false reports them missing (as transformers) |
//! | `num_channels` (D, R, ResNet, timm), timm `in_chans` | 3 | read as "colour stem": a k-channel stem is summed to our single channel (the image replicated), listed in `adapted` |
//! | `backbone_config`, `use_timm_backbone`, `backbone`, `backbone_kwargs`, `use_pretrained_backbone` | null, true, null, null, — | resolved as transformers' `__post_init__` / `consolidate_backbone_kwargs_to_config`: no sub-config + timm + no kwargs → timm `backbone` (default resnet50) with stages D `[2, 3, 4]` (`[4]` for one level), R `[1, 2, 3, 4]`; a `backbone` name with kwargs → timm with those kwargs (4.x style); neither → `ResNetConfig(out_features=["stage4"])`; a sub-config by its `model_type` (`resnet`, `timm_backbone`; others refused); a Hub repository name refused (transformers downloads it). Checked (`resolved_configs.json`, timm in both styles). `use_pretrained_backbone` inert (weights come from the file) |
//! | `return_intermediate`, `max_position_embeddings`, `disable_custom_kernels`, `init_std`, `init_xavier_std`, `encoder_layerdrop`, `decoder_layerdrop`, `is_encoder_decoder` | — | inert at inference (unused, kernel choice with the same maths, initialisation, training-only layer drop) |
//! | `class_cost`, `bbox_cost`, `giou_cost`, `*_loss_coefficient`, `eos_coefficient`, `focal_alpha` | — | inert (matcher and loss) |
//! | generic `PreTrainedConfig` fields (`architectures`, `dtype`/`torch_dtype`, `label2id`, `problem_type`, `output_*`, `return_dict`, `chunk_size_feed_forward`, `transformers_version`, `_name_or_path`, …) | — | inert |
//! | ResNet `embedding_size`, `hidden_sizes`, `depths`, `layer_type` | 64, ResNet-50 | read, checked (basic and bottleneck); other than 4 stages refused |
//! | ResNet `hidden_act` | relu | relu read; anything else refused |
//! | ResNet `downsample_in_first_stage`, `downsample_in_bottleneck` | false | true refused |
//! | ResNet `out_features` / `out_indices` / `stage_names` | last stage | `out_indices`, else `out_features`, else the last stage; the stem refused; unused later stages' weights are reported as `unused_by_design` |
//! | timm `backbone` | — | resnet18/34/50/101/152 (a `.tag` suffix ignored); others refused |
//! | timm `out_indices` / `out_features` / `stage_names` | `[-1]` | stages 1–4 (negative from the end); the stem refused |
//! | timm `output_stride` | null | null or 32; other values (dilation) refused |
//! | timm `features_only` | true | false refused |
//! | timm `freeze_batch_norm_2d` | false | inert (DETR models freeze every batch norm anyway) |
//!
//! Keys transformers does not know are stored by it as inert attributes; we ignore them too.

mod backbone;
pub mod hf;
mod hf_config;
mod io;

pub use backbone::load_backbone;
pub use hf_config::{deformable_config_from_hf, detr_config_from_hf};
pub use io::{Entry, TensorMap, read_safetensors, write_safetensors};

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::prelude::*;

use crate::error::{DetrError, Result};

/// What loading a checkpoint did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LoadReport {
    /// Parameters set from the file.
    pub loaded: usize,
    /// Model parameters absent from the file (they keep their initial values).
    pub missing: Vec<String>,
    /// File tensors that no model parameter uses.
    pub unexpected: Vec<String>,
    /// File tensors of backbone stages the configuration does not use (transformers builds
    /// and keeps every stage of its ResNet; only the returned ones feed the model).
    pub unused_by_design: Vec<String>,
    /// File tensors skipped on purpose (batch-norm counters, tied duplicates).
    pub ignored: Vec<String>,
    /// Parameters taken from a tied head (`class_embed.1…` ← `class_embed.0…`).
    pub aliased: Vec<String>,
    /// Parameters adapted in shape (3-channel `conv1` summed to 1 channel).
    pub adapted: Vec<String>,
    /// Parameters left at their initial values because the file's shape differs (only when
    /// mismatches are allowed, e.g. class heads when fine-tuning to another class count).
    pub reinitialised: Vec<String>,
}

impl LoadReport {
    /// True when every parameter was loaded and every file tensor used (tensors unused by
    /// design do not count against it).
    pub fn is_complete(&self) -> bool {
        self.missing.is_empty() && self.unexpected.is_empty()
    }
}

impl fmt::Display for LoadReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} parameters loaded", self.loaded)?;
        let lists = [
            ("missing", &self.missing),
            ("unexpected", &self.unexpected),
            ("unused by design", &self.unused_by_design),
            ("aliased", &self.aliased),
            ("adapted", &self.adapted),
            ("reinitialised", &self.reinitialised),
        ];
        for (name, list) in lists {
            if !list.is_empty() {
                write!(f, "; {} {name}: {}", list.len(), list.join(", "))?;
            }
        }
        Ok(())
    }
}

/// Our key of a parameter from the module path: enum variants are skipped and a norm's
/// `gamma`/`beta` are named `weight`/`bias` like PyTorch.
#[derive(Default)]
struct PathTracker {
    stack: Vec<(String, String)>,
}

impl PathTracker {
    fn enter(&mut self, name: &str, container: &str) {
        self.stack.push((name.to_string(), container.to_string()));
    }

    fn exit(&mut self) {
        self.stack.pop();
    }

    /// `(key, is_linear_weight)` of the parameter at the top of the stack.
    fn key(&self) -> (String, bool) {
        let n = self.stack.len();
        let mut parts: Vec<&str> = Vec::with_capacity(n);
        let mut linear_weight = false;
        for (i, (name, container)) in self.stack.iter().enumerate() {
            if container.starts_with("Enum:") {
                continue;
            }
            let leaf = i + 1 == n;
            let norm = container == "Struct:LayerNorm" || container == "Struct:GroupNorm";
            let name = match (leaf, norm, name.as_str()) {
                (true, true, "gamma") => "weight",
                (true, true, "beta") => "bias",
                _ => name.as_str(),
            };
            linear_weight = leaf && container == "Struct:Linear" && name == "weight";
            parts.push(name);
        }
        (parts.join("."), linear_weight)
    }
}

fn transpose(data: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0; data.len()];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = data[r * cols + c];
        }
    }
    out
}

/// Another key holding the same tensor when a head is tied (`class_embed.3.*` →
/// `class_embed.0.*`, likewise `bbox_embed`).
fn tied_alias(key: &str) -> Option<String> {
    for head in ["class_embed.", "bbox_embed."] {
        if let Some(rest) = key.strip_prefix(head) {
            let (idx, tail) = rest.split_once('.')?;
            if idx != "0" && idx.parse::<usize>().is_ok() {
                return Some(format!("{head}0.{tail}"));
            }
        }
    }
    None
}

struct Loader {
    path: PathTracker,
    tensors: TensorMap,
    used: BTreeSet<String>,
    report: LoadReport,
    mismatches: Vec<String>,
    skip_mismatched: bool,
    /// Take a missing head `k > 0` from head 0 (transformers' tied heads).
    tie_heads: bool,
}

impl Loader {
    /// Data for the parameter `key` of shape `shape` (burn layout), if the file has it.
    fn take(&mut self, key: &str, linear_weight: bool, shape: &[usize]) -> Option<Vec<f32>> {
        let (source, entry) = match self.tensors.get(key) {
            Some(e) => (key.to_string(), e),
            None => {
                let alias = tied_alias(key).filter(|_| self.tie_heads)?;
                let e = self.tensors.get(&alias)?;
                self.report.aliased.push(format!("{key} <- {alias}"));
                (alias, e)
            }
        };
        let file_shape = entry.shape.clone();
        let data = if linear_weight && file_shape.len() == 2 {
            let data = transpose(&entry.data, file_shape[0], file_shape[1]);
            (vec![file_shape[1], file_shape[0]] == shape).then_some(data)
        } else if file_shape == shape {
            Some(entry.data.clone())
        } else if shape.len() == 4
            && file_shape.len() == 4
            && shape[1] == 1
            && file_shape[1] > 1
            && shape[0] == file_shape[0]
            && shape[2..] == file_shape[2..]
        {
            // A colour stem on a grey model: conv(W, [x, x, x]) = conv(Σ_c W_c, x).
            let (o, c, k) = (file_shape[0], file_shape[1], file_shape[2] * file_shape[3]);
            let mut out = vec![0.0f32; o * k];
            for oi in 0..o {
                for ci in 0..c {
                    for ki in 0..k {
                        out[oi * k + ki] += entry.data[(oi * c + ci) * k + ki];
                    }
                }
            }
            self.report.adapted.push(format!("{key}: {file_shape:?} summed to {shape:?}"));
            Some(out)
        } else {
            None
        };
        self.used.insert(source);
        if data.is_none() {
            let what = format!("{key}: file {file_shape:?} vs model {shape:?}");
            if self.skip_mismatched {
                self.report.reinitialised.push(what);
            } else {
                self.mismatches.push(what);
            }
        }
        data
    }
}

impl ModuleMapper for Loader {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.path.enter(name, container_type);
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.exit();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let (key, linear_weight) = self.path.key();
        let shape = param.lazy_shape().dims::<D>().to_vec();
        match self.take(&key, linear_weight, &shape) {
            Some(data) => {
                self.report.loaded += 1;
                let device = param.lazy_device();
                let tensor = Tensor::<D>::from_data(TensorData::new(data, shape), &device);
                let id = param.id;
                param.transform_for_load(tensor, id)
            }
            None => {
                let prefix = format!("{key}:");
                let mismatched = self.mismatches.iter().chain(&self.report.reinitialised);
                if !mismatched.into_iter().any(|m| m.starts_with(&prefix)) {
                    self.report.missing.push(key);
                }
                param
            }
        }
    }
}

/// Set the parameters of `module` from `tensors` (our keys, PyTorch layout).
///
/// Parameters absent from `tensors` keep their values and are listed in the report's
/// `missing`; tensors no parameter uses are listed in `unexpected`. `path` names the file
/// in errors.
///
/// # Errors
/// [`DetrError::ShapeMismatch`] if a tensor's shape does not fit its parameter.
pub fn load_tensors<M: Module>(module: M, tensors: TensorMap, path: &Path) -> Result<(M, LoadReport)> {
    load_tensors_with(module, tensors, path, false)
}

/// [`load_tensors`], optionally leaving parameters whose shape differs from the file at
/// their initial values (listed in the report's `reinitialised`) instead of failing.
///
/// # Errors
/// [`DetrError::ShapeMismatch`] if a shape does not fit and `skip_mismatched` is false.
pub fn load_tensors_with<M: Module>(
    module: M,
    tensors: TensorMap,
    path: &Path,
    skip_mismatched: bool,
) -> Result<(M, LoadReport)> {
    load_tensors_tied(module, tensors, path, skip_mismatched, true)
}

fn load_tensors_tied<M: Module>(
    module: M,
    tensors: TensorMap,
    path: &Path,
    skip_mismatched: bool,
    tie_heads: bool,
) -> Result<(M, LoadReport)> {
    let mut loader = Loader {
        path: PathTracker::default(),
        tensors,
        used: BTreeSet::new(),
        report: LoadReport::default(),
        mismatches: Vec::new(),
        skip_mismatched,
        tie_heads,
    };
    let module = module.map(&mut loader);
    if !loader.mismatches.is_empty() {
        return Err(DetrError::ShapeMismatch {
            path: path.to_path_buf(),
            count: loader.mismatches.len(),
            details: loader.mismatches.join("; "),
        });
    }
    let mut report = loader.report;
    report.unexpected = loader.tensors.keys().filter(|k| !loader.used.contains(*k)).cloned().collect();
    Ok((module, report))
}

struct Collector {
    path: PathTracker,
    tensors: TensorMap,
}

impl ModuleVisitor for Collector {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.path.enter(name, container_type);
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.exit();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let (key, linear_weight) = self.path.key();
        let tensor = param.val();
        let shape = tensor.dims().to_vec();
        let data: Vec<f32> = tensor.into_data().convert::<f32>().try_to_vec::<f32>().unwrap_or_default();
        let entry = if linear_weight && D == 2 {
            Entry { shape: vec![shape[1], shape[0]], data: transpose(&data, shape[0], shape[1]) }
        } else {
            Entry { shape, data }
        };
        self.tensors.insert(key, entry);
    }
}

/// Every float parameter of `module` under our keys, in PyTorch layout.
pub fn module_tensors<M: Module>(module: &M) -> TensorMap {
    let mut collector = Collector { path: PathTracker::default(), tensors: BTreeMap::new() };
    module.visit(&mut collector);
    collector.tensors
}

/// Save `module` to `<dir>/model.safetensors` and `config` to `<dir>/config.json`
/// (both written atomically; `dir` is created).
///
/// # Errors
/// If the directory or a file cannot be written.
pub fn save_model<M: Module, C: burn::config::Config>(module: &M, config: &C, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|source| DetrError::Io { path: dir.to_path_buf(), source })?;
    write_safetensors(&dir.join("model.safetensors"), &module_tensors(module))?;
    let json = burn::config::config_to_json(config);
    let path = dir.join("config.json");
    ulm_io::atomic_write_bytes(&path, json.as_bytes())
        .map_err(|e| DetrError::Write { path: path.clone(), message: e.to_string() })
}

/// Read `<dir>/config.json` as a burn config (saved by [`save_model`]).
///
/// # Errors
/// If the file is missing or is not a valid configuration.
pub fn load_config<C: burn::config::Config>(dir: &Path) -> Result<C> {
    let path: PathBuf = dir.join("config.json");
    let text = std::fs::read_to_string(&path).map_err(|source| DetrError::Io { path: path.clone(), source })?;
    C::load_binary(text.as_bytes())
        .map_err(|e| DetrError::Config { path, message: format!("not a valid configuration: {e}") })
}

/// Load `<dir>/model.safetensors` (saved by [`save_model`]) into `module`, requiring every
/// parameter and no extra tensor.
///
/// # Errors
/// If the file cannot be read, a shape does not fit, or keys are missing/unexpected.
pub fn load_model<M: Module>(module: M, dir: &Path) -> Result<M> {
    let path = dir.join("model.safetensors");
    let tensors = read_safetensors(&path)?;
    let (module, report) = load_tensors(module, tensors, &path)?;
    if !report.is_complete() {
        return Err(DetrError::Incomplete { path, report: Box::new(report) });
    }
    Ok(module)
}

fn read_hf_config(dir: &Path) -> Result<(PathBuf, serde_json::Value)> {
    let path = dir.join("config.json");
    let text = std::fs::read_to_string(&path).map_err(|source| DetrError::Io { path: path.clone(), source })?;
    let json = serde_json::from_str(&text)
        .map_err(|e| DetrError::Config { path: path.clone(), message: format!("not valid JSON: {e}") })?;
    Ok((path, json))
}

/// Prefixes of our keys for the ResNet stages after the last one the model returns: their
/// weights are in transformers checkpoints (its `ResNetBackbone` builds every stage) but
/// feed nothing.
fn unused_stage_prefixes(backbone: &crate::backbone::BackboneConfig) -> Vec<String> {
    match backbone {
        crate::backbone::BackboneConfig::ResNet(r) => {
            let last = r.out_stages.iter().copied().max().unwrap_or(4);
            (last + 1..=4).map(|s| format!("backbone.layer{s}.")).collect()
        }
        crate::backbone::BackboneConfig::Light(_) => Vec::new(),
    }
}

fn load_hf_tensors<M: Module>(
    module: M,
    dir: &Path,
    skip_mismatched: bool,
    tie_heads: bool,
    unused_prefixes: &[String],
) -> Result<(M, LoadReport)> {
    let path = dir.join("model.safetensors");
    let (tensors, ignored) = hf::read_hf(&path)?;
    let (module, mut report) = load_tensors_tied(module, tensors, &path, skip_mismatched, tie_heads)?;
    report.ignored = ignored;
    let (unused, unexpected) =
        report.unexpected.drain(..).partition(|k: &String| unused_prefixes.iter().any(|p| k.starts_with(p)));
    report.unused_by_design = unused;
    report.unexpected = unexpected;
    Ok((module, report))
}

/// Build a [`DeformableDetr`](crate::DeformableDetr) from a HuggingFace
/// `DeformableDetrForObjectDetection` directory (`config.json`, `model.safetensors`).
///
/// `num_classes` replaces the checkpoint's class count for fine-tuning (e.g. COCO's 91
/// classes to 1 microbubble class): the class heads then keep their prior-probability
/// initialisation and are listed in the report's `reinitialised`. The report also lists
/// missing and unexpected keys.
///
/// # Errors
/// If a file cannot be read, the config is unsupported or a tensor does not fit.
pub fn load_hf_deformable_detr(
    dir: &Path,
    num_classes: Option<usize>,
    device: &Device,
) -> Result<(crate::DeformableDetr, crate::DeformableDetrConfig, LoadReport)> {
    let (path, json) = read_hf_config(dir)?;
    let mut config =
        deformable_config_from_hf(&json).map_err(|message| DetrError::Config { path: path.clone(), message })?;
    // transformers ties heads 1.. to head 0 unless `tie_word_embeddings` is false.
    let tie_heads = hf_config::bool_or(&json, "tie_word_embeddings", true)
        .map_err(|message| DetrError::Config { path, message })?;
    let skip = num_classes.is_some_and(|n| n != config.num_classes);
    if let Some(n) = num_classes {
        config.num_classes = n;
    }
    config.validate().map_err(|message| DetrError::Config { path: dir.join("config.json"), message })?;
    let unused = unused_stage_prefixes(&config.backbone);
    let (model, report) = load_hf_tensors(config.init(device), dir, skip, tie_heads, &unused)?;
    Ok((model, config, report))
}

/// Build a [`Detr`](crate::Detr) from a HuggingFace `DetrForObjectDetection` directory
/// (`config.json`, `model.safetensors`); `num_classes` as in [`load_hf_deformable_detr`].
///
/// # Errors
/// If a file cannot be read, the config is unsupported or a tensor does not fit.
pub fn load_hf_detr(
    dir: &Path,
    num_classes: Option<usize>,
    device: &Device,
) -> Result<(crate::Detr, crate::DetrConfig, LoadReport)> {
    let (path, json) = read_hf_config(dir)?;
    let mut config = detr_config_from_hf(&json).map_err(|message| DetrError::Config { path, message })?;
    let skip = num_classes.is_some_and(|n| n != config.num_classes);
    if let Some(n) = num_classes {
        config.num_classes = n;
    }
    config.validate().map_err(|message| DetrError::Config { path: dir.join("config.json"), message })?;
    let unused = unused_stage_prefixes(&config.backbone);
    let (model, report) = load_hf_tensors(config.init(device), dir, skip, false, &unused)?;
    Ok((model, config, report))
}
