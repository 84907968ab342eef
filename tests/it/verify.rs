//! `airlock verify`: a good wheelhouse passes (also with no network at all); each seeded defect
//! is reported with its rule ID and location.

use crate::fetch_support::{resolved, wheels};
use crate::support::{FakeIndex, Project, assert_mentions, build_wheel, scenario_package, text};
use crate::{BASIC, project_with};

const CORELIB_X86: &str = "corelib-2.0-cp312-cp312-manylinux_2_17_x86_64.whl";

fn fetched(index: &FakeIndex, requirements: &str) -> Project {
    let project = resolved(index, requirements);
    project.airlock().arg("fetch").assert().success();
    project
}

/// Runs verify, expects `code`, returns stderr (text findings go to stderr).
fn verify(project: &Project, code: i32) -> String {
    project.stderr_of(&["verify"], code)
}

#[test]
fn a_good_wheelhouse_verifies_and_needs_no_network() {
    let index = FakeIndex::start(BASIC);
    let project = fetched(&index, "webapp[fast]\n");
    let seen = index.requests().len();
    let stderr = verify(&project, 0);
    assert_mentions(&stderr, &["0 finding(s)"]);
    assert_eq!(index.requests().len(), seen, "verify sends no request");
    // Inside a network namespace with no interfaces: it must still pass.
    let mut command = project.command();
    command.arg("verify");
    let program = command.get_program().to_owned();
    let mut offline = std::process::Command::new("unshare");
    offline
        .arg("-n")
        .arg(program)
        .arg("verify")
        .current_dir(project.path());
    for (key, value) in command.get_envs() {
        match value {
            Some(value) => offline.env(key, value),
            None => offline.env_remove(key),
        };
    }
    let output = offline.output();
    let refused = |stderr: &str| stderr.starts_with("unshare:");
    match output {
        Ok(output) if !refused(&text(&output.stderr)) => {
            assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
            assert_mentions(&text(&output.stderr), &["0 finding(s)"]);
            eprintln!("verified inside a network namespace with no interfaces");
        }
        _ => crate::support::skip("the namespace run: unshare -n is not permitted here"),
    }
}

#[test]
fn missing_tampered_symlinked_and_stray_files_are_reported() {
    let index = FakeIndex::start(BASIC);
    let project = fetched(&index, "webapp\n");
    let wheelhouse = project.path().join("wheelhouse");
    std::fs::remove_file(wheelhouse.join("webapp-1.0-py3-none-any.whl")).unwrap();
    std::fs::write(wheelhouse.join(CORELIB_X86), b"not a wheel").unwrap();
    let aarch = "corelib-2.0-cp311-cp311-manylinux_2_17_aarch64.whl";
    std::fs::rename(wheelhouse.join(aarch), project.path().join(aarch)).unwrap();
    std::os::unix::fs::symlink(project.path().join(aarch), wheelhouse.join(aarch)).unwrap();
    std::fs::write(wheelhouse.join("stray-1.0-py3-none-any.whl"), b"?").unwrap();
    let stderr = verify(&project, 1);
    assert_mentions(
        &stderr,
        &[
            "wheelhouse/webapp-1.0-py3-none-any.whl: error AL101: webapp-1.0-py3-none-any.whl is missing (webapp 1.0)",
            &format!("wheelhouse/{CORELIB_X86}: error AL102: {CORELIB_X86} has sha256"),
            &format!("wheelhouse/{aarch}: error AL104:"),
            "wheelhouse/stray-1.0-py3-none-any.whl: warning AL103",
            "error AL201: the wheelhouse alone cannot resolve requirements/app.in for cp3.12 on x86_64-manylinux_2_36",
            "webapp was not found in the wheelhouse",
        ],
    );
}

