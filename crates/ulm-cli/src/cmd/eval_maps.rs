//! Map evaluation options of `ulm eval`: Dice between two maps, MTF along a line, FRC
//! of two halves of a localization set. Results go to stdout as JSON (and to
//! `--maps-json`); curves to CSV + PNG figures (`ulm-report` line plots).

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use ndarray::Array2;
use ulm_eval::dice::{Binarize, dice_maps};
use ulm_eval::frc::{Split, THRESHOLD_1_7, frc, split_halves};
use ulm_eval::mtf::{MtfConfig, MtfNorm, line_profile, mtf};
use ulm_render::MapGrid;
use ulm_report::LinePlot;

use crate::output;

/// How maps are binarized for Dice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum DiceRuleArg {
    /// value > 0.
    #[default]
    Positive,
    /// value > --dice-level.
    Above,
    /// value > --dice-level × the map's maximum.
    Frac,
}

/// MTF normalisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum MtfNormArg {
    /// DC of the windowed profile (the paper's).
    #[default]
    Dc,
    /// The curve's maximum.
    Max,
}

/// How localizations are split in two halves for FRC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum FrcSplitArg {
    /// Alternating blocks of --frc-block frames.
    #[default]
    Frames,
    /// Per localization, seeded (same caveat as short blocks).
    Random,
}

/// Map names `ulm render` writes (to find `<prefix>render.config.json` beside a map).
const MAP_NAMES: [&str; 5] = ["loc_density", "track_density", "speed", "direction", "temporal_mean"];

/// Map-evaluation options, flattened into `ulm eval`'s options.
#[derive(Debug, Default, clap::Args)]
pub struct MapArgs {
    /// A rendered map (`.npy` from `ulm render`) to evaluate (Dice with --gt-map, MTF).
    #[arg(long, value_name = "NPY")]
    map: Option<PathBuf>,
    /// The ground-truth map (`.npy`, same grid) for Dice.
    #[arg(long, value_name = "NPY")]
    gt_map: Option<PathBuf>,
    /// How both maps are binarized for Dice.
    #[arg(long, value_enum, default_value_t = DiceRuleArg::Positive, value_name = "RULE")]
    dice_rule: DiceRuleArg,
    /// The threshold of `--dice-rule above` (map units) or the fraction of the maximum of
    /// `--dice-rule frac` (in [0, 1)).
    #[arg(long, value_name = "LEVEL", required_if_eq_any = [("dice_rule", "above"), ("dice_rule", "frac")])]
    dice_level: Option<f32>,
    /// MTF along the line from (x0, z0) to (x1, z1) in mm, on --map.
    #[arg(long, value_name = "X0,Z0,X1,Z1", value_delimiter = ',', allow_negative_numbers = true)]
    mtf_line: Option<Vec<f64>>,
    /// σ of the Gaussian smoothing of the MTF profile, in samples (map pixels).
    #[arg(long, default_value_t = 1.0)]
    mtf_sigma: f64,
    /// MTF normalisation.
    #[arg(long, value_enum, default_value_t = MtfNormArg::Dc)]
    mtf_norm: MtfNormArg,
    /// The map's grid: a `render.config.json` [default: `<prefix>render.config.json`
    /// beside --map].
    #[arg(long, value_name = "JSON")]
    map_grid: Option<PathBuf>,
    /// FRC: localization CSV to split in two halves, render and correlate.
    #[arg(long, value_name = "CSV")]
    frc_locs: Option<PathBuf>,
    /// meta.json for --frc-locs [default: beside it].
    #[arg(long, value_name = "JSON")]
    frc_meta: Option<PathBuf>,
    /// FRC split into two halves.
    #[arg(long, value_enum, default_value_t = FrcSplitArg::Frames)]
    frc_split: FrcSplitArg,
    /// Frames per block for `--frc-split frames`. Blocks should outlast a bubble's
    /// transit: with short blocks (e.g. even/odd frames) both halves hold nearly the same
    /// positions of the same bubbles and the FRC stays near 1 up to Nyquist.
    #[arg(long, default_value_t = 100)]
    frc_block: u32,
    /// FRC map pixel in mm [default: wavelength / 10].
    #[arg(long, value_name = "MM")]
    frc_pixel_mm: Option<f64>,
    /// σ of the per-localization Gaussian of the FRC maps, in pixels.
    #[arg(long, default_value_t = 1.0)]
    frc_sigma_px: f64,
    /// Folder for curve files (`mtf.csv/png`, `frc.csv/png`) [default: current folder].
    #[arg(long, value_name = "DIR")]
    curves_dir: Option<PathBuf>,
    /// Also write the results as JSON to this file.
    #[arg(long, value_name = "JSON")]
    maps_json: Option<PathBuf>,
}

