//! The verbs of the `ulm` package: the CLI's commands on arrays and columns.
//!
//! Each builds the library's config as the matching `ulm-cli` command does (same
//! defaults, same checks) and runs the library with the GIL released. The geometry
//! comes as `(meta.json text, name)`: the Python layer serialises a meta dict (or reads
//! a meta.json file with [`read_meta`]) and names its origin for the error messages.

use std::path::{Path, PathBuf};

use ndarray::{Array3, Zip, s};
use numpy::IntoPyArray as _;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use ulm_clutter::{BandPassConfig, ClutterError, Cutoff, SvdConfig};
use ulm_core::{Complex32, FrameData, FrameStack, Geometry, Localizations, NoProgress};
use ulm_io::{AxisOrder, Meta, ReadOptions};
use ulm_render::MapGrid;
use ulm_sim::{Preset, PsfModel, SimConfig};
use ulm_track::{LinkConfig, PredictorKind, SpatialIndex};

use crate::errors::{self, invalid};
use crate::frames::{FramesIn, FramesView, ViewSource};
use crate::methods::{self, LearnedOptions, LocalizeOptions};
use crate::tables::{self, LocColumns, TrackColumns};
use ulm_bench::MethodName;
use ulm_localize::TemporalSupport;

/// A `meta.json` as text, with the name its errors give (a file path, or `meta`).
pub(crate) type MetaArg = (String, String);

/// The sidecar of `meta`, parsed like a meta.json file.
fn parse_meta(meta: &MetaArg) -> PyResult<Meta> {
    serde_json::from_str(&meta.0).map_err(|e| invalid(format!("{}: invalid meta.json: {e}", meta.1)))
}

/// The sidecar of `meta` and the geometry it describes.
pub(crate) fn meta_geometry(meta: &MetaArg) -> PyResult<(Meta, Geometry)> {
    let m = parse_meta(meta)?;
    let g = m.geometry(Path::new(&meta.1)).map_err(errors::to_py)?;
    Ok((m, g))
}

/// JSON text of a value the library serialises.
pub(crate) fn json<T: serde::Serialize>(v: &T) -> PyResult<String> {
    serde_json::to_string(v).map_err(|e| invalid(format!("internal error: {e}")))
}

/// Reads a `meta.json` file and checks it parses as one; returns its text unchanged
/// (Python's `json` reads the floats exactly; re-serialising could change the last digit).
#[pyfunction]
pub fn read_meta(path: PathBuf) -> PyResult<String> {
    ulm_io::read_meta(&path).map_err(errors::to_py)?;
    std::fs::read_to_string(&path).map_err(|e| errors::to_py(ulm_io::Error::io(&path, e)))
}

/// Reads a frame file (`ulm info`'s formats) with its `meta.json`; returns the frames
/// (float32 or complex64 `[frames, z, x]`) and the sidecar's text.
#[pyfunction]
#[pyo3(signature = (path, dataset=None, axis_order="tzx", meta=None, allow_non_finite=false))]
pub fn read<'py>(
    py: Python<'py>,
    path: PathBuf,
    dataset: Option<String>,
    axis_order: &str,
    meta: Option<PathBuf>,
    allow_non_finite: bool,
) -> PyResult<(Bound<'py, PyAny>, String)> {
    let axis_order: AxisOrder = axis_order.parse().map_err(invalid)?;
    let opts = ReadOptions { dataset, axis_order, meta, allow_non_finite };
    let (stack, meta) = py
        .detach(|| -> ulm_io::Result<_> {
            let stack = ulm_io::read_frames(&path, &opts)?;
            // The whole sidecar (extra keys included, e.g. the simulation's grid), as written.
            let mp = ulm_io::meta_path_for(&path, &opts);
            let text = ulm_io::read_meta(&mp)
                .and_then(|_| std::fs::read_to_string(&mp).map_err(|e| ulm_io::Error::io(&mp, e)));
            Ok((stack, text))
        })
        .map_err(errors::to_py)?;
    let text = match meta {
        Ok(t) => t,
        Err(_) => json(&Meta::from_geometry(stack.geometry()))?,
    };
    Ok((crate::frames::to_numpy(py, stack.into_data()), text))
}

