//! Readers and writers of **ulm**'s interchange formats.
//!
//! Every writer writes to a temporary file in the destination folder and renames it into
//! place ([`atomic_write`]), so a crash never leaves a half-written result or destroys a
//! previous one. Every error names the file and the problem.
//!
//! ```
//! use ndarray::Array3;
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("frames.npy");
//! let a = Array3::<f32>::from_shape_fn((2, 3, 4), |(f, r, c)| (f * 100 + r * 10 + c) as f32);
//! ulm_io::write_npy(&path, &a).unwrap();
//! assert!(path.exists());
//! ```

mod atomic;
mod csv_table;
mod error;
mod meta;
mod npy_write;
mod png_write;

pub use atomic::{atomic_write, atomic_write_bytes};
pub use csv_table::{read_localizations, read_tracks, write_localizations, write_tracks};
pub use error::{Error, Result};
pub use meta::{Meta, read_meta, sidecar_path, write_meta};
pub use npy_write::{NpyElement, write_npy};
pub use png_write::{write_png_gray8, write_png_rgb8};
