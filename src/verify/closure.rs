//! Closure: re-resolve every requirements file for every target against the wheelhouse alone,
//! with the same resolver `airlock resolve` uses, and compare the result with the lock.
//!
//! The wheelhouse becomes a [`PackageSource`]: its wheels are the only files there are, and
//! their metadata is read from the zips on disk. If a transitive wheel is missing, no wheel
//! fits a target, or pip would pick something else (a stray newer wheel), it shows here.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use pep508_rs::PackageName;
use url::Url;

use super::{Finding, Severity};
use crate::digest::SafeFileName;
use crate::lock::display_path;
use crate::python::metadata::CoreMetadata;
use crate::python::pylock::{LockedBuild, LockedSdist, LockedTarget, PyLock};
use crate::python::requirements::{DiskLoader, parse_requirements};
use crate::python::resolver::{
    BinaryArg, BinaryPolicy, PackageSource, PrereleaseMode, ResolveError, ResolveOptions,
    SdistInfo, SourceError, resolve, resolve_builds,
};
use crate::python::simple::{CoreMetadataFile, DistFile, ProjectFiles};
use crate::python::target::Target;
use crate::python::wheel::{DistFilename, WheelFilename};

#[derive(Debug, thiserror::Error)]
#[error("{0} is not in the wheelhouse")]
struct NotInWheelhouse(String);

/// The wheelhouse as a package source: its wheels and the metadata inside them, and its
/// sdists (their metadata comes from the lock that recorded it, tied by sha256).
pub struct WheelhouseSource {
    projects: HashMap<PackageName, Arc<ProjectFiles>>,
    metadata: HashMap<SafeFileName, Arc<CoreMetadata>>,
}

/// The wheelhouse seen through one lock: sdists get the metadata and build requirements the
/// lock recorded for exactly those bytes.
pub struct LockedWheelhouse<'a> {
    base: &'a WheelhouseSource,
    sdists: HashMap<&'a str, &'a LockedSdist>,
}

impl<'a> LockedWheelhouse<'a> {
    pub fn new(base: &'a WheelhouseSource, sdists: &'a [LockedSdist]) -> Self {
        LockedWheelhouse {
            base,
            sdists: sdists.iter().map(|s| (s.file.as_str(), s)).collect(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum SdistRecordError {
    #[error(
        "{0} is in the wheelhouse, but the lock records no metadata for it; airlock does not run builds offline, so re-resolve"
    )]
    NotRecorded(String),
    #[error(
        "{file} in the wheelhouse has sha256 {actual}, but the lock recorded its metadata for {expected}"
    )]
    Hash {
        file: String,
        actual: String,
        expected: String,
    },
    #[error("{file}: the metadata recorded in the lock is invalid: {message}")]
    Invalid { file: String, message: String },
}

impl PackageSource for LockedWheelhouse<'_> {
    fn project(&self, name: &PackageName) -> Result<Arc<ProjectFiles>, SourceError> {
        self.base.project(name)
    }

    fn metadata(&self, file: &DistFile) -> Result<Arc<CoreMetadata>, SourceError> {
        self.base.metadata(file)
    }

    fn requires_digests(&self) -> bool {
        self.base.requires_digests()
    }

    fn sdist_info(&self, file: &DistFile) -> Result<Arc<SdistInfo>, SourceError> {
        let record = self.sdists.get(file.filename.as_str()).ok_or_else(|| {
            SourceError::new(SdistRecordError::NotRecorded(file.filename.to_string()))
        })?;
        if file.sha256.as_ref() != Some(&record.sha256) {
            return Err(SourceError::new(SdistRecordError::Hash {
                file: file.filename.to_string(),
                actual: file
                    .sha256
                    .as_ref()
                    .map_or_else(|| "none".to_string(), ToString::to_string),
                expected: record.sha256.to_string(),
            }));
        }
        let invalid = |message: String| {
            SourceError::new(SdistRecordError::Invalid {
                file: file.filename.to_string(),
                message,
            })
        };
        let metadata = record.core_metadata().map_err(|e| invalid(e.to_string()))?;
        let build_requires = record
            .build_requires
            .iter()
            .map(|text| pep508_rs::Requirement::from_str(text).map_err(|e| invalid(e.to_string())))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Arc::new(SdistInfo {
            metadata: Arc::new(metadata),
            build_requires,
            origin: record.metadata,
            built_on: None,
        }))
    }

    fn describe(&self) -> &'static str {
        "the wheelhouse"
    }
}

