//! The candidate language's front end and backends.
//!
//! `cargo bench --bench compiler` measures, for a 30-node koza-style program:
//! parse + check + compile to Wasm (programs/s), the batch backend per
//! candidate, the interpreter per evaluated node, and prints the module sizes.

#![allow(
    missing_docs,
    reason = "criterion's macros generate undocumented functions"
)]

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use crucible_compiler::interp::Interpreter;
use crucible_compiler::ir::{ExprKind, Node};
use crucible_compiler::value::{Arg, Value};
use crucible_compiler::{compile_text, wasm};

/// 30 expression nodes: x⁴ + x³ + x² + x written out, plus some constants.
const KOZA_30: &str = "fn f(x: f64) -> f64 {
    return x * x * x * x + x * x * x + x * x + x + (x - 0.5) * (x + 0.25) / (x * x + 1.0) - 0.125 * x;
}";

fn expr_nodes(src: &str) -> usize {
    let c = compile_text(src).unwrap();
    let mut n = 0;
    c.program().visit(&mut |node| {
        if let Node::Expr(e) = node {
            n += 1;
            let _ = matches!(e.kind, ExprKind::Lit(_));
        }
    });
    n
}

fn front_end(c: &mut Criterion) {
    let nodes = expr_nodes(KOZA_30);
    let checked = compile_text(KOZA_30).unwrap();
    let options = wasm::CompileOptions { probes: None };
    let probes = wasm::CompileOptions {
        probes: Some(wasm::ProbeOptions { trace_capacity: 64 }),
    };
    let plain = wasm::compile(&checked, &options).len();
    let probed = wasm::compile(&checked, &probes).len();
    let refs: Vec<_> = (0..1000).map(|_| &checked).collect();
    let batch = wasm::compile_batch(&refs, "f", &options)
        .unwrap()
        .bytes
        .len();
    println!(
        "module sizes for a {nodes}-node program: {plain} B, with probes {probed} B, \
         batch of 1,000: {batch} B ({} B per candidate)",
        batch / 1000
    );

    let mut g = c.benchmark_group("compile");
    g.throughput(Throughput::Elements(1));
    g.bench_function("parse-check/koza-30-nodes", |b| {
        b.iter(|| compile_text(black_box(KOZA_30)).unwrap())
    });
    g.bench_function("parse-check-wasm/koza-30-nodes", |b| {
        b.iter(|| wasm::compile(&compile_text(black_box(KOZA_30)).unwrap(), &options))
    });
    g.throughput(Throughput::Elements(1000));
    g.bench_function("batch-wasm/1000x-koza-30-nodes", |b| {
        b.iter(|| wasm::compile_batch(black_box(&refs), "f", &options).unwrap())
    });
    g.finish();

    let interp = Interpreter::new(&checked);
    let (f, _) = checked.func("f").unwrap();
    let mut g = c.benchmark_group("interp");
    for n_cases in [20usize, 1000] {
        let cases: Vec<Vec<Arg>> = (0..n_cases)
            .map(|i| vec![Value::F64(i as f64 / n_cases as f64 - 0.5).into()])
            .collect();
        // Throughput in evaluated expression nodes.
        g.throughput(Throughput::Elements((n_cases * nodes) as u64));
        g.bench_with_input(
            BenchmarkId::new("tree-walk/koza-30-nodes", n_cases),
            &cases,
            |b, cases| {
                b.iter(|| {
                    for case in cases {
                        black_box(interp.run(f, case, u64::MAX).unwrap());
                    }
                })
            },
        );
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(2)).warm_up_time(std::time::Duration::from_millis(500));
    targets = front_end
}
criterion_main!(benches);
