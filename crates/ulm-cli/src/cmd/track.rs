//! `ulm track`: link localizations into tracks with velocities in mm/s.
//!
//! Reads a localization CSV (`frame, x_mm, z_mm`, …) and the acquisition's `meta.json`
//! (frame rate, wavelength), writes `track_id, frame, x_mm, z_mm, vx_mm_s, vz_mm_s` (CSV:
//! positions to 1e-6 mm, velocities to 1e-4 mm/s; Parquet, by the `.parquet` extension:
//! every bit) and, beside it, `<out stem>.config.json` with the options it ran with (not
//! `config.json`, which `ulm simulate` already writes into the same folder).
//!
//! Reading, linking and writing overlap: a CSV in frame order is parsed on one thread,
//! linked frame by frame on this one, and each track is formatted and written on a third
//! as soon as it is final (`ulm_io::LocalizationFrames`, `ulm_track::link_frames_with`,
//! `ulm_io::TracksWriter`); the file is the one the batch path writes, byte for byte.

use std::path::PathBuf;

use anyhow::Context as _;
use ulm_track::{LinkConfig, PredictorKind, SpatialIndex};

use super::Context;
use crate::output;
use crate::progress::Bar;

/// Options of `ulm track`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Localization CSV (`frame, x_mm, z_mm` required; other columns ignored).
    locs: PathBuf,
    /// The acquisition's meta.json (frame rate, wavelength) [default: meta.json beside LOCS].
    #[arg(long)]
    meta: Option<PathBuf>,
    /// Output tracks: CSV (positions to 1e-6 mm, velocities to 1e-4 mm/s) or Parquet
    /// (`.parquet`, every bit).
    #[arg(short, long)]
    out: PathBuf,
    /// Search range in mm: the largest distance from a track's predicted position to a
    /// candidate in the next frame [default: one wavelength].
    #[arg(long, value_name = "MM")]
    search_range_mm: Option<f64>,
    /// Frames a bubble may vanish and still be linked (trackpy's `memory`).
    #[arg(long, default_value_t = 0)]
    memory: u32,
    /// Drop tracks with fewer points than this.
    #[arg(long, default_value_t = 3)]
    min_length: usize,
    /// Where to search: `none` (around the last position, Brownian), `velocity` (the
    /// paper's Eq. 6: last position plus the track's last velocity) or `kalman`
    /// (constant-velocity Kalman filter).
    #[arg(long, value_enum, default_value_t = PredictorArg::Velocity)]
    predictor: PredictorArg,
    /// Velocity rejection: drop a step faster than this multiple of the track's speed on
    /// its previous step (the paper uses 3).
    #[arg(long, default_value_t = 3.0, value_name = "RATIO")]
    max_speed_ratio: f64,
    /// Disable velocity rejection.
    #[arg(long, conflicts_with = "max_speed_ratio")]
    no_speed_rejection: bool,
    /// Steps up to this length (mm per frame) are never rejected, so that a bubble that
    /// was nearly still may start moving; below about λ/4 a step is within localization
    /// error and its speed says little [default: wavelength / 4].
    #[arg(long, value_name = "MM")]
    min_rejectable_step_mm: Option<f64>,
    /// Spatial index for the candidates within the search range: `kdtree` or `grid`
    /// (uniform grid hash). Both give identical tracks; they differ only in speed
    /// [default: the library's default, the faster one].
    #[arg(long, value_enum)]
    index: Option<IndexArg>,
}

/// Spatial index choice on the command line.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum IndexArg {
    Kdtree,
    Grid,
}

/// Predictor choice on the command line.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum PredictorArg {
    None,
    Velocity,
    Kalman,
}

struct Options {
    config: LinkConfig,
    predictor: PredictorKind,
    meta: PathBuf,
}

fn validate(a: &Args) -> anyhow::Result<Options> {
    let meta = a.meta.clone().unwrap_or_else(|| ulm_io::sidecar_path(&a.locs));
    let geometry = ulm_io::read_meta(&meta)
        .and_then(|m| m.geometry(&meta))
        .with_context(|| format!("reading the geometry from {} (give it with --meta)", meta.display()))?;
    let config = LinkConfig {
        search_range_mm: a.search_range_mm.unwrap_or(geometry.wavelength_mm),
        memory: a.memory,
        min_length: a.min_length,
        max_speed_ratio: (!a.no_speed_rejection).then_some(a.max_speed_ratio),
        min_rejectable_step_mm: a.min_rejectable_step_mm.unwrap_or(geometry.wavelength_mm / 4.0),
        frame_rate_hz: geometry.frame_rate_hz,
        index: match a.index {
            None => SpatialIndex::default(),
            Some(IndexArg::Kdtree) => SpatialIndex::KdTree,
            Some(IndexArg::Grid) => SpatialIndex::Grid,
        },
    };
    config.validate().context("invalid option")?;
    let predictor = match a.predictor {
        PredictorArg::None => PredictorKind::None,
        PredictorArg::Velocity => PredictorKind::Velocity,
        PredictorArg::Kalman => PredictorKind::Kalman,
    };
    Ok(Options { config, predictor, meta })
}

/// Runs `ulm track`: reads, links and writes at once (`ulm_io::LocalizationFrames` →
/// `ulm_track::link_frames_with` → `ulm_io::TracksWriter`).
pub fn run(args: Args, ctx: &Context) -> anyhow::Result<()> {
    let o = validate(&args)?;
    let frames = ulm_io::LocalizationFrames::open(&args.locs)?;
    let bar = Bar::new(frames.n_frames() as u64, "frames", ctx.quiet);
    let mut out = ulm_io::TracksWriter::create(&args.out)?;
    let frames = frames.map(|f| f.map_err(anyhow::Error::from));
    let stats = ulm_track::link_frames_with(frames, &o.config, o.predictor, &bar, |t| Ok(out.write(t)?))
        .with_context(|| format!("tracking {}", args.locs.display()))?;
    out.finish()?;
    let cfg = serde_json::json!({
        "input": args.locs,
        "meta": o.meta,
        "link": o.config,
        "predictor": o.predictor,
    });
    output::write_run_config(&output::config_path(&args.out), "track", cfg)?;
    tracing::info!("linking took {:.3} s", stats.link_secs);
    ctx.summary(format_args!(
        "{} localizations in {} frames → {} tracks ({} points kept); wrote {}",
        stats.rows,
        stats.n_frames,
        stats.tracks,
        stats.points,
        args.out.display()
    ));
    Ok(())
}
