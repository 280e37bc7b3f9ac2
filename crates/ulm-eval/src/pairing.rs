//! Optimal one-to-one pairing of predicted and ground-truth positions under a distance
//! gate.
//!
//! # The rule
//! Within one frame, a pair `(prediction, truth)` is *admissible* when their Euclidean
//! distance is at most the gate. Among all one-to-one sets of admissible pairs we take the
//! one with the **most pairs**, and among those the one with the **smallest total
//! distance**.
//!
//! This is solved exactly as one linear sum assignment: predictions are rows; the columns
//! are the ground-truth points plus one "unmatched" column per prediction. Admissible pairs
//! cost their distance, inadmissible ones are forbidden, and "unmatched" costs a constant
//! `M > min(n_pred, n_gt) · gate`, so that leaving one more prediction unmatched always
//! costs more than any total distance of the pairs (lexicographic: count first, then
//! distance).
//!
//! Two simpler rules are wrong in general: greedy nearest-first pairing can lose pairs
//! (see the tests), and an unconstrained assignment followed by dropping the pairs beyond
//! the gate can also lose pairs when it trades an in-gate pair for a lower total that
//! includes an out-of-gate one.

use ulm_core::Localizations;
use ulm_core::assignment::linear_sum_assignment;

/// One matched pair: indices into the prediction and ground-truth lists, and their
/// distance.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pair {
    /// Index of the prediction.
    pub pred: usize,
    /// Index of the ground-truth point.
    pub gt: usize,
    /// Euclidean distance in the units of the inputs (mm for tables).
    pub distance: f64,
}

/// Pairs points `pred` with points `gt` (both `(x, z)`) under `gate` (same units; `gate`
/// must be finite and > 0) by the rule in the [module docs](self). Pairs are returned
/// sorted by prediction index.
pub fn pair_points(pred: &[(f64, f64)], gt: &[(f64, f64)], gate: f64) -> Vec<Pair> {
    assert!(gate.is_finite() && gate > 0.0, "gate must be finite and > 0, got {gate}");
    let (np, ng) = (pred.len(), gt.len());
    if np == 0 || ng == 0 {
        return Vec::new();
    }
    let dist = |i: usize, j: usize| {
        let (dx, dz) = (pred[i].0 - gt[j].0, pred[i].1 - gt[j].1);
        (dx * dx + dz * dz).sqrt()
    };
    // Keep only predictions and truths that have at least one admissible partner: this
    // shrinks the assignment problem without changing its optimum.
    let mut pi = Vec::new();
    let mut gj_used = vec![false; ng];
    for i in 0..np {
        let mut any = false;
        for (j, used) in gj_used.iter_mut().enumerate() {
            if dist(i, j) <= gate {
                any = true;
                *used = true;
            }
        }
        if any {
            pi.push(i);
        }
    }
    let gj: Vec<usize> = (0..ng).filter(|&j| gj_used[j]).collect();
    let (n, m) = (pi.len(), gj.len());
    if n == 0 {
        return Vec::new();
    }
    let unmatched = 2.0 * (n.min(m) as f64 + 1.0) * gate;
    let cols = m + n;
    let mut cost = vec![f64::INFINITY; n * cols];
    for (r, &i) in pi.iter().enumerate() {
        for (c, &j) in gj.iter().enumerate() {
            let d = dist(i, j);
            if d <= gate {
                cost[r * cols + c] = d;
            }
        }
        cost[r * cols + m + r] = unmatched;
    }
    let assignment = linear_sum_assignment(&cost, n, cols).expect("always feasible: every row has its own column");
    let mut pairs: Vec<Pair> = assignment
        .iter()
        .enumerate()
        .filter_map(|(r, c)| {
            let c = (*c)?;
            (c < m).then(|| Pair { pred: pi[r], gt: gj[c], distance: dist(pi[r], gj[c]) })
        })
        .collect();
    pairs.sort_by_key(|p| p.pred);
    pairs
}

