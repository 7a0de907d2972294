//! Errors of opening the embedded log, and how SQLite failures become [`LogError`]s.

use std::path::PathBuf;

use rusqlite::ErrorCode;
use switchboard_engine::log::LogError;

/// Why the embedded event log could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    /// The file could not be opened or created.
    #[error(
        "cannot open the event log at {}: {source} (check that the directory exists and is \
         writable by this process)",
        .path.display()
    )]
    Open {
        /// The file.
        path: PathBuf,
        /// What SQLite reported.
        #[source]
        source: rusqlite::Error,
    },
    /// The file opened, but setting it up failed.
    #[error("cannot {step} for the event log at {}: {source}", .path.display())]
    Setup {
        /// The file.
        path: PathBuf,
        /// What was being done.
        step: &'static str,
        /// What SQLite reported.
        #[source]
        source: rusqlite::Error,
    },
    /// SQLite refused write-ahead logging (typically on a network file system).
    #[error(
        "the event log at {} cannot use WAL journaling (SQLite kept journal mode {mode:?}); \
         put the file on a local file system",
        .path.display()
    )]
    WalUnavailable {
        /// The file.
        path: PathBuf,
        /// The journal mode SQLite reported.
        mode: String,
    },
    /// The file is an SQLite database, but not a Switchboard event log.
    #[error(
        "{} is an SQLite database but not a Switchboard event log; choose another path",
        .path.display()
    )]
    NotAnEventLog {
        /// The file.
        path: PathBuf,
    },
    /// The file was written by a newer release with a schema this one cannot read.
    #[error(
        "the event log at {} has schema version {found}, newer than version {supported} that \
         this release reads; run a newer release, or restore a backup made by this one",
        .path.display()
    )]
    NewerSchema {
        /// The file.
        path: PathBuf,
        /// The schema version found in the file.
        found: i32,
        /// The newest schema version this release reads.
        supported: i32,
    },
    /// The writer thread could not be started.
    #[error("cannot start the event log writer thread: {0}")]
    Thread(#[source] std::io::Error),
}

/// Turns an SQLite failure while `doing` something into the port's error, split where
/// callers branch (retry later, or not) and saying what an operator can do about it.
pub(crate) fn log_error(error: &rusqlite::Error, doing: &str) -> LogError {
    match error.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => LogError::Unavailable(format!(
            "{doing}: the database file stayed locked by another connection for longer than \
             busy_timeout_ms ({error}); retry, and raise busy_timeout_ms if another process \
             writes to the same file"
        )),
        Some(ErrorCode::DiskFull) => LogError::Unavailable(format!(
            "{doing}: the disk holding the event log is full ({error}); free space, then retry"
        )),
        Some(ErrorCode::CannotOpen | ErrorCode::SystemIoFailure | ErrorCode::PermissionDenied) => {
            LogError::Unavailable(format!(
                "{doing}: the event log file cannot be read or written ({error}); check that \
                 it still exists, that its disk is healthy and that this process may write it"
            ))
        }
        Some(ErrorCode::ReadOnly) => LogError::Unavailable(format!(
            "{doing}: the event log file is read-only ({error}); make the file and its \
             directory writable by this process"
        )),
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => LogError::Backend(format!(
            "{doing}: the SQLite file is damaged ({error}); stop writing to it, run \
             `PRAGMA integrity_check` on a copy and restore from a backup if it fails"
        )),
        _ => LogError::Backend(format!("{doing}: {error}")),
    }
}

/// The error returned when the writer thread is gone.
pub(crate) fn writer_stopped() -> LogError {
    LogError::Unavailable(
        "the event log writer thread has stopped, so no append can be accepted; see the \
         error logged when it stopped, then restart the process"
            .to_owned(),
    )
}
