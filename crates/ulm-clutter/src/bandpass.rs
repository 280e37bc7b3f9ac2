//! Zero-phase temporal Butterworth band-pass (or low-/high-pass), applied to every pixel's
//! time series.
//!
//! Each side is an order-`N` Butterworth filter designed by the bilinear transform with
//! frequency prewarping, as a cascade of second-order sections (and one first-order
//! section for odd `N`). The filter runs forward then backward (`filtfilt`), so the phase
//! cancels and the magnitude response is squared: at frequency `f` the gain of the
//! high-pass side is `1 / (1 + (tan(π f_lo/fs) / tan(π f/fs))^{2N})` and that of the
//! low-pass side `1 / (1 + (tan(π f/fs) / tan(π f_hi/fs))^{2N})`. Edges are handled like
//! SciPy's `sosfiltfilt`: odd extension by `3 (2 n_sections + 1)` samples and steady-state
//! initial conditions.

use ndarray::Array3;
use num_complex::{Complex, Complex32};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::ClutterError;

/// Settings of the temporal band-pass.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BandPassConfig {
    /// High-pass cut-off (−3 dB of one pass), Hz; `None`: no high-pass.
    pub low_hz: Option<f64>,
    /// Low-pass cut-off (−3 dB of one pass), Hz; `None`: no low-pass.
    pub high_hz: Option<f64>,
    /// Butterworth order of each side. Default 4.
    pub order: usize,
}

impl Default for BandPassConfig {
    fn default() -> Self {
        Self { low_hz: None, high_hz: None, order: 4 }
    }
}

/// One section `(b0, b1, b2, a1, a2)` (a0 = 1), transposed direct form II.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Section {
    /// Numerator.
    pub b: [f64; 3],
    /// Denominator without the leading 1.
    pub a: [f64; 2],
}

impl Section {
    fn dc_gain(&self) -> f64 {
        (self.b[0] + self.b[1] + self.b[2]) / (1.0 + self.a[0] + self.a[1])
    }
}

/// Second-order sections of the band-pass for frame rate `fs_hz`.
pub fn design(cfg: &BandPassConfig, fs_hz: f64) -> Result<Vec<Section>, ClutterError> {
    let nyq = fs_hz / 2.0;
    if cfg.order == 0 || cfg.order > 20 {
        return Err(ClutterError::Config(format!("band-pass order must be in 1..=20, got {}", cfg.order)));
    }
    for (name, f) in [("low", cfg.low_hz), ("high", cfg.high_hz)] {
        if let Some(f) = f
            && !(f > 0.0 && f < nyq)
        {
            return Err(ClutterError::Config(format!(
                "band-pass {name} cut-off must be in (0, {nyq}) Hz (half the frame rate), got {f}"
            )));
        }
    }
    if let (Some(l), Some(h)) = (cfg.low_hz, cfg.high_hz)
        && l >= h
    {
        return Err(ClutterError::Config(format!("band-pass needs low < high, got {l} >= {h} Hz")));
    }
    let mut out = Vec::new();
    if let Some(f) = cfg.low_hz {
        out.extend(butterworth(cfg.order, f, fs_hz, true));
    }
    if let Some(f) = cfg.high_hz {
        out.extend(butterworth(cfg.order, f, fs_hz, false));
    }
    Ok(out)
}

fn butterworth(order: usize, f: f64, fs: f64, highpass: bool) -> Vec<Section> {
    let k = (std::f64::consts::PI * f / fs).tan();
    let mut out = Vec::new();
    for i in 0..order / 2 {
        let q = 1.0 / (2.0 * ((2 * i + 1) as f64 * std::f64::consts::PI / (2 * order) as f64).sin());
        let norm = 1.0 / (1.0 + k / q + k * k);
        let a = [2.0 * (k * k - 1.0) * norm, (1.0 - k / q + k * k) * norm];
        let b = if highpass { [norm, -2.0 * norm, norm] } else { [k * k * norm, 2.0 * k * k * norm, k * k * norm] };
        out.push(Section { b, a });
    }
    if order % 2 == 1 {
        let norm = 1.0 / (1.0 + k);
        let a = [(k - 1.0) * norm, 0.0];
        let b = if highpass { [norm, -norm, 0.0] } else { [k * norm, k * norm, 0.0] };
        out.push(Section { b, a });
    }
    out
}

type C = Complex<f64>;

fn run(sections: &[Section], x: &mut [C]) {
    // Steady-state initial conditions for a constant input equal to x[0].
    let mut level = x[0];
    for s in sections {
        let g = s.dc_gain();
        let y = level * g;
        let mut z2 = level * s.b[2] - y * s.a[1];
        let mut z1 = y - level * s.b[0];
        for v in x.iter_mut() {
            let xin = *v;
            let yout = xin * s.b[0] + z1;
            z1 = xin * s.b[1] - yout * s.a[0] + z2;
            z2 = xin * s.b[2] - yout * s.a[1];
            *v = yout;
        }
        level = y;
    }
}

