//! The `icor` program's library part: what both the program and `cargo xtask` need.

pub mod index;
