//! Our configurations from HuggingFace `config.json` files, resolved the way transformers 5
//! (`DeformableDetrConfig`, `DetrConfig`, `ResNetConfig`, `TimmBackboneConfig`) resolves
//! them, legacy 4.x names included. See the field audit in [`crate::weights`].

use serde_json::{Map, Value};

use crate::backbone::{BackboneConfig, ResNetBlock, ResNetConfig};
use crate::config::{DeformableDetrConfig, DetrConfig};

type Parse<T> = std::result::Result<T, String>;
/// A config setter taking a field value, for the key tables below.
type Setter<C, V> = fn(C, V) -> C;

/// The field, or `None` when absent or `null` (transformers treats both as "use the default").
fn field<'a>(json: &'a Value, key: &str) -> Option<&'a Value> {
    json.get(key).filter(|v| !v.is_null())
}

fn usize_of(json: &Value, key: &str) -> Parse<Option<usize>> {
    match field(json, key) {
        None => Ok(None),
        Some(v) => {
            v.as_u64().map(|n| Some(n as usize)).ok_or_else(|| format!("`{key}` is not a non-negative integer: {v}"))
        }
    }
}

fn f64_of(json: &Value, key: &str) -> Parse<Option<f64>> {
    match field(json, key) {
        None => Ok(None),
        Some(v) => v.as_f64().map(Some).ok_or_else(|| format!("`{key}` is not a number: {v}")),
    }
}

pub(crate) fn bool_or(json: &Value, key: &str, default: bool) -> Parse<bool> {
    match field(json, key) {
        None => Ok(default),
        Some(v) => v.as_bool().ok_or_else(|| format!("`{key}` is not a boolean: {v}")),
    }
}

fn str_of<'a>(json: &'a Value, key: &str) -> Parse<Option<&'a str>> {
    match field(json, key) {
        None => Ok(None),
        Some(v) => v.as_str().map(Some).ok_or_else(|| format!("`{key}` is not a string: {v}")),
    }
}

fn ints_of(json: &Value, key: &str) -> Parse<Option<Vec<i64>>> {
    match field(json, key) {
        None => Ok(None),
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| v.as_i64().ok_or_else(|| format!("`{key}` holds {v}, not an integer")))
            .collect::<Parse<Vec<_>>>()
            .map(Some),
        Some(v) => Err(format!("`{key}` is not a list: {v}")),
    }
}

fn usizes_of(json: &Value, key: &str) -> Parse<Option<Vec<usize>>> {
    ints_of(json, key)?
        .map(|v| {
            v.into_iter()
                .map(|n| usize::try_from(n).map_err(|_| format!("`{key}` holds {n}, not a non-negative integer")))
                .collect()
        })
        .transpose()
}

/// Refuse `key` unless it is absent or equal to `supported` (its transformers default).
fn only(json: &Value, key: &str, supported: &Value) -> Parse<()> {
    match field(json, key) {
        Some(v) if v != supported => Err(format!("`{key}` = {v} is not supported (only {supported})")),
        _ => Ok(()),
    }
}

/// Fields that change the forward pass and that we only support at their default.
fn check_supported(json: &Value) -> Parse<()> {
    only(json, "activation_function", &Value::from("relu"))?;
    only(json, "position_embedding_type", &Value::from("sine"))?;
    only(json, "dilation", &Value::from(false))
}

/// Class count as transformers 5 reads it: `num_labels` when present (its setter then
/// rebuilds `id2label`), else the length of `id2label`, else 2 (transformers writes neither
/// for 2 classes).
fn num_labels(json: &Value) -> Parse<usize> {
    let n = match (usize_of(json, "num_labels")?, field(json, "id2label")) {
        (Some(n), _) => n,
        (None, Some(Value::Object(m))) => m.len(),
        (None, Some(v)) => return Err(format!("`id2label` is not a mapping: {v}")),
        (None, None) => 2,
    };
    if n == 0 {
        return Err("`id2label` / `num_labels` give 0 classes".into());
    }
    Ok(n)
}

