use crate::{Error, Geometry, Result};

/// A column of a localization table that ulm does not interpret; kept verbatim so that
/// reading and writing a CSV never loses a user's data.
#[derive(Debug, Clone, PartialEq)]
pub struct ExtraColumn {
    /// Header name.
    pub name: String,
    /// One cell per row, as text.
    pub values: Vec<String>,
}

impl ExtraColumn {
    /// Cells parsed as `f64`; `None` if any cell is not a number.
    pub fn as_f64(&self) -> Option<Vec<f64>> {
        self.values.iter().map(|v| v.trim().parse::<f64>().ok()).collect()
    }
}

/// The localization table: one row per detected (or ground-truth) microbubble.
///
/// Columns are parallel vectors of equal length (checked by [`Localizations::validate`]).
/// Stages add columns, never rename them. Stable CSV names: `frame, x_mm, z_mm, score`,
/// optional `w_mm, h_mm` (box size), any other column in [`Localizations::extra`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Localizations {
    /// Frame index (0-based) of each localization.
    pub frame: Vec<u32>,
    /// Lateral position in mm.
    pub x_mm: Vec<f64>,
    /// Depth in mm.
    pub z_mm: Vec<f64>,
    /// Confidence or intensity score (1.0 for ground truth).
    pub score: Vec<f32>,
    /// Optional box width (lateral) in mm.
    pub w_mm: Option<Vec<f64>>,
    /// Optional box height (depth) in mm.
    pub h_mm: Option<Vec<f64>>,
    /// Other columns (e.g. `track_id`, `vx_mm_s`, `x_px`), kept verbatim.
    pub extra: Vec<ExtraColumn>,
}

impl Localizations {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty table with room for `n` rows.
    pub fn with_capacity(n: usize) -> Self {
        Self {
            frame: Vec::with_capacity(n),
            x_mm: Vec::with_capacity(n),
            z_mm: Vec::with_capacity(n),
            score: Vec::with_capacity(n),
            ..Self::default()
        }
    }

    /// Appends one row of the required columns. Only valid while the table has no
    /// optional or extra columns (checked by [`Localizations::validate`]).
    pub fn push(&mut self, frame: u32, x_mm: f64, z_mm: f64, score: f32) {
        self.frame.push(frame);
        self.x_mm.push(x_mm);
        self.z_mm.push(z_mm);
        self.score.push(score);
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.frame.len()
    }

    /// Whether the table has no rows.
    pub fn is_empty(&self) -> bool {
        self.frame.is_empty()
    }

    /// Checks that every column has one value per row and that positions are finite.
    pub fn validate(&self) -> Result<()> {
        let n = self.frame.len();
        let check = |name: &str, len: usize| {
            if len != n {
                Err(Error::Shape(format!("column `{name}` has {len} values, `frame` has {n}")))
            } else {
                Ok(())
            }
        };
        check("x_mm", self.x_mm.len())?;
        check("z_mm", self.z_mm.len())?;
        check("score", self.score.len())?;
        if let Some(w) = &self.w_mm {
            check("w_mm", w.len())?;
        }
        if let Some(h) = &self.h_mm {
            check("h_mm", h.len())?;
        }
        for c in &self.extra {
            check(&c.name, c.values.len())?;
        }
        for i in 0..n {
            if !(self.x_mm[i].is_finite() && self.z_mm[i].is_finite()) {
                return Err(Error::InvalidValue(format!("row {i}: non-finite position")));
            }
        }
        Ok(())
    }

    /// Adds (or replaces) an extra column.
    pub fn set_extra(&mut self, name: &str, values: Vec<String>) {
        if let Some(c) = self.extra.iter_mut().find(|c| c.name == name) {
            c.values = values;
        } else {
            self.extra.push(ExtraColumn { name: name.to_string(), values });
        }
    }

    /// An extra column by name.
    pub fn extra(&self, name: &str) -> Option<&ExtraColumn> {
        self.extra.iter().find(|c| c.name == name)
    }

    /// Fractional `(col, row)` pixel position of row `i` in the given geometry.
    pub fn px(&self, i: usize, geometry: &Geometry) -> (f64, f64) {
        geometry.mm_to_px(self.x_mm[i], self.z_mm[i])
    }

    /// Highest frame index + 1 (0 for an empty table).
    pub fn n_frames(&self) -> usize {
        self.frame.iter().max().map_or(0, |&f| f as usize + 1)
    }

    /// Row indices grouped by frame: `out[f]` lists the rows of frame `f`, for
    /// `f < n_frames.max(self.n_frames())`.
    pub fn rows_by_frame(&self, n_frames: usize) -> Vec<Vec<usize>> {
        let mut out = vec![Vec::new(); n_frames.max(self.n_frames())];
        for (i, &f) in self.frame.iter().enumerate() {
            out[f as usize].push(i);
        }
        out
    }

    /// A new table with the rows `idx` (in that order), every column carried along.
    pub fn select(&self, idx: &[usize]) -> Self {
        let pick_f64 = |v: &Vec<f64>| idx.iter().map(|&i| v[i]).collect::<Vec<_>>();
        Self {
            frame: idx.iter().map(|&i| self.frame[i]).collect(),
            x_mm: pick_f64(&self.x_mm),
            z_mm: pick_f64(&self.z_mm),
            score: idx.iter().map(|&i| self.score[i]).collect(),
            w_mm: self.w_mm.as_ref().map(pick_f64),
            h_mm: self.h_mm.as_ref().map(pick_f64),
            extra: self
                .extra
                .iter()
                .map(|c| ExtraColumn {
                    name: c.name.clone(),
                    values: idx.iter().map(|&i| c.values[i].clone()).collect(),
                })
                .collect(),
        }
    }

    /// Rows sorted by `(frame, original order)`.
    pub fn sorted_by_frame(&self) -> Self {
        let mut idx: Vec<usize> = (0..self.len()).collect();
        idx.sort_by_key(|&i| self.frame[i]);
        self.select(&idx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn select_and_group_keep_columns_aligned() {
        let mut l = Localizations::new();
        l.push(2, 1.0, 5.0, 0.5);
        l.push(0, 2.0, 6.0, 0.9);
        l.push(2, 3.0, 7.0, 0.1);
        l.set_extra("track_id", vec!["7".into(), "8".into(), "9".into()]);
        l.validate().unwrap();
        let groups = l.rows_by_frame(0);
        assert_eq!(groups, vec![vec![1], vec![], vec![0, 2]]);
        let s = l.sorted_by_frame();
        assert_eq!(s.frame, vec![0, 2, 2]);
        assert_eq!(s.x_mm, vec![2.0, 1.0, 3.0]);
        assert_eq!(s.extra("track_id").unwrap().values, vec!["8", "7", "9"]);
        assert_eq!(s.extra("track_id").unwrap().as_f64(), Some(vec![8.0, 7.0, 9.0]));
    }

    #[test]
    fn ragged_columns_rejected() {
        let mut l = Localizations::new();
        l.push(0, 1.0, 1.0, 1.0);
        l.score.push(2.0);
        assert!(matches!(l.validate(), Err(Error::Shape(_))));
    }
}
