//! The pulse-echo waveform, built in the frequency domain: the spectrum of the transmit
//! burst times the two-way transducer response times the round-trip attenuation, turned
//! into an analytic (positive-frequency) time signal by an inverse FFT.

use num_complex::{Complex32, Complex64};
use rustfft::FftPlanner;

/// Samples per period of the centre frequency in the tabulated waveform (linear
/// interpolation error ≈ (2π/64)²/8 ≈ 0.1 %).
const SAMPLES_PER_PERIOD: usize = 64;
/// FFT length: 64 periods of time window, f₀/64 frequency resolution.
const N_FFT: usize = 4096;

/// Parameters of the pulse-echo spectrum.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PulseSpec {
    /// Centre (transmit and demodulation) frequency, Hz.
    pub f0_hz: f64,
    /// Two-way fractional bandwidth at −6 dB of the transducer (Gaussian response).
    pub fractional_bandwidth: f64,
    /// Cycles of the transmit burst (rectangular envelope, centred on t = 0); 0 = impulse.
    pub cycles: f64,
    /// Attenuation, Np per mm per Hz (one way).
    pub attenuation_np_mm_hz: f64,
}

impl PulseSpec {
    /// Amplitude spectrum of the echo from depth `depth_mm`, relative to the attenuation at
    /// `f0` (which the engine applies separately with the time-gain compensation).
    pub fn spectrum(&self, f_hz: f64, depth_mm: f64) -> f64 {
        if f_hz <= 0.0 {
            return 0.0;
        }
        let f0 = self.f0_hz;
        let sigma = self.fractional_bandwidth * f0 / super::FWHM_PER_SIGMA;
        let probe = (-(f_hz - f0).powi(2) / (2.0 * sigma * sigma)).exp();
        // Burst of N cycles centred on t = 0: sinc((f − f₀) N / f₀) (its negative-frequency
        // image is outside the analytic signal).
        let burst = if self.cycles > 0.0 {
            let u = std::f64::consts::PI * (f_hz - f0) * self.cycles / f0;
            if u.abs() < 1e-12 { 1.0 } else { u.sin() / u }
        } else {
            1.0
        };
        let atten = (-2.0 * self.attenuation_np_mm_hz * (f_hz - f0) * depth_mm).exp();
        probe * burst * atten
    }
}

/// The analytic pulse-echo waveform `h(t) = ∫₀^∞ H(f) e^{i2πft} df` of one depth, tabulated.
#[derive(Debug, Clone)]
pub struct PulseEcho {
    dt_s: f64,
    /// Samples from `−half · dt` to `+half · dt`.
    half: usize,
    h: Vec<Complex32>,
}

impl PulseEcho {
    /// The waveform of `spec` for an echo from `depth_mm`, normalised to `h(0) = 1`.
    pub fn new(spec: &PulseSpec, depth_mm: f64) -> Self {
        let fs = spec.f0_hz * SAMPLES_PER_PERIOD as f64;
        let df = fs / N_FFT as f64;
        let mut buf: Vec<Complex64> = (0..N_FFT)
            .map(|k| {
                // Positive frequencies only, up to fs / 2 (= 32 f₀).
                let f = k as f64 * df;
                if k < N_FFT / 2 { Complex64::new(spec.spectrum(f, depth_mm), 0.0) } else { Complex64::new(0.0, 0.0) }
            })
            .collect();
        FftPlanner::<f64>::new().plan_fft_inverse(N_FFT).process(&mut buf);
        let peak = buf[0].norm().max(f64::MIN_POSITIVE);
        // Support: where |h| exceeds 1e-4 of its peak (the spectrum is real, so |h| is
        // symmetric about t = 0).
        let half = (1..N_FFT / 2).rev().find(|&k| buf[k].norm() > 1e-4 * peak).unwrap_or(1) + 1;
        let h = (0..=2 * half)
            .map(|i| {
                let k = (i as isize - half as isize).rem_euclid(N_FFT as isize) as usize;
                let v = buf[k] / buf[0];
                Complex32::new(v.re as f32, v.im as f32)
            })
            .collect();
        Self { dt_s: 1.0 / fs, half, h }
    }

    /// `h(t)` by linear interpolation; 0 outside the tabulated support.
    #[inline]
    pub fn at(&self, t_s: f64) -> Complex32 {
        let x = t_s / self.dt_s + self.half as f64;
        if x < 0.0 {
            return Complex32::new(0.0, 0.0);
        }
        let i = x as usize;
        if i + 1 >= self.h.len() {
            return Complex32::new(0.0, 0.0);
        }
        let w = (x - i as f64) as f32;
        self.h[i] * (1.0 - w) + self.h[i + 1] * w
    }

    /// The table behind [`PulseEcho::at`]: samples per second, the index of `t = 0`, and
    /// the samples.
    pub(crate) fn samples(&self) -> (f64, usize, &[Complex32]) {
        (1.0 / self.dt_s, self.half, &self.h)
    }

    /// Half-length of the tabulated support, s.
    pub fn half_support_s(&self) -> f64 {
        self.half as f64 * self.dt_s
    }

    /// Half-width at which the envelope falls below `level` of its peak, s.
    pub fn half_width_at(&self, level: f32) -> f64 {
        let k = (0..self.half).rev().find(|&k| self.h[self.half + k].norm() > level).unwrap_or(0);
        (k + 1) as f64 * self.dt_s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaussian_pulse_envelope_fwhm_is_4ln2_over_pi_bandwidth() {
        // Impulse excitation: the envelope is the Fourier transform of a Gaussian spectrum,
        // FWHM_t · FWHM_f = 4 ln 2 / π.
        let spec = PulseSpec { f0_hz: 10e6, fractional_bandwidth: 0.5, cycles: 0.0, attenuation_np_mm_hz: 0.0 };
        let p = PulseEcho::new(&spec, 5.0);
        let want = 4.0 * 2f64.ln() / std::f64::consts::PI / (0.5 * 10e6);
        // Half maximum by bisection on the interpolated envelope.
        let (mut lo, mut hi) = (0.0, p.half_support_s());
        for _ in 0..60 {
            let m = 0.5 * (lo + hi);
            if p.at(m).norm() > 0.5 { lo = m } else { hi = m }
        }
        assert!((2.0 * lo / want - 1.0).abs() < 2e-3, "{} vs {want}", 2.0 * lo);
        // The carrier: h(t) turns at f₀ (the phase after a quarter period is π/2).
        let q = p.at(0.25 / 10e6);
        assert!((q.arg() - std::f32::consts::FRAC_PI_2).abs() < 0.02, "{}", q.arg());
    }

    #[test]
    fn attenuation_lowers_the_centre_frequency() {
        let spec = PulseSpec {
            f0_hz: 10e6,
            fractional_bandwidth: 0.8,
            cycles: 1.0,
            attenuation_np_mm_hz: 0.5 / 8.686 / 10.0 / 1e6,
        };
        let deep = PulseEcho::new(&spec, 30.0);
        // A lower mean frequency: the phase after a quarter period falls short of π/2.
        let q = deep.at(0.25 / 10e6).arg();
        assert!(q < std::f32::consts::FRAC_PI_2 - 0.05, "{q}");
    }
}
