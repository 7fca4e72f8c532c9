//! Runtime values and the semantics of every operation on them.
//!
//! This module *is* the definition of the candidate language's arithmetic:
//! the reference interpreter calls it, and every backend is tested against it.
//! The rules (also in LANGUAGE.md):
//! - integer `+ - *`, negation and `abs` wrap;
//! - `x / 0 == 0`, `x % 0 == 0`, `MIN / -1 == MIN`, `MIN % -1 == 0`;
//! - shift and rotate counts are taken modulo the width;
//! - float operations that can make a NaN (`+ - * /`, `sqrt`, `min`, `max`,
//!   `floor`, `ceil`, `trunc`, `nearest`, `f32`↔`f64` casts) return the canonical
//!   quiet NaN (`0x7fc00000` / `0x7ff8000000000000`) whenever the result is NaN;
//!   `-x`, `abs`, `copysign`, `from_bits` and slice loads move bits unchanged;
//! - `min`/`max` on floats return NaN if either side is NaN and order `-0.0 < +0.0`;
//! - float→int casts saturate and map NaN to 0 (Rust's `as`, Wasm's `trunc_sat`).

use std::fmt;
use std::sync::Arc;

use crate::ir::{BinOp, Builtin, Elem, Scalar, UnOp};

/// A scalar value.
#[derive(Clone, Copy, Debug)]
pub enum Value {
    /// An `i32`.
    I32(i32),
    /// An `i64`.
    I64(i64),
    /// A `u32`.
    U32(u32),
    /// A `u64`.
    U64(u64),
    /// An `f32`.
    F32(f32),
    /// An `f64`.
    F64(f64),
    /// A `bool`.
    Bool(bool),
}

/// Values compare by type and bits, so NaN payloads and the sign of zero count.
impl PartialEq for Value {
    fn eq(&self, other: &Value) -> bool {
        self.ty() == other.ty() && self.to_bits() == other.to_bits()
    }
}

impl Eq for Value {}

impl Value {
    /// The value's type.
    pub fn ty(self) -> Scalar {
        match self {
            Value::I32(_) => Scalar::I32,
            Value::I64(_) => Scalar::I64,
            Value::U32(_) => Scalar::U32,
            Value::U64(_) => Scalar::U64,
            Value::F32(_) => Scalar::F32,
            Value::F64(_) => Scalar::F64,
            Value::Bool(_) => Scalar::Bool,
        }
    }

    /// The raw bits, zero-extended to 64 (the form probes and batches use).
    pub fn to_bits(self) -> u64 {
        match self {
            Value::I32(v) => v as u32 as u64,
            Value::I64(v) => v as u64,
            Value::U32(v) => v as u64,
            Value::U64(v) => v,
            Value::F32(v) => v.to_bits() as u64,
            Value::F64(v) => v.to_bits(),
            Value::Bool(v) => v as u64,
        }
    }

    /// The value of type `ty` whose bits are the low bits of `bits`.
    pub fn from_bits(ty: Scalar, bits: u64) -> Value {
        match ty {
            Scalar::I32 => Value::I32(bits as u32 as i32),
            Scalar::I64 => Value::I64(bits as i64),
            Scalar::U32 => Value::U32(bits as u32),
            Scalar::U64 => Value::U64(bits),
            Scalar::F32 => Value::F32(f32::from_bits(bits as u32)),
            Scalar::F64 => Value::F64(f64::from_bits(bits)),
            Scalar::Bool => Value::Bool(bits & 1 != 0),
        }
    }

    /// The zero of a type (`false` for `bool`).
    pub fn zero(ty: Scalar) -> Value {
        Value::from_bits(ty, 0)
    }

    /// The value as a `bool`.
    ///
    /// # Panics
    /// If it is not a `bool` (the checker rules that out).
    pub fn as_bool(self) -> bool {
        match self {
            Value::Bool(b) => b,
            other => panic!("expected bool, found {other:?}"),
        }
    }

    /// The value as an unsigned 64-bit integer (zero- or sign-extended), for loop counters.
    pub fn as_u64_lossy(self) -> u64 {
        match self {
            Value::I32(v) => v as i64 as u64,
            Value::I64(v) => v as u64,
            Value::U32(v) => v as u64,
            Value::U64(v) => v,
            _ => 0,
        }
    }

