//! End-to-end checks of the simulator's physics, measured on its output.

use std::collections::HashMap;

use ndarray::Array3;
use num_complex::Complex32;
use ulm_core::{FrameData, Localizations, NoProgress};
use ulm_sim::{Preset, PsfModel, SimConfig, Simulation, VesselNetwork, simulate, simulate_with_network};

fn iq(sim: &Simulation) -> &Array3<Complex32> {
    match sim.iq.data() {
        FrameData::Complex(a) => a,
        FrameData::Real(_) => panic!("expected complex IQ"),
    }
}

fn col(t: &Localizations, name: &str) -> Vec<f64> {
    t.extra(name).unwrap().as_f64().unwrap()
}

/// A clean configuration: no noise, no fluctuation, no attenuation.
fn clean(mut c: SimConfig) -> SimConfig {
    c.imaging.snr_db = 300.0;
    c.imaging.attenuation_db_cm_mhz = 0.0;
    c.bubbles.fluctuation = 0.0;
    c.bubbles.amplitude_spread = 0.0;
    c.bubbles.size_spread = 0.0;
    c.bubbles.blink_off_prob = 0.0;
    c
}

#[test]
fn same_seed_same_output_on_any_thread_count_other_seed_differs() {
    let c = SimConfig::small(Preset::Tissue, 40, 48);
    let a = simulate(&c, 12, 5, &NoProgress).unwrap();
    let b = simulate(&c, 12, 5, &NoProgress).unwrap();
    assert_eq!(a.iq, b.iq);
    assert_eq!(a.truth, b.truth);
    assert_eq!(a.network, b.network);
    // Independent of the number of threads that render the frames.
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
    let one = pool.install(|| simulate(&c, 12, 5, &NoProgress).unwrap());
    assert_eq!(a.iq, one.iq);
    let d = simulate(&c, 12, 6, &NoProgress).unwrap();
    assert_ne!(a.iq, d.iq);
}

#[test]
fn bubble_count_per_frame_matches_requested_concentration() {
    for (preset, want) in [(Preset::Sparse, 5.0), (Preset::Dense, 60.0)] {
        let mut c = SimConfig::small(preset, 96, 96);
        c.bubbles.per_frame = want;
        let mut total = 0usize;
        let frames = 100;
        let seeds = [1u64, 2, 3, 4];
        for s in seeds {
            total += simulate(&c, frames, s, &NoProgress).unwrap().truth.len();
        }
        let mean = total as f64 / (frames * seeds.len()) as f64;
        assert!((mean / want - 1.0).abs() < 0.15, "{preset}: {mean} bubbles/frame, requested {want}");
    }
}

