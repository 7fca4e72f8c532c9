//! The proposer protocol: candidate programs written by an external program
//! (a script calling a language model, a local model, a human), screened,
//! deduplicated and evaluated before they may join the population.
//!
//! # The wire format
//! JSON Lines over the proposer's stdin and stdout; the proposer is started
//! once, with `sh -c CMD`, and answers each request with one line.
//! A [`Request`] carries the task (name, description, signature or skeleton,
//! entry), the candidate language's reference (`compiler/LANGUAGE.md`), `k`
//! parents with their scores, per-test verdicts, failing cases (input,
//! expected, actual), coverage (the statements that never ran on the tests,
//! by node id and line) and a short value trace, and the diagnostics of the
//! previous round's invalid proposals. A [`Response`] is
//! `{"round": R, "programs": ["fn …", …]}`: whole programs as text. Anything
//! the proposer writes to stderr passes through to ours.
//!
//! # Screening
//! Each proposal goes through, in order, and stops at the first that fails:
//! 1. parse and check; on failure its rendered diagnostics (`proposal-R-I.cru:line:col`
//!    with a caret) go back in the next request ([`Outcome::Invalid`]);
//! 2. fit the task's skeleton, since GP works on the skeleton's holes
//!    ([`Outcome::Misfit`], also fed back);
//! 3. canonical structure: the print form of the filled skeleton, against
//!    every earlier proposal and parent ([`Outcome::DuplicateText`]);
//! 4. functional hash: the outputs on the first probe cases, run in the
//!    reference interpreter ([`Outcome::DuplicateBehaviour`]);
//! 5. evaluation on all cases by the run's [`Evaluator`] ([`Outcome::Evaluated`]).
//!
//! A [`Tally`] counts each outcome; every proposal becomes a [`Record`] (its
//! round, parents, text, outcome and error) for the archive.
//!
//! # Failure and determinism
//! Design decision: the proposer sits outside the deterministic loop. A
//! proposer that cannot start, exits, hangs past the timeout (wall clock,
//! the one place this crate reads it) or answers something that is not a
//! response is logged ([`Session::take_log`]) and the run goes on without
//! that round; after [`MAX_FAILURES`] failures in a row the session stops
//! asking and the run continues on GP alone. What the proposer said is
//! recorded, so [`Session::replay`] answers every round from the records
//! instead of a process, and screening and evaluation, which are
//! deterministic, give the same outcomes.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::time::{Duration, Instant};

use crucible_compiler::CheckedProgram;
use crucible_compiler::interp::{Interpreter, Probes};
use crucible_compiler::ir::{self, StmtKind};
use crucible_compiler::value::{Arg, Value};
use serde::{Deserialize, Serialize};

use crate::eval::{Evaluator, interp_runs};
use crate::fitness::{self, Fitness};
use crate::gp::Genome;
use crate::hash::Fnv64;
use crate::skeleton::display_text;
use crate::task::Task;

/// The candidate language's reference, sent with every request.
pub const LANGUAGE: &str = include_str!("../../compiler/LANGUAGE.md");

/// Failures in a row (no start, exit, timeout, garbage) after which a session stops asking.
pub const MAX_FAILURES: u32 = 3;

/// Failing cases shown per parent.
pub const MAX_FAILING_CASES: usize = 5;

/// Value-trace records shown per parent (of the first failing case, or the first case).
pub const MAX_TRACE: usize = 16;

/// Cases in the functional hash (the first cases of the task).
pub const PROBE_CASES: usize = 16;

/// How to run a proposer.
#[derive(Clone, Debug)]
pub struct ProposerConfig {
    /// The command line, run with `sh -c`.
    pub command: String,
    /// Wall-clock limit on one answer.
    pub timeout: Duration,
    /// Programs asked for per request (the proposer may send more or fewer).
    pub programs_per_request: usize,
}

/// One request, one JSON line on the proposer's stdin.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Request {
    /// Always `propose`.
    pub kind: String,
    /// The round number, echoed in the response.
    pub round: u64,
    /// What to solve.
    pub task: TaskInfo,
    /// The candidate language's reference (`compiler/LANGUAGE.md`).
    pub language: String,
    /// How many programs are wanted.
    pub want: usize,
    /// Parents to improve on, best first.
    pub parents: Vec<ParentReport>,
    /// The previous round's proposals that were not evaluated, and why.
    pub diagnostics: Vec<Rejection>,
}

/// The task as the proposer sees it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TaskInfo {
    /// The task's name.
    pub name: String,
    /// One line on what it is.
    pub description: String,
    /// The entry function's name.
    pub entry: String,
    /// The entry's signature, when the task gives one.
    pub signature: Option<String>,
    /// The skeleton's text (holes written `__hole_T`), when the task gives one.
    pub skeleton: Option<String>,
    /// How many test cases there are.
    pub n_cases: usize,
}

/// A parent program and what it did on the tests.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ParentReport {
    /// Its id in the run (0 if it has none).
    pub id: u64,
    /// Its text.
    pub program: String,
    /// Its shaped error (lower is better).
    pub error: f64,
    /// Cases within the task's `hit` threshold.
    pub hits: u32,
    /// Per test, `pass`, `fail` or the verdict that stopped it (`out-of-budget`).
    pub verdicts: Vec<String>,
    /// The first failing cases.
    pub failing: Vec<FailingCase>,
    /// Statements that never ran on any test.
    pub never_ran: Vec<Uncovered>,
    /// Values computed on one case (the first failing one, else the first).
    pub trace: Vec<TraceRecord>,
}

