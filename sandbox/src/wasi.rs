//! A deterministic subset of WASI preview 1, written by hand.
//!
//! # Why not wasmtime-wasi
//!
//! A key design decision: wasmtime-wasi implements preview 1 on top of the
//! component model and WASI preview 2, which needs wasmtime's
//! `component-model` feature and tokio. On our 2-core CI that roughly doubles
//! the build of the whole workspace, and it would give every guest a real
//! clock, real randomness and a filesystem layer that we would then have to
//! switch off piece by piece and trust to stay off across upgrades. A
//! stdin/stdout program needs about sixteen preview-1 functions; written here
//! against [`wasmtime::Linker::func_wrap`], each one is a few lines whose
//! behaviour is fixed by this file:
//!
//! - stdin is an in-memory buffer; reading past its end returns 0 bytes (EOF),
//!   so a guest that reads forever burns fuel and ends `out_of_fuel`;
//! - stdout and stderr are in-memory buffers capped together at
//!   [`Limits::output_bytes`](crate::Limits::output_bytes); exceeding the cap
//!   traps with [`Verdict::OutputLimit`](crate::Verdict::OutputLimit);
//! - there is no filesystem (no preopens: `fd_prestat_get` answers `EBADF`), no
//!   network, no environment variables, and one argument (`main`);
//! - the clock starts at [`CLOCK_START_NS`] and advances
//!   [`CLOCK_STEP_NS`] per reading, so time is a function of the program alone;
//! - `random_get` draws from SplitMix64 seeded with [`WasiOptions::seed`];
//! - `proc_exit` ends the run and records the exit code.
//!
//! Any other import, even from `wasi_snapshot_preview1`, is rejected at load
//! with its name. The twin of this table is the validator's import check.

use wasmtime::{Caller, Extern, Linker};

use crate::ValType::{self, I32, I64};
use crate::instance::StoreState;
use crate::verdict::{OutputExceeded, ProcExit};

/// The WASI preview-1 import module name.
pub const MODULE: &str = "wasi_snapshot_preview1";

/// Wall-clock reading of the first `clock_time_get`: 2024-01-01T00:00:00Z, in ns.
pub const CLOCK_START_NS: u64 = 1_704_067_200_000_000_000;

/// Virtual time that passes between two clock readings: 1 ms.
pub const CLOCK_STEP_NS: u64 = 1_000_000;

/// Errno `success`.
const SUCCESS: i32 = 0;
/// Errno `badf`: bad file descriptor.
const EBADF: i32 = 8;
/// Errno `fault`: bad address.
const EFAULT: i32 = 21;
/// Errno `inval`.
const EINVAL: i32 = 28;
/// Errno `spipe`: seek on a pipe.
const ESPIPE: i32 = 70;

type Sig = (&'static [ValType], &'static [ValType]);

/// The functions provided, with their preview-1 signatures.
const FUNCTIONS: &[(&str, Sig)] = &[
    ("fd_write", (&[I32, I32, I32, I32], &[I32])),
    ("fd_read", (&[I32, I32, I32, I32], &[I32])),
    ("fd_close", (&[I32], &[I32])),
    ("fd_seek", (&[I32, I64, I32, I32], &[I32])),
    ("fd_fdstat_get", (&[I32, I32], &[I32])),
    ("fd_prestat_get", (&[I32, I32], &[I32])),
    ("fd_prestat_dir_name", (&[I32, I32, I32], &[I32])),
    ("proc_exit", (&[I32], &[])),
    ("environ_sizes_get", (&[I32, I32], &[I32])),
    ("environ_get", (&[I32, I32], &[I32])),
    ("args_sizes_get", (&[I32, I32], &[I32])),
    ("args_get", (&[I32, I32], &[I32])),
    ("clock_time_get", (&[I32, I64, I32], &[I32])),
    ("clock_res_get", (&[I32, I32], &[I32])),
    ("random_get", (&[I32, I32], &[I32])),
    ("sched_yield", (&[], &[I32])),
];

