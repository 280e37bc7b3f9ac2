//! The patch grid, shared by training (cut frames into patches) and inference (tile whole
//! frames, map boxes back to frame pixels and mm, keep each detection once).
//!
//! Two ways to lay tiles along each axis:
//! * [`TileGrid::with_patch`]: patches of a fixed size with a given overlap; the stride is
//!   `patch − overlap` and the last tile is aligned to the frame's end, so only a frame
//!   *smaller* than a patch is padded.
//! * [`TileGrid::with_counts`]: an `N × M` grid (the paper studied 1–16 patches); the
//!   patch is `ceil(rows / N) × ceil(cols / M)` and the last tile of each axis may be short
//!   (padded).
//!
//! Padding is by **reflection** about the last valid pixel (numpy's `reflect`): zero
//! padding made the network fire at the pad edge in a feasibility run. The valid area is
//! carried as `valid_rows × valid_cols` (the padding mask).
//!
//! **Ownership**: every frame pixel is owned by exactly one tile — along each axis tile
//! `k` owns from the middle of its overlap with tile `k − 1` to the middle of its overlap
//! with tile `k + 1`. Inference keeps a detection only from the tile that owns its centre
//! ([`TileGrid::owner`]), which removes duplicates in overlaps.

use std::ops::Range;

use ndarray::ArrayView2;
use ulm_core::Geometry;

use crate::DataError;

/// One tile of a [`TileGrid`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tile {
    /// Index in the grid (row-major over tile rows, then tile columns).
    pub index: usize,
    /// First frame row of the tile.
    pub row0: usize,
    /// First frame column of the tile.
    pub col0: usize,
    /// Rows of the tile that hold frame data.
    pub valid_rows: usize,
    /// Columns of the tile that hold frame data.
    pub valid_cols: usize,
    /// Frame rows this tile owns (see the module docs).
    pub own_rows: Range<usize>,
    /// Frame columns this tile owns.
    pub own_cols: Range<usize>,
}

/// Tiles along one axis: `(start, valid length, owned range)`.
type Axis1 = Vec<(usize, usize, Range<usize>)>;

/// A grid of `patch_rows × patch_cols` tiles over a `frame_rows × frame_cols` frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TileGrid {
    /// Frame height in pixels.
    pub frame_rows: usize,
    /// Frame width in pixels.
    pub frame_cols: usize,
    /// Patch height in pixels.
    pub patch_rows: usize,
    /// Patch width in pixels.
    pub patch_cols: usize,
    rows: Axis1,
    cols: Axis1,
}

fn owned(spans: &[(usize, usize)], n: usize) -> Axis1 {
    let mut out = Vec::with_capacity(spans.len());
    let mut lo = 0;
    for (k, &(s, v)) in spans.iter().enumerate() {
        let hi = match spans.get(k + 1) {
            // Middle of the overlap [next start, this end).
            Some(&(s2, _)) => (s2 + s + v).div_ceil(2).max(lo),
            None => n,
        };
        out.push((s, v, lo..hi));
        lo = hi;
    }
    out
}

fn axis_with_patch(n: usize, patch: usize, overlap: usize) -> Axis1 {
    if n <= patch {
        return owned(&[(0, n)], n);
    }
    let stride = patch - overlap;
    let mut spans = Vec::new();
    let mut s = 0;
    while s + patch < n {
        spans.push((s, patch));
        s += stride;
    }
    spans.push((n - patch, patch));
    owned(&spans, n)
}

impl TileGrid {
    /// Patches of `patch_rows × patch_cols` with `overlap` pixels shared by neighbours.
    pub fn with_patch(
        frame_rows: usize,
        frame_cols: usize,
        patch_rows: usize,
        patch_cols: usize,
        overlap: usize,
    ) -> Result<Self, DataError> {
        if frame_rows == 0 || frame_cols == 0 {
            return Err(DataError::Config(format!("cannot tile an empty {frame_rows}×{frame_cols} frame")));
        }
        if patch_rows == 0 || patch_cols == 0 {
            return Err(DataError::Config(format!("patch size must be >= 1, got {patch_rows}×{patch_cols}")));
        }
        if overlap >= patch_rows.min(patch_cols) {
            return Err(DataError::Config(format!(
                "overlap ({overlap}) must be smaller than the patch ({patch_rows}×{patch_cols})"
            )));
        }
        Ok(Self {
            frame_rows,
            frame_cols,
            patch_rows,
            patch_cols,
            rows: axis_with_patch(frame_rows, patch_rows, overlap),
            cols: axis_with_patch(frame_cols, patch_cols, overlap),
        })
    }

