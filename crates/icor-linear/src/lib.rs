//! Exact linear theory (placeholder while being written).
