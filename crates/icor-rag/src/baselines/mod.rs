//! The trained baselines RAG-GD is compared with (§4.5 of the paper's list); the untrained
//! ones (query only, vanilla RAG, few-shot, TT-SGD) live in [`crate::experiment::eval`].
//!
//! | module | paper |
//! |---|---|
//! | [`prompt_tuning`] | prompt tuning, a trained soft prefix in place of the LoRA |
//! | [`hypertuning`] | HyperTuning, the same `g_φ` trained through the answer loss |

pub mod hypertuning;
pub mod prompt_tuning;
