//! Localization and track CSV tables.
//!
//! Reading: the whole file is read at once and, unless it quotes cells, parsed in parallel
//! chunks on line boundaries with hand-rolled number parsers ([`fast`]); quoted files go
//! through the `csv` crate (one reused `csv::ByteRecord`). Both paths accept the same files,
//! give the same values and name the same line in an error.
//!
//! Writing: rows are formatted in parallel batches into byte buffers and written in order.
//! Localization tables keep every bit (floats in shortest round-trip form, exactly as
//! `f64::to_string` prints them); tracks tables, the largest output, round positions to
//! 1 nm and velocities to 0.1 µm/s ([`TRACK_POSITION_DECIMALS`]).

mod fast;

use std::io::Write;
use std::path::Path;

use rayon::prelude::*;
use ulm_core::{ExtraColumn, Localizations, Track, TrackPoint, Tracks};

use crate::{Error, Result, atomic_write};
use fast::{BodyScan, Bytes, CsvText, RowError, Rows, parse_chunks, parse_range, scan_body};

pub(crate) const KNOWN: [&str; 6] = ["frame", "x_mm", "z_mm", "score", "w_mm", "h_mm"];

/// The file's rows parsed into `R` by the fast path, or by the `csv` crate when cells are
/// quoted. `layout` maps the header to an accumulator factory.
fn read_rows<L, R: Rows>(
    path: &Path,
    layout: impl FnOnce(&[String]) -> Result<L>,
    new: impl Fn(&L) -> R + Sync,
) -> Result<R>
where
    L: Sync,
{
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    read_rows_from(path, bytes, layout, new)
}

/// [`read_rows`] of the file's `bytes`.
fn read_rows_from<L, R: Rows>(
    path: &Path,
    bytes: Vec<u8>,
    layout: impl FnOnce(&[String]) -> Result<L>,
    new: impl Fn(&L) -> R + Sync,
) -> Result<R>
where
    L: Sync,
{
    if CsvText::fits(&bytes) {
        let text = CsvText::new(bytes).map_err(|m| Error::format(path, m))?;
        let lay = layout(&text.headers)?;
        return parse_chunks(&text, || new(&lay)).map_err(|m| Error::format(path, m));
    }
    let mut rdr = csv::ReaderBuilder::new().has_headers(true).flexible(false).from_reader(bytes.as_slice());
    let headers: Vec<String> = rdr
        .headers()
        .map_err(|e| Error::format(path, format!("cannot read CSV header: {e}")))?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    let lay = layout(&headers)?;
    let mut rows = new(&lay);
    let mut rec = csv::ByteRecord::new();
    loop {
        if !rdr.read_byte_record(&mut rec).map_err(|e| Error::format(path, format!("malformed CSV: {e}")))? {
            return Ok(rows);
        }
        let fields: Vec<&[u8]> = rec.iter().collect();
        if let Err(e) = rows.push(&fields) {
            let line = rec.position().map_or(0, |p| p.line());
            return Err(Error::format(path, e.message(line)));
        }
    }
}

fn require(path: &Path, headers: &[String], name: &str) -> Result<usize> {
    headers
        .iter()
        .position(|h| h == name)
        .ok_or_else(|| Error::format(path, format!("missing required column `{name}` (header: {})", headers.join(","))))
}

fn optional(headers: &[String], name: &str) -> Option<usize> {
    headers.iter().position(|h| h == name)
}

/// `cell` (trimmed) parsed by `parse`, or the error naming the column and the cell.
fn cell<T>(raw: &[u8], col: &str, parse: impl Fn(&[u8]) -> Option<T>) -> Result<T, RowError> {
    // ASCII trimming first (fast); `str::trim`'s Unicode whitespace only when that fails.
    parse(raw.trim_ascii())
        .or_else(|| std::str::from_utf8(raw).ok().and_then(|t| parse(t.trim().as_bytes())))
        .ok_or_else(|| {
            let cell = String::from_utf8_lossy(raw);
            let cell = cell.trim();
            RowError::new("", format!(", column `{col}`: `{cell}` is not a valid number"))
        })
}

fn parse_u32(s: &[u8]) -> Option<u32> {
    fast::parse_u64(s).and_then(|v| u32::try_from(v).ok())
}

