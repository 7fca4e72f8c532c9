//! The WebAssembly backend (wasm-encoder).
//!
//! Two module shapes:
//! - [`compile`]: one program per module, every function exported under its
//!   own name, called once per test case;
//! - [`compile_batch`]: many candidates (same entry signature) in one module
//!   behind one exported dispatcher, [`EVAL_EXPORT`]`(k, n_cases, in_ptr, out_ptr, budget)`,
//!   which runs candidate `k` over `n_cases` input rows laid out in linear
//!   memory (see [`encode_inputs`]) and writes one 8-byte output slot per case
//!   (see [`decode_outputs`]) followed by one u64 cost per case, in cost-model
//!   units counted exactly as the interpreter counts them. A case whose cost
//!   passes `budget` traps (`unreachable`) where the interpreter reports
//!   `OutOfBudget`; [`DONE_EXPORT`] then says how many cases finished.
//!   A whole test set costs one host→Wasm call, and wasmtime compiles one
//!   trampoline instead of one per candidate.
//!
//! Modules are self-contained and deterministic under any conforming engine:
//! the backend canonicalises NaNs itself after every operation that may make
//! one, so results do not depend on an engine's NaN-canonicalisation setting.
//! Modules import nothing and export `memory`, [`HEAP_BASE_EXPORT`] (where the
//! host may write inputs) and, with probes, [`PROBES_EXPORT`].
//!
//! # Probe layout (a contract with `sandbox/src/probes.rs`; keep in sync)
//! With probes on, the i32 global [`PROBES_EXPORT`] holds the address of a
//! header in `memory` of seven little-endian u32 fields: magic
//! [`PROBE_MAGIC`] ("CRPB"), version [`PROBE_VERSION`], `n_counters`,
//! `trace_capacity`, `trace_len` (records attempted; those past the capacity
//! were dropped), `counters_offset`, `trace_offset`.
//! The counters are `n_counters` u64s: counter `i` counts executions of the
//! node with id `i` (statements, and blocks on entry; in a batch, candidate
//! `k`'s node `i` is counter `counter_offsets[k] + i`).
//! A trace record is 16 bytes: node id u32, zero u32, value bits u64
//! (zero-extended), written for every `let`, assignment and `return`.

use std::collections::HashMap;

use wasm_encoder::{
    BlockType, CodeSection, ConstExpr, DataSection, ElementSection, Elements, ExportKind,
    ExportSection, Function, FunctionSection, GlobalSection, GlobalType, Ieee32, Ieee64,
    Instruction as I, MemArg, MemorySection, MemoryType, Module, RefType, TableSection, TableType,
    TypeSection, ValType,
};

use crate::check::CheckedProgram;
use crate::ir::{
    BinOp, Block, Builtin, Callee, Elem, Expr, ExprKind, FuncId, NodeId, Scalar, StmtKind, Type,
    UnOp,
};
use crate::value::{Arg, CANONICAL_NAN_F32, CANONICAL_NAN_F64, Value};

/// The batch dispatcher export: `(k: i32, n_cases: i32, in_ptr: i32, out_ptr: i32, budget: i64)`.
pub const EVAL_EXPORT: &str = "crucible_eval";
/// The exported i32 global with the first address the host may use.
pub const HEAP_BASE_EXPORT: &str = "crucible_heap_base";
/// The exported i32 global with the probe header's address.
pub const PROBES_EXPORT: &str = "crucible_probes";
/// The exported memory.
pub const MEMORY_EXPORT: &str = "memory";
/// Probe header magic, "CRPB" little-endian.
pub const PROBE_MAGIC: u32 = 0x4250_5243;
/// Probe layout version.
pub const PROBE_VERSION: u32 = 1;
/// The exported i32 global counting the cases a batch call finished (so a
/// trap at case `i` leaves `i` here and the outputs and costs of cases `0..i`).
pub const DONE_EXPORT: &str = "crucible_done";
/// Size of one input slot and one output slot, in bytes.
pub const SLOT: u32 = 8;

const HEADER_ADDR: u32 = 16;
const COUNTERS_ADDR: u32 = 64;
const TRACE_LEN_ADDR: u32 = HEADER_ADDR + 16;

/// What to compile into a module.
#[derive(Clone, Copy, Debug)]
pub struct CompileOptions {
    /// Probes to compile in; `None` for none (no run-time cost).
    pub probes: Option<ProbeOptions>,
}

/// Probe settings.
#[derive(Clone, Copy, Debug)]
pub struct ProbeOptions {
    /// Most trace records kept per call; 0 records counters only.
    pub trace_capacity: u32,
}

/// A compiled batch module.
#[derive(Clone, Debug)]
pub struct Batch {
    /// The module.
    pub bytes: Vec<u8>,
    /// Per candidate, the index of its node 0 in the probe counters.
    pub counter_offsets: Vec<u32>,
    /// Total number of probe counters (0 without probes).
    pub n_counters: u32,
}

/// Why a batch could not be compiled (the caller's mistake, not the candidates').
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BatchError {
    /// The batch is empty.
    #[error("a batch needs at least one candidate")]
    Empty,
    /// A candidate has no function of the entry's name.
    #[error("candidate {index} has no function `{entry}`")]
    MissingEntry {
        /// The candidate's index.
        index: usize,
        /// The entry name.
        entry: String,
    },
    /// A candidate's entry signature differs from the first candidate's.
    #[error("candidate {index}'s `{entry}` has another signature than candidate 0's")]
    SignatureMismatch {
        /// The candidate's index.
        index: usize,
        /// The entry name.
        entry: String,
    },
}

/// Compiles one program; every function is exported under its own name.
pub fn compile(checked: &CheckedProgram, options: &CompileOptions) -> Vec<u8> {
    let mut m = Builder::new(options.probes, checked.node_count() as u32);
    let base = m.next_func_index();
    m.add_program(checked, base, 0);
    for (i, f) in checked.program().funcs.iter().enumerate() {
        m.exports.push((f.name.clone(), base + i as u32));
    }
    m.finish(None)
}

