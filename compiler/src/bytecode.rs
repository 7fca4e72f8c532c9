//! Compact bytecode for the tier-0 evaluator guest (`guests/evaluator`).
//!
//! Straight-line programs (one function, scalar parameters, `let` and
//! assignment statements, one final `return`, no calls, loops, branches or
//! slices) lower to a postfix program over typed operations. The evaluator
//! guest, an interpreter compiled once to Wasm and run in the sandbox, runs
//! such a program over many test cases at once, one operation at a time across
//! all cases (the Operon/numpy trick), so no candidate is ever compiled.
//! Everything else is compiled Wasm (tier 1).
//!
//! This module defines the format once: [`lower`] writes it and [`decode`]
//! reads it; the guest links this crate and calls [`decode`] and the
//! semantics in [`crate::value`], so the two sides cannot drift apart.
//!
//! # Format
//! A sequence of little-endian `u32` words: a header `[MAGIC, VERSION,
//! n_params, n_locals, ret]`, then operations. An operation is one word
//! `opcode | a << 8 | b << 16` followed by its immediates (only
//! [`Op::Const`] has two: the low and high 32 bits of the value).
//! Type codes index [`Scalar::ALL`], operator codes index [`BinOp::ALL`],
//! [`Builtin::ALL`], and `UnOp` is 0 for `Neg`, 1 for `Not`.

use crate::check::CheckedProgram;
use crate::ir::{BinOp, Builtin, Callee, Expr, ExprKind, Scalar, StmtKind, Type, UnOp};

/// First header word, "CRBC".
pub const MAGIC: u32 = 0x4342_5243;
/// Format version.
pub const VERSION: u32 = 1;
/// Most locals (parameters included) a lowered program may use.
pub const MAX_LOCALS: usize = 64;
/// Deepest operand stack a lowered program may need.
pub const MAX_STACK: usize = 72;

/// One operation of the postfix program.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Op {
    /// Push a constant (its bits, zero-extended).
    Const(Scalar, u64),
    /// Push local `n` (parameters are locals `0..n_params`).
    Get(u32),
    /// Pop into local `n`.
    Set(u32),
    /// Pop one operand of the type, push the result.
    Unary(UnOp, Scalar),
    /// Pop two operands of the type, push the result.
    Binary(BinOp, Scalar),
    /// Pop a value of the first type, push it converted to the second.
    Cast(Scalar, Scalar),
    /// Pop the builtin's arguments (the type is that of the last argument), push the result.
    Builtin(Builtin, Scalar),
    /// Pop the result.
    Return,
}

const OP_CONST: u32 = 1;
const OP_GET: u32 = 2;
const OP_SET: u32 = 3;
const OP_UNARY: u32 = 4;
const OP_BINARY: u32 = 5;
const OP_CAST: u32 = 6;
const OP_BUILTIN: u32 = 7;
const OP_RETURN: u32 = 8;

/// A decoded program.
#[derive(Clone, Debug, PartialEq)]
pub struct Code {
    /// Number of parameters.
    pub n_params: u32,
    /// Number of locals, parameters included.
    pub n_locals: u32,
    /// The result type.
    pub ret: Scalar,
    /// The operations; the last one is [`Op::Return`].
    pub ops: Vec<Op>,
}

/// Why words are not a valid program (the host wrote bad code: a bug).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError {
    /// The offending word's index.
    pub at: usize,
    /// What is wrong.
    pub message: &'static str,
}

fn scalar_code(s: Scalar) -> u32 {
    Scalar::ALL.iter().position(|&x| x == s).expect("scalar") as u32
}

fn unop_code(op: UnOp) -> u32 {
    match op {
        UnOp::Neg => 0,
        UnOp::Not => 1,
    }
}

