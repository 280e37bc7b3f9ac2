//! Map metrics (`ulm eval --map …`): Dice of two maps, MTF along a line, FRC of two
//! halves of a localization table. Each returns JSON text with the keys of `ulm eval
//! --maps-json` plus the curves.

use ndarray::Array2;
use numpy::{PyReadonlyArray2, PyUntypedArrayMethods as _};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use ulm_eval::dice::{Binarize, dice_maps};
use ulm_eval::frc::{Split, frc as frc_curve, split_halves};
use ulm_eval::mtf::{MtfConfig, MtfNorm, line_profile, mtf as mtf_curve};
use ulm_render::MapGrid;

use crate::errors::{self, invalid};
use crate::tables::LocColumns;
use crate::verbs::{MetaArg, json, meta_geometry};

/// A 2-D float32 map borrowed from NumPy, checked finite, as an owned array.
fn map_arg(a: &PyReadonlyArray2<'_, f32>, name: &str) -> PyResult<Array2<f32>> {
    let v = a.as_array();
    if let Some(((r, c), x)) = v.indexed_iter().find(|(_, x)| !x.is_finite()) {
        return Err(invalid(format!("{name}: pixel [z {r}, x {c}] is {x}: maps must be finite")));
    }
    Ok(v.to_owned())
}

/// Dice of `pred` and `gt` after binarizing both (`ulm eval --map --gt-map`).
#[pyfunction]
#[pyo3(signature = (pred, gt, rule="positive", level=None))]
pub fn dice(
    py: Python<'_>,
    pred: PyReadonlyArray2<'_, f32>,
    gt: PyReadonlyArray2<'_, f32>,
    rule: &str,
    level: Option<f32>,
) -> PyResult<String> {
    let level = || level.ok_or_else(|| invalid(format!("rule `{rule}` needs a level")));
    let rule = match rule {
        "positive" => Binarize::Positive,
        "above" => Binarize::Above(level()?),
        "frac" => Binarize::FractionOfMax(level()?),
        _ => return Err(invalid(format!("unknown Dice rule `{rule}`: use positive, above or frac"))),
    };
    let (p, g) = (map_arg(&pred, "pred")?, map_arg(&gt, "gt")?);
    let d = py.detach(|| dice_maps(&p, &g, rule)).map_err(errors::to_py)?;
    json(&serde_json::json!({ "rule": rule, "score": d }))
}

/// MTF of `map` along the segment `line_mm` `(x0, z0, x1, z1)`; the map's grid is
/// `ulm.render`'s for `meta` (its image grid at `pixel_mm`, or `fov_mm`).
#[pyfunction]
#[pyo3(signature = (map, meta, line_mm, pixel_mm=None, fov_mm=None, smooth_sigma=1.0, norm="dc"))]
#[allow(clippy::too_many_arguments)]
pub fn mtf(
    py: Python<'_>,
    map: PyReadonlyArray2<'_, f32>,
    meta: MetaArg,
    line_mm: Vec<f64>,
    pixel_mm: Option<f64>,
    fov_mm: Option<Vec<f64>>,
    smooth_sigma: f64,
    norm: &str,
) -> PyResult<String> {
    let (m, base) = meta_geometry(&meta)?;
    if line_mm.len() != 4 {
        return Err(invalid(format!("line_mm needs 4 numbers x0, z0, x1, z1 (mm), got {}", line_mm.len())));
    }
    let norm = match norm {
        "dc" => MtfNorm::Dc,
        "max" => MtfNorm::Max,
        _ => return Err(invalid(format!("unknown MTF normalisation `{norm}`: use dc or max"))),
    };
    let pixel_mm = pixel_mm.unwrap_or(base.wavelength_mm / 10.0);
    let grid = match (&fov_mm, m.grid_shape()) {
        (Some(f), _) if f.len() == 4 => MapGrid::covering(f[0], f[1], f[2], f[3], pixel_mm, &base),
        (Some(f), _) => return Err(invalid(format!("fov_mm needs 4 numbers, got {}", f.len()))),
        (None, Some((rows, cols))) => MapGrid::super_resolved(&base, rows, cols, pixel_mm),
        (None, None) => return Err(invalid("the map's grid is unknown: give fov_mm (or a meta with rows/cols)")),
    }
    .map_err(errors::to_py)?;
    let shape = map.shape();
    if (shape[0], shape[1]) != (grid.rows, grid.cols) {
        return Err(invalid(format!(
            "map: shape ({}, {}) is not the grid's ({}, {}) at pixel {pixel_mm} mm",
            shape[0], shape[1], grid.rows, grid.cols
        )));
    }
    let image = map_arg(&map, "map")?;
    let step = grid.geometry.pixel_size_x_mm.min(grid.geometry.pixel_size_z_mm);
    let l = line_mm;
    let (profile, curve) = py
        .detach(|| -> Result<_, ulm_eval::dice::MapError> {
            let profile = line_profile(&image, &grid.geometry, (l[0], l[1]), (l[2], l[3]), step)?;
            let curve = mtf_curve(&profile, step, &MtfConfig { smooth_sigma, norm })?;
            Ok((profile, curve))
        })
        .map_err(errors::to_py)?;
    json(&serde_json::json!({
        "line_mm": l, "samples": profile.len(), "sample_mm": step, "norm": norm, "smooth_sigma": smooth_sigma,
        "freq_per_mm": curve.freq_per_mm, "mtf": curve.mtf,
    }))
}

