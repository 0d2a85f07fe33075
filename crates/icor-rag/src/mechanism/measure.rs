//! One context measured: the query read alone, with its demonstrations in context (right,
//! reordered, answers shuffled, another context's), and after a gradient step on the Q/K/V
//! interface (dense, or `W_0^ret`'s LoRA factors: [`Space`]) taken on each demonstration set
//! (and on random updates of the same size), for every interface and η; then every effect
//! and every compared pair.

use std::collections::BTreeMap;
use std::time::Instant;

use icor_llm::{Adaptation, Llm};

use super::effect::Effect;
use super::pair::PairMetrics;
use super::readout::{Readout, read};
use super::record::{ContextRecord, Point, Tokens, gd_key, pair_key};
use super::segments::Teacher;
use super::segments::{Segments, examples};
use super::settings::{InterfaceSpec, Settings};
use super::space::Space;
use super::update::Update;
use crate::error::Result;
use crate::experiment::prompt::Instance;
use crate::method::frozen::FrozenStates;

/// The three demonstration sets a step is taken on.
pub const DEMO_SETS: [&str; 3] = ["right", "shuffled", "other"];

/// What one context needs: its segments, the same with deranged answers, and its partner's
/// demonstration blocks.
pub struct ContextInput<'a> {
    pub index: usize,
    pub partner: usize,
    pub query: String,
    pub demos: Vec<String>,
    pub right: &'a Segments,
    pub shuffled: &'a Segments,
    pub other: &'a Segments,
}

/// A measured context: its record and the vectors the cross-context baseline needs
/// (centred first-answer log-probability changes of the whole and demo-specific effects).
pub struct Measured {
    pub record: ContextRecord,
    pub vectors: Vec<(String, Vec<f32>)>,
}

/// Measures contexts with one model and one set of settings.
pub struct Measurer<'a> {
    pub model: &'a Llm,
    pub settings: &'a Settings,
    /// What the steps move (and what every read applies).
    pub space: Space<'a>,
}

/// Every effect of one context, by name (see [`super::record`]).
struct Effects {
    map: BTreeMap<String, Effect>,
}

impl Effects {
    fn get(&self, k: &str) -> &Effect {
        &self.map[k]
    }

    fn insert(&mut self, k: impl Into<String>, e: Effect) {
        self.map.insert(k.into(), e);
    }
}

/// What every stage of one context reads: the query alone and its readout.
struct Query {
    alone: Teacher,
    base: Readout,
}

