//! Backbone pretraining on a fast dense objective: the DETR backbone plus a small heatmap
//! head, trained CenterNet-style ([`BackboneHeatmapTask`], `[model] kind =
//! "backbone-heatmap"`), whose backbone then initialises DE-DETR or DETR
//! (`[model] backbone_init = "DIR"`, [`crate::weights::load_backbone`]).
//!
//! Why: no machine here can download ImageNet/COCO weights, and DETR-family models need many
//! steps from a random backbone. A heatmap step has no transformer and no Hungarian matching,
//! so it is several times cheaper, and it teaches the backbone exactly what the detector needs
//! first: where the bubbles are.
//!
//! # The model
//! [`BackboneHeatmap`]: the backbone with its configured levels (the DE-DETR preset's ResNet,
//! strides 4/8/16 for `tiny`), a 1×1 lateral convolution per level to `head_width`
//! channels, the coarser levels upsampled (nearest) to the finest and summed (an FPN-style
//! merge, so that every backbone stage receives gradient — a head on the stride-4 level
//! alone would leave stages 2–3, DETR's only level among them, untrained), then 3×3 conv +
//! ReLU and two 1×1 heads: a heatmap logit and a 2-channel sub-cell offset.
//!
//! # Target and loss (the private `target` module)
//! Cell `(i, j)` of the finest level (stride `S`) is centred on patch pixel `(S·i, S·j)`
//! (the receptive-field centre of the stride-2 convolution and max-pool of the ResNet stem).
//! A bubble at patch pixel `(col, row)` has grid coordinate `(col / S, row / S)`; its peak
//! cell is the nearest one, where the target is 1, with a Gaussian of σ =
//! `heatmap_sigma_px / S` cells around it (max over bubbles), and the offset target is the
//! remainder. Loss: CenterNet's penalty-reduced focal loss (α 2, β 4) normalised by the
//! number of peaks, plus `offset_weight` × the L1 offset error at the peak cells.

mod target;
mod task;

pub use target::{HeatmapTarget, PeakPoint, decode_peaks, focal_loss, render_heatmap_target};
pub use task::BackboneHeatmapTask;

use burn::module::Param;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::prelude::*;
use burn::tensor::activation::relu;

use std::path::Path;

use crate::backbone::{Backbone, BackboneConfig};
use crate::weights::load_backbone;

/// Configuration of a [`BackboneHeatmap`].
#[derive(Config, Debug)]
pub struct BackboneHeatmapConfig {
    /// The backbone to pretrain (the DE-DETR preset's, out stages included, so that its
    /// tensors are exactly the detector's).
    pub backbone: BackboneConfig,
    /// Channels of the merged features and of the head's 3×3 convolution. Default 32.
    #[config(default = 32)]
    pub head_width: usize,
    /// Initial bubble probability of every cell, set through the heatmap bias (CenterNet's
    /// focal-loss initialisation). Default 0.01.
    #[config(default = 0.01)]
    pub prior_prob: f64,
}

fn conv(cin: usize, cout: usize, k: usize, device: &Device) -> Conv2d {
    let p = k / 2;
    Conv2dConfig::new([cin, cout], [k, k]).with_padding(PaddingConfig2d::Explicit(p, p, p, p)).init(device)
}

impl BackboneHeatmapConfig {
    /// Stride of the heatmap grid: the backbone's finest level, in input pixels.
    pub fn stride(&self) -> usize {
        self.backbone.out_strides().first().copied().unwrap_or(4)
    }

    /// Build the model.
    pub fn init(&self, device: &Device) -> BackboneHeatmap {
        let w = self.head_width;
        let lateral = self.backbone.out_channels().into_iter().map(|c| conv(c, w, 1, device)).collect();
        let mut heatmap = conv(w, 1, 1, device);
        let bias = -((1.0 - self.prior_prob) / self.prior_prob).ln();
        heatmap.bias = Some(Param::from_tensor(Tensor::full([1], bias, device)));
        BackboneHeatmap {
            backbone: self.backbone.init(device),
            lateral,
            head: conv(w, w, 3, device),
            heatmap,
            offset: conv(w, 2, 1, device),
        }
    }
}

/// Outputs of [`BackboneHeatmap::forward`], on the finest backbone level's grid.
#[derive(Debug, Clone)]
pub struct HeatmapOutput {
    /// Heatmap logits, `[b, 1, gh, gw]`.
    pub logits: Tensor<4>,
    /// Sub-cell offsets `(dx, dz)` in cells, `[b, 2, gh, gw]`.
    pub offset: Tensor<4>,
}

