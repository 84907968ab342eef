//! The Dockerfile audit: a parser for what BuildKit accepts ([`parser`]), the air-gap rules
//! ([`rules`]), and the build context on disk.

pub mod parser;
pub mod rules;

use std::path::{Path, PathBuf};

use super::Finding;

/// The build context on disk. Paths are relative to its root; nothing outside it is read.
pub struct DiskContext {
    pub root: PathBuf,
}

impl DiskContext {
    fn resolve(&self, path: &str) -> Option<PathBuf> {
        let relative = Path::new(path.trim_start_matches('/'));
        if relative
            .components()
            .any(|c| matches!(c, std::path::Component::ParentDir))
        {
            return None;
        }
        Some(self.root.join(relative))
    }
}

impl rules::BuildContext for DiskContext {
    fn exists(&self, path: &str) -> bool {
        self.resolve(path)
            .is_some_and(|p| std::fs::symlink_metadata(p).is_ok())
    }

    fn read(&self, path: &str) -> Option<String> {
        let path = self.resolve(path)?;
        // Requirements files are small; a bound keeps a stray large file from being read whole.
        let meta = std::fs::metadata(&path).ok()?;
        if meta.len() > 16 * 1024 * 1024 {
            return None;
        }
        std::fs::read_to_string(path).ok()
    }

    fn dockerignore(&self) -> Option<String> {
        std::fs::read_to_string(self.root.join(".dockerignore")).ok()
    }
}

/// Dockerfiles in the project when none are configured: `Dockerfile`, `Containerfile`,
/// `*.Dockerfile`, `Dockerfile.*` at the root and one level down (build output and the
/// wheelhouse skipped). Sorted, for deterministic output.
pub fn discover(root: &Path) -> Vec<PathBuf> {
    fn is_dockerfile(name: &str) -> bool {
        name == "Dockerfile"
            || name == "Containerfile"
            || name.ends_with(".Dockerfile")
            || name.ends_with(".Containerfile")
            || name.starts_with("Dockerfile.")
            || name.starts_with("Containerfile.")
    }
    let mut found = Vec::new();
    let skip = ["target", "wheelhouse", "node_modules", "lockfiles"];
    let Ok(entries) = std::fs::read_dir(root) else {
        return found;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        if path.is_file() && is_dockerfile(&name) {
            found.push(path);
        } else if path.is_dir() && !name.starts_with('.') && !skip.contains(&name.as_str()) {
            for inner in std::fs::read_dir(&path).into_iter().flatten().flatten() {
                let inner_name = inner.file_name().to_string_lossy().into_owned();
                if inner.path().is_file() && is_dockerfile(&inner_name) {
                    found.push(inner.path());
                }
            }
        }
    }
    found.sort();
    found
}

/// Audits one Dockerfile on disk.
pub fn audit_file(
    path: &Path,
    uri: &str,
    context: &DiskContext,
    settings: &rules::AuditSettings,
) -> Result<Vec<Finding>, std::io::Error> {
    let text = std::fs::read_to_string(path)?;
    Ok(rules::audit(&parser::parse(&text), uri, context, settings))
}

/// The sdists the locks in `lockfiles` build, for the install rules (DF015/DF016). No
/// lockfiles directory yet means none; an unreadable lock is an error naming it.
pub fn source_builds(
    lockfiles: &Path,
) -> Result<Vec<rules::SourceBuild>, crate::python::pylock::PylockError> {
    use crate::python::pylock::{PyLock, PylockError, lockfiles_in};
    let locks = match lockfiles_in(lockfiles) {
        Ok(locks) => locks,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => {
            return Err(PylockError::Read {
                path: lockfiles.display().to_string(),
                source: error,
            });
        }
    };
    let mut builds = Vec::new();
    for path in locks {
        let label = path.display().to_string();
        let text = std::fs::read_to_string(&path).map_err(|source| PylockError::Read {
            path: label.clone(),
            source,
        })?;
        let lock = PyLock::parse(&text, &label)?;
        let built = lock.built_sdists();
        let Some(tool) = &lock.tool else { continue };
        for sdist in &tool.airlock.sdists {
            if built.contains(sdist.file.as_str()) {
                builds.push(rules::SourceBuild {
                    package: sdist.metadata_name.clone(),
                    sdist: sdist.file.to_string(),
                    build_requires: sdist.build_requires.clone(),
                });
            }
        }
    }
    builds.sort_by(|a, b| a.sdist.cmp(&b.sdist));
    builds.dedup();
    Ok(builds)
}
