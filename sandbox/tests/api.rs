//! The embedding API end to end: caches, batches, memory access, globals,
//! probes, coverage, strategies and limits.

use std::sync::Arc;

use crucible_sandbox::instrument::{InstrumentOptions, SiteKind, TraceKind, instrument};
use crucible_sandbox::{
    ErrorKind, Job, Limits, Sandbox, SandboxConfig, Strategy, TrapKind, Value, Verdict, probes,
};

fn sandbox() -> Sandbox {
    let mut config = SandboxConfig::new(Strategy::Cranelift);
    config.threads = 2;
    Sandbox::new(&config).unwrap()
}

const ADD: &str = r#"(module
  (memory (export "memory") 1 4)
  (global (export "answer") i32 (i32.const 42))
  (global (export "big") i64 (i64.const 7))
  (func (export "add") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1)))
  (func (export "div") (param i32 i32) (result i32) (i32.div_s (local.get 0) (local.get 1)))
  ;; Sums n little-endian i32s at address 0 and stores the sum at 1024.
  (func (export "sum") (param i32)
    (local $i i32) (local $acc i32)
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $i) (local.get 0)))
        (local.set $acc (i32.add (local.get $acc) (i32.load (i32.shl (local.get $i) (i32.const 2)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $l)))
    (i32.store (i32.const 1024) (local.get $acc))))"#;

#[test]
fn memory_cache_compiles_once() {
    let sandbox = sandbox();
    let bytes = wat::parse_str(ADD).unwrap();
    sandbox.load(&bytes).unwrap();
    sandbox.load(&bytes).unwrap();
    let stats = sandbox.cache_stats();
    assert_eq!((stats.compiles, stats.memory_hits), (1, 1));
}

