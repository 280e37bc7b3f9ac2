//! Parity with PyTorch: fixtures written by `scripts/msda_fixtures.py` from the reference's
//! `ms_deform_attn_core_pytorch` and `MSDeformAttn.forward`.

use burn::module::Param;
use burn::nn::Linear;
use burn::tensor::{Bool, Device, Tensor, TensorData};
use safetensors::{Dtype, SafeTensors};

use super::tests::{assert_close, to_vec};
use super::{MSDeformAttnConfig, ms_deform_attn_core, ms_deform_attn_core_reference};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/msda");

struct Fixture {
    bytes: Vec<u8>,
}

impl Fixture {
    fn open(name: &str) -> Self {
        let path = format!("{DIR}/{name}");
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
        Self { bytes }
    }

    fn raw(&self, key: &str) -> (Vec<usize>, Dtype, Vec<u8>) {
        let st = SafeTensors::deserialize(&self.bytes).expect("valid safetensors");
        let view = st.tensor(key).unwrap_or_else(|e| panic!("{key}: {e}"));
        (view.shape().to_vec(), view.dtype(), view.data().to_vec())
    }

    fn f32s(&self, key: &str) -> (Vec<usize>, Vec<f32>) {
        let (shape, dtype, data) = self.raw(key);
        assert_eq!(dtype, Dtype::F32, "{key}");
        let values = data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        (shape, values)
    }

    fn tensor<const D: usize>(&self, key: &str, device: &Device) -> Tensor<D> {
        let (shape, values) = self.f32s(key);
        Tensor::from_data(TensorData::new(values, shape), device)
    }

    fn spatial_shapes(&self) -> Vec<[usize; 2]> {
        let (shape, dtype, data) = self.raw("spatial_shapes");
        assert_eq!((dtype, shape[1]), (Dtype::I64, 2));
        let v: Vec<usize> = data.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().unwrap()) as usize).collect();
        v.chunks_exact(2).map(|c| [c[0], c[1]]).collect()
    }
}

#[test]
fn core_forward_matches_pytorch() {
    let fx = Fixture::open("core.safetensors");
    let device = Device::flex();
    let shapes = fx.spatial_shapes();
    let value: Tensor<4> = fx.tensor("value", &device);
    let loc: Tensor<6> = fx.tensor("sampling_locations", &device);
    let w: Tensor<5> = fx.tensor("attention_weights", &device);
    let (_, want) = fx.f32s("output");
    let fused = ms_deform_attn_core(value.clone(), &shapes, loc.clone(), w.clone());
    assert_close("fused vs pytorch", &to_vec(fused), &want, 1e-5);
    let reference = ms_deform_attn_core_reference(value, &shapes, loc, w);
    assert_close("reference vs pytorch", &to_vec(reference), &want, 1e-5);
}

#[test]
fn core_gradients_match_pytorch() {
    let fx = Fixture::open("core.safetensors");
    let device = Device::flex().autodiff();
    let shapes = fx.spatial_shapes();
    let value = fx.tensor::<4>("value", &device).require_grad();
    let loc = fx.tensor::<6>("sampling_locations", &device).require_grad();
    let w = fx.tensor::<5>("attention_weights", &device).require_grad();
    let g: Tensor<3> = fx.tensor("grad_output", &device);
    let out = ms_deform_attn_core(value.clone(), &shapes, loc.clone(), w.clone());
    let grads = (out * g).sum().backward();
    let got = to_vec(value.grad(&grads).expect("grad value"));
    assert_close("grad value", &got, &fx.f32s("grad_value").1, 1e-5);
    let got = to_vec(w.grad(&grads).expect("grad weights"));
    assert_close("grad weights", &got, &fx.f32s("grad_attention_weights").1, 1e-5);
    let got = to_vec(loc.grad(&grads).expect("grad locations"));
    assert_close("grad locations", &got, &fx.f32s("grad_sampling_locations").1, 1e-4);
}

/// A `Linear` holding PyTorch's `weight [out, in]` and `bias [out]`.
fn load_linear(linear: &mut Linear, fx: &Fixture, name: &str, device: &Device) {
    let weight: Tensor<2> = fx.tensor(&format!("{name}.weight"), device);
    linear.weight = Param::from_tensor(weight.transpose());
    linear.bias = Some(Param::from_tensor(fx.tensor(&format!("{name}.bias"), device)));
}

#[test]
fn module_forward_matches_pytorch() {
    let fx = Fixture::open("module.safetensors");
    let device = Device::flex();
    let mut m =
        MSDeformAttnConfig::new().with_d_model(16).with_n_levels(2).with_n_heads(2).with_n_points(3).init(&device);
    load_linear(&mut m.sampling_offsets, &fx, "sampling_offsets", &device);
    load_linear(&mut m.attention_weights, &fx, "attention_weights", &device);
    load_linear(&mut m.value_proj, &fx, "value_proj", &device);
    load_linear(&mut m.output_proj, &fx, "output_proj", &device);
    let shapes = fx.spatial_shapes();
    let query: Tensor<3> = fx.tensor("query", &device);
    let input: Tensor<3> = fx.tensor("input_flatten", &device);
    let (mask_shape, _, mask) = fx.raw("input_padding_mask");
    let mask: Vec<bool> = mask.iter().map(|&b| b != 0).collect();
    assert!(mask.iter().any(|&b| b), "fixture masks some positions");
    let mask = Tensor::<2, Bool>::from_data(TensorData::new(mask, mask_shape), &device);
    for coords in ["2", "4"] {
        let reference: Tensor<4> = fx.tensor(&format!("reference_points_{coords}"), &device);
        let out = m.forward(query.clone(), reference, input.clone(), &shapes, Some(mask.clone()));
        let want = fx.f32s(&format!("output_{coords}")).1;
        assert_close(&format!("{coords}-coordinate output"), &to_vec(out), &want, 1e-5);
    }
}

#[test]
fn init_bias_matches_pytorch() {
    let fx = Fixture::open("module.safetensors");
    let m = MSDeformAttnConfig::new().init(&Device::flex());
    let got = to_vec(m.sampling_offsets.bias.expect("bias").val());
    assert_close("init bias", &got, &fx.f32s("init_sampling_offsets_bias").1, 1e-6);
}