/// Simulates an acquisition (`ulm simulate`): returns a dict with `iq`, `meta`, `gt`,
/// `config`, `vessels` (JSON text for the dicts) and `n_bubbles`.
#[pyfunction]
#[pyo3(signature = (preset="sparse", frames=1000, seed=0, rows=None, cols=None, bubbles_per_frame=None,
    snr_db=None, frame_rate_hz=None, psf=None, config=None))]
#[allow(clippy::too_many_arguments)]
pub fn simulate<'py>(
    py: Python<'py>,
    preset: &str,
    frames: usize,
    seed: u64,
    rows: Option<usize>,
    cols: Option<usize>,
    bubbles_per_frame: Option<f64>,
    snr_db: Option<f64>,
    frame_rate_hz: Option<f64>,
    psf: Option<&str>,
    config: Option<String>,
) -> PyResult<Bound<'py, PyDict>> {
    // As `ulm simulate`'s validate(): a full config replaces the preset, options override.
    let (mut cfg, preset) = match &config {
        Some(text) => {
            let c: SimConfig =
                serde_json::from_str(text).map_err(|e| invalid(format!("config: invalid simulation config: {e}")))?;
            (c, None)
        }
        None => {
            let p: Preset = preset.parse().map_err(errors::to_py)?;
            (SimConfig::preset(p), Some(p))
        }
    };
    if let Some(r) = rows {
        cfg.grid.rows = r;
    }
    if let Some(c) = cols {
        cfg.grid.cols = c;
    }
    if let Some(b) = bubbles_per_frame {
        cfg.bubbles.per_frame = b;
    }
    if let Some(s) = snr_db {
        cfg.imaging.snr_db = s;
    }
    if let Some(f) = frame_rate_hz {
        cfg.grid.frame_rate_hz = f;
    }
    if let Some(p) = psf {
        cfg.imaging.psf = match p.to_ascii_lowercase().as_str() {
            "gaussian" => PsfModel::Gaussian,
            "physical" => PsfModel::Physical,
            _ => return Err(invalid(format!("unknown psf `{p}`: use gaussian or physical"))),
        };
    }
    cfg.validate().map_err(|e| invalid(format!("invalid simulation options: {}", errors::message(&e))))?;
    if frames == 0 {
        return Err(invalid("frames must be at least 1"));
    }
    let bytes = frames as f64 * (cfg.grid.rows * cfg.grid.cols) as f64 * 12.0;
    if bytes > 64e9 {
        return Err(invalid(format!(
            "frames={frames} at {}×{} needs {:.0} GB of memory",
            cfg.grid.rows,
            cfg.grid.cols,
            bytes / 1e9
        )));
    }
    let sim = py.detach(|| ulm_sim::simulate(&cfg, frames, seed, &NoProgress)).map_err(errors::to_py)?;

    // The meta.json `ulm simulate` writes.
    let mut meta = Meta::from_geometry(sim.iq.geometry());
    meta.center_frequency_hz = Some(cfg.grid.center_frequency_hz);
    meta.speed_of_sound_m_s = Some(cfg.grid.speed_of_sound_m_s);
    let sim_json = serde_json::json!({
        "preset": preset.map(|p| p.name()),
        "vessels_file": null,
        "seed": seed,
        "frames": frames,
        "bubbles_in_network": sim.n_bubbles,
        "ground_truth_rows": sim.truth.len(),
        "config": cfg,
    });
    meta.extra.insert("simulation".into(), sim_json);

    let out = PyDict::new(py);
    out.set_item("meta", json(&meta)?)?;
    out.set_item("config", json(&cfg)?)?;
    out.set_item("vessels", json(&sim.network)?)?;
    out.set_item("n_bubbles", sim.n_bubbles)?;
    out.set_item("gt", tables::localizations_to_py(py, sim.truth)?)?;
    out.set_item("iq", crate::frames::to_numpy(py, sim.iq.into_data()))?;
    Ok(out)
}

