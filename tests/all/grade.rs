//! `crucible grade` and the grading library on the shipped sample task: the
//! verdict of every sample submission (WAT and Rust), the CLI's output formats
//! and exit codes, differential mode, and determinism across repetitions and
//! thread counts.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crucible_sandbox::grade::{self, GradeOptions, Report, Task};
use crucible_sandbox::{Sandbox, SandboxConfig, Strategy};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn sample(name: &str) -> PathBuf {
    root().join("guests/sample_add").join(name)
}

/// Builds the Rust submissions once per test run and returns their directory.
///
/// They are built with the stable toolchain's `cargo` into
/// `$CARGO_TARGET_DIR/guests` (or `target/guests`), outside the workspace.
fn rust_guests() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let installed = Command::new("rustup")
            .args(["target", "list", "--installed"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        assert!(
            installed.contains("wasm32-unknown-unknown"),
            "the wasm32-unknown-unknown target is missing: run `rustup target add wasm32-unknown-unknown`"
        );
        let target_dir = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| root().join("target"))
            .join("guests");
        let status = Command::new(env!("CARGO"))
            .args(["build", "--release", "--target", "wasm32-unknown-unknown", "--examples", "--quiet"])
            .current_dir(sample("rust"))
            .env("CARGO_TARGET_DIR", &target_dir)
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .status()
            .expect("running cargo to build the Rust guests");
        assert!(status.success(), "building guests/sample_add/rust failed");
        target_dir.join("wasm32-unknown-unknown/release/examples")
    })
}

fn sandbox(threads: usize) -> Sandbox {
    let mut config = SandboxConfig::new(Strategy::Cranelift);
    config.threads = threads;
    config.wasi = true;
    Sandbox::new(&config).unwrap()
}

fn task() -> Task {
    Task::parse(&std::fs::read_to_string(sample("task.toml")).unwrap()).unwrap()
}

fn read_submission(path: &Path) -> Vec<u8> {
    grade::parse_wat(&std::fs::read(path).unwrap()).unwrap()
}

fn options() -> GradeOptions {
    GradeOptions {
        coverage: false,
        reference: None,
    }
}

/// `status`, then each test's verdict.
fn summary(report: &Report) -> String {
    let status = serde_json::to_value(report.status).unwrap();
    let verdicts: Vec<&str> = report.tests.iter().map(|t| t.verdict.as_str()).collect();
    format!("{} {}", status.as_str().unwrap(), verdicts.join(" "))
}

#[track_caller]
fn check(path: &Path, expect: &str) {
    let report = grade::grade(
        &sandbox(1),
        &task(),
        "s",
        &read_submission(path),
        &options(),
    )
    .unwrap();
    assert_eq!(summary(&report), expect, "{}", path.display());
}

const ALL_PASS: &str = "graded pass pass pass pass pass pass";

#[test]
fn wat_submissions_get_their_verdicts() {
    check(&sample("wat/reference_add.wat"), ALL_PASS);
    check(
        &sample("wat/wrong_saturating.wat"),
        "graded pass pass pass pass wrong_answer wrong_answer",
    );
    check(
        &sample("wat/wrong_counting.wat"),
        "graded pass pass pass out_of_fuel pass out_of_fuel",
    );
    check(
        &sample("wat/wrong_divides.wat"),
        "graded pass pass trap:int_divide_by_zero wrong_answer pass pass",
    );
    check(&sample("wat/wrong_export_name.wat"), "missing_export ");
}

#[test]
fn rust_submissions_get_their_verdicts() {
    let dir = rust_guests();
    check(&dir.join("reference_add.wasm"), ALL_PASS);
    check(
        &dir.join("wrong_checked.wasm"),
        "graded pass pass pass pass trap:unreachable trap:unreachable",
    );
    check(
        &dir.join("wrong_off_by_one.wasm"),
        "graded pass pass pass pass pass wrong_answer",
    );
}

#[test]
fn hidden_tests_withhold_values() {
    let bytes = read_submission(&sample("wat/wrong_saturating.wat"));
    let report = grade::grade(&sandbox(1), &task(), "s", &bytes, &options()).unwrap();
    let hidden = &report.tests[4];
    assert_eq!(
        (hidden.expected.as_deref(), hidden.actual.as_deref()),
        (None, None)
    );
    assert_eq!(report.tests[0].expected.as_deref(), Some("[3]"));
}

