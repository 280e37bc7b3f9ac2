//! Localization and track CSV tables. Reading reuses one `csv::ByteRecord` and parses
//! numbers straight from its (trimmed) bytes; writing formats every row into one reusable byte buffer
//! (floats in shortest round-trip form, exactly as `f64::to_string` prints them).

use std::io::Write;
use std::path::Path;

use ulm_core::{ExtraColumn, Localizations, Track, TrackPoint, Tracks};

use crate::{Error, Result, atomic_write};

const KNOWN: [&str; 6] = ["frame", "x_mm", "z_mm", "score", "w_mm", "h_mm"];

fn parse_cell<T: std::str::FromStr>(path: &Path, line: u64, col: &str, cell: &[u8]) -> Result<T> {
    std::str::from_utf8(cell).ok().and_then(|c| c.trim().parse::<T>().ok()).ok_or_else(|| {
        let cell = String::from_utf8_lossy(cell);
        let cell = cell.trim();
        Error::format(path, format!("line {line}, column `{col}`: `{cell}` is not a valid number"))
    })
}

fn open_csv(path: &Path) -> Result<(csv::Reader<std::fs::File>, Vec<String>)> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut rdr =
        csv::ReaderBuilder::new().has_headers(true).flexible(false).buffer_capacity(1 << 16).from_reader(file);
    let headers: Vec<String> = rdr
        .headers()
        .map_err(|e| Error::format(path, format!("cannot read CSV header: {e}")))?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    Ok((rdr, headers))
}

/// Reads the next record into `rec`; `Ok(false)` at the end of the file.
fn next_record(path: &Path, rdr: &mut csv::Reader<std::fs::File>, rec: &mut csv::ByteRecord) -> Result<bool> {
    rdr.read_byte_record(rec).map_err(|e| Error::format(path, format!("malformed CSV: {e}")))
}

fn require(path: &Path, headers: &[String], name: &str) -> Result<usize> {
    headers
        .iter()
        .position(|h| h == name)
        .ok_or_else(|| Error::format(path, format!("missing required column `{name}` (header: {})", headers.join(","))))
}

/// Appends `v` in decimal.
fn push_uint(buf: &mut Vec<u8>, mut v: u64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    buf.extend_from_slice(&tmp[i..]);
}

/// A float that ryu formats, with the number of binary digits after the point in its exact
/// value (0 for integers).
trait Shortest: ryu::Float + std::fmt::Display + Copy {
    fn frac_bits(self) -> i32;
}

/// `2^exp` scaled mantissa `m` (not zero): binary digits after the point of `m * 2^exp`.
fn frac_bits_of(m: u64, exp: i32) -> i32 {
    (-(exp + m.trailing_zeros() as i32)).max(0)
}

impl Shortest for f64 {
    fn frac_bits(self) -> i32 {
        let b = self.to_bits();
        let (e, m) = (((b >> 52) & 0x7ff) as i32, b & ((1 << 52) - 1));
        match (e, m) {
            (0, 0) => 0,
            (0, m) => frac_bits_of(m, -1074),
            (e, m) => frac_bits_of(m | (1 << 52), e - 1075),
        }
    }
}

impl Shortest for f32 {
    fn frac_bits(self) -> i32 {
        let b = self.to_bits();
        let (e, m) = (((b >> 23) & 0xff) as i32, u64::from(b & ((1 << 23) - 1)));
        match (e, m) {
            (0, 0) => 0,
            (0, m) => frac_bits_of(m, -149),
            (e, m) => frac_bits_of(m | (1 << 23), e - 150),
        }
    }
}

/// Appends `v` exactly as `v.to_string()` prints it: the shortest digits that round-trip,
/// `NaN`, `inf`, `-inf`. Ryu gives the same shortest, closest digits; its plain-decimal output
/// differs from `Display` only by a trailing `.0` on integers and on exact ties between two
/// shortest candidates (ryu rounds half to even, `Display` half up). A tie means the exact
/// value has one decimal (= binary) fractional digit more than the output; those, exponent
/// forms, NaN and infinities are left to `Display`.
fn push_float<F: Shortest>(buf: &mut Vec<u8>, fmt: &mut ryu::Buffer, v: F) {
    let s = fmt.format(v).as_bytes();
    let s = s.strip_suffix(b".0").unwrap_or(s);
    let plain = !s.contains(&b'e') && s.first().is_some_and(|&c| c == b'-' || c.is_ascii_digit());
    let frac_digits = s.iter().position(|&c| c == b'.').map_or(0, |p| (s.len() - p - 1) as i32);
    if plain && frac_digits + 1 != v.frac_bits() {
        buf.extend_from_slice(s);
    } else {
        write!(buf, "{v}").expect("writing to a Vec cannot fail");
    }
}

