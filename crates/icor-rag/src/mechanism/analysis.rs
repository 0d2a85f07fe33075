//! From the per-context records to the study's findings: the one η fitted on the fit split,
//! every metric's mean with a 95 % bootstrap CI over the reported contexts, paired differences
//! against each control, the permutation baseline of the demo-specific agreement, and a
//! verdict by stated rules.

use std::path::Path;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::cross::{Cross, icl_of};
use super::record::{ContextRecord, Point, gd_key, pair_key};
use super::settings::{InterfaceSpec, Settings};
use super::study::context_stamp;
use crate::analysis::stats::{Estimate, Paired, bootstrap_avg, nan_if_null, paired};
use crate::error::Result;

const RESAMPLES: usize = 2000;

/// The update-side comparisons, in the report's order: (label, kind of update).
pub const UPDATE_ROWS: [(&str, &str); 5] = [
    ("step on these demonstrations", "right"),
    ("step, answers shuffled", "shuffled"),
    ("step on another context's demonstrations", "other"),
    ("random update, equal per-matrix norms", "random"),
    (
        "random update, rescaled to move the output as far",
        "random-scaled",
    ),
];

/// One metric over the reported contexts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    pub label: String,
    /// The pair's name in the records.
    pub pair: String,
    pub cos: Estimate,
    pub cos_centred: Estimate,
    pub top1_agree: Estimate,
    /// Cosine of the gold answer tokens' log-probability changes (teacher-forced).
    pub gold_cos: Estimate,
    /// Mean SimAOU over the adapted layers.
    pub attn: Estimate,
    /// `cos_centred` of the main comparison minus this row's, paired over contexts.
    pub main_minus_this: Option<Paired>,
}

/// One point of the η grid (after k steps), fitted on the fit split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GridPoint {
    pub eta: f64,
    #[serde(default = "one")]
    pub k: usize,
    /// `Σ‖Δ_ICL − Δ_GD(η)‖² / Σ‖Δ_ICL‖²` over the fit split (centred; 1 = no update).
    #[serde(deserialize_with = "nan_if_null")]
    pub residual: f64,
}

/// The one η for all contexts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EtaFit {
    pub grid: Vec<GridPoint>,
    /// The grid η (and step count) with the least residual.
    pub best: f64,
    #[serde(default = "one")]
    pub best_k: usize,
    /// Least squares under linearity from the smallest η: `η₀ Σ⟨Δ_ICL, Δ_GD(η₀)⟩ / Σ‖Δ_GD(η₀)‖²`
    /// (negative: the step's direction is anti-aligned with the in-context effect).
    #[serde(deserialize_with = "nan_if_null")]
    pub least_squares: f64,
    /// The η at which the step moves the output as far as the demonstrations do (median
    /// over the fit split of `η₀ ‖Δ_ICL‖ / ‖Δ_GD(η₀)‖`).
    #[serde(deserialize_with = "nan_if_null")]
    pub size_match: f64,
    pub fit_contexts: usize,
}

/// The demo-specific parts `s = Δ(right) − Δ(other)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Specific {
    /// `cos(s_ICL, s_GD)`, centred, matched contexts.
    pub matched: Estimate,
    /// The same with `s_GD` of every other context sharing no demonstration (per context the
    /// mean over them), and matched minus that.
    pub permuted: Estimate,
    pub matched_minus_permuted: Paired,
    /// The whole effects under the same permutation: `cos(Δ_ICL_i, Δ_GD_j)`.
    pub whole_matched: Estimate,
    pub whole_permuted: Estimate,
    pub whole_matched_minus_permuted: Paired,
    /// `‖s‖ / ‖Δ‖` (centred) on each side.
    pub share_icl: Estimate,
    pub share_gd: Estimate,
    /// Cosines of the 2×2: rows in-context demonstrations (right, other), columns the step's.
    pub two_by_two: [[Estimate; 2]; 2],
    pub permutation_pairs: usize,
}

