//! Test data: input generators and target formulas named by task files.
//!
//! Every generator is seeded by the task (`data.inputs.seed`), never by the
//! run, so all runs of a task see the same cases.
//! The held-out validation cases come from the same generators with another
//! seed (`data.inputs.validation_seed`), so they are new draws of the same
//! distribution: a program that fits the training draws by accident, rather
//! than the distribution, scores worse on them.

use std::path::Path;

use crucible_compiler::interp::Interpreter;
use crucible_compiler::ir::{Scalar, Type};
use crucible_compiler::value::{Arg, SliceData, Value};
use rand::Rng;

use crate::skeleton::Skeleton;
use crate::task::{CaseSet, ErrorKindSpec, HashParams, TaskFile, data_rng, i32_slice, uniform};

type DataResult<T> = Result<T, (&'static str, String)>;

/// Makes the task's cases from generator seed `seed` (the task's
/// `data.inputs.seed`, or its validation seed) and, for the hash error, its
/// parameters.
pub(crate) fn generate(
    file: &TaskFile,
    skeleton: &Skeleton,
    dir: &Path,
    error: ErrorKindSpec,
    seed: u64,
) -> DataResult<(CaseSet, Option<HashParams>)> {
    let spec = &file.data.inputs;
    let params = skeleton.params();
    let mut rng = data_rng(seed);
    let need = |key: &'static str, v: Option<f64>| v.ok_or((key, "missing".to_string()));
    let single_scalar = || match params.as_slice() {
        [Type::Scalar(s)] => Ok(*s),
        _ => Err((
            "data.inputs.kind",
            format!("`{}` needs one scalar parameter", spec.kind),
        )),
    };
    let mut hash = None;
    let args: Vec<Vec<Arg>> = match spec.kind.as_str() {
        "uniform" => {
            let t = single_scalar()?;
            let (lo, hi) = (
                need("data.inputs.lo", spec.lo)?,
                need("data.inputs.hi", spec.hi)?,
            );
            let n = spec.n.ok_or(("data.inputs.n", "missing".to_string()))?;
            (0..n)
                .map(|_| vec![Arg::Scalar(float_value(t, uniform(&mut rng, lo, hi)))])
                .collect()
        }
        "grid" => {
            let t = single_scalar()?;
            let (lo, hi) = (
                need("data.inputs.lo", spec.lo)?,
                need("data.inputs.hi", spec.hi)?,
            );
            let step = need("data.inputs.step", spec.step)?;
            if step <= 0.0 || (hi - lo) / step > 1e7 {
                return Err((
                    "data.inputs.step",
                    "must be positive and give at most 10^7 points".into(),
                ));
            }
            let n = ((hi - lo) / step).floor() as usize + 1;
            (0..n)
                .map(|i| vec![Arg::Scalar(float_value(t, lo + step * i as f64))])
                .collect()
        }
        "keys" => {
            if params != [Type::Scalar(Scalar::U64)] {
                return Err((
                    "data.inputs.kind",
                    "`keys` needs one `u64` parameter".into(),
                ));
            }
            let n = spec.n.ok_or(("data.inputs.n", "missing".to_string()))?;
            let mut rows = Vec::new();
            let mut set_sizes = Vec::new();
            for (i, set) in spec.sets.iter().enumerate() {
                let keys = key_set(&mut rng, set, n, dir)
                    .map_err(|m| ("data.inputs.sets", format!("[{i}]: {m}")))?;
                set_sizes.push(keys.len());
                rows.extend(keys.into_iter().map(|k| vec![Arg::Scalar(Value::U64(k))]));
            }
            if set_sizes.is_empty() {
                return Err(("data.inputs.sets", "name at least one key set".into()));
            }
            let h = file.fitness.hash.clone().unwrap_or(crate::task::HashSpec {
                table_bits: None,
                avalanche_keys: None,
                avalanche_weight: None,
                combine: None,
            });
            let avalanche_keys = h.avalanche_keys.unwrap_or(32);
            for _ in 0..avalanche_keys {
                let k: u64 = rng.random();
                rows.push(vec![Arg::Scalar(Value::U64(k))]);
                for b in 0..64 {
                    rows.push(vec![Arg::Scalar(Value::U64(k ^ (1 << b)))]);
                }
            }
            let table_bits = h.table_bits.unwrap_or(16);
            if !(1..=32).contains(&table_bits) {
                return Err(("fitness.hash.table_bits", "must lie in 1..=32".into()));
            }
            let worst_set = match h.combine.as_deref().unwrap_or("mean") {
                "mean" => false,
                "max" => true,
                other => {
                    return Err((
                        "fitness.hash.combine",
                        format!("unknown value `{other}`; expected mean or max"),
                    ));
                }
            };
            hash = Some(HashParams {
                table_bits,
                set_sizes,
                avalanche_keys,
                avalanche_weight: h.avalanche_weight.unwrap_or(1.0),
                worst_set,
            });
            rows
        }
        "slices" => {
            if params != [Type::Slice(crucible_compiler::ir::Elem::I32)] {
                return Err((
                    "data.inputs.kind",
                    "`slices` needs one `[i32]` parameter".into(),
                ));
            }
            let n = spec.n.ok_or(("data.inputs.n", "missing".to_string()))?;
            let max_len = spec.max_len.unwrap_or(20);
            let (lo, hi) = (
                spec.lo.unwrap_or(-100.0) as i32,
                spec.hi.unwrap_or(100.0) as i32,
            );
            if lo > hi {
                return Err(("data.inputs.lo", "must be at most `hi`".into()));
            }
            (0..n)
                .map(|i| {
                    // The first cases are the edge cases: empty and single-element slices.
                    let len = match i {
                        0 => 0,
                        1 | 2 => 1,
                        _ => rng.random_range(0..=max_len),
                    };
                    vec![i32_slice(
                        (0..len).map(|_| rng.random_range(lo..=hi)).collect(),
                    )]
                })
                .collect()
        }
        "inline" => {
            let mut rows = Vec::new();
            for (i, case) in spec.cases.iter().enumerate() {
                if case.len() != params.len() {
                    return Err((
                        "data.inputs.cases",
                        format!("[{i}] has {} values, expected {}", case.len(), params.len()),
                    ));
                }
                let mut row = Vec::new();
                for (text, ty) in case.iter().zip(&params) {
                    let Type::Scalar(s) = ty else {
                        return Err((
                            "data.inputs.cases",
                            "inline cases take scalar parameters only".into(),
                        ));
                    };
                    let v = Value::parse(*s, text).ok_or((
                        "data.inputs.cases",
                        format!("[{i}]: `{text}` is not a `{s}`"),
                    ))?;
                    row.push(Arg::Scalar(v));
                }
                rows.push(row);
            }
            rows
        }
        other => {
            return Err((
                "data.inputs.kind",
                format!(
                    "unknown value `{other}`; expected one of uniform, grid, keys, slices, inline"
                ),
            ));
        }
    };
    let ret = skeleton.ret();
    let expected: Vec<Value> = match (&file.data.target, &file.data.reference, error) {
        (None, None, ErrorKindSpec::Hash) => Vec::new(),
        (Some(name), None, e) if e != ErrorKindSpec::Hash => args
            .iter()
            .map(|a| formula(name, a, ret))
            .collect::<Result<_, _>>()
            .map_err(|m| ("data.target", m))?,
        (None, Some(path), e) if e != ErrorKindSpec::Hash => {
            let p = dir.join(path);
            let src = std::fs::read_to_string(&p)
                .map_err(|e| ("data.reference", format!("{}: {e}", p.display())))?;
            let checked = crucible_compiler::compile_text(&src)
                .map_err(|d| ("data.reference", d.render(&p.display().to_string(), &src)))?;
            let (fid, _) = checked.func(skeleton.entry()).ok_or((
                "data.reference",
                format!("no function `{}`", skeleton.entry()),
            ))?;
            let interp = Interpreter::new(&checked);
            args.iter()
                .map(|a| {
                    interp
                        .run(fid, a, u64::MAX / 4)
                        .map(|r| r.value)
                        .map_err(|e| ("data.reference", e.to_string()))
                })
                .collect::<Result<_, _>>()?
        }
        (_, _, ErrorKindSpec::Hash) => {
            return Err(("data.target", "the hash error takes no target".into()));
        }
        _ => {
            return Err((
                "data",
                "give exactly one of `target` and `reference`".into(),
            ));
        }
    };
    let mut id = crate::hash::Fnv64::new();
    for row in &args {
        for a in row {
            match a {
                Arg::Scalar(v) => id.write_u64(v.to_bits()),
                Arg::Slice(s) => id.write(&s.to_le_bytes()),
            }
        }
    }
    Ok((
        CaseSet {
            id: id.finish(),
            params,
            args: args.into(),
            expected: expected.into(),
        },
        hash,
    ))
}

fn float_value(t: Scalar, x: f64) -> Value {
    match t {
        Scalar::F32 => Value::F32(x as f32),
        Scalar::F64 => Value::F64(x),
        s => crate::gp::int_value(s, x.round() as i128),
    }
}

fn key_set(
    rng: &mut rand_chacha::ChaCha8Rng,
    name: &str,
    n: usize,
    dir: &Path,
) -> Result<Vec<u64>, String> {
    if let Some(file) = name.strip_prefix("file:") {
        return key_file(&dir.join(file), n);
    }
    Ok(match name {
        // Ids counting up from a seeded start below 2^32.
        "sequential" => {
            let start = u64::from(rng.random::<u32>());
            (start..start + n as u64).collect()
        }
        "random" => (0..n).map(|_| rng.random()).collect(),
        "clustered" => {
            // Keys that differ only in their high bits: a shared low half.
            let low: u64 = rng.random::<u64>() & 0xFFFF_FFFF;
            (0..n as u64).map(|i| (i << 40) | low).collect()
        }
        // Eight-byte strings `k` + seven digits, in a seeded arithmetic progression.
        "ascii" => {
            let stride = rng.random_range(1..=9);
            let first = rng.random_range(0..10_000_000 - stride * n.min(1_000_000));
            (0..n)
                .map(|i| {
                    let s = format!("k{:07}", (first + i * stride) % 10_000_000);
                    u64::from_le_bytes(s.as_bytes()[..8].try_into().expect("eight bytes"))
                })
                .collect()
        }
        other => {
            return Err(format!(
                "unknown key set `{other}`; expected sequential, random, clustered, ascii or file:PATH"
            ));
        }
    })
}

/// The first `n` keys of a key file: one `u64` per line, decimal or `0x`
/// hexadecimal (`_` separators allowed); blank lines and `#` comments are skipped.
fn key_file(path: &Path, n: usize) -> Result<Vec<u64>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut keys = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let digits = line.replace('_', "");
        let key = match digits
            .strip_prefix("0x")
            .or_else(|| digits.strip_prefix("0X"))
        {
            Some(hex) => u64::from_str_radix(hex, 16),
            None => digits.parse(),
        }
        .map_err(|e| format!("{}:{}: `{line}`: {e}", path.display(), i + 1))?;
        keys.push(key);
        if keys.len() == n {
            break;
        }
    }
    if keys.is_empty() {
        return Err(format!("{}: no keys", path.display()));
    }
    Ok(keys)
}

