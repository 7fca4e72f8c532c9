//! The build-time optimizer: the best program for a task, evolved once and
//! then served from a cache, for `build.rs` scripts.
//!
//! [`best_program`] hashes everything a run's result depends on (the task
//! text, every file the task names, the seed, the budget, this crate's
//! version and the sandbox engine's version) into a key, and looks the key up
//! in the archive `cache_dir/crucible.db` (table `optimized`). On a miss it
//! runs the search exactly as `crucible evolve --tier interp` does, records the
//! run in the same archive (so `crucible show RUN --db cache_dir/crucible.db`
//! and `crucible export RUN --rust` work on it) and stores the best program
//! under the key. [`write_rust`] then writes its Rust export into the build
//! script's `OUT_DIR`, for the crate to `include!`.
//!
//! A design decision: the key covers the seed and the budget as well as the
//! task, because a run is a function of (task, seed, budget); changing the
//! budget in `build.rs` evolves again rather than silently serving a result
//! the new budget would not have produced. The hash is FNV-1a run twice from
//! different states (128 bits): a cache key, not a defence against someone
//! who can write to the cache.
//!
//! Offline mode ([`OptimizeRequest::offline`] or `CRUCIBLE_OFFLINE=1`) serves
//! from the cache only and fails with [`ErrorKind::NotCached`], naming the key,
//! when the result is missing, so CI builds are reproducible and never search.
//!
//! The search evaluates in the reference interpreter: a build script should not
//! need the sandbox's compile latency for small budgets, and the interpreter is
//! the definition of the language's semantics.

use std::path::{Path, PathBuf};

use crucible_compiler::export;

use crate::archive::Archive;
use crate::engine::{self, Engine, RunOptions};
use crate::error::{ErrorKind, Result};
use crate::eval::InterpEvaluator;
use crate::fitness::Fitness;
use crate::hash::Fnv64;
use crate::task::Task;

/// The environment variable that forces offline mode when set to `1`.
pub const OFFLINE_VAR: &str = "CRUCIBLE_OFFLINE";

/// The archive file inside the cache directory.
pub const CACHE_FILE: &str = "crucible.db";

/// Where the task comes from.
#[derive(Clone, Debug)]
pub enum TaskSource {
    /// A task file; files it names are relative to it.
    File(PathBuf),
    /// Task text held by the caller; files it names are relative to `path`'s
    /// directory, and `path` is what messages and the archive show.
    Text {
        /// Where the task notionally lives.
        path: PathBuf,
        /// The TOML text.
        text: String,
    },
}

/// How much search a miss may spend; each limit overrides the task's own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    /// Most generations (`None`: the task's `stop.generations`, else 50).
    pub generations: Option<u64>,
    /// Most fitness evaluations (`None`: the task's `stop.evaluations`, if any).
    pub evaluations: Option<u64>,
}

/// What [`best_program`] needs.
#[derive(Clone, Debug)]
pub struct OptimizeRequest {
    /// The task.
    pub task: TaskSource,
    /// The cache directory (created if missing); the archive is
    /// `cache_dir/crucible.db`.
    pub cache_dir: PathBuf,
    /// The search budget on a miss.
    pub budget: Budget,
    /// The run seed.
    pub seed: u64,
    /// Serve from the cache only. `CRUCIBLE_OFFLINE=1` in the environment has
    /// the same effect whatever this says.
    pub offline: bool,
}

/// The optimizer's answer.
#[derive(Clone, Debug, PartialEq)]
pub struct Optimized {
    /// The task's name.
    pub task: String,
    /// The cache key (32 hex digits).
    pub key: String,
    /// The archive run that evolved the program.
    pub run: i64,
    /// The seed of that run.
    pub seed: u64,
    /// The best program's text.
    pub program_text: String,
    /// Its Rust export, with a header naming the task, run, seed, key and fitness.
    pub rust_source: String,
    /// Its fitness.
    pub fitness: Fitness,
    /// Whether it came from the cache (no search ran).
    pub from_cache: bool,
    /// Every file that entered the key (the task file and the files it
    /// names), for `cargo:rerun-if-changed` lines.
    pub inputs: Vec<PathBuf>,
}

