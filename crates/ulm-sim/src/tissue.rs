//! Tissue clutter: fully developed speckle from dense scatterers, moving slowly and
//! decorrelating slowly.
//!
//! Two independent speckle fields are made once on a padded grid (complex white noise,
//! weighted by smooth echogenicity regions, convolved with the depth-dependent PSF) and
//! kept as spectra. Frame `t` mixes them with a slowly turning angle `θ(t)` (slow
//! decorrelation), shifts the result by the tissue displacement `d(t)` with a phase ramp
//! in the spatial-frequency domain (exact sub-pixel shift of a band-limited field) and
//! applies the carrier phase `exp(−i 4π d_z / λ)` that an axial displacement gives a
//! demodulated echo.

use std::sync::Arc;

use ndarray::ArrayViewMut2;
use num_complex::Complex32;
use rand::Rng;
use rand_distr::StandardNormal;
use rustfft::{Fft, FftPlanner};

use crate::config::TissueConfig;
use crate::psf::{FWHM_PER_SIGMA, PhysicalPsf, Psf};

/// A precomputed, moving tissue speckle field.
pub struct Tissue {
    rows: usize,
    cols: usize,
    pad: usize,
    h: usize,
    w: usize,
    /// Spectra of the two fields, transposed layout `[u (lateral freq)][v (axial freq)]`.
    spec: [Vec<Complex32>; 2],
    ifft_h: Arc<dyn Fft<f32>>,
    ifft_w: Arc<dyn Fft<f32>>,
    cfg: TissueConfig,
    phase0: [f64; 2],
    pixel_mm: f64,
    wavelength_mm: f64,
    frame_rate_hz: f64,
}

/// Per-thread buffers of [`Tissue::add_frame`].
#[derive(Default)]
pub struct TissueScratch {
    a: Vec<Complex32>,
    b: Vec<Complex32>,
    fft: Vec<Complex32>,
}

/// Smallest `n' >= n` whose prime factors are 2, 3 and 5 (fast FFT sizes).
fn fft_size(n: usize) -> usize {
    (n..)
        .find(|&m| {
            let mut k = m;
            for p in [2, 3, 5] {
                while k % p == 0 {
                    k /= p;
                }
            }
            k == 1
        })
        .unwrap_or(n)
}

fn transpose(src: &[Complex32], dst: &mut [Complex32], rows: usize, cols: usize) {
    for r in 0..rows {
        for c in 0..cols {
            dst[c * rows + r] = src[r * cols + c];
        }
    }
}

fn blur_1d(src: &[Complex32], dst: &mut [Complex32], sigma: f64) {
    let half = (3.5 * sigma).ceil() as isize;
    let k: Vec<f32> = (-half..=half).map(|d| (-(d * d) as f64 / (2.0 * sigma * sigma)).exp() as f32).collect();
    let n = src.len() as isize;
    for (i, o) in dst.iter_mut().enumerate() {
        let mut acc = Complex32::new(0.0, 0.0);
        for (j, &kv) in k.iter().enumerate() {
            let s = i as isize + j as isize - half;
            if (0..n).contains(&s) {
                acc += src[s as usize] * kv;
            }
        }
        *o = acc;
    }
}

/// What a tissue field is made for: the model, the PSF, the frame grid, the duration and
/// the level.
#[derive(Clone, Copy)]
pub struct TissueSpec<'a> {
    /// Motion, decorrelation and echogenicity parameters.
    pub config: &'a TissueConfig,
    /// The PSF that images the scatterers.
    pub psf: &'a Psf,
    /// Frame rows (depth).
    pub rows: usize,
    /// Frame columns (lateral).
    pub cols: usize,
    /// Pixel pitch (both axes), mm.
    pub pixel_mm: f64,
    /// Depth of row 0, mm.
    pub z0_mm: f64,
    /// Frame rate, Hz.
    pub frame_rate_hz: f64,
    /// Number of frames the field must last (it drifts).
    pub n_frames: usize,
    /// RMS amplitude inside the frame.
    pub rms: f64,
}

