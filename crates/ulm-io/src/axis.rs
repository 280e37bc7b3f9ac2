use std::fmt;
use std::str::FromStr;

/// What the three axes of a stored array mean, in the order they are stored (the order
/// NumPy's `shape` or MATLAB's `size()` lists them). ulm itself always works on
/// `[t = frames, z = rows, x = cols]`; readers permute once while converting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum AxisOrder {
    /// `[frames, z, x]`: ulm's own layout (the default).
    #[default]
    Tzx,
    /// `[frames, x, z]`.
    Txz,
    /// `[z, x, frames]`: MATLAB stacks such as PALA's `IQ`.
    Zxt,
    /// `[x, z, frames]`.
    Xzt,
    /// `[z, frames, x]`.
    Ztx,
    /// `[x, frames, z]`.
    Xtz,
}

impl AxisOrder {
    /// Every order, for help texts.
    pub const ALL: [AxisOrder; 6] =
        [AxisOrder::Tzx, AxisOrder::Txz, AxisOrder::Zxt, AxisOrder::Xzt, AxisOrder::Ztx, AxisOrder::Xtz];

    /// The three-letter name, e.g. `"zxt"`.
    pub fn name(self) -> &'static str {
        match self {
            AxisOrder::Tzx => "tzx",
            AxisOrder::Txz => "txz",
            AxisOrder::Zxt => "zxt",
            AxisOrder::Xzt => "xzt",
            AxisOrder::Ztx => "ztx",
            AxisOrder::Xtz => "xtz",
        }
    }

    /// Axis letters in stored order.
    pub fn letters(self) -> [char; 3] {
        let b = self.name().as_bytes();
        [b[0] as char, b[1] as char, b[2] as char]
    }

    /// Stored-axis indices of `[t, z, x]`: `stored.permuted_axes(order.to_tzx())` is the
    /// `[frames, rows, cols]` view.
    pub fn to_tzx(self) -> [usize; 3] {
        let l = self.letters();
        let pos = |c: char| l.iter().position(|&x| x == c).unwrap_or(0);
        [pos('t'), pos('z'), pos('x')]
    }

    /// Stored-axis index of the frame (time) axis.
    pub fn time_axis(self) -> usize {
        self.to_tzx()[0]
    }

    /// `[frames, rows, cols]` of a stored `shape`.
    pub fn tzx_shape(self, stored: [usize; 3]) -> [usize; 3] {
        let p = self.to_tzx();
        [stored[p[0]], stored[p[1]], stored[p[2]]]
    }

    /// The stored shape of a single 2-D frame: `[rows, cols]` (or `[cols, rows]` when x
    /// comes before z in this order) gains a length-1 frame axis where `t` sits.
    pub fn expand_2d(self, shape2: [usize; 2]) -> [usize; 3] {
        let mut out = [1usize; 3];
        let mut k = 0;
        for (i, c) in self.letters().into_iter().enumerate() {
            if c != 't' {
                out[i] = shape2[k];
                k += 1;
            }
        }
        out
    }
}

impl fmt::Display for AxisOrder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for AxisOrder {
    type Err = String;

    /// Parses `tzx`, `zxt`, … (case-insensitive; `,` and spaces ignored, so `"z,x,t"` works).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let norm: String = s.chars().filter(|c| !matches!(c, ',' | ' ' | '[' | ']')).collect::<String>().to_lowercase();
        AxisOrder::ALL.into_iter().find(|o| o.name() == norm).ok_or_else(|| {
            format!(
                "unknown axis order `{s}`: use one of {} (t = frames, z = depth rows, x = lateral cols)",
                AxisOrder::ALL.map(|o| o.name()).join(", ")
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_permute() {
        assert_eq!("ZXT".parse::<AxisOrder>().unwrap(), AxisOrder::Zxt);
        assert_eq!("z,x,t".parse::<AxisOrder>().unwrap(), AxisOrder::Zxt);
        assert!("zzt".parse::<AxisOrder>().unwrap_err().contains("tzx"));
        assert_eq!(AxisOrder::Tzx.to_tzx(), [0, 1, 2]);
        assert_eq!(AxisOrder::Zxt.to_tzx(), [2, 0, 1]);
        assert_eq!(AxisOrder::Zxt.tzx_shape([4, 3, 10]), [10, 4, 3]);
        assert_eq!(AxisOrder::Xtz.tzx_shape([3, 10, 4]), [10, 4, 3]);
        assert_eq!(AxisOrder::Zxt.time_axis(), 2);
        assert_eq!(AxisOrder::Zxt.expand_2d([4, 3]), [4, 3, 1]);
        assert_eq!(AxisOrder::Txz.expand_2d([3, 4]), [1, 3, 4]);
        for o in AxisOrder::ALL {
            assert_eq!(o.name().parse::<AxisOrder>().unwrap(), o);
        }
    }
}
