//! Export to plain Rust ([`rust`]) and C99 ([`c`]): one dependency-free
//! function per program function, with the candidate language's semantics
//! spelled out.
//!
//! The output needs nothing but `std`: operations Rust leaves partial or
//! different (division by zero, `MIN / -1`, NaN payloads, `min`/`max` on
//! floats, out-of-range indexing) go through small helper functions, named
//! `crucible_*` (a prefix the checker reserves, so they cannot clash with
//! program functions), emitted once after the program's functions and only
//! if used. Everything else maps onto Rust's own wrapping and saturating
//! operations. The C export follows the same plan with `static inline`
//! helpers, computing integer arithmetic in unsigned types. Tests compile
//! exported programs with `rustc` and `cc` and compare them with the
//! interpreter (`tests/all/export.rs`).

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

/// Each line of the header text as a `//` line.
fn header_comment(options: &ExportOptions) -> String {
    let mut out = String::new();
    for line in options.header.lines() {
        if line.is_empty() {
            out.push_str("//\n");
        } else {
            let _ = writeln!(out, "// {line}");
        }
    }
    out
}

/// `(x op y)`, in both targets' syntax. `&&` and `||` evaluate both sides
/// in the language: `&` and `|` on bools.
fn infix(op: BinOp, x: &str, y: &str) -> String {
    let sym = match op {
        BinOp::And => "&",
        BinOp::Or => "|",
        _ => op.symbol(),
    };
    format!("({x} {sym} {y})")
}

/// A target language: its syntax for what the shared walk over statements
/// and expressions ([`Target::block_body`], [`Target::expr`]) meets.
trait Target {
    fn checked(&self) -> &CheckedProgram;
    fn out(&mut self) -> &mut String;
    /// A candidate identifier in the target language.
    fn ident(name: &str) -> String;
    /// The declaration of a mutable local.
    fn let_stmt(name: &str, ty: Scalar, init: &str) -> String;
    /// The line opening an `if`, up to its `{`.
    fn if_head(cond: &str) -> String;
    /// A whole `for` loop, its body written by [`Target::block_body`].
    fn for_loop(&mut self, var: &str, start: &Expr, end: &Expr, body: &Block, depth: usize);
    fn lit(&mut self, v: Value) -> String;
    fn unary(&mut self, op: UnOp, s: Scalar, x: String) -> String;
    fn binary(&mut self, op: BinOp, s: Scalar, x: String, y: String) -> String;
    fn cast(&mut self, from: Scalar, to: Scalar, x: String) -> String;
    fn index(&mut self, elem: Elem, base: &Expr, idx: &Expr) -> String;
    fn len(&mut self, slice: &Expr) -> String;
    /// A builtin other than `len`, on its evaluated arguments.
    fn builtin(&mut self, b: Builtin, s: Scalar, a: &[String]) -> String;
    fn call(&mut self, name: &str, args: &[Expr]) -> String;

    fn line(&mut self, depth: usize, text: &str) {
        let out = self.out();
        for _ in 0..depth {
            out.push_str("    ");
        }
        out.push_str(text);
        out.push('\n');
    }

    fn block_body(&mut self, b: &Block, depth: usize) {
        for s in &b.stmts {
            match &s.kind {
                StmtKind::Let { name, init, .. } => {
                    let ty = self.checked().scalar(init);
                    let e = self.expr(init);
                    self.line(depth, &Self::let_stmt(name, ty, &e));
                }
                StmtKind::Assign { name, value } => {
                    let e = self.expr(value);
                    self.line(depth, &format!("{} = {};", Self::ident(name), e));
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
                    self.line(depth, &Self::if_head(&c));
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
                } => self.for_loop(var, start, end, body, depth),
            }
        }
    }

    /// An expression as an atomic expression of the target (a literal, a
    /// name, a call or something in parentheses) of exactly its scalar's
    /// type; in Rust, it can take a method call.
    fn expr(&mut self, e: &Expr) -> String {
        match &e.kind {
            ExprKind::Lit(lit) => {
                let v = crate::interp::lit_value(*lit, self.checked().scalar(e));
                self.lit(v)
            }
            ExprKind::Var(name) => Self::ident(name),
            ExprKind::Unary(op, a) => {
                let s = self.checked().scalar(a);
                let x = self.expr(a);
                self.unary(*op, s, x)
            }
            ExprKind::Binary(op, a, b) => {
                let s = self.checked().scalar(a);
                let x = self.expr(a);
                let y = self.expr(b);
                self.binary(*op, s, x, y)
            }
            ExprKind::Cast(a, to) => {
                let from = self.checked().scalar(a);
                let x = self.expr(a);
                self.cast(from, *to, x)
            }
            ExprKind::Index(base, idx) => {
                let elem = match self.checked().ty(base) {
                    Type::Slice(elem) => elem,
                    Type::Scalar(_) => unreachable!("indexing a scalar"),
                };
                self.index(elem, base, idx)
            }
            ExprKind::Call(Callee::Builtin(Builtin::Len), args) => self.len(&args[0]),
            ExprKind::Call(Callee::Builtin(b), args) => {
                let s = self.checked().scalar(&args[args.len() - 1]);
                let vals: Vec<String> = args.iter().map(|a| self.expr(a)).collect();
                self.builtin(*b, s, &vals)
            }
            ExprKind::Call(Callee::Func(name), args) => self.call(name, args),
        }
    }
}

