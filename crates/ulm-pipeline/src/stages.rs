//! The stages, one function each: filter, localize, track, render, evaluate. Each takes
//! what it needs, writes its files atomically and returns what the report shows.

use std::path::{Path, PathBuf};

use ndarray::{Array2, Array3};
use ulm_clutter::{BandPassConfig, BlockReport, Cutoff, SvdConfig};
use ulm_core::{Complex32, FrameData, FrameSource, FrameStack, Geometry, Localizations, Localizer, Progress, Tracks};
use ulm_eval::dice::{Binarize, DiceScore, dice_maps};
use ulm_eval::frc::{FrcCurve, Split, THRESHOLD_1_7, frc, split_halves};
use ulm_eval::metrics::{EvalConfig as MetricsConfig, Report, evaluate};
use ulm_eval::mtf::{MtfConfig, MtfCurve, MtfNorm, line_profile, mtf};
use ulm_io::NpyStreamWriter;
use ulm_render::{ImageStyle, MapGrid};
use ulm_report::{LinePlot, MapFigure};
use ulm_track::LinkConfig;

use crate::PipelineError;
use crate::config::{EvalConfig, FilterConfig, RenderConfig, TrackConfig};

/// The first `n` frames of a source, as a source.
pub(crate) struct Prefix<'a> {
    pub inner: &'a mut dyn FrameSource,
    pub n: usize,
}

impl FrameSource for Prefix<'_> {
    fn shape(&self) -> [usize; 3] {
        let [n, r, c] = self.inner.shape();
        [n.min(self.n), r, c]
    }
    fn geometry(&self) -> &Geometry {
        self.inner.geometry()
    }
    fn is_complex(&self) -> bool {
        self.inner.is_complex()
    }
    fn read_block(&mut self, start: usize, len: usize) -> ulm_core::Result<FrameStack> {
        let end = (start + len).min(self.shape()[0]);
        self.inner.read_block(start, end.saturating_sub(start))
    }
}

/// What the filter stage did.
pub(crate) struct Filtered {
    /// The filtered frames (`.npy`).
    pub path: PathBuf,
    /// One report per SVD block (empty without SVD).
    pub reports: Vec<BlockReport>,
}

/// The filtered stack's writer: complex64 for IQ input, float32 (the real part) for
/// real input, as `ulm filter` writes it.
enum Writer {
    Complex(NpyStreamWriter<Complex32>),
    Real(NpyStreamWriter<f32>),
}

impl Writer {
    fn write(&mut self, block: &Array3<Complex32>) -> ulm_io::Result<()> {
        match self {
            Writer::Complex(w) => match block.as_slice() {
                Some(s) => w.write(s),
                None => w.write(&block.iter().copied().collect::<Vec<_>>()),
            },
            Writer::Real(w) => w.write(&block.iter().map(|c| c.re).collect::<Vec<_>>()),
        }
    }
    fn finish(self) -> ulm_io::Result<()> {
        match self {
            Writer::Complex(w) => w.finish(),
            Writer::Real(w) => w.finish(),
        }
    }
}

