//! [`Instance`]: one store, one instance, many calls.

use crate::error::{Error, ErrorKind, Result};
use crate::module::{Module, convert_valtype};
use crate::probes::{self, ProbeReport};
use crate::verdict::{Ending, LimitExceeded, classify};
use crate::wasi::{WasiOptions, WasiOutput, WasiState};
use crate::{Limits, Outcome, ValType, Value, Verdict};

/// Enforces [`Limits`] on memories and tables and records the peak memory.
pub(crate) struct Limiter {
    memory_limit: u64,
    table_limit: u64,
    memory_total: u64,
    peak_memory: u64,
}

impl wasmtime::ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let total = (self.memory_total + desired as u64).saturating_sub(current as u64);
        if total > self.memory_limit {
            // A trap rather than `memory.grow` returning -1: a bomb ends at once
            // with a clear verdict instead of spinning until out of fuel.
            return Err(wasmtime::Error::new(LimitExceeded));
        }
        self.memory_total = total;
        self.peak_memory = self.peak_memory.max(total);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired as u64 > self.table_limit {
            return Err(wasmtime::Error::new(LimitExceeded));
        }
        Ok(true)
    }

    fn instances(&self) -> usize {
        1
    }
}

/// The data of every store.
pub(crate) struct StoreState {
    limiter: Limiter,
    pub(crate) wasi: Option<WasiState>,
}

/// An instantiated module in its own store. Calls may follow a trap: the
/// instance stays usable (its memory keeps whatever the trapped call wrote).
pub struct Instance {
    store: wasmtime::Store<StoreState>,
    instance: wasmtime::Instance,
    memory: Option<wasmtime::Memory>,
    limits: Limits,
    consume_fuel: bool,
    start_fuel: u64,
}

fn to_val(value: Value) -> wasmtime::Val {
    match value {
        Value::I32(x) => wasmtime::Val::I32(x),
        Value::I64(x) => wasmtime::Val::I64(x),
        Value::F32(bits) => wasmtime::Val::F32(bits),
        Value::F64(bits) => wasmtime::Val::F64(bits),
    }
}

fn from_val(value: &wasmtime::Val) -> Option<Value> {
    match *value {
        wasmtime::Val::I32(x) => Some(Value::I32(x)),
        wasmtime::Val::I64(x) => Some(Value::I64(x)),
        wasmtime::Val::F32(bits) => Some(Value::F32(bits)),
        wasmtime::Val::F64(bits) => Some(Value::F64(bits)),
        _ => None,
    }
}

/// Refills fuel and restarts the wall-clock deadline.
fn prepare(
    store: &mut wasmtime::Store<StoreState>,
    limits: &Limits,
    consume_fuel: bool,
) -> Result<()> {
    if consume_fuel {
        store
            .set_fuel(limits.fuel)
            .map_err(|e| Error::engine("setting fuel", e))?;
    }
    store.set_epoch_deadline(limits.timeout_ticks());
    Ok(())
}

fn fuel_used(store: &wasmtime::Store<StoreState>, limits: &Limits, consume_fuel: bool) -> u64 {
    if !consume_fuel {
        return 0;
    }
    limits.fuel.saturating_sub(store.get_fuel().unwrap_or(0))
}

impl Instance {
    pub(crate) fn new(
        module: &Module,
        limits: &Limits,
        wasi: Option<&WasiOptions>,
    ) -> Result<Result<Instance, Verdict>> {
        limits.check()?;
        let state = StoreState {
            limiter: Limiter {
                memory_limit: limits.memory_bytes,
                table_limit: u64::from(limits.table_elements),
                memory_total: 0,
                peak_memory: 0,
            },
            wasi: wasi.map(|options| WasiState::new(options, limits.output_bytes)),
        };
        let inner = &module.inner;
        let mut store = wasmtime::Store::new(&inner.engine, state);
        store.limiter(|state| &mut state.limiter);
        store.epoch_deadline_trap();
        prepare(&mut store, limits, inner.consume_fuel)?;
        let created = inner.pre.instantiate(&mut store);
        let start_fuel = fuel_used(&store, limits, inner.consume_fuel);
        let instance = match created {
            Ok(instance) => instance,
            Err(err) => {
                return match classify(err) {
                    Ending::Verdict(verdict) => Ok(Err(verdict)),
                    // `proc_exit` from a start function: there is no instance to return.
                    Ending::Exit => Ok(Err(Verdict::Trap(crate::TrapKind::Other))),
                    Ending::Host(err) => Err(Error::engine("instantiating", err)),
                };
            }
        };
        let memory = instance.get_memory(&mut store, "memory");
        Ok(Ok(Instance {
            store,
            instance,
            memory,
            limits: limits.clone(),
            consume_fuel: inner.consume_fuel,
            start_fuel,
        }))
    }