/// SVD clutter filter (`ulm filter`), block by block. `low = None`: automatic cut-off.
/// Returns the filtered frames (same dtype) and one report dict per block.
#[pyfunction]
#[pyo3(signature = (frames, low=None, high=None, block_frames=1000))]
pub fn svd_filter<'py>(
    py: Python<'py>,
    frames: &Bound<'py, PyAny>,
    low: Option<usize>,
    high: Option<usize>,
    block_frames: usize,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyList>)> {
    if low == Some(0) {
        return Err(invalid("the SVD cut-off counts components from 1 (1 keeps the first component)"));
    }
    let cfg = SvdConfig {
        cutoff: match low {
            Some(low) => Cutoff::Fixed { low, high },
            None => Cutoff::Auto { high },
        },
        block_frames,
    };
    let input = FramesIn::borrow(frames, "iq")?;
    let view = input.view();
    // The SVD does not use the geometry; any valid one will do.
    let geometry = Geometry::new(1.0, 1.0, 0.0, 0.0, 1.0, 1.0).map_err(errors::to_py)?;
    let [nf, rows, cols] = view.shape();
    let (filtered, reports) = py
        .detach(|| -> Result<_, ClutterError> {
            let mut out = Array3::<Complex32>::zeros((nf, rows, cols));
            let mut src = ViewSource { view, geometry };
            let reports =
                ulm_clutter::svd_filter_source(&mut src, &cfg, &NoProgress, |b| -> Result<(), ClutterError> {
                    out.slice_mut(s![b.frames.clone(), .., ..]).assign(&b.data);
                    Ok(())
                })?;
            let data = match view {
                FramesView::Complex(_) => FrameData::Complex(out),
                FramesView::Real(_) => FrameData::Real(out.mapv(|c| c.re)),
            };
            Ok((data, reports))
        })
        .map_err(errors::to_py)?;
    let list = PyList::empty(py);
    for r in reports {
        let d = PyDict::new(py);
        d.set_item("start_frame", r.start_frame)?;
        d.set_item("n_frames", r.n_frames)?;
        d.set_item("kept_low", r.low)?;
        d.set_item("kept_high", r.high)?;
        d.set_item("singular_values", r.singular_values.into_pyarray(py))?;
        list.append(d)?;
    }
    Ok((crate::frames::to_numpy(py, filtered), list))
}

/// Zero-phase Butterworth band-pass along time (`ulm filter --bandpass-…`).
#[pyfunction]
#[pyo3(signature = (frames, meta, low_hz=None, high_hz=None, order=4))]
pub fn bandpass<'py>(
    py: Python<'py>,
    frames: &Bound<'py, PyAny>,
    meta: MetaArg,
    low_hz: Option<f64>,
    high_hz: Option<f64>,
    order: usize,
) -> PyResult<Bound<'py, PyAny>> {
    let (_, g) = meta_geometry(&meta)?;
    let bp = BandPassConfig { low_hz, high_hz, order };
    if low_hz.is_none() && high_hz.is_none() {
        return Err(invalid("nothing to do: give low_hz and/or high_hz"));
    }
    let input = FramesIn::borrow(frames, "frames")?;
    let view = input.view();
    let out = py
        .detach(|| -> Result<FrameStack, ClutterError> {
            ulm_clutter::bandpass::design(&bp, g.frame_rate_hz)?;
            // Zero-phase filtering needs whole time series: the stack is copied once.
            let mut stack = view.block(0, view.shape()[0], g).map_err(|e| ClutterError::Read(0, e))?;
            ulm_clutter::bandpass_stack(&mut stack, &bp)?;
            Ok(stack)
        })
        .map_err(errors::to_py)?;
    Ok(crate::frames::to_numpy(py, out.into_data()))
}

