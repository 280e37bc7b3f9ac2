//! `ulm simulate`: a synthetic ULM acquisition with ground truth.
//!
//! Writes into `--out DIR`: `iq.npy` (complex64 `[frames, z, x]`), `envelope.npy`
//! (float32), `meta.json` (geometry keys plus the simulation parameters, whose grid
//! `ulm_io::Meta::grid_shape` reads), `gt.csv` (the ground truth as a localization
//! table: `frame, x_mm, z_mm, score, track_id, x_px, z_px, vx_mm_s, vz_mm_s`),
//! `vessels.json` (the network), `gt_density.png` (ground-truth density on a λ/10 grid)
//! and `config.json` (the full simulation config, reusable with `--config`).

use std::path::PathBuf;

use anyhow::Context as _;
use ulm_core::Progress as _;
use ulm_sim::{Preset, SimConfig, Simulation};

use super::Context;
use crate::output;
use crate::progress::Bar;

/// A simulation preset on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PresetArg {
    /// ~5 bubbles per frame, no tissue.
    Sparse,
    /// ~100 bubbles per frame, no tissue.
    Dense,
    /// Moving tissue speckle 40 dB above the bubbles (needs the SVD filter).
    Tissue,
    /// Strong depth variation.
    Deep,
}

impl PresetArg {
    /// The simulator's preset.
    pub fn preset(self) -> Preset {
        match self {
            PresetArg::Sparse => Preset::Sparse,
            PresetArg::Dense => Preset::Dense,
            PresetArg::Tissue => Preset::Tissue,
            PresetArg::Deep => Preset::Deep,
        }
    }
}

/// Options of `ulm simulate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Parameter preset.
    #[arg(long, value_enum, default_value_t = PresetArg::Sparse)]
    preset: PresetArg,
    /// Full simulation config as JSON (e.g. a `config.json` written by an earlier run);
    /// replaces the preset. Missing keys take their defaults.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Number of frames.
    #[arg(long, default_value_t = 1000)]
    frames: usize,
    /// Random seed; the same seed and options give the same output.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Output folder (created if missing).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Rows (depth pixels, λ/2 each); default from the preset (256; 320 for deep).
    #[arg(long)]
    rows: Option<usize>,
    /// Columns (lateral pixels, λ/2 each); default from the preset (208).
    #[arg(long)]
    cols: Option<usize>,
    /// Expected visible bubbles per frame; default from the preset.
    #[arg(long, value_name = "N")]
    bubbles_per_frame: Option<f64>,
    /// Mean bubble amplitude over noise RMS at the top of the image, dB; default from the
    /// preset (25–30 dB).
    #[arg(long, value_name = "DB")]
    snr_db: Option<f64>,
    /// Frame rate in Hz; default 1000.
    #[arg(long, value_name = "HZ")]
    frame_rate_hz: Option<f64>,
    /// Also write `frame_0000.png`: the first envelope frame, log-compressed over 50 dB.
    #[arg(long)]
    preview: bool,
}

struct Options {
    config: SimConfig,
    preset: Option<Preset>,
    frames: usize,
    seed: u64,
    out: PathBuf,
    preview: bool,
}

fn validate(a: Args) -> anyhow::Result<Options> {
    let (mut config, preset) = match &a.config {
        Some(p) => {
            let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            let c: SimConfig =
                serde_json::from_str(&text).with_context(|| format!("{}: invalid simulation config", p.display()))?;
            (c, None)
        }
        None => {
            let p = a.preset.preset();
            (SimConfig::preset(p), Some(p))
        }
    };
    if let Some(r) = a.rows {
        config.grid.rows = r;
    }
    if let Some(c) = a.cols {
        config.grid.cols = c;
    }
    if let Some(b) = a.bubbles_per_frame {
        config.bubbles.per_frame = b;
    }
    if let Some(s) = a.snr_db {
        config.imaging.snr_db = s;
    }
    if let Some(f) = a.frame_rate_hz {
        config.grid.frame_rate_hz = f;
    }
    config.validate().with_context(|| match &a.config {
        Some(p) => format!("{}: invalid simulation config", p.display()),
        None => "invalid simulation options".to_string(),
    })?;
    if a.frames == 0 {
        anyhow::bail!("--frames must be at least 1");
    }
    let bytes = a.frames as f64 * (config.grid.rows * config.grid.cols) as f64 * 12.0;
    if bytes > 64e9 {
        anyhow::bail!(
            "--frames {} at {}×{} needs {:.0} GB of memory",
            a.frames,
            config.grid.rows,
            config.grid.cols,
            bytes / 1e9
        );
    }
    Ok(Options { config, preset, frames: a.frames, seed: a.seed, out: a.out, preview: a.preview })
}

/// Runs `ulm simulate`.
pub fn run(args: Args, ctx: &Context) -> anyhow::Result<()> {
    let o = validate(args)?;
    std::fs::create_dir_all(&o.out).with_context(|| format!("creating output folder {}", o.out.display()))?;
    let bar = Bar::new(o.frames as u64, "frames", ctx.quiet);
    bar.set_message("simulating");
    let sim = ulm_sim::simulate(&o.config, o.frames, o.seed, &bar).context("simulation failed")?;
    write_outputs(&o, &sim)?;
    ctx.summary(format_args!(
        "{} frames ({} × {}) and {} ground-truth rows; wrote {}",
        o.frames,
        sim.iq.rows(),
        sim.iq.cols(),
        sim.truth.len(),
        o.out.display()
    ));
    Ok(())
}

fn write_outputs(o: &Options, sim: &Simulation) -> anyhow::Result<()> {
    let dir = &o.out;
    let iq = match sim.iq.data() {
        ulm_core::FrameData::Complex(a) => a,
        ulm_core::FrameData::Real(_) => return Err(output::internal("the simulator returned real frames")),
    };
    ulm_io::write_npy(&dir.join("iq.npy"), iq)?;
    let env = sim.iq.envelope();
    ulm_io::write_npy(&dir.join("envelope.npy"), &env)?;

    let g = sim.iq.geometry();
    let mut meta = ulm_io::Meta::from_geometry(g);
    meta.center_frequency_hz = Some(o.config.grid.center_frequency_hz);
    meta.speed_of_sound_m_s = Some(o.config.grid.speed_of_sound_m_s);
    let sim_json = serde_json::json!({
        "preset": o.preset.map(|p| p.name()),
        "seed": o.seed,
        "frames": o.frames,
        "bubbles_in_network": sim.n_bubbles,
        "ground_truth_rows": sim.truth.len(),
        "config": o.config,
    });
    meta.extra.insert("simulation".into(), sim_json);
    ulm_io::write_meta(&dir.join("meta.json"), &meta)?;

    let cfg_text = serde_json::to_string_pretty(&o.config)? + "\n";
    ulm_io::atomic_write_bytes(&dir.join("config.json"), cfg_text.as_bytes())?;
    let net_text = serde_json::to_string(&sim.network)? + "\n";
    ulm_io::atomic_write_bytes(&dir.join("vessels.json"), net_text.as_bytes())?;
    ulm_io::write_localizations(&dir.join("gt.csv"), &sim.truth)?;

    let (rows, cols) = (sim.iq.rows(), sim.iq.cols());
    let density = ulm_sim::density_image(&sim.truth, g, rows, cols);
    ulm_io::write_png_gray8(&dir.join("gt_density.png"), &density)?;
    if o.preview {
        let frame = sim.iq.frame_envelope(0);
        ulm_io::write_png_gray8(&dir.join("frame_0000.png"), &ulm_sim::log_compress(&frame, 50.0))?;
    }
    Ok(())
}
