//! The bench: simulate each preset, localize with each method, score against the ground
//! truth. Every stage is the library call the CLI's subcommands make, with their
//! defaults, so a row of the bench equals `ulm simulate` → (`ulm filter`) → `ulm
//! localize` → `ulm eval`, `ulm track`, `ulm render`, `ulm eval --map` on the same seed.

use std::path::PathBuf;
use std::time::Instant;

use ndarray::Array2;
use serde::Serialize;
use ulm_clutter::{BlockReport, SvdConfig};
use ulm_core::{
    FrameStack, Geometry, InMemorySource, Localizations, Localizer, NoProgress, Progress, TrackPoint, Tracks,
};
use ulm_data::BoxSize;
use ulm_eval::coco::{CocoDet, CocoGt, CocoStats, evaluate_bbox};
use ulm_eval::dice::{Binarize, DiceScore, dice_maps};
use ulm_eval::metrics::{EvalConfig, evaluate};
use ulm_localize::TemporalSupport;
use ulm_render::MapGrid;
use ulm_sim::{Preset, SimConfig};
use ulm_track::{LinkConfig, PredictorKind, link_with};

use crate::report::{BenchReport, MethodResult, MethodScores, PresetResult};
use crate::{BenchError, MethodError, MethodName, methods};

/// Makes one progress reporter per stage, given its label (`simulating dense`, `dense ·
/// radial`); the CLI draws one bar per method.
pub type ProgressFactory<'a> = dyn Fn(&str) -> Box<dyn Progress> + 'a;

/// What the bench runs. Defaults ([`BenchConfig::new`]) are those of the CLI's stages.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BenchConfig {
    /// Simulation presets, each a table.
    pub presets: Vec<Preset>,
    /// Frames simulated per preset.
    pub frames: usize,
    /// Simulation seed (the same for every preset) — see the crate docs on seeds.
    pub seed: u64,
    /// `(rows, cols)` instead of the preset's grid (bubble count and vessel trees scaled
    /// by area, [`SimConfig::small`]); `None`: the preset's (256 × 208 for most).
    pub grid: Option<(usize, usize)>,
    /// Pairing gate in wavelengths (the paper's λ/2; `ulm eval --gate-wavelengths`).
    pub gate_wavelengths: f64,
    /// Depth bands of the localization metrics (`ulm eval --bands`).
    pub bands: usize,
    /// Map pixel in wavelengths (`ulm render`'s λ/10).
    pub map_pixel_wavelengths: f64,
    /// σ of the Gaussian per localization, map pixels (`ulm render --sigma-px`).
    pub sigma_px: f64,
    /// Track interpolation step, map pixels (`ulm render --step-px`).
    pub track_step_px: f64,
    /// Shortest predicted track kept (`ulm track --min-length`).
    pub track_min_length: usize,
    /// The SVD filter of presets with tissue clutter (`ulm filter`'s defaults: cut-off
    /// from the singular-value curve's elbow, blocks of 1000 frames).
    pub svd: SvdConfig,
    /// The temporal-support filter applied to every method's localizations before
    /// scoring (`ulm localize --temporal-support`); `None`: per-frame localizations as
    /// they come.
    pub temporal_support: Option<TemporalSupport>,
}

impl BenchConfig {
    /// The default seed: outside the training (1000…) and validation (9000…) seeds.
    pub const DEFAULT_SEED: u64 = 20_000;

    /// `frames` frames of each of `presets`, everything else at the CLI's defaults.
    pub fn new(presets: Vec<Preset>, frames: usize) -> Self {
        Self {
            presets,
            frames,
            seed: Self::DEFAULT_SEED,
            grid: None,
            gate_wavelengths: 0.5,
            bands: 3,
            map_pixel_wavelengths: 0.1,
            sigma_px: 1.0,
            track_step_px: 0.5,
            track_min_length: 3,
            svd: SvdConfig::default(),
            temporal_support: None,
        }
    }

