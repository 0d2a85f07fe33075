//! Axis labels, in the paper's symbols, shared by the figure families.

pub const LOSS: &str = "loss ½·(ŷ − y)²";
pub const COS: &str = "cos(∂ŷ_TF/∂x, ∂ŷ_GD/∂x)";
pub const PRED_DIFF: &str = "|ŷ_TF − ŷ_GD|";
pub const DOCS: &str = "documents k";
pub const ALPHA: &str = "test input range α  (x ~ U(−α, α))";
pub const STEP: &str = "training step";
pub const CI: &str = "mean ± 95% CI over seeds";

pub const TRAINED: &str = "trained transformer (TF)";
pub const GD: &str = "GD (constructed)";
pub const CONTROL: &str = "untrained control";
