//! `verify --rehearse`: prove the wheelhouse with the installer itself. For every lock and
//! target, pip's own resolver runs inside a network namespace without interfaces
//! (`unshare -n`), against the wheelhouse alone and constrained to the target's pins, and its
//! `--report` is compared with the lock.
//!
//! pip needs `--target` to accept platform options; with `--dry-run` nothing is written there.
//! pip evaluates environment markers (`platform_machine`, `sys_platform`) for the host, not for
//! `--platform`, so for a target whose Python, OS or architecture differs from the interpreter's
//! a difference is reported as a note with that caveat rather than as an error.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use pep508_rs::PackageName;

use super::{Finding, Severity};
use crate::python::pylock::LockedTarget;
use crate::python::target::{Arch, Os, Target};

#[derive(Debug, thiserror::Error)]
pub enum RehearseError {
    #[error("--rehearse needs network namespaces, which this machine does not give: {0}")]
    NoNamespace(String),
    #[error("--rehearse needs Python with pip ({python} -m pip): {message}")]
    NoPip { python: String, message: String },
    #[error("cannot create a scratch directory")]
    Scratch(#[source] std::io::Error),
}

/// The arguments after `python -m`: a dry-run install of `requirements` for `target` from the
/// wheelhouse only, ignoring every pip setting of the host (`--isolated`).
pub fn pip_arguments(
    target: &Target,
    wheelhouse: &Path,
    requirements: &Path,
    scratch: &Path,
) -> Vec<String> {
    install_arguments(Some(target), wheelhouse, requirements, scratch)
}

/// The dry-run for a target this machine runs natively: pip as the far side runs it, free to
/// build sdists (their build requirements from `--find-links`, through pip's build isolation).
pub fn native_pip_arguments(wheelhouse: &Path, requirements: &Path, scratch: &Path) -> Vec<String> {
    install_arguments(None, wheelhouse, requirements, scratch)
}

fn install_arguments(
    target: Option<&Target>,
    wheelhouse: &Path,
    requirements: &Path,
    scratch: &Path,
) -> Vec<String> {
    let mut args: Vec<String> = [
        "pip",
        "--isolated",
        "--disable-pip-version-check",
        "--no-cache-dir",
        "install",
        "--dry-run",
        "--ignore-installed",
        "--quiet",
        "--no-index",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if let Some(target) = target {
        // pip takes platform options only with --only-binary=:all: and --target.
        let python = &target.python_version;
        args.extend([
            "--only-binary=:all:".into(),
            "--implementation".into(),
            "cp".into(),
        ]);
        args.extend([
            "--python-version".into(),
            format!("{}.{}", python.major, python.minor),
            "--abi".into(),
            format!("cp{}{}", python.major, python.minor),
        ]);
        for tag in target.platform.platform_tags() {
            args.extend(["--platform".into(), tag]);
        }
        args.extend([
            "--target".into(),
            scratch.join("target").display().to_string(),
        ]);
    }
    args.extend([
        "--find-links".into(),
        wheelhouse.display().to_string(),
        "--report".into(),
        scratch.join("report.json").display().to_string(),
        "-r".into(),
        requirements.display().to_string(),
    ]);
    args
}

/// `name -> version` of what a pip report would install.
pub fn report_installs(report: &str) -> Option<BTreeMap<String, String>> {
    let value: serde_json::Value = serde_json::from_str(report).ok()?;
    let mut installs = BTreeMap::new();
    for item in value["install"].as_array()? {
        let name = item["metadata"]["name"].as_str()?;
        let version = item["metadata"]["version"].as_str()?;
        let name = name
            .parse::<PackageName>()
            .map(|n| n.to_string())
            .unwrap_or_else(|_| name.to_string());
        installs.insert(name, version.to_string());
    }
    Some(installs)
}

/// The `major.minor` of an interpreter, if it runs.
fn interpreter_version(python: &str) -> Option<(u32, u32)> {
    interpreter_full_version(python).map(|(major, minor, _)| (major, minor))
}

/// The `major.minor.micro` of an interpreter, if it runs.
fn interpreter_full_version(python: &str) -> Option<(u32, u32, u32)> {
    let output = Command::new(python)
        .args(["-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    let mut parts = text.trim().split('.').map(str::parse::<u32>);
    Some((
        parts.next()?.ok()?,
        parts.next()?.ok()?,
        parts.next()?.ok()?,
    ))
}

/// The interpreter to run pip with for `target`: `python3.X` matching the target when one is on
/// PATH (then pip's Requires-Python checks and markers use the right version), else `fallback`.
pub fn choose_python(target: &Target, fallback: &str) -> (String, Option<(u32, u32)>) {
    let wanted = (target.python_version.major, target.python_version.minor);
    let exact = format!("python{}.{}", wanted.0, wanted.1);
    if interpreter_version(&exact) == Some(wanted) {
        return (exact, Some(wanted));
    }
    (fallback.to_string(), interpreter_version(fallback))
}

/// Whether pip's host markers could differ from the target's.
fn host_differs(target: &Target) -> bool {
    let host_arch = match std::env::consts::ARCH {
        "x86_64" => Some(Arch::X86_64),
        "aarch64" => Some(Arch::Aarch64),
        _ => None,
    };
    let host_linux = std::env::consts::OS == "linux";
    let target_linux = matches!(
        target.platform.os,
        Os::Manylinux { .. } | Os::Musllinux { .. }
    );
    host_arch != Some(target.platform.arch) || host_linux != target_linux
}

/// Compares what pip would install with the lock's pins for one target.
pub fn compare(
    target: &Target,
    locked: &LockedTarget,
    installs: &BTreeMap<String, String>,
    lock_uri: &str,
    caveat: bool,
) -> Vec<Finding> {
    // Under the caveat a difference is pip's blind spot, not proof of a defect: a note.
    let severity = if caveat {
        Severity::Note
    } else {
        Severity::Error
    };
    let suffix = if caveat {
        " (pip evaluates markers such as platform_machine and python_full_version for the interpreter it runs on, not for the target, so marker-dependent packages may differ)"
    } else {
        ""
    };
    let pinned: BTreeMap<&str, &str> = locked
        .pins
        .iter()
        .map(|p| (p.name.as_str(), p.version.as_str()))
        .collect();
    let mut findings = Vec::new();
    for (name, version) in installs {
        match pinned.get(name.as_str()) {
            Some(locked) if *locked == version => {}
            Some(locked) => findings.push(Finding::new("RH002", severity, lock_uri, None, format!("{target}: pip would install {name} {version} from the wheelhouse, the lock pins {locked}{suffix}"))),
            None => findings.push(Finding::new("RH002", severity, lock_uri, None, format!("{target}: pip would install {name} {version}, which the lock does not pin{suffix}"))),
        }
    }
    for (name, version) in &pinned {
        if !installs.contains_key(*name) {
            findings.push(Finding::new(
                "RH002",
                severity,
                lock_uri,
                None,
                format!(
                    "{target}: the lock pins {name} {version}, but pip would not install it{suffix}"
                ),
            ));
        }
    }
    findings
}

/// The sdists `locked` builds: runtime pins without a wheel for the target, and build
/// requirements published only as sdists.
fn built_sdists(locked: &LockedTarget) -> Vec<&str> {
    let mut sdists: Vec<&str> = locked
        .pins
        .iter()
        .chain(locked.builds.iter().flat_map(|b| &b.pins))
        .filter_map(|p| p.sdist.as_deref())
        .collect();
    sdists.sort_unstable();
    sdists.dedup();
    sdists
}

/// Runs `python ARGS` inside `unshare -n`; errors that mean the rehearsal cannot run at all
/// become [`RehearseError`], pip's own failures come back as the output.
fn run_offline(python: &str, args: &[String]) -> Result<std::process::Output, RehearseError> {
    let output = crate::sandbox::offline(python)
        .map_err(RehearseError::NoNamespace)?
        .arg("-m")
        .args(args)
        .output()
        .map_err(|e| RehearseError::NoNamespace(e.to_string()))?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    let no_pip = |message: &str| RehearseError::NoPip {
        python: python.to_string(),
        message: message.trim().to_string(),
    };
    if stderr.starts_with("unshare: failed to execute") {
        return Err(no_pip(&stderr));
    }
    if stderr.starts_with("unshare:") {
        return Err(RehearseError::NoNamespace(stderr.trim().to_string()));
    }
    if stderr.contains("No module named pip") {
        return Err(no_pip(&stderr));
    }
    Ok(output)
}

/// What a failed pip said, on one line: its `ERROR:` lines (nested ones from build
/// subprocesses included), else the last lines of stderr.
fn tail(output: &std::process::Output, lines: usize) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr);
    let errors: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|line| line.starts_with("ERROR:"))
        .collect();
    if !errors.is_empty() {
        return errors.join(" | ");
    }
    let last: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .rev()
        .take(lines)
        .collect();
    last.into_iter().rev().collect::<Vec<_>>().join(" | ")
}

/// Builds each sdist the target builds into a wheel, offline, the way the far side's pip will:
/// `pip wheel --no-index --find-links wheelhouse --no-deps`, inside `unshare -n`.
fn rehearse_builds(
    python: &str,
    target: &Target,
    sdists: &[&str],
    wheelhouse: &Path,
    scratch: &Path,
    lock_uri: &str,
) -> Result<Vec<Finding>, RehearseError> {
    let mut findings = Vec::new();
    for sdist in sdists {
        let args: Vec<String> = [
            "pip",
            "--isolated",
            "--disable-pip-version-check",
            "--no-cache-dir",
            "wheel",
            "--quiet",
            "--no-index",
            "--no-deps",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([
            "--find-links".into(),
            wheelhouse.display().to_string(),
            "--wheel-dir".into(),
            scratch.join("built").display().to_string(),
            wheelhouse.join(sdist).display().to_string(),
        ])
        .collect();
        let output = run_offline(python, &args)?;
        if !output.status.success() {
            findings.push(Finding::new(
                "RH004",
                Severity::Error,
                lock_uri,
                None,
                format!(
                    "{target}: pip cannot build {sdist} from the wheelhouse alone (offline, in a network namespace): {}",
                    tail(&output, 6)
                ),
            ));
        }
    }
    Ok(findings)
}

/// airlock's own resolution from the wheelhouse for a target (name -> version), for telling
/// a difference that comes only from the interpreter's patch level.
pub type Reresolve<'a> = &'a dyn Fn(&Target) -> Option<BTreeMap<String, String>>;

/// Runs pip for one lock target inside `unshare -n`.
pub fn rehearse_target(
    python: &str,
    target: &Target,
    locked: &LockedTarget,
    wheelhouse: &Path,
    requirements: &Path,
    lock_uri: &str,
    reresolve: Reresolve<'_>,
) -> Result<Vec<Finding>, RehearseError> {
    let scratch = tempfile::tempdir().map_err(RehearseError::Scratch)?;
    let (python, version) = choose_python(target, python);
    let python = python.as_str();
    let Some(version) = version else {
        return Err(RehearseError::NoPip {
            python: python.to_string(),
            message: "it does not run".into(),
        });
    };
    let same_python = version == (target.python_version.major, target.python_version.minor);
    let caveat = !same_python || host_differs(target);
    let sdists = built_sdists(locked);
    let mut findings = Vec::new();
    if !sdists.is_empty() && caveat {
        // pip takes --platform only with --only-binary=:all:, so for a target this machine
        // cannot run it can neither build these nor resolve without them: say so.
        return Ok(vec![Finding::new(
            "RH003",
            Severity::Note,
            lock_uri,
            None,
            format!(
                "{target}: the lock builds {} from source, which pip can only rehearse on a machine that runs the target (python{}.{} on its platform); not rehearsed here",
                sdists.join(", "),
                target.python_version.major,
                target.python_version.minor
            ),
        )]);
    }
    let mut args = if sdists.is_empty() {
        pip_arguments(target, wheelhouse, requirements, scratch.path())
    } else {
        native_pip_arguments(wheelhouse, requirements, scratch.path())
    };
    // The wheelhouse holds every target's files, so pip left free may take a version another
    // target locked. Constrained to this target's pins, pip proves that exactly the lock
    // installs offline; a pin it cannot honour is RH001, anything extra it needs RH002.
    let constraints = scratch.path().join("constraints.txt");
    let pins: String = locked
        .pins
        .iter()
        .map(|pin| format!("{}=={}\n", pin.name, pin.version))
        .collect();
    std::fs::write(&constraints, pins).map_err(RehearseError::Scratch)?;
    args.extend(["-c".into(), constraints.display().to_string()]);
    if !same_python {
        // pip checks Requires-Python against the interpreter it runs on even with
        // --python-version; the wheelhouse holds only locked, tag-filtered versions, so skipping
        // that check cannot let an unlocked version in.
        let after_install = args
            .iter()
            .position(|a| a == "install")
            .map_or(args.len(), |i| i + 1);
        args.insert(after_install, "--ignore-requires-python".into());
        findings.push(Finding::new(
            "RH003",
            Severity::Note,
            lock_uri,
            None,
            format!(
                "{target}: no python{}.{} here, so pip ran on Python {}.{} with --ignore-requires-python; install the target's Python for an exact rehearsal",
                target.python_version.major, target.python_version.minor, version.0, version.1
            ),
        ));
    }
    let output = run_offline(python, &args)?;
    if !output.status.success() {
        return Ok(vec![Finding::new(
            "RH001",
            Severity::Error,
            lock_uri,
            None,
            format!(
                "{target}: pip cannot install from the wheelhouse alone (offline, in a network namespace): {}",
                tail(&output, 6)
            ),
        )]);
    }
    findings.extend(rehearse_builds(
        python,
        target,
        &sdists,
        wheelhouse,
        scratch.path(),
        lock_uri,
    )?);
    let report = std::fs::read_to_string(scratch.path().join("report.json")).unwrap_or_default();
    let Some(installs) = report_installs(&report) else {
        return Ok(vec![Finding::new(
            "RH001",
            Severity::Error,
            lock_uri,
            None,
            format!("{target}: pip wrote no readable --report"),
        )]);
    };
    let mut differences = compare(target, locked, &installs, lock_uri, caveat);
    if !caveat && !differences.is_empty() {
        explain_patch_level(python, target, &installs, reresolve, &mut differences);
    }
    findings.extend(differences);
    Ok(findings)
}

/// pip evaluates `python_full_version` markers for the interpreter it runs on (3.11.7),
/// while a target written `3.11` is resolved as 3.11.0. When airlock's own resolution for the
/// interpreter's exact version gives what pip gives, the difference is the patch level alone:
/// the findings become notes that say so and how to lock for that patch level.
fn explain_patch_level(
    python: &str,
    target: &Target,
    installs: &BTreeMap<String, String>,
    reresolve: Reresolve<'_>,
    differences: &mut [Finding],
) {
    let Some((major, minor, micro)) = interpreter_full_version(python) else {
        return;
    };
    let locked_as = target.python_version.patch.unwrap_or(0);
    if micro == locked_as {
        return;
    }
    let Ok(exact) = Target::new(
        &format!("{major}.{minor}.{micro}"),
        &target.platform.to_string(),
    ) else {
        return;
    };
    if reresolve(&exact).as_ref() != Some(installs) {
        return;
    }
    for finding in differences.iter_mut() {
        finding.severity = Severity::Note;
        finding.message.push_str(&format!(
            " (only the patch level: pip runs on Python {major}.{minor}.{micro}, the lock resolved for {major}.{minor}.{locked_as}, and markers such as python_full_version differ; lock with --python-version {major}.{minor}.{micro} if the image runs that)"
        ));
    }
}

/// The Python that runs pip: `AIRLOCK_PYTHON`, else `python3`, as the interpreter's own path
/// (`sys.executable`) when it answers: a wrapper such as pyenv's shim runs `pyenv rehash`
/// after every `pip install`, which fails when two run at once. A Python that does not answer
/// is left as named, so the error comes from running pip, with pip's words.
pub fn python() -> String {
    static RESOLVED: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    RESOLVED
        .get_or_init(|| {
            let named = std::env::var("AIRLOCK_PYTHON")
                .ok()
                .filter(|p| !p.is_empty())
                .unwrap_or_else(|| "python3".into());
            std::process::Command::new(&named)
                .args(["-c", "import sys; print(sys.executable)"])
                .stdin(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .output()
                .ok()
                .filter(|output| output.status.success())
                .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_string())
                .filter(|path| !path.is_empty())
                .unwrap_or(named)
        })
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::python::pylock::TargetPin;

    #[test]
    fn pip_is_isolated_offline_and_told_the_targets_tags() {
        let target = Target::new("3.12", "x86_64-manylinux_2_36").unwrap();
        let args = pip_arguments(
            &target,
            Path::new("/w"),
            Path::new("/r.in"),
            Path::new("/s"),
        );
        let text = args.join(" ");
        for needed in [
            "--isolated",
            "--dry-run",
            "--no-index",
            "--only-binary=:all:",
            "--python-version 3.12",
            "--abi cp312",
            "--platform manylinux_2_36_x86_64",
            "--platform manylinux2014_x86_64",
            "--find-links /w",
            "--report /s/report.json",
            "-r /r.in",
        ] {
            assert!(text.contains(needed), "{needed} missing from {text}");
        }
    }

    #[test]
    fn compares_reports_with_pins() {
        let report = r#"{"install": [{"metadata": {"name": "Six", "version": "1.16.0"}}, {"metadata": {"name": "idna", "version": "3.8"}}]}"#;
        let installs = report_installs(report).unwrap();
        let target = Target::new("3.12", "x86_64-manylinux_2_36").unwrap();
        let locked = LockedTarget {
            python_version: "3.12".into(),
            python_platform: "x86_64-manylinux_2_36".into(),
            marker: String::new(),
            roots: vec![],
            pins: vec![
                TargetPin {
                    name: "six".into(),
                    version: "1.16.0".into(),
                    wheel: String::new(),
                    sdist: None,
                    extras: vec![],
                    dependencies: vec![],
                },
                TargetPin {
                    name: "idna".into(),
                    version: "3.7".into(),
                    wheel: String::new(),
                    sdist: None,
                    extras: vec![],
                    dependencies: vec![],
                },
                TargetPin {
                    name: "gone".into(),
                    version: "1".into(),
                    wheel: String::new(),
                    sdist: None,
                    extras: vec![],
                    dependencies: vec![],
                },
            ],
            builds: vec![],
        };
        let messages: Vec<String> = compare(&target, &locked, &installs, "l", false)
            .into_iter()
            .map(|f| f.message)
            .collect();
        assert_eq!(messages.len(), 2, "{messages:#?}");
        assert!(
            messages[0]
                .contains("pip would install idna 3.8 from the wheelhouse, the lock pins 3.7")
        );
        assert!(messages[1].contains("the lock pins gone 1, but pip would not install it"));
    }
}
