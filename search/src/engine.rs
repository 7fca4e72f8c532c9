//! The evolutionary loop: islands, variation, cascade evaluation with a
//! functional-equivalence cache, survivor selection, stopping rules and the
//! run digest.
//!
//! **Determinism.** A run is a function of (task, seed). Offspring `i` of
//! island `k` in generation `g` is bred with its own ChaCha RNG seeded from
//! `(seed, k, g, i)`, so breeding and evaluation may run on any number of rayon
//! threads; everything order-dependent (cache insertion, replacement,
//! migration, statistics) runs sequentially in index order. Nothing reads the
//! clock: wall time may stop a run (the caller's choice) but never enters
//! fitness. The digest is FNV-1a over every generation's best program and
//! statistics.
//!
//! **Checkpoints.** [`Engine::snapshot`] is the whole state between
//! generations (no RNG state is needed, since RNGs are derived from the
//! generation number); [`Engine::restore`] continues from it to the same end.

use std::collections::BTreeMap;

/// An offspring: genome, the operator that made it, its parents, its checked program (if well typed) and its seed.
type Bred = (Genome, Op, Vec<usize>, Option<CheckedProgram>, u64);

use crucible_compiler::CheckedProgram;
use crucible_compiler::value::Value;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::eval::{Evaluator, Runs};
use crate::fitness::{self, Fitness, Order};
use crate::gp::{self, Bounds, Genome, Op};
use crate::hash::{Fnv64, seed_of};
use crate::select;
use crate::skeleton::display_text;
use crate::task::{Objective, Selection, Task};

/// One member of a population.
#[derive(Clone, Debug)]
pub struct Individual {
    /// Unique within the run: `(generation << 32) | (island << 20) | index`.
    pub id: u64,
    /// One expression per hole.
    pub genome: Genome,
    /// Its fitness.
    pub fitness: Fitness,
    /// The operator that made it.
    pub op: Op,
    /// The parents' ids.
    pub parents: Vec<u64>,
}

/// Statistics of one generation (over all islands).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GenStats {
    /// The generation number (0 is the initial population).
    pub generation: u64,
    /// The best individual's error.
    pub best_error: f64,
    /// The best individual's mean cost per case.
    pub best_cost: f64,
    /// The best individual's size.
    pub best_size: u32,
    /// The best individual's hits.
    pub best_hits: u32,
    /// Mean error over individuals without a verdict.
    pub mean_error: f64,
    /// Mean size.
    pub mean_size: f64,
    /// Fitness evaluations so far (cache hits included).
    pub evaluations: u64,
    /// Evaluations so far answered by the functional-equivalence cache.
    pub cache_hits: u64,
    /// Offspring rejected as ill-typed or over the limits so far.
    pub invalid: u64,
    /// Offspring that failed (trap, out of budget) so far.
    pub failed: u64,
    /// The run digest after this generation.
    pub digest: u64,
}

/// Why a run stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum StopReason {
    /// The generation limit.
    Generations,
    /// The evaluation limit.
    Evaluations,
    /// No improvement for the stagnation limit.
    Stagnation,
    /// The target error was reached.
    Target,
}

impl StopReason {
    /// The name, as archived.
    pub fn name(self) -> &'static str {
        match self {
            StopReason::Generations => "generations",
            StopReason::Evaluations => "evaluations",
            StopReason::Stagnation => "stagnation",
            StopReason::Target => "target",
        }
    }
}

/// Run options chosen by the caller (the task supplies the rest).
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// The run seed.
    pub seed: u64,
    /// Overrides the task's generation limit.
    pub generations: Option<u64>,
}

/// A fitness stored by bits, so a checkpoint restores it exactly.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SavedFitness {
    error: u64,
    cost: u64,
    size: u32,
    hits: u32,
    cases: Vec<u64>,
    stages: u32,
    verdict: Option<String>,
}

impl From<&Fitness> for SavedFitness {
    fn from(f: &Fitness) -> SavedFitness {
        SavedFitness {
            error: f.error.to_bits(),
            cost: f.cost.to_bits(),
            size: f.size,
            hits: f.hits,
            cases: f.cases.iter().map(|c| c.to_bits()).collect(),
            stages: f.stages,
            verdict: f.verdict.clone(),
        }
    }
}

impl From<&SavedFitness> for Fitness {
    fn from(f: &SavedFitness) -> Fitness {
        Fitness {
            error: f64::from_bits(f.error),
            cost: f64::from_bits(f.cost),
            size: f.size,
            hits: f.hits,
            cases: f.cases.iter().map(|c| f64::from_bits(*c)).collect(),
            stages: f.stages,
            verdict: f.verdict.clone(),
        }
    }
}

/// An individual as checkpointed: program text instead of genes.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SavedIndividual {
    /// The id.
    pub id: u64,
    /// The phenotype's canonical text.
    pub text: String,
    /// Its fitness.
    pub fitness: SavedFitness,
    /// Operator name.
    pub op: String,
    /// Parent ids.
    pub parents: Vec<u64>,
}