fn finite_position(x: f64, z: f64) -> Result<(), RowError> {
    if x.is_finite() && z.is_finite() {
        Ok(())
    } else {
        Err(RowError::new("", format!(": non-finite position ({x}, {z})")))
    }
}

/// Column positions of a localization table.
#[derive(Clone)]
struct LocLayout {
    frame: usize,
    x: usize,
    z: usize,
    score: Option<usize>,
    w: Option<usize>,
    h: Option<usize>,
    /// Other columns: (position, name).
    extra: Vec<(usize, String)>,
}

impl LocLayout {
    fn new(path: &Path, headers: &[String]) -> Result<Self> {
        Ok(Self {
            frame: require(path, headers, "frame")?,
            x: require(path, headers, "x_mm")?,
            z: require(path, headers, "z_mm")?,
            score: optional(headers, "score"),
            w: optional(headers, "w_mm"),
            h: optional(headers, "h_mm"),
            extra: (0..headers.len())
                .filter(|&i| !KNOWN.contains(&headers[i].as_str()))
                .map(|i| (i, headers[i].clone()))
                .collect(),
        })
    }
}

/// Localization rows being parsed.
struct LocRows {
    lay: LocLayout,
    t: Localizations,
    w: Vec<f64>,
    h: Vec<f64>,
    extra: Vec<Vec<String>>,
}

impl LocRows {
    fn new(lay: &LocLayout) -> Self {
        Self {
            lay: lay.clone(),
            t: Localizations::new(),
            w: Vec::new(),
            h: Vec::new(),
            extra: vec![Vec::new(); lay.extra.len()],
        }
    }

    fn finish(self) -> Localizations {
        let mut t = self.t;
        t.w_mm = self.lay.w.map(|_| self.w);
        t.h_mm = self.lay.h.map(|_| self.h);
        t.extra = self
            .lay
            .extra
            .iter()
            .zip(self.extra)
            .map(|((_, name), values)| ExtraColumn { name: name.clone(), values })
            .collect();
        t
    }
}

impl Rows for LocRows {
    fn push(&mut self, f: &[&[u8]]) -> Result<(), RowError> {
        let lay = &self.lay;
        let frame = cell(f[lay.frame], "frame", parse_u32)?;
        let x = cell(f[lay.x], "x_mm", fast::parse_f64)?;
        let z = cell(f[lay.z], "z_mm", fast::parse_f64)?;
        finite_position(x, z)?;
        let score = match lay.score {
            Some(i) => cell(f[i], "score", fast::parse_f32)?,
            None => 1.0,
        };
        if let Some(i) = lay.w {
            self.w.push(cell(f[i], "w_mm", fast::parse_f64)?);
        }
        if let Some(i) = lay.h {
            self.h.push(cell(f[i], "h_mm", fast::parse_f64)?);
        }
        for ((i, name), col) in lay.extra.iter().zip(&mut self.extra) {
            let text = std::str::from_utf8(f[*i])
                .map_err(|_| RowError::new("malformed CSV: ", format!(", column `{name}`: invalid UTF-8")))?;
            col.push(text.trim().to_string());
        }
        self.t.push(frame, x, z, score);
        Ok(())
    }

    fn append(&mut self, later: Self) {
        let t = later.t;
        self.t.frame.extend(t.frame);
        self.t.x_mm.extend(t.x_mm);
        self.t.z_mm.extend(t.z_mm);
        self.t.score.extend(t.score);
        self.w.extend(later.w);
        self.h.extend(later.h);
        for (a, b) in self.extra.iter_mut().zip(later.extra) {
            a.extend(b);
        }
    }
}

/// Bytes of CSV parsed per block when streaming (≈ 1,500 rows of `frame,x_mm,z_mm`): the
/// linker starts after the first one.
const STREAM_CHUNK: usize = 1 << 16;

/// Blocks parsed ahead of the linker (2 MiB of text): room for the parsing done while
/// the frame order is being checked.
const STREAM_AHEAD: usize = 32;

/// A localization CSV opened for reading in frame order.
pub(crate) enum CsvFrames {
    /// Rows in non-decreasing frame order (checked on the frame column first), parsed block
    /// by block, in file order, by a worker thread; the first error ends the stream.
    Stream {
        /// Last frame + 1.
        n_frames: usize,
        /// Rows of the body (valid when it parses).
        rows: usize,
        /// Parsed blocks.
        blocks: std::sync::mpsc::Receiver<Result<Localizations>>,
        /// The worker.
        worker: std::thread::JoinHandle<()>,
    },
    /// Any other file (rows out of frame order, quoted cells), read whole.
    Table(Localizations),
}

