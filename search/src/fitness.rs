//! Fitness: per-case errors, their shapes, and the orders search uses.
//!
//! A candidate's [`Fitness`] is a pure function of its outputs and cost-model
//! costs on the task's cases, so it is the same in every evaluation tier.
//! A candidate that traps or runs out of budget gets [`WORST`] error and
//! keeps its verdict; non-finite errors are clamped to [`WORST`], as Operon
//! clamps to `ErrMax`, so every fitness is a finite, serialisable number.

use std::cmp::Ordering;

use crucible_compiler::value::Value;
use serde::{Deserialize, Serialize};

use crate::task::{ErrorKindSpec, HashParams, Objective, Shape, Task};

/// The error of a failed candidate, and the clamp for non-finite errors.
pub const WORST: f64 = 1e300;

/// Added per cascade stage (or level) a candidate did not reach.
pub const STAGE_PENALTY: f64 = 1e9;

/// The fitness of one candidate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Fitness {
    /// The shaped error, with cascade penalties; lower is better.
    pub error: f64,
    /// Mean cost-model units per evaluated case.
    pub cost: f64,
    /// Expression nodes over all holes.
    pub size: u32,
    /// Cases whose error is at most the task's `hit`.
    pub hits: u32,
    /// Per-case errors (cases of unreached stages are [`WORST`]); empty for the hash error.
    pub cases: Vec<f64>,
    /// Cascade stages the candidate was evaluated on.
    pub stages: u32,
    /// Why the candidate failed, if it did (`out-of-budget`, a trap name).
    pub verdict: Option<String>,
}

impl Fitness {
    /// The fitness of a candidate that failed with `verdict`.
    pub fn failed(verdict: String, size: u32, n_cases: usize, stages: u32) -> Fitness {
        Fitness {
            error: WORST,
            cost: WORST,
            size,
            hits: 0,
            cases: vec![WORST; n_cases],
            stages,
            verdict: Some(verdict),
        }
    }
}

fn clamp(e: f64) -> f64 {
    if e.is_finite() { e.min(WORST) } else { WORST }
}

/// The error of one case.
pub fn case_error(kind: ErrorKindSpec, got: Value, want: Value) -> f64 {
    let e = match kind {
        ErrorKindSpec::Abs | ErrorKindSpec::Squared => {
            let d = as_f64(got) - as_f64(want);
            if as_f64(got).is_nan() != as_f64(want).is_nan() {
                WORST
            } else if as_f64(want).is_nan() {
                0.0
            } else if kind == ErrorKindSpec::Abs {
                d.abs()
            } else {
                d * d
            }
        }
        ErrorKindSpec::Exact | ErrorKindSpec::Hash => f64::from(u8::from(got != want)),
        ErrorKindSpec::Ulp => ulp_distance(got, want),
    };
    clamp(e)
}

fn as_f64(v: Value) -> f64 {
    match v {
        Value::F64(x) => x,
        Value::F32(x) => f64::from(x),
        Value::I32(x) => f64::from(x),
        Value::U32(x) => f64::from(x),
        Value::I64(x) => x as f64,
        Value::U64(x) => x as f64,
        Value::Bool(b) => f64::from(u8::from(b)),
    }
}

/// Distance in units in the last place: the number of representable floats
/// between `a` and `b` (0 for equal values, both NaN counts as equal).
pub fn ulp_distance(a: Value, b: Value) -> f64 {
    fn ordered32(x: f32) -> i64 {
        let bits = x.to_bits() as i32;
        i64::from(if bits < 0 {
            i32::MIN.wrapping_sub(bits)
        } else {
            bits
        })
    }
    fn ordered64(x: f64) -> i128 {
        let bits = x.to_bits() as i64;
        i128::from(if bits < 0 {
            i64::MIN.wrapping_sub(bits)
        } else {
            bits
        })
    }
    match (a, b) {
        (Value::F32(x), Value::F32(y)) => {
            if x.is_nan() || y.is_nan() {
                return if x.is_nan() && y.is_nan() { 0.0 } else { 4.3e9 };
            }
            (ordered32(x) - ordered32(y)).unsigned_abs() as f64
        }
        (Value::F64(x), Value::F64(y)) => {
            if x.is_nan() || y.is_nan() {
                return if x.is_nan() && y.is_nan() {
                    0.0
                } else {
                    1.9e19
                };
            }
            (ordered64(x) - ordered64(y)).unsigned_abs() as f64
        }
        (x, y) => f64::from(u8::from(x != y)),
    }
}

