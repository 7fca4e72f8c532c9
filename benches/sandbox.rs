//! Sandbox benchmarks: instantiate + call, grading throughput, compile time per
//! strategy, and the cost of fuel and of coverage probes.
//!
//! Run with `cargo bench -p crucible --bench sandbox`. Sample sizes are small
//! (10) to keep the run to a couple of minutes on 2 cores.

#![allow(
    missing_docs,
    reason = "criterion's macros generate undocumented functions"
)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use crucible_sandbox::grade::{self, GradeOptions, Task};
use crucible_sandbox::instrument::{InstrumentOptions, instrument};
use crucible_sandbox::{Limits, Sandbox, SandboxConfig, Strategy, Value};

fn sandbox(strategy: Strategy, cache_entries: usize, consume_fuel: bool) -> Sandbox {
    let mut config = SandboxConfig::new(strategy);
    config.threads = 1;
    config.cache_entries = cache_entries;
    config.consume_fuel = consume_fuel;
    Sandbox::new(&config).unwrap()
}

/// A small submission; `k` makes each one's bytes (and so its cache key) distinct.
fn small_submission(k: u32) -> Vec<u8> {
    grade::parse_wat(
        format!(
            r#"(module (func (export "solve") (param i32 i32) (result i32)
                 (drop (i32.const {k})) (i32.add (local.get 0) (local.get 1))))"#
        )
        .as_bytes(),
    )
    .unwrap()
}

fn many_functions(n: usize) -> Vec<u8> {
    let mut text = String::from("(module\n");
    for i in 0..n {
        text.push_str(&format!(
            "(func (export \"f{i}\") (param i32) (result i32) (i32.add (i32.mul (local.get 0) (i32.const {i})) (i32.const 1)))\n"
        ));
    }
    text.push(')');
    grade::parse_wat(text.as_bytes()).unwrap()
}

const LOOP: &str = r#"(module
  (func (export "run") (param $n i32) (result i32)
    (local $i i32) (local $acc i32)
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (if (i32.and (local.get $i) (i32.const 1))
          (then (local.set $acc (i32.add (local.get $acc) (local.get $i))))
          (else (local.set $acc (i32.xor (local.get $acc) (local.get $i)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $l)))
    (local.get $acc)))"#;

fn task() -> Task {
    let mut text = String::from(
        "[entry]\nexport = \"solve\"\nparams = [\"i32\", \"i32\"]\nresults = [\"i32\"]\n[limits]\nfuel = 1_000_000\nmemory = \"1 MiB\"\n",
    );
    for i in 0..10 {
        text.push_str(&format!(
            "[[tests]]\nargs = [{i}, {}]\nexpect = [{}]\n",
            i * 7,
            i * 8
        ));
    }
    Task::parse(&text).unwrap()
}

fn instantiate_call(c: &mut Criterion) {
    let sandbox = sandbox(Strategy::Cranelift, 1024, true);
    let bytes = small_submission(0);
    sandbox.load(&bytes).unwrap();
    c.bench_function("instantiate_call/cached-small", |b| {
        b.iter(|| {
            let module = sandbox.load(black_box(&bytes)).unwrap();
            let mut instance = module.instantiate(&Limits::default()).unwrap().unwrap();
            instance
                .call("solve", &[Value::I32(1), Value::I32(2)])
                .unwrap()
        })
    });
}

fn grading(c: &mut Criterion) {
    let task = task();
    let options = GradeOptions {
        coverage: false,
        reference: None,
    };
    let submissions: Vec<(String, Vec<u8>)> = (0..1000)
        .map(|k| (format!("s{k}"), small_submission(k)))
        .collect();
    let mut group = c.benchmark_group("grade");
    group.throughput(Throughput::Elements(submissions.len() as u64));
    group.sample_size(10);
    let warm = sandbox(Strategy::Cranelift, 2048, true);
    grade::grade_all(&warm, &task, submissions.clone(), &options);
    group.bench_function("1000x10-warm", |b| {
        b.iter(|| grade::grade_all(&warm, &task, submissions.clone(), &options))
    });
    group.bench_function("1000x10-cold", |b| {
        b.iter_with_setup(
            || sandbox(Strategy::Cranelift, 2048, true),
            |cold| grade::grade_all(&cold, &task, submissions.clone(), &options),
        )
    });
    group.finish();
}

fn compile(c: &mut Criterion) {
    let mut group = c.benchmark_group("compile");
    group.sample_size(10);
    for (name, bytes) in [
        ("small", small_submission(1)),
        ("3000-functions", many_functions(3000)),
    ] {
        for (strategy, label) in [
            (Strategy::Cranelift, "cranelift"),
            (Strategy::Winch, "winch"),
        ] {
            // No memory cache: every load compiles.
            let sandbox = sandbox(strategy, 0, true);
            group.bench_with_input(BenchmarkId::new(label, name), &bytes, |b, bytes| {
                b.iter(|| sandbox.load(bytes).unwrap())
            });
        }
    }
    group.finish();
}

fn run_loop(sandbox: &Sandbox, bytes: &[u8]) -> impl FnMut() -> Value {
    let module = sandbox.load(bytes).unwrap();
    let limits = Limits {
        fuel: u64::MAX / 2,
        ..Limits::default()
    };
    let mut instance = module.instantiate(&limits).unwrap().unwrap();
    move || {
        instance
            .call("run", &[Value::I32(100_000)])
            .unwrap()
            .result
            .unwrap()[0]
    }
}

fn overheads(c: &mut Criterion) {
    let plain = grade::parse_wat(LOOP.as_bytes()).unwrap();
    let probed = instrument(
        &plain,
        &InstrumentOptions {
            branches: true,
            trace_capacity: 0,
        },
    )
    .unwrap()
    .bytes;
    let mut group = c.benchmark_group("overhead");
    group.sample_size(10);
    for (label, fuel, bytes) in [
        ("fuel-off", false, &plain),
        ("fuel-on", true, &plain),
        ("probes-on", true, &probed),
    ] {
        let sandbox = sandbox(Strategy::Cranelift, 16, fuel);
        let mut run = run_loop(&sandbox, bytes);
        group.bench_function(BenchmarkId::new("loop-100k", label), |b| b.iter(&mut run));
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = instantiate_call, grading, compile, overheads
}
criterion_main!(benches);
