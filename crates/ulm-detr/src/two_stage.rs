//! Two-stage Deformable DETR: encoder proposals become the decoder's queries.

use burn::nn::{LayerNorm, Linear};
use burn::prelude::*;
use burn::tensor::activation::sigmoid;

use crate::heads::Mlp;
use crate::matcher::cxcywh_to_xyxy;

/// Layers turning encoder memory into proposals (HF `enc_output`, `pos_trans`).
#[derive(Module, Debug)]
pub struct TwoStage {
    /// Linear map of the memory to object queries.
    pub enc_output: Linear,
    /// Its layer norm.
    pub enc_output_norm: LayerNorm,
    /// Linear map of the proposal position embedding to (query position, content).
    pub pos_trans: Linear,
    /// Its layer norm.
    pub pos_trans_norm: LayerNorm,
}

/// Decoder inputs produced from the proposals.
#[derive(Debug, Clone)]
pub struct Proposals {
    /// Query position, `[b, k, d]`.
    pub query_pos: Tensor<3>,
    /// Query content, `[b, k, d]`.
    pub tgt: Tensor<3>,
    /// Boxes of the top-k proposals in `[0, 1]`, `[b, k, 4]`.
    pub reference_points: Tensor<3>,
    /// Encoder class logits `[b, len, classes]` and box logits `[b, len, 4]`.
    pub enc_outputs: (Tensor<3>, Tensor<3>),
}

/// Sine embedding of proposal boxes (128 features per coordinate at `d = 256`).
///
/// # Shapes
/// - `logits`: `[b, k, 4]` (inverse-sigmoid boxes) → `[b, k, 2d]`
fn proposal_pos_embed(logits: Tensor<3>, d_model: usize) -> Tensor<3> {
    let [b, k, _] = logits.dims();
    let n = d_model / 2;
    let dim_t: Vec<f32> = (0..n).map(|i| 10000f32.powf((2 * (i / 2)) as f32 / n as f32)).collect();
    let device = logits.device();
    // [1, 1, 1, n]
    let dim_t = Tensor::<4>::from_data(TensorData::new(dim_t, [1, 1, 1, n]), &device);
    // [b, k, 4, n]
    let pos = (sigmoid(logits) * core::f64::consts::TAU).unsqueeze_dim::<4>(3) / dim_t;
    // [b, k, 4, n/2, 1] each
    let pos = pos.reshape([b, k, 4, n / 2, 2]);
    let sin = pos.clone().narrow(4, 0, 1).sin();
    let cos = pos.narrow(4, 1, 1).cos();
    // [b, k, 4·n]
    Tensor::cat(vec![sin, cos], 4).reshape([b, k, 4 * n])
}

/// The anchor box of cell `(i, j)` (row, column) of level `level` (grid `[h, w]`):
/// its centre, size 0.05·2^level, normalised `(cx, cy, w, h)`; and whether it is valid
/// (every coordinate in (0.01, 0.99): cells at the borders are not proposals).
fn anchor(level: usize, i: usize, j: usize, [h, w]: [usize; 2]) -> ([f32; 4], bool) {
    let size = 0.05f32 * 2f32.powi(level as i32);
    let p = [(j as f32 + 0.5) / w as f32, (i as f32 + 0.5) / h as f32, size, size];
    (p, p.iter().all(|&v| v > 0.01 && v < 0.99))
}

/// Fixed pairing of encoder proposals with target boxes (`[model] proposal_assign =
/// "centre"`): each box, in order, gets the cell of the finest level that holds its centre
/// (CenterNet's and FCOS's assignment); if that cell is invalid or already taken, the cell
/// holding it on the next coarser level, and so on; a box left without a cell gets no
/// proposal loss. Returns `(cell, box)` pairs, cells numbered as the flattened encoder
/// output (levels in order, row-major within a level).
pub fn centre_assignment(boxes: &[[f32; 4]], spatial_shapes: &[[usize; 2]]) -> Vec<(usize, usize)> {
    let mut taken = std::collections::HashSet::new();
    let mut pairs = Vec::with_capacity(boxes.len());
    // The cell of a normalised coordinate on `n` cells, clamped to the grid.
    let cell = |v: f32, n: usize| ((v * n as f32).floor().max(0.0) as usize).min(n - 1);
    for (k, b) in boxes.iter().enumerate().filter(|(_, b)| b[0].is_finite() && b[1].is_finite()) {
        let mut offset = 0;
        for (level, &[h, w]) in spatial_shapes.iter().enumerate() {
            if h > 0 && w > 0 {
                let (i, j) = (cell(b[1], h), cell(b[0], w));
                let idx = offset + i * w + j;
                if anchor(level, i, j, [h, w]).1 && taken.insert(idx) {
                    pairs.push((idx, k));
                    break;
                }
            }
            offset += h * w;
        }
    }
    pairs
}

