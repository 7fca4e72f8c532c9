//! Fast evaluation: generations of 1,000 koza-style candidates through every
//! tier, on one core, next to DEAP on the same task in the same run.
//!
//! `cargo bench --bench tier0` prints a table. DEAP runs in a venv the
//! harness creates under the target directory (`pip install deap numpy`);
//! set `CRUCIBLE_BENCH_NO_DEAP=1` to skip it.
//! Times are process CPU seconds of this thread, best of a few repetitions;
//! trust the ratios, not the absolute figures (the machine is shared).

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

#[path = "../guests/evaluator/src/lib.rs"]
#[allow(
    dead_code,
    reason = "the guest's wasm-only exports are cfg'd out natively"
)]
mod guest;

use crucible_compiler::random::Rng;
use crucible_compiler::value::{Arg, Value};
use crucible_compiler::{CheckedProgram, bytecode, compile_text, wasm};
use crucible_sandbox as sandbox;
use crucible_search::eval::{Evaluator, InterpEvaluator};
use crucible_search::task::CaseSet;
use crucible_search::tier0::Tier0Evaluator;

const POP: usize = 1000;
const NODES: usize = 30;

/// A random f64 expression of about `size` nodes over `x`, `+ - * /` and constants.
fn expr(rng: &mut Rng, size: usize) -> String {
    if size <= 1 {
        return if rng.chance(0.6) {
            "x".to_string()
        } else {
            format!("{:?}", (rng.below(2001) as f64 - 1000.0) / 256.0)
        };
    }
    let op = ["+", "-", "*", "/"][rng.below(4)];
    let left = 1 + rng.below(size - 1);
    format!("({} {op} {})", expr(rng, left), expr(rng, size - 1 - left))
}

fn population(seed: u64) -> Vec<CheckedProgram> {
    let mut rng = Rng::new(seed);
    (0..POP)
        .map(|_| {
            // Binary trees have an odd node count: 29 or 31 nodes, 30 on average.
            let size = if rng.chance(0.5) {
                NODES - 1
            } else {
                NODES + 1
            };
            compile_text(&format!(
                "fn f(x: f64) -> f64 {{ return {}; }}",
                expr(&mut rng, size)
            ))
            .unwrap()
        })
        .collect()
}

fn cases(n: usize) -> CaseSet {
    let args: Vec<Vec<Arg>> = (0..n)
        .map(|i| vec![Value::F64(-1.0 + 2.0 * i as f64 / (n - 1) as f64).into()])
        .collect();
    CaseSet::from_args(
        n as u64,
        vec![crucible_compiler::ir::Type::Scalar(
            crucible_compiler::ir::Scalar::F64,
        )],
        args,
    )
}

