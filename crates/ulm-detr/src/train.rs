//! Training DE-DETR and DETR: their [`TrainTask`]s and the `train.toml` file format.
//!
//! `train.toml` has three tables: `[train]` (the loop, [`ulm_train::TrainConfig`]),
//! `[model]` ([`ModelSpec`]) and `[data.train]` / `[data.val]` ([`DataSpec`]); see
//! `configs/train.example.toml` for every field with its documentation.
//!
//! `kind = "backbone-heatmap"` trains the backbone alone on a dense heatmap objective
//! ([`crate::pretrain`]); `backbone_init = "DIR"` starts any kind from the backbone of a
//! model folder ([`crate::weights::load_backbone`]).

use std::path::{Path, PathBuf};

use burn::prelude::*;
use serde::{Deserialize, Serialize};
use ulm_data::randomized::{RandomizedConfig, RandomizedSource};
use ulm_data::sim_source::SimSourceConfig;
use ulm_data::{CocoSourceConfig, Sample};
use ulm_train::{Freeze, ScoredPoint, TaskLoss, TrainConfig, TrainError, TrainTask, batch_images};

use crate::backbone::{Backbone, BackboneConfig};
use crate::criterion::{CriterionConfig, ImageTargets, SetCriterion};
use crate::dn::{DnConfig, dn_batch};
use crate::postprocess::{QueryBox, detections_sigmoid, detections_softmax};
use crate::pretrain::apply_backbone_init;
use crate::two_stage::centre_assignment;
use crate::weights::{load_model, save_model};
use crate::{DeformableDetr, DeformableDetrConfig, Detr, DetrConfig};

/// Model family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModelKind {
    /// Deformable DETR (the papers' DE-DETR).
    DeformableDetr,
    /// DETR.
    Detr,
    /// Backbone pretraining: the DE-DETR preset's backbone with a heatmap head
    /// ([`crate::pretrain`]), whose backbone then initialises DE-DETR or DETR through
    /// `backbone_init`.
    BackboneHeatmap,
}

/// Size preset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SizePreset {
    /// The small CPU model ([`DeformableDetrConfig::tiny`], [`DetrConfig::tiny`]).
    Tiny,
    /// The papers' model ([`DeformableDetrConfig::paper`], [`DetrConfig::paper`]).
    Paper,
}

/// How two-stage encoder proposals are paired with the targets (`[model] proposal_assign`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProposalAssign {
    /// The Hungarian matcher (the reference).
    #[default]
    Hungarian,
    /// Each target to the finest-level cell holding its centre
    /// ([`crate::two_stage::centre_assignment`]).
    Centre,
}

