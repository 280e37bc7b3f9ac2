//! `ulm filter`: SVD clutter filter (block-wise) and optional temporal band-pass.
//!
//! SVD-only filtering streams block by block (memory bounded by one block); with a
//! band-pass the stack is held in memory (zero-phase filtering needs whole time series).
//! Writes the filtered frames to `--out` (`.npy`; complex64 for IQ input, float32 for real
//! input), the input's `meta.json` beside them (geometry and every other key kept), and
//! `<out stem>.config.json` with the settings and the components kept in each block.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use ulm_clutter::{BandPassConfig, BlockReport, Cutoff, SvdConfig};
use ulm_core::{Complex32, FrameData, FrameSource};
use ulm_io::{NpyElement, NpyStreamWriter};

use super::Context;
use crate::output;
use crate::progress::Bar;

/// Options of `ulm filter`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Frame file (.npy, .mat, .h5, image folder …) with a meta.json beside it.
    input: PathBuf,
    /// Output frames (.npy).
    #[arg(short, long)]
    out: PathBuf,
    /// How to read the frame file (dataset, axis order, sidecar, NaN policy).
    #[command(flatten)]
    input_opts: super::info::InputArgs,
    /// First kept singular component (1-based; components before it are tissue)
    /// [default: automatic, from the elbow of the singular-value curve].
    #[arg(long, value_name = "K")]
    svd_low: Option<usize>,
    /// Last kept singular component (1-based, inclusive) [default: the last].
    #[arg(long, value_name = "K")]
    svd_high: Option<usize>,
    /// Frames per SVD block (memory grows with pixels × block).
    #[arg(long, default_value_t = 1000, value_name = "N")]
    block_frames: usize,
    /// Skip the SVD filter (band-pass only).
    #[arg(long, conflicts_with_all = ["svd_low", "svd_high"])]
    no_svd: bool,
    /// Temporal high-pass cut-off in Hz (zero-phase Butterworth) [default: none].
    #[arg(long, value_name = "HZ")]
    bandpass_low_hz: Option<f64>,
    /// Temporal low-pass cut-off in Hz (zero-phase Butterworth) [default: none].
    #[arg(long, value_name = "HZ")]
    bandpass_high_hz: Option<f64>,
    /// Butterworth order of each side of the band-pass.
    #[arg(long, default_value_t = 4, value_name = "N")]
    bandpass_order: usize,
}

/// SVD-filters `src` block by block (`ulm_clutter::svd_filter_source`, bounded memory)
/// into a `.npy` at `out`, converting each filtered sample with `convert` (identity for
/// IQ, real part for real input).
fn stream_svd<T: NpyElement>(
    src: &mut dyn FrameSource,
    cfg: &SvdConfig,
    out: &Path,
    convert: impl Fn(Complex32) -> T,
    bar: &Bar,
) -> anyhow::Result<Vec<BlockReport>> {
    let [nf, rows, cols] = src.shape();
    let mut writer = NpyStreamWriter::<T>::create(out, &[nf, rows, cols])?;
    let reports = ulm_clutter::svd_filter_source(src, cfg, bar, |block| -> anyhow::Result<()> {
        let samples: Vec<T> = block.data.iter().map(|&c| convert(c)).collect();
        writer.write(&samples)?;
        Ok(())
    })?;
    writer.finish()?;
    Ok(reports)
}

