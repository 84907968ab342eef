//! Source distributions end to end: real sdists on the fake index, their builds run by the
//! host's Python (offline where `unshare -n` works), locked, fetched, exported and verified.

use serde_json::json;

use crate::support::{
    FakeIndex, Project, assert_mentions, can_unshare_network, host_can_build, tar_gz, text,
    tiny_sdist,
};

const INDEX: &str = r#"
[[package]]
name = "corelib"
version = "1.0"

[[package]]
name = "helper"
version = "1.0"
"#;

fn project(index: &FakeIndex, requirements: &str) -> Project {
    crate::project_with(requirements, index)
}

/// The file a lock pin installs or builds.
fn pin_file(pin: &toml::Value) -> &str {
    pin.get("sdist")
        .or(pin.get("wheel"))
        .and_then(|f| f.as_str())
        .unwrap()
}

/// `sdist: files of its build pins` for every build of a locked target.
fn build_summary(target: &toml::Value) -> Vec<String> {
    target["builds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            let pins: Vec<&str> = b["pins"]
                .as_array()
                .map(|pins| pins.iter().map(pin_file).collect())
                .unwrap_or_default();
            format!("{}: {}", b["sdist"].as_str().unwrap(), pins.join(" "))
        })
        .collect()
}

/// Publishes `name-version.tar.gz` built with the tests' backend: PKG-INFO at
/// `metadata_version` with `requires_dist`, and `conf` for the backend (`name` and `version`
/// are added).
pub(crate) fn publish_tiny(
    index: &FakeIndex,
    name: &str,
    version: &str,
    metadata_version: &str,
    requires_dist: &[&str],
    mut conf: serde_json::Value,
) {
    let mut pkg_info =
        format!("Metadata-Version: {metadata_version}\nName: {name}\nVersion: {version}\n");
    for requirement in requires_dist {
        pkg_info.push_str(&format!("Requires-Dist: {requirement}\n"));
    }
    conf["name"] = json!(name);
    conf["version"] = json!(version);
    index.publish(
        name,
        &format!("{name}-{version}.tar.gz"),
        tiny_sdist(name, version, &pkg_info, &conf),
    );
}

pub(crate) fn skip_without_host_python() -> bool {
    if host_can_build() {
        return false;
    }
    crate::support::skip("building sdists needs python3 with pip on glibc");
    true
}