/// A test the parent failed.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FailingCase {
    /// The test's index.
    pub case: usize,
    /// The arguments.
    pub input: String,
    /// The expected result.
    pub expected: String,
    /// What the parent returned (or its verdict).
    pub actual: String,
}

/// A statement that never ran.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Uncovered {
    /// Its node id (probe counter index).
    pub node: u32,
    /// Its 1-based line in the parent's text.
    pub line: usize,
    /// The line's text, trimmed.
    pub text: String,
}

/// One value-trace record: a `let`, assignment or `return` and its value.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TraceRecord {
    /// The case traced.
    pub case: usize,
    /// The 1-based line of the statement.
    pub line: usize,
    /// The value, printed with its type suffix.
    pub value: String,
}

/// A proposal that was not evaluated, fed back in the next request.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Rejection {
    /// The proposal as sent.
    pub program: String,
    /// `invalid` or `misfit`.
    pub reason: String,
    /// The rendered diagnostics.
    pub diagnostics: String,
}

/// One response, one JSON line on the proposer's stdout.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Response {
    /// The round answered; a response to an older round is discarded.
    #[serde(default)]
    pub round: Option<u64>,
    /// Whole programs.
    #[serde(default)]
    pub programs: Vec<String>,
    /// One whole program (an alternative to `programs`).
    #[serde(default)]
    pub program: Option<String>,
}

/// What became of one proposal.
#[derive(Clone, Debug)]
pub enum Outcome {
    /// It did not parse or check.
    Invalid {
        /// Rendered diagnostics.
        diagnostics: String,
    },
    /// It checks but does not have the skeleton's shape.
    Misfit {
        /// Why.
        message: String,
    },
    /// Its canonical text was seen before.
    DuplicateText {
        /// Where: `parent N` or `proposal R-I`.
        of: String,
    },
    /// It computes the same outputs on the probe cases as an earlier program.
    DuplicateBehaviour {
        /// Where: `parent N` or `proposal R-I`.
        of: String,
    },
    /// It was evaluated.
    Evaluated {
        /// Its canonical text.
        canonical: String,
        /// Its genes.
        genome: Genome,
        /// Its fitness on all cases.
        fitness: Fitness,
    },
}

impl Outcome {
    /// A short name: `invalid`, `misfit`, `duplicate-text`, `duplicate-behaviour`, `evaluated`.
    pub fn name(&self) -> &'static str {
        match self {
            Outcome::Invalid { .. } => "invalid",
            Outcome::Misfit { .. } => "misfit",
            Outcome::DuplicateText { .. } => "duplicate-text",
            Outcome::DuplicateBehaviour { .. } => "duplicate-behaviour",
            Outcome::Evaluated { .. } => "evaluated",
        }
    }
}

/// One proposal and its outcome.
#[derive(Clone, Debug)]
pub struct Proposal {
    /// The round it answered.
    pub round: u64,
    /// Its position in the response.
    pub index: usize,
    /// The text as sent.
    pub text: String,
    /// What became of it.
    pub outcome: Outcome,
}

/// Counts over a session.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    /// Requests answered with a response.
    pub rounds: u64,
    /// Requests that got no usable answer (timeout, exit, garbage).
    pub failed_rounds: u64,
    /// Programs received.
    pub proposed: u64,
    /// Did not parse or check.
    pub invalid: u64,
    /// Did not fit the skeleton.
    pub misfit: u64,
    /// Same canonical text as an earlier program.
    pub duplicate_text: u64,
    /// Same outputs on the probe cases as an earlier program.
    pub duplicate_behaviour: u64,
    /// Evaluated.
    pub evaluated: u64,
    /// Taken into the population (counted by the caller, see [`Session::adopted`]).
    pub adopted: u64,
}

/// A proposal as archived: enough to replay the run without the proposer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// The round.
    pub round: u64,
    /// Position in the response.
    pub index: usize,
    /// The parents shown in the request.
    pub parents: Vec<u64>,
    /// The text as sent.
    pub text: String,
    /// [`Outcome::name`].
    pub outcome: String,
    /// The diagnostic or duplicate's origin, if any.
    pub detail: Option<String>,
    /// The error, if evaluated.
    pub error: Option<f64>,
}

enum Source {
    Process(Process),
    Replay(BTreeMap<u64, Vec<String>>),
    None,
}

/// A proposer session: the process (or the records replayed), the dedup
/// sets, the diagnostics to feed back and the tally.
pub struct Session {
    source: Source,
    config: ProposerConfig,
    round: u64,
    failures: u32,
    pending: Vec<Rejection>,
    texts: BTreeMap<String, String>,
    behaviours: BTreeMap<u64, String>,
    parents_of_round: BTreeMap<u64, Vec<u64>>,
    log: Vec<String>,
    tally: Tally,
    records: Vec<Record>,
}

