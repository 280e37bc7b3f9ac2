//! Line plots: curves against a numeric x axis, with axis labels (units in the label),
//! ticks, a light grid, horizontal reference lines and a legend.

use plotters::prelude::*;

use crate::figure::{FAMILY, Figure, ReportError, register_font, tick};

/// Series colours, in order (colour-blind-safe Okabe–Ito).
const COLOURS: [RGBColor; 6] = [
    RGBColor(230, 159, 0),
    RGBColor(0, 114, 178),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(86, 180, 233),
    RGBColor(213, 94, 0),
];

/// One curve.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend name.
    pub name: String,
    /// x values.
    pub x: Vec<f64>,
    /// y values (non-finite points are left out, breaking the line there).
    pub y: Vec<f64>,
}

/// A line plot: build it with [`LinePlot::new`] and [`LinePlot::series`], then
/// [`LinePlot::render`].
#[derive(Debug, Clone, PartialEq)]
pub struct LinePlot {
    /// Title above the plot.
    pub title: String,
    /// x-axis label, with its unit (e.g. `spatial frequency (1/mm)`).
    pub x_label: String,
    /// y-axis label, with its unit.
    pub y_label: String,
    /// The curves.
    pub series: Vec<Series>,
    /// Horizontal reference lines `(y, legend name)` (e.g. a threshold).
    pub references: Vec<(f64, String)>,
    /// y range; default from 0 (or the lowest value, if negative) to 5 % above the highest.
    pub y_range: Option<(f64, f64)>,
    /// Size in pixels `(width, height)`; default 640 × 420.
    pub size: (u32, u32),
}

impl LinePlot {
    /// An empty plot with a title and axis labels (put units in the labels).
    pub fn new(title: &str, x_label: &str, y_label: &str) -> Self {
        Self {
            title: title.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            series: Vec::new(),
            references: Vec::new(),
            y_range: None,
            size: (640, 420),
        }
    }

    /// Adds a curve.
    pub fn series(mut self, name: &str, x: &[f64], y: &[f64]) -> Self {
        self.series.push(Series { name: name.into(), x: x.to_vec(), y: y.to_vec() });
        self
    }

    /// Adds a horizontal reference line at `y`.
    pub fn reference_line(mut self, y: f64, name: &str) -> Self {
        self.references.push((y, name.into()));
        self
    }

    /// Sets the y range.
    pub fn y_range(mut self, lo: f64, hi: f64) -> Self {
        self.y_range = Some((lo, hi));
        self
    }

