//! `crucible evolve`, `crucible runs`, `crucible show`: the CLI of the search
//! engine (crate `crucible-search`) and its SQLite archive.
//!
//! Only this module reads the clock: for the progress bar, the optional
//! wall-time limit and the run's creation time. None of it enters fitness.
//! The proposer (`--proposer`) waits on the clock too, for its timeout; what
//! it answered is archived, so `--replay` reruns the same search without it.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use crucible_search::archive::Archive;
use crucible_search::database::Database;
use crucible_search::engine::{self, Engine, RunOptions};
use crucible_search::eval::{self, Evaluator, InterpEvaluator};
use crucible_search::native::NativeEvaluator;
use crucible_search::proposer::{Outcome, ProposerConfig, Record, Session, Tally};
use crucible_search::task::Task;
use crucible_search::tier0::{self, Tier0Evaluator};
use crucible_search::tier1::{self, CostModel, Tier1Evaluator, TieredEvaluator};

/// Arguments of `crucible evolve`.
#[derive(clap::Args)]
pub struct EvolveArgs {
    /// The task file (TOML).
    #[arg(required_unless_present_any = ["resume", "replay"])]
    task: Option<PathBuf>,
    /// The run seed: a run is a function of (task, seed).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Worker threads (default: one per core); results do not depend on it.
    #[arg(long)]
    threads: Option<usize>,
    /// Overrides the task's generation limit.
    #[arg(long)]
    generations: Option<u64>,
    /// Stops after this many seconds of wall time (never affects fitness).
    #[arg(long)]
    max_seconds: Option<f64>,
    /// The archive (default: `$CRUCIBLE_DB`, else `crucible.db`).
    #[arg(long)]
    db: Option<PathBuf>,
    /// Continues an interrupted run from its last checkpoint.
    #[arg(long, value_name = "RUN")]
    resume: Option<i64>,
    /// Prints one JSON object instead of the text summary.
    #[arg(long)]
    json: bool,
    /// Skips confirming best programs in the Wasm sandbox.
    #[arg(long)]
    no_confirm: bool,
    /// The evaluation tier of the inner loop; the results are the same.
    #[arg(long, value_enum, default_value = "tier0")]
    tier: EvalTier,
    /// An external program proposing candidates (JSON Lines on stdin and
    /// stdout; see search/src/proposer.rs), run with `sh -c`.
    /// Not with `--resume`: a proposer session is not part of the checkpoint.
    #[arg(long, value_name = "CMD", conflicts_with_all = ["replay", "resume"])]
    proposer: Option<String>,
    /// Generations between proposer requests; each answer is taken this many
    /// generations after its request, so GP runs while the proposer thinks.
    #[arg(long, value_name = "N", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    proposer_every: u64,
    /// Seconds to wait for an answer once it is due (wall clock, outside fitness).
    #[arg(long, value_name = "SECS", default_value_t = 60.0)]
    proposer_timeout: f64,
    /// Reruns run RUN as a new run, answering its proposer's rounds from the
    /// archive instead of a process: same task, seed and generations, same result.
    #[arg(long, value_name = "RUN", conflicts_with_all = ["resume", "task", "seed"])]
    replay: Option<i64>,
}

/// Programs asked for per request.
const PROGRAMS_PER_REQUEST: usize = 4;

/// Parents (distinct texts, best first) shown per request: sampled from the
/// MAP-Elites database (search/src/database.rs), else the best of island 0.
const PARENTS_PER_REQUEST: usize = 3;

/// A request in flight: its round, the generation its answer is due and the parents it showed.
struct InFlight {
    round: u64,
    due: u64,
    parents: Vec<u64>,
}

/// The proposer side of a run: a [`Session`] on a schedule.
///
/// After generation `g` with `g % every == 0` a request goes out; its answer
/// is screened and adopted after generation `g + every`, whenever it actually
/// arrived, so what the population sees depends only on what was answered,
/// never on timing. Only one request is in flight at a time.
struct Proposing {
    session: Session,
    every: u64,
    in_flight: Option<InFlight>,
    /// Where parents come from: each generation's new bests and the adopted proposals.
    database: Database,
    /// The run's seed, for sampling parents.
    seed: u64,
}

