//! `ulm simulate`: a synthetic ULM acquisition with ground truth.
//!
//! Writes into `--out DIR`: `iq.npy` (complex64 `[frames, z, x]`), `envelope.npy`
//! (float32), `meta.json` (geometry keys plus the simulation parameters, whose grid
//! `ulm_io::Meta::grid_shape` reads), `gt.csv` (the ground truth as a localization
//! table: `frame, x_mm, z_mm, score, track_id, x_px, z_px, vx_mm_s, vz_mm_s`),
//! `vessels.json` (the network), `gt_density.png` (ground-truth density on a λ/10 grid)
//! and `config.json` (the full simulation config, reusable with `--config`).

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use ulm_core::Progress as _;
use ulm_sim::{Preset, PsfModel, SimConfig, Simulation, VesselNetwork};

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
    /// Coronal rodent-brain-like bed: surface vessels, penetrating arterioles and venules.
    Cortex,
}

impl PresetArg {
    /// The simulator's preset.
    pub fn preset(self) -> Preset {
        match self {
            PresetArg::Sparse => Preset::Sparse,
            PresetArg::Dense => Preset::Dense,
            PresetArg::Tissue => Preset::Tissue,
            PresetArg::Deep => Preset::Deep,
            PresetArg::Cortex => Preset::Cortex,
        }
    }
}

/// Options of `ulm simulate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Parameter preset: sparse (~5 bubbles/frame), dense (~100/frame), tissue (moving
    /// speckle 40 dB above the bubbles), deep (strong depth variation), cortex (coronal
    /// rodent-brain vascular bed: surface vessels and penetrating arterioles/venules).
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
    /// Point-spread function: gaussian (separable, fast) or physical (pulse-echo response
    /// of the linear array in the config's `probe`: plane-wave compounding, delay-and-sum
    /// with receive F-number and apodisation); default from the preset/config (gaussian).
    #[arg(long, value_enum)]
    psf: Option<PsfArg>,
    /// Your own vessels instead of a generated bed: a vessel graph `.json` (the shape of
    /// `vessels.json`: nodes with x_mm/z_mm[/y_mm/pressure], segments with from/to/
    /// radius_mm[/flow_mm3_s]; flow solved by Poiseuille when missing) or a binary vessel
    /// mask/skeleton `.png` (white = vessel) laid over the field of view.
    #[arg(long, value_name = "FILE")]
    vessels: Option<PathBuf>,
    /// Pixel size of a `--vessels` mask, µm; default: the mask's width spans the field of view.
    #[arg(long, value_name = "UM", requires = "vessels")]
    vessels_pixel_um: Option<f64>,
}

/// `--psf` choices.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum PsfArg {
    Gaussian,
    Physical,
}

struct Options {
    config: SimConfig,
    vessels: Option<PathBuf>,
    vessels_pixel_um: Option<f64>,
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
    if let Some(p) = a.psf {
        config.imaging.psf = match p {
            PsfArg::Gaussian => PsfModel::Gaussian,
            PsfArg::Physical => PsfModel::Physical,
        };
    }
    if let Some(um) = a.vessels_pixel_um {
        anyhow::ensure!(um.is_finite() && um > 0.0, "--vessels-pixel-um must be > 0, got {um}");
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
    Ok(Options {
        config,
        vessels: a.vessels,
        vessels_pixel_um: a.vessels_pixel_um,
        preset,
        frames: a.frames,
        seed: a.seed,
        out: a.out,
        preview: a.preview,
    })
}

/// Runs `ulm simulate`.
pub fn run(args: Args, ctx: &Context) -> anyhow::Result<()> {
    let o = validate(args)?;
    std::fs::create_dir_all(&o.out).with_context(|| format!("creating output folder {}", o.out.display()))?;
    let bar = Bar::new(o.frames as u64, "frames", ctx.quiet);
    bar.set_message("simulating");
    let sim = match &o.vessels {
        Some(path) => {
            let net = read_vessels(path, &o.config, o.vessels_pixel_um)?;
            ulm_sim::simulate_with_network(&o.config, net, o.frames, o.seed, &bar)
                .with_context(|| format!("simulation on the vessels of {}", path.display()))?
        }
        None => ulm_sim::simulate(&o.config, o.frames, o.seed, &bar).context("simulation failed")?,
    };
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

/// A user vessel network: a graph `.json` or a mask `.png` laid over the field of view.
fn read_vessels(path: &Path, config: &SimConfig, pixel_um: Option<f64>) -> anyhow::Result<VesselNetwork> {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    let speed = config.flow.max_peak_speed_mm_s;
    if ext == "json" {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        return VesselNetwork::from_graph_json(&text, speed).with_context(|| format!("{}", path.display()));
    }
    anyhow::ensure!(ext == "png", "{}: --vessels takes a graph .json or a mask .png", path.display());
    let data = ulm_io::open_raw(path, &ulm_io::ReadOptions::default())
        .and_then(|mut r| r.read_all())
        .with_context(|| format!("reading the vessel mask {}", path.display()))?;
    let img = match data {
        ulm_core::FrameData::Real(a) => a.index_axis(ndarray::Axis(0), 0).to_owned(),
        ulm_core::FrameData::Complex(a) => a.index_axis(ndarray::Axis(0), 0).mapv(|c| c.norm()),
    };
    let max = img.iter().cloned().fold(0.0f32, f32::max);
    anyhow::ensure!(max > 0.0, "{}: the vessel mask is empty (all black)", path.display());
    let mask = img.mapv(|v| v > 0.5 * max);
    let g = config.geometry()?;
    let (x0, x1) = g.x_range_mm(config.grid.cols);
    let px = match pixel_um {
        Some(um) => um * 1e-3,
        None => (x1 - x0 + g.pixel_size_x_mm) / mask.ncols() as f64,
    };
    let origin = (x0 - g.pixel_size_x_mm / 2.0 + px / 2.0, g.z0_mm - g.pixel_size_z_mm / 2.0 + px / 2.0);
    VesselNetwork::from_mask(&mask, (px, px), origin, speed).with_context(|| format!("{}", path.display()))
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
        "vessels_file": o.vessels.as_ref().map(|p| p.display().to_string()),
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
