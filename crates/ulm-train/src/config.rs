//! The training-loop settings (the `[train]` part of `train.toml`), validated.

use serde::{Deserialize, Serialize};

use crate::TrainError;

/// Learning-rate schedule after the warm-up.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum ScheduleKind {
    /// Constant learning rate.
    Constant,
    /// Multiply by `gamma` every `step_size` steps (DETR's `StepLR`).
    Step,
    /// Cosine decay from the base rate to `min_lr_fraction · base` at the last step.
    Cosine,
}

/// Learning-rate schedule.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Schedule {
    /// Kind of decay. Default cosine.
    pub kind: ScheduleKind,
    /// Linear warm-up from `0.001 · lr` to `lr` over this many steps. Default 100.
    pub warmup_steps: usize,
    /// Step schedule: steps between decays. Default 1000.
    pub step_size: usize,
    /// Step schedule: decay factor. Default 0.1.
    pub gamma: f64,
    /// Cosine schedule: final learning rate as a fraction of the base. Default 0.01.
    pub min_lr_fraction: f64,
}

impl Default for Schedule {
    fn default() -> Self {
        Self { kind: ScheduleKind::Cosine, warmup_steps: 100, step_size: 1000, gamma: 0.1, min_lr_fraction: 0.01 }
    }
}

impl Schedule {
    /// Learning-rate factor (multiplies the base rate) at 0-based `step` of `total`.
    pub fn factor(&self, step: usize, total: usize) -> f64 {
        if step < self.warmup_steps {
            let t = (step + 1) as f64 / self.warmup_steps as f64;
            return 0.001 + (1.0 - 0.001) * t;
        }
        let after = step - self.warmup_steps;
        match self.kind {
            ScheduleKind::Constant => 1.0,
            ScheduleKind::Step => self.gamma.powi((after / self.step_size.max(1)) as i32),
            ScheduleKind::Cosine => {
                let span = total.saturating_sub(self.warmup_steps).max(1) as f64;
                let t = (after as f64 / span).min(1.0);
                let m = self.min_lr_fraction;
                m + (1.0 - m) * 0.5 * (1.0 + (std::f64::consts::PI * t).cos())
            }
        }
    }
}

/// Which part of the backbone is frozen (kept at its initial or imported values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Freeze {
    /// Everything trains.
    None,
    /// The stem (first convolution and its normalisation).
    Stem,
    /// The stem and stage 1 (the official Deformable DETR recipe with imported weights).
    Stage1,
    /// The whole backbone.
    Backbone,
}

/// AdamW settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OptimizerConfig {
    /// Base learning rate. Default 2e-4 (Deformable DETR).
    pub lr: f64,
    /// Backbone learning rate = `lr · backbone_lr_multiplier`. Default 0.1.
    pub backbone_lr_multiplier: f64,
    /// Decoupled weight decay. Default 1e-4.
    pub weight_decay: f64,
    /// Adam β₁. Default 0.9.
    pub beta1: f64,
    /// Adam β₂. Default 0.999.
    pub beta2: f64,
    /// Adam ε. Default 1e-8.
    pub epsilon: f64,
    /// Clip the global gradient norm to this (0 = off). Default 0.1 (DETR).
    pub grad_clip_norm: f64,
}

impl Default for OptimizerConfig {
    fn default() -> Self {
        Self {
            lr: 2e-4,
            backbone_lr_multiplier: 0.1,
            weight_decay: 1e-4,
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-8,
            grad_clip_norm: 0.1,
        }
    }
}

/// Validation settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ValidationConfig {
    /// Validate every this many steps (and at the last step; 0 = only at the end). Default 200.
    pub every: usize,
    /// Use at most this many validation samples (0 = all). Default 0.
    pub max_samples: usize,
    /// Pairing gate in wavelengths. Default 0.5 (λ/2).
    pub gate_wavelengths: f64,
    /// Batch size of the validation forward passes. Default 8.
    pub batch_size: usize,
}

impl Default for ValidationConfig {
    fn default() -> Self {
        Self { every: 200, max_samples: 0, gate_wavelengths: 0.5, batch_size: 8 }
    }
}