/// Exports every function of the program as Rust source.
///
/// Functions keep their names (Rust keywords become raw identifiers) and
/// signatures: scalars map to the Rust type of the same name, `[T]`
/// parameters to `&[T]`.
pub fn rust(checked: &CheckedProgram, options: &ExportOptions) -> String {
    let mut out = header_comment(options);
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

    fn canon(&mut self, s: Scalar, e: String) -> String {
        let h = match s {
            Scalar::F32 => self.helper("crucible_canon_f32"),
            _ => self.helper("crucible_canon_f64"),
        };
        format!("{h}({e})")
    }
}

impl Target for Exporter<'_> {
    fn checked(&self) -> &CheckedProgram {
        self.checked
    }

    fn out(&mut self) -> &mut String {
        &mut self.out
    }

    fn ident(name: &str) -> String {
        ident(name)
    }

    fn let_stmt(name: &str, ty: Scalar, init: &str) -> String {
        format!("let mut {}: {} = {};", ident(name), ty.name(), init)
    }

    fn if_head(cond: &str) -> String {
        format!("if {cond} {{")
    }

    fn for_loop(&mut self, var: &str, start: &Expr, end: &Expr, body: &Block, depth: usize) {
        // `start..end` evaluates both bounds once, runs while the
        // variable is below `end` and never overflows: the
        // language's loop exactly.
        let a = self.expr(start);
        let b = self.expr(end);
        self.line(depth, &format!("for {} in {a}..{b} {{", ident(var)));
        self.block_body(body, depth + 1);
        self.line(depth, "}");
    }

    fn lit(&mut self, v: Value) -> String {
        literal(v)
    }

    fn unary(&mut self, op: UnOp, s: Scalar, x: String) -> String {
        match op {
            UnOp::Neg if s.is_float() => format!("(-{x})"),
            UnOp::Neg => format!("{x}.wrapping_neg()"),
            UnOp::Not => format!("(!{x})"),
        }
    }

    fn cast(&mut self, from: Scalar, to: Scalar, x: String) -> String {
        match (from, to) {
            _ if from == to => x,
            (Scalar::Bool, Scalar::F32 | Scalar::F64) => format!("(({x} as u32) as {to})"),
            (Scalar::F32, Scalar::F64) | (Scalar::F64, Scalar::F32) => {
                self.canon(to, format!("{x} as {to}"))
            }
            // Rust's `as` wraps integers, rounds to nearest into
            // floats, and saturates floats into integers (NaN to 0).
            _ => format!("({x} as {to})"),
        }
    }

    fn index(&mut self, elem: Elem, base: &Expr, idx: &Expr) -> String {
        let s = self.expr(base);
        let i = self.expr(idx);
        let h = self.helper("crucible_index");
        match elem {
            Elem::U8 => format!("({h}({s}, {i}) as u32)"),
            _ => format!("{h}({s}, {i})"),
        }
    }

    fn len(&mut self, slice: &Expr) -> String {
        format!("({}.len() as u32)", self.expr(slice))
    }

    fn call(&mut self, name: &str, args: &[Expr]) -> String {
        let vals: Vec<String> = args.iter().map(|a| self.expr(a)).collect();
        format!("{}({})", ident(name), vals.join(", "))
    }

    fn binary(&mut self, op: BinOp, s: Scalar, x: String, y: String) -> String {
        use BinOp::*;
        if op.is_comparison() || matches!(op, And | Or | BitAnd | BitOr | BitXor) {
            return infix(op, &x, &y);
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

/// Exports every function of the program as C99 source.
///
/// The output includes only `<stdbool.h>`, `<stddef.h>`, `<stdint.h>`,
/// `<string.h>` and `<math.h>` (link with `-lm`). Scalars map to
/// `int32_t`, `int64_t`, `uint32_t`, `uint64_t`, `float`, `double` and
/// `bool`; a `[T]` parameter `s` becomes two parameters, `const T *s` and
/// `size_t s_len`. Functions keep their names unless C or its standard
/// headers claim them (`exp` becomes `exp_`).
///
/// Integer arithmetic runs on unsigned types, where C defines wrapping;
/// converting the result back to a signed type relies on the two's-complement
/// conversion every mainstream compiler implements (implementation-defined in
/// C99). Float results are canonicalised on their bits (via `memcpy`), as in
/// the interpreter. Compile without `-ffast-math` and without floating-point
/// contraction (`-std=c99` turns GCC's off), on a target where `float`
/// arithmetic is evaluated in `float` (`FLT_EVAL_METHOD == 0`, as on x86-64
/// and AArch64).
pub fn c(checked: &CheckedProgram, options: &ExportOptions) -> String {
    let mut out = header_comment(options);
    out.push_str(
        "// Exported by crucible: the candidate language's semantics in C99 \
         (wrapping integers, total division and indexing, canonical NaNs).\n\
         // Compile without -ffast-math and with floating-point contraction off (-std=c99 does so for GCC).\n\n",
    );
    out.push_str(
        "#include <math.h>\n#include <stdbool.h>\n#include <stddef.h>\n#include <stdint.h>\n#include <string.h>\n\n\
         #pragma STDC FP_CONTRACT OFF\n\n",
    );
    let funcs = &checked.program().funcs;
    let mut helpers = BTreeSet::new();
    let mut bodies = String::new();
    for func in funcs {
        let _ = writeln!(out, "{};", c_signature(func));
        let mut ex = CExporter {
            checked,
            out: String::new(),
            helpers: &mut helpers,
            lens: Default::default(),
            n_loops: 0,
        };
        ex.function(func);
        bodies.push('\n');
        bodies.push_str(&ex.out);
    }
    // Helpers that others call come first: bit moves, then canonicalisation.
    let mut all: BTreeSet<(u8, String)> = BTreeSet::new();
    for h in &helpers {
        for name in c_helper_deps(h).into_iter().chain([h.as_str()]) {
            let rank = if name.contains("bits") {
                0
            } else if name.contains("canon") {
                1
            } else {
                2
            };
            all.insert((rank, name.to_string()));
        }
    }
    for (_, h) in &all {
        out.push('\n');
        out.push_str(&c_helper_source(h));
    }
    out.push_str(&bodies);
    out
}

/// C keywords and names the included standard headers declare, which a
/// candidate identifier may spell.
const C_RESERVED: &[&str] = &[
    "auto",
    "break",
    "case",
    "char",
    "const",
    "continue",
    "default",
    "do",
    "double",
    "else",
    "enum",
    "extern",
    "float",
    "for",
    "goto",
    "if",
    "inline",
    "int",
    "long",
    "register",
    "restrict",
    "return",
    "short",
    "signed",
    "sizeof",
    "static",
    "struct",
    "switch",
    "typedef",
    "union",
    "unsigned",
    "void",
    "volatile",
    "while",
    "bool",
    "true",
    "false",
    "NULL",
    "main",
    "size_t",
    "ptrdiff_t",
    "wchar_t",
    "offsetof",
    "errno",
    "memcpy",
    "memmove",
    "memset",
    "memcmp",
    "memchr",
    "strlen",
    "strcmp",
    "strcpy",
    "strncpy",
    "strcat",
    "strchr",
    "strstr",
    "strtok",
    "strerror",
    "NAN",
    "INFINITY",
    "HUGE_VAL",
    "HUGE_VALF",
    "isnan",
    "isinf",
    "isfinite",
    "isnormal",
    "signbit",
    "fpclassify",
    "isgreater",
    "isless",
    "isunordered",
    "acos",
    "asin",
    "atan",
    "atan2",
    "cos",
    "sin",
    "tan",
    "acosh",
    "asinh",
    "atanh",
    "cosh",
    "sinh",
    "tanh",
    "exp",
    "exp2",
    "expm1",
    "frexp",
    "ilogb",
    "ldexp",
    "log",
    "log10",
    "log1p",
    "log2",
    "logb",
    "modf",
    "scalbn",
    "scalbln",
    "cbrt",
    "fabs",
    "hypot",
    "pow",
    "sqrt",
    "erf",
    "erfc",
    "lgamma",
    "tgamma",
    "ceil",
    "floor",
    "nearbyint",
    "rint",
    "lrint",
    "llrint",
    "round",
    "lround",
    "llround",
    "trunc",
    "fmod",
    "remainder",
    "remquo",
    "copysign",
    "nan",
    "nextafter",
    "nexttoward",
    "fdim",
    "fmax",
    "fmin",
    "fma",
];

/// A candidate identifier as a C identifier.
fn c_ident(name: &str) -> String {
    let base = name
        .strip_suffix('f')
        .or_else(|| name.strip_suffix('l'))
        .filter(|b| C_RESERVED.contains(b) && b.chars().all(|c| c.is_ascii_lowercase()));
    if C_RESERVED.contains(&name)
        || base.is_some()
        || name.ends_with("_t")
        || name.starts_with("INT")
        || name.starts_with("UINT")
    {
        format!("{name}_")
    } else if name.starts_with("__")
        || name.starts_with("_") && name[1..].starts_with(|c: char| c.is_ascii_uppercase())
    {
        // Reserved for the implementation.
        format!("v{name}")
    } else if name.starts_with("crucible_") {
        format!("v_{name}")
    } else {
        name.to_string()
    }
}

fn c_scalar(s: Scalar) -> &'static str {
    match s {
        Scalar::I32 => "int32_t",
        Scalar::I64 => "int64_t",
        Scalar::U32 => "uint32_t",
        Scalar::U64 => "uint64_t",
        Scalar::F32 => "float",
        Scalar::F64 => "double",
        Scalar::Bool => "bool",
    }
}

fn c_elem(e: Elem) -> &'static str {
    match e {
        Elem::U8 => "uint8_t",
        Elem::U32 => "uint32_t",
        Elem::U64 => "uint64_t",
        Elem::I32 => "int32_t",
        Elem::I64 => "int64_t",
        Elem::F32 => "float",
        Elem::F64 => "double",
    }
}