fn formula(name: &str, args: &[Arg], ret: Scalar) -> Result<Value, String> {
    let x = match args.first() {
        Some(Arg::Scalar(Value::F64(x))) => *x,
        Some(Arg::Scalar(Value::F32(x))) => *x as f64,
        Some(Arg::Scalar(v)) => v.as_u64_lossy() as f64,
        _ => f64::NAN,
    };
    let y = match name {
        "koza-quartic" => x * x * x * x + x * x * x + x * x + x,
        "nguyen-7" => (x + 1.0).ln() + (x * x + 1.0).ln(),
        "keijzer-6" => (1..=x.round().max(0.0) as u64)
            .map(|i| 1.0 / i as f64)
            .sum(),
        "exp" => {
            if ret == Scalar::F32 {
                // f32 exp correctly rounded via f64 (the f64 result has 29 spare bits).
                return Ok(Value::F32((x.exp()) as f32));
            }
            x.exp()
        }
        "count-odd" => {
            let Some(Arg::Slice(SliceData::I32(xs))) = args.first() else {
                return Err("`count-odd` needs an `[i32]` parameter".into());
            };
            return Ok(crate::gp::int_value(
                ret,
                xs.iter().filter(|v| *v % 2 != 0).count() as i128,
            ));
        }
        other => {
            return Err(format!(
                "unknown target `{other}`; expected koza-quartic, nguyen-7, keijzer-6, exp, count-odd"
            ));
        }
    };
    Ok(float_value(ret, y))
}
