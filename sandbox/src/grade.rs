//! Grading submissions against a task file.
//!
//! A task (TOML) is in one of two modes:
//!
//! - **function**: an `[entry]` export with `params` and `results`, and
//!   `[[tests]]` of `args` → `expect`; float results compare by `[compare]`
//!   (`exact`, `abs`, `rel` or `ulp`);
//! - **stdio**: a `[stdio]` table and `[[tests]]` of `stdin` → `stdout`,
//!   compared exactly or ignoring whitespace; the program runs `_start` under
//!   the deterministic WASI subset of [`crate::wasi`].
//!
//! ```toml
//! [entry]
//! export = "solve"
//! params = ["i32", "i32"]
//! results = ["i32"]
//!
//! [limits]
//! fuel = 10_000_000        # per test
//! memory = "16 MiB"
//!
//! [[tests]]
//! args = [1, 2]
//! expect = [3]
//! ```
//!
//! Unknown keys are errors naming the key and its line. Every test runs in a
//! fresh instance, so tests cannot leak state into each other and a report is
//! a function of (task, submission bytes, engine version) alone. In
//! differential mode ([`GradeOptions::reference`]) expected values come from a
//! reference module on the task's inputs plus inputs generated from a seed,
//! and the report names the first input on which the two differ.

use std::fmt::Write as _;
use std::sync::Arc;

use serde::Deserialize;
use toml::Spanned;

use crate::{
    ENGINE_VERSION, Limits, LoadError, Module, Sandbox, ValType, Value, Verdict, WasiOptions,
};

/// A task file that could not be used.
#[derive(Debug, thiserror::Error)]
#[error("{}{message}", line.map(|(l, c)| format!("line {l}, column {c}: ")).unwrap_or_default())]
pub struct TaskError {
    /// 1-based line and column of the offending text, when known.
    pub line: Option<(usize, usize)>,
    /// What is wrong.
    pub message: String,
}