/// Compiles many candidates into one module behind [`EVAL_EXPORT`].
///
/// # Errors
/// If the batch is empty or the candidates' entries differ in signature.
pub fn compile_batch(
    candidates: &[&CheckedProgram],
    entry: &str,
    options: &CompileOptions,
) -> Result<Batch, BatchError> {
    let first = candidates.first().ok_or(BatchError::Empty)?;
    let sig = |c: &CheckedProgram, index: usize| {
        c.func(entry)
            .map(|(id, f)| (id, f.params.iter().map(|p| p.ty).collect::<Vec<_>>(), f.ret))
            .ok_or_else(|| BatchError::MissingEntry {
                index,
                entry: entry.to_string(),
            })
    };
    let (_, params, ret) = sig(first, 0)?;
    let mut counter_offsets = Vec::with_capacity(candidates.len());
    let mut n_counters = 0u32;
    let mut entries = Vec::with_capacity(candidates.len());
    for (index, c) in candidates.iter().enumerate() {
        let (id, p, r) = sig(c, index)?;
        if p != params || r != ret {
            return Err(BatchError::SignatureMismatch {
                index,
                entry: entry.to_string(),
            });
        }
        entries.push(id);
        counter_offsets.push(n_counters);
        n_counters += c.node_count() as u32;
    }
    let mut m = Builder::new(options.probes, n_counters);
    m.accounting = true;
    let cost_global = m.cost_global();
    let mut entry_indices = Vec::with_capacity(candidates.len());
    for (k, c) in candidates.iter().enumerate() {
        let base = m.next_func_index();
        m.add_program(c, base, counter_offsets[k]);
        entry_indices.push(base + entries[k].0);
    }
    // One row loop per candidate, reached through a table by the dispatcher.
    let loop_ty = m.ty(&[ValType::I32; 3], &[]);
    let mut loops = Vec::with_capacity(candidates.len());
    for &e in &entry_indices {
        loops.push(m.next_func_index());
        let f = row_loop(e, &params, ret, cost_global);
        m.funcs.push((loop_ty, f));
    }
    let eval_ty = m.ty(
        &[
            ValType::I32,
            ValType::I32,
            ValType::I32,
            ValType::I32,
            ValType::I64,
        ],
        &[],
    );
    let mut eval = Function::new([]);
    eval.instruction(&I::LocalGet(4));
    eval.instruction(&I::GlobalSet(cost_global + 1));
    eval.instruction(&I::I32Const(0));
    eval.instruction(&I::GlobalSet(cost_global + 2));
    for i in 1..4 {
        eval.instruction(&I::LocalGet(i));
    }
    eval.instruction(&I::LocalGet(0));
    eval.instruction(&I::CallIndirect {
        type_index: loop_ty,
        table_index: 0,
    });
    eval.instruction(&I::End);
    let eval_index = m.next_func_index();
    m.funcs.push((eval_ty, eval));
    m.exports.push((EVAL_EXPORT.to_string(), eval_index));
    Ok(Batch {
        bytes: m.finish(Some(loops)),
        counter_offsets: if options.probes.is_some() {
            counter_offsets
        } else {
            vec![0; candidates.len()]
        },
        n_counters: if options.probes.is_some() {
            n_counters
        } else {
            0
        },
    })
}

/// The Wasm value type of a scalar.
fn val_type(s: Scalar) -> ValType {
    match s {
        Scalar::I32 | Scalar::U32 | Scalar::Bool => ValType::I32,
        Scalar::I64 | Scalar::U64 => ValType::I64,
        Scalar::F32 => ValType::F32,
        Scalar::F64 => ValType::F64,
    }
}

/// Wasm parameters of a parameter type: a slice is `(ptr, len)`.
fn param_types(ty: Type) -> Vec<ValType> {
    match ty {
        Type::Scalar(s) => vec![val_type(s)],
        Type::Slice(_) => vec![ValType::I32, ValType::I32],
    }
}

fn mem(offset: u64, align: u32) -> MemArg {
    MemArg {
        offset,
        align,
        memory_index: 0,
    }
}

fn load(s: Scalar, offset: u64) -> I<'static> {
    match val_type(s) {
        ValType::I32 => I::I32Load(mem(offset, 2)),
        ValType::I64 => I::I64Load(mem(offset, 3)),
        ValType::F32 => I::F32Load(mem(offset, 2)),
        _ => I::F64Load(mem(offset, 3)),
    }
}

fn store(s: Scalar, offset: u64) -> I<'static> {
    match val_type(s) {
        ValType::I32 => I::I32Store(mem(offset, 2)),
        ValType::I64 => I::I64Store(mem(offset, 3)),
        ValType::F32 => I::F32Store(mem(offset, 2)),
        _ => I::F64Store(mem(offset, 3)),
    }
}

/// `loop_k(n, in, out)`: for each row, load the arguments, call the entry, store the result.
fn row_loop(entry: u32, params: &[Type], ret: Scalar, cost_global: u32) -> Function {
    const N: u32 = 0;
    const IN: u32 = 1;
    const OUT: u32 = 2;
    const C: u32 = 3;
    const ROW: u32 = 4;
    let stride = SLOT as i32 * params.len() as i32;
    let mut f = Function::new([(2, ValType::I32)]);
    let ins = [
        I::Block(BlockType::Empty),
        I::Loop(BlockType::Empty),
        I::LocalGet(C),
        I::LocalGet(N),
        I::I32GeU,
        I::BrIf(1),
        I::LocalGet(IN),
        I::LocalGet(C),
        I::I32Const(stride),
        I::I32Mul,
        I::I32Add,
        I::LocalSet(ROW),
        // Output address first, then the call's result.
        I::LocalGet(OUT),
        I::LocalGet(C),
        I::I32Const(SLOT as i32),
        I::I32Mul,
        I::I32Add,
    ];
    for i in &ins {
        f.instruction(i);
    }
    for (j, p) in params.iter().enumerate() {
        let off = (j as u32 * SLOT) as u64;
        f.instruction(&I::LocalGet(ROW));
        match p {
            Type::Scalar(s) => {
                f.instruction(&load(*s, off));
            }
            Type::Slice(_) => {
                f.instruction(&I::I32Load(mem(off, 2)));
                f.instruction(&I::LocalGet(ROW));
                f.instruction(&I::I32Load(mem(off + 4, 2)));
            }
        }
    }
    f.instruction(&I::I64Const(0));
    f.instruction(&I::GlobalSet(cost_global));
    f.instruction(&I::Call(entry));
    f.instruction(&store(ret, 0));
    // costs[c] at out + 8 * n + 8 * c; then done = c + 1.
    for i in [
        I::LocalGet(OUT),
        I::LocalGet(N),
        I::LocalGet(C),
        I::I32Add,
        I::I32Const(SLOT as i32),
        I::I32Mul,
        I::I32Add,
        I::GlobalGet(cost_global),
        I::I64Store(mem(0, 3)),
        I::LocalGet(C),
        I::I32Const(1),
        I::I32Add,
        I::GlobalSet(cost_global + 2),
    ] {
        f.instruction(&i);
    }
    for i in [
        I::LocalGet(C),
        I::I32Const(1),
        I::I32Add,
        I::LocalSet(C),
        I::Br(0),
        I::End,
        I::End,
        I::End,
    ] {
        f.instruction(&i);
    }
    f
}

