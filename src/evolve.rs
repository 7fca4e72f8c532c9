//! `crucible evolve`, `crucible runs`, `crucible show`: owned by the search work (issue 5).

use std::process::ExitCode;

/// Arguments of `crucible evolve`.
#[derive(clap::Args)]
pub struct EvolveArgs {}

/// Arguments of `crucible runs`.
#[derive(clap::Args)]
pub struct RunsArgs {}

/// Arguments of `crucible show`.
#[derive(clap::Args)]
pub struct ShowArgs {}

pub fn evolve(_args: EvolveArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("evolve is not implemented yet")
}

pub fn runs(_args: RunsArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("runs is not implemented yet")
}

pub fn show(_args: ShowArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("show is not implemented yet")
}