impl WheelhouseSource {
    /// Reads every regular `*.whl` and sdist in `dir`. Symlinks and unreadable files are left
    /// out of the candidates: integrity reports each locked one (AL102-AL104), and the others
    /// are extraneous. A wheelhouse that cannot be listed is an error.
    pub fn scan(dir: &Path) -> Result<Self, std::io::Error> {
        let mut projects: HashMap<PackageName, ProjectFiles> = HashMap::new();
        let mut metadata = HashMap::new();
        // File URLs need an absolute path; a relative wheelhouse would otherwise lose every file.
        let dir = std::path::absolute(dir)?;
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            // Hidden names (the wheelhouse lock, partial downloads) are never distributions.
            let Ok(name) = SafeFileName::parse(&entry.file_name().to_string_lossy()) else {
                continue;
            };
            let path = entry.path();
            let regular = std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_file());
            if let Some(DistFilename::Sdist(sdist)) = DistFilename::parse(&name)
                && regular
            {
                let url = Url::from_file_path(&path)
                    .expect("an absolute path makes a file URL (the wheelhouse was made absolute)");
                // Integrity reports an unreadable file; here it is just not a candidate.
                let Ok((sha256, size)) = crate::net::download::hash_file(&path) else {
                    continue;
                };
                projects
                    .entry(sdist.name.clone())
                    .or_default()
                    .files
                    .push(DistFile {
                        filename: name.clone(),
                        kind: DistFilename::Sdist(sdist),
                        url,
                        sha256: Some(sha256),
                        other_hash: None,
                        requires_python: None,
                        yanked: false,
                        yanked_reason: None,
                        size: Some(size),
                        upload_time: None,
                        core_metadata: CoreMetadataFile::Absent,
                        index: None,
                    });
                continue;
            }
            let Ok(wheel) = WheelFilename::from_str(&name) else {
                continue;
            };
            if !regular {
                continue;
            }
            let Some(parsed) = super::integrity::read_metadata(&path)
                .and_then(|bytes| CoreMetadata::parse(&bytes).ok())
            else {
                continue;
            };
            let url = Url::from_file_path(&path)
                .expect("an absolute path makes a file URL (the wheelhouse was made absolute)");
            let file = DistFile {
                filename: name.clone(),
                kind: DistFilename::Wheel(wheel.clone()),
                url,
                sha256: None,
                other_hash: None,
                requires_python: parsed.requires_python.clone().map(Arc::new),
                yanked: false,
                yanked_reason: None,
                size: std::fs::metadata(&path).ok().map(|m| m.len()),
                upload_time: None,
                core_metadata: CoreMetadataFile::Absent,
                index: None,
            };
            projects
                .entry(wheel.name.clone())
                .or_default()
                .files
                .push(file);
            metadata.insert(name, Arc::new(parsed));
        }
        Ok(WheelhouseSource {
            projects: projects
                .into_iter()
                .map(|(k, v)| (k, Arc::new(v)))
                .collect(),
            metadata,
        })
    }
}

impl PackageSource for WheelhouseSource {
    fn project(&self, name: &PackageName) -> Result<Arc<ProjectFiles>, SourceError> {
        Ok(self.projects.get(name).cloned().unwrap_or_default())
    }

    fn metadata(&self, file: &DistFile) -> Result<Arc<CoreMetadata>, SourceError> {
        self.metadata
            .get(file.filename.as_str())
            .cloned()
            .ok_or_else(|| SourceError::new(NotInWheelhouse(file.filename.to_string())))
    }

    fn describe(&self) -> &'static str {
        "the wheelhouse"
    }

    fn requires_digests(&self) -> bool {
        false
    }
}

/// How `name` is reached from the target's roots, e.g. `app -> fastapi -> starlette`.
fn chain_to(target: &LockedTarget, name: &str) -> Option<String> {
    let edges: HashMap<&str, &Vec<String>> = target
        .pins
        .iter()
        .map(|p| (p.name.as_str(), &p.dependencies))
        .collect();
    let mut parent: HashMap<&str, &str> = HashMap::new();
    let mut queue: VecDeque<&str> = target.roots.iter().map(String::as_str).collect();
    let mut seen: std::collections::HashSet<&str> = queue.iter().copied().collect();
    while let Some(current) = queue.pop_front() {
        if current == name {
            let mut path = vec![current];
            let mut at = current;
            while let Some(previous) = parent.get(at) {
                path.push(previous);
                at = previous;
            }
            path.reverse();
            return Some(path.join(" -> "));
        }
        for next in edges.get(current).into_iter().flat_map(|v| v.iter()) {
            if seen.insert(next.as_str()) {
                parent.insert(next.as_str(), current);
                queue.push_back(next.as_str());
            }
        }
    }
    None
}

