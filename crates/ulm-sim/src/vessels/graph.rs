//! User-given vessels: a vessel graph (JSON, the shape of the `vessels.json` the simulator
//! writes) or a binary vessel mask / skeleton image, turned into a flow network.
//!
//! Flow (when the graph does not give it) is Hagen–Poiseuille: each segment is a tube of
//! conductance `π r⁴ / (8 μ L)`; the pressures of the interior nodes follow from
//! conservation of flow (a sparse symmetric system, solved by Jacobi-preconditioned
//! conjugate gradients) given the pressures of the open ends: those set in the file
//! (`pressure` on a node), or else the widest open end is the inlet (pressure 1) and every
//! other open end an outlet (pressure 0). Segments are then oriented along the flow and the
//! flows scaled so that the fastest centre-line speed is
//! [`crate::FlowConfig::max_peak_speed_mm_s`].

use ndarray::Array2;
use serde::Deserialize;

use super::{Node, Segment, VesselNetwork};
use crate::SimError;

/// A node of a user graph (`y_mm` and `pressure` optional).
#[derive(Debug, Clone, Deserialize)]
struct GraphNode {
    x_mm: f64,
    z_mm: f64,
    #[serde(default)]
    y_mm: f64,
    /// Boundary pressure (any unit) of an open end; nodes without it are solved for.
    #[serde(default)]
    pressure: Option<f64>,
}

/// A segment of a user graph (flow optional).
#[derive(Debug, Clone, Deserialize)]
struct GraphSegment {
    from: usize,
    to: usize,
    radius_mm: f64,
    #[serde(default)]
    flow_mm3_s: Option<f64>,
    #[serde(default)]
    peak_speed_mm_s: Option<f64>,
    #[serde(default)]
    tree: usize,
}

#[derive(Debug, Clone, Deserialize)]
struct Graph {
    nodes: Vec<GraphNode>,
    segments: Vec<GraphSegment>,
}

impl VesselNetwork {
    /// A network from a vessel graph in JSON: `{"nodes": [{"x_mm", "z_mm", "y_mm"?,
    /// "pressure"?}], "segments": [{"from", "to", "radius_mm", "flow_mm3_s"?}]}` — the
    /// shape of the `vessels.json` the simulator writes. With a flow on every segment the
    /// graph is taken as it is (segments oriented along the flow); otherwise the flow is
    /// solved (Poiseuille, see the module docs) and scaled to `max_peak_speed_mm_s`.
    pub fn from_graph_json(text: &str, max_peak_speed_mm_s: f64) -> Result<Self, SimError> {
        let g: Graph =
            serde_json::from_str(text).map_err(|e| SimError::Network(format!("invalid vessel graph: {e}")))?;
        if g.segments.is_empty() {
            return Err(SimError::Network("the vessel graph has no segments".into()));
        }
        for (i, n) in g.nodes.iter().enumerate() {
            if !(n.x_mm.is_finite() && n.z_mm.is_finite() && n.y_mm.is_finite()) {
                return Err(SimError::Network(format!("node {i}: non-finite position")));
            }
        }
        for (i, s) in g.segments.iter().enumerate() {
            if s.from >= g.nodes.len() || s.to >= g.nodes.len() {
                return Err(SimError::Network(format!(
                    "segment {i}: node index {} out of range ({} nodes)",
                    s.from.max(s.to),
                    g.nodes.len()
                )));
            }
            if !(s.radius_mm.is_finite() && s.radius_mm > 0.0) {
                return Err(SimError::Network(format!("segment {i}: radius_mm must be > 0, got {}", s.radius_mm)));
            }
        }
        let nodes: Vec<Node> = g.nodes.iter().map(|n| Node { x_mm: n.x_mm, z_mm: n.z_mm, y_mm: n.y_mm }).collect();
        if g.segments.iter().all(|s| s.flow_mm3_s.is_some()) {
            let segments = g
                .segments
                .iter()
                .map(|s| {
                    let q = s.flow_mm3_s.unwrap_or(0.0);
                    let (from, to) = if q >= 0.0 { (s.from, s.to) } else { (s.to, s.from) };
                    let r = s.radius_mm;
                    Segment {
                        from,
                        to,
                        radius_mm: r,
                        flow_mm3_s: q.abs(),
                        peak_speed_mm_s: s
                            .peak_speed_mm_s
                            .unwrap_or_else(|| 2.0 * q.abs() / (std::f64::consts::PI * r * r)),
                        tree: s.tree,
                    }
                })
                .collect();
            let net = VesselNetwork { nodes, segments };
            net.validate().map_err(SimError::Network)?;
            return Ok(net);
        }
        let pressures: Vec<Option<f64>> = g.nodes.iter().map(|n| n.pressure).collect();
        let edges: Vec<(usize, usize, f64)> = g.segments.iter().map(|s| (s.from, s.to, s.radius_mm)).collect();
        poiseuille(nodes, &edges, &pressures, max_peak_speed_mm_s)
    }

