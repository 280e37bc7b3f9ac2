//! Mutation tests of the localization and track CSV readers (see `mutate/mod.rs`: no
//! panic, no hang, allocation bounded by the file size, errors that name the file).

mod mutate;

use std::fmt::Write;

use ulm_io::{read_localizations, read_tracks};

use mutate::{Counting, Outcome, fuzz};

#[global_allocator]
static ALLOC: Counting = Counting;

/// Room for the CSV reader's buffer and the tables.
const SLACK: usize = 4 << 20;

fn outcome<T>(r: ulm_io::Result<T>) -> Outcome {
    match r {
        Ok(_) => Outcome::Ok,
        Err(e) => Outcome::Err(e.to_string()),
    }
}

#[test]
fn fuzz_localization_csv() {
    let mut text = String::from("frame,x_mm,z_mm,score,w_mm,h_mm,x_px,track_id,note\n");
    for i in 0..12 {
        let f = i / 3;
        writeln!(
            text,
            "{f},{},{},{},0.1,0.12,{},{},r{i}",
            0.5 + i as f64 * 0.25,
            2.0 - i as f64 / 8.0,
            0.9,
            i * 2,
            i % 4
        )
        .unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("locs.csv");
    let n = fuzz(
        "localization csv",
        text.as_bytes(),
        &p,
        3000,
        true,
        |l| 64 * l + SLACK,
        |p| outcome(read_localizations(p)),
    );
    eprintln!("localization CSV: {n} cases");
}

#[test]
fn fuzz_track_csv() {
    let mut text = String::from("track_id,frame,x_mm,z_mm,vx_mm_s,vz_mm_s\n");
    for i in 0..12 {
        writeln!(text, "{},{},{},{},{},-3.5", i / 4, i % 4, 1.0 + i as f64 * 0.1, 3.0 - i as f64 * 0.05, 12.5).unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("tracks.csv");
    let n = fuzz("track csv", text.as_bytes(), &p, 3000, true, |l| 64 * l + SLACK, |p| outcome(read_tracks(p)));
    eprintln!("track CSV: {n} cases");
}
