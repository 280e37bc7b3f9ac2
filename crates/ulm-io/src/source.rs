//! The public entry points over every format's block reader: [`RawFrames`] (headers,
//! then blocks of frames, no geometry), [`read_frames`] / [`open_frames`] (with the
//! geometry of the `meta.json` sidecar).

use std::path::{Path, PathBuf};

use ulm_core::{FrameData, FrameSource, FrameStack, Geometry};

use crate::convert::first_non_finite;
use crate::meta::{read_meta, sidecar_path};
use crate::reader::{BlockReader, FrameInfo, ReadOptions};
use crate::{Error, Result};

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