#[test]
fn speeds_follow_the_parabolic_profile() {
    // One straight horizontal vessel of radius 0.1 mm, peak speed 20 mm/s, in the plane.
    let mut c = clean(SimConfig::small(Preset::Sparse, 64, 96));
    // Many bubbles over few frames: many independent samples of the cross-section.
    c.bubbles.per_frame = 1500.0;
    let g = c.geometry().unwrap();
    let z_axis = g.row_to_z_mm(32.0);
    let (r, vp) = (0.1, 20.0);
    let net = VesselNetwork::straight(g.col_to_x_mm(-10.0), z_axis, g.col_to_x_mm(105.0), z_axis, r, vp);
    let sim = simulate_with_network(&c, net, 20, 3, &NoProgress).unwrap();
    let t = &sim.truth;
    let ids = col(t, "track_id");
    let vx = col(t, "vx_mm_s");
    let vz = col(t, "vz_mm_s");
    // Speeds measured from positions one frame apart (not from the reported velocities).
    let mut last: HashMap<u64, usize> = HashMap::new();
    let mut speeds = Vec::new();
    for i in 0..t.len() {
        let id = ids[i] as u64;
        if let Some(&j) = last.get(&id)
            && t.frame[j] + 1 == t.frame[i]
        {
            let v = (t.x_mm[i] - t.x_mm[j]) * g.frame_rate_hz;
            assert!((t.z_mm[i] - t.z_mm[j]).abs() < 1e-12, "vertical motion in a horizontal vessel");
            // Reported velocity agrees with the displacement.
            assert!((vx[i] - v).abs() < 1e-6 && vz[i].abs() < 1e-12);
            // In-plane offset a bounds the speed: v = vp (1 − (a² + e²)/r²) ≤ vp (1 − a²/r²).
            let a = t.z_mm[i] - z_axis;
            assert!(v <= vp * (1.0 - a * a / (r * r)) + 1e-9, "v {v} at offset {a}");
            speeds.push(v);
        }
        last.insert(id, i);
    }
    assert!(speeds.len() > 20_000, "{}", speeds.len());
    // Uniform concentration in a Poiseuille tube: ρ² is uniform, so v = vp (1 − ρ²) is
    // uniform. Bubble centres stay 1.5 µm from the wall (ρ ≤ ρ_max), so the range is
    // [vp (1 − ρ_max²), vp]. Kolmogorov–Smirnov distance against that uniform law.
    let rho_max = 1.0 - c.bubbles.radius_um * 1e-3 / r;
    let vmin = vp * (1.0 - rho_max * rho_max);
    speeds.sort_by(f64::total_cmp);
    let n = speeds.len() as f64;
    let ks = speeds
        .iter()
        .enumerate()
        .map(|(k, &v)| {
            let cdf = (v - vmin) / (vp - vmin);
            ((k as f64 + 1.0) / n - cdf).abs().max((cdf - k as f64 / n).abs())
        })
        .fold(0.0, f64::max);
    // ≈1500 distinct bubbles (5% critical value ≈ 0.035); a plug flow would give ≈0.5 and
    // a flux-weighted population (p(v) ∝ v) 0.25.
    assert!(ks < 0.04, "KS distance {ks}");
    let mean = speeds.iter().sum::<f64>() / n;
    let want_mean = (vmin + vp) / 2.0;
    assert!((mean / want_mean - 1.0).abs() < 0.05, "mean speed {mean}, Poiseuille mean {want_mean}");
    assert!(speeds.iter().all(|&v| v >= vmin - 1e-9 && v <= vp + 1e-9));
}

/// FWHM of a sampled profile by linear interpolation of the half-maximum crossings.
fn fwhm(p: &[f64], at: usize) -> f64 {
    let half = p[at] / 2.0;
    let (mut l, mut r) = (at, at);
    while l > 0 && p[l] > half {
        l -= 1;
    }
    while r + 1 < p.len() && p[r] > half {
        r += 1;
    }
    let xl = l as f64 + (half - p[l]) / (p[l + 1] - p[l]);
    let xr = r as f64 - (half - p[r]) / (p[r - 1] - p[r]);
    xr - xl
}

