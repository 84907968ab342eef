//! The Debian half of `resolve`: `[apt] packages` into `lockfiles/apt.lock.toml`.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::net::cache::HttpCache;
use crate::net::redact;

use super::{Fingerprint, LockMode, LockStatus, check_status, write_if_changed};

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
    #[error("{lock}: cannot read back the settings it was made with ({message})")]
    Record { lock: String, message: String },
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
    /// The project has no airlock.toml: the packages, base, architectures and Recommends no
    /// flag gives are the ones the existing apt lock was made with.
    pub settings_from_lock: bool,
    /// Where the host's apt configuration (sources, default keyrings) is read from: `/`, or
    /// `AIRLOCK_APT_ROOT` (a chroot or an unpacked image whose sources should be used).
    pub host_root: PathBuf,
}

/// What a source's keys are, for the fingerprint: their bytes' digest, not where they are (a
/// project moved or unpacked elsewhere keeps its lock current; a key that changes does not).
fn keys_digest(signed_by: &crate::debian::sources::SignedBy, root: &Path) -> String {
    use crate::debian::sources::SignedBy;
    match signed_by {
        SignedBy::Default => "default".to_string(),
        SignedBy::Inline(armour) => format!("inline:{}", hex::encode(Sha256::digest(armour))),
        SignedBy::Files(files) => files
            .iter()
            .map(
                |file| match std::fs::read(root.join(file.strip_prefix("/").unwrap_or(file))) {
                    Ok(bytes) => format!("file:{}", hex::encode(Sha256::digest(&bytes))),
                    // Unreadable here: the resolve itself reports it when it reads the keyring.
                    Err(_) => format!("unreadable:{}", file.display()),
                },
            )
            .collect::<Vec<_>>()
            .join(","),
    }
}

/// `[apt]` as a run uses it: for a project with no airlock.toml, what no flag gave is taken
/// from the apt lock in `lockfiles` (the packages requested, the base, the architectures,
/// Recommends). Without an apt lock there is nothing to take.
pub fn effective_config(
    config: &crate::config::AptConfig,
    root: &Path,
    lockfiles: &Path,
    from_lock: bool,
) -> Result<crate::config::AptConfig, AptLockError> {
    use crate::config::AptBase;
    use crate::debian::aptlock::{APT_LOCK_FILE, AptLock};
    let path = lockfiles.join(APT_LOCK_FILE);
    if !from_lock || !path.is_file() {
        return Ok(config.clone());
    }
    let unreadable = |message: String| AptLockError::Record {
        lock: path.display().to_string(),
        message,
    };
    let text = std::fs::read_to_string(&path).map_err(|e| unreadable(e.to_string()))?;
    let lock = AptLock::parse(&text).map_err(|e| unreadable(e.to_string()))?;
    let mut effective = config.clone();
    if effective.packages.is_empty() {
        effective.packages = lock.requested.clone();
    }
    if matches!(effective.base, AptBase::None) {
        effective.base = match (lock.base.as_str(), &lock.base_file) {
            ("none", _) => AptBase::None,
            ("minbase", _) => AptBase::Minbase,
            (_, Some(file)) => {
                let relative = Path::new(file);
                let inside = relative
                    .components()
                    .all(|c| matches!(c, std::path::Component::Normal(_)));
                if !inside {
                    return Err(unreadable(format!(
                        "base-file = {file:?} is not a path inside the project"
                    )));
                }
                AptBase::Status(root.join(relative))
            }
            (other, None) => {
                return Err(unreadable(format!(
                    "base = {other:?} names no file to read it from; pass --apt-base"
                )));
            }
        };
    }
    if effective.architectures.is_none() {
        effective.architectures = Some(lock.architectures());
    }
    if !effective.recommends {
        effective.recommends = lock.recommends;
    }
    Ok(effective)
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
    let effective = effective_config(
        &request.config,
        &request.root,
        &request.lockfiles,
        request.settings_from_lock,
    )?;
    let config = &effective;
    // Keys named by the host's sources are paths inside the host root; those of [apt]
    // sources are the project's own files.
    let key_root = if config.sources.is_some() {
        Path::new("/")
    } else {
        request.host_root.as_path()
    };
    let sources = match &config.sources {
        Some(sources) => sources.clone(),
        None => crate::debian::sources::host_sources(&request.host_root)?,
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
    let mut fingerprint = Fingerprint::new("airlock-apt-inputs-v1");
    let mut add = |label: &str, value: &str| fingerprint.add(label, value);
    // In sorted order: the lock records them sorted, and a project with no airlock.toml
    // reads them back from there.
    let mut packages = config.packages.clone();
    packages.sort();
    packages.dedup();
    for package in &packages {
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
                keys_digest(&source.signed_by, key_root),
                source.trusted
            ),
        );
    }
    // Joined with ',' so a single-architecture fingerprint is what it always was.
    add("architecture", &architectures.join(","));
    add("base", &base_spec);
    add("recommends", if config.recommends { "yes" } else { "no" });
    let fingerprint = fingerprint.finish();
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
            Some(crate::debian::remote::keyring_for(source, key_root)?)
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
        (
            &base_spec,
            match &config.base {
                // Recorded only when inside the project: a path elsewhere means nothing on
                // another machine.
                AptBase::Status(path) => path
                    .strip_prefix(&request.root)
                    .ok()
                    .or_else(|| path.is_relative().then_some(path.as_path()))
                    .map(|relative| super::display_path(relative, Path::new(""))),
                _ => None,
            },
        ),
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