/// Everything needed to continue a run after a generation.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Snapshot {
    /// The run seed.
    pub seed: u64,
    /// Generations completed (the next one to breed).
    pub generation: u64,
    /// The populations.
    pub islands: Vec<Vec<SavedIndividual>>,
    /// Counters.
    pub evaluations: u64,
    /// Cache hits so far.
    pub cache_hits: u64,
    /// Invalid offspring so far.
    pub invalid: u64,
    /// Failed offspring so far.
    pub failed: u64,
    /// The digest so far.
    pub digest: u64,
    /// Generations since the best improved.
    pub stagnation: u64,
    /// Whether the second phase (minimise cost) has begun.
    pub phase2: bool,
    /// The best so far.
    pub best: Option<SavedIndividual>,
}

/// What a generation produced beyond statistics, for the archive.
#[derive(Clone, Debug, Default)]
pub struct GenReport {
    /// New best-so-far individuals, as (text, individual).
    pub new_best: Vec<(String, Individual)>,
    /// Newly found correct programs (two-phase runs).
    pub new_correct: Vec<(String, Fitness)>,
    /// Functional-cache entries added this generation.
    pub new_cache: Vec<(u64, Fitness)>,
}

/// A run in progress.
pub struct Engine<'a> {
    task: &'a Task,
    evaluator: &'a dyn Evaluator,
    opts: RunOptions,
    islands: Vec<Vec<Individual>>,
    generation: u64,
    evaluations: u64,
    cache_hits: u64,
    invalid: u64,
    failed: u64,
    digest: Fnv64,
    stagnation: u64,
    phase2: bool,
    best: Option<Individual>,
    cache: BTreeMap<u64, Fitness>,
    correct_seen: std::collections::BTreeSet<u64>,
    stats: Option<GenStats>,
}

const CACHE_CAPACITY: usize = 1 << 20;

struct Evaluated {
    fitness: Fitness,
    cache_key: Option<u64>,
    hit: bool,
}

