//! The set criterion of DETR and Deformable DETR (`SetCriterion`).
//!
//! Per decoder layer (auxiliary losses on every layer, and on the encoder proposals in
//! two-stage mode) the predictions are matched to the targets by the
//! [Hungarian matcher](crate::matcher), then
//! * **class**: sigmoid focal loss (α 0.25, γ 2) over every query and class, summed and
//!   divided by the number of target boxes (Deformable DETR), or cross-entropy with the
//!   no-object class weighted 0.1, a weighted mean over queries (DETR);
//! * **L1**: `Σ |b − b̂|` over matched pairs / number of boxes;
//! * **GIoU**: `Σ (1 − GIoU)` over matched pairs / number of boxes.
//!
//! The total is `Σ_layers (w_class · class + w_bbox · L1 + w_giou · GIoU)`.
//! Non-finite predictions (NaN boxes from a diverging step) are detected before matching
//! and returned as [`CriterionError`], so a trainer can report and skip the step.

use burn::prelude::*;
use burn::tensor::activation::{log_softmax, sigmoid, softmax};
use serde::{Deserialize, Serialize};

use crate::dn::DnBatch;
use crate::matcher::{ClassCost, MatcherConfig, match_image};

/// Which classification loss the model's logits call for.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum ClassLoss {
    /// Sigmoid focal loss (Deformable DETR; logits `[b, q, classes]`).
    Focal {
        /// Weight of positives. Reference 0.25.
        alpha: f64,
        /// Focusing exponent. Reference 2.
        gamma: f64,
    },
    /// Softmax cross-entropy with a trailing no-object class (DETR; logits
    /// `[b, q, classes + 1]`) whose weight is `eos_coef`.
    CrossEntropy {
        /// Weight of the no-object class. Reference 0.1.
        eos_coef: f64,
    },
}

/// Configuration of the [`SetCriterion`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CriterionConfig {
    /// Matching costs.
    pub matcher: MatcherConfig,
    /// Classification loss.
    pub class_loss: ClassLoss,
    /// Weight of the class loss (reference 2 for Deformable DETR, 1 for DETR).
    pub class_weight: f64,
    /// Weight of the L1 box loss (reference 5).
    pub bbox_weight: f64,
    /// Weight of the GIoU loss (reference 2).
    pub giou_weight: f64,
    /// Losses on every decoder layer (and the encoder proposals), not the last only.
    pub aux_loss: bool,
}

impl CriterionConfig {
    /// Deformable DETR's criterion: focal loss, weights 2 / 5 / 2, auxiliary losses.
    pub fn deformable_detr() -> Self {
        Self {
            matcher: MatcherConfig::deformable_detr(),
            class_loss: ClassLoss::Focal { alpha: 0.25, gamma: 2.0 },
            class_weight: 2.0,
            bbox_weight: 5.0,
            giou_weight: 2.0,
            aux_loss: true,
        }
    }

    /// DETR's criterion: cross-entropy (no-object 0.1), weights 1 / 5 / 2, auxiliary losses.
    pub fn detr() -> Self {
        Self {
            matcher: MatcherConfig::detr(),
            class_loss: ClassLoss::CrossEntropy { eos_coef: 0.1 },
            class_weight: 1.0,
            bbox_weight: 5.0,
            giou_weight: 2.0,
            aux_loss: true,
        }
    }
}

/// Ground truth of one image: normalised `(cx, cy, w, h)` boxes and their class indices.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImageTargets {
    /// Boxes.
    pub boxes: Vec<[f32; 4]>,
    /// Class of each box (0 = microbubble).
    pub labels: Vec<usize>,
}

/// Why a loss could not be computed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CriterionError {
    /// A prediction (score or box) is NaN or infinite.
    #[error("non-finite prediction in {0}")]
    NonFinite(String),
}

/// The loss of one batch.
#[derive(Debug, Clone)]
pub struct Losses {
    /// Weighted total over all layers (the value to back-propagate), `[1]`.
    pub total: Tensor<1>,
    /// Unweighted class, L1 and GIoU losses of the last decoder layer (for logging).
    pub class: f64,
    /// See [`Losses::class`].
    pub bbox: f64,
    /// See [`Losses::class`].
    pub giou: f64,
    /// Matched pairs `(query, target)` of the last decoder layer, per image.
    pub matches: Vec<Vec<(usize, usize)>>,
}

