//! Candidate detection: regional maxima of the envelope, thresholded, at most N per frame,
//! with a minimum separation, a border margin, and PALA's rejection of crowded patches.

use ndarray::ArrayView2;
use serde::{Deserialize, Serialize};

/// A candidate bubble: the pixel of a regional maximum and its envelope value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    /// Row (depth index) of the maximum.
    pub row: usize,
    /// Column (lateral index) of the maximum.
    pub col: usize,
    /// Envelope value at the maximum.
    pub value: f32,
}

/// Settings of candidate detection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DetectConfig {
    /// Keep maxima whose value is at least this fraction of the frame's largest value.
    /// Default 0.1 (−20 dB in amplitude).
    pub threshold_rel: f32,
    /// Keep maxima whose value is at least this (envelope units). Default none.
    pub threshold_abs: Option<f32>,
    /// Keep maxima whose value is at least this many times the median envelope of their
    /// row (a noise floor that follows depth, where time-gain compensation amplifies the
    /// noise). For Rayleigh-distributed noise the median is 1.18 σ, so 4 × median ≈ 4.7 σ,
    /// exceeded by noise with probability ≈ 2·10⁻⁵ per pixel. Default 4.
    pub noise_factor: Option<f32>,
    /// Keep at most this many of the brightest maxima per frame (PALA's
    /// `numberOfParticles`). Default none.
    pub max_per_frame: Option<usize>,
    /// Minimum distance between two kept candidates, pixels; the brighter one wins.
    /// Regional maxima (8-connected) are already ≥ 2 px apart. Default 0 (off).
    pub min_separation_px: f64,
    /// Extra pixels kept free at the frame border, beyond the half patch that the
    /// sub-pixel estimators need. Default 0.
    pub border_margin_px: usize,
    /// Reject a candidate whose patch holds more than this many regional maxima (PALA's
    /// `NLocalMax`: overlapping bubbles distort every estimator). Default 3; `None` keeps all.
    pub max_maxima_in_patch: Option<usize>,
    /// Only maxima at least this fraction of the candidate's value count towards
    /// `max_maxima_in_patch` (PALA counts all, which on noisy data rejects most candidates
    /// once the patch is larger than 5 × 5). Default 0.25 (−12 dB); 0 counts all like PALA.
    pub crowd_level: f32,
}

impl Default for DetectConfig {
    fn default() -> Self {
        Self {
            threshold_rel: 0.1,
            threshold_abs: None,
            noise_factor: Some(4.0),
            max_per_frame: None,
            min_separation_px: 0.0,
            border_margin_px: 0,
            max_maxima_in_patch: Some(3),
            crowd_level: 0.25,
        }
    }
}

/// Regional maxima of `frame` (8-connected) at least `margin` pixels from every border
/// (`margin >= 1`), filtered by `cfg` except for the crowded-patch test (which needs the
/// patch; see [`count_maxima_in_patch`]). Sorted by decreasing value.
///
/// A pixel is a maximum when it is strictly greater than its neighbours before it in
/// raster order and not smaller than those after it, so a plateau of equal pixels yields
/// exactly one candidate.
pub fn regional_maxima(frame: ArrayView2<'_, f32>, margin: usize, cfg: &DetectConfig) -> Vec<Candidate> {
    let (rows, cols) = frame.dim();
    let margin = margin.max(1);
    if rows < 2 * margin + 1 || cols < 2 * margin + 1 {
        return Vec::new();
    }
    let owned;
    let data: &[f32] = match frame.as_slice() {
        Some(s) => s,
        None => {
            owned = frame.as_standard_layout().into_owned();
            owned.as_slice().expect("standard layout")
        }
    };
    let max = data.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut thr = cfg.threshold_rel * max;
    if let Some(a) = cfg.threshold_abs {
        thr = thr.max(a);
    }
    // Per-row thresholds (the noise floor's median needs one scratch row per frame).
    let mut row_thr = vec![thr; rows];
    if let Some(k) = cfg.noise_factor {
        let mut scratch = vec![0.0f32; cols];
        for (r, t) in row_thr.iter_mut().enumerate().take(rows - margin).skip(margin) {
            scratch.copy_from_slice(&data[r * cols..(r + 1) * cols]);
            let mid = cols / 2;
            let (_, median, _) = scratch.select_nth_unstable_by(mid, f32::total_cmp);
            *t = t.max(k * *median);
        }
    }
    let mut out = Vec::new();
    for r in margin..rows - margin {
        let thr = row_thr[r];
        let up = &data[(r - 1) * cols..r * cols];
        let mid = &data[r * cols..(r + 1) * cols];
        let down = &data[(r + 1) * cols..(r + 2) * cols];
        for c in margin..cols - margin {
            let v = mid[c];
            // Also drops NaN.
            if v.is_nan() || v < thr {
                continue;
            }
            if v > up[c - 1]
                && v > up[c]
                && v > up[c + 1]
                && v > mid[c - 1]
                && v >= mid[c + 1]
                && v >= down[c - 1]
                && v >= down[c]
                && v >= down[c + 1]
            {
                out.push(Candidate { row: r, col: c, value: v });
            }
        }
    }
    let by_value = |a: &Candidate, b: &Candidate| b.value.total_cmp(&a.value);
    if let Some(n) = cfg.max_per_frame
        && out.len() > n
    {
        if n == 0 {
            out.clear();
        } else {
            out.select_nth_unstable_by(n - 1, by_value);
            out.truncate(n);
        }
    }
    out.sort_unstable_by(by_value);
    if cfg.min_separation_px > 0.0 {
        let d2 = cfg.min_separation_px * cfg.min_separation_px;
        let mut kept: Vec<Candidate> = Vec::with_capacity(out.len());
        for c in out {
            let far = kept.iter().all(|k| {
                let (dr, dc) = (k.row as f64 - c.row as f64, k.col as f64 - c.col as f64);
                dr * dr + dc * dc >= d2
            });
            if far {
                kept.push(c);
            }
        }
        out = kept;
    }
    out
}

