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

use ndarray::{Array2, ArrayView2};
use ulm_core::Geometry;

/// Relative pitch difference below which frames are used as given.
const SAME_PITCH: f64 = 1e-6;

/// The grid of frames of `rows × cols` pixels on `geometry` resampled to `pitch_wavelengths`
/// (both axes): `(rows, cols, geometry)`, or `None` where both pitches already match it.
pub fn target_grid(
    rows: usize,
    cols: usize,
    geometry: &Geometry,
    pitch_wavelengths: f64,
) -> Option<(usize, usize, Geometry)> {
    let pitch_mm = pitch_wavelengths * geometry.wavelength_mm;
    let close = |p: f64| ((p - pitch_mm) / pitch_mm).abs() < SAME_PITCH;
    if close(geometry.pixel_size_x_mm) && close(geometry.pixel_size_z_mm) || rows == 0 || cols == 0 {
        return None;
    }
    // The last output pixel lies at or before the last input one (a hair of slack so that
    // an exact multiple is not lost to rounding).
    let n = |len: usize, from: f64| ((len - 1) as f64 * from / pitch_mm + 1e-9).floor() as usize + 1;
    let g = Geometry { pixel_size_x_mm: pitch_mm, pixel_size_z_mm: pitch_mm, ..*geometry };
    Some((n(rows, geometry.pixel_size_z_mm), n(cols, geometry.pixel_size_x_mm), g))
}

/// Keys' cubic convolution weights of the 4 samples at `floor(t) − 1 … floor(t) + 2`.
fn keys_weights(f: f64) -> [f64; 4] {
    const A: f64 = -0.5;
    let near = |x: f64| ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0;
    let far = |x: f64| ((A * x - 5.0 * A) * x + 8.0 * A) * x - 4.0 * A;
    [far(1.0 + f), near(f), near(1.0 - f), far(2.0 - f)]
}

/// For each of `n_out` outputs stepping `step` input pixels: the 4 input indices (edges
/// repeated) and their weights.
fn taps(n_in: usize, n_out: usize, step: f64) -> Vec<([usize; 4], [f32; 4])> {
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

/// `frame` (on `from`) resampled onto the grid of [`target_grid`] (`rows × cols` on `to`).
pub fn resample(frame: ArrayView2<'_, f32>, from: &Geometry, rows: usize, cols: usize, to: &Geometry) -> Array2<f32> {
    let (r_in, c_in) = frame.dim();
    let along_cols = taps(c_in, cols, to.pixel_size_x_mm / from.pixel_size_x_mm);
    let along_rows = taps(r_in, rows, to.pixel_size_z_mm / from.pixel_size_z_mm);
    // Columns first (each input row), then rows.
    let mut tmp = Array2::<f32>::zeros((r_in, cols));
    for (r, row) in frame.outer_iter().enumerate() {
        for (j, (i, w)) in along_cols.iter().enumerate() {
            tmp[[r, j]] = (0..4).map(|k| w[k] * row[i[k]]).sum();
        }
    }
    let mut out = Array2::<f32>::zeros((rows, cols));
    for (r, (i, w)) in along_rows.iter().enumerate() {
        for c in 0..cols {
            out[[r, c]] = (0..4).map(|k| w[k] * tmp[[i[k], c]]).sum::<f32>().max(0.0);
        }
    }
    out
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
        let (r, c, g) = target_grid(7, 11, &geom(0.05), 1.0 / 3.0).unwrap();
        assert_eq!((r, c), (10, 16));
        assert!((g.pixel_size_x_mm - 0.1 / 3.0).abs() < 1e-12);
        assert_eq!((g.x0_mm, g.z0_mm), (-1.0, 2.0));
        assert!(target_grid(7, 11, &geom(0.05), 0.5).is_none());
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
        let (rows, cols, to) = target_grid(20, 24, &from, pitch).unwrap();
        let out = resample(frame.view(), &from, rows, cols, &to);
        for r in 3..rows - 5 {
            for c in 3..cols - 5 {
                let (y, x) = (r as f64 / 1.5, c as f64 / 1.5);
                assert!((f64::from(out[[r, c]]) - f(y, x)).abs() < 1e-3, "({r}, {c})");
            }
        }
        assert_eq!(out[[3, 6]], frame[[2, 4]]);
    }
}
