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

/// Loads the checkpoint in `dir`, runs it on the fixture input and checks every output
/// against `io` to 1e-4. Returns the config and the load report.
fn check_deformable(dir: &Path, io: &TensorMap) -> (ulm_detr::DeformableDetrConfig, weights::LoadReport) {
    let device = Device::default();
    let (model, config, report) = weights::load_hf_deformable_detr(dir, None, &device).unwrap();
    assert!(report.is_complete(), "{report}");
    assert_eq!(report.adapted.len(), 1, "3-channel stem summed: {report}");
    assert_eq!(config.backbone.in_channels(), 1);
    let out = model.forward(tensor(&io["pixel_values"], &device));
    assert_close("encoder output", out.encoder_output.clone(), &io["encoder_last_hidden_state"]);
    assert_close("init reference", out.init_reference_points.clone(), &io["init_reference_points"]);
    assert_close("logits", out.logits.clone(), &io["logits"]);
    assert_close("pred_boxes", out.pred_boxes.clone(), &io["pred_boxes"]);
    check_aux(out.aux_outputs, io, 0);
    (config, report)
}

/// Layer `l` of a `[b, layers, q, c]` fixture tensor.
fn layer(e: &Entry, l: usize) -> Entry {
    let [b, layers, q, c] = [e.shape[0], e.shape[1], e.shape[2], e.shape[3]];
    let mut data = Vec::with_capacity(b * q * c);
    for bi in 0..b {
        let start = (bi * layers + l) * q * c;
        data.extend_from_slice(&e.data[start..start + q * c]);
    }
    Entry { shape: vec![b, q, c], data }
}

/// Per-layer outputs against the fixture's `aux_logits` / `aux_boxes`, except the last
/// `skip_last` layers.
fn check_aux(aux: Vec<(Tensor<3>, Tensor<3>)>, io: &TensorMap, skip_last: usize) {
    let layers = io["aux_logits"].shape[1];
    assert_eq!(aux.len(), layers);
    for (l, (logits, boxes)) in aux.into_iter().enumerate().take(layers - skip_last) {
        assert_close(&format!("aux logits {l}"), logits, &layer(&io["aux_logits"], l));
        assert_close(&format!("aux boxes {l}"), boxes, &layer(&io["aux_boxes"], l));
    }
}

fn deformable(name: &str) -> (ulm_detr::DeformableDetrConfig, weights::LoadReport) {
    check_deformable(&fixture(name), &io(name))
}

/// A scratch directory holding `model.safetensors` (copied from fixture `name`, or the
/// given tensors) and `config` as `config.json`.
fn scratch(tag: &str, name: &str, config: &serde_json::Value, tensors: Option<&TensorMap>) -> tempfile::TempDir {
    let dir = tempfile::Builder::new().prefix(&format!("ulm-detr-{tag}-")).tempdir().unwrap();
    match tensors {
        Some(t) => weights::write_safetensors(&dir.path().join("model.safetensors"), t).unwrap(),
        None => {
            std::fs::copy(fixture(name).join("model.safetensors"), dir.path().join("model.safetensors")).unwrap();
        }
    }
    std::fs::write(dir.path().join("config.json"), serde_json::to_string(config).unwrap()).unwrap();
    dir
}

fn config_json(name: &str, file: &str) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(fixture(name).join(file)).unwrap()).unwrap()
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
fn several_classes_match_transformers() {
    let (config, _) = deformable("deformable_detr_classes");
    assert_eq!(config.num_classes, 3);
}

#[test]
fn one_level_with_default_two_classes_matches_transformers() {
    // transformers wrote neither `num_labels` nor `id2label` (2 is its default).
    let json = config_json("deformable_detr_1level", "config.json");
    assert!(json.get("num_labels").is_none() && json.get("id2label").is_none());
    let (config, report) = deformable("deformable_detr_1level");
    assert_eq!((config.num_classes, config.num_feature_levels), (2, 1));
    // Stage 3 is returned; transformers keeps stage 4, which feeds nothing.
    assert!(!report.unused_by_design.is_empty(), "{report}");
    assert!(report.unused_by_design.iter().all(|k| k.starts_with("backbone.layer4.")), "{report}");
}

#[test]
fn five_levels_two_stage_match_transformers() {
    let (config, _) = deformable("deformable_detr_5levels");
    assert_eq!(config.num_feature_levels, 5);
}

#[test]
fn timm_backbone_as_transformers_5_saves_it_matches() {
    let json = config_json("deformable_detr_timm", "config.json");
    assert_eq!(json["backbone_config"]["model_type"], "timm_backbone");
    let (config, report) = deformable("deformable_detr_timm");
    assert!(report.unused_by_design.is_empty(), "{report}");
    let ulm_detr::backbone::BackboneConfig::ResNet(r) = &config.backbone else { panic!("ResNet backbone") };
    assert_eq!((r.hidden_sizes[0], r.out_stages.as_slice()), (64, &[1][..]));
}