#[test]
fn disk_cache_survives_restart_and_rejects_corruption() {
    let dir = std::env::temp_dir().join(format!("crucible-cache-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut config = SandboxConfig::new(Strategy::Cranelift);
    config.cache_dir = Some(dir.clone());
    let bytes = wat::parse_str(ADD).unwrap();
    let call = |sandbox: &Sandbox| {
        let module = sandbox.load(&bytes).unwrap();
        let mut instance = module.instantiate(&Limits::default()).unwrap().unwrap();
        instance
            .call("add", &[Value::I32(2), Value::I32(3)])
            .unwrap()
            .result
    };
    let first = Sandbox::new(&config).unwrap();
    assert_eq!(call(&first), Ok(vec![Value::I32(5)]));
    assert_eq!(first.cache_stats().compiles, 1);
    let second = Sandbox::new(&config).unwrap();
    assert_eq!(call(&second), Ok(vec![Value::I32(5)]));
    assert_eq!(
        (
            second.cache_stats().compiles,
            second.cache_stats().disk_hits
        ),
        (0, 1)
    );
    // Flip a byte in the middle of every artifact: detected, recompiled, rewritten.
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let mut file = std::fs::read(&path).unwrap();
        let mid = file.len() / 2;
        file[mid] ^= 0xff;
        std::fs::write(&path, file).unwrap();
    }
    let third = Sandbox::new(&config).unwrap();
    assert_eq!(call(&third), Ok(vec![Value::I32(5)]));
    let stats = third.cache_stats();
    assert_eq!((stats.compiles, stats.disk_rejected), (1, 1));
    let fourth = Sandbox::new(&config).unwrap();
    assert_eq!(call(&fourth), Ok(vec![Value::I32(5)]));
    assert_eq!(fourth.cache_stats().disk_hits, 1);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn batch_results_come_back_in_input_order() {
    let bytes: Arc<[u8]> = wat::parse_str(ADD).unwrap().into();
    let jobs: Vec<Job> = (0..50)
        .map(|i| Job {
            wasm: bytes.clone(),
            limits: Limits::default(),
            calls: vec![
                ("add".into(), vec![Value::I32(i), Value::I32(1)]),
                ("div".into(), vec![Value::I32(i), Value::I32(i % 3)]),
            ],
        })
        .collect();
    let results = sandbox().run_jobs(jobs);
    for (i, res) in results.iter().enumerate() {
        let outcomes = res.as_ref().unwrap();
        assert_eq!(outcomes[0].result, Ok(vec![Value::I32(i as i32 + 1)]));
        let expect = if i % 3 == 0 {
            Err(Verdict::Trap(TrapKind::IntDivideByZero))
        } else {
            Ok(vec![Value::I32(i as i32 / (i as i32 % 3))])
        };
        assert_eq!(outcomes[1].result, expect);
    }
}

#[test]
fn host_writes_inputs_calls_and_reads_outputs() {
    let module = sandbox().load(&wat::parse_str(ADD).unwrap()).unwrap();
    let mut instance = module.instantiate(&Limits::default()).unwrap().unwrap();
    let input: Vec<u8> = (1..=10i32).flat_map(|x| x.to_le_bytes()).collect();
    instance.write_memory(0, &input).unwrap();
    let outcome = instance.call("sum", &[Value::I32(10)]).unwrap();
    assert_eq!(outcome.result, Ok(vec![]));
    assert_eq!(instance.read_memory(1024, 4).unwrap(), 55i32.to_le_bytes());
    assert_eq!(instance.global_i32("answer"), Some(42));
    assert_eq!(instance.global("big"), Some(Value::I64(7)));
    assert_eq!(instance.global_i32("big"), None);
    // Growth respects the module's maximum (4 pages) and Limits.
    instance.grow_memory_to(3 << 16).unwrap();
    assert_eq!(instance.memory_size(), 3 << 16);
    assert!(matches!(
        instance.grow_memory_to(5 << 16).unwrap_err().kind(),
        ErrorKind::MemoryLimit { .. }
    ));
    assert!(matches!(
        instance.read_memory(3 << 16, 1).unwrap_err().kind(),
        ErrorKind::MemoryAccess { .. }
    ));
}

#[test]
fn caller_mistakes_are_errors_not_verdicts() {
    let module = sandbox().load(&wat::parse_str(ADD).unwrap()).unwrap();
    let mut instance = module.instantiate(&Limits::default()).unwrap().unwrap();
    let err = instance.call("nope", &[]).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::MissingExport { .. }));
    let err = instance.call("add", &[Value::I64(1)]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "export `add` takes (i32, i32) -> (i32), but was called with (i64) -> ()"
    );
}

#[test]
fn instance_stays_callable_after_traps() {
    let module = sandbox().load(&wat::parse_str(ADD).unwrap()).unwrap();
    let mut instance = module.instantiate(&Limits::default()).unwrap().unwrap();
    for _ in 0..3 {
        let trap = instance
            .call("div", &[Value::I32(i32::MIN), Value::I32(-1)])
            .unwrap();
        assert_eq!(trap.result, Err(Verdict::Trap(TrapKind::IntOverflow)));
        let ok = instance
            .call("add", &[Value::I32(1), Value::I32(1)])
            .unwrap();
        assert_eq!(ok.result, Ok(vec![Value::I32(2)]));
    }
}

#[test]
fn winch_runs_trusted_modules_with_fuel() {
    let mut config = SandboxConfig::new(Strategy::Winch);
    config.threads = 1;
    let sandbox = Sandbox::new(&config).unwrap();
    let module = sandbox
        .load_wat(br#"(module (func (export "spin") (loop (br 0))) (func (export "one") (result i32) i32.const 1))"#)
        .unwrap();
    let mut instance = module.instantiate(&Limits::default()).unwrap().unwrap();
    assert_eq!(
        instance.call("one", &[]).unwrap().result,
        Ok(vec![Value::I32(1)])
    );
    assert_eq!(
        instance.call("spin", &[]).unwrap().result,
        Err(Verdict::OutOfFuel)
    );
}

#[test]
fn start_function_fuel_is_counted() {
    let module = sandbox()
        .load_wat(
            br#"(module (global $g (mut i32) (i32.const 0))
             (func $s (global.set $g (i32.add (global.get $g) (i32.const 1)))) (start $s))"#,
        )
        .unwrap();
    let instance = module.instantiate(&Limits::default()).unwrap().unwrap();
    assert!(instance.start_fuel_used() > 0);
}