/// The signature of a provided WASI function, if we provide it.
pub(crate) fn signature(name: &str) -> Option<(&'static [ValType], &'static [ValType])> {
    FUNCTIONS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, sig)| *sig)
}

/// `(i32, i32) -> i32` style text.
pub(crate) fn signature_text(params: &[ValType], results: &[ValType]) -> String {
    let list = |tys: &[ValType]| {
        tys.iter()
            .map(|t| t.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!("({}) -> ({})", list(params), list(results))
}

/// The inputs of a WASI run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WasiOptions {
    /// The whole of stdin.
    pub stdin: Vec<u8>,
    /// Seed of `random_get`.
    pub seed: u64,
}

/// What a WASI guest wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WasiOutput {
    /// Bytes written to fd 1.
    pub stdout: Vec<u8>,
    /// Bytes written to fd 2.
    pub stderr: Vec<u8>,
    /// The code passed to `proc_exit`, if it was called.
    pub exit_code: Option<i32>,
}

/// Per-store WASI state.
pub(crate) struct WasiState {
    stdin: Vec<u8>,
    stdin_pos: usize,
    rng: u64,
    clock: u64,
    output_cap: u64,
    pub(crate) output: WasiOutput,
}

impl WasiState {
    pub(crate) fn new(options: &WasiOptions, output_cap: u64) -> WasiState {
        WasiState {
            stdin: options.stdin.clone(),
            stdin_pos: 0,
            rng: options.seed,
            clock: CLOCK_START_NS,
            output_cap,
            output: WasiOutput::default(),
        }
    }

