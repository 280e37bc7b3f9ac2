//! The Gaussian PSF model: separable Gaussian envelope whose lateral width
//! grows with depth (`FWHM_x = lateral_factor · λ · max(F#min, z / aperture)`) and whose
//! axial width is set by the pulse (`FWHM_z = pulse_cycles · λ / 2`), plus weak lateral
//! side lobes (default −30 dB at ±1.8 FWHM, separated from the main lobe by a dip), times the carrier
//! phase of the demodulated echo, `exp(−i 4π z_b / λ + i φ_b)`, so that overlapping
//! bubbles interfere like real echoes.

use ndarray::ArrayViewMut2;
use num_complex::Complex32;

use super::{FWHM_PER_SIGMA, SplatScratch};
use crate::config::ImagingConfig;

/// The depth-dependent Gaussian PSF model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GaussianPsf {
    wavelength_mm: f64,
    aperture_mm: f64,
    f_number_min: f64,
    lateral_factor: f64,
    axial_fwhm_mm: f64,
    window_sigmas: f64,
    sidelobe: f64,
}

/// Side lobes sit at ±`SIDELOBE_OFFSET` lateral FWHM from the centre.
const SIDELOBE_OFFSET: f64 = 1.8;
/// Width of a side lobe relative to the main lobe.
const SIDELOBE_WIDTH: f64 = 0.5;

impl GaussianPsf {
    /// The PSF of an imaging configuration at wavelength `wavelength_mm`.
    pub fn new(cfg: &ImagingConfig, wavelength_mm: f64) -> Self {
        Self {
            wavelength_mm,
            aperture_mm: cfg.aperture_mm,
            f_number_min: cfg.f_number_min,
            lateral_factor: cfg.lateral_factor,
            axial_fwhm_mm: cfg.pulse_cycles * wavelength_mm / 2.0,
            window_sigmas: cfg.psf_window_sigmas,
            sidelobe: if cfg.lateral_sidelobe_db <= -200.0 { 0.0 } else { 10f64.powf(cfg.lateral_sidelobe_db / 20.0) },
        }
    }

    /// Wavelength, mm.
    pub fn wavelength_mm(&self) -> f64 {
        self.wavelength_mm
    }

    /// Receive F-number at depth `z_mm`.
    pub fn f_number(&self, z_mm: f64) -> f64 {
        (z_mm / self.aperture_mm).max(self.f_number_min)
    }

    /// Lateral FWHM of the envelope at depth `z_mm`, mm.
    pub fn lateral_fwhm_mm(&self, z_mm: f64) -> f64 {
        self.lateral_factor * self.wavelength_mm * self.f_number(z_mm)
    }

    /// Axial FWHM of the envelope, mm.
    pub fn axial_fwhm_mm(&self) -> f64 {
        self.axial_fwhm_mm
    }

    /// Half-size of the evaluation window at depth `z_mm`, `(lateral, axial)` in mm.
    pub fn window_mm(&self, z_mm: f64) -> (f64, f64) {
        let k = self.window_sigmas / FWHM_PER_SIGMA;
        (k * self.lateral_fwhm_mm(z_mm), k * self.axial_fwhm_mm)
    }

    /// Adds the echo of a point at fractional pixel `(col, row)` (pixel centres at integer
    /// indices) and depth `z_mm`, with complex amplitude `amp`, into `frame` whose pixel
    /// pitch is `pixel_mm = (x, z)`. The envelope is evaluated only within
    /// `±window_sigmas` standard deviations.
    #[allow(clippy::too_many_arguments)]
    pub fn splat(
        &self,
        frame: &mut ArrayViewMut2<'_, Complex32>,
        col: f64,
        row: f64,
        z_mm: f64,
        pixel_mm: (f64, f64),
        amp: Complex32,
        scratch: &mut SplatScratch,
    ) {
        let (rows, cols) = frame.dim();
        let sx = self.lateral_fwhm_mm(z_mm) / FWHM_PER_SIGMA / pixel_mm.0; // px
        let sz = self.axial_fwhm_mm / FWHM_PER_SIGMA / pixel_mm.1; // px
        let mut half_x = sx * self.window_sigmas;
        if self.sidelobe > 0.0 {
            half_x = half_x.max(SIDELOBE_OFFSET * FWHM_PER_SIGMA * sx + self.window_sigmas * SIDELOBE_WIDTH * sx);
        }
        let (c0, c1) = super::window(col, half_x, cols);
        let (r0, r1) = super::window(row, sz * self.window_sigmas, rows);
        if c0 >= c1 || r0 >= r1 {
            return;
        }
        gauss(&mut scratch.lat, c0, c1, col, sx);
        if self.sidelobe > 0.0 {
            let (off, w) = (SIDELOBE_OFFSET * FWHM_PER_SIGMA * sx, SIDELOBE_WIDTH * sx);
            let k = -0.5 / (w * w);
            for (i, v) in (c0..c1).zip(scratch.lat.iter_mut()) {
                let d = (i as f64 - col).abs() - off;
                *v += (self.sidelobe * (k * d * d).exp()) as f32;
            }
        }
        gauss(&mut scratch.ax, r0, r1, row, sz);
        for (r, &wz) in (r0..r1).zip(scratch.ax.iter()) {
            let a = amp * wz;
            let mut line = frame.row_mut(r);
            let line = &mut line.as_slice_mut().expect("frames are C-order")[c0..c1];
            for (p, &w) in line.iter_mut().zip(scratch.lat.iter()) {
                *p += a * w;
            }
        }
    }
}

