//! Localization and map metrics.
//!
//! * Localization metrics (issue "classical localizers"): [`pairing`], [`metrics`].
//! * Map metrics (issue "tracking and maps"): [`dice`], [`mtf`], [`frc`].
//! * Detection metrics: [`coco`] (COCO AP/AR, as pycocotools computes them).

pub mod coco;
pub mod dice;
pub mod frc;
pub mod metrics;
pub mod mtf;
pub mod pairing;
