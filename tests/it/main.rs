//! End-to-end tests: the real `airlock` binary against a fake index on 127.0.0.1.

mod apt;
mod build;

mod bundle;
mod export;
mod fetch;
mod hostile;
mod lint;
mod parse_speed;
mod registry;
mod sbom;
mod sdist;
mod serve;
mod settings;
mod support;
mod verify;

/// Helpers the fetch tests define, shared with the verify tests.
mod fetch_support {
    pub use crate::fetch::{resolved, wheels};
}

use support::{FakeIndex, Fault, Project, TlsFront, assert_mentions, text};

const BASIC: &str = r#"
[[package]]
name = "webapp"
version = "1.0"
requires-dist = ["corelib>=1", "speedups ; extra == 'fast'", "winonly ; sys_platform == 'win32'"]
sdist = true

[[package]]
name = "corelib"
version = "1.0"

[[package]]
name = "corelib"
version = "2.0"
tags = ["cp312-cp312-manylinux_2_17_x86_64", "cp311-cp311-manylinux_2_17_aarch64", "cp312-cp312-win_amd64"]

[[package]]
name = "corelib"
version = "3.0b1"

[[package]]
name = "speedups"
version = "0.5"
requires-python = ">=3.12"

[[package]]
name = "speedups"
version = "0.4"

[[package]]
name = "winonly"
version = "1.0"
"#;

const TWO_TARGETS: &[&str] = &[
    "--python-version",
    "3.12",
    "--python-platform",
    "x86_64-manylinux_2_36",
    "--python-version",
    "3.11",
    "--python-platform",
    "aarch64-manylinux_2_28",
];

fn project_with(requirements: &str, index: &FakeIndex) -> Project {
    let project = Project::new();
    project.write("requirements/app.in", requirements);
    project.write(
        "airlock.toml",
        &format!(
            "[python]\nrequirements = [\"requirements/app.in\"]\nindex-url = \"{}\"\ntargets = [\n  {{ python-version = \"3.12\", python-platform = \"x86_64-manylinux_2_36\" }},\n  {{ python-version = \"3.11\", python-platform = \"aarch64-manylinux_2_28\" }},\n]\n",
            index.url
        ),
    );
    project
}

fn pins(lock: &str) -> Vec<Vec<String>> {
    let value: toml::Value = toml::from_str(lock).unwrap();
    value["tool"]["airlock"]["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|target| {
            target["pins"]
                .as_array()
                .unwrap()
                .iter()
                .map(|pin| {
                    format!(
                        "{}=={}",
                        pin["name"].as_str().unwrap(),
                        pin["version"].as_str().unwrap()
                    )
                })
                .collect()
        })
        .collect()
}

#[test]
fn resolves_two_targets_into_one_deterministic_pep751_lock() {
    let index = FakeIndex::start(BASIC);
    let project = project_with("webapp[fast]\n", &index);
    let stderr = project.stderr_of(&["resolve"], 0);
    assert!(
        stderr.contains("wrote lockfiles/pylock.app.toml"),
        "{}",
        stderr
    );
    let lock = project.read("lockfiles/pylock.app.toml");
    assert_eq!(
        pins(&lock),
        [
            vec!["corelib==2.0", "speedups==0.5", "webapp==1.0"],
            vec!["corelib==2.0", "speedups==0.4", "webapp==1.0"],
        ]
    );
    let value: toml::Value = toml::from_str(&lock).unwrap();
    assert_eq!(value["lock-version"].as_str(), Some("1.0"));
    let packages = value["packages"].as_array().unwrap();
    let corelib = packages
        .iter()
        .find(|p| p["name"].as_str() == Some("corelib"))
        .unwrap();
    assert!(
        corelib.get("marker").is_none(),
        "same version on both targets"
    );
    let wheels: Vec<&str> = corelib["wheels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        wheels,
        [
            "corelib-2.0-cp311-cp311-manylinux_2_17_aarch64.whl",
            "corelib-2.0-cp312-cp312-manylinux_2_17_x86_64.whl"
        ],
        "every wheel some target can install, and only those"
    );
    assert_eq!(
        corelib["wheels"][1]["hashes"]["sha256"].as_str().unwrap(),
        index.wheel_sha256("corelib-2.0-cp312-cp312-manylinux_2_17_x86_64.whl")
    );
    let speedups: Vec<_> = packages
        .iter()
        .filter(|p| p["name"].as_str() == Some("speedups"))
        .collect();
    assert_eq!(speedups.len(), 2);
    assert!(speedups.iter().all(|p| p.get("marker").is_some()));
    let webapp = packages
        .iter()
        .find(|p| p["name"].as_str() == Some("webapp"))
        .unwrap();
    assert!(webapp.get("sdist").is_some(), "the sdist is recorded");
    assert!(
        !lock.contains("winonly"),
        "markers are evaluated for the targets, not the host"
    );

    // Same inputs, same index: byte-identical, and the second run says so.
    let stderr = project.stderr_of(&["resolve"], 0);
    assert!(stderr.contains("is unchanged"));
    assert_eq!(project.read("lockfiles/pylock.app.toml"), lock);
}

