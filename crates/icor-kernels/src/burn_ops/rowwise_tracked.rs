//! RMSNorm, `silu(gate) ⊙ up`, the Q/K/V split with RoPE and attention's masked softmax
//! inside burn's autodiff graph on the CPU backend: the forward in one pass
//! ([`crate::rowwise`], [`crate::masked_softmax`]) and a backward in one pass
//! ([`crate::rowwise_grad`]) that carries the gradient to the input only (the norm's weight
//! is frozen), instead of burn's chains of operations, each of which writes a fresh buffer
//! forward and backward. Registered on the autodiff primitive like the frozen product
//! ([`super::tracked`]).

use std::sync::Arc;

use burn::backend::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::tensor::{Tensor, TensorData};
use burn_flex::{Flex, FlexTensor};

use burn::tensor::Shape;

use crate::attention::Visible;
use crate::masked_softmax::{self, ScoreShape};
use crate::rowwise::{self, Pairing, Placement, QkvShape, RopeTables};
use crate::rowwise_grad;

/// A pass of the block's element-wise work inside the autodiff graph, with what its backward
/// needs besides the tensor it keeps ([`Rowwise::keeps`]).
#[derive(Debug, Clone)]
pub(super) enum Rowwise {
    /// RMSNorm with its frozen weight ([`rowwise_grad::rms_norm_backward`]); keeps its input.
    RmsNorm { w: Arc<Vec<f32>>, eps: f32 },
    /// `silu(gate) ⊙ up` of rows `[gate | up]` of `2f` values
    /// ([`rowwise_grad::silu_mul_backward`]); keeps its input.
    SiluMul { f: usize },
    /// The fused Q/K/V product split into heads `[b, h + 2hk, t, hd]`, Q and K rotated
    /// ([`rowwise::qkv_heads_joined`]); linear, so it keeps nothing.
    QkvHeads {
        shape: QkvShape,
        at: OwnedPlacement,
        rope: SharedRope,
    },
    /// Attention's scaled, masked softmax of the scores ([`masked_softmax`]); keeps its output.
    MaskedSoftmax {
        shape: ScoreShape,
        at: OwnedPlacement,
        scale: f32,
    },
}

/// [`Placement`] with its own padding list (a backward outlives the forward's borrows).
#[derive(Debug, Clone)]
pub(super) struct OwnedPlacement {
    pub start: usize,
    pub pads: Option<Vec<usize>>,
}

impl OwnedPlacement {
    fn placement(&self) -> Placement<'_> {
        Placement {
            start: self.start,
            pads: self.pads.as_deref(),
        }
    }

    fn visible(&self) -> Visible<'_> {
        Visible::Causal {
            start: self.start,
            from: self.pads.as_deref(),
        }
    }
}

/// [`RopeTables`] held by shared ownership (a backward outlives the forward's borrows).
#[derive(Debug, Clone)]
pub struct SharedRope {
    pub cos: Arc<Vec<f32>>,
    pub sin: Arc<Vec<f32>>,
    pub pairing: Pairing,
}

impl SharedRope {
    /// The tables as the kernels read them.
    pub fn tables(&self) -> RopeTables<'_> {
        RopeTables {
            cos: &self.cos,
            sin: &self.sin,
            pairing: self.pairing,
        }
    }
}

/// Which tensor a pass's backward reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Keep {
    Input,
    Output,
    Nothing,
}

impl Rowwise {
    fn keeps(&self) -> Keep {
        match self {
            Rowwise::RmsNorm { .. } | Rowwise::SiluMul { .. } => Keep::Input,
            Rowwise::MaskedSoftmax { .. } => Keep::Output,
            Rowwise::QkvHeads { .. } => Keep::Nothing,
        }
    }

    fn forward(&self, x: &[f32]) -> Vec<f32> {
        match self {
            Rowwise::RmsNorm { w, eps } => rowwise::rms_norm(x, w, *eps),
            Rowwise::SiluMul { f } => rowwise::silu_mul(x, *f),
            Rowwise::QkvHeads { shape, at, rope } => {
                rowwise::qkv_heads_joined(x, *shape, at.placement(), rope.tables())
            }
            Rowwise::MaskedSoftmax { shape, at, scale } => {
                masked_softmax::masked_softmax(x, *shape, at.visible(), *scale)
            }
        }
    }

