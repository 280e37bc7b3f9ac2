//! The interface a model implements to be trained: [`TrainTask`].

use std::path::Path;

use burn::module::Module;
use burn::prelude::*;
use ulm_data::Sample;

use crate::config::Freeze;

/// The loss of one batch, as a task computes it.
#[derive(Debug, Clone)]
pub struct TaskLoss {
    /// The value to back-propagate, `[1]`.
    pub total: Tensor<1>,
    /// Named components for the records, in the order of [`TrainTask::loss_names`].
    pub components: Vec<f64>,
}

/// One scored detection in mm, from [`TrainTask::predict`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoredPoint {
    /// Lateral position, mm.
    pub x_mm: f64,
    /// Depth, mm.
    pub z_mm: f64,
    /// Confidence in `[0, 1]`.
    pub score: f32,
    /// Box size `(w_mm, h_mm)` (lateral, depth) for detectors that predict one; with it,
    /// validation also reports COCO AP/AR.
    pub size_mm: Option<(f64, f64)>,
}

impl ScoredPoint {
    /// A point without a box size.
    pub fn new(x_mm: f64, z_mm: f64, score: f32) -> Self {
        Self { x_mm, z_mm, score, size_mm: None }
    }
}

/// A model and its loss, as the training loop sees them.
///
/// The loop owns everything else: optimiser, schedule, clipping, freezing requests,
/// batching, checkpoints, validation. Models plug in by implementing these few methods
/// (DE-DETR and DETR in `ulm-detr`; the U-Net later).
pub trait TrainTask {
    /// The model (a burn module; no backend type parameter).
    type Model: Module;

    /// A short name of the model kind (`"deformable-detr"`), for the records.
    fn name(&self) -> String;

    /// A freshly initialised model on `device` (the loop seeds the device first).
    fn init_model(&self, device: &Device) -> Self::Model;

    /// Stop gradients into the requested part of the model.
    fn freeze(&self, model: Self::Model, freeze: Freeze) -> Self::Model;

    /// Substring of the parameter paths that receive the backbone learning rate.
    fn backbone_path(&self) -> &'static str {
        "backbone"
    }

    /// Names of the loss components of [`TaskLoss::components`].
    fn loss_names(&self) -> Vec<&'static str>;

    /// The loss of `batch` for `model` on the autodiff `device`.
    ///
    /// # Errors
    /// A message when the step cannot be used (non-finite predictions): the loop reports
    /// it and skips the step.
    fn loss(&self, model: &Self::Model, batch: &[Sample], device: &Device) -> Result<TaskLoss, String>;

    /// Scored detections of each sample of `batch`, in mm (through the sample geometry), on
    /// an inference `device`, with a validation copy of the model.
    fn predict(&self, model: &Self::Model, batch: &[Sample], device: &Device) -> Vec<Vec<ScoredPoint>>;

    /// A partial initialisation of a freshly initialised model from pretrained weights (e.g.
    /// a pretrained backbone), returning the model and a line for the user saying what was
    /// loaded. The loop applies it only to a run that starts from scratch: not on resume
    /// (the checkpoint holds every weight) and not with whole-model initial weights
    /// ([`crate::RunOptions::init_weights`]). Default: nothing to do.
    ///
    /// # Errors
    /// A message naming the file and the problem.
    fn pretrained_init(&self, model: Self::Model) -> Result<(Self::Model, Option<String>), String> {
        Ok((model, None))
    }

    /// Write the weights (and the model config) into the folder `dir`.
    ///
    /// # Errors
    /// A message naming the file that could not be written.
    fn save_weights(&self, model: &Self::Model, dir: &Path) -> Result<(), String>;

    /// Load the weights written by [`TrainTask::save_weights`] from `dir` into `model`.
    ///
    /// # Errors
    /// A message naming the file and the problem.
    fn load_weights(&self, model: Self::Model, dir: &Path) -> Result<Self::Model, String>;
}

/// Stack the images of `batch` into `[b, 1, h, w]` (all samples must share the size).
///
/// # Panics
/// If the samples differ in size.
pub fn batch_images(batch: &[Sample], device: &Device) -> Tensor<4> {
    let (h, w) = (batch[0].height, batch[0].width);
    let mut data = Vec::with_capacity(batch.len() * h * w);
    for s in batch {
        assert!(s.height == h && s.width == w, "samples of one batch must share their size");
        data.extend_from_slice(&s.image);
    }
    Tensor::from_data(TensorData::new(data, [batch.len(), 1, h, w]), device)
}
