//! Export to plain Rust: one dependency-free `pub fn` per program function,
//! with the candidate language's semantics spelled out.
//!
//! The output needs nothing but `std`: operations Rust leaves partial or
//! different (division by zero, `MIN / -1`, NaN payloads, `min`/`max` on
//! floats, out-of-range indexing) go through small helper functions, named
//! `crucible_*` (a prefix the checker reserves, so they cannot clash with
//! program functions), emitted once after the program's functions and only
//! if used. Everything else maps onto Rust's own wrapping and saturating
//! operations. Tests compile exported programs with `rustc` and compare them
//! with the interpreter (`tests/all/export.rs`).

use std::collections::BTreeSet;
use std::fmt::Write as _;

use crate::check::CheckedProgram;
use crate::ir::{
    BinOp, Block, Builtin, Callee, Elem, Expr, ExprKind, Function, Scalar, StmtKind, Type, UnOp,
};
use crate::value::{CANONICAL_NAN_F32, CANONICAL_NAN_F64, Value};

/// What to put around the exported functions.
#[derive(Clone, Debug)]
pub struct ExportOptions {
    /// Text for the header comment (task, run, fitness...); each line becomes
    /// a `//` line. May be empty.
    pub header: String,
}

/// Exports every function of the program as Rust source.
///
/// Functions keep their names (Rust keywords become raw identifiers) and
/// signatures: scalars map to the Rust type of the same name, `[T]`
/// parameters to `&[T]`.
pub fn rust(checked: &CheckedProgram, options: &ExportOptions) -> String {
    let mut out = String::new();
    for line in options.header.lines() {
        if line.is_empty() {
            out.push_str("//\n");
        } else {
            let _ = writeln!(out, "// {line}");
        }
    }
    out.push_str(
        "// Exported by crucible: the candidate language's semantics in plain Rust \
         (wrapping integers, total division and indexing, canonical NaNs).\n\n",
    );
    let mut helpers = BTreeSet::new();
    for (i, func) in checked.program().funcs.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let mut ex = Exporter {
            checked,
            out: String::new(),
            helpers: &mut helpers,
        };
        ex.function(func);
        out.push_str(&ex.out);
    }
    for h in &helpers {
        out.push('\n');
        out.push_str(helper_source(h));
    }
    out
}

/// The source of a helper function.
fn helper_source(name: &str) -> &'static str {
    match name {
        "crucible_canon_f32" => {
            "/// Replaces any NaN by the canonical quiet NaN (tested on the bits, which the optimizer keeps).
#[inline]
fn crucible_canon_f32(v: f32) -> f32 {
    let bits = v.to_bits();
    f32::from_bits(if bits & 0x7fff_ffff > 0x7f80_0000 { 0x7fc0_0000 } else { bits })
}
"
        }
        "crucible_canon_f64" => {
            "/// Replaces any NaN by the canonical quiet NaN (tested on the bits, which the optimizer keeps).
#[inline]
fn crucible_canon_f64(v: f64) -> f64 {
    let bits = v.to_bits();
    f64::from_bits(if bits & 0x7fff_ffff_ffff_ffff > 0x7ff0_0000_0000_0000 { 0x7ff8_0000_0000_0000 } else { bits })
}
"
        }
        "crucible_fmin_f32" => FMIN_F32,
        "crucible_fmax_f32" => FMAX_F32,
        "crucible_fmin_f64" => FMIN_F64,
        "crucible_fmax_f64" => FMAX_F64,
        "crucible_div_i32" => DIV_I32,
        "crucible_div_i64" => DIV_I64,
        "crucible_div_u32" => DIV_U32,
        "crucible_div_u64" => DIV_U64,
        "crucible_rem_i32" => REM_I32,
        "crucible_rem_i64" => REM_I64,
        "crucible_rem_u32" => REM_U32,
        "crucible_rem_u64" => REM_U64,
        "crucible_index" => {
            "/// `s[i]` made total: the index wraps around the length; an empty slice reads zero.
#[inline]
fn crucible_index<T: Copy + Default>(s: &[T], i: u32) -> T {
    if s.is_empty() { T::default() } else { s[i as usize % s.len()] }
}
"
        }
        "crucible_select" => {
            "/// `select(c, a, b)`: both sides are evaluated.
#[inline]
fn crucible_select<T>(c: bool, a: T, b: T) -> T {
    if c { a } else { b }
}
"
        }
        other => unreachable!("unknown helper {other}"),
    }
}