/// Appends a text field, quoted (quotes doubled) when it holds a comma, a quote or a line
/// break: the rule of `csv::Writer`'s default `QuoteStyle::Necessary`.
fn push_text(buf: &mut Vec<u8>, s: &str) {
    if s.bytes().any(|c| matches!(c, b',' | b'"' | b'\n' | b'\r')) {
        buf.push(b'"');
        for c in s.bytes() {
            if c == b'"' {
                buf.push(b'"');
            }
            buf.push(c);
        }
        buf.push(b'"');
    } else {
        buf.extend_from_slice(s.as_bytes());
    }
}

/// Buffered row output: rows go to `buf`, flushed to `w` in large chunks.
const FLUSH_AT: usize = 1 << 16;

fn flush_if_full(w: &mut impl Write, buf: &mut Vec<u8>) -> std::io::Result<()> {
    if buf.len() >= FLUSH_AT {
        w.write_all(buf)?;
        buf.clear();
    }
    Ok(())
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
    let mut rec = csv::ByteRecord::new();
    while next_record(path, &mut rdr, &mut rec)? {
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
            let text = std::str::from_utf8(&rec[i]).map_err(|_| {
                Error::format(path, format!("malformed CSV: line {line}, column `{}`: invalid UTF-8", col.name))
            })?;
            col.values.push(text.trim().to_string());
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
        let mut buf: Vec<u8> = Vec::with_capacity(FLUSH_AT + 4096);
        buf.extend_from_slice(b"frame,x_mm,z_mm,score");
        if locs.w_mm.is_some() {
            buf.extend_from_slice(b",w_mm");
        }
        if locs.h_mm.is_some() {
            buf.extend_from_slice(b",h_mm");
        }
        for c in &locs.extra {
            buf.push(b',');
            push_text(&mut buf, &c.name);
        }
        buf.push(b'\n');
        let mut fmt = ryu::Buffer::new();
        for i in 0..locs.len() {
            push_uint(&mut buf, u64::from(locs.frame[i]));
            buf.push(b',');
            push_float(&mut buf, &mut fmt, locs.x_mm[i]);
            buf.push(b',');
            push_float(&mut buf, &mut fmt, locs.z_mm[i]);
            buf.push(b',');
            push_float(&mut buf, &mut fmt, locs.score[i]);
            for v in [&locs.w_mm, &locs.h_mm].into_iter().flatten() {
                buf.push(b',');
                push_float(&mut buf, &mut fmt, v[i]);
            }
            for c in &locs.extra {
                buf.push(b',');
                push_text(&mut buf, &c.values[i]);
            }
            buf.push(b'\n');
            flush_if_full(w, &mut buf)?;
        }
        w.write_all(&buf)?;
        w.flush()
    })
}

/// Reads a tracks CSV: `track_id, frame, x_mm, z_mm` required, `vx_mm_s, vz_mm_s`
/// optional (NaN when absent). Points are grouped by `track_id` (tracks in increasing id)
/// and sorted by frame (stable: rows of equal frame keep their file order).
pub fn read_tracks(path: &Path) -> Result<Tracks> {
    let (mut rdr, headers) = open_csv(path)?;
    let i_id = require(path, &headers, "track_id")?;
    let i_frame = require(path, &headers, "frame")?;
    let i_x = require(path, &headers, "x_mm")?;
    let i_z = require(path, &headers, "z_mm")?;
    let i_vx = headers.iter().position(|h| h == "vx_mm_s");
    let i_vz = headers.iter().position(|h| h == "vz_mm_s");
    let mut rows: Vec<(u64, TrackPoint)> = Vec::new();
    let mut rec = csv::ByteRecord::new();
    while next_record(path, &mut rdr, &mut rec)? {
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
        rows.push((id, p));
    }
    // Stable sort (linear on a file already grouped and ordered), then split into tracks.
    rows.sort_by_key(|(id, p)| (*id, p.frame));
    let mut tracks: Vec<Track> = Vec::new();
    for (id, p) in rows {
        match tracks.last_mut() {
            Some(t) if t.id == id => t.points.push(p),
            _ => tracks.push(Track { id, points: vec![p] }),
        }
    }
    Ok(Tracks { tracks })
}

