//! The run archive: SQLite (bundled), one file, default `crucible.db`.
//!
//! Tables: `runs` (one row per run, with the task text and the summary),
//! `generations` (statistics per generation), `programs` (every best-so-far
//! program with its lineage, correct programs of two-phase runs, the final
//! Pareto front, with their sandbox confirmation), `checkpoints` (the engine
//! snapshot after the last completed generation) and `cache` (the
//! functional-equivalence cache, which is part of a run's state) and
//! `optimized` (the build-time optimizer's results, keyed by the content hash
//! of what made them; see [`crate::optimize`]).
//! A run with a proposer also has a row in `proposers` (the command and how
//! often it is asked) and one row in `proposals` per program it proposed
//! (round, parents, text, outcome), enough to replay the run without it.
//! [`Archive::commit_generation`] writes a generation in one transaction, so a
//! `kill -9` loses at most the generation that was running.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use crate::engine::{GenReport, GenStats, SavedFitness, Snapshot};
use crate::error::{Error, ErrorKind, Result};
use crate::fitness::Fitness;
use crate::proposer::Record;

/// An open archive.
pub struct Archive {
    conn: Connection,
    /// Proposals waiting for the next [`Archive::commit_generation`]: (run, generation, record).
    staged: Vec<(i64, u64, Record)>,
}

impl std::fmt::Debug for Archive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Archive")
    }
}

/// A run as listed by `crucible runs`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunRow {
    /// The run id.
    pub id: i64,
    /// The task's name.
    pub task: String,
    /// The task file path as given.
    pub task_path: String,
    /// The seed.
    pub seed: u64,
    /// `running` or `done`.
    pub status: String,
    /// Why it stopped, if it did.
    pub stop_reason: Option<String>,
    /// Generations completed.
    pub generations: u64,
    /// Fitness evaluations.
    pub evaluations: u64,
    /// The best error.
    pub best_error: Option<f64>,
    /// The digest as 16 hex digits.
    pub digest: Option<String>,
    /// When it was created, as given by the caller.
    pub created: String,
}

/// An archived program.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ProgramRow {
    /// `best`, `correct` or `front`.
    pub kind: String,
    /// The generation it was recorded in.
    pub generation: u64,
    /// Its text.
    pub text: String,
    /// Its fitness.
    pub fitness: Fitness,
    /// The operator that made it.
    pub op: String,
    /// Parent ids.
    pub parents: Vec<u64>,
    /// The sandbox confirmation.
    pub confirmation: Option<String>,
}

/// How a run asked its proposer.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ProposerRow {
    /// The command line (or `replay of run N`).
    pub command: String,
    /// Generations between requests; an answer is due this many generations after its request.
    pub every: u64,
}

/// An archived proposal: the generation its round was answered in, and the record.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ProposalRow {
    /// The generation after which it was screened (and, if evaluated, adopted).
    pub generation: u64,
    /// The proposal.
    pub record: Record,
}

