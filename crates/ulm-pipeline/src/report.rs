//! The HTML report of a run: acquisition, clutter filter, localization, metrics (overall
//! and per depth band), maps side by side per method, resolution curves, timings and how
//! to reproduce it. One file, figures embedded (`ulm_report::HtmlReport`).

use std::path::{Path, PathBuf};

use ulm_clutter::BlockReport;
use ulm_core::Geometry;
use ulm_eval::dice::DiceScore;
use ulm_eval::metrics::{Report, Scores};
use ulm_render::MapGrid;
use ulm_report::{Block, HtmlReport, LinePlot, Section};

use crate::PipelineError;
use crate::config::{EvalConfig, FilterConfig};
use crate::methods::MethodName;
use crate::run::InputInfo;
use crate::stages::{Curve, write_curves};

/// Figures that combine the methods (PNG bytes).
#[derive(Default)]
pub(crate) struct Figures {
    pub singular_values: Option<Vec<u8>>,
    pub pr_by_depth: Option<Vec<u8>>,
    pub frc: Option<Vec<u8>>,
    pub mtf: Option<Vec<u8>>,
}

/// One method's column of the report.
pub(crate) struct MethodReport {
    pub method: MethodName,
    pub frames: usize,
    pub n_localizations: usize,
    pub n_tracks: usize,
    pub localize_seconds: f64,
    pub metrics: Option<Report>,
    pub by_depth: Option<Report>,
    pub dice: Option<DiceScore>,
    pub frc_resolution_mm: Option<f64>,
    /// `(map name, PNG)`.
    pub maps: Vec<(String, Vec<u8>)>,
}

/// Everything the report shows.
pub(crate) struct ReportData<'a> {
    pub title: String,
    pub command: String,
    pub config_path: PathBuf,
    pub config_toml: String,
    pub input: &'a InputInfo,
    pub shape: [usize; 3],
    pub complex: bool,
    pub geometry: Geometry,
    pub grid: MapGrid,
    pub filter: &'a FilterConfig,
    pub filter_reports: &'a [BlockReport],
    pub mtf_line: [f64; 4],
    pub gt_maps: Option<Vec<(String, Vec<u8>)>>,
    pub methods: Vec<MethodReport>,
    pub figures: Figures,
    pub timings: Vec<(String, f64)>,
    pub eval: &'a EvalConfig,
}

/// A ratio with 4 decimals (`–` when undefined).
pub(crate) fn ratio(v: Option<f64>) -> String {
    v.map_or_else(|| "–".into(), |v| format!("{v:.4}"))
}

/// A length in mm with 5 decimals (`–` when undefined).
pub(crate) fn mm(v: Option<f64>) -> String {
    v.map_or_else(|| "–".into(), |v| format!("{v:.5}"))
}

/// The singular-value curves (dB re. each block's largest) of up to six blocks with the
/// first kept component marked; writes `singular_values.{csv,png}` into `dir`.
pub(crate) fn singular_value_figure(reports: &[BlockReport], dir: &Path) -> Result<Vec<u8>, PipelineError> {
    let n = reports.len();
    let shown: Vec<&BlockReport> =
        if n <= 6 { reports.iter().collect() } else { (0..6).map(|i| &reports[i * (n - 1) / 5]).collect() };
    let max_low = reports.iter().map(|r| r.low).max().unwrap_or(1);
    let n_comp = shown.iter().map(|r| r.singular_values.len()).max().unwrap_or(0).min(100.max(4 * max_low));
    let mut curves: Vec<Curve> = shown
        .iter()
        .map(|r| {
            let s0 = r.singular_values.first().copied().unwrap_or(1.0).max(f64::MIN_POSITIVE);
            let k = r.singular_values.len().min(n_comp);
            Curve {
                name: format!("frames {}–{}", r.start_frame, r.start_frame + r.n_frames - 1),
                x: (1..=k).map(|i| i as f64).collect(),
                y: r.singular_values[..k].iter().map(|s| 20.0 * (s / s0).max(1e-30).log10()).collect(),
            }
        })
        .collect();
    let lo = curves.iter().flat_map(|c| c.y.iter().copied()).filter(|v| v.is_finite()).fold(0.0, f64::min);
    let mut lows: Vec<usize> = reports.iter().map(|r| r.low).collect();
    lows.sort_unstable();
    lows.dedup();
    for &k in lows.iter().take(3) {
        curves.push(Curve {
            name: format!("cut-off: first kept component {k}"),
            x: vec![k as f64, k as f64],
            y: vec![lo, 0.0],
        });
    }
    let plot = LinePlot::new(
        "singular values of the SVD blocks",
        "component (1 = largest)",
        "singular value (dB re. largest)",
    )
    .y_range(lo - 2.0, 2.0);
    write_curves(dir, "singular_values", plot, &curves, "component", "db")
}

