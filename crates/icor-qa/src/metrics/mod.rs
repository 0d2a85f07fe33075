//! QA and retrieval metrics exactly as FlashRAG computes them.
//!
//! - [`normalize`]: SQuAD answer normalisation (lower-case, strip ASCII punctuation, drop the
//!   articles a/an/the, collapse whitespace), character for character as Python does it.
//! - [`em_f1`]: exact match, sub-string match and token F1, each the maximum over the golden
//!   answers; CuratedTREC answers are regular expressions ([`pattern`]).
//! - [`recall`]: retrieval recall@k under FlashRAG's rule (normalised answer is a substring of
//!   the normalised passage) or DPR's ([`has_answer`]: NFD, the DPR simple tokenizer, uncased
//!   token sub-sequence).

pub mod em_f1;
pub mod has_answer;
pub mod normalize;
pub mod pattern;
pub mod recall;

pub use em_f1::{AnswerScore, exact_match, score, sub_exact_match, token_f1};
pub use has_answer::{dpr_tokens, has_answer};
pub use normalize::normalize_answer;
pub use pattern::AnswerPattern;
pub use recall::{HitRule, RecallAtK, recall_hit};
