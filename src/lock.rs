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
use crate::python::resolver::{
    BinaryArg, BinaryPolicy, BinaryPolicyError, BuildResolution, MetadataOrigin, PrereleaseMode,
    ResolveError, ResolveOptions, resolve, resolve_builds,
};
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
    #[error(transparent)]
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
    #[error("--only-binary/--no-binary: {0}")]
    Binary(BinaryPolicyError),
}

/// Versions the resolver ruled out because their distribution was unusable (an sdist whose
/// build fails here): another version was chosen, and the user should know why.
fn warn_unusable(
    resolutions: &[crate::python::resolver::Resolution],
    builds: &[std::collections::BTreeMap<String, BuildResolution>],
    reporter: &dyn Reporter,
) {
    let mut seen = std::collections::BTreeMap::new();
    let build_resolutions = builds
        .iter()
        .flat_map(|b| b.values().map(|b| &b.resolution));
    for resolution in resolutions.iter().chain(build_resolutions) {
        for ((name, version), reason) in &resolution.unusable {
            seen.entry((name.to_string(), version.to_string()))
                .or_insert_with(|| reason.clone());
        }
    }
    for ((name, version), reason) in seen {
        reporter.event(Event::Warning {
            message: format!(
                "{name} {version} was ruled out, another version was chosen: {reason}"
            ),
        });
    }
    // Extras the chosen version does not have: pip and uv install without them and warn.
    let mut missing = std::collections::BTreeSet::new();
    for resolution in resolutions {
        for (name, version, extra) in &resolution.missing_extras {
            missing.insert((name.to_string(), version.to_string(), extra.to_string()));
        }
    }
    for (name, version, extra) in missing {
        reporter.event(Event::Warning {
            message: format!(
                "{name} {version} has no extra named `{extra}`; it is installed without it (check the spelling in the requirements)"
            ),
        });
    }
}

