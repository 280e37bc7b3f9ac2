//! `metrics.csv` (one row per step) and the PNG plot of the curves.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use plotters::prelude::*;

use crate::TrainError;
use crate::validate::ValidationScores;

/// Appends rows to `metrics.csv`.
#[derive(Debug)]
pub struct MetricsWriter {
    path: PathBuf,
    file: File,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> TrainError + '_ {
    move |source| TrainError::Io { path: path.to_path_buf(), source }
}

/// The header of `metrics.csv` for loss components `names`.
pub fn header(names: &[&str]) -> String {
    let mut h = vec!["step".to_string(), "lr".into(), "loss".into()];
    h.extend(names.iter().map(|n| format!("loss_{n}")));
    h.extend(
        [
            "grad_norm",
            "skipped",
            "wall_s",
            "val_precision",
            "val_recall",
            "val_f1",
            "val_rmse_wl",
            "val_threshold",
            "val_coco_ap",
            "val_coco_ap50",
            "val_coco_ap75",
            "val_coco_ar100",
        ]
        .map(String::from),
    );
    h.join(",")
}

impl MetricsWriter {
    /// Opens `path` for a run resumed after step `keep_until` (rows of later steps, written
    /// after the checkpoint, are dropped) or a new run (`keep_until = None`: file replaced).
    ///
    /// # Errors
    /// If the file cannot be read or written.
    pub fn open(path: &Path, names: &[&str], keep_until: Option<usize>) -> Result<Self, TrainError> {
        let head = header(names);
        let width = head.split(',').count();
        let mut kept = vec![head.clone()];
        if let (Some(until), true) = (keep_until, path.exists()) {
            let f = File::open(path).map_err(io(path))?;
            for line in BufReader::new(f).lines().skip(1) {
                let line = line.map_err(io(path))?;
                match line.split(',').next().and_then(|s| s.parse::<usize>().ok()) {
                    // Rows of an older version with fewer columns are padded.
                    Some(step) if step <= until => {
                        let missing = width.saturating_sub(line.split(',').count());
                        kept.push(line + &",".repeat(missing));
                    }
                    _ => {}
                }
            }
        }
        let text = kept.join("\n") + "\n";
        ulm_io::atomic_write_bytes(path, text.as_bytes())
            .map_err(|e| TrainError::Write { path: path.to_path_buf(), message: e.to_string() })?;
        let file = OpenOptions::new().append(true).open(path).map_err(io(path))?;
        Ok(Self { path: path.to_path_buf(), file })
    }

    /// Appends one row (`step` is 1-based: the number of steps done).
    ///
    /// # Errors
    /// If the file cannot be written.
    #[allow(clippy::too_many_arguments)]
    pub fn row(
        &mut self,
        step: usize,
        lr: f64,
        loss: f64,
        components: &[f64],
        grad_norm: f64,
        skipped: bool,
        wall_s: f64,
        val: Option<&ValidationScores>,
    ) -> Result<(), TrainError> {
        let mut cols = vec![step.to_string(), format!("{lr:.6e}"), format!("{loss:.6}")];
        cols.extend(components.iter().map(|c| format!("{c:.6}")));
        cols.push(format!("{grad_norm:.6}"));
        cols.push(u8::from(skipped).to_string());
        cols.push(format!("{wall_s:.3}"));
        match val {
            Some(v) => cols.extend([
                format!("{:.6}", v.precision),
                format!("{:.6}", v.recall),
                format!("{:.6}", v.f1),
                format!("{:.6}", v.rmse_wavelengths),
                format!("{:.2}", v.threshold),
                format!("{:.6}", v.coco_ap),
                format!("{:.6}", v.coco_ap50),
                format!("{:.6}", v.coco_ap75),
                format!("{:.6}", v.coco_ar100),
            ]),
            None => cols.extend(std::iter::repeat_n(String::new(), 9)),
        }
        writeln!(self.file, "{}", cols.join(",")).map_err(io(&self.path))
    }
}

/// Draw `metrics.csv` to a PNG: top panel the training loss (per step, and a 50-step
/// running mean), bottom panel validation precision (blue), recall (green) and F1 (red)
/// on `[0, 1]`. No text: the bitmap backend here has no font (axes only).
///
/// # Errors
/// If the CSV cannot be read or the PNG written.
pub fn plot(csv: &Path, png: &Path) -> Result<(), TrainError> {
    let f = File::open(csv).map_err(io(csv))?;
    let mut lines = BufReader::new(f).lines();
    let head = lines.next().transpose().map_err(io(csv))?.unwrap_or_default();
    let names: Vec<&str> = head.split(',').collect();
    let col = |n: &str| names.iter().position(|c| *c == n);
    let (Some(ls), Some(lp), Some(lr), Some(lf)) =
        (col("loss"), col("val_precision"), col("val_recall"), col("val_f1"))
    else {
        return Err(TrainError::Config(format!("{}: not a metrics.csv", csv.display())));
    };
    let mut loss = Vec::new();
    let mut val = Vec::new();
    for line in lines {
        let line = line.map_err(io(csv))?;
        let v: Vec<&str> = line.split(',').collect();
        let Some(step) = v.first().and_then(|s| s.parse::<f64>().ok()) else { continue };
        if let Some(l) = v.get(ls).and_then(|s| s.parse::<f64>().ok()).filter(|l| l.is_finite()) {
            loss.push((step, l));
        }
        let g = |i: usize| v.get(i).and_then(|s| s.parse::<f64>().ok());
        if let (Some(p), Some(r), Some(f1)) = (g(lp), g(lr), g(lf)) {
            val.push((step, p, r, f1));
        }
    }
    draw(png, &loss, &val).map_err(|message| TrainError::Write { path: png.to_path_buf(), message })
}