impl Proposing {
    /// Runs the schedule after the generation just finished: screens the answer
    /// due now and adopts what was evaluated, then sends the next request if
    /// one is due. Returns the proposals screened, for the archive.
    fn tick(
        &mut self,
        engine: &mut Engine<'_>,
        task: &Task,
        evaluator: &dyn Evaluator,
        report: &engine::GenReport,
    ) -> anyhow::Result<Vec<Record>> {
        let generation = engine.generation();
        let order = engine.order();
        for (text, i) in &report.new_best {
            self.database
                .insert(task, i.id, text, order.scalar(&i.fitness));
        }
        let mut screened = Vec::new();
        if let Some(flight) = self.in_flight.take_if(|f| f.due <= generation) {
            let before = self.session.records().len();
            for p in self.session.receive(task, evaluator, flight.round)? {
                if let Outcome::Evaluated {
                    genome, fitness, ..
                } = p.outcome
                {
                    let text = engine.text_of(&genome);
                    let scalar = order.scalar(&fitness);
                    let id = engine.adopt(genome, fitness, flight.parents.clone());
                    self.database.insert(task, id, &text, scalar);
                    self.session.adopted(1);
                }
            }
            screened = self.session.records()[before..].to_vec();
        }
        if self.in_flight.is_none()
            && generation.is_multiple_of(self.every)
            && self.session.is_active()
        {
            let mut parents: Vec<(u64, String)> = self
                .database
                .sample(PARENTS_PER_REQUEST, self.seed, generation)
                .into_iter()
                .map(|e| (e.id, e.text.clone()))
                .collect();
            if parents.is_empty() {
                parents = top_parents(engine, PARENTS_PER_REQUEST);
            }
            let request = self.session.request(task, &parents);
            if self.session.send(&request) {
                self.in_flight = Some(InFlight {
                    round: request.round,
                    due: generation + self.every,
                    parents: parents.iter().map(|(id, _)| *id).collect(),
                });
            }
        }
        Ok(screened)
    }
}

/// The best individuals of island 0 with distinct texts, best first.
fn top_parents(engine: &Engine<'_>, k: usize) -> Vec<(u64, String)> {
    let order = engine.order();
    let mut members: Vec<&engine::Individual> = engine.islands()[0].iter().collect();
    members.sort_by(|a, b| order.cmp(&a.fitness, &b.fitness));
    let mut out: Vec<(u64, String)> = Vec::new();
    for i in members {
        if out.len() == k {
            break;
        }
        let text = engine.text_of(&i.genome);
        if out.iter().all(|(_, t)| *t != text) {
            out.push((i.id, text));
        }
    }
    out
}

fn tally_line(t: &Tally) -> String {
    format!(
        "proposals: {} in {} rounds ({} failed): {} invalid, {} misfit, {} duplicate-text, \
         {} duplicate-behaviour, {} evaluated, {} adopted",
        t.proposed,
        t.rounds,
        t.failed_rounds,
        t.invalid,
        t.misfit,
        t.duplicate_text,
        t.duplicate_behaviour,
        t.evaluated,
        t.adopted
    )
}

/// Which evaluator runs the inner loop.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EvalTier {
    /// The evaluator guest in the sandbox for straight-line candidates, the
    /// interpreter for the rest.
    Tier0,
    /// The reference interpreter only.
    Interp,
}

/// Arguments of `crucible runs`.
#[derive(clap::Args)]
pub struct RunsArgs {
    /// The archive (default: `$CRUCIBLE_DB`, else `crucible.db`).
    #[arg(long)]
    db: Option<PathBuf>,
    /// Prints JSON.
    #[arg(long)]
    json: bool,
}

