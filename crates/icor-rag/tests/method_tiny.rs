//! The method's pieces on a tiny random backbone: the answer loss against the full logits,
//! the frozen-layer split, gradient-step targets and their snapshots, demonstration encoding
//! under padding, resuming W_0^ret's training after a kill, and g_φ learning a context-
//! dependent update through the matching loss; HyperTuning's gradient through the backbone
//! into g_φ, and its training; prompt tuning's soft prefix against the same tokens written out,
//! and its training resumed after a kill.

#[path = "../../icor-llm/tests/tiny/mod.rs"]
mod tiny;

use burn::tensor::Device;
use burn::tensor::activation::log_softmax;
use icor_llm::tensor_util::to_vec_f32;
use icor_llm::{Adaptation, GenerateOptions, Llm, LlmConfig};
use icor_rag::baselines::hypertuning::{HyperContext, HyperSetup, train_hypertuning};
use icor_rag::baselines::prompt_tuning::{
    PromptTuningSettings, SoftPrompt, soft_answer_loss, train_prompt,
};
use icor_rag::experiment::profile::{AdapterSettings, EarlyStop, PredictorSettings};
use icor_rag::experiment::prompt::Instance;
use icor_rag::experiment::store::Stamp;
use icor_rag::method::adapter::train_adapter;
use icor_rag::method::encode::eos_states;
use icor_rag::method::factored::Basis;
use icor_rag::method::frozen::FrozenStates;
use icor_rag::method::loss::{AnswerBatch, Averaging, answer_loss};
use icor_rag::method::matching::NormTerm;
use icor_rag::method::meta::{Projected, fidelity, train_predictor};
use icor_rag::method::params::LoraLayout;
use icor_rag::method::predictor::{Predictor, PredictorShape};
use icor_rag::method::target::gd_steps;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tiny::{RandomSource, tiny_config};

/// f32 forward passes along different paths agree to rounding (~1e-6 relative).
const TOL: f32 = 1e-4;

fn config() -> LlmConfig {
    LlmConfig {
        n_layers: 4,
        ..tiny_config(4, 2)
    }
}

fn model(seed: u64) -> Llm {
    let src = RandomSource::new(config(), seed);
    Llm::load(&src, src.config.clone(), &Device::flex()).expect("tiny model loads")
}

fn instances() -> Vec<Instance> {
    vec![
        Instance {
            prompt: vec![3, 17, 42, 5, 61],
            answer: vec![9, 2],
        },
        Instance {
            prompt: vec![7, 1, 30],
            answer: vec![11, 12, 2],
        },
        Instance {
            prompt: vec![40, 41, 42, 43, 44, 45],
            answer: vec![2],
        },
    ]
}

/// Random factors (nonzero B) for the interface on layers `first..`.
fn random_params(layout: &LoraLayout, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..layout.len)
        .map(|_| rng.random_range(-0.3..0.3))
        .collect()
}

/// The loss from the full logits of each sequence: mean of −log p(answer token).
fn reference_loss(m: &Llm, adapt: &Adaptation<'_>, insts: &[Instance]) -> f32 {
    let mut total = 0f64;
    let mut n = 0usize;
    for inst in insts {
        let seq = inst.sequence();
        let logits = m.forward_logits(&seq, adapt).unwrap();
        let [_, t, v] = logits.dims();
        let logp = to_vec_f32(log_softmax(logits.reshape([t, v]), 1));
        for (j, &tok) in inst.answer.iter().enumerate() {
            let p = inst.prompt.len() + j - 1;
            total -= f64::from(logp[p * v + tok as usize]);
            n += 1;
        }
    }
    (total / n as f64) as f32
}

#[test]
fn answer_loss_equals_the_cross_entropy_of_the_full_logits_at_every_split() {
    let m = model(1);
    let insts = instances();
    let refs: Vec<&Instance> = insts.iter().collect();
    for split in [0, 2] {
        let layout = LoraLayout::new(&m.config, split, 3, 6.0);
        let lora = layout.adapter(&random_params(&layout, 2), m.device());
        let adapt = Adaptation::lora(&lora);
        let want = reference_loss(&m, &adapt, &insts);
        let mut frozen = FrozenStates::new(split);
        let batch = AnswerBatch::new(&m, &mut frozen, &refs).unwrap();
        assert_eq!(batch.tokens, 6);
        let got = to_vec_f32(answer_loss(&m, split, &batch, &adapt).unwrap())[0];
        assert!(
            (got - want).abs() < TOL * want.abs().max(1.0),
            "split {split}: {got} vs {want}"
        );
    }
}

