//! The physical PSF: the beamformed pulse-echo response of a linear array.
//!
//! Model (SIMUS-like, 2-D, far field per element): plane waves steered at the configured
//! angles insonify a point scatterer at `b`; element `i` at `xᵢ` receives the pulse-echo
//! waveform `h` (transmit burst × two-way transducer response × attenuation, built in the
//! frequency domain, [`super::pulse`]) delayed by the transmit time `(z cos θ + x sin θ)/c`
//! plus the return time `|b − eᵢ| / c`, weighted by the element's far-field directivity
//! `sinc(w sin φ / λ) cos φ` and the 2-D spreading `1/√r`. A delay-and-sum beamformer with
//! receive F-number and apodisation focuses every pixel `p`; the angles are summed
//! coherently (compounding). The beamformed analytic signal is demodulated at the centre
//! frequency with the pixel's nominal two-way time `2 z_p / c`, so the IQ image of a
//! bubble is `T(p − b; b) · exp(−i 4π z_b / λ)`: a complex template times the carrier
//! phase of the bubble's depth, exactly as the Gaussian model (and real IQ) has it, so
//! close bubbles interfere.
//!
//! The template `T` is tabulated once per configuration on a grid of bubble depths (linear
//! interpolation in between) and lateral positions (nearest; it changes laterally only where
//! the array clips the aperture), each over offsets `±L` at a fine step (bilinear), and
//! normalised so that a bubble at the reference depth on the axis has peak 1. Each template
//! is filled by [`BubbleResponse::template`] (the sums of [`BubbleResponse::at`], with what a
//! row shares computed once; equal to `at` to 1e-13 of the peak), and with mirror-symmetric
//! angles the slices left of the axis are the laterally reversed slices right of it.

use ndarray::{Array2, ArrayViewMut2};
use num_complex::Complex32;
use rayon::prelude::*;

mod template;

use super::SplatScratch;
use super::pulse::{PulseEcho, PulseSpec};
use crate::SimError;
use crate::config::ProbeConfig;

/// Everything needed to evaluate the beamformed response of one bubble position.
#[derive(Debug, Clone)]
pub struct PulseEchoModel {
    probe: ProbeConfig,
    spec: PulseSpec,
    c_mm_s: f64,
    lambda_mm: f64,
    /// `(sin θ, cos θ)` of each plane wave.
    angles: Vec<(f64, f64)>,
    elem_x: Vec<f64>,
}

/// The response to one bubble position, ready to evaluate at offsets.
pub struct BubbleResponse<'a> {
    model: &'a PulseEchoModel,
    xb: f64,
    zb: f64,
    pulse: PulseEcho,
    /// Directivity × spreading of each element towards the bubble.
    gain: Vec<f64>,
    /// Return time from the bubble to each element, s.
    t_rx: Vec<f64>,
}

impl PulseEchoModel {
    /// The model of `probe` at centre frequency `f0_hz`, speed of sound `c_m_s` and one-way
    /// attenuation `attenuation_db_cm_mhz`.
    pub fn new(probe: &ProbeConfig, f0_hz: f64, c_m_s: f64, attenuation_db_cm_mhz: f64) -> Result<Self, SimError> {
        probe.validate()?;
        let np_mm_hz = attenuation_db_cm_mhz / (20.0 / std::f64::consts::LN_10) / 10.0 / 1e6;
        let spec = PulseSpec {
            f0_hz,
            fractional_bandwidth: probe.fractional_bandwidth,
            cycles: probe.cycles,
            attenuation_np_mm_hz: np_mm_hz,
        };
        let c_mm_s = c_m_s * 1e3;
        let n = probe.elements;
        let elem_x = (0..n).map(|i| (i as f64 - (n as f64 - 1.0) / 2.0) * probe.pitch_mm).collect();
        let angles = probe.angles_deg.iter().map(|a| (a.to_radians().sin(), a.to_radians().cos())).collect();
        Ok(Self { probe: probe.clone(), spec, c_mm_s, lambda_mm: c_mm_s / f0_hz, angles, elem_x })
    }

    /// Wavelength, mm.
    pub fn wavelength_mm(&self) -> f64 {
        self.lambda_mm
    }