/// The DETR backbone with a dense heatmap head (see the module docs).
#[derive(Module, Debug)]
pub struct BackboneHeatmap {
    /// The backbone; its tensors are named as in DE-DETR / DETR (`backbone.…`).
    pub backbone: Backbone,
    /// 1×1 projection of each backbone level to `head_width`, finest first.
    pub lateral: Vec<Conv2d>,
    /// 3×3 convolution on the merged features.
    pub head: Conv2d,
    /// 1×1 heatmap logit.
    pub heatmap: Conv2d,
    /// 1×1 sub-cell offset `(dx, dz)`.
    pub offset: Conv2d,
}

/// Nearest upsampling of `x` by whole factors, cropped to `[h, w]`: coarse cell `j` covers
/// fine cells `k·j … k·j + k − 1` (`k = ⌈h / h_in⌉`).
fn upsample_to(x: Tensor<4>, h: usize, w: usize) -> Tensor<4> {
    let [b, c, hi, wi] = x.dims();
    if (hi, wi) == (h, w) {
        return x;
    }
    let (kh, kw) = (h.div_ceil(hi), w.div_ceil(wi));
    // [b, c, hi, kh, wi, kw]
    let y = x.reshape([b, c, hi, 1, wi, 1]).repeat_dim(3, kh).repeat_dim(5, kw);
    // [b, c, h, w]
    y.reshape([b, c, hi * kh, wi * kw]).slice([0..b, 0..c, 0..h, 0..w])
}

impl BackboneHeatmap {
    /// # Shapes
    /// - `x`: `[b, 1, h, w]` → logits `[b, 1, ⌈h/S⌉, ⌈w/S⌉]`, offsets `[b, 2, ⌈h/S⌉, ⌈w/S⌉]`
    pub fn forward(&self, x: Tensor<4>) -> HeatmapOutput {
        // finest first: [b, c_l, h_l, w_l]
        let levels = self.backbone.forward(x);
        let [_, _, h, w] = levels[0].dims();
        let mut merged: Option<Tensor<4>> = None;
        for (f, lateral) in levels.into_iter().zip(&self.lateral) {
            // [b, width, h, w]
            let y = upsample_to(crate::conv::conv2d(lateral, f), h, w);
            merged = Some(match merged {
                Some(m) => m + y,
                None => y,
            });
        }
        // [b, width, h, w]
        let y = relu(crate::conv::conv2d(&self.head, relu(merged.expect("the backbone returns a level"))));
        HeatmapOutput {
            logits: crate::conv::conv2d(&self.heatmap, y.clone()),
            offset: crate::conv::conv2d(&self.offset, y),
        }
    }
}

/// Loads `[model] backbone_init` into `backbone` (built from `config`); the note says how many
/// tensors came from which file.
pub(crate) fn apply_backbone_init(
    backbone: Backbone,
    config: &BackboneConfig,
    dir: &Path,
) -> Result<(Backbone, String), String> {
    let (backbone, report) = load_backbone(backbone, config, dir).map_err(|e| format!("model.backbone_init: {e}"))?;
    let mut note = format!(
        "backbone_init: {} backbone tensors loaded from {}",
        report.loaded,
        dir.join("model.safetensors").display()
    );
    if !report.unexpected.is_empty() {
        note.push_str(&format!(
            " ({} backbone tensors of the file unused: {})",
            report.unexpected.len(),
            report.unexpected.join(", ")
        ));
    }
    Ok((backbone, note))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tiny_resnet;

    #[test]
    fn output_grid_is_the_finest_level_and_upsampling_is_nearest() {
        let device = Device::default();
        let cfg = BackboneHeatmapConfig::new(BackboneConfig::ResNet(tiny_resnet(vec![1, 2, 3]).with_norm_groups(8)));
        assert_eq!(cfg.stride(), 4);
        let model = cfg.init(&device);
        let out = model.forward(Tensor::<4>::zeros([2, 1, 40, 36], &device));
        assert_eq!(out.logits.dims(), [2, 1, 10, 9]);
        assert_eq!(out.offset.dims(), [2, 2, 10, 9]);
        let x = Tensor::<4>::from_data(TensorData::new(vec![1.0f32, 2.0, 3.0, 4.0], [1, 1, 2, 2]), &device);
        let up: Vec<f32> = upsample_to(x, 3, 4).into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(up, vec![1.0, 1.0, 2.0, 2.0, 1.0, 1.0, 2.0, 2.0, 3.0, 3.0, 4.0, 4.0]);
    }
}
