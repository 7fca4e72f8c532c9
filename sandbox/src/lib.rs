//! A deterministic, fuel-limited, instrumented WebAssembly runner, and a grader
//! built on it.
//!
//! # Brief overview
//!
//! - [`Sandbox`] holds one wasmtime engine configured for safety and
//!   determinism: fuel metering, NaN canonicalisation, no threads or relaxed
//!   SIMD, a bounded Wasm stack, the pooling allocator, an epoch ticker as a
//!   wall-clock backstop, a compiled-module cache, and a thread pool.
//! - [`Sandbox::load`] validates, compiles and caches bytes into a [`Module`];
//!   rejections are a precise [`LoadError`].
//! - [`Module::instantiate`] creates an [`Instance`] under [`Limits`];
//!   [`Instance::call`] returns an [`Outcome`]: values or a [`Verdict`], plus
//!   fuel and peak memory. A guest misbehaving is never an `Err`.
//! - [`probes`] reads the probe buffer our compiler emits; [`instrument`] adds
//!   coverage counters to any module; [`wasi`] is an opt-in deterministic
//!   WASI preview-1 subset; [`grade`] grades submissions against a task file.
//!
//! No wasmtime type appears in this API, so a wasmtime upgrade cannot break an
//! embedder. Fuel figures are specific to [`ENGINE_VERSION`].
//!
//! # Example
//!
//! ```
//! use crucible_sandbox::{Limits, Sandbox, SandboxConfig, Strategy, TrapKind, Value, Verdict};
//!
//! let sandbox = Sandbox::new(&SandboxConfig::new(Strategy::Cranelift))?;
//! let module = sandbox.load_wat(br#"
//!     (module
//!       (func (export "div") (param i32 i32) (result i32)
//!         (i32.div_s (local.get 0) (local.get 1)))
//!       (func (export "spin") (loop (br 0))))
//! "#)?;
//! let mut instance = module.instantiate(&Limits::default())?.expect("no start function");
//!
//! let ok = instance.call("div", &[Value::I32(7), Value::I32(2)])?;
//! assert_eq!(ok.result, Ok(vec![Value::I32(3)]));
//!
//! let trap = instance.call("div", &[Value::I32(7), Value::I32(0)])?;
//! assert_eq!(trap.result, Err(Verdict::Trap(TrapKind::IntDivideByZero)));
//!
//! let spin = instance.call("spin", &[])?;
//! assert_eq!(spin.result, Err(Verdict::OutOfFuel));
//! assert_eq!(spin.fuel_used, Limits::default().fuel);
//!
//! // The instance is still usable after traps.
//! assert!(instance.call("div", &[Value::I32(1), Value::I32(1)])?.result.is_ok());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![deny(missing_docs)]

mod cache;
mod engine;
mod error;
pub mod grade;
mod instance;
pub mod instrument;
pub mod limits;
mod module;
pub mod probes;
mod validate;
mod verdict;
pub mod wasi;

pub use cache::CacheStats;
pub use engine::{
    Allocation, ENGINE_VERSION, Job, JobError, JobResult, Sandbox, SandboxConfig, Strategy,
};
pub use error::{Error, ErrorKind, LoadError, Result};
pub use instance::Instance;
pub use limits::Limits;
pub use module::{Export, ExportKind, FuncType, Module};
pub use verdict::{Outcome, TrapKind, ValType, Value, Verdict};
pub use wasi::{WasiOptions, WasiOutput};

#[cfg(test)]
mod tests {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}

    #[test]
    fn handles_cross_threads() {
        send_sync::<crate::Sandbox>();
        send_sync::<crate::Module>();
        send::<crate::Instance>();
        send_sync::<crate::Error>();
    }
}
