//! Localization and track tables as Apache Parquet (the `arrow`/`parquet` crates, pure Rust).
//!
//! Same columns as the CSV tables. Written with Snappy compression (pandas' default) and the
//! Arrow schema embedded, so `pandas.read_parquet`, polars and R's arrow read the exact types:
//! `frame` uint32, `track_id` uint64, positions and velocities float64, `score` float32,
//! extra localization columns as strings. Read: any integer type for `frame`/`track_id`
//! (floats only when integral), any integer or float type for the numbers, nulls only in
//! optional columns (→ NaN; "" in extra columns); extra columns of other types (dates,
//! lists …) are ignored. Codecs: Snappy, gzip, LZ4 and uncompressed — not zstd (polars'
//! default; its codec links a C library): such a file gets an error saying so.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use arrow_array::{Array, ArrayRef, Float32Array, Float64Array, RecordBatch, StringArray, UInt32Array, UInt64Array};
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;
use ulm_core::{ExtraColumn, Localizations, TrackPoint, Tracks};

use crate::csv_table::CsvFrames;
use crate::{Error, Result, atomic_write};

/// One cell of a numeric column.
#[derive(Clone, Copy)]
enum Num {
    Null,
    Int(i128),
    Float(f64),
}

/// A column's values as [`Num`]s; `None` for a non-numeric type.
fn numbers(a: &dyn Array) -> Option<Vec<Num>> {
    fn conv<T, F>(a: &dyn Array, f: F) -> Vec<Num>
    where
        T: arrow_array::ArrowPrimitiveType,
        F: Fn(T::Native) -> Num,
    {
        a.as_primitive::<T>().iter().map(|v| v.map_or(Num::Null, &f)).collect()
    }
    Some(match a.data_type() {
        DataType::Float64 => conv::<Float64Type, _>(a, Num::Float),
        DataType::Float32 => conv::<Float32Type, _>(a, |v| Num::Float(f64::from(v))),
        DataType::Int8 => conv::<Int8Type, _>(a, |v| Num::Int(i128::from(v))),
        DataType::Int16 => conv::<Int16Type, _>(a, |v| Num::Int(i128::from(v))),
        DataType::Int32 => conv::<Int32Type, _>(a, |v| Num::Int(i128::from(v))),
        DataType::Int64 => conv::<Int64Type, _>(a, |v| Num::Int(i128::from(v))),
        DataType::UInt8 => conv::<UInt8Type, _>(a, |v| Num::Int(i128::from(v))),
        DataType::UInt16 => conv::<UInt16Type, _>(a, |v| Num::Int(i128::from(v))),
        DataType::UInt32 => conv::<UInt32Type, _>(a, |v| Num::Int(i128::from(v))),
        DataType::UInt64 => conv::<UInt64Type, _>(a, |v| Num::Int(i128::from(v))),
        _ => return None,
    })
}

/// A column's values as text (extra columns); `None` for a type that has no plain text form.
fn texts(a: &dyn Array) -> Option<Vec<String>> {
    let opt = |v: Option<&str>| v.unwrap_or("").to_string();
    Some(match a.data_type() {
        DataType::Utf8 => a.as_string::<i32>().iter().map(opt).collect(),
        DataType::LargeUtf8 => a.as_string::<i64>().iter().map(opt).collect(),
        DataType::Utf8View => a.as_string_view().iter().map(opt).collect(),
        DataType::Boolean => a.as_boolean().iter().map(|v| v.map_or(String::new(), |b| b.to_string())).collect(),
        DataType::Float32 => {
            a.as_primitive::<Float32Type>().iter().map(|v| v.map_or(String::new(), |v| v.to_string())).collect()
        }
        _ => numbers(a)?
            .into_iter()
            .map(|n| match n {
                Num::Null => String::new(),
                Num::Int(v) => v.to_string(),
                Num::Float(v) => v.to_string(),
            })
            .collect(),
    })
}

