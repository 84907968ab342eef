//! The `fetch` operation: every wheel the lockfiles list, into a flat wheelhouse.
//!
//! Plan, then act: [`FetchPlan`] sorts the locked files into present (right digest), missing,
//! corrupt (wrong digest, a symlink, not a regular file) and extraneous (in the wheelhouse but
//! in no lock); only missing and corrupt files are downloaded. `verify` will use the same plan.
//! An advisory lock on the wheelhouse keeps two runs from writing the same files.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;
use url::Url;

use crate::digest::SafeFileName;
use crate::net::RetryPolicy;
use crate::net::download::{
    ContentCache, DownloadError, DownloadItem, Downloader, Fetched, hash_file,
};
use crate::python::pylock::{PyLock, PylockError, lockfiles_in};
use crate::reporter::{Event, Reporter};

/// The advisory lock file inside the wheelhouse.
pub const LOCK_FILE: &str = ".airlock.lock";

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("no pylock.*.toml in {}; run `airlock resolve` first", .0.display())]
    NoLocks(PathBuf),
    #[error("cannot read {}", .path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Lockfile(#[from] PylockError),
    #[error(
        "{lock}: {name:?} is not a plain file name in the pool; refusing to write outside the wheelhouse"
    )]
    UnsafeName { lock: String, name: String },
    #[error("{lock}: {name} has the url `{url}`, which is not an http(s) URL")]
    InvalidEntry {
        lock: String,
        name: String,
        url: String,
    },
    #[error("{lock}: {problem}")]
    InvalidAptLock { lock: String, problem: String },
    #[error(
        "{name} is locked with two different sha256 digests ({first} in {first_lock}, {second} in {second_lock}); re-resolve both locks"
    )]
    Conflict {
        name: String,
        first: String,
        first_lock: String,
        second: String,
        second_lock: String,
    },
    #[error("{} is a symbolic link; airlock does not write through links in the wheelhouse; remove it", .path.display())]
    LinkedLockFile { path: PathBuf },
    #[error("the wheelhouse {} is in use by another airlock run ({holder}); wait for it to finish", .path.display())]
    Busy { path: PathBuf, holder: String },
    #[error(
        "the wheels' own METADATA disagrees with the metadata the locks were made from (the index's `.metadata` files, PEP 658/714), so the locks may miss dependencies:\n  {}\nreport it to the index's maintainers; `airlock verify` re-checks the closure from the wheels",
        .0.join("\n  ")
    )]
    MetadataDisagrees(Vec<String>),
    #[error("cannot build the HTTP client")]
    Client(#[from] crate::net::NetError),
    #[error(transparent)]
    Signing(#[from] crate::debian::signing::SigningError),
    #[error("{} of {} downloads failed:\n  {}", .0.len(), .1, .0.iter().map(|e| error_chain(e)).collect::<Vec<_>>().join("\n  "))]
    Downloads(Vec<DownloadError>, usize),
}

/// An error and its causes on one line.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

#[derive(Debug, Clone)]
pub struct FetchRequest {
    pub lockfiles: PathBuf,
    pub wheelhouse: PathBuf,
    pub jobs: usize,
    pub offline: bool,
    /// `None` disables the shared download cache.
    pub cache_dir: Option<PathBuf>,
    /// `[apt] signing-key`: sign the local apt repository with it.
    pub apt_signing_key: Option<PathBuf>,
}

/// What the wheelhouse holds compared with the locks.
#[derive(Debug, Default)]
pub struct FetchPlan {
    pub present: Vec<DownloadItem>,
    pub missing: Vec<DownloadItem>,
    pub corrupt: Vec<DownloadItem>,
    /// File names in the wheelhouse that no lock lists.
    pub extraneous: Vec<String>,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct FetchReport {
    pub locks: usize,
    pub files: usize,
    pub downloaded: usize,
    pub downloaded_bytes: u64,
    pub resumed: usize,
    pub from_cache: usize,
    pub already_present: usize,
    /// Present with a wrong digest (or not a regular file) and replaced.
    pub replaced: Vec<String>,
    pub extraneous: Vec<String>,
    /// The local apt repository published, if the project locks Debian packages.
    pub apt_repository: Option<String>,
    /// The fingerprint of the key that signed it, if one did.
    pub apt_signed_by: Option<String>,
    pub seconds: f64,
}

/// A wheel a lock lists, with the package it belongs to.
#[derive(Debug, Clone)]
pub struct LockedWheel {
    pub item: DownloadItem,
    pub package: String,
    pub version: String,
    /// The first lock that lists it.
    pub lock: PathBuf,
}

/// The content check fetch runs on every file before it enters the wheelhouse: what verify
/// would report about the file itself (wheels: zip, `.dist-info`, RECORD; sdists: the archive;
/// `.deb`s: the ar layout) refuses it, so hostile files never land.
fn refuse_what_verify_rejects(item: &DownloadItem, path: &Path) -> Result<(), String> {
    let name = item.file_name.as_str();
    if name.ends_with(".whl") {
        let problems = crate::verify::integrity::wheel_problems(path, name);
        return match problems.as_slice() {
            [] => Ok(()),
            [(rule, first), rest @ ..] => Err(format!(
                "{rule} {first}{}",
                if rest.is_empty() {
                    String::new()
                } else {
                    format!(
                        " (and {} more problem(s); `airlock verify` lists them)",
                        rest.len()
                    )
                }
            )),
        };
    }
    if name.ends_with(".deb") {
        return crate::debian::deb::check_deb_file(path);
    }
    if crate::python::wheel::has_sdist_suffix(name) {
        let bytes = std::fs::read(path).map_err(|error| format!("cannot read it: {error}"))?;
        return crate::python::sdist::inspect(
            name,
            &bytes,
            crate::python::sdist::Limits::default(),
        )
        .map(drop)
        .map_err(|error| error.to_string());
    }
    Ok(())
}

/// A lock and how messages name it.
fn read_lock(path: &Path) -> Result<(String, PyLock), FetchError> {
    let label = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| FetchError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let lock = PyLock::parse(&text, &label)?;
    Ok((label, lock))
}

/// Where a locked wheel's own METADATA disagrees with its lock: another name or version, or
/// a dependency (no extra involved, its marker true for a target that installs the wheel)
/// that the lock does not record for the package. The resolver read the index's `.metadata`
/// file; an index whose file lies about the wheel would otherwise leave a dependency out of
/// the lock unnoticed. Wheels not in the wheelhouse are not read.
pub fn metadata_disagreements(
    lockfiles: &Path,
    wheelhouse: &Path,
) -> Result<Vec<String>, FetchError> {
    use crate::python::metadata::CoreMetadata;
    let locks = lockfiles_in(lockfiles).map_err(|source| FetchError::Read {
        path: lockfiles.to_path_buf(),
        source,
    })?;
    let mut problems = Vec::new();
    for path in &locks {
        let (label, lock) = read_lock(path)?;
        let Some(tool) = &lock.tool else { continue };
        let normalized = |name: &str| crate::serve::catalogue::normalize(name);
        let mut checked = BTreeSet::new();
        for locked in &tool.airlock.targets {
            let Ok(target) =
                crate::python::target::Target::new(&locked.python_version, &locked.python_platform)
            else {
                continue;
            };
            let env = target.marker_environment();
            for pin in locked.pins.iter().filter(|pin| !pin.wheel.is_empty()) {
                let Some(package) = lock.packages.iter().find(|p| {
                    normalized(&p.name) == normalized(&pin.name) && p.version == pin.version
                }) else {
                    continue;
                };
                let wheel = wheelhouse.join(&pin.wheel);
                let Some(bytes) = crate::verify::integrity::read_metadata(&wheel) else {
                    continue;
                };
                let metadata = match CoreMetadata::parse(&bytes) {
                    Ok(metadata) => metadata,
                    Err(error) => {
                        problems.push(format!(
                            "{}: its METADATA cannot be read: {error}",
                            pin.wheel
                        ));
                        continue;
                    }
                };
                if normalized(metadata.name.as_ref()) != normalized(&package.name)
                    || metadata.version.to_string() != package.version
                {
                    if checked.insert((pin.wheel.clone(), String::new())) {
                        problems.push(format!(
                            "{}: the wheel says it is {} {}, the lock ({label}) says {} {}",
                            pin.wheel,
                            metadata.name,
                            metadata.version,
                            package.name,
                            package.version
                        ));
                    }
                    continue;
                }
                let recorded: BTreeSet<String> = package
                    .dependencies
                    .iter()
                    .map(|d| normalized(&d.name))
                    .collect();
                for requirement in &metadata.requires_dist {
                    let written = requirement.to_string();
                    let mentions_extra = written
                        .split_once(';')
                        .is_some_and(|(_, marker)| marker.contains("extra"));
                    if mentions_extra || !requirement.evaluate_markers(&env, &[]) {
                        continue;
                    }
                    let name = normalized(requirement.name.as_ref());
                    if name != normalized(&package.name)
                        && !recorded.contains(&name)
                        && checked.insert((pin.wheel.clone(), name.clone()))
                    {
                        problems.push(format!(
                            "{}: the wheel requires `{requirement}` (for {target}), which {label} does not record as a dependency of {} {}",
                            pin.wheel, package.name, package.version
                        ));
                    }
                }
            }
        }
    }
    Ok(problems)
}

/// Every wheel of every lock in `dir`, deduplicated by file name.
pub fn locked_items(dir: &Path) -> Result<(usize, Vec<DownloadItem>), FetchError> {
    let (locks, wheels) = locked_wheels(dir)?;
    Ok((locks, wheels.into_iter().map(|w| w.item).collect()))
}

/// Like [`locked_items`], keeping each wheel's package name and version.
pub fn locked_wheels(dir: &Path) -> Result<(usize, Vec<LockedWheel>), FetchError> {
    let locks = lockfiles_in(dir).map_err(|source| FetchError::Read {
        path: dir.to_path_buf(),
        source,
    })?;
    if locks.is_empty() {
        return Err(FetchError::NoLocks(dir.to_path_buf()));
    }
    let mut items: BTreeMap<String, (LockedWheel, String)> = BTreeMap::new();
    for path in &locks {
        let (label, lock) = read_lock(path)?;
        let built = lock.built_sdists();
        let build_packages = lock.tool.iter().flat_map(|t| &t.airlock.build_packages);
        for package in lock.packages.iter().chain(build_packages) {
            let sdist = package
                .sdist
                .as_ref()
                .filter(|sdist| built.contains(sdist.name.as_str()));
            // The file name and digest were validated when the lock was read.
            for wheel in package.wheels.iter().chain(sdist) {
                let url = Url::parse(&wheel.url)
                    .ok()
                    .filter(|u| matches!(u.scheme(), "http" | "https"));
                let Some(url) = url else {
                    return Err(FetchError::InvalidEntry {
                        lock: label,
                        name: wheel.name.to_string(),
                        url: wheel.url.clone(),
                    });
                };
                let item = DownloadItem {
                    url,
                    size: wheel.size,
                    sha256: wheel.hashes.sha256.clone(),
                    file_name: wheel.name.clone(),
                    label: format!("{} {}", package.name, package.version),
                };
                match items.get(wheel.name.as_str()) {
                    Some((existing, first_lock)) if existing.item.sha256 != item.sha256 => {
                        return Err(FetchError::Conflict {
                            name: wheel.name.to_string(),
                            first: existing.item.sha256.to_string(),
                            first_lock: first_lock.clone(),
                            second: item.sha256.to_string(),
                            second_lock: label,
                        });
                    }
                    Some(_) => {}
                    None => {
                        let locked = LockedWheel {
                            item,
                            package: package.name.clone(),
                            version: package.version.clone(),
                            lock: path.clone(),
                        };
                        items.insert(wheel.name.to_string(), (locked, label.clone()));
                    }
                }
            }
        }
    }
    Ok((
        locks.len(),
        items.into_values().map(|(item, _)| item).collect(),
    ))
}

/// Compares the wheelhouse with the items, hashing present files on all cores.
pub fn plan(items: &[DownloadItem], wheelhouse: &Path) -> FetchPlan {
    let wanted: BTreeSet<&str> = items.iter().map(|i| i.file_name.as_str()).collect();
    let mut plan = FetchPlan::default();
    if let Ok(entries) = std::fs::read_dir(wheelhouse) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            // `apt/` holds the Debian side: its own plan covers it.
            if !name.starts_with('.')
                && !wanted.contains(name.as_str())
                && name != "README.md"
                && name != crate::debian::publish::APT_DIRECTORY
                // `airlock export --format pylock` writes its locks here; verify checks them.
                && crate::python::export::pylock_name(&name).is_none()
            {
                plan.extraneous.push(name);
            }
        }
    }
    plan.extraneous.sort();
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let next = std::sync::atomic::AtomicUsize::new(0);
    let states: Vec<std::sync::Mutex<Option<bool>>> =
        items.iter().map(|_| Default::default()).collect();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(item) = items.get(index) else { break };
                    let path = wheelhouse.join(&item.file_name);
                    // Never follow a symlink: a link is not a file we put there.
                    let state = match std::fs::symlink_metadata(&path) {
                        Err(_) => None,
                        Ok(meta) if !meta.file_type().is_file() => Some(false),
                        Ok(meta) if item.size.is_some_and(|s| s != meta.len()) => Some(false),
                        Ok(_) => {
                            Some(hash_file(&path).is_ok_and(|(digest, _)| digest == item.sha256))
                        }
                    };
                    *states[index].lock().expect("plan state lock") = state;
                }
            });
        }
    });
    for (item, state) in items.iter().zip(states) {
        match state.into_inner().expect("plan state lock") {
            None => plan.missing.push(item.clone()),
            Some(true) => plan.present.push(item.clone()),
            Some(false) => plan.corrupt.push(item.clone()),
        }
    }
    plan
}

