//! Evolves this crate's hash function for its own key sample (`keys.txt`),
//! or takes it from the cache, and writes it as Rust into `OUT_DIR`.
//!
//! The cache is `.crucible-cache/` beside this file (override it with
//! `CRUCIBLE_CACHE_DIR`). With `CRUCIBLE_OFFLINE=1` the build only reads the
//! cache and fails, naming the missing key, if the hash was never evolved.

use std::path::PathBuf;
use std::time::Instant;

use crucible_search::optimize::{self, Budget, OptimizeRequest, TaskSource};

fn main() {
    let started = Instant::now();
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo"));
    let cache_dir = std::env::var_os("CRUCIBLE_CACHE_DIR")
        .map_or_else(|| manifest.join(".crucible-cache"), PathBuf::from);
    println!("cargo:rerun-if-env-changed=CRUCIBLE_CACHE_DIR");
    println!("cargo:rerun-if-env-changed={}", optimize::OFFLINE_VAR);
    let req = OptimizeRequest {
        task: TaskSource::File(manifest.join("hash.toml")),
        cache_dir,
        budget: Budget {
            generations: Some(12),
            evaluations: None,
        },
        seed: 1,
        offline: false,
    };
    let best = match optimize::best_program(&req) {
        Ok(best) => best,
        Err(err) => {
            eprintln!("error: evolving the hash: {err}");
            std::process::exit(1);
        }
    };
    for input in &best.inputs {
        println!("cargo:rerun-if-changed={}", input.display());
    }
    if let Err(err) = optimize::write_rust(&best, &out_dir, "evolved_hash.rs") {
        eprintln!("error: {err}");
        std::process::exit(1);
    }
    println!(
        "cargo:warning=evolved hash: run {}, error {:.4}, {} in {:.2} s",
        best.run,
        best.fitness.error,
        if best.from_cache {
            "from the cache"
        } else {
            "evolved"
        },
        started.elapsed().as_secs_f64()
    );
}
