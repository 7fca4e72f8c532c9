//! Task files: what to evolve, on which data, scored how, within which limits.
//!
//! A task is a TOML file (see `search/tasks/README.md` for every key).
//! Unknown keys and wrong types are rejected with the key path and the line,
//! because `serde(deny_unknown_fields)` and `toml`'s error `Display` carry both.
//! [`Task::load`] turns the file into a [`Task`]: the parsed skeleton, the
//! primitive set, the generated test cases with their expected outputs, and the
//! search parameters, all fixed before the first generation so that a run is a
//! function of (task, seed).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crucible_compiler::ir::{Scalar, Type};
use crucible_compiler::value::{Arg, SliceData, Value};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind, Result};
use crate::skeleton::Skeleton;

/// The raw task file, as deserialised.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TaskFile {
    /// The task's name.
    pub name: String,
    /// One line on what it is.
    #[serde(default)]
    pub description: String,
    /// The program shape.
    pub program: ProgramSpec,
    /// The primitive set.
    #[serde(default)]
    pub primitives: PrimitiveSpec,
    /// The test data.
    pub data: DataSpec,
    /// How outputs become fitness.
    pub fitness: FitnessSpec,
    /// Size and fuel limits.
    #[serde(default)]
    pub limits: LimitSpec,
    /// Search parameters.
    #[serde(default)]
    pub search: SearchSpec,
    /// Stopping rules.
    #[serde(default)]
    pub stop: StopSpec,
}

/// `[program]`: the entry signature or a skeleton, and seeds.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ProgramSpec {
    /// `fn name(params) -> ret`: the body is one evolved `return` expression.
    pub signature: Option<String>,
    /// A candidate-language file with holes written `__hole_T` (T a scalar type).
    pub skeleton: Option<PathBuf>,
    /// Programs (with the skeleton's shape) to seed the initial population from.
    #[serde(default)]
    pub seeds: Vec<PathBuf>,
    /// Baselines scored the same way as candidates (reported, not seeded).
    #[serde(default)]
    pub baselines: Vec<PathBuf>,
    /// The entry function (default: the first function).
    pub entry: Option<String>,
}

/// `[primitives]`: what GP may build expressions from.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PrimitiveSpec {
    /// Scalar types expressions may have inside (default: the entry's scalars).
    #[serde(default)]
    pub types: Vec<String>,
    /// Operators by symbol (`+ - * / % & | ^ << >> == != < <= > >= && || neg not`).
    #[serde(default)]
    pub ops: Vec<String>,
    /// Builtins by name (`sqrt`, `rotl`, `f32::from_bits`, ...).
    #[serde(default)]
    pub builtins: Vec<String>,
    /// Whether `as` casts between the types are allowed.
    #[serde(default)]
    pub casts: bool,
    /// Whether slice parameters may be indexed (`xs[i]`) and measured (`len`).
    #[serde(default)]
    pub slices: bool,
    /// Constants per type.
    #[serde(default)]
    pub constants: Vec<ConstSpec>,
    /// Probability of a constant (rather than a variable) at a leaf (default 0.3).
    pub constant_rate: Option<f64>,
}

/// One `[[primitives.constants]]` entry.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ConstSpec {
    /// The scalar type.
    #[serde(rename = "type")]
    pub ty: String,
    /// Lower end of the uniform range.
    pub lo: Option<f64>,
    /// Upper end of the uniform range.
    pub hi: Option<f64>,
    /// Fixed values as candidate-language literals (`"0x9E3779B97F4A7C15"`).
    #[serde(default)]
    pub values: Vec<String>,
}

/// `[data]`: inputs and how expected outputs are computed.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DataSpec {
    /// How inputs are made.
    pub inputs: InputSpec,
    /// A host-side target formula by name (`koza-quartic`, `nguyen-7`, `keijzer-6`,
    /// `exp`, `count-odd`); none for the hash error.
    pub target: Option<String>,
    /// A candidate-language reference program computing the expected output.
    pub reference: Option<PathBuf>,
}

