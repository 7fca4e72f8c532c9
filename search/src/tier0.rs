//! Tier 0: the evaluator guest, the GP inner loop.
//!
//! Compiling a candidate to Wasm costs 50 µs–1 ms while running it costs
//! nanoseconds per case (shared/MEASUREMENTS.md), so the inner loop compiles
//! nothing: straight-line candidates are lowered to bytecode
//! (`crucible_compiler::bytecode`, about a microsecond) and run by
//! `guests/evaluator`, an interpreter compiled once to Wasm and run in the
//! sandbox under fuel and a memory cap like any guest. The test data stays
//! resident in the guest between generations (keyed by [`CaseSet::id`]), and
//! one host→Wasm call evaluates a whole chunk of candidates.
//!
//! Candidates the bytecode cannot express (branches, loops, calls, slices)
//! go to the fallback evaluator (compiled Wasm or the interpreter).
//!
//! The cost of a straight-line candidate is the same on every case: the sum
//! of its statements' static costs ([`crucible_compiler::cost`]), which is
//! what the interpreter charges, so every tier reports the same cost.

use std::collections::HashMap;
use std::sync::Mutex;

use crucible_compiler::CheckedProgram;
use crucible_compiler::bytecode;
use crucible_compiler::ir::Scalar;
use crucible_compiler::value::{Arg, Value};
use crucible_sandbox as sandbox;
use rayon::prelude::*;

use crate::error::{ErrorKind, Result};
use crate::eval::{Evaluator, Runs};
use crate::task::CaseSet;

/// The evaluator guest's Wasm, built from `guests/evaluator` by `build.rs`;
/// empty when the wasm32 target was not available at build time.
pub static GUEST: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/evaluator.wasm"));

/// Most output bytes one guest call writes (bounds the guest's memory).
const MAX_OUTPUT_BYTES: usize = 4 << 20;

/// Guest memory cap: inputs, outputs and code of one chunk fit far below it.
const GUEST_MEMORY: u64 = 256 << 20;

/// The sandbox settings tier 0 is meant for: Cranelift (the guest is compiled
/// once, so compile speed does not matter) without the engine's NaN
/// canonicalisation, which the guest does itself on every float result.
pub fn sandbox_config(threads: usize) -> sandbox::SandboxConfig {
    let mut config = sandbox::SandboxConfig::new(sandbox::Strategy::Cranelift);
    config.threads = threads;
    config.nan_canonicalization = false;
    config
}

/// Whether the evaluator guest was built into this binary.
pub fn available() -> bool {
    !GUEST.is_empty()
}

fn host_err(e: impl std::fmt::Display) -> crate::error::Error {
    ErrorKind::Evaluator(format!("evaluator guest: {e}")).into()
}

/// Per candidate of a chunk: its output bits, or why the guest refused it.
type ChunkOutputs = Vec<Result<Vec<u64>, String>>;

/// One instance of the guest with the case sets it holds.
struct Session {
    instance: sandbox::Instance,
    /// Case-set id → (address of the input columns, number of cases).
    resident: HashMap<u64, (u32, usize)>,
    /// A reusable scratch buffer: (address, capacity in bytes).
    scratch: (u32, usize),
}

impl Session {
    fn alloc(&mut self, bytes: usize) -> Result<u32> {
        let out = self
            .instance
            .call("crucible_alloc", &[sandbox::Value::I32(bytes as i32)])
            .map_err(host_err)?;
        match out.result {
            Ok(v) => match v.first() {
                Some(sandbox::Value::I32(p)) => Ok(*p as u32),
                _ => Err(host_err("crucible_alloc returned no pointer")),
            },
            Err(verdict) => Err(host_err(format!("crucible_alloc: {verdict}"))),
        }
    }

