//! The `crucible` command-line tool.
//!
//! Each subcommand lives in its own module; `main` parses arguments, runs the
//! subcommand and maps any error to exit code 1 with the whole context chain on
//! stderr (the way ripgrep's `main` does).

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod evolve;
mod export;
mod grade;
mod lang;
mod submit;

/// Puts candidate programs through fire: safely, fast and deterministically.
#[derive(Parser)]
#[command(name = "crucible", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Parse and type-check a candidate-language file.
    Check(lang::CheckArgs),
    /// Compile a candidate-language file to WebAssembly.
    Compile(lang::CompileArgs),
    /// Run an entry function of a candidate-language file on arguments.
    Run(lang::RunArgs),
    /// Export a candidate-language file or a run's best program as Rust, C or WAT.
    Export(export::ExportArgs),
    /// Grade Wasm / WAT / candidate-language submissions against a task.
    Grade(grade::GradeArgs),
    /// Evolve programs for a task, archiving the run.
    Evolve(evolve::EvolveArgs),
    /// List the runs in the archive.
    Runs(evolve::RunsArgs),
    /// Show a run of the archive: best programs, front, statistics.
    Show(evolve::ShowArgs),
    /// Measure the cost model that picks evaluation tiers on this machine.
    Calibrate(evolve::CalibrateArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let res = match cli.command {
        Command::Check(args) => lang::check(args),
        Command::Compile(args) => lang::compile(args),
        Command::Run(args) => lang::run(args),
        Command::Export(args) => export::export(args),
        Command::Grade(args) => grade::grade(args),
        Command::Evolve(args) => evolve::evolve(args),
        Command::Runs(args) => evolve::runs(args),
        Command::Show(args) => evolve::show(args),
        Command::Calibrate(args) => evolve::calibrate(args),
    };
    match res {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(1)
        }
    }
}