    fn validate(&self) -> Result<(), BenchError> {
        let bad = |m: String| Err(BenchError::Config(m));
        if self.presets.is_empty() {
            return bad("no preset given".into());
        }
        if let Some(t) = &self.temporal_support {
            t.validate().map_err(|e| BenchError::Config(e.to_string()))?;
        }
        if self.frames < 2 {
            return bad(format!("frames must be at least 2 (tracks need two frames), got {}", self.frames));
        }
        for (name, v) in [
            ("gate_wavelengths", self.gate_wavelengths),
            ("map_pixel_wavelengths", self.map_pixel_wavelengths),
            ("sigma_px", self.sigma_px),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return bad(format!("{name} must be > 0, got {v}"));
            }
        }
        Ok(())
    }

    /// The simulation of `preset` under this config.
    pub fn sim_config(&self, preset: Preset) -> SimConfig {
        match self.grid {
            Some((rows, cols)) => SimConfig::small(preset, rows, cols),
            None => SimConfig::preset(preset),
        }
    }

    /// The linking of `ulm track` (its defaults) for geometry `g`.
    pub fn link_config(&self, g: &Geometry) -> LinkConfig {
        LinkConfig {
            search_range_mm: g.wavelength_mm,
            memory: 0,
            min_length: self.track_min_length,
            max_speed_ratio: Some(3.0),
            min_rejectable_step_mm: g.wavelength_mm / 4.0,
            ..LinkConfig::new(g.wavelength_mm, g.frame_rate_hz)
        }
    }
}

/// A method ready to run, or skipped with the reason.
pub struct Prepared {
    /// The method.
    pub method: MethodName,
    /// Its localizer and settings, or why it is skipped.
    pub state: Result<(Box<dyn Localizer>, serde_json::Value), String>,
}

impl Prepared {
    /// A classical method with `ulm localize`'s defaults.
    ///
    /// # Panics
    /// If `method` is learned (use [`Prepared::new`]).
    pub fn classical(method: MethodName) -> Self {
        let (loc, cfg) = methods::classical_localizer(method).expect("a classical method");
        Self { method, state: Ok((Box::new(loc), cfg)) }
    }

    /// `method`, a learned one loaded from the folder `weights` returns. When `weights`
    /// finds no folder ([`MethodError::NoShippedModel`]) the method is skipped with that
    /// reason; a folder that exists but does not load is an error.
    ///
    /// # Errors
    /// A model folder that cannot be loaded.
    pub fn new(
        method: MethodName,
        weights: impl FnOnce() -> Result<PathBuf, BenchError>,
        score_threshold: Option<f32>,
    ) -> Result<Self, BenchError> {
        if !method.is_learned() {
            return Ok(Self::classical(method));
        }
        let dir = match weights() {
            Ok(d) => d,
            Err(e @ BenchError::Method(MethodError::NoShippedModel { .. })) => {
                return Ok(Self { method, state: Err(e.to_string()) });
            }
            Err(e) => return Err(e),
        };
        if !dir.is_dir() {
            return Ok(Self { method, state: Err(format!("no model folder {}", dir.display())) });
        }
        let loaded = methods::load_learned(method, &dir, score_threshold)?;
        Ok(Self { method, state: Ok(loaded) })
    }
}

/// One preset's data: the frames the localizers see and the ground truth with its maps.
struct PresetData {
    preset: Preset,
    config: SimConfig,
    /// Envelope frames (after the SVD filter where there is tissue).
    envelope: FrameStack,
    truth: Localizations,
    grid: MapGrid,
    gt_gaussian: Array2<f32>,
    gt_tracks: Array2<f32>,
    svd: Option<Vec<BlockReport>>,
}

