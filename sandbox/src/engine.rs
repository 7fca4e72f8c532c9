//! [`Sandbox`]: the one shared wasmtime engine, its caches and its thread pool.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::cache::{CacheStats, ModuleCache};
use crate::error::{Error, LoadError, Result};
use crate::instance::StoreState;
use crate::limits;
use crate::module::Module;

/// The wasmtime version every fuel figure belongs to: fuel units are specific
/// to the engine version, so reports record it next to fuel.
pub const ENGINE_VERSION: &str = "wasmtime 48.0.8";

/// Which compiler turns Wasm into machine code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Strategy {
    /// Cranelift, the optimising compiler with wasmtime's tier-1 security
    /// support. Use it for every module you did not generate yourself.
    Cranelift,
    /// Winch, the baseline compiler: several times faster to compile, slower
    /// code. **Only for trusted bytes**, such as modules our own compiler
    /// emitted: Winch had a sandbox-escape advisory in 2026 and is not covered
    /// by wasmtime's tier-1 security guarantees. Winch also ignores
    /// NaN canonicalisation, so float results with NaN payloads may differ
    /// from Cranelift's.
    Winch,
}

/// How a [`Sandbox`] is built.
#[derive(Clone, Debug)]
pub struct SandboxConfig {
    /// The compiler. See [`Strategy`] for which bytes may use Winch.
    pub strategy: Strategy,
    /// Threads of the batch pool; 0 means one per core.
    pub threads: usize,
    /// Directory of the on-disk compiled-module cache; `None` keeps the cache
    /// in memory only.
    pub cache_dir: Option<PathBuf>,
    /// Compiled modules kept in memory (least recently used are dropped).
    pub cache_entries: usize,
    /// Whether the WASI preview-1 subset ([`crate::wasi`]) may be imported.
    pub wasi: bool,
    /// Fuel metering. Leave it on: it is the only deterministic CPU budget.
    /// Turning it off exists to measure its cost; then only the wall-clock
    /// timeout stops an endless loop and `fuel_used` is 0.
    pub consume_fuel: bool,
    /// Cranelift's NaN canonicalisation, which makes foreign modules'
    /// float results bit-reproducible across machines. Leave it on for
    /// anything untrusted; turn it off only for guests that canonicalise NaNs
    /// themselves (Crucible's compiled candidates and the tier-0 evaluator),
    /// where it would be paid twice. Winch has no such setting: it is only for
    /// those trusted guests anyway.
    pub nan_canonicalization: bool,
}

impl SandboxConfig {
    /// Cranelift, one thread per core, memory cache of
    /// [`limits::DEFAULT_CACHE_ENTRIES`], no disk cache, no WASI, fuel on, NaN
    /// canonicalisation on.
    pub fn new(strategy: Strategy) -> SandboxConfig {
        SandboxConfig {
            strategy,
            threads: 0,
            cache_dir: None,
            cache_entries: limits::DEFAULT_CACHE_ENTRIES,
            wasi: false,
            consume_fuel: true,
            nan_canonicalization: true,
        }
    }
}

/// How instances get their memory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Allocation {
    /// wasmtime's pooling allocator: instantiation in microseconds.
    Pooling,
    /// On-demand allocation, because the pool could not reserve its address
    /// space (for example under `ulimit -v`). Slower to instantiate, same results.
    OnDemand {
        /// Why the pool failed.
        reason: String,
    },
}

/// A configured engine plus its module cache and batch pool. Cheap to clone:
/// clones share everything.
#[derive(Clone)]
pub struct Sandbox {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) engine: wasmtime::Engine,
    pub(crate) linker: wasmtime::Linker<StoreState>,
    pub(crate) config: SandboxConfig,
    pub(crate) allocation: Allocation,
    pub(crate) cache: ModuleCache,
    pub(crate) pool: rayon::ThreadPool,
    pub(crate) fingerprint: u64,
    pub(crate) compiles: AtomicU64,
}

