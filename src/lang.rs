//! `crucible check`, `compile` and `run`.

use std::process::ExitCode;

/// Arguments of `crucible check`.
#[derive(clap::Args)]
pub struct CheckArgs {}
/// Arguments of `crucible compile`.
#[derive(clap::Args)]
pub struct CompileArgs {}
/// Arguments of `crucible run`.
#[derive(clap::Args)]
pub struct RunArgs {}

pub fn check(_args: CheckArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not implemented yet")
}
pub fn compile(_args: CompileArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not implemented yet")
}
pub fn run(_args: RunArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not implemented yet")
}