fn task_error(
    text: &str,
    span: Option<std::ops::Range<usize>>,
    message: impl Into<String>,
) -> TaskError {
    let line = span.map(|span| {
        let before = &text[..span.start.min(text.len())];
        let line = before.matches('\n').count() + 1;
        let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
        (line, col)
    });
    TaskError {
        line,
        message: message.into(),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTask {
    entry: Option<RawEntry>,
    stdio: Option<RawStdio>,
    limits: Option<RawLimits>,
    compare: Option<RawCompare>,
    differential: Option<RawDifferential>,
    #[serde(default)]
    tests: Vec<RawTest>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    export: String,
    params: Vec<Spanned<String>>,
    results: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStdio {
    #[serde(default)]
    whitespace: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    fuel: Option<u64>,
    memory: Option<Spanned<toml::Value>>,
    output: Option<Spanned<toml::Value>>,
    table_elements: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCompare {
    floats: Spanned<String>,
    tolerance: Option<f64>,
    ulps: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDifferential {
    seed: Option<u64>,
    cases: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTest {
    name: Option<String>,
    #[serde(default)]
    hidden: bool,
    args: Option<Spanned<Vec<toml::Value>>>,
    expect: Option<Spanned<Vec<toml::Value>>>,
    stdin: Option<String>,
    stdout: Option<String>,
}

/// How float results are compared. Integers always compare exactly.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FloatCompare {
    /// Bit for bit, except that any NaN matches any NaN.
    Exact,
    /// `|actual - expected| <= tolerance`.
    Abs(f64),
    /// `|actual - expected| <= tolerance * |expected|`.
    Rel(f64),
    /// At most this many representable values apart.
    Ulp(u64),
}

/// How stdout is compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Whitespace {
    /// Byte for byte.
    Exact,
    /// Equal after splitting both on whitespace.
    Insensitive,
}

/// One test case.
#[derive(Clone, Debug, PartialEq)]
pub struct TestCase {
    /// Its name (`test-N` when the file gives none).
    pub name: String,
    /// Whether expected and actual values are withheld from the report.
    pub hidden: bool,
    /// Function mode: arguments and expected results. Stdio mode: stdin and
    /// expected stdout.
    pub io: TestIo,
}

/// The inputs and expectations of a test.
#[derive(Clone, Debug, PartialEq)]
pub enum TestIo {
    /// Function mode.
    Function {
        /// Arguments.
        args: Vec<Value>,
        /// Expected results (`None` in a differential-only task).
        expect: Option<Vec<Value>>,
    },
    /// Stdio mode.
    Stdio {
        /// The whole of stdin.
        stdin: String,
        /// Expected stdout.
        stdout: String,
    },
}

/// What is graded.
#[derive(Clone, Debug, PartialEq)]
pub enum Mode {
    /// Call `export` with the tests' arguments.
    Function {
        /// The export to call.
        export: String,
        /// Its parameter types.
        params: Vec<ValType>,
        /// Its result types.
        results: Vec<ValType>,
        /// Float comparison.
        compare: FloatCompare,
    },
    /// Run `_start` with the tests' stdin.
    Stdio {
        /// Stdout comparison.
        whitespace: Whitespace,
    },
}

/// A parsed task file.
#[derive(Clone, Debug, PartialEq)]
pub struct Task {
    /// Function or stdio mode.
    pub mode: Mode,
    /// Limits of each test.
    pub limits: Limits,
    /// The tests, in file order.
    pub tests: Vec<TestCase>,
    /// Seed of generated differential inputs (default 0).
    pub differential_seed: u64,
    /// Number of generated differential inputs (default 100).
    pub differential_cases: usize,
}

fn parse_type(text: &str, s: &Spanned<String>) -> Result<ValType, TaskError> {
    match s.get_ref().as_str() {
        "i32" => Ok(ValType::I32),
        "i64" => Ok(ValType::I64),
        "f32" => Ok(ValType::F32),
        "f64" => Ok(ValType::F64),
        other => Err(task_error(
            text,
            Some(s.span()),
            format!("unknown type `{other}` (expected i32, i64, f32 or f64)"),
        )),
    }
}

/// Parses `"16 MiB"`, `"64 KiB"`, `"1 GiB"`, `"100 B"` or a plain integer of bytes.
pub fn parse_size(value: &toml::Value) -> Option<u64> {
    match value {
        toml::Value::Integer(n) => u64::try_from(*n).ok(),
        toml::Value::String(s) => {
            let s = s.trim();
            let split = s
                .find(|c: char| !c.is_ascii_digit() && c != '_')
                .unwrap_or(s.len());
            let number: u64 = s[..split].replace('_', "").parse().ok()?;
            let unit: u64 = match s[split..].trim() {
                "" | "B" => 1,
                "KiB" => 1 << 10,
                "MiB" => 1 << 20,
                "GiB" => 1 << 30,
                "KB" | "kB" => 1_000,
                "MB" => 1_000_000,
                "GB" => 1_000_000_000,
                _ => return None,
            };
            number.checked_mul(unit)
        }
        _ => None,
    }
}

fn convert_value(ty: ValType, value: &toml::Value) -> Option<Value> {
    let float = || match value {
        toml::Value::Float(x) => Some(*x),
        toml::Value::Integer(n) => Some(*n as f64),
        _ => None,
    };
    match ty {
        ValType::I32 => match value {
            toml::Value::Integer(n) if i32::try_from(*n).is_ok() || u32::try_from(*n).is_ok() => {
                Some(Value::I32(*n as i32))
            }
            _ => None,
        },
        ValType::I64 => match value {
            toml::Value::Integer(n) => Some(Value::I64(*n)),
            _ => None,
        },
        ValType::F32 => float().map(|x| Value::f32(x as f32)),
        ValType::F64 => float().map(Value::f64),
    }
}

fn convert_values(
    text: &str,
    tys: &[ValType],
    values: &Spanned<Vec<toml::Value>>,
    what: &str,
) -> Result<Vec<Value>, TaskError> {
    let fail = |message: String| Err(task_error(text, Some(values.span()), message));
    if values.get_ref().len() != tys.len() {
        return fail(format!(
            "{what} has {} values, the entry has {} {what} types",
            values.get_ref().len(),
            tys.len()
        ));
    }
    let mut out = Vec::new();
    for (i, (ty, value)) in tys.iter().zip(values.get_ref()).enumerate() {
        match convert_value(*ty, value) {
            Some(v) => out.push(v),
            None => return fail(format!("{what}[{i}] = {value} is not a valid {ty}")),
        }
    }
    Ok(out)
}

impl Task {
    /// Reads and parses a task file.
    ///
    /// # Errors
    ///
    /// A [`TaskError`] naming the line of an unknown key, a bad value or a
    /// missing field.
    pub fn parse(text: &str) -> Result<Task, TaskError> {
        let raw: RawTask =
            toml::from_str(text).map_err(|e| task_error(text, e.span(), e.message()))?;
        let mut limits = Limits::default();
        if let Some(l) = &raw.limits {
            if let Some(fuel) = l.fuel {
                limits.fuel = fuel;
            }
            if let Some(memory) = &l.memory {
                limits.memory_bytes = parse_size(memory.get_ref()).ok_or_else(|| {
                    task_error(
                        text,
                        Some(memory.span()),
                        "memory must be a size like \"16 MiB\"",
                    )
                })?;
            }
            if let Some(output) = &l.output {
                limits.output_bytes = parse_size(output.get_ref()).ok_or_else(|| {
                    task_error(
                        text,
                        Some(output.span()),
                        "output must be a size like \"64 KiB\"",
                    )
                })?;
            }
            if let Some(n) = l.table_elements {
                limits.table_elements = n;
            }
        }
        limits
            .check()
            .map_err(|e| task_error(text, None, e.to_string()))?;
        let mode = match (&raw.entry, &raw.stdio) {
            (Some(entry), None) => {
                let params = entry
                    .params
                    .iter()
                    .map(|s| parse_type(text, s))
                    .collect::<Result<Vec<_>, _>>()?;
                let results = entry
                    .results
                    .iter()
                    .map(|s| parse_type(text, s))
                    .collect::<Result<Vec<_>, _>>()?;
                let compare = match &raw.compare {
                    None => FloatCompare::Exact,
                    Some(c) => match c.floats.get_ref().as_str() {
                        "exact" => FloatCompare::Exact,
                        "abs" => FloatCompare::Abs(c.tolerance.unwrap_or(1e-9)),
                        "rel" => FloatCompare::Rel(c.tolerance.unwrap_or(1e-9)),
                        "ulp" => FloatCompare::Ulp(c.ulps.unwrap_or(4)),
                        other => {
                            return Err(task_error(
                                text,
                                Some(c.floats.span()),
                                format!(
                                    "unknown comparison `{other}` (expected exact, abs, rel or ulp)"
                                ),
                            ));
                        }
                    },
                };
                Mode::Function {
                    export: entry.export.clone(),
                    params,
                    results,
                    compare,
                }
            }
            (None, Some(stdio)) => {
                let whitespace = match &stdio.whitespace {
                    None => Whitespace::Exact,
                    Some(w) => match w.get_ref().as_str() {
                        "exact" => Whitespace::Exact,
                        "insensitive" => Whitespace::Insensitive,
                        other => {
                            return Err(task_error(
                                text,
                                Some(w.span()),
                                format!(
                                    "unknown whitespace mode `{other}` (expected exact or insensitive)"
                                ),
                            ));
                        }
                    },
                };
                Mode::Stdio { whitespace }
            }
            _ => {
                return Err(task_error(
                    text,
                    None,
                    "a task needs exactly one of [entry] (function mode) or [stdio] (stdio mode)",
                ));
            }
        };
        let mut tests = Vec::new();
        for (i, t) in raw.tests.iter().enumerate() {
            let name = t.name.clone().unwrap_or_else(|| format!("test-{}", i + 1));
            let io = match &mode {
                Mode::Function {
                    params, results, ..
                } => {
                    let Some(args) = &t.args else {
                        return Err(task_error(
                            text,
                            None,
                            format!("test `{name}` has no `args`"),
                        ));
                    };
                    if t.stdin.is_some() || t.stdout.is_some() {
                        return Err(task_error(
                            text,
                            Some(args.span()),
                            format!("test `{name}`: stdin/stdout belong to stdio tasks"),
                        ));
                    }
                    TestIo::Function {
                        args: convert_values(text, params, args, "args")?,
                        expect: t
                            .expect
                            .as_ref()
                            .map(|e| convert_values(text, results, e, "expect"))
                            .transpose()?,
                    }
                }
                Mode::Stdio { .. } => {
                    let (Some(stdin), Some(stdout)) = (&t.stdin, &t.stdout) else {
                        return Err(task_error(
                            text,
                            None,
                            format!("test `{name}` needs `stdin` and `stdout`"),
                        ));
                    };
                    TestIo::Stdio {
                        stdin: stdin.clone(),
                        stdout: stdout.clone(),
                    }
                }
            };
            tests.push(TestCase {
                name,
                hidden: t.hidden,
                io,
            });
        }
        Ok(Task {
            mode,
            limits,
            tests,
            differential_seed: raw.differential.as_ref().and_then(|d| d.seed).unwrap_or(0),
            differential_cases: raw
                .differential
                .as_ref()
                .and_then(|d| d.cases)
                .unwrap_or(100),
        })
    }
}

/// The status of a submission as a whole.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Status {
    /// The tests ran (whatever their verdicts).
    Graded,
    /// Not a valid module.
    InvalidModule,
    /// Valid, but uses a proposal the sandbox turns off.
    UnsupportedFeature,
    /// Imports something not provided.
    LinkError,
    /// The entry export is missing or has the wrong type.
    MissingExport,
    /// Over an engine ceiling.
    TooLarge,
    /// The compiler refused it.
    CompileError,
}

impl Status {
    fn from_load(err: &LoadError) -> Status {
        match err {
            LoadError::Invalid { .. } => Status::InvalidModule,
            LoadError::UnsupportedFeature { .. } => Status::UnsupportedFeature,
            LoadError::DisallowedImport { .. } | LoadError::MistypedImport { .. } => {
                Status::LinkError
            }
            LoadError::TooLarge { .. } => Status::TooLarge,
            _ => Status::CompileError,
        }
    }
}

/// The result of one test.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct TestReport {
    /// The test's name.
    pub name: String,
    /// `pass`, `wrong_answer`, `nonzero_exit`, or a [`Verdict::name`].
    pub verdict: String,
    /// Expected results or stdout (withheld for hidden tests).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    /// Actual results or stdout (withheld for hidden tests).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actual: Option<String>,
    /// Fuel the test used.
    pub fuel: u64,
}

/// The first input on which submission and reference differ.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Difference {
    /// The test's name (from the task, or `generated-N`).
    pub name: String,
    /// The input (`(hidden)` for a hidden test of the task, as are the results).
    pub args: String,
    /// The reference's results or verdict.
    pub expected: String,
    /// The submission's results or verdict.
    pub actual: String,
}

/// Differential-mode summary.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Differential {
    /// Inputs compared (those on which the reference itself failed are skipped).
    pub cases: usize,
    /// The first distinguishing input, if any.
    pub first_difference: Option<Difference>,
}