/// IoU of two `(x0, y0, x1, y1)` boxes; 0 where either is not finite or has no area.
fn iou(a: [f64; 4], b: [f64; 4]) -> f64 {
    let area = |c: [f64; 4]| (c[2] - c[0]).max(0.0) * (c[3] - c[1]).max(0.0);
    let inter = area([a[0].max(b[0]), a[1].max(b[1]), a[2].min(b[2]), a[3].min(b[3])]);
    let union = area(a) + area(b) - inter;
    if union > 0.0 && inter.is_finite() && union.is_finite() { inter / union } else { 0.0 }
}

/// Distinct top-`k` proposal selection (`[model] proposal_nms`, DDQ's "distinct queries",
/// Zhang et al. 2023): proposals in order of decreasing score, each kept unless its box
/// overlaps an already kept one by an IoU above `max_iou`; when fewer than `k` survive, the
/// best suppressed ones fill the remaining slots (the decoder needs exactly `k` queries).
/// Without it, the cells around one strong bubble (each predicting a box on it) can take
/// many of the `k` slots and crowd out weak bubbles. Returns `k.min(scores.len())` indices,
/// kept ones first, each group by decreasing score; NaN scores sort last.
///
/// `boxes` are `(cx, cy, w, h)`, one per score.
pub fn distinct_top_k(scores: &[f32], boxes: &[[f32; 4]], k: usize, max_iou: f32) -> Vec<usize> {
    let corners: Vec<[f64; 4]> = boxes.iter().map(|&b| cxcywh_to_xyxy(b)).collect();
    distinct_top_k_with(scores, k, |i, j| iou(corners[i], corners[j]) > f64::from(max_iou))
}

/// [`distinct_top_k`] with "the same bubble" judged by the box centres instead of the
/// boxes (`[model] proposal_nms_px`): a proposal whose centre lies closer than `min_px`
/// pixels to an already kept one's is passed over. `boxes` are normalised `(cx, cy, w, h)`
/// on an image of `size = [h, w]` pixels. For point-like objects whose boxes are a PSF
/// wide, an IoU bound also passes over the second of two bubbles a PSF width apart; a
/// centre distance tells them apart.
pub fn distinct_top_k_centre(
    scores: &[f32],
    boxes: &[[f32; 4]],
    k: usize,
    min_px: f64,
    size: [usize; 2],
) -> Vec<usize> {
    let (h, w) = (size[0] as f64, size[1] as f64);
    distinct_top_k_with(scores, k, |i, j| {
        let dx = (f64::from(boxes[i][0]) - f64::from(boxes[j][0])) * w;
        let dy = (f64::from(boxes[i][1]) - f64::from(boxes[j][1])) * h;
        // NaN centres never count as the same bubble (as NaN boxes have IoU 0).
        dx.hypot(dy) < min_px
    })
}

/// The selection of [`distinct_top_k`], with `same(i, j)` saying whether proposals `i`
/// and `j` are the same object.
fn distinct_top_k_with(scores: &[f32], k: usize, same: impl Fn(usize, usize) -> bool) -> Vec<usize> {
    let k = k.min(scores.len());
    let mut order: Vec<usize> = (0..scores.len()).collect();
    let key = |i: usize| if scores[i].is_nan() { f32::NEG_INFINITY } else { scores[i] };
    order.sort_by(|&a, &b| key(b).total_cmp(&key(a)).then(a.cmp(&b)));
    let mut kept: Vec<usize> = Vec::with_capacity(k);
    let mut suppressed = Vec::new();
    for &i in &order {
        if kept.len() == k {
            break;
        }
        if kept.iter().any(|&j| same(i, j)) {
            suppressed.push(i);
        } else {
            kept.push(i);
        }
    }
    let missing = k - kept.len();
    kept.extend(suppressed.into_iter().take(missing));
    kept
}

