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

    /// Pushes the stored records into `pr`, as stages 2 and 3 would have.
    fn record(&self, pr: &mut Progress) {
        pr.record.targets.push(self.targets.clone());
        pr.record.predictors.extend(self.predictors.iter().cloned());
        pr.record.collapse.extend(self.collapse.iter().cloned());
        pr.record
            .context_curve
            .extend(self.curve.iter().flatten().cloned());
    }
}

/// `<run folder>/predictors-<retriever>.safetensors`.
fn path(cx: &Ctx<'_>) -> PathBuf {
    cx.path(&format!("predictors-{}.safetensors", cx.rname))
}

/// Everything stages 2 and 3 read: the targets', the predictors' and `W_0^ret`'s settings.
fn stamp(cx: &Ctx<'_>) -> Stamp {
    let p = cx.p;
    cx.key(
        "predictors",
        &(&p.targets, &p.predictor, &p.adapter, p.support, p.pool_size),
    )
}

/// Writes the predictors and checks, and returns the predictors as read back (bases in
/// `f32`), which the run goes on with.
pub(super) fn save(
    cx: &Ctx<'_>,
    predictors: &BTreeMap<String, TrainedG>,
    checks: &Checks,
) -> Result<BTreeMap<String, TrainedG>> {
    let (path, stamp) = (path(cx), stamp(cx));
    let mut f = TensorFile::default();
    for (id, g) in predictors {
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
    let json = serde_json::to_string(checks).map_err(|e| Error::Format {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    f.meta.insert("checks".into(), json);
    f.save(&path, &stamp)?;
    let ids: Vec<String> = predictors.keys().cloned().collect();
    read(&f, &path, &ids, checks)
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
    let (path, stamp) = (path(cx), stamp(cx));
    let Some(f) = TensorFile::load_or_rebuild(&path, &stamp)? else {
        return Ok(None);
    };
    let checks: Checks = f
        .meta
        .get("checks")
        .and_then(|s| serde_json::from_str(s).ok())
        .ok_or_else(|| Error::Format {
            path: path.clone(),
            reason: "metadata `checks` missing or malformed".into(),
        })?;
    let complete = needed.iter().all(|id| checks.shapes.contains_key(id));
    if !complete || (curve && checks.curve.is_none()) {
        return Ok(None);
    }
    let predictors = read(&f, &path, needed, &checks)?;
    checks.record(pr);
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