/// The `[model]` table: which model, and the convergence aids.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelSpec {
    /// `deformable-detr` or `detr`. Default deformable-detr.
    pub kind: ModelKind,
    /// `tiny` or `paper`. Default tiny.
    pub preset: SizePreset,
    /// Object queries (more than the bubbles per patch). Default 100.
    pub num_queries: usize,
    /// Deformable DETR: iterative box refinement. Default true.
    pub box_refine: bool,
    /// Deformable DETR: two-stage proposals (implies box refinement). Default false.
    pub two_stage: bool,
    /// Backbone normalisation: 0 = frozen batch norm (imported weights only), `g` = group
    /// norm with `g` groups, trained (from scratch). Default 8.
    pub norm_groups: usize,
    /// Dropout of the transformer (the preset's when absent).
    pub dropout: Option<f64>,
    /// Matching cost weights (class, L1, GIoU); the references' when absent
    /// (2 / 5 / 2 Deformable DETR, 1 / 5 / 2 DETR).
    pub matcher_weights: Option<[f64; 3]>,
    /// Loss weights (class, L1, GIoU); the references' when absent.
    pub loss_weights: Option<[f64; 3]>,
    /// Losses on every decoder layer (and the two-stage proposals). Default true.
    pub aux_loss: bool,
    /// Detections kept per patch at validation/inference. Default 100.
    pub top_k: usize,
    /// Denoising queries per image during training (DN-DETR; two-stage Deformable DETR
    /// only): groups of jittered ground-truth boxes that the decoder learns to
    /// reconstruct, `groups = max(1, dn_queries / most boxes in a patch)`. 0 = off
    /// (default); 100–200 is the usual budget.
    pub dn_queries: usize,
    /// Denoising box noise λ: centres move by up to λ·w/2, sizes by up to ±λ·w.
    /// Default 0.4 (DN-DETR's).
    pub dn_box_noise: f64,
    /// Start the backbone from the model folder `DIR` (`model.safetensors` with
    /// `backbone.…` tensors: a backbone-heatmap run's `best/` or `checkpoint/`, or a DE-DETR
    /// / DETR model folder); the rest of the model keeps its initialisation. Applied when a
    /// run starts, not on `--resume`; `--init` (the whole model) excludes it. A relative
    /// path is relative to the working directory. Default none.
    pub backbone_init: Option<PathBuf>,
    /// Two-stage Deformable DETR: how the encoder proposals are paired with the bubbles for
    /// their loss. `hungarian` (default, the reference): one-to-one matching over every
    /// encoder cell, which can pair a bubble with a different cell at each step while the
    /// boxes are still random; `centre`: fixed, each bubble to the stride-4 cell holding its
    /// centre (CenterNet / FCOS), so the proposal scores learn "a bubble is here" from the
    /// first step. The decoder is matched by the Hungarian matcher either way.
    pub proposal_assign: ProposalAssign,
    /// Two-stage Deformable DETR: distinct proposals (DDQ, Zhang et al. 2023). The decoder's
    /// queries are the best-scored encoder proposals, passing over any whose box overlaps an
    /// already chosen one by an IoU above this; without it (`None`, the reference), the cells
    /// around one strong bubble can fill many query slots and crowd weak bubbles out. Stored
    /// in the model's config, so inference selects the same way. Default none.
    pub proposal_nms: Option<f64>,
    /// Two-stage Deformable DETR: distinct proposals judged by their centres instead of
    /// their boxes (exclusive with `proposal_nms`): a proposal whose centre lies closer than
    /// this many patch pixels to a better-scored chosen one's is passed over. Bubble boxes
    /// are a PSF wide, so an IoU bound also passes over the second of two bubbles a PSF
    /// width apart; a distance of about λ/2 keeps both and still drops the duplicates on
    /// one bubble. Stored in the model's config. Default none.
    pub proposal_nms_px: Option<f64>,
    /// DETR: the backbone stage whose features the transformer sees, 1–4 (`tiny`:
    /// strides 4, 8, 16, 32; `paper`: ResNet-50's, the same strides). A finer stage gives
    /// the global-attention encoder more tokens (`(patch / stride)²`) and the decoder finer
    /// features to point at: DETR-DC5's idea (stride 16 instead of 32), here for bubbles of
    /// a pixel or two. Default: the preset's (`tiny` 3, `paper` 4).
    pub feature_stage: Option<usize>,
    /// Backbone-heatmap: σ of the target Gaussians, input pixels. Default 2 (half a cell of
    /// the stride-4 grid).
    pub heatmap_sigma_px: f64,
    /// Backbone-heatmap: weight of the L1 sub-cell offset loss. Default 1 (CenterNet's).
    pub offset_weight: f64,
}

impl Default for ModelSpec {
    fn default() -> Self {
        Self {
            kind: ModelKind::DeformableDetr,
            preset: SizePreset::Tiny,
            num_queries: 100,
            box_refine: true,
            two_stage: false,
            norm_groups: 8,
            dropout: None,
            matcher_weights: None,
            loss_weights: None,
            aux_loss: true,
            top_k: 100,
            dn_queries: 0,
            dn_box_noise: 0.4,
            backbone_init: None,
            proposal_assign: ProposalAssign::Hungarian,
            proposal_nms: None,
            proposal_nms_px: None,
            feature_stage: None,
            heatmap_sigma_px: 2.0,
            offset_weight: 1.0,
        }
    }
}

/// One data source of `[data.train]` / `[data.val]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "source", rename_all = "lowercase")]
pub enum DataSpec {
    /// Patches rendered from the simulator ([`SimSourceConfig`]).
    Sim(SimSourceConfig),
    /// Domain-randomised simulator mix ([`RandomizedConfig`]: presets, PSF models and
    /// widths, side lobes, SNR, density, depth, tissue residue drawn per acquisition).
    Randomized(Box<RandomizedConfig>),
    /// A COCO dataset, e.g. your own frames and labels exported by `ulm dataset`
    /// ([`CocoSourceConfig`]).
    Coco(Box<CocoSourceConfig>),
}

/// The `[data]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataFiles {
    /// Training samples.
    pub train: DataSpec,
    /// Validation samples (held out: other seeds).
    pub val: DataSpec,
}

