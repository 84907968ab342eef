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

/// The purl type `pypi` wants names as PEP 503 normalizes them.
fn pypi_name(name: &str) -> String {
    crate::serve::catalogue::normalize(name)
}

/// The Debian release number of a locked suite: the major part of its Release's `Version`
/// (`12.8` -> 12), else what its `Codename` or the suite name is (`bookworm-updates` -> 12).
fn suite_release(lock: &crate::debian::aptlock::AptLock, uri: &str, suite: &str) -> String {
    let locked = lock
        .sources
        .iter()
        .find(|s| s.suite == suite && s.uri == uri)
        .or_else(|| lock.sources.iter().find(|s| s.suite == suite));
    if let Some(version) = locked.and_then(|s| s.release_version.as_deref())
        && let Some(major) = version
            .split('.')
            .next()
            .filter(|m| m.parse::<u32>().is_ok())
    {
        return major.to_string();
    }
    let by_codename = locked
        .and_then(|s| s.codename.as_deref())
        .map(debian_release)
        .filter(|release| release.parse::<u32>().is_ok());
    by_codename.unwrap_or_else(|| debian_release(suite))
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

pub(crate) fn timestamp(epoch: u64) -> String {
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

/// One package file of the SBOM.
#[derive(Debug, Clone)]
struct Component {
    reference: String,
    name: String,
    version: String,
    purl: String,
    sha256: String,
    /// Where it came from (the lock's URL), for SPDX's downloadLocation.
    url: String,
    /// Build requirements are not installed at run time.
    build: bool,
    /// The targets whose installs use this file.
    targets: Vec<String>,
    /// Debian: (source name, source version, Debian release).
    source: Option<(String, String, String)>,
}

/// What the locks say, before it is written in one format or the other.
struct Model {
    project: String,
    epoch: u64,
    serial: String,
    components: Vec<Component>,
    /// Debian release -> the references of its .debs.
    operating_systems: BTreeMap<String, BTreeSet<String>>,
    /// reference -> references it depends on.
    dependencies: BTreeMap<String, BTreeSet<String>>,
    /// What the project itself depends on: the requirements' roots and the OS.
    roots: BTreeSet<String>,
}

/// A deb822 field, continuation lines joined.
fn control_field(control: &str, field: &str) -> Option<String> {
    let mut value: Option<String> = None;
    for line in control.lines() {
        match &mut value {
            Some(text) if line.starts_with([' ', '\t']) => {
                text.push(' ');
                text.push_str(line.trim());
            }
            Some(_) => break,
            None => {
                if let Some((name, rest)) = line.split_once(':')
                    && name.eq_ignore_ascii_case(field)
                {
                    value = Some(rest.trim().to_string());
                }
            }
        }
    }
    value
}

/// The names a Depends-style field asks for, one list of alternatives per relation.
fn relation_names(field: &str) -> Vec<Vec<String>> {
    field
        .split(',')
        .map(|relation| {
            relation
                .split('|')
                .filter_map(|alternative| {
                    let name = alternative
                        .trim()
                        .split([' ', '(', '[', '<'])
                        .next()
                        .unwrap_or_default();
                    let name = name.split(':').next().unwrap_or_default();
                    (!name.is_empty()).then(|| name.to_string())
                })
                .collect()
        })
        .filter(|alternatives: &Vec<String>| !alternatives.is_empty())
        .collect()
}

fn model(lockfiles: &Path, project: &str, epoch: u64) -> Result<Model, SbomError> {
    use crate::python::pylock::{PyLock, lockfiles_in};
    let mut digest = Sha256::new();
    let mut components: BTreeMap<String, Component> = BTreeMap::new();
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
        let targets = lock.tool.iter().flat_map(|t| &t.airlock.targets);
        // file name -> the targets that install it (or build it, for an sdist).
        let mut used_by: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for target in targets.clone() {
            let label = format!("cp{} {}", target.python_version, target.python_platform);
            for pin in &target.pins {
                for file in std::iter::once(&pin.wheel).chain(&pin.sdist) {
                    if !file.is_empty() {
                        used_by.entry(file.clone()).or_default().push(label.clone());
                    }
                }
            }
            for build in &target.builds {
                for pin in &build.pins {
                    for file in std::iter::once(&pin.wheel).chain(&pin.sdist) {
                        if !file.is_empty() {
                            used_by.entry(file.clone()).or_default().push(label.clone());
                        }
                    }
                }
            }
            for root in &target.roots {
                let name = pypi_name(root);
                if let Some(pin) = target.pins.iter().find(|pin| pypi_name(&pin.name) == name) {
                    roots.insert(format!("pypi:{name}@{}", pin.version));
                }
            }
        }
        let versions: BTreeMap<String, String> = lock
            .packages
            .iter()
            .map(|p| (pypi_name(&p.name), p.version.clone()))
            .collect();
        let runtime = lock.packages.iter().map(|p| (p, false));
        let build = lock
            .tool
            .iter()
            .flat_map(|t| &t.airlock.build_packages)
            .map(|p| (p, true));
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
                let mut targets = used_by.get(file.name.as_str()).cloned().unwrap_or_default();
                targets.sort();
                targets.dedup();
                // A file both a runtime and a build requirement stays a runtime one.
                components.entry(purl.clone()).or_insert(Component {
                    reference: purl.clone(),
                    name: name.clone(),
                    version: package.version.clone(),
                    purl: purl.clone(),
                    sha256: file.hashes.sha256.to_string(),
                    url: file.url.clone(),
                    build: is_build,
                    targets,
                    source: None,
                });
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
    }
    let mut dependencies: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (key, refs) in &refs_of {
        let targets: BTreeSet<String> = edges
            .get(key)
            .into_iter()
            .flatten()
            .flat_map(|dep| refs_of.get(dep).into_iter().flatten().cloned())
            .collect();
        for reference in refs {
            dependencies.insert(reference.clone(), targets.clone());
        }
    }
    let mut root_refs: BTreeSet<String> = roots
        .iter()
        .flat_map(|key| refs_of.get(key).into_iter().flatten().cloned())
        .collect();
    let apt_path = lockfiles.join(crate::debian::aptlock::APT_LOCK_FILE);
    let mut operating_systems: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    if apt_path.is_file() {
        let text = read(&apt_path)?;
        digest.update(text.as_bytes());
        let lock = crate::debian::aptlock::AptLock::parse(&text).map_err(|e| SbomError::Read {
            path: apt_path.display().to_string(),
            message: e.to_string(),
        })?;
        // name -> references, and what each provides, to follow Depends inside the lock.
        let mut by_name: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut debs = Vec::new();
        for deb in &lock.packages {
            let release = suite_release(&lock, &deb.uri, &deb.suite);
            let purl = format!(
                "pkg:deb/debian/{}@{}?arch={}&distro=debian-{}",
                purl_encode(&deb.name),
                purl_encode(&deb.version),
                purl_encode(&deb.architecture),
                purl_encode(&release)
            );
            let (source, source_version) = source_of(&deb.control, &deb.name, &deb.version);
            by_name
                .entry(deb.name.clone())
                .or_default()
                .push(purl.clone());
            if let Some(provides) = control_field(&deb.control, "Provides") {
                for names in relation_names(&provides) {
                    for name in names {
                        by_name.entry(name).or_default().push(purl.clone());
                    }
                }
            }
            components.insert(
                purl.clone(),
                Component {
                    reference: purl.clone(),
                    name: deb.name.clone(),
                    version: deb.version.clone(),
                    purl: purl.clone(),
                    sha256: deb.sha256.to_string(),
                    url: format!("{}/{}", deb.uri.trim_end_matches('/'), deb.filename),
                    build: false,
                    targets: Vec::new(),
                    source: Some((source, source_version, release.clone())),
                },
            );
            operating_systems
                .entry(release)
                .or_default()
                .insert(purl.clone());
            debs.push((purl, deb));
        }
        for (purl, deb) in &debs {
            let mut needs = BTreeSet::new();
            for field in ["Pre-Depends", "Depends"] {
                let Some(value) = control_field(&deb.control, field) else {
                    continue;
                };
                for alternatives in relation_names(&value) {
                    // The first alternative the lock holds is the one installed.
                    if let Some(found) = alternatives
                        .iter()
                        .find_map(|name| by_name.get(name).filter(|refs| !refs.is_empty()))
                    {
                        needs.extend(found.iter().filter(|r| *r != purl).cloned());
                    }
                }
            }
            dependencies.insert(purl.clone(), needs);
        }
    }
    for (release, debs) in &operating_systems {
        let reference = format!("os:debian-{release}");
        dependencies.insert(reference.clone(), debs.clone());
        root_refs.insert(reference);
    }
    Ok(Model {
        project: project.to_string(),
        epoch,
        serial: uuid_from(&digest.finalize()),
        components: components.into_values().collect(),
        operating_systems,
        dependencies,
        roots: root_refs,
    })
}

/// The CycloneDX 1.6 SBOM of the locks in `lockfiles`, as pretty JSON bytes.
pub fn cyclonedx(lockfiles: &Path, project: &str, epoch: u64) -> Result<Vec<u8>, SbomError> {
    let model = model(lockfiles, project, epoch)?;
    let mut listed: Vec<Value> = Vec::new();
    for component in &model.components {
        let mut value = json!({
            "type": "library",
            "bom-ref": component.reference,
            "name": component.name,
            "version": component.version,
            "purl": component.purl,
            "hashes": [{"alg": "SHA-256", "content": component.sha256}],
        });
        let mut properties: Vec<Value> = Vec::new();
        if component.build {
            value["scope"] = json!("excluded");
            properties.push(json!({"name": "airlock:build-requirement", "value": "true"}));
        }
        for target in &component.targets {
            properties.push(json!({"name": "airlock:target", "value": target}));
        }
        if let Some((source, source_version, release)) = &component.source {
            let (epoch_part, upstream, revision) = split_debian_version(source_version);
            properties.push(json!({"name": "aquasecurity:trivy:SrcName", "value": source}));
            properties.push(json!({"name": "aquasecurity:trivy:SrcVersion", "value": upstream}));
            if let Some(revision) = revision {
                properties
                    .push(json!({"name": "aquasecurity:trivy:SrcRelease", "value": revision}));
            }
            if let Some(epoch_part) = epoch_part {
                properties
                    .push(json!({"name": "aquasecurity:trivy:SrcEpoch", "value": epoch_part}));
            }
            value["pedigree"] = json!({"ancestors": [{
                "type": "library",
                "name": source,
                "version": source_version,
                "purl": format!(
                    "pkg:deb/debian/{}@{}?arch=source&distro=debian-{}",
                    purl_encode(source),
                    purl_encode(source_version),
                    purl_encode(release)
                ),
            }]});
        }
        if !properties.is_empty() {
            value["properties"] = json!(properties);
        }
        listed.push(value);
    }
    for release in model.operating_systems.keys() {
        listed.push(json!({
            "type": "operating-system",
            "bom-ref": format!("os:debian-{release}"),
            "name": "debian",
            "version": release,
        }));
    }
    let mut dependencies = vec![json!({"ref": "project", "dependsOn": model.roots})];
    for (reference, needs) in &model.dependencies {
        dependencies.push(json!({"ref": reference, "dependsOn": needs}));
    }
    let document = json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "serialNumber": model.serial,
        "version": 1,
        "metadata": {
            "timestamp": timestamp(model.epoch),
            "tools": {"components": [{
                "type": "application",
                "name": "airlock",
                "version": env!("CARGO_PKG_VERSION"),
            }]},
            "component": {"type": "application", "bom-ref": "project", "name": model.project},
        },
        "components": listed,
        "dependencies": dependencies,
    });
    let mut bytes = serde_json::to_vec_pretty(&document).expect("the SBOM serialises");
    bytes.push(b'\n');
    Ok(bytes)
}

