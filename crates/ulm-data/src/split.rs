//! Leakage-free split: contiguous blocks `train | gap | val | gap | test` of frames.
//!
//! Consecutive ULM frames are strongly correlated (the same bubbles move by a fraction of
//! a pixel per frame), so a random frame split leaks test frames into training. We cut the
//! acquisition into three contiguous blocks and drop `gap` frames between neighbours. The
//! gap is given or chosen automatically: the smallest lag whose mean frame-to-frame
//! correlation (Pearson, over the envelope, averaged over up to [`CORRELATION_PAIRS`]
//! frame pairs) falls below a threshold — the paper kept it below 0.17 %. The report gives
//! the correlation across each actual boundary (last frame of a block vs first frame of
//! the next) and the curve of correlation against lag that the choice was made on.
//!
//! The correlation is computed on the time-varying part of the frames (each frame minus
//! the temporal mean frame of the stack): a static part — the depth profile of the noise
//! after TGC, static tissue — is shared by every frame of the acquisition whatever the gap,
//! and on raw envelopes it held the correlation at 20–25 % for every lag (simulated sparse
//! and dense acquisitions, lags 1–100). Compute it on the frames that become patches
//! (after clutter filtering).

use std::ops::Range;

use ndarray::{ArrayView2, ArrayView3, Axis};
use serde::{Deserialize, Serialize};

use crate::DataError;

/// Frame pairs averaged per lag by [`mean_correlation_at_lag`] in the automatic gap search.
pub const CORRELATION_PAIRS: usize = 16;

/// How the gap between blocks is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "mode")]
pub enum Gap {
    /// Exactly this many frames.
    Frames {
        /// Frames dropped between blocks.
        frames: usize,
    },
    /// The smallest gap whose frames across it correlate below `threshold` (a negative
    /// correlation is below it), at most
    /// `max_frames`.
    Auto {
        /// Correlation threshold (the paper: 0.0017).
        threshold: f64,
        /// Largest gap allowed.
        max_frames: usize,
    },
}

/// Split settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SplitConfig {
    /// Fractions of the usable frames (after removing the gaps) for train, val, test; they
    /// must sum to 1 (±1e-6). A zero fraction drops that block and its gap.
    pub fractions: [f64; 3],
    /// Gap between blocks.
    pub gap: Gap,
}

impl Default for SplitConfig {
    fn default() -> Self {
        Self { fractions: [0.8, 0.1, 0.1], gap: Gap::Auto { threshold: 0.0017, max_frames: 200 } }
    }
}

/// The frames of each block and the correlation across the gaps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SplitReport {
    /// Training frames.
    pub train: Range<usize>,
    /// Validation frames.
    pub val: Range<usize>,
    /// Test frames.
    pub test: Range<usize>,
    /// Frames dropped between neighbouring blocks.
    pub gap: usize,
    /// For the automatic gap: whether the threshold was reached within `max_frames`.
    pub threshold_reached: Option<bool>,
    /// Correlation between the last frame of one block and the first of the next, for each
    /// boundary (`train→val`, `val→test`, whichever exist).
    pub boundary_correlation: Vec<(String, f64)>,
    /// Mean correlation at lag `gap + 1` (the distance across a gap).
    pub correlation_across_gap: f64,
    /// `(lag, mean correlation)` evaluated (the automatic search's curve; lag 1 otherwise).
    pub correlation_vs_lag: Vec<(usize, f64)>,
}

/// Pearson correlation of two frames (0 when either is constant).
pub fn frame_correlation(a: ArrayView2<'_, f32>, b: ArrayView2<'_, f32>) -> f64 {
    let n = a.len() as f64;
    if n == 0.0 || a.dim() != b.dim() {
        return 0.0;
    }
    let ma = a.iter().map(|&v| v as f64).sum::<f64>() / n;
    let mb = b.iter().map(|&v| v as f64).sum::<f64>() / n;
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (&x, &y) in a.iter().zip(b.iter()) {
        let (dx, dy) = (x as f64 - ma, y as f64 - mb);
        sab += dx * dy;
        saa += dx * dx;
        sbb += dy * dy;
    }
    if saa <= 0.0 || sbb <= 0.0 { 0.0 } else { sab / (saa * sbb).sqrt() }
}

/// Mean correlation between frames `t` and `t + lag` over up to `pairs` values of `t`
/// spread evenly over the stack `[frames, rows, cols]`, after subtracting `mean` (the
/// temporal mean frame, see [`temporal_mean`]) from both when given; `None` if
/// `lag ≥ frames`.
pub fn mean_correlation_at_lag(
    frames: ArrayView3<'_, f32>,
    mean: Option<ArrayView2<'_, f32>>,
    lag: usize,
    pairs: usize,
) -> Option<f64> {
    let n = frames.len_of(Axis(0));
    if lag >= n || pairs == 0 {
        return None;
    }
    let avail = n - lag;
    let k = pairs.min(avail);
    let frame = |t: usize| match mean {
        Some(m) => &frames.index_axis(Axis(0), t) - &m,
        None => frames.index_axis(Axis(0), t).to_owned(),
    };
    let sum: f64 = (0..k)
        .map(|i| {
            let t = if k == 1 { 0 } else { i * (avail - 1) / (k - 1) };
            frame_correlation(frame(t).view(), frame(t + lag).view())
        })
        .sum();
    Some(sum / k as f64)
}