/// The grade of one submission.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Report {
    /// The submission's name (a path, for the CLI).
    pub submission: String,
    /// Whether the tests ran.
    pub status: Status,
    /// Why not, when they did not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// One report per test, in task order.
    pub tests: Vec<TestReport>,
    /// Percentage of instrumented sites reached over all tests, if asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub coverage: Option<f64>,
    /// Fraction of tests passed, from 0 to 1.
    pub score: f64,
    /// Differential-mode summary.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub differential: Option<Differential>,
    /// The engine the fuel figures belong to.
    pub engine: &'static str,
}

/// Options of a grading run.
#[derive(Clone, Debug)]
pub struct GradeOptions {
    /// Also run the tests on an instrumented copy and report coverage.
    pub coverage: bool,
    /// Differential mode: the reference module's bytes.
    pub reference: Option<Arc<[u8]>>,
}

/// Compares two values under `compare`.
pub fn values_match(compare: FloatCompare, expected: &Value, actual: &Value) -> bool {
    let floats = match (*expected, *actual) {
        (Value::F32(e), Value::F32(a)) => (
            f64::from(f32::from_bits(e)),
            f64::from(f32::from_bits(a)),
            ulp_distance32(e, a),
        ),
        (Value::F64(e), Value::F64(a)) => {
            (f64::from_bits(e), f64::from_bits(a), ulp_distance64(e, a))
        }
        _ => return expected == actual,
    };
    let (e, a, ulps) = floats;
    if e.is_nan() || a.is_nan() {
        return e.is_nan() && a.is_nan();
    }
    match compare {
        FloatCompare::Exact => expected == actual,
        FloatCompare::Abs(tol) => e == a || (a - e).abs() <= tol,
        FloatCompare::Rel(tol) => e == a || (a - e).abs() <= tol * e.abs(),
        FloatCompare::Ulp(n) => ulps <= n,
    }
}

