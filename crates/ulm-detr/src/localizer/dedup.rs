//! De-duplication along patch borders, in two steps.
//!
//! 1. **Ownership** ([`keeps`]): a tile keeps a detection only when its centre lies in
//!    the part of the frame the tile owns ([`ulm_data::Tile::own_rows`] /
//!    [`ulm_data::Tile::own_cols`], the same partition as [`ulm_data::TileGrid::owner`]),
//!    grown by a margin. With margin 0 every position is kept by exactly one tile, which
//!    removes the duplicates of a model that places a bubble identically in both tiles. But
//!    two tiles see a border bubble with different context and place it a little
//!    differently; if each estimate falls on the *other* tile's side, margin 0 loses the
//!    bubble altogether (tested). A margin of about the suppression radius keeps both
//!    estimates instead, and step 2 merges them.
//! 2. **Score-weighted distance suppression** ([`merge_close`]): detections of one frame,
//!    best score first; each one not yet taken absorbs every untaken detection within the
//!    radius, and becomes their score-weighted mean position with the best score and box.
//!    Unlike plain NMS (keep the best, drop the rest) two estimates of a border bubble are
//!    averaged instead of one being thrown away.

use ulm_core::Detection;
use ulm_data::Tile;

/// Whether `tile` keeps a detection at frame pixel `(col, row)` (pixel-centre
/// convention): inside the tile's owned area grown by `margin_px` on every side, and
/// inside its valid (not padding) area.
pub fn keeps(tile: &Tile, col: f64, row: f64, margin_px: f64) -> bool {
    let inside = |p: f64, own: &std::ops::Range<usize>, start: usize, valid: usize| {
        // `owner` compares the pixel edge `p + 0.5` with the owned range.
        let e = p + 0.5;
        e >= own.start as f64 - margin_px
            && e < own.end as f64 + margin_px
            && e >= start as f64
            && e < (start + valid) as f64
    };
    inside(col, &tile.own_cols, tile.col0, tile.valid_cols) && inside(row, &tile.own_rows, tile.row0, tile.valid_rows)
}

/// Merges detections (of one frame) closer than `radius_mm` to a better one: see the
/// module docs. A radius of 0 merges only identical positions. Output best first.
pub fn merge_close(mut dets: Vec<Detection>, radius_mm: f64) -> Vec<Detection> {
    // Best first; ties by position so that the result does not depend on the input order.
    dets.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.x_mm.total_cmp(&b.x_mm)).then(a.z_mm.total_cmp(&b.z_mm)));
    let mut taken = vec![false; dets.len()];
    let mut out = Vec::with_capacity(dets.len());
    for i in 0..dets.len() {
        if taken[i] {
            continue;
        }
        taken[i] = true;
        let seed = dets[i];
        let (mut w, mut x, mut z, mut n) = (0.0f64, 0.0f64, 0.0f64, 0usize);
        let (mut ux, mut uz) = (0.0f64, 0.0f64);
        for (j, d) in dets.iter().enumerate().skip(i) {
            if j != i && (taken[j] || (d.x_mm - seed.x_mm).hypot(d.z_mm - seed.z_mm) > radius_mm) {
                continue;
            }
            taken[j] = true;
            let s = f64::from(d.score.max(0.0));
            (w, x, z, n) = (w + s, x + s * d.x_mm, z + s * d.z_mm, n + 1);
            (ux, uz) = (ux + d.x_mm, uz + d.z_mm);
        }
        let (x_mm, z_mm) = if w > 0.0 { (x / w, z / w) } else { (ux / n as f64, uz / n as f64) };
        out.push(Detection { x_mm, z_mm, ..seed });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_by_score_weight_within_the_radius_only() {
        let d = |x: f64, z: f64, s: f32| Detection { size_mm: Some((0.2, 0.1)), ..Detection::new(3, x, z, s) };
        // A (0.9) and B (0.6) 0.08 mm apart; C (0.5) 0.3 mm from A; D (0.1) 0.09 mm from
        // C but 0.21 mm from A.
        let out = merge_close(vec![d(1.0, 2.0, 0.6), d(1.3, 2.0, 0.5), d(0.92, 2.0, 0.9), d(1.21, 2.0, 0.1)], 0.1);
        assert_eq!(out.len(), 2);
        // A + B: (0.9 · 0.92 + 0.6 · 1.0) / 1.5 = 0.952 (scores are f32: 1e-7 relative);
        // score and box of A.
        assert!((out[0].x_mm - 0.952).abs() < 1e-6, "{:?}", out[0]);
        assert_eq!((out[0].score, out[0].size_mm, out[0].frame), (0.9, Some((0.2, 0.1)), 3));
        // C + D: (0.5 · 1.3 + 0.1 · 1.21) / 0.6 = 1.285.
        assert!((out[1].x_mm - 1.285).abs() < 1e-6, "{:?}", out[1]);
        // Radius 0 keeps distinct positions; zero scores average plainly.
        assert_eq!(merge_close(vec![d(1.0, 2.0, 0.6), d(1.3, 2.0, 0.5)], 0.0).len(), 2);
        let out = merge_close(vec![d(1.0, 2.0, 0.0), d(1.1, 2.0, 0.0)], 0.2);
        assert!((out[0].x_mm - 1.05).abs() < 1e-12);
    }

    #[test]
    fn ownership_with_and_without_margin() {
        let g = ulm_data::TileGrid::with_patch(40, 40, 32, 32, 8).unwrap();
        // Columns: tile 0 owns 0..20 ((8 + 32) / 2 = 20), tile 1 owns 20..40.
        let (t0, t1) = (g.tile(0), g.tile(1));
        assert_eq!((t0.own_cols.clone(), t1.own_cols.clone()), (0..20, 20..40));
        // Col 19.5 is the border: tile 1's with margin 0, as `owner` says.
        assert_eq!(g.owner(19.5, 3.0), Some(1));
        assert!(!keeps(&t0, 19.5, 3.0, 0.0) && keeps(&t1, 19.5, 3.0, 0.0));
        assert!(keeps(&t0, 19.5, 3.0, 1.0) && keeps(&t0, 20.4, 3.0, 1.0) && !keeps(&t0, 20.5, 3.0, 1.0));
        // Never beyond the frame or the tile's data, whatever the margin.
        assert!(!keeps(&t0, -0.6, 3.0, 5.0) && keeps(&t0, -0.4, 3.0, 5.0));
        assert!(!keeps(&t1, 39.6, 3.0, 5.0));
    }
}