#[test]
fn rendered_psf_is_centred_on_truth_with_configured_fwhm_at_depth() {
    // A vertical vessel from 4 to 9 mm depth on a fine (λ/8) grid, slow flow, few
    // bubbles, no noise: measure each isolated echo.
    let mut c = clean(SimConfig::preset(Preset::Deep));
    c.grid.pixel_size_wavelengths = 0.125;
    c.grid.rows = 400;
    c.grid.cols = 64;
    c.grid.z0_mm = 4.0;
    c.imaging.aperture_mm = 2.0;
    c.bubbles.per_frame = 8.0;
    let g = c.geometry().unwrap();
    let net = VesselNetwork::straight(0.0, 3.0, 0.0, 10.0, 0.005, 2.0);
    let sim = simulate_with_network(&c, net, 4, 11, &NoProgress).unwrap();
    let env = iq(&sim).mapv(|v| v.norm() as f64);
    let t = &sim.truth;
    let psf = ulm_sim::psf::GaussianPsf::new(&c.imaging, c.wavelength_mm());
    let mut checked = 0;
    for i in 0..t.len() {
        let isolated = (0..t.len()).all(|j| j == i || t.frame[j] != t.frame[i] || (t.z_mm[j] - t.z_mm[i]).abs() > 0.4);
        if !isolated {
            continue;
        }
        let f = t.frame[i] as usize;
        let (cx, rz) = g.mm_to_px(t.x_mm[i], t.z_mm[i]);
        let (c0, r0) = (cx.round() as usize, rz.round() as usize);
        if r0 < 10 || r0 + 10 >= c.grid.rows {
            continue;
        }
        // Peak by a log-parabola through the three samples around the nearest pixel.
        let lrow: Vec<f64> = (0..c.grid.cols).map(|k| env[[f, r0, k]]).collect();
        let lcol: Vec<f64> = (0..c.grid.rows).map(|k| env[[f, k, c0]]).collect();
        // Vertex (position, log-height) of the parabola through the logs of 3 samples.
        let vtx = |p: &[f64], k: usize| {
            let (a, b, cc) = (p[k - 1].ln(), p[k].ln(), p[k + 1].ln());
            let d = 0.5 * (a - cc) / (a - 2.0 * b + cc);
            (k as f64 + d, b - 0.25 * (a - cc) * d)
        };
        let ((px_x, h_row), (px_z, h_col)) = (vtx(&lrow, c0), vtx(&lcol, r0));
        assert!((px_x - cx).abs() < 0.01, "lateral centre {px_x} vs truth {cx}");
        assert!((px_z - rz).abs() < 0.01, "axial centre {px_z} vs truth {rz}");
        // Peak echo amplitude A = A·g_z · A·g_x / (A·g_x·g_z) equals the truth's score.
        let peak = h_row.exp() * h_col.exp() / env[[f, r0, c0]];
        assert!((peak / t.score[i] as f64 - 1.0).abs() < 0.01, "peak {peak} vs score {}", t.score[i]);
        let fx = fwhm(&lrow, c0) * g.pixel_size_x_mm;
        let fz = fwhm(&lcol, r0) * g.pixel_size_z_mm;
        let want_x = psf.lateral_fwhm_mm(t.z_mm[i]);
        // Independent of the code: λ · max(1.5, z / 2 mm) and 1.5 cycles · λ / 2.
        let lambda = c.wavelength_mm();
        assert!((want_x - lambda * (t.z_mm[i] / 2.0).max(1.5)).abs() < 1e-12);
        assert!((fx / want_x - 1.0).abs() < 0.03, "z {}: lateral FWHM {fx} vs {want_x}", t.z_mm[i]);
        assert!((fz / (0.75 * lambda) - 1.0).abs() < 0.03, "axial FWHM {fz}");
        checked += 1;
    }
    assert!(checked >= 8, "only {checked} isolated bubbles");
    // The depths checked span the range where the lateral width grows.
    let zs: Vec<f64> = t.z_mm.clone();
    assert!(zs.iter().cloned().fold(f64::MAX, f64::min) < 6.0 && zs.iter().cloned().fold(0.0, f64::max) > 7.0);
}