/// A numeric column of the file, with its name for messages.
struct Column<'a> {
    path: &'a Path,
    name: &'a str,
    /// Row index of the column's first value in the file.
    offset: usize,
    array: ArrayRef,
}

impl<'a> Column<'a> {
    fn of(path: &'a Path, batch: &RecordBatch, name: &'a str, offset: usize) -> Result<Option<Self>> {
        let Some(a) = batch.column_by_name(name) else { return Ok(None) };
        let numeric = matches!(
            a.data_type(),
            DataType::Float64
                | DataType::Float32
                | DataType::Int8
                | DataType::Int16
                | DataType::Int32
                | DataType::Int64
                | DataType::UInt8
                | DataType::UInt16
                | DataType::UInt32
                | DataType::UInt64
        );
        if !numeric {
            return Err(Error::format(path, format!("column `{name}` has type {}, not a number", a.data_type())));
        }
        Ok(Some(Self { path, name, offset, array: a.clone() }))
    }

    /// Every value as a [`Num`] (the general path).
    fn values(&self) -> Vec<Num> {
        numbers(self.array.as_ref()).expect("checked numeric in Column::of")
    }

    fn err(&self, row: usize, what: &str) -> Error {
        Error::format(self.path, format!("row {} (0-based), column `{}`: {what}", self.offset + row, self.name))
    }

    /// Integer values in `0..=max` (floats only when integral).
    fn uints(&self, max: u64) -> Result<Vec<u64>> {
        // Fast paths for the types ulm and pandas write, without nulls: the same values and
        // errors as the general path below.
        let a = self.array.as_ref();
        if a.null_count() == 0 {
            let fast: Option<Vec<u64>> = match a.data_type() {
                DataType::UInt32 => {
                    Some(a.as_primitive::<UInt32Type>().values().iter().map(|&v| u64::from(v)).collect())
                }
                DataType::UInt64 => Some(a.as_primitive::<UInt64Type>().values().to_vec()),
                DataType::Int64 => {
                    let v = a.as_primitive::<Int64Type>().values();
                    v.iter().all(|&x| x >= 0).then(|| v.iter().map(|&x| x as u64).collect())
                }
                _ => None,
            };
            if let Some(v) = fast.filter(|v| v.iter().all(|&x| x <= max)) {
                return Ok(v);
            }
        }
        self.values()
            .iter()
            .enumerate()
            .map(|(r, &v)| {
                let int = match v {
                    Num::Null => return Err(self.err(r, "missing value")),
                    Num::Int(i) => Some(i),
                    Num::Float(f) if f.fract() == 0.0 && f.abs() < 2e19 => Some(f as i128),
                    Num::Float(_) => None,
                };
                int.and_then(|i| u64::try_from(i).ok())
                    .filter(|&i| i <= max)
                    .ok_or_else(|| self.err(r, &format!("{} is not an integer in 0..={max}", show(v))))
            })
            .collect()
    }

    /// Float values; nulls are an error when `required`, else NaN.
    fn floats(&self, required: bool) -> Result<Vec<f64>> {
        let a = self.array.as_ref();
        if a.null_count() == 0 && a.data_type() == &DataType::Float64 {
            return Ok(a.as_primitive::<Float64Type>().values().to_vec());
        }
        self.values()
            .iter()
            .enumerate()
            .map(|(r, &v)| match v {
                Num::Null if required => Err(self.err(r, "missing value")),
                Num::Null => Ok(f64::NAN),
                Num::Int(i) => Ok(i as f64),
                Num::Float(f) => Ok(f),
            })
            .collect()
    }
}

fn show(v: Num) -> String {
    match v {
        Num::Null => "null".into(),
        Num::Int(i) => i.to_string(),
        Num::Float(f) => f.to_string(),
    }
}

/// The error for a record batch that does not decode.
fn decode_error(path: &Path, e: &arrow_schema::ArrowError) -> Error {
    let hint = if e.to_string().contains("zstd") {
        " (zstd-compressed; write it with compression='snappy', e.g. polars' `write_parquet(..., compression=\"snappy\")`)"
    } else {
        ""
    };
    Error::format(path, format!("cannot decode Parquet data: {e}{hint}"))
}

