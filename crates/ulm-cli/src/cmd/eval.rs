//! `ulm eval`: localization metrics (precision, recall, F1, Jaccard, RMSE, per depth
//! band) of a localization CSV against ground truth. Map metrics (`--maps …`) live in
//! `eval_maps.rs`, flattened into these options.

use std::path::PathBuf;

use anyhow::Context as _;
use ulm_eval::metrics::{EvalConfig, evaluate};

use super::Context;
use crate::output;

/// Options of `ulm eval`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Localization-metric options (boxed: keeps the `Command` enum small).
    #[command(flatten)]
    loc: Box<LocArgs>,
    #[command(flatten)]
    maps: super::eval_maps::MapArgs,
}

/// Localization-metric options of `ulm eval`.
#[derive(Debug, clap::Args)]
struct LocArgs {
    /// Predicted localizations (CSV with `frame, x_mm, z_mm`).
    #[arg(long, value_name = "CSV")]
    pred: Option<PathBuf>,
    /// Ground-truth localizations (CSV with `frame, x_mm, z_mm`).
    #[arg(long, value_name = "CSV")]
    gt: Option<PathBuf>,
    /// The acquisition's meta.json (wavelength; image depth for the bands)
    /// [default: meta.json beside --gt].
    #[arg(long, value_name = "JSON")]
    meta: Option<PathBuf>,
    /// Pairing gate in wavelengths (the paper uses 0.5, PALA 0.25).
    #[arg(long, default_value_t = 0.5, value_name = "λ")]
    gate_wavelengths: f64,
    /// Pairing gate in mm (overrides --gate-wavelengths).
    #[arg(long, value_name = "MM")]
    gate_mm: Option<f64>,
    /// Number of equal depth bands (over the image depth when the meta.json knows the
    /// number of rows, else over the ground truth's depth range).
    #[arg(long, default_value_t = 3, value_name = "N")]
    bands: usize,
    /// Also write the report as JSON.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
}

/// Runs `ulm eval`.
pub fn run(args: Args, ctx: &Context) -> anyhow::Result<()> {
    if args.maps.requested() {
        return super::eval_maps::run(args.maps, ctx);
    }
    let args = *args.loc;
    let (Some(pred_path), Some(gt_path)) = (&args.pred, &args.gt) else {
        anyhow::bail!("localization evaluation needs --pred P.csv and --gt G.csv (or --maps … for map metrics)");
    };
    let meta_path = args.meta.clone().unwrap_or_else(|| ulm_io::sidecar_path(gt_path));
    let meta = ulm_io::read_meta(&meta_path)
        .with_context(|| format!("reading {} (give the acquisition's meta.json with --meta)", meta_path.display()))?;
    let g = meta.geometry(&meta_path)?;
    let pred = ulm_io::read_localizations(pred_path).with_context(|| format!("reading {}", pred_path.display()))?;
    let gt = ulm_io::read_localizations(gt_path).with_context(|| format!("reading {}", gt_path.display()))?;

    let gate_mm = args.gate_mm.unwrap_or(args.gate_wavelengths * g.wavelength_mm);
    if !(gate_mm.is_finite() && gate_mm > 0.0) {
        anyhow::bail!("the pairing gate must be > 0, got {gate_mm} mm");
    }
    let depth_range_mm = meta.grid_rows().map(|rows| {
        let half = g.pixel_size_z_mm / 2.0;
        (g.z0_mm - half, g.row_to_z_mm(rows as f64 - 1.0) + half)
    });
    let cfg = EvalConfig { gate_mm, wavelength_mm: g.wavelength_mm, n_bands: args.bands, depth_range_mm };
    let report = evaluate(&pred, &gt, &cfg)
        .with_context(|| format!("evaluating {} against {}", pred_path.display(), gt_path.display()))?;
    // The JSON report is a result file: written before the table, so that a reader that
    // closes stdout early (`| head -1`) still gets it.
    if let Some(j) = &args.json {
        let value = serde_json::json!({
            "pred": pred_path,
            "gt": gt_path,
            "meta": meta_path,
            "config": cfg,
            "report": report,
        });
        output::write_run_config(j, "eval", value)?;
    }
    output::print(&report.to_table())?;
    Ok(())
}