/// `[data.inputs]`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    /// `uniform`, `grid`, `keys`, `slices` or `inline`.
    pub kind: String,
    /// Generator seed (fixed by the task, not by the run).
    #[serde(default)]
    pub seed: u64,
    /// Generator seed of the held-out validation cases, never seen by search
    /// (default `seed + 1`); only the seeded kinds (`uniform`, `keys`,
    /// `slices`) have validation cases.
    pub validation_seed: Option<u64>,
    /// Number of cases (`uniform`) or keys per set (`keys`) or slices.
    pub n: Option<usize>,
    /// Lower bound (`uniform`, `grid`, slice elements).
    pub lo: Option<f64>,
    /// Upper bound.
    pub hi: Option<f64>,
    /// Grid step.
    pub step: Option<f64>,
    /// Key generators for `keys`: `sequential`, `random`, `clustered`, `ascii`.
    #[serde(default)]
    pub sets: Vec<String>,
    /// Longest slice for `slices`.
    pub max_len: Option<usize>,
    /// Inline cases: each a list of literals, one per parameter.
    #[serde(default)]
    pub cases: Vec<Vec<String>>,
}

/// `[fitness]`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FitnessSpec {
    /// `abs`, `squared`, `exact`, `ulp` or `hash`.
    pub error: String,
    /// `sum`, `mean`, `max` or `levels` (default `sum`).
    pub shape: Option<String>,
    /// A case is a hit when its error is at most this (default 0).
    #[serde(default)]
    pub hit: f64,
    /// `weighted` (error + cost_weight·cost + parsimony·size), `lexicographic`
    /// (error, then cost, then size) or `pareto` (NSGA-II over error, cost, size).
    pub objective: Option<String>,
    /// Weight of the mean cost per case (cost-model units) in `weighted`.
    #[serde(default)]
    pub cost_weight: f64,
    /// Weight of the node count in `weighted` (parsimony pressure).
    #[serde(default)]
    pub parsimony: f64,
    /// Two-phase run: once a program is correct (error ≤ `correct`), minimise cost.
    #[serde(default)]
    pub two_phase: bool,
    /// The error at or below which a program counts as correct (default 0).
    #[serde(default)]
    pub correct: f64,
    /// Evaluation cascade: leading stages of the cases with thresholds.
    #[serde(default)]
    pub stages: Vec<StageSpec>,
    /// Parameters of the `hash` error.
    pub hash: Option<HashSpec>,
}

/// One cascade stage: the first `cases` cases; advance if the stage error ≤ `threshold`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StageSpec {
    /// Number of leading cases in this stage (cumulative).
    pub cases: usize,
    /// Largest stage error that advances.
    pub threshold: f64,
}

/// `[fitness.hash]`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HashSpec {
    /// log2 of the table size (default 16).
    pub table_bits: Option<u32>,
    /// Keys whose 64 single-bit flips measure avalanche (default 32).
    pub avalanche_keys: Option<usize>,
    /// Weight of the avalanche bias (default 1).
    pub avalanche_weight: Option<f64>,
    /// How the key sets' collision ratios combine: `mean` (default) or
    /// `max`, the worst set, so that no set's low ratio pays for another's high one.
    pub combine: Option<String>,
}

/// `[limits]`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LimitSpec {
    /// Cost-model units per test case (default 10,000).
    pub fuel: Option<u64>,
    /// Most expression nodes over all holes (default 80).
    pub max_size: Option<usize>,
    /// Deepest expression per hole (default 12).
    pub max_depth: Option<usize>,
    /// Depth range of ramped half-and-half (default 2..=6).
    pub init_depth: Option<[usize; 2]>,
}

