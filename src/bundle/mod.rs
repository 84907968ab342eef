//! `airlock bundle`: the air-gap kit. One tar + zstd archive (or numbered volumes) with what
//! the far side needs — airlock.toml, the requirements files, the locks, the locked wheels,
//! sdists and .debs with the local apt repository's indexes, the audited Dockerfiles and the
//! context files they use — led by a manifest (every file's path, size, sha256 and what it is),
//! an optional detached OpenPGP signature over the manifest, and a CycloneDX SBOM.
//!
//! The archive is reproducible: entries sorted by path, one fixed time in every entry, uid/gid
//! 0, modes 0644/0755, no owner names or extended attributes, fixed zstd parameters (whose
//! multi-threaded output does not depend on the number of threads).
//!
//! Verify and unpack stream the archive (a thread decompresses while the other hashes), and
//! unpack extracts into a staging directory inside the target, moving files into place only
//! once everything has been checked.

pub mod credentials;
pub mod manifest;
pub mod registry;
pub mod volumes;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use sha2::{Digest, Sha256};

use crate::digest::Sha256Hex;
use manifest::{
    BaseBundle, FORMAT, FileKind, MANIFEST_PATH, META_DIR, Manifest, ManifestFile, SBOM_PATH,
    SIGNATURE_PATH, safe_relative,
};

#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    // The I/O error is said in the message, not again as a cause.
    #[error("cannot read {path}: {error}")]
    Read { path: String, error: std::io::Error },
    #[error("cannot write {path}: {error}")]
    Write { path: String, error: std::io::Error },
    #[error("{0}")]
    Input(String),
    #[error(
        "{path}: sha256 {actual}, but {lock} locks {expected}; run `airlock verify`, then `airlock fetch` to replace it"
    )]
    Changed {
        path: String,
        actual: String,
        expected: String,
        lock: String,
    },
    #[error("{path} is missing; run `airlock fetch` first")]
    Missing { path: String },
    #[error("{file}: {problem}")]
    NotABundle { file: String, problem: String },
    #[error(transparent)]
    Sign(#[from] crate::debian::signing::SigningError),
    #[error(transparent)]
    Sbom(#[from] crate::sbom::SbomError),
}

fn read_error(path: &Path) -> impl FnOnce(std::io::Error) -> BundleError + '_ {
    move |source| BundleError::Read {
        path: path.display().to_string(),
        error: source,
    }
}

/// What `bundle create` packs.
#[derive(Debug, Clone)]
pub struct Inputs {
    pub root: PathBuf,
    pub config_file: Option<PathBuf>,
    /// Top-level requirements files (the configured ones and those the locks record).
    pub requirements: Vec<PathBuf>,
    pub lockfiles: PathBuf,
    pub wheelhouse: PathBuf,
    pub dockerfiles: Vec<PathBuf>,
    pub context: PathBuf,
}

/// One file to pack.
#[derive(Debug, Clone)]
struct Source {
    path: String,
    disk: PathBuf,
    kind: FileKind,
    package: Option<String>,
    version: Option<String>,
    lock: Option<String>,
    /// What the lock says its sha256 is.
    expected: Option<Sha256Hex>,
}

/// The project's files, as the bundle names them.
struct Collected {
    sources: Vec<Source>,
    indexes: Vec<String>,
    apt_suites: Vec<String>,
    /// Files seen and left out, with why (for the summary).
    left_out: Vec<String>,
}

