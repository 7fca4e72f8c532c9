//! [`Module`]: a validated, compiled module, shared by every instance of it.

use std::sync::Arc;

use crate::cache::{self, Key};
use crate::engine::Sandbox;
use crate::error::{LoadError, Result};
use crate::instance::{Instance, StoreState};
use crate::validate;
use crate::{Limits, ValType, Verdict, WasiOptions};

/// The signature of an exported function whose types are all numbers.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct FuncType {
    /// Parameter types.
    pub params: Vec<ValType>,
    /// Result types.
    pub results: Vec<ValType>,
}

impl std::fmt::Display for FuncType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&crate::wasi::signature_text(&self.params, &self.results))
    }
}

/// What an export is.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExportKind {
    /// A function; `None` if its signature uses non-numeric types (v128,
    /// references), which the sandbox cannot pass.
    Func(Option<FuncType>),
    /// A linear memory.
    Memory,
    /// A global of a numeric type (`None` for other types).
    Global(Option<ValType>),
    /// A table.
    Table,
}

/// One export of a module.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Export {
    /// The export's name.
    pub name: String,
    /// Its kind and type.
    pub kind: ExportKind,
}

/// A compiled module. Cheap to clone; instantiate it as often as you like.
#[derive(Clone)]
pub struct Module {
    pub(crate) inner: Arc<ModuleInner>,
}

pub(crate) struct ModuleInner {
    pub(crate) engine: wasmtime::Engine,
    pub(crate) pre: wasmtime::InstancePre<StoreState>,
    pub(crate) imports_wasi: bool,
    pub(crate) consume_fuel: bool,
    pub(crate) exports: Vec<Export>,
}

pub(crate) fn convert_valtype(ty: &wasmtime::ValType) -> Option<ValType> {
    match ty {
        wasmtime::ValType::I32 => Some(ValType::I32),
        wasmtime::ValType::I64 => Some(ValType::I64),
        wasmtime::ValType::F32 => Some(ValType::F32),
        wasmtime::ValType::F64 => Some(ValType::F64),
        _ => None,
    }
}

impl Module {
    pub(crate) fn load(sandbox: &Sandbox, bytes: &[u8]) -> Result<Module, LoadError> {
        let inner = &sandbox.inner;
        let key = Key::new(inner.fingerprint, bytes);
        if let Some(module) = inner.cache.get(key, bytes) {
            return Ok(module);
        }
        let facts = validate::validate(bytes, inner.config.wasi)?;
        let compiled = match inner.cache.dir() {
            Some(dir) => {
                let path = cache::disk_path(dir, key);
                match load_from_disk(&inner.engine, &path, inner.fingerprint, bytes) {
                    Some(module) => {
                        inner.cache.note_disk(true);
                        module
                    }
                    None => {
                        if path.exists() {
                            inner.cache.note_disk(false);
                        }
                        let module = compile(sandbox, bytes)?;
                        // A cache that cannot be written only costs a later
                        // recompilation, so write errors are not load errors.
                        if let Ok(artifact) = module.serialize() {
                            let file = cache::encode(inner.fingerprint, bytes, &artifact);
                            let _ = cache::write_atomic(&path, &file);
                        }
                        module
                    }
                }
            }
            None => compile(sandbox, bytes)?,
        };
        let pre = inner
            .linker
            .instantiate_pre(&compiled)
            .map_err(|e| LoadError::Compile {
                message: format!("linking: {e:#}"),
            })?;
        let exports = compiled
            .exports()
            .map(|export| {
                let kind = match export.ty() {
                    wasmtime::ExternType::Func(ty) => {
                        let params: Option<Vec<_>> =
                            ty.params().map(|t| convert_valtype(&t)).collect();
                        let results: Option<Vec<_>> =
                            ty.results().map(|t| convert_valtype(&t)).collect();
                        ExportKind::Func(
                            params
                                .zip(results)
                                .map(|(params, results)| FuncType { params, results }),
                        )
                    }
                    wasmtime::ExternType::Memory(_) => ExportKind::Memory,
                    wasmtime::ExternType::Global(ty) => {
                        ExportKind::Global(convert_valtype(ty.content()))
                    }
                    _ => ExportKind::Table,
                };
                Export {
                    name: export.name().to_string(),
                    kind,
                }
            })
            .collect();
        let module = Module {
            inner: Arc::new(ModuleInner {
                engine: inner.engine.clone(),
                pre,
                imports_wasi: facts.imports_wasi,
                consume_fuel: inner.config.consume_fuel,
                exports,
            }),
        };
        inner.cache.insert(key, Arc::from(bytes), module.clone());
        Ok(module)
    }

