//! Odd and hostile indexes, wheels and archives: each scenario is something a real index, a
//! proxy or an attacker can serve, and airlock must give the right answer or a clear refusal.

use crate::support::{FakeIndex, Project, build_wheel, scenario_package, sha256_hex};

/// A project that resolves `requirements` for one target (cp3.12 x86_64) against `index`.
fn one_target_project(requirements: &str, index: &FakeIndex) -> Project {
    let project = Project::new();
    project.write("requirements.in", requirements);
    project.write(
        "airlock.toml",
        &format!(
            "[python]\nrequirements = [\"requirements.in\"]\nindex-url = \"{}\"\ntargets = [{{ python-version = \"3.12\", python-platform = \"x86_64-manylinux_2_36\" }}]\n",
            index.url
        ),
    );
    project
}

/// Builds the wheel a `[[package]]` TOML describes and serves it under `/files/`; returns its
/// file name and bytes.
fn serve_wheel(index: &FakeIndex, package_toml: &str) -> (String, Vec<u8>) {
    let (filename, bytes, _) = build_wheel(&scenario_package(package_toml), "py3-none-any");
    index.serve(&format!("/files/{filename}"), bytes.clone());
    (filename, bytes)
}

/// A PEP 691 page listing `files` (JSON objects).
fn json_page(files: &[serde_json::Value]) -> String {
    serde_json::json!({"meta": {"api-version": "1.1"}, "name": "page", "files": files}).to_string()
}

fn entry(filename: &str, hashes: serde_json::Value) -> serde_json::Value {
    serde_json::json!({"filename": filename, "url": format!("../../files/{filename}"), "hashes": hashes})
}

fn pins(project: &Project) -> Vec<String> {
    let lock: toml::Value = toml::from_str(&project.read("lockfiles/pylock.requirements.toml"))
        .expect("the lock parses");
    lock["tool"]["airlock"]["targets"][0]["pins"]
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
}

const UNUSED: &str = "[[package]]\nname = \"unused\"\nversion = \"1\"\n";

#[test]
fn a_page_entry_of_another_project_without_a_digest_or_with_a_bad_requires_python_is_refused_and_said()
 {
    let index = FakeIndex::start(UNUSED);
    let (good, good_bytes) = serve_wheel(&index, "name = \"webapp\"\nversion = \"1.0\"");
    let (unhashed, _) = serve_wheel(&index, "name = \"webapp\"\nversion = \"2.0\"");
    let (md5_only, _) = serve_wheel(&index, "name = \"webapp\"\nversion = \"2.1\"");
    let (bad_python, bad_python_bytes) =
        serve_wheel(&index, "name = \"webapp\"\nversion = \"2.2\"");
    let (evil, evil_bytes) = serve_wheel(&index, "name = \"evil\"\nversion = \"9.0\"");
    let mut bad_python_entry = entry(
        &bad_python,
        serde_json::json!({"sha256": sha256_hex(&bad_python_bytes)}),
    );
    bad_python_entry["requires-python"] = ">=three".into();
    index.serve_page(
        "/simple/webapp/",
        "application/vnd.pypi.simple.v1+json",
        &json_page(&[
            entry(
                &good,
                serde_json::json!({"sha256": sha256_hex(&good_bytes)}),
            ),
            entry(&unhashed, serde_json::json!({})),
            entry(
                &md5_only,
                serde_json::json!({"md5": "0123456789abcdef0123456789abcdef"}),
            ),
            bad_python_entry,
            entry(
                &evil,
                serde_json::json!({"sha256": sha256_hex(&evil_bytes)}),
            ),
        ]),
    );
    let project = one_target_project("webapp\n", &index);
    let stderr = project.stderr_of(&["resolve"], 0);
    assert_eq!(pins(&project), ["webapp==1.0"], "{stderr}");
    // Each refusal is said once, with its reason.
    assert!(
        stderr.contains("lists 2 file(s) airlock refuses")
            && stderr
                .contains("webapp-2.2-py3-none-any.whl (its requires-python `>=three` is invalid")
            && stderr.contains("evil-9.0-py3-none-any.whl (a wheel of evil)"),
        "{stderr}"
    );
    // The parser's caret diagram stays out of a warning about index data.
    assert!(!stderr.contains("^^^"), "{stderr}");
    assert!(
        stderr.contains("lists 2 file(s) without a sha256 (or sha384/sha512) digest")
            && stderr.contains(&unhashed)
            && stderr.contains(&md5_only),
        "{stderr}"
    );
    // Nothing of the refused files was fetched, not even their metadata.
    for name in [&unhashed, &md5_only, &bad_python, &evil] {
        assert!(
            !index
                .requests()
                .iter()
                .any(|path| path.contains(name.as_str())),
            "{name} was requested: {:?}",
            index.requests()
        );
    }
    // Pinning the version that has no digest explains why it cannot be used.
    project.write("requirements.in", "webapp==2.0\n");
    let stderr = project.stderr_of(&["resolve"], 2);
    assert!(
        stderr.contains("without a sha256 (or sha384/sha512) digest, which cannot be pinned"),
        "{stderr}"
    );
}