/// Localizes every frame (`ulm localize`); returns the table's columns and the
/// localizer's config as JSON.
#[pyfunction]
#[pyo3(signature = (frames, meta, method="radial", patch=5, threshold_rel=0.1, threshold_abs=None,
    noise_factor=4.0, max_per_frame=None, min_separation_px=0.0, border_margin_px=0, max_maxima_in_patch=3,
    crowd_level=0.25, max_shift_px=None, upsample=10, morph_level=0.5, block_frames=None, weights=None,
    score_threshold=None, search_dirs=Vec::new(), pixel_pitch=None, native_pitch=false, temporal_support=0,
    max_speed=50.0))]
#[allow(clippy::too_many_arguments)]
pub fn localize<'py>(
    py: Python<'py>,
    frames: &Bound<'py, PyAny>,
    meta: MetaArg,
    method: &str,
    patch: usize,
    threshold_rel: f32,
    threshold_abs: Option<f32>,
    noise_factor: f32,
    max_per_frame: Option<usize>,
    min_separation_px: f64,
    border_margin_px: usize,
    max_maxima_in_patch: usize,
    crowd_level: f32,
    max_shift_px: Option<f64>,
    upsample: usize,
    morph_level: f32,
    block_frames: Option<usize>,
    weights: Option<PathBuf>,
    score_threshold: Option<f32>,
    search_dirs: Vec<PathBuf>,
    pixel_pitch: Option<f64>,
    native_pitch: bool,
    temporal_support: usize,
    max_speed: f64,
) -> PyResult<(Bound<'py, PyList>, String)> {
    let temporal = TemporalSupport::from_frames(temporal_support, max_speed).map_err(errors::to_py)?;
    let opts = LocalizeOptions {
        patch,
        threshold_rel,
        threshold_abs,
        noise_factor,
        max_per_frame,
        min_separation_px,
        border_margin_px,
        max_maxima_in_patch,
        crowd_level,
        max_shift_px,
        upsample,
        morph_level,
    };
    let learned = LearnedOptions { weights, score_threshold, pixel_pitch, native_pitch, search_dirs };
    let (localizer, cfg, name) = methods::localizer(method, &opts, &learned)?;
    let block_frames = block_frames.unwrap_or(name.block_frames());
    if block_frames == 0 {
        return Err(invalid("block_frames must be >= 1"));
    }
    let (_, g) = meta_geometry(&meta)?;
    let input = FramesIn::borrow(frames, "frames")?;
    let view = input.view();
    let localizer = localizer.as_ref();
    // The block loop of `ulm_localize::localize_blocks`, on the NumPy buffer in place:
    // float32 frames are not copied; IQ is reduced to its envelope one block at a time.
    let locs = py.detach(|| {
        let n = view.shape()[0];
        let mut out = Localizations::new();
        let mut start = 0;
        while start < n {
            let end = (start + block_frames).min(n);
            let detections = match view {
                FramesView::Real(a) => localizer.localize_frames(a.slice(s![start..end, .., ..]), start as u32, &g),
                FramesView::Complex(a) => {
                    let env = Zip::from(a.slice(s![start..end, .., ..])).par_map_collect(|c| c.norm());
                    localizer.localize_frames(env.view(), start as u32, &g)
                }
            };
            out.extend_detections(&detections);
            start = end;
        }
        if matches!(name, MethodName::DeDetr | MethodName::Detr) {
            // Detectors always have their box columns, as in `ulm localize`'s CSV.
            let n = out.len();
            out.w_mm.get_or_insert_with(|| vec![f64::NAN; n]);
            out.h_mm.get_or_insert_with(|| vec![f64::NAN; n]);
        }
        TemporalSupport::apply_optional(temporal.as_ref(), out, &g)
    });
    let (locs, n_before) = locs.map_err(errors::to_py)?;
    let config = serde_json::json!({ "localizer": localizer.name(), "config": cfg, "block_frames": block_frames,
        "temporal_support": temporal, "n_before_temporal_support": n_before });
    Ok((tables::localizations_to_py(py, locs)?, json(&config)?))
}