macro_rules! minmax_helper {
    ($name:literal, $t:literal, $canon:literal, $cmp:literal, $neg_pick:literal, $pos_pick:literal) => {
        concat!(
            "/// Wasm's `",
            $name,
            "`: NaN if either side is NaN, and -0.0 < +0.0.\n",
            "#[inline]\n",
            "fn crucible_",
            $name,
            "(a: ",
            $t,
            ", b: ",
            $t,
            ") -> ",
            $t,
            " {\n",
            "    if a.is_nan() || b.is_nan() {\n",
            "        return ",
            $canon,
            "(",
            $t,
            "::NAN);\n",
            "    }\n",
            "    if a == b {\n",
            "        return if a.is_sign_negative() { ",
            $neg_pick,
            " } else { ",
            $pos_pick,
            " };\n",
            "    }\n",
            "    if a ",
            $cmp,
            " b { a } else { b }\n",
            "}\n"
        )
    };
}

const FMIN_F32: &str = minmax_helper!("fmin_f32", "f32", "crucible_canon_f32", "<", "a", "b");
const FMAX_F32: &str = minmax_helper!("fmax_f32", "f32", "crucible_canon_f32", ">", "b", "a");
const FMIN_F64: &str = minmax_helper!("fmin_f64", "f64", "crucible_canon_f64", "<", "a", "b");
const FMAX_F64: &str = minmax_helper!("fmax_f64", "f64", "crucible_canon_f64", ">", "b", "a");

macro_rules! div_helper {
    ($name:literal, $t:literal, $method:literal, $what:literal) => {
        concat!(
            "/// `a ",
            $what,
            " b` made total: zero when `b` is zero, wrapping otherwise.\n",
            "#[inline]\n",
            "fn crucible_",
            $name,
            "(a: ",
            $t,
            ", b: ",
            $t,
            ") -> ",
            $t,
            " {\n",
            "    if b == 0 { 0 } else { a.",
            $method,
            "(b) }\n",
            "}\n"
        )
    };
}

const DIV_I32: &str = div_helper!("div_i32", "i32", "wrapping_div", "/");
const DIV_I64: &str = div_helper!("div_i64", "i64", "wrapping_div", "/");
const DIV_U32: &str = div_helper!("div_u32", "u32", "wrapping_div", "/");
const DIV_U64: &str = div_helper!("div_u64", "u64", "wrapping_div", "/");
const REM_I32: &str = div_helper!("rem_i32", "i32", "wrapping_rem", "%");
const REM_I64: &str = div_helper!("rem_i64", "i64", "wrapping_rem", "%");
const REM_U32: &str = div_helper!("rem_u32", "u32", "wrapping_rem", "%");
const REM_U64: &str = div_helper!("rem_u64", "u64", "wrapping_rem", "%");

/// Rust keywords that a candidate identifier may spell.
const KEYWORDS: &[&str] = &[
    "abstract", "as", "async", "await", "become", "box", "break", "const", "continue", "do", "dyn",
    "else", "enum", "extern", "false", "final", "fn", "for", "gen", "if", "impl", "in", "let",
    "loop", "macro", "match", "mod", "move", "mut", "override", "priv", "pub", "ref", "return",
    "static", "struct", "trait", "true", "try", "type", "typeof", "unsafe", "unsized", "use",
    "virtual", "where", "while", "yield",
];

/// A candidate identifier as a Rust identifier.
fn ident(name: &str) -> String {
    match name {
        // These cannot be raw identifiers.
        "self" | "Self" | "super" | "crate" | "_" => format!("{name}_"),
        _ if KEYWORDS.contains(&name) => format!("r#{name}"),
        // Keep locals from shadowing the helper functions.
        _ if name.starts_with("crucible_") => format!("v_{name}"),
        _ => name.to_string(),
    }
}

fn type_name(ty: Type) -> String {
    match ty {
        Type::Scalar(s) => s.name().to_string(),
        Type::Slice(e) => format!("&[{}]", e.name()),
    }
}