/// Which DETR flavour reads the backbone (their 4.x-compatible timm defaults differ).
#[derive(Clone, Copy)]
enum Family {
    /// `DeformableDetrConfig`: timm stages `[2, 3, 4]` (one level: `[4]`).
    Deformable { levels: usize },
    /// `DetrConfig`: timm stages `[1, 2, 3, 4]`, the last one used.
    Detr,
}

/// A timm ResNet by name (a pretrained tag such as `resnet50.a1_in1k` names the same
/// architecture).
fn timm_resnet(name: &str) -> Parse<ResNetConfig> {
    let arch = name.split_once('.').map_or(name, |(a, _)| a);
    Ok(match arch {
        "resnet18" => ResNetConfig::resnet18(),
        "resnet34" => ResNetConfig::resnet34(),
        "resnet50" => ResNetConfig::resnet50(),
        "resnet101" => ResNetConfig::resnet50().with_depths(vec![3, 4, 23, 3]),
        "resnet152" => ResNetConfig::resnet50().with_depths(vec![3, 8, 36, 3]),
        other => {
            return Err(format!("timm backbone `{other}` is not supported (resnet18/34/50/101/152)"));
        }
    })
}

/// A timm feature extractor: `backbone`, `out_indices` (feature 0 is the stem, 1–4 the
/// stages; negative counts from the end; default `[-1]`), `output_stride`, `features_only`.
/// `kwargs` holds the keys of `TimmBackboneConfig` or 4.x `backbone_kwargs`.
fn timm_backbone(name: &str, kwargs: &Value) -> Parse<BackboneConfig> {
    let base = timm_resnet(name)?;
    if !bool_or(kwargs, "features_only", true)? {
        return Err("timm backbone with `features_only` = false is not supported".into());
    }
    if let Some(s) = usize_of(kwargs, "output_stride")?
        && s != 32
    {
        return Err(format!("timm backbone `output_stride` = {s} (dilation) is not supported"));
    }
    let indices = ints_of(kwargs, "out_indices")?.unwrap_or_else(|| vec![-1]);
    let stages = indices
        .iter()
        .map(|&i| {
            let pos = if i < 0 { i + 5 } else { i };
            match pos {
                1..=4 => Ok(pos as usize),
                0 => Err("timm backbone `out_indices` includes the stem (0), which is not supported".to_string()),
                _ => Err(format!("timm backbone `out_indices` {indices:?} out of range for a ResNet")),
            }
        })
        .collect::<Parse<Vec<_>>>()?;
    check_stages(&stages, "out_indices")?;
    Ok(BackboneConfig::ResNet(base.with_out_stages(stages)))
}

fn check_stages(stages: &[usize], key: &str) -> Parse<()> {
    if stages.is_empty() {
        return Err(format!("backbone `{key}` selects no stage"));
    }
    if stages.windows(2).any(|w| w[0] >= w[1]) {
        return Err(format!("backbone `{key}` {stages:?} must be increasing without duplicates"));
    }
    Ok(())
}