#[test]
fn check_reports_missing_and_stale_locks_and_writes_nothing() {
    let index = FakeIndex::start(BASIC);
    let project = project_with("webapp\n", &index);
    let stderr = project.stderr_of(&["resolve", "--check"], 1);
    assert!(stderr.contains("lockfiles/pylock.app.toml is missing"));
    assert!(!project.path().join("lockfiles").exists());
    project.airlock().arg("resolve").assert().success();
    let before = project.read("lockfiles/pylock.app.toml");
    let requests = index.requests().len();
    project
        .airlock()
        .args(["resolve", "--check"])
        .assert()
        .success();
    assert_eq!(index.requests().len(), requests, "--check needs no network");
    project.write("requirements/app.in", "webapp\ncorelib<2\n");
    let output = project
        .airlock()
        .args(["resolve", "--check", "--format", "json"])
        .assert()
        .code(1)
        .get_output()
        .clone();
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(summary["ok"], false);
    assert_eq!(summary["locks"][0]["status"], "stale");
    assert_eq!(project.read("lockfiles/pylock.app.toml"), before);
}

#[test]
fn export_writes_hash_pinned_requirements() {
    let index = FakeIndex::start(BASIC);
    let project = project_with("webapp\n", &index);
    project.airlock().arg("resolve").assert().success();
    let exported = project.stdout_of(&["export", "--format", "requirements-txt"], 0);
    let hash = index.wheel_sha256("corelib-2.0-cp312-cp312-manylinux_2_17_x86_64.whl");
    assert!(exported.contains("corelib==2.0 \\\n"), "{exported}");
    assert!(
        exported.contains(&format!("--hash=sha256:{hash}")),
        "{exported}"
    );
    assert!(exported.contains("webapp==1.0 \\\n"), "{exported}");

    // `-o` with a bare file name writes into the current directory and says nothing: its
    // parent is the empty path, which the atomic write once failed to sync after the rename.
    project.stdout_of(
        &["export", "--format", "requirements-txt", "-o", "out.txt"],
        0,
    );
    assert_eq!(project.read("out.txt"), exported);
}

#[test]
fn retries_503_with_retry_after_then_succeeds() {
    let index = FakeIndex::start(BASIC);
    index.fault(
        "/simple/corelib/",
        Fault::Status {
            status: 503,
            retry_after: Some("1".into()),
            times: 2,
        },
    );
    let project = project_with("webapp\n", &index);
    project.airlock().arg("resolve").assert().success();
    let attempts = index
        .requests()
        .iter()
        .filter(|p| *p == "/simple/corelib/")
        .count();
    assert_eq!(attempts, 3, "two 503s, then success");
}

#[test]
fn a_retry_after_of_a_day_is_an_error_not_a_sleep() {
    let index = FakeIndex::start(BASIC);
    index.fault(
        "/simple/webapp/",
        Fault::Status {
            status: 429,
            retry_after: Some("86400".into()),
            times: 1,
        },
    );
    let project = project_with("webapp\n", &index);
    let stderr = project.stderr_of(&["resolve"], 2);
    assert_mentions(&stderr, &["/simple/webapp/ asked to retry after 86400 s"]);
}

#[test]
fn unknown_project_names_the_requirement_line() {
    let index = FakeIndex::start(BASIC);
    let project = project_with("webapp\nno-such-thing>=1\n", &index);
    let stderr = project.stderr_of(&["resolve"], 2);
    assert_mentions(
        &stderr,
        &[
            "no-such-thing was not found in the index",
            "requirements/app.in:2: no-such-thing>=1",
        ],
    );
    assert!(
        !project.path().join("lockfiles/pylock.app.toml").exists(),
        "no half-written lock"
    );
}