/// Links localizations into tracks (`ulm track`); returns the tracks table's columns.
#[pyfunction]
#[pyo3(signature = (locs, meta, search_range_mm=None, memory=0, min_length=3, predictor="velocity",
    max_speed_ratio=Some(3.0), min_rejectable_step_mm=None, index=None))]
#[allow(clippy::too_many_arguments)]
pub fn track<'py>(
    py: Python<'py>,
    locs: &Bound<'py, PyDict>,
    meta: MetaArg,
    search_range_mm: Option<f64>,
    memory: u32,
    min_length: usize,
    predictor: &str,
    max_speed_ratio: Option<f64>,
    min_rejectable_step_mm: Option<f64>,
    index: Option<&str>,
) -> PyResult<Bound<'py, PyList>> {
    let (_, g) = meta_geometry(&meta)?;
    let config = LinkConfig {
        search_range_mm: search_range_mm.unwrap_or(g.wavelength_mm),
        memory,
        min_length,
        max_speed_ratio,
        min_rejectable_step_mm: min_rejectable_step_mm.unwrap_or(g.wavelength_mm / 4.0),
        frame_rate_hz: g.frame_rate_hz,
        index: match index.map(str::to_ascii_lowercase).as_deref() {
            None => SpatialIndex::default(),
            Some("kdtree") => SpatialIndex::KdTree,
            Some("grid") => SpatialIndex::Grid,
            Some(other) => return Err(invalid(format!("unknown index `{other}`: use kdtree or grid"))),
        },
    };
    config.validate().map_err(|e| invalid(format!("invalid option: {}", errors::message(&e))))?;
    let kind = match predictor.to_ascii_lowercase().as_str() {
        "none" => PredictorKind::None,
        "velocity" => PredictorKind::Velocity,
        "kalman" => PredictorKind::Kalman,
        _ => return Err(invalid(format!("unknown predictor `{predictor}`: use none, velocity or kalman"))),
    };
    let locs = LocColumns::from_dict(locs, "localizations")?.to_localizations("localizations")?;
    let linked = py.detach(|| ulm_track::link_with(&locs, &config, kind, &NoProgress)).map_err(errors::to_py)?;
    tables::tracks_to_py(py, &linked.tracks)
}

/// A map's extent `(x_min, x_max, z_max, z_min)` in mm (matplotlib's `imshow` order).
type Extent = (f64, f64, f64, f64);