    /// Fuel the start function consumed (0 if there is none).
    pub fn start_fuel_used(&self) -> u64 {
        self.start_fuel
    }

    /// The limits this instance runs under.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Calls an exported function. Fuel is refilled to [`Limits::fuel`] first,
    /// so every call has the same budget whatever earlier calls used, and the
    /// wall-clock deadline restarts.
    ///
    /// A WASI `proc_exit` ends the call with no results; the code is in
    /// [`Instance::wasi_output`].
    ///
    /// # Errors
    ///
    /// Only the caller's mistakes and host failures:
    /// [`ErrorKind::MissingExport`], [`ErrorKind::BadArguments`],
    /// [`ErrorKind::Engine`]. Everything the guest does is in the [`Outcome`].
    pub fn call(&mut self, export: &str, args: &[Value]) -> Result<Outcome> {
        let Some(func) = self.instance.get_func(&mut self.store, export) else {
            return Err(ErrorKind::MissingExport {
                name: export.into(),
            }
            .into());
        };
        let ty = func.ty(&self.store);
        let params: Option<Vec<_>> = ty.params().map(|t| convert_valtype(&t)).collect();
        let results: Option<Vec<_>> = ty.results().map(|t| convert_valtype(&t)).collect();
        let arg_types: Vec<_> = args.iter().map(Value::ty).collect();
        let (Some(params), Some(results)) = (params, results) else {
            return Err(bad_arguments(
                export,
                "non-numeric types".into(),
                &arg_types,
            ));
        };
        if params != arg_types {
            let expected = crate::wasi::signature_text(&params, &results);
            return Err(bad_arguments(export, expected, &arg_types));
        }
        let wasm_args: Vec<wasmtime::Val> = args.iter().map(|v| to_val(*v)).collect();
        let mut wasm_results = vec![wasmtime::Val::I32(0); results.len()];
        prepare(&mut self.store, &self.limits, self.consume_fuel)?;
        let res = func.call(&mut self.store, &wasm_args, &mut wasm_results);
        let fuel_used = fuel_used(&self.store, &self.limits, self.consume_fuel);
        let result = match res {
            Ok(()) => Ok(wasm_results.iter().filter_map(from_val).collect()),
            Err(err) => match classify(err) {
                Ending::Verdict(verdict) => Err(verdict),
                Ending::Exit => Ok(Vec::new()),
                Ending::Host(err) => {
                    return Err(Error::engine(&format!("calling `{export}`"), err));
                }
            },
        };
        Ok(Outcome {
            result,
            fuel_used,
            peak_memory_bytes: self.store.data().limiter.peak_memory,
        })
    }

    fn memory(&self, offset: u64, len: u64) -> Result<(wasmtime::Memory, usize)> {
        let size = self.memory_size();
        let fail = || -> Error { ErrorKind::MemoryAccess { offset, len, size }.into() };
        let memory = self.memory.ok_or_else(fail)?;
        match offset.checked_add(len) {
            Some(end) if end <= size => Ok((memory, usize::try_from(offset).map_err(|_| fail())?)),
            _ => Err(fail()),
        }
    }

    /// Copies `bytes` into the exported memory `memory` at `offset`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::MemoryAccess`] if there is no such memory or the range is
    /// out of bounds.
    pub fn write_memory(&mut self, offset: u64, bytes: &[u8]) -> Result<()> {
        let (memory, start) = self.memory(offset, bytes.len() as u64)?;
        memory.data_mut(&mut self.store)[start..start + bytes.len()].copy_from_slice(bytes);
        Ok(())
    }

    /// Copies `buf.len()` bytes of the exported memory from `offset` into `buf`.
    ///
    /// # Errors
    ///
    /// As [`Instance::write_memory`].
    pub fn read_memory_into(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        let (memory, start) = self.memory(offset, buf.len() as u64)?;
        buf.copy_from_slice(&memory.data(&self.store)[start..start + buf.len()]);
        Ok(())
    }

    /// Reads `len` bytes of the exported memory from `offset`.
    ///
    /// # Errors
    ///
    /// As [`Instance::write_memory`].
    pub fn read_memory(&self, offset: u64, len: usize) -> Result<Vec<u8>> {
        let mut buf = vec![0; len];
        self.read_memory_into(offset, &mut buf)?;
        Ok(buf)
    }

