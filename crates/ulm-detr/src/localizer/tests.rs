//! Tiling, mapping and de-duplication with an oracle in place of the network: it returns
//! the known bubbles of each patch (optionally displaced per tile, as a real network
//! places a border bubble a little differently in each tile), so every error is the
//! pipeline's.

use std::sync::Mutex;

use ndarray::Array3;
use ulm_data::Tile;

use super::*;

/// Anisotropic pixels (0.1 mm lateral, 0.08 mm axial) so that a swapped axis shows.
fn geometry() -> Geometry {
    Geometry::new(0.1, 0.08, -3.0, 2.0, 0.2, 500.0).unwrap()
}

const SX: f64 = 1.3;
const SZ: f64 = 0.8;

/// Frames of Gaussian PSFs (σ 1.3 × 0.8 px, as the simulator's at λ/2) on a 0.05
/// background; `truth[f]` holds frame `f`'s bubbles as `(col, row)` pixels.
fn frames(rows: usize, cols: usize, truth: &[Vec<(f64, f64)>]) -> Array3<f32> {
    Array3::from_shape_fn((truth.len(), rows, cols), |(f, r, c)| {
        let v: f64 = truth[f]
            .iter()
            .map(|&(x, z)| {
                let (dx, dz) = (c as f64 - x, r as f64 - z);
                (-(dx * dx) / (2.0 * SX * SX) - (dz * dz) / (2.0 * SZ * SZ)).exp()
            })
            .sum();
        (0.05 + v) as f32
    })
}

/// How the oracle displaces its answer in a tile: by `sign` · 0.3 px along each axis on
/// which the bubble lies in an overlap (seen by two tiles), away from the tile centre for
/// `sign = 1` (towards the patch edge), towards it for `sign = -1`. Bubbles seen by one
/// tile along an axis are not displaced along it, so a merged border bubble lands back
/// on its true position exactly.
fn bias(grid: &TileGrid, tile: &Tile, col: f64, row: f64, sign: f64) -> (f64, f64) {
    let (n_rows, n_cols) = grid.counts();
    let seen = |p: f64, tiles: Vec<(usize, usize)>| {
        tiles.iter().filter(|&&(s, v)| p >= s as f64 - 0.5 && p < (s + v) as f64 - 0.5).count()
    };
    let cols: Vec<(usize, usize)> = (0..n_cols).map(|j| grid.tile(j)).map(|t| (t.col0, t.valid_cols)).collect();
    let rows: Vec<(usize, usize)> =
        (0..n_rows).map(|i| grid.tile(i * n_cols)).map(|t| (t.row0, t.valid_rows)).collect();
    let centre = |start: usize, n: usize| start as f64 + (n as f64 - 1.0) / 2.0;
    let shift = |p: f64, c: f64, n_seen: usize| if n_seen >= 2 { sign * 0.3 * (p - c).signum() } else { 0.0 };
    (
        shift(col, centre(tile.col0, grid.patch_cols), seen(col, cols)),
        shift(row, centre(tile.row0, grid.patch_rows), seen(row, rows)),
    )
}

struct Oracle {
    grid: TileGrid,
    first: u32,
    truth: Vec<Vec<(f64, f64)>>,
    bias_sign: f64,
    /// Frames in each batch seen.
    batches: Mutex<Vec<Vec<u32>>>,
}