/// The temporal mean frame of a stack `[frames, rows, cols]`.
pub fn temporal_mean(frames: ArrayView3<'_, f32>) -> ndarray::Array2<f32> {
    frames.mean_axis(Axis(0)).unwrap_or_else(|| ndarray::Array2::zeros((frames.dim().1, frames.dim().2)))
}

/// Lags tried by the automatic search: every lag to 16, then about 12 % steps.
fn candidate_lags(max: usize) -> Vec<usize> {
    let mut v = Vec::new();
    let mut l = 1usize;
    while l <= max {
        v.push(l);
        l = if l < 16 { l + 1 } else { l + l.div_ceil(8) };
    }
    if v.last() != Some(&max) && max >= 1 {
        v.push(max);
    }
    v
}

/// Splits a stack of envelope frames `[frames, rows, cols]` (see the module docs).
pub fn split_frames(frames: ArrayView3<'_, f32>, cfg: &SplitConfig) -> Result<SplitReport, DataError> {
    let n = frames.len_of(Axis(0));
    let f = cfg.fractions;
    if f.iter().any(|v| !v.is_finite() || *v < 0.0) || (f.iter().sum::<f64>() - 1.0).abs() > 1e-6 {
        return Err(DataError::Config(format!("split fractions must be >= 0 and sum to 1, got {f:?}")));
    }
    let blocks = f.iter().filter(|&&v| v > 0.0).count();
    let mean_frame = temporal_mean(frames);
    let m = mean_frame.view();
    let mean = Some(m);
    let (gap, threshold_reached, curve) = match cfg.gap {
        Gap::Frames { frames } => (frames, None, None),
        Gap::Auto { threshold, max_frames } => {
            if !(threshold.is_finite() && threshold > 0.0) {
                return Err(DataError::Config(format!("gap threshold must be > 0, got {threshold}")));
            }
            let max_lag = (max_frames + 1).min(n.saturating_sub(1));
            let mut curve = Vec::new();
            let mut found = None;
            for lag in candidate_lags(max_lag) {
                let c = mean_correlation_at_lag(frames, mean, lag, CORRELATION_PAIRS).unwrap_or(0.0);
                curve.push((lag, c));
                if c < threshold {
                    found = Some(lag);
                    break;
                }
            }
            match found {
                Some(lag) => (lag - 1, Some(true), Some(curve)),
                None => (max_frames.min(max_lag), Some(false), Some(curve)),
            }
        }
    };
    let usable = n.checked_sub(gap * blocks.saturating_sub(1)).filter(|&u| u >= blocks).ok_or_else(|| {
        DataError::Config(format!("{n} frames cannot hold {blocks} blocks separated by gaps of {gap} frames"))
    })?;
    let n_train = (f[0] * usable as f64).round() as usize;
    let n_val = ((f[1] * usable as f64).round() as usize).min(usable - n_train);
    let n_test = usable - n_train - n_val;
    let mut at = 0;
    let mut ranges = [0..0, 0..0, 0..0];
    let mut names = Vec::new();
    for (i, len) in [n_train, n_val, n_test].into_iter().enumerate() {
        if f[i] == 0.0 {
            ranges[i] = at..at;
            continue;
        }
        if !names.is_empty() {
            at += gap;
        }
        ranges[i] = at..at + len;
        at += len;
        names.push(i);
    }
    let label = ["train", "val", "test"];
    let mut boundary = Vec::new();
    for w in names.windows(2) {
        let (a, b) = (&ranges[w[0]], &ranges[w[1]]);
        if a.is_empty() || b.is_empty() {
            continue;
        }
        let (x, y) = (a.end - 1, b.start);
        let c = frame_correlation(
            (&frames.index_axis(Axis(0), x) - &m).view(),
            (&frames.index_axis(Axis(0), y) - &m).view(),
        );
        boundary.push((format!("{}→{}", label[w[0]], label[w[1]]), c));
    }
    let across = mean_correlation_at_lag(frames, mean, gap + 1, CORRELATION_PAIRS).unwrap_or(0.0);
    let curve = match cfg.gap {
        Gap::Frames { .. } => vec![(1, mean_correlation_at_lag(frames, mean, 1, CORRELATION_PAIRS).unwrap_or(0.0))],
        Gap::Auto { .. } => curve.unwrap_or_default(),
    };
    let [train, val, test] = ranges;
    Ok(SplitReport {
        train,
        val,
        test,
        gap,
        threshold_reached,
        boundary_correlation: boundary,
        correlation_across_gap: across,
        correlation_vs_lag: curve,
    })
}

