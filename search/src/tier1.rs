//! Tier 1: compiled Wasm, many candidates per module, and the cost model
//! that decides which candidates are worth compiling.
//!
//! [`Tier1Evaluator`] compiles a chunk of candidates into one batch module
//! (`crucible_compiler::wasm::compile_batch`, one dispatcher export, so
//! wasmtime compiles one trampoline rather than one per candidate), runs
//! each candidate over the whole case set in one call, and reads back
//! outputs and per-case costs. Batch modules count cost-model units and stop
//! a case at the budget exactly where the interpreter does, so this tier's
//! [`Runs`] equal the interpreter's bit for bit (tested below).
//!
//! [`CostModel`] predicts, per candidate, the time of the interpreter and of
//! tier 1 from per-node constants, and [`TieredEvaluator`] sends each
//! candidate to the cheaper one. The constants are measured by
//! `crucible calibrate` ([`calibrate`]) and stored; the defaults come from
//! shared/MEASUREMENTS.md. The choice only moves work between tiers that
//! agree bit for bit, so a machine-specific calibration never changes a result.

use crucible_compiler::CheckedProgram;
use crucible_compiler::wasm;
use crucible_sandbox as sandbox;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{ErrorKind, Result};
use crate::eval::{Evaluator, InterpEvaluator, Runs};
use crate::task::CaseSet;

/// Candidates per batch module.
const CHUNK: usize = 256;

/// Wasm fuel per cost-model unit: a generous bound (an IR operation is a
/// handful of Wasm instructions), so fuel, the sandbox's safety limit, never
/// stops a candidate before the cost budget does.
const FUEL_PER_COST_UNIT: u64 = 64;

fn host_err(e: impl std::fmt::Display) -> crate::error::Error {
    ErrorKind::Evaluator(format!("tier 1: {e}")).into()
}

/// Compiled Wasm in the sandbox, one batch module per chunk of candidates.
pub struct Tier1Evaluator {
    sandbox: sandbox::Sandbox,
}

impl Tier1Evaluator {
    /// A tier-1 evaluator on `sandbox` (Winch compiles 5–15× faster than
    /// Cranelift and is safe here: every module comes from our compiler).
    pub fn new(sandbox: sandbox::Sandbox) -> Tier1Evaluator {
        Tier1Evaluator { sandbox }
    }

    /// The sandbox settings tier 1 is meant for.
    pub fn sandbox_config(threads: usize) -> sandbox::SandboxConfig {
        let mut config = sandbox::SandboxConfig::new(sandbox::Strategy::Winch);
        config.threads = threads;
        config.nan_canonicalization = false;
        config
    }

    fn run_chunk(
        &self,
        entry: &str,
        chunk: &[&CheckedProgram],
        cases: &CaseSet,
        fuel: u64,
    ) -> Result<Vec<Runs>> {
        let batch = wasm::compile_batch(chunk, entry, &wasm::CompileOptions { probes: None })
            .map_err(host_err)?;
        let module = self.sandbox.load(&batch.bytes).map_err(host_err)?;
        let n = cases.len();
        let limits = sandbox::Limits {
            fuel: fuel
                .saturating_mul(FUEL_PER_COST_UNIT)
                .saturating_mul(n as u64 + 1)
                .max(1 << 20),
            ..sandbox::Limits::default()
        };
        let mut inst = match module.instantiate(&limits).map_err(host_err)? {
            Ok(i) => i,
            Err(v) => return Err(host_err(format!("instantiation: {v}"))),
        };
        let heap = inst
            .global_i32(wasm::HEAP_BASE_EXPORT)
            .ok_or_else(|| host_err("no heap base"))? as u32;
        let blob = wasm::encode_inputs(&cases.params, &cases.args, heap);
        let out = (heap + blob.len() as u32).next_multiple_of(8);
        let end = out as u64 + 16 * n as u64;
        if end > inst.memory_size() {
            inst.grow_memory_to(end).map_err(host_err)?;
        }
        inst.write_memory(heap as u64, &blob).map_err(host_err)?;
        let ret = chunk[0]
            .func(entry)
            .expect("compile_batch checked the entry")
            .1
            .ret;
        let mut runs = Vec::with_capacity(chunk.len());
        for k in 0..chunk.len() {
            let args = [
                sandbox::Value::I32(k as i32),
                sandbox::Value::I32(n as i32),
                sandbox::Value::I32(heap as i32),
                sandbox::Value::I32(out as i32),
                sandbox::Value::I64(fuel.min(i64::MAX as u64) as i64),
            ];
            let outcome = inst.call(wasm::EVAL_EXPORT, &args).map_err(host_err)?;
            let (done, verdict) = match outcome.result {
                Ok(_) => (n, None),
                Err(v) => {
                    let done = inst.global_i32(wasm::DONE_EXPORT).unwrap_or(0).max(0) as usize;
                    // Batch modules trap on `unreachable` only at the cost budget.
                    let name = match v {
                        sandbox::Verdict::Trap(sandbox::TrapKind::Unreachable) => {
                            "out-of-budget".to_string()
                        }
                        other => other.name().to_string(),
                    };
                    (done.min(n), Some(name))
                }
            };
            let values = inst.read_memory(out as u64, 8 * done).map_err(host_err)?;
            let costs = inst
                .read_memory(out as u64 + 8 * n as u64, 8 * done)
                .map_err(host_err)?;
            runs.push(Runs {
                outputs: wasm::decode_outputs(ret, &values, done),
                costs: wasm::decode_costs(&costs, done),
                verdict,
            });
        }
        Ok(runs)
    }
}