/// The names a function declares (parameters, `let`s, loop variables).
fn declared_names(func: &Function) -> BTreeSet<String> {
    fn block(b: &Block, names: &mut BTreeSet<String>) {
        for s in &b.stmts {
            match &s.kind {
                StmtKind::Let { name, .. } => {
                    names.insert(name.clone());
                }
                StmtKind::If {
                    then_block,
                    else_block,
                    ..
                } => {
                    block(then_block, names);
                    if let Some(eb) = else_block {
                        block(eb, names);
                    }
                }
                StmtKind::For { var, body, .. } => {
                    names.insert(var.clone());
                    block(body, names);
                }
                StmtKind::Assign { .. } | StmtKind::Return(_) => {}
            }
        }
    }
    let mut names: BTreeSet<String> = func.params.iter().map(|p| p.name.clone()).collect();
    block(&func.body, &mut names);
    names
}

/// The C name of the length parameter of slice parameter `name`: `name_len`,
/// unless the function already uses that name.
fn c_len_name(name: &str, declared: &BTreeSet<String>) -> String {
    let len = format!("{name}_len");
    if declared.contains(&len) {
        format!("crucible_len_{name}")
    } else {
        c_ident(&len)
    }
}

fn c_signature(func: &Function) -> String {
    let declared = declared_names(func);
    let params: Vec<String> = func
        .params
        .iter()
        .map(|p| match p.ty {
            Type::Scalar(s) => format!("{} {}", c_scalar(s), c_ident(&p.name)),
            Type::Slice(e) => format!(
                "const {} *{}, size_t {}",
                c_elem(e),
                c_ident(&p.name),
                c_len_name(&p.name, &declared)
            ),
        })
        .collect();
    let params = if params.is_empty() {
        "void".to_string()
    } else {
        params.join(", ")
    };
    format!("{} {}({params})", c_scalar(func.ret), c_ident(&func.name))
}

