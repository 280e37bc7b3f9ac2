//! `ulm localize`: localization of every frame, classical (detection + sub-pixel
//! estimator) or learned (`de-detr`, `detr`: see `detector.rs`; `unet`, the Deep-ULM
//! U-Net).
//!
//! Glue over `ulm_localize::localize_source`, which reads frames block by block (bounded
//! memory) and localizes each block. Writes the localization CSV (`frame, x_mm, z_mm,
//! score`, plus `w_mm, h_mm` for the detectors) and `<out stem>.config.json`.

use std::path::PathBuf;

use anyhow::Context as _;
use ulm_localize::{ClassicalConfig, ClassicalLocalizer, Localizer, TemporalSupport};
use ulm_pipeline::methods::classical_config;
use ulm_pipeline::{LocalizeConfig, MethodName};

use super::Context;

use super::detector::{self, DetectorArgs};
use crate::output;
use crate::progress::Bar;

/// A localization method on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MethodArg {
    /// The pixel of the maximum (no sub-pixel step).
    NoShift,
    /// Background-subtracted intensity centroid.
    Centroid,
    /// Least-squares 2-D Gaussian fit.
    Gaussian,
    /// Radial symmetry centre (Parthasarathy), as in PALA.
    Radial,
    /// Lanczos-3 upsampling, then the maximum (see --upsample).
    Interp,
    /// Threshold, connected component, centroid (see --morph-level).
    Morph,
    /// Deformable DETR, the learned detector (see --weights).
    DeDetr,
    /// DETR, the learned detector (see --weights).
    Detr,
    /// Deep-ULM U-Net (see --weights, --score-threshold).
    Unet,
}

impl From<MethodArg> for MethodName {
    fn from(m: MethodArg) -> Self {
        match m {
            MethodArg::NoShift => MethodName::NoShift,
            MethodArg::Centroid => MethodName::Centroid,
            MethodArg::Gaussian => MethodName::Gaussian,
            MethodArg::Radial => MethodName::Radial,
            MethodArg::Interp => MethodName::Interp,
            MethodArg::Morph => MethodName::Morph,
            MethodArg::DeDetr => MethodName::DeDetr,
            MethodArg::Detr => MethodName::Detr,
            MethodArg::Unet => MethodName::Unet,
        }
    }
}

/// Options of `ulm localize`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Frame file (IQ or envelope; complex frames are localized on their envelope).
    frames: PathBuf,
    /// Output localization CSV.
    #[arg(short, long)]
    out: PathBuf,
    /// Sub-pixel method.
    #[arg(long, value_enum, default_value_t = MethodArg::Radial)]
    method: MethodArg,
    /// How to read the frame file (dataset, axis order, sidecar, NaN policy).
    #[command(flatten)]
    input_opts: super::info::InputArgs,
    /// Patch side in pixels (odd, >= 3) around each candidate (de-detr/detr: the
    /// refinement window).
    #[arg(long, default_value_t = 5)]
    patch: usize,
    /// Keep maxima >= this fraction of the frame's maximum (0.1 = −20 dB).
    #[arg(long, default_value_t = 0.1, value_name = "FRACTION")]
    threshold_rel: f32,
    /// Keep maxima >= this absolute envelope value [default: none].
    #[arg(long, value_name = "VALUE")]
    threshold_abs: Option<f32>,
    /// Keep maxima >= K × the median envelope of their row (a depth-following noise
    /// floor); 0 disables.
    #[arg(long, default_value_t = 4.0, value_name = "K")]
    noise_factor: f32,
    /// Keep at most N brightest maxima per frame [default: no limit].
    #[arg(long, value_name = "N")]
    max_per_frame: Option<usize>,
    /// Minimum distance between candidates in pixels (the brighter wins); 0 = off.
    #[arg(long, default_value_t = 0.0, value_name = "PX")]
    min_separation_px: f64,
    /// Extra border margin in pixels beyond half the patch.
    #[arg(long, default_value_t = 0, value_name = "PX")]
    border_margin_px: usize,
    /// Reject a candidate whose patch holds more than N regional maxima (PALA's NLocalMax);
    /// 0 disables the test.
    #[arg(long, default_value_t = 3, value_name = "N")]
    max_maxima_in_patch: usize,
    /// Only maxima >= this fraction of the candidate's value count as crowding (0 counts
    /// every maximum, like PALA).
    #[arg(long, default_value_t = 0.25, value_name = "FRACTION")]
    crowd_level: f32,
    /// Discard localizations further than this from their candidate pixel, per axis, in
    /// pixels [default: half the patch].
    #[arg(long, value_name = "PX")]
    max_shift_px: Option<f64>,
    /// `interp`: upsampling factor (grid step 1/N px).
    #[arg(long, default_value_t = 10, value_name = "N")]
    upsample: usize,
    /// `morph`: threshold as a fraction between the patch minimum and maximum.
    #[arg(long, default_value_t = 0.5, value_name = "FRACTION")]
    morph_level: f32,
    /// Frames read and localized at a time (memory bound) [default: 1000; de-detr/detr 32].
    #[arg(long, value_name = "N")]
    block_frames: Option<usize>,
    /// The learned detectors' options.
    #[command(flatten)]
    detector: DetectorArgs,
    /// The temporal-support filter (any method).
    #[command(flatten)]
    temporal: super::TemporalArgs,
}

