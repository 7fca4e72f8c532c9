//! The program database that chooses the parents sent to a proposer:
//! FunSearch/AlphaEvolve-shaped, a MAP-Elites grid over behaviour.
//!
//! # Descriptors
//! A program's cell ([`Descriptor`]) comes from running it, not from its text:
//! - coverage: the set of node ids that executed (nonzero [`Probes`]
//!   counters) on the first [`PROBE_CASES`] cases, hashed into
//!   [`COVERAGE_BUCKETS`] buckets;
//! - cost: `log2` of the mean cost-model cost per case (a case that stops
//!   early counts the task's whole fuel);
//! - size: `log2` of the checked program's node count.
//!
//! Each cell keeps its best program by the run's scalar fitness (lower is
//! better); a tie keeps the incumbent.
//!
//! # Sampling
//! Parents are drawn without replacement from the occupied cells, with
//! probability proportional to `exp(-s / T)` where `s` is the cell's scalar
//! normalised to `[0, 1]` over the occupied cells and `T` the temperature.
//! The RNG is a ChaCha seeded from (run seed, generation): sampling depends
//! on nothing but those and the programs inserted, so a replayed run picks
//! the same parents.
//!
//! # Reset
//! Every [`Database::reset_every`] insertions the worst quarter of the
//! occupied cells (by scalar) is dropped, so the grid does not fill with
//! stale niches.

use std::collections::BTreeMap;

use crucible_compiler::interp::{Interpreter, Probes};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::hash::{Fnv64, seed_of};
use crate::proposer::PROBE_CASES;
use crate::task::Task;

/// Buckets of the coverage signature.
pub const COVERAGE_BUCKETS: u64 = 8;

/// The cost and size buckets are capped here (`log2` beyond this is one bucket).
pub const MAX_LOG_BUCKET: u8 = 31;

/// Default insertions between resets.
pub const RESET_EVERY: u64 = 64;

/// Default sampling temperature (on scalars normalised to `[0, 1]`).
pub const TEMPERATURE: f64 = 0.2;

/// A MAP-Elites cell: behaviour measured on the probe cases.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Descriptor {
    /// Hash bucket of the set of nodes that executed.
    pub coverage: u8,
    /// `log2` of the mean cost per case.
    pub cost: u8,
    /// `log2` of the node count.
    pub size: u8,
}

/// The program kept in a cell.
#[derive(Clone, Debug, PartialEq)]
pub struct Elite {
    /// Its id in the run.
    pub id: u64,
    /// Its text.
    pub text: String,
    /// The run's scalar fitness (lower is better).
    pub scalar: f64,
}

/// Measures a program's descriptor on the first [`PROBE_CASES`] cases of the
/// task, in the reference interpreter. `None` if the text does not check or
/// lacks the task's entry.
pub fn describe(task: &Task, text: &str) -> Option<Descriptor> {
    let checked = crucible_compiler::compile_text(text).ok()?;
    let (entry, _) = checked.func(task.skeleton.entry())?;
    let interp = Interpreter::new(&checked);
    let fuel = task.fuel();
    let mut probes = Probes::new(&checked, 0);
    let mut total: u128 = 0;
    let mut n: u128 = 0;
    for args in task.cases.args.iter().take(PROBE_CASES) {
        let cost = match interp.run_with_probes(entry, args, fuel, &mut probes) {
            Ok(run) => run.cost,
            Err(_) => fuel,
        };
        total += u128::from(cost);
        n += 1;
    }
    let mean = u64::try_from(total / n.max(1)).unwrap_or(u64::MAX);
    Some(descriptor_of(&probes.counters, mean, checked.node_count()))
}

/// The descriptor from probe counters, a mean cost and a node count.
pub fn descriptor_of(counters: &[u64], mean_cost: u64, nodes: usize) -> Descriptor {
    let mut h = Fnv64::new();
    for (node, _) in counters.iter().enumerate().filter(|(_, c)| **c > 0) {
        h.write_u64(node as u64);
    }
    let log = |v: u64| (v.max(1).ilog2() as u8).min(MAX_LOG_BUCKET);
    Descriptor {
        coverage: (h.finish() % COVERAGE_BUCKETS) as u8,
        cost: log(mean_cost),
        size: log(nodes as u64),
    }
}

/// The MAP-Elites grid.
#[derive(Clone, Debug)]
pub struct Database {
    cells: BTreeMap<Descriptor, Elite>,
    /// Softmax temperature on normalised scalars; lower favours better cells more.
    pub temperature: f64,
    /// Insertions between resets of the worst quarter (0: never).
    pub reset_every: u64,
    insertions: u64,
}

impl Default for Database {
    fn default() -> Self {
        Database::new(TEMPERATURE, RESET_EVERY)
    }
}