/// Writes a tracks CSV (atomically): `track_id,frame,x_mm,z_mm,vx_mm_s,vz_mm_s`.
/// Undefined velocities are written as `NaN`.
pub fn write_tracks(path: &Path, tracks: &Tracks) -> Result<()> {
    atomic_write(path, |w| {
        let mut buf: Vec<u8> = Vec::with_capacity(FLUSH_AT + 4096);
        buf.extend_from_slice(b"track_id,frame,x_mm,z_mm,vx_mm_s,vz_mm_s\n");
        let mut fmt = ryu::Buffer::new();
        for t in &tracks.tracks {
            for p in &t.points {
                push_uint(&mut buf, t.id);
                buf.push(b',');
                push_uint(&mut buf, u64::from(p.frame));
                for v in [p.x_mm, p.z_mm, p.vx_mm_s, p.vz_mm_s] {
                    buf.push(b',');
                    push_float(&mut buf, &mut fmt, v);
                }
                buf.push(b'\n');
                flush_if_full(w, &mut buf)?;
            }
        }
        w.write_all(&buf)?;
        w.flush()
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

    /// Deterministic pseudo-random 64-bit words (an LCG's high bits).
    fn words(n: usize) -> impl Iterator<Item = u64> {
        let mut s = 7u64;
        (0..n).map(move |_| {
            let mut w = 0u64;
            for _ in 0..2 {
                s = s.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                w = (w << 32) | (s >> 32);
            }
            w
        })
    }

    #[test]
    fn number_formatting_matches_display() {
        let mut fmt = ryu::Buffer::new();
        let mut buf = Vec::new();
        let special = [
            70_368_744_177_664.0 + 0.125, // exactly representable; Display rounds the tie up
            140737488355328.25,
            338810.125,
            0.0,
            -0.0,
            1.0,
            -3.0,
            0.1,
            1e-5,
            1.5e-5,
            1e-4,
            1e15,
            1e16,
            1.5e16,
            1e17,
            1e300,
            5e-324,
        ];
        let special = special.into_iter().chain([f64::NAN, f64::INFINITY, f64::NEG_INFINITY, f64::MAX, f64::MIN]);
        let random = words(20_000).flat_map(|w| {
            // Raw bit patterns (every exponent) and typical millimetre-scale values.
            [
                f64::from_bits(w),
                (w >> 11) as f64 / (1u64 << 53) as f64 * 25.0 - 5.0,
                (w % 100_000) as f64 / 1000.0,
                // Few fractional bits at large magnitude: where shortest candidates tie.
                (w >> (w % 40 + 11)) as f64 * 2f64.powi(-((w % 13) as i32)),
            ]
        });
        for v in special.chain(random) {
            buf.clear();
            push_float(&mut buf, &mut fmt, v);
            assert_eq!(std::str::from_utf8(&buf).unwrap(), v.to_string(), "{v:e}");
            buf.clear();
            let v32 = f32::from_bits(v.to_bits() as u32);
            push_float(&mut buf, &mut fmt, v32);
            assert_eq!(std::str::from_utf8(&buf).unwrap(), v32.to_string(), "{v32:e}");
            buf.clear();
            push_float(&mut buf, &mut fmt, v as f32);
            assert_eq!(std::str::from_utf8(&buf).unwrap(), (v as f32).to_string());
        }
        for v in words(1000).chain([0, 9, 10, 99, u64::MAX]) {
            buf.clear();
            push_uint(&mut buf, v);
            assert_eq!(std::str::from_utf8(&buf).unwrap(), v.to_string());
        }
    }

    /// The writers produce the same bytes as `csv::Writer` fed `to_string` cells (the
    /// previous implementation), including quoting of awkward extra columns.
    #[test]
    fn writers_match_csv_writer_reference() {
        let dir = tempfile::tempdir().unwrap();
        let mut l = Localizations::new();
        let texts = ["plain", "", "a,b", "say \"hi\"", "two\nlines", "cr\rx", " padded", "é"];
        for (k, w) in words(64).enumerate() {
            let x = (w >> 11) as f64 / (1u64 << 53) as f64 * 12.8;
            l.push((w % 1000) as u32, x, if k == 3 { 1e-7 } else { x * 3.0 + 1.0 }, (w % 977) as f32 / 977.0);
        }
        l.w_mm = Some((0..64).map(|i| f64::from(i) * 0.01).collect());
        l.h_mm = Some((0..64).map(|i| 1e20 / f64::from(i + 1)).collect());
        l.set_extra("note, \"quoted\"", (0..64).map(|i| texts[i % texts.len()].to_string()).collect());
        l.set_extra("id", (0..64).map(|i| i.to_string()).collect());
        let p = dir.path().join("locs.csv");
        write_localizations(&p, &l).unwrap();
        let mut wr = csv::Writer::from_writer(Vec::new());
        let mut header = vec!["frame", "x_mm", "z_mm", "score", "w_mm", "h_mm"];
        header.extend(l.extra.iter().map(|c| c.name.as_str()));
        wr.write_record(&header).unwrap();
        let (w, h) = (l.w_mm.as_ref().unwrap(), l.h_mm.as_ref().unwrap());
        for i in 0..l.len() {
            let mut row = vec![l.frame[i].to_string(), l.x_mm[i].to_string(), l.z_mm[i].to_string()];
            row.extend([l.score[i].to_string(), w[i].to_string(), h[i].to_string()]);
            row.extend(l.extra.iter().map(|c| c.values[i].clone()));
            wr.write_record(&row).unwrap();
        }
        assert_eq!(
            String::from_utf8(std::fs::read(&p).unwrap()).unwrap(),
            String::from_utf8(wr.into_inner().unwrap()).unwrap()
        );
        // Reading back: numbers exact; text as the csv reader (which trims) sees it.
        let back = read_localizations(&p).unwrap();
        assert_eq!(
            (&back.x_mm, &back.z_mm, &back.score, &back.w_mm, &back.h_mm),
            (&l.x_mm, &l.z_mm, &l.score, &l.w_mm, &l.h_mm)
        );
        let trimmed: Vec<String> = l.extra[0].values.iter().map(|t| t.trim().to_string()).collect();
        assert_eq!((back.extra[0].name.as_str(), &back.extra[0].values), ("note, \"quoted\"", &trimmed));

        let pt = |frame, v| TrackPoint { frame, x_mm: 0.1 * f64::from(frame), z_mm: 7.25, vx_mm_s: v, vz_mm_s: -v };
        let t = Tracks {
            tracks: vec![
                Track { id: 3, points: vec![pt(0, f64::NAN), pt(1, 2.5)] },
                Track { id: u64::MAX, points: vec![pt(9, f64::NAN)] },
            ],
        };
        let p = dir.path().join("tracks.csv");
        write_tracks(&p, &t).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert_eq!(
            text,
            "track_id,frame,x_mm,z_mm,vx_mm_s,vz_mm_s\n3,0,0,7.25,NaN,NaN\n3,1,0.1,7.25,2.5,-2.5\n\
             18446744073709551615,9,0.9,7.25,NaN,NaN\n"
        );
        let back = read_tracks(&p).unwrap();
        assert!(back.tracks[0].points[0].vx_mm_s.is_nan() && back.tracks[1].points[0].vz_mm_s.is_nan());
        assert_eq!(back.tracks[0].points[1], t.tracks[0].points[1]);
    }

    #[test]
    fn tracks_are_grouped_by_id_and_sorted_by_frame() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("tracks.csv");
        std::fs::write(&p, "track_id,frame,x_mm,z_mm\n7,2,1,1\n2,5,2,2\n7,0,3,3\n2,1,4,4\n7,2,5,5\n").unwrap();
        let t = read_tracks(&p).unwrap();
        let got: Vec<(u64, Vec<(u32, f64)>)> =
            t.tracks.iter().map(|t| (t.id, t.points.iter().map(|p| (p.frame, p.x_mm)).collect())).collect();
        assert_eq!(got, vec![(2, vec![(1, 4.0), (5, 2.0)]), (7, vec![(0, 3.0), (2, 1.0), (2, 5.0)])]);
        assert!(t.tracks[0].points[0].vx_mm_s.is_nan());
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
