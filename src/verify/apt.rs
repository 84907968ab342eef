//! The apt side of `verify`: the `.deb`s against `apt.lock.toml`, the local repository's
//! indexes against what the lock publishes, the closure over the local repository alone, and
//! with `--rehearse` apt itself (`apt-get install -s`) offline in a network namespace.

use std::collections::BTreeSet;
use std::path::Path;

use super::{Finding, Severity};
use crate::config::{AptBase, AptConfig};
use crate::debian::aptlock::AptLock;
use crate::debian::closure::{AptIndex, Base, ClosureOptions, Request, closure};
use crate::debian::publish::{APT_DIRECTORY, is_index_file, packages_index, publish};
use crate::debian::signature::Keyring;
use crate::debian::signing::public_armour_of;
use crate::fetch::error_chain;

/// Every apt finding; `None` when the project locks no Debian packages (no apt lock file).
/// Anything else that keeps a check from running is a finding, never a silent skip.
pub fn verify_apt(
    lockfiles: &Path,
    wheelhouse: &Path,
    wheelhouse_uri: &str,
    apt: &AptConfig,
    rehearse: bool,
) -> Option<Vec<Finding>> {
    let base = &apt.base;
    let lock_uri = "lockfiles/apt.lock.toml";
    let (lock, items) = match crate::fetch::apt_items(lockfiles) {
        Ok(Some(found)) => found,
        Ok(None) => return None,
        Err(error) => {
            return Some(vec![Finding::new(
                "AP108",
                Severity::Error,
                lock_uri,
                None,
                format!(
                    "the apt lock cannot be used: {}; nothing of the Debian side was checked; re-create it with `airlock resolve`",
                    error_chain(&error)
                ),
            )]);
        }
    };
    let dir = wheelhouse.join(APT_DIRECTORY);
    let uri = |name: &str| format!("{wheelhouse_uri}/{APT_DIRECTORY}/{name}");
    let plan = crate::fetch::plan(&items, &dir);
    let mut findings = super::integrity::missing(&plan, "AP101", &uri);
    for item in &plan.corrupt {
        findings.push(Finding::new("AP102", Severity::Error, uri(&item.file_name), None, format!("{} does not have the locked size and sha256 {} (or is not a regular file); delete it and run `airlock fetch`", item.file_name, item.sha256)));
    }
    // A present .deb has the locked digest; it must also be a .deb (the signed index may
    // list a file that is not one).
    for item in &plan.present {
        if let Err(problem) = crate::debian::deb::check_deb_file(&dir.join(&item.file_name)) {
            findings.push(Finding::new(
                "AP102",
                Severity::Error,
                uri(&item.file_name),
                None,
                format!(
                    "{} has the locked sha256 but is not a package dpkg installs: {problem}; the mirror serves a bad file, do not use it",
                    item.file_name
                ),
            ));
        }
    }
    for name in plan.extraneous.iter().filter(|n| !is_index_file(n)) {
        findings.push(Finding::new(
            "AP103",
            Severity::Warning,
            uri(name),
            None,
            format!(
                "{name} is in no lock; apt does not see it, but it ships in the bundle; remove it"
            ),
        ));
    }
    // The indexes must be exactly what the lock publishes; that Release is also what the
    // signature files must sign.
    let mut expected_release = None;
    let republished = tempfile::tempdir()
        .map_err(|e| e.to_string())
        .and_then(|expected| {
            publish(&lock, expected.path(), None).map_err(|e| e.to_string())?;
            let read = |name: &str| {
                std::fs::read(expected.path().join(name)).map_err(|e| format!("{name}: {e}"))
            };
            Ok([read("Packages")?, read("Packages.gz")?, read("Release")?])
        });
    match republished {
        Ok(wanted) => {
            expected_release = Some(String::from_utf8_lossy(&wanted[2]).into_owned());
            for (name, want) in ["Packages", "Packages.gz", "Release"].iter().zip(&wanted) {
                let problem = match std::fs::read(dir.join(name)) {
                    Ok(found) if found == *want => continue,
                    Ok(_) => "differs from what apt.lock.toml publishes".to_string(),
                    Err(error) => format!("cannot be read ({error})"),
                };
                findings.push(Finding::new(
                    "AP104",
                    Severity::Error,
                    uri(name),
                    None,
                    format!(
                        "the local repository's {name} {problem}; run `airlock fetch` to republish"
                    ),
                ));
            }
        }
        Err(error) => findings.push(Finding::new(
            "AP104",
            Severity::Error,
            lock_uri,
            None,
            format!("cannot republish the lock's repository to compare its indexes: {error}"),
        )),
    }
    // The signature files: checked against the key's public half (no secret needed).
    let public_key = match &apt.signing_key {
        Some(path) => match public_armour_of(path) {
            Ok(armour) => Some(armour),
            Err(error) => {
                findings.push(Finding::new(
                    "AP107",
                    Severity::Error,
                    "airlock.toml",
                    None,
                    format!("[apt] signing-key: {error}"),
                ));
                None
            }
        },
        None => None,
    };
    if let Some(release) = &expected_release {
        findings.extend(check_signatures(
            &dir,
            release,
            apt.signing_key.as_deref(),
            public_key.as_deref(),
            &uri,
        ));
    }
    // The closure over the local repository alone.
    let base_set = match base {
        AptBase::None => Ok(Some(Base::default())),
        AptBase::Status(path) => std::fs::read_to_string(path)
            .map_err(|e| e.to_string())
            .and_then(|t| Base::from_dpkg_status(&t).map_err(|e| e.to_string()))
            .map(Some)
            .map_err(|error| format!("the base {} cannot be read: {error}", path.display())),
        AptBase::Minbase => Ok(None),
    };
    let packages = crate::debian::packages::parse_packages(&packages_index(&lock), "apt.lock.toml")
        .map_err(|error| format!("its control stanzas do not parse: {error}"));
    let requests: Result<Vec<Request>, String> = lock
        .requested
        .iter()
        .map(|r| {
            r.parse()
                .map_err(|_| format!("its request `{r}` is not a package request"))
        })
        .collect();
    let inputs = base_set.and_then(|base| Ok((base, packages?, requests?)));
    match inputs {
        Err(error) => findings.push(Finding::new(
            "AP105",
            Severity::Error,
            lock_uri,
            None,
            format!("the closure cannot be re-checked: {error}"),
        )),
        Ok((Some(base_set), packages, requests)) => {
            let index = AptIndex::new(packages, &lock.architectures());
            match closure(&index, &base_set, &requests, ClosureOptions { recommends: lock.recommends }) {
                Ok(chosen) => {
                    let resolved: BTreeSet<String> = chosen.iter().map(|(name, c)| format!("{name}={}", c.package.version)).collect();
                    let locked: BTreeSet<String> = lock.packages.iter().map(|p| format!("{}={}", lock.apt_name(p), p.version)).collect();
                    if resolved != locked {
                        let extra: Vec<&String> = resolved.difference(&locked).collect();
                        let missing: Vec<&String> = locked.difference(&resolved).collect();
                        findings.push(Finding::new("AP105", Severity::Error, "lockfiles/apt.lock.toml", None, format!("resolving from the local repository alone gives another closure (would add {extra:?}, would drop {missing:?}); re-resolve")));
                    }
                }
                Err(error) => findings.push(Finding::new("AP105", Severity::Error, "lockfiles/apt.lock.toml", None, format!("the local repository alone cannot satisfy the requested packages: {error}"))),
            }
        }
        Ok((None, _, _)) => findings.push(Finding::new("AP106", Severity::Note, "lockfiles/apt.lock.toml", None, "the closure re-check is skipped for base = \"minbase\" (the base set is not recorded); use a dpkg status file as base to check it")),
    }
    if rehearse {
        findings.extend(rehearse_apt(&lock, &dir, base, public_key.as_deref()));
    }
    Some(findings)
}