/// Runs every prepared method on every preset of `cfg`.
///
/// # Errors
/// An invalid config, or a stage that fails (simulation, filter, metrics: the error names
/// the preset and method).
pub fn run_bench(
    cfg: &BenchConfig,
    methods: &[Prepared],
    progress: &ProgressFactory<'_>,
) -> Result<BenchReport, BenchError> {
    cfg.validate()?;
    if methods.is_empty() {
        return Err(BenchError::Config("no localization method given".into()));
    }
    let mut presets = Vec::new();
    for &preset in &cfg.presets {
        let data = prepare(cfg, preset, progress)?;
        let mut results = Vec::new();
        for m in methods {
            results.push(match &m.state {
                Ok((loc, settings)) => {
                    let bar = progress(&format!("{} · {}", preset.name(), m.method));
                    let scores = score(cfg, &data, m.method, loc.as_ref(), bar.as_ref())?;
                    MethodResult {
                        method: m.method,
                        skipped: None,
                        settings: Some(settings.clone()),
                        scores: Some(scores),
                    }
                }
                Err(reason) => {
                    MethodResult { method: m.method, skipped: Some(reason.clone()), settings: None, scores: None }
                }
            });
        }
        let [frames, rows, cols] = data.envelope.shape();
        presets.push(PresetResult {
            preset: preset.name().to_string(),
            frames,
            rows,
            cols,
            wavelength_mm: data.envelope.geometry().wavelength_mm,
            n_gt: data.truth.len(),
            svd_filtered: data.config.tissue.enabled,
            svd: data.svd,
            methods: results,
        });
    }
    Ok(BenchReport { config: cfg.clone(), presets })
}

/// Simulates `preset` (SVD-filtered when it has tissue) and renders the ground truth's maps.
fn prepare(cfg: &BenchConfig, preset: Preset, progress: &ProgressFactory<'_>) -> Result<PresetData, BenchError> {
    let name = preset.name();
    let config = cfg.sim_config(preset);
    let bar = progress(&format!("simulating {name}"));
    let sim = ulm_sim::simulate(&config, cfg.frames, cfg.seed, bar.as_ref())
        .map_err(|source| BenchError::Sim { preset: name, source })?;
    let (iq, svd) = if config.tissue.enabled {
        let bar = progress(&format!("SVD filter {name}"));
        let (f, reports) = ulm_clutter::svd_filter(&sim.iq, &cfg.svd, bar.as_ref())
            .map_err(|source| BenchError::Clutter { preset: name, source })?;
        (f, Some(reports))
    } else {
        (sim.iq, None)
    };
    let g = *iq.geometry();
    let envelope =
        FrameStack::from_real(iq.envelope(), g).map_err(|e| BenchError::Config(format!("envelope of {name}: {e}")))?;
    let [_, rows, cols] = envelope.shape();
    let grid = MapGrid::super_resolved(&g, rows, cols, cfg.map_pixel_wavelengths * g.wavelength_mm)
        .map_err(|e| BenchError::Config(format!("map grid: {e}")))?;
    let truth = sim.truth;
    let gt_gaussian = ulm_render::gaussian_density(&truth, &grid, cfg.sigma_px)
        .map_err(|e| BenchError::Config(format!("ground-truth map: {e}")))?;
    let gt_tracks = ulm_render::track_maps(&truth_tracks(&truth)?, &grid, cfg.track_step_px)
        .map_err(|e| BenchError::Config(format!("ground-truth track map: {e}")))?
        .density;
    Ok(PresetData { preset, config, envelope, truth, grid, gt_gaussian, gt_tracks, svd })
}

/// The true trajectories: the ground truth's rows grouped by their `track_id` column
/// (what `ulm render --tracks gt.csv` reads).
fn truth_tracks(truth: &Localizations) -> Result<Tracks, BenchError> {
    let ids = truth
        .extra("track_id")
        .and_then(|c| c.as_f64())
        .ok_or_else(|| BenchError::Config("the ground truth has no numeric track_id column".into()))?;
    let rows = (0..truth.len())
        .map(|i| {
            let p = TrackPoint {
                frame: truth.frame[i],
                x_mm: truth.x_mm[i],
                z_mm: truth.z_mm[i],
                vx_mm_s: f64::NAN,
                vz_mm_s: f64::NAN,
            };
            (ids[i] as u64, p)
        })
        .collect();
    Ok(Tracks::from_rows(rows))
}

