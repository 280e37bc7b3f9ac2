//! Presets build and run; our own weights round-trip through safetensors with their config.

use burn::prelude::*;
use ulm_detr::backbone::{BackboneConfig, LightCnnConfig};
use ulm_detr::weights;
use ulm_detr::{DeformableDetrConfig, DetrConfig};

fn grey(device: &Device) -> Tensor<4> {
    device.seed(3);
    Tensor::random([1, 1, 64, 48], burn::tensor::Distribution::Uniform(0.0, 1.0), device)
}

fn values(t: Tensor<3>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
}

#[test]
fn tiny_deformable_detr_shapes_and_ranges() {
    let device = Device::default();
    let config = DeformableDetrConfig::tiny();
    let model = config.init(&device);
    let out = model.forward(grey(&device));
    assert_eq!(out.logits.dims(), [1, 16, 1]);
    assert_eq!(out.pred_boxes.dims(), [1, 16, 4]);
    assert_eq!(out.aux_outputs.len(), 2);
    // Strides 4, 8, 16 of a 64 × 48 image: 16·12 + 8·6 + 4·3 cells.
    assert_eq!(out.encoder_output.dims(), [1, 192 + 48 + 12, 64]);
    assert!(values(out.pred_boxes).iter().all(|v| *v > 0.0 && *v < 1.0));
    // Prior-probability bias: at initialisation every score is near 0.01.
    let p: Vec<f32> = values(burn::tensor::activation::sigmoid(out.logits));
    assert!(p.iter().all(|p| (0.001..0.1).contains(p)), "{p:?}");
}

#[test]
fn light_backbone_with_refinement_runs() {
    let device = Device::default();
    let config = DeformableDetrConfig::tiny()
        .with_backbone(BackboneConfig::Light(LightCnnConfig::new()))
        .with_with_box_refine(true)
        .with_num_feature_levels(4);
    let out = config.init(&device).forward(grey(&device));
    assert_eq!(out.pred_boxes.dims(), [1, 16, 4]);
    // After refinement the later layers carry 4-coordinate reference boxes.
    assert_eq!(out.aux_outputs.len(), 2);
}

#[test]
fn tiny_detr_shapes() {
    let device = Device::default();
    let out = DetrConfig::tiny().init(&device).forward(grey(&device));
    assert_eq!(out.logits.dims(), [1, 16, 2]);
    assert_eq!(out.pred_boxes.dims(), [1, 16, 4]);
    assert_eq!(out.aux_outputs.len(), 2);
}

#[test]
fn own_weights_round_trip_with_config() {
    let device = Device::default();
    let config = DeformableDetrConfig::tiny().with_num_queries(5);
    let model = config.init(&device);
    let dir = tempfile::tempdir().unwrap();
    weights::save_model(&model, &config, dir.path()).unwrap();

    let loaded_config: DeformableDetrConfig = weights::load_config(dir.path()).unwrap();
    assert_eq!(loaded_config.num_queries, 5);
    // A fresh model has different random weights until the file is loaded.
    let fresh = loaded_config.init(&device);
    let x = grey(&device);
    let want = values(model.forward(x.clone()).pred_boxes);
    assert_ne!(values(fresh.forward(x.clone()).pred_boxes), want);
    let loaded = weights::load_model(loaded_config.init(&device), dir.path()).unwrap();
    assert_eq!(values(loaded.forward(x).pred_boxes), want);
}

#[test]
fn loading_reports_missing_and_unexpected_keys() {
    let device = Device::default();
    let config = DetrConfig::tiny();
    let model = config.init(&device);
    let mut tensors = weights::module_tensors(&model);
    let removed = tensors.remove("decoder.layernorm.weight").is_some();
    assert!(removed);
    tensors.insert("decoder.extra.weight".into(), weights::Entry { shape: vec![1], data: vec![0.0] });
    let path = std::path::Path::new("test.safetensors");
    let (_, report) = weights::load_tensors(config.init(&device), tensors.clone(), path).unwrap();
    assert_eq!(report.missing, vec!["decoder.layernorm.weight".to_string()]);
    assert_eq!(report.unexpected, vec!["decoder.extra.weight".to_string()]);
    assert!(report.to_string().contains("1 missing: decoder.layernorm.weight"));

    // A wrong shape is an error naming the file and the tensor.
    let e = tensors.get_mut("decoder.layernorm.bias").unwrap();
    e.shape = vec![2, e.shape[0] / 2];
    let err = weights::load_tensors(config.init(&device), tensors, path).unwrap_err().to_string();
    assert!(err.contains("test.safetensors") && err.contains("decoder.layernorm.bias"), "{err}");
}

#[test]
fn gradients_reach_backbone_transformer_and_heads() {
    let device = Device::default().autodiff();
    let model = DeformableDetrConfig::tiny().with_num_queries(4).init(&device);
    let image = Tensor::<4>::random([1, 1, 32, 32], burn::tensor::Distribution::Uniform(0.0, 1.0), &device);
    let out = model.forward(image);
    let loss = out.logits.sum() + out.pred_boxes.sum();
    let grads = loss.backward();
    let sampling = &model.encoder.layers[0].self_attn.sampling_offsets.weight;
    let value = &model.decoder.layers[1].encoder_attn.value_proj.weight;
    let conv = match &model.backbone {
        ulm_detr::backbone::Backbone::ResNet(r) => &r.layer3[0].conv1.weight,
        _ => unreachable!(),
    };
    let check = |name: &str, g: Option<Tensor<1>>| {
        let g = g.unwrap_or_else(|| panic!("no gradient for {name}"));
        let norm: f32 = g.abs().sum().into_scalar();
        assert!(norm.is_finite() && norm > 0.0, "{name}: |grad| = {norm}");
    };
    check("sampling_offsets", sampling.grad(&grads).map(|g| g.flatten(0, 1)));
    check("value_proj", value.grad(&grads).map(|g| g.flatten(0, 1)));
    check("backbone conv", conv.grad(&grads).map(|g| g.flatten(0, 3)));
}
