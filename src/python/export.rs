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
