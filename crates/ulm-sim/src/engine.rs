//! The simulation loop: bubble dynamics (sequential, cheap), then frames rendered in
//! parallel (PSF splats, tissue clutter, noise), each frame from its own RNG stream.

use ndarray::{Array3, Axis};
use num_complex::Complex32;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use ulm_core::{FrameStack, Geometry, Localizations, Progress};

use crate::bubbles::{Dynamics, Population, elevation_gain};
use crate::noise::{Noise, NoiseScratch};
use crate::psf::{FWHM_PER_SIGMA, Psf, SplatScratch};
use crate::tissue::{Tissue, TissueScratch};
use crate::vessels::{Rect, VesselNetwork};
use crate::{SimConfig, SimError, Simulation};

/// Independent random streams, so that switching one part of the model on or off leaves
/// the others unchanged (e.g. the same bubbles with and without tissue).
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

struct Echo {
    col: f64,
    row: f64,
    z_mm: f64,
    amp: Complex32,
}

/// Runs the simulation on a given network.
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
    let (rows, cols) = (config.grid.rows, config.grid.cols);
    let fov = fov_rect(&geometry, rows, cols);
    let lambda = config.wavelength_mm();
    let px = config.pixel_size_mm();
    let psf = Psf::new(&config.imaging, lambda);
    let b = &config.bubbles;
    let elev_sigma = b.elevation_fwhm_mm / FWHM_PER_SIGMA;

    // Attenuation (Np/mm, one way) and time-gain compensation.
    let f_mhz = config.grid.center_frequency_hz * 1e-6;
    let alpha = config.imaging.attenuation_db_cm_mhz * f_mhz / 10.0 / (20.0 / std::f64::consts::LN_10);
    let tgc = config.imaging.tgc_compensation;
    let z0 = geometry.z0_mm;
    let echo_gain = |z: f64| (-2.0 * alpha * (z - z0) * (1.0 - tgc)).exp();
    let noise_gain = |z: f64| (2.0 * alpha * (z - z0) * tgc).exp();

    // Bubble population sized so that the expected visible count matches the request.
    let dynamics = Dynamics {
        amplitude_spread: b.amplitude_spread,
        fluctuation: b.fluctuation,
        fluctuation_correlation: b.fluctuation_correlation,
        bubble_radius_mm: b.radius_um * 1e-3,
    };
    let mut pop = Population::new(&network, dynamics);
    let mut cal = rng_for(seed, stream::CALIBRATION);
    let n_bubbles = if b.per_frame > 0.0 && !network.segments.is_empty() {
        let frac = pop.visible_fraction(&fov, elev_sigma, b.visibility_threshold, 40_000, &mut cal);
        if frac <= 0.0 {
            return Err(SimError::Network(
                "no part of the vessel network is visible in the field of view (inside it and within \
                 the elevation beam)"
                    .into(),
            ));
        }
        (b.per_frame / frac).round() as usize
    } else {
        0
    };
    let mut brng = rng_for(seed, stream::BUBBLES);
    pop.seed(n_bubbles, &mut brng);

    // Dynamics and ground truth, frame by frame.
    let dt = 1.0 / config.grid.frame_rate_hz;
    let mut truth = Localizations::with_capacity((b.per_frame * n_frames as f64 * 1.2) as usize);
    let (mut track, mut xs, mut zs, mut vxs, mut vzs) = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut echoes: Vec<Vec<Echo>> = Vec::with_capacity(n_frames);
    for f in 0..n_frames {
        let mut list = Vec::new();
        for s in pop.samples() {
            let eg = elevation_gain(s.y_mm, elev_sigma);
            if eg < 1e-3 {
                continue;
            }
            let amp = s.amplitude * eg * echo_gain(s.z_mm);
            let (col, row) = geometry.mm_to_px(s.x_mm, s.z_mm);
            let phase = s.phase - 2.0 * std::f64::consts::TAU * s.z_mm / lambda;
            list.push(Echo { col, row, z_mm: s.z_mm, amp: Complex32::from_polar(amp as f32, phase as f32) });
            if fov.contains(s.x_mm, s.z_mm) && eg >= b.visibility_threshold {
                truth.push(f as u32, s.x_mm, s.z_mm, amp as f32);
                track.push(s.id.to_string());
                xs.push(col.to_string());
                zs.push(row.to_string());
                vxs.push(s.vx_mm_s.to_string());
                vzs.push(s.vz_mm_s.to_string());
            }
        }
        echoes.push(list);
        pop.step(dt, &mut brng);
    }
    truth.set_extra("track_id", track);
    truth.set_extra("x_px", xs);
    truth.set_extra("z_px", zs);
    truth.set_extra("vx_mm_s", vxs);
    truth.set_extra("vz_mm_s", vzs);

    let tissue = if config.tissue.enabled {
        let rms = 10f64.powf(config.tissue.clutter_db / 20.0);
        Some(Tissue::new(
            &config.tissue,
            &psf,
            rows,
            cols,
            px,
            z0,
            config.grid.frame_rate_hz,
            n_frames,
            rms,
            &mut rng_for(seed, stream::TISSUE),
        ))
    } else {
        None
    };
    let row_echo: Vec<f32> = (0..rows).map(|r| echo_gain(geometry.row_to_z_mm(r as f64)) as f32).collect();
    let depths: Vec<f64> = (0..rows).map(|r| geometry.row_to_z_mm(r as f64)).collect();
    let noise_rms0 = 10f64.powf(-config.imaging.snr_db / 20.0);
    let row_rms: Vec<f64> = depths.iter().map(|&z| noise_rms0 * noise_gain(z)).collect();
    let noise = Noise::new(&psf, px, &depths, &row_rms);

    // Frames, in parallel.
    progress.set_total(n_frames as u64);
    let mut iq = Array3::<Complex32>::zeros((n_frames, rows, cols));
    iq.axis_iter_mut(Axis(0)).into_par_iter().zip(echoes.par_iter()).enumerate().for_each_init(
        || (SplatScratch::default(), TissueScratch::default(), NoiseScratch::default()),
        |(splat, tscratch, nscratch), (f, (mut frame, list))| {
            if let Some(t) = &tissue {
                t.add_frame(f, &mut frame, &row_echo, tscratch);
            }
            for e in list {
                psf.splat(&mut frame, e.col, e.row, e.z_mm, (px, px), e.amp, splat);
            }
            noise.add(&mut frame, &mut rng_for(seed, stream::NOISE + f as u64), nscratch);
            progress.inc(1);
        },
    );
    progress.finish();
    let iq = FrameStack::from_complex(iq, geometry)?;
    Ok(Simulation { iq, truth, network, n_bubbles })
}
