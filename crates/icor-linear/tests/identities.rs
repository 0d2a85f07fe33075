//! Property tests: every identity of `proofs/` on random shapes, values and step sizes.

mod common;

use common::{assert_identity, case_spec};
use icor_linear::identities::Identity;
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// proofs/lemma1.md, Eq. 5–6 (projection interface, W₂ = W₁W_d): LSA update = ΔW₁x₁ + ΔW₂x₂.
    #[test]
    fn lemma1_projection_lsa_equals_gd_shift(spec in case_spec()) {
        assert_identity(Identity::Lemma1Projection, &spec)?;
    }

    /// proofs/lemma1.md, Eq. 5–6 with the dot-product interface of App. B, symmetric M = W_eᵀW_e.
    #[test]
    fn lemma1_dot_product_symmetric_lsa_equals_gd_shift(spec in case_spec()) {
        assert_identity(Identity::Lemma1DotProductSymmetric, &spec)?;
    }

    /// proofs/lemma1.md, Eq. 5–6 with a dual-encoder (non-symmetric, non-square) M.
    #[test]
    fn lemma1_dot_product_general_lsa_equals_gd_shift(spec in case_spec()) {
        assert_identity(Identity::Lemma1DotProductGeneral, &spec)?;
    }

    /// proofs/appendix_b.md, Eq. 11 = 13 = 15 = 17 = 19 (Mᵀ where M is not symmetric).
    #[test]
    fn appendix_b_eq11_equals_eq19(spec in case_spec()) {
        assert_identity(Identity::AppendixB, &spec)?;
    }

    /// proofs/k_steps.md, Eq. 7: K ≤ 16 stacked layers = K GD steps, both interfaces.
    #[test]
    fn k_layers_equal_k_gd_steps(spec in case_spec()) {
        assert_identity(Identity::KSteps, &spec)?;
    }

    /// proofs/preconditioned.md: the layer with W_Q = diag(Γ, 0) = one step ΔW = −η∇LΓ.
    #[test]
    fn preconditioned_layer_equals_preconditioned_step(spec in case_spec()) {
        assert_identity(Identity::Preconditioned, &spec)?;
    }

    /// proofs/lemma1.md, App. A Step 3: one head per retrieval slot sums to the single-head layer.
    #[test]
    fn two_heads_sum_to_lemma1(spec in case_spec()) {
        assert_identity(Identity::TwoHeads, &spec)?;
    }

    /// proofs/lemma1.md, Eq. 5: only the y-slot changes, whatever the query's y-slot holds.
    #[test]
    fn layer_changes_only_the_y_slot(spec in case_spec()) {
        assert_identity(Identity::YSlotOnly, &spec)?;
    }

    /// proofs/k_steps.md: η = 0 is the identity map, bit for bit.
    #[test]
    fn eta_zero_is_identity(spec in case_spec()) {
        assert_identity(Identity::EtaZero, &spec)?;
    }
}
