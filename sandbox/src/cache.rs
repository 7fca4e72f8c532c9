//! The compiled-module cache: a bounded in-memory LRU and an optional disk cache.
//!
//! Keys hash the module bytes together with the engine fingerprint (wasmtime
//! version, its compatibility hash, and our configuration), so a change of
//! engine never reuses an artifact. Entries keep the module bytes and a hit
//! compares them in full, so a hash collision can only cost a recompilation.
//!
//! On disk each entry is one file, `<key>.crucible-cwasm`:
//!
//! ```text
//! magic "CRUCWASM" | format u32 | fingerprint u64 | wasm_len u64 | wasm bytes
//!   | artifact_len u64 | artifact bytes | checksum u64 (of everything before)
//! ```
//!
//! `wasmtime::Module::deserialize` runs the artifact's machine code
//! unchecked, so a file is deserialized only if its checksum, fingerprint and
//! wasm bytes all match; anything else (truncation, bit flips, a file from
//! another engine) is recompiled and overwritten. The checksum guards against
//! corruption, not against an attacker who can write the cache directory:
//! such an attacker can also replace this program, so the cache directory must
//! be private to the user running it.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::Mutex;

use crate::error::{ErrorKind, Result};

const MAGIC: &[u8; 8] = b"CRUCWASM";
const FORMAT: u32 = 1;
const CHECKSUM_SEED: u64 = 0x000c_4ec5;

/// Counters of the module cache.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Loads answered from memory.
    pub memory_hits: u64,
    /// Loads answered from disk.
    pub disk_hits: u64,
    /// Disk files rejected as corrupted or stale (and then rewritten).
    pub disk_rejected: u64,
    /// Modules compiled.
    pub compiles: u64,
}

/// A cache key: 128 bits of two differently-seeded SipHash runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Key(u64, u64);

impl Key {
    pub(crate) fn new(fingerprint: u64, bytes: &[u8]) -> Key {
        Key(
            hash64(0x5eed_0001 ^ fingerprint, bytes),
            hash64(0x5eed_0002 ^ fingerprint, bytes),
        )
    }

    fn file_name(&self) -> String {
        format!("{:016x}{:016x}.crucible-cwasm", self.0, self.1)
    }
}

fn hash64(seed: u64, bytes: &[u8]) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    seed.hash(&mut h);
    bytes.hash(&mut h);
    h.finish()
}

struct Entry {
    bytes: Arc<[u8]>,
    value: crate::module::Module,
    last_used: u64,
}

struct Lru {
    entries: HashMap<Key, Entry>,
    clock: u64,
    stats: CacheStats,
}

pub(crate) struct ModuleCache {
    capacity: usize,
    dir: Option<PathBuf>,
    lru: Mutex<Lru>,
}

