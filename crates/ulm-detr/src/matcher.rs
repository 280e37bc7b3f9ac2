//! Hungarian matching of predictions to ground-truth boxes, one image at a time
//! (`HungarianMatcher` of DETR and Deformable DETR).
//!
//! The cost of assigning query `i` to target `j` is
//! `w_class · C_class(i, j) + w_bbox · ‖b_i − b_j‖₁ + w_giou · (−GIoU(b_i, b_j))`, with
//! boxes in normalised `(cx, cy, w, h)`. The class cost is
//! * **focal** (Deformable DETR, sigmoid scores `p`):
//!   `α (1 − p)^γ (−ln(p + 1e-8)) − (1 − α) p^γ (−ln(1 − p + 1e-8))`;
//! * **probability** (DETR, softmax scores): `−p`.
//!
//! The assignment is solved exactly by the shared LSAP in [`ulm_core::assignment`].
//! Matching runs on host values (no gradient flows through it).

use serde::{Deserialize, Serialize};
use ulm_core::assignment::linear_sum_assignment;

/// How the class term of the matching cost is computed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum ClassCost {
    /// Sigmoid focal cost (Deformable DETR); scores are sigmoid probabilities.
    Focal {
        /// Weight `α` of the positive term. Reference 0.25.
        alpha: f64,
        /// Focusing exponent `γ`. Reference 2.
        gamma: f64,
    },
    /// `−p` of the target class (DETR); scores are softmax probabilities.
    Probability,
}

/// Weights of the matching cost.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MatcherConfig {
    /// Class cost kind.
    pub class_cost: ClassCost,
    /// Weight of the class cost (reference 2 for Deformable DETR, 1 for DETR).
    pub class_weight: f64,
    /// Weight of the L1 box cost (reference 5).
    pub bbox_weight: f64,
    /// Weight of the GIoU cost (reference 2).
    pub giou_weight: f64,
}

impl MatcherConfig {
    /// Deformable DETR's matcher: focal class cost (α 0.25, γ 2), weights 2 / 5 / 2.
    pub fn deformable_detr() -> Self {
        Self {
            class_cost: ClassCost::Focal { alpha: 0.25, gamma: 2.0 },
            class_weight: 2.0,
            bbox_weight: 5.0,
            giou_weight: 2.0,
        }
    }

    /// DETR's matcher: probability class cost, weights 1 / 5 / 2.
    pub fn detr() -> Self {
        Self { class_cost: ClassCost::Probability, class_weight: 1.0, bbox_weight: 5.0, giou_weight: 2.0 }
    }
}

/// `(cx, cy, w, h)` → `(x0, y0, x1, y1)`.
pub fn cxcywh_to_xyxy(b: [f32; 4]) -> [f64; 4] {
    let [cx, cy, w, h] = b.map(f64::from);
    [cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h]
}

/// Generalised IoU of two `(x0, y0, x1, y1)` boxes (Rezatofighi et al. 2019). Degenerate
/// boxes (zero area) give NaN when both are degenerate, as in the references.
pub fn generalized_iou(a: [f64; 4], b: [f64; 4]) -> f64 {
    let area = |r: [f64; 4]| (r[2] - r[0]) * (r[3] - r[1]);
    let iw = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let ih = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = iw * ih;
    let union = area(a) + area(b) - inter;
    let iou = inter / union;
    let cw = (a[2].max(b[2]) - a[0].min(b[0])).max(0.0);
    let ch = (a[3].max(b[3]) - a[1].min(b[1])).max(0.0);
    let enclosing = cw * ch;
    iou - (enclosing - union) / enclosing
}

/// The `q × t` cost matrix (row-major) of one image.
///
/// `scores[i · classes + c]` is the probability of class `c` for query `i` (sigmoid or
/// softmax as [`MatcherConfig::class_cost`] says), `pred_boxes[i]` its box, `labels[j]` and
/// `target_boxes[j]` the targets.
pub fn cost_matrix(
    scores: &[f32],
    classes: usize,
    pred_boxes: &[[f32; 4]],
    labels: &[usize],
    target_boxes: &[[f32; 4]],
    config: &MatcherConfig,
) -> Vec<f64> {
    let (q, t) = (pred_boxes.len(), target_boxes.len());
    let mut cost = vec![0.0; q * t];
    let target_xyxy: Vec<[f64; 4]> = target_boxes.iter().map(|&b| cxcywh_to_xyxy(b)).collect();
    for i in 0..q {
        let pred = pred_boxes[i];
        let pred_xyxy = cxcywh_to_xyxy(pred);
        for j in 0..t {
            let p = f64::from(scores[i * classes + labels[j]]);
            let class = match config.class_cost {
                ClassCost::Focal { alpha, gamma } => {
                    let neg = (1.0 - alpha) * p.powf(gamma) * -(1.0 - p + 1e-8).ln();
                    let pos = alpha * (1.0 - p).powf(gamma) * -(p + 1e-8).ln();
                    pos - neg
                }
                ClassCost::Probability => -p,
            };
            let l1: f64 = (0..4).map(|k| (f64::from(pred[k]) - f64::from(target_boxes[j][k])).abs()).sum();
            let giou = generalized_iou(pred_xyxy, target_xyxy[j]);
            cost[i * t + j] = config.class_weight * class + config.bbox_weight * l1 - config.giou_weight * giou;
        }
    }
    cost
}