fn index_port(index: &FakeIndex) -> u16 {
    index
        .root()
        .trim_end_matches('/')
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

fn lock_value(project: &Project) -> toml::Value {
    toml::from_str(&project.read("lockfiles/pylock.app.toml")).unwrap()
}

/// `(file, origin)` of every sdist the lock records metadata for.
fn recorded_sdists(lock: &toml::Value) -> Vec<(String, String)> {
    lock["tool"]["airlock"]["sdists"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["file"].as_str().unwrap().to_string(),
                s["metadata"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn static_and_built_metadata_are_locked_fetched_exported_and_verified() {
    if skip_without_host_python() {
        return;
    }
    let index = FakeIndex::start(INDEX);
    // PEP 643 static metadata: used as it is; the backend only says what a build needs.
    publish_tiny(&index, "statics", "1.0", "2.2", &["corelib"], json!({}));
    // Metadata-Version 2.1: only the backend's hook knows the dependencies, and it asks for
    // a build requirement of its own.
    publish_tiny(
        &index,
        "dynamo",
        "1.0",
        "2.1",
        &[],
        json!({
            "requires": ["helper>=1"],
            "requires_dist": ["corelib>=1"],
            "probe": index_port(&index),
        }),
    );
    let project = project(&index, "statics\ndynamo\n");
    let stderr = project.stderr_of(&["resolve"], 0);
    assert_mentions(
        &stderr,
        &["warning: dynamo-1.0.tar.gz: its dependencies come from running its build on cp3"],
    );
    assert!(
        !stderr.contains("statics-1.0.tar.gz: its dependencies"),
        "static metadata needs no warning:\n{stderr}"
    );
    let lock = lock_value(&project);
    assert_eq!(
        recorded_sdists(&lock),
        [
            ("dynamo-1.0.tar.gz".to_string(), "built".to_string()),
            ("statics-1.0.tar.gz".to_string(), "static".to_string()),
        ]
    );
    let text_lock = project.read("lockfiles/pylock.app.toml");
    if can_unshare_network() {
        assert!(
            !text_lock.contains("network-was-reachable"),
            "the build hook reached the index: builds must run with no network"
        );
    }
    for target in lock["tool"]["airlock"]["targets"].as_array().unwrap() {
        let pins: Vec<String> = target["pins"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                format!(
                    "{}=={} {}",
                    p["name"].as_str().unwrap(),
                    p["version"].as_str().unwrap(),
                    pin_file(p)
                )
            })
            .collect();
        assert_eq!(
            pins,
            [
                "corelib==1.0 corelib-1.0-py3-none-any.whl",
                "dynamo==1.0 dynamo-1.0.tar.gz",
                "statics==1.0 statics-1.0.tar.gz",
            ]
        );
        assert_eq!(
            build_summary(target),
            [
                "dynamo-1.0.tar.gz: helper-1.0-py3-none-any.whl",
                "statics-1.0.tar.gz: "
            ]
        );
    }
    let build_packages: Vec<&str> = lock["tool"]["airlock"]["build-packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(build_packages, ["helper"]);
    // The default install selects none of the build packages: they live under [tool].
    let runtime: Vec<&str> = lock["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(runtime, ["corelib", "dynamo", "statics"]);

    project.airlock().arg("fetch").assert().success();
    let mut files: Vec<String> = std::fs::read_dir(project.path().join("wheelhouse"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "corelib-1.0-py3-none-any.whl",
            "dynamo-1.0.tar.gz",
            "helper-1.0-py3-none-any.whl",
            "statics-1.0.tar.gz",
        ]
    );
    project.airlock().arg("verify").assert().success();

    let exported = project.stdout_of(&["export", "--format", "requirements-txt"], 0);
    assert!(
        exported.contains(&format!(
            "--hash=sha256:{}",
            index.wheel_sha256("dynamo-1.0.tar.gz")
        )),
        "the export lists the sdist's hash:\n{exported}"
    );

    // Without its build requirement, the sdist cannot be built offline: verify says which.
    std::fs::remove_file(
        project
            .path()
            .join("wheelhouse/helper-1.0-py3-none-any.whl"),
    )
    .unwrap();
    let stderr = project.stderr_of(&["verify"], 1);
    assert_mentions(
        &stderr,
        &[
            "AL101",
            "AL205",
            "building dynamo-1.0.tar.gz needs build requirements the wheelhouse lacks",
            "helper was not found in the wheelhouse",
        ],
    );
}

#[test]
fn a_build_requirement_published_only_as_an_sdist_is_built_and_locked() {
    if skip_without_host_python() {
        return;
    }
    let index = FakeIndex::start(INDEX);
    // flit_core's situation: the backend is itself only an sdist, built with its own tree.
    publish_tiny(&index, "bootstrap", "1.0", "2.2", &[], json!({}));
    publish_tiny(
        &index,
        "app",
        "1.0",
        "2.1",
        &[],
        json!({"requires": ["bootstrap"], "requires_dist": ["corelib"]}),
    );
    let project = project(&index, "app\n");
    project.stderr_of(&["resolve"], 0);
    let lock = lock_value(&project);
    let target = &lock["tool"]["airlock"]["targets"][0];
    let builds = build_summary(target);
    assert_eq!(
        builds,
        [
            "app-1.0.tar.gz: bootstrap-1.0.tar.gz",
            "bootstrap-1.0.tar.gz: "
        ]
    );
    project.airlock().arg("fetch").assert().success();
    assert!(
        project
            .path()
            .join("wheelhouse/bootstrap-1.0.tar.gz")
            .is_file()
    );
    project.airlock().arg("verify").assert().success();
}

#[test]
fn hostile_sdists_are_refused_and_nothing_lands_outside() {
    let index = FakeIndex::start(INDEX);
    let pkg_info = "Metadata-Version: 2.2\nName: evil\nVersion: 1.0\n";
    index.publish(
        "evil",
        "evil-1.0.tar.gz",
        tar_gz(&[
            ("evil-1.0/PKG-INFO", pkg_info),
            ("evil-1.0/../../escaped.txt", "planted"),
        ]),
    );
    index.publish(
        "linky",
        "linky-1.0.tar.gz",
        tar_gz(&[
            (
                "linky-1.0/PKG-INFO",
                "Metadata-Version: 2.2\nName: linky\nVersion: 1.0\n",
            ),
            ("linky-1.0/setup.cfg", "->../../../../etc/passwd"),
        ]),
    );
    for (requirement, entry, why) in [
        ("evil", "evil-1.0/../../escaped.txt", "climbs out with `..`"),
        (
            "linky",
            "linky-1.0/setup.cfg",
            "symbolic link out of the tree",
        ),
    ] {
        let project = project(&index, &format!("{requirement}\n"));
        let stderr = project.stderr_of(&["resolve"], 2);
        assert_mentions(&stderr, &[entry, why, "refused"]);
        assert!(!project.path().join("lockfiles/pylock.app.toml").exists());
        assert!(!project.path().join("escaped.txt").exists());
        assert!(!project.path().join(".cache/escaped.txt").exists());
    }
}

#[test]
fn only_binary_and_no_build_refuse_source_builds_with_the_reason() {
    let index = FakeIndex::start(INDEX);
    publish_tiny(&index, "statics", "1.0", "2.2", &[], json!({}));
    let project = project(&index, "statics\n");
    for flags in [
        &["--only-binary", ":all:"][..],
        &["--no-build"],
        &["--no-build-package", "statics"],
    ] {
        let mut args = vec!["resolve"];
        args.extend_from_slice(flags);
        let stderr = project.stderr_of(&args, 2);
        assert_mentions(
            &stderr,
            &[
                "statics",
                "only a source distribution, and --only-binary/--no-build forbids building it",
            ],
        );
    }
    // The same from the requirements file, as pip reads it.
    project.write("requirements/app.in", "--only-binary :all:\nstatics\n");
    let stderr = project.stderr_of(&["resolve"], 2);
    assert_mentions(&stderr, &["only a source distribution"]);
}

/// The host Python's bundled setuptools wheel (ensurepip ships one up to Python 3.11).
fn bundled_setuptools() -> Option<(String, Vec<u8>)> {
    let output = std::process::Command::new("python3")
        .args(["-c", "import ensurepip, os; print(os.path.join(os.path.dirname(ensurepip.__file__), '_bundled'))"])
        .output()
        .ok()?;
    let dir = std::path::PathBuf::from(text(&output.stdout).trim());
    std::fs::read_dir(dir).ok()?.flatten().find_map(|entry| {
        let name = entry.file_name().to_string_lossy().into_owned();
        (name.starts_with("setuptools-") && name.ends_with(".whl"))
            .then(|| Some((name, std::fs::read(entry.path()).ok()?)))
            .flatten()
    })
}

/// A stand-in for the `wheel` project, as old setuptools needs it for metadata: a
/// `bdist_wheel` command whose `egg2dist` turns the egg-info into a .dist-info the way
/// wheel does (PKG-INFO plus requires.txt as Requires-Dist). Building wheels is refused.
fn wheel_shim() -> Vec<u8> {
    use std::io::Write;
    let module = r#"import os
from setuptools import Command

class bdist_wheel(Command):
    user_options = []
    def initialize_options(self):
        pass
    def finalize_options(self):
        pass
    def run(self):
        raise SystemExit("the test shim of wheel cannot build wheels")
    def egg2dist(self, egginfo_path, distinfo_path):
        os.makedirs(distinfo_path, exist_ok=True)
        lines = [l for l in open(os.path.join(egginfo_path, "PKG-INFO")).read().splitlines() if l]
        requires = os.path.join(egginfo_path, "requires.txt")
        marker = None
        if os.path.exists(requires):
            for line in open(requires).read().splitlines():
                line = line.strip()
                if not line:
                    continue
                if line.startswith("[") and line.endswith("]"):
                    marker = line[1:-1].lstrip(":") or None
                    continue
                lines.append("Requires-Dist: " + line + ("; " + marker if marker else ""))
        with open(os.path.join(distinfo_path, "METADATA"), "w") as out:
            out.write("\n".join(lines) + "\n")
"#;
    let info = "wheel-0.44.0.dist-info";
    let files = [
        ("wheel/__init__.py", "__version__ = '0.44.0'\n".to_string()),
        ("wheel/bdist_wheel.py", module.to_string()),
        (
            &format!("{info}/METADATA")[..],
            "Metadata-Version: 2.1\nName: wheel\nVersion: 0.44.0\n".to_string(),
        ),
        (
            &format!("{info}/WHEEL")[..],
            "Wheel-Version: 1.0\nGenerator: airlock-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n".to_string(),
        ),
        (
            &format!("{info}/entry_points.txt")[..],
            "[distutils.commands]\nbdist_wheel = wheel.bdist_wheel:bdist_wheel\n".to_string(),
        ),
        (&format!("{info}/RECORD")[..], String::new()),
    ];
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default();
    for (name, content) in files {
        zip.start_file(name, options).unwrap();
        zip.write_all(content.as_bytes()).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

#[test]
fn a_setup_py_sdist_without_pyproject_gets_setuptools_legacy_metadata() {
    if skip_without_host_python() {
        return;
    }
    let Some((setuptools_name, setuptools)) = bundled_setuptools() else {
        crate::support::skip("the host Python bundles no setuptools wheel to serve");
        return;
    };
    let index = FakeIndex::start(INDEX);
    index.publish("setuptools", &setuptools_name, setuptools);
    index.publish("wheel", "wheel-0.44.0-py3-none-any.whl", wheel_shim());
    let setup_py = "from setuptools import setup\nimport sys\nsetup(name='legacy', version='1.0', install_requires=['corelib'] + (['winonly'] if sys.platform == 'win32' else []))\n";
    index.publish(
        "legacy",
        "legacy-1.0.tar.gz",
        tar_gz(&[
            (
                "legacy-1.0/PKG-INFO",
                "Metadata-Version: 2.1\nName: legacy\nVersion: 1.0\n",
            ),
            ("legacy-1.0/setup.py", setup_py),
        ]),
    );
    let project = project(&index, "legacy\n");
    let stderr = project.stderr_of(&["resolve"], 0);
    assert_mentions(
        &stderr,
        &["legacy-1.0.tar.gz: its dependencies come from running its build on cp3"],
    );
    let lock = lock_value(&project);
    assert_eq!(
        recorded_sdists(&lock),
        [("legacy-1.0.tar.gz".to_string(), "built".to_string())]
    );
    let sdist = &lock["tool"]["airlock"]["sdists"][0];
    assert_eq!(
        sdist["requires-dist"].as_array().unwrap()[0].as_str(),
        Some("corelib")
    );
    let build_requires: Vec<&str> = sdist["build-requires"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert_eq!(build_requires, ["setuptools>=40.8.0", "wheel"]);
    let target = &lock["tool"]["airlock"]["targets"][0];
    let pins: Vec<&str> = target["pins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        pins,
        ["corelib", "legacy"],
        "the host's sys.platform is not win32"
    );
    let build_pins: Vec<&str> = target["builds"][0]["pins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(build_pins, ["setuptools", "wheel"]);
}

/// `--python-version` and `--python-platform` of this machine, when it can build.
pub(crate) fn host_target() -> Option<(String, String)> {
    let output = std::process::Command::new("python3")
        .args([
            "-c",
            "import sys, platform; print('%d.%d' % sys.version_info[:2], platform.machine() + '-manylinux_' + platform.libc_ver()[1].replace('.', '_'))",
        ])
        .output()
        .ok()?;
    let text = text(&output.stdout);
    let (version, platform) = text.trim().split_once(' ')?;
    Some((version.to_string(), platform.to_string()))
}

#[test]
fn rehearse_builds_the_locked_sdists_offline_for_the_host_target() {
    if skip_without_host_python() || !can_unshare_network() {
        crate::support::skip("needs python3 with pip and unshare -n");
        return;
    }
    let Some((version, platform)) = host_target() else {
        crate::support::skip("cannot tell this machine's target");
        return;
    };
    let index = FakeIndex::start(INDEX);
    publish_tiny(
        &index,
        "dynamo",
        "1.0",
        "2.1",
        &[],
        json!({"requires": ["helper>=1"], "requires_dist": ["corelib>=1"]}),
    );
    let project = Project::new();
    project.write("requirements/app.in", "dynamo\n");
    project.write(
        "airlock.toml",
        &format!(
            "[python]\nrequirements = [\"requirements/app.in\"]\nindex-url = \"{}\"\ntargets = [\n  {{ python-version = \"{version}\", python-platform = \"{platform}\" }},\n  {{ python-version = \"3.12\", python-platform = \"aarch64-manylinux_2_28\" }},\n]\n",
            index.url
        ),
    );
    project.airlock().arg("sync").assert().success();
    let stderr = project.stderr_of(&["verify", "--rehearse"], 0);
    assert_mentions(
        &stderr,
        &[
            "RH003",
            "cp3.12 on aarch64-manylinux_2_28: the lock builds dynamo-1.0.tar.gz from source",
        ],
    );
    // Without the build requirement pip can neither prepare nor build the sdist offline.
    std::fs::remove_file(
        project
            .path()
            .join("wheelhouse/helper-1.0-py3-none-any.whl"),
    )
    .unwrap();
    let stderr = project.stderr_of(&["verify", "--rehearse"], 1);
    assert_mentions(&stderr, &["RH001", "helper"]);
}

#[test]
fn a_failing_or_hanging_build_is_an_error_naming_the_sdist() {
    if skip_without_host_python() {
        return;
    }
    let index = FakeIndex::start(INDEX);
    publish_tiny(
        &index,
        "broken",
        "1.0",
        "2.1",
        &[],
        json!({"fail": "this backend cannot read its config"}),
    );
    publish_tiny(&index, "sleepy", "1.0", "2.2", &[], json!({"sleep": 30}));
    let broken = project(&index, "broken\n");
    let stderr = broken.stderr_of(&["resolve"], 2);
    assert_mentions(
        &stderr,
        &[
            "broken-1.0.tar.gz",
            "prepare_metadata_for_build_wheel",
            "this backend cannot read its config",
        ],
    );
    assert!(!broken.path().join("lockfiles/pylock.app.toml").exists());

    let sleepy = project(&index, "sleepy\n");
    let started = std::time::Instant::now();
    let output = sleepy
        .airlock()
        .arg("resolve")
        .env("AIRLOCK_BUILD_TIMEOUT", "2")
        .assert()
        .code(2)
        .get_output()
        .clone();
    assert_mentions(
        &text(&output.stderr),
        &[
            "sleepy-1.0.tar.gz",
            "did not finish within 2 s and was stopped",
        ],
    );
    assert!(
        started.elapsed().as_secs() < 25,
        "the time limit stopped the build"
    );
}

#[test]
fn a_version_whose_sdist_does_not_build_is_ruled_out_with_a_warning() {
    if skip_without_host_python() {
        return;
    }
    let index = FakeIndex::start(
        r#"
[[package]]
name = "flaky"
version = "1.0"
"#,
    );
    // The newest version only publishes an sdist, and its build fails (as old sdists do on
    // new toolchains): the resolver takes the older wheel and says why.
    publish_tiny(
        &index,
        "flaky",
        "2.0",
        "2.1",
        &[],
        json!({"fail": "no compiler for this old C extension"}),
    );
    let project = project(&index, "flaky\n");
    let stderr = project.stderr_of(&["resolve"], 0);
    assert_mentions(
        &stderr,
        &[
            "warning: flaky 2.0 was ruled out, another version was chosen",
            "no compiler for this old C extension",
        ],
    );
    let lock = lock_value(&project);
    for target in lock["tool"]["airlock"]["targets"].as_array().unwrap() {
        assert_eq!(target["pins"][0]["version"].as_str(), Some("1.0"));
    }
    // Pinned to the broken version, there is nothing else to choose: the resolve fails and
    // says why.
    project.write("requirements/app.in", "flaky==2.0\n");
    let stderr = project.stderr_of(&["resolve"], 2);
    assert_mentions(&stderr, &["flaky", "no compiler for this old C extension"]);
}
