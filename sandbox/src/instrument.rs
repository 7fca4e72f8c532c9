//! Coverage instrumentation of any module, with walrus.
//!
//! [`instrument`] rewrites a module so that every structured block entry
//! (function entry, `block`, `loop` iteration, `then` arm, `else` arm, even an
//! empty one), every fall-through of a `br_if` and every arm of a `br_table`
//! (each table entry, then the default) increments a 64-bit counter in a new
//! memory exported as [`COVERAGE_MEMORY`]. Each counter is a [`Site`]
//! mapped back to the function index (imports included), its name from the
//! name section, and the byte offset in the original module of the instruction
//! that opened the block. After a run, [`Instance::read_coverage`] turns the
//! counters into a [`Coverage`]: percentage of sites reached, function entry
//! counts, and the branch arms never taken.
//!
//! With a trace capacity, each function also records its numeric arguments on
//! entry and its numeric results on every return path (`return`, a branch to
//! the body's label, falling off the end): the body is wrapped in a block that
//! every such path now leaves, and the results are traced after it. A tail
//! call (`return_call*`) returns the callee's results, which the callee traces
//! itself. Records are [`TraceRecord`]s; the layout is under [`Coverage`].
//!
//! The counters live in their own memory so the guest's memory layout is
//! untouched (it needs the multi-memory proposal, which the sandbox enables).
//! walrus 0.28 uses an older wasmparser and wasm-encoder than wasmtime, so
//! modules cross between them only as bytes.
//!
//! [`Instance::read_coverage`]: crate::Instance::read_coverage

use walrus::ir::{
    BinaryOp, Instr, InstrLocId, InstrSeqId, LoadKind, MemArg, StoreKind, Value as WValue,
};

use crate::error::{LoadError, Result};

/// Name of the exported memory holding the counters.
pub const COVERAGE_MEMORY: &str = "crucible_coverage";

/// What to instrument.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstrumentOptions {
    /// Count block entries and `br_if` fall-throughs; if false, only function entries.
    pub branches: bool,
    /// Record each function's numeric arguments on entry and numeric results
    /// on return, in a bounded trace of this many records (0 turns tracing
    /// off). Records past the capacity are counted in [`Coverage::trace_dropped`], not stored.
    pub trace_capacity: u32,
}

/// Whether a trace record holds an argument or a result.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TraceKind {
    /// A parameter's value on function entry.
    Argument,
    /// A result's value on return.
    Result,
}

/// One traced argument or result.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct TraceRecord {
    /// Function index in the original module.
    pub func_index: u32,
    /// Argument or result.
    pub kind: TraceKind,
    /// Which parameter or which result.
    pub index: u32,
    /// The value's raw bits, zero-extended to 64 (floats as their bits).
    pub value: u64,
}

/// Set in a record's second word for a result (clear for an argument); the
/// other bits are the parameter or result index.
const RESULT_FLAG: u32 = 1 << 31;

/// What kind of point a counter sits at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SiteKind {
    /// Entry of a function (its count is the number of calls).
    FunctionEntry,
    /// Entry of a `block`.
    Block,
    /// Each iteration of a `loop`.
    Loop,
    /// The `then` arm of an `if`.
    Then,
    /// The `else` arm of an `if` (present even when the source has no `else`).
    Else,
    /// A `br_if` that did not branch.
    BrIfFallthrough,
    /// Entry `n` (from 0) of a `br_table` was taken.
    BrTableArm(u32),
    /// The default target of a `br_table` was taken (index out of the table).
    BrTableDefault,
}

impl SiteKind {
    /// Whether this site is one side of a two-way branch.
    pub fn is_branch(self) -> bool {
        matches!(
            self,
            SiteKind::Then
                | SiteKind::Else
                | SiteKind::BrIfFallthrough
                | SiteKind::BrTableArm(_)
                | SiteKind::BrTableDefault
        )
    }
}

