//! Stage 4: every registered method on the same questions, prompts, retrieval cache and
//! greedy decoding (Algorithm 1 for RAG-GD). The questions go in batches of
//! [`Deploy::batch_questions`]: their RAG prompts are left-padded together and prefilled once
//! through the frozen layers, and every method that reads them is decoded in one batch, one
//! row per (question, method, support seed); the few-shot prompts likewise. Each row decodes
//! as it would alone (`icor_llm::positions`). A subset of questions is also run method by
//! method, alone, to time each part of a query (retrieval, demonstration encoding, predictor,
//! gradient steps, generation).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use burn::tensor::Device;
use icor_llm::{Adaptation, GenerateOptions, Llm, LoraAdapter, LowRankDelta, RowDeltas};
use icor_qa::metrics::{AnswerPattern, HitRule, recall_hit, score};
use icor_qa::retrieve::Retriever;

use crate::baselines::prompt_tuning::SoftPrompt;
use crate::error::Result;
use crate::experiment::methods::{Method, MethodKind};
use crate::experiment::profile::Profile;
use crate::experiment::prompt::{Instance, Item, Prompter};
use crate::experiment::results::{CostSample, EvalSplit, QuestionRecord, SetRecord};
use crate::experiment::store::{Stamp, load_or_rebuild, save_json};
use crate::method::encode::{eos_states, mean_state};
use crate::method::factored::Basis;
use crate::method::frozen::FrozenStates;
use crate::method::meta::{coefficients_to_delta, predict_coefficients};
use crate::method::params::LoraLayout;
use crate::method::predictor::Predictor;
use crate::method::support::draw;
use crate::method::target::gd_steps;

/// A trained predictor with its bases.
#[derive(Debug, Clone)]
pub struct TrainedG {
    pub predictor: Predictor,
    pub bases: Vec<Basis>,
}

/// What deployment needs, shared by every set.
pub struct Deploy<'a> {
    pub model: &'a Llm,
    pub prompter: &'a Prompter<'a>,
    pub profile: &'a Profile,
    pub layout: &'a LoraLayout,
    pub w0_flat: &'a [f32],
    /// `W_0^ret` on the model's device.
    pub w0: &'a LoraAdapter,
    /// Per RAG-GD method id.
    pub predictors: &'a BTreeMap<String, TrainedG>,
    /// Prompt tuning's trained prefix (where the profile has it).
    pub soft: Option<&'a SoftPrompt>,
    pub methods: &'a [Method],
    /// Questions decoded as one batch ([`evaluate_set`]).
    pub batch_questions: usize,
}

/// A support pool with its demonstrations (as text for the few-shot prompts, tokenised for
/// the losses) and (lazily) their EOS states under `W_0^ret`.
pub struct Pool {
    pub key: String,
    pub items: Vec<Item>,
    pub instances: Vec<Instance>,
    eos: Vec<Option<Vec<f32>>>,
}

impl Pool {
    /// `items[i]` is the demonstration `instances[i]` was made from.
    pub fn new(key: String, items: Vec<Item>, instances: Vec<Instance>) -> Self {
        let n = instances.len();
        Self {
            key,
            items,
            instances,
            eos: vec![None; n],
        }
    }

    pub fn len(&self) -> usize {
        self.instances.len()
    }

    pub fn is_empty(&self) -> bool {
        self.instances.is_empty()
    }

    /// `h̄(C)` of the demonstrations `idx`, encoding those not yet encoded.
    pub fn pooled(
        &mut self,
        d: &Deploy<'_>,
        frozen: &mut FrozenStates,
        idx: &[usize],
    ) -> Result<Vec<f32>> {
        let missing: Vec<usize> = idx
            .iter()
            .copied()
            .filter(|&i| self.eos[i].is_none())
            .collect();
        if !missing.is_empty() {
            let demos: Vec<&Instance> = missing.iter().map(|&i| &self.instances[i]).collect();
            let states = eos_states(d.model, frozen, d.w0, &demos)?;
            for (i, s) in missing.into_iter().zip(states) {
                self.eos[i] = Some(s);
            }
        }
        let rows: Vec<&[f32]> = idx
            .iter()
            .map(|&i| self.eos[i].as_deref().unwrap_or(&[]))
            .collect();
        Ok(mean_state(&rows))
    }