/// AP107: with a signing key, `InRelease` and `Release.gpg` must sign exactly the Release the
/// lock publishes, with that key; without one, no signature files may linger (apt reads a
/// stale `InRelease` before `Release`).
fn check_signatures(
    dir: &Path,
    release: &str,
    key_path: Option<&Path>,
    public_key: Option<&str>,
    uri: &dyn Fn(&str) -> String,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).ok();
    match (key_path, public_key) {
        (Some(key_path), Some(armour)) => {
            let keyring =
                match Keyring::from_bytes(armour.as_bytes(), &key_path.display().to_string()) {
                    Ok(keyring) => keyring,
                    Err(error) => {
                        findings.push(Finding::new(
                            "AP107",
                            Severity::Error,
                            uri("InRelease"),
                            None,
                            format!("the signatures cannot be checked: {error}"),
                        ));
                        return findings;
                    }
                };
            // Each file's own reason goes into its finding: missing, unreadable, signed by
            // another key, refused by the signature policy, or over other text.
            let now = std::time::SystemTime::now();
            let in_release = match read("InRelease") {
                None => Err("it is missing or unreadable".to_string()),
                Some(text) => match keyring.verify_clearsigned(&text, "InRelease", now) {
                    Ok(signed) if signed == release => Ok(()),
                    Ok(_) => {
                        Err("it signs another text than the Release apt.lock.toml publishes".into())
                    }
                    Err(error) => Err(error.to_string()),
                },
            };
            let detached = match read("Release.gpg") {
                None => Err("it is missing or unreadable".to_string()),
                Some(signature) => keyring
                    .verify_detached(release.as_bytes(), &signature, "Release.gpg", now)
                    .map_err(|error| error.to_string()),
            };
            for (name, outcome) in [("InRelease", in_release), ("Release.gpg", detached)] {
                if let Err(reason) = outcome {
                    findings.push(Finding::new("AP107", Severity::Error, uri(name), None, format!("{name} is not a valid signature by {} over the Release apt.lock.toml publishes ({reason}); run `airlock fetch` to re-sign", key_path.display())));
                }
            }
        }
        (Some(_), None) => {}
        (None, _) => {
            for name in ["InRelease", "Release.gpg"] {
                if dir.join(name).exists() {
                    findings.push(Finding::new("AP107", Severity::Error, uri(name), None, format!("{name} is left from a signed publication but [apt] signing-key is not set; apt would trust it over Release; run `airlock fetch` to remove it, or set signing-key")));
                }
            }
        }
    }
    findings
}

