//! The learned detectors of `ulm localize` (`--method de-detr | detr`): options, the
//! model folder (given or shipped), and the localizer with its recorded settings.

use std::path::PathBuf;

use ulm_core::Localizer;
use ulm_detr::Refine;
use ulm_pipeline::{LearnedConfig, MethodError, MethodName};

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
    /// de-detr/detr: resample frames to this pixel pitch, in wavelengths, before the
    /// network sees them [default: the model folder's (its inference.json, else the pitch
    /// it was trained at)].
    #[arg(long, value_name = "λ", conflicts_with = "native_pitch")]
    pixel_pitch: Option<f64>,
    /// de-detr/detr: use the frames as given, without resampling.
    #[arg(long)]
    native_pitch: bool,
}

/// [`ulm_pipeline::methods::shipped_model`] for `method`, looked up beside the working
/// directory or above the executable (`ulm bench` skips a method on its error).
pub fn shipped_dir(method: MethodName) -> Result<PathBuf, MethodError> {
    ulm_pipeline::methods::shipped_model(method, &[])
}

/// The learned `method` from its model folder (given, else shipped) with the options
/// applied and `refine_patch` as the detectors' refinement window, and the settings to
/// record.
pub fn build(
    method: MethodName,
    a: &DetectorArgs,
    refine_patch: usize,
) -> anyhow::Result<(Box<dyn Localizer>, serde_json::Value)> {
    let dir = match &a.weights {
        Some(d) => d.clone(),
        None => shipped_dir(method)?,
    };
    let o = LearnedConfig {
        weights: None,
        score_threshold: a.score_threshold.map(f64::from),
        refine: a.refine.map(|r| match r {
            RefineArg::None => Refine::None,
            RefineArg::Gaussian => Refine::Gaussian,
            RefineArg::Radial => Refine::Radial,
        }),
        tile: a.tile,
        overlap: a.overlap,
        dedup_radius_wavelengths: a.dedup_radius,
        batch: a.batch,
        pixel_pitch_wavelengths: a.pixel_pitch,
        native_pitch: a.native_pitch,
        ..LearnedConfig::default()
    };
    Ok(ulm_pipeline::methods::load_learned_with(method, &dir, &o, Some(refine_patch))?)
}
