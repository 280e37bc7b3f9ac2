//! One training step of the `tiny` and `paper` DE-DETR presets, the way `ulm train` does it
//! ([`ulm_train::train`]): forward, set loss with Hungarian matching ([`DeformableDetrTask::loss`]),
//! backward, global gradient norm, AdamW (all parameters trained). Batch 8 of 1×256×256 random
//! patches with 10 small boxes each, CPU (`flex`).
//!
//! - `train_step/{tiny,paper}`: the whole step;
//! - `fwd_bwd/{tiny,paper}`: forward + loss + backward only (the gradients are read back);
//! - `adamw/{tiny,paper}`: the optimiser step alone, on a fixed set of gradients;
//! - `train_step/heatmap-tiny`: a backbone-pretraining step (`kind = "backbone-heatmap"`:
//!   the tiny backbone + heatmap head, no transformer, no matching).
//!
//! Compare with `python scripts/train_step_pytorch.py` (HuggingFace
//! `DeformableDetrForObjectDetection` with its own loss, every parameter trained, 2 threads).
//! `ULM_BENCH_CONFIGS=tiny,heatmap-tiny` restricts the configs.
// criterion's macros generate undocumented functions.
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use burn::lr_scheduler::module_lr_scheduler::{ModuleLearningRate, ModuleLrScheduler};
use burn::module::{Module, ModuleVisitor, Param, ParamGroup};
use burn::optim::{AdamWConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};
use ulm_core::Geometry;
use ulm_data::Sample;
use ulm_detr::criterion::{CriterionConfig, SetCriterion};
use ulm_detr::dn::DnConfig;
use ulm_detr::pretrain::BackboneHeatmapTask;
use ulm_detr::train::{DeformableDetrTask, ModelKind, ModelSpec, ProposalAssign};
use ulm_detr::{DeformableDetr, DeformableDetrConfig};
use ulm_train::trainer::grad_norm;
use ulm_train::{FusedAdamW, TrainTask};

const BATCH: usize = 8;
const SIZE: usize = 256;
const BOXES: usize = 10;

/// Deterministic uniform numbers in `[0, 1)` (an LCG; the values do not matter, the shapes do).
fn uniform(state: &mut u64) -> f32 {
    *state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (*state >> 40) as f32 / (1u64 << 24) as f32
}

/// `BATCH` random patches, each with `BOXES` boxes of 4–8 px.
fn batch() -> Vec<Sample> {
    let mut s = 7u64;
    let geometry = Geometry::half_wavelength_grid(0.2, 0.0, 0.0, 1000.0).expect("valid geometry");
    (0..BATCH)
        .map(|_| {
            let image: Vec<f32> = (0..SIZE * SIZE).map(|_| uniform(&mut s)).collect();
            let boxes: Vec<[f32; 4]> = (0..BOXES)
                .map(|_| {
                    let w = (4.0 + 4.0 * uniform(&mut s)) / SIZE as f32;
                    let h = (4.0 + 4.0 * uniform(&mut s)) / SIZE as f32;
                    [0.05 + 0.9 * uniform(&mut s), 0.05 + 0.9 * uniform(&mut s), w, h]
                })
                .collect();
            let centers_mm = boxes.iter().map(|b| (f64::from(b[0]), f64::from(b[1]))).collect();
            Sample { image, height: SIZE, width: SIZE, valid_rows: SIZE, valid_cols: SIZE, boxes, geometry, centers_mm }
        })
        .collect()
}

fn task(config: DeformableDetrConfig) -> DeformableDetrTask {
    DeformableDetrTask {
        config,
        criterion: SetCriterion::new(CriterionConfig::deformable_detr()),
        top_k: 100,
        dn: DnConfig { queries: 0, box_noise: 0.4 },
        backbone_init: None,
        proposal_assign: ProposalAssign::Hungarian,
    }
}

/// `ulm train`'s optimizer with its default settings ([`FusedAdamW`]), or burn's `AdamW` with
/// the same settings when `ULM_ADAMW=burn`.
fn adamw() -> ModuleOptimizer {
    if std::env::var("ULM_ADAMW").is_ok_and(|v| v == "burn") {
        AdamWConfig::new().with_epsilon(1e-8).with_weight_decay(1e-4).init()
    } else {
        FusedAdamW::new(0.9, 0.999, 1e-8, 1e-4).init()
    }
}

/// A copy of the gradients of `model`'s parameters.
struct CopyGrads<'a> {
    from: &'a GradientsParams,
    to: GradientsParams,
}

impl ModuleVisitor for CopyGrads<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(g) = self.from.get::<D>(param.id) {
            // A deep copy: the optimizer then owns the only handle, as in training.
            self.to.register(param.id, Tensor::<D>::from_data(g.to_data(), &g.device()));
        }
    }
}