#[test]
fn coverage_is_reported() {
    let bytes = read_submission(&sample("wat/wrong_saturating.wat"));
    let options = GradeOptions {
        coverage: true,
        reference: None,
    };
    let report = grade::grade(&sandbox(1), &task(), "s", &bytes, &options).unwrap();
    // Entry, two `then` arms and two empty `else` arms: all reached by the
    // six tests (the overflow tests take the `then` arms).
    assert_eq!(report.coverage, Some(100.0));
    let reference = read_submission(&sample("wat/wrong_counting.wat"));
    let report = grade::grade(&sandbox(1), &task(), "s", &reference, &options).unwrap();
    assert!(
        report.coverage.is_some_and(|c| c > 0.0 && c <= 100.0),
        "{report:?}"
    );
}

#[test]
fn differential_mode_reports_first_distinguishing_input() {
    let reference = read_submission(&sample("wat/reference_add.wat"));
    let options = GradeOptions {
        coverage: false,
        reference: Some(reference.into()),
    };
    let wrong = read_submission(&sample("wat/wrong_saturating.wat"));
    let report = grade::grade(&sandbox(1), &task(), "s", &wrong, &options).unwrap();
    let diff = report.differential.as_ref().unwrap();
    assert_eq!(diff.cases, 6 + 100);
    // The first difference is a hidden test of the task: named, values withheld.
    let first = diff.first_difference.as_ref().unwrap();
    assert_eq!(first.name, "overflow-wraps");
    assert_eq!(
        (first.args.as_str(), first.actual.as_str()),
        ("(hidden)", "(hidden)")
    );
    // The first generated difference shows its input.
    let generated = report
        .tests
        .iter()
        .find(|t| t.name.starts_with("generated-") && t.verdict != "pass")
        .unwrap();
    assert_eq!(
        (
            generated.name.as_str(),
            generated.expected.as_deref(),
            generated.actual.as_deref()
        ),
        ("generated-12", Some("[-197480888]"), Some("[2147483647]"))
    );
    // Without hidden tests, the first difference is shown in full.
    let mut open_task = task();
    for test in &mut open_task.tests {
        test.hidden = false;
    }
    let report = grade::grade(&sandbox(1), &open_task, "s", &wrong, &options).unwrap();
    let first = report.differential.unwrap().first_difference.unwrap();
    assert_eq!(first.args, "[2147483647, 1]");
    assert_eq!(first.expected, "[-2147483648]");
    assert_eq!(first.actual, "[2147483647]");
}

#[test]
fn grading_is_deterministic_across_repetitions_and_threads() {
    let submissions: Vec<(String, Vec<u8>)> = [
        "wat/wrong_counting.wat",
        "wat/wrong_divides.wat",
        "wat/reference_add.wat",
    ]
    .iter()
    .map(|p| (p.to_string(), read_submission(&sample(p))))
    .collect();
    let task = task();
    let one = grade::grade_all(&sandbox(1), &task, submissions.clone(), &options());
    let two = grade::grade_all(&sandbox(2), &task, submissions.clone(), &options());
    let one: Vec<Report> = one.into_iter().map(Result::unwrap).collect();
    let two: Vec<Report> = two.into_iter().map(Result::unwrap).collect();
    assert_eq!(one, two);
    // The same submission 1,000 times, on two threads, in one batch.
    let bytes = read_submission(&sample("wat/wrong_divides.wat"));
    let batch: Vec<_> = (0..1000)
        .map(|_| ("s".to_string(), bytes.clone()))
        .collect();
    let reports = grade::grade_all(&sandbox(2), &task, batch, &options());
    let first = reports[0].as_ref().unwrap();
    assert_eq!(first, &one[1].clone().with_submission("s"));
    for report in &reports {
        assert_eq!(report.as_ref().unwrap(), first);
    }
}

trait WithSubmission {
    fn with_submission(self, name: &str) -> Self;
}

impl WithSubmission for Report {
    fn with_submission(mut self, name: &str) -> Report {
        self.submission = name.into();
        self
    }
}

