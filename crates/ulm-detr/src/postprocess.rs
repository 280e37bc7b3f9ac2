//! From network outputs to detections and microbubble localizations.
//!
//! The box centre is the microbubble position. Boxes are normalised `(cx, cy, w, h)` of
//! the input image; with pixel centres at integer indices a normalised `cx` is the pixel
//! coordinate `cx · W − 0.5`.

use burn::prelude::*;
use burn::tensor::activation::{sigmoid, softmax};
use ulm_core::{Detection, Geometry, Localizations};

/// One query's predicted box and score, in normalised image coordinates (the network's
/// output before it becomes a [`Detection`] in mm with [`QueryBox::to_detection`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QueryBox {
    /// Confidence in `[0, 1]`.
    pub score: f32,
    /// Class index (0 = microbubble).
    pub class: usize,
    /// Box centre x in `[0, 1]` of the image width.
    pub cx: f32,
    /// Box centre y (depth) in `[0, 1]` of the image height.
    pub cy: f32,
    /// Box width in `[0, 1]`.
    pub w: f32,
    /// Box height in `[0, 1]`.
    pub h: f32,
}

impl QueryBox {
    /// The [`Detection`] in mm (centre and box size) of this box on frame `frame`, an
    /// image of `height × width` pixels whose pixel grid is `geometry`.
    pub fn to_detection(&self, frame: u32, height: usize, width: usize, geometry: &Geometry) -> Detection {
        let col = f64::from(self.cx) * width as f64 - 0.5;
        let row = f64::from(self.cy) * height as f64 - 0.5;
        let (x_mm, z_mm) = geometry.px_to_mm(col, row);
        let w_mm = f64::from(self.w) * width as f64 * geometry.pixel_size_x_mm;
        let h_mm = f64::from(self.h) * height as f64 * geometry.pixel_size_z_mm;
        Detection { frame, x_mm, z_mm, score: self.score, size_mm: Some((w_mm, h_mm)) }
    }
}

fn host(t: Tensor<3>) -> (Vec<f32>, [usize; 3]) {
    let dims = t.dims();
    let v = t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap_or_default();
    (v, dims)
}

/// Deformable DETR: sigmoid scores, the `top_k` best (query, class) pairs of each image
/// with score ≥ `threshold`, best first (HuggingFace `post_process_object_detection`).
///
/// # Shapes
/// - `logits`: `[b, q, classes]`, `boxes`: `[b, q, 4]`; returns `b` lists
pub fn detections_sigmoid(logits: Tensor<3>, boxes: Tensor<3>, top_k: usize, threshold: f32) -> Vec<Vec<QueryBox>> {
    let (prob, [b, q, c]) = host(sigmoid(logits));
    let (boxes, _) = host(boxes);
    (0..b)
        .map(|bi| {
            let scores = &prob[bi * q * c..(bi + 1) * q * c];
            let mut order: Vec<usize> = (0..q * c).collect();
            order.sort_by(|&i, &j| scores[j].total_cmp(&scores[i]));
            order
                .into_iter()
                .take(top_k)
                .filter(|&i| scores[i] >= threshold)
                .map(|i| {
                    let (qi, class) = (i / c, i % c);
                    let bx = &boxes[(bi * q + qi) * 4..(bi * q + qi + 1) * 4];
                    QueryBox { score: scores[i], class, cx: bx[0], cy: bx[1], w: bx[2], h: bx[3] }
                })
                .collect()
        })
        .collect()
}

/// DETR: softmax over classes plus no-object (last), each query's best real class, kept
/// when its probability ≥ `threshold`; sorted best first.
///
/// # Shapes
/// - `logits`: `[b, q, classes + 1]`, `boxes`: `[b, q, 4]`; returns `b` lists
pub fn detections_softmax(logits: Tensor<3>, boxes: Tensor<3>, threshold: f32) -> Vec<Vec<QueryBox>> {
    let (prob, [b, q, c1]) = host(softmax(logits, 2));
    let (boxes, _) = host(boxes);
    (0..b)
        .map(|bi| {
            let mut dets: Vec<QueryBox> = (0..q)
                .filter_map(|qi| {
                    let p = &prob[(bi * q + qi) * c1..(bi * q + qi + 1) * c1 - 1];
                    let (class, &score) = p.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1))?;
                    let bx = &boxes[(bi * q + qi) * 4..(bi * q + qi + 1) * 4];
                    (score >= threshold).then_some(QueryBox { score, class, cx: bx[0], cy: bx[1], w: bx[2], h: bx[3] })
                })
                .collect();
            dets.sort_by(|a, b| b.score.total_cmp(&a.score));
            dets
        })
        .collect()
}

