//! Microbubble population moving through the vessel network.
//!
//! Bubbles are spread uniformly through the blood volume (a constant concentration): the
//! initial population picks a segment in proportion to its volume `π r² L`, a position
//! along it uniformly and a position in the lumen cross-section uniformly over the disk.
//! A bubble's centre stays one bubble radius from the wall (`ρ ≤ 1 − r_b / r`). A
//! bubble at relative radius `ρ` moves along its segment at the Poiseuille speed
//! `v = v_peak (1 − ρ²)`; at a junction it enters a downstream segment chosen in
//! proportion to flow, keeping its relative place in the cross-section (`ρ`, azimuth).
//! Trajectories stay continuous through junctions and bends: a bubble enters the next
//! segment at the projection of its exit point on the new axis (so the inner side of a
//! bend is a shorter path, the outer side a longer one), and the remaining gap across
//! the lumen to its streamline there (new axis direction and radius) becomes an offset
//! that fades out linearly over the next [`TRANSITION`] × |gap| of travel: the bubble
//! drifts onto its new streamline instead of jumping. The reported velocity is the true
//! derivative of the position (axial speed plus that drift). A bubble that leaves the
//! network is replaced by a new one (new track id) entering an inlet chosen in proportion
//! to flow, with the flux-weighted radial density `∝ (1 − ρ²) ρ`. Together these keep the
//! concentration uniform, so the number of bubbles per frame stays stationary.

use rand::Rng;
use rand_distr::StandardNormal;

use crate::vessels::{Rect, VesselNetwork};

/// Length of the drift from a junction onto the new streamline, in units of the gap to
/// close: the drift speed is at most `1 / TRANSITION` of the axial speed (≈14° for 4).
pub const TRANSITION: f64 = 4.0;

/// Precomputed geometry of one segment.
#[derive(Debug, Clone, Copy)]
struct SegGeom {
    x0: f64,
    z0: f64,
    ux: f64,
    uz: f64,
    len: f64,
    y0: f64,
    y1: f64,
    r: f64,
    /// Largest relative radius a bubble centre can reach: `1 − r_bubble / r`.
    rho_max: f64,
    v_peak: f64,
}

/// One bubble's state.
#[derive(Debug, Clone, Copy)]
struct Bubble {
    seg: usize,
    s: f64,
    /// Relative position in the accessible disk: `ρ = u · ρ_max`.
    u: f64,
    psi: f64,
    base_amp: f64,
    phase: f64,
    fluct: f64,
    /// Whether the bubble echoes this frame (blinking).
    on: bool,
    id: u64,
    /// Offset `(x, z, y)` in mm from the streamline at `off_s0`, left by the last junction.
    off: [f64; 3],
    /// Distance along the segment over which `off` fades to zero (0: no offset).
    off_len: f64,
    /// Position `s` where the bubble entered the segment (where `off` is whole).
    off_s0: f64,
}

impl Bubble {
    /// Fraction of the junction offset still applied at the current `s`, and its rate of
    /// change per mm travelled.
    fn offset_weight(&self) -> (f64, f64) {
        let gone = self.s - self.off_s0;
        if self.off_len > 0.0 && gone < self.off_len {
            (1.0 - gone / self.off_len, -1.0 / self.off_len)
        } else {
            (0.0, 0.0)
        }
    }
}

/// A bubble's state at one frame, as the renderer and the ground truth need it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BubbleSample {
    /// Bubble (track) identifier.
    pub id: u64,
    /// Lateral position, mm.
    pub x_mm: f64,
    /// Depth, mm.
    pub z_mm: f64,
    /// Elevation (distance from the imaging plane), mm.
    pub y_mm: f64,
    /// Lateral velocity, mm/s.
    pub vx_mm_s: f64,
    /// Axial velocity (positive towards depth), mm/s.
    pub vz_mm_s: f64,
    /// Echo amplitude before the elevation profile and attenuation (mean 1).
    pub amplitude: f64,
    /// Scattering phase of the bubble, rad (constant per bubble).
    pub phase: f64,
    /// Relative radial position in the lumen, `ρ ∈ [0, 1 − r_bubble / r)`.
    pub rho: f64,
    /// Segment index.
    pub segment: usize,
    /// Whether the bubble echoes this frame (false while it blinks off).
    pub on: bool,
}

