//! Optimal one-to-one assignment (the linear sum assignment problem).
//!
//! Shared by evaluation (pairing predictions with ground truth) and tracking (linking
//! bubbles between frames). The algorithm is the shortest-augmenting-path method of
//! Jonker–Volgenant as described by Crouse (2016), the one behind SciPy's
//! `linear_sum_assignment`: O(n² m) for an n × m matrix, exact.

/// Solves `min Σ cost[i, assignment[i]]` over one-to-one assignments of rows to columns of a
/// row-major `n_rows × n_cols` cost matrix. Every row is assigned when `n_rows <= n_cols`
/// (every column otherwise). Entries equal to `f64::INFINITY` are forbidden pairs.
///
/// Returns, for each row, the assigned column (`None` for an unassigned row), or `None`
/// when no complete assignment avoids the forbidden pairs. NaN costs are treated as
/// forbidden.
///
/// ```
/// // Greedy would take (0,0)=1 and then pay 10 for (1,1); optimal pays 2 + 2.
/// let cost = [1.0, 2.0, 2.0, 10.0];
/// let a = ulm_core::assignment::linear_sum_assignment(&cost, 2, 2).unwrap();
/// assert_eq!(a, vec![Some(1), Some(0)]);
/// ```
pub fn linear_sum_assignment(cost: &[f64], n_rows: usize, n_cols: usize) -> Option<Vec<Option<usize>>> {
    let mut out = Vec::new();
    LsapWorkspace::default().solve(cost, n_rows, n_cols, &mut out).then_some(out)
}

/// The buffers of [`linear_sum_assignment`], kept between calls: for callers that solve
/// many small problems in a row (tracking solves one per subnet of every frame), where the
/// allocations would cost more than the solving.
///
/// ```
/// let mut ws = ulm_core::assignment::LsapWorkspace::default();
/// let mut out = Vec::new();
/// assert!(ws.solve(&[1.0, 2.0, 2.0, 10.0], 2, 2, &mut out));
/// assert_eq!(out, vec![Some(1), Some(0)]);
/// ```
#[derive(Debug, Clone, Default)]
pub struct LsapWorkspace {
    cost: Vec<f64>,
    u: Vec<f64>,
    v: Vec<f64>,
    shortest: Vec<f64>,
    path: Vec<usize>,
    col4row: Vec<usize>,
    row4col: Vec<usize>,
    sr: Vec<bool>,
    sc: Vec<bool>,
    remaining: Vec<usize>,
}

impl LsapWorkspace {
    /// [`linear_sum_assignment`] into `out` (cleared first): returns `false`, with `out`
    /// unspecified, when no complete assignment avoids the forbidden pairs.
    ///
    /// # Panics
    /// If `cost.len() != n_rows * n_cols`.
    pub fn solve(&mut self, cost: &[f64], n_rows: usize, n_cols: usize, out: &mut Vec<Option<usize>>) -> bool {
        assert_eq!(cost.len(), n_rows * n_cols, "cost matrix has {} entries, expected {n_rows}×{n_cols}", cost.len());
        out.clear();
        out.resize(n_rows, None);
        if n_rows == 0 || n_cols == 0 {
            return true;
        }
        let clean = |c: f64| if c.is_nan() { f64::INFINITY } else { c };
        let mut c = std::mem::take(&mut self.cost);
        c.clear();
        let ok = if n_rows <= n_cols {
            c.extend(cost.iter().map(|&v| clean(v)));
            let ok = self.crouse(&c, n_rows, n_cols);
            if ok {
                for (o, &j) in out.iter_mut().zip(&self.col4row) {
                    *o = Some(j);
                }
            }
            ok
        } else {
            // Transpose so that rows <= cols, then invert the result.
            c.resize(cost.len(), 0.0);
            for i in 0..n_rows {
                for j in 0..n_cols {
                    c[j * n_rows + i] = clean(cost[i * n_cols + j]);
                }
            }
            let ok = self.crouse(&c, n_cols, n_rows);
            if ok {
                for (j, &i) in self.col4row.iter().enumerate() {
                    out[i] = Some(j);
                }
            }
            ok
        };
        self.cost = c;
        ok
    }

