//! Clutter filtering of ultrasound frame stacks: the SVD (space × time) filter that
//! separates slowly moving tissue from microbubbles, and an optional zero-phase temporal
//! Butterworth band-pass.
//!
//! Long acquisitions are processed in blocks of frames ([`SvdConfig::block_frames`]), each
//! with its own SVD, so memory stays bounded by the block size. The streaming core is
//! [`svd_filter_blocks`], an iterator over the filtered blocks of a
//! [`FrameSource`](ulm_core::FrameSource); [`svd_filter_source`] drives it into a sink
//! (e.g. a streaming `.npy` writer) and [`svd_filter`] into a stack in memory.
//!
//! ```
//! use ndarray::Array3;
//! use ulm_clutter::{Cutoff, SvdConfig, svd_filter};
//! use ulm_core::{Complex32, FrameStack, Geometry, NoProgress};
//!
//! // A static "tissue" pattern plus a blinking pixel where the tissue is dark. Tissue and
//! // bubble are orthogonal in space and time, so removing the first singular component
//! // removes the tissue exactly and keeps the bubble's blinking (its mean goes too).
//! let frames = Array3::from_shape_fn((20, 6, 5), |(t, r, c)| {
//!     let bubble_px = (r, c) == (2, 3);
//!     let tissue = if bubble_px { 0.0 } else { 100.0 * (1.0 + (r * 5 + c) as f32).sin() };
//!     let bubble = if bubble_px && t % 2 == 0 { 1.0 } else { 0.0 };
//!     Complex32::new(tissue + bubble, 0.0)
//! });
//! let g = Geometry::new(0.1, 0.1, 0.0, 0.0, 0.2, 1000.0).unwrap();
//! let stack = FrameStack::from_complex(frames, g).unwrap();
//! let cfg = SvdConfig { cutoff: Cutoff::Fixed { low: 2, high: None }, block_frames: 1000 };
//! let (out, reports) = svd_filter(&stack, &cfg, &NoProgress).unwrap();
//! let env = out.envelope();
//! assert!(env[[0, 0, 0]] < 1e-3); // tissue gone
//! assert!((env[[0, 2, 3]] - 0.5).abs() < 1e-3); // bubble's blinking part kept
//! assert_eq!(reports[0].low, 2);
//! ```

pub mod bandpass;
mod stream;
pub mod svd;

use ndarray::Array3;
use num_complex::Complex32;
use ulm_core::{FrameData, FrameStack, Progress};

pub use bandpass::{BandPassConfig, bandpass};
pub use stream::{FilteredBlock, SvdBlocks, svd_filter_blocks, svd_filter_source};
pub use svd::{BlockReport, Cutoff, SvdBasis, SvdConfig, auto_low_cutoff, block_ranges, svd_filter_block};

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
pub enum ClutterError {
    /// A setting is out of range or does not fit the data.
    #[error("invalid clutter-filter setting: {0}")]
    Config(String),
    /// The eigendecomposition failed.
    #[error("SVD failed: {0}")]
    Numerical(String),
    /// Reading a block of frames from the source failed (first frame of the block).
    #[error("reading frames {0}..: {1}")]
    Read(usize, ulm_core::Error),
}

/// SVD-filters a whole stack block by block. Complex input stays complex; real input is
/// filtered as complex with zero imaginary part and returned real. Returns the filtered
/// stack and one report per block.
pub fn svd_filter(
    stack: &FrameStack,
    cfg: &SvdConfig,
    progress: &dyn Progress,
) -> Result<(FrameStack, Vec<BlockReport>), ClutterError> {
    let [nf, rows, cols] = stack.shape();
    let mut out = Array3::<Complex32>::zeros((nf, rows, cols));
    let reports = svd_filter_source::<ClutterError>(&mut stream::StackSource(stack), cfg, progress, |b| {
        stream::assign(&mut out, b);
        Ok(())
    })?;
    let g = *stack.geometry();
    let data = if stack.is_complex() { FrameData::Complex(out) } else { FrameData::Real(out.mapv(|c| c.re)) };
    Ok((FrameStack::new(data, g).expect("geometry already valid"), reports))
}

/// Band-passes a stack along time (frame rate from its geometry). Real stacks stay real.
pub fn bandpass_stack(stack: &mut FrameStack, cfg: &BandPassConfig) -> Result<(), ClutterError> {
    let fs = stack.geometry().frame_rate_hz;
    match stack.data_mut() {
        FrameData::Complex(a) => bandpass(a, cfg, fs),
        FrameData::Real(a) => {
            let mut c = a.mapv(|v| Complex32::new(v, 0.0));
            bandpass(&mut c, cfg, fs)?;
            *a = c.mapv(|v| v.re);
            Ok(())
        }
    }
}
