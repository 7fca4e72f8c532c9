//! Grading of single-file Rust and C submissions, as an LLM would write them,
//! through the CLI: the shipped samples under guests/sample_add/llm/ get their
//! exact verdicts, compile errors carry the compiler's message, and a mixed
//! batch (candidate language, Rust, C, Wasm) grades in one call.
//!
//! Needs `rustc` with the wasm32-unknown-unknown target and `clang` with
//! `wasm-ld` (`.ci/run` installs both).

use std::path::PathBuf;
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Grades `submissions` (paths relative to the repository root) against the
/// sample task and returns one line per submission: name, status, verdicts.
fn grade(submissions: &[&str]) -> Vec<serde_json::Value> {
    let out = Command::new(env!("CARGO_BIN_EXE_crucible"))
        .args(["grade", "--task", "guests/sample_add/task.toml", "--jsonl"])
        .args(submissions)
        .current_dir(root())
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// `status`, then each test's verdict.
fn summary(report: &serde_json::Value) -> String {
    let mut words = vec![report["status"].as_str().unwrap().to_string()];
    for test in report["tests"].as_array().unwrap() {
        words.push(test["verdict"].as_str().unwrap().to_string());
    }
    words.join(" ")
}

#[track_caller]
fn check(submission: &str, expect: &str) {
    let reports = grade(&[submission]);
    assert_eq!(reports.len(), 1);
    assert_eq!(
        summary(&reports[0]),
        expect,
        "{submission}: {:#}",
        reports[0]
    );
}

const ALL_PASS: &str = "graded pass pass pass pass pass pass";

#[test]
fn rust_submissions_get_their_verdicts() {
    check("guests/sample_add/llm/correct.rs", ALL_PASS);
    check(
        "guests/sample_add/llm/wrong.rs",
        "graded pass pass pass pass wrong_answer wrong_answer",
    );
    check(
        "guests/sample_add/llm/hostile.rs",
        "graded out_of_fuel out_of_fuel out_of_fuel out_of_fuel out_of_fuel out_of_fuel",
    );
}

#[test]
fn c_submissions_get_their_verdicts() {
    check("guests/sample_add/llm/correct.c", ALL_PASS);
    check(
        "guests/sample_add/llm/wrong.c",
        "graded pass wrong_answer pass pass pass wrong_answer",
    );
    check(
        "guests/sample_add/llm/hostile.c",
        "graded memory_limit memory_limit memory_limit memory_limit memory_limit memory_limit",
    );
}

#[test]
fn compile_errors_carry_the_compilers_message() {
    let reports = grade(&[
        "guests/sample_add/llm/noncompiling.rs",
        "guests/sample_add/llm/noncompiling.c",
    ]);
    let rust = &reports[0];
    assert_eq!(summary(rust), "compile_error");
    let message = rust["message"].as_str().unwrap();
    assert!(
        message.starts_with("error[E0308]: mismatched types\n --> noncompiling.rs:5:5"),
        "{message}"
    );
    assert!(message.contains("expected `i32`, found `i64`"), "{message}");
    let c = &reports[1];
    assert_eq!(summary(c), "compile_error");
    let message = c["message"].as_str().unwrap();
    assert!(
        message.starts_with("noncompiling.c:4:16: error: use of undeclared identifier 'c'"),
        "{message}"
    );
}

#[test]
fn sources_that_read_host_files_are_refused() {
    let dir = std::env::temp_dir().join(format!("crucible-llm-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let rust = dir.join("leak.rs");
    std::fs::write(
        &rust,
        "#[no_mangle] pub extern \"C\" fn solve(a: i32, b: i32) -> i32 {\n\
         include_str!(\"/etc/passwd\").len() as i32 + a + b\n}\n",
    )
    .unwrap();
    let c = dir.join("leak.c");
    std::fs::write(
        &c,
        "#include \"/etc/passwd\"\nint solve(int a, int b) { return a + b; }\n",
    )
    .unwrap();
    let reports = grade(&[rust.to_str().unwrap(), c.to_str().unwrap()]);
    for report in &reports {
        assert_eq!(summary(report), "compile_error");
        assert!(
            report["message"].as_str().unwrap().starts_with("line "),
            "{report:#}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_mixed_batch_grades_in_one_call() {
    let reports = grade(&[
        "guests/sample_add/cru/correct.cru",
        "guests/sample_add/llm/correct.rs",
        "guests/sample_add/llm/wrong.c",
        "guests/sample_add/wat/reference_add.wat",
        "guests/sample_add/llm/noncompiling.rs",
        "guests/sample_add/cru/ill_typed.cru",
    ]);
    let got: Vec<String> = reports
        .iter()
        .map(|r| format!("{} {}", r["submission"].as_str().unwrap(), summary(r)))
        .collect();
    assert_eq!(
        got,
        [
            format!("guests/sample_add/cru/correct.cru {ALL_PASS}"),
            format!("guests/sample_add/llm/correct.rs {ALL_PASS}"),
            "guests/sample_add/llm/wrong.c graded pass wrong_answer pass pass pass wrong_answer"
                .to_string(),
            format!("guests/sample_add/wat/reference_add.wat {ALL_PASS}"),
            "guests/sample_add/llm/noncompiling.rs compile_error".to_string(),
            "guests/sample_add/cru/ill_typed.cru compile_error".to_string(),
        ]
    );
}