    /// The demonstrations `idx`.
    pub fn context(&self, idx: &[usize]) -> Vec<&Instance> {
        idx.iter().map(|&i| &self.instances[i]).collect()
    }

    /// The demonstrations `idx` as text.
    pub fn context_items(&self, idx: &[usize]) -> Vec<&Item> {
        idx.iter().map(|&i| &self.items[i]).collect()
    }
}

/// The key support draws use for the per-task update (one context per task and seed).
pub const TASK_KEY: u64 = u64::MAX;

/// The support seed `s` of a profile.
pub fn support_seed(profile: &Profile, s: usize) -> u64 {
    profile.seed.wrapping_add(1000 + s as u64)
}

/// How one batch row is adapted.
enum Row {
    Bare,
    W0,
    W0Delta(LowRankDelta),
    Lora(LoraAdapter),
    /// The bare backbone behind prompt tuning's soft prefix.
    Soft,
}

impl Row {
    fn adaptation<'a>(&'a self, w0: &'a LoraAdapter) -> Adaptation<'a> {
        match self {
            Row::Bare | Row::Soft => Adaptation::none(),
            Row::W0 => Adaptation::lora(w0),
            Row::W0Delta(delta) => Adaptation::lora(w0).with_delta(delta),
            Row::Lora(l) => Adaptation::lora(l),
        }
    }
}

impl Deploy<'_> {
    fn opts(&self) -> GenerateOptions {
        GenerateOptions {
            max_new_tokens: self.profile.eval.max_new_tokens,
            stop_ids: self.prompter.tokenizer.stop_ids.clone(),
        }
    }

    fn decode(&self, ids: &[u32]) -> Result<String> {
        Ok(self
            .prompter
            .tokenizer
            .decode(ids, true)?
            .trim()
            .to_string())
    }

    /// `gΔW(C)` of a RAG-GD method for a pooled state.
    fn predicted_delta(&self, method: &str, hbar: &[f32]) -> Result<LowRankDelta> {
        let g = &self.predictors[method];
        let device = self.model.device();
        let c = predict_coefficients(&g.predictor, &[hbar], device);
        coefficients_to_delta(&c[0], &g.bases, self.layout, &self.model.config, device)
    }

    /// TT-SGD's adapted interface: `k` SGD steps from `W_0^ret` on the context.
    fn tt_sgd(
        &self,
        frozen: &mut FrozenStates,
        context: &[&Instance],
        k: usize,
    ) -> Result<LoraAdapter> {
        let steps = gd_steps(
            self.model,
            frozen,
            self.layout,
            self.w0_flat,
            context,
            self.profile.targets.eta,
            &[k],
            "tt-sgd",
        )?;
        Ok(self.layout.adapter(&steps.params[0], self.model.device()))
    }

    /// The soft prefix, or an error naming the missing stage.
    fn soft(&self) -> Result<&SoftPrompt> {
        self.soft.ok_or_else(|| {
            crate::error::Error::Config("prompt tuning is registered but not trained".into())
        })
    }

    fn support(&self, pool: &Pool, s: usize, key: u64) -> Vec<usize> {
        draw(
            pool.len(),
            self.profile.support,
            support_seed(self.profile, s),
            key,
            None,
        )
    }
}