#[cfg(test)]
mod tests {
    use ndarray::{Array2, Array3};

    use super::*;

    #[test]
    fn correlation_by_hand() {
        // a = [1, 2, 3, 4], b = [2, 4, 6, 9]: means 2.5, 5.25; deviations a: −1.5 −.5 .5 1.5,
        // b: −3.25 −1.25 .75 3.75; Σab = 4.875 + .625 + .375 + 5.625 = 11.5;
        // Σaa = 5; Σbb = 10.5625 + 1.5625 + .5625 + 14.0625 = 26.75 → r = 11.5 / √133.75.
        let a = Array2::from_shape_vec((2, 2), vec![1.0f32, 2.0, 3.0, 4.0]).unwrap();
        let b = Array2::from_shape_vec((2, 2), vec![2.0f32, 4.0, 6.0, 9.0]).unwrap();
        let r = frame_correlation(a.view(), b.view());
        assert!((r - 11.5 / 133.75f64.sqrt()).abs() < 1e-12);
        let neg = a.mapv(|v| -v);
        assert!((frame_correlation(a.view(), neg.view()) + 1.0).abs() < 1e-12);
        assert_eq!(frame_correlation(a.view(), Array2::from_elem((2, 2), 3.0).view()), 0.0);
    }

    /// Frames whose pattern decorrelates after `memory` frames: frame t is the sum of
    /// `memory` independent random patterns t, t−1, …, so frames `lag` apart share
    /// `memory − lag` of them (correlation ≈ 1 − lag / memory).
    fn moving_average_frames(n: usize, memory: usize) -> Array3<f32> {
        let mut s = 12345u64;
        let mut rnd = || {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((s >> 33) as f32 / (1u64 << 31) as f32) - 0.5
        };
        let base: Vec<Vec<f32>> = (0..n + memory).map(|_| (0..400).map(|_| rnd()).collect()).collect();
        Array3::from_shape_fn((n, 20, 20), |(t, r, c)| (0..memory).map(|k| base[t + k][r * 20 + c]).sum())
    }

    #[test]
    fn blocks_and_gap_no_leakage() {
        let frames = moving_average_frames(120, 10);
        let cfg = SplitConfig { fractions: [0.8, 0.1, 0.1], gap: Gap::Frames { frames: 5 } };
        let r = split_frames(frames.view(), &cfg).unwrap();
        // usable = 120 − 10 = 110 → 88 / 11 / 11.
        assert_eq!((r.train.clone(), r.val.clone(), r.test.clone()), (0..88, 93..104, 109..120));
        // No frame within a gap belongs to a block; blocks are disjoint.
        for t in (88..93).chain(104..109) {
            assert!(!r.train.contains(&t) && !r.val.contains(&t) && !r.test.contains(&t));
        }
        // Lag 6 shares 4 of 10 patterns: correlation ≈ 0.4.
        assert!((r.correlation_across_gap - 0.4).abs() < 0.1, "{}", r.correlation_across_gap);
        assert_eq!(r.boundary_correlation.len(), 2);
    }

    #[test]
    fn automatic_gap_stops_below_threshold() {
        let frames = moving_average_frames(200, 10);
        let cfg = SplitConfig { fractions: [0.8, 0.2, 0.0], gap: Gap::Auto { threshold: 0.05, max_frames: 50 } };
        let r = split_frames(frames.view(), &cfg).unwrap();
        // Patterns are fully independent from lag 10 on; lag 9 still shares one (≈ 0.1).
        assert_eq!(r.gap, 9, "{:?}", r.correlation_vs_lag);
        assert_eq!(r.threshold_reached, Some(true));
        assert!(r.correlation_across_gap.abs() < 0.05);
        assert!(r.test.is_empty());
        assert_eq!(r.val.start, r.train.end + 9);
        assert_eq!(r.boundary_correlation.len(), 1);
        // Not reachable: the largest gap is used and reported as such.
        let cfg = SplitConfig { fractions: [0.5, 0.5, 0.0], gap: Gap::Auto { threshold: 1e-9, max_frames: 3 } };
        let r = split_frames(frames.view(), &cfg).unwrap();
        assert_eq!((r.gap, r.threshold_reached), (3, Some(false)));
    }

    #[test]
    fn bad_splits_error() {
        let frames = moving_average_frames(10, 2);
        let bad = |f: [f64; 3], g: usize| {
            split_frames(frames.view(), &SplitConfig { fractions: f, gap: Gap::Frames { frames: g } })
        };
        assert!(bad([0.5, 0.2, 0.2], 0).unwrap_err().to_string().contains("sum to 1"));
        assert!(bad([0.4, 0.3, 0.3], 5).unwrap_err().to_string().contains("gaps of 5"));
    }
}