/// Column names and the record batches, each with the index of its first row.
type Batches = (Vec<String>, Vec<(usize, RecordBatch)>);

/// Opens a Parquet file and yields its record batches with their first row index.
fn batches(path: &Path) -> Result<Batches> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| Error::format(path, format!("not a readable Parquet file: {e}")))?;
    let names = builder.schema().fields().iter().map(|f| f.name().clone()).collect();
    let reader = builder.with_batch_size(1 << 16).build().map_err(|e| Error::format(path, e.to_string()))?;
    let mut out = Vec::new();
    let mut offset = 0;
    for b in reader {
        let b = b.map_err(|e| decode_error(path, &e))?;
        let n = b.num_rows();
        out.push((offset, b));
        offset += n;
    }
    Ok((names, out))
}

fn require<'a>(path: &Path, names: &'a [String], name: &str) -> Result<&'a str> {
    names
        .iter()
        .find(|n| *n == name)
        .map(String::as_str)
        .ok_or_else(|| Error::format(path, format!("missing required column `{name}` (columns: {})", names.join(","))))
}

/// A column that exists in the file's schema, hence in every batch.
fn column<'a>(path: &'a Path, b: &RecordBatch, name: &'a str, offset: usize) -> Result<Column<'a>> {
    Column::of(path, b, name, offset)?
        .ok_or_else(|| Error::format(path, format!("column `{name}` is missing from a record batch")))
}

fn check_positions(path: &Path, offset: usize, x: &[f64], z: &[f64]) -> Result<()> {
    match x.iter().zip(z).position(|(x, z)| !(x.is_finite() && z.is_finite())) {
        Some(r) => {
            Err(Error::format(path, format!("row {} (0-based): non-finite position ({}, {})", offset + r, x[r], z[r])))
        }
        None => Ok(()),
    }
}

/// Reads a localization table from Parquet (columns as in the CSV form).
pub(crate) fn read_localizations_parquet(path: &Path) -> Result<Localizations> {
    let (names, batches) = batches(path)?;
    for req in ["frame", "x_mm", "z_mm"] {
        require(path, &names, req)?;
    }
    let has = |n: &str| names.iter().any(|c| c == n);
    let extra_names: Vec<&String> = names.iter().filter(|n| !super::csv_table::KNOWN.contains(&n.as_str())).collect();
    let mut t = Localizations::new();
    let (mut w, mut h) = (has("w_mm").then(Vec::new), has("h_mm").then(Vec::new));
    let mut extra: Vec<Option<ExtraColumn>> =
        extra_names.iter().map(|n| Some(ExtraColumn { name: (*n).clone(), values: Vec::new() })).collect();
    for (offset, b) in &batches {
        let frames = column(path, b, "frame", *offset)?.uints(u64::from(u32::MAX))?;
        let x = column(path, b, "x_mm", *offset)?.floats(true)?;
        let z = column(path, b, "z_mm", *offset)?.floats(true)?;
        check_positions(path, *offset, &x, &z)?;
        let score: Vec<f32> = match Column::of(path, b, "score", *offset)? {
            // Float32 columns come back exactly; wider types round as `as f32` does.
            Some(c) => c.floats(false)?.into_iter().map(|v| v as f32).collect(),
            None => vec![1.0; x.len()],
        };
        t.frame.extend(frames.into_iter().map(|f| f as u32));
        t.x_mm.extend(x);
        t.z_mm.extend(z);
        t.score.extend(score);
        for (col, name) in [(&mut w, "w_mm"), (&mut h, "h_mm")] {
            if let Some(v) = col.as_mut() {
                v.extend(column(path, b, name, *offset)?.floats(false)?);
            }
        }
        for (e, name) in extra.iter_mut().zip(&extra_names) {
            // Columns without a text form are dropped (kept or ignored, never an error).
            let vals = e.as_ref().and(b.column_by_name(name)).and_then(|a| texts(a.as_ref()));
            match (e.as_mut(), vals) {
                (Some(c), Some(v)) => c.values.extend(v),
                _ => *e = None,
            }
        }
    }
    t.w_mm = w;
    t.h_mm = h;
    t.extra = extra.into_iter().flatten().collect();
    Ok(t)
}