fn kv(k: &str, v: impl Into<String>) -> (String, String) {
    (k.to_string(), v.into())
}

fn acquisition(d: &ReportData<'_>) -> Section {
    let g = &d.geometry;
    let [n, rows, cols] = d.shape;
    let (x0, x1) = (g.x0_mm - g.pixel_size_x_mm / 2.0, g.col_to_x_mm(cols as f64 - 1.0) + g.pixel_size_x_mm / 2.0);
    let (z0, z1) = (g.z0_mm - g.pixel_size_z_mm / 2.0, g.row_to_z_mm(rows as f64 - 1.0) + g.pixel_size_z_mm / 2.0);
    let mut rows_kv = vec![
        kv("input", d.input.description.clone()),
        kv("shape [frames, rows (z), cols (x)]", format!("[{n}, {rows}, {cols}]")),
        kv("samples", if d.complex { "complex IQ (localized on the envelope)" } else { "real (envelope)" }),
        kv("frame rate", format!("{} Hz", g.frame_rate_hz)),
        kv("duration", format!("{:.3} s", n as f64 / g.frame_rate_hz)),
        kv("wavelength λ", format!("{:.5} mm", g.wavelength_mm)),
        kv(
            "pixel size (x × z)",
            format!(
                "{:.5} × {:.5} mm ({:.3} × {:.3} λ)",
                g.pixel_size_x_mm,
                g.pixel_size_z_mm,
                g.pixel_size_x_mm / g.wavelength_mm,
                g.pixel_size_z_mm / g.wavelength_mm
            ),
        ),
        kv("field of view", format!("x {x0:.3} … {x1:.3} mm, z {z0:.3} … {z1:.3} mm")),
        kv(
            "map grid",
            format!(
                "{} × {} pixels of {:.5} mm ({:.3} λ)",
                d.grid.rows,
                d.grid.cols,
                d.grid.geometry.pixel_size_x_mm,
                d.grid.geometry.pixel_size_x_mm / g.wavelength_mm
            ),
        ),
    ];
    rows_kv.extend(d.input.details.iter().cloned());
    let mut s = Section::new("Acquisition");
    s.push(Block::KeyValues(rows_kv));
    s
}

fn filter_section(d: &ReportData<'_>) -> Section {
    let f = d.filter;
    let mut s = Section::new("Clutter filter");
    if !f.enabled() {
        s.push(Block::Text(
            "No filtering ([filter] svd = false, no band-pass): the frames were localized as read.".into(),
        ));
        return s;
    }
    let svd = if f.svd {
        let cut = match f.svd_low {
            Some(k) => format!("fixed: components {k}…{} kept", f.svd_high.map_or("last".into(), |h| h.to_string())),
            None => "automatic (elbow of each block's singular-value curve)".into(),
        };
        format!("SVD of the space × time matrix in blocks of {} frames; cut-off {cut}.", f.block_frames)
    } else {
        "No SVD.".into()
    };
    let bp = match (f.bandpass_low_hz, f.bandpass_high_hz) {
        (None, None) => String::new(),
        (lo, hi) => format!(
            " Zero-phase Butterworth band-pass (order {}) {} … {} Hz within each block.",
            f.bandpass_order,
            lo.map_or("0".into(), |v| v.to_string()),
            hi.map_or("Nyquist".into(), |v| v.to_string())
        ),
    };
    s.push(Block::Text(format!("{svd}{bp}")));
    if let Some(png) = &d.figures.singular_values {
        s.push(Block::Figures(vec![(
            "Singular values of each SVD block (dB re. its largest); the vertical line marks the first kept \
             component: those before it are tissue."
                .into(),
            png.clone(),
        )]));
    }
    if !d.filter_reports.is_empty() {
        let rows = d
            .filter_reports
            .iter()
            .map(|r| {
                vec![
                    format!("{}–{}", r.start_frame, r.start_frame + r.n_frames - 1),
                    r.n_frames.to_string(),
                    r.low.to_string(),
                    r.high.to_string(),
                ]
            })
            .collect();
        s.push(Block::Table {
            caption: "Components kept per block".into(),
            header: vec!["frames".into(), "n".into(), "first kept".into(), "last kept".into()],
            rows,
        });
    }
    s
}

