//! Validation at the λ/2 gate: precision, recall, F1, RMSE with `ulm-eval`'s pairing, and
//! the score threshold that maximises F1.

use serde::{Deserialize, Serialize};
use ulm_eval::pairing::pair_points;

use crate::task::ScoredPoint;

/// Scores of one validation pass at its calibrated threshold.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ValidationScores {
    /// Score threshold that maximises F1 (detections with `score >= threshold` count).
    pub threshold: f32,
    /// Precision at that threshold.
    pub precision: f64,
    /// Recall at that threshold.
    pub recall: f64,
    /// F1 at that threshold.
    pub f1: f64,
    /// Root-mean-square distance of the matched pairs, in wavelengths (NaN without pairs;
    /// written as `null` in JSON).
    #[serde(deserialize_with = "nan_if_null")]
    pub rmse_wavelengths: f64,
    /// Ground-truth points.
    pub n_truth: usize,
}

fn nan_if_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

/// Candidate thresholds: 0.01, 0.02, …, 0.99.
fn candidates() -> Vec<f32> {
    (1..100).map(|i| i as f32 / 100.0).collect()
}

/// Scores at each candidate threshold; the best F1 wins (the lowest threshold on ties).
///
/// `predictions[i]` and `truth[i]` are the detections and true centres (mm) of sample
/// `i`; `gate_mm` is the pairing gate and `wavelength_mm` converts the RMSE.
pub fn calibrate(
    predictions: &[Vec<ScoredPoint>],
    truth: &[Vec<(f64, f64)>],
    gate_mm: f64,
    wavelength_mm: f64,
) -> ValidationScores {
    let n_truth: usize = truth.iter().map(Vec::len).sum();
    let mut best: Option<ValidationScores> = None;
    for t in candidates() {
        let (mut tp, mut np, mut sq) = (0usize, 0usize, 0.0f64);
        for (pred, gt) in predictions.iter().zip(truth) {
            let kept: Vec<(f64, f64)> = pred.iter().filter(|p| p.score >= t).map(|p| (p.x_mm, p.z_mm)).collect();
            np += kept.len();
            let pairs = pair_points(&kept, gt, gate_mm);
            tp += pairs.len();
            sq += pairs.iter().map(|p| p.distance * p.distance).sum::<f64>();
        }
        let precision = if np > 0 { tp as f64 / np as f64 } else { 0.0 };
        let recall = if n_truth > 0 { tp as f64 / n_truth as f64 } else { 0.0 };
        let f1 = if tp > 0 { 2.0 * precision * recall / (precision + recall) } else { 0.0 };
        let rmse = if tp > 0 { (sq / tp as f64).sqrt() / wavelength_mm } else { f64::NAN };
        let s = ValidationScores { threshold: t, precision, recall, f1, rmse_wavelengths: rmse, n_truth };
        if best.is_none_or(|b| s.f1 > b.f1) {
            best = Some(s);
        }
    }
    best.expect("at least one candidate")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calibration_by_hand() {
        // Truth: two points. Detections: one on a point (0.9), a false one (0.6), the
        // other point 0.1 mm off (0.3). Gate 0.2 mm.
        let p = |x, z, score| ScoredPoint { x_mm: x, z_mm: z, score };
        let pred = vec![vec![p(0.0, 0.0, 0.9), p(5.0, 5.0, 0.6), p(1.1, 1.0, 0.3)]];
        let truth = vec![vec![(0.0, 0.0), (1.0, 1.0)]];
        let s = calibrate(&pred, &truth, 0.2, 0.1);
        // t ≤ 0.3: P 2/3, R 1, F1 0.8; 0.3 < t ≤ 0.6: P 1/2, R 1/2; t > 0.6: P 1, R 1/2, F1 2/3.
        assert!((s.f1 - 0.8).abs() < 1e-12, "{s:?}");
        assert_eq!(s.threshold, 0.01);
        assert!((s.precision - 2.0 / 3.0).abs() < 1e-12 && (s.recall - 1.0).abs() < 1e-12);
        // RMSE: sqrt((0 + 0.1²)/2) mm = 0.0707 mm = 0.707 λ at λ = 0.1 mm.
        assert!((s.rmse_wavelengths - (0.005f64).sqrt() / 0.1).abs() < 1e-9);
        assert_eq!(s.n_truth, 2);
        // NaN (no pairs) goes through JSON as null and back.
        let none = calibrate(&[vec![]], &truth, 0.2, 0.1);
        let back: ValidationScores = serde_json::from_str(&serde_json::to_string(&none).unwrap()).unwrap();
        assert!(back.rmse_wavelengths.is_nan() && back.f1 == 0.0);
    }
}
