//! Localization and track tables in the format their file name asks for: `.parquet` (or
//! `.pq`) → Apache Parquet, anything else → CSV. The columns are the same in both
//! (see the crate docs); the CLI and the libraries call these functions only.

use std::path::Path;

use ulm_core::{Localizations, Tracks};

use crate::Result;
use crate::csv_table::{read_localizations_csv, read_tracks_csv, write_localizations_csv, write_tracks_csv};
use crate::parquet_table::{
    read_localizations_parquet, read_tracks_parquet, write_localizations_parquet, write_tracks_parquet,
};

/// On-disk format of a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableFormat {
    /// Comma-separated text with a header row.
    Csv,
    /// Apache Parquet (Snappy-compressed when written).
    Parquet,
}

impl TableFormat {
    /// The format a file name asks for: `.parquet` / `.pq` (any case) → Parquet, else CSV.
    pub fn from_path(path: &Path) -> Self {
        match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
            Some("parquet" | "pq") => TableFormat::Parquet,
            _ => TableFormat::Csv,
        }
    }
}

/// Reads a localization / ground-truth table (CSV or Parquet by extension). Required
/// columns `frame, x_mm, z_mm`; optional `score` (1.0 when absent), `w_mm`, `h_mm`; any
/// other column is kept as text in [`Localizations::extra`].
pub fn read_localizations(path: &Path) -> Result<Localizations> {
    match TableFormat::from_path(path) {
        TableFormat::Csv => read_localizations_csv(path),
        TableFormat::Parquet => read_localizations_parquet(path),
    }
}

/// Writes a localization table (atomically; CSV or Parquet by extension): `frame, x_mm,
/// z_mm, score`, then `w_mm, h_mm` when present, then the extra columns in their order.
pub fn write_localizations(path: &Path, locs: &Localizations) -> Result<()> {
    match TableFormat::from_path(path) {
        TableFormat::Csv => write_localizations_csv(path, locs),
        TableFormat::Parquet => write_localizations_parquet(path, locs),
    }
}

/// Reads a tracks table (CSV or Parquet by extension): `track_id, frame, x_mm, z_mm`
/// required, `vx_mm_s, vz_mm_s` optional (NaN when absent). Points are grouped by
/// `track_id` (tracks in increasing id) and sorted by frame (stable).
pub fn read_tracks(path: &Path) -> Result<Tracks> {
    match TableFormat::from_path(path) {
        TableFormat::Csv => read_tracks_csv(path),
        TableFormat::Parquet => read_tracks_parquet(path),
    }
}

/// Writes a tracks table (atomically; CSV or Parquet by extension):
/// `track_id, frame, x_mm, z_mm, vx_mm_s, vz_mm_s`; undefined velocities are NaN.
pub fn write_tracks(path: &Path, tracks: &Tracks) -> Result<()> {
    match TableFormat::from_path(path) {
        TableFormat::Csv => write_tracks_csv(path, tracks),
        TableFormat::Parquet => write_tracks_parquet(path, tracks),
    }
}

#[cfg(test)]
mod tests {
    use ulm_core::{Track, TrackPoint};

    use super::*;

    fn sample_locs() -> Localizations {
        let mut l = Localizations::new();
        for i in 0..1000u32 {
            let x = f64::from(i) * 0.013 - 2.0;
            l.push(i / 7, x, 3.0 + x * x / 7.0, (i % 97) as f32 / 97.0);
        }
        l.w_mm = Some((0..1000).map(|i| f64::from(i) * 1e-3).collect());
        l.set_extra("note", (0..1000).map(|i| if i % 3 == 0 { "a,b".into() } else { i.to_string() }).collect());
        l
    }

    fn sample_tracks() -> Tracks {
        let pt = |frame, v| TrackPoint { frame, x_mm: 0.1 * f64::from(frame), z_mm: 7.25, vx_mm_s: v, vz_mm_s: -v };
        Tracks {
            tracks: (0..300)
                .map(|id| Track {
                    id: id * 3 + u64::from(id == 299) * (u64::MAX - 897),
                    points: (0..(id % 5 + 1) as u32)
                        .map(|f| pt(f + id as u32, if f == 0 { f64::NAN } else { 2.5 }))
                        .collect(),
                })
                .collect(),
        }
    }

