//! The candidate-language commands of the CLI (`check`, `compile`, `run`) and
//! grading of `.cru` submissions: exit codes, diagnostics, printed values.

use std::path::PathBuf;
use std::process::{Command, Output};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn crucible(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_crucible"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn temp_file(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("crucible-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn run_prints_a_typed_literal_in_both_tiers() {
    for tier in ["interp", "wasm"] {
        let o = crucible(&["run", "examples/hash.cru", "--args", "7", "--tier", tier]);
        assert!(o.status.success(), "{}", stderr(&o));
        let h = 7u64.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        assert_eq!(stdout(&o), format!("{}u32\n", (h >> 32) as u32 ^ h as u32));
    }
}

#[test]
fn run_takes_slices_and_negative_numbers() {
    let f = temp_file(
        "sum.cru",
        "fn sum(s: [i32], k: i32) -> i32 { let acc = 0; for i in 0..len(s) { acc = acc + s[i] * k; } return acc; }",
    );
    let f = f.to_str().unwrap();
    for tier in ["interp", "wasm"] {
        let o = crucible(&["run", f, "--args", "[1, -2, 3]", "-2", "--tier", tier]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert_eq!(stdout(&o), "-4i32\n");
    }
}

#[test]
fn check_reports_every_error_with_location_and_exits_1() {
    let f = temp_file(
        "bad.cru",
        "fn f(x: u32) -> u32 {\n    let y: f64 = x;\n    return y + z;\n}\n",
    );
    let o = crucible(&["check", f.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains("bad.cru:2:18"), "{err}");
    assert!(err.contains("expected `f64`, found `u32`"), "{err}");
    assert!(err.contains("bad.cru:3:16"), "{err}");
    assert!(err.contains("unknown variable `z`"), "{err}");
}

#[test]
fn bad_arguments_and_missing_files_exit_1_without_panicking() {
    let o = crucible(&["run", "examples/hash.cru", "--args", "1.5"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("is not a `u64` literal"),
        "{}",
        stderr(&o)
    );
    let o = crucible(&["check", "does/not/exist.cru"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("reading does/not/exist.cru"),
        "{}",
        stderr(&o)
    );
    let f = temp_file("garbage.cru", "\u{0}\u{1}fn fn ( { ] \"");
    let o = crucible(&["check", f.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
}

#[test]
fn compile_writes_valid_wasm_and_wat() {
    let out = std::env::temp_dir().join(format!("crucible-cli-{}-hash.wasm", std::process::id()));
    let o = crucible(&[
        "compile",
        "examples/hash.cru",
        "-o",
        out.to_str().unwrap(),
        "--probes",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let bytes = std::fs::read(&out).unwrap();
    wasmparser::validate(&bytes).expect("valid");
    let wat = out.with_extension("wat");
    let o = crucible(&[
        "compile",
        "examples/hash.cru",
        "-o",
        wat.to_str().unwrap(),
        "--wat",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = std::fs::read_to_string(&wat).unwrap();
    assert!(text.contains("(export \"hash\""), "{text}");
}

#[test]
fn grade_compiles_candidate_language_submissions() {
    let o = crucible(&[
        "grade",
        "--task",
        "guests/sample_add/task.toml",
        "guests/sample_add/cru/correct.cru",
        "guests/sample_add/cru/wrong_saturating.cru",
        "guests/sample_add/cru/ill_typed.cru",
        "--jsonl",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let lines: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["status"], "graded");
    assert_eq!(lines[0]["score"], 1.0, "{}", lines[0]);
    assert_eq!(lines[1]["status"], "graded");
    let verdicts: Vec<&str> = lines[1]["tests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["verdict"].as_str().unwrap())
        .collect();
    assert!(verdicts.contains(&"wrong_answer"), "{verdicts:?}");
    assert_eq!(lines[2]["status"], "compile_error");
    assert!(
        lines[2]["message"]
            .as_str()
            .unwrap()
            .contains("ill_typed.cru:2:16"),
        "{}",
        lines[2]
    );
}

/// Tier 0 (the evaluator guest) and the interpreter give the same run, bit for bit.
#[test]
fn evolve_gives_the_same_run_in_every_tier() {
    let dir = std::env::temp_dir().join(format!("crucible-cli-{}-tiers", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut digests = Vec::new();
    for tier in ["tier0", "interp"] {
        let db = dir.join(format!("{tier}.db"));
        let o = Command::new(env!("CARGO_BIN_EXE_crucible"))
            .args([
                "evolve",
                "search/tasks/koza-quartic.toml",
                "--seed",
                "3",
                "--json",
                "--tier",
                tier,
            ])
            .arg("--db")
            .arg(&db)
            .current_dir(root())
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
        assert_eq!(v["tier"], tier);
        if tier == "tier0" {
            assert!(v["tier0_candidates"].as_u64().unwrap() > 0, "{v}");
        }
        digests.push((
            v["digest"].clone(),
            v["best"].clone(),
            v["evaluations"].clone(),
        ));
    }
    assert_eq!(digests[0], digests[1]);
}
