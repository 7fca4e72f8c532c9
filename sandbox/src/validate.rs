//! Validation before compilation, with precise errors.
//!
//! wasmtime validates too, but its errors lose the function index and it knows
//! nothing of our engine ceilings or import policy. This pass runs wasmparser
//! function by function, so an invalid body is reported with its function index
//! and byte offset, and it checks the sizes and imports a module declares
//! before any code is generated.

use wasmparser::{Parser, Payload, TypeRef, ValidPayload, Validator, WasmFeatures};

use crate::ValType;
use crate::error::LoadError;
use crate::limits;
use crate::wasi;

/// The proposals the sandbox enables: Wasm 2.0 plus the deterministic,
/// single-threaded parts of 3.0. `threads` and `shared-everything-threads`
/// bring shared memory (racy), `relaxed_simd` has implementation-defined
/// results, `memory64` breaks the engine ceilings, and GC, exceptions, stack
/// switching and function references are not compiled into our wasmtime build.
/// Mirrored in `engine::config` for wasmtime.
pub(crate) const FEATURES: WasmFeatures = WasmFeatures::WASM2
    .union(WasmFeatures::TAIL_CALL)
    .union(WasmFeatures::EXTENDED_CONST)
    .union(WasmFeatures::MULTI_MEMORY);

/// Bytes per Wasm page (without the custom-page-sizes proposal).
const WASM_PAGE_BYTES: u64 = 64 << 10;

/// Proposals tried one at a time to name the feature a rejected module needs.
const NAMED_FEATURES: &[(&str, WasmFeatures)] = &[
    ("threads", WasmFeatures::THREADS),
    (
        "shared_everything_threads",
        WasmFeatures::SHARED_EVERYTHING_THREADS,
    ),
    ("relaxed_simd", WasmFeatures::RELAXED_SIMD),
    ("memory64", WasmFeatures::MEMORY64),
    (
        "gc",
        WasmFeatures::GC.union(WasmFeatures::FUNCTION_REFERENCES),
    ),
    ("function_references", WasmFeatures::FUNCTION_REFERENCES),
    ("exceptions", WasmFeatures::EXCEPTIONS),
    ("legacy_exceptions", WasmFeatures::LEGACY_EXCEPTIONS),
    (
        "stack_switching",
        WasmFeatures::STACK_SWITCHING
            .union(WasmFeatures::FUNCTION_REFERENCES)
            .union(WasmFeatures::EXCEPTIONS),
    ),
    ("custom_page_sizes", WasmFeatures::CUSTOM_PAGE_SIZES),
    ("wide_arithmetic", WasmFeatures::WIDE_ARITHMETIC),
    ("component_model", WasmFeatures::COMPONENT_MODEL),
];

/// What validation learned about a module.
#[derive(Clone, Debug, Default)]
pub(crate) struct Facts {
    /// Whether the module imports any WASI function.
    pub(crate) imports_wasi: bool,
}

/// Validates `bytes` under the sandbox's features, ceilings and import policy.
pub(crate) fn validate(bytes: &[u8], wasi_enabled: bool) -> Result<Facts, LoadError> {
    if bytes.len() > limits::MAX_MODULE_BYTES {
        return Err(LoadError::TooLarge {
            what: "module bytes".into(),
            actual: bytes.len() as u64,
            limit: limits::MAX_MODULE_BYTES as u64,
        });
    }
    match validate_with(bytes, FEATURES, wasi_enabled) {
        Ok(facts) => Ok(facts),
        Err(err @ LoadError::Invalid { .. }) => {
            // Valid with more features? Then name the first feature that suffices.
            if validate_with(bytes, WasmFeatures::all(), wasi_enabled).is_ok() {
                let feature = NAMED_FEATURES
                    .iter()
                    .find(|(_, extra)| {
                        validate_with(bytes, FEATURES | *extra, wasi_enabled).is_ok()
                    })
                    .map_or("unknown", |(name, _)| name);
                let LoadError::Invalid {
                    message, offset, ..
                } = err
                else {
                    unreachable!("matched above")
                };
                return Err(LoadError::UnsupportedFeature {
                    feature: feature.into(),
                    message,
                    offset,
                });
            }
            Err(err)
        }
        Err(err) => Err(err),
    }
}

fn invalid(err: wasmparser::BinaryReaderError, func: Option<u32>) -> LoadError {
    LoadError::Invalid {
        message: err.message().to_string(),
        offset: err.offset(),
        func,
    }
}

fn too_large(what: &str, actual: u64, limit: u64) -> Result<(), LoadError> {
    if actual > limit {
        return Err(LoadError::TooLarge {
            what: what.into(),
            actual,
            limit,
        });
    }
    Ok(())
}

