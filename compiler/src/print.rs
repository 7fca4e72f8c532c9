//! The canonical printer: one fixed layout, so that text diffs of candidates
//! are meaningful and `parse(print(p)) == p` (up to spans).
//!
//! Layout: four-space indentation, one statement per line, a blank line
//! between functions, the minimum of parentheses that keeps the tree, literals
//! in Rust's shortest round-trip form.

use std::fmt::Write;

use crate::ir::{
    Block, Callee, Expr, ExprKind, Function, Lit, Program, Scalar, Stmt, StmtKind, UnOp,
};

/// Prints a program in canonical form.
pub fn print(program: &Program) -> String {
    let mut out = String::new();
    for (i, func) in program.funcs.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        print_func(&mut out, func);
    }
    out
}

/// Prints one expression in canonical form.
pub fn print_expr(expr: &Expr) -> String {
    let mut out = String::new();
    expr_at(&mut out, expr, 0);
    out
}

fn print_func(out: &mut String, func: &Function) {
    let params: Vec<String> = func
        .params
        .iter()
        .map(|p| format!("{}: {}", p.name, p.ty))
        .collect();
    let _ = write!(
        out,
        "fn {}({}) -> {} ",
        func.name,
        params.join(", "),
        func.ret
    );
    block(out, &func.body, 0);
    out.push('\n');
}

fn indent(out: &mut String, level: usize) {
    for _ in 0..level {
        out.push_str("    ");
    }
}

fn block(out: &mut String, b: &Block, level: usize) {
    if b.stmts.is_empty() {
        out.push_str("{}");
        return;
    }
    out.push_str("{\n");
    for s in &b.stmts {
        indent(out, level + 1);
        stmt(out, s, level + 1);
        out.push('\n');
    }
    indent(out, level);
    out.push('}');
}

fn stmt(out: &mut String, s: &Stmt, level: usize) {
    match &s.kind {
        StmtKind::Let { name, ty, init } => {
            let _ = write!(out, "let {name}");
            if let Some(ty) = ty {
                let _ = write!(out, ": {ty}");
            }
            out.push_str(" = ");
            expr_at(out, init, 0);
            out.push(';');
        }
        StmtKind::Assign { name, value } => {
            let _ = write!(out, "{name} = ");
            expr_at(out, value, 0);
            out.push(';');
        }
        StmtKind::Return(e) => {
            out.push_str("return ");
            expr_at(out, e, 0);
            out.push(';');
        }
        StmtKind::If {
            cond,
            then_block,
            else_block,
        } => {
            out.push_str("if ");
            expr_at(out, cond, 0);
            out.push(' ');
            block(out, then_block, level);
            if let Some(else_block) = else_block {
                out.push_str(" else ");
                match else_block.stmts.as_slice() {
                    [
                        only @ Stmt {
                            kind: StmtKind::If { .. },
                            ..
                        },
                    ] => stmt(out, only, level),
                    _ => block(out, else_block, level),
                }
            }
        }
        StmtKind::For {
            var,
            start,
            end,
            body,
        } => {
            let _ = write!(out, "for {var} in ");
            expr_at(out, start, 0);
            out.push_str("..");
            expr_at(out, end, 0);
            out.push(' ');
            block(out, body, level);
        }
    }
}

// Binding strengths beyond the binary operators' 1..=9.
const PREC_CAST: u8 = 10;
const PREC_UNARY: u8 = 11;
const PREC_ATOM: u8 = 12;

fn prec(e: &Expr) -> u8 {
    match &e.kind {
        ExprKind::Binary(op, ..) => op.precedence(),
        ExprKind::Cast(..) => PREC_CAST,
        ExprKind::Unary(..) => PREC_UNARY,
        // A negative literal prints with a leading `-`, so it is unary-strength.
        ExprKind::Lit(lit) if lit_is_negative(lit) => PREC_UNARY,
        _ => PREC_ATOM,
    }
}

/// Prints `e`, parenthesised if it binds looser than `min`.
fn expr_at(out: &mut String, e: &Expr, min: u8) {
    if prec(e) < min {
        out.push('(');
        expr_at(out, e, 0);
        out.push(')');
        return;
    }
    match &e.kind {
        ExprKind::Lit(lit) => print_lit(out, lit),
        ExprKind::Var(name) => out.push_str(name),
        ExprKind::Unary(op, inner) => {
            out.push(match op {
                UnOp::Neg => '-',
                UnOp::Not => '!',
            });
            // `-` before a literal would fold into the literal: keep the tree.
            let needs_paren = matches!(
                inner.kind,
                ExprKind::Lit(Lit::Int { .. } | Lit::Float { .. })
            ) && *op == UnOp::Neg
                || matches!(inner.kind, ExprKind::Lit(ref l) if lit_is_negative(l));
            if needs_paren {
                out.push('(');
                expr_at(out, inner, 0);
                out.push(')');
            } else {
                expr_at(out, inner, PREC_UNARY);
            }
        }
        ExprKind::Binary(op, a, b) => {
            let p = op.precedence();
            // Left-associative; comparisons do not chain, so both sides need more.
            let left_min = if op.is_comparison() { p + 1 } else { p };
            expr_at(out, a, left_min);
            let _ = write!(out, " {} ", op.symbol());
            expr_at(out, b, p + 1);
        }
        ExprKind::Cast(inner, ty) => {
            expr_at(out, inner, PREC_CAST);
            let _ = write!(out, " as {ty}");
        }
        ExprKind::Index(base, idx) => {
            expr_at(out, base, PREC_ATOM);
            out.push('[');
            expr_at(out, idx, 0);
            out.push(']');
        }
        ExprKind::Call(callee, args) => {
            match callee {
                Callee::Builtin(b) => out.push_str(b.name()),
                Callee::Func(name) => out.push_str(name),
            }
            out.push('(');
            for (i, a) in args.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                expr_at(out, a, 0);
            }
            out.push(')');
        }
    }
}