#[test]
fn unsatisfiable_requirements_get_a_derivation_with_lines() {
    let index = FakeIndex::start(BASIC);
    let project = project_with("webapp\ncorelib>=9\n", &index);
    let stderr = project.stderr_of(&["resolve"], 2);
    assert_mentions(
        &stderr,
        &[
            "no resolution for cp3.12 on x86_64-manylinux_2_36",
            "requirements/app.in:2: corelib>=9",
        ],
    );
}

#[test]
fn no_wheel_for_the_target_is_explained() {
    let index = FakeIndex::start(BASIC);
    let project = project_with("corelib>=2,<3\n", &index);
    let stderr = project.stderr_of(
        &[
            "resolve",
            "--python-version",
            "3.12",
            "--python-platform",
            "aarch64-apple-darwin",
        ],
        2,
    );
    assert_mentions(
        &stderr,
        &[
            "corelib 2.0 has no wheel for cp3.12 on aarch64-macos_13_0 (among its wheels: cp3",
            "requirements/app.in requires corelib >=2, <3",
        ],
    );
}

#[test]
fn html_index_pages_work() {
    let index = FakeIndex::start(BASIC);
    for project in ["webapp", "corelib"] {
        index.fault(&format!("/simple/{project}/"), Fault::HtmlOnly);
    }
    let project = project_with("webapp\n", &index);
    project.airlock().arg("resolve").assert().success();
    assert_eq!(
        pins(&project.read("lockfiles/pylock.app.toml"))[0],
        ["corelib==2.0", "webapp==1.0"]
    );
}

#[test]
fn html_labelled_as_json_is_reported_with_the_url() {
    let index = FakeIndex::start(BASIC);
    index.fault("/simple/webapp/", Fault::HtmlAsJson);
    let project = project_with("webapp\n", &index);
    let stderr = project.stderr_of(&["resolve"], 2);
    assert_mentions(&stderr, &["/simple/webapp/ is not valid PEP 691 JSON"]);
}

#[test]
fn a_wrong_metadata_hash_is_refused() {
    let index = FakeIndex::start(BASIC);
    index.fault("/simple/corelib/", Fault::WrongMetadataHash);
    let project = project_with("webapp\n", &index);
    let stderr = project.stderr_of(&["resolve"], 2);
    assert_mentions(&stderr, &[".whl.metadata: sha256 is", &"0".repeat(64)]);
}

const NO_METADATA_FILES: &str = r#"
[[package]]
name = "plain"
version = "1.0"
requires-dist = ["dep"]
metadata-file = false

[[package]]
name = "dep"
version = "2.0"
"#;

#[test]
fn without_a_metadata_file_range_requests_read_the_wheels_directory() {
    let index = FakeIndex::start(NO_METADATA_FILES);
    let project = project_with("plain\n", &index);
    project.airlock().arg("resolve").assert().success();
    assert_eq!(
        pins(&project.read("lockfiles/pylock.app.toml"))[0],
        ["dep==2.0", "plain==1.0"]
    );
    let (ranged, whole) = index.file_responses("/files/plain-1.0-py3-none-any.whl");
    assert!(ranged >= 1, "the wheel's directory was read with ranges");
    assert_eq!(whole, 0, "the wheel was never downloaded whole");
}

#[test]
fn a_server_that_ignores_range_still_works_and_is_hash_checked() {
    let index = FakeIndex::start(NO_METADATA_FILES);
    index.fault("/files/plain-1.0-py3-none-any.whl", Fault::IgnoreRange);
    let project = project_with("plain\n", &index);
    project.airlock().arg("resolve").assert().success();
    assert_eq!(
        pins(&project.read("lockfiles/pylock.app.toml"))[0],
        ["dep==2.0", "plain==1.0"]
    );
    assert_eq!(
        index.file_responses("/files/plain-1.0-py3-none-any.whl"),
        (0, 1)
    );
}

#[test]
fn offline_uses_only_the_cache() {
    let index = FakeIndex::start(BASIC);
    let project = project_with("webapp\n", &index);
    let stderr = project.stderr_of(&["resolve", "--offline"], 2);
    assert_mentions(
        &stderr,
        &["is not in the cache and --offline forbids the network"],
    );
    assert!(index.requests().is_empty(), "offline never connects");
    project.airlock().arg("resolve").assert().success();
    let lock = project.read("lockfiles/pylock.app.toml");
    std::fs::remove_dir_all(project.path().join("lockfiles")).unwrap();
    let seen = index.requests().len();
    project
        .airlock()
        .args(["resolve", "--offline"])
        .assert()
        .success();
    assert_eq!(index.requests().len(), seen, "offline never connects");
    assert_eq!(project.read("lockfiles/pylock.app.toml"), lock);
}

