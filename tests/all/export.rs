//! Rust export: exported random programs, compiled with the machine's
//! `rustc`, agree bit for bit with the reference interpreter.
//!
//! One crate holds every program (each in its own `mod`) and a `main` that
//! prints each result's bits; one `rustc` run keeps the test fast.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use crucible_compiler::export::{self, ExportOptions};
use crucible_compiler::interp::Interpreter;
use crucible_compiler::ir::Scalar;
use crucible_compiler::random::{self, GenConfig, Rng};
use crucible_compiler::value::{Arg, SliceData, Value};
use crucible_compiler::{CheckedProgram, check, print};

const N_PROGRAMS: usize = 150;
const N_CASES: usize = 8;
const BUDGET: u64 = 100_000_000;

/// A Rust expression of exactly this value.
fn rust_value(v: Value) -> String {
    match v {
        Value::I32(x) => format!("({:#x}u32 as i32)", x as u32),
        Value::I64(x) => format!("({:#x}u64 as i64)", x as u64),
        Value::U32(x) => format!("{x:#x}u32"),
        Value::U64(x) => format!("{x:#x}u64"),
        Value::F32(x) => format!("f32::from_bits({:#x})", x.to_bits()),
        Value::F64(x) => format!("f64::from_bits({:#x})", x.to_bits()),
        Value::Bool(x) => x.to_string(),
    }
}

fn rust_arg(a: &Arg) -> String {
    let items: Vec<String> = match a {
        Arg::Scalar(v) => return rust_value(*v),
        Arg::Slice(SliceData::U8(s)) => s.iter().map(|x| format!("{x}u8")).collect(),
        Arg::Slice(d) => (0..d.len() as u32)
            .map(|i| rust_value(d.index(i)))
            .collect(),
    };
    format!("&[{}]", items.join(", "))
}

fn print_bits(ret: Scalar) -> &'static str {
    match ret {
        Scalar::I32 => "r as u32 as u64",
        Scalar::I64 => "r as u64",
        Scalar::U32 | Scalar::U64 => "r as u64",
        Scalar::F32 => "r.to_bits() as u64",
        Scalar::F64 => "r.to_bits()",
        Scalar::Bool => "r as u64",
    }
}