    /// The elements `lo..=hi` inside the receive aperture of width `aperture` mm centred on
    /// `xp` (at least the nearest one).
    fn active_elements(&self, xp: f64, aperture: f64) -> (usize, usize) {
        let pitch = self.probe.pitch_mm;
        let x_first = self.elem_x[0];
        let last = (self.elem_x.len() - 1) as f64;
        let lo = ((xp - aperture / 2.0 - x_first) / pitch).ceil().clamp(0.0, last) as usize;
        let hi = ((xp + aperture / 2.0 - x_first) / pitch).floor().clamp(0.0, last) as usize;
        if lo > hi {
            let k = ((xp - x_first) / pitch).round().clamp(0.0, last) as usize;
            (k, k)
        } else {
            (lo, hi)
        }
    }

    /// Prepares the response to a bubble at `(xb, zb)` mm.
    pub fn bubble(&self, xb: f64, zb: f64) -> BubbleResponse<'_> {
        let w_l = self.probe.element_width_mm / self.lambda_mm;
        let (mut gain, mut t_rx) = (Vec::with_capacity(self.elem_x.len()), Vec::with_capacity(self.elem_x.len()));
        for &xe in &self.elem_x {
            let r = (xb - xe).hypot(zb);
            let (s, c) = ((xb - xe) / r, zb / r);
            let u = std::f64::consts::PI * w_l * s;
            let sinc = if u.abs() < 1e-9 { 1.0 } else { u.sin() / u };
            gain.push(sinc * c / r.sqrt());
            t_rx.push(r / self.c_mm_s);
        }
        BubbleResponse { model: self, xb, zb, pulse: PulseEcho::new(&self.spec, zb), gain, t_rx }
    }
}

impl BubbleResponse<'_> {
    /// The demodulated, beamformed IQ at offset `(dx, dz)` mm from the bubble, without the
    /// bubble's carrier phase `exp(−i 4π z_b / λ)` (unnormalised).
    pub fn at(&self, dx: f64, dz: f64) -> Complex32 {
        let m = self.model;
        let (xp, zp) = (self.xb + dx, self.zb + dz);
        if zp <= 0.0 {
            return Complex32::new(0.0, 0.0);
        }
        let aperture = zp / m.probe.receive_f_number;
        let (lo, hi) = m.active_elements(xp, aperture);
        let dtx: Vec<f64> = m.angles.iter().map(|&(s, c)| (dz * c + dx * s) / m.c_mm_s).collect();
        let mut acc = Complex32::new(0.0, 0.0);
        for i in lo..=hi {
            let xe = m.elem_x[i];
            let u = (xe - xp) / aperture;
            let a = if lo == hi { 1.0 } else { m.probe.apodization.weight(u) };
            if a == 0.0 {
                continue;
            }
            let w = (a * self.gain[i]) as f32;
            let t_rx = (xp - xe).hypot(zp) / m.c_mm_s - self.t_rx[i];
            let mut sum = Complex32::new(0.0, 0.0);
            for &t_tx in &dtx {
                sum += self.pulse.at(t_tx + t_rx);
            }
            acc += sum * w;
        }
        let ph = -2.0 * std::f64::consts::TAU * dz / m.lambda_mm;
        acc * Complex32::new(ph.cos() as f32, ph.sin() as f32)
    }

    /// The echo's axial half-extent (transmit + receive), mm: beyond it the response is 0.
    pub fn axial_half_extent_mm(&self) -> f64 {
        self.pulse.half_support_s() * self.model.c_mm_s / 2.0
    }
}

/// Tabulated physical PSF (see the module docs).
#[derive(Debug, Clone)]
pub struct PhysicalPsf {
    wavelength_mm: f64,
    /// Template offset grid: step (mm) and half-counts (lateral, axial).
    step_mm: f64,
    hx: usize,
    hz: usize,
    /// Bubble grid: depths (ascending) and lateral positions.
    zs: Vec<f64>,
    xs: Vec<f64>,
    /// `templates[iz * xs.len() + ix]`, each `[2 hz + 1][2 hx + 1]`, row-major.
    templates: Vec<Vec<Complex32>>,
    /// Lateral / axial FWHM of the on-axis template at each depth, mm.
    lateral_fwhm: Vec<f64>,
    axial_fwhm: Vec<f64>,
}

