//! Fixed-radius neighbour search on a uniform grid hash.
//!
//! Linking asks one question per frame: which sources lie within the search range `R` of
//! each destination? With cells of side ≥ `R` the answer lies in the 3 × 3 block of
//! cells around the query, so a query costs O(1 + neighbours) and building is a counting
//! sort, O(points + cells) — the same candidates as a KD-tree radius query, with less
//! work for this 2-D, fixed-radius case.

/// Points bucketed into square cells over their bounding box.
#[derive(Debug, Clone, Default)]
pub struct GridHash {
    /// `1 / cell side`: cell coordinates by a product, not a division.
    inv_cell: f64,
    origin: [f64; 2],
    nx: usize,
    nz: usize,
    /// `start[c]..start[c + 1]` indexes `order` for cell `c`.
    start: Vec<u32>,
    order: Vec<u32>,
    /// The points in `order` (cell by cell), for contiguous reads in queries.
    sorted: Vec<[f64; 2]>,
    /// Rebuild buffers: each point's cell, each cell's next free slot.
    cell_of: Vec<usize>,
    fill: Vec<u32>,
}

impl GridHash {
    /// Buckets `points` into cells of side at least `radius` (> 0), ready for
    /// [`GridHash::within`] queries of that radius.
    pub fn new(points: &[[f64; 2]], radius: f64) -> Self {
        let mut g = Self::default();
        g.rebuild(points, radius);
        g
    }

    /// Rebuilds in place (reusing the allocations).
    pub fn rebuild(&mut self, points: &[[f64; 2]], radius: f64) {
        debug_assert!(radius > 0.0);
        let (mut lo, mut hi) = ([f64::MAX; 2], [f64::MIN; 2]);
        for p in points {
            for a in 0..2 {
                lo[a] = lo[a].min(p[a]);
                hi[a] = hi[a].max(p[a]);
            }
        }
        if points.is_empty() {
            (lo, hi) = ([0.0; 2], [0.0; 2]);
        }
        // Cells no smaller than the radius, and no more cells than about 4 per point.
        let area = ((hi[0] - lo[0]) * (hi[1] - lo[1])).max(0.0);
        // The margin keeps two points within `radius` at most one cell apart even after the
        // rounding of `(p - origin) * inv_cell` (≤ 2^-31 for up to 2^20 cells).
        let cell = (radius * (1.0 + 1e-9)).max((area / (4.0 * points.len().max(1) as f64)).sqrt());
        self.inv_cell = 1.0 / cell;
        let n = |span: f64| ((span / cell).floor() as usize).saturating_add(1).min(1 << 20);
        (self.origin, self.nx, self.nz) = (lo, n(hi[0] - lo[0]), n(hi[1] - lo[1]));
        let cells = self.nx * self.nz;
        self.start.clear();
        self.start.resize(cells + 1, 0);
        let mut cell_of = std::mem::take(&mut self.cell_of);
        cell_of.clear();
        cell_of.extend(points.iter().map(|p| self.cell_of(*p)));
        for &c in &cell_of {
            self.start[c + 1] += 1;
        }
        for c in 0..cells {
            self.start[c + 1] += self.start[c];
        }
        self.order.clear();
        self.order.resize(points.len(), 0);
        self.fill.clear();
        self.fill.extend_from_slice(&self.start[..cells]);
        for (i, &c) in cell_of.iter().enumerate() {
            let slot = &mut self.fill[c];
            self.order[*slot as usize] = i as u32;
            *slot += 1;
        }
        self.cell_of = cell_of;
        self.sorted.clear();
        self.sorted.extend(self.order.iter().map(|&i| points[i as usize]));
    }

    #[inline]
    fn coords(&self, p: [f64; 2]) -> (i64, i64) {
        (floor((p[0] - self.origin[0]) * self.inv_cell), floor((p[1] - self.origin[1]) * self.inv_cell))
    }

    #[inline]
    fn cell_of(&self, p: [f64; 2]) -> usize {
        let (x, z) = self.coords(p);
        (z.clamp(0, self.nz as i64 - 1) as usize) * self.nx + x.clamp(0, self.nx as i64 - 1) as usize
    }

    /// Calls `f(index, squared_distance)` for every point within `radius` (≤ the radius
    /// given at construction) of `q`, in no particular order.
    pub fn within(&self, q: [f64; 2], radius: f64, mut f: impl FnMut(usize, f64)) {
        if self.sorted.is_empty() {
            return;
        }
        let r2 = radius * radius;
        let (cx, cz) = self.coords(q);
        let x0 = cx.saturating_sub(1).max(0);
        let x1 = cx.saturating_add(1).min(self.nx as i64 - 1);
        if x0 > x1 {
            return;
        }
        for z in cz.saturating_sub(1).max(0)..=cz.saturating_add(1).min(self.nz as i64 - 1) {
            let row = z as usize * self.nx;
            let (a, b) = (self.start[row + x0 as usize] as usize, self.start[row + x1 as usize + 1] as usize);
            for (p, &i) in self.sorted[a..b].iter().zip(&self.order[a..b]) {
                let d2 = (p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2);
                if d2 <= r2 {
                    f(i as usize, d2);
                }
            }
        }
    }
}

/// `v.floor() as i64` without a call into libm (`floor` is not inlined on a baseline
/// x86-64 target): truncate, then step down for a negative non-integer.
#[inline]
fn floor(v: f64) -> i64 {
    let t = v as i64;
    if (t as f64) > v { t.saturating_sub(1) } else { t }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_brute_force() {
        // A deterministic scatter including negative coordinates, cell borders and
        // queries outside the points' bounding box.
        let pts: Vec<[f64; 2]> = (0..400)
            .map(|i| {
                let a = i as f64 * 0.618_033_988_75;
                [(a.fract() - 0.5) * 8.0, ((a * 7.3).fract() - 0.5) * 6.0]
            })
            .chain([[0.0, 0.0], [0.5, 0.0], [-0.5, 0.0]])
            .collect();
        for r in [0.05, 0.5, 3.0] {
            let g = GridHash::new(&pts, r);
            let queries = pts.iter().step_by(7).copied().chain([[4.2, 3.2], [-4.3, 0.0], [100.0, 100.0]]);
            for q in queries {
                let mut got = Vec::new();
                g.within(q, r, |i, _| got.push(i));
                got.sort_unstable();
                let want: Vec<usize> = (0..pts.len())
                    .filter(|&i| (pts[i][0] - q[0]).powi(2) + (pts[i][1] - q[1]).powi(2) <= r * r)
                    .collect();
                assert_eq!(got, want, "r {r}, q {q:?}");
            }
        }
        for v in [0.0, -0.0, 0.5, -0.5, -1.0, 1.0, 2.999, -2.999, 1e15 + 0.5, -1e15 - 0.5, -1e-300, 1e300, -1e300] {
            assert_eq!(floor(v), v.floor() as i64, "{v}");
        }
        let empty = GridHash::new(&[], 1.0);
        empty.within([0.0, 0.0], 1.0, |_, _| panic!("no points"));
    }
}