#[test]
fn tissue_clutter_is_removed_by_a_rank_k_svd_projection() {
    // The same seed with and without tissue gives the same bubbles and noise (independent
    // random streams), so the clutter is exactly `with − without`.
    let frames = 120;
    let with = SimConfig::small(Preset::Tissue, 40, 40);
    let mut without = with.clone();
    without.tissue.enabled = false;
    let a = simulate(&with, frames, 21, &NoProgress).unwrap();
    let b = simulate(&without, frames, 21, &NoProgress).unwrap();
    assert_eq!(a.truth, b.truth);
    let (sa, sb) = (iq(&a), iq(&b));
    let px = 40 * 40;
    // Casorati matrix [pixels, frames].
    let cas = |s: &Array3<Complex32>| {
        faer::Mat::<faer::c64>::from_fn(px, frames, |p, f| {
            let v = s[[f, p / 40, p % 40]];
            faer::c64::new(v.re as f64, v.im as f64)
        })
    };
    let (ma, mb) = (cas(sa), cas(sb));
    let energy = |m: &faer::Mat<faer::c64>| m.norm_l2().powi(2);
    // Tissue RMS over the mean bubble echo amplitude: 30–50 dB (configured 40 dB).
    let tissue_rms = (energy(&(&ma - &mb)) / (px * frames) as f64).sqrt();
    let bubble_amp = a.truth.score.iter().map(|&s| s as f64).sum::<f64>() / a.truth.len() as f64;
    let clutter_db = 20.0 * (tissue_rms / bubble_amp).log10();
    assert!(clutter_db > 30.0 && clutter_db < 50.0, "clutter {clutter_db} dB above the bubbles");
    // Remove the k largest singular components: S − U_k U_kᴴ S.
    // Tissue moves slowly and rigidly: by itself it is low rank.
    let tissue = &ma - &mb;
    let ts = tissue.thin_svd().unwrap();
    let rank_6_tail = (6..frames).map(|i| ts.S()[i].re.powi(2)).sum::<f64>() / energy(&tissue);
    assert!(rank_6_tail < 1e-8, "tissue energy beyond rank 6: {rank_6_tail}");
    // Remove the k largest singular components of the data: S − U_k U_kᴴ S.
    let k = 6;
    let svd = ma.thin_svd().unwrap();
    let uk = svd.U().subcols(0, k).to_owned();
    let filtered = &ma - &uk * (uk.adjoint() * &ma);
    // What is left of the blood signal (bubbles + noise) after the same projection.
    let blood = &mb - &uk * (uk.adjoint() * &mb);
    let residual = energy(&(&filtered - &blood));
    let suppression_db = 10.0 * (energy(&tissue) / residual).log10();
    let residual_db = 10.0 * (residual / energy(&blood)).log10();
    // The weakest tissue components sink into the blood subspace, so the data's SVD cannot
    // remove them perfectly (as in vivo); the residue is still well under the blood signal.
    assert!(suppression_db > 60.0, "clutter suppressed by only {suppression_db} dB");
    assert!(residual_db < -6.0, "residual clutter {residual_db} dB relative to the blood signal");
    // And most of the blood signal survives the filter.
    let kept = energy(&blood) / energy(&mb);
    assert!(kept > 0.8, "blood energy kept {kept}");
}

#[test]
fn noise_follows_snr_and_grows_with_depth_under_tgc() {
    // No bubbles, no tissue: the frames are the noise. Expected RMS, computed here from
    // the definitions: 10^(−SNR/20) at the top, times the TGC gain exp(2 α Δz · tgc),
    // α in Np/mm = dB/cm/MHz · f_MHz / 10 / 8.686.
    let mut c = SimConfig::small(Preset::Deep, 160, 32);
    c.bubbles.per_frame = 0.0;
    let sim = simulate(&c, 40, 2, &NoProgress).unwrap();
    assert!(sim.truth.is_empty());
    let s = iq(&sim);
    let g = sim.iq.geometry();
    let alpha = c.imaging.attenuation_db_cm_mhz * 15.625 / 10.0 / 8.685_889_638;
    for r in [0usize, 50, 100, 159] {
        let p: f64 = s.index_axis(ndarray::Axis(1), r).iter().map(|v| v.norm_sqr() as f64).sum::<f64>() / (40.0 * 32.0);
        let dz = g.row_to_z_mm(r as f64) - g.z0_mm;
        let want = 10f64.powf(-c.imaging.snr_db / 20.0) * (2.0 * alpha * dz * c.imaging.tgc_compensation).exp();
        assert!((p.sqrt() / want - 1.0).abs() < 0.1, "row {r}: noise rms {} vs {want}", p.sqrt());
    }
}

/// Jumps of ground-truth positions between consecutive frames of one track that are longer
/// than the distance the bubble's speed allows: `|Δp| > max(|v₀|, |v₁|) · dt · 1.05 + 0.5 µm`
/// (the path may bend at a junction within the frame, which only shortens the chord; the
/// 5 % cover a short drift onto the new streamline begun and ended within one frame).
fn trajectory_jumps(sim: &Simulation, dt: f64) -> (usize, usize, f64) {
    let t = &sim.truth;
    let ids = col(t, "track_id");
    let vx = col(t, "vx_mm_s");
    let vz = col(t, "vz_mm_s");
    let mut last: HashMap<u64, usize> = HashMap::new();
    let (mut pairs, mut jumps, mut worst) = (0, 0, 0.0f64);
    for i in 0..t.len() {
        let id = ids[i] as u64;
        if let Some(&j) = last.get(&id)
            && t.frame[j] + 1 == t.frame[i]
        {
            pairs += 1;
            let d = (t.x_mm[i] - t.x_mm[j]).hypot(t.z_mm[i] - t.z_mm[j]);
            let allowed = vx[i].hypot(vz[i]).max(vx[j].hypot(vz[j])) * dt * 1.05 + 5e-4;
            if d > allowed {
                jumps += 1;
                worst = worst.max(d - allowed);
            }
        }
        last.insert(id, i);
    }
    (pairs, jumps, worst)
}

