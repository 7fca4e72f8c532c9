//! Limits on the size of candidate programs.
//!
//! Candidate text comes from GP and from language models, so the front end must
//! reject a hostile or runaway input quickly instead of choking on it.
//! The numbers are far above anything a useful candidate needs (the shipped
//! tasks use programs of tens to a few hundred nodes) and low enough that every
//! pass, all of them recursive over the tree, stays within a 2 MiB thread stack.

/// Largest accepted source text, in bytes (1 MiB); a larger file is rejected
/// before it is lexed.
pub const MAX_SOURCE_BYTES: usize = 1 << 20;

/// Largest number of IR nodes in one program.
pub const MAX_NODES: usize = 100_000;

/// Deepest nesting of expressions and blocks together.
pub const MAX_DEPTH: usize = 64;

/// Longest chain of calls (`a` calls `b` calls `c` is 2): bounds the host
/// stack the interpreter needs, since it recurses once per call.
pub const MAX_CALL_DEPTH: usize = 16;

/// Most functions in one program.
pub const MAX_FUNCS: usize = 256;

/// Most parameters of one function.
pub const MAX_PARAMS: usize = 32;

/// Most diagnostics reported for one input; further ones are dropped.
pub const MAX_DIAGNOSTICS: usize = 50;