/// Number of regional maxima of at least `min_value` inside an `n × n` row-major patch,
/// neighbours taken within the patch only (MATLAB's `imregionalmax` on the patch, as PALA
/// counts them, when `min_value` is −∞). Same plateau rule as [`regional_maxima`].
pub fn count_maxima_in_patch(patch: &[f32], n: usize, min_value: f32) -> usize {
    let mut count = 0;
    for r in 0..n {
        for c in 0..n {
            let v = patch[r * n + c];
            if v < min_value {
                continue;
            }
            let mut is_max = true;
            'nb: for dr in -1i32..=1 {
                for dc in -1i32..=1 {
                    if dr == 0 && dc == 0 {
                        continue;
                    }
                    let (rr, cc) = (r as i32 + dr, c as i32 + dc);
                    if rr < 0 || cc < 0 || rr >= n as i32 || cc >= n as i32 {
                        continue;
                    }
                    let w = patch[rr as usize * n + cc as usize];
                    let before = dr < 0 || (dr == 0 && dc < 0);
                    if (before && v <= w) || (!before && v < w) {
                        is_max = false;
                        break 'nb;
                    }
                }
            }
            count += usize::from(is_max);
        }
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    #[test]
    fn maxima_threshold_top_n_and_margin() {
        let mut f = Array2::<f32>::zeros((12, 12));
        f[[3, 3]] = 5.0;
        f[[3, 4]] = 4.0; // a neighbour, not a maximum
        f[[8, 8]] = 3.0;
        f[[6, 2]] = 0.2; // below 10 % of the max
        f[[0, 6]] = 9.0; // on the border: excluded by the margin
        f[[1, 9]] = 2.0; // inside margin 2
        let cfg = DetectConfig::default();
        let c = regional_maxima(f.view(), 2, &cfg);
        assert_eq!(c.iter().map(|c| (c.row, c.col)).collect::<Vec<_>>(), vec![(3, 3), (8, 8)]);
        let c = regional_maxima(f.view(), 1, &cfg);
        assert_eq!(c.len(), 3);
        let top1 = DetectConfig { max_per_frame: Some(1), ..cfg.clone() };
        assert_eq!(regional_maxima(f.view(), 2, &top1), vec![Candidate { row: 3, col: 3, value: 5.0 }]);
        let abs = DetectConfig { threshold_abs: Some(4.0), ..cfg };
        assert_eq!(regional_maxima(f.view(), 2, &abs).len(), 1);
    }

    #[test]
    fn plateau_gives_one_candidate_and_separation_suppresses_the_dimmer() {
        let mut f = Array2::<f32>::zeros((10, 10));
        f[[4, 4]] = 1.0;
        f[[4, 5]] = 1.0;
        let cfg = DetectConfig::default();
        assert_eq!(regional_maxima(f.view(), 1, &cfg).len(), 1);
        let mut g = Array2::<f32>::zeros((10, 10));
        g[[4, 4]] = 1.0;
        g[[4, 7]] = 0.8;
        assert_eq!(regional_maxima(g.view(), 1, &cfg).len(), 2);
        let sep = DetectConfig { min_separation_px: 3.5, ..cfg };
        let c = regional_maxima(g.view(), 1, &sep);
        assert_eq!(c.iter().map(|c| (c.row, c.col)).collect::<Vec<_>>(), vec![(4, 4)]);
    }

    #[test]
    fn noise_floor_follows_the_row_median() {
        // Background 0.1 at the top rows, 1.0 at the bottom rows; equal peaks of 2.0.
        let mut f = Array2::from_shape_fn((12, 12), |(r, _)| if r < 6 { 0.1f32 } else { 1.0 });
        f[[3, 5]] = 2.0; // 20 × its row's median: kept
        f[[9, 5]] = 2.0; // 2 × its row's median: noise
        let cfg = DetectConfig { threshold_rel: 0.0, ..DetectConfig::default() };
        let c = regional_maxima(f.view(), 2, &cfg);
        assert_eq!(c.iter().map(|c| (c.row, c.col)).collect::<Vec<_>>(), vec![(3, 5)]);
        let off = DetectConfig { noise_factor: None, ..cfg };
        assert_eq!(regional_maxima(f.view(), 2, &off).len(), 2);
    }

    #[test]
    fn patch_maxima_counted_like_imregionalmax() {
        #[rustfmt::skip]
        let p = [
            0.0, 0.0, 0.0, 0.0, 0.5,
            0.0, 1.0, 0.0, 0.0, 0.0,
            0.0, 0.0, 0.0, 0.0, 0.0,
            0.0, 0.0, 0.0, 0.7, 0.0,
            0.0, 0.0, 0.0, 0.0, 0.0,
        ];
        assert_eq!(count_maxima_in_patch(&p, 5, f32::NEG_INFINITY), 3);
        assert_eq!(count_maxima_in_patch(&p, 5, 0.6), 2); // 0.5 is below the level
        #[rustfmt::skip]
        let q = [
            0.0, 0.0, 0.0,
            0.0, 1.0, 0.0,
            0.5, 0.0, 0.7, // touch the centre diagonally: not maxima
        ];
        assert_eq!(count_maxima_in_patch(&q, 3, f32::NEG_INFINITY), 1);
        assert_eq!(count_maxima_in_patch(&[1.0; 9], 3, 0.0), 1);
    }
}
