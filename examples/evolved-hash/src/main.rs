//! A `HashMap` keyed by order ids, hashed by a function crucible evolved for
//! these very keys at build time (see `build.rs` and `hash.toml`).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

// `pub fn hash(key: u64) -> u64`, with a header naming the run and its fitness.
include!(concat!(env!("OUT_DIR"), "/evolved_hash.rs"));

/// A `Hasher` around the evolved function.
///
/// The task scores the top 12 bits of the result; `hashbrown` picks buckets
/// with the low bits, so `finish` rotates the scored bits down.
#[derive(Default)]
struct EvolvedHasher {
    state: u64,
}

impl Hasher for EvolvedHasher {
    fn finish(&self) -> u64 {
        self.state.rotate_left(12)
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    fn write_u64(&mut self, key: u64) {
        self.state = hash(self.state ^ key);
    }
}

type EvolvedBuildHasher = BuildHasherDefault<EvolvedHasher>;

fn main() {
    let keys: Vec<u64> = include_str!("../keys.txt")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| u64::from_str_radix(l.trim().trim_start_matches("0x"), 16).expect("hex key"))
        .collect();
    let mut orders: HashMap<u64, String, EvolvedBuildHasher> = HashMap::default();
    for (i, &k) in keys.iter().enumerate() {
        orders.insert(k, format!("order #{i}"));
    }
    println!(
        "{} orders in a HashMap with the evolved hasher",
        orders.len()
    );
    for &k in [keys[0], keys[300], keys[1023]].iter() {
        println!("  {k:#018x} -> {}", orders[&k]);
    }
    println!("  0x0000000000000000 -> {:?}", orders.get(&0));
    // Top 12 bits, as the task scores them; FxHash's multiply for comparison.
    let spread = |f: &dyn Fn(u64) -> u64| {
        let mut used = vec![false; 1 << 12];
        for &k in &keys {
            used[(f(k) >> (64 - 12)) as usize] = true;
        }
        used.iter().filter(|&&u| u).count()
    };
    println!(
        "{} keys fill {} of 4096 buckets with the evolved hash, {} with FxHash's multiply \
         (a random function: about 906)",
        keys.len(),
        spread(&hash),
        spread(&|k| k.wrapping_mul(0x517c_c1b7_2722_0a95))
    );
}