/// Separable blur with the Gaussian PSF: lateral width of each row's depth, then axial.
fn gaussian_blur(
    mut f: Vec<Complex32>,
    psf: &Psf,
    h: usize,
    w: usize,
    pixel_mm: f64,
    z_of_row: &dyn Fn(usize) -> f64,
) -> Vec<Complex32> {
    let mut tmp = vec![Complex32::new(0.0, 0.0); w];
    for r in 0..h {
        let sx = psf.lateral_fwhm_mm(z_of_row(r).max(0.0)) / FWHM_PER_SIGMA / pixel_mm;
        blur_1d(&f[r * w..(r + 1) * w], &mut tmp, sx);
        f[r * w..(r + 1) * w].copy_from_slice(&tmp);
    }
    let sz = psf.axial_fwhm_mm(z_of_row(h / 2)) / FWHM_PER_SIGMA / pixel_mm;
    let mut t = vec![Complex32::new(0.0, 0.0); h * w];
    transpose(&f, &mut t, h, w);
    let mut tmp = vec![Complex32::new(0.0, 0.0); h];
    for c in 0..w {
        blur_1d(&t[c * h..(c + 1) * h], &mut tmp, sz);
        t[c * h..(c + 1) * h].copy_from_slice(&tmp);
    }
    transpose(&t, &mut f, w, h);
    f
}

/// Forward and inverse FFT plans of an `h × w` grid: `[rows (w), columns (h)]`.
struct Fft2 {
    h: usize,
    w: usize,
    fwd: [Arc<dyn Fft<f32>>; 2],
    inv: [Arc<dyn Fft<f32>>; 2],
}

impl Fft2 {
    /// Forward transform of a row-major `[h][w]` grid; the spectrum comes out transposed,
    /// `[u][v]`.
    fn forward(&self, f: &[Complex32]) -> Vec<Complex32> {
        let mut a = f.to_vec();
        self.fwd[0].process(&mut a);
        let mut t = vec![Complex32::new(0.0, 0.0); a.len()];
        transpose(&a, &mut t, self.h, self.w);
        self.fwd[1].process(&mut t);
        t
    }

    /// Inverse of [`Fft2::forward`] (normalised), back to row-major `[h][w]`.
    fn inverse(&self, mut t: Vec<Complex32>) -> Vec<Complex32> {
        self.inv[1].process(&mut t);
        let mut a = vec![Complex32::new(0.0, 0.0); t.len()];
        transpose(&t, &mut a, self.w, self.h);
        self.inv[0].process(&mut a);
        let k = 1.0 / (self.h * self.w) as f32;
        for v in &mut a {
            *v *= k;
        }
        a
    }
}

/// Convolution of the scatterer field with the physical PSF of each tabulated depth
/// (circular, on the padded grid), rows blended linearly between the depths that bracket
/// them: every scatterer is imaged by the PSF of its depth, as the bubbles are.
fn physical_blur(
    f: &[Complex32],
    psf: &PhysicalPsf,
    ffts: &Fft2,
    pixel_mm: f64,
    z_of_row: &dyn Fn(usize) -> f64,
) -> Vec<Complex32> {
    let (h, w) = (ffts.h, ffts.w);
    let spec = ffts.forward(f);
    let zs = psf.depths_mm();
    let row_z: Vec<f64> = (0..h).map(z_of_row).collect();
    // Hat weight of slice k at depth z (clamped beyond the ends).
    let weight = |k: usize, z: f64| -> f32 {
        let n = zs.len();
        let z = z.clamp(zs[0], zs[n - 1]);
        if n == 1 {
            return 1.0;
        }
        let lo = if k > 0 { zs[k - 1] } else { zs[0] };
        let hi = if k + 1 < n { zs[k + 1] } else { zs[n - 1] };
        let wgt = if z <= zs[k] {
            if k == 0 { 1.0 } else { (z - lo) / (zs[k] - lo) }
        } else if k + 1 == n {
            1.0
        } else {
            (hi - z) / (hi - zs[k])
        };
        wgt.clamp(0.0, 1.0) as f32
    };
    let mut out = vec![Complex32::new(0.0, 0.0); h * w];
    for (k, &zk) in zs.iter().enumerate() {
        if row_z.iter().all(|&z| weight(k, z) == 0.0) {
            continue;
        }
        let ker = psf.pixel_kernel(zk, (pixel_mm, pixel_mm));
        let (kh, kw) = ker.dim();
        let mut kbuf = vec![Complex32::new(0.0, 0.0); h * w];
        for ((r, c), &v) in ker.indexed_iter() {
            let rr = (r as isize - (kh / 2) as isize).rem_euclid(h as isize) as usize;
            let cc = (c as isize - (kw / 2) as isize).rem_euclid(w as isize) as usize;
            kbuf[rr * w + cc] += v;
        }
        let kspec = ffts.forward(&kbuf);
        let prod: Vec<Complex32> = spec.iter().zip(&kspec).map(|(a, b)| a * b).collect();
        let conv = ffts.inverse(prod);
        for (r, &z) in row_z.iter().enumerate() {
            let wk = weight(k, z);
            if wk > 0.0 {
                for (o, &v) in out[r * w..(r + 1) * w].iter_mut().zip(&conv[r * w..(r + 1) * w]) {
                    *o += v * wk;
                }
            }
        }
    }
    out
}