impl<'a> Engine<'a> {
    /// Builds generation 0: seeds and ramped half-and-half, evaluated.
    ///
    /// # Errors
    /// If a seed program does not fit the skeleton, or the evaluator fails.
    pub fn new(
        task: &'a Task,
        evaluator: &'a dyn Evaluator,
        opts: RunOptions,
    ) -> Result<Engine<'a>> {
        let mut seeds = Vec::new();
        for (path, text) in &task.seeds {
            let program = crucible_compiler::parse(text).map_err(|d| {
                Error::task(path.display(), d.render(&path.display().to_string(), text))
            })?;
            let genes = task.skeleton.genes_from(&program).map_err(|m| {
                Error::task(
                    path.display(),
                    format!("seed does not fit the skeleton: {m}"),
                )
            })?;
            seeds.push(genes);
        }
        let mut engine = Engine::empty(task, evaluator, opts);
        let pop = task.population();
        let n_seeded = if seeds.is_empty() {
            0
        } else {
            ((pop as f64 * task.file.search.seed_fraction.unwrap_or(0.1)).ceil() as usize)
                .clamp(seeds.len().min(pop), pop)
        };
        let bounds = engine.bounds();
        for island in 0..task.islands() {
            let genomes: Vec<Genome> = (0..pop)
                .into_par_iter()
                .map(|i| {
                    let mut rng = ChaCha8Rng::seed_from_u64(seed_of(&[
                        engine.opts.seed,
                        island as u64,
                        0,
                        i as u64,
                        1,
                    ]));
                    if i < n_seeded {
                        let s = &seeds[i % seeds.len()];
                        if i < seeds.len() {
                            return s.clone();
                        }
                        let op = Op::MUTATIONS[rng.random_range(0..Op::MUTATIONS.len())];
                        return gp::mutate(
                            &mut rng,
                            op,
                            s,
                            &task.prims,
                            task.skeleton.holes(),
                            bounds,
                        )
                        .unwrap_or_else(|| s.clone());
                    }
                    gp::ramped(
                        &mut rng,
                        i,
                        &task.prims,
                        task.skeleton.holes(),
                        task.init_depth(),
                    )
                })
                .collect();
            let (checked, genomes): (Vec<CheckedProgram>, Vec<Genome>) = genomes
                .into_iter()
                .map(|g| {
                    let c = crucible_compiler::check(&task.skeleton.fill(&g)).map_err(|d| {
                        Error::bug(format!(
                            "initial program does not check: {}",
                            d.0[0].message
                        ))
                    });
                    c.map(|c| (c, g))
                })
                .collect::<Result<Vec<_>>>()?
                .into_iter()
                .unzip();
            let fits = engine.evaluate(&checked, &genomes)?;
            let members = genomes
                .into_iter()
                .zip(fits)
                .enumerate()
                .map(|(i, (genome, fitness))| Individual {
                    id: ((island as u64) << 20) | i as u64,
                    genome,
                    fitness,
                    op: if i < n_seeded {
                        Op::Reproduction
                    } else {
                        Op::Init
                    },
                    parents: Vec::new(),
                })
                .collect();
            engine.islands.push(members);
        }
        Ok(engine)
    }

    fn empty(task: &'a Task, evaluator: &'a dyn Evaluator, opts: RunOptions) -> Engine<'a> {
        Engine {
            task,
            evaluator,
            opts,
            islands: Vec::new(),
            generation: 0,
            evaluations: 0,
            cache_hits: 0,
            invalid: 0,
            failed: 0,
            digest: Fnv64::new(),
            stagnation: 0,
            phase2: false,
            best: None,
            cache: BTreeMap::new(),
            correct_seen: Default::default(),
            stats: None,
        }
    }

    fn bounds(&self) -> Bounds {
        Bounds {
            max_size: self.task.max_size(),
            max_depth: self.task.max_depth(),
        }
    }

    /// The fitness order in force (it changes when a two-phase run finds a correct program).
    pub fn order(&self) -> Order {
        let f = &self.task.file.fitness;
        Order {
            objective: self.task.objective,
            cost_weight: f.cost_weight,
            parsimony: f.parsimony,
            phase2: self.phase2.then_some(f.correct),
        }
    }

    /// Evaluates checked candidates: probe run, cache lookup, cascade on misses.
    fn evaluate(&mut self, checked: &[CheckedProgram], genomes: &[Genome]) -> Result<Vec<Fitness>> {
        let task = self.task;
        let entry = task.skeleton.entry();
        let fuel = task.fuel();
        let n_probe = task
            .file
            .search
            .probe_cases
            .unwrap_or(8)
            .min(task.cases.len())
            .min(task.stages[0].0);
        let refs: Vec<&CheckedProgram> = checked.iter().collect();
        let probe_cases = task.cases.range(0, n_probe);
        let probes = self.evaluator.run(entry, &refs, &probe_cases, fuel)?;
        let sizes: Vec<u32> = genomes
            .iter()
            .map(|g| g.iter().map(|e| e.size() as u32).sum())
            .collect();
        let mut out: Vec<Option<Evaluated>> = Vec::with_capacity(checked.len());
        let mut first_with_key: BTreeMap<u64, usize> = BTreeMap::new();
        let mut todo = Vec::new();
        for (i, r) in probes.iter().enumerate() {
            if let Some(v) = &r.verdict {
                out.push(Some(Evaluated {
                    fitness: Fitness::failed(v.clone(), sizes[i], task.cases.len(), 0),
                    cache_key: None,
                    hit: false,
                }));
                continue;
            }
            let key = probe_key(r);
            if let Some(f) = self.cache.get(&key) {
                let mut fitness = f.clone();
                fitness.size = sizes[i];
                out.push(Some(Evaluated {
                    fitness,
                    cache_key: None,
                    hit: true,
                }));
            } else if let Some(&j) = first_with_key.get(&key) {
                out.push(None);
                todo.push((i, Some(j)));
            } else {
                first_with_key.insert(key, i);
                out.push(None);
                todo.push((i, None));
            }
        }
        // Cascade on the distinct misses.
        let fresh: Vec<usize> = todo
            .iter()
            .filter(|(_, dup)| dup.is_none())
            .map(|(i, _)| *i)
            .collect();
        let mut acc: Vec<Runs> = fresh.iter().map(|&i| probes[i].clone()).collect();
        let mut alive: Vec<usize> = (0..fresh.len()).collect();
        let mut reached = vec![0u32; fresh.len()];
        let mut have = n_probe;
        for (k, &(upto, threshold)) in task.stages.iter().enumerate() {
            if alive.is_empty() {
                break;
            }
            if upto > have {
                let cases = task.cases.range(have, upto);
                let batch: Vec<&CheckedProgram> =
                    alive.iter().map(|&a| &checked[fresh[a]]).collect();
                let runs = self.evaluator.run(entry, &batch, &cases, fuel)?;
                for (&a, r) in alive.iter().zip(runs) {
                    if acc[a].verdict.is_none() {
                        acc[a].outputs.extend(r.outputs);
                        acc[a].costs.extend(r.costs);
                        acc[a].verdict = r.verdict;
                    }
                }
            }
            have = upto;
            let mut next = Vec::new();
            for &a in &alive {
                reached[a] = k as u32 + 1;
                if acc[a].verdict.is_some() {
                    continue;
                }
                if k + 1 < task.stages.len() {
                    let f = fitness::score(task, &acc[a].outputs, &acc[a].costs, 0, k as u32 + 1);
                    let stage_err = f.error
                        - f64::from(task.stages.len() as u32 - k as u32 - 1)
                            * fitness::STAGE_PENALTY;
                    if stage_err <= threshold {
                        next.push(a);
                    }
                }
            }
            alive = next;
        }
        for (a, &i) in fresh.iter().enumerate() {
            let r = &acc[a];
            let fitness = match &r.verdict {
                Some(v) => Fitness::failed(v.clone(), sizes[i], task.cases.len(), reached[a]),
                None => fitness::score(task, &r.outputs, &r.costs, sizes[i], reached[a]),
            };
            out[i] = Some(Evaluated {
                fitness,
                cache_key: Some(probe_key(&probes[i])),
                hit: false,
            });
        }
        for &(i, dup) in &todo {
            if let Some(j) = dup {
                let mut fitness = out[j].as_ref().expect("evaluated above").fitness.clone();
                fitness.size = sizes[i];
                out[i] = Some(Evaluated {
                    fitness,
                    cache_key: None,
                    hit: true,
                });
            }
        }
        let mut res = Vec::with_capacity(out.len());
        for e in out {
            let e = e.expect("every candidate evaluated");
            self.evaluations += 1;
            if e.hit {
                self.cache_hits += 1;
            }
            if e.fitness.verdict.is_some() {
                self.failed += 1;
            }
            if let Some(key) = e.cache_key
                && self.cache.len() < CACHE_CAPACITY
            {
                self.cache.insert(key, e.fitness.clone());
            }
            res.push(e.fitness);
        }
        Ok(res)
    }

    /// Breeds, evaluates and replaces one generation on every island.
    ///
    /// # Errors
    /// If the evaluator's host side fails.
    pub fn step(&mut self) -> Result<(GenStats, GenReport)> {
        let cache_before: std::collections::BTreeSet<u64> = self.cache.keys().copied().collect();
        let gen_no = self.generation + 1;
        for island in 0..self.islands.len() {
            self.step_island(island, gen_no)?;
        }
        let interval = self
            .task
            .file
            .search
            .migration_interval
            .unwrap_or(10)
            .max(1);
        if self.islands.len() > 1 && gen_no.is_multiple_of(interval) {
            self.migrate();
        }
        self.generation = gen_no;
        let mut report = self.finish_generation();
        report.new_cache = self
            .cache
            .iter()
            .filter(|(k, _)| !cache_before.contains(k))
            .map(|(k, f)| (*k, f.clone()))
            .collect();
        Ok((
            self.stats.clone().expect("set by finish_generation"),
            report,
        ))
    }

    fn step_island(&mut self, island: usize, gen_no: u64) -> Result<()> {
        let task = self.task;
        let order = self.order();
        let pop = &self.islands[island];
        let fits: Vec<&Fitness> = pop.iter().map(|i| &i.fitness).collect();
        let selection =
            if task.selection == Selection::Lexicase && fits.iter().any(|f| f.cases.is_empty()) {
                Selection::Tournament
            } else {
                task.selection
            };
        let eps = if selection == Selection::Lexicase {
            select::lexicase_epsilons(&fits)
        } else {
            Vec::new()
        };
        let (rank, crowd) = if selection == Selection::Nsga2 {
            select::nsga2_rank(&fits)
        } else {
            (Vec::new(), Vec::new())
        };
        let k = task.file.search.tournament.unwrap_or(5);
        let pick = |rng: &mut ChaCha8Rng| -> usize {
            match selection {
                Selection::Tournament => select::tournament(rng, &fits, k, &order),
                Selection::Lexicase => select::lexicase(rng, &fits, &eps),
                Selection::Nsga2 => select::crowded_tournament(rng, &rank, &crowd),
            }
        };
        let bounds = self.bounds();
        let seed = self.opts.seed;
        let n = pop.len();
        let elitism = if task.objective == Objective::Pareto || selection == Selection::Nsga2 {
            0
        } else {
            task.file.search.elitism.unwrap_or(1).min(n)
        };
        let n_children = if selection == Selection::Nsga2 {
            n
        } else {
            n - elitism
        };
        let bred: Vec<Bred> = (0..n_children)
            .into_par_iter()
            .map(|i| {
                let mut rng =
                    ChaCha8Rng::seed_from_u64(seed_of(&[seed, island as u64, gen_no, i as u64]));
                let mut invalid = 0;
                for _ in 0..8 {
                    let p1 = pick(&mut rng);
                    let (child, op, parents) = if rng.random_bool(task.weights.crossover) {
                        let p2 = pick(&mut rng);
                        let c = gp::crossover(
                            &mut rng,
                            &pop[p1].genome,
                            &pop[p2].genome,
                            task.skeleton.holes(),
                            bounds,
                        );
                        (c, Op::Crossover, vec![p1, p2])
                    } else {
                        let w = &task.weights.mutation;
                        let total: f64 = w.iter().sum();
                        let mut r = rng.random::<f64>() * total;
                        let mut op = Op::Constant;
                        for (o, wt) in Op::MUTATIONS.iter().zip(w) {
                            if r < *wt {
                                op = *o;
                                break;
                            }
                            r -= wt;
                        }
                        let c = gp::mutate(
                            &mut rng,
                            op,
                            &pop[p1].genome,
                            &task.prims,
                            task.skeleton.holes(),
                            bounds,
                        );
                        (c, op, vec![p1])
                    };
                    let Some(child) = child else { continue };
                    match crucible_compiler::check(&task.skeleton.fill(&child)) {
                        Ok(c) => return (child, op, parents, Some(c), invalid),
                        Err(_) => invalid += 1,
                    }
                }
                let p = pick(&mut rng);
                (
                    pop[p].genome.clone(),
                    Op::Reproduction,
                    vec![p],
                    None,
                    invalid,
                )
            })
            .collect();
        self.invalid += bred.iter().map(|b| b.4).sum::<u64>();
        // Evaluate the new programs; reproductions keep their parent's fitness.
        let mut new_idx = Vec::new();
        let mut checked = Vec::new();
        let mut genomes = Vec::new();
        for (i, b) in bred.iter().enumerate() {
            if let Some(c) = &b.3 {
                new_idx.push(i);
                checked.push(c.clone());
                genomes.push(b.0.clone());
            }
        }
        let fits_new = self.evaluate(&checked, &genomes)?;
        let pop = &self.islands[island];
        let mut fit_of: Vec<Option<Fitness>> = vec![None; bred.len()];
        for (i, f) in new_idx.into_iter().zip(fits_new) {
            fit_of[i] = Some(f);
        }
        let children: Vec<Individual> = bred
            .into_iter()
            .zip(fit_of)
            .enumerate()
            .map(|(i, ((genome, op, parents, _, _), f))| {
                let fitness = f.unwrap_or_else(|| pop[parents[0]].fitness.clone());
                Individual {
                    id: (gen_no << 32) | ((island as u64) << 20) | i as u64,
                    genome,
                    fitness,
                    op,
                    parents: parents.iter().map(|&p| pop[p].id).collect(),
                }
            })
            .collect();
        let next: Vec<Individual> = if selection == Selection::Nsga2 {
            let all: Vec<Individual> = pop.iter().cloned().chain(children).collect();
            let refs: Vec<&Fitness> = all.iter().map(|i| &i.fitness).collect();
            let keep = select::nsga2_survivors(&refs, n);
            keep.into_iter().map(|k| all[k].clone()).collect()
        } else {
            let mut idx: Vec<usize> = (0..n).collect();
            idx.sort_by(|&a, &b| order.cmp(&pop[a].fitness, &pop[b].fitness).then(a.cmp(&b)));
            idx.iter()
                .take(elitism)
                .map(|&e| pop[e].clone())
                .chain(children)
                .collect()
        };
        self.islands[island] = next;
        Ok(())
    }

    fn migrate(&mut self) {
        let order = self.order();
        let m = self.task.file.search.migrants.unwrap_or(2);
        let n = self.islands.len();
        let bests: Vec<Vec<Individual>> = self
            .islands
            .iter()
            .map(|pop| {
                let mut idx: Vec<usize> = (0..pop.len()).collect();
                idx.sort_by(|&a, &b| order.cmp(&pop[a].fitness, &pop[b].fitness).then(a.cmp(&b)));
                idx.iter().take(m).map(|&i| pop[i].clone()).collect()
            })
            .collect();
        for (i, migrants) in bests.into_iter().enumerate() {
            let dest = &mut self.islands[(i + 1) % n];
            let mut idx: Vec<usize> = (0..dest.len()).collect();
            idx.sort_by(|&a, &b| {
                order
                    .cmp(&dest[b].fitness, &dest[a].fitness)
                    .then(a.cmp(&b))
            });
            for (slot, mig) in idx.into_iter().zip(migrants) {
                dest[slot] = mig;
            }
        }
    }

    /// Statistics, best-so-far, digest and phase after a generation (or after init).
    fn finish_generation(&mut self) -> GenReport {
        let mut report = GenReport::default();
        let order = self.order();
        let all: Vec<&Individual> = self.islands.iter().flatten().collect();
        let gen_best = all
            .iter()
            .copied()
            .min_by(|a, b| order.cmp(&a.fitness, &b.fitness).then(a.id.cmp(&b.id)))
            .expect("populations are not empty")
            .clone();
        let improved = match &self.best {
            None => true,
            Some(b) => order.cmp(&gen_best.fitness, &b.fitness) == std::cmp::Ordering::Less,
        };
        if improved {
            self.stagnation = 0;
            let text = self.text_of(&gen_best.genome);
            report.new_best.push((text, gen_best.clone()));
            self.best = Some(gen_best.clone());
        } else {
            self.stagnation += 1;
        }
        let f = &self.task.file.fitness;
        if f.two_phase {
            for ind in &all {
                if ind.fitness.error <= f.correct && ind.fitness.verdict.is_none() {
                    let text = self.text_of(&ind.genome);
                    let mut h = Fnv64::new();
                    h.write(text.as_bytes());
                    if self.correct_seen.len() < 100_000 && self.correct_seen.insert(h.finish()) {
                        report.new_correct.push((text, ind.fitness.clone()));
                    }
                }
            }
            if !self.phase2 && !report.new_correct.is_empty() {
                self.phase2 = true;
                // The order changed: the best so far is re-chosen under it.
                let order = self.order();
                let b = all
                    .iter()
                    .copied()
                    .min_by(|a, b| order.cmp(&a.fitness, &b.fitness).then(a.id.cmp(&b.id)))
                    .expect("populations are not empty")
                    .clone();
                self.best = Some(b);
            }
        }
        let best = self.best.clone().expect("set above");
        let ok: Vec<f64> = all
            .iter()
            .filter(|i| i.fitness.verdict.is_none())
            .map(|i| i.fitness.error)
            .collect();
        let mean_error = if ok.is_empty() {
            fitness::WORST
        } else {
            ok.iter().sum::<f64>() / ok.len() as f64
        };
        let mean_size =
            all.iter().map(|i| f64::from(i.fitness.size)).sum::<f64>() / all.len() as f64;
        let best_text = self.text_of(&best.genome);
        self.digest.write_u64(self.generation);
        self.digest.write(best_text.as_bytes());
        for v in [
            best.fitness.error,
            best.fitness.cost,
            mean_error.min(fitness::WORST),
            mean_size,
        ] {
            self.digest.write_u64(v.to_bits());
        }
        self.digest.write_u64(self.evaluations);
        self.digest.write_u64(self.invalid);
        self.stats = Some(GenStats {
            generation: self.generation,
            best_error: best.fitness.error,
            best_cost: best.fitness.cost,
            best_size: best.fitness.size,
            best_hits: best.fitness.hits,
            mean_error,
            mean_size,
            evaluations: self.evaluations,
            cache_hits: self.cache_hits,
            invalid: self.invalid,
            failed: self.failed,
            digest: self.digest.finish(),
        });
        report
    }

    /// Finishes generation 0 (call once after [`Engine::new`]).
    pub fn start(&mut self) -> (GenStats, GenReport) {
        let mut report = self.finish_generation();
        report.new_cache = self.cache.iter().map(|(k, f)| (*k, f.clone())).collect();
        (
            self.stats.clone().expect("set by finish_generation"),
            report,
        )
    }

    /// The canonical text of a genome's phenotype.
    pub fn text_of(&self, genome: &Genome) -> String {
        display_text(&self.task.skeleton.fill(genome))
    }

    /// Why the run should stop now, if it should.
    pub fn stop_reason(&self) -> Option<StopReason> {
        let stop = &self.task.file.stop;
        let best = self.best.as_ref()?;
        if let Some(t) = stop.target
            && best.fitness.error <= t
            && !(self.task.file.fitness.two_phase)
        {
            return Some(StopReason::Target);
        }
        let gens = self.opts.generations.or(stop.generations).unwrap_or(50);
        if self.generation >= gens {
            return Some(StopReason::Generations);
        }
        if stop.evaluations.is_some_and(|e| self.evaluations >= e) {
            return Some(StopReason::Evaluations);
        }
        if stop.stagnation.is_some_and(|s| self.stagnation >= s) {
            return Some(StopReason::Stagnation);
        }
        None
    }

    /// The best individual so far.
    pub fn best(&self) -> Option<&Individual> {
        self.best.as_ref()
    }

    /// The latest statistics.
    pub fn stats(&self) -> Option<&GenStats> {
        self.stats.as_ref()
    }

    /// Generations completed.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Takes an externally evaluated program (a proposer's, see
    /// [`crate::proposer`]) into the population: it replaces the worst
    /// individual of island `generation % islands`, keeps the id of the slot
    /// it takes, and enters as [`Op::Init`] with `parents`. Deterministic, so
    /// a replayed run adopts the same programs in the same places.
    /// Returns the new individual's id.
    pub fn adopt(&mut self, genome: Genome, fitness: Fitness, parents: Vec<u64>) -> u64 {
        let order = self.order();
        let island = (self.generation as usize) % self.islands.len();
        let members = &mut self.islands[island];
        let worst = (0..members.len())
            .max_by(|&a, &b| order.cmp(&members[a].fitness, &members[b].fitness))
            .expect("islands are never empty");
        let id = members[worst].id;
        members[worst] = Individual {
            id,
            genome,
            fitness,
            op: Op::Init,
            parents,
        };
        id
    }

    /// The current populations.
    pub fn islands(&self) -> &[Vec<Individual>] {
        &self.islands
    }

    /// The first Pareto front over (error, cost, size) of all islands.
    pub fn front(&self) -> Vec<&Individual> {
        let all: Vec<&Individual> = self.islands.iter().flatten().collect();
        let refs: Vec<&Fitness> = all.iter().map(|i| &i.fitness).collect();
        let (rank, _) = select::nsga2_rank(&refs);
        let mut seen = std::collections::BTreeSet::new();
        all.into_iter()
            .zip(rank)
            .filter(|(i, r)| {
                *r == 0 && i.fitness.verdict.is_none() && seen.insert(self.text_of(&i.genome))
            })
            .map(|(i, _)| i)
            .collect()
    }

    /// The whole state, for a checkpoint.
    pub fn snapshot(&self) -> Snapshot {
        let save = |i: &Individual| SavedIndividual {
            id: i.id,
            text: self.text_of(&i.genome),
            fitness: (&i.fitness).into(),
            op: i.op.name().to_string(),
            parents: i.parents.clone(),
        };
        Snapshot {
            seed: self.opts.seed,
            generation: self.generation,
            islands: self
                .islands
                .iter()
                .map(|p| p.iter().map(save).collect())
                .collect(),
            evaluations: self.evaluations,
            cache_hits: self.cache_hits,
            invalid: self.invalid,
            failed: self.failed,
            digest: self.digest.finish(),
            stagnation: self.stagnation,
            phase2: self.phase2,
            best: self.best.as_ref().map(save),
        }
    }

    /// Continues a run from a snapshot and its functional cache.
    ///
    /// # Errors
    /// If the snapshot's programs no longer fit the task.
    pub fn restore(
        task: &'a Task,
        evaluator: &'a dyn Evaluator,
        opts: RunOptions,
        snap: &Snapshot,
        cache: Vec<(u64, Fitness)>,
        correct_seen: Vec<String>,
    ) -> Result<Engine<'a>> {
        let load = |s: &SavedIndividual| -> Result<Individual> {
            let program = crucible_compiler::parse(&s.text).map_err(|_| {
                Error::archive(format!("checkpointed program {} does not parse", s.id))
            })?;
            let genome = task
                .skeleton
                .genes_from(&program)
                .map_err(|m| Error::archive(format!("checkpointed program {}: {m}", s.id)))?;
            let op = [
                Op::Subtree,
                Op::Insertion,
                Op::Reduction,
                Op::Deletion,
                Op::Point,
                Op::Constant,
                Op::Crossover,
                Op::Reproduction,
                Op::Init,
            ]
            .into_iter()
            .find(|o| o.name() == s.op)
            .unwrap_or(Op::Init);
            Ok(Individual {
                id: s.id,
                genome,
                fitness: (&s.fitness).into(),
                op,
                parents: s.parents.clone(),
            })
        };
        let mut engine = Engine::empty(task, evaluator, opts);
        engine.islands = snap
            .islands
            .iter()
            .map(|p| p.iter().map(load).collect::<Result<Vec<_>>>())
            .collect::<Result<_>>()?;
        engine.generation = snap.generation;
        engine.evaluations = snap.evaluations;
        engine.cache_hits = snap.cache_hits;
        engine.invalid = snap.invalid;
        engine.failed = snap.failed;
        engine.digest = Fnv64::from_state(snap.digest);
        engine.stagnation = snap.stagnation;
        engine.phase2 = snap.phase2;
        engine.best = snap.best.as_ref().map(load).transpose()?;
        engine.cache = cache.into_iter().collect();
        for text in correct_seen {
            let mut h = Fnv64::new();
            h.write(text.as_bytes());
            engine.correct_seen.insert(h.finish());
        }
        Ok(engine)
    }
}

