//! `ulm render`: super-resolved maps as PNG (for looking) and `.npy` float32 (numbers).
//!
//! From localizations: `loc_density` (a fixed Gaussian per localization, the paper's
//! Fig. 2). From tracks: `track_density` (each track counted once per pixel, its Fig. 3),
//! `speed` (mean mm/s), `direction` (mean sign of the axial velocity, +1 down / −1 up).
//! From frames: `temporal_mean` (mean envelope, upsampled bilinearly). Each map is written
//! as `<prefix><name>.png` and `<prefix><name>.npy` in `--out-dir`, with
//! `<prefix>render.config.json` recording the grid, the options and each map's range.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use ndarray::Array2;
use ulm_core::Geometry;
use ulm_render::{Colormap, ImageStyle, MapGrid};

use super::Context;
use crate::progress::Bar;

/// Options of `ulm render`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Localization CSV: renders `loc_density`.
    #[arg(long)]
    locs: Option<PathBuf>,
    /// Tracks CSV (from `ulm track`): renders `track_density`, `speed`, `direction`.
    #[arg(long)]
    tracks: Option<PathBuf>,
    /// Frame file: renders `temporal_mean`, and fixes the field of view to its extent.
    #[arg(long)]
    frames: Option<PathBuf>,
    /// The acquisition's meta.json [default: meta.json beside --frames, --locs or --tracks].
    #[arg(long)]
    meta: Option<PathBuf>,
    /// Output folder (created if needed).
    #[arg(short, long)]
    out_dir: PathBuf,
    /// Prefix of the output file names (e.g. `gt_`).
    #[arg(long, default_value = "")]
    prefix: String,
    /// Map pixel size in mm [default: wavelength / 10].
    #[arg(long, value_name = "MM")]
    pixel_mm: Option<f64>,
    /// Field of view `x_min,x_max,z_min,z_max` in mm [default: the frames' extent, else
    /// `rows`/`cols` from meta.json, else the data's bounding box].
    #[arg(long, value_name = "X0,X1,Z0,Z1", value_delimiter = ',', allow_negative_numbers = true)]
    fov_mm: Option<Vec<f64>>,
    /// σ of the Gaussian per localization, in map pixels.
    #[arg(long, default_value_t = 1.0)]
    sigma_px: f64,
    /// Track interpolation step, in map pixels (≤ 0.5 skips no pixel).
    #[arg(long, default_value_t = 0.5)]
    step_px: f64,
    /// Power-law compression of density images (shown value ∝ density^gamma).
    #[arg(long, default_value_t = 1.0 / 3.0)]
    gamma: f32,
    /// Upper end of the speed colour scale in mm/s [default: the map's maximum].
    #[arg(long, value_name = "MM_S")]
    speed_max: Option<f32>,
    /// Frames per block when averaging frames.
    #[arg(long, default_value_t = 256)]
    block: usize,
}

fn geometry_and_meta(a: &Args) -> anyhow::Result<(Geometry, PathBuf, ulm_io::Meta)> {
    let beside = a.frames.as_ref().or(a.locs.as_ref()).or(a.tracks.as_ref());
    let meta_path = match (&a.meta, beside) {
        (Some(m), _) => m.clone(),
        (None, Some(p)) if p.is_dir() => p.join("meta.json"),
        (None, Some(p)) => ulm_io::sidecar_path(p),
        (None, None) => anyhow::bail!("nothing to render: give --locs, --tracks and/or --frames"),
    };
    let meta = ulm_io::read_meta(&meta_path)
        .with_context(|| format!("reading {} (give the geometry with --meta)", meta_path.display()))?;
    let g = meta.geometry(&meta_path)?;
    Ok((g, meta_path, meta))
}

/// `rows`/`cols` from meta.json (top level, or `simulation.config.grid` as `ulm simulate` writes).
fn meta_shape(meta: &ulm_io::Meta) -> Option<(usize, usize)> {
    let get = |v: Option<&serde_json::Value>| v.and_then(|v| v.as_u64()).map(|n| n as usize);
    let top = (get(meta.extra.get("rows")), get(meta.extra.get("cols")));
    if let (Some(r), Some(c)) = top {
        return Some((r, c));
    }
    let grid = meta.extra.get("simulation")?.get("config")?.get("grid")?;
    Some((get(grid.get("rows"))?, get(grid.get("cols"))?))
}

fn write_map(
    dir: &Path,
    name: &str,
    map: &Array2<f32>,
    rgb: &ndarray::Array3<u8>,
    ranges: &mut serde_json::Map<String, serde_json::Value>,
    range: (f32, f32),
) -> anyhow::Result<()> {
    ulm_io::write_npy(&dir.join(format!("{name}.npy")), map)?;
    ulm_io::write_png_rgb8(&dir.join(format!("{name}.png")), rgb)?;
    ranges.insert(name.to_string(), serde_json::json!({ "min": range.0, "max": range.1 }));
    Ok(())
}

