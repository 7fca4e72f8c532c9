//! `crucible check`, `crucible compile` and `crucible run`: the candidate
//! language from the command line.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use crucible_compiler::ir::{Elem, Type};
use crucible_compiler::value::{Arg, SliceData, Value};
use crucible_compiler::{CheckedProgram, interp, wasm};
use crucible_sandbox as sandbox;

/// Arguments of `crucible check`.
#[derive(clap::Args)]
pub struct CheckArgs {
    /// Candidate-language files (`.cru`).
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

/// Arguments of `crucible compile`.
#[derive(clap::Args)]
pub struct CompileArgs {
    /// The candidate-language file.
    file: PathBuf,
    /// Where to write the module.
    #[arg(short, long)]
    output: PathBuf,
    /// Write the text format (WAT) instead of binary.
    #[arg(long)]
    wat: bool,
    /// Compile in probes (per-node counters and a value trace of this many records).
    #[arg(long, value_name = "TRACE_RECORDS", num_args = 0..=1, default_missing_value = "64")]
    probes: Option<u32>,
}

/// Which tier runs the program.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Tier {
    /// The reference interpreter.
    Interp,
    /// Compiled to Wasm and run in the sandbox.
    Wasm,
}

/// Arguments of `crucible run`.
#[derive(clap::Args)]
pub struct RunArgs {
    /// The candidate-language file.
    file: PathBuf,
    /// The function to call (default: the last function in the file).
    #[arg(long)]
    entry: Option<String>,
    /// Arguments as candidate-language literals (`3`, `-1.5`, `0xff`, `true`;
    /// slices as `[1, 2, 3]`).
    #[arg(long, num_args = 0.., allow_negative_numbers = true)]
    args: Vec<String>,
    /// Which tier runs it.
    #[arg(long, value_enum, default_value = "wasm")]
    tier: Tier,
    /// Cost budget for the interpreter (cost-model units).
    #[arg(long, default_value_t = 1_000_000_000)]
    budget: u64,
}

/// Reads and checks a candidate file; on errors prints the rendered
/// diagnostics to stderr and returns `None`.
pub fn load_program(path: &Path) -> anyhow::Result<Option<CheckedProgram>> {
    let src =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    match crucible_compiler::compile_text(&src) {
        Ok(c) => Ok(Some(c)),
        Err(diags) => {
            eprint!("{}", diags.render(&path.display().to_string(), &src));
            Ok(None)
        }
    }
}

