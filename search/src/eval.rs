//! The evaluator seam: how candidates are run on test cases.
//!
//! Search never runs candidate code itself: it hands checked programs and a
//! [`CaseSet`] to an [`Evaluator`] and gets back outputs, cost-model costs and
//! verdicts ([`Runs`]), from which [`crate::fitness`] computes fitness.
//! A design decision: the unit of work is a *batch* of candidates on a case
//! set, not one call per case, because every fast tier needs the batch (one
//! Wasm module per generation chunk, a bytecode interpreter guest evaluating
//! many candidates per call with the data resident), and [`CaseSet::id`] lets
//! a tier keep the data loaded between generations.
//!
//! Implementations:
//! - [`InterpEvaluator`]: the reference interpreter, parallel over candidates
//!   with rayon (the current thread pool);
//! - [`SandboxEvaluator`]: compiled Wasm in the sandbox, used to confirm every
//!   hall-of-fame entry; the tier-0 evaluator guest of issue 4 slots in here.

use crucible_compiler::CheckedProgram;
use crucible_compiler::interp::{InterpError, Interpreter};
use crucible_compiler::ir::{Scalar, Type};
use crucible_compiler::value::{Arg, Value};
use rayon::prelude::*;

use crate::error::{ErrorKind, Result};
use crate::task::CaseSet;

/// What one candidate did on a case set.
#[derive(Clone, Debug, PartialEq)]
pub struct Runs {
    /// Outputs of the cases run, in order (fewer than the cases if it failed).
    pub outputs: Vec<Value>,
    /// Cost-model units per case run.
    pub costs: Vec<u64>,
    /// Why it stopped early, if it did: `out-of-budget` or a trap's name.
    pub verdict: Option<String>,
}

/// Runs batches of candidates on case sets.
pub trait Evaluator: Send + Sync {
    /// A short name for reports (`interp`, `sandbox-winch`).
    fn name(&self) -> &str;

    /// Runs every candidate's `entry` on every case, each case within `fuel`
    /// cost-model units. Candidates that fail get a verdict, not an error.
    ///
    /// # Errors
    /// Only when the host side fails ([`ErrorKind::Evaluator`]).
    fn run(
        &self,
        entry: &str,
        candidates: &[&CheckedProgram],
        cases: &CaseSet,
        fuel: u64,
    ) -> Result<Vec<Runs>>;
}

/// A reference to an evaluator is an evaluator, so tiers can wrap `&dyn Evaluator`.
impl<E: Evaluator + ?Sized> Evaluator for &E {
    fn name(&self) -> &str {
        (**self).name()
    }

    fn run(
        &self,
        entry: &str,
        candidates: &[&CheckedProgram],
        cases: &CaseSet,
        fuel: u64,
    ) -> Result<Vec<Runs>> {
        (**self).run(entry, candidates, cases, fuel)
    }
}

/// The reference interpreter as an evaluator.
#[derive(Clone, Copy, Debug, Default)]
pub struct InterpEvaluator;

/// Runs one candidate in the interpreter.
pub fn interp_runs(
    checked: &CheckedProgram,
    entry: &str,
    cases: &CaseSet,
    fuel: u64,
) -> Result<Runs> {
    let (fid, _) = checked
        .func(entry)
        .ok_or_else(|| ErrorKind::Evaluator(format!("candidate has no function `{entry}`")))?;
    let interp = Interpreter::new(checked);
    let mut runs = Runs {
        outputs: Vec::with_capacity(cases.len()),
        costs: Vec::with_capacity(cases.len()),
        verdict: None,
    };
    for args in cases.args.iter() {
        match interp.run(fid, args, fuel) {
            Ok(r) => {
                runs.outputs.push(r.value);
                runs.costs.push(r.cost);
            }
            Err(InterpError::OutOfBudget { .. }) => {
                runs.verdict = Some("out-of-budget".into());
                break;
            }
            Err(e) => return Err(ErrorKind::Evaluator(e.to_string()).into()),
        }
    }
    Ok(runs)
}

impl Evaluator for InterpEvaluator {
    fn name(&self) -> &str {
        "interp"
    }