    fn inputs(&mut self, cases: &CaseSet) -> Result<(u32, usize)> {
        if let Some(&r) = self.resident.get(&cases.id) {
            return Ok(r);
        }
        let n = cases.len();
        let mut bytes = Vec::with_capacity(8 * n * cases.params.len());
        for j in 0..cases.params.len() {
            for row in cases.args.iter() {
                match &row[j] {
                    Arg::Scalar(v) => bytes.extend_from_slice(&v.to_bits().to_le_bytes()),
                    Arg::Slice(_) => return Err(host_err("slice arguments are not tier-0 inputs")),
                }
            }
        }
        let ptr = self.alloc(bytes.len().max(8))?;
        self.instance
            .write_memory(ptr as u64, &bytes)
            .map_err(host_err)?;
        self.resident.insert(cases.id, (ptr, n));
        Ok((ptr, n))
    }

    fn scratch(&mut self, bytes: usize) -> Result<u32> {
        if bytes > self.scratch.1 {
            let cap = bytes.next_power_of_two();
            self.scratch = (self.alloc(cap)?, cap);
        }
        Ok(self.scratch.0)
    }

    /// Runs `codes` on the case set; returns each candidate's output bits.
    fn eval(&mut self, codes: &[&[u32]], cases: &CaseSet) -> Result<ChunkOutputs> {
        let (inputs, n) = self.inputs(cases)?;
        let code_bytes: usize = codes.iter().map(|c| 4 * c.len()).sum();
        let table_bytes = 8 * codes.len();
        let status_bytes = 4 * codes.len();
        let out_bytes = 8 * n * codes.len();
        let total = code_bytes + table_bytes + status_bytes + out_bytes + 64;
        let base = self.scratch(total)?;
        let mut blob = Vec::with_capacity(code_bytes + table_bytes);
        let code_base = base + table_bytes as u32;
        let mut at = code_base;
        let mut table = Vec::with_capacity(table_bytes);
        for c in codes {
            table.extend_from_slice(&at.to_le_bytes());
            table.extend_from_slice(&(c.len() as u32).to_le_bytes());
            at += 4 * c.len() as u32;
        }
        blob.extend_from_slice(&table);
        for c in codes {
            for w in c.iter() {
                blob.extend_from_slice(&w.to_le_bytes());
            }
        }
        let status = (base + blob.len() as u32).next_multiple_of(8);
        let outputs = (status + status_bytes as u32).next_multiple_of(8);
        self.instance
            .write_memory(base as u64, &blob)
            .map_err(host_err)?;
        let call = self
            .instance
            .call(
                "crucible_eval_many",
                &[
                    sandbox::Value::I32(base as i32),
                    sandbox::Value::I32(codes.len() as i32),
                    sandbox::Value::I32(inputs as i32),
                    sandbox::Value::I32(n as i32),
                    sandbox::Value::I32(outputs as i32),
                    sandbox::Value::I32(status as i32),
                ],
            )
            .map_err(host_err)?;
        if let Err(verdict) = call.result {
            // Our own guest misbehaving is a host failure, not a candidate's verdict.
            return Err(host_err(format!("guest stopped: {verdict}")));
        }
        let status = self
            .instance
            .read_memory(status as u64, status_bytes)
            .map_err(host_err)?;
        let outs = self
            .instance
            .read_memory(outputs as u64, out_bytes)
            .map_err(host_err)?;
        Ok((0..codes.len())
            .map(|k| {
                let s = u32::from_le_bytes(status[4 * k..4 * k + 4].try_into().expect("4 bytes"));
                if s != 0 {
                    return Err(format!("guest rejected bytecode (status {s})"));
                }
                Ok((0..n)
                    .map(|i| {
                        let at = 8 * (k * n + i);
                        u64::from_le_bytes(outs[at..at + 8].try_into().expect("8 bytes"))
                    })
                    .collect())
            })
            .collect())
    }
}

/// The tier-0 evaluator, with a fallback for what bytecode cannot express.
pub struct Tier0Evaluator<F> {
    module: sandbox::Module,
    sessions: Mutex<Vec<Session>>,
    fallback: F,
    stats: Mutex<Tier0Stats>,
}