/// Rows per record batch when streaming: the linker starts after the first one.
const STREAM_ROWS: usize = 8192;

/// The localization columns of one record batch that the linker needs (`frame`, `x_mm`,
/// `z_mm`, `score`), with every check of [`read_localizations_parquet`] on them and on
/// `w_mm`/`h_mm` (extra columns never fail).
fn stream_block(path: &Path, b: &RecordBatch, offset: usize) -> Result<Localizations> {
    let frames = column(path, b, "frame", offset)?.uints(u64::from(u32::MAX))?;
    let x = column(path, b, "x_mm", offset)?.floats(true)?;
    let z = column(path, b, "z_mm", offset)?.floats(true)?;
    check_positions(path, offset, &x, &z)?;
    let score: Vec<f32> = match Column::of(path, b, "score", offset)? {
        Some(c) => c.floats(false)?.into_iter().map(|v| v as f32).collect(),
        None => vec![1.0; x.len()],
    };
    for name in ["w_mm", "h_mm"] {
        if let Some(c) = Column::of(path, b, name, offset)? {
            c.floats(false)?;
        }
    }
    let mut t = Localizations::new();
    t.frame = frames.into_iter().map(|f| f as u32).collect();
    (t.x_mm, t.z_mm, t.score) = (x, z, score);
    Ok(t)
}

/// The `frame` column alone (a projection: the other columns are not decoded); `None` when
/// it does not read cleanly (the whole-file reader then reports why).
fn frame_column(path: &Path) -> Option<Vec<u64>> {
    use parquet::arrow::ProjectionMask;
    let file = std::fs::File::open(path).ok()?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).ok()?;
    let names: Vec<String> = builder.schema().fields().iter().map(|f| f.name().clone()).collect();
    if ["frame", "x_mm", "z_mm"].iter().any(|req| require(path, &names, req).is_err()) {
        return None;
    }
    let mask = ProjectionMask::columns(builder.parquet_schema(), ["frame"]);
    let reader = builder.with_projection(mask).with_batch_size(1 << 16).build().ok()?;
    let mut out = Vec::new();
    for b in reader {
        let b = b.ok()?;
        out.extend(column(path, &b, "frame", out.len()).ok()?.uints(u64::from(u32::MAX)).ok()?);
    }
    Some(out)
}

/// Opens a localization Parquet file for [`CsvFrames`]: when its `frame` column (read
/// first, alone) is in order, the rows are decoded batch by batch on a worker thread while
/// the caller links them, with the values and errors of [`read_localizations_parquet`];
/// otherwise (or when the column does not read cleanly) the file is read whole.
pub(crate) fn open_localizations_parquet_frames(path: &Path) -> Result<CsvFrames> {
    let frames = match frame_column(path) {
        Some(f) if f.is_sorted() => f,
        _ => return read_localizations_parquet(path).map(CsvFrames::Table),
    };
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.with_batch_size(STREAM_ROWS).build())
        .map_err(|e| Error::format(path, format!("not a readable Parquet file: {e}")))?;
    let (tx, blocks) = std::sync::mpsc::sync_channel(32);
    let owned = path.to_path_buf();
    let worker = std::thread::Builder::new()
        .name("ulm-parquet-read".into())
        .spawn(move || {
            let mut offset = 0;
            for b in reader {
                let block = b.map_err(|e| decode_error(&owned, &e)).and_then(|b| {
                    let block = stream_block(&owned, &b, offset);
                    offset += b.num_rows();
                    block
                });
                let failed = block.is_err();
                if tx.send(block).is_err() || failed {
                    return;
                }
            }
        })
        .map_err(|e| Error::io(path, e))?;
    let n_frames = frames.last().map_or(0, |&f| usize::try_from(f).unwrap_or(usize::MAX).saturating_add(1));
    Ok(CsvFrames::Stream { n_frames, rows: frames.len(), blocks, worker })
}

