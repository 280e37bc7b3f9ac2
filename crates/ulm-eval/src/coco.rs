//! COCO bounding-box evaluation, step for step as `pycocotools`' `COCOeval` (`iouType='bbox'`):
//! AP averaged over IoU thresholds .50:.05:.95, AP50, AP75, AP for small / medium / large
//! objects, AR at 1 / 10 / 100 detections per image and AR by object size — the 12 numbers
//! of `COCOeval.summarize()`, in its order ([`CocoStats::to_array`]).
//!
//! What it reproduces, so that the figures agree with pycocotools to rounding:
//! * detections of an image are ranked by score (stable: equal scores keep input order) and
//!   cut to the largest `maxDets` (100); then greedily matched at each IoU threshold, each to
//!   the free ground truth of highest IoU ≥ threshold (the last one on equal IoU), regular
//!   ground truth before ignored ones;
//! * crowd boxes (`iscrowd`) are ignored: they may absorb any number of detections, with IoU
//!   taken as intersection / detection area, and neither count as misses nor make hits;
//! * a ground truth outside the area range is ignored, as is an unmatched detection outside
//!   it; ground-truth size is its `area` field (COCO's, `w·h` for our boxes), a detection's
//!   `w·h`; range limits are inclusive (an area of exactly 32² is small *and* medium);
//! * per category, area range and detection limit, all images' detections are ranked by
//!   score (images in increasing id, stable), precision is made monotone from the right
//!   and sampled at 101 recall points (`searchsorted`, 0 past the largest recall);
//! * a category / area range without any regular ground truth contributes nothing; a figure
//!   with nothing to average is −1, as pycocotools prints it.
//!
//! ```
//! use ulm_eval::coco::{CocoDet, CocoGt, evaluate_bbox};
//! let gt = [CocoGt::new(1, 1, [10.0, 10.0, 6.0, 6.0]), CocoGt::new(1, 1, [40.0, 40.0, 4.0, 4.0])];
//! let dt = [
//!     CocoDet { image_id: 1, category_id: 1, bbox: [10.0, 10.0, 6.0, 6.0], score: 0.9 }, // exact
//!     CocoDet { image_id: 1, category_id: 1, bbox: [80.0, 80.0, 5.0, 5.0], score: 0.8 }, // false positive
//! ];
//! let s = evaluate_bbox(&[1], &[1], &gt, &dt).unwrap();
//! // Recall 1/2 at every IoU threshold, precision 1 up to it: AP = 51/101.
//! assert!((s.ap - 51.0 / 101.0).abs() < 1e-12);
//! assert_eq!(s.ar100, 0.5);
//! assert_eq!(s.ap_large, -1.0); // no large ground truth
//! ```

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

/// A ground-truth box (a COCO annotation).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CocoGt {
    /// Image it belongs to.
    pub image_id: u64,
    /// Category.
    pub category_id: u64,
    /// `[x, y, width, height]` in pixels, `(x, y)` the top-left corner.
    pub bbox: [f64; 4],
    /// Object area in px² used for the small / medium / large ranges (COCO's `area`).
    pub area: f64,
    /// A crowd region: ignored, may absorb several detections.
    pub iscrowd: bool,
}

impl CocoGt {
    /// A regular (non-crowd) box whose area is `width · height`.
    pub fn new(image_id: u64, category_id: u64, bbox: [f64; 4]) -> Self {
        Self { image_id, category_id, bbox, area: bbox[2] * bbox[3], iscrowd: false }
    }
}

/// A detection (a COCO result entry).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CocoDet {
    /// Image it belongs to (one of the evaluated images).
    pub image_id: u64,
    /// Category (detections of categories not evaluated are ignored, as in pycocotools).
    pub category_id: u64,
    /// `[x, y, width, height]` in pixels.
    pub bbox: [f64; 4],
    /// Confidence; higher ranks first.
    pub score: f64,
}

