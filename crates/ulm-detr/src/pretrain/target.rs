//! The heatmap target on the stride-`S` grid, CenterNet's penalty-reduced focal loss, and
//! peak decoding (see the [module docs](super) for the grid convention).
//!
//! The U-Net's `ulm_unet::heatmap` renders a Gaussian centred on the exact position on a
//! *finer* grid and refines peaks by parabola fits; here the grid is *coarser* than the
//! image and, as in CenterNet, the Gaussian is centred on the peak cell (so that exactly the
//! peak cells are the focal loss's positives) with the remainder regressed as an offset.
//! ulm-unet depends on this crate, so the few lines are written here rather than shared.

use burn::prelude::*;
use burn::tensor::activation::{log_sigmoid, sigmoid};

/// The target of one patch on a `gh × gw` grid.
#[derive(Debug, Clone, PartialEq)]
pub struct HeatmapTarget {
    /// Gaussian peaks, 1 at each bubble's cell, row-major `[gh, gw]`.
    pub heat: Vec<f32>,
    /// 1 at the peak cells, 0 elsewhere, `[gh, gw]`.
    pub positive: Vec<f32>,
    /// Offset `(dx, dz)` of the bubble from its peak cell, in cells, `[2, gh, gw]` (0 off the
    /// peaks).
    pub offset: Vec<f32>,
    /// Number of peak cells (bubbles sharing a cell count once).
    pub count: usize,
}

/// Renders the target of bubbles at patch pixels `centres` `(col, row)` on the grid of
/// stride `stride` (cell `(i, j)` centred on pixel `(stride·i, stride·j)`): the nearest cell
/// of each bubble gets 1 and the offset `(col/stride − j, row/stride − i)`, its neighbours
/// `exp(−d² / 2σ²)` (d in cells, out to 3σ, the maximum over bubbles). A bubble further than
/// one cell outside the grid, or not finite, is skipped; two bubbles in one cell keep the
/// first one's offset.
pub fn render_heatmap_target(
    centres: &[(f64, f64)],
    gh: usize,
    gw: usize,
    stride: usize,
    sigma_cells: f64,
) -> HeatmapTarget {
    let n = gh * gw;
    let mut t = HeatmapTarget { heat: vec![0.0; n], positive: vec![0.0; n], offset: vec![0.0; 2 * n], count: 0 };
    if n == 0 {
        return t;
    }
    let reach = (3.0 * sigma_cells).ceil() as isize;
    let inv = 1.0 / (2.0 * sigma_cells * sigma_cells);
    for &(col, row) in centres {
        let (u, v) = (col / stride as f64, row / stride as f64);
        if !(u.is_finite() && v.is_finite()) {
            continue;
        }
        let j = u.round().clamp(0.0, (gw - 1) as f64);
        let i = v.round().clamp(0.0, (gh - 1) as f64);
        if (u - j).abs() > 1.0 || (v - i).abs() > 1.0 {
            continue;
        }
        let (ci, cj) = (i as isize, j as isize);
        for r in (ci - reach).max(0)..=(ci + reach).min(gh as isize - 1) {
            for c in (cj - reach).max(0)..=(cj + reach).min(gw as isize - 1) {
                let d2 = ((r - ci).pow(2) + (c - cj).pow(2)) as f64;
                let g = (-d2 * inv).exp() as f32;
                let m = &mut t.heat[r as usize * gw + c as usize];
                *m = m.max(g);
            }
        }
        let k = ci as usize * gw + cj as usize;
        if t.positive[k] == 0.0 {
            t.positive[k] = 1.0;
            t.offset[k] = (u - j) as f32;
            t.offset[n + k] = (v - i) as f32;
            t.count += 1;
        }
    }
    t
}