/// Localizes `data` with `loc` (timed) and scores the result.
fn score(
    cfg: &BenchConfig,
    data: &PresetData,
    method: MethodName,
    loc: &dyn Localizer,
    progress: &dyn Progress,
) -> Result<MethodScores, BenchError> {
    let name = data.preset.name();
    let err = |e: &(dyn std::error::Error + 'static)| BenchError::Stage {
        method,
        preset: name,
        message: ulm_core::chain_message(e),
    };
    let g = *data.envelope.geometry();
    let mut source = InMemorySource::new(data.envelope.clone());
    let n_frames = data.envelope.n_frames();
    progress.set_message(&format!("{name} · {method}"));
    let start = Instant::now();
    let locs = ulm_localize::localize_source(&mut source, loc, method.block_frames(), progress).map_err(|e| err(&e))?;
    let (locs, _) = TemporalSupport::apply_optional(cfg.temporal_support.as_ref(), locs, &g).map_err(|e| err(&e))?;
    let localize_seconds = start.elapsed().as_secs_f64();

    let [_, rows, _] = data.envelope.shape();
    let half = g.pixel_size_z_mm / 2.0;
    let eval_cfg = EvalConfig {
        gate_mm: cfg.gate_wavelengths * g.wavelength_mm,
        wavelength_mm: g.wavelength_mm,
        n_bands: cfg.bands,
        depth_range_mm: Some((g.z0_mm - half, g.row_to_z_mm(rows as f64 - 1.0) + half)),
    };
    let eval = evaluate(&locs, &data.truth, &eval_cfg).map_err(|e| err(&e))?;
    let boxes = BoxSize::default_psf(data.config.imaging.clone());
    let coco = coco_stats(&locs, &data.truth, &g, &boxes, n_frames).map_err(|e| err(&e))?;
    let dice = |pred: &Array2<f32>, gt: &Array2<f32>| -> Result<DiceScore, BenchError> {
        dice_maps(pred, gt, Binarize::Positive).map_err(|e| err(&e))
    };
    let map = ulm_render::gaussian_density(&locs, &data.grid, cfg.sigma_px).map_err(|e| err(&e))?;
    let dice_gaussian = dice(&map, &data.gt_gaussian)?;
    let linked = link_with(&locs, &cfg.link_config(&g), PredictorKind::Velocity, &NoProgress).map_err(|e| err(&e))?;
    let tracks = ulm_render::track_maps(&linked.tracks, &data.grid, cfg.track_step_px).map_err(|e| err(&e))?;
    let dice_tracks = dice(&tracks.density, &data.gt_tracks)?;
    Ok(MethodScores {
        n_localizations: locs.len(),
        eval,
        coco,
        dice_gaussian,
        dice_tracks,
        n_tracks: linked.tracks.len(),
        localize_seconds,
        frames_per_s: n_frames as f64 / localize_seconds.max(1e-9),
    })
}