fn crucible(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_crucible"))
        .args(args)
        .current_dir(root())
        .output()
        .unwrap()
}

#[test]
fn cli_prints_jsonl_and_exits_zero() {
    let out = crucible(&[
        "grade",
        "--task",
        "guests/sample_add/task.toml",
        "--jsonl",
        "--jobs",
        "2",
        "guests/sample_add/wat/reference_add.wat",
        "guests/sample_add/wat/wrong_divides.wat",
        "guests/sample_add/wat/wrong_export_name.wat",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(
        lines[0]["submission"],
        "guests/sample_add/wat/reference_add.wat"
    );
    assert_eq!(lines[0]["status"], "graded");
    assert_eq!(lines[0]["score"], 1.0);
    assert_eq!(lines[1]["tests"][2]["name"], "zero");
    assert_eq!(lines[1]["tests"][2]["verdict"], "trap:int_divide_by_zero");
    assert!(lines[1]["tests"][2]["fuel"].is_u64());
    assert_eq!(lines[2]["status"], "missing_export");
}

#[test]
fn cli_json_is_one_array_and_table_is_default() {
    let out = crucible(&[
        "grade",
        "--task",
        "guests/sample_add/task.toml",
        "--json",
        "guests/sample_add/wat/reference_add.wat",
    ]);
    assert!(out.status.success());
    let all: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(all.as_array().map(Vec::len), Some(1));
    let out = crucible(&[
        "grade",
        "--task",
        "guests/sample_add/task.toml",
        "guests/sample_add/wat/reference_add.wat",
    ]);
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(table.starts_with("submission"), "{table}");
    assert!(table.contains("6/6"), "{table}");
}

#[test]
fn cli_rejects_unknown_task_key_with_line() {
    let dir = std::env::temp_dir().join(format!("crucible-grade-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let task = dir.join("task.toml");
    std::fs::write(
        &task,
        "[entry]\nexport = \"solve\"\nparams = []\nresults = []\nmystery = 1\n",
    )
    .unwrap();
    let out = crucible(&[
        "grade",
        "--task",
        task.to_str().unwrap(),
        "guests/sample_add/wat/reference_add.wat",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("line 5") && stderr.contains("mystery"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn cli_reports_unparsable_wat_as_invalid_module() {
    let dir = std::env::temp_dir().join(format!("crucible-grade-wat-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.wat");
    std::fs::write(&bad, "(module (func $oops").unwrap();
    let out = crucible(&[
        "grade",
        "--task",
        "guests/sample_add/task.toml",
        "--jsonl",
        bad.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    let line: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(line["status"], "invalid_module");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn stdio_task_grades_wasi_programs() {
    let dir = root().join("guests/sample_echo");
    let task = Task::parse(&std::fs::read_to_string(dir.join("task.toml")).unwrap()).unwrap();
    let run = |name: &str| {
        let bytes = read_submission(&dir.join(name));
        summary(&grade::grade(&sandbox(1), &task, name, &bytes, &options()).unwrap())
    };
    assert_eq!(run("reference_echo.wat"), "graded pass pass");
    assert_eq!(
        run("wrong_exit_code.wat"),
        "graded nonzero_exit nonzero_exit"
    );
    assert_eq!(
        run("../adversarial/adversarial_wasi_stdout_spam.wat"),
        "graded output_limit output_limit"
    );
    assert_eq!(
        run("../sample_add/wat/reference_add.wat"),
        "missing_export "
    );
}

#[test]
fn cli_falls_back_to_on_demand_allocation_when_address_space_is_scarce() {
    // 3 GB of address space: too little for the pool's ~1 TiB reservation.
    let script = format!(
        "ulimit -v 3000000 && exec '{}' grade --task guests/sample_echo/task.toml --jsonl \
         guests/sample_echo/reference_echo.wat guests/adversarial/adversarial_wasi_stdout_spam.wat",
        env!("CARGO_BIN_EXE_crucible")
    );
    let out = Command::new("sh")
        .args(["-c", &script])
        .current_dir(root())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("falling back to on-demand allocation"),
        "{stderr}"
    );
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["score"], 1.0);
    assert_eq!(lines[1]["tests"][0]["verdict"], "output_limit");
}
