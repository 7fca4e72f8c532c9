//! The build-time optimizer (`crucible_search::optimize`): a miss searches and
//! fills the cache, a hit returns the same program without searching, offline
//! mode never searches, and the key follows the files the task names.
//!
//! Fixtures are in `tests/all/optimize/`, copied to a fresh directory per test
//! so that tests can edit them.

use std::path::{Path, PathBuf};

use crucible_search::ErrorKind;
use crucible_search::optimize::{self, Budget, OptimizeRequest, TaskSource};

/// A fresh copy of the fixtures and an empty cache directory beside it.
fn fixture(name: &str) -> (PathBuf, PathBuf) {
    let dir = std::env::temp_dir().join(format!("crucible-optimize-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let task_dir = dir.join("task");
    std::fs::create_dir_all(&task_dir).unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/all/optimize");
    for file in ["hash.toml", "hash.skel.cru", "keys.txt"] {
        std::fs::copy(src.join(file), task_dir.join(file)).unwrap();
    }
    (task_dir.join("hash.toml"), dir.join("cache"))
}

fn request(task: &Path, cache_dir: &Path, offline: bool) -> OptimizeRequest {
    OptimizeRequest {
        task: TaskSource::File(task.to_path_buf()),
        cache_dir: cache_dir.to_path_buf(),
        budget: Budget {
            generations: Some(3),
            evaluations: None,
        },
        seed: 7,
        offline,
    }
}

#[test]
fn a_miss_searches_and_a_hit_returns_the_same_program() {
    let (task, cache) = fixture("hit");
    let first = optimize::best_program(&request(&task, &cache, false)).unwrap();
    assert!(!first.from_cache);
    assert!(first.program_text.starts_with("fn hash(key: u64) -> u64"));
    assert!(
        first.rust_source.contains("for task `tiny-hash`")
            && first.rust_source.contains(&format!("Run {}", first.run))
            && first.rust_source.contains("seed 7")
            && first
                .rust_source
                .contains("pub fn hash(mut key: u64) -> u64"),
        "{}",
        first.rust_source
    );
    assert_eq!(first.inputs.len(), 3, "{:?}", first.inputs);

    // Offline mode is satisfied by the cache.
    let second = optimize::best_program(&request(&task, &cache, true)).unwrap();
    assert!(second.from_cache);
    assert_eq!(second.program_text, first.program_text);
    assert_eq!(second.rust_source, first.rust_source);
    assert_eq!(second.fitness, first.fitness);
    assert_eq!(second.key, first.key);

    let out_dir = cache.join("out");
    std::fs::create_dir_all(&out_dir).unwrap();
    let written = optimize::write_rust(&second, &out_dir, "hash.rs").unwrap();
    assert_eq!(std::fs::read_to_string(written).unwrap(), first.rust_source);
    std::fs::remove_dir_all(cache.parent().unwrap()).unwrap();
}

#[test]
fn offline_with_an_empty_cache_fails_naming_the_key() {
    let (task, cache) = fixture("offline");
    let err = optimize::best_program(&request(&task, &cache, true)).unwrap_err();
    let ErrorKind::NotCached {
        task: name, key, ..
    } = err.kind()
    else {
        panic!("expected NotCached, got {err}");
    };
    assert_eq!(name, "tiny-hash");
    assert_eq!(key.len(), 32);
    let message = err.to_string();
    assert!(
        message.contains("CRUCIBLE_OFFLINE") && message.contains(key.as_str()),
        "{message}"
    );
    assert!(!cache.exists(), "offline mode created the cache");
    std::fs::remove_dir_all(cache.parent().unwrap()).unwrap();
}

#[test]
fn the_key_follows_the_data_files_the_seed_and_the_budget() {
    let (task, cache) = fixture("key");
    let base = optimize::best_program(&request(&task, &cache, false)).unwrap();
    // Another seed or budget is another key, and offline cannot serve it.
    let mut other_seed = request(&task, &cache, true);
    other_seed.seed = 8;
    assert!(optimize::best_program(&other_seed).is_err());
    let mut other_budget = request(&task, &cache, true);
    other_budget.budget.generations = Some(4);
    assert!(optimize::best_program(&other_budget).is_err());
    // Editing the key file the task names changes the key.
    let keys = task.with_file_name("keys.txt");
    let mut text = std::fs::read_to_string(&keys).unwrap();
    text.push_str("0x123456789\n");
    std::fs::write(&keys, text).unwrap();
    let err = optimize::best_program(&request(&task, &cache, true)).unwrap_err();
    let ErrorKind::NotCached { key, .. } = err.kind() else {
        panic!("expected NotCached, got {err}");
    };
    assert_ne!(*key, base.key);
    std::fs::remove_dir_all(cache.parent().unwrap()).unwrap();
}