/// Folds case errors by `shape`; `stages` are cumulative case counts.
pub fn shaped(shape: Shape, errors: &[f64], stages: &[(usize, f64)], hit: f64) -> f64 {
    if errors.is_empty() {
        return 0.0;
    }
    let e = match shape {
        Shape::Sum => errors.iter().sum(),
        Shape::Mean => errors.iter().sum::<f64>() / errors.len() as f64,
        Shape::Max => errors.iter().copied().fold(0.0, f64::max),
        Shape::Levels => {
            let mut from = 0;
            let mut out = 0.0;
            for (k, &(to, _)) in stages.iter().enumerate() {
                let level = &errors[from..to.min(errors.len())];
                let sum: f64 = level.iter().sum();
                if level.iter().any(|e| *e > hit) {
                    out = (stages.len() - k - 1) as f64 * STAGE_PENALTY + sum;
                    break;
                }
                from = to;
            }
            out
        }
    };
    clamp(e)
}

/// Hash quality from the outputs on the key sets and avalanche blocks:
/// mean (or, with `worst_set`, maximum) over key sets of (collisions + 1) /
/// (expected collisions of a random function + 1), plus `avalanche_weight` ×
/// mean |2·P(flip) − 1| over (input bit, table-index bit) pairs.
pub fn hash_error(params: &HashParams, outputs: &[Value]) -> (f64, f64, f64) {
    let bits = params.table_bits;
    let index = |v: Value| -> u64 {
        match v {
            Value::U64(x) => x >> (64 - bits),
            Value::U32(x) => u64::from(x >> (32 - bits.min(32))),
            Value::I64(x) => (x as u64) >> (64 - bits),
            Value::I32(x) => u64::from((x as u32) >> (32 - bits.min(32))),
            other => other.to_bits() >> (64 - bits),
        }
    };
    let m = (1u64 << bits) as f64;
    let mut at = 0;
    let mut ratio = 0.0;
    let mut seen = vec![0u64; 1 << bits.saturating_sub(6)];
    for &n in &params.set_sizes {
        seen.iter_mut().for_each(|w| *w = 0);
        let mut collisions = 0usize;
        for v in &outputs[at..at + n] {
            let i = index(*v) as usize;
            let (w, b) = (i / 64, i % 64);
            if seen[w] >> b & 1 == 1 {
                collisions += 1;
            } else {
                seen[w] |= 1 << b;
            }
        }
        let expected = n as f64 - m * (1.0 - (1.0 - 1.0 / m).powf(n as f64));
        let set_ratio = (collisions as f64 + 1.0) / (expected + 1.0);
        if params.worst_set {
            ratio = f64::max(ratio, set_ratio);
        } else {
            ratio += set_ratio;
        }
        at += n;
    }
    if !params.worst_set {
        ratio /= params.set_sizes.len() as f64;
    }
    let mut flips = vec![0u32; 64 * bits as usize];
    for k in 0..params.avalanche_keys {
        let base = at + k * 65;
        let h0 = index(outputs[base]);
        for i in 0..64 {
            let d = h0 ^ index(outputs[base + 1 + i]);
            for j in 0..bits as usize {
                flips[i * bits as usize + j] += (d >> j & 1) as u32;
            }
        }
    }
    let n = params.avalanche_keys.max(1) as f64;
    let bias = flips
        .iter()
        .map(|&c| (2.0 * f64::from(c) / n - 1.0).abs())
        .sum::<f64>()
        / flips.len().max(1) as f64;
    (clamp(ratio + params.avalanche_weight * bias), ratio, bias)
}

/// Scores complete outputs (all cases) into a fitness.
pub fn score(task: &Task, outputs: &[Value], costs: &[u64], size: u32, stages: u32) -> Fitness {
    let cost = if costs.is_empty() {
        0.0
    } else {
        costs.iter().sum::<u64>() as f64 / costs.len() as f64
    };
    if task.error == ErrorKindSpec::Hash {
        let params = task.hash.as_ref().expect("hash tasks have hash parameters");
        let (error, _, _) = hash_error(params, outputs);
        return Fitness {
            error,
            cost,
            size,
            hits: 0,
            cases: Vec::new(),
            stages,
            verdict: None,
        };
    }
    let hit = task.file.fitness.hit;
    let mut cases: Vec<f64> = outputs
        .iter()
        .zip(task.cases.expected.iter())
        .map(|(g, w)| case_error(task.error, *g, *w))
        .collect();
    let reached = cases.len();
    let hits = cases.iter().filter(|e| **e <= hit).count() as u32;
    let n_stages = task.stages.len() as u32;
    let mut error = shaped(task.shape, &cases, &task.stages, hit);
    if task.shape != Shape::Levels && stages < n_stages {
        error = clamp(error + f64::from(n_stages - stages) * STAGE_PENALTY);
    }
    cases.resize(task.cases.len(), WORST);
    debug_assert!(reached <= task.cases.len());
    Fitness {
        error,
        cost,
        size,
        hits,
        cases,
        stages,
        verdict: None,
    }
}

