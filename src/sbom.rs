//! A CycloneDX 1.6 JSON SBOM built from the locks alone, offline and deterministically (its
//! serial number and timestamp come from the locks, not the clock): one component per locked
//! wheel and sdist (`pkg:pypi/<name>@<version>?file_name=<file>`) and per .deb
//! (`pkg:deb/debian/<name>@<version>?arch=<arch>&distro=debian-<N>`), each with its SHA-256;
//! one `operating-system` component for the Debian release; the dependency graph of the locks.
//!
//! Debian components carry their source package in the properties Trivy reads
//! (`aquasecurity:trivy:SrcName`/`SrcVersion`/`SrcRelease`/`SrcEpoch`): Debian's advisories
//! name source packages. Build requirements of sdists have scope `excluded` (they are not
//! installed at run time) and the property `airlock:build-requirement`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

#[derive(Debug, thiserror::Error)]
pub enum SbomError {
    #[error("cannot read {path}: {message}")]
    Read { path: String, message: String },
}

/// Percent-encodes a purl component: everything but ASCII letters, digits and `.-_~`.
fn purl_encode(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'-' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The purl type `pypi` wants names lower-case with `-` for runs of `-_.`.
fn pypi_name(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !out.ends_with('-') {
                out.push('-');
            }
        } else {
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

/// `bookworm-updates` -> 12.
fn debian_release(suite: &str) -> String {
    let codename = suite.split(['-', '/']).next().unwrap_or(suite);
    match codename {
        "buster" => "10",
        "bullseye" => "11",
        "bookworm" => "12",
        "trixie" => "13",
        "forky" => "14",
        "duke" => "15",
        other => other,
    }
    .to_string()
}

/// A Debian version split as Trivy splits it: (epoch, upstream, revision).
fn split_debian_version(version: &str) -> (Option<&str>, &str, Option<&str>) {
    let (epoch, rest) = match version.split_once(':') {
        Some((epoch, rest)) => (Some(epoch), rest),
        None => (None, version),
    };
    match rest.rsplit_once('-') {
        Some((upstream, revision)) => (epoch, upstream, Some(revision)),
        None => (epoch, rest, None),
    }
}

/// The source package of a control stanza: `Source: name (version)`, `Source: name`, or the
/// package itself.
fn source_of(control: &str, name: &str, version: &str) -> (String, String) {
    for line in control.lines() {
        if let Some(value) = line.strip_prefix("Source:") {
            let value = value.trim();
            return match value.split_once(' ') {
                Some((source, rest)) => (
                    source.to_string(),
                    rest.trim()
                        .trim_start_matches('(')
                        .trim_end_matches(')')
                        .to_string(),
                ),
                None => (value.to_string(), version.to_string()),
            };
        }
    }
    (name.to_string(), version.to_string())
}

fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn timestamp(epoch: u64) -> String {
    let days = (epoch / 86_400) as i64;
    let seconds = epoch % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        seconds / 3_600,
        seconds / 60 % 60,
        seconds % 60
    )
}

/// A name-based UUID (version 5 layout) from a digest, for `serialNumber`.
fn uuid_from(digest: &[u8]) -> String {
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    bytes[6] = (bytes[6] & 0x0f) | 0x50;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex = hex::encode(bytes);
    format!(
        "urn:uuid:{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

fn read(path: &Path) -> Result<String, SbomError> {
    std::fs::read_to_string(path).map_err(|e| SbomError::Read {
        path: path.display().to_string(),
        message: e.to_string(),
    })
}

/// The SBOM of the locks in `lockfiles`, as pretty JSON bytes.
pub fn cyclonedx(lockfiles: &Path, project: &str, epoch: u64) -> Result<Vec<u8>, SbomError> {
    use crate::python::pylock::{PyLock, lockfiles_in};
    let mut digest = Sha256::new();
    // bom-ref -> component; package key (name@version) -> its bom-refs; edges by package key.
    let mut components: BTreeMap<String, Value> = BTreeMap::new();
    let mut refs_of: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut roots: BTreeSet<String> = BTreeSet::new();
    let locks = match lockfiles_in(lockfiles) {
        Ok(locks) => locks,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(error) => {
            return Err(SbomError::Read {
                path: lockfiles.display().to_string(),
                message: error.to_string(),
            });
        }
    };
    for path in &locks {
        let text = read(path)?;
        digest.update(text.as_bytes());
        let lock =
            PyLock::parse(&text, &path.display().to_string()).map_err(|e| SbomError::Read {
                path: path.display().to_string(),
                message: e.to_string(),
            })?;
        let built = lock.built_sdists();
        let runtime = lock.packages.iter().map(|p| (p, false));
        let build = lock
            .tool
            .iter()
            .flat_map(|t| &t.airlock.build_packages)
            .map(|p| (p, true));
        let versions: BTreeMap<String, String> = lock
            .packages
            .iter()
            .map(|p| (pypi_name(&p.name), p.version.clone()))
            .collect();
        for (package, is_build) in runtime.chain(build) {
            let name = pypi_name(&package.name);
            let key = format!("pypi:{name}@{}", package.version);
            let sdist = package
                .sdist
                .as_ref()
                .filter(|s| built.contains(s.name.as_str()));
            for file in package.wheels.iter().chain(sdist) {
                let purl = format!(
                    "pkg:pypi/{name}@{}?file_name={}",
                    purl_encode(&package.version),
                    purl_encode(file.name.as_str())
                );
                let mut component = json!({
                    "type": "library",
                    "bom-ref": purl,
                    "name": name,
                    "version": package.version,
                    "purl": purl,
                    "hashes": [{"alg": "SHA-256", "content": file.hashes.sha256.as_str()}],
                });
                if is_build {
                    component["scope"] = json!("excluded");
                    component["properties"] =
                        json!([{"name": "airlock:build-requirement", "value": "true"}]);
                }
                // A file both a runtime and a build requirement stays a runtime one.
                components.entry(purl.clone()).or_insert(component);
                refs_of.entry(key.clone()).or_default().insert(purl);
            }
            for dependency in &package.dependencies {
                let dep_name = pypi_name(&dependency.name);
                let version = dependency
                    .version
                    .clone()
                    .or_else(|| versions.get(&dep_name).cloned());
                if let Some(version) = version {
                    edges
                        .entry(key.clone())
                        .or_default()
                        .insert(format!("pypi:{dep_name}@{version}"));
                }
            }
        }
        if let Some(tool) = &lock.tool {
            for target in &tool.airlock.targets {
                for root in &target.roots {
                    let name = pypi_name(root);
                    if let Some(version) = target
                        .pins
                        .iter()
                        .find(|pin| pypi_name(&pin.name) == name)
                        .map(|pin| pin.version.clone())
                    {
                        roots.insert(format!("pypi:{name}@{version}"));
                    }
                }
            }
        }
    }
    let apt_path = lockfiles.join(crate::debian::aptlock::APT_LOCK_FILE);
    let mut operating_systems: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    if apt_path.is_file() {
        let text = read(&apt_path)?;
        digest.update(text.as_bytes());
        let lock = crate::debian::aptlock::AptLock::parse(&text).map_err(|e| SbomError::Read {
            path: apt_path.display().to_string(),
            message: e.to_string(),
        })?;
        for deb in &lock.packages {
            let release = debian_release(&deb.suite);
            let purl = format!(
                "pkg:deb/debian/{}@{}?arch={}&distro=debian-{}",
                purl_encode(&deb.name),
                purl_encode(&deb.version),
                purl_encode(&deb.architecture),
                purl_encode(&release)
            );
            let (source, source_version) = source_of(&deb.control, &deb.name, &deb.version);
            let (epoch_part, upstream, revision) = split_debian_version(&source_version);
            let mut properties = vec![
                json!({"name": "aquasecurity:trivy:SrcName", "value": source}),
                json!({"name": "aquasecurity:trivy:SrcVersion", "value": upstream}),
            ];
            if let Some(revision) = revision {
                properties
                    .push(json!({"name": "aquasecurity:trivy:SrcRelease", "value": revision}));
            }
            if let Some(epoch_part) = epoch_part {
                properties
                    .push(json!({"name": "aquasecurity:trivy:SrcEpoch", "value": epoch_part}));
            }
            components.insert(
                purl.clone(),
                json!({
                    "type": "library",
                    "bom-ref": purl,
                    "name": deb.name,
                    "version": deb.version,
                    "purl": purl,
                    "hashes": [{"alg": "SHA-256", "content": deb.sha256.as_str()}],
                    "pedigree": {"ancestors": [{
                        "type": "library",
                        "name": source,
                        "version": source_version,
                        "purl": format!(
                            "pkg:deb/debian/{}@{}?arch=source&distro=debian-{}",
                            purl_encode(&source),
                            purl_encode(&source_version),
                            purl_encode(&release)
                        ),
                    }]},
                    "properties": properties,
                }),
            );
            operating_systems.entry(release).or_default().insert(purl);
        }
    }
    let mut listed: Vec<Value> = components.into_values().collect();
    let mut dependencies: Vec<Value> = Vec::new();
    let root_refs: BTreeSet<String> = roots
        .iter()
        .flat_map(|key| refs_of.get(key).into_iter().flatten().cloned())
        .collect();
    let mut project_depends: Vec<String> = root_refs.into_iter().collect();
    for (release, debs) in &operating_systems {
        let reference = format!("os:debian-{release}");
        listed.push(json!({
            "type": "operating-system",
            "bom-ref": reference,
            "name": "debian",
            "version": release,
        }));
        dependencies.push(json!({"ref": reference, "dependsOn": debs}));
        project_depends.push(reference);
    }
    for (key, refs) in &refs_of {
        let targets: BTreeSet<String> = edges
            .get(key)
            .into_iter()
            .flatten()
            .flat_map(|dep| refs_of.get(dep).into_iter().flatten().cloned())
            .collect();
        for reference in refs {
            dependencies.push(json!({"ref": reference, "dependsOn": targets}));
        }
    }
    project_depends.sort();
    dependencies.insert(0, json!({"ref": "project", "dependsOn": project_depends}));
    let document = json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "serialNumber": uuid_from(&digest.finalize()),
        "version": 1,
        "metadata": {
            "timestamp": timestamp(epoch),
            "tools": {"components": [{
                "type": "application",
                "name": "airlock",
                "version": env!("CARGO_PKG_VERSION"),
            }]},
            "component": {"type": "application", "bom-ref": "project", "name": project},
        },
        "components": listed,
        "dependencies": dependencies,
    });
    let mut bytes = serde_json::to_vec_pretty(&document).expect("the SBOM serialises");
    bytes.push(b'\n');
    Ok(bytes)
}

/// Problems between an SBOM and the bundle manifest's files: every wheel, sdist and .deb of
/// the manifest must be a component with its SHA-256, and every component's hash a file.
pub fn check_against(sbom: &[u8], files: &[crate::bundle::manifest::ManifestFile]) -> Vec<String> {
    use crate::bundle::manifest::{FileKind, SBOM_PATH};
    let document: Value = match serde_json::from_slice(sbom) {
        Ok(document) => document,
        Err(error) => return vec![format!("{SBOM_PATH}: not JSON ({error})")],
    };
    let mut in_sbom: BTreeMap<String, String> = BTreeMap::new();
    for component in document["components"].as_array().into_iter().flatten() {
        for hash in component["hashes"].as_array().into_iter().flatten() {
            if hash["alg"] == "SHA-256"
                && let Some(content) = hash["content"].as_str()
            {
                in_sbom.insert(
                    content.to_string(),
                    component["purl"].as_str().unwrap_or_default().to_string(),
                );
            }
        }
    }
    let packaged: Vec<&crate::bundle::manifest::ManifestFile> = files
        .iter()
        .filter(|f| matches!(f.kind, FileKind::Wheel | FileKind::Sdist | FileKind::Deb))
        .collect();
    let in_manifest: BTreeSet<&str> = packaged.iter().map(|f| f.sha256.as_str()).collect();
    let mut problems = Vec::new();
    for file in &packaged {
        if !in_sbom.contains_key(file.sha256.as_str()) {
            problems.push(format!(
                "{}: in the manifest but not in {SBOM_PATH} (no component has its sha256)",
                file.path
            ));
        }
    }
    for (digest, purl) in &in_sbom {
        if !in_manifest.contains(digest.as_str()) {
            problems.push(format!(
                "{SBOM_PATH}: {purl} has sha256 {digest}, which no file of the manifest has"
            ));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purls_and_versions_are_written_as_scanners_read_them() {
        assert_eq!(purl_encode("2.36-9+deb12u4"), "2.36-9%2Bdeb12u4");
        assert_eq!(purl_encode("1:2.3~rc1"), "1%3A2.3~rc1");
        assert_eq!(pypi_name("Zope.Interface__x"), "zope-interface-x");
        assert_eq!(debian_release("bookworm-updates"), "12");
        assert_eq!(
            split_debian_version("1:3.0.11-1~deb12u2"),
            (Some("1"), "3.0.11", Some("1~deb12u2"))
        );
        assert_eq!(split_debian_version("2.0"), (None, "2.0", None));
        assert_eq!(
            source_of(
                "Package: libssl3\nSource: openssl (3.0.11-1)\n",
                "libssl3",
                "3.0.11-1+b1"
            ),
            ("openssl".to_string(), "3.0.11-1".to_string())
        );
        assert_eq!(
            source_of("Package: curl\n", "curl", "7.88.1-10"),
            ("curl".to_string(), "7.88.1-10".to_string())
        );
    }

    #[test]
    fn timestamps_and_serials_are_well_formed() {
        assert_eq!(timestamp(0), "1970-01-01T00:00:00Z");
        assert_eq!(timestamp(1_709_208_000), "2024-02-29T12:00:00Z");
        let serial = uuid_from(&[0xab; 32]);
        assert_eq!(serial, "urn:uuid:abababab-abab-5bab-abab-abababababab");
    }
}
