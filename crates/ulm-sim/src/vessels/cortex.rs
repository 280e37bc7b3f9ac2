//! A cortex-like vascular bed, in the spirit of coronal rodent-brain ULM (PALA's rat brain):
//! a pial artery and a pial vein run along the curved brain surface at the top of the image;
//! penetrating arterioles leave the artery and dive into the cortex perpendicular to the
//! surface, sprouting short side branches down to capillary-feeding calibres; penetrating
//! venules drain the cortex back up into the vein (flow towards the surface). Below the
//! cortex a few random trees stand in for the deeper (subcortical) vessels.
//!
//! Radii obey Murray's law at every junction (the surface vessel narrows as it feeds
//! penetrators, `r_s'³ = r_s³ − r_p³`), flow splits in proportion to `r³`, so flow is
//! conserved and peak speed scales with radius: ≈ 50 mm/s in a 100 µm pial vessel,
//! ≈ 5–15 mm/s in penetrators, ≈ 1–3 mm/s in the smallest branches.

use rand::Rng;

use super::{Node, Rect, Segment, VesselNetwork, assign_tree_flows, normal};
use crate::config::{CortexConfig, FlowConfig, VesselConfig};

/// One tree under construction: segments appended in growth order with their parents.
struct TreeBuilder<'a> {
    net: &'a mut VesselNetwork,
    parents: Vec<Option<usize>>,
    tree: usize,
}

impl TreeBuilder<'_> {
    fn add(&mut self, from: usize, to: Node, radius_mm: f64, parent: Option<usize>) -> (usize, usize) {
        self.net.nodes.push(to);
        let end = self.net.nodes.len() - 1;
        self.net.segments.push(Segment {
            from,
            to: end,
            radius_mm,
            flow_mm3_s: 0.0,
            peak_speed_mm_s: 0.0,
            tree: self.tree,
        });
        self.parents.push(parent);
        (self.net.segments.len() - 1, end)
    }
}

/// Depth of the brain surface at lateral position `x`: a dome, deeper at the sides.
fn surface_z(c: &CortexConfig, fov: &Rect, x: f64) -> f64 {
    let xc = 0.5 * (fov.x_min + fov.x_max);
    fov.z_min + c.surface_depth_mm + c.surface_curvature_per_mm * (x - xc).powi(2)
}

/// Grows one penetrating vessel from `node` (on the surface vessel, segment `parent`) with
/// radius `r`, diving along `angle` (radians, 0 = +x, π/2 = down) for `length` mm, with
/// Murray side branches.
#[allow(clippy::too_many_arguments)]
fn penetrator(
    b: &mut TreeBuilder<'_>,
    c: &CortexConfig,
    v: &VesselConfig,
    node: usize,
    parent: usize,
    r: f64,
    angle: f64,
    length: f64,
    rng: &mut impl Rng,
) {
    let r_min = v.min_radius_um * 1e-3;
    let step = c.segment_length_mm;
    let (mut at, mut par, mut r, mut a, mut gone) = (node, parent, r, angle, 0.0);
    while gone < length && r >= r_min {
        a += v.tortuosity_deg.to_radians() * 0.3 * normal(rng);
        // Pull back towards the surface normal so penetrators stay straight-ish.
        a += 0.2 * (angle - a);
        let p = b.net.nodes[at];
        let len = step * (0.7 + 0.6 * rng.random::<f64>());
        let to = Node {
            x_mm: p.x_mm + len * a.cos(),
            z_mm: p.z_mm + len * a.sin(),
            y_mm: p.y_mm + v.elevation_step_mm * 0.5 * normal(rng),
        };
        let (seg, end) = b.add(at, to, r, Some(par));
        gone += len;
        (at, par) = (end, seg);
        if gone < length && rng.random::<f64>() < c.branch_prob && 0.35 * r >= r_min {
            // A side branch: Murray split, the branch leaves at 40–80° and runs a short way.
            let rd = (r * (0.35 + 0.35 * rng.random::<f64>())).max(r_min);
            let rc = (r.powi(3) - rd.powi(3)).cbrt();
            let side = if rng.random::<bool>() { 1.0 } else { -1.0 };
            let ab = a + side * (40.0 + 40.0 * rng.random::<f64>()).to_radians();
            let lb = c.branch_length_mm * (0.5 + rng.random::<f64>());
            branch(b, v, at, par, rd, ab, lb, rng);
            r = rc;
        }
    }
}