/// The best program for the request's task: from the cache when the key is
/// there, else by running the search within the budget and caching the result.
///
/// # Errors
/// [`ErrorKind::Io`] or [`ErrorKind::Task`] if the task or a file it names
/// cannot be read or is invalid; [`ErrorKind::NotCached`] in offline mode when
/// the cache misses; [`ErrorKind::Archive`] if the cache database fails.
pub fn best_program(req: &OptimizeRequest) -> Result<Optimized> {
    let (path, text) = match &req.task {
        TaskSource::File(path) => (
            path.clone(),
            std::fs::read_to_string(path).map_err(|source| ErrorKind::Io {
                path: path.display().to_string(),
                source,
            })?,
        ),
        TaskSource::Text { path, text } => (path.clone(), text.clone()),
    };
    let mut task = Task::from_text(&path, &text)?;
    if let Some(e) = req.budget.evaluations {
        task.file.stop.evaluations = Some(e);
    }
    let (key, inputs) = cache_key(&task, req)?;
    let db = req.cache_dir.join(CACHE_FILE);
    let offline = req.offline || std::env::var(OFFLINE_VAR).is_ok_and(|v| v == "1");
    if offline && !db.exists() {
        // Offline never creates the cache.
        return Err(not_cached(&task, key, &db));
    }
    std::fs::create_dir_all(&req.cache_dir).map_err(|source| ErrorKind::Io {
        path: req.cache_dir.display().to_string(),
        source,
    })?;
    let mut archive = Archive::open(&db)?;
    let (run, program_text, fitness, from_cache) = match archive.optimized(&key)? {
        Some((run, text, fitness)) => (run, text, fitness, true),
        None if offline => return Err(not_cached(&task, key, &db)),
        None => {
            let (run, text, fitness) = search(&task, &path, req, &mut archive)?;
            archive.record_optimized(&key, run, &text, &fitness)?;
            (run, text, fitness, false)
        }
    };
    let checked = crucible_compiler::compile_text(&program_text).map_err(|_| {
        ErrorKind::Archive(format!("the program cached under key {key} does not check"))
    })?;
    let file_name = path.file_name().map(Path::new).unwrap_or(&path);
    let header = format!(
        "Evolved by crucible {} for task `{}` ({}).\n\
         Run {run} in the archive {CACHE_FILE}, seed {}, cache key {key}.\n\
         Fitness: error {:.6e}, cost {:.1}, size {}.",
        env!("CARGO_PKG_VERSION"),
        task.file.name,
        file_name.display(),
        req.seed,
        fitness.error,
        fitness.cost,
        fitness.size,
    );
    let rust_source = export::rust(&checked, &export::ExportOptions { header });
    Ok(Optimized {
        task: task.file.name.clone(),
        key,
        run,
        seed: req.seed,
        program_text,
        rust_source,
        fitness,
        from_cache,
        inputs,
    })
}

fn not_cached(task: &Task, key: String, db: &Path) -> crate::Error {
    ErrorKind::NotCached {
        task: task.file.name.clone(),
        key,
        cache: db.display().to_string(),
    }
    .into()
}

/// Writes the Rust export to `out_dir/file_name` (only if it changed, so the
/// including crate is not rebuilt for nothing) and returns the path.
///
/// # Errors
/// [`ErrorKind::Io`] if the file cannot be written.
pub fn write_rust(optimized: &Optimized, out_dir: &Path, file_name: &str) -> Result<PathBuf> {
    let path = out_dir.join(file_name);
    if std::fs::read_to_string(&path).is_ok_and(|old| old == optimized.rust_source) {
        return Ok(path);
    }
    std::fs::write(&path, &optimized.rust_source).map_err(|source| ErrorKind::Io {
        path: path.display().to_string(),
        source,
    })?;
    Ok(path)
}

