//! `ulm train`: train DE-DETR, DETR, the U-Net or a pretraining backbone
//! (`kind = "backbone-heatmap"`) from a `train.toml` (see
//! `configs/train.example.toml`; `[model] kind = "unet"` files are parsed by `ulm-unet`,
//! e.g. `configs/unet-tiny-128.toml`), writing `runs/NAME/`; `--resume` continues a run
//! exactly, Ctrl-C saves a checkpoint before exiting.

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context as _;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use ulm_data::SampleSource;
use ulm_data::randomized::RandomizedSource;
use ulm_data::sim_source::SimSource;
use ulm_detr::pretrain::BackboneHeatmapTask;
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
    /// Do not train: package the run's best checkpoint (`runs_dir/name/best/` with the
    /// run's config, metrics.csv and curves.png) into DIR, a self-contained model folder
    /// for `ulm localize --method de-detr|detr --weights DIR` (how `models/de-detr` was
    /// made).
    #[arg(long, value_name = "DIR", conflicts_with_all = ["resume", "init", "steps"])]
    package: Option<PathBuf>,
}

/// Progress bar with the loss components, steps/s and ETA. When stderr is not a terminal
/// (a log file of a background run) the bar is hidden and `plain` lines go to stderr
/// instead: every validation, every message and a progress line every 50 steps.
struct BarObserver {
    bar: ProgressBar,
    last_val: Option<ValidationScores>,
    plain: bool,
}

impl BarObserver {
    fn println(&self, line: String) {
        if self.plain {
            eprintln!("{line}");
        } else {
            self.bar.println(line);
        }
    }
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
        if self.plain && info.step.is_multiple_of(50) {
            let eta = self.bar.eta().as_secs();
            eprintln!(
                "step {}/{}: {} ({:.2} steps/s, ETA {}h{:02}m)",
                info.step,
                self.bar.length().unwrap_or(0),
                self.bar.message(),
                self.bar.per_sec(),
                eta / 3600,
                eta % 3600 / 60
            );
        }
    }

    fn validation(&mut self, step: usize, s: &ValidationScores) {
        self.last_val = Some(*s);
        let coco = if s.coco_ap.is_nan() {
            String::new()
        } else {
            format!("; COCO AP {:.3} AP50 {:.3} AR100 {:.3}", s.coco_ap, s.coco_ap50, s.coco_ar100)
        };
        self.println(format!(
            "step {step}: val P {:.3} R {:.3} F1 {:.3} RMSE {:.3} λ (threshold {:.2}){coco}",
            s.precision, s.recall, s.f1, s.rmse_wavelengths, s.threshold
        ));
    }

    fn message(&mut self, msg: &str) {
        self.println(msg.to_string());
    }
}

/// The samples of one `[data.*]` table, rendered now (a randomised mix is simulated once,
/// in parallel, with a progress bar, so that random batches never simulate again).
fn source(spec: &DataSpec, what: &str, ctx: &Context) -> anyhow::Result<Box<dyn SampleSource>> {
    match spec {
        DataSpec::Sim(c) => {
            Ok(Box::new(SimSource::new(c).with_context(|| format!("rendering the simulated {what} patches"))?))
        }
        DataSpec::Randomized(c) => {
            let mut src = RandomizedSource::new((**c).clone()).with_context(|| format!("data.{what}"))?;
            let bar = crate::progress::Bar::new(src.n_acquisitions() as u64, "acquisitions", ctx.quiet);
            ulm_core::Progress::set_message(&bar, &format!("simulating the {what} mix"));
            src.preload(&bar).with_context(|| format!("simulating the randomised {what} mix"))?;
            Ok(Box::new(src))
        }
        DataSpec::Coco(c) => Ok(Box::new(c.load().with_context(|| format!("reading the {what} COCO dataset"))?)),
    }
}

/// The run's loop settings, data and resolved config file.
type RunFile<'a> = (&'a TrainConfig, &'a DataFiles, String);

fn run_task<T: TrainTask>(task: &T, file: RunFile<'_>, args: &Args, ctx: &Context) -> anyhow::Result<TrainOutcome> {
    let (config, data, resolved) = file;
    let train = source(&data.train, "train", ctx)?;
    let val = source(&data.val, "val", ctx)?;
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
    let plain = !ctx.quiet && !std::io::stderr().is_terminal();
    let mut observer = BarObserver { bar, last_val: None, plain };
    let device = burn::tensor::Device::flex().autodiff();
    let options = RunOptions {
        resume: args.resume,
        stop: Some(&stop),
        resolved_config: Some(resolved),
        init_weights: args.init.clone(),
    };
    let out = ulm_train::train(task, config, train.as_ref(), val.as_ref(), &device, options, &mut observer)?;
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
    if let Some(dest) = &args.package {
        anyhow::ensure!(
            !ulm_unet::is_unet_config(&text),
            "{}: --package makes DE-DETR/DETR model folders; a U-Net run's best/ folder is already one",
            args.config.display()
        );
        let file = TrainFile::parse(&text, &args.config)?;
        anyhow::ensure!(
            file.model.kind != ModelKind::BackboneHeatmap,
            "{}: a backbone-heatmap run is backbone pretraining, not a detector: use its best/ folder as \
             model.backbone_init of a DE-DETR/DETR run",
            args.config.display()
        );
        let run_dir = std::path::Path::new(&file.train.runs_dir).join(&file.train.name);
        let folder = ulm_detr::localizer::ModelFolder::package(&run_dir, dest)
            .with_context(|| format!("packaging {} into {}", run_dir.display(), dest.display()))?;
        ctx.summary(format_args!(
            "packaged {} (step {}, validation F1 {:.3} at score threshold {:.2}) into {}",
            run_dir.display(),
            folder.calibration.step,
            folder.calibration.scores.f1,
            folder.calibration.scores.threshold,
            dest.display()
        ));
        return Ok(());
    }
    let out = if ulm_unet::is_unet_config(&text) {
        let mut file = UnetTrainFile::parse(&text, &args.config)?;
        steps(&mut file.train)?;
        run_task(
            &file.task().context("the U-Net trains on simulator patches only")?,
            (&file.train, &file.data, file.to_toml()),
            &args,
            ctx,
        )?
    } else {
        let mut file = TrainFile::parse(&text, &args.config)?;
        steps(&mut file.train)?;
        anyhow::ensure!(
            args.init.is_none() || file.model.backbone_init.is_none(),
            "{}: --init loads the whole model, model.backbone_init only its backbone: use one of them",
            args.config.display()
        );
        // Before the data is simulated (minutes): the folder must hold weights.
        if let Some(dir) = file.model.backbone_init.as_ref().filter(|_| !args.resume) {
            let weights = dir.join("model.safetensors");
            anyhow::ensure!(
                weights.is_file(),
                "{}: model.backbone_init: {} does not exist",
                args.config.display(),
                weights.display()
            );
        }
        let run = (&file.train, &file.data, file.to_toml());
        match file.model.kind {
            ModelKind::DeformableDetr => run_task(&DeformableDetrTask::from_spec(&file.model), run, &args, ctx)?,
            ModelKind::Detr => run_task(&DetrTask::from_spec(&file.model), run, &args, ctx)?,
            ModelKind::BackboneHeatmap => run_task(&BackboneHeatmapTask::from_spec(&file.model), run, &args, ctx)?,
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