    /// A network from a binary vessel mask (or skeleton) image: `mask[[row, col]]` true
    /// inside vessels, pixel `(row, col)` centred at `(x0 + col dx, z0 + row dz)` mm with
    /// `pixel_mm = (dx, dz)`. The mask is thinned to its skeleton (Zhang–Suen), the skeleton
    /// traced into a graph (junctions and ends as nodes, polylines every 3 pixels), radii
    /// taken from the distance to the background (at least half a pixel, so a one-pixel
    /// skeleton gives thin vessels), and the flow solved (Poiseuille, see the module docs).
    pub fn from_mask(
        mask: &Array2<bool>,
        pixel_mm: (f64, f64),
        origin_mm: (f64, f64),
        max_peak_speed_mm_s: f64,
    ) -> Result<Self, SimError> {
        let (h, w) = mask.dim();
        if h < 3 || w < 3 {
            return Err(SimError::Network(format!("vessel mask of {h} × {w} pixels is too small")));
        }
        let mut skel = skeletonize(mask);
        let dist = distance_to_background(mask, &skel);
        prune_spurs(&mut skel, &dist);
        let px = pixel_mm.0.min(pixel_mm.1);
        let (nodes, edges) = trace(&skel, &dist, pixel_mm, origin_mm, px);
        if edges.is_empty() {
            return Err(SimError::Network("the vessel mask holds no vessel longer than a pixel".into()));
        }
        poiseuille(nodes, &edges, &[], max_peak_speed_mm_s)
    }
}