/// A literal as an atomic C expression of exactly this value and type.
fn c_literal(v: Value) -> String {
    match v {
        Value::I32(i32::MIN) => "INT32_MIN".into(),
        Value::I64(i64::MIN) => "INT64_MIN".into(),
        Value::I32(x) if x < 0 => format!("(-{})", -(x as i64)),
        Value::I64(x) if x < 0 => format!("(-INT64_C({}))", -(x as i128)),
        Value::I32(x) => x.to_string(),
        Value::I64(x) => format!("INT64_C({x})"),
        Value::U32(x) if x > 0xffff => format!("{x:#x}u"),
        Value::U64(x) if x > 0xffff => format!("UINT64_C({x:#x})"),
        Value::U32(x) => format!("{x}u"),
        Value::U64(x) => format!("UINT64_C({x})"),
        Value::Bool(x) => x.to_string(),
        Value::F32(x) if !x.is_finite() => {
            format!("crucible_from_bits_f32({:#x}u)", x.to_bits())
        }
        Value::F64(x) if !x.is_finite() => {
            format!("crucible_from_bits_f64(UINT64_C({:#x}))", x.to_bits())
        }
        // `{:?}` prints the shortest text that reads back to the same bits,
        // and C compilers round decimal literals correctly.
        Value::F32(x) if x.is_sign_negative() => format!("(-{:?}f)", -x),
        Value::F64(x) if x.is_sign_negative() => format!("(-{:?})", -x),
        Value::F32(x) => format!("{x:?}f"),
        Value::F64(x) => format!("{x:?}"),
    }
}

