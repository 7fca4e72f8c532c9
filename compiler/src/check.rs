//! The type checker: the only way to make a [`CheckedProgram`].
//!
//! Checking is bidirectional: an unsuffixed literal takes the type its context
//! expects (`key * 0x9E37` with `key: u64` makes the literal a `u64`), else
//! `i32` for integers and `f64` for floats.
//! The checker reports every error it finds (up to
//! [`limits::MAX_DIAGNOSTICS`]), and suppresses errors that only follow from an
//! earlier one.

use std::collections::HashMap;

use crate::diag::{Diagnostic, Diagnostics};
use crate::ir::{
    BinOp, Block, Builtin, Callee, Expr, ExprKind, FuncId, Function, Lit, LocalId, NodeId, Program,
    Scalar, Span, Stmt, StmtKind, Type, UnOp,
};
use crate::limits;

/// A program that passed the checker, with what the checker learnt about it.
///
/// Every backend takes `&CheckedProgram`: a backend failing on one is a bug in
/// Crucible, not in the candidate.
#[derive(Clone, Debug)]
pub struct CheckedProgram {
    program: Program,
    nodes: Vec<NodeInfo>,
    funcs: Vec<FuncInfo>,
}

/// What the checker records per node.
#[derive(Clone, Copy, Debug, Default)]
pub struct NodeInfo {
    /// The type of an expression.
    pub ty: Option<Type>,
    /// The local a `Var`, `Let`, `Assign` or `For` refers to.
    pub local: Option<LocalId>,
    /// The function a call of a program function calls.
    pub callee: Option<FuncId>,
}

/// What the checker records per function.
#[derive(Clone, Debug)]
pub struct FuncInfo {
    /// Types of all locals: parameters first, then `let`s and loop variables in order.
    pub locals: Vec<Type>,
}

impl CheckedProgram {
    /// The program.
    pub fn program(&self) -> &Program {
        &self.program
    }

    /// Gives the program back.
    pub fn into_program(self) -> Program {
        self.program
    }

    /// What the checker recorded about a node.
    pub fn node(&self, id: NodeId) -> &NodeInfo {
        &self.nodes[id.index()]
    }

    /// The type of an expression.
    pub fn ty(&self, e: &Expr) -> Type {
        self.nodes[e.id.index()]
            .ty
            .expect("checked expressions have types")
    }

    /// The scalar type of a scalar expression.
    pub fn scalar(&self, e: &Expr) -> Scalar {
        self.ty(e).as_scalar().expect("scalar expression")
    }

    /// The local a node refers to.
    pub fn local(&self, id: NodeId) -> LocalId {
        self.nodes[id.index()].local.expect("resolved local")
    }

    /// What the checker recorded about a function.
    pub fn func_info(&self, f: FuncId) -> &FuncInfo {
        &self.funcs[f.index()]
    }

    /// The number of node ids (one more than the largest).
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Looks a function up by name.
    pub fn func(&self, name: &str) -> Option<(FuncId, &Function)> {
        self.program.func(name)
    }
}

