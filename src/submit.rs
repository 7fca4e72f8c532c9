//! Compiling single-file Rust and C submissions to Wasm with the machine's own
//! toolchains, for `crucible grade`.
//!
//! A submission is one source file that defines the task's entry as an
//! exported C-ABI function (see the README, "Grading Rust and C"). It is
//! copied into a fresh temporary directory and compiled there by `rustc`
//! (`--target wasm32-unknown-unknown`, no crates, no build scripts) or
//! `clang` (`--target=wasm32`, `-nostdlib`, linked by `wasm-ld`), with a
//! wall-clock time limit enforced by killing the compiler's process group.
//! The resulting module is then graded like any other: the compiler is the
//! only code from the submission that runs outside the sandbox, and it runs
//! the submission's text, never its code.
//!
//! Design decision: compile-time file and environment access is closed off
//! rather than sandboxed. A compiler happily reads any file a submission
//! names (`include_str!`, `#[path]`, `#include "/etc/…"`) and the compiler's
//! error messages, which we hand back, may quote it. So sources naming those
//! features are refused before the compiler runs (a word-level scan that errs
//! on the side of refusing), and the compiler runs with a cleared environment
//! so `env!` sees only `PATH` and the toolchain's own variables.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;

/// Wall-clock limit on one compilation, including linking.
///
/// A cold `rustc` run on a small submission takes about half a second on the
/// 2-core CI machine; a minute leaves room for a loaded machine while still
/// stopping compile-time bombs (endless `const` evaluation, macro recursion).
pub const COMPILE_TIMEOUT: Duration = Duration::from_secs(60);

/// Longest compiler message kept in a `compile_error` report, in bytes.
pub const MAX_MESSAGE: usize = 8 * 1024;

/// Largest source file accepted, in bytes.
pub const MAX_SOURCE: usize = 1024 * 1024;

/// The source languages compiled by this module.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Language {
    /// `.rs`, compiled by `rustc`.
    Rust,
    /// `.c`, compiled by `clang` and linked by `wasm-ld`.
    C,
}

impl Language {
    /// The language of a file extension (`rs` or `c`), if it is one of ours.
    pub fn from_extension(ext: &str) -> Option<Language> {
        match ext {
            "rs" => Some(Language::Rust),
            "c" => Some(Language::C),
            _ => None,
        }
    }
}

/// Limits on one compilation.
#[derive(Clone, Debug)]
pub struct CompileLimits {
    /// Wall-clock limit; see [`COMPILE_TIMEOUT`].
    pub timeout: Duration,
}

/// Why a submission did not become a module: the submission's fault, reported
/// as a `compile_error` verdict with this message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected(pub String);

