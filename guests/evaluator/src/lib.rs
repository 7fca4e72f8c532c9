//! The tier-0 evaluator guest.
//!
//! Runs straight-line candidate programs (the bytecode of
//! `crucible_compiler::bytecode`) over many test cases at once: each
//! operation is applied to a block of [`LANES`] cases before the next one
//! starts, so the dispatch cost is paid once per block and the arithmetic
//! loops vectorise (SIMD128). Semantics come from `crucible_compiler::value`
//! itself, with hand-written fast paths for the common arithmetic that the
//! differential tests hold to the same bits.
//!
//! The same source compiles natively (benches/tier0.rs includes it) to
//! measure what the sandbox costs.
//!
//! # Host interface
//! - `crucible_alloc(bytes) -> ptr`: memory the host may fill (never freed;
//!   the host allocates its inputs once per task).
//! - `crucible_eval_many(table, n_candidates, inputs, n_cases, outputs, status) -> u32`:
//!   `table` holds `(code_ptr, code_words)` pairs of u32; `inputs` holds one
//!   column of `n_cases` u64 per parameter (value bits, zero-extended);
//!   candidate `k` writes `n_cases` u64 at `outputs + 8 * k * n_cases` and a
//!   u32 at `status + 4 * k` (0 ok, 1 malformed code, 2 parameter-count
//!   mismatch). Returns the number of candidates evaluated.

use crucible_compiler::bytecode::{self, Op};
use crucible_compiler::ir::{BinOp, Scalar};
use crucible_compiler::value::{self, Value};

/// Cases evaluated together.
pub const LANES: usize = 64;
type Lanes = [u64; LANES];

const NAN32: u64 = 0x7fc0_0000;
const NAN64: u64 = 0x7ff8_0000_0000_0000;

#[inline(always)]
fn canon32(r: f32) -> u64 {
    // Branch-free select on the bits, with the NaN test as a float compare:
    // vectorises to f32x4.ne + v128 logic (an integer range test on the bits
    // does not: Wasm SIMD lacks the unsigned 64-bit compare it needs).
    let mask = (r.is_nan() as u32).wrapping_neg();
    ((r.to_bits() & !mask) | (NAN32 as u32 & mask)) as u64
}

#[inline(always)]
fn canon64(r: f64) -> u64 {
    let mask = (r.is_nan() as u64).wrapping_neg();
    (r.to_bits() & !mask) | (NAN64 & mask)
}

/// Allocates `bytes` of guest memory for the host.
#[cfg(target_arch = "wasm32")]
#[unsafe(no_mangle)]
pub extern "C" fn crucible_alloc(bytes: u32) -> u32 {
    let v: Vec<u64> = vec![0; (bytes as usize).div_ceil(8)];
    v.leak().as_mut_ptr() as u32
}

/// Operand stack and locals, reused across candidates.
pub struct Scratch {
    stack: Vec<Lanes>,
    locals: Vec<Lanes>,
    ops: Vec<Op>,
    instrs: Vec<Instr>,
    sim: Vec<Src>,
}

impl Scratch {
    /// Room for any valid program.
    pub fn new() -> Scratch {
        Scratch {
            stack: vec![[0; LANES]; bytecode::MAX_STACK],
            locals: vec![[0; LANES]; bytecode::MAX_LOCALS],
            ops: Vec::new(),
            instrs: Vec::new(),
            sim: Vec::new(),
        }
    }
}

impl Default for Scratch {
    fn default() -> Scratch {
        Scratch::new()
    }
}