fn draw(png: &Path, loss: &[(f64, f64)], val: &[(f64, f64, f64, f64)]) -> Result<(), String> {
    let e = |e: &dyn std::fmt::Display| e.to_string();
    let tmp = png.with_extension("png.tmp.png");
    {
        let root = BitMapBackend::new(&tmp, (900, 700)).into_drawing_area();
        root.fill(&WHITE).map_err(|x| e(&x))?;
        let (top, bottom) = root.split_vertically(400);
        let max_step = loss.iter().map(|p| p.0).chain(val.iter().map(|p| p.0)).fold(1.0, f64::max);
        let lmax = loss.iter().map(|p| p.1).fold(1e-6, f64::max);
        let mut c = ChartBuilder::on(&top)
            .margin(15)
            .set_all_label_area_size(0)
            .build_cartesian_2d(0.0..max_step, 0.0..lmax * 1.05)
            .map_err(|x| e(&x))?;
        c.configure_mesh().disable_x_mesh().y_labels(6).x_labels(10).draw().map_err(|x| e(&x))?;
        c.draw_series(LineSeries::new(loss.iter().copied(), RGBColor(200, 200, 200))).map_err(|x| e(&x))?;
        let w = 50usize;
        let smooth: Vec<(f64, f64)> = (0..loss.len())
            .map(|i| {
                let lo = i.saturating_sub(w - 1);
                let s = &loss[lo..=i];
                (loss[i].0, s.iter().map(|p| p.1).sum::<f64>() / s.len() as f64)
            })
            .collect();
        c.draw_series(LineSeries::new(smooth, BLACK.stroke_width(2))).map_err(|x| e(&x))?;
        let mut c = ChartBuilder::on(&bottom)
            .margin(15)
            .set_all_label_area_size(0)
            .build_cartesian_2d(0.0..max_step, 0.0..1.0)
            .map_err(|x| e(&x))?;
        c.configure_mesh().y_labels(11).x_labels(10).draw().map_err(|x| e(&x))?;
        for (k, color) in [(1usize, BLUE), (2, GREEN), (3, RED)] {
            let pts = val.iter().map(|v| (v.0, [v.1, v.2, v.3][k - 1]));
            c.draw_series(LineSeries::new(pts, color.stroke_width(2))).map_err(|x| e(&x))?;
        }
        root.present().map_err(|x| e(&x))?;
    }
    std::fs::rename(&tmp, png).map_err(|x| e(&x))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resume_drops_rows_after_the_checkpoint_and_plot_writes_a_png() {
        let tmp = tempfile::tempdir().unwrap();
        let csv = tmp.path().join("metrics.csv");
        let v = ValidationScores {
            threshold: 0.5,
            precision: 0.8,
            recall: 0.6,
            f1: 0.6857,
            rmse_wavelengths: 0.2,
            n_truth: 10,
            coco_ap: 0.5,
            coco_ap50: 0.9,
            coco_ap75: 0.4,
            coco_ar100: 0.6,
        };
        {
            let mut w = MetricsWriter::open(&csv, &["a"], None).unwrap();
            for s in 1..=5 {
                w.row(s, 1e-4, 1.0 / s as f64, &[0.5], 0.1, false, s as f64, (s == 4).then_some(&v)).unwrap();
            }
        }
        MetricsWriter::open(&csv, &["a"], Some(3)).unwrap();
        let text = std::fs::read_to_string(&csv).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], header(&["a"]));
        assert_eq!(lines.len(), 4, "{text}");
        assert!(lines[3].starts_with("3,"));
        let png = tmp.path().join("curves.png");
        let mut w = MetricsWriter::open(&csv, &["a"], Some(3)).unwrap();
        w.row(4, 1e-4, 0.2, &[0.1], 0.1, false, 4.0, Some(&v)).unwrap();
        plot(&csv, &png).unwrap();
        let bytes = std::fs::read(&png).unwrap();
        assert_eq!(&bytes[1..4], b"PNG");
    }
}
