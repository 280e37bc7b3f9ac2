//! Named parameter sets of the simulator.

use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::SimError;

/// Named parameter sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Preset {
    /// Few bubbles (~5 visible per frame), no tissue: isolated PSFs, the classical ULM
    /// regime.
    Sparse,
    /// Many bubbles (~100 visible per frame), no tissue: overlapping, interfering echoes.
    Dense,
    /// Moderate concentration under moving tissue speckle 40 dB above the bubbles, which an
    /// SVD filter must remove.
    Tissue,
    /// Strong depth variation: small aperture (PSF widening quickly with depth), strong
    /// attenuation with partial time-gain compensation, lower SNR.
    Deep,
    /// Coronal rodent-brain cortex (PALA-like): surface vessels feeding penetrating
    /// arterioles and draining venules, random trees below, ~40 bubbles per frame.
    Cortex,
}

impl Preset {
    /// All presets, in documentation order.
    pub const ALL: [Preset; 5] = [Preset::Sparse, Preset::Dense, Preset::Tissue, Preset::Deep, Preset::Cortex];

    /// The lowercase name (`sparse`, `dense`, `tissue`, `deep`, `cortex`).
    pub fn name(self) -> &'static str {
        match self {
            Preset::Sparse => "sparse",
            Preset::Dense => "dense",
            Preset::Tissue => "tissue",
            Preset::Deep => "deep",
            Preset::Cortex => "cortex",
        }
    }
}

impl std::fmt::Display for Preset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Preset {
    type Err = SimError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "sparse" => Ok(Preset::Sparse),
            "dense" => Ok(Preset::Dense),
            "tissue" => Ok(Preset::Tissue),
            "deep" => Ok(Preset::Deep),
            "cortex" => Ok(Preset::Cortex),
            other => Err(SimError::Config(format!(
                "unknown preset `{other}` (expected sparse, dense, tissue, deep or cortex)"
            ))),
        }
    }
}
