//! `ulm info`: what a frame file holds — format, sample type, shape, geometry, value
//! range and memory size — without needing its `meta.json`.
//!
//! [`InputArgs`] are the frame-reading options shared by every command that reads frames
//! (`#[command(flatten)]` them and call [`InputArgs::read_options`]).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde_json::json;
use ulm_core::{FrameData, Geometry};
use ulm_io::{AxisOrder, FrameInfo, ReadOptions};

use super::Context;
use crate::output;
use crate::progress::Bar;

/// How to read a frame file: variable name, axis order, sidecar, NaN policy.
#[derive(Debug, Clone, clap::Args)]
pub struct InputArgs {
    /// Variable / dataset inside a .mat or .h5 file (e.g. `IQ`, or `group/IQ` in HDF5).
    /// Default: the file's only 2-D/3-D numeric variable, else `IQ`.
    #[arg(long, value_name = "NAME")]
    pub dataset: Option<String>,
    /// Meaning of the stored axes, in the order NumPy's `shape` or MATLAB's `size()` lists
    /// them: t = frames, z = depth (rows), x = lateral (cols). ulm's own files are `tzx`;
    /// MATLAB stacks such as PALA's `IQ` are `zxt`. One of tzx, txz, zxt, xzt, ztx, xtz.
    #[arg(long, value_name = "ORDER", default_value = "tzx")]
    pub axis_order: AxisOrder,
    /// Geometry sidecar (JSON: frame_rate_hz [Hz], pixel_size_x_mm, pixel_size_z_mm,
    /// x0_mm, z0_mm [mm], and wavelength_mm [mm] or center_frequency_hz [Hz] +
    /// speed_of_sound_m_s [m/s]). Default: `meta.json` next to the frame file (inside a
    /// frame folder).
    #[arg(long, value_name = "FILE")]
    pub meta: Option<PathBuf>,
    /// Accept NaN / Inf samples instead of stopping with an error.
    #[arg(long)]
    pub allow_non_finite: bool,
}

impl InputArgs {
    /// The library's reading options.
    pub fn read_options(&self) -> ReadOptions {
        ReadOptions {
            dataset: self.dataset.clone(),
            axis_order: self.axis_order,
            meta: self.meta.clone(),
            allow_non_finite: self.allow_non_finite,
        }
    }
}

/// Options of `ulm info`.
#[derive(Debug, clap::Args)]
#[command(after_long_help = "Units: positions and pixel sizes in mm, frame rate in Hz, wavelength in mm, \
    duration in s, memory in MiB (2^20 bytes) of the frames as ulm holds them (float32, or complex64 \
    for IQ). The value range is of the magnitude |sample|. Without a meta.json the geometry is \
    reported as unknown; everything else is still printed.")]
