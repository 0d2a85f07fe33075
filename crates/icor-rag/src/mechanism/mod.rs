//! # Does a frozen LLM use its retrieved demonstrations like one gradient step?
//!
//! The paper's premise at LLM scale (its Lemma 1 is exact for one linear self-attention layer,
//! `icor-linear`): putting N retrieved demonstrations in the prompt changes the query's
//! next-token distribution as one gradient step on the Q/K/V interface, taken on the
//! demonstrations' answer loss, would. Per context this module measures
//!
//! - `Δ_ICL`: the change of the query's log-probabilities when the demonstrations are in
//!   context ([`segments`]: each demonstration block is token-identical to the example the
//!   step's loss reads);
//! - `Δ_GD`: the change after `ΔW = −η ∇_W L(W; D)` on the dense Q/K/V interface of every
//!   layer or the top L ([`dense`]), or on the LoRA factors of `W_0^ret` ([`base`]; the
//!   study then reads everything with `W_0^ret` applied), the query alone in the prompt;
//! - the controls: random updates of equal per-matrix norm, raw and rescaled to move the
//!   output as far; the step on answer-shuffled and on another context's demonstrations; the
//!   same controls in context, plus another order;
//! - the demo-specific parts `s = Δ(right demos) − Δ(other context's demos)` and their
//!   agreement against a permutation baseline over contexts that share no demonstration.
//!
//! | module | role |
//! |---|---|
//! | [`settings`] | what a study measures (data, not code) |
//! | [`contexts`] | the M contexts, demonstrations drawn without replacement |
//! | [`segments`] | token blocks: the in-context prompt and the step's examples |
//! | [`space`], [`update`] | what a step moves, its gradient; an update's arithmetic |
//! | [`dense`], [`base`] | the dense interface; `W_0^ret`'s LoRA interface |
//! | [`readout`], [`effect`], [`pair`] | one forward pass's readings; effects; pair metrics |
//! | [`measure`], [`record`] | one context measured and stored |
//! | [`study`] | every context, resumable |
//! | [`cross`] | the permutation baseline's cosines across contexts, kept |
//! | [`analysis`], [`report`], [`files`] | η fit, CIs, baselines, verdicts; `reports/mechanism.md` and its JSON |

pub mod analysis;
pub mod base;
pub mod contexts;
pub mod cross;
pub mod dense;
pub mod effect;
pub mod files;
pub mod measure;
pub mod pair;
pub mod readout;
pub mod record;
pub mod report;
pub mod segments;
pub mod settings;
pub mod space;
pub mod study;
pub mod update;

pub use settings::{InterfaceSpec, Settings};
