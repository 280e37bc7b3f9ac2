//! The bench's results: JSON (serde) and markdown tables.

use std::fmt::Write as _;

use serde::Serialize;
use ulm_clutter::BlockReport;
use ulm_eval::coco::CocoStats;
use ulm_eval::dice::DiceScore;
use ulm_eval::metrics::Report;

use crate::{BenchConfig, MethodName};

/// Everything the bench measured.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    /// What ran.
    pub config: BenchConfig,
    /// One entry per preset, in the config's order.
    pub presets: Vec<PresetResult>,
}

/// The results on one preset.
#[derive(Debug, Clone, Serialize)]
pub struct PresetResult {
    /// The preset's name.
    pub preset: String,
    /// Frames.
    pub frames: usize,
    /// Rows (depth pixels).
    pub rows: usize,
    /// Columns (lateral pixels).
    pub cols: usize,
    /// Wavelength, mm (the unit of the gate and of RMSE in λ).
    pub wavelength_mm: f64,
    /// Ground-truth bubbles over all frames.
    pub n_gt: usize,
    /// Whether the frames were SVD-filtered (presets with tissue clutter).
    pub svd_filtered: bool,
    /// The SVD filter's report per block, when filtered.
    pub svd: Option<Vec<BlockReport>>,
    /// One entry per method, in the order given.
    pub methods: Vec<MethodResult>,
}

/// One method on one preset.
#[derive(Debug, Clone, Serialize)]
pub struct MethodResult {
    /// The method.
    pub method: MethodName,
    /// Why it did not run (e.g. no model folder); `None` when it ran.
    pub skipped: Option<String>,
    /// Its settings (classical config, or the model folder and inference settings).
    pub settings: Option<serde_json::Value>,
    /// Its scores, when it ran.
    pub scores: Option<MethodScores>,
}

/// The scores of one method on one preset.
#[derive(Debug, Clone, Serialize)]
pub struct MethodScores {
    /// Localizations found.
    pub n_localizations: usize,
    /// Precision, recall, F1, Jaccard, RMSE overall and per depth band (`ulm eval`'s report).
    pub eval: Report,
    /// COCO box AP/AR (one image per frame).
    pub coco: CocoStats,
    /// Dice of the Gaussian localization maps (`value > 0`) against the ground truth's.
    pub dice_gaussian: DiceScore,
    /// Dice of the track-density maps (`value > 0`) against the true trajectories'.
    pub dice_tracks: DiceScore,
    /// Tracks linked from the localizations.
    pub n_tracks: usize,
    /// Wall time of the localization stage alone, s.
    pub localize_seconds: f64,
    /// Frames per second of the localization stage.
    pub frames_per_s: f64,
}

fn num(v: Option<f64>, digits: usize) -> String {
    match v {
        Some(x) if x.is_finite() => format!("{x:.digits$}"),
        _ => "–".into(),
    }
}

fn coco_num(v: f64) -> String {
    if v < 0.0 { "–".into() } else { format!("{v:.3}") }
}

impl BenchReport {
    /// The tables as markdown: one per preset, a row per method; skipped methods listed
    /// below their table with the reason.
    pub fn to_markdown(&self) -> String {
        let c = &self.config;
        let mut s = String::from("# ulm bench\n\n");
        let _ = writeln!(
            s,
            "Seed {}, {} frames per preset; pairing gate {} λ; maps on a {} λ grid (Gaussian σ {} px; tracks as \
             `ulm track` links them, min. length {}); Dice of `value > 0` masks; COCO boxes 2 × PSF FWHM; \
             throughput = frames/s of the localization stage alone.\n",
            c.seed, c.frames, c.gate_wavelengths, c.map_pixel_wavelengths, c.sigma_px, c.track_min_length
        );
        if let Some(t) = &c.temporal_support {
            let _ = writeln!(
                s,
                "Temporal support on every method: a localization is kept only with another within {} λ + {} mm/s × Δt \
                 in {} of the {} frames on either side.\n",
                t.tolerance_wavelengths, t.max_speed_mm_s, t.min_frames, t.frames
            );
        }
        for p in &self.presets {
            let filt = if p.svd_filtered { ", SVD-filtered" } else { "" };
            let _ = writeln!(
                s,
                "## {} ({} frames of {} × {}{filt}; {} ground-truth bubbles, {:.1} per frame)\n",
                p.preset,
                p.frames,
                p.rows,
                p.cols,
                p.n_gt,
                p.n_gt as f64 / p.frames.max(1) as f64
            );
            s.push_str(
                "| method | precision | recall | F1 | Jaccard | RMSE (λ) | AP | AP50 | AR100 | Dice (Gaussian) | Dice \
                 (tracks) | frames/s |\n",
            );
            s.push_str("|---|---|---|---|---|---|---|---|---|---|---|---|\n");
            for m in &p.methods {
                let Some(r) = &m.scores else { continue };
                let o = &r.eval.overall;
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.3} | {:.3} | {} |",
                    m.method,
                    num(o.precision, 3),
                    num(o.recall, 3),
                    num(o.f1, 3),
                    num(o.jaccard, 3),
                    num(o.rmse_wavelengths, 3),
                    coco_num(r.coco.ap),
                    coco_num(r.coco.ap50),
                    coco_num(r.coco.ar100),
                    r.dice_gaussian.dice,
                    r.dice_tracks.dice,
                    throughput(r.frames_per_s),
                );
            }
            let skipped: Vec<&MethodResult> = p.methods.iter().filter(|m| m.skipped.is_some()).collect();
            if !skipped.is_empty() {
                s.push_str("\nSkipped:\n");
                for m in skipped {
                    let _ = writeln!(s, "- {}: {}", m.method, m.skipped.as_deref().unwrap_or_default());
                }
            }
            s.push('\n');
        }
        s
    }
}

fn throughput(fps: f64) -> String {
    if fps >= 100.0 { format!("{fps:.0}") } else { format!("{fps:.2}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_formatted_and_missing_ones_dashed() {
        assert_eq!(num(Some(0.12345), 3), "0.123");
        assert_eq!(num(None, 3), "–");
        assert_eq!(num(Some(f64::NAN), 3), "–");
        assert_eq!(coco_num(-1.0), "–");
        assert_eq!(throughput(1234.4), "1234");
        assert_eq!(throughput(0.456), "0.46");
    }
}