fn localization(d: &ReportData<'_>) -> Section {
    let mut s = Section::new("Localization");
    let rows = d
        .methods
        .iter()
        .map(|m| {
            vec![
                m.method.to_string(),
                m.frames.to_string(),
                m.n_localizations.to_string(),
                format!("{:.1}", m.n_localizations as f64 / m.frames.max(1) as f64),
                m.n_tracks.to_string(),
                format!("{:.2}", m.localize_seconds),
                format!("{:.1}", m.frames as f64 / m.localize_seconds.max(1e-9)),
            ]
        })
        .collect();
    s.push(Block::Table {
        caption: String::new(),
        header: ["method", "frames", "localizations", "per frame", "tracks", "localize (s)", "frames/s"]
            .map(String::from)
            .to_vec(),
        rows,
    });
    if d.methods.iter().any(|m| m.frames < d.shape[0]) {
        s.push(Block::Text(format!(
            "A method run on fewer than all {} frames (localize.<method>.frames) is evaluated against the ground \
             truth of those frames only, and its maps hold those frames only.",
            d.shape[0]
        )));
    }
    s
}

fn metric_rows(methods: &[&MethodReport], wavelength: f64) -> Vec<Vec<String>> {
    let get = |f: &dyn Fn(&MethodReport) -> String, name: &str| {
        std::iter::once(name.to_string()).chain(methods.iter().map(|m| f(m))).collect::<Vec<_>>()
    };
    let sc = |m: &MethodReport| m.metrics.as_ref().map(|r| r.overall.clone());
    let count = |f: fn(&Scores) -> usize| move |m: &MethodReport| sc(m).map_or("–".into(), |s| f(&s).to_string());
    let opt = |f: fn(&Scores) -> Option<f64>| move |m: &MethodReport| ratio(sc(m).and_then(|s| f(&s)));
    vec![
        get(&|m| m.frames.to_string(), "frames"),
        get(&|m| m.metrics.as_ref().map_or("–".into(), |r| r.n_pred.to_string()), "predictions"),
        get(&|m| m.metrics.as_ref().map_or("–".into(), |r| r.n_gt.to_string()), "ground truth"),
        get(&count(|s| s.tp), "TP"),
        get(&count(|s| s.fp), "FP"),
        get(&count(|s| s.fn_), "FN"),
        get(&opt(|s| s.precision), "precision"),
        get(&opt(|s| s.recall), "recall"),
        get(&opt(|s| s.f1), "F1"),
        get(&opt(|s| s.jaccard), "Jaccard"),
        get(&|m| mm(sc(m).and_then(|s| s.rmse_mm)), "RMSE (mm)"),
        get(&opt(|s| s.rmse_wavelengths), "RMSE (λ)"),
        get(&|m| ratio(m.dice.as_ref().map(|d| d.dice)), "Dice (density > 0)"),
        get(&|m| mm(m.frc_resolution_mm), "FRC resolution (mm)"),
        get(&|m| ratio(m.frc_resolution_mm.map(|r| r / wavelength)), "FRC resolution (λ)"),
    ]
}

fn metrics(d: &ReportData<'_>) -> Section {
    let mut s = Section::new("Metrics");
    let methods: Vec<&MethodReport> = d.methods.iter().collect();
    let header: Vec<String> =
        std::iter::once("metric".to_string()).chain(methods.iter().map(|m| m.method.to_string())).collect();
    let Some(first) = d.methods.iter().find_map(|m| m.metrics.as_ref()) else {
        s.push(Block::Text(
            "No ground truth ([eval] ground_truth, or a simulated input): only the FRC resolution, which needs none."
                .into(),
        ));
        let rows =
            metric_rows(&methods, d.geometry.wavelength_mm).into_iter().filter(|r| r[0].starts_with("FRC")).collect();
        s.push(Block::Table { caption: String::new(), header, rows });
        return s;
    };
    let c = &first.config;
    s.push(Block::Text(format!(
        "Predictions paired one-to-one with the ground truth of the same frame within a gate of {:.5} mm ({:.3} λ) \
         (optimal assignment; as `ulm eval`). Dice: localization density maps (σ = {} map pixels) binarized at > 0. \
         FRC: the localizations split into alternating blocks of {} frames, 1/7 threshold.",
        c.gate_mm,
        c.gate_mm / c.wavelength_mm,
        d.eval.frc_sigma_px,
        d.eval.frc_block
    )));
    s.push(Block::Table { caption: "Overall".into(), header, rows: metric_rows(&methods, d.geometry.wavelength_mm) });
    // Per depth band: precision, recall, F1, RMSE of each method.
    let mut header = vec!["depth (mm)".to_string()];
    for m in &methods {
        for k in ["P", "R", "F1", "RMSE (λ)"] {
            header.push(format!("{} {k}", m.method));
        }
    }
    let rows = first
        .bands
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let mut r = vec![format!("{:.2}–{:.2}", b.z_min_mm, b.z_max_mm)];
            for m in &methods {
                let s = m.metrics.as_ref().and_then(|r| r.bands.get(i)).map(|b| &b.scores);
                r.push(ratio(s.and_then(|s| s.precision)));
                r.push(ratio(s.and_then(|s| s.recall)));
                r.push(ratio(s.and_then(|s| s.f1)));
                r.push(ratio(s.and_then(|s| s.rmse_wavelengths)));
            }
            r
        })
        .collect();
    s.push(Block::Table {
        caption: format!("Per depth band ({} bands over the image depth)", first.bands.len()),
        header,
        rows,
    });
    if let Some(png) = &d.figures.pr_by_depth {
        let n = d.methods.iter().find_map(|m| m.by_depth.as_ref()).map_or(0, |r| r.bands.len());
        s.push(Block::Figures(vec![(
            format!("Precision and recall in {n} depth bands (points at the band centres)."),
            png.clone(),
        )]));
    }
    s
}