    /// The module's exports, in declaration order.
    pub fn exports(&self) -> &[Export] {
        &self.inner.exports
    }

    /// The type of the exported function `name`, if it exists and its types are numbers.
    pub fn func_type(&self, name: &str) -> Option<&FuncType> {
        self.inner.exports.iter().find_map(|e| match &e.kind {
            ExportKind::Func(Some(ty)) if e.name == name => Some(ty),
            _ => None,
        })
    }

    /// Whether the module imports WASI (and so needs [`Module::instantiate_wasi`]).
    pub fn imports_wasi(&self) -> bool {
        self.inner.imports_wasi
    }

    /// Creates an instance in a fresh store with `limits`, running the start
    /// function if there is one (with `limits.fuel` of fuel).
    ///
    /// # Errors
    ///
    /// The outer `Err` is a host failure ([`ErrorKind::InvalidLimits`],
    /// [`ErrorKind::WasiRequired`], or an exhausted instance pool). The inner
    /// `Err` is the guest's doing: an initial memory or table above `limits`
    /// ([`Verdict::MemoryLimit`]), a data segment out of bounds, or a start
    /// function that traps or runs out of fuel.
    ///
    /// [`ErrorKind::InvalidLimits`]: crate::ErrorKind::InvalidLimits
    /// [`ErrorKind::WasiRequired`]: crate::ErrorKind::WasiRequired
    pub fn instantiate(&self, limits: &Limits) -> Result<Result<Instance, Verdict>> {
        if self.inner.imports_wasi {
            return Err(crate::ErrorKind::WasiRequired.into());
        }
        Instance::new(self, limits, None)
    }

    /// Like [`Module::instantiate`], with a WASI context reading `options.stdin`.
    /// Works for modules that do not import WASI too.
    ///
    /// # Errors
    ///
    /// As [`Module::instantiate`].
    pub fn instantiate_wasi(
        &self,
        limits: &Limits,
        options: &WasiOptions,
    ) -> Result<Result<Instance, Verdict>> {
        Instance::new(self, limits, Some(options))
    }
}

fn compile(sandbox: &Sandbox, bytes: &[u8]) -> Result<wasmtime::Module, LoadError> {
    sandbox.count_compile();
    wasmtime::Module::new(&sandbox.inner.engine, bytes).map_err(|e| LoadError::Compile {
        message: format!("{e:#}"),
    })
}

/// Loads a module from the disk cache if the file passes every check.
#[allow(
    unsafe_code,
    reason = "deserializing artifacts this program wrote, verified first"
)]
fn load_from_disk(
    engine: &wasmtime::Engine,
    path: &std::path::Path,
    fingerprint: u64,
    bytes: &[u8],
) -> Option<wasmtime::Module> {
    let file = std::fs::read(path).ok()?;
    let artifact = cache::decode(&file, fingerprint, bytes)?;
    // SAFETY: `Module::deserialize` requires bytes produced by
    // `Module::serialize` of a compatible engine. `decode` returned the
    // artifact only because the file's checksum matches its contents, its
    // fingerprint (which includes `precompile_compatibility_hash` of this
    // engine) matches, and its stored wasm equals the bytes being loaded, so
    // this artifact is what this program serialized for these bytes on this
    // engine configuration. wasmtime additionally checks its own header and
    // engine compatibility and returns an error, not UB, on a mismatch there.
    unsafe { wasmtime::Module::deserialize(engine, artifact) }.ok()
}

impl std::fmt::Debug for Module {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Module")
            .field("exports", &self.inner.exports)
            .finish_non_exhaustive()
    }
}
