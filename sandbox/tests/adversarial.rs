//! Every adversarial guest in `guests/adversarial/` gets its exact verdict or
//! load error. Host memory is checked in `tests/host_memory.rs`, which runs
//! alone in its own process.

use std::path::PathBuf;
use std::time::Duration;

use crucible_sandbox::{
    ErrorKind, Instance, Limits, LoadError, Module, Sandbox, SandboxConfig, Strategy, TrapKind,
    Value, Verdict, WasiOptions, limits,
};

fn guest(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../guests/adversarial")
        .join(name);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    if name.ends_with(".wat") {
        wat::parse_bytes(&bytes).unwrap().into_owned()
    } else {
        bytes
    }
}

fn sandbox() -> Sandbox {
    let mut config = SandboxConfig::new(Strategy::Cranelift);
    config.wasi = true;
    config.threads = 1;
    Sandbox::new(&config).unwrap()
}

/// Limits small enough to keep the suite fast: 1M fuel, 16 MiB, 64 KiB of
/// output, 5 s backstop.
fn limits() -> Limits {
    Limits {
        fuel: 1_000_000,
        output_bytes: 64 << 10,
        timeout: Duration::from_secs(5),
        ..Limits::default()
    }
}

fn load(name: &str) -> Module {
    sandbox().load(&guest(name)).unwrap()
}

#[track_caller]
fn instantiate(module: &Module) -> Instance {
    module
        .instantiate_wasi(
            &limits(),
            &WasiOptions {
                stdin: b"hello".to_vec(),
                seed: 1,
            },
        )
        .unwrap()
        .unwrap()
}

#[track_caller]
fn check_call(name: &str, export: &str, args: &[Value], expect: Result<Vec<Value>, Verdict>) {
    let mut instance = instantiate(&load(name));
    let outcome = instance.call(export, args).unwrap();
    assert_eq!(outcome.result, expect, "{name}");
}

#[track_caller]
fn check_instantiate(name: &str, expect: Verdict) {
    let res = load(name).instantiate_wasi(
        &limits(),
        &WasiOptions {
            stdin: vec![],
            seed: 0,
        },
    );
    match res.unwrap() {
        Ok(_) => panic!("{name}: instantiated, expected {expect}"),
        Err(verdict) => assert_eq!(verdict, expect, "{name}"),
    }
}

#[test]
fn endless_loop_runs_out_of_fuel() {
    let mut instance = instantiate(&load("adversarial_endless_loop.wat"));
    let outcome = instance.call("run", &[]).unwrap();
    assert_eq!(outcome.result, Err(Verdict::OutOfFuel));
    assert_eq!(outcome.fuel_used, limits().fuel);
    // Fuel is refilled per call: the same verdict again, not an instant one.
    let again = instance.call("run", &[]).unwrap();
    assert_eq!(again, outcome);
}

#[test]
fn endless_loop_in_start_runs_out_of_fuel() {
    check_instantiate("adversarial_start_loop.wat", Verdict::OutOfFuel);
}

#[test]
fn deep_recursion_overflows_the_stack() {
    let mut instance = instantiate(&load("adversarial_deep_recursion.wat"));
    let outcome = instance.call("run", &[Value::I64(0)]).unwrap();
    assert_eq!(outcome.result, Err(Verdict::StackOverflow));
    assert!(outcome.fuel_used < limits().fuel);
}

#[test]
fn memory_grow_bomb_hits_the_memory_limit() {
    let mut instance = instantiate(&load("adversarial_memory_grow_bomb.wat"));
    let outcome = instance.call("run", &[]).unwrap();
    assert_eq!(outcome.result, Err(Verdict::MemoryLimit));
    assert_eq!(outcome.peak_memory_bytes, limits().memory_bytes);
}

#[test]
fn huge_initial_memory_hits_the_memory_limit() {
    check_instantiate("adversarial_huge_initial_memory.wat", Verdict::MemoryLimit);
}

#[test]
fn huge_table_hits_the_memory_limit() {
    check_instantiate("adversarial_huge_table.wat", Verdict::MemoryLimit);
}

#[test]
fn misplaced_data_segment_traps_at_instantiation() {
    check_instantiate(
        "adversarial_giant_data_segment.wat",
        Verdict::Trap(TrapKind::MemoryOutOfBounds),
    );
}

