//! Cross-crate and CLI tests, built as one binary (the way wasmtime's
//! tests/all/main.rs is). One `mod` per topic; each says what belongs in it.

mod cli;
mod differential;
mod export;
mod grade;
mod llm;
mod native;
mod optimize;
mod proposer;
mod search;
