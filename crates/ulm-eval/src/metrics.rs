//! Localization metrics: TP/FP/FN, precision, recall, F1, Jaccard and RMSE of the paired
//! positions, overall and per depth band.
//!
//! Pairing follows [`crate::pairing`] (maximum number of pairs within the gate, then
//! minimum total distance). Depth bands split `[z_min, z_max]` into equal parts; a true
//! positive and a false negative count in the band of the ground-truth point, a false
//! positive in the band of the prediction.
//!
//! ```
//! use ulm_core::Localizations;
//! use ulm_eval::metrics::{EvalConfig, evaluate};
//! let mut gt = Localizations::new();
//! gt.push(0, 0.0, 5.0, 1.0);
//! gt.push(0, 1.0, 6.0, 1.0);
//! let mut pred = Localizations::new();
//! pred.push(0, 0.01, 5.0, 0.9); // paired, 10 µm off
//! pred.push(0, 3.0, 6.0, 0.5); // false positive
//! let cfg = EvalConfig { gate_mm: 0.05, wavelength_mm: 0.1, n_bands: 1, depth_range_mm: None };
//! let r = evaluate(&pred, &gt, &cfg).unwrap();
//! assert_eq!((r.overall.tp, r.overall.fp, r.overall.fn_), (1, 1, 1));
//! assert!((r.overall.rmse_mm.unwrap() - 0.01).abs() < 1e-12);
//! ```

use serde::Serialize;
use ulm_core::Localizations;

use crate::pairing::{Pair, pair_tables};

/// Errors of the metric computation.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// A configuration value is out of range.
    #[error("invalid evaluation setting: {0}")]
    Config(String),
    /// A localization table is inconsistent.
    #[error("invalid localization table ({which}): {source}")]
    Table {
        /// `predictions` or `ground truth`.
        which: &'static str,
        /// What is wrong.
        source: ulm_core::Error,
    },
}

/// Evaluation settings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvalConfig {
    /// Pairing gate in mm (the paper uses λ/2, PALA λ/4).
    pub gate_mm: f64,
    /// Wavelength in mm, to express RMSE in wavelengths.
    pub wavelength_mm: f64,
    /// Number of equal depth bands (3 like the paper's Fig. 4).
    pub n_bands: usize,
    /// Depth range split into bands; `None`: the range of the ground truth.
    pub depth_range_mm: Option<(f64, f64)>,
}

impl EvalConfig {
    /// A gate of `gate_wavelengths · λ`, three bands, depth range from the ground truth.
    pub fn with_gate_wavelengths(wavelength_mm: f64, gate_wavelengths: f64) -> Self {
        Self { gate_mm: gate_wavelengths * wavelength_mm, wavelength_mm, n_bands: 3, depth_range_mm: None }
    }

    fn validate(&self) -> Result<(), MetricsError> {
        if !(self.gate_mm.is_finite() && self.gate_mm > 0.0) {
            return Err(MetricsError::Config(format!("gate must be > 0 mm, got {}", self.gate_mm)));
        }
        if !(self.wavelength_mm.is_finite() && self.wavelength_mm > 0.0) {
            return Err(MetricsError::Config(format!("wavelength must be > 0 mm, got {}", self.wavelength_mm)));
        }
        if self.n_bands == 0 {
            return Err(MetricsError::Config("the number of depth bands must be >= 1".into()));
        }
        if let Some((a, b)) = self.depth_range_mm
            && !(a.is_finite() && b.is_finite() && b > a)
        {
            return Err(MetricsError::Config(format!("depth range must satisfy z_min < z_max, got [{a}, {b}]")));
        }
        Ok(())
    }
}

/// Detection counts and scores. Ratios are `None` when their denominator is zero.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scores {
    /// Paired predictions.
    pub tp: usize,
    /// Unpaired predictions.
    pub fp: usize,
    /// Unpaired ground-truth points.
    #[serde(rename = "fn")]
    pub fn_: usize,
    /// TP / (TP + FP).
    pub precision: Option<f64>,
    /// TP / (TP + FN).
    pub recall: Option<f64>,
    /// 2 TP / (2 TP + FP + FN).
    pub f1: Option<f64>,
    /// TP / (TP + FP + FN).
    pub jaccard: Option<f64>,
    /// Root mean square distance of the pairs, mm.
    pub rmse_mm: Option<f64>,
    /// The same in wavelengths.
    pub rmse_wavelengths: Option<f64>,
    /// RMS lateral error of the pairs, mm.
    pub rmse_x_mm: Option<f64>,
    /// RMS axial error of the pairs, mm.
    pub rmse_z_mm: Option<f64>,
}

#[derive(Default, Clone, Copy)]
struct Acc {
    tp: usize,
    fp: usize,
    fn_: usize,
    sx: f64,
    sz: f64,
}