/// Microbubble population parameters used while stepping.
#[derive(Debug, Clone, Copy)]
pub struct Dynamics {
    /// Log-normal s.d. of the per-bubble mean amplitude.
    pub amplitude_spread: f64,
    /// Log-normal s.d. of the frame-to-frame fluctuation.
    pub fluctuation: f64,
    /// AR(1) coefficient of the fluctuation.
    pub fluctuation_correlation: f64,
    /// Bubble radius, mm: its centre stays this far from the vessel wall.
    pub bubble_radius_mm: f64,
    /// Log-normal s.d. of the bubble radius around its mean (0: all the same size).
    pub size_spread: f64,
    /// Echo amplitude ∝ (radius / mean radius)^this (normalised to mean 1).
    pub size_amplitude_exponent: f64,
    /// Per-frame probability that an echoing bubble goes dark (blinking).
    pub blink_off_prob: f64,
    /// Per-frame probability that a dark bubble echoes again.
    pub blink_on_prob: f64,
    /// Destruction rate, 1/s: a destroyed bubble is replaced by a new one at an inlet.
    pub destruction_rate_hz: f64,
}

impl Dynamics {
    /// Fraction of frames in which a bubble echoes (the stationary state of the blinking
    /// Markov chain).
    pub fn on_fraction(&self) -> f64 {
        if self.blink_off_prob <= 0.0 { 1.0 } else { self.blink_on_prob / (self.blink_on_prob + self.blink_off_prob) }
    }
}

/// The bubble population and the network it flows through.
pub struct Population {
    geom: Vec<SegGeom>,
    out: Vec<Vec<usize>>,
    inlets: Vec<usize>,
    inlet_cdf: Vec<f64>,
    volume_cdf: Vec<f64>,
    bubbles: Vec<Bubble>,
    next_id: u64,
    dyn_: Dynamics,
}

fn pick(cdf: &[f64], u: f64) -> usize {
    let t = u * cdf.last().copied().unwrap_or(0.0);
    cdf.partition_point(|&c| c <= t).min(cdf.len().saturating_sub(1))
}

fn cumsum(v: impl Iterator<Item = f64>) -> Vec<f64> {
    let mut acc = 0.0;
    v.map(|x| {
        acc += x;
        acc
    })
    .collect()
}