/// A whole `train.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainFile {
    /// The loop.
    #[serde(default)]
    pub train: TrainConfig,
    /// The model.
    #[serde(default)]
    pub model: ModelSpec,
    /// The data.
    pub data: DataFiles,
}

fn check_data(d: &DataSpec, name: &str) -> Result<(), String> {
    match d {
        DataSpec::Sim(s) => {
            let field = |f: &str, what: &str| Err(format!("data.{name}.{f} must be {what}"));
            if !(16..=1024).contains(&s.size) {
                return field("size", "in 16..=1024");
            }
            if s.simulations == 0 || s.simulations > 10_000 {
                return field("simulations", "in 1..=10000");
            }
            if s.frames_per_simulation == 0 || s.frames_per_simulation > 100_000 {
                return field("frames_per_simulation", "in 1..=100000");
            }
            if !(s.box_px.is_finite() && s.box_px > 0.0 && s.box_px <= s.size as f32) {
                return field("box_px", "in (0, size]");
            }
            if !(s.dynamic_range_db.is_finite() && s.dynamic_range_db > 0.0) {
                return field("dynamic_range_db", "> 0");
            }
            if s.bubbles_per_frame.is_some_and(|b| !(b.is_finite() && b > 0.0 && b < 1e5)) {
                return field("bubbles_per_frame", "in (0, 1e5)");
            }
            Ok(())
        }
        DataSpec::Randomized(r) => {
            if r.samples == 0 || r.samples > 1_000_000 {
                return Err(format!("data.{name}.samples must be in 1..=1000000"));
            }
            if r.patch > 1024 {
                return Err(format!("data.{name}.patch must be <= 1024"));
            }
            // Validates every range and name without simulating anything.
            RandomizedSource::new((**r).clone()).map(|_| ()).map_err(|e| format!("data.{name}: {e}"))
        }
        DataSpec::Coco(c) => c.validate().map_err(|e| format!("data.{name}: {e}")),
    }
}

impl TrainFile {
    /// Parses and validates a `train.toml`; `path` names the file in errors.
    ///
    /// # Errors
    /// [`TrainError::Config`] naming the file and the problem (TOML syntax, unknown key,
    /// out-of-range value).
    pub fn parse(text: &str, path: &Path) -> Result<Self, TrainError> {
        let err = |m: String| TrainError::Config(format!("{}: {m}", path.display()));
        let file: TrainFile = toml::from_str(text).map_err(|e| err(e.to_string()))?;
        file.train.validate().map_err(|e| err(e.to_string()))?;
        let m = &file.model;
        if m.num_queries == 0 || m.num_queries > 10_000 {
            return Err(err("model.num_queries must be in 1..=10000".into()));
        }
        if m.top_k == 0 {
            return Err(err("model.top_k must be at least 1".into()));
        }
        if m.dropout.is_some_and(|d| !(0.0..1.0).contains(&d)) {
            return Err(err("model.dropout must be in [0, 1)".into()));
        }
        let ok3 = |w: &Option<[f64; 3]>| w.is_none_or(|w| w.iter().all(|v| v.is_finite() && *v >= 0.0));
        if !ok3(&m.matcher_weights) || !ok3(&m.loss_weights) {
            return Err(err("model.matcher_weights / loss_weights must be finite and >= 0".into()));
        }
        if m.dn_queries > 10_000 || !(m.dn_box_noise.is_finite() && (0.0..=2.0).contains(&m.dn_box_noise)) {
            return Err(err("model.dn_queries must be <= 10000 and model.dn_box_noise in [0, 2]".into()));
        }
        if m.dn_queries > 0 && !(m.kind == ModelKind::DeformableDetr && m.two_stage) {
            return Err(err(
                "model.dn_queries needs kind = \"deformable-detr\" with two_stage = true (denoising queries are \
                 embedded like two-stage proposals)"
                    .into(),
            ));
        }
        if m.proposal_assign == ProposalAssign::Centre && !(m.kind == ModelKind::DeformableDetr && m.two_stage) {
            return Err(err(
                "model.proposal_assign = \"centre\" needs kind = \"deformable-detr\" with two_stage = true (it pairs \
                 the two-stage encoder proposals)"
                    .into(),
            ));
        }
        let selects_proposals = |key: &str| {
            err(format!(
                "model.{key} needs kind = \"deformable-detr\" with two_stage = true (it selects the two-stage \
                 encoder proposals)"
            ))
        };
        let two_stage_detr = m.kind == ModelKind::DeformableDetr && m.two_stage;
        if let Some(t) = m.proposal_nms {
            if !two_stage_detr {
                return Err(selects_proposals("proposal_nms"));
            }
            if !(t.is_finite() && t > 0.0 && t <= 1.0) {
                return Err(err(format!("model.proposal_nms must be an IoU in (0, 1], got {t}")));
            }
        }
        if let Some(px) = m.proposal_nms_px {
            if !two_stage_detr {
                return Err(selects_proposals("proposal_nms_px"));
            }
            if m.proposal_nms.is_some() {
                return Err(err("model.proposal_nms and model.proposal_nms_px: set one, not both".into()));
            }
            if !(px.is_finite() && px > 0.0 && px <= 64.0) {
                return Err(err(format!("model.proposal_nms_px must be a distance in (0, 64] pixels, got {px}")));
            }
        }
        if let Some(stage) = m.feature_stage {
            if m.kind != ModelKind::Detr {
                return Err(err(
                    "model.feature_stage applies to kind = \"detr\" only (Deformable DETR reads stages 1-3 at once)"
                        .into(),
                ));
            }
            if !(1..=4).contains(&stage) {
                return Err(err(format!("model.feature_stage must be a backbone stage in 1..=4, got {stage}")));
            }
        }
        if !(m.heatmap_sigma_px.is_finite() && m.heatmap_sigma_px > 0.0 && m.heatmap_sigma_px <= 32.0) {
            return Err(err("model.heatmap_sigma_px must be in (0, 32]".into()));
        }
        if !(m.offset_weight.is_finite() && m.offset_weight >= 0.0) {
            return Err(err("model.offset_weight must be finite and >= 0".into()));
        }
        if m.backbone_init.as_ref().is_some_and(|p| p.as_os_str().is_empty()) {
            return Err(err("model.backbone_init must be a model folder, not an empty path".into()));
        }
        let widths = match m.preset {
            SizePreset::Tiny => vec![16, 32, 64, 128],
            SizePreset::Paper => vec![64, 64, 128, 256, 512],
        };
        if m.norm_groups > 0 && widths.iter().any(|w: &usize| !w.is_multiple_of(m.norm_groups)) {
            return Err(err(format!("model.norm_groups {} must divide the backbone widths {widths:?}", m.norm_groups)));
        }
        check_data(&file.data.train, "train").map_err(err)?;
        check_data(&file.data.val, "val").map_err(err)?;
        Ok(file)
    }