fn relative_to(root: &Path, path: &Path) -> Result<String, BundleError> {
    let relative = path.strip_prefix(root).map_err(|_| {
        BundleError::Input(format!(
            "{} is outside the project ({}); a bundle holds only the project's files",
            path.display(),
            root.display()
        ))
    })?;
    let text = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/");
    if !safe_relative(&text) {
        return Err(BundleError::Input(format!(
            "{} cannot be named safely in a bundle",
            path.display()
        )));
    }
    Ok(text)
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

impl Collected {
    fn add(&mut self, source: Source) {
        if !self.sources.iter().any(|s| s.path == source.path) {
            self.sources.push(source);
        }
    }

    fn add_file(&mut self, root: &Path, disk: &Path, kind: FileKind) -> Result<(), BundleError> {
        let disk = absolute(disk);
        let meta = std::fs::symlink_metadata(&disk).map_err(read_error(&disk))?;
        if !meta.file_type().is_file() {
            return Err(BundleError::Input(format!(
                "{} is not a regular file (a bundle carries no links or devices)",
                disk.display()
            )));
        }
        self.add(Source {
            path: relative_to(root, &disk)?,
            disk,
            kind,
            package: None,
            version: None,
            lock: None,
            expected: None,
        });
        Ok(())
    }
}

/// The files a Dockerfile takes from the build context: COPY/ADD sources and bind mounts
/// without `from=`, as written (paths with variables cannot be followed and are skipped).
fn context_sources(text: &str) -> Vec<String> {
    use crate::verify::dockerfile::parser::{parse, parse_mount, split_words};
    let file = parse(text);
    let mut sources = Vec::new();
    for instruction in &file.instructions {
        match instruction.keyword.as_str() {
            "COPY" | "ADD" => {
                if instruction.flags.iter().any(|(name, _)| name == "from") {
                    continue;
                }
                let words = match &instruction.json {
                    Some(words) => words.clone(),
                    None => split_words(&instruction.args),
                };
                if let Some((_, sources_only)) = words.split_last() {
                    sources.extend(sources_only.iter().cloned());
                }
            }
            "RUN" => {
                for (name, value) in &instruction.flags {
                    if name != "mount" {
                        continue;
                    }
                    let mount = parse_mount(value, &Default::default());
                    if mount.from.is_none()
                        && matches!(
                            mount.kind,
                            crate::verify::dockerfile::parser::MountType::Bind
                        )
                    {
                        sources.push(mount.source.unwrap_or_else(|| ".".into()));
                    }
                }
            }
            _ => {}
        }
    }
    sources
        .into_iter()
        .filter(|s| !s.contains('$') && !s.contains("://") && !s.contains(['*', '?', '[']))
        .collect()
}

fn collect(inputs: &Inputs) -> Result<Collected, BundleError> {
    use crate::python::pylock::{PyLock, lockfiles_in};
    let root = absolute(&inputs.root);
    let wheelhouse = absolute(&inputs.wheelhouse);
    let lockfiles = absolute(&inputs.lockfiles);
    let mut collected = Collected {
        sources: Vec::new(),
        indexes: Vec::new(),
        apt_suites: Vec::new(),
        left_out: Vec::new(),
    };
    if let Some(config) = &inputs.config_file {
        collected.add_file(&root, config, FileKind::Config)?;
    }
    // The locks, and what they record.
    let locks = match lockfiles_in(&lockfiles) {
        Ok(locks) => locks,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(source) => return Err(read_error(&lockfiles)(source)),
    };
    let mut requirements: Vec<PathBuf> = inputs.requirements.iter().map(|p| absolute(p)).collect();
    for path in &locks {
        collected.add_file(&root, path, FileKind::Lock)?;
        let uri = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(read_error(path))?;
        let lock = PyLock::parse(&text, &uri).map_err(|e| BundleError::Input(e.to_string()))?;
        if let Some(tool) = &lock.tool {
            for index in &tool.airlock.indexes {
                if !collected.indexes.contains(index) {
                    collected.indexes.push(index.clone());
                }
            }
            let recorded = tool
                .airlock
                .requirements_path(&root)
                .map_err(|problem| BundleError::Input(format!("{uri}: {problem}")))?;
            if !requirements.contains(&recorded) {
                requirements.push(recorded);
            }
        }
    }
    let apt_lock = lockfiles.join(crate::debian::aptlock::APT_LOCK_FILE);
    if apt_lock.is_file() {
        collected.add_file(&root, &apt_lock, FileKind::Lock)?;
    }
    if locks.is_empty() && !apt_lock.is_file() {
        return Err(BundleError::Input(format!(
            "no locks in {}; run `airlock sync` first",
            lockfiles.display()
        )));
    }
    for top in &requirements {
        let env = |name: &str| std::env::var(name).ok();
        let input = crate::python::requirements::parse_requirements(
            top,
            &crate::python::requirements::DiskLoader,
            &env,
        )
        .map_err(|errors| BundleError::Input(errors.to_string()))?;
        for (file, _) in &input.files {
            collected.add_file(&root, file, FileKind::Requirements)?;
        }
    }
    // The locked wheels and sdists, with their lock's digest.
    match crate::fetch::locked_wheels(&lockfiles) {
        Ok((_, wheels)) => {
            for wheel in wheels {
                let disk = wheelhouse.join(wheel.item.file_name.as_str());
                let name = wheel.item.file_name.as_str();
                collected.add(Source {
                    path: relative_to(&root, &disk)?,
                    disk,
                    kind: if name.ends_with(".whl") {
                        FileKind::Wheel
                    } else {
                        FileKind::Sdist
                    },
                    package: Some(wheel.package),
                    version: Some(wheel.version),
                    lock: Some(relative_to(&root, &wheel.lock)?),
                    expected: Some(wheel.item.sha256),
                });
            }
        }
        Err(crate::fetch::FetchError::NoLocks(_)) => {}
        Err(error) => return Err(BundleError::Input(crate::fetch::error_chain(&error))),
    }
    // Locks exported into the wheelhouse (`airlock export --format pylock`).
    for name in
        crate::python::export::exported_pylocks(&wheelhouse).map_err(read_error(&wheelhouse))?
    {
        collected.add_file(&root, &wheelhouse.join(name), FileKind::Lock)?;
    }
    // The .debs and the local apt repository's indexes.
    let apt = crate::fetch::apt_items(&lockfiles)
        .map_err(|error| BundleError::Input(crate::fetch::error_chain(&error)))?;
    if let Some((lock, items)) = apt {
        let repository = wheelhouse.join(crate::debian::publish::APT_DIRECTORY);
        let lock_path = relative_to(&root, &apt_lock)?;
        for suite in &lock.sources {
            collected
                .apt_suites
                .push(format!("{} {}", suite.uri, suite.suite));
        }
        let mut locked = BTreeSet::new();
        for (item, deb) in items.into_iter().zip(&lock.packages) {
            let disk = repository.join(item.file_name.as_str());
            locked.insert(item.file_name.to_string());
            collected.add(Source {
                path: relative_to(&root, &disk)?,
                disk,
                kind: FileKind::Deb,
                package: Some(deb.name.clone()),
                version: Some(deb.version.clone()),
                lock: Some(lock_path.clone()),
                expected: Some(item.sha256),
            });
        }
        let mut names: Vec<String> = std::fs::read_dir(&repository)
            .map_err(read_error(&repository))?
            .map(|entry| entry.map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect::<Result<_, _>>()
            .map_err(read_error(&repository))?;
        names.sort();
        for name in names {
            if locked.contains(&name) {
                continue;
            }
            let disk = repository.join(&name);
            if crate::debian::publish::is_index_file(&name) || name.ends_with(".asc") {
                collected.add_file(&root, &disk, FileKind::AptIndex)?;
            } else {
                collected
                    .left_out
                    .push(format!("{} (in no lock)", relative_to(&root, &disk)?));
            }
        }
    }
    // The Dockerfiles and what they take from the context.
    let context = absolute(&inputs.context);
    // An unreadable .dockerignore must not pack what it excludes: only its absence is none.
    let dockerignore = match std::fs::read_to_string(context.join(".dockerignore")) {
        Ok(text) => Some(text),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
        Err(error) => return Err(read_error(&context.join(".dockerignore"))(error)),
    };
    if dockerignore.is_some() {
        collected.add_file(
            &root,
            &context.join(".dockerignore"),
            FileKind::BuildContext,
        )?;
    }
    for dockerfile in &inputs.dockerfiles {
        let dockerfile = absolute(dockerfile);
        collected.add_file(&root, &dockerfile, FileKind::Dockerfile)?;
        let text = std::fs::read_to_string(&dockerfile).map_err(read_error(&dockerfile))?;
        for source in context_sources(&text) {
            let relative = source.trim_start_matches('/').trim_end_matches('/');
            let disk = if relative.is_empty() || relative == "." {
                context.clone()
            } else {
                context.join(relative)
            };
            if !disk.starts_with(&context)
                || relative.split('/').any(|part| part == "..")
                || disk.starts_with(&wheelhouse)
                || disk.starts_with(&lockfiles)
                || wheelhouse.starts_with(&disk)
            {
                // The wheelhouse and the locks are packed from the locks, not wholesale; the
                // whole context (`.`) is not packed either.
                continue;
            }
            add_context_path(
                &mut collected,
                &root,
                &context,
                &disk,
                dockerignore.as_deref(),
            )?;
        }
    }
    collected.sources.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(collected)
}

fn add_context_path(
    collected: &mut Collected,
    root: &Path,
    context: &Path,
    disk: &Path,
    dockerignore: Option<&str>,
) -> Result<(), BundleError> {
    let Ok(meta) = std::fs::symlink_metadata(disk) else {
        // The audit reports a missing context file (DF030); the bundle has nothing to add.
        return Ok(());
    };
    let in_context = relative_to(context, disk).unwrap_or_default();
    if let Some(ignore) = dockerignore
        && crate::verify::dockerfile::rules::dockerignore_excludes(ignore, &in_context)
    {
        return Ok(());
    }
    if meta.file_type().is_file() {
        collected.add(Source {
            path: relative_to(root, disk)?,
            disk: disk.to_path_buf(),
            kind: FileKind::BuildContext,
            package: None,
            version: None,
            lock: None,
            expected: None,
        });
    } else if meta.file_type().is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(disk)
            .map_err(read_error(disk))?
            .map(|entry| entry.map(|e| e.path()))
            .collect::<Result<_, _>>()
            .map_err(read_error(disk))?;
        entries.sort();
        for entry in entries {
            add_context_path(collected, root, context, &entry, dockerignore)?;
        }
    } else {
        collected.left_out.push(format!(
            "{} (a link or special file; bundles carry regular files only)",
            relative_to(root, disk).unwrap_or_else(|_| disk.display().to_string())
        ));
    }
    Ok(())
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = if year >= 0 { year } else { year - 399 } / 400;
    let year_of_era = year - era * 400;
    let month = i64::from(month);
    let day_of_year =
        (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

fn toml_epoch(datetime: &toml::value::Datetime) -> Option<u64> {
    let date = datetime.date?;
    let days = days_from_civil(
        i64::from(date.year),
        u32::from(date.month),
        u32::from(date.day),
    );
    let (hour, minute, second) = datetime
        .time
        .map_or((0, 0, 0), |t| (t.hour, t.minute, t.second.unwrap_or(0)));
    let offset_minutes = match datetime.offset {
        Some(toml::value::Offset::Custom { minutes }) => i64::from(minutes),
        _ => 0,
    };
    let seconds =
        days * 86_400 + i64::from(hour) * 3_600 + i64::from(minute) * 60 + i64::from(second)
            - offset_minutes * 60;
    u64::try_from(seconds).ok()
}

/// The time written into the archive when SOURCE_DATE_EPOCH is not set: the newest upload
/// time a Python lock records, or the newest Release date of the apt lock; 0 without either.
pub fn epoch_from_locks(lockfiles: &Path) -> Result<u64, BundleError> {
    let unreadable = |path: &Path, problem: String| BundleError::NotABundle {
        file: path.display().to_string(),
        problem: format!("cannot read the lock for the bundle's time: {problem}"),
    };
    let mut newest = 0;
    let locks = match crate::python::pylock::lockfiles_in(lockfiles) {
        Ok(locks) => locks,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(error) => return Err(read_error(lockfiles)(error)),
    };
    for path in locks {
        let text = std::fs::read_to_string(&path).map_err(read_error(&path))?;
        let lock = crate::python::pylock::PyLock::parse(&text, &path.display().to_string())
            .map_err(|error| unreadable(&path, error.to_string()))?;
        for package in &lock.packages {
            for file in package.wheels.iter().chain(&package.sdist) {
                if let Some(epoch) = file.upload_time.as_ref().and_then(toml_epoch) {
                    newest = newest.max(epoch);
                }
            }
        }
    }
    let apt = lockfiles.join(crate::debian::aptlock::APT_LOCK_FILE);
    let text = match std::fs::read_to_string(&apt) {
        Ok(text) => Some(text),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
        Err(error) => return Err(read_error(&apt)(error)),
    };
    if let Some(text) = text {
        let lock = crate::debian::aptlock::AptLock::parse(&text)
            .map_err(|error| unreadable(&apt, error.to_string()))?;
        for suite in &lock.sources {
            if let Some(epoch) = suite
                .date
                .as_deref()
                .and_then(crate::dates::parse_rfc2822)
                .and_then(|d| d.duration_since(std::time::UNIX_EPOCH).ok())
            {
                newest = newest.max(epoch.as_secs());
            }
        }
    }
    Ok(newest)
}

/// How `bundle create` runs.
pub struct CreateOptions {
    pub output: PathBuf,
    pub since: Option<PathBuf>,
    pub prune: bool,
    pub split_size: Option<u64>,
    pub signer: Option<crate::debian::signing::RepositorySigner>,
    /// SOURCE_DATE_EPOCH; else [`epoch_from_locks`].
    pub epoch: Option<u64>,
    /// The project's name in the SBOM.
    pub name: String,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct CreateReport {
    pub files: usize,
    pub included: usize,
    pub bytes: u64,
    pub volumes: Vec<(String, String, u64)>,
    pub manifest_sha256: String,
    pub signed_by: Option<String>,
    pub base: Option<String>,
    pub removed: usize,
    pub left_out: Vec<String>,
}

/// Hashes every source that no lock gives a digest for, on all cores.
fn hash_sources(sources: &[Source]) -> Vec<Result<(Sha256Hex, u64), BundleError>> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let next = std::sync::atomic::AtomicUsize::new(0);
    type Slot = std::sync::Mutex<Option<Result<(Sha256Hex, u64), BundleError>>>;
    let results: Vec<Slot> = sources.iter().map(|_| Default::default()).collect();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let at = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(source) = sources.get(at) else { break };
                    let result = match std::fs::symlink_metadata(&source.disk) {
                        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                            Err(BundleError::Missing {
                                path: source.path.clone(),
                            })
                        }
                        Err(error) => Err(read_error(&source.disk)(error)),
                        Ok(meta) if !meta.file_type().is_file() => Err(BundleError::Input(
                            format!("{} is not a regular file", source.path),
                        )),
                        // A locked file's digest is the lock's; it is checked as it is packed
                        // (one read, not two).
                        Ok(meta) => match &source.expected {
                            Some(expected) => Ok((expected.clone(), meta.len())),
                            None => crate::net::download::hash_file(&source.disk)
                                .map_err(read_error(&source.disk)),
                        },
                    };
                    *results[at].lock().expect("hash slot") = Some(result);
                }
            });
        }
    });
    results
        .into_iter()
        .map(|slot| {
            slot.into_inner()
                .expect("hash slot")
                .expect("every source hashed")
        })
        .collect()
}