/// COCO box statistics with one image per frame. Ground-truth boxes are `ulm dataset`'s
/// default (2 × the simulator PSF's FWHM at the bubble's depth), centred on each bubble;
/// a prediction keeps its own box (`w_mm`, `h_mm`, the detectors') or, without one (the
/// classical methods, the U-Net), gets the same PSF box at its depth, so that AP then
/// measures position and ranking by score.
pub fn coco_stats(
    pred: &Localizations,
    truth: &Localizations,
    g: &Geometry,
    boxes: &BoxSize,
    n_frames: usize,
) -> Result<CocoStats, ulm_eval::coco::CocoError> {
    // Pixel centres are at integer (col, row); COCO boxes count edges from 0.
    let bbox = |x: f64, z: f64, w_px: f64, h_px: f64| {
        let (col, row) = g.mm_to_px(x, z);
        [col + 0.5 - w_px / 2.0, row + 0.5 - h_px / 2.0, w_px, h_px]
    };
    let gts: Vec<CocoGt> = (0..truth.len())
        .map(|i| {
            let (w, h) = boxes.size_px(truth.z_mm[i], g);
            CocoGt::new(u64::from(truth.frame[i]), 1, bbox(truth.x_mm[i], truth.z_mm[i], w, h))
        })
        .collect();
    let dets: Vec<CocoDet> = (0..pred.len())
        .map(|i| {
            let own = pred.w_mm.as_ref().zip(pred.h_mm.as_ref()).map(|(w, h)| (w[i], h[i]));
            let (w, h) = match own {
                Some((w, h)) if w.is_finite() && h.is_finite() => (w / g.pixel_size_x_mm, h / g.pixel_size_z_mm),
                _ => boxes.size_px(pred.z_mm[i], g),
            };
            let bbox = bbox(pred.x_mm[i], pred.z_mm[i], w, h);
            CocoDet { image_id: u64::from(pred.frame[i]), category_id: 1, bbox, score: f64::from(pred.score[i]) }
        })
        .collect();
    let images: Vec<u64> = (0..n_frames as u64).collect();
    evaluate_bbox(&images, &[1], &gts, &dets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coco_boxes_by_hand() {
        // 0.1 mm pixels; 4 × 2 px boxes. Ground truth: two bubbles in frame 0, one in frame 1.
        let g = Geometry::new(0.1, 0.1, 0.0, 0.0, 0.2, 1000.0).unwrap();
        let boxes = BoxSize::Pixels { w: 4.0, h: 2.0 };
        let mut truth = Localizations::new();
        truth.push(0, 1.0, 1.0, 1.0);
        truth.push(0, 3.0, 2.0, 1.0);
        truth.push(1, 2.0, 2.0, 1.0);
        // Predictions on the truth exactly: AP = AR = 1.
        let s = coco_stats(&truth, &truth, &g, &boxes, 2).unwrap();
        assert!((s.ap - 1.0).abs() < 1e-12 && (s.ar100 - 1.0).abs() < 1e-12, "{s:?}");
        // One prediction 1 px to the side of the first bubble: IoU = (3 · 2) / (16 − 6) = 0.6,
        // a match at IoU .50, .55, .60 (3 of 10 thresholds); the others exact. With its own
        // 0.4 × 0.2 mm box (= 4 × 2 px) the same.
        let mut pred = truth.clone();
        pred.x_mm[0] += 0.1;
        let s = coco_stats(&pred, &truth, &g, &boxes, 2).unwrap();
        // Recall per threshold: 1 at the first 3, 2/3 after (the shifted one ranks first on
        // equal scores, so precision is 1/… below): AR100 = (3 · 1 + 7 · 2/3) / 10.
        assert!((s.ar100 - (3.0 + 7.0 * 2.0 / 3.0) / 10.0).abs() < 1e-12, "{s:?}");
        pred.w_mm = Some(vec![0.4; 3]);
        pred.h_mm = Some(vec![0.2; 3]);
        let s2 = coco_stats(&pred, &truth, &g, &boxes, 2).unwrap();
        assert_eq!(s, s2);
        // A 2 px wide own box on the exact centre: IoU = 4 / 8 = 0.5, matched only at .50.
        let mut narrow = truth.clone();
        narrow.w_mm = Some(vec![0.2, 0.4, 0.4]);
        narrow.h_mm = Some(vec![0.2; 3]);
        let s3 = coco_stats(&narrow, &truth, &g, &boxes, 2).unwrap();
        assert!((s3.ar100 - (1.0 + 9.0 * 2.0 / 3.0) / 10.0).abs() < 1e-12, "{s3:?}");
    }
}