/// Opens a localization CSV for [`CsvFrames`]: the header is checked now; the rows of a
/// file in frame order are parsed on a worker thread while the caller consumes them, with
/// the same values and errors as [`read_localizations_csv`].
pub(crate) fn open_localizations_csv_frames(path: &Path) -> Result<CsvFrames> {
    let bytes = Bytes::open(path).map_err(|e| Error::io(path, e))?;
    let header_end = memchr::memchr(b'\n', &bytes).unwrap_or(bytes.len());
    if bytes[..header_end].contains(&b'"') {
        return read_rows_from(path, bytes.into_vec(), |h| LocLayout::new(path, h), LocRows::new)
            .map(|rows| CsvFrames::Table(rows.finish()));
    }
    // A header error is the batch reader's, whose rules differ for a body with quotes:
    // read it again the batch way (errors only).
    let whole = || read_localizations_csv(path).map(CsvFrames::Table);
    let Ok(text) = CsvText::new(bytes) else { return whole() };
    let Ok(lay) = LocLayout::new(path, &text.headers) else { return whole() };
    let text = std::sync::Arc::new(text);
    // Parsing starts at once, on the chance that the rows are in frame order, while this
    // thread checks that they are (and that no cell is quoted); the channel holds the
    // blocks parsed meanwhile.
    let (tx, blocks) = std::sync::mpsc::sync_channel(STREAM_AHEAD);
    let owned = path.to_path_buf();
    let (worker_text, worker_lay) = (text.clone(), lay.clone());
    let worker = std::thread::Builder::new()
        .name("ulm-csv-read".into())
        .spawn(move || {
            let text = worker_text;
            for range in text.chunks_of(STREAM_CHUNK) {
                let block = parse_range(&text, range, LocRows::new(&worker_lay))
                    .map(LocRows::finish)
                    .map_err(|(start, e)| Error::format(&owned, text.message(start, &e)));
                let failed = block.is_err();
                if tx.send(block).is_err() || failed {
                    return;
                }
            }
        })
        .map_err(|e| Error::io(path, e))?;
    let scan = scan_body(&text, lay.frame);
    let BodyScan::Sorted { last, rows } = scan else {
        // Not streamable: stop the worker (its next send fails) and read whole.
        drop(blocks);
        let _ = worker.join();
        return match scan {
            BodyScan::Quoted => read_rows_from(path, text.bytes().to_vec(), |h| LocLayout::new(path, h), LocRows::new)
                .map(|rows| CsvFrames::Table(rows.finish())),
            _ => parse_chunks(&text, || LocRows::new(&lay))
                .map(|rows| CsvFrames::Table(rows.finish()))
                .map_err(|m| Error::format(path, m)),
        };
    };
    let n_frames = if rows == 0 { 0 } else { usize::try_from(last).unwrap_or(usize::MAX).saturating_add(1) };
    Ok(CsvFrames::Stream { n_frames, rows, blocks, worker })
}

/// Reads a localization / ground-truth CSV. Required columns `frame, x_mm, z_mm`;
/// optional `score` (1.0 when absent), `w_mm`, `h_mm`; any other column is kept verbatim
/// (trimmed) in [`Localizations::extra`].
pub fn read_localizations_csv(path: &Path) -> Result<Localizations> {
    let rows = read_rows(path, |h| LocLayout::new(path, h), LocRows::new)?;
    Ok(rows.finish())
}

/// Column positions of a tracks table.
#[derive(Clone, Copy)]
struct TrackLayout {
    id: usize,
    frame: usize,
    x: usize,
    z: usize,
    vx: Option<usize>,
    vz: Option<usize>,
}

/// Track rows being parsed: (track id, point) in file order.
struct TrackRows(TrackLayout, Vec<(u64, TrackPoint)>);

