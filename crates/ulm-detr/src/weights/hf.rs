//! HuggingFace key names → our parameter keys.
//!
//! `DeformableDetrForObjectDetection` and `DetrForObjectDetection` checkpoints, with a
//! HuggingFace `ResNetBackbone` or a timm ResNet (the released COCO weights). Our field
//! names follow the references, so the table is short:
//!
//! | HuggingFace                                                | ours                                  |
//! |------------------------------------------------------------|---------------------------------------|
//! | `model.` prefix                                            | (dropped)                             |
//! | `backbone.conv_encoder.model.` (≥ 5: `backbone.model.`)    | `backbone.`                           |
//! | `self_attn.o_proj` (transformers ≥ 5)                      | `self_attn.out_proj`                  |
//! | `layers.{i}.mlp.fc1` (transformers ≥ 5)                    | `layers.{i}.ffn.fc1`                  |
//! | `…embedder.embedder.convolution` / `.normalization`        | `conv1` / `bn1`                       |
//! | `…encoder.stages.{s}.layers.{j}.layer.{k}.convolution`     | `layer{s+1}.{j}.conv{k+1}`            |
//! | `…encoder.stages.{s}.layers.{j}.layer.{k}.normalization`   | `layer{s+1}.{j}.bn{k+1}`              |
//! | `…layers.{j}.shortcut.convolution` / `.normalization`      | `…{j}.downsample.conv` / `.bn`        |
//! | timm `layer{n}.{j}.downsample.0` / `.1`                    | `layer{n}.{j}.downsample.conv` / `.bn`|
//! | `input_proj.{l}.0` / `.1`                                  | `input_proj.{l}.conv` / `.norm`       |
//! | `{encoder,decoder}.layers.{i}.{fc1,fc2,final_layer_norm}`  | `….layers.{i}.ffn.{…}`                |
//! | `enc_output`, `enc_output_norm`, `pos_trans`, `pos_trans_norm` | `two_stage.{…}`                   |
//! | `decoder.bbox_embed.{i}` / `decoder.class_embed.{i}`       | tied alias of `bbox_embed.{i}` / `class_embed.{i}` |
//!
//! Everything else (`encoder.layers.{i}.self_attn.value_proj`, `level_embed`,
//! `class_embed.{i}`, `bbox_embed.{i}.layers.{k}`, `query_position_embeddings`, …) keeps its
//! name. `num_batches_tracked` counters are ignored.

use std::path::Path;

use crate::error::Result;
use crate::weights::{TensorMap, read_safetensors};

/// What to do with one HuggingFace key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mapped {
    /// Load into this key of ours.
    Key(String),
    /// A tied alias of this key of ours (used only if the key itself is absent).
    Alias(String),
    /// Not a parameter (batch-norm counter).
    Ignore,
}

/// Translate a backbone key (after `backbone.conv_encoder.model.`).
fn backbone_key(k: &str) -> String {
    if let Some(rest) = k.strip_prefix("embedder.embedder.") {
        return rest.replacen("convolution", "conv1", 1).replacen("normalization", "bn1", 1);
    }
    if let Some(rest) = k.strip_prefix("encoder.stages.") {
        // {s}.layers.{j}.{layer.{k}|shortcut}.{convolution|normalization}.{leaf}
        let parts: Vec<&str> = rest.split('.').collect();
        if parts.len() >= 6 && parts[1] == "layers" {
            let stage: usize = parts[0].parse().unwrap_or(0) + 1;
            let block = parts[2];
            let (module, tail) = match parts[3] {
                "shortcut" => {
                    let m = if parts[4] == "convolution" { "downsample.conv" } else { "downsample.bn" };
                    (m.to_string(), &parts[5..])
                }
                "layer" if parts.len() >= 7 => {
                    let idx: usize = parts[4].parse().unwrap_or(0) + 1;
                    let m = if parts[5] == "convolution" { "conv" } else { "bn" };
                    (format!("{m}{idx}"), &parts[6..])
                }
                _ => return k.to_string(),
            };
            return format!("layer{stage}.{block}.{module}.{}", tail.join("."));
        }
    }
    // timm / torchvision names are ours, except the downsample sequential.
    k.replace(".downsample.0.", ".downsample.conv.").replace(".downsample.1.", ".downsample.bn.")
}

