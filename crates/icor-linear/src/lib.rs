//! # icor-linear: the exact linear theory of in-context RAG optimisation
//!
//! A linear self-attention (LSA) layer performs exactly one gradient-descent step on the
//! unified linearized RAG objective y = W₁x₁ + W₂x₂ (Lemma 1 of arXiv 2605.26356), for the
//! projection-based and the dot-product retrieval interface; K stacked layers perform K steps.
//! The modules follow §3 of the paper, one object per file:
//!
//! | module | paper |
//! |---|---|
//! | [`tokens`] | tokens e = (x₁, x₂, y), App. A |
//! | [`predictor`] | y = W₁x₁ + W₂x₂, §3.2 |
//! | [`interface`] | projection (W₂ = W₁W_d) and dot-product (W₂ = W_z D Mᵀ) interfaces, §3.2 |
//! | [`appendix_b`] | the dot-product derivation, Eq. 11–19, in nalgebra |
//! | [`loss`], [`gd`] | Eq. 3, Eq. 4 |
//! | [`lsa`] | the LSA layer, Eq. 2 |
//! | [`construction`] | W_K, W_Q, W_V, P of Lemma 1, App. Eq. 9–10 |
//! | [`multistep`] | K layers = K steps, Eq. 7 |
//! | [`precondition`] | one preconditioned step (GD++) |
//! | [`step_size`] | stability bound, exact line search, optimal one-step η over tasks |
//! | [`identities`], [`sample`] | the checks behind `icor verify` and the property tests |
//!
//! Everything is f64 and deterministic; nothing panics on caller-supplied shapes.

pub mod appendix_b;
pub mod construction;
pub mod error;
pub mod gd;
pub mod identities;
pub mod interface;
pub mod loss;
pub mod lsa;
pub mod multistep;
pub mod precondition;
pub mod predictor;
pub mod sample;
pub mod step_size;
pub mod tokens;

pub use error::{Error, Result};
pub use predictor::LinearRag;
pub use tokens::{TokenLayout, Tokens};