    /// Draws the plot. Non-finite points are left out; a curve with none left is drawn
    /// as empty axes.
    pub fn render(&self) -> Result<Figure, ReportError> {
        register_font();
        let t = &self.title;
        let finite = |s: &Series| -> Vec<(f64, f64)> {
            s.x.iter().zip(&s.y).map(|(&x, &y)| (x, y)).filter(|(x, y)| x.is_finite() && y.is_finite()).collect()
        };
        let points: Vec<Vec<(f64, f64)>> = self.series.iter().map(finite).collect();
        let all = points.iter().flatten();
        // The x axis spans every finite x (a curve that is all NaN still gets its axes).
        let xs = self.series.iter().flat_map(|s| s.x.iter().copied()).filter(|x| x.is_finite());
        let (x_lo, x_hi) = xs.fold((f64::INFINITY, f64::NEG_INFINITY), |b, x| (b.0.min(x), b.1.max(x)));
        let (x_lo, x_hi) = if x_lo > x_hi { (0.0, 1.0) } else { (x_lo, x_hi) };
        let x_hi = if x_hi > x_lo { x_hi } else { x_lo + 1.0 };
        let (y_lo, y_hi) = match self.y_range {
            Some(r) => r,
            None => {
                let refs = self.references.iter().map(|r| r.0).filter(|v| v.is_finite());
                let ys = all.map(|p| p.1).chain(refs);
                let (lo, hi) = ys.fold((0.0f64, f64::NEG_INFINITY), |b, y| (b.0.min(y), b.1.max(y)));
                let hi = if hi > lo { hi } else { lo + 1.0 };
                (lo, hi + 0.05 * (hi - lo))
            }
        };
        if !(y_lo.is_finite() && y_hi.is_finite() && y_hi > y_lo) {
            return Err(ReportError::data(t, format!("invalid y range {y_lo} … {y_hi}")));
        }
        let (w, h) = self.size;
        let mut rgb = vec![255u8; w as usize * h as usize * 3];
        let plot_area = {
            let root = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
            root.fill(&WHITE).map_err(|e| ReportError::draw(t, e))?;
            let mut chart = ChartBuilder::on(&root)
                .caption(t, (FAMILY, 18))
                .margin(12)
                .x_label_area_size(44)
                .y_label_area_size(62)
                .build_cartesian_2d(x_lo..x_hi, y_lo..y_hi)
                .map_err(|e| ReportError::draw(t, e))?;
            chart
                .configure_mesh()
                .light_line_style(RGBColor(235, 235, 235))
                .bold_line_style(RGBColor(210, 210, 210))
                .x_desc(self.x_label.as_str())
                .y_desc(self.y_label.as_str())
                .label_style((FAMILY, 13))
                .axis_desc_style((FAMILY, 14))
                .x_label_formatter(&|v| tick(*v))
                .y_label_formatter(&|v| tick(*v))
                .draw()
                .map_err(|e| ReportError::draw(t, e))?;
            for (i, (s, pts)) in self.series.iter().zip(&points).enumerate() {
                let colour = COLOURS[i % COLOURS.len()];
                chart
                    .draw_series(LineSeries::new(pts.iter().copied(), colour.stroke_width(2)))
                    .map_err(|e| ReportError::draw(t, e))?
                    .label(s.name.as_str())
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(2)));
            }
            for (i, (y, name)) in self.references.iter().enumerate() {
                let colour = if i == 0 { RGBColor(90, 90, 90) } else { COLOURS[(i + 3) % COLOURS.len()] };
                chart
                    .draw_series(DashedLineSeries::new([(x_lo, *y), (x_hi, *y)], 6, 4, colour.stroke_width(1)))
                    .map_err(|e| ReportError::draw(t, e))?
                    .label(name.as_str())
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(1)));
            }
            if self.series.len() + self.references.len() > 1 {
                chart
                    .configure_series_labels()
                    .label_font((FAMILY, 13))
                    .background_style(WHITE.mix(0.85))
                    .border_style(RGBColor(180, 180, 180))
                    .position(SeriesLabelPosition::UpperRight)
                    .draw()
                    .map_err(|e| ReportError::draw(t, e))?;
            }
            let area = chart.plotting_area().get_pixel_range();
            root.present().map_err(|e| ReportError::draw(t, e))?;
            area
        };
        Ok(Figure { width: w, height: h, rgb, plot_area })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_dark(p: [u8; 3]) -> bool {
        p.iter().all(|&c| c < 110)
    }

    #[test]
    fn curve_lands_where_its_values_say_and_labels_are_drawn() {
        // y = x on [0, 2] with the y range fixed to [0, 2]: the curve is the diagonal of
        // the plotting area.
        let x: Vec<f64> = (0..=20).map(|i| i as f64 * 0.1).collect();
        let fig =
            LinePlot::new("diagonal", "x (mm)", "y (mm)").series("y = x", &x, &x).y_range(0.0, 2.0).render().unwrap();
        let (xr, yr) = fig.plot_area.clone();
        let orange = |p: [u8; 3]| p[0] > 200 && (120..200).contains(&p[1]) && p[2] < 60;
        for frac in [0.25, 0.5, 0.75] {
            let px = xr.start + ((xr.end - xr.start) as f64 * frac) as i32;
            let py = yr.end - ((yr.end - yr.start) as f64 * frac) as i32;
            let near = (-3..=3).any(|d| orange(fig.pixel(px as u32, (py + d) as u32)));
            assert!(near, "curve missing near {frac} of the axes");
            // Far from the diagonal there is no curve.
            let off = yr.start + ((yr.end - yr.start) as f64 * frac * 0.4) as i32;
            assert!(!orange(fig.pixel(px as u32, off as u32)));
        }
        // Tick labels and axis titles are text: dark pixels left of and below the axes.
        let left = (0..xr.start as u32 - 4).flat_map(|x| (yr.start as u32..yr.end as u32).map(move |y| (x, y)));
        assert!(left.filter(|&(x, y)| is_dark(fig.pixel(x, y))).count() > 100, "no y labels");
        let below = (xr.start as u32..xr.end as u32).flat_map(|x| (yr.end as u32 + 4..fig.height).map(move |y| (x, y)));
        assert!(below.filter(|&(x, y)| is_dark(fig.pixel(x, y))).count() > 100, "no x labels");
    }

    #[test]
    fn all_nan_curve_gives_empty_axes_and_bad_range_names_the_figure() {
        let x = [0.0, 1.0, 2.0];
        let fig = LinePlot::new("FRC", "f (1/mm)", "FRC").series("frc", &x, &[f64::NAN; 3]).render().unwrap();
        let (xr, yr) = fig.plot_area.clone();
        let orange = (xr.start as u32 + 2..xr.end as u32 - 2)
            .flat_map(|x| (yr.start as u32 + 2..yr.end as u32 - 2).map(move |y| (x, y)))
            .filter(|&(x, y)| fig.pixel(x, y) == [230, 159, 0])
            .count();
        assert_eq!(orange, 0, "no curve drawn");
        let e = LinePlot::new("FRC", "f", "FRC").series("a", &x, &x).y_range(1.0, 1.0).render().unwrap_err();
        assert!(e.to_string().contains("FRC") && e.to_string().contains("invalid y range"), "{e}");
    }
}
