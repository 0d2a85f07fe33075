//! Shape mismatches and empty contexts return typed errors naming the shapes; nothing panics.

use icor_linear::construction::lemma1_layer;
use icor_linear::gd::gd_step;
use icor_linear::interface::DotProductInterface;
use icor_linear::loss::loss;
use icor_linear::precondition::preconditioned_layer;
use icor_linear::{Error, LinearRag, TokenLayout, Tokens};
use ndarray::Array2;

fn ones(r: usize, c: usize) -> Array2<f64> {
    Array2::ones((r, c))
}

#[test]
fn w2_with_wrong_output_rows_is_a_shape_error() {
    let err = LinearRag::new(ones(2, 3), ones(1, 4)).unwrap_err();
    assert!(matches!(err, Error::Shape { .. }), "{err}");
    assert!(
        err.to_string().contains("2×4") && err.to_string().contains("1×4"),
        "{err}"
    );
}

#[test]
fn tokens_with_unequal_row_counts_are_rejected() {
    let err =
        Tokens::from_parts(ones(3, 2).view(), ones(2, 2).view(), ones(3, 1).view()).unwrap_err();
    assert!(err.to_string().contains("x₂ rows"), "{err}");
}

#[test]
fn zero_width_slot_is_rejected() {
    assert!(matches!(
        TokenLayout::new(0, 1, 1),
        Err(Error::Parameter { .. })
    ));
}

#[test]
fn predicting_on_tokens_of_another_layout_names_both_layouts() {
    let model = LinearRag::zeros(TokenLayout::new(2, 3, 1).unwrap());
    let tokens =
        Tokens::from_parts(ones(4, 2).view(), ones(4, 2).view(), ones(4, 1).view()).unwrap();
    let err = model.predict(&tokens).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("(2, 3, 1)") && msg.contains("(2, 2, 1)"),
        "{msg}"
    );
}

#[test]
fn empty_context_is_an_error_for_loss_gd_and_layer() {
    let model = LinearRag::zeros(TokenLayout::new(2, 2, 1).unwrap());
    let empty =
        Tokens::from_parts(ones(0, 2).view(), ones(0, 2).view(), ones(0, 1).view()).unwrap();
    assert!(matches!(
        loss(&model, &empty),
        Err(Error::EmptyContext { .. })
    ));
    assert!(matches!(
        gd_step(&model, &empty, 0.1),
        Err(Error::EmptyContext { .. })
    ));
    assert!(matches!(
        lemma1_layer(&model, 0.1, 0),
        Err(Error::EmptyContext { .. })
    ));
    let layer = lemma1_layer(&model, 0.1, 1).unwrap();
    assert!(matches!(
        layer.update(&empty, &empty),
        Err(Error::EmptyContext { .. })
    ));
}

#[test]
fn non_finite_step_size_is_rejected() {
    let model = LinearRag::zeros(TokenLayout::new(1, 1, 1).unwrap());
    let err = lemma1_layer(&model, f64::NAN, 3).unwrap_err();
    assert!(matches!(err, Error::Parameter { name: "η", .. }), "{err}");
}

#[test]
fn preconditioner_of_wrong_size_is_rejected() {
    let model = LinearRag::zeros(TokenLayout::new(2, 1, 1).unwrap());
    let err = preconditioned_layer(&model, 0.1, ones(2, 2).view(), 4).unwrap_err();
    assert!(err.to_string().contains("3×3"), "{err}");
}

#[test]
fn dot_product_interface_checks_m_against_documents() {
    let err = DotProductInterface::new(ones(1, 3), ones(1, 2), ones(3, 4), ones(5, 2)).unwrap_err();
    assert!(err.to_string().contains("M (d × d_doc)"), "{err}");
}