/// Compiles a submission's `source` (read from `path`, whose file name is used
/// in the compiler's messages) to Wasm bytes.
///
/// # Errors
///
/// The outer `Err` is a host failure (no temporary directory, cannot spawn a
/// process for a reason other than a missing compiler). The inner `Err` is
/// the submission's: a compile error with the compiler's message, a refused
/// source, a timeout, or a compiler that is not installed.
pub fn compile(
    lang: Language,
    path: &Path,
    source: &[u8],
    limits: &CompileLimits,
) -> anyhow::Result<Result<Vec<u8>, Rejected>> {
    if source.len() > MAX_SOURCE {
        return Ok(Err(Rejected(format!(
            "source is {} bytes, over the limit of {MAX_SOURCE}",
            source.len()
        ))));
    }
    let Ok(text) = std::str::from_utf8(source) else {
        return Ok(Err(Rejected("source is not UTF-8 text".into())));
    };
    if let Err(why) = screen(lang, text) {
        return Ok(Err(Rejected(why)));
    }
    let dir = TempDir::new()?;
    let file_name = match lang {
        Language::Rust => "submission.rs",
        Language::C => "submission.c",
    };
    // Messages name the submission by its own file name, not the temp copy.
    let shown_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| file_name.to_string());
    let shown_name = if shown_name.ends_with(&format!(".{}", extension(lang))) {
        shown_name
    } else {
        file_name.to_string()
    };
    std::fs::write(dir.path().join(&shown_name), source)
        .with_context(|| format!("writing {}", dir.path().display()))?;
    let mut cmd = match lang {
        Language::Rust => {
            let mut cmd = Command::new("rustc");
            cmd.args([
                "--target",
                "wasm32-unknown-unknown",
                "--crate-type",
                "cdylib",
                "-C",
                "opt-level=1",
                "-C",
                "panic=abort",
                "--edition",
                "2021",
                "--color",
                "never",
                "-o",
                "out.wasm",
            ])
            .arg(&shown_name);
            cmd
        }
        Language::C => {
            let mut cmd = Command::new("clang");
            cmd.args([
                "--target=wasm32",
                "-nostdlib",
                "-nostdlibinc",
                "-O1",
                "-fno-color-diagnostics",
                "-Wl,--no-entry",
                "-Wl,--export-dynamic",
                "-o",
                "out.wasm",
            ])
            .arg(&shown_name);
            cmd
        }
    };
    cmd.current_dir(dir.path())
        .env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for var in [
        "PATH",
        "HOME",
        "RUSTUP_HOME",
        "CARGO_HOME",
        "RUSTUP_TOOLCHAIN",
    ] {
        if let Some(value) = std::env::var_os(var) {
            cmd.env(var, value);
        }
    }
    cmd.env("TMPDIR", dir.path());
    // A group of its own, so a timeout kills the linker the compiler spawned too.
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let program = match lang {
        Language::Rust => "rustc",
        Language::C => "clang",
    };
    let child = match cmd.spawn() {
        Ok(child) => child,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Err(Rejected(format!("{program} not found"))));
        }
        Err(err) => return Err(err).with_context(|| format!("running {program}")),
    };
    let (status, stderr) = match wait_with_timeout(child, limits.timeout)? {
        Some(done) => done,
        None => {
            return Ok(Err(Rejected(format!(
                "{program} did not finish within {} s",
                limits.timeout.as_secs_f64()
            ))));
        }
    };
    let out = dir.path().join("out.wasm");
    if !status.success() || !out.is_file() {
        let mut message = stderr.trim_end().to_string();
        if message.is_empty() {
            message = format!("{program} failed ({status})");
        }
        if message.len() > MAX_MESSAGE {
            let mut cut = MAX_MESSAGE;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push_str("\n… (truncated)");
        }
        return Ok(Err(Rejected(message)));
    }
    let bytes = std::fs::read(&out).with_context(|| format!("reading {}", out.display()))?;
    Ok(Ok(bytes))
}

fn extension(lang: Language) -> &'static str {
    match lang {
        Language::Rust => "rs",
        Language::C => "c",
    }
}

/// Refuses sources that would make the compiler read host files.
///
/// A word-level scan: Rust may not name `include`, `include_str`,
/// `include_bytes` or `path` (the `#[path]` attribute) anywhere, comments
/// included; C may only use `#include <NAME.h>` of freestanding headers and
/// may not name `include`, `import` or `embed` anywhere else. Refusing a
/// harmless comment is the price of not parsing the source here.
fn screen(lang: Language, text: &str) -> Result<(), String> {
    // Line splices would let a directive hide across lines.
    let spliced = text.replace("\\\r\n", "").replace("\\\n", "");
    let (banned, allowed_lines): (&[&str], &[&str]) = match lang {
        Language::Rust => (&["include", "include_str", "include_bytes", "path"], &[]),
        Language::C => (
            &["include", "import", "embed", "include_next"],
            &[
                "#include <stdint.h>",
                "#include <stddef.h>",
                "#include <stdbool.h>",
                "#include <limits.h>",
                "#include <float.h>",
                "#include <stdarg.h>",
            ],
        ),
    };
    for (line_idx, line) in spliced.lines().enumerate() {
        if allowed_lines.contains(&line.trim()) {
            continue;
        }
        let mut words = line.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'));
        if let Some(word) = words.find(|w| banned.contains(w)) {
            return Err(format!(
                "line {}: `{word}` is not allowed in a submission (it would let the \
                 compiler read host files); C may include only <stdint.h>, <stddef.h>, \
                 <stdbool.h>, <limits.h>, <float.h> and <stdarg.h>",
                line_idx + 1
            ));
        }
    }
    Ok(())
}