/// Arguments of `crucible show`.
#[derive(clap::Args)]
pub struct ShowArgs {
    /// The run id.
    run: i64,
    /// Prints only the best program's text.
    #[arg(long)]
    best: bool,
    /// The archive (default: `$CRUCIBLE_DB`, else `crucible.db`).
    #[arg(long)]
    db: Option<PathBuf>,
}

fn db_path(db: &Option<PathBuf>) -> PathBuf {
    db.clone()
        .or_else(|| std::env::var_os("CRUCIBLE_DB").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("crucible.db"))
}

fn confirm_text(sandbox: Option<&Tier1Evaluator>, task: &Task, text: &str) -> String {
    let Some(sandbox) = sandbox else {
        return "unconfirmed: sandbox unavailable".into();
    };
    match crucible_compiler::compile_text(text) {
        Ok(checked) => eval::confirm(
            sandbox,
            &checked,
            task.skeleton.entry(),
            &task.cases,
            task.fuel(),
        )
        .describe(),
        Err(_) => "unconfirmed: does not check".into(),
    }
}

pub fn evolve(args: EvolveArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let mut archive = {
        let db = db_path(&args.db);
        Archive::open(&db).with_context(|| format!("opening archive {}", db.display()))?
    };
    let mut replay_of: Option<(i64, u64)> = None;
    let (task, run, resume) = match (args.resume, args.replay) {
        (Some(run), _) => {
            let state = archive.resume_state(run)?;
            let task = Task::from_text(std::path::Path::new(&state.task_path), &state.task_text)
                .with_context(|| format!("reloading the task of run {run}"))?;
            archive.truncate_after(run, state.snapshot.generation)?;
            if archive.proposer(run)?.is_some() {
                // FIXME: restore the session (round, dedup sets, the round in
                // flight) with the checkpoint; until then the proposals made
                // before the interruption stay and `--replay` reproduces this.
                eprintln!(
                    "warning: run {run} had a proposer; it resumes on GP alone, \
                     so it will differ from an uninterrupted run"
                );
            }
            (task, run, Some(state))
        }
        (None, Some(original)) => {
            let (task_path, task_text) = archive.task_of(original)?;
            let task = Task::from_text(std::path::Path::new(&task_path), &task_text)
                .with_context(|| format!("reloading the task of run {original}"))?;
            let row = archive.run(original)?;
            let created = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            let run = archive.create_run(
                &task.file.name,
                &task_path,
                &task.text,
                row.seed,
                &created.to_string(),
            )?;
            replay_of = Some((original, row.seed));
            (task, run, None)
        }
        (None, None) => {
            let path = args
                .task
                .clone()
                .expect("clap requires a task without --resume");
            let task =
                Task::load(&path).with_context(|| format!("loading task {}", path.display()))?;
            let created = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            let run = archive.create_run(
                &task.file.name,
                &path.display().to_string(),
                &task.text,
                args.seed,
                &created.to_string(),
            )?;
            (task, run, None)
        }
    };
    let seed = match (&resume, replay_of) {
        (Some(state), _) => state.snapshot.seed,
        (None, Some((_, seed))) => seed,
        (None, None) => args.seed,
    };
    // A replay stops where the original did: at its last generation at the latest.
    let generations = match replay_of {
        Some((original, _)) => args
            .generations
            .or(Some(archive.run(original)?.generations)),
        None => args.generations,
    };
    let mut proposing = match (&args.proposer, replay_of) {
        (Some(command), _) => {
            let config = ProposerConfig {
                command: command.clone(),
                timeout: Duration::from_secs_f64(args.proposer_timeout.max(0.0)),
                programs_per_request: PROGRAMS_PER_REQUEST,
            };
            archive.record_proposer(run, command, args.proposer_every)?;
            Some(Proposing {
                session: Session::start(&config),
                every: args.proposer_every,
                in_flight: None,
                database: Database::default(),
                seed,
            })
        }
        (None, Some((original, _))) => match archive.proposer(original)? {
            Some(row) => {
                let config = ProposerConfig {
                    command: format!("replay of run {original}"),
                    timeout: Duration::ZERO,
                    programs_per_request: PROGRAMS_PER_REQUEST,
                };
                let records: Vec<Record> = archive
                    .proposals(original)?
                    .into_iter()
                    .map(|p| p.record)
                    .collect();
                archive.record_proposer(run, &config.command, row.every)?;
                Some(Proposing {
                    session: Session::replay(&config, &records),
                    every: row.every,
                    in_flight: None,
                    database: Database::default(),
                    seed,
                })
            }
            None => None,
        },
        (None, None) => None,
    };
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    // Confirmation compiles with Cranelift (the strategy for untrusted code),
    // with the engine's NaN canonicalisation on: the highest-fidelity tier.
    let sandbox = if args.no_confirm {
        None
    } else {
        let mut config =
            crucible_sandbox::SandboxConfig::new(crucible_sandbox::Strategy::Cranelift);
        config.threads = 1;
        crucible_sandbox::Sandbox::new(&config)
            .ok()
            .map(Tier1Evaluator::new)
    };
    let opts = RunOptions { seed, generations };
    let tier0 = match args.tier {
        EvalTier::Tier0 => {
            let model = load_cost_model(&args.db);
            let made = crucible_sandbox::Sandbox::new(&tier0::sandbox_config(threads))
                .and_then(|sb0| {
                    let sb1 =
                        crucible_sandbox::Sandbox::new(&Tier1Evaluator::sandbox_config(threads))?;
                    Ok((sb0, sb1))
                })
                .map_err(|e| e.to_string())
                .and_then(|(sb0, sb1)| {
                    let fallback = TieredEvaluator::new(Tier1Evaluator::new(sb1), model);
                    Tier0Evaluator::new(&sb0, fallback).map_err(|e| e.to_string())
                });
            match made {
                Ok(t) => Some(t),
                Err(why) => {
                    eprintln!("warning: tier 0 unavailable, evaluating in the interpreter: {why}");
                    None
                }
            }
        }
        EvalTier::Interp => None,
    };
    let evaluator: &dyn Evaluator = match &tier0 {
        Some(t) => t,
        None => &InterpEvaluator,
    };
    let gens = generations.or(task.file.stop.generations).unwrap_or(50);
    let bar = if std::io::stderr().is_terminal() && !args.json {
        indicatif::ProgressBar::new(gens)
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:30} gen {pos}/{len} {msg} [{elapsed} < {eta}]",
        )
        .expect("valid template"),
    );
    let res: anyhow::Result<(Engine<'_>, &'static str)> = engine::with_threads(threads, || {
        let mut engine = match &resume {
            Some(state) => Engine::restore(
                &task,
                evaluator,
                opts,
                &state.snapshot,
                state.cache.clone(),
                state.correct.clone(),
            )?,
            None => {
                let mut engine = Engine::new(&task, evaluator, opts)?;
                let (stats, report) = engine.start();
                let confirmations: Vec<String> = report
                    .new_best
                    .iter()
                    .map(|(t, _)| confirm_text(sandbox.as_ref(), &task, t))
                    .collect();
                if let Some(p) = &mut proposing {
                    let records = p.tick(&mut engine, &task, evaluator, &report)?;
                    archive.stage_proposals(run, engine.generation(), &records);
                    for line in p.session.take_log() {
                        bar.suspend(|| eprintln!("{line}"));
                    }
                }
                let best = engine.text_of(&engine.best().expect("after start").genome);
                archive.commit_generation(
                    run,
                    &stats,
                    &report,
                    &confirmations,
                    &engine.snapshot(),
                    &best,
                )?;
                engine
            }
        };
        bar.set_position(engine.generation());
        let mut last = Instant::now();
        let mut last_evals = engine.stats().map_or(0, |s| s.evaluations);
        let reason = loop {
            if let Some(r) = engine.stop_reason() {
                break r.name();
            }
            if args
                .max_seconds
                .is_some_and(|s| started.elapsed() >= Duration::from_secs_f64(s))
            {
                break "wall-time";
            }
            let (stats, report) = engine.step()?;
            if let Some(p) = &mut proposing {
                let records = p.tick(&mut engine, &task, evaluator, &report)?;
                archive.stage_proposals(run, engine.generation(), &records);
                for line in p.session.take_log() {
                    bar.suspend(|| eprintln!("{line}"));
                }
            }
            let confirmations: Vec<String> = report
                .new_best
                .iter()
                .map(|(t, _)| confirm_text(sandbox.as_ref(), &task, t))
                .collect();
            let best = engine.text_of(&engine.best().expect("after start").genome);
            archive.commit_generation(
                run,
                &stats,
                &report,
                &confirmations,
                &engine.snapshot(),
                &best,
            )?;
            let dt = last.elapsed().as_secs_f64().max(1e-9);
            let rate = (stats.evaluations - last_evals) as f64 / dt;
            last = Instant::now();
            last_evals = stats.evaluations;
            bar.set_position(stats.generation);
            bar.set_message(format!(
                "best {:.6e} hits {} | {:.0} evals/s | cache {:.1}%",
                stats.best_error,
                stats.best_hits,
                rate,
                100.0 * stats.cache_hits as f64 / stats.evaluations.max(1) as f64
            ));
        };
        Ok((engine, reason))
    })?;
    let (engine, reason) = res?;
    bar.finish_and_clear();
    let best = engine.best().expect("a started run has a best");
    let best_text = engine.text_of(&best.genome);
    let front: Vec<(String, crucible_search::fitness::Fitness, String)> = engine
        .front()
        .into_iter()
        .take(32)
        .map(|i| {
            let t = engine.text_of(&i.genome);
            let c = confirm_text(sandbox.as_ref(), &task, &t);
            (t, i.fitness.clone(), c)
        })
        .collect();
    archive.finish_run(run, engine.generation(), reason, &front)?;
    let confirmation = confirm_text(sandbox.as_ref(), &task, &best_text);
    // Saved beside the archive, so a run with `--db elsewhere` leaves the working directory alone.
    let db_file = db_path(&args.db);
    let out_dir = db_file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(PathBuf::from)
        .unwrap_or_default();
    let out_path = out_dir.join(format!("{}-run{run}.cru", task.file.name));
    std::fs::write(&out_path, &best_text)
        .with_context(|| format!("saving {}", out_path.display()))?;
    let stats = engine
        .stats()
        .expect("a started run has statistics")
        .clone();
    // Tiering rule: the final scoring of our own checked programs (the best
    // and the shipped baselines) runs natively where it can; results are the
    // same in every tier. Foreign code never takes this path.
    let final_eval = NativeEvaluator::new(evaluator);
    let mut baselines = Vec::new();
    for (path, text) in &task.baselines {
        let f = engine::score_text(&task, &final_eval, text)
            .with_context(|| format!("scoring baseline {}", path.display()))?;
        baselines.push((path.display().to_string(), f));
    }
    let validation = validate(&task, &final_eval, &best_text)?;
    let tally = proposing.as_ref().map(|p| p.session.tally());
    // Stop the proposer before the summary: a process that hangs must not outlive the run.
    drop(proposing);
    let seconds = started.elapsed().as_secs_f64();
    let digest = format!("{:016x}", stats.digest);
    if args.json {
        let obj = serde_json::json!({
            "run": run,
            "seed": seed,
            "task": task.file.name,
            "best": best_text,
            "fitness": best.fitness,
            "scalar": engine.order().scalar(&best.fitness),
            "evaluations": stats.evaluations,
            "cache_hits": stats.cache_hits,
            "generations": engine.generation(),
            "stop_reason": reason,
            "digest": digest,
            "tier": evaluator.name(),
            "tier0_candidates": tier0.as_ref().map_or(0, |t| t.stats().tier0),
            "confirmation": confirmation,
            "saved": out_path.display().to_string(),
            "seconds": seconds,
            "proposals": tally,
            "replay_of": replay_of.map(|(r, _)| r),
            "baselines": baselines.iter().map(|(p, f)| serde_json::json!({"path": p, "fitness": f, "scalar": engine.order().scalar(f)})).collect::<Vec<_>>(),
            "validation": validation,
        });
        println!("{obj}");
    } else {
        println!(
            "run {run} of {} (seed {seed}) stopped by {reason} after {} generations, {:.1} s",
            task.file.name,
            engine.generation(),
            seconds
        );
        println!(
            "best: error {:.6e}, hits {}/{}, cost {:.1}, size {}, {}",
            best.fitness.error,
            best.fitness.hits,
            task.cases.len(),
            best.fitness.cost,
            best.fitness.size,
            confirmation
        );
        println!(
            "evaluations {} (cache hits {:.1}%), invalid offspring {}, failed {}",
            stats.evaluations,
            100.0 * stats.cache_hits as f64 / stats.evaluations.max(1) as f64,
            stats.invalid,
            stats.failed
        );
        for (p, f) in &baselines {
            println!(
                "baseline {p}: error {:.6e}, cost {:.1}, scalar {:.6}",
                f.error,
                f.cost,
                engine.order().scalar(f)
            );
        }
        if let Some(v) = &validation {
            for (name, score) in v["programs"].as_object().into_iter().flatten() {
                println!(
                    "held-out {name}: error {:.6e} (training {:.6e}), hits {}",
                    score["held_out"]["error"].as_f64().unwrap_or(f64::NAN),
                    score["training"]["error"].as_f64().unwrap_or(f64::NAN),
                    score["held_out"]["hits"]
                );
            }
        }
        if let Some(t) = &tally {
            println!("{}", tally_line(t));
        }
        println!("digest {digest}; saved to {}", out_path.display());
        println!("{best_text}");
    }
    Ok(ExitCode::SUCCESS)
}