impl PhysicalPsf {
    /// Tabulates the PSF of `model` for bubbles in depths `z_range` and lateral positions
    /// `x_range` (mm), normalised to peak 1 for a bubble at `(0, reference_depth_mm)`.
    pub fn new(
        model: &PulseEchoModel,
        z_range: (f64, f64),
        x_range: (f64, f64),
        reference_depth_mm: f64,
    ) -> Result<Self, SimError> {
        let p = &model.probe;
        let lambda = model.lambda_mm;
        let step = p.template_step_wavelengths * lambda;
        let hx = (p.template_half_width_wavelengths / p.template_step_wavelengths).ceil() as usize;
        let grid = |lo: f64, hi: f64, d: f64| -> Vec<f64> {
            let n = (((hi - lo) / d).ceil() as usize).max(1);
            (0..=n).map(|k| lo + (hi - lo) * k as f64 / n as f64).collect()
        };
        let z_lo = z_range.0.max(lambda);
        let zs = grid(z_lo, z_range.1.max(z_lo + lambda), p.depth_step_mm);
        let xs = grid(x_range.0, x_range.1, p.lateral_step_mm);
        // Axial extent: the longest echo (the deepest, most attenuated) plus the tilt of the
        // steered wavefronts across the lateral window, capped at 6 λ.
        let max_sin = model.angles.iter().map(|a| a.0.abs()).fold(0.0, f64::max);
        let deep = model.bubble(0.0, *zs.last().expect("non-empty"));
        let lz = (deep.pulse.half_width_at(1e-3) * model.c_mm_s / 2.0 + 0.5 * max_sin * hx as f64 * step + step)
            .min(6.0 * lambda);
        let hz = (lz / step).ceil() as usize;
        // Lateral slices whose mirror image is computed: with a mirror-symmetric set of angles
        // (the array is symmetric about x = 0), the template of a bubble at −x is that of +x
        // reversed laterally; simulated fields are centred, so this halves the work.
        let mirror = mirror_slices(&xs, &model.angles);
        let cells: Vec<(usize, usize)> = (0..zs.len()).flat_map(|iz| (0..xs.len()).map(move |ix| (iz, ix))).collect();
        let computed: Vec<Option<Vec<Complex32>>> = cells
            .par_iter()
            .map(|&(iz, ix)| mirror[ix].is_none().then(|| model.bubble(xs[ix], zs[iz]).template(hx, hz, step)))
            .collect();
        let (nx, nxs) = (2 * hx + 1, xs.len());
        let mut templates: Vec<Vec<Complex32>> = cells
            .iter()
            .zip(&computed)
            .map(|(&(iz, ix), t)| match (t, mirror[ix]) {
                (Some(t), _) => t.clone(),
                (None, Some(m)) => {
                    let src = computed[iz * nxs + m].as_ref().expect("mirrors are computed");
                    src.chunks_exact(nx).flat_map(|row| row.iter().rev().copied()).collect()
                }
                (None, None) => unreachable!("a slice is computed or mirrored"),
            })
            .collect();
        drop(computed);
        let reference = model.bubble(0.0, reference_depth_mm.max(lambda)).at(0.0, 0.0).norm();
        if !(reference.is_finite() && reference > 0.0) {
            return Err(SimError::Config(format!(
                "probe: no echo from the reference depth {reference_depth_mm} mm (check the probe parameters)"
            )));
        }
        for t in &mut templates {
            for v in t.iter_mut() {
                *v /= reference;
            }
        }
        let mut psf = Self {
            wavelength_mm: lambda,
            step_mm: step,
            hx,
            hz,
            zs,
            xs,
            templates,
            lateral_fwhm: Vec::new(),
            axial_fwhm: Vec::new(),
        };
        let ix0 = psf.nearest_x(0.0);
        for iz in 0..psf.zs.len() {
            let t = psf.template(iz, ix0);
            let row: Vec<f64> = t.row(hz).iter().map(|v| v.norm() as f64).collect();
            let col: Vec<f64> = t.column(hx).iter().map(|v| v.norm() as f64).collect();
            psf.lateral_fwhm.push(fwhm_samples(&row, hx) * step);
            psf.axial_fwhm.push(fwhm_samples(&col, hz) * step);
        }
        Ok(psf)
    }

    fn nearest_x(&self, x: f64) -> usize {
        let (x0, x1) = (self.xs[0], *self.xs.last().expect("non-empty"));
        if self.xs.len() == 1 {
            return 0;
        }
        let k = (x - x0) / (x1 - x0) * (self.xs.len() - 1) as f64;
        k.round().clamp(0.0, (self.xs.len() - 1) as f64) as usize
    }

