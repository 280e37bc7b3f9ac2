//! `ulm bench`: every localizer on simulated data with ground truth the models were not
//! trained on (default seed 20000; training uses seeds from 1000 and 9000), scored by
//! precision, recall, F1, Jaccard, RMSE, COCO AP/AR, Dice of Gaussian and track maps and
//! throughput. Glue over `ulm_bench::run_bench`; writes `bench.md` and `bench.json`.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use ulm_bench::{BenchConfig, BenchError, MethodName, Prepared};
use ulm_core::Progress;

use super::Context;
use super::simulate::PresetArg;
use crate::output;
use crate::progress::Bar;

/// Options of `ulm bench`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Simulation presets, comma-separated (tissue is SVD-filtered first, as `ulm filter`).
    #[arg(long, value_enum, value_delimiter = ',', default_value = "sparse,dense,tissue")]
    preset: Vec<PresetArg>,
    /// Frames simulated per preset.
    #[arg(long, default_value_t = 200)]
    frames: usize,
    /// Simulation seed (default outside the training and validation seeds 1000… and 9000…).
    #[arg(long, default_value_t = BenchConfig::DEFAULT_SEED)]
    seed: u64,
    /// Methods, comma-separated: de-detr, detr, no-shift, centroid, gaussian, radial,
    /// interp, morph, unet [default: all; learned ones without a model folder are skipped].
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    methods: Option<Vec<String>>,
    /// Folder holding the model folders `de-detr/`, `detr/`, `unet/` [default: the shipped
    /// `models/`].
    #[arg(long, value_name = "DIR")]
    weights_dir: Option<PathBuf>,
    /// The DE-DETR model folder (overrides --weights-dir).
    #[arg(long, value_name = "DIR")]
    de_detr_weights: Option<PathBuf>,
    /// The DETR model folder (overrides --weights-dir).
    #[arg(long, value_name = "DIR")]
    detr_weights: Option<PathBuf>,
    /// The U-Net model folder (overrides --weights-dir).
    #[arg(long, value_name = "DIR")]
    unet_weights: Option<PathBuf>,
    /// Pairing gate in wavelengths.
    #[arg(long, default_value_t = 0.5, value_name = "λ")]
    gate_wavelengths: f64,
    /// Rows × columns instead of the presets' grids (bubble count scaled by area), e.g.
    /// `128,128` for a quick run.
    #[arg(long, value_name = "ROWS,COLS", value_delimiter = ',', num_args = 2)]
    grid: Option<Vec<usize>>,
    /// The temporal-support filter, applied to every method alike.
    #[command(flatten)]
    temporal: super::TemporalArgs,
    /// Output folder for bench.md and bench.json (created).
    #[arg(short, long, value_name = "DIR", default_value = "out/bench")]
    out: PathBuf,
}

/// Where the model folder of learned `method` is: given, under --weights-dir, or shipped.
fn weights(a: &Args, method: MethodName) -> Result<PathBuf, BenchError> {
    let given = match method {
        MethodName::DeDetr => &a.de_detr_weights,
        MethodName::Detr => &a.detr_weights,
        _ => &a.unet_weights,
    };
    if let Some(d) = given {
        return Ok(d.clone());
    }
    if let Some(root) = &a.weights_dir {
        return Ok(root.join(method.name()));
    }
    Ok(super::detector::shipped_dir(method)?)
}

/// Runs `ulm bench`.
pub fn run(a: Args, ctx: &Context) -> anyhow::Result<()> {
    let methods = match &a.methods {
        Some(list) => ulm_bench::parse_methods(list).context("--methods")?,
        None => MethodName::ALL.to_vec(),
    };
    let mut cfg = BenchConfig::new(a.preset.iter().map(|p| p.preset()).collect(), a.frames);
    cfg.seed = a.seed;
    cfg.gate_wavelengths = a.gate_wavelengths;
    cfg.grid = a.grid.as_ref().map(|g| (g[0], g[1]));
    cfg.temporal_support = a.temporal.config()?;
    let prepared = methods.iter().map(|&m| Prepared::new(m, || weights(&a, m), None)).collect::<Result<Vec<_>, _>>()?;
    for p in prepared.iter() {
        if let Err(reason) = &p.state {
            tracing::warn!("skipping {}: {reason}", p.method);
        }
    }
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let quiet = ctx.quiet;
    let bars = |label: &str| -> Box<dyn Progress> {
        let bar = Bar::new(a.frames as u64, "frames", quiet);
        bar.set_message(label);
        Box::new(bar)
    };
    let report = ulm_bench::run_bench(&cfg, &prepared, &bars)?;
    let md = report.to_markdown();
    write(&a.out.join("bench.md"), md.as_bytes())?;
    output::write_run_config(&a.out.join("bench.json"), "bench", serde_json::to_value(&report)?)?;
    output::print(&md)?;
    ctx.summary(format_args!("wrote {} and {}", a.out.join("bench.md").display(), a.out.join("bench.json").display()));
    Ok(())
}

fn write(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    ulm_io::atomic_write_bytes(path, bytes).with_context(|| format!("writing {}", path.display()))
}
