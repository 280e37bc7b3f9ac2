//! Our configurations from HuggingFace `config.json` files.

use serde_json::Value;

use crate::backbone::{BackboneConfig, ResNetBlock, ResNetConfig};
use crate::config::{DeformableDetrConfig, DetrConfig};

type Parse<T> = std::result::Result<T, String>;
/// A config setter taking a field value, for the key tables below.
type Setter<C, V> = fn(C, V) -> C;

fn usize_of(json: &Value, key: &str) -> Parse<Option<usize>> {
    match json.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => {
            v.as_u64().map(|n| Some(n as usize)).ok_or_else(|| format!("`{key}` is not a non-negative integer: {v}"))
        }
    }
}

fn f64_of(json: &Value, key: &str) -> Parse<Option<f64>> {
    match json.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_f64().map(Some).ok_or_else(|| format!("`{key}` is not a number: {v}")),
    }
}

fn bool_of(json: &Value, key: &str) -> Parse<bool> {
    match json.get(key) {
        None | Some(Value::Null) => Ok(false),
        Some(v) => v.as_bool().ok_or_else(|| format!("`{key}` is not a boolean: {v}")),
    }
}

fn usizes_of(json: &Value, key: &str) -> Parse<Option<Vec<usize>>> {
    match json.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| v.as_u64().map(|n| n as usize).ok_or_else(|| format!("`{key}` holds {v}")))
            .collect::<Parse<Vec<_>>>()
            .map(Some),
        Some(v) => Err(format!("`{key}` is not a list: {v}")),
    }
}

fn check_supported(json: &Value) -> Parse<()> {
    if let Some(act) = json.get("activation_function").and_then(Value::as_str)
        && act != "relu"
    {
        return Err(format!("activation_function `{act}` is not supported (relu only)"));
    }
    if let Some(pe) = json.get("position_embedding_type").and_then(Value::as_str)
        && pe != "sine"
    {
        return Err(format!("position_embedding_type `{pe}` is not supported (sine only)"));
    }
    if bool_of(json, "dilation")? {
        return Err("dilated backbones are not supported".into());
    }
    Ok(())
}

fn num_labels(json: &Value) -> Parse<usize> {
    if let Some(n) = usize_of(json, "num_labels")? {
        return Ok(n);
    }
    match json.get("id2label") {
        Some(Value::Object(m)) if !m.is_empty() => Ok(m.len()),
        _ => Ok(1),
    }
}

/// Single-channel ResNet from the HF backbone description; `default_stages` when the
/// file does not say which stages are returned.
fn backbone_from_hf(json: &Value, default_stages: Vec<usize>) -> Parse<BackboneConfig> {
    if bool_of(json, "use_timm_backbone")? {
        let name = json.get("backbone").and_then(Value::as_str).unwrap_or("resnet50");
        let base = match name {
            "resnet18" => ResNetConfig::resnet18(),
            "resnet34" => ResNetConfig::resnet34(),
            "resnet50" => ResNetConfig::resnet50(),
            "resnet101" => ResNetConfig::resnet50().with_depths(vec![3, 4, 23, 3]),
            other => return Err(format!("timm backbone `{other}` is not supported (resnet18/34/50/101)")),
        };
        let stages = json
            .get("backbone_kwargs")
            .map(|kw| usizes_of(kw, "out_indices"))
            .transpose()?
            .flatten()
            .unwrap_or(default_stages);
        return Ok(BackboneConfig::ResNet(base.with_out_stages(stages)));
    }
    let bb =
        json.get("backbone_config").filter(|v| !v.is_null()).ok_or("neither a timm backbone nor `backbone_config`")?;
    if let Some(t) = bb.get("model_type").and_then(Value::as_str)
        && t != "resnet"
    {
        return Err(format!("backbone model_type `{t}` is not supported (resnet only)"));
    }
    if bool_of(bb, "downsample_in_first_stage")? || bool_of(bb, "downsample_in_bottleneck")? {
        return Err("downsample_in_first_stage / downsample_in_bottleneck are not supported".into());
    }
    let block = match bb.get("layer_type").and_then(Value::as_str).unwrap_or("bottleneck") {
        "basic" => ResNetBlock::Basic,
        "bottleneck" => ResNetBlock::Bottleneck,
        other => return Err(format!("ResNet layer_type `{other}` is not supported")),
    };
    let mut c = ResNetConfig::new().with_block(block);
    if let Some(e) = usize_of(bb, "embedding_size")? {
        c = c.with_embedding_size(e);
    }
    if let Some(h) = usizes_of(bb, "hidden_sizes")? {
        c = c.with_hidden_sizes(h);
    }
    if let Some(d) = usizes_of(bb, "depths")? {
        c = c.with_depths(d);
    }
    if c.hidden_sizes.len() != 4 || c.depths.len() != 4 {
        return Err("backbone_config must describe 4 stages".into());
    }
    let stages = match usizes_of(bb, "out_indices")? {
        Some(idx) => idx,
        None => default_stages,
    };
    if stages.is_empty() || stages.iter().any(|&s| !(1..=4).contains(&s)) {
        return Err(format!("backbone out_indices {stages:?} must be stages 1..=4"));
    }
    Ok(BackboneConfig::ResNet(c.with_out_stages(stages)))
}

