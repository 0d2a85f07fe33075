//! Greedy decoding of rows that share the frozen layers below the interface.
//!
//! The rows of a batch read a few prompts, each under several interfaces (vanilla RAG, the
//! base adapter, RAG-GD's updates, …) that all act on the top layers only. Rows of one prompt
//! that have generated the same tokens so far have the same states below the interface, so
//! those layers run once per group of such rows: a group's lower-layer cache is split, row by
//! row copy of its parent's, at the step where its rows' tokens diverge. The numbers are the
//! ones each row would get alone (the products and the attention treat every row on its own),
//! so the tokens are those of [`Llm::generate_greedy_rows_of`] without the sharing.

use crate::generate::FrozenPrefix;
use crate::tensor_util::index_tensor;
use crate::{Adaptation, GenerateOptions, Llm, Result, RowDeltas};

/// Which lower-layer cache row each live row reads, and the groups' tokens.
struct Groups {
    /// Live row → group (a row of the lower-layer cache).
    of_row: Vec<usize>,
    /// Rows of the lower-layer cache.
    count: usize,
}

impl Groups {
    /// Regroups the live rows by (group, next token): returns the new groups' parents (a
    /// group of the previous step) and tokens, and maps every row to its new group.
    fn split(&mut self, next: &[u32]) -> (Vec<usize>, Vec<u32>) {
        let mut keys: Vec<(usize, u32)> = Vec::new();
        let of_row = self
            .of_row
            .iter()
            .zip(next)
            .map(
                |(&g, &tok)| match keys.iter().position(|&k| k == (g, tok)) {
                    Some(at) => at,
                    None => {
                        keys.push((g, tok));
                        keys.len() - 1
                    }
                },
            )
            .collect();
        self.of_row = of_row;
        self.count = keys.len();
        keys.into_iter().unzip()
    }
}

impl Llm {
    /// [`Llm::generate_greedy_rows_of`] for a prefix split above layer 0: the upper layers'
    /// prefill per row, then one decoding step per token with the lower layers run once per
    /// group of rows that share their prompt and their tokens so far.
    pub(crate) fn decode_shared(
        &self,
        prefix: &FrozenPrefix,
        row_prompts: &[usize],
        opts: &GenerateOptions,
        adapt: &Adaptation<'_>,
    ) -> Result<Vec<Vec<u32>>> {
        let (split, n) = (prefix.split, self.config.n_layers);
        let (t, d) = (prefix.len(), self.config.d_model);
        let rows = row_prompts.len();
        // The interface layers: one cache row per row, prefilled from the frozen stream.
        let mut upper = prefix.cache.empty_rows(row_prompts);
        let x = prefix
            .x
            .clone()
            .select(0, index_tensor(row_prompts, self.device()));
        let x = self.forward_layers(x, split..n, Some(&mut upper), adapt)?;
        upper.advance(t);
        let last = self.final_norm(x.narrow(1, t - 1, 1)).reshape([rows, d]);
        let mut next = self.argmax_rows(self.project(last));
        // The frozen layers: one cache row per prompt.
        let mut lower = prefix.cache.clone();
        lower.advance(t);
        let mut groups = Groups {
            of_row: row_prompts.to_vec(),
            count: prefix.x.dims()[0],
        };
        let mut out = vec![Vec::new(); rows];
        let mut live: Vec<usize> = (0..rows).collect();
        let mut local: Option<RowDeltas> = None;
        loop {
            let keep = record(&mut out, &live, &next, opts);
            if keep.is_empty() {
                break;
            }
            if keep.len() < live.len() {
                upper = upper.select_rows(&keep);
                compact(&keep, &mut local, adapt, &mut next, &mut live);
                groups.of_row = keep.iter().map(|&j| groups.of_row[j]).collect();
            }
            let before = groups.count;
            let (parents, tokens) = groups.split(&next);
            if parents.len() != before || parents.iter().enumerate().any(|(i, &p)| i != p) {
                lower = lower.select_rows(&parents);
            }
            let x = self.embed(&tokens, tokens.len())?;
            let x = self.forward_layers(x, 0..split, Some(&mut lower), &Adaptation::none())?;
            lower.advance(1);
            let x = x.select(0, index_tensor(&groups.of_row, self.device()));
            let step_adapt = Adaptation {
                rows: local.as_ref().or(adapt.rows),
                ..*adapt
            };
            let x = self.forward_layers(x, split..n, Some(&mut upper), &step_adapt)?;
            upper.advance(1);
            let b = live.len();
            next = self.argmax_rows(self.project(self.final_norm(x).reshape([b, d])));
        }
        Ok(out)
    }
}

/// Keeps the batch positions `keep` of the row adaptations (`local`, or `adapt`'s before the
/// first compaction), the next tokens and the live rows.
pub(crate) fn compact(
    keep: &[usize],
    local: &mut Option<RowDeltas>,
    adapt: &Adaptation<'_>,
    next: &mut Vec<u32>,
    live: &mut Vec<usize>,
) {
    *local = local.as_ref().or(adapt.rows).map(|r| r.select_rows(keep));
    *next = keep.iter().map(|&j| next[j]).collect();
    *live = keep.iter().map(|&j| live[j]).collect();
}

/// Appends each live row's new token (or marks it done at its stop token or its limit) and
/// returns the batch positions of the rows still running.
pub(crate) fn record(
    out: &mut [Vec<u32>],
    live: &[usize],
    next: &[u32],
    opts: &GenerateOptions,
) -> Vec<usize> {
    let mut keep = Vec::new();
    for (j, (&r, &tok)) in live.iter().zip(next).enumerate() {
        let done = if opts.stop_ids.contains(&tok) {
            true
        } else {
            out[r].push(tok);
            out[r].len() >= opts.max_new_tokens
        };
        if !done {
            keep.push(j);
        }
    }
    keep
}
