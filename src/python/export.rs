//! `airlock export --format requirements-txt`: a lock as a pinned requirements file that
//! `pip install --require-hashes --no-index --find-links wheelhouse -r …` accepts.

use super::pylock::PyLock;

/// One `name==version ; marker` line per locked entry with a `--hash` for every locked wheel.
/// Entries without a hashed wheel cannot pass `--require-hashes`, so they are returned as
/// errors instead of being written half-pinned.
pub fn to_requirements_txt(lock: &PyLock, source: &str) -> Result<String, Vec<String>> {
    let mut out = format!(
        "# Exported by airlock from {source}; every wheel and built sdist hash of the lock is listed.\n"
    );
    let mut missing = Vec::new();
    let built = lock.built_sdists();
    for package in &lock.packages {
        // pip builds the sdist where no wheel fits; its hash must be listed for that.
        let sdist = package
            .sdist
            .as_ref()
            .filter(|sdist| built.contains(sdist.name.as_str()));
        if package.wheels.is_empty() && sdist.is_none() {
            missing.push(format!("{}=={}", package.name, package.version));
            continue;
        }
        out.push_str(&format!("{}=={}", package.name, package.version));
        if let Some(marker) = &package.marker {
            out.push_str(&format!(" ; {marker}"));
        }
        for file in package.wheels.iter().chain(sdist) {
            out.push_str(&format!(" \\\n    --hash=sha256:{}", file.hashes.sha256));
        }
        out.push('\n');
    }
    if missing.is_empty() {
        Ok(out)
    } else {
        Err(missing)
    }
}

