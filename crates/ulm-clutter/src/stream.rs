//! The streaming block loop of the SVD filter over a [`FrameSource`], and the
//! convenience calls built on it.

use std::ops::Range;

use ndarray::{Array3, s};
use num_complex::Complex32;
use ulm_core::{FrameData, FrameSource, FrameStack, Geometry, Progress};

use crate::ClutterError;
use crate::svd::{BlockReport, SvdConfig, block_ranges, svd_filter_block};

/// One filtered block of frames.
#[derive(Debug, Clone, PartialEq)]
pub struct FilteredBlock {
    /// Frames of the acquisition this block covers.
    pub frames: Range<usize>,
    /// The filtered frames `[frames.len(), rows, cols]` (complex; the real part is the
    /// filtered signal of real input).
    pub data: Array3<Complex32>,
    /// Components kept and singular values of this block.
    pub report: BlockReport,
}

/// Iterator over the SVD-filtered blocks of a [`FrameSource`]; made by
/// [`svd_filter_blocks`]. Each step reads one block (the ranges of [`block_ranges`],
/// never more than 1.5 × `block_frames` frames), filters it with its own SVD and hands
/// it over, so memory stays bounded by one block whatever the acquisition's length.
pub struct SvdBlocks<'a> {
    source: &'a mut dyn FrameSource,
    cutoff: crate::Cutoff,
    ranges: Vec<Range<usize>>,
    next: usize,
}

impl SvdBlocks<'_> {
    /// Number of blocks.
    pub fn n_blocks(&self) -> usize {
        self.ranges.len()
    }
}

/// SVD-filters `source` block by block: the streaming core under [`svd_filter_source`]
/// and [`crate::svd_filter`].
pub fn svd_filter_blocks<'a>(source: &'a mut dyn FrameSource, cfg: &SvdConfig) -> Result<SvdBlocks<'a>, ClutterError> {
    if cfg.block_frames < 2 {
        return Err(ClutterError::Config(format!("block_frames must be >= 2, got {}", cfg.block_frames)));
    }
    let ranges = block_ranges(source.n_frames(), cfg.block_frames);
    Ok(SvdBlocks { source, cutoff: cfg.cutoff, ranges, next: 0 })
}

impl Iterator for SvdBlocks<'_> {
    type Item = Result<FilteredBlock, ClutterError>;

    fn next(&mut self) -> Option<Self::Item> {
        let r = self.ranges.get(self.next)?.clone();
        self.next += 1;
        let result = (|| {
            let block = self.source.read_block(r.start, r.len()).map_err(|e| ClutterError::Read(r.start, e))?;
            if block.n_frames() != r.len() {
                return Err(ClutterError::Read(
                    r.start,
                    ulm_core::Error::Shape(format!(
                        "asked for {} frames, the source gave {}",
                        r.len(),
                        block.n_frames()
                    )),
                ));
            }
            let data = match block.into_data() {
                FrameData::Complex(a) => a,
                FrameData::Real(a) => a.mapv(|v| Complex32::new(v, 0.0)),
            };
            let (data, report) = svd_filter_block(data.view(), self.cutoff, r.start)?;
            Ok(FilteredBlock { frames: r.clone(), data, report })
        })();
        if result.is_err() {
            self.next = self.ranges.len(); // an error ends the stream
        }
        Some(result)
    }
}

/// SVD-filters a whole [`FrameSource`] block by block, handing each filtered block to
/// `sink` (e.g. a streaming `.npy` writer) and dropping it; returns one report per block.
/// `progress` counts frames.
pub fn svd_filter_source<E: From<ClutterError>>(
    source: &mut dyn FrameSource,
    cfg: &SvdConfig,
    progress: &dyn Progress,
    mut sink: impl FnMut(&FilteredBlock) -> Result<(), E>,
) -> Result<Vec<BlockReport>, E> {
    progress.set_total(source.n_frames() as u64);
    let blocks = svd_filter_blocks(source, cfg)?;
    let n = blocks.n_blocks();
    let mut reports = Vec::with_capacity(n);
    for (i, block) in blocks.enumerate() {
        progress.set_message(&format!("SVD block {}/{n}", i + 1));
        let block = block?;
        sink(&block)?;
        progress.inc(block.frames.len() as u64);
        reports.push(block.report);
    }
    progress.finish();
    Ok(reports)
}

/// A borrowed stack as a [`FrameSource`] (no copy of the whole stack).
pub(crate) struct StackSource<'a>(pub(crate) &'a FrameStack);

impl FrameSource for StackSource<'_> {
    fn shape(&self) -> [usize; 3] {
        self.0.shape()
    }
    fn geometry(&self) -> &Geometry {
        self.0.geometry()
    }
    fn is_complex(&self) -> bool {
        self.0.is_complex()
    }
    fn read_block(&mut self, start: usize, len: usize) -> ulm_core::Result<FrameStack> {
        Ok(self.0.slice_frames(start, len))
    }
}

/// Writes a filtered block into the whole-stack output (used by [`crate::svd_filter`]).
pub(crate) fn assign(out: &mut Array3<Complex32>, block: &FilteredBlock) {
    out.slice_mut(s![block.frames.clone(), .., ..]).assign(&block.data);
}

#[cfg(test)]
mod tests {
    use ndarray::Array3;
    use ulm_core::{BlockGuardSource, NoProgress};

    use super::*;
    use crate::Cutoff;

    #[test]
    fn streaming_filter_holds_one_block_and_matches_in_memory() {
        // Static tissue (rank 1 per block) plus a pixel blinking where the tissue is dark.
        let frames = Array3::from_shape_fn((70, 5, 4), |(t, r, c)| {
            let bubble_px = (r, c) == (1, 2);
            let tissue = if bubble_px { 0.0 } else { 50.0 * (1.0 + (r * 4 + c) as f32).sin() };
            Complex32::new(tissue + if bubble_px && t % 2 == 0 { 1.0 } else { 0.0 }, 0.3 * tissue)
        });
        let g = Geometry::new(0.1, 0.1, 0.0, 0.0, 0.2, 1000.0).unwrap();
        let stack = FrameStack::from_complex(frames, g).unwrap();
        let cfg = SvdConfig { cutoff: Cutoff::Fixed { low: 2, high: None }, block_frames: 16 };
        let (whole, whole_reports) = crate::svd_filter(&stack, &cfg, &NoProgress).unwrap();
        // 70 frames in blocks of 16: 0..16, 16..32, 32..48, 48..70 (the 6-frame tail merges).
        let mut src = BlockGuardSource::new(stack, 23);
        let mut out = Array3::<Complex32>::zeros((70, 5, 4));
        let reports = svd_filter_source::<ClutterError>(&mut src, &cfg, &NoProgress, |b| {
            assign(&mut out, b);
            Ok(())
        })
        .unwrap();
        assert_eq!((src.largest_read(), src.frames_read()), (22, 70));
        assert_eq!(reports.iter().map(|r| r.start_frame).collect::<Vec<_>>(), vec![0, 16, 32, 48]);
        assert_eq!(reports, whole_reports);
        let FrameData::Complex(w) = whole.data() else { panic!("complex in, complex out") };
        assert_eq!(&out, w);
        // Tissue gone, the bubble's blinking (±0.5 around its removed mean) kept.
        assert!(out[[5, 0, 0]].norm() < 1e-3);
        assert!((out[[4, 1, 2]].norm() - 0.5).abs() < 1e-3);
    }
}
