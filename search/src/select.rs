//! Parent selection and survivor selection: tournament, ε-lexicase, NSGA-II.
//!
//! Each selector takes the RNG as its first argument and reads the population
//! only, so offspring can be bred in parallel, each with its own RNG.

use std::cmp::Ordering;

use rand::Rng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::fitness::{Fitness, Order};

/// Tournament of `k`: the best of `k` uniformly drawn individuals.
pub fn tournament(rng: &mut ChaCha8Rng, pop: &[&Fitness], k: usize, order: &Order) -> usize {
    let mut best = rng.random_range(0..pop.len());
    for _ in 1..k.max(1) {
        let c = rng.random_range(0..pop.len());
        if order.cmp(pop[c], pop[best]) == Ordering::Less {
            best = c;
        }
    }
    best
}

/// Per-case ε for ε-lexicase: the median absolute deviation of each case's
/// errors over the population (La Cava, Spector and Danai, GECCO 2016).
pub fn lexicase_epsilons(pop: &[&Fitness]) -> Vec<f64> {
    let n_cases = pop.first().map_or(0, |f| f.cases.len());
    (0..n_cases)
        .map(|c| {
            let mut v: Vec<f64> = pop.iter().map(|f| f.cases[c]).collect();
            let med = median(&mut v);
            let mut dev: Vec<f64> = v.iter().map(|x| (x - med).abs()).collect();
            median(&mut dev)
        })
        .collect()
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() { 0.0 } else { v[v.len() / 2] }
}

/// ε-lexicase selection: filter the population case by case, in random order,
/// keeping those within ε of the best on the case.
pub fn lexicase(rng: &mut ChaCha8Rng, pop: &[&Fitness], eps: &[f64]) -> usize {
    let mut alive: Vec<usize> = (0..pop.len()).collect();
    let mut order: Vec<usize> = (0..eps.len()).collect();
    order.shuffle(rng);
    for c in order {
        if alive.len() <= 1 {
            break;
        }
        let best = alive
            .iter()
            .map(|&i| pop[i].cases[c])
            .fold(f64::INFINITY, f64::min);
        alive.retain(|&i| pop[i].cases[c] <= best + eps[c]);
    }
    alive[rng.random_range(0..alive.len())]
}

fn objectives(f: &Fitness) -> [f64; 3] {
    [f.error, f.cost, f64::from(f.size)]
}

fn dominates(a: &Fitness, b: &Fitness) -> bool {
    let (x, y) = (objectives(a), objectives(b));
    x.iter().zip(&y).all(|(p, q)| p <= q) && x.iter().zip(&y).any(|(p, q)| p < q)
}

/// NSGA-II ranks (0 = first front) and crowding distances (Deb et al., 2002).
pub fn nsga2_rank(pop: &[&Fitness]) -> (Vec<usize>, Vec<f64>) {
    let n = pop.len();
    let mut rank = vec![usize::MAX; n];
    let mut dominated_by = vec![0usize; n];
    let mut dominates_list: Vec<Vec<usize>> = vec![Vec::new(); n];
    for i in 0..n {
        for j in 0..n {
            if i != j && dominates(pop[i], pop[j]) {
                dominates_list[i].push(j);
            } else if i != j && dominates(pop[j], pop[i]) {
                dominated_by[i] += 1;
            }
        }
    }
    let mut front: Vec<usize> = (0..n).filter(|&i| dominated_by[i] == 0).collect();
    let mut r = 0;
    let mut crowd = vec![0.0; n];
    while !front.is_empty() {
        for &i in &front {
            rank[i] = r;
        }
        for m in 0..3 {
            let mut f = front.clone();
            f.sort_by(|&a, &b| {
                objectives(pop[a])[m]
                    .total_cmp(&objectives(pop[b])[m])
                    .then(a.cmp(&b))
            });
            let lo = objectives(pop[f[0]])[m];
            let hi = objectives(pop[*f.last().expect("non-empty front")])[m];
            crowd[f[0]] = f64::INFINITY;
            crowd[*f.last().expect("non-empty front")] = f64::INFINITY;
            if hi > lo {
                for w in 1..f.len().saturating_sub(1) {
                    let d =
                        (objectives(pop[f[w + 1]])[m] - objectives(pop[f[w - 1]])[m]) / (hi - lo);
                    crowd[f[w]] += d;
                }
            }
        }
        let mut next = Vec::new();
        for &i in &front {
            for &j in &dominates_list[i] {
                dominated_by[j] -= 1;
                if dominated_by[j] == 0 {
                    next.push(j);
                }
            }
        }
        next.sort_unstable();
        front = next;
        r += 1;
    }
    (rank, crowd)
}

/// Crowded binary tournament on NSGA-II rank and crowding.
pub fn crowded_tournament(rng: &mut ChaCha8Rng, rank: &[usize], crowd: &[f64]) -> usize {
    let a = rng.random_range(0..rank.len());
    let b = rng.random_range(0..rank.len());
    match rank[a].cmp(&rank[b]) {
        Ordering::Less => a,
        Ordering::Greater => b,
        Ordering::Equal => {
            if crowd[b] > crowd[a] {
                b
            } else {
                a
            }
        }
    }
}

/// NSGA-II survivor selection: the indices of the `mu` survivors, best fronts
/// first, the last front cut by crowding distance.
pub fn nsga2_survivors(pop: &[&Fitness], mu: usize) -> Vec<usize> {
    let (rank, crowd) = nsga2_rank(pop);
    let mut idx: Vec<usize> = (0..pop.len()).collect();
    idx.sort_by(|&a, &b| {
        rank[a]
            .cmp(&rank[b])
            .then(crowd[b].total_cmp(&crowd[a]))
            .then(a.cmp(&b))
    });
    idx.truncate(mu);
    idx
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    fn fit(error: f64, cost: f64, size: u32) -> Fitness {
        Fitness {
            error,
            cost,
            size,
            hits: 0,
            cases: vec![error],
            stages: 1,
            verdict: None,
        }
    }

    #[test]
    fn first_front_is_the_nondominated_set() {
        let pop = [
            fit(1.0, 5.0, 3),
            fit(2.0, 1.0, 3),
            fit(3.0, 6.0, 4),
            fit(1.0, 5.0, 2),
        ];
        let refs: Vec<&Fitness> = pop.iter().collect();
        let (rank, _) = nsga2_rank(&refs);
        assert_eq!(rank, vec![1, 0, 2, 0]);
        assert_eq!(nsga2_survivors(&refs, 2), vec![1, 3]);
    }

    #[test]
    fn lexicase_picks_a_specialist() {
        let a = Fitness {
            cases: vec![0.0, 9.0],
            ..fit(9.0, 0.0, 1)
        };
        let b = Fitness {
            cases: vec![9.0, 0.0],
            ..fit(9.0, 0.0, 1)
        };
        let c = Fitness {
            cases: vec![5.0, 5.0],
            ..fit(10.0, 0.0, 1)
        };
        let refs = [&a, &b, &c];
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for _ in 0..20 {
            assert_ne!(lexicase(&mut rng, &refs, &[0.0, 0.0]), 2);
        }
    }
}