/// How many candidates each tier took.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tier0Stats {
    /// Candidates run by the evaluator guest.
    pub tier0: u64,
    /// Candidates sent to the fallback.
    pub fallback: u64,
}

impl<F: Evaluator> Tier0Evaluator<F> {
    /// Loads the guest into `sandbox` (Cranelift, so the guest runs at full speed).
    ///
    /// # Errors
    /// If the guest was not built into this binary or does not load.
    pub fn new(sandbox: &sandbox::Sandbox, fallback: F) -> Result<Tier0Evaluator<F>> {
        if !available() {
            return Err(host_err(
                "not built (install the wasm32-unknown-unknown target and rebuild)",
            ));
        }
        let module = sandbox.load(GUEST).map_err(host_err)?;
        Ok(Tier0Evaluator {
            module,
            sessions: Mutex::new(Vec::new()),
            fallback,
            stats: Mutex::new(Tier0Stats::default()),
        })
    }

    /// Candidates per tier so far.
    pub fn stats(&self) -> Tier0Stats {
        *self.stats.lock().expect("stats lock")
    }

    fn session(&self) -> Result<Session> {
        if let Some(s) = self.sessions.lock().expect("session lock").pop() {
            return Ok(s);
        }
        let limits = sandbox::Limits {
            fuel: u64::MAX / 4,
            memory_bytes: GUEST_MEMORY,
            ..sandbox::Limits::default()
        };
        let instance = match self.module.instantiate(&limits).map_err(host_err)? {
            Ok(i) => i,
            Err(v) => return Err(host_err(format!("instantiation: {v}"))),
        };
        Ok(Session {
            instance,
            resident: HashMap::new(),
            scratch: (0, 0),
        })
    }

    fn run_chunk(&self, codes: &[&[u32]], cases: &CaseSet) -> Result<ChunkOutputs> {
        let mut session = self.session()?;
        let res = session.eval(codes, cases);
        if res.is_ok() {
            self.sessions.lock().expect("session lock").push(session);
        }
        res
    }
}

impl<F: Evaluator> Evaluator for Tier0Evaluator<F> {
    fn name(&self) -> &str {
        "tier0"
    }

    fn run(
        &self,
        entry: &str,
        candidates: &[&CheckedProgram],
        cases: &CaseSet,
        fuel: u64,
    ) -> Result<Vec<Runs>> {
        let mut results: Vec<Option<Runs>> = vec![None; candidates.len()];
        // Lower what bytecode can express; the rest goes to the fallback.
        let mut lowered: Vec<(usize, Vec<u32>, u64, Scalar)> = Vec::new();
        let mut others: Vec<usize> = Vec::new();
        if cases.params.iter().all(|t| t.as_scalar().is_some()) {
            for (i, c) in candidates.iter().enumerate() {
                match bytecode::lower(c, entry) {
                    Ok(words) => {
                        let (_, f) = c.func(entry).expect("lowered entries exist");
                        let per_case = crucible_compiler::cost::straight_line_cost(c, f);
                        lowered.push((i, words, per_case, f.ret));
                    }
                    Err(_) => others.push(i),
                }
            }
        } else {
            others.extend(0..candidates.len());
        }
        // Over-budget candidates fail the first case, as in the interpreter.
        lowered.retain(|(i, _, per_case, _)| {
            if *per_case > fuel {
                results[*i] = Some(Runs {
                    outputs: Vec::new(),
                    costs: Vec::new(),
                    verdict: Some("out-of-budget".into()),
                });
                false
            } else {
                true
            }
        });
        let chunk = (MAX_OUTPUT_BYTES / (8 * cases.len().max(1))).clamp(1, 512);
        let n_threads = rayon::current_num_threads().max(1);
        let chunk = chunk.min(lowered.len().div_ceil(n_threads).max(1));
        let evaluated: Vec<Result<ChunkOutputs>> = lowered
            .par_chunks(chunk)
            .map(|part| {
                let codes: Vec<&[u32]> = part.iter().map(|(_, w, _, _)| w.as_slice()).collect();
                self.run_chunk(&codes, cases)
            })
            .collect();
        let mut flat = Vec::with_capacity(lowered.len());
        for part in evaluated {
            flat.extend(part?);
        }
        for ((i, _, per_case, ret), out) in lowered.iter().zip(flat) {
            let bits = out.map_err(host_err)?;
            results[*i] = Some(Runs {
                outputs: bits.iter().map(|&b| Value::from_bits(*ret, b)).collect(),
                costs: vec![*per_case; cases.len()],
                verdict: None,
            });
        }
        crate::eval::run_subset(
            &self.fallback,
            entry,
            candidates,
            &others,
            cases,
            fuel,
            &mut results,
        )?;
        let mut stats = self.stats.lock().expect("stats lock");
        stats.tier0 += lowered.len() as u64;
        stats.fallback += others.len() as u64;
        Ok(crate::eval::collect_all(results))
    }
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::eval::InterpEvaluator;
    use crucible_compiler::ir::Type;
    use crucible_compiler::random::{self, GenConfig, Rng};

