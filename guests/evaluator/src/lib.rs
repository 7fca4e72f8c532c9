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
fn canon32(bits: u32) -> u64 {
    if bits & 0x7fff_ffff > 0x7f80_0000 {
        NAN32
    } else {
        bits as u64
    }
}

#[inline(always)]
fn canon64(bits: u64) -> u64 {
    if bits & 0x7fff_ffff_ffff_ffff > 0x7ff0_0000_0000_0000 {
        NAN64
    } else {
        bits
    }
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
}

impl Scratch {
    /// Room for any valid program.
    pub fn new() -> Scratch {
        Scratch {
            stack: vec![[0; LANES]; bytecode::MAX_STACK],
            locals: vec![[0; LANES]; bytecode::MAX_LOCALS],
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
    let code = bytecode::decode(words).map_err(|_| 1u32)?;
    let n = n_cases;
    let n_params = code.n_params as usize;
    if inputs.len() < n_params * n || out.len() < n {
        return Err(2);
    }
    let mut base = 0;
    while base < n {
        let m = LANES.min(n - base);
        for j in 0..n_params {
            scratch.locals[j][..m].copy_from_slice(&inputs[j * n + base..j * n + base + m]);
        }
        run(
            &code.ops,
            &mut scratch.stack,
            &mut scratch.locals,
            m,
            &mut out[base..base + m],
        );
        base += m;
    }
    Ok(())
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

fn run(ops: &[Op], stack: &mut [Lanes], locals: &mut [Lanes], m: usize, out: &mut [u64]) {
    let mut sp = 0usize;
    for op in ops {
        match *op {
            Op::Const(_, bits) => {
                stack[sp][..m].fill(bits);
                sp += 1;
            }
            Op::Get(n) => {
                stack[sp][..m].copy_from_slice(&locals[n as usize][..m]);
                sp += 1;
            }
            Op::Set(n) => {
                sp -= 1;
                locals[n as usize][..m].copy_from_slice(&stack[sp][..m]);
            }
            Op::Unary(op, ty) => {
                let a = &mut stack[sp - 1];
                for x in &mut a[..m] {
                    *x = value::unary(op, Value::from_bits(ty, *x)).to_bits();
                }
            }
            Op::Binary(op, ty) => {
                let (lo, hi) = stack.split_at_mut(sp - 1);
                binary(op, ty, &mut lo[sp - 2][..m], &hi[0][..m]);
                sp -= 1;
            }
            Op::Cast(from, to) => {
                let a = &mut stack[sp - 1];
                for x in &mut a[..m] {
                    *x = value::cast(Value::from_bits(from, *x), to).to_bits();
                }
            }
            Op::Builtin(b, ty) => {
                let n = b.arity();
                let first = sp - n;
                let arg_types = builtin_arg_types(b, ty);
                for i in 0..m {
                    let mut args = [Value::I32(0); 3];
                    for (a, slot) in args.iter_mut().take(n).enumerate() {
                        *slot = Value::from_bits(arg_types[a], stack[first + a][i]);
                    }
                    stack[first][i] = value::builtin(b, &args[..n]).to_bits();
                }
                sp = first + 1;
            }
            Op::Return => {
                out.copy_from_slice(&stack[sp - 1][..m]);
                return;
            }
        }
    }
}

/// The types of a builtin's arguments, given the type of its last one.
fn builtin_arg_types(b: crucible_compiler::ir::Builtin, last: Scalar) -> [Scalar; 3] {
    use crucible_compiler::ir::Builtin;
    match b {
        Builtin::Select => [Scalar::Bool, last, last],
        _ => [last, last, last],
    }
}

/// `a = a op b` lane by lane, with vectorisable fast paths for the common cases.
fn binary(op: BinOp, ty: Scalar, a: &mut [u64], b: &[u64]) {
    macro_rules! lanes {
        (|$x:ident, $y:ident| $e:expr) => {
            for ($x, $y) in a.iter_mut().zip(b) {
                let $y = *$y;
                *$x = {
                    let $x = *$x;
                    $e
                };
            }
        };
    }
    match (ty, op) {
        (Scalar::F64, BinOp::Add) => {
            lanes!(|x, y| canon64((f64::from_bits(x) + f64::from_bits(y)).to_bits()))
        }
        (Scalar::F64, BinOp::Sub) => {
            lanes!(|x, y| canon64((f64::from_bits(x) - f64::from_bits(y)).to_bits()))
        }
        (Scalar::F64, BinOp::Mul) => {
            lanes!(|x, y| canon64((f64::from_bits(x) * f64::from_bits(y)).to_bits()))
        }
        (Scalar::F64, BinOp::Div) => {
            lanes!(|x, y| canon64((f64::from_bits(x) / f64::from_bits(y)).to_bits()))
        }
        (Scalar::F32, BinOp::Add) => {
            lanes!(|x, y| canon32((f32::from_bits(x as u32) + f32::from_bits(y as u32)).to_bits()))
        }
        (Scalar::F32, BinOp::Sub) => {
            lanes!(|x, y| canon32((f32::from_bits(x as u32) - f32::from_bits(y as u32)).to_bits()))
        }
        (Scalar::F32, BinOp::Mul) => {
            lanes!(|x, y| canon32((f32::from_bits(x as u32) * f32::from_bits(y as u32)).to_bits()))
        }
        (Scalar::F32, BinOp::Div) => {
            lanes!(|x, y| canon32((f32::from_bits(x as u32) / f32::from_bits(y as u32)).to_bits()))
        }
        (Scalar::I64 | Scalar::U64, BinOp::Add) => lanes!(|x, y| x.wrapping_add(y)),
        (Scalar::I64 | Scalar::U64, BinOp::Sub) => lanes!(|x, y| x.wrapping_sub(y)),
        (Scalar::I64 | Scalar::U64, BinOp::Mul) => lanes!(|x, y| x.wrapping_mul(y)),
        (Scalar::I64 | Scalar::U64, BinOp::BitXor) => lanes!(|x, y| x ^ y),
        (Scalar::I64 | Scalar::U64, BinOp::BitAnd) => lanes!(|x, y| x & y),
        (Scalar::I64 | Scalar::U64, BinOp::BitOr) => lanes!(|x, y| x | y),
        (Scalar::I32 | Scalar::U32, BinOp::Add) => {
            lanes!(|x, y| (x as u32).wrapping_add(y as u32) as u64)
        }
        (Scalar::I32 | Scalar::U32, BinOp::Sub) => {
            lanes!(|x, y| (x as u32).wrapping_sub(y as u32) as u64)
        }
        (Scalar::I32 | Scalar::U32, BinOp::Mul) => {
            lanes!(|x, y| (x as u32).wrapping_mul(y as u32) as u64)
        }
        (Scalar::I32 | Scalar::U32 | Scalar::Bool, BinOp::BitXor) => lanes!(|x, y| x ^ y),
        (Scalar::I32 | Scalar::U32 | Scalar::Bool, BinOp::BitAnd | BinOp::And) => {
            lanes!(|x, y| x & y)
        }
        (Scalar::I32 | Scalar::U32 | Scalar::Bool, BinOp::BitOr | BinOp::Or) => {
            lanes!(|x, y| x | y)
        }
        _ => lanes!(
            |x, y| value::binary(op, Value::from_bits(ty, x), Value::from_bits(ty, y)).to_bits()
        ),
    }
}