#[test]
fn a_file_listed_with_only_sha512_is_checked_against_it_and_locked_by_its_sha256() {
    use sha2::Digest;
    let index = FakeIndex::start(UNUSED);
    let (name, bytes) = serve_wheel(&index, "name = \"webapp\"\nversion = \"2.0\"");
    let sha512 = hex::encode(sha2::Sha512::digest(&bytes));
    index.serve_page(
        "/simple/webapp/",
        "application/vnd.pypi.simple.v1+json",
        &json_page(&[entry(&name, serde_json::json!({"sha512": sha512}))]),
    );
    let project = one_target_project("webapp\n", &index);
    project.airlock().arg("resolve").assert().success();
    let lock = project.read("lockfiles/pylock.requirements.toml");
    assert!(lock.contains(&sha256_hex(&bytes)), "{lock}");
    project.airlock().arg("fetch").assert().success();
    assert_eq!(
        std::fs::read(project.path().join("wheelhouse").join(&name)).unwrap(),
        bytes
    );

    // The same page with a sha512 the bytes do not have: refused, naming the digest and URL.
    let index = FakeIndex::start(UNUSED);
    let (name, _) = serve_wheel(&index, "name = \"webapp\"\nversion = \"2.0\"");
    index.serve_page(
        "/simple/webapp/",
        "application/vnd.pypi.simple.v1+json",
        &json_page(&[entry(&name, serde_json::json!({"sha512": "ab".repeat(64)}))]),
    );
    let project = one_target_project("webapp\n", &index);
    let stderr = project.stderr_of(&["resolve"], 2);
    assert!(
        stderr.contains("sha512") && stderr.contains(&format!("/files/{name}")),
        "{stderr}"
    );
    assert!(
        !project
            .path()
            .join("lockfiles/pylock.requirements.toml")
            .exists()
    );
}

#[test]
fn another_simple_api_version_or_a_page_that_is_not_an_index_is_an_error_naming_the_url() {
    let index = FakeIndex::start(UNUSED);
    index.serve_page(
        "/simple/webapp/",
        "application/vnd.pypi.simple.v2+json",
        r#"{"meta":{"api-version":"2.0"},"files":[]}"#,
    );
    index.serve_page(
        "/simple/other/",
        "application/octet-stream",
        "\u{1}\u{2}binary",
    );
    let project = one_target_project("webapp\n", &index);
    let stderr = project.stderr_of(&["resolve"], 2);
    assert!(
        stderr.contains("/simple/webapp/") && stderr.contains("version v2"),
        "{stderr}"
    );
    project.write("requirements.in", "other\n");
    let stderr = project.stderr_of(&["resolve"], 2);
    assert!(
        stderr.contains("/simple/other/") && stderr.contains("not a Simple API page"),
        "{stderr}"
    );
}

#[test]
fn requires_python_that_only_the_metadata_states_is_enforced() {
    let index = FakeIndex::start(UNUSED);
    let (old, old_bytes) = serve_wheel(&index, "name = \"modern\"\nversion = \"1.0\"");
    // 2.0 needs Python 3.13, but the page does not say so: only its METADATA does.
    let (new, new_bytes) = serve_wheel(
        &index,
        "name = \"modern\"\nversion = \"2.0\"\nrequires-python = \">=3.13\"",
    );
    index.serve_page(
        "/simple/modern/",
        "application/vnd.pypi.simple.v1+json",
        &json_page(&[
            entry(&old, serde_json::json!({"sha256": sha256_hex(&old_bytes)})),
            entry(&new, serde_json::json!({"sha256": sha256_hex(&new_bytes)})),
        ]),
    );
    let project = one_target_project("modern\n", &index);
    project.airlock().arg("resolve").assert().success();
    assert_eq!(pins(&project), ["modern==1.0"]);
    project.write("requirements.in", "modern>=2\n");
    let stderr = project.stderr_of(&["resolve"], 2);
    assert!(stderr.contains(">=3.13"), "{stderr}");
    assert!(!stderr.contains("Error {"), "{stderr}");
}