fn lit_is_negative(lit: &Lit) -> bool {
    match lit {
        Lit::Int { value, .. } => *value < 0,
        Lit::Float { f64, .. } => f64.is_sign_negative() && !f64.is_nan(),
        Lit::Bool(_) => false,
    }
}

/// Prints a literal so that it parses back to the same literal.
pub fn print_lit(out: &mut String, lit: &Lit) {
    match *lit {
        Lit::Bool(b) => out.push_str(if b { "true" } else { "false" }),
        Lit::Int { value, suffix } => {
            let _ = write!(out, "{value}");
            if let Some(s) = suffix {
                out.push_str(s.name());
            }
        }
        Lit::Float { f64, f32, suffix } => {
            let ty = suffix.unwrap_or(Scalar::F64);
            if f64.is_nan() || f64.is_infinite() {
                let name = if f64.is_nan() {
                    "NAN"
                } else if f64 > 0.0 {
                    "INFINITY"
                } else {
                    "NEG_INFINITY"
                };
                let _ = write!(out, "{}::{name}", suffix.unwrap_or(Scalar::F64));
                return;
            }
            let text = if ty == Scalar::F32 {
                format!("{f32:?}")
            } else {
                // Prefer the f64 form; fall back to the f32 form when only
                // that one parses back to both values of an unsuffixed literal.
                let t64 = format!("{f64:?}");
                if suffix.is_none()
                    && t64.parse::<f32>().ok().map(f32::to_bits) != Some(f32.to_bits())
                {
                    let t32 = format!("{f32:?}");
                    if t32.parse::<f64>().ok().map(f64::to_bits) == Some(f64.to_bits()) {
                        t32
                    } else {
                        t64
                    }
                } else {
                    t64
                }
            };
            out.push_str(&text);
            if let Some(s) = suffix {
                out.push_str(s.name());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::parser::parse;

    use super::*;

    #[track_caller]
    fn roundtrip(src: &str, expect: &str) {
        let p = parse(src).unwrap();
        let text = print(&p);
        assert_eq!(text, expect);
        let q = parse(&text).unwrap();
        assert_eq!(p, q);
    }

    #[test]
    fn canonical_layout() {
        roundtrip(
            "fn hash(key:u64)->u32{let h:u64=key*0x10;return (h>>32) as u32^h as u32;}",
            "fn hash(key: u64) -> u32 {\n    let h: u64 = key * 16;\n    return (h >> 32) as u32 ^ h as u32;\n}\n",
        );
    }

    #[test]
    fn parentheses_are_minimal_but_sufficient() {
        roundtrip(
            "fn f(a: i32, b: i32) -> i32 { return (a - (b - 1)) * -(-2) - -a; }",
            "fn f(a: i32, b: i32) -> i32 {\n    return (a - (b - 1)) * -(-2) - -a;\n}\n",
        );
        roundtrip(
            "fn f(a: f64) -> bool { return (a < 1.0) == (a >= 2.5e-7); }",
            "fn f(a: f64) -> bool {\n    return (a < 1.0) == (a >= 2.5e-7);\n}\n",
        );
    }

    #[test]
    fn else_if_and_loops() {
        roundtrip(
            "fn f(s: [u8]) -> u32 { let n = 0u32; for i in 0..len(s) { if s[i] == 1 { n = n + 1; } else if s[i] == 2 { n = n + 2; } else {} } return n; }",
            "fn f(s: [u8]) -> u32 {\n    let n = 0u32;\n    for i in 0..len(s) {\n        if s[i] == 1 {\n            n = n + 1;\n        } else if s[i] == 2 {\n            n = n + 2;\n        } else {}\n    }\n    return n;\n}\n",
        );
    }

    #[test]
    fn special_floats() {
        roundtrip(
            "fn f() -> f32 { return f32::NAN + f32::NEG_INFINITY + 0.1f32 + -0.0; }",
            "fn f() -> f32 {\n    return f32::NAN + f32::NEG_INFINITY + 0.1f32 + -0.0;\n}\n",
        );
    }
}
