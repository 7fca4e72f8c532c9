//! The native (Cranelift) tier against the reference interpreter.
//!
//! `cargo bench --bench native` measures ns per call of two kernels kept
//! beside this file (`benches/native/*.cru`): an FxHash/murmur-style u64
//! hash and a polynomial `exp`, each in the interpreter, as native code, and
//! as the same algorithm hand-written in Rust (what the Rust export compiles
//! to, give or take the NaN checks); the same per row over a batch of
//! `BATCH` arguments (`call_batch/*`: native `call_batch` on a packed
//! `ArgBatch`, per-row native `call`, and hand-written Rust over the same
//! rows); plus the native tier's compile latency
//! (parse and check excluded) for programs of about 36, 47 and 86 nodes.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use crucible_compiler::interp::Interpreter;
use crucible_compiler::native::{self, ArgBatch, NativeOptions};
use crucible_compiler::value::{Arg, Value};
use crucible_compiler::{CheckedProgram, compile_text};

const HASH: &str = include_str!("native/hash.cru");
const EXP: &str = include_str!("native/exp.cru");
const POLY50: &str = include_str!("native/poly50.cru");

/// Rows per batch in the `call_batch/*` groups.
const BATCH: usize = 1024;

/// The hash kernel written by hand.
fn hash_rust(key: u64) -> u64 {
    let mut h = (0u64.rotate_left(5) ^ key).wrapping_mul(0x517c_c1b7_2722_0a95);
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// The exp kernel written by hand (no NaN canonicalisation).
fn exp_rust(x: f64) -> f64 {
    let y = x.clamp(-708.0, 709.0);
    let k = (y * std::f64::consts::LOG2_E).round_ties_even();
    let r = y - k * std::f64::consts::LN_2;
    let mut p = 1.0 / 5040.0;
    for c in [
        1.0 / 720.0,
        1.0 / 120.0,
        1.0 / 24.0,
        1.0 / 6.0,
        0.5,
        1.0,
        1.0,
    ] {
        p = p * r + c;
    }
    p * f64::from_bits(((k as i64 + 1023) as u64) << 52)
}

/// Name, source, argument, the hand-written version, and the `i`th argument
/// of a batch.
type Kernel = (
    &'static str,
    &'static str,
    Arg,
    fn(&Arg) -> Value,
    fn(usize) -> Arg,
);

fn checked(src: &str) -> CheckedProgram {
    compile_text(src).expect("bench kernels check")
}

fn calls(c: &mut Criterion) {
    let kernels: [Kernel; 2] = [
        (
            "hash",
            HASH,
            Value::U64(0x0123_4567_89ab_cdef).into(),
            |a| match a {
                Arg::Scalar(Value::U64(k)) => Value::U64(hash_rust(*k)),
                _ => unreachable!(),
            },
            |i| Value::U64((i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)).into(),
        ),
        (
            "exp",
            EXP,
            Value::F64(1.375).into(),
            |a| match a {
                Arg::Scalar(Value::F64(x)) => Value::F64(exp_rust(*x)),
                _ => unreachable!(),
            },
            |i| Value::F64(i as f64 / 64.0 - 8.0).into(),
        ),
    ];
    for (name, src, arg, rust, nth) in kernels {
        let program = checked(src);
        let entry_name = program.program().funcs[0].name.clone();
        let (entry, _) = program.func(&entry_name).unwrap();
        let interp = Interpreter::new(&program);
        let native =
            native::compile(&program, &entry_name, &NativeOptions { budget: None }).unwrap();
        let args = std::slice::from_ref(&arg);
        let expected = interp.run(entry, args, u64::MAX).unwrap().value;
        assert_eq!(
            native.call(args).unwrap(),
            expected,
            "{name}: native differs"
        );
        assert_eq!(rust(&arg), expected, "{name}: hand-written Rust differs");
        let mut group = c.benchmark_group(format!("call/{name}"));
        group.throughput(Throughput::Elements(1));
        group.bench_function("interpreter", |b| {
            b.iter(|| interp.run(entry, black_box(args), u64::MAX).unwrap().value)
        });
        group.bench_function("native", |b| {
            b.iter(|| native.call(black_box(args)).unwrap())
        });
        let budgeted = native::compile(
            &program,
            &entry_name,
            &NativeOptions {
                budget: Some(1 << 20),
            },
        )
        .unwrap();
        group.bench_function("native-budget", |b| {
            b.iter(|| budgeted.call(black_box(args)).unwrap())
        });
        group.bench_function("rust", |b| b.iter(|| rust(black_box(&arg))));
        group.finish();

        let rows: Vec<[Arg; 1]> = (0..BATCH).map(|i| [nth(i)]).collect();
        let batch = ArgBatch::new(native.params(), &rows).unwrap();
        let mut out = Vec::with_capacity(BATCH);
        native.call_batch(&batch, &mut out).unwrap();
        for (row, got) in rows.iter().zip(&out) {
            let expected = interp.run(entry, row, u64::MAX).unwrap().value;
            assert_eq!(*got, expected, "{name}: call_batch differs on {row:?}");
        }
        let mut group = c.benchmark_group(format!("call_batch/{name}"));
        group.throughput(Throughput::Elements(BATCH as u64));
        group.bench_function("native", |b| {
            b.iter(|| {
                out.clear();
                native.call_batch(black_box(&batch), &mut out).unwrap();
                black_box(&out);
            })
        });
        group.bench_function("native-per-row-call", |b| {
            b.iter(|| {
                out.clear();
                out.extend(black_box(&rows).iter().map(|r| native.call(r).unwrap()));
                black_box(&out);
            })
        });
        group.bench_function("rust", |b| {
            b.iter(|| {
                out.clear();
                out.extend(black_box(&rows).iter().map(|[a]| rust(a)));
                black_box(&out);
            })
        });
        group.finish();
    }
}

fn compile_latency(c: &mut Criterion) {
    let mut group = c.benchmark_group("compile");
    for src in [HASH, POLY50, EXP] {
        let program = checked(src);
        let entry = program.program().funcs[0].name.clone();
        let id = BenchmarkId::from_parameter(format!("{entry}-{}-nodes", program.node_count()));
        group.bench_function(id, |b| {
            b.iter(|| {
                native::compile(black_box(&program), &entry, &NativeOptions { budget: None })
                    .unwrap()
            })
        });
    }
    group.finish();
}

// `criterion_group!` makes an undocumented `pub fn`.
#[allow(missing_docs, reason = "generated by criterion_group!")]
mod group {
    use super::*;

    criterion_group! {
        name = benches;
        config = Criterion::default()
            .warm_up_time(std::time::Duration::from_millis(500))
            .measurement_time(std::time::Duration::from_secs(2));
        targets = calls, compile_latency
    }
}
criterion_main!(group::benches);