    /// `dx` from `dy` and the kept tensor (empty where the pass keeps nothing).
    fn backward(&self, kept: &[f32], dy: &[f32]) -> Vec<f32> {
        match self {
            Rowwise::RmsNorm { w, eps } => rowwise_grad::rms_norm_backward(kept, w, *eps, dy),
            Rowwise::SiluMul { f } => rowwise_grad::silu_mul_backward(kept, dy, *f),
            Rowwise::QkvHeads { shape, at, rope } => {
                rowwise_grad::qkv_heads_backward(dy, *shape, at.placement(), rope.tables())
            }
            Rowwise::MaskedSoftmax { shape, scale, .. } => {
                masked_softmax::masked_softmax_backward(kept, dy, shape.keys, *scale)
            }
        }
    }
}

/// What the backward of a [`Rowwise`] pass holds: the pass, its input's shape and the tensor
/// it keeps.
#[derive(Debug, Clone)]
struct Saved {
    op: Rowwise,
    input: Shape,
    kept: Option<FlexTensor>,
}

/// `dx` of a [`Rowwise`] pass from `dy`.
#[derive(Debug)]
struct RowwiseBackward;

impl Backward<Flex, 1> for RowwiseBackward {
    type State = Saved;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [parent] = ops.parents;
        let dy = contiguous(grads.consume::<Flex>(&ops.node));
        let Some(parent) = parent else { return };
        let Saved { op, input, kept } = ops.state;
        let kept = kept.as_ref().map_or(&[][..], values);
        let dx = op.backward(kept, values(&dy));
        grads.register::<Flex>(parent.id, FlexTensor::from_data(TensorData::new(dx, input)));
    }
}

/// The values of a contiguous tensor from its offset (`storage` would start at the buffer's
/// first value, which a contiguous view need not); empty for a strided one, which the kernels
/// then refuse by their size checks.
fn values(t: &FlexTensor) -> &[f32] {
    t.as_slice::<f32>().unwrap_or(&[])
}

fn contiguous(t: FlexTensor) -> FlexTensor {
    if t.is_contiguous() {
        t
    } else {
        t.to_contiguous()
    }
}