/// An SPDX identifier for a reference: letters, digits, `.` and `-` only.
fn spdx_id(reference: &str) -> String {
    let mut id = String::from("SPDXRef-");
    for c in reference.chars() {
        id.push(if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
            c
        } else {
            '-'
        });
    }
    // Two references that differ only in replaced characters must not collide.
    let digest = hex::encode(&Sha256::digest(reference.as_bytes())[..4]);
    format!("{id}-{digest}")
}

/// The SPDX 2.3 JSON document of the same content.
pub fn spdx(lockfiles: &Path, project: &str, epoch: u64) -> Result<Vec<u8>, SbomError> {
    let model = model(lockfiles, project, epoch)?;
    let project_id = "SPDXRef-project".to_string();
    let mut packages = vec![json!({
        "SPDXID": project_id,
        "name": model.project,
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": false,
        "primaryPackagePurpose": "APPLICATION",
    })];
    let id_of = |reference: &str| {
        if reference == "project" {
            project_id.clone()
        } else {
            spdx_id(reference)
        }
    };
    for component in &model.components {
        let mut package = json!({
            "SPDXID": id_of(&component.reference),
            "name": component.name,
            "versionInfo": component.version,
            "downloadLocation": if component.url.is_empty() { "NOASSERTION".to_string() } else { component.url.clone() },
            "filesAnalyzed": false,
            "checksums": [{"algorithm": "SHA256", "checksumValue": component.sha256}],
            "externalRefs": [{
                "referenceCategory": "PACKAGE-MANAGER",
                "referenceType": "purl",
                "referenceLocator": component.purl,
            }],
            "primaryPackagePurpose": "LIBRARY",
        });
        let mut notes = Vec::new();
        if component.build {
            notes.push("build requirement (not installed at run time)".to_string());
        }
        if !component.targets.is_empty() {
            notes.push(format!("targets: {}", component.targets.join(", ")));
        }
        if let Some((source, source_version, _)) = &component.source {
            package["sourceInfo"] = json!(format!(
                "built from the Debian source package {source} {source_version}"
            ));
        }
        if !notes.is_empty() {
            package["comment"] = json!(notes.join("; "));
        }
        packages.push(package);
    }
    for release in model.operating_systems.keys() {
        packages.push(json!({
            "SPDXID": id_of(&format!("os:debian-{release}")),
            "name": "debian",
            "versionInfo": release,
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": false,
            "primaryPackagePurpose": "OPERATING_SYSTEM",
        }));
    }
    let mut relationships = vec![json!({
        "spdxElementId": "SPDXRef-DOCUMENT",
        "relationshipType": "DESCRIBES",
        "relatedSpdxElement": project_id,
    })];
    for root in &model.roots {
        relationships.push(json!({
            "spdxElementId": project_id,
            "relationshipType": "DEPENDS_ON",
            "relatedSpdxElement": id_of(root),
        }));
    }
    for (reference, needs) in &model.dependencies {
        for need in needs {
            relationships.push(json!({
                "spdxElementId": id_of(reference),
                "relationshipType": "DEPENDS_ON",
                "relatedSpdxElement": id_of(need),
            }));
        }
    }
    let document = json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": model.project,
        "documentNamespace": model.serial,
        "creationInfo": {
            "created": timestamp(model.epoch),
            "creators": [format!("Tool: airlock-{}", env!("CARGO_PKG_VERSION"))],
        },
        "packages": packages,
        "relationships": relationships,
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