#[test]
fn a_wheel_with_a_traversal_entry_is_refused() {
    let scenario = r#"
[[package]]
name = "evil"
version = "1.0"
extra-entries = ["../../etc/cron.d/evil"]
"#;
    let index = FakeIndex::start(scenario);
    let project = resolved(&index, "evil\n");
    // Its digest is the index's, but fetch refuses it: nothing lands in the wheelhouse.
    let stderr = project.stderr_of(&["fetch"], 2);
    assert_mentions(
        &stderr,
        &[
            "evil-1.0-py3-none-any.whl has the locked sha256 but is refused: AL105 entry \"../../etc/cron.d/evil\" points outside the install directory",
        ],
    );
    let wheelhouse = project.path().join("wheelhouse");
    assert!(!wheelhouse.join("evil-1.0-py3-none-any.whl").exists());
    let leftovers: Vec<_> = std::fs::read_dir(&wheelhouse)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|name| name.to_string_lossy().starts_with(".airlock-partial"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // Put there by other means, verify reports it.
    let (filename, bytes, _) = build_wheel(
        &scenario_package(
            "name = \"evil\"\nversion = \"1.0\"\nextra-entries = [\"../../etc/cron.d/evil\"]",
        ),
        "py3-none-any",
    );
    std::fs::write(wheelhouse.join(filename), bytes).unwrap();
    let stderr = verify(&project, 1);
    assert_mentions(
        &stderr,
        &[
            "wheelhouse/evil-1.0-py3-none-any.whl: error AL105: entry \"../../etc/cron.d/evil\" points outside the install directory",
        ],
    );
}

#[test]
fn a_stray_newer_wheel_changes_the_resolution_and_is_caught() {
    let index = FakeIndex::start(BASIC);
    let project = project_with("webapp\ncorelib<2\n", &index);
    project.airlock().arg("resolve").assert().success();
    project.airlock().arg("fetch").assert().success();
    // The requirements now allow 2.0 (a stale lock), and a 2.0 wheel sits in the wheelhouse.
    project.write("requirements/app.in", "webapp\n");
    let package = scenario_package("name = \"corelib\"\nversion = \"2.0\"\n");
    let (filename, bytes, _) = build_wheel(&package, "py3-none-any");
    std::fs::write(project.path().join("wheelhouse").join(&filename), bytes).unwrap();
    let stderr = verify(&project, 1);
    assert_mentions(
        &stderr,
        &[
            "requirements/app.in: error AL203: lockfiles/pylock.app.toml was made from other inputs",
            "wheelhouse/corelib-2.0-py3-none-any.whl: warning AL103",
            "error AL202: cp3.12 on x86_64-manylinux_2_36: the lock pins corelib 1.0 (corelib-1.0-py3-none-any.whl) (a direct requirement), but the wheelhouse resolves to 2.0 (corelib-2.0-py3-none-any.whl)",
        ],
    );
}

#[test]
fn a_transitive_difference_shows_the_chain_that_needs_it() {
    let index = FakeIndex::start(BASIC);
    let project = fetched(&index, "webapp\n");
    let package = scenario_package("name = \"corelib\"\nversion = \"2.5\"\n");
    let (filename, bytes, _) = build_wheel(&package, "py3-none-any");
    std::fs::write(project.path().join("wheelhouse").join(&filename), bytes).unwrap();
    let stderr = verify(&project, 1);
    assert_mentions(
        &stderr,
        &[
            "the lock pins corelib 2.0 (corelib-2.0-cp312-cp312-manylinux_2_17_x86_64.whl) (needed by webapp -> corelib), but the wheelhouse resolves to 2.5",
        ],
    );
}

#[test]
fn sarif_and_json_outputs_carry_rule_ids_and_locations() {
    let index = FakeIndex::start(BASIC);
    let project = fetched(&index, "webapp\n");
    std::fs::remove_file(
        project
            .path()
            .join("wheelhouse/webapp-1.0-py3-none-any.whl"),
    )
    .unwrap();
    let output = project
        .airlock()
        .args(["verify", "--format", "sarif"])
        .assert()
        .code(1)
        .get_output()
        .clone();
    let sarif: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    let missing = results.iter().find(|r| r["ruleId"] == "AL101").unwrap();
    assert_eq!(
        missing["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        "wheelhouse/webapp-1.0-py3-none-any.whl"
    );
    let output = project
        .airlock()
        .args(["verify", "--format", "json"])
        .assert()
        .code(1)
        .get_output()
        .clone();
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["ok"], false);
    assert!(
        json["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["rule"] == "AL101")
    );
    assert_eq!(wheels(&project, "wheelhouse").len(), 2);
}

#[test]
fn rehearse_runs_pip_offline_against_the_wheelhouse() {
    // A target the local Python matches exactly, so pip's rehearsal is exact.
    let Ok(output) = std::process::Command::new("python3")
        .args([
            "-c",
            "import sys, pip; print('%d.%d' % sys.version_info[:2])",
        ])
        .output()
    else {
        crate::support::skip("no python3 here");
        return;
    };
    let version = text(&output.stdout).trim().to_string();
    if !output.status.success() || version.is_empty() {
        crate::support::skip("python3 has no pip");
        return;
    }
    let index = FakeIndex::start(BASIC);
    let project = Project::new();
    project.write("requirements/app.in", "webapp[fast]\n");
    project.write(
        "airlock.toml",
        &format!(
            "[python]\nrequirements = [\"requirements/app.in\"]\nindex-url = \"{}\"\ntargets = [{{ python-version = \"{version}\", python-platform = \"x86_64-manylinux_2_36\" }}]\n",
            index.url
        ),
    );
    if std::env::consts::ARCH != "x86_64" {
        crate::support::skip("the scenario's wheels are for x86_64 hosts");
        return;
    }
    project.airlock().arg("sync").assert().success();
    let output = project
        .airlock()
        .args(["verify", "--rehearse"])
        .output()
        .unwrap();
    let stderr = text(&output.stderr);
    if output.status.code() == Some(2) && stderr.contains("network namespaces") {
        crate::support::skip(&stderr);
        return;
    }
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert_mentions(&stderr, &["0 finding(s)"]);
    // Without one wheel, pip itself cannot install offline.
    let wheelhouse = project.path().join("wheelhouse");
    let corelib = std::fs::read_dir(&wheelhouse)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("corelib")
        })
        .unwrap();
    std::fs::remove_file(corelib).unwrap();
    let stderr = project.stderr_of(&["verify", "--rehearse"], 1);
    assert_mentions(
        &stderr,
        &[
            "error RH001:",
            "pip cannot install from the wheelhouse alone (offline, in a network namespace)",
            "corelib",
        ],
    );
}