/// Map one HuggingFace key to ours.
pub fn map_key(hf: &str) -> Mapped {
    if hf.ends_with("num_batches_tracked") {
        return Mapped::Ignore;
    }
    let k = hf.strip_prefix("model.").unwrap_or(hf);
    for backbone in ["backbone.conv_encoder.model.", "backbone.model."] {
        if let Some(rest) = k.strip_prefix(backbone) {
            return Mapped::Key(format!("backbone.{}", backbone_key(rest)));
        }
    }
    // transformers ≥ 5 names the attention output `o_proj` and nests the FFN in `mlp`.
    let k = &k.replace(".o_proj.", ".out_proj.").replace(".mlp.fc", ".fc");
    if let Some(rest) = k.strip_prefix("decoder.bbox_embed.") {
        return Mapped::Alias(format!("bbox_embed.{rest}"));
    }
    if let Some(rest) = k.strip_prefix("decoder.class_embed.") {
        return Mapped::Alias(format!("class_embed.{rest}"));
    }
    for two_stage in ["enc_output.", "enc_output_norm.", "pos_trans.", "pos_trans_norm."] {
        if k.starts_with(two_stage) {
            return Mapped::Key(format!("two_stage.{k}"));
        }
    }
    if let Some(rest) = k.strip_prefix("input_proj.")
        && let Some((level, tail)) = rest.split_once('.')
    {
        let tail = match tail.split_once('.') {
            Some(("0", leaf)) => format!("conv.{leaf}"),
            Some(("1", leaf)) => format!("norm.{leaf}"),
            _ => tail.to_string(),
        };
        return Mapped::Key(format!("input_proj.{level}.{tail}"));
    }
    for stack in ["encoder.layers.", "decoder.layers."] {
        if let Some(rest) = k.strip_prefix(stack)
            && let Some((i, tail)) = rest.split_once('.')
            && (tail.starts_with("fc1.") || tail.starts_with("fc2.") || tail.starts_with("final_layer_norm."))
        {
            return Mapped::Key(format!("{stack}{i}.ffn.{tail}"));
        }
    }
    Mapped::Key(k.to_string())
}

/// Translate HuggingFace tensors to our keys. Returns the tensors and the HF keys that were
/// ignored or dropped as tied duplicates.
pub fn translate(tensors: TensorMap) -> (TensorMap, Vec<String>) {
    let mut out = TensorMap::new();
    let mut aliases = Vec::new();
    let mut ignored = Vec::new();
    for (hf, entry) in tensors {
        match map_key(&hf) {
            Mapped::Key(k) => {
                out.insert(k, entry);
            }
            Mapped::Alias(k) => aliases.push((hf, k, entry)),
            Mapped::Ignore => ignored.push(hf),
        }
    }
    for (hf, k, entry) in aliases {
        match out.entry(k) {
            std::collections::btree_map::Entry::Occupied(_) => ignored.push(hf),
            std::collections::btree_map::Entry::Vacant(v) => {
                v.insert(entry);
            }
        }
    }
    (out, ignored)
}

/// Read a HuggingFace safetensors checkpoint and translate its keys.
///
/// # Errors
/// If the file cannot be read.
pub fn read_hf(path: &Path) -> Result<(TensorMap, Vec<String>)> {
    Ok(translate(read_safetensors(path)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> String {
        match map_key(s) {
            Mapped::Key(k) | Mapped::Alias(k) => k,
            Mapped::Ignore => "<ignored>".into(),
        }
    }

    #[test]
    fn table() {
        let p = "model.backbone.conv_encoder.model.";
        assert_eq!(key(&format!("{p}embedder.embedder.convolution.weight")), "backbone.conv1.weight");
        assert_eq!(key(&format!("{p}embedder.embedder.normalization.running_var")), "backbone.bn1.running_var");
        assert_eq!(
            key(&format!("{p}encoder.stages.1.layers.0.shortcut.normalization.bias")),
            "backbone.layer2.0.downsample.bn.bias"
        );
        assert_eq!(
            key(&format!("{p}encoder.stages.3.layers.2.layer.2.convolution.weight")),
            "backbone.layer4.2.conv3.weight"
        );
        assert_eq!(key(&format!("{p}layer3.1.downsample.1.weight")), "backbone.layer3.1.downsample.bn.weight");
        assert_eq!(key(&format!("{p}layer3.1.bn2.weight")), "backbone.layer3.1.bn2.weight");
        assert_eq!(key("model.input_proj.3.1.weight"), "input_proj.3.norm.weight");
        assert_eq!(key("model.encoder.layers.1.fc2.bias"), "encoder.layers.1.ffn.fc2.bias");
        assert_eq!(key("model.encoder.layers.1.mlp.fc2.bias"), "encoder.layers.1.ffn.fc2.bias");
        assert_eq!(key("model.decoder.layers.0.self_attn.o_proj.weight"), "decoder.layers.0.self_attn.out_proj.weight");
        assert_eq!(key("model.backbone.model.embedder.embedder.convolution.weight"), "backbone.conv1.weight");
        assert_eq!(
            key("model.decoder.layers.0.encoder_attn.sampling_offsets.weight"),
            "decoder.layers.0.encoder_attn.sampling_offsets.weight"
        );
        assert_eq!(key("model.decoder.bbox_embed.1.layers.2.bias"), "bbox_embed.1.layers.2.bias");
        assert_eq!(key("model.pos_trans_norm.weight"), "two_stage.pos_trans_norm.weight");
        assert_eq!(key("class_labels_classifier.weight"), "class_labels_classifier.weight");
        assert_eq!(key("model.backbone.conv_encoder.model.bn1.num_batches_tracked"), "<ignored>");
    }
}