impl Tissue {
    /// Builds the field described by `spec`, scatterers drawn from `rng`.
    pub fn new(spec: &TissueSpec<'_>, rng: &mut impl Rng) -> Self {
        let TissueSpec { config: cfg, psf, rows, cols, pixel_mm, z0_mm, frame_rate_hz, n_frames, rms } = *spec;
        let t_max = n_frames as f64 / frame_rate_hz;
        let max_disp = cfg.motion_amplitude_mm[0].abs().max(cfg.motion_amplitude_mm[1].abs()).max(0.0)
            + cfg.drift_mm_s[0].abs().max(cfg.drift_mm_s[1].abs()) * t_max;
        let z_bottom = z0_mm + rows as f64 * pixel_mm;
        let blur_px = match psf {
            Psf::Gaussian(_) => 3.5 * psf.lateral_fwhm_mm(z_bottom) / FWHM_PER_SIGMA / pixel_mm,
            Psf::Physical(p) => p.window_mm().0 / pixel_mm + 1.0,
        };
        let pad = (max_disp / pixel_mm + blur_px).ceil() as usize + 4;
        let h = fft_size(rows + 2 * pad);
        let w = fft_size(cols + 2 * pad);
        let z_of_row = |r: usize| z0_mm + (r as f64 - pad as f64) * pixel_mm;
        // Smooth echogenicity: exp(contrast · Σ ± Gaussian blobs).
        let blobs: Vec<(f64, f64, f64, f64)> = (0..6)
            .map(|_| {
                let s = if rng.random::<bool>() { 1.0 } else { -1.0 };
                (
                    rng.random::<f64>() * w as f64,
                    rng.random::<f64>() * h as f64,
                    (0.1 + 0.2 * rng.random::<f64>()) * h.max(w) as f64,
                    s,
                )
            })
            .collect();
        let echo = |r: usize, c: usize| {
            let s: f64 = blobs
                .iter()
                .map(|&(bc, br, sg, sign)| {
                    sign * (-((c as f64 - bc).powi(2) + (r as f64 - br).powi(2)) / (2.0 * sg * sg)).exp()
                })
                .sum();
            (cfg.echogenicity_contrast * s).exp()
        };
        let mut planner = FftPlanner::<f32>::new();
        let fft_w = planner.plan_fft_forward(w);
        let fft_h = planner.plan_fft_forward(h);
        let ffts = Fft2 {
            h,
            w,
            fwd: [fft_w.clone(), fft_h.clone()],
            inv: [planner.plan_fft_inverse(w), planner.plan_fft_inverse(h)],
        };
        let make_field = |rng: &mut dyn rand::RngCore| {
            let f: Vec<Complex32> = (0..h * w)
                .map(|i| {
                    let e = echo(i / w, i % w) as f32;
                    let re: f32 = rng.sample(StandardNormal);
                    let im: f32 = rng.sample(StandardNormal);
                    Complex32::new(re, im) * e
                })
                .collect();
            match psf {
                Psf::Gaussian(_) => gaussian_blur(f, psf, h, w, pixel_mm, &z_of_row),
                Psf::Physical(p) => physical_blur(&f, p, &ffts, pixel_mm, &z_of_row),
            }
        };
        let mut fields = [make_field(rng), make_field(rng)];
        // RMS inside the frame, from the first field; both fields get the same scale.
        let mut acc = 0.0f64;
        for r in pad..pad + rows {
            for c in pad..pad + cols {
                acc += fields[0][r * w + c].norm_sqr() as f64;
            }
        }
        let scale = (rms / (acc / (rows * cols) as f64).sqrt()) as f32 / (h * w) as f32;
        let mut spec: [Vec<Complex32>; 2] = [Vec::new(), Vec::new()];
        let mut scratch =
            vec![Complex32::new(0.0, 0.0); fft_w.get_inplace_scratch_len().max(fft_h.get_inplace_scratch_len())];
        for (k, f) in fields.iter_mut().enumerate() {
            fft_w.process_with_scratch(f, &mut scratch); // rows
            let mut t = vec![Complex32::new(0.0, 0.0); h * w];
            transpose(f, &mut t, h, w); // [u][r]
            fft_h.process_with_scratch(&mut t, &mut scratch); // [u][v]
            for v in &mut t {
                *v *= scale;
            }
            spec[k] = t;
        }
        let ifft_h = planner.plan_fft_inverse(h);
        let ifft_w = planner.plan_fft_inverse(w);
        let phase0 = [rng.random::<f64>() * std::f64::consts::TAU, rng.random::<f64>() * std::f64::consts::TAU];
        Self {
            rows,
            cols,
            pad,
            h,
            w,
            spec,
            ifft_h,
            ifft_w,
            cfg: cfg.clone(),
            phase0,
            pixel_mm,
            wavelength_mm: psf.wavelength_mm(),
            frame_rate_hz,
        }
    }

