//! The method registry: every compared method is one entry, evaluated by the same loop on the
//! same retrieval cache, prompts and greedy decoding (§4.5 of the paper's baselines that this
//! crate runs, and RAG-GD itself). A method says which prompt it reads, whether it draws a
//! support context, and how the backbone is adapted for a query.

use serde::{Deserialize, Serialize};

use crate::experiment::profile::Profile;
use crate::method::matching::NormTerm;

/// What a method does to the frozen backbone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum MethodKind {
    /// No retrieved documents, bare backbone.
    QueryOnly,
    /// Retrieved documents in the prompt, bare backbone.
    VanillaRag,
    /// `W_0^ret`, no context-conditioned update (the shared-interface baseline).
    BaseAdapter,
    /// `W_0^ret + g_φ(C)` with `g_φ` trained on K-step targets; per query (Algorithm 1) or
    /// one update per task.
    RagGd {
        k: usize,
        term: NormTerm,
        per_task: bool,
    },
    /// K SGD steps on the support context at test time, then generate.
    TtSgd { k: usize },
    /// The support demonstrations as completed chat exchanges before the question (§4.5
    /// "+ few shot"), on the bare backbone (`adapter: false`, Vanilla RAG + few shot) or with
    /// `W_0^ret` (Base adapter + few shot).
    FewShot { adapter: bool },
    /// Prompt tuning (Lester et al., 2021): a trained soft prefix on the bare backbone, in
    /// place of the LoRA interface.
    PromptTuning,
    /// HyperTuning (Phang et al., 2023): the same `g_φ` (architecture, bases, input `h̄(C)`)
    /// as RAG-GD at `k`, trained end to end through the answer loss of other questions of the
    /// context's task instead of matching a gradient-step target.
    HyperTuning { k: usize },
}

/// One registered method.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Method {
    /// Stable id used in results files (`rag-gd-k5`).
    pub id: String,
    /// Display name (`RAG-GD (K=5)`).
    pub label: String,
    pub kind: MethodKind,
}

impl Method {
    fn new(id: impl Into<String>, label: impl Into<String>, kind: MethodKind) -> Self {
        Self {
            id: id.into(),
            label: label.into(),
            kind,
        }
    }

    /// Reads the retrieved documents.
    pub fn uses_retrieval(&self) -> bool {
        !matches!(self.kind, MethodKind::QueryOnly)
    }

    /// Draws a support context per query (and so runs once per support seed).
    pub fn per_query_support(&self) -> bool {
        matches!(
            self.kind,
            MethodKind::RagGd {
                per_task: false,
                ..
            } | MethodKind::TtSgd { .. }
                | MethodKind::FewShot { .. }
                | MethodKind::HyperTuning { .. }
        )
    }

    /// Reads a trained predictor (RAG-GD and HyperTuning).
    pub fn uses_predictor(&self) -> bool {
        matches!(
            self.kind,
            MethodKind::RagGd { .. } | MethodKind::HyperTuning { .. }
        )
    }

    /// Support seeds this method runs with (ablation rows and the K sweep's other K may run
    /// with fewer).
    pub fn seeds(&self, p: &Profile) -> usize {
        match self.kind {
            MethodKind::RagGd { term, per_task, .. }
                if per_task || term != NormTerm::LogSquared =>
            {
                p.eval.ablation_seeds
            }
            MethodKind::RagGd { k, .. } if k != p.mid_k() && p.eval.sweep_seeds > 0 => {
                p.eval.sweep_seeds
            }
            MethodKind::RagGd { .. } | MethodKind::HyperTuning { .. } => p.eval.support_seeds,
            MethodKind::TtSgd { .. } => p.eval.tt_sgd_seeds,
            MethodKind::FewShot { .. } => p.eval.few_shot_seeds,
            _ => 1,
        }
    }

    /// Needs a support context at all (per query or per task).
    pub fn uses_support(&self) -> bool {
        matches!(
            self.kind,
            MethodKind::RagGd { .. }
                | MethodKind::TtSgd { .. }
                | MethodKind::FewShot { .. }
                | MethodKind::HyperTuning { .. }
        )
    }

    /// Runs on the first `n` questions of a set only (`None`: on all of them).
    pub fn subset(&self, p: &Profile) -> Option<usize> {
        match self.kind {
            MethodKind::TtSgd { .. } => Some(p.eval.tt_sgd_questions),
            MethodKind::FewShot { .. } => Some(p.eval.few_shot_questions_of(&self.id)),
            MethodKind::PromptTuning => p.prompt_tuning.as_ref().map(|t| t.questions),
            _ => None,
        }
        .filter(|&n| n < p.eval.questions)
    }
}

/// The ids of the few-shot rows: without and with `W_0^ret`.
pub const FEW_SHOT_IDS: [&str; 2] = ["vanilla-rag-few-shot", "base-adapter-few-shot"];

/// The methods a profile compares, in table order: the three no-update baselines and their
/// few-shot variants, prompt tuning (where the profile has it), RAG-GD for each K (per query, symmetric norm term), the per-task mode
/// and the signed-log ablation at the middle K, HyperTuning, and TT-SGD.
pub fn registry(profile: &Profile) -> Vec<Method> {
    let mut ks = profile.targets.ks.clone();
    ks.sort_unstable();
    let mid = ks[ks.len() / 2];
    let mut out = vec![
        Method::new("query-only", "Query only", MethodKind::QueryOnly),
        Method::new("vanilla-rag", "Vanilla RAG", MethodKind::VanillaRag),
        Method::new(
            FEW_SHOT_IDS[0],
            "Vanilla RAG + few shot",
            MethodKind::FewShot { adapter: false },
        ),
        Method::new("base-adapter", "Base adapter", MethodKind::BaseAdapter),
        Method::new(
            FEW_SHOT_IDS[1],
            "Base adapter + few shot",
            MethodKind::FewShot { adapter: true },
        ),
    ];
    if profile.prompt_tuning.is_some() {
        out.push(Method::new(
            "prompt-tuning",
            "Prompt tuning",
            MethodKind::PromptTuning,
        ));
    }
    for &k in &ks {
        out.push(Method::new(
            format!("rag-gd-k{k}"),
            format!("RAG-GD (K={k})"),
            MethodKind::RagGd {
                k,
                term: NormTerm::LogSquared,
                per_task: false,
            },
        ));
    }
    out.push(Method::new(
        format!("rag-gd-k{mid}-task"),
        format!("RAG-GD (K={mid}, per task)"),
        MethodKind::RagGd {
            k: mid,
            term: NormTerm::LogSquared,
            per_task: true,
        },
    ));
    out.push(Method::new(
        format!("rag-gd-k{mid}-signed-log"),
        format!("RAG-GD (K={mid}, signed log)"),
        MethodKind::RagGd {
            k: mid,
            term: NormTerm::Log,
            per_task: false,
        },
    ));
    out.push(Method::new(
        "hypertuning",
        format!("HyperTuning (g_φ as K={mid})"),
        MethodKind::HyperTuning { k: mid },
    ));
    let k = profile.eval.tt_sgd_k;
    out.push(Method::new(
        format!("tt-sgd-k{k}"),
        format!("TT-SGD (K={k})"),
        MethodKind::TtSgd { k },
    ));
    out
}