/// The 12 figures of `COCOeval.summarize()`. −1 where there was nothing to average (e.g.
/// `ap_large` without any large ground truth).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CocoStats {
    /// AP averaged over IoU .50:.05:.95, all areas, 100 detections.
    pub ap: f64,
    /// AP at IoU .50.
    pub ap50: f64,
    /// AP at IoU .75.
    pub ap75: f64,
    /// AP of small objects (area ≤ 32²).
    pub ap_small: f64,
    /// AP of medium objects (32² … 96²).
    pub ap_medium: f64,
    /// AP of large objects (≥ 96²).
    pub ap_large: f64,
    /// AR with 1 detection per image.
    pub ar1: f64,
    /// AR with 10 detections per image.
    pub ar10: f64,
    /// AR with 100 detections per image.
    pub ar100: f64,
    /// AR of small objects (100 detections).
    pub ar_small: f64,
    /// AR of medium objects.
    pub ar_medium: f64,
    /// AR of large objects.
    pub ar_large: f64,
}

impl CocoStats {
    /// The figures in `COCOeval.stats` order.
    pub fn to_array(&self) -> [f64; 12] {
        [
            self.ap,
            self.ap50,
            self.ap75,
            self.ap_small,
            self.ap_medium,
            self.ap_large,
            self.ar1,
            self.ar10,
            self.ar100,
            self.ar_small,
            self.ar_medium,
            self.ar_large,
        ]
    }

    fn from_array(s: [f64; 12]) -> Self {
        let [ap, ap50, ap75, ap_small, ap_medium, ap_large, ar1, ar10, ar100, ar_small, ar_medium, ar_large] = s;
        Self { ap, ap50, ap75, ap_small, ap_medium, ap_large, ar1, ar10, ar100, ar_small, ar_medium, ar_large }
    }
}

/// Invalid evaluation input.
#[derive(Debug, thiserror::Error)]
pub enum CocoError {
    /// A box with a non-finite coordinate or a negative size, or a non-finite score / area.
    #[error("{what} {index} (image {image_id}): {problem}")]
    BadBox {
        /// `ground truth` or `detection`.
        what: &'static str,
        /// Position in the input slice.
        index: usize,
        /// Its image.
        image_id: u64,
        /// What is wrong.
        problem: String,
    },
    /// A box refers to an image that is not evaluated (pycocotools refuses such results).
    #[error("{what} {index} refers to image {image_id}, which is not among the evaluated images")]
    UnknownImage {
        /// `ground truth` or `detection`.
        what: &'static str,
        /// Position in the input slice.
        index: usize,
        /// The unknown image.
        image_id: u64,
    },
}

/// IoU thresholds `np.linspace(.5, .95, 10)`, bit for bit (`i · step + start`, last = stop).
fn iou_thresholds() -> [f64; 10] {
    let step = (0.95 - 0.5) / 9.0;
    std::array::from_fn(|i| if i == 9 { 0.95 } else { i as f64 * step + 0.5 })
}

/// Recall points `np.linspace(0, 1, 101)`, bit for bit.
fn recall_thresholds() -> [f64; 101] {
    std::array::from_fn(|i| if i == 100 { 1.0 } else { i as f64 * 0.01 })
}

/// Detection limits per image.
const MAX_DETS: [usize; 3] = [1, 10, 100];
/// Area ranges `all, small, medium, large` in px², inclusive.
const AREA_RANGES: [(f64, f64); 4] = [(0.0, 1e10), (0.0, 1024.0), (1024.0, 9216.0), (9216.0, 1e10)];
/// `np.spacing(1)`, added to the precision denominator as pycocotools does.
const EPS: f64 = f64::EPSILON;

/// IoU of two `[x, y, w, h]` boxes as pycocotools' `bbIou`; for a crowd ground truth the
/// union is the detection's area.
fn iou(d: &[f64; 4], g: &[f64; 4], crowd: bool) -> f64 {
    let w = (d[2] + d[0]).min(g[2] + g[0]) - d[0].max(g[0]);
    if w <= 0.0 {
        return 0.0;
    }
    let h = (d[3] + d[1]).min(g[3] + g[1]) - d[1].max(g[1]);
    if h <= 0.0 {
        return 0.0;
    }
    let (da, ga, i) = (d[2] * d[3], g[2] * g[3], w * h);
    i / if crowd { da } else { da + ga - i }
}

