//! The native backend: a checked program compiled to machine code with
//! Cranelift, called in-process without a sandbox.
//!
//! # Why this is safe without a sandbox
//! The candidate language is total: every operation has a defined result
//! (see [`crate::value`]), slice indexing is taken modulo the length, there is
//! no recursion (the checker rejects call cycles) and every loop runs a bounded
//! number of times. Generated code therefore never traps, never reads outside
//! the slices it is given and always returns. The differential tests
//! (`tests/all/native.rs`) hold the backend to that: interpreter and native
//! code agree bit for bit on random programs.
//! Loops can still run for a long time (`for i in 0..n` with `n = u64::MAX`);
//! [`NativeOptions::budget`] gives callers a deterministic stop.
//!
//! Only programs that passed our own checker reach this module, so native
//! code is a tier for Crucible's own candidates; foreign or untrusted code
//! (LLM output, hand-written Wasm) runs in the Wasm sandbox only.
//!
//! # Shape of the generated code
//! Every function of the program becomes one Cranelift function whose
//! parameters are the language's parameters (a slice is `(ptr, len: i32)`)
//! plus a pointer to a small per-call context (the loop budget and an
//! "exhausted" flag). One extra function, the trampoline, has the fixed
//! signature `extern "C" fn(args: *const u64, ctx: *mut Ctx) -> u64`: it
//! loads the arguments from one 8-byte slot each (two for a slice), calls the
//! entry and returns the result's bits zero-extended to 64. A single fixed
//! signature means the host never transmutes to a per-program function type.
//!
//! # The unsafe boundary
//! This is the only module of the workspace allowed `unsafe`: turning the
//! finalised code address into a function pointer, calling it, and freeing
//! the code memory on drop. [`NativeFunction::call`] checks every argument
//! against the entry's signature before the call, which is what makes the
//! pointers the generated code dereferences valid. [`ArgBatch`] does the same
//! check once per row when it is built, and keeps the slices alive, so
//! [`NativeFunction::call_batch`] only compares signatures before running
//! the code on every row.

#![allow(
    unsafe_code,
    reason = "calling Cranelift-compiled code needs a function pointer made from a code address"
)]

use std::sync::OnceLock;

use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::immediates::{Ieee32, Ieee64};
use cranelift_codegen::ir::{self as clif, AbiParam, InstBuilder, MemFlagsData, types};
use cranelift_codegen::isa::OwnedTargetIsa;
use cranelift_codegen::settings::{self, Configurable};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext, Variable};
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{Linkage, Module};

use crate::check::CheckedProgram;
use crate::ir::{
    BinOp, Block, Builtin, Callee, Elem, Expr, ExprKind, FuncId, Scalar, StmtKind, Type, UnOp,
};
use crate::limits;
use crate::value::{Arg, CANONICAL_NAN_F32, CANONICAL_NAN_F64, SliceData, Value};

/// How to compile a program natively.
///
/// There is no `Default`: callers choose whether they need a budget.
#[derive(Clone, Copy, Debug)]
pub struct NativeOptions {
    /// Most loop iterations one call may start, summed over every loop of
    /// every function it runs; the iteration past the budget stops the call
    /// with [`NativeError::BudgetExhausted`]. `None` compiles no counter at
    /// all (no run-time cost); loops then run to their bounds.
    pub budget: Option<u64>,
}

/// Why native compilation or a native call failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NativeError {
    /// Cranelift cannot generate code for this host (the environment's limit).
    #[error("native code is not supported on this host: {0}")]
    UnsupportedHost(String),
    /// The program has no function of the requested name (the caller's mistake).
    #[error("the program has no function `{0}`")]
    NoSuchFunction(String),
    /// Cranelift rejected the code we generated: always a bug in Crucible,
    /// since every checked program must compile.
    #[error("internal error compiling `{func}` natively: {message}")]
    Codegen {
        /// The function being compiled (or `<trampoline>`).
        func: String,
        /// Cranelift's message.
        message: String,
    },
    /// The arguments do not fit the entry's signature (the caller's mistake).
    #[error("bad arguments: {0}")]
    BadArguments(String),
    /// The call started more loop iterations than [`NativeOptions::budget`]
    /// allows (the candidate's doing, like the interpreter's `OutOfBudget`).
    #[error("loop budget of {budget} iterations exhausted")]
    BudgetExhausted {
        /// The budget that ran out.
        budget: u64,
    },
}

/// The per-call context the generated code reads and writes.
///
/// Layout is part of the generated code: `fuel` at offset 0, `exhausted` at 8.
#[repr(C)]
struct Ctx {
    /// Loop iterations left.
    fuel: u64,
    /// Set to 1 by generated code when `fuel` ran out.
    exhausted: u64,
}

const CTX_FUEL: i32 = 0;
const CTX_EXHAUSTED: i32 = 8;

/// Most argument slots a call needs: two per parameter (a slice takes two).
const MAX_SLOTS: usize = 2 * limits::MAX_PARAMS;

/// What empty slices point at: loads from an empty slice read element 0 of
/// this (all zero bits, the language's result for indexing an empty slice),
/// so the generated code needs no branch and never dereferences a dangling
/// pointer.
static EMPTY_SLICE: [u64; 1] = [0];

type Trampoline = unsafe extern "C" fn(*const u64, *mut Ctx) -> u64;

/// A compiled entry function, callable many times.
///
/// Dropping it frees the machine code.
pub struct NativeFunction {
    /// Owns the code memory `entry` points into; `None` only during drop.
    module: Option<JITModule>,
    entry: Trampoline,
    name: String,
    params: Vec<Type>,
    ret: Scalar,
    budget: Option<u64>,
}

impl std::fmt::Debug for NativeFunction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NativeFunction")
            .field("name", &self.name)
            .field("params", &self.params)
            .field("ret", &self.ret)
            .field("budget", &self.budget)
            .finish_non_exhaustive()
    }
}

