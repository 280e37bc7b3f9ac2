//! DETR and Deformable DETR microbubble localizers in burn.
//!
//! The papers' DE-DETR localizer ([`DeformableDetr`], preset
//! [`DeformableDetrConfig::paper`]: single-channel ResNet-50, `d = 256`, 2 encoder and 2
//! decoder layers) and its DETR predecessor ([`Detr`]), written once in burn so that they run
//! on the CPU (`flex`, the default) and on GPU backends. Both match HuggingFace
//! `transformers` numerically (see `tests/hf_parity.rs`), load its checkpoints by their key
//! names ([`weights::load_hf_deformable_detr`], [`weights::load_hf_detr`]) and save/load our
//! own safetensors with the config beside them ([`weights::save_model`]).
//! [`postprocess`] turns outputs into [`ulm_core::Localizations`] in mm, and
//! [`DetrLocalizer`] localizes whole frames of any size with a trained model folder
//! (tiling, batching, de-duplication along patch borders, sub-pixel refinement).
//!
//! ```
//! use burn::prelude::*;
//! use ulm_detr::DeformableDetrConfig;
//! use ulm_detr::postprocess::{detections_sigmoid, to_localizations};
//!
//! let device = Device::default();
//! let model = DeformableDetrConfig::tiny().init(&device);
//! // [batch, channel, rows = z, cols = x]
//! let image = Tensor::<4>::zeros([1, 1, 32, 32], &device);
//! let out = model.forward(image);
//! assert_eq!(out.pred_boxes.dims(), [1, 16, 4]);
//!
//! let detections = detections_sigmoid(out.logits, out.pred_boxes, 10, 0.0);
//! let geometry = ulm_core::Geometry::new(0.05, 0.05, 0.0, 2.0, 0.1, 1000.0).unwrap();
//! let loc = to_localizations(&detections, &[0], 32, 32, &geometry);
//! assert_eq!(loc.len(), 10);
//! ```

pub mod attention;
pub mod backbone;
pub mod config;
pub mod conv;
pub mod criterion;
pub mod deformable_detr;
pub mod deformable_transformer;
pub mod detr;
pub mod dn;
pub mod error;
mod flex_host;
pub mod heads;
pub mod localizer;
pub mod matcher;
pub mod ms_deform_attn;
pub mod position;
pub mod postprocess;
pub mod pretrain;
pub mod train;
pub mod transformer;
pub mod two_stage;
pub mod weights;

pub use config::{DeformableDetrConfig, DetrConfig};
pub use deformable_detr::{DeformableDetr, DeformableDetrOutput};
pub use detr::{Detr, DetrOutput};
pub use error::{DetrError, Result};
pub use localizer::{DetrLocalizer, InferenceConfig, ModelFolder, Refine};