fn gauss(out: &mut Vec<f32>, lo: usize, hi: usize, centre: f64, sigma: f64) {
    out.clear();
    let k = -0.5 / (sigma * sigma);
    out.extend((lo..hi).map(|i| {
        let d = i as f64 - centre;
        (k * d * d).exp() as f32
    }));
}

#[cfg(test)]
mod tests {
    use ndarray::Array2;

    use super::*;

    /// FWHM of a sampled profile by linear interpolation of the half-maximum crossings.
    fn fwhm(p: &[f64]) -> f64 {
        let (imax, &m) = p.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap();
        let half = m / 2.0;
        let mut l = imax;
        while p[l] > half {
            l -= 1;
        }
        let mut r = imax;
        while p[r] > half {
            r += 1;
        }
        let xl = l as f64 + (half - p[l]) / (p[l + 1] - p[l]);
        let xr = r as f64 - (half - p[r]) / (p[r - 1] - p[r]);
        xr - xl
    }

    #[test]
    fn measured_fwhm_matches_configured_at_several_depths() {
        let cfg = ImagingConfig { aperture_mm: 4.0, ..ImagingConfig::default() };
        let lambda = 0.098_56;
        let psf = GaussianPsf::new(&cfg, lambda);
        // Render on a grid 8× finer than λ/2 so the half-maximum crossings are resolved.
        let px = lambda / 16.0;
        let mut scratch = SplatScratch::default();
        for z in [4.0, 8.0, 12.0, 16.0] {
            let mut f = Array2::<Complex32>::zeros((200, 400));
            // Off-grid centre: the FWHM must not depend on the sub-pixel phase.
            psf.splat(&mut f.view_mut(), 200.3, 100.7, z, (px, px), Complex32::new(0.0, 2.0), &mut scratch);
            let env = f.mapv(|c| c.norm() as f64);
            let fx = fwhm(&env.row(101).to_vec()) * px;
            let fz = fwhm(&env.column(200).to_vec()) * px;
            let want_x = lambda * (z / 4.0).max(1.5);
            let want_z = 1.5 * lambda / 2.0;
            assert!((fx / want_x - 1.0).abs() < 0.01, "z={z}: lateral {fx} vs {want_x}");
            assert!((fz / want_z - 1.0).abs() < 0.01, "z={z}: axial {fz} vs {want_z}");
        }
    }

    #[test]
    fn psf_centre_is_the_point_position() {
        let psf = GaussianPsf::new(&ImagingConfig::default(), 0.1);
        let mut f = Array2::<Complex32>::zeros((40, 40));
        let mut scratch = SplatScratch::default();
        psf.splat(&mut f.view_mut(), 17.25, 21.6, 6.0, (0.05, 0.05), Complex32::new(1.0, 0.0), &mut scratch);
        // The log of a Gaussian is a parabola: a 3-point fit around the peak gives the
        // centre exactly, whatever the sub-pixel position.
        let env = f.mapv(|c| (c.norm() as f64).ln());
        let vertex = |a: f64, b: f64, c: f64| 0.5 * (a - c) / (a - 2.0 * b + c);
        let cx = 17.0 + vertex(env[[22, 16]], env[[22, 17]], env[[22, 18]]);
        let cz = 22.0 + vertex(env[[21, 17]], env[[22, 17]], env[[23, 17]]);
        assert!((cx - 17.25).abs() < 1e-4, "{cx}");
        assert!((cz - 21.6).abs() < 1e-4, "{cz}");
    }

    #[test]
    fn side_lobes_at_configured_level_and_offset() {
        let cfg = ImagingConfig { lateral_sidelobe_db: -30.0, ..ImagingConfig::default() };
        let psf = GaussianPsf::new(&cfg, 0.1);
        let px = 0.01; // fine grid
        let mut f = Array2::<Complex32>::zeros((3, 400));
        psf.splat(&mut f.view_mut(), 200.0, 1.0, 5.0, (px, px), Complex32::new(1.0, 0.0), &mut SplatScratch::default());
        let row: Vec<f64> = f.row(1).iter().map(|c| c.norm() as f64).collect();
        let fwhm_px = psf.lateral_fwhm_mm(5.0) / px;
        // Largest value beyond the main lobe (|d| > 1.4 FWHM): the side-lobe peak.
        let (imax, vmax) = row
            .iter()
            .enumerate()
            .filter(|(i, _)| (*i as f64 - 200.0).abs() > 1.4 * fwhm_px)
            .fold((0, 0.0), |a, (i, &v)| if v > a.1 { (i, v) } else { a });
        assert!((20.0 * vmax.log10() + 30.0).abs() < 0.2, "side lobe {} dB", 20.0 * vmax.log10());
        assert!(((imax as f64 - 200.0).abs() / fwhm_px - 1.8).abs() < 0.05, "side lobe at {imax}");
        // A distinct lobe: the profile dips between the main lobe and the side lobe.
        let dip = row[(200.0 + 1.5 * fwhm_px) as usize];
        assert!(dip < 0.5 * vmax, "no dip: {dip} vs {vmax}");
    }
}