/// `op` on `x` on `Autodiff<Flex>`, differentiable in `x`, as a tensor of `dims`; `None`
/// where `x` is not such a tensor. The tensor the backward reads is kept only when a gradient
/// flows to `x`.
pub(super) fn rowwise<const DI: usize, const DO: usize>(
    x: &Tensor<DI>,
    op: Rowwise,
    dims: [usize; DO],
) -> Option<Tensor<DO>> {
    let ad = x
        .clone()
        .try_into_primitive::<Autodiff<Flex, NoCheckpointing>>()
        .ok()?;
    let inner = contiguous(ad.primitive().clone());
    let y = op.forward(inner.as_slice::<f32>()?);
    let y = FlexTensor::from_data(TensorData::new(y, dims));
    let out = match RowwiseBackward
        .prepare::<NoCheckpointing>([ad.node()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => {
            let kept = match op.keeps() {
                Keep::Input => Some(inner.clone()),
                Keep::Output => Some(y.clone()),
                Keep::Nothing => None,
            };
            let input = inner.layout().shape().clone();
            prep.finish(Saved { op, input, kept }, y)
        }
        OpsKind::UnTracked(prep) => prep.finish(y),
    };
    Some(Tensor::from_primitive::<Autodiff<Flex, NoCheckpointing>>(
        out,
    ))
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, Tensor, TensorData};

    fn values(n: usize, seed: u32) -> Vec<f32> {
        // a fixed, sign-varying sequence (no RNG needed for a gradient check)
        (0..n)
            .map(|i| (((i as u32).wrapping_mul(2_654_435_761) ^ seed) % 2001) as f32 / 1000.0 - 1.0)
            .collect()
    }

    /// RMSNorm and `silu(gate) ⊙ up` in the graph give the value and the gradient in their
    /// input that burn's chains of operations give, reached through an op before them.
    #[test]
    fn rowwise_passes_match_burns_chains() {
        use std::sync::Arc;

        use burn::tensor::activation::silu;

        let device = Device::flex().autodiff();
        let (b, t, d, f) = (2, 5, 48, 40);
        let w = values(d, 7);
        let w_t = Tensor::<1>::from_data(TensorData::new(w.clone(), [d]), &device);
        let w = Arc::new(w);
        let r = Tensor::<3>::from_data(TensorData::new(values(b * t * f, 8), [b, t, f]), &device);
        let run = |fused: bool| {
            let x0 =
                Tensor::<3>::from_data(TensorData::new(values(b * t * d, 9), [b, t, d]), &device)
                    .require_grad();
            let x = x0.clone().mul_scalar(1.5);
            let n = if fused {
                super::super::rms_norm(&x, &w, 1e-5).expect("autodiff flex takes the pass")
            } else {
                let inv = x
                    .clone()
                    .square()
                    .mean_dim(2)
                    .add_scalar(1e-5)
                    .sqrt()
                    .recip();
                x.mul(inv).mul(w_t.clone().reshape([1, 1, d]))
            };
            // [gate | up] from the normed rows: 2f columns
            let y = Tensor::cat(
                vec![
                    n.clone().slice([0..b, 0..t, 0..f]),
                    n.slice([0..b, 0..t, 8..8 + f]),
                ],
                2,
            );
            let h = if fused {
                super::super::silu_mul(&y).expect("autodiff flex takes the pass")
            } else {
                silu(y.clone().slice([0..b, 0..t, 0..f])).mul(y.slice([0..b, 0..t, f..2 * f]))
            };
            let loss = h.mul(r.clone()).sum();
            let grads = loss.backward();
            let g = x0.grad(&grads).expect("x gets a gradient");
            (
                loss.try_into_vec_as::<f32>().unwrap()[0],
                g.try_into_vec_as::<f32>().unwrap(),
            )
        };
        let (l_f, g_f) = run(true);
        let (l_b, g_b) = run(false);
        assert!((l_f - l_b).abs() < 1e-4 * (1.0 + l_b.abs()), "{l_f} {l_b}");
        for (i, (p, q)) in g_f.iter().zip(&g_b).enumerate() {
            assert!(
                (p - q).abs() < 1e-4 * (1.0 + q.abs()),
                "entry {i}: {p} vs {q}"
            );
        }
    }

    /// The masked softmax in the graph gives the value and the gradient burn's scale, additive
    /// mask and softmax give, causal with left padding (a padding token's row aside: burn
    /// spreads it uniformly over masked columns, the pass gives zeros; neither reaches a loss
    /// that reads real tokens, so the loss weights skip them).
    #[test]
    fn masked_softmax_matches_burns_chain() {
        use burn::tensor::activation::softmax;

        use crate::rowwise::Placement;

        let device = Device::flex().autodiff();
        let (b, hk, g, t, tk) = (2, 2, 2, 3, 5);
        // row 1's first new token (position 2) lies in its padding (3 columns): no column
        let (start, pads) = (2usize, [0usize, 3]);
        let mut padding_rows = 0;
        let mut mask = vec![0.0f32; b * g * t * tk];
        let mut weight = vec![0.0f32; b * hk * g * t * tk];
        for r in 0..b {
            for a in 0..g {
                for i in 0..t {
                    for j in 0..tk {
                        if j < pads[r] || j > start + i {
                            mask[((r * g + a) * t + i) * tk + j] = -1e30;
                        }
                    }
                }
            }
            for n in 0..hk * g * t {
                let i = n % t;
                let real = pads[r] <= start + i;
                padding_rows += usize::from(!real);
                for j in 0..tk {
                    weight[(r * hk * g * t + n) * tk + j] = if real {
                        values(1, (n * tk + j) as u32)[0]
                    } else {
                        0.0
                    };
                }
            }
        }
        assert_eq!(padding_rows, hk * g, "one padding token per head of row 1");
        let mask = Tensor::<4>::from_data(TensorData::new(mask, [b, 1, g * t, tk]), &device);
        let weight = Tensor::<4>::from_data(TensorData::new(weight, [b, hk, g * t, tk]), &device);
        let run = |fused: bool| {
            let s0 = Tensor::<4>::from_data(
                TensorData::new(values(b * hk * g * t * tk, 11), [b, hk, g * t, tk]),
                &device,
            )
            .require_grad();
            let s = s0.clone().mul_scalar(2.0);
            let at = Placement {
                start,
                pads: Some(&pads),
            };
            let p = if fused {
                super::super::masked_softmax_tracked(&s, g, at, 0.4).expect("autodiff flex")
            } else {
                softmax(s.mul_scalar(0.4).add(mask.clone()), 3)
            };
            let loss = p.mul(weight.clone()).sum();
            let grads = loss.backward();
            let gr = s0.grad(&grads).expect("s gets a gradient");
            (
                loss.try_into_vec_as::<f32>().unwrap()[0],
                gr.try_into_vec_as::<f32>().unwrap(),
            )
        };
        let ((l_f, g_f), (l_b, g_b)) = (run(true), run(false));
        assert!((l_f - l_b).abs() < 1e-4 * (1.0 + l_b.abs()), "{l_f} {l_b}");
        for (i, (p, q)) in g_f.iter().zip(&g_b).enumerate() {
            assert!((p - q).abs() < 1e-5, "entry {i}: {p} vs {q}");
        }
    }

    /// The Q/K/V split in the graph returns the kernel's heads and carries the kernel's
    /// backward to an input reached through an op before it.
    #[test]
    fn qkv_heads_in_the_graph_carry_the_kernels_gradient() {
        use std::sync::Arc;

        use crate::rowwise::{Pairing, Placement, QkvShape, qkv_heads_joined};
        use crate::rowwise_grad::qkv_heads_backward;

        let device = Device::flex().autodiff();
        let shape = QkvShape {
            batch: 2,
            tokens: 3,
            heads: 4,
            kv_heads: 2,
            head_dim: 8,
        };
        let w = (shape.heads + 2 * shape.kv_heads) * shape.head_dim;
        let n = shape.batch * shape.tokens * w;
        let rope = super::SharedRope {
            cos: Arc::new(values(6 * 4, 12)),
            sin: Arc::new(values(6 * 4, 13)),
            pairing: Pairing::RotateHalf,
        };
        let at = Placement {
            start: 1,
            pads: None,
        };
        let y0 = values(n, 14);
        let r = values(n, 15);
        let x0 =
            Tensor::<3>::from_data(TensorData::new(y0.clone(), [2, 3, w]), &device).require_grad();
        let heads = super::super::qkv_heads_tracked(&x0.clone().mul_scalar(1.5), shape, at, &rope)
            .expect("autodiff flex");
        assert_eq!(heads.dims(), [2, 8, 3, 8]);
        let scaled: Vec<f32> = y0.iter().map(|v| v * 1.5).collect();
        let got = heads.clone().try_into_vec_as::<f32>().unwrap();
        assert_eq!(got, qkv_heads_joined(&scaled, shape, at, rope.tables()));
        let rt = Tensor::<4>::from_data(TensorData::new(r.clone(), [2, 8, 3, 8]), &device);
        let grads = heads.mul(rt).sum().backward();
        let g = x0.grad(&grads).unwrap().try_into_vec_as::<f32>().unwrap();
        let want = qkv_heads_backward(&r, shape, at, rope.tables());
        for (i, (a, b)) in g.iter().zip(&want).enumerate() {
            assert!(
                (a - 1.5 * b).abs() < 1e-5 * (1.0 + b.abs()),
                "{i}: {a} vs {}",
                1.5 * b
            );
        }
    }
}