impl Measurer<'_> {
    /// The first layer of the top-`top` interface (`0`: every layer the space has).
    fn split(&self, top: usize) -> usize {
        let n = self.model.config.n_layers;
        let lowest = self.space.first_layer();
        if top == 0 || top >= n {
            lowest
        } else {
            (n - top).max(lowest)
        }
    }

    /// Every stage of one context: the query alone, the in-context effects, the gradients,
    /// each interface's update effects, then the summaries, pairs and vectors.
    pub fn measure(&self, c: &ContextInput<'_>) -> Result<Measured> {
        let started = Instant::now();
        let alone = c.right.query_alone();
        let base = read(
            self.model,
            &mut FrozenStates::new(0),
            &alone,
            &self.space.base(),
            None,
        )?;
        let q = Query { alone, base };
        let mut fx = Effects {
            map: BTreeMap::new(),
        };
        let in_context = self.in_context(c, &q, &mut fx)?;
        let sets: [Vec<Instance>; 3] = [
            c.right.gd_examples(),
            c.shuffled.gd_examples(),
            examples(&c.right.prefix, &c.other.demos),
        ];
        let mut record = ContextRecord {
            index: c.index,
            partner: c.partner,
            query: c.query.clone(),
            demos: c.demos.clone(),
            tokens: Tokens {
                query_alone: q.alone.ids.len(),
                in_context,
                examples: sets[0]
                    .iter()
                    .map(|e| e.prompt.len() + e.answer.len())
                    .sum(),
                answer: q.alone.answer_len,
            },
            losses: BTreeMap::new(),
            update_norms: BTreeMap::new(),
            random_scale: BTreeMap::new(),
            effects: BTreeMap::new(),
            pairs: BTreeMap::new(),
            seconds: 0.0,
        };
        let grads = self.gradients(&sets, &mut record)?;
        for spec in &self.settings.interfaces {
            self.interface(
                c.index,
                spec,
                &q,
                &sets,
                grads.as_deref(),
                &mut record,
                &mut fx,
            )?;
        }
        let spec = fx.get("icl/right").minus(fx.get("icl/other"));
        fx.insert("icl/specific", spec);
        let vectors = self.finish(&fx, &mut record);
        record.seconds = started.elapsed().as_secs_f64();
        Ok(Measured { record, vectors })
    }

    /// `Δ_ICL` with these demonstrations, reversed, answers shuffled, and another context's;
    /// returns the in-context prompt's length.
    fn in_context(&self, c: &ContextInput<'_>, q: &Query, fx: &mut Effects) -> Result<usize> {
        let n = c.right.demos.len();
        let order: Vec<usize> = (0..n).collect();
        let reversed: Vec<usize> = (0..n).rev().collect();
        let right = c.right.in_context(&order);
        let len = right.ids.len();
        let seqs = [
            ("icl/right", right),
            ("icl/reordered", c.right.in_context(&reversed)),
            ("icl/shuffled", c.shuffled.in_context(&order)),
            ("icl/other", c.right.in_context_with(&c.other.demos)),
        ];
        for (name, seq) in &seqs {
            let r = read(
                self.model,
                &mut FrozenStates::new(0),
                seq,
                &self.space.base(),
                None,
            )?;
            fx.insert(*name, Effect::between(&q.base, &r));
        }
        Ok(len)
    }

    /// K = 1: one gradient per demonstration set, on the widest interface, serves every
    /// interface (its restriction to their layers) and η. K > 1: none (each interface and η
    /// steps on its own).
    fn gradients(
        &self,
        sets: &[Vec<Instance>; 3],
        record: &mut ContextRecord,
    ) -> Result<Option<Vec<Update>>> {
        if self.settings.steps != 1 {
            return Ok(None);
        }
        let widest = self
            .settings
            .interfaces
            .iter()
            .map(|i| self.split(i.top_layers))
            .min();
        let zero = self.space.zeros(self.model, widest.unwrap_or(0))?;
        let mut gs = Vec::new();
        for (name, ex) in DEMO_SETS.iter().zip(sets) {
            let (g, loss) = self.space.gradient(self.model, ex, &zero)?;
            record.losses.insert((*name).into(), vec![loss]);
            gs.push(g);
        }
        Ok(Some(gs))
    }

    /// One interface at every η of its grid and every step k = 1…K.
    #[allow(clippy::too_many_arguments)]
    fn interface(
        &self,
        index: usize,
        spec: &InterfaceSpec,
        q: &Query,
        sets: &[Vec<Instance>; 3],
        grads: Option<&[Update]>,
        record: &mut ContextRecord,
        fx: &mut Effects,
    ) -> Result<()> {
        let split = self.split(spec.top_layers);
        let iface = spec.name();
        let mut frozen = self.space.frozen(split);
        for (ei, &eta) in spec.etas.iter().enumerate() {
            // snapshots[set][k − 1]: the update after k steps on each demonstration set.
            let mut snapshots: Vec<Vec<Update>> = Vec::new();
            for (si, name) in DEMO_SETS.iter().enumerate() {
                snapshots.push(match grads {
                    Some(gs) => vec![gs[si].restrict(split)?.scaled(-eta)],
                    None => {
                        let (u, losses) = self.space.gd_steps(
                            self.model,
                            &sets[si],
                            split,
                            eta,
                            self.settings.steps,
                        )?;
                        record
                            .losses
                            .insert(format!("{name}/{iface}/{eta:e}"), losses);
                        u
                    }
                });
            }
            for k in 1..=snapshots[0].len() {
                let p = Point { eta, k };
                let updates: Vec<&Update> = snapshots.iter().map(|s| &s[k - 1]).collect();
                let seed = self.settings.seed
                    ^ ((index as u64) << 20)
                    ^ ((spec.top_layers as u64) << 8)
                    ^ ((k as u64 - 1) << 40)
                    ^ ei as u64;
                self.point(&iface, p, seed, &updates, &mut frozen, q, record, fx)?;
            }
        }
        Ok(())
    }

    /// The effects of one (η, k): the step on each demonstration set, the random update of
    /// the same block norms, the same rescaled, and the demo-specific part.
    #[allow(clippy::too_many_arguments)]
    fn point(
        &self,
        iface: &str,
        p: Point,
        seed: u64,
        updates: &[&Update],
        frozen: &mut FrozenStates,
        q: &Query,
        record: &mut ContextRecord,
        fx: &mut Effects,
    ) -> Result<()> {
        let random = updates[0].random_like(seed);
        let named = DEMO_SETS
            .iter()
            .copied()
            .zip(updates.iter().copied())
            .chain([("random", &random)]);
        for (name, u) in named {
            let key = gd_key(iface, p, name);
            fx.insert(key.clone(), self.update_effect(frozen, q, u)?);
            record.update_norms.insert(key, u.norm());
        }
        // The random update rescaled to move the output as far as the step does.
        let want = fx.get(&gd_key(iface, p, "right")).summary().norm_centred;
        let got = fx.get(&gd_key(iface, p, "random")).summary().norm_centred;
        let scale = if got > 0.0 { want / got } else { 1.0 };
        let scaled = random.scaled(scale);
        let key = gd_key(iface, p, "random-scaled");
        fx.insert(key.clone(), self.update_effect(frozen, q, &scaled)?);
        record.update_norms.insert(key.clone(), scaled.norm());
        record.random_scale.insert(key, scale);
        let spec = fx
            .get(&gd_key(iface, p, "right"))
            .minus(fx.get(&gd_key(iface, p, "other")));
        fx.insert(gd_key(iface, p, "specific"), spec);
        Ok(())
    }

    fn update_effect(&self, frozen: &mut FrozenStates, q: &Query, u: &Update) -> Result<Effect> {
        let adapter = self
            .space
            .adapter(self.model, u, self.model.device(), false)?;
        let r = read(
            self.model,
            frozen,
            &q.alone,
            &Adaptation::lora(&adapter),
            Some(&q.base),
        )?;
        Ok(Effect::between(&q.base, &r))
    }

    /// Every effect's summary and every pair into the record; returns the vectors the
    /// cross-context baseline reads (centred, whole and demo-specific).
    fn finish(&self, fx: &Effects, record: &mut ContextRecord) -> Vec<(String, Vec<f32>)> {
        for (k, e) in &fx.map {
            record.effects.insert(k.clone(), e.summary());
        }
        for (a, b) in pairs(self.settings) {
            let m = PairMetrics::of(fx.get(&a), fx.get(&b));
            record.pairs.insert(pair_key(&a, &b), m);
        }
        fx.map
            .iter()
            .filter(|(k, _)| k.starts_with("gd/") || *k == "icl/right" || *k == "icl/specific")
            .filter(|(k, _)| k.ends_with("/right") || k.ends_with("/specific"))
            .map(|(k, e)| (k.clone(), e.centred().iter().map(|&x| x as f32).collect()))
            .collect()
    }
}

/// Every compared pair `(a, b)`.
pub fn pairs(s: &Settings) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = [
        ("icl/right", "icl/reordered"),
        ("icl/right", "icl/other"),
        ("icl/right", "icl/shuffled"),
    ]
    .iter()
    .map(|(a, b)| ((*a).into(), (*b).into()))
    .collect();
    for spec in &s.interfaces {
        let iface = spec.name();
        for p in spec.points(s.steps) {
            let g = |k: &str| gd_key(&iface, p, k);
            for kind in ["right", "shuffled", "other", "random", "random-scaled"] {
                out.push(("icl/right".into(), g(kind)));
            }
            out.push(("icl/shuffled".into(), g("shuffled")));
            out.push(("icl/other".into(), g("other")));
            out.push(("icl/other".into(), g("right")));
            out.push(("icl/reordered".into(), g("right")));
            out.push(("icl/specific".into(), g("specific")));
        }
    }
    out
}