struct Builder {
    types: TypeSection,
    type_map: HashMap<(Vec<ValType>, Vec<ValType>), u32>,
    funcs: Vec<(u32, Function)>,
    exports: Vec<(String, u32)>,
    probes: Option<ProbeOptions>,
    n_counters: u32,
    trace_func: Option<u32>,
    /// Batch modules count cost-model units per case (see [`EVAL_EXPORT`]).
    accounting: bool,
}

impl Builder {
    fn new(probes: Option<ProbeOptions>, n_counters: u32) -> Builder {
        let mut b = Builder {
            types: TypeSection::new(),
            type_map: HashMap::new(),
            funcs: Vec::new(),
            exports: Vec::new(),
            probes,
            n_counters,
            trace_func: None,
            accounting: false,
        };
        if let Some(p) = probes
            && p.trace_capacity > 0
        {
            let ty = b.ty(&[ValType::I32, ValType::I64], &[]);
            let trace_offset = b.trace_offset();
            b.trace_func = Some(0);
            b.funcs
                .push((ty, trace_helper(p.trace_capacity, trace_offset)));
        }
        b
    }

    /// Index of the mutable i64 global holding the current case's cost.
    fn cost_global(&self) -> u32 {
        1 + u32::from(self.probes.is_some())
    }

    fn trace_offset(&self) -> u32 {
        COUNTERS_ADDR + 8 * self.n_counters
    }

    fn heap_base(&self) -> u32 {
        let end = match self.probes {
            Some(p) => self.trace_offset() + 16 * p.trace_capacity,
            None => COUNTERS_ADDR,
        };
        end.next_multiple_of(16)
    }

    fn ty(&mut self, params: &[ValType], results: &[ValType]) -> u32 {
        let key = (params.to_vec(), results.to_vec());
        if let Some(&i) = self.type_map.get(&key) {
            return i;
        }
        let i = self.types.len();
        self.types
            .ty()
            .function(params.iter().copied(), results.iter().copied());
        self.type_map.insert(key, i);
        i
    }

    fn next_func_index(&self) -> u32 {
        self.funcs.len() as u32
    }

    fn add_program(&mut self, checked: &CheckedProgram, base: u32, counter_offset: u32) {
        let costs = if self.accounting {
            crate::cost::static_costs(checked)
        } else {
            Vec::new()
        };
        for (i, func) in checked.program().funcs.iter().enumerate() {
            let params: Vec<ValType> = func.params.iter().flat_map(|p| param_types(p.ty)).collect();
            let ty = self.ty(&params, &[val_type(func.ret)]);
            let mut lower = FuncLower::new(checked, FuncId(i as u32), base, counter_offset, self);
            lower.costs = &costs;
            lower.cost_global = self.accounting.then(|| self.cost_global());
            lower.block(&func.body);
            lower.emit(I::Unreachable);
            lower.emit(I::End);
            let f = lower.finish();
            self.funcs.push((ty, f));
        }
    }

    fn finish(self, table: Option<Vec<u32>>) -> Vec<u8> {
        let mut module = Module::new();
        module.section(&self.types);
        let mut functions = FunctionSection::new();
        for (ty, _) in &self.funcs {
            functions.function(*ty);
        }
        module.section(&functions);
        if let Some(t) = &table {
            let mut tables = TableSection::new();
            tables.table(TableType {
                element_type: RefType::FUNCREF,
                table64: false,
                minimum: t.len() as u64,
                maximum: Some(t.len() as u64),
                shared: false,
            });
            module.section(&tables);
        }
        let heap_base = self.heap_base();
        let mut memories = MemorySection::new();
        memories.memory(MemoryType {
            minimum: (heap_base as u64).div_ceil(65536).max(1),
            maximum: None,
            memory64: false,
            shared: false,
            page_size_log2: None,
        });
        module.section(&memories);
        let mut globals = GlobalSection::new();
        let const_global = |g: &mut GlobalSection, v: u32| {
            g.global(
                GlobalType {
                    val_type: ValType::I32,
                    mutable: false,
                    shared: false,
                },
                &ConstExpr::i32_const(v as i32),
            );
        };
        const_global(&mut globals, heap_base);
        if self.probes.is_some() {
            const_global(&mut globals, HEADER_ADDR);
        }
        if self.accounting {
            // cost, budget (i64) and done (i32), in that order from `cost_global()`.
            for (ty, init) in [
                (ValType::I64, ConstExpr::i64_const(0)),
                (ValType::I64, ConstExpr::i64_const(0)),
                (ValType::I32, ConstExpr::i32_const(0)),
            ] {
                globals.global(
                    GlobalType {
                        val_type: ty,
                        mutable: true,
                        shared: false,
                    },
                    &init,
                );
            }
        }
        module.section(&globals);
        let mut exports = ExportSection::new();
        exports.export(MEMORY_EXPORT, ExportKind::Memory, 0);
        exports.export(HEAP_BASE_EXPORT, ExportKind::Global, 0);
        if self.probes.is_some() {
            exports.export(PROBES_EXPORT, ExportKind::Global, 1);
        }
        if self.accounting {
            exports.export(DONE_EXPORT, ExportKind::Global, self.cost_global() + 2);
        }
        for (name, index) in &self.exports {
            exports.export(name, ExportKind::Func, *index);
        }
        module.section(&exports);
        if let Some(t) = &table {
            let mut elements = ElementSection::new();
            elements.active(
                None,
                &ConstExpr::i32_const(0),
                Elements::Functions(t.as_slice().into()),
            );
            module.section(&elements);
        }
        let mut code = CodeSection::new();
        for (_, f) in &self.funcs {
            code.function(f);
        }
        module.section(&code);
        if let Some(p) = self.probes {
            let header: Vec<u8> = [
                PROBE_MAGIC,
                PROBE_VERSION,
                self.n_counters,
                p.trace_capacity,
                0,
                COUNTERS_ADDR,
                self.trace_offset(),
            ]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
            let mut data = DataSection::new();
            data.active(0, &ConstExpr::i32_const(HEADER_ADDR as i32), header);
            module.section(&data);
        }
        module.finish()
    }
}

