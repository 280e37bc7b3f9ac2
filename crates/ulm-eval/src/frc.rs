//! Fourier ring correlation: split the localizations into two halves, render each, and
//! correlate their spectra ring by ring; the resolution is the inverse of the frequency
//! where the curve falls below 1/7 (the fixed threshold used in SMLM and ULM).
//!
//! Each map is multiplied by a Tukey window (α = 0.25) before the FFT so that the
//! image border does not correlate spuriously. Rings are `Δf = 1 / (max(rows, cols) ·
//! pixel)` wide; ring 0 (DC) is not reported.

use ndarray::Array2;
use rustfft::{FftPlanner, num_complex::Complex};
use serde::{Deserialize, Serialize};
use ulm_core::Localizations;

use crate::dice::MapError;

/// The fixed FRC threshold.
pub const THRESHOLD_1_7: f64 = 1.0 / 7.0;

/// How localizations are split into two halves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "split")]
pub enum Split {
    /// Alternating blocks of `block` frames (block 1: even / odd frames).
    FrameBlocks {
        /// Frames per block.
        block: u32,
    },
    /// Each localization to a half by a seeded hash of its row index.
    Random {
        /// Seed.
        seed: u64,
    },
}

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The two halves of `locs` under `split`.
pub fn split_halves(locs: &Localizations, split: Split) -> Result<(Localizations, Localizations), MapError> {
    let side = |i: usize| match split {
        Split::FrameBlocks { block } => (locs.frame[i] / block) % 2 == 1,
        Split::Random { seed } => splitmix(seed ^ splitmix(i as u64)) & 1 == 1,
    };
    if let Split::FrameBlocks { block: 0 } = split {
        return Err(MapError::Config("frame block must be ≥ 1".into()));
    }
    let (a, b): (Vec<usize>, Vec<usize>) = (0..locs.len()).partition(|&i| !side(i));
    Ok((locs.select(&a), locs.select(&b)))
}

/// An FRC curve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrcCurve {
    /// Ring centre frequencies, cycles per mm (ring 1 to Nyquist).
    pub freq_per_mm: Vec<f64>,
    /// Correlation per ring, in [−1, 1] (NaN for a ring with no energy).
    pub frc: Vec<f64>,
    /// Pixels per ring.
    pub ring_pixels: Vec<usize>,
    /// `1 / f` at the first crossing of 1/7 (linear interpolation), in mm; `None` when
    /// the curve stays above the threshold up to Nyquist.
    pub resolution_mm: Option<f64>,
}

fn tukey(n: usize, alpha: f64) -> Vec<f64> {
    let edge = alpha * (n.max(2) - 1) as f64 / 2.0;
    (0..n)
        .map(|i| {
            let x = i as f64;
            let d = x.min((n - 1) as f64 - x);
            if d >= edge || edge == 0.0 { 1.0 } else { 0.5 * (1.0 - (std::f64::consts::PI * d / edge).cos()) }
        })
        .collect()
}

fn fft2(map: &Array2<f32>, wr: &[f64], wc: &[f64], planner: &mut FftPlanner<f64>) -> Vec<Complex<f64>> {
    let (rows, cols) = map.dim();
    let mut buf: Vec<Complex<f64>> =
        map.indexed_iter().map(|((r, c), &v)| Complex::new(v as f64 * wr[r] * wc[c], 0.0)).collect();
    let row_fft = planner.plan_fft_forward(cols);
    for row in buf.chunks_mut(cols) {
        row_fft.process(row);
    }
    let col_fft = planner.plan_fft_forward(rows);
    let mut col = vec![Complex::new(0.0, 0.0); rows];
    for c in 0..cols {
        for r in 0..rows {
            col[r] = buf[r * cols + c];
        }
        col_fft.process(&mut col);
        for r in 0..rows {
            buf[r * cols + c] = col[r];
        }
    }
    buf
}