/// One counter.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Site {
    /// Function index in the original module (imports count first).
    pub func_index: u32,
    /// The function's name from the name section, if any.
    pub func_name: Option<String>,
    /// Byte offset in the original module of the instruction that opens the
    /// block (for a function entry: of its first instruction; for a `br_if`
    /// fall-through or a `br_table` arm: of that instruction; 0 if unknown).
    pub code_offset: u32,
    /// What the counter counts.
    pub kind: SiteKind,
}

/// An instrumented module and the map of its counters.
#[derive(Clone, Debug)]
pub struct Instrumented {
    /// The instrumented module.
    pub bytes: Vec<u8>,
    /// Counter `i` counts executions of `sites[i]`.
    pub sites: Vec<Site>,
    /// Capacity of the argument and result trace.
    pub trace_capacity: u32,
}

/// Counters read back after a run.
///
/// Layout of the coverage memory: a little-endian `u64` count of trace
/// records attempted, then `trace_capacity + 1` records of 16 bytes
/// (`func_index: u32`, `index: u32`, `value: u64`, where `index` is the
/// parameter or result index, with bit 31 set for a result and clear for an
/// argument; the last record is a scratch slot that absorbs writes past the
/// capacity, so recording needs no branch), then one `u64` counter per site.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Coverage {
    /// Count per site, in the order of [`Instrumented::sites`].
    pub counts: Vec<u64>,
    /// Sites reached at least once.
    pub covered: usize,
    /// All sites.
    pub total: usize,
    /// `100 * covered / total` (100 for a module with no sites).
    pub percent: f64,
    /// Branch arms (`then`, `else`, `br_if` fall-through, `br_table` arms)
    /// never taken.
    pub never_taken: Vec<Site>,
    /// Traced arguments and results in execution order, at most the trace
    /// capacity.
    pub trace: Vec<TraceRecord>,
    /// Records attempted past the capacity.
    pub trace_dropped: u64,
}

impl Instrumented {
    /// Interprets the coverage memory's bytes.
    pub(crate) fn coverage(&self, memory: &[u8]) -> Result<Coverage> {
        let counters_at = counters_offset(self.trace_capacity) as usize;
        let need = counters_at + self.sites.len() * 8;
        if memory.len() < need {
            return Err(crate::probes::malformed(
                "coverage memory smaller than its counters",
            ));
        }
        let bytes = &memory[counters_at..need];
        let word = |at: usize| u64::from_le_bytes(memory[at..at + 8].try_into().unwrap_or([0; 8]));
        let half = |at: usize| u32::from_le_bytes(memory[at..at + 4].try_into().unwrap_or([0; 4]));
        let trace_at = TRACE_RECORDS_OFFSET as usize;
        let attempted = word(TRACE_LEN_OFFSET as usize);
        let kept = attempted.min(u64::from(self.trace_capacity)) as usize;
        let trace = (0..kept)
            .map(|i| {
                let at = trace_at + 16 * i;
                let slot = half(at + 4);
                TraceRecord {
                    func_index: half(at),
                    kind: if slot & RESULT_FLAG == 0 {
                        TraceKind::Argument
                    } else {
                        TraceKind::Result
                    },
                    index: slot & !RESULT_FLAG,
                    value: word(at + 8),
                }
            })
            .collect();
        let counts: Vec<u64> = bytes
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
            .collect();
        let covered = counts.iter().filter(|c| **c > 0).count();
        let total = counts.len();
        let never_taken = self
            .sites
            .iter()
            .zip(&counts)
            .filter(|(site, count)| site.kind.is_branch() && **count == 0)
            .map(|(site, _)| site.clone())
            .collect();
        Ok(Coverage {
            counts,
            covered,
            total,
            percent: if total == 0 {
                100.0
            } else {
                100.0 * covered as f64 / total as f64
            },
            never_taken,
            trace,
            trace_dropped: attempted - kept as u64,
        })
    }
}

/// Offset of the trace's attempted-records count in the coverage memory.
const TRACE_LEN_OFFSET: u64 = 0;
/// Offset of the first trace record.
const TRACE_RECORDS_OFFSET: u64 = 8;