impl Population {
    /// An empty population on `net` (which must have at least one segment with flow).
    pub fn new(net: &VesselNetwork, dyn_: Dynamics) -> Self {
        let geom: Vec<SegGeom> = net
            .segments
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let (a, b) = (net.nodes[s.from], net.nodes[s.to]);
                let len = net.length_mm(i);
                SegGeom {
                    x0: a.x_mm,
                    z0: a.z_mm,
                    ux: (b.x_mm - a.x_mm) / len,
                    uz: (b.z_mm - a.z_mm) / len,
                    len,
                    y0: a.y_mm,
                    y1: b.y_mm,
                    r: s.radius_mm,
                    rho_max: (1.0 - dyn_.bubble_radius_mm / s.radius_mm).max(0.0),
                    v_peak: s.peak_speed_mm_s,
                }
            })
            .collect();
        let (out, inn) = net.adjacency();
        let inlets: Vec<usize> =
            net.segments.iter().enumerate().filter(|(_, s)| inn[s.from].is_empty()).map(|(i, _)| i).collect();
        let inlet_cdf = cumsum(inlets.iter().map(|&i| net.segments[i].flow_mm3_s));
        let volume_cdf = cumsum(geom.iter().map(|g| (g.rho_max * g.r).powi(2) * g.len));
        let out_seg = net.segments.iter().map(|s| out[s.to].clone()).collect();
        Self { geom, out: out_seg, inlets, inlet_cdf, volume_cdf, bubbles: Vec::new(), next_id: 0, dyn_ }
    }

    fn new_bubble(&mut self, seg: usize, s: f64, u: f64, rng: &mut impl Rng) -> Bubble {
        let sd = self.dyn_.amplitude_spread;
        let mut base_amp = (sd * rng.sample::<f64, _>(StandardNormal) - sd * sd / 2.0).exp();
        let (ss, k) = (self.dyn_.size_spread, self.dyn_.size_amplitude_exponent);
        if ss > 0.0 {
            // ln(r / r̄) ~ N(−s²/2, s²); E[(r / r̄)^k] = exp((k² − k) s² / 2).
            let ln_r = ss * rng.sample::<f64, _>(StandardNormal) - ss * ss / 2.0;
            base_amp *= (k * ln_r - (k * k - k) * ss * ss / 2.0).exp();
        }
        let on = self.dyn_.blink_off_prob <= 0.0 || rng.random::<f64>() < self.dyn_.on_fraction();
        let id = self.next_id;
        self.next_id += 1;
        Bubble {
            seg,
            s,
            u,
            psi: rng.random::<f64>() * std::f64::consts::TAU,
            base_amp,
            phase: rng.random::<f64>() * std::f64::consts::TAU,
            fluct: rng.sample::<f64, _>(StandardNormal),
            on,
            id,
            off: [0.0; 3],
            off_len: 0.0,
            off_s0: 0.0,
        }
    }

    /// A position drawn uniformly over the volume accessible to bubble centres:
    /// `(segment, s, u)`.
    fn volume_sample(&self, rng: &mut impl Rng) -> (usize, f64, f64) {
        let seg = pick(&self.volume_cdf, rng.random());
        (seg, rng.random::<f64>() * self.geom[seg].len, rng.random::<f64>().sqrt())
    }

    /// Fraction of the blood volume whose bubbles would be in the ground truth (inside
    /// `fov` and with elevation gain at least `threshold`), estimated from `n` samples.
    pub fn visible_fraction(
        &self,
        fov: &Rect,
        elevation_sigma_mm: f64,
        threshold: f64,
        n: usize,
        rng: &mut impl Rng,
    ) -> f64 {
        let hits = (0..n)
            .filter(|_| {
                let (seg, s, u) = self.volume_sample(rng);
                let psi = rng.random::<f64>() * std::f64::consts::TAU;
                let b = self.sample_at(seg, s, u * self.geom[seg].rho_max, psi);
                fov.contains(b.0, b.1) && elevation_gain(b.2, elevation_sigma_mm) >= threshold
            })
            .count();
        hits as f64 / n.max(1) as f64
    }

    /// Fills the network with `n` bubbles spread uniformly over the blood volume.
    pub fn seed(&mut self, n: usize, rng: &mut impl Rng) {
        self.bubbles.clear();
        if self.geom.is_empty() {
            return;
        }
        for _ in 0..n {
            let (seg, s, u) = self.volume_sample(rng);
            let b = self.new_bubble(seg, s, u, rng);
            self.bubbles.push(b);
        }
    }

    /// Position `(x, z, y)` of a lumen point.
    fn sample_at(&self, seg: usize, s: f64, rho: f64, psi: f64) -> (f64, f64, f64) {
        let g = &self.geom[seg];
        let a = rho * psi.cos() * g.r; // in-plane offset across the axis
        let e = rho * psi.sin() * g.r; // elevation offset
        let t = (s / g.len).clamp(0.0, 1.0);
        (g.x0 + s * g.ux - a * g.uz, g.z0 + s * g.uz + a * g.ux, g.y0 + t * (g.y1 - g.y0) + e)
    }

    /// Position `(x, z, y)` of a bubble, junction offset included.
    fn position(&self, b: &Bubble) -> (f64, f64, f64) {
        let (x, z, y) = self.sample_at(b.seg, b.s, b.u * self.geom[b.seg].rho_max, b.psi);
        let (w, _) = b.offset_weight();
        (x + w * b.off[0], z + w * b.off[1], y + w * b.off[2])
    }

    /// The current state of every bubble.
    pub fn samples(&self) -> Vec<BubbleSample> {
        let sd = self.dyn_.fluctuation;
        self.bubbles
            .iter()
            .map(|b| {
                let g = &self.geom[b.seg];
                let rho = b.u * g.rho_max;
                let (x, z, y) = self.position(b);
                let v = g.v_peak * (1.0 - rho * rho);
                // d(offset)/dt = off · dw/ds · v.
                let (_, dw) = b.offset_weight();
                BubbleSample {
                    id: b.id,
                    x_mm: x,
                    z_mm: z,
                    y_mm: y,
                    vx_mm_s: v * (g.ux + dw * b.off[0]),
                    vz_mm_s: v * (g.uz + dw * b.off[1]),
                    amplitude: b.base_amp * (sd * b.fluct - sd * sd / 2.0).exp(),
                    phase: b.phase,
                    rho,
                    segment: b.seg,
                    on: b.on,
                }
            })
            .collect()
    }

    /// Advances every bubble by `dt_s` seconds.
    pub fn step(&mut self, dt_s: f64, rng: &mut impl Rng) {
        let c = self.dyn_.fluctuation_correlation;
        let innov = (1.0 - c * c).sqrt();
        for k in 0..self.bubbles.len() {
            let mut b = self.bubbles[k];
            b.fluct = c * b.fluct + innov * rng.sample::<f64, _>(StandardNormal);
            if self.dyn_.blink_off_prob > 0.0 {
                let u = rng.random::<f64>();
                b.on = if b.on { u >= self.dyn_.blink_off_prob } else { u < self.dyn_.blink_on_prob };
            }
            if self.dyn_.destruction_rate_hz > 0.0
                && rng.random::<f64>() < 1.0 - (-self.dyn_.destruction_rate_hz * dt_s).exp()
            {
                self.bubbles[k] = self.enter_inlet(dt_s, rng);
                continue;
            }
            let mut t = dt_s; // time left to travel in this step
            loop {
                let g = self.geom[b.seg];
                let rho = b.u * g.rho_max;
                let v = g.v_peak * (1.0 - rho * rho);
                let rest = g.len - b.s;
                if v * t < rest {
                    b.s += v * t;
                    break;
                }
                t -= if v > 0.0 { rest.max(0.0) / v } else { t };
                let outs = &self.out[b.seg];
                if outs.is_empty() {
                    // Left the network: a new bubble enters an inlet.
                    b = self.enter_inlet(dt_s, rng);
                    break;
                }
                let next = if outs.len() == 1 {
                    outs[0]
                } else {
                    let q: Vec<f64> = outs.iter().map(|&i| self.flow_of(i)).collect();
                    outs[pick(&cumsum(q.into_iter()), rng.random())]
                };
                // Enter `next` at the projection of the bubble's position on its axis;
                // the gap across the lumen to the new streamline becomes an offset that
                // fades out over the next `TRANSITION × |gap|` of travel.
                b.s = g.len;
                let (x, z, y) = self.position(&b);
                let gn = self.geom[next];
                let rho_n = b.u * gn.rho_max;
                let (x0, z0, _) = self.sample_at(next, 0.0, rho_n, b.psi);
                b.seg = next;
                b.s = ((x - x0) * gn.ux + (z - z0) * gn.uz).min(gn.len);
                let (x1, z1, y1) = self.sample_at(next, b.s, rho_n, b.psi);
                b.off = [x - x1, z - z1, y - y1];
                b.off_len = TRANSITION * b.off.iter().map(|d| d * d).sum::<f64>().sqrt();
                b.off_s0 = b.s;
            }
            self.bubbles[k] = b;
        }
    }

    /// A new bubble entering an inlet chosen in proportion to flow, somewhere along its
    /// first `dt_s` of travel.
    fn enter_inlet(&mut self, dt_s: f64, rng: &mut impl Rng) -> Bubble {
        if self.inlets.is_empty() {
            // A network without inlets (a closed loop): re-seed anywhere in the blood.
            let (seg, s, u) = self.volume_sample(rng);
            return self.new_bubble(seg, s, u, rng);
        }
        let inlet = self.inlets[pick(&self.inlet_cdf, rng.random())];
        let g = self.geom[inlet];
        // Flux-weighted: density ∝ v(ρ) over the accessible disk, by rejection.
        let u = loop {
            let u = rng.random::<f64>().sqrt();
            if rng.random::<f64>() < 1.0 - (u * g.rho_max).powi(2) {
                break u;
            }
        };
        let v0 = g.v_peak * (1.0 - (u * g.rho_max).powi(2));
        let s0 = rng.random::<f64>() * (v0 * dt_s).min(g.len);
        self.new_bubble(inlet, s0, u, rng)
    }

    fn flow_of(&self, seg: usize) -> f64 {
        let g = &self.geom[seg];
        g.v_peak / 2.0 * std::f64::consts::PI * g.r * g.r
    }

    /// Number of bubbles in the population.
    pub fn len(&self) -> usize {
        self.bubbles.len()
    }

    /// Whether the population is empty.
    pub fn is_empty(&self) -> bool {
        self.bubbles.is_empty()
    }
}