fn ordered32(bits: u32) -> i64 {
    let x = bits as i32;
    i64::from(if x < 0 { i32::MIN.wrapping_sub(x) } else { x })
}

fn ulp_distance32(a: u32, b: u32) -> u64 {
    ordered32(a).abs_diff(ordered32(b))
}

fn ordered64(bits: u64) -> i128 {
    let x = bits as i64;
    i128::from(if x < 0 { i64::MIN.wrapping_sub(x) } else { x })
}

fn ulp_distance64(a: u64, b: u64) -> u64 {
    u64::try_from(ordered64(a).abs_diff(ordered64(b))).unwrap_or(u64::MAX)
}

fn show(values: &[Value]) -> String {
    let mut s = String::from("[");
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        let _ = write!(s, "{v}");
    }
    s.push(']');
    s
}

/// What one run of the entry produced.
enum Run {
    Values(Vec<Value>),
    Stdout(Vec<u8>, Option<i32>),
    Failed(Verdict),
}

/// Runs one test in a fresh instance. Returns the run and the fuel used.
fn run_one(module: &Module, task: &Task, io: &TestIo) -> crate::Result<(Run, u64)> {
    let stdin = match io {
        TestIo::Stdio { stdin, .. } => stdin.as_bytes().to_vec(),
        TestIo::Function { .. } => Vec::new(),
    };
    let options = WasiOptions { stdin, seed: 0 };
    let mut instance = match module.instantiate_wasi(&task.limits, &options)? {
        Ok(instance) => instance,
        Err(verdict) => return Ok((Run::Failed(verdict), task.limits.fuel)),
    };
    let start_fuel = instance.start_fuel_used();
    let (export, args) = match (&task.mode, io) {
        (Mode::Function { export, .. }, TestIo::Function { args, .. }) => {
            (export.as_str(), args.as_slice())
        }
        _ => ("_start", &[][..]),
    };
    let outcome = instance.call(export, args)?;
    let fuel = start_fuel + outcome.fuel_used;
    let run = match (outcome.result, &task.mode) {
        (Err(verdict), _) => Run::Failed(verdict),
        (Ok(values), Mode::Function { .. }) => Run::Values(values),
        (Ok(_), Mode::Stdio { .. }) => {
            let out = instance.wasi_output().cloned().unwrap_or_default();
            Run::Stdout(out.stdout, out.exit_code)
        }
    };
    Ok((run, fuel))
}

