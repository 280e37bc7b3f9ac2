//! Writes, for each preset and each PSF model, the first envelope frame (log-compressed over
//! 40 dB, 3× enlarged) and the ground-truth density map as PNG, for looking at:
//! `cargo run --release -p ulm-sim --example preview -- OUT_DIR [FRAMES]`.

use ulm_core::NoProgress;
use ulm_sim::{Preset, PsfModel, SimConfig, density_image, log_compress, simulate};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let out = std::path::PathBuf::from(args.next().ok_or("usage: preview OUT_DIR [FRAMES]")?);
    let frames: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(1000);
    std::fs::create_dir_all(&out)?;
    for (p, psf) in Preset::ALL.iter().flat_map(|&p| PsfModel::ALL.map(|m| (p, m))) {
        let mut c = SimConfig::preset(p);
        c.imaging.psf = psf;
        let t = std::time::Instant::now();
        let sim = simulate(&c, frames, 1, &NoProgress)?;
        let secs = t.elapsed().as_secs_f64();
        let g = *sim.iq.geometry();
        // Frame 0, log-compressed over 40 dB, shown 3× larger (nearest neighbour).
        let frame = log_compress(&sim.iq.frame_envelope(0), 40.0);
        let big =
            ndarray::Array2::from_shape_fn((frame.nrows() * 3, frame.ncols() * 3), |(r, c)| frame[[r / 3, c / 3]]);
        write_png(&out.join(format!("{p}_{psf}_frame.png")), &big)?;
        let d = density_image(&sim.truth, &g, sim.iq.rows(), sim.iq.cols());
        write_png(&out.join(format!("{p}_{psf}_density.png")), &d)?;
        let per_frame = sim.truth.len() as f64 / frames as f64;
        println!(
            "{p} ({psf}): {frames} frames {}×{} in {secs:.2} s, {per_frame:.1} GT bubbles/frame",
            sim.iq.rows(),
            sim.iq.cols()
        );
    }
    Ok(())
}

/// An 8-bit grey PNG (the example avoids depending on ulm-io).
fn write_png(path: &std::path::Path, img: &ndarray::Array2<u8>) -> Result<(), Box<dyn std::error::Error>> {
    let (h, w) = img.dim();
    let f = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut enc = png::Encoder::new(f, w as u32, h as u32);
    enc.set_color(png::ColorType::Grayscale);
    enc.set_depth(png::BitDepth::Eight);
    let mut wr = enc.write_header()?;
    wr.write_image_data(&img.iter().copied().collect::<Vec<u8>>())?;
    wr.finish()?;
    Ok(())
}