impl PatchDetector for Oracle {
    fn detect(&self, patches: &[f32], h: usize, w: usize, refs: &[PatchRef], threshold: f32) -> Vec<Vec<QueryBox>> {
        assert_eq!(patches.len(), refs.len() * h * w);
        self.batches.lock().unwrap().push(refs.iter().map(|r| r.frame).collect());
        refs.iter()
            .enumerate()
            .map(|(i, r)| {
                let tile = self.grid.tile(r.tile);
                let patch = &patches[i * h * w..(i + 1) * h * w];
                let mut out = Vec::new();
                for &(col, row) in &self.truth[(r.frame - self.first) as usize] {
                    let (lc, lr) = (col - tile.col0 as f64, row - tile.row0 as f64);
                    if lc < -0.5
                        || lr < -0.5
                        || lc >= tile.valid_cols as f64 - 0.5
                        || lr >= tile.valid_rows as f64 - 0.5
                    {
                        continue;
                    }
                    // The patch is this tile of the frame, normalised (zero mean, unit
                    // variance): the bubble's pixel stands out.
                    let at = |c: f64, r: f64| patch[r.round() as usize * w + c.round() as usize];
                    assert!(at(lc, lr) > 1.5, "frame {} tile {}: {} at ({lc}, {lr})", r.frame, r.tile, at(lc, lr));
                    let (bx, bz) = bias(&self.grid, &tile, col, row, self.bias_sign);
                    let mut seen = vec![(lc + bx, lr + bz)];
                    // Reflection padding mirrors the bubble: a perfect model sees it too.
                    let mirror_r = 2.0 * (tile.valid_rows as f64 - 1.0) - lr;
                    if tile.valid_rows < h && mirror_r < h as f64 - 0.5 {
                        assert_eq!(at(lc, mirror_r), at(lc, lr));
                        seen.push((lc, mirror_r));
                    }
                    for (c, rr) in seen {
                        out.push(QueryBox {
                            score: 0.9,
                            class: 0,
                            cx: ((c + 0.5) / w as f64) as f32,
                            cy: ((rr + 0.5) / h as f64) as f32,
                            w: 4.0 / w as f32,
                            h: 3.0 / h as f32,
                        });
                    }
                }
                out.retain(|q| q.score >= threshold);
                out
            })
            .collect()
    }
}

fn localizer(oracle: Oracle, margin: f64, refine: Refine) -> DetrLocalizer {
    let p = oracle.grid.patch_rows;
    let mut cfg = InferenceConfig::new(p, InputNormalization::PeakDb { dynamic_range_db: 30.0 }, 0.5);
    cfg.overlap = 8;
    cfg.batch_size = 5;
    cfg.own_margin_px = margin;
    cfg.refine = refine;
    cfg.refine_patch = 7;
    DetrLocalizer::with_detector("oracle", Box::new(oracle), cfg).unwrap()
}

/// For each true bubble, the detections of its frame within `tol` px; also checks that
/// every detection has a partner within 0.6 px, lies in its frame, and carries its box.
fn matches(dets: &[Detection], truth: &[Vec<(f64, f64)>], first: u32, tol: f64) -> Vec<Vec<usize>> {
    let g = geometry();
    for d in dets {
        let (c, r) = g.mm_to_px(d.x_mm, d.z_mm);
        let t = &truth[(d.frame - first) as usize];
        assert!(t.iter().any(|&(x, z)| (x - c).hypot(z - r) < 0.6), "spurious detection at ({c}, {r}) in {}", d.frame);
        // 4 × 3 px box: 0.4 mm × 0.24 mm.
        let (w, h) = d.size_mm.unwrap();
        assert!((w - 0.4).abs() < 1e-6 && (h - 0.24).abs() < 1e-6, "{w} {h}");
    }
    truth
        .iter()
        .enumerate()
        .map(|(f, pts)| {
            pts.iter()
                .map(|&(x, z)| {
                    dets.iter()
                        .filter(|d| d.frame == first + f as u32)
                        .filter(|d| {
                            let (c, r) = g.mm_to_px(d.x_mm, d.z_mm);
                            (c - x).hypot(r - z) < tol
                        })
                        .count()
                })
                .collect()
        })
        .collect()
}

/// 90 × 75 frames (not multiples of the 32-px patch). With overlap 8 the tile rows start at
/// 0, 24, 48, 58 and own 0..28, 28..52, 52..69, 69..90; the tile columns start at 0, 24,
/// 43 and own 0..28, 28..50, 50..75 (by hand: the middle of each overlap). A bubble sits
/// on the column border 27.5 (between pixels 27 and 28) in each frame, one on the corner
/// (49.5, 51.5) of four tiles, one at the frame's last column in the overlap of two
/// tile rows.
fn scene() -> (TileGrid, Vec<Vec<(f64, f64)>>) {
    let grid = TileGrid::with_patch(90, 75, 32, 32, 8).unwrap();
    assert_eq!(grid.tile(0).own_cols, 0..28);
    assert_eq!(grid.tile(4).own_rows, 28..52);
    assert_eq!(grid.tile(4).own_cols, 28..50);
    let truth = vec![
        vec![(27.5, 12.2), (49.5, 51.5), (10.3, 12.7), (60.2, 80.4), (40.6, 40.1)],
        vec![(27.5, 84.3), (74.0, 30.6), (5.7, 86.9), (33.3, 8.8)],
    ];
    (grid, truth)
}

