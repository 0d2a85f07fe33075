//! The frozen product `Y = X Wᵀ + b` inside burn's autodiff graph on the CPU backend: the
//! forward through the packed weight, and a backward that carries the gradient to `X` only
//! (`dX = dY W`, through the transposed pack), since `W` and `b` are frozen.
//!
//! burn's own `matmul` under autodiff runs both products through gemm, which packs the frozen
//! weight again on every call, forward and backward; here both packs are made once. This is a
//! hand-written backward for `Autodiff<Flex>` as burn's backend-extension guide describes,
//! registered directly on the autodiff primitive (the dispatch macro adds nothing for one
//! backend).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use burn::backend::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::tensor::{Tensor, TensorData};
use burn_flex::{Flex, FlexTensor};

use crate::packed::PackedWeight;
use crate::rows::rows_matmul;

/// Whether tracked products take the packed path (the default) or answer `None`, so that
/// callers take burn's differentiable `matmul`: a switch for measuring one against the other
/// in one process (`lora_step --tracked burn`).
static PACKED_TRACKED: AtomicBool = AtomicBool::new(true);

/// Turns the packed products under autodiff on or off for the whole process.
pub fn set_packed_tracked(on: bool) {
    PACKED_TRACKED.store(on, Ordering::Relaxed);
}

/// `Wᵀ` packed on first use by a backward pass (inference never builds it), shared by the
/// clones of one [`super::PackedLinear`].
#[derive(Debug, Clone, Default)]
pub struct TransposedPack(Arc<OnceLock<Arc<PackedWeight>>>);

impl TransposedPack {
    fn of(&self, w: &PackedWeight) -> Arc<PackedWeight> {
        self.0.get_or_init(|| Arc::new(w.transposed())).clone()
    }
}

/// `dX = dY W` for the frozen product; its state is `Wᵀ`'s pack.
#[derive(Debug)]
struct FrozenProductBackward;

impl Backward<Flex, 1> for FrozenProductBackward {
    type State = Arc<PackedWeight>;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [parent] = ops.parents;
        let dy = grads.consume::<Flex>(&ops.node);
        let Some(parent) = parent else { return };
        let w = ops.state;
        let dy = if dy.is_contiguous() {
            dy
        } else {
            dy.to_contiguous()
        };
        let m = dy.layout().shape().num_elements() / w.in_dim();
        // `as_slice` reads from the view's offset, where `storage` would read the buffer's start
        let dy = dy
            .as_slice::<f32>()
            .expect("a contiguous f32 gradient has its values as a slice");
        let dx = rows_matmul(dy, m, &w, None);
        let dx = FlexTensor::from_data(TensorData::new(dx, [m, w.out_dim()]));
        grads.register::<Flex>(parent.id, dx);
    }
}