impl Session {
    /// Starts the proposer process. A proposer that cannot start is logged
    /// and the session is inert (it proposes nothing).
    pub fn start(config: &ProposerConfig) -> Session {
        let mut session = Session::with_source(Source::None, config);
        match Process::spawn(&config.command) {
            Ok(process) => session.source = Source::Process(process),
            Err(err) => session.log(format!(
                "proposer `{}` did not start: {err}; continuing on GP alone",
                config.command
            )),
        }
        session
    }

    /// A session that answers each round with the programs recorded for it,
    /// without a process.
    pub fn replay(config: &ProposerConfig, records: &[Record]) -> Session {
        let mut rounds: BTreeMap<u64, Vec<(usize, String)>> = BTreeMap::new();
        for r in records {
            rounds
                .entry(r.round)
                .or_default()
                .push((r.index, r.text.clone()));
        }
        let rounds = rounds
            .into_iter()
            .map(|(round, mut texts)| {
                texts.sort_by_key(|(i, _)| *i);
                (round, texts.into_iter().map(|(_, t)| t).collect())
            })
            .collect();
        Session::with_source(Source::Replay(rounds), config)
    }

    fn with_source(source: Source, config: &ProposerConfig) -> Session {
        Session {
            source,
            config: config.clone(),
            round: 0,
            failures: 0,
            pending: Vec::new(),
            texts: BTreeMap::new(),
            behaviours: BTreeMap::new(),
            parents_of_round: BTreeMap::new(),
            log: Vec::new(),
            tally: Tally::default(),
            records: Vec::new(),
        }
    }

    /// Whether the session may still propose.
    pub fn is_active(&self) -> bool {
        !matches!(self.source, Source::None)
    }

    /// The counts so far.
    pub fn tally(&self) -> Tally {
        self.tally
    }

    /// Every proposal so far, for the archive.
    pub fn records(&self) -> &[Record] {
        &self.records
    }

    /// Log lines since the last call (failures of the proposer, rounds).
    pub fn take_log(&mut self) -> Vec<String> {
        std::mem::take(&mut self.log)
    }

    /// Counts `n` proposals as taken into the population.
    pub fn adopted(&mut self, n: u64) {
        self.tally.adopted += n;
    }

    fn log(&mut self, line: String) {
        self.log.push(line);
    }

    /// Builds the request for the next round from `parents` (id and text,
    /// best first), and remembers the parents for deduplication.
    pub fn request(&mut self, task: &Task, parents: &[(u64, String)]) -> Request {
        let mut reports = Vec::new();
        for (id, text) in parents {
            if let Some(report) = parent_report(task, *id, text) {
                if let Some((canonical, behaviour)) = fingerprint(task, text) {
                    self.texts
                        .entry(canonical)
                        .or_insert(format!("parent {id}"));
                    if let Some(b) = behaviour {
                        self.behaviours.entry(b).or_insert(format!("parent {id}"));
                    }
                }
                reports.push(report);
            }
        }
        self.round += 1;
        self.parents_of_round
            .insert(self.round, parents.iter().map(|(id, _)| *id).collect());
        Request {
            kind: "propose".into(),
            round: self.round,
            task: task_info(task),
            language: LANGUAGE.into(),
            want: self.config.programs_per_request,
            parents: reports,
            diagnostics: std::mem::take(&mut self.pending),
        }
    }

    /// Sends `request` (building nothing): the first half of a round, so the
    /// caller can go on with GP and call [`Session::receive`] later.
    ///
    /// Returns whether the request went out (or will be answered from records).
    pub fn send(&mut self, request: &Request) -> bool {
        if let Source::Process(process) = &mut self.source
            && let Err(err) = process.send(request)
        {
            self.fail(format!(
                "proposer did not take request {}: {err}",
                request.round
            ));
            return false;
        }
        self.is_active()
    }

    /// Waits (up to the timeout) for the answer to round `round` and screens
    /// and evaluates its programs.
    ///
    /// # Errors
    /// Only if the evaluator fails on the host side.
    pub fn receive(
        &mut self,
        task: &Task,
        evaluator: &dyn Evaluator,
        round: u64,
    ) -> crate::Result<Vec<Proposal>> {
        let texts = match &mut self.source {
            Source::None => return Ok(Vec::new()),
            Source::Replay(rounds) => rounds.remove(&round).unwrap_or_default(),
            Source::Process(process) => match process.receive(round, self.config.timeout) {
                Ok((texts, stale)) => {
                    for line in stale {
                        self.log(line);
                    }
                    texts
                }
                Err(why) => {
                    self.fail(format!("proposer round {round}: {why}"));
                    return Ok(Vec::new());
                }
            },
        };
        self.failures = 0;
        self.tally.rounds += 1;
        let proposals = self.screen(task, evaluator, round, texts)?;
        let counts: BTreeMap<&str, usize> = proposals.iter().fold(BTreeMap::new(), |mut m, p| {
            *m.entry(p.outcome.name()).or_default() += 1;
            m
        });
        let counts: Vec<String> = counts.iter().map(|(k, v)| format!("{v} {k}")).collect();
        self.log(format!(
            "proposer round {round}: {} programs: {}",
            proposals.len(),
            counts.join(", ")
        ));
        Ok(proposals)
    }

