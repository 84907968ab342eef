//! `airlock verify`: prove, with no network, that the strict wheelhouse builds will work.
//!
//! Every check reports [`Finding`]s with a stable rule ID, a severity, a message that says what
//! to do, and a location; [`render`] prints them as text, JSON or SARIF 2.1.0 (the format code
//! scanning uploads take). Nothing here opens a socket: verify builds no HTTP client at all.

pub mod apt;
pub mod build;
pub mod closure;
pub mod dockerfile;
pub mod integrity;
pub mod rehearse;

use std::fmt;

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
    Note,
}

impl Severity {
    fn sarif_level(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "note",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.sarif_level())
    }
}

/// Where a finding points: a file, and a line when there is one.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct FindingLocation {
    /// Relative to the project root, with `/` separators.
    pub uri: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
}

impl fmt::Display for FindingLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}", self.uri),
            None => write!(f, "{}", self.uri),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Finding {
    pub location: FindingLocation,
    pub rule: &'static str,
    pub severity: Severity,
    pub message: String,
}

impl Finding {
    pub fn new(
        rule: &'static str,
        severity: Severity,
        uri: impl Into<String>,
        line: Option<usize>,
        message: impl Into<String>,
    ) -> Self {
        Finding {
            rule,
            severity,
            location: FindingLocation {
                uri: uri.into(),
                line,
            },
            message: message.into(),
        }
    }
}

/// Every rule airlock can report, with a one-line description (SARIF's rule metadata).
pub const RULES: &[(&str, &str)] = &[
    (
        "AL101",
        "A wheel the locks need is missing from the wheelhouse",
    ),
    ("AL102", "A wheel's size or sha256 differs from the lock"),
    ("AL103", "A file in the wheelhouse is in no lock"),
    ("AL104", "A symlink or non-regular file in the wheelhouse"),
    (
        "AL105",
        "A wheel is not a sound zip (traversal, duplicates, bomb, unreadable)",
    ),
    (
        "AL106",
        "A wheel's .dist-info does not match its filename or the lock",
    ),
    (
        "AL107",
        "A wheel's RECORD does not match its files (altered after it was built)",
    ),
    (
        "AL201",
        "The wheelhouse alone cannot resolve a requirements file for a target",
    ),
    (
        "AL202",
        "Resolving from the wheelhouse gives different pins than the lock",
    ),
    (
        "AL203",
        "A lockfile is missing or out of date with its inputs",
    ),
    ("AL204", "A lock cannot be read"),
    (
        "AL108",
        "An exported pylock in the wheelhouse is out of date with its lock or names files the wheelhouse lacks",
    ),
    (
        "AL205",
        "A source build lacks its build requirements in the wheelhouse",
    ),
    (
        "RH001",
        "pip cannot install the lock's requirements from the wheelhouse alone, offline",
    ),
    (
        "RH004",
        "pip cannot build a locked sdist from the wheelhouse alone, offline",
    ),
    (
        "RH002",
        "pip's own resolution from the wheelhouse differs from the lock",
    ),
    (
        "RH003",
        "The rehearsal could not use the target's own Python",
    ),
    ("AP101", "A .deb the apt lock needs is missing"),
    ("AP102", "A .deb's size or sha256 differs from the apt lock"),
    ("AP103", "A file in wheelhouse/apt is in no lock"),
    (
        "AP104",
        "The local apt repository's indexes differ from what the lock publishes",
    ),
    (
        "AP105",
        "The local apt repository alone gives another closure than the lock",
    ),
    ("AP106", "The apt closure re-check was skipped"),
    (
        "AP107",
        "The local apt repository's signature files are missing, wrong or stale",
    ),
    (
        "AP108",
        "The apt lock cannot be read or holds unsafe entries",
    ),
    (
        "AP109",
        "The apt lock is missing or out of date with [apt] and the apt sources",
    ),
    (
        "RH101",
        "apt-get cannot install the requested packages from the local repository, offline",
    ),
    ("RH102", "apt's offline plan differs from the apt lock"),
    (
        "BD101",
        "A base image's Python or platform is none of the lock's targets",
    ),
    (
        "BD102",
        "A base image's glibc is older than the lock target's manylinux allows",
    ),
    ("BD103", "A base image's Python could not be read"),
    ("BD201", "The offline build failed at a step"),
    (
        "BD202",
        "pip could not install a locked package in the offline build",
    ),
    ("BD203", "A build step tried to reach the network"),
    ("BD204", "An sdist did not build in the offline build"),
    ("BD205", "The Dockerfile built with no network"),
    ("BD206", "A built image could not be removed"),
];

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    Text,
    Json,
    Sarif,
}

