//! The search engine across crates: shipped task files load, their baselines
//! score as documented, and task-file errors name the key and line.

use std::path::Path;

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