    /// One whole round: request, send, receive.
    ///
    /// # Errors
    /// As [`Session::receive`].
    pub fn propose(
        &mut self,
        task: &Task,
        evaluator: &dyn Evaluator,
        parents: &[(u64, String)],
    ) -> crate::Result<Vec<Proposal>> {
        if !self.is_active() {
            return Ok(Vec::new());
        }
        let request = self.request(task, parents);
        if !self.send(&request) {
            return Ok(Vec::new());
        }
        self.receive(task, evaluator, request.round)
    }

    fn fail(&mut self, why: String) {
        self.tally.failed_rounds += 1;
        self.failures += 1;
        if self.failures >= MAX_FAILURES {
            self.log(format!(
                "{why}; {MAX_FAILURES} failures in a row, continuing on GP alone"
            ));
            self.source = Source::None;
        } else {
            self.log(format!("{why}; skipping this round"));
        }
    }

    fn screen(
        &mut self,
        task: &Task,
        evaluator: &dyn Evaluator,
        round: u64,
        texts: Vec<String>,
    ) -> crate::Result<Vec<Proposal>> {
        let mut out = Vec::new();
        for (index, text) in texts.into_iter().enumerate() {
            let name = format!("proposal {round}-{index}");
            let outcome = self.screen_one(task, evaluator, round, index, &name, &text)?;
            self.tally.proposed += 1;
            let (detail, error) = match &outcome {
                Outcome::Invalid { diagnostics } => {
                    self.tally.invalid += 1;
                    self.pending.push(Rejection {
                        program: text.clone(),
                        reason: "invalid".into(),
                        diagnostics: diagnostics.clone(),
                    });
                    (Some(diagnostics.clone()), None)
                }
                Outcome::Misfit { message } => {
                    self.tally.misfit += 1;
                    self.pending.push(Rejection {
                        program: text.clone(),
                        reason: "misfit".into(),
                        diagnostics: message.clone(),
                    });
                    (Some(message.clone()), None)
                }
                Outcome::DuplicateText { of } => {
                    self.tally.duplicate_text += 1;
                    (Some(of.clone()), None)
                }
                Outcome::DuplicateBehaviour { of } => {
                    self.tally.duplicate_behaviour += 1;
                    (Some(of.clone()), None)
                }
                Outcome::Evaluated { fitness, .. } => {
                    self.tally.evaluated += 1;
                    (None, Some(fitness.error))
                }
            };
            self.records.push(Record {
                round,
                index,
                parents: self
                    .parents_of_round
                    .get(&round)
                    .cloned()
                    .unwrap_or_default(),
                text: text.clone(),
                outcome: outcome.name().into(),
                detail,
                error,
            });
            out.push(Proposal {
                round,
                index,
                text,
                outcome,
            });
        }
        Ok(out)
    }

    fn screen_one(
        &mut self,
        task: &Task,
        evaluator: &dyn Evaluator,
        round: u64,
        index: usize,
        name: &str,
        text: &str,
    ) -> crate::Result<Outcome> {
        let file = format!("proposal-{round}-{index}.cru");
        let program = match crucible_compiler::parse(text) {
            Ok(p) => p,
            Err(d) => {
                return Ok(Outcome::Invalid {
                    diagnostics: d.render(&file, text),
                });
            }
        };
        if let Err(d) = crucible_compiler::check(&program) {
            return Ok(Outcome::Invalid {
                diagnostics: d.render(&file, text),
            });
        }
        let genome = match task.skeleton.genes_from(&program) {
            Ok(g) => g,
            Err(m) => {
                return Ok(Outcome::Misfit {
                    message: format!(
                        "{file}: does not fit the task's program shape: {m} \
                         (keep the signature and the skeleton's statements; change only the holes)"
                    ),
                });
            }
        };
        let filled = task.skeleton.fill(&genome);
        let canonical = display_text(&filled);
        if let Some(of) = self.texts.get(&canonical) {
            return Ok(Outcome::DuplicateText { of: of.clone() });
        }
        self.texts.insert(canonical.clone(), name.into());
        let checked = crucible_compiler::check(&filled).map_err(|d| {
            crate::Error::from(crate::ErrorKind::Bug(format!(
                "a fitted proposal does not check: {}",
                d.0[0].message
            )))
        })?;
        if let Some(b) = behaviour(task, &checked) {
            if let Some(of) = self.behaviours.get(&b) {
                return Ok(Outcome::DuplicateBehaviour { of: of.clone() });
            }
            self.behaviours.insert(b, name.into());
        }
        let size = genome.iter().map(|e| e.size() as u32).sum();
        let runs = evaluator.run(task.skeleton.entry(), &[&checked], &task.cases, task.fuel())?;
        let n_stages = task.stages.len() as u32;
        let fitness = match &runs[0].verdict {
            Some(v) => Fitness::failed(v.clone(), size, task.cases.len(), n_stages),
            None => fitness::score(task, &runs[0].outputs, &runs[0].costs, size, n_stages),
        };
        Ok(Outcome::Evaluated {
            canonical,
            genome,
            fitness,
        })
    }
}

fn task_info(task: &Task) -> TaskInfo {
    let skeleton = task.file.program.skeleton.as_ref().and_then(|p| {
        let path = task
            .path
            .parent()
            .unwrap_or(std::path::Path::new("."))
            .join(p);
        std::fs::read_to_string(path).ok()
    });
    TaskInfo {
        name: task.file.name.clone(),
        description: task.file.description.clone(),
        entry: task.skeleton.entry().into(),
        signature: task.file.program.signature.clone(),
        skeleton,
        n_cases: task.cases.len(),
    }
}