/// A side branch: a short, thin, tortuous vessel that may fork once more, then leaves the
/// plane.
#[allow(clippy::too_many_arguments)]
fn branch(
    b: &mut TreeBuilder<'_>,
    v: &VesselConfig,
    node: usize,
    parent: usize,
    r: f64,
    angle: f64,
    length: f64,
    rng: &mut impl Rng,
) {
    let r_min = v.min_radius_um * 1e-3;
    let (mut at, mut par, mut a, mut gone) = (node, parent, angle, 0.0);
    let step = 0.12;
    while gone < length {
        a += v.tortuosity_deg.to_radians() * normal(rng);
        let p = b.net.nodes[at];
        let to = Node {
            x_mm: p.x_mm + step * a.cos(),
            z_mm: p.z_mm + step * a.sin(),
            y_mm: p.y_mm + v.elevation_step_mm * normal(rng),
        };
        let (seg, end) = b.add(at, to, r, Some(par));
        gone += step;
        (at, par) = (end, seg);
        if r / 2f64.cbrt() >= r_min && gone < length && rng.random::<f64>() < 0.15 {
            let r1 = r / 2f64.cbrt();
            let side = if rng.random::<bool>() { 1.0 } else { -1.0 };
            branch(b, v, at, par, r1, a + side * 0.65, (length - gone) * 0.7, rng);
            return branch(b, v, at, par, r1, a - side * 0.65, (length - gone) * 0.7, rng);
        }
    }
}