    /// Size in bytes of the exported memory `memory` (0 if there is none).
    pub fn memory_size(&self) -> u64 {
        self.memory.map_or(0, |m| m.data_size(&self.store) as u64)
    }

    /// Grows the exported memory to at least `bytes` (rounded up to whole
    /// 64 KiB pages). Does nothing if it is already that large.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::MemoryLimit`] past [`Limits::memory_bytes`] or the memory's
    /// declared maximum; [`ErrorKind::MemoryAccess`] if there is no memory.
    pub fn grow_memory_to(&mut self, bytes: u64) -> Result<()> {
        const PAGE: u64 = 64 << 10;
        let size = self.memory_size();
        let Some(memory) = self.memory else {
            return Err(ErrorKind::MemoryAccess {
                offset: 0,
                len: bytes,
                size: 0,
            }
            .into());
        };
        if bytes <= size {
            return Ok(());
        }
        let delta = bytes.div_ceil(PAGE) - size / PAGE;
        memory
            .grow(&mut self.store, delta)
            .map_err(|_| ErrorKind::MemoryLimit {
                requested: bytes,
                limit: self.limits.memory_bytes,
            })?;
        Ok(())
    }

    /// The value of an exported global, if it exists and is numeric.
    pub fn global(&mut self, name: &str) -> Option<Value> {
        let global = self.instance.get_global(&mut self.store, name)?;
        from_val(&global.get(&mut self.store))
    }

    /// The value of an exported `i32` global.
    pub fn global_i32(&mut self, name: &str) -> Option<i32> {
        match self.global(name)? {
            Value::I32(x) => Some(x),
            _ => None,
        }
    }

    /// What a WASI guest wrote so far, if the instance has a WASI context.
    pub fn wasi_output(&self) -> Option<&WasiOutput> {
        self.store.data().wasi.as_ref().map(|w| &w.output)
    }

    /// Reads the probe buffer of a module emitted by our compiler (the layout
    /// in [`crate::probes`]). `Ok(None)` if the module exports no
    /// `crucible_probes` global.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Probes`] if the header is malformed or points outside memory.
    pub fn read_probes(&mut self) -> Result<Option<ProbeReport>> {
        let Some(addr) = self.global_i32(probes::GLOBAL) else {
            return Ok(None);
        };
        let memory = self.memory.map_or(&[][..], |m| m.data(&self.store));
        probes::read(memory, addr as u32).map(Some)
    }

    /// Zeroes the probe counters and the trace length, so the next call's
    /// probes start from nothing. Returns whether the module has probes.
    ///
    /// # Errors
    ///
    /// As [`Instance::read_probes`].
    pub fn reset_probes(&mut self) -> Result<bool> {
        let Some(addr) = self.global_i32(probes::GLOBAL) else {
            return Ok(false);
        };
        let Some(memory) = self.memory else {
            return Err(probes::malformed("no exported memory"));
        };
        probes::reset(memory.data_mut(&mut self.store), addr as u32)?;
        Ok(true)
    }

    /// Reads the coverage counters that [`crate::instrument`] added.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Probes`] if the instance has no coverage memory of the
    /// expected size (it was not instrumented with `map`).
    pub fn read_coverage(
        &mut self,
        map: &crate::instrument::Instrumented,
    ) -> Result<crate::instrument::Coverage> {
        let memory = self
            .instance
            .get_memory(&mut self.store, crate::instrument::COVERAGE_MEMORY)
            .ok_or_else(|| probes::malformed("no coverage memory"))?;
        map.coverage(memory.data(&self.store))
    }

    /// Zeroes the coverage counters.
    ///
    /// # Errors
    ///
    /// As [`Instance::read_coverage`].
    pub fn reset_coverage(&mut self) -> Result<()> {
        let memory = self
            .instance
            .get_memory(&mut self.store, crate::instrument::COVERAGE_MEMORY)
            .ok_or_else(|| probes::malformed("no coverage memory"))?;
        memory.data_mut(&mut self.store).fill(0);
        Ok(())
    }
}

fn bad_arguments(name: &str, expected: String, actual: &[ValType]) -> Error {
    let actual = crate::wasi::signature_text(actual, &[]);
    ErrorKind::BadArguments {
        name: name.into(),
        expected,
        actual,
    }
    .into()
}

impl std::fmt::Debug for Instance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Instance")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}
