//! The models of the study, written once against burn's runtime-dispatched tensors.
//!
//! Every model maps an [`Input`] (tokens `[B, N+1, D]`, optional extra key/value tokens and the
//! authors' key/value mixing) to one prediction per task, read as the negated y-slot of the
//! query token (von Oswald et al.'s convention, as in the authors' code).

pub mod gdpp;
pub mod init;
pub mod lsa;
pub mod mlp;
pub mod softmax;

use burn::module::{Module, Param, ParamId};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::task::{Batch, KvMix};
use crate::tensor::{tensor1, tensor3};

pub use gdpp::GdPlusPlus;
pub use lsa::Lsa;
pub use mlp::Mlp;
pub use softmax::SoftmaxAttention;

/// One batch as tensors.
#[derive(Debug, Clone)]
pub struct Input {
    /// `[B, N+1, D]`, the query token last.
    pub tokens: Tensor<3>,
    /// `[B, m, D]` extra key/value tokens (documents), if any.
    pub extra_kv: Option<Tensor<3>>,
    /// The authors' mixing of context keys/values, if any.
    pub mix: Option<Mix>,
    /// `[B, d_x]` initial weights of the GD reference.
    pub w0: Tensor<2>,
    /// `[B]` targets.
    pub targets: Tensor<1>,
}

impl Input {
    /// Builds the tensors of `batch`. With `track_query`, the query tokens are a separate
    /// leaf that requires a gradient, returned second, for input sensitivities by autodiff.
    pub fn new(
        batch: &Batch,
        mix: Option<&KvMix>,
        device: &Device,
        track_query: bool,
    ) -> (Self, Option<Tensor<3>>) {
        let (b, t, d) = (batch.b, batch.t, batch.d);
        let all = tensor3(batch.tokens.clone(), [b, t, d], device);
        let (tokens, leaf) = if track_query {
            let ctx = all.clone().slice([0..b, 0..t - 1, 0..d]).detach();
            let q = all.slice([0..b, t - 1..t, 0..d]).detach().require_grad();
            (Tensor::cat(vec![ctx, q.clone()], 1), Some(q))
        } else {
            (all, None)
        };
        let extra_kv = batch
            .extra_kv
            .as_ref()
            .map(|(v, m)| tensor3(v.clone(), [b, *m, d], device));
        let mix = mix.map(|m| Mix::new(m, d, device));
        let w0 = crate::tensor::tensor2(batch.w0.clone(), [b, d - 1], device);
        let targets = tensor1(batch.targets.clone(), device);
        (
            Self {
                tokens,
                extra_kv,
                mix,
                w0,
                targets,
            },
            leaf,
        )
    }

    /// Context size N.
    pub fn n(&self) -> usize {
        self.tokens.dims()[1] - 1
    }
}

/// The authors' key/value mixing as one affine map per column, `kv ← kv ⊙ scale + offset`
/// (`[1, 1, D]` each): columns `start..start+m` become `keep·kv + (1 − keep)·doc`, the others
/// stay (scale 1, offset 0). Two broadcast operations per layer instead of three slices, two
/// operations and a concatenation; the same numbers (`x·1 + 0 = x`, and the mixed columns are
/// computed as before).
#[derive(Debug, Clone)]
pub struct Mix {
    scale: Tensor<3>,
    offset: Tensor<3>,
}

impl Mix {
    fn new(m: &KvMix, d: usize, device: &Device) -> Self {
        let mut scale = vec![1.0f32; d];
        let mut offset = vec![0.0f32; d];
        for (j, &doc) in m.doc.iter().enumerate() {
            scale[m.start + j] = m.keep;
            offset[m.start + j] = doc * (1.0 - m.keep);
        }
        Self {
            scale: tensor3(scale, [1, 1, d], device),
            offset: tensor3(offset, [1, 1, d], device),
        }
    }

    fn apply(&self, kv: Tensor<3>) -> Tensor<3> {
        kv * self.scale.clone() + self.offset.clone()
    }
}

/// Which architecture, with its sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Arch {
    /// Single-head linear self-attention, `depth` layers with shared weights.
    Lsa { depth: usize },
    /// Learned step size and diagonal preconditioner on top of the GD construction.
    GdPlusPlus { depth: usize },
    /// Softmax attention with `heads` heads (one layer).
    Softmax { heads: usize },
    /// An MLP of hidden width `width` after the input embedding, then one LSA layer (§4.3).
    Mlp { width: usize },
}