fn probe_key(r: &Runs) -> u64 {
    let mut h = Fnv64::new();
    for v in &r.outputs {
        h.write_u64(v.to_bits());
        h.write(&[scalar_tag(*v)]);
    }
    for c in &r.costs {
        h.write_u64(*c);
    }
    h.finish()
}

fn scalar_tag(v: Value) -> u8 {
    v.ty() as u8
}

/// Seeds a rng for callers that need one derived from the run (tests, benches).
pub fn rng_for(parts: &[u64]) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed_of(parts))
}

/// Scores a whole program text (a baseline, say) exactly as candidates are
/// scored, on all cases without cascade or cache.
///
/// # Errors
/// If the text does not parse, check or fit the skeleton, or the evaluator fails.
pub fn score_text(task: &Task, evaluator: &dyn Evaluator, text: &str) -> Result<Fitness> {
    let program = crucible_compiler::parse(text)
        .map_err(|d| Error::task("program", d.render("program", text)))?;
    let genome = task
        .skeleton
        .genes_from(&program)
        .map_err(|m| Error::task("program", format!("does not fit the skeleton: {m}")))?;
    let checked = crucible_compiler::check(&task.skeleton.fill(&genome)).map_err(|d| {
        Error::bug(format!(
            "a fitted program does not check: {}",
            d.0[0].message
        ))
    })?;
    let size = genome.iter().map(|e| e.size() as u32).sum();
    let runs = evaluator.run(task.skeleton.entry(), &[&checked], &task.cases, task.fuel())?;
    let r = &runs[0];
    let n_stages = task.stages.len() as u32;
    Ok(match &r.verdict {
        Some(v) => Fitness::failed(v.clone(), size, task.cases.len(), n_stages),
        None => fitness::score(task, &r.outputs, &r.costs, size, n_stages),
    })
}