    /// Crouse's algorithm for `nr <= nc`; leaves the column of each row in `col4row`.
    fn crouse(&mut self, cost: &[f64], nr: usize, nc: usize) -> bool {
        const NONE: usize = usize::MAX;
        fn reset<T: Clone>(v: &mut Vec<T>, n: usize, x: T) {
            v.clear();
            v.resize(n, x);
        }
        let Self { u, v, shortest, path, col4row, row4col, sr, sc, remaining, .. } = self;
        reset(u, nr, 0.0);
        reset(v, nc, 0.0);
        reset(shortest, nc, f64::INFINITY);
        reset(path, nc, NONE);
        reset(col4row, nr, NONE);
        reset(row4col, nc, NONE);
        reset(sr, nr, false);
        reset(sc, nc, false);
        reset(remaining, nc, 0);

        for cur_row in 0..nr {
            // Dijkstra-like search for the shortest augmenting path from cur_row.
            let mut min_val = 0.0;
            let mut num_remaining = nc;
            for (it, r) in remaining.iter_mut().enumerate() {
                *r = nc - it - 1;
            }
            sr.fill(false);
            sc.fill(false);
            shortest.fill(f64::INFINITY);
            let mut sink = NONE;
            let mut i = cur_row;
            while sink == NONE {
                let mut index = NONE;
                let mut lowest = f64::INFINITY;
                sr[i] = true;
                for (it, &j) in remaining[..num_remaining].iter().enumerate() {
                    let r = min_val + cost[i * nc + j] - u[i] - v[j];
                    if r < shortest[j] {
                        path[j] = i;
                        shortest[j] = r;
                    }
                    if shortest[j] < lowest || (shortest[j] == lowest && row4col[j] == NONE) {
                        lowest = shortest[j];
                        index = it;
                    }
                }
                min_val = lowest;
                if !min_val.is_finite() {
                    return false; // infeasible
                }
                let j = remaining[index];
                if row4col[j] == NONE {
                    sink = j;
                } else {
                    i = row4col[j];
                }
                sc[j] = true;
                num_remaining -= 1;
                remaining[index] = remaining[num_remaining];
            }
            // Update the dual variables.
            u[cur_row] += min_val;
            for r in 0..nr {
                if sr[r] && r != cur_row {
                    u[r] += min_val - shortest[col4row[r]];
                }
            }
            for c in 0..nc {
                if sc[c] {
                    v[c] -= min_val - shortest[c];
                }
            }
            // Augment along the path.
            let mut j = sink;
            loop {
                let i = path[j];
                row4col[j] = i;
                std::mem::swap(&mut col4row[i], &mut j);
                if i == cur_row {
                    break;
                }
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn total(cost: &[f64], nc: usize, a: &[Option<usize>]) -> f64 {
        a.iter().enumerate().filter_map(|(i, j)| j.map(|j| cost[i * nc + j])).sum()
    }

    /// Exhaustive minimum over all injective maps of the smaller side.
    fn brute(cost: &[f64], nr: usize, nc: usize) -> f64 {
        fn rec(cost: &[f64], nr: usize, nc: usize, i: usize, used: &mut Vec<bool>, acc: f64, best: &mut f64) {
            if i == nr {
                *best = best.min(acc);
                return;
            }
            for j in 0..nc {
                if !used[j] {
                    used[j] = true;
                    rec(cost, nr, nc, i + 1, used, acc + cost[i * nc + j], best);
                    used[j] = false;
                }
            }
        }
        let mut best = f64::INFINITY;
        rec(cost, nr, nc, 0, &mut vec![false; nc], 0.0, &mut best);
        best
    }

    #[test]
    fn matches_exhaustive_search_on_random_matrices() {
        // Small deterministic LCG so the test needs no RNG crate.
        let mut s: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (s >> 11) as f64 / (1u64 << 53) as f64
        };
        for trial in 0..200 {
            let nr = 1 + trial % 5;
            let nc = nr + (trial / 5) % 3;
            let cost: Vec<f64> = (0..nr * nc).map(|_| (next() * 10.0).round()).collect();
            let a = linear_sum_assignment(&cost, nr, nc).unwrap();
            let mut seen = vec![false; nc];
            for j in a.iter().map(|j| j.unwrap()) {
                assert!(!seen[j], "column used twice");
                seen[j] = true;
            }
            assert_eq!(total(&cost, nc, &a), brute(&cost, nr, nc), "trial {trial}: {cost:?}");
        }
    }

    #[test]
    fn a_reused_workspace_gives_the_fresh_answers() {
        // Problems of changing shapes (both orientations, an infeasible one) through one
        // workspace: stale buffers must not leak into the next answer.
        let inf = f64::INFINITY;
        let problems: [(&[f64], usize, usize); 5] = [
            (&[1.0, 2.0, 2.0, 10.0], 2, 2),
            (&[5.0, 5.0, 1.0, 9.0, 9.0, 1.0], 3, 2),
            (&[inf, 1.0, inf, 3.0], 2, 2),
            (&[4.0, 1.0, 3.0, 2.0, 0.0, 5.0, 3.0, 2.0, 2.0], 3, 3),
            (&[7.0, 1.0, 9.0], 1, 3),
        ];
        let mut ws = LsapWorkspace::default();
        let mut out = vec![Some(99)];
        for (cost, nr, nc) in problems {
            let ok = ws.solve(cost, nr, nc, &mut out);
            assert_eq!(ok.then(|| out.clone()), linear_sum_assignment(cost, nr, nc), "{cost:?}");
        }
        assert!(ws.solve(&[4.0, 1.0, 3.0, 2.0, 0.0, 5.0, 3.0, 2.0, 2.0], 3, 3, &mut out));
        assert_eq!(out, vec![Some(1), Some(0), Some(2)]); // 1 + 2 + 2 = 5, the least of the 6 permutations
    }

    #[test]
    fn more_rows_than_columns_leaves_rows_unassigned() {
        // 3 rows, 2 columns: the best two rows take the columns.
        let cost = [5.0, 5.0, 1.0, 9.0, 9.0, 1.0];
        let a = linear_sum_assignment(&cost, 3, 2).unwrap();
        assert_eq!(a, vec![None, Some(0), Some(1)]);
    }

    #[test]
    fn forbidden_pairs_and_infeasibility() {
        let inf = f64::INFINITY;
        let cost = [inf, 1.0, 2.0, inf];
        assert_eq!(linear_sum_assignment(&cost, 2, 2).unwrap(), vec![Some(1), Some(0)]);
        let cost = [inf, 1.0, inf, 3.0];
        assert_eq!(linear_sum_assignment(&cost, 2, 2), None);
        assert_eq!(linear_sum_assignment(&[], 0, 3).unwrap(), Vec::<Option<usize>>::new());
    }
}
