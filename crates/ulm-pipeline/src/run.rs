//! The orchestration: input (file or simulation) → filter → localize each method →
//! track → render → evaluate → report, with one progress per stage and every result
//! written into the output folder.

use std::path::{Path, PathBuf};
use std::time::Instant;

use ulm_core::{FrameSource, Geometry, Localizations, Localizer};
use ulm_eval::dice::DiceScore;
use ulm_eval::metrics::Report;
use ulm_io::ReadOptions;
use ulm_localize::TemporalSupport;
use ulm_report::LinePlot;
use ulm_sim::SimConfig;

use crate::config::{PipelineConfig, SimulateConfig};
use crate::methods::{self, MethodName};
use crate::report::{self, MethodReport, ReportData};
use crate::stages::{self, Curve};
use crate::{PipelineError, Stages};

/// How and where to run.
pub struct RunOptions<'a> {
    /// Output folder (created; files in it are replaced).
    pub out: PathBuf,
    /// The command that started the run, shown in the report (e.g. `ulm run --config p.toml`).
    pub command: String,
    /// One more place to look for shipped models (`<dir>/models/<name>` and above): the
    /// config file's folder.
    pub config_dir: Option<PathBuf>,
    /// Progress, one per stage.
    pub stages: &'a dyn Stages,
}

impl<'a> RunOptions<'a> {
    /// Options writing to `out`, recording `command`.
    pub fn new(out: &Path, command: &str, stages: &'a dyn Stages) -> Self {
        Self { out: out.to_path_buf(), command: command.into(), config_dir: None, stages }
    }
}

/// What the frames are, for the report.
#[derive(Debug, Clone, Default)]
pub struct InputInfo {
    /// One line: the file, or the simulation.
    pub description: String,
    /// Extra rows of the acquisition summary (e.g. the simulation preset and seed).
    pub details: Vec<(String, String)>,
    /// Ground truth, if any (for the metrics).
    pub ground_truth: Option<Localizations>,
    /// Where the ground truth was read from (recorded in `eval.json`).
    pub ground_truth_path: Option<PathBuf>,
}

/// One method's results.
#[derive(Debug, Clone)]
pub struct MethodSummary {
    /// The method.
    pub method: MethodName,
    /// Its folder in the output (`locs.csv`, `tracks.csv`, `maps/`, `eval.json` …).
    pub dir: PathBuf,
    /// Frames it localized (all, or the first `localize.<method>.frames`).
    pub frames: usize,
    /// Localizations found.
    pub n_localizations: usize,
    /// Tracks kept.
    pub n_tracks: usize,
    /// Wall time of its localization stage, s.
    pub localize_seconds: f64,
    /// Localization metrics against the ground truth (of the frames it localized).
    pub metrics: Option<Report>,
    /// Dice of its localization density against the ground truth's.
    pub dice: Option<DiceScore>,
    /// FRC resolution (1/7 threshold), mm.
    pub frc_resolution_mm: Option<f64>,
}

/// What a run produced.
#[derive(Debug, Clone)]
pub struct RunSummary {
    /// The output folder.
    pub out: PathBuf,
    /// The HTML report.
    pub report: PathBuf,
    /// `[frames, rows, cols]` of the acquisition.
    pub shape: [usize; 3],
    /// Per method, in the config's order.
    pub methods: Vec<MethodSummary>,
    /// Wall time of the whole run, s.
    pub seconds: f64,
}

/// A localizer ready to run, with the settings to record.
struct Built {
    method: MethodName,
    localizer: Box<dyn Localizer>,
    record: serde_json::Value,
}

/// Builds every localizer (loading model folders) before any long work, so that a
/// missing model fails at once; records the model folders found in `cfg`.
fn build_all(cfg: &mut PipelineConfig, opts: &RunOptions<'_>) -> Result<Vec<Built>, PipelineError> {
    let mut out = Vec::new();
    for &m in &cfg.localize.methods.clone() {
        let (localizer, record) = methods::build_localizer(m, &cfg.localize, opts.config_dir.as_deref())?;
        if let (Some(w), Some(l)) = (record.get("weights").and_then(|w| w.as_str()), learned_mut(cfg, m)) {
            l.weights = Some(std::path::absolute(w).unwrap_or_else(|_| PathBuf::from(w)));
        }
        out.push(Built { method: m, localizer, record });
    }
    Ok(out)
}

