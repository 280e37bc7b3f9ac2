//! Colormaps: perceptual sequential maps (matplotlib's inferno and plasma, sampled at 33
//! points and interpolated linearly) and a two-sided map for signed values.

use serde::{Deserialize, Serialize};

/// A colormap from `[0, 1]` to RGB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Colormap {
    /// Black → purple → orange → pale yellow (densities).
    Inferno,
    /// Blue → magenta → yellow (speeds).
    Plasma,
    /// Two-sided, dark at the centre: light blue (−1, up) ← black (0) → orange-red (+1,
    /// down), for the axial direction.
    Direction,
    /// Grey levels.
    Gray,
}

const INFERNO: [[u8; 3]; 33] = [
    [0, 0, 4],
    [4, 3, 18],
    [11, 7, 36],
    [21, 11, 55],
    [33, 12, 74],
    [47, 10, 91],
    [61, 9, 101],
    [74, 12, 107],
    [87, 16, 110],
    [100, 21, 110],
    [113, 25, 110],
    [125, 30, 109],
    [138, 34, 106],
    [151, 39, 102],
    [163, 44, 97],
    [176, 49, 91],
    [188, 55, 84],
    [199, 62, 76],
    [210, 70, 68],
    [219, 80, 59],
    [228, 90, 49],
    [235, 102, 40],
    [241, 115, 29],
    [246, 128, 19],
    [249, 142, 9],
    [251, 157, 7],
    [252, 172, 17],
    [251, 188, 33],
    [249, 203, 53],
    [245, 219, 76],
    [242, 234, 105],
    [243, 246, 138],
    [252, 255, 164],
];

const PLASMA: [[u8; 3]; 33] = [
    [13, 8, 135],
    [34, 6, 144],
    [49, 5, 151],
    [63, 4, 156],
    [76, 2, 161],
    [89, 1, 165],
    [102, 0, 167],
    [114, 1, 168],
    [126, 3, 168],
    [138, 9, 165],
    [149, 17, 161],
    [160, 26, 156],
    [170, 35, 149],
    [179, 44, 142],
    [188, 53, 135],
    [196, 62, 127],
    [204, 71, 120],
    [211, 81, 113],
    [218, 90, 106],
    [224, 99, 99],
    [230, 108, 92],
    [235, 118, 85],
    [240, 128, 78],
    [245, 139, 71],
    [248, 149, 64],
    [251, 161, 57],
    [253, 172, 51],
    [254, 184, 44],
    [253, 197, 39],
    [252, 210, 37],
    [248, 223, 37],
    [244, 237, 39],
    [240, 249, 33],
];

const DIRECTION: [[u8; 3]; 5] = [[120, 200, 255], [30, 90, 200], [0, 0, 0], [200, 60, 30], [255, 170, 90]];

fn lerp_table(table: &[[u8; 3]], t: f32) -> [u8; 3] {
    let t = if t.is_finite() { t.clamp(0.0, 1.0) } else { 0.0 };
    let x = t * (table.len() - 1) as f32;
    let i = (x.floor() as usize).min(table.len() - 2);
    let f = x - i as f32;
    let mut out = [0u8; 3];
    for k in 0..3 {
        out[k] = (table[i][k] as f32 * (1.0 - f) + table[i + 1][k] as f32 * f).round() as u8;
    }
    out
}

impl Colormap {
    /// Colour of `t` in `[0, 1]` (clamped; NaN maps to 0). For [`Colormap::Direction`],
    /// `t = 0.5` is the centre (black).
    pub fn rgb(self, t: f32) -> [u8; 3] {
        match self {
            Colormap::Inferno => lerp_table(&INFERNO, t),
            Colormap::Plasma => lerp_table(&PLASMA, t),
            Colormap::Direction => lerp_table(&DIRECTION, t),
            Colormap::Gray => {
                let v = (if t.is_finite() { t.clamp(0.0, 1.0) } else { 0.0 } * 255.0).round() as u8;
                [v, v, v]
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ends_and_midpoints_match_matplotlib() {
        assert_eq!(Colormap::Inferno.rgb(0.0), [0, 0, 4]);
        assert_eq!(Colormap::Inferno.rgb(0.5), [188, 55, 84]); // inferno(0.5) = #bc3754
        assert_eq!(Colormap::Inferno.rgb(1.0), [252, 255, 164]);
        assert_eq!(Colormap::Plasma.rgb(0.0), [13, 8, 135]); // plasma(0) = #0d0887
        assert_eq!(Colormap::Direction.rgb(0.5), [0, 0, 0]);
        assert_eq!(Colormap::Gray.rgb(f32::NAN), [0, 0, 0]);
        // Luminance of inferno increases monotonically (perceptual ordering).
        let lum = |c: [u8; 3]| 0.2126 * c[0] as f32 + 0.7152 * c[1] as f32 + 0.0722 * c[2] as f32;
        let mut last = -1.0;
        for i in 0..=100 {
            let l = lum(Colormap::Inferno.rgb(i as f32 / 100.0));
            assert!(l >= last - 0.5, "inferno luminance drops at {i}");
            last = l;
        }
    }
}