/// A transformers `ResNetConfig` (`model_type: resnet`), defaults as in its class.
fn hf_resnet(bb: &Value) -> Parse<BackboneConfig> {
    only(bb, "hidden_act", &Value::from("relu"))?;
    only(bb, "downsample_in_first_stage", &Value::from(false))?;
    only(bb, "downsample_in_bottleneck", &Value::from(false))?;
    let block = match str_of(bb, "layer_type")?.unwrap_or("bottleneck") {
        "basic" => ResNetBlock::Basic,
        "bottleneck" => ResNetBlock::Bottleneck,
        other => return Err(format!("ResNet `layer_type` = \"{other}\" is not supported (basic, bottleneck)")),
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
    if c.depths.len() != 4 || c.hidden_sizes.len() != 4 {
        return Err(format!(
            "ResNet with {} depths and {} hidden_sizes: only 4 stages are supported",
            c.depths.len(),
            c.hidden_sizes.len()
        ));
    }
    let zero = |v: &[usize]| v.contains(&0);
    if zero(&c.depths) || zero(&c.hidden_sizes) || c.embedding_size == 0 {
        return Err("ResNet widths and depths must be positive".into());
    }
    if block == ResNetBlock::Bottleneck && c.hidden_sizes.iter().any(|h| h % 4 != 0) {
        return Err(format!("bottleneck ResNet `hidden_sizes` {:?} must be multiples of 4", c.hidden_sizes));
    }
    // `set_output_features_output_indices`: out_indices, else out_features, else the last
    // stage; stage 0 is the stem.
    let names = ["stem", "stage1", "stage2", "stage3", "stage4"];
    let stages: Vec<usize> = match (ints_of(bb, "out_indices")?, field(bb, "out_features")) {
        (Some(idx), _) => idx
            .iter()
            .map(|&i| {
                let pos = if i < 0 { i + 5 } else { i };
                usize::try_from(pos).ok().filter(|p| *p < 5).ok_or_else(|| format!("ResNet `out_indices` {idx:?}"))
            })
            .collect::<Parse<_>>()?,
        (None, Some(Value::Array(f))) => f
            .iter()
            .map(|v| {
                v.as_str()
                    .and_then(|s| names.iter().position(|n| *n == s))
                    .ok_or_else(|| format!("ResNet `out_features` holds {v}"))
            })
            .collect::<Parse<_>>()?,
        (None, Some(v)) => return Err(format!("ResNet `out_features` is not a list: {v}")),
        (None, None) => vec![4],
    };
    if stages.contains(&0) {
        return Err("backbone returning the stem (`out_features` \"stem\") is not supported".into());
    }
    check_stages(&stages, "out_indices")?;
    Ok(BackboneConfig::ResNet(c.with_out_stages(stages)))
}

/// The backbone, as `DeformableDetrConfig` / `DetrConfig.__post_init__` and
/// `consolidate_backbone_kwargs_to_config` resolve it:
/// 1. no `backbone_config`, `use_timm_backbone` (default true) and no `backbone_kwargs`:
///    timm `backbone` (default `resnet50`) with the family's stages;
/// 2. no `backbone_config` but a `backbone` name: timm with `backbone_kwargs` (4.x style);
///    a Hub repository name (`org/name`) would be downloaded by transformers, refused here;
/// 3. neither: transformers' `ResNetConfig()` with `out_features ["stage4"]`;
/// 4. a `backbone_config` mapping: by its `model_type` (`resnet` or `timm_backbone`).
fn resolve_backbone(json: &Value, family: Family) -> Parse<BackboneConfig> {
    let bb = field(json, "backbone_config");
    let use_timm = bool_or(json, "use_timm_backbone", true)?;
    let kwargs = match field(json, "backbone_kwargs") {
        None => Value::Object(Map::new()),
        Some(v @ Value::Object(_)) => v.clone(),
        Some(v) => return Err(format!("`backbone_kwargs` is not a mapping: {v}")),
    };
    let kwargs_empty = kwargs.as_object().is_none_or(Map::is_empty);
    let name = str_of(json, "backbone")?;
    match bb {
        None if use_timm && kwargs_empty => {
            let stages: &[i64] = match family {
                Family::Deformable { levels } if levels > 1 => &[2, 3, 4],
                Family::Deformable { .. } => &[4],
                Family::Detr => &[1, 2, 3, 4],
            };
            let mut kw = Map::new();
            kw.insert("out_indices".into(), Value::from(stages.to_vec()));
            if bool_or(json, "dilation", false)? {
                kw.insert("output_stride".into(), Value::from(16));
            }
            timm_backbone(name.unwrap_or("resnet50"), &Value::Object(kw))
        }
        None => match name {
            Some(n) if n.contains('/') => {
                Err(format!("backbone `{n}` names a Hub repository; give its `backbone_config` instead"))
            }
            Some(n) => timm_backbone(n, &kwargs),
            None => hf_resnet(&serde_json::json!({ "out_features": ["stage4"] })),
        },
        Some(bb @ Value::Object(_)) => match bb.get("model_type").and_then(Value::as_str) {
            Some("resnet") => hf_resnet(bb),
            Some("timm_backbone") => {
                let n = str_of(bb, "backbone")?.ok_or("timm `backbone_config` names no `backbone`")?;
                timm_backbone(n, bb)
            }
            Some(other) => Err(format!("backbone model_type `{other}` is not supported (resnet, timm_backbone)")),
            None => Err("`backbone_config` has no `model_type`".into()),
        },
        Some(v) => Err(format!("`backbone_config` is not a mapping: {v}")),
    }
}

/// Our [`DeformableDetrConfig`] from a HuggingFace `DeformableDetrConfig` JSON. Absent
/// fields take transformers' defaults (2 classes, a timm ResNet-50, …); the backbone
/// becomes single-channel. The result is validated ([`DeformableDetrConfig::validate`]).
///
/// # Errors
/// A message naming the unsupported, malformed or impossible field.
pub fn deformable_config_from_hf(json: &Value) -> Parse<DeformableDetrConfig> {
    check_supported(json)?;
    let levels = usize_of(json, "num_feature_levels")?.unwrap_or(4);
    let two_stage = bool_or(json, "two_stage", false)?;
    let with_box_refine = bool_or(json, "with_box_refine", false)?;
    if two_stage && !with_box_refine {
        // `DeformableDetrConfig.validate_architecture` raises the same.
        return Err("`two_stage` = true needs `with_box_refine` = true".into());
    }
    let mut c = DeformableDetrConfig::new()
        .with_backbone(resolve_backbone(json, Family::Deformable { levels })?)
        .with_num_feature_levels(levels)
        .with_num_classes(num_labels(json)?)
        .with_with_box_refine(with_box_refine)
        .with_two_stage(two_stage);
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
    c.validate()?;
    Ok(c)
}

/// Our [`DetrConfig`] from a HuggingFace `DetrConfig` JSON (the last backbone stage is the
/// one DETR reads; the others' weights are unused by design). Validated like
/// [`deformable_config_from_hf`].
///
/// # Errors
/// A message naming the unsupported, malformed or impossible field.
pub fn detr_config_from_hf(json: &Value) -> Parse<DetrConfig> {
    check_supported(json)?;
    let mut c = DetrConfig::new()
        .with_backbone(resolve_backbone(json, Family::Detr)?)
        .with_num_classes(num_labels(json)?)
        .with_auxiliary_loss(bool_or(json, "auxiliary_loss", false)?);
    if let BackboneConfig::ResNet(r) = &c.backbone {
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
    c.validate()?;
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A transformers 5 Deformable DETR config with a small HF ResNet, plus `extra` fields.
    fn deformable(extra: Value) -> Value {
        let mut c = json!({
            "d_model": 32,
            "backbone_config": {"model_type": "resnet", "layer_type": "basic", "embedding_size": 8,
                                "hidden_sizes": [8, 8, 16, 16], "depths": [1, 1, 1, 1],
                                "out_features": ["stage2", "stage3", "stage4"]},
        });
        for (k, v) in extra.as_object().unwrap() {
            c[k] = v.clone();
        }
        c
    }

    fn refused(result: Parse<impl std::fmt::Debug>, words: &[&str]) {
        let message = result.expect_err("refused");
        for w in words {
            assert!(message.contains(w), "`{message}` does not mention `{w}`");
        }
    }

    #[test]
    fn small_config_is_accepted() {
        let c = deformable_config_from_hf(&deformable(json!({}))).unwrap();
        assert_eq!((c.num_classes, c.num_feature_levels, c.backbone.out_channels()), (2, 4, vec![8, 16, 16]));
    }

    #[test]
    fn unsupported_fields_are_refused_by_name_and_value() {
        let cases = [
            (json!({"activation_function": "gelu"}), vec!["activation_function", "gelu"]),
            (json!({"position_embedding_type": "learned"}), vec!["position_embedding_type", "learned"]),
            (json!({"dilation": true}), vec!["dilation", "true"]),
            (json!({"two_stage": true}), vec!["two_stage", "with_box_refine"]),
            (json!({"backbone_config": {"model_type": "resnet", "hidden_act": "gelu"}}), vec!["hidden_act", "gelu"]),
            (
                json!({"backbone_config": {"model_type": "resnet", "downsample_in_bottleneck": true}}),
                vec!["downsample_in_bottleneck"],
            ),
            (json!({"backbone_config": {"model_type": "resnet", "layer_type": "dense"}}), vec!["layer_type", "dense"]),
            (json!({"backbone_config": {"model_type": "resnet", "depths": [1, 1, 1]}}), vec!["4 stages"]),
            (json!({"backbone_config": {"model_type": "resnet", "out_features": ["stem"]}}), vec!["stem"]),
            (json!({"backbone_config": {"model_type": "convnext"}}), vec!["model_type", "convnext"]),
            (json!({"backbone_config": {"model_type": "timm_backbone", "backbone": "resnet50d"}}), vec!["resnet50d"]),
            (
                json!({"backbone_config": {"model_type": "timm_backbone", "backbone": "resnet50", "output_stride": 16}}),
                vec!["output_stride", "16"],
            ),
            (
                json!({"backbone_config": {"model_type": "timm_backbone", "backbone": "resnet50", "out_indices": [0, 1]}}),
                vec!["out_indices", "stem"],
            ),
            (json!({"backbone_config": null, "backbone": "microsoft/resnet-50"}), vec!["microsoft/resnet-50"]),
            (json!({"id2label": {}}), vec!["0 classes"]),
        ];
        for (extra, words) in cases {
            refused(deformable_config_from_hf(&deformable(extra)), &words);
        }
        refused(detr_config_from_hf(&json!({"activation_function": "silu"})), &["activation_function", "silu"]);
    }

    #[test]
    fn impossible_configs_are_errors_not_panics() {
        let cases = [
            // Three backbone levels, two feature levels.
            (json!({"num_feature_levels": 2}), vec!["num_feature_levels = 2", "3 backbone levels"]),
            (json!({"num_feature_levels": 1}), vec!["num_feature_levels = 1"]),
            (json!({"encoder_attention_heads": 3}), vec!["encoder_attention_heads = 3", "d_model = 32"]),
            (json!({"decoder_attention_heads": 0}), vec!["decoder_attention_heads = 0"]),
            // 48 channels cannot form transformers' 32 GroupNorm groups.
            (
                json!({"d_model": 48, "encoder_attention_heads": 4, "decoder_attention_heads": 4}),
                vec!["group_norm_groups", "48"],
            ),
            (json!({"decoder_layers": 0}), vec!["decoder_layers = 0"]),
            (json!({"num_queries": 0}), vec!["num_queries = 0"]),
        ];
        for (extra, words) in cases {
            refused(deformable_config_from_hf(&deformable(extra)), &words);
        }
        refused(detr_config_from_hf(&json!({"d_model": 30})), &["encoder_attention_heads = 8", "d_model = 30"]);
    }

    #[test]
    fn loading_an_impossible_config_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let json = deformable(json!({"num_feature_levels": 2}));
        std::fs::write(dir.path().join("config.json"), json.to_string()).unwrap();
        let device = burn::prelude::Device::default();
        let err = crate::weights::load_hf_deformable_detr(dir.path(), None, &device).expect_err("refused");
        let message = err.to_string();
        assert!(message.contains("config.json") && message.contains("num_feature_levels"), "{message}");
        // Fine-tuning to 0 classes is refused too.
        let json = deformable(json!({}));
        std::fs::write(dir.path().join("config.json"), json.to_string()).unwrap();
        let err = crate::weights::load_hf_deformable_detr(dir.path(), Some(0), &device).expect_err("refused");
        assert!(err.to_string().contains("num_classes = 0"), "{err}");
    }
}