impl Drop for NativeFunction {
    fn drop(&mut self) {
        if let Some(module) = self.module.take() {
            // SAFETY: `entry` is the only pointer into this module's memory and
            // it is never handed out; `call` borrows `self`, so no call is
            // running while `self` is being dropped, and none can follow.
            unsafe { module.free_memory() };
        }
    }
}

impl NativeFunction {
    /// The entry's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The entry's parameter types.
    pub fn params(&self) -> &[Type] {
        &self.params
    }

    /// The entry's return type.
    pub fn ret(&self) -> Scalar {
        self.ret
    }

    /// Calls the entry on `args`.
    ///
    /// # Errors
    /// [`NativeError::BadArguments`] if `args` do not match the signature (or
    /// a slice has more than `u32::MAX` elements);
    /// [`NativeError::BudgetExhausted`] if the call ran out of loop budget.
    pub fn call(&self, args: &[Arg]) -> Result<Value, NativeError> {
        let mut slots = [0u64; MAX_SLOTS];
        pack_args(&self.name, &self.params, args, &mut slots)?;
        let mut ctx = Ctx {
            fuel: self.budget.unwrap_or(0),
            exhausted: 0,
        };
        // SAFETY: `entry` points at the finalised trampoline of `self.module`,
        // which lives as long as `self`, and has exactly the `Trampoline`
        // signature in the host's default C calling convention. The trampoline
        // reads one slot per scalar parameter and two per slice, which is the
        // layout `pack_args` wrote after checking `args` against
        // `self.params` (and `slots` holds `MAX_SLOTS >= 2 * params`); every
        // slice slot pair is the pointer and length of a live slice in `args`
        // (or of `EMPTY_SLICE` with length 0), which outlives the call, and
        // the generated code only loads elements at `index % max(len, 1)`.
        // `ctx` is a live, exclusive `Ctx`.
        let bits = unsafe { (self.entry)(slots.as_ptr(), &mut ctx) };
        if ctx.exhausted != 0 {
            return Err(NativeError::BudgetExhausted {
                budget: self.budget.unwrap_or(0),
            });
        }
        Ok(Value::from_bits(self.ret, bits))
    }

    /// Calls the entry once per row of `batch`, appending the results to
    /// `out` in row order.
    ///
    /// The batch was checked against its signature when it was built, so
    /// this only compares that signature with the entry's, once, and then
    /// runs the compiled code row after row with no per-row checks. Each row
    /// gets the full loop budget, as a separate [`call`](Self::call) would.
    ///
    /// # Errors
    /// [`NativeError::BadArguments`] if the batch was built for a different
    /// signature (nothing is appended); [`NativeError::BudgetExhausted`] if a
    /// row ran out of loop budget: `out` then holds the results of the rows
    /// before it, and later rows are not run.
    pub fn call_batch(&self, batch: &ArgBatch, out: &mut Vec<Value>) -> Result<(), NativeError> {
        if batch.params != self.params {
            return Err(NativeError::BadArguments(format!(
                "`{}` takes ({}), the batch holds ({})",
                self.name,
                type_list(&self.params),
                type_list(&batch.params)
            )));
        }
        out.reserve(batch.rows);
        let fuel = self.budget.unwrap_or(0);
        // A zero-parameter entry reads no slots: every row is the empty row.
        let width = batch.width.max(1);
        let mut ctx = Ctx { fuel, exhausted: 0 };
        let mut rows = batch.slots.chunks_exact(width);
        for _ in 0..batch.rows {
            let row = match rows.next() {
                Some(row) => row.as_ptr(),
                None => EMPTY_SLICE.as_ptr(),
            };
            ctx.fuel = fuel;
            // SAFETY: as in `call`: `entry` is the live trampoline of
            // `self.module` with the `Trampoline` signature. `batch.params`
            // equals `self.params` (checked above), and `ArgBatch::new`
            // checked every row against those types and packed it with
            // `pack_args`, so each `width`-slot row has the layout the
            // trampoline reads (for `width == 0` it reads nothing, and `row`
            // points at `EMPTY_SLICE`). Every slice slot pair is the pointer
            // and length of a slice kept alive by `batch.keep` (or of
            // `EMPTY_SLICE` with length 0) and `batch` is borrowed for the
            // whole loop. `ctx` is a live, exclusive `Ctx`; `exhausted` is
            // still 0 here because a row that sets it ends the loop.
            let bits = unsafe { (self.entry)(row, &mut ctx) };
            if ctx.exhausted != 0 {
                return Err(NativeError::BudgetExhausted { budget: fuel });
            }
            out.push(Value::from_bits(self.ret, bits));
        }
        Ok(())
    }
}

/// Many argument rows for one signature, checked and packed once into the
/// layout the compiled code reads, for [`NativeFunction::call_batch`].
///
/// A batch depends only on the parameter types, not on a program, so one
/// batch (say, a data set) can be run through every candidate of that
/// signature. Slices are shared with the rows it was built from, not copied.
#[derive(Clone, Debug)]
pub struct ArgBatch {
    params: Vec<Type>,
    /// Slots per row: one per scalar parameter, two per slice.
    width: usize,
    rows: usize,
    /// `rows * width` slots, row after row.
    slots: Vec<u64>,
    /// The slices the slots point into, kept alive as long as the batch.
    keep: Vec<SliceData>,
}

impl ArgBatch {
    /// Checks every row against `params` and packs them.
    ///
    /// # Errors
    /// [`NativeError::BadArguments`] if a row does not match `params` (or a
    /// slice has more than `u32::MAX` elements).
    pub fn new<R: AsRef<[Arg]>>(
        params: &[Type],
        rows: impl IntoIterator<Item = R>,
    ) -> Result<ArgBatch, NativeError> {
        let width = params
            .iter()
            .map(|t| match t {
                Type::Scalar(_) => 1,
                Type::Slice(_) => 2,
            })
            .sum();
        let mut batch = ArgBatch {
            params: params.to_vec(),
            width,
            rows: 0,
            slots: Vec::new(),
            keep: Vec::new(),
        };
        for (i, row) in rows.into_iter().enumerate() {
            let row = row.as_ref();
            let start = batch.slots.len();
            batch.slots.resize(start + width, 0);
            pack_args(&format!("row {i}"), params, row, &mut batch.slots[start..])?;
            batch.keep.extend(row.iter().filter_map(|a| match a {
                Arg::Slice(d) => Some(d.clone()),
                Arg::Scalar(_) => None,
            }));
            batch.rows += 1;
        }
        Ok(batch)
    }