/// `trace(id: i32, value: i64)`: appends a record if there is room; always counts it.
fn trace_helper(capacity: u32, trace_offset: u32) -> Function {
    let mut f = Function::new([(1, ValType::I32)]);
    const LEN: u32 = 2;
    for i in [
        I::I32Const(0),
        I::I32Load(mem(TRACE_LEN_ADDR as u64, 2)),
        I::LocalTee(LEN),
        I::I32Const(capacity as i32),
        I::I32LtU,
        I::If(BlockType::Empty),
        // addr = trace_offset + len * 16
        I::LocalGet(LEN),
        I::I32Const(16),
        I::I32Mul,
        I::LocalGet(0),
        I::I32Store(mem(trace_offset as u64, 2)),
        I::LocalGet(LEN),
        I::I32Const(16),
        I::I32Mul,
        I::I32Const(0),
        I::I32Store(mem(trace_offset as u64 + 4, 2)),
        I::LocalGet(LEN),
        I::I32Const(16),
        I::I32Mul,
        I::LocalGet(1),
        I::I64Store(mem(trace_offset as u64 + 8, 3)),
        I::End,
        // Saturating increment of the attempted-records count.
        I::I32Const(0),
        I::LocalGet(LEN),
        I::I32Const(1),
        I::I32Add,
        I::LocalGet(LEN),
        I::LocalGet(LEN),
        I::I32Const(-1),
        I::I32Ne,
        I::Select,
        I::I32Store(mem(TRACE_LEN_ADDR as u64, 2)),
        I::End,
    ] {
        f.instruction(&i);
    }
    f
}

/// Lowers one function of a checked program.
struct FuncLower<'a> {
    checked: &'a CheckedProgram,
    /// Wasm index of this program's function 0.
    base: u32,
    counter_offset: u32,
    probes: bool,
    trace_func: Option<u32>,
    /// Static costs per node (empty without accounting).
    costs: &'a [u64],
    /// The cost global, when the module counts costs.
    cost_global: Option<u32>,
    /// Per `LocalId`, the Wasm local (for a slice: the pointer; the length follows).
    local_map: Vec<u32>,
    n_params: u32,
    extra: Vec<ValType>,
    body: Vec<I<'static>>,
    canon32: Option<u32>,
    canon64: Option<u32>,
}