/// A reader that hashes what passes through it.
struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    length: u64,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let read = self.inner.read(buf)?;
        self.hasher.update(&buf[..read]);
        self.length += read as u64;
        Ok(read)
    }
}

fn mode_of(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    match std::fs::metadata(path) {
        Ok(meta) if meta.permissions().mode() & 0o100 != 0 => 0o755,
        _ => 0o644,
    }
}

fn header(size: u64, mode: u32, epoch: u64) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_size(size);
    header.set_mode(mode);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(epoch);
    header
}

/// The zstd level: zstd's default, fast enough to keep up with disks; wheels are compressed
/// already, so higher levels buy little.
const ZSTD_LEVEL: i32 = 3;

/// Packs the project.
pub fn create(
    inputs: &Inputs,
    options: &CreateOptions,
    progress: &dyn Fn(u64, u64),
) -> Result<CreateReport, BundleError> {
    let collected = collect(inputs)?;
    let hashes = hash_sources(&collected.sources);
    let epoch = match options.epoch {
        Some(epoch) => epoch,
        None => epoch_from_locks(&inputs.lockfiles)?,
    };
    let mut files: Vec<ManifestFile> = Vec::new();
    for (source, hashed) in collected.sources.iter().zip(hashes) {
        let (sha256, size) = hashed?;
        if let Some(expected) = &source.expected
            && *expected != sha256
        {
            return Err(BundleError::Changed {
                path: source.path.clone(),
                actual: sha256.to_string(),
                expected: expected.to_string(),
                lock: source.lock.clone().unwrap_or_default(),
            });
        }
        files.push(ManifestFile {
            path: source.path.clone(),
            size,
            sha256,
            kind: source.kind,
            package: source.package.clone(),
            version: source.version.clone(),
            lock: source.lock.clone(),
            included: true,
        });
    }
    let sbom = crate::sbom::cyclonedx(&inputs.lockfiles, &options.name, epoch)?;
    files.push(ManifestFile {
        path: SBOM_PATH.to_string(),
        size: sbom.len() as u64,
        sha256: Sha256Hex::of(&sbom),
        kind: FileKind::Sbom,
        package: None,
        version: None,
        lock: None,
        included: true,
    });
    files.sort_by(|a, b| a.path.cmp(&b.path));
    // A delta: only what the base does not have, and (with --prune) what it should lose.
    let mut base = None;
    let mut removed = Vec::new();
    if let Some(since) = &options.since {
        let (base_manifest, base_bytes) = read_manifest(since)?;
        for file in &mut files {
            if file.kind != FileKind::Sbom
                && base_manifest
                    .file(&file.path)
                    .is_some_and(|old| old.sha256 == file.sha256)
            {
                file.included = false;
            }
        }
        for old in &base_manifest.files {
            if files.iter().any(|f| f.path == old.path) || old.path.starts_with(META_DIR) {
                continue;
            }
            if options.prune {
                removed.push(old.path.clone());
            } else {
                files.push(ManifestFile {
                    included: false,
                    ..old.clone()
                });
            }
        }
        files.sort_by(|a, b| a.path.cmp(&b.path));
        base = Some(BaseBundle {
            file: since
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            manifest_sha256: Sha256Hex::of(&base_bytes),
        });
    }
    let manifest = Manifest {
        format: FORMAT.to_string(),
        airlock_version: env!("CARGO_PKG_VERSION").to_string(),
        source_date_epoch: epoch,
        base: base.clone(),
        indexes: collected.indexes.clone(),
        apt_suites: collected.apt_suites.clone(),
        files,
        removed: removed.clone(),
    };
    let manifest_bytes = manifest.to_json();
    let signature = match &options.signer {
        Some(signer) => {
            let text = std::str::from_utf8(&manifest_bytes).expect("JSON is UTF-8");
            Some(signer.sign(text, Some(epoch))?.release_gpg)
        }
        None => None,
    };
    let total = manifest.included_bytes();
    let write_error = |source: std::io::Error| BundleError::Write {
        path: options.output.display().to_string(),
        error: source,
    };
    let writer = volumes::VolumeWriter::new(&options.output, options.split_size);
    let mut encoder = zstd::stream::write::Encoder::new(writer, ZSTD_LEVEL).map_err(write_error)?;
    // Multi-threaded zstd output is the same for any number of workers >= 1.
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get()) as u32;
    encoder.multithread(workers.max(1)).map_err(write_error)?;
    encoder.include_checksum(true).map_err(write_error)?;
    // tar writes in small pieces; zstd takes its input in large ones.
    let mut tar = tar::Builder::new(std::io::BufWriter::with_capacity(1 << 20, encoder));
    tar.mode(tar::HeaderMode::Deterministic);
    let mut append = |path: &str, data: &mut dyn Read, size: u64, mode: u32| {
        let mut header = header(size, mode, epoch);
        tar.append_data(&mut header, path, data)
            .map_err(write_error)
    };
    append(
        MANIFEST_PATH,
        &mut manifest_bytes.as_slice(),
        manifest_bytes.len() as u64,
        0o644,
    )?;
    if let Some(signature) = &signature {
        append(
            SIGNATURE_PATH,
            &mut signature.as_bytes(),
            signature.len() as u64,
            0o644,
        )?;
    }
    let mut done = 0u64;
    let disk_of: BTreeMap<&str, &Source> = collected
        .sources
        .iter()
        .map(|s| (s.path.as_str(), s))
        .collect();
    for file in manifest.files.iter().filter(|f| f.included) {
        if file.path == SBOM_PATH {
            append(SBOM_PATH, &mut sbom.as_slice(), file.size, 0o644)?;
        } else {
            let source = disk_of[file.path.as_str()];
            let opened = std::fs::File::open(&source.disk).map_err(read_error(&source.disk))?;
            let mut reader = HashingReader {
                inner: opened.take(file.size),
                hasher: Sha256::new(),
                length: 0,
            };
            append(&file.path, &mut reader, file.size, mode_of(&source.disk))?;
            let digest = Sha256Hex::from_digest(&reader.hasher.finalize());
            if digest != file.sha256 || reader.length != file.size {
                // Nothing is left behind: the unfinished volumes are removed.
                return Err(match &source.expected {
                    Some(expected) => BundleError::Changed {
                        path: file.path.clone(),
                        actual: digest.to_string(),
                        expected: expected.to_string(),
                        lock: source.lock.clone().unwrap_or_default(),
                    },
                    None => BundleError::Input(format!(
                        "{} changed while it was being packed; run `bundle create` again",
                        file.path
                    )),
                });
            }
        }
        done += file.size;
        progress(done, total);
    }
    let buffered = tar.into_inner().map_err(write_error)?;
    let encoder = buffered
        .into_inner()
        .map_err(|error| write_error(error.into_error()))?;
    let writer = encoder.finish().map_err(write_error)?;
    let written = writer.finish().map_err(write_error)?;
    Ok(CreateReport {
        files: manifest.files.len(),
        included: manifest.files.iter().filter(|f| f.included).count(),
        bytes: total,
        volumes: written
            .into_iter()
            .map(|(path, digest, size)| (path.display().to_string(), digest, size))
            .collect(),
        manifest_sha256: Sha256Hex::of(&manifest_bytes).to_string(),
        signed_by: options.signer.as_ref().map(|s| s.fingerprint()),
        base: base.map(|b| b.file),
        removed: removed.len(),
        left_out: collected.left_out,
    })
}