fn check_entry(module: &Module, task: &Task) -> Option<String> {
    match &task.mode {
        Mode::Function {
            export,
            params,
            results,
            ..
        } => match module.func_type(export) {
            None => Some(format!("no exported function `{export}`")),
            Some(ty) if ty.params != *params || ty.results != *results => Some(format!(
                "`{export}` has type {ty}, the task expects {}",
                crate::wasi::signature_text(params, results)
            )),
            Some(_) => None,
        },
        Mode::Stdio { .. } => match module.func_type("_start") {
            Some(ty) if ty.params.is_empty() && ty.results.is_empty() => None,
            _ => Some("no exported function `_start` of type () -> ()".into()),
        },
    }
}

fn stdout_matches(whitespace: Whitespace, expected: &str, actual: &[u8]) -> bool {
    let actual = String::from_utf8_lossy(actual);
    match whitespace {
        Whitespace::Exact => expected == actual,
        Whitespace::Insensitive => expected.split_whitespace().eq(actual.split_whitespace()),
    }
}

fn failed_report(submission: &str, status: Status, message: String) -> Report {
    Report::rejected(submission, status, message)
}

/// Parses WebAssembly text (or passes binary through) for grading.
///
/// # Errors
///
/// [`LoadError::Invalid`] with the parser's message, line and column.
pub fn parse_wat(text: &[u8]) -> Result<Vec<u8>, LoadError> {
    wat::parse_bytes(text)
        .map(|bytes| bytes.into_owned())
        .map_err(|e| LoadError::Invalid {
            message: e.to_string(),
            offset: 0,
            func: None,
        })
}