impl<'a> FuncLower<'a> {
    fn new(
        checked: &'a CheckedProgram,
        f: FuncId,
        base: u32,
        counter_offset: u32,
        b: &Builder,
    ) -> FuncLower<'a> {
        let func = &checked.program().funcs[f.index()];
        let info = checked.func_info(f);
        let mut local_map = Vec::with_capacity(info.locals.len());
        let mut next = 0u32;
        for p in &func.params {
            local_map.push(next);
            next += param_types(p.ty).len() as u32;
        }
        let n_params = next;
        let mut extra = Vec::new();
        for ty in &info.locals[func.params.len()..] {
            local_map.push(next);
            next += 1;
            extra.push(val_type(ty.as_scalar().expect("locals are scalars")));
        }
        FuncLower {
            checked,
            base,
            counter_offset,
            probes: b.probes.is_some(),
            costs: &[],
            cost_global: None,
            trace_func: b.trace_func,
            local_map,
            n_params,
            extra,
            body: Vec::new(),
            canon32: None,
            canon64: None,
        }
    }

    fn finish(self) -> Function {
        let mut f = Function::new_with_locals_types(self.extra);
        for i in &self.body {
            f.instruction(i);
        }
        f
    }

    fn emit(&mut self, i: I<'static>) {
        self.body.push(i);
    }

    fn scratch(&mut self, ty: ValType) -> u32 {
        self.extra.push(ty);
        self.n_params + self.extra.len() as u32 - 1
    }

    fn counter(&mut self, id: NodeId) {
        if !self.probes {
            return;
        }
        let addr = (COUNTERS_ADDR + 8 * (self.counter_offset + id.0)) as u64;
        for i in [
            I::I32Const(0),
            I::I32Const(0),
            I::I64Load(mem(addr, 3)),
            I::I64Const(1),
            I::I64Add,
            I::I64Store(mem(addr, 3)),
        ] {
            self.emit(i);
        }
    }

    /// With a value of type `s` on the stack, records it in the trace and leaves it there.
    fn trace(&mut self, id: NodeId, s: Scalar) {
        let Some(func) = self.trace_func else {
            return;
        };
        let t = self.scratch(val_type(s));
        self.emit(I::LocalTee(t));
        self.emit(I::I32Const((self.counter_offset + id.0) as i32));
        self.emit(I::LocalGet(t));
        match val_type(s) {
            ValType::I32 => self.emit(I::I64ExtendI32U),
            ValType::F32 => {
                self.emit(I::I32ReinterpretF32);
                self.emit(I::I64ExtendI32U);
            }
            ValType::F64 => self.emit(I::I64ReinterpretF64),
            _ => {}
        }
        self.emit(I::Call(func));
    }

    /// Adds `units` to the case's cost and traps (`unreachable`) once it
    /// passes the budget, where the interpreter reports `OutOfBudget`.
    fn charge(&mut self, units: u64) {
        let Some(g) = self.cost_global else {
            return;
        };
        if units == 0 {
            return;
        }
        for i in [
            I::GlobalGet(g),
            I::I64Const(units as i64),
            I::I64Add,
            I::GlobalSet(g),
            I::GlobalGet(g),
            I::GlobalGet(g + 1),
            I::I64GtU,
            I::If(BlockType::Empty),
            I::Unreachable,
            I::End,
        ] {
            self.emit(i);
        }
    }

    fn block(&mut self, b: &Block) {
        self.counter(b.id);
        for s in &b.stmts {
            self.counter(s.id);
            let units = self.costs.get(s.id.index()).copied().unwrap_or(0);
            self.charge(units);
            match &s.kind {
                StmtKind::Let { init: e, .. } | StmtKind::Assign { value: e, .. } => {
                    self.expr(e);
                    self.trace(s.id, self.checked.scalar(e));
                    let l = self.local_map[self.checked.local(s.id).index()];
                    self.emit(I::LocalSet(l));
                }
                StmtKind::Return(e) => {
                    self.expr(e);
                    self.trace(s.id, self.checked.scalar(e));
                    self.emit(I::Return);
                }
                StmtKind::If {
                    cond,
                    then_block,
                    else_block,
                } => {
                    self.expr(cond);
                    self.emit(I::If(BlockType::Empty));
                    self.block(then_block);
                    if let Some(b) = else_block {
                        self.emit(I::Else);
                        self.block(b);
                    }
                    self.emit(I::End);
                }
                StmtKind::For {
                    start, end, body, ..
                } => {
                    let ty = self.checked.scalar(start);
                    let vt = val_type(ty);
                    let var = self.local_map[self.checked.local(s.id).index()];
                    let bound = self.scratch(vt);
                    self.expr(start);
                    self.emit(I::LocalSet(var));
                    self.expr(end);
                    self.emit(I::LocalSet(bound));
                    self.emit(I::Block(BlockType::Empty));
                    self.emit(I::Loop(BlockType::Empty));
                    self.emit(I::LocalGet(var));
                    self.emit(I::LocalGet(bound));
                    self.emit(match (vt, ty.is_signed()) {
                        (ValType::I32, true) => I::I32GeS,
                        (ValType::I32, false) => I::I32GeU,
                        (_, true) => I::I64GeS,
                        (_, false) => I::I64GeU,
                    });
                    self.emit(I::BrIf(1));
                    self.charge(crate::cost::ITERATION);
                    self.block(body);
                    self.emit(I::LocalGet(var));
                    if vt == ValType::I32 {
                        self.emit(I::I32Const(1));
                        self.emit(I::I32Add);
                    } else {
                        self.emit(I::I64Const(1));
                        self.emit(I::I64Add);
                    }
                    self.emit(I::LocalSet(var));
                    self.emit(I::Br(0));
                    self.emit(I::End);
                    self.emit(I::End);
                }
            }
        }
    }

    /// Replaces a float NaN on top of the stack by the canonical NaN.
    fn canon(&mut self, s: Scalar) {
        match s {
            Scalar::F32 => {
                let t = *self.canon32.get_or_insert_with(|| {
                    self.extra.push(ValType::F32);
                    self.n_params + self.extra.len() as u32 - 1
                });
                for i in [
                    I::LocalTee(t),
                    I::F32Const(Ieee32::new(CANONICAL_NAN_F32)),
                    I::LocalGet(t),
                    I::LocalGet(t),
                    I::F32Eq,
                    I::Select,
                ] {
                    self.emit(i);
                }
            }
            Scalar::F64 => {
                let t = *self.canon64.get_or_insert_with(|| {
                    self.extra.push(ValType::F64);
                    self.n_params + self.extra.len() as u32 - 1
                });
                for i in [
                    I::LocalTee(t),
                    I::F64Const(Ieee64::new(CANONICAL_NAN_F64)),
                    I::LocalGet(t),
                    I::LocalGet(t),
                    I::F64Eq,
                    I::Select,
                ] {
                    self.emit(i);
                }
            }
            _ => {}
        }
    }

    fn slice_locals(&self, e: &Expr) -> (u32, u32) {
        let ptr = self.local_map[self.checked.local(e.id).index()];
        (ptr, ptr + 1)
    }

    fn zero(&mut self, s: Scalar) {
        self.emit(match val_type(s) {
            ValType::I32 => I::I32Const(0),
            ValType::I64 => I::I64Const(0),
            ValType::F32 => I::F32Const(Ieee32::new(0)),
            _ => I::F64Const(Ieee64::new(0)),
        });
    }

    fn expr(&mut self, e: &Expr) {
        match &e.kind {
            ExprKind::Lit(lit) => {
                let v = crate::interp::lit_value(*lit, self.checked.scalar(e));
                self.emit(match v {
                    Value::I32(x) => I::I32Const(x),
                    Value::U32(x) => I::I32Const(x as i32),
                    Value::Bool(x) => I::I32Const(x as i32),
                    Value::I64(x) => I::I64Const(x),
                    Value::U64(x) => I::I64Const(x as i64),
                    Value::F32(x) => I::F32Const(Ieee32::new(x.to_bits())),
                    Value::F64(x) => I::F64Const(Ieee64::new(x.to_bits())),
                });
            }
            ExprKind::Var(_) => {
                let l = self.local_map[self.checked.local(e.id).index()];
                self.emit(I::LocalGet(l));
            }
            ExprKind::Unary(op, a) => {
                let s = self.checked.scalar(a);
                match (op, val_type(s), s) {
                    (UnOp::Neg, ValType::I32, _) => {
                        self.emit(I::I32Const(0));
                        self.expr(a);
                        self.emit(I::I32Sub);
                    }
                    (UnOp::Neg, ValType::I64, _) => {
                        self.emit(I::I64Const(0));
                        self.expr(a);
                        self.emit(I::I64Sub);
                    }
                    (UnOp::Neg, ValType::F32, _) => {
                        self.expr(a);
                        self.emit(I::F32Neg);
                    }
                    (UnOp::Neg, _, _) => {
                        self.expr(a);
                        self.emit(I::F64Neg);
                    }
                    (UnOp::Not, _, Scalar::Bool) => {
                        self.expr(a);
                        self.emit(I::I32Eqz);
                    }
                    (UnOp::Not, ValType::I32, _) => {
                        self.expr(a);
                        self.emit(I::I32Const(-1));
                        self.emit(I::I32Xor);
                    }
                    (UnOp::Not, _, _) => {
                        self.expr(a);
                        self.emit(I::I64Const(-1));
                        self.emit(I::I64Xor);
                    }
                }
            }
            ExprKind::Binary(op, a, b) => self.binary(*op, a, b),
            ExprKind::Cast(a, to) => {
                let from = self.checked.scalar(a);
                self.expr(a);
                self.cast(from, *to);
            }
            ExprKind::Index(base, idx) => {
                let elem = match self.checked.ty(base) {
                    Type::Slice(elem) => elem,
                    Type::Scalar(_) => unreachable!("indexing a scalar"),
                };
                let (ptr, len) = self.slice_locals(base);
                let i = self.scratch(ValType::I32);
                self.expr(idx);
                self.emit(I::LocalSet(i));
                let s = elem.scalar();
                self.emit(I::LocalGet(len));
                self.emit(I::I32Eqz);
                self.emit(I::If(BlockType::Result(val_type(s))));
                self.zero(s);
                self.emit(I::Else);
                for ins in [
                    I::LocalGet(ptr),
                    I::LocalGet(i),
                    I::LocalGet(len),
                    I::I32RemU,
                    I::I32Const(elem.size() as i32),
                    I::I32Mul,
                    I::I32Add,
                ] {
                    self.emit(ins);
                }
                self.emit(match elem {
                    Elem::U8 => I::I32Load8U(mem(0, 0)),
                    _ => load(s, 0),
                });
                self.emit(I::End);
            }
            ExprKind::Call(Callee::Builtin(Builtin::Len), args) => {
                let (_, len) = self.slice_locals(&args[0]);
                self.emit(I::LocalGet(len));
            }
            ExprKind::Call(Callee::Builtin(b), args) => self.builtin(*b, args),
            ExprKind::Call(Callee::Func(_), args) => {
                let callee = self.checked.node(e.id).callee.expect("resolved call");
                for a in args {
                    match self.checked.ty(a) {
                        Type::Scalar(_) => self.expr(a),
                        Type::Slice(_) => {
                            let (ptr, len) = self.slice_locals(a);
                            self.emit(I::LocalGet(ptr));
                            self.emit(I::LocalGet(len));
                        }
                    }
                }
                self.emit(I::Call(self.base + callee.0));
            }
        }
    }

    fn binary(&mut self, op: BinOp, a: &Expr, b: &Expr) {
        let s = self.checked.scalar(a);
        let vt = val_type(s);
        let signed = s.is_signed();
        let is64 = vt == ValType::I64;
        if s.is_int() && matches!(op, BinOp::Div | BinOp::Rem) {
            return self.int_div(op, a, b, s);
        }
        self.expr(a);
        self.expr(b);
        use BinOp::*;
        let ins = match (op, vt) {
            (Add, ValType::I32) => I::I32Add,
            (Add, ValType::I64) => I::I64Add,
            (Add, ValType::F32) => I::F32Add,
            (Add, _) => I::F64Add,
            (Sub, ValType::I32) => I::I32Sub,
            (Sub, ValType::I64) => I::I64Sub,
            (Sub, ValType::F32) => I::F32Sub,
            (Sub, _) => I::F64Sub,
            (Mul, ValType::I32) => I::I32Mul,
            (Mul, ValType::I64) => I::I64Mul,
            (Mul, ValType::F32) => I::F32Mul,
            (Mul, _) => I::F64Mul,
            (Div, ValType::F32) => I::F32Div,
            (Div, _) => I::F64Div,
            (BitAnd | And, ValType::I32) => I::I32And,
            (BitAnd, _) => I::I64And,
            (BitOr | Or, ValType::I32) => I::I32Or,
            (BitOr, _) => I::I64Or,
            (BitXor, ValType::I32) => I::I32Xor,
            (BitXor, _) => I::I64Xor,
            (Shl, ValType::I32) => I::I32Shl,
            (Shl, _) => I::I64Shl,
            (Shr, ValType::I32) if signed => I::I32ShrS,
            (Shr, ValType::I32) => I::I32ShrU,
            (Shr, _) if signed => I::I64ShrS,
            (Shr, _) => I::I64ShrU,
            (Eq, ValType::I32) => I::I32Eq,
            (Eq, ValType::I64) => I::I64Eq,
            (Eq, ValType::F32) => I::F32Eq,
            (Eq, _) => I::F64Eq,
            (Ne, ValType::I32) => I::I32Ne,
            (Ne, ValType::I64) => I::I64Ne,
            (Ne, ValType::F32) => I::F32Ne,
            (Ne, _) => I::F64Ne,
            (Lt, ValType::F32) => I::F32Lt,
            (Lt, ValType::F64) => I::F64Lt,
            (Le, ValType::F32) => I::F32Le,
            (Le, ValType::F64) => I::F64Le,
            (Gt, ValType::F32) => I::F32Gt,
            (Gt, ValType::F64) => I::F64Gt,
            (Ge, ValType::F32) => I::F32Ge,
            (Ge, ValType::F64) => I::F64Ge,
            (Lt, _) => int_cmp(is64, signed, I::I32LtS, I::I32LtU, I::I64LtS, I::I64LtU),
            (Le, _) => int_cmp(is64, signed, I::I32LeS, I::I32LeU, I::I64LeS, I::I64LeU),
            (Gt, _) => int_cmp(is64, signed, I::I32GtS, I::I32GtU, I::I64GtS, I::I64GtU),
            (Ge, _) => int_cmp(is64, signed, I::I32GeS, I::I32GeU, I::I64GeS, I::I64GeU),
            _ => unreachable!("ill-typed {op:?} on {s}"),
        };
        self.emit(ins);
        if s.is_float() && matches!(op, Add | Sub | Mul | Div) {
            self.canon(s);
        }
    }

    /// Total integer division and remainder: `x / 0 == 0`, `x % 0 == 0`,
    /// `MIN / -1 == MIN` (Wasm's `rem_s` already gives `MIN % -1 == 0`).
    fn int_div(&mut self, op: BinOp, a: &Expr, b: &Expr, s: Scalar) {
        let vt = val_type(s);
        let is64 = vt == ValType::I64;
        let signed = s.is_signed();
        let ta = self.scratch(vt);
        let tb = self.scratch(vt);
        self.expr(a);
        self.emit(I::LocalSet(ta));
        self.expr(b);
        self.emit(I::LocalSet(tb));
        self.emit(I::LocalGet(ta));
        // divisor' = 1 if b == 0 (or, for signed division, a == MIN && b == -1), else b.
        self.emit(if is64 { I::I64Const(1) } else { I::I32Const(1) });
        self.emit(I::LocalGet(tb));
        self.emit(I::LocalGet(tb));
        self.emit(if is64 { I::I64Eqz } else { I::I32Eqz });
        if signed && op == BinOp::Div {
            let min = if is64 {
                I::I64Const(i64::MIN)
            } else {
                I::I32Const(i32::MIN)
            };
            let m1 = if is64 {
                I::I64Const(-1)
            } else {
                I::I32Const(-1)
            };
            let eq = if is64 { I::I64Eq } else { I::I32Eq };
            for i in [
                I::LocalGet(ta),
                min,
                eq.clone(),
                I::LocalGet(tb),
                m1,
                eq,
                I::I32And,
                I::I32Or,
            ] {
                self.emit(i);
            }
        }
        self.emit(I::Select);
        self.emit(match (op, is64, signed) {
            (BinOp::Div, false, true) => I::I32DivS,
            (BinOp::Div, false, false) => I::I32DivU,
            (BinOp::Div, true, true) => I::I64DivS,
            (BinOp::Div, true, false) => I::I64DivU,
            (_, false, true) => I::I32RemS,
            (_, false, false) => I::I32RemU,
            (_, true, true) => I::I64RemS,
            (_, true, false) => I::I64RemU,
        });
        if op == BinOp::Div {
            // x / 0 == 0: select(q, 0, b != 0).
            self.zero(s);
            self.emit(I::LocalGet(tb));
            if is64 {
                self.emit(I::I64Eqz);
                self.emit(I::I32Eqz);
            }
            self.emit(I::Select);
        }
    }

    fn cast(&mut self, from: Scalar, to: Scalar) {
        use Scalar::*;
        let ins: Vec<I<'static>> = match (from, to) {
            _ if from == to => vec![],
            (I32 | U32 | Bool, I32 | U32) | (I64 | U64, I64 | U64) => vec![],
            (I32, I64 | U64) => vec![I::I64ExtendI32S],
            (U32 | Bool, I64 | U64) => vec![I::I64ExtendI32U],
            (I64 | U64, I32 | U32) => vec![I::I32WrapI64],
            (I32, F32) => vec![I::F32ConvertI32S],
            (U32 | Bool, F32) => vec![I::F32ConvertI32U],
            (I64, F32) => vec![I::F32ConvertI64S],
            (U64, F32) => vec![I::F32ConvertI64U],
            (I32, F64) => vec![I::F64ConvertI32S],
            (U32 | Bool, F64) => vec![I::F64ConvertI32U],
            (I64, F64) => vec![I::F64ConvertI64S],
            (U64, F64) => vec![I::F64ConvertI64U],
            (F32, I32) => vec![I::I32TruncSatF32S],
            (F32, U32) => vec![I::I32TruncSatF32U],
            (F32, I64) => vec![I::I64TruncSatF32S],
            (F32, U64) => vec![I::I64TruncSatF32U],
            (F64, I32) => vec![I::I32TruncSatF64S],
            (F64, U32) => vec![I::I32TruncSatF64U],
            (F64, I64) => vec![I::I64TruncSatF64S],
            (F64, U64) => vec![I::I64TruncSatF64U],
            (F32, F64) => vec![I::F64PromoteF32],
            (F64, F32) => vec![I::F32DemoteF64],
            _ => unreachable!("ill-typed cast {from} as {to}"),
        };
        for i in ins {
            self.emit(i);
        }
        if from.is_float() && to.is_float() && from != to {
            self.canon(to);
        }
    }

    fn builtin(&mut self, b: Builtin, args: &[Expr]) {
        use Builtin::*;
        let s = self.checked.scalar(&args[args.len() - 1]);
        let vt = val_type(s);
        let is64 = vt == ValType::I64;
        let f32 = vt == ValType::F32;
        match b {
            Min | Max if s.is_int() => {
                let ta = self.scratch(vt);
                let tb = self.scratch(vt);
                self.expr(&args[0]);
                self.emit(I::LocalSet(ta));
                self.expr(&args[1]);
                self.emit(I::LocalSet(tb));
                self.emit(I::LocalGet(ta));
                self.emit(I::LocalGet(tb));
                self.emit(I::LocalGet(ta));
                self.emit(I::LocalGet(tb));
                let signed = s.is_signed();
                self.emit(if b == Min {
                    int_cmp(is64, signed, I::I32LtS, I::I32LtU, I::I64LtS, I::I64LtU)
                } else {
                    int_cmp(is64, signed, I::I32GtS, I::I32GtU, I::I64GtS, I::I64GtU)
                });
                self.emit(I::Select);
            }
            Abs if s.is_int() => {
                self.expr(&args[0]);
                if s.is_signed() {
                    let t = self.scratch(vt);
                    self.emit(I::LocalSet(t));
                    let ins = if is64 {
                        [
                            I::I64Const(0),
                            I::LocalGet(t),
                            I::I64Sub,
                            I::LocalGet(t),
                            I::LocalGet(t),
                            I::I64Const(0),
                            I::I64LtS,
                            I::Select,
                        ]
                    } else {
                        [
                            I::I32Const(0),
                            I::LocalGet(t),
                            I::I32Sub,
                            I::LocalGet(t),
                            I::LocalGet(t),
                            I::I32Const(0),
                            I::I32LtS,
                            I::Select,
                        ]
                    };
                    for i in ins {
                        self.emit(i);
                    }
                }
            }
            Select => {
                // Evaluate in source order (calls in the arguments may trace).
                let c = self.scratch(ValType::I32);
                self.expr(&args[0]);
                self.emit(I::LocalSet(c));
                self.expr(&args[1]);
                self.expr(&args[2]);
                self.emit(I::LocalGet(c));
                self.emit(I::Select);
            }
            _ => {
                for a in args {
                    self.expr(a);
                }
                let (ins, canon) = match b {
                    Sqrt => (if f32 { I::F32Sqrt } else { I::F64Sqrt }, true),
                    Floor => (if f32 { I::F32Floor } else { I::F64Floor }, true),
                    Ceil => (if f32 { I::F32Ceil } else { I::F64Ceil }, true),
                    Trunc => (if f32 { I::F32Trunc } else { I::F64Trunc }, true),
                    Nearest => (if f32 { I::F32Nearest } else { I::F64Nearest }, true),
                    Abs => (if f32 { I::F32Abs } else { I::F64Abs }, false),
                    Min => (if f32 { I::F32Min } else { I::F64Min }, true),
                    Max => (if f32 { I::F32Max } else { I::F64Max }, true),
                    Copysign => (if f32 { I::F32Copysign } else { I::F64Copysign }, false),
                    Rotl => (if is64 { I::I64Rotl } else { I::I32Rotl }, false),
                    Rotr => (if is64 { I::I64Rotr } else { I::I32Rotr }, false),
                    Clz => (if is64 { I::I64Clz } else { I::I32Clz }, false),
                    Ctz => (if is64 { I::I64Ctz } else { I::I32Ctz }, false),
                    Popcnt => (if is64 { I::I64Popcnt } else { I::I32Popcnt }, false),
                    F32FromBits => (I::F32ReinterpretI32, false),
                    F32ToBits => (I::I32ReinterpretF32, false),
                    F64FromBits => (I::F64ReinterpretI64, false),
                    F64ToBits => (I::I64ReinterpretF64, false),
                    Select | Len => unreachable!("handled above"),
                };
                self.emit(ins);
                if canon {
                    self.canon(s);
                }
            }
        }
    }
}

