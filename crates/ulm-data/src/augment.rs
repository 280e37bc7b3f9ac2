//! Ultrasound-safe augmentation, deterministic from a seed.
//!
//! Applied to a normalised [`Sample`] in this order, each with its own probability:
//! horizontal flip; a small affine map (rotation, isotropic scale, translation) about the
//! centre of the valid area; resize (a different pixel pitch: the patch geometry's pixel
//! size is divided by the factor, so positions in mm stay physical); Gaussian blur;
//! speckle (multiplicative) noise; gain/contrast (`v ← clamp(contrast · v + gain, 0, 1)`,
//! an offset in the log-compressed domain is a gain); pixel dropout (pixels set to 0).
//! No vertical flip: depth is not symmetric (PSF widening, attenuation, TGC noise).
//!
//! Boxes follow the image exactly: bubble centres (taken from the exact `centers_mm`) are
//! mapped by the same transform as the pixels, box sizes are scaled by the affine scale or
//! the resize factor (the small rotation leaves them as they are), `centers_mm` are
//! recomputed from the new pixel positions and the patch geometry, bubbles that leave the
//! valid area are dropped and boxes are rebuilt with the border rule of
//! [`crate::boxes`]. Pixels the affine map brings in from outside the patch take the
//! median of the valid area (the background), not a reflection, which would show mirrored
//! bubbles without boxes. The padding is refilled by reflection at the end.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};

use crate::boxes::{inside, patch_box};
use crate::tiling::refill_padding;
use crate::{DataError, Sample};

/// Probabilities and ranges of each augmentation (ranges are `[min, max]`, drawn
/// uniformly).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AugmentConfig {
    /// Probability of a horizontal (lateral) flip. Default 0.5.
    pub flip_prob: f64,
    /// Probability of the affine map. Default 0.5.
    pub affine_prob: f64,
    /// Largest rotation, degrees (either sign). Default 10.
    pub max_rotation_deg: f64,
    /// Isotropic scale range. Default `[0.9, 1.1]`.
    pub scale_range: [f64; 2],
    /// Largest translation per axis, pixels. Default 8.
    pub max_translation_px: f64,
    /// Probability of a resize. Default 0.3.
    pub resize_prob: f64,
    /// Resize factor range. Default `[0.8, 1.25]`.
    pub resize_range: [f64; 2],
    /// Probability of a Gaussian blur. Default 0.3.
    pub blur_prob: f64,
    /// Blur standard deviation range, pixels. Default `[0.3, 1.0]`.
    pub blur_sigma_px: [f64; 2],
    /// Probability of speckle noise. Default 0.5.
    pub speckle_prob: f64,
    /// Standard-deviation range of the multiplicative factor `1 + σ n`. Default `[0, 0.2]`.
    pub speckle_sigma: [f64; 2],
    /// Probability of a gain/contrast change. Default 0.5.
    pub gain_prob: f64,
    /// Gain (offset of the normalised value) range. Default `[-0.1, 0.1]`.
    pub gain_range: [f64; 2],
    /// Contrast (factor) range. Default `[0.8, 1.2]`.
    pub contrast_range: [f64; 2],
    /// Probability of pixel dropout. Default 0.3.
    pub dropout_prob: f64,
    /// Range of the fraction of valid pixels dropped. Default `[0, 0.02]`.
    pub dropout_fraction: [f64; 2],
}

impl Default for AugmentConfig {
    fn default() -> Self {
        Self {
            flip_prob: 0.5,
            affine_prob: 0.5,
            max_rotation_deg: 10.0,
            scale_range: [0.9, 1.1],
            max_translation_px: 8.0,
            resize_prob: 0.3,
            resize_range: [0.8, 1.25],
            blur_prob: 0.3,
            blur_sigma_px: [0.3, 1.0],
            speckle_prob: 0.5,
            speckle_sigma: [0.0, 0.2],
            gain_prob: 0.5,
            gain_range: [-0.1, 0.1],
            contrast_range: [0.8, 1.2],
            dropout_prob: 0.3,
            dropout_fraction: [0.0, 0.02],
        }
    }
}

