//! What every frame reader shares, and nothing else: the read options, the format and
//! header description of a frame file ([`FrameInfo`]), the block-reader trait each format
//! implements, and the 2-D → 3-D shape rule. A leaf: the format readers (`npy_read`,
//! `mat5`, `h5`, `images`) build on it, `formats` dispatches to them and `source` wraps
//! them with geometry, so no module imports one that imports it back.

use std::ops::Range;
use std::path::{Path, PathBuf};

use ulm_core::FrameData;

use crate::axis::AxisOrder;
use crate::convert::DType;
use crate::error::{Error, Result};

/// Options of every frame reader.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReadOptions {
    /// Variable / dataset name inside `.mat` and `.h5` files (e.g. `IQ`, or `group/IQ`).
    /// When `None`, the only 2-D/3-D numeric variable is used (or `IQ` if there are several).
    pub dataset: Option<String>,
    /// Meaning of the stored axes; default `[frames, z, x]`.
    pub axis_order: AxisOrder,
    /// Sidecar to use instead of `meta.json` next to the frames.
    pub meta: Option<PathBuf>,
    /// Accept NaN / Inf samples instead of failing.
    pub allow_non_finite: bool,
}

/// File formats that hold frame stacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// NumPy `.npy`.
    Npy,
    /// MATLAB `.mat` level 5 (v5, v6, v7).
    MatV5,
    /// MATLAB `.mat` v7.3 (HDF5 inside).
    MatV73,
    /// Plain HDF5 (`.h5`, `.hdf5`).
    Hdf5,
    /// A folder of PNG or TIFF frames, one per file, in natural name order.
    ImageFolder,
    /// A single PNG image (one frame).
    Png,
    /// A TIFF file, one frame per page.
    Tiff,
}

impl Format {
    /// Human-readable name.
    pub fn name(self) -> &'static str {
        match self {
            Format::Npy => "NPY",
            Format::MatV5 => "MATLAB v5 MAT-file",
            Format::MatV73 => "MATLAB v7.3 MAT-file (HDF5)",
            Format::Hdf5 => "HDF5",
            Format::ImageFolder => "image folder",
            Format::Png => "PNG",
            Format::Tiff => "TIFF",
        }
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What a frame file holds, before any sample is read.
#[derive(Debug, Clone, PartialEq)]
pub struct FrameInfo {
    /// The file (or folder) read.
    pub path: PathBuf,
    /// Its format.
    pub format: Format,
    /// Variable / dataset read, for `.mat` and `.h5`.
    pub variable: Option<String>,
    /// Sample type on disk.
    pub dtype: DType,
    /// Shape as stored (NumPy shape, MATLAB `size()`; for images `[frames, rows, cols]`).
    pub stored_shape: Vec<usize>,
    /// Whether the stored data is column-major (Fortran / MATLAB order).
    pub fortran_order: bool,
    /// Meaning of the stored axes.
    pub axis_order: AxisOrder,
    /// `[frames, rows = z, cols = x]` after reordering.
    pub shape: [usize; 3],
}

impl FrameInfo {
    /// Whether the samples are complex.
    pub fn is_complex(&self) -> bool {
        self.dtype.is_complex()
    }

    /// Bytes the frames take in memory once read (float32 or complex64 samples).
    pub fn memory_bytes(&self) -> usize {
        self.shape.iter().product::<usize>() * if self.is_complex() { 8 } else { 4 }
    }
}

/// A format's block reader: frames `range` (already clamped) as `[t, z, x]`.
pub(crate) trait BlockReader: Send {
    fn read(&mut self, frames: Range<usize>) -> Result<FrameData>;
}

/// A stored 2-D or 3-D shape as 3-D (a single frame gains a frame axis of length 1).
/// `what` (e.g. "variable `IQ`: ") prefixes the error message.
pub(crate) fn as_3d(path: &Path, shape: &[usize], order: AxisOrder, what: &str) -> Result<[usize; 3]> {
    match *shape {
        [a, b, c] => Ok([a, b, c]),
        [a, b] => Ok(order.expand_2d([a, b])),
        _ => Err(Error::format(
            path,
            format!(
                "{what}expected a 2-D frame or a 3-D stack of frames, found a {}-D array of shape {shape:?}",
                shape.len()
            ),
        )),
    }
}
