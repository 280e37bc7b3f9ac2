//! Modulation transfer along a line profile (the paper's Fig. 7): sample the map along a
//! line, smooth with a Gaussian, mean-centre, apply a Hamming window, take the FFT
//! magnitude and normalise it by the DC component.
//!
//! "Normalised by the DC component": the DC of the mean-centred signal is (nearly) zero,
//! so we divide by the DC of the *windowed profile before centring*, `Σ w·p`. The curve
//! then reads as modulation depth (amplitude over mean): a cosine `m + a cos(2πf x)`
//! gives `a / 2m` at `f`. [`MtfNorm::Max`] (peak of the curve = 1) is the alternative
//! for comparing shapes only.

use ndarray::Array2;
use rustfft::{FftPlanner, num_complex::Complex};
use serde::{Deserialize, Serialize};
use ulm_core::Geometry;

use crate::dice::MapError;

/// Normalisation of the MTF curve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MtfNorm {
    /// Divide by the DC of the windowed, un-centred profile (see the module docs).
    Dc,
    /// Divide by the curve's maximum over non-zero frequencies.
    Max,
}

/// MTF parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MtfConfig {
    /// σ of the Gaussian smoothing, in samples (0 = none).
    pub smooth_sigma: f64,
    /// Normalisation.
    pub norm: MtfNorm,
}

impl Default for MtfConfig {
    /// σ = 1 sample, DC normalisation.
    fn default() -> Self {
        Self { smooth_sigma: 1.0, norm: MtfNorm::Dc }
    }
}

/// An MTF curve: spatial frequency (cycles/mm) and normalised magnitude, from DC to
/// Nyquist.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MtfCurve {
    /// Frequencies in cycles per mm.
    pub freq_per_mm: Vec<f64>,
    /// Normalised magnitudes.
    pub mtf: Vec<f64>,
}

/// Samples `map` (pixels of `geometry`) bilinearly along the segment from `a` to `b`
/// (`(x_mm, z_mm)`), every `step_mm`. Points outside the map read 0.
pub fn line_profile(
    map: &Array2<f32>,
    geometry: &Geometry,
    a: (f64, f64),
    b: (f64, f64),
    step_mm: f64,
) -> Result<Vec<f64>, MapError> {
    let len = (b.0 - a.0).hypot(b.1 - a.1);
    if !(step_mm.is_finite() && step_mm > 0.0 && len.is_finite() && len > 0.0) {
        return Err(MapError::Config(format!(
            "need a line of positive length and step > 0, got {len} mm / {step_mm} mm"
        )));
    }
    let n = (len / step_mm).floor() as usize + 1;
    let (rows, cols) = map.dim();
    let at = |r: i64, c: i64| {
        if r >= 0 && c >= 0 && (r as usize) < rows && (c as usize) < cols {
            map[[r as usize, c as usize]] as f64
        } else {
            0.0
        }
    };
    Ok((0..n)
        .map(|i| {
            let t = i as f64 * step_mm / len;
            let (c, r) = geometry.mm_to_px(a.0 + (b.0 - a.0) * t, a.1 + (b.1 - a.1) * t);
            let (c0, r0) = (c.floor(), r.floor());
            let (fc, fr) = (c - c0, r - r0);
            let (c0, r0) = (c0 as i64, r0 as i64);
            (at(r0, c0) * (1.0 - fc) + at(r0, c0 + 1) * fc) * (1.0 - fr)
                + (at(r0 + 1, c0) * (1.0 - fc) + at(r0 + 1, c0 + 1) * fc) * fr
        })
        .collect())
}

/// Gaussian smoothing with a kernel truncated at 4σ, edges replicated.
pub fn gaussian_smooth(x: &[f64], sigma: f64) -> Vec<f64> {
    if sigma <= 0.0 || x.is_empty() {
        return x.to_vec();
    }
    let half = (4.0 * sigma).ceil() as i64;
    let k: Vec<f64> = (-half..=half).map(|d| (-(d * d) as f64 / (2.0 * sigma * sigma)).exp()).collect();
    let ksum: f64 = k.iter().sum();
    let n = x.len() as i64;
    (0..n)
        .map(|i| {
            k.iter().enumerate().map(|(j, w)| w * x[(i + j as i64 - half).clamp(0, n - 1) as usize]).sum::<f64>() / ksum
        })
        .collect()
}