    /// The file as TOML (the resolved configuration stored with a run).
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_default()
    }
}

pub(crate) fn with_norm(backbone: BackboneConfig, groups: usize) -> BackboneConfig {
    match backbone {
        BackboneConfig::ResNet(r) => BackboneConfig::ResNet(r.with_norm_groups(groups)),
        other => other,
    }
}

fn criterion(spec: &ModelSpec, mut c: CriterionConfig) -> SetCriterion {
    if let Some([a, b, g]) = spec.matcher_weights {
        c.matcher.class_weight = a;
        c.matcher.bbox_weight = b;
        c.matcher.giou_weight = g;
    }
    if let Some([a, b, g]) = spec.loss_weights {
        c.class_weight = a;
        c.bbox_weight = b;
        c.giou_weight = g;
    }
    c.aux_loss = spec.aux_loss;
    SetCriterion::new(c)
}

pub(crate) fn freeze_backbone(backbone: Backbone, freeze: Freeze) -> Backbone {
    match (backbone, freeze) {
        (b, Freeze::None) => b,
        (b, Freeze::Backbone) => b.set_require_grad(false),
        (Backbone::ResNet(mut r), f) => {
            r.conv1 = r.conv1.set_require_grad(false);
            r.bn1 = r.bn1.set_require_grad(false);
            if f == Freeze::Stage1 {
                r.layer1 = r.layer1.set_require_grad(false);
            }
            Backbone::ResNet(r)
        }
        (Backbone::Light(mut l), f) => {
            if let Some(stage) = l.stages.first_mut() {
                if f == Freeze::Stage1 {
                    *stage = std::mem::take(stage).set_require_grad(false);
                } else if let Some(conv) = stage.first_mut() {
                    *conv = conv.clone().set_require_grad(false);
                }
            }
            Backbone::Light(l)
        }
    }
}

fn targets(batch: &[Sample]) -> Vec<ImageTargets> {
    batch.iter().map(|s| ImageTargets { boxes: s.boxes.clone(), labels: vec![0; s.boxes.len()] }).collect()
}

