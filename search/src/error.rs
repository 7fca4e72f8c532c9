//! Errors of the search crate.
//!
//! A candidate misbehaving (trapping, running out of budget, failing to type-check
//! after a mutation) is never an [`Error`]: it is scored and recorded.
//! An `Error` means the task file is wrong (the user's fault), the archive failed
//! (the environment's fault) or an invariant broke (our bug).

use std::fmt;

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An error of the search crate: one word wide, the detail boxed.
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

    pub(crate) fn task(path: impl fmt::Display, message: impl Into<String>) -> Error {
        ErrorKind::Task {
            path: path.to_string(),
            message: message.into(),
        }
        .into()
    }

    pub(crate) fn archive(message: impl Into<String>) -> Error {
        ErrorKind::Archive(message.into()).into()
    }

    pub(crate) fn bug(message: impl Into<String>) -> Error {
        ErrorKind::Bug(message.into()).into()
    }
}

impl From<ErrorKind> for Error {
    fn from(kind: ErrorKind) -> Error {
        Error {
            kind: Box::new(kind),
        }
    }
}

impl From<rusqlite::Error> for Error {
    fn from(err: rusqlite::Error) -> Error {
        ErrorKind::Archive(err.to_string()).into()
    }
}

/// The kinds of [`Error`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The task file or a file it names is invalid (the user's fault); the
    /// message names the key path and, for TOML errors, the line and column.
    #[error("{path}: {message}")]
    Task {
        /// The task file, or `file:key.path`.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// A task or seed file could not be read (the environment's fault).
    #[error("reading {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The SQLite archive failed or holds unexpected data.
    #[error("archive: {0}")]
    Archive(String),
    /// A run named for `--resume` does not exist or has finished.
    #[error("run {0} cannot be resumed: {1}")]
    Resume(i64, String),
    /// The evaluator's host side failed (not a candidate's misbehaviour).
    #[error("evaluator: {0}")]
    Evaluator(String),
    /// Offline mode (`CRUCIBLE_OFFLINE=1`) and the optimizer's cache holds no
    /// program for this key (the caller's fault: fill the cache first).
    #[error(
        "offline (CRUCIBLE_OFFLINE=1) and the cache {cache} holds no program for task `{task}` (key {key}); \
         build once without CRUCIBLE_OFFLINE to run the search and fill it"
    )]
    NotCached {
        /// The task's name.
        task: String,
        /// The missing key.
        key: String,
        /// The cache database.
        cache: String,
    },
    /// An invariant of the search broke: always a bug in Crucible.
    #[error("internal error (a bug in crucible-search): {0}")]
    Bug(String),
}