fn wasmtime_config(config: &SandboxConfig) -> wasmtime::Config {
    let mut c = wasmtime::Config::new();
    c.strategy(match config.strategy {
        Strategy::Cranelift => wasmtime::Strategy::Cranelift,
        Strategy::Winch => wasmtime::Strategy::Winch,
    });
    c.consume_fuel(config.consume_fuel);
    c.epoch_interruption(true);
    c.max_wasm_stack(limits::MAX_WASM_STACK_BYTES);
    if config.strategy == Strategy::Cranelift {
        c.cranelift_nan_canonicalization(config.nan_canonicalization);
    }
    // The features of `validate::FEATURES`, and nothing else. Threads, GC,
    // function references and exceptions are not compiled into our wasmtime
    // build (its `threads` and `gc` features are off), so they are off here.
    c.wasm_shared_everything_threads(false);
    c.wasm_relaxed_simd(false);
    c.relaxed_simd_deterministic(true);
    c.wasm_memory64(false);
    c.wasm_custom_page_sizes(false);
    c.wasm_wide_arithmetic(false);
    c.wasm_gc(false);
    c.wasm_stack_switching(false);
    c.wasm_multi_memory(true);
    c.wasm_tail_call(config.strategy == Strategy::Cranelift);
    c.wasm_simd(true);
    c.wasm_bulk_memory(true);
    c
}

fn pooling() -> wasmtime::PoolingAllocationConfig {
    let mut p = wasmtime::PoolingAllocationConfig::new();
    p.total_core_instances(limits::POOL_INSTANCES)
        .total_memories(limits::POOL_INSTANCES)
        .total_tables(limits::POOL_INSTANCES)
        .max_memories_per_module(4)
        .max_tables_per_module(4)
        .max_memory_size(limits::MAX_MEMORY_BYTES as usize)
        .table_elements(limits::MAX_TABLE_ELEMENTS as usize)
        .max_unused_warm_slots(32)
        .linear_memory_keep_resident(64 << 10);
    p
}

impl Sandbox {
    /// Builds the engine, the pool and the caches, and starts the epoch ticker.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Engine`](crate::ErrorKind::Engine) if wasmtime rejects the configuration even with
    /// on-demand allocation, or the thread pool cannot start;
    /// [`ErrorKind::Cache`](crate::ErrorKind::Cache) if `cache_dir` cannot be created.
    pub fn new(config: &SandboxConfig) -> Result<Sandbox> {
        let mut wt = wasmtime_config(config);
        wt.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pooling()));
        let (engine, allocation) = match wasmtime::Engine::new(&wt) {
            Ok(engine) => (engine, Allocation::Pooling),
            Err(err) => {
                let reason = format!(
                    "pooling allocator unavailable ({err:#}); falling back to on-demand allocation"
                );
                let mut wt = wasmtime_config(config);
                wt.allocation_strategy(wasmtime::InstanceAllocationStrategy::OnDemand);
                // The pool failed because address space is scarce (a `ulimit -v`,
                // a 32-bit-like sandbox), so do not reserve 4 GiB per memory
                // either: memories reserve what they use plus a little room and
                // move when they grow; Cranelift emits explicit bounds checks.
                // Slower, same results.
                wt.memory_reservation(0);
                wt.memory_guard_size(0);
                wt.memory_reservation_for_growth(limits::DEFAULT_MEMORY_BYTES);
                let engine = wasmtime::Engine::new(&wt)
                    .map_err(|e| Error::engine("building the engine", e))?;
                (engine, Allocation::OnDemand { reason })
            }
        };
        let mut linker = wasmtime::Linker::new(&engine);
        if config.wasi {
            crate::wasi::add_to_linker(&mut linker)
                .map_err(|e| Error::engine("defining WASI", e))?;
        }
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(config.threads)
            .stack_size(limits::GUEST_THREAD_STACK_BYTES)
            .thread_name(|i| format!("crucible-sandbox-{i}"))
            .build()
            .map_err(|e| Error::engine("starting the thread pool", e))?;
        let fingerprint = {
            use std::hash::{Hash, Hasher};
            let mut h = std::hash::DefaultHasher::new();
            ENGINE_VERSION.hash(&mut h);
            engine.precompile_compatibility_hash().hash(&mut h);
            (
                config.strategy,
                config.consume_fuel,
                config.wasi,
                config.nan_canonicalization,
            )
                .hash(&mut h);
            h.finish()
        };
        let cache = ModuleCache::new(config.cache_entries, config.cache_dir.clone())?;
        start_ticker(engine.weak());
        Ok(Sandbox {
            inner: Arc::new(Inner {
                engine,
                linker,
                config: config.clone(),
                allocation,
                cache,
                pool,
                fingerprint,
                compiles: AtomicU64::new(0),
            }),
        })
    }

    /// How instances are allocated (pooling, or the on-demand fallback and why).
    pub fn allocation(&self) -> &Allocation {
        &self.inner.allocation
    }

    /// The configuration this sandbox was built with.
    pub fn config(&self) -> &SandboxConfig {
        &self.inner.config
    }

    /// Cache hits and misses since the sandbox was built.
    pub fn cache_stats(&self) -> CacheStats {
        let mut stats = self.inner.cache.stats();
        stats.compiles = self.inner.compiles.load(Ordering::Relaxed);
        stats
    }

    /// Validates, compiles and caches a module.
    ///
    /// The cache is keyed by the bytes and the engine configuration: loading
    /// the same bytes again returns the compiled module from memory, or from
    /// the disk cache when one is configured (a corrupted or stale file there
    /// is recompiled and rewritten, never trusted).
    ///
    /// # Errors
    ///
    /// A [`LoadError`] naming why the bytes were rejected: invalid (with
    /// function index and offset), an unsupported feature, a disallowed import,
    /// an engine ceiling, or a compile failure.
    pub fn load(&self, wasm_bytes: &[u8]) -> Result<Module, LoadError> {
        Module::load(self, wasm_bytes)
    }

    /// Loads WebAssembly text or binary (text is detected by the absence of the
    /// `\0asm` magic).
    ///
    /// # Errors
    ///
    /// As [`Sandbox::load`]; a text parse error is [`LoadError::Invalid`].
    pub fn load_wat(&self, text_or_bytes: &[u8]) -> Result<Module, LoadError> {
        let bytes = wat::parse_bytes(text_or_bytes).map_err(|e| LoadError::Invalid {
            message: e.to_string(),
            offset: 0,
            func: None,
        })?;
        self.load(&bytes)
    }

    /// Runs `f` on every item on the sandbox's thread pool (threads with
    /// [`limits::GUEST_THREAD_STACK_BYTES`] stacks) and returns the results in
    /// input order, whatever the number of threads.
    pub fn map<T, R, F>(&self, items: Vec<T>, f: F) -> Vec<R>
    where
        T: Send,
        R: Send,
        F: Fn(T) -> R + Sync + Send,
    {
        use rayon::prelude::*;
        self.inner
            .pool
            .install(|| items.into_par_iter().map(&f).collect())
    }

    /// Runs a batch of jobs (each: load, instantiate, a list of calls) on the
    /// thread pool; results come back in input order.
    pub fn run_jobs(&self, jobs: Vec<Job>) -> Vec<JobResult> {
        self.map(jobs, |job| self.run_job(&job))
    }

    fn run_job(&self, job: &Job) -> JobResult {
        let module = self.load(&job.wasm).map_err(JobError::Load)?;
        let mut instance = match module.instantiate(&job.limits).map_err(JobError::Host)? {
            Ok(instance) => instance,
            Err(verdict) => return Err(JobError::Instantiate(verdict)),
        };
        job.calls
            .iter()
            .map(|(export, args)| instance.call(export, args).map_err(JobError::Host))
            .collect()
    }
}