fn to_points(dets: Vec<Vec<QueryBox>>, batch: &[Sample]) -> Vec<Vec<ScoredPoint>> {
    dets.into_iter()
        .zip(batch)
        .map(|(d, s)| {
            d.into_iter()
                .map(|d| {
                    let col = f64::from(d.cx) * s.width as f64 - 0.5;
                    let row = f64::from(d.cy) * s.height as f64 - 0.5;
                    let (x_mm, z_mm) = s.geometry.px_to_mm(col, row);
                    let g = &s.geometry;
                    let w_mm = f64::from(d.w) * s.width as f64 * g.pixel_size_x_mm;
                    let h_mm = f64::from(d.h) * s.height as f64 * g.pixel_size_z_mm;
                    ScoredPoint { x_mm, z_mm, score: d.score, size_mm: Some((w_mm, h_mm)) }
                })
                .collect()
        })
        .collect()
}

/// Deformable DETR as a [`TrainTask`].
#[derive(Debug, Clone)]
pub struct DeformableDetrTask {
    /// Model configuration.
    pub config: DeformableDetrConfig,
    /// Set criterion.
    pub criterion: SetCriterion,
    /// Detections kept per patch.
    pub top_k: usize,
    /// Denoising queries (training only).
    pub dn: DnConfig,
    /// Backbone weights to start from (`[model] backbone_init`).
    pub backbone_init: Option<PathBuf>,
    /// How the encoder proposals are paired with the targets (two-stage).
    pub proposal_assign: ProposalAssign,
}

impl DeformableDetrTask {
    /// The task for a `[model]` table.
    pub fn from_spec(spec: &ModelSpec) -> Self {
        let base = match spec.preset {
            SizePreset::Tiny => DeformableDetrConfig::tiny(),
            SizePreset::Paper => DeformableDetrConfig::paper(),
        };
        let backbone = with_norm(base.backbone.clone(), spec.norm_groups);
        let dropout = spec.dropout.unwrap_or(base.dropout);
        let config = base
            .with_backbone(backbone)
            .with_num_queries(spec.num_queries)
            .with_two_stage_num_proposals(spec.num_queries)
            .with_with_box_refine(spec.box_refine)
            .with_two_stage(spec.two_stage)
            .with_two_stage_nms(spec.proposal_nms)
            .with_two_stage_nms_px(spec.proposal_nms_px)
            .with_dropout(dropout);
        Self {
            config,
            criterion: criterion(spec, CriterionConfig::deformable_detr()),
            top_k: spec.top_k,
            dn: DnConfig { queries: spec.dn_queries, box_noise: spec.dn_box_noise },
            backbone_init: spec.backbone_init.clone(),
            proposal_assign: spec.proposal_assign,
        }
    }
}

impl TrainTask for DeformableDetrTask {
    type Model = DeformableDetr;

    fn name(&self) -> String {
        "deformable-detr".into()
    }

    fn init_model(&self, device: &Device) -> DeformableDetr {
        self.config.init(device)
    }

    fn freeze(&self, mut model: DeformableDetr, freeze: Freeze) -> DeformableDetr {
        model.backbone = freeze_backbone(model.backbone, freeze);
        model
    }