/// Pairs two localization tables frame by frame. The returned indices are row indices of
/// the tables, pairs are sorted by frame then prediction row.
pub fn pair_tables(pred: &Localizations, gt: &Localizations, gate_mm: f64) -> Vec<Pair> {
    let n_frames = pred.n_frames().max(gt.n_frames());
    let pred_rows = pred.rows_by_frame(n_frames);
    let gt_rows = gt.rows_by_frame(n_frames);
    let mut out = Vec::new();
    for (pr, gr) in pred_rows.iter().zip(&gt_rows) {
        if pr.is_empty() || gr.is_empty() {
            continue;
        }
        let p: Vec<(f64, f64)> = pr.iter().map(|&i| (pred.x_mm[i], pred.z_mm[i])).collect();
        let g: Vec<(f64, f64)> = gr.iter().map(|&i| (gt.x_mm[i], gt.z_mm[i])).collect();
        out.extend(pair_points(&p, &g, gate_mm).into_iter().map(|q| Pair {
            pred: pr[q.pred],
            gt: gr[q.gt],
            distance: q.distance,
        }));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Greedy nearest-first pairing, only to show where it fails.
    fn greedy(pred: &[(f64, f64)], gt: &[(f64, f64)], gate: f64) -> usize {
        let mut all = Vec::new();
        for (i, p) in pred.iter().enumerate() {
            for (j, g) in gt.iter().enumerate() {
                let d = ((p.0 - g.0).powi(2) + (p.1 - g.1).powi(2)).sqrt();
                if d <= gate {
                    all.push((d, i, j));
                }
            }
        }
        all.sort_by(|a, b| a.0.total_cmp(&b.0));
        let (mut up, mut ug) = (vec![false; pred.len()], vec![false; gt.len()]);
        let mut n = 0;
        for (_, i, j) in all {
            if !up[i] && !ug[j] {
                up[i] = true;
                ug[j] = true;
                n += 1;
            }
        }
        n
    }

    #[test]
    fn greedy_loses_a_pair_optimal_keeps_both() {
        // P1 is nearest to G0 (0.4), so greedy pairs them and P0 is left with nothing in
        // the gate; optimal pairs P0–G0 (0.6) and P1–G1 (0.9).
        let pred = [(0.0, 0.0), (1.0, 0.0)];
        let gt = [(0.6, 0.0), (1.9, 0.0)];
        assert_eq!(greedy(&pred, &gt, 1.0), 1);
        let pairs = pair_points(&pred, &gt, 1.0);
        assert_eq!(pairs.len(), 2);
        assert_eq!((pairs[0].pred, pairs[0].gt), (0, 0));
        assert_eq!((pairs[1].pred, pairs[1].gt), (1, 1));
        assert!((pairs[0].distance - 0.6).abs() < 1e-12);
        assert!((pairs[1].distance - 0.9).abs() < 1e-12);
    }

    #[test]
    fn unconstrained_assignment_then_gating_loses_a_pair() {
        // G0 and P1 nearly coincide; P0 and G1 sit 0.99 away from them at right angles.
        // Unconstrained min-sum prefers P1–G0 + P0–G1 (0.01 + 1.407 < 0.99 + 0.99), and
        // gating afterwards drops P0–G1 (> 1): one pair. The gated optimum keeps two.
        let pred = [(-0.99, 0.0), (0.0, 0.01)];
        let gt = [(0.0, 0.0), (0.0, 1.0)];
        let d = |p: (f64, f64), g: (f64, f64)| ((p.0 - g.0).powi(2) + (p.1 - g.1).powi(2)).sqrt();
        let full: Vec<f64> = pred.iter().flat_map(|&p| gt.iter().map(move |&g| d(p, g))).collect();
        let a = linear_sum_assignment(&full, 2, 2).unwrap();
        let kept = a.iter().enumerate().filter(|(i, j)| d(pred[*i], gt[j.unwrap()]) <= 1.0).count();
        assert_eq!(kept, 1);
        let pairs = pair_points(&pred, &gt, 1.0);
        assert_eq!(pairs.len(), 2);
        assert_eq!((pairs[0].gt, pairs[1].gt), (0, 1));
    }

    #[test]
    fn minimum_distance_among_maximal_matchings() {
        let pred = [(0.0, 0.0), (0.5, 0.0)];
        let gt = [(0.25, 0.0), (0.75, 0.0)];
        let pairs = pair_points(&pred, &gt, 1.0);
        let total: f64 = pairs.iter().map(|p| p.distance).sum();
        assert!((total - 0.5).abs() < 1e-12, "{pairs:?}");
    }

    #[test]
    fn gate_is_inclusive_and_out_of_gate_pairs_are_never_made() {
        let pred = [(0.0, 0.0), (5.0, 5.0)];
        let gt = [(0.0, 0.5), (9.0, 9.0)];
        let pairs = pair_points(&pred, &gt, 0.5);
        assert_eq!(pairs, vec![Pair { pred: 0, gt: 0, distance: 0.5 }]);
        assert!(pair_points(&pred, &[], 0.5).is_empty());
    }

    #[test]
    fn tables_pair_within_frames_only() {
        let mut p = Localizations::new();
        p.push(0, 0.0, 0.0, 1.0);
        p.push(1, 1.0, 1.0, 1.0);
        let mut g = Localizations::new();
        g.push(1, 0.0, 0.0, 1.0); // same place as p[0] but another frame
        g.push(1, 1.1, 1.0, 1.0);
        let pairs = pair_tables(&p, &g, 0.5);
        assert_eq!(pairs.len(), 1);
        assert_eq!((pairs[0].pred, pairs[0].gt), (1, 1));
    }
}
