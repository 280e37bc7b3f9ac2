//! Bubble dynamics and the ground truth: one pass over the frames, sequential.

use num_complex::Complex32;
use ulm_core::{Geometry, Localizations};

use super::{Gains, fov_rect, rng_for, stream};
use crate::bubbles::{Dynamics, Population, elevation_gain};
use crate::psf::FWHM_PER_SIGMA;
use crate::vessels::VesselNetwork;
use crate::{SimConfig, SimError};

/// One bubble echo of one frame, as the renderer needs it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Echo {
    pub col: f64,
    pub row: f64,
    pub x_mm: f64,
    pub z_mm: f64,
    /// Amplitude with the carrier phase `exp(−i 4π z / λ + i φ)`.
    pub amp: Complex32,
}

/// The ground truth and the echoes of every frame.
pub(crate) struct Truth {
    pub truth: Localizations,
    pub echoes: Vec<Vec<Echo>>,
    pub n_bubbles: usize,
}

/// Moves a bubble population sized for `config.bubbles.per_frame` through `network` for
/// `n_frames` frames.
pub(crate) fn simulate_truth(
    config: &SimConfig,
    geometry: &Geometry,
    network: &VesselNetwork,
    gains: &Gains,
    n_frames: usize,
    seed: u64,
) -> Result<Truth, SimError> {
    let (rows, cols) = (config.grid.rows, config.grid.cols);
    let fov = fov_rect(geometry, rows, cols);
    let lambda = config.wavelength_mm();
    let b = &config.bubbles;
    let elev_sigma = b.elevation_fwhm_mm / FWHM_PER_SIGMA;
    let dynamics = Dynamics {
        amplitude_spread: b.amplitude_spread,
        fluctuation: b.fluctuation,
        fluctuation_correlation: b.fluctuation_correlation,
        bubble_radius_mm: b.radius_um * 1e-3,
        size_spread: b.size_spread,
        size_amplitude_exponent: b.size_amplitude_exponent,
        blink_off_prob: b.blink_off_prob,
        blink_on_prob: b.blink_on_prob,
        destruction_rate_hz: b.destruction_rate_hz,
    };
    // Population sized so that the expected visible (and echoing) count matches the request.
    let mut pop = Population::new(network, dynamics);
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
        (b.per_frame / (frac * dynamics.on_fraction())).round() as usize
    } else {
        0
    };
    let mut brng = rng_for(seed, stream::BUBBLES);
    pop.seed(n_bubbles, &mut brng);

    let dt = 1.0 / config.grid.frame_rate_hz;
    let mut truth = Localizations::with_capacity((b.per_frame * n_frames as f64 * 1.2) as usize);
    let (mut track, mut xs, mut zs, mut vxs, mut vzs) = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut echoes: Vec<Vec<Echo>> = Vec::with_capacity(n_frames);
    for f in 0..n_frames {
        let mut list = Vec::new();
        for s in pop.samples() {
            let eg = elevation_gain(s.y_mm, elev_sigma);
            if eg < 1e-3 || !s.on {
                continue;
            }
            let amp = s.amplitude * eg * gains.echo(s.z_mm);
            let (col, row) = geometry.mm_to_px(s.x_mm, s.z_mm);
            let phase = s.phase - 2.0 * std::f64::consts::TAU * s.z_mm / lambda;
            list.push(Echo {
                col,
                row,
                x_mm: s.x_mm,
                z_mm: s.z_mm,
                amp: Complex32::from_polar(amp as f32, phase as f32),
            });
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
    Ok(Truth { truth, echoes, n_bubbles })
}