/// What re-resolving a lock from the wheelhouse needs, read from the lock and its
/// requirements file.
struct Prepared<'a> {
    tool: &'a crate::python::pylock::AirlockTable,
    input: crate::python::requirements::RequirementsInput,
    options: ResolveOptions,
    label: String,
}

/// Reads what [`check_lock`] and [`resolved_pins`] resolve with; the error is a finding's
/// rule and message.
fn prepare<'a>(
    lock: &'a PyLock,
    root: &Path,
    prerelease: PrereleaseMode,
    binary_config: &[BinaryArg],
) -> Result<Prepared<'a>, (&'static str, String)> {
    let Some(tool) = lock.tool.as_ref().map(|t| &t.airlock) else {
        return Err(("AL204", "the lock has no [tool.airlock] table, so airlock cannot re-check its closure; re-create it with `airlock resolve`".into()));
    };
    let requirements_path = tool
        .requirements_path(root)
        .map_err(|message| ("AL204", message))?;
    let env = |name: &str| std::env::var(name).ok();
    let input = parse_requirements(&requirements_path, &DiskLoader, &env)
        .map_err(|errors| ("AL201", format!("cannot read its requirements: {errors}")))?;
    let binary = BinaryPolicy::from_args(binary_config.iter().chain(&input.binary))
        .map_err(|e| ("AL201", format!("--only-binary/--no-binary: {e}")))?;
    let options = ResolveOptions {
        prerelease: if input.pre {
            PrereleaseMode::Allow
        } else {
            prerelease
        },
        binary,
    };
    Ok(Prepared {
        tool,
        input,
        options,
        label: display_path(&requirements_path, root),
    })
}

/// The pins the wheelhouse alone resolves the lock's requirements to for `target` (name ->
/// version), or `None` when it does not resolve. `verify --rehearse` uses it to tell a
/// difference that comes only from the interpreter's patch level.
pub fn resolved_pins(
    lock: &PyLock,
    root: &Path,
    source: &WheelhouseSource,
    prerelease: PrereleaseMode,
    binary_config: &[BinaryArg],
    target: &Target,
) -> Option<BTreeMap<String, String>> {
    let prepared = prepare(lock, root, prerelease, binary_config).ok()?;
    let source = LockedWheelhouse::new(source, &prepared.tool.sdists);
    let resolution = resolve(
        &source,
        &prepared.label,
        &prepared.input.requirements,
        &prepared.input.constraints,
        target,
        &prepared.options,
    )
    .ok()?;
    Some(
        resolution
            .packages
            .values()
            .map(|p| (p.name.to_string(), p.version.to_string()))
            .collect(),
    )
}