/// Sigmoid focal loss summed over all elements (`sigmoid_focal_loss(...) · q` of the
/// reference, before the division by the number of boxes).
///
/// # Shapes
/// - `logits`, `targets`: `[b, q, c]` → `[1]`
pub fn sigmoid_focal_loss_sum(logits: Tensor<3>, targets: Tensor<3>, alpha: f64, gamma: f64) -> Tensor<1> {
    sigmoid_focal_loss_elements(logits, targets, alpha, gamma).sum()
}

/// Sigmoid focal loss of every element (see [`sigmoid_focal_loss_sum`]).
///
/// # Shapes
/// - `logits`, `targets`: `[b, q, c]` → `[b, q, c]`
pub fn sigmoid_focal_loss_elements(logits: Tensor<3>, targets: Tensor<3>, alpha: f64, gamma: f64) -> Tensor<3> {
    let prob = sigmoid(logits.clone());
    // Stable BCE with logits: max(x, 0) − x·t + ln(1 + e^{−|x|}).
    let ce = logits.clone().clamp_min(0.0) - logits.clone() * targets.clone() + logits.abs().neg().exp().log1p();
    // p_t = p·t + (1 − p)(1 − t)
    let p_t = prob.clone() * targets.clone() + (prob.neg() + 1.0) * (targets.clone().neg() + 1.0);
    let loss = ce * (p_t.neg() + 1.0).powf_scalar(gamma);
    let alpha_t = targets.clone() * alpha + (targets.neg() + 1.0) * (1.0 - alpha);
    alpha_t * loss
}

/// `Σ (1 − GIoU)` of paired boxes.
///
/// # Shapes
/// - `src`, `tgt`: `[n, 4]` in `(cx, cy, w, h)` → `[1]`
pub fn giou_loss_sum(src: Tensor<2>, tgt: Tensor<2>) -> Tensor<1> {
    let [n, _] = src.dims();
    let corners = |b: Tensor<2>| {
        let c = b.clone().narrow(1, 0, 2);
        let half = b.narrow(1, 2, 2) * 0.5;
        (c.clone() - half.clone(), c + half)
    };
    let (a0, a1) = corners(src);
    let (b0, b1) = corners(tgt);
    // [n, 1] each
    let area = |lo: Tensor<2>, hi: Tensor<2>| {
        let wh = hi - lo;
        wh.clone().narrow(1, 0, 1) * wh.narrow(1, 1, 1)
    };
    let area_a = area(a0.clone(), a1.clone());
    let area_b = area(b0.clone(), b1.clone());
    let inter_wh = (a1.clone().min_pair(b1.clone()) - a0.clone().max_pair(b0.clone())).clamp_min(0.0);
    let inter = inter_wh.clone().narrow(1, 0, 1) * inter_wh.narrow(1, 1, 1);
    let union = area_a + area_b - inter.clone();
    let iou = inter / union.clone();
    let encl_wh = (a1.max_pair(b1) - a0.min_pair(b0)).clamp_min(0.0);
    let encl = encl_wh.clone().narrow(1, 0, 1) * encl_wh.narrow(1, 1, 1);
    let giou = iou - (encl.clone() - union) / encl;
    (giou.neg() + 1.0).reshape([n]).sum()
}

/// The targets with every label 0 ("object"): the binary target of the two-stage
/// proposals and of the denoising queries.
fn object_targets(targets: &[ImageTargets]) -> Vec<ImageTargets> {
    targets.iter().map(|t| ImageTargets { boxes: t.boxes.clone(), labels: vec![0; t.labels.len()] }).collect()
}

fn host<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap_or_default()
}

/// The set criterion.
#[derive(Debug, Clone, Copy)]
pub struct SetCriterion {
    /// Its configuration.
    pub config: CriterionConfig,
}