/// Holds the wheelhouse's advisory lock until dropped.
pub struct WheelhouseLock {
    _file: std::fs::File,
}

/// Takes the wheelhouse's advisory lock, failing fast with the holder's pid.
pub fn lock_wheelhouse(wheelhouse: &Path) -> Result<WheelhouseLock, FetchError> {
    let path = wheelhouse.join(LOCK_FILE);
    let io = |source| FetchError::Read {
        path: path.clone(),
        source,
    };
    std::fs::create_dir_all(wheelhouse).map_err(io)?;
    // O_NOFOLLOW: a symlink planted at the lock file must not make airlock write elsewhere.
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&path)
        .map_err(|source| {
            if source.raw_os_error() == Some(libc::ELOOP) {
                FetchError::LinkedLockFile { path: path.clone() }
            } else {
                io(source)
            }
        })?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let holder = std::fs::read_to_string(&path).unwrap_or_default();
            return Err(FetchError::Busy {
                path: wheelhouse.to_path_buf(),
                holder: if holder.trim().is_empty() {
                    "holder unknown".into()
                } else {
                    holder.trim().to_string()
                },
            });
        }
        Err(std::fs::TryLockError::Error(source)) => return Err(io(source)),
    }
    file.set_len(0).map_err(io)?;
    write!(file, "pid {}", std::process::id()).map_err(io)?;
    Ok(WheelhouseLock { _file: file })
}

