//! What a call returned: [`Value`]s, or the [`Verdict`] on a misbehaving guest.
//!
//! [`Outcome`] is the record of one call: the result plus the fuel it burned
//! and the peak memory of the instance. Guest misbehaviour is never an
//! `Err` of the host: search scores a verdict with a defined worst fitness,
//! and the grader prints it.

use std::fmt;

/// A WebAssembly number. Floats are carried as their raw bits so that NaN
/// payloads survive and values compare bit for bit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Value {
    /// An `i32`.
    I32(i32),
    /// An `i64`.
    I64(i64),
    /// An `f32`, as its bits (`f32::to_bits`).
    F32(u32),
    /// An `f64`, as its bits (`f64::to_bits`).
    F64(u64),
}

impl Value {
    /// The Wasm type of this value.
    pub fn ty(&self) -> ValType {
        match self {
            Value::I32(_) => ValType::I32,
            Value::I64(_) => ValType::I64,
            Value::F32(_) => ValType::F32,
            Value::F64(_) => ValType::F64,
        }
    }

    /// An `f32` value.
    pub fn f32(x: f32) -> Value {
        Value::F32(x.to_bits())
    }

    /// An `f64` value.
    pub fn f64(x: f64) -> Value {
        Value::F64(x.to_bits())
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Value::I32(x) => write!(f, "{x}"),
            Value::I64(x) => write!(f, "{x}"),
            Value::F32(bits) => fmt_float(f, f64::from(f32::from_bits(bits)), u64::from(bits), 8),
            Value::F64(bits) => fmt_float(f, f64::from_bits(bits), bits, 16),
        }
    }
}

fn fmt_float(f: &mut fmt::Formatter<'_>, x: f64, bits: u64, width: usize) -> fmt::Result {
    if x.is_nan() {
        write!(f, "nan:0x{bits:0width$x}")
    } else {
        write!(f, "{x:?}")
    }
}

/// The numeric Wasm types the sandbox passes across the boundary.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ValType {
    /// `i32`.
    I32,
    /// `i64`.
    I64,
    /// `f32`.
    F32,
    /// `f64`.
    F64,
}

impl fmt::Display for ValType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ValType::I32 => "i32",
            ValType::I64 => "i64",
            ValType::F32 => "f32",
            ValType::F64 => "f64",
        })
    }
}

/// Why a guest did not return normally. Each has a stable snake_case
/// [`name`](Verdict::name) for reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Verdict {
    /// The call used up [`Limits::fuel`](crate::Limits::fuel). Deterministic.
    OutOfFuel,
    /// The wall-clock backstop ([`Limits::timeout`](crate::Limits::timeout))
    /// fired. Not deterministic: only seen with fuel off or a huge fuel limit.
    Timeout,
    /// The guest grew a memory or table past [`Limits`](crate::Limits), or
    /// declared an initial size above them.
    MemoryLimit,
    /// The Wasm stack ([`limits::MAX_WASM_STACK_BYTES`](crate::limits::MAX_WASM_STACK_BYTES)) was exhausted.
    StackOverflow,
    /// The guest trapped.
    Trap(TrapKind),
    /// A WASI guest wrote more than [`Limits::output_bytes`](crate::Limits::output_bytes).
    OutputLimit,
}