fn learned_mut(cfg: &mut PipelineConfig, m: MethodName) -> Option<&mut crate::LearnedConfig> {
    match m {
        MethodName::DeDetr => Some(&mut cfg.localize.de_detr),
        MethodName::Detr => Some(&mut cfg.localize.detr),
        MethodName::Unet => Some(&mut cfg.localize.unet),
        _ => None,
    }
}

/// Runs the pipeline of `cfg` (already validated and resolved, e.g. by
/// [`PipelineConfig::from_file`]): reads or simulates the input, then [`run_source`].
///
/// # Errors
/// [`PipelineError`] naming the stage and the file.
pub fn run(cfg: &PipelineConfig, opts: &RunOptions<'_>) -> Result<RunSummary, PipelineError> {
    let mut cfg = cfg.clone();
    cfg.validate().map_err(|m| PipelineError::stage("config", m))?;
    create_dir(&opts.out)?;
    let built = build_all(&mut cfg, opts)?;
    let i = &cfg.input;
    let (frames, read, mut info) = match (&i.frames, &i.simulate) {
        (_, Some(s)) => {
            let progress = opts.stages.stage("simulate", "frames");
            let (path, info) = simulate(s, &opts.out.join("sim"), progress.as_ref())?;
            (path, ReadOptions::default(), info)
        }
        (Some(f), None) => {
            let read = ReadOptions {
                dataset: i.dataset.clone(),
                axis_order: i
                    .axis_order
                    .as_deref()
                    .unwrap_or("tzx")
                    .parse()
                    .map_err(|e| PipelineError::stage("input", e))?,
                meta: i.meta.clone(),
                allow_non_finite: i.allow_non_finite,
            };
            (f.clone(), read, InputInfo { description: format!("frames {}", f.display()), ..InputInfo::default() })
        }
        (None, None) => return Err(PipelineError::stage("input", "no frames and no simulation")),
    };
    if let Some(gt) = &cfg.eval.ground_truth {
        let t = ulm_io::read_localizations(gt).map_err(|e| PipelineError::stage("eval: ground truth", e))?;
        info.ground_truth = Some(t);
        info.ground_truth_path = Some(gt.clone());
    }
    let mut src = ulm_io::open_frames(&frames, &read)
        .map_err(|e| PipelineError::stage(format!("input: opening {}", frames.display()), e))?;
    run_built(&cfg, src.as_mut(), info, built, opts)
}

/// Runs the pipeline of `cfg` on frames from `source` (its `[input]` section only names
/// them): the block loops read at most `filter.block_frames` / `localize.block_frames`
/// frames at a time from it, and never hold more than one block.
///
/// # Errors
/// [`PipelineError`] naming the stage and the file.
pub fn run_source(
    cfg: &PipelineConfig,
    source: &mut dyn FrameSource,
    input: InputInfo,
    opts: &RunOptions<'_>,
) -> Result<RunSummary, PipelineError> {
    let mut cfg = cfg.clone();
    cfg.validate().map_err(|m| PipelineError::stage("config", m))?;
    create_dir(&opts.out)?;
    let built = build_all(&mut cfg, opts)?;
    run_built(&cfg, source, input, built, opts)
}

fn create_dir(dir: &Path) -> Result<(), PipelineError> {
    std::fs::create_dir_all(dir).map_err(|e| PipelineError::stage(format!("creating {}", dir.display()), e))
}

