//! AdamW with a fused update: one pass over each parameter tensor instead of burn's ~15
//! element-wise tensor operations (each a full read and write of the parameter's size).
//!
//! [`FusedAdamW`] computes burn's [`AdamW`] update (same moments, bias correction, decoupled
//! weight decay, the same f32 operations in the same order) and keeps its state in burn's
//! [`AdamWState`], so checkpoints written with either optimizer load into the other. f32
//! tensors are updated in one parallel loop over their host buffers (no copy on the CPU
//! backend when a tensor is not shared); other float types fall back to burn's [`AdamW`].

use burn::optim::{AdamW, AdamWConfig, AdamWState, AdaptiveMomentumState, ModuleOptimizer, Optimizer};
use burn::prelude::*;
use burn::tensor::DType;
use rayon::prelude::*;

/// Elements per parallel task of the fused loop.
const CHUNK: usize = 1 << 16;

/// AdamW whose update is one fused loop per parameter; see the [module docs](self).
#[derive(Clone)]
pub struct FusedAdamW {
    beta_1: f32,
    beta_2: f32,
    epsilon: f32,
    weight_decay: f32,
    /// burn's optimizer with the same settings, for non-f32 tensors.
    fallback: AdamW,
}

impl FusedAdamW {
    /// AdamW with moment decays `beta_1`, `beta_2`, `epsilon` and decoupled `weight_decay`.
    pub fn new(beta_1: f32, beta_2: f32, epsilon: f32, weight_decay: f32) -> Self {
        let fallback = AdamWConfig::new()
            .with_beta_1(beta_1)
            .with_beta_2(beta_2)
            .with_epsilon(epsilon)
            .with_weight_decay(weight_decay)
            .build();
        Self { beta_1, beta_2, epsilon, weight_decay, fallback }
    }

    /// A [`ModuleOptimizer`] over this optimizer (what `AdamWConfig::init` is to [`AdamW`]).
    pub fn init(self) -> ModuleOptimizer {
        ModuleOptimizer::from(self)
    }
}

/// The f32 host buffer of `tensor` (no copy when it is contiguous and not shared).
fn host(tensor: Tensor<1>) -> Option<TensorData> {
    let data = tensor.into_data();
    (data.dtype() == DType::F32).then_some(data)
}

impl Optimizer for FusedAdamW {
    type State<const D: usize> = AdamWState<D>;

    fn step<const D: usize>(
        &self,
        lr: f64,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        let f32_moments = state
            .as_ref()
            .is_none_or(|s| [&s.momentum.moment_1, &s.momentum.moment_2].iter().all(|t| t.dtype() == DType::F32));
        if tensor.dtype() != DType::F32 || grad.dtype() != DType::F32 || !f32_moments {
            return self.fallback.step(lr, tensor, grad, state);
        }
        let shape = tensor.shape();
        let device = tensor.device();
        let n = shape.num_elements();
        let (time, moments) = match state {
            Some(s) => (s.momentum.time + 1, Some((s.momentum.moment_1, s.momentum.moment_2))),
            None => (1, None),
        };
        let (Some(mut p), Some(g)) = (host(tensor.reshape([n])), host(grad.reshape([n]))) else {
            unreachable!("f32 tensors checked above")
        };
        let zeros = || TensorData::zeros::<f32, _>([n]);
        let (mut m, mut v) = match moments {
            Some((m, v)) => (host(m.reshape([n])).unwrap_or_else(zeros), host(v.reshape([n])).unwrap_or_else(zeros)),
            None => (zeros(), zeros()),
        };
        {
            let (Ok(ps), Ok(gs), Ok(ms), Ok(vs)) =
                (p.as_mut_slice::<f32>(), g.as_slice::<f32>(), m.as_mut_slice::<f32>(), v.as_mut_slice::<f32>())
            else {
                unreachable!("f32 buffers")
            };
            self.update(lr, time, ps, gs, ms, vs);
        }
        let back = |d: TensorData| Tensor::<1>::from_data(d, &device).reshape(shape.clone());
        let state = AdamWState::new(AdaptiveMomentumState::new(time, back(m), back(v)));
        (back(p), Some(state))
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        <AdamW as Optimizer>::to_device(state, device)
    }
}

impl FusedAdamW {
    /// One AdamW update of `p` in place, with its moments `m` and `v` at step `time` (1-based).
    /// Same operations, in the same order, as burn's `AdamW::step`.
    fn update(&self, lr: f64, time: usize, p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32]) {
        let (b1, b2, eps) = (self.beta_1, self.beta_2, self.epsilon);
        let (f1, f2) = (1.0 - b1, 1.0 - b2);
        let t = time as i32;
        let (c1, c2) = (1f32 - b1.powi(t), 1f32 - b2.powi(t));
        let decay_rate = lr * f64::from(self.weight_decay);
        // burn multiplies by `1 - decay_rate` (f64 scalar applied to f32 data) only when
        // decay is on, and subtracts `delta * lr`.
        let keep = (1.0 - decay_rate) as f32;
        let decay = decay_rate != 0.0;
        let lr = lr as f32;
        let first = time == 1;
        p.par_chunks_mut(CHUNK)
            .zip(g.par_chunks(CHUNK))
            .zip(m.par_chunks_mut(CHUNK))
            .zip(v.par_chunks_mut(CHUNK))
            .for_each(|(((p, g), m), v)| {
                for i in 0..p.len() {
                    let gi = g[i];
                    let (mi, vi) =
                        if first { (gi * f1, gi * gi * f2) } else { (m[i] * b1 + gi * f1, v[i] * b2 + gi * gi * f2) };
                    m[i] = mi;
                    v[i] = vi;
                    let delta = (mi / c1) / ((vi / c2).sqrt() + eps);
                    let pi = if decay { p[i] * keep } else { p[i] };
                    p[i] = pi - delta * lr;
                }
            });
    }
}

