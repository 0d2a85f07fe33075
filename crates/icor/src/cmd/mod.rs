//! One file per subcommand.

pub mod data;
pub mod fetch;
pub mod generate;
pub mod interface;
pub mod logits;
pub mod mechanism;
pub mod probe;
pub mod rag;
pub mod reproduce;
pub mod retrieve;
pub mod score;
pub mod verify;