    /// Parses a value of type `ty` from a candidate-language literal (`-3`, `0xff`, `1.5`, `true`, `f64::NAN`).
    pub fn parse(ty: Scalar, text: &str) -> Option<Value> {
        let src = format!("fn f() -> {ty} {{ return {}; }}", text.trim());
        let program = crate::parser::parse(&src).ok()?;
        let checked = crate::check::check(&program).ok()?;
        let interp = crate::interp::Interpreter::new(&checked);
        let (fid, _) = checked.func("f")?;
        // Only literal forms are accepted, not arbitrary expressions.
        let e = match &checked.program().funcs[0].body.stmts[0].kind {
            crate::ir::StmtKind::Return(e) => e,
            _ => return None,
        };
        if !matches!(e.kind, crate::ir::ExprKind::Lit(_)) {
            return None;
        }
        interp.run(fid, &[], 1_000).ok().map(|r| r.value)
    }
}

/// Prints the value as a candidate-language literal with its type suffix.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Value::I32(v) => write!(f, "{v}i32"),
            Value::I64(v) => write!(f, "{v}i64"),
            Value::U32(v) => write!(f, "{v}u32"),
            Value::U64(v) => write!(f, "{v}u64"),
            Value::F32(v) if v.is_nan() => f.write_str("f32::NAN"),
            Value::F64(v) if v.is_nan() => f.write_str("f64::NAN"),
            Value::F32(v) if v.is_infinite() => f.write_str(if v > 0.0 {
                "f32::INFINITY"
            } else {
                "f32::NEG_INFINITY"
            }),
            Value::F64(v) if v.is_infinite() => f.write_str(if v > 0.0 {
                "f64::INFINITY"
            } else {
                "f64::NEG_INFINITY"
            }),
            Value::F32(v) => write!(f, "{v:?}f32"),
            Value::F64(v) => write!(f, "{v:?}f64"),
            Value::Bool(v) => write!(f, "{v}"),
        }
    }
}

/// A read-only slice argument.
#[derive(Clone, Debug, PartialEq)]
pub enum SliceData {
    /// `[u8]`
    U8(Arc<[u8]>),
    /// `[u32]`
    U32(Arc<[u32]>),
    /// `[u64]`
    U64(Arc<[u64]>),
    /// `[i32]`
    I32(Arc<[i32]>),
    /// `[i64]`
    I64(Arc<[i64]>),
    /// `[f32]`
    F32(Arc<[f32]>),
    /// `[f64]`
    F64(Arc<[f64]>),
}

impl SliceData {
    /// The element type.
    pub fn elem(&self) -> Elem {
        match self {
            SliceData::U8(_) => Elem::U8,
            SliceData::U32(_) => Elem::U32,
            SliceData::U64(_) => Elem::U64,
            SliceData::I32(_) => Elem::I32,
            SliceData::I64(_) => Elem::I64,
            SliceData::F32(_) => Elem::F32,
            SliceData::F64(_) => Elem::F64,
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            SliceData::U8(s) => s.len(),
            SliceData::U32(s) => s.len(),
            SliceData::U64(s) => s.len(),
            SliceData::I32(s) => s.len(),
            SliceData::I64(s) => s.len(),
            SliceData::F32(s) => s.len(),
            SliceData::F64(s) => s.len(),
        }
    }

    /// Whether it has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `s[i]` with the language's total indexing: the index is taken modulo
    /// the length, and an empty slice yields zero.
    pub fn index(&self, i: u32) -> Value {
        let n = self.len();
        if n == 0 {
            return Value::zero(self.elem().scalar());
        }
        let i = (i as usize) % n;
        match self {
            SliceData::U8(s) => Value::U32(s[i] as u32),
            SliceData::U32(s) => Value::U32(s[i]),
            SliceData::U64(s) => Value::U64(s[i]),
            SliceData::I32(s) => Value::I32(s[i]),
            SliceData::I64(s) => Value::I64(s[i]),
            SliceData::F32(s) => Value::F32(s[i]),
            SliceData::F64(s) => Value::F64(s[i]),
        }
    }