/// A module laid out like our compiler's probe buffer: header at 16,
/// 3 counters at 64, a trace of capacity 2 at 128. `run` bumps counter 1,
/// and records three trace entries (one dropped).
const PROBED: &str = r#"(module
  (memory (export "memory") 1)
  (global (export "crucible_probes") i32 (i32.const 16))
  (data (i32.const 16) "CRPB\01\00\00\00\03\00\00\00\02\00\00\00\00\00\00\00\40\00\00\00\80\00\00\00")
  (func $record (param $node i32) (param $value i64)
    (local $n i32)
    (local.set $n (i32.load (i32.const 32)))
    (if (i32.lt_u (local.get $n) (i32.const 2))
      (then
        (i32.store (i32.add (i32.const 128) (i32.shl (local.get $n) (i32.const 4))) (local.get $node))
        (i64.store (i32.add (i32.const 136) (i32.shl (local.get $n) (i32.const 4))) (local.get $value))))
    (i32.store (i32.const 32) (i32.add (local.get $n) (i32.const 1))))
  (func (export "run")
    (i64.store (i32.const 72) (i64.add (i64.load (i32.const 72)) (i64.const 1)))
    (call $record (i32.const 1) (i64.const 10))
    (call $record (i32.const 2) (i64.const 20))
    (call $record (i32.const 1) (i64.const 30))))"#;

#[test]
fn reads_and_resets_compiler_probes() {
    let module = sandbox().load_wat(PROBED.as_bytes()).unwrap();
    let mut instance = module.instantiate(&Limits::default()).unwrap().unwrap();
    instance.call("run", &[]).unwrap();
    instance.call("run", &[]).unwrap();
    let report = instance.read_probes().unwrap().unwrap();
    assert_eq!(report.counters, vec![0, 2, 0]);
    assert_eq!(report.trace, vec![(1, 10), (2, 20)]);
    assert_eq!(report.trace_dropped, 4);
    assert!(instance.reset_probes().unwrap());
    instance.call("run", &[]).unwrap();
    let report = instance.read_probes().unwrap().unwrap();
    assert_eq!((report.counters[1], report.trace_dropped), (1, 1));
    assert_eq!(probes::MAGIC.to_le_bytes(), *b"CRPB");
    // A module without probes.
    let plain = sandbox().load(&wat::parse_str(ADD).unwrap()).unwrap();
    let mut plain = plain.instantiate(&Limits::default()).unwrap().unwrap();
    assert_eq!(plain.read_probes().unwrap(), None);
}