/// The canonical text and functional hash of a program that fits the skeleton.
fn fingerprint(task: &Task, text: &str) -> Option<(String, Option<u64>)> {
    let program = crucible_compiler::parse(text).ok()?;
    let genome = task.skeleton.genes_from(&program).ok()?;
    let filled = task.skeleton.fill(&genome);
    let checked = crucible_compiler::check(&filled).ok()?;
    Some((display_text(&filled), behaviour(task, &checked)))
}

/// The hash of the outputs on the first [`PROBE_CASES`] cases (`None` if it
/// does not finish them: such programs are never behaviour duplicates).
fn behaviour(task: &Task, checked: &CheckedProgram) -> Option<u64> {
    let probe = task.cases.range(0, PROBE_CASES);
    let runs = interp_runs(checked, task.skeleton.entry(), &probe, task.fuel()).ok()?;
    if runs.verdict.is_some() {
        return None;
    }
    let mut h = Fnv64::new();
    for v in &runs.outputs {
        h.write_u64(v.to_bits());
        h.write(&[v.ty() as u8]);
    }
    Some(h.finish())
}

fn show_args(args: &[Arg]) -> String {
    let parts: Vec<String> = args
        .iter()
        .map(|a| match a {
            Arg::Scalar(v) => v.to_string(),
            other => format!("{other:?}"),
        })
        .collect();
    format!("({})", parts.join(", "))
}

/// Runs a parent on every case in the interpreter, with probes, and reports
/// verdicts, failing cases, statements never run and a short trace. `None`
/// if the text does not check or has no entry.
pub fn parent_report(task: &Task, id: u64, text: &str) -> Option<ParentReport> {
    let checked = crucible_compiler::compile_text(text).ok()?;
    let (entry, _) = checked.func(task.skeleton.entry())?;
    let interp = Interpreter::new(&checked);
    let fuel = task.fuel();
    let hit = task.file.fitness.hit;
    let mut coverage = Probes::new(&checked, 0);
    let mut verdicts = Vec::new();
    let mut failing = Vec::new();
    let mut outputs = Vec::new();
    let mut costs = Vec::new();
    let mut first_failing = None;
    let mut stopped = None;
    for (case, args) in task.cases.args.iter().enumerate() {
        match interp.run_with_probes(entry, args, fuel, &mut coverage) {
            Ok(run) => {
                outputs.push(run.value);
                costs.push(run.cost);
                let want = task.cases.expected.get(case).copied();
                let pass =
                    want.is_none_or(|w| fitness::case_error(task.error, run.value, w) <= hit);
                verdicts.push(if pass { "pass" } else { "fail" }.to_string());
                if !pass {
                    first_failing.get_or_insert(case);
                    if failing.len() < MAX_FAILING_CASES {
                        failing.push(FailingCase {
                            case,
                            input: show_args(args),
                            expected: want.map(|w| w.to_string()).unwrap_or_default(),
                            actual: run.value.to_string(),
                        });
                    }
                }
            }
            Err(err) => {
                let verdict = match err {
                    crucible_compiler::interp::InterpError::OutOfBudget { .. } => "out-of-budget",
                    _ => "error",
                };
                verdicts.push(verdict.into());
                first_failing.get_or_insert(case);
                if failing.len() < MAX_FAILING_CASES {
                    failing.push(FailingCase {
                        case,
                        input: show_args(args),
                        expected: task
                            .cases
                            .expected
                            .get(case)
                            .map(|w| w.to_string())
                            .unwrap_or_default(),
                        actual: verdict.into(),
                    });
                }
                stopped = Some(verdict.to_string());
            }
        }
    }
    let size = text.len() as u32;
    let n_stages = task.stages.len() as u32;
    let fit = match stopped {
        Some(v) => Fitness::failed(v, size, task.cases.len(), n_stages),
        None => fitness::score(task, &outputs, &costs, size, n_stages),
    };
    let lines = statement_lines(checked.program(), text);
    let never_ran = lines
        .iter()
        .filter(|(node, _)| coverage.counters.get(*node as usize) == Some(&0))
        .map(|(node, line)| Uncovered {
            node: *node,
            line: *line,
            text: text.lines().nth(line - 1).unwrap_or("").trim().into(),
        })
        .collect();
    let traced = first_failing.unwrap_or(0);
    let mut trace = Vec::new();
    if let Some(args) = task.cases.args.get(traced) {
        let mut probes = Probes::new(&checked, MAX_TRACE);
        let _ = interp.run_with_probes(entry, args, fuel, &mut probes);
        let types = statement_types(&checked);
        let line_of: BTreeMap<u32, usize> = lines.iter().copied().collect();
        for (stmt, bits) in probes.trace {
            let value = match types.get(&stmt) {
                Some(ty) => Value::from_bits(*ty, bits).to_string(),
                None => format!("{bits:#x}"),
            };
            trace.push(TraceRecord {
                case: traced,
                line: line_of.get(&stmt).copied().unwrap_or(0),
                value,
            });
        }
    }
    Some(ParentReport {
        id,
        program: text.into(),
        error: fit.error,
        hits: fit.hits,
        verdicts,
        failing,
        never_ran,
        trace,
    })
}

