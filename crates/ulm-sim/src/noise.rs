//! Receive noise: complex Gaussian noise band-limited like the echoes (white noise
//! filtered by the PSF's lateral and axial profiles, renormalised to unit variance), then
//! scaled per row by the noise level after time-gain compensation.

use ndarray::ArrayViewMut2;
use num_complex::Complex32;
use rand::Rng;
use rand_distr::StandardNormal;

use crate::psf::{FWHM_PER_SIGMA, Psf};

/// Noise model of a frame.
pub struct Noise {
    lateral: Vec<Vec<f32>>,
    lateral_half_max: usize,
    axial: Vec<f32>,
    row_sigma: Vec<f32>,
}

/// Per-thread buffers of [`Noise::add`].
#[derive(Default)]
pub struct NoiseScratch {
    white: Vec<Complex32>,
    lat: Vec<Complex32>,
}

/// A Gaussian kernel of standard deviation `sigma_px`, scaled so that its squares sum
/// to 1 (filtered unit-variance white noise keeps unit variance).
fn unit_energy_kernel(sigma_px: f64) -> Vec<f32> {
    let half = (3.0 * sigma_px).ceil().max(1.0) as isize;
    let k: Vec<f64> = (-half..=half).map(|d| (-((d * d) as f64) / (2.0 * sigma_px * sigma_px)).exp()).collect();
    let norm = k.iter().map(|v| v * v).sum::<f64>().sqrt();
    k.iter().map(|v| (v / norm) as f32).collect()
}

impl Noise {
    /// Noise of RMS `row_rms[r]` (complex, `E|n|² = rms²`) on row `r`, correlated like
    /// echoes of `psf` on a grid of pitch `pixel_mm` whose row `r` lies at depth
    /// `row_depth_mm[r]`.
    pub fn new(psf: &Psf, pixel_mm: f64, row_depth_mm: &[f64], row_rms: &[f64]) -> Self {
        let lateral: Vec<Vec<f32>> = row_depth_mm
            .iter()
            .map(|&z| unit_energy_kernel(psf.lateral_fwhm_mm(z) / FWHM_PER_SIGMA / pixel_mm))
            .collect();
        let lateral: Vec<Vec<f32>> = lateral;
        let lateral_half_max = lateral.iter().map(|k| k.len() / 2).max().unwrap_or(0);
        let mid = row_depth_mm.get(row_depth_mm.len() / 2).copied().unwrap_or(0.0);
        let axial = unit_energy_kernel(psf.axial_fwhm_mm(mid) / FWHM_PER_SIGMA / pixel_mm);
        let row_sigma = row_rms.iter().map(|&s| (s / std::f64::consts::SQRT_2) as f32).collect();
        Self { lateral, lateral_half_max, axial, row_sigma }
    }

    /// Adds one frame of noise drawn from `rng` into `frame`.
    pub fn add(&self, frame: &mut ArrayViewMut2<'_, Complex32>, rng: &mut impl Rng, s: &mut NoiseScratch) {
        let (rows, cols) = frame.dim();
        let ha = self.axial.len() / 2;
        // White noise padded on every side so that every output sees a full kernel.
        let hm = self.lateral_half_max;
        let n_in = rows + 2 * ha;
        let w_in = cols + 2 * hm;
        s.white.clear();
        s.white.extend((0..n_in * w_in).map(|_| {
            let re: f32 = rng.sample(StandardNormal);
            let im: f32 = rng.sample(StandardNormal);
            Complex32::new(re, im)
        }));
        // Lateral filtering with the kernel of the output row each input row mostly feeds.
        s.lat.clear();
        s.lat.resize(n_in * cols, Complex32::new(0.0, 0.0));
        for r in 0..n_in {
            let k = &self.lateral[r.saturating_sub(ha).min(rows - 1)];
            let off = hm - k.len() / 2;
            let src = &s.white[r * w_in..(r + 1) * w_in];
            let dst = &mut s.lat[r * cols..(r + 1) * cols];
            // Tap by tap (axpy form, which vectorises).
            for (j, &kv) in k.iter().enumerate() {
                for (d, &x) in dst.iter_mut().zip(&src[off + j..off + j + cols]) {
                    *d += x * kv;
                }
            }
        }
        for (r, mut line) in frame.rows_mut().into_iter().enumerate() {
            let line = line.as_slice_mut().expect("frames are C-order");
            for (j, &kv) in self.axial.iter().enumerate() {
                let w = kv * self.row_sigma[r];
                for (p, &x) in line.iter_mut().zip(&s.lat[(r + j) * cols..(r + j + 1) * cols]) {
                    *p += x * w;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use ndarray::Array2;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;
    use crate::config::ImagingConfig;

    #[test]
    fn noise_has_the_requested_rms_per_row_and_psf_sized_grains() {
        let psf = Psf::Gaussian(crate::psf::GaussianPsf::new(&ImagingConfig::default(), 0.1));
        let rows = 32;
        let depth: Vec<f64> = (0..rows).map(|r| 5.0 + r as f64 * 0.05).collect();
        let rms: Vec<f64> = (0..rows).map(|r| 0.1 * (1.0 + r as f64 / 8.0)).collect();
        let noise = Noise::new(&psf, 0.05, &depth, &rms);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut s = NoiseScratch::default();
        let (mut power, mut lag1) = (vec![0f64; rows], 0f64);
        let mut total = 0f64;
        for _ in 0..200 {
            let mut f = Array2::<Complex32>::zeros((rows, 64));
            noise.add(&mut f.view_mut(), &mut rng, &mut s);
            for ((r, c), v) in f.indexed_iter() {
                power[r] += v.norm_sqr() as f64;
                if c + 1 < 64 {
                    lag1 += (v.conj() * f[[r, c + 1]]).re as f64 / (rms[r] * rms[r]);
                }
                total += v.norm_sqr() as f64 / (rms[r] * rms[r]);
            }
        }
        for r in 0..rows {
            let m = (power[r] / (200.0 * 64.0)).sqrt();
            assert!((m / rms[r] - 1.0).abs() < 0.05, "row {r}: rms {m} vs {}", rms[r]);
        }
        // Lateral correlation between neighbours: exp(−1/(4σ²)) for a Gaussian-filtered
        // field, σ = FWHM / 2.355 in px (λ · 1.5 / 0.05 mm = 3 px FWHM).
        let sigma = 3.0 / FWHM_PER_SIGMA;
        let want = (-1.0 / (4.0 * sigma * sigma)).exp();
        let got = lag1 / total * 64.0 / 63.0;
        assert!((got - want).abs() < 0.03, "lag-1 correlation {got} vs {want}");
    }
}