/// The MTF of a profile sampled every `sample_mm`.
pub fn mtf(profile: &[f64], sample_mm: f64, cfg: &MtfConfig) -> Result<MtfCurve, MapError> {
    let n = profile.len();
    if n < 4 {
        return Err(MapError::Config(format!("profile needs at least 4 samples, got {n}")));
    }
    if !(sample_mm.is_finite() && sample_mm > 0.0 && cfg.smooth_sigma.is_finite() && cfg.smooth_sigma >= 0.0) {
        return Err(MapError::Config(format!(
            "sample spacing must be > 0 and σ ≥ 0, got {sample_mm}, {}",
            cfg.smooth_sigma
        )));
    }
    let smooth = gaussian_smooth(profile, cfg.smooth_sigma);
    let mean = smooth.iter().sum::<f64>() / n as f64;
    let window: Vec<f64> =
        (0..n).map(|i| 0.54 - 0.46 * (2.0 * std::f64::consts::PI * i as f64 / (n - 1) as f64).cos()).collect();
    let mut buf: Vec<Complex<f64>> =
        smooth.iter().zip(&window).map(|(v, w)| Complex::new((v - mean) * w, 0.0)).collect();
    FftPlanner::new().plan_fft_forward(n).process(&mut buf);
    let half = n / 2 + 1;
    let mag: Vec<f64> = buf[..half].iter().map(|c| c.norm()).collect();
    let denom = match cfg.norm {
        MtfNorm::Dc => smooth.iter().zip(&window).map(|(v, w)| v * w).sum::<f64>().abs(),
        MtfNorm::Max => mag[1..].iter().copied().fold(0.0, f64::max),
    };
    if denom.is_nan() || denom <= 0.0 {
        return Err(MapError::Undefined(format!("{:?} normalisation of a zero profile", cfg.norm)));
    }
    Ok(MtfCurve {
        freq_per_mm: (0..half).map(|k| k as f64 / (n as f64 * sample_mm)).collect(),
        mtf: mag.iter().map(|m| m / denom).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cosine(n: usize, m: f64, a: f64, cycles: f64) -> Vec<f64> {
        (0..n).map(|i| m + a * (2.0 * std::f64::consts::PI * cycles * i as f64 / n as f64).cos()).collect()
    }

    #[test]
    fn cosine_gives_modulation_depth_at_its_frequency() {
        // 8 cycles over 256 samples of 0.01 mm: f = 8 / 2.56 mm = 3.125 cycles/mm.
        let p = cosine(256, 2.0, 1.0, 8.0);
        let c = mtf(&p, 0.01, &MtfConfig { smooth_sigma: 0.0, norm: MtfNorm::Dc }).unwrap();
        assert_eq!(c.mtf.len(), 129);
        assert!((c.freq_per_mm[8] - 3.125).abs() < 1e-12);
        // The window spans n − 1 intervals, so leakage is small but not zero.
        assert!((c.mtf[8] - 0.25).abs() < 0.01, "{}", c.mtf[8]);
        assert!(c.mtf[20] < 0.01 && c.mtf[60] < 0.01);
        let peak = (1..129).max_by(|&i, &j| c.mtf[i].total_cmp(&c.mtf[j])).unwrap();
        assert_eq!(peak, 8);
    }

    #[test]
    fn smoothing_attenuates_as_a_gaussian_transfer() {
        // σ = 2 samples: a cosine at 16 cycles / 256 samples is attenuated by
        // exp(−2π²σ²f²) with f = 16/256 cycles per sample.
        let p = cosine(256, 2.0, 1.0, 16.0);
        let raw = mtf(&p, 0.01, &MtfConfig { smooth_sigma: 0.0, norm: MtfNorm::Dc }).unwrap();
        let sm = mtf(&p, 0.01, &MtfConfig { smooth_sigma: 2.0, norm: MtfNorm::Dc }).unwrap();
        let f: f64 = 16.0 / 256.0;
        let want = (-2.0 * std::f64::consts::PI.powi(2) * 4.0 * f * f).exp();
        let got = sm.mtf[16] / raw.mtf[16];
        assert!((got - want).abs() < 0.01, "got {got}, want {want}");
        let mx = mtf(&p, 0.01, &MtfConfig { smooth_sigma: 0.0, norm: MtfNorm::Max }).unwrap();
        assert!((mx.mtf[16] - 1.0).abs() < 1e-12);
        assert!(mtf(&[0.0; 16], 0.01, &MtfConfig::default()).is_err());
    }

    #[test]
    fn profile_reads_the_map_bilinearly() {
        let g = Geometry::new(0.1, 0.1, 0.0, 0.0, 0.2, 100.0).unwrap();
        let map = Array2::from_shape_fn((5, 10), |(_, c)| c as f32);
        let p = line_profile(&map, &g, (0.0, 0.2), (0.5, 0.2), 0.05).unwrap();
        assert_eq!(p.len(), 11);
        for (i, v) in p.iter().enumerate() {
            assert!((v - 0.5 * i as f64).abs() < 1e-9, "{i}: {v}");
        }
    }
}