/// apt's own words for why it cannot install: the unmet dependencies it lists on stdout and
/// its `E:` lines, joined on one line.
fn apt_problems(stdout: &[u8], stderr: &[u8]) -> String {
    let stdout = String::from_utf8_lossy(stdout);
    let stderr = String::from_utf8_lossy(stderr);
    let mut problems: Vec<&str> = stdout
        .lines()
        .filter(|l| {
            l.starts_with(' ')
                && (l.contains("Depends:") || l.contains("Conflicts:") || l.contains("Breaks:"))
        })
        .chain(stderr.lines().filter(|l| l.starts_with("E:")))
        .map(str::trim)
        .collect();
    if problems.is_empty() {
        problems = stdout.lines().rev().take(4).collect();
    }
    problems.join(" | ")
}

/// `apt-get update` + `apt-get install -s` offline, with only the local repository.
fn rehearse_apt(
    lock: &AptLock,
    repository: &Path,
    base: &AptBase,
    public_key: Option<&str>,
) -> Vec<Finding> {
    let finding = |severity, message: String| {
        Finding::new("RH101", severity, "lockfiles/apt.lock.toml", None, message)
    };
    let Ok(scratch) = tempfile::tempdir() else {
        return vec![finding(
            Severity::Error,
            "cannot create a scratch directory".into(),
        )];
    };
    let root = scratch.path();
    let status = match base {
        AptBase::Status(path) => path.clone(),
        AptBase::None => root.join("status"),
        AptBase::Minbase => {
            return vec![finding(
                Severity::Note,
                "the apt rehearsal needs the base's dpkg status; base = \"minbase\" records none"
                    .into(),
            )];
        }
    };
    // A signed repository is rehearsed as the air-gapped side uses it: apt checks the signature.
    let key = root.join("airlock-repository.asc");
    let trust = match public_key {
        Some(_) => format!("signed-by={}", key.display()),
        None => "trusted=yes".to_string(),
    };
    let prepared = (|| -> std::io::Result<()> {
        if matches!(base, AptBase::None) {
            std::fs::write(&status, "")?;
        }
        for dir in ["lists/partial", "cache/archives/partial"] {
            std::fs::create_dir_all(root.join(dir))?;
        }
        if let Some(armour) = public_key {
            std::fs::write(&key, armour)?;
        }
        let absolute = std::path::absolute(repository)?;
        std::fs::write(
            root.join("sources.list"),
            format!("deb [{trust}] file:{} ./\n", absolute.display()),
        )
    })();
    if let Err(error) = prepared {
        return vec![finding(
            Severity::Error,
            format!(
                "cannot prepare the apt rehearsal in {}: {error}",
                root.display()
            ),
        )];
    }
    let options = [
        format!(
            "Dir::Etc::SourceList={}",
            root.join("sources.list").display()
        ),
        "Dir::Etc::SourceParts=/dev/null".into(),
        format!("Dir::State::Lists={}", root.join("lists").display()),
        format!("Dir::Cache={}", root.join("cache").display()),
        format!("Dir::State::status={}", status.display()),
        // apt's download methods drop to the `_apt` user, who cannot enter a private scratch
        // directory or a project under a 0700 home. The rehearsal reads only airlock's own
        // files, with no network, so the methods run as the caller.
        "APT::Sandbox::User=root".into(),
        format!("APT::Install-Recommends={}", lock.recommends),
        format!("APT::Architecture={}", lock.architecture),
        format!("APT::Architectures={}", lock.architectures().join(",")),
    ];
    let run = |verb: &[&str]| -> Result<std::process::Output, String> {
        let mut command = crate::sandbox::offline("apt-get")?;
        command.arg("-q");
        for option in &options {
            command.args(["-o", option]);
        }
        command.args(verb).output().map_err(|e| e.to_string())
    };
    let update = match run(&["update"]) {
        Ok(output) => output,
        Err(error) => {
            return vec![finding(
                Severity::Error,
                format!("cannot run apt-get with no network: {error}"),
            )];
        }
    };
    let update_err = String::from_utf8_lossy(&update.stderr);
    if update_err.starts_with("unshare:") || !update.status.success() {
        return vec![finding(
            Severity::Error,
            format!(
                "apt-get update against the local repository failed offline: {}",
                update_err.trim()
            ),
        )];
    }
    // `--`: names come from the lock, and a name starting with `-` must not become an option.
    let mut args = vec!["install", "-s", "--"];
    args.extend(lock.requested.iter().map(String::as_str));
    let install = match run(&args) {
        Ok(output) => output,
        Err(error) => return vec![finding(Severity::Error, error.to_string())],
    };
    if !install.status.success() {
        return vec![finding(
            Severity::Error,
            format!(
                "apt-get install -s cannot install the requested packages from the local repository alone: {}",
                apt_problems(&install.stdout, &install.stderr)
            ),
        )];
    }
    let planned: BTreeSet<String> = String::from_utf8_lossy(&install.stdout)
        .lines()
        .filter_map(|line| line.strip_prefix("Inst "))
        .filter_map(|rest| {
            let name = rest.split_whitespace().next()?;
            let version = rest.split_once('(')?.1.split_whitespace().next()?;
            Some(format!("{name}={version}"))
        })
        .collect();
    let locked: BTreeSet<String> = lock
        .packages
        .iter()
        .map(|p| format!("{}={}", lock.apt_name(p), p.version))
        .collect();
    if planned == locked {
        Vec::new()
    } else {
        vec![Finding::new(
            "RH102",
            Severity::Error,
            "lockfiles/apt.lock.toml",
            None,
            format!(
                "apt would install another set offline: adds {:?}, drops {:?}",
                planned.difference(&locked).collect::<Vec<_>>(),
                locked.difference(&planned).collect::<Vec<_>>()
            ),
        )]
    }
}
