//! Localization and track tables between NumPy columns and the library's types.
//!
//! Out: a list of `(name, column)` pairs in the CSV's column order, which the Python
//! layer turns into a DataFrame (`frame` int64, positions and velocities float64,
//! `score` float32; extra columns int64 or float64 when every cell parses, else str).
//! In: the columns the stage needs (`frame, x_mm, z_mm[, score]`, or the track columns).

use numpy::{IntoPyArray as _, PyArray1, PyArrayMethods as _, PyReadonlyArray1};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use ulm_core::{Localizations, TrackPoint, Tracks};

use crate::errors;

/// Column `name` of the dict `d` (a NumPy array of the right dtype: the Python layer
/// converts); `None` when absent.
fn column<'py, T: numpy::Element>(d: &Bound<'py, PyDict>, name: &str) -> PyResult<Option<PyReadonlyArray1<'py, T>>> {
    match d.get_item(name)? {
        None => Ok(None),
        Some(c) => Ok(Some(c.cast::<PyArray1<T>>().map_err(PyErr::from)?.try_readonly()?)),
    }
}

/// Required column `name` of the table `which`.
fn required<'py, T: numpy::Element>(
    d: &Bound<'py, PyDict>,
    which: &str,
    name: &str,
) -> PyResult<PyReadonlyArray1<'py, T>> {
    column(d, name)?.ok_or_else(|| errors::invalid(format!("{which}: missing column `{name}`")))
}

/// The columns of a localization table, borrowed from NumPy.
pub struct LocColumns<'py> {
    /// Frame index of each row (int64, >= 0).
    pub frame: PyReadonlyArray1<'py, i64>,
    /// Lateral position, mm.
    pub x_mm: PyReadonlyArray1<'py, f64>,
    /// Depth, mm.
    pub z_mm: PyReadonlyArray1<'py, f64>,
    /// Score (1.0 when the table has none).
    pub score: Option<PyReadonlyArray1<'py, f32>>,
}

/// A frame index column as `u32`, naming the first row that is not one.
fn frames_u32(which: &str, frame: &[i64]) -> PyResult<Vec<u32>> {
    frame
        .iter()
        .enumerate()
        .map(|(i, &f)| {
            u32::try_from(f).map_err(|_| {
                errors::invalid(format!("{which}: row {i}: frame {f} is not a frame index (0 ..= {})", u32::MAX))
            })
        })
        .collect()
}

/// `n` rows in every column, or an error naming the table.
fn same_length(which: &str, lens: &[(&str, usize)]) -> PyResult<()> {
    let n = lens[0].1;
    match lens.iter().find(|(_, l)| *l != n) {
        Some((name, l)) => {
            Err(errors::invalid(format!("{which}: column `{name}` has {l} rows, column `{}` has {n}", lens[0].0)))
        }
        None => Ok(()),
    }
}

impl<'py> LocColumns<'py> {
    /// The columns of the dict `d` (column name → NumPy array); `which` names the table.
    pub fn from_dict(d: &Bound<'py, PyDict>, which: &str) -> PyResult<Self> {
        Ok(Self {
            frame: required(d, which, "frame")?,
            x_mm: required(d, which, "x_mm")?,
            z_mm: required(d, which, "z_mm")?,
            score: column(d, "score")?,
        })
    }

    /// The library's table; `which` names it in errors (e.g. "predictions").
    pub fn to_localizations(&self, which: &str) -> PyResult<Localizations> {
        let frame = self.frame.as_array();
        let (x, z) = (self.x_mm.as_array(), self.z_mm.as_array());
        let mut lens = vec![("frame", frame.len()), ("x_mm", x.len()), ("z_mm", z.len())];
        if let Some(s) = &self.score {
            lens.push(("score", s.as_array().len()));
        }
        same_length(which, &lens)?;
        let frame = frames_u32(which, &frame.to_vec())?;
        let score = match &self.score {
            Some(s) => s.as_array().to_vec(),
            None => vec![1.0; frame.len()],
        };
        let locs =
            Localizations { frame, x_mm: x.to_vec(), z_mm: z.to_vec(), score, w_mm: None, h_mm: None, extra: vec![] };
        locs.validate().map_err(|e| errors::invalid(format!("{which}: {}", errors::message(&e))))?;
        Ok(locs)
    }
}

/// The columns of a tracks table, borrowed from NumPy.
pub struct TrackColumns<'py> {
    /// Track of each point (int64, >= 0).
    pub track_id: PyReadonlyArray1<'py, i64>,
    /// Frame of each point.
    pub frame: PyReadonlyArray1<'py, i64>,
    /// Lateral position, mm.
    pub x_mm: PyReadonlyArray1<'py, f64>,
    /// Depth, mm.
    pub z_mm: PyReadonlyArray1<'py, f64>,
    /// Lateral velocity, mm/s (NaN when unknown).
    pub vx_mm_s: PyReadonlyArray1<'py, f64>,
    /// Axial velocity, mm/s (NaN when unknown).
    pub vz_mm_s: PyReadonlyArray1<'py, f64>,
}

