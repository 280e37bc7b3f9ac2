//! Frames resampled to the pixel pitch a network works at.
//!
//! A detector sees bubbles through features of stride 4 (the `tiny` backbone's finest
//! level): two echoes a few pixels apart fall into one feature cell. On a finer pixel grid
//! the same echoes span more pixels, so a network that learned PSFs of several widths
//! (domain randomisation, resize augmentation) separates closer bubbles there; and a
//! user's frames, sampled at any pitch, reach the network at the pitch it learned. The
//! resampled grid keeps the centre of pixel `(0, 0)` where it was (the pixel-centre
//! convention of [`Geometry`]) and steps by the new pitch; it ends at or before the last
//! input pixel. Values come from separable cubic convolution (Keys 1981, `a = −0.5`;
//! exact for quadratics, a PSF peak keeps its height better than with bilinear
//! interpolation) with the edge pixels repeated, clamped at 0 (an envelope is never
//! negative). Frames finer than the target pitch are sampled without a low-pass filter
//! first; an envelope sampled finer than λ/3 has little above the new Nyquist frequency.

use std::ops::RangeInclusive;

use ndarray::{Array2, Array3, ArrayView2, ArrayView3, ArrayViewMut2, Axis};
use rayon::prelude::*;
use ulm_core::Geometry;

/// The pixel pitches, wavelengths, a detector may resample to (and a model folder may name).
pub const PITCH_RANGE_WAVELENGTHS: RangeInclusive<f64> = 0.05..=2.0;

/// Relative pitch difference below which frames are used as given.
const SAME_PITCH: f64 = 1e-6;

/// Keys' cubic convolution weights of the 4 samples at `floor(t) − 1 … floor(t) + 2`.
fn keys_weights(f: f64) -> [f64; 4] {
    const A: f64 = -0.5;
    let near = |x: f64| ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0;
    let far = |x: f64| ((A * x - 5.0 * A) * x + 8.0 * A) * x - 4.0 * A;
    [far(1.0 + f), near(f), near(1.0 - f), far(2.0 - f)]
}

/// One output sample: 4 input indices (edges repeated) and their weights.
type Tap = ([usize; 4], [f32; 4]);

/// For each of `n_out` outputs stepping `step` input pixels: its [`Tap`].
fn taps(n_in: usize, n_out: usize, step: f64) -> Vec<Tap> {
    (0..n_out)
        .map(|i| {
            let t = i as f64 * step;
            let base = t.floor();
            let w = keys_weights(t - base);
            let idx = |k: isize| (base as isize + k).clamp(0, n_in as isize - 1) as usize;
            ([idx(-1), idx(0), idx(1), idx(2)], w.map(|v| v as f32))
        })
        .collect()
}

/// Resamples frames of one size and geometry onto the grid of another pitch (see the
/// module docs); the taps are computed once.
#[derive(Debug, Clone)]
pub struct Resampler {
    /// Geometry of the resampled frames (the input's, with the new pitch).
    pub geometry: Geometry,
    along_rows: Vec<Tap>,
    along_cols: Vec<Tap>,
    input: (usize, usize),
}

impl Resampler {
    /// For frames of `rows × cols` pixels on `geometry` resampled to `pitch_wavelengths`
    /// (both axes); `None` where both pitches already match it (or a frame is empty).
    pub fn new(rows: usize, cols: usize, geometry: &Geometry, pitch_wavelengths: f64) -> Option<Self> {
        let pitch_mm = pitch_wavelengths * geometry.wavelength_mm;
        let close = |p: f64| ((p - pitch_mm) / pitch_mm).abs() < SAME_PITCH;
        if close(geometry.pixel_size_x_mm) && close(geometry.pixel_size_z_mm) || rows == 0 || cols == 0 {
            return None;
        }
        // The last output pixel lies at or before the last input one (a hair of slack so
        // that an exact multiple is not lost to rounding).
        let n = |len: usize, from: f64| ((len - 1) as f64 * from / pitch_mm + 1e-9).floor() as usize + 1;
        let (out_rows, out_cols) = (n(rows, geometry.pixel_size_z_mm), n(cols, geometry.pixel_size_x_mm));
        Some(Self {
            geometry: Geometry { pixel_size_x_mm: pitch_mm, pixel_size_z_mm: pitch_mm, ..*geometry },
            along_rows: taps(rows, out_rows, pitch_mm / geometry.pixel_size_z_mm),
            along_cols: taps(cols, out_cols, pitch_mm / geometry.pixel_size_x_mm),
            input: (rows, cols),
        })
    }

    /// `(rows, cols)` of a resampled frame.
    pub fn dim(&self) -> (usize, usize) {
        (self.along_rows.len(), self.along_cols.len())
    }

