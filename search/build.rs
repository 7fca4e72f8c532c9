//! Builds the tier-0 evaluator guest (`guests/evaluator`) for
//! `wasm32-unknown-unknown` with SIMD128 and puts it in `OUT_DIR`.
//!
//! The guest is our own code, built from source on every machine (no binary
//! is committed). When it cannot be built (the wasm32 target is missing), the
//! crate still builds: `tier0::GUEST` is then empty and search falls back to
//! compiled Wasm, with a warning here telling how to fix it.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let guest = manifest.join("../guests/evaluator");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo"));
    println!("cargo:rerun-if-changed={}", guest.join("src").display());
    println!(
        "cargo:rerun-if-changed={}",
        guest.join("Cargo.toml").display()
    );
    println!(
        "cargo:rerun-if-changed={}",
        manifest.join("../compiler/src").display()
    );
    let target_dir = out.join("guest-target");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let status = Command::new(cargo)
        .args([
            "build",
            "--release",
            "--quiet",
            "--target",
            "wasm32-unknown-unknown",
        ])
        .current_dir(&guest)
        .env("CARGO_TARGET_DIR", &target_dir)
        .env("CARGO_ENCODED_RUSTFLAGS", "-Ctarget-feature=+simd128")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .status();
    let built = target_dir.join("wasm32-unknown-unknown/release/crucible_evaluator_guest.wasm");
    let dest = out.join("evaluator.wasm");
    match status {
        Ok(s) if s.success() && built.exists() => {
            std::fs::copy(&built, &dest).expect("copying the evaluator guest");
        }
        _ => {
            println!(
                "cargo:warning=could not build the tier-0 evaluator guest; search falls back to compiled Wasm \
                 (run `rustup target add wasm32-unknown-unknown`)"
            );
            std::fs::write(&dest, b"").expect("writing a placeholder");
        }
    }
}
