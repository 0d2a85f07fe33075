//! One file per subcommand.

pub mod fetch;
pub mod verify;