pub struct Args {
    /// Frame file (.npy, .mat v5 or v7.3, .h5, .png, .tif) or folder of PNG/TIFF frames.
    #[arg(value_name = "FRAMES")]
    frames: PathBuf,
    #[command(flatten)]
    input: InputArgs,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// Magnitude range and count of non-finite samples, streamed block by block.
struct Stats {
    min: f32,
    max: f32,
    non_finite: u64,
}

fn stats(raw: &mut ulm_io::RawFrames, quiet: bool) -> anyhow::Result<Stats> {
    let [n, r, c] = raw.info().shape;
    let frame_bytes = (r * c * if raw.info().is_complex() { 8 } else { 4 }).max(1);
    let block = ((64usize << 20) / frame_bytes).max(1);
    let bar = Bar::new(n as u64, "frames", quiet || n <= block);
    let mut s = Stats { min: f32::INFINITY, max: f32::NEG_INFINITY, non_finite: 0 };
    let mut add = |v: f32| {
        if v.is_finite() {
            s.min = s.min.min(v);
            s.max = s.max.max(v);
        } else {
            s.non_finite += 1;
        }
    };
    for start in (0..n).step_by(block) {
        match raw.read_block(start, block)? {
            FrameData::Real(a) => a.iter().for_each(|&v| add(v.abs())),
            FrameData::Complex(a) => a.iter().for_each(|v| add(if v.is_finite() { v.norm() } else { f32::NAN })),
        }
        ulm_core::Progress::inc(&bar, (n - start).min(block) as u64);
    }
    ulm_core::Progress::finish(&bar);
    Ok(s)
}

fn axes_text(info: &FrameInfo) -> String {
    let letters = info.axis_order.letters();
    if info.stored_shape.len() == 3 {
        letters.iter().map(|l| l.to_string()).collect::<Vec<_>>().join(", ")
    } else {
        letters.iter().filter(|&&l| l != 't').map(|l| l.to_string()).collect::<Vec<_>>().join(", ")
    }
}

fn geometry_json(g: &Geometry, meta: &Path, shape: [usize; 3]) -> serde_json::Value {
    let (x0, x1) = g.x_range_mm(shape[2]);
    let (z0, z1) = g.z_range_mm(shape[1]);
    json!({
        "meta": meta,
        "pixel_size_x_mm": g.pixel_size_x_mm,
        "pixel_size_z_mm": g.pixel_size_z_mm,
        "x0_mm": g.x0_mm,
        "z0_mm": g.z0_mm,
        "wavelength_mm": g.wavelength_mm,
        "frame_rate_hz": g.frame_rate_hz,
        "x_range_mm": [x0, x1],
        "z_range_mm": [z0, z1],
        "width_mm": shape[2] as f64 * g.pixel_size_x_mm,
        "depth_mm": shape[1] as f64 * g.pixel_size_z_mm,
        "duration_s": shape[0] as f64 / g.frame_rate_hz,
    })
}

/// Runs `ulm info`.
pub fn run(args: Args, ctx: &Context) -> anyhow::Result<()> {
    let opts = args.input.read_options();
    let mut raw = ulm_io::open_raw(&args.frames, &opts).context("cannot read frames")?;
    let info = raw.info().clone();
    let geometry = ulm_io::find_geometry(&info, &opts).context("cannot read the geometry sidecar")?;
    let st = stats(&mut raw, ctx.quiet).context("cannot read frames")?;
    let [n, rows, cols] = info.shape;
    let mib = info.memory_bytes() as f64 / (1u64 << 20) as f64;
    let range = (st.min <= st.max).then_some((st.min, st.max));
    let mut out = String::new();
    if args.json {
        let v = json!({
            "file": info.path,
            "format": info.format.name(),
            "variable": info.variable,
            "dtype": info.dtype.name(),
            "complex": info.is_complex(),
            "stored_shape": info.stored_shape,
            "stored_axes": axes_text(&info),
            "fortran_order": info.fortran_order,
            "axis_order": info.axis_order.name(),
            "frames": n,
            "rows": rows,
            "cols": cols,
            "geometry": geometry.as_ref().map(|(p, g)| geometry_json(g, p, info.shape)),
            "magnitude_min": range.map(|r| r.0),
            "magnitude_max": range.map(|r| r.1),
            "non_finite": st.non_finite,
            "memory_bytes": info.memory_bytes(),
            "memory_mib": mib,
        });
        writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
        output::print(&out)?;
        return Ok(());
    }
    writeln!(out, "file:        {}", info.path.display())?;
    match &info.variable {
        Some(v) => writeln!(out, "format:      {}, variable `{v}`", info.format)?,
        None => writeln!(out, "format:      {}", info.format)?,
    }
    let held = if info.is_complex() { "complex64" } else { "float32" };
    writeln!(out, "dtype:       {} on disk, {held} in memory", info.dtype)?;
    writeln!(
        out,
        "stored:      {:?} as [{}]{}",
        info.stored_shape,
        axes_text(&info),
        if info.fortran_order { ", column-major" } else { "" }
    )?;
    writeln!(out, "shape:       {n} frames × {rows} rows (z) × {cols} cols (x)")?;
    match &geometry {
        None => writeln!(
            out,
            "geometry:    unknown (no meta.json; looked for {})",
            ulm_io::meta_path_for(&info.path, &opts).display()
        )?,
        Some((p, g)) => {
            let (x0, x1) = g.x_range_mm(cols);
            let (z0, z1) = g.z_range_mm(rows);
            writeln!(out, "geometry:    from {}", p.display())?;
            writeln!(out, "  pixel size:    x {} mm, z {} mm", g.pixel_size_x_mm, g.pixel_size_z_mm)?;
            writeln!(out, "  origin:        x0 {} mm, z0 {} mm (centre of pixel [0, 0])", g.x0_mm, g.z0_mm)?;
            writeln!(out, "  wavelength:    {:.6} mm", g.wavelength_mm)?;
            writeln!(out, "  frame rate:    {} Hz", g.frame_rate_hz)?;
            writeln!(
                out,
                "  field of view: x {x0:.4} … {x1:.4} mm, z {z0:.4} … {z1:.4} mm (pixel centres); {:.4} × {:.4} mm",
                cols as f64 * g.pixel_size_x_mm,
                rows as f64 * g.pixel_size_z_mm
            )?;
            writeln!(out, "  duration:      {} s", n as f64 / g.frame_rate_hz)?;
        }
    }
    match range {
        Some((lo, hi)) => writeln!(out, "value range: |sample| {lo} … {hi}")?,
        None => writeln!(out, "value range: none (no finite sample)")?,
    }
    if st.non_finite > 0 {
        writeln!(out, "non-finite:  {} samples (NaN or Inf)", st.non_finite)?;
    }
    writeln!(out, "memory:      {mib:.3} MiB ({} bytes of {held})", info.memory_bytes())?;
    output::print(&out)?;
    Ok(())
}