/// Offset of the first counter, after the trace and its scratch record.
fn counters_offset(trace_capacity: u32) -> u64 {
    TRACE_RECORDS_OFFSET + (u64::from(trace_capacity) + 1) * 16
}

fn loc(id: InstrLocId) -> u32 {
    if id.is_default() { 0 } else { id.data() }
}

/// Adds coverage counters (and, if asked, the argument and result trace) to
/// `bytes`.
///
/// The bytes are validated first with the sandbox's own rules (features,
/// ceilings; WASI imports allowed), so walrus only ever sees modules the
/// sandbox would run.
///
/// # Errors
///
/// Any [`LoadError`] of validation; [`LoadError::Invalid`] if walrus cannot
/// parse the module; [`LoadError::Compile`] if walrus fails while rewriting it
/// (a walrus bug, caught so that it cannot take the host down).
pub fn instrument(bytes: &[u8], options: &InstrumentOptions) -> Result<Instrumented, LoadError> {
    crate::validate::validate(bytes, true)?;
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| rewrite(bytes, options)))
        .unwrap_or_else(|_| {
            Err(LoadError::Compile {
                message: "instrumentation failed inside walrus".into(),
            })
        })
}

fn rewrite(bytes: &[u8], options: &InstrumentOptions) -> Result<Instrumented, LoadError> {
    let mut module = walrus::Module::from_buffer(bytes).map_err(|e| LoadError::Invalid {
        message: format!("{e:#}"),
        offset: 0,
        func: None,
    })?;
    // Placeholder memory; its size is fixed once the sites are counted.
    let memory = module.memories.add_local(false, false, 1, None, None);
    module.exports.add(COVERAGE_MEMORY, memory);
    let mut sites = Vec::new();
    let base = counters_offset(options.trace_capacity);
    let scratch = module.locals.add(walrus::ValType::I32);
    let slot = module.locals.add(walrus::ValType::I32);
    let func_ids: Vec<_> = module.funcs.iter_local().map(|(id, _)| id).collect();
    for func_id in func_ids {
        let func_index = func_id.index() as u32;
        let args: Vec<(walrus::LocalId, walrus::ValType)> = match &module.funcs.get(func_id).kind {
            walrus::FunctionKind::Local(local) => local
                .args
                .iter()
                .map(|id| (*id, module.locals.get(*id).ty()))
                .collect(),
            _ => Vec::new(),
        };
        // Result tracing: one local per result, and the wrapper block's type.
        let results: Vec<walrus::ValType> = if options.trace_capacity > 0 {
            let ty = module.funcs.get(func_id).ty();
            module.types.get(ty).results().to_vec()
        } else {
            Vec::new()
        };
        let result_locals: Vec<(walrus::LocalId, walrus::ValType)> = results
            .iter()
            .map(|ty| (module.locals.add(*ty), *ty))
            .collect();
        let wrapper_ty = walrus::ir::InstrSeqType::new(&mut module.types, &[], &results);
        let func = module.funcs.get_mut(func_id);
        let func_name = func.name.clone();
        let walrus::FunctionKind::Local(local) = &mut func.kind else {
            continue;
        };

        // Discover the blocks: (sequence, kind, offset of the opening instruction).
        let entry = local.entry_block();
        let first = local
            .block(entry)
            .instrs
            .first()
            .map_or(0, |(_, l)| loc(*l));
        let mut blocks: Vec<(InstrSeqId, SiteKind, u32)> =
            vec![(entry, SiteKind::FunctionEntry, first)];
        let mut next = 0;
        while next < blocks.len() {
            let (seq, _, _) = blocks[next];
            next += 1;
            if !options.branches {
                break;
            }
            for (instr, at) in &local.block(seq).instrs {
                let at = loc(*at);
                match instr {
                    Instr::Block(b) => blocks.push((b.seq, SiteKind::Block, at)),
                    Instr::Loop(l) => blocks.push((l.seq, SiteKind::Loop, at)),
                    Instr::IfElse(i) => {
                        blocks.push((i.consequent, SiteKind::Then, at));
                        blocks.push((i.alternative, SiteKind::Else, at));
                    }
                    _ => {}
                }
            }
        }
        for (seq, kind, offset) in blocks {
            let counter = sites.len();
            sites.push(Site {
                func_index,
                func_name: func_name.clone(),
                code_offset: offset,
                kind,
            });
            let instrs = &mut local.block_mut(seq).instrs;
            let mut rewritten = Vec::with_capacity(instrs.len() + 6);
            rewritten.extend(increment(memory, base, counter));
            if kind == SiteKind::FunctionEntry && options.trace_capacity > 0 {
                for (param_index, (local, ty)) in args.iter().enumerate() {
                    rewritten.extend(trace_value(
                        memory,
                        options.trace_capacity,
                        scratch,
                        func_index,
                        param_index as u32,
                        *local,
                        *ty,
                    ));
                }
            }
            for (instr, at) in instrs.drain(..) {
                let is_br_if = matches!(instr, Instr::BrIf(_));
                if let (Instr::BrTable(table), true) = (&instr, options.branches) {
                    let arms = table.blocks.len() as u32;
                    let first = sites.len();
                    for arm in 0..=arms {
                        sites.push(Site {
                            func_index,
                            func_name: func_name.clone(),
                            code_offset: loc(at),
                            kind: if arm < arms {
                                SiteKind::BrTableArm(arm)
                            } else {
                                SiteKind::BrTableDefault
                            },
                        });
                    }
                    rewritten.extend(count_arm(
                        memory,
                        base + first as u64 * 8,
                        arms,
                        scratch,
                        slot,
                    ));
                }
                rewritten.push((instr, at));
                if is_br_if && options.branches {
                    let counter = sites.len();
                    sites.push(Site {
                        func_index,
                        func_name: func_name.clone(),
                        code_offset: loc(at),
                        kind: SiteKind::BrIfFallthrough,
                    });
                    rewritten.extend(increment(memory, base, counter));
                }
            }
            *instrs = rewritten;
        }
        if !results.is_empty() {
            trace_results(
                local,
                wrapper_ty,
                &result_locals,
                memory,
                options.trace_capacity,
                scratch,
                func_index,
            );
        }
    }
    let pages = (base + sites.len() as u64 * 8).div_ceil(64 << 10).max(1);
    module.memories.get_mut(memory).initial = pages;
    Ok(Instrumented {
        bytes: module.emit_wasm(),
        sites,
        trace_capacity: options.trace_capacity,
    })
}

