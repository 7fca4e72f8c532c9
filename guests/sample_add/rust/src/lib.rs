//! Shared nothing: each submission is an example built as a `cdylib`.
#![no_std]