/// Best CPU-time of `reps` runs of `f`, in seconds (thread CPU time via wall
/// time on a single-threaded pool: the pool has one thread and we wait on it).
fn best<F: FnMut()>(reps: usize, mut f: F) -> f64 {
    f(); // Warm up: caches, resident data, lazily compiled code.
    (0..reps)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

struct Row {
    what: String,
    n_cases: usize,
    seconds: f64,
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let sb_tier0 = sandbox::Sandbox::new(&crucible_search::tier0::sandbox_config(1)).unwrap();
    let mut config = sandbox::SandboxConfig::new(sandbox::Strategy::Cranelift);
    config.threads = 1;
    let sb_cranelift = sandbox::Sandbox::new(&config).unwrap();
    let mut config = sandbox::SandboxConfig::new(sandbox::Strategy::Winch);
    config.threads = 1;
    let sb_winch = sandbox::Sandbox::new(&config).unwrap();
    let pop = population(1);
    let refs: Vec<&CheckedProgram> = pop.iter().collect();
    let tier0 = Tier0Evaluator::new(&sb_tier0, InterpEvaluator).expect("evaluator guest built");
    // For the profile only: the same guest with wasmtime fuel metering off.
    let mut nofuel = crucible_search::tier0::sandbox_config(1);
    nofuel.consume_fuel = false;
    let sb_nofuel = sandbox::Sandbox::new(&nofuel).unwrap();
    let tier0_nofuel =
        Tier0Evaluator::new(&sb_nofuel, InterpEvaluator).expect("evaluator guest built");
    let mut rows = Vec::new();
    pool.install(|| {
        for n in [20usize, 100, 10_000] {
            let cs = cases(n);
            let reps = if n >= 10_000 { 3 } else { 10 };
            let s = best(reps, || {
                tier0.run("f", &refs, &cs, u64::MAX / 8).unwrap();
            });
            rows.push(Row {
                what: "tier 0: evaluator guest in the sandbox (lower + run)".into(),
                n_cases: n,
                seconds: s,
            });
            let s = best(reps, || {
                tier0_nofuel.run("f", &refs, &cs, u64::MAX / 8).unwrap();
            });
            rows.push(Row {
                what: "  profile: tier 0 with wasmtime fuel off (not for use)".into(),
                n_cases: n,
                seconds: s,
            });

            // The same interpreter source, compiled natively.
            let columns: Vec<u64> = cs
                .args
                .iter()
                .map(|a| match &a[0] {
                    Arg::Scalar(v) => v.to_bits(),
                    Arg::Slice(_) => unreachable!(),
                })
                .collect();
            let mut out = vec![0u64; n];
            let mut scratch = guest::Scratch::new();
            let s = best(reps, || {
                for c in &refs {
                    let words = bytecode::lower(c, "f").unwrap();
                    guest::evaluate(&words, &columns, n, &mut out, &mut scratch).unwrap();
                }
            });
            rows.push(Row {
                what: "same guest source, native (lower + run)".into(),
                n_cases: n,
                seconds: s,
            });

            if n <= 100 {
                let s = best(3, || {
                    InterpEvaluator.run("f", &refs, &cs, u64::MAX / 8).unwrap();
                });
                rows.push(Row {
                    what: "reference interpreter (tree-walking)".into(),
                    n_cases: n,
                    seconds: s,
                });
            }
            if n == 100 {
                for (name, sb) in [("Winch", &sb_winch), ("Cranelift", &sb_cranelift)] {
                    let s = best(2, || tier1(sb, &refs, &cs));
                    rows.push(Row {
                        what: format!("tier 1: batched compiled Wasm, {name} (compile + run)"),
                        n_cases: n,
                        seconds: s,
                    });
                    // For the profile: generating and compiling the module alone.
                    let s = best(2, || {
                        let batch =
                            wasm::compile_batch(&refs, "f", &wasm::CompileOptions { probes: None })
                                .unwrap();
                        let mut bytes = batch.bytes;
                        bytes.extend_from_slice(&custom_section(0));
                        sb.load(&bytes).unwrap();
                    });
                    rows.push(Row {
                        what: format!("  of which: compile_batch + {name} compile"),
                        n_cases: 0,
                        seconds: s,
                    });
                }
            }
        }
        // Lowering alone, for the profile.
        let s = best(10, || {
            for c in &refs {
                std::hint::black_box(bytecode::lower(c, "f").unwrap());
            }
        });
        rows.push(Row {
            what: "  of which: lowering 1,000 candidates to bytecode".into(),
            n_cases: 0,
            seconds: s,
        });
    });

    let deap = deap();
    println!(
        "\nGenerations of {POP} koza-style candidates of ~{NODES} nodes, one core (best of repeated runs)\n"
    );
    println!(
        "{:<62} {:>7} {:>11} {:>14} {:>12}",
        "tier", "cases", "ms/gen", "candidates/s", "node-evals/s"
    );
    for r in &rows {
        let cps = POP as f64 / r.seconds;
        let nps = (POP * NODES * r.n_cases) as f64 / r.seconds;
        println!(
            "{:<62} {:>7} {:>11.3} {:>14.0} {:>12.3e}",
            r.what,
            r.n_cases,
            r.seconds * 1e3,
            cps,
            if r.n_cases > 0 { nps } else { 0.0 }
        );
    }
    let get = |what: &str, n: usize| {
        rows.iter()
            .find(|r| r.what.starts_with(what) && r.n_cases == n)
            .map(|r| r.seconds)
    };
    println!();
    if let (Some(t0), Some(native)) = (get("tier 0", 10_000), get("same guest", 10_000)) {
        println!(
            "guest in sandbox / same source native at 10,000 cases: {:.2}x (target <= 1.5x)",
            t0 / native
        );
    }
    if let (Some(t0), Some(native)) = (get("tier 0", 20), get("same guest", 20)) {
        println!(
            "guest in sandbox / same source native at 20 cases:     {:.2}x",
            t0 / native
        );
    }
    if let Some(t1) = get("tier 1: batched compiled Wasm, Winch", 100) {
        println!(
            "tier 1 (Winch) ms per generation of 1,000 x 100 cases: {:.1} ms (target <= 50 ms)",
            t1 * 1e3
        );
    }
    match deap {
        Ok((cands, nodes)) => {
            println!(
                "DEAP koza-quartic (pop 1,000, 20 cases, whole loop): {cands:.0} candidates/s; numpy at 10,000 cases: {nodes:.3e} node-evals/s"
            );
            if let Some(t0) = get("tier 0", 20) {
                let ours = POP as f64 / t0;
                println!(
                    "tier-0 evaluation at 20 cases / DEAP whole loop: {:.0}x (target >= 50x for the whole GP loop; see benches/evolve.rs)",
                    ours / cands
                );
            }
            if let Some(t0) = get("tier 0", 10_000) {
                let ours = (POP * NODES * 10_000) as f64 / t0;
                println!(
                    "tier-0 node-evals/s at 10,000 cases / DEAP-numpy: {:.1}x (target >= 4x)",
                    ours / nodes
                );
            }
        }
        Err(why) => println!("DEAP: not run ({why})"),
    }
}

/// Compiles the generation into one batch module and runs every candidate.
fn tier1(sb: &sandbox::Sandbox, refs: &[&CheckedProgram], cs: &CaseSet) {
    let batch = wasm::compile_batch(refs, "f", &wasm::CompileOptions { probes: None }).unwrap();
    // A fresh module each generation: the cache must not hide compile time.
    let mut bytes = batch.bytes;
    bytes.extend_from_slice(&custom_section(Instant::now().elapsed().as_nanos() as u64));
    let module = sb.load(&bytes).unwrap();
    let mut inst = module
        .instantiate(&sandbox::Limits {
            fuel: u64::MAX / 4,
            ..sandbox::Limits::default()
        })
        .unwrap()
        .unwrap();
    let heap = inst.global_i32(wasm::HEAP_BASE_EXPORT).unwrap() as u32;
    let blob = wasm::encode_inputs(&cs.params, &cs.args, heap);
    let out = (heap + blob.len() as u32).next_multiple_of(8);
    inst.grow_memory_to(out as u64 + 8 * cs.len() as u64)
        .unwrap();
    inst.write_memory(heap as u64, &blob).unwrap();
    for k in 0..refs.len() {
        let r = inst
            .call(
                wasm::EVAL_EXPORT,
                &[
                    sandbox::Value::I32(k as i32),
                    sandbox::Value::I32(cs.len() as i32),
                    sandbox::Value::I32(heap as i32),
                    sandbox::Value::I32(out as i32),
                    sandbox::Value::I64(i64::MAX),
                ],
            )
            .unwrap();
        assert!(r.result.is_ok());
    }
}

/// A custom section with a nonce, so each generation's module is new to the cache.
fn custom_section(nonce: u64) -> Vec<u8> {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed) ^ nonce;
    let name = b"nonce";
    let mut payload = vec![name.len() as u8];
    payload.extend_from_slice(name);
    payload.extend_from_slice(&n.to_le_bytes());
    let mut s = vec![0u8, payload.len() as u8];
    s.extend_from_slice(&payload);
    s
}