/// Solves Poiseuille flow on an undirected graph of tubes `(a, b, radius_mm)`.
fn poiseuille(
    nodes: Vec<Node>,
    edges: &[(usize, usize, f64)],
    pressures: &[Option<f64>],
    max_peak_speed_mm_s: f64,
) -> Result<VesselNetwork, SimError> {
    let n = nodes.len();
    let len = |a: usize, b: usize| (nodes[a].x_mm - nodes[b].x_mm).hypot(nodes[a].z_mm - nodes[b].z_mm);
    for (i, &(a, b, _)) in edges.iter().enumerate() {
        if a == b || len(a, b) <= 0.0 {
            return Err(SimError::Network(format!("segment {i}: zero length")));
        }
    }
    let cond: Vec<f64> = edges.iter().map(|&(a, b, r)| r.powi(4) / len(a, b)).collect();
    let mut degree = vec![0usize; n];
    for &(a, b, _) in edges {
        degree[a] += 1;
        degree[b] += 1;
    }
    // Boundary pressures.
    let mut fixed: Vec<Option<f64>> = (0..n).map(|i| pressures.get(i).copied().flatten()).collect();
    if fixed.iter().all(|p| p.is_none()) {
        let ends: Vec<usize> = (0..n).filter(|&i| degree[i] == 1).collect();
        if ends.len() < 2 {
            return Err(SimError::Network(
                "the vessel graph needs at least two open ends (an inlet and an outlet) or node pressures".into(),
            ));
        }
        let end_radius = |i: usize| edges.iter().filter(|e| e.0 == i || e.1 == i).map(|e| e.2).fold(0.0, f64::max);
        let inlet = *ends.iter().max_by(|&&a, &&b| end_radius(a).total_cmp(&end_radius(b))).expect("two ends");
        for &e in &ends {
            fixed[e] = Some(if e == inlet { 1.0 } else { 0.0 });
        }
    }
    for (i, p) in fixed.iter().enumerate() {
        if let Some(p) = p
            && !p.is_finite()
        {
            return Err(SimError::Network(format!("node {i}: non-finite pressure")));
        }
    }
    // Conjugate gradients on the free nodes: Σ_j G_ij (p_i − p_j) = 0.
    let free: Vec<usize> = (0..n).filter(|&i| fixed[i].is_none()).collect();
    let mut index = vec![usize::MAX; n];
    for (k, &i) in free.iter().enumerate() {
        index[i] = k;
    }
    let mut diag = vec![0.0; free.len()];
    let mut rhs = vec![0.0; free.len()];
    for (&(a, b, _), &g) in edges.iter().zip(&cond) {
        for (u, v) in [(a, b), (b, a)] {
            if index[u] != usize::MAX {
                diag[index[u]] += g;
                if let Some(p) = fixed[v] {
                    rhs[index[u]] += g * p;
                }
            }
        }
    }
    let apply = |x: &[f64], out: &mut [f64]| {
        for (o, (&d, &xi)) in out.iter_mut().zip(diag.iter().zip(x)) {
            *o = d * xi;
        }
        for (&(a, b, _), &g) in edges.iter().zip(&cond) {
            let (ia, ib) = (index[a], index[b]);
            if ia != usize::MAX && ib != usize::MAX {
                out[ia] -= g * x[ib];
                out[ib] -= g * x[ia];
            }
        }
    };
    let m = free.len();
    let mut x = vec![0.0; m];
    let mut r = rhs.clone();
    let inv_d: Vec<f64> = diag.iter().map(|&d| if d > 0.0 { 1.0 / d } else { 0.0 }).collect();
    let mut z: Vec<f64> = r.iter().zip(&inv_d).map(|(a, b)| a * b).collect();
    let mut p = z.clone();
    let mut rz: f64 = r.iter().zip(&z).map(|(a, b)| a * b).sum();
    let norm0 = rhs.iter().map(|v| v * v).sum::<f64>().sqrt().max(f64::MIN_POSITIVE);
    let mut ap = vec![0.0; m];
    for _ in 0..(20 * m + 100) {
        if r.iter().map(|v| v * v).sum::<f64>().sqrt() <= 1e-14 * norm0 {
            break;
        }
        apply(&p, &mut ap);
        let pap: f64 = p.iter().zip(&ap).map(|(a, b)| a * b).sum();
        if pap <= 0.0 {
            break;
        }
        let alpha = rz / pap;
        for k in 0..m {
            x[k] += alpha * p[k];
            r[k] -= alpha * ap[k];
        }
        for k in 0..m {
            z[k] = r[k] * inv_d[k];
        }
        let rz_new: f64 = r.iter().zip(&z).map(|(a, b)| a * b).sum();
        let beta = rz_new / rz;
        rz = rz_new;
        for k in 0..m {
            p[k] = z[k] + beta * p[k];
        }
    }
    let pressure = |i: usize| fixed[i].unwrap_or_else(|| x[index[i]]);
    let flows: Vec<f64> = edges.iter().zip(&cond).map(|(&(a, b, _), &g)| g * (pressure(a) - pressure(b))).collect();
    let peak = |q: f64, r: f64| 2.0 * q.abs() / (std::f64::consts::PI * r * r);
    let v_max = flows.iter().zip(edges).map(|(&q, e)| peak(q, e.2)).fold(0.0, f64::max);
    if !(v_max.is_finite() && v_max > 0.0) {
        return Err(SimError::Network("no flow: every open end has the same pressure".into()));
    }
    let scale = max_peak_speed_mm_s / v_max;
    let segments = edges
        .iter()
        .zip(&flows)
        .map(|(&(a, b, r), &q)| {
            let (from, to) = if q >= 0.0 { (a, b) } else { (b, a) };
            let q = q.abs() * scale;
            Segment { from, to, radius_mm: r, flow_mm3_s: q, peak_speed_mm_s: peak(q, r), tree: 0 }
        })
        .collect();
    let net = VesselNetwork { nodes, segments };
    net.validate().map_err(SimError::Network)?;
    Ok(net)
}