impl Verdict {
    /// The stable name used in reports: `out_of_fuel`, `trap:int_divide_by_zero`, ...
    pub fn name(&self) -> &'static str {
        match self {
            Verdict::OutOfFuel => "out_of_fuel",
            Verdict::Timeout => "timeout",
            Verdict::MemoryLimit => "memory_limit",
            Verdict::StackOverflow => "stack_overflow",
            Verdict::OutputLimit => "output_limit",
            Verdict::Trap(kind) => match kind {
                TrapKind::Unreachable => "trap:unreachable",
                TrapKind::IntDivideByZero => "trap:int_divide_by_zero",
                TrapKind::IntOverflow => "trap:int_overflow",
                TrapKind::BadConversion => "trap:bad_conversion",
                TrapKind::MemoryOutOfBounds => "trap:memory_out_of_bounds",
                TrapKind::TableOutOfBounds => "trap:table_out_of_bounds",
                TrapKind::IndirectCallTypeMismatch => "trap:indirect_call_type_mismatch",
                TrapKind::IndirectCallToNull => "trap:indirect_call_to_null",
                TrapKind::Other => "trap:other",
            },
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl serde::Serialize for Verdict {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

/// The kind of a Wasm trap.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TrapKind {
    /// `unreachable` was executed (also how Rust guests panic).
    Unreachable,
    /// Integer division or remainder by zero.
    IntDivideByZero,
    /// `i32.div_s` of `MIN` by `-1` (or the i64 equivalent).
    IntOverflow,
    /// A float-to-int truncation of NaN or an out-of-range value.
    BadConversion,
    /// A load, store or bulk-memory operation out of bounds (also a data
    /// segment that does not fit, at instantiation).
    MemoryOutOfBounds,
    /// A table access out of bounds.
    TableOutOfBounds,
    /// `call_indirect` to a function of the wrong type.
    IndirectCallTypeMismatch,
    /// `call_indirect` to a null table entry.
    IndirectCallToNull,
    /// Any other trap (none is reachable with the features the sandbox enables).
    Other,
}

/// The record of one call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The returned values, or why there are none.
    pub result: Result<Vec<Value>, Verdict>,
    /// Fuel the call consumed (at most the limit). Units are specific to the
    /// wasmtime version ([`crate::ENGINE_VERSION`]). wasmtime charges fuel per
    /// basic block, so on a trap the fuel of the trapping block may not be
    /// counted (a division by zero in the first block reports 0); the figure
    /// is still deterministic.
    pub fuel_used: u64,
    /// The largest total linear memory the instance has had, in bytes.
    pub peak_memory_bytes: u64,
}

/// A guest that grew past its limits (raised by our `ResourceLimiter`).
#[derive(Debug, thiserror::Error)]
#[error("resource limit exceeded")]
pub(crate) struct LimitExceeded;

/// WASI output past the cap.
#[derive(Debug, thiserror::Error)]
#[error("output limit exceeded")]
pub(crate) struct OutputExceeded;

/// WASI `proc_exit` (the code is recorded in the WASI state).
#[derive(Debug, thiserror::Error)]
#[error("exited")]
pub(crate) struct ProcExit;

/// What ended a guest run, from wasmtime's error.
pub(crate) enum Ending {
    Verdict(Verdict),
    Exit,
    /// Not the guest's doing.
    Host(wasmtime::Error),
}

pub(crate) fn classify(err: wasmtime::Error) -> Ending {
    if err.is::<LimitExceeded>() {
        return Ending::Verdict(Verdict::MemoryLimit);
    }
    if err.is::<OutputExceeded>() {
        return Ending::Verdict(Verdict::OutputLimit);
    }
    if err.is::<ProcExit>() {
        return Ending::Exit;
    }
    let Some(trap) = err.downcast_ref::<wasmtime::Trap>() else {
        return Ending::Host(err);
    };
    use wasmtime::Trap as T;
    let kind = match *trap {
        T::OutOfFuel => return Ending::Verdict(Verdict::OutOfFuel),
        T::Interrupt => return Ending::Verdict(Verdict::Timeout),
        T::StackOverflow => return Ending::Verdict(Verdict::StackOverflow),
        T::UnreachableCodeReached => TrapKind::Unreachable,
        T::IntegerDivisionByZero => TrapKind::IntDivideByZero,
        T::IntegerOverflow => TrapKind::IntOverflow,
        T::BadConversionToInteger => TrapKind::BadConversion,
        T::MemoryOutOfBounds => TrapKind::MemoryOutOfBounds,
        T::TableOutOfBounds => TrapKind::TableOutOfBounds,
        T::BadSignature => TrapKind::IndirectCallTypeMismatch,
        T::IndirectCallToNull => TrapKind::IndirectCallToNull,
        _ => TrapKind::Other,
    };
    Ending::Verdict(Verdict::Trap(kind))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdict_names_are_stable() {
        assert_eq!(
            Verdict::Trap(TrapKind::IntDivideByZero).name(),
            "trap:int_divide_by_zero"
        );
        assert_eq!(Verdict::OutOfFuel.to_string(), "out_of_fuel");
    }

    #[test]
    fn values_display_nan_bits() {
        assert_eq!(Value::F32(0x7fc0_0001).to_string(), "nan:0x7fc00001");
        assert_eq!(Value::f64(1.5).to_string(), "1.5");
        assert_eq!(Value::I32(-3).to_string(), "-3");
    }
}
