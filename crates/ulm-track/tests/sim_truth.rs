//! Linking the simulator's ground-truth positions recovers its tracks (with both spatial
//! indexes, which must agree).

use std::collections::HashMap;

use ulm_core::NoProgress;
use ulm_sim::{Preset, SimConfig, simulate};
use ulm_track::{LinkConfig, PredictorKind};

mod common;

#[test]
fn ground_truth_tracks_are_recovered_unbroken_on_sparse_data() {
    let cfg = SimConfig::preset(Preset::Sparse);
    let sim = simulate(&cfg, 1000, 11, &NoProgress).unwrap();
    let truth = &sim.truth;
    let g = sim.iq.geometry();
    let gt_id: Vec<u64> = truth.extra("track_id").unwrap().values.iter().map(|v| v.parse().unwrap()).collect();
    let gt_vx = truth.extra("vx_mm_s").unwrap().as_f64().unwrap();
    let gt_vz = truth.extra("vz_mm_s").unwrap().as_f64().unwrap();

    // Memory 2 would also bridge a 3-frame gap where, on this seed, a bubble vanishes
    // just ahead of another on the same path and the follower takes over its track.
    let memory = 1;
    let mut link = LinkConfig::new(g.wavelength_mm, g.frame_rate_hz);
    link.memory = memory;
    let out = common::link_both(truth, &link, PredictorKind::Velocity);
    // The CLI's defaults add the paper's velocity rejection (3×, steps under λ/4 exempt):
    // on continuous ground truth it must not break tracks either.
    let mut rejecting = link;
    rejecting.max_speed_ratio = Some(3.0);
    rejecting.min_rejectable_step_mm = g.wavelength_mm / 4.0;
    let out_rejecting = common::link_both(truth, &rejecting, PredictorKind::Velocity);

    // Ground-truth segments: a bubble's rows, split where it is invisible for more than
    // `memory` frames (no linker can bridge those).
    let mut rows: Vec<usize> = (0..truth.len()).collect();
    rows.sort_by_key(|&i| (gt_id[i], truth.frame[i]));
    let mut segments: Vec<Vec<usize>> = Vec::new();
    for (k, &i) in rows.iter().enumerate() {
        let new = k == 0 || {
            let j = rows[k - 1];
            gt_id[j] != gt_id[i] || truth.frame[i] - truth.frame[j] > memory + 1
        };
        if new {
            segments.push(Vec::new());
        }
        segments.last_mut().unwrap().push(i);
    }
    segments.retain(|s| s.len() >= 2);
    for (name, out) in [("no rejection", &out), ("3x speed rejection", &out_rejecting)] {
        // Rows per linked track, to check purity.
        let mut track_rows: HashMap<u64, usize> = HashMap::new();
        for t in out.row_track.iter().flatten() {
            *track_rows.entry(*t).or_default() += 1;
        }
        let recovered = segments
            .iter()
            .filter(|s| {
                let id = out.row_track[s[0]];
                id.is_some() && s.iter().all(|&i| out.row_track[i] == id) && track_rows[&id.unwrap()] == s.len()
            })
            .count();
        let frac = recovered as f64 / segments.len() as f64;
        eprintln!("{name}: {recovered}/{} segments recovered ({:.1} %)", segments.len(), 100.0 * frac);
        assert!(segments.len() >= 10, "only {} segments", segments.len());
        assert!(frac > 0.95, "{name}: {recovered}/{} ground-truth segments recovered unbroken", segments.len());
    }

    // Velocities in mm/s agree with the simulator's (median error; positions jump where
    // a bubble changes vessel, so the mean is not robust).
    let mut point_v: HashMap<(u64, u32), (f64, f64)> = HashMap::new();
    for t in &out.tracks.tracks {
        for p in &t.points {
            point_v.insert((t.id, p.frame), (p.vx_mm_s, p.vz_mm_s));
        }
    }
    let mut err: Vec<f64> = (0..truth.len())
        .filter_map(|i| {
            let id = out.row_track[i]?;
            let (vx, vz) = point_v[&(id, truth.frame[i])];
            (vx.is_finite()).then(|| (vx - gt_vx[i]).hypot(vz - gt_vz[i]))
        })
        .collect();
    err.sort_by(f64::total_cmp);
    let median = err[err.len() / 2];
    let speed: f64 = gt_vx.iter().zip(&gt_vz).map(|(a, b)| a.hypot(*b)).sum::<f64>() / gt_vx.len() as f64;
    eprintln!("median velocity error {median:.4} mm/s, mean speed {speed:.2} mm/s");
    assert!(median < 0.05 * speed, "median velocity error {median} mm/s (mean speed {speed} mm/s)");
}
