//! Mutation tests of the weight and config readers: safetensors files (every float dtype
//! the reader converts, plus an integer tensor it skips), the HuggingFace key
//! translation on top, HF `config.json` and our own saved `config.json`. Each case must
//! not panic, must finish quickly, must allocate no more than a multiple of the file size
//! and, when rejected, must name the file. The mutation engine is ulm-io's
//! (`crates/ulm-io/tests/mutate/mod.rs`).

#[path = "../../ulm-io/tests/mutate/mod.rs"]
mod mutate;

use std::path::Path;

use safetensors::tensor::{Dtype, TensorView};
use ulm_detr::weights::{deformable_config_from_hf, detr_config_from_hf, hf, load_config, read_safetensors};
use ulm_detr::{DeformableDetrConfig, DetrError};

use mutate::{Counting, Outcome, fuzz};

#[global_allocator]
static ALLOC: Counting = Counting;

const SLACK: usize = 4 << 20;

fn outcome<T>(r: Result<T, DetrError>) -> Outcome {
    match r {
        Ok(_) => Outcome::Ok,
        Err(e) => Outcome::Err(e.to_string()),
    }
}

/// A small safetensors file with one tensor of each dtype the reader handles.
fn seed_safetensors() -> Vec<u8> {
    let f32s: Vec<u8> = [0.5f32, -1.0, 2.25, 3.0, 1e-3, -7.5].iter().flat_map(|v| v.to_le_bytes()).collect();
    let f16s: Vec<u8> = [0x3c00u16, 0xc000, 0x3555, 0x0001].iter().flat_map(|v| v.to_le_bytes()).collect();
    let bf16s: Vec<u8> = [0x3f80u16, 0xc000, 0x4049, 0x0000].iter().flat_map(|v| v.to_le_bytes()).collect();
    let f64s: Vec<u8> = [1.5f64, -0.25, 1e10].iter().flat_map(|v| v.to_le_bytes()).collect();
    let i64s: Vec<u8> = [7i64, -3].iter().flat_map(|v| v.to_le_bytes()).collect();
    let views = vec![
        ("backbone.conv1.weight", TensorView::new(Dtype::F32, vec![2, 3], &f32s).unwrap()),
        ("model.query_position_embeddings.weight", TensorView::new(Dtype::F16, vec![4], &f16s).unwrap()),
        ("class_embed.bias", TensorView::new(Dtype::BF16, vec![2, 2], &bf16s).unwrap()),
        ("bbox_embed.layers.0.weight", TensorView::new(Dtype::F64, vec![3], &f64s).unwrap()),
        ("num_batches_tracked", TensorView::new(Dtype::I64, vec![2], &i64s).unwrap()),
    ];
    safetensors::tensor::serialize(views, None).unwrap()
}

#[test]
fn fuzz_safetensors() {
    let dir = tempfile::tempdir().unwrap();
    let seed = seed_safetensors();
    let p = dir.path().join("model.safetensors");
    // f16 → f32 doubles the bytes; the file itself is read into memory once.
    let bound = |l: usize| 4 * l + SLACK;
    let n = fuzz("safetensors", &seed, &p, 3000, false, bound, |p| outcome(read_safetensors(p)));
    let m = fuzz("hf safetensors", &seed, &p, 1000, false, bound, |p| outcome(hf::read_hf(p)));
    eprintln!("safetensors: {} cases", n + m);
}

#[test]
fn fuzz_hf_config_json() {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hf");
    let p = dir.path().join("config.json");
    let mut n = 0;
    for (seed, cases) in [("detr", 1000), ("deformable_detr", 1000)] {
        let bytes = std::fs::read(fixtures.join(seed).join("config.json")).unwrap();
        // As `load_hf_detr` / `load_hf_deformable_detr` read it: JSON, then our config;
        // they add the file name to the message.
        n += fuzz(
            &format!("hf config {seed}"),
            &bytes,
            &p,
            cases,
            true,
            |l| 64 * l + SLACK,
            |p| {
                let r = std::fs::read(p)
                    .map_err(|e| e.to_string())
                    .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).map_err(|e| e.to_string()))
                    .and_then(|j| {
                        detr_config_from_hf(&j)?;
                        deformable_config_from_hf(&j).map(|_| ())
                    });
                match r {
                    Ok(()) => Outcome::Ok,
                    Err(e) => Outcome::Err(format!("{}: {e}", p.display())),
                }
            },
        );
    }
    eprintln!("HF config.json: {n} cases");
}

#[test]
fn fuzz_saved_config_json() {
    let dir = tempfile::tempdir().unwrap();
    let seed = burn::config::config_to_json(&DeformableDetrConfig::tiny());
    let p = dir.path().join("config.json");
    let n = fuzz(
        "saved config",
        seed.as_bytes(),
        &p,
        1500,
        true,
        |l| 64 * l + SLACK,
        |p| outcome(load_config::<DeformableDetrConfig>(p.parent().unwrap())),
    );
    eprintln!("saved config.json: {n} cases");
}
