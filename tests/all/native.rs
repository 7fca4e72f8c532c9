//! Differential tests of the native (Cranelift) tier: random well-typed
//! programs give bit-identical results in the reference interpreter and in
//! native code, with and without a loop budget compiled in, called one row
//! at a time and as a batch.
//! (Interpreter = Wasm is `differential.rs`; together they make the
//! three-way comparison.)
//!
//! Failing seeds land in `tests/all/proptest-regressions/`; fixed failures
//! become named tests at the bottom of this file.

use crucible_compiler::interp::Interpreter;
use crucible_compiler::native::{self, ArgBatch, NativeError, NativeOptions};
use crucible_compiler::random::{self, GenConfig, Rng};
use crucible_compiler::value::{Arg, Value};
use crucible_compiler::{check, print};
use proptest::prelude::*;

const BUDGET: u64 = 100_000_000;
const PROGRAMS_PER_SEED: usize = 10;
const CASES_PER_PROGRAM: usize = 12;

/// Runs `n_programs` random programs of one random signature on the same
/// random inputs, in the interpreter and natively; returns the cases compared.
fn native_case(seed: u64, n_programs: usize, n_cases: usize) -> usize {
    let mut rng = Rng::new(seed);
    let (params, ret) = random::signature(&mut rng);
    let cases: Vec<Vec<Arg>> = (0..n_cases)
        .map(|_| params.iter().map(|t| random::arg(&mut rng, *t)).collect())
        .collect();
    let mut compared = 0;
    for k in 0..n_programs {
        let p = random::program(&mut rng, &GenConfig::SMALL, &params, ret);
        let c = check(&p)
            .unwrap_or_else(|d| panic!("generator made an ill-typed program: {d}\n{}", print(&p)));
        let text = print(c.program());
        let (entry, _) = c.func("f").expect("entry");
        let interp = Interpreter::new(&c);
        // Every other program carries the loop-budget code, which must not change results.
        let budget = (k % 2 == 1).then_some(u64::MAX);
        let f = native::compile(&c, "f", &NativeOptions { budget })
            .unwrap_or_else(|e| panic!("native compile failed: {e}\n{text}"));
        let batch = ArgBatch::new(&params, &cases).expect("cases match the signature");
        let mut batched = Vec::new();
        f.call_batch(&batch, &mut batched)
            .unwrap_or_else(|e| panic!("native batch call failed: {e}\n{text}"));
        assert_eq!(batched.len(), cases.len());
        for (case, &in_batch) in cases.iter().zip(&batched) {
            let expected = interp
                .run(entry, case, BUDGET)
                .expect("generated programs finish")
                .value;
            let got = f
                .call(case)
                .unwrap_or_else(|e| panic!("native call failed: {e}\n{text}"));
            assert_eq!(
                got, expected,
                "{case:?}: native {got} vs interpreter {expected}\n{text}"
            );
            assert_eq!(
                in_batch, got,
                "{case:?}: batched {in_batch} vs per-row {got}\n{text}"
            );
            compared += 1;
        }
    }
    compared
}