    /// An `n_rows × n_cols` grid of abutting tiles of `ceil(rows / n) × ceil(cols / m)`.
    pub fn with_counts(frame_rows: usize, frame_cols: usize, n_rows: usize, n_cols: usize) -> Result<Self, DataError> {
        let axis = |n: usize, k: usize, what: &str| -> Result<(usize, Axis1), DataError> {
            if k == 0 || k > n {
                return Err(DataError::Config(format!("{k} tiles cannot split {n} {what}")));
            }
            let p = n.div_ceil(k);
            if (k - 1) * p >= n {
                return Err(DataError::Config(format!(
                    "{k} tiles of {p} {what} do not fit {n} {what} (the last would be empty); use fewer tiles"
                )));
            }
            let spans: Vec<(usize, usize)> = (0..k).map(|i| (i * p, p.min(n - i * p))).collect();
            Ok((p, owned(&spans, n)))
        };
        let (patch_rows, rows) = axis(frame_rows, n_rows, "rows")?;
        let (patch_cols, cols) = axis(frame_cols, n_cols, "columns")?;
        Ok(Self { frame_rows, frame_cols, patch_rows, patch_cols, rows, cols })
    }

    /// Number of tiles.
    pub fn len(&self) -> usize {
        self.rows.len() * self.cols.len()
    }

    /// Whether the grid has no tile (never, for a valid grid).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Tile counts `(along rows, along columns)`.
    pub fn counts(&self) -> (usize, usize) {
        (self.rows.len(), self.cols.len())
    }

    /// Tile `index` (`< len()`).
    pub fn tile(&self, index: usize) -> Tile {
        let (r, c) = (&self.rows[index / self.cols.len()], &self.cols[index % self.cols.len()]);
        Tile {
            index,
            row0: r.0,
            col0: c.0,
            valid_rows: r.1,
            valid_cols: c.1,
            own_rows: r.2.clone(),
            own_cols: c.2.clone(),
        }
    }

    /// All tiles in index order.
    pub fn tiles(&self) -> Vec<Tile> {
        (0..self.len()).map(|i| self.tile(i)).collect()
    }

    /// The tile that owns frame pixel position `(col, row)` (fractional, pixel-centre
    /// convention); `None` outside the frame.
    pub fn owner(&self, col: f64, row: f64) -> Option<usize> {
        let find = |axis: &Axis1, p: f64| {
            let e = p + 0.5;
            axis.iter().position(|(_, _, own)| e >= own.start as f64 && e < own.end as f64)
        };
        Some(find(&self.rows, row)? * self.cols.len() + find(&self.cols, col)?)
    }

    /// Geometry of a tile: the frame's, with pixel `(0, 0)` moved to the tile's origin.
    pub fn tile_geometry(&self, frame: &Geometry, tile: &Tile) -> Geometry {
        Geometry { x0_mm: frame.col_to_x_mm(tile.col0 as f64), z0_mm: frame.row_to_z_mm(tile.row0 as f64), ..*frame }
    }

    /// Tile pixel `(col, row)` → frame pixel.
    pub fn to_frame_px(tile: &Tile, col: f64, row: f64) -> (f64, f64) {
        (col + tile.col0 as f64, row + tile.row0 as f64)
    }

    /// Cuts a tile out of a `[frame_rows, frame_cols]` frame into a row-major
    /// `patch_rows × patch_cols` buffer, reflection-padding beyond the valid area.
    pub fn extract(&self, frame: ArrayView2<'_, f32>, tile: &Tile) -> Result<Vec<f32>, DataError> {
        if frame.dim() != (self.frame_rows, self.frame_cols) {
            return Err(DataError::Config(format!(
                "frame is {:?}, the grid was made for {}×{}",
                frame.dim(),
                self.frame_rows,
                self.frame_cols
            )));
        }
        let (h, w) = (self.patch_rows, self.patch_cols);
        let mut out = vec![0f32; h * w];
        for r in 0..h {
            let fr = tile.row0 + reflect(r, tile.valid_rows);
            let line = &mut out[r * w..(r + 1) * w];
            for (c, v) in line.iter_mut().enumerate() {
                *v = frame[[fr, tile.col0 + reflect(c, tile.valid_cols)]];
            }
        }
        Ok(out)
    }
}

/// Index `i ≥ 0` reflected into `0..n` about the last element without repeating it
/// (numpy `reflect`: `… 2 1 | 0 1 2 3 | 2 1 0 1 …`).
pub fn reflect(i: usize, n: usize) -> usize {
    if n <= 1 {
        return 0;
    }
    let period = 2 * (n - 1);
    let m = i % period;
    if m < n { m } else { period - m }
}