fn mem_arg(offset: u64, align: u32) -> MemArg {
    MemArg { align, offset }
}

/// Routes every return path of a function through one point that traces its
/// results: the body moves into a block of the function's result type,
/// `return` becomes a branch to that block, and branches to the body's label
/// branch to it instead (both leave the block with the top results, as they
/// left the function); after the block, the results are saved to locals,
/// traced, and pushed back.
fn trace_results(
    local: &mut walrus::LocalFunction,
    wrapper_ty: walrus::ir::InstrSeqType,
    result_locals: &[(walrus::LocalId, walrus::ValType)],
    memory: walrus::MemoryId,
    capacity: u32,
    scratch: walrus::LocalId,
    func_index: u32,
) {
    use walrus::ir::{Block, Br, LocalGet, LocalSet};
    let entry = local.entry_block();
    let body: Vec<_> = local.block_mut(entry).instrs.drain(..).collect();
    let wrapper = local.builder_mut().dangling_instr_seq(wrapper_ty).id();
    local.block_mut(wrapper).instrs = body;
    let mut pending = vec![wrapper];
    while let Some(seq) = pending.pop() {
        for (instr, _) in &mut local.block_mut(seq).instrs {
            match instr {
                Instr::Block(b) => pending.push(b.seq),
                Instr::Loop(l) => pending.push(l.seq),
                Instr::IfElse(i) => pending.extend([i.consequent, i.alternative]),
                Instr::Return(_) => *instr = Instr::Br(Br { block: wrapper }),
                Instr::Br(b) if b.block == entry => b.block = wrapper,
                Instr::BrIf(b) if b.block == entry => b.block = wrapper,
                Instr::BrTable(t) => {
                    for target in t.blocks.iter_mut().chain([&mut t.default]) {
                        if *target == entry {
                            *target = wrapper;
                        }
                    }
                }
                _ => {}
            }
        }
    }
    let mut tail = vec![Instr::Block(Block { seq: wrapper })];
    tail.extend(
        result_locals
            .iter()
            .rev()
            .map(|(local, _)| Instr::LocalSet(LocalSet { local: *local })),
    );
    let mut tail: Vec<_> = tail
        .into_iter()
        .map(|i| (i, InstrLocId::default()))
        .collect();
    for (index, (local, ty)) in result_locals.iter().enumerate() {
        tail.extend(trace_value(
            memory,
            capacity,
            scratch,
            func_index,
            RESULT_FLAG | index as u32,
            *local,
            *ty,
        ));
    }
    tail.extend(result_locals.iter().map(|(local, _)| {
        (
            Instr::LocalGet(LocalGet { local: *local }),
            InstrLocId::default(),
        )
    }));
    local.block_mut(entry).instrs = tail;
}