/// `(statement node id, 1-based line)` of every statement.
fn statement_lines(program: &ir::Program, text: &str) -> Vec<(u32, usize)> {
    fn block(b: &ir::Block, text: &str, out: &mut Vec<(u32, usize)>) {
        for s in &b.stmts {
            let start = (s.span.start as usize).min(text.len());
            out.push((s.id.0, text[..start].matches('\n').count() + 1));
            match &s.kind {
                StmtKind::If {
                    then_block,
                    else_block,
                    ..
                } => {
                    block(then_block, text, out);
                    if let Some(e) = else_block {
                        block(e, text, out);
                    }
                }
                StmtKind::For { body, .. } => block(body, text, out),
                _ => {}
            }
        }
    }
    let mut out = Vec::new();
    for f in &program.funcs {
        block(&f.body, text, &mut out);
    }
    out
}

/// The scalar type of the value each traced statement records.
fn statement_types(checked: &CheckedProgram) -> BTreeMap<u32, crucible_compiler::ir::Scalar> {
    fn block(
        b: &ir::Block,
        checked: &CheckedProgram,
        out: &mut BTreeMap<u32, crucible_compiler::ir::Scalar>,
    ) {
        for s in &b.stmts {
            match &s.kind {
                StmtKind::Let { init: e, .. }
                | StmtKind::Assign { value: e, .. }
                | StmtKind::Return(e) => {
                    out.insert(s.id.0, checked.scalar(e));
                }
                StmtKind::If {
                    then_block,
                    else_block,
                    ..
                } => {
                    block(then_block, checked, out);
                    if let Some(e) = else_block {
                        block(e, checked, out);
                    }
                }
                StmtKind::For { body, .. } => block(body, checked, out),
            }
        }
    }
    let mut out = BTreeMap::new();
    for f in &checked.program().funcs {
        block(&f.body, checked, &mut out);
    }
    out
}

/// The proposer's process: a writer thread feeds requests to its stdin (so
/// a proposer that reads nothing cannot block the run once the pipe is
/// full), a reader thread turns its stdout into lines on a channel so a wait
/// can time out.
struct Process {
    child: Child,
    requests: Option<Sender<Vec<u8>>>,
    lines: Receiver<String>,
}

impl Process {
    fn spawn(command: &str) -> std::io::Result<Process> {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", command])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        // Its own process group, so that dropping the session ends whatever
        // `sh` started too: a grandchild left running would hold our stderr
        // open (and a caller reading it to the end would wait for it).
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let mut child = cmd.spawn()?;
        let stdin = child.stdin.take().expect("piped stdin");
        let (requests, to_write) = channel::<Vec<u8>>();
        std::thread::spawn(move || write_requests(stdin, to_write));
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(Process {
            child,
            requests: Some(requests),
            lines: rx,
        })
    }

    fn send(&mut self, request: &Request) -> std::io::Result<()> {
        let requests = self
            .requests
            .as_ref()
            .ok_or_else(|| std::io::Error::other("stdin closed"))?;
        let mut line = serde_json::to_vec(request).map_err(std::io::Error::other)?;
        line.push(b'\n');
        requests
            .send(line)
            .map_err(|_| std::io::Error::other("its stdin is closed"))
    }

    /// The programs answering `round`, and log lines about stale answers skipped.
    fn receive(
        &mut self,
        round: u64,
        timeout: Duration,
    ) -> Result<(Vec<String>, Vec<String>), String> {
        let deadline = Instant::now() + timeout;
        let mut stale = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match self.lines.recv_timeout(left) {
                Ok(line) => line,
                Err(RecvTimeoutError::Timeout) => {
                    return Err(format!("no answer within {} s", timeout.as_secs_f64()));
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let status = self
                        .child
                        .try_wait()
                        .ok()
                        .flatten()
                        .map(|s| s.to_string())
                        .unwrap_or_else(|| "closed its stdout".into());
                    return Err(format!("the proposer exited ({status})"));
                }
            };
            if line.trim().is_empty() {
                continue;
            }
            let response: Response = match serde_json::from_str(&line) {
                Ok(r) => r,
                Err(err) => {
                    let mut shown: String = line.chars().take(80).collect();
                    if shown.len() < line.len() {
                        shown.push('…');
                    }
                    return Err(format!("garbage answer ({err}): {shown:?}"));
                }
            };
            match response.round {
                Some(r) if r != round => {
                    stale.push(format!("proposer answered round {r} late; ignored"));
                    continue;
                }
                _ => {}
            }
            let mut programs = response.programs;
            programs.extend(response.program);
            return Ok((programs, stale));
        }
    }
}