impl Report {
    /// The report of a submission that could not be graded at all, such as a
    /// text module that does not parse ([`Status::InvalidModule`]).
    pub fn rejected(submission: &str, status: Status, message: String) -> Report {
        Report {
            submission: submission.into(),
            status,
            message: Some(message),
            tests: Vec::new(),
            coverage: None,
            score: 0.0,
            differential: None,
            engine: ENGINE_VERSION,
        }
    }
}

/// Grades one submission.
///
/// # Errors
///
/// Only host failures ([`crate::Error`]); everything about the submission is in the [`Report`].
pub fn grade(
    sandbox: &Sandbox,
    task: &Task,
    submission: &str,
    wasm: &[u8],
    options: &GradeOptions,
) -> crate::Result<Report> {
    let module = match sandbox.load(wasm) {
        Ok(module) => module,
        Err(err) => {
            return Ok(failed_report(
                submission,
                Status::from_load(&err),
                err.to_string(),
            ));
        }
    };
    if let Some(message) = check_entry(&module, task) {
        return Ok(failed_report(submission, Status::MissingExport, message));
    }
    let mut report = Report {
        submission: submission.into(),
        status: Status::Graded,
        message: None,
        tests: Vec::new(),
        coverage: None,
        score: 0.0,
        differential: None,
        engine: ENGINE_VERSION,
    };
    match &options.reference {
        Some(reference) => differential(sandbox, task, &module, reference, &mut report)?,
        None => {
            for test in &task.tests {
                let (run, fuel) = run_one(&module, task, &test.io)?;
                report.tests.push(judge(task, test, &run, fuel));
            }
        }
    }
    let passed = report.tests.iter().filter(|t| t.verdict == "pass").count();
    report.score = if report.tests.is_empty() {
        0.0
    } else {
        passed as f64 / report.tests.len() as f64
    };
    if options.coverage {
        report.coverage = coverage(sandbox, task, wasm)?;
    }
    Ok(report)
}

fn judge(task: &Task, test: &TestCase, run: &Run, fuel: u64) -> TestReport {
    let (verdict, expected, actual) = match (run, &test.io, &task.mode) {
        (Run::Failed(verdict), io, _) => {
            let expected = match io {
                TestIo::Function { expect, .. } => expect.as_deref().map(show),
                TestIo::Stdio { stdout, .. } => Some(stdout.clone()),
            };
            (verdict.name().to_string(), expected, None)
        }
        (Run::Values(values), TestIo::Function { expect, .. }, Mode::Function { compare, .. }) => {
            let ok = match expect {
                Some(expect) => {
                    expect.len() == values.len()
                        && expect
                            .iter()
                            .zip(values)
                            .all(|(e, a)| values_match(*compare, e, a))
                }
                None => true,
            };
            let verdict = if ok { "pass" } else { "wrong_answer" };
            (
                verdict.to_string(),
                expect.as_deref().map(show),
                Some(show(values)),
            )
        }
        (Run::Stdout(out, exit), TestIo::Stdio { stdout, .. }, Mode::Stdio { whitespace }) => {
            let verdict = match exit {
                Some(code) if *code != 0 => "nonzero_exit",
                _ if stdout_matches(*whitespace, stdout, out) => "pass",
                _ => "wrong_answer",
            };
            (
                verdict.to_string(),
                Some(stdout.clone()),
                Some(String::from_utf8_lossy(out).into_owned()),
            )
        }
        _ => ("wrong_answer".to_string(), None, None),
    };
    let (expected, actual) = if test.hidden {
        (None, None)
    } else {
        (expected, actual)
    };
    TestReport {
        name: test.name.clone(),
        verdict,
        expected,
        actual,
        fuel,
    }
}

