//! `crucible export`: a candidate program as plain Rust or as WAT.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use crucible_compiler::{export, wasm};

use crate::lang::load_program;

/// Arguments of `crucible export`.
#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("format").required(true).args(["rust", "wat"])))]
pub struct ExportArgs {
    /// The candidate-language file.
    file: PathBuf,
    /// Export dependency-free Rust, one `pub fn` per program function.
    #[arg(long)]
    rust: bool,
    /// Export the WebAssembly text format.
    #[arg(long)]
    wat: bool,
    /// Where to write the export (default: standard output).
    #[arg(short, long)]
    output: Option<PathBuf>,
}

pub fn export(args: ExportArgs) -> anyhow::Result<ExitCode> {
    let Some(checked) = load_program(&args.file)? else {
        return Ok(ExitCode::from(1));
    };
    let text = if args.rust {
        let header = format!(
            "Exported from {} by crucible {}.",
            args.file.display(),
            env!("CARGO_PKG_VERSION")
        );
        export::rust(&checked, &export::ExportOptions { header })
    } else {
        let bytes = wasm::compile(&checked, &wasm::CompileOptions { probes: None });
        wasmprinter::print_bytes(&bytes).context("printing WAT")?
    };
    match &args.output {
        Some(path) => {
            std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?
        }
        None => print!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}