/// Scores the best program and the baselines on the task's held-out
/// validation cases, next to their training figures; `None` if the task has
/// no validation cases. For the hash error, the error is split into the
/// collision ratio and the avalanche bias.
fn validate(
    task: &Task,
    evaluator: &dyn Evaluator,
    best_text: &str,
) -> anyhow::Result<Option<serde_json::Value>> {
    let Some(held) = task.held_out() else {
        return Ok(None);
    };
    let brief = |t: &Task, text: &str| -> anyhow::Result<serde_json::Value> {
        let f = engine::score_text(t, evaluator, text)?;
        let mut v = serde_json::json!({
            "error": f.error,
            "cost": f.cost,
            "hits": f.hits,
            "cases": t.cases.len(),
        });
        if let Some(h) = &t.hash {
            // A key set's collision ratio is the error of a task holding that
            // set alone, with no avalanche weight.
            let mut per_set = serde_json::Map::new();
            let mut at = 0;
            let avalanche = h.set_sizes.iter().sum::<usize>()..t.cases.len();
            for (j, &n) in h.set_sizes.iter().enumerate() {
                let mut one = t.clone();
                let rows = (at..at + n).chain(avalanche.clone());
                one.cases.args = rows.clone().map(|i| t.cases.args[i].clone()).collect();
                one.cases.id = t.cases.id ^ (j as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                one.stages = vec![(one.cases.len(), f64::INFINITY)];
                one.hash = Some(crucible_search::task::HashParams {
                    set_sizes: vec![n],
                    avalanche_weight: 0.0,
                    ..h.clone()
                });
                let ratio = engine::score_text(&one, evaluator, text)?.error;
                let name = t.file.data.inputs.sets.get(j).cloned().unwrap_or_default();
                per_set.insert(format!("{j}:{name}"), ratio.into());
                at += n;
            }
            let ratios = per_set.values().filter_map(|r| r.as_f64());
            let ratio = if h.worst_set {
                ratios.fold(0.0, f64::max)
            } else {
                ratios.sum::<f64>() / per_set.len().max(1) as f64
            };
            v["collision_ratio"] = ratio.into();
            v["collision_ratio_per_set"] = per_set.into();
            v["avalanche_bias"] = ((f.error - ratio) / h.avalanche_weight.max(1e-300)).into();
        }
        Ok(v)
    };
    let mut programs = serde_json::Map::new();
    let named = std::iter::once(("best".to_string(), best_text)).chain(
        task.baselines
            .iter()
            .map(|(p, text)| (p.display().to_string(), text.as_str())),
    );
    for (name, text) in named {
        let score = serde_json::json!({
            "training": brief(task, text).with_context(|| format!("scoring {name}"))?,
            "held_out": brief(&held, text).with_context(|| format!("scoring {name} on held-out cases"))?,
        });
        programs.insert(name, score);
    }
    let inputs = &task.file.data.inputs;
    Ok(Some(serde_json::json!({
        "seed": inputs.validation_seed.unwrap_or(inputs.seed.wrapping_add(1)),
        "programs": programs,
    })))
}

pub fn runs(args: RunsArgs) -> anyhow::Result<ExitCode> {
    let archive = {
        let db = db_path(&args.db);
        Archive::open(&db).with_context(|| format!("opening archive {}", db.display()))?
    };
    let runs = archive.runs()?;
    if args.json {
        println!("{}", serde_json::to_string(&runs)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:>5}  {:<14} {:>6} {:>8} {:>5} {:>10} {:>13}  {:<16}",
        "run", "task", "seed", "status", "gens", "evals", "best error", "digest"
    );
    for r in runs {
        println!(
            "{:>5}  {:<14} {:>6} {:>8} {:>5} {:>10} {:>13}  {:<16}",
            r.id,
            r.task,
            r.seed,
            r.status,
            r.generations,
            r.evaluations,
            r.best_error.map_or("-".into(), |e| format!("{e:.6e}")),
            r.digest.unwrap_or_default()
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn show(args: ShowArgs) -> anyhow::Result<ExitCode> {
    let archive = {
        let db = db_path(&args.db);
        Archive::open(&db).with_context(|| format!("opening archive {}", db.display()))?
    };
    if args.best {
        println!("{}", archive.best_text(args.run)?);
        return Ok(ExitCode::SUCCESS);
    }
    let r = archive.run(args.run)?;
    println!(
        "run {} of {} ({}), seed {}, {} ({}), {} generations, {} evaluations, digest {}",
        r.id,
        r.task,
        r.task_path,
        r.seed,
        r.status,
        r.stop_reason.as_deref().unwrap_or("-"),
        r.generations,
        r.evaluations,
        r.digest.as_deref().unwrap_or("-")
    );
    println!(
        "\nbest-so-far programs (generation, error, cost, size, operator, parents, confirmation):"
    );
    for p in archive.programs(args.run, "best")? {
        println!(
            "  gen {:>4}  {:.6e}  {:>8.1}  {:>3}  {:<12} {:?}  {}",
            p.generation,
            p.fitness.error,
            p.fitness.cost,
            p.fitness.size,
            p.op,
            p.parents,
            p.confirmation.as_deref().unwrap_or("-")
        );
    }
    let front = archive.programs(args.run, "front")?;
    if !front.is_empty() {
        println!("\nPareto front (error, cost, size):");
        for p in &front {
            println!(
                "  {:.6e}  {:>8.1}  {:>3}  {}",
                p.fitness.error,
                p.fitness.cost,
                p.fitness.size,
                p.text.replace('\n', " ")
            );
        }
    }
    println!(
        "\nstatistics (generation, best error, mean error, mean size, evaluations, cache hits):"
    );
    for s in archive.generations(args.run)? {
        println!(
            "  {:>4}  {:.6e}  {:.6e}  {:>6.1}  {:>9}  {:>9}",
            s.generation, s.best_error, s.mean_error, s.mean_size, s.evaluations, s.cache_hits
        );
    }
    if let Some(p) = archive.proposer(args.run)? {
        let proposals = archive.proposals(args.run)?;
        let mut counts = std::collections::BTreeMap::<&str, usize>::new();
        for row in &proposals {
            *counts.entry(row.record.outcome.as_str()).or_default() += 1;
        }
        let counts: Vec<String> = counts.iter().map(|(k, v)| format!("{v} {k}")).collect();
        println!(
            "\nproposer `{}` every {} generations: {} proposals{}{}",
            p.command,
            p.every,
            proposals.len(),
            if counts.is_empty() { "" } else { ": " },
            counts.join(", ")
        );
        for row in &proposals {
            let r = &row.record;
            let what = match (&r.detail, r.error) {
                (_, Some(e)) => format!("error {e:.6e}"),
                (Some(d), None) => d.lines().next().unwrap_or("").to_string(),
                (None, None) => String::new(),
            };
            println!(
                "  gen {:>4}  round {:>3}-{:<2} {:<19} {}",
                row.generation, r.round, r.index, r.outcome, what
            );
        }
    }
    if let Ok(best) = archive.best_text(args.run) {
        println!("\nbest program:\n{best}");
    }
    Ok(ExitCode::SUCCESS)
}

/// Where the cost model's calibration lives: `$CRUCIBLE_CALIBRATION`, else
/// `crucible-calibration.toml` beside the archive.
fn calibration_path(db: &Option<PathBuf>) -> PathBuf {
    if let Some(p) = std::env::var_os("CRUCIBLE_CALIBRATION") {
        return PathBuf::from(p);
    }
    let db = db_path(db);
    db.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(PathBuf::from)
        .unwrap_or_default()
        .join("crucible-calibration.toml")
}

/// The calibrated cost model, or the defaults from shared/MEASUREMENTS.md.
/// Which tier runs a candidate never changes its result, only the time.
fn load_cost_model(db: &Option<PathBuf>) -> CostModel {
    let path = calibration_path(db);
    if !path.exists() {
        return CostModel::default();
    }
    match CostModel::load(&path) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("warning: ignoring the calibration ({e}); using the defaults");
            CostModel::default()
        }
    }
}

/// Arguments of `crucible calibrate`.
#[derive(clap::Args)]
pub struct CalibrateArgs {
    /// Where to write the calibration (default: `$CRUCIBLE_CALIBRATION`, else
    /// `crucible-calibration.toml` beside the archive).
    #[arg(long)]
    out: Option<PathBuf>,
    /// The archive whose directory holds the default calibration file.
    #[arg(long)]
    db: Option<PathBuf>,
    /// Random programs to time.
    #[arg(long, default_value_t = 200)]
    programs: usize,
    /// Cases per program.
    #[arg(long, default_value_t = 200)]
    cases: usize,
}

pub fn calibrate(args: CalibrateArgs) -> anyhow::Result<ExitCode> {
    let sb = crucible_sandbox::Sandbox::new(&Tier1Evaluator::sandbox_config(1))
        .context("starting the sandbox")?;
    let model =
        tier1::calibrate(sb, args.programs.max(1), args.cases.max(2)).context("calibrating")?;
    let out = args.out.unwrap_or_else(|| calibration_path(&args.db));
    let text = format!(
        "# Cost-model constants measured by `crucible calibrate` (nanoseconds).\n\
         # They only choose between tiers that give identical results.\n{}",
        model.to_toml()
    );
    std::fs::write(&out, text).with_context(|| format!("writing {}", out.display()))?;
    println!("{}", model.to_toml().trim_end());
    println!("written to {}", out.display());
    Ok(ExitCode::SUCCESS)
}
