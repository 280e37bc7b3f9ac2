//! Streaming tables for file-to-file linking: [`LocalizationFrames`] hands out a
//! localization table frame by frame while a worker thread is still parsing it, and
//! [`TracksWriter`] formats and writes tracks on a worker thread while they are still being
//! linked. Values, bytes written and errors are those of [`read_localizations`] and
//! [`write_tracks`].
//!
//! [`read_localizations`]: crate::read_localizations
//! [`write_tracks`]: crate::write_tracks

use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use ulm_core::{Localizations, Track};

use crate::atomic::{persist, temp_beside};
use crate::csv_table::{CsvFrames, TRACKS_HEADER, open_localizations_csv_frames, push_track_rows};
use crate::parquet_table::{TracksParquet, open_localizations_parquet_frames};
use crate::{Error, Result, TableFormat};

/// A localization table (CSV or Parquet by extension) read frame by frame: an iterator of
/// `(frame, [x_mm, z_mm] positions)` in strictly increasing frame order, each frame's rows
/// in file order, frames without rows left out: the grouping of
/// [`Localizations::rows_by_frame`].
///
/// A CSV file whose rows are in frame order (as `ulm` and pandas write them) is parsed by a
/// worker thread, block by block, while the frames are consumed; any other file is read
/// whole when opened, then sorted by frame (stable). The header is checked by
/// [`LocalizationFrames::open`]; a bad row further on ends the iteration with the error of
/// [`read_localizations`](crate::read_localizations), naming the file and the line.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let p = dir.path().join("locs.csv");
/// std::fs::write(&p, "frame,x_mm,z_mm\n0,1,2\n0,3,4\n2,5,6\n").unwrap();
/// let frames = ulm_io::LocalizationFrames::open(&p).unwrap();
/// assert_eq!((frames.n_frames(), frames.n_rows()), (3, 3));
/// let got: Vec<_> = frames.collect::<Result<_, _>>().unwrap();
/// assert_eq!(got, vec![(0, vec![[1.0, 2.0], [3.0, 4.0]]), (2, vec![[5.0, 6.0]])]);
/// ```
#[derive(Debug)]
pub struct LocalizationFrames {
    path: PathBuf,
    n_frames: usize,
    n_rows: usize,
    /// Rows being handed out (non-decreasing frames) and the next one.
    block: Localizations,
    pos: usize,
    /// Later blocks, from the worker; `None` when there are no more.
    blocks: Option<Receiver<Result<Localizations>>>,
    worker: Option<JoinHandle<()>>,
    last: Option<u32>,
}

impl LocalizationFrames {
    /// Opens a localization table (see [`read_localizations`](crate::read_localizations)
    /// for the columns): CSV streamed when in frame order, else read whole.
    pub fn open(path: &Path) -> Result<Self> {
        let table = match TableFormat::from_path(path) {
            TableFormat::Csv => open_localizations_csv_frames(path)?,
            TableFormat::Parquet => open_localizations_parquet_frames(path)?,
        };
        let mut out = Self {
            path: path.to_path_buf(),
            n_frames: 0,
            n_rows: 0,
            block: Localizations::new(),
            pos: 0,
            blocks: None,
            worker: None,
            last: None,
        };
        match table {
            CsvFrames::Stream { n_frames, rows, blocks, worker } => {
                (out.n_frames, out.n_rows) = (n_frames, rows);
                out.blocks = Some(blocks);
                out.worker = Some(worker);
            }
            CsvFrames::Table(t) => {
                (out.n_frames, out.n_rows) = (t.n_frames(), t.len());
                out.block = if t.frame.is_sorted() { t } else { t.sorted_by_frame() };
            }
        }
        Ok(out)
    }

    /// Highest frame + 1 (0 for an empty table): the progress total.
    pub fn n_frames(&self) -> usize {
        self.n_frames
    }

    /// Number of localizations (of a file that reads without error).
    pub fn n_rows(&self) -> usize {
        self.n_rows
    }

    /// The worker's next block: `Ok(false)` at the end.
    fn next_block(&mut self) -> Result<bool> {
        let Some(rx) = &self.blocks else { return Ok(false) };
        match rx.recv() {
            Ok(Ok(b)) => {
                (self.block, self.pos) = (b, 0);
                Ok(true)
            }
            Ok(Err(e)) => {
                self.blocks = None;
                Err(e)
            }
            Err(_) => {
                // The worker is done: all blocks sent, or it panicked.
                self.blocks = None;
                match self.worker.take().map(JoinHandle::join) {
                    Some(Err(_)) => Err(Error::format(&self.path, "the CSV reader thread panicked")),
                    _ => Ok(false),
                }
            }
        }
    }
}