/// Waits for `child`, reading its stderr, and kills its process group after
/// `timeout`. `None` means it was killed.
fn wait_with_timeout(
    mut child: Child,
    timeout: Duration,
) -> anyhow::Result<Option<(std::process::ExitStatus, String)>> {
    // Drain stderr on a thread so a chatty compiler cannot block on a full pipe.
    let mut stderr = child.stderr.take().context("compiler stderr")?;
    let reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        // Keep a bounded prefix, but read everything so the pipe never fills.
        let mut chunk = [0u8; 8192];
        while let Ok(n) = stderr.read(&mut chunk) {
            if n == 0 {
                break;
            }
            if buf.len() < 4 * MAX_MESSAGE {
                buf.extend_from_slice(&chunk[..n]);
            }
        }
        String::from_utf8_lossy(&buf).into_owned()
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().context("waiting for the compiler")? {
            break Some(status);
        }
        if Instant::now() >= deadline {
            kill_group(&mut child);
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let stderr = reader.join().unwrap_or_default();
    Ok(status.map(|s| (s, stderr)))
}

/// Kills the child's whole process group (it leads one: see `process_group(0)`).
///
/// `std` has no `killpg`, and the workspace denies `unsafe`, so this asks
/// `kill(1)`; the child itself is killed directly either way.
fn kill_group(child: &mut Child) {
    let group = format!("-{}", child.id());
    let _ = Command::new("kill")
        .args(["-KILL", "--", &group])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let _ = child.kill();
    let _ = child.wait();
}

/// A fresh directory under the system temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> anyhow::Result<TempDir> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let base = std::env::temp_dir();
        for _ in 0..100 {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0);
            let path = base.join(format!(
                "crucible-submit-{}-{n}-{nanos:x}",
                std::process::id()
            ));
            match std::fs::create_dir(&path) {
                Ok(()) => return Ok(TempDir(path)),
                Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(err) => {
                    return Err(err).with_context(|| format!("creating {}", path.display()));
                }
            }
        }
        anyhow::bail!(
            "could not create a temporary directory in {}",
            base.display()
        )
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn screen_refuses_host_file_access() {
        assert!(
            screen(
                Language::Rust,
                "const S: &str = include_str!(\"/etc/passwd\");"
            )
            .is_err()
        );
        assert!(screen(Language::Rust, "#[path = \"/etc/passwd\"] mod m;").is_err());
        assert!(screen(Language::Rust, "pub extern \"C\" fn solve() -> i32 { 1 }").is_ok());
        assert!(
            screen(
                Language::C,
                "#include <stdint.h>\nint solve(void) { return 1; }"
            )
            .is_ok()
        );
        assert!(screen(Language::C, "#include \"/etc/passwd\"").is_err());
        assert!(screen(Language::C, "#define F \"/etc/passwd\"\n#inc\\\nlude F").is_err());
        assert!(screen(Language::C, "%:include <stdint.h>").is_err());
    }

    #[test]
    fn a_compile_that_never_ends_is_stopped() {
        // Endless const evaluation, with the lint that would stop it allowed.
        let source = "#![allow(long_running_const_eval)]\n\
                      const N: u32 = { let mut i = 0u32; loop { i = i.wrapping_add(1); } };\n\
                      #[no_mangle] pub extern \"C\" fn solve() -> u32 { N }\n";
        let limits = CompileLimits {
            timeout: Duration::from_secs(2),
        };
        let started = Instant::now();
        let res = compile(
            Language::Rust,
            Path::new("slow.rs"),
            source.as_bytes(),
            &limits,
        )
        .unwrap();
        assert_eq!(res, Err(Rejected("rustc did not finish within 2 s".into())));
        assert!(started.elapsed() < Duration::from_secs(10));
    }
}
