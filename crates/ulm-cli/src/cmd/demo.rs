//! `ulm demo`: the whole pipeline on built-in simulated data, no download.
//!
//! Runs the same subcommands a user would, in order, and prints each command line so the
//! demo doubles as a tutorial: simulate → (filter) → localize → eval → track → render →
//! eval --maps. Everything lands in one output folder.

use std::path::{Path, PathBuf};

use anyhow::Context as _;

use super::Context;
use super::localize::MethodArg;
use super::simulate::PresetArg;
use crate::output::choice_name;

/// Options of `ulm demo`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Output folder (created; existing files in it are replaced).
    #[arg(short, long, value_name = "DIR", default_value = "out/demo")]
    out: PathBuf,
    /// Simulation preset: cortex (rodent-brain-like vascular bed, the default: its maps look
    /// like a ULM image), sparse, dense, tissue (clutter on; the demo SVD-filters it) or deep.
    #[arg(long, value_enum, default_value_t = PresetArg::Cortex)]
    preset: PresetArg,
    /// Number of frames to simulate (2 s at 1 kHz: enough for the cortex bed's vessels to
    /// fill in).
    #[arg(long, default_value_t = 2000)]
    frames: usize,
    /// Expected bubbles per frame. Default: 120 for cortex (so that 2,000 frames fill its
    /// penetrating vessels and deep trees, as a long in-vivo acquisition does), the
    /// preset's own otherwise.
    #[arg(long, value_name = "N")]
    bubbles_per_frame: Option<f64>,
    /// Random seed (the whole demo is deterministic given it).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Localization method.
    #[arg(long, value_enum, default_value_t = MethodArg::Radial)]
    method: MethodArg,
}

/// Runs one `ulm` subcommand from its words, echoing the command line.
fn step(n: usize, total: usize, words: &[String], ctx: &Context) -> anyhow::Result<()> {
    ctx.summary(format_args!("[{n}/{total}] ulm {}", words.join(" ")));
    let mut argv = vec!["ulm".to_string()];
    if ctx.quiet {
        argv.push("-q".into());
    }
    argv.extend(words.iter().cloned());
    let cli =
        crate::Cli::try_parse_from_args(&argv).map_err(|e| anyhow::anyhow!("demo step `{}`: {e}", words.join(" ")))?;
    crate::dispatch(cli.command, ctx).with_context(|| format!("demo step {n}: ulm {}", words.join(" ")))
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

/// Runs `ulm demo`.
pub fn run(a: Args, ctx: &Context) -> anyhow::Result<()> {
    anyhow::ensure!(a.frames >= 2, "--frames must be at least 2, got {}", a.frames);
    let out = &a.out;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let sim = out.join("sim");
    let meta = sim.join("meta.json");
    let gt = sim.join("gt.csv");
    let locs = out.join("locs.csv");
    let tracks = out.join("tracks.csv");
    let maps = out.join("maps");
    let filter = a.preset == PresetArg::Tissue;
    let total = if filter { 8 } else { 7 };
    let mut n = 0;
    let mut next = |words: Vec<String>| {
        n += 1;
        step(n, total, &words, ctx)
    };
    let w = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let bubbles = a.bubbles_per_frame.or((a.preset == PresetArg::Cortex).then_some(120.0));
    let bubbles: Vec<String> = bubbles.map(|b| vec!["--bubbles-per-frame".into(), b.to_string()]).unwrap_or_default();

    next(
        w(&[
            "simulate",
            "--preset",
            &choice_name(&a.preset),
            "--frames",
            &a.frames.to_string(),
            "--seed",
            &a.seed.to_string(),
        ])
        .into_iter()
        .chain(bubbles)
        .chain(["--out".into(), s(&sim)])
        .collect(),
    )?;
    let frames = if filter {
        let f = out.join("filtered").join("iq.npy");
        next(vec!["filter".into(), s(&sim.join("iq.npy")), "--out".into(), s(&f), "--meta".into(), s(&meta)])?;
        f
    } else {
        sim.join("iq.npy")
    };
    next(vec![
        "localize".into(),
        s(&frames),
        "--method".into(),
        choice_name(&a.method),
        "--meta".into(),
        s(&meta),
        "--out".into(),
        s(&locs),
    ])?;
    next(vec![
        "eval".into(),
        "--pred".into(),
        s(&locs),
        "--gt".into(),
        s(&gt),
        "--meta".into(),
        s(&meta),
        "--json".into(),
        s(&out.join("eval.json")),
    ])?;
    next(vec!["track".into(), s(&locs), "--meta".into(), s(&meta), "--out".into(), s(&tracks)])?;
    next(vec![
        "render".into(),
        "--locs".into(),
        s(&gt),
        "--meta".into(),
        s(&meta),
        "--out-dir".into(),
        s(&maps),
        "--prefix".into(),
        "gt_".into(),
    ])?;
    next(vec![
        "render".into(),
        "--locs".into(),
        s(&locs),
        "--tracks".into(),
        s(&tracks),
        "--frames".into(),
        s(&frames),
        "--meta".into(),
        s(&meta),
        "--out-dir".into(),
        s(&maps),
        "--prefix".into(),
        "pred_".into(),
    ])?;
    next(vec![
        "eval".into(),
        "--map".into(),
        s(&maps.join("pred_loc_density.npy")),
        "--gt-map".into(),
        s(&maps.join("gt_loc_density.npy")),
        "--frc-locs".into(),
        s(&locs),
        "--frc-meta".into(),
        s(&meta),
        "--curves-dir".into(),
        s(&maps),
        "--maps-json".into(),
        s(&maps.join("map_eval.json")),
    ])?;
    ctx.summary(format_args!(
        "demo done: simulation in {}, localizations {}, tracks {}, maps (PNG + .npy) in {}, metrics in {} and {}",
        sim.display(),
        locs.display(),
        tracks.display(),
        maps.display(),
        out.join("eval.json").display(),
        maps.join("map_eval.json").display()
    ));
    Ok(())
}