    /// The elements as little-endian bytes (the layout in Wasm memory).
    pub fn to_le_bytes(&self) -> Vec<u8> {
        match self {
            SliceData::U8(s) => s.to_vec(),
            SliceData::U32(s) => s.iter().flat_map(|v| v.to_le_bytes()).collect(),
            SliceData::U64(s) => s.iter().flat_map(|v| v.to_le_bytes()).collect(),
            SliceData::I32(s) => s.iter().flat_map(|v| v.to_le_bytes()).collect(),
            SliceData::I64(s) => s.iter().flat_map(|v| v.to_le_bytes()).collect(),
            SliceData::F32(s) => s.iter().flat_map(|v| v.to_le_bytes()).collect(),
            SliceData::F64(s) => s.iter().flat_map(|v| v.to_le_bytes()).collect(),
        }
    }
}

/// An argument to an entry function.
#[derive(Clone, Debug, PartialEq)]
pub enum Arg {
    /// A scalar.
    Scalar(Value),
    /// A slice.
    Slice(SliceData),
}

impl From<Value> for Arg {
    fn from(v: Value) -> Arg {
        Arg::Scalar(v)
    }
}

/// The canonical quiet NaN of `f32`.
pub const CANONICAL_NAN_F32: u32 = 0x7fc0_0000;
/// The canonical quiet NaN of `f64`.
pub const CANONICAL_NAN_F64: u64 = 0x7ff8_0000_0000_0000;

/// Replaces any NaN by the canonical NaN.
///
/// The test and the replacement work on the bits: LLVM treats NaN payloads as
/// unobservable in float code (Rust RFC 3514), so a float-typed
/// `if v.is_nan() { NAN } else { v }` may legally be folded to `v`.
pub fn canon32(v: f32) -> f32 {
    let bits = v.to_bits();
    let nan = bits & 0x7fff_ffff > 0x7f80_0000;
    f32::from_bits(if nan { CANONICAL_NAN_F32 } else { bits })
}

/// Replaces any NaN by the canonical NaN (on the bits; see [`canon32`]).
pub fn canon64(v: f64) -> f64 {
    let bits = v.to_bits();
    let nan = bits & 0x7fff_ffff_ffff_ffff > 0x7ff0_0000_0000_0000;
    f64::from_bits(if nan { CANONICAL_NAN_F64 } else { bits })
}

macro_rules! float_minmax {
    ($name:ident, $t:ty, $canon:ident, $is_min:expr) => {
        fn $name(a: $t, b: $t) -> $t {
            if a.is_nan() || b.is_nan() {
                return $canon(<$t>::NAN);
            }
            if a == b {
                // Equal values: only the zeros differ, by sign.
                return if $is_min {
                    if a.is_sign_negative() { a } else { b }
                } else if a.is_sign_negative() {
                    b
                } else {
                    a
                };
            }
            if $is_min == (a < b) { a } else { b }
        }
    };
}
float_minmax!(fmin32, f32, canon32, true);
float_minmax!(fmax32, f32, canon32, false);
float_minmax!(fmin64, f64, canon64, true);
float_minmax!(fmax64, f64, canon64, false);

macro_rules! int_binop {
    ($op:expr, $a:expr, $b:expr, $t:ty, $signed:expr) => {{
        let (a, b): ($t, $t) = ($a, $b);
        match $op {
            BinOp::Add => a.wrapping_add(b),
            BinOp::Sub => a.wrapping_sub(b),
            BinOp::Mul => a.wrapping_mul(b),
            BinOp::Div => {
                if b == 0 {
                    0
                } else {
                    a.wrapping_div(b)
                }
            }
            BinOp::Rem => {
                if b == 0 {
                    0
                } else {
                    a.wrapping_rem(b)
                }
            }
            BinOp::BitAnd => a & b,
            BinOp::BitOr => a | b,
            BinOp::BitXor => a ^ b,
            BinOp::Shl => a.wrapping_shl(b as u32),
            BinOp::Shr => a.wrapping_shr(b as u32),
            _ => unreachable!("not an arithmetic operator"),
        }
    }};
}

macro_rules! float_binop {
    ($op:expr, $a:expr, $b:expr, $canon:ident) => {{
        let (a, b) = ($a, $b);
        match $op {
            BinOp::Add => $canon(a + b),
            BinOp::Sub => $canon(a - b),
            BinOp::Mul => $canon(a * b),
            BinOp::Div => $canon(a / b),
            _ => unreachable!("not a float arithmetic operator"),
        }
    }};
}