/// The helpers a C helper calls.
fn c_helper_deps(name: &str) -> Vec<&'static str> {
    let f32 = name.ends_with("f32");
    let (bits, from_bits, canon) = if f32 {
        (
            "crucible_bits_f32",
            "crucible_from_bits_f32",
            "crucible_canon_f32",
        )
    } else {
        (
            "crucible_bits_f64",
            "crucible_from_bits_f64",
            "crucible_canon_f64",
        )
    };
    let float_op = [
        "sqrt", "floor", "ceil", "trunc", "nearest", "fmin", "fmax", "abs_f",
    ]
    .iter()
    .any(|op| name.starts_with(&format!("crucible_{op}")));
    if name.starts_with("crucible_canon") {
        vec![bits, from_bits]
    } else if float_op {
        vec![canon, bits, from_bits]
    } else {
        Vec::new()
    }
}

/// The source of a C helper, from its name (`crucible_<op>_<type>`).
fn c_helper_source(name: &str) -> String {
    let (op, ty) = name
        .strip_prefix("crucible_")
        .and_then(|rest| rest.rsplit_once('_'))
        .expect("helper names are crucible_<op>_<type>");
    let t = match ty {
        "i32" => "int32_t",
        "i64" => "int64_t",
        "u32" => "uint32_t",
        "u64" => "uint64_t",
        "f32" => "float",
        "f64" => "double",
        "u8" => "uint8_t",
        other => unreachable!("helper type {other}"),
    };
    let wide = ty.ends_with("64");
    let bits = if wide { 64 } else { 32 };
    let ut = if wide { "uint64_t" } else { "uint32_t" };
    // The math.h function for a float type: `sqrtf` for f32, `sqrt` for f64.
    let m = |f: &str| {
        if ty == "f32" {
            format!("{f}f")
        } else {
            f.to_string()
        }
    };
    match op {
        "bits" => format!(
            "static inline {ut} crucible_bits_{ty}({t} v) {{\n    {ut} b;\n    memcpy(&b, &v, sizeof b);\n    return b;\n}}\n"
        ),
        "from_bits" => format!(
            "static inline {t} crucible_from_bits_{ty}({ut} b) {{\n    {t} v;\n    memcpy(&v, &b, sizeof v);\n    return v;\n}}\n"
        ),
        "canon" => {
            let (abs, inf, nan) = if wide {
                (
                    "UINT64_C(0x7fffffffffffffff)",
                    "UINT64_C(0x7ff0000000000000)",
                    "UINT64_C(0x7ff8000000000000)",
                )
            } else {
                ("0x7fffffffu", "0x7f800000u", "0x7fc00000u")
            };
            format!(
                "/* Replaces any NaN by the canonical quiet NaN, tested on the bits. */\n\
                 static inline {t} crucible_canon_{ty}({t} v) {{\n    {ut} b = crucible_bits_{ty}(v);\n    \
                 return (b & {abs}) > {inf} ? crucible_from_bits_{ty}({nan}) : v;\n}}\n"
            )
        }
        "sqrt" | "floor" | "ceil" | "trunc" => format!(
            "static inline {t} crucible_{op}_{ty}({t} x) {{\n    return crucible_canon_{ty}({}(x));\n}}\n",
            m(op)
        ),
        "nearest" => format!(
            "/* Round half to even (the default rounding mode). */\n\
             static inline {t} crucible_nearest_{ty}({t} x) {{\n    return crucible_canon_{ty}({}(x));\n}}\n",
            m("nearbyint")
        ),
        "copysign" => format!(
            "static inline {t} crucible_copysign_{ty}({t} a, {t} b) {{\n    return {}(a, b);\n}}\n",
            m("copysign")
        ),
        "abs" if ty.starts_with('f') => {
            let mask = if wide {
                "UINT64_C(0x7fffffffffffffff)"
            } else {
                "0x7fffffffu"
            };
            format!(
                "/* Clears the sign bit (NaN payloads pass through). */\n\
                 static inline {t} crucible_abs_{ty}({t} x) {{\n    return crucible_from_bits_{ty}(crucible_bits_{ty}(x) & {mask});\n}}\n"
            )
        }
        "abs" => format!(
            "static inline {t} crucible_abs_{ty}({t} x) {{\n    return ({t})(x < 0 ? ({ut})0 - ({ut})x : ({ut})x);\n}}\n"
        ),
        "fmin" | "fmax" => {
            let (cmp, neg_pick, pos_pick) = if op == "fmin" {
                ("<", "a", "b")
            } else {
                (">", "b", "a")
            };
            format!(
                "/* Wasm's `{op}`: NaN if either side is NaN, and -0.0 < +0.0. */\n\
                 static inline {t} crucible_{op}_{ty}({t} a, {t} b) {{\n    \
                 if (a != a || b != b) {{\n        return crucible_canon_{ty}(crucible_from_bits_{ty}({}));\n    }}\n    \
                 if (a == b) {{\n        return (crucible_bits_{ty}(a) >> {}) ? {neg_pick} : {pos_pick};\n    }}\n    \
                 return a {cmp} b ? a : b;\n}}\n",
                if wide {
                    "UINT64_C(0x7ff8000000000000)"
                } else {
                    "0x7fc00000u"
                },
                bits - 1
            )
        }
        "min" | "max" => {
            let cmp = if op == "min" { "<" } else { ">" };
            format!(
                "static inline {t} crucible_{op}_{ty}({t} a, {t} b) {{\n    return a {cmp} b ? a : b;\n}}\n"
            )
        }
        "div" | "rem" => {
            let sym = if op == "div" { "/" } else { "%" };
            let overflow = if ty.starts_with('i') {
                let min = if wide { "INT64_MIN" } else { "INT32_MIN" };
                let res = if op == "div" { "a" } else { "0" };
                format!("    if (a == {min} && b == -1) {{\n        return {res};\n    }}\n")
            } else {
                String::new()
            };
            format!(
                "/* `a {sym} b` made total: zero when `b` is zero, wrapping on overflow. */\n\
                 static inline {t} crucible_{op}_{ty}({t} a, {t} b) {{\n    if (b == 0) {{\n        return 0;\n    }}\n{overflow}    return a {sym} b;\n}}\n"
            )
        }
        "shr" => format!(
            "/* Arithmetic shift right, count modulo the width, without relying on C's `>>` of negative values. */\n\
             static inline {t} crucible_shr_{ty}({t} a, {t} b) {{\n    {ut} n = ({ut})b & {};\n    return a < 0 ? ~(~a >> n) : a >> n;\n}}\n",
            bits - 1
        ),
        "rotl" | "rotr" => {
            let (fwd, back) = if op == "rotl" {
                ("<<", ">>")
            } else {
                (">>", "<<")
            };
            format!(
                "static inline {t} crucible_{op}_{ty}({t} x, {t} n) {{\n    {ut} u = ({ut})x;\n    unsigned k = (unsigned)(({ut})n & {});\n    \
                 return ({t})(k == 0 ? u : (u {fwd} k) | (u {back} ({bits} - k)));\n}}\n",
                bits - 1
            )
        }
        "clz" => format!(
            "static inline {t} crucible_clz_{ty}({t} x) {{\n    {ut} u = ({ut})x;\n    {t} n = 0;\n    \
             while (n < {bits} && !(u >> ({bits} - 1))) {{\n        u <<= 1;\n        n++;\n    }}\n    return n;\n}}\n"
        ),
        "ctz" => format!(
            "static inline {t} crucible_ctz_{ty}({t} x) {{\n    {ut} u = ({ut})x;\n    {t} n = 0;\n    \
             while (n < {bits} && !(u & 1)) {{\n        u >>= 1;\n        n++;\n    }}\n    return n;\n}}\n"
        ),
        "popcnt" => format!(
            "static inline {t} crucible_popcnt_{ty}({t} x) {{\n    {ut} u = ({ut})x;\n    {t} n = 0;\n    \
             while (u) {{\n        u &= u - 1;\n        n++;\n    }}\n    return n;\n}}\n"
        ),
        "sat" => {
            // Saturating float -> integer conversion, NaN to 0 (Wasm's
            // `trunc_sat`); every `float` is exactly a `double`.
            let (lo, lo_val, hi, hi_val) = match ty {
                "i32" => ("-2147483649.0", "INT32_MIN", "2147483648.0", "INT32_MAX"),
                "i64" => (
                    "-9223372036854777856.0",
                    "INT64_MIN",
                    "9223372036854775808.0",
                    "INT64_MAX",
                ),
                "u32" => ("-1.0", "0", "4294967296.0", "UINT32_MAX"),
                _ => ("-1.0", "0", "18446744073709551616.0", "UINT64_MAX"),
            };
            format!(
                "/* `x as {ty}`: saturating, NaN to 0. */\n\
                 static inline {t} crucible_sat_{ty}(double x) {{\n    if (x != x) {{\n        return 0;\n    }}\n    \
                 if (x <= {lo}) {{\n        return {lo_val};\n    }}\n    if (x >= {hi}) {{\n        return {hi_val};\n    }}\n    \
                 return ({t})x;\n}}\n"
            )
        }
        "index" => format!(
            "/* `s[i]` made total: the index wraps around the length; an empty slice reads zero. */\n\
             static inline {t} crucible_index_{ty}(const {t} *s, size_t len, uint32_t i) {{\n    \
             return len == 0 ? 0 : s[(size_t)i % len];\n}}\n"
        ),
        other => unreachable!("unknown C helper {other}"),
    }
}