    /// Depth slice index and blend weight of the next slice for depth `z`.
    fn depth_slot(&self, z: f64) -> (usize, f32) {
        let n = self.zs.len();
        if n == 1 {
            return (0, 0.0);
        }
        let (z0, z1) = (self.zs[0], self.zs[n - 1]);
        let k = ((z - z0) / (z1 - z0) * (n - 1) as f64).clamp(0.0, (n - 1) as f64);
        let i = (k as usize).min(n - 2);
        (i, (k - i as f64) as f32)
    }

    /// The tabulated template of depth slice `iz`, lateral slice `ix`, `[axial, lateral]`.
    pub fn template(&self, iz: usize, ix: usize) -> Array2<Complex32> {
        let t = &self.templates[iz * self.xs.len() + ix];
        Array2::from_shape_vec((2 * self.hz + 1, 2 * self.hx + 1), t.clone()).expect("template shape")
    }

    /// Tabulated depths, mm.
    pub fn depths_mm(&self) -> &[f64] {
        &self.zs
    }

    /// Sampling step of the templates, mm.
    pub fn step_mm(&self) -> f64 {
        self.step_mm
    }

    /// Wavelength, mm.
    pub fn wavelength_mm(&self) -> f64 {
        self.wavelength_mm
    }

    /// Measured lateral FWHM (envelope) of an on-axis bubble at depth `z_mm`, mm.
    pub fn lateral_fwhm_mm(&self, z_mm: f64) -> f64 {
        self.blend(&self.lateral_fwhm, z_mm)
    }

    /// Measured axial FWHM (envelope) of an on-axis bubble at depth `z_mm`, mm.
    pub fn axial_fwhm_at(&self, z_mm: f64) -> f64 {
        self.blend(&self.axial_fwhm, z_mm)
    }

    fn blend(&self, v: &[f64], z: f64) -> f64 {
        let (i, w) = self.depth_slot(z);
        if v.len() == 1 {
            return v[0];
        }
        v[i] * (1.0 - w as f64) + v[i + 1] * w as f64
    }

    /// Half-size of the template, `(lateral, axial)` in mm.
    pub fn window_mm(&self) -> (f64, f64) {
        (self.hx as f64 * self.step_mm, self.hz as f64 * self.step_mm)
    }

    /// The interpolated template value at offset `(dx, dz)` mm for a bubble at `(x, z)` mm.
    pub fn value(&self, x_mm: f64, z_mm: f64, dx: f64, dz: f64) -> Complex32 {
        let (iz, w) = self.depth_slot(z_mm);
        let ix = self.nearest_x(x_mm);
        let a = self.bilinear(iz, ix, dx, dz);
        if w > 0.0 { a * (1.0 - w) + self.bilinear(iz + 1, ix, dx, dz) * w } else { a }
    }

    fn bilinear(&self, iz: usize, ix: usize, dx: f64, dz: f64) -> Complex32 {
        let t = &self.templates[iz * self.xs.len() + ix];
        let nx = 2 * self.hx + 1;
        let u = dx / self.step_mm + self.hx as f64;
        let v = dz / self.step_mm + self.hz as f64;
        if u < 0.0 || v < 0.0 {
            return Complex32::new(0.0, 0.0);
        }
        let (i, j) = (u as usize, v as usize);
        if i + 1 >= nx || j >= 2 * self.hz {
            return Complex32::new(0.0, 0.0);
        }
        let (fu, fv) = ((u - i as f64) as f32, (v - j as f64) as f32);
        let r0 = j * nx + i;
        let r1 = r0 + nx;
        let top = t[r0] * (1.0 - fu) + t[r0 + 1] * fu;
        let bot = t[r1] * (1.0 - fu) + t[r1 + 1] * fu;
        top * (1.0 - fv) + bot * fv
    }

