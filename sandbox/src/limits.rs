//! Resource limits: the per-run [`Limits`] and the engine-wide ceilings.
//!
//! Every number the sandbox enforces is a named constant here with the reason
//! for its value, in the manner of wasmparser's `limits.rs`. Per-run limits
//! ([`Limits`]) may be chosen freely below the engine ceilings (`MAX_*`), which
//! are fixed when a [`Sandbox`](crate::Sandbox) is built because the pooling
//! allocator reserves address space for them up front.

use std::time::Duration;

/// Default fuel per call: 10 million units, the figure of the sample task in
/// issue 3. One unit is roughly one Wasm instruction (wasmtime charges most
/// operators 1 and some control operators 0), so this is a few milliseconds of
/// guest work.
pub const DEFAULT_FUEL: u64 = 10_000_000;

/// Default linear-memory cap per instance: 16 MiB, the sample task's figure,
/// ample for test inputs yet small enough that 100 concurrent instances stay
/// under 2 GiB resident.
pub const DEFAULT_MEMORY_BYTES: u64 = 16 << 20;

/// Default table-element cap per instance. Rust and C toolchains emit one
/// table holding the address-taken functions: hundreds, rarely thousands.
pub const DEFAULT_TABLE_ELEMENTS: u32 = 10_000;

/// Default cap on WASI stdout plus stderr per instance: 1 MiB.
pub const DEFAULT_OUTPUT_BYTES: u64 = 1 << 20;

/// Default wall-clock backstop per call. Fuel is the real CPU budget; this
/// only catches host-side stalls and fuel-off benchmarking runs, and no
/// deterministic result may depend on it.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Engine ceiling on linear memory per instance: 1 GiB. The pooling allocator
/// sizes every memory slot for this, so a module declaring a larger minimum is
/// rejected at load with [`LoadError::TooLarge`](crate::LoadError::TooLarge).
pub const MAX_MEMORY_BYTES: u64 = 1 << 30;

/// Engine ceiling on elements per table (8 bytes each in wasmtime, so 800 KiB
/// per table slot in the pool).
pub const MAX_TABLE_ELEMENTS: u32 = 100_000;

/// Engine ceiling on the size of a module's bytes: 16 MiB. Larger inputs are
/// rejected before parsing, so a giant data segment costs nothing.
pub const MAX_MODULE_BYTES: usize = 16 << 20;

/// Engine ceiling on functions per module (imports included). wasmparser's own
/// limit is 1,000,000 (its `limits.rs`, agreed with other engines); compiling
/// that many functions takes minutes, so we cap at 100,000, well above the
/// 3,000-function modules of the benchmark.
pub const MAX_FUNCTIONS: u64 = 100_000;

/// Wasm stack per call: 512 KiB, wasmtime's default `max_wasm_stack`. It must
/// fit in the host thread's stack with room to spare, or the process aborts;
/// the batch pool uses [`GUEST_THREAD_STACK_BYTES`] threads for that reason.
pub const MAX_WASM_STACK_BYTES: usize = 512 << 10;

/// Stack of the batch pool's threads: 8 MiB, Linux's default main-thread
/// stack, leaving 7.5 MiB for host frames below a full Wasm stack.
pub const GUEST_THREAD_STACK_BYTES: usize = 8 << 20;

/// Period of the epoch ticker thread. A call's timeout is rounded up to whole
/// ticks.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Instance slots in the pooling allocator. Each slot reserves address space
/// for a memory of [`MAX_MEMORY_BYTES`] plus guard pages (about 4 GiB with
/// wasmtime's default reservation), so 256 slots reserve about 1 TiB of the
/// 128 TiB user address space and no physical memory.
pub const POOL_INSTANCES: u32 = 256;

/// Modules kept compiled in the in-memory cache.
pub const DEFAULT_CACHE_ENTRIES: usize = 1024;

/// Limits for one instance and each call on it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Fuel per call, refilled to this value at the start of every call (and for
    /// the start function). Default [`DEFAULT_FUEL`].
    pub fuel: u64,
    /// Cap on the total linear memory of the instance, in bytes. Growing past it
    /// is a [`Verdict::MemoryLimit`](crate::Verdict::MemoryLimit) (not a `-1`
    /// from `memory.grow`). Default [`DEFAULT_MEMORY_BYTES`]; at most [`MAX_MEMORY_BYTES`].
    pub memory_bytes: u64,
    /// Cap on elements per table. Default [`DEFAULT_TABLE_ELEMENTS`]; at most
    /// [`MAX_TABLE_ELEMENTS`].
    pub table_elements: u32,
    /// Cap on WASI stdout plus stderr bytes. Default [`DEFAULT_OUTPUT_BYTES`].
    pub output_bytes: u64,
    /// Wall-clock backstop per call. Default [`DEFAULT_TIMEOUT`].
    pub timeout: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            fuel: DEFAULT_FUEL,
            memory_bytes: DEFAULT_MEMORY_BYTES,
            table_elements: DEFAULT_TABLE_ELEMENTS,
            output_bytes: DEFAULT_OUTPUT_BYTES,
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

impl Limits {
    /// Checks the limits against the engine ceilings.
    pub(crate) fn check(&self) -> crate::Result<()> {
        let fail = |message: String| Err(crate::ErrorKind::InvalidLimits { message }.into());
        if self.memory_bytes > MAX_MEMORY_BYTES {
            return fail(format!(
                "memory_bytes {} exceeds the engine ceiling {MAX_MEMORY_BYTES}",
                self.memory_bytes
            ));
        }
        if self.table_elements > MAX_TABLE_ELEMENTS {
            return fail(format!(
                "table_elements {} exceeds the engine ceiling {MAX_TABLE_ELEMENTS}",
                self.table_elements
            ));
        }
        Ok(())
    }

    /// Timeout in epoch ticks, at least one.
    pub(crate) fn timeout_ticks(&self) -> u64 {
        let ticks = self.timeout.as_nanos().div_ceil(EPOCH_TICK.as_nanos());
        u64::try_from(ticks).unwrap_or(u64::MAX).max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_within_ceilings() {
        assert!(Limits::default().check().is_ok());
        let too_big = Limits {
            memory_bytes: MAX_MEMORY_BYTES + 1,
            ..Limits::default()
        };
        assert!(too_big.check().is_err());
    }

    #[test]
    fn timeout_rounds_up_to_ticks() {
        let limits = Limits {
            timeout: Duration::from_millis(15),
            ..Limits::default()
        };
        assert_eq!(limits.timeout_ticks(), 2);
        let zero = Limits {
            timeout: Duration::ZERO,
            ..Limits::default()
        };
        assert_eq!(zero.timeout_ticks(), 1);
    }
}