#[test]
fn exported_rust_agrees_with_the_interpreter() {
    let mut src = String::from("#![allow(warnings)]\n");
    let mut main = String::from("fn main() {\n");
    let cases = random_programs(0xE0E0, N_PROGRAMS, |k, c, ret, cases| {
        let code = export::rust(
            c,
            &ExportOptions {
                header: format!("program {k}"),
            },
        );
        let _ = writeln!(src, "mod p{k} {{\n{code}}}");
        let _ = writeln!(src, "fn run{k}() {{");
        for case in cases {
            let args: Vec<String> = case.iter().map(rust_arg).collect();
            let _ = writeln!(
                src,
                "    {{ let r = p{k}::f({}); println!(\"{{}}\", {}); }}",
                args.join(", "),
                print_bits(ret)
            );
        }
        src.push_str("}\n");
        let _ = writeln!(main, "    run{k}();");
    });
    main.push_str("}\n");
    src.push_str(&main);

    let dir = std::env::temp_dir().join(format!("crucible-export-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("main.rs");
    std::fs::write(&file, &src).unwrap();
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let exe = dir.join("exported");
    // Optimised, so that constant folding cannot hide a semantic difference.
    let mut compile = Command::new(&rustc);
    compile
        .args([
            "--edition",
            "2021",
            "-C",
            "opt-level=1",
            "-C",
            "debuginfo=0",
            "-o",
        ])
        .arg(&exe)
        .arg(&file);
    let failed = format!("rustc failed on {}", file.display());
    compile_run_compare(compile, &failed, "rust", &dir, &exe, &cases);
}

/// The interpreter's result bits for each case of a differential test, and
/// the program number, program text and case behind each.
struct Expected {
    bits: Vec<u64>,
    texts: Vec<(usize, String, String)>,
}

/// Generates `n_programs` random programs from `seed`, runs each on
/// `N_CASES` random cases with the interpreter, and hands each program, its
/// number, return type and cases to `emit`, which writes its exported run.
fn random_programs(
    seed: u64,
    n_programs: usize,
    mut emit: impl FnMut(usize, &CheckedProgram, Scalar, &[Vec<Arg>]),
) -> Expected {
    let mut rng = Rng::new(seed);
    let mut expected = Expected {
        bits: Vec::new(),
        texts: Vec::new(),
    };
    for k in 0..n_programs {
        let (params, ret) = random::signature(&mut rng);
        let p = random::program(&mut rng, &GenConfig::SMALL, &params, ret);
        let c = check(&p).expect("well typed");
        let (entry, _) = c.func("f").unwrap();
        let interp = Interpreter::new(&c);
        let mut cases = Vec::new();
        for _ in 0..N_CASES {
            let case: Vec<Arg> = params.iter().map(|t| random::arg(&mut rng, *t)).collect();
            expected.bits.push(
                interp
                    .run(entry, &case, BUDGET)
                    .expect("finishes")
                    .value
                    .to_bits(),
            );
            expected
                .texts
                .push((k, print(c.program()), format!("{case:?}")));
            cases.push(case);
        }
        emit(k, &c, ret, &cases);
    }
    expected
}

/// Runs `compile` (`failed` says where, if it fails), then `exe`, and
/// compares the bits it prints, a line a case, with the interpreter's;
/// `lang` names the export in messages. Removes `dir` when all agree.
fn compile_run_compare(
    mut compile: Command,
    failed: &str,
    lang: &str,
    dir: &Path,
    exe: &Path,
    expected: &Expected,
) {
    let out = compile.output().expect("compiler runs");
    assert!(
        out.status.success(),
        "{failed}:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run = Command::new(exe).output().expect("exported binary runs");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let got: Vec<u64> = String::from_utf8(run.stdout)
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    assert_eq!(got.len(), expected.bits.len());
    for (i, (g, e)) in got.iter().zip(&expected.bits).enumerate() {
        let (k, text, case) = &expected.texts[i];
        assert_eq!(
            g, e,
            "program {k}, case {case}: {lang} {g:#x} vs interpreter {e:#x}\n{text}"
        );
    }
    std::fs::remove_dir_all(dir).unwrap();
}

/// A C expression of exactly this value.
fn c_value(v: Value) -> String {
    match v {
        Value::I32(x) => format!("(int32_t)UINT32_C({:#x})", x as u32),
        Value::I64(x) => format!("(int64_t)UINT64_C({:#x})", x as u64),
        Value::U32(x) => format!("UINT32_C({x:#x})"),
        Value::U64(x) => format!("UINT64_C({x:#x})"),
        Value::F32(x) => format!("bits_f32(UINT32_C({:#x}))", x.to_bits()),
        Value::F64(x) => format!("bits_f64(UINT64_C({:#x}))", x.to_bits()),
        Value::Bool(x) => x.to_string(),
    }
}

fn c_elem(d: &SliceData) -> &'static str {
    use crucible_compiler::ir::Elem;
    match d.elem() {
        Elem::U8 => "uint8_t",
        Elem::U32 => "uint32_t",
        Elem::U64 => "uint64_t",
        Elem::I32 => "int32_t",
        Elem::I64 => "int64_t",
        Elem::F32 => "float",
        Elem::F64 => "double",
    }
}

fn c_result_bits(ret: Scalar) -> &'static str {
    match ret {
        Scalar::I32 | Scalar::U32 => "(uint64_t)(uint32_t)r",
        Scalar::I64 | Scalar::U64 => "(uint64_t)r",
        Scalar::Bool => "(uint64_t)r",
        Scalar::F32 => "(uint64_t)to_bits_f32(r)",
        Scalar::F64 => "to_bits_f64(r)",
    }
}

/// C export: exported random programs, compiled with the machine's `cc` as
/// C99, agree bit for bit with the reference interpreter.
///
/// Each program is its own translation unit (its helpers are `static`), with
/// its functions renamed by `#define` and a runner that prints each result's
/// bits; one `cc` run compiles and links them all.
#[test]
fn exported_c_agrees_with_the_interpreter() {
    const N_C_PROGRAMS: usize = 100;
    let dir = std::env::temp_dir().join(format!("crucible-export-c-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let prelude = "#include <stdint.h>\n#include <stdio.h>\n#include <string.h>\n\
        static float bits_f32(uint32_t b) { float v; memcpy(&v, &b, 4); return v; }\n\
        static double bits_f64(uint64_t b) { double v; memcpy(&v, &b, 8); return v; }\n\
        static uint32_t to_bits_f32(float v) { uint32_t b; memcpy(&b, &v, 4); return b; }\n\
        static uint64_t to_bits_f64(double v) { uint64_t b; memcpy(&b, &v, 8); return b; }\n";
    let mut files = Vec::new();
    let mut main = String::from("#include <stdio.h>\n");
    let cases = random_programs(0xC0C0, N_C_PROGRAMS, |k, c, ret, cases| {
        let mut src = String::from(prelude);
        for func in &c.program().funcs {
            let _ = writeln!(src, "#define {0} p{k}_{0}", func.name);
        }
        src.push_str(&export::c(
            c,
            &ExportOptions {
                header: format!("program {k}"),
            },
        ));
        let _ = writeln!(src, "void run{k}(void) {{");
        for (n, case) in cases.iter().enumerate() {
            let mut args = Vec::new();
            for (j, a) in case.iter().enumerate() {
                match a {
                    Arg::Scalar(v) => args.push(c_value(*v)),
                    Arg::Slice(d) if d.is_empty() => args.push("NULL, 0".into()),
                    Arg::Slice(d) => {
                        let items: Vec<String> = (0..d.len() as u32)
                            .map(|i| match d.index(i) {
                                // Bytes read as u32.
                                Value::U32(x) if matches!(d, SliceData::U8(_)) => x.to_string(),
                                v => c_value(v),
                            })
                            .collect();
                        let _ = writeln!(
                            src,
                            "    const {} a{n}_{j}[] = {{{}}};",
                            c_elem(d),
                            items.join(", ")
                        );
                        args.push(format!("a{n}_{j}, {}", d.len()));
                    }
                }
            }
            let _ = writeln!(
                src,
                "    {{ {} r = p{k}_f({}); printf(\"%llu\\n\", (unsigned long long)({})); }}",
                match ret {
                    Scalar::I32 => "int32_t",
                    Scalar::I64 => "int64_t",
                    Scalar::U32 => "uint32_t",
                    Scalar::U64 => "uint64_t",
                    Scalar::F32 => "float",
                    Scalar::F64 => "double",
                    Scalar::Bool => "_Bool",
                },
                args.join(", "),
                c_result_bits(ret)
            );
        }
        src.push_str("}\n");
        let file = dir.join(format!("p{k}.c"));
        std::fs::write(&file, &src).unwrap();
        files.push(file);
        let _ = writeln!(main, "void run{k}(void);");
    });
    main.push_str("int main(void) {\n");
    for k in 0..N_C_PROGRAMS {
        let _ = writeln!(main, "    run{k}();");
    }
    main.push_str("    return 0;\n}\n");
    let main_file = dir.join("main.c");
    std::fs::write(&main_file, &main).unwrap();
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let exe = dir.join("exported");
    // Optimised, so that constant folding cannot hide a semantic difference.
    let mut compile = Command::new(&cc);
    compile
        .args(["-std=c99", "-O1", "-o"])
        .arg(&exe)
        .arg(&main_file)
        .args(&files)
        .arg("-lm");
    let failed = format!("cc failed in {}", dir.display());
    compile_run_compare(compile, &failed, "C", &dir, &exe, &cases);
}

/// `crucible export RUN`: the best program of an archived run (here one the
/// build-time optimizer made), with a header naming the task, run and seed.
#[test]
fn export_run_reads_the_best_program_from_the_archive() {
    use crucible_search::optimize::{self, Budget, OptimizeRequest, TaskSource};

    let dir = std::env::temp_dir().join(format!("crucible-export-run-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let task_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/all/optimize");
    let best = optimize::best_program(&OptimizeRequest {
        task: TaskSource::File(task_dir.join("hash.toml")),
        cache_dir: dir.clone(),
        budget: Budget {
            generations: Some(2),
            evaluations: None,
        },
        seed: 5,
        offline: false,
    })
    .unwrap();
    let db = dir.join(optimize::CACHE_FILE);
    let run = best.run.to_string();
    let export = |format: &str| {
        let o = Command::new(env!("CARGO_BIN_EXE_crucible"))
            .args(["export", &run, format, "--db"])
            .arg(&db)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap()
    };
    let rust = export("--rust");
    assert!(
        rust.starts_with(&format!(
            "// Best program of run {run} of task `tiny-hash` ("
        )) && rust.contains("seed 5")
            && rust.contains("// Fitness: error ")
            && rust.contains("pub fn hash(mut key: u64) -> u64 {"),
        "{rust}"
    );
    let c = export("--c");
    assert!(c.contains("uint64_t hash(uint64_t key) {"), "{c}");
    let o = Command::new(env!("CARGO_BIN_EXE_crucible"))
        .args(["export", "99", "--rust", "--db"])
        .arg(&db)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("no run 99"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
