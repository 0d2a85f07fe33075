//! One file per subcommand.

pub mod data;
pub mod fetch;
pub mod retrieve;
pub mod score;
pub mod verify;
