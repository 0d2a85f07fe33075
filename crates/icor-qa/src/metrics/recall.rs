//! Retrieval recall@k: the share of questions with a golden answer in one of their top-k
//! passages (answer recall; no relevance labels needed), under either of the two usual rules
//! for "the answer occurs in the passage" ([`HitRule`]).

use serde::Serialize;

use super::has_answer::has_answer;
use super::normalize::normalize_answer;
use super::pattern::AnswerPattern;

/// When a passage counts as containing a golden answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum HitRule {
    /// FlashRAG's `Retrieval_Recall`: the normalised answer is a substring of the normalised
    /// passage (`normalize_answer(answer) in normalize_answer(doc)`; no token boundaries, so
    /// "2" is found in "2012", and an answer that normalises to "" is found everywhere).
    FlashRag,
    /// DPR's `has_answer`: the answer's tokens are a contiguous run of the passage's.
    Dpr,
}

impl HitRule {
    /// Whether `passage` contains one of `answers` (regex answers are searched in the passage
    /// under both rules: FlashRAG's recall has no regex mode).
    pub fn hit(self, passage: &str, answers: &[AnswerPattern]) -> bool {
        match self {
            Self::Dpr => has_answer(passage, answers),
            Self::FlashRag => {
                let doc = normalize_answer(passage);
                answers.iter().any(|answer| match answer {
                    AnswerPattern::Text(text) => doc.contains(&normalize_answer(text)),
                    AnswerPattern::Regex(regex) => regex.search(passage),
                })
            }
        }
    }
}

/// Whether a golden answer occurs in one of the first `k` passages.
pub fn recall_hit(passages: &[&str], answers: &[AnswerPattern], k: usize, rule: HitRule) -> bool {
    passages.iter().take(k).any(|p| rule.hit(p, answers))
}

/// Recall at several cut-offs, accumulated question by question.
#[derive(Debug, Clone, Serialize)]
pub struct RecallAtK {
    /// The cut-offs, ascending.
    pub ks: Vec<usize>,
    /// Questions with a hit within each cut-off.
    pub hits: Vec<usize>,
    /// Questions seen.
    pub questions: usize,
    /// The hit rule.
    pub rule: HitRule,
}

impl RecallAtK {
    /// A counter for cut-offs `ks` (sorted here) under `rule`.
    pub fn new(ks: &[usize], rule: HitRule) -> Self {
        let mut ks = ks.to_vec();
        ks.sort_unstable();
        ks.dedup();
        Self {
            hits: vec![0; ks.len()],
            ks,
            questions: 0,
            rule,
        }
    }

    /// Adds one question: its ranked passages and golden answers. Each passage is tested once;
    /// the first hit's rank decides every cut-off.
    pub fn add(&mut self, passages: &[&str], answers: &[AnswerPattern]) {
        self.questions += 1;
        let limit = self.ks.last().copied().unwrap_or(0);
        if let Some(rank) = passages
            .iter()
            .take(limit)
            .position(|p| self.rule.hit(p, answers))
        {
            for (k, hits) in self.ks.iter().zip(self.hits.iter_mut()) {
                if rank < *k {
                    *hits += 1;
                }
            }
        }
    }

    /// Recall at each cut-off, in `[0, 1]` (0 when no question was added).
    pub fn values(&self) -> Vec<f64> {
        self.hits
            .iter()
            .map(|h| {
                if self.questions == 0 {
                    0.0
                } else {
                    *h as f64 / self.questions as f64
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recall_counts_first_hit_rank() {
        let answers = vec![AnswerPattern::Text("Paris".into())];
        let mut recall = RecallAtK::new(&[5, 1, 20], HitRule::Dpr);
        recall.add(&["Lyon", "Nice", "Paris is big"], &answers);
        recall.add(&["Paris"], &answers);
        recall.add(&["nothing"], &answers);
        recall.add(&[], &answers);
        assert_eq!(recall.ks, vec![1, 5, 20]);
        assert_eq!(recall.hits, vec![1, 2, 2]);
        assert_eq!(recall.values(), vec![0.25, 0.5, 0.5]);
        assert!(recall_hit(&["a", "Paris"], &answers, 2, HitRule::Dpr));
        assert!(!recall_hit(&["a", "Paris"], &answers, 1, HitRule::FlashRag));
    }

    #[test]
    fn flashrag_rule_is_a_normalised_substring_dpr_rule_needs_whole_tokens() {
        let text = |a: &str| vec![AnswerPattern::Text(a.into())];
        let passage = "\"Paris\"\nThe city had 2,102,650 residents in 2012; Parisians say ça va.";
        for rule in [HitRule::FlashRag, HitRule::Dpr] {
            assert!(rule.hit(passage, &text("paris")), "{rule:?}");
            assert!(rule.hit(passage, &text("2,102,650")), "{rule:?}");
        }
        // Inside a word or a number: only FlashRAG's substring rule finds it.
        assert!(HitRule::FlashRag.hit(passage, &text("Parisian")));
        assert!(!HitRule::Dpr.hit(passage, &text("Parisian")));
        assert!(HitRule::FlashRag.hit(passage, &text("201")));
        assert!(!HitRule::Dpr.hit(passage, &text("201")));
        // Punctuation removed before comparing: "2102650" is in FlashRAG's normalised passage.
        assert!(HitRule::FlashRag.hit(passage, &text("2102650")));
        assert!(!HitRule::Dpr.hit(passage, &text("2102650")));
        // An answer that normalises to nothing is found everywhere by FlashRAG's rule.
        assert!(HitRule::FlashRag.hit("anything", &text("The")));
        assert!(!HitRule::Dpr.hit("anything", &text("The")));
    }
}