    /// The parameter types every row matches.
    pub fn params(&self) -> &[Type] {
        &self.params
    }

    /// The number of rows.
    pub fn len(&self) -> usize {
        self.rows
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }
}

/// `i32, [u8]`: a parameter list for messages.
fn type_list(params: &[Type]) -> String {
    params
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Checks `args` against `params` and writes the trampoline's argument slots
/// into `slots` (one per scalar, pointer and length per slice); returns the
/// number of slots written. `what` names the callee in messages.
///
/// A slice's pointer slot holds `EMPTY_SLICE` when it is empty, so the
/// generated code always has an element 0 to load.
fn pack_args(
    what: &str,
    params: &[Type],
    args: &[Arg],
    slots: &mut [u64],
) -> Result<usize, NativeError> {
    if args.len() != params.len() {
        return Err(NativeError::BadArguments(format!(
            "`{what}` takes {} arguments, got {}",
            params.len(),
            args.len()
        )));
    }
    let mut n = 0;
    for (arg, ty) in args.iter().zip(params) {
        match (arg, ty) {
            (Arg::Scalar(v), Type::Scalar(s)) if v.ty() == *s => {
                slots[n] = v.to_bits();
                n += 1;
            }
            (Arg::Slice(d), Type::Slice(e)) if d.elem() == *e => {
                let (ptr, len) = slice_parts(d);
                let len = u32::try_from(len).map_err(|_| {
                    NativeError::BadArguments(format!("a slice of {len} elements is too long"))
                })?;
                slots[n] = if len == 0 {
                    EMPTY_SLICE.as_ptr() as u64
                } else {
                    ptr
                };
                slots[n + 1] = len as u64;
                n += 2;
            }
            _ => {
                return Err(NativeError::BadArguments(format!(
                    "`{what}` expects `{ty}`, got {arg:?}"
                )));
            }
        }
    }
    Ok(n)
}

/// The address and element count of a slice argument.
fn slice_parts(d: &SliceData) -> (u64, usize) {
    match d {
        SliceData::U8(s) => (s.as_ptr() as u64, s.len()),
        SliceData::U32(s) => (s.as_ptr() as u64, s.len()),
        SliceData::U64(s) => (s.as_ptr() as u64, s.len()),
        SliceData::I32(s) => (s.as_ptr() as u64, s.len()),
        SliceData::I64(s) => (s.as_ptr() as u64, s.len()),
        SliceData::F32(s) => (s.as_ptr() as u64, s.len()),
        SliceData::F64(s) => (s.as_ptr() as u64, s.len()),
    }
}

/// The host's ISA, built once per process.
fn host_isa() -> Result<OwnedTargetIsa, NativeError> {
    static ISA: OnceLock<Result<OwnedTargetIsa, String>> = OnceLock::new();
    ISA.get_or_init(|| {
        let mut flags = settings::builder();
        let set = |f: &mut settings::Builder, k: &str, v: &str| {
            f.set(k, v).map_err(|e| format!("setting {k}={v}: {e}"))
        };
        set(&mut flags, "opt_level", "speed")?;
        // The JIT places code and libcalls anywhere in the address space.
        set(&mut flags, "use_colocated_libcalls", "false")?;
        set(&mut flags, "is_pic", "false")?;
        let verify = if cfg!(debug_assertions) {
            "true"
        } else {
            "false"
        };
        set(&mut flags, "enable_verifier", verify)?;
        let isa = cranelift_native::builder().map_err(|e| e.to_string())?;
        isa.finish(settings::Flags::new(flags))
            .map_err(|e| e.to_string())
    })
    .clone()
    .map_err(NativeError::UnsupportedHost)
}

/// The Cranelift type of a scalar: `bool` is an `i32` holding 0 or 1.
fn clif_type(s: Scalar) -> clif::Type {
    match s {
        Scalar::I32 | Scalar::U32 | Scalar::Bool => types::I32,
        Scalar::I64 | Scalar::U64 => types::I64,
        Scalar::F32 => types::F32,
        Scalar::F64 => types::F64,
    }
}

/// Compiles the program and returns its function `entry`, ready to call.
///
/// Every function of the program is compiled (the entry may call any of them).
///
/// # Errors
/// [`NativeError::NoSuchFunction`] if there is no `entry`;
/// [`NativeError::UnsupportedHost`] if Cranelift has no backend for this CPU;
/// [`NativeError::Codegen`] on a bug in this backend.
pub fn compile(
    checked: &CheckedProgram,
    entry: &str,
    options: &NativeOptions,
) -> Result<NativeFunction, NativeError> {
    let (entry_id, entry_fn) = checked
        .func(entry)
        .ok_or_else(|| NativeError::NoSuchFunction(entry.to_string()))?;
    let isa = host_isa()?;
    let ptr_ty = isa.pointer_type();
    let call_conv = isa.default_call_conv();
    let mut module = JITModule::new(JITBuilder::with_isa(
        isa,
        cranelift_module::default_libcall_names(),
    ));
    let frontend = module.isa().frontend_config();
    let codegen = |func: &str, e: &dyn std::fmt::Display| NativeError::Codegen {
        func: func.to_string(),
        message: e.to_string(),
    };

    // Declare every function first, so that calls can refer to any of them.
    let funcs = &checked.program().funcs;
    let mut sigs = Vec::with_capacity(funcs.len());
    let mut ids = Vec::with_capacity(funcs.len());
    for (i, func) in funcs.iter().enumerate() {
        let mut sig = clif::Signature::new(call_conv);
        for p in &func.params {
            match p.ty {
                Type::Scalar(s) => sig.params.push(AbiParam::new(clif_type(s))),
                Type::Slice(_) => {
                    sig.params.push(AbiParam::new(ptr_ty));
                    sig.params.push(AbiParam::new(types::I32));
                }
            }
        }
        sig.params.push(AbiParam::new(ptr_ty));
        sig.returns.push(AbiParam::new(clif_type(func.ret)));
        let id = module
            .declare_function(&format!("crucible_f{i}"), Linkage::Local, &sig)
            .map_err(|e| codegen(&func.name, &e))?;
        sigs.push(sig);
        ids.push(id);
    }

    let mut ctx = module.make_context();
    let mut fb_ctx = FunctionBuilderContext::new();
    for (i, func) in funcs.iter().enumerate() {
        ctx.func.signature = sigs[i].clone();
        let refs: Vec<clif::FuncRef> = ids
            .iter()
            .map(|&id| module.declare_func_in_func(id, &mut ctx.func))
            .collect();
        let builder = FunctionBuilder::new(&mut ctx.func, &mut fb_ctx);
        FuncLower::lower(
            checked,
            FuncId(i as u32),
            builder,
            &refs,
            ptr_ty,
            options.budget.is_some(),
        )
        .finalize(frontend);
        module
            .define_function(ids[i], &mut ctx)
            .map_err(|e| codegen(&func.name, &format!("{e:?}")))?;
        module.clear_context(&mut ctx);
    }

    // The trampoline: `(args: *const u64, ctx: *mut Ctx) -> u64`.
    let mut sig = clif::Signature::new(call_conv);
    sig.params.push(AbiParam::new(ptr_ty));
    sig.params.push(AbiParam::new(ptr_ty));
    sig.returns.push(AbiParam::new(types::I64));
    let tramp_id = module
        .declare_function("crucible_trampoline", Linkage::Local, &sig)
        .map_err(|e| codegen("<trampoline>", &e))?;
    ctx.func.signature = sig;
    let callee = module.declare_func_in_func(ids[entry_id.index()], &mut ctx.func);
    {
        let mut b = FunctionBuilder::new(&mut ctx.func, &mut fb_ctx);
        let block = b.create_block();
        b.append_block_params_for_function_params(block);
        b.switch_to_block(block);
        b.seal_block(block);
        let args_ptr = b.block_params(block)[0];
        let ctx_ptr = b.block_params(block)[1];
        let flags = MemFlagsData::trusted().with_readonly();
        let mut call_args = Vec::new();
        let mut slot = 0i32;
        for p in &entry_fn.params {
            match p.ty {
                Type::Scalar(s) => {
                    let bits = b.ins().load(types::I64, flags, args_ptr, 8 * slot);
                    let v = match s {
                        Scalar::I64 | Scalar::U64 => bits,
                        Scalar::F64 => b.ins().bitcast(types::F64, MemFlagsData::new(), bits),
                        Scalar::F32 => {
                            let low = b.ins().ireduce(types::I32, bits);
                            b.ins().bitcast(types::F32, MemFlagsData::new(), low)
                        }
                        Scalar::I32 | Scalar::U32 => b.ins().ireduce(types::I32, bits),
                        // Normalise a bool to 0 or 1, as `Value::from_bits` does.
                        Scalar::Bool => {
                            let low = b.ins().ireduce(types::I32, bits);
                            b.ins().band_imm_u(low, 1)
                        }
                    };
                    call_args.push(v);
                    slot += 1;
                }
                Type::Slice(_) => {
                    let ptr = b.ins().load(types::I64, flags, args_ptr, 8 * slot);
                    let ptr = if ptr_ty == types::I64 {
                        ptr
                    } else {
                        b.ins().ireduce(ptr_ty, ptr)
                    };
                    let len = b.ins().load(types::I64, flags, args_ptr, 8 * slot + 8);
                    let len = b.ins().ireduce(types::I32, len);
                    call_args.push(ptr);
                    call_args.push(len);
                    slot += 2;
                }
            }
        }
        call_args.push(ctx_ptr);
        let call = b.ins().call(callee, &call_args);
        let res = b.inst_results(call)[0];
        let bits = match entry_fn.ret {
            Scalar::I64 | Scalar::U64 => res,
            Scalar::F64 => b.ins().bitcast(types::I64, MemFlagsData::new(), res),
            Scalar::F32 => {
                let i = b.ins().bitcast(types::I32, MemFlagsData::new(), res);
                b.ins().uextend(types::I64, i)
            }
            Scalar::I32 | Scalar::U32 | Scalar::Bool => b.ins().uextend(types::I64, res),
        };
        b.ins().return_(&[bits]);
        b.finalize(frontend);
    }
    module
        .define_function(tramp_id, &mut ctx)
        .map_err(|e| codegen("<trampoline>", &format!("{e:?}")))?;
    module.clear_context(&mut ctx);
    module
        .finalize_definitions()
        .map_err(|e| codegen("<module>", &e))?;
    let code = module.get_finalized_function(tramp_id);
    // SAFETY: `code` is the address of the finalised trampoline, defined
    // above with the signature `(ptr, ptr) -> i64` in the ISA's default
    // calling convention, which is the C convention `Trampoline` names
    // (`extern "C"`); pointers are `ptr_ty` wide, and `u64` matches `i64`.
    let entry_ptr = unsafe { std::mem::transmute::<*const u8, Trampoline>(code) };
    Ok(NativeFunction {
        module: Some(module),
        entry: entry_ptr,
        name: entry.to_string(),
        params: entry_fn.params.iter().map(|p| p.ty).collect(),
        ret: entry_fn.ret,
        budget: options.budget,
    })
}

/// Where a local lives.
#[derive(Clone, Copy)]
enum Local {
    /// A scalar: a frontend variable.
    Scalar(Variable),
    /// A slice parameter: immutable, so plain SSA values of the entry block.
    Slice { ptr: clif::Value, len: clif::Value },
}

/// Lowers one function of a checked program.
struct FuncLower<'a, 'f> {
    checked: &'a CheckedProgram,
    b: FunctionBuilder<'f>,
    refs: &'a [clif::FuncRef],
    locals: Vec<Local>,
    ctx_ptr: clif::Value,
    ptr_ty: clif::Type,
    budget: bool,
    ret: Scalar,
    /// Sets the exhausted flag and returns zero; made on first use.
    bail: Option<clif::Block>,
}

impl<'a, 'f> FuncLower<'a, 'f> {
    fn lower(
        checked: &'a CheckedProgram,
        f: FuncId,
        mut b: FunctionBuilder<'f>,
        refs: &'a [clif::FuncRef],
        ptr_ty: clif::Type,
        budget: bool,
    ) -> FunctionBuilder<'f> {
        let func = &checked.program().funcs[f.index()];
        let info = checked.func_info(f);
        let entry = b.create_block();
        b.append_block_params_for_function_params(entry);
        b.switch_to_block(entry);
        b.seal_block(entry);
        let params = b.block_params(entry).to_vec();
        let mut locals = Vec::with_capacity(info.locals.len());
        let mut next = 0;
        for p in &func.params {
            match p.ty {
                Type::Scalar(s) => {
                    let var = b.declare_var(clif_type(s));
                    b.def_var(var, params[next]);
                    locals.push(Local::Scalar(var));
                    next += 1;
                }
                Type::Slice(_) => {
                    locals.push(Local::Slice {
                        ptr: params[next],
                        len: params[next + 1],
                    });
                    next += 2;
                }
            }
        }
        for ty in &info.locals[func.params.len()..] {
            let s = ty.as_scalar().expect("locals are scalars");
            let var = b.declare_var(clif_type(s));
            // Locals start at zero, as in the interpreter.
            let zero = zero(&mut b, s);
            b.def_var(var, zero);
            locals.push(Local::Scalar(var));
        }
        let mut lower = FuncLower {
            checked,
            b,
            refs,
            locals,
            ctx_ptr: params[next],
            ptr_ty,
            budget,
            ret: func.ret,
            bail: None,
        };
        if !lower.block(&func.body) {
            // Unreachable: the checker ensures every path returns.
            let z = zero(&mut lower.b, lower.ret);
            lower.b.ins().return_(&[z]);
        }
        if let Some(bail) = lower.bail {
            lower.b.switch_to_block(bail);
            lower.b.seal_block(bail);
            let one = lower.b.ins().iconst(types::I64, 1);
            lower
                .b
                .ins()
                .store(MemFlagsData::trusted(), one, lower.ctx_ptr, CTX_EXHAUSTED);
            let z = zero(&mut lower.b, lower.ret);
            lower.b.ins().return_(&[z]);
        }
        lower.b
    }

    fn bail_block(&mut self) -> clif::Block {
        *self.bail.get_or_insert_with(|| {
            let blk = self.b.create_block();
            self.b.set_cold_block(blk);
            blk
        })
    }

    fn var(&self, e_id: crate::ir::NodeId) -> Variable {
        match self.locals[self.checked.local(e_id).index()] {
            Local::Scalar(v) => v,
            Local::Slice { .. } => unreachable!("slices are not scalar locals"),
        }
    }

    fn slice(&self, e: &Expr) -> (clif::Value, clif::Value) {
        match self.locals[self.checked.local(e.id).index()] {
            Local::Slice { ptr, len } => (ptr, len),
            Local::Scalar(_) => unreachable!("not a slice"),
        }
    }

    /// Lowers a block; returns whether it ended in a `return` (the current
    /// Cranelift block is then terminated).
    fn block(&mut self, blk: &Block) -> bool {
        for s in &blk.stmts {
            match &s.kind {
                StmtKind::Let { init: e, .. } | StmtKind::Assign { value: e, .. } => {
                    let v = self.expr(e);
                    let var = self.var(s.id);
                    self.b.def_var(var, v);
                }
                StmtKind::Return(e) => {
                    let v = self.expr(e);
                    self.b.ins().return_(&[v]);
                    // Statements after a `return` never run.
                    return true;
                }
                StmtKind::If {
                    cond,
                    then_block,
                    else_block,
                } => {
                    let c = self.expr(cond);
                    let then_blk = self.b.create_block();
                    let merge = self.b.create_block();
                    let else_blk = if else_block.is_some() {
                        self.b.create_block()
                    } else {
                        merge
                    };
                    self.b.ins().brif(c, then_blk, &[], else_blk, &[]);
                    self.b.switch_to_block(then_blk);
                    self.b.seal_block(then_blk);
                    let then_returns = self.block(then_block);
                    if !then_returns {
                        self.b.ins().jump(merge, &[]);
                    }
                    let mut else_returns = false;
                    if let Some(eb) = else_block {
                        self.b.switch_to_block(else_blk);
                        self.b.seal_block(else_blk);
                        else_returns = self.block(eb);
                        if !else_returns {
                            self.b.ins().jump(merge, &[]);
                        }
                    }
                    self.b.switch_to_block(merge);
                    self.b.seal_block(merge);
                    if then_returns && else_returns {
                        // `merge` has no predecessors: end it and stop here.
                        let z = zero(&mut self.b, self.ret);
                        self.b.ins().return_(&[z]);
                        return true;
                    }
                }
                StmtKind::For {
                    start, end, body, ..
                } => {
                    let ty = self.checked.scalar(start);
                    let var = self.var(s.id);
                    let v = self.expr(start);
                    self.b.def_var(var, v);
                    let bound = self.expr(end);
                    let header = self.b.create_block();
                    let body_blk = self.b.create_block();
                    let exit = self.b.create_block();
                    self.b.ins().jump(header, &[]);
                    self.b.switch_to_block(header);
                    let i = self.b.use_var(var);
                    let cc = if ty.is_signed() {
                        IntCC::SignedLessThan
                    } else {
                        IntCC::UnsignedLessThan
                    };
                    let c = self.b.ins().icmp(cc, i, bound);
                    self.b.ins().brif(c, body_blk, &[], exit, &[]);
                    self.b.switch_to_block(body_blk);
                    self.b.seal_block(body_blk);
                    if self.budget {
                        self.charge_iteration();
                    }
                    if !self.block(body) {
                        let i = self.b.use_var(var);
                        let next = self.b.ins().iadd_imm_s(i, 1);
                        self.b.def_var(var, next);
                        self.b.ins().jump(header, &[]);
                    }
                    self.b.seal_block(header);
                    self.b.switch_to_block(exit);
                    self.b.seal_block(exit);
                }
            }
        }
        false
    }

    /// Takes one unit of fuel, or bails out if there is none left.
    fn charge_iteration(&mut self) {
        let flags = MemFlagsData::trusted();
        let fuel = self.b.ins().load(types::I64, flags, self.ctx_ptr, CTX_FUEL);
        let bail = self.bail_block();
        let cont = self.b.create_block();
        self.b.ins().brif(fuel, cont, &[], bail, &[]);
        self.b.switch_to_block(cont);
        self.b.seal_block(cont);
        let left = self.b.ins().iadd_imm_s(fuel, -1);
        self.b.ins().store(flags, left, self.ctx_ptr, CTX_FUEL);
    }

    /// After a call: bail out too if the callee ran out of fuel.
    fn check_exhausted(&mut self) {
        let flags = MemFlagsData::trusted();
        let flag = self
            .b
            .ins()
            .load(types::I64, flags, self.ctx_ptr, CTX_EXHAUSTED);
        let bail = self.bail_block();
        let cont = self.b.create_block();
        self.b.ins().brif(flag, bail, &[], cont, &[]);
        self.b.switch_to_block(cont);
        self.b.seal_block(cont);
    }

    /// Replaces any NaN by the canonical NaN.
    fn canon(&mut self, v: clif::Value, s: Scalar) -> clif::Value {
        let nan = match s {
            Scalar::F32 => self.b.ins().f32const(Ieee32::with_bits(CANONICAL_NAN_F32)),
            Scalar::F64 => self.b.ins().f64const(Ieee64::with_bits(CANONICAL_NAN_F64)),
            _ => return v,
        };
        let is_nan = self.b.ins().fcmp(FloatCC::Unordered, v, v);
        self.b.ins().select(is_nan, nan, v)
    }

    /// A comparison result (`i8`) as a language `bool` (`i32` 0 or 1).
    fn bool_of(&mut self, c: clif::Value) -> clif::Value {
        self.b.ins().uextend(types::I32, c)
    }

    fn expr(&mut self, e: &Expr) -> clif::Value {
        match &e.kind {
            ExprKind::Lit(lit) => {
                let v = crate::interp::lit_value(*lit, self.checked.scalar(e));
                const_value(&mut self.b, v)
            }
            ExprKind::Var(_) => {
                let var = self.var(e.id);
                self.b.use_var(var)
            }
            ExprKind::Unary(op, a) => {
                let s = self.checked.scalar(a);
                let x = self.expr(a);
                match (op, s) {
                    (UnOp::Neg, _) if s.is_float() => self.b.ins().fneg(x),
                    (UnOp::Neg, _) => self.b.ins().ineg(x),
                    (UnOp::Not, Scalar::Bool) => self.b.ins().bxor_imm_u(x, 1),
                    (UnOp::Not, _) => self.b.ins().bnot(x),
                }
            }
            ExprKind::Binary(op, a, b) => {
                let s = self.checked.scalar(a);
                let x = self.expr(a);
                let y = self.expr(b);
                self.binary(*op, s, x, y)
            }
            ExprKind::Cast(a, to) => {
                let from = self.checked.scalar(a);
                let x = self.expr(a);
                self.cast(x, from, *to)
            }
            ExprKind::Index(base, idx) => {
                let elem = match self.checked.ty(base) {
                    Type::Slice(elem) => elem,
                    Type::Scalar(_) => unreachable!("indexing a scalar"),
                };
                let (ptr, len) = self.slice(base);
                let i = self.expr(idx);
                // i % max(len, 1): an empty slice points at a zero element.
                let one = self.b.ins().iconst(types::I32, 1);
                let divisor = self.b.ins().umax(len, one);
                let i = self.b.ins().urem(i, divisor);
                let i = self.b.ins().uextend(self.ptr_ty, i);
                let offset = self.b.ins().imul_imm_u(i, elem.size() as i64);
                let addr = self.b.ins().iadd(ptr, offset);
                let flags = MemFlagsData::trusted().with_readonly();
                match elem {
                    Elem::U8 => self.b.ins().uload8(types::I32, flags, addr, 0),
                    _ => self.b.ins().load(clif_type(elem.scalar()), flags, addr, 0),
                }
            }
            ExprKind::Call(Callee::Builtin(Builtin::Len), args) => self.slice(&args[0]).1,
            ExprKind::Call(Callee::Builtin(b), args) => {
                let s = self.checked.scalar(&args[args.len() - 1]);
                let vals: Vec<clif::Value> = args.iter().map(|a| self.expr(a)).collect();
                self.builtin(*b, s, &vals)
            }
            ExprKind::Call(Callee::Func(_), args) => {
                let callee = self.checked.node(e.id).callee.expect("resolved call");
                let mut vals = Vec::with_capacity(args.len() + 1);
                for a in args {
                    match self.checked.ty(a) {
                        Type::Scalar(_) => {
                            let v = self.expr(a);
                            vals.push(v);
                        }
                        Type::Slice(_) => {
                            let (ptr, len) = self.slice(a);
                            vals.push(ptr);
                            vals.push(len);
                        }
                    }
                }
                vals.push(self.ctx_ptr);
                let call = self.b.ins().call(self.refs[callee.index()], &vals);
                let res = self.b.inst_results(call)[0];
                if self.budget {
                    self.check_exhausted();
                }
                res
            }
        }
    }

    fn binary(&mut self, op: BinOp, s: Scalar, x: clif::Value, y: clif::Value) -> clif::Value {
        use BinOp::*;
        let ins = self.b.ins();
        if op.is_comparison() {
            let c = if s.is_float() {
                let cc = match op {
                    Eq => FloatCC::Equal,
                    Ne => FloatCC::NotEqual,
                    Lt => FloatCC::LessThan,
                    Le => FloatCC::LessThanOrEqual,
                    Gt => FloatCC::GreaterThan,
                    _ => FloatCC::GreaterThanOrEqual,
                };
                ins.fcmp(cc, x, y)
            } else {
                let signed = s.is_signed();
                let cc = match (op, signed) {
                    (Eq, _) => IntCC::Equal,
                    (Ne, _) => IntCC::NotEqual,
                    (Lt, true) => IntCC::SignedLessThan,
                    (Lt, false) => IntCC::UnsignedLessThan,
                    (Le, true) => IntCC::SignedLessThanOrEqual,
                    (Le, false) => IntCC::UnsignedLessThanOrEqual,
                    (Gt, true) => IntCC::SignedGreaterThan,
                    (Gt, false) => IntCC::UnsignedGreaterThan,
                    (_, true) => IntCC::SignedGreaterThanOrEqual,
                    (_, false) => IntCC::UnsignedGreaterThanOrEqual,
                };
                ins.icmp(cc, x, y)
            };
            return self.bool_of(c);
        }
        if s.is_float() {
            let r = match op {
                Add => ins.fadd(x, y),
                Sub => ins.fsub(x, y),
                Mul => ins.fmul(x, y),
                Div => ins.fdiv(x, y),
                _ => unreachable!("ill-typed {op:?} on {s}"),
            };
            return self.canon(r, s);
        }
        match op {
            Add => ins.iadd(x, y),
            Sub => ins.isub(x, y),
            Mul => ins.imul(x, y),
            Div | Rem => self.int_div(op, s, x, y),
            BitAnd | And => ins.band(x, y),
            BitOr | Or => ins.bor(x, y),
            BitXor => ins.bxor(x, y),
            // Cranelift masks shift counts to the width, as the language does.
            Shl => ins.ishl(x, y),
            Shr if s.is_signed() => ins.sshr(x, y),
            Shr => ins.ushr(x, y),
            _ => unreachable!("ill-typed {op:?} on {s}"),
        }
    }

    /// Total integer division: `x / 0 == 0`, `x % 0 == 0`, `MIN / -1 == MIN`,
    /// `MIN % -1 == 0`. Cranelift's `sdiv`/`srem` trap on a zero divisor (and
    /// `sdiv` on overflow), so the divisor is replaced by 1 where they would.
    fn int_div(&mut self, op: BinOp, s: Scalar, x: clif::Value, y: clif::Value) -> clif::Value {
        let ty = clif_type(s);
        let b = &mut self.b;
        let zero = b.ins().iconst(ty, 0);
        let one = b.ins().iconst(ty, 1);
        let y_zero = b.ins().icmp_imm_s(IntCC::Equal, y, 0);
        if !s.is_signed() {
            let d = b.ins().select(y_zero, one, y);
            return if op == BinOp::Div {
                let q = b.ins().udiv(x, d);
                b.ins().select(y_zero, zero, q)
            } else {
                // x % 1 == 0, which is also the result for x % 0.
                b.ins().urem(x, d)
            };
        }
        // Signed: y == -1 never divides (x / -1 == -x wrapping, x % -1 == 0).
        let y_m1 = b.ins().icmp_imm_s(IntCC::Equal, y, -1);
        let special = b.ins().bor(y_zero, y_m1);
        let d = b.ins().select(special, one, y);
        if op == BinOp::Div {
            let q = b.ins().sdiv(x, d);
            let neg = b.ins().ineg(x);
            let q = b.ins().select(y_m1, neg, q);
            b.ins().select(y_zero, zero, q)
        } else {
            b.ins().srem(x, d)
        }
    }

    fn cast(&mut self, x: clif::Value, from: Scalar, to: Scalar) -> clif::Value {
        use Scalar::*;
        let ins = self.b.ins();
        match (from, to) {
            _ if from == to => x,
            (I32 | U32 | Bool, I32 | U32) | (I64 | U64, I64 | U64) => x,
            (I32, I64 | U64) => ins.sextend(types::I64, x),
            (U32 | Bool, I64 | U64) => ins.uextend(types::I64, x),
            (I64 | U64, I32 | U32) => ins.ireduce(types::I32, x),
            (I32 | I64, F32 | F64) => ins.fcvt_from_sint(clif_type(to), x),
            (U32 | U64 | Bool, F32 | F64) => ins.fcvt_from_uint(clif_type(to), x),
            (F32 | F64, I32 | I64) => ins.fcvt_to_sint_sat(clif_type(to), x),
            (F32 | F64, U32 | U64) => ins.fcvt_to_uint_sat(clif_type(to), x),
            (F32, F64) => {
                let v = ins.fpromote(types::F64, x);
                self.canon(v, F64)
            }
            (F64, F32) => {
                let v = ins.fdemote(types::F32, x);
                self.canon(v, F32)
            }
            _ => unreachable!("ill-typed cast {from} as {to}"),
        }
    }

    fn builtin(&mut self, bi: Builtin, s: Scalar, a: &[clif::Value]) -> clif::Value {
        use Builtin::*;
        let ins = self.b.ins();
        let (v, canon) = match bi {
            Sqrt => (ins.sqrt(a[0]), true),
            Floor => (ins.floor(a[0]), true),
            Ceil => (ins.ceil(a[0]), true),
            Trunc => (ins.trunc(a[0]), true),
            Nearest => (ins.nearest(a[0]), true),
            Abs if s.is_float() => (ins.fabs(a[0]), false),
            Abs if s.is_signed() => (ins.iabs(a[0]), false),
            Abs => (a[0], false),
            // Cranelift's fmin/fmax are Wasm's: NaN if either is NaN, -0 < +0.
            Min if s.is_float() => (ins.fmin(a[0], a[1]), true),
            Max if s.is_float() => (ins.fmax(a[0], a[1]), true),
            Min if s.is_signed() => (ins.smin(a[0], a[1]), false),
            Min => (ins.umin(a[0], a[1]), false),
            Max if s.is_signed() => (ins.smax(a[0], a[1]), false),
            Max => (ins.umax(a[0], a[1]), false),
            Copysign => (ins.fcopysign(a[0], a[1]), false),
            // Rotation counts are masked to the width, as the language does.
            Rotl => (ins.rotl(a[0], a[1]), false),
            Rotr => (ins.rotr(a[0], a[1]), false),
            Clz => (ins.clz(a[0]), false),
            Ctz => (ins.ctz(a[0]), false),
            Popcnt => (ins.popcnt(a[0]), false),
            Select => (ins.select(a[0], a[1], a[2]), false),
            F32FromBits => (ins.bitcast(types::F32, MemFlagsData::new(), a[0]), false),
            F32ToBits => (ins.bitcast(types::I32, MemFlagsData::new(), a[0]), false),
            F64FromBits => (ins.bitcast(types::F64, MemFlagsData::new(), a[0]), false),
            F64ToBits => (ins.bitcast(types::I64, MemFlagsData::new(), a[0]), false),
            Len => unreachable!("handled by the caller"),
        };
        if canon { self.canon(v, s) } else { v }
    }
}

