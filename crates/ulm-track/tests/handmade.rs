//! Hand-made linking cases with known answers.

use ulm_core::Localizations;
use ulm_track::{LinkConfig, Linked, Linker, NoPredictor, PredictorKind, TrackError};

mod common;

const FR: f64 = 1000.0;

fn locs(points: &[(u32, f64, f64)]) -> Localizations {
    let mut l = Localizations::new();
    for &(f, x, z) in points {
        l.push(f, x, z, 1.0);
    }
    l
}

/// Links with both spatial indexes (asserting identical results).
fn run(points: &[(u32, f64, f64)], cfg: &LinkConfig, kind: PredictorKind) -> Linked {
    common::link_both(&locs(points), cfg, kind)
}

/// Frames of each track, tracks in id order.
fn frames_of(out: &Linked) -> Vec<Vec<u32>> {
    out.tracks.tracks.iter().map(|t| t.points.iter().map(|p| p.frame).collect()).collect()
}

#[test]
fn crossing_bubbles_keep_their_identity() {
    // Two bubbles on straight lines crossing at a shallow angle near frame 5.
    let mut pts = Vec::new();
    for f in 0..11u32 {
        let t = f as f64;
        pts.push((f, 0.1 * t, 0.01 * t));
        pts.push((f, 0.1 * t + 0.003, 0.1 - 0.01 * t));
    }
    for kind in [PredictorKind::None, PredictorKind::Velocity, PredictorKind::Kalman] {
        let out = run(&pts, &LinkConfig::new(0.15, FR), kind);
        assert_eq!(out.tracks.len(), 2, "{kind:?}");
        for t in &out.tracks.tracks {
            assert_eq!(t.len(), 11);
            // A straight track has the same velocity at every point.
            let v0 = (t.points[0].vx_mm_s, t.points[0].vz_mm_s);
            for p in &t.points {
                assert!((p.vx_mm_s - v0.0).abs() < 1e-6 && (p.vz_mm_s - v0.1).abs() < 1e-6, "{kind:?}: {p:?}");
            }
            assert!((v0.1.abs() - 10.0).abs() < 1e-6, "axial speed 0.01 mm/frame = 10 mm/s, got {}", v0.1);
        }
    }
}

#[test]
fn gap_of_one_frame_needs_memory_one() {
    // Bubble A misses frame 4; bubble B (far away) keeps every frame present.
    let mut pts = Vec::new();
    for f in 0..10u32 {
        if f != 4 {
            pts.push((f, 0.02 * f as f64, 1.0));
        }
        pts.push((f, 5.0, 5.0));
    }
    let mut cfg = LinkConfig::new(0.1, FR);
    let out = run(&pts, &cfg, PredictorKind::None);
    assert_eq!(frames_of(&out), vec![vec![0, 1, 2, 3], (0..10).collect(), vec![5, 6, 7, 8, 9]]);
    cfg.memory = 1;
    let out = run(&pts, &cfg, PredictorKind::None);
    assert_eq!(frames_of(&out), vec![vec![0, 1, 2, 3, 5, 6, 7, 8, 9], (0..10).collect()]);
    // Central difference across the gap: 0.04 mm over 2 frames = 20 mm/s.
    let a = &out.tracks.tracks[0];
    assert!((a.points[3].vx_mm_s - (0.1 - 0.04) / 3.0 * FR).abs() < 1e-9);
    assert!((a.points[4].vx_mm_s - 20.0).abs() < 1e-9, "{:?}", a.points[4]);
    // A two-frame gap is too long for memory 1.
    let pts2: Vec<_> = pts.iter().copied().filter(|p| !(p.0 == 5 && p.1 < 1.0)).collect();
    assert_eq!(run(&pts2, &cfg, PredictorKind::None).tracks.len(), 3);
}