/// How two-stage proposals are made distinct (see [`distinct_top_k`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Distinct {
    /// Boxes overlapping by an IoU above this are the same object.
    Iou(f64),
    /// Centres closer than `min_px` pixels of the `size = [h, w]` input are the same object.
    Centre {
        /// Smallest distance between two kept proposals' centres, pixels.
        min_px: f64,
        /// Input image `[h, w]`, pixels.
        size: [usize; 2],
    },
}

impl TwoStage {
    /// Score every encoder cell as a proposal, keep the `top_k` best (or, with `nms`, the
    /// `top_k` best distinct ones: [`distinct_top_k`]) and embed them.
    ///
    /// # Shapes
    /// - `memory`: `[b, len, d]`, `len = Σ h_l·w_l`
    pub fn proposals(
        &self,
        memory: Tensor<3>,
        spatial_shapes: &[[usize; 2]],
        class_head: &Linear,
        box_head: &Mlp,
        top_k: usize,
        nms: Option<Distinct>,
    ) -> Proposals {
        let [b, len, d] = memory.dims();
        let device = memory.device();
        let mut anchors = Vec::with_capacity(len * 4);
        let mut valid = Vec::with_capacity(len);
        for (level, &[h, w]) in spatial_shapes.iter().enumerate() {
            for i in 0..h {
                for j in 0..w {
                    let (p, ok) = anchor(level, i, j, [h, w]);
                    valid.push(ok);
                    for v in p {
                        anchors.push(if ok { (v / (1.0 - v)).ln() } else { f32::INFINITY });
                    }
                }
            }
        }
        // [1, len, 4]
        let anchors = Tensor::<3>::from_data(TensorData::new(anchors, [1, len, 4]), &device);
        // [1, len, 1], true where invalid
        let invalid = Tensor::<3, Bool>::from_data(
            TensorData::new(valid.iter().map(|v| !v).collect::<Vec<_>>(), [1, len, 1]),
            &device,
        );
        let object_query = memory.mask_fill(invalid.expand([b, len, d]), 0.0);
        // [b, len, d]
        let object_query = self.enc_output_norm.forward(self.enc_output.forward(object_query));
        // [b, len, classes]
        let enc_class = class_head.forward(object_query.clone());
        // [b, len, 4]
        let enc_coord = box_head.forward(object_query) + anchors;
        let k = top_k.min(len);
        // [b, len]
        let scores = enc_class.clone().narrow(2, 0, 1).reshape([b, len]);
        // [b, k]
        let idx = match nms {
            None => scores.topk_with_indices(k, 1).1,
            Some(rule) => {
                let floats = |t: Tensor<3>| t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap_or_default();
                let s = floats(scores.reshape([b, len, 1]));
                let c = floats(sigmoid(enc_coord.clone().detach()));
                let mut flat: Vec<i64> = Vec::with_capacity(b * k);
                for bi in 0..b {
                    let boxes: Vec<[f32; 4]> =
                        c[bi * len * 4..(bi + 1) * len * 4].chunks_exact(4).map(|p| [p[0], p[1], p[2], p[3]]).collect();
                    let scores = &s[bi * len..(bi + 1) * len];
                    let sel = match rule {
                        Distinct::Iou(max_iou) => distinct_top_k(scores, &boxes, k, max_iou as f32),
                        Distinct::Centre { min_px, size } => distinct_top_k_centre(scores, &boxes, k, min_px, size),
                    };
                    flat.extend(sel.into_iter().map(|i| i as i64));
                }
                Tensor::<2, Int>::from_data(TensorData::new(flat, [b, k]), &device)
            }
        };
        // [b, k, 4]
        let idx = idx.unsqueeze_dim::<3>(2).expand([b, k, 4]);
        let topk_coords = enc_coord.clone().gather(1, idx).detach();
        let reference_points = sigmoid(topk_coords.clone());
        let (query_pos, tgt) = self.embed(topk_coords);
        Proposals { query_pos, tgt, reference_points, enc_outputs: (enc_class, enc_coord) }
    }

