//! Fixed-radius neighbour search on a static 2-D KD-tree.
//!
//! The tree is implicit: points are permuted in place so that, for the range `lo..hi`
//! of a node, the median `m = (lo + hi) / 2` splits it along the axis of larger
//! spread (`lo..m` no greater, `m + 1..hi` no smaller on that axis). Building is
//! O(n log n) by repeated selection; a radius query visits O(√n + neighbours) nodes.
//! Small ranges are leaves scanned linearly.

/// Ranges this small are scanned linearly instead of split.
const LEAF: usize = 16;

/// Points in a balanced 2-D KD-tree, for radius queries.
#[derive(Debug, Clone, Default)]
pub struct KdTree {
    /// Points in tree order.
    points: Vec<[f64; 2]>,
    /// Input index of each point in tree order.
    ids: Vec<u32>,
    /// Split axis of the node whose median sits at each position (unused in leaves).
    axis: Vec<u8>,
    /// Scratch for building.
    items: Vec<([f64; 2], u32)>,
}

impl KdTree {
    /// Builds the tree over `points`.
    pub fn new(points: &[[f64; 2]]) -> Self {
        let mut t = Self::default();
        t.rebuild(points);
        t
    }

    /// Rebuilds in place (reusing the allocations).
    pub fn rebuild(&mut self, points: &[[f64; 2]]) {
        self.items.clear();
        self.items.extend(points.iter().enumerate().map(|(i, &p)| (p, i as u32)));
        self.axis.clear();
        self.axis.resize(points.len(), 0);
        build(&mut self.items, &mut self.axis);
        self.points.clear();
        self.points.extend(self.items.iter().map(|it| it.0));
        self.ids.clear();
        self.ids.extend(self.items.iter().map(|it| it.1));
    }

    /// Calls `f(index, squared_distance)` for every point within `radius` of `q`
    /// (distance ≤ radius), in no particular order.
    pub fn within(&self, q: [f64; 2], radius: f64, mut f: impl FnMut(usize, f64)) {
        self.visit(0, self.points.len(), q, radius, radius * radius, &mut f);
    }

    fn visit(&self, lo: usize, hi: usize, q: [f64; 2], r: f64, r2: f64, f: &mut impl FnMut(usize, f64)) {
        if hi - lo <= LEAF {
            for k in lo..hi {
                self.test(k, q, r2, f);
            }
            return;
        }
        let m = lo + (hi - lo) / 2;
        let a = self.axis[m] as usize;
        let split = self.points[m][a];
        self.test(m, q, r2, f);
        if q[a] - r <= split {
            self.visit(lo, m, q, r, r2, f);
        }
        if q[a] + r >= split {
            self.visit(m + 1, hi, q, r, r2, f);
        }
    }

    #[inline]
    fn test(&self, k: usize, q: [f64; 2], r2: f64, f: &mut impl FnMut(usize, f64)) {
        let p = self.points[k];
        let d2 = (p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2);
        if d2 <= r2 {
            f(self.ids[k] as usize, d2);
        }
    }
}

/// Arranges `items` into tree order, recording each median's split axis at the same
/// position in `axis`.
fn build(items: &mut [([f64; 2], u32)], axis: &mut [u8]) {
    let n = items.len();
    if n <= LEAF {
        return;
    }
    let (mut lo, mut hi) = ([f64::MAX; 2], [f64::MIN; 2]);
    for (p, _) in items.iter() {
        for a in 0..2 {
            lo[a] = lo[a].min(p[a]);
            hi[a] = hi[a].max(p[a]);
        }
    }
    let a = usize::from(hi[1] - lo[1] > hi[0] - lo[0]);
    let m = n / 2;
    items.select_nth_unstable_by(m, |x, y| x.0[a].total_cmp(&y.0[a]));
    axis[m] = a as u8;
    let (left, rest) = items.split_at_mut(m);
    let (axis_left, axis_rest) = axis.split_at_mut(m);
    build(left, axis_left);
    build(&mut rest[1..], &mut axis_rest[1..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brute(pts: &[[f64; 2]], q: [f64; 2], r: f64) -> Vec<usize> {
        (0..pts.len()).filter(|&i| (pts[i][0] - q[0]).powi(2) + (pts[i][1] - q[1]).powi(2) <= r * r).collect()
    }

    #[test]
    fn matches_brute_force() {
        // Deterministic scatter with negative coordinates, duplicates, collinear runs
        // (ties on the split axis) and queries outside the bounding box.
        let mut seed = 99u64;
        let mut rnd = move || {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (seed >> 11) as f64 / (1u64 << 53) as f64
        };
        let mut pts: Vec<[f64; 2]> = (0..500).map(|_| [(rnd() - 0.5) * 8.0, (rnd() - 0.5) * 6.0]).collect();
        pts.extend((0..40).map(|i| [0.25, i as f64 * 0.05]));
        pts.extend((0..40).map(|i| [i as f64 * 0.05, -1.0]));
        pts.extend([[1.0, 1.0]; 12]);
        let mut t = KdTree::default();
        for n in [0, 1, 5, 9, 17, 100, pts.len()] {
            t.rebuild(&pts[..n]);
            for r in [0.0, 0.05, 0.3, 3.0, 50.0] {
                let queries = pts.iter().step_by(11).copied().chain([[4.2, 3.2], [-4.3, 0.0], [100.0, 100.0]]);
                for q in queries {
                    let mut got = Vec::new();
                    t.within(q, r, |i, d2| {
                        assert_eq!(d2, (pts[i][0] - q[0]).powi(2) + (pts[i][1] - q[1]).powi(2));
                        got.push(i);
                    });
                    got.sort_unstable();
                    assert_eq!(got, brute(&pts[..n], q, r), "n {n}, r {r}, q {q:?}");
                }
            }
        }
    }
}