/// Counts the arm a `br_table` is about to take, stack-neutral (the index
/// stays on the stack): counter `first + min(index, arms)`, the last being
/// the default.
///
/// ```text
/// idx = pop; slot = 8 * (idx <u arms ? idx : arms)
/// counters[slot] += 1; push idx
/// ```
fn count_arm(
    memory: walrus::MemoryId,
    first_at: u64,
    arms: u32,
    idx: walrus::LocalId,
    slot: walrus::LocalId,
) -> Vec<(Instr, InstrLocId)> {
    use walrus::ir::{Binop, Const, Load, LocalGet, LocalSet, Select, Store};
    let arms = Instr::Const(Const {
        value: WValue::I32(arms as i32),
    });
    let get = |local| Instr::LocalGet(LocalGet { local });
    let arg = mem_arg(first_at, 8);
    [
        Instr::LocalSet(LocalSet { local: idx }),
        get(idx),
        arms.clone(),
        get(idx),
        arms,
        Instr::Binop(Binop {
            op: BinaryOp::I32LtU,
        }),
        Instr::Select(Select { ty: None }),
        Instr::Const(Const {
            value: WValue::I32(3),
        }),
        Instr::Binop(Binop {
            op: BinaryOp::I32Shl,
        }),
        Instr::LocalSet(LocalSet { local: slot }),
        get(slot),
        get(slot),
        Instr::Load(Load {
            memory,
            kind: LoadKind::I64 { atomic: false },
            arg,
        }),
        Instr::Const(Const {
            value: WValue::I64(1),
        }),
        Instr::Binop(Binop {
            op: BinaryOp::I64Add,
        }),
        Instr::Store(Store {
            memory,
            kind: StoreKind::I64 { atomic: false },
            arg,
        }),
        get(idx),
    ]
    .into_iter()
    .map(|i| (i, InstrLocId::default()))
    .collect()
}