    /// Query position and content of boxes given as inverse-sigmoid logits: what the
    /// decoder receives for a proposal (and for a denoising query, DN-DETR).
    ///
    /// # Shapes
    /// - `logits`: `[b, k, 4]` → (`[b, k, d]`, `[b, k, d]`)
    pub fn embed(&self, logits: Tensor<3>) -> (Tensor<3>, Tensor<3>) {
        let d = self.enc_output.weight.dims()[1];
        // [b, k, 2d]
        let pos = self.pos_trans_norm.forward(self.pos_trans.forward(proposal_pos_embed(logits, d)));
        (pos.clone().narrow(2, 0, d), pos.narrow(2, d, d))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iou_by_hand() {
        // unit squares offset by half a side: intersection 0.5, union 1.5
        assert!((iou([0.0, 0.0, 1.0, 1.0], [0.5, 0.0, 1.5, 1.0]) - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(iou([0.0, 0.0, 1.0, 1.0], [2.0, 0.0, 3.0, 1.0]), 0.0);
        assert_eq!(iou([0.0, 0.0, 1.0, 1.0], [f64::NAN, 0.0, 1.0, 1.0]), 0.0);
        assert_eq!(iou([0.0, 0.0, 0.0, 1.0], [0.0, 0.0, 0.0, 1.0]), 0.0);
    }

    #[test]
    fn distinct_top_k_by_hand() {
        // 0 and 1 are the same bubble (IoU 1/3 between them), 2 overlaps 0 less (IoU 1/7:
        // offset 0.75 → intersection 0.25, union 1.75), 3 is elsewhere.
        let boxes = [[0.0, 0.0, 1.0, 1.0], [0.5, 0.0, 1.0, 1.0], [0.75, 0.0, 1.0, 1.0], [5.0, 5.0, 1.0, 1.0]];
        let scores = [0.9, 0.8, 0.7, 0.1];
        // plain top-3 would be 0, 1, 2
        assert_eq!(distinct_top_k(&scores, &boxes, 3, 0.3), vec![0, 2, 3]);
        // 2 overlaps 1 by 0.6, 0 by 1/7: at 0.1 it goes too, and 1 fills the last slot
        assert_eq!(distinct_top_k(&scores, &boxes, 3, 0.1), vec![0, 3, 1]);
        // a loose threshold is plain top-k
        assert_eq!(distinct_top_k(&scores, &boxes, 3, 0.99), vec![0, 1, 2]);
        // k larger than the candidates; NaN scores last
        assert_eq!(distinct_top_k(&[f32::NAN, 0.5], &boxes[..2], 5, 0.3), vec![1, 0]);
    }

    #[test]
    fn distinct_top_k_centre_by_hand() {
        // A 100 × 50 px image (h × w): centres in pixels (x, y) = (cx·50, cy·100).
        // 0 at (10, 10); 1 at (11, 10), 1 px away; 2 at (10, 12.5), 2.5 px from 0 and
        // 2.69 from 1; 3 far away. Boxes 4 px wide: 0 and 2 overlap by IoU 0.23, 0 and 1
        // by 0.6.
        let px = |x: f32, y: f32| [x / 50.0, y / 100.0, 4.0 / 50.0, 4.0 / 100.0];
        let boxes = [px(10.0, 10.0), px(11.0, 10.0), px(10.0, 12.5), px(40.0, 80.0)];
        let scores = [0.9, 0.8, 0.7, 0.1];
        // 1.5 px: 1 is the same bubble as 0; 2 is another bubble (an IoU bound of 0.15
        // would pass over it too).
        assert_eq!(distinct_top_k_centre(&scores, &boxes, 3, 1.5, [100, 50]), vec![0, 2, 3]);
        assert_eq!(distinct_top_k(&scores, &boxes, 3, 0.15), vec![0, 3, 1]);
        // 3 px: 2 goes too, and 1 fills the last slot
        assert_eq!(distinct_top_k_centre(&scores, &boxes, 3, 3.0, [100, 50]), vec![0, 3, 1]);
        // 0.5 px: plain top-k
        assert_eq!(distinct_top_k_centre(&scores, &boxes, 3, 0.5, [100, 50]), vec![0, 1, 2]);
        // NaN centres are never the same bubble
        let nan = [[f32::NAN, 0.1, 0.1, 0.1], [f32::NAN, 0.1, 0.1, 0.1]];
        assert_eq!(distinct_top_k_centre(&[0.9, 0.8], &nan, 2, 3.0, [100, 50]), vec![0, 1]);
    }

    /// The model uses the selection: an IoU bound of 1 is plain top-k (same outputs), and a
    /// tight one changes the queries while keeping their number. (Freshly initialised
    /// proposals are tiny boxes that never overlap, so the encoder box head's bias is set to
    /// make them large: `w = h ≈ 0.5`.)
    #[test]
    fn model_selects_distinct_proposals() {
        use crate::config::DeformableDetrConfig;
        use burn::module::Param;
        let device = Device::default();
        let config =
            DeformableDetrConfig::tiny().with_two_stage(true).with_two_stage_num_proposals(20).with_dropout(0.0);
        let mut plain = config.init(&device);
        let last = plain.bbox_embed.len() - 1;
        let head = plain.bbox_embed[last].layers.last_mut().unwrap();
        head.bias =
            Some(Param::from_tensor(Tensor::from_data(TensorData::new(vec![0.0f32, 0.0, 3.0, 3.0], [4]), &device)));
        let x = Tensor::<4>::random([2, 1, 64, 64], burn::tensor::Distribution::Uniform(0.0, 1.0), &device);
        let out = |nms: Option<f64>| {
            let mut m = plain.clone();
            m.two_stage_nms = nms;
            m.two_stage_nms_px = None;
            m.forward(x.clone()).pred_boxes
        };
        let base = out(None);
        let diff = |a: Tensor<3>| (a - base.clone()).abs().max().into_scalar::<f32>();
        assert_eq!(diff(out(Some(1.0))), 0.0);
        let tight = out(Some(0.3));
        assert_eq!(tight.dims(), [2, 20, 4]);
        assert!(diff(tight) > 1e-3);
        // By centre distance: a distance below any two centres' is plain top-k; a wide
        // one changes the queries.
        let by_centre = |px: f64| {
            let mut m = plain.clone();
            m.two_stage_nms_px = Some(px);
            m.forward(x.clone()).pred_boxes
        };
        assert_eq!(diff(by_centre(1e-6)), 0.0);
        let wide = by_centre(8.0);
        assert_eq!(wide.dims(), [2, 20, 4]);
        assert!(diff(wide) > 1e-3);
    }

    #[test]
    fn centre_assignment_by_hand() {
        // Levels 4×4 (cells 0..16), 2×2 (16..20) and 1×1 (20: centre 0.5, size 0.2, valid).
        let shapes = [[4, 4], [2, 2], [1, 1]];
        let boxes = [
            [0.30, 0.60, 0.1, 0.1], // row 2, col 1 → 9
            [0.32, 0.70, 0.1, 0.1], // same fine cell → level 1: row 1, col 0 → 16 + 2 = 18
            [0.33, 0.74, 0.1, 0.1], // both taken → level 2 → 20
            [0.34, 0.72, 0.1, 0.1], // nothing left → no pair
            [0.99, 0.0, 0.1, 0.1],  // row 0, col 3 → 3 (clamped at the edge)
            [f32::NAN, 0.5, 0.1, 0.1],
        ];
        assert_eq!(centre_assignment(&boxes, &shapes), vec![(9, 0), (18, 1), (20, 2), (3, 4)]);
    }

    #[test]
    fn centre_assignment_skips_invalid_anchors() {
        // 64 columns: the first cell's centre is 0.0078 < 0.01 (invalid) → the next level.
        let shapes = [[64, 64], [32, 32]];
        let pairs = centre_assignment(&[[0.001, 0.5, 0.05, 0.05]], &shapes);
        assert_eq!(pairs, vec![(64 * 64 + 16 * 32, 0)]);
    }
}