/// Validated configuration from the raw options.
fn build_config(a: &Args) -> anyhow::Result<ClassicalConfig> {
    let l = LocalizeConfig {
        patch: a.patch,
        threshold_rel: a.threshold_rel.into(),
        threshold_abs: a.threshold_abs.map(f64::from),
        noise_factor: a.noise_factor.into(),
        max_per_frame: a.max_per_frame,
        min_separation_px: a.min_separation_px,
        border_margin_px: a.border_margin_px,
        max_maxima_in_patch: a.max_maxima_in_patch,
        crowd_level: a.crowd_level.into(),
        max_shift_px: a.max_shift_px,
        upsample: a.upsample,
        morph_level: a.morph_level.into(),
        ..LocalizeConfig::default()
    };
    Ok(classical_config(&l, a.method.into())?)
}

/// Runs `ulm localize`.
pub fn run(args: Args, ctx: &Context) -> anyhow::Result<()> {
    let method = MethodName::from(args.method);
    let temporal = args.temporal.config()?;
    let learned = method.is_learned().then_some(method);
    let (localizer, cfg): (Box<dyn Localizer>, serde_json::Value) = match learned {
        Some(method) => detector::build(method, &args.detector, args.patch)?,
        None => {
            let cfg = build_config(&args)?;
            (Box::new(ClassicalLocalizer::new(cfg.clone())?), serde_json::to_value(cfg)?)
        }
    };
    let block_frames = args.block_frames.unwrap_or(learned.map_or(1000, MethodName::block_frames));
    if block_frames == 0 {
        anyhow::bail!("--block-frames must be >= 1");
    }
    let opts = args.input_opts.read_options();
    let mut source = ulm_io::open_frames(&args.frames, &opts)
        .with_context(|| format!("opening frames {}", args.frames.display()))?;
    let n = source.n_frames();
    let bar = Bar::new(n as u64, "frames", ctx.quiet);
    let locs = ulm_localize::localize_source(source.as_mut(), localizer.as_ref(), block_frames, &bar)
        .with_context(|| format!("localizing {}", args.frames.display()))?;
    let (mut locs, n_before) =
        TemporalSupport::apply_optional(temporal.as_ref(), locs, source.geometry()).context("temporal support")?;
    if matches!(learned, Some(MethodName::DeDetr | MethodName::Detr)) {
        // Detectors always write their box columns, even when nothing was found.
        let n = locs.len();
        locs.w_mm.get_or_insert_with(|| vec![f64::NAN; n]);
        locs.h_mm.get_or_insert_with(|| vec![f64::NAN; n]);
    }
    if let Some(parent) = args.out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    ulm_io::write_localizations(&args.out, &locs).with_context(|| format!("writing {}", args.out.display()))?;
    let config = serde_json::json!({
        "frames": args.frames,
        "output": args.out,
        "localizer": localizer.name(),
        "config": cfg,
        "block_frames": block_frames,
        "n_frames": n,
        "n_localizations": locs.len(),
        "temporal_support": temporal,
        "n_before_temporal_support": n_before,
    });
    output::write_run_config(&output::config_path(&args.out), "localize", config)?;
    let dropped = match n_before {
        Some(n0) => format!(" ({} without temporal support dropped)", n0 - locs.len()),
        None => String::new(),
    };
    ctx.summary(format_args!("{} localizations in {n} frames{dropped}; wrote {}", locs.len(), args.out.display()));
    Ok(())
}