/// Runs `ulm filter`.
pub fn run(args: Args, ctx: &Context) -> anyhow::Result<()> {
    let svd = (!args.no_svd).then_some(SvdConfig {
        cutoff: match args.svd_low {
            Some(low) => Cutoff::Fixed { low, high: args.svd_high },
            None => Cutoff::Auto { high: args.svd_high },
        },
        block_frames: args.block_frames,
    });
    if args.svd_low == Some(0) {
        anyhow::bail!("--svd-low counts components from 1 (1 keeps the first component)");
    }
    if args.block_frames < 2 {
        anyhow::bail!("--block-frames must be >= 2, got {}", args.block_frames);
    }
    let bp =
        BandPassConfig { low_hz: args.bandpass_low_hz, high_hz: args.bandpass_high_hz, order: args.bandpass_order };
    let band = bp.low_hz.is_some() || bp.high_hz.is_some();
    if svd.is_none() && !band {
        anyhow::bail!("nothing to do: --no-svd without --bandpass-low-hz / --bandpass-high-hz");
    }
    if args.out.extension().and_then(|e| e.to_str()) != Some("npy") {
        anyhow::bail!("--out must be a .npy file, got {}", args.out.display());
    }

    let opts = args.input_opts.read_options();
    let meta_path = ulm_io::meta_path_for(&args.input, &opts);
    if let Some(parent) = args.out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    let (geometry, reports) = if band {
        // The zero-phase band-pass needs each pixel's whole time series: in memory.
        let mut stack = ulm_io::read_frames(&args.input, &opts)
            .with_context(|| format!("reading frames from {}", args.input.display()))?;
        ulm_clutter::bandpass::design(&bp, stack.geometry().frame_rate_hz)
            .with_context(|| format!("band-pass for frame rate {} Hz", stack.geometry().frame_rate_hz))?;
        let mut reports = Vec::new();
        if let Some(cfg) = &svd {
            let bar = Bar::new(stack.n_frames() as u64, "frames", ctx.quiet);
            let (out, reps) = ulm_clutter::svd_filter(&stack, cfg, &bar)
                .with_context(|| format!("SVD filter of {}", args.input.display()))?;
            stack = out;
            reports = reps;
        }
        ulm_clutter::bandpass_stack(&mut stack, &bp).context("temporal band-pass")?;
        match stack.data() {
            FrameData::Complex(a) => ulm_io::write_npy(&args.out, a),
            FrameData::Real(a) => ulm_io::write_npy(&args.out, a),
        }
        .with_context(|| format!("writing {}", args.out.display()))?;
        (*stack.geometry(), reports)
    } else {
        // SVD only: stream block by block, so memory is bounded by one block whatever
        // the length of the acquisition.
        let cfg = svd.as_ref().ok_or_else(|| output::internal("SVD settings missing"))?;
        let mut src = ulm_io::open_frames(&args.input, &opts)
            .with_context(|| format!("reading frames from {}", args.input.display()))?;
        let geometry = *src.geometry();
        let bar = Bar::new(src.n_frames() as u64, "frames", ctx.quiet);
        let reports = if src.is_complex() {
            stream_svd(src.as_mut(), cfg, &args.out, |c| c, &bar)
        } else {
            stream_svd(src.as_mut(), cfg, &args.out, |c: Complex32| c.re, &bar)
        }
        .with_context(|| format!("SVD filter of {} into {}", args.input.display(), args.out.display()))?;
        (geometry, reports)
    };
    let mut meta = ulm_io::read_meta(&meta_path).unwrap_or_else(|_| ulm_io::Meta::from_geometry(&geometry));
    let g = ulm_io::Meta::from_geometry(&geometry);
    meta.frame_rate_hz = g.frame_rate_hz;
    meta.pixel_size_x_mm = g.pixel_size_x_mm;
    meta.pixel_size_z_mm = g.pixel_size_z_mm;
    meta.x0_mm = g.x0_mm;
    meta.z0_mm = g.z0_mm;
    meta.wavelength_mm = g.wavelength_mm;
    let out_meta = ulm_io::sidecar_path(&args.out);
    ulm_io::write_meta(&out_meta, &meta).with_context(|| format!("writing {}", out_meta.display()))?;

    let blocks: Vec<serde_json::Value> = reports
        .iter()
        .map(|r| {
            let s0 = r.singular_values.first().copied().unwrap_or(1.0).max(f64::MIN_POSITIVE);
            serde_json::json!({
                "start_frame": r.start_frame,
                "n_frames": r.n_frames,
                "kept_low": r.low,
                "kept_high": r.high,
                "singular_values_db": r.singular_values.iter().take(64)
                    .map(|s| (20.0 * (s / s0).max(1e-30).log10() * 100.0).round() / 100.0).collect::<Vec<_>>(),
            })
        })
        .collect();
    let config = serde_json::json!({
        "input": args.input,
        "output": args.out,
        "svd": svd,
        "bandpass": band.then_some(bp),
        "blocks": blocks,
    });
    output::write_run_config(&output::config_path(&args.out), "filter", config)?;
    for r in &reports {
        tracing::info!(
            "frames {}..{}: kept components {}..={}",
            r.start_frame,
            r.start_frame + r.n_frames,
            r.low,
            r.high
        );
    }
    let kept = match (reports.iter().map(|r| r.low).min(), reports.iter().map(|r| r.low).max()) {
        (Some(lo), Some(hi)) if lo == hi => format!(", first kept component {lo}"),
        (Some(lo), Some(hi)) => format!(", first kept component {lo}…{hi}"),
        _ => String::new(),
    };
    ctx.summary(format_args!(
        "{} SVD block(s){kept}{}; wrote {}",
        reports.len(),
        if band { ", band-pass" } else { "" },
        args.out.display()
    ));
    Ok(())
}