impl ModuleCache {
    pub(crate) fn new(capacity: usize, dir: Option<PathBuf>) -> Result<ModuleCache> {
        if let Some(dir) = &dir {
            std::fs::create_dir_all(dir).map_err(|e| ErrorKind::Cache {
                path: dir.display().to_string(),
                message: e.to_string(),
            })?;
        }
        Ok(ModuleCache {
            capacity,
            dir,
            lru: Mutex::new(Lru {
                entries: HashMap::new(),
                clock: 0,
                stats: CacheStats::default(),
            }),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Lru> {
        // A panic while holding the lock leaves the map consistent (every
        // mutation is a single insert or remove), so poisoning is ignored.
        self.lru.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn stats(&self) -> CacheStats {
        self.lock().stats
    }

    pub(crate) fn get(&self, key: Key, bytes: &[u8]) -> Option<crate::module::Module> {
        let mut lru = self.lock();
        lru.clock += 1;
        let now = lru.clock;
        let entry = lru.entries.get_mut(&key)?;
        if *entry.bytes != *bytes {
            return None;
        }
        entry.last_used = now;
        let value = entry.value.clone();
        lru.stats.memory_hits += 1;
        Some(value)
    }

    pub(crate) fn insert(&self, key: Key, bytes: Arc<[u8]>, value: crate::module::Module) {
        if self.capacity == 0 {
            return;
        }
        let mut lru = self.lock();
        lru.clock += 1;
        let last_used = lru.clock;
        if lru.entries.len() >= self.capacity && !lru.entries.contains_key(&key) {
            // O(n) eviction; n is a thousand or so and evictions follow a compile
            // that costs a millisecond, so a linked list is not worth it.
            if let Some(oldest) = lru
                .entries
                .iter()
                .min_by_key(|(_, e)| e.last_used)
                .map(|(k, _)| *k)
            {
                lru.entries.remove(&oldest);
            }
        }
        lru.entries.insert(
            key,
            Entry {
                bytes,
                value,
                last_used,
            },
        );
    }

    pub(crate) fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    pub(crate) fn note_disk(&self, hit: bool) {
        let mut lru = self.lock();
        if hit {
            lru.stats.disk_hits += 1;
        } else {
            lru.stats.disk_rejected += 1;
        }
    }
}

/// Path of the disk entry for `key`.
pub(crate) fn disk_path(dir: &Path, key: Key) -> PathBuf {
    dir.join(key.file_name())
}

/// Encodes a disk entry.
pub(crate) fn encode(fingerprint: u64, wasm: &[u8], artifact: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(48 + wasm.len() + artifact.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT.to_le_bytes());
    out.extend_from_slice(&fingerprint.to_le_bytes());
    out.extend_from_slice(&(wasm.len() as u64).to_le_bytes());
    out.extend_from_slice(wasm);
    out.extend_from_slice(&(artifact.len() as u64).to_le_bytes());
    out.extend_from_slice(artifact);
    let checksum = hash64(CHECKSUM_SEED, &out);
    out.extend_from_slice(&checksum.to_le_bytes());
    out
}

/// Decodes a disk entry, returning the artifact if every check passes.
pub(crate) fn decode<'a>(file: &'a [u8], fingerprint: u64, wasm: &[u8]) -> Option<&'a [u8]> {
    let (body, checksum) = file.split_at_checked(file.len().checked_sub(8)?)?;
    if hash64(CHECKSUM_SEED, body).to_le_bytes() != checksum {
        return None;
    }
    let mut rest = body.strip_prefix(MAGIC)?;
    let mut take = |n: usize| -> Option<&'a [u8]> {
        let (head, tail) = rest.split_at_checked(n)?;
        rest = tail;
        Some(head)
    };
    let format = u32::from_le_bytes(take(4)?.try_into().ok()?);
    let stored_fingerprint = u64::from_le_bytes(take(8)?.try_into().ok()?);
    if format != FORMAT || stored_fingerprint != fingerprint {
        return None;
    }
    let wasm_len = usize::try_from(u64::from_le_bytes(take(8)?.try_into().ok()?)).ok()?;
    if take(wasm_len)? != wasm {
        return None;
    }
    let artifact_len = usize::try_from(u64::from_le_bytes(take(8)?.try_into().ok()?)).ok()?;
    let artifact = take(artifact_len)?;
    rest.is_empty().then_some(artifact)
}

/// Writes `contents` to `path` atomically (temporary file, then rename), so a
/// concurrent reader sees the old file or the new one, never half of one.
pub(crate) fn write_atomic(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, contents)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disk_format_round_trips_and_rejects_damage() {
        let file = encode(7, b"wasm", b"artifact");
        assert_eq!(decode(&file, 7, b"wasm"), Some(&b"artifact"[..]));
        assert_eq!(decode(&file, 8, b"wasm"), None, "other engine");
        assert_eq!(decode(&file, 7, b"wasn"), None, "other module");
        for i in 0..file.len() {
            let mut bad = file.clone();
            bad[i] ^= 0x10;
            assert_eq!(decode(&bad, 7, b"wasm"), None, "flipped byte {i}");
        }
        for len in 0..file.len() {
            assert_eq!(decode(&file[..len], 7, b"wasm"), None, "truncated to {len}");
        }
    }

    #[test]
    fn keys_depend_on_fingerprint() {
        assert_ne!(Key::new(1, b"x"), Key::new(2, b"x"));
        assert_eq!(Key::new(1, b"x"), Key::new(1, b"x"));
    }
}