/// CenterNet's penalty-reduced focal loss (α = 2, β = 4), summed over the cells and divided
/// by `max(num_peaks, 1)`:
/// `−Σ_pos (1 − p)^α log p − Σ_other valid·(1 − y)^β p^α log(1 − p)`, `p = sigmoid(logits)`
/// (the logs through `log_sigmoid`, stable for large logits).
///
/// # Shapes
/// - `logits`, `target` (y), `positive` (1 at the peaks), `valid` (0 on padding): `[b, 1, h, w]`
/// - returns `[1]`
pub fn focal_loss(
    logits: Tensor<4>,
    target: Tensor<4>,
    positive: Tensor<4>,
    valid: Tensor<4>,
    num_peaks: usize,
) -> Tensor<1> {
    let p = sigmoid(logits.clone());
    // [b, 1, h, w]
    let pos = positive.clone() * (p.ones_like() - p.clone()).powi_scalar(2) * log_sigmoid(logits.clone());
    // (1 − y)^β is 0 at the peaks; the mask removes rounding there.
    let other = (positive.ones_like() - positive) * valid;
    let neg = other * (target.ones_like() - target).powi_scalar(4) * p.powi_scalar(2) * log_sigmoid(logits.neg());
    (pos.sum() + neg.sum()).neg() / num_peaks.max(1) as f64
}

/// A decoded peak, in patch pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PeakPoint {
    /// Column (lateral), patch pixels, fractional.
    pub col: f64,
    /// Row (depth), patch pixels, fractional.
    pub row: f64,
    /// Heatmap probability at the peak cell.
    pub score: f32,
}