impl Iterator for LocalizationFrames {
    type Item = Result<(u32, Vec<[f64; 2]>)>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut out: Option<(u32, Vec<[f64; 2]>)> = None;
        loop {
            if self.pos == self.block.len() {
                match self.next_block() {
                    Ok(true) => continue,
                    Ok(false) => return out.map(Ok),
                    Err(e) => return Some(Err(e)),
                }
            }
            let b = &self.block;
            let f = b.frame[self.pos];
            if let Some((cur, _)) = &out
                && *cur != f
            {
                return out.map(Ok);
            }
            if out.is_none() {
                if self.last.is_some_and(|l| f <= l) {
                    // Unreachable: the frame column was checked to be sorted.
                    self.blocks = None;
                    return Some(Err(Error::format(&self.path, "rows are not in frame order")));
                }
                self.last = Some(f);
            }
            let end = b.frame[self.pos..].iter().position(|&g| g != f).map_or(b.len(), |k| self.pos + k);
            let rows = b.x_mm[self.pos..end].iter().zip(&b.z_mm[self.pos..end]).map(|(&x, &z)| [x, z]);
            let n = end - self.pos;
            out.get_or_insert_with(|| (f, Vec::with_capacity(n))).1.extend(rows);
            self.pos = end;
        }
    }
}

impl Drop for LocalizationFrames {
    fn drop(&mut self) {
        // Disconnect first, so that a worker blocked on a full channel stops.
        self.blocks = None;
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
    }
}

enum Msg {
    Tracks(Vec<Track>),
    Finish,
}

/// A tracks table (CSV or Parquet by extension) formatted (encoded) and written by a
/// worker thread while the tracks are being produced: the same bytes as [`write_tracks`](crate::write_tracks) of
/// the concatenated batches, in a temporary file beside `path` renamed into place by
/// [`TracksWriter::finish`]. Dropped without `finish` (an error upstream), it removes the
/// temporary file and leaves `path` as it was.
///
/// ```
/// use ulm_core::{Track, TrackPoint};
/// let dir = tempfile::tempdir().unwrap();
/// let p = dir.path().join("tracks.csv");
/// let pt = TrackPoint { frame: 4, x_mm: 1.5, z_mm: 2.0, vx_mm_s: f64::NAN, vz_mm_s: f64::NAN };
/// let mut w = ulm_io::TracksWriter::create(&p).unwrap();
/// w.write(vec![Track { id: 7, points: vec![pt] }]).unwrap();
/// w.finish().unwrap();
/// assert_eq!(std::fs::read_to_string(&p).unwrap(), "track_id,frame,x_mm,z_mm,vx_mm_s,vz_mm_s\n7,4,1.5,2,NaN,NaN\n");
/// ```
#[derive(Debug)]
pub struct TracksWriter {
    path: PathBuf,
    tx: Option<SyncSender<Msg>>,
    worker: Option<JoinHandle<Result<()>>>,
}

impl TracksWriter {
    /// Starts writing a tracks table at `path` (CSV or Parquet by extension): creates the
    /// temporary file (CSV) and the worker.
    pub fn create(path: &Path) -> Result<Self> {
        let format = TableFormat::from_path(path);
        let tmp = temp_beside(path)?;
        let (tx, rx) = sync_channel(16);
        let owned = path.to_path_buf();
        let worker = std::thread::Builder::new()
            .name("ulm-tracks-write".into())
            .spawn(move || match format {
                TableFormat::Csv => write_csv(&owned, tmp, rx),
                TableFormat::Parquet => write_parquet(&owned, tmp, rx),
            })
            .map_err(|e| Error::io(path, e))?;
        Ok(Self { path: path.to_path_buf(), tx: Some(tx), worker: Some(worker) })
    }

    /// Appends tracks (whole tracks, in the order they are to be written). An error is the
    /// worker's (disk full …): nothing more can be written.
    pub fn write(&mut self, tracks: Vec<Track>) -> Result<()> {
        self.send(Msg::Tracks(tracks))
    }

    /// Writes the rest, syncs and renames the file into place.
    pub fn finish(mut self) -> Result<()> {
        self.send(Msg::Finish)?;
        self.tx = None;
        self.join()
    }