/// FRC of two halves of `locs` rendered as Gaussian maps (`ulm eval --frc-locs`).
#[pyfunction]
#[pyo3(signature = (locs, meta, split="frames", block=100, seed=0, pixel_mm=None, sigma_px=1.0))]
#[allow(clippy::too_many_arguments)]
pub fn frc(
    py: Python<'_>,
    locs: &Bound<'_, PyDict>,
    meta: MetaArg,
    split: &str,
    block: u32,
    seed: u64,
    pixel_mm: Option<f64>,
    sigma_px: f64,
) -> PyResult<String> {
    let (_, g) = meta_geometry(&meta)?;
    let locs = LocColumns::from_dict(locs, "localizations")?.to_localizations("localizations")?;
    if locs.is_empty() {
        return Err(invalid("localizations: no rows"));
    }
    let split = match split {
        "frames" => Split::FrameBlocks { block },
        "random" => Split::Random { seed },
        _ => return Err(invalid(format!("unknown FRC split `{split}`: use frames or random"))),
    };
    let pixel = pixel_mm.unwrap_or(g.wavelength_mm / 10.0);
    let out = py
        .detach(|| -> Result<_, Box<dyn std::error::Error + Send + Sync>> {
            let (h1, h2) = split_halves(&locs, split)?;
            // As `ulm eval --frc-locs`: the data's field of view grown by 3 σ.
            let pad = 3.0 * sigma_px * pixel;
            let points = locs.x_mm.iter().zip(&locs.z_mm).map(|(&x, &z)| (x, z));
            let grid = MapGrid::bounding(points, &g, pixel, pad)?;
            let m1 = ulm_render::gaussian_density(&h1, &grid, sigma_px)?;
            let m2 = ulm_render::gaussian_density(&h2, &grid, sigma_px)?;
            let curve = frc_curve(&m1, &m2, pixel)?;
            Ok((curve, [h1.len(), h2.len()], [grid.rows, grid.cols]))
        })
        .map_err(|e| invalid(errors::message(e.as_ref())))?;
    let (curve, halves, grid) = out;
    json(&serde_json::json!({
        "resolution_mm": curve.resolution_mm,
        "resolution_wavelengths": curve.resolution_mm.map(|r| r / g.wavelength_mm),
        "halves": halves, "split": split, "pixel_mm": pixel, "grid": grid,
        "freq_per_mm": curve.freq_per_mm, "frc": curve.frc,
    }))
}