/// Applies a binary operator to two values of the same type.
///
/// # Panics
/// On operand types the checker rules out.
pub fn binary(op: BinOp, a: Value, b: Value) -> Value {
    use Value::*;
    if op.is_comparison() {
        let ord = match (a, b) {
            (I32(x), I32(y)) => x.partial_cmp(&y),
            (I64(x), I64(y)) => x.partial_cmp(&y),
            (U32(x), U32(y)) => x.partial_cmp(&y),
            (U64(x), U64(y)) => x.partial_cmp(&y),
            (F32(x), F32(y)) => x.partial_cmp(&y),
            (F64(x), F64(y)) => x.partial_cmp(&y),
            (Bool(x), Bool(y)) => x.partial_cmp(&y),
            _ => panic!("ill-typed comparison {a:?} {b:?}"),
        };
        use std::cmp::Ordering::*;
        let r = match (op, ord) {
            (_, None) => op == BinOp::Ne,
            (BinOp::Eq, Some(o)) => o == Equal,
            (BinOp::Ne, Some(o)) => o != Equal,
            (BinOp::Lt, Some(o)) => o == Less,
            (BinOp::Le, Some(o)) => o != Greater,
            (BinOp::Gt, Some(o)) => o == Greater,
            (BinOp::Ge, Some(o)) => o != Less,
            _ => unreachable!(),
        };
        return Bool(r);
    }
    match (a, b) {
        (I32(x), I32(y)) => I32(int_binop!(op, x, y, i32, true)),
        (I64(x), I64(y)) => I64(int_binop!(op, x, y, i64, true)),
        (U32(x), U32(y)) => U32(int_binop!(op, x, y, u32, false)),
        (U64(x), U64(y)) => U64(int_binop!(op, x, y, u64, false)),
        (F32(x), F32(y)) => F32(float_binop!(op, x, y, canon32)),
        (F64(x), F64(y)) => F64(float_binop!(op, x, y, canon64)),
        (Bool(x), Bool(y)) => Bool(match op {
            BinOp::And | BinOp::BitAnd => x & y,
            BinOp::Or | BinOp::BitOr => x | y,
            BinOp::BitXor => x ^ y,
            _ => panic!("ill-typed bool operator {op:?}"),
        }),
        _ => panic!("ill-typed operands {a:?} {b:?}"),
    }
}

/// Applies a unary operator.
pub fn unary(op: UnOp, a: Value) -> Value {
    use Value::*;
    match (op, a) {
        (UnOp::Neg, I32(x)) => I32(x.wrapping_neg()),
        (UnOp::Neg, I64(x)) => I64(x.wrapping_neg()),
        (UnOp::Neg, U32(x)) => U32(x.wrapping_neg()),
        (UnOp::Neg, U64(x)) => U64(x.wrapping_neg()),
        (UnOp::Neg, F32(x)) => F32(-x),
        (UnOp::Neg, F64(x)) => F64(-x),
        (UnOp::Not, Bool(x)) => Bool(!x),
        (UnOp::Not, I32(x)) => I32(!x),
        (UnOp::Not, I64(x)) => I64(!x),
        (UnOp::Not, U32(x)) => U32(!x),
        (UnOp::Not, U64(x)) => U64(!x),
        _ => panic!("ill-typed unary {op:?} {a:?}"),
    }
}

/// `value as to`.
pub fn cast(v: Value, to: Scalar) -> Value {
    use Value::*;
    // Integers (and bools) go through i128, which holds every value exactly.
    let int: Option<i128> = match v {
        I32(x) => Some(x as i128),
        I64(x) => Some(x as i128),
        U32(x) => Some(x as i128),
        U64(x) => Some(x as i128),
        Bool(x) => Some(x as i128),
        _ => None,
    };
    match (int, v, to) {
        (_, _, Scalar::Bool) => match v {
            Bool(_) => v,
            _ => panic!("ill-typed cast to bool"),
        },
        (Some(i), _, Scalar::I32) => I32(i as i32),
        (Some(i), _, Scalar::I64) => I64(i as i64),
        (Some(i), _, Scalar::U32) => U32(i as u32),
        (Some(i), _, Scalar::U64) => U64(i as u64),
        // i128 -> float rounds once, to nearest even, like Wasm's convert.
        (Some(i), _, Scalar::F32) => F32(i as f32),
        (Some(i), _, Scalar::F64) => F64(i as f64),
        (None, F32(x), Scalar::F32) => F32(x),
        (None, F64(x), Scalar::F64) => F64(x),
        (None, F32(x), Scalar::F64) => F64(canon64(x as f64)),
        (None, F64(x), Scalar::F32) => F32(canon32(x as f32)),
        // Rust's float -> int `as` saturates and maps NaN to 0, like trunc_sat.
        (None, F32(x), Scalar::I32) => I32(x as i32),
        (None, F32(x), Scalar::I64) => I64(x as i64),
        (None, F32(x), Scalar::U32) => U32(x as u32),
        (None, F32(x), Scalar::U64) => U64(x as u64),
        (None, F64(x), Scalar::I32) => I32(x as i32),
        (None, F64(x), Scalar::I64) => I64(x as i64),
        (None, F64(x), Scalar::U32) => U32(x as u32),
        (None, F64(x), Scalar::U64) => U64(x as u64),
        _ => unreachable!("all casts covered"),
    }
}