/// Simulates into `dir` (`iq.npy`, `meta.json`, `gt.csv`, `config.json`, as `ulm simulate`)
/// and returns the frame file and the ground truth. The simulation is made in memory (the
/// simulator's nature) and dropped before the pipeline streams the written file.
fn simulate(
    s: &SimulateConfig,
    dir: &Path,
    progress: &dyn ulm_core::Progress,
) -> Result<(PathBuf, InputInfo), PipelineError> {
    let err =
        |what: &str, e: Box<dyn std::error::Error + Send + Sync>| PipelineError::stage(format!("simulate: {what}"), e);
    let mut config = SimConfig::preset(s.preset);
    if let Some(r) = s.rows {
        config.grid.rows = r;
    }
    if let Some(c) = s.cols {
        config.grid.cols = c;
    }
    if let Some(b) = s.bubbles_per_frame {
        config.bubbles.per_frame = b;
    }
    if let Some(v) = s.snr_db {
        config.imaging.snr_db = v;
    }
    if let Some(p) = s.psf {
        config.imaging.psf = p;
    }
    config.validate().map_err(|e| err("input.simulate", e.into()))?;
    create_dir(dir)?;
    let sim = ulm_sim::simulate(&config, s.frames, s.seed, progress).map_err(|e| err("simulating", e.into()))?;
    let iq = dir.join("iq.npy");
    match sim.iq.data() {
        ulm_core::FrameData::Complex(a) => ulm_io::write_npy(&iq, a),
        ulm_core::FrameData::Real(a) => ulm_io::write_npy(&iq, a),
    }
    .map_err(|e| err("writing", e.into()))?;
    let g = sim.iq.geometry();
    let mut meta = ulm_io::Meta::from_geometry(g);
    meta.center_frequency_hz = Some(config.grid.center_frequency_hz);
    meta.speed_of_sound_m_s = Some(config.grid.speed_of_sound_m_s);
    meta.extra.insert(
        "simulation".into(),
        serde_json::json!({ "preset": s.preset.name(), "seed": s.seed, "frames": s.frames,
            "bubbles_in_network": sim.n_bubbles, "ground_truth_rows": sim.truth.len(), "config": config }),
    );
    ulm_io::write_meta(&dir.join("meta.json"), &meta).map_err(|e| err("writing", e.into()))?;
    let gt_path = dir.join("gt.csv");
    ulm_io::write_localizations(&gt_path, &sim.truth).map_err(|e| err("writing", e.into()))?;
    stages::write_json(&dir.join("config.json"), &serde_json::to_value(&config).unwrap_or_default())
        .map_err(|e| err("writing", e.into()))?;
    let details = vec![
        (
            "simulation".to_string(),
            format!("preset {}, seed {}, PSF {:?}", s.preset.name(), s.seed, config.imaging.psf),
        ),
        ("bubbles per frame (expected)".into(), format!("{}", config.bubbles.per_frame)),
        ("ground truth".into(), format!("{} positions ({})", sim.truth.len(), gt_path.display())),
    ];
    let info = InputInfo {
        description: format!(
            "simulation `{}` ({} frames, seed {}) in {}",
            s.preset.name(),
            s.frames,
            s.seed,
            dir.display()
        ),
        details,
        ground_truth: Some(sim.truth),
        ground_truth_path: Some(gt_path),
    };
    Ok((iq, info))
}

/// Seconds since `t`.
fn secs(t: Instant) -> f64 {
    t.elapsed().as_secs_f64()
}

