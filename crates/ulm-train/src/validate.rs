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
    /// COCO box AP (IoU .50:.95, 100 detections per patch) of every prediction against the
    /// samples' boxes, as `pycocotools` computes it ([`ulm_eval::coco`]); NaN (`null`) when
    /// the model predicts no box sizes.
    #[serde(default = "nan", deserialize_with = "nan_if_null")]
    pub coco_ap: f64,
    /// COCO AP at IoU .50.
    #[serde(default = "nan", deserialize_with = "nan_if_null")]
    pub coco_ap50: f64,
    /// COCO AP at IoU .75.
    #[serde(default = "nan", deserialize_with = "nan_if_null")]
    pub coco_ap75: f64,
    /// COCO AR with 100 detections per patch.
    #[serde(default = "nan", deserialize_with = "nan_if_null")]
    pub coco_ar100: f64,
}

fn nan() -> f64 {
    f64::NAN
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
        let s = ValidationScores {
            threshold: t,
            precision,
            recall,
            f1,
            rmse_wavelengths: rmse,
            n_truth,
            coco_ap: f64::NAN,
            coco_ap50: f64::NAN,
            coco_ap75: f64::NAN,
            coco_ar100: f64::NAN,
        };
        if best.is_none_or(|b| s.f1 > b.f1) {
            best = Some(s);
        }
    }
    best.expect("at least one candidate")
}

/// COCO box statistics of `predictions` (all of them, ranked by score) against the boxes
/// of `samples`, in pixels of each sample (image id = sample index). `None` when a
/// prediction has no box size.
///
/// # Errors
/// A non-finite box (from [`ulm_eval::coco::evaluate_bbox`]).
pub fn coco_stats(
    predictions: &[Vec<ScoredPoint>],
    samples: &[(ulm_core::Geometry, usize, usize, Vec<[f32; 4]>)],
) -> Result<Option<ulm_eval::coco::CocoStats>, ulm_eval::coco::CocoError> {
    use ulm_eval::coco::{CocoDet, CocoGt, evaluate_bbox};
    let mut gts = Vec::new();
    let mut dets = Vec::new();
    for (i, (pred, (g, width, height, boxes))) in predictions.iter().zip(samples).enumerate() {
        let (w, h) = (*width as f64, *height as f64);
        for b in boxes {
            let (bw, bh) = (f64::from(b[2]) * w, f64::from(b[3]) * h);
            let bbox = [f64::from(b[0]) * w - bw / 2.0, f64::from(b[1]) * h - bh / 2.0, bw, bh];
            gts.push(CocoGt::new(i as u64, 1, bbox));
        }
        for p in pred {
            let Some((w_mm, h_mm)) = p.size_mm else { return Ok(None) };
            // Pixel centres are at integer (col, row); box fractions count edges from 0.
            let (col, row) = g.mm_to_px(p.x_mm, p.z_mm);
            let (bw, bh) = (w_mm / g.pixel_size_x_mm, h_mm / g.pixel_size_z_mm);
            let bbox = [col + 0.5 - bw / 2.0, row + 0.5 - bh / 2.0, bw, bh];
            dets.push(CocoDet { image_id: i as u64, category_id: 1, bbox, score: f64::from(p.score) });
        }
    }
    let images: Vec<u64> = (0..samples.len() as u64).collect();
    evaluate_bbox(&images, &[1], &gts, &dets).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coco_in_validation_by_hand() {
        // One 4 × 4 px box centred on pixel (10, 20) of a 0.1 mm grid; the detection is the
        // same box moved 1.2 px laterally: IoU = (2.8 · 4) / (32 − 2.8 · 4) = 0.538, a match at
        // IoU .50 only. One detection, one truth: AP50 = 1, AP75 = 0, AP = 1/10 (ten thresholds).
        let g = ulm_core::Geometry::new(0.1, 0.1, 0.0, 0.0, 0.2, 100.0).unwrap();
        let (w, h) = (32usize, 40usize);
        let b = [10.5 / w as f32, 20.5 / h as f32, 4.0 / w as f32, 4.0 / h as f32];
        let samples = vec![(g, w, h, vec![b])];
        let (x, z) = g.px_to_mm(11.2, 20.0);
        let det = ScoredPoint { x_mm: x, z_mm: z, score: 0.9, size_mm: Some((0.4, 0.4)) };
        let s = coco_stats(&[vec![det]], &samples).unwrap().unwrap();
        assert!((s.ap50 - 1.0).abs() < 1e-12 && s.ap75 == 0.0 && (s.ap - 0.1).abs() < 1e-12, "{s:?}");
        // On the box exactly: AP 1. Without a size: no COCO figures.
        let (x, z) = g.px_to_mm(10.0, 20.0);
        let exact = ScoredPoint { x_mm: x, z_mm: z, score: 0.9, size_mm: Some((0.4, 0.4)) };
        assert!((coco_stats(&[vec![exact]], &samples).unwrap().unwrap().ap - 1.0).abs() < 1e-12);
        assert!(coco_stats(&[vec![ScoredPoint::new(x, z, 0.9)]], &samples).unwrap().is_none());
    }

    #[test]
    fn calibration_by_hand() {
        // Truth: two points. Detections: one on a point (0.9), a false one (0.6), the
        // other point 0.1 mm off (0.3). Gate 0.2 mm.
        let p = ScoredPoint::new;
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