/// [`CriterionError::NonFinite`] naming `name()` if a score or a box is NaN or infinite
/// (for predictions that skip the matcher, which checks its own inputs).
fn ensure_finite(logits: &Tensor<3>, boxes: &Tensor<3>, name: impl FnOnce() -> String) -> Result<(), CriterionError> {
    let finite = host(boxes.clone().detach()).iter().chain(&host(logits.clone().detach())).all(|v| v.is_finite());
    if finite { Ok(()) } else { Err(CriterionError::NonFinite(name())) }
}

impl SetCriterion {
    /// A criterion with `config`.
    pub fn new(config: CriterionConfig) -> Self {
        Self { config }
    }

    /// Losses of one set of predictions (one decoder layer, or the encoder proposals).
    /// Returns the weighted loss, the three unweighted losses and the matches.
    ///
    /// # Shapes
    /// - `logits`: `[b, q, classes]` (focal) or `[b, q, classes + 1]` (cross-entropy)
    /// - `boxes`: `[b, q, 4]`
    ///
    /// # Errors
    /// [`CriterionError::NonFinite`] if a score or a box is NaN or infinite.
    #[allow(clippy::type_complexity)]
    pub fn layer_loss(
        &self,
        logits: Tensor<3>,
        boxes: Tensor<3>,
        targets: &[ImageTargets],
        num_boxes: f64,
        name: &str,
    ) -> Result<(Tensor<1>, [f64; 3], Vec<Vec<(usize, usize)>>), CriterionError> {
        let [b, q, c] = logits.dims();
        let scores = match self.config.matcher.class_cost {
            ClassCost::Focal { .. } => host(sigmoid(logits.clone().detach())),
            ClassCost::Probability => host(softmax(logits.clone().detach(), 2)),
        };
        let host_boxes = host(boxes.clone().detach());
        if scores.iter().chain(&host_boxes).any(|v| !v.is_finite()) {
            return Err(CriterionError::NonFinite(name.to_string()));
        }
        let mut matches = Vec::with_capacity(b);
        for (bi, t) in targets.iter().enumerate().take(b) {
            let pb: Vec<[f32; 4]> = (0..q)
                .map(|i| {
                    let o = (bi * q + i) * 4;
                    [host_boxes[o], host_boxes[o + 1], host_boxes[o + 2], host_boxes[o + 3]]
                })
                .collect();
            let sc = &scores[bi * q * c..(bi + 1) * q * c];
            let m = match_image(sc, c, &pb, &t.labels, &t.boxes, &self.config.matcher)
                .ok_or_else(|| CriterionError::NonFinite(name.to_string()))?;
            matches.push(m);
        }
        let (total, parts) = self.matched_loss(logits, boxes, targets, &matches, num_boxes, None);
        Ok((total, parts, matches))
    }