#[test]
fn a_release_with_invalid_metadata_is_skipped_and_repairable_metadata_is_repaired() {
    let index = FakeIndex::start(
        r#"
[[package]]
name = "mailer"
version = "1.0"
requires-dist = ["imapclient (>=2.3.0<3)"]

[[package]]
name = "mailer"
version = "2.0"
requires-dist = ["imapclient ???"]

[[package]]
name = "imapclient"
version = "2.4"

[[package]]
name = "imapclient"
version = "3.0"
"#,
    );
    let project = one_target_project("mailer\n", &index);
    let stderr = project.stderr_of(&["resolve"], 0);
    // 2.0's Requires-Dist is beyond repair: skipped with a warning naming it.
    assert!(
        stderr.contains("mailer 2.0 was ruled out") && stderr.contains("imapclient ???"),
        "{stderr}"
    );
    // 1.0's `>=2.3.0<3` reads as `>=2.3.0,<3`, as uv reads it.
    assert_eq!(pins(&project), ["imapclient==2.4", "mailer==1.0"]);
}

#[test]
fn less_or_equal_admits_a_local_variant_as_pip_does() {
    let index = FakeIndex::start(
        r#"
[[package]]
name = "torch"
version = "2.1.0+cu118"

[[package]]
name = "torch"
version = "2.0.0"
"#,
    );
    let project = one_target_project("torch<=2.1.0\n", &index);
    project.airlock().arg("resolve").assert().success();
    assert_eq!(pins(&project), ["torch==2.1.0+cu118"]);
}

#[test]
fn an_index_error_names_the_line_that_chose_the_index() {
    // A port that was free a moment ago: nothing answers there.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let project = Project::new();
    project.write(
        "requirements.in",
        &format!("# the team's mirror\n--index-url http://127.0.0.1:{closed}/simple/\nsix\n"),
    );
    let flags = [
        "resolve",
        "-r",
        "requirements.in",
        "--python-version",
        "3.12",
        "--python-platform",
        "x86_64-manylinux_2_36",
    ];
    let stderr = project.stderr_of(&flags, 2);
    assert!(
        stderr.contains(&format!(
            "http://127.0.0.1:{closed}/simple/six/ (the index set by requirements.in:2)"
        )),
        "{stderr}"
    );
    project.write(
        "requirements.in",
        "six\n--extra-index-url ftp://mirror.invalid/\n",
    );
    let stderr = project.stderr_of(&flags, 2);
    assert!(
        stderr.contains("requirements.in:2: invalid index URL `ftp://mirror.invalid/`"),
        "{stderr}"
    );
}

#[test]
fn an_empty_requirements_file_and_an_unknown_extra_are_said() {
    let index = FakeIndex::start(
        r#"
[[package]]
name = "webapp"
version = "1.0"
requires-dist = ["speedups ; extra == 'fast'"]

[[package]]
name = "speedups"
version = "1.0"
"#,
    );
    let project = one_target_project("# nothing yet\n", &index);
    let stderr = project.stderr_of(&["resolve"], 0);
    assert!(
        stderr.contains("requirements.in names no requirement; its lock will hold no package"),
        "{stderr}"
    );
    project.write("requirements.in", "webapp[turbo,fast]\n");
    let stderr = project.stderr_of(&["resolve"], 0);
    assert!(
        stderr.contains("webapp 1.0 has no extra named `turbo`"),
        "{stderr}"
    );
    assert!(!stderr.contains("extra named `fast`"), "{stderr}");
    assert_eq!(pins(&project), ["speedups==1.0", "webapp==1.0"]);
}

