//! Stage 3's outputs kept for the later parts of a run: every predictor a RAG-GD or
//! HyperTuning method reads (`g_φ`'s weights, its normalisation and its bases), their
//! checks, `g_φ`'s learning curve and stage 2's summary, in one file per retriever
//! (`predictors-<retriever>.safetensors`). The targets behind them are hundreds of MB at
//! the decided profile's size and cost most of an hour to recompute; this file is a few MB,
//! so it is committed with a run that spans sessions, and a part that evaluates on another
//! machine reads it back instead of recomputing stages 2 and 3.
//!
//! The bases are stored in `f32`. A run that trains the predictors goes on with what it
//! stored (read back), so a run that stops after stage 3 and resumes gives the same answers
//! as one that does not stop.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use nalgebra::DMatrix;
use serde::{Deserialize, Serialize};

use super::context::{Ctx, Progress};
use crate::error::{Error, Result};
use crate::experiment::eval::TrainedG;
use crate::experiment::results::{CollapseSummary, CurvePoint, PredictorSummary, TargetSummary};
use crate::experiment::store::Stamp;
use crate::experiment::tensors::TensorFile;
use crate::method::factored::Basis;
use crate::method::predictor::{Predictor, PredictorShape};

/// What stage 3 recorded for one retriever besides the predictors' weights.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Checks {
    /// Each stored predictor's shape, by method id.
    pub shapes: BTreeMap<String, PredictorShape>,
    pub predictors: Vec<PredictorSummary>,
    pub collapse: Vec<CollapseSummary>,
    /// `g_φ`'s learning curve; `None` where the part that trained the predictors did not
    /// select the curve's method.
    pub curve: Option<Vec<CurvePoint>>,
    /// Stage 2's summary of the targets.
    pub targets: TargetSummary,
}

impl Checks {
    /// Stage 3's records of retriever `rname` so far in `pr`: the entries pushed since the
    /// counts `from` (predictors, collapse, curve) and the last target summary.
    pub fn since(
        pr: &Progress,
        rname: &str,
        from: (usize, usize, usize),
        curve: bool,
        shapes: BTreeMap<String, PredictorShape>,
    ) -> Result<Self> {
        let r = &pr.record;
        let targets = r
            .targets
            .iter()
            .rfind(|t| t.retriever == rname)
            .cloned()
            .ok_or_else(|| Error::Config(format!("no target summary for {rname}")))?;
        Ok(Self {
            shapes,
            predictors: r.predictors[from.0..].to_vec(),
            collapse: r.collapse[from.1..].to_vec(),
            curve: curve.then(|| r.context_curve[from.2..].to_vec()),
            targets,
        })
    }

    /// Pushes the stored records of the methods `needed` (and the curve where `curve`) into
    /// `pr`, as stages 2 and 3 of a part that selects them would have.
    fn record(&self, pr: &mut Progress, needed: &[String], curve: bool) {
        let wanted = |m: &String| needed.contains(m);
        pr.record.targets.push(self.targets.clone());
        let rows = self.predictors.iter().filter(|s| wanted(&s.method));
        pr.record.predictors.extend(rows.cloned());
        let rows = self.collapse.iter().filter(|c| wanted(&c.method));
        pr.record.collapse.extend(rows.cloned());
        if curve {
            let points = self.curve.iter().flatten().cloned();
            pr.record.context_curve.extend(points);
        }
    }

    /// These checks with `earlier`'s rows for methods this part did not train (a part that
    /// selects some methods keeps what another part stored for the others).
    fn over(mut self, earlier: Checks) -> Self {
        for (id, shape) in earlier.shapes {
            if self.shapes.contains_key(&id) {
                continue;
            }
            self.shapes.insert(id.clone(), shape);
            let rows = earlier.predictors.iter().filter(|s| s.method == id);
            self.predictors.extend(rows.cloned());
            let rows = earlier.collapse.iter().filter(|c| c.method == id);
            self.collapse.extend(rows.cloned());
        }
        if self.curve.is_none() {
            self.curve = earlier.curve;
        }
        self
    }
}

/// `<run folder>/predictors-<retriever>.safetensors`.
fn path(cx: &Ctx<'_>) -> PathBuf {
    cx.path(&format!("predictors-{}.safetensors", cx.rname))
}

/// Everything stages 2 and 3 read: the targets', the predictors' and `W_0^ret`'s settings,
/// and the profile's evaluated sets (whose held-out contexts the checks use), before any
/// `--sets` filter.
fn stamp(cx: &Ctx<'_>) -> Stamp {
    let p = cx.p;
    let sets = cx.options.profile_sets.as_ref().unwrap_or(&p.eval_sets);
    cx.key(
        "predictors",
        &(
            &p.targets,
            &p.predictor,
            &p.adapter,
            p.support,
            p.pool_size,
            sets,
        ),
    )
}