/// SVD filter (own SVD per block) and/or band-pass (within each block) of `src` into
/// `dir/iq.npy`, one block at a time, with `dir/meta.json` (the geometry) and
/// `dir/filter.json` (settings and the components kept in each block).
pub(crate) fn filter(
    src: &mut dyn FrameSource,
    cfg: &FilterConfig,
    dir: &Path,
    progress: &dyn Progress,
) -> Result<Filtered, PipelineError> {
    let stage = |what: &str| format!("filter: {what}");
    std::fs::create_dir_all(dir).map_err(|e| PipelineError::stage(stage(&dir.display().to_string()), e))?;
    let path = dir.join("iq.npy");
    let [nf, rows, cols] = src.shape();
    let geometry = *src.geometry();
    let bp = cfg.bandpass().then_some(BandPassConfig {
        low_hz: cfg.bandpass_low_hz,
        high_hz: cfg.bandpass_high_hz,
        order: cfg.bandpass_order,
    });
    if let Some(bp) = &bp {
        ulm_clutter::bandpass::design(bp, geometry.frame_rate_hz)
            .map_err(|e| PipelineError::stage(stage(&format!("band-pass at {} Hz", geometry.frame_rate_hz)), e))?;
    }
    let write_err = |e: ulm_io::Error| PipelineError::stage(stage("writing"), e);
    let mut writer = if src.is_complex() {
        Writer::Complex(NpyStreamWriter::create(&path, &[nf, rows, cols]).map_err(write_err)?)
    } else {
        Writer::Real(NpyStreamWriter::create(&path, &[nf, rows, cols]).map_err(write_err)?)
    };
    let bandpass = |data: &mut Array3<Complex32>| -> Result<(), PipelineError> {
        if let Some(bp) = &bp {
            ulm_clutter::bandpass(data, bp, geometry.frame_rate_hz)
                .map_err(|e| PipelineError::stage(stage("band-pass"), e))?;
        }
        Ok(())
    };
    progress.set_total(nf as u64);
    let mut reports = Vec::new();
    if cfg.svd {
        let svd = SvdConfig {
            cutoff: match cfg.svd_low {
                Some(low) => Cutoff::Fixed { low, high: cfg.svd_high },
                None => Cutoff::Auto { high: cfg.svd_high },
            },
            block_frames: cfg.block_frames,
        };
        let blocks = ulm_clutter::svd_filter_blocks(src, &svd).map_err(|e| PipelineError::stage(stage("SVD"), e))?;
        let n = blocks.n_blocks();
        for (i, block) in blocks.enumerate() {
            progress.set_message(&format!("filter: SVD block {}/{n}", i + 1));
            let mut block = block.map_err(|e| PipelineError::stage(stage("SVD"), e))?;
            bandpass(&mut block.data)?;
            writer.write(&block.data).map_err(write_err)?;
            progress.inc(block.frames.len() as u64);
            reports.push(block.report);
        }
    } else {
        for r in ulm_clutter::block_ranges(nf, cfg.block_frames) {
            let stack = src
                .read_block(r.start, r.len())
                .map_err(|e| PipelineError::stage(stage(&format!("reading frames {}..", r.start)), e))?;
            let mut data = match stack.into_data() {
                FrameData::Complex(a) => a,
                FrameData::Real(a) => a.mapv(|v| Complex32::new(v, 0.0)),
            };
            bandpass(&mut data)?;
            writer.write(&data).map_err(write_err)?;
            progress.inc(r.len() as u64);
        }
    }
    writer.finish().map_err(write_err)?;
    progress.finish();
    let mut meta = ulm_io::Meta::from_geometry(&geometry);
    (meta.n_frames, meta.rows, meta.cols) = (Some(nf), Some(rows), Some(cols));
    ulm_io::write_meta(&dir.join("meta.json"), &meta).map_err(write_err)?;
    let blocks: Vec<serde_json::Value> = reports
        .iter()
        .map(|r| {
            serde_json::json!({ "start_frame": r.start_frame, "n_frames": r.n_frames,
                "kept_low": r.low, "kept_high": r.high })
        })
        .collect();
    let record = serde_json::json!({ "output": path, "filter": cfg, "blocks": blocks });
    write_json(&dir.join("filter.json"), &record).map_err(|e| PipelineError::stage(stage("writing"), e))?;
    Ok(Filtered { path, reports })
}

/// Localizes the first `n_frames` of `src` with `loc`, `block` frames at a time.
/// Detectors (`with_boxes`) always get their box columns.
pub(crate) fn localize(
    src: &mut dyn FrameSource,
    loc: &dyn Localizer,
    block: usize,
    n_frames: usize,
    with_boxes: bool,
    progress: &dyn Progress,
) -> Result<Localizations, ulm_localize::LocalizeError> {
    let mut prefix = Prefix { inner: src, n: n_frames };
    let mut locs = ulm_localize::localize_source(&mut prefix, loc, block, progress)?;
    if with_boxes {
        let n = locs.len();
        locs.w_mm.get_or_insert_with(|| vec![f64::NAN; n]);
        locs.h_mm.get_or_insert_with(|| vec![f64::NAN; n]);
    }
    Ok(locs)
}