impl AugmentConfig {
    /// Nothing applied (every probability 0).
    pub fn none() -> Self {
        Self {
            flip_prob: 0.0,
            affine_prob: 0.0,
            resize_prob: 0.0,
            blur_prob: 0.0,
            speckle_prob: 0.0,
            gain_prob: 0.0,
            dropout_prob: 0.0,
            ..Self::default()
        }
    }

    /// Checks probabilities in `[0, 1]` and ordered, finite, positive-where-needed ranges.
    pub fn validate(&self) -> Result<(), DataError> {
        for (name, p) in [
            ("flip_prob", self.flip_prob),
            ("affine_prob", self.affine_prob),
            ("resize_prob", self.resize_prob),
            ("blur_prob", self.blur_prob),
            ("speckle_prob", self.speckle_prob),
            ("gain_prob", self.gain_prob),
            ("dropout_prob", self.dropout_prob),
        ] {
            if !(0.0..=1.0).contains(&p) {
                return Err(DataError::Config(format!("augment.{name} must be in [0, 1], got {p}")));
            }
        }
        for (name, [a, b], min) in [
            ("scale_range", self.scale_range, 1e-3),
            ("resize_range", self.resize_range, 1e-3),
            ("blur_sigma_px", self.blur_sigma_px, 0.0),
            ("speckle_sigma", self.speckle_sigma, 0.0),
            ("gain_range", self.gain_range, f64::NEG_INFINITY),
            ("contrast_range", self.contrast_range, 0.0),
            ("dropout_fraction", self.dropout_fraction, 0.0),
        ] {
            if !(a.is_finite() && b.is_finite() && a <= b && a >= min) {
                return Err(DataError::Config(format!(
                    "augment.{name} must be [min, max] with min >= {min}, got [{a}, {b}]"
                )));
            }
        }
        if self.dropout_fraction[1] > 1.0 {
            return Err(DataError::Config("augment.dropout_fraction must not exceed 1".into()));
        }
        if !(self.max_rotation_deg.is_finite() && self.max_translation_px.is_finite()) {
            return Err(DataError::Config("augment rotation and translation must be finite".into()));
        }
        Ok(())
    }
}

/// A bubble in patch pixels during augmentation.
#[derive(Debug, Clone, Copy)]
struct Bubble {
    col: f64,
    row: f64,
    w: f64,
    h: f64,
}

fn uniform(rng: &mut ChaCha8Rng, [a, b]: [f64; 2]) -> f64 {
    if b > a { rng.random_range(a..b) } else { a }
}