/// Averaged over instances, the loss is the mean of each instance's own loss (its mean over
/// its answer tokens), which differs from the mean over every token when answers differ in
/// length (2, 3 and 1 tokens here).
#[test]
fn the_loss_averaged_over_instances_is_the_mean_of_each_instance_alone() {
    let m = model(5);
    let insts = instances();
    let refs: Vec<&Instance> = insts.iter().collect();
    let layout = LoraLayout::new(&m.config, 2, 3, 6.0);
    let lora = layout.adapter(&random_params(&layout, 6), m.device());
    let adapt = Adaptation::lora(&lora);
    let loss = |batch: &AnswerBatch| to_vec_f32(answer_loss(&m, 2, batch, &adapt).unwrap())[0];
    let mut frozen = FrozenStates::new(2);
    let each: Vec<f32> = refs
        .iter()
        .map(|i| loss(&AnswerBatch::new(&m, &mut frozen, &[*i]).unwrap()))
        .collect();
    let want = each.iter().sum::<f32>() / each.len() as f32;
    let batch = AnswerBatch::averaged(&m, &mut frozen, &refs, Averaging::Instances).unwrap();
    let got = loss(&batch);
    assert!(
        (got - want).abs() < TOL * want.abs().max(1.0),
        "{got} vs {want}"
    );
    let tokens = loss(&AnswerBatch::new(&m, &mut frozen, &refs).unwrap());
    assert!(
        (tokens - got).abs() > 100.0 * TOL,
        "{tokens} vs {got}: the choice makes no difference here"
    );
}

#[test]
fn eos_states_of_a_padded_batch_equal_those_of_each_sequence_alone() {
    let m = model(3);
    let layout = LoraLayout::new(&m.config, 2, 3, 6.0);
    let lora = layout.adapter(&random_params(&layout, 4), m.device());
    let insts = instances();
    let refs: Vec<&Instance> = insts.iter().collect();
    let mut frozen = FrozenStates::new(2);
    let batch = eos_states(&m, &mut frozen, &lora, &refs).unwrap();
    for (i, inst) in insts.iter().enumerate() {
        let alone = eos_states(&m, &mut FrozenStates::new(2), &lora, &[inst]).unwrap();
        let d = alone[0]
            .iter()
            .zip(&batch[i])
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(d < TOL, "instance {i} differs by {d}");
    }
}

#[test]
fn gradient_steps_lower_the_support_loss_and_snapshots_match_shorter_runs() {
    let m = model(5);
    let layout = LoraLayout::new(&m.config, 2, 3, 6.0);
    let w0 = random_params(&layout, 6);
    let insts = instances();
    let ctx: Vec<&Instance> = insts.iter().collect();
    let mut frozen = FrozenStates::new(2);
    let long = gd_steps(
        &m,
        &mut frozen,
        &layout,
        &w0,
        &ctx,
        0.05,
        &[4, 1, 2],
        "test",
    )
    .unwrap();
    assert_eq!(long.ks, vec![1, 2, 4]);
    assert_eq!(long.losses.len(), 4);
    assert!(
        long.losses[3] < long.losses[0],
        "loss {:?} should fall",
        long.losses
    );
    let short = gd_steps(&m, &mut frozen, &layout, &w0, &ctx, 0.05, &[2], "test").unwrap();
    assert_eq!(
        short.params[0], long.params[1],
        "the K = 2 snapshot is the K = 2 run"
    );
    // One step is w0 − η ∇L (the gradient read off the autodiff graph).
    let ad = m.device().clone().autodiff();
    let adapter = layout.adapter(&w0, &ad);
    let batch = AnswerBatch::new(&m, &mut frozen, &ctx).unwrap();
    let loss = answer_loss(&m, 2, &batch, &Adaptation::lora(&adapter)).unwrap();
    let g = layout.gradient(&adapter, &loss.backward());
    let one: Vec<f32> = w0.iter().zip(&g).map(|(p, g)| p - 0.05 * g).collect();
    let d = one
        .iter()
        .zip(&long.params[0])
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(d < 1e-6, "first step differs by {d}");
}

