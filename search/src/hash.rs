//! A fixed, portable hash (FNV-1a, 64 bits) for run digests, cache keys and
//! per-individual seeds: never `RandomState`, whose keys change per process.

/// FNV-1a over bytes (Fowler–Noll–Vo; offset basis and prime from the spec).
#[derive(Clone, Copy, Debug)]
pub struct Fnv64(u64);

impl Default for Fnv64 {
    fn default() -> Fnv64 {
        Fnv64::new()
    }
}

impl Fnv64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;

    /// A fresh hasher.
    pub fn new() -> Fnv64 {
        Fnv64(Fnv64::OFFSET)
    }

    /// Resumes from a saved state.
    pub fn from_state(state: u64) -> Fnv64 {
        Fnv64(state)
    }

    /// Hashes bytes.
    pub fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(Fnv64::PRIME);
        }
    }

    /// Hashes a `u64` as little-endian bytes.
    pub fn write_u64(&mut self, v: u64) {
        self.write(&v.to_le_bytes());
    }

    /// The hash so far.
    pub fn finish(&self) -> u64 {
        self.0
    }
}

/// Hash of two words.
pub fn fnv64_pair(a: u64, b: u64) -> u64 {
    let mut h = Fnv64::new();
    h.write_u64(a);
    h.write_u64(b);
    h.finish()
}

/// A well-mixed 64-bit seed from parts (FNV then the murmur3 finaliser, so
/// neighbouring inputs give unrelated seeds).
pub fn seed_of(parts: &[u64]) -> u64 {
    let mut h = Fnv64::new();
    for p in parts {
        h.write_u64(*p);
    }
    let mut x = h.finish();
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^ (x >> 33)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_matches_the_reference_vector() {
        let mut h = Fnv64::new();
        h.write(b"a");
        assert_eq!(h.finish(), 0xaf63_dc4c_8601_ec8c);
    }
}
