//! The fused sampling op as a burn backend extension: implemented for [`Flex`] (host kernels of
//! [`super::kernel`]) and for [`Autodiff`] over any backend that has it, with the hand-written
//! backward registered as the op's gradient.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::{Autodiff, NodeId};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Flex, TensorMetadata, backend_extension};

use super::{CoreDims, check_core_shapes, kernel};
use crate::flex_host::{host_f32, slice, to_flex};

/// Backends that carry the fused multi-scale deformable sampling op (a burn backend
/// extension). Implemented for burn's Flex CPU backend and for `Autodiff<B>` over such a
/// backend; [`super::ms_deform_attn_core`] falls back to the plain reference on any other
/// backend, so model code never needs to name this trait.
#[backend_extension(Flex, Autodiff)]
pub trait MsdaBackend: Backend {
    /// Fused forward. Shapes as in [`super::ms_deform_attn_core`], except that the output is
    /// `[b, len_q, heads, head_dim]`.
    fn ms_deform_attn_fused(
        value: FloatTensor<Self>,
        spatial_shapes: Vec<[usize; 2]>,
        sampling_locations: FloatTensor<Self>,
        attention_weights: FloatTensor<Self>,
    ) -> FloatTensor<Self>;

    /// Hand-written backward of [`MsdaBackend::ms_deform_attn_fused`] for the output gradient
    /// `grad_output` `[b, len_q, heads, head_dim]`: gradients of `(value, sampling_locations,
    /// attention_weights)`, in their shapes.
    fn ms_deform_attn_fused_backward(
        value: FloatTensor<Self>,
        spatial_shapes: Vec<[usize; 2]>,
        sampling_locations: FloatTensor<Self>,
        attention_weights: FloatTensor<Self>,
        grad_output: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
}

fn dims_of(value: &FlexTensor, shapes: &[[usize; 2]], locations: &FlexTensor, weights: &FlexTensor) -> CoreDims {
    check_core_shapes(&value.shape().dims::<4>(), shapes, &locations.shape().dims::<6>(), &weights.shape().dims::<5>())
}

impl MsdaBackend for Flex {
    fn ms_deform_attn_fused(
        value: FlexTensor,
        spatial_shapes: Vec<[usize; 2]>,
        sampling_locations: FlexTensor,
        attention_weights: FlexTensor,
    ) -> FlexTensor {
        let dtype = value.dtype();
        let dims = dims_of(&value, &spatial_shapes, &sampling_locations, &attention_weights);
        let (value, locations, weights) = (host_f32(value), host_f32(sampling_locations), host_f32(attention_weights));
        let out = kernel::forward(&dims, &spatial_shapes, slice(&value), slice(&locations), slice(&weights));
        let shape = vec![dims.batch, dims.len_q, dims.heads, dims.head_dim];
        to_flex(out, shape, dtype)
    }

    fn ms_deform_attn_fused_backward(
        value: FlexTensor,
        spatial_shapes: Vec<[usize; 2]>,
        sampling_locations: FlexTensor,
        attention_weights: FlexTensor,
        grad_output: FlexTensor,
    ) -> (FlexTensor, FlexTensor, FlexTensor) {
        let dtype = value.dtype();
        let dims = dims_of(&value, &spatial_shapes, &sampling_locations, &attention_weights);
        let (value_shape, loc_shape, w_shape) =
            (value.shape().to_vec(), sampling_locations.shape().to_vec(), attention_weights.shape().to_vec());
        let (value, locations, weights, grad_output) =
            (host_f32(value), host_f32(sampling_locations), host_f32(attention_weights), host_f32(grad_output));
        let grads = kernel::backward(
            &dims,
            &spatial_shapes,
            slice(&value),
            slice(&locations),
            slice(&weights),
            slice(&grad_output),
        );
        (
            to_flex(grads.value, value_shape, dtype),
            to_flex(grads.locations, loc_shape, dtype),
            to_flex(grads.weights, w_shape, dtype),
        )
    }
}

/// Autodiff node of the fused op: keeps its three inputs, replays the hand-written backward.
#[derive(Debug)]
struct MsdaBackward;

impl<B: MsdaBackend> Backward<B, 3> for MsdaBackward {
    /// Checkpointed inputs (value, locations, weights) and the spatial shapes.
    type State = (NodeId, NodeId, NodeId, Vec<[usize; 2]>);

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, checkpointer: &mut Checkpointer) {
        let [node_value, node_loc, node_weights] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (value_id, loc_id, weights_id, shapes) = ops.state;
        let value = checkpointer.retrieve_node_output::<B::FloatTensorPrimitive>(value_id);
        let locations = checkpointer.retrieve_node_output::<B::FloatTensorPrimitive>(loc_id);
        let weights = checkpointer.retrieve_node_output::<B::FloatTensorPrimitive>(weights_id);
        let (grad_value, grad_loc, grad_weights) =
            B::ms_deform_attn_fused_backward(value, shapes, locations, weights, grad);
        if let Some(node) = node_value {
            grads.register::<B>(node.id, grad_value);
        }
        if let Some(node) = node_loc {
            grads.register::<B>(node.id, grad_loc);
        }
        if let Some(node) = node_weights {
            grads.register::<B>(node.id, grad_weights);
        }
    }
}

impl<B: MsdaBackend, C: CheckpointStrategy> MsdaBackend for Autodiff<B, C> {
    fn ms_deform_attn_fused(
        value: FloatTensor<Self>,
        spatial_shapes: Vec<[usize; 2]>,
        sampling_locations: FloatTensor<Self>,
        attention_weights: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let nodes = [value.node(), sampling_locations.node(), attention_weights.node()];
        match MsdaBackward.prepare::<C>(nodes).compute_bound().stateful() {
            OpsKind::Tracked(mut prep) => {
                let state = (
                    prep.checkpoint(&value),
                    prep.checkpoint(&sampling_locations),
                    prep.checkpoint(&attention_weights),
                    spatial_shapes.clone(),
                );
                let out = B::ms_deform_attn_fused(
                    value.into_primitive(),
                    spatial_shapes,
                    sampling_locations.into_primitive(),
                    attention_weights.into_primitive(),
                );
                prep.finish(state, out)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::ms_deform_attn_fused(
                value.into_primitive(),
                spatial_shapes,
                sampling_locations.into_primitive(),
                attention_weights.into_primitive(),
            )),
        }
    }

    /// The backward itself is not differentiated again: its outputs are untracked.
    fn ms_deform_attn_fused_backward(
        value: FloatTensor<Self>,
        spatial_shapes: Vec<[usize; 2]>,
        sampling_locations: FloatTensor<Self>,
        attention_weights: FloatTensor<Self>,
        grad_output: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let (grad_value, grad_loc, grad_weights) = B::ms_deform_attn_fused_backward(
            value.into_primitive(),
            spatial_shapes,
            sampling_locations.into_primitive(),
            attention_weights.into_primitive(),
            grad_output.into_primitive(),
        );
        (
            FloatTensor::<Self>::new(grad_value),
            FloatTensor::<Self>::new(grad_loc),
            FloatTensor::<Self>::new(grad_weights),
        )
    }
}
