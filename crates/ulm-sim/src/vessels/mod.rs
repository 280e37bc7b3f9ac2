//! Random branching vessel trees with Murray's-law radii and Hagen–Poiseuille flow.
//!
//! Each tree starts on the border of the growth domain (the field of view plus a margin),
//! pointing inwards, and grows segment by segment: the direction wanders (tortuosity), a
//! segment ends in a bifurcation with a probability modulated by smooth "density regions",
//! daughters get radii `r1³ + r2³ = r0³` (Murray) with a random asymmetry and Murray's
//! optimal branching angles (plus jitter). A branch ends when it leaves the domain, falls
//! below the minimum radius or dives out of the plane. Several trees are merged; a fraction
//! are venous (flow converges towards the root).
//!
//! Flow: each root carries `Q = (v_peak / 2) π r²` with `v_peak ∝ r`; at a bifurcation the
//! flow splits in proportion to `r³`, so it is conserved exactly and (with Murray radii)
//! the peak speed `2Q / (π r²)` scales with the radius.

pub mod cortex;
mod graph;

use rand::Rng;
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};

use crate::config::{FlowConfig, VascularBed, VesselConfig};

/// A point of the network: in-plane position and elevation (out of the imaging plane).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Node {
    /// Lateral position, mm.
    pub x_mm: f64,
    /// Depth, mm.
    pub z_mm: f64,
    /// Elevation (distance from the imaging plane), mm.
    pub y_mm: f64,
}

/// A straight vessel segment, oriented along the flow (`from` → `to`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Segment {
    /// Upstream node index.
    pub from: usize,
    /// Downstream node index.
    pub to: usize,
    /// Lumen radius, mm.
    pub radius_mm: f64,
    /// Volumetric flow, mm³/s.
    pub flow_mm3_s: f64,
    /// Centre-line (peak) speed of the parabolic profile, `2 Q / (π r²)`, mm/s.
    pub peak_speed_mm_s: f64,
    /// Index of the tree the segment belongs to.
    pub tree: usize,
}

/// The vessel network: nodes and flow-oriented segments. Serialisable (`vessels.json`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VesselNetwork {
    /// Nodes.
    pub nodes: Vec<Node>,
    /// Segments.
    pub segments: Vec<Segment>,
}

/// Axis-aligned rectangle in mm (`x` lateral, `z` depth).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rect {
    /// Left edge.
    pub x_min: f64,
    /// Right edge.
    pub x_max: f64,
    /// Top edge (shallowest).
    pub z_min: f64,
    /// Bottom edge (deepest).
    pub z_max: f64,
}

impl Rect {
    /// Whether `(x, z)` lies inside (edges included).
    pub fn contains(&self, x: f64, z: f64) -> bool {
        x >= self.x_min && x <= self.x_max && z >= self.z_min && z <= self.z_max
    }

    /// The rectangle grown by `m` on every side.
    pub fn grown(&self, m: f64) -> Rect {
        Rect { x_min: self.x_min - m, x_max: self.x_max + m, z_min: self.z_min - m, z_max: self.z_max + m }
    }
}

impl VesselNetwork {
    /// One straight vessel from `(x0, z0)` to `(x1, z1)` (mm) in the imaging plane, with
    /// radius `radius_mm` and peak speed `peak_speed_mm_s` (handy for tests and custom
    /// phantoms).
    pub fn straight(x0: f64, z0: f64, x1: f64, z1: f64, radius_mm: f64, peak_speed_mm_s: f64) -> Self {
        let q = peak_speed_mm_s / 2.0 * std::f64::consts::PI * radius_mm * radius_mm;
        VesselNetwork {
            nodes: vec![Node { x_mm: x0, z_mm: z0, y_mm: 0.0 }, Node { x_mm: x1, z_mm: z1, y_mm: 0.0 }],
            segments: vec![Segment { from: 0, to: 1, radius_mm, flow_mm3_s: q, peak_speed_mm_s, tree: 0 }],
        }
    }

    /// In-plane length of segment `i`, mm.
    pub fn length_mm(&self, i: usize) -> f64 {
        let s = &self.segments[i];
        let (a, b) = (self.nodes[s.from], self.nodes[s.to]);
        (b.x_mm - a.x_mm).hypot(b.z_mm - a.z_mm)
    }

    /// Segments leaving each node (`out[node]`) and entering it (`inn[node]`).
    pub fn adjacency(&self) -> (Vec<Vec<usize>>, Vec<Vec<usize>>) {
        let mut out = vec![Vec::new(); self.nodes.len()];
        let mut inn = vec![Vec::new(); self.nodes.len()];
        for (i, s) in self.segments.iter().enumerate() {
            out[s.from].push(i);
            inn[s.to].push(i);
        }
        (out, inn)
    }

