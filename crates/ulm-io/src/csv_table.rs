use std::collections::BTreeMap;
use std::path::Path;

use ulm_core::{ExtraColumn, Localizations, Track, TrackPoint, Tracks};

use crate::{Error, Result, atomic_write};

const KNOWN: [&str; 6] = ["frame", "x_mm", "z_mm", "score", "w_mm", "h_mm"];

fn parse_cell<T: std::str::FromStr>(path: &Path, line: u64, col: &str, cell: &str) -> Result<T> {
    cell.trim()
        .parse::<T>()
        .map_err(|_| Error::format(path, format!("line {line}, column `{col}`: `{cell}` is not a valid number")))
}

fn open_csv(path: &Path) -> Result<(csv::Reader<std::fs::File>, Vec<String>)> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut rdr = csv::ReaderBuilder::new().has_headers(true).flexible(false).trim(csv::Trim::All).from_reader(file);
    let headers: Vec<String> = rdr
        .headers()
        .map_err(|e| Error::format(path, format!("cannot read CSV header: {e}")))?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    Ok((rdr, headers))
}

fn require(path: &Path, headers: &[String], name: &str) -> Result<usize> {
    headers
        .iter()
        .position(|h| h == name)
        .ok_or_else(|| Error::format(path, format!("missing required column `{name}` (header: {})", headers.join(","))))
}

/// Reads a localization / ground-truth CSV. Required columns `frame, x_mm, z_mm`;
/// optional `score` (1.0 when absent), `w_mm`, `h_mm`; any other column is kept verbatim
/// in [`Localizations::extra`].
pub fn read_localizations(path: &Path) -> Result<Localizations> {
    let (mut rdr, headers) = open_csv(path)?;
    let i_frame = require(path, &headers, "frame")?;
    let i_x = require(path, &headers, "x_mm")?;
    let i_z = require(path, &headers, "z_mm")?;
    let i_score = headers.iter().position(|h| h == "score");
    let i_w = headers.iter().position(|h| h == "w_mm");
    let i_h = headers.iter().position(|h| h == "h_mm");
    let extra_idx: Vec<usize> = (0..headers.len()).filter(|&i| !KNOWN.contains(&headers[i].as_str())).collect();
    let mut out = Localizations::new();
    let mut w = i_w.map(|_| Vec::new());
    let mut h = i_h.map(|_| Vec::new());
    let mut extra: Vec<ExtraColumn> =
        extra_idx.iter().map(|&i| ExtraColumn { name: headers[i].clone(), values: Vec::new() }).collect();
    for rec in rdr.records() {
        let rec = rec.map_err(|e| Error::format(path, format!("malformed CSV: {e}")))?;
        let line = rec.position().map_or(0, |p| p.line());
        let frame: u32 = parse_cell(path, line, "frame", &rec[i_frame])?;
        let x: f64 = parse_cell(path, line, "x_mm", &rec[i_x])?;
        let z: f64 = parse_cell(path, line, "z_mm", &rec[i_z])?;
        if !(x.is_finite() && z.is_finite()) {
            return Err(Error::format(path, format!("line {line}: non-finite position ({x}, {z})")));
        }
        let score: f32 = match i_score {
            Some(i) => parse_cell(path, line, "score", &rec[i])?,
            None => 1.0,
        };
        out.push(frame, x, z, score);
        if let (Some(i), Some(v)) = (i_w, w.as_mut()) {
            v.push(parse_cell(path, line, "w_mm", &rec[i])?);
        }
        if let (Some(i), Some(v)) = (i_h, h.as_mut()) {
            v.push(parse_cell(path, line, "h_mm", &rec[i])?);
        }
        for (col, &i) in extra.iter_mut().zip(&extra_idx) {
            col.values.push(rec[i].to_string());
        }
    }
    out.w_mm = w;
    out.h_mm = h;
    out.extra = extra;
    Ok(out)
}

/// Writes a localization CSV (atomically): `frame,x_mm,z_mm,score`, then `w_mm,h_mm`
/// when present, then the extra columns in their order.
pub fn write_localizations(path: &Path, locs: &Localizations) -> Result<()> {
    locs.validate().map_err(|e| Error::data(path, e))?;
    atomic_write(path, |w| {
        let mut wr = csv::Writer::from_writer(w);
        let mut header: Vec<&str> = vec!["frame", "x_mm", "z_mm", "score"];
        if locs.w_mm.is_some() {
            header.push("w_mm");
        }
        if locs.h_mm.is_some() {
            header.push("h_mm");
        }
        header.extend(locs.extra.iter().map(|c| c.name.as_str()));
        wr.write_record(&header)?;
        let mut row: Vec<String> = Vec::with_capacity(header.len());
        for i in 0..locs.len() {
            row.clear();
            row.push(locs.frame[i].to_string());
            row.push(locs.x_mm[i].to_string());
            row.push(locs.z_mm[i].to_string());
            row.push(locs.score[i].to_string());
            if let Some(v) = &locs.w_mm {
                row.push(v[i].to_string());
            }
            if let Some(v) = &locs.h_mm {
                row.push(v[i].to_string());
            }
            for c in &locs.extra {
                row.push(c.values[i].clone());
            }
            wr.write_record(&row)?;
        }
        wr.flush()?;
        Ok(())
    })
}