#[test]
fn coverage_maps_counters_to_functions_and_finds_untaken_branches() {
    let wasm = wat::parse_str(
        r#"(module
          (func $abs (export "abs") (param i32) (result i32)
            (if (result i32) (i32.lt_s (local.get 0) (i32.const 0))
              (then (i32.sub (i32.const 0) (local.get 0)))
              (else (local.get 0))))
          (func $unused (export "unused")))"#,
    )
    .unwrap();
    let instrumented = instrument(
        &wasm,
        &InstrumentOptions {
            branches: true,
            trace_capacity: 0,
        },
    )
    .unwrap();
    let sandbox = sandbox();
    let module = sandbox.load(&instrumented.bytes).unwrap();
    let mut instance = module.instantiate(&Limits::default()).unwrap().unwrap();
    assert_eq!(
        instance.call("abs", &[Value::I32(5)]).unwrap().result,
        Ok(vec![Value::I32(5)])
    );
    assert_eq!(
        instance.call("abs", &[Value::I32(7)]).unwrap().result,
        Ok(vec![Value::I32(7)])
    );
    let coverage = instance.read_coverage(&instrumented).unwrap();
    let kinds: Vec<_> = instrumented
        .sites
        .iter()
        .map(|s| (s.func_index, s.kind))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (0, SiteKind::FunctionEntry),
            (0, SiteKind::Then),
            (0, SiteKind::Else),
            (1, SiteKind::FunctionEntry)
        ]
    );
    assert_eq!(coverage.counts, vec![2, 0, 2, 0]);
    assert_eq!(coverage.percent, 50.0);
    assert_eq!(coverage.never_taken.len(), 1);
    assert_eq!(coverage.never_taken[0].kind, SiteKind::Then);
    assert_eq!(coverage.never_taken[0].func_name.as_deref(), Some("abs"));
    assert!(coverage.never_taken[0].code_offset > 0);
    instance.reset_coverage().unwrap();
    assert_eq!(instance.read_coverage(&instrumented).unwrap().covered, 0);
}

#[test]
fn limits_above_engine_ceilings_are_host_errors() {
    let module = sandbox().load(&wat::parse_str(ADD).unwrap()).unwrap();
    let limits = Limits {
        memory_bytes: u64::MAX,
        ..Limits::default()
    };
    assert!(matches!(
        module.instantiate(&limits).unwrap_err().kind(),
        ErrorKind::InvalidLimits { .. }
    ));
}

#[test]
fn argument_trace_is_bounded_and_keeps_bits() {
    let wasm = wat::parse_str(
        r#"(module
          (func (export "f") (param i32 f64) (result i32) (local.get 0))
          (func (export "g") (param i64)))"#,
    )
    .unwrap();
    use TraceKind::{Argument, Result};
    let options = InstrumentOptions {
        branches: false,
        trace_capacity: 3,
    };
    let instrumented = instrument(&wasm, &options).unwrap();
    let module = sandbox().load(&instrumented.bytes).unwrap();
    let mut instance = module.instantiate(&Limits::default()).unwrap().unwrap();
    let res = instance
        .call("f", &[Value::I32(-1), Value::f64(1.5)])
        .unwrap();
    assert_eq!(res.result, Ok(vec![Value::I32(-1)]));
    instance.call("g", &[Value::I64(9)]).unwrap();
    instance.call("g", &[Value::I64(10)]).unwrap();
    let coverage = instance.read_coverage(&instrumented).unwrap();
    let trace: Vec<_> = coverage
        .trace
        .iter()
        .map(|r| (r.func_index, r.kind, r.index, r.value))
        .collect();
    assert_eq!(
        trace,
        vec![
            (0, Argument, 0, 0xffff_ffff),
            (0, Argument, 1, 1.5f64.to_bits()),
            (0, Result, 0, 0xffff_ffff)
        ]
    );
    assert_eq!(coverage.trace_dropped, 2);
    assert_eq!(coverage.counts, vec![1, 2]);
}