/// The 8 neighbours in Zhang–Suen order P2..P9 (N, NE, E, SE, S, SW, W, NW).
const RING: [(isize, isize); 8] = [(-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1)];

/// Zhang–Suen thinning to a one-pixel-wide, 8-connected skeleton.
fn skeletonize(mask: &Array2<bool>) -> Array2<bool> {
    let (h, w) = mask.dim();
    let mut img = mask.clone();
    // Border pixels are never thinned from outside the image.
    let at = |img: &Array2<bool>, r: usize, c: usize, d: (isize, isize)| {
        let (rr, cc) = (r as isize + d.0, c as isize + d.1);
        rr >= 0 && cc >= 0 && (rr as usize) < h && (cc as usize) < w && img[[rr as usize, cc as usize]]
    };
    loop {
        let mut changed = false;
        for pass in 0..2 {
            let mut remove = Vec::new();
            for r in 0..h {
                for c in 0..w {
                    if !img[[r, c]] {
                        continue;
                    }
                    let p: Vec<bool> = RING.iter().map(|&d| at(&img, r, c, d)).collect();
                    let b = p.iter().filter(|&&v| v).count();
                    let a = (0..8).filter(|&k| !p[k] && p[(k + 1) % 8]).count();
                    let (c1, c2) = if pass == 0 {
                        (p[0] && p[2] && p[4], p[2] && p[4] && p[6])
                    } else {
                        (p[0] && p[2] && p[6], p[0] && p[4] && p[6])
                    };
                    if (2..=6).contains(&b) && a == 1 && !c1 && !c2 {
                        remove.push((r, c));
                    }
                }
            }
            changed |= !remove.is_empty();
            for (r, c) in remove {
                img[[r, c]] = false;
            }
        }
        if !changed {
            return img;
        }
    }
}

/// Distance (pixels) from each skeleton pixel to the nearest background pixel of `mask`
/// (or the image border), searched in growing squares up to 64 pixels.
fn distance_to_background(mask: &Array2<bool>, skel: &Array2<bool>) -> Array2<f64> {
    let (h, w) = mask.dim();
    let mut d = Array2::<f64>::zeros((h, w));
    for ((r, c), &s) in skel.indexed_iter() {
        if !s {
            continue;
        }
        let mut best = f64::MAX;
        for k in 1..=64isize {
            if (k as f64 - 1.0) > best {
                break;
            }
            for dr in -k..=k {
                for dc in -k..=k {
                    if dr.abs() != k && dc.abs() != k {
                        continue;
                    }
                    let (rr, cc) = (r as isize + dr, c as isize + dc);
                    let outside = rr < 0 || cc < 0 || rr as usize >= h || cc as usize >= w;
                    if outside || !mask[[rr as usize, cc as usize]] {
                        best = best.min(((dr * dr + dc * dc) as f64).sqrt());
                    }
                }
            }
        }
        d[[r, c]] = if best == f64::MAX { 64.0 } else { best };
    }
    d
}

