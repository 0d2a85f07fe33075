//! Shared, bounded proptest strategies (as nalgebra's `tests/proptest/mod.rs`): shapes within
//! the ranges of the issue (d₁, d₂ ∈ 1..=12, d_y ∈ 1..=4, N ∈ 1..=64, documents ∈ 1..=25,
//! K ≤ 16), any seed for the values, well-conditioned and badly scaled inputs.

#![allow(dead_code)]

use icor_linear::identities::{Identity, Outcome};
use icor_linear::sample::CaseSpec;
use proptest::prelude::*;

/// Any case within the documented ranges.
pub fn case_spec() -> impl Strategy<Value = CaseSpec> {
    (
        any::<u64>(),
        (1usize..=12, 1usize..=12, 1usize..=4),
        (1usize..=64, 1usize..=4),
        (1usize..=25, 1usize..=12, 1usize..=16),
        any::<bool>(),
        prop::bool::weighted(0.25),
    )
        .prop_map(
            |(seed, (d1, d2, dy), (n, queries), (docs, d_doc, steps), badly_scaled, zero_init)| {
                CaseSpec {
                    seed,
                    d1,
                    d2,
                    dy,
                    n,
                    queries,
                    docs,
                    d_doc,
                    steps,
                    badly_scaled,
                    zero_init,
                }
            },
        )
}

/// Runs `identity` on `spec` and fails the property with the achieved error ratio.
pub fn assert_identity(identity: Identity, spec: &CaseSpec) -> Result<(), TestCaseError> {
    let out: Outcome = identity
        .check(spec)
        .map_err(|e| TestCaseError::fail(format!("{}: {e}", identity.name())))?;
    prop_assert!(
        out.passed(),
        "{} failed on {:?}: relative error {:e} > tolerance {:e} (ratio {:.1})",
        identity.name(),
        spec,
        out.rel_err,
        out.tol,
        out.rel_err / out.tol
    );
    Ok(())
}