#[test]
fn first_index_wins_over_an_extra_index() {
    let private = FakeIndex::start("[[package]]\nname = \"internal-lib\"\nversion = \"1.0\"\n");
    let public = FakeIndex::start("[[package]]\nname = \"internal-lib\"\nversion = \"99.0\"\n");
    let project = Project::new();
    project.write("r.in", "internal-lib\n");
    let resolve = |strategy: &str| {
        project
            .airlock()
            .args([
                "resolve",
                "-r",
                "r.in",
                "--index-url",
                &private.url,
                "--extra-index-url",
                &public.url,
            ])
            .args(["--index-strategy", strategy])
            .args(&TWO_TARGETS[..4])
            .assert()
            .success();
        pins(&project.read("lockfiles/pylock.r.toml"))[0].clone()
    };
    assert_eq!(resolve("first-index"), ["internal-lib==1.0"]);
    assert_eq!(resolve("unsafe-best-match"), ["internal-lib==99.0"]);
}

#[test]
fn credentials_never_reach_the_lock_or_the_output() {
    let index = FakeIndex::start(BASIC);
    let project = project_with("webapp\n", &index);
    let with_credentials = index.url.replace("http://", "http://deploy:s3cret@");
    let output = project
        .airlock()
        .arg("resolve")
        .env("PIP_INDEX_URL", &with_credentials)
        .assert()
        .success()
        .get_output()
        .clone();
    assert!(!text(&output.stderr).contains("s3cret"));
    assert!(!project.read("lockfiles/pylock.app.toml").contains("s3cret"));
    let output = project
        .airlock()
        .args(["resolve", "-v"])
        .env("PIP_INDEX_URL", &with_credentials)
        .assert()
        .success()
        .get_output()
        .clone();
    let stderr = text(&output.stderr);
    assert_mentions(
        &stderr,
        &[&format!(
            "indexes {} (primary from PIP_INDEX_URL)",
            index.url
        )],
    );
    assert!(!stderr.contains("s3cret"), "{stderr}");
}

#[test]
fn requirement_file_errors_name_file_and_line() {
    let index = FakeIndex::start(BASIC);
    let project = project_with(
        "webapp\n-e ./src/app\ngit+https://127.0.0.1/repo.git\n-r more.in\n",
        &index,
    );
    project.write("requirements/more.in", "corelib==${MISSING_VERSION}\n");
    let stderr = project.stderr_of(&["resolve"], 2);
    assert_mentions(
        &stderr,
        &[
            "3 problems in the requirements",
            "requirements/app.in:2: `-e ./src/app` is an editable install",
            "requirements/app.in:3: `git+https://127.0.0.1/repo.git` is a version-control source",
            "requirements/more.in:1: environment variable ${MISSING_VERSION} is not set",
        ],
    );
    assert_eq!(
        stderr.matches("is an editable install").count(),
        1,
        "each problem is said once, not again as a cause:\n{stderr}"
    );
    assert!(
        index.requests().is_empty(),
        "inputs are validated before any request"
    );
}

#[test]
fn config_errors_are_collected_and_exit_2() {
    let project = Project::new();
    project.write(
        "airlock.toml",
        "[python]\nrequirements = [\"nope.in\"]\ntargets = [{ python-version = \"3.12\", python-platform = \"x86_64-nonsense\" }]\n",
    );
    let stderr = project.stderr_of(&["resolve"], 2);
    assert_mentions(
        &stderr,
        &["python.targets[0]: unknown Python platform `x86_64-nonsense`"],
    );
    project.write(
        "airlock.toml",
        "[python]\nrequirements = [\"nope.in\"]\ntargets = [{ python-version = \"3.12\", python-platform = \"x86_64-manylinux_2_36\" }]\n",
    );
    // A missing file is a problem only for the command that reads it, named as configured.
    let stderr = project.stderr_of(&["resolve", "--offline"], 2);
    assert_mentions(
        &stderr,
        &["python.requirements[0]:", "nope.in does not exist"],
    );
    project.write("x.in", "");
    let stderr = project.stderr_of(&["resolve", "--offline", "-r", "x.in"], 0);
    assert!(
        !stderr.contains("nope.in"),
        "-r replaces the configured files:\n{stderr}"
    );
    let stderr = project.stderr_of(&["resolve", "-r", "x.in", "--python-version", "3.12"], 2);
    assert!(stderr.contains("give them in pairs"));
}

