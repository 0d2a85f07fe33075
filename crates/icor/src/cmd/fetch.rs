//! `icor fetch`: placeholder until the asset crate lands (issue 3).

use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("icor fetch is not implemented yet")
}