    /// The weighted loss of predictions paired with targets by `matches` (`(query,
    /// target)` per image); queries without a pair are no-object. With `query_weight`
    /// (`[b·q]`, focal class loss only) each query's class loss is scaled (0 leaves a
    /// query out: the padding of denoising groups). Returns the weighted total and the
    /// unweighted class, L1 and GIoU losses.
    ///
    /// # Shapes
    /// - `logits`: `[b, q, classes]` (focal) or `[b, q, classes + 1]` (cross-entropy)
    /// - `boxes`: `[b, q, 4]`
    pub fn matched_loss(
        &self,
        logits: Tensor<3>,
        boxes: Tensor<3>,
        targets: &[ImageTargets],
        matches: &[Vec<(usize, usize)>],
        num_boxes: f64,
        query_weight: Option<Vec<f32>>,
    ) -> (Tensor<1>, [f64; 3]) {
        let device = logits.device();
        let [b, q, c] = logits.dims();
        let mut flat_idx: Vec<i64> = Vec::new();
        let mut tgt_boxes: Vec<f32> = Vec::new();
        // Class of each query: `c_obj` for no-object.
        let mut query_class = vec![usize::MAX; b * q];
        for (bi, (t, m)) in targets.iter().zip(matches).enumerate().take(b) {
            for &(qi, tj) in m {
                flat_idx.push((bi * q + qi) as i64);
                tgt_boxes.extend_from_slice(&t.boxes[tj]);
                query_class[bi * q + qi] = t.labels[tj];
            }
        }
        let class = match self.config.class_loss {
            ClassLoss::Focal { alpha, gamma } => {
                let mut onehot = vec![0f32; b * q * c];
                for (k, &cls) in query_class.iter().enumerate() {
                    if cls != usize::MAX {
                        onehot[k * c + cls] = 1.0;
                    }
                }
                let onehot = Tensor::<3>::from_data(TensorData::new(onehot, [b, q, c]), &device);
                let elements = sigmoid_focal_loss_elements(logits, onehot, alpha, gamma);
                let elements = match query_weight {
                    Some(w) => elements * Tensor::<3>::from_data(TensorData::new(w, [b, q, 1]), &device),
                    None => elements,
                };
                elements.sum() / num_boxes
            }
            ClassLoss::CrossEntropy { eos_coef } => {
                // the last logit is no-object
                let no_object = c - 1;
                let mut onehot = vec![0f32; b * q * c];
                let mut weight = vec![0f32; b * q];
                for (k, &cls) in query_class.iter().enumerate() {
                    let cls = if cls == usize::MAX { no_object } else { cls };
                    onehot[k * c + cls] = 1.0;
                    weight[k] = if cls == no_object { eos_coef as f32 } else { 1.0 };
                }
                let weight_sum: f64 = weight.iter().map(|&w| f64::from(w)).sum();
                let onehot = Tensor::<3>::from_data(TensorData::new(onehot, [b, q, c]), &device);
                let weight = Tensor::<3>::from_data(TensorData::new(weight, [b, q, 1]), &device);
                // [b, q, 1]
                let nll = (log_softmax(logits, 2) * onehot).sum_dim(2).neg();
                (nll * weight).sum() / weight_sum
            }
        };
        let n = flat_idx.len();
        let (l1, giou) = if n == 0 {
            (Tensor::<1>::zeros([1], &device), Tensor::<1>::zeros([1], &device))
        } else {
            let idx = Tensor::<1, Int>::from_data(TensorData::new(flat_idx, [n]), &device);
            // [n, 4]
            let src = boxes.reshape([b * q, 4]).select(0, idx);
            let tgt = Tensor::<2>::from_data(TensorData::new(tgt_boxes, [n, 4]), &device);
            let l1 = (src.clone() - tgt.clone()).abs().sum() / num_boxes;
            let giou = giou_loss_sum(src, tgt) / num_boxes;
            (l1, giou)
        };
        let parts = [host(class.clone())[0] as f64, host(l1.clone())[0] as f64, host(giou.clone())[0] as f64];
        let total = class * self.config.class_weight + l1 * self.config.bbox_weight + giou * self.config.giou_weight;
        (total, parts)
    }

    /// Denoising loss (DN-DETR): every decoder layer's denoising predictions against the
    /// boxes they were jittered from (fixed pairs, no matching), class target "object",
    /// padding slots left out; normalised by the number of denoising pairs.
    ///
    /// # Errors
    /// [`CriterionError::NonFinite`] if a prediction is NaN or infinite.
    pub fn dn_loss(
        &self,
        layers: &[(Tensor<3>, Tensor<3>)],
        dn: &DnBatch,
        targets: &[ImageTargets],
    ) -> Result<Option<Tensor<1>>, CriterionError> {
        let num = dn.pairs.iter().map(Vec::len).sum::<usize>();
        if num == 0 {
            return Ok(None);
        }
        let b = dn.pairs.len();
        let n = dn.len();
        let mut weight = vec![0f32; b * n];
        for (bi, p) in dn.pairs.iter().enumerate() {
            for &(qi, _) in p {
                weight[bi * n + qi] = 1.0;
            }
        }
        let bin = object_targets(targets);
        let first = if self.config.aux_loss { 0 } else { layers.len().saturating_sub(1) };
        let mut total: Option<Tensor<1>> = None;
        for (l, (logits, boxes)) in layers.iter().enumerate().skip(first) {
            ensure_finite(logits, boxes, || format!("denoising layer {l}"))?;
            let (t, _) =
                self.matched_loss(logits.clone(), boxes.clone(), &bin, &dn.pairs, num as f64, Some(weight.clone()));
            total = Some(match total {
                Some(acc) => acc + t,
                None => t,
            });
        }
        Ok(total)
    }

