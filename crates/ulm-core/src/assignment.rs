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
    assert_eq!(cost.len(), n_rows * n_cols, "cost matrix has {} entries, expected {n_rows}×{n_cols}", cost.len());
    if n_rows == 0 || n_cols == 0 {
        return Some(vec![None; n_rows]);
    }
    let clean = |c: f64| if c.is_nan() { f64::INFINITY } else { c };
    if n_rows <= n_cols {
        let c: Vec<f64> = cost.iter().map(|&c| clean(c)).collect();
        solve(&c, n_rows, n_cols).map(|col4row| col4row.into_iter().map(Some).collect())
    } else {
        // Transpose so that rows <= cols, then invert the result.
        let mut t = vec![0.0; cost.len()];
        for i in 0..n_rows {
            for j in 0..n_cols {
                t[j * n_rows + i] = clean(cost[i * n_cols + j]);
            }
        }
        let col4row_t = solve(&t, n_cols, n_rows)?;
        let mut out = vec![None; n_rows];
        for (j, i) in col4row_t.into_iter().enumerate() {
            out[i] = Some(j);
        }
        Some(out)
    }
}

/// Crouse's algorithm for `nr <= nc`; returns the column of each row.
fn solve(cost: &[f64], nr: usize, nc: usize) -> Option<Vec<usize>> {
    const NONE: usize = usize::MAX;
    let mut u = vec![0.0; nr];
    let mut v = vec![0.0; nc];
    let mut shortest = vec![f64::INFINITY; nc];
    let mut path = vec![NONE; nc];
    let mut col4row = vec![NONE; nr];
    let mut row4col = vec![NONE; nc];
    let mut sr = vec![false; nr];
    let mut sc = vec![false; nc];
    let mut remaining = vec![0usize; nc];

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
                return None; // infeasible
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
    Some(col4row)
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