const MAP_TITLES: [(&str, &str); 4] = [
    ("loc_density", "Localization density"),
    ("track_density", "Track density"),
    ("speed", "Mean speed"),
    ("direction", "Axial direction"),
];

fn maps(d: &ReportData<'_>) -> Section {
    let mut s = Section::new("Super-resolved maps");
    s.push(Block::Text(
        "One column per method; the ground truth's localization density first when there is one. PNG and .npy of each \
         map are in <method>/maps/."
            .into(),
    ));
    let columns = d.methods.len() + usize::from(d.gt_maps.is_some());
    let mut cells = Vec::new();
    for (name, title) in MAP_TITLES {
        if let Some(gt) = &d.gt_maps {
            // The ground truth has a localization density only (no tracks).
            cells.push(
                gt.iter().find(|(n, _)| n == name).map(|(_, png)| (format!("{title}: ground truth"), png.clone())),
            );
        }
        for m in &d.methods {
            cells.push(
                m.maps.iter().find(|(n, _)| n == name).map(|(_, png)| (format!("{title}: {}", m.method), png.clone())),
            );
        }
    }
    s.push(Block::FigureGrid { columns, cells });
    s
}

fn resolution(d: &ReportData<'_>) -> Section {
    let mut s = Section::new("Resolution");
    let mut figs = Vec::new();
    if let Some(png) = &d.figures.frc {
        figs.push((
            "Fourier ring correlation of two halves of each method's localizations; the resolution is 1/f where \
             the curve crosses 1/7."
                .to_string(),
            png.clone(),
        ));
    }
    if let Some(png) = &d.figures.mtf {
        let l = d.mtf_line;
        figs.push((
            format!(
                "MTF of the localization density along the line ({:.2}, {:.2}) → ({:.2}, {:.2}) mm (x, z), DC-normalised.",
                l[0], l[1], l[2], l[3]
            ),
            png.clone(),
        ));
    }
    s.push(Block::Figures(figs));
    s
}

fn reproduce(d: &ReportData<'_>) -> Section {
    let mut s = Section::new("Reproduce");
    s.push(Block::Text("This report was made by:".into()));
    s.push(Block::Code(d.command.clone()));
    s.push(Block::Text(format!(
        "The resolved configuration below (every default written out) is {}; `ulm run --config {} --out DIR` \
         reruns it.",
        d.config_path.display(),
        d.config_path.display()
    )));
    s.push(Block::Code(d.config_toml.clone()));
    s
}

fn timings(d: &ReportData<'_>) -> Section {
    let mut s = Section::new("Timings");
    let total: f64 = d.timings.iter().map(|t| t.1).sum();
    let mut rows: Vec<Vec<String>> = d.timings.iter().map(|(k, v)| vec![k.clone(), format!("{v:.2}")]).collect();
    rows.push(vec!["total (these stages)".into(), format!("{total:.2}")]);
    s.push(Block::Table { caption: String::new(), header: vec!["stage".into(), "wall time (s)".into()], rows });
    s
}

/// The report document.
pub(crate) fn build(d: &ReportData<'_>) -> HtmlReport {
    let names: Vec<String> = d.methods.iter().map(|m| m.method.to_string()).collect();
    HtmlReport::new(&d.title)
        .subtitle(&format!("ulm {} · methods: {}", env!("CARGO_PKG_VERSION"), names.join(", ")))
        .section(acquisition(d))
        .section(filter_section(d))
        .section(localization(d))
        .section(metrics(d))
        .section(maps(d))
        .section(resolution(d))
        .section(timings(d))
        .section(reproduce(d))
}