/// A literal as an atomic Rust expression of exactly this value.
fn literal(v: Value) -> String {
    match v {
        Value::I32(i32::MIN) => "i32::MIN".into(),
        Value::I64(i64::MIN) => "i64::MIN".into(),
        Value::I32(x) if x < 0 => format!("(-{}i32)", -(x as i64)),
        Value::I64(x) if x < 0 => format!("(-{}i64)", -(x as i128)),
        Value::I32(x) => format!("{x}i32"),
        Value::I64(x) => format!("{x}i64"),
        // Large unsigned constants (multipliers, masks) read better in hex.
        Value::U32(x) if x > 0xffff => format!("{x:#x}u32"),
        Value::U64(x) if x > 0xffff => format!("{x:#x}u64"),
        Value::U32(x) => format!("{x}u32"),
        Value::U64(x) => format!("{x}u64"),
        Value::Bool(x) => x.to_string(),
        Value::F32(x) if x.is_nan() => format!("f32::from_bits({:#x})", x.to_bits()),
        Value::F64(x) if x.is_nan() => format!("f64::from_bits({:#x})", x.to_bits()),
        Value::F32(x) if x.is_infinite() => if x > 0.0 {
            "f32::INFINITY"
        } else {
            "f32::NEG_INFINITY"
        }
        .into(),
        Value::F64(x) if x.is_infinite() => if x > 0.0 {
            "f64::INFINITY"
        } else {
            "f64::NEG_INFINITY"
        }
        .into(),
        // `{:?}` prints the shortest text that reads back to the same bits.
        Value::F32(x) if x.is_sign_negative() => format!("(-{:?}f32)", -x),
        Value::F64(x) if x.is_sign_negative() => format!("(-{:?}f64)", -x),
        Value::F32(x) => format!("{x:?}f32"),
        Value::F64(x) => format!("{x:?}f64"),
    }
}

struct Exporter<'a> {
    checked: &'a CheckedProgram,
    out: String,
    helpers: &'a mut BTreeSet<&'static str>,
}

