//! `crucible export`: a candidate program, or the best program of an archived
//! run, as plain Rust, C99 or WAT.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use crucible_compiler::{CheckedProgram, export, wasm};
use crucible_search::archive::Archive;

use crate::lang::load_program;

/// Arguments of `crucible export`.
#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("format").required(true).args(["rust", "c", "wat"])))]
pub struct ExportArgs {
    /// A candidate-language file, or the id of an archived run (its best program).
    source: String,
    /// Export dependency-free Rust, one `pub fn` per program function.
    #[arg(long)]
    rust: bool,
    /// Export C99, one function per program function (link with `-lm`).
    #[arg(long)]
    c: bool,
    /// Export the WebAssembly text format.
    #[arg(long)]
    wat: bool,
    /// The archive to read a run from (default: `$CRUCIBLE_DB`, else `crucible.db`).
    #[arg(long)]
    db: Option<PathBuf>,
    /// Where to write the export (default: standard output).
    #[arg(short, long)]
    output: Option<PathBuf>,
}

/// The archive path, as `crucible show` chooses it.
fn db_path(db: &Option<PathBuf>) -> PathBuf {
    db.clone()
        .or_else(|| std::env::var_os("CRUCIBLE_DB").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("crucible.db"))
}

/// The best program of an archived run and a header naming the task, the
/// run, the seed and the fitness.
fn load_run(run: i64, db: &Option<PathBuf>) -> anyhow::Result<(CheckedProgram, String)> {
    let db = db_path(db);
    if !db.exists() {
        anyhow::bail!(
            "`{run}` is neither a file nor a run: no archive at {}",
            db.display()
        );
    }
    let archive =
        Archive::open(&db).with_context(|| format!("opening archive {}", db.display()))?;
    let row = archive
        .run(run)
        .with_context(|| format!("reading run {run} of {}", db.display()))?;
    let text = archive.best_text(run)?;
    let checked = crucible_compiler::compile_text(&text).map_err(|diags| {
        anyhow::anyhow!(
            "the best program of run {run} does not check:\n{}",
            diags.render(&format!("run {run}"), &text)
        )
    })?;
    let fitness = archive
        .programs(run, "best")?
        .into_iter()
        .rev()
        .find(|p| p.text == text)
        .map(|p| p.fitness);
    let mut header = format!(
        "Best program of run {run} of task `{}` ({}), seed {}, exported by crucible {}.",
        row.task,
        row.task_path,
        row.seed,
        env!("CARGO_PKG_VERSION")
    );
    match fitness {
        Some(f) => header.push_str(&format!(
            "\nFitness: error {:.6e}, cost {:.1}, size {}, after {} generations ({}).",
            f.error,
            f.cost,
            f.size,
            row.generations,
            row.stop_reason.as_deref().unwrap_or("running")
        )),
        None => header.push_str(&format!(
            "\nBest error {}, after {} generations.",
            row.best_error.map_or("-".into(), |e| format!("{e:.6e}")),
            row.generations
        )),
    }
    Ok((checked, header))
}

pub fn export(args: ExportArgs) -> anyhow::Result<ExitCode> {
    let file = Path::new(&args.source);
    let (checked, header) = match args.source.parse::<i64>() {
        Ok(run) if !file.exists() => load_run(run, &args.db)?,
        _ => {
            let Some(checked) = load_program(file)? else {
                return Ok(ExitCode::from(1));
            };
            let header = format!(
                "Exported from {} by crucible {}.",
                file.display(),
                env!("CARGO_PKG_VERSION")
            );
            (checked, header)
        }
    };
    let text = if args.rust {
        export::rust(&checked, &export::ExportOptions { header })
    } else if args.c {
        export::c(&checked, &export::ExportOptions { header })
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