/// The linking settings (the same defaults as `ulm track`).
pub(crate) fn link_config(t: &TrackConfig, g: &Geometry) -> Result<LinkConfig, ulm_track::TrackError> {
    let cfg = LinkConfig {
        search_range_mm: t.search_range_mm.unwrap_or(g.wavelength_mm),
        memory: t.memory,
        min_length: t.min_length,
        max_speed_ratio: t.speed_rejection.then_some(t.max_speed_ratio),
        min_rejectable_step_mm: t.min_rejectable_step_mm.unwrap_or(g.wavelength_mm / 4.0),
        frame_rate_hz: g.frame_rate_hz,
        index: t.index.unwrap_or_default(),
    };
    cfg.validate()?;
    Ok(cfg)
}

/// The map grid: `render.fov_mm`, else the frames' field of view, at `render.pixel_mm`
/// (default λ/10).
pub(crate) fn map_grid(r: &RenderConfig, g: &Geometry, rows: usize, cols: usize) -> Result<MapGrid, PipelineError> {
    let pixel = r.pixel_mm.unwrap_or(g.wavelength_mm / 10.0);
    match r.fov_mm {
        Some([x0, x1, z0, z1]) => MapGrid::covering(x0, x1, z0, z1, pixel, g),
        None => MapGrid::super_resolved(g, rows, cols, pixel),
    }
    .map_err(|e| PipelineError::stage("render: map grid", e))
}

/// A written map: its numbers, and the PNG figure (for the report).
pub(crate) struct MapOut {
    pub name: String,
    pub map: Array2<f32>,
    pub png: Vec<u8>,
}

/// The maps of one method (or of the ground truth).
pub(crate) struct Maps {
    /// `loc_density`, then `track_density`, `speed`, `direction` when tracks were given.
    pub maps: Vec<MapOut>,
}

impl Maps {
    pub fn get(&self, name: &str) -> Option<&MapOut> {
        self.maps.iter().find(|m| m.name == name)
    }
}

/// Renders `loc_density` (and, from tracks, `track_density`, `speed`, `direction`) into
/// `dir` as `.npy` + `.png`, with `render.config.json` (the grid, so `ulm eval --map`
/// finds it), exactly as `ulm render` does.
pub(crate) fn render(
    locs: &Localizations,
    tracks: Option<&Tracks>,
    grid: &MapGrid,
    r: &RenderConfig,
    dir: &Path,
    what: &str,
) -> Result<Maps, PipelineError> {
    let stage = format!("render {what}");
    std::fs::create_dir_all(dir).map_err(|e| PipelineError::stage(format!("{stage}: {}", dir.display()), e))?;
    let density_style = ImageStyle { gamma: r.gamma as f32, ..ImageStyle::density() };
    let mut maps = Vec::new();
    let mut ranges = serde_json::Map::new();
    let mut put = |name: &str, map: Array2<f32>, rgb: Array3<u8>, shown: (&str, ImageStyle, (f32, f32), &str)| {
        let (title, style, range, unit) = shown;
        let err = |e: Box<dyn std::error::Error + Send + Sync>| PipelineError::stage(format!("{stage}: {name}"), e);
        ulm_io::write_npy(&dir.join(format!("{name}.npy")), &map).map_err(|e| err(e.into()))?;
        let title = format!("{what}: {title}");
        let png = MapFigure::new(&title, rgb, grid)
            .colorbar(style, range, unit)
            .render()
            .and_then(|f| f.to_png())
            .map_err(|e| err(e.into()))?;
        ulm_io::atomic_write_bytes(&dir.join(format!("{name}.png")), &png).map_err(|e| err(e.into()))?;
        ranges.insert(name.to_string(), serde_json::json!({ "min": range.0, "max": range.1 }));
        maps.push(MapOut { name: name.to_string(), map, png });
        Ok::<(), PipelineError>(())
    };
    let map = ulm_render::gaussian_density(locs, grid, r.sigma_px).map_err(|e| PipelineError::stage(&stage, e))?;
    let rgb = ulm_render::render_rgb(&map, &density_style, None);
    let range = ulm_render::value_range(&map, &density_style);
    put("loc_density", map, rgb, ("localization density", density_style, range, "localizations / pixel"))?;
    if let Some(t) = tracks {
        let tm = ulm_render::track_maps(t, grid, r.step_px).map_err(|e| PipelineError::stage(&stage, e))?;
        let rgb = ulm_render::render_rgb(&tm.density, &density_style, None);
        let range = ulm_render::value_range(&tm.density, &density_style);
        let speed_style = ImageStyle { range: r.speed_max.map(|m| (0.0, m as f32)), ..ImageStyle::speed() };
        let speed_rgb = ulm_render::render_rgb(&tm.speed, &speed_style, Some(&tm.density));
        let speed_range = ulm_render::value_range(&tm.speed, &speed_style);
        let dir_rgb = ulm_render::render_direction_rgb(&tm.direction, &tm.density, &density_style);
        put("track_density", tm.density, rgb, ("track density", density_style, range, "tracks / pixel"))?;
        put("speed", tm.speed, speed_rgb, ("mean speed", speed_style, speed_range, "speed (mm/s)"))?;
        put(
            "direction",
            tm.direction,
            dir_rgb,
            (
                "axial direction (brightness: track density)",
                ImageStyle::direction(),
                (-1.0, 1.0),
                "mean sign of vz (−1 up, +1 down)",
            ),
        )?;
    }
    let record = serde_json::json!({ "grid": grid, "sigma_px": r.sigma_px, "step_px": r.step_px,
        "gamma": r.gamma, "maps": ranges });
    write_json(&dir.join("render.config.json"), &record)
        .map_err(|e| PipelineError::stage(format!("{stage}: render.config.json"), e))?;
    Ok(Maps { maps })
}

