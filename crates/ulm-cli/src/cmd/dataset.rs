//! `ulm dataset`: training data for the learned localizers (COCO JSON + 16-bit PNG
//! patches), from a simulation, from a user's frames + ground-truth CSV, or from the
//! domain-randomised simulator mix.
//!
//! Writes into `--out DIR`: `{train,val,test}/NNNNNN.png`, `{train,val,test}.json` (COCO,
//! category `microbubble`, `bbox` in patch pixels, the intensity scaling in `info`) and
//! `dataset.json` (the resolved config and the report: split blocks, gap, frame-to-frame
//! correlation across it, images and boxes per block). Library: `ulm_data::export`.

use std::path::PathBuf;

use anyhow::Context as _;
use ulm_clutter::SvdConfig;
use ulm_core::{FrameStack, Geometry, Localizations, Progress as _};
use ulm_data::{BoxSize, DatasetConfig, Gap, Normalization, RandomizedConfig, RandomizedSource, SplitConfig, Tiling};
use ulm_sim::{Preset, SimConfig};

use super::Context;
use crate::progress::Bar;

/// Options of `ulm dataset`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["from_sim", "frames", "randomized"])))]
pub struct Args {
    /// Simulate the acquisition with this preset (`--n-frames`, `--seed`, `--rows`, `--cols`).
    #[arg(long, value_enum, value_name = "PRESET")]
    from_sim: Option<SimPreset>,
    /// A frame file (.npy, .mat, .h5, image folder …) with its geometry (`--meta`); needs `--gt`.
    #[arg(long, value_name = "FILE", requires = "gt")]
    frames: Option<PathBuf>,
    /// Ground-truth CSV for `--frames` (`frame, x_mm, z_mm`; optional `w_mm, h_mm` box sizes).
    #[arg(long, value_name = "CSV")]
    gt: Option<PathBuf>,
    /// Write N samples of the domain-randomised simulator mix (whole acquisitions per block).
    #[arg(long, value_name = "N")]
    randomized: Option<usize>,
    /// How to read `--frames` (dataset, axis order, sidecar `--meta`, NaN policy).
    #[command(flatten)]
    input_opts: super::info::InputArgs,
    /// Output folder (created if missing).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Frames to simulate with `--from-sim`.
    #[arg(long, default_value_t = 1000, value_name = "N")]
    n_frames: usize,
    /// Random seed (simulation, randomised mix).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Rows of the simulated grid [default: the preset's].
    #[arg(long)]
    rows: Option<usize>,
    /// Columns of the simulated grid [default: the preset's].
    #[arg(long)]
    cols: Option<usize>,
    /// Patch size in pixels (square; the paper found 256 best).
    #[arg(long, default_value_t = 256, value_name = "PX")]
    patch: usize,
    /// Overlap of neighbouring patches, pixels.
    #[arg(long, default_value_t = 32, value_name = "PX", conflicts_with = "grid")]
    overlap: usize,
    /// An N×M grid of abutting patches instead of `--patch`/`--overlap` (e.g. `2x2`).
    #[arg(long, value_name = "NxM")]
    grid: Option<String>,
    /// Fractions train,val,test (of the frames left after the gaps; of the acquisitions
    /// with `--randomized`).
    #[arg(long, default_value = "0.8,0.1,0.1", value_name = "F,F,F")]
    split: String,
    /// Frames dropped between blocks: a number, or `auto` (the smallest gap whose
    /// frame-to-frame correlation falls below `--gap-threshold`).
    #[arg(long, default_value = "auto", value_name = "N|auto")]
    gap: String,
    /// Correlation threshold of `--gap auto` (the paper kept it below 0.17 %).
    #[arg(long, default_value_t = 0.0017)]
    gap_threshold: f64,
    /// Largest gap `--gap auto` may choose, frames.
    #[arg(long, default_value_t = 200)]
    max_gap: usize,
    /// Box size: `auto` (the PSF model of a simulation — from `meta.json` for `--frames` —
    /// else `wavelengths`), `psf`, `pixels` or `wavelengths`.
    #[arg(long, value_enum, default_value_t = BoxArg::Auto)]
    box_size: BoxArg,
    /// Box width for `pixels`/`wavelengths` [default: 6 px / 3 λ].
    #[arg(long)]
    box_w: Option<f64>,
    /// Box height for `pixels`/`wavelengths` [default: 3 px / 1.5 λ].
    #[arg(long)]
    box_h: Option<f64>,
    /// Box size as a multiple of the PSF FWHM at depth (`psf`).
    #[arg(long, default_value_t = 2.0)]
    psf_scale: f64,
    /// SVD clutter filter before patching: `auto` (on for the tissue preset), `on`, `off`.
    #[arg(long, value_enum, default_value_t = SvdArg::Auto)]
    svd: SvdArg,
    /// Presets of the randomised mix, comma-separated [default: all].
    #[arg(long, value_delimiter = ',', value_name = "NAMES")]
    presets: Vec<String>,
    /// Frames simulated per acquisition of the randomised mix.
    #[arg(long, default_value_t = 16)]
    frames_per_acquisition: usize,
}