/// SplitMix64, for generated differential inputs (see [`crate::wasi`] for the citation).
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// A generated argument: edge values a quarter of the time, else small
/// numbers half the time, else any bits.
fn generate(rng: &mut SplitMix, ty: ValType) -> Value {
    let r = rng.next();
    let pick = r % 8;
    let raw = rng.next();
    match ty {
        ValType::I32 => Value::I32(match pick {
            0 => [0, 1, -1, i32::MIN, i32::MAX][(raw % 5) as usize],
            1..=4 => (raw % 201) as i32 - 100,
            _ => raw as i32,
        }),
        ValType::I64 => Value::I64(match pick {
            0 => [0, 1, -1, i64::MIN, i64::MAX][(raw % 5) as usize],
            1..=4 => (raw % 201) as i64 - 100,
            _ => raw as i64,
        }),
        ValType::F32 => match pick {
            0 => Value::f32([0.0, -0.0, 1.0, f32::INFINITY, f32::NAN][(raw % 5) as usize]),
            1..=4 => Value::f32(((raw % 20001) as f32 - 10000.0) / 100.0),
            _ => Value::F32(raw as u32),
        },
        ValType::F64 => match pick {
            0 => Value::f64([0.0, -0.0, 1.0, f64::INFINITY, f64::NAN][(raw % 5) as usize]),
            1..=4 => Value::f64(((raw % 20001) as f64 - 10000.0) / 100.0),
            _ => Value::F64(raw),
        },
    }
}

fn differential(
    sandbox: &Sandbox,
    task: &Task,
    module: &Module,
    reference: &[u8],
    report: &mut Report,
) -> crate::Result<()> {
    let Mode::Function {
        params, compare, ..
    } = &task.mode
    else {
        report.message = Some("differential mode needs a function-mode task".into());
        return Ok(());
    };
    let reference = match sandbox.load(reference) {
        Ok(module) => module,
        Err(err) => {
            report.message = Some(format!("reference rejected: {err}"));
            return Ok(());
        }
    };
    // (name, arguments, hidden): the task's own inputs first, then generated ones.
    let mut inputs: Vec<(String, Vec<Value>, bool)> = task
        .tests
        .iter()
        .filter_map(|t| match &t.io {
            TestIo::Function { args, .. } => Some((t.name.clone(), args.clone(), t.hidden)),
            TestIo::Stdio { .. } => None,
        })
        .collect();
    let mut rng = SplitMix(task.differential_seed);
    for i in 0..task.differential_cases {
        let args = params.iter().map(|ty| generate(&mut rng, *ty)).collect();
        inputs.push((format!("generated-{}", i + 1), args, false));
    }
    let mut cases = 0;
    let mut first_difference = None;
    for (name, args, hidden) in inputs {
        let io = TestIo::Function {
            args: args.clone(),
            expect: None,
        };
        let (expected, _) = run_one(&reference, task, &io)?;
        let Run::Values(expected) = expected else {
            continue;
        };
        cases += 1;
        let (actual, fuel) = run_one(module, task, &io)?;
        let (verdict, actual_text) = match &actual {
            Run::Values(values)
                if values.len() == expected.len()
                    && expected
                        .iter()
                        .zip(values)
                        .all(|(e, a)| values_match(*compare, e, a)) =>
            {
                ("pass".to_string(), show(values))
            }
            Run::Values(values) => ("wrong_answer".to_string(), show(values)),
            Run::Failed(verdict) => (verdict.name().to_string(), verdict.name().to_string()),
            Run::Stdout(..) => ("wrong_answer".to_string(), String::new()),
        };
        let reveal = |text: String| if hidden { "(hidden)".to_string() } else { text };
        if verdict != "pass" && first_difference.is_none() {
            first_difference = Some(Difference {
                name: name.clone(),
                args: reveal(show(&args)),
                expected: reveal(show(&expected)),
                actual: reveal(actual_text.clone()),
            });
        }
        report.tests.push(TestReport {
            name,
            verdict,
            expected: (!hidden).then(|| show(&expected)),
            actual: (!hidden).then_some(actual_text),
            fuel,
        });
    }
    report.differential = Some(Differential {
        cases,
        first_difference,
    });
    Ok(())
}