impl Evaluator for Tier1Evaluator {
    fn name(&self) -> &str {
        "tier1"
    }

    fn run(
        &self,
        entry: &str,
        candidates: &[&CheckedProgram],
        cases: &CaseSet,
        fuel: u64,
    ) -> Result<Vec<Runs>> {
        let parts: Vec<Result<Vec<Runs>>> = candidates
            .par_chunks(CHUNK)
            .map(|chunk| self.run_chunk(entry, chunk, cases, fuel))
            .collect();
        let mut all = Vec::with_capacity(candidates.len());
        for p in parts {
            all.extend(p?);
        }
        Ok(all)
    }
}

/// Per-node time constants, in nanoseconds, that predict each tier's cost.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CostModel {
    /// Interpreter: per IR node per case.
    pub interp_ns_per_node_case: f64,
    /// Tier 1: compiling, per IR node.
    pub tier1_compile_ns_per_node: f64,
    /// Tier 1: running, per IR node per case.
    pub tier1_ns_per_node_case: f64,
}

impl Default for CostModel {
    /// shared/MEASUREMENTS.md, 30-node candidates: tree-walking interpreter
    /// ≈ 99 ns per case, batched Winch ≈ 50 µs to compile and ≈ 15 ns per case.
    fn default() -> CostModel {
        CostModel {
            interp_ns_per_node_case: 99.0 / 30.0,
            tier1_compile_ns_per_node: 50_000.0 / 30.0,
            tier1_ns_per_node_case: 15.0 / 30.0,
        }
    }
}

impl CostModel {
    /// Whether compiling `nodes` nodes pays off over `n_cases` cases.
    pub fn prefers_tier1(&self, nodes: usize, n_cases: usize) -> bool {
        let nodes = nodes as f64;
        let cases = n_cases as f64;
        let interp = self.interp_ns_per_node_case * nodes * cases;
        let tier1 =
            self.tier1_compile_ns_per_node * nodes + self.tier1_ns_per_node_case * nodes * cases;
        tier1 < interp
    }

    /// Reads a calibration file.
    ///
    /// # Errors
    /// If the file cannot be read or is not a cost model.
    pub fn load(path: &std::path::Path) -> Result<CostModel> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| host_err(format!("reading {}: {e}", path.display())))?;
        toml::from_str(&text).map_err(|e| host_err(format!("{}: {e}", path.display())))
    }

    /// The calibration as TOML.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a struct of floats serialises")
    }
}

/// The interpreter or tier 1, per candidate, by the cost model.
pub struct TieredEvaluator {
    tier1: Tier1Evaluator,
    model: CostModel,
}

impl TieredEvaluator {
    /// Chooses between the interpreter and `tier1` with `model`.
    pub fn new(tier1: Tier1Evaluator, model: CostModel) -> TieredEvaluator {
        TieredEvaluator { tier1, model }
    }
}

impl Evaluator for TieredEvaluator {
    fn name(&self) -> &str {
        "tiered"
    }

    fn run(
        &self,
        entry: &str,
        candidates: &[&CheckedProgram],
        cases: &CaseSet,
        fuel: u64,
    ) -> Result<Vec<Runs>> {
        let (compiled, interpreted): (Vec<usize>, Vec<usize>) =
            (0..candidates.len()).partition(|&i| {
                self.model
                    .prefers_tier1(candidates[i].node_count(), cases.len())
            });
        let mut results: Vec<Option<Runs>> = vec![None; candidates.len()];
        for (set, eval) in [
            (&compiled, &self.tier1 as &dyn Evaluator),
            (&interpreted, &InterpEvaluator as &dyn Evaluator),
        ] {
            crate::eval::run_subset(eval, entry, candidates, set, cases, fuel, &mut results)?;
        }
        Ok(crate::eval::collect_all(results))
    }
}