fn copy_grads(model: &DeformableDetr, grads: &GradientsParams) -> GradientsParams {
    let mut v = CopyGrads { from: grads, to: GradientsParams::new() };
    model.visit(&mut v);
    v.to
}

/// Forward + loss + backward; the gradients of the model's parameters.
fn fwd_bwd(task: &DeformableDetrTask, model: &DeformableDetr, batch: &[Sample], device: &Device) -> GradientsParams {
    let loss = task.loss(model, batch, device).expect("finite loss");
    let value = loss.total.clone().into_scalar::<f32>();
    assert!(value.is_finite(), "loss {value}");
    GradientsParams::from_grads(loss.total.backward(), model)
}

/// Reading a parameter back waits for the update.
fn probe(model: &DeformableDetr) -> TensorData {
    model.class_embed[0].weight.val().slice([0..1, 0..1]).into_data()
}

/// The learning rates as `ulm train` sets them: a base rate and a backbone multiplier (0.1).
fn lrs() -> ModuleLearningRate {
    ModuleLrScheduler::new(1e-4).with_group(ParamGroup::from_predicate("backbone"), 1e-5).step()
}

fn bench(c: &mut Criterion) {
    let device = Device::flex().autodiff();
    let only = std::env::var("ULM_BENCH_CONFIGS").unwrap_or_default();
    let batch = batch();
    for (name, config) in [("tiny", DeformableDetrConfig::tiny()), ("paper", DeformableDetrConfig::paper())] {
        if !only.is_empty() && !only.split(',').any(|o| o == name) {
            continue;
        }
        let task = task(config);
        device.seed(1);
        let mut model = task.init_model(&device);
        let mut optim = adamw();
        let secs = if name == "tiny" { 15 } else { 60 };

        let mut group = c.benchmark_group("fwd_bwd");
        group.sample_size(10).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(secs));
        // One step per sample: 10 samples of a paper step take ~1.5 min already.
        group.sampling_mode(SamplingMode::Flat);
        group.bench_function(name, |b| {
            b.iter(|| {
                let grads = fwd_bwd(&task, &model, &batch, &device);
                black_box(grad_norm(&model, &grads))
            })
        });
        group.finish();

        let mut group = c.benchmark_group("adamw");
        group.sample_size(10).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(5));
        group.sampling_mode(SamplingMode::Flat);
        let grads = fwd_bwd(&task, &model, &batch, &device);
        // The first step allocates the moment buffers; time the steady state.
        let first = copy_grads(&model, &grads);
        model = optim.step(lrs(), model, first);
        let mut slot = Some(model);
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let m = slot.take().expect("model");
                    // Unshared gradients, as `GradientsParams::from_grads` hands them over.
                    let g = copy_grads(&m, &grads);
                    let t = Instant::now();
                    let m = optim.step(lrs(), m, g);
                    black_box(probe(&m));
                    total += t.elapsed();
                    slot = Some(m);
                }
                total
            })
        });
        group.finish();

        let mut group = c.benchmark_group("train_step");
        group.sample_size(10).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(secs));
        // One step per sample: 10 samples of a paper step take ~1.5 min already.
        group.sampling_mode(SamplingMode::Flat);
        group.bench_function(name, |b| {
            b.iter(|| {
                let m = slot.take().expect("model");
                let grads = fwd_bwd(&task, &m, &batch, &device);
                let norm = grad_norm(&m, &grads);
                assert!(norm.is_finite(), "gradient norm {norm}");
                let m = optim.step(lrs(), m, grads);
                black_box(probe(&m));
                slot = Some(m);
            })
        });
        group.finish();
    }
    if only.is_empty() || only.split(',').any(|o| o == "heatmap-tiny") {
        heatmap_step(c, &batch, &device);
    }
}

/// `train_step/heatmap-tiny`: the backbone-pretraining step (`kind = "backbone-heatmap"`,
/// the tiny DE-DETR backbone + heatmap head, focal + offset loss), on the same batch.
fn heatmap_step(c: &mut Criterion, batch: &[Sample], device: &Device) {
    let task = BackboneHeatmapTask::from_spec(&ModelSpec { kind: ModelKind::BackboneHeatmap, ..ModelSpec::default() });
    device.seed(1);
    let mut slot = Some(task.init_model(device));
    let mut optim = adamw();
    let mut group = c.benchmark_group("train_step");
    group.sample_size(10).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(10));
    group.sampling_mode(SamplingMode::Flat);
    group.bench_function("heatmap-tiny", |b| {
        b.iter(|| {
            let m = slot.take().expect("model");
            let loss = task.loss(&m, batch, device).expect("finite loss");
            let grads = GradientsParams::from_grads(loss.total.backward(), &m);
            let norm = grad_norm(&m, &grads);
            assert!(norm.is_finite(), "gradient norm {norm}");
            let m = optim.step(lrs(), m, grads);
            black_box(m.heatmap.weight.val().slice([0..1, 0..1, 0..1, 0..1]).into_data());
            slot = Some(m);
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
