//! Map values checked against hand computations.

use ndarray::{Array2, Array3};
use ulm_core::{FrameStack, Geometry, InMemorySource, Localizations, NoProgress, Track, TrackPoint, Tracks};
use ulm_render::{MapGrid, gaussian_density, resample_bilinear, temporal_mean, track_maps};

/// 0.1 mm pixels, λ = 0.2 mm, 1 kHz; SR grid of 0.02 mm over 2 × 2 mm from (0, 0).
fn grid() -> MapGrid {
    let g = Geometry::new(0.1, 0.1, 0.05, 0.05, 0.2, 1000.0).unwrap();
    MapGrid::super_resolved(&g, 20, 20, 0.02).unwrap()
}

fn track(id: u64, pts: &[(u32, f64, f64)]) -> Track {
    Track {
        id,
        points: pts
            .iter()
            .map(|&(frame, x_mm, z_mm)| TrackPoint { frame, x_mm, z_mm, vx_mm_s: f64::NAN, vz_mm_s: f64::NAN })
            .collect(),
    }
}

#[test]
fn gaussian_density_has_unit_mass_centred_on_each_localization() {
    let g = grid();
    assert_eq!((g.rows, g.cols), (100, 100));
    let mut locs = Localizations::new();
    locs.push(0, 0.51, 1.01, 1.0); // pixel centre (col 25, row 50)
    locs.push(3, 1.5, 0.5, 1.0);
    let map = gaussian_density(&locs, &g, 1.5).unwrap();
    assert!((map.sum() - 2.0).abs() < 1e-5, "sum {}", map.sum());
    let (peak, _) = map.indexed_iter().fold(((0, 0), 0.0f32), |b, (i, &v)| if v > b.1 { (i, v) } else { b });
    assert!(peak == (50, 25) || peak == (25, 75), "{peak:?}");
    // Peak value of a unit-sum Gaussian on the pixel grid, σ = 1.5 px, truncated at
    // ±5 px: 1 / (Σ_k exp(−k²/2σ²))².
    let s1: f32 = (-5..=5).map(|k: i32| (-((k * k) as f32) / 4.5).exp()).sum();
    let want = 1.0 / (s1 * s1);
    assert!((map[[50, 25]] - want).abs() < 1e-4 * want, "{} vs {want}", map[[50, 25]]);
    // Symmetric about the centre.
    assert!((map[[50, 23]] - map[[50, 27]]).abs() < 1e-6 && (map[[48, 25]] - map[[52, 25]]).abs() < 1e-6);
    assert!(gaussian_density(&locs, &g, 0.0).is_err());
}

#[test]
fn tracks_are_counted_once_per_pixel_along_their_path() {
    let g = grid();
    // Track 0: along row 50 (z = 1.01 mm) from col 10 to col 40 in 3 steps of 0.2 mm
    // (10 pixels), 1 ms apart: 200 mm/s, no axial motion.
    // Track 1: the same path with many points per pixel (0.005 mm steps), 5 mm/s.
    let z = 1.01;
    let t0 = track(0, &[(0, 0.21, z), (1, 0.41, z), (2, 0.61, z), (3, 0.81, z)]);
    let t1 = track(1, &(0..=120).map(|k| (k as u32, 0.21 + 0.005 * k as f64, z)).collect::<Vec<_>>());
    let maps = track_maps(&Tracks { tracks: vec![t0, t1] }, &g, 0.5).unwrap();
    for c in 0..100 {
        let want = if (10..=40).contains(&c) { 2.0 } else { 0.0 };
        assert_eq!(maps.density[[50, c]], want, "col {c}");
    }
    assert_eq!(maps.density.sum(), 62.0);
    assert!((maps.speed[[50, 25]] - (200.0 + 5.0) / 2.0).abs() < 1e-3);
    assert_eq!(maps.direction[[50, 25]], 0.0);
}

#[test]
fn direction_is_the_sign_of_axial_flow() {
    let g = grid();
    // Down (z increasing) in column 20, up in column 60, both in column 80 (cancel).
    let down = track(0, &[(0, 0.41, 0.21), (1, 0.41, 0.61)]);
    let up = track(1, &[(0, 1.21, 0.61), (2, 1.21, 0.21)]);
    let a = track(2, &[(0, 1.61, 0.21), (1, 1.61, 0.61)]);
    let b = track(3, &[(5, 1.61, 0.61), (6, 1.61, 0.21)]);
    let maps = track_maps(&Tracks { tracks: vec![down, up, a, b] }, &g, 0.5).unwrap();
    assert_eq!(maps.direction[[20, 20]], 1.0);
    assert_eq!(maps.direction[[20, 60]], -1.0);
    assert_eq!(maps.direction[[20, 80]], 0.0);
    assert_eq!(maps.density[[20, 80]], 2.0);
    // 0.4 mm in 1 ms = 400 mm/s; the up track takes 2 ms: 200 mm/s.
    assert!((maps.speed[[20, 20]] - 400.0).abs() < 1e-3);
    assert!((maps.speed[[20, 60]] - 200.0).abs() < 1e-3);
}

#[test]
fn temporal_mean_of_envelopes_and_bilinear_resampling() {
    let geom = Geometry::new(0.1, 0.1, 0.05, 0.05, 0.2, 1000.0).unwrap();
    // Frame f has value f + col at every pixel: the mean over 0..10 is 4.5 + col.
    let a = Array3::from_shape_fn((10, 4, 6), |(f, _, c)| (f + c) as f32);
    let mut src = InMemorySource::new(FrameStack::from_real(a, geom).unwrap());
    let mean = temporal_mean(&mut src, 3, &NoProgress).unwrap();
    assert_eq!(mean, Array2::from_shape_fn((4, 6), |(_, c)| 4.5 + c as f32));
    // A linear ramp is reproduced exactly between pixel centres.
    let sr = MapGrid::super_resolved(&geom, 4, 6, 0.02).unwrap();
    let up = resample_bilinear(&mean, &geom, &sr);
    assert_eq!(up.dim(), (20, 30));
    let (x, _) = sr.geometry.px_to_mm(12.0, 0.0); // 0.25 mm = column 2 of the base
    assert!((up[[7, 12]] - (4.5 + geom.x_mm_to_col(x) as f32)).abs() < 1e-5);
    // Clamped outside the outer centres.
    assert_eq!(up[[0, 0]], 4.5);
}