/// Type-checks a program.
///
/// # Errors
/// Every type error found, each with its span and, for mismatches, the
/// expected and found types.
pub fn check(program: &Program) -> Result<CheckedProgram, Diagnostics> {
    let mut program = program.clone();
    let n = program.renumber() as usize;
    let mut cx = Checker {
        nodes: vec![NodeInfo::default(); n],
        diags: Vec::new(),
        sigs: HashMap::new(),
        scopes: Vec::new(),
        locals: Vec::new(),
        immutable: Vec::new(),
        ret: Scalar::I32,
        calls: vec![Vec::new(); program.funcs.len()],
        current: 0,
    };
    if n > limits::MAX_NODES {
        return Err(Diagnostics(vec![Diagnostic::new(
            Span::NONE,
            format!(
                "program has {n} nodes, more than the limit of {}",
                limits::MAX_NODES
            ),
        )]));
    }
    if program.funcs.is_empty() {
        return Err(Diagnostics(vec![Diagnostic::new(
            Span::NONE,
            "the program has no functions",
        )]));
    }
    if program.funcs.len() > limits::MAX_FUNCS {
        return Err(Diagnostics(vec![Diagnostic::new(
            program.funcs[limits::MAX_FUNCS].span,
            format!("more than the limit of {} functions", limits::MAX_FUNCS),
        )]));
    }
    for (i, f) in program.funcs.iter().enumerate() {
        if Builtin::from_name(&f.name).is_some()
            || f.name == "memory"
            || f.name.starts_with("crucible_")
            || Scalar::from_name(&f.name).is_some()
        {
            cx.error(Diagnostic::new(
                f.span,
                format!("`{}` is a reserved name", f.name),
            ));
        }
        if cx.sigs.insert(f.name.clone(), FuncId(i as u32)).is_some() {
            cx.error(Diagnostic::new(
                f.span,
                format!("function `{}` is defined more than once", f.name),
            ));
        }
        if f.params.len() > limits::MAX_PARAMS {
            cx.error(Diagnostic::new(
                f.span,
                format!("more than the limit of {} parameters", limits::MAX_PARAMS),
            ));
        }
    }
    let mut funcs = Vec::new();
    for (i, f) in program.funcs.iter().enumerate() {
        cx.current = i;
        funcs.push(cx.function(&program, f));
    }
    cx.check_calls(&program);
    if !cx.diags.is_empty() {
        cx.diags.truncate(limits::MAX_DIAGNOSTICS);
        return Err(Diagnostics(cx.diags));
    }
    Ok(CheckedProgram {
        program,
        nodes: cx.nodes,
        funcs,
    })
}

struct Checker {
    nodes: Vec<NodeInfo>,
    diags: Vec<Diagnostic>,
    sigs: HashMap<String, FuncId>,
    scopes: Vec<Vec<(String, LocalId)>>,
    locals: Vec<Type>,
    immutable: Vec<bool>,
    ret: Scalar,
    /// Per function: (callee, call span).
    calls: Vec<Vec<(FuncId, Span)>>,
    current: usize,
}

fn mismatch(
    span: Span,
    expected: impl std::fmt::Display,
    found: impl std::fmt::Display,
) -> Diagnostic {
    Diagnostic::new(span, "mismatched types")
        .with_note(format!("expected `{expected}`, found `{found}`"))
}