fn run_built(
    cfg: &PipelineConfig,
    src: &mut dyn FrameSource,
    info: InputInfo,
    built: Vec<Built>,
    opts: &RunOptions<'_>,
) -> Result<RunSummary, PipelineError> {
    let start = Instant::now();
    let out = &opts.out;
    let toml_path = out.join("pipeline.toml");
    let toml_text = format!(
        "# The resolved configuration of this run (every default written out, paths absolute).\n\
         # Rerun it with: ulm run --config {} --out DIR\n{}",
        toml_path.display(),
        cfg.to_toml()
    );
    ulm_io::atomic_write_bytes(&toml_path, toml_text.as_bytes()).map_err(|e| PipelineError::stage("writing", e))?;
    let shape = src.shape();
    let [n_frames, rows, cols] = shape;
    let geometry: Geometry = *src.geometry();
    let complex = src.is_complex();
    if n_frames == 0 || rows == 0 || cols == 0 {
        return Err(PipelineError::stage("input", format!("no frames to process (shape {shape:?})")));
    }
    let mut timings: Vec<(String, f64)> = Vec::new();

    // Filter: one pass over the input, block by block, into filtered/iq.npy.
    let mut filtered_src;
    let mut filter_reports = Vec::new();
    let frames: &mut dyn FrameSource = if cfg.filter.enabled() {
        let t = Instant::now();
        let p = opts.stages.stage("filter", "frames");
        let f = stages::filter(src, &cfg.filter, &out.join("filtered"), p.as_ref())?;
        timings.push(("filter".into(), secs(t)));
        filter_reports = f.reports;
        let read = ReadOptions { meta: Some(out.join("filtered").join("meta.json")), ..ReadOptions::default() };
        filtered_src = ulm_io::open_frames(&f.path, &read)
            .map_err(|e| PipelineError::stage(format!("localize: opening {}", f.path.display()), e))?;
        filtered_src.as_mut()
    } else {
        src
    };

    // Localize, then track, each method in turn: only its tables stay in memory.
    let link = stages::link_config(&cfg.track, &geometry).map_err(|e| PipelineError::stage("track", e))?;
    let mut results = Vec::new();
    for b in &built {
        let m = b.method;
        let dir = out.join(m.name());
        create_dir(&dir)?;
        let n = cfg.localize.frames_for(m, n_frames);
        let block = cfg.localize.learned(m).map_or(cfg.localize.block_frames, |l| l.block_frames.unwrap_or(32));
        let t = Instant::now();
        let p = opts.stages.stage(&format!("localize {m}"), "frames");
        let with_boxes = matches!(m, MethodName::DeDetr | MethodName::Detr);
        let locs = stages::localize(frames, b.localizer.as_ref(), block, n, with_boxes, p.as_ref())
            .map_err(|e| PipelineError::stage(format!("localize {m}"), e))?;
        let (locs, n_before) = TemporalSupport::apply_optional(cfg.localize.temporal_support.as_ref(), locs, &geometry)
            .map_err(|e| PipelineError::stage(format!("localize {m}"), e))?;
        let loc_secs = secs(t);
        timings.push((format!("localize {m}"), loc_secs));
        let locs_path = dir.join("locs.csv");
        ulm_io::write_localizations(&locs_path, &locs).map_err(|e| PipelineError::stage(format!("localize {m}"), e))?;
        let record = serde_json::json!({ "localizer": b.localizer.name(), "config": b.record,
            "block_frames": block, "n_frames": n, "n_localizations": locs.len(), "seconds": loc_secs,
            "temporal_support": cfg.localize.temporal_support,
            "n_before_temporal_support": n_before });
        stages::write_json(&dir.join("locs.config.json"), &record).map_err(|e| PipelineError::stage("writing", e))?;

        let t = Instant::now();
        let p = opts.stages.stage(&format!("track {m}"), "frames");
        let linked = ulm_track::link_with(&locs, &link, cfg.track.predictor, p.as_ref())
            .map_err(|e| PipelineError::stage(format!("track {m}"), e))?;
        ulm_io::write_tracks(&dir.join("tracks.csv"), &linked.tracks)
            .map_err(|e| PipelineError::stage(format!("track {m}"), e))?;
        timings.push((format!("track {m}"), secs(t)));
        results.push((b, dir, n, locs, linked.tracks, loc_secs));
    }

    // Render: the ground truth's density, then every method's maps, on one grid.
    let t = Instant::now();
    let grid = stages::map_grid(&cfg.render, &geometry, rows, cols)?;
    let p = opts.stages.stage("render", "maps");
    p.set_total((results.len() + usize::from(info.ground_truth.is_some())) as u64);
    let gt_maps = match &info.ground_truth {
        Some(gt) => {
            let maps = stages::render(gt, None, &grid, &cfg.render, &out.join("gt").join("maps"), "ground truth")?;
            p.inc(1);
            Some(maps)
        }
        None => None,
    };
    let mut method_maps = Vec::new();
    for (b, dir, _, locs, tracks, _) in &results {
        method_maps.push(stages::render(locs, Some(tracks), &grid, &cfg.render, &dir.join("maps"), b.method.name())?);
        p.inc(1);
    }
    p.finish();
    timings.push(("render".into(), secs(t)));

    // Evaluate: metrics against the ground truth (when given), FRC and MTF always.
    let t = Instant::now();
    let p = opts.stages.stage("eval", "methods");
    p.set_total(results.len() as u64);
    let reference = gt_maps.as_ref().unwrap_or(&method_maps[0]);
    let mtf_line = stages::mtf_line(&cfg.eval, &grid, &reference.get("loc_density").expect("rendered").map);
    let mut summaries = Vec::new();
    let mut reports = Vec::new();
    let (mut pr_curves, mut frc_curves, mut mtf_curves) = (Vec::new(), Vec::new(), Vec::new());
    if let Some(gm) = &gt_maps {
        let density = &gm.get("loc_density").expect("rendered").map;
        if let Some(c) = stages::mtf_curve(density, &grid, mtf_line, cfg.eval.mtf_sigma)? {
            mtf_curves.push(Curve { name: "ground truth".into(), x: c.freq_per_mm, y: c.mtf });
        }
    }
    for ((b, dir, n, locs, tracks, loc_secs), maps) in results.iter().zip(&method_maps) {
        let m = b.method;
        let density = &maps.get("loc_density").expect("rendered").map;
        let (mut metrics, mut by_depth, mut dice) = (None, None, None);
        if let Some(gt) = &info.ground_truth {
            let gt_n = stages::first_frames(gt, *n);
            let mc = stages::metrics_config(&cfg.eval, &geometry, rows, cfg.eval.bands);
            let report = stages::metrics(locs, &gt_n, &mc)?;
            let pc = stages::metrics_config(&cfg.eval, &geometry, rows, cfg.eval.plot_bands);
            let depth = stages::metrics(locs, &gt_n, &pc)?;
            let record = serde_json::json!({ "pred": dir.join("locs.csv"), "gt": info.ground_truth_path,
                "frames": n, "config": mc, "report": report });
            stages::write_json(&dir.join("eval.json"), &record).map_err(|e| PipelineError::stage("writing", e))?;
            let z: Vec<f64> = depth.bands.iter().map(|b| (b.z_min_mm + b.z_max_mm) / 2.0).collect();
            let nan = |v: Option<f64>| v.unwrap_or(f64::NAN);
            pr_curves.push(Curve {
                name: format!("{m} precision"),
                x: z.clone(),
                y: depth.bands.iter().map(|b| nan(b.scores.precision)).collect(),
            });
            pr_curves.push(Curve {
                name: format!("{m} recall"),
                x: z,
                y: depth.bands.iter().map(|b| nan(b.scores.recall)).collect(),
            });
            // Dice against the ground truth of the same frames (a learned method limited
            // to the first frames is compared with their ground truth only).
            let gt_density = if *n < n_frames {
                ulm_render::gaussian_density(&gt_n, &grid, cfg.render.sigma_px)
                    .map_err(|e| PipelineError::stage("eval: Dice", e))?
            } else {
                gt_maps.as_ref().and_then(|g| g.get("loc_density")).expect("rendered").map.clone()
            };
            dice = Some(stages::dice(density, &gt_density)?);
            metrics = Some(report);
            by_depth = Some(depth);
        }
        let frc = stages::frc_curve(locs, &cfg.eval, &geometry)?;
        let mtf = stages::mtf_curve(density, &grid, mtf_line, cfg.eval.mtf_sigma)?;
        let map_eval = serde_json::json!({
            "dice": dice.as_ref().map(|d| serde_json::json!({ "rule": "positive", "score": d })),
            "frc": frc.as_ref().map(|c| serde_json::json!({ "resolution_mm": c.resolution_mm,
                "resolution_wavelengths": c.resolution_mm.map(|r| r / geometry.wavelength_mm),
                "split": { "frame_blocks": cfg.eval.frc_block } })),
            "mtf": { "line_mm": mtf_line, "norm": "dc", "smooth_sigma": cfg.eval.mtf_sigma },
        });
        stages::write_json(&dir.join("map_eval.json"), &map_eval).map_err(|e| PipelineError::stage("writing", e))?;
        let frc_resolution_mm = frc.as_ref().and_then(|c| c.resolution_mm);
        if let Some(c) = frc {
            frc_curves.push(Curve { name: m.name().into(), x: c.freq_per_mm, y: c.frc });
        }
        if let Some(c) = mtf {
            mtf_curves.push(Curve { name: m.name().into(), x: c.freq_per_mm, y: c.mtf });
        }
        summaries.push(MethodSummary {
            method: m,
            dir: dir.clone(),
            frames: *n,
            n_localizations: locs.len(),
            n_tracks: tracks.len(),
            localize_seconds: *loc_secs,
            metrics: metrics.clone(),
            dice,
            frc_resolution_mm,
        });
        reports.push(MethodReport {
            method: m,
            frames: *n,
            n_localizations: locs.len(),
            n_tracks: tracks.len(),
            localize_seconds: *loc_secs,
            metrics,
            by_depth,
            dice,
            frc_resolution_mm,
            maps: maps.maps.iter().map(|m| (m.name.clone(), m.png.clone())).collect(),
        });
        p.inc(1);
    }
    p.finish();

    // Figures that put the methods side by side.
    let mut figures = report::Figures::default();
    if !filter_reports.is_empty() {
        figures.singular_values = Some(report::singular_value_figure(&filter_reports, &out.join("filtered"))?);
    }
    if !pr_curves.is_empty() {
        let plot = LinePlot::new("precision and recall by depth", "depth (mm)", "precision, recall").y_range(0.0, 1.05);
        figures.pr_by_depth = Some(stages::write_curves(out, "pr_by_depth", plot, &pr_curves, "depth_mm", "value")?);
    }
    if !frc_curves.is_empty() {
        let plot = LinePlot::new("Fourier ring correlation", "spatial frequency (1/mm)", "FRC")
            .reference_line(stages::FRC_THRESHOLD, "1/7 threshold");
        figures.frc = Some(stages::write_curves(out, "frc", plot, &frc_curves, "freq_per_mm", "frc")?);
    }
    if !mtf_curves.is_empty() {
        let plot =
            LinePlot::new("modulation transfer function (localization density)", "spatial frequency (1/mm)", "MTF");
        figures.mtf = Some(stages::write_curves(out, "mtf", plot, &mtf_curves, "freq_per_mm", "mtf")?);
    }
    timings.push(("eval".into(), secs(t)));

    // The report, and the run record.
    let report_path = out.join("report.html");
    let data = ReportData {
        title: cfg.report.title.clone().unwrap_or_else(|| format!("ULM report: {}", info.description)),
        command: opts.command.clone(),
        config_path: toml_path.clone(),
        config_toml: toml_text,
        input: &info,
        shape,
        complex,
        geometry,
        grid,
        filter: &cfg.filter,
        filter_reports: &filter_reports,
        mtf_line,
        gt_maps: gt_maps.as_ref().map(|g| g.maps.iter().map(|m| (m.name.clone(), m.png.clone())).collect()),
        methods: reports,
        figures,
        timings: timings.clone(),
        eval: &cfg.eval,
    };
    let html = report::build(&data).to_html();
    ulm_io::atomic_write_bytes(&report_path, html.as_bytes()).map_err(|e| PipelineError::stage("report", e))?;
    let seconds = secs(start);
    let run_record = serde_json::json!({
        "command": opts.command,
        "version": env!("CARGO_PKG_VERSION"),
        "config": toml_path,
        "input": info.description,
        "shape": shape,
        "seconds": seconds,
        "timings_s": timings.iter().map(|(k, v)| serde_json::json!({ "stage": k, "seconds": v })).collect::<Vec<_>>(),
        "methods": summaries.iter().map(|s| serde_json::json!({
            "method": s.method, "frames": s.frames, "localizations": s.n_localizations, "tracks": s.n_tracks,
            "localize_seconds": s.localize_seconds,
            "f1": s.metrics.as_ref().and_then(|r| r.overall.f1),
            "dice": s.dice.as_ref().map(|d| d.dice), "frc_resolution_mm": s.frc_resolution_mm,
        })).collect::<Vec<_>>(),
        "report": report_path,
    });
    stages::write_json(&out.join("run.json"), &run_record).map_err(|e| PipelineError::stage("writing", e))?;
    Ok(RunSummary { out: out.clone(), report: report_path, shape, methods: summaries, seconds })
}