fn oracle(grid: &TileGrid, truth: &[Vec<(f64, f64)>], bias_sign: f64) -> Oracle {
    Oracle { grid: grid.clone(), first: 7, truth: truth.to_vec(), bias_sign, batches: Mutex::new(Vec::new()) }
}

#[test]
fn exact_oracle_reports_every_bubble_once_at_its_place() {
    let (grid, truth) = scene();
    let stack = frames(90, 75, &truth);
    for margin in [0.0, 1.0] {
        let loc = localizer(oracle(&grid, &truth, 0.0), margin, Refine::None);
        let dets = loc.localize_frames(stack.view(), 7, &geometry());
        // Border and corner bubbles are seen by 2 and 4 tiles; reported once, within
        // 0.01 px (the f32 box centre rounds at ~1e-5 px).
        let m = matches(&dets, &truth, 7, 0.01);
        assert!(m.iter().flatten().all(|&n| n == 1), "margin {margin}: {m:?}");
        assert_eq!(dets.len(), 9);
        assert!(dets.windows(2).all(|w| w[0].frame <= w[1].frame) && dets[0].frame == 7 && dets[8].frame == 8);
    }
}

#[test]
fn batches_span_frames() {
    let (grid, truth) = scene();
    let stack = frames(90, 75, &truth);
    let o = std::sync::Arc::new(oracle(&grid, &truth, 0.0));
    struct Shared(std::sync::Arc<Oracle>);
    impl PatchDetector for Shared {
        fn detect(&self, p: &[f32], h: usize, w: usize, refs: &[PatchRef], t: f32) -> Vec<Vec<QueryBox>> {
            self.0.detect(p, h, w, refs, t)
        }
    }
    let mut cfg = localizer(oracle(&grid, &truth, 0.0), 0.0, Refine::None).config().clone();
    cfg.batch_size = 5;
    let loc = DetrLocalizer::with_detector("oracle", Box::new(Shared(o.clone())), cfg).unwrap();
    loc.localize_frames(stack.view(), 7, &geometry());
    let batches = o.batches.lock().unwrap();
    // 2 frames × 12 tiles in batches of 5: 5 batches, the third holds both frames.
    assert_eq!(batches.iter().map(Vec::len).collect::<Vec<_>>(), vec![5, 5, 5, 5, 4]);
    assert_eq!(batches[2], vec![7, 7, 8, 8, 8]);
}

#[test]
fn border_duplicates_are_merged_and_a_margin_keeps_edge_biased_ones() {
    let (grid, truth) = scene();
    let stack = frames(90, 75, &truth);
    let border = |f: usize, i: usize| (f == 0 && i < 2) || (f == 1 && i == 0);
    // Each tile pulls its answer 0.3 px towards its centre: both estimates of a border
    // bubble stay in their own tile, 0.6 px apart; the score-weighted merge (equal
    // scores) puts the one detection back on the border exactly.
    for margin in [0.0, 1.0] {
        let dets =
            localizer(oracle(&grid, &truth, -1.0), margin, Refine::None).localize_frames(stack.view(), 7, &geometry());
        let exact = matches(&dets, &truth, 7, 0.01);
        let near = matches(&dets, &truth, 7, 0.5);
        for (f, (e, n)) in exact.iter().zip(&near).enumerate() {
            for (i, (&e, &n)) in e.iter().zip(n).enumerate() {
                assert_eq!(n, 1, "frame {f} bubble {i}: {n} detections within 0.5 px");
                if border(f, i) {
                    assert_eq!(e, 1, "frame {f} bubble {i} not merged on its border");
                }
            }
        }
    }
    // Pushed towards the patch edge, each tile's estimate of a border bubble falls on
    // the other tile's side: strict ownership (margin 0) loses the bubble, a 1-px margin
    // keeps both and the merge restores it exactly.
    let lost = localizer(oracle(&grid, &truth, 1.0), 0.0, Refine::None).localize_frames(stack.view(), 7, &geometry());
    let m = matches(&lost, &truth, 7, 0.5);
    assert_eq!((m[0][0], m[0][1], m[1][0]), (0, 0, 0), "{m:?}");
    let kept = localizer(oracle(&grid, &truth, 1.0), 1.0, Refine::None).localize_frames(stack.view(), 7, &geometry());
    let exact = matches(&kept, &truth, 7, 0.01);
    assert_eq!((exact[0][0], exact[0][1], exact[1][0]), (1, 1, 1), "{exact:?}");
    assert!(matches(&kept, &truth, 7, 0.5).iter().flatten().all(|&n| n == 1));
}

