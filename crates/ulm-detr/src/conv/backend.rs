//! The convolution as a burn backend extension whose forward and weight gradient are
//! [`kernel::forward`] and [`kernel::weight_grad`]: implemented for [`Flex`] and for
//! [`Autodiff`] over any backend that has it.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::{Autodiff, NodeId};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Flex, TensorMetadata, backend_extension};
use burn::tensor::ops::ConvOptions;

use super::kernel::{self, ConvGeom};
use crate::flex_host::{host_f32, slice, to_flex};

/// Backends that carry [`ConvBackend::conv2d_im2col`]: a convolution without bias whose
/// forward and weight gradient are `im2col` products. Implemented for burn's Flex CPU backend
/// and for `Autodiff<B>` over such a backend; [`super::conv2d`] uses burn's convolution on any
/// other backend, so model code never needs to name this trait.
#[backend_extension(Flex, Autodiff)]
pub trait ConvBackend: Backend {
    /// Forward: `conv2d(x, weight, None, options)` (one group, symmetric padding), as
    /// `im2col` + one product per image.
    fn conv2d_im2col(x: FloatTensor<Self>, weight: FloatTensor<Self>, options: ConvOptions<2>) -> FloatTensor<Self>;

    /// Gradient of the weight `[c_out, c_in, kh, kw]` for input `x` `[b, c_in, h, w]` and
    /// output gradient `grad` `[b, c_out, ho, wo]`.
    fn conv2d_im2col_weight_grad(
        x: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        weight_shape: [usize; 4],
        options: ConvOptions<2>,
    ) -> FloatTensor<Self>;
}

/// The geometry of `x` `[b, c_in, h, w]` convolved with a `weight_shape` kernel.
pub(crate) fn geometry(x_shape: [usize; 4], weight_shape: [usize; 4], options: &ConvOptions<2>) -> ConvGeom {
    let [batch, c_in, h, w] = x_shape;
    let [c_out, _, kh, kw] = weight_shape;
    ConvGeom {
        batch,
        c_in,
        input: [h, w],
        c_out,
        kernel: [kh, kw],
        stride: options.stride,
        padding: options.padding_begin(),
        dilation: options.dilation,
    }
}

impl ConvBackend for Flex {
    fn conv2d_im2col(x: FlexTensor, weight: FlexTensor, options: ConvOptions<2>) -> FlexTensor {
        let dtype = x.dtype();
        let weight_shape = weight.shape().dims::<4>();
        let g = geometry(x.shape().dims::<4>(), weight_shape, &options);
        let [ho, wo] = g.output().expect("the kernel fits the padded input");
        let (x, weight) = (host_f32(x), host_f32(weight));
        let data = kernel::forward(slice(&x), slice(&weight), &g);
        to_flex(data, vec![g.batch, g.c_out, ho, wo], dtype)
    }

    fn conv2d_im2col_weight_grad(
        x: FlexTensor,
        grad: FlexTensor,
        weight_shape: [usize; 4],
        options: ConvOptions<2>,
    ) -> FlexTensor {
        let dtype = x.dtype();
        let g = geometry(x.shape().dims::<4>(), weight_shape, &options);
        let (x, grad) = (host_f32(x), host_f32(grad));
        let data = kernel::weight_grad(slice(&x), slice(&grad), &g);
        to_flex(data, weight_shape.to_vec(), dtype)
    }
}

/// Autodiff node: keeps the input and the weight; the input gradient is burn's
/// (`conv2d_x_backward`), the weight gradient [`ConvBackend::conv2d_im2col_weight_grad`].
#[derive(Debug)]
struct ConvIm2colBackward;

impl<B: ConvBackend> Backward<B, 2> for ConvIm2colBackward {
    /// Checkpointed input and weight, the weight's shape and the options.
    type State = (NodeId, NodeId, [usize; 4], ConvOptions<2>);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, checkpointer: &mut Checkpointer) {
        let [node_x, node_weight] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (x_id, weight_id, weight_shape, options) = ops.state;
        let x = checkpointer.retrieve_node_output::<B::FloatTensorPrimitive>(x_id);
        let weight = checkpointer.retrieve_node_output::<B::FloatTensorPrimitive>(weight_id);
        if let Some(node) = node_weight {
            let grad_weight = B::conv2d_im2col_weight_grad(x.clone(), grad.clone(), weight_shape, options.clone());
            grads.register::<B>(node.id, grad_weight);
        }
        if let Some(node) = node_x {
            grads.register::<B>(node.id, B::conv2d_x_backward(x, weight, grad, options));
        }
    }
}

impl<B: ConvBackend, C: CheckpointStrategy> ConvBackend for Autodiff<B, C> {
    fn conv2d_im2col(x: FloatTensor<Self>, weight: FloatTensor<Self>, options: ConvOptions<2>) -> FloatTensor<Self> {
        let weight_shape = weight.shape().dims::<4>();
        match ConvIm2colBackward.prepare::<C>([x.node(), weight.node()]).compute_bound().stateful() {
            OpsKind::Tracked(mut prep) => {
                let state = (prep.checkpoint(&x), prep.checkpoint(&weight), weight_shape, options.clone());
                let out = B::conv2d_im2col(x.into_primitive(), weight.into_primitive(), options);
                prep.finish(state, out)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(B::conv2d_im2col(x.into_primitive(), weight.into_primitive(), options))
            }
        }
    }

    /// The gradient itself is not differentiated again: its output is untracked.
    fn conv2d_im2col_weight_grad(
        x: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        weight_shape: [usize; 4],
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        FloatTensor::<Self>::new(B::conv2d_im2col_weight_grad(
            x.into_primitive(),
            grad.into_primitive(),
            weight_shape,
            options,
        ))
    }
}