impl Checker {
    fn error(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    fn lookup(&self, name: &str) -> Option<LocalId> {
        self.scopes
            .iter()
            .rev()
            .flat_map(|s| s.iter().rev())
            .find(|(n, _)| n == name)
            .map(|(_, id)| *id)
    }

    fn declare(&mut self, name: &str, ty: Type, immutable: bool, span: Span) -> LocalId {
        if self.lookup(name).is_some() {
            self.error(
                Diagnostic::new(span, format!("`{name}` is already defined"))
                    .with_note("shadowing is not allowed: pick another name"),
            );
        }
        let id = LocalId(self.locals.len() as u32);
        self.locals.push(ty);
        self.immutable.push(immutable);
        self.scopes
            .last_mut()
            .expect("a scope is open")
            .push((name.to_string(), id));
        id
    }

    fn function(&mut self, program: &Program, f: &Function) -> FuncInfo {
        self.locals.clear();
        self.immutable.clear();
        self.scopes = vec![Vec::new()];
        self.ret = f.ret;
        for p in &f.params {
            self.declare(&p.name, p.ty, matches!(p.ty, Type::Slice(_)), p.span);
        }
        let returns = self.block(program, &f.body, 1);
        if !returns {
            self.error(
                Diagnostic::new(
                    f.span,
                    format!("function `{}` may end without returning", f.name),
                )
                .with_note("end every path with `return <expr>;`"),
            );
        }
        FuncInfo {
            locals: std::mem::take(&mut self.locals),
        }
    }

    /// Checks a block; returns whether it definitely returns.
    fn block(&mut self, program: &Program, b: &Block, depth: usize) -> bool {
        if depth > limits::MAX_DEPTH {
            self.error(Diagnostic::new(
                b.span,
                format!(
                    "nesting deeper than the limit of {} levels",
                    limits::MAX_DEPTH
                ),
            ));
            return true;
        }
        self.scopes.push(Vec::new());
        let mut returns = false;
        for s in &b.stmts {
            returns |= self.stmt(program, s, depth);
        }
        self.scopes.pop();
        returns
    }

    fn stmt(&mut self, program: &Program, s: &Stmt, depth: usize) -> bool {
        match &s.kind {
            StmtKind::Let { name, ty, init } => {
                let found = self.expr(program, init, *ty, depth + 1);
                let local_ty = match (ty, found) {
                    (Some(t), _) => Type::Scalar(*t),
                    (None, Some(t @ Type::Scalar(_))) => t,
                    (None, Some(Type::Slice(_))) => {
                        self.error(Diagnostic::new(init.span, "a local cannot hold a slice"));
                        Type::Scalar(Scalar::I32)
                    }
                    (None, None) => Type::Scalar(Scalar::I32),
                };
                if let (Some(t), Some(found)) = (ty, found)
                    && Type::Scalar(*t) != found
                {
                    self.error(mismatch(init.span, t, found));
                }
                let id = self.declare(name, local_ty, false, s.span);
                self.nodes[s.id.index()].local = Some(id);
                false
            }
            StmtKind::Assign { name, value } => {
                match self.lookup(name) {
                    None => {
                        self.error(Diagnostic::new(
                            s.span,
                            format!("unknown variable `{name}`"),
                        ));
                        self.expr(program, value, None, depth + 1);
                    }
                    Some(id) => {
                        self.nodes[s.id.index()].local = Some(id);
                        let ty = self.locals[id.index()];
                        if self.immutable[id.index()] {
                            self.error(Diagnostic::new(
                                s.span,
                                format!("cannot assign to `{name}`: loop variables and slices are immutable"),
                            ));
                        }
                        let found = self.expr(program, value, ty.as_scalar(), depth + 1);
                        if let Some(found) = found
                            && found != ty
                        {
                            self.error(mismatch(value.span, ty, found));
                        }
                    }
                }
                false
            }
            StmtKind::Return(e) => {
                let ret = self.ret;
                if let Some(found) = self.expr(program, e, Some(ret), depth + 1)
                    && found != Type::Scalar(ret)
                {
                    self.error(mismatch(e.span, ret, found));
                }
                true
            }
            StmtKind::If {
                cond,
                then_block,
                else_block,
            } => {
                self.expect(program, cond, Scalar::Bool, depth + 1);
                let a = self.block(program, then_block, depth + 1);
                let b = match else_block {
                    Some(b) => self.block(program, b, depth + 1),
                    None => false,
                };
                a && b
            }
            StmtKind::For {
                var,
                start,
                end,
                body,
            } => {
                let ty = self.pair(program, start, end, None, depth + 1);
                let ty = match ty {
                    Some(Type::Scalar(s)) if s.is_int() => s,
                    Some(t) => {
                        self.error(
                            Diagnostic::new(
                                start.span.to(end.span),
                                "loop bounds must be integers",
                            )
                            .with_note(format!("found `{t}`")),
                        );
                        Scalar::U32
                    }
                    None => Scalar::U32,
                };
                self.scopes.push(Vec::new());
                let id = self.declare(var, Type::Scalar(ty), true, s.span);
                self.nodes[s.id.index()].local = Some(id);
                self.block(program, body, depth + 1);
                self.scopes.pop();
                false
            }
        }
    }

    /// Checks `e` and requires type `want`.
    fn expect(&mut self, program: &Program, e: &Expr, want: Scalar, depth: usize) {
        if let Some(found) = self.expr(program, e, Some(want), depth)
            && found != Type::Scalar(want)
        {
            self.error(mismatch(e.span, want, found));
        }
    }

    /// Checks two operands that must have the same type; an unsuffixed literal
    /// on either side takes the other side's type.
    fn pair(
        &mut self,
        program: &Program,
        a: &Expr,
        b: &Expr,
        expected: Option<Scalar>,
        depth: usize,
    ) -> Option<Type> {
        let (first, second, swapped) = if is_untyped_lit(a) && !is_untyped_lit(b) {
            (b, a, true)
        } else {
            (a, b, false)
        };
        let t1 = self.expr(program, first, expected, depth)?;
        let t2 = self.expr(program, second, t1.as_scalar(), depth)?;
        if t1 != t2 {
            let (want, found, span) = if swapped {
                (t2, t1, first.span)
            } else {
                (t1, t2, second.span)
            };
            self.error(mismatch(span, want, found));
            return None;
        }
        Some(t1)
    }

    fn record(&mut self, e: &Expr, ty: Option<Type>) -> Option<Type> {
        self.nodes[e.id.index()].ty = ty;
        ty
    }

    fn expr(
        &mut self,
        program: &Program,
        e: &Expr,
        expected: Option<Scalar>,
        depth: usize,
    ) -> Option<Type> {
        if depth > limits::MAX_DEPTH {
            self.error(Diagnostic::new(
                e.span,
                format!(
                    "nesting deeper than the limit of {} levels",
                    limits::MAX_DEPTH
                ),
            ));
            return None;
        }
        let ty = self.expr_inner(program, e, expected, depth);
        self.record(e, ty)
    }

    fn expr_inner(
        &mut self,
        program: &Program,
        e: &Expr,
        expected: Option<Scalar>,
        depth: usize,
    ) -> Option<Type> {
        let d = depth + 1;
        match &e.kind {
            ExprKind::Lit(lit) => self.lit(e.span, lit, expected).map(Type::Scalar),
            ExprKind::Var(name) => match self.lookup(name) {
                Some(id) => {
                    self.nodes[e.id.index()].local = Some(id);
                    Some(self.locals[id.index()])
                }
                None => {
                    self.error(Diagnostic::new(
                        e.span,
                        format!("unknown variable `{name}`"),
                    ));
                    None
                }
            },
            ExprKind::Unary(op, inner) => {
                let t = self.scalar_expr(program, inner, expected, d)?;
                let ok = match op {
                    UnOp::Neg => t.is_numeric(),
                    UnOp::Not => t == Scalar::Bool || t.is_int(),
                };
                if !ok {
                    let what = match op {
                        UnOp::Neg => "`-` needs a number",
                        UnOp::Not => "`!` needs a bool or an integer",
                    };
                    self.error(
                        Diagnostic::new(e.span, what.to_string()).with_note(format!("found `{t}`")),
                    );
                    return None;
                }
                Some(Type::Scalar(t))
            }
            ExprKind::Binary(op, a, b) => self.binary(program, e, *op, a, b, expected, d),
            ExprKind::Cast(inner, to) => {
                let from = self.scalar_expr(program, inner, None, d)?;
                if *to == Scalar::Bool && from != Scalar::Bool {
                    self.error(
                        Diagnostic::new(e.span, format!("cannot cast `{from}` to `bool`"))
                            .with_note("compare instead, e.g. `x != 0`"),
                    );
                    return None;
                }
                Some(Type::Scalar(*to))
            }
            ExprKind::Index(base, idx) => {
                let elem = self.slice_var(base)?;
                self.expect(program, idx, Scalar::U32, d);
                Some(Type::Scalar(elem.scalar()))
            }
            ExprKind::Call(Callee::Builtin(b), args) => {
                self.builtin(program, e, *b, args, expected, d)
            }
            ExprKind::Call(Callee::Func(name), args) => {
                let Some(&fid) = self.sigs.get(name) else {
                    self.error(Diagnostic::new(
                        e.span,
                        format!("unknown function `{name}`"),
                    ));
                    for a in args {
                        self.expr(program, a, None, d);
                    }
                    return None;
                };
                self.nodes[e.id.index()].callee = Some(fid);
                self.calls[self.current].push((fid, e.span));
                let f = &program.funcs[fid.index()];
                if args.len() != f.params.len() {
                    self.error(Diagnostic::new(
                        e.span,
                        format!(
                            "`{name}` takes {} argument(s), but {} were given",
                            f.params.len(),
                            args.len()
                        ),
                    ));
                    return Some(Type::Scalar(f.ret));
                }
                for (a, p) in args.iter().zip(&f.params) {
                    match p.ty {
                        Type::Scalar(s) => self.expect(program, a, s, d),
                        Type::Slice(elem) => {
                            if let Some(found) = self.slice_var(a)
                                && found != elem
                            {
                                self.error(mismatch(a.span, p.ty, Type::Slice(found)));
                            }
                        }
                    }
                }
                Some(Type::Scalar(f.ret))
            }
        }
    }

    /// A slice argument must be a slice parameter named directly.
    fn slice_var(&mut self, e: &Expr) -> Option<crate::ir::Elem> {
        let ExprKind::Var(name) = &e.kind else {
            self.error(Diagnostic::new(e.span, "expected a slice parameter"));
            return None;
        };
        let Some(id) = self.lookup(name) else {
            self.error(Diagnostic::new(
                e.span,
                format!("unknown variable `{name}`"),
            ));
            return None;
        };
        self.nodes[e.id.index()].local = Some(id);
        match self.locals[id.index()] {
            t @ Type::Slice(elem) => {
                self.nodes[e.id.index()].ty = Some(t);
                Some(elem)
            }
            t => {
                self.error(
                    Diagnostic::new(e.span, format!("`{name}` is not a slice"))
                        .with_note(format!("found `{t}`")),
                );
                None
            }
        }
    }

    fn scalar_expr(
        &mut self,
        program: &Program,
        e: &Expr,
        expected: Option<Scalar>,
        depth: usize,
    ) -> Option<Scalar> {
        match self.expr(program, e, expected, depth)? {
            Type::Scalar(s) => Some(s),
            t @ Type::Slice(_) => {
                self.error(
                    Diagnostic::new(e.span, "expected a scalar, found a slice")
                        .with_note(format!("found `{t}`; index it or take `len`")),
                );
                None
            }
        }
    }

    fn lit(&mut self, span: Span, lit: &Lit, expected: Option<Scalar>) -> Option<Scalar> {
        match *lit {
            Lit::Bool(_) => Some(Scalar::Bool),
            Lit::Int { value, suffix } => {
                let ty = match (suffix, expected) {
                    (Some(s), _) => s,
                    (None, Some(s)) if s.is_int() => s,
                    (None, Some(s)) if s.is_float() => {
                        self.error(mismatch(span, s, "integer").with_note(format!(
                            "expected `{s}`, found an integer literal; write `{value}.0`"
                        )));
                        return None;
                    }
                    _ => Scalar::I32,
                };
                if !ty.is_int() {
                    self.error(Diagnostic::new(
                        span,
                        format!("an integer literal cannot be `{ty}`"),
                    ));
                    return None;
                }
                let bits = ty.bits();
                let lo = -(1i128 << (bits - 1));
                let hi = (1i128 << bits) - 1;
                if value < lo || value > hi {
                    self.error(
                        Diagnostic::new(span, format!("literal out of range for `{ty}`"))
                            .with_note(format!(
                                "`{ty}` literals lie in {lo}..={hi} (taken modulo 2^{bits})"
                            )),
                    );
                    return None;
                }
                Some(ty)
            }
            Lit::Float { suffix, .. } => {
                let ty = match (suffix, expected) {
                    (Some(s), _) => s,
                    (None, Some(s)) if s.is_float() => s,
                    (None, Some(s)) if s.is_int() => {
                        self.error(mismatch(span, s, "float"));
                        return None;
                    }
                    _ => Scalar::F64,
                };
                if !ty.is_float() {
                    self.error(Diagnostic::new(
                        span,
                        format!("a float literal cannot be `{ty}`"),
                    ));
                    return None;
                }
                Some(ty)
            }
        }
    }

    #[expect(clippy::too_many_arguments, reason = "internal recursion helper")]
    fn binary(
        &mut self,
        program: &Program,
        e: &Expr,
        op: BinOp,
        a: &Expr,
        b: &Expr,
        expected: Option<Scalar>,
        d: usize,
    ) -> Option<Type> {
        use BinOp::*;
        let operand_expected = match op {
            Eq | Ne | Lt | Le | Gt | Ge => None,
            And | Or => Some(Scalar::Bool),
            _ => expected,
        };
        let t = self.pair(program, a, b, operand_expected, d)?;
        let Type::Scalar(t) = t else {
            self.error(Diagnostic::new(
                e.span,
                "slices have no operators; index them",
            ));
            return None;
        };
        let ok = match op {
            Add | Sub | Mul | Div => t.is_numeric(),
            Rem => t.is_int(),
            BitAnd | BitOr | BitXor => t.is_int() || t == Scalar::Bool,
            Shl | Shr => t.is_int(),
            Eq | Ne => true,
            Lt | Le | Gt | Ge => t.is_numeric(),
            And | Or => t == Scalar::Bool,
        };
        if !ok {
            self.error(Diagnostic::new(
                e.span,
                format!("`{}` is not defined for `{t}`", op.symbol()),
            ));
            return None;
        }
        Some(Type::Scalar(if op.is_comparison() {
            Scalar::Bool
        } else {
            t
        }))
    }

    fn builtin(
        &mut self,
        program: &Program,
        e: &Expr,
        b: Builtin,
        args: &[Expr],
        expected: Option<Scalar>,
        d: usize,
    ) -> Option<Type> {
        use Builtin::*;
        if args.len() != b.arity() {
            self.error(Diagnostic::new(
                e.span,
                format!(
                    "`{}` takes {} argument(s), but {} were given",
                    b.name(),
                    b.arity(),
                    args.len()
                ),
            ));
            return None;
        }
        let need = |cx: &mut Checker, t: Scalar, ok: bool, what: &str| -> Option<Type> {
            if ok {
                Some(Type::Scalar(t))
            } else {
                cx.error(
                    Diagnostic::new(e.span, format!("`{}` needs {what}", b.name()))
                        .with_note(format!("found `{t}`")),
                );
                None
            }
        };
        match b {
            Sqrt | Floor | Ceil | Trunc | Nearest => {
                let t = self.scalar_expr(program, &args[0], expected, d)?;
                need(self, t, t.is_float(), "a float")
            }
            Abs => {
                let t = self.scalar_expr(program, &args[0], expected, d)?;
                need(self, t, t.is_numeric(), "a number")
            }
            Clz | Ctz | Popcnt => {
                let t = self.scalar_expr(program, &args[0], expected, d)?;
                need(self, t, t.is_int(), "an integer")
            }
            Min | Max => {
                let t = self
                    .pair(program, &args[0], &args[1], expected, d)?
                    .as_scalar()?;
                need(self, t, t.is_numeric(), "numbers")
            }
            Copysign => {
                let t = self
                    .pair(program, &args[0], &args[1], expected, d)?
                    .as_scalar()?;
                need(self, t, t.is_float(), "floats")
            }
            Rotl | Rotr => {
                let t = self
                    .pair(program, &args[0], &args[1], expected, d)?
                    .as_scalar()?;
                need(self, t, t.is_int(), "integers")
            }
            Select => {
                self.expect(program, &args[0], Scalar::Bool, d);
                let t = self.pair(program, &args[1], &args[2], expected, d)?;
                need(self, t.as_scalar()?, true, "")
            }
            Len => {
                self.slice_var(&args[0])?;
                Some(Type::Scalar(Scalar::U32))
            }
            F32FromBits => {
                self.expect(program, &args[0], Scalar::U32, d);
                Some(Type::Scalar(Scalar::F32))
            }
            F32ToBits => {
                self.expect(program, &args[0], Scalar::F32, d);
                Some(Type::Scalar(Scalar::U32))
            }
            F64FromBits => {
                self.expect(program, &args[0], Scalar::U64, d);
                Some(Type::Scalar(Scalar::F64))
            }
            F64ToBits => {
                self.expect(program, &args[0], Scalar::F64, d);
                Some(Type::Scalar(Scalar::U64))
            }
        }
    }

    /// Rejects recursion and over-long call chains.
    fn check_calls(&mut self, program: &Program) {
        let n = program.funcs.len();
        // 0 = unvisited, 1 = on the stack, 2 = done; `height` = longest chain below.
        let mut state = vec![0u8; n];
        let mut height = vec![0usize; n];
        for root in 0..n {
            if state[root] != 0 {
                continue;
            }
            // Iterative DFS so that hostile call graphs cannot overflow the stack.
            let mut stack: Vec<(usize, usize)> = vec![(root, 0)];
            state[root] = 1;
            while let Some(&mut (f, ref mut next)) = stack.last_mut() {
                if let Some(&(callee, span)) = self.calls[f].get(*next) {
                    *next += 1;
                    let c = callee.index();
                    match state[c] {
                        0 => {
                            state[c] = 1;
                            stack.push((c, 0));
                        }
                        1 => {
                            let names: Vec<&str> = stack
                                .iter()
                                .skip_while(|(g, _)| *g != c)
                                .map(|(g, _)| program.funcs[*g].name.as_str())
                                .chain(std::iter::once(program.funcs[c].name.as_str()))
                                .collect();
                            self.error(
                                Diagnostic::new(span, "recursion is not allowed")
                                    .with_note(format!("call cycle: {}", names.join(" -> "))),
                            );
                        }
                        _ => height[f] = height[f].max(height[c] + 1),
                    }
                } else {
                    state[f] = 2;
                    stack.pop();
                    if let Some(&(parent, _)) = stack.last() {
                        height[parent] = height[parent].max(height[f] + 1);
                    }
                }
            }
        }
        for (i, h) in height.iter().enumerate() {
            if *h > limits::MAX_CALL_DEPTH {
                self.error(Diagnostic::new(
                    program.funcs[i].span,
                    format!(
                        "calls from `{}` nest {h} deep, more than the limit of {}",
                        program.funcs[i].name,
                        limits::MAX_CALL_DEPTH
                    ),
                ));
                break;
            }
        }
    }
}

fn is_untyped_lit(e: &Expr) -> bool {
    matches!(
        e.kind,
        ExprKind::Lit(Lit::Int { suffix: None, .. } | Lit::Float { suffix: None, .. })
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parser::parse;

    #[track_caller]
    fn ok(src: &str) -> CheckedProgram {
        match check(&parse(src).unwrap()) {
            Ok(c) => c,
            Err(d) => panic!("{}", d.render("t.cru", src)),
        }
    }

    #[track_caller]
    fn err(src: &str, expect: &[&str]) {
        let d = check(&parse(src).unwrap()).expect_err("expected errors");
        let text = d.render("t.cru", src);
        for e in expect {
            assert!(text.contains(e), "wanted {e:?} in:\n{text}");
        }
    }

    #[test]
    fn literals_take_their_context_type() {
        let c = ok(
            "fn hash(key: u64) -> u32 { let h: u64 = key * 0x9E3779B97F4A7C15; return (h >> 32) as u32 ^ h as u32; }",
        );
        let mut lit_types = Vec::new();
        c.program().visit(&mut |n| {
            if let crate::ir::Node::Expr(e) = n
                && matches!(e.kind, ExprKind::Lit(_))
            {
                lit_types.push(c.ty(e));
            }
        });
        assert_eq!(
            lit_types,
            vec![Type::Scalar(Scalar::U64), Type::Scalar(Scalar::U64)]
        );
    }

    #[test]
    fn reports_every_error_with_expected_and_found() {
        err(
            "fn f(x: u32) -> u32 {\n  let y: f64 = x;\n  return y;\n}",
            &[
                "t.cru:2:16",
                "expected `f64`, found `u32`",
                "t.cru:3:10",
                "expected `u32`, found `f64`",
            ],
        );
    }

    #[test]
    fn rejects_recursion_with_the_cycle() {
        err(
            "fn a(x: u32) -> u32 { return b(x); }\nfn b(x: u32) -> u32 { return a(x); }",
            &["recursion is not allowed", "a -> b -> a"],
        );
    }

    #[test]
    fn missing_return_and_unknown_names() {
        err(
            "fn f(x: u32) -> u32 { if x > 1 { return 1; } }",
            &["may end without returning"],
        );
        err("fn f() -> u32 { return y; }", &["unknown variable `y`"]);
        err("fn f() -> u32 { return g(); }", &["unknown function `g`"]);
    }

    #[test]
    fn loop_variables_are_immutable() {
        err(
            "fn f(n: u32) -> u32 { for i in 0..n { i = 2; } return 0; }",
            &["cannot assign to `i`"],
        );
    }

    #[test]
    fn literal_ranges() {
        err(
            "fn f() -> u32 { return 0x1_0000_0000; }",
            &["literal out of range for `u32`"],
        );
        ok("fn f() -> i32 { return 0xFFFF_FFFF; }");
        err("fn f() -> f64 { return 1; }", &["write `1.0`"]);
    }
}