/// Localizations (with `w_mm`, `h_mm`) from the detections of images of `height × width`
/// pixels whose pixel grid is `geometry`; `frames[i]` is the frame of image `i`.
///
/// # Panics
/// If `frames` and `detections` differ in length.
pub fn to_localizations(
    detections: &[Vec<QueryBox>],
    frames: &[u32],
    height: usize,
    width: usize,
    geometry: &Geometry,
) -> Localizations {
    assert_eq!(detections.len(), frames.len(), "one frame number per image");
    let dets: Vec<Detection> = detections
        .iter()
        .zip(frames)
        .flat_map(|(dets, &frame)| dets.iter().map(move |d| d.to_detection(frame, height, width, geometry)))
        .collect();
    let mut loc = Localizations::from_detections(&dets);
    // An empty table still carries the box columns, as detectors always predict boxes.
    loc.w_mm.get_or_insert_with(Vec::new);
    loc.h_mm.get_or_insert_with(Vec::new);
    loc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sigmoid_topk_and_pixels() {
        let device = Device::default();
        // 1 image, 3 queries, 1 class: logits 0 (p = 0.5), 2 (p ≈ 0.881), -3 (p ≈ 0.047).
        let logits = Tensor::<3>::from_data([[[0.0f32], [2.0], [-3.0]]], &device);
        let boxes =
            Tensor::<3>::from_data([[[0.5f32, 0.25, 0.1, 0.1], [0.1, 0.9, 0.05, 0.2], [0.0, 0.0, 0.0, 0.0]]], &device);
        let dets = detections_sigmoid(logits, boxes, 2, 0.1);
        assert_eq!(dets[0].len(), 2);
        assert!((dets[0][0].score - 0.880_797).abs() < 1e-5);
        assert_eq!((dets[0][0].cx, dets[0][1].cx), (0.1, 0.5));
        // 40 × 20 image, 0.1 mm pitch, origin (1, 2) mm.
        let g = Geometry::new(0.1, 0.1, 1.0, 2.0, 0.2, 500.0).unwrap();
        let loc = to_localizations(&dets, &[7], 40, 20, &g);
        // cx 0.1 → col 0.1·20 − 0.5 = 1.5 → x = 1.15 mm; cy 0.9 → row 35.5 → z = 5.55 mm.
        assert!((loc.x_mm[0] - 1.15).abs() < 1e-6);
        assert!((loc.z_mm[0] - 5.55).abs() < 1e-6);
        assert_eq!(loc.frame, vec![7, 7]);
        // w 0.05 · 20 px · 0.1 mm = 0.1 mm; h 0.2 · 40 · 0.1 = 0.8 mm.
        assert!((loc.w_mm.as_ref().unwrap()[0] - 0.1).abs() < 1e-6);
        assert!((loc.h_mm.as_ref().unwrap()[0] - 0.8).abs() < 1e-6);
        loc.validate().unwrap();
    }

    #[test]
    fn softmax_drops_no_object() {
        let device = Device::default();
        // Query 0: object logit 3 vs no-object 0 → p = 0.953; query 1: no-object wins.
        let logits = Tensor::<3>::from_data([[[3.0f32, 0.0], [0.0, 3.0]]], &device);
        let boxes = Tensor::<3>::from_data([[[0.5f32, 0.5, 0.1, 0.1], [0.2, 0.2, 0.1, 0.1]]], &device);
        let dets = detections_softmax(logits, boxes, 0.5);
        assert_eq!(dets[0].len(), 1);
        assert!((dets[0][0].score - 0.952_574).abs() < 1e-5);
        assert_eq!(dets[0][0].cx, 0.5);
    }
}
