//! The permutation baseline's raw material: `cos(Δ_ICL of context i, Δ_GD of context j)` for
//! every pair of contexts sharing no demonstration, for each step vector (the whole effect
//! `…/right` against `icl/right`, the demo-specific part `…/specific` against
//! `icl/specific`), computed from the vectors in the run folder and kept in `cross.json`.
//!
//! The vectors (a few MB per context) stay out of version control; this file and the
//! per-context records are what a study that spans machines commits. A pair is computed once,
//! whenever both of its vectors are on disk, and kept thereafter.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::contexts::Context;
use super::effect::cosine;
use super::study::vectors_path;
use crate::error::Result;
use crate::experiment::store::{Stamp, load_or_rebuild, save_json};
use crate::experiment::tensors::TensorFile;

/// The in-context vector a step vector is compared with.
pub fn icl_of(gd_name: &str) -> &'static str {
    if gd_name.ends_with("/specific") {
        "icl/specific"
    } else {
        "icl/right"
    }
}

/// `cos[name]["i,j"]`: in-context vector of `i` against step vector `name` of `j`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Cross {
    pub cos: BTreeMap<String, BTreeMap<String, f64>>,
}

fn key(i: usize, j: usize) -> String {
    format!("{i},{j}")
}

pub fn path(out: &Path) -> PathBuf {
    out.join("cross.json")
}

impl Cross {
    pub fn get(&self, name: &str, i: usize, j: usize) -> Option<f64> {
        self.cos.get(name).and_then(|m| m.get(&key(i, j))).copied()
    }

    /// Loads `cross.json`, adds every missing pair among `contexts` whose two vector files
    /// are on disk, saves it when anything was added.
    pub fn update(out: &Path, stamp: &Stamp, contexts: &[usize], names: &[String]) -> Result<Self> {
        let file = path(out);
        let mut cross: Cross = load_or_rebuild(&file, stamp)?.unwrap_or_default();
        let wanted = |i: usize, j: usize| i != j && j != Context::partner(i);
        let missing: Vec<usize> = contexts
            .iter()
            .copied()
            .filter(|&i| {
                contexts
                    .iter()
                    .any(|&j| wanted(i, j) && names.iter().any(|n| cross.get(n, i, j).is_none()))
            })
            .collect();
        if missing.is_empty() {
            return Ok(cross);
        }
        let mut vectors: BTreeMap<usize, BTreeMap<String, Vec<f64>>> = BTreeMap::new();
        for &i in contexts {
            if let Some(f) = TensorFile::load(&vectors_path(out, i), stamp)? {
                let v = f
                    .tensors
                    .into_iter()
                    .map(|(k, v)| (k, v.into_iter().map(f64::from).collect()))
                    .collect();
                vectors.insert(i, v);
            }
        }
        let mut added = 0usize;
        for &i in &missing {
            for &j in contexts {
                if !wanted(i, j) {
                    continue;
                }
                for n in names {
                    if cross.get(n, i, j).is_some() {
                        continue;
                    }
                    let a = vectors.get(&i).and_then(|v| v.get(icl_of(n)));
                    let b = vectors.get(&j).and_then(|v| v.get(n));
                    if let (Some(a), Some(b)) = (a, b) {
                        cross
                            .cos
                            .entry(n.clone())
                            .or_default()
                            .insert(key(i, j), cosine(a, b));
                        added += 1;
                    }
                }
            }
        }
        if added > 0 {
            save_json(&file, stamp, &cross)?;
        }
        Ok(cross)
    }

    /// Per context `i` of `contexts` (that has any): the mean over `j` of `cos(icl_i, name_j)`,
    /// and how many pairs entered.
    pub fn permuted(&self, name: &str, contexts: &[usize]) -> (BTreeMap<usize, f64>, usize) {
        let mut out = BTreeMap::new();
        let mut pairs = 0;
        for &i in contexts {
            let v: Vec<f64> = contexts
                .iter()
                .filter(|&&j| j != i && j != Context::partner(i))
                .filter_map(|&j| self.get(name, i, j))
                .collect();
            if !v.is_empty() {
                pairs += v.len();
                out.insert(i, v.iter().sum::<f64>() / v.len() as f64);
            }
        }
        (out, pairs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_permuted_baseline_skips_the_context_and_its_partner() {
        let mut c = Cross::default();
        let m = c.cos.entry("gd/all/1e-2/specific".into()).or_default();
        // Context 0's partner is 1: only j = 2, 3 enter its baseline.
        for (i, j, v) in [
            (0, 1, 9.0),
            (0, 2, 0.2),
            (0, 3, 0.4),
            (2, 0, 0.1),
            (2, 3, 9.0),
        ] {
            m.insert(key(i, j), v);
        }
        let (per, pairs) = c.permuted("gd/all/1e-2/specific", &[0, 1, 2, 3]);
        assert!((per[&0] - 0.3).abs() < 1e-12);
        assert!((per[&2] - 0.1).abs() < 1e-12, "2's partner 3 is left out");
        assert!(!per.contains_key(&1));
        assert_eq!(pairs, 3);
        assert_eq!(icl_of("gd/top2/1e-1/specific"), "icl/specific");
        assert_eq!(icl_of("gd/top2/1e-1/right"), "icl/right");
    }
}
