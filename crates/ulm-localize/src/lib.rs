//! Classical microbubble localizers: the baselines that learned localizers are compared
//! against.
//!
//! A [`Localizer`] (the interface every method implements, from `ulm-core`) turns
//! envelope frames into [`Detection`]s in mm. The streaming core is
//! [`localize_blocks`]: an iterator that reads a [`FrameSource`] one block of frames at
//! a time and localizes each block (memory bounded by one block, whatever the length of
//! the acquisition); [`localize_source`] collects it into the localization table, and
//! [`localize`] does the same for a [`FrameStack`] already in memory.
//! [`ClassicalLocalizer`] detects candidates ([`detect`]: regional maxima, threshold,
//! top-N, separation, border margin, PALA's crowded-patch rejection) and refines each with
//! a sub-pixel [`Method`]: `no-shift`, `centroid`, `gaussian` (Levenberg–Marquardt),
//! `radial` (Parthasarathy's radial symmetry), `interp` (Lanczos-3 upsampling) or `morph`
//! (threshold, connected component, centroid).
//!
//! ```
//! use ndarray::Array3;
//! use ulm_core::{FrameStack, Geometry, NoProgress};
//! use ulm_localize::{ClassicalConfig, ClassicalLocalizer, Method, localize};
//!
//! // One bubble at (col 10.3, row 7.8) on a 20 × 24 frame.
//! let frames = Array3::from_shape_fn((1, 20, 24), |(_, r, c)| {
//!     let (x, z) = (c as f32 - 10.3, r as f32 - 7.8);
//!     (-(x * x + z * z) / 2.0).exp()
//! });
//! let g = Geometry::new(0.05, 0.05, 0.0, 1.0, 0.1, 1000.0).unwrap();
//! let stack = FrameStack::from_real(frames, g).unwrap();
//! let loc = ClassicalLocalizer::new(ClassicalConfig::new(Method::Radial)).unwrap();
//! let table = localize(&stack, &loc, &NoProgress);
//! assert_eq!(table.len(), 1);
//! assert!((table.x_mm[0] - 10.3 * 0.05).abs() < 0.002);
//! assert!((table.z_mm[0] - (1.0 + 7.8 * 0.05)).abs() < 0.002);
//! ```

mod classical;
pub mod detect;
pub mod estimators;
mod stream;
pub mod temporal;

pub use classical::{ClassicalConfig, ClassicalLocalizer};
pub use detect::DetectConfig;
pub use estimators::Method;
pub use stream::{LocalizeBlocks, LocalizedBlock, localize, localize_blocks, localize_source};
pub use temporal::TemporalSupport;
pub use ulm_core::{Detection, Localizer};

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
pub enum LocalizeError {
    /// A setting is out of range.
    #[error("invalid localizer setting: {0}")]
    Config(String),
    /// Reading frames from the source failed.
    #[error("reading frames {start}..: {source}")]
    Read {
        /// First frame of the block that failed.
        start: usize,
        /// The source's error.
        source: ulm_core::Error,
    },
}
