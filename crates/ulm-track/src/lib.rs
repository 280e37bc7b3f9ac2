//! Microbubble tracking: links per-frame localizations into tracks with velocities in
//! mm/s (the paper's Eq. 5–6, after trackpy).
//!
//! * [`Linker`] — the streaming core: one frame at a time, bounded memory.
//! * [`link`] / [`link_with`] — the batch wrappers over a [`Localizations`] table.
//! * [`link_frames`] / [`link_frames_with`] — the streaming loop: frames in, final tracks
//!   out in id order as soon as they close (file-to-file linking overlaps reading, linking
//!   and writing with it).
//! * [`Predictor`] — where to search: [`NoPredictor`] (Brownian), [`VelocityPredictor`]
//!   (Eq. 6, each track's own last step), [`KalmanPredictor`] (constant velocity).
//! * Candidates within the search range come from a [`SpatialIndex`] (a [`KdTree`] or a
//!   uniform [`GridHash`], chosen by [`LinkConfig::index`]; both give the same links); links are the
//!   optimal assignment within each connected subnet (minimum total squared distance,
//!   an unlinked bubble costs `R²`), solved exactly as a linear assignment problem.
//! * Gap memory, minimum track length and velocity rejection ([`LinkConfig`]).
//!
//! ```
//! use ulm_core::{Localizations, NoProgress};
//! use ulm_track::{LinkConfig, PredictorKind, link_with};
//!
//! // One bubble moving 0.05 mm per frame at 500 Hz, one still bubble.
//! let mut locs = Localizations::new();
//! for f in 0..5 {
//!     locs.push(f, 0.05 * f as f64, 3.0, 1.0);
//!     locs.push(f, 2.0, 4.0, 1.0);
//! }
//! let mut cfg = LinkConfig::new(0.2, 500.0);
//! cfg.min_length = 3;
//! let out = link_with(&locs, &cfg, PredictorKind::Velocity, &NoProgress).unwrap();
//! assert_eq!(out.tracks.len(), 2);
//! assert!((out.tracks.tracks[0].points[2].vx_mm_s - 25.0).abs() < 1e-9);
//! ```
//!
//! [`Localizations`]: ulm_core::Localizations

mod config;
mod error;
mod grid;
mod index;
mod kdtree;
mod linker;
pub mod predict;
mod stream;
mod subnet;

pub use config::LinkConfig;
pub use error::TrackError;
pub use grid::GridHash;
pub use index::SpatialIndex;
pub use kdtree::KdTree;
pub use linker::{Linked, Linker, PredictorKind, link, link_with};
pub use predict::{KalmanPredictor, NoPredictor, Predictor, VelocityPredictor};
pub use stream::{StreamStats, link_frames, link_frames_with};