    fn run(
        &self,
        entry: &str,
        candidates: &[&CheckedProgram],
        cases: &CaseSet,
        fuel: u64,
    ) -> Result<Vec<Runs>> {
        candidates
            .par_iter()
            .map(|c| interp_runs(c, entry, cases, fuel))
            .collect()
    }
}

/// Compiled Wasm in the sandbox (Winch), one module per candidate, one call per case.
///
/// Fuel is the sandbox's safety limit (wasmtime fuel, generously above the
/// task's cost budget); the cost objective still comes from the cost model,
/// so it is the same as in the interpreter.
pub struct SandboxEvaluator {
    sandbox: crucible_sandbox::Sandbox,
}

impl std::fmt::Debug for SandboxEvaluator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SandboxEvaluator")
    }
}

/// Wasm fuel allowed per cost-model unit: Wasm instructions per IR operation
/// are a small constant, so this bound never stops a candidate the
/// interpreter accepts.
const FUEL_PER_COST_UNIT: u64 = 16;

impl SandboxEvaluator {
    /// A sandbox with the Winch strategy (fast compilation; all our modules
    /// come from our own compiler).
    ///
    /// # Errors
    /// If the sandbox cannot be created.
    pub fn new() -> Result<SandboxEvaluator> {
        let mut config = crucible_sandbox::SandboxConfig::new(crucible_sandbox::Strategy::Winch);
        config.threads = 1;
        let sandbox = crucible_sandbox::Sandbox::new(&config)
            .map_err(|e| ErrorKind::Evaluator(e.to_string()))?;
        Ok(SandboxEvaluator { sandbox })
    }

    fn run_one(
        &self,
        checked: &CheckedProgram,
        entry: &str,
        cases: &CaseSet,
        fuel: u64,
    ) -> Result<Runs> {
        let (_, func) = checked
            .func(entry)
            .ok_or_else(|| ErrorKind::Evaluator(format!("candidate has no function `{entry}`")))?;
        if func.params.iter().any(|p| matches!(p.ty, Type::Slice(_))) {
            return Err(ErrorKind::Evaluator(
                "slice parameters need the batch driver (not yet available)".into(),
            )
            .into());
        }
        let ret = func.ret;
        let bytes = crucible_compiler::wasm::compile(
            checked,
            &crucible_compiler::wasm::CompileOptions { probes: None },
        );
        let module = self
            .sandbox
            .load(&bytes)
            .map_err(|e| ErrorKind::Evaluator(format!("compiled candidate rejected: {e}")))?;
        let limits = crucible_sandbox::Limits {
            fuel: fuel.saturating_mul(FUEL_PER_COST_UNIT),
            ..crucible_sandbox::Limits::default()
        };
        let mut instance = match module
            .instantiate(&limits)
            .map_err(|e| ErrorKind::Evaluator(e.to_string()))?
        {
            Ok(i) => i,
            Err(v) => {
                return Ok(Runs {
                    outputs: Vec::new(),
                    costs: Vec::new(),
                    verdict: Some(v.name().to_string()),
                });
            }
        };
        let interp = Interpreter::new(checked);
        let (fid, _) = checked.func(entry).expect("looked up above");
        let mut runs = Runs {
            outputs: Vec::new(),
            costs: Vec::new(),
            verdict: None,
        };
        for args in cases.args.iter() {
            let wasm_args: Vec<crucible_sandbox::Value> = args
                .iter()
                .map(|a| match a {
                    Arg::Scalar(v) => to_wasm(*v),
                    Arg::Slice(_) => unreachable!("rejected above"),
                })
                .collect();
            let out = instance
                .call(entry, &wasm_args)
                .map_err(|e| ErrorKind::Evaluator(e.to_string()))?;
            match out.result {
                Ok(vals) if vals.len() == 1 => runs.outputs.push(from_wasm(vals[0], ret)),
                Ok(vals) => {
                    return Err(ErrorKind::Evaluator(format!(
                        "entry returned {} values",
                        vals.len()
                    ))
                    .into());
                }
                Err(v) => {
                    runs.verdict = Some(v.name().to_string());
                    break;
                }
            }
            // The cost objective is defined by the cost model, not by wasmtime fuel.
            let cost = interp
                .run(fid, args, u64::MAX / 4)
                .map(|r| r.cost)
                .unwrap_or(u64::MAX);
            runs.costs.push(cost);
        }
        Ok(runs)
    }
}