/// Applies a scalar builtin (everything but `len`) to its arguments.
pub fn builtin(b: Builtin, args: &[Value]) -> Value {
    use Value::*;
    match (b, args) {
        (Builtin::Sqrt, [F32(x)]) => F32(canon32(x.sqrt())),
        (Builtin::Sqrt, [F64(x)]) => F64(canon64(x.sqrt())),
        (Builtin::Floor, [F32(x)]) => F32(canon32(x.floor())),
        (Builtin::Floor, [F64(x)]) => F64(canon64(x.floor())),
        (Builtin::Ceil, [F32(x)]) => F32(canon32(x.ceil())),
        (Builtin::Ceil, [F64(x)]) => F64(canon64(x.ceil())),
        (Builtin::Trunc, [F32(x)]) => F32(canon32(x.trunc())),
        (Builtin::Trunc, [F64(x)]) => F64(canon64(x.trunc())),
        (Builtin::Nearest, [F32(x)]) => F32(canon32(x.round_ties_even())),
        (Builtin::Nearest, [F64(x)]) => F64(canon64(x.round_ties_even())),
        (Builtin::Abs, [F32(x)]) => F32(x.abs()),
        (Builtin::Abs, [F64(x)]) => F64(x.abs()),
        (Builtin::Abs, [I32(x)]) => I32(x.wrapping_abs()),
        (Builtin::Abs, [I64(x)]) => I64(x.wrapping_abs()),
        (Builtin::Abs, [v @ (U32(_) | U64(_))]) => *v,
        (Builtin::Copysign, [F32(x), F32(y)]) => F32(x.copysign(*y)),
        (Builtin::Copysign, [F64(x), F64(y)]) => F64(x.copysign(*y)),
        (Builtin::Min, [F32(x), F32(y)]) => F32(fmin32(*x, *y)),
        (Builtin::Max, [F32(x), F32(y)]) => F32(fmax32(*x, *y)),
        (Builtin::Min, [F64(x), F64(y)]) => F64(fmin64(*x, *y)),
        (Builtin::Max, [F64(x), F64(y)]) => F64(fmax64(*x, *y)),
        (Builtin::Min, [a, b]) => {
            if binary(BinOp::Lt, *a, *b).as_bool() {
                *a
            } else {
                *b
            }
        }
        (Builtin::Max, [a, b]) => {
            if binary(BinOp::Gt, *a, *b).as_bool() {
                *a
            } else {
                *b
            }
        }
        (Builtin::Rotl, [I32(x), I32(n)]) => I32(x.rotate_left(*n as u32 % 32)),
        (Builtin::Rotl, [U32(x), U32(n)]) => U32(x.rotate_left(*n % 32)),
        (Builtin::Rotl, [I64(x), I64(n)]) => I64(x.rotate_left((*n as u64 % 64) as u32)),
        (Builtin::Rotl, [U64(x), U64(n)]) => U64(x.rotate_left((*n % 64) as u32)),
        (Builtin::Rotr, [I32(x), I32(n)]) => I32(x.rotate_right(*n as u32 % 32)),
        (Builtin::Rotr, [U32(x), U32(n)]) => U32(x.rotate_right(*n % 32)),
        (Builtin::Rotr, [I64(x), I64(n)]) => I64(x.rotate_right((*n as u64 % 64) as u32)),
        (Builtin::Rotr, [U64(x), U64(n)]) => U64(x.rotate_right((*n % 64) as u32)),
        (Builtin::Clz, [I32(x)]) => I32(x.leading_zeros() as i32),
        (Builtin::Clz, [U32(x)]) => U32(x.leading_zeros()),
        (Builtin::Clz, [I64(x)]) => I64(x.leading_zeros() as i64),
        (Builtin::Clz, [U64(x)]) => U64(x.leading_zeros() as u64),
        (Builtin::Ctz, [I32(x)]) => I32(x.trailing_zeros() as i32),
        (Builtin::Ctz, [U32(x)]) => U32(x.trailing_zeros()),
        (Builtin::Ctz, [I64(x)]) => I64(x.trailing_zeros() as i64),
        (Builtin::Ctz, [U64(x)]) => U64(x.trailing_zeros() as u64),
        (Builtin::Popcnt, [I32(x)]) => I32(x.count_ones() as i32),
        (Builtin::Popcnt, [U32(x)]) => U32(x.count_ones()),
        (Builtin::Popcnt, [I64(x)]) => I64(x.count_ones() as i64),
        (Builtin::Popcnt, [U64(x)]) => U64(x.count_ones() as u64),
        (Builtin::Select, [Bool(c), a, b]) => {
            if *c {
                *a
            } else {
                *b
            }
        }
        (Builtin::F32FromBits, [U32(x)]) => F32(f32::from_bits(*x)),
        (Builtin::F32ToBits, [F32(x)]) => U32(x.to_bits()),
        (Builtin::F64FromBits, [U64(x)]) => F64(f64::from_bits(*x)),
        (Builtin::F64ToBits, [F64(x)]) => U64(x.to_bits()),
        _ => panic!("ill-typed builtin {b:?} {args:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn division_is_total() {
        assert_eq!(
            binary(BinOp::Div, Value::I32(7), Value::I32(0)),
            Value::I32(0)
        );
        assert_eq!(
            binary(BinOp::Rem, Value::U64(7), Value::U64(0)),
            Value::U64(0)
        );
        assert_eq!(
            binary(BinOp::Div, Value::I32(i32::MIN), Value::I32(-1)),
            Value::I32(i32::MIN)
        );
        assert_eq!(
            binary(BinOp::Rem, Value::I64(i64::MIN), Value::I64(-1)),
            Value::I64(0)
        );
    }

    #[test]
    fn nan_is_canonical_after_arithmetic_but_not_after_bit_moves() {
        let odd = f32::from_bits(0x7fc0_0001);
        let r = binary(BinOp::Add, Value::F32(odd), Value::F32(1.0));
        assert_eq!(r.to_bits(), CANONICAL_NAN_F32 as u64);
        let n = unary(UnOp::Neg, Value::F32(odd));
        assert_eq!(n.to_bits(), 0xffc0_0001);
    }

    #[test]
    fn float_min_max_follow_wasm() {
        let m = builtin(Builtin::Min, &[Value::F64(0.0), Value::F64(-0.0)]);
        assert_eq!(m.to_bits(), (-0.0f64).to_bits());
        let m = builtin(Builtin::Max, &[Value::F64(-0.0), Value::F64(0.0)]);
        assert_eq!(m.to_bits(), 0.0f64.to_bits());
        let m = builtin(Builtin::Min, &[Value::F64(f64::NAN), Value::F64(1.0)]);
        assert_eq!(m.to_bits(), CANONICAL_NAN_F64);
    }

    #[test]
    fn casts_saturate() {
        assert_eq!(cast(Value::F64(1e20), Scalar::I32), Value::I32(i32::MAX));
        assert_eq!(cast(Value::F32(f32::NAN), Scalar::U64), Value::U64(0));
        assert_eq!(cast(Value::I32(-1), Scalar::U64), Value::U64(u64::MAX));
        assert_eq!(
            cast(Value::U64(u64::MAX), Scalar::F32),
            Value::F32(1.8446744e19)
        );
    }

    #[test]
    fn values_parse_from_literals() {
        assert_eq!(Value::parse(Scalar::U64, "0xff"), Some(Value::U64(255)));
        assert_eq!(Value::parse(Scalar::I32, "-3"), Some(Value::I32(-3)));
        assert_eq!(Value::parse(Scalar::F32, "1.5"), Some(Value::F32(1.5)));
        assert_eq!(Value::parse(Scalar::I32, "1 + 2"), None);
        assert_eq!(Value::parse(Scalar::U32, "1.5"), None);
    }
}