/// Runs one program over `n_cases` cases: `inputs` holds one column of
/// `n_cases` value bits per parameter, `out` receives `n_cases` result bits.
///
/// # Errors
/// 1 if the code is malformed, 2 if the inputs do not fit its parameters.
pub fn evaluate(
    words: &[u32],
    inputs: &[u64],
    n_cases: usize,
    out: &mut [u64],
    scratch: &mut Scratch,
) -> Result<(), u32> {
    // Buffers are reused across candidates: no allocation per candidate.
    let code = bytecode::decode_into(words, &mut scratch.ops).map_err(|_| 1u32)?;
    let n = n_cases;
    let n_params = code.n_params as usize;
    if inputs.len() < n_params * n || out.len() < n {
        return Err(2);
    }
    translate(&scratch.ops, &mut scratch.sim, &mut scratch.instrs);
    let mut base = 0;
    while base < n {
        let m = LANES.min(n - base);
        for j in 0..n_params {
            scratch.locals[j][..m].copy_from_slice(&inputs[j * n + base..j * n + base + m]);
        }
        run(
            &scratch.instrs,
            &mut scratch.stack,
            &mut scratch.locals,
            m,
            &mut out[base..base + m],
        );
        base += m;
    }
    Ok(())
}

/// Where an operand comes from: no `Get` copies a local and no `Const` fills
/// a lane block; operations read locals and constants in place.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Src {
    /// Stack slot (its position on the operand stack).
    Slot(usize),
    /// A local.
    Local(usize),
    /// A constant's bits.
    Const(u64),
}

/// An operation with its operands resolved; the result goes to slot `dst`.
#[derive(Clone, Copy, Debug)]
enum Instr {
    Unary(crucible_compiler::ir::UnOp, Scalar, Src, usize),
    Binary(BinOp, Scalar, Src, Src, usize),
    Cast(Scalar, Scalar, Src, usize),
    Builtin(crucible_compiler::ir::Builtin, Scalar, [Src; 3], usize),
    /// Copy a source into a slot (materialise a pending local before it is overwritten).
    Copy(Src, usize),
    Set(Src, usize),
    Return(Src),
}

/// Turns validated postfix code into operand-resolved instructions by
/// simulating the stack.
fn translate(ops: &[Op], stack: &mut Vec<Src>, out: &mut Vec<Instr>) {
    stack.clear();
    out.clear();
    for op in ops {
        match *op {
            Op::Const(_, bits) => stack.push(Src::Const(bits)),
            Op::Get(n) => stack.push(Src::Local(n as usize)),
            Op::Set(n) => {
                let v = stack.pop().expect("validated");
                // A pending read of the local must see its old value.
                for (pos, s) in stack.iter_mut().enumerate() {
                    if *s == Src::Local(n as usize) {
                        out.push(Instr::Copy(*s, pos));
                        *s = Src::Slot(pos);
                    }
                }
                out.push(Instr::Set(v, n as usize));
            }
            Op::Unary(u, ty) => {
                let a = stack.pop().expect("validated");
                let dst = stack.len();
                out.push(Instr::Unary(u, ty, a, dst));
                stack.push(Src::Slot(dst));
            }
            Op::Binary(b, ty) => {
                let y = stack.pop().expect("validated");
                let x = stack.pop().expect("validated");
                let dst = stack.len();
                out.push(Instr::Binary(b, ty, x, y, dst));
                stack.push(Src::Slot(dst));
            }
            Op::Cast(from, to) => {
                let a = stack.pop().expect("validated");
                let dst = stack.len();
                out.push(Instr::Cast(from, to, a, dst));
                stack.push(Src::Slot(dst));
            }
            Op::Builtin(b, ty) => {
                let n = b.arity();
                let mut args = [Src::Const(0); 3];
                for i in (0..n).rev() {
                    args[i] = stack.pop().expect("validated");
                }
                let dst = stack.len();
                out.push(Instr::Builtin(b, ty, args, dst));
                stack.push(Src::Slot(dst));
            }
            Op::Return => out.push(Instr::Return(stack.pop().expect("validated"))),
        }
    }
}

#[inline(always)]
fn get(stack: &[Lanes], locals: &[Lanes], s: Src, i: usize) -> u64 {
    match s {
        Src::Slot(k) => stack[k][i],
        Src::Local(k) => locals[k][i],
        Src::Const(c) => c,
    }
}