#[test]
fn refinement_corrects_displaced_centres() {
    let (grid, truth) = scene();
    let stack = frames(90, 75, &truth);
    // Centres in overlaps are off by 0.3 px per axis; radial symmetry on the 7 × 7
    // envelope window brings each back within 0.05 px (its error on these PSFs is < 0.03 px
    // alone; neighbours are ≥ 12 px away), except the bubble on the last column, whose
    // window does not fit: it keeps its box centre, 0.3 px off.
    let dets = localizer(oracle(&grid, &truth, 1.0), 1.0, Refine::Radial).localize_frames(stack.view(), 7, &geometry());
    let m = matches(&dets, &truth, 7, 0.05);
    assert_eq!(m, vec![vec![1, 1, 1, 1, 1], vec![1, 0, 1, 1]]);
    assert_eq!(matches(&dets, &truth, 7, 0.5)[1][1], 1);
}

#[test]
fn frame_smaller_than_the_patch_is_padded_and_the_mirror_dropped() {
    // 20 rows < 32: one tile row, reflection-padded; the oracle also reports the bubble's
    // mirror image in the padding (row 2 · 19 − 15.3 = 22.7), which must not survive.
    let truth = vec![vec![(30.2, 15.3), (60.0, 4.4)]];
    let stack = frames(20, 75, &truth);
    let grid = TileGrid::with_patch(20, 75, 32, 32, 8).unwrap();
    assert_eq!(grid.tile(0).valid_rows, 20);
    let o = Oracle { grid, first: 0, truth: truth.clone(), bias_sign: 0.0, batches: Mutex::new(Vec::new()) };
    let dets = localizer(o, 1.0, Refine::None).localize_frames(stack.view(), 0, &geometry());
    assert_eq!(matches(&dets, &truth, 0, 0.01), vec![vec![1, 1]]);
    assert_eq!(dets.len(), 2);
    // One frame at a time gives the same.
    let o = Oracle {
        grid: TileGrid::with_patch(20, 75, 32, 32, 8).unwrap(),
        first: 4,
        truth: truth.clone(),
        bias_sign: 0.0,
        batches: Mutex::new(Vec::new()),
    };
    let single = localizer(o, 1.0, Refine::None).localize_frame(stack.index_axis(Axis(0), 0), 4, &geometry());
    assert_eq!(single.iter().map(|d| (d.x_mm, d.z_mm)).collect::<Vec<_>>(), {
        dets.iter().map(|d| (d.x_mm, d.z_mm)).collect::<Vec<_>>()
    });
    assert!(single.iter().all(|d| d.frame == 4));
}

#[test]
fn settings_are_validated() {
    let (grid, truth) = scene();
    let mut cfg = localizer(oracle(&grid, &truth, 0.0), 0.0, Refine::None).config().clone();
    cfg.overlap = 32;
    let e = DetrLocalizer::with_detector("o", Box::new(oracle(&grid, &truth, 0.0)), cfg.clone()).unwrap_err();
    assert!(e.to_string().contains("overlap"), "{e}");
    cfg.overlap = 4;
    cfg.score_threshold = 1.5;
    assert!(DetrLocalizer::with_detector("o", Box::new(oracle(&grid, &truth, 0.0)), cfg.clone()).is_err());
    cfg.score_threshold = 0.5;
    cfg.refine_patch = 4;
    let e = DetrLocalizer::with_detector("o", Box::new(oracle(&grid, &truth, 0.0)), cfg.clone()).unwrap_err();
    assert!(e.to_string().contains("refinement window"), "{e}");
    cfg.refine_patch = 5;
    for bad in [0.0, -0.3, f64::NAN, 3.0] {
        cfg.pixel_pitch_wavelengths = Some(bad);
        let e = DetrLocalizer::with_detector("o", Box::new(oracle(&grid, &truth, 0.0)), cfg.clone()).unwrap_err();
        assert!(e.to_string().contains("pixel pitch"), "{e}");
    }
}