/// Decompressed bytes from a thread of their own, so hashing and decompression overlap.
struct ChannelReader {
    receiver: mpsc::Receiver<std::io::Result<Vec<u8>>>,
    chunk: Vec<u8>,
    at: usize,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.at == self.chunk.len() {
            match self.receiver.recv() {
                Ok(Ok(chunk)) => {
                    self.chunk = chunk;
                    self.at = 0;
                }
                Ok(Err(error)) => return Err(error),
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len() - self.at);
        buf[..n].copy_from_slice(&self.chunk[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

fn open_stream(first: &Path) -> Result<(ChannelReader, usize), BundleError> {
    let reader = volumes::VolumeReader::open(first).map_err(read_error(first))?;
    let count = reader.volume_count();
    let mut decoder = zstd::stream::read::Decoder::new(reader).map_err(read_error(first))?;
    let (sender, receiver) = mpsc::sync_channel::<std::io::Result<Vec<u8>>>(8);
    std::thread::spawn(move || {
        loop {
            let mut chunk = vec![0u8; 1 << 20];
            let mut filled = 0;
            let outcome = loop {
                match decoder.read(&mut chunk[filled..]) {
                    Ok(0) => break Ok(()),
                    Ok(n) => {
                        filled += n;
                        if filled == chunk.len() {
                            break Ok(());
                        }
                    }
                    Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(error) => break Err(error),
                }
            };
            if let Err(error) = outcome {
                let damaged = decoder.get_ref().get_ref().damaged_volumes();
                let said = if damaged.is_empty() {
                    format!("the compressed data is damaged or cut short ({error})")
                } else {
                    format!(
                        "the compressed data is damaged ({error}); these volumes differ from the sums file: {}",
                        damaged.join(", ")
                    )
                };
                let _ = sender.send(Err(std::io::Error::other(said)));
                return;
            }
            if filled == 0 {
                return;
            }
            chunk.truncate(filled);
            if sender.send(Ok(chunk)).is_err() {
                return;
            }
        }
    });
    Ok((
        ChannelReader {
            receiver,
            chunk: Vec::new(),
            at: 0,
        },
        count,
    ))
}

const MANIFEST_LIMIT: u64 = 256 * 1024 * 1024;

fn not_a_bundle(first: &Path, problem: impl Into<String>) -> BundleError {
    BundleError::NotABundle {
        file: first.display().to_string(),
        problem: problem.into(),
    }
}

/// Reads an entry's bytes, at most `limit`.
fn read_limited(entry: &mut dyn Read, limit: u64) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    entry.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(std::io::Error::other("larger than the limit"));
    }
    Ok(bytes)
}

/// The manifest of a bundle (its first entry) and its bytes, without reading further.
pub fn read_manifest(first: &Path) -> Result<(Manifest, Vec<u8>), BundleError> {
    let (stream, _) = open_stream(first)?;
    let mut archive = tar::Archive::new(stream);
    let mut entries = archive.entries().map_err(read_error(first))?;
    manifest_entry(&mut entries, first)
}

/// Reads the archive's first entry, which must be the manifest.
fn manifest_entry<R: Read>(
    entries: &mut tar::Entries<'_, R>,
    first: &Path,
) -> Result<(Manifest, Vec<u8>), BundleError> {
    let mut entry = entries
        .next()
        .ok_or_else(|| not_a_bundle(first, "the archive is empty"))?
        .map_err(read_error(first))?;
    if entry.path_bytes().as_ref() != MANIFEST_PATH.as_bytes() {
        return Err(not_a_bundle(
            first,
            format!("its first entry is not {MANIFEST_PATH}; not an airlock bundle"),
        ));
    }
    let bytes = read_limited(&mut entry, MANIFEST_LIMIT).map_err(read_error(first))?;
    let manifest = Manifest::parse(&bytes)
        .map_err(|problem| not_a_bundle(first, format!("{MANIFEST_PATH}: {problem}")))?;
    Ok((manifest, bytes))
}

/// The leading entries of a bundle under `.airlock-bundle/`: what a registry shows of it.
#[derive(Debug, Clone)]
pub struct BundleMeta {
    pub manifest: Manifest,
    pub manifest_bytes: Vec<u8>,
    pub signature: Option<Vec<u8>>,
    pub sbom: Option<Vec<u8>>,
}

/// Reads the manifest, its signature and the SBOM, which `create` writes before any other
/// file, in one pass that stops at the first entry outside `.airlock-bundle/`.
pub fn read_meta(first: &Path) -> Result<BundleMeta, BundleError> {
    let (stream, _) = open_stream(first)?;
    let mut archive = tar::Archive::new(stream);
    let mut entries = archive.entries().map_err(read_error(first))?;
    let (manifest, manifest_bytes) = manifest_entry(&mut entries, first)?;
    let (mut signature, mut sbom) = (None, None);
    for entry in entries {
        let mut entry = entry.map_err(read_error(first))?;
        let path = entry.path_bytes().into_owned();
        if path == SIGNATURE_PATH.as_bytes() {
            signature = Some(read_limited(&mut entry, 1024 * 1024).map_err(read_error(first))?);
        } else if path == SBOM_PATH.as_bytes() {
            sbom = Some(read_limited(&mut entry, MANIFEST_LIMIT).map_err(read_error(first))?);
        } else if !path.starts_with(format!("{META_DIR}/").as_bytes()) {
            break;
        }
    }
    Ok(BundleMeta {
        manifest,
        manifest_bytes,
        signature,
        sbom,
    })
}

/// What reading a bundle found.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ReadReport {
    pub volumes: usize,
    pub files_checked: usize,
    pub bytes: u64,
    /// The signer's fingerprint, when a key was given and the signature verified.
    pub signed_by: Option<String>,
    /// Whether the manifest carries a signature at all.
    pub signed: bool,
    pub base: Option<String>,
    /// Everything that does not match, each naming its file.
    pub problems: Vec<String>,
}

/// Where a bundle's entries go as they are read and checked.
trait Sink {
    /// Called once the manifest (and signature) are read and trusted, before any file.
    fn manifest(&mut self, manifest: &Manifest, bytes: &[u8]) -> Result<(), BundleError>;
    /// One file's bytes; the sink must read `data` to its end.
    fn file(&mut self, file: &ManifestFile, data: &mut dyn Read) -> std::io::Result<()>;
}

/// A sink that keeps nothing.
struct Discard;

impl Sink for Discard {
    fn manifest(&mut self, _: &Manifest, _: &[u8]) -> Result<(), BundleError> {
        Ok(())
    }
    fn file(&mut self, _: &ManifestFile, data: &mut dyn Read) -> std::io::Result<()> {
        std::io::copy(data, &mut std::io::sink()).map(drop)
    }
}

/// Reads the whole bundle: the manifest, its signature against `key`, every entry against
/// the manifest, the SBOM against the manifest. Entries that are not plain files with safe
/// names stop the read (nothing more reaches the sink).
fn read_bundle(
    first: &Path,
    key: Option<&crate::debian::signature::Keyring>,
    sink: &mut dyn Sink,
    progress: &dyn Fn(u64, u64),
) -> Result<(Manifest, Vec<u8>, ReadReport), BundleError> {
    let (stream, volumes) = open_stream(first)?;
    let mut report = ReadReport {
        volumes,
        ..Default::default()
    };
    let mut archive = tar::Archive::new(stream);
    let mut entries = archive.entries().map_err(read_error(first))?;
    let (manifest, manifest_bytes) = manifest_entry(&mut entries, first)?;
    let mut next = || -> Result<Option<tar::Entry<'_, ChannelReader>>, BundleError> {
        entries.next().transpose().map_err(read_error(first))
    };
    report.base = manifest.base.as_ref().map(|b| b.file.clone());
    let mut pending = next()?;
    let mut signature = None;
    if let Some(entry) = pending.as_mut()
        && entry.path_bytes().as_ref() == SIGNATURE_PATH.as_bytes()
    {
        signature = Some(read_limited(entry, 1024 * 1024).map_err(read_error(first))?);
        pending = None;
    }
    report.signed = signature.is_some();
    if let Some(keyring) = key {
        let Some(signature) = &signature else {
            report.problems.push(format!(
                "{MANIFEST_PATH} is not signed, and --key requires a signature"
            ));
            return Ok((manifest, manifest_bytes, report));
        };
        let text = String::from_utf8_lossy(signature);
        match keyring.verify_detached(
            &manifest_bytes,
            &text,
            SIGNATURE_PATH,
            std::time::SystemTime::now(),
        ) {
            Ok(()) => report.signed_by = keyring.fingerprints().first().cloned(),
            Err(error) => {
                report.problems.push(error.to_string());
                return Ok((manifest, manifest_bytes, report));
            }
        }
    }
    sink.manifest(&manifest, &manifest_bytes)?;
    let total = manifest.included_bytes();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut sbom: Option<Vec<u8>> = None;
    loop {
        let mut entry = match pending.take() {
            Some(entry) => entry,
            None => match next()? {
                Some(entry) => entry,
                None => break,
            },
        };
        let raw = entry.path_bytes().into_owned();
        let path = String::from_utf8_lossy(&raw).into_owned();
        let kind = entry.header().entry_type();
        if !kind.is_file() {
            report.problems.push(format!(
                "{path}: a {} entry; bundles carry regular files only, so the archive is refused",
                match kind {
                    tar::EntryType::Symlink => "symbolic link",
                    tar::EntryType::Link => "hard link",
                    tar::EntryType::Char | tar::EntryType::Block => "device",
                    tar::EntryType::Fifo => "FIFO",
                    tar::EntryType::Directory => "directory",
                    _ => "non-file",
                }
            ));
            return Ok((manifest, manifest_bytes, report));
        }
        if !safe_relative(&path) || std::str::from_utf8(&raw).is_err() {
            report.problems.push(format!(
                "{path}: not a safe relative path (absolute, `..` or empty parts); the archive is refused"
            ));
            return Ok((manifest, manifest_bytes, report));
        }
        let Some(file) = manifest.file(&path).filter(|f| f.included) else {
            report.problems.push(format!(
                "{path}: in the archive but not in the manifest; the archive is refused"
            ));
            return Ok((manifest, manifest_bytes, report));
        };
        if !seen.insert(path.clone()) {
            report.problems.push(format!(
                "{path}: in the archive twice; the archive is refused"
            ));
            return Ok((manifest, manifest_bytes, report));
        }
        let mut hashing = HashingReader {
            inner: &mut entry,
            hasher: Sha256::new(),
            length: 0,
        };
        if path == SBOM_PATH {
            let bytes = read_limited(&mut hashing, MANIFEST_LIMIT).map_err(read_error(first))?;
            sbom = Some(bytes.clone());
            sink.file(file, &mut bytes.as_slice())
                .map_err(read_error(first))?;
        } else {
            sink.file(file, &mut hashing).map_err(read_error(first))?;
            // Whatever the sink left unread still counts.
            std::io::copy(&mut hashing, &mut std::io::sink()).map_err(read_error(first))?;
        }
        let digest = Sha256Hex::from_digest(&hashing.hasher.finalize());
        if hashing.length != file.size || digest != file.sha256 {
            report.problems.push(format!(
                "{path}: {} bytes with sha256 {digest}, but the manifest says {} bytes with sha256 {}",
                hashing.length, file.size, file.sha256
            ));
        }
        report.files_checked += 1;
        report.bytes += hashing.length;
        progress(report.bytes, total);
    }
    // Read to the end: zstd's checksum and the volumes' sums are checked only there.
    let mut rest = archive.into_inner();
    std::io::copy(&mut rest, &mut std::io::sink()).map_err(|error| {
        not_a_bundle(first, format!("the compressed stream is damaged: {error}"))
    })?;
    for file in manifest.files.iter().filter(|f| f.included) {
        if !seen.contains(&file.path) {
            report.problems.push(format!(
                "{}: in the manifest but not in the archive",
                file.path
            ));
        }
    }
    match &sbom {
        Some(bytes) => report
            .problems
            .extend(crate::sbom::check_against(bytes, &manifest.files)),
        None => report
            .problems
            .push(format!("{SBOM_PATH}: the bundle carries no SBOM")),
    }
    Ok((manifest, manifest_bytes, report))
}