    fn loss_names(&self) -> Vec<&'static str> {
        vec!["class", "bbox", "giou"]
    }

    fn loss(&self, model: &DeformableDetr, batch: &[Sample], device: &Device) -> Result<TaskLoss, String> {
        let targets = targets(batch);
        let dn = if model.two_stage.is_some() { dn_batch(&self.dn, &targets, device) } else { None };
        let (out, dn_out) = model.forward_dn(batch_images(batch, device), dn.as_ref());
        let layers = if self.criterion.config.aux_loss { out.aux_outputs } else { vec![(out.logits, out.pred_boxes)] };
        let enc_pairs = (self.proposal_assign == ProposalAssign::Centre)
            .then(|| targets.iter().map(|t| centre_assignment(&t.boxes, &out.spatial_shapes)).collect::<Vec<_>>());
        let l = self
            .criterion
            .loss_with_proposal_pairs(&layers, out.enc_outputs.as_ref(), enc_pairs.as_deref(), &targets)
            .map_err(|e| e.to_string())?;
        let mut total = l.total;
        if let (Some(dn), Some(dn_out)) = (dn, dn_out)
            && let Some(d) = self.criterion.dn_loss(&dn_out, &dn, &targets).map_err(|e| e.to_string())?
        {
            total = total + d;
        }
        Ok(TaskLoss { total, components: vec![l.class, l.bbox, l.giou] })
    }

    fn predict(&self, model: &DeformableDetr, batch: &[Sample], device: &Device) -> Vec<Vec<ScoredPoint>> {
        let out = model.forward(batch_images(batch, device));
        to_points(detections_sigmoid(out.logits, out.pred_boxes, self.top_k, 0.0), batch)
    }

    fn pretrained_init(&self, mut model: DeformableDetr) -> Result<(DeformableDetr, Option<String>), String> {
        let Some(dir) = &self.backbone_init else { return Ok((model, None)) };
        let note;
        (model.backbone, note) = apply_backbone_init(model.backbone, &self.config.backbone, dir)?;
        Ok((model, Some(note)))
    }

    fn save_weights(&self, model: &DeformableDetr, dir: &Path) -> Result<(), String> {
        save_model(model, &self.config, dir).map_err(|e| e.to_string())
    }

    fn load_weights(&self, model: DeformableDetr, dir: &Path) -> Result<DeformableDetr, String> {
        load_model(model, dir).map_err(|e| e.to_string())
    }
}

/// DETR as a [`TrainTask`].
#[derive(Debug, Clone)]
pub struct DetrTask {
    /// Model configuration.
    pub config: DetrConfig,
    /// Set criterion.
    pub criterion: SetCriterion,
    /// Backbone weights to start from (`[model] backbone_init`).
    pub backbone_init: Option<PathBuf>,
}

impl DetrTask {
    /// The task for a `[model]` table (box refinement and two-stage do not apply).
    pub fn from_spec(spec: &ModelSpec) -> Self {
        let base = match spec.preset {
            SizePreset::Tiny => DetrConfig::tiny(),
            SizePreset::Paper => DetrConfig::paper(),
        };
        let mut backbone = with_norm(base.backbone.clone(), spec.norm_groups);
        if let (Some(stage), BackboneConfig::ResNet(r)) = (spec.feature_stage, &mut backbone) {
            r.out_stages = vec![stage];
        }
        let dropout = spec.dropout.unwrap_or(base.dropout);
        let config = base.with_backbone(backbone).with_num_queries(spec.num_queries).with_dropout(dropout);
        Self { config, criterion: criterion(spec, CriterionConfig::detr()), backbone_init: spec.backbone_init.clone() }
    }
}

impl TrainTask for DetrTask {
    type Model = Detr;

    fn name(&self) -> String {
        "detr".into()
    }

    fn init_model(&self, device: &Device) -> Detr {
        self.config.init(device)
    }

    fn freeze(&self, mut model: Detr, freeze: Freeze) -> Detr {
        model.backbone = freeze_backbone(model.backbone, freeze);
        model
    }

    fn loss_names(&self) -> Vec<&'static str> {
        vec!["class", "bbox", "giou"]
    }

    fn loss(&self, model: &Detr, batch: &[Sample], device: &Device) -> Result<TaskLoss, String> {
        let out = model.forward(batch_images(batch, device));
        let layers = if self.criterion.config.aux_loss { out.aux_outputs } else { vec![(out.logits, out.pred_boxes)] };
        let l = self.criterion.loss(&layers, None, &targets(batch)).map_err(|e| e.to_string())?;
        Ok(TaskLoss { total: l.total, components: vec![l.class, l.bbox, l.giou] })
    }

    fn predict(&self, model: &Detr, batch: &[Sample], device: &Device) -> Vec<Vec<ScoredPoint>> {
        let out = model.forward(batch_images(batch, device));
        to_points(detections_softmax(out.logits, out.pred_boxes, 0.0), batch)
    }

    fn pretrained_init(&self, mut model: Detr) -> Result<(Detr, Option<String>), String> {
        let Some(dir) = &self.backbone_init else { return Ok((model, None)) };
        let note;
        (model.backbone, note) = apply_backbone_init(model.backbone, &self.config.backbone, dir)?;
        Ok((model, Some(note)))
    }

    fn save_weights(&self, model: &Detr, dir: &Path) -> Result<(), String> {
        save_model(model, &self.config, dir).map_err(|e| e.to_string())
    }

    fn load_weights(&self, model: Detr, dir: &Path) -> Result<Detr, String> {
        load_model(model, dir).map_err(|e| e.to_string())
    }
}