/// Optimal one-to-one matching of one image's queries to its targets.
///
/// Returns `(query, target)` pairs sorted by target index — `min(q, t)` of them — or `None`
/// when a cost is not finite (NaN or infinite predictions: the caller skips the step).
pub fn match_image(
    scores: &[f32],
    classes: usize,
    pred_boxes: &[[f32; 4]],
    labels: &[usize],
    target_boxes: &[[f32; 4]],
    config: &MatcherConfig,
) -> Option<Vec<(usize, usize)>> {
    let (q, t) = (pred_boxes.len(), target_boxes.len());
    if q == 0 || t == 0 {
        return Some(Vec::new());
    }
    let cost = cost_matrix(scores, classes, pred_boxes, labels, target_boxes, config);
    if cost.iter().any(|c| !c.is_finite()) {
        return None;
    }
    // Rows = targets (usually fewer than queries), so every target is assigned.
    let mut transposed = vec![0.0; t * q];
    for i in 0..q {
        for j in 0..t {
            transposed[j * q + i] = cost[i * t + j];
        }
    }
    let assignment = linear_sum_assignment(&transposed, t, q)?;
    Some(assignment.into_iter().enumerate().filter_map(|(j, i)| i.map(|i| (i, j))).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn giou_by_hand() {
        // Identical boxes: 1.
        assert!((generalized_iou([0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 1.0, 1.0]) - 1.0).abs() < 1e-12);
        // [0,2]² and [1,3]²: inter 1, union 7, enclosing 9 → 1/7 − 2/9.
        let g = generalized_iou([0.0, 0.0, 2.0, 2.0], [1.0, 1.0, 3.0, 3.0]);
        assert!((g - (1.0 / 7.0 - 2.0 / 9.0)).abs() < 1e-12, "{g}");
        // Disjoint unit boxes 1 apart: inter 0, union 2, enclosing 3 → −1/3.
        let g = generalized_iou([0.0, 0.0, 1.0, 1.0], [2.0, 0.0, 3.0, 1.0]);
        assert!((g + 1.0 / 3.0).abs() < 1e-12, "{g}");
    }

    #[test]
    fn focal_cost_entry_by_hand() {
        // One query (p = 0.8), one target; boxes identical → L1 0, GIoU 1.
        let b = [0.5f32, 0.5, 0.2, 0.2];
        let cfg = MatcherConfig::deformable_detr();
        let c = cost_matrix(&[0.8], 1, &[b], &[0], &[b], &cfg);
        let p: f64 = 0.8f32 as f64;
        let pos = 0.25 * (1.0 - p).powi(2) * -(p + 1e-8).ln();
        let neg = 0.75 * p.powi(2) * -(1.0 - p + 1e-8).ln();
        let expected = 2.0 * (pos - neg) + 5.0 * 0.0 - 2.0 * 1.0;
        assert!((c[0] - expected).abs() < 1e-9, "{} vs {expected}", c[0]);
    }

    #[test]
    fn probability_cost_with_l1_by_hand() {
        // p = 0.3; pred (0.5,0.5,0.2,0.2) vs target (0.6,0.5,0.2,0.2): L1 0.1;
        // xyxy [0.4,0.4,0.6,0.6] vs [0.5,0.4,0.7,0.6]: inter 0.02, union 0.06, encl 0.06.
        let cfg = MatcherConfig::detr();
        let c = cost_matrix(&[0.3, 0.7], 2, &[[0.5, 0.5, 0.2, 0.2]], &[0], &[[0.6, 0.5, 0.2, 0.2]], &cfg);
        let l1 = (0.6f32 as f64 - 0.5f32 as f64).abs();
        let expected = -(0.3f32 as f64) + 5.0 * l1 - 2.0 * (1.0 / 3.0);
        assert!((c[0] - expected).abs() < 1e-6, "{} vs {expected}", c[0]);
    }

    #[test]
    fn matching_is_optimal_not_greedy() {
        // Query 0 sits on target 0 but query 1 can only reach target 0 reasonably well
        // and target 1 badly; the total is minimal when each query takes its own target.
        let cfg =
            MatcherConfig { class_cost: ClassCost::Probability, class_weight: 0.0, bbox_weight: 1.0, giou_weight: 0.0 };
        let preds = [[0.2f32, 0.2, 0.1, 0.1], [0.3, 0.2, 0.1, 0.1], [0.9, 0.9, 0.1, 0.1]];
        let targets = [[0.25f32, 0.2, 0.1, 0.1], [0.8, 0.8, 0.1, 0.1]];
        let m = match_image(&[0.5; 3], 1, &preds, &[0, 0], &targets, &cfg).unwrap();
        // Brute force over the 6 injective maps of 2 targets into 3 queries.
        let cost = cost_matrix(&[0.5; 3], 1, &preds, &[0, 0], &targets, &cfg);
        let mut best = (f64::INFINITY, (0, 0));
        for a in 0..3 {
            for b in 0..3 {
                if a != b && cost[a * 2] + cost[b * 2 + 1] < best.0 {
                    best = (cost[a * 2] + cost[b * 2 + 1], (a, b));
                }
            }
        }
        assert_eq!(m, vec![(best.1.0, 0), (best.1.1, 1)]);
        assert_eq!(m, vec![(0, 0), (2, 1)]);
    }

    #[test]
    fn more_targets_than_queries_and_nan() {
        let cfg = MatcherConfig::deformable_detr();
        let t = [[0.2f32, 0.2, 0.1, 0.1], [0.8, 0.8, 0.1, 0.1]];
        let m = match_image(&[0.5], 1, &[[0.79, 0.8, 0.1, 0.1]], &[0, 0], &t, &cfg).unwrap();
        assert_eq!(m, vec![(0, 1)]);
        assert!(match_image(&[0.5], 1, &[[f32::NAN, 0.8, 0.1, 0.1]], &[0], &t[..1], &cfg).is_none());
        assert_eq!(match_image(&[0.5], 1, &[[0.5, 0.5, 0.1, 0.1]], &[], &[], &cfg), Some(vec![]));
    }
}