/// Metadata computed by running an sdist's build on this machine reflects this machine: a
/// `setup.py` that tests `sys.platform` or the Python version answers for the host. Say so for
/// every target that is not the host.
fn warn_host_metadata(
    targets: &[Target],
    builds: &[std::collections::BTreeMap<String, BuildResolution>],
    reporter: &dyn Reporter,
) {
    // (sdist, machine it was built on) -> the targets that machine does not stand for.
    let mut affected: std::collections::BTreeMap<(&str, String), Vec<String>> = Default::default();
    for (target, target_builds) in targets.iter().zip(builds) {
        for build in target_builds.values() {
            if build.origin != MetadataOrigin::Built {
                continue;
            }
            let same_as_host = build.built_on.as_ref().is_some_and(|host| {
                host.python_version == target.python_version
                    && host.platform.arch == target.platform.arch
            });
            if !same_as_host {
                let host = build
                    .built_on
                    .as_ref()
                    .map_or("an unknown machine".to_string(), ToString::to_string);
                affected
                    .entry((build.sdist.filename.as_str(), host))
                    .or_default()
                    .push(target.to_string());
            }
        }
    }
    for ((sdist, host), targets) in affected {
        reporter.event(Event::Warning {
            message: format!(
                "{sdist}: its dependencies come from running its build on {host}; markers its setup code evaluated are that machine's, not those of {}",
                targets.join(", ")
            ),
        });
    }
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
    /// Wheel/sdist switches from airlock.toml; a requirements file's own lines apply after
    /// them, then `binary_flags`.
    pub binary_config: Vec<BinaryArg>,
    pub binary_flags: Vec<BinaryArg>,
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
    pub index_source: String,
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

fn fingerprint(
    request: &LockRequest,
    files: &[(PathBuf, String)],
    indexes: &[url::Url],
    binary: &BinaryPolicy,
) -> String {
    let mut hasher = Sha256::new();
    let mut add = |label: &str, value: &str| {
        hasher.update(label.as_bytes());
        hasher.update((value.len() as u64).to_le_bytes());
        hasher.update(value.as_bytes());
    };
    add("schema", "airlock-inputs-v2");
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
    add("binary", &binary.describe());
    hex::encode(hasher.finalize())
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
        if input.requirements.is_empty() {
            reporter.event(Event::Warning {
                message: format!(
                    "{} names no requirement; its lock will hold no package",
                    display_path(requirements_path, &request.root)
                ),
            });
        }
        let mut index_inputs = request.indexes.clone();
        index_inputs.requirements_index_url = input.index_url.clone();
        index_inputs.requirements_extra_index_urls = input.extra_index_urls.clone();
        index_inputs.requirements_index_origin =
            input.index_url_at.as_ref().map(ToString::to_string);
        index_inputs.requirements_extra_origins = input
            .extra_index_urls_at
            .iter()
            .map(ToString::to_string)
            .collect();
        let selection = select_indexes(&index_inputs, &env, &request.cache_dir)?;
        let lockfile = request.lockfiles.join(lock_filename(requirements_path));
        let lock_label = display_path(&lockfile, &request.root);
        let binary = BinaryPolicy::from_args(
            request
                .binary_config
                .iter()
                .chain(&input.binary)
                .chain(&request.binary_flags),
        )
        .map_err(LockError::Binary)?;
        let fingerprint = fingerprint(request, &input.files, &selection.urls, &binary);
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
            index_source: selection.primary_source.clone(),
        };
        let locked_packages = || existing_lock.as_ref().map_or(0, |lock| lock.packages.len());
        match request.mode {
            LockMode::Check => {
                let status = check_status(existing.is_some(), current);
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
                    request.targets.iter().map(Target::tags).collect(),
                    request.index_strategy,
                    cache.clone(),
                    request.offline,
                    reporter.clone(),
                    tokio::runtime::Handle::current(),
                )?
                .with_origins(selection.origins.clone());
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
            binary,
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
                let resolution = resolve(
                    &source,
                    &label,
                    &requirements,
                    &constraints,
                    &target,
                    &options,
                )?;
                let mut resolution = resolution;
                let mut builds = resolve_builds(&source, &resolution, &target, &options)?;
                source
                    .complete_digests(&mut resolution, builds.values_mut())
                    .map_err(|error| ResolveError::Source {
                        action:
                            "computing the sha256 of files listed with only a sha384/sha512 digest"
                                .to_string(),
                        target: target.to_string(),
                        source: crate::python::resolver::SourceError::new(error),
                    })?;
                Ok::<_, ResolveError>((resolution, builds))
            }));
        }
        let mut resolutions = Vec::new();
        let mut builds = Vec::new();
        for task in tasks {
            let (resolution, target_builds) =
                task.await.map_err(|e| LockError::Join(e.to_string()))??;
            resolutions.push(resolution);
            builds.push(target_builds);
        }
        warn_host_metadata(&request.targets, &builds, reporter.as_ref());
        warn_unusable(&resolutions, &builds, reporter.as_ref());
        let context = LockContext {
            fingerprint,
            requirements: label,
            indexes: &selection.urls,
        };
        let lock = build_lock(&request.targets, &resolutions, &builds, &context);
        let text = lock.to_toml();
        let status = write_if_changed(&lockfile, existing.as_deref(), &text)
            .map_err(|(path, source)| LockError::Write { path, source })?;
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
        if std::env::var_os("AIRLOCK_TRACE_SOLVER").is_some_and(|v| v == "1") {
            let stats = source.stats();
            eprintln!(
                "index: the resolver waited {} times, {:.2}s in all",
                stats.waits.load(std::sync::atomic::Ordering::Relaxed),
                stats
                    .waited_micros
                    .load(std::sync::atomic::Ordering::Relaxed) as f64
                    / 1e6
            );
        }
        reports.push(done);
    }
    Ok(reports)
}

