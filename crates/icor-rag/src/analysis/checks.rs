//! The checks every trained predictor gets (RAG-GD's `g_φ` per K and norm term, and
//! HyperTuning's): target fidelity on held-out and training contexts (cosine, norm ratio,
//! the bases' ceiling) and the collapse check (are predictions as different across contexts
//! as the targets are?).

use burn::tensor::Device;

use crate::experiment::results::{CollapseSummary, PredictorSummary};
use crate::method::factored::{Basis, FactoredDelta};
use crate::method::meta::{
    Projected, TrainedPredictor, fidelity, mean_pairwise_cos_coeffs, mean_pairwise_cos_targets,
    mean_target_cosine, predict_coefficients, project,
};
use crate::method::params::LoraLayout;

/// One stored context: its task, whether it is held out, its target at the K the set is
/// for, and `h̄(C)`.
#[derive(Debug, Clone, Copy)]
pub struct TargetContext<'a> {
    pub task: &'a str,
    pub heldout: bool,
    pub delta: &'a FactoredDelta,
    pub hbar: &'a [f32],
}

/// The contexts of a retriever with a target at one K, and the evaluated tasks (for the
/// collapse groups).
#[derive(Debug, Clone)]
pub struct TargetSet<'a> {
    pub contexts: Vec<TargetContext<'a>>,
    pub tasks: Vec<String>,
}

/// What a summary row is labelled with.
#[derive(Debug, Clone, Copy)]
pub struct Checked<'a> {
    pub retriever: &'a str,
    pub method: &'a str,
    /// The K whose targets the predictor is compared with.
    pub k: usize,
    /// The training objective's name (`log²`, `log`, or the downstream answer loss).
    pub term: &'a str,
    /// The base adapter's rank (for the naive head count).
    pub rank: usize,
    pub backbone_params: usize,
    pub layout: &'a LoraLayout,
}

fn mean(v: &[f32]) -> f64 {
    v.iter().map(|&x| f64::from(x)).sum::<f64>() / v.len().max(1) as f64
}

impl TargetSet<'_> {
    /// The training (or held-out) contexts' targets.
    pub fn deltas(&self, heldout: bool) -> Vec<&FactoredDelta> {
        self.contexts
            .iter()
            .filter(|c| c.heldout == heldout)
            .map(|c| c.delta)
            .collect()
    }

    /// The contexts' targets projected into `bases`.
    pub fn projected(&self, bases: &[Basis], heldout: bool) -> Vec<Projected> {
        self.contexts
            .iter()
            .filter(|c| c.heldout == heldout)
            .map(|c| project(bases, c.delta, c.hbar))
            .collect()
    }

    /// Fidelity and collapse of `tp` against the set's targets (`train` and `held` are
    /// [`Self::projected`] in `bases`).
    pub fn check(
        &self,
        tp: &TrainedPredictor,
        train: &[Projected],
        held: &[Projected],
        label: &Checked<'_>,
        device: &Device,
    ) -> (PredictorSummary, CollapseSummary) {
        let shape = tp.predictor.shape;
        let heldf = fidelity(&tp.predictor, held, device);
        let trainf = fidelity(&tp.predictor, train, device);
        let dims: Vec<(usize, usize)> = label
            .layout
            .blocks
            .iter()
            .map(|b| (b.d_in, b.d_out))
            .collect();
        let tenth = (tp.losses.len() / 10).max(1).min(tp.losses.len());
        let summary = PredictorSummary {
            retriever: label.retriever.to_string(),
            method: label.method.to_string(),
            k: label.k,
            term: label.term.to_string(),
            params: shape.params(),
            naive_head_params: shape.naive_head_params(&dims, label.rank),
            backbone_params: label.backbone_params,
            blocks: shape.blocks,
            basis_rank: shape.r,
            loss_start: mean(&tp.losses[..tenth]),
            loss_end: mean(&tp.losses[tp.losses.len() - tenth..]),
            heldout_cosine: heldf.cosine,
            heldout_norm_ratio: heldf.norm_ratio,
            heldout_ceiling: heldf.ceiling,
            heldout_mean_cosine: mean_target_cosine(train, held, shape.blocks),
            train_cosine: trainf.cosine,
            seconds: tp.seconds,
        };
        // Collapse on held-out contexts: predictions vs targets, same task vs other tasks.
        let held_ctx: Vec<&TargetContext<'_>> =
            self.contexts.iter().filter(|c| c.heldout).collect();
        let hb: Vec<&[f32]> = held_ctx.iter().map(|c| c.hbar).collect();
        let coeffs = predict_coefficients(&tp.predictor, &hb, device);
        // Per evaluated task: its held-out contexts' predicted coefficients and targets.
        let groups: Vec<(Vec<&[f32]>, Vec<&FactoredDelta>)> = self
            .tasks
            .iter()
            .map(|key| {
                let idx = (0..held_ctx.len()).filter(|&i| held_ctx[i].task == key);
                idx.map(|i| (coeffs[i].as_slice(), held_ctx[i].delta))
                    .unzip()
            })
            .collect();
        let (mut pw, mut pa, mut tw, mut ta) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (a, (ca, da)) in groups.iter().enumerate() {
            pw.push(mean_pairwise_cos_coeffs(ca, ca, shape.blocks, true));
            tw.push(mean_pairwise_cos_targets(da, da, true));
            for (cb, db) in groups.iter().skip(a + 1) {
                pa.push(mean_pairwise_cos_coeffs(ca, cb, shape.blocks, false));
                ta.push(mean_pairwise_cos_targets(da, db, false));
            }
        }
        let finite_mean = |v: &[f64]| {
            let f: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
            f.iter().sum::<f64>() / f.len().max(1) as f64
        };
        let collapse = CollapseSummary {
            retriever: label.retriever.to_string(),
            method: label.method.to_string(),
            predicted_within: finite_mean(&pw),
            predicted_across: finite_mean(&pa),
            target_within: finite_mean(&tw),
            target_across: finite_mean(&ta),
            deployed_within: Default::default(),
            deployed_across: f64::NAN,
        };
        (summary, collapse)
    }
}