fn int_cmp(
    is64: bool,
    signed: bool,
    a: I<'static>,
    b: I<'static>,
    c: I<'static>,
    d: I<'static>,
) -> I<'static> {
    match (is64, signed) {
        (false, true) => a,
        (false, false) => b,
        (true, true) => c,
        (true, false) => d,
    }
}

/// Lays out test inputs for [`EVAL_EXPORT`], to be written at address `base`.
///
/// Each case is a row of one 8-byte slot per parameter: a scalar in its
/// little-endian bytes (zero-padded), a slice as `(ptr: u32, len: u32)` in
/// elements; slice contents follow the rows, each 8-byte aligned.
/// The rows start at `base` itself.
///
/// # Panics
/// If a case does not match `params` (a caller bug).
pub fn encode_inputs(params: &[Type], cases: &[Vec<Arg>], base: u32) -> Vec<u8> {
    let stride = SLOT as usize * params.len();
    let mut out = vec![0u8; stride * cases.len()];
    for (c, case) in cases.iter().enumerate() {
        assert_eq!(case.len(), params.len(), "case {c} has the wrong arity");
        for (j, arg) in case.iter().enumerate() {
            let at = c * stride + j * SLOT as usize;
            match arg {
                Arg::Scalar(v) => {
                    out[at..at + 8].copy_from_slice(&v.to_bits().to_le_bytes());
                }
                Arg::Slice(d) => {
                    while !out.len().is_multiple_of(8) {
                        out.push(0);
                    }
                    let ptr = base + out.len() as u32;
                    out.extend_from_slice(&d.to_le_bytes());
                    out[at..at + 4].copy_from_slice(&ptr.to_le_bytes());
                    out[at + 4..at + 8].copy_from_slice(&(d.len() as u32).to_le_bytes());
                }
            }
        }
    }
    out
}