/// `x Wᵀ + b` for `x: [m, in]` on `Autodiff<Flex>`, differentiable in `x`; `None` where `x`
/// is not such a tensor (or the switch is off). `forward` computes the product on the inner
/// tensor.
pub(super) fn product(
    x: &Tensor<2>,
    w: &PackedWeight,
    back: &TransposedPack,
    forward: impl FnOnce(&[f32], usize) -> Vec<f32>,
) -> Option<Tensor<2>> {
    if !PACKED_TRACKED.load(Ordering::Relaxed) {
        return None;
    }
    let [m, _] = x.dims();
    let ad = x
        .clone()
        .try_into_primitive::<Autodiff<Flex, NoCheckpointing>>()
        .ok()?;
    let y = |inner: &FlexTensor| -> Option<FlexTensor> {
        let inner = if inner.is_contiguous() {
            inner.clone()
        } else {
            inner.to_contiguous()
        };
        let y = forward(inner.as_slice::<f32>()?, m);
        Some(FlexTensor::from_data(TensorData::new(y, [m, w.out_dim()])))
    };
    let y = y(ad.primitive())?;
    let out = match FrozenProductBackward
        .prepare::<NoCheckpointing>([ad.node()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish(back.of(w), y),
        OpsKind::UnTracked(prep) => prep.finish(y),
    };
    Some(Tensor::from_primitive::<Autodiff<Flex, NoCheckpointing>>(
        out,
    ))
}

/// [`rows_matmul`] as the forward of [`product`].
pub(super) fn rows_forward<'a>(
    w: &'a PackedWeight,
    bias: Option<&'a [f32]>,
) -> impl FnOnce(&[f32], usize) -> Vec<f32> + 'a {
    move |x, m| rows_matmul(x, m, w, bias)
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, Tensor, TensorData};

    use super::super::PackedLinear;
    use crate::packed::Precision;

    fn values(n: usize, seed: u32) -> Vec<f32> {
        // a fixed, sign-varying sequence (no RNG needed for a gradient check)
        (0..n)
            .map(|i| (((i as u32).wrapping_mul(2_654_435_761) ^ seed) % 2001) as f32 / 1000.0 - 1.0)
            .collect()
    }

    /// Through a packed product and through burn's `matmul`, the same loss
    /// `Σ r ⊙ tanh(x Wᵀ + b)` gives the same value and the same gradient in `x`, with `x`
    /// reached through an op before the product (so the gradient flows on), in shapes off the
    /// panels' multiples; `W` and `b` stay without gradient.
    #[test]
    fn gradient_matches_burns_matmul() {
        let device = Device::flex().autodiff();
        for (m, k, n) in [(5, 37, 131), (1, 16, 3), (13, 64, 80)] {
            let w_t = Tensor::<2>::from_data(TensorData::new(values(k * n, 1), [k, n]), &device);
            let b = Tensor::<1>::from_data(TensorData::new(values(n, 2), [n]), &device);
            let r = Tensor::<2>::from_data(TensorData::new(values(m * n, 3), [m, n]), &device);
            let packed = PackedLinear::pack(&w_t, Some(&b), Precision::F32);
            let run = |packed_path: bool| {
                let x0 = Tensor::<2>::from_data(TensorData::new(values(m * k, 4), [m, k]), &device)
                    .require_grad();
                let x = x0.clone().mul_scalar(0.5);
                let y = if packed_path {
                    packed
                        .forward(&x)
                        .expect("the packed path takes autodiff flex tensors")
                } else {
                    x.matmul(w_t.clone()).add(b.clone().reshape([1, n]))
                };
                let loss = y.tanh().mul(r.clone()).sum();
                let grads = loss.backward();
                let g = x0.grad(&grads).expect("x gets a gradient");
                (
                    loss.try_into_vec_as::<f32>().unwrap(),
                    g.try_into_vec_as::<f32>().unwrap(),
                    w_t.grad(&grads).is_none(),
                )
            };
            let (l_p, g_p, frozen_p) = run(true);
            let (l_b, g_b, frozen_b) = run(false);
            assert!(frozen_p && frozen_b, "W gets no gradient");
            assert!(
                (l_p[0] - l_b[0]).abs() < 1e-4 * (1.0 + l_b[0].abs()),
                "{l_p:?} {l_b:?}"
            );
            for (i, (p, q)) in g_p.iter().zip(&g_b).enumerate() {
                assert!(
                    (p - q).abs() < 1e-5 * k as f32,
                    "m {m} k {k} n {n} entry {i}: {p} vs {q}"
                );
            }
        }
    }

    /// An input on the autodiff device that requires no gradient gives the product's value and
    /// no gradient to anyone; an input on plain flex keeps the inference path.
    #[test]
    fn untracked_inputs_give_the_product() {
        let ad = Device::flex().autodiff();
        let (m, k, n) = (3, 20, 17);
        let w_t = Tensor::<2>::from_data(TensorData::new(values(k * n, 5), [k, n]), &ad);
        let packed = PackedLinear::pack(&w_t, None, Precision::F32);
        let x = Tensor::<2>::from_data(TensorData::new(values(m * k, 6), [m, k]), &ad);
        let want = x
            .clone()
            .matmul(w_t.clone())
            .try_into_vec_as::<f32>()
            .unwrap();
        let got = packed
            .forward(&x)
            .unwrap()
            .try_into_vec_as::<f32>()
            .unwrap();
        let plain =
            Tensor::<2>::from_data(TensorData::new(values(m * k, 6), [m, k]), &Device::flex());
        let inference = packed
            .forward(&plain)
            .unwrap()
            .try_into_vec_as::<f32>()
            .unwrap();
        for ((a, b), c) in got.iter().zip(&want).zip(&inference) {
            assert!((a - b).abs() < 1e-4 && a == c, "{a} {b} {c}");
        }
    }
}
