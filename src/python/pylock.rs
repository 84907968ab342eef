//! PEP 751 lockfiles (`pylock.<name>.toml`): building one from per-target resolutions, and
//! reading one back.
//!
//! One lock covers every target: a package that resolves to the same version everywhere has no
//! marker; otherwise each entry carries the markers of the targets that need it (PEP 751 allows
//! several entries per name, told apart by markers). `wheels` lists every wheel of that version
//! that any of its targets can install. What `verify` needs beyond the PEP (the targets, the
//! exact pins and dependency edges per target, the inputs' fingerprint) lives under
//! `[tool.airlock]`. Output is deterministic: sorted, no timestamps.

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

use pep440_rs::Version;
use pep508_rs::PackageName;
use serde::{Deserialize, Serialize};

use super::metadata::CoreMetadata;
use super::resolver::{BuildResolution, MetadataOrigin, Resolution, ResolvedPackage};
use super::simple::DistFile;
use super::target::Target;
use super::wheel::DistFilename;
use crate::digest::{SafeFileName, Sha256Hex};
use crate::net::redact;

pub const LOCK_VERSION: &str = "1.0";
pub const CREATED_BY: &str = "airlock";
/// The version of our `[tool.airlock]` table.
pub const TOOL_SCHEMA: u32 = 2;