/// Reads a tracks table from Parquet; grouped and sorted as the CSV reader does.
pub(crate) fn read_tracks_parquet(path: &Path) -> Result<Tracks> {
    let (names, batches) = batches(path)?;
    for req in ["track_id", "frame", "x_mm", "z_mm"] {
        require(path, &names, req)?;
    }
    let mut rows: Vec<(u64, TrackPoint)> = Vec::new();
    for (offset, b) in &batches {
        let ids = column(path, b, "track_id", *offset)?.uints(u64::MAX)?;
        let frames = column(path, b, "frame", *offset)?.uints(u64::from(u32::MAX))?;
        let x = column(path, b, "x_mm", *offset)?.floats(true)?;
        let z = column(path, b, "z_mm", *offset)?.floats(true)?;
        check_positions(path, *offset, &x, &z)?;
        let n = x.len();
        let vel = |name| -> Result<Vec<f64>> {
            Ok(Column::of(path, b, name, *offset)?.map(|c| c.floats(false)).transpose()?.unwrap_or(vec![f64::NAN; n]))
        };
        let (vx, vz) = (vel("vx_mm_s")?, vel("vz_mm_s")?);
        rows.extend((0..n).map(|i| {
            let p = TrackPoint { frame: frames[i] as u32, x_mm: x[i], z_mm: z[i], vx_mm_s: vx[i], vz_mm_s: vz[i] };
            (ids[i], p)
        }));
    }
    Ok(Tracks::from_rows(rows))
}

/// Writes one record batch as a Snappy-compressed Parquet file (atomically). Dictionary
/// encoding only for text columns (floats are nearly all distinct).
fn write_batch(path: &Path, columns: Vec<(Field, ArrayRef)>) -> Result<()> {
    let (fields, arrays): (Vec<Field>, Vec<ArrayRef>) = columns.into_iter().unzip();
    let mut props = WriterProperties::builder().set_compression(Compression::SNAPPY).set_dictionary_enabled(false);
    for f in fields.iter().filter(|f| f.data_type() == &DataType::Utf8) {
        props = props.set_column_dictionary_enabled(ColumnPath::from(f.name().as_str()), true);
    }
    let schema = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(schema.clone(), arrays).map_err(|e| Error::format(path, e.to_string()))?;
    atomic_write(path, |w| {
        let mut writer = ArrowWriter::try_new(&mut *w, schema, Some(props.build())).map_err(std::io::Error::other)?;
        writer.write(&batch).map_err(std::io::Error::other)?;
        writer.close().map_err(std::io::Error::other)?;
        w.flush()
    })
}

fn f64_col(name: &str, v: Vec<f64>) -> (Field, ArrayRef) {
    (Field::new(name, DataType::Float64, false), Arc::new(Float64Array::from(v)))
}

/// Writes a localization table as Parquet (atomically): `frame, x_mm, z_mm, score`, then
/// `w_mm, h_mm` when present, then the extra columns as strings.
pub(crate) fn write_localizations_parquet(path: &Path, locs: &Localizations) -> Result<()> {
    locs.validate().map_err(|e| Error::data(path, e))?;
    let mut cols: Vec<(Field, ArrayRef)> = vec![
        (Field::new("frame", DataType::UInt32, false), Arc::new(UInt32Array::from(locs.frame.clone()))),
        f64_col("x_mm", locs.x_mm.clone()),
        f64_col("z_mm", locs.z_mm.clone()),
        (Field::new("score", DataType::Float32, false), Arc::new(Float32Array::from(locs.score.clone()))),
    ];
    for (name, v) in [("w_mm", &locs.w_mm), ("h_mm", &locs.h_mm)] {
        if let Some(v) = v {
            cols.push(f64_col(name, v.clone()));
        }
    }
    for c in &locs.extra {
        let a: ArrayRef = Arc::new(StringArray::from_iter_values(&c.values));
        cols.push((Field::new(&c.name, DataType::Utf8, false), a));
    }
    write_batch(path, cols)
}