/// Runs benches/deap_koza.py in a venv; returns (candidates/s, node-evals/s).
fn deap() -> Result<(f64, f64), String> {
    if std::env::var_os("CRUCIBLE_BENCH_NO_DEAP").is_some() {
        return Err("CRUCIBLE_BENCH_NO_DEAP is set".into());
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let venv = target.join("deap-venv");
    let python = venv.join("bin/python");
    if !python.exists() {
        let ok = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .map_err(|e| e.to_string())?;
        if !ok.success() {
            return Err("python3 -m venv failed".into());
        }
        let ok = Command::new(&python)
            .args(["-m", "pip", "install", "--quiet", "deap==1.4.*", "numpy"])
            .status()
            .map_err(|e| e.to_string())?;
        if !ok.success() {
            return Err("pip install deap numpy failed".into());
        }
    }
    let out = Command::new(&python)
        .arg(root.join("benches/deap_koza.py"))
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |key: &str| -> Result<f64, String> {
        let at = text.find(key).ok_or("no such field")? + key.len() + 3;
        text[at..]
            .split([',', '}'])
            .next()
            .and_then(|v| v.trim().parse().ok())
            .ok_or_else(|| format!("bad DEAP output: {text}"))
    };
    Ok((
        field("candidates_per_s_20_cases")?,
        field("node_evals_per_s_10000_cases")?,
    ))
}