/// The localization metrics' settings, as `ulm eval` derives them: the gate from
/// `gate_mm` or `gate_wavelengths × λ`, the bands over the image depth (`rows` pixels).
pub(crate) fn metrics_config(e: &EvalConfig, g: &Geometry, rows: usize, n_bands: usize) -> MetricsConfig {
    let half = g.pixel_size_z_mm / 2.0;
    MetricsConfig {
        gate_mm: e.gate_mm.unwrap_or(e.gate_wavelengths * g.wavelength_mm),
        wavelength_mm: g.wavelength_mm,
        n_bands,
        depth_range_mm: Some((g.z0_mm - half, g.row_to_z_mm(rows as f64 - 1.0) + half)),
    }
}

/// Localization metrics of `pred` against `gt` (restricted to the frames `pred` covers).
pub(crate) fn metrics(pred: &Localizations, gt: &Localizations, cfg: &MetricsConfig) -> Result<Report, PipelineError> {
    evaluate(pred, gt, cfg).map_err(|e| PipelineError::stage("eval: localization metrics", e))
}

/// Ground-truth rows of the first `n_frames` frames.
pub(crate) fn first_frames(gt: &Localizations, n_frames: usize) -> Localizations {
    let idx: Vec<usize> = (0..gt.len()).filter(|&i| (gt.frame[i] as usize) < n_frames).collect();
    if idx.len() == gt.len() { gt.clone() } else { gt.select(&idx) }
}

/// Dice of two density maps binarized at `> 0` (`ulm eval --map --gt-map`'s default).
pub(crate) fn dice(pred: &Array2<f32>, gt: &Array2<f32>) -> Result<DiceScore, PipelineError> {
    dice_maps(pred, gt, Binarize::Positive).map_err(|e| PipelineError::stage("eval: Dice", e))
}

/// FRC of two halves of `locs` (alternating blocks of `frc_block` frames), rendered on
/// the data's bounding grid grown by 3 σ, as `ulm eval --frc-locs` does. `None` for too
/// few localizations.
pub(crate) fn frc_curve(locs: &Localizations, e: &EvalConfig, g: &Geometry) -> Result<Option<FrcCurve>, PipelineError> {
    if locs.len() < 2 {
        return Ok(None);
    }
    let err = |e: Box<dyn std::error::Error + Send + Sync>| PipelineError::stage("eval: FRC", e);
    let (h1, h2) = split_halves(locs, Split::FrameBlocks { block: e.frc_block }).map_err(|e| err(e.into()))?;
    if h1.is_empty() || h2.is_empty() {
        return Ok(None);
    }
    let pixel = e.frc_pixel_mm.unwrap_or(g.wavelength_mm / 10.0);
    let pad = 3.0 * e.frc_sigma_px * pixel;
    let points = locs.x_mm.iter().zip(&locs.z_mm).map(|(&x, &z)| (x, z));
    let grid = MapGrid::bounding(points, g, pixel, pad).map_err(|e| err(e.into()))?;
    let m1 = ulm_render::gaussian_density(&h1, &grid, e.frc_sigma_px).map_err(|e| err(e.into()))?;
    let m2 = ulm_render::gaussian_density(&h2, &grid, e.frc_sigma_px).map_err(|e| err(e.into()))?;
    Ok(Some(frc(&m1, &m2, pixel).map_err(|e| err(e.into()))?))
}