/// Gold-answer agreement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gold {
    /// Share of contexts where both changes of `log p(a)` have the same sign.
    pub sign_agree: Estimate,
    /// Pearson correlation of the two changes over contexts, with a bootstrap CI.
    pub correlation: Estimate,
    /// Mean change of `log p(a)` in context and under the step.
    pub icl_change: Estimate,
    pub gd_change: Estimate,
}

/// Everything at one η (after k steps) of one interface.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AtEta {
    pub eta: f64,
    #[serde(default = "one")]
    pub k: usize,
    pub fitted: bool,
    pub rows: Vec<Row>,
    /// In-context controls against the step on these demonstrations.
    pub icl_rows: Vec<Row>,
    pub specific: Specific,
    pub gold: Gold,
    /// Share of contexts whose top-1 the demonstrations change, and the share of those the
    /// step changes to the same token.
    pub top1_changed_icl: Estimate,
    pub top1_reproduced: Estimate,
    /// `‖Δ_GD‖ / ‖Δ_ICL‖`, centred.
    pub norm_ratio: Estimate,
    /// Per layer SimAOU of the step and of the rescaled random update.
    pub attn_layers: Vec<Estimate>,
    pub attn_layers_random: Vec<Estimate>,
}

/// One interface.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Interface {
    pub name: String,
    pub eta: EtaFit,
    pub at: Vec<AtEta>,
    pub verdict_whole: String,
    pub verdict_specific: String,
}

/// The in-context side alone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InContext {
    /// Centred cosine of `Δ_ICL` with the demonstrations in reverse order.
    pub order_cos: Estimate,
    pub other_cos: Estimate,
    pub shuffled_cos: Estimate,
    /// Share of `‖Δ_ICL‖²` that is the common shift over the vocabulary.
    pub shift_share: Estimate,
    pub top1_changed: Estimate,
    pub gold_change: Estimate,
    /// `‖Δ_ICL(reordered) − Δ_ICL‖ / ‖Δ_ICL‖`, centred-cosine based: `√(2 − 2 cos)`.
    pub order_distance: Estimate,
}

/// The study's findings for one model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Analysis {
    /// The study's name (its run folder and file stem), set when the file is read back.
    #[serde(default, skip_serializing)]
    pub name: String,
    pub settings: Settings,
    pub model_sha256: String,
    pub n_layers: usize,
    pub vocab: usize,
    pub measured: usize,
    pub reported: usize,
    pub complete: bool,
    /// Median seconds per context and its sequences' token counts.
    #[serde(deserialize_with = "nan_if_null")]
    pub seconds_median: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub tokens_in_context_median: f64,
    pub in_context: InContext,
    pub interfaces: Vec<Interface>,
}

/// Files written before K > 1 existed read as one step.
fn one() -> usize {
    1
}

impl AtEta {
    /// `η`, or `η×k` after k > 1 steps.
    pub fn label(&self) -> String {
        Point {
            eta: self.eta,
            k: self.k,
        }
        .label()
    }
}

fn est(v: &[f64], seed: u64) -> Estimate {
    bootstrap_avg(&[v.to_vec()], RESAMPLES, seed)
}

fn b2f(b: bool) -> f64 {
    if b { 1.0 } else { 0.0 }
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Pearson correlation with a bootstrap CI over contexts.
pub fn correlation(x: &[f64], y: &[f64], seed: u64) -> Estimate {
    fn r(x: &[f64], y: &[f64]) -> f64 {
        let n = x.len() as f64;
        let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
        let sxy: f64 = x.iter().zip(y).map(|(a, b)| (a - mx) * (b - my)).sum();
        let sxx: f64 = x.iter().map(|a| (a - mx) * (a - mx)).sum();
        let syy: f64 = y.iter().map(|b| (b - my) * (b - my)).sum();
        if sxx > 0.0 && syy > 0.0 {
            sxy / (sxx * syy).sqrt()
        } else {
            0.0
        }
    }
    let n = x.len();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut reps: Vec<f64> = (0..if n > 2 { RESAMPLES } else { 0 })
        .map(|_| {
            let idx: Vec<usize> = (0..n).map(|_| rng.random_range(0..n)).collect();
            let xs: Vec<f64> = idx.iter().map(|&i| x[i]).collect();
            let ys: Vec<f64> = idx.iter().map(|&i| y[i]).collect();
            r(&xs, &ys)
        })
        .collect();
    reps.sort_by(f64::total_cmp);
    let q = |p: f64| {
        if reps.is_empty() {
            f64::NAN
        } else {
            reps[((reps.len() - 1) as f64 * p).round() as usize]
        }
    };
    Estimate {
        mean: if n > 1 { r(x, y) } else { f64::NAN },
        lo: q(0.025),
        hi: q(0.975),
        n,
    }
}

struct Ctx<'a> {
    fit: Vec<&'a ContextRecord>,
    rep: Vec<&'a ContextRecord>,
    seed: u64,
}

