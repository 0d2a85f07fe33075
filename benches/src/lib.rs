//! Criterion benches live in `benches/`; see `Cargo.toml`.