impl Acc {
    fn scores(&self, wavelength_mm: f64) -> Scores {
        let ratio = |a: usize, b: usize| (b > 0).then(|| a as f64 / b as f64);
        let tp = self.tp;
        let rms = |s: f64| (tp > 0).then(|| (s / tp as f64).sqrt());
        let rmse_mm = rms(self.sx + self.sz);
        Scores {
            tp,
            fp: self.fp,
            fn_: self.fn_,
            precision: ratio(tp, tp + self.fp),
            recall: ratio(tp, tp + self.fn_),
            f1: ratio(2 * tp, 2 * tp + self.fp + self.fn_),
            jaccard: ratio(tp, tp + self.fp + self.fn_),
            rmse_mm,
            rmse_wavelengths: rmse_mm.map(|r| r / wavelength_mm),
            rmse_x_mm: rms(self.sx),
            rmse_z_mm: rms(self.sz),
        }
    }
}

/// Scores of one depth band.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BandScores {
    /// Top of the band, mm.
    pub z_min_mm: f64,
    /// Bottom of the band, mm.
    pub z_max_mm: f64,
    /// Scores within the band.
    #[serde(flatten)]
    pub scores: Scores,
}

/// The result of [`evaluate`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Settings used.
    pub config: EvalConfig,
    /// Number of predictions.
    pub n_pred: usize,
    /// Number of ground-truth points.
    pub n_gt: usize,
    /// Frames covered (highest frame index + 1 of either table).
    pub n_frames: usize,
    /// Scores over everything.
    pub overall: Scores,
    /// Scores per depth band, shallowest first.
    pub bands: Vec<BandScores>,
}

/// Pairs `pred` with `gt` frame by frame and computes the scores.
pub fn evaluate(pred: &Localizations, gt: &Localizations, cfg: &EvalConfig) -> Result<Report, MetricsError> {
    cfg.validate()?;
    pred.validate().map_err(|source| MetricsError::Table { which: "predictions", source })?;
    gt.validate().map_err(|source| MetricsError::Table { which: "ground truth", source })?;
    let pairs: Vec<Pair> = pair_tables(pred, gt, cfg.gate_mm);

    let (z_lo, z_hi) = cfg.depth_range_mm.unwrap_or_else(|| {
        let lo = gt.z_mm.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = gt.z_mm.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        if lo.is_finite() && hi > lo { (lo, hi) } else { (lo.min(0.0), lo.max(0.0) + 1.0) }
    });
    let nb = cfg.n_bands;
    let band_of = |z: f64| -> usize {
        let t = (z - z_lo) / (z_hi - z_lo) * nb as f64;
        if t.is_nan() { 0 } else { (t.floor().max(0.0) as usize).min(nb - 1) }
    };

    let mut overall = Acc::default();
    let mut bands = vec![Acc::default(); nb];
    let mut pred_paired = vec![false; pred.len()];
    let mut gt_paired = vec![false; gt.len()];
    for p in &pairs {
        pred_paired[p.pred] = true;
        gt_paired[p.gt] = true;
        let dx = pred.x_mm[p.pred] - gt.x_mm[p.gt];
        let dz = pred.z_mm[p.pred] - gt.z_mm[p.gt];
        for acc in [&mut overall, &mut bands[band_of(gt.z_mm[p.gt])]] {
            acc.tp += 1;
            acc.sx += dx * dx;
            acc.sz += dz * dz;
        }
    }
    for (i, _) in pred_paired.iter().enumerate().filter(|(_, p)| !**p) {
        overall.fp += 1;
        bands[band_of(pred.z_mm[i])].fp += 1;
    }
    for (j, _) in gt_paired.iter().enumerate().filter(|(_, p)| !**p) {
        overall.fn_ += 1;
        bands[band_of(gt.z_mm[j])].fn_ += 1;
    }
    let step = (z_hi - z_lo) / nb as f64;
    Ok(Report {
        config: cfg.clone(),
        n_pred: pred.len(),
        n_gt: gt.len(),
        n_frames: pred.n_frames().max(gt.n_frames()),
        overall: overall.scores(cfg.wavelength_mm),
        bands: bands
            .iter()
            .enumerate()
            .map(|(b, acc)| BandScores {
                z_min_mm: z_lo + b as f64 * step,
                z_max_mm: z_lo + (b + 1) as f64 * step,
                scores: acc.scores(cfg.wavelength_mm),
            })
            .collect(),
    })
}

