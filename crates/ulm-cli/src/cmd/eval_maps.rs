//! Map evaluation options of `ulm eval`: Dice between two maps, MTF along a line, FRC
//! of two halves of a localization set. Results go to stdout as JSON (and to
//! `--maps-json`); curves to CSV + PNG plots.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use ndarray::{Array2, Array3};
use ulm_eval::dice::{Binarize, dice_maps};
use ulm_eval::frc::{Split, THRESHOLD_1_7, frc, split_halves};
use ulm_eval::mtf::{MtfConfig, MtfNorm, line_profile, mtf};
use ulm_render::MapGrid;

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
    /// How both maps are binarized for Dice: `positive` (value > 0), `above:T` (value >
    /// T) or `frac:F` (value > F × the map's maximum).
    #[arg(long, default_value = "positive", value_name = "RULE")]
    dice_rule: String,
    /// MTF along the line from (x0, z0) to (x1, z1) in mm, on --map.
    #[arg(long, value_name = "X0,Z0,X1,Z1", value_delimiter = ',', allow_negative_numbers = true)]
    mtf_line: Option<Vec<f64>>,
    /// σ of the Gaussian smoothing of the MTF profile, in samples (map pixels).
    #[arg(long, default_value_t = 1.0)]
    mtf_sigma: f64,
    /// MTF normalisation: `dc` (DC of the windowed profile, the paper's) or `max`.
    #[arg(long, default_value = "dc", value_parser = ["dc", "max"])]
    mtf_norm: String,
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
    /// FRC split: `frames` (alternating blocks of --frc-block frames) or `random` (per
    /// localization; same caveat as short blocks).
    #[arg(long, default_value = "frames", value_parser = ["frames", "random"])]
    frc_split: String,
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

fn parse_rule(s: &str) -> anyhow::Result<Binarize> {
    let num = |v: &str| v.parse::<f32>().with_context(|| format!("--dice-rule: `{v}` is not a number"));
    match s.split_once(':') {
        None if s == "positive" => Ok(Binarize::Positive),
        Some(("above", v)) => Ok(Binarize::Above(num(v)?)),
        Some(("frac", v)) => Ok(Binarize::FractionOfMax(num(v)?)),
        _ => anyhow::bail!("--dice-rule must be `positive`, `above:T` or `frac:F`, got `{s}`"),
    }
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

/// A minimal line plot: `[h, w, 3]`, black background, grey axes, the curve in orange,
/// an optional horizontal reference line in blue.
fn plot(x: &[f64], y: &[f64], y_max: f64, reference: Option<f64>) -> Array3<u8> {
    let (w, h, m) = (480usize, 320usize, 20usize);
    let mut img = Array3::<u8>::zeros((h, w, 3));
    let x_max = x.iter().copied().fold(0.0, f64::max).max(1e-12);
    let to_px = |xv: f64, yv: f64| {
        let c = m as f64 + xv / x_max * (w - 2 * m) as f64;
        let r = (h - m) as f64 - (yv / y_max).clamp(0.0, 1.0) * (h - 2 * m) as f64;
        (c, r)
    };
    let mut dot = |c: f64, r: f64, rgb: [u8; 3]| {
        let (c, r) = (c.round() as i64, r.round() as i64);
        for (dr, dc) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
            let (rr, cc) = (r + dr, c + dc);
            if rr >= 0 && cc >= 0 && (rr as usize) < h && (cc as usize) < w {
                for k in 0..3 {
                    img[[rr as usize, cc as usize, k]] = rgb[k];
                }
            }
        }
    };
    for c in m..w - m {
        dot(c as f64, (h - m) as f64, [128, 128, 128]);
    }
    for r in m..h - m {
        dot(m as f64, r as f64, [128, 128, 128]);
    }
    if let Some(t) = reference {
        for c in m..w - m {
            let (_, r) = to_px(0.0, t);
            dot(c as f64, r, [60, 120, 255]);
        }
    }
    for i in 1..x.len() {
        if !(y[i].is_finite() && y[i - 1].is_finite()) {
            continue;
        }
        let (c0, r0) = to_px(x[i - 1], y[i - 1]);
        let (c1, r1) = to_px(x[i], y[i]);
        let n = ((c1 - c0).hypot(r1 - r0).ceil() as usize).max(1);
        for s in 0..=n {
            let t = s as f64 / n as f64;
            dot(c0 + (c1 - c0) * t, r0 + (r1 - r0) * t, [255, 150, 40]);
        }
    }
    img
}

