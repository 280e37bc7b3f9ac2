//! Moving Flex tensors to and from host `f32` slices, for the hand-written kernels
//! ([`crate::ms_deform_attn`], [`crate::conv`]).

use burn::backend::Flex;
use burn::backend::flex::FlexTensor;
use burn::backend::ops::FloatTensorOps;
use burn::tensor::{DType, FloatDType, TensorData};

/// A Flex tensor as contiguous `f32` (copying only when it is strided or of another dtype).
pub(crate) fn host_f32(tensor: FlexTensor) -> FlexTensor {
    let tensor = if tensor.dtype() == DType::F32 { tensor } else { Flex::float_cast(tensor, FloatDType::F32) };
    if tensor.as_slice::<f32>().is_some() { tensor } else { tensor.to_contiguous() }
}

/// The data of a tensor returned by [`host_f32`].
pub(crate) fn slice(tensor: &FlexTensor) -> &[f32] {
    tensor.as_slice::<f32>().expect("host_f32 returns contiguous f32 tensors")
}

/// Wraps a host result as a Flex tensor of `dtype`.
pub(crate) fn to_flex(data: Vec<f32>, shape: Vec<usize>, dtype: DType) -> FlexTensor {
    let tensor = FlexTensor::from_data(TensorData::new(data, shape));
    match dtype {
        DType::F32 => tensor,
        other => Flex::float_cast(tensor, FloatDType::from(other)),
    }
}