impl Ctx<'_> {
    fn pair_values(&self, pair: &str, f: impl Fn(&super::pair::PairMetrics) -> f64) -> Vec<f64> {
        self.rep
            .iter()
            .filter_map(|r| r.pairs.get(pair).map(&f))
            .collect()
    }

    fn row(&self, label: &str, pair: String, main: Option<&str>) -> Row {
        let cc = self.pair_values(&pair, |m| m.cos_centred);
        let main_minus_this = main.map(|m| {
            let a = self.pair_values(m, |p| p.cos_centred);
            paired(&[a], &[cc.clone()], RESAMPLES, self.seed)
        });
        Row {
            label: label.into(),
            cos: est(&self.pair_values(&pair, |m| m.cos), self.seed),
            cos_centred: est(&cc, self.seed),
            top1_agree: est(&self.pair_values(&pair, |m| b2f(m.top1_agree)), self.seed),
            gold_cos: est(&self.pair_values(&pair, |m| m.gold_cos), self.seed),
            attn: est(&self.pair_values(&pair, |m| m.attn_mean()), self.seed),
            main_minus_this,
            pair,
        }
    }
}

/// Analyses a study's records (`out` holds the vectors for the permutation baseline).
pub fn analyse(
    s: &Settings,
    records: &[ContextRecord],
    out: &Path,
    model_sha256: &str,
    n_layers: usize,
    vocab: usize,
) -> Result<Analysis> {
    let seed = s.seed ^ 0x6d65_6368;
    let cx = Ctx {
        fit: records.iter().filter(|r| s.is_fit(r.index)).collect(),
        rep: records.iter().filter(|r| !s.is_fit(r.index)).collect(),
        seed,
    };
    let idx: Vec<usize> = cx.rep.iter().map(|r| r.index).collect();
    let cross = Cross::update(out, &context_stamp(s, model_sha256), &idx, &cross_names(s))?;
    let icl = |k: &str, f: &dyn Fn(&super::effect::EffectSummary) -> f64| -> Vec<f64> {
        cx.rep.iter().map(|r| f(&r.effects[k])).collect()
    };
    let order = cx.pair_values(&pair_key("icl/right", "icl/reordered"), |m| m.cos_centred);
    let in_context = InContext {
        order_distance: est(
            &order
                .iter()
                .map(|c| (2.0 - 2.0 * c).max(0.0).sqrt())
                .collect::<Vec<_>>(),
            seed,
        ),
        order_cos: est(&order, seed),
        other_cos: est(
            &cx.pair_values(&pair_key("icl/right", "icl/other"), |m| m.cos_centred),
            seed,
        ),
        shuffled_cos: est(
            &cx.pair_values(&pair_key("icl/right", "icl/shuffled"), |m| m.cos_centred),
            seed,
        ),
        shift_share: est(
            &icl("icl/right", &|e| {
                if e.norm > 0.0 {
                    vocab as f64 * e.shift * e.shift / (e.norm * e.norm)
                } else {
                    0.0
                }
            }),
            seed,
        ),
        top1_changed: est(&icl("icl/right", &|e| b2f(e.top1_changed)), seed),
        gold_change: est(&icl("icl/right", &|e| e.gold), seed),
    };
    let interfaces = s
        .interfaces
        .iter()
        .map(|spec| {
            interface(
                &cx,
                &cross,
                spec,
                s.steps,
                n_layers - split_of(spec.top_layers, n_layers),
            )
        })
        .collect();
    Ok(Analysis {
        name: String::new(),
        settings: s.clone(),
        model_sha256: model_sha256.into(),
        n_layers,
        vocab,
        measured: records.len(),
        reported: cx.rep.len(),
        complete: records.len() == s.contexts,
        seconds_median: median(records.iter().map(|r| r.seconds).collect()),
        tokens_in_context_median: median(
            records.iter().map(|r| r.tokens.in_context as f64).collect(),
        ),
        in_context,
        interfaces,
    })
}