#[test]
fn adapter_training_resumed_after_a_kill_ends_with_the_same_numbers() {
    let m = model(7);
    let layout = LoraLayout::new(&m.config, 2, 3, 6.0);
    let insts = instances();
    let settings = AdapterSettings {
        rank: 3,
        alpha: 6.0,
        lr: 1e-2,
        weight_decay: 0.01,
        clip: 1.0,
        grad_accum: 2,
        micro_batch: 2,
        steps: 5,
        train_questions: 3,
        checkpoint_every: 1,
        early_stop: None,
    };
    let stamp = Stamp::new("adapter-test", &settings, "tiny");
    let dir = tempfile::tempdir().unwrap();
    let run = |path: &std::path::Path, stop: Option<usize>| {
        train_adapter(
            &m,
            &mut FrozenStates::new(2),
            &layout,
            &insts,
            &[],
            &settings,
            9,
            path,
            &stamp,
            false,
            stop,
        )
        .unwrap()
    };
    let whole = run(&dir.path().join("a.safetensors"), None);
    let killed_at = dir.path().join("b.safetensors");
    let part = run(&killed_at, Some(2));
    assert_eq!(part.losses.len(), 2);
    let resumed = run(&killed_at, None);
    assert_eq!(resumed.losses, whole.losses);
    assert_eq!(resumed.params, whole.params);
    assert!(
        whole.losses[4] < whole.losses[0],
        "loss {:?} should fall",
        whole.losses
    );
    // Nothing partial is left next to the checkpoint.
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.iter().all(|n| !n.starts_with(".partial")),
        "{names:?}"
    );
    // A checkpoint made under other settings is stale: rebuilt, not reused.
    let other = Stamp::new("adapter-test", &"other settings", "tiny");
    let fresh = train_adapter(
        &m,
        &mut FrozenStates::new(2),
        &layout,
        &insts,
        &[],
        &settings,
        9,
        &killed_at,
        &other,
        false,
        None,
    )
    .unwrap();
    assert_eq!(
        fresh.params, whole.params,
        "a rebuilt run repeats the same numbers"
    );
}