/// Lowers the entry of a straight-line program, or says why it cannot.
///
/// # Errors
/// A short reason when the program is not straight-line (it then runs as
/// compiled Wasm).
pub fn lower(checked: &CheckedProgram, entry: &str) -> Result<Vec<u32>, &'static str> {
    let (fid, func) = checked.func(entry).ok_or("no such entry")?;
    if checked.program().funcs.len() != 1 {
        return Err("more than one function");
    }
    if func.params.iter().any(|p| !matches!(p.ty, Type::Scalar(_))) {
        return Err("slice parameters");
    }
    let n_locals = checked.func_info(fid).locals.len();
    if n_locals > MAX_LOCALS {
        return Err("too many locals");
    }
    let mut ops = Vec::new();
    let stmts = &func.body.stmts;
    let (last, rest) = stmts.split_last().ok_or("empty body")?;
    for s in rest {
        match &s.kind {
            StmtKind::Let { init: e, .. } | StmtKind::Assign { value: e, .. } => {
                expr(checked, e, &mut ops)?;
                ops.push(Op::Set(checked.local(s.id).0));
            }
            _ => return Err("control flow"),
        }
    }
    match &last.kind {
        StmtKind::Return(e) => {
            expr(checked, e, &mut ops)?;
            ops.push(Op::Return);
        }
        _ => return Err("control flow"),
    }
    let mut words = vec![
        MAGIC,
        VERSION,
        func.params.len() as u32,
        n_locals as u32,
        scalar_code(func.ret),
    ];
    for op in &ops {
        encode(*op, &mut words);
    }
    // The checker bounds nesting (limits::MAX_DEPTH < MAX_STACK), so the
    // words always decode; checked in debug builds and by the tests.
    debug_assert_eq!(decode(&words).map(|c| c.ops), Ok(ops));
    Ok(words)
}

fn expr(checked: &CheckedProgram, e: &Expr, ops: &mut Vec<Op>) -> Result<(), &'static str> {
    match &e.kind {
        ExprKind::Lit(lit) => {
            let v = crate::interp::lit_value(*lit, checked.scalar(e));
            ops.push(Op::Const(v.ty(), v.to_bits()));
        }
        ExprKind::Var(_) => ops.push(Op::Get(checked.local(e.id).0)),
        ExprKind::Unary(op, a) => {
            expr(checked, a, ops)?;
            ops.push(Op::Unary(*op, checked.scalar(a)));
        }
        ExprKind::Binary(op, a, b) => {
            expr(checked, a, ops)?;
            expr(checked, b, ops)?;
            ops.push(Op::Binary(*op, checked.scalar(a)));
        }
        ExprKind::Cast(a, to) => {
            expr(checked, a, ops)?;
            ops.push(Op::Cast(checked.scalar(a), *to));
        }
        ExprKind::Call(Callee::Builtin(b), args) if *b != Builtin::Len => {
            for a in args {
                expr(checked, a, ops)?;
            }
            ops.push(Op::Builtin(*b, checked.scalar(&args[args.len() - 1])));
        }
        ExprKind::Call(..) => return Err("calls"),
        ExprKind::Index(..) => return Err("slices"),
    }
    Ok(())
}

/// Appends one operation's words.
pub fn encode(op: Op, words: &mut Vec<u32>) {
    let w = |code: u32, a: u32, b: u32| code | a << 8 | b << 16;
    match op {
        Op::Const(s, bits) => {
            words.push(w(OP_CONST, scalar_code(s), 0));
            words.push(bits as u32);
            words.push((bits >> 32) as u32);
        }
        Op::Get(n) => words.push(w(OP_GET, 0, n)),
        Op::Set(n) => words.push(w(OP_SET, 0, n)),
        Op::Unary(op, s) => words.push(w(OP_UNARY, unop_code(op), scalar_code(s))),
        Op::Binary(op, s) => {
            let code = BinOp::ALL.iter().position(|&x| x == op).expect("op") as u32;
            words.push(w(OP_BINARY, code, scalar_code(s)));
        }
        Op::Cast(from, to) => words.push(w(OP_CAST, scalar_code(from), scalar_code(to))),
        Op::Builtin(b, s) => {
            let code = Builtin::ALL.iter().position(|&x| x == b).expect("builtin") as u32;
            words.push(w(OP_BUILTIN, code, scalar_code(s)));
        }
        Op::Return => words.push(w(OP_RETURN, 0, 0)),
    }
}

