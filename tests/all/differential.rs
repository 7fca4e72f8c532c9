//! Differential tests: random well-typed programs give bit-identical results
//! in the reference interpreter and in compiled Wasm run in the sandbox, with
//! identical probe counters, traces and costs.
//!
//! Failing seeds land in `tests/all/proptest-regressions/`; fixed failures
//! become named tests at the bottom of this file.

use crucible_compiler::interp::{Interpreter, Probes};
use crucible_compiler::ir::{Scalar, Type};
use crucible_compiler::random::{self, GenConfig, Rng};
use crucible_compiler::value::{Arg, Value};
use crucible_compiler::{CheckedProgram, check, cost, print, wasm};
use crucible_sandbox::{Limits, Sandbox, SandboxConfig, Strategy};
use proptest::prelude::*;

const TRACE: u32 = 32;
const BUDGET: u64 = 100_000_000;

struct Expected {
    values: Vec<Value>,
    costs: Vec<u64>,
    probes: Probes,
    cost: u64,
}

fn interpret(c: &CheckedProgram, cases: &[Vec<Arg>]) -> Expected {
    let interp = Interpreter::new(c);
    let (f, _) = c.func("f").expect("entry");
    let mut probes = Probes::new(c, TRACE as usize);
    let mut values = Vec::new();
    let mut costs = Vec::new();
    let mut total = 0;
    for case in cases {
        let r = interp
            .run_with_probes(f, case, BUDGET, &mut probes)
            .expect("generated programs finish");
        values.push(r.value);
        costs.push(r.cost);
        total += r.cost;
    }
    Expected {
        values,
        costs,
        probes,
        cost: total,
    }
}

fn sandbox(strategy: Strategy) -> Sandbox {
    let mut config = SandboxConfig::new(strategy);
    config.threads = 1;
    Sandbox::new(&config).expect("sandbox")
}

/// Compiles `candidates` into one batch module and checks each against the interpreter.
fn check_batch(
    sb: &Sandbox,
    candidates: &[CheckedProgram],
    params: &[Type],
    ret: Scalar,
    cases: &[Vec<Arg>],
) {
    let refs: Vec<&CheckedProgram> = candidates.iter().collect();
    let options = wasm::CompileOptions {
        probes: Some(wasm::ProbeOptions {
            trace_capacity: TRACE,
        }),
    };
    let batch = wasm::compile_batch(&refs, "f", &options).expect("same signatures");
    wasmparser::validate(&batch.bytes).expect("valid module");
    let module = sb.load(&batch.bytes).expect("loads");
    let limits = Limits {
        fuel: 1 << 40,
        ..Limits::default()
    };
    let mut inst = module
        .instantiate(&limits)
        .expect("host ok")
        .expect("instantiates");
    let heap = inst.global_i32(wasm::HEAP_BASE_EXPORT).expect("heap base") as u32;
    let blob = wasm::encode_inputs(params, cases, heap);
    let out = (heap + blob.len() as u32).next_multiple_of(8);
    let end = out as u64 + 16 * cases.len() as u64;
    if end > inst.memory_size() {
        inst.grow_memory_to(end).expect("grow");
    }
    inst.write_memory(heap as u64, &blob).expect("write inputs");
    for (k, c) in candidates.iter().enumerate() {
        let expected = interpret(c, cases);
        inst.reset_probes().expect("reset");
        let outcome = inst
            .call(
                wasm::EVAL_EXPORT,
                &[
                    crucible_sandbox::Value::I32(k as i32),
                    crucible_sandbox::Value::I32(cases.len() as i32),
                    crucible_sandbox::Value::I32(heap as i32),
                    crucible_sandbox::Value::I32(out as i32),
                    crucible_sandbox::Value::I64(BUDGET as i64),
                ],
            )
            .expect("host ok");
        let text = print(c.program());
        if let Err(v) = outcome.result {
            panic!("candidate trapped: {v}\n{text}");
        }
        let bytes = inst
            .read_memory(out as u64, 8 * cases.len())
            .expect("read outputs");
        let got = wasm::decode_outputs(ret, &bytes, cases.len());
        let cost_bytes = inst
            .read_memory(out as u64 + 8 * cases.len() as u64, 8 * cases.len())
            .expect("read costs");
        assert_eq!(
            wasm::decode_costs(&cost_bytes, cases.len()),
            expected.costs,
            "per-case costs differ\n{text}"
        );
        assert_eq!(inst.global_i32(wasm::DONE_EXPORT), Some(cases.len() as i32));
        for (i, (g, e)) in got.iter().zip(&expected.values).enumerate() {
            assert_eq!(
                g, e,
                "case {i} {:?}: wasm {g} vs interpreter {e}\n{text}",
                cases[i]
            );
        }
        let report = inst.read_probes().expect("probes ok").expect("has probes");
        let lo = batch.counter_offsets[k] as usize;
        let counters = &report.counters[lo..lo + c.node_count()];
        assert_eq!(
            counters,
            expected.probes.counters.as_slice(),
            "counters differ\n{text}"
        );
        let costs = cost::static_costs(c);
        assert_eq!(
            cost::cost_from_counters(&costs, counters),
            expected.cost,
            "cost differs\n{text}"
        );
        let trace: Vec<(u32, u64)> = report
            .trace
            .iter()
            .map(|&(id, v)| (id - lo as u32, v))
            .collect();
        assert_eq!(trace, expected.probes.trace, "trace differs\n{text}");
        assert_eq!(
            report.trace.len() as u64 + report.trace_dropped,
            expected.probes.trace_len,
            "trace length differs\n{text}"
        );
    }
}