struct CExporter<'a> {
    checked: &'a CheckedProgram,
    out: String,
    helpers: &'a mut BTreeSet<String>,
    /// The length parameter of each slice parameter.
    lens: std::collections::BTreeMap<String, String>,
    n_loops: usize,
}

impl CExporter<'_> {
    fn helper(&mut self, op: &str, ty: &str) -> String {
        let name = format!("crucible_{op}_{ty}");
        self.helpers.insert(name.clone());
        name
    }

    fn function(&mut self, func: &Function) {
        let declared = declared_names(func);
        for p in &func.params {
            if let Type::Slice(_) = p.ty {
                self.lens
                    .insert(p.name.clone(), c_len_name(&p.name, &declared));
            }
        }
        self.line(0, &format!("{} {{", c_signature(func)));
        self.block_body(&func.body, 1);
        self.line(0, "}");
    }

    fn canon(&mut self, s: Scalar, e: String) -> String {
        let h = self.helper("canon", s.name());
        format!("{h}({e})")
    }

    /// A slice expression (always a parameter) as its pointer and length.
    fn slice(&mut self, e: &Expr) -> (String, String) {
        match &e.kind {
            ExprKind::Var(name) => (
                c_ident(name),
                self.lens
                    .get(name)
                    .cloned()
                    .unwrap_or_else(|| unreachable!("slice `{name}` is not a parameter")),
            ),
            _ => unreachable!("slices are parameters"),
        }
    }
}