    fn sandbox() -> sandbox::Sandbox {
        sandbox::Sandbox::new(&sandbox_config(1)).unwrap()
    }

    fn case_set(id: u64, params: &[Type], rng: &mut Rng, n: usize) -> CaseSet {
        let args: Vec<Vec<Arg>> = (0..n)
            .map(|_| params.iter().map(|t| random::arg(rng, *t)).collect())
            .collect();
        CaseSet::from_args(id, params.to_vec(), args)
    }

    /// The guest agrees with the interpreter bit for bit, outputs and costs.
    #[test]
    fn tier0_equals_the_interpreter() {
        assert!(
            available(),
            "the evaluator guest was not built: rustup target add wasm32-unknown-unknown"
        );
        let sb = sandbox();
        let tier0 = Tier0Evaluator::new(&sb, InterpEvaluator).unwrap();
        let mut rng = Rng::new(99);
        let mut compared = 0;
        for round in 0..40 {
            let (params, ret) = random::scalar_signature(&mut rng);
            let programs: Vec<CheckedProgram> = (0..25)
                .map(|i| {
                    // Every fifth program has control flow and takes the fallback.
                    let cfg = if i % 5 == 4 {
                        GenConfig::SMALL
                    } else {
                        GenConfig::STRAIGHT
                    };
                    crucible_compiler::check(&random::program(&mut rng, &cfg, &params, ret))
                        .unwrap()
                })
                .collect();
            let refs: Vec<&CheckedProgram> = programs.iter().collect();
            let cases = case_set(round, &params, &mut rng, 70);
            let got = tier0.run("f", &refs, &cases, u64::MAX / 8).unwrap();
            let want = InterpEvaluator
                .run("f", &refs, &cases, u64::MAX / 8)
                .unwrap();
            for (k, (g, w)) in got.iter().zip(&want).enumerate() {
                assert_eq!(g, w, "{}", crucible_compiler::print(refs[k].program()));
                compared += g.outputs.len();
            }
        }
        assert!(compared >= 40 * 25 * 70);
        let stats = tier0.stats();
        assert_eq!(stats.tier0 + stats.fallback, 40 * 25);
        assert!(stats.tier0 >= 40 * 20, "{stats:?}");
    }

    #[test]
    fn over_budget_candidates_get_the_interpreters_verdict() {
        let sb = sandbox();
        let tier0 = Tier0Evaluator::new(&sb, InterpEvaluator).unwrap();
        let c =
            crucible_compiler::compile_text("fn f(x: f64) -> f64 { return x * x * x; }").unwrap();
        let mut rng = Rng::new(1);
        let cases = case_set(7, &[Type::Scalar(Scalar::F64)], &mut rng, 3);
        let got = tier0.run("f", &[&c], &cases, 5).unwrap();
        let want = InterpEvaluator.run("f", &[&c], &cases, 5).unwrap();
        assert_eq!(got, want);
        assert_eq!(got[0].verdict.as_deref(), Some("out-of-budget"));
    }
}
