//! The settings layer end to end: a project with no airlock.toml is resolved with flags, and
//! `resolve --check`, `sync` and `verify` read the settings back from its locks.

use crate::BASIC;
use crate::support::{FakeIndex, Project, assert_mentions};

const FLAGS_TARGET: [&str; 4] = [
    "--python-version",
    "3.12",
    "--python-platform",
    "x86_64-manylinux_2_36",
];

#[test]
fn a_flags_only_project_checks_syncs_and_verifies_without_the_flags_again() {
    let index = FakeIndex::start(BASIC);
    let project = Project::new();
    project.write("requirements.in", "webapp\n");
    let mut resolve = vec![
        "resolve",
        "-r",
        "requirements.in",
        "--index-url",
        &index.url,
    ];
    resolve.extend(FLAGS_TARGET);
    resolve.extend(["--only-binary", ":all:", "--prerelease", "disallow"]);
    project.stderr_of(&resolve, 0);
    let lock = project.read("lockfiles/pylock.requirements.toml");
    // The flags' settings are recorded (the defaults are not written).
    assert!(
        lock.contains("binary = [\"--only-binary=:all:\"]"),
        "{lock}"
    );
    assert!(lock.contains("prerelease = \"disallow\""), "{lock}");
    project.stderr_of(&["fetch"], 0);
    let requests = index.requests().len();
    let stderr = project.stderr_of(&["resolve", "--check"], 0);
    assert_mentions(
        &stderr,
        &["lockfiles/pylock.requirements.toml is up to date"],
    );
    let stderr = project.stderr_of(&["sync"], 0);
    assert_mentions(&stderr, &["is up to date"]);
    let stderr = project.stderr_of(&["verify"], 0);
    assert_mentions(&stderr, &["0 finding(s)"]);
    assert_eq!(index.requests().len(), requests, "no request was needed");
    // A flag that differs from the record is named.
    let stderr = project.stderr_of(
        &[
            "resolve",
            "--check",
            "--python-version",
            "3.11",
            "--python-platform",
            "aarch64-manylinux_2_28",
        ],
        1,
    );
    assert_mentions(
        &stderr,
        &[
            "the targets differ (the lock: 3.12 x86_64-manylinux_2_36; now: 3.11 aarch64-manylinux_2_28)",
        ],
    );
    let stderr = project.stderr_of(&["resolve", "--check", "--prerelease", "allow"], 1);
    assert_mentions(&stderr, &["the pre-release setting differs"]);
    // A changed requirements file is the inputs, said as such, in verify too.
    project.write("requirements.in", "webapp\ncorelib<3\n");
    let stderr = project.stderr_of(&["verify"], 1);
    assert_mentions(&stderr, &["AL203", "the requirements files changed"]);
}

#[test]
fn the_recorded_index_stands_in_for_pips_default_on_another_machine() {
    let index = FakeIndex::start(BASIC);
    let project = Project::new();
    project.write("requirements.in", "webapp\n");
    // The index came from the environment when the lock was made.
    let mut resolve = vec!["resolve", "-r", "requirements.in"];
    resolve.extend(FLAGS_TARGET);
    project
        .airlock()
        .args(&resolve)
        .env("PIP_INDEX_URL", &index.url)
        .assert()
        .success();
    // Here it is not set: the lock's index stands in for pip's configuration and default.
    let stderr = project.stderr_of(&["resolve", "--check"], 0);
    assert_mentions(&stderr, &["is up to date"]);
    // Naming another index is a change.
    let stderr = project.stderr_of(
        &[
            "resolve",
            "--check",
            "--index-url",
            "http://127.0.0.1:9/other/",
        ],
        1,
    );
    assert_mentions(&stderr, &["the indexes differ"]);
}