/// Renders findings, sorted (deterministic output) and without exact repeats (two commands on
/// one line with the same defect are one finding to fix).
pub fn render(findings: &[Finding], format: OutputFormat) -> String {
    let mut sorted = findings.to_vec();
    sorted.sort();
    sorted.dedup();
    match format {
        OutputFormat::Text => {
            let mut out = String::new();
            for finding in &sorted {
                out.push_str(&format!(
                    "{}: {} {}: {}\n",
                    finding.location, finding.severity, finding.rule, finding.message
                ));
            }
            let errors = sorted
                .iter()
                .filter(|f| f.severity == Severity::Error)
                .count();
            let warnings = sorted
                .iter()
                .filter(|f| f.severity == Severity::Warning)
                .count();
            out.push_str(&format!(
                "{} finding(s): {errors} error(s), {warnings} warning(s), {} note(s)\n",
                sorted.len(),
                sorted.len() - errors - warnings
            ));
            out
        }
        OutputFormat::Json => serde_json::to_string_pretty(&serde_json::json!({
            "findings": sorted,
            "ok": !has_problems(&sorted),
        }))
        .expect("findings serialise"),
        OutputFormat::Sarif => {
            let used: std::collections::BTreeSet<&str> = sorted.iter().map(|f| f.rule).collect();
            let rules: Vec<serde_json::Value> = RULES
                .iter()
                .chain(crate::verify::dockerfile_rules())
                .filter(|(id, _)| used.contains(id))
                .map(|(id, text)| serde_json::json!({"id": id, "shortDescription": {"text": text}}))
                .collect();
            let results: Vec<serde_json::Value> = sorted
                .iter()
                .map(|finding| {
                    let mut physical =
                        serde_json::json!({"artifactLocation": {"uri": finding.location.uri}});
                    if let Some(line) = finding.location.line {
                        physical["region"] = serde_json::json!({"startLine": line});
                    }
                    serde_json::json!({
                        "ruleId": finding.rule,
                        "level": finding.severity.sarif_level(),
                        "message": {"text": finding.message},
                        "locations": [{"physicalLocation": physical}],
                    })
                })
                .collect();
            serde_json::to_string_pretty(&serde_json::json!({
                "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
                "version": "2.1.0",
                "runs": [{
                    "tool": {"driver": {
                        "name": "airlock",
                        "version": env!("CARGO_PKG_VERSION"),
                        "rules": rules,
                    }},
                    "results": results,
                }],
            }))
            .expect("SARIF serialises")
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(transparent)]
    Locks(#[from] crate::fetch::FetchError),
    #[error(transparent)]
    Rehearse(#[from] rehearse::RehearseError),
}

/// What the Python checks look at.
#[derive(Debug, Clone)]
pub struct PythonVerify {
    pub root: std::path::PathBuf,
    pub lockfiles: std::path::PathBuf,
    pub wheelhouse: std::path::PathBuf,
    pub prerelease: crate::python::resolver::PrereleaseMode,
    /// `[python]` wheel/sdist switches (a requirements file's own apply after them).
    pub binary: Vec<crate::python::resolver::BinaryArg>,
    /// Run pip offline for every target (`--rehearse`), with this Python.
    pub rehearse_with: Option<String>,
}

/// The directory a lock's recorded requirements path is relative to: the project root, or,
/// when the file is not there, the directory that holds the lockfiles directory. A project
/// with no airlock.toml has its root where `resolve` ran; verified from elsewhere with
/// `--lockfiles project/lockfiles`, the lock still finds `project/requirements.in`.
fn requirements_root(
    lock: &crate::python::pylock::PyLock,
    request: &PythonVerify,
) -> std::path::PathBuf {
    let Some(tool) = &lock.tool else {
        return request.root.clone();
    };
    let found_under = |root: &std::path::Path| {
        tool.airlock
            .requirements_path(root)
            .is_ok_and(|path| path.is_file())
    };
    if found_under(&request.root) {
        return request.root.clone();
    }
    match request.lockfiles.parent() {
        Some(beside) if found_under(beside) => beside.to_path_buf(),
        _ => request.root.clone(),
    }
}

/// Integrity and closure findings for every lock. Reads only the disk.
pub fn verify_python(request: &PythonVerify) -> Result<Vec<Finding>, VerifyError> {
    use crate::lock::display_path;
    let (_, wheels) = crate::fetch::locked_wheels(&request.lockfiles)?;
    let wheelhouse_uri = display_path(&request.wheelhouse, &request.root);
    let mut findings = integrity::check(&wheels, &request.wheelhouse, &wheelhouse_uri);
    findings.extend(check_exports(
        &request.wheelhouse,
        &wheelhouse_uri,
        &request.root,
    ));
    let source = match closure::WheelhouseSource::scan(&request.wheelhouse) {
        Ok(source) => source,
        Err(error) => {
            // Integrity has reported each locked file; the closure cannot be checked at all.
            findings.push(Finding::new(
                "AL201",
                Severity::Error,
                wheelhouse_uri.clone(),
                None,
                format!(
                    "cannot list the wheelhouse ({error}), so no lock's closure can be checked"
                ),
            ));
            return Ok(findings);
        }
    };
    let locks = crate::python::pylock::lockfiles_in(&request.lockfiles).map_err(|source| {
        crate::fetch::FetchError::Read {
            path: request.lockfiles.clone(),
            source,
        }
    })?;
    for path in locks {
        let uri = display_path(&path, &request.root);
        let lock = std::fs::read_to_string(&path)
            .map_err(|e| e.to_string())
            .and_then(|text| {
                crate::python::pylock::PyLock::parse(&text, &uri).map_err(|e| e.to_string())
            });
        let lock = match lock {
            Ok(lock) => lock,
            Err(error) => {
                findings.push(Finding::new("AL204", Severity::Error, uri, None, error));
                continue;
            }
        };
        let root = requirements_root(&lock, request);
        findings.extend(closure::check_lock(
            &lock,
            &uri,
            &root,
            &source,
            request.prerelease,
            &request.binary,
        ));
        if let (Some(python), Some(tool)) = (&request.rehearse_with, &lock.tool) {
            // An unsafe path was reported by check_lock (AL204); nothing is rehearsed for it.
            let Ok(requirements) = tool.airlock.requirements_path(&root) else {
                continue;
            };
            for locked in &tool.airlock.targets {
                let Ok(target) = crate::python::target::Target::new(
                    &locked.python_version,
                    &locked.python_platform,
                ) else {
                    continue;
                };
                let reresolve = |target: &crate::python::target::Target| {
                    closure::resolved_pins(
                        &lock,
                        &root,
                        &source,
                        request.prerelease,
                        &request.binary,
                        target,
                    )
                };
                findings.extend(rehearse::rehearse_target(
                    python,
                    &target,
                    locked,
                    &request.wheelhouse,
                    &requirements,
                    &uri,
                    &reresolve,
                )?);
            }
        }
    }
    Ok(findings)
}

/// AL108: every `pylock.<name>.toml` that `airlock export --format pylock` wrote into the
/// wheelhouse must be current with the lock it was made from (its recorded sha256) and name
/// only files the wheelhouse holds with the lock's digests. The files' own bytes are checked
/// against the lock by the integrity check (AL101/AL102), so nothing is hashed twice.
pub fn check_exports(
    wheelhouse: &std::path::Path,
    wheelhouse_uri: &str,
    root: &std::path::Path,
) -> Vec<Finding> {
    use crate::python::export::{ExportedLock, exported_pylocks};
    let mut findings = Vec::new();
    let names = match exported_pylocks(wheelhouse) {
        Ok(names) => names,
        // An unreadable wheelhouse is AL201's to report.
        Err(_) => return findings,
    };
    for name in names {
        let uri = format!("{wheelhouse_uri}/{name}");
        let mut problem = |message: String| {
            findings.push(Finding::new("AL108", Severity::Error, &uri, None, message));
        };
        let path = wheelhouse.join(&name);
        let exported: ExportedLock = match std::fs::read_to_string(&path)
            .map_err(|e| e.to_string())
            .and_then(|text| toml::from_str(&text).map_err(|e| e.to_string()))
        {
            Ok(exported) => exported,
            Err(error) => {
                problem(format!("cannot read it as an exported pylock: {error}"));
                continue;
            }
        };
        let record = &exported.tool.airlock;
        let source = root.join(&record.source);
        let source_text = match std::fs::read_to_string(&source) {
            Ok(text) => text,
            Err(error) => {
                problem(format!(
                    "it was exported from {}, which cannot be read ({error})",
                    record.source
                ));
                continue;
            }
        };
        if crate::digest::Sha256Hex::of(source_text.as_bytes()).as_str() != record.source_sha256 {
            problem(format!(
                "it was exported from another version of {}; run `airlock export --format pylock` again",
                record.source
            ));
            continue;
        }
        let Ok(lock) = crate::python::pylock::PyLock::parse(&source_text, &record.source) else {
            // The lock itself is reported as AL204.
            continue;
        };
        let locked: std::collections::BTreeMap<&str, &str> = lock
            .packages
            .iter()
            .flat_map(|p| p.wheels.iter().chain(&p.sdist))
            .map(|f| (f.name.as_str(), f.hashes.sha256.as_str()))
            .collect();
        for package in &exported.packages {
            for file in package.wheels.iter().chain(&package.sdist) {
                let inside =
                    crate::bundle::manifest::safe_relative(&file.path) && !file.path.contains('/');
                if !inside || file.path != file.name {
                    problem(format!(
                        "{}: its path `{}` does not name a file of this wheelhouse",
                        package.name, file.path
                    ));
                } else if locked.get(file.name.as_str()) != Some(&file.hashes.sha256.as_str()) {
                    problem(format!(
                        "{}: {} is not in {} with this sha256",
                        package.name, file.name, record.source
                    ));
                } else if !std::fs::symlink_metadata(wheelhouse.join(&file.name))
                    .is_ok_and(|m| m.file_type().is_file())
                {
                    problem(format!(
                        "{}: {} is not in the wheelhouse; run `airlock fetch`",
                        package.name, file.name
                    ));
                }
            }
        }
    }
    findings
}

/// AL203 findings from `resolve --check`-style lock reports.
pub fn stale_lock_findings(
    reports: &[crate::lock::LockReport],
    root: &std::path::Path,
) -> Vec<Finding> {
    use crate::lock::{LockStatus, display_path};
    reports
        .iter()
        .filter_map(|report| {
            let lock = display_path(&report.lockfile, root);
            let message = match report.status {
                LockStatus::Missing => format!("{lock} is missing; run `airlock resolve` while online"),
                LockStatus::Stale => format!(
                    "{lock} was made from other inputs than these: {}; run `airlock resolve` and `airlock fetch`",
                    report.stale_because.as_deref().unwrap_or("they changed")
                ),
                _ => return None,
            };
            Some(Finding::new("AL203", Severity::Error, display_path(&report.requirements, root), None, message))
        })
        .collect()
}

/// AP109 from an apt `resolve --check`-style report.
pub fn stale_apt_lock_finding(
    report: &crate::lock::AptLockReport,
    root: &std::path::Path,
) -> Option<Finding> {
    use crate::lock::{LockStatus, display_path};
    let lock = display_path(&report.lockfile, root);
    let message = match report.status {
        LockStatus::Missing => format!(
            "{lock} is missing although [apt] packages are listed; run `airlock resolve` while online"
        ),
        LockStatus::Stale => format!(
            "{lock} was made from other inputs than these ([apt] packages, sources, architectures, base or recommends, or the host's apt sources and keyrings); run `airlock resolve` and `airlock fetch`"
        ),
        _ => return None,
    };
    Some(Finding::new("AP109", Severity::Error, lock, None, message))
}

/// Errors and warnings fail verification; notes do not.
pub fn has_problems(findings: &[Finding]) -> bool {
    findings.iter().any(|f| f.severity != Severity::Note)
}

/// Rule descriptions contributed by the Dockerfile audit.
fn dockerfile_rules() -> &'static [(&'static str, &'static str)] {
    dockerfile::rules::RULES
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_the_checks_emit_has_sarif_metadata() {
        // The rule IDs written in the checks' sources, each quoted: "AL101", "AP107", ...
        let sources = [
            include_str!("mod.rs"),
            include_str!("integrity.rs"),
            include_str!("closure.rs"),
            include_str!("rehearse.rs"),
            include_str!("apt.rs"),
            include_str!("build.rs"),
        ];
        let mut seen = std::collections::BTreeSet::new();
        for source in sources {
            for (start, _) in source.match_indices('"') {
                let id = source[start + 1..].split('"').next().unwrap_or("");
                let shaped = id.len() == 5
                    && ["AL", "AP", "RH", "BD"].contains(&&id[..2])
                    && id[2..].bytes().all(|b| b.is_ascii_digit());
                if shaped {
                    seen.insert(id.to_string());
                }
            }
        }
        assert!(seen.len() >= 20, "found only {seen:?}");
        let known: std::collections::BTreeSet<&str> = RULES.iter().map(|(id, _)| *id).collect();
        let missing: Vec<&String> = seen
            .iter()
            .filter(|id| !known.contains(id.as_str()))
            .collect();
        assert!(missing.is_empty(), "rules without metadata: {missing:?}");
    }

    #[test]
    fn sarif_carries_rule_ids_and_locations() {
        let findings = vec![
            Finding::new(
                "AL101",
                Severity::Error,
                "wheelhouse/a-1.0-py3-none-any.whl",
                None,
                "missing",
            ),
            Finding::new(
                "AL203",
                Severity::Error,
                "requirements/app.in",
                Some(3),
                "stale",
            ),
        ];
        let sarif: serde_json::Value =
            serde_json::from_str(&render(&findings, OutputFormat::Sarif)).unwrap();
        assert_eq!(sarif["version"], "2.1.0");
        let results = sarif["runs"][0]["results"].as_array().unwrap();
        assert_eq!(results[0]["ruleId"], "AL203");
        assert_eq!(
            results[0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            "requirements/app.in"
        );
        assert_eq!(
            results[0]["locations"][0]["physicalLocation"]["region"]["startLine"],
            3
        );
        assert!(
            results[1]["locations"][0]["physicalLocation"]
                .get("region")
                .is_none()
        );
        assert_eq!(
            sarif["runs"][0]["tool"]["driver"]["rules"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
        let text = render(&findings, OutputFormat::Text);
        assert!(
            text.starts_with("requirements/app.in:3: error AL203: stale\n"),
            "{text}"
        );
        assert!(
            text.ends_with("2 finding(s): 2 error(s), 0 warning(s), 0 note(s)\n"),
            "{text}"
        );
    }
}