/// FRC of two maps of the same shape with square pixels of `pixel_mm`.
pub fn frc(a: &Array2<f32>, b: &Array2<f32>, pixel_mm: f64) -> Result<FrcCurve, MapError> {
    if a.dim() != b.dim() {
        return Err(MapError::Shape(a.dim(), b.dim()));
    }
    let (rows, cols) = a.dim();
    if rows < 8 || cols < 8 {
        return Err(MapError::Config(format!("maps of {rows} × {cols} are too small for FRC (need ≥ 8 × 8)")));
    }
    if !(pixel_mm.is_finite() && pixel_mm > 0.0) {
        return Err(MapError::Config(format!("pixel size must be > 0 mm, got {pixel_mm}")));
    }
    let (wr, wc) = (tukey(rows, 0.25), tukey(cols, 0.25));
    let mut planner = FftPlanner::new();
    let fa = fft2(a, &wr, &wc, &mut planner);
    let fb = fft2(b, &wr, &wc, &mut planner);
    let n = rows.max(cols) as f64;
    let n_rings = rows.min(cols) / 2; // up to Nyquist along the shorter axis
    let mut num = vec![0.0; n_rings + 1];
    let mut ea = vec![0.0; n_rings + 1];
    let mut eb = vec![0.0; n_rings + 1];
    let mut count = vec![0usize; n_rings + 1];
    let signed = |k: usize, len: usize| if k <= len / 2 { k as f64 } else { k as f64 - len as f64 };
    for r in 0..rows {
        // Frequencies in units of Δf = 1 / (n · pixel).
        let fz = signed(r, rows) * n / rows as f64;
        for c in 0..cols {
            let fx = signed(c, cols) * n / cols as f64;
            let ring = (fx.hypot(fz)).round() as usize;
            if ring > n_rings {
                continue;
            }
            let (x, y) = (fa[r * cols + c], fb[r * cols + c]);
            num[ring] += (x * y.conj()).re;
            ea[ring] += x.norm_sqr();
            eb[ring] += y.norm_sqr();
            count[ring] += 1;
        }
    }
    let df = 1.0 / (n * pixel_mm);
    let freq: Vec<f64> = (1..=n_rings).map(|k| k as f64 * df).collect();
    let curve: Vec<f64> = (1..=n_rings)
        .map(|k| if ea[k] > 0.0 && eb[k] > 0.0 { num[k] / (ea[k] * eb[k]).sqrt() } else { f64::NAN })
        .collect();
    let mut resolution_mm = None;
    for k in 0..curve.len() {
        if curve[k] < THRESHOLD_1_7 {
            let f = if k == 0 {
                freq[0]
            } else {
                let (y0, y1) = (curve[k - 1], curve[k]);
                freq[k - 1] + (freq[k] - freq[k - 1]) * (y0 - THRESHOLD_1_7) / (y0 - y1)
            };
            resolution_mm = Some(1.0 / f);
            break;
        }
    }
    Ok(FrcCurve { freq_per_mm: freq, frc: curve, ring_pixels: count[1..].to_vec(), resolution_mm })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic standard normal samples (splitmix + Box–Muller).
    fn normals(n: usize, seed: u64) -> Vec<f64> {
        let u = |k: u64| (splitmix(seed.wrapping_mul(1_000_003) ^ k) >> 11) as f64 / (1u64 << 53) as f64;
        (0..n)
            .map(|i| {
                let (u1, u2) = (u(2 * i as u64).max(1e-300), u(2 * i as u64 + 1));
                (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
            })
            .collect()
    }

    fn blur(m: &Array2<f64>, sigma: f64) -> Array2<f64> {
        let half = (4.0 * sigma).ceil() as i64;
        let k: Vec<f64> = (-half..=half).map(|d| (-(d * d) as f64 / (2.0 * sigma * sigma)).exp()).collect();
        let (rows, cols) = m.dim();
        let wrap = |i: i64, n: usize| i.rem_euclid(n as i64) as usize;
        let h = Array2::from_shape_fn((rows, cols), |(r, c)| {
            k.iter().enumerate().map(|(j, w)| w * m[[r, wrap(c as i64 + j as i64 - half, cols)]]).sum::<f64>()
        });
        Array2::from_shape_fn((rows, cols), |(r, c)| {
            k.iter().enumerate().map(|(j, w)| w * h[[wrap(r as i64 + j as i64 - half, rows), c]]).sum::<f64>()
        })
    }

    #[test]
    fn resolution_matches_the_spectral_snr_crossing() {
        // Signal: white noise blurred by σ_s (periodic); halves = signal + independent
        // white noise. FRC(f) = SNR(f) / (1 + SNR(f)) with SNR(f) = |K(f)|² σ_w² / σ_n²,
        // K the blur's transfer; 1/7 ⇔ SNR = 1/6.
        let (n, sigma_s, pixel) = (128usize, 2.0, 0.01);
        let s = blur(&Array2::from_shape_vec((n, n), normals(n * n, 1)).unwrap(), sigma_s);
        let noise_sd = 0.05;
        let half = |seed| {
            let e = normals(n * n, seed);
            Array2::from_shape_fn((n, n), |(r, c)| (s[[r, c]] + noise_sd * e[r * n + c]) as f32)
        };
        let curve = frc(&half(2), &half(3), pixel).unwrap();
        // Kernel normalised gain: K(f) = Σ_k g(k) e^{-2πifk}; unit-height Gaussian taps
        // sum to about σ√(2π) per axis.
        let gain = (sigma_s * (2.0 * std::f64::consts::PI).sqrt()).powi(2);
        // |K(f)|² σ_w² / σ_n² = 1/6 with K(f) = gain · exp(−2π² σ² f²), f in cycles/px.
        let f_px = ((gain * gain * 6.0 / (noise_sd * noise_sd)).ln()
            / (4.0 * std::f64::consts::PI.powi(2) * sigma_s * sigma_s))
            .sqrt();
        let want_mm = pixel / f_px;
        let got = curve.resolution_mm.expect("curve crosses 1/7");
        assert!((got / want_mm - 1.0).abs() < 0.1, "resolution {got} mm, expected {want_mm} mm");
        // Low frequencies are nearly perfectly correlated.
        assert!(curve.frc[1] > 0.99);
    }

    #[test]
    fn identical_maps_never_cross_and_independent_noise_crosses_at_once() {
        let a = Array2::from_shape_vec((32, 40), normals(32 * 40, 5).iter().map(|&v| v as f32).collect()).unwrap();
        let c = frc(&a, &a, 0.02).unwrap();
        assert!(c.frc.iter().all(|v| (v - 1.0).abs() < 1e-9));
        assert_eq!(c.resolution_mm, None);
        assert_eq!(c.frc.len(), 16);
        let b = Array2::from_shape_vec((32, 40), normals(32 * 40, 6).iter().map(|&v| v as f32).collect()).unwrap();
        let r = frc(&a, &b, 0.02).unwrap().resolution_mm.unwrap();
        // Uncorrelated: below 1/7 by the first ring (Δf = 1/(40 · 0.02) = 1.25 /mm) or just after.
        assert!(r >= 0.7, "{r}");
        assert!(frc(&a, &Array2::zeros((32, 41)), 0.02).is_err());
    }

    #[test]
    fn halves_partition_the_table() {
        let mut l = Localizations::new();
        for f in 0..10 {
            l.push(f, f as f64, 0.0, 1.0);
        }
        let (a, b) = split_halves(&l, Split::FrameBlocks { block: 2 }).unwrap();
        assert_eq!(a.frame, vec![0, 1, 4, 5, 8, 9]);
        assert_eq!(b.frame, vec![2, 3, 6, 7]);
        let (a, b) = split_halves(&l, Split::Random { seed: 3 }).unwrap();
        assert_eq!(a.len() + b.len(), 10);
        assert!(split_halves(&l, Split::FrameBlocks { block: 0 }).is_err());
    }
}