/// Removes spurs: branches from an end to a junction no longer than the vessel radius there
/// plus two pixels (thinning leaves them at the corners of thick vessels).
fn prune_spurs(skel: &mut Array2<bool>, dist: &Array2<f64>) {
    let (h, w) = skel.dim();
    let nbrs = |s: &Array2<bool>, (r, c): (usize, usize)| -> Vec<(usize, usize)> {
        RING.iter()
            .filter_map(|&(dr, dc)| {
                let (rr, cc) = (r as isize + dr, c as isize + dc);
                (rr >= 0 && cc >= 0 && (rr as usize) < h && (cc as usize) < w && s[[rr as usize, cc as usize]])
                    .then_some((rr as usize, cc as usize))
            })
            .collect()
    };
    let ends: Vec<(usize, usize)> =
        skel.indexed_iter().filter(|&(p, &v)| v && nbrs(skel, p).len() == 1).map(|(p, _)| p).collect();
    let mut cut = Vec::new();
    for e in ends {
        let mut path = vec![e];
        let mut prev = e;
        let mut cur = nbrs(skel, e)[0];
        loop {
            let n = nbrs(skel, cur);
            if n.len() != 2 {
                if n.len() >= 3 && (path.len() as f64) <= dist[cur] + 2.0 {
                    cut.extend(path.iter().copied());
                }
                break;
            }
            path.push(cur);
            let next = if n[0] == prev { n[1] } else { n[0] };
            (prev, cur) = (cur, next);
            if path.len() > 64 {
                break;
            }
        }
    }
    for p in cut {
        skel[p] = false;
    }
}