impl Report {
    /// A human-readable table (one row overall, one per depth band).
    pub fn to_table(&self) -> String {
        use std::fmt::Write;
        let f = |v: Option<f64>, d: usize| v.map_or_else(|| "-".to_string(), |v| format!("{v:.d$}"));
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{} predictions, {} ground truth, {} frames; gate {:.4} mm ({:.3} λ)",
            self.n_pred,
            self.n_gt,
            self.n_frames,
            self.config.gate_mm,
            self.config.gate_mm / self.config.wavelength_mm
        );
        let _ = writeln!(
            s,
            "{:<18} {:>8} {:>8} {:>8} {:>9} {:>7} {:>7} {:>8} {:>10} {:>9}",
            "depth (mm)", "TP", "FP", "FN", "precision", "recall", "F1", "Jaccard", "RMSE (mm)", "RMSE (λ)"
        );
        let mut row = |label: String, sc: &Scores| {
            let _ = writeln!(
                s,
                "{:<18} {:>8} {:>8} {:>8} {:>9} {:>7} {:>7} {:>8} {:>10} {:>9}",
                label,
                sc.tp,
                sc.fp,
                sc.fn_,
                f(sc.precision, 3),
                f(sc.recall, 3),
                f(sc.f1, 3),
                f(sc.jaccard, 3),
                f(sc.rmse_mm, 5),
                f(sc.rmse_wavelengths, 4)
            );
        };
        row("all".into(), &self.overall);
        for b in &self.bands {
            row(format!("{:.2}–{:.2}", b.z_min_mm, b.z_max_mm), &b.scores);
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(rows: &[(u32, f64, f64)]) -> Localizations {
        let mut l = Localizations::new();
        for &(f, x, z) in rows {
            l.push(f, x, z, 1.0);
        }
        l
    }

    #[test]
    fn counts_scores_and_rmse_by_hand() {
        // Frame 0: two GT, preds 0.03 mm lateral and 0.04 mm axial off, plus one far FP.
        // Frame 1: one GT missed.
        let gt = table(&[(0, 0.0, 1.0), (0, 1.0, 2.0), (1, 0.5, 3.0)]);
        let pred = table(&[(0, 0.03, 1.0), (0, 1.0, 2.04), (0, 5.0, 2.5)]);
        let cfg = EvalConfig { gate_mm: 0.05, wavelength_mm: 0.1, n_bands: 2, depth_range_mm: Some((1.0, 3.0)) };
        let r = evaluate(&pred, &gt, &cfg).unwrap();
        let o = &r.overall;
        assert_eq!((o.tp, o.fp, o.fn_), (2, 1, 1));
        assert!((o.precision.unwrap() - 2.0 / 3.0).abs() < 1e-12);
        assert!((o.recall.unwrap() - 2.0 / 3.0).abs() < 1e-12);
        assert!((o.f1.unwrap() - 2.0 / 3.0).abs() < 1e-12);
        assert!((o.jaccard.unwrap() - 0.5).abs() < 1e-12);
        let rmse = ((0.03f64.powi(2) + 0.04f64.powi(2)) / 2.0).sqrt();
        assert!((o.rmse_mm.unwrap() - rmse).abs() < 1e-12);
        assert!((o.rmse_wavelengths.unwrap() - rmse / 0.1).abs() < 1e-12);
        assert!((o.rmse_x_mm.unwrap() - (0.03f64.powi(2) / 2.0).sqrt()).abs() < 1e-12);
        // Bands [1, 2) and [2, 3]: TP at z=1 → band 0, TP at z=2 → band 1, FP at z=2.5 → 1,
        // FN at z=3 → band 1 (bottom edge belongs to the last band).
        assert_eq!((r.bands[0].scores.tp, r.bands[0].scores.fp, r.bands[0].scores.fn_), (1, 0, 0));
        assert_eq!((r.bands[1].scores.tp, r.bands[1].scores.fp, r.bands[1].scores.fn_), (1, 1, 1));
        assert_eq!(r.bands[0].scores.precision, Some(1.0));
        assert!(r.to_table().contains("all"));
    }

    #[test]
    fn empty_inputs_give_undefined_ratios_not_nan() {
        let r = evaluate(&Localizations::new(), &table(&[(0, 0.0, 1.0)]), &EvalConfig::with_gate_wavelengths(0.1, 0.5))
            .unwrap();
        assert_eq!((r.overall.tp, r.overall.fp, r.overall.fn_), (0, 0, 1));
        assert_eq!(r.overall.precision, None);
        assert_eq!(r.overall.recall, Some(0.0));
        assert_eq!(r.overall.rmse_mm, None);
        let json = serde_json::to_string(&r).unwrap();
        assert!(json.contains("\"precision\":null"), "{json}");
    }

    #[test]
    fn bad_config_rejected() {
        let l = Localizations::new();
        let mut cfg = EvalConfig::with_gate_wavelengths(0.1, 0.5);
        cfg.gate_mm = 0.0;
        assert!(matches!(evaluate(&l, &l, &cfg), Err(MetricsError::Config(_))));
        cfg.gate_mm = 0.05;
        cfg.n_bands = 0;
        assert!(evaluate(&l, &l, &cfg).is_err());
    }
}
