//! The reference interpreter: the semantic source of truth.
//!
//! Every backend is tested against it bit for bit. It walks the checked tree,
//! charges the [cost model](crate::cost) as it goes and stops with
//! [`InterpError::OutOfBudget`] when the budget runs out, so even a program
//! whose loops would run for years cannot hang the host.
//! With [`Probes`] it records the same per-node counters and value trace that
//! compiled modules record.

use crate::check::CheckedProgram;
use crate::cost;
use crate::ir::{Block, Builtin, Callee, Expr, ExprKind, FuncId, Lit, Scalar, StmtKind, Type};
use crate::value::{self, Arg, SliceData, Value};

/// Why a run did not produce a value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InterpError {
    /// The run needed more cost units than the budget allowed (the candidate's doing).
    #[error("cost budget of {budget} exhausted")]
    OutOfBudget {
        /// The budget that ran out.
        budget: u64,
    },
    /// The arguments do not match the entry's parameters (the caller's fault).
    #[error("bad arguments: {0}")]
    BadArguments(String),
}

/// The result of one run.
#[derive(Clone, Debug, PartialEq)]
pub struct RunResult {
    /// The returned value.
    pub value: Value,
    /// The cost in cost-model units.
    pub cost: u64,
}

/// Per-node counters and a bounded value trace, as compiled probes record them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Probes {
    /// Executions per node id (statements and blocks).
    pub counters: Vec<u64>,
    /// `(statement id, value bits)` for `let`, assignment and `return`, in order.
    pub trace: Vec<(u32, u64)>,
    /// Trace records attempted, including those dropped past the capacity.
    pub trace_len: u64,
    /// Most records kept.
    pub trace_capacity: usize,
}

impl Probes {
    /// Empty probes for a program, keeping at most `trace_capacity` trace records.
    pub fn new(checked: &CheckedProgram, trace_capacity: usize) -> Probes {
        Probes {
            counters: vec![0; checked.node_count()],
            trace: Vec::new(),
            trace_len: 0,
            trace_capacity,
        }
    }
}

/// The reference interpreter for one checked program.
pub struct Interpreter<'a> {
    checked: &'a CheckedProgram,
    costs: Vec<u64>,
}

enum Local<'a> {
    Scalar(Value),
    Slice(&'a SliceData),
}

/// The budget ran out; internal, so results travel in registers
/// (a `Result<Value, Halt>` is two words, a `Result<Value, InterpError>` is not).
#[derive(Clone, Copy, Debug)]
struct Halt;

enum Flow {
    Next,
    Return(Value),
}

struct Run<'p> {
    cost: u64,
    budget: u64,
    probes: Option<&'p mut Probes>,
}

impl<'a> Interpreter<'a> {
    /// Prepares the interpreter (computes the static cost table).
    pub fn new(checked: &'a CheckedProgram) -> Interpreter<'a> {
        Interpreter {
            checked,
            costs: cost::static_costs(checked),
        }
    }

    /// The static cost table (see [`cost::static_costs`]).
    pub fn costs(&self) -> &[u64] {
        &self.costs
    }

    /// Runs function `entry` on `args` within `budget` cost units.
    ///
    /// # Errors
    /// [`InterpError::OutOfBudget`] if the run costs more than `budget`;
    /// [`InterpError::BadArguments`] if `args` do not fit the signature.
    pub fn run(&self, entry: FuncId, args: &[Arg], budget: u64) -> Result<RunResult, InterpError> {
        self.run_inner(entry, args, budget, None)
    }

    /// Like [`run`](Self::run), also recording probes.
    ///
    /// # Errors
    /// As [`run`](Self::run).
    pub fn run_with_probes(
        &self,
        entry: FuncId,
        args: &[Arg],
        budget: u64,
        probes: &mut Probes,
    ) -> Result<RunResult, InterpError> {
        self.run_inner(entry, args, budget, Some(probes))
    }

    fn run_inner(
        &self,
        entry: FuncId,
        args: &[Arg],
        budget: u64,
        probes: Option<&mut Probes>,
    ) -> Result<RunResult, InterpError> {
        let func = self
            .checked
            .program()
            .funcs
            .get(entry.index())
            .ok_or_else(|| InterpError::BadArguments(format!("no function {}", entry.0)))?;
        if args.len() != func.params.len() {
            return Err(InterpError::BadArguments(format!(
                "`{}` takes {} arguments, got {}",
                func.name,
                func.params.len(),
                args.len()
            )));
        }
        let mut locals = Vec::with_capacity(self.checked.func_info(entry).locals.len());
        for (arg, p) in args.iter().zip(&func.params) {
            match (arg, p.ty) {
                (Arg::Scalar(v), Type::Scalar(s)) if v.ty() == s => locals.push(Local::Scalar(*v)),
                (Arg::Slice(d), Type::Slice(e)) if d.elem() == e => locals.push(Local::Slice(d)),
                _ => {
                    return Err(InterpError::BadArguments(format!(
                        "parameter `{}` is `{}`, got {arg:?}",
                        p.name, p.ty
                    )));
                }
            }
        }
        let mut run = Run {
            cost: 0,
            budget,
            probes,
        };
        let budget = run.budget;
        let value = self
            .call(entry, locals, &mut run)
            .map_err(|Halt| InterpError::OutOfBudget { budget })?;
        Ok(RunResult {
            value,
            cost: run.cost,
        })
    }

    fn call<'d>(
        &self,
        f: FuncId,
        mut locals: Vec<Local<'d>>,
        run: &mut Run<'_>,
    ) -> Result<Value, Halt> {
        let info = self.checked.func_info(f);
        while locals.len() < info.locals.len() {
            locals.push(Local::Scalar(Value::I32(0)));
        }
        let func = &self.checked.program().funcs[f.index()];
        match self.block(&func.body, &mut locals, run)? {
            Flow::Return(v) => Ok(v),
            Flow::Next => unreachable!("the checker ensures every function returns"),
        }
    }