impl Target for CExporter<'_> {
    fn checked(&self) -> &CheckedProgram {
        self.checked
    }

    fn out(&mut self) -> &mut String {
        &mut self.out
    }

    fn ident(name: &str) -> String {
        c_ident(name)
    }

    fn let_stmt(name: &str, ty: Scalar, init: &str) -> String {
        format!("{} {} = {};", c_scalar(ty), c_ident(name), init)
    }

    fn if_head(cond: &str) -> String {
        format!("if ({cond}) {{")
    }

    fn for_loop(&mut self, var: &str, start: &Expr, end: &Expr, body: &Block, depth: usize) {
        // Both bounds are evaluated once; the variable never
        // passes `end`, so `++` cannot overflow.
        let ty = c_scalar(self.checked.scalar(start));
        let a = self.expr(start);
        let b = self.expr(end);
        let end_name = format!("crucible_end{}", self.n_loops);
        self.n_loops += 1;
        let v = c_ident(var);
        self.line(depth, "{");
        self.line(depth + 1, &format!("const {ty} {end_name} = {b};"));
        self.line(
            depth + 1,
            &format!("for ({ty} {v} = {a}; {v} < {end_name}; {v}++) {{"),
        );
        self.block_body(body, depth + 2);
        self.line(depth + 1, "}");
        self.line(depth, "}");
    }

    fn lit(&mut self, v: Value) -> String {
        if let Value::F32(x) = v
            && !x.is_finite()
        {
            self.helper("from_bits", "f32");
        }
        if let Value::F64(x) = v
            && !x.is_finite()
        {
            self.helper("from_bits", "f64");
        }
        c_literal(v)
    }

    fn unary(&mut self, op: UnOp, s: Scalar, x: String) -> String {
        let (t, ut) = (c_scalar(s), unsigned_of(s));
        match op {
            UnOp::Neg if s.is_float() => format!("(-{x})"),
            UnOp::Neg => format!("(({t})(({ut})0 - ({ut}){x}))"),
            UnOp::Not if s == Scalar::Bool => format!("(!{x})"),
            UnOp::Not => format!("(({t})~{x})"),
        }
    }

    fn cast(&mut self, from: Scalar, to: Scalar, x: String) -> String {
        let t = c_scalar(to);
        match (from, to) {
            _ if from == to => x,
            (_, Scalar::F32 | Scalar::F64) if !from.is_float() => format!("(({t}){x})"),
            (_, Scalar::F32 | Scalar::F64) => self.canon(to, format!("({t}){x}")),
            (Scalar::F32 | Scalar::F64, _) => {
                let h = self.helper("sat", to.name());
                format!("{h}((double){x})")
            }
            // Integers (and bools) convert modulo 2^n through the unsigned type.
            _ if to.is_signed() => format!("(({t})({}){x})", unsigned_of(to)),
            _ => format!("(({t}){x})"),
        }
    }

    fn index(&mut self, elem: Elem, base: &Expr, idx: &Expr) -> String {
        let (s, len) = self.slice(base);
        let i = self.expr(idx);
        let h = self.helper("index", elem.name());
        match elem {
            Elem::U8 => format!("((uint32_t){h}({s}, {len}, {i}))"),
            _ => format!("{h}({s}, {len}, {i})"),
        }
    }

    fn len(&mut self, slice: &Expr) -> String {
        let (_, len) = self.slice(slice);
        format!("((uint32_t){len})")
    }

    fn call(&mut self, name: &str, args: &[Expr]) -> String {
        let mut vals = Vec::new();
        for a in args {
            match self.checked.ty(a) {
                Type::Slice(_) => {
                    let (s, len) = self.slice(a);
                    vals.push(s);
                    vals.push(len);
                }
                Type::Scalar(_) => vals.push(self.expr(a)),
            }
        }
        format!("{}({})", c_ident(name), vals.join(", "))
    }

    fn binary(&mut self, op: BinOp, s: Scalar, x: String, y: String) -> String {
        use BinOp::*;
        if op.is_comparison() || matches!(op, And | Or) || s == Scalar::Bool {
            return infix(op, &x, &y);
        }
        if s.is_float() {
            return self.canon(s, format!("{x} {} {y}", op.symbol()));
        }
        let (t, ut) = (c_scalar(s), unsigned_of(s));
        let mask = s.bits() - 1;
        match op {
            BitAnd | BitOr | BitXor => infix(op, &x, &y),
            // Wrapping: computed in the unsigned type, where C defines it.
            Add | Sub | Mul => format!("(({t})(({ut}){x} {} ({ut}){y}))", op.symbol()),
            Shl => format!("(({t})(({ut}){x} << (({ut}){y} & {mask}u)))"),
            Shr if s.is_signed() => {
                let h = self.helper("shr", s.name());
                format!("{h}({x}, {y})")
            }
            Shr => format!("({x} >> ({y} & {mask}u))"),
            Div | Rem => {
                let h = self.helper(if op == Div { "div" } else { "rem" }, s.name());
                format!("{h}({x}, {y})")
            }
            _ => unreachable!("ill-typed {op:?} on {s}"),
        }
    }

    fn builtin(&mut self, b: Builtin, s: Scalar, a: &[String]) -> String {
        use Builtin::*;
        let x = &a[0];
        let ty = s.name();
        let call = |this: &mut Self, op: &str| {
            let h = this.helper(op, ty);
            format!("{h}({})", a.join(", "))
        };
        match b {
            Sqrt => call(self, "sqrt"),
            Floor => call(self, "floor"),
            Ceil => call(self, "ceil"),
            Trunc => call(self, "trunc"),
            Nearest => call(self, "nearest"),
            Abs if s.is_float() || s.is_signed() => call(self, "abs"),
            Abs => x.clone(),
            Min if s.is_float() => call(self, "fmin"),
            Max if s.is_float() => call(self, "fmax"),
            Min => call(self, "min"),
            Max => call(self, "max"),
            Copysign => call(self, "copysign"),
            Rotl => call(self, "rotl"),
            Rotr => call(self, "rotr"),
            Clz => call(self, "clz"),
            Ctz => call(self, "ctz"),
            Popcnt => call(self, "popcnt"),
            // Both sides are pure and total, so evaluating one is the same.
            Select => format!("({x} ? {} : {})", a[1], a[2]),
            F32FromBits => format!("{}({x})", self.helper("from_bits", "f32")),
            F64FromBits => format!("{}({x})", self.helper("from_bits", "f64")),
            F32ToBits | F64ToBits => call(self, "bits"),
            Len => unreachable!("handled by the caller"),
        }
    }
}

/// The unsigned C type of the same width (`bool` converts through `uint32_t`).
fn unsigned_of(s: Scalar) -> &'static str {
    if s.bits() == 64 {
        "uint64_t"
    } else {
        "uint32_t"
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
