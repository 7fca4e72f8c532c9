//! `crucible grade`: grade Wasm / WAT submissions against a task file.
//!
//! Exit code 0 whenever grading ran, whatever the verdicts; 1 only when it
//! could not run (unreadable task, unreadable submission file, no engine).

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use crucible_sandbox::grade::{self, GradeOptions, Report, Status, Task};
use crucible_sandbox::{Sandbox, SandboxConfig, Strategy};

/// Arguments of `crucible grade`.
#[derive(clap::Args)]
pub struct GradeArgs {
    /// The task file (TOML): function or stdio mode, limits and tests.
    #[arg(long)]
    task: PathBuf,
    /// Submission files: `.wasm`, `.wat`, `.cru`, `.rs` or `.c`.
    #[arg(required = true)]
    submissions: Vec<PathBuf>,
    /// Print all reports as one JSON array.
    #[arg(long, conflicts_with = "jsonl")]
    json: bool,
    /// Print one JSON object per submission per line.
    #[arg(long)]
    jsonl: bool,
    /// Worker threads (default: one per core).
    #[arg(long, default_value_t = 0)]
    jobs: usize,
    /// Differential mode: compare against this reference module on the task's
    /// inputs plus generated ones.
    #[arg(long)]
    reference: Option<PathBuf>,
    /// Also measure branch coverage of the tests (runs them a second time instrumented).
    #[arg(long)]
    coverage: bool,
    /// Keep compiled modules in this directory between runs.
    #[arg(long)]
    cache_dir: Option<PathBuf>,
}

/// Reads a submission and returns Wasm bytes, dispatching on the extension.
///
/// A candidate-language submission that does not parse or type-check: its
/// rendered diagnostics (file:line:col with a caret).
#[derive(Debug)]
struct CompileFailed(String);

impl std::fmt::Display for CompileFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CompileFailed {}

/// `.cru` files are compiled with the candidate-language compiler. (`.cru` → compile to Wasm).
/// An `Err` from a parse is the submission's fault and becomes an
/// `invalid_module` report; only I/O errors stop the run.
fn load_submission(path: &Path) -> anyhow::Result<Vec<u8>> {
    let bytes =
        std::fs::read(path).with_context(|| format!("reading submission {}", path.display()))?;
    match path.extension().and_then(|e| e.to_str()) {
        Some("wat") => Ok(grade::parse_wat(&bytes)?),
        Some("wasm") => Ok(bytes),
        Some("cru") => {
            let src = String::from_utf8(bytes)
                .map_err(|_| CompileFailed(format!("{}: not UTF-8 text", path.display())))?;
            let checked = crucible_compiler::compile_text(&src)
                .map_err(|d| CompileFailed(d.render(&path.display().to_string(), &src)))?;
            let options = crucible_compiler::wasm::CompileOptions { probes: None };
            Ok(crucible_compiler::wasm::compile(&checked, &options))
        }
        Some(ext @ ("rs" | "c")) => {
            let lang = crate::submit::Language::from_extension(ext).expect("rs or c");
            let limits = crate::submit::CompileLimits {
                timeout: crate::submit::COMPILE_TIMEOUT,
            };
            crate::submit::compile(lang, path, &bytes, &limits)?
                .map_err(|crate::submit::Rejected(msg)| CompileFailed(msg).into())
        }
        _ => anyhow::bail!(
            "{}: unknown submission type (expected .wasm, .wat, .cru, .rs or .c)",
            path.display()
        ),
    }
}

pub fn grade(args: GradeArgs) -> anyhow::Result<ExitCode> {
    let task_text = std::fs::read_to_string(&args.task)
        .with_context(|| format!("reading task {}", args.task.display()))?;
    let task =
        Task::parse(&task_text).with_context(|| format!("parsing task {}", args.task.display()))?;
    let reference = match &args.reference {
        Some(path) => Some(Arc::<[u8]>::from(load_submission(path)?)),
        None => None,
    };
    let mut config = SandboxConfig::new(Strategy::Cranelift);
    config.threads = args.jobs;
    config.wasi = true;
    config.cache_dir = args.cache_dir.clone();
    let sandbox = Sandbox::new(&config).context("starting the sandbox")?;
    if let crucible_sandbox::Allocation::OnDemand { reason } = sandbox.allocation() {
        eprintln!("warning: {reason}");
    }
    // Read every file first: a missing file is a usage error, reported before any work.
    let mut inputs = Vec::new();
    for path in &args.submissions {
        let name = path.display().to_string();
        if !path.is_file() {
            anyhow::bail!("submission {name} does not exist");
        }
        inputs.push((name, load_submission(path)));
    }
    let options = GradeOptions {
        coverage: args.coverage,
        reference,
    };
    let progress = if std::io::stderr().is_terminal() && inputs.len() > 1 {
        indicatif::ProgressBar::new(inputs.len() as u64)
    } else {
        indicatif::ProgressBar::hidden()
    };
    let results = sandbox.map(inputs, |(name, bytes)| {
        let res = match bytes {
            Ok(bytes) => grade::grade(&sandbox, &task, &name, &bytes, &options),
            Err(err) => Ok(match err.downcast_ref::<CompileFailed>() {
                Some(CompileFailed(diags)) => {
                    Report::rejected(&name, Status::CompileError, diags.clone())
                }
                None => Report::rejected(&name, Status::InvalidModule, format!("{err:#}")),
            }),
        };
        progress.inc(1);
        res
    });
    progress.finish_and_clear();
    let reports = results
        .into_iter()
        .collect::<Result<Vec<_>, _>>()
        .context("grading")?;
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &reports)?;
        writeln!(out)?;
    } else if args.jsonl {
        for report in &reports {
            serde_json::to_writer(&mut out, report)?;
            writeln!(out)?;
        }
    } else {
        print_table(&mut out, &reports)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn print_table(out: &mut impl Write, reports: &[Report]) -> std::io::Result<()> {
    let width = reports
        .iter()
        .map(|r| r.submission.len())
        .max()
        .unwrap_or(10)
        .max(10);
    let show_coverage = reports.iter().any(|r| r.coverage.is_some());
    let coverage_header = if show_coverage { "  coverage" } else { "" };
    writeln!(
        out,
        "{:width$}  {:<18}  {:>6}  {:>5}  {:>12}{coverage_header}  first failure",
        "submission", "status", "passed", "score", "fuel"
    )?;
    for r in reports {
        let passed = r.tests.iter().filter(|t| t.verdict == "pass").count();
        let fuel: u64 = r.tests.iter().map(|t| t.fuel).sum();
        let status = serde_json::to_value(r.status)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default();
        let first = match r.tests.iter().find(|t| t.verdict != "pass") {
            Some(t) => format!("{}: {}", t.name, t.verdict),
            None => r.message.clone().unwrap_or_default(),
        };
        let coverage = match (show_coverage, r.coverage) {
            (false, _) => String::new(),
            (true, Some(c)) => format!("  {:>7.1}%", c),
            (true, None) => format!("  {:>8}", "-"),
        };
        writeln!(
            out,
            "{:width$}  {:<18}  {:>6}  {:>5.2}  {:>12}{coverage}  {}",
            r.submission,
            status,
            format!("{passed}/{}", r.tests.len()),
            r.score,
            fuel,
            first
        )?;
    }
    Ok(())
}
