//! Denoising queries (DN-DETR, Li et al. 2022) for two-stage Deformable DETR training.
//!
//! Besides its matching queries, the decoder receives groups of *denoising* queries: every
//! ground-truth box of the image, jittered, embedded exactly like a two-stage proposal.
//! Each must be reconstructed into its own ground-truth box and classified as an object,
//! with no Hungarian matching — a stable, dense training signal for the decoder that
//! shortens DETR training. An attention mask keeps the matching queries from seeing any
//! denoising query (so the matching part computes exactly what it computes without
//! them) and each group from seeing the others. Training only: inference never adds them.
//!
//! Layout of the decoder's queries: the `q` matching queries first, then `groups` groups
//! of `slots` queries (`slots` = the most boxes of any image of the batch; the slots an
//! image does not use are padding, masked out of the attention and of the loss).

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::criterion::ImageTargets;

/// Denoising settings (the `[model]` table's `dn_queries` and `dn_box_noise`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DnConfig {
    /// Budget of denoising queries per image: `groups = max(1, queries / slots)` (as
    /// DINO sizes its groups). 0 turns denoising off.
    pub queries: usize,
    /// Box noise scale λ (DN-DETR's `box_noise_scale`): the centre moves by up to
    /// `λ·w/2` (`λ·h/2`), the size by up to `±λ·w` (`±λ·h`), uniformly.
    pub box_noise: f64,
}

/// The denoising queries of one batch.
#[derive(Debug, Clone)]
pub struct DnBatch {
    /// Jittered boxes `(cx, cy, w, h)` in `(0, 1)`, `[b, groups·slots, 4]`.
    pub boxes: Tensor<3>,
    /// Boxes per image (its used slots).
    pub used: Vec<usize>,
    /// Groups.
    pub groups: usize,
    /// Slots per group (the most boxes of an image of the batch).
    pub slots: usize,
    /// `(denoising query, target box)` pairs per image (padding slots left out).
    pub pairs: Vec<Vec<(usize, usize)>>,
}

impl DnBatch {
    /// Queries per image (`groups · slots`).
    pub fn len(&self) -> usize {
        self.groups * self.slots
    }

    /// Whether there are no denoising queries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The decoder's self-attention mask ([`dn_attention_mask`]) behind `q` matching
    /// queries, `[b, q + len, q + len]`, `true` = blocked.
    pub fn attn_mask(&self, q: usize, device: &Device) -> Tensor<3, Bool> {
        let (mask, n) = dn_attention_mask(q, self.groups, self.slots, &self.used);
        Tensor::<3, Bool>::from_data(TensorData::new(mask, [self.used.len(), n, n]), device)
    }
}

/// The self-attention mask (`true` = blocked) of `q` matching queries followed by
/// `groups` groups of `slots` denoising queries; `used[b]` = boxes of image `b` (its
/// slots `>= used[b]` are padding). Matching queries see only matching queries; a
/// denoising query sees the matching queries and the used slots of its own group;
/// every query sees itself.
///
/// Returns `[b, n, n]` row-major, `n = q + groups·slots`.
pub fn dn_attention_mask(q: usize, groups: usize, slots: usize, used: &[usize]) -> (Vec<bool>, usize) {
    let n = q + groups * slots;
    let mut mask = vec![false; used.len() * n * n];
    for (bi, &u) in used.iter().enumerate() {
        let m = &mut mask[bi * n * n..(bi + 1) * n * n];
        for i in 0..n {
            for j in 0..n {
                let blocked = if i < q {
                    j >= q
                } else if j < q {
                    false
                } else {
                    let (gi, gj) = ((i - q) / slots, (j - q) / slots);
                    let padding = (j - q) % slots >= u;
                    gi != gj || (padding && i != j)
                };
                m[i * n + j] = blocked;
            }
        }
    }
    (mask, n)
}