impl<'py> TrackColumns<'py> {
    /// The columns of the dict `d` (column name → NumPy array).
    pub fn from_dict(d: &Bound<'py, PyDict>) -> PyResult<Self> {
        let which = "tracks";
        Ok(Self {
            track_id: required(d, which, "track_id")?,
            frame: required(d, which, "frame")?,
            x_mm: required(d, which, "x_mm")?,
            z_mm: required(d, which, "z_mm")?,
            vx_mm_s: required(d, which, "vx_mm_s")?,
            vz_mm_s: required(d, which, "vz_mm_s")?,
        })
    }

    /// The library's tracks: points grouped by `track_id` (tracks in increasing id),
    /// sorted by frame (stable), as `ulm_io::read_tracks` groups a tracks CSV.
    pub fn to_tracks(&self) -> PyResult<Tracks> {
        let which = "tracks";
        let id = self.track_id.as_array();
        let cols = [&self.x_mm, &self.z_mm, &self.vx_mm_s, &self.vz_mm_s].map(|c| c.as_array());
        same_length(
            which,
            &[
                ("track_id", id.len()),
                ("frame", self.frame.as_array().len()),
                ("x_mm", cols[0].len()),
                ("z_mm", cols[1].len()),
                ("vx_mm_s", cols[2].len()),
                ("vz_mm_s", cols[3].len()),
            ],
        )?;
        let frame = frames_u32(which, &self.frame.as_array().to_vec())?;
        let mut rows = Vec::with_capacity(id.len());
        for (i, &t) in id.iter().enumerate() {
            let t =
                u64::try_from(t).map_err(|_| errors::invalid(format!("{which}: row {i}: negative track_id {t}")))?;
            let p = TrackPoint {
                frame: frame[i],
                x_mm: cols[0][i],
                z_mm: cols[1][i],
                vx_mm_s: cols[2][i],
                vz_mm_s: cols[3][i],
            };
            if !(p.x_mm.is_finite() && p.z_mm.is_finite()) {
                return Err(errors::invalid(format!(
                    "{which}: row {i}: position ({}, {}) mm is not finite",
                    p.x_mm, p.z_mm
                )));
            }
            rows.push((t, p));
        }
        Ok(Tracks::from_rows(rows))
    }
}

/// An extra (text) column as NumPy int64 or float64 when every cell parses, else as a
/// list of str — what pandas' `read_csv` makes of the same CSV column.
fn extra_column<'py>(py: Python<'py>, values: &[String]) -> PyResult<Bound<'py, PyAny>> {
    if let Some(v) = values.iter().map(|s| s.trim().parse::<i64>().ok()).collect::<Option<Vec<_>>>() {
        return Ok(v.into_pyarray(py).into_any());
    }
    if let Some(v) = values.iter().map(|s| s.trim().parse::<f64>().ok()).collect::<Option<Vec<_>>>() {
        return Ok(v.into_pyarray(py).into_any());
    }
    Ok(PyList::new(py, values)?.into_any())
}

/// The table as `(name, column)` pairs in the CSV's order: `frame, x_mm, z_mm, score`,
/// `w_mm, h_mm` when present, then the extra columns.
pub fn localizations_to_py<'py>(py: Python<'py>, locs: Localizations) -> PyResult<Bound<'py, PyList>> {
    let out = PyList::empty(py);
    let frame: Vec<i64> = locs.frame.iter().map(|&f| i64::from(f)).collect();
    out.append(("frame", frame.into_pyarray(py)))?;
    out.append(("x_mm", locs.x_mm.into_pyarray(py)))?;
    out.append(("z_mm", locs.z_mm.into_pyarray(py)))?;
    out.append(("score", locs.score.into_pyarray(py)))?;
    if let Some(w) = locs.w_mm {
        out.append(("w_mm", w.into_pyarray(py)))?;
    }
    if let Some(h) = locs.h_mm {
        out.append(("h_mm", h.into_pyarray(py)))?;
    }
    for c in &locs.extra {
        out.append((c.name.as_str(), extra_column(py, &c.values)?))?;
    }
    Ok(out)
}

/// The tracks as `(name, column)` pairs: `track_id, frame, x_mm, z_mm, vx_mm_s, vz_mm_s`
/// (the tracks CSV), tracks in order, points in order.
pub fn tracks_to_py<'py>(py: Python<'py>, tracks: &Tracks) -> PyResult<Bound<'py, PyList>> {
    let n = tracks.n_points();
    let (mut id, mut frame) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let mut cols: [Vec<f64>; 4] = std::array::from_fn(|_| Vec::with_capacity(n));
    for t in &tracks.tracks {
        for p in &t.points {
            id.push(t.id as i64);
            frame.push(i64::from(p.frame));
            for (c, v) in cols.iter_mut().zip([p.x_mm, p.z_mm, p.vx_mm_s, p.vz_mm_s]) {
                c.push(v);
            }
        }
    }
    let out = PyList::empty(py);
    out.append(("track_id", id.into_pyarray(py)))?;
    out.append(("frame", frame.into_pyarray(py)))?;
    for (name, c) in ["x_mm", "z_mm", "vx_mm_s", "vz_mm_s"].into_iter().zip(cols) {
        out.append((name, c.into_pyarray(py)))?;
    }
    Ok(out)
}