/// Grows the cortex bed for the field of view `fov` (mm): an arterial tree (pial artery +
/// penetrating arterioles, flow from the surface down), a venous one (flow up into the pial
/// vein) and `vessels.n_trees` random trees below the cortex.
pub fn generate(v: &VesselConfig, flow: &FlowConfig, fov: &Rect, rng: &mut impl Rng) -> VesselNetwork {
    let c = &v.cortex;
    let domain = fov.grown(v.margin_mm);
    let mut net = VesselNetwork::default();
    let r_cap = v.root_radius_um[1] * 1e-3;
    // Penetrator positions along the surface, alternately feeding and draining (with a
    // random switch now and then, like the real irregular arrangement).
    let mut sites: Vec<(f64, bool)> = Vec::new();
    let mut x = domain.x_min + c.penetrator_spacing_mm * rng.random::<f64>();
    let mut arterial = rng.random::<bool>();
    while x < domain.x_max - 0.05 {
        sites.push((x, arterial));
        if rng.random::<f64>() > 0.2 {
            arterial = !arterial;
        }
        x += c.penetrator_spacing_mm * (0.6 + 0.8 * rng.random::<f64>());
    }
    for (tree, venous) in [(0usize, false), (1, true)] {
        let first_seg = net.segments.len();
        let [ra, rb] = v.root_radius_um;
        let r_root = (ra + (rb - ra) * rng.random::<f64>()) * 1e-3;
        // The vein runs a little deeper than the artery and on the other side of the plane.
        let dz = if venous { 1.6 * r_root } else { 0.0 };
        let y0 = if venous { -0.05 } else { 0.05 };
        let mut b = TreeBuilder { net: &mut net, parents: Vec::new(), tree };
        b.net.nodes.push(Node { x_mm: domain.x_min, z_mm: surface_z(c, fov, domain.x_min) + dz, y_mm: y0 });
        let (mut at, mut par, mut rs) = (b.net.nodes.len() - 1, None, r_root);
        for &(xs, art) in &sites {
            if art == venous {
                continue;
            }
            let [pa, pb] = c.penetrator_radius_um;
            let rp = ((pa + (pb - pa) * rng.random::<f64>()) * 1e-3).min(0.8 * rs);
            let rs_next = (rs.powi(3) - rp.powi(3)).cbrt();
            let to = Node { x_mm: xs, z_mm: surface_z(c, fov, xs) + dz, y_mm: y0 };
            let (seg, end) = b.add(at, to, rs, par);
            // Normal to the dome surface, pointing into the brain.
            let slope = 2.0 * c.surface_curvature_per_mm * (xs - 0.5 * (fov.x_min + fov.x_max));
            let normal_angle = std::f64::consts::FRAC_PI_2 + slope.atan();
            let frac = if rng.random::<f64>() < c.deep_fraction {
                1.0 + rng.random::<f64>()
            } else {
                0.3 + 0.7 * rng.random::<f64>()
            };
            penetrator(&mut b, c, v, end, seg, rp, normal_angle, c.thickness_mm * frac, rng);
            (at, par, rs) = (end, Some(seg), rs_next);
        }
        // The surface vessel leaves the domain on the far side.
        let to = Node { x_mm: domain.x_max, z_mm: surface_z(c, fov, domain.x_max) + dz, y_mm: y0 };
        b.add(at, to, rs, par);
        let parents = std::mem::take(&mut b.parents);
        let v_root = flow.max_peak_speed_mm_s * r_root / r_cap;
        assign_tree_flows(&mut net, first_seg, &parents, v_root / 2.0 * std::f64::consts::PI * r_root * r_root);
        if venous {
            for s in &mut net.segments[first_seg..] {
                std::mem::swap(&mut s.from, &mut s.to);
            }
        }
    }
    // Deeper vessels: random trees grown below the cortex.
    if v.n_trees > 0 {
        let deep = Rect { z_min: fov.z_min + c.surface_depth_mm + c.thickness_mm, ..*fov };
        if deep.z_max > deep.z_min + 0.5 {
            let sub = VesselConfig { margin_mm: v.margin_mm.min(0.5), ..v.clone() };
            let extra = super::generate_random(&sub, flow, &deep, rng);
            let (n0, t0) = (net.nodes.len(), 2);
            net.nodes.extend(extra.nodes);
            net.segments.extend(extra.segments.into_iter().map(|s| Segment {
                from: s.from + n0,
                to: s.to + n0,
                tree: s.tree + t0,
                ..s
            }));
        }
    }
    net
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;

    #[test]
    fn cortex_has_penetrators_in_both_directions_and_conserves_flow() {
        let fov = Rect { x_min: -5.0, x_max: 5.0, z_min: 3.0, z_max: 15.0 };
        let v = VesselConfig { bed: crate::config::VascularBed::Cortex, n_trees: 2, ..VesselConfig::default() };
        let net = generate(&v, &FlowConfig::default(), &fov, &mut ChaCha8Rng::seed_from_u64(5));
        net.validate().unwrap();
        // Penetrators: steep segments (within 27° of vertical) in the cortex (trees 0 and 1);
        // arterial ones carry flow downwards, venous ones upwards (a few tortuous side
        // branches may wander the other way).
        let (mut down, mut up, mut wrong) = (0.0, 0.0, 0.0);
        for s in net.segments.iter().filter(|s| s.tree < 2) {
            let (a, b) = (net.nodes[s.from], net.nodes[s.to]);
            let (dx, dz) = (b.x_mm - a.x_mm, b.z_mm - a.z_mm);
            if dz.abs() > 2.0 * dx.abs() {
                let len = dx.hypot(dz);
                match (dz > 0.0, s.tree == 0) {
                    (true, true) => down += len,
                    (false, false) => up += len,
                    _ => wrong += len,
                }
            }
        }
        assert!(down > 10.0 && up > 10.0, "penetrator length down {down} mm, up {up} mm");
        assert!(wrong < 0.1 * (down + up), "{wrong} mm of steep vessel against the bed's direction");
        // Radii of the cortex trees from the pial vessels (50–100 µm) to the smallest branches
        // (≥ 4 µm, < 10 µm).
        let r: Vec<f64> = net.segments.iter().filter(|s| s.tree < 2).map(|s| s.radius_mm * 1e3).collect();
        let (lo, hi) = r.iter().fold((f64::MAX, 0f64), |(a, b), &x| (a.min(x), b.max(x)));
        assert!((50.0..=100.0 + 1e-9).contains(&hi), "{hi}");
        assert!((4.0 - 1e-9..10.0).contains(&lo), "{lo}");
        // The surface vessels run along the top: the widest segments lie within 1 mm of it.
        let wide = net.segments.iter().filter(|s| s.radius_mm > 0.045 && s.tree < 2);
        for s in wide {
            assert!(net.nodes[s.from].z_mm < 3.0 + 0.4 + 0.02 * 36.0 + 0.3, "{:?}", net.nodes[s.from]);
        }
    }
}