/// The stored file and its checks, where it exists for these settings and reads.
fn stored(cx: &Ctx<'_>) -> Result<Option<(TensorFile, Checks)>> {
    let path = path(cx);
    let Some(f) = TensorFile::load_or_rebuild(&path, &stamp(cx))? else {
        return Ok(None);
    };
    match f
        .meta
        .get("checks")
        .map(|s| serde_json::from_str::<Checks>(s))
    {
        Some(Ok(checks)) => Ok(Some((f, checks))),
        _ => {
            eprintln!(
                "note: rebuilding {}: metadata `checks` missing or malformed",
                path.display()
            );
            Ok(None)
        }
    }
}

/// Writes the predictors and checks, and returns the predictors as read back (bases in
/// `f32`), which the run goes on with.
pub(super) fn save(
    cx: &Ctx<'_>,
    predictors: &BTreeMap<String, TrainedG>,
    checks: &Checks,
) -> Result<BTreeMap<String, TrainedG>> {
    let (path, stamp) = (path(cx), stamp(cx));
    // Another part's predictors for methods this part did not train stay.
    let (mut f, checks) = match stored(cx)? {
        Some((f, earlier)) => (f, checks.clone().over(earlier)),
        None => (TensorFile::default(), checks.clone()),
    };
    for (id, g) in predictors {
        f.tensors
            .retain(|name, _| !name.starts_with(&format!("{id}/")));
        let pr = &g.predictor;
        for (name, v) in [
            ("params", &pr.params),
            ("mean", &pr.mean),
            ("std", &pr.std),
            ("scale", &pr.scale),
        ] {
            f.tensors.insert(format!("{id}/{name}"), v.clone());
        }
        for (b, basis) in g.bases.iter().enumerate() {
            f.tensors.insert(format!("{id}/p{b}"), to_f32(&basis.p));
            f.tensors.insert(format!("{id}/q{b}"), to_f32(&basis.q));
        }
    }
    let json = serde_json::to_string(&checks).map_err(|e| Error::Format {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    f.meta.insert("checks".into(), json);
    if cx.options.profile_sets.is_some() {
        eprintln!(
            "note: not storing {}: this run evaluates only some of the profile's sets, and \
             its checks cover only their held-out contexts",
            path.display()
        );
    } else {
        f.save(&path, &stamp)?;
    }
    let ids: Vec<String> = predictors.keys().cloned().collect();
    read(&f, &path, &ids, &checks)
}

/// The stored predictors of the methods `needed` with their checks, pushed into `pr`'s
/// records; `None` (stages 2 and 3 must run) where there is no file for these settings, a
/// needed predictor is missing, or `curve` is asked for and was not stored.
pub(super) fn load(
    cx: &Ctx<'_>,
    pr: &mut Progress,
    needed: &[String],
    curve: bool,
) -> Result<Option<BTreeMap<String, TrainedG>>> {
    let Some((f, checks)) = stored(cx)? else {
        return Ok(None);
    };
    let complete = needed.iter().all(|id| checks.shapes.contains_key(id));
    if !complete || (curve && checks.curve.is_none()) {
        return Ok(None);
    }
    let predictors = read(&f, &path(cx), needed, &checks)?;
    checks.record(pr, needed, curve);
    Ok(Some(predictors))
}

/// The predictors `ids` from a stored file.
fn read(
    f: &TensorFile,
    path: &Path,
    ids: &[String],
    checks: &Checks,
) -> Result<BTreeMap<String, TrainedG>> {
    let mut out = BTreeMap::new();
    for id in ids {
        let shape = *checks.shapes.get(id).ok_or_else(|| Error::Format {
            path: path.to_path_buf(),
            reason: format!("no predictor for method {id}"),
        })?;
        let get =
            |name: &str| -> Result<Vec<f32>> { Ok(f.get(&format!("{id}/{name}"), path)?.to_vec()) };
        let mut predictor = Predictor::init(shape, get("mean")?, get("std")?, get("scale")?, 0);
        predictor.params = get("params")?;
        let bases = (0..shape.blocks)
            .map(|b| {
                Ok(Basis {
                    p: from_f32(f.get(&format!("{id}/p{b}"), path)?, shape.r, path)?,
                    q: from_f32(f.get(&format!("{id}/q{b}"), path)?, shape.r, path)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        out.insert(id.clone(), TrainedG { predictor, bases });
    }
    Ok(out)
}

/// A basis matrix, column-major, in `f32`.
fn to_f32(m: &DMatrix<f64>) -> Vec<f32> {
    m.as_slice().iter().map(|&x| x as f32).collect()
}

/// A basis matrix of `r` columns from its stored column-major `f32` values.
fn from_f32(v: &[f32], r: usize, path: &Path) -> Result<DMatrix<f64>> {
    if r == 0 || v.len() % r != 0 {
        return Err(Error::Format {
            path: path.to_path_buf(),
            reason: format!("a basis of {} values is not {r} columns", v.len()),
        });
    }
    Ok(DMatrix::from_column_slice(
        v.len() / r,
        r,
        &v.iter().map(|&x| f64::from(x)).collect::<Vec<_>>(),
    ))
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::experiment::results::Results;

    fn summary(method: &str) -> PredictorSummary {
        PredictorSummary {
            retriever: "bm25".into(),
            method: method.into(),
            k: 1,
            term: "log²".into(),
            params: 10,
            naive_head_params: 20,
            backbone_params: 30,
            blocks: 2,
            basis_rank: 4,
            loss_start: 1.0,
            loss_end: 0.5,
            heldout_cosine: vec![0.5],
            heldout_norm_ratio: vec![1.0],
            heldout_ceiling: vec![0.9],
            heldout_mean_cosine: vec![0.1],
            train_cosine: vec![0.8],
            seconds: 1.0,
        }
    }

    fn collapse(method: &str) -> CollapseSummary {
        CollapseSummary {
            retriever: "bm25".into(),
            method: method.into(),
            predicted_within: 0.1,
            predicted_across: 0.2,
            target_within: 0.3,
            target_across: 0.4,
            deployed_within: BTreeMap::new(),
            deployed_across: f64::NAN,
        }
    }

    fn checks(methods: &[&str], curve: bool) -> Checks {
        let shape = PredictorShape {
            d: 8,
            hidden: 4,
            code: 2,
            blocks: 2,
            r: 4,
        };
        Checks {
            shapes: methods.iter().map(|m| (m.to_string(), shape)).collect(),
            predictors: methods.iter().map(|m| summary(m)).collect(),
            collapse: methods.iter().map(|m| collapse(m)).collect(),
            curve: curve.then(|| {
                vec![CurvePoint {
                    contexts: 3,
                    summary: summary(methods[0]),
                }]
            }),
            targets: TargetSummary {
                retriever: "bm25".into(),
                train_contexts: 3,
                heldout_contexts: 2,
                support_loss: vec![2.0],
                mean_norm: BTreeMap::new(),
                contexts_per_k: BTreeMap::new(),
                seconds_per_context: 1.0,
                averaging: None,
            },
        }
    }

    /// A part that trained some methods keeps another part's rows for the others, and a
    /// part reading the file back records the rows of its own methods only, the curve only
    /// where it selects the curve's method.
    #[test]
    fn parts_keep_each_others_predictors_and_record_their_own() {
        let earlier = checks(&["rag-gd-k1", "hypertuning-k5"], true);
        let now = checks(&["rag-gd-k1", "rag-gd-k5"], false).over(earlier);
        let ids: Vec<&str> = now.shapes.keys().map(String::as_str).collect();
        assert_eq!(ids, ["hypertuning-k5", "rag-gd-k1", "rag-gd-k5"]);
        assert_eq!(now.predictors.len(), 3);
        assert_eq!(now.collapse.len(), 3);
        assert!(now.curve.is_some(), "the earlier curve is kept");

        let profile = crate::Profile::named("smoke").unwrap();
        let mut pr = Progress::new(Results::fixture(profile, Vec::new()), Instant::now());
        now.record(&mut pr, &["rag-gd-k5".to_string()], false);
        let methods: Vec<&str> = pr
            .record
            .predictors
            .iter()
            .map(|s| s.method.as_str())
            .collect();
        assert_eq!(methods, ["rag-gd-k5"]);
        assert_eq!(pr.record.collapse.len(), 1);
        assert!(pr.record.context_curve.is_empty());
        assert_eq!(pr.record.targets.len(), 1);
        // The checks survive their JSON in the file's metadata, NaN included.
        let back: Checks = serde_json::from_str(&serde_json::to_string(&now).unwrap()).unwrap();
        assert!(back.collapse[0].deployed_across.is_nan());
        assert_eq!(back.predictors, now.predictors);
    }

    /// A basis stored in f32 reads back as the same matrix rounded to f32.
    #[test]
    fn bases_read_back_rounded_to_f32() {
        let m = DMatrix::from_fn(5, 3, |i, j| (i as f64 + 0.1) / (j as f64 + 3.0));
        let back = from_f32(&to_f32(&m), 3, Path::new("x")).unwrap();
        assert_eq!(back.shape(), (5, 3));
        for (a, b) in m.iter().zip(back.iter()) {
            assert_eq!(*b, f64::from(*a as f32));
        }
        assert!(from_f32(&[1.0; 7], 3, Path::new("x")).is_err());
    }
}