fn write_curve(
    dir: &Path,
    name: &str,
    header: &str,
    x: &[f64],
    y: &[f64],
    reference: Option<f64>,
) -> anyhow::Result<()> {
    let mut text = format!("{header}\n");
    for (a, b) in x.iter().zip(y) {
        text.push_str(&format!("{a},{b}\n"));
    }
    ulm_io::atomic_write_bytes(&dir.join(format!("{name}.csv")), text.as_bytes())?;
    let y_max = y.iter().copied().filter(|v| v.is_finite()).fold(0.0, f64::max).max(reference.unwrap_or(0.0)) * 1.05;
    ulm_io::write_png_rgb8(&dir.join(format!("{name}.png")), &plot(x, y, y_max.max(1e-12), reference))?;
    Ok(())
}

/// Runs the map evaluation.
pub fn run(a: MapArgs, ctx: &super::Context) -> anyhow::Result<()> {
    let rule = parse_rule(&a.dice_rule)?;
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
        let norm = if a.mtf_norm == "max" { MtfNorm::Max } else { MtfNorm::Dc };
        let curve = mtf(&profile, step, &MtfConfig { smooth_sigma: a.mtf_sigma, norm }).context("MTF")?;
        std::fs::create_dir_all(&curves_dir)?;
        write_curve(&curves_dir, "mtf", "freq_per_mm,mtf", &curve.freq_per_mm, &curve.mtf, None)?;
        out.insert(
            "mtf".into(),
            serde_json::json!({ "line_mm": l, "samples": profile.len(), "sample_mm": step,
                "csv": curves_dir.join("mtf.csv"), "norm": a.mtf_norm, "smooth_sigma": a.mtf_sigma }),
        );
    }
    if let Some(lp) = &a.frc_locs {
        let meta_path = a.frc_meta.clone().unwrap_or_else(|| ulm_io::sidecar_path(lp));
        let meta = ulm_io::read_meta(&meta_path)
            .with_context(|| format!("reading {} (give it with --frc-meta)", meta_path.display()))?;
        let g = meta.geometry(&meta_path)?;
        let locs = ulm_io::read_localizations(lp)?;
        anyhow::ensure!(!locs.is_empty(), "{}: no localizations", lp.display());
        let split =
            if a.frc_split == "random" { Split::Random { seed: 0 } } else { Split::FrameBlocks { block: a.frc_block } };
        let (h1, h2) = split_halves(&locs, split).context("--frc-split")?;
        let pixel = a.frc_pixel_mm.unwrap_or(g.wavelength_mm / 10.0);
        // The field of view of the data (acquisition pixels), as `ulm render` without frames.
        let (x0, x1) = locs.x_mm.iter().fold((f64::MAX, f64::MIN), |b, &x| (b.0.min(x), b.1.max(x)));
        let (z0, z1) = locs.z_mm.iter().fold((f64::MAX, f64::MIN), |b, &z| (b.0.min(z), b.1.max(z)));
        let pad = 3.0 * a.frc_sigma_px * pixel;
        let grid = MapGrid::covering(x0 - pad, x1 + pad, z0 - pad, z1 + pad, pixel, &g)?;
        let m1 = ulm_render::gaussian_density(&h1, &grid, a.frc_sigma_px)?;
        let m2 = ulm_render::gaussian_density(&h2, &grid, a.frc_sigma_px)?;
        let curve = frc(&m1, &m2, pixel).context("FRC")?;
        std::fs::create_dir_all(&curves_dir)?;
        write_curve(&curves_dir, "frc", "freq_per_mm,frc", &curve.freq_per_mm, &curve.frc, Some(THRESHOLD_1_7))?;
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
        print!("{text}");
    }
    Ok(())
}