/// Evaluates every method on `items` of one set, resuming from `path`.
#[allow(clippy::too_many_arguments)]
pub fn evaluate_set(
    d: &Deploy<'_>,
    frozen: &mut FrozenStates,
    set: &str,
    held_out: bool,
    regex_answers: bool,
    retriever_name: &str,
    retriever: Option<&dyn Retriever>,
    items: &[Item],
    pool: &mut Pool,
    query_only: Option<&SetRecord>,
    path: &Path,
    stamp: &Stamp,
    progress: bool,
) -> Result<SetRecord> {
    let p = d.profile;
    let mut rec: SetRecord = load_or_rebuild(path, stamp)?.unwrap_or(SetRecord {
        retriever: retriever_name.to_string(),
        set: set.to_string(),
        held_out,
        pool: pool.key.clone(),
        questions: Vec::new(),
        costs: Vec::new(),
        per_task_once: 0.0,
        seconds: Some(0.0),
        split: Some(EvalSplit::default()),
    });
    let once = Instant::now();
    let per_task = per_task_updates(d, frozen, pool)?;
    if rec.per_task_once == 0.0 && !per_task.is_empty() {
        rec.per_task_once = once.elapsed().as_secs_f64() / per_task.len() as f64;
    }
    let bar = icor_qa::retrieve::progress::bar(
        &format!("stage 4: eval {set} ({retriever_name})"),
        items.len() as u64,
        "questions",
        progress,
    );
    bar.set_position(rec.questions.len() as u64);
    let todo: Vec<usize> = (rec.questions.len()..items.len()).collect();
    for chunk in todo.chunks(d.batch_questions.max(1)) {
        let started = Instant::now();
        let qs: Vec<Question<'_>> = chunk
            .iter()
            .map(|&i| {
                let item = &items[i];
                Ok(Question {
                    i,
                    item,
                    answers: AnswerPattern::all(&item.answers, regex_answers)?,
                    query_only: query_only
                        .and_then(|r| r.questions.get(i))
                        .filter(|r| r.id == item.id),
                })
            })
            .collect::<Result<_>>()?;
        let mut split = EvalSplit::default();
        let records = questions(d, frozen, pool, &qs, &per_task, &mut split)?;
        for (q, record) in qs.iter().zip(records) {
            let timed = rec
                .costs
                .iter()
                .filter(|c| c.method == d.methods[0].id)
                .count();
            if q.i < p.eval.cost_questions && timed <= q.i {
                let t = Instant::now();
                rec.costs
                    .extend(time_methods(d, retriever, q.item, pool, q.i)?);
                split.cost_samples += t.elapsed().as_secs_f64();
            }
            rec.questions.push(record);
        }
        rec.seconds = rec.seconds.map(|s| s + started.elapsed().as_secs_f64());
        if let Some(total) = &mut rec.split {
            total.add(&split);
        }
        save_json(path, stamp, &rec)?;
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    let top = TopUp {
        set,
        items,
        regex_answers,
        path,
        stamp,
    };
    top.run(d, frozen, pool, &mut rec, retriever_name, progress)?;
    Ok(rec)
}

/// The few-shot rows a set's finished records lack where the profile's
/// [`crate::experiment::profile::FewShotTopUp`] asks for them: the same prompts, support
/// draws and batched decoding as in the first pass, saved after every batch.
struct TopUp<'a> {
    set: &'a str,
    items: &'a [Item],
    regex_answers: bool,
    path: &'a Path,
    stamp: &'a Stamp,
}

impl TopUp<'_> {
    /// The few-shot methods question `i`'s record `r` should have and lacks.
    fn missing(d: &Deploy<'_>, i: usize, r: &QuestionRecord) -> Vec<String> {
        d.methods
            .iter()
            .filter(|m| matches!(m.kind, MethodKind::FewShot { .. }))
            .filter(|m| i < d.profile.eval.few_shot_questions_of(&m.id))
            .filter(|m| !r.scores.contains_key(&m.id))
            .map(|m| m.id.clone())
            .collect()
    }

    fn run(
        &self,
        d: &Deploy<'_>,
        frozen: &mut FrozenStates,
        pool: &Pool,
        rec: &mut SetRecord,
        retriever_name: &str,
        progress: bool,
    ) -> Result<()> {
        let todo: Vec<(usize, Vec<String>)> = (rec.questions.iter().enumerate())
            .map(|(i, r)| (i, Self::missing(d, i, r)))
            .filter(|(_, lacking)| !lacking.is_empty())
            .collect();
        if todo.is_empty() {
            return Ok(());
        }
        let bar = icor_qa::retrieve::progress::bar(
            &format!("stage 4: few-shot top-up {} ({retriever_name})", self.set),
            todo.len() as u64,
            "questions",
            progress,
        );
        for chunk in todo.chunks(d.batch_questions.max(1)) {
            let started = Instant::now();
            self.batch(d, frozen, pool, rec, chunk)?;
            let seconds = started.elapsed().as_secs_f64();
            rec.seconds = rec.seconds.map(|s| s + seconds);
            if let Some(total) = &mut rec.split {
                total.decode_few_shot += seconds;
            }
            save_json(self.path, self.stamp, rec)?;
            bar.inc(chunk.len() as u64);
        }
        bar.finish_and_clear();
        Ok(())
    }

    /// Decodes the rows `chunk` lacks (question index, method ids) into their records.
    fn batch(
        &self,
        d: &Deploy<'_>,
        frozen: &mut FrozenStates,
        pool: &Pool,
        rec: &mut SetRecord,
        chunk: &[(usize, Vec<String>)],
    ) -> Result<()> {
        let mut qs = Vec::with_capacity(chunk.len());
        for &(i, _) in chunk {
            let item = self.items.get(i).filter(|it| it.id == rec.questions[i].id);
            let item = item.ok_or_else(|| {
                crate::error::Error::Config(format!(
                    "{}: record {i} ({}) is not question {i} of the set: the questions changed",
                    self.path.display(),
                    rec.questions[i].id
                ))
            })?;
            qs.push(Question {
                i,
                item,
                answers: AnswerPattern::all(&item.answers, self.regex_answers)?,
                query_only: None,
            });
        }
        let mut jobs = Vec::new();
        for (at, (q, (_, lacking))) in qs.iter().zip(chunk).enumerate() {
            jobs.extend(few_shot_of(d, pool, q, at, |id| {
                lacking.iter().any(|l| l == id)
            })?);
        }
        let mut recs: Vec<QuestionRecord> = chunk
            .iter()
            .map(|&(i, _)| {
                let q = &rec.questions[i];
                QuestionRecord {
                    id: q.id.clone(),
                    gold_in_docs: q.gold_in_docs,
                    gold_in_prompt: q.gold_in_prompt,
                    scores: BTreeMap::new(),
                    predictions: BTreeMap::new(),
                }
            })
            .collect();
        decode_jobs(d, frozen, &jobs, &qs, &mut recs)?;
        for (&(i, _), r) in chunk.iter().zip(recs) {
            rec.questions[i].scores.extend(r.scores);
            rec.questions[i].predictions.extend(r.predictions);
        }
        Ok(())
    }
}

