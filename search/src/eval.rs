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
//! - [`crate::tier0::Tier0Evaluator`], [`crate::tier1::Tier1Evaluator`],
//!   [`crate::tier1::TieredEvaluator`], [`crate::native::NativeEvaluator`]:
//!   the faster tiers; [`confirm`] checks a program in the Wasm sandbox.

use crucible_compiler::CheckedProgram;
use crucible_compiler::interp::{InterpError, Interpreter};
use crucible_compiler::value::Value;
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

/// Runs the candidates at `indices` on `evaluator` and stores each result
/// at its index: how a tier hands what it cannot run to another.
///
/// # Errors
/// As [`Evaluator::run`].
pub fn run_subset(
    evaluator: &dyn Evaluator,
    entry: &str,
    candidates: &[&CheckedProgram],
    indices: &[usize],
    cases: &CaseSet,
    fuel: u64,
    results: &mut [Option<Runs>],
) -> Result<()> {
    if indices.is_empty() {
        return Ok(());
    }
    let part: Vec<&CheckedProgram> = indices.iter().map(|&i| candidates[i]).collect();
    for (&i, r) in indices
        .iter()
        .zip(evaluator.run(entry, &part, cases, fuel)?)
    {
        results[i] = Some(r);
    }
    Ok(())
}

/// Unwraps the results once every candidate has run.
pub fn collect_all(results: Vec<Option<Runs>>) -> Vec<Runs> {
    results
        .into_iter()
        .map(|r| r.expect("every candidate ran"))
        .collect()
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
    use crucible_compiler::ir::{Scalar, Type};
    use crucible_compiler::value::Arg;

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
