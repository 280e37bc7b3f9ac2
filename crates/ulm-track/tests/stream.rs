//! The streaming loop [`link_frames`] gives exactly the tracks of the batch [`link_with`]:
//! the same ids, points and velocities, in the same order, whatever the predictor, with gap
//! memory, velocity rejection, a length filter and frames without localizations.

use ulm_core::{Localizations, NoProgress, Track};
use ulm_track::{LinkConfig, Linker, NoPredictor, PredictorKind, TrackError, link_frames_with, link_with};

/// `n` bubbles on random walks in a 3 mm × 3 mm field, 10 % missed, every 9th frame empty.
fn walks(frames: u32, n: usize) -> Localizations {
    let mut seed = 17u64;
    let mut rnd = move || {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (seed >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut pos: Vec<[f64; 2]> = (0..n).map(|_| [rnd() * 3.0, rnd() * 3.0]).collect();
    let mut locs = Localizations::new();
    for f in 0..frames {
        for p in &mut pos {
            p[0] += (rnd() - 0.5) * 0.1;
            p[1] += (rnd() - 0.5) * 0.1;
            if f % 9 != 4 && rnd() > 0.1 {
                locs.push(f, p[0], p[1], 1.0);
            }
        }
    }
    locs
}

fn bits(t: &[Track]) -> Vec<(u64, Vec<[u64; 5]>)> {
    let pt = |p: &ulm_core::TrackPoint| {
        [u64::from(p.frame), p.x_mm.to_bits(), p.z_mm.to_bits(), p.vx_mm_s.to_bits(), p.vz_mm_s.to_bits()]
    };
    t.iter().map(|t| (t.id, t.points.iter().map(pt).collect())).collect()
}

#[test]
fn streaming_gives_the_batch_tracks() {
    let locs = walks(300, 120);
    let frames: Vec<(u32, Vec<[f64; 2]>)> = locs
        .rows_by_frame(0)
        .iter()
        .enumerate()
        .filter(|(_, r)| !r.is_empty())
        .map(|(f, r)| (f as u32, r.iter().map(|&i| [locs.x_mm[i], locs.z_mm[i]]).collect()))
        .collect();
    for kind in [PredictorKind::None, PredictorKind::Velocity, PredictorKind::Kalman] {
        let mut cfg = LinkConfig::new(0.08, 1000.0);
        (cfg.memory, cfg.min_length, cfg.max_speed_ratio, cfg.min_rejectable_step_mm) = (2, 4, Some(3.0), 0.01);
        let want = link_with(&locs, &cfg, kind, &NoProgress).unwrap();
        let mut batches: Vec<Vec<Track>> = Vec::new();
        let input = frames.iter().cloned().map(Ok::<_, TrackError>);
        let stats = link_frames_with(input, &cfg, kind, &NoProgress, |b| {
            batches.push(b);
            Ok(())
        })
        .unwrap();
        let got: Vec<Track> = batches.iter().flatten().cloned().collect();
        assert!(bits(&got) == bits(&want.tracks.tracks), "{kind:?}");
        assert!(batches.len() > 3, "{kind:?}: tracks come out while linking ({} batches)", batches.len());
        let kept = want.row_track.iter().filter(|t| t.is_some()).count();
        assert_eq!((stats.rows, stats.n_frames), (locs.len(), locs.n_frames()));
        assert_eq!((stats.tracks, stats.points), (want.tracks.len(), kept));
        assert!(want.tracks.len() > 100 && want.tracks.len() < stats.rows / 4, "{kind:?}: {}", want.tracks.len());
    }
}

/// Errors of the input, of the linker and of the sink stop the loop.
#[test]
fn errors_stop_the_stream() {
    let cfg = LinkConfig::new(0.1, 1000.0);
    let input = vec![Ok((0, vec![[0.0, 0.0]])), Err(TrackError::Config("input".into()))];
    let r = link_frames_with(input, &cfg, PredictorKind::None, &NoProgress, |_| Ok(()));
    assert!(matches!(r, Err(TrackError::Config(m)) if m == "input"));
    let input = vec![Ok((3, vec![[0.0, 0.0]])), Ok((3, vec![[0.0, 0.0]]))];
    let r = link_frames_with(input, &cfg, PredictorKind::None, &NoProgress, |_| Ok(()));
    assert!(matches!(r, Err(TrackError::FrameOrder { last: 3, got: 3 })));
    let input = vec![Ok::<_, TrackError>((0, vec![[0.0, 0.0]]))];
    let r = link_frames_with(input, &cfg, PredictorKind::None, &NoProgress, |_| Err(TrackError::Config("sink".into())));
    assert!(matches!(r, Err(TrackError::Config(m)) if m == "sink"));
}

/// `take_ready` holds a closed track back until every older track has closed.
#[test]
fn ready_tracks_come_in_id_order() {
    let mut l = Linker::new(LinkConfig::new(0.1, 1000.0), NoPredictor).unwrap();
    l.next_frame(0, &[[0.0, 0.0]]).unwrap(); // track 0, lives on
    l.next_frame(1, &[[0.0, 0.0], [5.0, 5.0]]).unwrap(); // track 1 at (5, 5)
    l.next_frame(2, &[[0.0, 0.0], [8.0, 8.0]]).unwrap(); // 1 closes, track 2 opens
    l.next_frame(3, &[[0.0, 0.0]]).unwrap(); // 2 closes
    assert!(l.take_ready().is_empty(), "0 is still open");
    l.next_frame(5, &[[1.0, 1.0]]).unwrap(); // 0 closes; track 3 opens
    let ids: Vec<u64> = l.take_ready().iter().map(|t| t.id).collect();
    assert_eq!(ids, [0, 1, 2]);
    assert_eq!(l.finish().iter().map(|t| t.id).collect::<Vec<_>>(), [3]);
}
