//! Parity with HuggingFace `transformers`: fixtures from `scripts/hf_fixtures.py` (random
//! small models, fixed grey input replicated to 3 channels in PyTorch; our models are
//! single-channel and sum the 3-channel stem). Tolerance: 1e-4 absolute on logits and
//! boxes (float32 on both sides).

use std::path::{Path, PathBuf};

use burn::prelude::*;
use ulm_detr::weights::{self, Entry, TensorMap};

const TOL: f32 = 1e-4;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hf").join(name)
}

fn io(name: &str) -> TensorMap {
    weights::read_safetensors(&fixture(name).join("io.safetensors")).expect("fixture io")
}

fn tensor<const D: usize>(e: &Entry, device: &Device) -> Tensor<D> {
    Tensor::from_data(TensorData::new(e.data.clone(), e.shape.clone()), device)
}

fn assert_close(what: &str, got: Tensor<3>, want: &Entry) {
    assert_eq!(got.dims().to_vec(), want.shape, "{what} shape");
    let got: Vec<f32> = got.into_data().convert::<f32>().try_to_vec::<f32>().unwrap();
    let max = got.iter().zip(&want.data).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(max < TOL, "{what}: max abs difference {max:e} ≥ {TOL:e}");
}

fn deformable(name: &str) {
    let device = Device::default();
    let (model, config, report) = weights::load_hf_deformable_detr(&fixture(name), None, &device).unwrap();
    assert!(report.is_complete(), "{report}");
    assert_eq!(report.adapted.len(), 1, "3-channel stem summed: {report}");
    assert_eq!(config.backbone.in_channels(), 1);
    let io = io(name);
    let out = model.forward(tensor(&io["pixel_values"], &device));
    assert_close("encoder output", out.encoder_output.clone(), &io["encoder_last_hidden_state"]);
    assert_close("init reference", out.init_reference_points.clone(), &io["init_reference_points"]);
    assert_close("logits", out.logits.clone(), &io["logits"]);
    assert_close("pred_boxes", out.pred_boxes.clone(), &io["pred_boxes"]);
    let aux_logits = &io["aux_logits"];
    let aux_boxes = &io["aux_boxes"];
    let layers = aux_logits.shape[1];
    assert_eq!(out.aux_outputs.len(), layers);
    for (l, (logits, boxes)) in out.aux_outputs.into_iter().enumerate() {
        let slice = |e: &Entry| -> Entry {
            let [b, _, q, c] = [e.shape[0], e.shape[1], e.shape[2], e.shape[3]];
            let mut data = Vec::with_capacity(b * q * c);
            for bi in 0..b {
                let start = (bi * layers + l) * q * c;
                data.extend_from_slice(&e.data[start..start + q * c]);
            }
            Entry { shape: vec![b, q, c], data }
        };
        assert_close(&format!("aux logits {l}"), logits, &slice(aux_logits));
        assert_close(&format!("aux boxes {l}"), boxes, &slice(aux_boxes));
    }
}

#[test]
fn deformable_detr_matches_transformers() {
    deformable("deformable_detr");
}

#[test]
fn deformable_detr_box_refine_matches_transformers() {
    deformable("deformable_detr_refine");
}

#[test]
fn deformable_detr_two_stage_matches_transformers() {
    deformable("deformable_detr_two_stage");
}

#[test]
fn detr_matches_transformers() {
    let device = Device::default();
    let (model, _, report) = weights::load_hf_detr(&fixture("detr"), None, &device).unwrap();
    assert!(report.is_complete(), "{report}");
    let io = io("detr");
    let out = model.forward(tensor(&io["pixel_values"], &device));
    assert_close("encoder output", out.encoder_output, &io["encoder_last_hidden_state"]);
    assert_close("logits", out.logits, &io["logits"]);
    assert_close("pred_boxes", out.pred_boxes, &io["pred_boxes"]);
}

#[test]
fn tied_heads_missing_from_file_are_aliased() {
    // Drop the non-zero class/box heads as a tied checkpoint would store them.
    let device = Device::default();
    let dir = fixture("deformable_detr");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    let config = weights::deformable_config_from_hf(&json).unwrap();
    let (mut tensors, _) = weights::hf::read_hf(&dir.join("model.safetensors")).unwrap();
    let head0: Vec<(String, Entry)> = tensors
        .iter()
        .filter(|(k, _)| k.starts_with("class_embed.0.") || k.starts_with("bbox_embed.0."))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    tensors.retain(|k, _| !(k.starts_with("class_embed.1.") || k.starts_with("bbox_embed.1.")));
    let (model, report) = weights::load_tensors(config.init(&device), tensors, &dir).unwrap();
    assert!(report.is_complete(), "{report}");
    assert_eq!(report.aliased.len(), head0.len(), "{report}");
    let ours = weights::module_tensors(&model);
    for (k, v) in head0 {
        let k1 = k.replacen(".0.", ".1.", 1);
        assert_eq!(ours[&k1], v, "{k1} takes {k}");
    }
}

#[test]
fn fine_tuning_to_another_class_count_reinitialises_only_the_class_heads() {
    let device = Device::default();
    let dir = fixture("detr");
    // The fixture has 1 class (2 logits with no-object); ask for 3.
    let (model, config, report) = weights::load_hf_detr(&dir, Some(3), &device).unwrap();
    assert_eq!(config.num_classes, 3);
    assert_eq!(report.reinitialised.len(), 2, "{report}");
    assert!(report.reinitialised.iter().all(|k| k.starts_with("class_labels_classifier.")));
    assert!(report.missing.is_empty() && report.unexpected.is_empty(), "{report}");
    // Boxes do not depend on the class head: they still match transformers.
    let io = io("detr");
    let out = model.forward(tensor(&io["pixel_values"], &device));
    assert_eq!(out.logits.dims(), [2, 10, 4]);
    assert_close("pred_boxes", out.pred_boxes, &io["pred_boxes"]);
}

#[test]
fn transformers_4_key_names_load_too() {
    // Checkpoints saved by transformers 4.x (those on the Hub) use `conv_encoder`, `fc1`
    // and `out_proj`; rename the fixture's 5.x keys back and check the outputs again.
    let device = Device::default();
    let dir = fixture("deformable_detr");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    let config = weights::deformable_config_from_hf(&json).unwrap();
    let raw = weights::read_safetensors(&dir.join("model.safetensors")).unwrap();
    let old: TensorMap = raw
        .into_iter()
        .map(|(k, v)| {
            let k = k
                .replace("model.backbone.model.", "model.backbone.conv_encoder.model.")
                .replace(".mlp.fc", ".fc")
                .replace(".o_proj.", ".out_proj.");
            (k, v)
        })
        .collect();
    assert!(old.keys().any(|k| k.contains("conv_encoder")));
    let (tensors, _) = weights::hf::translate(old);
    let (model, report) = weights::load_tensors(config.init(&device), tensors, &dir).unwrap();
    assert!(report.is_complete(), "{report}");
    let io = io("deformable_detr");
    let out = model.forward(tensor(&io["pixel_values"], &device));
    assert_close("logits", out.logits, &io["logits"]);
    assert_close("pred_boxes", out.pred_boxes, &io["pred_boxes"]);
}