/// Runs every test on an instrumented copy and returns the percentage of sites reached.
fn coverage(sandbox: &Sandbox, task: &Task, wasm: &[u8]) -> crate::Result<Option<f64>> {
    let options = crate::instrument::InstrumentOptions {
        branches: true,
        trace_capacity: 0,
    };
    let Ok(instrumented) = crate::instrument::instrument(wasm, &options) else {
        return Ok(None);
    };
    let Ok(module) = sandbox.load(&instrumented.bytes) else {
        return Ok(None);
    };
    let mut counts = vec![0u64; instrumented.sites.len()];
    for test in &task.tests {
        let stdin = match &test.io {
            TestIo::Stdio { stdin, .. } => stdin.as_bytes().to_vec(),
            TestIo::Function { .. } => Vec::new(),
        };
        let Ok(mut instance) =
            module.instantiate_wasi(&task.limits, &WasiOptions { stdin, seed: 0 })?
        else {
            continue;
        };
        let (export, args) = match (&task.mode, &test.io) {
            (Mode::Function { export, .. }, TestIo::Function { args, .. }) => {
                (export.as_str(), args.as_slice())
            }
            _ => ("_start", &[][..]),
        };
        instance.call(export, args)?;
        let cov = instance.read_coverage(&instrumented)?;
        for (total, c) in counts.iter_mut().zip(cov.counts) {
            *total += c;
        }
    }
    let covered = counts.iter().filter(|c| **c > 0).count();
    Ok(Some(if counts.is_empty() {
        100.0
    } else {
        100.0 * covered as f64 / counts.len() as f64
    }))
}

/// Grades many submissions on the sandbox's thread pool; reports come back in
/// input order whatever the thread count.
pub fn grade_all(
    sandbox: &Sandbox,
    task: &Task,
    submissions: Vec<(String, Vec<u8>)>,
    options: &GradeOptions,
) -> Vec<crate::Result<Report>> {
    sandbox.map(submissions, |(name, wasm)| {
        grade(sandbox, task, &name, &wasm, options)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TASK: &str = r#"
[entry]
export = "solve"
params = ["i32", "i32"]
results = ["i32"]

[limits]
fuel = 10_000_000        # per test
memory = "16 MiB"

[[tests]]
args = [1, 2]
expect = [3]
"#;

    #[test]
    fn parses_the_issue_example() {
        let task = Task::parse(TASK).unwrap();
        assert_eq!(task.limits.memory_bytes, 16 << 20);
        assert_eq!(task.limits.fuel, 10_000_000);
        assert_eq!(
            task.tests[0].io,
            TestIo::Function {
                args: vec![Value::I32(1), Value::I32(2)],
                expect: Some(vec![Value::I32(3)])
            }
        );
    }

    #[test]
    fn unknown_key_names_key_and_line() {
        let text = TASK.replace("memory = \"16 MiB\"", "memory = \"16 MiB\"\nfool = 3");
        let err = Task::parse(&text).unwrap_err();
        assert_eq!(err.line, Some((10, 1)), "{err}");
        assert!(err.message.contains("unknown field `fool`"), "{err}");
    }

    #[test]
    fn bad_argument_type_names_line() {
        let text = TASK.replace("args = [1, 2]", "args = [1, 2.5]");
        let err = Task::parse(&text).unwrap_err();
        assert_eq!(err.line.map(|l| l.0), Some(12), "{err}");
    }

    #[test]
    fn sizes_parse() {
        assert_eq!(
            parse_size(&toml::Value::String("64 KiB".into())),
            Some(65536)
        );
        assert_eq!(parse_size(&toml::Value::Integer(10)), Some(10));
        assert_eq!(parse_size(&toml::Value::String("3 parsecs".into())), None);
    }

    #[test]
    fn float_comparisons() {
        let one = Value::f64(1.0);
        let next = Value::F64(1.0f64.to_bits() + 1);
        assert!(!values_match(FloatCompare::Exact, &one, &next));
        assert!(values_match(FloatCompare::Ulp(1), &one, &next));
        assert!(values_match(FloatCompare::Abs(1e-9), &one, &next));
        assert!(values_match(FloatCompare::Rel(1e-9), &one, &next));
        assert!(values_match(
            FloatCompare::Exact,
            &Value::f64(f64::NAN),
            &Value::F64(0x7ff8_0000_0000_0001)
        ));
        assert!(values_match(
            FloatCompare::Ulp(2),
            &Value::f32(0.0),
            &Value::f32(-0.0)
        ));
    }
}