    /// Checks indices, radii, flows and that flow is conserved at every interior node
    /// (relative tolerance `1e-6`).
    pub fn validate(&self) -> Result<(), String> {
        for (i, s) in self.segments.iter().enumerate() {
            if s.from >= self.nodes.len() || s.to >= self.nodes.len() {
                return Err(format!("segment {i}: node index out of range"));
            }
            if !(s.radius_mm > 0.0 && s.flow_mm3_s >= 0.0 && s.peak_speed_mm_s >= 0.0) {
                return Err(format!("segment {i}: radius, flow and speed must be positive"));
            }
            if self.length_mm(i).is_nan() || self.length_mm(i) <= 0.0 {
                return Err(format!("segment {i}: zero length"));
            }
        }
        for (i, n) in self.nodes.iter().enumerate() {
            if !(n.x_mm.is_finite() && n.z_mm.is_finite() && n.y_mm.is_finite()) {
                return Err(format!("node {i}: non-finite position"));
            }
        }
        let (out, inn) = self.adjacency();
        let q_max = self.segments.iter().map(|s| s.flow_mm3_s).fold(0.0, f64::max);
        for n in 0..self.nodes.len() {
            if out[n].is_empty() || inn[n].is_empty() {
                continue;
            }
            let qi: f64 = inn[n].iter().map(|&i| self.segments[i].flow_mm3_s).sum();
            let qo: f64 = out[n].iter().map(|&i| self.segments[i].flow_mm3_s).sum();
            if (qi - qo).abs() > 1e-6 * qi.max(qo) + 1e-12 * q_max {
                return Err(format!("node {n}: inflow {qi} mm³/s ≠ outflow {qo} mm³/s"));
            }
        }
        Ok(())
    }
}

/// A bifurcation-probability modulation in `[0.25, 1.75]`: a sum of Gaussian blobs.
struct DensityField {
    blobs: Vec<(f64, f64, f64, f64)>, // x, z, sigma, weight
}

impl DensityField {
    fn new(n: usize, domain: &Rect, rng: &mut impl Rng) -> Self {
        let w = domain.x_max - domain.x_min;
        let h = domain.z_max - domain.z_min;
        let blobs = (0..n)
            .map(|_| {
                let x = domain.x_min + rng.random::<f64>() * w;
                let z = domain.z_min + rng.random::<f64>() * h;
                let sigma = (0.1 + 0.15 * rng.random::<f64>()) * w.max(h);
                let weight = if rng.random::<bool>() { 1.0 } else { -1.0 };
                (x, z, sigma, weight)
            })
            .collect();
        Self { blobs }
    }

    fn factor(&self, x: f64, z: f64) -> f64 {
        let s: f64 = self
            .blobs
            .iter()
            .map(|&(bx, bz, sg, w)| w * (-((x - bx).powi(2) + (z - bz).powi(2)) / (2.0 * sg * sg)).exp())
            .sum();
        (1.0 + 0.75 * s.clamp(-1.0, 1.0)).clamp(0.25, 1.75)
    }
}

pub(crate) fn normal(rng: &mut impl Rng) -> f64 {
    rng.sample::<f64, _>(StandardNormal)
}

/// Murray's optimal angle (radians) between the parent axis and daughter `a`, given the
/// other daughter `b`: `cos θa = (r0⁴ + ra⁴ − rb⁴) / (2 r0² ra²)`.
pub fn murray_angle(r0: f64, ra: f64, rb: f64) -> f64 {
    let c = (r0.powi(4) + ra.powi(4) - rb.powi(4)) / (2.0 * r0 * r0 * ra * ra);
    c.clamp(-1.0, 1.0).acos()
}

struct Grow {
    node: usize,
    angle: f64,
    radius: f64,
    parent: Option<usize>,
    short: bool,
}

/// Grows the network of `cfg.bed` for the field of view `fov` (mm).
pub fn generate(cfg: &VesselConfig, flow: &FlowConfig, fov: &Rect, rng: &mut impl Rng) -> VesselNetwork {
    match cfg.bed {
        VascularBed::Random => generate_random(cfg, flow, fov, rng),
        VascularBed::Cortex => cortex::generate(cfg, flow, fov, rng),
    }
}