/// Rows per record batch handed to the Parquet writer of tracks (a multiple of its 1,024-row
/// write batches): the same batches whether the tracks come at once or in pieces, hence the
/// same bytes.
const TRACK_BATCH_ROWS: usize = 16_384;

/// A tracks table being encoded as Parquet into `W` (one row group, Snappy): tracks are
/// added in pieces and encoded in batches of [`TRACK_BATCH_ROWS`] as they fill, so that a
/// streaming writer encodes while the tracks are still being linked.
pub(crate) struct TracksParquet<W: Write + Send> {
    writer: ArrowWriter<W>,
    schema: Arc<Schema>,
    id: Vec<u64>,
    frame: Vec<u32>,
    cols: [Vec<f64>; 4],
}

impl<W: Write + Send> TracksParquet<W> {
    pub(crate) fn new(w: W) -> parquet::errors::Result<Self> {
        let f64_field = |n: &str| Field::new(n, DataType::Float64, false);
        let schema = Arc::new(Schema::new(vec![
            Field::new("track_id", DataType::UInt64, false),
            Field::new("frame", DataType::UInt32, false),
            f64_field("x_mm"),
            f64_field("z_mm"),
            f64_field("vx_mm_s"),
            f64_field("vz_mm_s"),
        ]));
        let props = WriterProperties::builder().set_compression(Compression::SNAPPY).set_dictionary_enabled(false);
        let writer = ArrowWriter::try_new(w, schema.clone(), Some(props.build()))?;
        Ok(Self { writer, schema, id: Vec::new(), frame: Vec::new(), cols: Default::default() })
    }

    /// Adds tracks (in file order), encoding every full batch.
    pub(crate) fn push(&mut self, tracks: &[ulm_core::Track]) -> parquet::errors::Result<()> {
        for t in tracks {
            for p in &t.points {
                self.id.push(t.id);
                self.frame.push(p.frame);
                for (c, v) in self.cols.iter_mut().zip([p.x_mm, p.z_mm, p.vx_mm_s, p.vz_mm_s]) {
                    c.push(v);
                }
            }
            if self.id.len() >= TRACK_BATCH_ROWS {
                self.encode(TRACK_BATCH_ROWS)?;
            }
        }
        Ok(())
    }

    /// Encodes full batches of the first `n` rows held (all when fewer).
    fn encode(&mut self, n: usize) -> parquet::errors::Result<()> {
        while !self.id.is_empty() && (self.id.len() >= n || n == usize::MAX) {
            let k = n.min(self.id.len());
            let mut arrays: Vec<ArrayRef> = vec![
                Arc::new(UInt64Array::from(self.id.drain(..k).collect::<Vec<_>>())),
                Arc::new(UInt32Array::from(self.frame.drain(..k).collect::<Vec<_>>())),
            ];
            for c in &mut self.cols {
                arrays.push(Arc::new(Float64Array::from(c.drain(..k).collect::<Vec<_>>())));
            }
            let batch = RecordBatch::try_new(self.schema.clone(), arrays)?;
            self.writer.write(&batch)?;
        }
        Ok(())
    }

    /// Encodes the rest and writes the footer.
    pub(crate) fn finish(mut self) -> parquet::errors::Result<()> {
        self.encode(usize::MAX)?;
        self.writer.close()?;
        Ok(())
    }
}

/// Writes a tracks table as Parquet (atomically): `track_id, frame, x_mm, z_mm, vx_mm_s,
/// vz_mm_s`, one row per point, tracks in order.
pub(crate) fn write_tracks_parquet(path: &Path, tracks: &Tracks) -> Result<()> {
    atomic_write(path, |w| {
        let mut t = TracksParquet::new(&mut *w).map_err(std::io::Error::other)?;
        t.push(&tracks.tracks).map_err(std::io::Error::other)?;
        t.finish().map_err(std::io::Error::other)?;
        w.flush()
    })
}