/// Zero-phase filtering of one series in place.
pub fn filtfilt(sections: &[Section], series: &mut [C]) {
    let n = series.len();
    if sections.is_empty() || n < 2 {
        return;
    }
    let pad = (3 * (2 * sections.len() + 1)).min(n - 1);
    let mut ext = Vec::with_capacity(n + 2 * pad);
    // Odd extension: 2 x[0] − x[pad..0], x, 2 x[n−1] − x[n−2..n−1−pad].
    ext.extend((1..=pad).rev().map(|i| series[0] * 2.0 - series[i]));
    ext.extend_from_slice(series);
    ext.extend((1..=pad).map(|i| series[n - 1] * 2.0 - series[n - 1 - i]));
    run(sections, &mut ext);
    ext.reverse();
    run(sections, &mut ext);
    ext.reverse();
    series.copy_from_slice(&ext[pad..pad + n]);
}

/// Band-passes every pixel of `frames` (`[frames, rows, cols]`) along time, in parallel
/// over pixels.
pub fn bandpass(frames: &mut Array3<Complex32>, cfg: &BandPassConfig, fs_hz: f64) -> Result<(), ClutterError> {
    let sections = design(cfg, fs_hz)?;
    if sections.is_empty() {
        return Ok(());
    }
    let (nt, rows, cols) = frames.dim();
    let npix = rows * cols;
    let src = frames.as_standard_layout().into_owned();
    let data = src.as_slice().expect("standard layout");
    let filtered: Vec<Vec<Complex32>> = (0..npix)
        .into_par_iter()
        .map(|p| {
            let mut s: Vec<C> = (0..nt).map(|t| data[t * npix + p]).map(|v| C::new(v.re as f64, v.im as f64)).collect();
            filtfilt(&sections, &mut s);
            s.into_iter().map(|v| Complex32::new(v.re as f32, v.im as f32)).collect()
        })
        .collect();
    for (p, s) in filtered.iter().enumerate() {
        let (r, c) = (p / cols, p % cols);
        for (t, v) in s.iter().enumerate() {
            frames[[t, r, c]] = *v;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Analytic squared gain (filtfilt) of the digital Butterworth at f.
    fn expected_gain(cfg: &BandPassConfig, f: f64, fs: f64) -> f64 {
        let t = |f: f64| (std::f64::consts::PI * f / fs).tan();
        let n = 2 * cfg.order as i32;
        let mut g = 1.0;
        if let Some(lo) = cfg.low_hz {
            g /= 1.0 + (t(lo) / t(f)).powi(n);
        }
        if let Some(hi) = cfg.high_hz {
            g /= 1.0 + (t(f) / t(hi)).powi(n);
        }
        g
    }

    fn tone_gain(cfg: &BandPassConfig, f: f64, fs: f64) -> (f64, f64) {
        // A complex tone exactly periodic in the window would hide edge effects; use 2000
        // samples and measure the middle half.
        let n = 2000;
        let secs = design(cfg, fs).unwrap();
        let w = 2.0 * std::f64::consts::PI * f / fs;
        let mut s: Vec<C> = (0..n).map(|i| C::from_polar(1.0, w * i as f64)).collect();
        filtfilt(&secs, &mut s);
        let mid = &s[n / 4..3 * n / 4];
        let amp = mid.iter().map(|v| v.norm()).sum::<f64>() / mid.len() as f64;
        // Phase: filtered / input at the same sample.
        let i = n / 2;
        let phase = (s[i] / C::from_polar(1.0, w * i as f64)).arg();
        (amp, phase)
    }

    #[test]
    fn gain_matches_the_analytic_butterworth_response_with_zero_phase() {
        let cfg = BandPassConfig { low_hz: Some(20.0), high_hz: Some(200.0), order: 4 };
        let fs = 1000.0;
        for f in [5.0, 10.0, 20.0, 60.0, 100.0, 200.0, 300.0, 400.0] {
            let (amp, phase) = tone_gain(&cfg, f, fs);
            let want = expected_gain(&cfg, f, fs);
            assert!((amp - want).abs() < 1e-3 + 1e-2 * want, "f = {f}: gain {amp} vs {want}");
            if want > 0.1 {
                assert!(phase.abs() < 1e-3, "f = {f}: phase {phase}");
            }
        }
        // At each cut-off the squared response is −6 dB (one pass is −3 dB).
        let (amp, _) = tone_gain(&BandPassConfig { low_hz: None, high_hz: Some(100.0), order: 3 }, 100.0, fs);
        assert!((amp - 0.5).abs() < 2e-3, "{amp}");
    }

    #[test]
    fn constant_passes_lowpass_and_vanishes_in_highpass() {
        let fs = 500.0;
        let lp = design(&BandPassConfig { low_hz: None, high_hz: Some(50.0), order: 4 }, fs).unwrap();
        let mut s = vec![C::new(2.0, -1.0); 300];
        filtfilt(&lp, &mut s);
        assert!(s.iter().all(|v| (v - C::new(2.0, -1.0)).norm() < 1e-9));
        let hp = design(&BandPassConfig { low_hz: Some(10.0), high_hz: None, order: 4 }, fs).unwrap();
        let mut s = vec![C::new(2.0, -1.0); 300];
        filtfilt(&hp, &mut s);
        assert!(s.iter().all(|v| v.norm() < 1e-9), "{:?}", &s[..3]);
    }

    #[test]
    fn bad_settings_rejected() {
        let fs = 1000.0;
        assert!(design(&BandPassConfig { low_hz: Some(600.0), high_hz: None, order: 4 }, fs).is_err());
        assert!(design(&BandPassConfig { low_hz: Some(100.0), high_hz: Some(50.0), order: 4 }, fs).is_err());
        assert!(design(&BandPassConfig { low_hz: Some(10.0), high_hz: None, order: 0 }, fs).is_err());
    }
}
