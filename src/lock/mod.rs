//! Locks: what `resolve` writes and `--check`, `sync` and `verify` compare with.
//!
//! Each lock records a fingerprint of its inputs (the bytes of every file read and the
//! settings used), which is how `--check` and `sync` tell a current lock from a stale one
//! without asking the network, and the settings themselves, so that a project with no
//! airlock.toml reads them back. [`python`] resolves requirements files into PEP 751 locks,
//! [`apt`] Debian package lists into `apt.lock.toml`.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::net::cache::write_atomic;

pub mod apt;
pub mod python;

pub use apt::{
    AptLockError, AptLockReport, AptLockRequest, host_architecture, host_architectures, lock_apt,
};
pub use python::{LockError, LockReport, LockRequest, lock_all};

/// What to do with each lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockMode {
    /// Resolve and write (`airlock resolve`).
    Write,
    /// Resolve only when the inputs changed since the lock was written (`airlock sync`).
    IfChanged,
    /// Write nothing; report missing or stale locks (`airlock resolve --check`).
    Check,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LockStatus {
    /// Resolved and written: the file changed.
    Written,
    /// Resolved; the result is byte-identical to the file on disk.
    Unchanged,
    /// The fingerprint matches the inputs; not resolved.
    UpToDate,
    /// `--check`: no lockfile.
    Missing,
    /// `--check`: the inputs changed since the lock was written.
    Stale,
}

/// `path` relative to `root` when it is inside it, for messages and the lock.
pub fn display_path(path: &Path, root: &Path) -> String {
    let text = path.strip_prefix(root).unwrap_or(path).to_string_lossy();
    // On Windows the separator is written as `/` (as locks record paths); elsewhere a
    // backslash is part of a file name and must survive the round trip through a lock.
    if cfg!(windows) {
        text.replace('\\', "/")
    } else {
        text.into_owned()
    }
}

/// Writes `text` to `lockfile` (atomically, creating its directory) unless the file already
/// holds exactly those bytes.
fn write_if_changed(
    lockfile: &Path,
    existing: Option<&str>,
    text: &str,
) -> Result<LockStatus, (PathBuf, std::io::Error)> {
    if existing == Some(text) {
        return Ok(LockStatus::Unchanged);
    }
    if let Some(dir) = lockfile.parent() {
        std::fs::create_dir_all(dir).map_err(|e| (dir.to_path_buf(), e))?;
    }
    write_atomic(lockfile, text.as_bytes()).map_err(|e| (lockfile.to_path_buf(), e))?;
    Ok(LockStatus::Written)
}

/// What `--check` says of a lock: missing, made from other inputs, or current.
fn check_status(exists: bool, current: bool) -> LockStatus {
    match (exists, current) {
        (false, _) => LockStatus::Missing,
        (true, false) => LockStatus::Stale,
        (true, true) => LockStatus::UpToDate,
    }
}

/// The fingerprint of a lock's inputs: labelled values, each length-prefixed so that no two
/// different sequences hash alike. The same builder serves both lock kinds.
pub struct Fingerprint(Sha256);

impl Fingerprint {
    /// Starts a fingerprint of the given schema (a new schema makes every lock stale).
    pub fn new(schema: &str) -> Self {
        let mut fingerprint = Fingerprint(Sha256::new());
        fingerprint.add("schema", schema);
        fingerprint
    }

    pub fn add(&mut self, label: &str, value: &str) {
        self.0.update(label.as_bytes());
        self.0.update((value.len() as u64).to_le_bytes());
        self.0.update(value.as_bytes());
    }

    pub fn finish(self) -> String {
        hex::encode(self.0.finalize())
    }
}