/// The loop settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    /// Run name: records go to `<runs_dir>/<name>/`. Default `"run"`.
    pub name: String,
    /// Folder holding the runs. Default `"runs"`.
    pub runs_dir: String,
    /// Seed of everything random (initialisation, batch order, augmentation, dropout).
    /// Default 0.
    pub seed: u64,
    /// Total optimisation steps. Default 1000.
    pub steps: usize,
    /// Images per step. Default 8.
    pub batch_size: usize,
    /// Write a checkpoint every this many steps (0 = only at the end and on Ctrl-C).
    /// Default 100.
    pub checkpoint_every: usize,
    /// Augment training samples (the data source's augmentation). Default true.
    pub augment: bool,
    /// Frozen part of the backbone. Default none.
    pub freeze: Freeze,
    /// Optimiser.
    pub optimizer: OptimizerConfig,
    /// Learning-rate schedule.
    pub schedule: Schedule,
    /// Validation.
    pub validation: ValidationConfig,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            name: "run".into(),
            runs_dir: "runs".into(),
            seed: 0,
            steps: 1000,
            batch_size: 8,
            checkpoint_every: 100,
            augment: true,
            freeze: Freeze::None,
            optimizer: OptimizerConfig::default(),
            schedule: Schedule::default(),
            validation: ValidationConfig::default(),
        }
    }
}

impl TrainConfig {
    /// Checks every range; the error names the field.
    ///
    /// # Errors
    /// [`TrainError::Config`] naming the first bad field.
    pub fn validate(&self) -> Result<(), TrainError> {
        let bad = |field: &str, what: &str| Err(TrainError::Config(format!("{field} must be {what}")));
        if self.name.is_empty() || self.name.contains(['/', '\\']) || self.name == "." || self.name == ".." {
            return bad("name", "a non-empty file name without slashes");
        }
        if self.steps == 0 {
            return bad("steps", "at least 1");
        }
        if self.batch_size == 0 || self.batch_size > 4096 {
            return bad("batch_size", "in 1..=4096");
        }
        let o = &self.optimizer;
        let pos = |v: f64| v.is_finite() && v > 0.0;
        let nonneg = |v: f64| v.is_finite() && v >= 0.0;
        if !pos(o.lr) || o.lr > 1.0 {
            return bad("optimizer.lr", "in (0, 1]");
        }
        if !nonneg(o.backbone_lr_multiplier) || o.backbone_lr_multiplier > 100.0 {
            return bad("optimizer.backbone_lr_multiplier", "in [0, 100]");
        }
        if !nonneg(o.weight_decay) || o.weight_decay >= 1.0 {
            return bad("optimizer.weight_decay", "in [0, 1)");
        }
        if !(0.0..1.0).contains(&o.beta1) || !(0.0..1.0).contains(&o.beta2) {
            return bad("optimizer.beta1/beta2", "in [0, 1)");
        }
        if !pos(o.epsilon) {
            return bad("optimizer.epsilon", "> 0");
        }
        if !nonneg(o.grad_clip_norm) {
            return bad("optimizer.grad_clip_norm", ">= 0 (0 = off)");
        }
        let s = &self.schedule;
        if s.kind == ScheduleKind::Step && s.step_size == 0 {
            return bad("schedule.step_size", "at least 1");
        }
        if !(s.gamma.is_finite() && s.gamma > 0.0 && s.gamma <= 1.0) {
            return bad("schedule.gamma", "in (0, 1]");
        }
        if !(0.0..=1.0).contains(&s.min_lr_fraction) {
            return bad("schedule.min_lr_fraction", "in [0, 1]");
        }
        let v = &self.validation;
        if !pos(v.gate_wavelengths) {
            return bad("validation.gate_wavelengths", "> 0");
        }
        if v.batch_size == 0 {
            return bad("validation.batch_size", "at least 1");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_values_by_hand() {
        let s =
            Schedule { kind: ScheduleKind::Cosine, warmup_steps: 10, step_size: 1, gamma: 0.1, min_lr_fraction: 0.0 };
        assert!((s.factor(9, 110) - 1.0).abs() < 1e-12);
        assert!((s.factor(0, 110) - (0.001 + 0.999 * 0.1)).abs() < 1e-12);
        // Half-way through the cosine part: 0.5.
        assert!((s.factor(60, 110) - 0.5).abs() < 1e-12);
        assert!(s.factor(110, 110).abs() < 1e-12);
        let s =
            Schedule { kind: ScheduleKind::Step, warmup_steps: 0, step_size: 100, gamma: 0.1, min_lr_fraction: 0.0 };
        assert_eq!(s.factor(99, 1000), 1.0);
        assert!((s.factor(100, 1000) - 0.1).abs() < 1e-12);
        assert!((s.factor(250, 1000) - 0.01).abs() < 1e-12);
    }

    #[test]
    fn validation_names_the_field() {
        let mut c = TrainConfig::default();
        assert!(c.validate().is_ok());
        c.optimizer.lr = f64::NAN;
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("optimizer.lr"), "{e}");
        let c = TrainConfig { name: "../x".into(), ..TrainConfig::default() };
        assert!(c.validate().unwrap_err().to_string().contains("name"));
    }
}