/// `[search]`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SearchSpec {
    /// Individuals per island (default 500).
    pub population: Option<usize>,
    /// Number of islands (default 1).
    pub islands: Option<usize>,
    /// Generations between migrations (default 10).
    pub migration_interval: Option<u64>,
    /// Individuals sent to the next island per migration (default 2).
    pub migrants: Option<usize>,
    /// `tournament`, `lexicase` or `nsga2` (default `tournament`).
    pub selection: Option<String>,
    /// Tournament size (default 5).
    pub tournament: Option<usize>,
    /// Best individuals copied unchanged (default 1).
    pub elitism: Option<usize>,
    /// Probability that an offspring comes from crossover (default 0.7; 0 is
    /// mutation-only, evolutionary programming).
    pub crossover: Option<f64>,
    /// Mutation weights by operator name.
    pub mutation: Option<MutationWeights>,
    /// Cases in the functional-equivalence probe set (default 8).
    pub probe_cases: Option<usize>,
    /// Fraction of the initial population made from seeds (default 0.1).
    pub seed_fraction: Option<f64>,
}

/// `[search.mutation]`: relative weights (default 1 each).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MutationWeights {
    /// Subtree replacement.
    pub subtree: Option<f64>,
    /// Insertion (wrap a node in a new parent).
    pub insertion: Option<f64>,
    /// Reduction / hoist (replace a node by one of its children).
    pub reduction: Option<f64>,
    /// Deletion (replace a subtree by a leaf).
    pub deletion: Option<f64>,
    /// Point mutation (same-arity operator swap).
    pub point: Option<f64>,
    /// Constant perturbation.
    pub constant: Option<f64>,
}

/// `[stop]`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StopSpec {
    /// Most generations (default 50).
    pub generations: Option<u64>,
    /// Most fitness evaluations.
    pub evaluations: Option<u64>,
    /// Generations without improvement of the best.
    pub stagnation: Option<u64>,
    /// Stop when the best error is at most this.
    pub target: Option<f64>,
}

/// How a case's output is compared with the expected output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ErrorKindSpec {
    /// |y − t| in f64.
    Abs,
    /// (y − t)².
    Squared,
    /// 0 if bit-identical, else 1.
    Exact,
    /// Units in the last place between y and t (f32 or f64).
    Ulp,
    /// Hash quality over the whole key set (no per-case error).
    Hash,
}

/// How per-case errors are folded into one error.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Shape {
    /// Sum of case errors.
    Sum,
    /// Mean of case errors.
    Mean,
    /// Largest case error.
    Max,
    /// Stages as lexicographic levels: a stage counts once all earlier stages are hits.
    Levels,
}

/// How fitness values are ordered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Objective {
    /// error + cost_weight·cost + parsimony·size.
    Weighted,
    /// error, then cost, then size.
    Lexicographic,
    /// NSGA-II over (error, cost, size).
    Pareto,
}

/// Parent selection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Selection {
    /// Tournament on the scalar order.
    Tournament,
    /// ε-lexicase on per-case errors.
    Lexicase,
    /// NSGA-II: crowded tournament and (μ+λ) environmental selection.
    Nsga2,
}

/// A test case set: the arguments of every case and what it expects.
#[derive(Clone, Debug)]
pub struct CaseSet {
    /// A fingerprint of the inputs, so evaluators may keep data resident.
    pub id: u64,
    /// The entry's parameter types.
    pub params: Vec<Type>,
    /// Arguments, one row per case.
    pub args: Arc<[Vec<Arg>]>,
    /// Expected outputs (empty for the hash error).
    pub expected: Arc<[Value]>,
}

impl CaseSet {
    /// A case set of inputs only (no expected outputs), as evaluators and
    /// benchmarks use it.
    pub fn from_args(id: u64, params: Vec<Type>, args: Vec<Vec<Arg>>) -> CaseSet {
        CaseSet {
            id,
            params,
            args: Arc::from(args),
            expected: Arc::from(Vec::new()),
        }
    }

    /// Number of cases.
    pub fn len(&self) -> usize {
        self.args.len()
    }

    /// Whether there are no cases.
    pub fn is_empty(&self) -> bool {
        self.args.is_empty()
    }