/// Reads a tracks CSV: `track_id, frame, x_mm, z_mm` required, `vx_mm_s, vz_mm_s`
/// optional (NaN when absent). Points are grouped by `track_id` and sorted by frame.
pub fn read_tracks(path: &Path) -> Result<Tracks> {
    let (mut rdr, headers) = open_csv(path)?;
    let i_id = require(path, &headers, "track_id")?;
    let i_frame = require(path, &headers, "frame")?;
    let i_x = require(path, &headers, "x_mm")?;
    let i_z = require(path, &headers, "z_mm")?;
    let i_vx = headers.iter().position(|h| h == "vx_mm_s");
    let i_vz = headers.iter().position(|h| h == "vz_mm_s");
    let mut by_id: BTreeMap<u64, Vec<TrackPoint>> = BTreeMap::new();
    for rec in rdr.records() {
        let rec = rec.map_err(|e| Error::format(path, format!("malformed CSV: {e}")))?;
        let line = rec.position().map_or(0, |p| p.line());
        let id: u64 = parse_cell(path, line, "track_id", &rec[i_id])?;
        let opt = |i: Option<usize>, name: &str| -> Result<f64> {
            match i {
                Some(i) => parse_cell(path, line, name, &rec[i]),
                None => Ok(f64::NAN),
            }
        };
        let p = TrackPoint {
            frame: parse_cell(path, line, "frame", &rec[i_frame])?,
            x_mm: parse_cell(path, line, "x_mm", &rec[i_x])?,
            z_mm: parse_cell(path, line, "z_mm", &rec[i_z])?,
            vx_mm_s: opt(i_vx, "vx_mm_s")?,
            vz_mm_s: opt(i_vz, "vz_mm_s")?,
        };
        if !(p.x_mm.is_finite() && p.z_mm.is_finite()) {
            return Err(Error::format(path, format!("line {line}: non-finite position ({}, {})", p.x_mm, p.z_mm)));
        }
        by_id.entry(id).or_default().push(p);
    }
    let tracks = by_id
        .into_iter()
        .map(|(id, mut points)| {
            points.sort_by_key(|p| p.frame);
            Track { id, points }
        })
        .collect();
    Ok(Tracks { tracks })
}

/// Writes a tracks CSV (atomically): `track_id,frame,x_mm,z_mm,vx_mm_s,vz_mm_s`.
pub fn write_tracks(path: &Path, tracks: &Tracks) -> Result<()> {
    atomic_write(path, |w| {
        let mut wr = csv::Writer::from_writer(w);
        wr.write_record(["track_id", "frame", "x_mm", "z_mm", "vx_mm_s", "vz_mm_s"])?;
        for t in &tracks.tracks {
            for p in &t.points {
                wr.write_record(&[
                    t.id.to_string(),
                    p.frame.to_string(),
                    p.x_mm.to_string(),
                    p.z_mm.to_string(),
                    p.vx_mm_s.to_string(),
                    p.vz_mm_s.to_string(),
                ])?;
            }
        }
        wr.flush()?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn localizations_round_trip_with_extra_columns() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("locs.csv");
        let mut l = Localizations::new();
        l.push(0, 1.25, 3.5, 0.75);
        l.push(3, -0.1, 4.0000001, 1.0);
        l.w_mm = Some(vec![0.1, 0.2]);
        l.set_extra("track_id", vec!["4".into(), "x".into()]);
        write_localizations(&p, &l).unwrap();
        assert_eq!(read_localizations(&p).unwrap(), l);
    }

    #[test]
    fn missing_column_and_bad_cell_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bad.csv");
        std::fs::write(&p, "frame,x_mm\n0,1\n").unwrap();
        let e = read_localizations(&p).unwrap_err().to_string();
        assert!(e.contains("bad.csv") && e.contains("`z_mm`"), "{e}");
        std::fs::write(&p, "frame,x_mm,z_mm\n0,1,2\n1,abc,2\n").unwrap();
        let e = read_localizations(&p).unwrap_err().to_string();
        assert!(e.contains("line 3") && e.contains("x_mm") && e.contains("abc"), "{e}");
    }

    #[test]
    fn tracks_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("tracks.csv");
        let pt = |frame, x_mm| TrackPoint { frame, x_mm, z_mm: 2.0, vx_mm_s: 1.5, vz_mm_s: -0.5 };
        let t = Tracks {
            tracks: vec![
                Track { id: 1, points: vec![pt(0, 0.0), pt(1, 0.1)] },
                Track { id: 5, points: vec![pt(4, 1.0)] },
            ],
        };
        write_tracks(&p, &t).unwrap();
        assert_eq!(read_tracks(&p).unwrap(), t);
    }
}