fn split_of(top: usize, n: usize) -> usize {
    if top == 0 || top >= n { 0 } else { n - top }
}

/// Per reported context `i` with both numbers: (matched `cos(icl_i, gd_i)`, centred, from the
/// record; mean `cos(icl_i, gd_j)` over every other context `j` sharing no demonstration,
/// from the kept cross cosines), and the number of cross pairs.
fn permutation(cx: &Ctx<'_>, cross: &Cross, gd_name: &str) -> (Vec<f64>, Vec<f64>, usize) {
    let idx: Vec<usize> = cx.rep.iter().map(|r| r.index).collect();
    let (perm, pairs) = cross.permuted(gd_name, &idx);
    let key = pair_key(icl_of(gd_name), gd_name);
    let (mut matched, mut permuted) = (Vec::new(), Vec::new());
    for r in &cx.rep {
        if let (Some(m), Some(p)) = (r.pairs.get(&key), perm.get(&r.index)) {
            matched.push(m.cos_centred);
            permuted.push(*p);
        }
    }
    (matched, permuted, pairs)
}

/// Every step vector the cross cosines cover.
pub fn cross_names(s: &Settings) -> Vec<String> {
    s.interfaces
        .iter()
        .flat_map(|i| {
            i.points(s.steps)
                .into_iter()
                .flat_map(move |p| ["right", "specific"].map(|k| gd_key(&i.name(), p, k)))
        })
        .collect()
}

fn interface(
    cx: &Ctx<'_>,
    v: &Cross,
    spec: &InterfaceSpec,
    steps: usize,
    layers: usize,
) -> Interface {
    let name = &spec.name();
    let points = spec.points(steps);
    // η (and K) fit on the fit split, centred vectors.
    let grid: Vec<GridPoint> = points
        .iter()
        .map(|&p| {
            let k = gd_key(name, p, "right");
            let (mut num, mut den) = (0.0, 0.0);
            for r in &cx.fit {
                let a = r.effects["icl/right"].norm_centred;
                let b = r.effects[&k].norm_centred;
                let ab = r.pairs[&pair_key("icl/right", &k)].inner_centred;
                num += a * a - 2.0 * ab + b * b;
                den += a * a;
            }
            GridPoint {
                eta: p.eta,
                k: p.k,
                residual: if den > 0.0 { num / den } else { f64::NAN },
            }
        })
        .collect();
    let best = grid
        .iter()
        .min_by(|a, b| a.residual.total_cmp(&b.residual))
        .map_or(points[0], |g| Point { eta: g.eta, k: g.k });
    let eta0 = spec.etas.iter().copied().fold(f64::INFINITY, f64::min);
    let k0 = gd_key(name, Point { eta: eta0, k: 1 }, "right");
    let (mut ab, mut bb, mut ratios) = (0.0, 0.0, Vec::new());
    for r in &cx.fit {
        let b = r.effects[&k0].norm_centred;
        ab += r.pairs[&pair_key("icl/right", &k0)].inner_centred;
        bb += b * b;
        if b > 0.0 {
            ratios.push(eta0 * r.effects["icl/right"].norm_centred / b);
        }
    }
    let eta = EtaFit {
        grid,
        best: best.eta,
        best_k: best.k,
        least_squares: if bb > 0.0 { eta0 * ab / bb } else { f64::NAN },
        size_match: median(ratios),
        fit_contexts: cx.fit.len(),
    };
    let at: Vec<AtEta> = points
        .iter()
        .map(|&p| at_eta(cx, v, name, p, p == best, layers))
        .collect();
    let fitted = at.iter().find(|a| a.fitted).unwrap_or(&at[0]);
    let (verdict_whole, verdict_specific) = verdicts(fitted);
    Interface {
        name: name.into(),
        eta,
        at,
        verdict_whole,
        verdict_specific,
    }
}