/// What a resumed run needs.
#[derive(Debug)]
pub struct ResumeState {
    /// The task file path as recorded.
    pub task_path: String,
    /// The task text as recorded.
    pub task_text: String,
    /// The snapshot after the last completed generation.
    pub snapshot: Snapshot,
    /// The functional cache.
    pub cache: Vec<(u64, Fitness)>,
    /// Correct programs already archived.
    pub correct: Vec<String>,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY, task TEXT NOT NULL, task_path TEXT NOT NULL, task_text TEXT NOT NULL,
    seed TEXT NOT NULL, status TEXT NOT NULL, stop_reason TEXT, generations INTEGER NOT NULL DEFAULT 0,
    evaluations INTEGER NOT NULL DEFAULT 0, best_error REAL, best_text TEXT, digest TEXT, created TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS generations (
    run INTEGER NOT NULL, generation INTEGER NOT NULL, stats TEXT NOT NULL, PRIMARY KEY (run, generation));
CREATE TABLE IF NOT EXISTS programs (
    id INTEGER PRIMARY KEY, run INTEGER NOT NULL, generation INTEGER NOT NULL, kind TEXT NOT NULL,
    text TEXT NOT NULL, fitness TEXT NOT NULL, op TEXT NOT NULL, parents TEXT NOT NULL, confirmation TEXT);
CREATE INDEX IF NOT EXISTS programs_run ON programs (run, kind);
CREATE TABLE IF NOT EXISTS checkpoints (run INTEGER PRIMARY KEY, generation INTEGER NOT NULL, snapshot TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS cache (run INTEGER NOT NULL, key TEXT NOT NULL, fitness TEXT NOT NULL, PRIMARY KEY (run, key));
CREATE TABLE IF NOT EXISTS optimized (key TEXT PRIMARY KEY, run INTEGER NOT NULL, text TEXT NOT NULL, fitness TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS proposers (run INTEGER PRIMARY KEY, command TEXT NOT NULL, every INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS proposals (
    run INTEGER NOT NULL, generation INTEGER NOT NULL, round INTEGER NOT NULL, idx INTEGER NOT NULL,
    parents TEXT NOT NULL, text TEXT NOT NULL, outcome TEXT NOT NULL, detail TEXT, error REAL,
    PRIMARY KEY (run, round, idx));
";

fn json<T: Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| Error::bug(format!("serialising archive data: {e}")))
}

fn unjson<T: for<'de> Deserialize<'de>>(s: &str) -> Result<T> {
    serde_json::from_str(s).map_err(|e| Error::archive(format!("corrupt archive data: {e}")))
}

impl Archive {
    /// Opens (creating if needed) the archive at `path`.
    ///
    /// # Errors
    /// If SQLite cannot open or initialise the file.
    pub fn open(path: &Path) -> Result<Archive> {
        let conn = Connection::open(path)?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;",
        )?;
        conn.execute_batch(SCHEMA)?;
        Ok(Archive {
            conn,
            staged: Vec::new(),
        })
    }

    /// An archive in memory (for tests and benchmarks).
    ///
    /// # Errors
    /// If SQLite fails.
    pub fn in_memory() -> Result<Archive> {
        let conn = Connection::open_in_memory()?;
        conn.execute_batch(SCHEMA)?;
        Ok(Archive {
            conn,
            staged: Vec::new(),
        })
    }

    /// Records a new run and returns its id.
    ///
    /// # Errors
    /// If SQLite fails.
    pub fn create_run(
        &self,
        task: &str,
        task_path: &str,
        task_text: &str,
        seed: u64,
        created: &str,
    ) -> Result<i64> {
        self.conn.execute(
            "INSERT INTO runs (task, task_path, task_text, seed, status, created) VALUES (?1, ?2, ?3, ?4, 'running', ?5)",
            params![task, task_path, task_text, seed.to_string(), created],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Records that `run` asks the proposer `command` every `every` generations.
    ///
    /// # Errors
    /// If SQLite fails.
    pub fn record_proposer(&self, run: i64, command: &str, every: u64) -> Result<()> {
        self.conn.execute(
            "INSERT OR REPLACE INTO proposers (run, command, every) VALUES (?1, ?2, ?3)",
            params![run, command, every as i64],
        )?;
        Ok(())
    }

    /// How `run` asked its proposer, if it had one.
    ///
    /// # Errors
    /// If SQLite fails.
    pub fn proposer(&self, run: i64) -> Result<Option<ProposerRow>> {
        Ok(self
            .conn
            .query_row(
                "SELECT command, every FROM proposers WHERE run = ?1",
                params![run],
                |r| {
                    Ok(ProposerRow {
                        command: r.get(0)?,
                        every: r.get::<_, i64>(1)? as u64,
                    })
                },
            )
            .optional()?)
    }

    /// Holds proposals screened after `generation` until the next
    /// [`Archive::commit_generation`], which writes them in its transaction.
    pub fn stage_proposals(&mut self, run: i64, generation: u64, records: &[Record]) {
        self.staged
            .extend(records.iter().map(|r| (run, generation, r.clone())));
    }

    /// The proposals of a run, by round and position.
    ///
    /// # Errors
    /// If SQLite fails or a row is corrupt.
    pub fn proposals(&self, run: i64) -> Result<Vec<ProposalRow>> {
        let mut stmt = self.conn.prepare(
            "SELECT generation, round, idx, parents, text, outcome, detail, error FROM proposals WHERE run = ?1 ORDER BY round, idx",
        )?;
        let rows = stmt.query_map(params![run], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, Option<String>>(6)?,
                r.get::<_, Option<f64>>(7)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (generation, round, index, parents, text, outcome, detail, error) = row?;
            out.push(ProposalRow {
                generation: generation as u64,
                record: Record {
                    round: round as u64,
                    index: index as usize,
                    parents: unjson(&parents)?,
                    text,
                    outcome,
                    detail,
                    error,
                },
            });
        }
        Ok(out)
    }

    /// The task file path and text recorded for a run.
    ///
    /// # Errors
    /// [`ErrorKind::Archive`] if there is no such run.
    pub fn task_of(&self, run: i64) -> Result<(String, String)> {
        self.conn
            .query_row(
                "SELECT task_path, task_text FROM runs WHERE id = ?1",
                params![run],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?
            .ok_or_else(|| Error::archive(format!("no run {run}")))
    }

    /// Writes one generation in one transaction: statistics, new best and
    /// correct programs (with confirmations), cache entries, the proposals
    /// staged with [`Archive::stage_proposals`], the checkpoint and the run
    /// summary.
    ///
    /// # Errors
    /// If SQLite fails; nothing of the generation is then written.
    pub fn commit_generation(
        &mut self,
        run: i64,
        stats: &GenStats,
        report: &GenReport,
        confirmations: &[String],
        snapshot: &Snapshot,
        best_text: &str,
    ) -> Result<()> {
        let staged = std::mem::take(&mut self.staged);
        let tx = self.conn.transaction()?;
        for (run, generation, r) in &staged {
            tx.execute(
                "INSERT OR REPLACE INTO proposals (run, generation, round, idx, parents, text, outcome, detail, error) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    run,
                    *generation as i64,
                    r.round as i64,
                    r.index as i64,
                    json(&r.parents)?,
                    r.text,
                    r.outcome,
                    r.detail,
                    r.error
                ],
            )?;
        }
        tx.execute(
            "INSERT OR REPLACE INTO generations (run, generation, stats) VALUES (?1, ?2, ?3)",
            params![run, stats.generation as i64, json(stats)?],
        )?;
        for (k, (text, ind)) in report.new_best.iter().enumerate() {
            tx.execute(
                "INSERT INTO programs (run, generation, kind, text, fitness, op, parents, confirmation) VALUES (?1, ?2, 'best', ?3, ?4, ?5, ?6, ?7)",
                params![
                    run,
                    stats.generation as i64,
                    text,
                    json(&ind.fitness)?,
                    ind.op.name(),
                    json(&ind.parents)?,
                    confirmations.get(k)
                ],
            )?;
        }
        for (text, f) in &report.new_correct {
            tx.execute(
                "INSERT INTO programs (run, generation, kind, text, fitness, op, parents) VALUES (?1, ?2, 'correct', ?3, ?4, '', '[]')",
                params![run, stats.generation as i64, text, json(f)?],
            )?;
        }
        for (key, f) in &report.new_cache {
            tx.execute(
                "INSERT OR REPLACE INTO cache (run, key, fitness) VALUES (?1, ?2, ?3)",
                params![run, key.to_string(), json(&SavedFitness::from(f))?],
            )?;
        }
        tx.execute(
            "INSERT OR REPLACE INTO checkpoints (run, generation, snapshot) VALUES (?1, ?2, ?3)",
            params![run, snapshot.generation as i64, json(snapshot)?],
        )?;
        tx.execute(
            "UPDATE runs SET generations = ?2, evaluations = ?3, best_error = ?4, best_text = ?5, digest = ?6 WHERE id = ?1",
            params![
                run,
                stats.generation as i64,
                stats.evaluations as i64,
                stats.best_error,
                best_text,
                format!("{:016x}", stats.digest)
            ],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Marks a run finished and records its final Pareto front.
    ///
    /// # Errors
    /// If SQLite fails.
    pub fn finish_run(
        &mut self,
        run: i64,
        generation: u64,
        reason: &str,
        front: &[(String, Fitness, String)],
    ) -> Result<()> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "DELETE FROM programs WHERE run = ?1 AND kind = 'front'",
            params![run],
        )?;
        for (text, f, confirmation) in front {
            tx.execute(
                "INSERT INTO programs (run, generation, kind, text, fitness, op, parents, confirmation) VALUES (?1, ?2, 'front', ?3, ?4, '', '[]', ?5)",
                params![run, generation as i64, text, json(f)?, confirmation],
            )?;
        }
        tx.execute(
            "UPDATE runs SET status = 'done', stop_reason = ?2 WHERE id = ?1",
            params![run, reason],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Loads what `--resume` needs.
    ///
    /// # Errors
    /// [`ErrorKind::Resume`] if the run does not exist, is finished or has no checkpoint.
    pub fn resume_state(&self, run: i64) -> Result<ResumeState> {
        let row: Option<(String, String, String)> = self
            .conn
            .query_row(
                "SELECT task_path, task_text, status FROM runs WHERE id = ?1",
                params![run],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let Some((task_path, task_text, status)) = row else {
            return Err(ErrorKind::Resume(run, "no such run".into()).into());
        };
        if status == "done" {
            return Err(ErrorKind::Resume(run, "it has finished".into()).into());
        }
        let snap: Option<String> = self
            .conn
            .query_row(
                "SELECT snapshot FROM checkpoints WHERE run = ?1",
                params![run],
                |r| r.get(0),
            )
            .optional()?;
        let snapshot: Snapshot =
            unjson(&snap.ok_or_else(|| ErrorKind::Resume(run, "no checkpoint".into()))?)?;
        let mut stmt = self
            .conn
            .prepare("SELECT key, fitness FROM cache WHERE run = ?1")?;
        let rows = stmt.query_map(params![run], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?;
        let mut cache = Vec::new();
        for row in rows {
            let (k, f) = row?;
            let key: u64 = k.parse().map_err(|_| Error::archive("corrupt cache key"))?;
            let f: SavedFitness = unjson(&f)?;
            cache.push((key, Fitness::from(&f)));
        }
        let mut stmt = self
            .conn
            .prepare("SELECT text FROM programs WHERE run = ?1 AND kind = 'correct'")?;
        let correct = stmt
            .query_map(params![run], |r| r.get(0))?
            .collect::<Result<Vec<String>, _>>()?;
        Ok(ResumeState {
            task_path,
            task_text,
            snapshot,
            cache,
            correct,
        })
    }

    /// Drops generations after `generation` (left by a run killed mid-commit
    /// of a later generation cannot exist, but a resumed run rewrites them).
    ///
    /// # Errors
    /// If SQLite fails.
    pub fn truncate_after(&self, run: i64, generation: u64) -> Result<()> {
        self.conn.execute(
            "DELETE FROM generations WHERE run = ?1 AND generation > ?2",
            params![run, generation as i64],
        )?;
        self.conn.execute(
            "DELETE FROM programs WHERE run = ?1 AND generation > ?2",
            params![run, generation as i64],
        )?;
        self.conn.execute(
            "DELETE FROM proposals WHERE run = ?1 AND generation > ?2",
            params![run, generation as i64],
        )?;
        Ok(())
    }

    /// All runs, newest first.
    ///
    /// # Errors
    /// If SQLite fails.
    pub fn runs(&self) -> Result<Vec<RunRow>> {
        let mut stmt = self.conn.prepare(
            "SELECT id, task, task_path, seed, status, stop_reason, generations, evaluations, best_error, digest, created FROM runs ORDER BY id DESC",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(RunRow {
                id: r.get(0)?,
                task: r.get(1)?,
                task_path: r.get(2)?,
                seed: r.get::<_, String>(3)?.parse().unwrap_or(0),
                status: r.get(4)?,
                stop_reason: r.get(5)?,
                generations: r.get::<_, i64>(6)? as u64,
                evaluations: r.get::<_, i64>(7)? as u64,
                best_error: r.get(8)?,
                digest: r.get(9)?,
                created: r.get(10)?,
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// One run.
    ///
    /// # Errors
    /// [`ErrorKind::Archive`] if there is no such run.
    pub fn run(&self, run: i64) -> Result<RunRow> {
        self.runs()?
            .into_iter()
            .find(|r| r.id == run)
            .ok_or_else(|| Error::archive(format!("no run {run}")))
    }

    /// The best program text of a run.
    ///
    /// # Errors
    /// If SQLite fails or the run has none.
    pub fn best_text(&self, run: i64) -> Result<String> {
        let t: Option<Option<String>> = self
            .conn
            .query_row(
                "SELECT best_text FROM runs WHERE id = ?1",
                params![run],
                |r| r.get(0),
            )
            .optional()?;
        t.flatten()
            .ok_or_else(|| Error::archive(format!("run {run} has no best program")))
    }

    /// Programs of a run of one kind (`best`, `correct`, `front`), oldest first.
    ///
    /// # Errors
    /// If SQLite fails.
    pub fn programs(&self, run: i64, kind: &str) -> Result<Vec<ProgramRow>> {
        let mut stmt = self.conn.prepare(
            "SELECT kind, generation, text, fitness, op, parents, confirmation FROM programs WHERE run = ?1 AND kind = ?2 ORDER BY id",
        )?;
        let rows = stmt.query_map(params![run, kind], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, Option<String>>(6)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (kind, generation, text, fitness, op, parents, confirmation) = row?;
            out.push(ProgramRow {
                kind,
                generation: generation as u64,
                text,
                fitness: unjson(&fitness)?,
                op,
                parents: unjson(&parents)?,
                confirmation,
            });
        }
        Ok(out)
    }

    /// The build-time optimizer's result stored under `key`: the run that
    /// made it, the program text and its fitness.
    ///
    /// # Errors
    /// If SQLite fails or the row is corrupt.
    pub fn optimized(&self, key: &str) -> Result<Option<(i64, String, Fitness)>> {
        let row: Option<(i64, String, String)> = self
            .conn
            .query_row(
                "SELECT run, text, fitness FROM optimized WHERE key = ?1",
                params![key],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        row.map(|(run, text, f)| Ok((run, text, unjson(&f)?)))
            .transpose()
    }

    /// Stores the build-time optimizer's result under `key`, replacing any.
    ///
    /// # Errors
    /// If SQLite fails.
    pub fn record_optimized(
        &self,
        key: &str,
        run: i64,
        text: &str,
        fitness: &Fitness,
    ) -> Result<()> {
        self.conn.execute(
            "INSERT OR REPLACE INTO optimized (key, run, text, fitness) VALUES (?1, ?2, ?3, ?4)",
            params![key, run, text, json(fitness)?],
        )?;
        Ok(())
    }

    /// Per-generation statistics of a run.
    ///
    /// # Errors
    /// If SQLite fails.
    pub fn generations(&self, run: i64) -> Result<Vec<GenStats>> {
        let mut stmt = self
            .conn
            .prepare("SELECT stats FROM generations WHERE run = ?1 ORDER BY generation")?;
        let rows = stmt.query_map(params![run], |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for row in rows {
            out.push(unjson(&row?)?);
        }
        Ok(out)
    }
}