impl Exporter<'_> {
    fn line(&mut self, depth: usize, text: &str) {
        for _ in 0..depth {
            self.out.push_str("    ");
        }
        self.out.push_str(text);
        self.out.push('\n');
    }

    fn helper(&mut self, name: &'static str) -> &'static str {
        self.helpers.insert(name);
        if name.starts_with("crucible_fm") {
            // The min/max helpers canonicalise their NaN.
            self.helpers.insert(if name.ends_with("f32") {
                "crucible_canon_f32"
            } else {
                "crucible_canon_f64"
            });
        }
        name
    }

    fn function(&mut self, func: &Function) {
        let params: Vec<String> = func
            .params
            .iter()
            .map(|p| match p.ty {
                // Scalar parameters are assignable in the language.
                Type::Scalar(_) => format!("mut {}: {}", ident(&p.name), type_name(p.ty)),
                Type::Slice(_) => format!("{}: {}", ident(&p.name), type_name(p.ty)),
            })
            .collect();
        self.line(
            0,
            "#[allow(unused_mut, unused_assignments, unused_variables, unreachable_code, unused_parens, \
             non_snake_case, clippy::all, reason = \"generated code\")]",
        );
        self.line(
            0,
            &format!(
                "pub fn {}({}) -> {} {{",
                ident(&func.name),
                params.join(", "),
                func.ret.name()
            ),
        );
        self.block_body(&func.body, 1);
        self.line(0, "}");
    }

    fn block_body(&mut self, b: &Block, depth: usize) {
        for s in &b.stmts {
            match &s.kind {
                StmtKind::Let { name, init, .. } => {
                    let ty = self.checked.scalar(init);
                    let e = self.expr(init);
                    self.line(
                        depth,
                        &format!("let mut {}: {} = {};", ident(name), ty.name(), e),
                    );
                }
                StmtKind::Assign { name, value } => {
                    let e = self.expr(value);
                    self.line(depth, &format!("{} = {};", ident(name), e));
                }
                StmtKind::Return(e) => {
                    let e = self.expr(e);
                    self.line(depth, &format!("return {e};"));
                }
                StmtKind::If {
                    cond,
                    then_block,
                    else_block,
                } => {
                    let c = self.expr(cond);
                    self.line(depth, &format!("if {c} {{"));
                    self.block_body(then_block, depth + 1);
                    if let Some(eb) = else_block {
                        self.line(depth, "} else {");
                        self.block_body(eb, depth + 1);
                    }
                    self.line(depth, "}");
                }
                StmtKind::For {
                    var,
                    start,
                    end,
                    body,
                } => {
                    // `start..end` evaluates both bounds once, runs while the
                    // variable is below `end` and never overflows: the
                    // language's loop exactly.
                    let a = self.expr(start);
                    let b = self.expr(end);
                    self.line(depth, &format!("for {} in {a}..{b} {{", ident(var)));
                    self.block_body(body, depth + 1);
                    self.line(depth, "}");
                }
            }
        }
    }

    fn canon(&mut self, s: Scalar, e: String) -> String {
        let h = match s {
            Scalar::F32 => self.helper("crucible_canon_f32"),
            _ => self.helper("crucible_canon_f64"),
        };
        format!("{h}({e})")
    }

    /// An expression as an atomic Rust expression (a literal, a name, a
    /// call or something in parentheses), so it can take a method call.
    fn expr(&mut self, e: &Expr) -> String {
        match &e.kind {
            ExprKind::Lit(lit) => literal(crate::interp::lit_value(*lit, self.checked.scalar(e))),
            ExprKind::Var(name) => ident(name),
            ExprKind::Unary(op, a) => {
                let s = self.checked.scalar(a);
                let x = self.expr(a);
                match op {
                    UnOp::Neg if s.is_float() => format!("(-{x})"),
                    UnOp::Neg => format!("{x}.wrapping_neg()"),
                    UnOp::Not => format!("(!{x})"),
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
                match (from, *to) {
                    _ if from == *to => x,
                    (Scalar::Bool, Scalar::F32 | Scalar::F64) => format!("(({x} as u32) as {to})"),
                    (Scalar::F32, Scalar::F64) | (Scalar::F64, Scalar::F32) => {
                        self.canon(*to, format!("{x} as {to}"))
                    }
                    // Rust's `as` wraps integers, rounds to nearest into
                    // floats, and saturates floats into integers (NaN to 0).
                    _ => format!("({x} as {to})"),
                }
            }
            ExprKind::Index(base, idx) => {
                let elem = match self.checked.ty(base) {
                    Type::Slice(elem) => elem,
                    Type::Scalar(_) => unreachable!("indexing a scalar"),
                };
                let s = self.expr(base);
                let i = self.expr(idx);
                let h = self.helper("crucible_index");
                match elem {
                    Elem::U8 => format!("({h}({s}, {i}) as u32)"),
                    _ => format!("{h}({s}, {i})"),
                }
            }
            ExprKind::Call(Callee::Builtin(Builtin::Len), args) => {
                format!("({}.len() as u32)", self.expr(&args[0]))
            }
            ExprKind::Call(Callee::Builtin(b), args) => {
                let s = self.checked.scalar(&args[args.len() - 1]);
                let vals: Vec<String> = args.iter().map(|a| self.expr(a)).collect();
                self.builtin(*b, s, &vals)
            }
            ExprKind::Call(Callee::Func(name), args) => {
                let vals: Vec<String> = args.iter().map(|a| self.expr(a)).collect();
                format!("{}({})", ident(name), vals.join(", "))
            }
        }
    }

    fn binary(&mut self, op: BinOp, s: Scalar, x: String, y: String) -> String {
        use BinOp::*;
        if op.is_comparison() || matches!(op, And | Or | BitAnd | BitOr | BitXor) {
            // `&&` and `||` evaluate both sides in the language: `&` and `|` on bools.
            let sym = match op {
                And => "&",
                Or => "|",
                _ => op.symbol(),
            };
            return format!("({x} {sym} {y})");
        }
        if s.is_float() {
            return self.canon(s, format!("{x} {} {y}", op.symbol()));
        }
        match op {
            Add => format!("{x}.wrapping_add({y})"),
            Sub => format!("{x}.wrapping_sub({y})"),
            Mul => format!("{x}.wrapping_mul({y})"),
            // Shift counts are taken modulo the width, as `wrapping_sh*` does.
            Shl => format!("{x}.wrapping_shl({y} as u32)"),
            Shr => format!("{x}.wrapping_shr({y} as u32)"),
            Div | Rem => {
                let h = match (op, s) {
                    (Div, Scalar::I32) => "crucible_div_i32",
                    (Div, Scalar::I64) => "crucible_div_i64",
                    (Div, Scalar::U32) => "crucible_div_u32",
                    (Div, _) => "crucible_div_u64",
                    (_, Scalar::I32) => "crucible_rem_i32",
                    (_, Scalar::I64) => "crucible_rem_i64",
                    (_, Scalar::U32) => "crucible_rem_u32",
                    _ => "crucible_rem_u64",
                };
                let h = self.helper(h);
                format!("{h}({x}, {y})")
            }
            _ => unreachable!("ill-typed {op:?} on {s}"),
        }
    }

    fn builtin(&mut self, b: Builtin, s: Scalar, a: &[String]) -> String {
        use Builtin::*;
        let x = &a[0];
        let f32 = s == Scalar::F32;
        match b {
            Sqrt => self.canon(s, format!("{x}.sqrt()")),
            Floor => self.canon(s, format!("{x}.floor()")),
            Ceil => self.canon(s, format!("{x}.ceil()")),
            Trunc => self.canon(s, format!("{x}.trunc()")),
            Nearest => self.canon(s, format!("{x}.round_ties_even()")),
            Abs if s.is_float() => format!("{x}.abs()"),
            Abs if s.is_signed() => format!("{x}.wrapping_abs()"),
            Abs => x.clone(),
            Min | Max if s.is_float() => {
                let h = match (b, f32) {
                    (Min, true) => "crucible_fmin_f32",
                    (Min, false) => "crucible_fmin_f64",
                    (_, true) => "crucible_fmax_f32",
                    (_, false) => "crucible_fmax_f64",
                };
                let h = self.helper(h);
                format!("{h}({x}, {})", a[1])
            }
            Min => format!("{x}.min({})", a[1]),
            Max => format!("{x}.max({})", a[1]),
            Copysign => format!("{x}.copysign({})", a[1]),
            Rotl | Rotr => {
                let method = if b == Rotl {
                    "rotate_left"
                } else {
                    "rotate_right"
                };
                let count = if s.bits() == 32 {
                    format!("({} as u32 % 32)", a[1])
                } else {
                    format!("(({} as u64 % 64) as u32)", a[1])
                };
                format!("{x}.{method}{count}")
            }
            Clz => format!("({x}.leading_zeros() as {s})"),
            Ctz => format!("({x}.trailing_zeros() as {s})"),
            Popcnt => format!("({x}.count_ones() as {s})"),
            Select => {
                let h = self.helper("crucible_select");
                format!("{h}({x}, {}, {})", a[1], a[2])
            }
            F32FromBits => format!("f32::from_bits({x})"),
            F64FromBits => format!("f64::from_bits({x})"),
            F32ToBits | F64ToBits => format!("{x}.to_bits()"),
            Len => unreachable!("handled by the caller"),
        }
    }
}

// The canonical NaNs the helpers hard-code.
const _: () =
    assert!(CANONICAL_NAN_F32 == 0x7fc0_0000 && CANONICAL_NAN_F64 == 0x7ff8_0000_0000_0000);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile_text;

    #[test]
    fn exports_readable_rust() {
        let c = compile_text(
            "fn f(s: [u8], x: f64) -> f64 { let acc = 0u32; for i in 0..len(s) { acc = acc * 31 + s[i]; } return acc as f64 / x; }",
        )
        .unwrap();
        let out = rust(
            &c,
            &ExportOptions {
                header: "task: demo".into(),
            },
        );
        assert!(out.starts_with("// task: demo\n"), "{out}");
        assert!(
            out.contains("pub fn f(s: &[u8], mut x: f64) -> f64 {"),
            "{out}"
        );
        assert!(
            out.contains("    for i in 0u32..(s.len() as u32) {"),
            "{out}"
        );
        assert!(
            out.contains(
                "acc = acc.wrapping_mul(31u32).wrapping_add((crucible_index(s, i) as u32));"
            ),
            "{out}"
        );
        assert!(
            out.contains("return crucible_canon_f64((acc as f64) / x);"),
            "{out}"
        );
        assert!(out.contains("fn crucible_canon_f64"), "{out}");
        assert!(
            !out.contains("fn crucible_div_i32"),
            "only used helpers: {out}"
        );
    }

    #[test]
    fn literals_are_exact() {
        assert_eq!(literal(Value::I32(i32::MIN)), "i32::MIN");
        assert_eq!(literal(Value::I64(-5)), "(-5i64)");
        assert_eq!(literal(Value::F64(-0.0)), "(-0.0f64)");
        assert_eq!(
            literal(Value::F32(f32::from_bits(CANONICAL_NAN_F32))),
            "f32::from_bits(0x7fc00000)"
        );
        assert_eq!(literal(Value::F64(0.1)), "0.1f64");
        assert_eq!(
            literal(Value::U64(0x9E37_79B9_7F4A_7C15)),
            "0x9e3779b97f4a7c15u64"
        );
        assert_eq!(ident("type"), "r#type");
        assert_eq!(ident("self"), "self_");
    }
}
