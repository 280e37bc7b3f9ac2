//! Which vascular bed the simulator grows, and the parameters of the cortex-like one.

use serde::{Deserialize, Serialize};

use crate::SimError;

/// The kind of vessel network grown for a simulation (a network read from a file replaces
/// it, see [`crate::VesselNetwork::from_graph_json`] and [`crate::VesselNetwork::from_mask`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VascularBed {
    /// Random branching trees entering from the borders, without recognisable anatomy.
    #[default]
    Random,
    /// Coronal rodent-brain cortex: surface vessels feeding penetrating arterioles and
    /// draining venules, random trees below (see [`crate::vessels::cortex`]).
    Cortex,
}

impl VascularBed {
    /// Both beds, in documentation order.
    pub const ALL: [VascularBed; 2] = [VascularBed::Random, VascularBed::Cortex];

    /// The lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            VascularBed::Random => "random",
            VascularBed::Cortex => "cortex",
        }
    }
}

impl std::str::FromStr for VascularBed {
    type Err = SimError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "random" => Ok(VascularBed::Random),
            "cortex" => Ok(VascularBed::Cortex),
            other => Err(SimError::Config(format!("unknown vascular bed `{other}` (expected random or cortex)"))),
        }
    }
}

/// Geometry of the cortex-like bed ([`VascularBed::Cortex`]). The surface vessels' radii come
/// from [`crate::VesselConfig::root_radius_um`], the smallest radius from
/// [`crate::VesselConfig::min_radius_um`], and [`crate::VesselConfig::n_trees`] random trees
/// fill the region below the cortex.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CortexConfig {
    /// Depth of the brain surface below the top of the field of view (at its centre), mm.
    /// Default 0.4.
    pub surface_depth_mm: f64,
    /// Curvature of the dome-shaped surface: it lies `k x²` deeper at lateral offset x from
    /// the centre, 1/mm. Default 0.02.
    pub surface_curvature_per_mm: f64,
    /// Cortical thickness (typical penetrator length), mm. Default 3.
    pub thickness_mm: f64,
    /// Mean lateral spacing of penetrating vessels along the surface, mm. Default 0.3.
    pub penetrator_spacing_mm: f64,
    /// Radius range of penetrating arterioles and venules where they leave the surface, µm.
    /// Default `[8, 30]`.
    pub penetrator_radius_um: [f64; 2],
    /// Fraction of penetrators reaching 1–2 cortical thicknesses deep. Default 0.15.
    pub deep_fraction: f64,
    /// Per-segment probability of a side branch along a penetrator. Default 0.3.
    pub branch_prob: f64,
    /// Mean side-branch length, mm. Default 0.4.
    pub branch_length_mm: f64,
    /// Segment length along penetrators, mm. Default 0.2.
    pub segment_length_mm: f64,
}

impl Default for CortexConfig {
    fn default() -> Self {
        Self {
            surface_depth_mm: 0.4,
            surface_curvature_per_mm: 0.02,
            thickness_mm: 3.0,
            penetrator_spacing_mm: 0.3,
            penetrator_radius_um: [8.0, 30.0],
            deep_fraction: 0.15,
            branch_prob: 0.3,
            branch_length_mm: 0.4,
            segment_length_mm: 0.2,
        }
    }
}

impl CortexConfig {
    /// Checks the ranges; the error names the field.
    pub fn validate(&self) -> Result<(), SimError> {
        let bad = |n: &str, v: f64, w: &str| Err(SimError::Config(format!("vessels.cortex.{n} must be {w}, got {v}")));
        for (n, v) in [
            ("thickness_mm", self.thickness_mm),
            ("penetrator_spacing_mm", self.penetrator_spacing_mm),
            ("branch_length_mm", self.branch_length_mm),
            ("segment_length_mm", self.segment_length_mm),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return bad(n, v, "finite and > 0");
            }
        }
        for (n, v) in
            [("surface_depth_mm", self.surface_depth_mm), ("surface_curvature_per_mm", self.surface_curvature_per_mm)]
        {
            if !(v.is_finite() && v >= 0.0) {
                return bad(n, v, "finite and >= 0");
            }
        }
        for (n, v) in [("deep_fraction", self.deep_fraction), ("branch_prob", self.branch_prob)] {
            if !(v.is_finite() && (0.0..=1.0).contains(&v)) {
                return bad(n, v, "in [0, 1]");
            }
        }
        let [a, b] = self.penetrator_radius_um;
        if !(a.is_finite() && b.is_finite() && a > 0.0 && a <= b) {
            return Err(SimError::Config(format!(
                "vessels.cortex.penetrator_radius_um must be [min, max] with 0 < min <= max, got [{a}, {b}]"
            )));
        }
        if self.penetrator_spacing_mm < 0.02 {
            return bad("penetrator_spacing_mm", self.penetrator_spacing_mm, ">= 0.02");
        }
        Ok(())
    }
}