/// Build the denoising queries of a batch, or `None` when denoising is off or the batch
/// has no box. The jitter is drawn from the backend's RNG (seeded per step by the
/// trainer, so runs stay determined by their seed).
pub fn dn_batch(cfg: &DnConfig, targets: &[ImageTargets], device: &Device) -> Option<DnBatch> {
    let slots = targets.iter().map(|t| t.boxes.len()).max().unwrap_or(0);
    if cfg.queries == 0 || slots == 0 {
        return None;
    }
    let groups = (cfg.queries / slots).max(1);
    let b = targets.len();
    let len = groups * slots;
    let mut known = vec![0f32; b * len * 4];
    let mut pairs = Vec::with_capacity(b);
    for (bi, t) in targets.iter().enumerate() {
        let mut p = Vec::with_capacity(groups * t.boxes.len());
        for g in 0..groups {
            for s in 0..slots {
                let o = (bi * len + g * slots + s) * 4;
                // padding slots: a small box in the middle (masked out everywhere)
                let bx = t.boxes.get(s).copied().unwrap_or([0.5, 0.5, 0.05, 0.05]);
                known[o..o + 4].copy_from_slice(&bx);
                if s < t.boxes.len() {
                    p.push((g * slots + s, s));
                }
            }
        }
        pairs.push(p);
    }
    // [b, len, 4]
    let known = Tensor::<3>::from_data(TensorData::new(known, [b, len, 4]), device);
    let half_wh = known.clone().narrow(2, 2, 2) * 0.5;
    // (w/2, h/2, w, h)
    let diff = Tensor::cat(vec![half_wh, known.clone().narrow(2, 2, 2)], 2);
    let noise = Tensor::<3>::random([b, len, 4], burn::tensor::Distribution::Uniform(-1.0, 1.0), device);
    let boxes = (known + noise * diff * cfg.box_noise).clamp(1e-4, 1.0 - 1e-4);
    let used: Vec<usize> = targets.iter().map(|t| t.boxes.len()).collect();
    Some(DnBatch { boxes, used, groups, slots, pairs })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_by_hand() {
        // 2 matching queries, 2 groups of 2 slots, the image uses 1 slot
        let (m, n) = dn_attention_mask(2, 2, 2, &[1]);
        assert_eq!(n, 6);
        let rows: Vec<String> =
            (0..n).map(|i| (0..n).map(|j| if m[i * n + j] { 'x' } else { '.' }).collect()).collect();
        // rows: matching, matching, g0 s0, g0 s1 (padding), g1 s0, g1 s1 (padding)
        assert_eq!(rows, ["..xxxx", "..xxxx", "...xxx", "....xx", "..xx.x", "..xx.."]);
    }

    fn t3(v: Vec<f32>, shape: [usize; 3]) -> Tensor<3> {
        Tensor::from_data(TensorData::new(v, shape), &Device::default())
    }

    fn scalar(t: Tensor<1>) -> f64 {
        f64::from(t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()[0])
    }

    /// Fixed pairs, padding left out, the references' weights (class 2, L1 5, GIoU 2).
    #[test]
    fn dn_loss_by_hand() {
        use crate::criterion::{CriterionConfig, SetCriterion};
        let a = [0.3, 0.3, 0.1, 0.1];
        let b = [0.7, 0.7, 0.1, 0.1];
        let c = [0.5, 0.2, 0.1, 0.1];
        let targets =
            [ImageTargets { boxes: vec![a, b], labels: vec![0, 0] }, ImageTargets { boxes: vec![c], labels: vec![0] }];
        let dn = DnBatch {
            boxes: t3(vec![0.5; 16], [2, 2, 4]),
            used: vec![2, 1],
            groups: 1,
            slots: 2,
            pairs: vec![vec![(0, 0), (1, 1)], vec![(0, 0)]],
        };
        let crit = SetCriterion::new(CriterionConfig::deformable_detr());
        let loss = |padding: [f32; 4], padding_logit: f32| {
            // image 0: A moved by 0.1 in x (touching A: GIoU 0), B exact; image 1: C exact, then padding
            let shifted = [0.4, 0.3, 0.1, 0.1];
            let boxes = [shifted, b, c, padding].concat();
            let logits = t3(vec![0.0, 0.0, 0.0, padding_logit], [2, 2, 1]);
            scalar(crit.dn_loss(&[(logits, t3(boxes, [2, 2, 4]))], &dn, &targets).unwrap().unwrap())
        };
        // focal at logit 0, target 1: α (1 − p)^γ ln 2 = 0.25 · 0.25 · ln 2, per pair
        let focal = 0.25 * 0.25 * std::f64::consts::LN_2;
        let expected = 2.0 * (3.0 * focal / 3.0) + 5.0 * (0.1 / 3.0) + 2.0 * (1.0 / 3.0);
        let got = loss([0.5, 0.5, 0.05, 0.05], 0.0);
        assert!((got - expected).abs() < 1e-5, "{got} vs {expected}");
        // whatever the padding slot predicts, it is not in the loss
        assert!((loss([0.9, 0.1, 0.5, 0.5], 5.0) - expected).abs() < 1e-5);
    }

    /// The attention mask hides the denoising queries from the matching ones: adding
    /// them leaves every matching output exactly as it was.
    #[test]
    fn matching_queries_ignore_denoising_queries() {
        use crate::config::DeformableDetrConfig;
        let device = Device::default();
        let model = DeformableDetrConfig::tiny()
            .with_two_stage(true)
            .with_two_stage_num_proposals(20)
            .with_dropout(0.0)
            .init(&device);
        let x = Tensor::<4>::random([2, 1, 64, 64], burn::tensor::Distribution::Uniform(0.0, 1.0), &device);
        let targets = [
            ImageTargets {
                boxes: vec![[0.3, 0.3, 0.05, 0.05], [0.6, 0.4, 0.05, 0.05], [0.2, 0.8, 0.05, 0.05]],
                labels: vec![0; 3],
            },
            ImageTargets { boxes: vec![[0.5, 0.5, 0.05, 0.05]], labels: vec![0] },
        ];
        let dn = dn_batch(&DnConfig { queries: 7, box_noise: 0.4 }, &targets, &device).unwrap();
        assert_eq!((dn.groups, dn.slots, dn.len()), (2, 3, 6));
        assert_eq!(dn.pairs, vec![vec![(0, 0), (1, 1), (2, 2), (3, 0), (4, 1), (5, 2)], vec![(0, 0), (3, 0)]]);
        let plain = model.forward(x.clone());
        let (with, dn_out) = model.forward_dn(x, Some(&dn));
        let dn_out = dn_out.unwrap();
        assert_eq!(dn_out.len(), plain.aux_outputs.len());
        for ((l0, b0), (l1, b1)) in plain.aux_outputs.iter().zip(&with.aux_outputs) {
            assert_eq!(l0.dims(), l1.dims());
            let dl: f32 = (l0.clone() - l1.clone()).abs().max().into_scalar::<f32>();
            let db: f32 = (b0.clone() - b1.clone()).abs().max().into_scalar::<f32>();
            assert!(dl < 1e-5 && db < 1e-6, "matching outputs changed: {dl} {db}");
        }
        for (l, b) in &dn_out {
            assert_eq!((l.dims(), b.dims()), ([2, 6, 1], [2, 6, 4]));
        }
        // The jittered boxes stay near their ground truth: |Δcx| <= λ·w/2.
        let boxes = dn.boxes.into_data().try_to_vec::<f32>().unwrap();
        let dx = (boxes[0] - 0.3).abs();
        assert!(dx <= 0.4 * 0.025 + 1e-6, "{dx}");
    }
}