/// Finds the local maxima (3 × 3) above 1.5 of each normalised patch, reporting them at
/// their pixel; counts the patches it sees and their side.
struct PeakOracle {
    seen: Mutex<Vec<usize>>,
}

impl PatchDetector for PeakOracle {
    fn detect(&self, patches: &[f32], h: usize, w: usize, refs: &[PatchRef], _t: f32) -> Vec<Vec<QueryBox>> {
        self.seen.lock().unwrap().extend(refs.iter().map(|_| h * 1000 + w));
        (0..refs.len())
            .map(|i| {
                let p = &patches[i * h * w..(i + 1) * h * w];
                let mut out = Vec::new();
                for r in 1..h - 1 {
                    for c in 1..w - 1 {
                        let v = p[r * w + c];
                        let peak = (r - 1..=r + 1).all(|rr| (c - 1..=c + 1).all(|cc| p[rr * w + cc] <= v));
                        if v > 1.5 && peak {
                            let (cx, cy) = ((c as f32 + 0.5) / w as f32, (r as f32 + 0.5) / h as f32);
                            out.push(QueryBox { score: 0.9, class: 0, cx, cy, w: 4.0 / w as f32, h: 4.0 / h as f32 });
                        }
                    }
                }
                out
            })
            .collect()
    }
}

#[test]
fn frames_are_resampled_to_the_pitch_and_detections_come_back_in_mm() {
    // Anisotropic 0.5 λ × 0.4 λ pixels resampled to λ/4 (0.05 mm): 90 × 75 → 143 × 149
    // pixels (89 · 0.08 / 0.05 = 142.4 row steps, 74 · 0.1 / 0.05 = 148 column steps).
    let truth = vec![vec![(20.3, 30.6), (50.8, 12.2), (40.1, 70.4)], vec![(60.5, 45.5), (12.2, 20.9)]];
    let stack = frames(90, 75, &truth);
    let run = |pitch: Option<f64>| {
        let oracle = std::sync::Arc::new(PeakOracle { seen: Mutex::new(Vec::new()) });
        struct Shared(std::sync::Arc<PeakOracle>);
        impl PatchDetector for Shared {
            fn detect(&self, p: &[f32], h: usize, w: usize, refs: &[PatchRef], t: f32) -> Vec<Vec<QueryBox>> {
                self.0.detect(p, h, w, refs, t)
            }
        }
        let mut cfg = InferenceConfig::new(32, InputNormalization::PeakDb { dynamic_range_db: 30.0 }, 0.5);
        cfg.overlap = 8;
        cfg.refine = Refine::Gaussian;
        cfg.refine_patch = 7;
        cfg.pixel_pitch_wavelengths = pitch;
        let loc = DetrLocalizer::with_detector("peaks", Box::new(Shared(oracle.clone())), cfg).unwrap();
        let dets = loc.localize_frames(stack.view(), 3, &geometry());
        let seen = oracle.seen.lock().unwrap().clone();
        (dets, seen)
    };
    let (dets, seen) = run(Some(0.25));
    let tiles = TileGrid::with_patch(143, 149, 32, 32, 8).unwrap().tiles().len();
    assert_eq!(seen.len(), 2 * tiles);
    assert!(seen.iter().all(|&s| s == 32 * 1000 + 32));
    let (_, native) = run(None);
    assert_eq!(native.len(), 2 * TileGrid::with_patch(90, 75, 32, 32, 8).unwrap().tiles().len());
    // Every bubble once, within 0.1 native px (one resampled pixel is 0.5 × 0.625 of them).
    let g = geometry();
    assert_eq!(dets.len(), 5, "{dets:?}");
    for (f, pts) in truth.iter().enumerate() {
        for &(x, z) in pts {
            let near: Vec<_> = dets
                .iter()
                .filter(|d| d.frame == 3 + f as u32)
                .map(|d| g.mm_to_px(d.x_mm, d.z_mm))
                .filter(|&(c, r)| (c - x).hypot(r - z) < 0.1)
                .collect();
            assert_eq!(near.len(), 1, "frame {f} bubble ({x}, {z}): {dets:?}");
        }
    }
}