/// Augments `sample` with transforms drawn from `seed` (see the module docs).
pub fn augment(sample: &Sample, cfg: &AugmentConfig, seed: u64) -> Sample {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut s = sample.clone();
    let mut bubbles: Vec<Bubble> = s
        .centers_mm
        .iter()
        .enumerate()
        .map(|(i, &(x, z))| {
            let (col, row) = s.geometry.mm_to_px(x, z);
            let (_, _, w, h) = sample.box_px(i);
            Bubble { col, row, w, h }
        })
        .collect();
    let (w, h) = (s.width, s.height);
    if rng.random::<f64>() < cfg.flip_prob {
        let vc = s.valid_cols;
        for r in 0..s.valid_rows {
            s.image[r * w..r * w + vc].reverse();
        }
        for b in &mut bubbles {
            b.col = (vc - 1) as f64 - b.col;
        }
    }
    if rng.random::<f64>() < cfg.affine_prob {
        let theta = uniform(&mut rng, [-cfg.max_rotation_deg, cfg.max_rotation_deg]).to_radians();
        let scale = uniform(&mut rng, cfg.scale_range);
        let t = cfg.max_translation_px;
        let (tx, ty) = (uniform(&mut rng, [-t, t]), uniform(&mut rng, [-t, t]));
        affine(&mut s, theta, scale, tx, ty, &mut bubbles);
    }
    if rng.random::<f64>() < cfg.resize_prob {
        let f = uniform(&mut rng, cfg.resize_range);
        resize(&mut s, f, &mut bubbles);
    }
    let (vr, vc) = (s.valid_rows, s.valid_cols);
    if rng.random::<f64>() < cfg.blur_prob {
        let sigma = uniform(&mut rng, cfg.blur_sigma_px);
        blur(&mut s.image, w, vr, vc, sigma);
    }
    if rng.random::<f64>() < cfg.speckle_prob {
        let sigma = uniform(&mut rng, cfg.speckle_sigma) as f32;
        for r in 0..vr {
            for v in &mut s.image[r * w..r * w + vc] {
                let n: f32 = rng.sample(StandardNormal);
                *v = (*v * (1.0 + sigma * n)).clamp(0.0, 1.0);
            }
        }
    }
    if rng.random::<f64>() < cfg.gain_prob {
        let gain = uniform(&mut rng, cfg.gain_range) as f32;
        let contrast = uniform(&mut rng, cfg.contrast_range) as f32;
        for r in 0..vr {
            for v in &mut s.image[r * w..r * w + vc] {
                *v = (contrast * *v + gain).clamp(0.0, 1.0);
            }
        }
    }
    if rng.random::<f64>() < cfg.dropout_prob {
        let frac = uniform(&mut rng, cfg.dropout_fraction);
        let n = (frac * (vr * vc) as f64).round() as usize;
        for _ in 0..n {
            let (r, c) = (rng.random_range(0..vr), rng.random_range(0..vc));
            s.image[r * w + c] = 0.0;
        }
    }
    refill_padding(&mut s.image, w, h, vr, vc);
    rebuild_boxes(&mut s, &bubbles);
    s
}

/// Recomputes boxes and centres (mm) from bubbles in patch pixels; drops those outside.
fn rebuild_boxes(s: &mut Sample, bubbles: &[Bubble]) {
    s.boxes.clear();
    s.centers_mm.clear();
    for b in bubbles {
        if inside(b.col, b.row, s.valid_cols, s.valid_rows) {
            s.boxes.push(patch_box(b.col, b.row, b.w, b.h, s.valid_cols, s.valid_rows, s.width, s.height));
            s.centers_mm.push(s.geometry.px_to_mm(b.col, b.row));
        }
    }
}

fn median_valid(s: &Sample) -> f32 {
    let mut v: Vec<f32> =
        (0..s.valid_rows).flat_map(|r| s.image[r * s.width..r * s.width + s.valid_cols].to_vec()).collect();
    if v.is_empty() {
        return 0.0;
    }
    let mid = (v.len() - 1) / 2;
    *v.select_nth_unstable_by(mid, f32::total_cmp).1
}

/// Bilinear sample of the valid area at `(x, y)` (pixel-centre convention); `None` more
/// than half a pixel outside it.
fn bilinear(img: &[f32], w: usize, vr: usize, vc: usize, x: f64, y: f64) -> Option<f32> {
    if x < -0.5 || y < -0.5 || x > vc as f64 - 0.5 || y > vr as f64 - 0.5 {
        return None;
    }
    let x = x.clamp(0.0, (vc - 1) as f64);
    let y = y.clamp(0.0, (vr - 1) as f64);
    let (x0, y0) = (x.floor() as usize, y.floor() as usize);
    let (x1, y1) = ((x0 + 1).min(vc - 1), (y0 + 1).min(vr - 1));
    let (fx, fy) = ((x - x0 as f64) as f32, (y - y0 as f64) as f32);
    let p = |r: usize, c: usize| img[r * w + c];
    let top = p(y0, x0) * (1.0 - fx) + p(y0, x1) * fx;
    let bot = p(y1, x0) * (1.0 - fx) + p(y1, x1) * fx;
    Some(top * (1.0 - fy) + bot * fy)
}