impl MapArgs {
    /// Whether any map evaluation was asked for.
    pub fn requested(&self) -> bool {
        self.map.is_some() || self.gt_map.is_some() || self.mtf_line.is_some() || self.frc_locs.is_some()
    }
}

/// The library's binarization rule from `--dice-rule` and `--dice-level`.
fn dice_rule(a: &MapArgs) -> anyhow::Result<Binarize> {
    let level = || a.dice_level.context("--dice-rule above/frac needs --dice-level");
    Ok(match a.dice_rule {
        DiceRuleArg::Positive => Binarize::Positive,
        DiceRuleArg::Above => Binarize::Above(level()?),
        DiceRuleArg::Frac => Binarize::FractionOfMax(level()?),
    })
}

fn read_map(p: &Path) -> anyhow::Result<Array2<f32>> {
    let a = ulm_io::read_npy_f32(p)?;
    let shape = a.shape().to_vec();
    a.into_dimensionality::<ndarray::Ix2>()
        .map_err(|_| anyhow::anyhow!("{}: expected a 2-D map, got shape {shape:?}", p.display()))
}

fn map_grid(a: &MapArgs, map: &Path) -> anyhow::Result<MapGrid> {
    let path = match &a.map_grid {
        Some(p) => p.clone(),
        None => {
            let stem = map.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            let prefix = MAP_NAMES.iter().find_map(|n| stem.strip_suffix(n)).unwrap_or("");
            map.with_file_name(format!("{prefix}render.config.json"))
        }
    };
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("reading the map grid from {} (give it with --map-grid)", path.display()))?;
    let v: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{}: invalid JSON", path.display()))?;
    serde_json::from_value(v.get("grid").cloned().unwrap_or_default())
        .with_context(|| format!("{}: no valid `grid` entry", path.display()))
}

