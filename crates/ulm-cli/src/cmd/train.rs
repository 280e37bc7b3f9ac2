//! `ulm train`: train DE-DETR, DETR or the U-Net from a `train.toml` (see
//! `configs/train.example.toml`; `[model] kind = "unet"` files are parsed by `ulm-unet`,
//! e.g. `configs/unet-tiny-128.toml`), writing `runs/NAME/`; `--resume` continues a run
//! exactly, Ctrl-C saves a checkpoint before exiting.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context as _;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use ulm_data::sim_source::SimSource;
use ulm_detr::train::{DataFiles, DataSpec, DeformableDetrTask, DetrTask, ModelKind, TrainFile};
use ulm_train::{RunOptions, StepInfo, TrainConfig, TrainObserver, TrainOutcome, TrainTask, ValidationScores};
use ulm_unet::UnetTrainFile;

use super::Context;

/// Options of `ulm train`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The training configuration (`train.toml`; every field is documented in
    /// `configs/train.example.toml`).
    #[arg(long)]
    config: PathBuf,
    /// Continue the run `runs_dir/name` from its last checkpoint.
    #[arg(long)]
    resume: bool,
    /// Start from these weights (a folder with `model.safetensors` and `config.json`).
    #[arg(long, value_name = "DIR")]
    init: Option<PathBuf>,
    /// Override `train.steps` (e.g. to extend a finished run with `--resume`).
    #[arg(long)]
    steps: Option<usize>,
}

/// Progress bar with the loss components, steps/s and ETA.
struct BarObserver {
    bar: ProgressBar,
    last_val: Option<ValidationScores>,
}

impl TrainObserver for BarObserver {
    fn start(&mut self, first_step: usize, total: usize) {
        self.bar.set_length(total as u64);
        self.bar.set_position(first_step as u64);
        self.bar.reset_eta();
    }

    fn step(&mut self, info: &StepInfo<'_>) {
        let parts: Vec<String> = info.names.iter().zip(info.components).map(|(n, v)| format!("{n} {v:.3}")).collect();
        let val = self.last_val.map(|v| format!(" | val F1 {:.3}", v.f1)).unwrap_or_default();
        self.bar.set_message(format!("loss {:.3} ({}) lr {:.1e}{val}", info.loss, parts.join(", "), info.lr));
        self.bar.set_position(info.step as u64);
    }

    fn validation(&mut self, step: usize, s: &ValidationScores) {
        self.last_val = Some(*s);
        self.bar.println(format!(
            "step {step}: val P {:.3} R {:.3} F1 {:.3} RMSE {:.3} λ (threshold {:.2})",
            s.precision, s.recall, s.f1, s.rmse_wavelengths, s.threshold
        ));
    }

    fn message(&mut self, msg: &str) {
        self.bar.println(msg);
    }
}

fn source(spec: &DataSpec) -> anyhow::Result<SimSource> {
    match spec {
        DataSpec::Sim(c) => SimSource::new(c).context("rendering simulated patches"),
    }
}

/// The run's loop settings, data and resolved config file.
type RunFile<'a> = (&'a TrainConfig, &'a DataFiles, String);

fn run_task<T: TrainTask>(task: &T, file: RunFile<'_>, args: &Args, ctx: &Context) -> anyhow::Result<TrainOutcome> {
    let (config, data, resolved) = file;
    let train = source(&data.train)?;
    let val = source(&data.val)?;
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    // A second Ctrl-C while the checkpoint is written still waits for it.
    ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst)).context("installing the Ctrl-C handler")?;
    let bar = ProgressBar::with_draw_target(
        Some(config.steps as u64),
        if ctx.quiet { ProgressDrawTarget::hidden() } else { ProgressDrawTarget::stderr() },
    );
    let style = "{msg}\n[{elapsed_precise}] {wide_bar} {pos}/{len} steps ({per_sec}, ETA {eta})";
    bar.set_style(ProgressStyle::with_template(style).unwrap_or_else(|_| ProgressStyle::default_bar()));
    let mut observer = BarObserver { bar, last_val: None };
    let device = burn::tensor::Device::flex().autodiff();
    let options = RunOptions {
        resume: args.resume,
        stop: Some(&stop),
        resolved_config: Some(resolved),
        init_weights: args.init.clone(),
    };
    let out = ulm_train::train(task, config, &train, &val, &device, options, &mut observer)?;
    observer.bar.finish_and_clear();
    Ok(out)
}

/// Runs `ulm train`.
///
/// # Errors
/// An unreadable or invalid config, a run that exists (without `--resume`), or a failure
/// while training or writing records.
pub fn run(args: Args, ctx: &Context) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.config).with_context(|| format!("reading {}", args.config.display()))?;
    let steps = |c: &mut TrainConfig| -> anyhow::Result<()> {
        if let Some(steps) = args.steps {
            c.steps = steps;
            c.validate().context("--steps")?;
        }
        Ok(())
    };
    let out = if ulm_unet::is_unet_config(&text) {
        let mut file = UnetTrainFile::parse(&text, &args.config)?;
        steps(&mut file.train)?;
        run_task(&file.task(), (&file.train, &file.data, file.to_toml()), &args, ctx)?
    } else {
        let mut file = TrainFile::parse(&text, &args.config)?;
        steps(&mut file.train)?;
        let run = (&file.train, &file.data, file.to_toml());
        match file.model.kind {
            ModelKind::DeformableDetr => run_task(&DeformableDetrTask::from_spec(&file.model), run, &args, ctx)?,
            ModelKind::Detr => run_task(&DetrTask::from_spec(&file.model), run, &args, ctx)?,
        }
    };
    let best = out
        .best
        .map(|(step, s)| format!("best val F1 {:.3} (P {:.3}, R {:.3}) at step {step}", s.f1, s.precision, s.recall))
        .unwrap_or_else(|| "no validation yet".into());
    let state = if out.interrupted { "interrupted (checkpoint saved; continue with --resume)" } else { "done" };
    eprintln!(
        "{state}: {} steps, {:.0} s, {} skipped; {best}; records in {}",
        out.steps_done,
        out.wall_s,
        out.skipped_steps,
        out.run_dir.display()
    );
    Ok(())
}
