//! The simulation loop, in two rooms: [`truth`] moves the bubbles (sequential, cheap) and
//! records the ground truth and the echo list of every frame; [`render`] turns the echo
//! lists into frames in parallel (PSF splats, tissue clutter, noise), each frame from its
//! own random stream.

mod render;
mod truth;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use ulm_core::{FrameStack, Geometry, Progress};

use crate::psf::Psf;
use crate::vessels::{Rect, VesselNetwork};
use crate::{SimConfig, SimError, Simulation};

/// Independent random streams, so that switching one part of the model on or off leaves
/// the others unchanged (e.g. the same bubbles with and without tissue, or with either PSF).
mod stream {
    pub const NETWORK: u64 = 1;
    pub const BUBBLES: u64 = 2;
    pub const CALIBRATION: u64 = 3;
    pub const TISSUE: u64 = 4;
    /// Noise of frame `f` uses stream `NOISE + f`.
    pub const NOISE: u64 = 1 << 32;
}

/// A ChaCha8 generator for `(seed, stream)`: identical on every platform and thread count.
pub(crate) fn rng_for(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    r.set_stream(stream);
    r
}

/// The field of view in mm, from pixel edge to pixel edge.
pub(crate) fn fov_rect(g: &Geometry, rows: usize, cols: usize) -> Rect {
    Rect {
        x_min: g.col_to_x_mm(-0.5),
        x_max: g.col_to_x_mm(cols as f64 - 0.5),
        z_min: g.row_to_z_mm(-0.5),
        z_max: g.row_to_z_mm(rows as f64 - 0.5),
    }
}

pub(crate) fn network_for(config: &SimConfig, seed: u64) -> Result<VesselNetwork, SimError> {
    config.validate()?;
    let g = config.geometry()?;
    let fov = fov_rect(&g, config.grid.rows, config.grid.cols);
    Ok(crate::vessels::generate(&config.vessels, &config.flow, &fov, &mut rng_for(seed, stream::NETWORK)))
}

/// Attenuation after time-gain compensation, relative to the reference depth: the echo keeps
/// the uncompensated part, the noise is amplified by the compensated part.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Gains {
    /// One-way attenuation at the centre frequency, Np/mm.
    alpha: f64,
    tgc: f64,
    z_ref: f64,
}

impl Gains {
    fn new(config: &SimConfig) -> Self {
        let f_mhz = config.grid.center_frequency_hz * 1e-6;
        let alpha = config.imaging.attenuation_db_cm_mhz * f_mhz / 10.0 / (20.0 / std::f64::consts::LN_10);
        Self { alpha, tgc: config.imaging.tgc_compensation, z_ref: config.reference_depth_mm() }
    }

    /// Amplitude factor of an echo from depth `z` mm.
    pub(crate) fn echo(&self, z: f64) -> f64 {
        (-2.0 * self.alpha * (z - self.z_ref) * (1.0 - self.tgc)).exp()
    }

    /// Noise amplification at depth `z` mm.
    pub(crate) fn noise(&self, z: f64) -> f64 {
        (2.0 * self.alpha * (z - self.z_ref) * self.tgc).exp()
    }
}

/// Runs the simulation on a given network: the ground truth first, then the frames.
pub(crate) fn run(
    config: &SimConfig,
    network: VesselNetwork,
    n_frames: usize,
    seed: u64,
    progress: &dyn Progress,
) -> Result<Simulation, SimError> {
    config.validate()?;
    if n_frames == 0 {
        return Err(SimError::Config("the number of frames must be >= 1".into()));
    }
    network.validate().map_err(SimError::Network)?;
    let geometry = config.geometry()?;
    let gains = Gains::new(config);
    let truth = truth::simulate_truth(config, &geometry, &network, &gains, n_frames, seed)?;
    let psf = Psf::for_config(config, config.reference_depth_mm())?;
    let iq = render::render_frames(config, &geometry, &psf, &gains, &truth.echoes, seed, progress);
    let iq = FrameStack::from_complex(iq, geometry)?;
    Ok(Simulation { iq, truth: truth.truth, network, n_bubbles: truth.n_bubbles })
}