#[test]
fn timm_backbone_in_transformers_4_style_matches() {
    let json = config_json("deformable_detr_timm", "config_4x.json");
    assert!(json["backbone_config"].is_null() && json["use_timm_backbone"] == true);
    let dir = scratch("timm4", "deformable_detr_timm", &json, None);
    let (config4, _) = check_deformable(dir.path(), &io("deformable_detr_timm"));
    let config5 = weights::deformable_config_from_hf(&config_json("deformable_detr_timm", "config.json")).unwrap();
    assert_eq!(format!("{config4:?}"), format!("{config5:?}"));
}

#[test]
fn detr_auxiliary_loss_matches_transformers() {
    let device = Device::default();
    let (mut model, config, report) = weights::load_hf_detr(&fixture("detr_aux"), None, &device).unwrap();
    assert!(config.auxiliary_loss && config.num_classes == 4);
    assert!(report.is_complete(), "{report}");
    // DETR reads stage 3; transformers keeps stage 4.
    assert!(!report.unused_by_design.is_empty(), "{report}");
    let io = io("detr_aux");
    let input = tensor::<4>(&io["pixel_values"], &device);
    let out = model.forward(input.clone());
    assert_close("encoder output", out.encoder_output, &io["encoder_last_hidden_state"]);
    assert_close("logits", out.logits.clone(), &io["logits"]);
    assert_close("pred_boxes", out.pred_boxes, &io["pred_boxes"]);
    // Intermediate layers as transformers' `intermediate_hidden_states`; the last entry is
    // the model output (normalised once more).
    check_aux(out.aux_outputs, &io, 1);
    // The flag matters: without it the outputs differ well beyond the tolerance.
    model.decoder.auxiliary_loss = false;
    let plain = model.forward(input).logits;
    let diff = (plain - out.logits).abs().max().into_scalar::<f32>();
    assert!(diff > 100.0 * TOL, "auxiliary_loss changes nothing ({diff})");
}

/// Sparse `config.json` files resolved by our loader as transformers 5 resolves them
/// (recorded by `scripts/hf_fixtures.py`): class count, backbone and sizes.
#[test]
fn absent_fields_resolve_as_in_transformers() {
    let cases: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(fixture("resolved_configs.json")).unwrap()).unwrap();
    assert!(cases.len() >= 15);
    for case in cases {
        let (raw, want) = (&case["config"], &case["resolved"]);
        let mut got = serde_json::Map::new();
        let (backbone, sizes) = if case["family"] == "detr" {
            let c = weights::detr_config_from_hf(raw).unwrap_or_else(|e| panic!("{raw}: {e}"));
            let v = burn::config::config_to_json(&c);
            got.insert("auxiliary_loss".into(), c.auxiliary_loss.into());
            got.insert("num_labels".into(), c.num_classes.into());
            (c.backbone, v)
        } else {
            let c = weights::deformable_config_from_hf(raw).unwrap_or_else(|e| panic!("{raw}: {e}"));
            let v = burn::config::config_to_json(&c);
            got.insert("num_labels".into(), c.num_classes.into());
            (c.backbone, v)
        };
        let sizes: serde_json::Value = serde_json::from_str(&sizes).unwrap();
        let ulm_detr::backbone::BackboneConfig::ResNet(r) = backbone else { panic!("{raw}: not a ResNet") };
        for (key, value) in want.as_object().unwrap() {
            let ours = match key.as_str() {
                "num_labels" | "auxiliary_loss" => got[key].clone(),
                "backbone_kind" => continue,
                "backbone_embedding_size" => r.embedding_size.into(),
                "backbone_hidden_sizes" => r.hidden_sizes.clone().into(),
                "backbone_depths" => r.depths.clone().into(),
                "backbone_block" => {
                    (if r.block == ulm_detr::backbone::ResNetBlock::Basic { "basic" } else { "bottleneck" }).into()
                }
                "backbone_stages" if case["family"] == "detr" => {
                    // DETR reads the last returned stage.
                    let last = value.as_array().unwrap().last().unwrap().clone();
                    assert_eq!(serde_json::Value::from(r.out_stages.clone()), serde_json::json!([last]), "{raw}");
                    continue;
                }
                "backbone_stages" => r.out_stages.clone().into(),
                _ => sizes[key].clone(),
            };
            let same = match (ours.as_f64(), value.as_f64()) {
                (Some(a), Some(b)) => (a - b).abs() < 1e-12,
                _ => ours == *value,
            };
            assert!(same, "{raw}: {key} = {ours}, transformers {value}");
        }
    }
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

#[test]
fn heads_missing_from_the_file_follow_tie_word_embeddings() {
    // transformers fills a missing head k > 0 from head 0 only when heads are tied.
    let raw = weights::read_safetensors(&fixture("deformable_detr").join("model.safetensors")).unwrap();
    let dropped: TensorMap = raw.into_iter().filter(|(k, _)| !k.starts_with("class_embed.1.")).collect();
    let mut json = config_json("deformable_detr", "config.json");
    for (tie, aliased) in [(true, 2), (false, 0)] {
        json["tie_word_embeddings"] = tie.into();
        let dir = scratch("tie", "deformable_detr", &json, Some(&dropped));
        let (_, _, report) = weights::load_hf_deformable_detr(dir.path(), None, &Device::default()).unwrap();
        assert_eq!(report.aliased.len(), aliased, "{report}");
        assert_eq!(report.missing.len(), 2 - aliased, "{report}");
    }
}