/// The MTF line: `eval.mtf_line_mm`, else lateral across the map at the depth of the row
/// of `density` with the largest sum (the row that crosses the most vessels).
pub(crate) fn mtf_line(e: &EvalConfig, grid: &MapGrid, density: &Array2<f32>) -> [f64; 4] {
    e.mtf_line_mm.unwrap_or_else(|| {
        let g = &grid.geometry;
        let sums = density.rows().into_iter().map(|r| r.iter().map(|&v| v as f64).sum::<f64>());
        let row =
            sums.enumerate().fold((grid.rows / 2, f64::NEG_INFINITY), |b, (i, s)| if s > b.1 { (i, s) } else { b }).0;
        let z = g.row_to_z_mm(row as f64);
        [g.col_to_x_mm(0.0), z, g.col_to_x_mm(grid.cols as f64 - 1.0), z]
    })
}

/// MTF of `map` along `line` (DC normalisation), as `ulm eval --mtf-line` computes it;
/// `None` where it is undefined (a profile with no signal).
pub(crate) fn mtf_curve(
    map: &Array2<f32>,
    grid: &MapGrid,
    line: [f64; 4],
    sigma: f64,
) -> Result<Option<MtfCurve>, PipelineError> {
    let g = &grid.geometry;
    let step = g.pixel_size_x_mm.min(g.pixel_size_z_mm);
    let profile = line_profile(map, g, (line[0], line[1]), (line[2], line[3]), step)
        .map_err(|e| PipelineError::stage("eval: MTF", e))?;
    if !profile.iter().any(|&v| v != 0.0) {
        return Ok(None);
    }
    Ok(mtf(&profile, step, &MtfConfig { smooth_sigma: sigma, norm: MtfNorm::Dc }).ok())
}

/// A named curve for a combined plot.
pub(crate) struct Curve {
    pub name: String,
    pub x: Vec<f64>,
    pub y: Vec<f64>,
}

/// Writes `<name>.csv` (columns `x_col`, then one per curve; curves are sampled on their
/// own x, so one `curve,x,y` row per point) and `<name>.png` (the plot), returns the PNG.
pub(crate) fn write_curves(
    dir: &Path,
    name: &str,
    plot: LinePlot,
    curves: &[Curve],
    x_col: &str,
    y_col: &str,
) -> Result<Vec<u8>, PipelineError> {
    let err = |e: Box<dyn std::error::Error + Send + Sync>| PipelineError::stage(format!("writing {name}"), e);
    let mut text = format!("curve,{x_col},{y_col}\n");
    for c in curves {
        for (x, y) in c.x.iter().zip(&c.y) {
            text.push_str(&format!("{},{x},{y}\n", c.name));
        }
    }
    ulm_io::atomic_write_bytes(&dir.join(format!("{name}.csv")), text.as_bytes()).map_err(|e| err(e.into()))?;
    let plot = curves.iter().fold(plot, |p, c| p.series(&c.name, &c.x, &c.y));
    let png = plot.render().and_then(|f| f.to_png()).map_err(|e| err(e.into()))?;
    ulm_io::atomic_write_bytes(&dir.join(format!("{name}.png")), &png).map_err(|e| err(e.into()))?;
    Ok(png)
}

/// The 1/7 threshold line of FRC plots.
pub(crate) const FRC_THRESHOLD: f64 = THRESHOLD_1_7;

/// Writes pretty JSON atomically.
pub(crate) fn write_json(path: &Path, v: &serde_json::Value) -> ulm_io::Result<()> {
    let text = serde_json::to_string_pretty(v).unwrap_or_default() + "\n";
    ulm_io::atomic_write_bytes(path, text.as_bytes())
}