#[test]
fn result_trace_covers_every_return_path() {
    use TraceKind::{Argument, Result};
    // `pick` returns through `return`, a `br_if` and a `br_table` to the body's
    // label, and by falling off the end; `pair` returns two values.
    let wasm = wat::parse_str(
        r#"(module
          (func (export "pick") (param i32) (result i32)
            (if (i32.eqz (local.get 0)) (then (return (i32.const 10))))
            (drop (br_if 0 (i32.const 11) (i32.eq (local.get 0) (i32.const 1))))
            (drop (block (result i32)
              (br_table 1 0 (i32.const 12) (i32.sub (local.get 0) (i32.const 2)))))
            (i32.const 13))
          (func (export "pair") (param f64) (result i32 f64)
            (i32.const -2) (local.get 0)))"#,
    )
    .unwrap();
    let options = InstrumentOptions {
        branches: true,
        trace_capacity: 16,
    };
    let instrumented = instrument(&wasm, &options).unwrap();
    let module = sandbox().load(&instrumented.bytes).unwrap();
    let mut instance = module.instantiate(&Limits::default()).unwrap().unwrap();
    for (arg, expect) in [(0, 10), (1, 11), (2, 12)] {
        let res = instance.call("pick", &[Value::I32(arg)]).unwrap();
        assert_eq!(res.result, Ok(vec![Value::I32(expect)]), "pick({arg})");
    }
    // Index 3 is out of the table: the default leaves the inner block, whose
    // value is dropped, and the function falls off the end.
    let res = instance.call("pick", &[Value::I32(5)]).unwrap();
    assert_eq!(res.result, Ok(vec![Value::I32(13)]));
    let res = instance.call("pair", &[Value::f64(2.5)]).unwrap();
    assert_eq!(res.result, Ok(vec![Value::I32(-2), Value::f64(2.5)]));
    let coverage = instance.read_coverage(&instrumented).unwrap();
    let trace: Vec<_> = coverage
        .trace
        .iter()
        .map(|r| (r.func_index, r.kind, r.index, r.value))
        .collect();
    assert_eq!(
        trace,
        vec![
            (0, Argument, 0, 0),
            (0, Result, 0, 10),
            (0, Argument, 0, 1),
            (0, Result, 0, 11),
            (0, Argument, 0, 2),
            (0, Result, 0, 12),
            (0, Argument, 0, 5),
            (0, Result, 0, 13),
            (1, Argument, 0, 2.5f64.to_bits()),
            (1, Result, 0, 0xffff_fffe),
            (1, Result, 1, 2.5f64.to_bits()),
        ]
    );
    assert_eq!(coverage.trace_dropped, 0);
}

#[test]
fn br_table_arms_are_counted_separately() {
    let wasm = wat::parse_str(
        r#"(module
          (func $classify (export "classify") (param i32) (result i32)
            (block (block (block
              (br_table 0 1 2 2 (local.get 0)))
              (return (i32.const 100)))
              (return (i32.const 200)))
            (i32.const 300)))"#,
    )
    .unwrap();
    let options = InstrumentOptions {
        branches: true,
        trace_capacity: 0,
    };
    let instrumented = instrument(&wasm, &options).unwrap();
    let module = sandbox().load(&instrumented.bytes).unwrap();
    let mut instance = module.instantiate(&Limits::default()).unwrap().unwrap();
    for (arg, expect) in [(0, 100), (0, 100), (1, 200), (-1, 300), (7, 300)] {
        let res = instance.call("classify", &[Value::I32(arg)]).unwrap();
        assert_eq!(res.result, Ok(vec![Value::I32(expect)]), "classify({arg})");
    }
    let coverage = instance.read_coverage(&instrumented).unwrap();
    let arms: Vec<_> = instrumented
        .sites
        .iter()
        .zip(&coverage.counts)
        .filter(|(site, _)| {
            matches!(
                site.kind,
                SiteKind::BrTableArm(_) | SiteKind::BrTableDefault
            )
        })
        .map(|(site, count)| (site.kind, *count))
        .collect();
    // Entries 0 and 1 ran, entry 2 (also the default's label) never did: an
    // index out of the table (-1 is 0xffff_ffff unsigned, 7) takes the default.
    assert_eq!(
        arms,
        vec![
            (SiteKind::BrTableArm(0), 2),
            (SiteKind::BrTableArm(1), 1),
            (SiteKind::BrTableArm(2), 0),
            (SiteKind::BrTableDefault, 2),
        ]
    );
    let never: Vec<_> = coverage.never_taken.iter().map(|s| s.kind).collect();
    assert_eq!(never, vec![SiteKind::BrTableArm(2)]);
    let site = &coverage.never_taken[0];
    assert_eq!(site.func_name.as_deref(), Some("classify"));
    assert!(site.code_offset > 0);
}
