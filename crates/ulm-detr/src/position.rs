//! Normalised sine positional encoding of feature maps (DETR / Deformable DETR).

use burn::prelude::*;

/// Configuration of a [`PositionEmbeddingSine`].
///
/// The two references differ in one detail: Deformable DETR centres the cumulative pixel
/// count (`offset = -0.5`), DETR does not (`offset = 0`).
#[derive(Config, Debug)]
pub struct PositionEmbeddingSineConfig {
    /// Features per axis (`d_model / 2`); the embedding has `2 · num_pos_feats` channels.
    pub num_pos_feats: usize,
    /// Wavelength base. Default 10000.
    #[config(default = 10000.0)]
    pub temperature: f64,
    /// Normalise positions to `[0, scale]`. Default true (both references).
    #[config(default = true)]
    pub normalize: bool,
    /// Scale of normalised positions. Default 2π.
    #[config(default = "core::f64::consts::TAU")]
    pub scale: f64,
    /// Added to the 1-based pixel count before normalising: −0.5 for Deformable DETR,
    /// 0 for DETR. Default −0.5.
    #[config(default = -0.5)]
    pub offset: f64,
}

impl PositionEmbeddingSineConfig {
    /// Build the (parameter-free) encoder.
    pub fn init(&self) -> PositionEmbeddingSine {
        PositionEmbeddingSine {
            num_pos_feats: self.num_pos_feats,
            temperature: self.temperature,
            normalize: self.normalize,
            scale: self.scale,
            offset: self.offset,
        }
    }
}

/// Sine/cosine encoding of the (y, x) position of each feature-map cell, for unpadded
/// inputs (every cell valid): channel `2k` is `sin(p / T^(2k/n))`, `2k+1` its cosine,
/// the `y` channels first, then `x`.
#[derive(Module, Debug)]
pub struct PositionEmbeddingSine {
    /// Features per axis.
    pub num_pos_feats: usize,
    /// Wavelength base.
    pub temperature: f64,
    /// Normalise positions.
    pub normalize: bool,
    /// Scale of normalised positions.
    pub scale: f64,
    /// Offset added to the 1-based count.
    pub offset: f64,
}

impl PositionEmbeddingSine {
    /// Host-side values, `[h · w, 2 · num_pos_feats]` row-major over `(y, x)`.
    pub fn values(&self, height: usize, width: usize) -> Vec<f32> {
        let n = self.num_pos_feats;
        // Computed in f32 in the same order as the references.
        let dim_t: Vec<f32> = (0..n).map(|k| (self.temperature as f32).powf((2 * (k / 2)) as f32 / n as f32)).collect();
        let embed = |i: usize, len: usize| -> f32 {
            let count = (i + 1) as f32;
            if self.normalize { (count + self.offset as f32) / (len as f32 + 1e-6) * self.scale as f32 } else { count }
        };
        // Each axis is encoded once; cells only copy (y, x) encodings.
        let encode = |i: usize, len: usize| -> Vec<f32> {
            let p = embed(i, len);
            dim_t.iter().enumerate().map(|(k, d)| if k % 2 == 0 { (p / d).sin() } else { (p / d).cos() }).collect()
        };
        let rows: Vec<Vec<f32>> = (0..height).map(|y| encode(y, height)).collect();
        let cols: Vec<Vec<f32>> = (0..width).map(|x| encode(x, width)).collect();
        let mut out = Vec::with_capacity(height * width * 2 * n);
        for row in &rows {
            for col in &cols {
                out.extend_from_slice(row);
                out.extend_from_slice(col);
            }
        }
        out
    }

    /// The encoding of an `h × w` map, flattened like the transformer input.
    ///
    /// # Shapes
    /// - returns `[h · w, 2 · num_pos_feats]`
    pub fn forward(&self, height: usize, width: usize, device: &Device) -> Tensor<2> {
        let data = TensorData::new(self.values(height, width), [height * width, 2 * self.num_pos_feats]);
        Tensor::from_data(data, device)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_hand_values() {
        // Deformable DETR, 2×3 map, 2 features per axis: dim_t = [1, 1].
        let pe = PositionEmbeddingSineConfig::new(2).init();
        let v = pe.values(2, 3);
        assert_eq!(v.len(), 2 * 3 * 4);
        let tau = core::f32::consts::TAU;
        // Cell (y=1, x=2): y = 1.5/2·2π, x = 2.5/3·2π.
        let (py, px) = (1.5 / 2.0 * tau, 2.5 / 3.0 * tau);
        let cell = &v[(3 + 2) * 4..(3 + 3) * 4];
        let want = [py.sin(), py.cos(), px.sin(), px.cos()];
        for (a, b) in cell.iter().zip(want) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
        // DETR has no −0.5 offset: cell (0, 0) is y = 1/2·2π = π.
        let detr = PositionEmbeddingSineConfig::new(2).with_offset(0.0).init();
        let v = detr.values(2, 3);
        assert!((v[0] - core::f32::consts::PI.sin()).abs() < 1e-5);
        assert!((v[1] + 1.0).abs() < 1e-5);
    }
}