/// Errors of the apt side of `resolve`.
#[derive(Debug, thiserror::Error)]
pub enum AptLockError {
    #[error(transparent)]
    Sources(#[from] crate::debian::sources::SourcesError),
    #[error(transparent)]
    Remote(#[from] crate::debian::remote::RemoteError),
    #[error(transparent)]
    Closure(#[from] crate::debian::closure::ClosureError),
    #[error("[apt] packages: `{0}` is not a package request")]
    Request(String),
    #[error("no apt sources: the host has none configured; list them under [apt] sources")]
    NoSources,
    #[error("cannot read the base {}", .path.display())]
    Base {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is not a dpkg status file airlock can read", .path.display())]
    BadBase {
        path: PathBuf,
        #[source]
        source: crate::debian::closure::StatusError,
    },
    #[error("cannot write {}", .path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{uri} {suite}: the signed Release is dated {date}, older than {locked}, the Date of the Release {lock} was made from; the mirror is behind or an old Release is replayed (to go back to an older snapshot on purpose, resolve with --allow-older-release)"
    )]
    OlderRelease {
        uri: String,
        suite: String,
        date: String,
        locked: String,
        lock: String,
    },
}

#[derive(Debug, Clone)]
pub struct AptLockRequest {
    pub root: PathBuf,
    pub lockfiles: PathBuf,
    pub config: crate::config::AptConfig,
    pub offline: bool,
    pub mode: LockMode,
    pub cache_dir: PathBuf,
    /// Accept a Release whose Valid-Until has passed or whose Date is ahead (a frozen
    /// snapshot, a skewed clock); the lock records that it did.
    pub allow_expired_release: bool,
    /// Accept a Release older than the one the existing lock was made from; the lock records it.
    pub allow_older_release: bool,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct AptLockReport {
    pub lockfile: PathBuf,
    pub status: LockStatus,
    pub packages: usize,
    pub architecture: String,
    /// Releases accepted by `allow_expired_release` despite their dates, and why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub accepted_stale: Vec<String>,
    /// Recommends left out because they cannot be installed, as apt leaves them out.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dropped_recommends: Vec<String>,
    /// Releases accepted by `allow_older_release` although older than the lock's.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub accepted_older: Vec<String>,
}

/// The host's dpkg architectures: native first, then those `dpkg --add-architecture` added.
pub fn host_architectures() -> Vec<String> {
    let mut list = vec![host_architecture()];
    if let Ok(output) = std::process::Command::new("dpkg")
        .arg("--print-foreign-architectures")
        .output()
        && output.status.success()
    {
        for arch in String::from_utf8_lossy(&output.stdout).split_whitespace() {
            if !list.iter().any(|a| a == arch) {
                list.push(arch.to_string());
            }
        }
    }
    list
}

/// The host's dpkg architecture (`dpkg --print-architecture`), else one derived from the
/// machine airlock runs on.
pub fn host_architecture() -> String {
    if let Ok(output) = std::process::Command::new("dpkg")
        .arg("--print-architecture")
        .output()
        && output.status.success()
    {
        let arch = String::from_utf8_lossy(&output.stdout).trim().to_string();
        if !arch.is_empty() {
            return arch;
        }
    }
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "i386",
        other => other,
    }
    .to_string()
}

/// Resolves (or checks) `[apt] packages` into `lockfiles/apt.lock.toml`.
pub async fn lock_apt(request: &AptLockRequest) -> Result<AptLockReport, AptLockError> {
    use crate::config::AptBase;
    use crate::debian::aptlock::{APT_LOCK_FILE, AptLock};
    use crate::debian::closure::{AptIndex, Base, ClosureOptions, Request, closure_report};
    let config = &request.config;
    let sources = match &config.sources {
        Some(sources) => sources.clone(),
        None => crate::debian::sources::host_sources(Path::new("/"))?,
    };
    if sources.is_empty() {
        return Err(AptLockError::NoSources);
    }
    let architectures = config
        .architectures
        .clone()
        .filter(|a| !a.is_empty())
        .unwrap_or_else(host_architectures);
    let architecture = architectures.join(", ");
    let base_spec = match &config.base {
        AptBase::None => "none".to_string(),
        AptBase::Minbase => "minbase".to_string(),
        AptBase::Status(path) => {
            let bytes = std::fs::read(path).map_err(|source| AptLockError::Base {
                path: path.clone(),
                source,
            })?;
            format!("status:{}", hex::encode(Sha256::digest(&bytes)))
        }
    };
    let mut hasher = Sha256::new();
    let mut add = |label: &str, value: &str| {
        hasher.update(label.as_bytes());
        hasher.update((value.len() as u64).to_le_bytes());
        hasher.update(value.as_bytes());
    };
    add("schema", "airlock-apt-inputs-v1");
    for package in &config.packages {
        add("package", package);
    }
    for source in &sources {
        // A source's own architectures join the fingerprint only when given, so that locks
        // made before they were read stay current.
        let architectures = source
            .architectures
            .as_ref()
            .map(|list| format!("|arch={}", list.join(",")))
            .unwrap_or_default();
        add(
            "source",
            &format!(
                "{}|{}|{}|{:?}|{}{architectures}",
                redact(&source.uri),
                source.suite,
                source.components.join(" "),
                source.signed_by,
                source.trusted
            ),
        );
    }
    // Joined with ',' so a single-architecture fingerprint is what it always was.
    add("architecture", &architectures.join(","));
    add("base", &base_spec);
    add("recommends", if config.recommends { "yes" } else { "no" });
    let fingerprint = hex::encode(hasher.finalize());
    let lockfile = request.lockfiles.join(APT_LOCK_FILE);
    let existing = std::fs::read_to_string(&lockfile).ok();
    let existing_lock = existing
        .as_deref()
        .and_then(|text| AptLock::parse(text).ok());
    let current = existing_lock
        .as_ref()
        .is_some_and(|lock| lock.inputs_fingerprint == fingerprint);
    let report = |status, packages| AptLockReport {
        lockfile: lockfile.clone(),
        status,
        packages,
        architecture: architecture.clone(),
        accepted_stale: Vec::new(),
        dropped_recommends: Vec::new(),
        accepted_older: Vec::new(),
    };
    let locked_count = existing_lock.as_ref().map_or(0, |l| l.packages.len());
    match request.mode {
        LockMode::Check => {
            let status = check_status(existing.is_some(), current);
            return Ok(report(status, locked_count));
        }
        LockMode::IfChanged if current => return Ok(report(LockStatus::UpToDate, locked_count)),
        _ => {}
    }
    let requests: Vec<Request> = config
        .packages
        .iter()
        .map(|p| p.parse().map_err(|_| AptLockError::Request(p.clone())))
        .collect::<Result<_, _>>()?;
    let client = crate::net::client().map_err(crate::debian::remote::RemoteError::from)?;
    let cache = HttpCache::new(&request.cache_dir);
    let policy = crate::net::RetryPolicy::default();
    let now = std::time::SystemTime::now();
    let mut keyrings = Vec::new();
    for source in &sources {
        keyrings.push(if source.trusted {
            None
        } else {
            Some(crate::debian::remote::keyring_for(source, Path::new("/"))?)
        });
    }
    // All suites at once: their downloads overlap, and so does one's parsing with another's
    // download. The order (apt's source order) is kept.
    let mut suites =
        futures::future::try_join_all(sources.iter().zip(&keyrings).map(|(source, keyring)| {
            crate::debian::remote::load_suite(
                &client,
                &cache,
                &policy,
                request.offline,
                source,
                keyring.as_ref(),
                &architectures,
                now,
                request.allow_expired_release,
            )
        }))
        .await?;
    // A signed Release older than the one the lock was made from is a rollback: Debian's main
    // suites carry no Valid-Until, so an old, validly signed InRelease would otherwise pass.
    if let Some(previous) = &existing_lock {
        for suite in &mut suites {
            let uri = redact(&suite.uri);
            let Some(locked) = previous
                .sources
                .iter()
                .find(|s| s.uri == uri && s.suite == suite.suite)
                .and_then(|s| s.date.as_deref())
            else {
                continue;
            };
            // A Release that stops giving a Date cannot be shown to be newer: refused too.
            let date = suite
                .release
                .date
                .clone()
                .unwrap_or_else(|| "(no Date)".to_string());
            // The lock's date was a Release's when it was written, so an unreadable one means
            // the lock was edited: then there is nothing to compare with. The mirror's own
            // date must always be readable.
            let older = match (
                crate::dates::parse_rfc2822(&date),
                crate::dates::parse_rfc2822(locked),
            ) {
                (Some(new), Some(old)) => new < old,
                (Some(_), None) => false,
                (None, _) => true,
            };
            if !older {
                continue;
            }
            if !request.allow_older_release {
                return Err(AptLockError::OlderRelease {
                    uri,
                    suite: suite.suite.clone(),
                    date,
                    locked: locked.to_string(),
                    lock: lockfile.display().to_string(),
                });
            }
            suite.older = Some(format!(
                "{uri} {}: Release dated {date}, older than {locked}",
                suite.suite
            ));
        }
    }
    // The suites' packages move into the index (no copy); the suites keep their metadata.
    let index = AptIndex::from_chunks(
        suites.iter_mut().enumerate().flat_map(|(origin, suite)| {
            std::mem::take(&mut suite.packages)
                .into_iter()
                .map(move |chunk| (origin, chunk))
        }),
        &architectures,
    );
    let base = match &config.base {
        AptBase::None => Base::default(),
        AptBase::Minbase => {
            let mut base = Base::default();
            for (package, _) in index.packages() {
                let required = package.essential || package.priority() == Some("required");
                // Only the native architecture's essential set, newest versions.
                let newest = index
                    .newest(&package.name, index.native())
                    .is_some_and(|p| std::ptr::eq(p, package));
                if required && newest {
                    base.add(package);
                }
            }
            base
        }
        AptBase::Status(path) => {
            let text = std::fs::read_to_string(path).map_err(|source| AptLockError::Base {
                path: path.clone(),
                source,
            })?;
            Base::from_dpkg_status(&text).map_err(|source| AptLockError::BadBase {
                path: path.clone(),
                source,
            })?
        }
    };
    let closure = closure_report(
        &index,
        &base,
        &requests,
        ClosureOptions {
            recommends: config.recommends,
        },
    )?;
    let chosen = closure.chosen;
    let lock = AptLock::build(
        fingerprint,
        &architectures,
        &base_spec,
        config.recommends,
        &config.packages,
        &suites,
        &chosen,
    );
    let text = lock.to_toml();
    let status = write_if_changed(&lockfile, existing.as_deref(), &text)
        .map_err(|(path, source)| AptLockError::Write { path, source })?;
    let mut report = report(status, lock.packages.len());
    report.accepted_stale = suites.iter().filter_map(|s| s.stale.clone()).collect();
    report.dropped_recommends = closure.dropped_recommends;
    report.accepted_older = suites.iter().filter_map(|s| s.older.clone()).collect();
    Ok(report)
}
