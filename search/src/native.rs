//! The native tier: trusted candidates compiled to machine code with
//! Cranelift ([`crucible_compiler::native`]) and called directly, outside
//! the sandbox.
//!
//! The tiering rule: only programs the search itself built from a task's
//! primitives (or the task's own seeds and baselines) run natively, and only
//! where few programs meet many cases, as in the final scoring of the best
//! programs and the validation pass; compile latency (about a millisecond
//! per program) would dominate the inner loop. Foreign code (a proposer's,
//! an LLM's, a submission's) goes through the Wasm sandbox, always. Native
//! code is safe without a sandbox because the language is total and
//! bounds-checked and its loops are bounded; the differential tests
//! (interpreter = Wasm = native, bit for bit) hold the backend to that.
//!
//! Fitness must not depend on the tier, and native code counts no cost-model
//! units. So [`NativeEvaluator`] runs natively only straight-line entries
//! (those the tier-0 bytecode can express, whose cost is the same on every
//! input: [`crucible_compiler::cost::straight_line_cost`]) and hands the rest
//! to its fallback evaluator, as the tier-0 evaluator does.

use crucible_compiler::CheckedProgram;
use crucible_compiler::native::{self, NativeError, NativeOptions};
use crucible_compiler::value::Value;
use rayon::prelude::*;

use crate::error::{ErrorKind, Result};
use crate::eval::{Evaluator, Runs};
use crate::task::CaseSet;

/// Straight-line candidates natively, the rest in the fallback evaluator.
#[derive(Clone, Debug)]
pub struct NativeEvaluator<F> {
    fallback: F,
}

impl<F: Evaluator> NativeEvaluator<F> {
    /// A native evaluator sending what it cannot run exactly to `fallback`.
    pub fn new(fallback: F) -> NativeEvaluator<F> {
        NativeEvaluator { fallback }
    }
}

/// One candidate's runs, natively, or `None` if it must take the fallback.
fn native_runs(
    checked: &CheckedProgram,
    entry: &str,
    cases: &CaseSet,
    fuel: u64,
) -> Result<Option<Runs>> {
    if !cases.params.iter().all(|t| t.as_scalar().is_some())
        || crucible_compiler::bytecode::lower(checked, entry).is_err()
    {
        return Ok(None);
    }
    let (_, func) = checked
        .func(entry)
        .ok_or_else(|| ErrorKind::Evaluator(format!("candidate has no function `{entry}`")))?;
    let per_case = crucible_compiler::cost::straight_line_cost(checked, func);
    if per_case > fuel {
        // Every case costs the same: the first one fails, as in the interpreter.
        return Ok(Some(Runs {
            outputs: Vec::new(),
            costs: Vec::new(),
            verdict: Some("out-of-budget".into()),
        }));
    }
    // Straight-line code has no loops: no budget counter is needed.
    let compiled = match native::compile(checked, entry, &NativeOptions { budget: None }) {
        Ok(f) => f,
        Err(NativeError::UnsupportedHost(_)) => return Ok(None),
        Err(e) => return Err(ErrorKind::Evaluator(e.to_string()).into()),
    };
    let outputs = cases
        .args
        .iter()
        .map(|args| compiled.call(args))
        .collect::<Result<Vec<Value>, NativeError>>()
        .map_err(|e| ErrorKind::Evaluator(e.to_string()))?;
    Ok(Some(Runs {
        costs: vec![per_case; outputs.len()],
        outputs,
        verdict: None,
    }))
}

impl<F: Evaluator> Evaluator for NativeEvaluator<F> {
    fn name(&self) -> &str {
        "native"
    }

    fn run(
        &self,
        entry: &str,
        candidates: &[&CheckedProgram],
        cases: &CaseSet,
        fuel: u64,
    ) -> Result<Vec<Runs>> {
        let mut results: Vec<Option<Runs>> = candidates
            .par_iter()
            .map(|c| native_runs(c, entry, cases, fuel))
            .collect::<Result<_>>()?;
        let others: Vec<usize> = (0..candidates.len())
            .filter(|&i| results[i].is_none())
            .collect();
        crate::eval::run_subset(
            &self.fallback,
            entry,
            candidates,
            &others,
            cases,
            fuel,
            &mut results,
        )?;
        Ok(crate::eval::collect_all(results))
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::engine::score_text;
    use crate::eval::InterpEvaluator;
    use crate::task::Task;

    /// The shipped tasks' seeds and baselines score the same natively as in
    /// the interpreter, straight-line or not.
    #[test]
    fn native_scores_equal_interpreter_scores() {
        let native = NativeEvaluator::new(InterpEvaluator);
        let tasks = Path::new(env!("CARGO_MANIFEST_DIR")).join("tasks");
        for name in ["hash-u64.toml", "exp-f32.toml", "count-odd.toml"] {
            let task = Task::load(&tasks.join(name)).unwrap();
            let programs: Vec<&(std::path::PathBuf, String)> =
                task.seeds.iter().chain(&task.baselines).collect();
            for (path, text) in programs {
                let want = score_text(&task, &InterpEvaluator, text).unwrap();
                let got = score_text(&task, &native, text).unwrap();
                assert_eq!(got, want, "{}", path.display());
            }
        }
        // The hash baselines are straight-line: they really ran natively.
        let task = Task::load(&tasks.join("hash-u64.toml")).unwrap();
        let (_, fxhash) = &task.baselines[0];
        let checked = crucible_compiler::compile_text(fxhash).unwrap();
        let entry = task.skeleton.entry();
        let runs = native_runs(&checked, entry, &task.cases, task.fuel()).unwrap();
        assert_eq!(runs.expect("native").outputs.len(), task.cases.len());
    }

    #[test]
    fn over_budget_straight_line_code_fails_the_first_case() {
        let checked =
            crucible_compiler::compile_text("fn f(x: u64) -> u64 { return x * x + x; }").unwrap();
        let task_cases = {
            let tasks = Path::new(env!("CARGO_MANIFEST_DIR")).join("tasks");
            Task::load(&tasks.join("hash-u64.toml")).unwrap().cases
        };
        let want = InterpEvaluator
            .run("f", &[&checked], &task_cases, 1)
            .unwrap();
        let got = NativeEvaluator::new(InterpEvaluator)
            .run("f", &[&checked], &task_cases, 1)
            .unwrap();
        assert_eq!(got, want);
        assert_eq!(got[0].verdict.as_deref(), Some("out-of-budget"));
    }
}