/// The total order of fitness values used by tournaments, elitism and the
/// hall of fame (Pareto mode uses it only to break ties).
#[derive(Clone, Copy, Debug)]
pub struct Order {
    /// How objectives combine.
    pub objective: Objective,
    /// Weight of cost in the weighted sum.
    pub cost_weight: f64,
    /// Weight of size in the weighted sum.
    pub parsimony: f64,
    /// Second phase of a two-phase run: correct programs first, by cost.
    pub phase2: Option<f64>,
}

impl Order {
    /// The weighted scalar of a fitness.
    pub fn scalar(&self, f: &Fitness) -> f64 {
        clamp(f.error + self.cost_weight * f.cost + self.parsimony * f64::from(f.size))
    }

    /// Compares two fitness values: `Less` means `a` is better.
    pub fn cmp(&self, a: &Fitness, b: &Fitness) -> Ordering {
        if let Some(correct) = self.phase2 {
            let (ca, cb) = (a.error <= correct, b.error <= correct);
            if ca != cb {
                return cb.cmp(&ca);
            }
            if ca {
                return a
                    .cost
                    .total_cmp(&b.cost)
                    .then(a.size.cmp(&b.size))
                    .then(a.error.total_cmp(&b.error));
            }
        }
        match self.objective {
            Objective::Weighted => self
                .scalar(a)
                .total_cmp(&self.scalar(b))
                .then(a.size.cmp(&b.size)),
            Objective::Lexicographic | Objective::Pareto => a
                .error
                .total_cmp(&b.error)
                .then(a.cost.total_cmp(&b.cost))
                .then(a.size.cmp(&b.size)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ulp_distance_counts_floats_between() {
        let one = Value::F32(1.0);
        let next = Value::F32(f32::from_bits(1.0f32.to_bits() + 3));
        assert_eq!(ulp_distance(one, next), 3.0);
        assert_eq!(ulp_distance(Value::F32(-0.0), Value::F32(0.0)), 0.0);
        assert_eq!(
            ulp_distance(
                Value::F32(f32::from_bits(1)),
                Value::F32(-f32::from_bits(1))
            ),
            2.0
        );
    }

    #[test]
    fn levels_count_only_after_earlier_levels_hold() {
        let stages = [(2, 0.0), (4, 0.0)];
        assert_eq!(
            shaped(Shape::Levels, &[0.0, 0.0, 1.0, 0.0], &stages, 0.0),
            1.0
        );
        assert_eq!(
            shaped(Shape::Levels, &[1.0, 0.0, 1.0, 1.0], &stages, 0.0),
            STAGE_PENALTY + 1.0
        );
    }

    #[test]
    fn identity_hash_collides_on_clustered_low_bits() {
        let params = HashParams {
            table_bits: 4,
            set_sizes: vec![16],
            avalanche_keys: 0,
            avalanche_weight: 1.0,
            worst_set: false,
        };
        let spread: Vec<Value> = (0..16u64).map(|i| Value::U64(i << 60)).collect();
        let clumped: Vec<Value> = (0..16u64).map(Value::U64).collect();
        assert!(hash_error(&params, &spread).1 < hash_error(&params, &clumped).1);
    }

    #[test]
    fn worst_set_counts_the_collapsed_set_alone() {
        let mut params = HashParams {
            table_bits: 4,
            set_sizes: vec![16, 16],
            avalanche_keys: 0,
            avalanche_weight: 1.0,
            worst_set: false,
        };
        // A perfect spread on the first set, one bucket for the second.
        let outputs: Vec<Value> = (0..16u64)
            .map(|i| Value::U64(i << 60))
            .chain((0..16).map(|_| Value::U64(0)))
            .collect();
        let mean = hash_error(&params, &outputs).1;
        params.worst_set = true;
        let worst = hash_error(&params, &outputs).1;
        params.set_sizes = vec![16];
        let collapsed = hash_error(&params, &outputs[16..]).1;
        assert_eq!(worst, collapsed);
        assert!(mean < worst, "mean {mean}, worst {worst}");
    }
}