    fn send(&mut self, m: Msg) -> Result<()> {
        let tx = self.tx.as_ref().ok_or_else(|| Error::format(&self.path, "the tracks writer has stopped"))?;
        if tx.send(m).is_err() {
            // The worker stopped on an error: report it.
            self.tx = None;
            self.join()?;
            return Err(Error::format(&self.path, "the tracks writer has stopped"));
        }
        Ok(())
    }

    fn join(&mut self) -> Result<()> {
        match self.worker.take().map(JoinHandle::join) {
            Some(Ok(r)) => r,
            Some(Err(_)) => Err(Error::format(&self.path, "the tracks writer thread panicked")),
            None => Ok(()),
        }
    }
}

impl Drop for TracksWriter {
    fn drop(&mut self) {
        // Without `Finish` the worker drops its temporary file.
        self.tx = None;
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
    }
}

/// Bytes written between two syncs of the CSV worker.
const SYNC_EVERY: usize = 1 << 20;

/// The CSV worker: formats and writes each batch; renames into place on `Finish`.
///
/// Every [`SYNC_EVERY`] bytes it asks a syncing thread to flush what is written so far to
/// disk, without waiting for it: formatting goes on while the disk works, and the final
/// sync before the rename has little left to do.
fn write_csv(path: &Path, mut tmp: tempfile::NamedTempFile, rx: Receiver<Msg>) -> Result<()> {
    use std::io::Write as _;
    let syncing = tmp.as_file().try_clone().map_err(|e| Error::io(path, e))?;
    std::thread::scope(|scope| {
        // A request waits while a sync runs; more requests meanwhile are merged into it.
        let (want_sync, requests) = sync_channel::<()>(1);
        let syncer = std::thread::Builder::new()
            .name("ulm-tracks-sync".into())
            .spawn_scoped(scope, move || -> std::io::Result<()> {
                for () in requests {
                    syncing.sync_data()?;
                }
                Ok(())
            })
            .map_err(|e| Error::io(path, e))?;
        let mut buf: Vec<u8> = TRACKS_HEADER.to_vec();
        let mut second = Vec::new();
        let mut unsynced = 0;
        let mut finished = false;
        for m in rx {
            match m {
                Msg::Tracks(t) => {
                    push_track_rows_2(&mut buf, &t, &mut second);
                    tmp.write_all(&buf).map_err(|e| Error::io(path, e))?;
                    unsynced += buf.len();
                    buf.clear();
                    if unsynced >= SYNC_EVERY {
                        let _ = want_sync.try_send(());
                        unsynced = 0;
                    }
                }
                Msg::Finish => {
                    tmp.write_all(&buf).map_err(|e| Error::io(path, e))?;
                    finished = true;
                    break;
                }
            }
        }
        drop(want_sync);
        match syncer.join() {
            Ok(r) => r.map_err(|e| Error::io(path, e))?,
            Err(_) => return Err(Error::format(path, "the tracks sync thread panicked")),
        }
        if finished { persist(tmp, path) } else { Ok(()) } // without `Finish`, `tmp` is removed on drop
    })
}

/// Points of a batch from which [`push_track_rows_2`] formats on two threads.
const TWO_THREADS_FROM: usize = 16_384;

/// [`push_track_rows`], the second half of a large batch on a second thread (into
/// `second`, then appended): the last batch, all the tracks still open at the end, comes
/// when the linker is done and a core is free.
fn push_track_rows_2(buf: &mut Vec<u8>, tracks: &[Track], second: &mut Vec<u8>) {
    let points: usize = tracks.iter().map(Track::len).sum();
    if points < TWO_THREADS_FROM {
        return push_track_rows(buf, tracks);
    }
    let (mut k, mut acc) = (0, 0);
    while k < tracks.len() && 2 * acc < points {
        acc += tracks[k].len();
        k += 1;
    }
    let (a, b) = tracks.split_at(k);
    second.clear();
    std::thread::scope(|scope| {
        scope.spawn(|| push_track_rows(second, b));
        push_track_rows(buf, a);
    });
    buf.extend_from_slice(second);
}

/// The Parquet worker: encodes the tracks in batches as they come; writes the footer,
/// syncs and renames into place on `Finish`.
fn write_parquet(path: &Path, mut tmp: tempfile::NamedTempFile, rx: Receiver<Msg>) -> Result<()> {
    use std::io::Write as _;
    let io = |e: std::io::Error| Error::io(path, e);
    let pq = |e: parquet::errors::ParquetError| Error::format(path, format!("cannot encode Parquet: {e}"));
    {
        let mut w = std::io::BufWriter::with_capacity(1 << 20, tmp.as_file_mut());
        let mut t = TracksParquet::new(&mut w).map_err(pq)?;
        loop {
            match rx.recv() {
                Ok(Msg::Tracks(batch)) => t.push(&batch).map_err(pq)?,
                Ok(Msg::Finish) => break,
                Err(_) => return Ok(()), // disconnected without `Finish`: `tmp` is removed
            }
        }
        t.finish().map_err(pq)?;
        w.flush().map_err(io)?;
    }
    persist(tmp, path)
}