    /// Cases `from..to` (clamped to the set).
    pub fn range(&self, from: usize, to: usize) -> CaseSet {
        let to = to.min(self.len());
        let from = from.min(to);
        CaseSet {
            id: crate::hash::fnv64_pair(self.id, ((from as u64) << 32) | to as u64),
            params: self.params.clone(),
            args: self.args[from..to].to_vec().into(),
            expected: if self.expected.is_empty() {
                Vec::new().into()
            } else {
                self.expected[from..to].to_vec().into()
            },
        }
    }
}

/// Resolved hash-error parameters.
#[derive(Clone, Debug)]
pub struct HashParams {
    /// log2 of the table size.
    pub table_bits: u32,
    /// Key count per key set, in case order.
    pub set_sizes: Vec<usize>,
    /// Avalanche keys (each followed by its 64 flips in the cases).
    pub avalanche_keys: usize,
    /// Weight of the avalanche bias.
    pub avalanche_weight: f64,
    /// Whether the worst key set's collision ratio counts, rather than the mean.
    pub worst_set: bool,
}

/// Mutation operator weights, resolved.
#[derive(Clone, Debug)]
pub struct Weights {
    /// Probability of crossover per offspring.
    pub crossover: f64,
    /// Weights of subtree, insertion, reduction, deletion, point, constant.
    pub mutation: [f64; 6],
}

/// A loaded, validated task.
#[derive(Clone, Debug)]
pub struct Task {
    /// The file as written.
    pub file: TaskFile,
    /// The task file's text (archived with the run).
    pub text: String,
    /// Where it was read from.
    pub path: PathBuf,
    /// The program shape.
    pub skeleton: Arc<Skeleton>,
    /// The primitive set.
    pub prims: Arc<crate::gp::PrimitiveSet>,
    /// All test cases (cascade stages are prefixes).
    pub cases: CaseSet,
    /// Cumulative stage sizes and thresholds; the last stage is all cases.
    pub stages: Vec<(usize, f64)>,
    /// Case error.
    pub error: ErrorKindSpec,
    /// Error shape.
    pub shape: Shape,
    /// Fitness order.
    pub objective: Objective,
    /// Parent selection.
    pub selection: Selection,
    /// Hash parameters for [`ErrorKindSpec::Hash`].
    pub hash: Option<HashParams>,
    /// Operator weights.
    pub weights: Weights,
    /// Seed programs' texts (path, text).
    pub seeds: Vec<(PathBuf, String)>,
    /// Baseline programs' texts (path, text).
    pub baselines: Vec<(PathBuf, String)>,
    /// Held-out validation cases and their hash parameters, drawn from the
    /// same generators with the validation seed; search never sees them.
    pub validation: Option<(CaseSet, Option<HashParams>)>,
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| {
        ErrorKind::Io {
            path: path.display().to_string(),
            source,
        }
        .into()
    })
}

fn one_of<T: Copy>(path: &str, key: &str, value: &str, table: &[(&str, T)]) -> Result<T> {
    table
        .iter()
        .find(|(name, _)| *name == value)
        .map(|(_, v)| *v)
        .ok_or_else(|| {
            let names: Vec<&str> = table.iter().map(|(n, _)| *n).collect();
            Error::task(
                format!("{path}: {key}"),
                format!(
                    "unknown value `{value}`; expected one of {}",
                    names.join(", ")
                ),
            )
        })
}

impl Task {
    /// Reads and validates a task file; relative paths inside are relative to it.
    ///
    /// # Errors
    /// [`ErrorKind::Io`] if a file cannot be read; [`ErrorKind::Task`] naming the
    /// key (and line, for TOML errors) if anything in it is invalid.
    pub fn load(path: &Path) -> Result<Task> {
        let text = read(path)?;
        Task::from_text(path, &text)
    }