    /// Adds the echo of a bubble at `(x_mm, z_mm)` (fractional pixel `(col, row)`) with
    /// complex amplitude `amp` (carrier phase included) into `frame` of pixel pitch
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
        let (rows, cols) = frame.dim();
        let (wx, wz) = self.window_mm();
        let (c0, c1) = super::window(col, wx / pixel_mm.0, cols);
        let (r0, r1) = super::window(row, wz / pixel_mm.1, rows);
        if c0 >= c1 || r0 >= r1 {
            return;
        }
        let (iz, w) = self.depth_slot(z_mm);
        let ix = self.nearest_x(x_mm);
        // Lateral sample positions of the columns in template units, shared by every row.
        scratch.lat.clear();
        scratch.lat.extend((c0..c1).map(|c| (((c as f64 - col) * pixel_mm.0) / self.step_mm + self.hx as f64) as f32));
        let nx = 2 * self.hx + 1;
        let nz = 2 * self.hz + 1;
        let slices: [(usize, f32); 2] = [(iz, 1.0 - w), (iz + 1, w)];
        for r in r0..r1 {
            let v = (r as f64 - row) * pixel_mm.1 / self.step_mm + self.hz as f64;
            if v < 0.0 {
                continue;
            }
            let j = v as usize;
            if j + 1 >= nz {
                continue;
            }
            let fv = (v - j as f64) as f32;
            let mut line = frame.row_mut(r);
            let line = &mut line.as_slice_mut().expect("frames are C-order")[c0..c1];
            for &(s, ws) in &slices {
                if ws == 0.0 {
                    continue;
                }
                let t = &self.templates[s * self.xs.len() + ix];
                let a = amp * ws;
                for (p, &u) in line.iter_mut().zip(scratch.lat.iter()) {
                    if u < 0.0 {
                        continue;
                    }
                    let i = u as usize;
                    if i + 1 >= nx {
                        continue;
                    }
                    let fu = u - i as f32;
                    let k = j * nx + i;
                    let top = t[k] * (1.0 - fu) + t[k + 1] * fu;
                    let bot = t[k + nx] * (1.0 - fu) + t[k + nx + 1] * fu;
                    *p += a * (top * (1.0 - fv) + bot * fv);
                }
            }
        }
    }

    /// The on-axis PSF of depth `z_mm` resampled on a pixel grid of pitch `pixel_mm`
    /// `(x, z)`: a `[2 kz + 1, 2 kx + 1]` kernel centred on the middle sample (for
    /// convolving scatterer fields, e.g. tissue speckle).
    pub fn pixel_kernel(&self, z_mm: f64, pixel_mm: (f64, f64)) -> Array2<Complex32> {
        let (wx, wz) = self.window_mm();
        let kx = (wx / pixel_mm.0).floor() as usize;
        let kz = (wz / pixel_mm.1).floor() as usize;
        Array2::from_shape_fn((2 * kz + 1, 2 * kx + 1), |(r, c)| {
            let dz = (r as f64 - kz as f64) * pixel_mm.1;
            let dx = (c as f64 - kx as f64) * pixel_mm.0;
            self.value(0.0, z_mm, dx, dz)
        })
    }
}

/// For each lateral slice, the slice whose laterally reversed template it is (`None`: it is
/// computed): slices left of the centre mirror those right of it when the positions are
/// opposite (to 1e-9 mm, rounding of the grid) and every angle has its opposite (to 1e-12).
pub(super) fn mirror_slices(xs: &[f64], angles: &[(f64, f64)]) -> Vec<Option<usize>> {
    let mut sines: Vec<f64> = angles.iter().map(|a| a.0).collect();
    sines.sort_by(f64::total_cmp);
    let symmetric = sines.iter().zip(sines.iter().rev()).all(|(a, b)| (a + b).abs() <= 1e-12);
    let n = xs.len();
    (0..n)
        .map(|ix| {
            let m = n - 1 - ix;
            (symmetric && ix < m && (xs[ix] + xs[m]).abs() <= 1e-9).then_some(m)
        })
        .collect()
}

/// FWHM in samples of a profile around its peak near `centre` (linear interpolation of the
/// half-maximum crossings); the whole length if it never falls to half.
pub(crate) fn fwhm_samples(p: &[f64], centre: usize) -> f64 {
    let imax =
        (centre.saturating_sub(2)..(centre + 3).min(p.len())).max_by(|&a, &b| p[a].total_cmp(&p[b])).unwrap_or(centre);
    let half = p[imax] / 2.0;
    let mut l = imax;
    while l > 0 && p[l] > half {
        l -= 1;
    }
    let mut r = imax;
    while r + 1 < p.len() && p[r] > half {
        r += 1;
    }
    if p[l] > half || p[r] > half {
        return p.len() as f64;
    }
    let xl = l as f64 + (half - p[l]) / (p[l + 1] - p[l]);
    let xr = r as f64 - (half - p[r]) / (p[r - 1] - p[r]);
    xr - xl
}
