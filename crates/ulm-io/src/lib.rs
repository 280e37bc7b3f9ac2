//! Readers and writers of **ulm**'s interchange formats.
//!
//! **Frames** ([`read_frames`], streaming [`open_frames`], geometry-free [`open_raw`]):
//! `.npy` (float32/64, complex64/128, int16/32, uint8/16; C or Fortran order; memory-mapped
//! and converted block by block), MATLAB `.mat` v5 (compressed or not) and v7.3, plain
//! HDF5 (`--dataset`, complex compounds `{real, imag}` / `{r, i}`, hyperslab reads), a
//! folder of PNG/TIFF frames or a multi-page TIFF. [`AxisOrder`] says what the stored axes
//! mean (PALA's MATLAB `IQ` is [`AxisOrder::Zxt`]); everything comes out as
//! `[frames, rows = z, cols = x]`. The geometry comes from the `meta.json` sidecar next to
//! the frames ([`Meta`]) or one named in [`ReadOptions::meta`].
//!
//! **Tables**: localization / ground-truth / track tables with stable columns (extra columns
//! kept), as CSV or Apache Parquet chosen by the file extension ([`read_localizations`],
//! [`write_tracks`], [`TableFormat`]); streamed frame by frame with [`LocalizationFrames`] and
//! [`TracksWriter`] (reading, linking and writing at once). **Maps**: [`write_npy`], [`read_npy_f32`], PNG and TIFF writers.
//!
//! Every writer writes to a temporary file in the destination folder and renames it into
//! place ([`atomic_write`]), so a crash never leaves a half-written result or destroys a
//! previous one. Every error names the file and the problem.
//!
//! ```
//! use ndarray::Array3;
//! use ulm_core::{FrameSource, Geometry};
//! use ulm_io::{Meta, ReadOptions};
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("frames.npy");
//! let a = Array3::<f32>::from_shape_fn((4, 3, 2), |(f, r, c)| (f * 100 + r * 10 + c) as f32);
//! ulm_io::write_npy(&path, &a).unwrap();
//! let g = Geometry::new(0.1, 0.1, -0.05, 2.0, 0.2, 1000.0).unwrap();
//! ulm_io::write_meta(&dir.path().join("meta.json"), &Meta::from_geometry(&g)).unwrap();
//!
//! let stack = ulm_io::read_frames(&path, &ReadOptions::default()).unwrap();
//! assert_eq!(stack.shape(), [4, 3, 2]);
//! assert_eq!(stack.geometry(), &g);
//!
//! // The same frames, two at a time, from a memory map.
//! let mut src = ulm_io::open_frames(&path, &ReadOptions::default()).unwrap();
//! assert_eq!(src.read_block(2, 2).unwrap(), stack.slice_frames(2, 2));
//! ```

mod atomic;
mod axis;
pub mod coco;
mod convert;
mod csv_table;
mod error;
mod formats;
mod frames_write;
mod h5;
mod images;
mod mat5;
mod meta;
mod npy_read;
mod npy_write;
mod parquet_table;
mod png_write;
mod reader;
mod source;
mod table;
mod table_stream;
mod tiff_write;

pub use atomic::{atomic_write, atomic_write_bytes};
pub use axis::AxisOrder;
pub use convert::DType;
pub use csv_table::{TRACK_POSITION_DECIMALS, TRACK_VELOCITY_DECIMALS};
pub use error::{Error, Result};
pub use formats::detect_format;
pub use frames_write::write_frames_npy;
pub use meta::{Meta, read_meta, sidecar_path, write_meta};
pub use npy_read::{NpyHeader, parse_npy_header, read_npy_f32};
pub use npy_write::{NpyElement, NpyStreamWriter, write_npy};
pub use png_write::{write_png_gray8, write_png_rgb8};
pub use reader::{Format, FrameInfo, ReadOptions};
pub use source::{RawFrames, find_geometry, meta_path_for, open_frames, open_raw, read_frames};
pub use table::{TableFormat, read_localizations, read_tracks, write_localizations, write_tracks};
pub use table_stream::{LocalizationFrames, TracksWriter};
pub use tiff_write::{write_tiff_f32, write_tiff_u16};