/// Renders one map (`ulm render`): `loc_density` from localizations, `track_density`,
/// `speed` or `direction` from tracks. Returns the map (float32 `[z, x]`) and its
/// extent `(x_min, x_max, z_max, z_min)` in mm (matplotlib's `imshow` order).
#[pyfunction]
#[pyo3(signature = (table, meta, map="loc_density", pixel_mm=None, fov_mm=None, sigma_px=1.0, step_px=0.5))]
#[allow(clippy::too_many_arguments)]
pub fn render<'py>(
    py: Python<'py>,
    table: &Bound<'py, PyDict>,
    meta: MetaArg,
    map: &str,
    pixel_mm: Option<f64>,
    fov_mm: Option<Vec<f64>>,
    sigma_px: f64,
    step_px: f64,
) -> PyResult<(Bound<'py, PyAny>, Extent)> {
    const MAPS: &str = "loc_density, track_density, speed, direction";
    let (m, base) = meta_geometry(&meta)?;
    let pixel_mm = pixel_mm.unwrap_or(base.wavelength_mm / 10.0);
    let (locs, tracks) = match map {
        "loc_density" => {
            (Some(LocColumns::from_dict(table, "localizations")?.to_localizations("localizations")?), None)
        }
        "track_density" | "speed" | "direction" => (None, Some(TrackColumns::from_dict(table)?.to_tracks()?)),
        _ => return Err(invalid(format!("unknown map `{map}`: use one of {MAPS}"))),
    };
    if let Some(f) = &fov_mm
        && f.len() != 4
    {
        return Err(invalid(format!("fov_mm needs 4 numbers x_min, x_max, z_min, z_max (mm), got {}", f.len())));
    }
    let map = map.to_string();
    let (image, grid) = py
        .detach(|| -> Result<_, ulm_render::RenderError> {
            // The CLI's field of view: given, else the meta's grid, else the data's bounding box.
            let grid = if let Some(f) = &fov_mm {
                MapGrid::covering(f[0], f[1], f[2], f[3], pixel_mm, &base)
            } else if let Some((rows, cols)) = m.grid_shape() {
                MapGrid::super_resolved(&base, rows, cols, pixel_mm)
            } else {
                MapGrid::bounding_data(locs.as_ref(), tracks.as_ref(), &base, pixel_mm)
            }?;
            let image = match (&locs, &tracks) {
                (Some(l), _) => ulm_render::gaussian_density(l, &grid, sigma_px)?,
                (None, Some(t)) => {
                    let maps = ulm_render::track_maps(t, &grid, step_px)?;
                    match map.as_str() {
                        "track_density" => maps.density,
                        "speed" => maps.speed,
                        _ => maps.direction,
                    }
                }
                (None, None) => unreachable!("one of the two tables is set above"),
            };
            Ok((image, grid))
        })
        .map_err(errors::to_py)?;
    let g = &grid.geometry;
    let x_lo = g.x0_mm - g.pixel_size_x_mm / 2.0;
    let z_lo = g.z0_mm - g.pixel_size_z_mm / 2.0;
    let extent = (x_lo, x_lo + grid.cols as f64 * g.pixel_size_x_mm, z_lo + grid.rows as f64 * g.pixel_size_z_mm, z_lo);
    Ok((image.into_pyarray(py).into_any(), extent))
}

/// Localization metrics against ground truth (`ulm eval --pred --gt`); returns the
/// report as JSON text (the `report` of `ulm eval --json`, its config included).
#[pyfunction]
#[pyo3(signature = (pred, gt, meta, gate_wavelengths=0.5, gate_mm=None, bands=3))]
pub fn evaluate(
    py: Python<'_>,
    pred: &Bound<'_, PyDict>,
    gt: &Bound<'_, PyDict>,
    meta: MetaArg,
    gate_wavelengths: f64,
    gate_mm: Option<f64>,
    bands: usize,
) -> PyResult<String> {
    let (m, g) = meta_geometry(&meta)?;
    let pred = LocColumns::from_dict(pred, "predictions")?.to_localizations("predictions")?;
    let gt = LocColumns::from_dict(gt, "ground truth")?.to_localizations("ground truth")?;
    let gate_mm = gate_mm.unwrap_or(gate_wavelengths * g.wavelength_mm);
    if !(gate_mm.is_finite() && gate_mm > 0.0) {
        return Err(invalid(format!("the pairing gate must be > 0, got {gate_mm} mm")));
    }
    let depth_range_mm = m.grid_rows().map(|rows| {
        let half = g.pixel_size_z_mm / 2.0;
        (g.z0_mm - half, g.row_to_z_mm(rows as f64 - 1.0) + half)
    });
    let cfg = ulm_eval::metrics::EvalConfig { gate_mm, wavelength_mm: g.wavelength_mm, n_bands: bands, depth_range_mm };
    let report = py.detach(|| ulm_eval::metrics::evaluate(&pred, &gt, &cfg)).map_err(errors::to_py)?;
    json(&report)
}
