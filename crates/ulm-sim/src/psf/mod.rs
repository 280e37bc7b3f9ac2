//! Point-spread functions: the idealised Gaussian model ([`GaussianPsf`]) and the
//! physical pulse-echo model of a linear array ([`PhysicalPsf`]), behind one [`Psf`].
//!
//! Both render a bubble at depth `z_b` as a complex envelope times the carrier phase of the
//! demodulated echo, `exp(−i 4π z_b / λ + i φ_b)`, so overlapping echoes interfere.

mod gaussian;
mod physical;
mod pulse;
#[cfg(test)]
mod tests;

pub use gaussian::GaussianPsf;
use ndarray::ArrayViewMut2;
use num_complex::Complex32;
pub use physical::{BubbleResponse, PhysicalPsf, PulseEchoModel};
pub use pulse::{PulseEcho, PulseSpec};

use crate::config::PsfModel;
use crate::{SimConfig, SimError};

/// FWHM of a Gaussian over its standard deviation, `2 √(2 ln 2)`.
pub const FWHM_PER_SIGMA: f64 = 2.354_820_045_030_949;

/// Reusable buffers for the splat functions.
#[derive(Debug, Default, Clone)]
pub struct SplatScratch {
    lat: Vec<f32>,
    ax: Vec<f32>,
}

/// The PSF a simulation renders with.
#[derive(Debug, Clone)]
pub enum Psf {
    /// Separable Gaussian envelope.
    Gaussian(GaussianPsf),
    /// Tabulated pulse-echo response of the probe.
    Physical(Box<PhysicalPsf>),
}

impl Psf {
    /// The PSF of `config` (the physical one tabulated over the field of view plus a
    /// margin, normalised at `reference_depth_mm`).
    pub fn for_config(config: &SimConfig, reference_depth_mm: f64) -> Result<Self, SimError> {
        let lambda = config.wavelength_mm();
        match config.imaging.psf {
            PsfModel::Gaussian => Ok(Psf::Gaussian(GaussianPsf::new(&config.imaging, lambda))),
            PsfModel::Physical => {
                let g = config.geometry()?;
                let (x0, x1) = g.x_range_mm(config.grid.cols);
                let (z0, z1) = (g.z0_mm, g.row_to_z_mm(config.grid.rows as f64 - 1.0));
                let m = config.vessels.margin_mm.min(1.0);
                let model = PulseEchoModel::new(
                    &config.probe,
                    config.grid.center_frequency_hz,
                    config.grid.speed_of_sound_m_s,
                    config.imaging.attenuation_db_cm_mhz,
                )?;
                let psf = PhysicalPsf::new(&model, (z0 - m, z1 + m), (x0 - m, x1 + m), reference_depth_mm)?;
                Ok(Psf::Physical(Box::new(psf)))
            }
        }
    }

    /// Wavelength, mm.
    pub fn wavelength_mm(&self) -> f64 {
        match self {
            Psf::Gaussian(p) => p.wavelength_mm(),
            Psf::Physical(p) => p.wavelength_mm(),
        }
    }

    /// Lateral FWHM of the envelope at depth `z_mm` (measured on the tabulated PSF for the
    /// physical model), mm.
    pub fn lateral_fwhm_mm(&self, z_mm: f64) -> f64 {
        match self {
            Psf::Gaussian(p) => p.lateral_fwhm_mm(z_mm),
            Psf::Physical(p) => p.lateral_fwhm_mm(z_mm),
        }
    }

    /// Axial FWHM of the envelope at depth `z_mm`, mm.
    pub fn axial_fwhm_mm(&self, z_mm: f64) -> f64 {
        match self {
            Psf::Gaussian(p) => p.axial_fwhm_mm(),
            Psf::Physical(p) => p.axial_fwhm_at(z_mm),
        }
    }

    /// Adds the echo of a bubble at `(x_mm, z_mm)`, i.e. fractional pixel `(col, row)`,
    /// with complex amplitude `amp` (carrier phase included) into `frame` of pixel pitch
    /// `pixel_mm = (x, z)`.
    #[allow(clippy::too_many_arguments)]
    pub fn splat(
        &self,
        frame: &mut ArrayViewMut2<'_, Complex32>,
        col: f64,
        row: f64,
        x_mm: f64,
        z_mm: f64,
        pixel_mm: (f64, f64),
        amp: Complex32,
        scratch: &mut SplatScratch,
    ) {
        match self {
            Psf::Gaussian(p) => p.splat(frame, col, row, z_mm, pixel_mm, amp, scratch),
            Psf::Physical(p) => p.splat(frame, col, row, x_mm, z_mm, pixel_mm, amp, scratch),
        }
    }
}

/// The pixel range `[lo, hi)` within `half` pixels of `centre`, clipped to `0..n`.
pub(crate) fn window(centre: f64, half: f64, n: usize) -> (usize, usize) {
    let lo = (centre - half).ceil().max(0.0);
    let hi = ((centre + half).floor() + 1.0).min(n as f64);
    if hi <= 0.0 || lo >= n as f64 || lo >= hi { (0, 0) } else { (lo as usize, hi as usize) }
}
