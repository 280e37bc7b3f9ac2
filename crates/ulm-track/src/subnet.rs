//! Optimal assignment within connected subnets of the candidate graph.
//!
//! As trackpy: sources (live tracks) and destinations (this frame's localizations) that
//! share candidates form a subnet; within it we minimise the sum of squared link
//! distances, where leaving a source unlinked costs `R²` (trackpy's null link) and an
//! unlinked destination is free (it starts a track). trackpy enumerates assignments
//! recursively and gives up on subnets over 30 sources; we solve every subnet larger
//! than 1 × 1 exactly as a linear assignment problem (rows: sources; columns:
//! destinations plus one `R²` "unlinked" column per source), which is polynomial.

use ulm_core::assignment::linear_sum_assignment;

/// A candidate link: source, destination, squared distance.
pub(crate) type Edge = (usize, usize, f64);

struct UnionFind(Vec<u32>);

impl UnionFind {
    fn new(n: usize) -> Self {
        Self((0..n as u32).collect())
    }
    fn find(&mut self, mut a: usize) -> usize {
        while self.0[a] as usize != a {
            let p = self.0[a] as usize;
            self.0[a] = self.0[p];
            a = p;
        }
        a
    }
    fn union(&mut self, a: usize, b: usize) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb {
            self.0[ra.max(rb)] = ra.min(rb) as u32;
        }
    }
}

/// Optimal links for `n_src` sources and `n_dst` destinations given the candidate
/// `edges` (squared distances ≤ `r2`). Returns, for each destination, its source.
pub(crate) fn solve(n_src: usize, n_dst: usize, edges: &[Edge], r2: f64) -> Vec<Option<usize>> {
    let mut out = vec![None; n_dst];
    if edges.is_empty() {
        return out;
    }
    let mut uf = UnionFind::new(n_src + n_dst);
    for &(s, d, _) in edges {
        uf.union(s, n_src + d);
    }
    // Group edges by subnet (root node); a subnet is a run in the sorted list.
    let mut tagged: Vec<(usize, usize)> = edges.iter().enumerate().map(|(k, e)| (uf.find(e.0), k)).collect();
    tagged.sort_unstable();
    let mut start = 0;
    let mut srcs: Vec<usize> = Vec::new();
    let mut dsts: Vec<usize> = Vec::new();
    let mut cost: Vec<f64> = Vec::new();
    while start < tagged.len() {
        let root = tagged[start].0;
        let end = start + tagged[start..].partition_point(|t| t.0 == root);
        let sub = &tagged[start..end];
        start = end;
        if sub.len() == 1 {
            // One source, one destination, one candidate: linking beats R².
            let (s, d, _) = edges[sub[0].1];
            out[d] = Some(s);
            continue;
        }
        srcs.clear();
        dsts.clear();
        for &(_, k) in sub {
            srcs.push(edges[k].0);
            dsts.push(edges[k].1);
        }
        srcs.sort_unstable();
        srcs.dedup();
        dsts.sort_unstable();
        dsts.dedup();
        let (k, l) = (srcs.len(), dsts.len());
        let cols = l + k;
        cost.clear();
        cost.resize(k * cols, f64::INFINITY);
        for row in cost.chunks_mut(cols) {
            row[l..].fill(r2);
        }
        for &(_, e) in sub {
            let (s, d, d2) = edges[e];
            let i = srcs.binary_search(&s).unwrap_or_default();
            let j = dsts.binary_search(&d).unwrap_or_default();
            cost[i * cols + j] = d2;
        }
        // Always feasible: every source has its own finite "unlinked" column.
        if let Some(assign) = linear_sum_assignment(&cost, k, cols) {
            for (i, c) in assign.into_iter().enumerate() {
                if let Some(j) = c.filter(|&j| j < l) {
                    out[dsts[j]] = Some(srcs[i]);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Exhaustive minimum of Σ d² + R²·(unlinked sources), for cross-checking.
    fn brute(n_src: usize, n_dst: usize, edges: &[Edge], r2: f64) -> f64 {
        fn rec(s: usize, n_src: usize, used: &mut Vec<bool>, edges: &[Edge], r2: f64) -> f64 {
            if s == n_src {
                return 0.0;
            }
            let mut best = r2 + rec(s + 1, n_src, used, edges, r2);
            for &(a, d, d2) in edges.iter().filter(|e| e.0 == s) {
                let _ = a;
                if !used[d] {
                    used[d] = true;
                    best = best.min(d2 + rec(s + 1, n_src, used, edges, r2));
                    used[d] = false;
                }
            }
            best
        }
        rec(0, n_src, &mut vec![false; n_dst], edges, r2)
    }

    #[test]
    fn matches_exhaustive_search_on_random_subnets() {
        let mut seed = 12345u64;
        let mut rnd = || {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (seed >> 11) as f64 / (1u64 << 53) as f64
        };
        for _ in 0..300 {
            let (ns, nd) = (1 + (rnd() * 5.0) as usize, 1 + (rnd() * 5.0) as usize);
            let mut edges = Vec::new();
            for s in 0..ns {
                for d in 0..nd {
                    if rnd() < 0.6 {
                        edges.push((s, d, rnd()));
                    }
                }
            }
            let links = solve(ns, nd, &edges, 1.0);
            let mut seen = vec![false; ns];
            let mut total = 0.0;
            for (d, s) in links.iter().enumerate() {
                if let Some(s) = *s {
                    assert!(!seen[s], "source linked twice");
                    seen[s] = true;
                    total += edges.iter().find(|e| e.0 == s && e.1 == d).expect("link is a candidate").2;
                }
            }
            total += seen.iter().filter(|&&x| !x).count() as f64;
            let best = brute(ns, nd, &edges, 1.0);
            assert!((total - best).abs() < 1e-9, "got {total}, optimum {best}");
        }
    }
}