/// Simulator presets on the command line.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum SimPreset {
    Sparse,
    Dense,
    Tissue,
    Deep,
}

/// Box-size choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum BoxArg {
    Auto,
    Psf,
    Pixels,
    Wavelengths,
}

/// SVD choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum SvdArg {
    Auto,
    On,
    Off,
}

fn parse_fractions(s: &str) -> anyhow::Result<[f64; 3]> {
    let v: Vec<f64> = s
        .split(',')
        .map(|x| x.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .with_context(|| format!("--split `{s}`: expected three numbers like 0.8,0.1,0.1"))?;
    let [a, b, c] = v[..] else { anyhow::bail!("--split `{s}`: expected three numbers like 0.8,0.1,0.1") };
    Ok([a, b, c])
}

fn tiling(a: &Args) -> anyhow::Result<Tiling> {
    Ok(match &a.grid {
        Some(g) => {
            let (n, m) = g
                .split_once(['x', 'X'])
                .and_then(|(n, m)| Some((n.trim().parse().ok()?, m.trim().parse().ok()?)))
                .with_context(|| format!("--grid `{g}`: expected NxM, e.g. 2x2"))?;
            Tiling::Grid { n_rows: n, n_cols: m }
        }
        None => Tiling::Patch { rows: a.patch, cols: a.patch, overlap: a.overlap },
    })
}

/// The simulator's imaging parameters recorded in a `meta.json` by `ulm simulate`.
fn imaging_from_meta(meta: &ulm_io::Meta) -> Option<ulm_sim::ImagingConfig> {
    let v = meta.extra.get("simulation")?.get("config")?.get("imaging")?;
    serde_json::from_value(v.clone()).ok()
}

fn box_size(a: &Args, imaging: Option<ulm_sim::ImagingConfig>) -> anyhow::Result<BoxSize> {
    Ok(match (a.box_size, imaging) {
        (BoxArg::Auto | BoxArg::Psf, Some(im)) => BoxSize::Psf { imaging: im, scale: a.psf_scale },
        (BoxArg::Psf, None) => anyhow::bail!(
            "--box-size psf needs the simulator's PSF model (a meta.json written by `ulm simulate`); \
             use --box-size pixels or wavelengths"
        ),
        (BoxArg::Auto, None) => BoxSize::default_wavelengths(),
        (BoxArg::Pixels, _) => BoxSize::Pixels { w: a.box_w.unwrap_or(6.0), h: a.box_h.unwrap_or(3.0) },
        (BoxArg::Wavelengths, _) => BoxSize::Wavelengths { w: a.box_w.unwrap_or(3.0), h: a.box_h.unwrap_or(1.5) },
    })
}

fn write_json(path: &std::path::Path, v: &serde_json::Value) -> anyhow::Result<()> {
    ulm_io::atomic_write_bytes(path, (serde_json::to_string_pretty(v)? + "\n").as_bytes())?;
    Ok(())
}

/// Runs `ulm dataset`.
pub fn run(args: Args, ctx: &Context) -> anyhow::Result<()> {
    let fractions = parse_fractions(&args.split)?;
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating output folder {}", args.out.display()))?;
    if let Some(n) = args.randomized {
        return run_randomized(&args, n, fractions, ctx);
    }
    let gap = match args.gap.trim() {
        "auto" => Gap::Auto { threshold: args.gap_threshold, max_frames: args.max_gap },
        g => Gap::Frames { frames: g.parse().with_context(|| format!("--gap `{g}`: expected a number or `auto`"))? },
    };
    // Input: frames (complex or real), geometry, ground truth, PSF model, preset.
    let (stack, truth, imaging, input, tissue): (FrameStack, Localizations, _, serde_json::Value, bool) =
        match (&args.from_sim, &args.frames) {
            (Some(p), _) => {
                let preset = match p {
                    SimPreset::Sparse => Preset::Sparse,
                    SimPreset::Dense => Preset::Dense,
                    SimPreset::Tissue => Preset::Tissue,
                    SimPreset::Deep => Preset::Deep,
                };
                let mut cfg = SimConfig::preset(preset);
                if let Some(r) = args.rows {
                    cfg.grid.rows = r;
                }
                if let Some(c) = args.cols {
                    cfg.grid.cols = c;
                }
                cfg.validate().context("invalid simulation options")?;
                if args.n_frames == 0 {
                    anyhow::bail!("--n-frames must be at least 1");
                }
                let bar = Bar::new(args.n_frames as u64, "frames", ctx.quiet);
                bar.set_message("simulating");
                let sim = ulm_sim::simulate(&cfg, args.n_frames, args.seed, &bar).context("simulation failed")?;
                let input = serde_json::json!({"simulation": {"preset": preset.name(), "seed": args.seed,
                    "frames": args.n_frames, "config": cfg}});
                (sim.iq, sim.truth, Some(cfg.imaging), input, preset == Preset::Tissue)
            }
            (None, Some(f)) => {
                let gt = args.gt.as_ref().context("--frames needs --gt")?;
                let opts = args.input_opts.read_options();
                let stack = ulm_io::read_frames(f, &opts).with_context(|| format!("reading {}", f.display()))?;
                let meta_path = ulm_io::meta_path_for(f, &opts);
                let imaging = ulm_io::read_meta(&meta_path).ok().as_ref().and_then(imaging_from_meta);
                let truth = ulm_io::read_localizations(gt)?;
                (stack, truth, imaging, serde_json::json!({"frames": f, "gt": gt, "meta": meta_path}), false)
            }
            _ => anyhow::bail!("give one of --from-sim, --frames (with --gt) or --randomized"),
        };
    let geometry: Geometry = *stack.geometry();
    let svd = match args.svd {
        SvdArg::On => true,
        SvdArg::Off => false,
        SvdArg::Auto => tissue,
    };
    let stack = if svd {
        let bar = Bar::new(stack.n_frames() as u64, "frames", ctx.quiet);
        let (f, _) = ulm_clutter::svd_filter(&stack, &SvdConfig::default(), &bar).context("SVD clutter filter")?;
        f
    } else {
        stack
    };
    let cfg = DatasetConfig {
        tiling: tiling(&args)?,
        split: SplitConfig { fractions, gap },
        boxes: box_size(&args, imaging)?,
        normalization: Normalization::default(),
    };
    cfg.validate().context("invalid option")?;
    let env = stack.envelope();
    let bar = Bar::new(env.dim().0 as u64, "frames", ctx.quiet);
    let report = ulm_data::export_frames(env.view(), &geometry, &truth, &cfg, &args.out, &bar)
        .with_context(|| format!("writing the dataset into {}", args.out.display()))?;
    write_json(
        &args.out.join("dataset.json"),
        &serde_json::json!({
            "command": "dataset",
            "version": env!("CARGO_PKG_VERSION"),
            "input": input,
            "svd_filter": svd,
            "config": cfg,
            "report": report,
        }),
    )?;
    if !ctx.quiet {
        for b in &report.blocks {
            eprintln!("{}: frames {:?}, {} patches, {} boxes", b.name, b.range, b.images, b.boxes);
        }
        eprintln!(
            "gap {} frames; correlation across it {:.4} % (boundaries: {}); wrote {}",
            report.split.gap,
            100.0 * report.split.correlation_across_gap,
            report
                .split
                .boundary_correlation
                .iter()
                .map(|(n, c)| format!("{n} {:.4} %", 100.0 * c))
                .collect::<Vec<_>>()
                .join(", "),
            args.out.display()
        );
    }
    Ok(())
}

fn run_randomized(args: &Args, n: usize, fractions: [f64; 3], ctx: &Context) -> anyhow::Result<()> {
    let cfg = RandomizedConfig {
        samples: n,
        seed: args.seed,
        presets: args.presets.clone(),
        patch: args.patch,
        frames_per_acquisition: args.frames_per_acquisition,
        ..RandomizedConfig::default()
    };
    let src = RandomizedSource::new(cfg.clone()).context("invalid option")?;
    let bar = Bar::new(n as u64, "samples", ctx.quiet);
    let blocks = ulm_data::export_randomized(&src, fractions, &args.out, &bar)
        .with_context(|| format!("writing the dataset into {}", args.out.display()))?;
    let acquisitions: Vec<_> = (0..src.n_acquisitions()).map(|a| src.acquisition_params(a, 0)).collect();
    write_json(
        &args.out.join("dataset.json"),
        &serde_json::json!({
            "command": "dataset",
            "version": env!("CARGO_PKG_VERSION"),
            "randomized": cfg,
            "report": {"blocks": blocks},
            "acquisitions": acquisitions.iter().map(|p| serde_json::json!({
                "index": p.index, "preset": p.preset, "psf_model": p.psf_model, "sim_seed": p.sim_seed,
                "svd_residue": p.svd_residue, "imaging": p.config.imaging, "bubbles_per_frame": p.config.bubbles.per_frame,
                "z0_mm": p.config.grid.z0_mm,
            })).collect::<Vec<_>>(),
        }),
    )?;
    if !ctx.quiet {
        for b in &blocks {
            eprintln!("{}: samples {:?}, {} boxes", b.name, b.range, b.boxes);
        }
        eprintln!("wrote {}", args.out.display());
    }
    Ok(())
}
