//! The language-level cost model: a fixed cost per IR operation.
//!
//! A candidate's *cost* on an input is the sum, over every statement execution,
//! of that statement's static cost (its own expressions, calls included but not
//! the callee's statements) plus [`ITERATION`] per loop iteration.
//! Because expressions have no control flow of their own (`select`, `&&` and
//! `||` evaluate both sides), this sum is fixed by the per-node execution counts
//! alone, so every tier computes the same cost: the interpreter adds it up as it
//! runs, and compiled tiers derive it from their probe counters with
//! [`cost_from_counters`].
//! The cost does not depend on the wasmtime version, the machine or the clock.
//!
//! The weights are rough latencies in cycles on a current x86-64 core
//! (after Agner Fog's instruction tables: integer add 1, multiply 3, divide
//! 20–40; float add/multiply 4, divide 11–15, square root 12–18).

use crate::check::CheckedProgram;
use crate::ir::{BinOp, Builtin, Callee, Expr, ExprKind, Scalar, StmtKind, UnOp};

/// Charged for every loop iteration (compare, increment, branch).
pub const ITERATION: u64 = 1;
/// Charged for an `if` statement's branch.
pub const BRANCH: u64 = 1;
/// Charged for a call of a program function (on top of its statements).
pub const CALL: u64 = 5;

/// The static cost of one evaluation of `e`, callee statements excluded.
pub fn expr_cost(checked: &CheckedProgram, e: &Expr) -> u64 {
    let own = match &e.kind {
        ExprKind::Lit(_) | ExprKind::Var(_) => 0,
        ExprKind::Unary(UnOp::Neg | UnOp::Not, _) => 1,
        ExprKind::Binary(op, a, _) => {
            let float = checked.ty(a).as_scalar().is_some_and(Scalar::is_float);
            match (op, float) {
                (BinOp::Mul, false) => 3,
                (BinOp::Div | BinOp::Rem, false) => 20,
                (BinOp::Add | BinOp::Sub | BinOp::Mul, true) => 4,
                (BinOp::Div, true) => 12,
                (_, true) => 2,
                _ => 1,
            }
        }
        ExprKind::Cast(..) => 2,
        ExprKind::Index(..) => 4,
        ExprKind::Call(Callee::Func(_), _) => CALL,
        ExprKind::Call(Callee::Builtin(b), _) => match b {
            Builtin::Sqrt => 15,
            Builtin::Len => 0,
            Builtin::F32FromBits
            | Builtin::F32ToBits
            | Builtin::F64FromBits
            | Builtin::F64ToBits => 1,
            Builtin::Min | Builtin::Max => 2,
            Builtin::Floor | Builtin::Ceil | Builtin::Trunc | Builtin::Nearest => 2,
            _ => 1,
        },
    };
    let mut total = own;
    e.for_each_child(|c| total += expr_cost(checked, c));
    total
}

/// The cost of one run of a straight-line function (every statement runs
/// once): what the interpreter charges it on every input.
pub fn straight_line_cost(checked: &CheckedProgram, func: &crate::ir::Function) -> u64 {
    func.body
        .stmts
        .iter()
        .map(|s| match &s.kind {
            StmtKind::Let { init: e, .. }
            | StmtKind::Assign { value: e, .. }
            | StmtKind::Return(e) => expr_cost(checked, e),
            StmtKind::If { cond, .. } => BRANCH + expr_cost(checked, cond),
            StmtKind::For { start, end, .. } => expr_cost(checked, start) + expr_cost(checked, end),
        })
        .sum()
}

/// Static costs per node id: for statements, the cost of one execution; for a
/// `for` body block, [`ITERATION`]; zero elsewhere.
pub fn static_costs(checked: &CheckedProgram) -> Vec<u64> {
    let mut costs = vec![0u64; checked.node_count()];
    checked.program().visit(&mut |node| {
        if let crate::ir::Node::Stmt(s) = node {
            costs[s.id.index()] = match &s.kind {
                StmtKind::Let { init: e, .. }
                | StmtKind::Assign { value: e, .. }
                | StmtKind::Return(e) => expr_cost(checked, e),
                StmtKind::If { cond, .. } => BRANCH + expr_cost(checked, cond),
                StmtKind::For {
                    start, end, body, ..
                } => {
                    costs[body.id.index()] = ITERATION;
                    expr_cost(checked, start) + expr_cost(checked, end)
                }
            };
        }
    });
    costs
}

/// The cost of a run from its per-node execution counters.
pub fn cost_from_counters(costs: &[u64], counters: &[u64]) -> u64 {
    costs
        .iter()
        .zip(counters)
        .fold(0u64, |acc, (c, n)| acc.saturating_add(c.saturating_mul(*n)))
}
