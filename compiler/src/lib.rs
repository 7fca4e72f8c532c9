//! The candidate language of Crucible: a small, typed, total language that GP
//! can mutate node by node and a language model can write from one page of
//! description (`compiler/LANGUAGE.md`).
//!
//! # Brief overview
//! - [`parse`] turns text into an [`ir::Program`] (every node has a stable
//!   [`ir::NodeId`] and a source [`ir::Span`]);
//! - [`check`] type-checks it into a [`CheckedProgram`], the only input every
//!   backend accepts;
//! - [`interp::Interpreter`] is the reference semantics;
//! - [`wasm`] compiles to WebAssembly, one program per module or many
//!   candidates behind one batch entry point, optionally with probes;
//! - [`print`] prints canonical text, so that `parse(print(p)) == p`.
//!
//! This crate does no I/O and knows nothing of the sandbox that runs its
//! modules or of the search that calls it.
//!
//! # Example
//! ```
//! use crucible_compiler::{check, parse, interp::Interpreter, value::Value};
//!
//! let src = "fn hash(key: u64) -> u32 {
//!     let h: u64 = key * 0x9E3779B97F4A7C15;
//!     return (h >> 32) as u32 ^ h as u32;
//! }";
//! let checked = check(&parse(src).unwrap()).unwrap();
//! let (entry, _) = checked.func("hash").unwrap();
//! let run = Interpreter::new(&checked).run(entry, &[Value::U64(7).into()], 1_000).unwrap();
//! let h = 7u64.wrapping_mul(0x9E3779B97F4A7C15);
//! assert_eq!(run.value, Value::U32((h >> 32) as u32 ^ h as u32));
//!
//! let wasm = crucible_compiler::wasm::compile(&checked, &crucible_compiler::wasm::CompileOptions {
//!     probes: None,
//! });
//! assert!(wasm.starts_with(b"\0asm"));
//! ```

#![deny(missing_docs)]

pub mod bytecode;
pub mod check;
pub mod cost;
pub mod diag;
pub mod export;
pub mod interp;
pub mod ir;
mod lexer;
pub mod limits;
#[cfg(feature = "native")]
pub mod native;
mod parser;
pub mod print;
pub mod random;
pub mod value;
pub mod wasm;

pub use check::{CheckedProgram, check};
pub use diag::{Diagnostic, Diagnostics};
pub use parser::parse;
pub use print::print;

/// Parses and checks candidate text in one step.
///
/// # Errors
/// The syntax errors, or if there are none, the type errors.
pub fn compile_text(src: &str) -> Result<CheckedProgram, Diagnostics> {
    check(&parse(src)?)
}
