//! Helpers shared by the integration tests.

use ulm_core::{Localizations, NoProgress};
use ulm_track::{LinkConfig, Linked, PredictorKind, SpatialIndex, link_with};

/// Everything a linking result says, bit for bit: each track's id and points (frame,
/// position, velocity bits) and each row's track id.
type Fingerprint = (Vec<(u64, Vec<(u32, [u64; 4])>)>, Vec<Option<u64>>);

fn fingerprint(out: &Linked) -> Fingerprint {
    let tracks = out
        .tracks
        .tracks
        .iter()
        .map(|t| {
            let pts =
                t.points.iter().map(|p| (p.frame, [p.x_mm, p.z_mm, p.vx_mm_s, p.vz_mm_s].map(f64::to_bits))).collect();
            (t.id, pts)
        })
        .collect();
    (tracks, out.row_track.clone())
}

/// Links with both spatial indexes, asserts that the results are identical, and
/// returns the KD-tree's.
pub fn link_both(locs: &Localizations, cfg: &LinkConfig, kind: PredictorKind) -> Linked {
    let run = |index| link_with(locs, &LinkConfig { index, ..*cfg }, kind, &NoProgress).unwrap();
    let (kd, grid) = (run(SpatialIndex::KdTree), run(SpatialIndex::Grid));
    assert!(fingerprint(&kd) == fingerprint(&grid), "KD-tree and grid links differ ({kind:?}, {cfg:?})");
    kd
}