proptest! {
    // 100 seeds × 10 programs × 12 cases = 12,000 compared cases.
    #![proptest_config(ProptestConfig {
        cases: 100,
        failure_persistence: Some(Box::new(proptest::test_runner::FileFailurePersistence::Direct(
            "tests/all/proptest-regressions/native.txt",
        ))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn interpreter_equals_native(seed in any::<u64>()) {
        prop_assert_eq!(native_case(seed, PROGRAMS_PER_SEED, CASES_PER_PROGRAM), PROGRAMS_PER_SEED * CASES_PER_PROGRAM);
    }
}

/// Hand-picked edge cases, each once (the same program as `differential.rs`).
#[test]
fn edge_cases_agree() {
    let src = include_str!("programs/edge_cases.cru");
    let c = crucible_compiler::compile_text(src).unwrap();
    let f = native::compile(&c, "f", &NativeOptions { budget: None }).unwrap();
    let interp = Interpreter::new(&c);
    let (entry, _) = c.func("f").unwrap();
    let mut rng = Rng::new(3);
    for _ in 0..256 {
        let case: Vec<Arg> = f
            .params()
            .to_vec()
            .iter()
            .map(|t| random::arg(&mut rng, *t))
            .collect();
        let expected = interp.run(entry, &case, BUDGET).unwrap().value;
        assert_eq!(f.call(&case).unwrap(), expected, "{case:?}");
    }
}

/// Signalling and odd-payload NaNs pass through loads, `-x`, `abs` and
/// `copysign` untouched, and come out canonical from arithmetic.
#[test]
fn nan_payloads_move_unchanged_except_through_arithmetic() {
    let src = "fn f(s: [f32], i: u32) -> u32 { return f32::to_bits(-abs(copysign(s[i], -1.0))) ^ f32::to_bits(s[i] + 0.0); }";
    let c = crucible_compiler::compile_text(src).unwrap();
    let f = native::compile(&c, "f", &NativeOptions { budget: None }).unwrap();
    let odd = f32::from_bits(0x7f80_0001);
    let case = vec![
        Arg::Slice(crucible_compiler::value::SliceData::F32(vec![odd].into())),
        Value::U32(5).into(),
    ];
    let expected = Interpreter::new(&c)
        .run(c.func("f").unwrap().0, &case, BUDGET)
        .unwrap()
        .value;
    assert_eq!(f.call(&case).unwrap(), expected);
    assert_eq!(expected, Value::U32(0xff80_0001 ^ 0x7fc0_0000));
}

/// The budget is a deterministic stop, and calls after an exhausted one start afresh.
#[test]
fn budget_is_per_call_and_deterministic() {
    let src = "fn f(n: u32) -> u32 { let a = 0u32; for i in 0..n { for j in 0..n { a = a + 1; } } return a; }";
    let c = crucible_compiler::compile_text(src).unwrap();
    let f = native::compile(&c, "f", &NativeOptions { budget: Some(110) }).unwrap();
    // 10 outer + 100 inner iterations fit exactly; one more does not.
    assert_eq!(f.call(&[Value::U32(10).into()]), Ok(Value::U32(100)));
    let err = f.call(&[Value::U32(u32::MAX).into()]).unwrap_err();
    assert_eq!(err, NativeError::BudgetExhausted { budget: 110 });
    assert_eq!(f.call(&[Value::U32(10).into()]), Ok(Value::U32(100)));
}

/// A batch checks its rows once, refuses another signature, and stops at the
/// first row that runs out of budget, keeping the results before it.
#[test]
fn batches_check_rows_and_stop_at_exhaustion() {
    let src = "fn f(n: u32) -> u32 { let a = 0u32; for i in 0..n { a = a + 1; } return a; }";
    let c = crucible_compiler::compile_text(src).unwrap();
    let f = native::compile(&c, "f", &NativeOptions { budget: Some(10) }).unwrap();
    let rows: Vec<Vec<Arg>> = [3u32, 10, 11, 2]
        .iter()
        .map(|&n| vec![Value::U32(n).into()])
        .collect();
    let batch = ArgBatch::new(f.params(), &rows).unwrap();
    assert_eq!(batch.len(), 4);
    let mut out = vec![Value::U32(7)];
    let err = f.call_batch(&batch, &mut out).unwrap_err();
    assert_eq!(err, NativeError::BudgetExhausted { budget: 10 });
    assert_eq!(out, [Value::U32(7), Value::U32(3), Value::U32(10)]);

    let bad = ArgBatch::new(f.params(), [vec![Arg::from(Value::I32(1))]]);
    assert!(matches!(bad, Err(NativeError::BadArguments(_))));
    let other = ArgBatch::new(&[], [Vec::<Arg>::new()]).unwrap();
    let mut out = Vec::new();
    assert!(matches!(
        f.call_batch(&other, &mut out),
        Err(NativeError::BadArguments(_))
    ));
    assert!(out.is_empty());

    // A program without parameters runs once per (empty) row.
    let c = crucible_compiler::compile_text("fn f() -> u32 { return 5; }").unwrap();
    let g = native::compile(&c, "f", &NativeOptions { budget: None }).unwrap();
    g.call_batch(&other, &mut out).unwrap();
    assert_eq!(out, [Value::U32(5)]);
    let empty = ArgBatch::new(&[], Vec::<Vec<Arg>>::new()).unwrap();
    assert!(empty.is_empty());
    g.call_batch(&empty, &mut out).unwrap();
    assert_eq!(out, [Value::U32(5)]);
}