    /// Like [`Task::load`], with the text already read.
    ///
    /// # Errors
    /// As [`Task::load`].
    pub fn from_text(path: &Path, text: &str) -> Result<Task> {
        let shown = path.display().to_string();
        let file: TaskFile =
            toml::from_str(text).map_err(|e| Error::task(&shown, e.to_string()))?;
        let dir = path.parent().unwrap_or(Path::new("."));
        let skeleton = match (&file.program.signature, &file.program.skeleton) {
            (Some(sig), None) => Skeleton::from_signature(sig)
                .map_err(|m| Error::task(format!("{shown}: program.signature"), m))?,
            (None, Some(skel)) => {
                let p = dir.join(skel);
                let src = read(&p)?;
                Skeleton::from_text(&src, file.program.entry.as_deref())
                    .map_err(|m| Error::task(p.display(), m))?
            }
            _ => {
                return Err(Error::task(
                    format!("{shown}: program"),
                    "give exactly one of `signature` and `skeleton`",
                ));
            }
        };
        let skeleton = Arc::new(skeleton);
        let prims = crate::gp::PrimitiveSet::from_spec(&file.primitives, &skeleton)
            .map_err(|m| Error::task(format!("{shown}: primitives"), m))?;
        let error = one_of(
            &shown,
            "fitness.error",
            &file.fitness.error,
            &[
                ("abs", ErrorKindSpec::Abs),
                ("squared", ErrorKindSpec::Squared),
                ("exact", ErrorKindSpec::Exact),
                ("ulp", ErrorKindSpec::Ulp),
                ("hash", ErrorKindSpec::Hash),
            ],
        )?;
        let shape = one_of(
            &shown,
            "fitness.shape",
            file.fitness.shape.as_deref().unwrap_or("sum"),
            &[
                ("sum", Shape::Sum),
                ("mean", Shape::Mean),
                ("max", Shape::Max),
                ("levels", Shape::Levels),
            ],
        )?;
        let objective = one_of(
            &shown,
            "fitness.objective",
            file.fitness.objective.as_deref().unwrap_or("weighted"),
            &[
                ("weighted", Objective::Weighted),
                ("lexicographic", Objective::Lexicographic),
                ("pareto", Objective::Pareto),
            ],
        )?;
        let selection = one_of(
            &shown,
            "search.selection",
            file.search.selection.as_deref().unwrap_or("tournament"),
            &[
                ("tournament", Selection::Tournament),
                ("lexicase", Selection::Lexicase),
                ("nsga2", Selection::Nsga2),
            ],
        )?;
        let inputs = &file.data.inputs;
        let (cases, hash) = crate::data::generate(&file, &skeleton, dir, error, inputs.seed)
            .map_err(|(key, m)| Error::task(format!("{shown}: {key}"), m))?;
        let validation = if matches!(inputs.kind.as_str(), "uniform" | "keys" | "slices") {
            let seed = inputs
                .validation_seed
                .unwrap_or(inputs.seed.wrapping_add(1));
            if seed == inputs.seed {
                return Err(Error::task(
                    format!("{shown}: data.inputs.validation_seed"),
                    "must differ from `seed`",
                ));
            }
            let v = crate::data::generate(&file, &skeleton, dir, error, seed)
                .map_err(|(key, m)| Error::task(format!("{shown}: {key}"), m))?;
            Some(v)
        } else {
            None
        };
        if cases.is_empty() {
            return Err(Error::task(format!("{shown}: data"), "no test cases"));
        }
        let mut stages = Vec::new();
        for (i, st) in file.fitness.stages.iter().enumerate() {
            let prev = stages.last().map_or(0, |&(n, _)| n);
            if st.cases <= prev || st.cases > cases.len() {
                return Err(Error::task(
                    format!("{shown}: fitness.stages[{i}].cases"),
                    format!(
                        "must grow and be at most {} (the number of cases)",
                        cases.len()
                    ),
                ));
            }
            if error == ErrorKindSpec::Hash {
                return Err(Error::task(
                    format!("{shown}: fitness.stages"),
                    "the hash error has no cascade",
                ));
            }
            stages.push((st.cases, st.threshold));
        }
        if stages.last().is_none_or(|&(n, _)| n < cases.len()) {
            stages.push((cases.len(), f64::INFINITY));
        }
        let w = file.search.mutation.clone().unwrap_or_default();
        let weights = Weights {
            crossover: file.search.crossover.unwrap_or(0.7),
            mutation: [
                w.subtree.unwrap_or(1.0),
                w.insertion.unwrap_or(1.0),
                w.reduction.unwrap_or(1.0),
                w.deletion.unwrap_or(1.0),
                w.point.unwrap_or(1.0),
                w.constant.unwrap_or(1.0),
            ],
        };
        if weights.mutation.iter().any(|w| w.is_nan() || *w < 0.0)
            || weights.mutation.iter().sum::<f64>() <= 0.0
        {
            return Err(Error::task(
                format!("{shown}: search.mutation"),
                "weights must be non-negative and not all zero",
            ));
        }
        if !(0.0..=1.0).contains(&weights.crossover) {
            return Err(Error::task(
                format!("{shown}: search.crossover"),
                "must lie in 0..=1",
            ));
        }
        let mut seeds = Vec::new();
        for s in &file.program.seeds {
            let p = dir.join(s);
            seeds.push((p.clone(), read(&p)?));
        }
        let mut baselines = Vec::new();
        for s in &file.program.baselines {
            let p = dir.join(s);
            baselines.push((p.clone(), read(&p)?));
        }
        Ok(Task {
            text: text.to_string(),
            path: path.to_path_buf(),
            skeleton,
            prims: Arc::new(prims),
            cases,
            stages,
            error,
            shape,
            objective,
            selection,
            hash,
            weights,
            seeds,
            baselines,
            validation,
            file,
        })
    }