fn run(instrs: &[Instr], stack: &mut [Lanes], locals: &mut [Lanes], m: usize, out: &mut [u64]) {
    for ins in instrs {
        match *ins {
            Instr::Binary(op, ty, a, b, dst) => binary(op, ty, a, b, dst, stack, locals, m),
            Instr::Unary(op, ty, a, dst) => {
                for i in 0..m {
                    let x = get(stack, locals, a, i);
                    stack[dst][i] = value::unary(op, Value::from_bits(ty, x)).to_bits();
                }
            }
            Instr::Cast(from, to, a, dst) => {
                for i in 0..m {
                    let x = get(stack, locals, a, i);
                    stack[dst][i] = value::cast(Value::from_bits(from, x), to).to_bits();
                }
            }
            Instr::Builtin(b, ty, args, dst) => {
                let n = b.arity();
                let arg_types = builtin_arg_types(b, ty);
                for i in 0..m {
                    let mut vals = [Value::I32(0); 3];
                    for (k, slot) in vals.iter_mut().take(n).enumerate() {
                        *slot = Value::from_bits(arg_types[k], get(stack, locals, args[k], i));
                    }
                    stack[dst][i] = value::builtin(b, &vals[..n]).to_bits();
                }
            }
            Instr::Copy(a, dst) => {
                for i in 0..m {
                    stack[dst][i] = get(stack, locals, a, i);
                }
            }
            Instr::Set(a, n) => {
                for i in 0..m {
                    let v = get(stack, locals, a, i);
                    locals[n][i] = v;
                }
            }
            Instr::Return(a) => {
                for (i, o) in out.iter_mut().enumerate().take(m) {
                    *o = get(stack, locals, a, i);
                }
                return;
            }
        }
    }
}

/// Evaluates candidates; see the crate docs.
///
/// # Safety
/// The host passes pointers into this instance's memory that it allocated
/// with `crucible_alloc`; a bad pointer traps the instance (the sandbox
/// reports it), it cannot reach outside.
#[cfg(target_arch = "wasm32")]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn crucible_eval_many(
    table: u32,
    n_candidates: u32,
    inputs: u32,
    n_cases: u32,
    outputs: u32,
    status: u32,
) -> u32 {
    let n = n_cases as usize;
    // SAFETY: the host contract above; Wasm memory accesses are bounds-checked.
    let table =
        unsafe { core::slice::from_raw_parts(table as *const u32, 2 * n_candidates as usize) };
    let status =
        unsafe { core::slice::from_raw_parts_mut(status as *mut u32, n_candidates as usize) };
    let mut scratch = Scratch::new();
    for k in 0..n_candidates as usize {
        let words = unsafe {
            core::slice::from_raw_parts(table[2 * k] as *const u32, table[2 * k + 1] as usize)
        };
        let n_params = bytecode::decode(words)
            .map(|c| c.n_params as usize)
            .unwrap_or(0);
        let input = unsafe { core::slice::from_raw_parts(inputs as *const u64, n_params * n) };
        let out = unsafe { core::slice::from_raw_parts_mut((outputs as *mut u64).add(k * n), n) };
        status[k] = match evaluate(words, input, n, out, &mut scratch) {
            Ok(()) => 0,
            Err(code) => code,
        };
    }
    n_candidates
}

/// The types of a builtin's arguments, given the type of its last one.
fn builtin_arg_types(b: crucible_compiler::ir::Builtin, last: Scalar) -> [Scalar; 3] {
    use crucible_compiler::ir::Builtin;
    match b {
        Builtin::Select => [Scalar::Bool, last, last],
        _ => [last, last, last],
    }
}

