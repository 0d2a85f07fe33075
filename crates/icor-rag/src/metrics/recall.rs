//! Retrieval recall@k: the share of questions with a golden answer in one of their top-k
//! passages (DPR's / FlashRAG's answer recall; no relevance labels needed).

use serde::Serialize;

use super::has_answer::has_answer;
use super::pattern::AnswerPattern;

/// Whether a golden answer occurs in one of the first `k` passages.
pub fn recall_hit(passages: &[&str], answers: &[AnswerPattern], k: usize) -> bool {
    passages.iter().take(k).any(|p| has_answer(p, answers))
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
}

impl RecallAtK {
    /// A counter for cut-offs `ks` (sorted here).
    pub fn new(ks: &[usize]) -> Self {
        let mut ks = ks.to_vec();
        ks.sort_unstable();
        ks.dedup();
        Self {
            hits: vec![0; ks.len()],
            ks,
            questions: 0,
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
            .position(|p| has_answer(p, answers))
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
        let mut recall = RecallAtK::new(&[5, 1, 20]);
        recall.add(&["Lyon", "Nice", "Paris is big"], &answers);
        recall.add(&["Paris"], &answers);
        recall.add(&["nothing"], &answers);
        recall.add(&[], &answers);
        assert_eq!(recall.ks, vec![1, 5, 20]);
        assert_eq!(recall.hits, vec![1, 2, 2]);
        assert_eq!(recall.values(), vec![0.25, 0.5, 0.5]);
        assert!(recall_hit(&["a", "Paris"], &answers, 2));
        assert!(!recall_hit(&["a", "Paris"], &answers, 1));
    }
}