/// Elevation gain of a bubble at elevation `y_mm` for a Gaussian elevation profile of
/// standard deviation `sigma_mm` (amplitude, 1 in the plane).
pub fn elevation_gain(y_mm: f64, sigma_mm: f64) -> f64 {
    (-(y_mm * y_mm) / (2.0 * sigma_mm * sigma_mm)).exp()
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;
    use crate::vessels::Node;

    fn dynamics() -> Dynamics {
        Dynamics {
            amplitude_spread: 0.3,
            fluctuation: 0.3,
            fluctuation_correlation: 0.5,
            bubble_radius_mm: 0.0015,
            size_spread: 0.0,
            size_amplitude_exponent: 1.0,
            blink_off_prob: 0.0,
            blink_on_prob: 0.5,
            destruction_rate_hz: 0.0,
        }
    }

    /// A Y junction: one parent splitting into two daughters of radii 60 and 40 µm.
    fn y_network() -> VesselNetwork {
        let mut net = VesselNetwork::straight(0.0, 0.0, 1.0, 0.0, 0.07, 20.0);
        let q0 = net.segments[0].flow_mm3_s;
        let (r1, r2) = (0.06f64, 0.04f64);
        let norm = r1.powi(3) + r2.powi(3);
        net.nodes.push(Node { x_mm: 2.0, z_mm: 0.5, y_mm: 0.0 });
        net.nodes.push(Node { x_mm: 2.0, z_mm: -0.5, y_mm: 0.0 });
        for (to, r) in [(2, r1), (3, r2)] {
            let q = q0 * r.powi(3) / norm;
            let v = 2.0 * q / (std::f64::consts::PI * r * r);
            net.segments.push(crate::vessels::Segment {
                from: 1,
                to,
                radius_mm: r,
                flow_mm3_s: q,
                peak_speed_mm_s: v,
                tree: 0,
            });
        }
        net
    }

    #[test]
    fn bubble_flux_splits_like_the_flow() {
        // Count bubbles entering each daughter: their ratio must follow Q1 / Q2, which is
        // an emergent property of flow-weighted routing and flux-weighted injection.
        let net = y_network();
        let mut pop = Population::new(&net, dynamics());
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        pop.seed(400, &mut rng);
        let mut last: Vec<(u64, usize)> = pop.samples().iter().map(|b| (b.id, b.segment)).collect();
        let mut entered = [0usize; 3];
        for _ in 0..3000 {
            pop.step(1e-3, &mut rng);
            let now: Vec<(u64, usize)> = pop.samples().iter().map(|b| (b.id, b.segment)).collect();
            for (a, b) in last.iter().zip(&now) {
                if a.0 == b.0 && a.1 == 0 && b.1 != 0 {
                    entered[b.1] += 1;
                }
            }
            last = now;
        }
        let q1 = net.segments[1].flow_mm3_s;
        let q2 = net.segments[2].flow_mm3_s;
        let measured = entered[1] as f64 / (entered[1] + entered[2]) as f64;
        let expected = q1 / (q1 + q2);
        assert!(entered[1] + entered[2] > 1000, "{entered:?}");
        assert!((measured - expected).abs() < 0.04, "measured {measured}, expected {expected}");
    }

    #[test]
    fn population_keeps_uniform_concentration() {
        // Occupancy per segment stays proportional to volume after many transits.
        let net = y_network();
        let mut pop = Population::new(&net, dynamics());
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        pop.seed(2000, &mut rng);
        let vol: Vec<f64> = (0..3).map(|i| (net.segments[i].radius_mm - 0.0015).powi(2) * net.length_mm(i)).collect();
        let total: f64 = vol.iter().sum();
        let mut counts = [0f64; 3];
        for f in 0..400 {
            pop.step(1e-3, &mut rng);
            if f >= 200 {
                for b in pop.samples() {
                    counts[b.segment] += 1.0;
                }
            }
        }
        let n: f64 = counts.iter().sum();
        for i in 0..3 {
            let (m, e) = (counts[i] / n, vol[i] / total);
            assert!((m - e).abs() < 0.05, "segment {i}: {m} vs {e}");
        }
    }

    #[test]
    fn blinking_sizes_and_destruction_follow_their_parameters() {
        let net = y_network();
        let d = Dynamics {
            size_spread: 0.4,
            size_amplitude_exponent: 2.0,
            blink_off_prob: 0.1,
            blink_on_prob: 0.3,
            destruction_rate_hz: 50.0,
            ..dynamics()
        };
        let mut pop = Population::new(&net, d);
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        pop.seed(2000, &mut rng);
        let (mut on, mut n, mut amp) = (0usize, 0usize, 0.0);
        let ids0: std::collections::HashSet<u64> = pop.samples().iter().map(|b| b.id).collect();
        for _ in 0..100 {
            for b in pop.samples() {
                on += b.on as usize;
                amp += b.amplitude;
                n += 1;
            }
            pop.step(1e-3, &mut rng);
        }
        // Stationary on-fraction of the Markov chain: 0.3 / (0.3 + 0.1) = 0.75.
        let frac = on as f64 / n as f64;
        assert!((frac - 0.75).abs() < 0.01, "on fraction {frac}");
        // Mean amplitude stays 1 whatever the size spread and exponent.
        assert!((amp / n as f64 - 1.0).abs() < 0.05, "mean amplitude {}", amp / n as f64);
        // Destruction at 50/s over 0.1 s: exp(−5) ≈ 0.7 % of the first bubbles survive it
        // (fewer still: some also leave through the outlets).
        let left = pop.samples().iter().filter(|b| ids0.contains(&b.id)).count();
        assert!(left < 2000 / 100, "{left} of the first bubbles left");
    }
}