#[derive(Debug, thiserror::Error)]
pub enum PylockError {
    #[error("{path} is not a valid PEP 751 lockfile")]
    Parse {
        path: String,
        #[source]
        source: toml::de::Error,
    },
    #[error("{path} has lock-version {found}; airlock reads {LOCK_VERSION}")]
    Version { path: String, found: String },
    #[error("cannot read {path}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct PyLock {
    pub lock_version: String,
    #[serde(default)]
    pub environments: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requires_python: Option<String>,
    #[serde(default)]
    pub extras: Vec<String>,
    #[serde(default)]
    pub dependency_groups: Vec<String>,
    #[serde(default)]
    pub default_groups: Vec<String>,
    pub created_by: String,
    #[serde(default)]
    pub packages: Vec<LockedPackage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<ToolTable>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct LockedPackage {
    pub name: String,
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub marker: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requires_python: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dependencies: Vec<DependencyRef>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub wheels: Vec<LockedFile>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sdist: Option<LockedFile>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct DependencyRef {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct LockedFile {
    pub name: SafeFileName,
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload_time: Option<toml::value::Datetime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    pub hashes: Hashes,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hashes {
    pub sha256: Sha256Hex,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolTable {
    pub airlock: AirlockTable,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct AirlockTable {
    pub schema: u32,
    /// sha256 over everything the resolution depended on but the index state.
    pub inputs_fingerprint: String,
    /// The requirements file, relative to the project root.
    pub requirements: String,
    /// The indexes searched, in order, without credentials.
    pub indexes: Vec<String>,
    /// The settings the lock was made with, when not the defaults (absent keys are the
    /// defaults, so locks made with the defaults read as they always have): a project with no
    /// airlock.toml reads them back for `--check`, `sync` and `verify`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index_strategy: Option<crate::python::index::IndexStrategy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prerelease: Option<crate::python::resolver::PrereleaseMode>,
    /// The wheel/sdist switches given by airlock.toml and flags (`--only-binary=:all:`), in
    /// the order they applied; a requirements file's own lines are part of its content.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub binary: Vec<String>,
    pub targets: Vec<LockedTarget>,
    /// The metadata used for each sdist a target builds, so `verify` can check the closure
    /// offline; tied to the file by its sha256.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sdists: Vec<LockedSdist>,
    /// What the builds of those sdists install in their isolated build environments: not
    /// part of the install (pip and uv ignore `[tool]`), but fetched into the wheelhouse so
    /// `pip install --no-index --find-links` can build offline.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub build_packages: Vec<LockedPackage>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct LockedSdist {
    /// The sdist's file name.
    pub file: SafeFileName,
    pub sha256: Sha256Hex,
    /// `static` (PKG-INFO, PEP 643) or `built` (the backend's hook, run on the locking host).
    pub metadata: MetadataOrigin,
    pub metadata_name: String,
    pub metadata_version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requires_python: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requires_dist: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub provides_extra: Vec<String>,
    /// `[build-system] requires` plus what `get_requires_for_build_wheel` asked for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub build_requires: Vec<String>,
}

impl LockedSdist {
    /// The recorded metadata as core metadata, for a resolver.
    pub fn core_metadata(&self) -> Result<CoreMetadata, crate::python::metadata::MetadataError> {
        let mut text = format!(
            "Metadata-Version: 2.2\nName: {}\nVersion: {}\n",
            self.metadata_name, self.metadata_version
        );
        if let Some(requires_python) = &self.requires_python {
            text.push_str(&format!("Requires-Python: {requires_python}\n"));
        }
        for requirement in &self.requires_dist {
            text.push_str(&format!("Requires-Dist: {requirement}\n"));
        }
        for extra in &self.provides_extra {
            text.push_str(&format!("Provides-Extra: {extra}\n"));
        }
        CoreMetadata::parse(text.as_bytes())
    }
}

impl AirlockTable {
    /// The requirements file the lock was made from, under `root`. The lock may come from
    /// anywhere, so only a relative path inside the project is accepted.
    pub fn requirements_path(&self, root: &std::path::Path) -> Result<std::path::PathBuf, String> {
        let path = std::path::Path::new(&self.requirements);
        let inside = !self.requirements.is_empty()
            && path.components().all(|c| {
                matches!(
                    c,
                    std::path::Component::Normal(_) | std::path::Component::CurDir
                )
            });
        if inside {
            Ok(root.join(path))
        } else {
            Err(format!(
                "[tool.airlock] requirements = {:?} is not a relative path inside the project; the lock was edited or made elsewhere; re-create it with `airlock resolve`",
                self.requirements
            ))
        }
    }
}

/// What building one sdist needs on one target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct LockedBuild {
    /// The sdist's file name.
    pub sdist: String,
    /// Its build requirements (`[[tool.airlock.sdists]]`) resolved for this target: what the build environment installs.
    pub pins: Vec<TargetPin>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct LockedTarget {
    pub python_version: String,
    pub python_platform: String,
    pub marker: String,
    /// Direct requirements on this target.
    pub roots: Vec<String>,
    pub pins: Vec<TargetPin>,
    /// One entry per sdist this target builds (runtime or build requirement).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub builds: Vec<LockedBuild>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct TargetPin {
    pub name: String,
    pub version: String,
    /// The wheel this target's installer picks (empty when it builds the sdist).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub wheel: String,
    /// The sdist this target builds, when no wheel fits it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sdist: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extras: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dependencies: Vec<String>,
}

impl TargetPin {
    /// The file this target installs or builds.
    pub fn file(&self) -> &str {
        self.sdist.as_deref().unwrap_or(&self.wheel)
    }

    fn of(package: &ResolvedPackage) -> TargetPin {
        let is_sdist = matches!(package.dist.kind, DistFilename::Sdist(_));
        TargetPin {
            name: package.name.to_string(),
            version: package.version.to_string(),
            wheel: if is_sdist {
                String::new()
            } else {
                package.dist.filename.to_string()
            },
            sdist: is_sdist.then(|| package.dist.filename.to_string()),
            extras: package.extras.iter().map(ToString::to_string).collect(),
            dependencies: package
                .dependencies
                .iter()
                .map(ToString::to_string)
                .collect(),
        }
    }
}

/// What the lock records about how it was made.
pub struct LockContext<'a> {
    pub fingerprint: String,
    pub requirements: String,
    pub indexes: &'a [url::Url],
    pub index_strategy: crate::python::index::IndexStrategy,
    pub prerelease: crate::python::resolver::PrereleaseMode,
    pub binary: &'a [crate::python::resolver::BinaryArg],
}

fn locked_file(file: &DistFile) -> Option<LockedFile> {
    Some(LockedFile {
        name: file.filename.clone(),
        url: redact(&file.url),
        upload_time: file
            .upload_time
            .as_deref()
            .and_then(|t| toml::value::Datetime::from_str(t).ok()),
        size: file.size,
        hashes: Hashes {
            sha256: file.sha256.clone()?,
        },
    })
}

/// The lock entries for packages pinned by several targets' resolutions: one entry per
/// (name, version), with the markers of the targets that pin it where not all do, every wheel
/// any of those targets can install, and the sdist (always recorded; fetched only where a
/// target builds it).
fn locked_packages(targets: &[Target], resolutions: &[Vec<&Resolution>]) -> Vec<LockedPackage> {
    let mut entries: BTreeMap<(PackageName, Version), BTreeSet<usize>> = BTreeMap::new();
    for (index, group) in resolutions.iter().enumerate() {
        for resolution in group {
            for package in resolution.packages.values() {
                entries
                    .entry((package.name.clone(), package.version.clone()))
                    .or_default()
                    .insert(index);
            }
        }
    }
    let mut versions_per_name: BTreeMap<&PackageName, usize> = BTreeMap::new();
    for (name, _) in entries.keys() {
        *versions_per_name.entry(name).or_default() += 1;
    }
    let all_tags: Vec<_> = targets.iter().map(Target::tags).collect();
    let find = |index: usize, name: &PackageName, version: &Version| {
        resolutions[index]
            .iter()
            .filter_map(|r| {
                r.packages
                    .get(name)
                    .filter(|p| p.version == *version)
                    .map(|p| (*r, p))
            })
            .collect::<Vec<_>>()
    };
    let mut packages = Vec::new();
    for ((name, version), target_indexes) in &entries {
        let marker = (target_indexes.len() != targets.len()).then(|| {
            target_indexes
                .iter()
                .map(|i| format!("({})", targets[*i].marker_expression()))
                .collect::<Vec<_>>()
                .join(" or ")
        });
        let first_index = *target_indexes.iter().next().expect("entries have a target");
        let (_, first) = find(first_index, name, version)[0];
        let mut dependencies = BTreeSet::new();
        for i in target_indexes {
            for (resolution, resolved) in find(*i, name, version) {
                for dependency in &resolved.dependencies {
                    let version = (versions_per_name.get(dependency).copied().unwrap_or(0) > 1)
                        .then(|| resolution.packages[dependency].version.to_string());
                    dependencies.insert(DependencyRef {
                        name: dependency.to_string(),
                        version,
                    });
                }
            }
        }
        let mut wheels: Vec<LockedFile> = first
            .files
            .iter()
            .filter(|file| match &file.kind {
                DistFilename::Wheel(wheel) => target_indexes
                    .iter()
                    .any(|i| all_tags[*i].is_compatible(wheel)),
                DistFilename::Sdist(_) => false,
            })
            .filter_map(locked_file)
            .collect();
        wheels.sort_by(|a, b| a.name.cmp(&b.name));
        wheels.dedup_by(|a, b| a.name == b.name);
        // The sdist a target builds, else the first by name (recorded for reference).
        let built = target_indexes.iter().find_map(|i| {
            find(*i, name, version)
                .into_iter()
                .map(|(_, p)| &p.dist)
                .find(|d| matches!(d.kind, DistFilename::Sdist(_)))
                .cloned()
        });
        let sdist = match built {
            Some(file) => locked_file(&file),
            None => first
                .files
                .iter()
                .filter(|file| matches!(file.kind, DistFilename::Sdist(_)))
                .filter_map(locked_file)
                .min_by(|a, b| a.name.cmp(&b.name)),
        };
        packages.push(LockedPackage {
            name: name.to_string(),
            version: version.to_string(),
            marker,
            requires_python: first.requires_python.as_ref().map(ToString::to_string),
            index: first.dist.index.as_deref().map(str::to_string),
            dependencies: dependencies.into_iter().collect(),
            wheels,
            sdist,
        });
    }
    packages
}

/// Builds one lock from each target's resolution and the builds its sdists need.
/// `resolutions` and `builds` pair up with `targets`.
pub fn build_lock(
    targets: &[Target],
    resolutions: &[Resolution],
    builds: &[BTreeMap<String, BuildResolution>],
    context: &LockContext<'_>,
) -> PyLock {
    let runtime: Vec<Vec<&Resolution>> = resolutions.iter().map(|r| vec![r]).collect();
    let packages = locked_packages(targets, &runtime);
    let build_groups: Vec<Vec<&Resolution>> = targets
        .iter()
        .enumerate()
        .map(|(i, _)| {
            builds
                .get(i)
                .map(|map| map.values().map(|b| &b.resolution).collect())
                .unwrap_or_default()
        })
        .collect();
    let build_packages = locked_packages(targets, &build_groups);
    let mut sdists: BTreeMap<String, LockedSdist> = BTreeMap::new();
    for build in builds.iter().flat_map(|map| map.values()) {
        let metadata = &build.metadata;
        sdists
            .entry(build.sdist.filename.to_string())
            .or_insert_with(|| LockedSdist {
                file: build.sdist.filename.clone(),
                // An sdist is built only when the page gave its sha256 (NoHash otherwise).
                sha256: build
                    .sdist
                    .sha256
                    .clone()
                    .expect("a built sdist has a sha256"),
                metadata: build.origin,
                metadata_name: metadata.name.to_string(),
                metadata_version: metadata.version.to_string(),
                requires_python: metadata.requires_python.as_ref().map(ToString::to_string),
                requires_dist: metadata
                    .requires_dist
                    .iter()
                    .map(ToString::to_string)
                    .collect(),
                provides_extra: metadata
                    .provides_extra
                    .iter()
                    .map(ToString::to_string)
                    .collect(),
                build_requires: build.requires.iter().map(ToString::to_string).collect(),
            });
    }
    let minimum_python = targets
        .iter()
        .map(|t| (t.python_version.major, t.python_version.minor))
        .min();
    let locked_targets = targets
        .iter()
        .zip(resolutions)
        .enumerate()
        .map(|(index, (target, resolution))| LockedTarget {
            python_version: target.python_version.to_string(),
            python_platform: target.platform.to_string(),
            marker: target.marker_expression(),
            roots: resolution.roots.iter().map(ToString::to_string).collect(),
            pins: resolution.packages.values().map(TargetPin::of).collect(),
            builds: builds
                .get(index)
                .map(|map| {
                    map.values()
                        .map(|build| LockedBuild {
                            sdist: build.sdist.filename.to_string(),
                            pins: build
                                .resolution
                                .packages
                                .values()
                                .map(TargetPin::of)
                                .collect(),
                        })
                        .collect()
                })
                .unwrap_or_default(),
        })
        .collect();
    PyLock {
        lock_version: LOCK_VERSION.to_string(),
        environments: targets.iter().map(Target::marker_expression).collect(),
        requires_python: minimum_python.map(|(major, minor)| format!(">={major}.{minor}")),
        extras: Vec::new(),
        dependency_groups: Vec::new(),
        default_groups: Vec::new(),
        created_by: CREATED_BY.to_string(),
        packages,
        tool: Some(ToolTable {
            airlock: AirlockTable {
                schema: TOOL_SCHEMA,
                inputs_fingerprint: context.fingerprint.clone(),
                requirements: context.requirements.clone(),
                indexes: context.indexes.iter().map(redact).collect(),
                index_strategy: (context.index_strategy
                    != crate::python::index::IndexStrategy::default())
                .then_some(context.index_strategy),
                prerelease: (context.prerelease
                    != crate::python::resolver::PrereleaseMode::default())
                .then_some(context.prerelease),
                binary: context.binary.iter().map(ToString::to_string).collect(),
                targets: locked_targets,
                sdists: sdists.into_values().collect(),
                build_packages,
            },
        }),
    }
}

impl PyLock {
    pub fn to_toml(&self) -> String {
        let body = toml::to_string(self).expect("lock structures serialise to TOML");
        format!(
            "# This file was generated by airlock from {}. Do not edit it by hand;\n# run `airlock resolve` to update it.\n{body}",
            self.tool
                .as_ref()
                .map_or("its requirements", |t| t.airlock.requirements.as_str())
        )
    }

    pub fn parse(text: &str, path: &str) -> Result<Self, PylockError> {
        let lock: PyLock = toml::from_str(text).map_err(|source| PylockError::Parse {
            path: path.to_string(),
            source,
        })?;
        if lock.lock_version.split('.').next() != Some("1") {
            return Err(PylockError::Version {
                path: path.to_string(),
                found: lock.lock_version,
            });
        }
        Ok(lock)
    }

    /// The sdists some target builds: a runtime package with no wheel for it, or a build
    /// requirement published only as an sdist. Other recorded sdists are for reference.
    pub fn built_sdists(&self) -> BTreeSet<&str> {
        self.tool
            .iter()
            .flat_map(|tool| &tool.airlock.targets)
            .flat_map(|target| {
                target
                    .pins
                    .iter()
                    .chain(target.builds.iter().flat_map(|b| &b.pins))
            })
            .filter_map(|pin| pin.sdist.as_deref())
            .collect()
    }

    pub fn fingerprint(&self) -> Option<&str> {
        self.tool
            .as_ref()
            .map(|t| t.airlock.inputs_fingerprint.as_str())
    }
}

/// The `pylock.*.toml` files in `dir`, sorted.
pub fn lockfiles_in(dir: &std::path::Path) -> std::io::Result<Vec<std::path::PathBuf>> {
    let mut locks = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("pylock.") && n.ends_with(".toml"))
        {
            locks.push(path);
        }
    }
    locks.sort();
    Ok(locks)
}

/// `requirements-api.in` -> `pylock.requirements-api.toml`. PEP 751 names may not contain dots,
/// so dots and anything unusual become dashes.
pub fn lock_filename(requirements: &std::path::Path) -> String {
    let stem = requirements
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "requirements".into());
    let clean: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("pylock.{clean}.toml")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::python::requirements::{Location, RequirementLine};
    use crate::python::resolver::tests::MemorySource;
    use crate::python::resolver::{ResolveOptions, resolve};
    use std::path::{Path, PathBuf};

    fn resolution(source: &MemorySource, target: &Target) -> Resolution {
        let lines = vec![RequirementLine {
            requirement: "app".parse().unwrap(),
            hashes: vec![],
            location: Location {
                file: PathBuf::from("r.in"),
                line: 1,
            },
        }];
        resolve(
            source,
            "r.in",
            &lines,
            &[],
            target,
            &ResolveOptions::default(),
        )
        .unwrap()
    }

    #[test]
    fn one_lock_for_several_targets_with_markers_where_they_differ() {
        let mut source = MemorySource::default();
        source
            .add(
                "app-1.0-py3-none-any.whl",
                &["native", "typing-extensions ; python_version < '3.12'"],
            )
            .add("native-2.0-cp312-cp312-manylinux_2_17_x86_64.whl", &[])
            .add("native-1.0-cp311-cp311-manylinux_2_17_aarch64.whl", &[])
            .add("native-1.0-cp312-cp312-manylinux_2_17_x86_64.whl", &[])
            .add("native-1.0.tar.gz", &[])
            .add("typing_extensions-4.12.2-py3-none-any.whl", &[]);
        let targets = vec![
            Target::new("3.12", "x86_64-manylinux_2_36").unwrap(),
            Target::new("3.11", "aarch64-manylinux_2_28").unwrap(),
        ];
        let resolutions: Vec<_> = targets.iter().map(|t| resolution(&source, t)).collect();
        let indexes = [url::Url::parse("http://user:pw@127.0.0.1:9/simple/").unwrap()];
        let context = LockContext {
            fingerprint: "f".repeat(64),
            requirements: "r.in".into(),
            indexes: &indexes,
            index_strategy: Default::default(),
            prerelease: Default::default(),
            binary: &[],
        };
        let lock = build_lock(&targets, &resolutions, &[], &context);
        let summary: Vec<_> = lock
            .packages
            .iter()
            .map(|p| {
                (
                    p.name.as_str(),
                    p.version.as_str(),
                    p.marker.is_some(),
                    p.wheels.len(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("app", "1.0", false, 1),
                ("native", "1.0", true, 1),
                ("native", "2.0", true, 1),
                ("typing-extensions", "4.12.2", true, 1),
            ]
        );
        assert!(
            lock.packages[1]
                .marker
                .as_ref()
                .unwrap()
                .contains("aarch64")
        );
        assert!(lock.packages[1].sdist.is_some());
        assert_eq!(lock.requires_python.as_deref(), Some(">=3.11"));
        let app_deps: Vec<_> = lock.packages[0]
            .dependencies
            .iter()
            .map(|d| (d.name.as_str(), d.version.as_deref()))
            .collect();
        assert_eq!(
            app_deps,
            [
                ("native", Some("1.0")),
                ("native", Some("2.0")),
                ("typing-extensions", None)
            ]
        );
        let text = lock.to_toml();
        assert!(!text.contains("pw@"), "credentials never reach the lock");
        assert_eq!(PyLock::parse(&text, "x").unwrap(), lock, "round trip");
        assert_eq!(
            build_lock(&targets, &resolutions, &[], &context).to_toml(),
            text,
            "deterministic"
        );
    }

    #[test]
    fn the_recorded_requirements_path_must_stay_in_the_project() {
        let table = |requirements: &str| AirlockTable {
            schema: TOOL_SCHEMA,
            inputs_fingerprint: String::new(),
            requirements: requirements.into(),
            indexes: vec![],
            index_strategy: None,
            prerelease: None,
            binary: Vec::new(),
            targets: vec![],
            sdists: vec![],
            build_packages: vec![],
        };
        let root = Path::new("/project");
        assert_eq!(
            table("requirements/app.in")
                .requirements_path(root)
                .unwrap(),
            Path::new("/project/requirements/app.in")
        );
        for hostile in ["/etc/passwd", "../outside.in", "requirements/../../x", ""] {
            let error = table(hostile).requirements_path(root).unwrap_err();
            assert!(
                error.contains("not a relative path inside the project"),
                "{error}"
            );
        }
    }

    #[test]
    fn lock_names_follow_pep751() {
        assert_eq!(
            lock_filename(Path::new("requirements/requirements-api.in")),
            "pylock.requirements-api.toml"
        );
        assert_eq!(
            lock_filename(Path::new("req.prod.txt")),
            "pylock.req-prod.toml"
        );
    }

    #[test]
    fn rejects_other_lock_versions() {
        let error =
            PyLock::parse("lock-version = \"2.0\"\ncreated-by = \"x\"\n", "p.toml").unwrap_err();
        assert_eq!(
            error.to_string(),
            "p.toml has lock-version 2.0; airlock reads 1.0"
        );
    }
}
