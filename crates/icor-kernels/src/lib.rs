//! # icor-kernels: CPU kernels for the frozen backbone's decoding products
//!
//! burn-flex runs every product through gemm, which packs both operands into its panels on
//! every call. For the products of greedy decoding — a few rows (one per prompt being decoded)
//! against a frozen weight of hundreds of thousands of entries — that packing and gemm's tiling
//! for large shapes cost more than the arithmetic (`reports/perf-reading.md`). Here the weight
//! is packed once, at load ([`PackedWeight`], f32 or f16), and
//! [`rows_matmul`] computes `Y = X Wᵀ (+ b)` for `X` of a few rows with register tiles, split
//! over rayon's threads by output columns.
//!
//! - [`packed`]: the weight in panels of sixteen output columns, f32 or f16;
//! - [`rows`]: the product and its threading;
//! - [`tile`]: the tiles (AVX2 + FMA + F16C where the CPU has them, portable code elsewhere);
//! - [`attention`]: grouped-query attention of new tokens over a key/value cache, one pass per
//!   query (scores, softmax, weighted values), instead of a product–softmax–product per head;
//! - [`rowwise`]: a decoder block's element-wise work (RMSNorm, SiLU ⊙ up, the Q/K/V split
//!   with RoPE) in one pass each, instead of a chain of operations with a buffer each;
//! - [`rowwise_grad`] and [`masked_softmax`]: those passes' gradients, and attention's scaled,
//!   masked softmax with its gradient, for LoRA training through the frozen backbone;
//! - [`burn_ops`] (feature `burn`): all of them on burn tensors of the CPU backend;
//! - [`process`]: the allocator settings a binary applies once for these workloads.
//!
//! This crate is compiled at `opt-level = 3` in every profile (the workspace manifest), since
//! its loops are the hot path of decoding.

pub mod attention;
#[cfg(feature = "burn")]
pub mod burn_ops;
pub mod masked_softmax;
pub mod packed;
pub mod process;
pub mod rows;
pub mod rowwise;
pub mod rowwise_grad;
pub mod tile;
pub mod value;

pub use attention::{AttnShape, Visible, attend};
pub use packed::{PackedWeight, Precision};
pub use rows::rows_matmul;
