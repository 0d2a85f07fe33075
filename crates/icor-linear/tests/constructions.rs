//! Hand-checked cases and the checks' power: a broken construction must fail them.

use approx::assert_relative_eq;
use icor_linear::construction::{
    key_query_projection, lemma1_layer, value_projection, y_slot_projection,
};
use icor_linear::gd::{gd_step, gd_trajectory};
use icor_linear::lsa::{Head, LsaLayer, LsaStack};
use icor_linear::multistep::{k_step_stack, read_prediction};
use icor_linear::sample::Sampler;
use icor_linear::{LinearRag, Tokens};
use ndarray::{array, s};

/// N = 1, d₁ = d₂ = d_y = 1, worked by hand (proofs/lemma1.md, "A worked example"):
/// r = 0.5·1 + 0.25·2 − 3 = −2, ΔW₁ = −0.1·(−2)·1 = 0.2, ΔW₂ = −0.1·(−2)·2 = 0.4,
/// so the query (1, 1, 0) becomes (1, 1, 0.6).
#[test]
fn lemma1_hand_example() {
    let model = LinearRag::new(array![[0.5]], array![[0.25]]).unwrap();
    let ctx = Tokens::from_parts(
        array![[1.0]].view(),
        array![[2.0]].view(),
        array![[3.0]].view(),
    )
    .unwrap();
    let q = Tokens::queries(array![[1.0]].view(), array![[1.0]].view(), 1).unwrap();
    let step = gd_step(&model, &ctx, 0.1).unwrap();
    assert_relative_eq!(step.dw1[[0, 0]], 0.2, max_relative = 1e-15);
    assert_relative_eq!(step.dw2[[0, 0]], 0.4, max_relative = 1e-15);
    let (_, out) = lemma1_layer(&model, 0.1, 1)
        .unwrap()
        .forward(&ctx, &q)
        .unwrap();
    assert_eq!(out.matrix().slice(s![0, ..2]), array![1.0, 1.0]);
    assert_relative_eq!(out.matrix()[[0, 2]], 0.6, max_relative = 1e-15);
}

fn random_problem(seed: u64) -> (LinearRag, Tokens, Tokens) {
    let mut s = Sampler::new(seed);
    let (x1, x2, y) = (
        s.uniform(12, 3, 1.0),
        s.uniform(12, 2, 1.0),
        s.normal(10, 2, 1.0),
    );
    let ctx = Tokens::from_parts(x1.slice(s![..10, ..]), x2.slice(s![..10, ..]), y.view()).unwrap();
    let q = Tokens::queries(x1.slice(s![10.., ..]), x2.slice(s![10.., ..]), 2).unwrap();
    (
        LinearRag::new(s.normal(2, 3, 1.0), s.normal(2, 2, 1.0)).unwrap(),
        ctx,
        q,
    )
}

fn max_abs_diff(a: ndarray::ArrayView2<f64>, b: ndarray::ArrayView2<f64>) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

/// Dropping W₂ from the value projection, or flipping the sign of P, breaks Lemma 1 by far more
/// than rounding: the identity checks can fail.
#[test]
fn broken_lemma1_constructions_are_detected() {
    let (model, ctx, q) = random_problem(1);
    let eta = 0.3;
    let want = gd_step(&model, &ctx, eta)
        .unwrap()
        .prediction_shift(&q)
        .unwrap();
    let l = model.layout();
    let good = lemma1_layer(&model, eta, 10)
        .unwrap()
        .update(&ctx, &q)
        .unwrap();
    assert!(max_abs_diff(good.slice(s![.., l.y()]), want.view()) < 1e-13);

    let no_w2 = LinearRag::new(model.w1.clone(), model.w2.clone() * 0.0).unwrap();
    let kq = key_query_projection(l);
    let bad_v = Head::new(
        y_slot_projection(l, -eta / 10.0),
        value_projection(&no_w2),
        kq.clone(),
        kq.clone(),
    )
    .unwrap();
    let bad = LsaLayer::single(bad_v).update(&ctx, &q).unwrap();
    assert!(max_abs_diff(bad.slice(s![.., l.y()]), want.view()) > 1e-3);

    let bad_p = Head::new(
        y_slot_projection(l, eta / 10.0),
        value_projection(&model),
        kq.clone(),
        kq,
    )
    .unwrap();
    let bad = LsaLayer::single(bad_p).update(&ctx, &q).unwrap();
    assert!(max_abs_diff(bad.slice(s![.., l.y()]), want.view()) > 1e-3);
}

/// Stacking Lemma 1's layer as it is (P = −η/N) does not give two GD steps: the context
/// y-slots must carry the running residual, which needs the stack's sign convention.
#[test]
fn stacking_lemma1_layers_naively_is_not_k_steps() {
    let (model, ctx, q) = random_problem(2);
    let etas = [0.2, 0.2];
    let want = gd_trajectory(&model, &ctx, &etas)
        .unwrap()
        .last()
        .unwrap()
        .predict(&q)
        .unwrap();
    let good = k_step_stack(&model, &etas, 10)
        .unwrap()
        .forward(&ctx, &q)
        .unwrap()
        .1;
    assert!(max_abs_diff(read_prediction(&model, &good).unwrap().view(), want.view()) < 1e-12);
    let naive = LsaStack {
        layers: vec![lemma1_layer(&model, 0.2, 10).unwrap(); 2],
    };
    let (_, out) = naive.forward(&ctx, &q).unwrap();
    let naive_pred = model.predict(&q).unwrap() + out.y();
    assert!(max_abs_diff(naive_pred.view(), want.view()) > 1e-3);
}

/// For K = 1 the stack's layer is Lemma 1's with P negated: the query's y-slot holds −Δy.
#[test]
fn one_layer_stack_is_lemma1_with_negated_y_slot() {
    let (model, ctx, q) = random_problem(3);
    let a = lemma1_layer(&model, 0.4, 10)
        .unwrap()
        .forward(&ctx, &q)
        .unwrap()
        .1;
    let b = k_step_stack(&model, &[0.4], 10)
        .unwrap()
        .forward(&ctx, &q)
        .unwrap()
        .1;
    assert!(max_abs_diff(a.y(), (-&b.y().to_owned()).view()) < 1e-14);
}