fn batch_case(seed: u64, strategy: Strategy, n_programs: usize, n_cases: usize) {
    let mut rng = Rng::new(seed);
    let (params, ret) = random::signature(&mut rng);
    let candidates: Vec<CheckedProgram> = (0..n_programs)
        .map(|_| {
            let p = random::program(&mut rng, &GenConfig::SMALL, &params, ret);
            check(&p).unwrap_or_else(|d| {
                panic!("generator made an ill-typed program: {d}\n{}", print(&p))
            })
        })
        .collect();
    let cases: Vec<Vec<Arg>> = (0..n_cases)
        .map(|_| params.iter().map(|t| random::arg(&mut rng, *t)).collect())
        .collect();
    thread_local! {
        static CRANELIFT: Sandbox = sandbox(Strategy::Cranelift);
        static WINCH: Sandbox = sandbox(Strategy::Winch);
    }
    match strategy {
        Strategy::Winch => WINCH.with(|sb| check_batch(sb, &candidates, &params, ret, &cases)),
        _ => CRANELIFT.with(|sb| check_batch(sb, &candidates, &params, ret, &cases)),
    }
}

proptest! {
    // 60 seeds × 25 programs × 12 cases = 18,000 compared cases under Cranelift.
    #![proptest_config(ProptestConfig {
        cases: 60,
        failure_persistence: Some(Box::new(proptest::test_runner::FileFailurePersistence::Direct(
            "tests/all/proptest-regressions/differential.txt",
        ))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn interpreter_equals_wasm_cranelift(seed in any::<u64>()) {
        batch_case(seed, Strategy::Cranelift, 25, 12);
    }
}

proptest! {
    // Winch compiles our own (trusted) modules for search; it must agree too.
    #![proptest_config(ProptestConfig {
        cases: 10,
        failure_persistence: Some(Box::new(proptest::test_runner::FileFailurePersistence::Direct(
            "tests/all/proptest-regressions/differential-winch.txt",
        ))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn interpreter_equals_wasm_winch(seed in any::<u64>()) {
        batch_case(seed, Strategy::Winch, 25, 12);
    }
}

/// The one-program shape: every function exported and called directly.
#[test]
fn exported_functions_agree_with_the_interpreter() {
    let sb = sandbox(Strategy::Cranelift);
    let mut rng = Rng::new(0xC0FFEE);
    for _ in 0..60 {
        let (params, ret) = random::signature(&mut rng);
        let p = random::program(&mut rng, &GenConfig::SMALL, &params, ret);
        let c = check(&p).expect("well typed");
        let bytes = wasm::compile(&c, &wasm::CompileOptions { probes: None });
        let module = sb.load(&bytes).expect("loads");
        let mut inst = module.instantiate(&Limits::default()).unwrap().unwrap();
        let heap = inst.global_i32(wasm::HEAP_BASE_EXPORT).unwrap() as u64;
        for _ in 0..4 {
            let case: Vec<Arg> = params.iter().map(|t| random::arg(&mut rng, *t)).collect();
            let expected = interpret(&c, std::slice::from_ref(&case)).values[0];
            let mut args = Vec::new();
            let mut next = heap;
            for a in &case {
                match a {
                    Arg::Scalar(v) => args.push(scalar_arg(*v)),
                    Arg::Slice(d) => {
                        let bytes = d.to_le_bytes();
                        inst.write_memory(next, &bytes).unwrap();
                        args.push(crucible_sandbox::Value::I32(next as i32));
                        args.push(crucible_sandbox::Value::I32(d.len() as i32));
                        next += bytes.len() as u64 + 8;
                    }
                }
            }
            let got = inst.call("f", &args).unwrap().result.expect("no trap")[0];
            let bits = match got {
                crucible_sandbox::Value::I32(x) => x as u32 as u64,
                crucible_sandbox::Value::I64(x) => x as u64,
                crucible_sandbox::Value::F32(x) => x as u64,
                crucible_sandbox::Value::F64(x) => x,
            };
            assert_eq!(
                Value::from_bits(ret, bits),
                expected,
                "{}",
                print(c.program())
            );
        }
    }
}

fn scalar_arg(v: Value) -> crucible_sandbox::Value {
    match v {
        Value::I32(x) => crucible_sandbox::Value::I32(x),
        Value::U32(x) => crucible_sandbox::Value::I32(x as i32),
        Value::Bool(x) => crucible_sandbox::Value::I32(x as i32),
        Value::I64(x) => crucible_sandbox::Value::I64(x),
        Value::U64(x) => crucible_sandbox::Value::I64(x as i64),
        Value::F32(x) => crucible_sandbox::Value::F32(x.to_bits()),
        Value::F64(x) => crucible_sandbox::Value::F64(x.to_bits()),
    }
}

/// Hand-picked edge cases, each once: every one of them has broken a backend somewhere.
#[test]
fn edge_cases_agree() {
    let src = include_str!("programs/edge_cases.cru");
    let c = crucible_compiler::compile_text(src).unwrap();
    let mut rng = Rng::new(3);
    let cases: Vec<Vec<Arg>> = (0..64)
        .map(|_| {
            vec![
                random::value(&mut rng, Scalar::I32).into(),
                random::value(&mut rng, Scalar::I64).into(),
                random::value(&mut rng, Scalar::F32).into(),
                random::value(&mut rng, Scalar::F64).into(),
            ]
        })
        .collect();
    let params: Vec<Type> = c.program().funcs[0].params.iter().map(|p| p.ty).collect();
    check_batch(
        &sandbox(Strategy::Cranelift),
        &[c],
        &params,
        Scalar::F64,
        &cases,
    );
}

/// Regression: `select` evaluated its condition last in Wasm, so traces
/// recorded by calls in its arguments came out in another order.
#[test]
fn select_evaluates_arguments_in_source_order() {
    let src = "fn t(x: i32) -> i32 { let y = x + 1; return y; }\n\
               fn f(a: i32) -> i32 { return select(t(a) > 0, t(a + 1), t(a + 2)); }";
    let c = crucible_compiler::compile_text(src).unwrap();
    let cases = vec![vec![Value::I32(1).into()], vec![Value::I32(-5).into()]];
    check_batch(
        &sandbox(Strategy::Cranelift),
        &[c],
        &[Type::Scalar(Scalar::I32)],
        Scalar::I32,
        &cases,
    );
}

/// Regression: the interpreter's NaN canonicalisation was folded away by
/// LLVM, so `copysign(1.0, sqrt(-x))` saw the host's negative NaN.
#[test]
fn nan_sign_is_canonical_in_every_tier() {
    let src = "fn f(x: f64) -> f64 { return copysign(1.0, sqrt(x)); }";
    let c = crucible_compiler::compile_text(src).unwrap();
    let cases = vec![vec![Value::F64(-19.125).into()]];
    check_batch(
        &sandbox(Strategy::Cranelift),
        &[c],
        &[Type::Scalar(Scalar::F64)],
        Scalar::F64,
        &cases,
    );
    let c = crucible_compiler::compile_text(src).unwrap();
    let r = Interpreter::new(&c)
        .run(crucible_compiler::ir::FuncId(0), &cases[0], 100)
        .unwrap();
    assert_eq!(r.value, Value::F64(1.0));
}

/// A batch module stops a case where the interpreter runs out of budget, and
/// keeps the outputs and costs of the cases before it.
#[test]
fn batch_budget_stops_where_the_interpreter_does() {
    let src = "fn f(n: u32) -> u32 { let a = 0u32; for i in 0..n { a = a + i * 3; } return a; }";
    let c = crucible_compiler::compile_text(src).unwrap();
    let cases: Vec<Vec<Arg>> = [3u32, 10, 1000, 2]
        .iter()
        .map(|&n| vec![Value::U32(n).into()])
        .collect();
    let budget = 200;
    let interp = Interpreter::new(&c);
    let mut expected = Vec::new();
    for case in &cases {
        match interp.run(crucible_compiler::ir::FuncId(0), case, budget) {
            Ok(r) => expected.push((r.value, r.cost)),
            Err(_) => break,
        }
    }
    assert_eq!(expected.len(), 2, "the third case runs out of budget");
    let sb = sandbox(Strategy::Cranelift);
    let batch = wasm::compile_batch(&[&c], "f", &wasm::CompileOptions { probes: None }).unwrap();
    let mut inst = sb
        .load(&batch.bytes)
        .unwrap()
        .instantiate(&Limits::default())
        .unwrap()
        .unwrap();
    let heap = inst.global_i32(wasm::HEAP_BASE_EXPORT).unwrap() as u32;
    let blob = wasm::encode_inputs(&[Type::Scalar(Scalar::U32)], &cases, heap);
    let out = (heap + blob.len() as u32).next_multiple_of(8);
    inst.write_memory(heap as u64, &blob).unwrap();
    let args = [
        crucible_sandbox::Value::I32(0),
        crucible_sandbox::Value::I32(cases.len() as i32),
        crucible_sandbox::Value::I32(heap as i32),
        crucible_sandbox::Value::I32(out as i32),
        crucible_sandbox::Value::I64(budget as i64),
    ];
    let outcome = inst.call(wasm::EVAL_EXPORT, &args).unwrap();
    assert!(outcome.result.is_err(), "the budget stops the call");
    let done = inst.global_i32(wasm::DONE_EXPORT).unwrap() as usize;
    assert_eq!(done, 2);
    let values = wasm::decode_outputs(
        Scalar::U32,
        &inst.read_memory(out as u64, 8 * done).unwrap(),
        done,
    );
    let costs = wasm::decode_costs(
        &inst
            .read_memory(out as u64 + 8 * cases.len() as u64, 8 * done)
            .unwrap(),
        done,
    );
    let got: Vec<(Value, u64)> = values.into_iter().zip(costs).collect();
    assert_eq!(got, expected);
}