#[test]
fn a_flags_only_lock_with_a_backslash_in_its_file_name_verifies_from_anywhere() {
    let index = FakeIndex::start(UNUSED);
    let (name, bytes) = serve_wheel(&index, "name = \"webapp\"\nversion = \"1.0\"");
    index.serve_page(
        "/simple/webapp/",
        "application/vnd.pypi.simple.v1+json",
        &json_page(&[entry(
            &name,
            serde_json::json!({"sha256": sha256_hex(&bytes)}),
        )]),
    );
    let outer = Project::new();
    let project_dir = outer.path().join("project");
    std::fs::create_dir_all(&project_dir).unwrap();
    // On Linux a backslash is a character of a file name like any other.
    std::fs::write(project_dir.join("req\\uirements.in"), "webapp\n").unwrap();
    let run = |dir: &std::path::Path, args: &[&str], code: i32| {
        let output = outer
            .airlock()
            .current_dir(dir)
            .args(args)
            .assert()
            .code(code)
            .get_output()
            .clone();
        crate::support::text(&output.stderr)
    };
    run(
        &project_dir,
        &[
            "resolve",
            "-r",
            "req\\uirements.in",
            "--index-url",
            &index.url,
            "--python-version",
            "3.12",
            "--python-platform",
            "x86_64-manylinux_2_36",
        ],
        0,
    );
    let lock =
        std::fs::read_to_string(project_dir.join("lockfiles/pylock.req-uirements.toml")).unwrap();
    assert!(
        lock.contains("requirements = 'req\\uirements.in'"),
        "{lock}"
    );
    run(&project_dir, &["fetch"], 0);
    let stderr = run(&project_dir, &["verify"], 0);
    assert!(stderr.contains("0 finding(s)"), "{stderr}");
    // From the directory above, naming the project's lockfiles and wheelhouse.
    let stderr = run(
        outer.path(),
        &[
            "verify",
            "--lockfiles",
            "project/lockfiles",
            "--wheelhouse",
            "project/wheelhouse",
        ],
        0,
    );
    assert!(stderr.contains("0 finding(s)"), "{stderr}");
}

/// A page whose every file is refused is not "not found": the error says the project was
/// found, how many files were refused and why.
#[test]
fn a_project_whose_every_file_is_refused_is_said_to_be_found() {
    let index = FakeIndex::start(UNUSED);
    let (evil, evil_bytes) = serve_wheel(&index, "name = \"evil\"\nversion = \"9.0\"");
    index.serve_page(
        "/simple/webapp/",
        "application/vnd.pypi.simple.v1+json",
        &json_page(&[
            entry(
                &evil,
                serde_json::json!({"sha256": sha256_hex(&evil_bytes)}),
            ),
            entry(
                "../webapp-1.0-py3-none-any.whl",
                serde_json::json!({"sha256": "00".repeat(32)}),
            ),
        ]),
    );
    let project = one_target_project("webapp\n", &index);
    let stderr = project.stderr_of(&["resolve"], 2);
    crate::support::assert_mentions(
        &stderr,
        &[
            "webapp was found in",
            "but all 2 of its file(s) were refused:",
            "evil-9.0-py3-none-any.whl (a wheel of evil)",
            "../webapp-1.0-py3-none-any.whl (",
        ],
    );
    assert!(!stderr.contains("was not found"), "{stderr}");
}

/// An index whose `.metadata` file (PEP 658/714) lists fewer dependencies than the wheel's own
/// METADATA: the lock misses one. fetch, which has the wheel, says so, naming the wheel, the
/// requirement and the lock.
#[test]
fn a_metadata_file_that_lies_about_the_wheel_is_caught_at_fetch() {
    let index = FakeIndex::start(UNUSED);
    let (wheel, wheel_bytes) = serve_wheel(
        &index,
        "name = \"webapp\"\nversion = \"1.0\"\nrequires-dist = [\"corelib>=1\"]",
    );
    let lying = b"Metadata-Version: 2.1\nName: webapp\nVersion: 1.0\n".to_vec();
    index.serve(&format!("/files/{wheel}.metadata"), lying.clone());
    let mut listed = entry(
        &wheel,
        serde_json::json!({"sha256": sha256_hex(&wheel_bytes)}),
    );
    listed["core-metadata"] = serde_json::json!({"sha256": sha256_hex(&lying)});
    index.serve_page(
        "/simple/webapp/",
        "application/vnd.pypi.simple.v1+json",
        &json_page(&[listed]),
    );
    let project = one_target_project("webapp\n", &index);
    project.stderr_of(&["resolve"], 0);
    assert_eq!(
        pins(&project),
        ["webapp==1.0"],
        "the lying metadata leaves corelib out"
    );
    let stderr = project.stderr_of(&["fetch"], 2);
    crate::support::assert_mentions(
        &stderr,
        &[
            "the wheels' own METADATA disagrees with the metadata the locks were made from",
            &format!("{wheel}: the wheel requires `corelib>=1`"),
            "does not record as a dependency of webapp 1.0",
        ],
    );
}