#[test]
fn giant_data_segment_is_too_large_to_load() {
    let mut module = b"\0asm\x01\0\0\0".to_vec();
    // Memory section: one memory of 1 page; data section: one 17 MiB segment.
    module.extend_from_slice(&[5, 3, 1, 0, 1]);
    let payload_len = limits::MAX_MODULE_BYTES + (1 << 20);
    let mut data = vec![1u8, 0, 0x41, 0, 0x0b];
    leb(&mut data, payload_len as u64);
    data.resize(data.len() + payload_len, 0xaa);
    module.push(11);
    leb(&mut module, data.len() as u64);
    module.extend_from_slice(&data);
    let err = sandbox().load(&module).unwrap_err();
    assert!(
        matches!(err, LoadError::TooLarge { ref what, .. } if what == "module bytes"),
        "{err}"
    );
}

fn leb(out: &mut Vec<u8>, mut x: u64) {
    loop {
        let byte = (x & 0x7f) as u8;
        x >>= 7;
        if x == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

#[test]
fn unknown_import_is_a_named_link_error() {
    let err = sandbox()
        .load(&guest("adversarial_unknown_import.wat"))
        .unwrap_err();
    assert_eq!(
        err,
        LoadError::DisallowedImport {
            module: "env".into(),
            name: "launch_missiles".into(),
            wasi_available: true,
        }
    );
    assert_eq!(err.status_name(), "link_error");
}

#[test]
fn a_million_tiny_functions_are_too_large() {
    // Built in binary directly: the text would take seconds to parse.
    let n: u64 = 1_000_000;
    let mut module = b"\0asm\x01\0\0\0".to_vec();
    module.extend_from_slice(&[1, 4, 1, 0x60, 0, 0]); // type 0: [] -> []
    let mut funcs = Vec::new();
    leb(&mut funcs, n);
    funcs.resize(funcs.len() + n as usize, 0);
    module.push(3);
    leb(&mut module, funcs.len() as u64);
    module.extend_from_slice(&funcs);
    let mut code = Vec::new();
    leb(&mut code, n);
    for _ in 0..n {
        code.extend_from_slice(&[2, 0, 0x0b]);
    }
    module.push(10);
    leb(&mut module, code.len() as u64);
    module.extend_from_slice(&code);
    let err = sandbox().load(&module).unwrap_err();
    assert_eq!(
        err,
        LoadError::TooLarge {
            what: "functions".into(),
            actual: n,
            limit: limits::MAX_FUNCTIONS,
        }
    );
}

#[test]
fn malformed_bytes_are_invalid() {
    let err = sandbox()
        .load(&guest("adversarial_malformed.wasm"))
        .unwrap_err();
    assert!(
        matches!(
            err,
            LoadError::Invalid {
                offset: 0,
                func: None,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn truncated_bytes_are_invalid_with_offset() {
    let bytes = guest("adversarial_truncated.wasm");
    let err = sandbox().load(&bytes).unwrap_err();
    assert!(matches!(err, LoadError::Invalid { .. }), "{err}");
    // Every prefix of a real module loads or is rejected; none panics.
    let whole = guest("adversarial_nan_payload.wat");
    for len in 0..whole.len() {
        let _ = sandbox().load(&whole[..len]);
    }
}

#[test]
fn nan_payloads_are_canonicalised() {
    check_call(
        "adversarial_nan_payload.wat",
        "run",
        &[],
        Ok(vec![Value::F32(0x7fc0_0000)]),
    );
    check_call(
        "adversarial_nan_payload.wat",
        "run64",
        &[],
        Ok(vec![Value::F64(0x7ff8_0000_0000_0000)]),
    );
}

#[test]
fn wasi_stdout_spam_hits_the_output_limit() {
    let mut instance = instantiate(&load("adversarial_wasi_stdout_spam.wat"));
    let outcome = instance.call("_start", &[]).unwrap();
    assert_eq!(outcome.result, Err(Verdict::OutputLimit));
    let output = instance.wasi_output().unwrap();
    assert!(output.stdout.len() as u64 <= limits().output_bytes);
    assert!(output.stdout.starts_with(b"spam\nspam\n"));
}

#[test]
fn wasi_stdin_forever_runs_out_of_fuel() {
    check_call(
        "adversarial_wasi_stdin_forever.wat",
        "_start",
        &[],
        Err(Verdict::OutOfFuel),
    );
}

#[test]
fn wasi_guest_needs_a_wasi_context() {
    let err = load("adversarial_wasi_stdin_forever.wat")
        .instantiate(&limits())
        .unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::WasiRequired), "{err}");
}

#[test]
fn timeout_is_the_backstop_when_fuel_is_huge() {
    let module = load("adversarial_endless_loop.wat");
    let limits = Limits {
        fuel: u64::MAX,
        timeout: Duration::from_millis(50),
        ..Limits::default()
    };
    let mut instance = module.instantiate(&limits).unwrap().unwrap();
    assert_eq!(
        instance.call("run", &[]).unwrap().result,
        Err(Verdict::Timeout)
    );
}
