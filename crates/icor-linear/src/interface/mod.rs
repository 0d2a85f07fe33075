//! The two retrieval interfaces of §3.2, both instances of y = W₁x₁ + W₂x₂.

pub mod dot_product;
pub mod projection;

pub use dot_product::DotProductInterface;
pub use projection::ProjectionInterface;