#[test]
fn early_stopping_keeps_the_best_dev_parameters_and_resumes_to_the_same_end() {
    let m = model(7);
    let layout = LoraLayout::new(&m.config, 2, 3, 6.0);
    let train = instances();
    // The same prompts with other answers: fitting the training answers raises the dev loss
    // once the shared format is learnt, so the run stops early.
    let dev: Vec<Instance> = train
        .iter()
        .map(|i| Instance {
            prompt: i.prompt.clone(),
            answer: vec![20, 2],
        })
        .collect();
    let settings = AdapterSettings {
        rank: 3,
        alpha: 6.0,
        lr: 5e-2,
        weight_decay: 0.0,
        clip: 1.0,
        grad_accum: 1,
        micro_batch: 3,
        steps: 40,
        train_questions: 3,
        checkpoint_every: 1,
        early_stop: Some(EarlyStop {
            dev_questions: 3,
            eval_every: 2,
            patience: 2,
        }),
    };
    let stamp = Stamp::new("adapter-early", &settings, "tiny");
    let dir = tempfile::tempdir().unwrap();
    let run = |path: &std::path::Path, stop: Option<usize>| {
        train_adapter(
            &m,
            &mut FrozenStates::new(2),
            &layout,
            &train,
            &dev,
            &settings,
            9,
            path,
            &stamp,
            false,
            stop,
        )
        .unwrap()
    };
    let whole = run(&dir.path().join("a.safetensors"), None);
    let curve = &whole.dev_curve;
    assert!(!curve.is_empty());
    for (i, (step, _)) in curve.iter().enumerate() {
        assert_eq!(*step, 2 * (i + 1), "measured every 2 steps: {curve:?}");
    }
    // It stopped when the last two measurements brought no new best.
    let best = (0..curve.len())
        .min_by(|&a, &b| curve[a].1.total_cmp(&curve[b].1))
        .unwrap();
    assert!(
        whole.losses.len() < settings.steps,
        "the dev loss should rise before 40 steps: {curve:?}"
    );
    assert_eq!(curve.len() - 1 - best, 2, "{curve:?}");
    assert_eq!(whole.losses.len(), curve[curve.len() - 1].0);
    // The parameters returned are the best ones: their dev loss is the curve's minimum.
    let refs: Vec<&Instance> = dev.iter().collect();
    let batch = AnswerBatch::new(&m, &mut FrozenStates::new(2), &refs).unwrap();
    let a = layout.adapter(&whole.params, m.device());
    let l = to_vec_f32(answer_loss(&m, 2, &batch, &Adaptation::lora(&a)).unwrap())[0];
    assert!((l - curve[best].1).abs() < 1e-5, "{l} vs {:?}", curve[best]);
    // Killed after 3 steps and resumed: the same curve, losses and parameters; a finished
    // run resumed trains no further.
    let path = dir.path().join("b.safetensors");
    run(&path, Some(3));
    let resumed = run(&path, None);
    assert_eq!(resumed.dev_curve, whole.dev_curve);
    assert_eq!(resumed.losses, whole.losses);
    assert_eq!(resumed.params, whole.params);
    // every step's own time, the three before the kill included, each positive
    assert_eq!(resumed.step_seconds.len(), whole.losses.len());
    assert!(resumed.step_seconds.iter().all(|&t| t > 0.0));
    let again = run(&path, None);
    assert_eq!(again.losses.len(), whole.losses.len());
    assert_eq!(again.params, whole.params);
}

#[test]
fn g_phi_learns_an_update_that_depends_on_the_context() {
    // Targets T = Σ_j h_j · M_j (a linear function of the pooled state): the predictor must
    // condition on h̄ to match them; held-out cosine near 1 shows it does.
    let shape = PredictorShape {
        d: 6,
        hidden: 32,
        code: 8,
        blocks: 2,
        r: 2,
    };
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let basis: Vec<Vec<f32>> = (0..shape.d)
        .map(|_| {
            (0..shape.blocks * 4)
                .map(|_| rng.random_range(-1.0..1.0))
                .collect()
        })
        .collect();
    let make = |rng: &mut ChaCha8Rng| {
        let h: Vec<f32> = (0..shape.d).map(|_| rng.random_range(-1.0..1.0)).collect();
        let mut t = vec![0f32; shape.blocks * 4];
        for (hj, bj) in h.iter().zip(&basis) {
            t.iter_mut().zip(bj).for_each(|(x, b)| *x += hj * b);
        }
        let norms = t
            .chunks(4)
            .map(|c| c.iter().map(|x| x * x).sum::<f32>().sqrt())
            .collect();
        Projected { hbar: h, t, norms }
    };
    let train: Vec<Projected> = (0..64).map(|_| make(&mut rng)).collect();
    let held: Vec<Projected> = (0..16).map(|_| make(&mut rng)).collect();
    let settings = PredictorSettings {
        hidden: 32,
        code: 8,
        basis_rank: 2,
        lr: 1e-2,
        weight_decay: 0.0,
        clip: 1.0,
        lambda: 0.1,
        steps: 600,
        batch: 16,
        hyper_steps: 0,
        context_curve: Vec::new(),
    };
    let dev = Device::flex();
    let tp = train_predictor(
        &train,
        shape,
        &settings,
        NormTerm::LogSquared,
        0,
        &dev,
        "test",
        false,
    )
    .unwrap();
    let f = fidelity(&tp.predictor, &held, &dev);
    let mean = f.cosine.iter().sum::<f64>() / f.cosine.len() as f64;
    assert!(mean > 0.9, "held-out cosine {mean}");
    // The targets live entirely in the bases here: the ceiling is 1.
    assert!(f.ceiling.iter().all(|&c| (c - 1.0).abs() < 1e-5));
    let first = tp.losses[..20].iter().sum::<f32>() / 20.0;
    let last = tp.losses[tp.losses.len() - 20..].iter().sum::<f32>() / 20.0;
    assert!(last < first / 2.0, "L_match {first} → {last}");
}

