//! The one interface every localization method implements — classical estimators in
//! `ulm-localize`, DETR / Deformable DETR in `ulm-detr`, later the U-Net — and the one
//! [`Detection`] type they all return.

use ndarray::{ArrayView2, ArrayView3, Axis};
use rayon::prelude::*;

use crate::{Geometry, Localizations};

/// One localized microbubble, in mm, with the frame it was found in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detection {
    /// Frame index (0-based, in the whole acquisition).
    pub frame: u32,
    /// Lateral position, mm.
    pub x_mm: f64,
    /// Depth, mm.
    pub z_mm: f64,
    /// Confidence or intensity (classical localizers: envelope at the candidate pixel;
    /// detectors: class probability in `[0, 1]`).
    pub score: f32,
    /// Box size `(w_mm, h_mm)` (lateral, depth) for detectors that predict one.
    pub size_mm: Option<(f64, f64)>,
}

impl Detection {
    /// A detection without a box size.
    pub fn new(frame: u32, x_mm: f64, z_mm: f64, score: f32) -> Self {
        Self { frame, x_mm, z_mm, score, size_mm: None }
    }
}

/// Anything that localizes microbubbles in envelope frames.
///
/// Implement [`Localizer::localize_frame`]; override [`Localizer::localize_frames`] when
/// the method is cheaper per frame in batches. A learned detector tiles each frame into
/// overlapping patches and runs the network on a batch of patches per call: many frames
/// per call fill a batch (and amortise the per-call cost of the backend) where one frame
/// at a time would leave it mostly empty. The streaming loops (`ulm-localize`'s
/// `localize_blocks`) therefore hand a localizer a whole block of frames at once, and
/// the default implementation splits it back into frames, in parallel over frames.
pub trait Localizer: Sync {
    /// Short name (e.g. `radial`, `de-detr`), written into configs and reports.
    fn name(&self) -> &str;

    /// Bubbles in one `frame` (`[rows = z, cols = x]`, envelope) whose index in the
    /// acquisition is `frame_index`; every returned [`Detection::frame`] is `frame_index`.
    fn localize_frame(&self, frame: ArrayView2<'_, f32>, frame_index: u32, geometry: &Geometry) -> Vec<Detection>;

    /// Bubbles in consecutive `frames` (`[n, rows, cols]`, envelope), the first of which
    /// is frame `first_frame` of the acquisition. Detections come out sorted by frame.
    /// Default: [`Localizer::localize_frame`] on each frame, in parallel over frames.
    fn localize_frames(&self, frames: ArrayView3<'_, f32>, first_frame: u32, geometry: &Geometry) -> Vec<Detection> {
        let per_frame: Vec<Vec<Detection>> = (0..frames.len_of(Axis(0)))
            .into_par_iter()
            .map(|i| self.localize_frame(frames.index_axis(Axis(0), i), first_frame + i as u32, geometry))
            .collect();
        per_frame.into_iter().flatten().collect()
    }
}

impl Localizations {
    /// Appends detections as rows. The box columns `w_mm`, `h_mm` appear as soon as one
    /// detection has a size (earlier or size-less rows get NaN there).
    pub fn extend_detections(&mut self, detections: &[Detection]) {
        let n0 = self.len();
        if self.w_mm.is_none() && detections.iter().any(|d| d.size_mm.is_some()) {
            self.w_mm = Some(vec![f64::NAN; n0]);
            self.h_mm = Some(vec![f64::NAN; n0]);
        }
        for d in detections {
            self.push(d.frame, d.x_mm, d.z_mm, d.score);
            let (w, h) = d.size_mm.unwrap_or((f64::NAN, f64::NAN));
            if let Some(col) = self.w_mm.as_mut() {
                col.push(w);
            }
            if let Some(col) = self.h_mm.as_mut() {
                col.push(h);
            }
        }
    }

    /// The table of `detections` (in their order).
    pub fn from_detections(detections: &[Detection]) -> Self {
        let mut out = Self::with_capacity(detections.len());
        out.extend_detections(detections);
        out
    }
}

#[cfg(test)]
mod tests {
    use ndarray::Array3;

    use super::*;

    /// Reports the brightest pixel of each frame, at its pixel centre.
    struct Brightest;

    impl Localizer for Brightest {
        fn name(&self) -> &str {
            "brightest"
        }
        fn localize_frame(&self, frame: ArrayView2<'_, f32>, frame_index: u32, g: &Geometry) -> Vec<Detection> {
            let ((r, c), &v) = frame.indexed_iter().max_by(|a, b| a.1.total_cmp(b.1)).unwrap();
            let (x, z) = g.px_to_mm(c as f64, r as f64);
            vec![Detection::new(frame_index, x, z, v)]
        }
    }

    #[test]
    fn default_batch_is_per_frame_with_absolute_indices() {
        let g = Geometry::new(0.1, 0.2, 1.0, 2.0, 0.2, 100.0).unwrap();
        let mut a = Array3::<f32>::zeros((3, 4, 5));
        a[[0, 1, 2]] = 1.0;
        a[[1, 3, 0]] = 2.0;
        a[[2, 0, 4]] = 3.0;
        let d = Brightest.localize_frames(a.view(), 10, &g);
        assert_eq!(d.iter().map(|d| d.frame).collect::<Vec<_>>(), vec![10, 11, 12]);
        // Frame 11: row 3, col 0 → x = 1.0 mm, z = 2.0 + 3 · 0.2 = 2.6 mm.
        assert_eq!((d[1].x_mm, d[1].score), (1.0, 2.0));
        assert!((d[1].z_mm - 2.6).abs() < 1e-12);
    }

    #[test]
    fn detections_to_table_add_box_columns_when_present() {
        let mut t = Localizations::from_detections(&[Detection::new(0, 1.0, 2.0, 0.5)]);
        assert!(t.w_mm.is_none());
        t.extend_detections(&[Detection { size_mm: Some((0.3, 0.4)), ..Detection::new(1, 3.0, 4.0, 0.9) }]);
        t.validate().unwrap();
        assert_eq!(t.frame, vec![0, 1]);
        let (w, h) = (t.w_mm.unwrap(), t.h_mm.unwrap());
        assert!(w[0].is_nan() && h[0].is_nan());
        assert_eq!((w[1], h[1]), (0.3, 0.4));
    }
}
