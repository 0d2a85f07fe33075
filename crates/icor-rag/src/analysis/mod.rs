//! What the results say:
//!
//! | module | what |
//! |---|---|
//! | [`stats`] | bootstrap CIs and paired differences |
//! | [`checks`] | target fidelity and the collapse check of any trained predictor |
//! | [`claims`] | §6.5: the paper's claims, each marked holds / does not hold / inconclusive |
//! | [`report`] | `reports/rag-<profile>.md` from a results file |
//! | [`merge`] | `icor rag merge`: one results file from runs over disjoint retrievers or methods |
//! | [`ablation`] | a variant run (e.g. the interface on every layer) against the profile's, paired |

pub mod ablation;
pub mod checks;
pub mod claims;
pub mod interface;
pub mod merge;
pub mod report;
pub mod stats;