/// Random orthonormal bases of rank `r` for every block of `layout`.
fn random_bases(layout: &LoraLayout, r: usize, seed: u64) -> Vec<Basis> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut ortho = |rows: usize| {
        let m = nalgebra::DMatrix::<f64>::from_fn(rows, r, |_, _| rng.random_range(-1.0..1.0));
        m.qr().q()
    };
    layout
        .blocks
        .iter()
        .map(|b| Basis {
            p: ortho(b.d_out),
            q: ortho(b.d_in),
        })
        .collect()
}

fn hyper_predictor(m: &Llm, layout: &LoraLayout, r: usize, seed: u64) -> Predictor {
    let shape = PredictorShape {
        d: m.config.d_model,
        hidden: 8,
        code: 4,
        blocks: layout.blocks.len(),
        r,
    };
    let d = shape.d;
    Predictor::init(
        shape,
        vec![0.0; d],
        vec![1.0; d],
        vec![0.3; shape.blocks],
        seed,
    )
}

#[test]
fn hypertuning_gradient_matches_finite_differences_of_the_answer_loss() {
    let m = model(21);
    let layout = LoraLayout::new(&m.config, 2, 2, 4.0);
    let w0 = random_params(&layout, 22);
    let bases = random_bases(&layout, 2, 23);
    let pred = hyper_predictor(&m, &layout, 2, 24);
    let mut rng = ChaCha8Rng::seed_from_u64(25);
    let hbars: Vec<Vec<f32>> = (0..2)
        .map(|_| {
            (0..m.config.d_model)
                .map(|_| rng.random_range(-2.0..2.0))
                .collect()
        })
        .collect();
    let insts = instances();
    let pairs: Vec<(&[f32], &Instance)> = vec![
        (hbars[0].as_slice(), &insts[0]),
        (hbars[1].as_slice(), &insts[1]),
    ];
    let mut frozen = FrozenStates::new(2);
    let setup = HyperSetup::new(&m, &layout, &w0, &bases).unwrap();
    let (value, grad) = setup
        .loss_and_gradient(&m, &mut frozen, &layout, &pred, &pairs, 0)
        .unwrap();
    // The loss is the mean answer loss under W_0 + P g_φ(h̄) Qᵀ, each query with its context.
    assert!(value.is_finite() && value > 0.0);
    // Central differences on the coordinates with the largest gradients (in every layer of
    // g_φ, the heads included: the derivative flows through the backbone into C and on).
    let mut order: Vec<usize> = (0..grad.len()).collect();
    order.sort_by(|&a, &b| grad[b].abs().total_cmp(&grad[a].abs()));
    assert!(grad[order[0]].abs() > 1e-3, "the loss must reach g_φ");
    let eps = 1e-2f32;
    let loss_at = |params: Vec<f32>, frozen: &mut FrozenStates| {
        let p = Predictor {
            params,
            ..pred.clone()
        };
        setup
            .loss_and_gradient(&m, frozen, &layout, &p, &pairs, 0)
            .unwrap()
            .0
    };
    let first_head =
        pred.params.len() - pred.shape.blocks * 4 - pred.shape.code * pred.shape.blocks * 4;
    let picks: Vec<usize> = order
        .iter()
        .copied()
        .take(4)
        .chain(order.iter().copied().filter(|&i| i < first_head).take(2))
        .collect();
    for i in picks {
        let mut up = pred.params.clone();
        up[i] += eps;
        let mut down = pred.params.clone();
        down[i] -= eps;
        let fd = (loss_at(up, &mut frozen) - loss_at(down, &mut frozen)) / (2.0 * eps);
        let err = (fd - grad[i]).abs();
        assert!(
            err <= 2e-2 * grad[i].abs().max(1e-2),
            "weight {i}: autodiff {} vs finite difference {fd}",
            grad[i]
        );
    }
}