/// The writer thread: writes each request to the proposer's stdin until the
/// channel closes (the session ended) or a write fails (the proposer exited);
/// dropping `stdin` then closes the pipe.
fn write_requests(mut stdin: ChildStdin, requests: Receiver<Vec<u8>>) {
    for line in requests {
        if stdin.write_all(&line).and_then(|()| stdin.flush()).is_err() {
            break;
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        // Closing stdin asks a well-behaved proposer to exit; then make sure,
        // for the whole process group (the crate denies `unsafe`, so no
        // `killpg`: the shell's `kill` does it).
        self.requests = None;
        #[cfg(unix)]
        {
            let _ = Command::new("sh")
                .args(["-c", &format!("kill -9 -{} 2>/dev/null", self.child.id())])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::InterpEvaluator;

    fn repo() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
    }

    fn task() -> Task {
        Task::load(&repo().join("search/tasks/koza-quartic.toml")).unwrap()
    }

    fn config(command: String, timeout: Duration) -> ProposerConfig {
        ProposerConfig {
            command,
            timeout,
            programs_per_request: 4,
        }
    }

    fn outcomes(proposals: &[Proposal]) -> Vec<&'static str> {
        proposals.iter().map(|p| p.outcome.name()).collect()
    }

    /// A parent with a branch the tests never take (inputs lie in [-1, 1]).
    const PARENT: &str = "fn quartic(x: f64) -> f64 {\n    if x > 5.0 {\n        return 0.0;\n    }\n    return x * x;\n}\n";

    #[test]
    fn offline_proposer_end_to_end() {
        let task = task();
        let dir = std::env::temp_dir().join(format!("crucible-proposer-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("requests.jsonl");
        let _ = std::fs::remove_file(&log);
        let proposers = repo().join("guests/proposers");
        let command = format!(
            "python3 {} {} --log {}",
            proposers.join("offline.py").display(),
            proposers.join("koza-quartic.rounds").display(),
            log.display()
        );
        let config = config(command, Duration::from_secs(20));
        let mut session = Session::start(&config);
        let parents = vec![(7, PARENT.to_string())];

        let round1 = session.propose(&task, &InterpEvaluator, &parents).unwrap();
        assert_eq!(
            outcomes(&round1),
            [
                "evaluated",
                "invalid",
                "invalid",
                "misfit",
                "duplicate-text"
            ]
        );
        let Outcome::Evaluated {
            fitness, canonical, ..
        } = &round1[0].outcome
        else {
            unreachable!()
        };
        assert!(fitness.error < 1e-9, "{fitness:?}");
        assert_eq!(
            canonical,
            "fn quartic(x: f64) -> f64 {\n    return x * x * x * x + x * x * x + x * x + x;\n}\n"
        );
        let Outcome::DuplicateText { of } = &round1[4].outcome else {
            unreachable!()
        };
        assert_eq!(of, "proposal 1-0");

        let round2 = session.propose(&task, &InterpEvaluator, &parents).unwrap();
        assert_eq!(outcomes(&round2), ["evaluated", "duplicate-behaviour"]);
        let Outcome::DuplicateBehaviour { of } = &round2[1].outcome else {
            unreachable!()
        };
        assert_eq!(of, "proposal 2-0");

        // Garbage three times in a row: logged, then the session gives up.
        for _ in 0..3 {
            assert!(session.is_active());
            assert!(
                session
                    .propose(&task, &InterpEvaluator, &parents)
                    .unwrap()
                    .is_empty()
            );
        }
        assert!(!session.is_active());
        let lines = session.take_log();
        assert!(
            lines[0].starts_with(
                "proposer round 1: 5 programs: 1 duplicate-text, 1 evaluated, 2 invalid, 1 misfit"
            ),
            "{lines:#?}"
        );
        assert!(
            lines[2].starts_with("proposer round 3: garbage answer"),
            "{lines:#?}"
        );
        assert!(
            lines[4].ends_with("3 failures in a row, continuing on GP alone"),
            "{lines:#?}"
        );
        assert_eq!(
            session.tally(),
            Tally {
                rounds: 2,
                failed_rounds: 3,
                proposed: 7,
                invalid: 2,
                misfit: 1,
                duplicate_text: 1,
                duplicate_behaviour: 1,
                evaluated: 2,
                adopted: 0,
            }
        );

        // What the proposer was sent: feedback on the parent, then diagnostics.
        let requests: Vec<Request> = std::fs::read_to_string(&log)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(requests.len(), 5);
        let first = &requests[0];
        assert_eq!(first.language, LANGUAGE);
        assert_eq!(
            first.task.signature.as_deref(),
            Some("fn quartic(x: f64) -> f64")
        );
        assert!(first.diagnostics.is_empty());
        let parent = &first.parents[0];
        assert_eq!(parent.id, 7);
        assert_eq!(parent.verdicts.len(), task.cases.len());
        assert_eq!(parent.failing.len(), MAX_FAILING_CASES);
        assert_eq!(
            parent
                .never_ran
                .iter()
                .map(|u| (u.line, u.text.as_str()))
                .collect::<Vec<_>>(),
            [(3, "return 0.0;")]
        );
        assert_eq!(parent.trace.len(), 1);
        assert_eq!(parent.trace[0].line, 5);
        let second = &requests[1];
        let reasons: Vec<&str> = second
            .diagnostics
            .iter()
            .map(|d| d.reason.as_str())
            .collect();
        assert_eq!(reasons, ["invalid", "invalid", "misfit"]);
        assert!(
            second.diagnostics[0]
                .diagnostics
                .contains("proposal-1-1.cru:2:"),
            "{}",
            second.diagnostics[0].diagnostics
        );
        assert!(requests[2].diagnostics.is_empty());

        // Replay from the records: same outcomes, same errors, no process.
        let records = session.records().to_vec();
        assert_eq!(records.len(), 7);
        let mut replay = Session::replay(&config, &records);
        let mut replayed = Vec::new();
        for _ in 0..2 {
            replayed.extend(replay.propose(&task, &InterpEvaluator, &parents).unwrap());
        }
        assert_eq!(replay.records(), &records[..]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_proposer_that_hangs_or_exits_is_survived() {
        let task = task();
        let parents = vec![(1, PARENT.to_string())];
        let mut hang = Session::start(&config(
            "cat > /dev/null".into(),
            Duration::from_millis(200),
        ));
        assert!(
            hang.propose(&task, &InterpEvaluator, &parents)
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            hang.take_log(),
            ["proposer round 1: no answer within 0.2 s; skipping this round"]
        );
        let mut exits = Session::start(&config("exit 3".into(), Duration::from_secs(20)));
        let mut log = Vec::new();
        for _ in 0..3 {
            assert!(
                exits
                    .propose(&task, &InterpEvaluator, &parents)
                    .unwrap()
                    .is_empty()
            );
            log.extend(exits.take_log());
        }
        assert!(!exits.is_active());
        assert!(
            log.last().unwrap().ends_with("continuing on GP alone"),
            "{log:#?}"
        );
        assert_eq!(exits.tally().failed_rounds, 3);
    }
}

#[cfg(test)]
mod process_tests {
    use super::*;

    #[test]
    fn a_proposer_that_reads_nothing_does_not_block_sending() {
        let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let task = Task::load(&repo.join("search/tasks/koza-quartic.toml")).unwrap();
        let mut process = Process::spawn("sleep 1000").unwrap();
        // Far more than a pipe holds (64 KiB on Linux).
        let request = Request {
            kind: "propose".into(),
            round: 1,
            task: task_info(&task),
            language: "x".repeat(1 << 20),
            want: 1,
            parents: Vec::new(),
            diagnostics: Vec::new(),
        };
        for _ in 0..3 {
            process.send(&request).unwrap();
        }
        let started = Instant::now();
        assert_eq!(
            process.receive(1, Duration::from_millis(100)).unwrap_err(),
            "no answer within 0.1 s"
        );
        assert!(started.elapsed() < Duration::from_secs(10));
    }
}

#[cfg(test)]
mod engine_tests {
    use super::*;
    use crate::engine::{Engine, RunOptions};
    use crate::eval::InterpEvaluator;

    /// Runs koza-quartic for 6 generations with one proposer round every 2,
    /// adopting what is evaluated; returns the digest, the best error and the session.
    fn run(task: &Task, mut session: Session) -> (u64, f64, Session) {
        let evaluator = InterpEvaluator;
        let opts = RunOptions {
            seed: 1,
            generations: Some(6),
        };
        let mut engine = Engine::new(task, &evaluator, opts).unwrap();
        engine.start();
        while engine.stop_reason().is_none() {
            engine.step().unwrap();
            if engine.generation().is_multiple_of(2) {
                let mut best: Vec<&crate::engine::Individual> =
                    engine.islands()[0].iter().collect();
                let order = engine.order();
                best.sort_by(|a, b| order.cmp(&a.fitness, &b.fitness));
                let parents: Vec<(u64, String)> = best
                    .iter()
                    .take(2)
                    .map(|i| (i.id, engine.text_of(&i.genome)))
                    .collect();
                let ids: Vec<u64> = parents.iter().map(|(id, _)| *id).collect();
                for p in session.propose(task, &evaluator, &parents).unwrap() {
                    if let Outcome::Evaluated {
                        genome, fitness, ..
                    } = p.outcome
                    {
                        engine.adopt(genome, fitness, ids.clone());
                        session.adopted(1);
                    }
                }
            }
        }
        let digest = engine.stats().unwrap().digest;
        let best = engine.best().unwrap().fitness.error;
        (digest, best, session)
    }

    #[test]
    fn proposals_are_adopted_and_the_run_replays_without_the_proposer() {
        let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let task = Task::load(&repo.join("search/tasks/koza-quartic.toml")).unwrap();
        let proposers = repo.join("guests/proposers");
        let config = ProposerConfig {
            command: format!(
                "python3 {} {}",
                proposers.join("offline.py").display(),
                proposers.join("koza-quartic.rounds").display()
            ),
            timeout: Duration::from_secs(20),
            programs_per_request: 4,
        };
        let (digest, best, live) = run(&task, Session::start(&config));
        // Round 1 (after generation 2) brings the exact quartic; it is adopted,
        // becomes the best and stops the run at its target a generation later.
        assert!(best < 1e-9, "{best}");
        assert_eq!(
            live.tally(),
            Tally {
                rounds: 1,
                failed_rounds: 0,
                proposed: 5,
                invalid: 2,
                misfit: 1,
                duplicate_text: 1,
                duplicate_behaviour: 0,
                evaluated: 1,
                adopted: 1,
            }
        );
        let (replayed_digest, replayed_best, replay) =
            run(&task, Session::replay(&config, live.records()));
        assert_eq!((replayed_digest, replayed_best), (digest, best));
        assert_eq!(replay.records(), live.records());
        assert_eq!(replay.tally(), live.tally());
        // Without the proposals, the same seed runs differently.
        let (gp_digest, _, _) = run(&task, Session::replay(&config, &[]));
        assert_ne!(gp_digest, digest);
    }
}