fn at_eta(cx: &Ctx<'_>, v: &Cross, name: &str, p: Point, fitted: bool, layers: usize) -> AtEta {
    let seed = cx.seed;
    let g = |k: &str| gd_key(name, p, k);
    let main = pair_key("icl/right", &g("right"));
    let rows = UPDATE_ROWS
        .iter()
        .map(|(label, kind)| {
            let pair = pair_key("icl/right", &g(kind));
            let m = (*kind != "right").then_some(main.as_str());
            cx.row(label, pair, m)
        })
        .collect();
    let icl_rows = vec![
        cx.row(
            "demonstrations in reverse order",
            pair_key("icl/reordered", &g("right")),
            Some(&main),
        ),
        cx.row(
            "answers shuffled, in context and in the step",
            pair_key("icl/shuffled", &g("shuffled")),
            None,
        ),
        cx.row(
            "another context's demonstrations, in context and in the step",
            pair_key("icl/other", &g("other")),
            None,
        ),
    ];
    let (sm, sp, pairs) = permutation(cx, v, &g("specific"));
    let (wm, wp, _) = permutation(cx, v, &g("right"));
    let share = |k: &str, whole: &str| -> Vec<f64> {
        cx.rep
            .iter()
            .map(|r| {
                let w = r.effects[whole].norm_centred;
                if w > 0.0 {
                    r.effects[k].norm_centred / w
                } else {
                    0.0
                }
            })
            .collect()
    };
    let cc = |a: &str, b: &str| est(&cx.pair_values(&pair_key(a, b), |m| m.cos_centred), seed);
    let specific = Specific {
        matched: est(&sm, seed),
        permuted: est(&sp, seed),
        matched_minus_permuted: paired(&[sm.clone()], &[sp.clone()], RESAMPLES, seed),
        whole_matched: est(&wm, seed),
        whole_permuted: est(&wp, seed),
        whole_matched_minus_permuted: paired(&[wm.clone()], &[wp.clone()], RESAMPLES, seed),
        share_icl: est(&share("icl/specific", "icl/right"), seed),
        share_gd: est(&share(&g("specific"), &g("right")), seed),
        two_by_two: [
            [cc("icl/right", &g("right")), cc("icl/right", &g("other"))],
            [cc("icl/other", &g("right")), cc("icl/other", &g("other"))],
        ],
        permutation_pairs: pairs,
    };
    let gi: Vec<f64> = cx.rep.iter().map(|r| r.effects["icl/right"].gold).collect();
    let gg: Vec<f64> = cx.rep.iter().map(|r| r.effects[&g("right")].gold).collect();
    let gold = Gold {
        sign_agree: est(
            &gi.iter()
                .zip(&gg)
                .map(|(a, b)| b2f(a.signum() == b.signum()))
                .collect::<Vec<_>>(),
            seed,
        ),
        correlation: correlation(&gi, &gg, seed),
        icl_change: est(&gi, seed),
        gd_change: est(&gg, seed),
    };
    let changed: Vec<&&ContextRecord> = cx
        .rep
        .iter()
        .filter(|r| r.effects["icl/right"].top1_changed)
        .collect();
    let reproduced: Vec<f64> = changed
        .iter()
        .map(|r| b2f(r.pairs[&main].top1_reproduced))
        .collect();
    let layer_est = |pair: &str| -> Vec<Estimate> {
        let n = cx.rep.first().map_or(0, |r| r.pairs[pair].attn_cos.len());
        (n.saturating_sub(layers)..n)
            .map(|l| est(&cx.pair_values(pair, |m| m.attn_cos[l]), seed))
            .collect()
    };
    AtEta {
        eta: p.eta,
        k: p.k,
        fitted,
        rows,
        icl_rows,
        specific,
        gold,
        top1_changed_icl: est(
            &cx.rep
                .iter()
                .map(|r| b2f(r.effects["icl/right"].top1_changed))
                .collect::<Vec<_>>(),
            seed,
        ),
        top1_reproduced: est(&reproduced, seed),
        norm_ratio: est(
            &cx.rep
                .iter()
                .map(|r| {
                    let a = r.effects["icl/right"].norm_centred;
                    if a > 0.0 {
                        r.effects[&g("right")].norm_centred / a
                    } else {
                        0.0
                    }
                })
                .collect::<Vec<_>>(),
            seed,
        ),
        attn_layers: layer_est(&main),
        attn_layers_random: layer_est(&pair_key("icl/right", &g("random-scaled"))),
    }
}