/// Appends `(func_index, slot, bits of local)` to the trace, stack-neutral:
///
/// ```text
/// slot = min(trace_len, capacity)            ;; the scratch slot past the end
/// records[slot] = (func, param, bits)
/// trace_len += 1
/// ```
fn trace_value(
    memory: walrus::MemoryId,
    capacity: u32,
    scratch: walrus::LocalId,
    func_index: u32,
    slot: u32,
    local: walrus::LocalId,
    ty: walrus::ValType,
) -> Vec<(Instr, InstrLocId)> {
    use walrus::ir::{Binop, Const, Load, LocalGet, LocalSet, Select, Store, UnaryOp, Unop};
    let to_bits: &[UnaryOp] = match ty {
        walrus::ValType::I32 => &[UnaryOp::I64ExtendUI32],
        walrus::ValType::I64 => &[],
        walrus::ValType::F32 => &[UnaryOp::I32ReinterpretF32, UnaryOp::I64ExtendUI32],
        walrus::ValType::F64 => &[UnaryOp::I64ReinterpretF64],
        _ => return Vec::new(),
    };
    let i32c = |v: i32| {
        Instr::Const(Const {
            value: WValue::I32(v),
        })
    };
    let i64c = |v: i64| {
        Instr::Const(Const {
            value: WValue::I64(v),
        })
    };
    let load_len = || {
        Instr::Load(Load {
            memory,
            kind: LoadKind::I64 { atomic: false },
            arg: mem_arg(TRACE_LEN_OFFSET, 8),
        })
    };
    let get = |local| Instr::LocalGet(LocalGet { local });
    let mut out = vec![
        i32c(0),
        load_len(),
        i64c(i64::from(capacity)),
        i32c(0),
        load_len(),
        i64c(i64::from(capacity)),
        Instr::Binop(Binop {
            op: BinaryOp::I64LtU,
        }),
        Instr::Select(Select { ty: None }),
        Instr::Unop(Unop {
            op: UnaryOp::I32WrapI64,
        }),
        i32c(16),
        Instr::Binop(Binop {
            op: BinaryOp::I32Mul,
        }),
        Instr::LocalSet(LocalSet { local: scratch }),
    ];
    // `select` picked len when len < capacity, else capacity (the scratch slot).
    out.extend([
        get(scratch),
        i32c(func_index as i32),
        Instr::Store(Store {
            memory,
            kind: StoreKind::I32 { atomic: false },
            arg: mem_arg(TRACE_RECORDS_OFFSET, 4),
        }),
        get(scratch),
        i32c(slot as i32),
        Instr::Store(Store {
            memory,
            kind: StoreKind::I32 { atomic: false },
            arg: mem_arg(TRACE_RECORDS_OFFSET + 4, 4),
        }),
        get(scratch),
        get(local),
    ]);
    out.extend(to_bits.iter().map(|op| Instr::Unop(Unop { op: *op })));
    out.extend([
        Instr::Store(Store {
            memory,
            kind: StoreKind::I64 { atomic: false },
            arg: mem_arg(TRACE_RECORDS_OFFSET + 8, 8),
        }),
        i32c(0),
        i32c(0),
        load_len(),
        i64c(1),
        Instr::Binop(Binop {
            op: BinaryOp::I64Add,
        }),
        Instr::Store(Store {
            memory,
            kind: StoreKind::I64 { atomic: false },
            arg: mem_arg(TRACE_LEN_OFFSET, 8),
        }),
    ]);
    out.into_iter()
        .map(|i| (i, InstrLocId::default()))
        .collect()
}

/// `counter += 1` in the coverage memory, stack-neutral.
fn increment(memory: walrus::MemoryId, base: u64, counter: usize) -> Vec<(Instr, InstrLocId)> {
    let arg = MemArg {
        align: 8,
        offset: base + counter as u64 * 8,
    };
    let zero = || {
        Instr::Const(walrus::ir::Const {
            value: WValue::I32(0),
        })
    };
    [
        zero(),
        zero(),
        Instr::Load(walrus::ir::Load {
            memory,
            kind: LoadKind::I64 { atomic: false },
            arg,
        }),
        Instr::Const(walrus::ir::Const {
            value: WValue::I64(1),
        }),
        Instr::Binop(walrus::ir::Binop {
            op: BinaryOp::I64Add,
        }),
        Instr::Store(walrus::ir::Store {
            memory,
            kind: StoreKind::I64 { atomic: false },
            arg,
        }),
    ]
    .into_iter()
    .map(|i| (i, InstrLocId::default()))
    .collect()
}