    /// Resamples `frame` (of the size given to [`Resampler::new`]) into `out`
    /// ([`Resampler::dim`]).
    fn apply_into(&self, frame: ArrayView2<'_, f32>, mut out: ArrayViewMut2<'_, f32>) {
        debug_assert_eq!(frame.dim(), self.input);
        // Columns first (each input row), then rows.
        let mut tmp = Array2::<f32>::zeros((self.input.0, self.along_cols.len()));
        for (row, mut t) in frame.outer_iter().zip(tmp.outer_iter_mut()) {
            for (v, (i, w)) in t.iter_mut().zip(&self.along_cols) {
                *v = (0..4).map(|k| w[k] * row[i[k]]).sum();
            }
        }
        for (mut o, (i, w)) in out.outer_iter_mut().zip(&self.along_rows) {
            for (c, v) in o.iter_mut().enumerate() {
                *v = (0..4).map(|k| w[k] * tmp[[i[k], c]]).sum::<f32>().max(0.0);
            }
        }
    }

    /// One resampled frame.
    pub fn apply(&self, frame: ArrayView2<'_, f32>) -> Array2<f32> {
        let mut out = Array2::zeros(self.dim());
        self.apply_into(frame, out.view_mut());
        out
    }

    /// Every frame of `frames` resampled, in parallel over frames, into one stack.
    pub fn apply_stack(&self, frames: ArrayView3<'_, f32>) -> Array3<f32> {
        let (r, c) = self.dim();
        let mut out = Array3::zeros((frames.len_of(Axis(0)), r, c));
        out.outer_iter_mut()
            .into_par_iter()
            .zip(frames.outer_iter().into_par_iter())
            .for_each(|(o, f)| self.apply_into(f, o));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn geom(px: f64) -> Geometry {
        Geometry::new(px, px, -1.0, 2.0, 0.1, 1000.0).unwrap()
    }

    #[test]
    fn grid_keeps_the_origin_and_ends_inside() {
        // 0.05 mm pixels (λ/2) to λ/3: 11 columns span 0.5 mm → 0.5 / (0.1/3) = 15 steps.
        let r = Resampler::new(7, 11, &geom(0.05), 1.0 / 3.0).unwrap();
        assert_eq!(r.dim(), (10, 16));
        let g = r.geometry;
        assert!((g.pixel_size_x_mm - 0.1 / 3.0).abs() < 1e-12 && (g.pixel_size_z_mm - 0.1 / 3.0).abs() < 1e-12);
        assert_eq!((g.x0_mm, g.z0_mm), (-1.0, 2.0));
        assert!(Resampler::new(7, 11, &geom(0.05), 0.5).is_none());
        assert!(Resampler::new(0, 11, &geom(0.05), 0.25).is_none());
    }

    #[test]
    fn weights_by_hand() {
        // Keys a = −0.5 at f = 0.5: [−1/16, 9/16, 9/16, −1/16]; at 0: [0, 1, 0, 0].
        let w = keys_weights(0.5);
        for (a, b) in w.iter().zip([-0.0625, 0.5625, 0.5625, -0.0625]) {
            assert!((a - b).abs() < 1e-12, "{w:?}");
        }
        assert_eq!(keys_weights(0.0), [0.0, 1.0, 0.0, 0.0]);
    }

    #[test]
    fn reproduces_a_quadratic_and_keeps_samples() {
        // Cubic convolution is exact for polynomials up to degree 2 away from the edges, and
        // an output on an input sample returns it.
        let f = |r: f64, c: f64| 3.0 + 0.5 * r + 0.25 * c + 0.02 * r * r + 0.01 * c * c + 0.03 * r * c;
        let frame = Array2::from_shape_fn((20, 24), |(r, c)| f(r as f64, c as f64) as f32);
        let (from, pitch) = (geom(0.05), 0.5 / 1.5);
        let r = Resampler::new(20, 24, &from, pitch).unwrap();
        let (rows, cols) = r.dim();
        let out = r.apply(frame.view());
        // A stack gives each frame exactly as alone.
        let other = frame.mapv(|v| 50.0 - v);
        let stack = ndarray::stack(Axis(0), &[frame.view(), other.view()]).unwrap();
        let both = r.apply_stack(stack.view());
        assert_eq!(both.index_axis(Axis(0), 0), out);
        assert_eq!(both.index_axis(Axis(0), 1), r.apply(other.view()));
        for r in 3..rows - 5 {
            for c in 3..cols - 5 {
                let (y, x) = (r as f64 / 1.5, c as f64 / 1.5);
                assert!((f64::from(out[[r, c]]) - f(y, x)).abs() < 1e-3, "({r}, {c})");
            }
        }
        assert_eq!(out[[3, 6]], frame[[2, 4]]);
    }
}