#[test]
fn rehearse_calls_a_difference_of_the_patch_level_alone_a_note() {
    // pip runs on this machine's Python (3.X.Y); the target is written 3.X, resolved as
    // 3.X.0. A dependency only older patch releases need is locked, and pip skips it.
    let Ok(output) = std::process::Command::new("python3")
        .args([
            "-c",
            "import sys, pip; print('%d.%d.%d' % sys.version_info[:3])",
        ])
        .output()
    else {
        crate::support::skip("no python3 here");
        return;
    };
    let full = text(&output.stdout).trim().to_string();
    let parts: Vec<&str> = full.split('.').collect();
    if !output.status.success() || parts.len() != 3 {
        crate::support::skip("python3 has no pip");
        return;
    }
    if parts[2] == "0" || std::env::consts::ARCH != "x86_64" {
        crate::support::skip("needs an x86_64 host whose Python is past its .0 release");
        return;
    }
    let minor = format!("{}.{}", parts[0], parts[1]);
    let index = FakeIndex::start(&format!(
        r#"
[[package]]
name = "app"
version = "1.0"
requires-dist = ["oldfix ; python_full_version < '{full}'"]

[[package]]
name = "oldfix"
version = "1.0"
"#
    ));
    let project = Project::new();
    project.write("requirements/app.in", "app\n");
    project.write(
        "airlock.toml",
        &format!(
            "[python]\nrequirements = [\"requirements/app.in\"]\nindex-url = \"{}\"\ntargets = [{{ python-version = \"{minor}\", python-platform = \"x86_64-manylinux_2_36\" }}]\n",
            index.url
        ),
    );
    project.airlock().arg("sync").assert().success();
    assert!(project.read("lockfiles/pylock.app.toml").contains("oldfix"));
    let output = project
        .airlock()
        .args(["verify", "--rehearse"])
        .output()
        .unwrap();
    let stderr = text(&output.stderr);
    if output.status.code() == Some(2) && stderr.contains("network namespaces") {
        crate::support::skip(&stderr);
        return;
    }
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert_mentions(
        &stderr,
        &[
            "note RH002",
            "the lock pins oldfix 1.0, but pip would not install it",
            &format!("only the patch level: pip runs on Python {full}"),
        ],
    );
}