fn zero(b: &mut FunctionBuilder<'_>, s: Scalar) -> clif::Value {
    const_value(b, Value::zero(s))
}

fn const_value(b: &mut FunctionBuilder<'_>, v: Value) -> clif::Value {
    match v {
        Value::I32(x) => b.ins().iconst(types::I32, x as u32 as i64),
        Value::U32(x) => b.ins().iconst(types::I32, x as i64),
        Value::Bool(x) => b.ins().iconst(types::I32, x as i64),
        Value::I64(x) => b.ins().iconst(types::I64, x),
        Value::U64(x) => b.ins().iconst(types::I64, x as i64),
        Value::F32(x) => b.ins().f32const(Ieee32::with_bits(x.to_bits())),
        Value::F64(x) => b.ins().f64const(Ieee64::with_bits(x.to_bits())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile_text;
    use crate::interp::Interpreter;

    #[track_caller]
    fn check(src: &str, args: &[Arg]) {
        let c = compile_text(src).unwrap();
        let native = compile(&c, "f", &NativeOptions { budget: None }).unwrap();
        let (f, _) = c.func("f").unwrap();
        let expected = Interpreter::new(&c).run(f, args, u64::MAX).unwrap().value;
        assert_eq!(native.call(args).unwrap(), expected);
    }

    #[test]
    fn arithmetic_matches_the_interpreter() {
        check(
            "fn f(a: i32, b: i64) -> i64 { return (a / 0 + a % 0 + (-2147483648) / -1) as i64 + b / -1 + b % -1; }",
            &[Value::I32(i32::MIN).into(), Value::I64(i64::MIN).into()],
        );
        check(
            "fn f(x: f64) -> f64 { return copysign(1.0, sqrt(x)) + min(-0.0, 0.0) + nearest(2.5); }",
            &[Value::F64(-3.0).into()],
        );
    }

    #[test]
    fn slices_index_totally() {
        let src = "fn f(s: [u8]) -> u32 { let acc = 0u32; for i in 0..len(s) + 2 { acc = acc * 31 + s[i]; } return acc; }";
        check(src, &[Arg::Slice(SliceData::U8(vec![1u8, 2, 3].into()))]);
        check(src, &[Arg::Slice(SliceData::U8(Vec::new().into()))]);
        check(
            "fn f(s: [f64], i: u32) -> f64 { return s[i]; }",
            &[
                Arg::Slice(SliceData::F64(Vec::new().into())),
                Value::U32(9).into(),
            ],
        );
    }

    #[test]
    fn calls_and_early_returns() {
        check(
            "fn sq(x: i64) -> i64 { if x > 3 { return 3; } else { return x * x; } }\n\
             fn f(x: i64) -> i64 { for i in 0..x { if i == 5 { return sq(i) + sq(x); } } return -1; }",
            &[Value::I64(9).into()],
        );
    }

    #[test]
    fn budget_stops_runaway_loops() {
        let src = "fn g(n: u64) -> u64 { let a = 0u64; for i in 0..n { a = a + i; } return a; }\n\
                   fn f(n: u64) -> u64 { return g(n) + 1; }";
        let c = compile_text(src).unwrap();
        let native = compile(&c, "f", &NativeOptions { budget: Some(1000) }).unwrap();
        assert_eq!(
            native.call(&[Value::U64(1000).into()]),
            Ok(Value::U64(499_500 + 1))
        );
        assert_eq!(
            native.call(&[Value::U64(u64::MAX).into()]),
            Err(NativeError::BudgetExhausted { budget: 1000 })
        );
    }

    #[test]
    fn bad_arguments_are_errors() {
        let c = compile_text("fn f(x: u32) -> u32 { return x; }").unwrap();
        let native = compile(&c, "f", &NativeOptions { budget: None }).unwrap();
        assert!(matches!(
            native.call(&[]),
            Err(NativeError::BadArguments(_))
        ));
        assert!(matches!(
            native.call(&[Value::I32(1).into()]),
            Err(NativeError::BadArguments(_))
        ));
        assert!(matches!(
            compile(&c, "g", &NativeOptions { budget: None }),
            Err(NativeError::NoSuchFunction(_))
        ));
    }
}