    /// The task scored on its held-out validation cases instead of its
    /// training cases (one stage, no cascade), or `None` if the task's data
    /// kind has no seed to draw them with.
    pub fn held_out(&self) -> Option<Task> {
        let (cases, hash) = self.validation.clone()?;
        let mut task = self.clone();
        task.stages = vec![(cases.len(), f64::INFINITY)];
        task.cases = cases;
        task.hash = hash;
        task.validation = None;
        Some(task)
    }

    /// Cost-model units allowed per test case.
    pub fn fuel(&self) -> u64 {
        self.file.limits.fuel.unwrap_or(10_000)
    }

    /// Most expression nodes over all holes.
    pub fn max_size(&self) -> usize {
        self.file.limits.max_size.unwrap_or(80)
    }

    /// Deepest expression per hole.
    pub fn max_depth(&self) -> usize {
        self.file.limits.max_depth.unwrap_or(12)
    }

    /// Depth range of ramped half-and-half.
    pub fn init_depth(&self) -> (usize, usize) {
        let [lo, hi] = self.file.limits.init_depth.unwrap_or([2, 6]);
        (lo.max(1), hi.max(lo.max(1)))
    }

    /// Individuals per island.
    pub fn population(&self) -> usize {
        self.file.search.population.unwrap_or(500).max(2)
    }

    /// Number of islands.
    pub fn islands(&self) -> usize {
        self.file.search.islands.unwrap_or(1).max(1)
    }
}

/// Draws a uniform `f64` in `[lo, hi)`.
pub(crate) fn uniform(rng: &mut ChaCha8Rng, lo: f64, hi: f64) -> f64 {
    lo + (hi - lo) * rng.random::<f64>()
}

/// A ChaCha RNG for the task's data generator.
pub(crate) fn data_rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// The scalar type named `name`, or an error message.
pub(crate) fn scalar_named(name: &str) -> Result<Scalar, String> {
    Scalar::from_name(name).ok_or_else(|| format!("unknown scalar type `{name}`"))
}

/// Makes a slice argument of `i32` elements.
pub(crate) fn i32_slice(v: Vec<i32>) -> Arg {
    Arg::Slice(SliceData::I32(v.into()))
}