#[cfg(test)]
mod tests {
    use ulm_core::{TrackPoint, Tracks};

    use super::*;
    use crate::{read_localizations, write_localizations, write_tracks};

    /// Deterministic pseudo-random values in [0, 1) (an LCG).
    fn uniform(s: &mut u64) -> f64 {
        *s = s.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (*s >> 11) as f64 / (1u64 << 53) as f64
    }

    /// 12,000 rows over 400 frames (some frames empty, a varying number of rows each),
    /// several stream blocks long.
    fn table() -> Localizations {
        let mut s = 3u64;
        let mut l = Localizations::new();
        for f in 0..400u32 {
            let n = if f % 37 == 5 { 0 } else { (uniform(&mut s) * 60.0) as usize };
            for _ in 0..n {
                l.push(f, 12.8 * uniform(&mut s), 3.0 + 9.0 * uniform(&mut s), uniform(&mut s) as f32);
            }
        }
        l
    }

    /// The frames as the batch linker groups them: `rows_by_frame` of the whole table.
    fn grouped(l: &Localizations) -> Vec<(u32, Vec<[f64; 2]>)> {
        l.rows_by_frame(0)
            .into_iter()
            .enumerate()
            .filter(|(_, r)| !r.is_empty())
            .map(|(f, r)| (f as u32, r.iter().map(|&i| [l.x_mm[i], l.z_mm[i]]).collect()))
            .collect()
    }

    #[test]
    fn frames_match_the_whole_table_grouped_by_frame() {
        let dir = tempfile::tempdir().unwrap();
        let sorted = table();
        assert!(sorted.len() > 10_000);
        // Out of frame order: rows of odd frames moved to the end (read whole, then sorted).
        let idx: Vec<usize> = (0..sorted.len()).filter(|&i| sorted.frame[i].is_multiple_of(2)).collect();
        let odd: Vec<usize> = (0..sorted.len()).filter(|&i| sorted.frame[i] % 2 == 1).collect();
        let shuffled = sorted.select(&[idx, odd].concat());
        let mut quoted = sorted.clone();
        quoted.set_extra("note", (0..sorted.len()).map(|i| format!("a,{i}")).collect());
        for (name, l) in [("sorted.csv", &sorted), ("shuffled.csv", &shuffled), ("quoted.csv", &quoted)]
            .into_iter()
            .chain([("sorted.parquet", &sorted), ("shuffled.parquet", &shuffled)])
        {
            let p = dir.path().join(name);
            write_localizations(&p, l).unwrap();
            let back = read_localizations(&p).unwrap();
            let frames = LocalizationFrames::open(&p).unwrap();
            assert_eq!((frames.n_frames(), frames.n_rows()), (back.n_frames(), back.len()), "{name}");
            let got: Vec<_> = frames.collect::<Result<_>>().unwrap();
            assert_eq!(got, grouped(&back), "{name}");
            assert!(
                got.len() <= 400 - 11 && got.iter().all(|(_, r)| !r.is_empty()),
                "{name}: frames without rows are left out"
            );
        }
        let text = std::fs::read_to_string(dir.path().join("quoted.csv")).unwrap();
        assert!(text.contains('"'), "the quoted file takes the general reader");
        let p = dir.path().join("empty.csv");
        std::fs::write(&p, "frame,x_mm,z_mm\n").unwrap();
        let mut frames = LocalizationFrames::open(&p).unwrap();
        assert_eq!((frames.n_frames(), frames.n_rows()), (0, 0));
        assert!(frames.next().is_none());
    }