/// The `.deb`s of `lockfiles/apt.lock.toml`, if there is one.
pub fn apt_items(
    lockfiles: &Path,
) -> Result<Option<(crate::debian::aptlock::AptLock, Vec<DownloadItem>)>, FetchError> {
    let path = lockfiles.join(crate::debian::aptlock::APT_LOCK_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        // No apt lock: the project locks no Debian packages.
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(FetchError::Read { path, source }),
    };
    let label = path.display().to_string();
    let lock =
        crate::debian::aptlock::AptLock::parse(&text).map_err(|e| FetchError::InvalidAptLock {
            lock: label.clone(),
            problem: e.to_string(),
        })?;
    let mut items = Vec::new();
    for deb in &lock.packages {
        let file_name = deb
            .filename
            .rsplit('/')
            .next()
            .and_then(|name| SafeFileName::parse(name).ok())
            .filter(|_| crate::debian::packages::safe_pool_path(&deb.filename));
        let Some(file_name) = file_name else {
            return Err(FetchError::UnsafeName {
                lock: label,
                name: deb.filename.clone(),
            });
        };
        let url = Url::parse(&deb.uri)
            .and_then(|uri| uri.join(&deb.filename))
            .ok()
            .filter(|url| matches!(url.scheme(), "http" | "https"));
        let Some(url) = url else {
            return Err(FetchError::InvalidAptLock {
                lock: label,
                problem: format!(
                    "{} {} has an invalid uri `{}` (an http(s) URL is needed)",
                    deb.name, deb.version, deb.uri
                ),
            });
        };
        items.push(DownloadItem {
            url,
            size: Some(deb.size),
            sha256: deb.sha256.clone(),
            file_name,
            label: format!("{} {} (deb)", deb.name, deb.version),
        });
    }
    Ok(Some((lock, items)))
}

