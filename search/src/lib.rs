//! Strongly typed genetic programming over the candidate language.
//!
//! # Brief overview
//! - [`task::Task`]: a TOML task file loaded and validated: the program
//!   [`skeleton::Skeleton`] (a signature or a program with holes), the
//!   [`gp::PrimitiveSet`], test cases, fitness, limits, search and stop rules.
//! - [`gp`]: the representation (one typed expression per hole) and the
//!   operators: ramped half-and-half, subtree, insertion, reduction, deletion,
//!   point and constant mutation, typed subtree crossover.
//! - [`eval::Evaluator`]: the seam to the evaluation tiers, with the reference
//!   interpreter ([`eval::InterpEvaluator`]), tier 0 ([`tier0`]), batched
//!   compiled Wasm ([`tier1`]) and native code ([`native`]) behind it.
//! - [`fitness`]: case errors (absolute, squared, exact, ULP, hash quality),
//!   shapes (sum, mean, max, levels) and orders (weighted, lexicographic,
//!   Pareto, two-phase).
//! - [`select`]: tournament, ε-lexicase, NSGA-II.
//! - [`engine::Engine`]: islands, evaluation cascade, functional-equivalence
//!   cache, stopping rules, the run digest, checkpoints.
//! - [`archive::Archive`]: the SQLite run archive.
//! - [`optimize`]: the build-time optimizer for `build.rs` scripts: the best
//!   program for a task, cached by content hash, exported as Rust.
//!
//! This crate reads no clock and no global RNG: a run is a function of
//! (task, seed), whatever the number of threads.
//!
//! # Example
//! ```
//! use crucible_search::{engine::{Engine, RunOptions}, eval::InterpEvaluator, task::Task};
//!
//! let toml = r#"
//!     name = "double"
//!     [program]
//!     signature = "fn f(x: f64) -> f64"
//!     [primitives]
//!     ops = ["+", "*"]
//!     constant_rate = 0.0
//!     [data]
//!     inputs = { kind = "grid", lo = -2.0, hi = 2.0, step = 0.5 }
//!     reference = "unused.cru"
//!     [fitness]
//!     error = "abs"
//!     [search]
//!     population = 50
//!     [stop]
//!     generations = 10
//!     target = 0.0
//! "#;
//! # let dir = std::env::temp_dir().join(format!("crucible-doc-{}", std::process::id()));
//! # std::fs::create_dir_all(&dir).unwrap();
//! std::fs::write(dir.join("unused.cru"), "fn f(x: f64) -> f64 { return x + x; }").unwrap();
//! let task = Task::from_text(&dir.join("double.toml"), toml).unwrap();
//! let mut engine = Engine::new(&task, &InterpEvaluator, RunOptions { seed: 1, generations: None }).unwrap();
//! engine.start();
//! while engine.stop_reason().is_none() {
//!     engine.step().unwrap();
//! }
//! assert_eq!(engine.best().unwrap().fitness.error, 0.0);
//! ```

#![deny(missing_docs)]

pub mod archive;
mod data;
pub mod database;
pub mod engine;
pub mod error;
pub mod eval;
pub mod fitness;
pub mod gp;
pub mod hash;
pub mod native;
pub mod optimize;
pub mod proposer;
pub mod select;
pub mod skeleton;
pub mod task;
pub mod tier0;
pub mod tier1;

pub use error::{Error, ErrorKind, Result};
