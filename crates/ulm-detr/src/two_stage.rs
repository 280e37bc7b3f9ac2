//! Two-stage Deformable DETR: encoder proposals become the decoder's queries.

use burn::nn::{LayerNorm, Linear};
use burn::prelude::*;
use burn::tensor::activation::sigmoid;

use crate::heads::Mlp;

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

impl TwoStage {
    /// Score every encoder cell as a proposal, keep the `top_k` best and embed them.
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
        let (_, idx) = scores.topk_with_indices(k, 1);
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
