//! Errors of the sandbox: host failures ([`Error`]) and module rejections ([`LoadError`]).
//!
//! A guest that misbehaves while running is not an error: it gets a
//! [`Verdict`](crate::Verdict). An [`Error`] means the host could not do what it
//! was asked (a bad call from the embedder, an exhausted instance pool, an
//! unwritable cache directory); a [`LoadError`] means the submitted bytes were
//! rejected before any of them ran, and is the submitter's fault.

use std::fmt;

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A host-side failure. One word wide: the kind is boxed.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct Error {
    kind: Box<ErrorKind>,
}

impl Error {
    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    pub(crate) fn new(kind: ErrorKind) -> Error {
        Error {
            kind: Box::new(kind),
        }
    }

    pub(crate) fn engine(context: &str, err: impl fmt::Display) -> Error {
        Error::new(ErrorKind::Engine {
            message: format!("{context}: {err:#}"),
        })
    }
}

impl From<ErrorKind> for Error {
    fn from(kind: ErrorKind) -> Error {
        Error::new(kind)
    }
}

/// The kinds of host-side failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The embedder called an export that does not exist or is not a function.
    /// The caller's fault: check [`Module::exports`](crate::Module::exports) first.
    #[error("no exported function named `{name}`")]
    MissingExport {
        /// The name asked for.
        name: String,
    },
    /// The embedder passed arguments of the wrong number or types.
    /// The caller's fault.
    #[error("export `{name}` takes {expected}, but was called with {actual}")]
    BadArguments {
        /// The export called.
        name: String,
        /// The parameter types, like `(i32, i32)`.
        expected: String,
        /// The argument types given.
        actual: String,
    },
    /// The module has no exported memory named `memory`, or an access was out of its bounds.
    /// The caller's fault.
    #[error(
        "memory access of {len} bytes at offset {offset} is out of bounds (memory size {size})"
    )]
    MemoryAccess {
        /// Start of the access.
        offset: u64,
        /// Length of the access.
        len: u64,
        /// Size of the memory in bytes (0 if the module exports no memory).
        size: u64,
    },
    /// Growing memory from the host would exceed [`Limits::memory_bytes`](crate::Limits::memory_bytes).
    #[error("growing memory to {requested} bytes exceeds the limit of {limit} bytes")]
    MemoryLimit {
        /// Size asked for.
        requested: u64,
        /// The limit in force.
        limit: u64,
    },
    /// The module imports WASI functions, so it must be instantiated with
    /// [`Module::instantiate_wasi`](crate::Module::instantiate_wasi).
    #[error("the module imports WASI; instantiate it with a WASI context")]
    WasiRequired,
    /// Limits outside what the engine was configured for (see [`crate::limits`]).
    #[error("invalid limits: {message}")]
    InvalidLimits {
        /// Which limit and why.
        message: String,
    },
    /// A probe or coverage buffer is missing or malformed: the module was not
    /// emitted with probes, or the guest overwrote its header.
    #[error("probe buffer: {message}")]
    Probes {
        /// What is wrong.
        message: String,
    },
    /// The on-disk module cache could not be used.
    #[error("module cache at {path}: {message}")]
    Cache {
        /// The cache file or directory.
        path: String,
        /// The I/O error.
        message: String,
    },
    /// Wasmtime failed in a way the guest did not cause: for example the
    /// instance pool is exhausted, or the engine could not be built. Our bug or
    /// the machine's, never the guest's.
    #[error("engine failure: {message}")]
    Engine {
        /// Wasmtime's message with its context chain.
        message: String,
    },
}

/// Why a module was rejected before it ran. Always the submitter's fault.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The bytes are not a valid WebAssembly module.
    #[error("invalid module: {message} (at offset {offset:#x}{})", func.map(|f| format!(", in function {f}")).unwrap_or_default())]
    Invalid {
        /// The validator's message.
        message: String,
        /// Byte offset of the error in the module.
        offset: usize,
        /// Index of the function (in the function index space, imports
        /// included) whose body is invalid, if the error is in a body.
        func: Option<u32>,
    },
    /// The module is valid WebAssembly but uses a proposal the sandbox turns off.
    #[error("unsupported feature `{feature}`: {message} (at offset {offset:#x})")]
    UnsupportedFeature {
        /// The proposal's name, like `threads` or `relaxed_simd`.
        feature: String,
        /// The validator's message.
        message: String,
        /// Byte offset of the first use.
        offset: usize,
    },
    /// The module imports something the sandbox does not provide.
    #[error("import `{module}::{name}` is not allowed{}", if *.wasi_available { "" } else { " (the sandbox provides no imports)" })]
    DisallowedImport {
        /// The import's module name.
        module: String,
        /// The import's field name.
        name: String,
        /// Whether a WASI subset was on offer (so other WASI names would have worked).
        wasi_available: bool,
    },
    /// An import has the right name but the wrong type.
    #[error("import `{module}::{name}` has type {actual}, expected {expected}")]
    MistypedImport {
        /// The import's module name.
        module: String,
        /// The import's field name.
        name: String,
        /// The type the sandbox provides.
        expected: String,
        /// The type the module declares.
        actual: String,
    },
    /// The module exceeds one of the engine-wide ceilings in [`crate::limits`].
    #[error("module too large: {what} is {actual}, the limit is {limit}")]
    TooLarge {
        /// What was counted, like `functions` or `initial memory bytes`.
        what: String,
        /// The module's figure.
        actual: u64,
        /// The ceiling.
        limit: u64,
    },
    /// The module passed our validation but the compiler refused it. Most
    /// likely a feature the chosen [`Strategy`](crate::Strategy) does not
    /// implement (Winch lacks some proposals).
    #[error("compile error: {message}")]
    Compile {
        /// Wasmtime's message.
        message: String,
    },
}

impl LoadError {
    /// A stable snake_case name for reports, like `invalid_module`.
    pub fn status_name(&self) -> &'static str {
        match self {
            LoadError::Invalid { .. } => "invalid_module",
            LoadError::UnsupportedFeature { .. } => "unsupported_feature",
            LoadError::DisallowedImport { .. } | LoadError::MistypedImport { .. } => "link_error",
            LoadError::TooLarge { .. } => "too_large",
            LoadError::Compile { .. } => "compile_error",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_is_one_word() {
        assert_eq!(size_of::<Error>(), size_of::<usize>());
    }

    #[test]
    fn invalid_display_names_function_and_offset() {
        let err = LoadError::Invalid {
            message: "type mismatch".into(),
            offset: 0x2a,
            func: Some(3),
        };
        assert_eq!(
            err.to_string(),
            "invalid module: type mismatch (at offset 0x2a, in function 3)"
        );
    }
}