/// Decodes and validates a program: opcodes, types, local indices and the
/// stack depth, which never exceeds [`MAX_STACK`] nor underflows.
///
/// Types are not re-checked: a well-formed program from [`lower`] is well typed.
///
/// # Errors
/// The first malformed word.
pub fn decode(words: &[u32]) -> Result<Code, DecodeError> {
    let mut ops = Vec::new();
    let header = decode_into(words, &mut ops)?;
    Ok(Code { ops, ..header })
}

/// [`decode`] into a reused buffer (cleared first); returns the header with
/// empty `ops`. The evaluator guest calls this once per candidate.
///
/// # Errors
/// The first malformed word.
pub fn decode_into(words: &[u32], ops: &mut Vec<Op>) -> Result<Code, DecodeError> {
    ops.clear();
    let err = |at: usize, message: &'static str| DecodeError { at, message };
    if words.len() < 5 || words[0] != MAGIC || words[1] != VERSION {
        return Err(err(0, "bad header"));
    }
    let scalar = |at: usize, code: u32| {
        Scalar::ALL
            .get(code as usize)
            .copied()
            .ok_or(err(at, "bad type"))
    };
    let n_params = words[2];
    let n_locals = words[3];
    if n_params > n_locals || n_locals as usize > MAX_LOCALS {
        return Err(err(2, "bad local counts"));
    }
    let ret = scalar(4, words[4])?;
    let mut depth: usize = 0;
    let mut at = 5;
    while at < words.len() {
        let word = words[at];
        let (code, a, b) = (word & 0xff, (word >> 8) & 0xff, word >> 16);
        let (op, pops, pushes) = match code {
            OP_CONST => {
                let lo = *words.get(at + 1).ok_or(err(at, "truncated constant"))? as u64;
                let hi = *words.get(at + 2).ok_or(err(at, "truncated constant"))? as u64;
                at += 2;
                (Op::Const(scalar(at, a)?, lo | hi << 32), 0, 1)
            }
            OP_GET | OP_SET => {
                if b >= n_locals {
                    return Err(err(at, "local out of range"));
                }
                if code == OP_GET {
                    (Op::Get(b), 0, 1)
                } else {
                    (Op::Set(b), 1, 0)
                }
            }
            OP_UNARY => {
                let op = match a {
                    0 => UnOp::Neg,
                    1 => UnOp::Not,
                    _ => return Err(err(at, "bad unary operator")),
                };
                (Op::Unary(op, scalar(at, b)?), 1, 1)
            }
            OP_BINARY => {
                let op = *BinOp::ALL
                    .get(a as usize)
                    .ok_or(err(at, "bad binary operator"))?;
                (Op::Binary(op, scalar(at, b)?), 2, 1)
            }
            OP_CAST => (Op::Cast(scalar(at, a)?, scalar(at, b)?), 1, 1),
            OP_BUILTIN => {
                let bi = *Builtin::ALL.get(a as usize).ok_or(err(at, "bad builtin"))?;
                if bi == Builtin::Len {
                    return Err(err(at, "len has no slice here"));
                }
                (Op::Builtin(bi, scalar(at, b)?), bi.arity(), 1)
            }
            OP_RETURN => (Op::Return, 1, 0),
            _ => return Err(err(at, "bad opcode")),
        };
        depth = depth.checked_sub(pops).ok_or(err(at, "stack underflow"))? + pushes;
        if depth > MAX_STACK {
            return Err(err(at, "stack too deep"));
        }
        ops.push(op);
        at += 1;
        if op == Op::Return {
            if at != words.len() {
                return Err(err(at, "code after return"));
            }
            return Ok(Code {
                n_params,
                n_locals,
                ret,
                ops: Vec::new(),
            });
        }
    }
    Err(err(words.len(), "missing return"))
}

