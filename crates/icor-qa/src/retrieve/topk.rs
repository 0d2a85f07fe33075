//! Deterministic top-k over a score vector.

use serde::Serialize;

/// A corpus row and its retrieval score.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ScoredRow {
    /// 0-based line of the passage in the corpus jsonl.
    pub row: u32,
    /// Retrieval score (BM25, or inner product of unit vectors).
    pub score: f32,
}

/// The `k` highest scores, best first; ties go to the lower row (so results never depend on
/// thread timing or sort stability). Rows with `skip(row)` true are left out.
pub fn top_k(scores: &[f32], k: usize) -> Vec<ScoredRow> {
    let better = |a: &ScoredRow, b: &ScoredRow| b.score.total_cmp(&a.score).then(a.row.cmp(&b.row));
    let mut rows: Vec<ScoredRow> = scores
        .iter()
        .enumerate()
        .map(|(row, &score)| ScoredRow {
            row: row as u32,
            score,
        })
        .collect();
    let k = k.min(rows.len());
    if k == 0 {
        return Vec::new();
    }
    if k < rows.len() {
        rows.select_nth_unstable_by(k - 1, better);
        rows.truncate(k);
    }
    rows.sort_unstable_by(better);
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_k_orders_by_score_then_row() {
        let scores = [0.5, 2.0, 0.5, 3.0, -1.0, 2.0];
        let rows: Vec<u32> = top_k(&scores, 4).iter().map(|r| r.row).collect();
        assert_eq!(rows, vec![3, 1, 5, 0]);
        assert_eq!(top_k(&scores, 10).len(), 6);
        assert!(top_k(&scores, 0).is_empty());
        assert!(top_k(&[], 3).is_empty());
    }
}
