//! Dice similarity between a rendered map and the ground-truth map (the paper's Tables
//! 3–4), after binarizing both by the same documented rule.

use ndarray::Array2;
use serde::{Deserialize, Serialize};

/// Errors of the map metrics ([`crate::dice`], [`crate::mtf`], [`crate::frc`]).
#[derive(Debug, thiserror::Error)]
pub enum MapError {
    /// Two maps that must match in size do not.
    #[error("map shapes differ: {0:?} vs {1:?}")]
    Shape((usize, usize), (usize, usize)),
    /// A parameter is out of range.
    #[error("invalid parameter: {0}")]
    Config(String),
    /// The metric is undefined for this input (e.g. both maps empty).
    #[error("undefined: {0}")]
    Undefined(String),
}

/// How a map becomes a vessel mask. The same rule is applied to both maps.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "rule", content = "value")]
pub enum Binarize {
    /// `v > 0`: any localization or track touched the pixel (natural for count maps).
    Positive,
    /// `v > t` for an absolute threshold `t`.
    Above(f32),
    /// `v > f · max(map)` for a fraction `f` in [0, 1).
    FractionOfMax(f32),
}

impl Binarize {
    /// The mask of `map` under this rule.
    pub fn apply(&self, map: &Array2<f32>) -> Result<Array2<bool>, MapError> {
        let t = match *self {
            Binarize::Positive => 0.0,
            Binarize::Above(t) => t,
            Binarize::FractionOfMax(f) => {
                if !(0.0..1.0).contains(&f) {
                    return Err(MapError::Config(format!("fraction of max must be in [0, 1), got {f}")));
                }
                f * map.iter().copied().filter(|v| v.is_finite()).fold(0.0, f32::max)
            }
        };
        Ok(map.mapv(|v| v > t))
    }
}

/// Dice score and the pixel counts behind it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DiceScore {
    /// `2 |A ∩ B| / (|A| + |B|)` in [0, 1].
    pub dice: f64,
    /// Pixels in the predicted mask.
    pub pred_pixels: usize,
    /// Pixels in the ground-truth mask.
    pub gt_pixels: usize,
    /// Pixels in both.
    pub overlap: usize,
}

/// Dice of two masks of the same shape; undefined (error) when both are empty.
pub fn dice_masks(pred: &Array2<bool>, gt: &Array2<bool>) -> Result<DiceScore, MapError> {
    if pred.dim() != gt.dim() {
        return Err(MapError::Shape(pred.dim(), gt.dim()));
    }
    let pred_pixels = pred.iter().filter(|&&v| v).count();
    let gt_pixels = gt.iter().filter(|&&v| v).count();
    let overlap = pred.iter().zip(gt).filter(|(a, b)| **a && **b).count();
    if pred_pixels + gt_pixels == 0 {
        return Err(MapError::Undefined("both masks are empty".into()));
    }
    Ok(DiceScore { dice: 2.0 * overlap as f64 / (pred_pixels + gt_pixels) as f64, pred_pixels, gt_pixels, overlap })
}

/// Dice between two maps binarized by `rule`.
///
/// ```
/// use ndarray::array;
/// use ulm_eval::dice::{Binarize, dice_maps};
/// let pred = array![[0.0f32, 2.0, 1.0], [0.0, 0.0, 0.0]];
/// let gt = array![[0.0f32, 5.0, 0.0], [0.0, 3.0, 0.0]];
/// let d = dice_maps(&pred, &gt, Binarize::Positive).unwrap();
/// assert_eq!((d.overlap, d.pred_pixels, d.gt_pixels), (1, 2, 2));
/// assert_eq!(d.dice, 0.5);
/// ```
pub fn dice_maps(pred: &Array2<f32>, gt: &Array2<f32>, rule: Binarize) -> Result<DiceScore, MapError> {
    dice_masks(&rule.apply(pred)?, &rule.apply(gt)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn rules_and_edge_cases() {
        let m = array![[0.0f32, 1.0], [5.0, 10.0]];
        assert_eq!(Binarize::Positive.apply(&m).unwrap(), array![[false, true], [true, true]]);
        assert_eq!(Binarize::Above(1.0).apply(&m).unwrap(), array![[false, false], [true, true]]);
        assert_eq!(Binarize::FractionOfMax(0.5).apply(&m).unwrap(), array![[false, false], [false, true]]);
        assert!(Binarize::FractionOfMax(1.0).apply(&m).is_err());
        assert_eq!(dice_maps(&m, &m, Binarize::Positive).unwrap().dice, 1.0);
        let z = Array2::<f32>::zeros((2, 2));
        assert_eq!(dice_maps(&m, &z, Binarize::Positive).unwrap().dice, 0.0);
        assert!(dice_maps(&z, &z, Binarize::Positive).is_err());
        assert!(matches!(dice_maps(&m, &Array2::zeros((3, 2)), Binarize::Positive), Err(MapError::Shape(..))));
    }
}