/// Runs decoded code on one case with the reference semantics (the guest's
/// per-lane behaviour); used to test the format itself.
pub fn eval_one(code: &Code, args: &[crate::value::Value]) -> crate::value::Value {
    use crate::value::{self, Value};
    let mut locals = vec![Value::I32(0); code.n_locals as usize];
    locals[..args.len()].copy_from_slice(args);
    let mut stack: Vec<Value> = Vec::new();
    for op in &code.ops {
        match *op {
            Op::Const(s, bits) => stack.push(Value::from_bits(s, bits)),
            Op::Get(n) => stack.push(locals[n as usize]),
            Op::Set(n) => locals[n as usize] = stack.pop().expect("validated"),
            Op::Unary(op, _) => {
                let a = stack.pop().expect("validated");
                stack.push(value::unary(op, a));
            }
            Op::Binary(op, _) => {
                let b = stack.pop().expect("validated");
                let a = stack.pop().expect("validated");
                stack.push(value::binary(op, a, b));
            }
            Op::Cast(_, to) => {
                let a = stack.pop().expect("validated");
                stack.push(value::cast(a, to));
            }
            Op::Builtin(b, _) => {
                let n = b.arity();
                let args: Vec<Value> = stack.split_off(stack.len() - n);
                stack.push(value::builtin(b, &args));
            }
            Op::Return => return stack.pop().expect("validated"),
        }
    }
    unreachable!("decoded code ends in return")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile_text;
    use crate::interp::Interpreter;
    use crate::random::{self, GenConfig, Rng};
    use crate::value::Arg;

    #[test]
    fn straight_line_programs_lower_and_agree_with_the_interpreter() {
        let mut rng = Rng::new(11);
        let mut lowered = 0;
        for _ in 0..400 {
            let (params, ret) = random::scalar_signature(&mut rng);
            let p = random::program(&mut rng, &GenConfig::STRAIGHT, &params, ret);
            let c = crate::check(&p).unwrap();
            let words = lower(&c, "f").expect("straight-line programs lower");
            let code = decode(&words).unwrap();
            lowered += 1;
            let interp = Interpreter::new(&c);
            for _ in 0..8 {
                let args: Vec<crate::value::Value> = params
                    .iter()
                    .map(|t| random::value(&mut rng, t.as_scalar().unwrap()))
                    .collect();
                let arg_list: Vec<Arg> = args.iter().map(|v| Arg::Scalar(*v)).collect();
                let expect = interp
                    .run(crate::ir::FuncId(0), &arg_list, u64::MAX)
                    .unwrap()
                    .value;
                assert_eq!(
                    eval_one(&code, &args),
                    expect,
                    "{}",
                    crate::print(c.program())
                );
            }
        }
        assert_eq!(lowered, 400);
    }

    #[test]
    fn control_flow_is_refused_with_a_reason() {
        let c = compile_text("fn f(x: u32) -> u32 { if x > 1 { return 1; } return 2; }").unwrap();
        assert_eq!(lower(&c, "f"), Err("control flow"));
        let c = compile_text("fn f(s: [u8]) -> u32 { return len(s); }").unwrap();
        assert_eq!(lower(&c, "f"), Err("slice parameters"));
    }

    #[test]
    fn malformed_words_are_rejected() {
        let c = compile_text("fn f(x: f64) -> f64 { let y = x * x; return y + 1.0; }").unwrap();
        let words = lower(&c, "f").unwrap();
        assert!(decode(&words).is_ok());
        for cut in 0..words.len() {
            assert!(decode(&words[..cut]).is_err(), "truncated at {cut}");
        }
        let mut bad = words.clone();
        bad[5] = 0xff;
        assert_eq!(decode(&bad).unwrap_err().message, "bad opcode");
        let mut bad = words.clone();
        bad.insert(5, OP_BINARY);
        assert_eq!(decode(&bad).unwrap_err().message, "stack underflow");
    }
}