/// Fills the wheelhouse from the locks: wheels at the top level, `.deb`s and a local apt
/// repository in `apt/`.
pub async fn fetch_all(
    request: &FetchRequest,
    reporter: Arc<dyn Reporter>,
) -> Result<FetchReport, FetchError> {
    let started = Instant::now();
    let apt = apt_items(&request.lockfiles)?;
    let (locks, items) = match locked_items(&request.lockfiles) {
        Ok(found) => found,
        Err(FetchError::NoLocks(_)) if apt.is_some() => (0, Vec::new()),
        Err(error) => return Err(error),
    };
    // A bad key or passphrase fails before any download, not after.
    let signer = match (&apt, &request.apt_signing_key) {
        (Some(_), Some(path)) => Some(crate::debian::signing::RepositorySigner::load(
            path,
            std::env::var(crate::debian::signing::PASSPHRASE_VARIABLE).ok(),
        )?),
        _ => None,
    };
    let _lock = lock_wheelhouse(&request.wheelhouse)?;
    let apt_dir = request
        .wheelhouse
        .join(crate::debian::publish::APT_DIRECTORY);
    let mut groups: Vec<(PathBuf, Vec<DownloadItem>)> = vec![(request.wheelhouse.clone(), items)];
    if let Some((_, debs)) = &apt {
        std::fs::create_dir_all(&apt_dir).map_err(|source| FetchError::Read {
            path: apt_dir.clone(),
            source,
        })?;
        groups.push((apt_dir.clone(), debs.clone()));
    }
    let mut report = FetchReport {
        locks: locks + usize::from(apt.is_some()),
        ..FetchReport::default()
    };
    let mut work: Vec<(DownloadItem, PathBuf)> = Vec::new();
    for (dir, items) in &groups {
        let plan = {
            let (items, dir) = (items.clone(), dir.clone());
            tokio::task::spawn_blocking(move || plan(&items, &dir))
                .await
                .expect("the plan thread does not panic")
        };
        report.files += items.len();
        report.already_present += plan.present.len();
        report
            .replaced
            .extend(plan.corrupt.iter().map(|i| i.file_name.to_string()));
        let prefix = if *dir == request.wheelhouse {
            String::new()
        } else {
            format!("{}/", crate::debian::publish::APT_DIRECTORY)
        };
        report.extraneous.extend(
            plan.extraneous
                .iter()
                .filter(|name| !crate::debian::publish::is_index_file(name) || prefix.is_empty())
                .map(|name| format!("{prefix}{name}")),
        );
        for item in &plan.corrupt {
            // A wrong file (or a link) is removed first, so nothing stale is left if the download fails.
            let _ = std::fs::remove_file(dir.join(&item.file_name));
        }
        work.extend(
            plan.missing
                .into_iter()
                .chain(plan.corrupt)
                .map(|item| (item, dir.clone())),
        );
    }
    reporter.event(Event::FetchPlanned {
        files: work.len(),
        bytes: work.iter().filter_map(|(i, _)| i.size).sum(),
    });
    let downloader = Downloader::new(
        crate::net::client()?,
        RetryPolicy::default(),
        request.cache_dir.as_deref().map(ContentCache::new),
        request.offline,
        reporter,
    )
    .with_check(Arc::new(refuse_what_verify_rejects));
    let results: Vec<Result<Fetched, DownloadError>> = futures::stream::iter(work.iter())
        .map(|(item, dir)| downloader.fetch(item, dir))
        .buffer_unordered(request.jobs.max(1))
        .collect()
        .await;
    let mut errors = Vec::new();
    for result in results {
        match result {
            Ok(Fetched::Downloaded { bytes, resumed }) => {
                report.downloaded += 1;
                report.downloaded_bytes += bytes;
                report.resumed += usize::from(resumed);
            }
            Ok(Fetched::FromCache) => report.from_cache += 1,
            Err(error) => errors.push(error),
        }
    }
    // Each file was synced before its rename; one sync per directory makes the renames
    // durable too, so a crash right after fetch cannot lose files it reported as fetched.
    if !work.is_empty() {
        for (dir, _) in &groups {
            crate::net::download::sync_dir(dir).map_err(|source| FetchError::Read {
                path: dir.clone(),
                source,
            })?;
        }
    }
    if !errors.is_empty() {
        return Err(FetchError::Downloads(errors, work.len()));
    }
    if locks > 0 {
        let disagreements = metadata_disagreements(&request.lockfiles, &request.wheelhouse)?;
        if !disagreements.is_empty() {
            return Err(FetchError::MetadataDisagrees(disagreements));
        }
    }
    if let Some((lock, _)) = &apt {
        // Every .deb is in place and verified: publish the local repository over them.
        crate::debian::publish::publish(lock, &apt_dir, signer.as_ref()).map_err(|source| {
            FetchError::Read {
                path: apt_dir.clone(),
                source,
            }
        })?;
        report.apt_repository = Some(apt_dir.display().to_string());
        report.apt_signed_by = signer.as_ref().map(|s| s.fingerprint());
    }
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::Sha256Hex;

    #[test]
    fn plan_sorts_present_missing_corrupt_and_extraneous() {
        let dir = tempfile::tempdir().unwrap();
        let item = |name: &str, content: &[u8]| {
            use sha2::Digest;
            DownloadItem {
                url: Url::parse("http://127.0.0.1:9/x").unwrap(),
                size: Some(content.len() as u64),
                sha256: Sha256Hex::from_digest(&sha2::Sha256::digest(content)),
                file_name: SafeFileName::parse(name).unwrap(),
                label: name.into(),
            }
        };
        let items = vec![
            item("good.whl", b"good"),
            item("bad.whl", b"right"),
            item("gone.whl", b"x"),
            item("link.whl", b"good"),
        ];
        std::fs::write(dir.path().join("good.whl"), b"good").unwrap();
        std::fs::write(dir.path().join("bad.whl"), b"wrong").unwrap();
        std::os::unix::fs::symlink(dir.path().join("good.whl"), dir.path().join("link.whl"))
            .unwrap();
        std::fs::write(dir.path().join("stray.whl"), b"?").unwrap();
        let plan = plan(&items, dir.path());
        let names = |list: &[DownloadItem]| {
            list.iter()
                .map(|i| i.file_name.to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(names(&plan.present), ["good.whl"]);
        assert_eq!(names(&plan.corrupt), ["bad.whl", "link.whl"]);
        assert_eq!(names(&plan.missing), ["gone.whl"]);
        assert_eq!(plan.extraneous, ["stray.whl"]);
    }

    #[test]
    fn a_second_holder_is_refused_with_the_pid() {
        let dir = tempfile::tempdir().unwrap();
        let _first = lock_wheelhouse(dir.path()).unwrap();
        let error = match lock_wheelhouse(dir.path()) {
            Err(error) => error.to_string(),
            Ok(_) => panic!("the second lock must fail"),
        };
        assert!(
            error.contains(&format!("pid {}", std::process::id())),
            "{error}"
        );
    }
}