/// `dst = a op b` lane by lane, with vectorisable fast paths for the common
/// cases; operands are read in place from slots, locals or constants.
#[allow(clippy::too_many_arguments, reason = "the hot path, kept flat")]
fn binary(
    op: BinOp,
    ty: Scalar,
    a: Src,
    b: Src,
    dst: usize,
    stack: &mut [Lanes],
    locals: &[Lanes],
    m: usize,
) {
    // b is never the destination: it sits above a on the stack.
    let (lo, hi) = stack.split_at_mut(dst + 1);
    let out = &mut lo[dst][..m];
    let bv: Operand<'_> = match b {
        Src::Slot(k) => Operand::Lanes(&hi[k - dst - 1][..m]),
        Src::Local(k) => Operand::Lanes(&locals[k][..m]),
        Src::Const(c) => Operand::Const(c),
    };
    let av: Operand<'_> = match a {
        Src::Slot(k) if k == dst => Operand::InPlace,
        Src::Slot(_) => unreachable!("the first operand sits at the destination"),
        Src::Local(k) => Operand::Lanes(&locals[k][..m]),
        Src::Const(c) => Operand::Const(c),
    };
    macro_rules! go {
        (|$x:ident, $y:ident| $e:expr) => {
            apply(
                out,
                av,
                bv,
                #[inline(always)]
                |$x: u64, $y: u64| $e,
            )
        };
    }
    match (ty, op) {
        (Scalar::F64, BinOp::Add) => {
            go!(|x, y| canon64(f64::from_bits(x) + f64::from_bits(y)))
        }
        (Scalar::F64, BinOp::Sub) => {
            go!(|x, y| canon64(f64::from_bits(x) - f64::from_bits(y)))
        }
        (Scalar::F64, BinOp::Mul) => {
            go!(|x, y| canon64(f64::from_bits(x) * f64::from_bits(y)))
        }
        (Scalar::F64, BinOp::Div) => {
            go!(|x, y| canon64(f64::from_bits(x) / f64::from_bits(y)))
        }
        (Scalar::F32, BinOp::Add) => {
            go!(|x, y| canon32(f32::from_bits(x as u32) + f32::from_bits(y as u32)))
        }
        (Scalar::F32, BinOp::Sub) => {
            go!(|x, y| canon32(f32::from_bits(x as u32) - f32::from_bits(y as u32)))
        }
        (Scalar::F32, BinOp::Mul) => {
            go!(|x, y| canon32(f32::from_bits(x as u32) * f32::from_bits(y as u32)))
        }
        (Scalar::F32, BinOp::Div) => {
            go!(|x, y| canon32(f32::from_bits(x as u32) / f32::from_bits(y as u32)))
        }
        (Scalar::I64 | Scalar::U64, BinOp::Add) => go!(|x, y| x.wrapping_add(y)),
        (Scalar::I64 | Scalar::U64, BinOp::Sub) => go!(|x, y| x.wrapping_sub(y)),
        (Scalar::I64 | Scalar::U64, BinOp::Mul) => go!(|x, y| x.wrapping_mul(y)),
        (Scalar::I64 | Scalar::U64, BinOp::BitXor) => go!(|x, y| x ^ y),
        (Scalar::I64 | Scalar::U64, BinOp::BitAnd) => go!(|x, y| x & y),
        (Scalar::I64 | Scalar::U64, BinOp::BitOr) => go!(|x, y| x | y),
        (Scalar::I32 | Scalar::U32, BinOp::Add) => {
            go!(|x, y| (x as u32).wrapping_add(y as u32) as u64)
        }
        (Scalar::I32 | Scalar::U32, BinOp::Sub) => {
            go!(|x, y| (x as u32).wrapping_sub(y as u32) as u64)
        }
        (Scalar::I32 | Scalar::U32, BinOp::Mul) => {
            go!(|x, y| (x as u32).wrapping_mul(y as u32) as u64)
        }
        (Scalar::I32 | Scalar::U32 | Scalar::Bool, BinOp::BitXor) => go!(|x, y| x ^ y),
        (Scalar::I32 | Scalar::U32 | Scalar::Bool, BinOp::BitAnd | BinOp::And) => go!(|x, y| x & y),
        (Scalar::I32 | Scalar::U32 | Scalar::Bool, BinOp::BitOr | BinOp::Or) => go!(|x, y| x | y),
        _ => go!(
            |x, y| value::binary(op, Value::from_bits(ty, x), Value::from_bits(ty, y)).to_bits()
        ),
    }
}