#[test]
fn yanked_files_need_an_exact_pin() {
    let scenario = r#"
[[package]]
name = "lib"
version = "2.0"
yanked = true

[[package]]
name = "lib"
version = "1.0"
"#;
    let index = FakeIndex::start(scenario);
    let project = project_with("lib\n", &index);
    project.airlock().arg("resolve").assert().success();
    assert_eq!(
        pins(&project.read("lockfiles/pylock.app.toml"))[0],
        ["lib==1.0"]
    );
    project.write("requirements/app.in", "lib==2.0\n");
    let stderr = project.stderr_of(&["resolve"], 0);
    assert_eq!(
        pins(&project.read("lockfiles/pylock.app.toml"))[0],
        ["lib==2.0"]
    );
    // PEP 592: installers warn about a pinned yanked release, and so does the lock.
    assert_mentions(
        &stderr,
        &[
            "warning: lib==2.0 is a yanked release (lib-2.0-py3-none-any.whl; the index says: no reason given); it is locked only because it is pinned with ==, and a `>=` range would skip it",
        ],
    );
}

/// Corporate networks intercept TLS with their own CA. The system store does not know
/// it, so the first run is refused with the reason and the URL; naming the CA in
/// SSL_CERT_FILE (as for pip, curl and git) is all it takes, for pages and downloads.
#[test]
fn tls_trusts_a_private_ca_named_by_ssl_cert_file() {
    let index = FakeIndex::start(BASIC);
    let front = TlsFront::start(&index);
    let project = Project::new();
    project.write("requirements.in", "webapp\n");
    let resolve = [
        "resolve",
        "-r",
        "requirements.in",
        "--index-url",
        front.url.as_str(),
        "--python-version",
        "3.12",
        "--python-platform",
        "x86_64-manylinux_2_36",
    ];
    let stderr = project.stderr_of(&resolve, 2);
    assert_mentions(
        &stderr,
        &[
            front.url.as_str(),
            "TLS certificate was refused",
            "UnknownIssuer",
            "SSL_CERT_FILE",
        ],
    );
    assert!(!project.path().join("lockfiles").exists());

    let ca = project.write("corp-ca.pem", &front.ca_pem);
    let output = project
        .airlock()
        .args(resolve)
        .env("SSL_CERT_FILE", &ca)
        .assert()
        .code(0)
        .get_output()
        .clone();
    assert_mentions(&text(&output.stderr), &["Resolved 2 packages"]);
    let lock = project.read("lockfiles/pylock.requirements.toml");
    let files = front.url.replace("/simple/", "/files/");
    assert!(
        lock.contains(&files),
        "downloads go through TLS too:\n{lock}"
    );

    let stderr = project.stderr_of(&["fetch"], 2);
    assert_mentions(&stderr, &[files.as_str(), "TLS certificate was refused"]);
    project
        .airlock()
        .args(["fetch"])
        .env("SSL_CERT_FILE", &ca)
        .assert()
        .code(0);
    assert!(
        project
            .path()
            .join("wheelhouse/corelib-2.0-cp312-cp312-manylinux_2_17_x86_64.whl")
            .is_file()
    );
}

/// A target whose manylinux is older than every wheel's: the hint names the wheels' tags and
/// the target that would take them (issue 14, as uv says "only has wheels for").
#[test]
fn no_wheel_for_an_old_manylinux_names_the_target_that_would_work() {
    let index = FakeIndex::start(
        "[[package]]\nname = \"native\"\nversion = \"1.0\"\ntags = [\"cp312-cp312-manylinux_2_28_x86_64\", \"cp312-cp312-win_amd64\"]\n",
    );
    let project = project_with("native\n", &index);
    let stderr = project.stderr_of(
        &[
            "resolve",
            "--python-version",
            "3.12",
            "--python-platform",
            "x86_64-manylinux_2_17",
        ],
        2,
    );
    assert_mentions(
        &stderr,
        &[
            "native 1.0 has no wheel for cp3.12 on x86_64-manylinux_2_17 (among its wheels: cp312-manylinux_2_28_x86_64",
            "a target of x86_64-manylinux_2_28 would take them",
        ],
    );
}