/// The files a task names, relative to its directory: skeleton, seeds,
/// baselines, reference program and key files.
fn named_files(task: &Task) -> Vec<PathBuf> {
    let dir = task.path.parent().unwrap_or(Path::new("."));
    let f = &task.file;
    let mut files: Vec<PathBuf> = Vec::new();
    files.extend(f.program.skeleton.iter().cloned());
    files.extend(f.program.seeds.iter().cloned());
    files.extend(f.program.baselines.iter().cloned());
    files.extend(f.data.reference.iter().cloned());
    files.extend(
        f.data
            .inputs
            .sets
            .iter()
            .filter_map(|s| s.strip_prefix("file:"))
            .map(PathBuf::from),
    );
    files.into_iter().map(|p| dir.join(p)).collect()
}

/// The cache key of a request and the files that entered it.
fn cache_key(task: &Task, req: &OptimizeRequest) -> Result<(String, Vec<PathBuf>)> {
    let mut parts: Vec<Vec<u8>> = vec![
        b"crucible-optimize v1".to_vec(),
        env!("CARGO_PKG_VERSION").as_bytes().to_vec(),
        crucible_sandbox::ENGINE_VERSION.as_bytes().to_vec(),
        task.text.as_bytes().to_vec(),
        req.seed.to_le_bytes().to_vec(),
        format!("{:?}", req.budget).into_bytes(),
    ];
    let mut inputs = vec![task.path.clone()];
    for file in named_files(task) {
        let bytes = std::fs::read(&file).map_err(|source| ErrorKind::Io {
            path: file.display().to_string(),
            source,
        })?;
        // The name as written in the task is in its text; the content goes here.
        parts.push(bytes);
        inputs.push(file);
    }
    let mut lo = Fnv64::new();
    let mut hi = Fnv64::from_state(0x6c62_272e_07bb_0142);
    for part in &parts {
        // Length-prefixed, so that moving bytes between parts changes the key.
        for h in [&mut lo, &mut hi] {
            h.write_u64(part.len() as u64);
            h.write(part);
        }
    }
    Ok((format!("{:016x}{:016x}", hi.finish(), lo.finish()), inputs))
}

/// Runs the search for `task` as `crucible evolve --tier interp` does,
/// archiving the run; returns the run id, the best program and its fitness.
fn search(
    task: &Task,
    path: &Path,
    req: &OptimizeRequest,
    archive: &mut Archive,
) -> Result<(i64, String, Fitness)> {
    let run = archive.create_run(
        &task.file.name,
        &path.display().to_string(),
        &task.text,
        req.seed,
        "build-time optimizer",
    )?;
    let opts = RunOptions {
        seed: req.seed,
        generations: req.budget.generations,
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let unconfirmed = "unconfirmed: build-time optimizer";
    engine::with_threads(threads, || -> Result<(i64, String, Fitness)> {
        let mut engine = Engine::new(task, &InterpEvaluator, opts)?;
        let (mut stats, mut report) = engine.start();
        loop {
            let confirmations = vec![unconfirmed.to_string(); report.new_best.len()];
            let best = engine.text_of(&engine.best().expect("after start").genome);
            archive.commit_generation(
                run,
                &stats,
                &report,
                &confirmations,
                &engine.snapshot(),
                &best,
            )?;
            if engine.stop_reason().is_some() {
                break;
            }
            (stats, report) = engine.step()?;
        }
        let reason = engine.stop_reason().expect("stopped").name();
        let front: Vec<(String, Fitness, String)> = engine
            .front()
            .into_iter()
            .take(32)
            .map(|i| {
                (
                    engine.text_of(&i.genome),
                    i.fitness.clone(),
                    unconfirmed.to_string(),
                )
            })
            .collect();
        archive.finish_run(run, engine.generation(), reason, &front)?;
        let best = engine.best().expect("a started run has a best");
        Ok((run, engine.text_of(&best.genome), best.fitness.clone()))
    })?
}
