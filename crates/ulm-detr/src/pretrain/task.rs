//! [`BackboneHeatmapTask`]: the backbone-heatmap model as a [`TrainTask`].

use std::path::{Path, PathBuf};

use burn::prelude::*;
use burn::tensor::activation::sigmoid;
use ulm_data::Sample;
use ulm_train::{Freeze, ScoredPoint, TaskLoss, TrainTask, batch_images};

use super::{
    BackboneHeatmap, BackboneHeatmapConfig, apply_backbone_init, decode_peaks, focal_loss, render_heatmap_target,
};
use crate::DeformableDetrConfig;
use crate::train::{ModelSpec, SizePreset, freeze_backbone, with_norm};
use crate::weights::{load_model, save_model};

/// Peaks below this probability are never reported (the loop calibrates its threshold above).
const MIN_SCORE: f32 = 0.01;

/// Backbone pretraining (`[model] kind = "backbone-heatmap"`) as a [`TrainTask`]: loss
/// `focal + offset_weight · offset` (see the [module docs](super)); validation decodes the
/// heatmap peaks into positions in mm, so the loop reports F1 at λ/2 as for the detectors.
#[derive(Debug, Clone)]
pub struct BackboneHeatmapTask {
    /// The model.
    pub config: BackboneHeatmapConfig,
    /// σ of the target Gaussians, input pixels.
    pub sigma_px: f64,
    /// Weight of the L1 offset loss.
    pub offset_weight: f64,
    /// Peaks kept per patch at validation.
    pub top_k: usize,
    /// Backbone weights to start from (`[model] backbone_init`).
    pub backbone_init: Option<PathBuf>,
}

/// Targets of one batch on a `gh × gw` grid, as tensors `[b, 1, gh, gw]` (heat, positive,
/// valid), `[b, 2, gh, gw]` (offset, offset mask) and the number of peaks.
struct BatchTargets {
    heat: Tensor<4>,
    positive: Tensor<4>,
    valid: Tensor<4>,
    offset: Tensor<4>,
    offset_mask: Tensor<4>,
    count: usize,
}

impl BackboneHeatmapTask {
    /// The task for a `[model]` table: the DE-DETR preset's backbone (out stages included)
    /// with `norm_groups`.
    pub fn from_spec(spec: &ModelSpec) -> Self {
        let base = match spec.preset {
            SizePreset::Tiny => DeformableDetrConfig::tiny(),
            SizePreset::Paper => DeformableDetrConfig::paper(),
        };
        Self {
            config: BackboneHeatmapConfig::new(with_norm(base.backbone, spec.norm_groups)),
            sigma_px: spec.heatmap_sigma_px,
            offset_weight: spec.offset_weight,
            top_k: spec.top_k,
            backbone_init: spec.backbone_init.clone(),
        }
    }

    fn targets(&self, batch: &[Sample], gh: usize, gw: usize, device: &Device) -> BatchTargets {
        let stride = self.config.stride();
        let n = gh * gw;
        let b = batch.len();
        let (mut heat, mut positive, mut valid) = (Vec::with_capacity(b * n), Vec::with_capacity(b * n), Vec::new());
        let (mut offset, mut offset_mask) = (Vec::with_capacity(2 * b * n), Vec::with_capacity(2 * b * n));
        let mut count = 0;
        for s in batch {
            let centres: Vec<(f64, f64)> = s.centers_mm.iter().map(|&(x, z)| s.geometry.mm_to_px(x, z)).collect();
            let t = render_heatmap_target(&centres, gh, gw, stride, self.sigma_px / stride as f64);
            let (vh, vw) = (s.valid_rows.div_ceil(stride), s.valid_cols.div_ceil(stride));
            valid.extend((0..n).map(|k| if k / gw < vh && k % gw < vw { 1.0f32 } else { 0.0 }));
            count += t.count;
            offset.extend(t.offset);
            offset_mask.extend(t.positive.iter().chain(&t.positive));
            heat.extend(t.heat);
            positive.extend(t.positive);
        }
        let t = |v: Vec<f32>, c: usize| Tensor::<4>::from_data(TensorData::new(v, [b, c, gh, gw]), device);
        BatchTargets {
            heat: t(heat, 1),
            positive: t(positive, 1),
            valid: t(valid, 1),
            offset: t(offset, 2),
            offset_mask: t(offset_mask, 2),
            count,
        }
    }
}

fn to_vec(t: Tensor<4>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap_or_default()
}

impl TrainTask for BackboneHeatmapTask {
    type Model = BackboneHeatmap;

    fn name(&self) -> String {
        "backbone-heatmap".into()
    }

    fn init_model(&self, device: &Device) -> BackboneHeatmap {
        self.config.init(device)
    }

    fn freeze(&self, mut model: BackboneHeatmap, freeze: Freeze) -> BackboneHeatmap {
        model.backbone = freeze_backbone(model.backbone, freeze);
        model
    }

    fn loss_names(&self) -> Vec<&'static str> {
        vec!["focal", "offset"]
    }

    fn loss(&self, model: &BackboneHeatmap, batch: &[Sample], device: &Device) -> Result<TaskLoss, String> {
        let out = model.forward(batch_images(batch, device));
        let [_, _, gh, gw] = out.logits.dims();
        let t = self.targets(batch, gh, gw, device);
        let focal = focal_loss(out.logits, t.heat, t.positive, t.valid, t.count); // [1]
        let offset = ((out.offset - t.offset).abs() * t.offset_mask).sum() / t.count.max(1) as f64; // [1]
        let total = focal.clone() + offset.clone() * self.offset_weight;
        let scalar = |x: Tensor<1>| f64::from(x.into_scalar::<f32>());
        let components = vec![scalar(focal), scalar(offset)];
        if components.iter().any(|v| !v.is_finite()) {
            return Err(format!("non-finite loss components {components:?}"));
        }
        Ok(TaskLoss { total, components })
    }

    fn predict(&self, model: &BackboneHeatmap, batch: &[Sample], device: &Device) -> Vec<Vec<ScoredPoint>> {
        let out = model.forward(batch_images(batch, device));
        let [_, _, gh, gw] = out.logits.dims();
        let (heat, offset) = (to_vec(sigmoid(out.logits)), to_vec(out.offset));
        let (n, stride) = (gh * gw, self.config.stride());
        batch
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let valid = (s.valid_rows.div_ceil(stride), s.valid_cols.div_ceil(stride));
                let h = &heat[i * n..(i + 1) * n];
                let o = &offset[2 * i * n..2 * (i + 1) * n];
                decode_peaks(h, o, gh, gw, valid, stride, MIN_SCORE, self.top_k)
                    .into_iter()
                    .map(|p| {
                        let (x_mm, z_mm) = s.geometry.px_to_mm(p.col, p.row);
                        ScoredPoint::new(x_mm, z_mm, p.score)
                    })
                    .collect()
            })
            .collect()
    }

    fn pretrained_init(&self, mut model: BackboneHeatmap) -> Result<(BackboneHeatmap, Option<String>), String> {
        let Some(dir) = &self.backbone_init else { return Ok((model, None)) };
        let note;
        (model.backbone, note) = apply_backbone_init(model.backbone, &self.config.backbone, dir)?;
        Ok((model, Some(note)))
    }

    fn save_weights(&self, model: &BackboneHeatmap, dir: &Path) -> Result<(), String> {
        save_model(model, &self.config, dir).map_err(|e| e.to_string())
    }

    fn load_weights(&self, model: BackboneHeatmap, dir: &Path) -> Result<BackboneHeatmap, String> {
        load_model(model, dir).map_err(|e| e.to_string())
    }
}
