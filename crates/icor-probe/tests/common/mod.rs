//! Fixtures shared by the integration tests.

use icor_probe::metrics::GdRef;
use icor_probe::reference::fit_eta;
use icor_probe::tabular::{Distribution, Norm};
use icor_probe::task::{Readout, Retrieved, rng};

/// Retrieved 8-row contexts of a 600 × 4 Gaussian table (corpus rows 100.., queries ..100,
/// min–max), and the one-step GD reference with η fitted on 400 training queries.
pub fn gaussian_contexts() -> (Retrieved, GdRef) {
    let table = Distribution::Gaussian.table(600, 4, &mut rng(9, 0));
    let idx: Vec<usize> = (0..600).collect();
    let retrieved = Retrieved::new(
        &table.select(&idx[100..]),
        &table.select(&idx[..100]),
        Norm::MinMax,
        8,
    );
    let step = fit_eta(
        &retrieved.sample(&mut rng(9, 4), 400),
        1,
        Readout::WithBase,
        false,
    );
    let gd = GdRef {
        eta: step.eta,
        steps: 1,
        readout: Readout::WithBase,
    };
    (retrieved, gd)
}