/// Grows a network of `cfg.n_trees` random trees in `fov` (mm) grown by `cfg.margin_mm`.
pub fn generate_random(cfg: &VesselConfig, flow: &FlowConfig, fov: &Rect, rng: &mut impl Rng) -> VesselNetwork {
    let domain = fov.grown(cfg.margin_mm);
    let density = DensityField::new(cfg.density_regions, &domain, rng);
    let mut net = VesselNetwork::default();
    let r_min = cfg.min_radius_um * 1e-3;
    let r_cap = cfg.root_radius_um[1] * 1e-3;
    let (w, h) = (domain.x_max - domain.x_min, domain.z_max - domain.z_min);
    for tree in 0..cfg.n_trees {
        let first_seg = net.segments.len();
        // Root on the domain border, pointing inwards (±40°).
        let t = rng.random::<f64>() * 2.0 * (w + h);
        let (x, z, inward) = if t < w {
            (domain.x_min + t, domain.z_min, std::f64::consts::FRAC_PI_2)
        } else if t < 2.0 * w {
            (domain.x_min + t - w, domain.z_max, -std::f64::consts::FRAC_PI_2)
        } else if t < 2.0 * w + h {
            (domain.x_min, domain.z_min + t - 2.0 * w, 0.0)
        } else {
            (domain.x_max, domain.z_min + t - 2.0 * w - h, std::f64::consts::PI)
        };
        let angle = inward + (rng.random::<f64>() - 0.5) * 80f64.to_radians();
        let [ra, rb] = cfg.root_radius_um;
        let r_root = (ra + (rb - ra) * rng.random::<f64>()) * 1e-3;
        net.nodes.push(Node { x_mm: x, z_mm: z, y_mm: cfg.elevation_spread_mm * normal(rng) });
        let mut stack = vec![Grow { node: net.nodes.len() - 1, angle, radius: r_root, parent: None, short: false }];
        let mut parents: Vec<Option<usize>> = Vec::new();
        while let Some(g) = stack.pop() {
            let seg_in_tree = net.segments.len() - first_seg;
            let a = g.angle + cfg.tortuosity_deg.to_radians() * normal(rng);
            let len = cfg.segment_length_mm * (0.2 + 4.0 * g.radius) * (0.5 + rng.random::<f64>());
            let p = net.nodes[g.node];
            let (x1, z1) = (p.x_mm + len * a.cos(), p.z_mm + len * a.sin());
            let y1 = 0.9 * p.y_mm + cfg.elevation_step_mm * normal(rng);
            net.nodes.push(Node { x_mm: x1, z_mm: z1, y_mm: y1 });
            let end = net.nodes.len() - 1;
            net.segments.push(Segment {
                from: g.node,
                to: end,
                radius_mm: g.radius,
                flow_mm3_s: 0.0,
                peak_speed_mm_s: 0.0,
                tree,
            });
            parents.push(g.parent);
            let me = net.segments.len() - 1;
            let stop = g.short
                || !domain.contains(x1, z1)
                || seg_in_tree + 1 + stack.len() >= cfg.max_segments_per_tree
                || rng.random::<f64>() < cfg.termination_prob;
            if stop {
                continue;
            }
            let p_bif = (cfg.bifurcation_prob * density.factor(x1, z1)).min(0.95);
            if rng.random::<f64>() < p_bif {
                let gamma = cfg.min_asymmetry + (1.0 - cfg.min_asymmetry) * rng.random::<f64>();
                let r1 = g.radius / (1.0 + gamma.powi(3)).cbrt();
                let r2 = gamma * r1;
                let th1 = murray_angle(g.radius, r1, r2) + cfg.branch_angle_jitter_deg.to_radians() * normal(rng);
                let th2 = murray_angle(g.radius, r2, r1) + cfg.branch_angle_jitter_deg.to_radians() * normal(rng);
                let sign = if rng.random::<bool>() { 1.0 } else { -1.0 };
                for (r, th) in [(r1, sign * th1), (r2, -sign * th2)] {
                    stack.push(Grow { node: end, angle: a + th, radius: r, parent: Some(me), short: r < r_min });
                }
            } else {
                stack.push(Grow { node: end, angle: a, radius: g.radius, parent: Some(me), short: false });
            }
        }
        // Flow, in growth order (parents before children).
        let v_root = flow.max_peak_speed_mm_s * r_root / r_cap;
        assign_tree_flows(&mut net, first_seg, &parents, v_root / 2.0 * std::f64::consts::PI * r_root * r_root);
        if rng.random::<f64>() < cfg.venous_fraction {
            for s in &mut net.segments[first_seg..] {
                std::mem::swap(&mut s.from, &mut s.to);
            }
        }
    }
    net
}

