//! Frames from echo lists, in parallel: tissue clutter, PSF splats, noise.

use ndarray::{Array3, Axis};
use num_complex::Complex32;
use rayon::prelude::*;
use ulm_core::{Geometry, Progress};

use super::truth::Echo;
use super::{Gains, rng_for, stream};
use crate::SimConfig;
use crate::noise::{Noise, NoiseScratch};
use crate::psf::{Psf, SplatScratch};
use crate::tissue::{Tissue, TissueScratch, TissueSpec};

/// Renders one frame per echo list: `[frames, rows, cols]` complex IQ.
pub(crate) fn render_frames(
    config: &SimConfig,
    geometry: &Geometry,
    psf: &Psf,
    gains: &Gains,
    echoes: &[Vec<Echo>],
    seed: u64,
    progress: &dyn Progress,
) -> Array3<Complex32> {
    let (rows, cols) = (config.grid.rows, config.grid.cols);
    let n_frames = echoes.len();
    let px = config.pixel_size_mm();
    let tissue = config.tissue.enabled.then(|| {
        let spec = TissueSpec {
            config: &config.tissue,
            psf,
            rows,
            cols,
            pixel_mm: px,
            z0_mm: geometry.z0_mm,
            frame_rate_hz: config.grid.frame_rate_hz,
            n_frames,
            rms: 10f64.powf(config.tissue.clutter_db / 20.0),
        };
        Tissue::new(&spec, &mut rng_for(seed, stream::TISSUE))
    });
    let depths: Vec<f64> = (0..rows).map(|r| geometry.row_to_z_mm(r as f64)).collect();
    let row_echo: Vec<f32> = depths.iter().map(|&z| gains.echo(z) as f32).collect();
    let noise_rms0 = 10f64.powf(-config.imaging.snr_db / 20.0);
    let row_rms: Vec<f64> = depths.iter().map(|&z| noise_rms0 * gains.noise(z)).collect();
    let noise = Noise::new(psf, px, &depths, &row_rms);

    progress.set_total(n_frames as u64);
    let mut iq = Array3::<Complex32>::zeros((n_frames, rows, cols));
    iq.axis_iter_mut(Axis(0)).into_par_iter().zip(echoes.par_iter()).enumerate().for_each_init(
        || (SplatScratch::default(), TissueScratch::default(), NoiseScratch::default()),
        |(splat, tscratch, nscratch), (f, (mut frame, list))| {
            if let Some(t) = &tissue {
                t.add_frame(f, &mut frame, &row_echo, tscratch);
            }
            for e in list {
                psf.splat(&mut frame, e.col, e.row, e.x_mm, e.z_mm, (px, px), e.amp, splat);
            }
            noise.add(&mut frame, &mut rng_for(seed, stream::NOISE + f as u64), nscratch);
            progress.inc(1);
        },
    );
    progress.finish();
    iq
}
