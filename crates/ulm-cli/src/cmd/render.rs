//! `ulm render`: super-resolved maps as PNG (for looking) and `.npy` float32 (numbers).
//!
//! From localizations: `loc_density` (a fixed Gaussian per localization, the paper's
//! Fig. 2). From tracks: `track_density` (each track counted once per pixel, its Fig. 3),
//! `speed` (mean mm/s), `direction` (mean sign of the axial velocity, +1 down / −1 up).
//! From frames: `temporal_mean` (mean envelope, upsampled bilinearly). Each map is written
//! as `<prefix><name>.npy` (the numbers) and `<prefix><name>.png` (a figure: the map in
//! mm axes with a colour bar in its units, from `ulm-report`) in `--out-dir`, with
//! `<prefix>render.config.json` recording the grid, the options and each map's range.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use ndarray::Array2;
use ulm_core::Geometry;
use ulm_render::{Colormap, ImageStyle, MapGrid};
use ulm_report::MapFigure;

use super::Context;
use crate::output;
use crate::progress::Bar;

/// Options of `ulm render`.
#[derive(Debug, clap::Args)]
#[command(mut_arg("meta", |a| a.help(
    "The acquisition's meta.json [default: meta.json beside --frames, --locs or --tracks]",
)))]
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
    /// How to read --frames (dataset, axis order, NaN policy) and the geometry sidecar.
    #[command(flatten)]
    input: super::info::InputArgs,
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
    let meta_path = match (&a.input.meta, beside) {
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

/// What a map's figure shows: title, colour style and range, colour-bar label with unit.
struct Shown<'a> {
    title: &'a str,
    style: ImageStyle,
    range: (f32, f32),
    unit_label: &'a str,
}

/// Writes `<name>.npy` (the numbers) and `<name>.png` (the figure of `rgb` in mm axes
/// with its colour bar), and records the range.
fn write_map(
    dir: &Path,
    name: &str,
    map: &Array2<f32>,
    rgb: ndarray::Array3<u8>,
    grid: &MapGrid,
    shown: Shown<'_>,
    ranges: &mut serde_json::Map<String, serde_json::Value>,
) -> anyhow::Result<()> {
    ulm_io::write_npy(&dir.join(format!("{name}.npy")), map)?;
    let png = MapFigure::new(shown.title, rgb, grid)
        .colorbar(shown.style, shown.range, shown.unit_label)
        .render()
        .and_then(|f| f.to_png())
        .with_context(|| format!("drawing {name}.png"))?;
    ulm_io::atomic_write_bytes(&dir.join(format!("{name}.png")), &png)?;
    ranges.insert(name.to_string(), serde_json::json!({ "min": shown.range.0, "max": shown.range.1 }));
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
            let opts = a.input.read_options();
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
    } else if let Some((rows, cols)) = meta.grid_shape() {
        MapGrid::super_resolved(&base, rows, cols, pixel_mm)
    } else {
        MapGrid::bounding_data(locs.as_ref(), tracks.as_ref(), &base, pixel_mm)
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
        let rgb = ulm_render::render_rgb(&map, &density_style, None);
        let name = format!("{p}loc_density");
        let range = ulm_render::value_range(&map, &density_style);
        let shown =
            Shown { title: "localization density", style: density_style, range, unit_label: "localizations / pixel" };
        write_map(dir, &name, &map, rgb, &grid, shown, &mut ranges)?;
        written.push(name);
    }
    if let Some(t) = &tracks {
        let maps = ulm_render::track_maps(t, &grid, a.step_px).context("invalid option")?;
        let rgb = ulm_render::render_rgb(&maps.density, &density_style, None);
        let name = format!("{p}track_density");
        let range = ulm_render::value_range(&maps.density, &density_style);
        let shown = Shown { title: "track density", style: density_style, range, unit_label: "tracks / pixel" };
        write_map(dir, &name, &maps.density, rgb, &grid, shown, &mut ranges)?;
        written.push(name);
        let speed_style = ImageStyle { range: a.speed_max.map(|m| (0.0, m)), ..ImageStyle::speed() };
        let rgb = ulm_render::render_rgb(&maps.speed, &speed_style, Some(&maps.density));
        let name = format!("{p}speed");
        let range = ulm_render::value_range(&maps.speed, &speed_style);
        let shown = Shown { title: "mean speed", style: speed_style, range, unit_label: "speed (mm/s)" };
        write_map(dir, &name, &maps.speed, rgb, &grid, shown, &mut ranges)?;
        written.push(name);
        let rgb = ulm_render::render_direction_rgb(&maps.direction, &maps.density, &density_style);
        let name = format!("{p}direction");
        let shown = Shown {
            title: "axial direction (brightness: track density)",
            style: ImageStyle::direction(),
            range: (-1.0, 1.0),
            unit_label: "mean sign of vz (−1 up, +1 down)",
        };
        write_map(dir, &name, &maps.direction, rgb, &grid, shown, &mut ranges)?;
        written.push(name);
    }
    if let Some(src) = source.as_mut() {
        let bar = Bar::new(src.n_frames() as u64, "frames", ctx.quiet);
        let mean = ulm_render::temporal_mean(src.as_mut(), a.block, &bar).context("averaging frames")?;
        let up = ulm_render::resample_bilinear(&mean, src.geometry(), &grid);
        let style = ImageStyle { colormap: Colormap::Gray, gamma: 0.5, ..ImageStyle::density() };
        let rgb = ulm_render::render_rgb(&up, &style, None);
        let name = format!("{p}temporal_mean");
        let range = ulm_render::value_range(&up, &style);
        let shown =
            Shown { title: "temporal mean of the envelope", style, range, unit_label: "envelope (input units)" };
        write_map(dir, &name, &up, rgb, &grid, shown, &mut ranges)?;
        written.push(name);
    }
    anyhow::ensure!(!written.is_empty(), "nothing to render: give --locs, --tracks and/or --frames");

    let cfg = serde_json::json!({
        "locs": a.locs, "tracks": a.tracks, "frames": a.frames, "meta": meta_path,
        "grid": grid,
        "sigma_px": a.sigma_px, "step_px": a.step_px, "gamma": a.gamma,
        "maps": ranges,
    });
    output::write_run_config(&dir.join(format!("{p}render.config.json")), "render", cfg)?;
    ctx.summary(format_args!(
        "{} × {} map ({} mm pixels): wrote {} in {}",
        grid.rows,
        grid.cols,
        pixel_mm,
        written.join(", "),
        dir.display()
    ));
    Ok(())
}
