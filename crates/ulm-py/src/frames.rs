//! Frame stacks between NumPy and the library: borrowed views in (no copy, any strides),
//! owned arrays moved out.

use ndarray::{ArrayView3, s};
use numpy::{PyArray3, PyArrayMethods as _, PyReadonlyArray3, ToPyArray as _};
use pyo3::prelude::*;
use ulm_core::{Complex32, FrameData, FrameSource, FrameStack, Geometry};

use crate::errors;

/// A `[frames, z, x]` stack borrowed from NumPy: float32 (envelope or real frames) or
/// complex64 (IQ).
pub enum FramesIn<'py> {
    /// float32 frames.
    Real(PyReadonlyArray3<'py, f32>),
    /// complex64 IQ frames.
    Complex(PyReadonlyArray3<'py, Complex32>),
}

impl<'py> FramesIn<'py> {
    /// Borrows `obj`, which must be a 3-D float32 or complex64 array (the Python layer
    /// converts other dtypes) of finite samples; `name` (the Python argument) is named in
    /// the errors.
    pub fn borrow(obj: &Bound<'py, PyAny>, name: &str) -> PyResult<Self> {
        let input = if let Ok(a) = obj.cast::<PyArray3<f32>>() {
            Self::Real(a.try_readonly()?)
        } else if let Ok(a) = obj.cast::<PyArray3<Complex32>>() {
            Self::Complex(a.try_readonly()?)
        } else {
            return Err(errors::invalid(format!(
                "{name} must be a 3-D array [frames, z, x] of float32 or complex64 (ulm's Python functions convert \
                 other numeric dtypes)"
            )));
        };
        input.view().check_finite(name)?;
        Ok(input)
    }

    /// The borrowed samples.
    pub fn view(&self) -> FramesView<'_> {
        match self {
            Self::Real(a) => FramesView::Real(a.as_array()),
            Self::Complex(a) => FramesView::Complex(a.as_array()),
        }
    }
}

/// A borrowed `[frames, z, x]` stack; `Send`, so it can cross into `Python::detach`.
#[derive(Clone, Copy)]
pub enum FramesView<'a> {
    /// float32 frames.
    Real(ArrayView3<'a, f32>),
    /// complex64 IQ frames.
    Complex(ArrayView3<'a, Complex32>),
}

impl FramesView<'_> {
    /// An error naming `name` and the first NaN or infinite sample, if any (files have
    /// `ulm.read(allow_non_finite=…)`; an array in memory is the caller's to clean).
    pub fn check_finite(&self, name: &str) -> PyResult<()> {
        let first = match self {
            Self::Real(a) => a.indexed_iter().find(|(_, v)| !v.is_finite()).map(|(i, v)| (i, v.to_string())),
            Self::Complex(a) => {
                a.indexed_iter().find(|(_, v)| !(v.re.is_finite() && v.im.is_finite())).map(|(i, v)| (i, v.to_string()))
            }
        };
        match first {
            None => Ok(()),
            Some(((f, r, c), v)) => Err(errors::invalid(format!(
                "{name}: sample [frame {f}, z {r}, x {c}] is {v}: frames must be finite (replace NaN/inf first, e.g. \
                 numpy.nan_to_num)"
            ))),
        }
    }

    /// `[frames, rows, cols]`.
    pub fn shape(&self) -> [usize; 3] {
        let d = match self {
            Self::Real(a) => a.dim(),
            Self::Complex(a) => a.dim(),
        };
        [d.0, d.1, d.2]
    }

    /// Frames `start..start + len` (clamped) as an owned stack.
    pub fn block(&self, start: usize, len: usize, geometry: Geometry) -> ulm_core::Result<FrameStack> {
        let n = self.shape()[0];
        let (a, b) = (start.min(n), (start + len).min(n));
        let data = match self {
            Self::Real(v) => FrameData::Real(v.slice(s![a..b, .., ..]).to_owned()),
            Self::Complex(v) => FrameData::Complex(v.slice(s![a..b, .., ..]).to_owned()),
        };
        FrameStack::new(data, geometry)
    }
}

/// [`FrameSource`] over a borrowed NumPy stack: each block read copies only that block,
/// so the library's streaming loops hold one block at a time, as they do on a file.
pub struct ViewSource<'a> {
    /// The samples.
    pub view: FramesView<'a>,
    /// Their geometry.
    pub geometry: Geometry,
}

impl FrameSource for ViewSource<'_> {
    fn shape(&self) -> [usize; 3] {
        self.view.shape()
    }
    fn geometry(&self) -> &Geometry {
        &self.geometry
    }
    fn is_complex(&self) -> bool {
        matches!(self.view, FramesView::Complex(_))
    }
    fn read_block(&mut self, start: usize, len: usize) -> ulm_core::Result<FrameStack> {
        self.view.block(start, len, self.geometry)
    }
}

/// Moves a stack's samples into a NumPy array (float32 or complex64) without copying
/// when the array is in standard layout.
pub fn to_numpy<'py>(py: Python<'py>, data: FrameData) -> Bound<'py, PyAny> {
    use numpy::IntoPyArray as _;
    match data {
        FrameData::Real(a) if a.is_standard_layout() => a.into_pyarray(py).into_any(),
        FrameData::Complex(a) if a.is_standard_layout() => a.into_pyarray(py).into_any(),
        FrameData::Real(a) => a.to_pyarray(py).into_any(),
        FrameData::Complex(a) => a.to_pyarray(py).into_any(),
    }
}