#[test]
fn hypertuning_lowers_the_answer_loss_of_queries_outside_the_context() {
    let m = model(31);
    let layout = LoraLayout::new(&m.config, 2, 2, 4.0);
    let w0 = random_params(&layout, 32);
    let bases = random_bases(&layout, 2, 33);
    let mut rng = ChaCha8Rng::seed_from_u64(34);
    let hbars: Vec<Vec<f32>> = (0..3)
        .map(|_| {
            (0..m.config.d_model)
                .map(|_| rng.random_range(-2.0..2.0))
                .collect()
        })
        .collect();
    let insts = instances();
    // Context c's queries: the instances other than c.
    let contexts: Vec<HyperContext<'_>> = (0..3)
        .map(|c| HyperContext {
            hbar: &hbars[c],
            queries: insts
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != c)
                .map(|(_, q)| q)
                .collect(),
        })
        .collect();
    let settings = PredictorSettings {
        hidden: 8,
        code: 4,
        basis_rank: 2,
        lr: 2e-2,
        weight_decay: 0.0,
        clip: 1.0,
        lambda: 0.1,
        steps: 0,
        batch: 3,
        hyper_steps: 40,
        context_curve: Vec::new(),
    };
    let init = hyper_predictor(&m, &layout, 2, 35);
    let mut frozen = FrozenStates::new(2);
    let all: Vec<(&[f32], &Instance)> = contexts
        .iter()
        .flat_map(|c| c.queries.iter().map(move |q| (c.hbar, *q)))
        .collect();
    let setup = HyperSetup::new(&m, &layout, &w0, &bases).unwrap();
    let before = setup
        .loss_and_gradient(&m, &mut frozen, &layout, &init, &all, 0)
        .unwrap()
        .0;
    let tp = train_hypertuning(
        &m,
        &mut frozen,
        &layout,
        &w0,
        &bases,
        init,
        &contexts,
        &settings,
        0,
        "test",
        false,
    )
    .unwrap();
    assert_eq!(tp.losses.len(), 40);
    let after = setup
        .loss_and_gradient(&m, &mut frozen, &layout, &tp.predictor, &all, 0)
        .unwrap()
        .0;
    assert!(after < 0.9 * before, "answer loss {before} → {after}");
}

#[test]
fn a_soft_prompt_of_token_embeddings_gives_the_loss_of_those_tokens_in_the_prompt() {
    let m = model(41);
    let insts = instances();
    let prefix_ids = [8u32, 33, 50];
    // The soft prefix equal to the embeddings of `prefix_ids` ...
    let prompt = SoftPrompt {
        m: 3,
        d: m.config.d_model,
        values: to_vec_f32(m.embed(&prefix_ids, 1).unwrap()),
    };
    let refs: Vec<&Instance> = insts.iter().collect();
    let soft =
        to_vec_f32(soft_answer_loss(&m, &prompt.tensor(m.device(), false), &refs).unwrap())[0];
    // ... is the same model input as those tokens written before every prompt.
    let shifted: Vec<Instance> = insts
        .iter()
        .map(|i| Instance {
            prompt: prefix_ids
                .iter()
                .copied()
                .chain(i.prompt.iter().copied())
                .collect(),
            answer: i.answer.clone(),
        })
        .collect();
    let reference = reference_loss(&m, &Adaptation::none(), &shifted);
    assert!(
        (soft - reference).abs() < TOL * reference.abs(),
        "soft {soft} vs tokens {reference}"
    );
    // Generation behind the soft prefix continues exactly as behind the tokens.
    let opts = GenerateOptions {
        max_new_tokens: 5,
        stop_ids: vec![],
    };
    let full: Vec<u32> = prefix_ids
        .iter()
        .copied()
        .chain(insts[0].prompt.iter().copied())
        .collect();
    let want = m
        .generate_greedy(&full, &opts, &Adaptation::none())
        .unwrap();
    let pre = prompt.prefix(&m, &insts[0].prompt).unwrap();
    let got = m
        .generate_greedy_rows(&pre, 1, &opts, &Adaptation::none())
        .unwrap();
    assert_eq!(got[0], want);
}

