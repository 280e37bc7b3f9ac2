//! The learned detectors of `ulm localize` (`--method de-detr | detr`): options, the
//! model folder (given or shipped), and the localizer with its recorded settings.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use ulm_detr::localizer::folder::TRAIN_CONFIG_FILE;
use ulm_detr::train::ModelKind;
use ulm_detr::{DetrLocalizer, ModelFolder, Refine};

/// Sub-pixel refinement of detector positions on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RefineArg {
    /// Keep the box centre.
    None,
    /// Least-squares 2-D Gaussian fit on the envelope window (see --patch).
    Gaussian,
    /// Radial symmetry centre on the envelope window (see --patch).
    Radial,
}

/// Options of the learned detectors.
#[derive(Debug, Clone, clap::Args)]
pub struct DetectorArgs {
    /// de-detr/detr/unet: the model folder (`runs/NAME/best/` of `ulm train`, or a packaged
    /// folder with `train.toml`) [default: the shipped `models/de-detr`, `models/detr` or
    /// `models/unet`].
    #[arg(long, value_name = "DIR")]
    pub weights: Option<PathBuf>,
    /// de-detr/detr/unet: keep detections scoring at least this [default: the threshold
    /// calibrated on validation data, from the folder's calibration.json].
    #[arg(long, value_name = "T")]
    pub score_threshold: Option<f32>,
    /// de-detr/detr: re-estimate each centre on the envelope around it (window: --patch)
    /// [default: gaussian].
    #[arg(long, value_enum)]
    refine: Option<RefineArg>,
    /// de-detr/detr: side of the square tiles fed to the network, pixels [default: the
    /// training patch].
    #[arg(long, value_name = "PX")]
    tile: Option<usize>,
    /// de-detr/detr: pixels shared by neighbouring tiles [default: tile / 8].
    #[arg(long, value_name = "PX")]
    overlap: Option<usize>,
    /// de-detr/detr: merge detections closer than this, in wavelengths (score-weighted)
    /// [default: 0.5].
    #[arg(long, value_name = "λ")]
    dedup_radius: Option<f64>,
    /// de-detr/detr: tiles per forward pass [default: 16].
    #[arg(long, value_name = "N")]
    batch: Option<usize>,
}

/// The shipped model folder `models/<name>`: beside the working directory, or above the
/// executable (a build inside the repository, `target/*/ulm`).
pub fn shipped(name: &str) -> anyhow::Result<PathBuf> {
    Ok(shipped_dir(ulm_bench::MethodName::parse(name)?)?)
}

/// [`shipped`] for a method, with the library's error (`ulm bench` skips on it).
pub fn shipped_dir(method: ulm_bench::MethodName) -> Result<PathBuf, ulm_bench::BenchError> {
    let exe_dir = std::env::current_exe().ok().and_then(|e| e.parent().map(Path::to_path_buf));
    ulm_bench::shipped_model(method, exe_dir.as_slice())
}

/// The localizer for `kind` with the options applied, and the settings to record.
pub fn build(
    kind: ModelKind,
    a: &DetectorArgs,
    refine_patch: usize,
) -> anyhow::Result<(DetrLocalizer, serde_json::Value)> {
    let name = match kind {
        ModelKind::DeformableDetr => "de-detr",
        ModelKind::Detr => "detr",
    };
    let dir = match &a.weights {
        Some(d) => d.clone(),
        None => shipped(name)?,
    };
    let hint = || {
        format!(
            "loading the {name} model folder {} (model.safetensors, config.json, calibration.json and the \
             training config {TRAIN_CONFIG_FILE}, as `ulm train` writes into runs/NAME/best/)",
            dir.display()
        )
    };
    let folder = ModelFolder::open(&dir).with_context(hint)?;
    if folder.kind() != kind {
        anyhow::bail!("{} holds a {:?} model, not {name}: use the other --method", dir.display(), folder.kind());
    }
    let mut loc = DetrLocalizer::from_folder(&folder).with_context(hint)?;
    let mut cfg = loc.config().clone();
    if let Some(t) = a.tile {
        cfg.patch = t;
        cfg.overlap = t / 8;
    }
    cfg.overlap = a.overlap.unwrap_or(cfg.overlap);
    cfg.score_threshold = a.score_threshold.unwrap_or(cfg.score_threshold);
    cfg.dedup_radius_wavelengths = a.dedup_radius.unwrap_or(cfg.dedup_radius_wavelengths);
    cfg.batch_size = a.batch.unwrap_or(cfg.batch_size);
    cfg.refine_patch = refine_patch;
    cfg.refine = match a.refine {
        None => cfg.refine,
        Some(RefineArg::None) => Refine::None,
        Some(RefineArg::Gaussian) => Refine::Gaussian,
        Some(RefineArg::Radial) => Refine::Radial,
    };
    loc.set_config(cfg)?;
    let record = serde_json::json!({
        "weights": dir,
        "training_config": folder.train_path,
        "calibration": folder.calibration,
        "inference": loc.config(),
    });
    Ok((loc, record))
}