/// Sets the flow of the tree made of segments `first_seg..` (growth order, parents before
/// children; `parents[k]` is the parent of segment `first_seg + k`): the root carries
/// `q_root`, and every parent's flow splits among its children in proportion to `r³`
/// (Murray), so flow is conserved and, with Murray radii, peak speed ∝ radius.
pub(crate) fn assign_tree_flows(net: &mut VesselNetwork, first_seg: usize, parents: &[Option<usize>], q_root: f64) {
    let mut children_r3 = vec![0.0f64; net.segments.len()];
    for (k, p) in parents.iter().enumerate() {
        if let Some(par) = *p {
            children_r3[par] += net.segments[first_seg + k].radius_mm.powi(3);
        }
    }
    for (k, parent) in parents.iter().enumerate() {
        let i = first_seg + k;
        let q = match *parent {
            None => q_root,
            Some(par) => net.segments[par].flow_mm3_s * net.segments[i].radius_mm.powi(3) / children_r3[par],
        };
        let r = net.segments[i].radius_mm;
        net.segments[i].flow_mm3_s = q;
        net.segments[i].peak_speed_mm_s = 2.0 * q / (std::f64::consts::PI * r * r);
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;

    fn fov() -> Rect {
        Rect { x_min: -5.0, x_max: 5.0, z_min: 3.0, z_max: 15.0 }
    }

    #[test]
    fn flow_is_conserved_at_every_bifurcation() {
        let cfg = VesselConfig::default();
        let net = generate(&cfg, &FlowConfig::default(), &fov(), &mut ChaCha8Rng::seed_from_u64(3));
        net.validate().unwrap();
        let (out, inn) = net.adjacency();
        let mut n_bif = 0;
        for n in 0..net.nodes.len() {
            // A divergent (arterial) or convergent (venous) junction.
            let (a, b) = (&inn[n], &out[n]);
            if (a.len() == 1 && b.len() == 2) || (a.len() == 2 && b.len() == 1) {
                n_bif += 1;
                let qi: f64 = a.iter().map(|&i| net.segments[i].flow_mm3_s).sum();
                let qo: f64 = b.iter().map(|&i| net.segments[i].flow_mm3_s).sum();
                assert!((qi - qo).abs() <= 1e-12 * qi, "node {n}: {qi} vs {qo}");
                // Murray: r0³ = r1³ + r2³.
                let (big, small) = if a.len() == 1 { (a, b) } else { (b, a) };
                let r0 = net.segments[big[0]].radius_mm.powi(3);
                let r12: f64 = small.iter().map(|&i| net.segments[i].radius_mm.powi(3)).sum();
                assert!((r0 - r12).abs() <= 1e-12 * r0);
            }
        }
        assert!(n_bif > 20, "only {n_bif} bifurcations");
    }

    #[test]
    fn radii_and_speeds_span_the_configured_ranges() {
        let cfg = VesselConfig::default();
        let net = generate(&cfg, &FlowConfig::default(), &fov(), &mut ChaCha8Rng::seed_from_u64(9));
        let r: Vec<f64> = net.segments.iter().map(|s| s.radius_mm * 1e3).collect();
        let v: Vec<f64> = net.segments.iter().map(|s| s.peak_speed_mm_s).collect();
        let (rmin, rmax) = r.iter().fold((f64::MAX, 0f64), |(a, b), &x| (a.min(x), b.max(x)));
        let (vmin, vmax) = v.iter().fold((f64::MAX, 0f64), |(a, b), &x| (a.min(x), b.max(x)));
        assert!(rmax <= 100.0 + 1e-9 && rmax > 50.0, "{rmax}");
        assert!(rmin < 15.0 && rmin > 1.0, "{rmin}");
        assert!(vmax <= 50.0 + 1e-9 && vmax > 25.0, "{vmax}");
        assert!(vmin < 8.0, "{vmin}");
        // Peak speed ∝ radius (Murray + r³ flow split): v / r constant within a tree.
        for s in &net.segments {
            let root = net.segments.iter().find(|t| t.tree == s.tree).unwrap();
            let ratio = (s.peak_speed_mm_s / s.radius_mm) / (root.peak_speed_mm_s / root.radius_mm);
            assert!((ratio - 1.0).abs() < 1e-9);
        }
    }

    #[test]
    fn murray_symmetric_angle_is_37_5_degrees() {
        let r1 = 2f64.powf(-1.0 / 3.0);
        assert!((murray_angle(1.0, r1, r1).to_degrees() - 37.47).abs() < 0.05);
    }
}