    fn charge(&self, run: &mut Run<'_>, units: u64) -> Result<(), Halt> {
        run.cost = run.cost.saturating_add(units);
        if run.cost > run.budget {
            return Err(Halt);
        }
        Ok(())
    }

    fn count(run: &mut Run<'_>, id: crate::ir::NodeId) {
        if let Some(p) = run.probes.as_deref_mut() {
            p.counters[id.index()] += 1;
        }
    }

    fn trace(run: &mut Run<'_>, id: crate::ir::NodeId, v: Value) {
        if let Some(p) = run.probes.as_deref_mut() {
            if p.trace.len() < p.trace_capacity {
                p.trace.push((id.0, v.to_bits()));
            }
            p.trace_len += 1;
        }
    }

    fn block<'d>(
        &self,
        b: &Block,
        locals: &mut Vec<Local<'d>>,
        run: &mut Run<'_>,
    ) -> Result<Flow, Halt> {
        Self::count(run, b.id);
        for s in &b.stmts {
            Self::count(run, s.id);
            self.charge(run, self.costs[s.id.index()])?;
            match &s.kind {
                StmtKind::Let { init, .. } => {
                    let v = self.expr(init, locals, run)?;
                    Self::trace(run, s.id, v);
                    locals[self.checked.local(s.id).index()] = Local::Scalar(v);
                }
                StmtKind::Assign { value, .. } => {
                    let v = self.expr(value, locals, run)?;
                    Self::trace(run, s.id, v);
                    locals[self.checked.local(s.id).index()] = Local::Scalar(v);
                }
                StmtKind::Return(e) => {
                    let v = self.expr(e, locals, run)?;
                    Self::trace(run, s.id, v);
                    return Ok(Flow::Return(v));
                }
                StmtKind::If {
                    cond,
                    then_block,
                    else_block,
                } => {
                    let c = self.expr(cond, locals, run)?.as_bool();
                    let flow = if c {
                        self.block(then_block, locals, run)?
                    } else if let Some(b) = else_block {
                        self.block(b, locals, run)?
                    } else {
                        Flow::Next
                    };
                    if let Flow::Return(v) = flow {
                        return Ok(Flow::Return(v));
                    }
                }
                StmtKind::For {
                    start, end, body, ..
                } => {
                    let mut i = self.expr(start, locals, run)?;
                    let end = self.expr(end, locals, run)?;
                    let slot = self.checked.local(s.id).index();
                    let one = value::cast(Value::I32(1), i.ty());
                    while value::binary(crate::ir::BinOp::Lt, i, end).as_bool() {
                        self.charge(run, cost::ITERATION)?;
                        locals[slot] = Local::Scalar(i);
                        if let Flow::Return(v) = self.block(body, locals, run)? {
                            return Ok(Flow::Return(v));
                        }
                        i = value::binary(crate::ir::BinOp::Add, i, one);
                    }
                }
            }
        }
        Ok(Flow::Next)
    }

    fn expr<'d>(
        &self,
        e: &Expr,
        locals: &mut Vec<Local<'d>>,
        run: &mut Run<'_>,
    ) -> Result<Value, Halt> {
        Ok(match &e.kind {
            ExprKind::Lit(lit) => lit_value(*lit, self.checked.scalar(e)),
            ExprKind::Var(_) => match &locals[self.checked.local(e.id).index()] {
                Local::Scalar(v) => *v,
                Local::Slice(_) => unreachable!("slices are not scalar expressions"),
            },
            ExprKind::Unary(op, a) => value::unary(*op, self.expr(a, locals, run)?),
            ExprKind::Binary(op, a, b) => {
                let x = self.expr(a, locals, run)?;
                let y = self.expr(b, locals, run)?;
                value::binary(*op, x, y)
            }
            ExprKind::Cast(a, to) => value::cast(self.expr(a, locals, run)?, *to),
            ExprKind::Index(base, idx) => {
                let i = match self.expr(idx, locals, run)? {
                    Value::U32(i) => i,
                    other => unreachable!("index is u32, got {other:?}"),
                };
                match &locals[self.checked.local(base.id).index()] {
                    Local::Slice(d) => d.index(i),
                    Local::Scalar(_) => unreachable!("indexing a scalar"),
                }
            }
            ExprKind::Call(Callee::Builtin(Builtin::Len), args) => {
                match &locals[self.checked.local(args[0].id).index()] {
                    Local::Slice(d) => Value::U32(d.len() as u32),
                    Local::Scalar(_) => unreachable!("len of a scalar"),
                }
            }
            ExprKind::Call(Callee::Builtin(b), args) => {
                let mut vals = [Value::I32(0); 3];
                for (slot, a) in vals.iter_mut().zip(args) {
                    *slot = self.expr(a, locals, run)?;
                }
                value::builtin(*b, &vals[..args.len()])
            }
            ExprKind::Call(Callee::Func(_), args) => {
                let callee = self.checked.node(e.id).callee.expect("resolved call");
                let func = &self.checked.program().funcs[callee.index()];
                let mut callee_locals = Vec::with_capacity(args.len());
                for (a, p) in args.iter().zip(&func.params) {
                    match p.ty {
                        Type::Scalar(_) => {
                            callee_locals.push(Local::Scalar(self.expr(a, locals, run)?))
                        }
                        Type::Slice(_) => match &locals[self.checked.local(a.id).index()] {
                            Local::Slice(d) => callee_locals.push(Local::Slice(d)),
                            Local::Scalar(_) => unreachable!("slice argument"),
                        },
                    }
                }
                self.call(callee, callee_locals, run)?
            }
        })
    }
}