/// Measures a [`CostModel`] on this machine: the interpreter and tier 1 on
/// `n_programs` random programs of the shape `random::GenConfig::SMALL`
/// produces, over `n_cases` cases. Timing is fine here: the model only picks
/// between tiers that give identical results.
///
/// # Errors
/// If a tier fails on the host side.
pub fn calibrate(
    sandbox: sandbox::Sandbox,
    n_programs: usize,
    n_cases: usize,
) -> Result<CostModel> {
    use crucible_compiler::random::{self, GenConfig, Rng};
    use std::time::Instant;
    let mut rng = Rng::new(0xCA11_B8A7);
    let params = vec![crucible_compiler::ir::Type::Scalar(
        crucible_compiler::ir::Scalar::I64,
    )];
    let ret = crucible_compiler::ir::Scalar::I64;
    let programs: Vec<CheckedProgram> = (0..n_programs)
        .map(|_| {
            crucible_compiler::check(&random::program(&mut rng, &GenConfig::SMALL, &params, ret))
                .expect("generated programs check")
        })
        .collect();
    let refs: Vec<&CheckedProgram> = programs.iter().collect();
    let nodes: usize = programs.iter().map(CheckedProgram::node_count).sum();
    let mut case = |n: usize| {
        let args: Vec<Vec<crucible_compiler::value::Arg>> = (0..n)
            .map(|_| vec![random::arg(&mut rng, params[0])])
            .collect();
        CaseSet::from_args(n as u64 ^ 0xCA11, params.clone(), args)
    };
    let small = case(1);
    let large = case(n_cases);
    let fuel = 1 << 30;
    let time = |f: &mut dyn FnMut() -> Result<()>| -> Result<f64> {
        let t = Instant::now();
        f()?;
        Ok(t.elapsed().as_nanos() as f64)
    };
    let tier1 = Tier1Evaluator::new(sandbox);
    let interp_ns = time(&mut || InterpEvaluator.run("f", &refs, &large, fuel).map(drop))?;
    // One case is almost all compile time; the difference is running time.
    let t1_small = time(&mut || tier1.run("f", &refs, &small, fuel).map(drop))?;
    let t1_large = time(&mut || tier1.run("f", &refs, &large, fuel).map(drop))?;
    let nodes = nodes as f64;
    let cases = n_cases as f64;
    let run = ((t1_large - t1_small) / (nodes * (cases - 1.0).max(1.0))).max(0.01);
    Ok(CostModel {
        interp_ns_per_node_case: interp_ns / (nodes * cases),
        tier1_compile_ns_per_node: (t1_small / nodes - run).max(1.0),
        tier1_ns_per_node_case: run,
    })
}

#[cfg(test)]
mod tests {

    use super::*;
    use crucible_compiler::ir::Type;
    use crucible_compiler::random::{self, GenConfig, Rng};

    fn case_set(id: u64, params: &[Type], rng: &mut Rng, n: usize) -> CaseSet {
        let args: Vec<Vec<crucible_compiler::value::Arg>> = (0..n)
            .map(|_| params.iter().map(|t| random::arg(rng, *t)).collect())
            .collect();
        CaseSet::from_args(id, params.to_vec(), args)
    }

    /// Tier 1 equals the interpreter: outputs, per-case costs, and where the budget stops.
    #[test]
    fn tier1_equals_the_interpreter() {
        let sb = sandbox::Sandbox::new(&Tier1Evaluator::sandbox_config(1)).unwrap();
        let tier1 = Tier1Evaluator::new(sb);
        let mut rng = Rng::new(5);
        for round in 0..6 {
            let (params, ret) = random::signature(&mut rng);
            let programs: Vec<CheckedProgram> = (0..20)
                .map(|_| {
                    crucible_compiler::check(&random::program(
                        &mut rng,
                        &GenConfig::SMALL,
                        &params,
                        ret,
                    ))
                    .unwrap()
                })
                .collect();
            let refs: Vec<&CheckedProgram> = programs.iter().collect();
            let cases = case_set(round, &params, &mut rng, 16);
            // A tight budget on odd rounds, so some candidates stop part-way.
            let fuel = if round % 2 == 1 { 40 } else { 1 << 30 };
            let got = tier1.run("f", &refs, &cases, fuel).unwrap();
            let want = InterpEvaluator.run("f", &refs, &cases, fuel).unwrap();
            for (k, (g, w)) in got.iter().zip(&want).enumerate() {
                assert_eq!(g, w, "{}", crucible_compiler::print(refs[k].program()));
            }
        }
    }

    #[test]
    fn the_cost_model_compiles_only_what_pays_off() {
        let m = CostModel::default();
        assert!(!m.prefers_tier1(30, 20));
        assert!(m.prefers_tier1(30, 10_000));
        let text = m.to_toml();
        assert_eq!(toml::from_str::<CostModel>(&text).unwrap(), m);
    }
}