/// One unit of batch work for [`Sandbox::run_jobs`].
#[derive(Clone, Debug)]
pub struct Job {
    /// The module's bytes (shared, so many jobs can run one module cheaply).
    pub wasm: Arc<[u8]>,
    /// Limits of the instance and of each call.
    pub limits: crate::Limits,
    /// Exports to call in order, with their arguments, on one instance.
    pub calls: Vec<(String, Vec<crate::Value>)>,
}

/// The outcomes of a job's calls, in order.
pub type JobResult = std::result::Result<Vec<crate::Outcome>, JobError>;

/// Why a job produced no outcomes.
#[derive(Debug)]
#[non_exhaustive]
pub enum JobError {
    /// The module was rejected.
    Load(LoadError),
    /// Instantiation (the start function, or initial sizes) ended with a verdict.
    Instantiate(crate::Verdict),
    /// The host failed.
    Host(Error),
}

/// Increments the engine's epoch every [`limits::EPOCH_TICK`] until the engine
/// is dropped. The epoch deadline is the host's wall-clock backstop only.
fn start_ticker(engine: wasmtime::EngineWeak) {
    let spawned = std::thread::Builder::new()
        .name("crucible-epoch".into())
        .spawn(move || {
            loop {
                std::thread::sleep(limits::EPOCH_TICK);
                match engine.upgrade() {
                    Some(engine) => engine.increment_epoch(),
                    None => break,
                }
            }
        });
    // Without a ticker the timeout never fires, but fuel still bounds every
    // call; failing to spawn a thread is not worth failing the sandbox for.
    drop(spawned);
}

impl Sandbox {
    pub(crate) fn count_compile(&self) {
        self.inner.compiles.fetch_add(1, Ordering::Relaxed);
    }
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox")
            .field("config", &self.inner.config)
            .field("allocation", &self.inner.allocation)
            .finish_non_exhaustive()
    }
}
