//! The mechanism study's pieces on a tiny random backbone: the Q/K/V gradient of each
//! interface (dense; `W_0^ret`'s LoRA factors with `W_0^ret` applied below a top-L split)
//! against central differences of the loss, `Δ_GD` against the finite-difference directional
//! derivative of the query's log-probabilities, the traced forward pass against the plain
//! one, and the top-L interface read from the frozen split against every layer run.

#[path = "../../icor-llm/tests/tiny/mod.rs"]
mod tiny;

use burn::tensor::Device;
use burn::tensor::activation::log_softmax;
use icor_llm::tensor_util::to_vec_f32;
use icor_llm::{Adaptation, Llm, LlmConfig};
use icor_rag::experiment::prompt::Instance;
use icor_rag::mechanism::base::BaseAdapter;
use icor_rag::mechanism::effect::Effect;
use icor_rag::mechanism::readout::read;
use icor_rag::mechanism::segments::Teacher;
use icor_rag::mechanism::space::Space;
use icor_rag::mechanism::update::Update;
use icor_rag::method::frozen::FrozenStates;
use icor_rag::method::loss::{AnswerBatch, answer_loss};
use icor_rag::method::params::LoraLayout;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
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

/// A trained-looking `W_0^ret` on layers 1..3 (both factors non-zero).
fn w0(m: &Llm) -> BaseAdapter {
    let layout = LoraLayout::new(&m.config, 1, 2, 4.0);
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let flat: Vec<f32> = (0..layout.len)
        .map(|_| rng.random_range(-0.3f32..0.3))
        .collect();
    BaseAdapter::from_adapter(layout.adapter(&flat, m.device()), &m.config, "test".into()).unwrap()
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

/// `u` on the space's lowest layer (zero blocks below `u.first_layer`), so a forward pass
/// runs every layer with no frozen split: an independent path to the same loss.
fn padded(m: &Llm, space: &Space<'_>, u: &Update) -> Update {
    let mut full = space.zeros(m, space.first_layer()).unwrap();
    let skip = full.blocks.len() - u.blocks.len();
    full.blocks[skip..].clone_from_slice(&u.blocks);
    full
}

/// The demonstrations' answer loss with `u` applied, every layer run.
fn loss(m: &Llm, space: &Space<'_>, u: &Update) -> f64 {
    let ex = demos();
    let refs: Vec<&Instance> = ex.iter().collect();
    let mut frozen = FrozenStates::new(0);
    let batch = AnswerBatch::new(m, &mut frozen, &refs).unwrap();
    let a = space
        .adapter(m, &padded(m, space, u), m.device(), false)
        .unwrap();
    f64::from(to_vec_f32(answer_loss(m, 0, &batch, &Adaptation::lora(&a)).unwrap())[0])
}

/// The gradient of `space` on layers `first_layer..` against central differences of the
/// loss along random directions.
fn gradient_matches_central_differences(space: Space<'_>, first_layer: usize) {
    let m = model();
    let zero = space.zeros(&m, first_layer).unwrap();
    let (g, l0) = space.gradient(&m, &demos(), &zero).unwrap();
    assert!((f64::from(l0) - loss(&m, &space, &zero)).abs() < 1e-5);
    assert!(g.norm() > 0.0);
    for seed in 0..3 {
        // A random direction of unit norm (block norms as the gradient's, rescaled).
        let v = g.random_like(seed).scaled(1.0 / g.norm());
        let h = 1e-2;
        let at = |s: f64| {
            let mut u = zero.clone();
            u.add_scaled(&v, s).unwrap();
            loss(&m, &space, &u)
        };
        let fd = (at(h) - at(-h)) / (2.0 * h);
        let an = g.inner(&v);
        assert!(
            (fd - an).abs() < 2e-3 * (1.0 + an.abs()),
            "{} from layer {first_layer}, direction {seed}: finite difference {fd} vs gradient {an}",
            space.name()
        );
    }
}

#[test]
fn dense_gradient_matches_central_differences_of_the_loss() {
    gradient_matches_central_differences(Space::Dense, 0);
    gradient_matches_central_differences(Space::Dense, 2);
}

#[test]
fn lora_gradient_at_w0_matches_central_differences_of_the_loss() {
    let m = model();
    let w0 = w0(&m);
    // Every layer W_0^ret covers, and its top layer with W_0^ret applied below the split.
    gradient_matches_central_differences(Space::Lora(&w0), 1);
    gradient_matches_central_differences(Space::Lora(&w0), 2);
    // Below W_0^ret's layers there are no factors to step.
    assert!(Space::Lora(&w0).zeros(&m, 0).is_err());
    // The LoRA gradient is not the dense one: it lives on the factors.
    let (g, _) = Space::Lora(&w0)
        .gradient(&m, &demos(), &Space::Lora(&w0).zeros(&m, 1).unwrap())
        .unwrap();
    assert_eq!(g.per_layer, 6);
    assert_eq!(g.layers(), 2);
}

#[test]
fn delta_gd_matches_the_directional_derivative_of_the_query_log_probabilities() {
    let m = model();
    let q = query();
    let (g, _) = Space::Dense
        .gradient(&m, &demos(), &Space::Dense.zeros(&m, 0).unwrap())
        .unwrap();
    let dir = g.scaled(-1.0 / g.norm());
    let mut frozen = FrozenStates::new(0);
    let base = read(&m, &mut frozen, &q, &Adaptation::none(), None).unwrap();
    let at = |s: f64| {
        let a = Space::Dense
            .adapter(&m, &dir.scaled(s), m.device(), false)
            .unwrap();
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
    let (w, losses) = Space::Dense.gd_steps(&m, &demos(), 0, 0.5, 2).unwrap();
    assert_eq!(w.len(), 2);
    assert_eq!(w[0], g.scaled(-0.5));
    assert!((loss(&m, &Space::Dense, &w[0]) - f64::from(losses[1])).abs() < 1e-5);
    assert!(loss(&m, &Space::Dense, &w[1]) < f64::from(losses[1]));
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
    let (g, _) = Space::Dense
        .gradient(&m, &demos(), &Space::Dense.zeros(&m, 0).unwrap())
        .unwrap();
    let top = g.restrict(2).unwrap().scaled(-0.3);
    let a_top = Space::Dense.adapter(&m, &top, m.device(), false).unwrap();
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