/// Traces a skeleton into nodes and tube edges `(a, b, radius_mm)`.
fn trace(
    skel: &Array2<bool>,
    dist: &Array2<f64>,
    pixel_mm: (f64, f64),
    origin_mm: (f64, f64),
    px: f64,
) -> (Vec<Node>, Vec<(usize, usize, f64)>) {
    let (h, w) = skel.dim();
    let nbrs = |r: usize, c: usize| -> Vec<(usize, usize)> {
        RING.iter()
            .filter_map(|&(dr, dc)| {
                let (rr, cc) = (r as isize + dr, c as isize + dc);
                (rr >= 0 && cc >= 0 && (rr as usize) < h && (cc as usize) < w && skel[[rr as usize, cc as usize]])
                    .then_some((rr as usize, cc as usize))
            })
            .collect()
    };
    let mut node_of = Array2::<usize>::from_elem((h, w), usize::MAX);
    let mut nodes = Vec::new();
    let add_node = |p: (usize, usize), nodes: &mut Vec<Node>, node_of: &mut Array2<usize>| {
        if node_of[p] == usize::MAX {
            node_of[p] = nodes.len();
            nodes.push(Node {
                x_mm: origin_mm.0 + p.1 as f64 * pixel_mm.0,
                z_mm: origin_mm.1 + p.0 as f64 * pixel_mm.1,
                y_mm: 0.0,
            });
        }
        node_of[p]
    };
    let key_points: Vec<(usize, usize)> =
        skel.indexed_iter().filter(|&(p, &s)| s && nbrs(p.0, p.1).len() != 2).map(|(p, _)| p).collect();
    let mut visited = std::collections::HashSet::new();
    let mut edges = Vec::new();
    let radius = |p: (usize, usize)| (dist[p] - 0.5).max(0.5) * px;
    for &start in &key_points {
        for first in nbrs(start.0, start.1) {
            if visited.contains(&(start, first)) {
                continue;
            }
            // Walk along degree-2 pixels to the next key point.
            let mut path = vec![start, first];
            visited.insert((start, first));
            visited.insert((first, start));
            loop {
                let cur = *path.last().expect("non-empty");
                if nbrs(cur.0, cur.1).len() != 2 {
                    break;
                }
                let prev = path[path.len() - 2];
                let Some(next) = nbrs(cur.0, cur.1).into_iter().find(|&q| q != prev && !visited.contains(&(cur, q)))
                else {
                    break;
                };
                visited.insert((cur, next));
                visited.insert((next, cur));
                path.push(next);
            }
            // Polyline: a node every 3 pixels and at both ends.
            let mut a = add_node(start, &mut nodes, &mut node_of);
            let mut last = 0;
            for k in 1..path.len() {
                if k % 3 == 0 || k + 1 == path.len() {
                    let b = add_node(path[k], &mut nodes, &mut node_of);
                    if a != b {
                        let r = path[last..=k].iter().map(|&p| radius(p)).sum::<f64>() / (k - last + 1) as f64;
                        edges.push((a, b, r));
                    }
                    a = b;
                    last = k;
                }
            }
        }
    }
    (nodes, edges)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poiseuille_splits_flow_by_conductance() {
        // A Y: inlet 0 → junction 1 → outlets 2 and 3, daughters of radius 40 and 30 µm, equal
        // lengths: the flow splits as r⁴ (256 : 81), conserved at the junction.
        let json = r#"{"nodes": [{"x_mm": 0, "z_mm": 0}, {"x_mm": 1, "z_mm": 0},
            {"x_mm": 2, "z_mm": 0.5}, {"x_mm": 2, "z_mm": -0.5}],
            "segments": [{"from": 0, "to": 1, "radius_mm": 0.05},
            {"from": 1, "to": 2, "radius_mm": 0.04}, {"from": 3, "to": 1, "radius_mm": 0.03}]}"#;
        let net = VesselNetwork::from_graph_json(json, 20.0).unwrap();
        let q: Vec<f64> = net.segments.iter().map(|s| s.flow_mm3_s).collect();
        assert!((q[1] / q[2] - 256.0 / 81.0).abs() < 1e-9, "{q:?}");
        assert!((q[0] - q[1] - q[2]).abs() < 1e-12 * q[0]);
        // Oriented along the flow, out of the widest open end (node 0).
        assert_eq!((net.segments[0].from, net.segments[2].from), (0, 1));
        let vmax = net.segments.iter().map(|s| s.peak_speed_mm_s).fold(0.0, f64::max);
        assert!((vmax - 20.0).abs() < 1e-9);
    }

    #[test]
    fn a_graph_with_flows_is_kept_and_a_bad_one_named() {
        let net = VesselNetwork::straight(0.0, 1.0, 2.0, 1.0, 0.02, 5.0);
        let text = serde_json::to_string(&net).unwrap();
        assert_eq!(VesselNetwork::from_graph_json(&text, 99.0).unwrap(), net);
        let e =
            VesselNetwork::from_graph_json(r#"{"nodes": [], "segments": [{"from": 0, "to": 1, "radius_mm": 1}]}"#, 1.0)
                .unwrap_err();
        assert!(e.to_string().contains("segment 0"), "{e}");
        assert!(VesselNetwork::from_graph_json("{", 1.0).is_err());
    }

    #[test]
    fn a_mask_of_a_thick_y_becomes_a_y_network_with_widths() {
        // A horizontal bar 7 px thick from the left edge to x = 40, splitting into two 3 px
        // bars going up-right and down-right.
        let (h, w) = (64, 80);
        let mut m = Array2::from_elem((h, w), false);
        for c in 0..40 {
            for r in 27..34 {
                m[[r, c]] = true;
            }
        }
        for k in 0..30usize {
            for t in 0..3usize {
                m[[30 - k + t - 1, 40 + k]] = true;
                m[[30 + k + t - 1, 40 + k]] = true;
            }
        }
        let net = VesselNetwork::from_mask(&m, (0.01, 0.01), (0.0, 0.0), 10.0).unwrap();
        net.validate().unwrap();
        let (out, inn) = net.adjacency();
        let inlets = (0..net.nodes.len()).filter(|&i| inn[i].is_empty() && !out[i].is_empty()).count();
        let outlets = (0..net.nodes.len()).filter(|&i| out[i].is_empty() && !inn[i].is_empty()).count();
        assert_eq!((inlets, outlets), (1, 2), "a Y has one inlet (the wide trunk) and two outlets");
        // Radii: trunk ≈ 3.5 px = 35 µm, branches ≈ 1.5 px (± the half-pixel discretisation).
        let r_max = net.segments.iter().map(|s| s.radius_mm).fold(0.0, f64::max);
        let r_min = net.segments.iter().map(|s| s.radius_mm).fold(1.0, f64::min);
        assert!(r_max > 0.025 && r_max < 0.045, "{r_max}");
        assert!(r_min < 0.02, "{r_min}");
    }
}