/// Our [`DeformableDetrConfig`] from a HuggingFace `DeformableDetrConfig` JSON. Absent
/// fields take HuggingFace's defaults; the backbone becomes single-channel.
///
/// # Errors
/// A message naming the unsupported or malformed field.
pub fn deformable_config_from_hf(json: &Value) -> Parse<DeformableDetrConfig> {
    check_supported(json)?;
    let levels = usize_of(json, "num_feature_levels")?.unwrap_or(4);
    let default_stages = if levels > 1 { vec![2, 3, 4] } else { vec![4] };
    let mut c = DeformableDetrConfig::new()
        .with_backbone(backbone_from_hf(json, default_stages)?)
        .with_num_feature_levels(levels)
        .with_num_classes(num_labels(json)?)
        .with_with_box_refine(bool_of(json, "with_box_refine")?)
        .with_two_stage(bool_of(json, "two_stage")?);
    let sizes: [(&str, Setter<DeformableDetrConfig, usize>); 11] = [
        ("d_model", DeformableDetrConfig::with_d_model),
        ("encoder_layers", DeformableDetrConfig::with_encoder_layers),
        ("decoder_layers", DeformableDetrConfig::with_decoder_layers),
        ("encoder_attention_heads", DeformableDetrConfig::with_encoder_attention_heads),
        ("decoder_attention_heads", DeformableDetrConfig::with_decoder_attention_heads),
        ("encoder_ffn_dim", DeformableDetrConfig::with_encoder_ffn_dim),
        ("decoder_ffn_dim", DeformableDetrConfig::with_decoder_ffn_dim),
        ("encoder_n_points", DeformableDetrConfig::with_encoder_n_points),
        ("decoder_n_points", DeformableDetrConfig::with_decoder_n_points),
        ("num_queries", DeformableDetrConfig::with_num_queries),
        ("two_stage_num_proposals", DeformableDetrConfig::with_two_stage_num_proposals),
    ];
    for (key, set) in sizes {
        if let Some(v) = usize_of(json, key)? {
            c = set(c, v);
        }
    }
    let rates: [(&str, Setter<DeformableDetrConfig, f64>); 3] = [
        ("dropout", DeformableDetrConfig::with_dropout),
        ("activation_dropout", DeformableDetrConfig::with_activation_dropout),
        ("attention_dropout", DeformableDetrConfig::with_attention_dropout),
    ];
    for (key, set) in rates {
        if let Some(v) = f64_of(json, key)? {
            c = set(c, v);
        }
    }
    Ok(c)
}

/// Our [`DetrConfig`] from a HuggingFace `DetrConfig` JSON (last backbone stage used).
///
/// # Errors
/// A message naming the unsupported or malformed field.
pub fn detr_config_from_hf(json: &Value) -> Parse<DetrConfig> {
    check_supported(json)?;
    let mut c = DetrConfig::new().with_backbone(backbone_from_hf(json, vec![4])?).with_num_classes(num_labels(json)?);
    if let BackboneConfig::ResNet(r) = &c.backbone {
        // DETR reads the last returned stage only.
        let last = *r.out_stages.iter().max().unwrap_or(&4);
        c.backbone = BackboneConfig::ResNet(r.clone().with_out_stages(vec![last]));
    }
    let sizes: [(&str, Setter<DetrConfig, usize>); 8] = [
        ("d_model", DetrConfig::with_d_model),
        ("encoder_layers", DetrConfig::with_encoder_layers),
        ("decoder_layers", DetrConfig::with_decoder_layers),
        ("encoder_attention_heads", DetrConfig::with_encoder_attention_heads),
        ("decoder_attention_heads", DetrConfig::with_decoder_attention_heads),
        ("encoder_ffn_dim", DetrConfig::with_encoder_ffn_dim),
        ("decoder_ffn_dim", DetrConfig::with_decoder_ffn_dim),
        ("num_queries", DetrConfig::with_num_queries),
    ];
    for (key, set) in sizes {
        if let Some(v) = usize_of(json, key)? {
            c = set(c, v);
        }
    }
    let rates: [(&str, Setter<DetrConfig, f64>); 3] = [
        ("dropout", DetrConfig::with_dropout),
        ("activation_dropout", DetrConfig::with_activation_dropout),
        ("attention_dropout", DetrConfig::with_attention_dropout),
    ];
    for (key, set) in rates {
        if let Some(v) = f64_of(json, key)? {
            c = set(c, v);
        }
    }
    Ok(c)
}