/// Per-task updates: one context per task and seed, predicted once per set.
fn per_task_updates(
    d: &Deploy<'_>,
    frozen: &mut FrozenStates,
    pool: &mut Pool,
) -> Result<BTreeMap<(String, usize), LowRankDelta>> {
    let mut per_task = BTreeMap::new();
    for m in d.methods {
        if let MethodKind::RagGd { per_task: true, .. } = m.kind {
            for s in 0..m.seeds(d.profile) {
                let idx = d.support(pool, s, TASK_KEY);
                let hbar = pool.pooled(d, frozen, &idx)?;
                per_task.insert((m.id.clone(), s), d.predicted_delta(&m.id, &hbar)?);
            }
        }
    }
    Ok(per_task)
}

/// One evaluated question: its index in the set, the item, its answer patterns, and the
/// query-only record of another retriever's pass (the same answer: no documents).
struct Question<'a> {
    i: usize,
    item: &'a Item,
    answers: Vec<AnswerPattern>,
    query_only: Option<&'a QuestionRecord>,
}

impl Question<'_> {
    /// Scores `text` for method `id` into `q`.
    fn put(&self, q: &mut QuestionRecord, id: &str, text: String) {
        let s = score(&text, &self.answers);
        q.scores
            .entry(id.to_string())
            .or_default()
            .push([s.em, s.f1]);
        q.predictions.entry(id.to_string()).or_default().push(text);
    }
}

/// One prompt and the rows that read it: a question's RAG prompt with its methods' rows, or
/// one of its few-shot prompts.
struct Job {
    /// The question's place in its batch.
    at: usize,
    prompt: Vec<u32>,
    rows: Vec<(String, Row)>,
}