/// Runs `f` on a rayon pool of `threads` workers (results never depend on it).
///
/// # Errors
/// If the pool cannot be built.
pub fn with_threads<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> Result<R> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .build()
        .map_err(|e| {
            crate::error::ErrorKind::Evaluator(format!("building the thread pool: {e}"))
        })?;
    Ok(pool.install(f))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::archive::Archive;
    use crate::eval::InterpEvaluator;

    const TASK: &str = r#"
        name = "quartic-small"
        [program]
        signature = "fn f(x: f64) -> f64"
        [primitives]
        ops = ["+", "-", "*", "/"]
        constants = [{ type = "f64", lo = -1.0, hi = 1.0 }]
        [data]
        inputs = { kind = "uniform", lo = -1.0, hi = 1.0, n = 20, seed = 1 }
        target = "koza-quartic"
        [fitness]
        error = "abs"
        hit = 0.01
        stages = [{ cases = 8, threshold = 4.0 }]
        [search]
        population = 60
        islands = 2
        migration_interval = 2
        selection = "lexicase"
        [stop]
        generations = 6
    "#;

    fn task() -> Task {
        Task::from_text(Path::new("quartic-small.toml"), TASK).unwrap()
    }

    fn run(task: &Task, threads: usize, gens: u64) -> (u64, String) {
        with_threads(threads, || {
            let mut e = Engine::new(
                task,
                &InterpEvaluator,
                RunOptions {
                    seed: 42,
                    generations: Some(gens),
                },
            )
            .unwrap();
            e.start();
            while e.stop_reason().is_none() {
                e.step().unwrap();
            }
            (
                e.stats().unwrap().digest,
                e.text_of(&e.best().unwrap().genome),
            )
        })
        .unwrap()
    }

    #[test]
    fn same_seed_same_digest_with_one_and_two_threads() {
        let task = task();
        let one = run(&task, 1, 6);
        let two = run(&task, 2, 6);
        assert_eq!(one, two);
    }

    #[test]
    fn resumed_run_ends_like_an_uninterrupted_one() {
        let task = task();
        let whole = run(&task, 2, 6);
        // Run three generations, checkpointing each into the archive, then
        // resume from the archive as after a kill.
        let mut archive = Archive::in_memory().unwrap();
        let id = archive
            .create_run("quartic-small", "quartic-small.toml", TASK, 42, "0")
            .unwrap();
        with_threads(2, || {
            let mut e = Engine::new(
                &task,
                &InterpEvaluator,
                RunOptions {
                    seed: 42,
                    generations: Some(3),
                },
            )
            .unwrap();
            let (s, r) = e.start();
            archive
                .commit_generation(id, &s, &r, &[], &e.snapshot(), "")
                .unwrap();
            while e.stop_reason().is_none() {
                let (s, r) = e.step().unwrap();
                archive
                    .commit_generation(id, &s, &r, &[], &e.snapshot(), "")
                    .unwrap();
            }
        })
        .unwrap();
        let state = archive.resume_state(id).unwrap();
        assert_eq!(state.snapshot.generation, 3);
        let resumed = with_threads(1, || {
            let mut e = Engine::restore(
                &task,
                &InterpEvaluator,
                RunOptions {
                    seed: 42,
                    generations: Some(6),
                },
                &state.snapshot,
                state.cache.clone(),
                state.correct.clone(),
            )
            .unwrap();
            while e.stop_reason().is_none() {
                e.step().unwrap();
            }
            (
                e.stats().unwrap().digest,
                e.text_of(&e.best().unwrap().genome),
            )
        })
        .unwrap();
        assert_eq!(resumed, whole);
    }

    #[test]
    fn baselines_score_like_candidates() {
        let task = task();
        let exact = score_text(
            &task,
            &InterpEvaluator,
            "fn f(x: f64) -> f64 { return x * x * x * x + x * x * x + x * x + x; }",
        )
        .unwrap();
        assert_eq!(exact.hits, 20);
        assert!(exact.error < 1e-12);
        let bad = score_text(&task, &InterpEvaluator, "fn f(x: f64) -> f64 { return x; }").unwrap();
        assert!(bad.error > exact.error);
    }
}
