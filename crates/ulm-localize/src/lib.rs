//! Classical microbubble localizers: the baselines that learned localizers are compared
//! against.
//!
//! A [`Localizer`] turns one envelope frame into bubble positions in mm; [`localize`] runs
//! one over a whole [`FrameStack`] in parallel (rayon) and returns the localization table.
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

use ndarray::{ArrayView2, Axis};
use rayon::prelude::*;
use ulm_core::{FrameData, FrameStack, Geometry, Localizations, Progress};

pub use classical::{ClassicalConfig, ClassicalLocalizer};
pub use detect::DetectConfig;
pub use estimators::Method;

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
pub enum LocalizeError {
    /// A setting is out of range.
    #[error("invalid localizer setting: {0}")]
    Config(String),
}

/// One localized bubble.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detection {
    /// Lateral position, mm.
    pub x_mm: f64,
    /// Depth, mm.
    pub z_mm: f64,
    /// Confidence or intensity (for classical localizers: envelope at the candidate pixel).
    pub score: f32,
}

/// Anything that localizes bubbles in one envelope frame.
pub trait Localizer: Sync {
    /// Short name (e.g. `radial`), written into configs and reports.
    fn name(&self) -> &str;

    /// Bubbles in `frame` (`[rows = z, cols = x]`, envelope), positions in mm.
    fn localize_frame(&self, frame: ArrayView2<'_, f32>, frame_index: u32, geometry: &Geometry) -> Vec<Detection>;
}

/// Runs `localizer` on every frame of `stack` (complex frames are localized on their
/// envelope), in parallel over frames. Rows come out sorted by frame.
pub fn localize(stack: &FrameStack, localizer: &dyn Localizer, progress: &dyn Progress) -> Localizations {
    progress.set_total(stack.n_frames() as u64);
    let out = localize_block(stack, localizer, progress);
    progress.finish();
    out
}

/// [`localize`] for one block of a longer acquisition: frame indices start at 0 within
/// the block, and `progress` is only advanced (one step per frame), never reset.
pub fn localize_block(stack: &FrameStack, localizer: &dyn Localizer, progress: &dyn Progress) -> Localizations {
    let g = *stack.geometry();
    let per_frame: Vec<Vec<Detection>> = (0..stack.n_frames())
        .into_par_iter()
        .map(|f| {
            let d = match stack.data() {
                FrameData::Real(a) => localizer.localize_frame(a.index_axis(Axis(0), f), f as u32, &g),
                FrameData::Complex(a) => {
                    let env = a.index_axis(Axis(0), f).mapv(|c| c.norm());
                    localizer.localize_frame(env.view(), f as u32, &g)
                }
            };
            progress.inc(1);
            d
        })
        .collect();
    let mut out = Localizations::with_capacity(per_frame.iter().map(Vec::len).sum());
    for (f, dets) in per_frame.into_iter().enumerate() {
        for d in dets {
            out.push(f as u32, d.x_mm, d.z_mm, d.score);
        }
    }
    out
}
