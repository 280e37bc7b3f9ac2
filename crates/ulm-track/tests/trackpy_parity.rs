//! Parity with trackpy 0.7 `link` (no predictor, search range 0.15 mm, memory 1) on a
//! dense synthetic set. Fixture made by `scripts/trackpy_parity.py --fixture
//! crates/ulm-track/tests/fixtures --search-range-mm 0.15 --memory 1`.

use std::collections::BTreeSet;

use ulm_core::{Localizations, NoProgress};
use ulm_track::{LinkConfig, NoPredictor, link};

/// Pairs of consecutive rows (by frame) sharing a track id.
fn links(frames: &[u32], ids: &[i64]) -> BTreeSet<(usize, usize)> {
    let mut order: Vec<usize> = (0..ids.len()).collect();
    order.sort_by_key(|&i| (ids[i], frames[i]));
    order.windows(2).filter(|w| ids[w[0]] == ids[w[1]]).map(|w| (w[0], w[1])).collect()
}

#[test]
fn same_links_as_trackpy() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/trackpy_links.csv"))
        .expect("fixture");
    let mut locs = Localizations::new();
    let mut tp_ids = Vec::new();
    for line in text.lines().skip(1) {
        let c: Vec<&str> = line.split(',').collect();
        locs.push(c[0].parse().unwrap(), c[1].parse().unwrap(), c[2].parse().unwrap(), 1.0);
        tp_ids.push(c[3].parse::<i64>().unwrap());
    }
    let mut cfg = LinkConfig::new(0.15, 1000.0);
    cfg.memory = 1;
    let out = link(&locs, &cfg, NoPredictor, &NoProgress).unwrap();
    let ours: Vec<i64> = out.row_track.iter().map(|t| t.expect("min_length 1 keeps all") as i64).collect();
    let (a, b) = (links(&locs.frame, &tp_ids), links(&locs.frame, &ours));
    assert!(a.len() > 2000, "fixture has {} links", a.len());
    let only_tp: Vec<_> = a.difference(&b).collect();
    let only_us: Vec<_> = b.difference(&a).collect();
    assert!(only_tp.is_empty() && only_us.is_empty(), "trackpy only: {only_tp:?}\nulm only: {only_us:?}");
    // The set must exercise the subnet solver, not only isolated pairs: count bubbles
    // with two or more candidates in the previous frame.
    let ambiguous = (0..locs.len())
        .filter(|&i| {
            (0..locs.len())
                .filter(|&j| {
                    locs.frame[j] + 1 == locs.frame[i]
                        && (locs.x_mm[i] - locs.x_mm[j]).hypot(locs.z_mm[i] - locs.z_mm[j]) <= 0.15
                })
                .count()
                >= 2
        })
        .count();
    assert!(ambiguous >= 20, "only {ambiguous} ambiguous bubbles");
    let n_tracks = ours.iter().collect::<BTreeSet<_>>().len();
    assert_eq!(n_tracks, tp_ids.iter().collect::<BTreeSet<_>>().len());
}