#[test]
fn trajectories_are_continuous() {
    // Through junctions and segment joins a bubble moves continuously: no ground-truth
    // step is longer than its speed allows, and a re-injected bubble has a new track id.
    let (mut total_pairs, mut total_jumps, mut report) = (0, 0, String::new());
    for preset in [Preset::Sparse, Preset::Dense] {
        for seed in [1u64, 2, 3] {
            let c = SimConfig::small(preset, 64, 64);
            let dt = 1.0 / c.grid.frame_rate_hz;
            let sim = simulate(&c, 300, seed, &NoProgress).unwrap();
            let (pairs, jumps, worst) = trajectory_jumps(&sim, dt);
            report += &format!("{preset} seed {seed}: {jumps} jumps in {pairs} steps, worst excess {worst:.4} mm\n");
            total_pairs += pairs;
            total_jumps += jumps;
        }
    }
    assert_eq!(total_jumps, 0, "\n{report}");
    assert!(total_pairs > 5000, "only {total_pairs} consecutive pairs checked");
}

#[test]
fn physical_psf_renders_the_same_bubbles_peaked_at_the_truth() {
    // The same seed with either PSF: identical ground truth (independent random streams);
    // with the physical PSF every isolated bubble's envelope peaks within half a pixel
    // (parabolic vertex) of its true position, and the reference bubble has unit peak.
    let mut c = clean(SimConfig::small(Preset::Sparse, 48, 64));
    c.bubbles.per_frame = 4.0;
    let g = c.geometry().unwrap();
    let gauss = simulate(&c, 12, 21, &NoProgress).unwrap();
    c.imaging.psf = PsfModel::Physical;
    let phys = simulate(&c, 12, 21, &NoProgress).unwrap();
    assert_eq!(gauss.truth, phys.truth);
    let env = iq(&phys).mapv(|v| v.norm() as f64);
    let t = &phys.truth;
    let mut checked = 0;
    for i in 0..t.len() {
        let isolated = (0..t.len())
            .all(|j| j == i || t.frame[j] != t.frame[i] || (t.x_mm[j] - t.x_mm[i]).hypot(t.z_mm[j] - t.z_mm[i]) > 0.5);
        let (cx, rz) = g.mm_to_px(t.x_mm[i], t.z_mm[i]);
        let (c0, r0) = (cx.round() as usize, rz.round() as usize);
        if !isolated || c0 < 2 || r0 < 2 || c0 + 2 >= 64 || r0 + 2 >= 48 {
            continue;
        }
        let f = t.frame[i] as usize;
        let vertex = |a: f64, b: f64, cc: f64| 0.5 * (a - cc) / (a - 2.0 * b + cc);
        // The local maximum nearest the truth.
        let (mut pr, mut pc) = (r0, c0);
        for (r, cc) in (r0 - 1..=r0 + 1).flat_map(|r| (c0 - 1..=c0 + 1).map(move |k| (r, k))) {
            if env[[f, r, cc]] > env[[f, pr, pc]] {
                (pr, pc) = (r, cc);
            }
        }
        let px_x = pc as f64 + vertex(env[[f, pr, pc - 1]], env[[f, pr, pc]], env[[f, pr, pc + 1]]);
        let px_z = pr as f64 + vertex(env[[f, pr - 1, pc]], env[[f, pr, pc]], env[[f, pr + 1, pc]]);
        // The physical PSF is not a Gaussian, so the 3-point vertex is biased by up to
        // ≈0.2 px (measured); half a pixel (λ/4) bounds it.
        assert!((px_x - cx).abs() < 0.5 && (px_z - rz).abs() < 0.5, "peak ({px_x}, {px_z}) vs truth ({cx}, {rz})");
        checked += 1;
    }
    assert!(checked >= 5, "only {checked} isolated bubbles");
}
