//! Weights in safetensors: our own files (config beside them) and HuggingFace checkpoints.
//!
//! Tensors are stored in PyTorch layout under our module paths with PyTorch leaf names
//! (`encoder.layers.0.self_attn.value_proj.weight`, a `[out, in]` matrix; `…norm.weight`
//! for a norm's scale). HuggingFace names are translated by the table in [`hf`]; loading
//! transposes linear weights, renames norm parameters and sums a 3-channel `conv1` over
//! its input channels for our single-channel backbone.

pub mod hf;
mod hf_config;
mod io;

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
    /// True when every parameter was loaded and every file tensor used.
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
}

impl Loader {
    /// Data for the parameter `key` of shape `shape` (burn layout), if the file has it.
    fn take(&mut self, key: &str, linear_weight: bool, shape: &[usize]) -> Option<Vec<f32>> {
        let (source, entry) = match self.tensors.get(key) {
            Some(e) => (key.to_string(), e),
            None => {
                let alias = tied_alias(key)?;
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
    let mut loader = Loader {
        path: PathTracker::default(),
        tensors,
        used: BTreeSet::new(),
        report: LoadReport::default(),
        mismatches: Vec::new(),
        skip_mismatched,
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

fn load_hf_tensors<M: Module>(module: M, dir: &Path, skip_mismatched: bool) -> Result<(M, LoadReport)> {
    let path = dir.join("model.safetensors");
    let (tensors, ignored) = hf::read_hf(&path)?;
    let (module, mut report) = load_tensors_with(module, tensors, &path, skip_mismatched)?;
    report.ignored = ignored;
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
    let mut config = deformable_config_from_hf(&json).map_err(|message| DetrError::Config { path, message })?;
    let skip = num_classes.is_some_and(|n| n != config.num_classes);
    if let Some(n) = num_classes {
        config.num_classes = n;
    }
    let (model, report) = load_hf_tensors(config.init(device), dir, skip)?;
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
    let (model, report) = load_hf_tensors(config.init(device), dir, skip)?;
    Ok((model, config, report))
}