pub fn check(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let mut failed = false;
    for file in &args.files {
        match load_program(file)? {
            Some(c) => println!(
                "{}: ok ({} functions, {} nodes)",
                file.display(),
                c.program().funcs.len(),
                c.node_count()
            ),
            None => failed = true,
        }
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

pub fn compile(args: CompileArgs) -> anyhow::Result<ExitCode> {
    let Some(checked) = load_program(&args.file)? else {
        return Ok(ExitCode::from(1));
    };
    let options = wasm::CompileOptions {
        probes: args
            .probes
            .map(|trace_capacity| wasm::ProbeOptions { trace_capacity }),
    };
    let bytes = wasm::compile(&checked, &options);
    let out: Vec<u8> = if args.wat {
        wasmprinter::print_bytes(&bytes)
            .context("printing WAT")?
            .into_bytes()
    } else {
        bytes
    };
    std::fs::write(&args.output, out)
        .with_context(|| format!("writing {}", args.output.display()))?;
    Ok(ExitCode::SUCCESS)
}

/// Parses one command-line argument for a parameter of type `ty`.
pub fn parse_arg(ty: Type, text: &str) -> anyhow::Result<Arg> {
    match ty {
        Type::Scalar(s) => Value::parse(s, text)
            .map(Arg::Scalar)
            .with_context(|| format!("`{text}` is not a `{s}` literal")),
        Type::Slice(elem) => {
            let inner = text
                .trim()
                .strip_prefix('[')
                .and_then(|t| t.strip_suffix(']'))
                .with_context(|| format!("`{text}` is not a slice literal like [1, 2, 3]"))?;
            let items: Vec<&str> = inner
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect();
            let values = items
                .iter()
                .map(|t| {
                    let scalar = if elem == Elem::U8 {
                        crucible_compiler::ir::Scalar::U32
                    } else {
                        elem.scalar()
                    };
                    Value::parse(scalar, t)
                        .with_context(|| format!("`{t}` is not a `{}` element", elem.name()))
                })
                .collect::<anyhow::Result<Vec<Value>>>()?;
            Ok(Arg::Slice(slice_from_values(elem, &values)?))
        }
    }
}

fn slice_from_values(elem: Elem, values: &[Value]) -> anyhow::Result<SliceData> {
    Ok(match elem {
        Elem::U8 => SliceData::U8(
            values
                .iter()
                .map(|v| match v {
                    Value::U32(x) => u8::try_from(*x).context("u8 element out of range"),
                    _ => bail!("bad u8 element"),
                })
                .collect::<anyhow::Result<Vec<u8>>>()?
                .into(),
        ),
        _ => {
            let bits: Vec<u64> = values.iter().map(|v| v.to_bits()).collect();
            match elem {
                Elem::U32 => SliceData::U32(bits.iter().map(|&b| b as u32).collect()),
                Elem::U64 => SliceData::U64(bits.into()),
                Elem::I32 => SliceData::I32(bits.iter().map(|&b| b as u32 as i32).collect()),
                Elem::I64 => SliceData::I64(bits.iter().map(|&b| b as i64).collect()),
                Elem::F32 => {
                    SliceData::F32(bits.iter().map(|&b| f32::from_bits(b as u32)).collect())
                }
                Elem::F64 => SliceData::F64(bits.iter().map(|&b| f64::from_bits(b)).collect()),
                Elem::U8 => unreachable!("handled above"),
            }
        }
    })
}

pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let Some(checked) = load_program(&args.file)? else {
        return Ok(ExitCode::from(1));
    };
    let program = checked.program();
    let (entry, func) = match &args.entry {
        Some(name) => checked
            .func(name)
            .with_context(|| format!("no function `{name}` in {}", args.file.display()))?,
        None => {
            let last = program.funcs.len() - 1;
            (
                crucible_compiler::ir::FuncId(last as u32),
                &program.funcs[last],
            )
        }
    };
    if args.args.len() != func.params.len() {
        bail!(
            "`{}` takes {} argument(s), {} given with --args",
            func.name,
            func.params.len(),
            args.args.len()
        );
    }
    let call_args = func
        .params
        .iter()
        .zip(&args.args)
        .map(|(p, text)| parse_arg(p.ty, text).with_context(|| format!("argument `{}`", p.name)))
        .collect::<anyhow::Result<Vec<Arg>>>()?;
    let value = match args.tier {
        Tier::Interp => {
            let res = interp::Interpreter::new(&checked).run(entry, &call_args, args.budget);
            match res {
                Ok(r) => r.value,
                Err(e) => bail!("{e}"),
            }
        }
        Tier::Wasm => run_in_sandbox(&checked, &func.name, func.ret, &call_args)?,
    };
    println!("{value}");
    Ok(ExitCode::SUCCESS)
}

/// Compiles the program and calls `entry` once in a fresh sandbox instance.
pub fn run_in_sandbox(
    checked: &CheckedProgram,
    entry: &str,
    ret: crucible_compiler::ir::Scalar,
    call_args: &[Arg],
) -> anyhow::Result<Value> {
    let bytes = wasm::compile(checked, &wasm::CompileOptions { probes: None });
    let sb = sandbox::Sandbox::new(&sandbox::SandboxConfig::new(sandbox::Strategy::Cranelift))
        .context("starting the sandbox")?;
    let module = sb.load(&bytes).context("loading the compiled module")?;
    let limits = sandbox::Limits::default();
    let mut instance = match module.instantiate(&limits).context("instantiating")? {
        Ok(i) => i,
        Err(verdict) => bail!("instantiation failed: {verdict}"),
    };
    let mut next = instance
        .global_i32(wasm::HEAP_BASE_EXPORT)
        .context("module lacks its heap base")? as u64;
    let mut wasm_args = Vec::new();
    for arg in call_args {
        match arg {
            Arg::Scalar(v) => wasm_args.push(to_sandbox(*v)),
            Arg::Slice(d) => {
                let bytes = d.to_le_bytes();
                let end = next + bytes.len() as u64;
                if end > instance.memory_size() {
                    instance
                        .grow_memory_to(end)
                        .context("growing memory for a slice")?;
                }
                instance.write_memory(next, &bytes)?;
                wasm_args.push(sandbox::Value::I32(next as i32));
                wasm_args.push(sandbox::Value::I32(d.len() as i32));
                next = end.next_multiple_of(8);
            }
        }
    }
    let outcome = instance.call(entry, &wasm_args)?;
    match outcome.result {
        Ok(values) => {
            let v = values.first().context("no result")?;
            Ok(from_sandbox(*v, ret))
        }
        Err(verdict) => bail!("the program did not finish: {verdict}"),
    }
}

/// A compiler value as a sandbox (Wasm) value.
pub fn to_sandbox(v: Value) -> sandbox::Value {
    match v {
        Value::I32(x) => sandbox::Value::I32(x),
        Value::U32(x) => sandbox::Value::I32(x as i32),
        Value::Bool(x) => sandbox::Value::I32(x as i32),
        Value::I64(x) => sandbox::Value::I64(x),
        Value::U64(x) => sandbox::Value::I64(x as i64),
        Value::F32(x) => sandbox::Value::F32(x.to_bits()),
        Value::F64(x) => sandbox::Value::F64(x.to_bits()),
    }
}

/// A sandbox (Wasm) value as a compiler value of type `ty`.
pub fn from_sandbox(v: sandbox::Value, ty: crucible_compiler::ir::Scalar) -> Value {
    let bits = match v {
        sandbox::Value::I32(x) => x as u32 as u64,
        sandbox::Value::I64(x) => x as u64,
        sandbox::Value::F32(x) => x as u64,
        sandbox::Value::F64(x) => x,
    };
    Value::from_bits(ty, bits)
}
