//! One context measured: the query read alone, with its demonstrations in context (right,
//! reordered, answers shuffled, another context's), and after a gradient step on the dense
//! Q/K/V interface taken on each demonstration set (and on random updates of the same size),
//! for every interface and η; then every effect and every compared pair.

use std::collections::BTreeMap;
use std::time::Instant;

use icor_llm::{Adaptation, Llm};

use super::dense::{DenseUpdate, gd_steps, gradient};
use super::effect::Effect;
use super::pair::PairMetrics;
use super::readout::{Readout, read};
use super::record::{ContextRecord, Tokens, gd_key, pair_key};
use super::segments::{Segments, examples};
use super::settings::Settings;
use crate::error::Result;
use crate::frozen::FrozenStates;
use crate::prompt::Instance;

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
}

struct Effects {
    map: BTreeMap<String, Effect>,
}

impl Effects {
    fn get(&self, k: &str) -> &Effect {
        &self.map[k]
    }
}

impl Measurer<'_> {
    fn split(&self, top: usize) -> usize {
        let n = self.model.config.n_layers;
        if top == 0 || top >= n { 0 } else { n - top }
    }

    pub fn measure(&self, c: &ContextInput<'_>) -> Result<Measured> {
        let started = Instant::now();
        let s = self.settings;
        let model = self.model;
        let none = Adaptation::none();
        let mut full = FrozenStates::new(0);
        let alone = c.right.query_alone();
        let base = read(model, &mut full, &alone, &none, None)?;
        let n = c.right.demos.len();
        let order: Vec<usize> = (0..n).collect();
        let reversed: Vec<usize> = (0..n).rev().collect();
        let mut fx = Effects { map: BTreeMap::new() };
        let in_context = c.right.in_context(&order);
        let icl = [
            ("icl/right", in_context.clone()),
            ("icl/reordered", c.right.in_context(&reversed)),
            ("icl/shuffled", c.shuffled.in_context(&order)),
            ("icl/other", c.right.in_context_with(&c.other.demos)),
        ];
        for (name, seq) in &icl {
            let r = read(model, &mut full, seq, &none, None)?;
            fx.map.insert((*name).into(), Effect::between(&base, &r));
        }
        full.clear();
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
                query_alone: alone.ids.len(),
                in_context: in_context.ids.len(),
                examples: sets[0].iter().map(|e| e.prompt.len() + e.answer.len()).sum(),
                answer: alone.answer_len,
            },
            losses: BTreeMap::new(),
            update_norms: BTreeMap::new(),
            random_scale: BTreeMap::new(),
            effects: BTreeMap::new(),
            pairs: BTreeMap::new(),
            seconds: 0.0,
        };
        // K = 1: one gradient per demonstration set, on the widest interface, serves every
        // interface (its restriction to their layers) and η.
        let widest = s.interfaces.iter().map(|i| self.split(i.top_layers)).min().unwrap_or(0);
        let grads: Option<Vec<DenseUpdate>> = if s.steps == 1 {
            let mut gs = Vec::new();
            for (name, ex) in DEMO_SETS.iter().zip(&sets) {
                let (g, loss) = gradient(model, ex, &DenseUpdate::zeros(&model.config, widest))?;
                record.losses.insert((*name).into(), vec![loss]);
                gs.push(g);
            }
            Some(gs)
        } else {
            None
        };
        for spec in &s.interfaces {
            let top = spec.top_layers;
            let split = self.split(top);
            let iface = spec.name();
            let mut frozen = FrozenStates::new(split);
            for (ei, &eta) in spec.etas.iter().enumerate() {
                let mut updates = Vec::new();
                for (si, name) in DEMO_SETS.iter().enumerate() {
                    let u = match &grads {
                        Some(gs) => gs[si].restrict(split)?.scaled(-eta),
                        None => {
                            let (u, losses) = gd_steps(model, &sets[si], split, eta, s.steps)?;
                            record.losses.insert(format!("{name}/{iface}/{eta:e}"), losses);
                            u
                        }
                    };
                    updates.push(u);
                }
                let seed = s.seed ^ ((c.index as u64) << 20) ^ ((top as u64) << 8) ^ ei as u64;
                let random = updates[0].random_like(seed);
                let named = DEMO_SETS.iter().copied().zip(&updates).chain([("random", &random)]);
                for (name, u) in named {
                    let key = gd_key(&iface, eta, name);
                    let e = self.update_effect(&mut frozen, &alone, &base, u)?;
                    record.update_norms.insert(key.clone(), u.norm());
                    fx.map.insert(key, e);
                }
                // The random update rescaled to move the output as far as the step does.
                let want = fx.get(&gd_key(&iface, eta, "right")).summary().norm_centred;
                let got = fx.get(&gd_key(&iface, eta, "random")).summary().norm_centred;
                let scale = if got > 0.0 { want / got } else { 1.0 };
                let scaled = random.scaled(scale);
                let key = gd_key(&iface, eta, "random-scaled");
                let e = self.update_effect(&mut frozen, &alone, &base, &scaled)?;
                record.update_norms.insert(key.clone(), scaled.norm());
                record.random_scale.insert(key.clone(), scale);
                fx.map.insert(key, e);
                let spec = fx.get(&gd_key(&iface, eta, "right")).minus(fx.get(&gd_key(&iface, eta, "other")));
                fx.map.insert(gd_key(&iface, eta, "specific"), spec);
            }
        }
        let spec = fx.get("icl/right").minus(fx.get("icl/other"));
        fx.map.insert("icl/specific".into(), spec);
        for (k, e) in &fx.map {
            record.effects.insert(k.clone(), e.summary());
        }
        for (a, b) in pairs(s) {
            let m = PairMetrics::of(fx.get(&a), fx.get(&b));
            record.pairs.insert(pair_key(&a, &b), m);
        }
        let vectors = fx
            .map
            .iter()
            .filter(|(k, _)| k.ends_with("/right") || k.ends_with("/specific"))
            .filter(|(k, _)| !k.starts_with("icl/") || *k == "icl/right" || *k == "icl/specific")
            .map(|(k, e)| (k.clone(), e.centred().iter().map(|&x| x as f32).collect()))
            .collect();
        record.seconds = started.elapsed().as_secs_f64();
        Ok(Measured { record, vectors })
    }

    fn update_effect(
        &self,
        frozen: &mut FrozenStates,
        alone: &super::segments::Teacher,
        base: &Readout,
        u: &DenseUpdate,
    ) -> Result<Effect> {
        let adapter = u.adapter(self.model.device(), false);
        let r = read(self.model, frozen, alone, &Adaptation::lora(&adapter), Some(base))?;
        Ok(Effect::between(base, &r))
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
        for &eta in &spec.etas {
            let g = |k: &str| gd_key(&iface, eta, k);
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