/// A curve as `<name>.csv` (header `x_name,y_name`) and `<name>.png` (a line plot with
/// labelled axes and an optional horizontal threshold line).
struct Curve<'a> {
    name: &'a str,
    title: &'a str,
    x: (&'a str, &'a str, &'a [f64]),
    y: (&'a str, &'a str, &'a [f64]),
    reference: Option<(f64, &'a str)>,
}

fn write_curve(dir: &Path, c: &Curve<'_>) -> anyhow::Result<()> {
    let mut text = format!("{},{}\n", c.x.0, c.y.0);
    for (a, b) in c.x.2.iter().zip(c.y.2) {
        text.push_str(&format!("{a},{b}\n"));
    }
    ulm_io::atomic_write_bytes(&dir.join(format!("{}.csv", c.name)), text.as_bytes())?;
    let mut plot = LinePlot::new(c.title, c.x.1, c.y.1).series(c.name, c.x.2, c.y.2);
    if let Some((v, label)) = c.reference {
        plot = plot.reference_line(v, label);
    }
    let png = plot.render().and_then(|f| f.to_png()).with_context(|| format!("drawing {}.png", c.name))?;
    ulm_io::atomic_write_bytes(&dir.join(format!("{}.png", c.name)), &png)?;
    Ok(())
}

/// Runs the map evaluation.
pub fn run(a: MapArgs, ctx: &super::Context) -> anyhow::Result<()> {
    let rule = dice_rule(&a)?;
    let curves_dir = a.curves_dir.clone().unwrap_or_else(|| PathBuf::from("."));
    let mut out = serde_json::Map::new();
    let map = a.map.as_ref().map(|p| read_map(p)).transpose()?;

    if let Some(gt_path) = &a.gt_map {
        let (Some(pred), Some(pred_path)) = (&map, &a.map) else { anyhow::bail!("--gt-map needs --map") };
        let gt = read_map(gt_path)?;
        let d = dice_maps(pred, &gt, rule)
            .with_context(|| format!("Dice of {} against {}", pred_path.display(), gt_path.display()))?;
        out.insert("dice".into(), serde_json::json!({ "rule": rule, "score": d }));
    }
    if let Some(l) = &a.mtf_line {
        anyhow::ensure!(l.len() == 4, "--mtf-line needs 4 numbers x0,z0,x1,z1 (mm), got {}", l.len());
        let (Some(m), Some(map_path)) = (&map, &a.map) else { anyhow::bail!("--mtf-line needs --map") };
        let grid = map_grid(&a, map_path)?;
        let step = grid.geometry.pixel_size_x_mm.min(grid.geometry.pixel_size_z_mm);
        let profile = line_profile(m, &grid.geometry, (l[0], l[1]), (l[2], l[3]), step).context("--mtf-line")?;
        let norm = match a.mtf_norm {
            MtfNormArg::Dc => MtfNorm::Dc,
            MtfNormArg::Max => MtfNorm::Max,
        };
        let curve = mtf(&profile, step, &MtfConfig { smooth_sigma: a.mtf_sigma, norm }).context("MTF")?;
        std::fs::create_dir_all(&curves_dir)?;
        let curve_spec = Curve {
            name: "mtf",
            title: "modulation transfer function",
            x: ("freq_per_mm", "spatial frequency (1/mm)", &curve.freq_per_mm),
            y: ("mtf", "MTF", &curve.mtf),
            reference: None,
        };
        write_curve(&curves_dir, &curve_spec)?;
        out.insert(
            "mtf".into(),
            serde_json::json!({ "line_mm": l, "samples": profile.len(), "sample_mm": step,
                "csv": curves_dir.join("mtf.csv"), "norm": output::choice_name(&a.mtf_norm),
                "smooth_sigma": a.mtf_sigma }),
        );
    }
    if let Some(lp) = &a.frc_locs {
        let meta_path = a.frc_meta.clone().unwrap_or_else(|| ulm_io::sidecar_path(lp));
        let meta = ulm_io::read_meta(&meta_path)
            .with_context(|| format!("reading {} (give it with --frc-meta)", meta_path.display()))?;
        let g = meta.geometry(&meta_path)?;
        let locs = ulm_io::read_localizations(lp)?;
        anyhow::ensure!(!locs.is_empty(), "{}: no localizations", lp.display());
        let split = match a.frc_split {
            FrcSplitArg::Random => Split::Random { seed: 0 },
            FrcSplitArg::Frames => Split::FrameBlocks { block: a.frc_block },
        };
        let (h1, h2) = split_halves(&locs, split).context("--frc-split")?;
        let pixel = a.frc_pixel_mm.unwrap_or(g.wavelength_mm / 10.0);
        // The field of view of the data in whole acquisition pixels, as `ulm render` without
        // frames, grown by 3 σ so that no Gaussian is cut at the edge.
        let pad = 3.0 * a.frc_sigma_px * pixel;
        let points = locs.x_mm.iter().zip(&locs.z_mm).map(|(&x, &z)| (x, z));
        let grid = MapGrid::bounding(points, &g, pixel, pad).context("FRC map grid")?;
        let m1 = ulm_render::gaussian_density(&h1, &grid, a.frc_sigma_px)?;
        let m2 = ulm_render::gaussian_density(&h2, &grid, a.frc_sigma_px)?;
        let curve = frc(&m1, &m2, pixel).context("FRC")?;
        std::fs::create_dir_all(&curves_dir)?;
        let curve_spec = Curve {
            name: "frc",
            title: "Fourier ring correlation",
            x: ("freq_per_mm", "spatial frequency (1/mm)", &curve.freq_per_mm),
            y: ("frc", "FRC", &curve.frc),
            reference: Some((THRESHOLD_1_7, "1/7 threshold")),
        };
        write_curve(&curves_dir, &curve_spec)?;
        out.insert(
            "frc".into(),
            serde_json::json!({ "resolution_mm": curve.resolution_mm,
                "resolution_wavelengths": curve.resolution_mm.map(|r| r / g.wavelength_mm),
                "halves": [h1.len(), h2.len()], "split": split, "pixel_mm": pixel,
                "grid": [grid.rows, grid.cols], "csv": curves_dir.join("frc.csv") }),
        );
    }
    anyhow::ensure!(!out.is_empty(), "map evaluation needs --gt-map, --mtf-line or --frc-locs (with --map as needed)");
    let text = serde_json::to_string_pretty(&serde_json::Value::Object(out))? + "\n";
    if let Some(p) = &a.maps_json {
        ulm_io::atomic_write_bytes(p, text.as_bytes())?;
    }
    if !ctx.quiet || a.maps_json.is_none() {
        output::print(&text)?;
    }
    Ok(())
}