impl Rows for TrackRows {
    fn push(&mut self, f: &[&[u8]]) -> Result<(), RowError> {
        let lay = self.0;
        let opt = |i: Option<usize>, name: &str| match i {
            Some(i) => cell(f[i], name, fast::parse_f64),
            None => Ok(f64::NAN),
        };
        let id = cell(f[lay.id], "track_id", fast::parse_u64)?;
        let p = TrackPoint {
            frame: cell(f[lay.frame], "frame", parse_u32)?,
            x_mm: cell(f[lay.x], "x_mm", fast::parse_f64)?,
            z_mm: cell(f[lay.z], "z_mm", fast::parse_f64)?,
            vx_mm_s: opt(lay.vx, "vx_mm_s")?,
            vz_mm_s: opt(lay.vz, "vz_mm_s")?,
        };
        finite_position(p.x_mm, p.z_mm)?;
        self.1.push((id, p));
        Ok(())
    }

    fn append(&mut self, later: Self) {
        self.1.extend(later.1);
    }
}

/// Reads a tracks CSV: `track_id, frame, x_mm, z_mm` required, `vx_mm_s, vz_mm_s`
/// optional (NaN when absent). Points are grouped by `track_id` (tracks in increasing id)
/// and sorted by frame (stable: rows of equal frame keep their file order).
pub fn read_tracks_csv(path: &Path) -> Result<Tracks> {
    let layout = |h: &[String]| -> Result<TrackLayout> {
        Ok(TrackLayout {
            id: require(path, h, "track_id")?,
            frame: require(path, h, "frame")?,
            x: require(path, h, "x_mm")?,
            z: require(path, h, "z_mm")?,
            vx: optional(h, "vx_mm_s"),
            vz: optional(h, "vz_mm_s"),
        })
    };
    let rows = read_rows(path, layout, |lay| TrackRows(*lay, Vec::new()))?;
    Ok(Tracks::from_rows(rows.1))
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
    push_short(buf, &tmp[i..]);
}

