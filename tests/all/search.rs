//! The search engine across crates: shipped task files load, their baselines
//! score as documented, task-file errors name the key and line, and a run
//! killed through the CLI resumes to the uninterrupted result.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crucible_search::archive::Archive;
use crucible_search::engine::score_text;
use crucible_search::eval::InterpEvaluator;
use crucible_search::task::Task;

#[track_caller]
fn load(name: &str) -> Task {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("search/tasks")
        .join(name);
    Task::load(&path).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn shipped_tasks_load() {
    for name in [
        "koza-quartic.toml",
        "nguyen-7.toml",
        "keijzer-6.toml",
        "hash-u64.toml",
        "exp-f32.toml",
        "count-odd.toml",
    ] {
        load(name);
    }
}

#[test]
fn hash_baselines_rank_fmix64_above_fxhash() {
    let task = load("hash-u64.toml");
    let score = |i: usize| score_text(&task, &InterpEvaluator, &task.baselines[i].1).unwrap();
    let (fx, fmix) = (score(0), score(1));
    assert!(
        fmix.error < fx.error,
        "fmix64 {} vs FxHash {}",
        fmix.error,
        fx.error
    );
}

#[test]
fn held_out_cases_are_new_draws_of_seeded_generators() {
    for name in ["hash-u64.toml", "koza-quartic.toml", "count-odd.toml"] {
        let task = load(name);
        let held = task
            .held_out()
            .unwrap_or_else(|| panic!("{name}: no validation"));
        assert_eq!(held.cases.len(), task.cases.len(), "{name}");
        assert_ne!(held.cases.id, task.cases.id, "{name}");
    }
    // A grid has no seed to draw other points with.
    assert!(load("keijzer-6.toml").held_out().is_none());
}

#[test]
fn exp_baselines_are_accurate_to_a_few_ulps() {
    let task = load("exp-f32.toml");
    for (path, text) in &task.baselines {
        let f = score_text(&task, &InterpEvaluator, text).unwrap();
        assert!(
            f.error < 1e4,
            "{}: max ULP error {}",
            path.display(),
            f.error
        );
    }
}

#[test]
fn unknown_keys_are_rejected_with_their_path_and_line() {
    let text = "name = \"t\"\n[program]\nsignature = \"fn f(x: f64) -> f64\"\n[data]\ninputs = { kind = \"grid\", lo = 0.0, hi = 1.0, step = 0.5 }\ntarget = \"koza-quartic\"\n[fitness]\nerror = \"abs\"\nshaep = \"sum\"\n";
    let err = Task::from_text(Path::new("t.toml"), text)
        .unwrap_err()
        .to_string();
    assert!(err.contains("shaep") && err.contains("line 9"), "{err}");
}

#[test]
fn wrong_values_name_the_key() {
    let text = "name = \"t\"\n[program]\nsignature = \"fn f(x: f64) -> f64\"\n[data]\ninputs = { kind = \"grid\", lo = 0.0, hi = 1.0, step = 0.5 }\ntarget = \"koza-quartic\"\n[fitness]\nerror = \"abs\"\nshape = \"median\"\n";
    let err = Task::from_text(Path::new("t.toml"), text)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("fitness.shape") && err.contains("median"),
        "{err}"
    );
}

/// Runs `crucible evolve ARGS --json --tier interp` and returns its JSON summary.
#[track_caller]
fn evolve_json(args: &[&str]) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_crucible"))
        .arg("evolve")
        .args(args)
        .args(["--json", "--tier", "interp"])
        .output()
        .expect("crucible runs");
    assert!(
        out.status.success(),
        "crucible evolve {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON object")
}

/// Generations run `run` has committed to the archive at `db`, or `None`
/// while the archive cannot be read (not created yet, or busy).
fn committed(db: &Path, run: i64) -> Option<(u64, String)> {
    let archive = Archive::open(db).ok()?;
    let row = archive.runs().ok()?.into_iter().find(|r| r.id == run)?;
    Some((row.generations, row.status))
}

/// The resume guarantee through the CLI: a run killed with SIGKILL
/// after committing some generations, then `evolve --resume`d, ends with the
/// digest and best program of an uninterrupted run with the same seed.
#[test]
fn killed_run_resumes_to_the_uninterrupted_result() {
    let task = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/all/search/resume.toml");
    let task = task.to_str().unwrap();
    let dir = std::env::temp_dir().join(format!("crucible-resume-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (whole_db, killed_db) = (dir.join("whole.db"), dir.join("killed.db"));
    let whole = evolve_json(&["--seed", "1", "--db", whole_db.to_str().unwrap(), task]);
    let held_out = &whole["validation"]["programs"]["best"]["held_out"];
    assert!(held_out["error"].is_number(), "{}", whole["validation"]);

    let mut child = Command::new(env!("CARGO_BIN_EXE_crucible"))
        .args([
            "evolve", task, "--seed", "1", "--tier", "interp", "--json", "--db",
        ])
        .arg(&killed_db)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("crucible starts");
    let deadline = Instant::now() + Duration::from_secs(60);
    let at_kill = loop {
        if let Some((generations, status)) = committed(&killed_db, 1)
            && generations >= 2
        {
            break (generations, status);
        }
        assert!(
            Instant::now() < deadline,
            "no second generation within 60 s"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    // `Child::kill` sends SIGKILL on Unix: no destructor, no final commit.
    child.kill().unwrap();
    child.wait().unwrap();
    let after = committed(&killed_db, 1).expect("the archive survives");
    assert_eq!(
        after.1, "running",
        "killed after {at_kill:?}: the run must not have finished"
    );
    assert!(
        after.0 < whole["generations"].as_u64().unwrap(),
        "{after:?}"
    );

    let resumed = evolve_json(&["--resume", "1", "--db", killed_db.to_str().unwrap()]);
    for key in ["digest", "best", "generations", "evaluations"] {
        assert_eq!(resumed[key], whole[key], "{key} (killed at {after:?})");
    }
    assert_eq!(resumed["fitness"]["error"], whole["fitness"]["error"]);
    std::fs::remove_dir_all(&dir).ok();
}
