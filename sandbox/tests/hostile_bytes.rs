//! Seeded property test: mutated modules never panic the host. Each case
//! flips, inserts or deletes a few bytes of a real module, then loads,
//! instruments, instantiates and calls every export with zero arguments
//! under small limits. Whatever happens must be a value, a verdict or an
//! error, never a panic or a hang.

use std::sync::OnceLock;

use crucible_sandbox::instrument::{InstrumentOptions, instrument};
use crucible_sandbox::{Limits, Sandbox, SandboxConfig, ValType, Value, WasiOptions};
use proptest::prelude::*;

const SEED_MODULE: &str = r#"(module
  (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1 2)
  (table 4 funcref)
  (global $g (mut i32) (i32.const 0))
  (elem (i32.const 0) $a $b)
  (data (i32.const 8) "\10\00\00\00\02\00\00\00hi")
  (func $a (export "a") (param i32) (result i32)
    (if (result i32) (local.get 0)
      (then (call_indirect (param i32) (result i32) (i32.sub (local.get 0) (i32.const 1)) (i32.const 0)))
      (else (i32.const 7))))
  (func $b (export "b") (result i64)
    (drop (call $w (i32.const 1) (i32.const 8) (i32.const 1) (i32.const 32)))
    (global.set $g (i32.add (global.get $g) (i32.const 1)))
    (i64.extend_i32_s (i32.div_s (i32.const 100) (global.get $g))))
  (func (export "c") (param f64) (result f64)
    (f64.sqrt (f64.div (local.get 0) (f64.const 0)))))"#;

fn sandbox() -> &'static Sandbox {
    static SANDBOX: OnceLock<Sandbox> = OnceLock::new();
    SANDBOX.get_or_init(|| {
        let mut config = SandboxConfig::new(crucible_sandbox::Strategy::Cranelift);
        config.wasi = true;
        config.threads = 1;
        Sandbox::new(&config).unwrap()
    })
}

fn zero(ty: ValType) -> Value {
    match ty {
        ValType::I32 => Value::I32(0),
        ValType::I64 => Value::I64(0),
        ValType::F32 => Value::F32(0),
        ValType::F64 => Value::F64(0),
    }
}

fn exercise(bytes: &[u8]) {
    let _ = instrument(
        bytes,
        &InstrumentOptions {
            branches: true,
            trace_capacity: 4,
        },
    );
    let Ok(module) = sandbox().load(bytes) else {
        return;
    };
    let limits = Limits {
        fuel: 100_000,
        memory_bytes: 1 << 20,
        output_bytes: 1 << 10,
        ..Limits::default()
    };
    let options = WasiOptions {
        stdin: vec![],
        seed: 0,
    };
    let Ok(Ok(mut instance)) = module.instantiate_wasi(&limits, &options) else {
        return;
    };
    for export in module.exports() {
        if let Some(ty) = module.func_type(&export.name) {
            let args: Vec<Value> = ty.params.iter().map(|t| zero(*t)).collect();
            let outcome = instance.call(&export.name, &args).unwrap();
            assert!(outcome.fuel_used <= limits.fuel);
        }
    }
}

#[derive(Debug, Clone)]
enum Edit {
    Flip(usize, u8),
    Insert(usize, u8),
    Delete(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), 1..=255u8).prop_map(|(i, x)| Edit::Flip(i, x)),
        (any::<usize>(), any::<u8>()).prop_map(|(i, x)| Edit::Insert(i, x)),
        any::<usize>().prop_map(Edit::Delete),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn mutated_modules_never_panic(edits in proptest::collection::vec(edit(), 1..4)) {
        let mut bytes = wat::parse_str(SEED_MODULE).unwrap();
        for e in edits {
            let n = bytes.len();
            match e {
                Edit::Flip(i, x) => bytes[i % n] ^= x,
                Edit::Insert(i, x) => bytes.insert(i % (n + 1), x),
                Edit::Delete(i) => { bytes.remove(i % n); }
            }
        }
        exercise(&bytes);
    }
}

#[test]
fn seed_module_runs() {
    exercise(&wat::parse_str(SEED_MODULE).unwrap());
    assert!(
        sandbox()
            .load(&wat::parse_str(SEED_MODULE).unwrap())
            .is_ok()
    );
}