/// One image × category × area range, after matching (`COCOeval.evaluateImg`).
struct ImageEval {
    /// Scores of the (ranked, cut) detections.
    scores: Vec<f64>,
    /// `[threshold][detection]`: matched to a regular (not ignored) ground truth.
    matched: Vec<Vec<bool>>,
    /// `[threshold][detection]`: ignored (matched to an ignored ground truth, or unmatched
    /// and outside the area range).
    ignored: Vec<Vec<bool>>,
    /// Regular ground truths (the recall denominator).
    n_regular: usize,
}

/// Matches the ranked detections of one image and category against its ground truths for
/// one area range. `ious[d][g]` is in the input order of `gts`.
fn evaluate_image(
    gts: &[&CocoGt],
    dts: &[&CocoDet],
    ious: &[Vec<f64>],
    range: (f64, f64),
    thresholds: &[f64; 10],
) -> ImageEval {
    let outside = |a: f64| a < range.0 || a > range.1;
    let gt_ignore: Vec<bool> = gts.iter().map(|g| g.iscrowd || outside(g.area)).collect();
    // Regular ground truths first (stable), as pycocotools sorts them.
    let mut order: Vec<usize> = (0..gts.len()).collect();
    order.sort_by_key(|&g| gt_ignore[g]);
    let n_regular = gt_ignore.iter().filter(|&&i| !i).count();
    let (nt, nd) = (thresholds.len(), dts.len());
    let mut matched = vec![vec![false; nd]; nt];
    let mut ignored = vec![vec![false; nd]; nt];
    for (t, &thr) in thresholds.iter().enumerate() {
        let mut gt_taken = vec![false; gts.len()];
        for d in 0..nd {
            let mut best_iou = thr.min(1.0 - 1e-10);
            let mut m: Option<usize> = None;
            for &g in &order {
                if gt_taken[g] && !gts[g].iscrowd {
                    continue;
                }
                // Once matched to a regular ground truth, ignored ones cannot win.
                if m.is_some_and(|m| !gt_ignore[m]) && gt_ignore[g] {
                    break;
                }
                if ious[d][g] < best_iou {
                    continue;
                }
                best_iou = ious[d][g];
                m = Some(g);
            }
            match m {
                Some(g) => {
                    gt_taken[g] = true;
                    ignored[t][d] = gt_ignore[g];
                    matched[t][d] = true;
                }
                None => ignored[t][d] = outside(dts[d].bbox[2] * dts[d].bbox[3]),
            }
        }
    }
    ImageEval { scores: dts.iter().map(|d| d.score).collect(), matched, ignored, n_regular }
}

/// Precision at the 101 recall points and the final recall, for one category, area range,
/// detection limit and IoU threshold (`COCOeval.accumulate`). `None` without regular ground
/// truth (pycocotools leaves −1 there).
fn accumulate(evals: &[&ImageEval], t: usize, max_det: usize, rec_thrs: &[f64; 101]) -> Option<(Vec<f64>, f64)> {
    let n_regular: usize = evals.iter().map(|e| e.n_regular).sum();
    if n_regular == 0 {
        return None;
    }
    // (score, matched, ignored) of every image's first `max_det` detections, images in order.
    let mut all: Vec<(f64, bool, bool)> = evals
        .iter()
        .flat_map(|e| {
            let k = e.scores.len().min(max_det);
            (0..k).map(move |d| (e.scores[d], e.matched[t][d], e.ignored[t][d]))
        })
        .collect();
    // Stable, like numpy's mergesort of -score.
    all.sort_by(|a, b| b.0.total_cmp(&a.0));
    let (mut tp, mut fp) = (0.0f64, 0.0f64);
    let mut rc = Vec::with_capacity(all.len());
    let mut pr = Vec::with_capacity(all.len());
    for &(_, m, ig) in &all {
        if ig {
            // Ignored detections still take a place in the cumulative sums.
        } else if m {
            tp += 1.0;
        } else {
            fp += 1.0;
        }
        rc.push(tp / n_regular as f64);
        pr.push(tp / (fp + tp + EPS));
    }
    let recall = rc.last().copied().unwrap_or(0.0);
    for i in (1..pr.len()).rev() {
        if pr[i] > pr[i - 1] {
            pr[i - 1] = pr[i];
        }
    }
    let q = rec_thrs
        .iter()
        .map(|&r| {
            let i = rc.partition_point(|&x| x < r);
            pr.get(i).copied().unwrap_or(0.0)
        })
        .collect();
    Some((q, recall))
}