    /// Same ids and frames; positions within `pos` mm and velocities within `vel` mm/s
    /// (0: equal bit for bit), any NaN equal to any NaN (CSV writes a NaN's sign nowhere).
    fn same_tracks(a: &Tracks, b: &Tracks, pos: f64, vel: f64) -> bool {
        let close = |u: f64, v: f64, tol: f64| (u.is_nan() && v.is_nan()) || u == v || (u - v).abs() <= tol;
        let points = |t: &Tracks| -> Vec<(u64, TrackPoint)> {
            t.tracks.iter().flat_map(|t| t.points.iter().map(move |p| (t.id, *p))).collect()
        };
        let (pa, pb) = (points(a), points(b));
        pa.len() == pb.len()
            && pa.iter().zip(&pb).all(|((ia, p), (ib, q))| {
                ia == ib
                    && p.frame == q.frame
                    && close(p.x_mm, q.x_mm, pos)
                    && close(p.z_mm, q.z_mm, pos)
                    && close(p.vx_mm_s, q.vx_mm_s, vel)
                    && close(p.vz_mm_s, q.vz_mm_s, vel)
            })
    }

    #[test]
    fn format_follows_the_extension() {
        for (name, f) in [
            ("a.parquet", TableFormat::Parquet),
            ("a.PQ", TableFormat::Parquet),
            ("a.csv", TableFormat::Csv),
            ("a", TableFormat::Csv),
            ("a.parquet.csv", TableFormat::Csv),
        ] {
            assert_eq!(TableFormat::from_path(Path::new(name)), f, "{name}");
        }
    }

    /// Both formats round-trip every localization bit for bit; tracks too in Parquet, and in
    /// CSV to its decimals (half a unit of the last: 5e-7 mm, 5e-5 mm/s), not bit for bit
    /// (`0.1 · 3` is written `0.3`).
    #[test]
    fn csv_and_parquet_round_trip_the_same_tables() {
        let dir = tempfile::tempdir().unwrap();
        let l = sample_locs();
        let t = sample_tracks();
        for ext in ["csv", "parquet"] {
            let p = dir.path().join(format!("locs.{ext}"));
            write_localizations(&p, &l).unwrap();
            assert_eq!(read_localizations(&p).unwrap(), l, "{ext}");
            let p = dir.path().join(format!("tracks.{ext}"));
            write_tracks(&p, &t).unwrap();
            let back = read_tracks(&p).unwrap();
            if ext == "parquet" {
                assert!(same_tracks(&back, &t, 0.0, 0.0), "{ext}");
            } else {
                assert!(same_tracks(&back, &t, 5e-7, 5e-5), "{ext}");
                assert!(!same_tracks(&back, &t, 0.0, 0.0), "{ext}: rounded");
            }
        }
        let head = std::fs::read(dir.path().join("tracks.parquet")).unwrap();
        assert_eq!(&head[..4], b"PAR1");
    }

    #[test]
    fn parquet_errors_name_the_file_and_problem() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("fake.parquet");
        std::fs::write(&p, "frame,x_mm,z_mm\n0,1,2\n").unwrap();
        let e = read_localizations(&p).unwrap_err().to_string();
        assert!(e.contains("fake.parquet") && e.contains("Parquet"), "{e}");
        // A tracks file lacks the localization column `score`? Fine; lacks `track_id`: error.
        let l = sample_locs();
        let p = dir.path().join("locs.parquet");
        write_localizations(&p, &l).unwrap();
        let e = read_tracks(&p).unwrap_err().to_string();
        assert!(e.contains("`track_id`") && e.contains("locs.parquet"), "{e}");
        // Truncated file.
        let bytes = std::fs::read(&p).unwrap();
        std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
        assert!(read_localizations(&p).unwrap_err().to_string().contains("locs.parquet"));
    }
}
