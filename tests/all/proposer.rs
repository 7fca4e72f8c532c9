//! `crucible evolve --proposer` end to end through the CLI: the offline
//! proposer's rounds screened, deduplicated, evaluated and adopted, the run
//! replayed from the archive without the proposer, and proposers that crash
//! or hang survived.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A fresh archive path for one test.
fn db(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("crucible-proposer-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("runs.db")
}

fn crucible(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_crucible"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("runs")
}

/// Runs `evolve ... --json`, asserts exit 0, returns the summary and stderr.
#[track_caller]
fn evolve(db: &Path, args: &[&str]) -> (serde_json::Value, String) {
    let mut all = vec!["evolve", "--db", db.to_str().unwrap(), "--json"];
    all.extend_from_slice(args);
    let o = crucible(&all);
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "{all:?}: {stderr}");
    let summary = serde_json::from_slice(&o.stdout).expect("one JSON object");
    (summary, stderr)
}

const OFFLINE: &str = "python3 guests/proposers/offline.py guests/proposers/koza-quartic.rounds";

#[test]
fn offline_proposals_are_screened_adopted_and_replayed() {
    let db = db("offline");
    let (live, stderr) = evolve(
        &db,
        &[
            "search/tasks/koza-quartic.toml",
            "--proposer",
            OFFLINE,
            "--proposer-every",
            "1",
        ],
    );
    // Round 1 (sent after generation 0, taken after 1): the exact quartic,
    // two invalid programs, a misfit and a duplicate by text. Round 2: one
    // program and a duplicate by behaviour. The quartic, adopted after
    // generation 1, stops the run at its target after generation 2.
    assert_eq!(
        live["proposals"],
        serde_json::json!({
            "rounds": 2, "failed_rounds": 0, "proposed": 7, "invalid": 2, "misfit": 1,
            "duplicate_text": 1, "duplicate_behaviour": 1, "evaluated": 2, "adopted": 2,
        })
    );
    assert_eq!(live["stop_reason"], "target");
    assert_eq!(live["generations"], 2);
    assert_eq!(live["fitness"]["error"], 0.0);
    assert!(
        stderr.contains(
            "proposer round 1: 5 programs: 1 duplicate-text, 1 evaluated, 2 invalid, 1 misfit"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("proposer round 2: 2 programs: 1 duplicate-behaviour, 1 evaluated"),
        "{stderr}"
    );

    // The archive lists every proposal with its outcome and diagnostics.
    let run = live["run"].as_i64().unwrap().to_string();
    let o = crucible(&["show", &run, "--db", db.to_str().unwrap()]);
    assert!(o.status.success());
    let show = String::from_utf8_lossy(&o.stdout);
    assert!(
        show.contains(
            "7 proposals: 1 duplicate-behaviour, 1 duplicate-text, 2 evaluated, 2 invalid, 1 misfit"
        ),
        "{show}"
    );
    assert!(
        show.contains("invalid             error: unknown variable `y`"),
        "{show}"
    );
    assert!(show.contains("duplicate-text      proposal 1-0"), "{show}");

    // Replayed from the archive, without the proposer: the same run.
    let (replay, stderr) = evolve(&db, &["--replay", &run]);
    assert_eq!(replay["replay_of"], live["run"]);
    assert_ne!(replay["run"], live["run"]);
    for key in [
        "digest",
        "best",
        "fitness",
        "generations",
        "evaluations",
        "proposals",
    ] {
        assert_eq!(replay[key], live[key], "{key}");
    }
    assert!(stderr.contains("proposer round 2: 2 programs"), "{stderr}");

    // Without the proposals, the same seed runs differently.
    let (gp, _) = evolve(
        &db,
        &["search/tasks/koza-quartic.toml", "--generations", "2"],
    );
    assert_ne!(gp["digest"], live["digest"]);
    assert_eq!(gp["proposals"], serde_json::Value::Null);
}

/// A proposer that fails every round: the run finishes on GP alone.
#[track_caller]
fn survives(name: &str, command: &str, timeout: &str, why: &str) {
    let db = db(name);
    let (summary, stderr) = evolve(
        &db,
        &[
            "search/tasks/koza-quartic.toml",
            "--generations",
            "4",
            "--proposer",
            command,
            "--proposer-every",
            "1",
            "--proposer-timeout",
            timeout,
        ],
    );
    assert_eq!(summary["generations"], 4);
    let tally = &summary["proposals"];
    assert_eq!(tally["failed_rounds"], 3, "{tally}");
    assert_eq!(tally["rounds"], 0, "{tally}");
    assert_eq!(tally["proposed"], 0, "{tally}");
    assert!(stderr.contains(why), "{stderr}");
    assert!(
        stderr.contains("3 failures in a row, continuing on GP alone"),
        "{stderr}"
    );
    // GP alone, as if there had been no proposer.
    let (gp, _) = evolve(
        &db,
        &["search/tasks/koza-quartic.toml", "--generations", "4"],
    );
    assert_eq!(gp["digest"], summary["digest"]);
}

#[test]
fn a_proposer_that_crashes_is_survived() {
    survives("crash", "exit 3", "20", "proposer");
}

#[test]
fn a_proposer_that_hangs_is_survived() {
    survives(
        "hang",
        "sleep 1000",
        "0.3",
        "proposer round 1: no answer within 0.3 s; skipping this round",
    );
}