impl Arch {
    /// Label for reports.
    pub fn label(&self) -> String {
        match self {
            Arch::Lsa { depth } => format!("LSA depth {depth}"),
            Arch::GdPlusPlus { depth } => format!("GD++ depth {depth}"),
            Arch::Softmax { heads } => format!("softmax attention, {heads} heads"),
            Arch::Mlp { width } => format!("MLP({width}) + LSA"),
        }
    }
}

/// A model of any architecture (exactly one field is set).
#[derive(Module, Debug)]
pub struct Model {
    lsa: Option<Lsa>,
    gdpp: Option<GdPlusPlus>,
    softmax: Option<SoftmaxAttention>,
    mlp: Option<Mlp>,
}

impl Model {
    /// A freshly initialised model for tokens of width `d`, seeded.
    pub fn init(arch: Arch, d: usize, seed: u64, device: &Device) -> Self {
        let mut m = Model {
            lsa: None,
            gdpp: None,
            softmax: None,
            mlp: None,
        };
        match arch {
            Arch::Lsa { depth } => m.lsa = Some(Lsa::init(d, depth, seed, device)),
            Arch::GdPlusPlus { depth } => m.gdpp = Some(GdPlusPlus::init(d, depth, device)),
            Arch::Softmax { heads } => {
                m.softmax = Some(SoftmaxAttention::init(d, heads, seed, device))
            }
            Arch::Mlp { width } => m.mlp = Some(Mlp::init(d, width, seed, device)),
        }
        m
    }

    /// Sets how GD-based models (GD++) read out, to match the task's reference.
    pub fn set_readout(&mut self, readout: crate::task::Readout) {
        if let Some(g) = &mut self.gdpp {
            g.with_base = usize::from(readout == crate::task::Readout::WithBase);
        }
    }

    /// Wraps an LSA module (e.g. the constructed GD weights).
    pub fn from_lsa(lsa: Lsa) -> Self {
        Model {
            lsa: Some(lsa),
            gdpp: None,
            softmax: None,
            mlp: None,
        }
    }

    /// The LSA part, if this is an LSA model.
    pub fn lsa(&self) -> Option<&Lsa> {
        self.lsa.as_ref()
    }

    /// One prediction per task, `[B]`.
    pub fn predict(&self, input: &Input) -> Tensor<1> {
        if let Some(m) = &self.lsa {
            m.predict(input)
        } else if let Some(m) = &self.gdpp {
            m.predict(input)
        } else if let Some(m) = &self.softmax {
            m.predict(input)
        } else if let Some(m) = &self.mlp {
            m.predict(input)
        } else {
            unreachable!("Model::init sets exactly one architecture")
        }
    }

    /// Ids of every trainable parameter (all rank 2), for global-norm clipping.
    pub fn param_ids(&self) -> Vec<ParamId> {
        let mut v = Vec::new();
        if let Some(m) = &self.lsa {
            v.extend(m.params().iter().map(|p| p.id));
        }
        if let Some(m) = &self.gdpp {
            v.extend(m.params().iter().map(|p| p.id));
        }
        if let Some(m) = &self.softmax {
            v.extend(m.params().iter().map(|p| p.id));
        }
        if let Some(m) = &self.mlp {
            v.extend(m.params().iter().map(|p| p.id));
        }
        v
    }
}

/// Row-token linear map: `[B, T, D] × [D, E] → [B, T, E]`.
pub(crate) fn lin(x: Tensor<3>, w: Tensor<2>) -> Tensor<3> {
    let [b, t, d] = x.dims();
    let e = w.dims()[1];
    x.reshape([b * t, d]).matmul(w).reshape([b, t, e])
}

/// Keys/values input of a layer: the context tokens of `h` (query excluded, App. A), with the
/// authors' mixing applied, followed by any extra document tokens.
pub(crate) fn kv_input(h: &Tensor<3>, input: &Input) -> Tensor<3> {
    let [b, t, d] = h.dims();
    let n = t - 1;
    let mut kv = h.clone().slice([0..b, 0..n, 0..d]);
    if let Some(mix) = &input.mix {
        kv = mix.apply(kv);
    }
    match &input.extra_kv {
        Some(extra) => Tensor::cat(vec![kv, extra.clone()], 1),
        None => kv,
    }
}

/// The prediction: minus the query token's y-slot, `[B]`.
pub(crate) fn readout(h: Tensor<3>) -> Tensor<1> {
    let [b, t, d] = h.dims();
    h.slice([0..b, t - 1..t, d - 1..d]).reshape([b]).neg()
}

/// Parameters of a sub-model, for clipping.
pub(crate) trait Params {
    fn params(&self) -> Vec<&Param<Tensor<2>>>;
}