    /// Tissue displacement `(x, z)` at frame `f`, mm.
    pub fn displacement_mm(&self, f: usize) -> (f64, f64) {
        let t = f as f64 / self.frame_rate_hz;
        let wt = std::f64::consts::TAU * self.cfg.motion_frequency_hz * t;
        let [ax, az] = self.cfg.motion_amplitude_mm;
        let [dx, dz] = self.cfg.drift_mm_s;
        (
            ax * ((wt + self.phase0[0]).sin() - self.phase0[0].sin()) + dx * t,
            az * ((wt + self.phase0[1]).sin() - self.phase0[1].sin()) + dz * t,
        )
    }

    /// Adds frame `f` of the clutter into `frame`, row `r` weighted by `row_gain[r]`.
    pub fn add_frame(
        &self,
        f: usize,
        frame: &mut ArrayViewMut2<'_, Complex32>,
        row_gain: &[f32],
        s: &mut TissueScratch,
    ) {
        let (h, w) = (self.h, self.w);
        let (dx, dz) = self.displacement_mm(f);
        let (dxp, dzp) = (dx / self.pixel_mm, dz / self.pixel_mm);
        let theta = self.cfg.decorrelation_rad_s * f as f64 / self.frame_rate_hz;
        let (ca, cb) = (theta.cos() as f32, theta.sin() as f32);
        let ramp = |n: usize, d: f64| -> Vec<Complex32> {
            (0..n)
                .map(|k| {
                    let freq = if k <= n / 2 { k as f64 } else { k as f64 - n as f64 } / n as f64;
                    let ph = -std::f64::consts::TAU * freq * d;
                    Complex32::new(ph.cos() as f32, ph.sin() as f32)
                })
                .collect()
        };
        let (rx, rz) = (ramp(w, dxp), ramp(h, dzp));
        s.a.resize(h * w, Complex32::new(0.0, 0.0));
        s.b.resize(h * w, Complex32::new(0.0, 0.0));
        let need = self.ifft_h.get_inplace_scratch_len().max(self.ifft_w.get_inplace_scratch_len());
        s.fft.resize(need, Complex32::new(0.0, 0.0));
        let mix = s.a.chunks_exact_mut(h).zip(self.spec[0].chunks_exact(h).zip(self.spec[1].chunks_exact(h)));
        for ((out, (sa, sb)), &ru) in mix.zip(&rx) {
            for (((o, &a), &b), &rv) in out.iter_mut().zip(sa).zip(sb).zip(&rz) {
                *o = (a * ca + b * cb) * (ru * rv);
            }
        }
        self.ifft_h.process_with_scratch(&mut s.a, &mut s.fft); // [u][r]
        transpose(&s.a, &mut s.b, w, h); // [r][u]
        self.ifft_w.process_with_scratch(&mut s.b, &mut s.fft); // [r][c]
        let ph = -2.0 * std::f64::consts::TAU * dz / self.wavelength_mm;
        let carrier = Complex32::new(ph.cos() as f32, ph.sin() as f32);
        for (r, &gain) in row_gain.iter().enumerate().take(self.rows) {
            let g = carrier * gain;
            let src = &s.b[(r + self.pad) * w + self.pad..(r + self.pad) * w + self.pad + self.cols];
            let mut line = frame.row_mut(r);
            for (p, &v) in line.iter_mut().zip(src) {
                *p += v * g;
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
    use crate::psf::GaussianPsf;

    #[test]
    fn fft_sizes_are_smooth() {
        assert_eq!(fft_size(97), 100);
        assert_eq!(fft_size(128), 128);
        assert_eq!(fft_size(257), 270);
    }

    #[test]
    fn pure_axial_shift_moves_speckle_and_rotates_phase() {
        // λ = 0.15 mm, pixel 0.05 mm: a one-pixel axial shift turns the phase by −4π/3.
        let lambda = 0.15;
        let psf = Psf::Gaussian(GaussianPsf::new(&ImagingConfig::default(), lambda));
        let cfg = TissueConfig {
            enabled: true,
            motion_amplitude_mm: [0.0, 0.0],
            drift_mm_s: [0.0, 1.0], // 1 mm/s: one pixel (0.05 mm) in 50 frames at 1 kHz
            decorrelation_rad_s: 0.0,
            ..TissueConfig::default()
        };
        let spec = TissueSpec {
            config: &cfg,
            psf: &psf,
            rows: 48,
            cols: 40,
            pixel_mm: 0.05,
            z0_mm: 5.0,
            frame_rate_hz: 1000.0,
            n_frames: 60,
            rms: 100.0,
        };
        let t = Tissue::new(&spec, &mut ChaCha8Rng::seed_from_u64(4));
        let gain = vec![1.0f32; 48];
        let mut s = TissueScratch::default();
        let mut f0 = Array2::<Complex32>::zeros((48, 40));
        let mut f1 = Array2::<Complex32>::zeros((48, 40));
        t.add_frame(0, &mut f0.view_mut(), &gain, &mut s);
        t.add_frame(50, &mut f1.view_mut(), &gain, &mut s);
        let rms = (f0.iter().map(|c| c.norm_sqr() as f64).sum::<f64>() / f0.len() as f64).sqrt();
        assert!((rms / 100.0 - 1.0).abs() < 1e-3, "rms {rms}");
        // Frame 50 = frame 0 shifted one row deeper, times exp(−i 4π · 0.05 / 0.15).
        let carrier = Complex32::from_polar(1.0, -4.0 * std::f32::consts::PI / 3.0);
        let mut err = 0.0f64;
        let mut tot = 0.0f64;
        for r in 1..48 {
            for c in 0..40 {
                err += (f1[[r, c]] - f0[[r - 1, c]] * carrier).norm_sqr() as f64;
                tot += f0[[r - 1, c]].norm_sqr() as f64;
            }
        }
        assert!(err / tot < 1e-6, "relative error {}", err / tot);
    }
}
