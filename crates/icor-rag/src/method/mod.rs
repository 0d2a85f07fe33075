//! RAG-GD itself (§5 of the paper), read top-down:
//!
//! | module | paper |
//! |---|---|
//! | [`frozen`], [`loss`] | the frozen layers run once; the answer-token cross-entropy `L` |
//! | [`params`], [`optim`] | the interface's factors as one vector; AdamW / SGD with global clipping |
//! | [`adapter`], [`checkpoint`], [`steps`] | §5.1: the base retrieval adapter `W_0^ret`; resumable training state; the step loop stage 1 shares |
//! | [`support`] | Algorithm 1, phase 1: a support context drawn from a pool |
//! | [`target`], [`factored`] | Eq. 8: `ΔW_GD^(K)(C)`, kept factored; bases |
//! | [`encode`], [`predictor`], [`matching`], [`meta`] | §5.1–5.2: `h̄(C)`, `g_φ`, Eq. 9, meta-training, fidelity |

pub mod adapter;
pub mod checkpoint;
pub mod dev_answers;
pub mod encode;
pub mod factored;
pub mod frozen;
pub mod loss;
pub mod matching;
pub mod meta;
pub mod optim;
pub mod params;
pub mod predictor;
pub mod steps;
pub mod support;
pub mod target;
