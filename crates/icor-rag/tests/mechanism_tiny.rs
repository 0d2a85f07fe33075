//! The mechanism study's pieces on a tiny random backbone: the dense Q/K/V gradient against
//! finite differences of the loss, `Δ_GD` against the finite-difference directional
//! derivative of the query's log-probabilities, the traced forward pass against the plain
//! one, and the top-L interface read from the frozen split against every layer run.

#[path = "../../icor-llm/tests/tiny/mod.rs"]
mod tiny;

use burn::tensor::Device;
use burn::tensor::activation::log_softmax;
use icor_llm::tensor_util::to_vec_f32;
use icor_llm::{Adaptation, Llm, LlmConfig};
use icor_rag::frozen::FrozenStates;
use icor_rag::loss::{AnswerBatch, answer_loss};
use icor_rag::mechanism::dense::{DenseUpdate, gd_steps, gradient};
use icor_rag::mechanism::effect::Effect;
use icor_rag::mechanism::readout::read;
use icor_rag::mechanism::segments::Teacher;
use icor_rag::prompt::Instance;
use tiny::{RandomSource, tiny_config};

fn config() -> LlmConfig {
    LlmConfig {
        n_layers: 3,
        ..tiny_config(4, 2)
    }
}

fn model() -> Llm {
    let src = RandomSource::new(config(), 7);
    Llm::load(&src, src.config.clone(), &Device::flex()).expect("tiny model loads")
}

fn demos() -> Vec<Instance> {
    vec![
        Instance {
            prompt: vec![3, 17, 42, 5, 61],
            answer: vec![9, 2],
        },
        Instance {
            prompt: vec![3, 17, 30, 8],
            answer: vec![11, 12, 2],
        },
    ]
}

fn query() -> Teacher {
    Teacher {
        ids: vec![3, 17, 50, 51, 52, 20, 21],
        first: 4,
        answer_len: 2,
    }
}

fn loss(m: &Llm, u: &DenseUpdate) -> f64 {
    let ex = demos();
    let refs: Vec<&Instance> = ex.iter().collect();
    let mut frozen = FrozenStates::new(0);
    let batch = AnswerBatch::new(m, &mut frozen, &refs).unwrap();
    let a = u.adapter(m.device(), false);
    f64::from(to_vec_f32(answer_loss(m, 0, &batch, &Adaptation::lora(&a)).unwrap())[0])
}

#[test]
fn dense_gradient_matches_central_differences_of_the_loss() {
    let m = model();
    let zero = DenseUpdate::zeros(&m.config, 0);
    let (g, l0) = gradient(&m, &demos(), &zero).unwrap();
    assert!((f64::from(l0) - loss(&m, &zero)).abs() < 1e-5);
    assert!(g.norm() > 0.0);
    for seed in 0..3 {
        // A random direction of unit norm (block norms as the gradient's, rescaled).
        let v = g.random_like(seed).scaled(1.0 / g.norm());
        let h = 1e-2;
        let up = {
            let mut u = zero.clone();
            u.add_scaled(&v, h).unwrap();
            u
        };
        let down = {
            let mut u = zero.clone();
            u.add_scaled(&v, -h).unwrap();
            u
        };
        let fd = (loss(&m, &up) - loss(&m, &down)) / (2.0 * h);
        let an = g.inner(&v);
        assert!(
            (fd - an).abs() < 2e-3 * (1.0 + an.abs()),
            "direction {seed}: finite difference {fd} vs gradient {an}"
        );
    }
}

#[test]
fn delta_gd_matches_the_directional_derivative_of_the_query_log_probabilities() {
    let m = model();
    let q = query();
    let (g, _) = gradient(&m, &demos(), &DenseUpdate::zeros(&m.config, 0)).unwrap();
    let dir = g.scaled(-1.0 / g.norm());
    let mut frozen = FrozenStates::new(0);
    let base = read(&m, &mut frozen, &q, &Adaptation::none(), None).unwrap();
    let at = |s: f64| {
        let a = dir.scaled(s).adapter(m.device(), false);
        read(
            &m,
            &mut FrozenStates::new(0),
            &q,
            &Adaptation::lora(&a),
            None,
        )
        .unwrap()
    };
    // Central difference of log p at the first answer position along the step's direction.
    let h = 1e-2;
    let (up, down) = (at(h), at(-h));
    let fd: Vec<f64> = up
        .first
        .iter()
        .zip(&down.first)
        .map(|(a, b)| (f64::from(*a) - f64::from(*b)) / (2.0 * h))
        .collect();
    // Δ_GD at a small step, divided by the step, is that derivative.
    let eta = 1e-3;
    let small = Effect::between(&base, &at(eta));
    let ratio: Vec<f64> = small.first.iter().map(|x| x / eta).collect();
    let scale = fd.iter().map(|x| x.abs()).fold(0.0, f64::max);
    let err = fd
        .iter()
        .zip(&ratio)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    assert!(scale > 1e-3, "the step moves the query's distribution");
    assert!(
        err < 5e-2 * scale,
        "Δ_GD/η vs finite difference: max error {err} of {scale}"
    );
    // The steps lower the demonstrations' loss, and every step's update is kept: the first
    // is the one-step update, the loss after step k is the loss before step k + 1.
    let (w, losses) = gd_steps(&m, &demos(), 0, 0.5, 2).unwrap();
    assert_eq!(w.len(), 2);
    assert_eq!(w[0], g.scaled(-0.5));
    assert!((loss(&m, &w[0]) - f64::from(losses[1])).abs() < 1e-5);
    assert!(loss(&m, &w[1]) < f64::from(losses[1]));
    assert!(losses[1] < losses[0]);
}

#[test]
fn traced_pass_gives_the_plain_logits_and_top_layers_read_from_the_split() {
    let m = model();
    let q = query();
    let mut full = FrozenStates::new(0);
    let base = read(&m, &mut full, &q, &Adaptation::none(), None).unwrap();
    let logits = m.forward_logits(&q.ids, &Adaptation::none()).unwrap();
    let [_, t, v] = logits.dims();
    let logp = to_vec_f32(log_softmax(logits.reshape([t, v]), 1));
    let want = &logp[q.first * v..(q.first + 1) * v];
    let err = want
        .iter()
        .zip(&base.first)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    assert!(
        err < 1e-4,
        "first-position log-probabilities differ by {err}"
    );
    assert_eq!(
        base.gold[0],
        logp[q.first * v + q.ids[q.first + 1] as usize]
    );
    assert_eq!(base.attn.len(), 3);
    // A top-1 update read from the split equals the same update with every layer run.
    let (g, _) = gradient(&m, &demos(), &DenseUpdate::zeros(&m.config, 0)).unwrap();
    let top = g.restrict(2).unwrap().scaled(-0.3);
    let a_top = top.adapter(m.device(), false);
    let mut split = FrozenStates::new(2);
    let r_split = read(&m, &mut split, &q, &Adaptation::lora(&a_top), Some(&base)).unwrap();
    let r_full = read(&m, &mut full, &q, &Adaptation::lora(&a_top), None).unwrap();
    let err = r_split
        .first
        .iter()
        .zip(&r_full.first)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    assert!(err < 1e-4, "split vs full: {err}");
    assert_eq!(r_split.attn[..2], base.attn[..2]);
    let err = r_split.attn[2]
        .iter()
        .zip(&r_full.attn[2])
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    assert!(err < 1e-4);
    assert_ne!(
        r_split.attn[2], base.attn[2],
        "the update changes the top layer's attention"
    );
}
