//! The host's resident memory stays flat while every adversarial guest runs
//! again and again. One test in its own process, so nothing else moves the RSS.

use std::path::PathBuf;

use crucible_sandbox::{Limits, Sandbox, SandboxConfig, Strategy, WasiOptions};

fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("reading /proc/self/statm");
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|f| f.parse().ok())
        .expect("statm field 2");
    pages * 4096
}

fn run_all(sandbox: &Sandbox, guests: &[Vec<u8>]) {
    let limits = Limits {
        fuel: 1_000_000,
        ..Limits::default()
    };
    for bytes in guests {
        let Ok(module) = sandbox.load(bytes) else {
            continue;
        };
        let options = WasiOptions {
            stdin: vec![1; 100],
            seed: 3,
        };
        let Ok(Ok(mut instance)) = module.instantiate_wasi(&limits, &options) else {
            continue;
        };
        for export in module
            .exports()
            .iter()
            .map(|e| e.name.clone())
            .collect::<Vec<_>>()
        {
            let args = match module.func_type(&export) {
                Some(ty) if ty.params.is_empty() => vec![],
                Some(_) => vec![crucible_sandbox::Value::I64(0)],
                None => continue,
            };
            let _ = instance.call(&export, &args);
        }
    }
}

#[test]
fn host_memory_stays_flat() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../guests/adversarial");
    let mut guests = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        if path.extension().is_some_and(|e| e == "wat") {
            guests.push(wat::parse_bytes(&bytes).unwrap().into_owned());
        } else {
            guests.push(bytes);
        }
    }
    let mut config = SandboxConfig::new(Strategy::Cranelift);
    config.wasi = true;
    config.threads = 1;
    let sandbox = Sandbox::new(&config).unwrap();
    // The first round compiles and warms the pool; later rounds must not grow.
    run_all(&sandbox, &guests);
    let before = resident_bytes();
    for _ in 0..5 {
        run_all(&sandbox, &guests);
    }
    let after = resident_bytes();
    let growth = after.saturating_sub(before);
    assert!(
        growth < 16 << 20,
        "resident memory grew by {} KiB ({before} -> {after})",
        growth >> 10
    );
}