/// `bundle verify`: every entry against the manifest, the manifest against the signature
/// (when `key` is given), the SBOM against the manifest; nothing is written.
pub fn verify(
    first: &Path,
    key: Option<&crate::debian::signature::Keyring>,
    progress: &dyn Fn(u64, u64),
) -> Result<ReadReport, BundleError> {
    read_bundle(first, key, &mut Discard, progress).map(|(_, _, report)| report)
}

/// Extracts into a staging directory inside the target.
struct Staging {
    dir: PathBuf,
    base_problem: Option<String>,
    target: PathBuf,
}

impl Sink for Staging {
    fn manifest(&mut self, manifest: &Manifest, _: &[u8]) -> Result<(), BundleError> {
        if let Some(base) = &manifest.base {
            let held = self.target.join(MANIFEST_PATH);
            let holds = std::fs::read(&held)
                .map(|bytes| Sha256Hex::of(&bytes) == base.manifest_sha256)
                .unwrap_or(false);
            if !holds {
                self.base_problem = Some(format!(
                    "this bundle is a delta on top of {} (manifest sha256 {}), and {} does not hold that bundle ({}); unpack {} there first",
                    base.file,
                    base.manifest_sha256,
                    self.target.display(),
                    if held.is_file() {
                        "its .airlock-bundle/manifest.json is another bundle's"
                    } else {
                        "it has no .airlock-bundle/manifest.json"
                    },
                    base.file
                ));
                return Err(BundleError::Input(
                    self.base_problem.clone().unwrap_or_default(),
                ));
            }
        }
        Ok(())
    }