/// Reads the `n` per-case costs that follow `n` output slots (pass the bytes
/// starting at `out_ptr + 8 * n`).
///
/// # Panics
/// If `bytes` is shorter than `n` costs.
pub fn decode_costs(bytes: &[u8], n: usize) -> Vec<u64> {
    (0..n)
        .map(|i| u64::from_le_bytes(bytes[i * 8..i * 8 + 8].try_into().expect("8-byte cost")))
        .collect()
}

/// Reads `n` output slots written by [`EVAL_EXPORT`].
///
/// # Panics
/// If `bytes` is shorter than `n` slots.
pub fn decode_outputs(ret: Scalar, bytes: &[u8], n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| {
            let slot: [u8; 8] = bytes[i * 8..i * 8 + 8].try_into().expect("8-byte slot");
            let bits = u64::from_le_bytes(slot);
            let bits = if ret.bits() <= 32 {
                bits & 0xffff_ffff
            } else {
                bits
            };
            Value::from_bits(ret, bits)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile_text;

    #[track_caller]
    fn valid(bytes: &[u8]) {
        if let Err(e) = wasmparser::validate(bytes) {
            panic!("invalid module: {e}");
        }
    }

    #[test]
    fn every_shape_validates() {
        let src = "fn g(s: [u8], i: u32) -> u32 { return s[i] + len(s); }\n\
                   fn f(s: [u8], x: i64) -> i64 { let a = x / 3 % 7; if a > 2 { return -a; } for i in 0..10i64 { a = a + min(i, x); } return a + g(s, 2) as i64; }";
        let c = compile_text(src).unwrap();
        for probes in [
            None,
            Some(ProbeOptions { trace_capacity: 0 }),
            Some(ProbeOptions { trace_capacity: 16 }),
        ] {
            valid(&compile(&c, &CompileOptions { probes }));
            let batch = compile_batch(&[&c, &c], "f", &CompileOptions { probes }).unwrap();
            valid(&batch.bytes);
        }
    }

    #[test]
    fn batch_rejects_mismatched_signatures() {
        let a = compile_text("fn f(x: u32) -> u32 { return x; }").unwrap();
        let b = compile_text("fn f(x: u64) -> u32 { return 1; }").unwrap();
        let err = compile_batch(&[&a, &b], "f", &CompileOptions { probes: None }).unwrap_err();
        assert_eq!(
            err,
            BatchError::SignatureMismatch {
                index: 1,
                entry: "f".into()
            }
        );
        let err = compile_batch(&[&a], "g", &CompileOptions { probes: None }).unwrap_err();
        assert_eq!(
            err,
            BatchError::MissingEntry {
                index: 0,
                entry: "g".into()
            }
        );
    }

    #[test]
    fn inputs_round_trip_through_the_layout() {
        let blob = encode_inputs(
            &[Type::Scalar(Scalar::U32), Type::Slice(Elem::U8)],
            &[vec![
                Value::U32(7).into(),
                Arg::Slice(crate::value::SliceData::U8(vec![1, 2, 3].into())),
            ]],
            1000,
        );
        assert_eq!(&blob[0..4], &7u32.to_le_bytes());
        assert_eq!(u32::from_le_bytes(blob[8..12].try_into().unwrap()), 1016);
        assert_eq!(u32::from_le_bytes(blob[12..16].try_into().unwrap()), 3);
        assert_eq!(&blob[16..19], &[1, 2, 3]);
        let out = decode_outputs(Scalar::I32, &(-5i64).to_le_bytes(), 1);
        assert_eq!(out, vec![Value::I32(-5)]);
    }
}