/// The value of a literal at its checked type.
pub fn lit_value(lit: Lit, ty: Scalar) -> Value {
    match lit {
        Lit::Bool(b) => Value::Bool(b),
        Lit::Int { value, .. } => Value::from_bits(ty, value as u64),
        Lit::Float { f64, f32, .. } => match ty {
            Scalar::F32 => Value::F32(f32),
            _ => Value::F64(f64),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::check;
    use crate::parser::parse;

    #[track_caller]
    fn run(src: &str, args: &[Arg]) -> Result<RunResult, InterpError> {
        let checked = check(&parse(src).unwrap()).unwrap();
        let interp = Interpreter::new(&checked);
        let (f, _) = checked
            .program()
            .func("f")
            .map(|(i, f)| (i, f.clone()))
            .unwrap();
        interp.run(f, args, 1_000_000)
    }

    #[test]
    fn koza_quartic() {
        let r = run(
            "fn f(x: f64) -> f64 { return x * x * x * x + x * x * x + x * x + x; }",
            &[Value::F64(2.0).into()],
        )
        .unwrap();
        assert_eq!(r.value, Value::F64(30.0));
        // 9 float ops: 6 mul + 3 add, 4 units each.
        assert_eq!(r.cost, 36);
    }

    #[test]
    fn loops_over_slices_with_total_indexing() {
        let src = "fn f(s: [u8]) -> u32 { let acc = 0u32; for i in 0..len(s) + 2 { acc = acc * 31 + s[i]; } return acc; }";
        let data = SliceData::U8(vec![1u8, 2, 3].into());
        let r = run(src, &[Arg::Slice(data)]).unwrap();
        // Indices 3 and 4 wrap to 0 and 1.
        let expect = [1u32, 2, 3, 1, 2]
            .iter()
            .fold(0u32, |a, &b| a.wrapping_mul(31).wrapping_add(b));
        assert_eq!(r.value, Value::U32(expect));
        let empty = SliceData::U8(Vec::new().into());
        assert_eq!(run(src, &[Arg::Slice(empty)]).unwrap().value, Value::U32(0));
    }

    #[test]
    fn runaway_loops_run_out_of_budget() {
        let src = "fn f(n: u32) -> u32 { let a = 0u32; for i in 0..n { for j in 0..n { a = a + 1; } } return a; }";
        let err = run(src, &[Value::U32(u32::MAX).into()]).unwrap_err();
        assert_eq!(err, InterpError::OutOfBudget { budget: 1_000_000 });
    }

    #[test]
    fn calls_and_counters() {
        let src = "fn sq(x: i64) -> i64 { return x * x; }\nfn f(x: i64) -> i64 { if x < 0 { return sq(x); } return x; }";
        let checked = check(&parse(src).unwrap()).unwrap();
        let interp = Interpreter::new(&checked);
        let (f, _) = checked.func("f").unwrap();
        let mut probes = Probes::new(&checked, 8);
        let r = interp
            .run_with_probes(f, &[Value::I64(-3).into()], 100, &mut probes)
            .unwrap();
        assert_eq!(r.value, Value::I64(9));
        assert_eq!(
            cost::cost_from_counters(interp.costs(), &probes.counters),
            r.cost
        );
        assert_eq!(probes.trace.len(), 2);
    }
}