/// Appends a few bytes one by one: for the short pieces of a number this beats
/// `extend_from_slice`, which calls `memcpy`.
#[inline]
fn push_short(buf: &mut Vec<u8>, bytes: &[u8]) {
    for &b in bytes {
        buf.push(b);
    }
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

/// Decimals of the fixed-point columns of a tracks CSV: positions to 1e-6 mm (1 nm) and
/// velocities to 1e-4 mm/s, both far below what ultrasound localization resolves (≈ λ/10,
/// 10 µm at 15 MHz; 1 nm per frame at 10 kHz is 0.01 mm/s).
pub const TRACK_POSITION_DECIMALS: usize = 6;
/// See [`TRACK_POSITION_DECIMALS`].
pub const TRACK_VELOCITY_DECIMALS: usize = 4;

/// `10^D` for the fixed-point decimals.
const POW10_U64: [u64; 10] = [1, 10, 100, 1000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000, 1_000_000_000];

/// Appends `v` rounded to `D` decimals, exactly as `format!("{v:.D$}")` prints it but with
/// trailing fractional zeros (and a bare point) removed and a negative zero written `0`.
/// `NaN`, infinities and magnitudes of 2^43 / 10^D and more (where `D` decimals mean
/// nothing, 8.8e6 for 6) are written in the shortest form, as `v.to_string()`.
///
/// Fast path: `v · 10^D` (one correctly rounded product, relative error ≤ 2^-53) is rounded
/// to an integer and printed with integer arithmetic. It gives `format!`'s digits unless the
/// product lies within its error bound of a half-integer (a decimal tie or near-tie), which
/// goes to `format!` itself.
fn push_fixed<const D: usize>(buf: &mut Vec<u8>, fmt: &mut ryu::Buffer, v: f64) {
    let scale = POW10_U64[D];
    let s = v * scale as f64;
    if s.is_nan() || s.abs() >= (1u64 << 43) as f64 {
        return push_float(buf, fmt, v);
    }
    // floor without a libm call; exact: |s| < 2^43 keeps at least 10 fractional bits.
    let t = s as i64;
    let floor = if (t as f64) > s { t - 1 } else { t };
    let frac = s - floor as f64;
    if (frac - 0.5).abs() <= s.abs() * f64::EPSILON {
        let start = buf.len();
        write!(buf, "{v:.D$}").expect("writing to a Vec cannot fail");
        trim_fraction(buf, start);
        return;
    }
    let r = if frac > 0.5 { floor + 1 } else { floor };
    if r < 0 {
        buf.push(b'-');
    }
    let u = r.unsigned_abs();
    push_uint(buf, u / scale);
    let (mut f, digits) = fraction_digits(u % scale, D);
    if digits != 0 {
        buf.push(b'.');
        let mut tmp = [b'0'; 20];
        let mut i = digits;
        while f > 0 {
            i -= 1;
            tmp[i] = b'0' + (f % 10) as u8;
            f /= 10;
        }
        push_short(buf, &tmp[..digits]);
    }
}

/// The fraction `f` of `d` decimal digits without its trailing zeros: the remaining digits
/// as a number and their count (0 for a zero fraction).
fn fraction_digits(mut f: u64, mut d: usize) -> (u64, usize) {
    if f == 0 {
        return (0, 0);
    }
    while f.is_multiple_of(10) {
        f /= 10;
        d -= 1;
    }
    (f, d)
}

/// Removes trailing fractional zeros, a bare point and the sign of a zero from the number
/// that starts at `buf[start]`.
fn trim_fraction(buf: &mut Vec<u8>, start: usize) {
    if buf[start..].contains(&b'.') {
        while buf.last() == Some(&b'0') {
            buf.pop();
        }
        if buf.last() == Some(&b'.') {
            buf.pop();
        }
    }
    if &buf[start..] == b"-0" {
        buf.remove(start);
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

/// Rows formatted per parallel task, and tasks per batch held in memory at once.
const ROWS_PER_PIECE: usize = 8192;
const PIECES_PER_BATCH: usize = 32;

/// Formats `pieces` in parallel, batch by batch, and writes them to `w` in order.
fn write_pieces<P: Sync>(
    w: &mut impl Write,
    pieces: &[P],
    format: impl Fn(&P, &mut Vec<u8>) + Sync,
) -> std::io::Result<()> {
    for batch in pieces.chunks(PIECES_PER_BATCH) {
        let bufs: Vec<Vec<u8>> = batch
            .par_iter()
            .map(|p| {
                let mut buf = Vec::with_capacity(ROWS_PER_PIECE * 64);
                format(p, &mut buf);
                buf
            })
            .collect();
        for b in bufs {
            w.write_all(&b)?;
        }
    }
    Ok(())
}

/// Writes a localization CSV (atomically): `frame,x_mm,z_mm,score`, then `w_mm,h_mm`
/// when present, then the extra columns in their order.
pub fn write_localizations_csv(path: &Path, locs: &Localizations) -> Result<()> {
    locs.validate().map_err(|e| Error::data(path, e))?;
    let mut header: Vec<u8> = b"frame,x_mm,z_mm,score".to_vec();
    if locs.w_mm.is_some() {
        header.extend_from_slice(b",w_mm");
    }
    if locs.h_mm.is_some() {
        header.extend_from_slice(b",h_mm");
    }
    for c in &locs.extra {
        header.push(b',');
        push_text(&mut header, &c.name);
    }
    header.push(b'\n');
    let n = locs.len();
    let pieces: Vec<std::ops::Range<usize>> =
        (0..n).step_by(ROWS_PER_PIECE).map(|s| s..(s + ROWS_PER_PIECE).min(n)).collect();
    let format = |rows: &std::ops::Range<usize>, buf: &mut Vec<u8>| {
        let mut fmt = ryu::Buffer::new();
        for i in rows.clone() {
            push_uint(buf, u64::from(locs.frame[i]));
            buf.push(b',');
            push_float(buf, &mut fmt, locs.x_mm[i]);
            buf.push(b',');
            push_float(buf, &mut fmt, locs.z_mm[i]);
            buf.push(b',');
            push_float(buf, &mut fmt, locs.score[i]);
            for v in [&locs.w_mm, &locs.h_mm].into_iter().flatten() {
                buf.push(b',');
                push_float(buf, &mut fmt, v[i]);
            }
            for c in &locs.extra {
                buf.push(b',');
                push_text(buf, &c.values[i]);
            }
            buf.push(b'\n');
        }
    };
    atomic_write(path, |w| {
        w.write_all(&header)?;
        write_pieces(w, &pieces, format)?;
        w.flush()
    })
}

/// Writes a tracks CSV (atomically): `track_id,frame,x_mm,z_mm,vx_mm_s,vz_mm_s`.
/// Positions are rounded to [`TRACK_POSITION_DECIMALS`] decimals (1 nm) and velocities to
/// [`TRACK_VELOCITY_DECIMALS`] (0.1 µm/s), trailing zeros dropped: half the bytes of the
/// shortest round-trip form and several times faster to write, losing nothing that the
/// physics resolves (the Parquet form keeps every bit). Undefined velocities are `NaN`.
pub fn write_tracks_csv(path: &Path, tracks: &Tracks) -> Result<()> {
    // Runs of whole tracks of about ROWS_PER_PIECE points.
    let mut pieces: Vec<&[Track]> = Vec::new();
    let (mut start, mut rows) = (0, 0);
    for (i, t) in tracks.tracks.iter().enumerate() {
        rows += t.points.len();
        if rows >= ROWS_PER_PIECE {
            pieces.push(&tracks.tracks[start..=i]);
            (start, rows) = (i + 1, 0);
        }
    }
    pieces.push(&tracks.tracks[start..]);
    atomic_write(path, |w| {
        w.write_all(TRACKS_HEADER)?;
        write_pieces(w, &pieces, |piece, buf| push_track_rows(buf, piece))?;
        w.flush()
    })
}

/// The header line of a tracks CSV.
pub(crate) const TRACKS_HEADER: &[u8] = b"track_id,frame,x_mm,z_mm,vx_mm_s,vz_mm_s\n";

/// Appends the rows of `tracks` to a tracks CSV being written.
pub(crate) fn push_track_rows(buf: &mut Vec<u8>, tracks: &[Track]) {
    let mut fmt = ryu::Buffer::new();
    let mut rows = RowBuf::new();
    for t in tracks {
        for p in &t.points {
            // Most rows are assembled in a block on the stack that is copied out when full; a
            // row with a value off the fast path (a decimal tie, a huge magnitude) takes the
            // general one.
            if rows.n > ROW_BLOCK - ROW_MAX {
                buf.extend_from_slice(rows.bytes());
                rows.n = 0;
            }
            if rows.track_row(t.id, p) {
                continue;
            }
            buf.extend_from_slice(rows.bytes());
            rows.n = 0;
            push_uint(buf, t.id);
            buf.push(b',');
            push_uint(buf, u64::from(p.frame));
            for v in [p.x_mm, p.z_mm] {
                buf.push(b',');
                push_fixed::<TRACK_POSITION_DECIMALS>(buf, &mut fmt, v);
            }
            for v in [p.vx_mm_s, p.vz_mm_s] {
                buf.push(b',');
                push_fixed::<TRACK_VELOCITY_DECIMALS>(buf, &mut fmt, v);
            }
            buf.push(b'\n');
        }
    }
    buf.extend_from_slice(rows.bytes());
}

/// Bytes of the row block of [`push_track_rows`].
const ROW_BLOCK: usize = 16 * 1024;
/// The longest row [`RowBuf::track_row`] writes: 20 + 1 + 10 + 4 × 16 + 1 = 96 bytes, as every
/// fast-path fixed value is below 2^43 / 10^D, so at most 9 integer digits, a sign, a point
/// and D ≤ 6 decimals.
const ROW_MAX: usize = 100;

/// Two decimal digits per entry, `00` to `99`.
const DIGIT_PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

/// Rows of a tracks CSV built in a fixed block: the bytes of [`push_uint`] and
/// [`push_fixed`] for the values on their fast paths, without a capacity check per byte.
struct RowBuf {
    b: Box<[u8; ROW_BLOCK]>,
    n: usize,
}

impl RowBuf {
    fn new() -> Self {
        Self { b: Box::new([0; ROW_BLOCK]), n: 0 }
    }

    fn bytes(&self) -> &[u8] {
        &self.b[..self.n]
    }

    /// Appends `id,frame,x,z,vx,vz\n` (at most [`ROW_MAX`] bytes: the caller leaves that
    /// much room), or leaves the block as it was and returns `false` when a value needs the
    /// general formatter.
    #[inline]
    fn track_row(&mut self, id: u64, p: &ulm_core::TrackPoint) -> bool {
        let start = self.n;
        self.uint(id);
        self.b[self.n] = b',';
        self.n += 1;
        self.uint(u64::from(p.frame));
        let ok = self.fixed::<TRACK_POSITION_DECIMALS>(p.x_mm)
            && self.fixed::<TRACK_POSITION_DECIMALS>(p.z_mm)
            && self.fixed::<TRACK_VELOCITY_DECIMALS>(p.vx_mm_s)
            && self.fixed::<TRACK_VELOCITY_DECIMALS>(p.vz_mm_s);
        if ok {
            self.b[self.n] = b'\n';
            self.n += 1;
        } else {
            self.n = start;
        }
        ok
    }

    /// The decimal digits of `v` (as [`push_uint`]), two at a time.
    #[inline]
    fn uint(&mut self, mut v: u64) {
        let mut tmp = [0u8; 20];
        let mut i = tmp.len();
        while v >= 100 {
            let k = (v % 100) as usize * 2;
            v /= 100;
            i -= 2;
            tmp[i..i + 2].copy_from_slice(&DIGIT_PAIRS[k..k + 2]);
        }
        if v >= 10 {
            let k = v as usize * 2;
            i -= 2;
            tmp[i..i + 2].copy_from_slice(&DIGIT_PAIRS[k..k + 2]);
        } else {
            i -= 1;
            tmp[i] = b'0' + v as u8;
        }
        let len = tmp.len() - i;
        self.b[self.n..self.n + len].copy_from_slice(&tmp[i..]);
        self.n += len;
    }

    /// `,` and `v` as [`push_fixed`] writes it, when it takes the fast path there (and for
    /// NaN, which `Display` writes `NaN`); `false` otherwise.
    #[inline]
    fn fixed<const D: usize>(&mut self, v: f64) -> bool {
        self.b[self.n] = b',';
        self.n += 1;
        if v.is_nan() {
            self.b[self.n..self.n + 3].copy_from_slice(b"NaN");
            self.n += 3;
            return true;
        }
        let scale = POW10_U64[D];
        let s = v * scale as f64;
        if s.abs() >= (1u64 << 43) as f64 {
            return false;
        }
        let t = s as i64;
        let floor = if (t as f64) > s { t - 1 } else { t };
        let frac = s - floor as f64;
        if (frac - 0.5).abs() <= s.abs() * f64::EPSILON {
            return false;
        }
        let r = if frac > 0.5 { floor + 1 } else { floor };
        if r < 0 {
            self.b[self.n] = b'-';
            self.n += 1;
        }
        let u = r.unsigned_abs();
        self.uint(u / scale);
        let (mut f, digits) = fraction_digits(u % scale, D);
        if digits != 0 {
            self.b[self.n] = b'.';
            let first = self.n + 1;
            let mut i = first + digits;
            self.n = i;
            while i >= first + 2 {
                let k = (f % 100) as usize * 2;
                f /= 100;
                i -= 2;
                self.b[i..i + 2].copy_from_slice(&DIGIT_PAIRS[k..k + 2]);
            }
            if i > first {
                self.b[first] = b'0' + (f % 10) as u8;
            }
        }
        true
    }
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
        write_localizations_csv(&p, &l).unwrap();
        assert_eq!(read_localizations_csv(&p).unwrap(), l);
    }

    #[test]
    fn missing_column_and_bad_cell_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bad.csv");
        std::fs::write(&p, "frame,x_mm\n0,1\n").unwrap();
        let e = read_localizations_csv(&p).unwrap_err().to_string();
        assert!(e.contains("bad.csv") && e.contains("`z_mm`"), "{e}");
        std::fs::write(&p, "frame,x_mm,z_mm\n0,1,2\n1,abc,2\n").unwrap();
        let e = read_localizations_csv(&p).unwrap_err().to_string();
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
        write_localizations_csv(&p, &l).unwrap();
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
        let back = read_localizations_csv(&p).unwrap();
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
        write_tracks_csv(&p, &t).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert_eq!(
            text,
            "track_id,frame,x_mm,z_mm,vx_mm_s,vz_mm_s\n3,0,0,7.25,NaN,NaN\n3,1,0.1,7.25,2.5,-2.5\n\
             18446744073709551615,9,0.9,7.25,NaN,NaN\n"
        );
        let back = read_tracks_csv(&p).unwrap();
        assert!(back.tracks[0].points[0].vx_mm_s.is_nan() && back.tracks[1].points[0].vz_mm_s.is_nan());
        assert_eq!(back.tracks[0].points[1], t.tracks[0].points[1]);
    }

    /// `push_fixed` against `format!("{v:.6}")` / `format!("{v:.4}")` (trailing zeros and a
    /// negative zero's sign dropped), the shortest form beyond 2^43 / 10^D, and the written
    /// tracks read back within half a unit of the last decimal.
    #[test]
    fn fixed_point_matches_format_and_reads_back_within_half_a_unit() {
        fn want(v: f64, d: usize) -> String {
            let scaled = v * 10f64.powi(d as i32);
            if scaled.is_nan() || scaled.abs() >= (1u64 << 43) as f64 {
                return v.to_string();
            }
            let s = format!("{v:.d$}");
            let s = s.trim_end_matches('0').trim_end_matches('.');
            if s == "-0" { "0".into() } else { s.into() }
        }
        let mut fmt = ryu::Buffer::new();
        let mut buf = Vec::new();
        let special = [0.0, -0.0, 1.0, -3.0, 0.1, 0.3, 7.25, 2f64.powi(-7), -2f64.powi(-7), 0.0078125, 1.5e-6];
        let special = special.into_iter().chain([2.5e-7, -2.5e-7, -4e-7, 1e-7, 8.7e6, 8.8e6, 1e20, f64::NAN]);
        let special = special.chain([f64::INFINITY, f64::NEG_INFINITY, f64::MAX, 5e-324, 123.456_789_5]);
        let random = words(20_000).flat_map(|w| {
            [
                f64::from_bits(w),
                (w >> 11) as f64 / (1u64 << 53) as f64 * 25.0 - 5.0,
                (w % 100_000_000) as f64 / 1e7 - 3.0,
                // Exact decimal ties at the 7th and 5th decimal: k / 2^7 etc.
                (w % 1_000_000) as f64 / 128.0 - 900.0,
                (w % 100_000) as f64 * 2f64.powi(-((w % 9) as i32 + 5)),
            ]
        });
        let (mut fallbacks, mut row, mut row_fast) = (0, RowBuf::new(), 0);
        for v in special.chain(random) {
            for d in [6, 4] {
                buf.clear();
                if d == 6 {
                    push_fixed::<6>(&mut buf, &mut fmt, v);
                } else {
                    push_fixed::<4>(&mut buf, &mut fmt, v);
                }
                let got = std::str::from_utf8(&buf).unwrap();
                assert_eq!(got, want(v, d), "{v:e} to {d} decimals");
                // The row builder writes the same bytes whenever it takes the value.
                row.n = 0;
                if if d == 6 { row.fixed::<6>(v) } else { row.fixed::<4>(v) } {
                    assert_eq!(std::str::from_utf8(&row.bytes()[1..]).unwrap(), got, "row: {v:e} to {d} decimals");
                    row_fast += 1;
                }
                if v.is_finite() && (v * 10f64.powi(d as i32)).abs() < (1u64 << 43) as f64 {
                    let back: f64 = got.parse().unwrap();
                    // Half a unit of the last decimal, plus the rounding of `back` to a double.
                    let tol = 0.5 * 10f64.powi(-(d as i32)) + v.abs() * 4.0 * f64::EPSILON;
                    assert!((back - v).abs() <= tol, "{v:e}: {got}");
                } else {
                    fallbacks += 1;
                }
            }
        }
        assert!(fallbacks > 1000, "raw bit patterns reach the shortest form: {fallbacks}");
        assert!(row_fast > 100_000, "most values take the row builder: {row_fast}");
        for v in (0..1000).chain(words(5000)).chain([u64::MAX, 10u64.pow(19), 99, 100]) {
            row.n = 0;
            row.uint(v);
            assert_eq!(std::str::from_utf8(row.bytes()).unwrap(), v.to_string());
        }
    }

    #[test]
    fn tracks_are_grouped_by_id_and_sorted_by_frame() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("tracks.csv");
        std::fs::write(&p, "track_id,frame,x_mm,z_mm\n7,2,1,1\n2,5,2,2\n7,0,3,3\n2,1,4,4\n7,2,5,5\n").unwrap();
        let t = read_tracks_csv(&p).unwrap();
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
        write_tracks_csv(&p, &t).unwrap();
        assert_eq!(read_tracks_csv(&p).unwrap(), t);
    }
}