/// `p' = c + scale · R(θ) (p − c) + t` about the centre `c` of the valid area.
fn affine(s: &mut Sample, theta: f64, scale: f64, tx: f64, ty: f64, bubbles: &mut [Bubble]) {
    let (w, vr, vc) = (s.width, s.valid_rows, s.valid_cols);
    let (cx, cy) = ((vc as f64 - 1.0) / 2.0, (vr as f64 - 1.0) / 2.0);
    let (sin, cos) = theta.sin_cos();
    let fill = median_valid(s);
    let src = s.image.clone();
    for r in 0..vr {
        for c in 0..vc {
            // Inverse map: p = c + R(−θ) (p' − c − t) / scale.
            let (dx, dy) = ((c as f64 - cx - tx) / scale, (r as f64 - cy - ty) / scale);
            let (x, y) = (cx + cos * dx + sin * dy, cy - sin * dx + cos * dy);
            s.image[r * w + c] = bilinear(&src, w, vr, vc, x, y).unwrap_or(fill);
        }
    }
    for b in bubbles {
        let (dx, dy) = (b.col - cx, b.row - cy);
        b.col = cx + scale * (cos * dx - sin * dy) + tx;
        b.row = cy + scale * (sin * dx + cos * dy) + ty;
        b.w *= scale;
        b.h *= scale;
    }
}

/// Resamples the valid area by `f` (output pixel `p'` reads input `p' / f`), crops to the
/// patch, and divides the geometry's pixel size by `f`.
fn resize(s: &mut Sample, f: f64, bubbles: &mut [Bubble]) {
    let (w, h, vr, vc) = (s.width, s.height, s.valid_rows, s.valid_cols);
    let nvr = ((vr as f64 * f).round() as usize).clamp(1, h);
    let nvc = ((vc as f64 * f).round() as usize).clamp(1, w);
    let src = s.image.clone();
    for r in 0..nvr {
        for c in 0..nvc {
            let (x, y) = ((c as f64 / f).min((vc - 1) as f64), (r as f64 / f).min((vr - 1) as f64));
            s.image[r * w + c] = bilinear(&src, w, vr, vc, x, y).unwrap_or(0.0);
        }
    }
    s.valid_rows = nvr;
    s.valid_cols = nvc;
    s.geometry.pixel_size_x_mm /= f;
    s.geometry.pixel_size_z_mm /= f;
    for b in bubbles {
        b.col *= f;
        b.row *= f;
        b.w *= f;
        b.h *= f;
    }
}

/// Separable Gaussian blur of the valid area (reflected at its borders).
fn blur(img: &mut [f32], w: usize, vr: usize, vc: usize, sigma: f64) {
    if sigma <= 0.0 {
        return;
    }
    let rad = (3.0 * sigma).ceil() as isize;
    let k: Vec<f32> = (-rad..=rad).map(|i| (-(i * i) as f64 / (2.0 * sigma * sigma)).exp() as f32).collect();
    let sum: f32 = k.iter().sum();
    let k: Vec<f32> = k.iter().map(|v| v / sum).collect();
    let refl = |i: isize, n: usize| crate::tiling::reflect(i.unsigned_abs(), n);
    let mut tmp = vec![0f32; vr * vc];
    for r in 0..vr {
        for c in 0..vc {
            tmp[r * vc + c] =
                k.iter().enumerate().map(|(j, kv)| kv * img[r * w + refl(c as isize + j as isize - rad, vc)]).sum();
        }
    }
    for r in 0..vr {
        for c in 0..vc {
            img[r * w + c] =
                k.iter().enumerate().map(|(j, kv)| kv * tmp[refl(r as isize + j as isize - rad, vr) * vc + c]).sum();
        }
    }
}

#[cfg(test)]
mod tests;
