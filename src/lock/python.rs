//! The Python half of `resolve`: requirements files in, one PEP 751 lockfile per file out.
//! Targets resolve concurrently and share one index source, so every page and metadata file
//! is fetched once.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use crate::net::cache::HttpCache;
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

use super::{Fingerprint, LockMode, LockStatus, check_status, display_path, write_if_changed};
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
    #[error(
        "{lock}: cannot read back the settings it was made with ({message}); pass them as flags or re-create it"
    )]
    Record { lock: String, message: String },
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
    // A pinned yanked release (PEP 592: installers warn): which file, the index's reason, and
    // that only the exact pin admits it.
    let mut yanked = std::collections::BTreeMap::new();
    for resolution in resolutions {
        for package in resolution.packages.values() {
            if package.dist.yanked {
                yanked
                    .entry((package.name.to_string(), package.version.to_string()))
                    .or_insert_with(|| {
                        (
                            package.dist.filename.to_string(),
                            package.dist.yanked_reason.clone(),
                        )
                    });
            }
        }
    }
    for ((name, version), (file, reason)) in yanked {
        reporter.event(Event::Warning {
            message: format!(
                "{name}=={version} is a yanked release ({file}; the index says: {}); it is locked only because it is pinned with ==, and a `>=` range would skip it",
                reason.as_deref().unwrap_or("no reason given")
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

#[derive(Debug, Clone)]
pub struct LockRequest {
    pub root: PathBuf,
    pub requirements: Vec<PathBuf>,
    pub targets: Vec<Target>,
    pub lockfiles: PathBuf,
    pub indexes: IndexInputs,
    /// `None`: neither a flag nor airlock.toml says (then the lock's record, else the default).
    pub index_strategy: Option<IndexStrategy>,
    pub prerelease: Option<PrereleaseMode>,
    /// Wheel/sdist switches from airlock.toml; a requirements file's own lines apply after
    /// them, then `binary_flags`.
    pub binary_config: Vec<BinaryArg>,
    pub binary_flags: Vec<BinaryArg>,
    /// The project has no airlock.toml: what no flag gives (the requirements files, targets,
    /// index strategy, pre-releases, wheel/sdist switches) is read back from each existing
    /// lock, which recorded what the flags said when it was made.
    pub settings_from_locks: bool,
    pub offline: bool,
    pub mode: LockMode,
    pub cache_dir: PathBuf,
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
    /// For a stale lock: which setting differs from the one it was made with, or that the
    /// requirements files changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stale_because: Option<String>,
}

fn fingerprint(
    request: &LockRequest,
    files: &[(PathBuf, String)],
    targets: &[Target],
    indexes: &[url::Url],
    settings: (IndexStrategy, PrereleaseMode),
    binary: &BinaryPolicy,
) -> String {
    let mut fingerprint = Fingerprint::new("airlock-inputs-v2");
    for (path, text) in files {
        fingerprint.add("file", &display_path(path, &request.root));
        fingerprint.add("content", text);
    }
    for target in targets {
        fingerprint.add(
            "target",
            &format!("{}|{}", target.python_version, target.platform),
        );
    }
    for index in indexes {
        fingerprint.add("index", &redact(index));
    }
    fingerprint.add("strategy", &format!("{:?}", settings.0));
    fingerprint.add("prerelease", &format!("{:?}", settings.1));
    fingerprint.add("binary", &binary.describe());
    fingerprint.finish()
}

/// The requirements files of the locks in `lockfiles`, for a project with no airlock.toml
/// and no `-r`: each lock names the file it was made from.
fn recorded_requirements(request: &LockRequest) -> Result<Vec<PathBuf>, LockError> {
    let locks = crate::python::pylock::lockfiles_in(&request.lockfiles).map_err(|source| {
        LockError::Write {
            path: request.lockfiles.clone(),
            source,
        }
    })?;
    let mut files = Vec::new();
    for path in locks {
        let label = display_path(&path, &request.root);
        let record = |message: String| LockError::Record {
            lock: label.clone(),
            message,
        };
        let text = std::fs::read_to_string(&path).map_err(|e| record(e.to_string()))?;
        let lock = PyLock::parse(&text, &label).map_err(|e| record(e.to_string()))?;
        let table = lock
            .tool
            .as_ref()
            .ok_or_else(|| record("it has no [tool.airlock] table".into()))?;
        // A lock made from a file outside the project (or under another root) is not
        // read back: its path would not name the same file here.
        let file = table
            .airlock
            .requirements_path(&request.root)
            .map_err(record)?;
        files.push(file);
    }
    Ok(files)
}

/// The settings a lock records, as the current ones are compared with them.
struct Settings {
    targets: Vec<String>,
    indexes: Vec<String>,
    strategy: IndexStrategy,
    prerelease: PrereleaseMode,
    binary: Vec<String>,
}

/// Which recorded setting differs from the current one, in words; when none does, the
/// requirements files themselves changed.
fn stale_because(recorded: &crate::python::pylock::AirlockTable, current: &Settings) -> String {
    let targets: Vec<String> = recorded
        .targets
        .iter()
        .map(|t| format!("{} {}", t.python_version, t.python_platform))
        .collect();
    let list = |items: &[String]| {
        if items.is_empty() {
            "none".to_string()
        } else {
            items.join(", ")
        }
    };
    if targets != current.targets {
        return format!(
            "the targets differ (the lock: {}; now: {})",
            list(&targets),
            list(&current.targets)
        );
    }
    if recorded.indexes != current.indexes {
        return format!(
            "the indexes differ (the lock: {}; now: {})",
            list(&recorded.indexes),
            list(&current.indexes)
        );
    }
    let strategy = recorded.index_strategy.unwrap_or_default();
    if strategy != current.strategy {
        return format!(
            "the index strategy differs (the lock: {strategy:?}; now: {:?})",
            current.strategy
        );
    }
    let prerelease = recorded.prerelease.unwrap_or_default();
    if prerelease != current.prerelease {
        return format!(
            "the pre-release setting differs (the lock: {prerelease:?}; now: {:?})",
            current.prerelease
        );
    }
    if recorded.binary != current.binary {
        return format!(
            "the wheel/sdist switches differ (the lock: {}; now: {})",
            list(&recorded.binary),
            list(&current.binary)
        );
    }
    "the requirements files changed (the file or one it includes)".to_string()
}

/// Resolves (or checks) every requirements file of the request.
pub async fn lock_all(
    request: &LockRequest,
    reporter: Arc<dyn Reporter>,
) -> Result<Vec<LockReport>, LockError> {
    let requirements = if request.requirements.is_empty() && request.settings_from_locks {
        recorded_requirements(request)?
    } else {
        request.requirements.clone()
    };
    if requirements.is_empty() {
        return Err(LockError::NoRequirements);
    }
    let env = |name: &str| std::env::var(name).ok();
    let cache = HttpCache::new(&request.cache_dir);
    let mut sources: HashMap<Vec<url::Url>, RemoteIndex> = HashMap::new();
    let mut reports = Vec::new();
    for requirements_path in &requirements {
        let lockfile = request.lockfiles.join(lock_filename(requirements_path));
        let lock_label = display_path(&lockfile, &request.root);
        // An unreadable or foreign lock counts as stale: it is rewritten, never trusted.
        let existing = std::fs::read_to_string(&lockfile).ok();
        let existing_lock = existing
            .as_deref()
            .and_then(|text| PyLock::parse(text, &lock_label).ok());
        let record = existing_lock
            .as_ref()
            .and_then(|lock| lock.tool.as_ref())
            .map(|tool| &tool.airlock);
        let from_record = request.settings_from_locks.then_some(record).flatten();
        let targets: Vec<Target> = match (&request.targets[..], record) {
            ([], Some(record)) => record
                .targets
                .iter()
                .map(|t| Target::new(&t.python_version, &t.python_platform))
                .collect::<Result<_, _>>()
                .map_err(|error| LockError::Record {
                    lock: lock_label.clone(),
                    message: error.to_string(),
                })?,
            (targets, _) => targets.to_vec(),
        };
        if targets.is_empty() {
            return Err(LockError::NoTargets);
        }
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
        index_inputs.recorded = record.map(|r| r.indexes.clone()).unwrap_or_default();
        let selection = select_indexes(&index_inputs, &env, &request.cache_dir)?;
        let strategy = request
            .index_strategy
            .or_else(|| from_record.and_then(|r| r.index_strategy))
            .unwrap_or_default();
        let prerelease = request
            .prerelease
            .or_else(|| from_record.and_then(|r| r.prerelease))
            .unwrap_or_default();
        // The switches airlock.toml and flags gave; for a project without airlock.toml and
        // no switch flag, the ones the lock was made with.
        let recorded_switches: Vec<BinaryArg> = match from_record {
            Some(record) if request.binary_config.is_empty() && request.binary_flags.is_empty() => {
                record
                    .binary
                    .iter()
                    .map(|text| text.parse::<BinaryArg>())
                    .collect::<Result<_, _>>()
                    .map_err(|message| LockError::Record {
                        lock: lock_label.clone(),
                        message,
                    })?
            }
            _ => Vec::new(),
        };
        let binary_flags: Vec<BinaryArg> = request
            .binary_flags
            .iter()
            .chain(&recorded_switches)
            .cloned()
            .collect();
        let binary = BinaryPolicy::from_args(
            request
                .binary_config
                .iter()
                .chain(&input.binary)
                .chain(&binary_flags),
        )
        .map_err(LockError::Binary)?;
        let switches: Vec<BinaryArg> = request
            .binary_config
            .iter()
            .chain(&binary_flags)
            .cloned()
            .collect();
        let fingerprint = fingerprint(
            request,
            &input.files,
            &targets,
            &selection.urls,
            (strategy, prerelease),
            &binary,
        );
        let current = existing_lock
            .as_ref()
            .and_then(PyLock::fingerprint)
            .is_some_and(|found| found == fingerprint);
        let report = |status, packages| LockReport {
            requirements: requirements_path.clone(),
            lockfile: lockfile.clone(),
            status,
            packages,
            targets: targets.len(),
            index_requests: 0,
            cache_hits: 0,
            indexes: selection.urls.iter().map(redact).collect(),
            index_source: selection.primary_source.clone(),
            stale_because: None,
        };
        let locked_packages = || existing_lock.as_ref().map_or(0, |lock| lock.packages.len());
        match request.mode {
            LockMode::Check => {
                let status = check_status(existing.is_some(), current);
                let mut checked = report(status, locked_packages());
                if let (LockStatus::Stale, Some(record)) = (status, record) {
                    checked.stale_because = Some(stale_because(
                        record,
                        &Settings {
                            targets: targets
                                .iter()
                                .map(|t| format!("{} {}", t.python_version, t.platform))
                                .collect(),
                            indexes: selection.urls.iter().map(redact).collect(),
                            strategy,
                            prerelease,
                            binary: switches.iter().map(ToString::to_string).collect(),
                        },
                    ));
                }
                reports.push(checked);
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
                    targets.iter().map(Target::tags).collect(),
                    strategy,
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
                prerelease
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
        for target in &targets {
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
        warn_host_metadata(&targets, &builds, reporter.as_ref());
        warn_unusable(&resolutions, &builds, reporter.as_ref());
        let context = LockContext {
            fingerprint,
            requirements: label,
            indexes: &selection.urls,
            index_strategy: strategy,
            prerelease,
            binary: &switches,
        };
        let lock = build_lock(&targets, &resolutions, &builds, &context);
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