fn validate_with(
    bytes: &[u8],
    features: WasmFeatures,
    wasi_enabled: bool,
) -> Result<Facts, LoadError> {
    let mut validator = Validator::new_with_features(features);
    let mut facts = Facts::default();
    let mut func_imports: Vec<(String, String, u32)> = Vec::new();
    let mut allocs = wasmparser::FuncValidatorAllocations::default();
    for payload in Parser::new(0).parse_all(bytes) {
        let payload = payload.map_err(|e| invalid(e, None))?;
        match &payload {
            Payload::ImportSection(reader) => {
                for import in reader.clone().into_imports() {
                    let import = import.map_err(|e| invalid(e, None))?;
                    let is_wasi = wasi_enabled
                        && import.module == wasi::MODULE
                        && wasi::signature(import.name).is_some();
                    match (is_wasi, import.ty) {
                        (true, TypeRef::Func(ty)) => {
                            facts.imports_wasi = true;
                            func_imports.push((import.module.into(), import.name.into(), ty));
                        }
                        _ => {
                            return Err(LoadError::DisallowedImport {
                                module: import.module.into(),
                                name: import.name.into(),
                                wasi_available: wasi_enabled,
                            });
                        }
                    }
                }
            }
            Payload::FunctionSection(reader) => {
                let total = u64::from(reader.count()) + func_imports.len() as u64;
                too_large("functions", total, limits::MAX_FUNCTIONS)?;
            }
            Payload::MemorySection(reader) => {
                for memory in reader.clone() {
                    let memory = memory.map_err(|e| invalid(e, None))?;
                    let bytes = memory.initial.saturating_mul(WASM_PAGE_BYTES);
                    too_large("initial memory bytes", bytes, limits::MAX_MEMORY_BYTES)?;
                }
            }
            Payload::TableSection(reader) => {
                for table in reader.clone() {
                    let table = table.map_err(|e| invalid(e, None))?;
                    too_large(
                        "initial table elements",
                        table.ty.initial,
                        limits::MAX_TABLE_ELEMENTS.into(),
                    )?;
                }
            }
            _ => {}
        }
        match validator.payload(&payload).map_err(|e| invalid(e, None))? {
            ValidPayload::Func(func, body) => {
                let index = func.index;
                let mut func_validator = func.into_validator(std::mem::take(&mut allocs));
                func_validator
                    .validate(&body)
                    .map_err(|e| invalid(e, Some(index)))?;
                allocs = func_validator.into_allocations();
            }
            ValidPayload::End(types) => {
                for (module, name, ty) in &func_imports {
                    let id = types.as_ref().core_type_at_in_module(*ty);
                    let actual = types[id].unwrap_func();
                    let params: Vec<_> = actual.params().iter().map(|t| convert(*t)).collect();
                    let results: Vec<_> = actual.results().iter().map(|t| convert(*t)).collect();
                    let Some((want_params, want_results)) = wasi::signature(name) else {
                        continue;
                    };
                    let same = |got: &[Option<ValType>], want: &[ValType]| {
                        got.len() == want.len() && got.iter().zip(want).all(|(g, w)| *g == Some(*w))
                    };
                    if !same(&params, want_params) || !same(&results, want_results) {
                        return Err(LoadError::MistypedImport {
                            module: module.clone(),
                            name: name.clone(),
                            expected: wasi::signature_text(want_params, want_results),
                            actual: format!("{actual}"),
                        });
                    }
                }
            }
            _ => {}
        }
    }
    Ok(facts)
}

fn convert(ty: wasmparser::ValType) -> Option<ValType> {
    match ty {
        wasmparser::ValType::I32 => Some(ValType::I32),
        wasmparser::ValType::I64 => Some(ValType::I64),
        wasmparser::ValType::F32 => Some(ValType::F32),
        wasmparser::ValType::F64 => Some(ValType::F64),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(wat: &str) -> Result<Facts, LoadError> {
        validate(&wat::parse_str(wat).unwrap(), true)
    }

    #[test]
    fn invalid_body_names_function_index() {
        let err = check(
            r#"(module (import "wasi_snapshot_preview1" "sched_yield" (func (result i32)))
               (func) (func (result i32) (i64.const 1)))"#,
        )
        .unwrap_err();
        let LoadError::Invalid { func, offset, .. } = err else {
            panic!("expected invalid, got {err:?}")
        };
        assert_eq!(func, Some(2));
        assert!(offset > 0);
    }

    #[test]
    fn names_unsupported_feature() {
        let err = check("(module (memory 1 1 shared))").unwrap_err();
        assert!(
            matches!(&err, LoadError::UnsupportedFeature { feature, .. } if feature == "threads"),
            "{err:?}"
        );
    }

    #[test]
    fn rejects_unknown_import_by_name() {
        let err = check(r#"(module (import "env" "launch_missiles" (func)))"#).unwrap_err();
        assert_eq!(
            err.to_string(),
            "import `env::launch_missiles` is not allowed"
        );
    }

    #[test]
    fn rejects_mistyped_wasi_import() {
        let err =
            check(r#"(module (import "wasi_snapshot_preview1" "proc_exit" (func (param i64))))"#)
                .unwrap_err();
        assert!(matches!(err, LoadError::MistypedImport { .. }), "{err:?}");
    }

    #[test]
    fn accepts_wasi_import() {
        let facts =
            check(r#"(module (import "wasi_snapshot_preview1" "proc_exit" (func (param i32))))"#)
                .unwrap();
        assert!(facts.imports_wasi);
    }

    #[test]
    fn truncated_bytes_are_invalid() {
        let bytes = wat::parse_str("(module (func (result i32) i32.const 7))").unwrap();
        // A prefix ending on a section boundary is a valid smaller module;
        // every other prefix must be reported invalid, and none may panic.
        for len in 0..bytes.len() {
            let res = validate(&bytes[..len], false);
            assert!(
                matches!(res, Ok(_) | Err(LoadError::Invalid { .. })),
                "prefix {len}: {res:?}"
            );
        }
        assert!(matches!(
            validate(&bytes[..7], false),
            Err(LoadError::Invalid { .. })
        ));
        assert!(matches!(
            validate(&bytes[..bytes.len() - 1], false),
            Err(LoadError::Invalid { .. })
        ));
    }
}