/// An exported PEP 751 lock's own record: which lock it was made from (and that lock's
/// sha256, so verify can tell it is current) and for which targets.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ExportRecord {
    pub source: String,
    pub source_sha256: String,
    pub targets: Vec<String>,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ExportedFile {
    pub name: String,
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    pub hashes: super::pylock::Hashes,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ExportedPackage {
    pub name: String,
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub marker: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requires_python: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub wheels: Vec<ExportedFile>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sdist: Option<ExportedFile>,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ExportTool {
    pub airlock: ExportRecord,
}

/// A PEP 751 lock whose files are `path`s into the wheelhouse.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ExportedLock {
    pub lock_version: String,
    #[serde(default)]
    pub environments: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requires_python: Option<String>,
    pub created_by: String,
    #[serde(default)]
    pub packages: Vec<ExportedPackage>,
    pub tool: ExportTool,
}

/// `lock` for `targets` (indexes into its recorded targets), its files named by `prefix` +
/// file name (the wheelhouse as seen from where the export is written). Only the files the
/// targets install are listed: the wheel each target's installer picks, or the sdist it
/// builds. Build requirements stay in the wheelhouse for `--find-links` (PEP 751 has no place
/// for them that installers would not install).
pub fn to_wheelhouse_pylock(
    lock: &PyLock,
    record: ExportRecord,
    targets: &[usize],
    prefix: &str,
) -> Result<String, String> {
    use std::collections::{BTreeMap, BTreeSet};
    let tool = lock
        .tool
        .as_ref()
        .ok_or("the lock has no [tool.airlock] record of its targets; resolve it again")?;
    // (name, version) -> the files the chosen targets use.
    let mut chosen: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    let mut environments = Vec::new();
    for &index in targets {
        let target = tool
            .airlock
            .targets
            .get(index)
            .ok_or_else(|| format!("the lock has no target number {index}"))?;
        environments.push(target.marker.clone());
        for pin in &target.pins {
            let file = if pin.wheel.is_empty() {
                pin.sdist.clone().unwrap_or_default()
            } else {
                pin.wheel.clone()
            };
            chosen
                .entry((pin.name.to_ascii_lowercase(), pin.version.clone()))
                .or_default()
                .insert(file);
        }
    }
    let reference = |file: &super::pylock::LockedFile| ExportedFile {
        name: file.name.to_string(),
        path: format!("{prefix}{}", file.name),
        size: file.size,
        hashes: file.hashes.clone(),
    };
    let mut packages = Vec::new();
    for package in &lock.packages {
        let Some(files) = chosen.get(&(package.name.to_ascii_lowercase(), package.version.clone()))
        else {
            continue;
        };
        let wheels: Vec<ExportedFile> = package
            .wheels
            .iter()
            .filter(|w| files.contains(w.name.as_str()))
            .map(reference)
            .collect();
        let sdist = package
            .sdist
            .as_ref()
            .filter(|s| files.contains(s.name.as_str()))
            .map(reference);
        if wheels.is_empty() && sdist.is_none() {
            return Err(format!(
                "{}=={}: the lock lists none of the files its targets pin ({}); resolve it again",
                package.name,
                package.version,
                files.iter().cloned().collect::<Vec<_>>().join(", ")
            ));
        }
        packages.push(ExportedPackage {
            name: package.name.clone(),
            version: package.version.clone(),
            marker: package.marker.clone(),
            requires_python: package.requires_python.clone(),
            wheels,
            sdist,
        });
    }
    let exported = ExportedLock {
        lock_version: "1.0".into(),
        environments,
        requires_python: lock.requires_python.clone(),
        created_by: "airlock".into(),
        packages,
        tool: ExportTool { airlock: record },
    };
    toml::to_string(&exported).map_err(|e| e.to_string())
}

/// `pylock.<name>.toml` -> `<name>`, per PEP 751's file names.
pub fn pylock_name(file_name: &str) -> Option<&str> {
    file_name
        .strip_prefix("pylock.")
        .and_then(|rest| rest.strip_suffix(".toml"))
        .filter(|name| !name.is_empty())
}

/// The file names of the locks exported into `wheelhouse` (`pylock.<name>.toml`), sorted; none
/// when the wheelhouse does not exist.
pub fn exported_pylocks(wheelhouse: &std::path::Path) -> std::io::Result<Vec<String>> {
    let entries = match std::fs::read_dir(wheelhouse) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(error),
    };
    let mut names = Vec::new();
    for entry in entries {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if pylock_name(&name).is_some() {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::python::pylock::{Hashes, LockedFile, LockedPackage};

    fn package(name: &str, marker: Option<&str>, hashes: &[&str]) -> LockedPackage {
        LockedPackage {
            name: name.into(),
            version: "1.0".into(),
            marker: marker.map(str::to_string),
            requires_python: None,
            index: None,
            dependencies: vec![],
            wheels: hashes
                .iter()
                .map(|h| LockedFile {
                    name: format!("{name}-1.0-py3-none-any.whl").parse().unwrap(),
                    url: String::new(),
                    upload_time: None,
                    size: None,
                    hashes: Hashes {
                        sha256: format!("{h:0>64}").parse().unwrap(),
                    },
                })
                .collect(),
            sdist: None,
        }
    }

    fn lock(packages: Vec<LockedPackage>) -> PyLock {
        PyLock {
            lock_version: "1.0".into(),
            environments: vec![],
            requires_python: None,
            extras: vec![],
            dependency_groups: vec![],
            default_groups: vec![],
            created_by: "airlock".into(),
            packages,
            tool: None,
        }
    }

    #[test]
    fn writes_hashes_and_markers() {
        let text = to_requirements_txt(
            &lock(vec![
                package("a", None, &["11", "22"]),
                package("b", Some("python_version == '3.12'"), &["33"]),
            ]),
            "pylock.x.toml",
        )
        .unwrap();
        assert_eq!(
            text,
            format!(
                "# Exported by airlock from pylock.x.toml; every wheel and built sdist hash of the lock is listed.\n\
a==1.0 \\\n    --hash=sha256:{0}11 \\\n    --hash=sha256:{0}22\n\
b==1.0 ; python_version == '3.12' \\\n    --hash=sha256:{0}33\n",
                "0".repeat(62)
            )
        );
    }

    #[test]
    fn refuses_entries_without_wheels() {
        assert_eq!(
            to_requirements_txt(&lock(vec![package("a", None, &[])]), "x").unwrap_err(),
            ["a==1.0"]
        );
    }
}
