//! koza-quartic with population 1,000: whole-run candidates/s (variation,
//! selection, evaluation and archive), the time per stage, and the same
//! run's evaluation-only figures. Run with `cargo bench --bench evolve`.

use std::path::Path;
use std::time::{Duration, Instant};

use crucible_search::archive::Archive;
use crucible_search::engine::{Engine, RunOptions, with_threads};
use crucible_search::eval::{Evaluator, InterpEvaluator};
use crucible_search::task::Task;

fn main() {
    let threads: usize = std::env::var("THREADS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(1);
    bench("interp", &InterpEvaluator, threads);
    let sb = crucible_sandbox::Sandbox::new(&crucible_search::tier0::sandbox_config(threads))
        .expect("sandbox");
    match crucible_search::tier0::Tier0Evaluator::new(&sb, InterpEvaluator) {
        Ok(tier0) => bench("tier0", &tier0, threads),
        Err(e) => println!("tier0: not available ({e})"),
    }
}

fn bench(name: &str, evaluator: &dyn Evaluator, threads: usize) {
    let gens: u64 = 10;
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("search/tasks/koza-quartic.toml");
    let mut task = Task::load(&path).expect("shipped task loads");
    // Fixed work: no early stop on reaching the target.
    task.file.stop.target = None;
    let mut archive = Archive::in_memory().expect("in-memory archive");
    let run = archive
        .create_run("koza-quartic", "bench", &task.text, 1, "0")
        .expect("run row");
    let (mut t_step, mut t_archive, mut t_init) = (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    let (engine_evals, programs) = with_threads(threads, || {
        let t0 = Instant::now();
        let mut engine = Engine::new(
            &task,
            evaluator,
            RunOptions {
                seed: 1,
                generations: Some(gens),
            },
        )
        .expect("init");
        engine.start();
        t_init += t0.elapsed();
        while engine.stop_reason().is_none() {
            let t = Instant::now();
            let (stats, report) = engine.step().expect("step");
            t_step += t.elapsed();
            let t = Instant::now();
            let best = engine.text_of(&engine.best().expect("best").genome);
            archive
                .commit_generation(run, &stats, &report, &[], &engine.snapshot(), &best)
                .expect("commit");
            t_archive += t.elapsed();
        }
        let programs: Vec<_> = engine.islands()[0]
            .iter()
            .map(|i| {
                crucible_compiler::check(&task.skeleton.fill(&i.genome)).expect("population checks")
            })
            .collect();
        (engine.stats().expect("stats").evaluations, programs)
    })
    .expect("pool");
    let refs: Vec<_> = programs.iter().collect();
    let reps = 10;
    let t = Instant::now();
    with_threads(threads, || {
        for _ in 0..reps {
            evaluator
                .run(task.skeleton.entry(), &refs, &task.cases, task.fuel())
                .expect("eval");
        }
    })
    .expect("pool");
    let t_eval = t.elapsed();
    let bred = 1000 * gens;
    let total = t_init + t_step + t_archive;
    println!(
        "\nkoza-quartic, population 1000, {gens} generations, {threads} thread(s), evaluator {name}"
    );
    println!("{:<40} {:>12} {:>14}", "stage", "seconds", "candidates/s");
    println!(
        "{:<40} {:>12.3} {:>14.0}",
        "init (ramped half-and-half + eval)",
        t_init.as_secs_f64(),
        1000.0 / t_init.as_secs_f64()
    );
    println!(
        "{:<40} {:>12.3} {:>14.0}",
        "generations (breed + check + eval + select)",
        t_step.as_secs_f64(),
        bred as f64 / t_step.as_secs_f64()
    );
    println!(
        "{:<40} {:>12.3} {:>14.0}",
        "archive commits",
        t_archive.as_secs_f64(),
        bred as f64 / t_archive.as_secs_f64()
    );
    println!(
        "{:<40} {:>12.3} {:>14.0}",
        "whole run",
        total.as_secs_f64(),
        (bred + 1000) as f64 / total.as_secs_f64()
    );
    println!(
        "{:<40} {:>12.3} {:>14.0}",
        "evaluation only (20 cases, no cache)",
        t_eval.as_secs_f64(),
        (reps * refs.len()) as f64 / t_eval.as_secs_f64()
    );
    println!("fitness evaluations in the run: {engine_evals}");
}