/// Runs `ulm render`.
pub fn run(a: Args, ctx: &Context) -> anyhow::Result<()> {
    let (base, meta_path, meta) = geometry_and_meta(&a)?;
    let pixel_mm = a.pixel_mm.unwrap_or(base.wavelength_mm / 10.0);
    let locs = a.locs.as_ref().map(|p| ulm_io::read_localizations(p)).transpose()?;
    let tracks = a.tracks.as_ref().map(|p| ulm_io::read_tracks(p)).transpose()?;
    let mut source = match &a.frames {
        Some(p) => {
            let opts = ulm_io::ReadOptions { meta: a.meta.clone(), ..Default::default() };
            Some(ulm_io::open_frames(p, &opts).with_context(|| format!("opening {}", p.display()))?)
        }
        None => None,
    };
    if let Some(f) = &a.fov_mm {
        anyhow::ensure!(f.len() == 4, "--fov-mm needs 4 numbers x_min,x_max,z_min,z_max (mm), got {}", f.len());
    }
    let grid = if let Some(f) = &a.fov_mm {
        MapGrid::covering(f[0], f[1], f[2], f[3], pixel_mm, &base)
    } else if let Some(src) = &source {
        let [_, rows, cols] = src.shape();
        MapGrid::super_resolved(&base, rows, cols, pixel_mm)
    } else if let Some((rows, cols)) = meta_shape(&meta) {
        MapGrid::super_resolved(&base, rows, cols, pixel_mm)
    } else {
        // Bounding box of the data, widened to whole acquisition pixels.
        let mut pts: Vec<(f64, f64)> = Vec::new();
        if let Some(l) = &locs {
            pts.extend(l.x_mm.iter().zip(&l.z_mm).map(|(&x, &z)| (x, z)));
        }
        if let Some(t) = &tracks {
            pts.extend(t.tracks.iter().flat_map(|t| t.points.iter().map(|p| (p.x_mm, p.z_mm))));
        }
        anyhow::ensure!(!pts.is_empty(), "no localizations or track points to render and no field of view given");
        let (cmin, cmax, rmin, rmax) = pts.iter().fold((f64::MAX, f64::MIN, f64::MAX, f64::MIN), |b, &(x, z)| {
            let (c, r) = base.mm_to_px(x, z);
            (b.0.min(c), b.1.max(c), b.2.min(r), b.3.max(r))
        });
        let (c0, r0) = (cmin.round(), rmin.round());
        let g = Geometry::new(
            base.pixel_size_x_mm,
            base.pixel_size_z_mm,
            base.col_to_x_mm(c0),
            base.row_to_z_mm(r0),
            base.wavelength_mm,
            base.frame_rate_hz,
        )?;
        MapGrid::super_resolved(&g, (rmax.round() - r0) as usize + 1, (cmax.round() - c0) as usize + 1, pixel_mm)
    }
    .context("invalid map grid")?;

    std::fs::create_dir_all(&a.out_dir).with_context(|| format!("creating {}", a.out_dir.display()))?;
    let dir = &a.out_dir;
    let p = &a.prefix;
    let mut ranges = serde_json::Map::new();
    let density_style = ImageStyle { gamma: a.gamma, ..ImageStyle::density() };
    let mut written = Vec::new();

    if let Some(l) = &locs {
        let map = ulm_render::gaussian_density(l, &grid, a.sigma_px).context("invalid option")?;
        let rgb = ulm_render::render_rgb(&map, &grid, &density_style, None);
        let name = format!("{p}loc_density");
        write_map(dir, &name, &map, &rgb, &mut ranges, ulm_render::value_range(&map, &density_style))?;
        written.push(name);
    }
    if let Some(t) = &tracks {
        let maps = ulm_render::track_maps(t, &grid, a.step_px).context("invalid option")?;
        let rgb = ulm_render::render_rgb(&maps.density, &grid, &density_style, None);
        let name = format!("{p}track_density");
        write_map(
            dir,
            &name,
            &maps.density,
            &rgb,
            &mut ranges,
            ulm_render::value_range(&maps.density, &density_style),
        )?;
        written.push(name);
        let speed_style = ImageStyle { range: a.speed_max.map(|m| (0.0, m)), ..ImageStyle::speed() };
        let rgb = ulm_render::render_rgb(&maps.speed, &grid, &speed_style, Some(&maps.density));
        let name = format!("{p}speed");
        write_map(dir, &name, &maps.speed, &rgb, &mut ranges, ulm_render::value_range(&maps.speed, &speed_style))?;
        written.push(name);
        let rgb = ulm_render::render_direction_rgb(&maps.direction, &maps.density, &grid, &density_style);
        let name = format!("{p}direction");
        write_map(dir, &name, &maps.direction, &rgb, &mut ranges, (-1.0, 1.0))?;
        written.push(name);
    }
    if let Some(src) = source.as_mut() {
        let bar = Bar::new(src.n_frames() as u64, "frames", ctx.quiet);
        let mean = ulm_render::temporal_mean(src.as_mut(), a.block, &bar).context("averaging frames")?;
        let up = ulm_render::resample_bilinear(&mean, src.geometry(), &grid);
        let style = ImageStyle { colormap: Colormap::Gray, gamma: 0.5, ..ImageStyle::density() };
        let rgb = ulm_render::render_rgb(&up, &grid, &style, None);
        let name = format!("{p}temporal_mean");
        write_map(dir, &name, &up, &rgb, &mut ranges, ulm_render::value_range(&up, &style))?;
        written.push(name);
    }
    anyhow::ensure!(!written.is_empty(), "nothing to render: give --locs, --tracks and/or --frames");

    let cfg = serde_json::json!({
        "command": "render",
        "version": env!("CARGO_PKG_VERSION"),
        "locs": a.locs, "tracks": a.tracks, "frames": a.frames, "meta": meta_path,
        "grid": grid,
        "sigma_px": a.sigma_px, "step_px": a.step_px, "gamma": a.gamma,
        "maps": ranges,
    });
    let cfg_path = dir.join(format!("{p}render.config.json"));
    ulm_io::atomic_write_bytes(&cfg_path, (serde_json::to_string_pretty(&cfg)? + "\n").as_bytes())?;
    if !ctx.quiet {
        eprintln!(
            "{} × {} map ({} mm pixels): wrote {} in {}",
            grid.rows,
            grid.cols,
            pixel_mm,
            written.join(", "),
            dir.display()
        );
    }
    Ok(())
}
