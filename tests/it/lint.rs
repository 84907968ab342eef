//! `airlock lint` over the Dockerfile corpus in tests/dockerfiles: each file's name lists the
//! rules it seeds (`df011-no-index.Dockerfile`); `clean-*` files must have no finding at all.

use std::collections::BTreeSet;

use crate::support::{Project, text};

const LOCK_WITH_A_BUILD: &str = r#"lock-version = "1.0"
created-by = "airlock"

[tool.airlock]
schema = 2
inputs-fingerprint = "0"
requirements = "requirements/app.in"
indexes = []

[[tool.airlock.targets]]
python-version = "3.12"
python-platform = "x86_64-manylinux_2_36"
marker = ""
roots = ["legacy"]

[[tool.airlock.targets.pins]]
name = "legacy"
version = "1.0"
sdist = "legacy-1.0.tar.gz"

[[tool.airlock.sdists]]
file = "legacy-1.0.tar.gz"
sha256 = "0000000000000000000000000000000000000000000000000000000000000000"
metadata = "built"
metadata-name = "legacy"
metadata-version = "1.0"
build-requires = ["setuptools>=40.8.0", "wheel"]
"#;

/// A build context like a real project's: a wheelhouse, a lock, an exported lock.
fn project() -> Project {
    let project = Project::new();
    project.write(
        "airlock.toml",
        "[python]\nrequirements = [\"requirements/app.in\"]\ntargets = [{ python-version = \"3.12\", python-platform = \"x86_64-manylinux_2_36\" }]\n",
    );
    project.write("requirements/app.in", "six\n");
    project.write("requirements/extra.txt", "six\n");
    project.write("wheelhouse/six-1.16.0-py2.py3-none-any.whl", "");
    project.write("wheelhouse/extra/six-1.16.0-py2.py3-none-any.whl", "");
    project.write("wheelhouse/pylock.app.toml", "");
    // A lock that builds one sdist (no wheel fits its target), as DF015/DF016 need.
    project.write("lockfiles/pylock.app.toml", LOCK_WITH_A_BUILD);
    project.write(
        "requirements.lock.txt",
        &format!("six==1.16.0 \\\n    --hash=sha256:{}\n", "a".repeat(64)),
    );
    project.write(".dockerignore", ".git\nwheelhouse/extra\n");
    project
}

fn expected_rules(file_name: &str) -> BTreeSet<String> {
    file_name
        .split(['-', '.'])
        .filter(|part| {
            part.len() == 5
                && part.starts_with("df")
                && part[2..].chars().all(|c| c.is_ascii_digit())
        })
        .map(|part| part.to_ascii_uppercase())
        .collect()
}

#[test]
fn the_corpus_gets_exactly_its_seeded_findings() {
    let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/dockerfiles");
    let mut files: Vec<_> = std::fs::read_dir(&corpus)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 15, "the corpus is in tests/dockerfiles");
    let project = project();
    let mut failures = Vec::new();
    for file in &files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let output = project
            .airlock()
            .args(["lint", "--format", "json"])
            .arg(file)
            .output()
            .unwrap();
        let report: serde_json::Value = serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|e| panic!("{name}: {e}: {}", text(&output.stderr)));
        let found: BTreeSet<String> = report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["rule"].as_str().unwrap().to_string())
            .collect();
        let expected = expected_rules(&name);
        let code = output.status.code();
        let expected_code = if expected.iter().any(|r| r != "DF002") {
            Some(1)
        } else {
            Some(0)
        };
        if found != expected || code != expected_code {
            failures.push(format!("{name}: expected {expected:?} (exit {expected_code:?}), found {found:?} (exit {code:?})\n{report:#}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn lint_text_output_names_file_line_rule_and_what_to_do() {
    let project = project();
    let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/dockerfiles/df011-no-index.Dockerfile");
    let output = project
        .airlock()
        .arg("lint")
        .arg(&corpus)
        .assert()
        .code(1)
        .get_output()
        .clone();
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("df011-no-index.Dockerfile:3: error DF011: `pip install` without --no-index reaches for an index"),
        "{stderr}"
    );
}
