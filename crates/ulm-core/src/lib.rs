//! Shared data model of **ulm**, the super-resolution ultrasound toolkit.
//!
//! Every stage of the pipeline speaks these types:
//!
//! * [`Geometry`] — pixel size, origin, wavelength and frame rate; the one place where
//!   pixel ↔ mm conversions live.
//! * [`FrameStack`] — a `[frames, rows = z, cols = x]` stack of real (envelope) or complex
//!   (IQ) frames together with its [`Geometry`]; [`FrameSource`] reads stacks block by
//!   block so long acquisitions run in bounded memory.
//! * [`Localizations`] — the localization table (`frame, x_mm, z_mm, score`, optional box
//!   size, extra columns kept verbatim).
//! * [`Localizer`] — the interface of every localization method, returning [`Detection`]s.
//! * [`Tracks`] — linked localizations with velocities in mm/s.
//! * [`Progress`] — how library code reports progress without printing.
//!
//! # Conventions (written down once, used everywhere)
//!
//! * Arrays are `[frames, rows, cols]`; a row is depth `z`, a column is lateral `x`.
//! * Pixel centres sit at integer indices:
//!   `x_mm = x0_mm + col * pixel_size_x_mm`, `z_mm = z0_mm + row * pixel_size_z_mm`.
//!   Pixel `(row, col)` therefore covers `[col - 0.5, col + 0.5)` laterally.
//! * Positions are stored in mm, velocities in mm/s, frame rate in Hz, wavelength in mm.
//!
//! ```
//! use ulm_core::Geometry;
//! let g = Geometry::new(0.1, 0.1, -5.0, 2.0, 0.2, 1000.0).unwrap();
//! assert_eq!(g.col_to_x_mm(10.0), -4.0);
//! assert_eq!(g.x_mm_to_col(-4.0), 10.0);
//! assert_eq!(g.row_to_z_mm(0.0), 2.0);
//! ```

pub mod assignment;
mod error;
mod frames;
mod geometry;
mod localizations;
mod localizer;
mod progress;
mod tracks;

pub use error::{Error, Result, chain_message};
pub use frames::{BlockGuardSource, FrameData, FrameSource, FrameStack, InMemorySource};
pub use geometry::Geometry;
pub use localizations::{ExtraColumn, Localizations};
pub use localizer::{Detection, Localizer};
pub use num_complex::Complex32;
pub use progress::{NoProgress, Progress};
pub use tracks::{Track, TrackPoint, Tracks};