#[test]
fn fast_bubble_needs_the_velocity_predictor() {
    // Steps grow 0.09, 0.13, 0.17 … mm: only the first is within the 0.1 mm range, but
    // the prediction error (the change of step) stays 0.04 mm.
    let mut x = 0.0;
    let mut pts = vec![(0u32, 0.0, 2.0)];
    for f in 1..8u32 {
        x += 0.09 + 0.04 * (f - 1) as f64;
        pts.push((f, x, 2.0));
    }
    let cfg = LinkConfig::new(0.1, FR);
    let none = run(&pts, &cfg, PredictorKind::None);
    assert_eq!(frames_of(&none)[0], vec![0, 1]);
    assert_eq!(none.tracks.len(), 7);
    for kind in [PredictorKind::Velocity, PredictorKind::Kalman] {
        let out = run(&pts, &cfg, kind);
        assert_eq!(frames_of(&out), vec![(0..8).collect::<Vec<u32>>()], "{kind:?}");
    }
}

#[test]
fn velocity_outlier_is_rejected() {
    // Steady 0.02 mm/frame; at frame 5 a spurious detection 0.09 mm off the path.
    let mut pts: Vec<(u32, f64, f64)> = (0..10u32).filter(|&f| f != 5).map(|f| (f, 0.02 * f as f64, 0.0)).collect();
    pts.push((5, 0.10, 0.09));
    pts.sort_by_key(|p| p.0);
    let mut cfg = LinkConfig::new(0.1, FR);
    cfg.memory = 1;
    let out = run(&pts, &cfg, PredictorKind::None);
    assert_eq!(frames_of(&out), vec![(0..10).collect::<Vec<u32>>()], "without rejection the outlier is linked");
    cfg.max_speed_ratio = Some(3.0);
    let out = run(&pts, &cfg, PredictorKind::None);
    assert_eq!(frames_of(&out), vec![vec![0, 1, 2, 3, 4, 6, 7, 8, 9], vec![5]]);
    assert_eq!(out.tracks.tracks[1].points[0].x_mm, 0.10);
    // A floor above the outlier's step disables the rejection for it.
    cfg.min_rejectable_step_mm = 0.1;
    assert_eq!(run(&pts, &cfg, PredictorKind::None).tracks.len(), 1);
}

#[test]
fn min_length_drops_short_tracks_and_their_rows() {
    let pts = [(0, 0.0, 0.0), (1, 0.01, 0.0), (2, 0.02, 0.0), (1, 3.0, 3.0)];
    let mut cfg = LinkConfig::new(0.1, FR);
    cfg.min_length = 2;
    let out = run(&pts, &cfg, PredictorKind::None);
    assert_eq!(out.tracks.len(), 1);
    assert_eq!(out.row_track, vec![Some(0), Some(0), Some(0), None]);
}

#[test]
fn streaming_memory_stays_bounded() {
    // 20,000 frames; a bubble is born every frame and lives 5 frames.
    let mut cfg = LinkConfig::new(0.1, FR);
    cfg.memory = 2;
    let mut linker = Linker::new(cfg, NoPredictor).unwrap();
    let mut max_open = 0;
    let mut n_tracks = 0;
    for f in 0..20_000u32 {
        // Bubble born at frame b sits at x = 0.5 b mm and moves 0.01 mm per frame in z.
        let pos: Vec<[f64; 2]> =
            (0..5u32).filter(|&a| f >= a).map(|a| [0.5 * (f - a) as f64, 0.01 * a as f64]).collect();
        linker.next_frame(f, &pos).unwrap();
        max_open = max_open.max(linker.n_open());
        n_tracks += linker.take_finished().len();
    }
    n_tracks += linker.finish().len();
    assert_eq!(n_tracks, 20_000);
    // 5 live bubbles plus the 3 that vanished in the last memory + 1 = 3 frames (a track
    // last seen at f - 3 may still continue at f).
    assert_eq!(max_open, 8);
}

#[test]
fn bad_input_is_an_error() {
    let mut linker = Linker::new(LinkConfig::new(0.1, FR), NoPredictor).unwrap();
    linker.next_frame(3, &[[0.0, 0.0]]).unwrap();
    assert!(matches!(linker.next_frame(3, &[]), Err(TrackError::FrameOrder { last: 3, got: 3 })));
    assert!(matches!(linker.next_frame(4, &[[f64::NAN, 0.0]]), Err(TrackError::NonFinite { frame: 4, index: 0 })));
    assert!(Linker::new(LinkConfig::new(0.0, FR), NoPredictor).is_err());
    let mut cfg = LinkConfig::new(0.1, FR);
    cfg.max_speed_ratio = Some(0.5);
    assert!(cfg.validate().is_err());
}