    /// A bad row far into a file read in blocks: the frames before it come out, then the
    /// error of `read_localizations` (file, line, column), then nothing.
    #[test]
    fn a_bad_row_mid_stream_gives_the_readers_error() {
        /// Streams `p` to its first error: it must be `want`, after some rows but at most
        /// `row` of them, and nothing may follow it.
        fn stream_stops_at(p: &Path, want: &str, row: usize) {
            let mut frames = LocalizationFrames::open(p).unwrap();
            let mut seen = 0;
            let err = loop {
                match frames.next().expect("an error before the end") {
                    Ok((_, rows)) => seen += rows.len(),
                    Err(e) => break e.to_string(),
                }
            };
            assert_eq!(err, want);
            assert!(seen > 0 && seen <= row, "{seen} rows before the error");
            assert!(frames.next().is_none());
        }

        let dir = tempfile::tempdir().unwrap();
        let l = table();
        let p = dir.path().join("bad.csv");
        write_localizations(&p, &l).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        let row = 9000;
        let line = text.lines().nth(row + 1).unwrap();
        let bad_line = line.replacen(',', ",x", 1);
        std::fs::write(&p, text.replacen(&format!("\n{line}\n"), &format!("\n{bad_line}\n"), 1)).unwrap();
        let want = read_localizations(&p).unwrap_err().to_string();
        assert!(want.contains("bad.csv") && want.contains(&format!("line {}", row + 2)), "{want}");
        stream_stops_at(&p, &want, row);
        // Dropped part-way, the worker stops too.
        let mut frames = LocalizationFrames::open(&p).unwrap();
        assert!(frames.next().unwrap().is_ok());
        drop(frames);

        // Parquet, streamed by record batch: a NaN position in a later batch.
        // (ulm refuses to write one; arrow writes a null, as pandas writes a missing value).
        let p = dir.path().join("bad.parquet");
        {
            use std::sync::Arc;

            use arrow_array::{Float64Array, RecordBatch, UInt32Array};
            let x: Float64Array = (0..l.len()).map(|i| (i != row).then_some(l.x_mm[i])).collect();
            let batch = RecordBatch::try_from_iter([
                ("frame", Arc::new(UInt32Array::from(l.frame.clone())) as arrow_array::ArrayRef),
                ("x_mm", Arc::new(x)),
                ("z_mm", Arc::new(Float64Array::from(l.z_mm.clone()))),
            ])
            .unwrap();
            let mut w =
                parquet::arrow::ArrowWriter::try_new(std::fs::File::create(&p).unwrap(), batch.schema(), None).unwrap();
            w.write(&batch).unwrap();
            w.close().unwrap();
        }
        let want = read_localizations(&p).unwrap_err().to_string();
        assert!(want.contains("bad.parquet") && want.contains(&format!("row {row}")), "{want}");
        stream_stops_at(&p, &want, row);
    }

    fn tracks() -> Vec<Track> {
        let mut s = 5u64;
        (0..3000u64)
            .map(|id| Track {
                id: id * 2,
                points: (0..(id % 7 + 1) as u32)
                    .map(|f| TrackPoint {
                        frame: f + id as u32,
                        x_mm: 12.8 * uniform(&mut s),
                        z_mm: 3.0 + 9.0 * uniform(&mut s),
                        vx_mm_s: if f == 0 { f64::NAN } else { 20.0 * uniform(&mut s) - 10.0 },
                        vz_mm_s: if f == 0 { f64::NAN } else { 20.0 * uniform(&mut s) - 10.0 },
                    })
                    .collect(),
            })
            .collect()
    }

    /// Batches written by the worker give the bytes of `write_tracks`; without `finish`
    /// nothing reaches the destination and no temporary file stays.
    #[test]
    fn writer_gives_the_bytes_of_write_tracks() {
        let dir = tempfile::tempdir().unwrap();
        let all = tracks();
        for ext in ["csv", "parquet"] {
            let want = dir.path().join(format!("want.{ext}"));
            write_tracks(&want, &Tracks { tracks: all.clone() }).unwrap();
            let got = dir.path().join(format!("got.{ext}"));
            let mut w = TracksWriter::create(&got).unwrap();
            let mut rest = all.as_slice();
            let mut k = 0;
            while !rest.is_empty() {
                let n = (k * 37 % 500).min(rest.len());
                w.write(rest[..n].to_vec()).unwrap();
                rest = &rest[n..];
                k += 1;
            }
            w.finish().unwrap();
            assert_eq!(std::fs::read(&got).unwrap(), std::fs::read(&want).unwrap(), "{ext}");

            std::fs::write(&got, "previous").unwrap();
            let mut w = TracksWriter::create(&got).unwrap();
            w.write(all[..100].to_vec()).unwrap();
            drop(w);
            assert_eq!(std::fs::read_to_string(&got).unwrap(), "previous", "{ext}");
        }
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names.len(), 4, "no temporary file left: {names:?}");
        // A folder that does not exist: the error names the file.
        let e = TracksWriter::create(&dir.path().join("no/such/t.csv")).unwrap_err().to_string();
        assert!(e.contains("t.csv"), "{e}");
    }
}