#[cfg(test)]
mod tests {
    use burn::module::Param;
    use burn::nn::{Linear, LinearConfig};
    use burn::optim::{AdamWConfig, GradientsParams};

    use super::*;

    fn max_rel_diff(a: Tensor<2>, b: Tensor<2>) -> f32 {
        let (a, b) = (a.into_data().try_to_vec::<f32>().unwrap(), b.into_data().try_to_vec::<f32>().unwrap());
        a.iter().zip(&b).map(|(x, y)| (x - y).abs() / x.abs().max(y.abs()).max(1e-3)).fold(0.0, f32::max)
    }

    fn layer(device: &Device) -> Linear {
        let mut linear: Linear = LinearConfig::new(5, 300).init(device);
        // A fixed start (init draws from the device RNG; compared runs must start alike).
        let w: Vec<f32> = (0..1500).map(|i| ((i * 37 % 101) as f32 - 50.0) / 40.0).collect();
        linear.weight = Param::from_tensor(Tensor::from_data(TensorData::new(w, [5, 300]), device));
        let b: Vec<f32> = (0..300).map(|i| ((i * 11 % 23) as f32 - 11.0) / 20.0).collect();
        linear.bias = Some(Param::from_tensor(Tensor::from_data(TensorData::new(b, [300]), device)));
        linear
    }

    /// Steps `from..to` of `optim` on `linear`, with a loss whose gradient changes each step.
    fn run(optim: &mut ModuleOptimizer, mut linear: Linear, from: usize, to: usize, lr: f64) -> Linear {
        let device = linear.weight.device();
        for s in from..to {
            let x: Vec<f32> = (0..20).map(|i| ((i * 13 + s * 7) % 11) as f32 / 5.0 - 1.0).collect();
            let x = Tensor::<2>::from_data(TensorData::new(x, [4, 5]), &device);
            let loss = linear.forward(x).powi_scalar(3).sum();
            let grads = GradientsParams::from_grads(loss.backward(), &linear);
            linear = optim.step(lr, linear, grads);
        }
        linear
    }

    fn burns(wd: f32, eps: f32) -> ModuleOptimizer {
        AdamWConfig::new().with_beta_2(0.99).with_epsilon(eps).with_weight_decay(wd).init()
    }

    #[test]
    fn fused_adamw_matches_burns_adamw() {
        let device = Device::default().autodiff();
        for (wd, eps) in [(1e-4, 1e-8), (0.0, 1e-5), (0.3, 1e-6)] {
            let ours = run(&mut FusedAdamW::new(0.9, 0.99, eps, wd).init(), layer(&device), 0, 12, 0.05);
            let reference = run(&mut burns(wd, eps), layer(&device), 0, 12, 0.05);
            // The same f32 operations in the same order: equal up to the rounding of fused
            // multiply-adds (measured below 1e-6).
            let d = max_rel_diff(ours.weight.val(), reference.weight.val());
            assert!(d < 1e-5, "wd {wd}: weights differ by {d}");
            let b = (ours.bias.clone().unwrap().val(), reference.bias.unwrap().val());
            let d = max_rel_diff(b.0.unsqueeze(), b.1.unsqueeze());
            assert!(d < 1e-5, "wd {wd}: biases differ by {d}");
            // And the weights moved: not a comparison of two untouched layers.
            assert!(max_rel_diff(ours.weight.val(), layer(&device).weight.val()) > 0.01);
        }
    }

    #[test]
    fn fused_adamw_state_resumes_in_burns_adamw() {
        // 6 fused steps, the optimizer state saved and loaded into burn's AdamW, 6 more steps
        // there == 12 steps of burn's AdamW.
        let device = Device::default().autodiff();
        let mut fused = FusedAdamW::new(0.9, 0.99, 1e-8, 1e-2).init();
        let linear = run(&mut fused, layer(&device), 0, 6, 0.01);
        let mut resumed = burns(1e-2, 1e-8).from_bytes(fused.into_bytes().unwrap()).unwrap();
        let linear = run(&mut resumed, linear, 6, 12, 0.01);
        let reference = run(&mut burns(1e-2, 1e-8), layer(&device), 0, 12, 0.01);
        let d = max_rel_diff(linear.weight.val(), reference.weight.val());
        assert!(d < 1e-5, "resumed weights differ by {d}");
    }
}
