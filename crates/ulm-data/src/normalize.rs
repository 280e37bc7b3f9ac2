//! Input normalisation, identical for training and inference: **background-referenced
//! log compression**, per patch.
//!
//! `v = clamp((20 log10(env / median) + floor_db) / (floor_db + range_db), 0, 1)`, where
//! `median` is the median envelope over the patch's valid area. The background (noise, or
//! the tissue residue after SVD filtering) sits at `floor_db / (floor_db + range_db)`
//! (0.2 by default) in every patch, and a bubble `X` dB above it at
//! `(X + floor_db) / (floor_db + range_db)`.
//!
//! Why this one: the paper found matching the **mean contrast** of train and test
//! decisive. Ultrasound envelopes differ between systems, gains, TGC settings and depths by
//! orders of magnitude in absolute level, but what a localizer needs — bubble over
//! background — is a ratio; the log of the ratio to the median is invariant to any gain
//! (exactly: scaling the envelope leaves the output unchanged, tested), compresses the
//! 30–50 dB dynamic range like the B-mode images the papers trained on, and unlike
//! max- or percentile-referenced scaling it keeps an empty patch dark (its noise stays at
//! the background level instead of being stretched to full scale). The median is robust to
//! bubbles: even the dense preset's ~100 bubbles cover a few % of the pixels.
//!
//! ```
//! use ulm_data::{Normalization, normalize_patch};
//! let env = [1.0, 1.0, 1.0, 1000.0]; // a bubble 60 dB above the background: clipped to 1
//! let v = normalize_patch(&env, 2, 2, 2, 2, &Normalization::default());
//! assert_eq!(v, vec![0.2, 0.2, 0.2, 1.0]);
//! ```

use serde::{Deserialize, Serialize};

use crate::DataError;

/// Parameters of [`normalize_patch`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Normalization {
    /// dB below the median mapped to 0. Default 10.
    pub floor_db: f32,
    /// dB above the median mapped to 1. Default 40.
    pub range_db: f32,
}

impl Default for Normalization {
    fn default() -> Self {
        Self { floor_db: 10.0, range_db: 40.0 }
    }
}

impl Normalization {
    /// Checks that both bounds are finite and the span positive.
    pub fn validate(&self) -> Result<(), DataError> {
        if !(self.floor_db.is_finite() && self.range_db.is_finite() && self.floor_db + self.range_db > 0.0) {
            return Err(DataError::Config(format!(
                "normalisation needs finite floor_db + range_db > 0, got {} + {}",
                self.floor_db, self.range_db
            )));
        }
        Ok(())
    }
}

/// Normalises a row-major `height × width` envelope patch (any non-negative amplitude;
/// its padding included) with the median of its valid `valid_rows × valid_cols` area. A
/// patch whose median is zero uses the mean of its positive values; an all-zero patch
/// becomes all zeros. Non-finite or negative amplitudes are treated as zero.
pub fn normalize_patch(
    env: &[f32],
    width: usize,
    height: usize,
    valid_rows: usize,
    valid_cols: usize,
    cfg: &Normalization,
) -> Vec<f32> {
    debug_assert_eq!(env.len(), width * height);
    let clean = |v: f32| if v.is_finite() && v > 0.0 { v } else { 0.0 };
    let mut valid: Vec<f32> = Vec::with_capacity(valid_rows * valid_cols);
    for r in 0..valid_rows.min(height) {
        valid.extend(env[r * width..r * width + valid_cols.min(width)].iter().map(|&v| clean(v)));
    }
    let mut reference = median(&mut valid);
    if reference <= 0.0 {
        let pos: Vec<f32> = valid.iter().copied().filter(|&v| v > 0.0).collect();
        if pos.is_empty() {
            return vec![0.0; env.len()];
        }
        reference = pos.iter().map(|&v| v as f64).sum::<f64>() as f32 / pos.len() as f32;
    }
    let span = cfg.floor_db + cfg.range_db;
    // 20 log10(v / ref) = (20 / ln 10) (ln v − ln ref)
    let k = 20.0 / std::f32::consts::LN_10;
    let ln_ref = reference.ln();
    env.iter()
        .map(|&v| {
            let v = clean(v);
            if v <= 0.0 { 0.0 } else { ((k * (v.ln() - ln_ref) + cfg.floor_db) / span).clamp(0.0, 1.0) }
        })
        .collect()
}

/// Median (lower middle for an even count); 0 for an empty slice. Reorders `v`.
fn median(v: &mut [f32]) -> f32 {
    if v.is_empty() {
        return 0.0;
    }
    let mid = (v.len() - 1) / 2;
    *v.select_nth_unstable_by(mid, f32::total_cmp).1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gain_invariant_and_by_hand() {
        let env: Vec<f32> = (0..64).map(|i| 1.0 + (i % 7) as f32 * 0.3 + if i == 20 { 50.0 } else { 0.0 }).collect();
        let cfg = Normalization::default();
        let a = normalize_patch(&env, 8, 8, 8, 8, &cfg);
        let scaled: Vec<f32> = env.iter().map(|v| v * 1234.5).collect();
        let b = normalize_patch(&scaled, 8, 8, 8, 8, &cfg);
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() < 1e-5);
        }
        // Median by hand: values 1 + 0.3 k, k = i % 7 over 64 pixels (k = 0 … 6, ten or nine
        // each; pixel 20 (k = 6) is the bright one). Sorted, the 32nd value (index 31) has k = 3.
        let med = 1.0 + 0.3 * 3.0;
        let want = ((20.0 * (env[20] / med).log10() + 10.0) / 50.0).min(1.0);
        assert!((a[20] - want).abs() < 1e-5, "{} {want}", a[20]);
    }

    #[test]
    fn median_of_valid_area_only_and_degenerate_patches() {
        // 2 × 3 valid area of ones inside a 4 × 4 patch whose padding is huge.
        let mut env = vec![1000.0f32; 16];
        for r in 0..2 {
            for c in 0..3 {
                env[r * 4 + c] = 1.0;
            }
        }
        let v = normalize_patch(&env, 4, 4, 2, 3, &Normalization::default());
        assert_eq!(v[0], 0.2);
        assert_eq!(v[15], 1.0);
        assert_eq!(normalize_patch(&[0.0; 4], 2, 2, 2, 2, &Normalization::default()), vec![0.0; 4]);
        // Mostly zeros: reference = mean of the positive values (2.0).
        let v = normalize_patch(&[0.0, 0.0, 0.0, 2.0], 2, 2, 2, 2, &Normalization::default());
        assert_eq!(v, vec![0.0, 0.0, 0.0, 0.2]);
        let v = normalize_patch(&[f32::NAN, 1.0, 1.0, 1.0], 2, 2, 2, 2, &Normalization::default());
        assert_eq!(v[0], 0.0);
    }
}
