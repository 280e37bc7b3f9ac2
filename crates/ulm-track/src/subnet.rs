//! Optimal assignment within connected subnets of the candidate graph.
//!
//! As trackpy: sources (live tracks) and destinations (this frame's localizations) that
//! share candidates form a subnet; within it we minimise the sum of squared link
//! distances, where leaving a source unlinked costs `R²` (trackpy's null link) and an
//! unlinked destination is free (it starts a track). trackpy enumerates assignments
//! recursively and gives up on subnets over 30 sources; we solve every subnet larger
//! than 1 × 1 exactly as a linear assignment problem (rows: sources; columns:
//! destinations plus one `R²` "unlinked" column per source), which is polynomial.

use ulm_core::assignment::LsapWorkspace;

/// A candidate link: source, destination, squared distance.
pub(crate) type Edge = (usize, usize, f64);

/// Union-find over `parent` (path halving; the smaller index becomes the root).
fn find(parent: &mut [u32], mut a: usize) -> usize {
    while parent[a] as usize != a {
        let p = parent[a] as usize;
        parent[a] = parent[p];
        a = p;
    }
    a
}

fn union(parent: &mut [u32], a: usize, b: usize) {
    let (ra, rb) = (find(parent, a), find(parent, b));
    if ra != rb {
        parent[ra.max(rb)] = ra.min(rb) as u32;
    }
}

/// The subnet solver with its buffers, reused from frame to frame.
#[derive(Debug, Clone, Default)]
pub(crate) struct Subnets {
    deg_src: Vec<u32>,
    deg_dst: Vec<u32>,
    parent: Vec<u32>,
    tagged: Vec<(usize, usize)>,
    srcs: Vec<usize>,
    dsts: Vec<usize>,
    cost: Vec<f64>,
    lsap: LsapWorkspace,
    assign: Vec<Option<usize>>,
}

impl Subnets {
    /// Optimal links for `n_src` sources and `n_dst` destinations given the candidate
    /// `edges` (squared distances ≤ `r2`): `out[d]` is destination `d`'s source.
    pub(crate) fn solve(&mut self, n_src: usize, n_dst: usize, edges: &[Edge], r2: f64, out: &mut Vec<Option<usize>>) {
        out.clear();
        out.resize(n_dst, None);
        if edges.is_empty() {
            return;
        }
        // An edge whose source and destination have no other edge is a subnet of its own:
        // one source, one destination, one candidate, and linking beats R². Most are.
        let (ds, dd) = (&mut self.deg_src, &mut self.deg_dst);
        ds.clear();
        ds.resize(n_src, 0);
        dd.clear();
        dd.resize(n_dst, 0);
        for &(s, d, _) in edges {
            ds[s] += 1;
            dd[d] += 1;
        }
        let lone = |&(s, d, _): &Edge| ds[s] == 1 && dd[d] == 1;
        let parent = &mut self.parent;
        parent.clear();
        for e in edges {
            if lone(e) {
                out[e.1] = Some(e.0);
            } else {
                if parent.is_empty() {
                    parent.extend(0..(n_src + n_dst) as u32);
                }
                union(parent, e.0, n_src + e.1);
            }
        }
        if parent.is_empty() {
            return;
        }
        // Group the other edges by subnet (root node); a subnet is a run in the sorted list.
        let tagged = &mut self.tagged;
        tagged.clear();
        for (k, e) in edges.iter().enumerate() {
            if !lone(e) {
                tagged.push((find(parent, e.0), k));
            }
        }
        tagged.sort_unstable();
        let (srcs, dsts, cost, assign) = (&mut self.srcs, &mut self.dsts, &mut self.cost, &mut self.assign);
        let mut start = 0;
        while start < tagged.len() {
            let root = tagged[start].0;
            let mut end = start + 1;
            while end < tagged.len() && tagged[end].0 == root {
                end += 1;
            }
            let sub = &tagged[start..end];
            start = end;
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
            if self.lsap.solve(cost, k, cols, assign) {
                for (i, &c) in assign.iter().enumerate() {
                    if let Some(j) = c.filter(|&j| j < l) {
                        out[dsts[j]] = Some(srcs[i]);
                    }
                }
            }
        }
    }
}

/// [`Subnets::solve`] with fresh buffers. Returns, for each destination, its source.
#[cfg(test)]
pub(crate) fn solve(n_src: usize, n_dst: usize, edges: &[Edge], r2: f64) -> Vec<Option<usize>> {
    let mut out = Vec::new();
    Subnets::default().solve(n_src, n_dst, edges, r2, &mut out);
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