impl Database {
    /// An empty grid.
    pub fn new(temperature: f64, reset_every: u64) -> Database {
        Database {
            cells: BTreeMap::new(),
            temperature,
            reset_every,
            insertions: 0,
        }
    }

    /// Occupied cells.
    pub fn len(&self) -> usize {
        self.cells.len()
    }

    /// Whether no cell is occupied.
    pub fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }

    /// The occupied cells, in descriptor order.
    pub fn cells(&self) -> impl Iterator<Item = (&Descriptor, &Elite)> {
        self.cells.iter()
    }

    /// Describes and inserts a program; returns whether it now holds its
    /// cell. A text that does not check is ignored.
    pub fn insert(&mut self, task: &Task, id: u64, text: &str, scalar: f64) -> bool {
        match describe(task, text) {
            Some(d) => self.insert_at(d, id, text, scalar),
            None => false,
        }
    }

    /// Inserts a program into a given cell: it takes the cell if the cell is
    /// empty or it is strictly better. Counts towards the next reset.
    pub fn insert_at(&mut self, cell: Descriptor, id: u64, text: &str, scalar: f64) -> bool {
        let scalar = if scalar.is_nan() {
            f64::INFINITY
        } else {
            scalar
        };
        let better = self.cells.get(&cell).is_none_or(|e| scalar < e.scalar);
        if better {
            self.cells.insert(
                cell,
                Elite {
                    id,
                    text: text.into(),
                    scalar,
                },
            );
        }
        self.insertions += 1;
        if self.reset_every > 0 && self.insertions.is_multiple_of(self.reset_every) {
            self.reset();
        }
        better && self.cells.contains_key(&cell)
    }

    /// Drops the worst quarter of the occupied cells (rounded down, so a grid
    /// of fewer than four cells is left alone); ties broken by descriptor.
    pub fn reset(&mut self) {
        let drop = self.cells.len() / 4;
        if drop == 0 {
            return;
        }
        let mut ranked: Vec<(Descriptor, f64)> =
            self.cells.iter().map(|(d, e)| (*d, e.scalar)).collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        for (d, _) in ranked.into_iter().take(drop) {
            self.cells.remove(&d);
        }
    }

    /// Samples up to `k` distinct elites (no two from one cell, no two with
    /// one text) by a softmax over their normalised scalars, with an RNG
    /// seeded from `(seed, generation)`. Returned best first.
    pub fn sample(&self, k: usize, seed: u64, generation: u64) -> Vec<&Elite> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed_of(&[seed, generation, 0x6d61_702d_656c]));
        let mut pool: Vec<&Elite> = self.cells.values().collect();
        let finite = pool.iter().map(|e| e.scalar).filter(|s| s.is_finite());
        let lo = finite.clone().fold(f64::INFINITY, f64::min);
        let hi = finite.fold(f64::NEG_INFINITY, f64::max);
        let span = if hi > lo { hi - lo } else { 1.0 };
        let t = self.temperature.max(1e-9);
        let weight = |e: &Elite| {
            let s = if e.scalar.is_finite() {
                (e.scalar - lo) / span
            } else {
                1.0
            };
            (-s / t).exp()
        };
        let mut out: Vec<&Elite> = Vec::new();
        while out.len() < k && !pool.is_empty() {
            let weights: Vec<f64> = pool.iter().map(|e| weight(e)).collect();
            let total: f64 = weights.iter().sum();
            let mut x = rng.random::<f64>() * total;
            let mut pick = pool.len() - 1;
            for (i, w) in weights.iter().enumerate() {
                if x < *w {
                    pick = i;
                    break;
                }
                x -= w;
            }
            let e = pool.remove(pick);
            if out.iter().all(|o| o.text != e.text) {
                out.push(e);
            }
        }
        out.sort_by(|a, b| a.scalar.total_cmp(&b.scalar).then(a.id.cmp(&b.id)));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task() -> Task {
        let toml = r#"
            name = "db"
            [program]
            signature = "fn f(x: f64) -> f64"
            [primitives]
            ops = ["+", "*"]
            [data]
            inputs = { kind = "grid", lo = -2.0, hi = 2.0, step = 0.5 }
            reference = "ref.cru"
            [fitness]
            error = "abs"
        "#;
        let dir = std::env::temp_dir().join(format!("crucible-db-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("ref.cru"), "fn f(x: f64) -> f64 { return x * x; }").unwrap();
        Task::from_text(&dir.join("db.toml"), toml).unwrap()
    }

    fn cell(i: u8) -> Descriptor {
        Descriptor {
            coverage: i % 8,
            cost: i / 8,
            size: 0,
        }
    }

    #[test]
    fn database_descriptors_follow_coverage() {
        let t = task();
        let straight = "fn f(x: f64) -> f64 { return x * x; }";
        let branchy = "fn f(x: f64) -> f64 { if x < 0.0 { return 0.0 - x; } return x; }";
        let never = "fn f(x: f64) -> f64 { if x > 100.0 { return 0.0 - x; } return x; }";
        let a = describe(&t, straight).unwrap();
        let b = describe(&t, branchy).unwrap();
        let c = describe(&t, never).unwrap();
        assert_ne!(a, b);
        // Same shape, different statements executed.
        assert_eq!(b.size, c.size);
        assert_ne!(b, c);
        let d = describe(&t, branchy).unwrap();
        assert_eq!(b, d, "deterministic");
        assert!(describe(&t, "fn f(x: f64) -> f64 { return y; }").is_none());
        // Coverage alone separates counters.
        let one = descriptor_of(&[1, 0, 1, 0], 10, 4);
        let two = descriptor_of(&[1, 1, 1, 0], 10, 4);
        let three = descriptor_of(&[5, 0, 9, 0], 10, 4);
        assert_eq!(one, three, "counts do not matter, only the set");
        assert_ne!(one.coverage, two.coverage);
        assert_eq!(descriptor_of(&[], 1024, 64).cost, 10);
        assert_eq!(descriptor_of(&[], 1024, 64).size, 6);
    }

    #[test]
    fn database_cells_keep_their_best() {
        let mut db = Database::new(1.0, 0);
        assert!(db.insert_at(cell(0), 1, "a", 5.0));
        assert!(!db.insert_at(cell(0), 2, "b", 6.0));
        assert!(!db.insert_at(cell(0), 3, "c", 5.0));
        assert!(db.insert_at(cell(0), 4, "d", 1.0));
        assert_eq!(db.len(), 1);
        assert_eq!(db.cells().next().unwrap().1.id, 4);
        let t = task();
        assert!(db.insert(&t, 9, "fn f(x: f64) -> f64 { return x; }", 0.5));
        assert!(!db.insert(&t, 10, "not a program", 0.0));
    }

    fn grid(n: u8, temperature: f64) -> Database {
        let mut db = Database::new(temperature, 0);
        for i in 0..n {
            db.insert_at(cell(i), u64::from(i), &format!("p{i}"), f64::from(i));
        }
        db
    }

    #[test]
    fn database_sampling_is_deterministic_and_follows_temperature() {
        let db = grid(16, 0.5);
        let ids = |v: Vec<&Elite>| v.iter().map(|e| e.id).collect::<Vec<_>>();
        assert_eq!(ids(db.sample(4, 7, 3)), ids(db.sample(4, 7, 3)));
        let runs: Vec<Vec<u64>> = (0..8).map(|g| ids(db.sample(4, 7, g))).collect();
        assert!(runs.iter().any(|r| *r != runs[0]), "generation matters");
        let picked = db.sample(4, 7, 3);
        assert_eq!(picked.len(), 4);
        assert!(picked.windows(2).all(|w| w[0].scalar <= w[1].scalar));
        assert_eq!(db.sample(100, 1, 1).len(), 16);
        assert!(Database::default().sample(3, 1, 1).is_empty());

        // Mean scalar of the first pick over many generations, by temperature.
        let mean_best = |temperature: f64| {
            let mut db = grid(16, temperature);
            db.temperature = temperature;
            let n = 400;
            (0..n).map(|g| db.sample(1, 11, g)[0].scalar).sum::<f64>() / n as f64
        };
        let hot = mean_best(100.0);
        let warm = mean_best(0.3);
        let cold = mean_best(0.01);
        assert!(hot > 5.0, "near uniform: {hot}");
        assert!(warm < hot, "{warm} < {hot}");
        assert!(cold < warm, "{cold} < {warm}");
        assert!(cold < 0.5, "{cold}");
    }

    #[test]
    fn database_reset_drops_the_worst_quarter() {
        let mut db = grid(8, 1.0);
        db.reset();
        let kept: Vec<u64> = db.cells().map(|(_, e)| e.id).collect();
        assert_eq!(kept.len(), 6);
        assert!(!kept.contains(&7) && !kept.contains(&6));
        let mut small = grid(3, 1.0);
        small.reset();
        assert_eq!(small.len(), 3);

        // Periodic: the 8th insertion triggers a reset.
        let mut db = Database::new(1.0, 8);
        for i in 0..7u8 {
            db.insert_at(cell(i), u64::from(i), &format!("p{i}"), f64::from(i));
        }
        assert_eq!(db.len(), 7);
        db.insert_at(cell(7), 7, "p7", 7.0);
        assert_eq!(db.len(), 6);
        assert!(db.cells().all(|(_, e)| e.id < 6));
    }
}