    fn file(&mut self, file: &ManifestFile, data: &mut dyn Read) -> std::io::Result<()> {
        let path = self.dir.join(&file.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let mut out = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)?;
        std::io::copy(data, &mut out)?;
        Ok(())
    }
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct UnpackReport {
    pub read: ReadReport,
    pub written: usize,
    pub unchanged: usize,
    pub removed: usize,
}

/// Whether every directory between `root` and `path` is a real directory (or absent):
/// a link there would carry the write outside `root`.
fn no_link_between(root: &Path, path: &Path) -> Result<(), String> {
    let relative = path.strip_prefix(root).map_err(|_| "outside".to_string())?;
    let mut at = root.to_path_buf();
    let parts: Vec<_> = relative.components().collect();
    for part in &parts[..parts.len().saturating_sub(1)] {
        at.push(part);
        match std::fs::symlink_metadata(&at) {
            Ok(meta) if meta.file_type().is_symlink() => {
                return Err(format!("{} is a symbolic link", at.display()));
            }
            Ok(meta) if !meta.is_dir() => {
                return Err(format!("{} is not a directory", at.display()));
            }
            _ => {}
        }
    }
    Ok(())
}

/// `bundle unpack`: verifies the whole bundle into a staging directory inside `target`, then
/// moves the files into place. A file already there is replaced only when it is what the
/// previous bundle put there (or with `force`); a delta needs its base in `target`.
pub fn unpack(
    first: &Path,
    target: &Path,
    key: Option<&crate::debian::signature::Keyring>,
    force: bool,
    progress: &dyn Fn(u64, u64),
) -> Result<UnpackReport, BundleError> {
    std::fs::create_dir_all(target).map_err(|source| BundleError::Write {
        path: target.display().to_string(),
        error: source,
    })?;
    let target = absolute(target);
    let staging = tempfile::Builder::new()
        .prefix(".airlock-unpack-")
        .tempdir_in(&target)
        .map_err(|source| BundleError::Write {
            path: target.display().to_string(),
            error: source,
        })?;
    let mut sink = Staging {
        dir: staging.path().to_path_buf(),
        base_problem: None,
        target: target.clone(),
    };
    let (manifest, manifest_bytes, read) = read_bundle(first, key, &mut sink, progress)?;
    let mut report = UnpackReport {
        read,
        ..Default::default()
    };
    if !report.read.problems.is_empty() {
        return Ok(report);
    }
    // What the previous bundle left here: files that still match it may be replaced.
    let previous = std::fs::read(target.join(MANIFEST_PATH))
        .ok()
        .and_then(|bytes| Manifest::parse(&bytes).ok());
    let hash_of = |path: &Path| crate::net::download::hash_file(path).ok().map(|(d, _)| d);
    let mut conflicts = Vec::new();
    let mut moves = Vec::new();
    for file in &manifest.files {
        let destination = target.join(&file.path);
        if let Err(problem) = no_link_between(&target, &destination) {
            conflicts.push(format!(
                "{}: {problem}; nothing is written through a link",
                file.path
            ));
            continue;
        }
        let existing = std::fs::symlink_metadata(&destination).ok();
        if !file.included {
            // A delta's file that its base provided: it must be here, unchanged.
            let held = existing.is_some_and(|m| m.file_type().is_file())
                && hash_of(&destination).as_ref() == Some(&file.sha256);
            if !held {
                conflicts.push(format!(
                    "{}: the base bundle's file is missing or changed here, so this delta cannot apply",
                    file.path
                ));
            }
            continue;
        }
        match existing {
            None => moves.push(file),
            Some(meta) if meta.file_type().is_symlink() => {
                if force {
                    moves.push(file);
                } else {
                    conflicts.push(format!(
                        "{}: a symbolic link is there; it is not written through (--force replaces the link)",
                        file.path
                    ));
                }
            }
            Some(meta) if !meta.file_type().is_file() => conflicts.push(format!(
                "{}: something other than a file is there",
                file.path
            )),
            Some(_) => {
                let current = hash_of(&destination);
                if current.as_ref() == Some(&file.sha256) {
                    report.unchanged += 1;
                    continue;
                }
                let ours = previous
                    .as_ref()
                    .and_then(|m| m.file(&file.path))
                    .is_some_and(|old| Some(&old.sha256) == current.as_ref());
                if ours || force || file.path.starts_with(META_DIR) {
                    moves.push(file);
                } else {
                    conflicts.push(format!(
                        "{}: a different file is there that no earlier bundle put there; --force replaces it",
                        file.path
                    ));
                }
            }
        }
    }
    if !conflicts.is_empty() {
        report.read.problems.extend(conflicts);
        return Ok(report);
    }
    let write_error = |path: &Path| {
        let path = path.display().to_string();
        move |source| BundleError::Write {
            path,
            error: source,
        }
    };
    for file in moves {
        let from = staging.path().join(&file.path);
        let to = target.join(&file.path);
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent).map_err(write_error(parent))?;
        }
        if std::fs::symlink_metadata(&to).is_ok_and(|m| m.file_type().is_symlink()) {
            std::fs::remove_file(&to).map_err(write_error(&to))?;
        }
        std::fs::rename(&from, &to).map_err(write_error(&to))?;
        report.written += 1;
    }
    for path in &manifest.removed {
        let at = target.join(path);
        let ours = previous
            .as_ref()
            .and_then(|m| m.file(path))
            .is_some_and(|old| hash_of(&at).as_ref() == Some(&old.sha256));
        if std::fs::symlink_metadata(&at).is_ok_and(|m| m.file_type().is_file())
            && (ours || force)
            && no_link_between(&target, &at).is_ok()
        {
            std::fs::remove_file(&at).map_err(write_error(&at))?;
            report.removed += 1;
        }
    }
    // The manifest last: it says which bundle the directory now holds.
    let meta = target.join(META_DIR);
    std::fs::create_dir_all(&meta).map_err(write_error(&meta))?;
    let manifest_path = target.join(MANIFEST_PATH);
    crate::net::cache::write_atomic(&manifest_path, &manifest_bytes)
        .map_err(write_error(&manifest_path))?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_days_match_known_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(2024, 2, 29), 19_782);
        let datetime: toml::value::Datetime = "2024-02-29T12:00:00Z".parse().unwrap();
        assert_eq!(toml_epoch(&datetime), Some(19_782 * 86_400 + 12 * 3_600));
        let offset: toml::value::Datetime = "2024-02-29T12:00:00+01:00".parse().unwrap();
        assert_eq!(toml_epoch(&offset), Some(19_782 * 86_400 + 11 * 3_600));
    }

    #[test]
    fn context_sources_are_copy_sources_and_bind_mounts() {
        let text = "FROM x\nCOPY requirements.lock.txt app/ /srv/\nCOPY --from=build /a /b\nRUN --mount=type=bind,source=wheelhouse,target=/w --mount=type=cache,target=/c pip install x\nADD https://example.invalid/x /x\nCOPY $X /y\n";
        assert_eq!(
            context_sources(text),
            ["requirements.lock.txt", "app/", "wheelhouse"]
        );
    }
}