/// A binary operation's operand, resolved once per block.
#[derive(Clone, Copy)]
enum Operand<'a> {
    /// The destination itself.
    InPlace,
    Lanes(&'a [u64]),
    Const(u64),
}

/// `out[i] = f(a[i], b[i])`, one monomorphic loop per operand shape so each
/// vectorises, unrolled by 8 so the engine's per-block fuel and epoch checks
/// are paid once per 8 lanes rather than once per lane.
#[inline(always)]
#[allow(
    clippy::needless_range_loop,
    reason = "fixed-length index loops are what the compiler unrolls"
)]
fn apply(out: &mut [u64], a: Operand<'_>, b: Operand<'_>, f: impl Fn(u64, u64) -> u64) {
    const U: usize = 8;
    match (a, b) {
        (Operand::InPlace, Operand::Lanes(y)) => {
            let mut o8 = out.chunks_exact_mut(U);
            let mut y8 = y.chunks_exact(U);
            for (o, y) in (&mut o8).zip(&mut y8) {
                for k in 0..U {
                    o[k] = f(o[k], y[k]);
                }
            }
            for (o, &y) in o8.into_remainder().iter_mut().zip(y8.remainder()) {
                *o = f(*o, y);
            }
        }
        (Operand::InPlace, Operand::Const(c)) => {
            let mut o8 = out.chunks_exact_mut(U);
            for o in &mut o8 {
                for k in 0..U {
                    o[k] = f(o[k], c);
                }
            }
            for o in o8.into_remainder() {
                *o = f(*o, c);
            }
        }
        (Operand::Lanes(x), Operand::Lanes(y)) => {
            let mut o8 = out.chunks_exact_mut(U);
            let mut x8 = x.chunks_exact(U);
            let mut y8 = y.chunks_exact(U);
            for ((o, x), y) in (&mut o8).zip(&mut x8).zip(&mut y8) {
                for k in 0..U {
                    o[k] = f(x[k], y[k]);
                }
            }
            let rest = o8
                .into_remainder()
                .iter_mut()
                .zip(x8.remainder())
                .zip(y8.remainder());
            for ((o, &x), &y) in rest {
                *o = f(x, y);
            }
        }
        (Operand::Lanes(x), Operand::Const(c)) => {
            let mut o8 = out.chunks_exact_mut(U);
            let mut x8 = x.chunks_exact(U);
            for (o, x) in (&mut o8).zip(&mut x8) {
                for k in 0..U {
                    o[k] = f(x[k], c);
                }
            }
            for (o, &x) in o8.into_remainder().iter_mut().zip(x8.remainder()) {
                *o = f(x, c);
            }
        }
        (Operand::Const(c), Operand::Lanes(y)) => {
            let mut o8 = out.chunks_exact_mut(U);
            let mut y8 = y.chunks_exact(U);
            for (o, y) in (&mut o8).zip(&mut y8) {
                for k in 0..U {
                    o[k] = f(c, y[k]);
                }
            }
            for (o, &y) in o8.into_remainder().iter_mut().zip(y8.remainder()) {
                *o = f(c, y);
            }
        }
        (Operand::Const(c), Operand::Const(d)) => {
            let v = f(c, d);
            out.iter_mut().for_each(|o| *o = v)
        }
        (_, Operand::InPlace) => unreachable!("the second operand is never the destination"),
    }
}