/// The rules, applied at the fitted η (stated in the report):
/// - whole effect: **holds** when the step on these demonstrations agrees with `Δ_ICL`
///   (centred cosine) better than the rescaled random update, the paired CI above 0, and the
///   mean centred cosine is ≥ 0.5; **above the random control, but weak** when the CI is
///   above 0 and the cosine below 0.5; **does not hold** when the paired CI contains 0 and
///   is narrower than ±0.05, or sits below 0; otherwise **inconclusive**;
/// - demo-specific part: the same with matched − permuted (threshold 0.3 on the matched
///   cosine).
pub fn verdicts(a: &AtEta) -> (String, String) {
    let rnd = a.rows.iter().find(|r| r.pair.ends_with("/random-scaled"));
    let whole = match rnd.and_then(|r| r.main_minus_this) {
        Some(p) => rule(p.diff, a.rows[0].cos_centred.mean, 0.5),
        None => "inconclusive",
    };
    let spec = rule(
        a.specific.matched_minus_permuted.diff,
        a.specific.matched.mean,
        0.3,
    );
    (whole.into(), spec.into())
}

fn rule(d: Estimate, cos: f64, strong: f64) -> &'static str {
    if d.lo > 0.0 && cos >= strong {
        "holds"
    } else if d.lo > 0.0 {
        "above the control, but weak"
    } else if d.hi < 0.0 || (d.hi - d.lo < 0.1) {
        "does not hold"
    } else {
        "inconclusive"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(mean: f64, lo: f64, hi: f64) -> Estimate {
        Estimate {
            mean,
            lo,
            hi,
            n: 50,
        }
    }

    #[test]
    fn verdict_rules_read_the_interval_and_the_threshold() {
        assert_eq!(rule(d(0.3, 0.2, 0.4), 0.6, 0.5), "holds");
        assert_eq!(
            rule(d(0.3, 0.2, 0.4), 0.4, 0.5),
            "above the control, but weak"
        );
        assert_eq!(rule(d(0.0, -0.04, 0.04), 0.6, 0.5), "does not hold");
        assert_eq!(rule(d(-0.2, -0.3, -0.1), 0.6, 0.5), "does not hold");
        assert_eq!(rule(d(0.05, -0.1, 0.2), 0.6, 0.5), "inconclusive");
    }

    #[test]
    fn correlation_is_pearson_with_an_interval_that_holds_it() {
        let x: Vec<f64> = (0..40).map(f64::from).collect();
        let y: Vec<f64> = x.iter().map(|v| 2.0 * v + 1.0).collect();
        let r = correlation(&x, &y, 1);
        assert!((r.mean - 1.0).abs() < 1e-12 && r.lo > 0.99);
        let z: Vec<f64> = x.iter().map(|v| -v).collect();
        assert!((correlation(&x, &z, 1).mean + 1.0).abs() < 1e-12);
        let noise: Vec<f64> = (0..40).map(|i| f64::from((i * 7919) % 13)).collect();
        let r = correlation(&x, &noise, 1);
        assert!(r.lo <= r.mean && r.mean <= r.hi);
    }
}