/// Refills the padding of a row-major `height × width` image by reflecting its valid
/// `valid_rows × valid_cols` area (used after augmentation moved the valid area).
pub fn refill_padding(image: &mut [f32], width: usize, height: usize, valid_rows: usize, valid_cols: usize) {
    for r in 0..height {
        let sr = reflect(r, valid_rows);
        for c in 0..width {
            if r >= valid_rows || c >= valid_cols {
                image[r * width + c] = image[sr * width + reflect(c, valid_cols)];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use ndarray::Array2;

    use super::*;

    fn check_partition(g: &TileGrid) {
        let mut count = vec![0u32; g.frame_rows * g.frame_cols];
        for t in g.tiles() {
            assert!(t.own_rows.start >= t.row0 && t.own_rows.end <= t.row0 + t.valid_rows, "{t:?}");
            assert!(t.own_cols.start >= t.col0 && t.own_cols.end <= t.col0 + t.valid_cols, "{t:?}");
            for r in t.own_rows.clone() {
                for c in t.own_cols.clone() {
                    count[r * g.frame_cols + c] += 1;
                    assert_eq!(g.owner(c as f64, r as f64), Some(t.index));
                }
            }
        }
        assert!(count.iter().all(|&n| n == 1), "every pixel owned exactly once");
    }

    #[test]
    fn tiles_by_hand() {
        // 600 rows, patch 256, overlap 32: stride 224 → starts 0, 224, then the end-aligned 344.
        let g = TileGrid::with_patch(600, 100, 256, 256, 32).unwrap();
        let t: Vec<_> = g.tiles().iter().map(|t| (t.row0, t.valid_rows, t.own_rows.clone())).collect();
        // Overlaps [224, 256) → split at 240; [344, 480) → split at 412.
        assert_eq!(t, vec![(0, 256, 0..240), (224, 256, 240..412), (344, 256, 412..600)]);
        assert_eq!(g.tile(0).valid_cols, 100); // 100 < 256: padded
        let g = TileGrid::with_counts(10, 7, 3, 2).unwrap();
        assert_eq!((g.patch_rows, g.patch_cols), (4, 4));
        let t: Vec<_> = g.tiles().iter().map(|t| (t.row0, t.col0, t.valid_rows, t.valid_cols)).collect();
        assert_eq!(t[..2], [(0, 0, 4, 4), (0, 4, 4, 3)]);
        assert_eq!(t[5], (8, 4, 2, 3));
        assert!(TileGrid::with_counts(5, 5, 4, 1).is_err()); // 4 tiles of 2 rows: last empty
        assert!(TileGrid::with_patch(10, 10, 8, 8, 8).is_err());
    }

    #[test]
    fn every_pixel_owned_once_and_mapped_back_exactly() {
        for g in [
            TileGrid::with_patch(600, 333, 256, 128, 32).unwrap(),
            TileGrid::with_patch(100, 90, 256, 256, 0).unwrap(),
            TileGrid::with_patch(97, 64, 32, 32, 7).unwrap(),
            TileGrid::with_counts(37, 41, 4, 3).unwrap(),
        ] {
            check_partition(&g);
        }
        let g = TileGrid::with_patch(97, 64, 32, 32, 7).unwrap();
        let frame = Array2::from_shape_fn((97, 64), |(r, c)| (r * 1000 + c) as f32);
        for t in g.tiles() {
            let p = g.extract(frame.view(), &t).unwrap();
            for r in 0..t.valid_rows {
                for c in 0..t.valid_cols {
                    let (fc, fr) = TileGrid::to_frame_px(&t, c as f64, r as f64);
                    assert_eq!(p[r * 32 + c], frame[[fr as usize, fc as usize]]);
                }
            }
        }
        let geom = Geometry::new(0.1, 0.2, -3.0, 2.0, 0.2, 1000.0).unwrap();
        let t = g.tile(4);
        let tg = g.tile_geometry(&geom, &t);
        let (fc, fr) = TileGrid::to_frame_px(&t, 3.25, 1.5);
        let (a, b) = (tg.px_to_mm(3.25, 1.5), geom.px_to_mm(fc, fr));
        assert!((a.0 - b.0).abs() < 1e-12 && (a.1 - b.1).abs() < 1e-12, "{a:?} {b:?}");
    }

    #[test]
    fn reflection_padding_and_mask() {
        assert_eq!((0..9).map(|i| reflect(i, 4)).collect::<Vec<_>>(), vec![0, 1, 2, 3, 2, 1, 0, 1, 2]);
        assert_eq!(reflect(5, 1), 0);
        let g = TileGrid::with_patch(2, 3, 4, 5, 0).unwrap();
        let frame = Array2::from_shape_fn((2, 3), |(r, c)| (r * 10 + c) as f32);
        let p = g.extract(frame.view(), &g.tile(0)).unwrap();
        #[rustfmt::skip]
        assert_eq!(p, vec![
            0., 1., 2., 1., 0.,
            10., 11., 12., 11., 10.,
            0., 1., 2., 1., 0.,
            10., 11., 12., 11., 10.,
        ]);
        let mut q = p.clone();
        for r in 0..4 {
            for c in 0..5 {
                if r >= 2 || c >= 3 {
                    q[r * 5 + c] = -1.0;
                }
            }
        }
        refill_padding(&mut q, 5, 4, 2, 3);
        assert_eq!(q, p);
        assert!(g.extract(Array2::zeros((3, 3)).view(), &g.tile(0)).is_err());
    }
}
