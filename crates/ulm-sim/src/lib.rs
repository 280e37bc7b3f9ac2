//! Synthetic ULM acquisitions with ground truth.
//!
//! The model, each part configurable through [`SimConfig`] (documented defaults, named
//! [`Preset`]s):
//!
//! * **Vessels** ([`vessels`]): a vascular bed chosen by [`VesselConfig::bed`] — random
//!   branching trees in 2-D with Murray's-law radii (≈4–100 µm), Murray branching angles,
//!   tortuosity, regions of different branching density and an elevation (out-of-plane)
//!   coordinate, several trees (arterial and venous) merged; or a cortex-like bed
//!   ([`vessels::cortex`]: surface vessels feeding penetrating arterioles and draining
//!   venules, as in coronal rodent-brain ULM). Or your own: a vessel graph
//!   ([`VesselNetwork::from_graph_json`]) or a binary mask ([`VesselNetwork::from_mask`])
//!   with Poiseuille flow, simulated by [`simulate_with_network`].
//! * **Flow**: Hagen–Poiseuille, flow conserved at bifurcations, peak speed ∝ radius
//!   (≈1–50 mm/s).
//! * **Bubbles** ([`bubbles`]): uniform concentration in the blood, each moving along its
//!   vessel at the speed of its radial position `v_peak (1 − ρ²)`, routed by flow at
//!   junctions, entering and leaving the field; an elevation beam profile fades them in
//!   and out; echo amplitude from a log-normal size distribution, fluctuating frame to
//!   frame; blinking (a two-state Markov chain) and destruction.
//! * **Imaging** ([`psf`], [`tissue`], [`noise`]): the PSF model of
//!   [`ImagingConfig::psf`] — a separable Gaussian (lateral width growing with depth and
//!   F-number, axial width set by the pulse, weak side lobes) or the physical pulse-echo
//!   response of the linear array in [`SimConfig::probe`] (plane-wave compounding,
//!   delay-and-sum with receive F-number and apodisation, frequency-dependent attenuation),
//!   tabulated once per configuration; both complex IQ with the carrier phase, so
//!   overlapping echoes interfere. Optional moving tissue speckle 30–50 dB above the
//!   bubbles, imaged with the same PSF; attenuation with time-gain compensation; band-limited
//!   additive noise at a set SNR against a reference bubble at a reference depth
//!   ([`ImagingConfig::reference_depth_mm`]), amplified with depth by the TGC.
//!
//! **Domain randomisation**: every knob is a public field of [`SimConfig`] (serde, with
//! defaults for missing keys), so a training-set builder draws configs programmatically —
//! PSF model and probe ([`ImagingConfig::psf`], [`ProbeConfig`]: elements, pitch, width,
//! bandwidth, cycles, angles, F-number, apodisation), vascular bed and its geometry
//! ([`VesselConfig::bed`], [`CortexConfig`]), concentration ([`BubbleConfig::per_frame`]),
//! SNR ([`ImagingConfig::snr_db`]), depth and grid ([`GridConfig::z0_mm`], `rows`, `cols`),
//! tissue level ([`TissueConfig::enabled`], [`TissueConfig::clutter_db`]) — and calls
//! [`SimConfig::validate`] before simulating.
//!
//! Ground truth ([`Simulation::truth`]): one row per bubble whose echo is in the frame —
//! its centre inside the field of view (pixel edge to pixel edge) and its elevation gain
//! at least [`BubbleConfig::visibility_threshold`]. Positions are the true centres in mm
//! (no snapping; the PSF is centred exactly there under the pixel-centre convention),
//! velocities the true velocities in mm/s (`vz` positive towards depth), `score` the
//! echo amplitude (elevation gain × fluctuation × residual attenuation, mean ≈ 1). Extra
//! columns `track_id` (one id per bubble), `x_px`, `z_px`, `vx_mm_s`, `vz_mm_s`.
//!
//! Deterministic: the same config, frame count and seed give the same output on every
//! platform and thread count (ChaCha8 streams per part and per frame).
//!
//! ```
//! use ulm_core::NoProgress;
//! use ulm_sim::{Preset, SimConfig, simulate};
//!
//! let config = SimConfig::small(Preset::Sparse, 48, 48);
//! let sim = simulate(&config, 10, 7, &NoProgress).unwrap();
//! assert_eq!(sim.iq.shape(), [10, 48, 48]);
//! assert!(sim.truth.len() > 0);
//! ```

pub mod bubbles;
mod config;
pub mod density;
mod engine;
pub mod noise;
mod preset;
pub mod psf;
pub mod tissue;
pub mod vessels;

pub use config::{
    Apodization, BubbleConfig, CortexConfig, FlowConfig, GridConfig, ImagingConfig, Preset, ProbeConfig, PsfModel,
    SimConfig, TissueConfig, VascularBed, VesselConfig,
};
pub use density::{density_image, log_compress};
pub use vessels::VesselNetwork;

use ulm_core::{FrameStack, Localizations, Progress};

pub use psf::Psf;

/// Errors of the simulator.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// A parameter is out of range; the message names it.
    #[error("invalid simulation parameter: {0}")]
    Config(String),
    /// The vessel network is inconsistent or invisible.
    #[error("vessel network: {0}")]
    Network(String),
    /// An error of the shared data model.
    #[error(transparent)]
    Core(#[from] ulm_core::Error),
}

/// A simulated acquisition with its ground truth.
#[derive(Debug, Clone)]
pub struct Simulation {
    /// Complex IQ `[frames, z, x]` with its geometry (λ/2 grid by default).
    pub iq: FrameStack,
    /// Ground truth: one row per visible bubble per frame (see the crate docs).
    pub truth: Localizations,
    /// The vessel network the bubbles flowed through.
    pub network: VesselNetwork,
    /// Bubbles in the whole network (visible or not) during the simulation.
    pub n_bubbles: usize,
}

/// Simulates `n_frames` frames of `config` with random seed `seed`, on a vessel network
/// grown from the same seed.
pub fn simulate(
    config: &SimConfig,
    n_frames: usize,
    seed: u64,
    progress: &dyn Progress,
) -> Result<Simulation, SimError> {
    let network = engine::network_for(config, seed)?;
    engine::run(config, network, n_frames, seed, progress)
}

/// Like [`simulate`], on a given vessel network (e.g. [`VesselNetwork::straight`] or one
/// read from `vessels.json`).
pub fn simulate_with_network(
    config: &SimConfig,
    network: VesselNetwork,
    n_frames: usize,
    seed: u64,
    progress: &dyn Progress,
) -> Result<Simulation, SimError> {
    engine::run(config, network, n_frames, seed, progress)
}

/// The vessel network that [`simulate`] grows for `config` and `seed`.
pub fn generate_network(config: &SimConfig, seed: u64) -> Result<VesselNetwork, SimError> {
    engine::network_for(config, seed)
}