#[test]
fn prompt_tuning_lowers_the_loss_and_resumes_after_a_kill_with_the_same_numbers() {
    let m = model(43);
    let insts = instances();
    let settings = PromptTuningSettings {
        virtual_tokens: 4,
        train: AdapterSettings {
            rank: 0,
            alpha: 0.0,
            lr: 5e-2,
            weight_decay: 0.0,
            clip: 1.0,
            grad_accum: 1,
            micro_batch: 3,
            steps: 6,
            train_questions: 3,
            checkpoint_every: 1,
            early_stop: None,
        },
        questions: 1,
    };
    let stamp = Stamp::new("prompt-test", &settings, "tiny");
    let dir = tempfile::tempdir().unwrap();
    let run = |path: &std::path::Path, stop: Option<usize>| {
        train_prompt(&m, &insts, &settings, 3, path, &stamp, false, stop).unwrap()
    };
    let (whole, w) = run(&dir.path().join("a.safetensors"), None);
    let killed = dir.path().join("b.safetensors");
    let (_, part) = run(&killed, Some(2));
    assert_eq!(part.losses.len(), 2);
    let (resumed, r) = run(&killed, None);
    assert_eq!(r.losses, w.losses);
    assert_eq!(resumed.values, whole.values);
    // Every batch is the whole set here, so the loss curve is the training loss itself.
    assert!(w.losses[5] < w.losses[0], "loss {:?} should fall", w.losses);
}

/// The interface study's dev answers: each dev prompt's two rows are `W_0^ret` and the bare
/// backbone, in that order, each equal to decoding the prompt alone under that adaptation.
/// Against gold answers written as `W_0^ret`'s own answers alone, EM is 1 for every question
/// under `W_0^ret`; against the bare backbone's own answers, EM is 1 for every question of the
/// bare row; where the two answers differ, the other row scores 0. Checked at every split (the
/// interface on the top 2 layers and on every layer) and with a batch that cuts the questions
/// unevenly.
#[test]
fn dev_answers_score_each_row_as_its_own_decoding() {
    use icor_qa::metrics::AnswerPattern;
    use icor_rag::method::dev_answers::DevDecoder;
    let m = model(7);
    let text = |ids: &[u32]| -> icor_rag::Result<String> {
        Ok(ids
            .iter()
            .map(|i| format!("t{i}"))
            .collect::<Vec<_>>()
            .join(" "))
    };
    let opts = GenerateOptions {
        max_new_tokens: 4,
        stop_ids: vec![],
    };
    for first in [2, 0] {
        let layout = LoraLayout::new(&m.config, first, 4, 8.0);
        let w0 = layout.adapter(&random_params(&layout, 3), m.device());
        let dev = instances();
        let alone = |adapt: &Adaptation<'_>| -> Vec<String> {
            dev.iter()
                .map(|i| text(&m.generate_greedy(&i.prompt, &opts, adapt).unwrap()).unwrap())
                .collect()
        };
        let (adapted, bare) = (alone(&Adaptation::lora(&w0)), alone(&Adaptation::none()));
        assert_ne!(adapted, bare, "the adapter changes some answer");
        let decoder = DevDecoder {
            model: &m,
            text: &text,
            opts: opts.clone(),
            batch: 2,
        };
        let frozen = FrozenStates::new(first);
        let gold = |answers: &[String]| -> Vec<Vec<AnswerPattern>> {
            answers
                .iter()
                .map(|a| AnswerPattern::texts(&[a.as_str()]))
                .collect()
        };
        let s = decoder.score(&frozen, &w0, &dev, &gold(&adapted)).unwrap();
        assert_eq!(s.em, vec![1.0; dev.len()], "split {first}");
        for (i, e) in s.em_bare.iter().enumerate() {
            assert_eq!(
                *e,
                f64::from(u8::from(adapted[i] == bare[i])),
                "split {first} q {i}"
            );
        }
        let s = decoder.score(&frozen, &w0, &dev, &gold(&bare)).unwrap();
        assert_eq!(s.em_bare, vec![1.0; dev.len()], "split {first}");
        assert_eq!(s.f1_bare, vec![1.0; dev.len()], "split {first}");
    }
}