impl Evaluator for SandboxEvaluator {
    fn name(&self) -> &str {
        "sandbox-winch"
    }

    fn run(
        &self,
        entry: &str,
        candidates: &[&CheckedProgram],
        cases: &CaseSet,
        fuel: u64,
    ) -> Result<Vec<Runs>> {
        candidates
            .iter()
            .map(|c| self.run_one(c, entry, cases, fuel))
            .collect()
    }
}

fn to_wasm(v: Value) -> crucible_sandbox::Value {
    use crucible_sandbox::Value as W;
    match v {
        Value::I32(x) => W::I32(x),
        Value::U32(x) => W::I32(x as i32),
        Value::Bool(b) => W::I32(i32::from(b)),
        Value::I64(x) => W::I64(x),
        Value::U64(x) => W::I64(x as i64),
        Value::F32(x) => W::F32(x.to_bits()),
        Value::F64(x) => W::F64(x.to_bits()),
    }
}

fn from_wasm(v: crucible_sandbox::Value, ret: Scalar) -> Value {
    use crucible_sandbox::Value as W;
    let bits = match v {
        W::I32(x) => u64::from(x as u32),
        W::I64(x) => x as u64,
        W::F32(x) => u64::from(x),
        W::F64(x) => x,
    };
    Value::from_bits(ret, bits)
}

/// The outcome of confirming a program in the Wasm sandbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Confirmation {
    /// Every case gave the interpreter's output, bit for bit.
    Confirmed,
    /// Case `case` differed between sandbox and interpreter (a backend bug).
    Mismatch {
        /// The first differing case.
        case: usize,
    },
    /// The sandbox could not run it (the reason is recorded).
    Unavailable(String),
}

impl Confirmation {
    /// A short text for the archive.
    pub fn describe(&self) -> String {
        match self {
            Confirmation::Confirmed => "confirmed".into(),
            Confirmation::Mismatch { case } => format!("mismatch at case {case}"),
            Confirmation::Unavailable(why) => format!("unconfirmed: {why}"),
        }
    }
}

/// Runs a program in the sandbox on all cases and compares outputs, costs and
/// verdict with the interpreter.
pub fn confirm(
    sandbox: &dyn Evaluator,
    checked: &CheckedProgram,
    entry: &str,
    cases: &CaseSet,
    fuel: u64,
) -> Confirmation {
    let reference = match interp_runs(checked, entry, cases, fuel) {
        Ok(r) => r,
        Err(e) => return Confirmation::Unavailable(e.to_string()),
    };
    match sandbox.run(entry, &[checked], cases, fuel) {
        Ok(mut runs) => {
            let r = runs.pop().expect("one candidate, one result");
            if let Some(case) = r
                .outputs
                .iter()
                .zip(&reference.outputs)
                .zip(r.costs.iter().zip(&reference.costs))
                .position(|((a, b), (ca, cb))| a != b || ca != cb)
            {
                return Confirmation::Mismatch { case };
            }
            if r.outputs.len() != reference.outputs.len() || r.verdict != reference.verdict {
                return Confirmation::Mismatch {
                    case: r.outputs.len().min(reference.outputs.len()),
                };
            }
            Confirmation::Confirmed
        }
        Err(e) => Confirmation::Unavailable(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpreter_reports_out_of_budget_as_a_verdict() {
        let checked = crucible_compiler::compile_text(
            "fn f(x: u32) -> u32 { let s: u32 = 0; for i in 0u32..x { s = s + i; } return s; }",
        )
        .unwrap();
        let cases = CaseSet {
            id: 1,
            params: vec![Type::Scalar(Scalar::U32)],
            args: vec![
                vec![Arg::Scalar(Value::U32(3))],
                vec![Arg::Scalar(Value::U32(1_000_000))],
            ]
            .into(),
            expected: Vec::new().into(),
        };
        let runs = InterpEvaluator
            .run("f", &[&checked], &cases, 1_000)
            .unwrap();
        assert_eq!(runs[0].outputs, vec![Value::U32(3)]);
        assert_eq!(runs[0].verdict.as_deref(), Some("out-of-budget"));
    }
}