    fn next_random(&mut self) -> u64 {
        // SplitMix64 (Steele, Lea and Flood, "Fast splittable pseudorandom
        // number generators", OOPSLA 2014).
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

fn memory_and_state<'a>(
    caller: &'a mut Caller<'_, StoreState>,
) -> Option<(&'a mut [u8], &'a mut WasiState)> {
    let Some(Extern::Memory(memory)) = caller.get_export("memory") else {
        return None;
    };
    let (data, state) = memory.data_and_store_mut(caller);
    Some((data, state.wasi.as_mut()?))
}

fn read_u32(data: &[u8], addr: u32) -> Option<u32> {
    let start = usize::try_from(addr).ok()?;
    let bytes = data.get(start..start.checked_add(4)?)?;
    Some(u32::from_le_bytes(bytes.try_into().ok()?))
}

fn write_bytes(data: &mut [u8], addr: u32, bytes: &[u8]) -> Option<()> {
    let start = usize::try_from(addr).ok()?;
    data.get_mut(start..start.checked_add(bytes.len())?)?
        .copy_from_slice(bytes);
    Some(())
}

fn errno(res: Option<i32>) -> i32 {
    res.unwrap_or(EFAULT)
}

/// Collects the (address, length) pairs of an iovec array.
fn iovecs(data: &[u8], iovs: i32, n_iovs: i32) -> Option<Vec<(u32, u32)>> {
    let n_iovs = u32::try_from(n_iovs).ok()?;
    (0..n_iovs)
        .map(|i| {
            let at = (iovs as u32).checked_add(i.checked_mul(8)?)?;
            Some((read_u32(data, at)?, read_u32(data, at.checked_add(4)?)?))
        })
        .collect()
}

/// Adds the provided functions to `linker`.
pub(crate) fn add_to_linker(linker: &mut Linker<StoreState>) -> wasmtime::Result<()> {
    linker.func_wrap(
        MODULE,
        "fd_write",
        |mut caller: Caller<'_, StoreState>,
         fd: i32,
         iovs: i32,
         n_iovs: i32,
         nwritten: i32|
         -> wasmtime::Result<i32> {
            let Some((data, state)) = memory_and_state(&mut caller) else {
                return Ok(EFAULT);
            };
            if fd != 1 && fd != 2 {
                return Ok(EBADF);
            }
            let Some(list) = iovecs(data, iovs, n_iovs) else {
                return Ok(EFAULT);
            };
            let mut total: u32 = 0;
            for (addr, len) in list {
                let start = addr as usize;
                let Some(bytes) = start
                    .checked_add(len as usize)
                    .and_then(|end| data.get(start..end))
                else {
                    return Ok(EFAULT);
                };
                let written = (state.output.stdout.len() + state.output.stderr.len()) as u64;
                if written + u64::from(len) > state.output_cap {
                    return Err(wasmtime::Error::new(OutputExceeded));
                }
                let sink = if fd == 1 {
                    &mut state.output.stdout
                } else {
                    &mut state.output.stderr
                };
                sink.extend_from_slice(bytes);
                total = total.saturating_add(len);
            }
            Ok(errno(
                write_bytes(data, nwritten as u32, &total.to_le_bytes()).map(|()| SUCCESS),
            ))
        },
    )?;
    linker.func_wrap(
        MODULE,
        "fd_read",
        |mut caller: Caller<'_, StoreState>, fd: i32, iovs: i32, n_iovs: i32, nread: i32| -> i32 {
            let Some((data, state)) = memory_and_state(&mut caller) else {
                return EFAULT;
            };
            if fd != 0 {
                return EBADF;
            }
            let Some(list) = iovecs(data, iovs, n_iovs) else {
                return EFAULT;
            };
            let mut total: u32 = 0;
            for (addr, len) in list {
                let rest = &state.stdin[state.stdin_pos..];
                let n = rest.len().min(len as usize);
                if write_bytes(data, addr, &rest[..n]).is_none() {
                    return EFAULT;
                }
                state.stdin_pos += n;
                total = total.saturating_add(n as u32);
            }
            errno(write_bytes(data, nread as u32, &total.to_le_bytes()).map(|()| SUCCESS))
        },
    )?;
    linker.func_wrap(MODULE, "fd_close", |fd: i32| -> i32 {
        if (0..=2).contains(&fd) {
            SUCCESS
        } else {
            EBADF
        }
    })?;
    linker.func_wrap(
        MODULE,
        "fd_seek",
        |fd: i32, _offset: i64, _whence: i32, _out: i32| -> i32 {
            if (0..=2).contains(&fd) { ESPIPE } else { EBADF }
        },
    )?;
    linker.func_wrap(
        MODULE,
        "fd_fdstat_get",
        |mut caller: Caller<'_, StoreState>, fd: i32, out: i32| -> i32 {
            let Some((data, _)) = memory_and_state(&mut caller) else {
                return EFAULT;
            };
            if !(0..=2).contains(&fd) {
                return EBADF;
            }
            // fdstat: filetype u8 (2 = character_device), flags u16, rights u64 x2.
            let mut stat = [0u8; 24];
            stat[0] = 2;
            let rights: u64 = if fd == 0 { 1 << 1 } else { 1 << 6 };
            stat[8..16].copy_from_slice(&rights.to_le_bytes());
            errno(write_bytes(data, out as u32, &stat).map(|()| SUCCESS))
        },
    )?;
    linker.func_wrap(MODULE, "fd_prestat_get", |_fd: i32, _out: i32| -> i32 {
        EBADF
    })?;
    linker.func_wrap(
        MODULE,
        "fd_prestat_dir_name",
        |_fd: i32, _path: i32, _len: i32| -> i32 { EBADF },
    )?;
    linker.func_wrap(
        MODULE,
        "proc_exit",
        |mut caller: Caller<'_, StoreState>, code: i32| -> wasmtime::Result<()> {
            if let Some(wasi) = caller.data_mut().wasi.as_mut() {
                wasi.output.exit_code = Some(code);
            }
            Err(wasmtime::Error::new(ProcExit))
        },
    )?;
    // No environment: zero variables of zero bytes.
    for name in ["environ_sizes_get", "environ_get"] {
        let sizes = name == "environ_sizes_get";
        linker.func_wrap(
            MODULE,
            name,
            move |mut caller: Caller<'_, StoreState>, a: i32, b: i32| -> i32 {
                let Some((data, _)) = memory_and_state(&mut caller) else {
                    return EFAULT;
                };
                if !sizes {
                    return SUCCESS;
                }
                errno(
                    write_bytes(data, a as u32, &0u32.to_le_bytes())
                        .and_then(|()| write_bytes(data, b as u32, &0u32.to_le_bytes()))
                        .map(|()| SUCCESS),
                )
            },
        )?;
    }
    // One argument, `main`.
    linker.func_wrap(
        MODULE,
        "args_sizes_get",
        |mut caller: Caller<'_, StoreState>, argc: i32, size: i32| -> i32 {
            let Some((data, _)) = memory_and_state(&mut caller) else {
                return EFAULT;
            };
            errno(
                write_bytes(data, argc as u32, &1u32.to_le_bytes())
                    .and_then(|()| write_bytes(data, size as u32, &5u32.to_le_bytes()))
                    .map(|()| SUCCESS),
            )
        },
    )?;
    linker.func_wrap(
        MODULE,
        "args_get",
        |mut caller: Caller<'_, StoreState>, argv: i32, buf: i32| -> i32 {
            let Some((data, _)) = memory_and_state(&mut caller) else {
                return EFAULT;
            };
            errno(
                write_bytes(data, argv as u32, &(buf as u32).to_le_bytes())
                    .and_then(|()| write_bytes(data, buf as u32, b"main\0"))
                    .map(|()| SUCCESS),
            )
        },
    )?;
    linker.func_wrap(
        MODULE,
        "clock_time_get",
        |mut caller: Caller<'_, StoreState>, id: i32, _precision: i64, out: i32| -> i32 {
            let Some((data, state)) = memory_and_state(&mut caller) else {
                return EFAULT;
            };
            if !(0..=3).contains(&id) {
                return EINVAL;
            }
            let now = state.clock;
            state.clock = state.clock.saturating_add(CLOCK_STEP_NS);
            errno(write_bytes(data, out as u32, &now.to_le_bytes()).map(|()| SUCCESS))
        },
    )?;
    linker.func_wrap(
        MODULE,
        "clock_res_get",
        |mut caller: Caller<'_, StoreState>, id: i32, out: i32| -> i32 {
            let Some((data, _)) = memory_and_state(&mut caller) else {
                return EFAULT;
            };
            if !(0..=3).contains(&id) {
                return EINVAL;
            }
            errno(write_bytes(data, out as u32, &CLOCK_STEP_NS.to_le_bytes()).map(|()| SUCCESS))
        },
    )?;
    linker.func_wrap(
        MODULE,
        "random_get",
        |mut caller: Caller<'_, StoreState>, buf: i32, len: i32| -> i32 {
            let Some((data, state)) = memory_and_state(&mut caller) else {
                return EFAULT;
            };
            let start = buf as u32 as usize;
            let Some(out) = start
                .checked_add(len as u32 as usize)
                .and_then(|end| data.get_mut(start..end))
            else {
                return EFAULT;
            };
            for chunk in out.chunks_mut(8) {
                let word = state.next_random().to_le_bytes();
                chunk.copy_from_slice(&word[..chunk.len()]);
            }
            SUCCESS
        },
    )?;
    linker.func_wrap(MODULE, "sched_yield", || -> i32 { SUCCESS })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_function_has_a_signature() {
        assert_eq!(
            signature("fd_write").map(|(p, r)| signature_text(p, r)),
            Some("(i32, i32, i32, i32) -> (i32)".to_string())
        );
        assert!(signature("path_open").is_none());
    }

    #[test]
    fn random_is_seeded() {
        let options = WasiOptions {
            stdin: Vec::new(),
            seed: 7,
        };
        let mut a = WasiState::new(&options, 0);
        let mut b = WasiState::new(&options, 0);
        assert_eq!(a.next_random(), b.next_random());
    }
}
