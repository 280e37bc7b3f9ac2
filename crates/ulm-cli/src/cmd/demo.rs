//! `ulm demo`: the whole pipeline on built-in simulated data, no download.
//!
//! Builds the pipeline config of a simulation (the `cortex` bed by default) and runs it
//! through `ulm_pipeline::run`, exactly as `ulm run` would: simulate → (SVD filter for
//! `tissue`) → localize with several methods side by side → track → render → evaluate →
//! `report.html`. The resolved config is written beside the results, so
//! `ulm run --config OUT/pipeline.toml` reruns it.

use std::path::PathBuf;

use ulm_pipeline::methods::find_shipped;
use ulm_pipeline::{
    FilterConfig, InputConfig, LearnedConfig, LocalizeConfig, MethodName, PipelineConfig, RunOptions, SimulateConfig,
};

use super::Context;
use super::localize::MethodArg;
use super::run::{Bars, command_line, summary_line};
use super::simulate::PresetArg;
use crate::output::choice_name;

/// Options of `ulm demo`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Output folder (created; existing files in it are replaced).
    #[arg(short, long, value_name = "DIR", default_value = "out/demo")]
    out: PathBuf,
    /// Simulation preset: cortex (rodent-brain-like vascular bed, the default: its maps look
    /// like a ULM image), sparse, dense, tissue (clutter on; the demo SVD-filters it) or deep.
    #[arg(long, value_enum, default_value_t = PresetArg::Cortex)]
    preset: PresetArg,
    /// Number of frames to simulate (2 s at 1 kHz: enough for the cortex bed's vessels to
    /// fill in).
    #[arg(long, default_value_t = 2000)]
    frames: usize,
    /// Expected bubbles per frame. Default: 120 for cortex (so that 2,000 frames fill its
    /// penetrating vessels and deep trees, as a long in-vivo acquisition does), the
    /// preset's own otherwise.
    #[arg(long, value_name = "N")]
    bubbles_per_frame: Option<f64>,
    /// Random seed (the whole demo is deterministic given it).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Localization methods, side by side in the report (comma-separated) [default:
    /// de-detr,radial when a shipped models/de-detr exists, else radial (plus unet when
    /// models/unet exists)].
    #[arg(long, alias = "method", value_enum, value_delimiter = ',', value_name = "METHOD,…")]
    methods: Vec<MethodArg>,
    /// Frames localized by the learned methods (de-detr, detr, unet), which are slow on a
    /// CPU; the classical ones localize every frame.
    #[arg(long, default_value_t = 100, value_name = "N")]
    learned_frames: usize,
}

/// The demo's default methods: DE-DETR beside radial when its model is shipped, else
/// radial (and the U-Net when shipped).
fn default_methods() -> Vec<MethodName> {
    if find_shipped(MethodName::DeDetr, &[]).is_ok() {
        vec![MethodName::DeDetr, MethodName::Radial]
    } else if find_shipped(MethodName::Unet, &[]).is_ok() {
        vec![MethodName::Radial, MethodName::Unet]
    } else {
        vec![MethodName::Radial]
    }
}

/// The pipeline the demo runs.
fn config(a: &Args) -> anyhow::Result<PipelineConfig> {
    anyhow::ensure!(a.frames >= 2, "--frames must be at least 2, got {}", a.frames);
    anyhow::ensure!(a.learned_frames >= 1, "--learned-frames must be at least 1");
    let methods =
        if a.methods.is_empty() { default_methods() } else { a.methods.iter().map(|&m| MethodName::from(m)).collect() };
    let learned = LearnedConfig { frames: Some(a.learned_frames), ..LearnedConfig::default() };
    let bubbles = a.bubbles_per_frame.or((a.preset == PresetArg::Cortex).then_some(120.0));
    let cfg = PipelineConfig {
        input: InputConfig {
            simulate: Some(SimulateConfig {
                preset: a.preset.preset(),
                frames: a.frames,
                seed: a.seed,
                bubbles_per_frame: bubbles,
                rows: None,
                cols: None,
                snr_db: None,
                psf: None,
            }),
            ..InputConfig::default()
        },
        // Only the tissue preset has clutter to remove.
        filter: FilterConfig { svd: a.preset == PresetArg::Tissue, ..FilterConfig::default() },
        localize: LocalizeConfig {
            methods,
            de_detr: learned.clone(),
            detr: learned.clone(),
            unet: learned,
            ..LocalizeConfig::default()
        },
        track: Default::default(),
        render: Default::default(),
        eval: Default::default(),
        report: ulm_pipeline::ReportConfig {
            title: Some(format!("ulm demo: simulated `{}` acquisition", choice_name(&a.preset))),
        },
    };
    cfg.validate().map_err(|m| anyhow::anyhow!("demo config: {m}"))?;
    Ok(cfg)
}

/// Runs `ulm demo`.
pub fn run(a: Args, ctx: &Context) -> anyhow::Result<()> {
    let cfg = config(&a)?;
    let bars = Bars { quiet: ctx.quiet };
    let summary = ulm_pipeline::run(&cfg, &RunOptions::new(&a.out, &command_line(), &bars))?;
    ctx.summary(summary_line(&summary));
    ctx.summary(format_args!("rerun: ulm run --config {} --out DIR", summary.out.join("pipeline.toml").display()));
    Ok(())
}