/// Every method's answers to a batch of questions: per question the methods with their own
/// prompt; then the rows of every question's RAG prompt decoded as one batch, and the rows of
/// the few-shot prompts as another (their prompts are far longer: padding them together with
/// the RAG prompts would cost more than a second batch).
fn questions(
    d: &Deploy<'_>,
    frozen: &mut FrozenStates,
    pool: &mut Pool,
    qs: &[Question<'_>],
    per_task: &BTreeMap<(String, usize), LowRankDelta>,
    split: &mut EvalSplit,
) -> Result<Vec<QuestionRecord>> {
    let mut recs = Vec::with_capacity(qs.len());
    let (mut bare, mut rag, mut few) = (Vec::new(), Vec::new(), Vec::new());
    for (at, q) in qs.iter().enumerate() {
        let item = q.item;
        let docs: Vec<&str> = item.docs.iter().map(|p| p.contents.as_str()).collect();
        let shown = d.prompter.shown_docs(&item.docs)?;
        let shown: Vec<&str> = shown.iter().map(String::as_str).collect();
        let mut rec = QuestionRecord {
            id: item.id.clone(),
            gold_in_docs: recall_hit(&docs, &q.answers, docs.len(), HitRule::FlashRag),
            gold_in_prompt: Some(recall_hit(
                &shown,
                &q.answers,
                shown.len(),
                HitRule::FlashRag,
            )),
            scores: BTreeMap::new(),
            predictions: BTreeMap::new(),
        };
        bare.extend(query_only(d, q, at, &mut rec)?);
        let rows = own_prompts_and_rows(d, frozen, pool, q, per_task, &mut rec, split)?;
        // None where only methods with their own prompt are run (`--methods prompt-tuning`).
        if !rows.is_empty() {
            let prompt = d.prompter.rag_ids(item)?;
            rag.push(Job { at, prompt, rows });
        }
        few.extend(few_shot(d, pool, q, at)?);
        recs.push(rec);
    }
    let t = Instant::now();
    decode_jobs(d, frozen, &bare, qs, &mut recs)?;
    split.query_only += t.elapsed().as_secs_f64();
    let t = Instant::now();
    decode_jobs(d, frozen, &rag, qs, &mut recs)?;
    split.decode_rag += t.elapsed().as_secs_f64();
    let t = Instant::now();
    decode_jobs(d, frozen, &few, qs, &mut recs)?;
    split.decode_few_shot += t.elapsed().as_secs_f64();
    Ok(recs)
}

/// The query-only answers of question `q` (at `at` in its batch): copied into `rec` where
/// another retriever's record of the set has them (they do not read the documents), else one
/// job of the question alone, decoded with the batch's other questions.
fn query_only(
    d: &Deploy<'_>,
    q: &Question<'_>,
    at: usize,
    rec: &mut QuestionRecord,
) -> Result<Option<Job>> {
    let mut rows = Vec::new();
    for m in d.methods.iter().filter(|m| m.kind == MethodKind::QueryOnly) {
        let copied = q.query_only.and_then(|r| r.predictions.get(&m.id).cloned());
        match copied {
            Some(t) => q.put(rec, &m.id, t.into_iter().next().unwrap_or_default()),
            None => rows.push((m.id.clone(), Row::Bare)),
        }
    }
    if rows.is_empty() {
        return Ok(None);
    }
    Ok(Some(Job {
        at,
        prompt: d.prompter.query_only_ids(&q.item.question)?,
        rows,
    }))
}

/// Answers prompt tuning (its own prompt) into `rec`, and returns the rows that share the RAG
/// prompt: each method's adaptation per seed (query only: [`query_only`]).
fn own_prompts_and_rows(
    d: &Deploy<'_>,
    frozen: &mut FrozenStates,
    pool: &mut Pool,
    q: &Question<'_>,
    per_task: &BTreeMap<(String, usize), LowRankDelta>,
    rec: &mut QuestionRecord,
    split: &mut EvalSplit,
) -> Result<Vec<(String, Row)>> {
    let (p, i, item) = (d.profile, q.i, q.item);
    let opts = d.opts();
    let mut rows: Vec<(String, Row)> = Vec::new();
    for m in d.methods {
        let t = Instant::now();
        let part = match m.kind {
            MethodKind::PromptTuning => Some(&mut split.prompt_tuning),
            MethodKind::RagGd {
                per_task: false, ..
            }
            | MethodKind::HyperTuning { .. } => Some(&mut split.updates),
            MethodKind::TtSgd { .. } => Some(&mut split.tt_sgd),
            _ => None,
        };
        match m.kind {
            MethodKind::QueryOnly => {} // its own prompt, batched in `query_only`
            MethodKind::VanillaRag => rows.push((m.id.clone(), Row::Bare)),
            MethodKind::BaseAdapter => rows.push((m.id.clone(), Row::W0)),
            MethodKind::RagGd {
                per_task: false, ..
            }
            | MethodKind::HyperTuning { .. } => {
                for s in 0..m.seeds(p) {
                    let idx = d.support(pool, s, i as u64);
                    let hbar = pool.pooled(d, frozen, &idx)?;
                    rows.push((m.id.clone(), Row::W0Delta(d.predicted_delta(&m.id, &hbar)?)));
                }
            }
            MethodKind::RagGd { per_task: true, .. } => {
                for s in 0..m.seeds(p) {
                    rows.push((
                        m.id.clone(),
                        Row::W0Delta(per_task[&(m.id.clone(), s)].clone()),
                    ));
                }
            }
            // Their own prompt per support seed, decoded in `few_shot`.
            MethodKind::FewShot { .. } => {}
            // Every layer reads the soft prefix: its own prefill.
            MethodKind::PromptTuning => {
                if m.subset(p).is_none_or(|n| i < n) {
                    let prefix = d.soft()?.prefix(d.model, &d.prompter.rag_ids(item)?)?;
                    let out =
                        d.model
                            .generate_greedy_rows(&prefix, 1, &opts, &Adaptation::none())?;
                    let text = d.decode(out.first().map_or(&[][..], Vec::as_slice))?;
                    q.put(rec, &m.id, text);
                }
            }
            MethodKind::TtSgd { k } => {
                if i < p.eval.tt_sgd_questions {
                    for s in 0..p.eval.tt_sgd_seeds {
                        let idx = d.support(pool, s, i as u64);
                        let adapted = d.tt_sgd(frozen, &pool.context(&idx), k)?;
                        rows.push((m.id.clone(), Row::Lora(adapted)));
                    }
                }
            }
        }
        if let Some(part) = part {
            *part += t.elapsed().as_secs_f64();
        }
    }
    Ok(rows)
}

/// Decodes every row of `jobs` in one batch behind one prefill of their prompts through the
/// frozen layers (left-padded together), each row with its own adaptation, into the records of
/// their questions.
fn decode_jobs(
    d: &Deploy<'_>,
    frozen: &FrozenStates,
    jobs: &[Job],
    qs: &[Question<'_>],
    recs: &mut [QuestionRecord],
) -> Result<()> {
    if jobs.is_empty() {
        return Ok(());
    }
    let prompts: Vec<Vec<u32>> = jobs.iter().map(|j| j.prompt.clone()).collect();
    let prefix = d.model.frozen_prefix_batch(&prompts, frozen.split())?;
    let (mut row_prompts, mut adapts) = (Vec::new(), Vec::new());
    for (p, job) in jobs.iter().enumerate() {
        for (_, row) in &job.rows {
            row_prompts.push(p);
            adapts.push(row.adaptation(d.w0));
        }
    }
    let stack = RowDeltas::stack(&d.model.config, &adapts, d.model.device())?;
    let outs = d.model.generate_greedy_rows_of(
        &prefix,
        &row_prompts,
        &d.opts(),
        &Adaptation::per_row(&stack),
    )?;
    let mut outs = outs.into_iter();
    for job in jobs {
        for (id, _) in &job.rows {
            let ids = outs.next().unwrap_or_default();
            qs[job.at].put(&mut recs[job.at], id, d.decode(&ids)?);
        }
    }
    Ok(())
}

/// The few-shot baselines of question `q` (at `at` in its batch): one prompt per support
/// seed, with a row per few-shot method.
fn few_shot(d: &Deploy<'_>, pool: &Pool, q: &Question<'_>, at: usize) -> Result<Vec<Job>> {
    few_shot_of(d, pool, q, at, |_| true)
}

/// [`few_shot`] with only the rows of the few-shot methods `want` keeps.
fn few_shot_of(
    d: &Deploy<'_>,
    pool: &Pool,
    q: &Question<'_>,
    at: usize,
    want: impl Fn(&str) -> bool,
) -> Result<Vec<Job>> {
    let p = d.profile;
    let rows = || -> Vec<(String, Row)> {
        d.methods
            .iter()
            .filter_map(|m| match m.kind {
                MethodKind::FewShot { adapter }
                    if q.i < p.eval.few_shot_questions_of(&m.id) && want(&m.id) =>
                {
                    Some((m.id.clone(), if adapter { Row::W0 } else { Row::Bare }))
                }
                _ => None,
            })
            .collect()
    };
    if rows().is_empty() {
        return Ok(Vec::new());
    }
    (0..p.eval.few_shot_seeds)
        .map(|s| {
            let idx = d.support(pool, s, q.i as u64);
            let prompt = d.prompter.few_shot_ids(q.item, &pool.context_items(&idx))?;
            Ok(Job {
                at,
                prompt,
                rows: rows(),
            })
        })
        .collect()
}

/// Each method run alone on one query (support seed 0), its parts timed; every cache is cold
/// (demonstrations re-encoded through every layer, the prompt prefilled through every layer).
fn time_methods(
    d: &Deploy<'_>,
    retriever: Option<&dyn Retriever>,
    item: &Item,
    pool: &Pool,
    i: usize,
) -> Result<Vec<CostSample>> {
    let opts = d.opts();
    let mut out = Vec::new();
    if let Some(r) = retriever {
        r.warm()?; // a retriever opened on first use opens now, not inside a timed search
    }
    let retrieve_time = || -> Result<f64> {
        let t = Instant::now();
        if let Some(r) = retriever {
            r.search(&item.question, d.profile.docs)?;
        }
        Ok(t.elapsed().as_secs_f64())
    };
    for m in d.methods {
        if m.subset(d.profile).is_some_and(|n| i >= n) {
            continue; // not run on this question
        }
        let mut c = CostSample {
            method: m.id.clone(),
            ..CostSample::default()
        };
        let mut cold = FrozenStates::new(d.layout.first_layer);
        let prompt = match m.kind {
            MethodKind::QueryOnly => d.prompter.query_only_ids(&item.question)?,
            MethodKind::FewShot { .. } => {
                c.retrieval = retrieve_time()?;
                let idx = d.support(pool, 0, i as u64);
                d.prompter.few_shot_ids(item, &pool.context_items(&idx))?
            }
            _ => {
                c.retrieval = retrieve_time()?;
                d.prompter.rag_ids(item)?
            }
        };
        let row = match m.kind {
            MethodKind::QueryOnly | MethodKind::VanillaRag => Row::Bare,
            MethodKind::BaseAdapter => Row::W0,
            MethodKind::PromptTuning => Row::Soft,
            MethodKind::FewShot { adapter } => {
                if adapter {
                    Row::W0
                } else {
                    Row::Bare
                }
            }
            MethodKind::RagGd { .. } | MethodKind::HyperTuning { .. } => {
                let per_task = matches!(m.kind, MethodKind::RagGd { per_task: true, .. });
                let key = if per_task { TASK_KEY } else { i as u64 };
                let idx = d.support(pool, 0, key);
                let t = Instant::now();
                let states = eos_states(d.model, &mut cold, d.w0, &pool.context(&idx))?;
                let rows: Vec<&[f32]> = states.iter().map(Vec::as_slice).collect();
                let hbar = mean_state(&rows);
                let encode = t.elapsed().as_secs_f64();
                let t = Instant::now();
                let delta = d.predicted_delta(&m.id, &hbar)?;
                let predictor = t.elapsed().as_secs_f64();
                if !per_task {
                    c.encode = encode;
                    c.predictor = predictor;
                }
                Row::W0Delta(delta)
            }
            MethodKind::TtSgd { k } => {
                let idx = d.support(pool, 0, i as u64);
                let t = Instant::now();
                let adapted = d.tt_sgd(&mut cold, &pool.context(&idx), k)?;
                c.sgd = t.elapsed().as_secs_f64();
                Row::Lora(adapted)
            }
        };
        let t = Instant::now();
        if let Row::Soft = row {
            let prefix = d.soft()?.prefix(d.model, &prompt)?;
            d.model
                .generate_greedy_rows(&prefix, 1, &opts, &Adaptation::none())?;
        } else {
            d.model
                .generate_greedy(&prompt, &opts, &row.adaptation(d.w0))?;
        }
        c.generation = t.elapsed().as_secs_f64();
        out.push(c);
    }
    Ok(out)
}

/// The seed-0 per-query coefficients of a RAG-GD method on `n` questions (for the collapse
/// check; recomputed, cheap once the pool is encoded).
pub fn deployed_coefficients(
    d: &Deploy<'_>,
    frozen: &mut FrozenStates,
    pool: &mut Pool,
    method: &str,
    n: usize,
    device: &Device,
) -> Result<Vec<Vec<f32>>> {
    let g = &d.predictors[method];
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let idx = d.support(pool, 0, i as u64);
        let hbar = pool.pooled(d, frozen, &idx)?;
        out.extend(predict_coefficients(&g.predictor, &[&hbar], device));
    }
    Ok(out)
}
