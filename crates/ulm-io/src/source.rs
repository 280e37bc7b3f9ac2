//! Format detection, the raw block reader behind every format, and the public entry
//! points [`read_frames`] / [`open_frames`].

use std::ops::Range;
use std::path::{Path, PathBuf};

use ulm_core::{FrameData, FrameSource, FrameStack, Geometry};

use crate::convert::{DType, first_non_finite};
use crate::meta::{read_meta, sidecar_path};
use crate::{AxisOrder, Error, Result};

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

/// A frame file opened for reading, without geometry: what `ulm info` needs, and what
/// [`open_frames`] wraps.
pub struct RawFrames {
    info: FrameInfo,
    reader: Box<dyn BlockReader>,
    allow_non_finite: bool,
}

impl std::fmt::Debug for RawFrames {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawFrames").field("info", &self.info).finish_non_exhaustive()
    }
}

impl RawFrames {
    /// Opens any supported frame file or folder (the format is told by extension and
    /// magic bytes). Nothing but headers is read yet.
    pub fn open(path: &Path, opts: &ReadOptions) -> Result<Self> {
        let (info, reader) = crate::formats::open(path, opts)?;
        let [f, r, c] = info.shape;
        if f == 0 || r == 0 || c == 0 {
            return Err(Error::format(path, format!("empty frame stack: [frames, rows, cols] = [{f}, {r}, {c}]")));
        }
        Ok(Self { info, reader, allow_non_finite: opts.allow_non_finite })
    }

    /// What the file holds.
    pub fn info(&self) -> &FrameInfo {
        &self.info
    }

    /// Frames `start .. start + len` (clamped to the stack) as `[t, z, x]`. Fails on
    /// NaN/Inf samples (naming the frame, row and column) unless allowed.
    pub fn read_block(&mut self, start: usize, len: usize) -> Result<FrameData> {
        let n = self.info.shape[0];
        let a = start.min(n);
        let b = start.saturating_add(len).min(n);
        if a == b {
            let [_, r, c] = self.info.shape;
            return Ok(if self.info.is_complex() {
                FrameData::Complex(ndarray::Array3::zeros((0, r, c)))
            } else {
                FrameData::Real(ndarray::Array3::zeros((0, r, c)))
            });
        }
        let data = self.reader.read(a..b)?;
        debug_assert_eq!(data.shape(), [b - a, self.info.shape[1], self.info.shape[2]]);
        if !self.allow_non_finite
            && let Some((f, r, c)) = first_non_finite(&data)
        {
            return Err(Error::data(&self.info.path, ulm_core::Error::NonFinite { frame: a + f, row: r, col: c }));
        }
        Ok(data)
    }

    /// Every frame.
    pub fn read_all(&mut self) -> Result<FrameData> {
        self.read_block(0, self.info.shape[0])
    }
}

/// Opens a frame file without needing its geometry (see [`RawFrames`]).
pub fn open_raw(path: &Path, opts: &ReadOptions) -> Result<RawFrames> {
    RawFrames::open(path, opts)
}

/// The sidecar that applies to `frames`: `opts.meta`, else `meta.json` inside a frame
/// folder or next to a frame file.
pub fn meta_path_for(frames: &Path, opts: &ReadOptions) -> PathBuf {
    match &opts.meta {
        Some(m) => m.clone(),
        None if frames.is_dir() => frames.join("meta.json"),
        None => sidecar_path(frames),
    }
}

/// The geometry of `info`'s frames from their sidecar: `Ok(None)` when no sidecar exists
/// (and none was named), an error when one exists but is invalid or disagrees with the
/// frames (optional `n_frames`, `rows`, `cols` keys are checked when present).
pub fn find_geometry(info: &FrameInfo, opts: &ReadOptions) -> Result<Option<(PathBuf, Geometry)>> {
    let mp = meta_path_for(&info.path, opts);
    if opts.meta.is_none() && !mp.is_file() {
        return Ok(None);
    }
    let meta = read_meta(&mp)?;
    let g = meta.geometry(&mp)?;
    for (key, have, want) in [
        ("n_frames", meta.n_frames, info.shape[0]),
        ("rows", meta.rows, info.shape[1]),
        ("cols", meta.cols, info.shape[2]),
    ] {
        if let Some(v) = have.filter(|&v| v != want) {
            return Err(Error::format(&mp, format!("`{key}` is {v} but {} has {want} {key}", info.path.display())));
        }
    }
    Ok(Some((mp, g)))
}

fn require_geometry(info: &FrameInfo, opts: &ReadOptions) -> Result<Geometry> {
    match find_geometry(info, opts)? {
        Some((_, g)) => Ok(g),
        None => Err(Error::format(
            &info.path,
            format!(
                "no geometry: {} not found; put a meta.json (frame_rate_hz, pixel_size_x_mm, pixel_size_z_mm, \
                 x0_mm, z0_mm, wavelength_mm) next to the frames or give one with --meta",
                meta_path_for(&info.path, opts).display()
            ),
        )),
    }
}

/// Reads a whole frame stack (any supported format) with its geometry from the sidecar.
pub fn read_frames(path: &Path, opts: &ReadOptions) -> Result<FrameStack> {
    let mut raw = RawFrames::open(path, opts)?;
    let g = require_geometry(raw.info(), opts)?;
    let data = raw.read_all()?;
    FrameStack::new(data, g).map_err(|e| Error::data(path, e))
}

/// Opens a frame file for streaming: blocks of frames are read (from a memory map or an
/// HDF5 hyperslab where the format allows) only when asked for.
pub fn open_frames(path: &Path, opts: &ReadOptions) -> Result<Box<dyn FrameSource + Send>> {
    let raw = RawFrames::open(path, opts)?;
    let geometry = require_geometry(raw.info(), opts)?;
    Ok(Box::new(FileSource { raw, geometry }))
}

struct FileSource {
    raw: RawFrames,
    geometry: Geometry,
}

impl FrameSource for FileSource {
    fn shape(&self) -> [usize; 3] {
        self.raw.info.shape
    }
    fn geometry(&self) -> &Geometry {
        &self.geometry
    }
    fn is_complex(&self) -> bool {
        self.raw.info.is_complex()
    }
    fn read_block(&mut self, start: usize, len: usize) -> ulm_core::Result<FrameStack> {
        let data = self.raw.read_block(start, len).map_err(|e| ulm_core::Error::Read(e.to_string()))?;
        FrameStack::new(data, self.geometry)
    }
}