fn check_box(what: &'static str, index: usize, image_id: u64, b: &[f64; 4]) -> Result<(), CocoError> {
    if b.iter().any(|v| !v.is_finite()) || b[2] < 0.0 || b[3] < 0.0 {
        return Err(CocoError::BadBox {
            what,
            index,
            image_id,
            problem: format!("box {b:?} must be finite with non-negative size"),
        });
    }
    Ok(())
}

/// Evaluates detections against ground truth over `images` and `categories` (both as the
/// ground-truth file lists them; images without ground truth count, as in COCO) with
/// pycocotools' default parameters. Ground truths and detections of categories not listed
/// are ignored.
///
/// # Errors
/// A non-finite or negative-size box, a non-finite score or area, or a box on an image not
/// in `images`.
pub fn evaluate_bbox(
    images: &[u64],
    categories: &[u64],
    gts: &[CocoGt],
    dets: &[CocoDet],
) -> Result<CocoStats, CocoError> {
    let mut image_ids = images.to_vec();
    image_ids.sort_unstable();
    image_ids.dedup();
    let mut cat_ids = categories.to_vec();
    cat_ids.sort_unstable();
    cat_ids.dedup();
    let img_index: HashMap<u64, usize> = image_ids.iter().enumerate().map(|(i, &id)| (id, i)).collect();
    let cat_index: HashMap<u64, usize> = cat_ids.iter().enumerate().map(|(i, &id)| (id, i)).collect();

    // Boxes per (image, category), in input order.
    let mut gt_cells: BTreeMap<(usize, usize), Vec<&CocoGt>> = BTreeMap::new();
    for (i, g) in gts.iter().enumerate() {
        check_box("ground truth", i, g.image_id, &g.bbox)?;
        if !g.area.is_finite() {
            let problem = format!("area {} is not finite", g.area);
            return Err(CocoError::BadBox { what: "ground truth", index: i, image_id: g.image_id, problem });
        }
        let im = *img_index.get(&g.image_id).ok_or(CocoError::UnknownImage {
            what: "ground truth",
            index: i,
            image_id: g.image_id,
        })?;
        if let Some(&c) = cat_index.get(&g.category_id) {
            gt_cells.entry((im, c)).or_default().push(g);
        }
    }
    let mut dt_cells: BTreeMap<(usize, usize), Vec<&CocoDet>> = BTreeMap::new();
    for (i, d) in dets.iter().enumerate() {
        check_box("detection", i, d.image_id, &d.bbox)?;
        if !d.score.is_finite() {
            let problem = format!("score {} is not finite", d.score);
            return Err(CocoError::BadBox { what: "detection", index: i, image_id: d.image_id, problem });
        }
        let im = *img_index.get(&d.image_id).ok_or(CocoError::UnknownImage {
            what: "detection",
            index: i,
            image_id: d.image_id,
        })?;
        if let Some(&c) = cat_index.get(&d.category_id) {
            dt_cells.entry((im, c)).or_default().push(d);
        }
    }

    let thresholds = iou_thresholds();
    let rec_thrs = recall_thresholds();
    let max_det = MAX_DETS[MAX_DETS.len() - 1];
    // evals[category][area] = matched cells, images in increasing id.
    let mut evals: Vec<Vec<Vec<ImageEval>>> =
        (0..cat_ids.len()).map(|_| (0..AREA_RANGES.len()).map(|_| Vec::new()).collect()).collect();
    let keys: std::collections::BTreeSet<(usize, usize)> = gt_cells.keys().chain(dt_cells.keys()).copied().collect();
    for (im, c) in keys {
        let g: &[&CocoGt] = gt_cells.get(&(im, c)).map_or(&[], |v| v.as_slice());
        let mut d: Vec<&CocoDet> = dt_cells.get(&(im, c)).cloned().unwrap_or_default();
        d.sort_by(|a, b| b.score.total_cmp(&a.score)); // stable
        d.truncate(max_det);
        let ious: Vec<Vec<f64>> =
            d.iter().map(|d| g.iter().map(|g| iou(&d.bbox, &g.bbox, g.iscrowd)).collect()).collect();
        for (a, &range) in AREA_RANGES.iter().enumerate() {
            evals[c][a].push(evaluate_image(g, &d, &ious, range, &thresholds));
        }
    }

    // precision[t][area][maxdet] and recall[t][area][maxdet] as lists over categories
    // (categories without regular ground truth left out, as their −1 entries are).
    let mean = |v: &[f64]| if v.is_empty() { -1.0 } else { v.iter().sum::<f64>() / v.len() as f64 };
    let ap = |ts: &[usize], a: usize, m: usize| -> f64 {
        let mut vals = Vec::new();
        for per_cat in &evals {
            let cells: Vec<&ImageEval> = per_cat[a].iter().collect();
            for &t in ts {
                if let Some((q, _)) = accumulate(&cells, t, MAX_DETS[m], &rec_thrs) {
                    vals.extend(q);
                }
            }
        }
        mean(&vals)
    };
    let ar = |a: usize, m: usize| -> f64 {
        let mut vals = Vec::new();
        for per_cat in &evals {
            let cells: Vec<&ImageEval> = per_cat[a].iter().collect();
            for t in 0..thresholds.len() {
                if let Some((_, r)) = accumulate(&cells, t, MAX_DETS[m], &rec_thrs) {
                    vals.push(r);
                }
            }
        }
        mean(&vals)
    };
    let all_t: Vec<usize> = (0..thresholds.len()).collect();
    // IoU .50 and .75 are thresholds 0 and 5.
    Ok(CocoStats::from_array([
        ap(&all_t, 0, 2),
        ap(&[0], 0, 2),
        ap(&[5], 0, 2),
        ap(&all_t, 1, 2),
        ap(&all_t, 2, 2),
        ap(&all_t, 3, 2),
        ar(0, 0),
        ar(0, 1),
        ar(0, 2),
        ar(1, 2),
        ar(2, 2),
        ar(3, 2),
    ]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn det(image_id: u64, bbox: [f64; 4], score: f64) -> CocoDet {
        CocoDet { image_id, category_id: 1, bbox, score }
    }

    #[test]
    fn thresholds_are_numpy_linspace() {
        let t = iou_thresholds();
        // np.linspace(.5, .95, 10).tolist() with numpy 2.4 (note 0.8999999999999999).
        let numpy = [0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.8999999999999999, 0.95];
        assert_eq!(t, numpy);
        let r = recall_thresholds();
        // np.linspace(0, 1, 101)[[3, 7, 29, 57]] (the ones where i*0.01 != i/100).
        assert_eq!([r[3], r[7], r[29], r[57]], [0.03, 0.07, 0.29, 0.5700000000000001]);
    }

    #[test]
    fn iou_of_hand_made_boxes() {
        // Overlap 2x4 = 8 px²; areas 16 and 16: 8 / 24.
        assert!((iou(&[0.0, 0.0, 4.0, 4.0], &[2.0, 0.0, 4.0, 4.0], false) - 1.0 / 3.0).abs() < 1e-15);
        // Crowd: 8 / detection area 16.
        assert_eq!(iou(&[0.0, 0.0, 4.0, 4.0], &[2.0, 0.0, 4.0, 4.0], true), 0.5);
        // Touching edges do not overlap.
        assert_eq!(iou(&[0.0, 0.0, 4.0, 4.0], &[4.0, 0.0, 4.0, 4.0], false), 0.0);
    }

    /// Worked by hand. One image, three 10×10 ground truths (small), four detections:
    /// * 0.9 on GT A exactly (IoU 1);
    /// * 0.8 shifted 3 px on GT B: overlap 7×10 = 70, union 130, IoU 0.5385 (a hit at .50 only);
    /// * 0.7 far from everything (false positive);
    /// * 0.6 on GT A again (duplicate: A is taken → false positive).
    ///
    /// GT C is never found.
    /// At IoU .50: ranks TP, TP, FP, FP → recall 1/3, 2/3, 2/3, 2/3; precision
    /// 1, 1, 2/3, 1/2 → monotone 1, 1, 2/3, 1/2. Recall points 0…0.66 (67 of them) take
    /// precision 1, the rest 0: AP = 67/101.
    /// At IoU .55 … .95 (9 thresholds): TP, FP, FP, FP → recall 1/3; points 0…0.33 (34)
    /// take 1: AP = 34/101.
    /// AP = (67 + 9·34)/(10·101); AP50 = 67/101; AP75 = 34/101.
    /// AR@100 = (2/3 + 9·1/3)/10 = 11/30; AR@1 = 1/3 (only the 0.9 detection);
    /// AR@10 = AR@100. All objects are small (100 px²): AP_small = AP, medium/large −1.
    #[test]
    fn hand_worked_example() {
        let gt = [
            CocoGt::new(7, 1, [0.0, 0.0, 10.0, 10.0]),
            CocoGt::new(7, 1, [20.0, 0.0, 10.0, 10.0]),
            CocoGt::new(7, 1, [40.0, 0.0, 10.0, 10.0]),
        ];
        let dt = [
            det(7, [0.0, 0.0, 10.0, 10.0], 0.9),
            det(7, [23.0, 0.0, 10.0, 10.0], 0.8),
            det(7, [70.0, 70.0, 10.0, 10.0], 0.7),
            det(7, [0.0, 0.0, 10.0, 10.0], 0.6),
        ];
        let s = evaluate_bbox(&[7], &[1], &gt, &dt).unwrap();
        let ap = (67.0 + 9.0 * 34.0) / 1010.0;
        let ar = 11.0 / 30.0;
        let want = [ap, 67.0 / 101.0, 34.0 / 101.0, ap, -1.0, -1.0, 1.0 / 3.0, ar, ar, ar, -1.0, -1.0];
        for (k, (g, w)) in s.to_array().iter().zip(want).enumerate() {
            assert!((g - w).abs() < 1e-12, "stat {k}: {g} vs {w}");
        }
    }

    /// Crowd ground truth: a detection on it is ignored (neither TP nor FP), several may
    /// fall on it; an image without detections still counts its misses.
    #[test]
    fn crowd_absorbs_detections_and_missed_images_count() {
        let mut crowd = CocoGt::new(1, 1, [0.0, 0.0, 50.0, 50.0]);
        crowd.iscrowd = true;
        let gt = [crowd, CocoGt::new(1, 1, [100.0, 100.0, 8.0, 8.0]), CocoGt::new(2, 1, [5.0, 5.0, 8.0, 8.0])];
        let dt = [
            det(1, [0.0, 0.0, 10.0, 10.0], 0.95),  // inside the crowd: IoU 100/100 = 1 → ignored
            det(1, [20.0, 20.0, 10.0, 10.0], 0.9), // also inside the crowd → ignored
            det(1, [100.0, 100.0, 8.0, 8.0], 0.5), // exact hit
        ];
        let s = evaluate_bbox(&[1, 2], &[1], &gt, &dt).unwrap();
        // Two regular GTs, one found at every threshold with precision 1: recall 1/2.
        assert!((s.ap - 51.0 / 101.0).abs() < 1e-12, "{}", s.ap);
        assert_eq!((s.ar100, s.ar1), (0.5, 0.0)); // top-1 of image 1 is the ignored 0.95
    }

    #[test]
    fn bad_input_is_an_error() {
        let gt = [CocoGt::new(1, 1, [0.0, 0.0, 4.0, 4.0])];
        let e = evaluate_bbox(&[1], &[1], &gt, &[det(3, [0.0, 0.0, 1.0, 1.0], 0.5)]).unwrap_err();
        assert!(matches!(e, CocoError::UnknownImage { image_id: 3, .. }), "{e}");
        let e = evaluate_bbox(&[1], &[1], &gt, &[det(1, [0.0, 0.0, -1.0, 1.0], 0.5)]).unwrap_err();
        assert!(e.to_string().contains("non-negative"), "{e}");
        let e = evaluate_bbox(&[1], &[1], &gt, &[det(1, [0.0, 0.0, 1.0, 1.0], f64::NAN)]).unwrap_err();
        assert!(e.to_string().contains("score"), "{e}");
        // Nothing at all: every figure is −1.
        assert_eq!(evaluate_bbox(&[1], &[1], &[], &[]).unwrap().to_array(), [-1.0; 12]);
    }
}