/// Local maxima of one heatmap (probabilities, `[gh, gw]`) over their 3×3 neighbourhood
/// within the valid `valid_gh × valid_gw` cells (ties go to the first in raster order), with
/// probability ≥ `min_score`, moved by their offsets (`[2, gh, gw]`, cells) and returned in
/// patch pixels, highest first, at most `top_k`.
#[allow(clippy::too_many_arguments)]
pub fn decode_peaks(
    heat: &[f32],
    offset: &[f32],
    gh: usize,
    gw: usize,
    valid: (usize, usize),
    stride: usize,
    min_score: f32,
    top_k: usize,
) -> Vec<PeakPoint> {
    let (vh, vw) = (valid.0.min(gh), valid.1.min(gw));
    let n = gh * gw;
    let mut peaks = Vec::new();
    for i in 0..vh {
        for j in 0..vw {
            let v = heat[i * gw + j];
            if v.is_nan() || v < min_score {
                continue;
            }
            let mut is_max = true;
            for r in i.saturating_sub(1)..(i + 2).min(vh) {
                for c in j.saturating_sub(1)..(j + 2).min(vw) {
                    let o = heat[r * gw + c];
                    let earlier = r < i || (r == i && c < j);
                    if o > v || (earlier && o == v) {
                        is_max = false;
                    }
                }
            }
            if is_max {
                let k = i * gw + j;
                let s = stride as f64;
                let col = s * (j as f64 + f64::from(offset[k]));
                let row = s * (i as f64 + f64::from(offset[n + k]));
                peaks.push(PeakPoint { col, row, score: v });
            }
        }
    }
    peaks.sort_by(|a, b| b.score.total_cmp(&a.score));
    peaks.truncate(top_k);
    peaks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_peaks_at_the_bubbles_by_hand() {
        // Stride 4, σ = 0.5 cell, grid 6 × 5. Bubble A at pixel (col 9, row 14): grid
        // (2.25, 3.5) → cell (row 4, col 2) (round(3.5) = 4), offset (dx 0.25, dz −0.5).
        // Bubble B at (col 0.4, row 0): cell (0, 0), offset (0.1, 0).
        let t = render_heatmap_target(&[(9.0, 14.0), (0.4, 0.0)], 6, 5, 4, 0.5);
        let at = |r: usize, c: usize| t.heat[r * 5 + c];
        assert_eq!(t.count, 2);
        assert_eq!(at(4, 2), 1.0);
        assert_eq!(at(0, 0), 1.0);
        let pos: Vec<usize> = (0..30).filter(|&k| t.positive[k] == 1.0).collect();
        assert_eq!(pos, vec![0, 4 * 5 + 2]);
        // Neighbours: d² = 1 → exp(−1 / (2 · 0.25)) = exp(−2); d² = 2 → exp(−4); reach 3σ → 2 cells.
        assert!((f64::from(at(4, 3)) - (-2f64).exp()).abs() < 1e-7);
        assert!((f64::from(at(3, 1)) - (-4f64).exp()).abs() < 1e-7);
        assert!((f64::from(at(2, 2)) - (-8f64).exp()).abs() < 1e-7); // d² = 4, within 2 cells
        assert_eq!(at(4, 0), at(4, 4)); // symmetric around col 2
        assert_eq!(at(1, 4), 0.0); // 3 rows from A, 4 columns from B: beyond the reach
        // Offsets (dx, dz) at the peaks.
        assert!((t.offset[22] - 0.25).abs() < 1e-7 && (t.offset[30 + 22] + 0.5).abs() < 1e-7);
        assert!((t.offset[0] - 0.1).abs() < 1e-7 && t.offset[30] == 0.0);
        // Far outside, NaN: skipped; on the last cell's far border: kept (clamped cell).
        let t = render_heatmap_target(&[(100.0, 0.0), (f64::NAN, 1.0), (18.0, 23.0)], 6, 5, 4, 0.5);
        assert_eq!(t.count, 1);
        // (18, 23) → grid (4.5, 5.75): cell (5, 4) (round(4.5) = 5 clamped to 4), offset (0.5, 0.75).
        assert_eq!(t.heat[5 * 5 + 4], 1.0);
        assert!((t.offset[29] - 0.5).abs() < 1e-7 && (t.offset[59] - 0.75).abs() < 1e-7);
    }

    #[test]
    fn focal_loss_by_hand() {
        let device = Device::default();
        let t4 = |v: Vec<f32>| Tensor::<4>::from_data(TensorData::new(v, [1, 1, 1, 4]), &device);
        // Logits 0, ln 3, −ln 3, 5 → p = 1/2, 3/4, 1/4, σ(5); targets 1, 1/2, 0, 0; the last
        // cell is padding (valid 0).
        let l3 = 3f32.ln();
        let loss = focal_loss(
            t4(vec![0.0, l3, -l3, 5.0]),
            t4(vec![1.0, 0.5, 0.0, 0.0]),
            t4(vec![1.0, 0.0, 0.0, 0.0]),
            t4(vec![1.0, 1.0, 1.0, 0.0]),
            1,
        );
        // positive: (1/2)² ln(1/2) = −0.173287; cell 2: (1/2)⁴ (3/4)² ln(1/4) = −0.048737;
        // cell 3: 1 · (1/4)² ln(3/4) = −0.017980. Sum negated: 0.240004.
        let expected = -(0.25 * 0.5f64.ln() + 0.0625 * 0.5625 * 0.25f64.ln() + 0.0625 * 0.75f64.ln());
        assert!((expected - 0.240_004).abs() < 1e-6);
        let got = f64::from(loss.into_scalar::<f32>());
        assert!((got - expected).abs() < 1e-6, "{got} vs {expected}");
        // Normalised by the number of peaks.
        let two = focal_loss(
            t4(vec![0.0, l3, -l3, 5.0]),
            t4(vec![1.0, 0.5, 0.0, 0.0]),
            t4(vec![1.0, 0.0, 0.0, 0.0]),
            t4(vec![1.0, 1.0, 1.0, 0.0]),
            2,
        );
        assert!((f64::from(two.into_scalar::<f32>()) - expected / 2.0).abs() < 1e-6);
    }

    #[test]
    fn peaks_decode_back_to_the_rendered_positions() {
        let centres = [(9.0, 14.0), (0.4, 0.0), (13.5, 2.0)];
        let t = render_heatmap_target(&centres, 6, 5, 4, 0.5);
        let p = decode_peaks(&t.heat, &t.offset, 6, 5, (6, 5), 4, 0.5, 10);
        assert_eq!(p.len(), 3, "{p:?}");
        for (c, r) in centres {
            assert!(p.iter().any(|q| (q.col - c).abs() < 1e-5 && (q.row - r).abs() < 1e-5), "{c}, {r}: {p:?}");
        }
        // The valid area, the threshold and the count limit apply; a plateau gives one peak.
        assert_eq!(decode_peaks(&t.heat, &t.offset, 6, 5, (3, 5), 4, 0.5, 10).len(), 2);
        assert_eq!(decode_peaks(&t.heat, &t.offset, 6, 5, (6, 5), 4, 0.5, 1).len(), 1);
        let flat = vec![0.5f32; 4];
        assert_eq!(decode_peaks(&flat, &[0.0; 8], 2, 2, (2, 2), 4, 0.1, 10).len(), 1);
        assert!(decode_peaks(&flat, &[0.0; 8], 2, 2, (2, 2), 4, 0.6, 10).is_empty());
    }
}
