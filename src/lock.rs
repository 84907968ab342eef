//! The `resolve` operation: requirements files in, one PEP 751 lockfile per file out.
//!
//! Each lock records a fingerprint of its inputs (the bytes of every requirements file read,
//! the targets, the indexes, the resolver settings), which is how `--check` and `sync` tell
//! a current lock from a stale one without asking the network. Targets resolve concurrently and
//! share one index source, so every page and metadata file is fetched once.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::net::cache::{HttpCache, write_atomic};
use crate::net::redact;
use crate::python::index::{IndexError, IndexInputs, IndexStrategy, RemoteIndex, select_indexes};
use crate::python::pylock::{LockContext, PyLock, PylockError, build_lock, lock_filename};
use crate::python::requirements::{DiskLoader, RequirementErrors, parse_requirements};
use crate::python::resolver::{PrereleaseMode, ResolveError, ResolveOptions, resolve};
use crate::python::target::Target;
use crate::reporter::{Event, Reporter};

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "no requirements files to resolve: list them in airlock.toml ([python] requirements) or pass -r FILE"
    )]
    NoRequirements,
    #[error(
        "no targets: list them in airlock.toml ([python] targets) or pass --python-version and --python-platform"
    )]
    NoTargets,
    #[error("{0}")]
    Requirements(#[from] RequirementErrors),
    #[error("cannot set up the package index")]
    Index(#[from] IndexError),
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    #[error(transparent)]
    Lockfile(#[from] PylockError),
    #[error("cannot write {}", .path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the resolver thread failed: {0}")]
    Join(String),
}

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

#[derive(Debug, Clone)]
pub struct LockRequest {
    pub root: PathBuf,
    pub requirements: Vec<PathBuf>,
    pub targets: Vec<Target>,
    pub lockfiles: PathBuf,
    pub indexes: IndexInputs,
    pub index_strategy: IndexStrategy,
    pub prerelease: PrereleaseMode,
    pub offline: bool,
    pub mode: LockMode,
    pub cache_dir: PathBuf,
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

#[derive(Debug, Clone, serde::Serialize)]
pub struct LockReport {
    pub requirements: PathBuf,
    pub lockfile: PathBuf,
    pub status: LockStatus,
    pub packages: usize,
    pub targets: usize,
    pub index_requests: u64,
    pub cache_hits: u64,
    /// The indexes searched, in order, without credentials.
    pub indexes: Vec<String>,
    /// Where the primary index came from (`--index-url`, `the environment`, …).
    pub index_source: &'static str,
}

/// `path` relative to `root` when it is inside it, for messages and the lock.
pub fn display_path(path: &Path, root: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .to_string_lossy()
        .replace('\\', "/")
}

fn fingerprint(request: &LockRequest, files: &[(PathBuf, String)], indexes: &[url::Url]) -> String {
    let mut hasher = Sha256::new();
    let mut add = |label: &str, value: &str| {
        hasher.update(label.as_bytes());
        hasher.update((value.len() as u64).to_le_bytes());
        hasher.update(value.as_bytes());
    };
    add("schema", "airlock-inputs-v1");
    for (path, text) in files {
        add("file", &display_path(path, &request.root));
        add("content", text);
    }
    for target in &request.targets {
        add(
            "target",
            &format!("{}|{}", target.python_version, target.platform),
        );
    }
    for index in indexes {
        add("index", &redact(index));
    }
    add("strategy", &format!("{:?}", request.index_strategy));
    add("prerelease", &format!("{:?}", request.prerelease));
    hex::encode(hasher.finalize())
}

/// Resolves (or checks) every requirements file of the request.
pub async fn lock_all(
    request: &LockRequest,
    reporter: Arc<dyn Reporter>,
) -> Result<Vec<LockReport>, LockError> {
    if request.requirements.is_empty() {
        return Err(LockError::NoRequirements);
    }
    if request.targets.is_empty() {
        return Err(LockError::NoTargets);
    }
    let env = |name: &str| std::env::var(name).ok();
    let cache = HttpCache::new(&request.cache_dir);
    let mut sources: HashMap<Vec<url::Url>, RemoteIndex> = HashMap::new();
    let mut reports = Vec::new();
    for requirements_path in &request.requirements {
        let input = parse_requirements(requirements_path, &DiskLoader, &env)?;
        let mut index_inputs = request.indexes.clone();
        index_inputs.requirements_index_url = input.index_url.clone();
        index_inputs.requirements_extra_index_urls = input.extra_index_urls.clone();
        let selection = select_indexes(&index_inputs, &env, &request.cache_dir)?;
        let lockfile = request.lockfiles.join(lock_filename(requirements_path));
        let lock_label = display_path(&lockfile, &request.root);
        let fingerprint = fingerprint(request, &input.files, &selection.urls);
        let existing = std::fs::read_to_string(&lockfile).ok();
        // An unreadable or foreign lock counts as stale: it is rewritten, never trusted.
        let existing_lock = existing
            .as_deref()
            .and_then(|text| PyLock::parse(text, &lock_label).ok());
        let current = existing_lock
            .as_ref()
            .and_then(PyLock::fingerprint)
            .is_some_and(|found| found == fingerprint);
        let report = |status, packages| LockReport {
            requirements: requirements_path.clone(),
            lockfile: lockfile.clone(),
            status,
            packages,
            targets: request.targets.len(),
            index_requests: 0,
            cache_hits: 0,
            indexes: selection.urls.iter().map(redact).collect(),
            index_source: selection.primary_source,
        };
        let locked_packages = || existing_lock.as_ref().map_or(0, |lock| lock.packages.len());
        match request.mode {
            LockMode::Check => {
                let status = match (&existing, current) {
                    (None, _) => LockStatus::Missing,
                    (Some(_), false) => LockStatus::Stale,
                    (Some(_), true) => LockStatus::UpToDate,
                };
                reports.push(report(status, locked_packages()));
                continue;
            }
            LockMode::IfChanged if current => {
                reports.push(report(LockStatus::UpToDate, locked_packages()));
                continue;
            }
            _ => {}
        }
        let source = match sources.get(&selection.urls) {
            Some(source) => source.clone(),
            None => {
                let source = RemoteIndex::new(
                    selection.urls.clone(),
                    request.index_strategy,
                    cache.clone(),
                    request.offline,
                    reporter.clone(),
                    tokio::runtime::Handle::current(),
                )?;
                sources.insert(selection.urls.clone(), source.clone());
                source
            }
        };
        let options = ResolveOptions {
            prerelease: if input.pre {
                PrereleaseMode::Allow
            } else {
                request.prerelease
            },
        };
        let label = display_path(requirements_path, &request.root);
        let requests_before = source
            .stats()
            .requests
            .load(std::sync::atomic::Ordering::Relaxed);
        let hits_before = source
            .stats()
            .cache_hits
            .load(std::sync::atomic::Ordering::Relaxed);
        let mut tasks = Vec::new();
        for target in &request.targets {
            reporter.event(Event::ResolveStarted {
                lock: lock_label.clone(),
                target: target.to_string(),
            });
            let (source, label, target, options) = (
                source.clone(),
                label.clone(),
                target.clone(),
                options.clone(),
            );
            let (requirements, constraints) =
                (input.requirements.clone(), input.constraints.clone());
            tasks.push(tokio::task::spawn_blocking(move || {
                resolve(
                    &source,
                    &label,
                    &requirements,
                    &constraints,
                    &target,
                    &options,
                )
            }));
        }
        let mut resolutions = Vec::new();
        for task in tasks {
            resolutions.push(task.await.map_err(|e| LockError::Join(e.to_string()))??);
        }
        let context = LockContext {
            fingerprint,
            requirements: label,
            indexes: &selection.urls,
        };
        let lock = build_lock(&request.targets, &resolutions, &context);
        let text = lock.to_toml();
        let status = if existing.as_deref() == Some(text.as_str()) {
            LockStatus::Unchanged
        } else {
            std::fs::create_dir_all(&request.lockfiles).map_err(|source| LockError::Write {
                path: request.lockfiles.clone(),
                source,
            })?;
            write_atomic(&lockfile, text.as_bytes()).map_err(|source| LockError::Write {
                path: lockfile.clone(),
                source,
            })?;
            LockStatus::Written
        };
        reporter.event(Event::LockWritten {
            path: lock_label,
            packages: lock.packages.len(),
            changed: status == LockStatus::Written,
        });
        let mut done = report(status, lock.packages.len());
        done.index_requests = source
            .stats()
            .requests
            .load(std::sync::atomic::Ordering::Relaxed)
            - requests_before;
        done.cache_hits = source
            .stats()
            .cache_hits
            .load(std::sync::atomic::Ordering::Relaxed)
            - hits_before;
        reports.push(done);
    }
    Ok(reports)
}
