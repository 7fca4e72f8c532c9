//! Reader of the probe buffer that Crucible's compiler emits.
//!
//! This is the host half of a contract; the guest half is written by
//! `compiler/src/wasm.rs`, and the constants below mirror that file (keep them
//! in sync; a root `tests/` test checks the two agree). The layout:
//!
//! - The module exports an `i32` global [`GLOBAL`] holding the address of a
//!   header in its exported memory `memory`.
//! - The header is seven little-endian `u32`s: [`MAGIC`] (`"CRPB"`),
//!   [`VERSION`], `n_counters`, `trace_capacity`, `trace_len` (trace records
//!   attempted, which may exceed the capacity: records past it were dropped),
//!   `counters_offset`, `trace_offset`.
//! - Counters: `n_counters` little-endian `u64`s at `counters_offset`; counter
//!   `i` counts executions of the IR node with id `i`.
//! - Trace: `trace_capacity` records of [`TRACE_RECORD_BYTES`] at
//!   `trace_offset`: `node_id: u32`, reserved `u32` (0), `value: u64` (raw bits,
//!   zero-extended).
//!
//! The sandbox knows nothing of IR nodes: it hands back numbers.

use crate::error::{Error, ErrorKind, Result};

/// Name of the exported global holding the header address.
pub const GLOBAL: &str = "crucible_probes";
/// Header magic, `"CRPB"` read as a little-endian `u32`.
pub const MAGIC: u32 = 0x4250_5243;
/// Layout version.
pub const VERSION: u32 = 1;
/// Size of the header: seven `u32`s.
pub const HEADER_BYTES: u32 = 28;
/// Size of one trace record.
pub const TRACE_RECORD_BYTES: u32 = 16;
/// Byte offset of `trace_len` in the header (the field `reset` zeroes).
pub const TRACE_LEN_OFFSET: u32 = 16;

/// The probes of one or more calls.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ProbeReport {
    /// Execution count per IR node id.
    pub counters: Vec<u64>,
    /// `(node_id, value bits)` in execution order, at most `trace_capacity`.
    pub trace: Vec<(u32, u64)>,
    /// Records attempted past the capacity.
    pub trace_dropped: u64,
}

pub(crate) fn malformed(message: impl Into<String>) -> Error {
    ErrorKind::Probes {
        message: message.into(),
    }
    .into()
}

struct Header {
    n_counters: u32,
    trace_capacity: u32,
    trace_len: u32,
    counters_offset: u32,
    trace_offset: u32,
}

fn slice(memory: &[u8], offset: u32, len: u64) -> Result<&[u8]> {
    let start = offset as usize;
    let end = u64::from(offset)
        .checked_add(len)
        .and_then(|end| usize::try_from(end).ok())
        .filter(|end| *end <= memory.len())
        .ok_or_else(|| {
            malformed(format!(
                "{len} bytes at {offset:#x} are outside memory ({} bytes)",
                memory.len()
            ))
        })?;
    Ok(&memory[start..end])
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    u64::from(u32_at(bytes, at)) | (u64::from(u32_at(bytes, at + 4)) << 32)
}

fn header(memory: &[u8], addr: u32) -> Result<Header> {
    let raw = slice(memory, addr, HEADER_BYTES.into())?;
    let magic = u32_at(raw, 0);
    if magic != MAGIC {
        return Err(malformed(format!("bad magic {magic:#x} at {addr:#x}")));
    }
    let version = u32_at(raw, 4);
    if version != VERSION {
        return Err(malformed(format!("unsupported version {version}")));
    }
    Ok(Header {
        n_counters: u32_at(raw, 8),
        trace_capacity: u32_at(raw, 12),
        trace_len: u32_at(raw, 16),
        counters_offset: u32_at(raw, 20),
        trace_offset: u32_at(raw, 24),
    })
}

pub(crate) fn read(memory: &[u8], addr: u32) -> Result<ProbeReport> {
    let h = header(memory, addr)?;
    let counters = slice(memory, h.counters_offset, u64::from(h.n_counters) * 8)?;
    let counters = (0..h.n_counters as usize)
        .map(|i| u64_at(counters, 8 * i))
        .collect();
    let kept = h.trace_len.min(h.trace_capacity);
    let trace = slice(
        memory,
        h.trace_offset,
        u64::from(kept) * u64::from(TRACE_RECORD_BYTES),
    )?;
    let trace = (0..kept as usize)
        .map(|i| {
            let at = i * TRACE_RECORD_BYTES as usize;
            (u32_at(trace, at), u64_at(trace, at + 8))
        })
        .collect();
    Ok(ProbeReport {
        counters,
        trace,
        trace_dropped: u64::from(h.trace_len - kept),
    })
}

pub(crate) fn reset(memory: &mut [u8], addr: u32) -> Result<()> {
    let h = header(memory, addr)?;
    let start = h.counters_offset as usize;
    slice(memory, h.counters_offset, u64::from(h.n_counters) * 8)?;
    memory[start..start + h.n_counters as usize * 8].fill(0);
    let at = (addr + TRACE_LEN_OFFSET) as usize;
    memory[at..at + 4].fill(0);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lays out a buffer by hand: header at 8, 2 counters at 64, capacity-1 trace at 96.
    fn buffer() -> Vec<u8> {
        let mut m = vec![0u8; 256];
        let fields = [MAGIC, VERSION, 2, 1, 3, 64, 96];
        for (i, f) in fields.iter().enumerate() {
            m[8 + 4 * i..12 + 4 * i].copy_from_slice(&f.to_le_bytes());
        }
        m[64..72].copy_from_slice(&5u64.to_le_bytes());
        m[72..80].copy_from_slice(&7u64.to_le_bytes());
        m[96..100].copy_from_slice(&1u32.to_le_bytes());
        m[104..112].copy_from_slice(&42u64.to_le_bytes());
        m
    }

    #[test]
    fn reads_counters_and_trace() {
        let report = read(&buffer(), 8).unwrap();
        assert_eq!(report.counters, vec![5, 7]);
        assert_eq!(report.trace, vec![(1, 42)]);
        assert_eq!(report.trace_dropped, 2);
    }

    #[test]
    fn reset_zeroes_counters_and_trace_len() {
        let mut m = buffer();
        reset(&mut m, 8).unwrap();
        let report = read(&m, 8).unwrap();
        assert_eq!(report.counters, vec![0, 0]);
        assert!(report.trace.is_empty());
        assert_eq!(report.trace_dropped, 0);
    }

    #[test]
    fn rejects_bad_magic_and_out_of_bounds() {
        let mut m = buffer();
        m[8] ^= 1;
        assert!(read(&m, 8).is_err());
        assert!(read(&buffer(), 250).is_err());
        let mut m = buffer();
        m[28..32].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(read(&m, 8).is_err(), "counters out of bounds");
    }
}
