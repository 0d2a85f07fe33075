//! Step sizes: the closed-form one-step η agrees with the authors' grid scan; exact line
//! search minimises the context loss; GD with η < 2/λ_max decreases the loss.

use icor_linear::gd::gd_step;
use icor_linear::loss::loss;
use icor_linear::sample::Sampler;
use icor_linear::step_size::{
    OneStepQuery, exact_line_search, grid_search_eta, one_step_loss, optimal_one_step_eta,
    stable_step_bound,
};
use icor_linear::{LinearRag, TokenLayout, Tokens};

/// Tasks y = w·x with x ~ U(−1, 1)^10, N = 10, one GD step from W = 0 (App. C.1).
fn tasks(count: usize, seed: u64) -> Vec<OneStepQuery> {
    let mut s = Sampler::new(seed);
    let layout = TokenLayout::new(10, 1, 1).unwrap();
    (0..count)
        .map(|_| {
            let w = s.normal(1, 10, 1.0);
            let x = s.uniform(11, 10, 1.0);
            let y = x.dot(&w.t());
            let zeros = ndarray::Array2::zeros((11, 1));
            let ctx = Tokens::from_parts(
                x.slice(ndarray::s![..10, ..]),
                zeros.slice(ndarray::s![..10, ..]),
                y.slice(ndarray::s![..10, ..]),
            )
            .unwrap();
            let q = Tokens::queries(
                x.slice(ndarray::s![10.., ..]),
                zeros.slice(ndarray::s![10.., ..]),
                1,
            )
            .unwrap();
            let model = LinearRag::zeros(layout);
            OneStepQuery {
                base: model.predict(&q).unwrap().row(0).to_owned(),
                unit_shift: gd_step(&model, &ctx, 1.0)
                    .unwrap()
                    .prediction_shift(&q)
                    .unwrap()
                    .row(0)
                    .to_owned(),
                target: y.row(10).to_owned(),
            }
        })
        .collect()
}

#[test]
fn closed_form_eta_agrees_with_the_authors_grid_scan() {
    let qs = tasks(10_000, 7);
    let eta = optimal_one_step_eta(&qs).unwrap();
    let grid = grid_search_eta(&qs, (0..250).map(|i| 0.001 + 0.1 * i as f64)).unwrap();
    // The grid has spacing 0.1, so the best grid point lies within half a step of the optimum.
    assert!(
        (eta - grid).abs() <= 0.05 + 1e-12,
        "closed form {eta} vs grid {grid}"
    );
    // And the closed form is never worse than any grid point (it is the exact minimiser).
    assert!(one_step_loss(&qs, eta) <= one_step_loss(&qs, grid));
    assert!(
        one_step_loss(&qs, eta) <= one_step_loss(&qs, eta + 1e-3)
            && one_step_loss(&qs, eta) <= one_step_loss(&qs, eta - 1e-3)
    );
}

#[test]
fn exact_line_search_minimises_the_context_loss() {
    let mut s = Sampler::new(3);
    let x1 = s.uniform(20, 4, 1.0);
    let x2 = s.uniform(20, 3, 1.0);
    let y = s.normal(20, 2, 1.0);
    let ctx = Tokens::from_parts(x1.view(), x2.view(), y.view()).unwrap();
    let model = LinearRag::new(s.normal(2, 4, 1.0), s.normal(2, 3, 1.0)).unwrap();
    let eta = exact_line_search(&model, &ctx).unwrap();
    let at = |e: f64| loss(&gd_step(&model, &ctx, e).unwrap().apply(&model), &ctx).unwrap();
    assert!(eta > 0.0);
    assert!(at(eta) < at(0.0));
    assert!(at(eta) <= at(eta * 1.01) && at(eta) <= at(eta * 0.99));
}

#[test]
fn steps_below_the_stability_bound_decrease_the_loss_and_above_twice_it_diverge() {
    let mut s = Sampler::new(11);
    let x1 = s.uniform(30, 5, 1.0);
    let x2 = s.uniform(30, 2, 1.0);
    let y = s.normal(30, 1, 1.0);
    let ctx = Tokens::from_parts(x1.view(), x2.view(), y.view()).unwrap();
    let bound = stable_step_bound(&ctx).unwrap();
    let run = |eta: f64, steps: usize| {
        let mut m = LinearRag::zeros(ctx.layout());
        for _ in 0..steps {
            m = gd_step(&m, &ctx, eta).unwrap().apply(&m);
        }
        loss(&m, &ctx).unwrap()
    };
    let start = run(0.0, 0);
    assert!(run(0.9 * bound, 200) < start);
    assert!(
        run(1.5 * bound, 200) > 1e6 * start,
        "GD past 2/λ_max must diverge"
    );
}
