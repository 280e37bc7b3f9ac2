//! The KD-tree and the grid hash give identical links on dense random input, where
//! subnets are large and ties between candidates are common.

use ulm_core::Localizations;
use ulm_track::{LinkConfig, PredictorKind};

mod common;

/// `n` bubbles per frame on random walks in a 2 mm × 2 mm field, 10 % missed, plus
/// points on a 0.05 mm lattice (exact ties in distance and on split axes).
fn dense(frames: u32, n: usize, seed: u64) -> Localizations {
    let mut seed = seed;
    let mut rnd = move || {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (seed >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut pos: Vec<[f64; 2]> = (0..n).map(|_| [rnd() * 2.0, rnd() * 2.0]).collect();
    let mut locs = Localizations::new();
    for f in 0..frames {
        for p in &mut pos {
            p[0] += (rnd() - 0.5) * 0.08;
            p[1] += (rnd() - 0.5) * 0.08;
            if rnd() > 0.1 {
                locs.push(f, p[0], p[1], 1.0);
            }
        }
        for k in 0..20 {
            locs.push(f, 0.05 * (k % 5) as f64, 0.05 * (k / 5) as f64 + 0.01 * (f % 2) as f64, 1.0);
        }
    }
    locs
}

#[test]
fn kdtree_and_grid_links_are_identical_on_dense_random_input() {
    let locs = dense(60, 300, 3);
    let mut n_tracks = 0;
    for (range, memory, ratio) in [(0.05, 0, None), (0.1, 2, Some(3.0)), (0.3, 1, None)] {
        let mut cfg = LinkConfig::new(range, 1000.0);
        cfg.memory = memory;
        cfg.max_speed_ratio = ratio;
        cfg.min_rejectable_step_mm = 0.01;
        for kind in [PredictorKind::None, PredictorKind::Velocity, PredictorKind::Kalman] {
            let out = common::link_both(&locs, &cfg, kind);
            // Not trivially identical: most points are linked into multi-point tracks.
            let linked = out.tracks.tracks.iter().filter(|t| t.len() > 1).map(|t| t.len()).sum::<usize>();
            assert!(linked * 2 > locs.len(), "{range} mm, {kind:?}: only {linked} of {} points linked", locs.len());
            n_tracks += out.tracks.len();
        }
    }
    assert!(n_tracks > 0);
}