    /// The loss over the decoder layers `layers` (`(logits, boxes)`, last layer last) and,
    /// in two-stage mode, the encoder proposals `enc` (`(logits, box logits)`).
    ///
    /// # Errors
    /// [`CriterionError::NonFinite`] if a prediction is NaN or infinite.
    pub fn loss(
        &self,
        layers: &[(Tensor<3>, Tensor<3>)],
        enc: Option<&(Tensor<3>, Tensor<3>)>,
        targets: &[ImageTargets],
    ) -> Result<Losses, CriterionError> {
        self.loss_with_proposal_pairs(layers, enc, None, targets)
    }

    /// [`SetCriterion::loss`], with the encoder proposals paired with the targets by
    /// `enc_pairs` (`(cell, box)` per image, e.g. [`crate::two_stage::centre_assignment`])
    /// instead of the Hungarian matcher; `None` matches them as `loss` does.
    ///
    /// # Errors
    /// [`CriterionError::NonFinite`] if a prediction is NaN or infinite.
    pub fn loss_with_proposal_pairs(
        &self,
        layers: &[(Tensor<3>, Tensor<3>)],
        enc: Option<&(Tensor<3>, Tensor<3>)>,
        enc_pairs: Option<&[Vec<(usize, usize)>]>,
        targets: &[ImageTargets],
    ) -> Result<Losses, CriterionError> {
        let num_boxes = (targets.iter().map(|t| t.boxes.len()).sum::<usize>() as f64).max(1.0);
        let last = layers.len().checked_sub(1).ok_or_else(|| CriterionError::NonFinite("no layer".into()))?;
        let first = if self.config.aux_loss { 0 } else { last };
        let mut total: Option<Tensor<1>> = None;
        let mut parts = [0.0; 3];
        let mut matches = Vec::new();
        for (l, (logits, boxes)) in layers.iter().enumerate().skip(first) {
            let (t, p, m) =
                self.layer_loss(logits.clone(), boxes.clone(), targets, num_boxes, &format!("layer {l}"))?;
            total = Some(match total {
                Some(acc) => acc + t,
                None => t,
            });
            if l == last {
                parts = p;
                matches = m;
            }
        }
        if let (true, Some((logits, coord))) = (self.config.aux_loss, enc) {
            // Invalid anchors carry infinite logits; the clamp keeps their gradient at zero.
            let boxes = sigmoid(coord.clone().clamp(-20.0, 20.0));
            // All proposals are class 0 ("object") in the reference's binary target.
            let bin = object_targets(targets);
            let t = match enc_pairs {
                None => self.layer_loss(logits.clone(), boxes, &bin, num_boxes, "encoder proposals")?.0,
                Some(pairs) => {
                    ensure_finite(logits, &boxes, || "encoder proposals".into())?;
                    self.matched_loss(logits.clone(), boxes, &bin, pairs, num_boxes, None).0
                }
            };
            total = total.map(|acc| acc + t);
        }
        let total = total.expect("at least one layer");
        Ok(Losses { total, class: parts[0], bbox: parts[1], giou: parts[2], matches })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t3(v: Vec<f32>, shape: [usize; 3]) -> Tensor<3> {
        Tensor::from_data(TensorData::new(v, shape), &Device::default())
    }

    fn scalar(t: Tensor<1>) -> f64 {
        host(t)[0] as f64
    }

    #[test]
    fn focal_loss_by_hand() {
        // x = 0 (p = 0.5), target 1: ce = ln 2, (1 − p_t)² = 0.25, α_t = 0.25.
        // x = 2, target 0: p = σ(2), ce = 2 + ln(1 + e^{-2}), (1 − p_t)² = p², α_t = 0.75.
        let l = sigmoid_focal_loss_sum(t3(vec![0.0, 2.0], [1, 2, 1]), t3(vec![1.0, 0.0], [1, 2, 1]), 0.25, 2.0);
        let p2 = 1.0 / (1.0 + (-2.0f64).exp());
        let expected = 0.25 * 0.25 * 2f64.ln() + 0.75 * p2 * p2 * (2.0 + (-2.0f64).exp().ln_1p());
        assert!((scalar(l) - expected).abs() < 1e-6, "{expected}");
    }

    #[test]
    fn giou_loss_by_hand() {
        let d = Device::default();
        // [0,2]² vs [1,3]²: GIoU = 1/7 − 2/9; identical boxes: 0 loss.
        let src = Tensor::<2>::from_data(TensorData::new(vec![1.0f32, 1.0, 2.0, 2.0, 0.5, 0.5, 0.2, 0.2], [2, 4]), &d);
        let tgt = Tensor::<2>::from_data(TensorData::new(vec![2.0f32, 2.0, 2.0, 2.0, 0.5, 0.5, 0.2, 0.2], [2, 4]), &d);
        let expected = 1.0 - (1.0 / 7.0 - 2.0 / 9.0);
        assert!((scalar(giou_loss_sum(src, tgt)) - expected).abs() < 1e-5);
    }

    #[test]
    fn deformable_criterion_by_hand() {
        // 1 image, 2 queries, 1 target. Query 1 sits on the target → matched.
        let logits = t3(vec![0.0, 1.0], [1, 2, 1]);
        let boxes = t3(vec![0.2, 0.2, 0.1, 0.1, 0.5, 0.55, 0.2, 0.2], [1, 2, 4]);
        let targets = [ImageTargets { boxes: vec![[0.5, 0.5, 0.2, 0.2]], labels: vec![0] }];
        let mut cfg = CriterionConfig::deformable_detr();
        cfg.aux_loss = false;
        let out = SetCriterion::new(cfg).loss(&[(logits, boxes)], None, &targets).unwrap();
        assert_eq!(out.matches, vec![vec![(1, 0)]]);
        // class: query 0 negative at x = 0, query 1 positive at x = 1; / 1 box.
        let s = |x: f64| 1.0 / (1.0 + (-x).exp());
        let neg0 = 0.75 * 0.25 * 2f64.ln();
        let pos1 = 0.25 * (1.0 - s(1.0)).powi(2) * (1.0 + (-1.0f64).exp()).ln();
        assert!((out.class - (neg0 + pos1)).abs() < 1e-6, "{}", out.class);
        // L1: |0.55 − 0.5| = 0.05.
        assert!((out.bbox - 0.05).abs() < 1e-6, "{}", out.bbox);
        // GIoU: [0.4,0.45,0.6,0.65] vs [0.4,0.4,0.6,0.6]: inter 0.2·0.15 = 0.03,
        // union 0.05, enclosing 0.2·0.25 = 0.05 → GIoU 0.6.
        assert!((out.giou - 0.4).abs() < 1e-5, "{}", out.giou);
        let total = scalar(out.total);
        assert!((total - (2.0 * out.class + 5.0 * out.bbox + 2.0 * out.giou)).abs() < 1e-5);
    }

    #[test]
    fn cross_entropy_with_no_object_weight() {
        // 2 queries, classes = 1 + no-object. Query 0 matched (on the target).
        let logits = t3(vec![2.0, 0.0, 0.0, 1.0], [1, 2, 2]);
        let boxes = t3(vec![0.5, 0.5, 0.2, 0.2, 0.9, 0.9, 0.1, 0.1], [1, 2, 4]);
        let targets = [ImageTargets { boxes: vec![[0.5, 0.5, 0.2, 0.2]], labels: vec![0] }];
        let mut cfg = CriterionConfig::detr();
        cfg.aux_loss = false;
        let out = SetCriterion::new(cfg).loss(&[(logits, boxes)], None, &targets).unwrap();
        assert_eq!(out.matches, vec![vec![(0, 0)]]);
        let lse = |a: f64, b: f64| (a.exp() + b.exp()).ln();
        let ce0 = lse(2.0, 0.0) - 2.0;
        let ce1 = lse(0.0, 1.0) - 1.0;
        let expected = (ce0 + 0.1 * ce1) / 1.1;
        assert!((out.class - expected).abs() < 1e-6, "{} vs {expected}", out.class);
        assert!(out.bbox.abs() < 1e-7 && out.giou.abs() < 1e-6);
    }

    #[test]
    fn fixed_proposal_pairs_replace_the_matcher() {
        // Encoder: 3 cells, 1 target. The matcher would pick cell 2 (on the target); the
        // fixed pair says cell 0, so the proposal loss is cell 0's L1/GIoU and focal terms.
        let dec = (t3(vec![0.0, 1.0], [1, 2, 1]), t3(vec![0.2, 0.2, 0.1, 0.1, 0.5, 0.55, 0.2, 0.2], [1, 2, 4]));
        let inv = |p: f32| (p / (1.0 - p)).ln();
        let cells = [[0.3f32, 0.5, 0.2, 0.2], [0.9, 0.9, 0.1, 0.1], [0.5, 0.5, 0.2, 0.2]];
        let enc_logits = t3(vec![0.5, -1.0, 2.0], [1, 3, 1]);
        let enc_coord = t3(cells.iter().flatten().map(|&v| inv(v)).collect(), [1, 3, 4]);
        let targets = [ImageTargets { boxes: vec![[0.5, 0.5, 0.2, 0.2]], labels: vec![0] }];
        let crit = SetCriterion::new(CriterionConfig::deformable_detr());
        let layers = [dec];
        let enc = (enc_logits.clone(), enc_coord.clone());
        let base = scalar(crit.loss(&layers, None, &targets).unwrap().total);
        let hungarian = scalar(crit.loss(&layers, Some(&enc), &targets).unwrap().total);
        let pairs = vec![vec![(0, 0)]];
        let fixed = scalar(crit.loss_with_proposal_pairs(&layers, Some(&enc), Some(&pairs), &targets).unwrap().total);
        let s = |x: f64| 1.0 / (1.0 + (-x).exp());
        let pos = |x: f64| 0.25 * (1.0 - s(x)).powi(2) * (1.0 + (-x).exp()).ln();
        let neg = |x: f64| 0.75 * s(x).powi(2) * (1.0 + x.exp()).ln();
        // Hungarian: cell 2 positive, exact box (L1 0, GIoU loss 0).
        let h = 2.0 * (neg(0.5) + neg(-1.0) + pos(2.0));
        assert!((hungarian - base - h).abs() < 1e-4, "{} vs {h}", hungarian - base);
        // Fixed: cell 0 positive; L1 |0.3 − 0.5| = 0.2; boxes [0.2,0.4]² vs [0.4,0.6]×[0.4,0.6]:
        // no overlap, union 0.08, enclosing 0.4·0.2 = 0.08 → GIoU 0 → loss 1.
        let f = 2.0 * (pos(0.5) + neg(-1.0) + neg(2.0)) + 5.0 * 0.2 + 2.0 * 1.0;
        assert!((fixed - base - f).abs() < 1e-4, "{} vs {f}", fixed - base);
        let nan_score = (t3(vec![f32::NAN, 0.0, 0.0], [1, 3, 1]), enc_coord.clone());
        let mut coords = host(enc_coord);
        coords[1] = f32::NAN;
        let nan_box = (enc_logits, t3(coords, [1, 3, 4]));
        for nan in [nan_score, nan_box] {
            let err = crit.loss_with_proposal_pairs(&layers, Some(&nan), Some(&pairs), &targets).unwrap_err();
            assert_eq!(err, CriterionError::NonFinite("encoder proposals".into()));
        }
    }

    #[test]
    fn aux_layers_add_up_and_nan_is_reported() {
        let logits = t3(vec![0.0, 1.0], [1, 2, 1]);
        let boxes = t3(vec![0.2, 0.2, 0.1, 0.1, 0.5, 0.55, 0.2, 0.2], [1, 2, 4]);
        let targets = [ImageTargets { boxes: vec![[0.5, 0.5, 0.2, 0.2]], labels: vec![0] }];
        let crit = SetCriterion::new(CriterionConfig::deformable_detr());
        let one = crit.loss(&[(logits.clone(), boxes.clone())], None, &targets).unwrap();
        let two = crit.loss(&[(logits.clone(), boxes.clone()), (logits.clone(), boxes)], None, &targets).unwrap();
        assert!((scalar(two.total) - 2.0 * scalar(one.total)).abs() < 1e-5);
        let bad = t3(vec![0.2, f32::NAN, 0.1, 0.1, 0.5, 0.55, 0.2, 0.2], [1, 2, 4]);
        let err = crit.loss(&[(logits, bad)], None, &targets).unwrap_err();
        assert_eq!(err, CriterionError::NonFinite("layer 0".into()));
    }
}