/// Closure findings for one lock.
pub fn check_lock(
    lock: &PyLock,
    lock_uri: &str,
    root: &Path,
    source: &WheelhouseSource,
    prerelease: PrereleaseMode,
    binary_config: &[BinaryArg],
) -> Vec<Finding> {
    let error =
        |rule, message: String| Finding::new(rule, Severity::Error, lock_uri, None, message);
    let Prepared {
        tool,
        input,
        options,
        label,
    } = match prepare(lock, root, prerelease, binary_config) {
        Ok(prepared) => prepared,
        Err((rule, message)) => return vec![error(rule, message)],
    };
    let source = &LockedWheelhouse::new(source, &tool.sdists);
    let mut findings = Vec::new();
    for locked in &tool.targets {
        let target = match Target::new(&locked.python_version, &locked.python_platform) {
            Ok(target) => target,
            Err(e) => {
                findings.push(error(
                    "AL204",
                    format!(
                        "target {} {}: {e}",
                        locked.python_version, locked.python_platform
                    ),
                ));
                continue;
            }
        };
        let resolution = match resolve(
            source,
            &label,
            &input.requirements,
            &input.constraints,
            &target,
            &options,
        ) {
            Ok(resolution) => resolution,
            Err(ResolveError::NoSolution { report, .. }) => {
                findings.push(error(
                    "AL201",
                    format!("the wheelhouse alone cannot resolve {label} for {target}; fetch the missing wheels (`airlock fetch`) or re-resolve:\n{report}"),
                ));
                continue;
            }
            Err(other) => {
                findings.push(error(
                    "AL201",
                    format!("resolving {label} for {target} from the wheelhouse failed: {other}"),
                ));
                continue;
            }
        };
        let resolved: BTreeMap<String, (String, String)> = resolution
            .packages
            .values()
            .map(|p| {
                (
                    p.name.to_string(),
                    (p.version.to_string(), p.dist.filename.to_string()),
                )
            })
            .collect();
        let pinned: BTreeMap<String, (String, String)> = locked
            .pins
            .iter()
            .map(|p| (p.name.clone(), (p.version.clone(), p.file().to_string())))
            .collect();
        for (name, (version, wheel)) in &pinned {
            let needed_by = match chain_to(locked, name) {
                Some(chain) if chain.contains(" -> ") => format!(" (needed by {chain})"),
                Some(_) => " (a direct requirement)".to_string(),
                None => String::new(),
            };
            match resolved.get(name) {
                None => findings.push(error(
                    "AL202",
                    format!("{target}: the lock pins {name} {version}{needed_by}, but resolving from the wheelhouse does not need it; the lock is out of date with {label}"),
                )),
                Some((found, found_wheel)) if found != version || found_wheel != wheel => findings.push(error(
                    "AL202",
                    format!("{target}: the lock pins {name} {version} ({wheel}){needed_by}, but the wheelhouse resolves to {found} ({found_wheel}); remove stray wheels or re-resolve"),
                )),
                Some(_) => {}
            }
        }
        for (name, (version, wheel)) in &resolved {
            if !pinned.contains_key(name) {
                findings.push(error(
                    "AL202",
                    format!("{target}: the wheelhouse resolution needs {name} {version} ({wheel}), which the lock does not pin; re-resolve"),
                ));
            }
        }
        findings.extend(check_builds(
            source,
            &resolution,
            locked,
            &target,
            &options,
            lock_uri,
        ));
    }
    findings
}

/// AL205: every sdist the target builds must find its build requirements in the wheelhouse,
/// resolving to what the lock pinned for that build.
fn check_builds(
    source: &LockedWheelhouse<'_>,
    resolution: &crate::python::resolver::Resolution,
    locked: &LockedTarget,
    target: &Target,
    options: &ResolveOptions,
    lock_uri: &str,
) -> Vec<Finding> {
    let error = |message: String| Finding::new("AL205", Severity::Error, lock_uri, None, message);
    let builds = match resolve_builds(source, resolution, target, options) {
        Ok(builds) => builds,
        Err(ResolveError::NoSolution { target, report }) => {
            // The root of a build resolution is labelled `<sdist> [build-system]`.
            let sdist = report
                .lines()
                .next()
                .and_then(|line| line.split_once(" [build-system]"))
                .map_or("an sdist", |(sdist, _)| sdist);
            return vec![error(format!(
                "{target}: building {sdist} needs build requirements the wheelhouse lacks; fetch them (`airlock fetch`) or re-resolve:\n{report}"
            ))];
        }
        Err(other) => {
            return vec![error(format!(
                "{target}: cannot check the source builds from the wheelhouse: {other}"
            ))];
        }
    };
    let mut findings = Vec::new();
    let recorded: HashMap<&str, &LockedBuild> = locked
        .builds
        .iter()
        .map(|b| (b.sdist.as_str(), b))
        .collect();
    for (sdist, build) in &builds {
        let Some(record) = recorded.get(sdist.as_str()) else {
            findings.push(error(format!(
                "{target}: {sdist} is built from source, but the lock records no build environment for it; re-resolve"
            )));
            continue;
        };
        let found: BTreeMap<String, String> = build
            .resolution
            .packages
            .values()
            .map(|p| (p.name.to_string(), p.dist.filename.to_string()))
            .collect();
        let pinned: BTreeMap<String, String> = record
            .pins
            .iter()
            .map(|p| (p.name.clone(), p.file().to_string()))
            .collect();
        if found != pinned {
            findings.push(error(format!(
                "{target}: building {sdist} from the wheelhouse would install {}, but the lock pinned {}; re-resolve or fetch",
                found.values().cloned().collect::<Vec<_>>().join(", "),
                pinned.values().cloned().collect::<Vec<_>>().join(", "),
            )));
        }
    }
    findings
}
